/*
 * test_smtp_reply.c - unit tests for the smtp client's reply parser and
 * EHLO keywords (smtp/smtp_reply.c), nexthop parsing (smtp/smtp_addr.c),
 * the envelope helpers (xtext, address quoting) and the SASL mechanism
 * choice and CRAM-MD5 response (smtp/smtp_sasl.c). The program's files
 * are compiled in here (they are not in libpostern). Table-driven: a
 * failing case prints "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../smtp/smtp_addr.c"
#include "../../smtp/smtp_reply.c"
#include "../../smtp/smtp_generic.c"
#include "../../smtp/smtp_mime.c"
#include "../../smtp/smtp_proto.c"
#include "../../smtp/smtp_sasl.c"
#include "../../smtp/smtp_tls.c"

#include "config.h"
#include "dns.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static int failures;

static void check_str(const char *what, const char *input, const char *got,
                      const char *want)
{
    if (strcmp(got ? got : "(null)", want ? want : "(null)") != 0) {
        print_error("%s(\"%s\"): got \"%s\", want \"%s\"\n", what, input,
                    got ? got : "(null)", want ? want : "(null)");
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

/* Load the parameters once (a reload would leak the old strings). */
static void setup_params(void)
{
    static int done;

    if (done)
        return;
    done = 1;
    config_clear();
    config_set("myhostname", "client.example", NULL, 0);
    config_set("mydomain", "example", NULL, 0);
    params_load();
}

static void test_reply_read(void **state)
{
    static const struct {
        const char *in;
        int ret;
        int code;
        const char *dsn;
        const char *text;
        size_t lines;
    } cases[] = {
        {"250 2.0.0 Ok: queued as ABC\r\n", 0, 250, "2.0.0",
         "250 2.0.0 Ok: queued as ABC", 1},
        {"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", 0, 250,
         "2.0.0", "250-mx.example 250-PIPELINING 250 SIZE 1000", 3},
        {"550-5.1.1 first\r\n550 5.1.1 second\r\n", 0, 550, "5.1.1",
         "550-5.1.1 first 550 5.1.1 second", 2},
        /* a status of the wrong class is not the reply's */
        {"450 5.1.1 mixed\r\n", 0, 450, "4.0.0", "450 5.1.1 mixed", 1},
        {"421\r\n", 0, 421, "4.0.0", "421", 1},
        {"354 go ahead\n", 0, 354, "3.0.0", "354 go ahead", 1},
        /* malformed: code 0, the text kept for the log */
        {"hello\r\n", 0, 0, "", "hello", 0},
        {"250-a\r\n251 b\r\n", 0, 0, "", "250-a 251 b", 1},
        {"999 no\r\n", 0, 0, "", "999 no", 0},
        {"250x\r\n", 0, 0, "", "250x", 0},
        /* control bytes are made printable */
        {"550 bad\x01\xff text\r\n", 0, 550, "5.0.0", "550 bad?? text", 1},
        /* the input ends inside a reply */
        {"250-more\r\n", -1, 250, "", "250-more", 1},
        {"", -1, 0, "", "", 0},
    };

    (void) state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        struct stream *s =
            stream_open_mem(cases[i].in, strlen(cases[i].in), NULL);
        struct smtp_reply r;

        smtp_reply_init(&r);
        check_int("smtp_reply_read ret", cases[i].in, smtp_reply_read(s, &r),
                  cases[i].ret);
        check_int("code", cases[i].in, r.code, cases[i].code);
        check_str("dsn", cases[i].in, r.dsn, cases[i].dsn);
        check_str("text", cases[i].in, buf_str(r.text), cases[i].text);
        check_int("lines", cases[i].in, (long) r.lines->argc,
                  (long) cases[i].lines);
        smtp_reply_free(&r);
        stream_free(s);
    }
    assert_int_equal(failures, 0);
}

static void test_reply_limits(void **state)
{
    struct buf *in = buf_new(1024);
    struct stream *s;
    struct smtp_reply r;

    (void) state;
    /* a huge line is cut, and many lines are bounded */
    buf_puts(in, "250-");
    for (int i = 0; i < 10000; i++)
        buf_putc(in, 'x');
    buf_puts(in, "\r\n");
    for (int i = 0; i < 500; i++)
        buf_puts(in, "250-line\r\n");
    buf_puts(in, "250 end\r\n");
    s = stream_open_mem(buf_str(in), buf_len(in), NULL);
    smtp_reply_init(&r);
    assert_int_equal(smtp_reply_read(s, &r), 0);
    assert_int_equal(r.code, 250);
    assert_int_equal(r.lines->argc, SMTP_REPLY_LINES_MAX);
    assert_true(buf_len(r.text)
                < SMTP_REPLY_LINES_MAX * (SMTP_REPLY_LINE_MAX + 2));
    smtp_reply_free(&r);
    stream_free(s);
    buf_free(in);
}

static void test_features(void **state)
{
    const char *in = "250-mx.example Hello\r\n250-PIPELINING\r\n"
                     "250-SIZE 10240000\r\n250-8BITMIME\r\n250-DSN\r\n"
                     "250-SMTPUTF8\r\n250-STARTTLS\r\n"
                     "250-AUTH=PLAIN LOGIN\r\n250-AUTH login cram-md5\r\n"
                     "250 ENHANCEDSTATUSCODES\r\n";
    struct stream *s = stream_open_mem(in, strlen(in), NULL);
    struct smtp_reply r;
    struct smtp_features f;

    (void) state;
    smtp_reply_init(&r);
    smtp_features_init(&f);
    assert_int_equal(smtp_reply_read(s, &r), 0);
    smtp_features_parse(&f, &r, "");
    assert_true(f.pipelining && f.size && f.eightbitmime && f.dsn && f.smtputf8
                && f.starttls && f.auth);
    assert_int_equal(f.size_limit, 10240000);
    check_str("auth mechs", in, buf_str(f.auth_mechs), "PLAIN LOGIN CRAM-MD5");
    /* smtp_discard_ehlo_keywords */
    smtp_features_parse(&f, &r, "pipelining, starttls");
    assert_false(f.pipelining);
    assert_false(f.starttls);
    assert_true(f.dsn);
    smtp_features_free(&f);
    smtp_reply_free(&r);
    stream_free(s);
    assert_int_equal(failures, 0);
}

static void test_dest_parse(void **state)
{
    static const struct {
        const char *in;
        int ret;
        const char *host;
        unsigned port;
        int mx;
        int literal;
    } cases[] = {
        {"example.com", 0, "example.com", 0, 1, 0},
        {"example.com:2525", 0, "example.com", 2525, 1, 0},
        {"[mail.isp.example]", 0, "mail.isp.example", 0, 0, 0},
        {"[mail.isp.example]:587", 0, "mail.isp.example", 587, 0, 0},
        {"[mail.isp.example]:submission", 0, "mail.isp.example", 587, 0, 0},
        {"[192.0.2.1]:25", 0, "192.0.2.1", 25, 0, 1},
        {"192.0.2.1", 0, "192.0.2.1", 0, 0, 1},
        {"[ipv6:2001:db8::1]:25", 0, "2001:db8::1", 25, 0, 1},
        {"[2001:db8::1]", 0, "2001:db8::1", 0, 0, 1},
        {"2001:db8::1", 0, "2001:db8::1", 0, 0, 1},
        {"[host", -1, NULL, 0, 0, 0},
        {"[host]x", -1, NULL, 0, 0, 0},
        {"[]:25", -1, NULL, 0, 0, 0},
        {"host:nosuchservice", -1, NULL, 0, 0, 0},
        {"host:0", -1, NULL, 0, 0, 0},
        {"host:70000", -1, NULL, 0, 0, 0},
        {"bad host", -1, NULL, 0, 0, 0},
        {":25", -1, NULL, 0, 0, 0},
    };
    struct buf *err = buf_new(64);

    (void) state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        struct smtp_dest d;
        int ret = smtp_dest_parse(cases[i].in, &d, err);

        check_int("smtp_dest_parse", cases[i].in, ret, cases[i].ret);
        if (ret == 0 && cases[i].ret == 0) {
            check_str("host", cases[i].in, d.host, cases[i].host);
            check_int("port", cases[i].in, d.port, cases[i].port);
            check_int("mx", cases[i].in, d.mx, cases[i].mx);
            check_int("literal", cases[i].in, d.literal, cases[i].literal);
            check_str("text", cases[i].in, d.text, cases[i].in);
        }
        if (ret == 0)
            smtp_dest_free(&d);
        else
            assert_true(buf_len(err) > 0);
    }
    check_int("port smtps", "smtps", smtp_port_lookup("smtps"), 465);
    check_int("port 2525", "2525", smtp_port_lookup("2525"), 2525);
    check_int("port empty", "", smtp_port_lookup(""), -1);
    buf_free(err);
    assert_int_equal(failures, 0);
}

/* Literal nexthops need no DNS: the target list and the limit. */
static void test_targets_literal(void **state)
{
    struct smtp_targets t;

    (void) state;
    setup_params();
    smtp_targets_find(&t, "[127.0.0.1]:2525, [ipv6:::1]:26");
    assert_int_equal(t.n, 2);
    check_str("host", "0", t.v[0].host, "127.0.0.1");
    check_int("port", "0", t.v[0].port, 2525);
    check_str("addr", "1", t.v[1].addr_text, "::1");
    check_int("port", "1", t.v[1].port, 26);
    check_str("dest", "1", t.v[1].dest, "[ipv6:::1]:26");
    smtp_targets_free(&t);
    /* a bad nexthop: no target, a temporary reason */
    smtp_targets_find(&t, "[broken");
    assert_int_equal(t.n, 0);
    assert_false(t.hard);
    check_str("dsn", "broken", t.dsn, "4.3.5");
    smtp_targets_free(&t);
    /* the same server twice is tried once */
    smtp_targets_find(&t, "[127.0.0.1]:25 [127.0.0.1]:25");
    assert_int_equal(t.n, 1);
    smtp_targets_free(&t);
    assert_int_equal(failures, 0);
}

static void test_dns_parse(void **state)
{
    /* a reply with one MX (pref 10, mx.example) and one A (192.0.2.7) */
    static const unsigned char ans[] = {
        0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
        /* question: example. MX IN */
        7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 15, 0, 1,
        /* answer 1: ptr to example., MX, IN, ttl, rdlen 7 */
        0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 7, 0, 10, 2, 'm', 'x', 0xc0, 12,
        /* answer 2: A 192.0.2.7 */
        0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7};
    struct dns_mx *mx = NULL;
    struct dns_addr *addr = NULL;
    size_t nmx = 0, naddr = 0;

    (void) state;
    assert_int_equal(
        dns_parse_answer(ans, sizeof(ans), 15, &mx, &nmx, NULL, NULL), DNS_OK);
    assert_int_equal(nmx, 1);
    assert_int_equal(mx[0].pref, 10);
    check_str("mx", "ans", mx[0].host, "mx.example");
    assert_int_equal(
        dns_parse_answer(ans, sizeof(ans), 1, NULL, NULL, &addr, &naddr),
        DNS_OK);
    assert_int_equal(naddr, 1);
    assert_memory_equal(addr[0].addr, "\xc0\x00\x02\x07", 4);
    assert_int_equal(
        dns_parse_answer(ans, sizeof(ans), 28, NULL, NULL, &addr, &naddr),
        DNS_NODATA);
    /* every truncation is malformed, never a crash */
    for (size_t n = 0; n + 1 < sizeof(ans); n++) {
        enum dns_status st =
            dns_parse_answer(ans, n, 15, &mx, &nmx, NULL, NULL);
        assert_true(st == DNS_TEMP || st == DNS_NODATA || st == DNS_OK);
    }
    dns_mx_free(mx, nmx);
    free(addr);
    assert_int_equal(failures, 0);
}

static void test_envelope_helpers(void **state)
{
    static const struct {
        const char *in;
        const char *xtext;
        const char *quoted;
    } cases[] = {
        {"user@example.com", "user@example.com", "user@example.com"},
        {"a+b=c@x", "a+2Bb+3Dc@x", "a+b=c@x"},
        {"john doe@x", "john+20doe@x", "\"john doe\"@x"},
        {"a..b@x", "a..b@x", "\"a..b\"@x"},
        {"say\"hi@x", "say\"hi@x", "\"say\\\"hi\"@x"},
        {"postmaster", "postmaster", "postmaster"},
    };
    struct buf *out = buf_new(64);

    (void) state;
    setup_params();
    for (size_t i = 0; i < NCASES(cases); i++) {
        buf_reset(out);
        smtp_xtext(out, cases[i].in);
        check_str("smtp_xtext", cases[i].in, buf_str(out), cases[i].xtext);
        buf_reset(out);
        smtp_quote_addr(out, cases[i].in);
        check_str("smtp_quote_addr", cases[i].in, buf_str(out),
                  cases[i].quoted);
    }
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_sasl_choose(void **state)
{
    static const struct {
        const char *offered;
        const char *filter;
        const char *options;
        const char *want;
    } cases[] = {
        {"PLAIN LOGIN", "", "noplaintext, noanonymous", NULL},
        {"PLAIN LOGIN", "", "", "PLAIN"},
        {"PLAIN LOGIN CRAM-MD5", "", "", "CRAM-MD5"},
        {"PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256", "", "noplaintext",
         "SCRAM-SHA-256"},
        {"PLAIN LOGIN CRAM-MD5", "login, plain", "", "LOGIN"},
        {"PLAIN CRAM-MD5", "cram-md5", "nodictionary", NULL},
        {"GSSAPI NTLM", "", "", NULL},
        {"PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256", "", "mutual_auth",
         "SCRAM-SHA-256"},
    };

    (void) state;
    for (size_t i = 0; i < NCASES(cases); i++)
        check_str("smtp_sasl_choose", cases[i].offered,
                  smtp_sasl_choose(cases[i].offered, cases[i].filter,
                                   cases[i].options),
                  cases[i].want);
    assert_int_equal(failures, 0);
}

static void test_cram_md5(void **state)
{
    /* RFC 2195's example */
    const char *ch = "<1896.697170952@postoffice.reston.mci.net>";
    struct buf *out = buf_new(64);

    (void) state;
    smtp_sasl_cram_md5(out, "tim", "tanstaaftanstaaf", ch, strlen(ch));
    check_str("cram-md5", ch, buf_str(out),
              "tim b913a602c7eda7a495b4e6e7334d3890");
    buf_free(out);
    assert_int_equal(failures, 0);
}

static void test_generic(void **state)
{
    static const struct {
        const char *in;
        int ret;
        const char *want;
    } addrs[] = {
        {"alice@client.example", 1, "alice@public.example"},
        {"bob@client.example", 1, "nobody@public.example"},
        {"carol@elsewhere.example", 0, ""},
        {"", 0, ""},
    };
    static const struct {
        const char *in;
        const char *want;
    } headers[] = {
        {"From: Alice <alice@client.example>",
         "From: Alice <alice@public.example>"},
        {"Cc: x@elsewhere.example,\n bob@client.example (Bob)",
         "Cc: x@elsewhere.example,\n nobody@public.example (Bob)"},
        {"To: undisclosed-recipients:;", "To: undisclosed-recipients:;"},
    };
    struct buf *out = buf_new(64), *err = buf_new(64), *h = buf_new(64);
    const char *saved;

    (void) state;
    setup_params();
    saved = var_smtp_generic_maps;
    var_smtp_generic_maps = "inline:{ {alice@client.example = "
                            "alice@public.example}, "
                            "{@client.example = nobody@public.example} }";
    smtp_generic_setup();
    assert_true(smtp_generic_enabled());
    for (size_t i = 0; i < NCASES(addrs); i++) {
        buf_reset(out);
        check_int("smtp_generic_addr", addrs[i].in,
                  smtp_generic_addr(addrs[i].in, out, err), addrs[i].ret);
        if (addrs[i].ret)
            check_str("smtp_generic_addr", addrs[i].in, buf_str(out),
                      addrs[i].want);
    }
    for (size_t i = 0; i < NCASES(headers); i++) {
        buf_set(h, headers[i].in);
        assert_true(smtp_generic_header(h, err) >= 0);
        check_str("smtp_generic_header", headers[i].in, buf_str(h),
                  headers[i].want);
    }
    maps_free(smtp_generic);
    smtp_generic = NULL;
    var_smtp_generic_maps = saved; /* the loaded string, freed with it */
    buf_free(out);
    buf_free(err);
    buf_free(h);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_read),
        cmocka_unit_test(test_reply_limits),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_dest_parse),
        cmocka_unit_test(test_targets_literal),
        cmocka_unit_test(test_dns_parse),
        cmocka_unit_test(test_envelope_helpers),
        cmocka_unit_test(test_sasl_choose),
        cmocka_unit_test(test_cram_md5),
        cmocka_unit_test(test_generic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
