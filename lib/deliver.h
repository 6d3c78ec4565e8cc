/*
 * deliver.h - the delivery request between the queue manager and a
 * delivery agent (smtp, local, discard, error, and any master.cf service
 * an administrator names as a transport), and the agent's side of it.
 *
 * ---- Protocol (attribute lists of attr.h) -------------------------------
 *
 * qmgr connects to private/TRANSPORT (TRANSPORT = the master.cf service
 * name from the resolver); one connection carries one request:
 *
 *   qmgr  -> agent  request list:
 *       queue_name (STR)   "active"
 *       queue_id   (STR)
 *       nexthop    (STR)   exactly as resolved: "[relay.example]:587"
 *       sender     (STR)   "" = the null sender
 *       flags      (INT)   the message's REC_FLAG_* bits
 *       dsn_envid  (STR), dsn_ret (INT, 0 = not given)
 *       arrival_time (LONG) microseconds since the epoch (TIME record)
 *       active_time  (LONG) when qmgr moved it into active/ (us)
 *       request_time (LONG) when qmgr sent this request (us)
 *       rcpt_count (INT)   1 .. (the transport's recipient limit)
 *   qmgr  -> agent  rcpt_count recipient lists:
 *       address (STR), orig_rcpt (STR), orcpt (STR), notify (INT),
 *       offset (LONG: the RCPT record's offset in the queue file)
 *   agent -> qmgr   one result list per recipient, in any order, as each
 *                   is known:
 *       index (INT, 0-based), action (INT, REC_ACTION_*), dsn (STR,
 *       "2.0.0"), reason (STR)
 *   agent -> qmgr   the final list: status (INT, 0), then the agent
 *                   closes the connection.
 *
 * The agent does the durable part itself, before it sends a result
 * (deliver_report): delivered (and relayed, expanded) recipients are
 * marked done in the queue file; bounced ones get a STATUS record in
 * bounce/ID and are then marked bounced; deferred ones get a STATUS
 * record in defer/ID. So a crash of qmgr or the agent after a result never
 * delivers that recipient again, and a result qmgr never got only makes
 * it look at the queue file again. A recipient without a result when the
 * connection ends (agent crashed, timed out, not installed) is deferred by
 * qmgr with a reason saying so ("delivery agent smtp: connection closed").
 *
 * ---- The bounce service (private/bounce) ------------------------------
 *
 *   qmgr   -> bounce  request (STR: "flush" | "warn"), queue_name (STR),
 *                     queue_id (STR)
 *     flush: every recipient is done; send the non-delivery notice for
 *            the STATUS records in bounce/ID (to the sender; for the null
 *            sender or a REC_FLAG_BOUNCE message, a double bounce to
 *            2bounce_notice_recipient when notify_classes has "2bounce"
 *            or "bounce", else it is only logged and dropped, as in
 *            Postfix; a failed double bounce is only logged), plus the
 *            postmaster copy per notify_classes.
 *     warn:  send the delay notice for the STATUS records in defer/ID
 *            (recipients whose NOTIFY allows DELAY: not given, or with
 *            REC_NOTIFY_DELAY).
 *   bounce -> qmgr    status (INT: 0 = done (a notice queued, or none was
 *                     due), 1 = try again later), reason (STR)
 *   qmgr removes bounce/ID (flush) after status 0; bounce never removes
 *   queue files or logs.
 *
 * Errors: the functions return -1 with a one-line reason in ERR (or
 * deliver_error()); none exits.
 */
#ifndef POSTERN_DELIVER_H
#define POSTERN_DELIVER_H

#include <stddef.h>

struct buf;
struct stream;
struct qf_reader;

#define DELIVER_REQ_FLUSH "flush"
#define DELIVER_REQ_WARN  "warn"

#define BOUNCE_STAT_OK    0
#define BOUNCE_STAT_RETRY 1

struct deliver_rcpt {
    struct buf *address;
    struct buf *orig_rcpt;
    struct buf *orcpt;
    int notify;
    long long offset;
    int done; /* set by deliver_report: a result was sent */
};

struct deliver_request {
    struct buf *queue_name;
    struct buf *queue_id;
    struct buf *nexthop;
    struct buf *sender;
    struct buf *dsn_envid;
    int flags;
    int dsn_ret;
    long long arrival_us;
    long long active_us;
    long long request_us;
    size_t rcpt_count;
    struct deliver_rcpt *rcpts;
};

void deliver_request_init(struct deliver_request *req);
void deliver_request_free(struct deliver_request *req);
/* Add a recipient (qmgr building a request). */
void deliver_request_add_rcpt(struct deliver_request *req, const char *address,
                              const char *orig_rcpt, const char *orcpt,
                              int notify, long long offset);

/* ---- qmgr's side (non-blocking callers encode and parse in memory) --- */

/* Append the request list and every recipient list to OUT. */
void deliver_request_encode(struct buf *out, const struct deliver_request *req);
/*
 * Parse one result list from DATA/LEN (a complete attribute list; an
 * event-driven caller frames lists with attr_frame_len of attr.h).
 * FINAL: 1 for the final "status" list, 0 for a result. 0, or -1.
 */
int deliver_result_parse(const void *data, size_t len, int *final, int *index,
                         int *action, struct buf *dsn, struct buf *reason);

/* ---- the agent's side ---------------------------------------------------- */

struct deliver_agent;

/*
 * Read one request from S (with its timeout), open the queue file
 * (queue_name/queue_id, QF_OPEN_RDWR) and set up reporting. NULL with ERR
 * on a bad request (logged by the caller as a warning; the connection is
 * closed) or when the queue file is gone.
 */
struct deliver_agent *deliver_agent_open(struct stream *s, struct buf *err);
const struct deliver_request *
deliver_agent_request(const struct deliver_agent *a);
/* The queue file, for reading the content (qf_seek_content, qf_read). */
struct qf_reader *deliver_agent_file(struct deliver_agent *a);
/*
 * Mark the end of connection setup (the "c" of delays=a/b/c/d); without
 * it, c is 0.
 */
void deliver_agent_connected(struct deliver_agent *a);
/*
 * The result for recipient INDEX: ACTION (REC_ACTION_*), DSN ("2.0.0"),
 * RELAY ("mx.example[192.0.2.1]:25", "local", "none"), and the reason
 * text (printf FMT). Logs Postfix's line
 *   ID: to=<rcpt>, orig_to=<orig>, relay=RELAY, delay=D,
 *   delays=a/b/c/d, dsn=DSN, status=sent|deferred|bounced (REASON)
 * (orig_to only when it differs; "expanded" for EXPANDED), does the
 * durable part described above, then sends the result to qmgr. A result
 * for a recipient already reported is a panic. 0, or -1 when the file or
 * the log could not be written (then the recipient is deferred instead:
 * the agent must not claim success it could not record).
 */
int deliver_report(struct deliver_agent *a, size_t index, int action,
                   const char *dsn, const char *relay, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/*
 * deliver_report without the log line, for an agent that logged the
 * deliveries the recipient expanded into itself (local: aliases,
 * .forward). The line is still logged when the result cannot be recorded.
 */
int deliver_report_quiet(struct deliver_agent *a, size_t index, int action,
                         const char *dsn, const char *relay, const char *fmt,
                         ...) __attribute__((format(printf, 6, 7)));
/* Report every recipient without a result yet with the same outcome. */
int deliver_report_rest(struct deliver_agent *a, int action, const char *dsn,
                        const char *relay, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/*
 * Send the final status list (after deferring any recipient without a
 * result with "4.3.0 delivery agent gave no result") and free. Does not
 * close S.
 */
int deliver_agent_finish(struct deliver_agent *a);

/* ---- shared by qmgr and the agents (added by the qmgr work) ------------ */

/* Why the last deliver_result_parse (or other call) failed. */
const char *deliver_error(void);
/* Wall-clock time in microseconds. */
long long deliver_now_us(void);
/*
 * Log Postfix's delivery line for one recipient (the one function that
 * makes it): "ID: to=<RCPT>, orig_to=<ORIG>, relay=RELAY, delay=D,
 * delays=a/b/c/d, dsn=DSN, status=sent|expanded|deferred|bounced
 * (REASON)". Times in microseconds; 0 for one not known. qmgr logs its
 * own deferrals (agent unavailable) with it.
 */
void deliver_log_status(const char *queue_id, const char *rcpt,
                        const char *orig, const char *relay,
                        long long arrival_us, long long active_us,
                        long long request_us, long long connected_us,
                        int action, const char *dsn, const char *reason);

#endif
