/*
 * local.c - the local(8) delivery agent: delivers mail for mydestination
 * users to their mailboxes, through aliases, .forward and :include:
 * files, to |commands and /files, and forwards to other addresses by
 * resubmitting through cleanup.
 *
 * Started by master for the "local" service of master.cf (unpriv "n": it
 * runs as root and takes on the recipient's identity before it opens or
 * writes anything of the recipient's; see local_mailbox.c). Talks to qmgr
 * with the delivery protocol of lib/deliver.h, one request per
 * connection.
 *
 * Each request recipient is delivered recursively (local_deliver_addr):
 * every final delivery logs its own Postfix line (to=<final address>,
 * orig_to=<the request's recipient>) through local_outcome(), and the
 * merged outcome (any deferral defers the recipient; else any bounce
 * bounces it; else delivered) is made durable and sent to qmgr without a
 * second log line. A bad request is logged as a warning and its
 * connection closed.
 */
#include <ctype.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "argv.h"
#include "buf.h"
#include "daemon.h"
#include "deliver.h"
#include "dict.h"
#include "htable.h"
#include "local.h"
#include "maps.h"
#include "msg.h"
#include "params.h"
#include "privs.h"
#include "queue_file.h"
#include "record.h"
#include "resolve.h"
#include "str.h"
#include "stream.h"

struct local_globals local_g;

/* relay= of the log lines: the master.cf service name, as Postfix. */
static const char *local_relay(void)
{
    const char *name = daemon_service();

    return name && *name ? name : "local";
}

void local_outcome(struct local_state *st, int action, const char *dsn,
                   const char *fmt, ...)
{
    struct local_result *res = st->result;
    const struct deliver_request *req = st->msg->req;
    struct buf *reason = buf_new(128);
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(reason, fmt, ap);
    va_end(ap);
    deliver_log_status(buf_str(req->queue_id), st->address, st->orig_addr,
                       local_relay(), req->arrival_us, req->active_us,
                       req->request_us, st->msg->connected_us, action, dsn,
                       buf_str(reason));
    switch (action) {
    case REC_ACTION_DEFERRED:
        if (!res->deferred) {
            buf_set(res->dsn, dsn);
            buf_set(res->reason, buf_str(reason));
        }
        res->deferred++;
        break;
    case REC_ACTION_BOUNCED:
        if (!res->deferred && !res->bounced) {
            buf_set(res->dsn, dsn);
            buf_set(res->reason, buf_str(reason));
        }
        res->bounced++;
        break;
    default:
        if (!res->deferred && !res->bounced) {
            buf_set(res->dsn, dsn);
            buf_set(res->reason, buf_str(reason));
        }
        res->delivered++;
        break;
    }
    buf_free(reason);
}

int local_dup(struct local_state *st, const char *kind, const char *text)
{
    struct buf *key = buf_new(64);
    int seen;

    buf_setf(key, "%s %s", kind, text);
    seen = htable_get(st->dup, buf_str(key)) != NULL;
    /* Past duplicate_filter_limit, deliveries are no longer remembered. */
    if (!seen
        && (var_duplicate_filter_limit <= 0
            || st->dup->used < (size_t) var_duplicate_filter_limit))
        htable_put(st->dup, buf_str(key), st->dup);
    buf_free(key);
    return seen;
}

int local_domain_is_local(const char *domain, struct buf *err)
{
    enum resolve_class cls;

    if (*domain == 0)
        return 1;
    if (resolve_domain_class(local_g.resolver, domain, &cls) != LOOKUP_FOUND) {
        buf_setf(err, "%s", resolver_error(local_g.resolver));
        return -1;
    }
    return cls == RESOLVE_CLASS_LOCAL;
}

/* Unknown user: luser_relay, or a bounce. */
static void local_unknown_user(struct local_state *parent, const char *user)
{
    struct local_state unknown = *parent;
    struct local_state *st = &unknown;
    struct buf *relay;
    struct buf *err;

    if (*var_luser_relay == 0) {
        local_outcome(st, REC_ACTION_BOUNCED, "5.1.1", "unknown user: \"%s\"",
                      user);
        return;
    }
    relay = buf_new(128);
    err = buf_new(64);
    /* $user in luser_relay is the name that has no account. */
    unknown.user = user;
    unknown.home = NULL;
    unknown.shell = NULL;
    if (local_expand(relay, var_luser_relay, st, NULL, err) < 0) {
        msg_warn("bad luser_relay value: %s", buf_str(err));
        local_outcome(st, REC_ACTION_DEFERRED, "4.3.5",
                      "mail system configuration error");
    } else {
        struct argv *list = local_split_list(buf_str(relay));
        size_t i;

        for (i = 0; i < list->argc; i++)
            local_deliver_addr(st, list->argv[i]);
        argv_free(list);
    }
    buf_free(relay);
    buf_free(err);
}

/*
 * Deliver to the account USER: its .forward (when USE_FORWARD), else its
 * mailbox.
 */
void local_deliver_user(struct local_state *parent, const char *user,
                        int use_forward)
{
    struct local_state st = *parent;
    struct passwd *pw;
    struct buf *name, *home, *shell;

    if ((pw = getpwnam(user)) == NULL) {
        local_unknown_user(&st, user);
        return;
    }
    name = buf_new(32);
    home = buf_new(64);
    shell = buf_new(32);
    buf_set(name, pw->pw_name);
    buf_set(home, pw->pw_dir);
    buf_set(shell, pw->pw_shell);
    st.user = buf_str(name);
    st.home = buf_str(home);
    st.shell = buf_str(shell);
    st.uid = pw->pw_uid;
    st.gid = pw->pw_gid;
    if (!use_forward || !local_try_forward(&st))
        local_deliver_mailbox(&st);
    buf_free(name);
    buf_free(home);
    buf_free(shell);
}

void local_deliver_addr(struct local_state *parent, const char *addr)
{
    struct local_state st = *parent;
    struct buf *localpart = buf_new(64);
    struct buf *domain = buf_new(64);
    struct buf *full = buf_new(128);
    struct buf *user = buf_new(64);
    struct buf *ext = buf_new(32);
    struct buf *lower = buf_new(128);
    struct buf *err = buf_new(64);
    int is_local;

    st.level = parent->level + 1;
    addr_split(addr, strlen(addr), ADDR_INTERNAL, localpart, domain);
    if ((is_local = local_domain_is_local(buf_str(domain), err)) < 0) {
        local_outcome(&st, REC_ACTION_DEFERRED, "4.3.0",
                      "cannot resolve the domain of %s: %s", addr,
                      buf_str(err));
        goto out;
    }
    if (!is_local) {
        local_forward(&st, addr);
        goto out;
    }
    addr_lower_ascii(buf_str(localpart), buf_len(localpart));
    buf_set(full, buf_str(localpart));
    buf_putc(full, '@');
    buf_puts(full, buf_len(domain) ? buf_str(domain) : var_myorigin);
    st.address = buf_str(full);
    if (st.level > LOCAL_MAX_LEVEL) {
        msg_warn("alias database loop for %s", buf_str(localpart));
        local_outcome(&st, REC_ACTION_BOUNCED, "5.4.6",
                      "alias database loop for %s", buf_str(localpart));
        goto out;
    }
    buf_set(lower, buf_str(full));
    addr_lower_ascii(buf_str(lower), buf_len(lower));
    if (htable_get(st.msg->delivered_to, buf_str(lower)) != NULL) {
        local_outcome(&st, REC_ACTION_BOUNCED, "5.4.6",
                      "mail forwarding loop for %s", buf_str(full));
        goto out;
    }
    /* The same address twice at one nesting level is delivered once. */
    buf_setf(err, "%d %s", st.level, buf_str(lower));
    if (st.level > 1 && local_dup(&st, "recipient", buf_str(err)))
        goto out;
    addr_split_ext(buf_str(localpart), buf_len(localpart),
                   var_recipient_delimiter, user, ext, NULL, NULL);
    st.local = buf_str(localpart);
    st.extension = buf_str(ext);
    st.domain = buf_len(domain) ? buf_str(domain) : var_myorigin;
    if (local_try_alias(&st, buf_str(localpart), buf_str(user)) != 0)
        goto out;
    local_deliver_user(&st, buf_str(user), 1);
out:
    buf_free(localpart);
    buf_free(domain);
    buf_free(full);
    buf_free(user);
    buf_free(ext);
    buf_free(lower);
    buf_free(err);
}

/* Deliver request recipient INDEX and report its merged outcome. */
static void local_deliver_rcpt(struct local_msg *msg, size_t index)
{
    const struct deliver_rcpt *r = &msg->req->rcpts[index];
    struct local_result res = {0};
    struct local_state st;
    int action;

    memset(&st, 0, sizeof(st));
    res.dsn = buf_new(16);
    res.reason = buf_new(128);
    st.msg = msg;
    st.index = index;
    st.result = &res;
    st.dup = msg->dup;
    st.level = 0;
    st.source = LOCAL_SRC_NONE;
    st.top_addr = buf_str(r->address);
    st.orig_addr =
        buf_len(r->orig_rcpt) ? buf_str(r->orig_rcpt) : buf_str(r->address);
    st.address = st.top_addr;
    st.sender = buf_str(msg->req->sender);
    st.delivered = st.top_addr;
    st.extension = "";
    st.local = "";
    st.domain = "";
    st.uid = local_g.nobody_uid;
    st.gid = local_g.nobody_gid;
    local_deliver_addr(&st, st.top_addr);
    if (res.deferred)
        action = REC_ACTION_DEFERRED;
    else if (res.bounced)
        action = REC_ACTION_BOUNCED;
    else
        action = REC_ACTION_DELIVERED;
    /* Queue logs (bounce/, defer/) belong to mail_owner. */
    if (local_set_eugid(local_g.owner_uid, local_g.owner_gid) < 0)
        msg_fatal("cannot switch to mail_owner: %m");
    if (res.deferred + res.bounced + res.delivered == 0)
        /* Every destination was a duplicate or the list was empty. */
        deliver_report(msg->agent, index, REC_ACTION_DELIVERED, "2.0.0",
                       local_relay(), "expanded to no new destination");
    else
        deliver_report_quiet(msg->agent, index, action, buf_str(res.dsn),
                             local_relay(), "%s", buf_str(res.reason));
    local_restore_eugid();
    buf_free(res.dsn);
    buf_free(res.reason);
}

static void local_serve(int fd, void *ctx)
{
    struct stream *s = stream_open(fd);
    struct buf *err = buf_new(128);
    struct deliver_agent *a;
    struct local_msg msg;
    size_t i;

    (void) ctx;
    maps_reopen(local_g.aliases);
    if (local_g.mbox_cmd_maps)
        maps_reopen(local_g.mbox_cmd_maps);
    resolver_reopen(local_g.resolver);
    stream_set_timeout(s, (int) var_ipc_timeout);
    if ((a = deliver_agent_open(s, err)) == NULL) {
        msg_warn("%s", buf_str(err));
        goto out;
    }
    memset(&msg, 0, sizeof(msg));
    msg.agent = a;
    msg.req = deliver_agent_request(a);
    msg.qf = deliver_agent_file(a);
    msg.delivered_to = htable_new(8);
    msg.dup = htable_new(16);
    deliver_agent_connected(a);
    msg.connected_us = deliver_now_us();
    if (local_scan_headers(&msg) < 0) {
        if (local_set_eugid(local_g.owner_uid, local_g.owner_gid) < 0)
            msg_fatal("cannot switch to mail_owner: %m");
        deliver_report_rest(a, REC_ACTION_DEFERRED, "4.3.0", local_relay(),
                            "cannot read the message: %s", qf_error());
        local_restore_eugid();
    } else {
        for (i = 0; i < msg.req->rcpt_count; i++)
            local_deliver_rcpt(&msg, i);
    }
    htable_free(msg.delivered_to, NULL);
    htable_free(msg.dup, NULL);
    if (local_set_eugid(local_g.owner_uid, local_g.owner_gid) < 0)
        msg_fatal("cannot switch to mail_owner: %m");
    if (deliver_agent_finish(a) < 0)
        msg_warn("%s", deliver_error());
    local_restore_eugid();
out:
    buf_free(err);
    stream_close(s);
}

static void local_pre_jail(void *ctx)
{
    struct buf *err = buf_new(64);

    (void) ctx;
    if (geteuid() != 0)
        msg_fatal("the local delivery agent must run as root (master.cf "
                  "unprivileged column \"n\")");
    if (privs_lookup(var_default_privs, &local_g.nobody_uid,
                     &local_g.nobody_gid, err)
        < 0)
        msg_fatal("default_privs: %s", buf_str(err));
    if (privs_lookup(var_mail_owner, &local_g.owner_uid, &local_g.owner_gid,
                     err)
        < 0)
        msg_fatal("mail_owner: %s", buf_str(err));
    local_g.aliases = maps_create("alias_maps", var_alias_maps, DICT_FOLD_FIX);
    if (*var_mailbox_command_maps)
        local_g.mbox_cmd_maps = maps_create(
            "mailbox_command_maps", var_mailbox_command_maps, DICT_FOLD_FIX);
    local_g.resolver = resolver_new();
    buf_free(err);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_SINGLE,
        .pre_jail = local_pre_jail,
        .serve = local_serve,
    };

    umask(077);
    daemon_main(argc, argv, &ops);
}
