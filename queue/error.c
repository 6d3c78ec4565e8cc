/*
 * error.c - the error(8) delivery agent: every recipient of a request
 * bounces, with the nexthop as the reason: "5.1.1 User unknown" gives
 * dsn=5.1.1 and that text; a nexthop without a status gets 5.0.0. Run as
 * the service "retry" (master.cf: retry unix ... error) it defers the
 * recipients instead, with the status made temporary (4.x.x; 4.0.0 by
 * default).
 *
 * qmgr also sends it the recipients of messages that cleanup marked with
 * a fail_reason, and recipients with bad address syntax. Talks to qmgr with
 * the delivery protocol of lib/deliver.h; a bad request is logged as a
 * warning and its connection closed.
 */
#include <ctype.h>
#include <string.h>

#include "buf.h"
#include "daemon.h"
#include "deliver.h"
#include "msg.h"
#include "params.h"
#include "record.h"
#include "stream.h"

/*
 * Split "X.Y.Z text" into DSN (with class CLS) and TEXT. Without a status
 * in front the status is CLS.0.0 and all of it is the text.
 */
static void error_split(const char *nexthop, int cls, struct buf *dsn,
                        struct buf *text)
{
    const char *p = nexthop;
    size_t n;

    while (isspace((unsigned char) *p))
        p++;
    n = strspn(p, "0123456789.");
    buf_reset(dsn);
    if (n >= 5 && (p[0] == '2' || p[0] == '4' || p[0] == '5') && p[1] == '.'
        && (p[n] == 0 || p[n] == ' ')) {
        buf_append(dsn, p, n);
        p += n;
        while (*p == ' ')
            p++;
    } else {
        buf_set(dsn, "5.0.0");
    }
    buf_str(dsn)[0] = (char) cls;
    buf_set(text, *p ? p
                     : (cls == '4' ? "delivery temporarily suspended"
                                   : "mail delivery failed"));
}

static void error_serve(int fd, void *ctx)
{
    struct stream *s = stream_open(fd);
    struct buf *err = buf_new(128);
    struct buf *dsn = buf_new(16);
    struct buf *text = buf_new(128);
    struct deliver_agent *a;
    int retry = strcmp(daemon_service(), "retry") == 0;

    (void) ctx;
    stream_set_timeout(s, (int) var_ipc_timeout);
    if ((a = deliver_agent_open(s, err)) == NULL) {
        msg_warn("%s", buf_str(err));
    } else {
        error_split(buf_str(deliver_agent_request(a)->nexthop),
                    retry ? '4' : '5', dsn, text);
        deliver_agent_connected(a);
        deliver_report_rest(a, retry ? REC_ACTION_DEFERRED : REC_ACTION_BOUNCED,
                            buf_str(dsn), "none", "%s", buf_str(text));
        if (deliver_agent_finish(a) < 0)
            msg_warn("%s", deliver_error());
    }
    buf_free(err);
    buf_free(dsn);
    buf_free(text);
    stream_close(s);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_SINGLE,
        .serve = error_serve,
    };

    daemon_main(argc, argv, &ops);
}
