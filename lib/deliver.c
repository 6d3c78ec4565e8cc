/*
 * deliver.c - the delivery request between qmgr and a delivery agent, and
 * the agent's side of it (see deliver.h for the protocol).
 *
 * qmgr encodes requests and parses results in memory (it never blocks on
 * an agent); an agent reads its request from a stream, reports each
 * recipient with deliver_report (which logs Postfix's delivery line and
 * makes the result durable before qmgr hears of it) and ends with
 * deliver_agent_finish.
 *
 * Errors: -1 with a one-line reason in ERR or deliver_error(); nothing
 * here exits. A result for a recipient that already has one is a panic
 * (the agent's bug).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "buf.h"
#include "deliver.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"
#include "str.h"
#include "stream.h"

/* Most recipients one request may carry (a bound on a peer's count). */
#define DELIVER_RCPT_MAX 100000

static struct buf *deliver_why;

static int deliver_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int deliver_fail(const char *fmt, ...)
{
    va_list ap;

    if (deliver_why == NULL)
        deliver_why = buf_new(128);
    buf_reset(deliver_why);
    va_start(ap, fmt);
    buf_vprintf(deliver_why, fmt, ap);
    va_end(ap);
    return -1;
}

const char *deliver_error(void)
{
    return deliver_why ? buf_str(deliver_why) : "";
}

long long deliver_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long) ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* ---- the request ------------------------------------------------------ */

void deliver_request_init(struct deliver_request *req)
{
    memset(req, 0, sizeof(*req));
    req->queue_name = buf_new(16);
    req->queue_id = buf_new(16);
    req->nexthop = buf_new(32);
    req->sender = buf_new(32);
    req->dsn_envid = buf_new(0);
}

static void deliver_rcpt_free(struct deliver_rcpt *r)
{
    buf_free(r->address);
    buf_free(r->orig_rcpt);
    buf_free(r->orcpt);
}

void deliver_request_free(struct deliver_request *req)
{
    size_t i;

    buf_free(req->queue_name);
    buf_free(req->queue_id);
    buf_free(req->nexthop);
    buf_free(req->sender);
    buf_free(req->dsn_envid);
    for (i = 0; i < req->rcpt_count; i++)
        deliver_rcpt_free(&req->rcpts[i]);
    mem_free(req->rcpts);
    memset(req, 0, sizeof(*req));
}

void deliver_request_add_rcpt(struct deliver_request *req, const char *address,
                              const char *orig_rcpt, const char *orcpt,
                              int notify, long long offset)
{
    struct deliver_rcpt *r;

    req->rcpts =
        mem_realloc(req->rcpts, (req->rcpt_count + 1) * sizeof(*req->rcpts));
    r = &req->rcpts[req->rcpt_count++];
    memset(r, 0, sizeof(*r));
    r->address = buf_new(0);
    r->orig_rcpt = buf_new(0);
    r->orcpt = buf_new(0);
    buf_set(r->address, address);
    buf_set(r->orig_rcpt, orig_rcpt ? orig_rcpt : "");
    buf_set(r->orcpt, orcpt ? orcpt : "");
    r->notify = notify;
    r->offset = offset;
}

void deliver_request_encode(struct buf *out, const struct deliver_request *req)
{
    size_t i;

    attr_build(out, 0, ATTR_PUT_STR("queue_name", buf_str(req->queue_name)),
               ATTR_PUT_STR("queue_id", buf_str(req->queue_id)),
               ATTR_PUT_STR("nexthop", buf_str(req->nexthop)),
               ATTR_PUT_STR("sender", buf_str(req->sender)),
               ATTR_PUT_INT("flags", req->flags),
               ATTR_PUT_STR("dsn_envid", buf_str(req->dsn_envid)),
               ATTR_PUT_INT("dsn_ret", req->dsn_ret),
               ATTR_PUT_LONG("arrival_time", (long) req->arrival_us),
               ATTR_PUT_LONG("active_time", (long) req->active_us),
               ATTR_PUT_LONG("request_time", (long) req->request_us),
               ATTR_PUT_INT("rcpt_count", (int) req->rcpt_count), ATTR_END);
    for (i = 0; i < req->rcpt_count; i++) {
        const struct deliver_rcpt *r = &req->rcpts[i];

        attr_build(out, 0, ATTR_PUT_STR("address", buf_str(r->address)),
                   ATTR_PUT_STR("orig_rcpt", buf_str(r->orig_rcpt)),
                   ATTR_PUT_STR("orcpt", buf_str(r->orcpt)),
                   ATTR_PUT_INT("notify", r->notify),
                   ATTR_PUT_LONG("offset", (long) r->offset), ATTR_END);
    }
}

static int deliver_action_ok(int action)
{
    return action == REC_ACTION_DELIVERED || action == REC_ACTION_RELAYED
           || action == REC_ACTION_EXPANDED || action == REC_ACTION_DEFERRED
           || action == REC_ACTION_BOUNCED;
}

int deliver_result_parse(const void *data, size_t len, int *final, int *index,
                         int *action, struct buf *dsn, struct buf *reason)
{
    int status;

    if (attr_parse(data, len, 0, ATTR_GET_INT("status", &status), ATTR_END)
        == 1) {
        *final = 1;
        return 0;
    }
    if (attr_parse(data, len, 0, ATTR_GET_INT("index", index),
                   ATTR_GET_INT("action", action), ATTR_GET_STR("dsn", dsn),
                   ATTR_GET_STR("reason", reason), ATTR_END)
        < 0)
        return deliver_fail("bad result: %s", attr_error());
    if (*index < 0)
        return deliver_fail("bad result: negative recipient index %d", *index);
    if (!deliver_action_ok(*action))
        return deliver_fail("bad result: unknown action %d", *action);
    *final = 0;
    return 0;
}

/* ---- the delivery log line ----------------------------------------------- */

/* A delay in seconds the way Postfix shows it: "0.39", "0", "12", "1.5". */
static void deliver_fmt_delay(struct buf *out, long long us)
{
    int digits = var_delay_logging_resolution_limit;
    double secs;
    char num[64];
    size_t n;

    if (us < 0)
        us = 0;
    secs = (double) us / 1e6;
    if (secs >= 100)
        digits = 0;
    else if (secs >= 10 && digits > 1)
        digits = 1;
    snprintf(num, sizeof(num), "%.*f", digits, secs);
    n = strlen(num);
    if (strchr(num, '.')) {
        while (n > 0 && num[n - 1] == '0')
            num[--n] = 0;
        if (n > 0 && num[n - 1] == '.')
            num[--n] = 0;
    }
    buf_puts(out, num);
}

static const char *deliver_status_word(int action)
{
    switch (action) {
    case REC_ACTION_DELIVERED:
    case REC_ACTION_RELAYED:
        return "sent";
    case REC_ACTION_EXPANDED:
        return "expanded";
    case REC_ACTION_DEFERRED:
        return "deferred";
    default:
        return "bounced";
    }
}

void deliver_log_status(const char *queue_id, const char *rcpt,
                        const char *orig, const char *relay,
                        long long arrival_us, long long active_us,
                        long long request_us, long long connected_us,
                        int action, const char *dsn, const char *reason)
{
    long long now = deliver_now_us();
    struct buf *line = buf_new(256);

    if (connected_us <= 0)
        connected_us = request_us;
    if (active_us <= 0)
        active_us = arrival_us;
    if (request_us <= 0)
        request_us = active_us;
    buf_puts(line, "to=<");
    str_printable(line, rcpt, strlen(rcpt));
    buf_puts(line, ">");
    if (orig && *orig && strcmp(orig, rcpt) != 0) {
        buf_puts(line, ", orig_to=<");
        str_printable(line, orig, strlen(orig));
        buf_puts(line, ">");
    }
    buf_puts(line, ", relay=");
    str_printable(line, relay, strlen(relay));
    buf_puts(line, ", delay=");
    deliver_fmt_delay(line, now - arrival_us);
    buf_puts(line, ", delays=");
    deliver_fmt_delay(line, active_us - arrival_us);
    buf_putc(line, '/');
    deliver_fmt_delay(line, request_us - active_us);
    buf_putc(line, '/');
    deliver_fmt_delay(line, connected_us - request_us);
    buf_putc(line, '/');
    deliver_fmt_delay(line, now - connected_us);
    buf_puts(line, ", dsn=");
    str_printable(line, dsn, strlen(dsn));
    buf_printf(line, ", status=%s (", deliver_status_word(action));
    str_printable(line, reason, strlen(reason));
    buf_putc(line, ')');
    msg_info("%s: %s", queue_id, buf_str(line));
    buf_free(line);
}

/* ---- the agent ---------------------------------------------------------- */

struct deliver_agent {
    struct stream *s;
    struct deliver_request req;
    struct qf_reader *qf;
    int lock_fd; /* shared lock: qmgr sees the file is being delivered */
    long long connected_us;
    int reply_failed; /* qmgr went away: stop writing to it */
};

/* "4.1.1" from "5.1.1": the same detail as a temporary failure. */
static void deliver_soft_dsn(struct buf *dsn)
{
    if (buf_len(dsn) > 0 && buf_str(dsn)[0] == '5')
        buf_str(dsn)[0] = '4';
}

static int deliver_valid_dsn(const char *dsn)
{
    /* class.subject.detail, class 2, 4 or 5; 1-3 digits each. */
    const char *p = dsn;
    int part;

    if (*p != '2' && *p != '4' && *p != '5')
        return 0;
    p++;
    for (part = 0; part < 2; part++) {
        int n = 0;

        if (*p++ != '.')
            return 0;
        while (*p >= '0' && *p <= '9' && n < 3) {
            p++;
            n++;
        }
        if (n == 0)
            return 0;
    }
    return *p == 0;
}

struct deliver_agent *deliver_agent_open(struct stream *s, struct buf *err)
{
    struct deliver_agent *a = mem_calloc(1, sizeof(*a));
    struct deliver_request *req = &a->req;
    struct buf *addr = buf_new(64);
    struct buf *orig = buf_new(64);
    struct buf *orcpt = buf_new(0);
    struct buf *path = buf_new(64);
    long arrival = 0;
    long active = 0;
    long request = 0;
    long offset = 0;
    int count = 0;
    int notify = 0;
    int i;

    a->s = s;
    a->lock_fd = -1;
    deliver_request_init(req);
    if (attr_scan(s, ATTR_FLAG_FOLLOW,
                  ATTR_GET_STR("queue_name", req->queue_name),
                  ATTR_GET_STR("queue_id", req->queue_id),
                  ATTR_GET_STR("nexthop", req->nexthop),
                  ATTR_GET_STR("sender", req->sender),
                  ATTR_GET_INT("flags", &req->flags),
                  ATTR_GET_STR("dsn_envid", req->dsn_envid),
                  ATTR_GET_INT("dsn_ret", &req->dsn_ret),
                  ATTR_GET_LONG("arrival_time", &arrival),
                  ATTR_GET_LONG("active_time", &active),
                  ATTR_GET_LONG("request_time", &request),
                  ATTR_GET_INT("rcpt_count", &count), ATTR_END)
        < 0) {
        buf_setf(err, "bad delivery request: %s", attr_error());
        goto bad;
    }
    req->arrival_us = arrival;
    req->active_us = active;
    req->request_us = request;
    if (!qf_queue_known(buf_str(req->queue_name))
        || strcmp(buf_str(req->queue_name), QF_LOG_BOUNCE) == 0
        || strcmp(buf_str(req->queue_name), QF_LOG_DEFER) == 0
        || strcmp(buf_str(req->queue_name), QF_LOG_TRACE) == 0) {
        buf_setf(err, "bad delivery request: unknown queue name");
        goto bad;
    }
    if (!qf_name_valid(buf_str(req->queue_id))) {
        buf_setf(err, "bad delivery request: bad queue id");
        goto bad;
    }
    if (count < 1 || count > DELIVER_RCPT_MAX) {
        buf_setf(err, "bad delivery request: recipient count %d", count);
        goto bad;
    }
    for (i = 0; i < count; i++) {
        if (attr_scan(
                s, i + 1 < count ? ATTR_FLAG_FOLLOW : 0,
                ATTR_GET_STR("address", addr), ATTR_GET_STR("orig_rcpt", orig),
                ATTR_GET_STR("orcpt", orcpt), ATTR_GET_INT("notify", &notify),
                ATTR_GET_LONG("offset", &offset), ATTR_END)
            < 0) {
            buf_setf(err, "bad delivery request: recipient %d: %s", i,
                     attr_error());
            goto bad;
        }
        if (buf_len(addr) == 0 || offset <= 0) {
            buf_setf(err,
                     "bad delivery request: recipient %d: empty address "
                     "or bad offset",
                     i);
            goto bad;
        }
        deliver_request_add_rcpt(req, buf_str(addr), buf_str(orig),
                                 buf_str(orcpt), notify & REC_NOTIFY_MASK,
                                 offset);
    }
    a->qf =
        qf_open(buf_str(req->queue_name), buf_str(req->queue_id), QF_OPEN_RDWR);
    if (a->qf == NULL) {
        buf_setf(err, "%s: %s", buf_str(req->queue_id), qf_error());
        goto bad;
    }
    /* Tell a restarted qmgr that this file is being delivered right now. */
    qf_path(path, buf_str(req->queue_name), buf_str(req->queue_id));
    a->lock_fd = open(buf_str(path), O_RDONLY | O_CLOEXEC);
    if (a->lock_fd >= 0)
        (void) flock(a->lock_fd, LOCK_SH);
    /*
     * A qmgr that died before we held the lock may have a successor that
     * found the file unlocked and sent it to another agent: delivering
     * now could deliver twice. Its socket shows the death (qmgr sends
     * nothing after the request, so any input, end of file included,
     * means it is gone): give the request up; the new qmgr owns the
     * message. A qmgr dying after this point finds the lock.
     */
    if (stream_input_ready(s, 0) == 1) {
        buf_setf(err, "%s: the queue manager went away before delivery",
                 buf_str(req->queue_id));
        goto bad;
    }
    buf_free(addr);
    buf_free(orig);
    buf_free(orcpt);
    buf_free(path);
    return a;

bad:
    buf_free(addr);
    buf_free(orig);
    buf_free(orcpt);
    buf_free(path);
    deliver_request_free(req);
    mem_free(a);
    return NULL;
}

const struct deliver_request *
deliver_agent_request(const struct deliver_agent *a)
{
    return &a->req;
}

struct qf_reader *deliver_agent_file(struct deliver_agent *a)
{
    return a->qf;
}

void deliver_agent_connected(struct deliver_agent *a)
{
    a->connected_us = deliver_now_us();
}

/* Append one STATUS record to LOG for the recipient. 0 / -1. */
static int deliver_log_append(struct deliver_agent *a,
                              const struct deliver_rcpt *r, const char *log,
                              int action, const char *dsn, const char *relay,
                              const char *reason)
{
    struct rec_status st;
    struct qf_log *l;
    int ret = 0;

    rec_status_init(&st);
    st.action = action;
    st.notify = r->notify;
    st.rcpt_offset = r->offset;
    st.time_us = deliver_now_us();
    buf_set(st.addr, buf_str(r->address));
    buf_set(st.orig, buf_len(r->orig_rcpt) ? buf_str(r->orig_rcpt)
                                           : buf_str(r->address));
    buf_set(st.orcpt, buf_str(r->orcpt));
    buf_set(st.dsn, dsn);
    buf_set(st.relay, relay);
    buf_set(st.reason, reason);
    if ((l = qf_log_open(log, buf_str(a->req.queue_id))) == NULL) {
        ret = -1;
    } else {
        if (qf_log_append(l, &st) < 0)
            ret = -1;
        if (qf_log_close(l) < 0)
            ret = -1;
    }
    rec_status_free(&st);
    return ret;
}

static void deliver_send_result(struct deliver_agent *a, size_t index,
                                int action, const char *dsn, const char *reason)
{
    if (a->reply_failed)
        return;
    if (attr_print(a->s, 0, ATTR_PUT_INT("index", (int) index),
                   ATTR_PUT_INT("action", action), ATTR_PUT_STR("dsn", dsn),
                   ATTR_PUT_STR("reason", reason), ATTR_END)
        < 0) {
        /* qmgr reads the queue file again; the result is on disk. */
        msg_warn("%s: cannot send the result to the queue manager: %s",
                 buf_str(a->req.queue_id), attr_error());
        a->reply_failed = 1;
    }
}

static int deliver_vreport(struct deliver_agent *a, size_t index, int action,
                           const char *dsn, const char *relay, int quiet,
                           const char *fmt, va_list ap)
{
    struct deliver_rcpt *r;
    struct buf *reason = buf_new(128);
    struct buf *dsnbuf = buf_new(16);
    struct buf *why = buf_new(128);
    const char *id = buf_str(a->req.queue_id);
    int ret = 0;

    if (index >= a->req.rcpt_count)
        msg_panic("deliver_report: recipient %zu of %zu", index,
                  a->req.rcpt_count);
    r = &a->req.rcpts[index];
    if (r->done)
        msg_panic("deliver_report: %s: recipient %zu reported twice", id,
                  index);
    if (!deliver_action_ok(action))
        msg_panic("deliver_report: bad action %d", action);
    buf_vprintf(reason, fmt, ap);
    buf_set(dsnbuf, dsn && deliver_valid_dsn(dsn)
                        ? dsn
                        : (action == REC_ACTION_DEFERRED  ? "4.0.0"
                           : action == REC_ACTION_BOUNCED ? "5.0.0"
                                                          : "2.0.0"));
    if (action == REC_ACTION_BOUNCED && var_soft_bounce) {
        action = REC_ACTION_DEFERRED;
        deliver_soft_dsn(dsnbuf);
    }
    switch (action) {
    case REC_ACTION_DELIVERED:
    case REC_ACTION_RELAYED:
    case REC_ACTION_EXPANDED:
        if (qf_mark_rcpt(a->qf, r->offset, REC_RCPT_DELIVERED) < 0) {
            buf_setf(why, "%s", qf_error());
            ret = -1;
        }
        break;
    case REC_ACTION_BOUNCED:
        if (deliver_log_append(a, r, QF_LOG_BOUNCE, action, buf_str(dsnbuf),
                               relay, buf_str(reason))
                < 0
            || qf_mark_rcpt(a->qf, r->offset, REC_RCPT_BOUNCED) < 0) {
            buf_setf(why, "%s", qf_error());
            ret = -1;
        }
        break;
    case REC_ACTION_DEFERRED:
        if (deliver_log_append(a, r, QF_LOG_DEFER, action, buf_str(dsnbuf),
                               relay, buf_str(reason))
            < 0)
            msg_warn("%s: cannot write the defer log: %s", id, qf_error());
        break;
    }
    if (ret < 0) {
        /* Not recorded: it must be tried again, so it is deferred. */
        msg_warn("%s: cannot record the result for <%s>: %s", id,
                 buf_str(r->address), buf_str(why));
        action = REC_ACTION_DEFERRED;
        buf_set(dsnbuf, "4.3.0");
        buf_setf(reason, "cannot update the queue file: %s", buf_str(why));
        if (deliver_log_append(a, r, QF_LOG_DEFER, action, "4.3.0", relay,
                               buf_str(reason))
            < 0)
            msg_warn("%s: cannot write the defer log: %s", id, qf_error());
    }
    if (!quiet || ret < 0)
        deliver_log_status(id, buf_str(r->address), buf_str(r->orig_rcpt),
                           relay, a->req.arrival_us, a->req.active_us,
                           a->req.request_us, a->connected_us, action,
                           buf_str(dsnbuf), buf_str(reason));
    r->done = 1;
    deliver_send_result(a, index, action, buf_str(dsnbuf), buf_str(reason));
    buf_free(reason);
    buf_free(dsnbuf);
    buf_free(why);
    return ret;
}

int deliver_report(struct deliver_agent *a, size_t index, int action,
                   const char *dsn, const char *relay, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = deliver_vreport(a, index, action, dsn, relay, 0, fmt, ap);
    va_end(ap);
    return ret;
}

int deliver_report_quiet(struct deliver_agent *a, size_t index, int action,
                         const char *dsn, const char *relay, const char *fmt,
                         ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = deliver_vreport(a, index, action, dsn, relay, 1, fmt, ap);
    va_end(ap);
    return ret;
}

int deliver_report_rest(struct deliver_agent *a, int action, const char *dsn,
                        const char *relay, const char *fmt, ...)
{
    va_list ap;
    size_t i;
    int ret = 0;

    for (i = 0; i < a->req.rcpt_count; i++) {
        if (a->req.rcpts[i].done)
            continue;
        va_start(ap, fmt);
        if (deliver_vreport(a, i, action, dsn, relay, 0, fmt, ap) < 0)
            ret = -1;
        va_end(ap);
    }
    return ret;
}

int deliver_agent_finish(struct deliver_agent *a)
{
    int ret = 0;

    deliver_report_rest(a, REC_ACTION_DEFERRED, "4.3.0", "none",
                        "delivery agent gave no result");
    if (!a->reply_failed
        && attr_print(a->s, 0, ATTR_PUT_INT("status", 0), ATTR_END) < 0)
        ret = deliver_fail("cannot send the final status: %s", attr_error());
    qf_close(a->qf);
    if (a->lock_fd >= 0)
        (void) close(a->lock_fd);
    deliver_request_free(&a->req);
    mem_free(a);
    return ret;
}
