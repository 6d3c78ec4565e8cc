/*
 * test_record.c - unit tests for lib/record.c (the queue file record
 * format).
 *
 * Table-driven: every case prints "got X, want Y" when it fails and the
 * test fails at the end, so one run shows every broken case. Covers a
 * round trip of every record type, the codecs of the structured records,
 * every malformed input the reader must refuse (with its reason), the
 * writer's sticky errors (ENOSPC) and seeking over a descriptor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "record.h"
#include "stream.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static int failures;

/* Each test counts its own failures. */
static int reset(void **state)
{
    (void) state;
    failures = 0;
    return 0;
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    print_error("%s\n", text);
    failures++;
}

static void check_int(const char *what, long long got, long long want)
{
    if (got != want)
        report("%s: got %lld, want %lld", what, got, want);
}

static void check_mem(const char *what, const char *got, size_t got_len,
                      const char *want, size_t want_len)
{
    if (got_len != want_len || memcmp(got, want, want_len) != 0)
        report("%s: got \"%.*s\" (%zu bytes), want \"%.*s\" (%zu bytes)", what,
               (int) got_len, got, got_len, (int) want_len, want, want_len);
}

static void check_str(const char *what, const char *got, const char *want)
{
    check_mem(what, got, strlen(got), want, strlen(want));
}

/* ---- round trip of every type ------------------------------------------ */

static void test_round_trip(void **state)
{
    struct buf *out = buf_new(0);
    struct buf *rcpt = buf_new(0);
    struct buf *status = buf_new(0);
    struct buf *big = buf_new(0);
    struct rec_status st;
    struct rec_size sz = {123, 4567, 200, 4800, 3};
    unsigned char size_data[REC_SIZE_LEN];
    unsigned char t_data[REC_INT_LEN];
    unsigned char w_data[REC_INT_LEN];
    unsigned char f_data[REC_INT_LEN];
    unsigned char n_data[REC_INT_LEN];
    struct stream *ws;
    struct rec_writer *w;
    struct stream *rs;
    struct rec_reader *r;
    struct buf *data = buf_new(0);
    size_t i;
    int type;

    (void) state;
    for (i = 0; i < 20000; i++)
        buf_putc(big, 'a' + (int) (i % 26));
    rec_rcpt_encode(rcpt, REC_RCPT_PENDING,
                    REC_NOTIFY_SUCCESS | REC_NOTIFY_FAILURE, "u@example.com",
                    "U@Example.COM", "rfc822;U@Example.COM");
    rec_status_init(&st);
    st.action = REC_ACTION_BOUNCED;
    st.notify = REC_NOTIFY_FAILURE;
    st.rcpt_offset = 77;
    st.time_us = 1700000000123456LL;
    buf_set(st.addr, "u@example.com");
    buf_set(st.orig, "U@example.com");
    buf_set(st.dsn, "5.1.1");
    buf_set(st.relay, "mx.example.com[192.0.2.1]:25");
    buf_set(st.reason, "host said: 550 5.1.1 no such user");
    rec_status_encode(status, &st);
    rec_size_encode(size_data, &sz);
    rec_int_encode(t_data, 1700000000123456LL);
    rec_int_encode(w_data, 0);
    rec_int_encode(f_data, REC_FLAG_BOUNCE | REC_FLAG_SMTPUTF8);
    rec_int_encode(n_data, REC_DSN_RET_HDRS);

    /* What is written, and what must come back, in order. */
    const struct {
        int type;
        const char *data;
        size_t len;
    } recs[] = {
        {REC_VERSION, REC_VERSION_TEXT, strlen(REC_VERSION_TEXT)},
        {REC_SIZE, (const char *) size_data, sizeof(size_data)},
        {REC_TIME, (const char *) t_data, sizeof(t_data)},
        {REC_WARN, (const char *) w_data, sizeof(w_data)},
        {REC_FLAGS, (const char *) f_data, sizeof(f_data)},
        {REC_SENDER, "", 0},
        {REC_SENDER, "sender@example.org", 18},
        {REC_RCPT, buf_str(rcpt), buf_len(rcpt)},
        {REC_DSN_RET, (const char *) n_data, sizeof(n_data)},
        {REC_DSN_ENVID, "QQ314159", 8},
        {REC_ATTR, "client_name=mail.example.org", 28},
        {REC_ATTR, "sasl_username=", 14},
        {REC_MESSAGE, "", 0},
        {REC_LINE, "Subject: hello", 14},
        {REC_LINE, "", 0},
        {REC_LINE, "nul\0inside", 10},
        {REC_PIECE, buf_str(big), 127},
        {REC_PIECE, buf_str(big), 128},
        {REC_LINE, buf_str(big), buf_len(big)},
        {REC_XTRACTED, "", 0},
        {REC_STATUS, buf_str(status), buf_len(status)},
        {REC_END, "", 0},
    };
    long long offsets[NCASES(recs)];

    ws = stream_open_mem(NULL, 0, out);
    w = rec_writer_new(ws, 0);
    for (i = 0; i < NCASES(recs); i++) {
        if (rec_put(w, recs[i].type, recs[i].data, recs[i].len) < 0)
            report("rec_put %c: %s", recs[i].type, rec_writer_error(w));
        offsets[i] = rec_writer_last_offset(w);
        check_int("rec_writer_last_data_offset", rec_writer_last_data_offset(w),
                  offsets[i] + 1 + (long long) rec_varint_len(recs[i].len));
    }
    assert_int_equal(rec_writer_flush(w), 0);
    check_int("file size", (long long) buf_len(out), rec_writer_offset(w));
    rec_writer_free(w);
    stream_close(ws);

    rs = stream_open_mem(buf_str(out), buf_len(out), NULL);
    r = rec_reader_new(rs, 0, 0, 0);
    for (i = 0; i < NCASES(recs); i++) {
        char what[64];

        type = rec_get(r, data);
        snprintf(what, sizeof(what), "record %zu type", i);
        check_int(what, type, recs[i].type);
        if (type < 0) {
            report("record %zu: %s", i, rec_reader_error(r));
            break;
        }
        snprintf(what, sizeof(what), "record %zu (%s) data", i,
                 rec_type_name(type));
        check_mem(what, buf_str(data), buf_len(data), recs[i].data,
                  recs[i].len);
        snprintf(what, sizeof(what), "record %zu offset", i);
        check_int(what, rec_reader_offset(r), offsets[i]);
    }
    check_int("after END", rec_get(r, data), 0);
    check_int("after END again", rec_get(r, data), 0);
    check_int("reason", rec_reader_reason(r), REC_OK);
    rec_reader_free(r);
    stream_close(rs);

    rec_status_free(&st);
    buf_free(data);
    buf_free(big);
    buf_free(rcpt);
    buf_free(status);
    buf_free(out);
    assert_int_equal(failures, 0);
}

/* The typed helpers write the same bytes as rec_put of their encodings. */
static void test_typed_writers(void **state)
{
    struct buf *a = buf_new(0);
    struct buf *b = buf_new(0);
    struct buf *tmp = buf_new(0);
    struct rec_size sz = {1, 2, 3, 4, 5};
    unsigned char num[REC_INT_LEN];
    unsigned char sd[REC_SIZE_LEN];
    struct rec_status st;
    struct stream *sa = stream_open_mem(NULL, 0, a);
    struct stream *sb = stream_open_mem(NULL, 0, b);
    struct rec_writer *wa = rec_writer_new(sa, 0);
    struct rec_writer *wb = rec_writer_new(sb, 0);

    (void) state;
    rec_status_init(&st);
    st.action = REC_ACTION_DEFERRED;
    buf_set(st.addr, "x@y");
    buf_set(st.reason, "connection refused");

    rec_put_version(wa);
    rec_put(wb, REC_VERSION, REC_VERSION_TEXT, strlen(REC_VERSION_TEXT));
    rec_put_int(wa, REC_TIME, -5);
    rec_int_encode(num, -5);
    rec_put(wb, REC_TIME, num, sizeof(num));
    rec_put_size(wa, &sz);
    rec_size_encode(sd, &sz);
    rec_put(wb, REC_SIZE, sd, sizeof(sd));
    rec_put_attr(wa, "helo_name", "client.example");
    rec_puts(wb, REC_ATTR, "helo_name=client.example");
    rec_put_rcpt(wa, REC_RCPT_DELIVERED, 0, "a@b", NULL, NULL);
    rec_rcpt_encode(tmp, REC_RCPT_DELIVERED, 0, "a@b", "", "");
    rec_put(wb, REC_RCPT, buf_str(tmp), buf_len(tmp));
    rec_put_status(wa, &st);
    buf_reset(tmp);
    rec_status_encode(tmp, &st);
    rec_put(wb, REC_STATUS, buf_str(tmp), buf_len(tmp));
    rec_writer_flush(wa);
    rec_writer_flush(wb);
    check_mem("typed writers", buf_str(a), buf_len(a), buf_str(b), buf_len(b));

    rec_writer_free(wa);
    rec_writer_free(wb);
    stream_close(sa);
    stream_close(sb);
    rec_status_free(&st);
    buf_free(a);
    buf_free(b);
    buf_free(tmp);
    assert_int_equal(failures, 0);
}

/* ---- codecs ------------------------------------------------------------- */

static void test_int_codec(void **state)
{
    static const long long values[] = {
        0, 1, -1, 255, 256, -256, 1700000000123456LL, LLONG_MAX, LLONG_MIN,
    };
    unsigned char enc[REC_INT_LEN];
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(values); i++) {
        long long got;

        rec_int_encode(enc, values[i]);
        check_int("int round trip", rec_int_decode(enc), values[i]);
        check_int("rec_int_parse", rec_int_parse((char *) enc, 8, &got), 0);
        check_int("rec_int_parse value", got, values[i]);
    }
    rec_int_encode(enc, 0x0102030405060708LL);
    check_int("big-endian first byte", enc[0], 1);
    check_int("big-endian last byte", enc[7], 8);
    check_int("rec_int_parse short", rec_int_parse("1234567", 7, NULL), -1);

    /* varint lengths at the boundaries */
    static const struct {
        size_t len;
        size_t want;
    } vl[] = {{0, 1},       {127, 1},       {128, 2},
              {16383, 2},   {16384, 3},     {2097151, 3},
              {2097152, 4}, {268435455, 4}, {268435456, 5}};
    for (i = 0; i < NCASES(vl); i++)
        check_int("rec_varint_len", (long long) rec_varint_len(vl[i].len),
                  (long long) vl[i].want);
    assert_int_equal(failures, 0);
}

static void test_rcpt_codec(void **state)
{
    static const struct {
        int status;
        int notify;
        const char *addr;
        const char *orig;
        const char *orcpt;
    } cases[] = {
        {REC_RCPT_PENDING, 0, "a@b", "", ""},
        {REC_RCPT_DELIVERED, REC_NOTIFY_NEVER, "user@example.com",
         "alias@example.com", "rfc822;alias@example.com"},
        {REC_RCPT_BOUNCED, REC_NOTIFY_SUCCESS | REC_NOTIFY_DELAY,
         "john doe@example.com", "x", ""},
        {REC_RCPT_DROPPED, REC_NOTIFY_MASK, "root", "root", "utf-8;r\xc3\xa9"},
    };
    struct rec_rcpt r;
    struct buf *enc = buf_new(0);
    size_t i;

    (void) state;
    rec_rcpt_init(&r);
    for (i = 0; i < NCASES(cases); i++) {
        const char *why = "";

        buf_reset(enc);
        rec_rcpt_encode(enc, cases[i].status, cases[i].notify, cases[i].addr,
                        cases[i].orig, cases[i].orcpt);
        check_int("status byte offset 0", buf_str(enc)[0], cases[i].status);
        check_int("rec_check rcpt",
                  rec_check(REC_RCPT, buf_str(enc), buf_len(enc), &why), 0);
        if (rec_rcpt_parse(buf_str(enc), buf_len(enc), &r) < 0) {
            report("rec_rcpt_parse(%s) failed", cases[i].addr);
            continue;
        }
        check_int("status", r.status, cases[i].status);
        check_int("notify", r.notify, cases[i].notify);
        check_str("addr", buf_str(r.addr), cases[i].addr);
        check_str("orig", buf_str(r.orig), cases[i].orig);
        check_str("orcpt", buf_str(r.orcpt), cases[i].orcpt);
    }
    rec_rcpt_free(&r);
    buf_free(enc);
    assert_int_equal(failures, 0);
}

static void test_status_codec(void **state)
{
    struct rec_status in;
    struct rec_status out;
    struct buf *enc = buf_new(0);

    (void) state;
    rec_status_init(&in);
    rec_status_init(&out);
    in.action = REC_ACTION_RELAYED;
    in.notify = REC_NOTIFY_SUCCESS;
    in.rcpt_offset = -1;
    in.time_us = -3;
    buf_set(in.addr, "a@b");
    buf_set(in.orig, "c@d");
    buf_set(in.orcpt, "rfc822;c@d");
    buf_set(in.dsn, "2.0.0");
    buf_set(in.relay, "relay.example[192.0.2.9]:587");
    buf_set(in.reason, "250 2.0.0 Ok: queued as X");
    rec_status_encode(enc, &in);
    assert_int_equal(rec_status_parse(buf_str(enc), buf_len(enc), &out), 0);
    check_int("action", out.action, in.action);
    check_int("notify", out.notify, in.notify);
    check_int("rcpt_offset", out.rcpt_offset, -1);
    check_int("time_us", out.time_us, -3);
    check_str("addr", buf_str(out.addr), "a@b");
    check_str("orig", buf_str(out.orig), "c@d");
    check_str("orcpt", buf_str(out.orcpt), "rfc822;c@d");
    check_str("dsn", buf_str(out.dsn), "2.0.0");
    check_str("relay", buf_str(out.relay), "relay.example[192.0.2.9]:587");
    check_str("reason", buf_str(out.reason), "250 2.0.0 Ok: queued as X");
    /* Any byte less is malformed. */
    check_int("short status",
              rec_status_parse(buf_str(enc), buf_len(enc) - 1, &out), -1);
    buf_putc(enc, 'x');
    check_int("long status", rec_status_parse(buf_str(enc), buf_len(enc), &out),
              -1);
    rec_status_free(&in);
    rec_status_free(&out);
    buf_free(enc);
    assert_int_equal(failures, 0);
}

static void test_size_and_attr_codec(void **state)
{
    struct rec_size in = {10, 20, 30, 40, 50};
    struct rec_size out;
    unsigned char enc[REC_SIZE_LEN];
    const char *n;
    const char *v;
    size_t nl;
    size_t vl;

    (void) state;
    rec_size_encode(enc, &in);
    assert_int_equal(rec_size_parse((char *) enc, sizeof(enc), &out), 0);
    check_int("content_offset", out.content_offset, 10);
    check_int("content_size", out.content_size, 20);
    check_int("body_offset", out.body_offset, 30);
    check_int("xtracted_offset", out.xtracted_offset, 40);
    check_int("rcpt_count", out.rcpt_count, 50);
    in.rcpt_count = -1;
    rec_size_encode(enc, &in);
    check_int("negative size", rec_size_parse((char *) enc, sizeof(enc), &out),
              -1);

    assert_int_equal(
        rec_attr_parse("client_address=192.0.2.1", 24, &n, &nl, &v, &vl), 0);
    check_mem("attr name", n, nl, "client_address", 14);
    check_mem("attr value", v, vl, "192.0.2.1", 9);
    assert_int_equal(rec_attr_parse("x=", 2, &n, &nl, &v, &vl), 0);
    check_int("empty value", (long long) vl, 0);
    check_int("no name", rec_attr_parse("=x", 2, &n, &nl, &v, &vl), -1);
    check_int("no =", rec_attr_parse("abc", 3, &n, &nl, &v, &vl), -1);
    check_int("upper", rec_attr_parse("Abc=1", 5, &n, &nl, &v, &vl), -1);
    check_int("NUL value", rec_attr_parse("a=\0", 3, &n, &nl, &v, &vl), -1);
    assert_int_equal(failures, 0);
}

static void test_type_names(void **state)
{
    static const struct {
        int type;
        const char *name;
    } cases[] = {
        {REC_VERSION, "version"},     {REC_SIZE, "size"},
        {REC_TIME, "time"},           {REC_WARN, "warn"},
        {REC_FLAGS, "flags"},         {REC_SENDER, "sender"},
        {REC_RCPT, "rcpt"},           {REC_DSN_RET, "dsn_ret"},
        {REC_DSN_ENVID, "dsn_envid"}, {REC_ATTR, "attr"},
        {REC_MESSAGE, "message"},     {REC_LINE, "line"},
        {REC_PIECE, "piece"},         {REC_XTRACTED, "xtracted"},
        {REC_STATUS, "status"},       {REC_END, "end"},
    };
    size_t i;
    int c;
    int known = 0;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        const char *got = rec_type_name(cases[i].type);

        check_str("rec_type_name", got ? got : "(null)", cases[i].name);
    }
    for (c = 0; c < 256; c++)
        known += rec_type_known(c);
    check_int("known types", known, (long long) NCASES(cases));
    if (rec_type_name('?') != NULL)
        report("rec_type_name('?'): got a name, want NULL");
    assert_int_equal(failures, 0);
}

/* ---- malformed input ---------------------------------------------------- */

#define V    "V\x09postern 1"
#define B(s) s, sizeof(s) - 1

static const struct {
    const char *name;
    const char *in;
    size_t len;
    size_t limit;
    int flags;
    int good;         /* records returned before the failure */
    int want;         /* REC_ERR_*, or REC_OK: ends with 0 */
    const char *text; /* part of the error message */
} bad_cases[] = {
    {"empty input", B(""), 0, 0, 0, REC_ERR_VERSION, "empty input"},
    {"no version first", B("E\x00"), 0, 0, 0, REC_ERR_VERSION,
     "first record is not a version"},
    {"other version", B("V\x09postern 2"), 0, 0, 0, REC_ERR_VERSION,
     "unsupported format version"},
    {"version with junk", B("V\x0apostern 1x"), 0, 0, 0, REC_ERR_VERSION,
     "unsupported"},
    {"second version", B(V V "E\x00"), 0, 0, 1, REC_ERR_VERSION,
     "misplaced version record at offset 11"},
    {"unknown type", B(V "?\x00"), 0, 0, 1, REC_ERR_TYPE,
     "unknown record type 0x3f at offset 11"},
    {"NUL type", B(V "\x00\x00"), 0, 0, 1, REC_ERR_TYPE, "type 0x00"},
    {"high type", B(V "\xc3\x00"), 0, 0, 1, REC_ERR_TYPE, "type 0xc3"},
    {"header cut", B(V "S"), 0, 0, 1, REC_ERR_TRUNCATED,
     "truncated record at offset 11"},
    {"varint cut", B(V "S\x80"), 0, 0, 1, REC_ERR_TRUNCATED, "truncated"},
    {"data cut",
     B(V "S\x05"
         "ab"),
     0, 0, 1, REC_ERR_TRUNCATED, "truncated"},
    {"version cut", B("V\x09post"), 0, 0, 0, REC_ERR_TRUNCATED, "offset 0"},
    {"over limit",
     B(V "S\x0b"
         "abcdefghijk"
         "E\x00"),
     10, 0, 1, REC_ERR_TOOLONG,
     "sender record at offset 11 is 11 bytes long (limit 10)"},
    {"at limit",
     B(V "S\x0a"
         "abcdefghij"
         "E\x00"),
     10, 0, 3, REC_OK, ""},
    {"huge length", B(V "L\xff\xff\xff\xff\x0f"), 0, 0, 1, REC_ERR_TOOLONG,
     "limit 1048576"},
    {"non-minimal varint",
     B(V "S\x80\x00"
         "E\x00"),
     0, 0, 1, REC_ERR_LENGTH, "bad record length at offset 11"},
    {"six-byte varint", B(V "S\x80\x80\x80\x80\x80\x01"), 0, 0, 1,
     REC_ERR_LENGTH, "bad record length"},
    {"over 32 bits", B(V "S\xff\xff\xff\xff\x1f"), 0, 0, 1, REC_ERR_LENGTH,
     "bad record length"},
    {"missing end", B(V "S\x00"), 0, 0, 2, REC_ERR_NOEND,
     "missing end record at offset 13"},
    {"version only", B(V), 0, 0, 1, REC_ERR_NOEND, "missing end record"},
    {"trailing garbage",
     B(V "E\x00"
         "x"),
     0, 0, 1, REC_ERR_TRAILING, "data after the end record at offset 13"},
    {"trailing record",
     B(V "E\x00"
         "E\x00"),
     0, 0, 1, REC_ERR_TRAILING, "after the end"},
    {"data in MESSAGE", B(V "M\x01x"), 0, 0, 1, REC_ERR_DATA,
     "message record at offset 11: data in an empty record"},
    {"data in END", B(V "E\x01x"), 0, 0, 1, REC_ERR_DATA, "end record"},
    {"short TIME",
     B(V "T\x03"
         "abc"),
     0, 0, 1, REC_ERR_DATA, "integer record is not 8 bytes"},
    {"long WARN",
     B(V "W\x09"
         "123456789"),
     0, 0, 1, REC_ERR_DATA, "not 8 bytes"},
    {"short SIZE",
     B(V "Z\x08"
         "\0\0\0\0\0\0\0\0"),
     0, 0, 1, REC_ERR_DATA, "bad size record"},
    {"negative SIZE",
     B(V "Z\x28"
         "\xff\xff\xff\xff\xff\xff\xff\xff"
         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
     0, 0, 1, REC_ERR_DATA, "bad size record"},
    {"bad DSN RET",
     B(V "N\x08"
         "\0\0\0\0\0\0\0\x03"),
     0, 0, 1, REC_ERR_DATA, "bad DSN RET value"},
    {"NUL in sender",
     B(V "S\x03"
         "a\0b"),
     0, 0, 1, REC_ERR_DATA, "NUL byte in text"},
    {"NUL in ENVID",
     B(V "I\x01"
         "\0"),
     0, 0, 1, REC_ERR_DATA, "NUL"},
    {"attr no name",
     B(V "A\x02"
         "=x"),
     0, 0, 1, REC_ERR_DATA, "bad attribute record"},
    {"attr no =",
     B(V "A\x03"
         "abc"),
     0, 0, 1, REC_ERR_DATA, "attribute"},
    {"attr upper case",
     B(V "A\x03"
         "A=b"),
     0, 0, 1, REC_ERR_DATA, "attribute"},
    {"rcpt empty", B(V "R\x00"), 0, 0, 1, REC_ERR_DATA, "bad recipient record"},
    {"rcpt bad status",
     B(V "R\x06"
         "Q\x00\x01"
         "a"
         "\x00"
         "\x00"),
     0, 0, 1, REC_ERR_DATA, "bad recipient"},
    {"rcpt bad notify",
     B(V "R\x06"
         "P\x10\x01"
         "a"
         "\x00\x00"),
     0, 0, 1, REC_ERR_DATA, "bad recipient"},
    {"rcpt empty address",
     B(V "R\x05"
         "P\x00\x00\x00\x00"),
     0, 0, 1, REC_ERR_DATA, "bad recipient"},
    {"rcpt field too long",
     B(V "R\x06"
         "P\x00\x09"
         "a"
         "\x00\x00"),
     0, 0, 1, REC_ERR_DATA, "bad recipient"},
    {"rcpt missing field",
     B(V "R\x05"
         "P\x00\x01"
         "a"
         "\x00"),
     0, 0, 1, REC_ERR_DATA, "bad recipient"},
    {"rcpt trailing byte",
     B(V "R\x07"
         "P\x00\x01"
         "a"
         "\x00\x00"
         "z"),
     0, 0, 1, REC_ERR_DATA, "bad recipient"},
    {"rcpt NUL in address",
     B(V "R\x07"
         "P\x00\x02"
         "a\0"
         "\x00\x00"),
     0, 0, 1, REC_ERR_DATA, "bad recipient"},
    {"rcpt ok",
     B(V "R\x06"
         "D\x04\x01"
         "a"
         "\x00\x00"
         "E\x00"),
     0, 0, 3, REC_OK, ""},
    {"status bad action",
     B(V "Q\x19"
         "Z\x00"
         "\0\0\0\0\0\0\0\0"
         "\0\0\0\0\0\0\0\0"
         "\x01"
         "a"
         "\0\0\0\0\0"),
     0, 0, 1, REC_ERR_DATA, "bad status record"},
    {"status offset -2",
     B(V "Q\x19"
         "F\x00"
         "\xff\xff\xff\xff\xff\xff\xff\xfe"
         "\0\0\0\0\0\0\0\0"
         "\x01"
         "a"
         "\0\0\0\0\0"),
     0, 0, 1, REC_ERR_DATA, "bad status record"},
    {"status ok",
     B(V "Q\x19"
         "F\x00"
         "\xff\xff\xff\xff\xff\xff\xff\xff"
         "\0\0\0\0\0\0\0\0"
         "\x01"
         "a"
         "\0\0\0\0\0"
         "E\x00"),
     0, 0, 3, REC_OK, ""},
    /* Status logs end without END; a torn last record is still an error. */
    {"log ends at boundary", B(V "L\x01x"), 0, REC_READ_LOG, 2, REC_OK, ""},
    {"log version only", B(V), 0, REC_READ_LOG, 1, REC_OK, ""},
    {"log torn record",
     B(V "L\x05"
         "ab"),
     0, REC_READ_LOG, 1, REC_ERR_TRUNCATED, "truncated record at offset 11"},
    {"log empty", B(""), 0, REC_READ_LOG, 0, REC_ERR_VERSION, "empty"},
    /* On a connection more may follow END. */
    {"stream after end",
     B(V "E\x00"
         "garbage"),
     0, REC_READ_STREAM, 2, REC_OK, ""},
};

static void test_malformed(void **state)
{
    struct buf *data = buf_new(0);
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(bad_cases); i++) {
        struct stream *s =
            stream_open_mem(bad_cases[i].in, bad_cases[i].len, NULL);
        struct rec_reader *r =
            rec_reader_new(s, 0, bad_cases[i].limit, bad_cases[i].flags);
        int good = 0;
        int ret;

        while ((ret = rec_get(r, data)) > 0)
            good++;
        if (good != bad_cases[i].good)
            report("%s: got %d good records, want %d", bad_cases[i].name, good,
                   bad_cases[i].good);
        if (bad_cases[i].want == REC_OK) {
            if (ret != 0)
                report("%s: got -1 (%s), want 0", bad_cases[i].name,
                       rec_reader_error(r));
        } else {
            if (ret != -1)
                report("%s: got %d, want -1", bad_cases[i].name, ret);
            if (rec_reader_reason(r) != bad_cases[i].want)
                report("%s: got reason %d (%s), want %d", bad_cases[i].name,
                       rec_reader_reason(r), rec_reader_error(r),
                       bad_cases[i].want);
            if (strstr(rec_reader_error(r), bad_cases[i].text) == NULL)
                report("%s: got message \"%s\", want it to contain \"%s\"",
                       bad_cases[i].name, rec_reader_error(r),
                       bad_cases[i].text);
            /* The failure sticks. */
            if (rec_get(r, data) != -1
                || rec_reader_reason(r) != bad_cases[i].want)
                report("%s: the error did not stick", bad_cases[i].name);
        }
        rec_reader_free(r);
        stream_close(s);
    }
    buf_free(data);
    assert_int_equal(failures, 0);
}

/* The caller's buffer limit also stops an over-long record. */
static void test_buffer_limit(void **state)
{
    static const char in[] = V "L\x0a"
                               "0123456789"
                               "E\x00";
    struct stream *s = stream_open_mem(in, sizeof(in) - 1, NULL);
    struct rec_reader *r = rec_reader_new(s, 0, 0, 0);
    struct buf *data = buf_new(0);

    (void) state;
    buf_set_limit(data, 9);
    assert_int_equal(rec_get(r, data), REC_VERSION);
    assert_int_equal(rec_get(r, data), -1);
    assert_int_equal(rec_reader_reason(r), REC_ERR_TOOLONG);
    rec_reader_free(r);
    stream_close(s);
    buf_free(data);
}

/* ---- writer errors ------------------------------------------------------ */

static void test_writer_nospace(void **state)
{
    struct buf *out = buf_new(0);
    struct stream *s;
    struct rec_writer *w;
    char line[100];

    (void) state;
    memset(line, 'x', sizeof(line));
    buf_set_limit(out, 150);
    s = stream_open_mem(NULL, 0, out);
    w = rec_writer_new(s, 0);
    assert_int_equal(rec_put_version(w), 0);
    assert_int_equal(rec_put(w, REC_LINE, line, sizeof(line)), 0);
    assert_int_equal(rec_put(w, REC_LINE, line, sizeof(line)), 0);
    /* Buffered so far; the flush runs into the full "disk". */
    assert_int_equal(rec_writer_flush(w), -1);
    assert_int_equal(rec_writer_reason(w), REC_ERR_IO);
    assert_int_equal(rec_writer_errno(w), ENOSPC);
    assert_non_null(strstr(rec_writer_error(w), "No space left"));
    /* Sticky. */
    assert_int_equal(rec_put(w, REC_END, "", 0), -1);
    assert_int_equal(rec_writer_flush(w), -1);
    rec_writer_free(w);
    stream_free(s);
    buf_free(out);

    /* No output at all: EPIPE. */
    s = stream_open_mem(NULL, 0, NULL);
    w = rec_writer_new(s, 0);
    rec_put_version(w);
    assert_int_equal(rec_writer_flush(w), -1);
    assert_int_equal(rec_writer_errno(w), EPIPE);
    rec_writer_free(w);
    stream_free(s);
}

/* ---- descriptors and seeking -------------------------------------------- */

static void test_fd_seek(void **state)
{
    char path[] = "/tmp/test_record.XXXXXX";
    int fd = mkstemp(path);
    struct rec_writer *w;
    struct rec_reader *r;
    struct buf *data = buf_new(0);
    long long line2;
    long long end;

    (void) state;
    assert_true(fd >= 0);
    w = rec_writer_fd(fd, 0);
    rec_put_version(w);
    rec_puts(w, REC_LINE, "one");
    rec_puts(w, REC_LINE, "two");
    line2 = rec_writer_last_offset(w);
    rec_puts(w, REC_END, "");
    end = rec_writer_last_offset(w);
    assert_int_equal(rec_writer_flush(w), 0);
    rec_writer_free(w);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

    r = rec_reader_fd(fd, 0, 0, 0);
    assert_int_equal(rec_get(r, data), REC_VERSION);
    assert_int_equal(rec_reader_seek(r, line2), 0);
    assert_int_equal(rec_get(r, data), REC_LINE);
    assert_string_equal(buf_str(data), "two");
    assert_int_equal(rec_reader_offset(r), line2);
    assert_int_equal(rec_get(r, data), REC_END);
    assert_int_equal(rec_reader_offset(r), end);
    assert_int_equal(rec_get(r, data), 0);
    /* Back to the start of the records after the version. */
    assert_int_equal(rec_reader_seek(r, 11), 0);
    assert_int_equal(rec_get(r, data), REC_LINE);
    assert_string_equal(buf_str(data), "one");
    /* Seeking into the middle of a record reads garbage: refused. */
    assert_int_equal(rec_reader_seek(r, 12), 0);
    assert_int_equal(rec_get(r, data), -1);
    rec_reader_free(r);

    /* A reader over a borrowed stream cannot seek. */
    {
        struct stream *s = stream_open_mem("", 0, NULL);

        r = rec_reader_new(s, 0, 0, 0);
        assert_int_equal(rec_reader_seek(r, 0), -1);
        assert_int_equal(rec_reader_reason(r), REC_ERR_IO);
        rec_reader_free(r);
        stream_close(s);
    }
    close(fd);
    unlink(path);
    buf_free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_round_trip, reset),
        cmocka_unit_test_setup(test_typed_writers, reset),
        cmocka_unit_test_setup(test_int_codec, reset),
        cmocka_unit_test_setup(test_rcpt_codec, reset),
        cmocka_unit_test_setup(test_status_codec, reset),
        cmocka_unit_test_setup(test_size_and_attr_codec, reset),
        cmocka_unit_test_setup(test_type_names, reset),
        cmocka_unit_test_setup(test_malformed, reset),
        cmocka_unit_test_setup(test_buffer_limit, reset),
        cmocka_unit_test_setup(test_writer_nospace, reset),
        cmocka_unit_test_setup(test_fd_seek, reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
