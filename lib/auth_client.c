/*
 * auth_client.c - the client side of the auth protocol (auth_client.h).
 *
 * Used by smtpd, smtp, postauth and the test client. Every failure is
 * returned as AUTH_TEMP with a reason; the connection is dropped and made
 * again by the next call, so a restarted auth service is found again.
 */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "auth_client.h"
#include "buf.h"
#include "mail_proto.h"
#include "mem.h"
#include "sock.h"
#include "stream.h"

struct auth_client {
    char *path;
    int timeout;
    struct stream *s;
    char *realm; /* NULL: not sent */
};

struct auth_client *auth_client_create(const char *path, int timeout_sec)
{
    struct auth_client *ac = mem_calloc(1, sizeof(*ac));

    ac->path = mem_strdup(path);
    ac->timeout = timeout_sec > 0 ? timeout_sec : 30;
    return ac;
}

static void auth_client_close(struct auth_client *ac)
{
    if (ac->s != NULL) {
        stream_close(ac->s);
        ac->s = NULL;
    }
}

void auth_client_free(struct auth_client *ac)
{
    if (ac == NULL)
        return;
    auth_client_close(ac);
    mem_free(ac->path);
    mem_free(ac->realm);
    mem_free(ac);
}

void auth_client_set_realm(struct auth_client *ac, const char *realm)
{
    mem_free(ac->realm);
    ac->realm = realm ? mem_strdup(realm) : NULL;
}

void auth_reply_init(struct auth_reply *r)
{
    r->status = AUTH_TEMP;
    r->data = buf_new(64);
    r->user = buf_new(64);
    r->reason = buf_new(64);
}

void auth_reply_free(struct auth_reply *r)
{
    buf_free(r->data);
    buf_free(r->user);
    buf_free(r->reason);
    r->data = r->user = r->reason = NULL;
}

const char *auth_status_name(enum auth_status st)
{
    switch (st) {
    case AUTH_OK:
        return "OK";
    case AUTH_CONTINUE:
        return "CONTINUE";
    case AUTH_FAIL:
        return "FAIL";
    case AUTH_TEMP:
        return "TEMP";
    case AUTH_NONE:
        return "NONE";
    }
    return "UNKNOWN";
}

static enum auth_status auth_client_temp(struct auth_client *ac,
                                         struct auth_reply *r, const char *what,
                                         const char *why)
{
    auth_client_close(ac);
    buf_reset(r->data);
    buf_reset(r->user);
    buf_setf(r->reason, "auth service %s: %s: %s", ac->path, what, why);
    r->status = AUTH_TEMP;
    return AUTH_TEMP;
}

static int auth_client_open(struct auth_client *ac, struct auth_reply *r)
{
    int fd;

    if (ac->s != NULL)
        return 0;
    if (ac->path[0] == '/') {
        fd = sock_unix_connect(ac->path, ac->timeout * 1000L);
        if (fd < 0) {
            auth_client_temp(ac, r, "connect", sock_error());
            return -1;
        }
    } else {
        const char *slash = strchr(ac->path, '/');
        char *cls;

        if (slash == NULL) {
            auth_client_temp(ac, r, "connect",
                             "want CLASS/NAME or a full path");
            return -1;
        }
        cls = mem_strndup(ac->path, (size_t) (slash - ac->path));
        fd = mail_connect(cls, slash + 1, ac->timeout * 1000L);
        mem_free(cls);
        if (fd < 0) {
            auth_client_temp(ac, r, "connect", mail_proto_error());
            return -1;
        }
    }
    ac->s = stream_open(fd);
    stream_set_timeout(ac->s, ac->timeout);
    return 0;
}

/* Read one reply into R; with the request already sent. */
static enum auth_status auth_client_reply(struct auth_client *ac,
                                          struct auth_reply *r)
{
    int status = -1;

    if (attr_scan(ac->s, 0, ATTR_GET_INT(AUTH_ATTR_STATUS, &status),
                  ATTR_GET_STR(AUTH_ATTR_DATA, r->data),
                  ATTR_GET_STR(AUTH_ATTR_USER, r->user),
                  ATTR_GET_STR(AUTH_ATTR_REASON, r->reason), ATTR_END)
        < 0)
        return auth_client_temp(ac, r, "read reply", attr_error());
    if (status < AUTH_OK || status > AUTH_NONE)
        return auth_client_temp(ac, r, "read reply", "bad status value");
    r->status = (enum auth_status) status;
    return r->status;
}

/* The common part: connect, print the request (a va_list), read the reply. */
static enum auth_status auth_client_call(struct auth_client *ac,
                                         struct auth_reply *r, int retry, ...)
{
    va_list ap;
    int rc;
    int attempt;

    /*
     * A kept connection may have been closed by a restarted service while
     * idle: a write or read failure on a kept connection is retried once
     * on a fresh one. Requests are idempotent except step, which fails
     * cleanly in the new process (no exchange in progress).
     */
    for (attempt = 0; attempt < 2; attempt++) {
        int kept = ac->s != NULL;

        if (auth_client_open(ac, r) < 0)
            return AUTH_TEMP;
        va_start(ap, retry);
        rc = attr_vprint(ac->s, 0, ap);
        va_end(ap);
        if (rc < 0) {
            auth_client_temp(ac, r, "write request", attr_error());
            if (kept && retry)
                continue;
            return AUTH_TEMP;
        }
        if (auth_client_reply(ac, r) == AUTH_TEMP && ac->s == NULL && kept
            && retry && attr_error_code() == ATTR_ERR_CLOSED)
            continue;
        return r->status;
    }
    return r->status;
}

enum auth_status auth_client_mechs(struct auth_client *ac, const char *options,
                                   int tls, struct auth_reply *r)
{
    return auth_client_call(ac, r, 1,
                            ATTR_PUT_STR(AUTH_ATTR_REQUEST, AUTH_REQ_MECHS),
                            ATTR_PUT_STR(AUTH_ATTR_OPTIONS, options),
                            ATTR_PUT_INT(AUTH_ATTR_TLS, tls != 0), ATTR_END);
}

enum auth_status auth_client_start(struct auth_client *ac, const char *mech,
                                   const char *initial, const char *options,
                                   int tls, const char *client,
                                   struct auth_reply *r)
{
    if (initial == NULL)
        initial = "";
    if (client == NULL)
        client = "unknown";
    if (ac->realm == NULL)
        return auth_client_call(
            ac, r, 1, ATTR_PUT_STR(AUTH_ATTR_REQUEST, AUTH_REQ_START),
            ATTR_PUT_STR(AUTH_ATTR_MECH, mech),
            ATTR_PUT_STR(AUTH_ATTR_RESPONSE, initial),
            ATTR_PUT_STR(AUTH_ATTR_OPTIONS, options),
            ATTR_PUT_INT(AUTH_ATTR_TLS, tls != 0),
            ATTR_PUT_STR(AUTH_ATTR_CLIENT, client), ATTR_END);
    return auth_client_call(ac, r, 1,
                            ATTR_PUT_STR(AUTH_ATTR_REQUEST, AUTH_REQ_START),
                            ATTR_PUT_STR(AUTH_ATTR_MECH, mech),
                            ATTR_PUT_STR(AUTH_ATTR_RESPONSE, initial),
                            ATTR_PUT_STR(AUTH_ATTR_OPTIONS, options),
                            ATTR_PUT_INT(AUTH_ATTR_TLS, tls != 0),
                            ATTR_PUT_STR(AUTH_ATTR_CLIENT, client),
                            ATTR_PUT_STR(AUTH_ATTR_REALM, ac->realm), ATTR_END);
}

enum auth_status auth_client_step(struct auth_client *ac, const char *response,
                                  struct auth_reply *r)
{
    if (ac->s == NULL) {
        /* The exchange lived in a connection that is gone. */
        buf_reset(r->data);
        buf_reset(r->user);
        buf_set(r->reason, "auth service: connection lost during exchange");
        r->status = AUTH_TEMP;
        return AUTH_TEMP;
    }
    return auth_client_call(
        ac, r, 0, ATTR_PUT_STR(AUTH_ATTR_REQUEST, AUTH_REQ_STEP),
        ATTR_PUT_STR(AUTH_ATTR_RESPONSE, response), ATTR_END);
}

enum auth_status auth_client_cancel(struct auth_client *ac,
                                    struct auth_reply *r)
{
    if (ac->s == NULL) {
        buf_reset(r->data);
        buf_reset(r->user);
        buf_reset(r->reason);
        r->status = AUTH_OK;
        return AUTH_OK;
    }
    return auth_client_call(
        ac, r, 1, ATTR_PUT_STR(AUTH_ATTR_REQUEST, AUTH_REQ_CANCEL), ATTR_END);
}

enum auth_status auth_client_creds(struct auth_client *ac, const char *sender,
                                   const char *host, const char *nexthop,
                                   struct auth_reply *r)
{
    return auth_client_call(
        ac, r, 1, ATTR_PUT_STR(AUTH_ATTR_REQUEST, AUTH_REQ_CREDS),
        ATTR_PUT_STR(AUTH_ATTR_SENDER, sender ? sender : ""),
        ATTR_PUT_STR(AUTH_ATTR_HOST, host ? host : ""),
        ATTR_PUT_STR(AUTH_ATTR_NEXTHOP, nexthop ? nexthop : ""), ATTR_END);
}
