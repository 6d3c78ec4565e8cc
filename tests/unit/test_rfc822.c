/*
 * test_rfc822.c - unit tests for lib/rfc822.c: header names, unfolding,
 * address lists and their rewriting.
 *
 * Table-driven: each failing case prints "got X, want Y" and the test
 * fails at the end, so one run shows every broken case.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "rfc822.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static int failures;

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

/* ---- header names -------------------------------------------------------- */

static void test_header_name(void **state)
{
    static const struct {
        const char *line;
        size_t name_len;
        size_t value_at;
    } cases[] = {
        {"Subject: hi", 7, 8},
        {"Subject:", 7, 8},
        {"Subject :x", 7, 9},
        {"Subject\t: x", 7, 9},
        {"X-Mailer:x", 8, 9},
        {" Subject: x", 0, 0},
        {"\tcontinued", 0, 0},
        {"no colon here", 0, 0},
        {"NoColon", 0, 0},
        {": empty name", 0, 0},
        {"", 0, 0},
        {"Bad Name: x", 0, 0},
        {"X-\x80: x", 0, 0},
        {"From sender@example.com Thu Dec  3", 0, 0},
    };
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        size_t len = strlen(cases[i].line);

        check_int("rfc822_header_name", cases[i].line,
                  (long) rfc822_header_name(cases[i].line, len),
                  (long) cases[i].name_len);
        check_int("rfc822_header_value", cases[i].line,
                  (long) rfc822_header_value(cases[i].line, len),
                  (long) cases[i].value_at);
    }
    /* A name with a NUL after it is not a header. */
    check_int("rfc822_header_name",
              "To\\0:", (long) rfc822_header_name("To\0:", 4), 0);
    check_int("rfc822_continuation", " x", rfc822_continuation(" x", 2), 1);
    check_int("rfc822_continuation", "\tx", rfc822_continuation("\tx", 2), 1);
    check_int("rfc822_continuation", "x", rfc822_continuation("x", 1), 0);
    check_int("rfc822_continuation", "", rfc822_continuation("", 0), 0);
    assert_int_equal(failures, 0);
}

static void test_header_info(void **state)
{
    static const struct {
        const char *name;
        int id;
        int flags;
    } cases[] = {
        {"To", RFC822_HDR_TO, RFC822_HDR_RECIPIENT | RFC822_HDR_EXTRACT},
        {"tO", RFC822_HDR_TO, RFC822_HDR_RECIPIENT | RFC822_HDR_EXTRACT},
        {"From", RFC822_HDR_FROM, RFC822_HDR_SENDER},
        {"sender", RFC822_HDR_SENDER_ID, RFC822_HDR_SENDER},
        {"Reply-To", RFC822_HDR_REPLY_TO, RFC822_HDR_RECIPIENT},
        {"BCC", RFC822_HDR_BCC, RFC822_HDR_RECIPIENT | RFC822_HDR_EXTRACT},
        {"Resent-From", RFC822_HDR_RESENT_FROM,
         RFC822_HDR_SENDER | RFC822_HDR_RESENT},
        {"resent-to", RFC822_HDR_RESENT_TO,
         RFC822_HDR_RECIPIENT | RFC822_HDR_EXTRACT | RFC822_HDR_RESENT},
        {"Message-ID", RFC822_HDR_MESSAGE_ID, 0},
        {"Received", RFC822_HDR_RECEIVED, 0},
        {"X-Foo", -1, 0},
        {"Tox", -1, 0},
        {"T", -1, 0},
    };
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        const struct rfc822_hdr_info *info =
            rfc822_header_info(cases[i].name, strlen(cases[i].name));

        check_int("rfc822_header_info id", cases[i].name,
                  info ? (long) info->id : -1L, cases[i].id);
        if (info)
            check_int("rfc822_header_info flags", cases[i].name, info->flags,
                      cases[i].flags);
    }
    assert_int_equal(failures, 0);
}

static void test_unfold(void **state)
{
    static const struct {
        const char *in;
        const char *unfolded;
        const char *text; /* rfc822_header_text */
    } cases[] = {
        {"Subject: a", "Subject: a", "a"},
        {"Subject: a\n b", "Subject: a b", "a b"},
        {"Subject: a\r\n\tb", "Subject: a\tb", "a\tb"},
        {"Subject:\n  a \n b  ", "Subject:  a  b  ", "a  b"},
        {"Subject: a\nb", "Subject: a\nb", "a\nb"},
        {"Subject: a\n", "Subject: a\n", "a"},
        {"Subject:", "Subject:", ""},
        {"To: x,\n\n y", "To: x,\n y", "x,\n y"},
    };
    struct buf *out = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        buf_reset(out);
        rfc822_unfold(out, cases[i].in, strlen(cases[i].in));
        check_str("rfc822_unfold", cases[i].in, buf_str(out),
                  cases[i].unfolded);
        buf_reset(out);
        rfc822_header_text(out, cases[i].in, strlen(cases[i].in));
        check_str("rfc822_header_text", cases[i].in, buf_str(out),
                  cases[i].text);
    }
    buf_free(out);
    assert_int_equal(failures, 0);
}

/* ---- address lists ------------------------------------------------------- */

/* The addresses found, "|"-separated, "<>" for an empty one; the text at
 * each place in [] when SPANS is set. */
static void addrs_text(struct buf *out, const char *value, size_t limit,
                       int spans, int *truncated)
{
    struct rfc822_addrs list;
    size_t i;

    rfc822_addrs_init(&list);
    rfc822_parse_addrs(&list, value, strlen(value), limit);
    buf_reset(out);
    for (i = 0; i < list.n; i++) {
        if (i > 0)
            buf_putc(out, '|');
        if (buf_len(list.v[i].addr) == 0)
            buf_puts(out, "<>");
        else
            buf_puts(out, buf_str(list.v[i].addr));
        if (spans) {
            buf_putc(out, '[');
            buf_append(out, value + list.v[i].start,
                       list.v[i].end - list.v[i].start);
            buf_putc(out, ']');
        }
    }
    if (truncated)
        *truncated = list.truncated;
    rfc822_addrs_free(&list);
}

static void test_parse_addrs(void **state)
{
    static const struct {
        const char *value;
        const char *want;
    } cases[] = {
        {"", ""},
        {"   ", ""},
        {" a@b", "a@b[a@b]"},
        {"user", "user[user]"},
        {"Name <a@b>", "a@b[a@b]"},
        {"Name < a@b >", "a@b[a@b]"},
        {"\"Doe, John\" <john@x>, y@z", "john@x[john@x]|y@z[y@z]"},
        {"a@b (A, B), c@d", "a@b[a@b]|c@d[c@d]"},
        {"(lead) a@b", "a@b[a@b]"},
        {"friends: a@b, C <c@d>;, e@f", "a@b[a@b]|c@d[c@d]|e@f[e@f]"},
        {"undisclosed-recipients:;", ""},
        {"<@r1,@r2:u@d>", "u@d[u@d]"},
        {"\"john doe\"@x", "john doe@x[\"john doe\"@x]"},
        {"\"a\\\"b\"@x", "a\"b@x[\"a\\\"b\"@x]"},
        {"<>", "<>[]"},
        {"a@b,\n c@d", "a@b[a@b]|c@d[c@d]"},
        {"a@b,,c@d,", "a@b[a@b]|c@d[c@d]"},
        {"a@[1.2.3.4]", "a@[1.2.3.4][a@[1.2.3.4]]"},
        {"first.last@sub.example.com", "first.last@sub.example.com"
                                       "[first.last@sub.example.com]"},
        {"a @ b", "a@b[a @ b]"},
        {"Name <a@b> trailing, c", "a@b[a@b]|c[c]"},
        {"<a@b", "a@b[a@b]"},
        {"\"unclosed@x", "unclosed@x[\"unclosed@x]"},
        {"(unclosed comment a@b", ""},
    };
    struct buf *out = buf_new(128);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        addrs_text(out, cases[i].value, 0, 1, NULL);
        check_str("rfc822_parse_addrs", cases[i].value, buf_str(out),
                  cases[i].want);
    }
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_token_limit(void **state)
{
    struct buf *out = buf_new(64);
    int truncated = 0;

    (void) state;
    failures = 0;
    addrs_text(out, "a@b, c@d, e@f", 3, 0, &truncated);
    check_str("limit 3", "a@b, c@d, e@f", buf_str(out), "a@b");
    check_int("limit 3 truncated", "a@b, c@d, e@f", truncated, 1);
    addrs_text(out, "a@b, c@d, e@f", 0, 0, &truncated);
    check_str("no limit", "a@b, c@d, e@f", buf_str(out), "a@b|c@d|e@f");
    check_int("no limit truncated", "a@b, c@d, e@f", truncated, 0);
    addrs_text(out, "a@b, c@d", 100, 0, &truncated);
    check_int("limit 100 truncated", "a@b, c@d", truncated, 0);
    buf_free(out);
    assert_int_equal(failures, 0);
}

/* ---- rewriting ------------------------------------------------------------
 */

static int calls;

/* a@b -> x@y; no domain -> @dom; "space" -> "john doe@x"; "fail" -> -1. */
static int rewrite_fn(struct buf *addr, void *ctx)
{
    (void) ctx;
    calls++;
    if (strcmp(buf_str(addr), "a@b") == 0) {
        buf_set(addr, "x@y");
        return 1;
    }
    if (strcmp(buf_str(addr), "space") == 0) {
        buf_set(addr, "john doe@x");
        return 1;
    }
    if (strcmp(buf_str(addr), "fail") == 0)
        return -1;
    if (strchr(buf_str(addr), '@') == NULL) {
        buf_puts(addr, "@dom");
        return 1;
    }
    return 0;
}

static int identity_fn(struct buf *addr, void *ctx)
{
    (void) addr;
    (void) ctx;
    calls++;
    return 0;
}

static void test_rewrite(void **state)
{
    static const struct {
        const char *value;
        const char *want;
        int changed;
    } cases[] = {
        {"a@b", "x@y", 1},
        {" Name <a@b> (c), d", " Name <x@y> (c), d@dom", 2},
        {"Name\n <a@b>,\n\tother@host", "Name\n <x@y>,\n\tother@host", 1},
        {"g: a@b, c@d;", "g: x@y, c@d;", 1},
        {"<>", "<>", 0},
        {"space", "\"john doe\"@x", 1},
        {"\"Doe, John\" <a@b>", "\"Doe, John\" <x@y>", 1},
        {"a@b (a@b)", "x@y (a@b)", 1},
        {"<@r:a@b>", "<@r:x@y>", 1},
        {"nothing@here", "nothing@here", 0},
    };
    struct buf *out = buf_new(64);
    size_t i;
    int n;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        n = rfc822_rewrite_addrs(out, cases[i].value, strlen(cases[i].value), 0,
                                 rewrite_fn, NULL);
        check_int("rfc822_rewrite_addrs count", cases[i].value, n,
                  cases[i].changed);
        check_str("rfc822_rewrite_addrs", cases[i].value, buf_str(out),
                  cases[i].want);
    }
    n = rfc822_rewrite_addrs(out, "ok@x, fail, a@b", 15, 0, rewrite_fn, NULL);
    check_int("rfc822_rewrite_addrs failure", "ok@x, fail, a@b", n, -1);
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_rewrite_round_trip(void **state)
{
    static const char *const values[] = {
        "",
        " plain@example.com",
        "\"Doe, John\" <john@x> (work),\n\t\"Roe, R.\" <r@y>",
        "group: a@b, (c) c@d ; , e",
        "  \"unclosed <x@y>",
        "(nested (comment) here) a@b",
        "<@a,@b:c@d>, <>, [1.2.3.4], x@[ipv6:::1]",
        "weird;;,,::<<>>",
        "\\\\escaped\\@x@y",
    };
    struct buf *out = buf_new(64);
    size_t i;
    int n;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(values); i++) {
        calls = 0;
        n = rfc822_rewrite_addrs(out, values[i], strlen(values[i]), 0,
                                 identity_fn, NULL);
        check_int("identity count", values[i], n, 0);
        check_str("identity", values[i], buf_str(out), values[i]);
    }
    /* Each non-empty address is offered once. */
    calls = 0;
    rfc822_rewrite_addrs(out, "a@b, <>, c", 10, 0, identity_fn, NULL);
    check_int("calls", "a@b, <>, c", calls, 2);
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_format_mailbox(void **state)
{
    static const struct {
        const char *phrase;
        const char *addr;
        const char *want;
    } cases[] = {
        {"Alice Example", "a@b", "Alice Example <a@b>"},
        {"", "a@b", "a@b"},
        {NULL, "john doe@x", "\"john doe\"@x"},
        {"Doe, John", "j@x", "\"Doe, John\" <j@x>"},
        {"A \"q\" B", "a@b", "\"A \\\"q\\\" B\" <a@b>"},
        {"two  spaces", "a@b", "\"two  spaces\" <a@b>"},
        {"line\nbreak", "a@b", "\"line break\" <a@b>"},
        {"J. Doe", "a@b", "\"J. Doe\" <a@b>"},
    };
    struct buf *out = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        buf_reset(out);
        rfc822_format_mailbox(out, cases[i].phrase, cases[i].addr);
        check_str("rfc822_format_mailbox", cases[i].addr, buf_str(out),
                  cases[i].want);
    }
    /* What it formats parses back to the address. */
    buf_reset(out);
    rfc822_format_mailbox(out, "Doe, John", "john doe@x");
    {
        struct buf *got = buf_new(64);

        addrs_text(got, buf_str(out), 0, 0, NULL);
        check_str("format then parse", buf_str(out), buf_str(got),
                  "john doe@x");
        buf_free(got);
    }
    buf_free(out);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_name),
        cmocka_unit_test(test_header_info),
        cmocka_unit_test(test_unfold),
        cmocka_unit_test(test_parse_addrs),
        cmocka_unit_test(test_token_limit),
        cmocka_unit_test(test_rewrite),
        cmocka_unit_test(test_rewrite_round_trip),
        cmocka_unit_test(test_format_mailbox),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
