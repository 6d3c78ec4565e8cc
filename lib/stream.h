/*
 * stream.h - buffered bidirectional stream over one descriptor, with a
 * timeout on every read and write.
 *
 * Used by every daemon for its clients and for local IPC (attr.c), by smtpd
 * and smtp for the SMTP conversation, and by the TLS layer (which plugs in
 * below the buffers, see struct stream_io).
 *
 * Errors: every call returns -1 on failure and keeps a reason in the stream
 * (stream_reason): STREAM_EOF, STREAM_TIMEOUT, STREAM_TOOLONG, STREAM_IO
 * (errno kept, stream_errno) or STREAM_TLS. Nothing here is fatal and
 * nothing longjmps; the caller decides what a failure means for its peer.
 *
 * Timeouts: each call gets one deadline, "now + timeout", when it starts;
 * every wait inside that call (filling the buffer, flushing, discarding the
 * rest of an over-long line) counts against it, so a peer that drips one
 * byte at a time cannot stretch a line read past the timeout. The default
 * is STREAM_TIMEOUT_DEFAULT. A timeout of 0 means "wait forever": NEVER use
 * it for a descriptor that a network peer or another process controls; it
 * exists for trusted local files only.
 *
 * Blocking: stream_open makes the descriptor non-blocking (O_NONBLOCK, a
 * property of the open file description, so shared with dup()ed copies);
 * waits happen in poll(2).
 *
 * Writes are buffered until stream_flush, until the buffer is full, or
 * until a read has to wait for the peer: before blocking for input the
 * stream flushes its pending output, so a request is never left unsent
 * while its reply is awaited, and replies to pipelined SMTP commands that
 * are already buffered go out together in one write.
 *
 * SIGPIPE: when the descriptor is a socket, writes use send(MSG_NOSIGNAL)
 * and a vanished peer is a STREAM_IO error (EPIPE). For pipes the process
 * must ignore SIGPIPE; the daemon skeleton does.
 *
 * Write errors are sticky: after one, every later write or flush fails at
 * once with the same reason (the peer is gone or stuck; retrying would only
 * wait out another timeout). Read errors are not: after STREAM_TOOLONG or
 * STREAM_TIMEOUT the caller may still write a reply ("421 ... timeout") and
 * may read again.
 */
#ifndef POSTERN_STREAM_H
#define POSTERN_STREAM_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

struct buf;
struct stream;

/* Why the last call failed (stream_reason). */
enum stream_reason {
    STREAM_OK = 0,  /* the last call succeeded */
    STREAM_EOF,     /* end of input (possibly in the middle of a line) */
    STREAM_TIMEOUT, /* the call's deadline passed */
    STREAM_TOOLONG, /* line longer than the caller's limit (rest skipped) */
    STREAM_IO,      /* system call failed; stream_errno() has errno */
    STREAM_TLS,     /* the I/O layer (TLS) reported a protocol error */
};

/* How a line read by stream_read_line ended (its positive return value). */
#define STREAM_LINE_LF   1 /* bare LF */
#define STREAM_LINE_CRLF 2 /* CR LF */

#define STREAM_TIMEOUT_DEFAULT 300 /* seconds */

/*
 * The pluggable I/O layer under the buffers. The default layer calls
 * read(2) and write(2)/send(2) on the descriptor. A TLS layer installs its
 * own functions after STARTTLS (see stream_set_io); callers of the stream
 * do not change.
 *
 * read and write return a byte count (> 0), 0 for end of input (read only),
 * or one of the STREAM_IO_* codes below. They must not block: when they
 * cannot go on they return STREAM_IO_WANT_READ or STREAM_IO_WANT_WRITE
 * (TLS may need to write while reading and the other way round), and the
 * stream polls the descriptor for that condition under the call's deadline
 * and calls again. On STREAM_IO_ERR errno is kept (EINTR means "call
 * again").
 *
 * pending (may be NULL) says how many bytes the layer holds that read would
 * return without touching the descriptor (decrypted TLS records).
 * close (may be NULL) is called once when the layer is replaced or the
 * stream is closed or freed; it frees CTX (the stream closes the
 * descriptor itself).
 */
#define STREAM_IO_ERR        (-1) /* system error, errno set */
#define STREAM_IO_WANT_READ  (-2) /* wait until the descriptor is readable */
#define STREAM_IO_WANT_WRITE (-3) /* wait until the descriptor is writable */
#define STREAM_IO_TLSERR     (-4) /* protocol error in the layer */

struct stream_io {
    ssize_t (*read)(void *ctx, int fd, void *data, size_t len);
    ssize_t (*write)(void *ctx, int fd, const void *data, size_t len);
    size_t (*pending)(void *ctx);
    void (*close)(void *ctx);
};

/* ---- opening and closing ------------------------------------------------ */

/* A stream over FD (made non-blocking). Never fails (allocation is fatal). */
struct stream *stream_open(int fd);
/*
 * An in-memory stream without a descriptor: reads return the LEN bytes at
 * IN (which must outlive the stream), then end of input; flushed output is
 * appended to OUT (NULL: writes fail with STREAM_IO, EPIPE; a hard limit on
 * OUT that is passed gives STREAM_IO, ENOSPC). For parsers driven from a
 * buffer (attr_parse, fuzz targets, tests).
 */
struct stream *stream_open_mem(const void *in, size_t len, struct buf *out);
/*
 * Flush pending output (unless a write already failed), close the layer and
 * the descriptor, free the stream. Returns 0, or -1 when the flush failed
 * (everything is released either way).
 */
int stream_close(struct stream *s);
/* Free the stream without flushing and without closing the descriptor. */
void stream_free(struct stream *s);

/* ---- settings and state ------------------------------------------------- */

int stream_fd(const struct stream *s);
/* Timeout of each call in seconds, or in milliseconds; 0 = none (see top). */
void stream_set_timeout(struct stream *s, int seconds);
void stream_set_timeout_ms(struct stream *s, long msec);
long stream_timeout_ms(const struct stream *s);

/* Reason for the last failed call (STREAM_OK after a successful call). */
int stream_reason(const struct stream *s);
/* errno of the last STREAM_IO failure. */
int stream_errno(const struct stream *s);
/* "end of file", "timeout", "line too long", strerror(errno), "TLS error". */
const char *stream_reason_text(const struct stream *s);
/* For layers and helpers working beside the stream (a TLS handshake). */
void stream_set_error(struct stream *s, int reason, int err);

/* ---- reading ------------------------------------------------------------ */

/*
 * Read one line into LINE (reset first) without its LF and without a CR
 * right before the LF. Binary-safe: NUL bytes are kept, buf_len(LINE) is
 * the length. Returns STREAM_LINE_CRLF or STREAM_LINE_LF (both > 0), or -1:
 *   STREAM_TOOLONG  the line had more than LIMIT bytes (CR LF not counted):
 *                   the rest of it was read and thrown away, so the next
 *                   call reads the next line; LINE holds the first LIMIT
 *                   bytes. LIMIT 0 means no limit (trusted input only).
 *   STREAM_EOF      end of input; LINE holds any partial last line.
 *   STREAM_TIMEOUT, STREAM_IO, STREAM_TLS.
 */
int stream_read_line(struct stream *s, struct buf *line, size_t limit);
/* Ending of the last line read (STREAM_LINE_*), 0 if none. */
int stream_line_ending(const struct stream *s);
/* Read exactly LEN bytes into DATA: 0, or -1 (STREAM_EOF if input ended). */
int stream_read_exact(struct stream *s, void *data, size_t len);
/*
 * Read exactly LEN bytes and append them to OUT: 0, or -1 (as above, or
 * STREAM_TOOLONG when OUT's hard limit was reached: the bytes are still
 * consumed, so the stream stays in step with the peer).
 */
int stream_read_buf(struct stream *s, struct buf *out, size_t len);
/* Read what is available, 1 to MAX bytes (waiting for at least one). */
ssize_t stream_read_some(struct stream *s, void *data, size_t max);
/* One byte (0-255), or -1. */
int stream_getc(struct stream *s);

/*
 * Bytes of input already received and not yet consumed: in the stream's
 * buffer plus what the I/O layer holds. Non-zero while the SMTP client has
 * not waited for our reply (PIPELINING detection). Never blocks.
 */
size_t stream_pending(const struct stream *s);
/*
 * Wait at most MSEC milliseconds (0: just look) for input. Returns 1 when
 * input is pending or the descriptor is readable (which includes end of
 * input), 0 when not, -1 on a poll error.
 */
int stream_input_ready(struct stream *s, long msec);
/*
 * Throw away all buffered input and return how many bytes that was. The
 * STARTTLS defence: call it after reading the STARTTLS command and before
 * the handshake, so plaintext pipelined after the command can never be
 * taken as if it came through TLS.
 */
size_t stream_discard_input(struct stream *s);
/*
 * The input already in the stream's buffer (not what the I/O layer holds),
 * without consuming it: its length, and *DATA points at it. For log lines
 * such as smtpd's "improper command pipelining".
 */
size_t stream_peek(const struct stream *s, const char **data);

/* ---- writing ------------------------------------------------------------ */

int stream_write(struct stream *s, const void *data, size_t len);
int stream_puts(struct stream *s, const char *str);
int stream_putc(struct stream *s, int ch);
int stream_printf(struct stream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int stream_vprintf(struct stream *s, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Write out everything buffered, under the timeout: 0, or -1. */
int stream_flush(struct stream *s);
/* Bytes written but not yet flushed. */
size_t stream_unflushed(const struct stream *s);

/* ---- the I/O layer ------------------------------------------------------ */

/*
 * Replace the I/O layer (NULL IO: back to plain read/write). The previous
 * layer's close is called. Refused (-1, nothing changed) while output is
 * unflushed or input is buffered: flush the "220 Ready to start TLS" reply
 * and call stream_discard_input first. Returns 0 on success.
 */
int stream_set_io(struct stream *s, const struct stream_io *io, void *ctx);
void *stream_io_ctx(const struct stream *s);

#endif
