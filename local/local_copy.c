/*
 * local_copy.c - writing the message out of the queue file into a
 * mailbox, a maildir file, a /file or a command's standard input, with
 * the envelope lines Postfix adds ("From sender date", Return-Path:,
 * X-Original-To:, Delivered-To:), ">From " quoting for mbox, and a size
 * limit; and reading the Delivered-To: headers for loop detection.
 *
 * Called by local_mailbox.c and local_command.c (copy), local.c (scan).
 * Errors: LOCAL_COPY_EREAD (the queue file) or LOCAL_COPY_EWRITE (errno
 * set) with a reason in ERR. A write interrupted by a signal after
 * local_copy_deadline was passed fails with ETIMEDOUT.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "deliver.h"
#include "htable.h"
#include "local.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"
#include "rfc822.h"
#include "str.h"

#define LOCAL_COPY_CHUNK 65536

/* Set by the SIGALRM handler of command delivery. */
volatile sig_atomic_t local_copy_timeout;

struct local_out {
    int fd;
    struct buf *buf;
    long long written;
    long long start;
    long long limit;
};

static int local_out_flush(struct local_out *o)
{
    const char *p = buf_str(o->buf);
    size_t left = buf_len(o->buf);

    if (o->limit > 0 && o->start + o->written + (long long) left > o->limit) {
        errno = EFBIG;
        return -1;
    }
    while (left > 0) {
        ssize_t n;

        /* An alarm that fired between writes (while reading the queue
         * file) would never interrupt the next, blocking one. */
        if (local_copy_timeout) {
            errno = ETIMEDOUT;
            return -1;
        }
        n = write(o->fd, p, left);
        if (n < 0) {
            if (errno == EINTR && !local_copy_timeout)
                continue;
            if (errno == EINTR)
                errno = ETIMEDOUT;
            return -1;
        }
        p += n;
        left -= (size_t) n;
        o->written += n;
    }
    buf_reset(o->buf);
    return 0;
}

const char *local_copy_dsn(int err)
{
    switch (err) {
    case EFBIG:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return "5.2.2";
    case ENOSPC:
        return "4.3.1";
    default:
        return "4.2.0";
    }
}

int local_copy(struct local_state *st, int fd, int flags, long long start,
               long long limit, struct buf *err)
{
    struct qf_reader *qf = st->msg->qf;
    const char *sender = st->sender;
    struct local_out o;
    struct buf *data = buf_new(256);
    struct buf *lower = buf_new(64);
    int type, at_start = 1, ret = LOCAL_COPY_OK;

    o.fd = fd;
    o.buf = buf_new(LOCAL_COPY_CHUNK + 1024);
    o.written = 0;
    o.start = start;
    o.limit = limit;
    if (flags & LOCAL_COPY_FROM) {
        time_t now = time(NULL);
        char date[64];
        struct tm tm;

        localtime_r(&now, &tm);
        strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
        buf_printf(o.buf, "From %s  %s\n", *sender ? sender : "MAILER-DAEMON",
                   date);
    }
    if (flags & LOCAL_COPY_RETURN)
        buf_printf(o.buf, "Return-Path: <%s>\n", sender);
    if ((flags & LOCAL_COPY_ORIG) && st->orig_addr && *st->orig_addr)
        buf_printf(o.buf, "X-Original-To: %s\n", st->orig_addr);
    if (flags & LOCAL_COPY_DELIVERED) {
        buf_set(lower, st->delivered);
        addr_lower_ascii(buf_str(lower), buf_len(lower));
        buf_printf(o.buf, "Delivered-To: %s\n", buf_str(lower));
    }
    if (qf_seek_content(qf) < 0 || qf_read(qf, data) != REC_MESSAGE) {
        buf_setf(err, "cannot read the message: %s", qf_error());
        ret = LOCAL_COPY_EREAD;
        goto out;
    }
    while ((type = qf_read(qf, data)) == REC_LINE || type == REC_PIECE) {
        if (at_start && (flags & LOCAL_COPY_QUOTE) && buf_len(data) >= 5
            && memcmp(buf_str(data), "From ", 5) == 0)
            buf_putc(o.buf, '>');
        buf_append(o.buf, buf_str(data), buf_len(data));
        at_start = type == REC_LINE;
        if (at_start)
            buf_putc(o.buf, '\n');
        if (buf_len(o.buf) >= LOCAL_COPY_CHUNK && local_out_flush(&o) < 0)
            goto write_error;
    }
    if (type != REC_XTRACTED) {
        buf_setf(err, "cannot read the message: %s", qf_error());
        ret = LOCAL_COPY_EREAD;
        goto out;
    }
    if (!at_start)
        buf_putc(o.buf, '\n');
    if (flags & LOCAL_COPY_BLANK)
        buf_putc(o.buf, '\n');
    if (local_out_flush(&o) < 0)
        goto write_error;
    goto out;
write_error:
    buf_setf(err, "error writing message: %s", strerror(errno));
    ret = LOCAL_COPY_EWRITE;
out : {
    int saved = errno;

    buf_free(o.buf);
    buf_free(data);
    buf_free(lower);
    errno = saved;
}
    return ret;
}

/* Remember the address of HDR when it is a Delivered-To: header. */
static void local_scan_one(struct local_msg *msg, const struct buf *hdr,
                           struct buf *value)
{
    if (buf_len(hdr) <= 13
        || strncasecmp(buf_str(hdr), "Delivered-To:", 13) != 0)
        return;
    buf_reset(value);
    rfc822_header_text(value, buf_str(hdr) + 13, buf_len(hdr) - 13);
    addr_lower_ascii(buf_str(value), buf_len(value));
    htable_put(msg->delivered_to, buf_str(value), msg);
}

int local_scan_headers(struct local_msg *msg)
{
    struct buf *data = buf_new(256);
    struct buf *hdr = buf_new(256);
    struct buf *value = buf_new(128);
    int type, at_start = 1, ret = 0;

    if (qf_seek_content(msg->qf) < 0 || qf_read(msg->qf, data) != REC_MESSAGE) {
        ret = -1;
        goto out;
    }
    /* Only whole header lines; a folded Delivered-To: is joined first. */
    while ((type = qf_read(msg->qf, data)) == REC_LINE || type == REC_PIECE) {
        int line_start = at_start;

        at_start = type == REC_LINE;
        if (line_start && buf_len(data) == 0)
            break; /* end of the headers */
        if (line_start && (buf_str(data)[0] == ' ' || buf_str(data)[0] == '\t')
            && buf_len(hdr)) {
            buf_append(hdr, buf_str(data), buf_len(data));
            continue;
        }
        if (!line_start) {
            if (buf_len(hdr) < 4096)
                buf_append(hdr, buf_str(data), buf_len(data));
            continue;
        }
        local_scan_one(msg, hdr, value);
        buf_set(hdr, buf_str(data));
    }
    local_scan_one(msg, hdr, value);
    if (type != REC_LINE && type != REC_PIECE && type != REC_XTRACTED)
        ret = -1;
out:
    buf_free(data);
    buf_free(hdr);
    buf_free(value);
    return ret;
}
