/*
 * bounce.c - the bounce service: non-delivery notices, delay warnings,
 * postmaster copies and double bounces.
 *
 * master starts it (master.cf "bounce", DAEMON_SINGLE, chrooted, as
 * mail_owner); qmgr connects to private/bounce and sends one request of
 * lib/deliver.h: "flush" (every recipient is done: report the results in
 * bounce/ID) or "warn" (report the delays in defer/ID). Each notice is a
 * new message handed to the cleanup service (lib/cleanup_client.h) with
 * the null sender (notices to a sender) or double_bounce_sender (notices
 * to the postmaster), so that a notice that cannot be delivered is never
 * returned in a loop:
 *   - a message from double_bounce_sender (or one of our postmaster
 *     notices) that fails is only logged;
 *   - a message with the null sender or REC_FLAG_BOUNCE (a notice) that
 *     fails goes to 2bounce_notice_recipient when notify_classes has
 *     "2bounce" or "bounce" (as Postfix does), and is only logged
 *     otherwise;
 *   - any other failed message gets a notice to its sender, and a copy
 *     with headers only to bounce_notice_recipient when notify_classes
 *     has "bounce" (delay warnings: "delay", delay_notice_recipient).
 * The content is written by bounce_notice.c.
 *
 * Errors: a malformed request is logged and the connection closed; a
 * notice that cannot be queued (cleanup unreachable or refusing) is
 * answered with status 1 and the reason, so qmgr tries again later. The
 * service never removes queue files or logs.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "attr.h"
#include "buf.h"
#include "cleanup_client.h"
#include "daemon.h"
#include "deliver.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"
#include "str.h"
#include "stream.h"

#include "bounce_notice.h"

/* Where notice content goes: the cleanup client. */
struct bounce_feed {
    struct cleanup_client *client;
    int eight; /* 8-bit bytes were written */
};

static int bounce_feed_text(void *ctx, const char *data, size_t len,
                            int partial)
{
    struct bounce_feed *f = ctx;
    size_t i;

    for (i = 0; i < len && !f->eight; i++)
        if ((unsigned char) data[i] > 127)
            f->eight = 1;
    return cleanup_put_text(f->client, data, len, partial);
}

/* Is WORD in notify_classes? */
static int bounce_notify_has(const char *word)
{
    char *copy = mem_strdup(var_notify_classes);
    char *cp = copy;
    char *tok;
    int found = 0;

    while (!found && (tok = str_token(&cp, STR_LIST_SEP)) != NULL)
        found = strcasecmp(tok, word) == 0;
    mem_free(copy);
    return found;
}

/* A recipient or sender parameter, qualified with @$myorigin. */
static void bounce_qualify(struct buf *out, const char *addr)
{
    buf_set(out, addr);
    if (strchr(addr, '@') == NULL && *var_myorigin != 0)
        buf_printf(out, "@%s", var_myorigin);
}

/*
 * Queue a notice of KIND about BI from SENDER to RCPT. Returns 0 and the
 * new queue ID in NEW_ID, or -1 with REASON.
 */
static int bounce_submit(const struct bounce_info *bi, enum bounce_kind kind,
                         const char *sender, const char *rcpt, const char *what,
                         struct buf *new_id, struct buf *reason)
{
    struct bounce_feed feed = {NULL, 0};
    struct bounce_sink sink = {bounce_feed_text, &feed};
    struct rec_writer *w;
    struct buf *err = buf_new(128);
    int status;

    buf_reset(reason);
    if ((feed.client = cleanup_open(CLEANUP_FLAG_NOTICE, err)) == NULL) {
        buf_setf(reason, "cannot queue a notice: %s", buf_str(err));
        buf_free(err);
        return -1;
    }
    buf_set(new_id, cleanup_queue_id(feed.client));
    w = cleanup_writer(feed.client);
    if (rec_puts(w, REC_SENDER, sender) < 0
        || rec_put_int(w, REC_FLAGS, REC_FLAG_BOUNCE) < 0
        || rec_put_attr(w, BOUNCE_ATTR_NOTICE, what) < 0
        || rec_put_rcpt(w, REC_RCPT_PENDING, 0, rcpt, rcpt, NULL) < 0
        || rec_put(w, REC_MESSAGE, "", 0) < 0) {
        buf_setf(reason, "cannot queue a notice: cleanup: %s",
                 rec_writer_error(w));
        goto fail;
    }
    if (bounce_compose(bi, kind, rcpt, buf_str(new_id), time(NULL), &sink, err)
        < 0) {
        buf_setf(reason, "cannot queue a notice: %s", buf_str(err));
        goto fail;
    }
    if (rec_put(w, REC_XTRACTED, "", 0) < 0
        || (feed.eight && rec_put_int(w, REC_FLAGS, REC_FLAG_8BITMIME) < 0)) {
        buf_setf(reason, "cannot queue a notice: cleanup: %s",
                 rec_writer_error(w));
        goto fail;
    }
    status = cleanup_finish(feed.client, err);
    if (status != 0) {
        if (status < 0 || buf_len(err) == 0)
            buf_setf(reason, "cannot queue a notice: %s",
                     buf_len(err) ? buf_str(err) : "cleanup failed");
        else
            buf_setf(reason, "cannot queue a notice: cleanup: %s",
                     buf_str(err));
        goto fail;
    }
    cleanup_close(feed.client);
    buf_free(err);
    return 0;

fail:
    cleanup_close(feed.client);
    buf_free(err);
    return -1;
}

/* Load BI for a request; BOUNCE_STAT_* to answer, or -1 to go on. */
static int bounce_load(struct bounce_info *bi, const char *queue,
                       const char *id, const char *log, struct buf *reason)
{
    struct buf *err = buf_new(128);
    int ret;

    switch (bounce_info_load(bi, queue, id, log, err)) {
    case BOUNCE_LOAD_NOLOG:
        buf_setf(reason, "no %s log", log);
        ret = BOUNCE_STAT_OK;
        break;
    case BOUNCE_LOAD_NOFILE:
        msg_warn("%s: queue file %s/%s is gone: no notice sent", id, queue, id);
        buf_set(reason, "queue file gone");
        ret = BOUNCE_STAT_OK;
        break;
    case BOUNCE_LOAD_OK:
        if (bi->log_damaged)
            msg_warn("%s: %s log damaged (%s): reporting what can be read", id,
                     log, buf_str(err));
        ret = -1;
        break;
    default:
        msg_warn("%s: cannot read the message or its %s log: %s", id, log,
                 buf_str(err));
        buf_setf(reason, "cannot read %s/%s: %s", queue, id, buf_str(err));
        ret = BOUNCE_STAT_RETRY;
        break;
    }
    buf_free(err);
    return ret;
}

static int bounce_flush(const char *queue, const char *id, struct buf *reason)
{
    struct bounce_info bi;
    struct buf *new_id = buf_new(32);
    struct buf *dbl = buf_new(64);
    struct buf *rcpt = buf_new(64);
    int ret;

    bounce_info_init(&bi);
    if ((ret = bounce_load(&bi, queue, id, QF_LOG_BOUNCE, reason)) >= 0)
        goto done;
    ret = BOUNCE_STAT_OK;
    bounce_qualify(dbl, var_double_bounce_sender);
    if (bounce_is_postmaster_notice(&bi)) {
        msg_info("%s: undeliverable postmaster notification discarded", id);
    } else if (bounce_is_notice(&bi)) {
        if (!bounce_notify_has("2bounce") && !bounce_notify_has("bounce")) {
            msg_info("%s: undeliverable notice discarded (notify_classes "
                     "has no 2bounce)",
                     id);
        } else if (bounce_count(&bi, BOUNCE_PM_FAILED) > 0) {
            bounce_qualify(rcpt, var_2bounce_notice_recipient);
            if (bounce_submit(&bi, BOUNCE_PM_FAILED, buf_str(dbl),
                              buf_str(rcpt), "2bounce", new_id, reason)
                < 0) {
                msg_warn("%s: postmaster non-delivery notification: %s", id,
                         buf_str(reason));
                ret = BOUNCE_STAT_RETRY;
            } else {
                msg_info("%s: postmaster non-delivery notification: %s", id,
                         buf_str(new_id));
            }
        }
    } else {
        if (bounce_count(&bi, BOUNCE_FAILED) > 0) {
            if (bounce_submit(&bi, BOUNCE_FAILED, "", buf_str(bi.sender),
                              "bounce", new_id, reason)
                < 0) {
                msg_warn("%s: sender non-delivery notification: %s", id,
                         buf_str(reason));
                ret = BOUNCE_STAT_RETRY;
                goto done;
            }
            msg_info("%s: sender non-delivery notification: %s", id,
                     buf_str(new_id));
        }
        /* A failed copy is only logged: retrying would notify twice. */
        if (bounce_notify_has("bounce")
            && bounce_count(&bi, BOUNCE_PM_FAILED) > 0) {
            struct buf *why = buf_new(64);

            bounce_qualify(rcpt, var_bounce_notice_recipient);
            if (bounce_submit(&bi, BOUNCE_PM_FAILED, buf_str(dbl),
                              buf_str(rcpt), "postmaster", new_id, why)
                < 0)
                msg_warn("%s: postmaster non-delivery notification: %s", id,
                         buf_str(why));
            else
                msg_info("%s: postmaster non-delivery notification: %s", id,
                         buf_str(new_id));
            buf_free(why);
        }
    }
done:
    bounce_info_free(&bi);
    buf_free(new_id);
    buf_free(dbl);
    buf_free(rcpt);
    return ret;
}

static int bounce_warn(const char *queue, const char *id, struct buf *reason)
{
    struct bounce_info bi;
    struct buf *new_id = buf_new(32);
    struct buf *dbl = buf_new(64);
    struct buf *rcpt = buf_new(64);
    int ret;

    bounce_info_init(&bi);
    if ((ret = bounce_load(&bi, queue, id, QF_LOG_DEFER, reason)) >= 0)
        goto done;
    ret = BOUNCE_STAT_OK;
    /* No warnings about notices: their senders cannot be told. */
    if (bounce_is_postmaster_notice(&bi))
        goto done;
    if (!bounce_is_notice(&bi) && bounce_count(&bi, BOUNCE_DELAYED) > 0) {
        if (bounce_submit(&bi, BOUNCE_DELAYED, "", buf_str(bi.sender), "delay",
                          new_id, reason)
            < 0) {
            msg_warn("%s: sender delay notification: %s", id, buf_str(reason));
            ret = BOUNCE_STAT_RETRY;
            goto done;
        }
        msg_info("%s: sender delay notification: %s", id, buf_str(new_id));
    }
    if (bounce_notify_has("delay")
        && bounce_count(&bi, BOUNCE_PM_DELAYED) > 0) {
        struct buf *why = buf_new(64);

        bounce_qualify(dbl, var_double_bounce_sender);
        bounce_qualify(rcpt, var_delay_notice_recipient);
        if (bounce_submit(&bi, BOUNCE_PM_DELAYED, buf_str(dbl), buf_str(rcpt),
                          "postmaster", new_id, why)
            < 0)
            msg_warn("%s: postmaster delay notification: %s", id, buf_str(why));
        else
            msg_info("%s: postmaster delay notification: %s", id,
                     buf_str(new_id));
        buf_free(why);
    }
done:
    bounce_info_free(&bi);
    buf_free(new_id);
    buf_free(dbl);
    buf_free(rcpt);
    return ret;
}

/* A queue (not a log) that qmgr may name. */
static int bounce_queue_ok(const char *queue)
{
    return qf_queue_known(queue) && strcmp(queue, QF_LOG_BOUNCE) != 0
           && strcmp(queue, QF_LOG_DEFER) != 0
           && strcmp(queue, QF_LOG_TRACE) != 0;
}

static void bounce_serve(int fd, void *ctx)
{
    struct stream *s = stream_open(fd);
    struct buf *request = buf_new(16);
    struct buf *queue = buf_new(16);
    struct buf *id = buf_new(32);
    struct buf *reason = buf_new(64);
    struct buf *safe = buf_new(64);
    int status;

    (void) ctx;
    stream_set_timeout(s, (int) var_ipc_timeout);
    buf_set_limit(request, 64);
    buf_set_limit(queue, 64);
    buf_set_limit(id, 256);
    if (attr_scan(s, 0, ATTR_GET_STR("request", request),
                  ATTR_GET_STR("queue_name", queue),
                  ATTR_GET_STR("queue_id", id), ATTR_END)
        != 3) {
        if (attr_error_code() != ATTR_ERR_CLOSED)
            msg_warn("bounce: bad request from client: %s", attr_error());
        goto done;
    }
    if (!bounce_queue_ok(buf_str(queue)) || !qf_name_valid(buf_str(id))) {
        str_printable(safe, buf_str(queue), buf_len(queue));
        buf_putc(safe, '/');
        str_printable(safe, buf_str(id), buf_len(id));
        msg_warn("bounce: bad request from client: bad queue file name %s",
                 buf_str(safe));
        status = BOUNCE_STAT_RETRY;
        buf_set(reason, "bad queue file name");
    } else if (strcmp(buf_str(request), DELIVER_REQ_FLUSH) == 0) {
        status = bounce_flush(buf_str(queue), buf_str(id), reason);
    } else if (strcmp(buf_str(request), DELIVER_REQ_WARN) == 0) {
        status = bounce_warn(buf_str(queue), buf_str(id), reason);
    } else {
        str_printable(safe, buf_str(request), buf_len(request));
        msg_warn("bounce: bad request from client: unknown request \"%s\"",
                 buf_str(safe));
        status = BOUNCE_STAT_RETRY;
        buf_set(reason, "unknown request");
    }
    if (attr_print(s, 0, ATTR_PUT_INT("status", status),
                   ATTR_PUT_STR("reason", buf_str(reason)), ATTR_END)
        < 0)
        msg_warn("bounce: cannot answer client: %s", attr_error());
done:
    (void) stream_close(s);
    buf_free(request);
    buf_free(queue);
    buf_free(id);
    buf_free(reason);
    buf_free(safe);
}

/* Load the time zone while /etc/localtime can still be read. */
static void bounce_pre_jail(void *ctx)
{
    (void) ctx;
    tzset();
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_SINGLE,
        .pre_jail = bounce_pre_jail,
        .serve = bounce_serve,
    };

    daemon_main(argc, argv, &ops);
}
