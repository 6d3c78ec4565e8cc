/*
 * local_forward.c - forwarding: an alias, .forward or luser_relay
 * destination that is not a local address is sent on as a new message
 * through the cleanup service (public/cleanup), with the current sender
 * (owner-NAME for a list with an owner), the recipient's DSN options, and
 * a Delivered-To: header (prepend_delivered_header "forward") so that a
 * loop comes back as a bounce instead of going round for ever.
 *
 * Called by local.c. Outcome: "forwarded as ID" (delivered), a deferral
 * when cleanup cannot be reached or fails for a temporary reason, a
 * bounce with cleanup's reason otherwise.
 */
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "cleanup_client.h"
#include "deliver.h"
#include "local.h"
#include "maps.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"

/* Copy the content records into the cleanup connection. 0 / -1 (ERR). */
static int local_forward_content(struct local_state *st,
                                 struct cleanup_client *c, struct buf *err)
{
    struct qf_reader *qf = st->msg->qf;
    struct buf *data = buf_new(256);
    int type, ret = 0;

    if (qf_seek_content(qf) < 0 || qf_read(qf, data) != REC_MESSAGE) {
        buf_setf(err, "cannot read the message: %s", qf_error());
        buf_free(data);
        return -1;
    }
    while ((type = qf_read(qf, data)) == REC_LINE || type == REC_PIECE) {
        if (cleanup_put_text(c, buf_str(data), buf_len(data), type == REC_PIECE)
            < 0) {
            buf_set(err, "cleanup: write error");
            ret = -1;
            break;
        }
    }
    if (ret == 0 && type != REC_XTRACTED) {
        buf_setf(err, "cannot read the message: %s", qf_error());
        ret = -1;
    }
    buf_free(data);
    return ret;
}

void local_forward(struct local_state *parent, const char *addr)
{
    struct local_state fwd = *parent;
    struct local_state *st = &fwd;
    const struct deliver_request *req = st->msg->req;
    const struct deliver_rcpt *r = &req->rcpts[st->index];
    struct buf *err = buf_new(128);
    struct buf *line = buf_new(128);
    struct cleanup_client *c;
    struct rec_writer *w;
    int status;

    fwd.address = addr;
    if (local_dup(st, "forward", addr))
        goto out;
    if ((c = cleanup_open(0, err)) == NULL) {
        local_outcome(st, REC_ACTION_DEFERRED, "4.3.0",
                      "cannot forward to %s: %s", addr, buf_str(err));
        goto out;
    }
    w = cleanup_writer(c);
    if (rec_puts(w, REC_SENDER, st->sender) < 0
        || (req->flags & (REC_FLAG_8BITMIME | REC_FLAG_SMTPUTF8)
            && rec_put_int(w, REC_FLAGS,
                           req->flags & (REC_FLAG_8BITMIME | REC_FLAG_SMTPUTF8))
                   < 0)
        || (req->dsn_ret && rec_put_int(w, REC_DSN_RET, req->dsn_ret) < 0)
        || (buf_len(req->dsn_envid)
            && rec_puts(w, REC_DSN_ENVID, buf_str(req->dsn_envid)) < 0)
        || rec_put_rcpt(w, REC_RCPT_PENDING, r->notify, addr, addr,
                        buf_str(r->orcpt))
               < 0
        || rec_put(w, REC_MESSAGE, "", 0) < 0) {
        cleanup_close(c);
        local_outcome(st, REC_ACTION_DEFERRED, "4.3.0",
                      "cannot forward to %s: cleanup: write error", addr);
        goto out;
    }
    if (maps_feature_listed(var_prepend_delivered_header, "forward")) {
        buf_setf(line, "Delivered-To: %s", st->delivered);
        addr_lower_ascii(buf_str(line) + 14, buf_len(line) - 14);
        if (cleanup_put_text(c, buf_str(line), buf_len(line), 0) < 0) {
            cleanup_close(c);
            local_outcome(st, REC_ACTION_DEFERRED, "4.3.0",
                          "cannot forward to %s: cleanup: write error", addr);
            goto out;
        }
    }
    if (local_forward_content(st, c, err) < 0
        || rec_put(w, REC_XTRACTED, "", 0) < 0) {
        cleanup_close(c);
        local_outcome(st, REC_ACTION_DEFERRED, "4.3.0",
                      "cannot forward to %s: %s", addr,
                      buf_len(err) ? buf_str(err) : "cleanup: write error");
        goto out;
    }
    buf_set(line, cleanup_queue_id(c));
    status = cleanup_finish(c, err);
    cleanup_close(c);
    if (status == 0) {
        local_outcome(st, REC_ACTION_DELIVERED, "2.0.0", "forwarded as %s",
                      buf_str(line));
    } else if (status < 0 || cleanup_stat_temporary(status)) {
        local_outcome(st, REC_ACTION_DEFERRED, "4.3.0",
                      "cannot forward to %s: %s", addr, buf_str(err));
    } else {
        struct buf *reply = buf_new(64);

        cleanup_stat_reply(reply, status, buf_str(err));
        local_outcome(st, REC_ACTION_BOUNCED, "5.3.0",
                      "cannot forward to %s: %s", addr, buf_str(reply));
        buf_free(reply);
    }
out:
    buf_free(err);
    buf_free(line);
}
