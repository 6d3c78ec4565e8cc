/*
 * mail_proto.h - the names every queue program agrees on: service
 * endpoints, wake-up requests, and how to reach a service.
 *
 * Callers: every program of queue/ (cleanup, pickup, postdrop, qmgr,
 * bounce, showq, sendmail, postqueue, postsuper), the delivery agents,
 * smtpd and `postern flush`.
 *
 * Endpoints are UNIX sockets made by master from master.cf:
 * $queue_directory/public/NAME for a service whose private column is "n",
 * $queue_directory/private/NAME otherwise. Every daemon has its working
 * directory in queue_directory (daemon_main chdirs there before chroot),
 * so a daemon reaches "public/cleanup" by that relative name whether it
 * is chrooted or not; a command (sendmail, postqueue, ...) uses the
 * absolute name under var_queue_directory. mail_endpoint() picks.
 *
 * Wake-up requests (triggers) are a connection that writes a few bytes
 * and closes; the receiving daemon (DAEMON_TRIGGER) gets the bytes as one
 * request. The queue manager's request letters are Postfix's, one letter
 * each, several may come in one request:
 *     'I' scan incoming/     'D' scan deferred/ now (retry everything)
 *     'A' scan all queues    'F' forget dead and throttled destinations
 *     'W' just wake up
 * and Postern's own requests, each one whole request of its own:
 *     "Q" ID        retry this deferred message now (postqueue -i)
 *     "S" SITE      retry deferred mail for destination SITE now
 *                   (postqueue -s, sendmail -qR)
 * pickup takes any request as "scan maildrop/ now".
 *
 * Errors: mail_connect and mail_trigger return -1 with the reason in
 * mail_proto_error() ("connect to public/cleanup: No such file or
 * directory"); nothing here logs or exits.
 */
#ifndef POSTERN_MAIL_PROTO_H
#define POSTERN_MAIL_PROTO_H

#include <stddef.h>

struct buf;

/* Endpoint classes (folders of queue_directory). */
#define MAIL_CLASS_PUBLIC  "public"
#define MAIL_CLASS_PRIVATE "private"

/* Services and the class each lives in (conf/master.cf). */
#define MAIL_SERVICE_CLEANUP "cleanup" /* public: smtpd, pickup, bounce */
#define MAIL_SERVICE_PICKUP  "pickup"  /* public trigger: postdrop */
#define MAIL_SERVICE_QMGR    "qmgr"    /* public trigger: cleanup, postqueue */
#define MAIL_SERVICE_SHOWQ   "showq"   /* public: postqueue -p / -j */
#define MAIL_SERVICE_BOUNCE  "bounce"  /* private: qmgr */

/* Queue manager wake-up letters. */
#define QMGR_REQ_SCAN_INCOMING 'I'
#define QMGR_REQ_SCAN_DEFERRED 'D'
#define QMGR_REQ_SCAN_ALL      'A'
#define QMGR_REQ_FLUSH_DEAD    'F'
#define QMGR_REQ_WAKEUP        'W'
#define QMGR_REQ_RETRY_ID      'Q' /* followed by a queue ID */
#define QMGR_REQ_RETRY_SITE    'S' /* followed by a destination */
/* What `postern flush`, `postqueue -f` and `sendmail -q` send. */
#define QMGR_FLUSH_REQUEST "FAD"

/* Set OUT to the path of endpoint CLASS/SERVICE for this process. */
void mail_endpoint(struct buf *out, const char *cls, const char *service);

/*
 * Connect to CLASS/SERVICE within TIMEOUT_MS milliseconds: a blocking,
 * close-on-exec descriptor, or -1.
 */
int mail_connect(const char *cls, const char *service, long timeout_ms);

/*
 * Send the wake-up REQUEST (LEN bytes) to CLASS/SERVICE and close,
 * within var_trigger_timeout. 0, or -1 (the daemon is not running, ...).
 */
int mail_trigger(const char *cls, const char *service, const char *request,
                 size_t len);

/* Why the last mail_connect or mail_trigger failed. */
const char *mail_proto_error(void);

#endif
