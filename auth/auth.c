/*
 * auth.c - the auth service: SMTP AUTH for smtpd and client credentials
 * for smtp, the only process that reads password files (DESIGN.md 2).
 *
 * Started by master ("auth unix - n n - 1 auth"): as root it opens
 * auth_user_maps and smtp_sasl_password_maps (pre_jail), then gives up
 * root for mail_owner itself (post_jail; master.cf says unpriv "n" so that
 * pre_jail runs as root, and chroot when master.cf says so). It
 * serves many clients in one process (DAEMON_MULTI); each connection
 * holds at most one exchange. The protocol is described in
 * lib/auth_client.h; the mechanisms are in auth_mech.c.
 *
 * Errors: a malformed request is logged as a warning and ends that
 * connection. A map error is a TEMP reply (smtpd answers 454, smtp
 * defers) and a warning. Log lines never hold a password or a hash.
 * "postern reload" ends this process (master closes the status pipe) and
 * the next one reads the maps again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "auth_client.h"
#include "auth_impl.h"
#include "buf.h"
#include "daemon.h"
#include "event.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "privs.h"
#include "str.h"

/* Most bytes of one request (the AUTH response limit plus room). */
#define AUTH_REQUEST_MAX (64 * 1024)

static struct maps *auth_user_maps;
static struct maps *auth_pass_maps;

struct auth_conn {
    int fd;
    struct buf *in;
    struct auth_session *as;
    struct buf *client; /* "host[addr]" from the last start request */
    struct buf *mech;   /* the mechanism of that request, printable */
    uint64_t timer;     /* deadline of a request begun but not complete */
};

/* ---- lookups ------------------------------------------------------------- */

static enum lookup_status auth_user_lookup(void *ctx, const char *key,
                                           struct buf *value, struct buf *err)
{
    enum lookup_status st;

    (void) ctx;
    if (auth_user_maps == NULL || maps_count(auth_user_maps) == 0) {
        buf_set(err, "auth_user_maps is empty");
        return LOOKUP_ERR_CONFIG;
    }
    st = maps_find(auth_user_maps, key, 0, value);
    if (st == LOOKUP_ERR_TEMP || st == LOOKUP_ERR_CONFIG)
        buf_set(err, maps_error(auth_user_maps));
    return st;
}

/*
 * Client credentials in Postfix's order (auth_client.h). Fills R; the
 * password never reaches a log line.
 */
static void auth_creds(const char *sender, const char *host,
                       const char *nexthop, struct auth_reply *r)
{
    struct buf *value = buf_new(64), *key = buf_new(64);
    const char *keys[4];
    int flags[4];
    int n = 0, i;
    enum lookup_status st = LOOKUP_NOTFOUND;
    const char *at;

    if (var_smtp_sender_dependent_authentication && *sender) {
        keys[n] = sender;
        flags[n++] = 0;
        if ((at = strrchr(sender, '@')) != NULL) {
            buf_set(key, at);
            keys[n] = buf_str(key);
            flags[n++] = MAPS_PARTIAL;
        }
    }
    keys[n] = host;
    flags[n++] = 0;
    keys[n] = nexthop;
    flags[n++] = 0;
    buf_reset(r->data);
    buf_reset(r->user);
    buf_reset(r->reason);
    for (i = 0; i < n; i++) {
        if (*keys[i] == 0)
            continue;
        st = maps_find(auth_pass_maps, keys[i], flags[i], value);
        if (st != LOOKUP_NOTFOUND)
            break;
    }
    if (st == LOOKUP_FOUND) {
        const char *colon = strchr(buf_str(value), ':');

        if (colon == NULL) {
            buf_set(r->user, buf_str(value));
        } else {
            buf_append(r->user, buf_str(value),
                       (size_t) (colon - buf_str(value)));
            buf_set(r->data, colon + 1);
        }
        r->status = AUTH_OK;
    } else if (st == LOOKUP_NOTFOUND) {
        r->status = AUTH_NONE;
    } else {
        msg_warn("smtp_sasl_password_maps lookup failed: %s",
                 maps_error(auth_pass_maps));
        buf_set(r->reason, "smtp_sasl_password_maps lookup failed");
        r->status = AUTH_TEMP;
    }
    buf_set(value, "");
    buf_free(value);
    buf_free(key);
}

/* ---- connections --------------------------------------------------------- */

static void auth_conn_end(struct event_loop *loop, struct auth_conn *c)
{
    if (c->timer)
        event_cancel(loop, c->timer);
    event_unwatch(loop, c->fd);
    close(c->fd);
    buf_free(c->in);
    buf_free(c->client);
    buf_free(c->mech);
    auth_session_free(c->as);
    mem_free(c);
    daemon_client_done();
}

/* Write all of DATA, waiting at most ipc_timeout in total: 0, or -1. */
static int auth_write_all(int fd, const char *data, size_t len)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    long timeout_ms = var_ipc_timeout * 1000L;

    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n > 0) {
            data += n;
            len -= (size_t) n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -1;
        if (poll(&pfd, 1,
                 (int) (timeout_ms > 1000000000L ? 1000000000L : timeout_ms))
            <= 0)
            return -1;
    }
    return 0;
}

static int auth_send(struct auth_conn *c, const struct auth_reply *r)
{
    struct buf *out = buf_new(256);
    int rc;

    attr_build(out, 0, ATTR_PUT_INT(AUTH_ATTR_STATUS, r->status),
               ATTR_PUT_STR(AUTH_ATTR_DATA, buf_str(r->data)),
               ATTR_PUT_STR(AUTH_ATTR_USER, buf_str(r->user)),
               ATTR_PUT_STR(AUTH_ATTR_REASON, buf_str(r->reason)), ATTR_END);
    rc = auth_write_all(c->fd, buf_str(out), buf_len(out));
    buf_set(out, "");
    buf_free(out);
    return rc;
}

/* The service's log line about one exchange result. */
static void auth_log(struct auth_conn *c, const char *mech,
                     const struct auth_reply *r, const struct buf *log)
{
    if (r->status == AUTH_OK)
        msg_info("client=%s, sasl_method=%s, sasl_username=%s",
                 buf_str(c->client), mech, buf_str(r->user));
    else if (r->status == AUTH_TEMP)
        msg_warn("client=%s, sasl_method=%s: temporary failure: %s",
                 buf_str(c->client), mech, buf_str(log));
    else if (r->status == AUTH_FAIL)
        msg_info("client=%s, sasl_method=%s: authentication failed: %s",
                 buf_str(c->client), mech, buf_str(log));
}

/* Handle one request of LEN bytes at DATA: 0, or -1 (end the connection). */
static int auth_request(struct auth_conn *c, const char *data, size_t len)
{
    struct buf *req = buf_new(16), *options = buf_new(64), *mech = buf_new(16);
    struct buf *resp = buf_new(64), *client = buf_new(64);
    struct buf *sender = buf_new(64), *host = buf_new(64);
    struct buf *nexthop = buf_new(64), *log = buf_new(128), *err = buf_new(64);
    struct buf *pmech = buf_new(32), *realm = buf_new(32);
    struct auth_reply r;
    int tls = 0, sec, rc = 0;
    const char *what = NULL;

    auth_reply_init(&r);
    /* Without a "realm" attribute, this service's own setting counts. */
    buf_set(realm, var_smtpd_sasl_local_domain);
    if (attr_parse(data, len, ATTR_FLAG_MISSING,
                   ATTR_GET_STR(AUTH_ATTR_REQUEST, req),
                   ATTR_GET_STR(AUTH_ATTR_OPTIONS, options),
                   ATTR_GET_INT(AUTH_ATTR_TLS, &tls),
                   ATTR_GET_STR(AUTH_ATTR_MECH, mech),
                   ATTR_GET_STR(AUTH_ATTR_RESPONSE, resp),
                   ATTR_GET_STR(AUTH_ATTR_CLIENT, client),
                   ATTR_GET_STR(AUTH_ATTR_REALM, realm),
                   ATTR_GET_STR(AUTH_ATTR_SENDER, sender),
                   ATTR_GET_STR(AUTH_ATTR_HOST, host),
                   ATTR_GET_STR(AUTH_ATTR_NEXTHOP, nexthop), ATTR_END)
        < 0) {
        what = attr_error();
        goto bad;
    }
    if (strcmp(buf_str(req), AUTH_REQ_MECHS) == 0
        || strcmp(buf_str(req), AUTH_REQ_START) == 0) {
        if ((sec = auth_sec_parse(buf_str(options), err)) < 0) {
            what = buf_str(err);
            goto bad;
        }
        if (strcmp(buf_str(req), AUTH_REQ_MECHS) == 0) {
            auth_mech_list(r.data, sec);
            r.status = AUTH_OK;
        } else {
            buf_reset(c->client);
            str_printable(c->client, buf_str(client),
                          buf_len(client) > 300 ? 300 : buf_len(client));
            buf_reset(c->mech);
            str_printable(c->mech, buf_str(mech),
                          buf_len(mech) > 30 ? 30 : buf_len(mech));
            buf_set(pmech, buf_str(c->mech));
            auth_session_set_realm(c->as, buf_str(realm));
            auth_session_start(c->as, buf_str(mech), buf_str(resp), sec, &r,
                               log);
            auth_log(c, buf_str(pmech), &r, log);
        }
    } else if (strcmp(buf_str(req), AUTH_REQ_STEP) == 0) {
        auth_session_step(c->as, buf_str(resp), &r, log);
        buf_set(pmech, buf_str(c->mech));
        auth_log(c, buf_str(pmech), &r, log);
    } else if (strcmp(buf_str(req), AUTH_REQ_CANCEL) == 0) {
        auth_session_reset(c->as);
        buf_reset(r.data);
        buf_reset(r.user);
        buf_reset(r.reason);
        r.status = AUTH_OK;
    } else if (strcmp(buf_str(req), AUTH_REQ_CREDS) == 0) {
        auth_creds(buf_str(sender), buf_str(host), buf_str(nexthop), &r);
    } else {
        buf_reset(err);
        buf_puts(err, "unknown request \"");
        str_printable(err, buf_str(req), buf_len(req) > 30 ? 30 : buf_len(req));
        buf_puts(err, "\"");
        what = buf_str(err);
        goto bad;
    }
    if (auth_send(c, &r) < 0) {
        msg_warn("write reply to auth client: %s", strerror(errno));
        rc = -1;
    }
    goto out;
bad:
    msg_warn("malformed auth request: %s", what);
    rc = -1;
out:
    auth_reply_free(&r);
    buf_set(resp, "");
    buf_free(req);
    buf_free(options);
    buf_free(mech);
    buf_free(resp);
    buf_free(client);
    buf_free(sender);
    buf_free(host);
    buf_free(nexthop);
    buf_free(log);
    buf_free(err);
    buf_free(pmech);
    buf_free(realm);
    return rc;
}

/* A client sent part of a request and then nothing for ipc_timeout. */
static void auth_request_timeout(struct event_loop *loop, void *ctx)
{
    struct auth_conn *c = ctx;

    c->timer = 0;
    msg_warn("timeout on an auth request from %s: closing the connection",
             buf_str(c->client));
    auth_conn_end(loop, c);
}

static void auth_read(struct event_loop *loop, int fd, int events, void *ctx)
{
    struct auth_conn *c = ctx;
    char chunk[4096];
    ssize_t n;
    long frame;
    int done = 0;

    (void) events;
    n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        auth_conn_end(loop, c);
        return;
    }
    buf_append(c->in, chunk, (size_t) n);
    while ((frame = attr_frame_len(buf_str(c->in), buf_len(c->in))) > 0) {
        size_t rest = buf_len(c->in) - (size_t) frame;

        if (auth_request(c, buf_str(c->in), (size_t) frame) < 0) {
            auth_conn_end(loop, c);
            return;
        }
        memmove(c->in->data, c->in->data + frame, rest);
        buf_truncate(c->in, rest);
        done++;
    }
    if (frame < 0 || buf_len(c->in) > AUTH_REQUEST_MAX) {
        msg_warn("malformed auth request: %s",
                 frame < 0 ? "not an attribute list" : "request too long");
        auth_conn_end(loop, c);
        return;
    }
    /*
     * A request must be complete within ipc_timeout of its first byte
     * (dripping bytes does not stretch it); a finished one restarts it.
     */
    if (c->timer && (done > 0 || buf_len(c->in) == 0)) {
        event_cancel(loop, c->timer);
        c->timer = 0;
    }
    if (buf_len(c->in) > 0 && c->timer == 0)
        c->timer =
            event_timer(loop, var_ipc_timeout * 1000L, auth_request_timeout, c);
}

static void auth_accept(struct event_loop *loop, int fd, void *ctx)
{
    struct auth_conn *c = mem_calloc(1, sizeof(*c));

    (void) ctx;
    c->fd = fd;
    c->in = buf_new(512);
    c->client = buf_new(64);
    buf_set(c->client, "unknown");
    c->mech = buf_new(16);
    c->as =
        auth_session_create(auth_user_lookup, NULL, var_smtpd_sasl_local_domain,
                            var_myhostname, var_smtpd_sasl_service);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (event_watch(loop, fd, EVENT_READ, auth_read, c) < 0) {
        msg_warn("watch auth client: %s", strerror(errno));
        auth_conn_end(loop, c);
    }
}

/* As root: open the secret maps (they stay root:root 0600). */
static void auth_pre_jail(void *ctx)
{
    (void) ctx;
    auth_user_maps = maps_create("auth_user_maps", var_auth_user_maps, 0);
    auth_pass_maps =
        maps_create("smtp_sasl_password_maps", var_smtp_sasl_password_maps, 0);
    if (maps_count(auth_user_maps) == 0)
        msg_info("auth_user_maps is empty: SMTP AUTH will fail with a "
                 "temporary error");
}

/*
 * master.cf runs auth with unpriv "n" so that pre_jail is root; with the
 * maps open, the process gives root up itself, for good.
 */
static void auth_post_jail(void *ctx)
{
    struct buf *err = buf_new(64);
    uid_t uid;
    gid_t gid;

    (void) ctx;
    if (geteuid() == 0) {
        if (privs_lookup(var_mail_owner, &uid, &gid, err) < 0
            || privs_drop(uid, gid, err) < 0
            || privs_verify_dropped(uid, gid, err) < 0)
            msg_fatal("drop privileges to %s: %s", var_mail_owner,
                      buf_str(err));
    }
    buf_free(err);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_MULTI,
        .pre_jail = auth_pre_jail,
        .post_jail = auth_post_jail,
        .accept = auth_accept,
    };

    daemon_main(argc, argv, &ops);
}
