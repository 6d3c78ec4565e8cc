/*
 * test_stream.c - lib/stream (over socketpairs and in memory) and lib/sock
 * (loopback TCP, UNIX sockets, descriptor passing).
 *
 * Peers are forked children that write a script of bytes (with pauses) and
 * exit; every address used is loopback or a UNIX socket in a scratch
 * folder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"
#include "sock.h"
#include "stream.h"

/* ---- helpers ------------------------------------------------------------ */

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000
           + (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(3);
        p += n;
        len -= (size_t) n;
    }
}

/*
 * Fork a peer that writes DATA to its end of a socketpair, waits HOLD_MS,
 * and exits. Returns our end; *PID gets the child.
 */
static int peer_writes(const void *data, size_t len, long hold_ms, pid_t *pid)
{
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    *pid = fork();
    assert_true(*pid >= 0);
    if (*pid == 0) {
        close(sv[0]);
        write_all(sv[1], data, len);
        if (hold_ms > 0)
            sleep_ms(hold_ms);
        _exit(0);
    }
    close(sv[1]);
    return sv[0];
}

static void reap(pid_t pid)
{
    int status;

    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

/* ---- line reading, table-driven ------------------------------------------ */

struct want_line {
    int ret;    /* STREAM_LINE_* or -1 */
    int reason; /* for -1 */
    const char *line;
    size_t len;
};

/* clang-format off */
#define L(ret, text)    {ret, STREAM_OK, text, sizeof(text) - 1}
#define FAIL(why, text) {-1, why, text, sizeof(text) - 1}
#define END             {0, 0, NULL, 0}
/* clang-format on */

struct line_case {
    const char *name;
    const char *input;
    size_t input_len;
    size_t limit;
    struct want_line want[6];
};

#define IN(text) text, sizeof(text) - 1

static const struct line_case line_cases[] = {
    {"crlf and lf",
     IN("abc\r\ndef\n"),
     100,
     {L(STREAM_LINE_CRLF, "abc"), L(STREAM_LINE_LF, "def"),
      FAIL(STREAM_EOF, ""), END}},
    {"empty lines",
     IN("\r\n\n\r\n"),
     100,
     {L(STREAM_LINE_CRLF, ""), L(STREAM_LINE_LF, ""), L(STREAM_LINE_CRLF, ""),
      FAIL(STREAM_EOF, ""), END}},
    {"only the last CR goes",
     IN("abc\r\r\nx\ry\n"),
     100,
     {L(STREAM_LINE_CRLF, "abc\r"), L(STREAM_LINE_LF, "x\ry"), END}},
    {"NUL bytes kept",
     IN("a\0b\r\n\0\n"),
     100,
     {L(STREAM_LINE_CRLF, "a\0b"), L(STREAM_LINE_LF, "\0"),
      FAIL(STREAM_EOF, ""), END}},
    {"EOF mid-line",
     IN("one\r\ntwo"),
     100,
     {L(STREAM_LINE_CRLF, "one"), FAIL(STREAM_EOF, "two"), FAIL(STREAM_EOF, ""),
      END}},
    {"EOF after CR", IN("one\r"), 100, {FAIL(STREAM_EOF, "one\r"), END}},
    {"no input", IN(""), 100, {FAIL(STREAM_EOF, ""), END}},
    {"exactly the limit",
     IN("1234567890\r\n1234567890\n"),
     10,
     {L(STREAM_LINE_CRLF, "1234567890"), L(STREAM_LINE_LF, "1234567890"), END}},
    {"one over the limit, resync",
     IN("12345678901\r\nok\r\n"),
     10,
     {FAIL(STREAM_TOOLONG, "1234567890"), L(STREAM_LINE_CRLF, "ok"),
      FAIL(STREAM_EOF, ""), END}},
    {"over the limit, bare LF",
     IN("12345678901\nok\n"),
     10,
     {FAIL(STREAM_TOOLONG, "1234567890"), L(STREAM_LINE_LF, "ok"), END}},
    {"CR inside counts",
     IN("123456789\rX\nok\n"),
     10,
     {FAIL(STREAM_TOOLONG, "123456789\r"), L(STREAM_LINE_LF, "ok"), END}},
    {"too long then EOF",
     IN("1234567890123"),
     10,
     {FAIL(STREAM_EOF, "1234567890"), END}},
    {"limit 0 is unlimited",
     IN("abcdefghijklmnop\n"),
     0,
     {L(STREAM_LINE_LF, "abcdefghijklmnop"), END}},
};

static void check_lines(struct stream *s, const struct line_case *c)
{
    struct buf *line = buf_new(0);
    const struct want_line *w;

    for (w = c->want; w->line != NULL; w++) {
        int ret = stream_read_line(s, line, c->limit);

        if (ret != w->ret || buf_len(line) != w->len
            || memcmp(buf_str(line), w->line, w->len) != 0
            || (ret < 0 && stream_reason(s) != w->reason)) {
            print_error("case \"%s\" line %d: got %d (%s) \"%.*s\", want %d "
                        "\"%s\"\n",
                        c->name, (int) (w - c->want), ret,
                        stream_reason_text(s), (int) buf_len(line),
                        buf_str(line), w->ret, w->line);
            fail();
        }
        if (ret > 0)
            assert_int_equal(stream_line_ending(s), ret);
    }
    buf_free(line);
}

static void test_lines_socket(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
        const struct line_case *c = &line_cases[i];
        pid_t pid;
        int fd = peer_writes(c->input, c->input_len, 0, &pid);
        struct stream *s = stream_open(fd);

        stream_set_timeout(s, 5);
        check_lines(s, c);
        assert_int_equal(stream_close(s), 0);
        reap(pid);
    }
}

static void test_lines_memory(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
        const struct line_case *c = &line_cases[i];
        struct stream *s = stream_open_mem(c->input, c->input_len, NULL);

        check_lines(s, c);
        stream_free(s);
    }
}

/* A line far larger than the buffer is skipped across many refills. */
static void test_huge_line_resync(void **state)
{
    size_t big = 300000;
    char *data = mem_alloc(big + 32);
    struct buf *line = buf_new(0);
    struct stream *s;
    pid_t pid;
    int fd;

    (void) state;
    memset(data, 'x', big);
    memcpy(data + big, "\r\nQUIT\r\n", 8);
    fd = peer_writes(data, big + 8, 0, &pid);
    s = stream_open(fd);
    stream_set_timeout(s, 5);
    assert_int_equal(stream_read_line(s, line, 1000), -1);
    assert_int_equal(stream_reason(s), STREAM_TOOLONG);
    assert_int_equal(buf_len(line), 1000);
    assert_string_equal(stream_reason_text(s), "line too long");
    assert_int_equal(stream_read_line(s, line, 1000), STREAM_LINE_CRLF);
    assert_string_equal(buf_str(line), "QUIT");
    assert_int_equal(stream_reason(s), STREAM_OK);
    stream_close(s);
    reap(pid);
    buf_free(line);
    mem_free(data);
}

/* The caller's own buffer limit also gives TOOLONG, in step. */
static void test_line_buffer_limit(void **state)
{
    static const char in[] = "abcdefgh\nok\n";
    struct stream *s = stream_open_mem(in, sizeof(in) - 1, NULL);
    struct buf *line = buf_new(0);

    (void) state;
    buf_set_limit(line, 4);
    assert_int_equal(stream_read_line(s, line, 100), -1);
    assert_int_equal(stream_reason(s), STREAM_TOOLONG);
    assert_int_equal(stream_read_line(s, line, 100), STREAM_LINE_LF);
    assert_string_equal(buf_str(line), "ok");
    stream_free(s);
    buf_free(line);
}

/* ---- timeouts ----------------------------------------------------------- */

static void test_timeout_silent_peer(void **state)
{
    struct buf *line = buf_new(0);
    struct timespec start;
    struct stream *s;
    pid_t pid;
    int fd;
    long ms;

    (void) state;
    fd = peer_writes("", 0, 5000, &pid);
    s = stream_open(fd);
    stream_set_timeout(s, 1);
    assert_int_equal(stream_timeout_ms(s), 1000);
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(stream_read_line(s, line, 100), -1);
    ms = elapsed_ms(&start);
    assert_int_equal(stream_reason(s), STREAM_TIMEOUT);
    assert_string_equal(stream_reason_text(s), "timeout");
    assert_true(ms >= 950 && ms < 3000);
    /* A reply can still be written after a read timeout. */
    assert_int_equal(stream_puts(s, "421 timeout\r\n"), 0);
    assert_int_equal(stream_flush(s), 0);
    stream_close(s);
    reap(pid);
    buf_free(line);
}

/* One deadline per call: a peer dripping bytes cannot extend a line. */
static void test_timeout_drip(void **state)
{
    struct buf *line = buf_new(0);
    struct timespec start;
    struct stream *s;
    int sv[2];
    pid_t pid;
    long ms;

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int i;

        close(sv[0]);
        for (i = 0; i < 50; i++) {
            write_all(sv[1], "x", 1);
            sleep_ms(50);
        }
        _exit(0);
    }
    close(sv[1]);
    s = stream_open(sv[0]);
    stream_set_timeout_ms(s, 600);
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(stream_read_line(s, line, 1000), -1);
    ms = elapsed_ms(&start);
    assert_int_equal(stream_reason(s), STREAM_TIMEOUT);
    assert_true(ms >= 550 && ms < 2000);
    assert_true(buf_len(line) > 0);
    stream_close(s);
    reap(pid);
    buf_free(line);
}

/* A peer that never reads: the flush times out, and the error sticks. */
static void test_write_timeout_sticky(void **state)
{
    size_t big = 8 * 1024 * 1024;
    char *data = mem_calloc(1, big);
    struct stream *s;
    int sv[2];

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    s = stream_open(sv[0]);
    stream_set_timeout_ms(s, 300);
    assert_int_equal(stream_write(s, data, big), -1);
    assert_int_equal(stream_reason(s), STREAM_TIMEOUT);
    assert_int_equal(stream_puts(s, "x"), -1);
    assert_int_equal(stream_reason(s), STREAM_TIMEOUT);
    assert_int_equal(stream_flush(s), -1);
    stream_close(s);
    close(sv[1]);
    mem_free(data);
}

/* A vanished peer is EPIPE, not a SIGPIPE death. */
static void test_write_peer_gone(void **state)
{
    struct stream *s;
    int sv[2];

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    s = stream_open(sv[0]);
    assert_int_equal(stream_puts(s, "hello\r\n"), 0);
    assert_int_equal(stream_unflushed(s), 7);
    assert_int_equal(stream_flush(s), -1);
    assert_int_equal(stream_reason(s), STREAM_IO);
    assert_int_equal(stream_errno(s), EPIPE);
    assert_int_equal(stream_close(s), -1);
}

/* ---- reads and writes --------------------------------------------------- */

static void test_read_exact_some_getc(void **state)
{
    static const char in[] = "HEAD\0\1\2tail-of-data!";
    struct stream *s = stream_open_mem(in, sizeof(in) - 1, NULL);
    struct buf *b = buf_new(0);
    char got[16];
    ssize_t n;

    (void) state;
    assert_int_equal(stream_read_exact(s, got, 4), 0);
    assert_memory_equal(got, "HEAD", 4);
    assert_int_equal(stream_getc(s), 0);
    assert_int_equal(stream_getc(s), 1);
    assert_int_equal(stream_getc(s), 2);
    assert_int_equal(stream_pending(s), 13);
    assert_int_equal(stream_read_buf(s, b, 5), 0);
    assert_string_equal(buf_str(b), "tail-");
    n = stream_read_some(s, got, sizeof(got));
    assert_int_equal(n, 8);
    assert_memory_equal(got, "of-data!", 8);
    assert_int_equal(stream_read_some(s, got, sizeof(got)), -1);
    assert_int_equal(stream_reason(s), STREAM_EOF);
    assert_int_equal(stream_getc(s), -1);
    assert_int_equal(stream_read_exact(s, got, 1), -1);
    assert_int_equal(stream_reason(s), STREAM_EOF);
    stream_free(s);
    buf_free(b);
}

static void test_read_exact_short(void **state)
{
    static const char in[] = "abc";
    struct stream *s = stream_open_mem(in, 3, NULL);
    char got[8];

    (void) state;
    assert_int_equal(stream_read_exact(s, got, 4), -1);
    assert_int_equal(stream_reason(s), STREAM_EOF);
    stream_free(s);
}

/* Echo peer: reads lines, answers each with "+<line>". */
static pid_t echo_peer(int fd, int other)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        close(other);
        struct stream *s = stream_open(fd);
        struct buf *line = buf_new(0);

        stream_set_timeout(s, 10);
        while (stream_read_line(s, line, 0) > 0) {
            stream_printf(s, "+%zu:", buf_len(line));
            stream_write(s, buf_str(line), buf_len(line));
            stream_puts(s, "\n");
        }
        stream_flush(s);
        _exit(0);
    }
    return pid;
}

/* Output is flushed when (and only when) a read has to wait. */
static void test_auto_flush_and_big_writes(void **state)
{
    size_t big = 200000;
    char *data = mem_alloc(big);
    struct buf *line = buf_new(0);
    struct buf *want = buf_new(0);
    struct stream *s;
    int sv[2];
    pid_t pid;
    size_t i;

    (void) state;
    for (i = 0; i < big; i++)
        data[i] = (char) ('a' + i % 26);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid = echo_peer(sv[1], sv[0]);
    close(sv[1]);
    s = stream_open(sv[0]);
    stream_set_timeout(s, 10);

    assert_int_equal(stream_puts(s, "ping\n"), 0);
    assert_int_equal(stream_unflushed(s), 5);
    assert_int_equal(stream_read_line(s, line, 0), STREAM_LINE_LF);
    assert_string_equal(buf_str(line), "+4:ping");
    assert_int_equal(stream_unflushed(s), 0);

    /* printf longer than the write buffer */
    assert_int_equal(stream_printf(s, "%s\n", "x"), 0);
    assert_int_equal(stream_printf(s, "%.*s\n", 20000, data), 0);
    assert_int_equal(stream_read_line(s, line, 0), STREAM_LINE_LF);
    assert_string_equal(buf_str(line), "+1:x");
    assert_int_equal(stream_read_line(s, line, 0), STREAM_LINE_LF);
    buf_printf(want, "+20000:%.*s", 20000, data);
    assert_int_equal(buf_len(line), buf_len(want));
    assert_memory_equal(buf_str(line), buf_str(want), buf_len(want));

    /* a write larger than the buffer goes straight out */
    assert_int_equal(stream_write(s, data, big), 0);
    assert_int_equal(stream_putc(s, '\n'), 0);
    assert_int_equal(stream_read_line(s, line, 0), STREAM_LINE_LF);
    buf_setf(want, "+%zu:", big);
    buf_append(want, data, big);
    assert_int_equal(buf_len(line), buf_len(want));
    assert_memory_equal(buf_str(line), buf_str(want), buf_len(want));

    assert_int_equal(stream_close(s), 0);
    reap(pid);
    mem_free(data);
    buf_free(line);
    buf_free(want);
}

/* Pipelined input is visible; discarding it is the STARTTLS defence. */
static void test_pending_and_discard(void **state)
{
    static const char in[] = "EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil>\r\n";
    struct buf *line = buf_new(0);
    struct stream *s;
    pid_t pid;
    int fd;

    (void) state;
    fd = peer_writes(in, sizeof(in) - 1, 2000, &pid);
    s = stream_open(fd);
    stream_set_timeout(s, 5);
    assert_int_equal(stream_input_ready(s, 2000), 1);
    assert_int_equal(stream_read_line(s, line, 100), STREAM_LINE_CRLF);
    assert_string_equal(buf_str(line), "EHLO x");
    assert_int_equal(stream_pending(s), sizeof(in) - 1 - 8);
    assert_int_equal(stream_input_ready(s, 0), 1);
    assert_int_equal(stream_read_line(s, line, 100), STREAM_LINE_CRLF);
    assert_string_equal(buf_str(line), "STARTTLS");
    assert_true(stream_pending(s) > 0);
    /* Switching layers with input buffered is refused. */
    assert_int_equal(stream_set_io(s, NULL, NULL), -1);
    assert_int_equal(stream_discard_input(s), 18);
    assert_int_equal(stream_pending(s), 0);
    assert_int_equal(stream_input_ready(s, 0), 0);
    assert_int_equal(stream_set_io(s, NULL, NULL), 0);
    stream_close(s);
    reap(pid);
    buf_free(line);
}

/*
 * A pluggable layer: bytes are XORed with 0x20 both ways, and each call
 * first answers "want read/write" once, like a TLS layer would.
 */
struct xor_ctx {
    int stall_read;
    int stall_write;
};

static int xor_closed;

static ssize_t xor_read(void *ctx, int fd, void *data, size_t len)
{
    struct xor_ctx *x = ctx;
    unsigned char *p = data;
    ssize_t n;
    ssize_t i;

    if (x->stall_read) {
        x->stall_read = 0;
        return STREAM_IO_WANT_READ;
    }
    x->stall_read = 1;
    n = read(fd, data, len);
    if (n < 0 && errno == EAGAIN)
        return STREAM_IO_WANT_READ;
    if (n < 0)
        return STREAM_IO_ERR;
    for (i = 0; i < n; i++)
        p[i] ^= 0x20;
    if (n > 0 && p[0] == '!')
        return STREAM_IO_TLSERR;
    return n;
}

static ssize_t xor_write(void *ctx, int fd, const void *data, size_t len)
{
    struct xor_ctx *x = ctx;
    unsigned char *copy;
    ssize_t n;
    size_t i;

    if (x->stall_write) {
        x->stall_write = 0;
        return STREAM_IO_WANT_WRITE;
    }
    x->stall_write = 1;
    copy = mem_memdup(data, len);
    for (i = 0; i < len; i++)
        copy[i] ^= 0x20;
    n = write(fd, copy, len);
    mem_free(copy);
    if (n < 0 && errno == EAGAIN)
        return STREAM_IO_WANT_WRITE;
    return n < 0 ? STREAM_IO_ERR : n;
}

static void xor_close(void *ctx)
{
    xor_closed++;
    mem_free(ctx);
}

static const struct stream_io xor_io = {xor_read, xor_write, NULL, xor_close};

static void test_io_layer(void **state)
{
    struct buf *line = buf_new(0);
    struct xor_ctx *x;
    struct stream *s;
    char got[64];
    int sv[2];
    ssize_t n;

    (void) state;
    xor_closed = 0;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    s = stream_open(sv[0]);
    stream_set_timeout(s, 5);
    x = mem_calloc(1, sizeof(*x));
    x->stall_read = x->stall_write = 1;
    assert_int_equal(stream_puts(s, "plain\n"), 0);
    /* Refused while output is unflushed; the context stays ours. */
    assert_int_equal(stream_set_io(s, &xor_io, x), -1);
    assert_int_equal(stream_flush(s), 0);
    assert_int_equal(stream_set_io(s, &xor_io, x), 0);
    assert_int_equal(xor_closed, 0);
    assert_ptr_equal(stream_io_ctx(s), x);

    assert_int_equal(stream_puts(s, "hello\n"), 0);
    assert_int_equal(stream_flush(s), 0);
    n = read(sv[1], got, sizeof(got));
    assert_int_equal(n, 12);
    assert_memory_equal(got, "plain\nHELLO*", 12);

    assert_int_equal(write(sv[1], "ABC*", 4), 4);
    assert_int_equal(stream_read_line(s, line, 100), STREAM_LINE_LF);
    assert_string_equal(buf_str(line), "abc");

    assert_int_equal(write(sv[1], "\x01", 1), 1); /* '!' after XOR */
    assert_int_equal(stream_read_line(s, line, 100), -1);
    assert_int_equal(stream_reason(s), STREAM_TLS);
    assert_string_equal(stream_reason_text(s), "TLS error");

    stream_close(s);
    assert_int_equal(xor_closed, 1);
    close(sv[1]);
    buf_free(line);
}

static void test_memory_output(void **state)
{
    struct buf *out = buf_new(0);
    struct stream *s = stream_open_mem(NULL, 0, out);
    struct stream *t;

    (void) state;
    assert_int_equal(stream_printf(s, "%d-%s", 42, "x"), 0);
    assert_int_equal(buf_len(out), 0);
    assert_int_equal(stream_flush(s), 0);
    assert_string_equal(buf_str(out), "42-x");
    assert_int_equal(stream_puts(s, "!"), 0);
    assert_int_equal(stream_close(s), 0);
    assert_string_equal(buf_str(out), "42-x!");

    /* no output buffer: a write error on flush */
    t = stream_open_mem("", 0, NULL);
    assert_int_equal(stream_puts(t, "x"), 0);
    assert_int_equal(stream_flush(t), -1);
    assert_int_equal(stream_reason(t), STREAM_IO);
    assert_int_equal(stream_errno(t), EPIPE);
    stream_free(t);

    /* an output buffer with a hard limit */
    buf_reset(out);
    buf_set_limit(out, 3);
    t = stream_open_mem(NULL, 0, out);
    assert_int_equal(stream_puts(t, "toolong"), 0);
    assert_int_equal(stream_close(t), -1);
    buf_free(out);
}

/* ---- sock --------------------------------------------------------------- */

static void test_sock_protocols(void **state)
{
    static const struct {
        const char *in;
        int want;
    } cases[] = {
        {"all", SOCK_PROTO_ALL},
        {"ipv4", SOCK_PROTO_IPV4},
        {"ipv6", SOCK_PROTO_IPV6},
        {"ipv4, ipv6", SOCK_PROTO_ALL},
        {" IPv4 ", SOCK_PROTO_IPV4},
        {"", -1},
        {"ipv5", -1},
        {"ipv4 bogus", -1},
    };
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = sock_protocols(cases[i].in);

        if (got != cases[i].want) {
            print_error("sock_protocols(\"%s\") = %d, want %d\n", cases[i].in,
                        got, cases[i].want);
            fail();
        }
    }
    assert_int_equal(sock_protocols("nope"), -1);
    assert_string_equal(sock_error(), "bad inet_protocols value \"nope\"");
}

static int tcp_listen_port(const char *addr, int protocols, struct buf *port)
{
    int *fds;
    int n = sock_inet_listen(addr, protocols, 16, &fds);
    int fd;

    if (n < 0)
        return -1;
    assert_int_equal(n, 1);
    fd = fds[0];
    mem_free(fds);
    buf_reset(port);
    assert_int_equal(sock_local_text(fd, NULL, port), 0);
    return fd;
}

static void tcp_round_trip(const char *listen_addr, int protocols,
                           const char *connect_host, const char *want_addr)
{
    struct buf *port = buf_new(0);
    struct buf *addr = buf_new(0);
    struct buf *target = buf_new(0);
    struct buf *line = buf_new(0);
    struct stream *c;
    struct stream *a;
    int lfd;
    int cfd;
    int afd;
    int flags;

    lfd = tcp_listen_port(listen_addr, protocols, port);
    if (lfd < 0 && strchr(listen_addr, '[')
        && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
        print_message("skipping %s: no IPv6 loopback here\n", listen_addr);
        goto out;
    }
    assert_true(lfd >= 0);
    flags = fcntl(lfd, F_GETFD);
    assert_true(flags & FD_CLOEXEC);
    assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    /* Nobody has connected yet: accept does not block. */
    assert_int_equal(sock_accept(lfd), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);

    buf_printf(target, "%s:%s", connect_host, buf_str(port));
    cfd = sock_inet_connect(buf_str(target), SOCK_PROTO_ALL, 2000);
    assert_true(cfd >= 0);
    assert_true(fcntl(cfd, F_GETFD) & FD_CLOEXEC);
    assert_false(fcntl(cfd, F_GETFL) & O_NONBLOCK);
    {
        struct pollfd pfd = {lfd, POLLIN, 0};

        assert_int_equal(poll(&pfd, 1, 2000), 1);
    }
    afd = sock_accept(lfd);
    assert_true(afd >= 0);
    assert_true(fcntl(afd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(sock_peer_text(afd, addr, NULL), 0);
    assert_string_equal(buf_str(addr), want_addr);

    c = stream_open(cfd);
    a = stream_open(afd);
    stream_set_timeout(c, 5);
    stream_set_timeout(a, 5);
    assert_int_equal(stream_puts(a, "220 hi\r\n"), 0);
    assert_int_equal(stream_flush(a), 0);
    assert_int_equal(stream_read_line(c, line, 100), STREAM_LINE_CRLF);
    assert_string_equal(buf_str(line), "220 hi");
    stream_close(c);
    assert_int_equal(stream_read_line(a, line, 100), -1);
    assert_int_equal(stream_reason(a), STREAM_EOF);
    stream_close(a);
    close(lfd);
out:
    buf_free(port);
    buf_free(addr);
    buf_free(target);
    buf_free(line);
}

static void test_sock_tcp_ipv4(void **state)
{
    (void) state;
    tcp_round_trip("127.0.0.1:0", SOCK_PROTO_ALL, "127.0.0.1", "127.0.0.1");
    tcp_round_trip("127.0.0.1:0", SOCK_PROTO_IPV4, "localhost", "127.0.0.1");
}

static void test_sock_tcp_ipv6(void **state)
{
    (void) state;
    tcp_round_trip("[::1]:0", SOCK_PROTO_ALL, "[::1]", "::1");
}

static void test_sock_bad_addresses(void **state)
{
    static const char *bad[] = {
        "", "::1:25", "[::1]", "[::1]25", "[]:25", "127.0.0.1:", "[::1:25",
    };
    size_t i;
    int *fds;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        assert_int_equal(sock_inet_listen(bad[i], SOCK_PROTO_ALL, 1, &fds), -1);
        assert_int_equal(errno, EINVAL);
        assert_non_null(strstr(sock_error(), "bad address"));
    }
    /* An IPv6 address when only IPv4 is enabled. */
    assert_int_equal(sock_inet_listen("[::1]:0", SOCK_PROTO_IPV4, 1, &fds), -1);
    assert_int_equal(sock_inet_connect("*:25", SOCK_PROTO_ALL, 100), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(sock_inet_listen("127.0.0.1:0", 0, 1, &fds), -1);
}

static void test_sock_bind_in_use(void **state)
{
    struct buf *port = buf_new(0);
    struct buf *again = buf_new(0);
    int *fds;
    int lfd;

    (void) state;
    lfd = tcp_listen_port("127.0.0.1:0", SOCK_PROTO_ALL, port);
    assert_true(lfd >= 0);
    buf_printf(again, "127.0.0.1:%s", buf_str(port));
    assert_int_equal(sock_inet_listen(buf_str(again), SOCK_PROTO_ALL, 1, &fds),
                     -1);
    assert_int_equal(errno, EADDRINUSE);
    assert_non_null(strstr(sock_error(), "bind 127.0.0.1:"));
    close(lfd);
    buf_free(port);
    buf_free(again);
}

static void test_sock_connect_refused(void **state)
{
    struct buf *port = buf_new(0);
    struct buf *target = buf_new(0);
    int lfd;

    (void) state;
    /* Borrow a free port, then let it go. */
    lfd = tcp_listen_port("127.0.0.1:0", SOCK_PROTO_IPV4, port);
    assert_true(lfd >= 0);
    close(lfd);
    buf_printf(target, "127.0.0.1:%s", buf_str(port));
    assert_int_equal(sock_inet_connect(buf_str(target), SOCK_PROTO_ALL, 2000),
                     -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_non_null(strstr(sock_error(), "connect to 127.0.0.1:"));
    buf_free(port);
    buf_free(target);
}

/*
 * A TCP listener whose accept queue is full drops SYNs, so a connect to it
 * hangs: the timeout must end it.
 */
static void test_sock_tcp_connect_timeout(void **state)
{
    struct buf *port = buf_new(0);
    struct buf *target = buf_new(0);
    struct sockaddr_in sin;
    struct timespec start;
    int held[16];
    int nheld;
    int *fds;
    int lfd;
    long ms;

    (void) state;
    assert_int_equal(sock_inet_listen("127.0.0.1:0", SOCK_PROTO_IPV4, 0, &fds),
                     1);
    lfd = fds[0];
    mem_free(fds);
    assert_int_equal(sock_local_text(lfd, NULL, port), 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) atoi(buf_str(port)));
    sin.sin_addr.s_addr = htonl(0x7f000001);
    for (nheld = 0; nheld < 16; nheld++) {
        held[nheld] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(held[nheld] >= 0);
        (void) connect(held[nheld], (struct sockaddr *) &sin, sizeof(sin));
    }
    sleep_ms(100);
    buf_printf(target, "127.0.0.1:%s", buf_str(port));
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(sock_inet_connect(buf_str(target), SOCK_PROTO_ALL, 300),
                     -1);
    ms = elapsed_ms(&start);
    assert_int_equal(errno, ETIMEDOUT);
    assert_true(ms >= 280 && ms < 2000);
    while (nheld > 0)
        close(held[--nheld]);
    close(lfd);
    buf_free(port);
    buf_free(target);
}

static char *scratch_dir(void)
{
    char tmpl[] = "/tmp/postern-test-stream.XXXXXX";
    char *dir = mkdtemp(tmpl);

    assert_non_null(dir);
    return mem_strdup(dir);
}

static void test_sock_unix(void **state)
{
    struct buf *path = buf_new(0);
    struct buf *addr = buf_new(0);
    struct buf *line = buf_new(0);
    char *dir = scratch_dir();
    struct stream *c;
    struct stream *a;
    struct stat st;
    int lfd;
    int cfd;
    int afd;
    int fd;

    (void) state;
    buf_printf(path, "%s/sock", dir);
    lfd = sock_unix_listen(buf_str(path), 8, 0620);
    assert_true(lfd >= 0);
    assert_int_equal(stat(buf_str(path), &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0620);
    assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);

    cfd = sock_unix_connect(buf_str(path), 2000);
    assert_true(cfd >= 0);
    afd = sock_accept(lfd);
    assert_true(afd >= 0);
    assert_int_equal(sock_peer_text(afd, addr, NULL), 0);
    assert_string_equal(buf_str(addr), "unix");
    c = stream_open(cfd);
    a = stream_open(afd);
    assert_int_equal(stream_puts(c, "hello\n"), 0);
    assert_int_equal(stream_flush(c), 0);
    assert_int_equal(stream_read_line(a, line, 100), STREAM_LINE_LF);
    assert_string_equal(buf_str(line), "hello");
    stream_close(c);
    stream_close(a);
    close(lfd);

    /* A stale socket is replaced; another file is left alone. */
    lfd = sock_unix_listen(buf_str(path), 8, 0600);
    assert_true(lfd >= 0);
    close(lfd);
    unlink(buf_str(path));
    fd = open(buf_str(path), O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sock_unix_listen(buf_str(path), 8, 0600), -1);
    assert_int_equal(errno, EEXIST);
    unlink(buf_str(path));

    /* Nobody listening. */
    assert_int_equal(sock_unix_connect(buf_str(path), 500), -1);
    assert_int_equal(errno, ENOENT);

    /* Too long a path. */
    buf_reset(line);
    while (buf_len(line) < 200)
        buf_puts(line, "/xxxxxxxxx");
    assert_int_equal(sock_unix_listen(buf_str(line), 1, 0600), -1);
    assert_int_equal(errno, ENAMETOOLONG);

    rmdir(dir);
    mem_free(dir);
    buf_free(path);
    buf_free(addr);
    buf_free(line);
}

/* A listener whose backlog is full and who never accepts: timeout. */
static void test_sock_unix_connect_timeout(void **state)
{
    struct buf *path = buf_new(0);
    char *dir = scratch_dir();
    struct timespec start;
    int held[64];
    int nheld = 0;
    int lfd;
    int fd;
    long ms;

    (void) state;
    buf_printf(path, "%s/busy", dir);
    lfd = sock_unix_listen(buf_str(path), 0, 0600);
    assert_true(lfd >= 0);
    while (nheld < 64) {
        struct sockaddr_un sun;

        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        strcpy(sun.sun_path, buf_str(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
            assert_int_equal(errno, EAGAIN);
            close(fd);
            break;
        }
        held[nheld++] = fd;
    }
    assert_true(nheld < 64);
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(sock_unix_connect(buf_str(path), 300), -1);
    ms = elapsed_ms(&start);
    assert_int_equal(errno, ETIMEDOUT);
    assert_true(ms >= 280 && ms < 2000);
    while (nheld > 0)
        close(held[--nheld]);
    close(lfd);
    unlink(buf_str(path));
    rmdir(dir);
    mem_free(dir);
    buf_free(path);
}

static void test_sock_addr_text(void **state)
{
    struct sockaddr_in6 in6;
    struct sockaddr_in in4;
    struct buf *addr = buf_new(0);
    struct buf *port = buf_new(0);

    (void) state;
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(2525);
    assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.2", &in6.sin6_addr),
                     1);
    assert_int_equal(
        sock_addr_text((struct sockaddr *) &in6, sizeof(in6), addr, port), 0);
    assert_string_equal(buf_str(addr), "127.0.0.2");
    assert_string_equal(buf_str(port), "2525");

    buf_reset(addr);
    buf_reset(port);
    assert_int_equal(inet_pton(AF_INET6, "::1", &in6.sin6_addr), 1);
    in6.sin6_port = htons(25);
    assert_int_equal(
        sock_addr_text((struct sockaddr *) &in6, sizeof(in6), addr, port), 0);
    assert_string_equal(buf_str(addr), "::1");
    assert_string_equal(buf_str(port), "25");

    buf_reset(addr);
    memset(&in4, 0, sizeof(in4));
    in4.sin_family = AF_INET;
    in4.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(
        sock_addr_text((struct sockaddr *) &in4, sizeof(in4), addr, NULL), 0);
    assert_string_equal(buf_str(addr), "127.0.0.1");
    /* Too short for its family. */
    assert_int_equal(sock_addr_text((struct sockaddr *) &in4, 4, addr, NULL),
                     -1);
    buf_free(addr);
    buf_free(port);
}

static void test_sock_pass_fd(void **state)
{
    int sv[2];
    int pipefd[2];
    char got[8];
    int fd;

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(sock_send_fd(sv[0], pipefd[1], 1000), 0);
    close(pipefd[1]);
    fd = sock_recv_fd(sv[1], 1000);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(fd, "via", 3), 3);
    close(fd);
    assert_int_equal(read(pipefd[0], got, sizeof(got)), 3);
    assert_memory_equal(got, "via", 3);
    close(pipefd[0]);

    /* Nothing sent: timeout. */
    assert_int_equal(sock_recv_fd(sv[1], 200), -1);
    assert_int_equal(errno, ETIMEDOUT);
    /* A message without a descriptor. */
    assert_int_equal(write(sv[0], "x", 1), 1);
    assert_int_equal(sock_recv_fd(sv[1], 200), -1);
    assert_int_equal(errno, EBADMSG);
    /* The sender went away. */
    close(sv[0]);
    assert_int_equal(sock_recv_fd(sv[1], 200), -1);
    assert_int_equal(errno, ECONNRESET);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_socket),
        cmocka_unit_test(test_lines_memory),
        cmocka_unit_test(test_huge_line_resync),
        cmocka_unit_test(test_line_buffer_limit),
        cmocka_unit_test(test_timeout_silent_peer),
        cmocka_unit_test(test_timeout_drip),
        cmocka_unit_test(test_write_timeout_sticky),
        cmocka_unit_test(test_write_peer_gone),
        cmocka_unit_test(test_read_exact_some_getc),
        cmocka_unit_test(test_read_exact_short),
        cmocka_unit_test(test_auto_flush_and_big_writes),
        cmocka_unit_test(test_pending_and_discard),
        cmocka_unit_test(test_io_layer),
        cmocka_unit_test(test_memory_output),
        cmocka_unit_test(test_sock_protocols),
        cmocka_unit_test(test_sock_tcp_ipv4),
        cmocka_unit_test(test_sock_tcp_ipv6),
        cmocka_unit_test(test_sock_bad_addresses),
        cmocka_unit_test(test_sock_bind_in_use),
        cmocka_unit_test(test_sock_connect_refused),
        cmocka_unit_test(test_sock_tcp_connect_timeout),
        cmocka_unit_test(test_sock_unix),
        cmocka_unit_test(test_sock_unix_connect_timeout),
        cmocka_unit_test(test_sock_addr_text),
        cmocka_unit_test(test_sock_pass_fd),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
