/*
 * discard.c - the discard(8) delivery agent: every recipient of a request
 * is reported delivered (status=sent, dsn 2.0.0) without going anywhere.
 * The nexthop, when given ("discard:silently dropped"), is the reason;
 * otherwise the reason is "discarded".
 *
 * Started by master for the "discard" service of master.cf; talks to qmgr
 * with the delivery protocol of lib/deliver.h. A bad request is logged as
 * a warning and its connection closed.
 */
#include <stddef.h>

#include "buf.h"
#include "daemon.h"
#include "deliver.h"
#include "msg.h"
#include "params.h"
#include "record.h"
#include "stream.h"

static void discard_serve(int fd, void *ctx)
{
    struct stream *s = stream_open(fd);
    struct buf *err = buf_new(128);
    struct deliver_agent *a;
    const struct deliver_request *req;

    (void) ctx;
    stream_set_timeout(s, (int) var_ipc_timeout);
    if ((a = deliver_agent_open(s, err)) == NULL) {
        msg_warn("%s", buf_str(err));
    } else {
        req = deliver_agent_request(a);
        deliver_agent_connected(a);
        deliver_report_rest(a, REC_ACTION_DELIVERED, "2.0.0", "none", "%s",
                            buf_len(req->nexthop) ? buf_str(req->nexthop)
                                                  : "discarded");
        if (deliver_agent_finish(a) < 0)
            msg_warn("%s", deliver_error());
    }
    buf_free(err);
    stream_close(s);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_SINGLE,
        .serve = discard_serve,
    };

    daemon_main(argc, argv, &ops);
}
