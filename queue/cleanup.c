/*
 * cleanup.c - the cleanup service: turns a message that smtpd, pickup or
 * bounce streams over public/cleanup into a queue file in incoming/, then
 * wakes the queue manager. The protocol is in lib/cleanup_client.h.
 *
 * One client per process (DAEMON_SINGLE): a slow client never holds up
 * another one; master starts as many processes as there are clients
 * (maxproc 0). The queue file is created when the client connects, so its
 * ID goes out first; records are processed as they arrive
 * (cleanup_message.c) and the answer goes out only after qf_commit, that
 * is after the file was written, fsynced and renamed into incoming/.
 *
 * Errors: a client that breaks the protocol, goes away or times out
 * (ipc_timeout) loses its message (the temporary file is removed) and
 * gets a logged warning; the process goes on with the next client.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attr.h"
#include "buf.h"
#include "cleanup.h"
#include "cleanup_client.h"
#include "daemon.h"
#include "mail_proto.h"
#include "maps.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"
#include "resolve.h"
#include "str.h"
#include "stream.h"

static struct cleanup_cfg cleanup_cfg;
static int cleanup_cfg_ready;

/* Tables are opened before chroot, where their files are reachable. */
static void cleanup_pre_jail(void *ctx)
{
    (void) ctx;
    /* Load the time zone now: /etc/localtime is gone after chroot. */
    tzset();
    cleanup_cfg_init(&cleanup_cfg);
    cleanup_cfg_ready = 1;
}

static void cleanup_post_jail(void *ctx)
{
    (void) ctx;
    if (!cleanup_cfg_ready) {
        cleanup_cfg_init(&cleanup_cfg);
        cleanup_cfg_ready = 1;
    }
}

/* Between clients: pick up changed tables (not inside a chroot, where
 * the files may be out of reach; master restarts us on reload). */
static void cleanup_reopen(void)
{
    struct maps *all[] = {cleanup_cfg.canon,      cleanup_cfg.send_canon,
                          cleanup_cfg.rcpt_canon, cleanup_cfg.virt,
                          cleanup_cfg.hdr_checks, cleanup_cfg.body_checks};
    size_t i;

    if (strcmp(daemon_root(), "/") != 0)
        return;
    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i])
            maps_reopen(all[i]);
    if (cleanup_cfg.resolver)
        resolver_reopen(cleanup_cfg.resolver);
}

/* Why the client's input ended early, for the log. */
static const char *cleanup_input_error(struct stream *s, struct rec_reader *r)
{
    switch (stream_reason(s)) {
    case STREAM_EOF:
        return "lost connection";
    case STREAM_TIMEOUT:
        return "timeout";
    case STREAM_OK:
        return r ? rec_reader_error(r) : "protocol error";
    default:
        if (r != NULL && rec_reader_reason(r) != REC_ERR_IO)
            return rec_reader_error(r);
        return stream_reason_text(s);
    }
}

static void cleanup_serve(int fd, void *ctx)
{
    struct stream *s = stream_open(fd);
    struct qf_writer *qf;
    struct cleanup_state *st = NULL;
    struct rec_reader *r = NULL;
    struct buf *data = buf_new(1024);
    struct buf *reason = buf_new(64);
    char id[64];
    int flags = 0;
    int type;
    int status;

    (void) ctx;
    stream_set_timeout(s, (int) var_ipc_timeout);
    cleanup_reopen();
    qf = qf_create(QF_INCOMING);
    if (qf == NULL)
        msg_warn("cannot create a queue file: %s", qf_error());
    snprintf(id, sizeof(id), "%s", qf ? qf_writer_id(qf) : "NOQUEUE");
    if (attr_print(s, 0, ATTR_PUT_STR("queue_id", qf ? id : ""), ATTR_END)
        < 0) {
        msg_warn("%s: cannot send the queue ID to the client: %s", id,
                 stream_reason_text(s));
        goto out;
    }
    if (attr_scan(s, ATTR_FLAG_FOLLOW, ATTR_GET_INT("flags", &flags), ATTR_END)
        != 1) {
        msg_warn("%s: reading the request flags: %s", id,
                 attr_error_code() == ATTR_ERR_PROTOCOL
                     ? attr_error()
                     : cleanup_input_error(s, NULL));
        goto out;
    }
    st = cleanup_state_new(&cleanup_cfg, qf, id, flags);
    qf = NULL; /* the state owns it now */
    r = rec_reader_new(s, 0, QF_RECORD_MAX, REC_READ_STREAM);
    for (;;) {
        type = rec_get(r, data);
        if (type <= 0) {
            msg_warn("%s: %s while receiving the message from the client: "
                     "message dropped",
                     id, cleanup_input_error(s, r));
            goto out;
        }
        if (type == REC_VERSION)
            continue; /* the reader checked that it is first and known */
        if (type == REC_END)
            break;
        if (cleanup_record(st, type, buf_str(data), buf_len(data)) < 0) {
            struct buf *name = buf_new(16);

            str_printable(
                name, rec_type_name(type) ? rec_type_name(type) : "?",
                strlen(rec_type_name(type) ? rec_type_name(type) : "?"));
            msg_warn("%s: unexpected or malformed %s record from the client: "
                     "message dropped",
                     id, buf_str(name));
            buf_free(name);
            goto out;
        }
    }
    status = cleanup_end(st, reason);
    if (attr_print(s, 0, ATTR_PUT_INT("status", status),
                   ATTR_PUT_STR("reason", buf_str(reason)), ATTR_END)
        < 0)
        msg_warn("%s: cannot send the reply to the client: %s", id,
                 stream_reason_text(s));
    if (cleanup_committed(st)
        && mail_trigger(MAIL_CLASS_PUBLIC, MAIL_SERVICE_QMGR, "I", 1) < 0)
        msg_warn("cannot wake up the queue manager: %s", mail_proto_error());
out:
    if (st)
        cleanup_state_free(st);
    if (qf)
        qf_writer_free(qf);
    if (r)
        rec_reader_free(r);
    stream_close(s);
    buf_free(data);
    buf_free(reason);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_SINGLE,
        .pre_jail = cleanup_pre_jail,
        .post_jail = cleanup_post_jail,
        .serve = cleanup_serve,
    };

    daemon_main(argc, argv, &ops);
}
