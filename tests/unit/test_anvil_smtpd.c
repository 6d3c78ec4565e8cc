/*
 * test_anvil_smtpd.c - unit tests for smtpd's side of the per-client
 * limits (smtpd/smtpd_anvil.c): the smtpd_client_event_limit_exceptions
 * host list, and what happens when the anvil service cannot be reached
 * (no limits, one warning, no reconnect storm) through lib/anvil_client.c.
 *
 * Table-driven: each failing case prints "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/anvil_client.c"
#include "../../smtpd/smtpd_anvil.c"

#include "config.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

/* params_load() keeps old string values on purpose (lib/params.c). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:params_load\n";
}

static char tmpdir[] = "/tmp/test_anvil_smtpd.XXXXXX";

static void load(const char *const *params)
{
    size_t i;

    config_clear();
    config_set("queue_directory", tmpdir, NULL, 0);
    for (i = 0; params && params[i]; i++)
        assert_int_equal(config_override(params[i]), 0);
    params_load();
}

static void test_hostlist(void **state)
{
    static const struct {
        const char *list;
        const char *name;
        const char *addr;
        int want;
    } cases[] = {
        {"127.0.0.1/32", "unknown", "127.0.0.1", 1},
        {"127.0.0.1/32", "unknown", "127.0.0.2", 0},
        {"127.0.0.0/8, [::1]/128", "unknown", "::1", 1},
        {"127.0.0.0/8", "unknown", "::ffff:127.0.0.9", 1},
        {"192.0.2.7", "unknown", "192.0.2.7", 1},
        {"[2001:db8::]/32", "unknown", "2001:db8::5", 1},
        {"!127.0.0.2 127.0.0.0/8", "unknown", "127.0.0.2", 0},
        {"!127.0.0.2 127.0.0.0/8", "unknown", "127.0.0.3", 1},
        {"mail.example.com", "mail.example.com", "192.0.2.1", 1},
        {"mail.example.com", "MAIL.Example.COM", "192.0.2.1", 1},
        {"example.com", "mail.example.com", "192.0.2.1", 0},
        {".example.com", "mail.example.com", "192.0.2.1", 1},
        {".example.com", "example.com", "192.0.2.1", 0},
        {".example.com", "badexample.com", "192.0.2.1", 0},
        {"unknown", "unknown", "192.0.2.1", 0},
        {"inline:{192.0.2.1=x}", "unknown", "192.0.2.1", 1},
        {"inline:{host.test=x}", "host.test", "192.0.2.1", 1},
        {"inline:{host.test=x}", "other.test", "192.0.2.1", 0},
        {"!inline:{192.0.2.1=x}, 192.0.2.0/24", "unknown", "192.0.2.1", 0},
        {"", "unknown", "127.0.0.1", 0},
    };
    struct buf *err = buf_new(64);
    size_t i;
    int failures = 0;

    (void) state;
    load(NULL);
    for (i = 0; i < NCASES(cases); i++) {
        struct smtpd_hostlist *l =
            smtpd_hostlist_new("test", cases[i].list, err);
        int got;

        if (l == NULL) {
            print_error("\"%s\": %s\n", cases[i].list, buf_str(err));
            failures++;
            continue;
        }
        got = smtpd_hostlist_match(l, cases[i].name, cases[i].addr, err);
        if (got != cases[i].want) {
            print_error("\"%s\" vs %s[%s]: got %d, want %d\n", cases[i].list,
                        cases[i].name, cases[i].addr, got, cases[i].want);
            failures++;
        }
        smtpd_hostlist_free(l);
    }
    buf_free(err);
    assert_int_equal(failures, 0);
}

static void test_hostlist_parent_and_file(void **state)
{
    static const char *const params[] = {
        "parent_domain_matches_subdomains = test_list", NULL};
    char path[300];
    struct buf *err = buf_new(64);
    struct smtpd_hostlist *l;
    FILE *fp;

    (void) state;
    load(params);
    l = smtpd_hostlist_new("test_list", "example.com", err);
    assert_non_null(l);
    assert_int_equal(
        smtpd_hostlist_match(l, "mail.example.com", "192.0.2.1", err), 1);
    smtpd_hostlist_free(l);
    snprintf(path, sizeof(path), "%s/hosts", tmpdir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("# exempt hosts\n10.0.0.0/8\n  host.test\n", fp);
    fclose(fp);
    l = smtpd_hostlist_new("x", path, err);
    assert_non_null(l);
    assert_int_equal(smtpd_hostlist_match(l, "unknown", "10.1.2.3", err), 1);
    assert_int_equal(smtpd_hostlist_match(l, "host.test", "192.0.2.1", err), 1);
    assert_int_equal(smtpd_hostlist_match(l, "unknown", "192.0.2.1", err), 0);
    smtpd_hostlist_free(l);
    unlink(path);
    buf_free(err);
}

static void test_hostlist_errors(void **state)
{
    static const struct {
        const char *list;
        const char *want;
    } cases[] = {
        {"bad/pattern", "x: bad host or network pattern: \"bad/pattern\""},
        {"!", "x: \"!\" without an entry"},
        {"/nonexistent/file", "x: open /nonexistent/file: No such file or "
                              "directory"},
    };
    struct buf *err = buf_new(64);
    size_t i;

    (void) state;
    load(NULL);
    for (i = 0; i < NCASES(cases); i++) {
        buf_reset(err);
        assert_null(smtpd_hostlist_new("x", cases[i].list, err));
        if (strcmp(buf_str(err), cases[i].want) != 0)
            fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].list,
                     buf_str(err), cases[i].want);
    }
    /* Host bits set: a warning, and the entry is skipped. */
    {
        struct smtpd_hostlist *l =
            smtpd_hostlist_new("x", "127.0.0.1/8 192.0.2.1", err);

        assert_non_null(l);
        assert_int_equal(smtpd_hostlist_match(l, "unknown", "127.0.0.1", err),
                         0);
        assert_int_equal(smtpd_hostlist_match(l, "unknown", "192.0.2.1", err),
                         1);
        smtpd_hostlist_free(l);
    }
    buf_free(err);
}

/* No anvil socket: every hook lets the client through, quickly. */
static void test_anvil_unreachable(void **state)
{
    static const char *const params[] = {
        "smtpd_client_connection_count_limit = 1",
        "smtpd_client_connection_rate_limit = 1",
        "smtpd_client_message_rate_limit = 1",
        "smtpd_client_recipient_rate_limit = 1",
        "smtpd_client_new_tls_session_rate_limit = 1",
        "smtpd_client_auth_rate_limit = 1",
        "smtpd_client_event_limit_exceptions = 127.0.0.1",
        NULL};
    struct buf *err = buf_new(64);
    struct buf *reply = buf_new(64);
    time_t start = time(NULL);
    int i;

    (void) state;
    load(params);
    assert_int_equal(smtpd_anvil_init(err), 0);
    assert_non_null(sa_client);
    for (i = 0; i < 5; i++) {
        assert_int_equal(smtpd_anvil_connect("unknown", "192.0.2.1",
                                             "unknown[192.0.2.1]", reply),
                         0);
        assert_int_equal(sa_active, 1);
        assert_int_equal(sa_registered, 0);
        assert_int_equal(smtpd_anvil_mail(reply), 0);
        assert_int_equal(smtpd_anvil_rcpt(reply), 0);
        assert_int_equal(smtpd_anvil_tls_check(0, reply), 0);
        smtpd_anvil_tls_done(0);
        assert_int_equal(smtpd_anvil_auth(reply), 0);
        smtpd_anvil_end();
    }
    assert_string_equal(buf_str(reply), "");
    assert_true(strstr(anvil_client_error(sa_client), "private/anvil") != NULL);
    /* After the first failure the client waits before trying again. */
    assert_true(sa_client->retry_after >= start + ANVIL_RETRY_DELAY);
    assert_int_equal(sa_client->warned, 1);
    /* An exception is never counted. */
    assert_int_equal(smtpd_anvil_connect("unknown", "127.0.0.1",
                                         "unknown[127.0.0.1]", reply),
                     0);
    assert_int_equal(sa_active, 0);
    smtpd_anvil_end();
    smtpd_anvil_free();
    assert_null(sa_client);
    buf_free(err);
    buf_free(reply);
}

/* No limit set: no client at all. */
static void test_no_limits(void **state)
{
    static const char *const params[] = {
        "smtpd_client_connection_count_limit = 0", NULL};
    struct buf *err = buf_new(64);
    struct buf *reply = buf_new(64);

    (void) state;
    load(params);
    assert_int_equal(smtpd_anvil_init(err), 0);
    assert_null(sa_client);
    assert_int_equal(smtpd_anvil_connect("unknown", "192.0.2.1",
                                         "unknown[192.0.2.1]", reply),
                     0);
    assert_int_equal(sa_active, 0);
    smtpd_anvil_end();
    smtpd_anvil_free();
    buf_free(err);
    buf_free(reply);
}

static int setup(void **state)
{
    (void) state;
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostlist),
        cmocka_unit_test(test_hostlist_parent_and_file),
        cmocka_unit_test(test_hostlist_errors),
        cmocka_unit_test(test_anvil_unreachable),
        cmocka_unit_test(test_no_limits),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
