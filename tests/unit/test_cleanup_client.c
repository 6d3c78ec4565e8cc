/*
 * test_cleanup_client.c - unit tests for the status helpers of
 * lib/cleanup_client.c: the SMTP reply, the exit code and the
 * temporary/permanent class of each CLEANUP_STAT_* combination, and
 * receive_override_options.
 *
 * Table-driven: each failing case prints "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "cleanup_client.h"
#include "msg.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static int failures;

static void test_stat_reply(void **state)
{
    static const struct {
        int status;
        const char *reason;
        const char *reply;
        int temporary;
        int exit_code;
    } cases[] = {
        {CLEANUP_STAT_WRITE | CLEANUP_STAT_NOSPACE, "",
         "452 4.3.1 Insufficient system storage", 1, EX_TEMPFAIL},
        {CLEANUP_STAT_WRITE, "", "451 4.3.0 Error: queue file write error", 1,
         EX_TEMPFAIL},
        {CLEANUP_STAT_BAD, "4.3.0 address mapping lookup error",
         "451 4.3.0 address mapping lookup error", 1, EX_TEMPFAIL},
        {CLEANUP_STAT_BAD, "", "451 4.3.0 Error: internal error", 1,
         EX_TEMPFAIL},
        {CLEANUP_STAT_SIZE, "", "552 5.3.4 Message size exceeds fixed limit", 0,
         EX_DATAERR},
        {CLEANUP_STAT_HOPS, "", "554 5.4.0 Error: too many hops", 0,
         EX_UNAVAILABLE},
        {CLEANUP_STAT_CONT, "5.7.1 message content rejected",
         "550 5.7.1 message content rejected", 0, EX_UNAVAILABLE},
        {CLEANUP_STAT_CONT, "", "550 5.7.1 message content rejected", 0,
         EX_UNAVAILABLE},
        {CLEANUP_STAT_CONT, "go away", "550 5.7.1 go away", 0, EX_UNAVAILABLE},
        {CLEANUP_STAT_CONT, "5.7.9 no\nthanks", "550 5.7.9 no?thanks", 0,
         EX_UNAVAILABLE},
        {CLEANUP_STAT_DEFER, "4.6.0 Alias expansion error",
         "450 4.6.0 Alias expansion error", 1, EX_TEMPFAIL},
        {CLEANUP_STAT_RCPT, "", "554 5.5.1 Error: no valid recipients", 0,
         EX_NOUSER},
        /* the temporary class wins over a content rejection */
        {CLEANUP_STAT_CONT | CLEANUP_STAT_WRITE, "5.7.1 x",
         "451 4.3.0 Error: queue file write error", 1, EX_TEMPFAIL},
        {CLEANUP_STAT_SIZE | CLEANUP_STAT_CONT, "5.7.1 x",
         "552 5.3.4 Message size exceeds fixed limit", 0, EX_DATAERR},
        {0x4000, "", "451 4.3.0 Error: internal error", 1, EX_SOFTWARE},
    };
    struct buf *out = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        cleanup_stat_reply(out, cases[i].status, cases[i].reason);
        if (strcmp(buf_str(out), cases[i].reply) != 0) {
            print_error("reply(%#x, \"%s\"): got \"%s\", want \"%s\"\n",
                        cases[i].status, cases[i].reason, buf_str(out),
                        cases[i].reply);
            failures++;
        }
        if (cleanup_stat_temporary(cases[i].status) != cases[i].temporary) {
            print_error("temporary(%#x): got %d, want %d\n", cases[i].status,
                        cleanup_stat_temporary(cases[i].status),
                        cases[i].temporary);
            failures++;
        }
        if (cleanup_stat_exit(cases[i].status) != cases[i].exit_code) {
            print_error("exit(%#x): got %d, want %d\n", cases[i].status,
                        cleanup_stat_exit(cases[i].status), cases[i].exit_code);
            failures++;
        }
    }
    assert_int_equal(cleanup_stat_exit(0), EX_OK);
    assert_int_equal(cleanup_stat_temporary(0), 0);
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_overrides(void **state)
{
    (void) state;
    msg_init("test_cleanup_client", MSG_NOLOG);
    assert_int_equal(cleanup_flags_from_overrides(""), 0);
    assert_int_equal(cleanup_flags_from_overrides(NULL), 0);
    assert_int_equal(cleanup_flags_from_overrides("no_address_mappings"),
                     CLEANUP_FLAG_NO_MAPS);
    assert_int_equal(
        cleanup_flags_from_overrides("no_unknown_recipient_checks, "
                                     "NO_HEADER_BODY_CHECKS no_milters"),
        CLEANUP_FLAG_NO_UNKNOWN_RCPT | CLEANUP_FLAG_NO_HDR_CHECKS);
    assert_int_equal(cleanup_flags_from_overrides("bogus,no_address_mappings"),
                     CLEANUP_FLAG_NO_MAPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stat_reply),
        cmocka_unit_test(test_overrides),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
