/*
 * test_cleanup_addr.c - unit tests for cleanup's address rewriting
 * (queue/cleanup_addr.c): the local context, canonical maps, masquerading
 * and virtual alias expansion, over inline: tables.
 *
 * The program's file is compiled in here (it is not in libpostern).
 * Table-driven: each failing case prints "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../queue/cleanup_addr.c"

#include "config.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static int failures;
static struct cleanup_cfg cfg;

static void check_str(const char *what, const char *input, const char *got,
                      const char *want)
{
    if (strcmp(got, want) != 0) {
        print_error("%s(\"%s\"): got \"%s\", want \"%s\"\n", what, input, got,
                    want);
        failures++;
    }
}

static void check_int(const char *what, const char *input, long got, long want)
{
    if (got != want) {
        print_error("%s(\"%s\"): got %ld, want %ld\n", what, input, got, want);
        failures++;
    }
}

static int group_setup(void **state)
{
    (void) state;
    msg_init("test_cleanup_addr", MSG_NOLOG);
    config_clear();
    config_set("myhostname", "host.example.net", NULL, 0);
    config_set("mydomain", "example.net", NULL, 0);
    config_set("myorigin", "origin.example.net", NULL, 0);
    config_set("mydestination", "$myhostname, origin.example.net", NULL, 0);
    config_set("append_dot_mydomain", "yes", NULL, 0);
    config_set("recipient_delimiter", "+", NULL, 0);
    config_set("canonical_maps",
               "inline:{ {old@example.com = new@example.com},"
               " {a1@x.test = a2@x.test}, {a2@x.test = A3@x.test},"
               " {@olddom.test = @newdom.test}, {bare = bare-result},"
               " {loopa@x.test = loopb@x.test}, {loopb@x.test = loopa@x.test},"
               " {quoted@x.test = \"john doe\"@x.test} }",
               NULL, 0);
    config_set("sender_canonical_maps",
               "inline:{ {snd@example.com = sender@example.com} }", NULL, 0);
    config_set("sender_canonical_classes", "envelope_sender", NULL, 0);
    config_set("virtual_alias_maps",
               "inline:{ {list@v.test = a@v.test, b@v.test},"
               " {b@v.test = c@v.test, d@other.test},"
               " {self@v.test = self@v.test, copy@v.test},"
               " {l1@v.test = l2@v.test}, {l2@v.test = l1@v.test},"
               " {dia@v.test = p@v.test, q@v.test}, {p@v.test = z@v.test},"
               " {q@v.test = z@v.test}, {short@v.test = shortuser},"
               " {deep1@v.test = deep2@v.test}, {deep2@v.test = deep3@v.test},"
               " {deep3@v.test = deep4@v.test},"
               " {wide@v.test = w1@v.test, w2@v.test, w3@v.test, w4@v.test} }",
               NULL, 0);
    config_set("masquerade_domains", "!keep.example.org, example.org", NULL, 0);
    config_set("masquerade_exceptions", "root", NULL, 0);
    config_set("masquerade_classes", "envelope_sender, header_sender", NULL, 0);
    params_load();
    cleanup_cfg_init(&cfg);
    return 0;
}

static int group_teardown(void **state)
{
    (void) state;
    cleanup_cfg_free(&cfg);
    config_clear();
    return 0;
}

static void test_classes(void **state)
{
    (void) state;
    failures = 0;
    check_int("classes", "all",
              cleanup_parse_classes("x", "envelope_sender, envelope_recipient,"
                                         " header_sender header_recipient"),
              0xf);
    check_int("classes", "some",
              cleanup_parse_classes("x", "Header_Recipient,bogus"),
              CLEANUP_CLASS_HDR_RCPT);
    check_int("classes", "none", cleanup_parse_classes("x", ""), 0);
    check_int("cfg", "send_canon", cfg.send_canon_classes,
              CLEANUP_CLASS_ENV_FROM);
    check_int("cfg", "canon", cfg.canon_classes, 0xf);
    assert_int_equal(failures, 0);
}

static void test_rewrite_local(void **state)
{
    static const struct {
        const char *in;
        const char *domain;
        const char *want;
    } cases[] = {
        {"user", NULL, "user@origin.example.net"},
        {"user@host", NULL, "user@host.example.net"},
        {"user@a.b", NULL, "user@a.b"},
        {"user@[192.0.2.1]", NULL, "user@[192.0.2.1]"},
        {"", NULL, ""},
        {"john doe", NULL, "john doe@origin.example.net"},
        {"user", "remote.test", "user@remote.test"},
        {"user@host", "remote.test", "user@host"},
        {"user", "", "user"},
    };
    struct buf *b = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        buf_set(b, cases[i].in);
        cleanup_rewrite_local(b, cases[i].domain);
        check_str("cleanup_rewrite_local", cases[i].in, buf_str(b),
                  cases[i].want);
    }
    buf_free(b);
    assert_int_equal(failures, 0);
}

static void test_masquerade(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"u@h.example.org", "u@example.org"},
        {"u@a.b.example.org", "u@example.org"},
        {"u@example.org", "u@example.org"},
        {"u@H.Example.ORG", "u@example.org"},
        {"u@h.keep.example.org", "u@h.keep.example.org"},
        {"u@keep.example.org", "u@keep.example.org"},
        {"root@h.example.org", "root@h.example.org"},
        {"u@notexample.org", "u@notexample.org"},
        {"u", "u"},
        {"", ""},
    };
    struct buf *b = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        buf_set(b, cases[i].in);
        cleanup_masquerade(&cfg, b);
        check_str("cleanup_masquerade", cases[i].in, buf_str(b), cases[i].want);
    }
    buf_free(b);
    assert_int_equal(failures, 0);
}

static void test_map_class(void **state)
{
    static const struct {
        int cls;
        const char *in;
        const char *want;
    } cases[] = {
        {CLEANUP_CLASS_ENV_RCPT, "old@example.com", "new@example.com"},
        {CLEANUP_CLASS_HDR_RCPT, "OLD@Example.COM", "new@example.com"},
        {CLEANUP_CLASS_ENV_RCPT, "old+ext@example.com", "new+ext@example.com"},
        {CLEANUP_CLASS_ENV_RCPT, "a1@x.test", "A3@x.test"},
        {CLEANUP_CLASS_ENV_RCPT, "who@olddom.test", "who@newdom.test"},
        {CLEANUP_CLASS_ENV_RCPT, "bare@origin.example.net",
         "bare-result@origin.example.net"},
        {CLEANUP_CLASS_ENV_RCPT, "bare@elsewhere.test", "bare@elsewhere.test"},
        {CLEANUP_CLASS_ENV_RCPT, "quoted@x.test", "john doe@x.test"},
        {CLEANUP_CLASS_ENV_RCPT, "nobody@x.test", "nobody@x.test"},
        /* a loop stops after a bounded number of rounds */
        {CLEANUP_CLASS_ENV_RCPT, "loopa@x.test", "loopa@x.test"},
        /* sender_canonical_maps for envelope senders only */
        {CLEANUP_CLASS_ENV_FROM, "snd@example.com", "sender@example.com"},
        {CLEANUP_CLASS_HDR_FROM, "snd@example.com", "snd@example.com"},
        /* masquerading for senders (masquerade_classes) only */
        {CLEANUP_CLASS_ENV_FROM, "u@h.example.org", "u@example.org"},
        {CLEANUP_CLASS_ENV_RCPT, "u@h.example.org", "u@h.example.org"},
    };
    struct buf *b = buf_new(64);
    struct buf *err = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        buf_set(b, cases[i].in);
        check_int("cleanup_map_class status", cases[i].in,
                  cleanup_map_class(&cfg, cases[i].cls, b, err), 0);
        check_str("cleanup_map_class", cases[i].in, buf_str(b), cases[i].want);
    }
    buf_free(b);
    buf_free(err);
    assert_int_equal(failures, 0);
}

static void join(struct buf *out, const struct argv *av)
{
    size_t i;

    buf_reset(out);
    for (i = 0; i < av->argc; i++) {
        if (i)
            buf_putc(out, ',');
        buf_puts(out, av->argv[i]);
    }
}

static void test_virtual(void **state)
{
    static const struct {
        const char *in;
        const char *want;
        int ret;
    } cases[] = {
        {"nobody@v.test", "nobody@v.test", 0},
        {"list@v.test", "a@v.test,c@v.test,d@other.test", 0},
        {"LIST@v.test", "a@v.test,c@v.test,d@other.test", 0},
        {"self@v.test", "self@v.test,copy@v.test", 0},
        {"l1@v.test", "l1@v.test", 0},
        {"dia@v.test", "z@v.test", 0},
        {"short@v.test", "shortuser@origin.example.net", 0},
        {"deep1@v.test", "deep4@v.test", 0},
    };
    struct argv *out;
    struct buf *err = buf_new(64);
    struct buf *got = buf_new(64);
    size_t i;
    int ret;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        out = argv_new(4);
        ret = cleanup_virtual(&cfg, cases[i].in, out, err);
        check_int("cleanup_virtual status", cases[i].in, ret, cases[i].ret);
        join(got, out);
        check_str("cleanup_virtual", cases[i].in, buf_str(got), cases[i].want);
        argv_free(out);
    }

    /* The limits: a deferral with Postfix's reason. */
    var_virtual_alias_recursion_limit = 2;
    out = argv_new(4);
    check_int("recursion limit", "deep1@v.test",
              cleanup_virtual(&cfg, "deep1@v.test", out, err), -2);
    check_str("recursion limit reason", "deep1@v.test", buf_str(err),
              "4.6.0 Alias expansion error");
    argv_free(out);
    var_virtual_alias_recursion_limit = 1000;
    var_virtual_alias_expansion_limit = 3;
    out = argv_new(4);
    check_int("expansion limit", "wide@v.test",
              cleanup_virtual(&cfg, "wide@v.test", out, err), -2);
    argv_free(out);
    var_virtual_alias_expansion_limit = 4;
    out = argv_new(4);
    check_int("expansion limit 4", "wide@v.test",
              cleanup_virtual(&cfg, "wide@v.test", out, err), 0);
    argv_free(out);
    var_virtual_alias_expansion_limit = 1000;
    buf_free(err);
    buf_free(got);
    assert_int_equal(failures, 0);
}

static void test_lookup_error(void **state)
{
    struct cleanup_cfg bad;
    struct buf *b = buf_new(64);
    struct buf *err = buf_new(64);
    struct argv *out = argv_new(4);

    (void) state;
    memset(&bad, 0, sizeof(bad));
    bad.virt = maps_create("virtual_alias_maps", "hash:/nonexistent/virtual",
                           DICT_FOLD_FIX);
    bad.canon = maps_create("canonical_maps", "hash:/nonexistent/canonical",
                            DICT_FOLD_FIX);
    bad.canon_classes = 0xf;
    bad.masq_domains = argv_new(1);
    bad.masq_exceptions = argv_new(1);
    bad.drop_headers = argv_new(1);
    assert_int_equal(cleanup_virtual(&bad, "u@x.test", out, err), -1);
    assert_string_equal(buf_str(err), "4.3.0 address mapping lookup error");
    buf_set(b, "u@x.test");
    buf_reset(err);
    assert_int_equal(cleanup_map_class(&bad, CLEANUP_CLASS_ENV_RCPT, b, err),
                     -1);
    assert_string_equal(buf_str(err), "4.3.0 address mapping lookup error");
    cleanup_cfg_free(&bad);
    argv_free(out);
    buf_free(b);
    buf_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),    cmocka_unit_test(test_rewrite_local),
        cmocka_unit_test(test_masquerade), cmocka_unit_test(test_map_class),
        cmocka_unit_test(test_virtual),    cmocka_unit_test(test_lookup_error),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
