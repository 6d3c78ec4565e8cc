/*
 * stream.c - buffered stream with per-call deadlines (see stream.h).
 *
 * Called by every daemon and by attr.c. Failures return -1 and leave a
 * reason (STREAM_EOF, _TIMEOUT, _TOOLONG, _IO with errno, _TLS) in the
 * stream; allocation failure is fatal (mem.c), nothing else is.
 *
 * All waiting is done here, in poll(2) on the descriptor, never inside the
 * I/O layer: the layer only says which way it needs the descriptor to be
 * ready (STREAM_IO_WANT_READ/WRITE). That keeps the deadline logic in one
 * place for plain sockets, pipes and TLS alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"
#include "stream.h"

#define STREAM_BUFSIZE 8192

struct stream {
    int fd;
    int reason; /* enum stream_reason of the last call */
    int err;    /* errno for STREAM_IO */
    int wfail;  /* sticky write failure: its reason, 0 if none */
    int wfail_err;
    int ending; /* STREAM_LINE_* of the last line */
    long timeout_ms;
    unsigned char *rbuf;
    size_t rsize;
    size_t rpos; /* next byte to hand out */
    size_t rlen; /* bytes in rbuf */
    unsigned char *wbuf;
    size_t wsize;
    size_t wpos; /* next byte to write out */
    size_t wlen; /* bytes in wbuf */
    const struct stream_io *io;
    void *ctx;
};

/* ---- the default I/O layers --------------------------------------------- */

static ssize_t fd_read(void *ctx, int fd, void *data, size_t len)
{
    ssize_t n = read(fd, data, len);

    (void) ctx;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return STREAM_IO_WANT_READ;
    return n < 0 ? STREAM_IO_ERR : n;
}

static ssize_t fd_write(void *ctx, int fd, const void *data, size_t len)
{
    ssize_t n = write(fd, data, len);

    (void) ctx;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return STREAM_IO_WANT_WRITE;
    return n < 0 ? STREAM_IO_ERR : n;
}

/* Sockets: no SIGPIPE when the peer has gone. */
static ssize_t sock_write(void *ctx, int fd, const void *data, size_t len)
{
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

    (void) ctx;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return STREAM_IO_WANT_WRITE;
    return n < 0 ? STREAM_IO_ERR : n;
}

static const struct stream_io fd_io = {fd_read, fd_write, NULL, NULL};
static const struct stream_io sock_io = {fd_read, sock_write, NULL, NULL};

/* In-memory streams (stream_open_mem). */
struct mem_ctx {
    const unsigned char *in;
    size_t len;
    size_t pos;
    struct buf *out;
};

static ssize_t mem_read(void *ctx, int fd, void *data, size_t len)
{
    struct mem_ctx *m = ctx;
    size_t n = m->len - m->pos;

    (void) fd;
    if (n > len)
        n = len;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    if (n)
        memcpy(data, m->in + m->pos, n);
    m->pos += n;
    return (ssize_t) n;
}

static ssize_t mem_write(void *ctx, int fd, const void *data, size_t len)
{
    struct mem_ctx *m = ctx;

    (void) fd;
    if (m->out == NULL) {
        errno = EPIPE;
        return STREAM_IO_ERR;
    }
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    if (buf_append(m->out, data, len) < 0) {
        errno = ENOSPC;
        return STREAM_IO_ERR;
    }
    return (ssize_t) len;
}

static size_t mem_pending(void *ctx)
{
    struct mem_ctx *m = ctx;

    return m->len - m->pos;
}

static void mem_close(void *ctx)
{
    mem_free(ctx);
}

static const struct stream_io mem_io = {mem_read, mem_write, mem_pending,
                                        mem_close};

/* ---- opening and closing ------------------------------------------------ */

static struct stream *stream_alloc(int fd)
{
    struct stream *s = mem_calloc(1, sizeof(*s));

    s->fd = fd;
    s->timeout_ms = STREAM_TIMEOUT_DEFAULT * 1000L;
    s->rsize = STREAM_BUFSIZE;
    s->rbuf = mem_alloc(s->rsize);
    s->wsize = STREAM_BUFSIZE;
    s->wbuf = mem_alloc(s->wsize);
    return s;
}

struct stream *stream_open(int fd)
{
    struct stream *s = stream_alloc(fd);
    struct stat st;
    int flags;

    if ((flags = fcntl(fd, F_GETFL)) >= 0 && !(flags & O_NONBLOCK))
        (void) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    s->io = (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) ? &sock_io : &fd_io;
    return s;
}

struct stream *stream_open_mem(const void *in, size_t len, struct buf *out)
{
    struct stream *s = stream_alloc(-1);
    struct mem_ctx *m = mem_calloc(1, sizeof(*m));

    m->in = in;
    m->len = in ? len : 0;
    m->out = out;
    s->io = &mem_io;
    s->ctx = m;
    return s;
}

static void stream_release(struct stream *s)
{
    if (s->io->close)
        s->io->close(s->ctx);
    mem_free(s->rbuf);
    mem_free(s->wbuf);
    mem_free(s);
}

int stream_close(struct stream *s)
{
    int ret = 0;

    if (s == NULL)
        return 0;
    if (s->wfail)
        ret = s->wlen > s->wpos ? -1 : 0;
    else if (s->wlen > s->wpos)
        ret = stream_flush(s);
    if (s->fd >= 0)
        (void) close(s->fd);
    stream_release(s);
    return ret;
}

void stream_free(struct stream *s)
{
    if (s != NULL)
        stream_release(s);
}

/* ---- settings and state ------------------------------------------------- */

int stream_fd(const struct stream *s)
{
    return s->fd;
}

void stream_set_timeout(struct stream *s, int seconds)
{
    s->timeout_ms = seconds > 0 ? seconds * 1000L : 0;
}

void stream_set_timeout_ms(struct stream *s, long msec)
{
    s->timeout_ms = msec > 0 ? msec : 0;
}

long stream_timeout_ms(const struct stream *s)
{
    return s->timeout_ms;
}

int stream_reason(const struct stream *s)
{
    return s->reason;
}

int stream_errno(const struct stream *s)
{
    return s->err;
}

const char *stream_reason_text(const struct stream *s)
{
    switch (s->reason) {
    case STREAM_OK:
        return "no error";
    case STREAM_EOF:
        return "end of file";
    case STREAM_TIMEOUT:
        return "timeout";
    case STREAM_TOOLONG:
        return "line too long";
    case STREAM_IO:
        return strerror(s->err);
    case STREAM_TLS:
        return "TLS error";
    default:
        return "unknown error";
    }
}

void stream_set_error(struct stream *s, int reason, int err)
{
    s->reason = reason;
    s->err = err;
}

int stream_line_ending(const struct stream *s)
{
    return s->ending;
}

size_t stream_unflushed(const struct stream *s)
{
    return s->wlen - s->wpos;
}

void *stream_io_ctx(const struct stream *s)
{
    return s->ctx;
}

/* ---- deadlines ---------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start a call: clear the reason, return its deadline (-1: none). */
static int64_t call_start(struct stream *s)
{
    s->reason = STREAM_OK;
    s->err = 0;
    return s->timeout_ms > 0 ? now_ms() + s->timeout_ms : -1;
}

static int fail(struct stream *s, int reason, int err)
{
    s->reason = reason;
    s->err = err;
    return -1;
}

/* Wait until FD is ready for EVENTS or DEADLINE passes. */
static int wait_fd(struct stream *s, short events, int64_t deadline)
{
    struct pollfd pfd;
    int ms;
    int n;

    if (s->fd < 0)
        return fail(s, STREAM_IO, EBADF);
    for (;;) {
        ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();

            if (left <= 0)
                return fail(s, STREAM_TIMEOUT, 0);
            ms = left > INT_MAX ? INT_MAX : (int) left;
        }
        pfd.fd = s->fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail(s, STREAM_IO, errno);
        }
        if (n == 0)
            continue; /* the deadline check above decides */
        if (pfd.revents & POLLNVAL)
            return fail(s, STREAM_IO, EBADF);
        return 0; /* ready, or HUP/ERR: the next I/O call reports it */
    }
}

/* Handle a layer result that is not a byte count; 0 = call again. */
static int io_retry(struct stream *s, ssize_t n, int64_t deadline)
{
    switch (n) {
    case STREAM_IO_WANT_READ:
        return wait_fd(s, POLLIN, deadline);
    case STREAM_IO_WANT_WRITE:
        return wait_fd(s, POLLOUT, deadline);
    case STREAM_IO_ERR:
        if (errno == EINTR)
            return 0;
        return fail(s, STREAM_IO, errno);
    case STREAM_IO_TLSERR:
        return fail(s, STREAM_TLS, 0);
    default:
        return fail(s, STREAM_IO, EIO);
    }
}

/* ---- writing ------------------------------------------------------------ */

static int write_fail(struct stream *s)
{
    s->wfail = s->reason;
    s->wfail_err = s->err;
    return -1;
}

static int write_raw(struct stream *s, const unsigned char *data, size_t len,
                     int64_t deadline)
{
    while (len > 0) {
        ssize_t n = s->io->write(s->ctx, s->fd, data, len);

        if (n > 0) {
            data += n;
            len -= (size_t) n;
        } else if (n == 0) {
            fail(s, STREAM_IO, EIO);
            return write_fail(s);
        } else if (io_retry(s, n, deadline) < 0) {
            return write_fail(s);
        }
    }
    return 0;
}

static int flush_until(struct stream *s, int64_t deadline)
{
    if (s->wfail)
        return fail(s, s->wfail, s->wfail_err);
    while (s->wpos < s->wlen) {
        ssize_t n =
            s->io->write(s->ctx, s->fd, s->wbuf + s->wpos, s->wlen - s->wpos);

        if (n > 0) {
            s->wpos += (size_t) n;
        } else if (n == 0) {
            fail(s, STREAM_IO, EIO);
            return write_fail(s);
        } else if (io_retry(s, n, deadline) < 0) {
            return write_fail(s);
        }
    }
    s->wpos = s->wlen = 0;
    return 0;
}

int stream_flush(struct stream *s)
{
    return flush_until(s, call_start(s));
}

int stream_write(struct stream *s, const void *data, size_t len)
{
    int64_t deadline;

    s->reason = STREAM_OK;
    s->err = 0;
    if (s->wfail)
        return fail(s, s->wfail, s->wfail_err);
    if (len <= s->wsize - s->wlen) {
        if (len)
            memcpy(s->wbuf + s->wlen, data, len);
        s->wlen += len;
        return 0;
    }
    deadline = call_start(s);
    if (flush_until(s, deadline) < 0)
        return -1;
    if (len >= s->wsize)
        return write_raw(s, data, len, deadline);
    memcpy(s->wbuf, data, len);
    s->wlen = len;
    return 0;
}

int stream_puts(struct stream *s, const char *str)
{
    return stream_write(s, str, strlen(str));
}

int stream_putc(struct stream *s, int ch)
{
    unsigned char c = (unsigned char) ch;

    return stream_write(s, &c, 1);
}

int stream_vprintf(struct stream *s, const char *fmt, va_list ap)
{
    size_t room;
    va_list ap2;
    char *tmp;
    int ret;
    int n;

    s->reason = STREAM_OK;
    s->err = 0;
    if (s->wfail)
        return fail(s, s->wfail, s->wfail_err);
    room = s->wsize - s->wlen;
    va_copy(ap2, ap);
    n = vsnprintf((char *) s->wbuf + s->wlen, room, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return fail(s, STREAM_IO, EINVAL);
    if ((size_t) n < room) {
        s->wlen += (size_t) n;
        return 0;
    }
    /* Did not fit: format into a scratch copy and write that. */
    tmp = mem_alloc((size_t) n + 1);
    vsnprintf(tmp, (size_t) n + 1, fmt, ap);
    ret = stream_write(s, tmp, (size_t) n);
    mem_free(tmp);
    return ret;
}

int stream_printf(struct stream *s, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = stream_vprintf(s, fmt, ap);
    va_end(ap);
    return ret;
}

/* ---- reading ------------------------------------------------------------ */

/*
 * Refill the empty read buffer. Pending output goes out first when (and
 * only when) the read would have to wait for the peer.
 */
static int fill(struct stream *s, int64_t deadline)
{
    s->rpos = s->rlen = 0;
    for (;;) {
        ssize_t n = s->io->read(s->ctx, s->fd, s->rbuf, s->rsize);

        if (n > 0) {
            s->rlen = (size_t) n;
            return 0;
        }
        if (n == 0)
            return fail(s, STREAM_EOF, 0);
        if (n == STREAM_IO_WANT_READ && s->wlen > s->wpos
            && flush_until(s, deadline) < 0)
            return -1;
        if (io_retry(s, n, deadline) < 0)
            return -1;
    }
}

int stream_read_line(struct stream *s, struct buf *line, size_t limit)
{
    int64_t deadline = call_start(s);
    size_t keep = limit ? limit + 1 : SIZE_MAX; /* room for a CR */
    int over = 0;
    int last_cr = 0;

    buf_reset(line);
    s->ending = 0;
    for (;;) {
        const unsigned char *p;
        const unsigned char *nl;
        size_t avail;
        size_t chunk;

        if (s->rpos == s->rlen && fill(s, deadline) < 0) {
            if (limit && buf_len(line) > limit)
                buf_truncate(line, limit);
            return -1;
        }
        p = s->rbuf + s->rpos;
        avail = s->rlen - s->rpos;
        nl = memchr(p, '\n', avail);
        chunk = nl ? (size_t) (nl - p) : avail;
        if (chunk > 0) {
            last_cr = p[chunk - 1] == '\r';
            if (!over) {
                size_t take = chunk;

                if (take > keep - buf_len(line)) {
                    take = keep - buf_len(line);
                    over = 1;
                }
                if (buf_append(line, p, take) < 0)
                    over = 1; /* the caller's own hard limit */
            }
        }
        s->rpos += chunk + (nl ? 1 : 0);
        if (nl)
            break;
    }
    s->ending = last_cr ? STREAM_LINE_CRLF : STREAM_LINE_LF;
    if (last_cr && !over)
        buf_truncate(line, buf_len(line) - 1);
    if (over || (limit && buf_len(line) > limit)) {
        if (limit)
            buf_truncate(line, limit);
        return fail(s, STREAM_TOOLONG, 0);
    }
    return s->ending;
}

int stream_read_exact(struct stream *s, void *data, size_t len)
{
    int64_t deadline = call_start(s);
    unsigned char *out = data;

    while (len > 0) {
        size_t n;

        if (s->rpos == s->rlen && fill(s, deadline) < 0)
            return -1;
        n = s->rlen - s->rpos;
        if (n > len)
            n = len;
        memcpy(out, s->rbuf + s->rpos, n);
        s->rpos += n;
        out += n;
        len -= n;
    }
    return 0;
}

int stream_read_buf(struct stream *s, struct buf *out, size_t len)
{
    int64_t deadline = call_start(s);
    int over = 0;

    while (len > 0) {
        size_t n;

        if (s->rpos == s->rlen && fill(s, deadline) < 0)
            return -1;
        n = s->rlen - s->rpos;
        if (n > len)
            n = len;
        if (!over && buf_append(out, s->rbuf + s->rpos, n) < 0)
            over = 1; /* keep consuming to stay in step with the peer */
        s->rpos += n;
        len -= n;
    }
    return over ? fail(s, STREAM_TOOLONG, 0) : 0;
}

ssize_t stream_read_some(struct stream *s, void *data, size_t max)
{
    int64_t deadline = call_start(s);
    size_t n;

    if (max == 0)
        return 0;
    if (s->rpos == s->rlen && fill(s, deadline) < 0)
        return -1;
    n = s->rlen - s->rpos;
    if (n > max)
        n = max;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    memcpy(data, s->rbuf + s->rpos, n);
    s->rpos += n;
    return (ssize_t) n;
}

int stream_getc(struct stream *s)
{
    s->reason = STREAM_OK;
    s->err = 0;
    if (s->rpos == s->rlen && fill(s, call_start(s)) < 0)
        return -1;
    return s->rbuf[s->rpos++];
}

size_t stream_pending(const struct stream *s)
{
    size_t n = s->rlen - s->rpos;

    if (s->io->pending)
        n += s->io->pending(s->ctx);
    return n;
}

int stream_input_ready(struct stream *s, long msec)
{
    struct pollfd pfd;
    int64_t deadline;
    int n;

    if (stream_pending(s) > 0)
        return 1;
    if (s->fd < 0)
        return 0;
    deadline = now_ms() + (msec > 0 ? msec : 0);
    for (;;) {
        int64_t left = deadline - now_ms();

        pfd.fd = s->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        n = poll(&pfd, 1,
                 left <= 0        ? 0
                 : left > INT_MAX ? INT_MAX
                                  : (int) left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(s, STREAM_IO, errno);
        if (n > 0 && (pfd.revents & POLLNVAL))
            return fail(s, STREAM_IO, EBADF);
        return n > 0;
    }
}

size_t stream_peek(const struct stream *s, const char **data)
{
    if (s->rbuf == NULL || s->rlen <= s->rpos) {
        *data = "";
        return 0;
    }
    *data = (const char *) s->rbuf + s->rpos;
    return s->rlen - s->rpos;
}

size_t stream_discard_input(struct stream *s)
{
    size_t n = s->rlen - s->rpos;

    s->rpos = s->rlen = 0;
    return n;
}

/* ---- the I/O layer ------------------------------------------------------ */

int stream_set_io(struct stream *s, const struct stream_io *io, void *ctx)
{
    struct stat st;

    if (s->wlen > s->wpos || s->rlen > s->rpos)
        return -1;
    if (s->io->close)
        s->io->close(s->ctx);
    if (io == NULL) {
        io = (s->fd >= 0 && fstat(s->fd, &st) == 0 && S_ISSOCK(st.st_mode))
                 ? &sock_io
                 : &fd_io;
        ctx = NULL;
    }
    s->io = io;
    s->ctx = ctx;
    return 0;
}
