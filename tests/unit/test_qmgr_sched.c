/*
 * test_qmgr_sched.c - queue/qmgr_sched.c: backoff, expiry and lifetime,
 * the concurrency window (slow start, growth to the limit, failure
 * cohorts, dead destinations), feedback settings, recipient-limit
 * splitting, destination keys and per-transport parameters. Table-driven
 * where the unit is a table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../queue/qmgr_sched.c"
#include "buf.h"
#include "config.h"
#include "msg.h"

static void test_backoff(void **state)
{
    static const struct {
        long long age;
        long min, max, want;
    } cases[] = {
        {0, 300, 4000, 300},      {299, 300, 4000, 300},
        {300, 300, 4000, 300},    {301, 300, 4000, 301},
        {1200, 300, 4000, 1200},  {4000, 300, 4000, 4000},
        {99999, 300, 4000, 4000}, {10, 300, 100, 300}, /* max < min */
        {-5, 1, 10, 1},
    };
    size_t i;
    long long age = 0;
    int attempts = 0;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(qmgr_backoff(cases[i].age, cases[i].min, cases[i].max),
                         cases[i].want);
    /* Retrying at once after each wait: the waits double until the cap. */
    {
        static const long waits[] = {300, 300, 600, 1200, 2400, 4000};

        for (attempts = 0; attempts < 6; attempts++) {
            long w = qmgr_backoff(age, 300, 4000);

            assert_int_equal(w, waits[attempts]);
            age += w;
        }
    }
}

static void test_expiry(void **state)
{
    (void) state;
    assert_false(qmgr_expired(1000, 1000 + 5 * 86400 - 1, 5 * 86400));
    assert_true(qmgr_expired(1000, 1000 + 5 * 86400, 5 * 86400));
    assert_true(qmgr_expired(1000, 1000, 0)); /* 0: one attempt only */
    assert_int_equal(qmgr_lifetime("a@x", 0, 500, 100), 500);
    assert_int_equal(qmgr_lifetime("", 0, 500, 100), 100);
    assert_int_equal(qmgr_lifetime("a@x", REC_FLAG_BOUNCE, 500, 100), 100);
    assert_int_equal(qmgr_lifetime("a@x", REC_FLAG_8BITMIME, 500, 100), 500);
}

static void test_window_slow_start(void **state)
{
    struct qmgr_window w;
    int i;

    (void) state;
    qmgr_window_init(&w, 5, 20, 1, 1, 1);
    assert_int_equal((int) w.window, 5);
    /* Five may run, the sixth waits. */
    for (i = 0; i < 5; i++) {
        assert_true(qmgr_window_can_start(&w));
        w.active++;
    }
    assert_false(qmgr_window_can_start(&w));
    /* About one cohort of successes adds one: +1/window each. */
    for (i = 0; i < 5; i++)
        qmgr_window_success(&w);
    assert_false(qmgr_window_can_start(&w));
    qmgr_window_success(&w);
    assert_int_equal((int) w.window, 6);
    assert_true(qmgr_window_can_start(&w));
    /* Growth stops at the limit. */
    for (i = 0; i < 1000; i++)
        qmgr_window_success(&w);
    assert_true(w.window <= 20.0 && w.window > 19.99);
    /* An initial concurrency above the limit starts at the limit. */
    qmgr_window_init(&w, 5, 2, 1, 1, 1);
    assert_int_equal((int) w.window, 2);
    /* Limit 0: no limit. */
    qmgr_window_init(&w, 1, 0, 1, 1, 1);
    for (i = 0; i < 100; i++)
        qmgr_window_success(&w);
    assert_true(w.window > 10);
}

static void test_window_failures(void **state)
{
    struct qmgr_window w;
    int i;
    int dead = 0;

    (void) state;
    /* cohort limit 1, window 5: dead after one cohort (5) of failures. */
    qmgr_window_init(&w, 5, 20, 1, 1, 1);
    for (i = 0; i < 10 && !dead; i++)
        dead = qmgr_window_failure(&w);
    assert_true(dead);
    assert_true(w.dead);
    assert_true(i >= 4 && i <= 5);
    assert_false(qmgr_window_can_start(&w));
    assert_true(w.window >= 1);
    /* Reported dead once only. */
    assert_int_equal(qmgr_window_failure(&w), 0);
    qmgr_window_revive(&w, 5);
    assert_false(w.dead);
    assert_true(qmgr_window_can_start(&w));

    /* A success in between starts the count again (no growth here). */
    qmgr_window_init(&w, 1, 20, 2, 0, 1);
    assert_int_equal(qmgr_window_failure(&w), 0); /* cohort 1 of 2 */
    qmgr_window_success(&w);
    assert_int_equal(qmgr_window_failure(&w), 0);
    assert_int_equal(qmgr_window_failure(&w), 1);

    /* cohort limit 0: never dead, the window stays at least 1. */
    qmgr_window_init(&w, 3, 20, 0, 1, 1);
    for (i = 0; i < 100; i++)
        assert_int_equal(qmgr_window_failure(&w), 0);
    assert_true(w.window >= 1 && w.window < 1.5);
    assert_true(qmgr_window_can_start(&w));
}

static void test_feedback(void **state)
{
    static const struct {
        const char *in;
        double want;
    } cases[] = {
        {"1", 1},
        {"0.5", 0.5},
        {" 2 ", 2},
        {"1/4", 0.25},
        {"1/concurrency", 1},
        {"1 / concurrency", 1},
        {"x", 9},
        {"", 9},
        {"-1", 9},
        {"1/0", 9},
        {"1/x", 9},
        {"1 2", 9},
    };
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = qmgr_feedback_parse(cases[i].in, 9);

        if (got < cases[i].want - 1e-9 || got > cases[i].want + 1e-9)
            fail_msg("\"%s\": got %g, want %g", cases[i].in, got,
                     cases[i].want);
    }
    assert_true(qmgr_feedback_parse(NULL, 3) == 3);
}

static void test_split_and_keys(void **state)
{
    struct buf *key = buf_new(0);

    (void) state;
    assert_int_equal(qmgr_split_count(0, 50), 0);
    assert_int_equal(qmgr_split_count(1, 50), 1);
    assert_int_equal(qmgr_split_count(50, 50), 1);
    assert_int_equal(qmgr_split_count(51, 50), 2);
    assert_int_equal(qmgr_split_count(101, 50), 3);
    assert_int_equal(qmgr_split_count(7, 1), 7);
    assert_int_equal(qmgr_split_count(1000, 0), 1);

    qmgr_dest_key(key, "smtp", "Example.COM", "u@example.com", 50);
    assert_string_equal(buf_str(key), "smtp example.com");
    qmgr_dest_key(key, "smtp", "[relay.example]:587", "u@x", 0);
    assert_string_equal(buf_str(key), "smtp [relay.example]:587");
    /* One recipient per request: the recipient is the destination. */
    qmgr_dest_key(key, "local", "host.example", "User@host.example", 1);
    assert_string_equal(buf_str(key), "local User@host.example");
    buf_free(key);
}

static void test_transport_params(void **state)
{
    (void) state;
    /* In params.def: smtp's follows default_; local has its own. */
    assert_int_equal(
        qmgr_transport_int("smtp", "destination_recipient_limit",
                           var_default_destination_recipient_limit),
        50);
    assert_int_equal(
        qmgr_transport_int("local", "destination_recipient_limit", 50), 1);
    /* A transport an administrator added: main.cf, else the default. */
    assert_int_equal(
        qmgr_transport_int("mytrans", "destination_recipient_limit", 50), 50);
    config_set("mytrans_destination_recipient_limit", "7", NULL, 0);
    assert_int_equal(
        qmgr_transport_int("mytrans", "destination_recipient_limit", 50), 7);
    /* smtp's default is "$default_destination_recipient_limit". */
    config_set("default_destination_recipient_limit", "9", NULL, 0);
    assert_int_equal(
        qmgr_transport_int("smtp", "destination_recipient_limit", 50), 9);
    config_set("mytrans_destination_concurrency_limit", "lots", NULL, 0);
    assert_int_equal(
        qmgr_transport_int("mytrans", "destination_concurrency_limit", 20), 20);
    assert_string_equal(qmgr_transport_str("mytrans",
                                           "destination_concurrency_positive_"
                                           "feedback",
                                           "1"),
                        "1");
    config_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_window_slow_start),
        cmocka_unit_test(test_window_failures),
        cmocka_unit_test(test_feedback),
        cmocka_unit_test(test_split_and_keys),
        cmocka_unit_test(test_transport_params),
    };

    msg_init("test_qmgr_sched", MSG_NOLOG);
    params_load();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
