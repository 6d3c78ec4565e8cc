/*
 * testagent.c - test-only delivery agent (lib/deliver.h protocol).
 *
 *     master.cf: test unix - - n - - testagent /path/to/deliveries [slow=N]
 *
 * The file is the first service argument, else $TESTAGENT_FILE. For each
 * delivered recipient one line "QUEUEID RCPT" is appended to it, then the
 * message content, each line prefixed with a TAB, all in one write under
 * an flock so that parallel agents do not interleave. Recipients are
 * treated by the start of their address:
 *     defer...   deferred, 4.4.1 "test deferral"
 *     bounce...  bounced, 5.1.1 "test bounce"
 *     slow...    delivered after a pause (the slow=N argument, else
 *                $TESTAGENT_SLOW, else 3 seconds)
 *     crash...   the agent exits at once, without a result (qmgr must
 *                defer the recipients it has no result for)
 *     anything else delivered, "delivered to file".
 * The nexthop of the request is logged ("testagent: nexthop=..."). Any
 * failure to write the file defers the recipient.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "daemon.h"
#include "deliver.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"
#include "str.h"
#include "stream.h"

static unsigned testagent_slow(void)
{
    const struct argv *extra = daemon_extra_args();
    const char *env = getenv("TESTAGENT_SLOW");
    size_t i;

    for (i = 1; extra && i < extra->argc; i++)
        if (str_has_prefix(extra->argv[i], "slow="))
            return (unsigned) atoi(extra->argv[i] + 5);
    return env ? (unsigned) atoi(env) : 3;
}

static const char *testagent_file(void)
{
    const struct argv *extra = daemon_extra_args();

    if (extra && extra->argc > 0)
        return extra->argv[0];
    return getenv("TESTAGENT_FILE");
}

/* The content, each line prefixed with a TAB, into OUT. 0 / -1. */
static int testagent_content(struct qf_reader *qf, struct buf *out)
{
    struct buf *data = buf_new(256);
    int type;
    int start = 1;

    if (qf_seek_content(qf) < 0 || qf_read(qf, data) != REC_MESSAGE) {
        buf_free(data);
        return -1;
    }
    while ((type = qf_read(qf, data)) == REC_LINE || type == REC_PIECE) {
        if (start)
            buf_putc(out, '\t');
        buf_append(out, buf_str(data), buf_len(data));
        start = type == REC_LINE;
        if (start)
            buf_putc(out, '\n');
    }
    buf_free(data);
    return type == REC_XTRACTED ? 0 : -1;
}

static int testagent_append(const char *path, const struct buf *text)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    int ret = 0;

    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX) < 0
        || write(fd, buf_str(text), buf_len(text)) != (ssize_t) buf_len(text))
        ret = -1;
    if (close(fd) < 0)
        ret = -1;
    return ret;
}

static void testagent_serve(int fd, void *ctx)
{
    struct stream *s = stream_open(fd);
    struct buf *err = buf_new(128);
    struct buf *content = buf_new(1024);
    struct buf *text = buf_new(1024);
    const struct deliver_request *req;
    struct deliver_agent *a;
    const char *path = testagent_file();
    size_t i;

    (void) ctx;
    stream_set_timeout(s, (int) var_ipc_timeout);
    if ((a = deliver_agent_open(s, err)) == NULL) {
        msg_warn("%s", buf_str(err));
        goto out;
    }
    req = deliver_agent_request(a);
    buf_reset(text);
    str_printable(text, buf_str(req->nexthop), buf_len(req->nexthop));
    msg_info("%s: testagent: nexthop=%s rcpts=%zu", buf_str(req->queue_id),
             buf_str(text), req->rcpt_count);
    deliver_agent_connected(a);
    if (testagent_content(deliver_agent_file(a), content) < 0) {
        deliver_report_rest(a, REC_ACTION_DEFERRED, "4.3.0", "none",
                            "cannot read the message: %s", qf_error());
        goto finish;
    }
    for (i = 0; i < req->rcpt_count; i++) {
        const char *rcpt = buf_str(req->rcpts[i].address);

        if (str_has_prefix(rcpt, "crash"))
            _exit(1);
        if (str_has_prefix(rcpt, "defer")) {
            deliver_report(a, i, REC_ACTION_DEFERRED, "4.4.1", "testagent",
                           "test deferral");
            continue;
        }
        if (str_has_prefix(rcpt, "bounce")) {
            deliver_report(a, i, REC_ACTION_BOUNCED, "5.1.1", "testagent",
                           "test bounce");
            continue;
        }
        if (str_has_prefix(rcpt, "slow"))
            sleep(testagent_slow());
        buf_setf(text, "%s %s\n", buf_str(req->queue_id), rcpt);
        buf_append(text, buf_str(content), buf_len(content));
        if (path == NULL || testagent_append(path, text) < 0) {
            deliver_report(a, i, REC_ACTION_DEFERRED, "4.3.0", "testagent",
                           "cannot write %s", path ? path : "(no file)");
            continue;
        }
        deliver_report(a, i, REC_ACTION_DELIVERED, "2.0.0", "testagent",
                       "delivered to file");
    }
finish:
    if (deliver_agent_finish(a) < 0)
        msg_warn("%s", deliver_error());
out:
    buf_free(err);
    buf_free(content);
    buf_free(text);
    stream_close(s);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_SINGLE,
        .serve = testagent_serve,
    };

    daemon_main(argc, argv, &ops);
}
