/*
 * test_smtp_mime.c - unit tests for the smtp client's 8-bit to 7-bit MIME
 * conversion (smtp/smtp_mime.c) as it goes on the wire through
 * smtp_proto.c's writer (dot-stuffing, CR LF). The program's files are
 * compiled in here. Each message is converted with whole lines and again
 * fed in small pieces (queue-file PIECE records): both must give exactly
 * the wanted output. A failing case prints "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../smtp/smtp_addr.c"
#include "../../smtp/smtp_generic.c"
#include "../../smtp/smtp_mime.c"
#include "../../smtp/smtp_proto.c"
#include "../../smtp/smtp_reply.c"
#include "../../smtp/smtp_sasl.c"
#include "../../smtp/smtp_tls.c"

#include "config.h"

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

/* Feed IN (LF line ends) in pieces of PIECE bytes (0: whole lines). */
static int feed(struct smtp_mime *m, const char *in, size_t piece)
{
    const char *p = in, *end = in + strlen(in);
    int rc;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);

        do {
            size_t n = piece && len > piece ? piece : len;
            int last = n == len;

            if ((rc = smtp_mime_feed(m, p, n, last && nl != NULL)) < 0)
                return rc;
            p += n;
            len -= n;
        } while (len > 0);
        if (nl)
            p++;
    }
    return smtp_mime_finish(m);
}

/*
 * Scan then convert IN as the DATA writer would send it; the wire text
 * with CR LF shown as LF (a bare LF on the wire fails the test). *EIGHT
 * gets the scan's verdict.
 */
static char *convert(const char *in, size_t piece, int *eight)
{
    struct buf *wire = buf_new(256), *err = buf_new(16), *txt = buf_new(256);
    struct smtp_session ss;
    struct smtp_mime_sink sink;
    struct smtp_mime_out out = {smtp_mime_sink_header, smtp_mime_sink_text,
                                &sink};
    struct smtp_mime *m = smtp_mime_new(NULL);

    memset(&ss, 0, sizeof(ss));
    ss.s = stream_open_mem("", 0, wire);
    sink.ss = &ss;
    sink.err = err;
    sink.col = 0;
    assert_int_equal(feed(m, in, piece), 0);
    *eight = smtp_mime_eight(m);
    smtp_mime_rewind(m, &out);
    assert_int_equal(feed(m, in, piece), 0);
    assert_int_equal(stream_flush(ss.s), 0);
    for (size_t i = 0; i < buf_len(wire); i++) {
        if (buf_str(wire)[i] == '\r' && i + 1 < buf_len(wire)
            && buf_str(wire)[i + 1] == '\n')
            continue;
        if (buf_str(wire)[i] == '\n')
            assert_true(i > 0 && buf_str(wire)[i - 1] == '\r');
        buf_putc(txt, buf_str(wire)[i]);
    }
    stream_free(ss.s);
    smtp_mime_free(m);
    buf_free(wire);
    buf_free(err);
    return buf_steal(txt);
}

struct mime_case {
    const char *name;
    const char *in;
    int eight; /* what the scan must say */
    const char *want;
};

static const struct mime_case cases[] = {
    {"single part 8bit",
     "From: a@example.com\n"
     "Subject: test\n"
     "MIME-Version: 1.0\n"
     "Content-Type: text/plain; charset=utf-8\n"
     "Content-Transfer-Encoding: 8bit\n"
     "\n"
     "caf\xc3\xa9 = ok \n"
     "tab\t\n"
     ".\n"
     ".dot\n"
     "From here\n"
     "\n"
     "end\n",
     1,
     "From: a@example.com\n"
     "Subject: test\n"
     "MIME-Version: 1.0\n"
     "Content-Type: text/plain; charset=utf-8\n"
     "Content-Transfer-Encoding: quoted-printable\n"
     "\n"
     "caf=C3=A9 =3D ok=20\n"
     "tab=09\n"
     "..\n"
     "..dot\n"
     "From here\n"
     "\n"
     "end\n"},
    {"multipart: 8bit part and base64 part",
     "MIME-Version: 1.0\n"
     "Content-Type: multipart/mixed; boundary=\"=_XX\"\n"
     "\n"
     "preamble\n"
     "--=_XX\n"
     "Content-Type: text/plain; charset=utf-8\n"
     "Content-Transfer-Encoding: 8BIT\n"
     "\n"
     "h\xc3\xa9\n"
     "--=_XX\n"
     "Content-Type: application/octet-stream\n"
     "Content-Transfer-Encoding: base64\n"
     "\n"
     "AAEC\n"
     "--=_XX--\n"
     "epilogue\n",
     1,
     "MIME-Version: 1.0\n"
     "Content-Type: multipart/mixed; boundary=\"=_XX\"\n"
     "\n"
     "preamble\n"
     "--=_XX\n"
     "Content-Type: text/plain; charset=utf-8\n"
     "Content-Transfer-Encoding: quoted-printable\n"
     "\n"
     "h=C3=A9\n"
     "--=_XX\n"
     "Content-Type: application/octet-stream\n"
     "Content-Transfer-Encoding: base64\n"
     "\n"
     "AAEC\n"
     "--=_XX--\n"
     "epilogue\n"},
    {"nested multipart, 8bit container, part without encoding",
     "Content-Type: multipart/mixed; boundary=outer\n"
     "Content-Transfer-Encoding: 8bit\n"
     "\n"
     "--outer\n"
     "Content-Type: multipart/alternative;\n"
     "\tboundary=\"inner\" (comment)\n"
     "\n"
     "--inner\n"
     "Content-Type: text/plain\n"
     "\n"
     "\xe9t\xe9\n"
     "--inner\n"
     "Content-Type: text/html\n"
     "\n"
     "<p>ascii</p>\n"
     "--inner--\n"
     "--outer\n"
     "no headers \xe9\n"
     "--outer--\n",
     1,
     "Content-Type: multipart/mixed; boundary=outer\n"
     "Content-Transfer-Encoding: 7bit\n"
     "\n"
     "--outer\n"
     "Content-Type: multipart/alternative;\n"
     "\tboundary=\"inner\" (comment)\n"
     "\n"
     "--inner\n"
     "Content-Type: text/plain\n"
     "Content-Transfer-Encoding: quoted-printable\n"
     "\n"
     "=E9t=E9\n"
     "--inner\n"
     "Content-Type: text/html\n"
     "\n"
     "<p>ascii</p>\n"
     "--inner--\n"
     "--outer\n"
     "Content-Transfer-Encoding: quoted-printable\n"
     "\n"
     "no headers =E9\n"
     "--outer--\n"},
    {"message/rfc822",
     "Content-Type: multipart/mixed; boundary=b1\n"
     "\n"
     "--b1\n"
     "Content-Transfer-Encoding: 8bit\n"
     "Content-Type: message/rfc822\n"
     "\n"
     "Subject: inner\n"
     "\n"
     "b\xf6"
     "dy\n"
     "--b1--\n",
     1,
     "Content-Type: multipart/mixed; boundary=b1\n"
     "\n"
     "--b1\n"
     "Content-Type: message/rfc822\n"
     "Content-Transfer-Encoding: 7bit\n"
     "\n"
     "Subject: inner\n"
     "MIME-Version: 1.0\n"
     "Content-Type: text/plain; charset=unknown-8bit\n"
     "Content-Transfer-Encoding: quoted-printable\n"
     "\n"
     "b=F6dy\n"
     "--b1--\n"},
    {"long lines",
     "Content-Transfer-Encoding: 8bit\n"
     "\n"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaa\n"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaab\n"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaa--b\xe9 \n"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaa.x\n",
     1,
     "Content-Transfer-Encoding: quoted-printable\n"
     "\n"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaa\n"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaa=\n"
     "ab\n"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaa=\n"
     "=2D-b=E9=20\n"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaa=\n"
     "..x\n"},
    {"no MIME headers, no final line end",
     "Subject: hi\n"
     "\n"
     "h\xe9llo\n"
     "last \xe9",
     1,
     "Subject: hi\n"
     "MIME-Version: 1.0\n"
     "Content-Type: text/plain; charset=unknown-8bit\n"
     "Content-Transfer-Encoding: quoted-printable\n"
     "\n"
     "h=E9llo\n"
     "last =E9\n"},
    {"7-bit message, 8-bit header",
     "Subject: \xc3\xa9t\xc3\xa9\n"
     "Content-Transfer-Encoding: 7bit\n"
     "\n"
     "plain = text \n",
     0,
     "Subject: \xc3\xa9t\xc3\xa9\n"
     "Content-Transfer-Encoding: 7bit\n"
     "\n"
     "plain = text \n"},
    {"quoted-printable part with 8-bit bytes is left alone",
     "Content-Type: text/plain\n"
     "Content-Transfer-Encoding: quoted-printable\n"
     "\n"
     "bad \xe9\n",
     1,
     "Content-Type: text/plain\n"
     "Content-Transfer-Encoding: quoted-printable\n"
     "\n"
     "bad \xe9\n"},
    {"multipart/digest parts are messages",
     "Content-Type: multipart/digest; boundary=d\n"
     "\n"
     "--d\n"
     "\n"
     "Subject: one\n"
     "\n"
     "\xe9\n"
     "--d--\n",
     1,
     "Content-Type: multipart/digest; boundary=d\n"
     "\n"
     "--d\n"
     "\n"
     "Subject: one\n"
     "MIME-Version: 1.0\n"
     "Content-Type: text/plain; charset=unknown-8bit\n"
     "Content-Transfer-Encoding: quoted-printable\n"
     "\n"
     "=E9\n"
     "--d--\n"},
};

static void test_convert(void **state)
{
    static const size_t pieces[] = {0, 1, 2, 5, 64};
    int failures = 0;

    (void) state;
    setup_params();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t j = 0; j < sizeof(pieces) / sizeof(pieces[0]); j++) {
            int eight = -1;
            char *got = convert(cases[i].in, pieces[j], &eight);

            if (strcmp(got, cases[i].want) != 0) {
                print_error("%s (pieces of %zu): got\n%s\nwant\n%s\n",
                            cases[i].name, pieces[j], got, cases[i].want);
                failures++;
            }
            if (eight != cases[i].eight) {
                print_error("%s: scan got eight=%d, want %d\n", cases[i].name,
                            eight, cases[i].eight);
                failures++;
            }
            mem_free(got);
        }
    }
    assert_int_equal(failures, 0);
}

/*
 * Beyond mime_nesting_limit a container goes out as it is, and the scan
 * reports it.
 */
static void test_nesting_limit(void **state)
{
    static const char in[] = "Content-Type: multipart/mixed; boundary=a\n"
                             "\n"
                             "--a\n"
                             "Content-Type: multipart/mixed; boundary=b\n"
                             "Content-Transfer-Encoding: 8bit\n"
                             "\n"
                             "--b\n"
                             "\n"
                             "\xe9\n"
                             "--b--\n"
                             "--a--\n";
    int saved = var_mime_nesting_limit, eight;
    char *got;

    (void) state;
    setup_params();
    struct smtp_mime *m;

    var_mime_nesting_limit = 1;
    got = convert(in, 0, &eight);
    /* the scan tells: smtp_proto.c then bounces rather than convert */
    m = smtp_mime_new(NULL);
    assert_int_equal(feed(m, in, 0), 0);
    assert_int_equal(smtp_mime_too_deep(m), 1);
    smtp_mime_free(m);
    var_mime_nesting_limit = saved;
    m = smtp_mime_new(NULL);
    assert_int_equal(feed(m, in, 0), 0);
    assert_int_equal(smtp_mime_too_deep(m), 0);
    smtp_mime_free(m);
    assert_string_equal(got, in);
    mem_free(got);
    got = convert(in, 0, &eight);
    assert_non_null(strstr(got, "\n--b\nContent-Transfer-Encoding: "
                                "quoted-printable\n\n=E9\n"));
    assert_non_null(strstr(got, "boundary=b\nContent-Transfer-Encoding: "
                                "7bit\n"));
    mem_free(got);
}

/* Long boundaries are compared on mime_boundary_length_limit bytes. */
static void test_boundary_limit(void **state)
{
    static const char in[] = "Content-Type: multipart/mixed; "
                             "boundary=abcdefXYZ\n"
                             "\n"
                             "--abcdefQQQ\n"
                             "\n"
                             "\xe9\n";
    long saved = var_mime_boundary_length_limit;
    int eight;
    char *got;

    (void) state;
    setup_params();
    var_mime_boundary_length_limit = 6;
    got = convert(in, 0, &eight);
    var_mime_boundary_length_limit = saved;
    assert_non_null(strstr(got, "--abcdefQQQ\nContent-Transfer-Encoding: "
                                "quoted-printable\n\n=E9\n"));
    mem_free(got);
    got = convert(in, 0, &eight);
    /* with the full boundary the line is preamble: left as it is */
    assert_string_equal(got, in);
    mem_free(got);
}

/* A header too long to hold goes out unparsed but whole. */
static void test_long_header(void **state)
{
    struct buf *in = buf_new(80000), *want = buf_new(80000);
    long saved = var_smtp_line_length_limit;
    size_t pieces[] = {0, 4096};
    int eight;

    (void) state;
    setup_params();
    buf_puts(in, "X-Long: ");
    for (int i = 0; i < 70000; i++)
        buf_putc(in, 'a' + i % 26);
    buf_puts(in, "\n\tmore\n");
    buf_set(want, buf_str(in));
    buf_puts(in, "Content-Transfer-Encoding: binary\n\n\xe9\n");
    buf_puts(want, "Content-Transfer-Encoding: quoted-printable\n\n=E9\n");
    var_smtp_line_length_limit = 0;
    for (size_t j = 0; j < 2; j++) {
        char *got = convert(buf_str(in), pieces[j], &eight);

        assert_int_equal(eight, 1);
        assert_string_equal(got, buf_str(want));
        mem_free(got);
    }
    var_smtp_line_length_limit = saved;
    buf_free(in);
    buf_free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_boundary_limit),
        cmocka_unit_test(test_long_header),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
