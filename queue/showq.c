/*
 * showq.c - the showq service: lists the mail queue for postqueue -p/-j
 * (and mailq), which cannot read the queue folders themselves.
 *
 *   master.cf: showq unix n - y - - showq
 *
 * Each client gets the listing as attribute lists (lib/queue_list.h:
 * one list per message, its recipients, an end list with the count) and
 * the connection is closed; the client sends nothing, so there is no
 * input to parse. postqueue formats the listing in the user's time zone.
 *
 * Runs chrooted in queue_directory as mail_owner, one client at a time
 * (DAEMON_SINGLE). A client that stops reading is cut off by ipc_timeout;
 * unreadable queue files are skipped with a warning (qmgr, not showq,
 * moves corrupt files away).
 */
#include "daemon.h"
#include "msg.h"
#include "params.h"
#include "queue_list.h"
#include "stream.h"

static int showq_send(const struct ql_msg *m, void *ctx)
{
    return ql_send((struct stream *) ctx, m);
}

static void showq_serve(int fd, void *ctx)
{
    struct stream *s = stream_open(fd);
    long count;

    (void) ctx;
    stream_set_timeout(s, (int) var_ipc_timeout);
    count = ql_walk(showq_send, s);
    if (count < 0 || ql_send_end(s, count) < 0)
        msg_warn("listing the queue for a client: %s", stream_reason_text(s));
    else if (msg_verbose)
        msg_info("listed %ld messages", count);
    (void) stream_close(s);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_SINGLE,
        .serve = showq_serve,
    };

    daemon_main(argc, argv, &ops);
}
