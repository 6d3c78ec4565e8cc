/*
 * cleanup_client.h - handing a new message to the cleanup service, and
 * the protocol both sides speak.
 *
 * Callers: pickup (maildrop files), bounce (notices), smtpd (issue 6).
 * The server is queue/cleanup.
 *
 * ---- Protocol (over public/cleanup, attribute lists of attr.h and
 * records of record.h on one connection) -----------------------------------
 *
 *   cleanup -> client   attr list: queue_id (STR)
 *                       the ID of the queue file cleanup just created, so
 *                       the client can log it and put it in its own
 *                       Received: header before sending anything
 *   client  -> cleanup  attr list: flags (INT, CLEANUP_FLAG_* bits)
 *   client  -> cleanup  records (REC_READ_STREAM), in queue-file order:
 *                       VERSION
 *                       envelope: TIME (optional; cleanup uses the
 *                       current time without it), SENDER (exactly once),
 *                       RCPT (status byte 'P'), ATTR, FLAGS, DSN_RET,
 *                       DSN_ENVID, WARN is not sent (cleanup computes it
 *                       from delay_warning_time)
 *                       MESSAGE, then the content as LINE / PIECE
 *                       records (headers, the empty line, the body)
 *                       XTRACTED, then late RCPT / ATTR / FLAGS
 *                       END
 *   cleanup -> client   attr list: status (INT, CLEANUP_STAT_* bits, 0 =
 *                       queued), reason (STR, "" when queued; otherwise
 *                       the text for the client, e.g. "5.7.1 message
 *                       content rejected" as header_checks REJECT gives)
 *
 * Envelope ATTRs that cleanup reads (all but the first two are also kept
 * in the queue file):
 *     full_name        sendmail -F: the phrase of the From: header that
 *                      cleanup adds for a local submission (not kept)
 *     rewrite_context  "local" or "remote": how headers are rewritten and
 *                      whether missing headers are added (not kept);
 *                      without it a message with a client_address is
 *                      local when that client matches
 *                      local_header_rewrite_clients, one without is local
 *     client_address, client_name, helo_name, protocol_name,
 *     sasl_username    the client, for local_header_rewrite_clients and
 *                      for header_checks log lines
 *
 * cleanup streams everything into the queue file as it arrives and
 * answers status 0 only after the file is complete, fsynced and renamed
 * into incoming/ (qf_commit). Any other outcome leaves no file behind. A
 * client that goes away before END aborts the message. Every read on
 * either side has the ipc_timeout deadline.
 *
 * Errors: the calls below return -1 with the reason in the client's error
 * text (cleanup_error) when the conversation itself fails (cannot connect,
 * timeout, protocol error): the caller treats that as CLEANUP_STAT_WRITE
 * (a temporary failure).
 */
#ifndef POSTERN_CLEANUP_CLIENT_H
#define POSTERN_CLEANUP_CLIENT_H

#include <stddef.h>

struct buf;
struct rec_writer;

/* Request flags (client -> cleanup). */
#define CLEANUP_FLAG_BOUNCE                                                    \
    0x01 /* pickup: a rejected message becomes a                               \
          * bounce to the sender (the submitter was                            \
          * already told "accepted"), see below */
#define CLEANUP_FLAG_NOTICE                                                    \
    0x02 /* bounce: this is a notice; never add                                \
          * bounces of it (REC_FLAG_BOUNCE) */
#define CLEANUP_FLAG_NO_MAPS                                                   \
    0x04                                /* receive_override_options =          \
                                         * no_address_mappings */
#define CLEANUP_FLAG_NO_HDR_CHECKS 0x08 /* no_header_body_checks */
#define CLEANUP_FLAG_NO_UNKNOWN_RCPT                                           \
    0x10 /* no_unknown_recipient_checks                                        \
          * (accepted, kept for smtpd) */

/*
 * With CLEANUP_FLAG_BOUNCE a message that cleanup would reject (content
 * rejected, too large, no recipients) is still queued, with the message
 * attribute ATTR "fail_reason" set to "X.Y.Z text": the queue manager
 * bounces every recipient with that reason instead of delivering. Content
 * past message_size_limit is not kept (the headers are).
 */
#define CLEANUP_ATTR_FAIL_REASON "fail_reason"
/*
 * The content filter "transport:nexthop" (smtpd's FILTER access action):
 * qmgr sends every recipient there instead of resolving it.
 */
#define CLEANUP_ATTR_FILTER "content_filter"

/* Reply status bits (cleanup -> client); Postfix's classes. */
#define CLEANUP_STAT_OK 0
#define CLEANUP_STAT_BAD                                                       \
    0x0001                          /* internal error, or a table lookup       \
                                     * failed: try again later */
#define CLEANUP_STAT_WRITE   0x0002 /* cannot write the queue file */
#define CLEANUP_STAT_SIZE    0x0004 /* message_size_limit exceeded */
#define CLEANUP_STAT_CONT    0x0008 /* content rejected (header_checks) */
#define CLEANUP_STAT_HOPS    0x0010 /* too many Received: (hopcount_limit) */
#define CLEANUP_STAT_RCPT    0x0020 /* no recipients */
#define CLEANUP_STAT_DEFER   0x0100 /* temporarily rejected (DEFER action) */
#define CLEANUP_STAT_NOSPACE 0x0200 /* with WRITE: the disk is full */

/* Is STATUS a temporary failure (4xx, EX_TEMPFAIL)? */
int cleanup_stat_temporary(int status);
/*
 * Set OUT to the SMTP reply for STATUS and REASON, Postfix's texts:
 * "250 2.0.0 Ok: queued as ID" is not made here. Examples:
 *   WRITE|NOSPACE  "452 4.3.1 Insufficient system storage"
 *   WRITE, BAD     "451 4.3.0 Error: queue file write error"
 *   SIZE           "552 5.3.4 Message size exceeds fixed limit"
 *   HOPS           "554 5.4.0 Error: too many hops"
 *   CONT, DEFER    "550 " / "450 " + REASON ("5.7.1 message content
 *                  rejected")
 *   RCPT           "554 5.5.1 Error: no valid recipients"
 */
void cleanup_stat_reply(struct buf *out, int status, const char *reason);
/* sysexits.h exit code for STATUS (EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE,
 * EX_DATAERR, EX_NOPERM ...). */
int cleanup_stat_exit(int status);

/* receive_override_options (a parsed list) as CLEANUP_FLAG_* bits;
 * unknown words are logged with a warning and ignored. */
int cleanup_flags_from_overrides(const char *value);

/* ---- the client -------------------------------------------------------- */

struct cleanup_client;

/*
 * Connect to public/cleanup (mail_connect), read the queue ID, send FLAGS
 * and the VERSION record. NULL on failure (the reason in ERR).
 */
struct cleanup_client *cleanup_open(int flags, struct buf *err);
/* The queue ID cleanup assigned. */
const char *cleanup_queue_id(const struct cleanup_client *c);
/*
 * The record writer for the envelope, MESSAGE, content, XTRACTED and late
 * records (rec_put, rec_puts, rec_put_int, rec_put_rcpt, rec_put_attr).
 * Do not write VERSION or END; cleanup_finish writes END.
 */
struct rec_writer *cleanup_writer(struct cleanup_client *c);
/*
 * One content line (without its line ending) or, with PARTIAL, the first
 * part of one; long data is split into PIECE records. 0 / -1.
 */
int cleanup_put_text(struct cleanup_client *c, const char *data, size_t len,
                     int partial);
/*
 * Write END, flush, and wait for the reply. Returns the CLEANUP_STAT_*
 * bits (REASON gets the reason text), or -1 when the conversation failed
 * (REASON gets why: "cleanup: timeout", "cleanup: connection closed").
 */
int cleanup_finish(struct cleanup_client *c, struct buf *reason);
/* Close (before cleanup_finish: cleanup drops the message) and free. */
void cleanup_close(struct cleanup_client *c);

#endif
