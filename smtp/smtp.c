/*
 * smtp.c - the smtp(8) delivery agent: main, one delivery request per
 * qmgr connection (lib/deliver.h), the walk over the server addresses,
 * and the connection cache.
 *
 * Runs as the master.cf services "smtp" and "relay" (and any other name
 * with -o overrides), chrooted and unprivileged. Root-only work happens
 * in pre_jail: the TLS contexts read their certificate files, the
 * generic maps are opened, the resolver reads resolv.conf. Credentials
 * for SMTP AUTH come from the auth service (smtp_sasl.c); this process
 * never opens a password file.
 *
 * Addresses are tried in order (smtp_addr.c); a server that fails as a
 * whole (refused connection, bad greeting, 421, lost connection,
 * time-out) passes the remaining recipients to the next one, up to
 * smtp_mx_session_limit sessions; when none is left they are deferred
 * with the last reason. The connection cache keeps one session open
 * (after RSET) for the next request to the same nexthop, for
 * smtp_connection_cache_time_limit seconds, up to
 * smtp_connection_reuse_time_limit since it was made.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "daemon.h"
#include "deliver.h"
#include "dns.h"
#include "event.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "record.h"
#include "smtp.h"
#include "sock.h"
#include "str.h"
#include "stream.h"

/* ---- sessions ----------------------------------------------------------- */

struct smtp_session *smtp_session_new(struct stream *s,
                                      const struct smtp_target *t)
{
    struct smtp_session *ss = mem_calloc(1, sizeof(*ss));

    ss->s = s;
    ss->host = buf_new(64);
    ss->addr = buf_new(64);
    ss->peer = buf_new(128);
    ss->relay = buf_new(128);
    ss->dest = buf_new(64);
    buf_set(ss->host, t->host);
    buf_set(ss->addr, t->addr_text);
    ss->port = t->port;
    buf_setf(ss->peer, "%s[%s]", t->host, t->addr_text);
    buf_setf(ss->relay, "%s[%s]:%u", t->host, t->addr_text, t->port);
    smtp_features_init(&ss->feat);
    ss->born_us = deliver_now_us();
    return ss;
}

void smtp_session_free(struct smtp_session *ss)
{
    if (ss == NULL)
        return;
    if (ss->s)
        stream_close(ss->s);
    buf_free(ss->host);
    buf_free(ss->addr);
    buf_free(ss->peer);
    buf_free(ss->relay);
    buf_free(ss->dest);
    smtp_features_free(&ss->feat);
    mem_free(ss);
}

/* ---- the connection cache ----------------------------------------------- */

static struct smtp_session *smtp_cached;
static uint64_t smtp_cache_timer;

static void smtp_cache_drop(void)
{
    if (smtp_cache_timer)
        event_cancel(daemon_loop(), smtp_cache_timer);
    smtp_cache_timer = 0;
    if (smtp_cached) {
        smtp_proto_quit(smtp_cached);
        smtp_session_free(smtp_cached);
    }
    smtp_cached = NULL;
}

static void smtp_cache_expire(struct event_loop *loop, void *ctx)
{
    (void) loop;
    (void) ctx;
    smtp_cache_timer = 0;
    smtp_cache_drop();
}

/* Is NEXTHOP listed in smtp_connection_cache_destinations? */
static int smtp_cache_listed(const char *nexthop)
{
    struct argv *list =
        argv_split(var_smtp_connection_cache_destinations, STR_LIST_SEP);
    int found = 0;

    for (size_t i = 0; i < list->argc && !found; i++)
        found = strcasecmp(list->argv[i], nexthop) == 0;
    argv_free(list);
    return found;
}

/* Keep SS for the next request with KEY (NEXTHOP and more), or close it. */
static void smtp_cache_put(struct smtp_session *ss, const char *key,
                           const char *nexthop)
{
    long long now = deliver_now_us();
    int wanted =
        var_smtp_connection_cache_on_demand || smtp_cache_listed(nexthop);

    smtp_cache_drop();
    if (!wanted || ss->s == NULL || daemon_stopping()
        || now - ss->born_us >= var_smtp_connection_reuse_time_limit * 1000000LL
        || (var_smtp_connection_reuse_count_limit > 0
            && ss->use_count >= var_smtp_connection_reuse_count_limit)
        || smtp_proto_rset(ss) < 0) {
        smtp_proto_quit(ss);
        smtp_session_free(ss);
        return;
    }
    buf_set(ss->dest, key);
    ss->idle_us = now;
    smtp_cached = ss;
    smtp_cache_timer =
        event_timer(daemon_loop(), var_smtp_connection_cache_time_limit * 1000,
                    smtp_cache_expire, NULL);
}

/* The cached session for KEY, if there is a usable one. */
static struct smtp_session *smtp_cache_get(const char *key)
{
    struct smtp_session *ss = smtp_cached;
    long long now = deliver_now_us();

    if (ss == NULL)
        return NULL;
    if (strcmp(buf_str(ss->dest), key) != 0
        || now - ss->idle_us > var_smtp_connection_cache_time_limit * 1000000LL
        || stream_input_ready(ss->s, 0) != 0) { /* closed or talking */
        smtp_cache_drop();
        return NULL;
    }
    if (smtp_cache_timer)
        event_cancel(daemon_loop(), smtp_cache_timer);
    smtp_cache_timer = 0;
    smtp_cached = NULL;
    return ss;
}

/* ---- connecting --------------------------------------------------------- */

/*
 * Connect from smtp_bind_address / smtp_bind_address6 (a numeric address
 * for the family of SA): the descriptor, or -1 with errno. A bind that
 * fails is a warning and the connection is made from any address, unless
 * smtp_bind_address_enforce says to give up (errno EADDRNOTAVAIL).
 */
static int smtp_connect_bound(const struct sockaddr *sa, socklen_t len,
                              const char *bind_to)
{
    struct sockaddr_storage local;
    socklen_t llen;
    int fd, rc, soerr = 0;
    socklen_t slen = sizeof(soerr);
    struct pollfd pfd;

    memset(&local, 0, sizeof(local));
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *) &local;

        sin->sin_family = AF_INET;
        rc = inet_pton(AF_INET, bind_to, &sin->sin_addr);
        llen = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &local;

        sin6->sin6_family = AF_INET6;
        rc = inet_pton(AF_INET6, bind_to, &sin6->sin6_addr);
        llen = sizeof(*sin6);
    }
    if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    if (rc != 1 || bind(fd, (struct sockaddr *) &local, llen) < 0) {
        int e = rc != 1 ? EINVAL : errno;

        msg_warn("cannot bind the smtp client to %s: %s", bind_to, strerror(e));
        if (var_smtp_bind_address_enforce) {
            close(fd);
            errno = EADDRNOTAVAIL;
            return -1;
        }
    }
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
        close(fd);
        return -1;
    }
    if (connect(fd, sa, len) < 0) {
        if (errno != EINPROGRESS) {
            int e = errno;

            close(fd);
            errno = e;
            return -1;
        }
        pfd.fd = fd;
        pfd.events = POLLOUT;
        do {
            rc = poll(&pfd, 1,
                      var_smtp_connect_timeout > 0
                          ? (int) (var_smtp_connect_timeout * 1000)
                          : -1);
        } while (rc < 0 && errno == EINTR);
        if (rc == 0 || rc < 0
            || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0
            || soerr != 0) {
            int e = rc == 0 ? ETIMEDOUT : rc < 0 ? errno : soerr;

            close(fd);
            errno = e ? e : EIO;
            return -1;
        }
    }
    if (fcntl(fd, F_SETFL, 0) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static struct smtp_session *smtp_connect(const struct smtp_target *t,
                                         struct buf *err)
{
    const char *bind_to;
    struct sockaddr_storage ss;
    socklen_t len;
    int fd;

    memset(&ss, 0, sizeof(ss));
    if (t->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short) t->port);
        memcpy(&sin->sin_addr, t->addr, 4);
        len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short) t->port);
        memcpy(&sin6->sin6_addr, t->addr, 16);
        len = sizeof(*sin6);
    }
    bind_to =
        t->family == AF_INET ? var_smtp_bind_address : var_smtp_bind_address6;
    if (bind_to[0])
        fd = smtp_connect_bound((struct sockaddr *) &ss, len, bind_to);
    else
        fd = sock_connect_addr((struct sockaddr *) &ss, len,
                               var_smtp_connect_timeout * 1000L);
    if (fd < 0) {
        buf_setf(err, "connect to %s[%s]:%u: %s", t->host, t->addr_text,
                 t->port,
                 errno == ETIMEDOUT ? "Connection timed out" : strerror(errno));
        return NULL;
    }
    return smtp_session_new(stream_open(fd), t);
}

/* ---- one request -------------------------------------------------------- */

static int smtp_all_done(const struct deliver_request *req)
{
    for (size_t i = 0; i < req->rcpt_count; i++)
        if (!req->rcpts[i].done)
            return 0;
    return 1;
}

/* Report every recipient without a result, relay "none". */
static void smtp_report_rest_none(struct deliver_agent *a, int action,
                                  const char *dsn, const char *reason)
{
    const struct deliver_request *req = deliver_agent_request(a);

    for (size_t i = 0; i < req->rcpt_count; i++)
        if (!req->rcpts[i].done)
            deliver_report(a, i, action, dsn, "none", "%s", reason);
}

static void smtp_deliver(struct deliver_agent *a)
{
    const struct deliver_request *req = deliver_agent_request(a);
    const char *nexthop = buf_str(req->nexthop);
    struct smtp_state st;
    struct smtp_targets t;
    struct smtp_session *ss;
    struct buf *err = buf_new(128);
    struct buf *key = buf_new(64);
    int sessions = 0;

    /*
     * The cache key: the nexthop, and the sender when credentials depend
     * on it (a session authenticated for one sender is not another's).
     */
    buf_set(key, nexthop);
    if (var_smtp_sasl_auth_enable && var_smtp_sender_dependent_authentication)
        buf_printf(key, " sender=%s", buf_str(req->sender));
    memset(&st, 0, sizeof(st));
    st.a = a;
    st.accepted = mem_calloc(req->rcpt_count + 1, sizeof(int));
    st.why = buf_new(128);
    st.why_relay = buf_new(64);
    buf_set(st.why_relay, "none");

    /* A cached connection first. */
    if ((ss = smtp_cache_get(buf_str(key))) != NULL) {
        const char *host = strchr(nexthop, '[') ? buf_str(ss->host) : nexthop;
        struct buf *relay = buf_new(64);
        int ret;

        /* Postfix's "relay=h[a]:p, conn_use=N" rides on the relay text */
        deliver_agent_connected(a);
        buf_set(relay, buf_str(ss->relay));
        buf_printf(ss->relay, ", conn_use=%d", ss->use_count + 1);
        ret = smtp_proto_deliver(&st, ss, 0, nexthop, host);
        buf_set(ss->relay, buf_str(relay));
        buf_free(relay);
        if (ret == SMTP_DONE && st.reusable && smtp_all_done(req)) {
            smtp_cache_put(ss, buf_str(key), nexthop);
            goto out;
        }
        smtp_proto_quit(ss);
        smtp_session_free(ss);
        if (smtp_all_done(req))
            goto out;
    }

    smtp_targets_find(&t, nexthop);
    if (t.n == 0) {
        smtp_report_rest_none(a,
                              t.hard ? REC_ACTION_BOUNCED : REC_ACTION_DEFERRED,
                              t.dsn, buf_str(t.why));
        smtp_targets_free(&t);
        goto out;
    }
    for (size_t i = 0; i < t.n && !smtp_all_done(req); i++) {
        struct smtp_dest d;
        int ret, plain = 0;

        if (var_smtp_mx_session_limit > 0
            && sessions >= var_smtp_mx_session_limit)
            break;
    again:
        if ((ss = smtp_connect(&t.v[i], err)) == NULL) {
            msg_info("%s", buf_str(err));
            buf_set(st.why, buf_str(err));
            snprintf(st.why_dsn, sizeof(st.why_dsn), "4.4.1");
            buf_set(st.why_relay, "none");
            continue;
        }
        sessions++;
        ss->no_tls = plain;
        if (smtp_dest_parse(t.v[i].dest, &d, err) < 0) {
            memset(&d, 0, sizeof(d));
            d.host = mem_strdup(t.v[i].host);
        }
        st.tls_retry_plain = 0;
        ret = smtp_proto_deliver(&st, ss, 1, t.v[i].dest, d.host);
        smtp_dest_free(&d);
        if (ret == SMTP_DONE && st.reusable && smtp_all_done(req)) {
            smtp_cache_put(ss, buf_str(key), nexthop);
            break;
        }
        if (ret == SMTP_NEXT && st.tls_retry_plain && !plain) {
            /* as Postfix: a failed opportunistic handshake, then plain */
            smtp_session_free(ss);
            plain = 1;
            goto again;
        }
        if (st.reusable)
            smtp_proto_quit(ss);
        smtp_session_free(ss);
    }
    if (!smtp_all_done(req)) {
        if (buf_len(st.why) == 0)
            buf_set(st.why, "no server could be reached");
        if (st.why_dsn[0] == 0 || st.why_dsn[0] == '2')
            snprintf(st.why_dsn, sizeof(st.why_dsn), "4.4.1");
        if (st.why_dsn[0] == '5')
            st.why_dsn[0] = '4';
        for (size_t i = 0; i < req->rcpt_count; i++)
            if (!req->rcpts[i].done)
                deliver_report(a, i, REC_ACTION_DEFERRED, st.why_dsn,
                               buf_str(st.why_relay), "%s", buf_str(st.why));
    }
    smtp_targets_free(&t);
out:
    buf_free(err);
    buf_free(key);
    buf_free(st.why);
    buf_free(st.why_relay);
    mem_free(st.accepted);
}

static void smtp_serve(int fd, void *ctx)
{
    struct stream *s = stream_open(fd);
    struct buf *err = buf_new(128);
    struct deliver_agent *a;

    (void) ctx;
    stream_set_timeout(s, (int) var_ipc_timeout);
    if ((a = deliver_agent_open(s, err)) == NULL) {
        msg_warn("%s", buf_str(err));
    } else {
        smtp_deliver(a);
        if (deliver_agent_finish(a) < 0)
            msg_warn("%s", deliver_error());
    }
    buf_free(err);
    stream_close(s);
}

static void smtp_pre_jail(void *ctx)
{
    (void) ctx;
    srandom((unsigned) (getpid() ^ time(NULL)));
    (void) smtp_port_lookup(var_smtp_tcp_port); /* loads the services map */
    smtp_addr_warm_up();
    smtp_tls_setup();
    smtp_generic_setup();
}

static void smtp_pre_exit(void *ctx)
{
    (void) ctx;
    smtp_cache_drop();
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_SINGLE,
        .serve = smtp_serve,
        .pre_jail = smtp_pre_jail,
        .pre_exit = smtp_pre_exit,
    };

    daemon_main(argc, argv, &ops);
}
