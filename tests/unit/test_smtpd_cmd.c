/*
 * test_smtpd_cmd.c - unit tests for smtpd's command parser
 * (smtpd/smtpd_cmd.c, compiled in here): verb splitting, MAIL FROM and
 * RCPT TO addresses and ESMTP parameters, xtext, BDAT arguments.
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

#include "../../smtpd/smtpd_cmd.c"

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

static void check_long(const char *what, const char *input, long long got,
                       long long want)
{
    if (got != want) {
        print_error("%s(\"%s\"): got %lld, want %lld\n", what, input, got,
                    want);
        failures++;
    }
}

static const struct smtpd_cmd_opts default_opts = {
    .strict_rfc821 = 0,
    .smtputf8 = 1,
    .dsn = 1,
    .auth = 0,
    .size_limit = 10240000,
};

static void test_split(void **state)
{
    static const struct {
        const char *line;
        int ret;
        const char *verb;
        const char *arg;
    } cases[] = {
        {"QUIT", 0, "QUIT", ""},
        {"quit", 0, "QUIT", ""},
        {"mail FROM:<a@b>  ", 0, "MAIL", "FROM:<a@b>"},
        {"  EHLO   client.example  ", 0, "EHLO", "client.example"},
        {"ehlo\tx", 0, "EHLO", "x"},
        {"", -1, "", "500 5.5.2 Error: bad syntax"},
        {"   ", -1, "", "500 5.5.2 Error: bad syntax"},
        {"NO\x01OP", -1, "", "500 5.5.2 Error: bad syntax"},
    };
    struct buf *verb = buf_new(8);
    struct buf *reply = buf_new(8);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        const char *arg = NULL;
        size_t alen = 0;
        int ret;

        buf_reset(reply);
        ret = smtpd_cmd_split(cases[i].line, strlen(cases[i].line), verb, &arg,
                              &alen, reply);
        check_long("split", cases[i].line, ret, cases[i].ret);
        if (ret == 0) {
            struct buf *a = buf_new(8);

            buf_append(a, arg, alen);
            check_str("split verb", cases[i].line, buf_str(verb),
                      cases[i].verb);
            check_str("split arg", cases[i].line, buf_str(a), cases[i].arg);
            buf_free(a);
        } else {
            check_str("split reply", cases[i].line, buf_str(reply),
                      cases[i].arg);
        }
    }
    /* A NUL inside the verb. */
    {
        const char line[] = "NO\0OP";
        const char *arg;
        size_t alen;

        check_long(
            "split NUL", "NO\\0OP",
            smtpd_cmd_split(line, sizeof(line) - 1, verb, &arg, &alen, reply),
            -1);
    }
    buf_free(verb);
    buf_free(reply);
    assert_int_equal(failures, 0);
}

static void test_xtext(void **state)
{
    static const struct {
        const char *in;
        int ret;
        const char *out;
    } cases[] = {
        {"abc", 0, "abc"}, {"a+2Bb", 0, "a+b"},
        {"+3D", 0, "="},   {"a+2b", -1, ""}, /* lower-case hex */
        {"a+2", -1, ""},                     /* truncated */
        {"a+", -1, ""},    {"a=b", -1, ""},  /* '=' must be encoded */
        {"a b", -1, ""},   {"+00", -1, ""},  /* NUL */
        {"", 0, ""},
    };
    struct buf *out = buf_new(8);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        int ret;

        buf_reset(out);
        ret = smtpd_xtext_decode(out, cases[i].in, strlen(cases[i].in));
        check_long("xtext", cases[i].in, ret, cases[i].ret);
        if (ret == 0)
            check_str("xtext", cases[i].in, buf_str(out), cases[i].out);
    }
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_mail(void **state)
{
    static const struct {
        const char *arg;
        const char *reply; /* "" = accepted */
        const char *addr;
        long size;
        int body;
        int utf8;
        int ret;
        const char *envid;
    } cases[] = {
        {"FROM:<a@example.com>", "", "a@example.com", -1, 0, 0, 0, ""},
        {"from:<>", "", "", -1, 0, 0, 0, ""},
        {"FROM: <a@example.com>", "", "a@example.com", -1, 0, 0, 0, ""},
        {"FROM:a@example.com", "", "a@example.com", -1, 0, 0, 0, ""},
        {"FROM:<a@example.com> SIZE=1000 BODY=8BITMIME", "", "a@example.com",
         1000, SMTPD_BODY_8BITMIME, 0, 0, ""},
        {"FROM:<a@example.com> body=7bit smtputf8", "", "a@example.com", -1,
         SMTPD_BODY_7BIT, 1, 0, ""},
        {"FROM:<a@example.com> RET=HDRS ENVID=QQ+2B1", "", "a@example.com", -1,
         0, 0, REC_DSN_RET_HDRS, "QQ+1"},
        {"FROM:<a@example.com> RET=FULL", "", "a@example.com", -1, 0, 0,
         REC_DSN_RET_FULL, ""},
        {"FROM:<\"john doe\"@example.com>", "", "john doe@example.com", -1, 0,
         0, 0, ""},
        {"", "501 5.5.4 Syntax: MAIL FROM:<address>", "", -1, 0, 0, 0, ""},
        {"TO:<a@b>", "501 5.5.4 Syntax: MAIL FROM:<address>", "", -1, 0, 0, 0,
         ""},
        {"FROM:", "501 5.5.4 Syntax: MAIL FROM:<address>", "", -1, 0, 0, 0, ""},
        {"FROM:<a@example.com", "501 5.1.7 Bad sender address syntax", "", -1,
         0, 0, 0, ""},
        {"FROM:<a@b> SIZE=abc", "501 5.5.4 Bad message size syntax", "", -1, 0,
         0, 0, ""},
        {"FROM:<a@b> SIZE=", "501 5.5.4 Bad ESMTP parameter syntax", "", -1, 0,
         0, 0, ""},
        {"FROM:<a@b> SIZE=10240001",
         "552 5.3.4 Message size exceeds fixed limit", "", -1, 0, 0, 0, ""},
        {"FROM:<a@b> SIZE=99999999999999999999999",
         "552 5.3.4 Message size exceeds fixed limit", "", -1, 0, 0, 0, ""},
        {"FROM:<a@b> BODY=BINARYMIME",
         "555 5.5.4 Unsupported option: BODY=BINARYMIME", "", -1, 0, 0, 0, ""},
        {"FROM:<a@b> RET=NONE", "501 5.5.4 Bad RET parameter syntax", "", -1, 0,
         0, 0, ""},
        {"FROM:<a@b> RET=FULL RET=HDRS", "501 5.5.4 Bad RET parameter syntax",
         "", -1, 0, 0, 0, ""},
        {"FROM:<a@b> ENVID=a+zz", "501 5.5.4 Bad ENVID parameter syntax", "",
         -1, 0, 0, 0, ""},
        {"FROM:<a@b> SMTPUTF8=yes",
         "555 5.5.4 Unsupported option: SMTPUTF8=yes", "", -1, 0, 0, 0, ""},
        {"FROM:<a@b> XFOO=1", "555 5.5.4 Unsupported option: XFOO=1", "", -1, 0,
         0, 0, ""},
        {"FROM:<a@b> AUTH=<>", "555 5.5.4 Unsupported option: AUTH=<>", "", -1,
         0, 0, 0, ""},
    };
    struct smtpd_mail m;
    struct buf *reply = buf_new(8);
    size_t i;

    (void) state;
    failures = 0;
    smtpd_mail_init(&m);
    for (i = 0; i < NCASES(cases); i++) {
        int ret;

        buf_reset(reply);
        ret = smtpd_cmd_mail(cases[i].arg, strlen(cases[i].arg), &default_opts,
                             &m, reply);
        if (cases[i].reply[0]) {
            check_long("mail", cases[i].arg, ret, -1);
            check_str("mail reply", cases[i].arg, buf_str(reply),
                      cases[i].reply);
            continue;
        }
        check_long("mail", cases[i].arg, ret, 0);
        if (ret != 0) {
            print_error("  reply: %s\n", buf_str(reply));
            continue;
        }
        check_str("mail addr", cases[i].arg, buf_str(m.addr), cases[i].addr);
        check_long("mail size", cases[i].arg, m.size, cases[i].size);
        check_long("mail body", cases[i].arg, m.body, cases[i].body);
        check_long("mail smtputf8", cases[i].arg, m.smtputf8, cases[i].utf8);
        check_long("mail ret", cases[i].arg, m.ret, cases[i].ret);
        check_str("mail envid", cases[i].arg, buf_str(m.envid), cases[i].envid);
    }
    smtpd_mail_free(&m);
    buf_free(reply);
    assert_int_equal(failures, 0);
}

static void test_mail_opts(void **state)
{
    struct smtpd_cmd_opts o = default_opts;
    struct smtpd_mail m;
    struct buf *reply = buf_new(8);
    const char *a;

    (void) state;
    smtpd_mail_init(&m);
    /* DSN discarded: its parameters are unknown. */
    o.dsn = 0;
    a = "FROM:<a@b> RET=FULL";
    assert_int_equal(smtpd_cmd_mail(a, strlen(a), &o, &m, reply), -1);
    assert_string_equal(buf_str(reply),
                        "555 5.5.4 Unsupported option: RET=FULL");
    /* SMTPUTF8 off. */
    o = default_opts;
    o.smtputf8 = 0;
    a = "FROM:<a@b> SMTPUTF8";
    assert_int_equal(smtpd_cmd_mail(a, strlen(a), &o, &m, reply), -1);
    assert_string_equal(buf_str(reply),
                        "555 5.5.4 Unsupported option: SMTPUTF8");
    /* No size limit. */
    o = default_opts;
    o.size_limit = 0;
    a = "FROM:<a@b> SIZE=99999999999";
    assert_int_equal(smtpd_cmd_mail(a, strlen(a), &o, &m, reply), 0);
    assert_int_equal(m.size, 99999999999L);
    /* Strict RFC 821: <> required, no space after the colon. */
    o = default_opts;
    o.strict_rfc821 = 1;
    a = "FROM:a@b.example";
    assert_int_equal(smtpd_cmd_mail(a, strlen(a), &o, &m, reply), -1);
    assert_string_equal(buf_str(reply), "501 5.1.7 Bad sender address syntax");
    a = "FROM: <a@b.example>";
    assert_int_equal(smtpd_cmd_mail(a, strlen(a), &o, &m, reply), -1);
    a = "FROM:<a@b.example>";
    assert_int_equal(smtpd_cmd_mail(a, strlen(a), &o, &m, reply), 0);
    /* AUTH= when AUTH is offered: xtext-decoded. */
    o = default_opts;
    o.auth = 1;
    a = "FROM:<a@b> AUTH=user+2Bx@example.com";
    assert_int_equal(smtpd_cmd_mail(a, strlen(a), &o, &m, reply), 0);
    assert_string_equal(buf_str(m.auth), "user+x@example.com");
    a = "FROM:<a@b> AUTH=bad+zz";
    assert_int_equal(smtpd_cmd_mail(a, strlen(a), &o, &m, reply), -1);
    assert_string_equal(buf_str(reply), "501 5.5.4 Bad AUTH parameter syntax");
    /* A NUL byte in the address. */
    {
        const char nul[] = "FROM:<a\0b@c>";

        assert_int_equal(
            smtpd_cmd_mail(nul, sizeof(nul) - 1, &default_opts, &m, reply), -1);
        assert_string_equal(buf_str(reply),
                            "501 5.1.7 Bad sender address syntax");
    }
    smtpd_mail_free(&m);
    buf_free(reply);
}

static void test_rcpt(void **state)
{
    static const struct {
        const char *arg;
        const char *reply;
        const char *addr;
        int notify;
        const char *orcpt;
    } cases[] = {
        {"TO:<r@example.com>", "", "r@example.com", 0, ""},
        {"to: <r@example.com>", "", "r@example.com", 0, ""},
        {"TO:<postmaster>", "", "postmaster", 0, ""},
        {"TO:<r@example.com> NOTIFY=NEVER", "", "r@example.com",
         REC_NOTIFY_NEVER, ""},
        {"TO:<r@example.com> NOTIFY=SUCCESS,FAILURE,DELAY", "", "r@example.com",
         REC_NOTIFY_SUCCESS | REC_NOTIFY_FAILURE | REC_NOTIFY_DELAY, ""},
        {"TO:<r@example.com> ORCPT=rfc822;x+2By@example.com", "",
         "r@example.com", 0, "rfc822;x+y@example.com"},
        {"TO:<>", "501 5.1.3 Bad recipient address syntax", "", 0, ""},
        {"TO:", "501 5.5.4 Syntax: RCPT TO:<address>", "", 0, ""},
        {"FROM:<a@b>", "501 5.5.4 Syntax: RCPT TO:<address>", "", 0, ""},
        {"TO:<r@example.com> NOTIFY=NEVER,SUCCESS",
         "501 5.5.4 Error: Bad NOTIFY parameter syntax", "", 0, ""},
        {"TO:<r@example.com> NOTIFY=SOMETIMES",
         "501 5.5.4 Error: Bad NOTIFY parameter syntax", "", 0, ""},
        {"TO:<r@example.com> NOTIFY=SUCCESS,",
         "501 5.5.4 Error: Bad NOTIFY parameter syntax", "", 0, ""},
        {"TO:<r@example.com> NOTIFY=SUCCESS NOTIFY=DELAY",
         "501 5.5.4 Error: Bad NOTIFY parameter syntax", "", 0, ""},
        {"TO:<r@example.com> ORCPT=rfc822",
         "501 5.5.4 Error: Bad ORCPT parameter syntax", "", 0, ""},
        {"TO:<r@example.com> ORCPT=;x@y",
         "501 5.5.4 Error: Bad ORCPT parameter syntax", "", 0, ""},
        {"TO:<r@example.com> ORCPT=rfc822;x+zz",
         "501 5.5.4 Error: Bad ORCPT parameter syntax", "", 0, ""},
        {"TO:<r@example.com> SIZE=10", "555 5.5.4 Unsupported option: SIZE=10",
         "", 0, ""},
    };
    struct smtpd_rcpt r;
    struct buf *reply = buf_new(8);
    size_t i;

    (void) state;
    failures = 0;
    smtpd_rcpt_init(&r);
    for (i = 0; i < NCASES(cases); i++) {
        int ret;

        buf_reset(reply);
        ret = smtpd_cmd_rcpt(cases[i].arg, strlen(cases[i].arg), &default_opts,
                             &r, reply);
        if (cases[i].reply[0]) {
            check_long("rcpt", cases[i].arg, ret, -1);
            check_str("rcpt reply", cases[i].arg, buf_str(reply),
                      cases[i].reply);
            continue;
        }
        check_long("rcpt", cases[i].arg, ret, 0);
        if (ret != 0) {
            print_error("  reply: %s\n", buf_str(reply));
            continue;
        }
        check_str("rcpt addr", cases[i].arg, buf_str(r.addr), cases[i].addr);
        check_long("rcpt notify", cases[i].arg, r.notify, cases[i].notify);
        check_str("rcpt orcpt", cases[i].arg, buf_str(r.orcpt), cases[i].orcpt);
    }
    smtpd_rcpt_free(&r);
    buf_free(reply);
    assert_int_equal(failures, 0);
}

static void test_bdat(void **state)
{
    static const struct {
        const char *arg;
        int ret;
        long long size;
        int last;
    } cases[] = {
        {"100", 0, 100, 0},    {"0 LAST", 0, 0, 1},
        {"42 last", 0, 42, 1}, {"", -1, 0, 0},
        {"x", -1, 0, 0},       {"10 FIRST", -1, 0, 0},
        {"-1", -1, 0, 0},      {"99999999999999999999999", -1, 0, 0},
    };
    struct buf *reply = buf_new(8);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(cases); i++) {
        long long size = -7;
        int last = -7;
        int ret;

        ret = smtpd_cmd_bdat(cases[i].arg, strlen(cases[i].arg), &size, &last,
                             reply);
        check_long("bdat", cases[i].arg, ret, cases[i].ret);
        if (ret == 0) {
            check_long("bdat size", cases[i].arg, size, cases[i].size);
            check_long("bdat last", cases[i].arg, last, cases[i].last);
        } else {
            check_str("bdat reply", cases[i].arg, buf_str(reply),
                      "521 5.5.4 Syntax: BDAT count [LAST]");
        }
    }
    buf_free(reply);
    assert_int_equal(failures, 0);
}

static void test_domain(void **state)
{
    (void) state;
    assert_true(smtpd_cmd_domain_ok("example.com", 11));
    assert_true(smtpd_cmd_domain_ok("[192.0.2.1]", 11));
    assert_false(smtpd_cmd_domain_ok("", 0));
    assert_false(smtpd_cmd_domain_ok("a b", 3));
    assert_false(smtpd_cmd_domain_ok("a<b", 3));
    assert_false(smtpd_cmd_domain_ok("a\nb", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),  cmocka_unit_test(test_xtext),
        cmocka_unit_test(test_mail),   cmocka_unit_test(test_mail_opts),
        cmocka_unit_test(test_rcpt),   cmocka_unit_test(test_bdat),
        cmocka_unit_test(test_domain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
