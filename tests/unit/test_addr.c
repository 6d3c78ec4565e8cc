/*
 * test_addr.c - unit tests for lib/addr.c.
 *
 * Table-driven: each case prints "got X, want Y" when it fails and the
 * test fails at the end, so one run shows every broken case.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "buf.h"

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

/* ---- MAIL FROM / RCPT TO argument -------------------------------------- */

#define B  ADDR_PARSE_BARE
#define NN ADDR_PARSE_NO_NULL
#define S  ADDR_PARSE_STRICT
#define A7 ADDR_PARSE_NO_8BIT

static const struct {
    const char *text;
    int flags;
    const char *want;   /* internal address, or the error text */
    const char *params; /* "NAME=VALUE NAME ..." when it parses */
} arg_cases[] = {
    /* plain, spacing */
    {"<user@example.com>", 0, "user@example.com", ""},
    {" \t<user@example.com>", 0, "user@example.com", ""},
    {"<User@Example.COM>", 0, "User@Example.COM", ""},
    {"<user@example.com> ", 0, "user@example.com", ""},
    /* null sender */
    {"<>", 0, "", ""},
    {"<> SIZE=10", 0, "", "SIZE=10"},
    {"<>", NN, "null address not allowed", NULL},
    /* source route, dropped */
    {"<@a.example,@b.example:user@example.com>", 0, "user@example.com", ""},
    {"<@[192.0.2.1]:u@d.example>", 0, "u@d.example", ""},
    {"<@d.example>", 0, "bad source route", NULL},
    {"<@a.example:>", 0, "bad source route", NULL},
    {"<@a.example,:u@d>", 0, "bad source route", NULL},
    {"<@a..b:u@d>", 0, "bad source route", NULL},
    {"<@:u@d>", 0, "bad source route", NULL},
    /* quoted local parts */
    {"<\"john doe\"@example.com>", 0, "john doe@example.com", ""},
    {"<\"a\\\"b\"@x.example>", 0, "a\"b@x.example", ""},
    {"<\"a\\\\b\"@x.example>", 0, "a\\b@x.example", ""},
    {"<\"a>b\"@x.example>", 0, "a>b@x.example", ""},
    {"<\"a@b\"@c.example>", 0, "a@b@c.example", ""},
    {"<\"\"@d.example>", 0, "@d.example", ""},
    {"<\"\">", 0, "empty address", NULL},
    {"<\"a@b\">", 0, "unqualified address with '@' in local part", NULL},
    {"<\"u@d>", 0, "unbalanced quote", NULL},
    {"<\"a\\", 0, "unbalanced quote", NULL},
    {"<\"a\001\"@d>", 0, "bad character in quoted string", NULL},
    {"<a\"b c\"d@x.example>", 0, "ab cd@x.example", ""},
    {"<a\"b\"@x.example>", S, "bad character in local part", NULL},
    {"<\"a\"b@x.example>", S, "bad character in local part", NULL},
    {"<\"john doe\"@example.com>", S, "john doe@example.com", ""},
    /* address literals */
    {"<user@[192.0.2.1]>", 0, "user@[192.0.2.1]", ""},
    {"<user@[IPv6:2001:db8::1]>", 0, "user@[IPv6:2001:db8::1]", ""},
    {"<user@[ipv6:::1]>", 0, "user@[ipv6:::1]", ""},
    {"<user@[IPv6:1.2.3.4]>", 0, "bad address literal", NULL},
    {"<user@[300.1.1.1]>", 0, "bad address literal", NULL},
    {"<user@[2001:db8::1]>", 0, "bad address literal", NULL},
    {"<user@[192.0.2.1>", 0, "bad address literal", NULL},
    {"<user@[]>", 0, "bad address literal", NULL},
    {"<user@[IPv6:]>", 0, "bad address literal", NULL},
    {"<user@[IPv6:::1%eth0]>", 0, "bad address literal", NULL},
    {"<user@[x-tag:foo]>", 0, "bad address literal", NULL},
    {"<user@[192.0.2.1]x>", 0, "bad address literal", NULL},
    {"<user@d.example[1]>", 0, "bad domain syntax", NULL},
    /* ESMTP parameters */
    {"<u@d> SIZE=123 BODY=8BITMIME", 0, "u@d", "SIZE=123 BODY=8BITMIME"},
    {"<u@d> SMTPUTF8", 0, "u@d", "SMTPUTF8"},
    {"<u@d>  SIZE=1\t BODY=7BIT ", 0, "u@d", "SIZE=1 BODY=7BIT"},
    {"<u@d> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+2Bx@d", 0, "u@d",
     "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+2Bx@d"},
    {"<u@d> X-FOO-1=a", 0, "u@d", "X-FOO-1=a"},
    {"<u@d>SIZE=1", 0, "garbage after '>'", NULL},
    {"<u@d>> SIZE=1", 0, "garbage after '>'", NULL},
    {"<u@d> SIZE=", 0, "bad ESMTP parameter syntax", NULL},
    {"<u@d> =x", 0, "bad ESMTP parameter syntax", NULL},
    {"<u@d> SI_ZE=1", 0, "bad ESMTP parameter syntax", NULL},
    {"<u@d> -SIZE=1", 0, "bad ESMTP parameter syntax", NULL},
    {"<u@d> SIZE=1=2", 0, "bad ESMTP parameter syntax", NULL},
    {"<u@d> X=\001", 0, "bad ESMTP parameter syntax", NULL},
    {"<u@d> X=\xc3\xa9", 0, "u@d", "X=\xc3\xa9"},
    {"<u@d> X=\xc3\xa9", A7, "bad ESMTP parameter syntax", NULL},
    /* brackets required unless asked */
    {"u@d", 0, "missing '<'", NULL},
    {"u@d", B, "u@d", ""},
    {"u@d SIZE=10", B, "u@d", "SIZE=10"},
    {"\"a b\"@d SIZE=1", B, "a b@d", "SIZE=1"},
    {"\"a b@d", B, "unbalanced quote", NULL},
    {"<u@d> SIZE=1", B, "u@d", "SIZE=1"},
    {"u@d>", B, "bad domain syntax", NULL},
    /* structure errors */
    {"", 0, "missing address", NULL},
    {"   ", B, "missing address", NULL},
    {"<u@d", 0, "missing '>'", NULL},
    {"<a<b@d>", 0, "bad character in address", NULL},
    {"<a b@d>", 0, "bad character in local part", NULL},
    {"<a\\b@d>", 0, "bad character in local part", NULL},
    {"<a@b@c>", 0, "bad domain syntax", NULL},
    /* unqualified */
    {"<user>", 0, "user", ""},
    {"<postmaster>", S, "postmaster", ""},
    {"<PostMaster>", S, "PostMaster", ""},
    {"<user>", S, "missing domain", NULL},
    /* local part dots: Postfix accepts them, RFC 5321 does not */
    {"<a..b@d>", 0, "a..b@d", ""},
    {"<.a.@d>", 0, ".a.@d", ""},
    {"<a..b@d>", S, "bad local part syntax", NULL},
    {"<.a@d>", S, "bad local part syntax", NULL},
    {"<a.@d>", S, "bad local part syntax", NULL},
    {"<a.b+c@d>", S, "a.b+c@d", ""},
    /* domains */
    {"<u@-d.example>", 0, "u@-d.example", ""},
    {"<u@-d.example>", S, "bad domain syntax", NULL},
    {"<u@d-.example>", S, "bad domain syntax", NULL},
    {"<u@d_x.example>", 0, "u@d_x.example", ""},
    {"<u@d_x.example>", S, "bad domain syntax", NULL},
    {"<u@d..example>", 0, "bad domain syntax", NULL},
    {"<u@.d.example>", 0, "bad domain syntax", NULL},
    {"<u@d.example.>", 0, "bad domain syntax", NULL},
    {"<u@>", 0, "bad domain syntax", NULL},
    {"<u@d!x>", 0, "bad domain syntax", NULL},
    {"<u@a-b.c-d.example>", S, "u@a-b.c-d.example", ""},
    /* 8-bit (SMTPUTF8) */
    {"<\xc3\xbc@d>", 0, "\xc3\xbc@d", ""},
    {"<\xc3\xbc@d>", A7, "bad character in local part", NULL},
    {"<u@\xc3\xa9.example>", 0, "u@\xc3\xa9.example", ""},
    {"<u@\xc3\xa9.example>", A7, "bad domain syntax", NULL},
    {"<\"\xc3\xbc x\"@d>", A7, "bad character in quoted string", NULL},
};

static void join_params(struct buf *out, const struct addr_arg *arg)
{
    size_t i;

    buf_reset(out);
    for (i = 0; i < arg->nparams; i++) {
        if (i > 0)
            buf_putc(out, ' ');
        buf_puts(out, arg->params[i].name);
        if (arg->params[i].value != NULL)
            buf_printf(out, "=%s", arg->params[i].value);
    }
}

static void test_parse_arg(void **state)
{
    struct addr_arg *arg = addr_arg_new();
    struct buf *got = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(arg_cases); i++) {
        const char *text = arg_cases[i].text;
        const char *err = "unset";
        int ret =
            addr_parse_arg(arg, text, strlen(text), arg_cases[i].flags, &err);

        check_int("addr_parse_arg", text, ret, arg_cases[i].params ? 0 : -1);
        if (ret == 0) {
            check_str("address", text, buf_str(arg->addr), arg_cases[i].want);
            check_int("null_addr", text, arg->null_addr,
                      *arg_cases[i].want == 0);
            join_params(got, arg);
            check_str("params", text, buf_str(got),
                      arg_cases[i].params ? arg_cases[i].params : "(error)");
        } else {
            check_str("error", text, err ? err : "(null)", arg_cases[i].want);
            check_str("address after error", text, buf_str(arg->addr), "");
            check_int("param_error", text, arg->param_error,
                      strstr(arg_cases[i].want, "ESMTP") != NULL);
        }
    }
    addr_arg_free(arg);
    addr_arg_free(NULL);
    buf_free(got);
    assert_int_equal(failures, 0);
}

static void test_parse_arg_bounds(void **state)
{
    struct addr_arg *arg = addr_arg_new();
    struct buf *text = buf_new(64);
    const char *err;
    int i;

    (void) state;
    /* A NUL anywhere is refused, and bytes after LEN are never read. */
    assert_int_equal(addr_parse_arg(arg, "<u@d>\0 X=1", 10, 0, &err), -1);
    assert_string_equal(err, "NUL byte in address");
    assert_int_equal(addr_parse_arg(arg, "<u\0@d>", 6, 0, &err), -1);
    assert_int_equal(addr_parse_arg(arg, "<u@d> X=1", 5, 0, &err), 0);
    assert_int_equal(arg->nparams, 0);
    assert_int_equal(addr_parse_arg(arg, "<u@d>>", 5, 0, &err), 0);

    /* Long local parts: fine by default, too long when strict. */
    buf_putc(text, '<');
    for (i = 0; i < 65; i++)
        buf_putc(text, 'a');
    buf_puts(text, "@d>");
    assert_int_equal(addr_parse_arg(arg, buf_str(text), buf_len(text), 0, &err),
                     0);
    assert_int_equal(addr_parse_arg(arg, buf_str(text), buf_len(text),
                                    ADDR_PARSE_STRICT, &err),
                     -1);
    assert_string_equal(err, "local part too long");

    /* A domain label over 63 and a domain over 255 octets when strict. */
    buf_set(text, "<u@");
    for (i = 0; i < 64; i++)
        buf_putc(text, 'b');
    buf_puts(text, ".example>");
    assert_int_equal(addr_parse_arg(arg, buf_str(text), buf_len(text), 0, &err),
                     0);
    assert_int_equal(addr_parse_arg(arg, buf_str(text), buf_len(text),
                                    ADDR_PARSE_STRICT, &err),
                     -1);
    buf_set(text, "<u@");
    for (i = 0; i < 64; i++)
        buf_puts(text, "abc.");
    buf_puts(text, "example>");
    assert_int_equal(addr_parse_arg(arg, buf_str(text), buf_len(text),
                                    ADDR_PARSE_STRICT, &err),
                     -1);
    assert_string_equal(err, "bad domain syntax");

    /* Parameters are bounded in number. */
    buf_set(text, "<u@d>");
    for (i = 0; i < 64; i++)
        buf_printf(text, " P%d=%d", i, i);
    assert_int_equal(addr_parse_arg(arg, buf_str(text), buf_len(text), 0, &err),
                     0);
    assert_int_equal(arg->nparams, 64);
    buf_puts(text, " ONE-MORE");
    assert_int_equal(addr_parse_arg(arg, buf_str(text), buf_len(text), 0, &err),
                     -1);
    assert_string_equal(err, "too many ESMTP parameters");
    assert_int_equal(arg->param_error, 1);

    /* A big input is handled without trouble. */
    buf_set(text, "<");
    for (i = 0; i < 100000; i++)
        buf_puts(text, "a.");
    buf_puts(text, "b@d>");
    assert_int_equal(addr_parse_arg(arg, buf_str(text), buf_len(text), 0, &err),
                     0);
    assert_int_equal(buf_len(arg->addr), 200003);

    /* Reuse: a parse clears what the last one left. */
    assert_int_equal(addr_parse_arg(arg, "<> SMTPUTF8", 11, 0, &err), 0);
    assert_int_equal(arg->null_addr, 1);
    assert_int_equal(arg->bracketed, 1);
    assert_int_equal(arg->nparams, 1);
    assert_int_equal(addr_parse_arg(arg, "a@b", 3, ADDR_PARSE_BARE, &err), 0);
    assert_int_equal(arg->null_addr, 0);
    assert_int_equal(arg->bracketed, 0);
    assert_int_equal(arg->nparams, 0);
    addr_arg_free(arg);
    buf_free(text);
}

static void test_arg_find(void **state)
{
    struct addr_arg *arg = addr_arg_new();
    const char *err;
    static const char text[] = "<u@d> size=10 SMTPUTF8 BODY=7BIT";

    (void) state;
    assert_int_equal(addr_parse_arg(arg, text, strlen(text), 0, &err), 0);
    assert_int_equal(addr_arg_find(arg, "SIZE"), 0);
    assert_string_equal(arg->params[0].value, "10");
    assert_int_equal(addr_arg_find(arg, "smtputf8"), 1);
    assert_null(arg->params[1].value);
    assert_int_equal(addr_arg_find(arg, "Body"), 2);
    assert_int_equal(addr_arg_find(arg, "RET"), -1);
    addr_arg_free(arg);
}

/* ---- quoting ------------------------------------------------------------ */

static const struct {
    const char *internal;
    const char *external;
} quote_cases[] = {
    {"user@example.com", "user@example.com"},
    {"first.last+tag@example.com", "first.last+tag@example.com"},
    {"!#$%&'*+-/=?^_`{|}~@d", "!#$%&'*+-/=?^_`{|}~@d"},
    {"john doe@example.com", "\"john doe\"@example.com"},
    {"a\"b@x", "\"a\\\"b\"@x"},
    {"a\\b@x", "\"a\\\\b\"@x"},
    {"a@b@c", "\"a@b\"@c"},
    {"@d", "\"\"@d"},
    {"", ""},
    {"@", "\"\"@"},
    {"user", "user"},
    {"a b", "\"a b\""},
    {".a@d", "\".a\"@d"},
    {"a.@d", "\"a.\"@d"},
    {"a..b@d", "\"a..b\"@d"},
    {"a.b@d", "a.b@d"},
    {"a(b)@d", "\"a(b)\"@d"},
    {"a,b@d", "\"a,b\"@d"},
    {"a:b@d", "\"a:b\"@d"},
    {"a<b>@d", "\"a<b>\"@d"},
    {"\xc3\xbc@d", "\xc3\xbc@d"},
    {"a@[192.0.2.1]", "a@[192.0.2.1]"},
    {"a b@[IPv6:::1]", "\"a b\"@[IPv6:::1]"},
};

static void test_quote(void **state)
{
    struct buf *got = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(quote_cases); i++) {
        const char *in = quote_cases[i].internal;
        const char *ex = quote_cases[i].external;

        buf_reset(got);
        addr_quote(got, in, strlen(in));
        check_str("addr_quote", in, buf_str(got), ex);
        buf_reset(got);
        addr_unquote(got, ex, strlen(ex));
        check_str("addr_unquote", ex, buf_str(got), in);
    }
    buf_free(got);
    assert_int_equal(failures, 0);
}

static const struct {
    const char *external;
    const char *internal;
} unquote_cases[] = {
    {"a.\"b c\".d@x", "a.b c.d@x"},
    {"\"abc\"@x", "abc@x"},
    {"a@\"b\"", "a@\"b\""}, /* the domain is not touched */
    {"\"a\\", "a\\"},       /* unbalanced: best effort */
    {"\"a\\@b", "a@b"},
    {"\"a\"\"b\"@c", "ab@c"},
    {"a\\b@c", "a\\b@c"}, /* '\' outside quotes is kept */
};

static void test_unquote(void **state)
{
    struct buf *got = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(unquote_cases); i++) {
        const char *ex = unquote_cases[i].external;

        buf_reset(got);
        addr_unquote(got, ex, strlen(ex));
        check_str("addr_unquote", ex, buf_str(got), unquote_cases[i].internal);
    }
    buf_free(got);
    assert_int_equal(failures, 0);
}

/* unquote(quote(x)) == x for awkward bytes, NUL included. */
static void test_quote_round_trip(void **state)
{
    static const char *const inputs[] = {
        "\"",        "\\",  "\"@", "@\"",      "a\"@b\"c",  "\\@\\",
        "\"\"@\"\"", "@@@", " @ ", "a\r\nb@c", "\"a\\\"@d", "x@\"",
    };
    struct buf *q = buf_new(64);
    struct buf *u = buf_new(64);
    static const char nul[] = "a\0b@c\0d";
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(inputs); i++) {
        buf_reset(q);
        buf_reset(u);
        addr_quote(q, inputs[i], strlen(inputs[i]));
        addr_unquote(u, buf_str(q), buf_len(q));
        check_str("unquote(quote())", inputs[i], buf_str(u), inputs[i]);
    }
    buf_reset(q);
    buf_reset(u);
    addr_quote(q, nul, sizeof(nul) - 1);
    addr_unquote(u, buf_str(q), buf_len(q));
    assert_int_equal(buf_len(u), sizeof(nul) - 1);
    assert_memory_equal(buf_str(u), nul, sizeof(nul) - 1);
    buf_free(q);
    buf_free(u);
    assert_int_equal(failures, 0);
}

/* ---- split -------------------------------------------------------------- */

static const struct {
    const char *addr;
    int form;
    int ret;
    const char *local;
    const char *domain;
} split_cases[] = {
    {"user@example.com", ADDR_INTERNAL, 1, "user", "example.com"},
    {"a@b@c", ADDR_INTERNAL, 1, "a@b", "c"},
    {"\"a@b\"@c", ADDR_EXTERNAL, 1, "\"a@b\"", "c"},
    {"\"a@b\"", ADDR_EXTERNAL, 0, "\"a@b\"", ""},
    {"\"a@b\"", ADDR_INTERNAL, 1, "\"a", "b\""},
    {"\"a\\\"@b\"@c", ADDR_EXTERNAL, 1, "\"a\\\"@b\"", "c"},
    {"user", ADDR_INTERNAL, 0, "user", ""},
    {"user@", ADDR_INTERNAL, 1, "user", ""},
    {"@d", ADDR_EXTERNAL, 1, "", "d"},
    {"", ADDR_INTERNAL, 0, "", ""},
};

static void test_split(void **state)
{
    struct buf *local = buf_new(64);
    struct buf *domain = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(split_cases); i++) {
        const char *a = split_cases[i].addr;

        buf_reset(local);
        buf_reset(domain);
        check_int("addr_split", a,
                  addr_split(a, strlen(a), split_cases[i].form, local, domain),
                  split_cases[i].ret);
        check_str("local", a, buf_str(local), split_cases[i].local);
        check_str("domain", a, buf_str(domain), split_cases[i].domain);
        check_int("addr_split_at", a,
                  (long) addr_split_at(a, strlen(a), split_cases[i].form),
                  (long) strlen(split_cases[i].local));
    }
    assert_int_equal(addr_split("u@d", 3, ADDR_INTERNAL, NULL, NULL), 1);
    buf_free(local);
    buf_free(domain);
    assert_int_equal(failures, 0);
}

static void test_lower(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"User@ExAmple.COM", "User@example.com"},
        {"A@B@C.D", "A@B@c.d"},
        {"NoDomain", "NoDomain"},
        {"X@\xc3\x89.COM", "X@\xc3\x89.com"}, /* ASCII only */
        {"", ""},
    };
    struct buf *b = buf_new(64);
    size_t i;
    char text[] = "MiXeD 123 \xc3\x89";

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        buf_set(b, cases[i].in);
        addr_lower_domain(b);
        check_str("addr_lower_domain", cases[i].in, buf_str(b), cases[i].want);
    }
    addr_lower_ascii(text, 3);
    assert_string_equal(text, "mixeD 123 \xc3\x89");
    buf_free(b);
    assert_int_equal(failures, 0);
}

/* ---- recipient_delimiter ------------------------------------------------ */

static const struct {
    const char *addr;
    const char *delims;
    int ret;
    const char *user;
    const char *ext;
    const char *domain;
    int delim;
} ext_cases[] = {
    {"user+foo@d", "+", 1, "user", "foo", "d", '+'},
    {"user+foo+bar@d", "+", 1, "user", "foo+bar", "d", '+'},
    {"user-foo+bar@d", "+-", 1, "user", "foo+bar", "d", '-'},
    {"user+foo-bar@d", "+-", 1, "user", "foo-bar", "d", '+'},
    {"user+@d", "+", 1, "user", "", "d", '+'},
    {"user+foo", "+", 1, "user", "foo", "", '+'},
    {"a+b@c@d", "+", 1, "a", "b@c", "d", '+'},
    {"user@d", "+", 0, "user", "", "d", 0},
    {"user+foo@d", "", 0, "user+foo", "", "d", 0},
    {"user+foo@d", NULL, 0, "user+foo", "", "d", 0},
    {"user+foo@d", "-", 0, "user+foo", "", "d", 0},
    /* never at the first character */
    {"+foo@d", "+", 0, "+foo", "", "d", 0},
    {"++foo@d", "+", 1, "+", "foo", "d", '+'},
    {"-request@d", "-", 0, "-request", "", "d", 0},
    /* the domain is not searched */
    {"user@a+b", "+", 0, "user", "", "a+b", 0},
    /* special local parts */
    {"postmaster@d", "+", 0, "postmaster", "", "d", 0},
    {"Postmaster+x@d", "+", 1, "Postmaster", "x", "d", '+'},
    {"MAILER-DAEMON@d", "-", 0, "MAILER-DAEMON", "", "d", 0},
    {"double-bounce@d", "-", 0, "double-bounce", "", "d", 0},
    {"owner-list@d", "-", 0, "owner-list", "", "d", 0},
    {"Owner-list+x@d", "+-", 0, "Owner-list+x", "", "d", 0},
    {"owner-list+x@d", "+", 1, "owner-list", "x", "d", '+'},
    {"list-request@d", "-", 0, "list-request", "", "d", 0},
    {"list-REQUEST@d", "+-", 0, "list-REQUEST", "", "d", 0},
    {"list-request+x@d", "+", 1, "list-request", "x", "d", '+'},
    {"list-request+x@d", "-+", 1, "list", "request+x", "d", '-'},
    {"a-b@d", "-", 1, "a", "b", "d", '-'},
};

static void test_split_ext(void **state)
{
    struct buf *user = buf_new(64);
    struct buf *ext = buf_new(64);
    struct buf *domain = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(ext_cases); i++) {
        const char *a = ext_cases[i].addr;
        int delim = -1;
        char label[128];

        snprintf(label, sizeof(label), "%s, \"%s\"", a,
                 ext_cases[i].delims ? ext_cases[i].delims : "(null)");
        buf_reset(user);
        buf_reset(ext);
        buf_reset(domain);
        check_int("addr_split_ext", label,
                  addr_split_ext(a, strlen(a), ext_cases[i].delims, user, ext,
                                 domain, &delim),
                  ext_cases[i].ret);
        check_str("user", label, buf_str(user), ext_cases[i].user);
        check_str("ext", label, buf_str(ext), ext_cases[i].ext);
        check_str("domain", label, buf_str(domain), ext_cases[i].domain);
        check_int("delim", label, delim, ext_cases[i].delim);
    }
    /* Every output may be NULL; a NUL in the local part is no delimiter. */
    assert_int_equal(addr_split_ext("u+x@d", 5, "+", NULL, NULL, NULL, NULL),
                     1);
    assert_int_equal(addr_split_ext("u\0x@d", 5, "+", user, NULL, NULL, NULL),
                     0);
    buf_free(user);
    buf_free(ext);
    buf_free(domain);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_arg),
        cmocka_unit_test(test_parse_arg_bounds),
        cmocka_unit_test(test_arg_find),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_unquote),
        cmocka_unit_test(test_quote_round_trip),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_lower),
        cmocka_unit_test(test_split_ext),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
