/*
 * bounce_notice.c - load a message's envelope and status log, and write
 * an RFC 3464 multipart/report notice about it.
 *
 * Callers: queue/bounce.c; tests/unit/test_bounce_notice.c includes this
 * file. See bounce_notice.h. The notice has Postfix's shape: a text/plain
 * explanation, a message/delivery-status report, and the original message
 * (message/rfc822, cut after bounce_size_limit bytes; its headers are
 * always whole) or only its headers (text/rfc822-headers). The wording is
 * our own.
 *
 * Errors: -1 and a one-line reason in the caller's ERR buffer.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "buf.h"
#include "htable.h"
#include "mem.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"

#include "bounce_notice.h"

/* Longest reason text put into a notice line (lines stay under 998). */
#define BOUNCE_REASON_MAX 900

void bounce_info_init(struct bounce_info *bi)
{
    memset(bi, 0, sizeof(*bi));
    bi->sender = buf_new(64);
    bi->envid = buf_new(16);
    bi->notice = buf_new(16);
}

void bounce_info_free(struct bounce_info *bi)
{
    size_t i;

    mem_free(bi->queue);
    mem_free(bi->id);
    buf_free(bi->sender);
    buf_free(bi->envid);
    buf_free(bi->notice);
    mem_free(bi->rcpts);
    for (i = 0; i < bi->st_count; i++)
        rec_status_free(&bi->st[i]);
    mem_free(bi->st);
    memset(bi, 0, sizeof(*bi));
}

/* ---- loading ------------------------------------------------------------ */

static void bounce_add_rcpt(struct bounce_info *bi, size_t *cap,
                            long long offset, const char *data, size_t len)
{
    if (bi->rcpt_count == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        bi->rcpts = mem_realloc(bi->rcpts, *cap * sizeof(*bi->rcpts));
    }
    bi->rcpts[bi->rcpt_count].offset = offset;
    bi->rcpts[bi->rcpt_count].status = len > 0 ? (unsigned char) data[0] : 0;
    bi->rcpt_count++;
}

/* The envelope records of one section (envelope or extracted). */
static int bounce_read_section(struct bounce_info *bi, struct qf_reader *r,
                               struct buf *data, int stop, size_t *cap,
                               struct buf *err)
{
    const char *name, *value;
    size_t name_len, value_len;
    long long v;
    int type;

    for (;;) {
        type = qf_read(r, data);
        if (type < 0) {
            buf_set(err, qf_error());
            return -1;
        }
        if (type == 0 || type == stop)
            return 0;
        switch (type) {
        case REC_SENDER:
            buf_set(bi->sender, "");
            buf_append(bi->sender, buf_str(data), buf_len(data));
            break;
        case REC_TIME:
            if (rec_int_parse(buf_str(data), buf_len(data), &v) == 0)
                bi->arrival_us = v;
            break;
        case REC_FLAGS:
            if (rec_int_parse(buf_str(data), buf_len(data), &v) == 0)
                bi->flags |= (int) v;
            break;
        case REC_DSN_RET:
            if (rec_int_parse(buf_str(data), buf_len(data), &v) == 0)
                bi->dsn_ret = (int) v;
            break;
        case REC_DSN_ENVID:
            buf_set(bi->envid, "");
            buf_append(bi->envid, buf_str(data), buf_len(data));
            break;
        case REC_ATTR:
            if (rec_attr_parse(buf_str(data), buf_len(data), &name, &name_len,
                               &value, &value_len)
                    == 0
                && name_len == strlen(BOUNCE_ATTR_NOTICE)
                && memcmp(name, BOUNCE_ATTR_NOTICE, name_len) == 0) {
                buf_set(bi->notice, "");
                buf_append(bi->notice, value, value_len);
            }
            break;
        case REC_RCPT:
            bounce_add_rcpt(bi, cap, qf_offset(r), buf_str(data),
                            buf_len(data));
            break;
        default:
            break;
        }
    }
}

static int bounce_load_envelope(struct bounce_info *bi, const char *queue,
                                const char *id, struct buf *err)
{
    struct qf_reader *r = qf_open(queue, id, 0);
    struct buf *data;
    size_t cap = 0;
    int ret = 0;

    if (r == NULL) {
        buf_set(err, qf_error());
        return qf_reason() == QF_ERR_GONE ? BOUNCE_LOAD_NOFILE : -1;
    }
    data = buf_new(256);
    if (bounce_read_section(bi, r, data, REC_MESSAGE, &cap, err) < 0
        || qf_skip_content(r) < 0
        || bounce_read_section(bi, r, data, REC_END, &cap, err) < 0) {
        if (buf_len(err) == 0)
            buf_set(err, qf_error());
        ret = -1;
    }
    buf_free(data);
    qf_close(r);
    return ret;
}

/* The key that makes later results for a recipient replace earlier ones. */
static void bounce_status_key(struct buf *key, const struct rec_status *st)
{
    if (st->rcpt_offset >= 0) {
        buf_setf(key, "@%lld", st->rcpt_offset);
    } else {
        buf_set(key, "=");
        buf_append(key, buf_str(st->addr), buf_len(st->addr));
        buf_putc(key, '\n');
        buf_append(key, buf_str(st->orig), buf_len(st->orig));
    }
}

static int bounce_load_log(struct bounce_info *bi, const char *log,
                           const char *id, struct buf *err)
{
    struct qf_reader *r = qf_open(log, id, 0);
    struct htable *seen;
    struct buf *data;
    struct buf *key;
    size_t cap = 0;
    int type;

    if (r == NULL) {
        buf_set(err, qf_error());
        if (qf_reason() == QF_ERR_GONE)
            return BOUNCE_LOAD_NOLOG;
        if (qf_reason() != QF_ERR_CORRUPT)
            return -1;
        /* Not even a version record: report what the queue file knows. */
        bi->log_damaged = 1;
        return BOUNCE_LOAD_OK;
    }
    seen = htable_new(64);
    data = buf_new(256);
    key = buf_new(64);
    while ((type = qf_read(r, data)) > 0) {
        struct rec_status st;
        void *old;

        rec_status_init(&st);
        if (type != REC_STATUS
            || rec_status_parse(buf_str(data), buf_len(data), &st) < 0) {
            rec_status_free(&st);
            continue;
        }
        bounce_status_key(key, &st);
        if ((old = htable_get(seen, buf_str(key))) != NULL) {
            size_t at = (size_t) (uintptr_t) old - 1;

            rec_status_free(&bi->st[at]);
            bi->st[at] = st;
            continue;
        }
        if (bi->st_count == cap) {
            cap = cap ? 2 * cap : 16;
            bi->st = mem_realloc(bi->st, cap * sizeof(*bi->st));
        }
        bi->st[bi->st_count++] = st;
        htable_put(seen, buf_str(key), (void *) (uintptr_t) bi->st_count);
    }
    if (type < 0) {
        buf_set(err, qf_error());
        if (qf_reason() != QF_ERR_CORRUPT) {
            type = -2;
        } else {
            bi->log_damaged = 1;
        }
    }
    buf_free(key);
    buf_free(data);
    htable_free(seen, NULL);
    qf_close(r);
    return type == -2 ? -1 : BOUNCE_LOAD_OK;
}

/*
 * A damaged log: recipients the queue file marks bounced but the log does
 * not name get a generic result, so the sender still hears about them.
 * The address is not known from the offset alone; read the file again.
 */
static int bounce_fill_damaged(struct bounce_info *bi, const char *log,
                               struct buf *err)
{
    struct qf_reader *r;
    struct buf *data;
    struct rec_rcpt rc;
    size_t cap = bi->st_count;
    int want =
        strcmp(log, QF_LOG_BOUNCE) == 0 ? REC_RCPT_BOUNCED : REC_RCPT_PENDING;
    int type;
    int ret = 0;

    if ((r = qf_open(bi->queue, bi->id, 0)) == NULL) {
        buf_set(err, qf_error());
        return -1;
    }
    data = buf_new(256);
    rec_rcpt_init(&rc);
    while ((type = qf_read(r, data)) > 0) {
        size_t i;
        struct rec_status st;

        if (type == REC_MESSAGE && qf_skip_content(r) < 0) {
            type = -1;
            break;
        }
        if (type != REC_RCPT
            || rec_rcpt_parse(buf_str(data), buf_len(data), &rc) < 0
            || rc.status != want)
            continue;
        for (i = 0; i < bi->st_count; i++)
            if (bi->st[i].rcpt_offset == qf_offset(r))
                break;
        if (i < bi->st_count)
            continue;
        rec_status_init(&st);
        st.action =
            want == REC_RCPT_BOUNCED ? REC_ACTION_BOUNCED : REC_ACTION_DEFERRED;
        st.notify = rc.notify;
        st.rcpt_offset = qf_offset(r);
        st.time_us = (long long) time(NULL) * 1000000;
        buf_append(st.addr, buf_str(rc.addr), buf_len(rc.addr));
        buf_append(st.orig, buf_str(rc.orig), buf_len(rc.orig));
        buf_append(st.orcpt, buf_str(rc.orcpt), buf_len(rc.orcpt));
        buf_set(st.dsn, want == REC_RCPT_BOUNCED ? "5.0.0" : "4.0.0");
        buf_set(st.relay, "none");
        buf_set(st.reason, "delivery status unknown (the status log is "
                           "damaged)");
        if (bi->st_count == cap) {
            cap = cap ? 2 * cap : 16;
            bi->st = mem_realloc(bi->st, cap * sizeof(*bi->st));
        }
        bi->st[bi->st_count++] = st;
    }
    if (type < 0) {
        buf_set(err, qf_error());
        ret = -1;
    }
    rec_rcpt_free(&rc);
    buf_free(data);
    qf_close(r);
    return ret;
}

int bounce_info_load(struct bounce_info *bi, const char *queue, const char *id,
                     const char *log, struct buf *err)
{
    int ret;

    buf_set(err, "");
    bi->queue = mem_strdup(queue);
    bi->id = mem_strdup(id);
    if ((ret = bounce_load_log(bi, log, id, err)) != BOUNCE_LOAD_OK)
        return ret;
    if ((ret = bounce_load_envelope(bi, queue, id, err)) != BOUNCE_LOAD_OK)
        return ret;
    if (bi->log_damaged && bounce_fill_damaged(bi, log, err) < 0)
        return -1;
    return BOUNCE_LOAD_OK;
}

/* ---- who gets what ------------------------------------------------------ */

int bounce_is_notice(const struct bounce_info *bi)
{
    return buf_len(bi->sender) == 0 || (bi->flags & REC_FLAG_BOUNCE) != 0;
}

int bounce_is_postmaster_notice(const struct bounce_info *bi)
{
    const char *sender = buf_str(bi->sender);
    size_t dlen = strlen(var_double_bounce_sender);

    if (strcmp(buf_str(bi->notice), "2bounce") == 0
        || strcmp(buf_str(bi->notice), "postmaster") == 0)
        return 1;
    if (dlen == 0 || strncasecmp(sender, var_double_bounce_sender, dlen) != 0)
        return 0;
    if (sender[dlen] == 0)
        return 1;
    return sender[dlen] == '@' && strchr(var_double_bounce_sender, '@') == NULL
           && strcasecmp(sender + dlen + 1, var_myorigin) == 0;
}

/* Is the queue file's recipient at OFFSET still to be delivered? */
static int bounce_rcpt_pending(const struct bounce_info *bi, long long offset)
{
    size_t lo = 0, hi = bi->rcpt_count;

    if (offset < 0)
        return 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (bi->rcpts[mid].offset == offset)
            return bi->rcpts[mid].status == REC_RCPT_PENDING;
        if (bi->rcpts[mid].offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 1;
}

int bounce_wanted(const struct bounce_info *bi, size_t i, enum bounce_kind kind)
{
    const struct rec_status *st = &bi->st[i];
    int notify = st->notify & REC_NOTIFY_MASK;

    switch (kind) {
    case BOUNCE_FAILED:
        return st->action == REC_ACTION_BOUNCED
               && (notify == 0 || (notify & REC_NOTIFY_FAILURE));
    case BOUNCE_PM_FAILED:
        return st->action == REC_ACTION_BOUNCED;
    case BOUNCE_DELAYED:
        return st->action == REC_ACTION_DEFERRED
               && (notify == 0 || (notify & REC_NOTIFY_DELAY))
               && bounce_rcpt_pending(bi, st->rcpt_offset);
    case BOUNCE_PM_DELAYED:
        return st->action == REC_ACTION_DEFERRED
               && bounce_rcpt_pending(bi, st->rcpt_offset);
    }
    return 0;
}

size_t bounce_count(const struct bounce_info *bi, enum bounce_kind kind)
{
    size_t i, n = 0;

    for (i = 0; i < bi->st_count; i++)
        n += bounce_wanted(bi, i, kind) != 0;
    return n;
}

/* ---- composing ---------------------------------------------------------- */

struct bounce_out {
    const struct bounce_sink *sink;
    struct buf *line;
    int failed;
};

static int bounce_emit(struct bounce_out *o, const char *data, size_t len,
                       int partial)
{
    if (o->failed)
        return -1;
    if (o->sink->text(o->sink->ctx, data, len, partial) < 0)
        o->failed = 1;
    return o->failed ? -1 : 0;
}

static int bounce_put(struct bounce_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int bounce_put(struct bounce_out *o, const char *fmt, ...)
{
    va_list ap;

    buf_reset(o->line);
    va_start(ap, fmt);
    buf_vprintf(o->line, fmt, ap);
    va_end(ap);
    return bounce_emit(o, buf_str(o->line), buf_len(o->line), 0);
}

void bounce_date(struct buf *out, time_t t)
{
    struct tm tm;
    char text[64];

    if (localtime_r(&t, &tm) == NULL
        || strftime(text, sizeof(text), "%a, %e %b %Y %H:%M:%S %z", &tm) == 0)
        snprintf(text, sizeof(text), "Thu, 1 Jan 1970 00:00:00 +0000");
    /* "%e" pads the day with a space; one space is enough. */
    if (text[5] == ' ')
        memmove(text + 5, text + 6, strlen(text + 6) + 1);
    buf_puts(out, text);
}

/*
 * Append a printable form of TEXT for a notice: controls become '?',
 * bytes above 127 too unless KEEP8 (addresses may be UTF-8), and the
 * result is cut at BOUNCE_REASON_MAX bytes.
 */
static void bounce_clean(struct buf *out, const char *text, size_t len,
                         int keep8)
{
    size_t i;

    if (len > BOUNCE_REASON_MAX)
        len = BOUNCE_REASON_MAX;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text[i];

        if (c < 32 || c == 127 || (c > 127 && !keep8))
            c = '?';
        buf_putc(out, c);
    }
}

static int bounce_has8(const char *text, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char) text[i] > 127)
            return 1;
    return 0;
}

/* Characters allowed in a MIME boundary (RFC 2046 bcharsnospace). */
static int bounce_bchar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || strchr("'()+_,-./:=?", c) != NULL;
}

/* "dns; HOST" from a relay "host[addr]:port", or 0 when not a host. */
static int bounce_remote_mta(struct buf *out, const struct rec_status *st)
{
    const char *relay = buf_str(st->relay);
    const char *end = strchr(relay, '[');

    if (end == NULL || end == relay)
        return 0;
    buf_puts(out, "dns; ");
    bounce_clean(out, relay, (size_t) (end - relay), 0);
    return 1;
}

/*
 * The remote server's reply in a reason "host H[A] said: 550 ... (in
 * reply to RCPT TO command)": set *TEXT and *LEN to "550 ...", or 0.
 */
static int bounce_remote_reply(const struct rec_status *st, const char **text,
                               size_t *len)
{
    const char *reason = buf_str(st->reason);
    const char *said = strstr(reason, " said: ");
    const char *end;
    const char *tail;

    if (strncmp(reason, "host ", 5) != 0 || said == NULL)
        return 0;
    *text = said + 7;
    end = *text + strlen(*text);
    if ((tail = strstr(*text, " (in reply to ")) != NULL && end - tail > 9
        && strcmp(end - 9, " command)") == 0)
        end = tail;
    *len = (size_t) (end - *text);
    return *len > 0;
}

/* The relative time of a delay ("4 hours", "5 days") for the text part. */
static void bounce_duration(struct buf *out, long secs)
{
    if (secs >= 2 * 86400)
        buf_printf(out, "%ld days", secs / 86400);
    else if (secs >= 2 * 3600)
        buf_printf(out, "%ld hours", secs / 3600);
    else if (secs >= 2 * 60)
        buf_printf(out, "%ld minutes", secs / 60);
    else
        buf_printf(out, "%ld seconds", secs > 0 ? secs : 0);
}

static int bounce_is_delay(enum bounce_kind kind)
{
    return kind == BOUNCE_DELAYED || kind == BOUNCE_PM_DELAYED;
}

static int bounce_is_pm(enum bounce_kind kind)
{
    return kind == BOUNCE_PM_FAILED || kind == BOUNCE_PM_DELAYED;
}

static long bounce_lifetime(const struct bounce_info *bi)
{
    return bounce_is_notice(bi) ? var_bounce_queue_lifetime
                                : var_maximal_queue_lifetime;
}

static void bounce_quote(struct buf *out, const char *addr)
{
    addr_quote(out, addr, strlen(addr));
}

/* The explanation in the first part. */
static void bounce_text_intro(struct bounce_out *o,
                              const struct bounce_info *bi,
                              enum bounce_kind kind, time_t now)
{
    struct buf *b = buf_new(128);
    long long arrival = bi->arrival_us / 1000000;

    bounce_put(o, "This is the mail delivery system at host %s.",
               var_myhostname);
    bounce_put(o, "%s", "");
    switch (kind) {
    case BOUNCE_FAILED:
        bounce_put(o, "Your message could not be delivered to one or more "
                      "of its recipients,");
        bounce_put(o, "and the mail system has given up on them. The reasons "
                      "are listed below;");
        bounce_put(o, "your message is attached after the delivery report.");
        bounce_put(o, "%s", "");
        bounce_put(o, "If you ask the postmaster for help, please include "
                      "this notice. You may");
        bounce_put(o, "remove your own text from the attached message.");
        break;
    case BOUNCE_DELAYED:
        bounce_put(o, "This is only a warning: there is no need to send your "
                      "message again.");
        bounce_put(o, "%s", "");
        bounce_put(o, "Your message could not be delivered yet to the "
                      "recipients listed below.");
        buf_reset(b);
        bounce_duration(
            b, (long) (arrival + bounce_lifetime(bi) - (long long) now));
        bounce_put(o,
                   "The mail system keeps trying for up to %s more; if it "
                   "still fails",
                   buf_str(b));
        bounce_put(o, "by then, you will get a notice saying so.");
        break;
    case BOUNCE_PM_FAILED:
    case BOUNCE_PM_DELAYED:
        buf_reset(b);
        if (buf_len(bi->sender) == 0)
            buf_puts(b, "the null sender <>");
        else {
            buf_putc(b, '<');
            bounce_clean(b, buf_str(bi->sender), buf_len(bi->sender), 1);
            buf_putc(b, '>');
        }
        bounce_put(o, "This copy for the postmaster is about message %s from",
                   bi->id);
        bounce_put(o, "%s.", buf_str(b));
        if (kind == BOUNCE_PM_DELAYED)
            bounce_put(o, "Its delivery to the recipients below is delayed.");
        else if (bounce_is_notice(bi))
            bounce_put(o, "That message is itself a notice and could not be "
                          "delivered; it is not returned.");
        else
            bounce_put(o, "It could not be delivered to the recipients below.");
        bounce_put(o, "The message headers are attached after the delivery "
                      "report.");
        break;
    }
    bounce_put(o, "%s", "");
    bounce_put(o, "%*s%s", 20, "", "The mail system");
    bounce_put(o, "%s", "");
    buf_free(b);
}

static void bounce_text_rcpts(struct bounce_out *o,
                              const struct bounce_info *bi,
                              enum bounce_kind kind)
{
    struct buf *b = buf_new(256);
    size_t i;

    for (i = 0; i < bi->st_count; i++) {
        const struct rec_status *st = &bi->st[i];

        if (!bounce_wanted(bi, i, kind))
            continue;
        buf_set(b, "<");
        bounce_clean(b, buf_str(st->addr), buf_len(st->addr), 1);
        buf_putc(b, '>');
        if (buf_len(st->orig) > 0
            && strcmp(buf_str(st->orig), buf_str(st->addr))) {
            buf_puts(b, " (expanded from <");
            bounce_clean(b, buf_str(st->orig), buf_len(st->orig), 1);
            buf_puts(b, ">)");
        }
        buf_puts(b, ": ");
        bounce_clean(b, buf_str(st->reason), buf_len(st->reason), 0);
        bounce_emit(o, buf_str(b), buf_len(b), 0);
        bounce_put(o, "%s", "");
    }
    buf_free(b);
}

/* A DSN status code "X.Y.Z", or the default for the kind of result. */
static void bounce_status_code(struct buf *out, const struct rec_status *st)
{
    const char *p = buf_str(st->dsn);
    int ok = (p[0] == '2' || p[0] == '4' || p[0] == '5') && p[1] == '.';
    int part, n;

    for (p += 2, part = 0; ok && part < 2; part++) {
        for (n = 0; p[n] >= '0' && p[n] <= '9'; n++)
            ;
        ok = n >= 1 && n <= 3 && p[n] == (part == 0 ? '.' : '\0');
        p += n + 1;
    }
    if (ok)
        buf_puts(out, buf_str(st->dsn));
    else
        buf_puts(out, st->action == REC_ACTION_DEFERRED ? "4.0.0" : "5.0.0");
}

/* "rfc822; ADDR", or "utf-8; ADDR" for an address with 8-bit bytes. */
static void bounce_typed_addr(struct buf *out, const char *addr, size_t len)
{
    buf_puts(out, bounce_has8(addr, len) ? "utf-8; " : "rfc822; ");
    bounce_clean(out, addr, len, 1);
}

static void bounce_report(struct bounce_out *o, const struct bounce_info *bi,
                          enum bounce_kind kind)
{
    struct buf *b = buf_new(256);
    const char *text;
    size_t len, i;

    bounce_put(o, "Reporting-MTA: dns; %s", var_myhostname);
    bounce_put(o, "X-Postern-Queue-ID: %s", bi->id);
    buf_reset(b);
    bounce_typed_addr(b, buf_str(bi->sender), buf_len(bi->sender));
    bounce_put(o, "X-Postern-Sender: %s", buf_str(b));
    if (buf_len(bi->envid) > 0) {
        buf_reset(b);
        bounce_clean(b, buf_str(bi->envid), buf_len(bi->envid), 0);
        bounce_put(o, "Original-Envelope-Id: %s", buf_str(b));
    }
    buf_reset(b);
    bounce_date(b, (time_t) (bi->arrival_us / 1000000));
    bounce_put(o, "Arrival-Date: %s", buf_str(b));
    for (i = 0; i < bi->st_count; i++) {
        const struct rec_status *st = &bi->st[i];
        const char *orcpt = buf_str(st->orcpt);
        const char *semi = strchr(orcpt, ';');

        if (!bounce_wanted(bi, i, kind))
            continue;
        bounce_put(o, "%s", "");
        buf_reset(b);
        bounce_typed_addr(b, buf_str(st->addr), buf_len(st->addr));
        bounce_put(o, "Final-Recipient: %s", buf_str(b));
        if (semi != NULL && semi > orcpt) {
            buf_reset(b);
            bounce_clean(b, orcpt, (size_t) (semi - orcpt), 0);
            buf_puts(b, ";");
            bounce_clean(b, semi + 1, strlen(semi + 1), 1);
            bounce_put(o, "Original-Recipient: %s", buf_str(b));
        }
        bounce_put(o, "Action: %s",
                   st->action == REC_ACTION_DEFERRED ? "delayed" : "failed");
        buf_reset(b);
        bounce_status_code(b, st);
        bounce_put(o, "Status: %s", buf_str(b));
        buf_reset(b);
        if (bounce_remote_mta(b, st))
            bounce_put(o, "Remote-MTA: %s", buf_str(b));
        buf_reset(b);
        if (bounce_remote_reply(st, &text, &len)) {
            buf_puts(b, "smtp; ");
            bounce_clean(b, text, len, 0);
        } else if (buf_len(st->reason) > 0) {
            buf_puts(b, "X-Postern; ");
            bounce_clean(b, buf_str(st->reason), buf_len(st->reason), 0);
        }
        if (buf_len(b) > 0)
            bounce_put(o, "Diagnostic-Code: %s", buf_str(b));
        if (st->action == REC_ACTION_DEFERRED) {
            if (st->time_us > 0) {
                buf_reset(b);
                bounce_date(b, (time_t) (st->time_us / 1000000));
                bounce_put(o, "Last-Attempt-Date: %s", buf_str(b));
            }
            buf_reset(b);
            bounce_date(
                b, (time_t) (bi->arrival_us / 1000000 + bounce_lifetime(bi)));
            bounce_put(o, "Will-Retry-Until: %s", buf_str(b));
        }
    }
    buf_free(b);
}

/*
 * Go over the original's content. EMIT 0: only find out whether it has
 * 8-bit bytes (*EIGHT). HEADERS_ONLY: stop at the body. Otherwise cut the
 * body once bounce_size_limit bytes were passed on.
 */
static int bounce_original(struct bounce_out *o, const struct bounce_info *bi,
                           int headers_only, int emit, int *eight,
                           struct buf *err)
{
    struct qf_reader *r = qf_open(bi->queue, bi->id, 0);
    struct buf *data;
    long long body_offset;
    long long total = 0;
    int in_piece = 0;
    int type = 0;
    int ret = 0;

    if (r == NULL) {
        buf_set(err, qf_error());
        return -1;
    }
    body_offset = qf_size(r)->body_offset;
    data = buf_new(1024);
    if (qf_seek_content(r) < 0 || qf_read(r, data) != REC_MESSAGE) {
        buf_set(err, qf_error());
        ret = -1;
    }
    while (ret == 0 && (type = qf_read(r, data)) > 0) {
        long long add = (long long) buf_len(data) + (type == REC_LINE);
        int in_body = body_offset > 0 && qf_offset(r) >= body_offset;

        if (type != REC_LINE && type != REC_PIECE)
            break;
        if (in_body
            && (headers_only
                || total + add > (long long) var_bounce_size_limit))
            break;
        /* The empty line that ends the headers is not part of them. */
        if (headers_only && type == REC_LINE && buf_len(data) == 0 && !in_piece)
            break;
        total += add;
        if (!emit) {
            if (bounce_has8(buf_str(data), buf_len(data))) {
                *eight = 1;
                break;
            }
        } else if (bounce_emit(o, buf_str(data), buf_len(data),
                               type == REC_PIECE)
                   < 0) {
            ret = -1;
        }
        in_piece = type == REC_PIECE;
    }
    if (ret == 0 && type < 0) {
        buf_set(err, qf_error());
        ret = -1;
    }
    /* A long line cut in the middle still ends. */
    if (ret == 0 && emit && in_piece && bounce_emit(o, "", 0, 0) < 0)
        ret = -1;
    buf_free(data);
    qf_close(r);
    return ret;
}

int bounce_compose(const struct bounce_info *bi, enum bounce_kind kind,
                   const char *to, const char *new_id, time_t now,
                   const struct bounce_sink *sink, struct buf *err)
{
    struct bounce_out o = {sink, buf_new(256), 0};
    struct buf *b = buf_new(256);
    struct buf *boundary = buf_new(64);
    int headers_only = bounce_is_pm(kind) || bounce_is_delay(kind)
                       || bi->dsn_ret == REC_DSN_RET_HDRS;
    int orig8 = 0;
    int text8 = bounce_has8(buf_str(bi->sender), buf_len(bi->sender));
    const char *p;
    struct tm tm;
    char stamp[32];
    size_t i;
    int ret = -1;

    buf_set(err, "");
    for (i = 0; i < bi->st_count; i++)
        if (bounce_wanted(bi, i, kind)
            && (bounce_has8(buf_str(bi->st[i].addr), buf_len(bi->st[i].addr))
                || bounce_has8(buf_str(bi->st[i].orig), buf_len(bi->st[i].orig))
                || bounce_has8(buf_str(bi->st[i].orcpt),
                               buf_len(bi->st[i].orcpt))))
            text8 = 1;
    if (bounce_original(&o, bi, headers_only, 0, &orig8, err) < 0)
        goto done;

    /* The unique boundary: original ID, time, host. */
    buf_printf(boundary, "%s.%lld/", bi->id, (long long) now);
    for (p = var_myhostname; *p; p++)
        buf_putc(boundary, bounce_bchar((unsigned char) *p) ? *p : '_');

    buf_set(b, "");
    bounce_date(b, now);
    bounce_put(&o, "Date: %s", buf_str(b));
    if (strcmp(var_header_from_format, "obsolete") == 0)
        bounce_put(&o, "From: MAILER-DAEMON@%s (Mail Delivery System)",
                   var_myhostname);
    else
        bounce_put(&o, "From: Mail Delivery System <MAILER-DAEMON@%s>",
                   var_myhostname);
    switch (kind) {
    case BOUNCE_FAILED:
        bounce_put(&o, "Subject: Undelivered Mail Returned to Sender");
        break;
    case BOUNCE_DELAYED:
        bounce_put(&o, "Subject: Delayed Mail (still being retried)");
        break;
    case BOUNCE_PM_FAILED:
        bounce_put(&o, "Subject: Postmaster Copy: Undelivered Mail");
        break;
    case BOUNCE_PM_DELAYED:
        bounce_put(&o, "Subject: Postmaster Warning: Delayed Mail");
        break;
    }
    buf_reset(b);
    bounce_quote(b, to);
    buf_reset(o.line);
    buf_puts(o.line, "To: ");
    bounce_clean(o.line, buf_str(b), buf_len(b), 1);
    bounce_emit(&o, buf_str(o.line), buf_len(o.line), 0);
    bounce_put(&o, "Auto-Submitted: auto-replied");
    if (localtime_r(&now, &tm) == NULL
        || strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0)
        snprintf(stamp, sizeof(stamp), "%lld", (long long) now);
    bounce_put(&o, "Message-Id: <%s.%s@%s>", stamp, new_id, var_myhostname);
    bounce_put(&o, "MIME-Version: 1.0");
    bounce_put(&o, "Content-Type: multipart/report; "
                   "report-type=delivery-status;");
    bounce_put(&o, "\tboundary=\"%s\"", buf_str(boundary));
    if (orig8 || text8)
        bounce_put(&o, "Content-Transfer-Encoding: 8bit");
    bounce_put(&o, "%s", "");
    bounce_put(&o, "This is a MIME-encapsulated message.");
    bounce_put(&o, "%s", "");

    /* 1: the explanation. */
    bounce_put(&o, "--%s", buf_str(boundary));
    bounce_put(&o, "Content-Description: Notification");
    bounce_put(&o, "Content-Type: text/plain; charset=%s",
               text8 ? "utf-8" : "us-ascii");
    if (text8)
        bounce_put(&o, "Content-Transfer-Encoding: 8bit");
    bounce_put(&o, "%s", "");
    bounce_text_intro(&o, bi, kind, now);
    bounce_text_rcpts(&o, bi, kind);

    /* 2: the delivery report. */
    bounce_put(&o, "--%s", buf_str(boundary));
    bounce_put(&o, "Content-Description: %s",
               bounce_is_delay(kind) ? "Delivery delay report"
                                     : "Delivery report");
    bounce_put(&o, "Content-Type: message/delivery-status");
    if (text8)
        bounce_put(&o, "Content-Transfer-Encoding: 8bit");
    bounce_put(&o, "%s", "");
    bounce_report(&o, bi, kind);
    bounce_put(&o, "%s", "");

    /* 3: the original, or its headers. */
    bounce_put(&o, "--%s", buf_str(boundary));
    if (headers_only) {
        bounce_put(&o, "Content-Description: %s",
                   bounce_is_delay(kind) ? "Delayed Message Headers"
                                         : "Undelivered Message Headers");
        bounce_put(&o, "Content-Type: text/rfc822-headers");
    } else {
        bounce_put(&o, "Content-Description: Undelivered Message");
        bounce_put(&o, "Content-Type: message/rfc822");
    }
    if (orig8)
        bounce_put(&o, "Content-Transfer-Encoding: 8bit");
    bounce_put(&o, "%s", "");
    if (o.failed || bounce_original(&o, bi, headers_only, 1, &orig8, err) < 0)
        goto done;
    bounce_put(&o, "%s", "");
    bounce_put(&o, "--%s--", buf_str(boundary));
    ret = o.failed ? -1 : 0;

done:
    if (ret < 0 && buf_len(err) == 0)
        buf_set(err, "cannot write the notice");
    buf_free(o.line);
    buf_free(b);
    buf_free(boundary);
    return ret;
}
