/*
 * anvil_client.c - requests to the anvil service (anvil_client.h).
 *
 * Called by smtpd. Blocking I/O with a timeout on every step (lib/stream.h,
 * lib/attr.h). Failures return ANVIL_FAIL with a reason; the first one of
 * a run of failures is logged as a warning, so the caller can simply go
 * on without limits.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "anvil_client.h"
#include "attr.h"
#include "buf.h"
#include "mail_proto.h"
#include "mem.h"
#include "msg.h"
#include "stream.h"

struct anvil_client {
    char *service; /* endpoint name in private/ */
    long timeout_ms;
    struct stream *s;
    struct buf *ident;
    struct buf *status_text;
    struct buf *error;
    time_t retry_after; /* no new attempt before this */
    int warned;         /* the current run of failures was logged */
};

struct anvil_client *anvil_client_new(const char *service, long timeout_ms)
{
    struct anvil_client *ac = mem_calloc(1, sizeof(*ac));

    ac->service = mem_strdup(service);
    ac->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    ac->ident = buf_new(64);
    ac->status_text = buf_new(16);
    ac->error = buf_new(64);
    return ac;
}

static void anvil_client_disconnect_stream(struct anvil_client *ac)
{
    if (ac->s) {
        stream_close(ac->s);
        ac->s = NULL;
    }
}

void anvil_client_free(struct anvil_client *ac)
{
    if (ac == NULL)
        return;
    anvil_client_disconnect_stream(ac);
    mem_free(ac->service);
    buf_free(ac->ident);
    buf_free(ac->status_text);
    buf_free(ac->error);
    mem_free(ac);
}

const char *anvil_client_error(const struct anvil_client *ac)
{
    return buf_str(ac->error);
}

/* Open the connection when there is none. 0, or -1 (error set). */
static int anvil_client_open(struct anvil_client *ac)
{
    int fd;

    if (ac->s)
        return 0;
    fd = mail_connect(MAIL_CLASS_PRIVATE, ac->service, ac->timeout_ms);
    if (fd < 0) {
        buf_set(ac->error, mail_proto_error());
        return -1;
    }
    ac->s = stream_open(fd);
    stream_set_timeout_ms(ac->s, ac->timeout_ms);
    return 0;
}

/* One request/reply on the open connection. 0, or -1 (error set). */
static int anvil_client_exchange(struct anvil_client *ac, const char *request,
                                 int *status, int *count, int *rate)
{
    int have_count = -1;
    int have_rate = -1;

    if (attr_print(ac->s, 0, ATTR_PUT_STR("request", request),
                   ATTR_PUT_STR("ident", buf_str(ac->ident)), ATTR_END)
            < 0
        || attr_scan(ac->s, ATTR_FLAG_MISSING | ATTR_FLAG_EXTRA,
                     ATTR_GET_INT("status", status),
                     ATTR_GET_INT("count", &have_count),
                     ATTR_GET_INT("rate", &have_rate), ATTR_END)
               < 0) {
        buf_setf(ac->error, "private/%s: %s", ac->service, attr_error());
        return -1;
    }
    if (*status == -1 || (count && have_count < 0) || (rate && have_rate < 0)) {
        buf_setf(ac->error, "private/%s: incomplete reply to \"%s\"",
                 ac->service, request);
        return -1;
    }
    if (count)
        *count = have_count;
    if (rate)
        *rate = have_rate;
    return 0;
}

static int anvil_client_request(struct anvil_client *ac, const char *request,
                                const char *service, const char *addr,
                                int *count, int *rate)
{
    time_t now = time(NULL);
    int status = -1;
    int reused;
    int ret;

    buf_setf(ac->ident, "%s:%s", service, addr);
    if (buf_len(ac->ident) > ANVIL_IDENT_MAX) {
        buf_setf(ac->error, "client identifier too long (%zu bytes)",
                 buf_len(ac->ident));
        return ANVIL_FAIL;
    }
    if (ac->s == NULL && now < ac->retry_after)
        return ANVIL_FAIL; /* still failing: stay quiet and fast */
    reused = ac->s != NULL;
    ret = anvil_client_open(ac);
    if (ret == 0) {
        status = -1;
        ret = anvil_client_exchange(ac, request, &status, count, rate);
    }
    if (ret < 0 && reused) {
        /* The service went away since the last request: try once more. */
        anvil_client_disconnect_stream(ac);
        ret = anvil_client_open(ac);
        if (ret == 0) {
            status = -1;
            ret = anvil_client_exchange(ac, request, &status, count, rate);
        }
    }
    if (ret < 0) {
        anvil_client_disconnect_stream(ac);
        ac->retry_after = now + ANVIL_RETRY_DELAY;
        if (!ac->warned)
            msg_warn("anvil service unavailable: %s; client limits are not "
                     "enforced",
                     buf_str(ac->error));
        ac->warned = 1;
        return ANVIL_FAIL;
    }
    ac->warned = 0;
    if (status != 0 && strcmp(request, "disconnect") != 0) {
        buf_setf(ac->error, "private/%s: status %d for \"%s\"", ac->service,
                 status, request);
        return ANVIL_FAIL;
    }
    return ANVIL_OK;
}

int anvil_client_connect(struct anvil_client *ac, const char *service,
                         const char *addr, int *count, int *rate)
{
    return anvil_client_request(ac, "connect", service, addr, count, rate);
}

int anvil_client_disconnect(struct anvil_client *ac, const char *service,
                            const char *addr)
{
    return anvil_client_request(ac, "disconnect", service, addr, NULL, NULL);
}

int anvil_client_message(struct anvil_client *ac, const char *service,
                         const char *addr, int *rate)
{
    return anvil_client_request(ac, "message", service, addr, NULL, rate);
}

int anvil_client_recipient(struct anvil_client *ac, const char *service,
                           const char *addr, int *rate)
{
    return anvil_client_request(ac, "recipient", service, addr, NULL, rate);
}

int anvil_client_newtls(struct anvil_client *ac, const char *service,
                        const char *addr, int *rate)
{
    return anvil_client_request(ac, "newtls", service, addr, NULL, rate);
}

int anvil_client_newtls_report(struct anvil_client *ac, const char *service,
                               const char *addr, int *rate)
{
    return anvil_client_request(ac, "newtls_report", service, addr, NULL, rate);
}

int anvil_client_auth(struct anvil_client *ac, const char *service,
                      const char *addr, int *rate)
{
    return anvil_client_request(ac, "auth", service, addr, NULL, rate);
}
