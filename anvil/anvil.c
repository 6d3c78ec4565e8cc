/*
 * anvil.c - the anvil service: connection counts and event rates per
 * (service, client address), for smtpd's per-client limits.
 *
 * Started by master (conf/master.cf "anvil unix - - y - 1 anvil"): one
 * resident multi-client process (DAEMON_MULTI, event loop). Each smtpd
 * process keeps one connection open and asks before it admits a client,
 * a MAIL FROM, a RCPT TO, a new TLS session or an AUTH command; the
 * protocol is in lib/anvil_client.h, the requests in anvil_proto.c and
 * the counting in anvil_table.c; this file does the I/O.
 * Every anvil_status_update_time the maxima are logged as Postfix's
 * "statistics: ..." lines.
 *
 * Errors: a client that sends a malformed request or stalls in the
 * middle of one for ipc_timeout gets a warning and its connection closed;
 * the connections it had registered are released. Nothing a client sends
 * ends the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "anvil_proto.h"
#include "anvil_table.h"
#include "attr.h"
#include "buf.h"
#include "daemon.h"
#include "event.h"
#include "mem.h"
#include "msg.h"
#include "params.h"

struct anvil_conn {
    int fd;
    struct buf *in;
    struct buf *out;
    struct anvil_session *sess; /* what it registered */
    uint64_t timer;             /* a partial request is pending */
};

/*
 * Most reply bytes waiting for a client: one that sends requests and
 * never reads the replies is cut off rather than fed memory.
 */
#define ANVIL_REPLY_BACKLOG (64 * 1024)

static struct anvil_table *anvil_tab;

static void anvil_log_line(const char *line, void *ctx)
{
    (void) ctx;
    msg_info("%s", line);
}

static void anvil_status_timer(struct event_loop *loop, void *ctx)
{
    time_t now = time(NULL);

    anvil_table_report(anvil_tab, anvil_log_line, NULL);
    anvil_table_expire(anvil_tab, now);
    event_timer(loop, var_anvil_status_update_time * 1000L, anvil_status_timer,
                ctx);
}

static void anvil_expire_timer(struct event_loop *loop, void *ctx)
{
    anvil_table_expire(anvil_tab, time(NULL));
    event_timer(loop, var_anvil_rate_time_unit * 1000L, anvil_expire_timer,
                ctx);
}

/* Release what C registered and free it. */
static void anvil_conn_end(struct event_loop *loop, struct anvil_conn *c)
{
    anvil_session_end(c->sess, anvil_tab, time(NULL));
    if (c->timer)
        event_cancel(loop, c->timer);
    event_unwatch(loop, c->fd);
    close(c->fd);
    buf_free(c->in);
    buf_free(c->out);
    mem_free(c);
    daemon_client_done();
}

/* Write what we can of C's output; 0, or -1 when the client is gone. */
static int anvil_conn_flush(struct anvil_conn *c)
{
    while (buf_len(c->out) > 0) {
        ssize_t n = write(c->fd, buf_str(c->out), buf_len(c->out));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        memmove(buf_str(c->out), buf_str(c->out) + n,
                buf_len(c->out) - (size_t) n);
        buf_truncate(c->out, buf_len(c->out) - (size_t) n);
    }
    return 0;
}

static void anvil_conn_io(struct event_loop *loop, int fd, int events,
                          void *ctx);

static void anvil_conn_timeout(struct event_loop *loop, void *ctx)
{
    struct anvil_conn *c = ctx;

    c->timer = 0;
    msg_warn("anvil client: timeout after %lds in the middle of a request",
             var_ipc_timeout);
    anvil_conn_end(loop, c);
}

/* Watch C for input, and for output room when a reply is pending. */
static int anvil_conn_watch(struct event_loop *loop, struct anvil_conn *c)
{
    int ev = EVENT_READ;

    if (buf_len(c->out) > 0)
        ev |= EVENT_WRITE;
    return event_watch(loop, c->fd, ev, anvil_conn_io, c);
}

static void anvil_conn_io(struct event_loop *loop, int fd, int events,
                          void *ctx)
{
    struct anvil_conn *c = ctx;
    struct buf *why = buf_new(64);
    char chunk[1024];
    ssize_t n;
    long len;
    int consumed = 0;

    if ((events & EVENT_WRITE) && anvil_conn_flush(c) < 0)
        goto end;
    if (!(events & EVENT_READ))
        goto done;
    n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        goto done;
    if (n <= 0) {
        if (n < 0)
            msg_warn("anvil client: read: %s", strerror(errno));
        else if (buf_len(c->in) > 0)
            msg_warn("anvil client: connection closed in the middle of a "
                     "request");
        goto end;
    }
    buf_append(c->in, chunk, (size_t) n);
    while ((len = attr_frame_len(buf_str(c->in), buf_len(c->in))) != 0) {
        if (len < 0) {
            msg_warn("anvil client: malformed request");
            goto end;
        }
        if (anvil_session_request(c->sess, anvil_tab, buf_str(c->in),
                                  (size_t) len, time(NULL), c->out, why)
            < 0) {
            msg_warn("anvil client: bad request: %s", buf_str(why));
            goto end;
        }
        memmove(buf_str(c->in), buf_str(c->in) + len,
                buf_len(c->in) - (size_t) len);
        buf_truncate(c->in, buf_len(c->in) - (size_t) len);
        consumed = 1;
    }
    if (buf_len(c->out) > ANVIL_REPLY_BACKLOG) {
        msg_warn("anvil client: does not read its replies");
        goto end;
    }
    if (buf_len(c->in) > ANVIL_REQUEST_MAX) {
        msg_warn("anvil client: request longer than %d bytes",
                 ANVIL_REQUEST_MAX);
        goto end;
    }
    /* Each request must arrive whole within ipc_timeout. */
    if (c->timer && (consumed || buf_len(c->in) == 0)) {
        event_cancel(loop, c->timer);
        c->timer = 0;
    }
    if (buf_len(c->in) > 0 && c->timer == 0)
        c->timer =
            event_timer(loop, var_ipc_timeout * 1000L, anvil_conn_timeout, c);
    if (anvil_conn_flush(c) < 0)
        goto end;
done:
    if (anvil_conn_watch(loop, c) < 0) {
        msg_warn("anvil client: watch: %s", strerror(errno));
        goto end;
    }
    buf_free(why);
    return;
end:
    buf_free(why);
    anvil_conn_end(loop, c);
}

static void anvil_accept(struct event_loop *loop, int fd, void *ctx)
{
    struct anvil_conn *c = mem_calloc(1, sizeof(*c));

    (void) ctx;
    c->fd = fd;
    c->in = buf_new(256);
    c->out = buf_new(256);
    c->sess = anvil_session_new();
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (anvil_conn_watch(loop, c) < 0) {
        msg_warn("anvil client: watch: %s", strerror(errno));
        anvil_conn_end(loop, c);
    }
}

static void anvil_post_jail(void *ctx)
{
    struct event_loop *loop = daemon_loop();

    (void) ctx;
    anvil_tab = anvil_table_new(var_anvil_rate_time_unit);
    event_timer(loop, var_anvil_status_update_time * 1000L, anvil_status_timer,
                NULL);
    event_timer(loop, var_anvil_rate_time_unit * 1000L, anvil_expire_timer,
                NULL);
}

static void anvil_pre_exit(void *ctx)
{
    (void) ctx;
    if (anvil_tab) {
        anvil_table_report(anvil_tab, anvil_log_line, NULL);
        anvil_table_free(anvil_tab);
        anvil_tab = NULL;
    }
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_MULTI,
        .flags = DAEMON_FLAG_RESIDENT,
        .accept = anvil_accept,
        .post_jail = anvil_post_jail,
        .pre_exit = anvil_pre_exit,
    };

    daemon_main(argc, argv, &ops);
}
