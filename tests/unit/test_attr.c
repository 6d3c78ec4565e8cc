/*
 * test_attr.c - lib/attr: the exact wire format, round trips of every
 * type, the flags, a table of malformed inputs (each must give -1 and a
 * message), limits, and the protocol over a socketpair with timeouts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "buf.h"
#include "mem.h"
#include "stream.h"

static int teardown_limits(void **state)
{
    (void) state;
    attr_set_limits(0, 0);
    return 0;
}

static void test_wire_format(void **state)
{
    struct buf *out = buf_new(0);

    (void) state;
    assert_int_equal(attr_build(out, 0, ATTR_PUT_STR("request", "lookup"),
                                ATTR_PUT_STR("user", "bob"), ATTR_END),
                     0);
    assert_string_equal(buf_str(out), "7:request,6:lookup,4:user,3:bob,0:,");

    buf_reset(out);
    assert_int_equal(attr_build(out, 0, ATTR_PUT_INT("status", -1),
                                ATTR_PUT_LONG("size", 10240L),
                                ATTR_PUT_DATA("blob", "a\0b", 3),
                                ATTR_PUT_STR("empty", ""), ATTR_END),
                     0);
    assert_int_equal(buf_len(out), 56);
    assert_memory_equal(buf_str(out),
                        "6:status,2:-1,4:size,5:10240,4:blob,3:a\0b,"
                        "5:empty,0:,0:,",
                        56);

    buf_reset(out);
    assert_int_equal(attr_build(out, 0, ATTR_END), 0);
    assert_string_equal(buf_str(out), "0:,");
    buf_free(out);
}

static void test_round_trip(void **state)
{
    static const char blob[] = "\0\1\2,:0:,\r\n\xff";
    struct buf *enc = buf_new(0);
    struct buf *s1 = buf_new(0);
    struct buf *s2 = buf_new(0);
    struct buf *d = buf_new(0);
    struct buf *big = buf_new(0);
    struct buf *bigback = buf_new(0);
    int i0 = 7, i1 = 7, i2 = 7, i3 = 7;
    long l1 = 0, l2 = 0, l3 = 0;
    size_t n;

    (void) state;
    for (n = 0; n < 100000; n++)
        buf_putc(big, (int) (n * 7 % 251));
    assert_int_equal(
        attr_build(enc, 0, ATTR_PUT_STR("s1", "hello world"),
                   ATTR_PUT_STR("s2", ""), ATTR_PUT_INT("i0", 0),
                   ATTR_PUT_INT("i1", INT_MIN), ATTR_PUT_INT("i2", INT_MAX),
                   ATTR_PUT_INT("i3", -42), ATTR_PUT_LONG("l1", LONG_MIN),
                   ATTR_PUT_LONG("l2", LONG_MAX), ATTR_PUT_LONG("l3", 0L),
                   ATTR_PUT_DATA("d", blob, sizeof(blob) - 1),
                   ATTR_PUT_DATA("big", buf_str(big), buf_len(big)), ATTR_END),
        0);
    /* Order on the wire does not matter to the reader. */
    assert_int_equal(
        attr_parse(buf_str(enc), buf_len(enc), 0, ATTR_GET_DATA("big", bigback),
                   ATTR_GET_LONG("l3", &l3), ATTR_GET_LONG("l2", &l2),
                   ATTR_GET_LONG("l1", &l1), ATTR_GET_INT("i3", &i3),
                   ATTR_GET_INT("i2", &i2), ATTR_GET_INT("i1", &i1),
                   ATTR_GET_INT("i0", &i0), ATTR_GET_DATA("d", d),
                   ATTR_GET_STR("s2", s2), ATTR_GET_STR("s1", s1), ATTR_END),
        11);
    assert_string_equal(attr_error(), "");
    assert_int_equal(attr_error_code(), ATTR_ERR_NONE);
    assert_string_equal(buf_str(s1), "hello world");
    assert_int_equal(buf_len(s2), 0);
    assert_int_equal(i0, 0);
    assert_int_equal(i1, INT_MIN);
    assert_int_equal(i2, INT_MAX);
    assert_int_equal(i3, -42);
    assert_true(l1 == LONG_MIN);
    assert_true(l2 == LONG_MAX);
    assert_true(l3 == 0);
    assert_int_equal(buf_len(d), sizeof(blob) - 1);
    assert_memory_equal(buf_str(d), blob, sizeof(blob) - 1);
    assert_int_equal(buf_len(bigback), buf_len(big));
    assert_memory_equal(buf_str(bigback), buf_str(big), buf_len(big));
    buf_free(enc);
    buf_free(s1);
    buf_free(s2);
    buf_free(d);
    buf_free(big);
    buf_free(bigback);
}

/* ---- malformed input, table-driven ----------------------------------------
 */

struct bad_case {
    const char *name;
    const char *input;
    size_t len;
    int code;
    const char *error; /* exact message */
};

#define IN(text) text, sizeof(text) - 1

/* Parsed against: request (STR), count (INT), size (LONG), blob (DATA). */
static const struct bad_case bad_cases[] = {
    {"empty input", IN(""), ATTR_ERR_CLOSED, "attr_scan: connection closed"},
    {"truncated name", IN("7:requ"), ATTR_ERR_PROTOCOL,
     "attr_scan: premature end of input"},
    {"truncated after name", IN("7:request,"), ATTR_ERR_PROTOCOL,
     "attr_scan: premature end of input"},
    {"truncated value length", IN("7:request,1"), ATTR_ERR_PROTOCOL,
     "attr_scan: premature end of input"},
    {"no end marker", IN("7:request,1:x,5:count,1:1,4:size,1:2,4:blob,0:,"),
     ATTR_ERR_PROTOCOL, "attr_scan: premature end of input"},
    {"end marker without comma",
     IN("7:request,1:x,5:count,1:1,4:size,1:2,4:blob,0:,0:"), ATTR_ERR_PROTOCOL,
     "attr_scan: premature end of input"},
    {"end marker with junk",
     IN("7:request,1:x,5:count,1:1,4:size,1:2,4:blob,0:,0:x"),
     ATTR_ERR_PROTOCOL, "attr_scan: missing ',' after attribute name"},
    {"trailing bytes",
     IN("7:request,1:x,5:count,1:1,4:size,1:2,4:blob,0:,0:,x"),
     ATTR_ERR_PROTOCOL,
     "attr_scan: unexpected data after end of attribute list"},
    {"second list behind",
     IN("7:request,1:x,5:count,1:1,4:size,1:2,"
        "4:blob,0:,0:,0:,"),
     ATTR_ERR_PROTOCOL,
     "attr_scan: unexpected data after end of attribute list"},
    {"leading zero length", IN("07:request,1:x,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad length field for attribute name"},
    {"00 length", IN("00:,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad length field for attribute name"},
    {"no length", IN(":request,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad length field for attribute name"},
    {"negative length", IN("-7:request,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad length field for attribute name"},
    {"plus length", IN("+7:request,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad length field for attribute name"},
    {"space in length", IN(" 7:request,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad length field for attribute name"},
    {"hex length", IN("0x7:request,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad length field for attribute name"},
    {"missing colon", IN("7request,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad length field for attribute name"},
    {"name too long",
     IN("65:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,"),
     ATTR_ERR_PROTOCOL, "attr_scan: attribute name too long (limit 64 bytes)"},
    {"huge length", IN("99999999999999999999999:"), ATTR_ERR_PROTOCOL,
     "attr_scan: attribute name too long (limit 64 bytes)"},
    {"huge value length", IN("7:request,99999999999999999999999:"),
     ATTR_ERR_PROTOCOL,
     "attr_scan: value of \"request\" too long (limit 1048576 bytes)"},
    {"length too short", IN("6:request,"), ATTR_ERR_PROTOCOL,
     "attr_scan: missing ',' after attribute name"},
    {"length too long", IN("8:request,1:x,0:,"), ATTR_ERR_PROTOCOL,
     "attr_scan: missing ',' after attribute name"},
    {"value length wrong", IN("7:request,2:x,0:,"), ATTR_ERR_PROTOCOL,
     "attr_scan: missing ',' after value of \"request\""},
    {"upper-case name", IN("7:Request,1:x,0:,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad attribute name \"Request\""},
    {"control bytes in name", IN("3:a\n\0,1:x,0:,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad attribute name \"a??\""},
    {"unexpected attribute", IN("7:request,1:x,1:x,1:y,0:,"), ATTR_ERR_PROTOCOL,
     "attr_scan: unexpected attribute \"x\""},
    {"duplicate attribute", IN("7:request,1:x,7:request,1:y,0:,"),
     ATTR_ERR_PROTOCOL, "attr_scan: duplicate attribute \"request\""},
    {"missing attribute", IN("7:request,1:x,5:count,1:1,4:blob,0:,0:,"),
     ATTR_ERR_PROTOCOL, "attr_scan: missing attribute \"size\""},
    {"all missing", IN("0:,"), ATTR_ERR_PROTOCOL,
     "attr_scan: missing attribute \"request\""},
    {"NUL in string", IN("7:request,3:a\0b,0:,"), ATTR_ERR_PROTOCOL,
     "attr_scan: NUL byte in string value of \"request\""},
    {"int empty", IN("5:count,0:,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int plus", IN("5:count,2:+1,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int leading zero", IN("5:count,2:01,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int minus zero", IN("5:count,2:-0,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int lone minus", IN("5:count,1:-,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int space", IN("5:count,2: 1,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int trailing space", IN("5:count,2:1 ,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int letters", IN("5:count,2:1a,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int hex", IN("5:count,4:0x10,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int NUL", IN("5:count,2:1\0,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int over", IN("5:count,10:2147483648,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int under", IN("5:count,11:-2147483649,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int far over", IN("5:count,20:99999999999999999999,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"count\""},
    {"int too long", IN("5:count,25:"), ATTR_ERR_PROTOCOL,
     "attr_scan: value of \"count\" too long (limit 24 bytes)"},
    {"long over", IN("4:size,19:9223372036854775808,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"size\""},
    {"long under", IN("4:size,20:-9223372036854775809,"), ATTR_ERR_PROTOCOL,
     "attr_scan: bad integer value for \"size\""},
};

static void test_malformed(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct buf *request = buf_new(0);
        struct buf *blob = buf_new(0);
        int count = 0;
        long size = 0;
        int ret;

        ret = attr_parse(c->input, c->len, 0, ATTR_GET_STR("request", request),
                         ATTR_GET_INT("count", &count),
                         ATTR_GET_LONG("size", &size),
                         ATTR_GET_DATA("blob", blob), ATTR_END);
        if (ret != -1 || attr_error_code() != c->code
            || strcmp(attr_error(), c->error) != 0) {
            print_error("case \"%s\": got %d, code %d, \"%s\"; want -1, "
                        "code %d, \"%s\"\n",
                        c->name, ret, attr_error_code(), attr_error(), c->code,
                        c->error);
            fail();
        }
        buf_free(request);
        buf_free(blob);
    }
}

/* The good counterpart of the table, so the table tests what it says. */
static void test_good_reference(void **state)
{
    static const char in[] = "7:request,1:x,5:count,11:-2147483648,"
                             "4:size,20:-9223372036854775808,4:blob,0:,0:,";
    struct buf *request = buf_new(0);
    struct buf *blob = buf_new(0);
    int count = 0;
    long size = 0;

    (void) state;
    assert_int_equal(
        attr_parse(in, sizeof(in) - 1, 0, ATTR_GET_STR("request", request),
                   ATTR_GET_INT("count", &count), ATTR_GET_LONG("size", &size),
                   ATTR_GET_DATA("blob", blob), ATTR_END),
        4);
    assert_int_equal(count, INT_MIN);
    assert_true(size == LONG_MIN);
    buf_free(request);
    buf_free(blob);
}

/* ---- flags and limits --------------------------------------------------- */

static void test_flags(void **state)
{
    static const char in[] =
        "7:request,6:lookup,5:extra,3:foo,4:user,3:bob,0:,";
    struct buf *request = buf_new(0);
    struct buf *user = buf_new(0);
    struct buf *other = buf_new(0);
    int n = 99;

    (void) state;
    /* strict: the extra attribute is an error */
    assert_int_equal(attr_parse(in, sizeof(in) - 1, 0,
                                ATTR_GET_STR("request", request),
                                ATTR_GET_STR("user", user), ATTR_END),
                     -1);
    assert_string_equal(attr_error(),
                        "attr_scan: unexpected attribute \"extra\"");
    /* EXTRA: skipped */
    assert_int_equal(attr_parse(in, sizeof(in) - 1, ATTR_FLAG_EXTRA,
                                ATTR_GET_STR("request", request),
                                ATTR_GET_STR("user", user), ATTR_END),
                     2);
    assert_string_equal(buf_str(user), "bob");
    /* MISSING: absent ones keep their value; the count tells */
    buf_set(other, "default");
    assert_int_equal(
        attr_parse(in, sizeof(in) - 1, ATTR_FLAG_MISSING | ATTR_FLAG_EXTRA,
                   ATTR_GET_STR("user", user), ATTR_GET_STR("other", other),
                   ATTR_GET_INT("n", &n), ATTR_END),
        1);
    assert_string_equal(buf_str(other), "default");
    assert_int_equal(n, 99);
    /* MORE: read the request name first, then the rest */
    {
        struct stream *s = stream_open_mem(in, sizeof(in) - 1, NULL);

        assert_int_equal(attr_scan(s, ATTR_FLAG_MORE,
                                   ATTR_GET_STR("request", request), ATTR_END),
                         1);
        assert_string_equal(buf_str(request), "lookup");
        assert_int_equal(attr_scan(s, 0, ATTR_GET_STR("extra", other),
                                   ATTR_GET_STR("user", user), ATTR_END),
                         2);
        assert_string_equal(buf_str(other), "foo");
        stream_free(s);
    }
    /* MORE with the first attribute not the one asked for */
    assert_int_equal(attr_parse(in, sizeof(in) - 1, ATTR_FLAG_MORE,
                                ATTR_GET_STR("user", user), ATTR_END),
                     -1);
    assert_string_equal(attr_error(),
                        "attr_scan: unexpected attribute \"request\"");
    /* MORE when the list ends too soon */
    assert_int_equal(attr_parse("0:,", 3, ATTR_FLAG_MORE,
                                ATTR_GET_STR("user", user), ATTR_END),
                     -1);
    assert_string_equal(attr_error(),
                        "attr_scan: list ended after 0 of 1 attributes");
    /* FOLLOW: data after the list is the caller's business */
    {
        static const char two[] = "4:user,1:a,0:,4:user,1:b,0:,";
        struct stream *s = stream_open_mem(two, sizeof(two) - 1, NULL);

        assert_int_equal(attr_scan(s, ATTR_FLAG_FOLLOW,
                                   ATTR_GET_STR("user", user), ATTR_END),
                         1);
        assert_string_equal(buf_str(user), "a");
        assert_int_equal(attr_scan(s, 0, ATTR_GET_STR("user", user), ATTR_END),
                         1);
        assert_string_equal(buf_str(user), "b");
        assert_int_equal(attr_scan(s, 0, ATTR_GET_STR("user", user), ATTR_END),
                         -1);
        assert_int_equal(attr_error_code(), ATTR_ERR_CLOSED);
        stream_free(s);
    }
    /* MORE on the printing side: one list from two calls */
    {
        struct buf *out = buf_new(0);
        struct stream *s = stream_open_mem(NULL, 0, out);

        assert_int_equal(attr_print(s, ATTR_FLAG_MORE,
                                    ATTR_PUT_STR("request", "lookup"),
                                    ATTR_END),
                         0);
        assert_int_equal(buf_len(out), 0);
        assert_int_equal(
            attr_print(s, 0, ATTR_PUT_STR("user", "bob"), ATTR_END), 0);
        assert_string_equal(buf_str(out),
                            "7:request,6:lookup,4:user,3:bob,0:,");
        stream_free(s);
        buf_free(out);
    }
    buf_free(request);
    buf_free(user);
    buf_free(other);
}

static void test_limits(void **state)
{
    struct buf *enc = buf_new(0);
    struct buf *v = buf_new(0);
    struct buf *w = buf_new(0);

    (void) state;
    attr_build(enc, 0, ATTR_PUT_STR("v", "0123456789abcdef"),
               ATTR_PUT_STR("w", "0123456789abcdef"), ATTR_END);
    /* per value */
    attr_set_limits(15, 0);
    assert_int_equal(attr_parse(buf_str(enc), buf_len(enc), 0,
                                ATTR_GET_STR("v", v), ATTR_GET_STR("w", w),
                                ATTR_END),
                     -1);
    assert_string_equal(attr_error(),
                        "attr_scan: value of \"v\" too long (limit 15 bytes)");
    attr_set_limits(16, 0);
    assert_int_equal(attr_parse(buf_str(enc), buf_len(enc), 0,
                                ATTR_GET_STR("v", v), ATTR_GET_STR("w", w),
                                ATTR_END),
                     2);
    /* the destination's own hard limit */
    buf_set_limit(w, 10);
    assert_int_equal(attr_parse(buf_str(enc), buf_len(enc), 0,
                                ATTR_GET_STR("v", v), ATTR_GET_STR("w", w),
                                ATTR_END),
                     -1);
    assert_string_equal(attr_error(),
                        "attr_scan: value of \"w\" too long (limit 10 bytes)");
    buf_set_limit(w, 0);
    /* the whole list, end marker included */
    assert_int_equal(buf_len(enc), 51);
    attr_set_limits(0, 50);
    assert_int_equal(attr_parse(buf_str(enc), buf_len(enc), 0,
                                ATTR_GET_STR("v", v), ATTR_GET_STR("w", w),
                                ATTR_END),
                     -1);
    assert_string_equal(attr_error(),
                        "attr_scan: attribute list too long (limit 50 bytes)");
    attr_set_limits(0, 51);
    assert_int_equal(attr_parse(buf_str(enc), buf_len(enc), 0,
                                ATTR_GET_STR("v", v), ATTR_GET_STR("w", w),
                                ATTR_END),
                     2);
    attr_set_limits(0, 0);
    buf_free(enc);
    buf_free(v);
    buf_free(w);
}

/* ---- over a socket ------------------------------------------------------ */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A server child: reads a lookup request, answers, and reads again. */
static pid_t server(int fd, int other)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        close(other);
        struct stream *s = stream_open(fd);
        struct buf *user = buf_new(0);
        int id;

        stream_set_timeout(s, 5);
        while (attr_scan(s, 0, ATTR_GET_STR("user", user),
                         ATTR_GET_INT("id", &id), ATTR_END)
               == 2) {
            attr_print(s, 0, ATTR_PUT_INT("status", 0),
                       ATTR_PUT_STR("reply", buf_str(user)),
                       ATTR_PUT_INT("id", id + 1), ATTR_END);
        }
        _exit(attr_error_code() == ATTR_ERR_CLOSED ? 0 : 1);
    }
    return pid;
}

static void test_socket_conversation(void **state)
{
    struct buf *reply = buf_new(0);
    struct stream *s;
    int sv[2];
    int status;
    int id;
    int i;
    pid_t pid;

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid = server(sv[1], sv[0]);
    close(sv[1]);
    s = stream_open(sv[0]);
    stream_set_timeout(s, 5);
    for (i = 0; i < 100; i++) {
        assert_int_equal(attr_print(s, 0, ATTR_PUT_STR("user", "bob"),
                                    ATTR_PUT_INT("id", i), ATTR_END),
                         0);
        assert_int_equal(attr_scan(s, 0, ATTR_GET_INT("status", &status),
                                   ATTR_GET_STR("reply", reply),
                                   ATTR_GET_INT("id", &id), ATTR_END),
                         3);
        assert_int_equal(status, 0);
        assert_int_equal(id, i + 1);
        assert_string_equal(buf_str(reply), "bob");
    }
    stream_close(s);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    buf_free(reply);
}

/* A peer that sends half a list and stalls: read error: timeout. */
static void test_socket_timeout(void **state)
{
    struct buf *user = buf_new(0);
    struct stream *s;
    int sv[2];
    pid_t pid;

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        if (write(sv[1], "4:user,3:b", 10) != 10)
            _exit(1);
        sleep_ms(3000);
        _exit(0);
    }
    close(sv[1]);
    s = stream_open(sv[0]);
    stream_set_timeout_ms(s, 500);
    assert_int_equal(attr_scan(s, 0, ATTR_GET_STR("user", user), ATTR_END), -1);
    assert_int_equal(attr_error_code(), ATTR_ERR_IO);
    assert_string_equal(attr_error(), "attr_scan: read error: timeout");
    assert_int_equal(stream_reason(s), STREAM_TIMEOUT);
    stream_close(s);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    buf_free(user);
}

/* Writing to a peer that has gone: -1 with a message, no SIGPIPE. */
static void test_socket_write_error(void **state)
{
    struct stream *s;
    int sv[2];

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    s = stream_open(sv[0]);
    assert_int_equal(attr_print(s, 0, ATTR_PUT_STR("user", "x"), ATTR_END), -1);
    assert_int_equal(attr_error_code(), ATTR_ERR_IO);
    assert_string_equal(attr_error(), "attr_print: write error: Broken pipe");
    stream_close(s);
}

/* attr_frame_len: complete lists, every prefix, two lists, bad input. */
static void test_frame_len(void **state)
{
    static const struct {
        const char *in;
        long want; /* for the whole input */
    } cases[] = {
        {"0:,", 3},
        {"7:request,6:lookup,4:user,3:bob,0:,", 35},
        {"5:index,1:0,0:,5:index,1:1,0:,", 15}, /* the first list only */
        {"4:blob,3:a,b,0:,", 16},               /* a ',' inside a value */
        {"", 0},
        {"4:user,3:bob", 0},
        {"4:user,3:bob,0:", 0},
        {"x:,", -1},
        {"01:a,1:b,0:,", -1}, /* leading zero */
        {":a,", -1},          /* no digits */
        {"1:a;1:b,0:,", -1},  /* missing ',' */
        {"65:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,"
         "0:,0:,",
         -1}, /* name over ATTR_NAME_MAX */
    };
    const char *full = "7:request,6:lookup,4:user,3:bob,0:,";
    size_t i;
    struct buf *big = buf_new(0);

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(attr_frame_len(cases[i].in, strlen(cases[i].in)),
                         cases[i].want);
    /* Every proper prefix of a list needs more bytes. */
    for (i = 0; i < strlen(full); i++)
        assert_int_equal(attr_frame_len(full, i), 0);
    /* The value limit applies before the content arrives. */
    attr_set_limits(10, 0);
    assert_int_equal(attr_frame_len("4:blob,11:", 10), -1);
    assert_int_equal(attr_frame_len("4:blob,10:", 10), 0);
    /* The total limit too. */
    attr_set_limits(100, 30);
    buf_puts(big, "4:blob,20:aaaaaaaaaaaaaaaaaaaa,0:,");
    assert_int_equal(attr_frame_len(buf_str(big), buf_len(big)), -1);
    attr_set_limits(0, 0);
    assert_int_equal(attr_frame_len(buf_str(big), buf_len(big)),
                     (long) buf_len(big));
    /* What frames, parses: the framed length is a list attr_parse takes. */
    {
        struct buf *v = buf_new(0);

        assert_int_equal(attr_parse(full, 35, 0, ATTR_GET_STR("request", v),
                                    ATTR_GET_STR("user", v), ATTR_END),
                         2);
        buf_free(v);
    }
    buf_free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_format),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_good_reference),
        cmocka_unit_test(test_flags),
        cmocka_unit_test_teardown(test_limits, teardown_limits),
        cmocka_unit_test(test_socket_conversation),
        cmocka_unit_test(test_socket_timeout),
        cmocka_unit_test(test_socket_write_error),
        cmocka_unit_test_teardown(test_frame_len, teardown_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
