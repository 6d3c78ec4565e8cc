/*
 * test_anvil.c - unit tests for the anvil service's counting and expiry
 * logic (anvil/anvil_table.c): connection counts, rate windows per event
 * kind, expiry of idle entries, the "statistics:" report lines, and the
 * requests and replies of one client connection (anvil/anvil_proto.c).
 * The clock is passed in, so every case is exact.
 *
 * The program's file is compiled in here (it is not in libpostern).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../anvil/anvil_proto.c"
#include "../../anvil/anvil_table.c"

#include "argv.h"

#define T0 ((time_t) 1000000000) /* Sep  9 01:46:40 2001 UTC */

static void test_connect_counts_and_rates(void **state)
{
    struct anvil_table *t = anvil_table_new(60);
    int count = -1;
    int rate = -1;

    (void) state;
    anvil_table_connect(t, "smtp:192.0.2.1", T0, &count, &rate);
    assert_int_equal(count, 1);
    assert_int_equal(rate, 1);
    anvil_table_connect(t, "smtp:192.0.2.1", T0 + 1, &count, &rate);
    assert_int_equal(count, 2);
    assert_int_equal(rate, 2);
    /* Another client and another service are counted apart. */
    anvil_table_connect(t, "smtp:192.0.2.2", T0 + 1, &count, &rate);
    assert_int_equal(count, 1);
    assert_int_equal(rate, 1);
    anvil_table_connect(t, "submission:192.0.2.1", T0 + 1, &count, &rate);
    assert_int_equal(count, 1);
    assert_int_equal(rate, 1);
    /* A disconnect lowers the count, not the rate. */
    assert_int_equal(anvil_table_disconnect(t, "smtp:192.0.2.1", T0 + 2), 0);
    anvil_table_connect(t, "smtp:192.0.2.1", T0 + 2, &count, &rate);
    assert_int_equal(count, 2);
    assert_int_equal(rate, 3);
    assert_int_equal(anvil_table_size(t), 3);
    anvil_table_free(t);
}

static void test_disconnect_unknown(void **state)
{
    struct anvil_table *t = anvil_table_new(60);
    int count;
    int rate;

    (void) state;
    assert_int_equal(anvil_table_disconnect(t, "smtp:192.0.2.1", T0), -1);
    anvil_table_connect(t, "smtp:192.0.2.1", T0, &count, &rate);
    assert_int_equal(anvil_table_disconnect(t, "smtp:192.0.2.1", T0), 0);
    /* Never below zero. */
    assert_int_equal(anvil_table_disconnect(t, "smtp:192.0.2.1", T0), -1);
    anvil_table_connect(t, "smtp:192.0.2.1", T0, &count, &rate);
    assert_int_equal(count, 1);
    anvil_table_free(t);
}

static void test_rate_window(void **state)
{
    struct anvil_table *t = anvil_table_new(60);
    int count;
    int rate;

    (void) state;
    anvil_table_connect(t, "smtp:a", T0, &count, &rate);
    anvil_table_connect(t, "smtp:a", T0 + 59, &count, &rate);
    assert_int_equal(rate, 2);
    /* The window started at T0 and ends at T0 + 60. */
    anvil_table_connect(t, "smtp:a", T0 + 60, &count, &rate);
    assert_int_equal(rate, 1);
    assert_int_equal(count, 3);
    anvil_table_connect(t, "smtp:a", T0 + 100, &count, &rate);
    assert_int_equal(rate, 2);
    /* A clock that goes back starts a new window. */
    anvil_table_connect(t, "smtp:a", T0 + 10, &count, &rate);
    assert_int_equal(rate, 1);
    anvil_table_free(t);
}

static void test_events(void **state)
{
    static const enum anvil_event kinds[] = {ANVIL_EV_MAIL, ANVIL_EV_RCPT,
                                             ANVIL_EV_NEWTLS, ANVIL_EV_AUTH};
    struct anvil_table *t = anvil_table_new(10);
    struct anvil_counts c;
    size_t i;
    int n;

    (void) state;
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        for (n = 1; n <= (int) i + 2; n++)
            assert_int_equal(anvil_table_event(t, "smtp:b", kinds[i], T0), n);
    /* Peek does not count. */
    assert_int_equal(anvil_table_peek(t, "smtp:b", ANVIL_EV_NEWTLS, T0 + 9), 4);
    assert_int_equal(anvil_table_peek(t, "smtp:b", ANVIL_EV_NEWTLS, T0 + 9), 4);
    assert_int_equal(anvil_table_peek(t, "smtp:nobody", ANVIL_EV_MAIL, T0), 0);
    assert_int_equal(anvil_table_peek(t, "smtp:b", ANVIL_EV_MAIL, T0 + 10), 0);
    anvil_table_lookup(t, "smtp:b", T0 + 5, &c);
    assert_int_equal(c.count, 0);
    assert_int_equal(c.rate[ANVIL_EV_CONN], 0);
    assert_int_equal(c.rate[ANVIL_EV_MAIL], 2);
    assert_int_equal(c.rate[ANVIL_EV_RCPT], 3);
    assert_int_equal(c.rate[ANVIL_EV_NEWTLS], 4);
    assert_int_equal(c.rate[ANVIL_EV_AUTH], 5);
    /* After the window every rate starts again. */
    assert_int_equal(anvil_table_event(t, "smtp:b", ANVIL_EV_RCPT, T0 + 10), 1);
    anvil_table_lookup(t, "smtp:b", T0 + 10, &c);
    assert_int_equal(c.rate[ANVIL_EV_MAIL], 0);
    assert_int_equal(c.rate[ANVIL_EV_RCPT], 1);
    /* ANVIL_EV_CONN is not an event: only connect counts it. */
    assert_int_equal(anvil_table_event(t, "smtp:b", ANVIL_EV_CONN, T0), 0);
    anvil_table_lookup(t, "smtp:unknown", T0, &c);
    assert_int_equal(c.count, 0);
    assert_int_equal(c.rate[ANVIL_EV_AUTH], 0);
    anvil_table_free(t);
}

static void test_expire(void **state)
{
    struct anvil_table *t = anvil_table_new(60);
    int count;
    int rate;

    (void) state;
    anvil_table_connect(t, "smtp:open", T0, &count, &rate);
    anvil_table_connect(t, "smtp:closed", T0, &count, &rate);
    anvil_table_disconnect(t, "smtp:closed", T0 + 1);
    anvil_table_event(t, "smtp:mail", ANVIL_EV_MAIL, T0 + 30);
    assert_int_equal(anvil_table_size(t), 3);
    /* Windows not over yet: nothing goes. */
    assert_int_equal(anvil_table_expire(t, T0 + 59), 0);
    /* "closed" is idle and its window is over; "open" still has a client. */
    assert_int_equal(anvil_table_expire(t, T0 + 60), 1);
    assert_int_equal(anvil_table_size(t), 2);
    assert_int_equal(anvil_table_peek(t, "smtp:mail", ANVIL_EV_MAIL, T0 + 60),
                     1);
    assert_int_equal(anvil_table_expire(t, T0 + 90), 1);
    assert_int_equal(anvil_table_size(t), 1);
    /* An open connection keeps its entry however long it lasts. */
    assert_int_equal(anvil_table_expire(t, T0 + 100000), 0);
    anvil_table_disconnect(t, "smtp:open", T0 + 100000);
    assert_int_equal(anvil_table_expire(t, T0 + 100000), 1);
    assert_int_equal(anvil_table_size(t), 0);
    /* A new connection after expiry starts from zero. */
    anvil_table_connect(t, "smtp:closed", T0 + 100001, &count, &rate);
    assert_int_equal(count, 1);
    assert_int_equal(rate, 1);
    anvil_table_free(t);
}

static void collect(const char *line, void *ctx)
{
    argv_add(ctx, line);
}

static void test_report(void **state)
{
    static const char *const want[] = {
        "statistics: max connection rate 3/60s for (smtp:192.0.2.1) at Sep  "
        "9 01:46:42",
        "statistics: max connection count 2 for (smtp:192.0.2.1) at Sep  9 "
        "01:46:41",
        "statistics: max message rate 2/60s for (smtp:192.0.2.9) at Sep  9 "
        "01:46:45",
        "statistics: max recipient rate 1/60s for (smtp:192.0.2.9) at Sep  9 "
        "01:46:45",
        "statistics: max new TLS sessions 1/60s for (submission:192.0.2.1) at "
        "Sep  9 01:46:46",
        "statistics: max auth rate 1/60s for (submission:192.0.2.1) at Sep  9 "
        "01:46:47",
        "statistics: max cache size 3 at Sep  9 01:46:46",
    };
    struct anvil_table *t;
    struct argv *lines = argv_new(8);
    int count;
    int rate;
    size_t i;

    (void) state;
    setenv("TZ", "UTC", 1);
    tzset();
    t = anvil_table_new(60);
    /* Nothing happened: nothing to say. */
    assert_int_equal(anvil_table_report(t, collect, lines), 0);
    anvil_table_connect(t, "smtp:192.0.2.1", T0, &count, &rate);
    anvil_table_connect(t, "smtp:192.0.2.1", T0 + 1, &count, &rate);
    anvil_table_disconnect(t, "smtp:192.0.2.1", T0 + 2);
    anvil_table_connect(t, "smtp:192.0.2.1", T0 + 2, &count, &rate);
    anvil_table_event(t, "smtp:192.0.2.9", ANVIL_EV_MAIL, T0 + 3);
    anvil_table_event(t, "smtp:192.0.2.9", ANVIL_EV_MAIL, T0 + 5);
    anvil_table_event(t, "smtp:192.0.2.9", ANVIL_EV_RCPT, T0 + 5);
    anvil_table_event(t, "submission:192.0.2.1", ANVIL_EV_NEWTLS, T0 + 6);
    anvil_table_event(t, "submission:192.0.2.1", ANVIL_EV_AUTH, T0 + 7);
    assert_int_equal(anvil_table_report(t, collect, lines), 7);
    assert_int_equal(lines->argc, 7);
    for (i = 0; i < lines->argc; i++)
        if (strcmp(lines->argv[i], want[i]) != 0)
            fail_msg("line %zu: got \"%s\", want \"%s\"", i, lines->argv[i],
                     want[i]);
    /* The maxima were forgotten. */
    argv_truncate(lines, 0);
    assert_int_equal(anvil_table_report(t, collect, lines), 0);
    /* The next period reports only what happened in it. */
    anvil_table_event(t, "smtp:192.0.2.9", ANVIL_EV_MAIL, T0 + 8);
    assert_int_equal(anvil_table_report(t, collect, lines), 1);
    assert_string_equal(lines->argv[0], "statistics: max message rate 3/60s "
                                        "for (smtp:192.0.2.9) at Sep  9 "
                                        "01:46:48");
    argv_free(lines);
    anvil_table_free(t);
}

/* Append one request to OUT in the wire format (netstrings). */
static void request(struct buf *out, const char *req, const char *ident)
{
    buf_reset(out);
    if (req)
        buf_printf(out, "7:request,%zu:%s,", strlen(req), req);
    if (ident)
        buf_printf(out, "5:ident,%zu:%s,", strlen(ident), ident);
    buf_puts(out, "0:,");
}

/* Serve REQ for IDENT in S; the reply, or "ERROR: why". */
static const char *serve(struct anvil_session *s, struct anvil_table *t,
                         const char *req, const char *ident, time_t now)
{
    static struct buf *reply;
    struct buf *in = buf_new(64);
    struct buf *why = buf_new(64);

    if (reply == NULL)
        reply = buf_new(64);
    buf_reset(reply);
    request(in, req, ident);
    if (anvil_session_request(s, t, buf_str(in), buf_len(in), now, reply, why)
        < 0)
        buf_setf(reply, "ERROR: %s", buf_str(why));
    buf_free(in);
    buf_free(why);
    return buf_str(reply);
}

static void test_proto(void **state)
{
    static const struct {
        const char *req;
        const char *ident;
        const char *want;
    } cases[] = {
        {"connect", "smtp:192.0.2.1",
         "6:status,1:0,5:count,1:1,4:rate,1:1,0:,"},
        {"connect", "smtp:192.0.2.1",
         "6:status,1:0,5:count,1:2,4:rate,1:2,0:,"},
        {"disconnect", "smtp:192.0.2.1", "6:status,1:0,0:,"},
        {"message", "smtp:192.0.2.1", "6:status,1:0,4:rate,1:1,0:,"},
        {"recipient", "smtp:192.0.2.1", "6:status,1:0,4:rate,1:1,0:,"},
        {"recipient", "smtp:192.0.2.1", "6:status,1:0,4:rate,1:2,0:,"},
        {"newtls_report", "smtp:192.0.2.1", "6:status,1:0,4:rate,1:0,0:,"},
        {"newtls", "smtp:192.0.2.1", "6:status,1:0,4:rate,1:1,0:,"},
        {"newtls_report", "smtp:192.0.2.1", "6:status,1:0,4:rate,1:1,0:,"},
        {"auth", "smtp:192.0.2.1", "6:status,1:0,4:rate,1:1,0:,"},
        {"lookup", "smtp:192.0.2.1",
         "6:status,1:0,5:count,1:1,4:rate,1:2,7:message,1:1,9:recipient,1:2,"
         "6:newtls,1:1,4:auth,1:1,0:,"},
        /* Not registered by this connection: refused, nothing changes. */
        {"disconnect", "smtp:192.0.2.7", "6:status,1:1,0:,"},
        {"unknown", "smtp:192.0.2.1", "ERROR: unknown request \"unknown\""},
        {"connect", "a b", "ERROR: bad ident value"},
        {"connect", "", "ERROR: bad ident value"},
        {"connect", "x\x7f", "ERROR: bad ident value"},
        {"connect", NULL, "ERROR: attr_scan: missing attribute \"ident\""},
        {NULL, "smtp:x", "ERROR: attr_scan: missing attribute \"request\""},
    };
    struct anvil_table *t = anvil_table_new(60);
    struct anvil_session *s = anvil_session_new();
    struct anvil_session *other = anvil_session_new();
    struct anvil_counts c;
    char longid[ANVIL_IDENT_MAX + 3];
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = serve(s, t, cases[i].req, cases[i].ident, T0);

        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s %s: got \"%s\", want \"%s\"",
                     cases[i].req ? cases[i].req : "(none)",
                     cases[i].ident ? cases[i].ident : "(none)", got,
                     cases[i].want);
    }
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = 0;
    assert_string_equal(serve(s, t, "connect", longid, T0),
                        "ERROR: attr_scan: value of \"ident\" too long "
                        "(limit 257 bytes)");
    longid[ANVIL_IDENT_MAX + 1] = 0;
    assert_string_equal(serve(s, t, "connect", longid, T0),
                        "ERROR: bad ident value");
    longid[ANVIL_IDENT_MAX] = 0;
    assert_string_equal(serve(s, t, "connect", longid, T0),
                        "6:status,1:0,5:count,1:1,4:rate,1:1,0:,");
    /* Another connection cannot release this one's clients... */
    assert_string_equal(serve(other, t, "disconnect", "smtp:192.0.2.1", T0),
                        "6:status,1:1,0:,");
    assert_string_equal(serve(other, t, "connect", "smtp:192.0.2.1", T0),
                        "6:status,1:0,5:count,1:2,4:rate,1:3,0:,");
    /* ... and when a connection ends, what it registered is released. */
    anvil_session_end(s, t, T0 + 1);
    anvil_table_lookup(t, "smtp:192.0.2.1", T0 + 1, &c);
    assert_int_equal(c.count, 1);
    anvil_table_lookup(t, longid, T0 + 1, &c);
    assert_int_equal(c.count, 0);
    anvil_session_end(other, t, T0 + 1);
    anvil_table_lookup(t, "smtp:192.0.2.1", T0 + 1, &c);
    assert_int_equal(c.count, 0);
    assert_int_equal(anvil_table_expire(t, T0 + 60), 2);
    anvil_table_free(t);
}

static void test_proto_strict(void **state)
{
    static const char *const bad[] = {
        "7:request,7:connect,5:ident,6:smtp:x,4:junk,1:1,0:,",
        "7:request,7:connect,5:ident,6:smtp:x,5:ident,6:smtp:x,0:,",
        "7:request,7:connect,5:ident,6:smtp:x,0:,X",
        "7:request,7:connect,5:ident,6:smtp:x",
    };
    struct anvil_table *t = anvil_table_new(60);
    struct anvil_session *s = anvil_session_new();
    struct buf *reply = buf_new(64);
    struct buf *why = buf_new(64);
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(why);
        assert_int_equal(
            anvil_session_request(s, t, bad[i], strlen(bad[i]), T0, reply, why),
            -1);
        assert_true(strncmp(buf_str(why), "attr_scan: ", 11) == 0);
    }
    assert_int_equal(buf_len(reply), 0);
    assert_int_equal(anvil_table_size(t), 0);
    anvil_session_end(s, t, T0);
    anvil_table_free(t);
    buf_free(reply);
    buf_free(why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_counts_and_rates),
        cmocka_unit_test(test_disconnect_unknown),
        cmocka_unit_test(test_rate_window),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_expire),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_proto),
        cmocka_unit_test(test_proto_strict),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
