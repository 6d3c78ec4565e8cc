/*
 * queue_list.h - the mail queue listing: reading one message's summary
 * from its queue file and defer log, sending it from showq to postqueue,
 * and formatting it as Postfix's mailq text or postqueue -j JSON.
 *
 * Callers: queue/showq.c (ql_msg_read, ql_send), queue/postqueue.c
 * (ql_recv and the formatters; ql_msg_read when root lists a queue whose
 * showq is down), tests/unit/test_showq_format.c (the formatters are pure:
 * same input, same bytes, the time zone given by the caller's TZ).
 *
 * Text format (postqueue -p, mailq), Postfix's:
 *   -Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
 *   ID[S]       SIZE Www Mmm dd hh:mm:ss  sender
 *                       (delay reason, right-aligned to column 78)
 *                                            recipient
 *   (blank line after each message)
 *   -- N Kbytes in M Requests.          or  Mail queue is empty
 * S is '*' (active), '!' (hold), '#' (forced to expire), nothing else.
 * The null sender shows as MAILER-DAEMON. Recipients are grouped by delay
 * reason, those without one first.
 *
 * JSON (postqueue -j): one object per line with Postfix 3.1's members
 * queue_name, queue_id, arrival_time, message_size, forced_expire, sender,
 * recipients [{address, delay_reason?}].
 *
 * Wire (showq -> postqueue), attribute lists (attr.h) with a timeout:
 *   per message: queue_name, queue_id, time (LONG, seconds), size (LONG),
 *                forced_expire (INT), sender, rcpt_count (INT);
 *                then rcpt_count lists {address, reason} ("" = none)
 *   at the end:  the same list with queue_name "" and rcpt_count = the
 *                number of messages sent, so a cut listing is noticed.
 *
 * Errors: ql_msg_read returns -1 with qf_error() (QF_ERR_GONE: the message
 * left the queue while being listed; skip it). ql_recv returns -1 with a
 * message in ql_error().
 */
#ifndef POSTERN_QUEUE_LIST_H
#define POSTERN_QUEUE_LIST_H

#include <stddef.h>

struct buf;
struct stream;

struct ql_rcpt {
    char *addr;
    char *reason; /* NULL: no delay reason recorded */
};

struct ql_msg {
    char *queue;
    char *id;
    long long arrival; /* seconds since the epoch */
    long long size;    /* message content bytes */
    int forced_expire;
    char *sender; /* "" = the null sender */
    struct ql_rcpt *rcpts;
    size_t nrcpt;
    size_t rcpt_alloc;
};

/* The queues a listing walks, in Postfix's order; NULL-terminated. */
extern const char *const ql_queues[];

void ql_msg_init(struct ql_msg *m);
void ql_msg_free(struct ql_msg *m); /* frees the members, not M */
/* Add a recipient (REASON NULL = none); copies the strings. */
void ql_msg_add_rcpt(struct ql_msg *m, const char *addr, const char *reason);

/*
 * Fill M from QUEUE/ID (queue_file.h root): the pending recipients, and
 * their delay reasons from defer/ID when it exists. 0, or -1 (qf_error).
 */
int ql_msg_read(struct ql_msg *m, const char *queue, const char *id);

/*
 * Read every message of every queue in ql_queues (names sorted within a
 * queue, so oldest first) and call FN for each; messages that vanish
 * meanwhile are skipped, unreadable ones are skipped with a warning.
 * Returns how many messages FN got, or -1 as soon as FN returns -1.
 */
long ql_walk(int (*fn)(const struct ql_msg *m, void *ctx), void *ctx);

/* ---- formatting (append to OUT) ------------------------------------------ */

void ql_text_header(struct buf *out);
void ql_text_msg(struct buf *out, const struct ql_msg *m);
/* "-- N Kbytes in M Requests." or "Mail queue is empty". */
void ql_text_footer(struct buf *out, long long total_bytes, long count);
void ql_json_msg(struct buf *out, const struct ql_msg *m);
/* A JSON string literal for DATA (UTF-8 kept, controls escaped). */
void ql_json_string(struct buf *out, const char *data, size_t len);

/* ---- showq <-> postqueue ------------------------------------------------- */

int ql_send(struct stream *s, const struct ql_msg *m);
int ql_send_end(struct stream *s, long count);
/*
 * 1: a message in M (freed and refilled); 0: the end list arrived, with
 * the number of messages the server sent in *END_COUNT; -1: error.
 */
int ql_recv(struct stream *s, struct ql_msg *m, long *end_count);
const char *ql_error(void);

#endif
