/*
 * test_cleanup_message.c - unit tests for cleanup's message processing
 * (queue/cleanup_message.c): records go in as a client sends them, and
 * the queue file that comes out (in a temporary queue folder) is dumped
 * to text and compared with what Postfix's cleanup would write.
 *
 * The program's files are compiled in here (they are not in libpostern).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../queue/cleanup_addr.c"
#include "../../queue/cleanup_message.c"

#include "config.h"

static char root[64];
static char checks[128];
static struct cleanup_cfg cfg;

static int group_setup(void **state)
{
    FILE *fp;

    (void) state;
    msg_init("test_cleanup_message", MSG_NOLOG);
    snprintf(root, sizeof(root), "/tmp/test_cleanup_message.XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    snprintf(checks, sizeof(checks), "%s/header_checks", root);
    fp = fopen(checks, "w");
    if (fp == NULL)
        return -1;
    fputs("/^Subject: reject/ REJECT\n/^X-Hold:/ HOLD\n", fp);
    fclose(fp);
    config_clear();
    config_set("myhostname", "host.example.net", NULL, 0);
    config_set("mydomain", "example.net", NULL, 0);
    config_set("myorigin", "origin.example.net", NULL, 0);
    config_set("header_checks", "", NULL, 0);
    config_set("virtual_alias_maps", "inline:{ {list@x = a@x, b@x} }", NULL, 0);
    config_set("canonical_maps",
               "inline:{ {old@example.com = new@example.com} }", NULL, 0);
    config_set("header_size_limit", "40", NULL, 0);
    config_set("message_size_limit", "200", NULL, 0);
    params_load();
    cleanup_cfg_init(&cfg);
    {
        struct buf *names = buf_new(64);

        buf_printf(names, "regexp:%s", checks);
        cfg.hdr_checks = maps_create("header_checks", buf_str(names), 0);
        buf_free(names);
    }
    qf_set_root(root);
    return qf_make_dirs();
}

static int group_teardown(void **state)
{
    char cmd[160];

    (void) state;
    cleanup_cfg_free(&cfg);
    qf_set_root(NULL);
    config_clear();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- driving one message ------------------------------------------------ */

struct msg {
    struct cleanup_state *st;
    char id[32];
    int bad;
};

static void msg_start(struct msg *m, int flags, const char *sender)
{
    struct qf_writer *qf = qf_create(QF_INCOMING);

    assert_non_null(qf);
    snprintf(m->id, sizeof(m->id), "%s", qf_writer_id(qf));
    m->st = cleanup_state_new(&cfg, qf, m->id, flags);
    m->bad = 0;
    if (cleanup_record(m->st, REC_TIME, "\0\0\0\0\0\0\0\1", 8) < 0)
        m->bad = 1;
    if (cleanup_record(m->st, REC_SENDER, sender, strlen(sender)) < 0)
        m->bad = 1;
}

static void put(struct msg *m, int type, const char *data)
{
    if (cleanup_record(m->st, type, data, strlen(data)) < 0)
        m->bad = 1;
}

static void rcpt(struct msg *m, const char *addr)
{
    struct buf *b = buf_new(64);

    rec_rcpt_encode(b, REC_RCPT_PENDING, 0, addr, "", "");
    if (cleanup_record(m->st, REC_RCPT, buf_str(b), buf_len(b)) < 0)
        m->bad = 1;
    buf_free(b);
}

static void attr(struct msg *m, const char *name_value)
{
    put(m, REC_ATTR, name_value);
}

/* Each line of TEXT (split at \n) as a LINE record. */
static void lines(struct msg *m, const char *text)
{
    const char *nl;

    while ((nl = strchr(text, '\n')) != NULL) {
        if (cleanup_record(m->st, REC_LINE, text, (size_t) (nl - text)) < 0)
            m->bad = 1;
        text = nl + 1;
    }
}

/* End the message; the status bits. */
static int finish(struct msg *m, struct buf *reason)
{
    int status;

    put(m, REC_XTRACTED, "");
    status = cleanup_end(m->st, reason);
    cleanup_state_free(m->st);
    return status;
}

/*
 * The queue file ID as text: "S sender", "R addr|orig" ("r" after
 * XTRACTED), "A name=value", "F flags", then "| line" per content line,
 * with the Message-Id and Date values replaced by "*".
 */
static void dump(const char *id, struct buf *out)
{
    struct qf_reader *r = qf_open(QF_INCOMING, id, 0);
    struct buf *data = buf_new(128);
    struct buf *line = buf_new(128);
    struct rec_rcpt rc;
    long long v;
    int late = 0;
    int type;

    assert_non_null(r);
    buf_reset(out);
    while ((type = qf_read(r, data)) > 0) {
        switch (type) {
        case REC_SENDER:
            buf_printf(out, "S %s\n", buf_str(data));
            break;
        case REC_RCPT:
            rec_rcpt_init(&rc);
            assert_int_equal(rec_rcpt_parse(buf_str(data), buf_len(data), &rc),
                             0);
            buf_printf(out, "%c %s|%s\n", late ? 'r' : 'R', buf_str(rc.addr),
                       buf_str(rc.orig));
            rec_rcpt_free(&rc);
            break;
        case REC_ATTR:
            buf_printf(out, "A %s\n", buf_str(data));
            break;
        case REC_FLAGS:
            rec_int_parse(buf_str(data), buf_len(data), &v);
            buf_printf(out, "F %lld\n", v);
            break;
        case REC_XTRACTED:
            late = 1;
            break;
        case REC_PIECE:
        case REC_LINE:
            buf_append(line, buf_str(data), buf_len(data));
            if (type == REC_PIECE)
                break;
            if (strncmp(buf_str(line), "Message-Id: ", 12) == 0)
                buf_set(line, "Message-Id: *");
            if (strncmp(buf_str(line), "Date: ", 6) == 0)
                buf_set(line, "Date: *");
            buf_printf(out, "| %s\n", buf_str(line));
            buf_reset(line);
            break;
        default:
            break;
        }
    }
    assert_int_equal(type, 0);
    qf_close(r);
    buf_free(data);
    buf_free(line);
}

static void expect_file(const char *id, const char *want)
{
    struct buf *got = buf_new(256);

    dump(id, got);
    if (strcmp(buf_str(got), want) != 0)
        print_error("queue file %s:\n--- got\n%s--- want\n%s", id, buf_str(got),
                    want);
    assert_string_equal(buf_str(got), want);
    buf_free(got);
}

/* ---- cases ----------------------------------------------------------------
 */

static void test_local_message(void **state)
{
    struct msg m;
    struct buf *reason = buf_new(64);

    (void) state;
    msg_start(&m, 0, "alice");
    attr(&m, "full_name=Alice Example");
    rcpt(&m, "list@x");
    rcpt(&m, "a@x");
    put(&m, REC_MESSAGE, "");
    lines(&m, "To: bob,\n\tcarol@x (C)\nSubject: hi\n\nbody\n");
    assert_int_equal(finish(&m, reason), 0);
    assert_int_equal(m.bad, 0);
    expect_file(m.id, "S alice@origin.example.net\n"
                      "R a@x|list@x\n"
                      "R b@x|list@x\n"
                      "| To: bob@origin.example.net,\n"
                      "| \tcarol@x (C)\n"
                      "| Subject: hi\n"
                      "| Message-Id: *\n"
                      "| Date: *\n"
                      "| From: Alice Example <alice@origin.example.net>\n"
                      "| \n"
                      "| body\n");
    buf_free(reason);
}

static void test_pieces_and_limits(void **state)
{
    struct msg m;
    struct buf *reason = buf_new(64);

    (void) state;
    msg_start(&m, 0, "s@x");
    attr(&m, "client_address=192.0.2.1");
    rcpt(&m, "r@x");
    put(&m, REC_MESSAGE, "");
    put(&m, REC_PIECE, "Subject: aa");
    put(&m, REC_LINE, "bb");
    /* header_size_limit (40): the rest of this header is dropped */
    put(&m, REC_PIECE, "X-Long: 0123456789012345678901234567890");
    put(&m, REC_LINE, "123456789");
    put(&m, REC_LINE, " continued");
    /* no empty line: the body starts with a line that is no header */
    put(&m, REC_PIECE, "not a ");
    put(&m, REC_LINE, "header");
    put(&m, REC_LINE, "From: in the body");
    put(&m, REC_LINE, "stray\rcr\nlf");
    assert_int_equal(finish(&m, reason), 0);
    assert_int_equal(m.bad, 0);
    expect_file(m.id, "S s@x\n"
                      "A client_address=192.0.2.1\n"
                      "R r@x|r@x\n"
                      "| Subject: aabb\n"
                      "| X-Long: 01234567890123456789012345678901\n"
                      "| \n"
                      "| not a header\n"
                      "| From: in the body\n"
                      "| stray cr lf\n");
    buf_free(reason);
}

static void test_remote_headers(void **state)
{
    struct msg m;
    struct buf *reason = buf_new(64);
    int i;

    const char *saved = var_remote_header_rewrite_domain;

    (void) state;
    for (i = 0; i < 2; i++) {
        var_remote_header_rewrite_domain = i ? "remote.test" : "";
        msg_start(&m, 0, "s@x");
        attr(&m, "client_address=192.0.2.1");
        rcpt(&m, "old@example.com");
        put(&m, REC_MESSAGE, "");
        lines(&m, "To: bob, old@example.com\n\n");
        assert_int_equal(finish(&m, reason), 0);
        expect_file(m.id, i ? "S s@x\n"
                              "A client_address=192.0.2.1\n"
                              "R new@example.com|old@example.com\n"
                              "| To: bob@remote.test, new@example.com\n"
                              "| \n"
                            : "S s@x\n"
                              "A client_address=192.0.2.1\n"
                              "R new@example.com|old@example.com\n"
                              "| To: bob, old@example.com\n"
                              "| \n");
    }
    var_remote_header_rewrite_domain = saved;
    buf_free(reason);
}

static void test_extract_resent(void **state)
{
    struct msg m;
    struct buf *reason = buf_new(64);

    (void) state;
    msg_start(&m, 0, "s@x");
    attr(&m, "client_address=192.0.2.1");
    assert_int_equal(cleanup_record(m.st, REC_FLAGS, "\0\0\0\0\0\0\0\x10", 8),
                     0);
    put(&m, REC_MESSAGE, "");
    lines(&m, "To: t@x\nResent-To: r1@x, list@x\nBcc: b@x\nResent-Bcc: "
              "r2@x\n\n");
    assert_int_equal(finish(&m, reason), 0);
    assert_int_equal(m.bad, 0);
    expect_file(m.id, "S s@x\n"
                      "A client_address=192.0.2.1\n"
                      "| To: t@x\n"
                      "| Resent-To: r1@x, list@x\n"
                      "| \n"
                      "r r1@x|r1@x\n"
                      "r a@x|list@x\n"
                      "r b@x|list@x\n"
                      "r r2@x|r2@x\n");
    buf_free(reason);
}

static void test_reject_and_bounce(void **state)
{
    struct msg m;
    struct buf *reason = buf_new(64);
    char id[32];

    (void) state;
    msg_start(&m, 0, "s@x");
    rcpt(&m, "r@x");
    put(&m, REC_MESSAGE, "");
    lines(&m, "Subject: reject this\n\nbody\n");
    snprintf(id, sizeof(id), "%s", m.id);
    assert_int_equal(finish(&m, reason), CLEANUP_STAT_CONT);
    assert_string_equal(buf_str(reason), "5.7.1 message content rejected");
    assert_null(qf_open(QF_INCOMING, id, 0));

    /* pickup's CLEANUP_FLAG_BOUNCE: kept, with the reason, for a bounce */
    msg_start(&m, CLEANUP_FLAG_BOUNCE, "s@x");
    attr(&m, "client_address=192.0.2.1");
    rcpt(&m, "r@x");
    put(&m, REC_MESSAGE, "");
    lines(&m, "Subject: reject this\nX-Hold: yes\n\nbody\n");
    assert_int_equal(finish(&m, reason), 0);
    expect_file(m.id, "S s@x\n"
                      "A client_address=192.0.2.1\n"
                      "R r@x|r@x\n"
                      "| Subject: reject this\n"
                      "| X-Hold: yes\n"
                      "| \n"
                      "| body\n"
                      "A fail_reason=5.7.1 message content rejected\n"
                      "F 8\n");
    buf_free(reason);
}

static void test_size_and_recipients(void **state)
{
    struct msg m;
    struct buf *reason = buf_new(64);
    int i;

    (void) state;
    msg_start(&m, 0, "s@x");
    rcpt(&m, "r@x");
    put(&m, REC_MESSAGE, "");
    lines(&m, "Subject: big\n\n");
    for (i = 0; i < 10; i++)
        lines(&m, "0123456789012345678901234567890123456789\n");
    assert_int_equal(finish(&m, reason), CLEANUP_STAT_SIZE);

    /* With CLEANUP_FLAG_BOUNCE the file is kept without the excess, and
     * a line cut short by the limit is ended properly. */
    msg_start(&m, CLEANUP_FLAG_BOUNCE, "s@x");
    attr(&m, "client_address=192.0.2.1");
    rcpt(&m, "r@x");
    put(&m, REC_MESSAGE, "");
    lines(&m, "Subject: big\n\n");
    put(&m, REC_PIECE,
        "0123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789");
    put(&m, REC_PIECE,
        "0123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789");
    put(&m, REC_LINE, "end");
    lines(&m, "more\n");
    assert_int_equal(finish(&m, reason), 0);
    expect_file(m.id, "S s@x\n"
                      "A client_address=192.0.2.1\n"
                      "R r@x|r@x\n"
                      "| Subject: big\n"
                      "| \n"
                      "| 0123456789012345678901234567890123456789"
                      "0123456789012345678901234567890123456789"
                      "0123456789012345678901234567890123456789\n"
                      "A fail_reason=5.3.4 message file too big\n");

    msg_start(&m, 0, "s@x");
    put(&m, REC_MESSAGE, "");
    lines(&m, "Subject: nobody\n\n");
    assert_int_equal(finish(&m, reason), CLEANUP_STAT_RCPT);

    /* protocol errors: a second sender, a record in the wrong place */
    msg_start(&m, 0, "s@x");
    put(&m, REC_SENDER, "again@x");
    assert_int_equal(m.bad, 1);
    cleanup_state_free(m.st);
    msg_start(&m, 0, "s@x");
    put(&m, REC_MESSAGE, "");
    put(&m, REC_SENDER, "late@x");
    assert_int_equal(m.bad, 1);
    cleanup_state_free(m.st);
    buf_free(reason);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_message),
        cmocka_unit_test(test_pieces_and_limits),
        cmocka_unit_test(test_remote_headers),
        cmocka_unit_test(test_extract_resent),
        cmocka_unit_test(test_reject_and_bounce),
        cmocka_unit_test(test_size_and_recipients),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
