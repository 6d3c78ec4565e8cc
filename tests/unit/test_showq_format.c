/*
 * test_showq_format.c - unit tests for lib/queue_list.c: the mailq text
 * and postqueue -j JSON formats, byte for byte, and the showq wire
 * protocol (round trip, a cut listing, garbage).
 *
 * The expected text lines were taken from Postfix 3.7's own postqueue -p
 * output for the same messages (run with TZ=UTC), so scripts that parse
 * mailq see the same columns. Table-driven: each case prints "got X,
 * want Y".
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

#include "buf.h"
#include "mem.h"
#include "queue_list.h"
#include "stream.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static int failures;

static int setup(void **state)
{
    (void) state;
    failures = 0;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static void check_str(const char *what, const char *got, const char *want)
{
    if (strcmp(got, want) != 0) {
        print_error("%s:\n got:\n%s\n want:\n%s\n", what, got, want);
        failures++;
    }
}

/* 2026-12-03 20:08:37 UTC, a Thursday. */
#define T0 1796328517LL

static void make_msg(struct ql_msg *m, const char *queue, const char *id,
                     long long size, const char *sender)
{
    ql_msg_init(m);
    m->queue = mem_strdup(queue);
    m->id = mem_strdup(id);
    m->arrival = T0;
    m->size = size;
    m->sender = mem_strdup(sender);
}

static const char refused[] =
    "connect to 127.0.0.1[127.0.0.1]:1: Connection refused";

static void test_text_lines(void **state)
{
    static const struct {
        const char *queue;
        const char *id;
        long long size;
        const char *sender;
        int expire;
        const char *want;
    } cases[] = {
        {"deferred", "E4B55A72308", 248, "", 0,
         "E4B55A72308     248 Thu Dec  3 20:08:37  MAILER-DAEMON\n\n"},
        {"hold", "DEB56A72307", 258, "alice@example.com", 0,
         "DEB56A72307!     258 Thu Dec  3 20:08:37  alice@example.com\n\n"},
        {"deferred", "EAF68A7233E", 205504, "x@y.z", 0,
         "EAF68A7233E  205504 Thu Dec  3 20:08:37  x@y.z\n\n"},
        {"active", "4dXq2BZk0Ja3Kd", 1, "a@b", 0,
         "4dXq2BZk0Ja3Kd*       1 Thu Dec  3 20:08:37  a@b\n\n"},
        {"incoming", "ABCDEFGHIJ", 12345678, "a@b", 0,
         "ABCDEFGHIJ 12345678 Thu Dec  3 20:08:37  a@b\n\n"},
        {"maildrop", "ABCDEFGHIJ", 7, "a@b", 1,
         "ABCDEFGHIJ#       7 Thu Dec  3 20:08:37  a@b\n\n"},
        /* Control characters never reach the terminal. */
        {"incoming", "ABCDEFGHIJ", 7, "a\nb\033c", 0,
         "ABCDEFGHIJ        7 Thu Dec  3 20:08:37  a?b?c\n\n"},
    };
    struct buf *out = buf_new(0);
    struct ql_msg m;
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        make_msg(&m, cases[i].queue, cases[i].id, cases[i].size,
                 cases[i].sender);
        m.forced_expire = cases[i].expire;
        buf_reset(out);
        ql_text_msg(out, &m);
        check_str(cases[i].id, buf_str(out), cases[i].want);
        ql_msg_free(&m);
    }
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_text_reasons(void **state)
{
    struct buf *out = buf_new(0);
    struct ql_msg m;
    char long_reason[200];

    (void) state;
    /* Postfix's own output for this message, recipients in file order. */
    make_msg(&m, "deferred", "DEB56A72307", 258, "alice@example.com");
    ql_msg_add_rcpt(&m, "bob@example.net", refused);
    ql_msg_add_rcpt(&m, "carol@example.org", refused);
    ql_text_header(out);
    ql_text_msg(out, &m);
    ql_text_footer(out, 506, 2);
    check_str("postfix sample", buf_str(out),
              "-Queue ID-  --Size-- ----Arrival Time---- "
              "-Sender/Recipient-------\n"
              "DEB56A72307     258 Thu Dec  3 20:08:37  alice@example.com\n"
              "                       (connect to 127.0.0.1[127.0.0.1]:1: "
              "Connection refused)\n"
              "                                         bob@example.net\n"
              "                                         carol@example.org\n"
              "\n"
              "-- 0 Kbytes in 2 Requests.\n");
    ql_msg_free(&m);

    /* Grouping: no reason first, then each reason once, stable order. */
    memset(long_reason, 'x', 100);
    long_reason[100] = 0;
    make_msg(&m, "deferred", "ABCDEFGHIJ", 10, "s@x");
    ql_msg_add_rcpt(&m, "r1@x", "b reason");
    ql_msg_add_rcpt(&m, "r2@x", NULL);
    ql_msg_add_rcpt(&m, "r3@x", "a reason");
    ql_msg_add_rcpt(&m, "r4@x", "b reason");
    ql_msg_add_rcpt(&m, "r5@x", long_reason);
    buf_reset(out);
    ql_text_msg(out, &m);
    {
        struct buf *want = buf_new(0);

        buf_printf(want, "ABCDEFGHIJ       10 Thu Dec  3 20:08:37  s@x\n");
        buf_printf(want, "%41sr2@x\n", "");
        buf_printf(want, "%68s(a reason)\n", "");
        buf_printf(want, "%41sr3@x\n", "");
        buf_printf(want, "%68s(b reason)\n", "");
        buf_printf(want, "%41sr1@x\n%41sr4@x\n", "", "");
        buf_printf(want, "(%s)\n%41sr5@x\n\n", long_reason, "");
        check_str("grouped reasons", buf_str(out), buf_str(want));
        buf_free(want);
    }
    ql_msg_free(&m);
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_footer(void **state)
{
    static const struct {
        long long bytes;
        long count;
        const char *want;
    } cases[] = {
        {0, 0, "Mail queue is empty\n"},
        {506, 1, "-- 0 Kbytes in 1 Request.\n"},
        {206010, 3, "-- 201 Kbytes in 3 Requests.\n"},
        {2048, 2, "-- 2 Kbytes in 2 Requests.\n"},
    };
    struct buf *out = buf_new(0);
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        buf_reset(out);
        ql_text_footer(out, cases[i].bytes, cases[i].count);
        check_str(cases[i].want, buf_str(out), cases[i].want);
    }
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_json(void **state)
{
    struct buf *out = buf_new(0);
    struct ql_msg m;

    (void) state;
    make_msg(&m, "deferred", "DEB56A72307", 258, "alice@example.com");
    ql_msg_add_rcpt(&m, "bob@example.net", refused);
    ql_msg_add_rcpt(&m, "carol@example.org", NULL);
    ql_json_msg(out, &m);
    check_str("json", buf_str(out),
              "{\"queue_name\": \"deferred\", \"queue_id\": \"DEB56A72307\", "
              "\"arrival_time\": 1796328517, \"message_size\": 258, "
              "\"forced_expire\": false, \"sender\": \"alice@example.com\", "
              "\"recipients\": [{\"address\": \"bob@example.net\", "
              "\"delay_reason\": \"connect to 127.0.0.1[127.0.0.1]:1: "
              "Connection refused\"}, {\"address\": "
              "\"carol@example.org\"}]}\n");
    ql_msg_free(&m);

    buf_reset(out);
    make_msg(&m, "hold", "X", 0, "");
    m.forced_expire = 1;
    ql_json_msg(out, &m);
    check_str("json null sender, no recipients", buf_str(out),
              "{\"queue_name\": \"hold\", \"queue_id\": \"X\", "
              "\"arrival_time\": 1796328517, \"message_size\": 0, "
              "\"forced_expire\": true, \"sender\": \"MAILER-DAEMON\", "
              "\"recipients\": []}\n");
    ql_msg_free(&m);
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_json_string(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"plain", "\"plain\""},
        {"q\"b\\", "\"q\\\"b\\\\\""},
        {"a\nb\tc\001d\177", "\"a\\nb\\tc\\u0001d\\u007f\""},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        /* Not UTF-8: a lone byte, an overlong form, a surrogate. */
        {"\xff", "\"\\u00ff\""},
        {"\xc0\xaf", "\"\\u00c0\\u00af\""},
        {"\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\""},
        {"\xe2\x82", "\"\\u00e2\\u0082\""},
    };
    struct buf *out = buf_new(0);
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        buf_reset(out);
        ql_json_string(out, cases[i].in, strlen(cases[i].in));
        check_str(cases[i].in, buf_str(out), cases[i].want);
    }
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_wire(void **state)
{
    struct buf *wire = buf_new(0);
    struct stream *s;
    struct ql_msg m;
    struct ql_msg got;
    long sent = -1;
    size_t cut;

    (void) state;
    s = stream_open_mem(NULL, 0, wire);
    make_msg(&m, "deferred", "ABCDEFGHIJ", 99, "");
    ql_msg_add_rcpt(&m, "r1@x", "why not");
    ql_msg_add_rcpt(&m, "r2@x", NULL);
    assert_int_equal(ql_send(s, &m), 0);
    ql_msg_free(&m);
    make_msg(&m, "hold", "KLMNOPQRST", 1, "s@x");
    assert_int_equal(ql_send(s, &m), 0);
    ql_msg_free(&m);
    assert_int_equal(ql_send_end(s, 2), 0);
    assert_int_equal(stream_flush(s), 0);
    stream_free(s);

    s = stream_open_mem(buf_str(wire), buf_len(wire), NULL);
    ql_msg_init(&got);
    assert_int_equal(ql_recv(s, &got, &sent), 1);
    check_str("queue", got.queue, "deferred");
    check_str("id", got.id, "ABCDEFGHIJ");
    check_str("sender", got.sender, "");
    assert_int_equal(got.size, 99);
    assert_int_equal(got.arrival, T0);
    assert_int_equal(got.nrcpt, 2);
    check_str("r1", got.rcpts[0].addr, "r1@x");
    check_str("reason", got.rcpts[0].reason, "why not");
    assert_null(got.rcpts[1].reason);
    assert_int_equal(ql_recv(s, &got, &sent), 1);
    check_str("id 2", got.id, "KLMNOPQRST");
    assert_int_equal(got.nrcpt, 0);
    assert_int_equal(ql_recv(s, &got, &sent), 0);
    assert_int_equal(sent, 2);
    ql_msg_free(&got);
    stream_free(s);

    /* Cut anywhere before the end list: an error, never a short listing. */
    for (cut = 0; cut < buf_len(wire) - 1; cut += 7) {
        int r;

        s = stream_open_mem(buf_str(wire), cut, NULL);
        while ((r = ql_recv(s, &got, &sent)) > 0)
            ;
        if (r != -1) {
            print_error("cut at %zu: got %d, want -1\n", cut, r);
            failures++;
        }
        ql_msg_free(&got);
        stream_free(s);
    }

    /* Garbage. */
    s = stream_open_mem("hello world", 11, NULL);
    assert_int_equal(ql_recv(s, &got, &sent), -1);
    assert_true(strlen(ql_error()) > 0);
    stream_free(s);
    ql_msg_free(&got);
    buf_free(wire);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_text_lines, setup),
        cmocka_unit_test_setup(test_text_reasons, setup),
        cmocka_unit_test_setup(test_footer, setup),
        cmocka_unit_test_setup(test_json, setup),
        cmocka_unit_test_setup(test_json_string, setup),
        cmocka_unit_test_setup(test_wire, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
