/*
 * qmgr.c - the queue manager: moves mail from incoming/ (and due mail
 * from deferred/) into active/, resolves each pending recipient to a
 * transport and nexthop, groups recipients per destination, hands them
 * to the delivery agents named by the transports (private/TRANSPORT, the
 * protocol of lib/deliver.h), and when every recipient of a message has a
 * result, defers the message with a backoff, or asks the bounce service
 * for the notices and removes it.
 *
 * One process (master.cf: qmgr unix n - n 300 1 qmgr), DAEMON_TRIGGER and
 * resident; everything runs from the event loop, so no delivery agent can
 * block it: agents and the bounce service are talked to through
 * non-blocking sockets with timeouts. The agents make every result
 * durable before qmgr hears of it (deliver.h), so qmgr keeps only
 * in-memory state: a restart moves active/ back to incoming/ and reads
 * every file again, skipping recipients marked done.
 *
 * Decisions worth knowing (see also man/man8/qmgr.8):
 *   - a message whose cleanup set ATTR fail_reason, and recipients with a
 *     malformed address, are sent to the error agent with the reason as
 *     the nexthop, so the bounce log and the log line come from one place;
 *   - a recipient qmgr itself cannot hand over (agent not available, no
 *     result, dead destination, resolver failure) is deferred here: a
 *     STATUS record in defer/ID and Postfix's log line;
 *   - expired messages: every recipient still pending gets a bounce
 *     record "4.4.7 message delivery timed out (last error: ...)" and the
 *     message is flushed ("status=expired, returned to sender");
 *   - a message is held in memory whole; qmgr_message_active_limit and
 *     qmgr_message_recipient_limit stop the scans until memory frees up
 *     (one message is always admitted, however many recipients it has).
 *
 * Errors: nothing after start-up is fatal. A corrupt queue file goes to
 * corrupt/; a file that vanished (postsuper) is forgotten; I/O errors
 * leave the message deferred for a later attempt.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "attr.h"
#include "buf.h"
#include "cleanup_client.h"
#include "daemon.h"
#include "deliver.h"
#include "event.h"
#include "htable.h"
#include "mail_proto.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "qmgr.h"
#include "queue_file.h"
#include "record.h"
#include "resolve.h"
#include "str.h"

/* Longest reply buffered from an agent before it counts as garbage. */
#define QMGR_REPLY_MAX (ATTR_TOTAL_MAX_DEFAULT + 1024)
/* A file an agent still works on (a previous qmgr's request) waits this. */
#define QMGR_BUSY_RETRY 5
/* Messages activated per scheduler turn while a scan goes on. */
#define QMGR_SCAN_BATCH 32

struct qmsg;
struct qdest;

struct qrcpt {
    char *addr;
    char *orig;
    char *orcpt;
    int notify;
    long long offset;
};

struct qmsg {
    char *id;
    struct buf *sender;
    struct buf *envid;
    long long arrival_us;
    long long active_us;
    int flags;
    int dsn_ret;
    long long warn_time;
    long long warn_offset;
    size_t rcpts_held;  /* recipients counted against the memory limit */
    size_t outstanding; /* recipients without a result yet */
    size_t deferred;    /* results that were "deferred" */
    int finishing;      /* talking to the bounce service */
    int flushed;        /* activated by a flush: defer_transports go */
};

struct qjob {
    struct qmsg *msg;
    struct qdest *dest;
    struct qjob *next;
    char *nexthop;
    size_t n;
    struct qrcpt *rcpts;
    unsigned char *have;
};

struct qtransport {
    char *name;
    int active;
    int limit;
    int rcpt_limit;
    long long throttled_until; /* seconds; 0 = not throttled */
    struct buf *reason;
};

struct qdest {
    char *key;
    struct qtransport *t;
    struct qmgr_window win;
    struct qjob *head;
    struct qjob *tail;
    long long dead_until;
    struct buf *reason;
};

/* One connection to a delivery agent or to the bounce service. */
struct qconn {
    int fd;
    struct buf *out;
    size_t out_off;
    struct buf *in;
    uint64_t ipc_timer;
    uint64_t life_timer;
    event_fd_fn fn; /* its event callback */
    /* delivery */
    struct qjob *job;
    int got_final;
    /* bounce service */
    struct qmsg *msg;
    int warn; /* a "warn" request, else "flush" */
};

static struct {
    struct resolver *resolver;
    struct mastercf *mcf; /* for each transport's process limit */
    struct htable *transports;
    struct htable *dests;
    struct htable *msgs;
    size_t nmsgs;
    size_t nrcpts;
    int want_incoming;    /* a scan is wanted: 1, or 2 = flush */
    int want_deferred;    /* ditto, 1 = due only, 2 = all */
    struct qf_scan *scan; /* the scan in progress (qmgr_scan_step) */
    const char *scan_queue;
    int scan_all;
    struct timespec scan_start;
    int flushing;        /* activating for a flush (FAD, Q, S) */
    uint64_t kick_timer; /* pending run of the scheduler */
    uint64_t run_timer;  /* next deferred scan */
} qm;

static void qmgr_kick(void);
static int qmgr_scan_step(void);
static void qmgr_msg_finish(struct qmsg *msg);
static int qmgr_file_exists(const char *queue, const char *id);
static int qmgr_file_anywhere(const char *id);

static long long qmgr_now(void)
{
    return (long long) time(NULL);
}

/* ---- transports and destinations ---------------------------------------- */

static struct qtransport *qmgr_transport(const char *name)
{
    struct qtransport *t = htable_get(qm.transports, name);
    struct mastercf_entry *e;

    if (t)
        return t;
    t = mem_calloc(1, sizeof(*t));
    t->name = mem_strdup(name);
    t->limit = var_default_process_limit;
    /*
     * Never more connections than master runs processes for the service:
     * a request master cannot take soon would look like a missing agent.
     */
    if (qm.mcf && (e = mastercf_lookup(qm.mcf, name, "unix")) != NULL
        && e->maxproc > 0)
        t->limit = e->maxproc;
    t->rcpt_limit = qmgr_transport_int(name, "destination_recipient_limit",
                                       var_default_destination_recipient_limit);
    t->reason = buf_new(64);
    htable_put(qm.transports, name, t);
    return t;
}

static struct qdest *qmgr_dest(struct qtransport *t, const char *key)
{
    struct qdest *d = htable_get(qm.dests, key);
    const char *n = t->name;

    if (d)
        return d;
    d = mem_calloc(1, sizeof(*d));
    d->key = mem_strdup(key);
    d->t = t;
    d->reason = buf_new(64);
    qmgr_window_init(
        &d->win, var_initial_destination_concurrency,
        qmgr_transport_int(n, "destination_concurrency_limit",
                           var_default_destination_concurrency_limit),
        qmgr_transport_int(
            n, "destination_concurrency_failed_cohort_limit",
            var_default_destination_concurrency_failed_cohort_limit),
        qmgr_feedback_parse(
            qmgr_transport_str(
                n, "destination_concurrency_positive_feedback",
                var_default_destination_concurrency_positive_feedback),
            1),
        qmgr_feedback_parse(
            qmgr_transport_str(
                n, "destination_concurrency_negative_feedback",
                var_default_destination_concurrency_negative_feedback),
            1));
    htable_put(qm.dests, key, d);
    return d;
}

/* ---- messages ------------------------------------------------------------ */

static void qmgr_rcpt_free(struct qrcpt *r)
{
    mem_free(r->addr);
    mem_free(r->orig);
    mem_free(r->orcpt);
}

static void qmgr_msg_free(struct qmsg *msg)
{
    htable_delete(qm.msgs, msg->id);
    qm.nmsgs--;
    qm.nrcpts -= msg->rcpts_held;
    mem_free(msg->id);
    buf_free(msg->sender);
    buf_free(msg->envid);
    mem_free(msg);
    /* Room again: go on with a scan that stopped at a limit. */
    if (qm.want_incoming || qm.want_deferred)
        qmgr_kick();
}

static void qmgr_job_free(struct qjob *job)
{
    size_t i;

    for (i = 0; i < job->n; i++)
        qmgr_rcpt_free(&job->rcpts[i]);
    mem_free(job->rcpts);
    mem_free(job->have);
    mem_free(job->nexthop);
    mem_free(job);
}

/* One result for a recipient of MSG (its durable part is done). */
static void qmgr_msg_result(struct qmsg *msg, int action)
{
    if (msg->outstanding == 0)
        msg_panic("%s: more results than recipients", msg->id);
    msg->outstanding--;
    if (action == REC_ACTION_DEFERRED)
        msg->deferred++;
}

/*
 * Defer every recipient of JOB without a result: defer/ID record and the
 * log line, then the job is gone (the message may finish).
 */
static void qmgr_job_defer(struct qjob *job, const char *dsn,
                           const char *reason)
{
    struct qmsg *msg = job->msg;
    struct qf_log *l = NULL;
    struct rec_status st;
    long long now_us = deliver_now_us();
    size_t i;

    /* A message removed meanwhile (postsuper -d) gets no new log. */
    if (qmgr_file_exists(QF_ACTIVE, msg->id)
        && (l = qf_log_open(QF_LOG_DEFER, msg->id)) == NULL)
        msg_warn("%s: cannot open the defer log: %s", msg->id, qf_error());
    rec_status_init(&st);
    for (i = 0; i < job->n; i++) {
        struct qrcpt *r = &job->rcpts[i];

        if (job->have[i])
            continue;
        job->have[i] = 1;
        if (l) {
            st.action = REC_ACTION_DEFERRED;
            st.notify = r->notify;
            st.rcpt_offset = r->offset;
            st.time_us = now_us;
            buf_set(st.addr, r->addr);
            buf_set(st.orig, *r->orig ? r->orig : r->addr);
            buf_set(st.orcpt, r->orcpt);
            buf_set(st.dsn, dsn);
            buf_set(st.relay, "none");
            buf_set(st.reason, reason);
            if (qf_log_append(l, &st) < 0)
                msg_warn("%s: cannot write the defer log: %s", msg->id,
                         qf_error());
        }
        deliver_log_status(msg->id, r->addr, r->orig, "none", msg->arrival_us,
                           msg->active_us, now_us, 0, REC_ACTION_DEFERRED, dsn,
                           reason);
        qmgr_msg_result(msg, REC_ACTION_DEFERRED);
    }
    rec_status_free(&st);
    if (l && qf_log_close(l) < 0)
        msg_warn("%s: cannot write the defer log: %s", msg->id, qf_error());
    qmgr_job_free(job);
    if (msg->outstanding == 0)
        qmgr_msg_finish(msg);
}

/* ---- connections --------------------------------------------------------- */

static struct qconn *qmgr_conn_new(int fd)
{
    struct qconn *c = mem_calloc(1, sizeof(*c));

    c->fd = fd;
    c->out = buf_new(512);
    c->in = buf_new(256);
    (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return c;
}

static void qmgr_conn_free(struct qconn *c)
{
    struct event_loop *loop = daemon_loop();

    if (c->fd >= 0) {
        event_unwatch(loop, c->fd);
        close(c->fd);
    }
    if (c->ipc_timer)
        event_cancel(loop, c->ipc_timer);
    if (c->life_timer)
        event_cancel(loop, c->life_timer);
    buf_free(c->out);
    buf_free(c->in);
    mem_free(c);
}

/*
 * Write what is pending and read what arrived. Returns 1 while the
 * connection goes on, 0 at end of input, -1 on an error (WHY set).
 */
static int qmgr_conn_io(struct qconn *c, int events, struct buf *why)
{
    char chunk[4096];
    ssize_t n;

    if ((events & EVENT_WRITE) && c->out_off < buf_len(c->out)) {
        n = write(c->fd, buf_str(c->out) + c->out_off,
                  buf_len(c->out) - c->out_off);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            buf_setf(why, "write: %s", strerror(errno));
            return -1;
        }
        if (n > 0)
            c->out_off += (size_t) n;
        if (c->out_off == buf_len(c->out))
            event_watch(daemon_loop(), c->fd, EVENT_READ, c->fn, c);
    }
    if (events & (EVENT_READ | EVENT_ERROR)) {
        n = read(c->fd, chunk, sizeof(chunk));
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 1;
            buf_setf(why, "read: %s", strerror(errno));
            return -1;
        }
        if (buf_len(c->in) + (size_t) n > QMGR_REPLY_MAX) {
            buf_set(why, "reply too long");
            return -1;
        }
        buf_append(c->in, chunk, (size_t) n);
    }
    return 1;
}

/* Has the peer read everything we wrote (or is it not there at all)? */
static int qmgr_conn_request_read(struct qconn *c)
{
    int unread = 0;

    if (c->out_off < buf_len(c->out))
        return 0;
    if (ioctl(c->fd, SIOCOUTQ, &unread) < 0)
        return 1; /* cannot tell: let the long timeout decide */
    return unread == 0;
}

/* ---- delivery ------------------------------------------------------------ */

static void qmgr_delivery_io(struct event_loop *loop, int fd, int events,
                             void *ctx);

/* The delivery on C ended; WHY says why when it failed. */
static void qmgr_delivery_end(struct qconn *c, const char *why,
                              int throttle_transport)
{
    struct qjob *job = c->job;
    struct qdest *d = job->dest;
    struct qtransport *t = d->t;
    struct qmsg *msg = job->msg;
    struct buf *reason = buf_new(128);
    size_t i;
    int left = 0;

    qmgr_conn_free(c);
    t->active--;
    d->win.active--;
    for (i = 0; i < job->n; i++)
        left += !job->have[i];
    if (why == NULL) {
        qmgr_window_success(&d->win);
    } else {
        buf_setf(reason, "delivery agent %s: %s", t->name, why);
        msg_warn("%s: %s", msg->id, buf_str(reason));
        if (throttle_transport) {
            t->throttled_until = qmgr_now() + var_transport_retry_time;
            buf_set(t->reason, buf_str(reason));
        } else if (qmgr_window_failure(&d->win)) {
            d->dead_until = qmgr_now() + var_minimal_backoff_time;
            buf_set(d->reason, buf_str(reason));
            msg_warn("destination %s: delivery temporarily suspended: %s",
                     d->key, buf_str(reason));
        }
    }
    if (left) {
        if (why == NULL)
            buf_setf(reason, "delivery agent %s gave no result", t->name);
        qmgr_job_defer(job, "4.3.0", buf_str(reason));
    } else {
        qmgr_job_free(job);
        if (msg->outstanding == 0)
            qmgr_msg_finish(msg);
    }
    buf_free(reason);
    qmgr_kick();
}

/* Take the complete result lists in C's input. 0, or -1 (WHY). */
static int qmgr_delivery_results(struct qconn *c, struct buf *why)
{
    struct buf *dsn = buf_new(16);
    struct buf *reason = buf_new(128);
    long len;
    int ret = 0;

    while (!c->got_final
           && (len = attr_frame_len(buf_str(c->in), buf_len(c->in))) != 0) {
        int final = 0;
        int index = 0;
        int action = 0;

        if (len < 0) {
            buf_set(why, "malformed reply");
            ret = -1;
            break;
        }
        if (deliver_result_parse(buf_str(c->in), (size_t) len, &final, &index,
                                 &action, dsn, reason)
            < 0) {
            buf_set(why, deliver_error());
            ret = -1;
            break;
        }
        memmove(buf_str(c->in), buf_str(c->in) + len,
                buf_len(c->in) - (size_t) len);
        buf_truncate(c->in, buf_len(c->in) - (size_t) len);
        if (final) {
            c->got_final = 1;
            break;
        }
        if ((size_t) index >= c->job->n || c->job->have[index]) {
            buf_setf(why, "bad result for recipient %d", index);
            ret = -1;
            break;
        }
        c->job->have[index] = 1;
        qmgr_msg_result(c->job->msg, action);
    }
    buf_free(dsn);
    buf_free(reason);
    return ret;
}

static void qmgr_delivery_io(struct event_loop *loop, int fd, int events,
                             void *ctx)
{
    struct qconn *c = ctx;
    struct buf *why = buf_new(64);
    int st;

    (void) loop;
    (void) fd;
    st = qmgr_conn_io(c, events, why);
    if (st >= 0 && qmgr_delivery_results(c, why) < 0)
        st = -1;
    if (st < 0) {
        qmgr_delivery_end(c, buf_str(why), 0);
    } else if (c->got_final) {
        qmgr_delivery_end(c, NULL, 0);
    } else if (st == 0) {
        qmgr_delivery_end(c, "connection closed", 0);
    }
    buf_free(why);
}

static void qmgr_delivery_life_timeout(struct event_loop *loop, void *ctx)
{
    struct qconn *c = ctx;

    (void) loop;
    c->life_timer = 0;
    qmgr_delivery_end(c, "timeout", 0);
}

/* The agent had qmgr_ipc_timeout to take the request. */
static void qmgr_delivery_ipc_timeout(struct event_loop *loop, void *ctx)
{
    struct qconn *c = ctx;
    struct buf *why;

    (void) loop;
    c->ipc_timer = 0;
    if (qmgr_conn_request_read(c)) {
        long rest = var_daemon_timeout - var_qmgr_ipc_timeout;

        c->life_timer =
            event_timer(daemon_loop(), (rest > 0 ? rest : 1) * 1000L,
                        qmgr_delivery_life_timeout, c);
        return;
    }
    why = buf_new(64);
    buf_setf(why,
             "no response: request not taken within %lds (is its program "
             "installed?)",
             var_qmgr_ipc_timeout);
    qmgr_delivery_end(c, buf_str(why), 1);
    buf_free(why);
}

static void qmgr_delivery_start(struct qjob *job)
{
    struct qdest *d = job->dest;
    struct qtransport *t = d->t;
    struct qmsg *msg = job->msg;
    struct deliver_request req;
    struct qconn *c;
    long timeout = var_qmgr_ipc_timeout < 10 ? var_qmgr_ipc_timeout : 10;
    int fd;
    size_t i;

    fd = mail_connect(MAIL_CLASS_PRIVATE, t->name, timeout * 1000L);
    if (fd < 0) {
        struct buf *reason = buf_new(128);

        buf_setf(reason, "delivery agent %s is not available: %s", t->name,
                 mail_proto_error());
        msg_warn("%s", buf_str(reason));
        t->throttled_until = qmgr_now() + var_transport_retry_time;
        buf_set(t->reason, buf_str(reason));
        qmgr_job_defer(job, "4.3.0", buf_str(reason));
        buf_free(reason);
        return;
    }
    c = qmgr_conn_new(fd);
    c->job = job;
    c->fn = qmgr_delivery_io;
    deliver_request_init(&req);
    buf_set(req.queue_name, QF_ACTIVE);
    buf_set(req.queue_id, msg->id);
    buf_set(req.nexthop, job->nexthop);
    buf_set(req.sender, buf_str(msg->sender));
    buf_set(req.dsn_envid, buf_str(msg->envid));
    req.flags = msg->flags;
    req.dsn_ret = msg->dsn_ret;
    req.arrival_us = msg->arrival_us;
    req.active_us = msg->active_us;
    req.request_us = deliver_now_us();
    for (i = 0; i < job->n; i++)
        deliver_request_add_rcpt(&req, job->rcpts[i].addr, job->rcpts[i].orig,
                                 job->rcpts[i].orcpt, job->rcpts[i].notify,
                                 job->rcpts[i].offset);
    deliver_request_encode(c->out, &req);
    deliver_request_free(&req);
    t->active++;
    d->win.active++;
    c->ipc_timer = event_timer(daemon_loop(), var_qmgr_ipc_timeout * 1000L,
                               qmgr_delivery_ipc_timeout, c);
    if (event_watch(daemon_loop(), fd, EVENT_READ | EVENT_WRITE,
                    qmgr_delivery_io, c)
        < 0) {
        qmgr_delivery_end(c, strerror(errno), 0);
    } else {
        /* Send the request now: the agent is waiting for it. */
        struct buf *why = buf_new(64);

        if (qmgr_conn_io(c, EVENT_WRITE, why) < 0)
            qmgr_delivery_end(c, buf_str(why), 0);
        buf_free(why);
    }
}

/* ---- the scheduler ------------------------------------------------------- */

static struct qjob *qmgr_dest_pop(struct qdest *d)
{
    struct qjob *job = d->head;

    if (job) {
        d->head = job->next;
        if (d->head == NULL)
            d->tail = NULL;
        job->next = NULL;
    }
    return job;
}

static void qmgr_run_dest(struct qdest *d, long long now)
{
    struct qtransport *t = d->t;
    struct qjob *job;
    struct buf *reason;

    if (t->throttled_until && t->throttled_until <= now) {
        t->throttled_until = 0;
        buf_reset(t->reason);
    }
    if (d->win.dead && d->dead_until <= now)
        qmgr_window_revive(&d->win, var_initial_destination_concurrency);
    if (t->throttled_until || d->win.dead) {
        reason = buf_new(128);
        buf_setf(reason, "delivery temporarily suspended: %s",
                 buf_str(t->throttled_until ? t->reason : d->reason));
        while ((job = qmgr_dest_pop(d)) != NULL)
            qmgr_job_defer(job, "4.3.0", buf_str(reason));
        buf_free(reason);
        return;
    }
    while (d->head && qmgr_window_can_start(&d->win) && t->active < t->limit
           && !t->throttled_until)
        qmgr_delivery_start(qmgr_dest_pop(d));
}

static void qmgr_run(struct event_loop *loop, void *ctx)
{
    struct htable_entry **list;
    long long now = qmgr_now();
    size_t i;
    int pass;

    (void) loop;
    (void) ctx;
    qm.kick_timer = 0;
    /* Deferring a job can finish a message and so change nothing here. */
    for (pass = 0; pass < 2; pass++) {
        list = htable_list(qm.dests);
        for (i = 0; i < qm.dests->used; i++) {
            struct qdest *d = list[i]->value;

            if (d->head)
                qmgr_run_dest(d, now);
        }
        mem_free(list);
    }
    /* Forget idle destinations that are not suspended. */
    list = htable_list(qm.dests);
    {
        size_t n = qm.dests->used;

        for (i = 0; i < n; i++) {
            struct qdest *d = list[i]->value;

            if (d->head == NULL && d->win.active == 0
                && (!d->win.dead || d->dead_until <= now)) {
                htable_delete(qm.dests, d->key);
                buf_free(d->reason);
                mem_free(d->key);
                mem_free(d);
            }
        }
    }
    mem_free(list);
    if (qmgr_scan_step())
        qmgr_kick();
}

static void qmgr_kick(void)
{
    if (qm.kick_timer == 0)
        qm.kick_timer = event_timer(daemon_loop(), 0, qmgr_run, NULL);
}

/* Queue RCPTS (N of them, moved into the job) for DEST. */
static void qmgr_dest_add(struct qdest *d, struct qmsg *msg,
                          const char *nexthop, struct qrcpt *rcpts, size_t n)
{
    struct qjob *job = mem_calloc(1, sizeof(*job));

    job->msg = msg;
    job->dest = d;
    job->nexthop = mem_strdup(nexthop);
    job->n = n;
    job->rcpts = mem_alloc(n * sizeof(*rcpts));
    memcpy(job->rcpts, rcpts, n * sizeof(*rcpts));
    job->have = mem_calloc(n, 1);
    if (d->tail)
        d->tail->next = job;
    else
        d->head = job;
    d->tail = job;
}

/* ---- finishing a message ------------------------------------------------- */

static void qmgr_msg_remove(struct qmsg *msg)
{
    if (qf_remove(QF_ACTIVE, msg->id) < 0) {
        if (qf_reason() != QF_ERR_GONE) {
            msg_warn("%s: %s", msg->id, qf_error());
        } else if (qmgr_file_anywhere(msg->id)) {
            /* Moved meanwhile (postsuper -h): it is done with later. */
            qmgr_msg_free(msg);
            return;
        }
    }
    if (qf_remove(QF_LOG_DEFER, msg->id) < 0 && qf_reason() != QF_ERR_GONE)
        msg_warn("%s: %s", msg->id, qf_error());
    if (qf_remove(QF_LOG_TRACE, msg->id) < 0 && qf_reason() != QF_ERR_GONE)
        msg_warn("%s: %s", msg->id, qf_error());
    msg_info("%s: removed", msg->id);
    qmgr_msg_free(msg);
}

/* Put MSG into deferred/ with its next retry time as the mtime. */
static void qmgr_msg_defer(struct qmsg *msg)
{
    long long now = qmgr_now();
    long long age = now - msg->arrival_us / 1000000;
    long long when =
        now
        + qmgr_backoff(age, var_minimal_backoff_time, var_maximal_backoff_time);

    /* The time first: a scan must never see it in deferred/ and due. */
    if (qf_touch(QF_ACTIVE, msg->id, when) < 0 && qf_reason() != QF_ERR_GONE)
        msg_warn("%s: %s", msg->id, qf_error());
    if (qf_move_lazy(msg->id, QF_ACTIVE, QF_DEFERRED) < 0) {
        if (qf_reason() != QF_ERR_GONE) {
            msg_warn("%s: cannot move to the deferred queue: %s", msg->id,
                     qf_error());
        } else if (!qmgr_file_anywhere(msg->id)) {
            /* Removed behind our back (postsuper -d): its logs go too. */
            (void) qf_remove(QF_LOG_DEFER, msg->id);
            (void) qf_remove(QF_LOG_BOUNCE, msg->id);
        }
    }
    qmgr_msg_free(msg);
}

static int qmgr_file_exists(const char *queue, const char *id)
{
    struct buf *path = buf_new(64);
    struct stat st;
    int ret;

    qf_path(path, queue, id);
    ret = stat(buf_str(path), &st) == 0;
    buf_free(path);
    return ret;
}

/* Is ID in any queue (postsuper may have moved it to hold/, say)? */
static int qmgr_file_anywhere(const char *id)
{
    static const char *const queues[] = {QF_INCOMING, QF_ACTIVE,  QF_DEFERRED,
                                         QF_HOLD,     QF_CORRUPT, QF_MAILDROP};
    size_t i;

    for (i = 0; i < sizeof(queues) / sizeof(queues[0]); i++)
        if (qmgr_file_exists(queues[i], id))
            return 1;
    return 0;
}

static void qmgr_bounce_done(struct qconn *c, int status, const char *why)
{
    struct qmsg *msg = c->msg;
    int warn = c->warn;
    struct qf_reader *r;

    qmgr_conn_free(c);
    msg->finishing = 0;
    if (warn) {
        if (status == BOUNCE_STAT_OK) {
            r = qf_open(QF_ACTIVE, msg->id, QF_OPEN_RDWR);
            if (r == NULL || qf_set_warn(r, msg->warn_offset, 0) < 0)
                msg_warn("%s: cannot clear the warning time: %s", msg->id,
                         qf_error());
            qf_close(r);
        } else {
            msg_warn("%s: delay warning not sent: %s", msg->id, why);
        }
        qmgr_msg_defer(msg);
        return;
    }
    if (status != BOUNCE_STAT_OK) {
        msg_warn("%s: bounce service: %s: the message stays queued", msg->id,
                 why);
        qmgr_msg_defer(msg);
        return;
    }
    if (qf_remove(QF_LOG_BOUNCE, msg->id) < 0 && qf_reason() != QF_ERR_GONE)
        msg_warn("%s: %s", msg->id, qf_error());
    qmgr_msg_remove(msg);
}

static void qmgr_bounce_io(struct event_loop *loop, int fd, int events,
                           void *ctx)
{
    struct qconn *c = ctx;
    struct buf *why = buf_new(64);
    struct buf *reason = buf_new(64);
    int st = qmgr_conn_io(c, events, why);
    int status = BOUNCE_STAT_RETRY;
    long len;

    (void) loop;
    (void) fd;
    if (st < 0) {
        qmgr_bounce_done(c, BOUNCE_STAT_RETRY, buf_str(why));
    } else if ((len = attr_frame_len(buf_str(c->in), buf_len(c->in))) > 0) {
        if (attr_parse(buf_str(c->in), (size_t) len, ATTR_FLAG_EXTRA,
                       ATTR_GET_INT("status", &status),
                       ATTR_GET_STR("reason", reason), ATTR_END)
            < 0) {
            buf_setf(why, "bad reply: %s", attr_error());
            qmgr_bounce_done(c, BOUNCE_STAT_RETRY, buf_str(why));
        } else {
            qmgr_bounce_done(c, status, buf_str(reason));
        }
    } else if (len < 0) {
        qmgr_bounce_done(c, BOUNCE_STAT_RETRY, "malformed reply");
    } else if (st == 0) {
        qmgr_bounce_done(c, BOUNCE_STAT_RETRY, "connection closed");
    }
    buf_free(why);
    buf_free(reason);
}

static void qmgr_bounce_timeout(struct event_loop *loop, void *ctx)
{
    struct qconn *c = ctx;

    (void) loop;
    c->ipc_timer = 0;
    qmgr_bounce_done(c, BOUNCE_STAT_RETRY, "timeout");
}

/* Ask the bounce service for REQUEST ("flush" or "warn") about MSG. */
static void qmgr_bounce_request(struct qmsg *msg, const char *request)
{
    struct qconn *c;
    long timeout = var_qmgr_ipc_timeout < 10 ? var_qmgr_ipc_timeout : 10;
    int fd = mail_connect(MAIL_CLASS_PRIVATE, var_bounce_service_name,
                          timeout * 1000L);

    msg->finishing = 1;
    if (fd < 0) {
        /* qmgr_bounce_done frees its connection: give it an empty one. */
        c = mem_calloc(1, sizeof(*c));
        c->fd = -1;
        c->out = buf_new(0);
        c->in = buf_new(0);
        c->msg = msg;
        c->warn = strcmp(request, DELIVER_REQ_WARN) == 0;
        qmgr_bounce_done(c, BOUNCE_STAT_RETRY, mail_proto_error());
        return;
    }
    c = qmgr_conn_new(fd);
    c->msg = msg;
    c->fn = qmgr_bounce_io;
    c->warn = strcmp(request, DELIVER_REQ_WARN) == 0;
    attr_build(c->out, 0, ATTR_PUT_STR("request", request),
               ATTR_PUT_STR("queue_name", QF_ACTIVE),
               ATTR_PUT_STR("queue_id", msg->id), ATTR_END);
    c->ipc_timer = event_timer(daemon_loop(), var_qmgr_ipc_timeout * 1000L,
                               qmgr_bounce_timeout, c);
    if (event_watch(daemon_loop(), fd, EVENT_READ | EVENT_WRITE, qmgr_bounce_io,
                    c)
        < 0)
        qmgr_bounce_done(c, BOUNCE_STAT_RETRY, strerror(errno));
}

/*
 * The message outlived its lifetime: bounce every recipient still
 * pending, with the last defer reason. 0, or -1 (leave it deferred).
 */
static int qmgr_msg_expire(struct qmsg *msg)
{
    struct htable *last = htable_new(16);
    struct qf_reader *r;
    struct qf_log *l = NULL;
    struct buf *data = buf_new(256);
    struct buf *key = buf_new(32);
    struct rec_status st;
    struct rec_rcpt rc;
    long long *offsets = NULL;
    size_t noff = 0;
    int type;
    int ret = 0;

    rec_status_init(&st);
    rec_rcpt_init(&rc);
    /* The last defer reason per recipient. */
    if ((r = qf_open(QF_LOG_DEFER, msg->id, 0)) != NULL) {
        while ((type = qf_read(r, data)) == REC_STATUS) {
            if (rec_status_parse(buf_str(data), buf_len(data), &st) < 0)
                continue;
            buf_setf(key, "%lld", st.rcpt_offset);
            mem_free(
                htable_put(last, buf_str(key), mem_strdup(buf_str(st.reason))));
        }
        qf_close(r);
    }
    if ((r = qf_open(QF_ACTIVE, msg->id, QF_OPEN_RDWR)) == NULL) {
        ret = -1;
        goto out;
    }
    while ((type = qf_read(r, data)) > 0 && type != REC_END) {
        const char *why;
        long long off;

        if (type == REC_MESSAGE) {
            if (qf_skip_content(r) < 0)
                break;
            continue;
        }
        if (type != REC_RCPT
            || rec_rcpt_parse(buf_str(data), buf_len(data), &rc) < 0
            || rc.status != REC_RCPT_PENDING)
            continue;
        off = qf_offset(r);
        buf_setf(key, "%lld", off);
        why = htable_get(last, buf_str(key));
        if (l == NULL && (l = qf_log_open(QF_LOG_BOUNCE, msg->id)) == NULL) {
            ret = -1;
            break;
        }
        st.action = REC_ACTION_BOUNCED;
        st.notify = rc.notify;
        st.rcpt_offset = off;
        st.time_us = deliver_now_us();
        buf_set(st.addr, buf_str(rc.addr));
        buf_set(st.orig,
                buf_len(rc.orig) ? buf_str(rc.orig) : buf_str(rc.addr));
        buf_set(st.orcpt, buf_str(rc.orcpt));
        buf_set(st.dsn, "4.4.7");
        buf_set(st.relay, "none");
        if (why)
            buf_setf(st.reason, "message delivery timed out (last error: %s)",
                     why);
        else
            buf_set(st.reason, "message delivery timed out");
        if (qf_log_append(l, &st) < 0) {
            ret = -1;
            break;
        }
        offsets = mem_realloc(offsets, (noff + 1) * sizeof(*offsets));
        offsets[noff++] = off;
    }
    if (type < 0)
        ret = -1;
    if (l && qf_log_close(l) < 0)
        ret = -1;
    /* Only what the bounce log holds is marked bounced. */
    if (ret == 0 && qf_mark_rcpts(r, offsets, noff, REC_RCPT_BOUNCED) < 0)
        ret = -1;
    qf_close(r);
out:
    if (ret < 0)
        msg_warn("%s: cannot expire the message: %s", msg->id, qf_error());
    mem_free(offsets);
    buf_free(data);
    buf_free(key);
    rec_status_free(&st);
    rec_rcpt_free(&rc);
    htable_free(last, mem_free);
    return ret;
}

/* Every recipient of MSG has a result: defer, or flush and remove. */
static void qmgr_msg_finish(struct qmsg *msg)
{
    long long now = qmgr_now();
    struct buf *text;

    if (msg->finishing)
        return;
    if (msg->deferred) {
        if (qmgr_expired(msg->arrival_us / 1000000, now,
                         qmgr_lifetime(buf_str(msg->sender), msg->flags,
                                       var_maximal_queue_lifetime,
                                       var_bounce_queue_lifetime))
            && qmgr_msg_expire(msg) == 0) {
            text = buf_new(64);
            str_printable(text, buf_str(msg->sender), buf_len(msg->sender));
            msg_info("%s: from=<%s>, status=expired, returned to sender",
                     msg->id, buf_str(text));
            buf_free(text);
            msg->deferred = 0;
        } else {
            if (msg->warn_time > 0 && msg->warn_time <= now
                && msg->warn_offset > 0 && buf_len(msg->sender) > 0
                && !(msg->flags & REC_FLAG_BOUNCE)) {
                qmgr_bounce_request(msg, DELIVER_REQ_WARN);
                return;
            }
            qmgr_msg_defer(msg);
            return;
        }
    }
    if (qmgr_file_exists(QF_LOG_BOUNCE, msg->id)) {
        qmgr_bounce_request(msg, DELIVER_REQ_FLUSH);
        return;
    }
    qmgr_msg_remove(msg);
}

/* ---- reading a message --------------------------------------------------- */

/* Is ID being delivered by an agent (a previous qmgr's request)? */
static int qmgr_file_busy(const char *queue, const char *id)
{
    struct buf *path = buf_new(64);
    int fd;
    int busy = 0;

    qf_path(path, queue, id);
    fd = open(buf_str(path), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
            busy = 1;
        close(fd);
    }
    buf_free(path);
    return busy;
}

/* Is NAME a word of the comma/space separated LIST? */
static int qmgr_listed(const char *list, const char *name)
{
    size_t len = strlen(name);
    const char *cp = list;

    while (cp && *cp) {
        size_t n;

        cp += strspn(cp, ", \t\r\n");
        n = strcspn(cp, ", \t\r\n");
        if (n == len && n > 0 && strncmp(cp, name, n) == 0)
            return 1;
        cp += n;
    }
    return 0;
}

/* Defer recipient R of MSG at once (it moves into a job of its own). */
static void qmgr_rcpt_defer_now(struct qmsg *msg, struct qrcpt *r,
                                const char *reason)
{
    struct qjob *job = mem_calloc(1, sizeof(*job));

    job->msg = msg;
    job->n = 1;
    job->rcpts = mem_alloc(sizeof(*r));
    job->rcpts[0] = *r;
    job->have = mem_calloc(1, 1);
    job->nexthop = mem_strdup("");
    qmgr_job_defer(job, "4.3.0", reason);
}

/* Route the pending recipients of MSG to their destinations. */
static void qmgr_msg_route(struct qmsg *msg, struct qrcpt *rcpts, size_t n,
                           const char *fail_reason, const char *filter)
{
    struct resolve_reply reply;
    struct buf *key = buf_new(64);
    struct buf *filter_xport = buf_new(32);
    const char *filter_hop = NULL;
    size_t i;

    /* A content filter (FILTER): "transport:nexthop", empty = myhostname. */
    if (filter && *filter) {
        const char *colon = strchr(filter, ':');

        buf_append(filter_xport, filter,
                   colon ? (size_t) (colon - filter) : strlen(filter));
        filter_hop = colon && colon[1] ? colon + 1 : var_myhostname;
    }

    resolve_reply_init(&reply);
    for (i = 0; i < n; i++) {
        struct qrcpt *r = &rcpts[i];
        const char *transport;
        const char *nexthop;
        struct qtransport *t;
        struct qdest *d;
        enum lookup_status ls;

        if (fail_reason) {
            transport = var_error_service_name;
            nexthop = fail_reason;
        } else if (filter_hop) {
            transport = buf_str(filter_xport);
            nexthop = filter_hop;
        } else {
            ls = resolve_addr(qm.resolver, buf_str(msg->sender), r->addr, 0,
                              &reply);
            if (ls != LOOKUP_FOUND) {
                msg_warn("%s: address resolver failure for <%s>: %s", msg->id,
                         r->addr, resolver_error(qm.resolver));
                qmgr_rcpt_defer_now(msg, r, "address resolver failure");
                continue;
            }
            if (reply.flags & RESOLVE_FLAG_ERROR) {
                transport = var_error_service_name;
                nexthop = "5.1.3 bad address syntax";
            } else {
                transport = buf_str(reply.transport);
                nexthop = buf_str(reply.nexthop);
                if (buf_len(reply.recipient)
                    && strcmp(buf_str(reply.recipient), r->addr) != 0) {
                    mem_free(r->addr);
                    r->addr = mem_strdup(buf_str(reply.recipient));
                }
            }
        }
        /* defer_transports: held until a flush asks for them. */
        if (!msg->flushed && qmgr_listed(var_defer_transports, transport)) {
            qmgr_rcpt_defer_now(msg, r, "deferred transport");
            continue;
        }
        t = qmgr_transport(transport);
        qmgr_dest_key(key, transport, nexthop, r->addr, t->rcpt_limit);
        d = qmgr_dest(t, buf_str(key));
        /* Join the last job for this message and nexthop while it has room. */
        if (d->tail && d->tail->msg == msg
            && strcmp(d->tail->nexthop, nexthop) == 0
            && (t->rcpt_limit <= 0 || d->tail->n < (size_t) t->rcpt_limit)) {
            struct qjob *job = d->tail;

            job->rcpts =
                mem_realloc(job->rcpts, (job->n + 1) * sizeof(*job->rcpts));
            job->have = mem_realloc(job->have, job->n + 1);
            job->rcpts[job->n] = *r;
            job->have[job->n] = 0;
            job->n++;
        } else {
            qmgr_dest_add(d, msg, nexthop, r, 1);
        }
    }
    resolve_reply_free(&reply);
    buf_free(key);
    buf_free(filter_xport);
    qmgr_kick();
}

/*
 * Read active/ID into memory and queue its recipients. A corrupt file
 * goes to corrupt/; a vanished one is forgotten.
 */
static void qmgr_msg_load(const char *id)
{
    struct qf_reader *r = qf_open(QF_ACTIVE, id, 0);
    struct buf *data = buf_new(256);
    struct buf *fail = NULL;
    struct buf *filter = NULL;
    struct buf *text = NULL;
    struct rec_rcpt rc;
    struct qmsg *msg;
    struct qrcpt *rcpts = NULL;
    size_t n = 0;
    size_t total = 0;
    long long v;
    int type;

    if (r == NULL) {
        if (qf_reason() == QF_ERR_CORRUPT)
            qf_move_corrupt(id, QF_ACTIVE, qf_error());
        else if (qf_reason() != QF_ERR_GONE)
            msg_warn("%s: %s", id, qf_error());
        buf_free(data);
        return;
    }
    rec_rcpt_init(&rc);
    msg = mem_calloc(1, sizeof(*msg));
    msg->id = mem_strdup(id);
    msg->sender = buf_new(32);
    msg->envid = buf_new(0);
    msg->active_us = deliver_now_us();
    msg->flushed = qm.flushing;
    while ((type = qf_read(r, data)) > 0 && type != REC_END) {
        const char *name;
        const char *value;
        size_t nlen;
        size_t vlen;

        switch (type) {
        case REC_TIME:
            if (rec_int_parse(buf_str(data), buf_len(data), &v) == 0)
                msg->arrival_us = v;
            break;
        case REC_SENDER:
            buf_set(msg->sender, buf_str(data));
            break;
        case REC_WARN:
            if (rec_int_parse(buf_str(data), buf_len(data), &v) == 0) {
                msg->warn_time = v;
                msg->warn_offset = qf_offset(r);
            }
            break;
        case REC_FLAGS:
            if (rec_int_parse(buf_str(data), buf_len(data), &v) == 0)
                msg->flags |= (int) v;
            break;
        case REC_DSN_RET:
            if (rec_int_parse(buf_str(data), buf_len(data), &v) == 0)
                msg->dsn_ret = (int) v;
            break;
        case REC_DSN_ENVID:
            buf_set(msg->envid, buf_str(data));
            break;
        case REC_ATTR:
            if (rec_attr_parse(buf_str(data), buf_len(data), &name, &nlen,
                               &value, &vlen)
                    == 0
                && nlen == strlen(CLEANUP_ATTR_FAIL_REASON)
                && memcmp(name, CLEANUP_ATTR_FAIL_REASON, nlen) == 0) {
                if (fail == NULL)
                    fail = buf_new(64);
                buf_reset(fail);
                buf_append(fail, value, vlen);
            } else if (nlen == strlen(CLEANUP_ATTR_FILTER)
                       && memcmp(name, CLEANUP_ATTR_FILTER, nlen) == 0) {
                if (filter == NULL)
                    filter = buf_new(32);
                buf_reset(filter);
                str_printable(filter, value, vlen);
            }
            break;
        case REC_RCPT:
            total++;
            if (rec_rcpt_parse(buf_str(data), buf_len(data), &rc) < 0
                || rc.status != REC_RCPT_PENDING)
                break;
            rcpts = mem_realloc(rcpts, (n + 1) * sizeof(*rcpts));
            rcpts[n].addr = mem_strdup(buf_str(rc.addr));
            rcpts[n].orig = mem_strdup(buf_str(rc.orig));
            rcpts[n].orcpt = mem_strdup(buf_str(rc.orcpt));
            rcpts[n].notify = rc.notify;
            rcpts[n].offset = qf_offset(r);
            n++;
            break;
        case REC_MESSAGE:
            if (qf_skip_content(r) < 0)
                type = -1;
            break;
        }
        if (type < 0)
            break;
    }
    if (type != REC_END) {
        struct buf *why = buf_new(64);

        buf_set(why, type < 0 ? qf_error() : "premature end");
        qf_close(r);
        if (type < 0 && qf_reason() == QF_ERR_IO)
            msg_warn("%s: %s", id, buf_str(why));
        else
            qf_move_corrupt(id, QF_ACTIVE, buf_str(why));
        buf_free(why);
        while (n > 0)
            qmgr_rcpt_free(&rcpts[--n]);
        mem_free(rcpts);
        buf_free(msg->sender);
        buf_free(msg->envid);
        mem_free(msg->id);
        mem_free(msg);
        goto out;
    }
    if (msg->flags & REC_FLAG_HOLD) {
        qf_close(r);
        if (qf_move(id, QF_ACTIVE, QF_HOLD) < 0)
            msg_warn("%s: cannot move to the hold queue: %s", id, qf_error());
        else
            msg_info("%s: placed on hold", id);
        while (n > 0)
            qmgr_rcpt_free(&rcpts[--n]);
        mem_free(rcpts);
        buf_free(msg->sender);
        buf_free(msg->envid);
        mem_free(msg->id);
        mem_free(msg);
        goto out;
    }
    text = buf_new(64);
    str_printable(text, buf_str(msg->sender), buf_len(msg->sender));
    msg_info("%s: from=<%s>, size=%lld, nrcpt=%zu (queue active)", id,
             buf_str(text), qf_size(r)->content_size, total);
    qf_close(r);
    htable_put(qm.msgs, id, msg);
    qm.nmsgs++;
    qm.nrcpts += n;
    msg->rcpts_held = n;
    msg->outstanding = n;
    if (n == 0) {
        qmgr_msg_finish(msg);
    } else {
        if (fail) {
            struct buf *clean = buf_new(64);

            str_printable(clean, buf_str(fail), buf_len(fail));
            qmgr_msg_route(msg, rcpts, n, buf_str(clean), NULL);
            buf_free(clean);
        } else {
            qmgr_msg_route(msg, rcpts, n, NULL,
                           filter ? buf_str(filter) : NULL);
        }
    }
    mem_free(rcpts);
out:
    buf_free(text);
    buf_free(fail);
    buf_free(filter);
    buf_free(data);
    rec_rcpt_free(&rc);
}

/* Move ID from QUEUE into active/ and load it. */
static void qmgr_activate(const char *queue, const char *id)
{
    if (htable_get(qm.msgs, id))
        return; /* already in memory (a scan saw it twice) */
    if (qmgr_file_busy(queue, id)) {
        /* A previous qmgr's agent still delivers it: come back soon. */
        if (qf_touch(queue, id, qmgr_now() + QMGR_BUSY_RETRY) < 0
            || (strcmp(queue, QF_DEFERRED) != 0
                && qf_move_lazy(id, queue, QF_DEFERRED) < 0)) {
            if (qf_reason() != QF_ERR_GONE)
                msg_warn("%s: %s", id, qf_error());
        }
        return;
    }
    if (qf_move_lazy(id, queue, QF_ACTIVE) < 0) {
        if (qf_reason() != QF_ERR_GONE)
            msg_warn("%s: cannot move to the active queue: %s", id, qf_error());
        return;
    }
    qmgr_msg_load(id);
}

/* ---- scanning ------------------------------------------------------------ */

static int qmgr_full(void)
{
    return qm.nmsgs >= (size_t) var_qmgr_message_active_limit
           || (qm.nmsgs > 0
               && qm.nrcpts >= (size_t) var_qmgr_message_recipient_limit);
}

/*
 * May deferred/ID be activated by the scan that started at START? Not when
 * it came into the folder after that (its ctime is later: a message this
 * qmgr deferred while the scan went on; the next scan takes it), nor,
 * unless ALL, before its retry time (the mtime).
 */
static int qmgr_deferred_ok(const char *id, const struct timespec *start,
                            int all, long long now)
{
    struct buf *path = buf_new(64);
    struct stat st;
    int ok;

    qf_path(path, QF_DEFERRED, id);
    ok = stat(buf_str(path), &st) == 0
         && (st.st_ctim.tv_sec < start->tv_sec
             || (st.st_ctim.tv_sec == start->tv_sec
                 && st.st_ctim.tv_nsec <= start->tv_nsec))
         && (all || (long long) st.st_mtime <= now);
    buf_free(path);
    return ok;
}

/*
 * Ask for a scan of QUEUE (incoming or deferred); ALL: a flush (deferred
 * retry times are ignored, the messages count as flushed). The scan runs
 * from the scheduler, a batch at a time.
 */
static void qmgr_want_scan(const char *queue, int all)
{
    int *want =
        strcmp(queue, QF_DEFERRED) == 0 ? &qm.want_deferred : &qm.want_incoming;

    if (*want < (all ? 2 : 1))
        *want = all ? 2 : 1;
    qmgr_kick();
}

static void qmgr_scan_stop(void)
{
    qf_scan_close(qm.scan);
    qm.scan = NULL;
}

/*
 * Go on with the scan in progress, or start the one wanted (incoming
 * first): activate up to QMGR_SCAN_BATCH messages, so that deliveries
 * start and results come in while a large queue is still being read.
 * At the active limits the scan stops and is wanted again (qmgr_msg_free
 * kicks the scheduler when room comes back). 1: there is more to do now.
 */
static int qmgr_scan_step(void)
{
    struct buf *name;
    long long now = qmgr_now();
    int done = 0;
    int got;

    if (qm.scan == NULL) {
        int *want = qm.want_incoming ? &qm.want_incoming : &qm.want_deferred;

        if (*want == 0 || qmgr_full())
            return 0;
        qm.scan_queue = want == &qm.want_incoming ? QF_INCOMING : QF_DEFERRED;
        qm.scan_all = *want == 2;
        *want = 0;
        clock_gettime(CLOCK_REALTIME, &qm.scan_start);
        if ((qm.scan = qf_scan_open(qm.scan_queue, 0)) == NULL) {
            msg_warn("%s", qf_error());
            return 0;
        }
    }
    name = buf_new(32);
    qm.flushing = qm.scan_all;
    while (qm.scan && done < QMGR_SCAN_BATCH) {
        if (qmgr_full()) {
            qmgr_scan_stop();
            qmgr_want_scan(qm.scan_queue, qm.scan_all);
            break;
        }
        if ((got = qf_scan_next(qm.scan, name)) <= 0) {
            if (got < 0)
                msg_warn("%s", qf_error());
            qmgr_scan_stop();
            break;
        }
        if (strcmp(qm.scan_queue, QF_DEFERRED) == 0
            && !qmgr_deferred_ok(buf_str(name), &qm.scan_start, qm.scan_all,
                                 now))
            continue;
        qmgr_activate(qm.scan_queue, buf_str(name));
        done++;
    }
    qm.flushing = 0;
    buf_free(name);
    return qm.scan != NULL
           || ((qm.want_incoming || qm.want_deferred) && !qmgr_full());
}

/* Does deferred/ID have a recipient for SITE (domain or nexthop)? */
static int qmgr_site_match(const char *id, const char *site)
{
    struct qf_reader *r = qf_open(QF_DEFERRED, id, 0);
    struct resolve_reply reply;
    struct buf *data = buf_new(128);
    struct buf *sender = buf_new(32);
    struct rec_rcpt rc;
    int type;
    int match = 0;

    if (r == NULL) {
        buf_free(data);
        buf_free(sender);
        return 0;
    }
    rec_rcpt_init(&rc);
    resolve_reply_init(&reply);
    while (!match && (type = qf_read(r, data)) > 0 && type != REC_END) {
        const char *at;

        if (type == REC_SENDER)
            buf_set(sender, buf_str(data));
        if (type == REC_MESSAGE) {
            if (qf_skip_content(r) < 0)
                break;
            continue;
        }
        if (type != REC_RCPT
            || rec_rcpt_parse(buf_str(data), buf_len(data), &rc) < 0
            || rc.status != REC_RCPT_PENDING)
            continue;
        at = strrchr(buf_str(rc.addr), '@');
        if (at && strcasecmp(at + 1, site) == 0)
            match = 1;
        else if (resolve_addr(qm.resolver, buf_str(sender), buf_str(rc.addr), 0,
                              &reply)
                     == LOOKUP_FOUND
                 && strcasecmp(buf_str(reply.nexthop), site) == 0)
            match = 1;
    }
    qf_close(r);
    rec_rcpt_free(&rc);
    resolve_reply_free(&reply);
    buf_free(data);
    buf_free(sender);
    return match;
}

static void qmgr_flush_site(const char *site)
{
    struct qf_scan *s = qf_scan_open(QF_DEFERRED, 0);
    struct buf *name = buf_new(32);

    if (s == NULL) {
        msg_warn("%s", qf_error());
        buf_free(name);
        return;
    }
    while (qf_scan_next(s, name) > 0)
        if (qmgr_site_match(buf_str(name), site))
            qmgr_activate(QF_DEFERRED, buf_str(name));
    qf_scan_close(s);
    buf_free(name);
}

/* 'F': forget throttled transports and dead destinations. */
static void qmgr_revive_all(void)
{
    struct htable_entry **list = htable_list(qm.transports);
    size_t i;

    for (i = 0; i < qm.transports->used; i++) {
        struct qtransport *t = list[i]->value;

        t->throttled_until = 0;
    }
    mem_free(list);
    list = htable_list(qm.dests);
    for (i = 0; i < qm.dests->used; i++) {
        struct qdest *d = list[i]->value;

        if (d->win.dead)
            qmgr_window_revive(&d->win, var_initial_destination_concurrency);
    }
    mem_free(list);
}

/* The periodic run: due deferred mail, and tables that changed. */
static void qmgr_queue_run(struct event_loop *loop, void *ctx)
{
    (void) ctx;
    qm.run_timer = 0;
    resolver_reopen(qm.resolver);
    qmgr_want_scan(QF_INCOMING, 0);
    qmgr_want_scan(QF_DEFERRED, 0);
    qm.run_timer =
        event_timer(loop, var_queue_run_delay * 1000L, qmgr_queue_run, NULL);
}

static void qmgr_trigger(const char *data, size_t len, void *ctx)
{
    struct buf *arg = buf_new(64);
    int all = 0;
    int incoming = 0;
    int deferred = 0;
    size_t i;

    (void) ctx;
    if (data[0] == QMGR_REQ_RETRY_ID || data[0] == QMGR_REQ_RETRY_SITE) {
        buf_append(arg, data + 1, len - 1);
        while (buf_len(arg) > 0
               && (buf_str(arg)[buf_len(arg) - 1] == '\n'
                   || buf_str(arg)[buf_len(arg) - 1] == 0))
            buf_truncate(arg, buf_len(arg) - 1);
        qm.flushing = 1;
        if (data[0] == QMGR_REQ_RETRY_ID) {
            if (qf_name_valid(buf_str(arg)))
                qmgr_activate(QF_DEFERRED, buf_str(arg));
            else
                msg_warn("retry request: bad queue ID");
        } else if (buf_len(arg) > 0 && !memchr(buf_str(arg), 0, buf_len(arg))) {
            qmgr_flush_site(buf_str(arg));
        }
        qm.flushing = 0;
        buf_free(arg);
        qmgr_kick();
        return;
    }
    buf_free(arg);
    for (i = 0; i < len; i++) {
        switch (data[i]) {
        case QMGR_REQ_SCAN_INCOMING:
        case QMGR_REQ_WAKEUP:
            incoming = 1;
            break;
        case QMGR_REQ_SCAN_DEFERRED:
            deferred = 1;
            break;
        case QMGR_REQ_SCAN_ALL:
            all = 1;
            break;
        case QMGR_REQ_FLUSH_DEAD:
            qmgr_revive_all();
            break;
        default:
            break;
        }
    }
    if (incoming || all)
        qmgr_want_scan(QF_INCOMING, all);
    if (deferred)
        qmgr_want_scan(QF_DEFERRED, all);
    qmgr_kick();
}

/* A previous qmgr died: what it had in active/ starts over. */
static void qmgr_recover_active(void)
{
    struct qf_scan *s = qf_scan_open(QF_ACTIVE, 0);
    struct buf *name = buf_new(32);

    if (s == NULL) {
        msg_warn("%s", qf_error());
        buf_free(name);
        return;
    }
    while (qf_scan_next(s, name) > 0)
        if (qf_move_lazy(buf_str(name), QF_ACTIVE, QF_INCOMING) < 0
            && qf_reason() != QF_ERR_GONE)
            msg_warn("%s: %s", buf_str(name), qf_error());
    qf_scan_close(s);
    buf_free(name);
}

static void qmgr_post_jail(void *ctx)
{
    (void) ctx;
    qm.resolver = resolver_new();
    qm.mcf = mastercf_load_quiet(var_config_directory);
    qm.transports = htable_new(16);
    qm.dests = htable_new(64);
    qm.msgs = htable_new(256);
    qmgr_recover_active();
    qm.run_timer = event_timer(daemon_loop(), 0, qmgr_queue_run, NULL);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_TRIGGER,
        .flags = DAEMON_FLAG_RESIDENT,
        .post_jail = qmgr_post_jail,
        .trigger = qmgr_trigger,
    };

    daemon_main(argc, argv, &ops);
}
