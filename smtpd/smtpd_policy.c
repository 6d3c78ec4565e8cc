/*
 * smtpd_policy.c - the check_policy_service client (see smtpd_policy.h).
 *
 * Every read and write waits with poll() against one deadline per request
 * (smtpd_policy_service_timeout); a reply line longer than 8 KB, a reply
 * over 64 lines or one without "action=" is an error, and the connection
 * is dropped so the next request starts clean.
 */
#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "sock.h"
#include "str.h"

#include "smtpd_check.h"
#include "smtpd_policy.h"

#define POLICY_LINE_MAX  8192
#define POLICY_LINES_MAX 64

struct smtpd_policy {
    char *endpoint;
    int fd;
    time_t opened;
    time_t last_used;
    long requests;
    struct buf *inbuf;
    /* Settings: the smtpd_policy_service_* parameters or overrides. */
    long timeout, max_idle, max_ttl, request_limit, try_limit, retry_delay;
    char *default_action;
    char *context;
};

struct smtpd_policy *smtpd_policy_new(const char *endpoint)
{
    struct smtpd_policy *p = mem_calloc(1, sizeof(*p));

    p->endpoint = mem_strdup(endpoint);
    p->fd = -1;
    p->inbuf = buf_new(256);
    p->timeout = var_smtpd_policy_service_timeout;
    p->max_idle = var_smtpd_policy_service_max_idle;
    p->max_ttl = var_smtpd_policy_service_max_ttl;
    p->request_limit = var_smtpd_policy_service_request_limit;
    p->try_limit = var_smtpd_policy_service_try_limit;
    p->retry_delay = var_smtpd_policy_service_retry_delay;
    p->default_action = mem_strdup(var_smtpd_policy_service_default_action);
    p->context = mem_strdup(var_smtpd_policy_service_policy_context);
    return p;
}

int smtpd_policy_set_option(struct smtpd_policy *p, const char *name,
                            const char *value, struct buf *err)
{
    static const struct {
        const char *name;
        int time; /* 1: a time value (seconds default), 0: a count */
        size_t off;
    } nums[] = {
        {"timeout", 1, offsetof(struct smtpd_policy, timeout)},
        {"max_idle", 1, offsetof(struct smtpd_policy, max_idle)},
        {"max_ttl", 1, offsetof(struct smtpd_policy, max_ttl)},
        {"retry_delay", 1, offsetof(struct smtpd_policy, retry_delay)},
        {"request_limit", 0, offsetof(struct smtpd_policy, request_limit)},
        {"try_limit", 0, offsetof(struct smtpd_policy, try_limit)},
    };

    if (strcmp(name, "default_action") == 0) {
        mem_free(p->default_action);
        p->default_action = mem_strdup(value);
        return 0;
    }
    if (strcmp(name, "policy_context") == 0) {
        mem_free(p->context);
        p->context = mem_strdup(value);
        return 0;
    }
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (strcmp(name, nums[i].name) != 0)
            continue;
        long v;
        int ok = nums[i].time ? conv_time(value, 's', &v) == 0
                              : conv_long(value, &v) == 0;
        if (!ok || v < 0 || (nums[i].time && v == 0 && i == 0)) {
            buf_setf(err, "check_policy_service %s: bad %s value: \"%s\"",
                     p->endpoint, name, value);
            return -1;
        }
        *(long *) ((char *) p + nums[i].off) = v;
        return 0;
    }
    buf_setf(err, "check_policy_service %s: unknown attribute: \"%s\"",
             p->endpoint, name);
    return -1;
}

const char *smtpd_policy_default_action(const struct smtpd_policy *p)
{
    return p->default_action;
}

void smtpd_policy_close(struct smtpd_policy *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    p->requests = 0;
    buf_reset(p->inbuf);
}

void smtpd_policy_free(struct smtpd_policy *p)
{
    if (!p)
        return;
    smtpd_policy_close(p);
    buf_free(p->inbuf);
    mem_free(p->endpoint);
    mem_free(p->default_action);
    mem_free(p->context);
    mem_free(p);
}

const char *smtpd_policy_endpoint(const struct smtpd_policy *p)
{
    return p->endpoint;
}

static long ms_left(const struct timespec *deadline)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (deadline->tv_sec - now.tv_sec) * 1000L
              + (deadline->tv_nsec - now.tv_nsec) / 1000000L;
    return ms > 0 ? ms : 0;
}

static int policy_connect(struct smtpd_policy *p, long timeout_ms,
                          struct buf *err)
{
    const char *ep = p->endpoint;

    if (str_has_prefix(ep, "unix:")) {
        /*
         * A relative path is relative to queue_directory, which is the
         * daemon's working directory (lib/daemon.c), also after chroot.
         */
        struct buf *path = buf_new(64);
        buf_puts(path, ep + 5);
        p->fd = sock_unix_connect(buf_str(path), timeout_ms);
        if (p->fd < 0)
            buf_setf(err, "connect to %s: %s", buf_str(path), sock_error());
        buf_free(path);
    } else if (str_has_prefix(ep, "inet:")) {
        p->fd = sock_inet_connect(ep + 5, sock_protocols(var_inet_protocols),
                                  timeout_ms);
        if (p->fd < 0)
            buf_setf(err, "connect to %s: %s", ep + 5, sock_error());
    } else {
        buf_setf(err, "unsupported policy service endpoint: %s", ep);
        return -1;
    }
    if (p->fd < 0)
        return -1;
    p->opened = time(NULL);
    p->requests = 0;
    buf_reset(p->inbuf);
    return 0;
}

static int policy_write(int fd, const char *data, size_t len,
                        const struct timespec *deadline, struct buf *err)
{
    while (len > 0) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        int n = poll(&pfd, 1, (int) ms_left(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            buf_set(err, n == 0 ? "timeout" : strerror(errno));
            return -1;
        }
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w < 0) {
            buf_setf(err, "write: %s", strerror(errno));
            return -1;
        }
        data += w;
        len -= (size_t) w;
    }
    return 0;
}

/* One reply line (without the newline) into LINE: 0 or -1 with ERR. */
static int policy_read_line(struct smtpd_policy *p, struct buf *line,
                            const struct timespec *deadline, struct buf *err)
{
    for (;;) {
        char *nl = memchr(buf_str(p->inbuf), '\n', buf_len(p->inbuf));
        if (nl) {
            size_t n = (size_t) (nl - buf_str(p->inbuf));
            buf_reset(line);
            buf_append(line, buf_str(p->inbuf), n);
            if (buf_len(line) && buf_str(line)[buf_len(line) - 1] == '\r')
                buf_truncate(line, buf_len(line) - 1);
            size_t rest = buf_len(p->inbuf) - n - 1;
            memmove(buf_str(p->inbuf), nl + 1, rest);
            buf_truncate(p->inbuf, rest);
            return 0;
        }
        if (buf_len(p->inbuf) > POLICY_LINE_MAX) {
            buf_set(err, "reply line too long");
            return -1;
        }
        struct pollfd pfd = {p->fd, POLLIN, 0};
        int n = poll(&pfd, 1, (int) ms_left(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            buf_set(err, n == 0 ? "timeout" : strerror(errno));
            return -1;
        }
        char tmp[1024];
        ssize_t r = recv(p->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            buf_set(err,
                    r == 0 ? "connection closed by server" : strerror(errno));
            return -1;
        }
        buf_append(p->inbuf, tmp, (size_t) r);
    }
}

static void add_attr(struct buf *out, const char *name, const char *value)
{
    buf_printf(out, "%s=", name);
    /* A value must not break the line protocol. */
    for (const char *s = value ? value : ""; *s; s++)
        buf_putc(out, (*s == '\n' || *s == '\r') ? ' ' : *s);
    buf_putc(out, '\n');
}

void smtpd_policy_request(const struct smtpd_policy *p,
                          const struct smtpd_client *c, const char *state,
                          struct buf *out)
{
    char num[32];

    buf_reset(out);
    add_attr(out, "request", "smtpd_access_policy");
    add_attr(out, "protocol_state", state);
    add_attr(out, "protocol_name", c->protocol ? c->protocol : "SMTP");
    add_attr(out, "helo_name", c->helo);
    add_attr(out, "queue_id", c->queue_id);
    add_attr(out, "sender", c->sender);
    add_attr(out, "recipient", c->recipient);
    snprintf(num, sizeof(num), "%u", c->rcpt_count);
    add_attr(out, "recipient_count", num);
    add_attr(out, "client_address", c->addr);
    add_attr(out, "client_name", c->name);
    add_attr(out, "reverse_client_name", c->reverse_name);
    add_attr(out, "instance", c->instance);
    add_attr(out, "sasl_method", c->sasl_method);
    add_attr(out, "sasl_username", c->sasl_username);
    add_attr(out, "sasl_sender", c->sasl_sender);
    snprintf(num, sizeof(num), "%ld", c->size);
    add_attr(out, "size", num);
    add_attr(out, "ccert_subject", "");
    add_attr(out, "ccert_issuer", "");
    add_attr(out, "ccert_fingerprint", c->ccert_fingerprint);
    add_attr(out, "ccert_pubkey_fingerprint", "");
    add_attr(out, "encryption_protocol", c->tls_protocol);
    add_attr(out, "encryption_cipher", c->tls_cipher);
    snprintf(num, sizeof(num), "%d", c->tls_protocol ? c->tls_bits : 0);
    add_attr(out, "encryption_keysize", num);
    add_attr(out, "etrn_domain", c->etrn_domain);
    add_attr(out, "stress", "");
    add_attr(out, "client_port", c->port);
    add_attr(out, "policy_context", p->context);
    add_attr(out, "server_address", c->server_addr);
    add_attr(out, "server_port", c->server_port);
    add_attr(out, "compatibility_level", var_compatibility_level);
    add_attr(out, "mail_version", var_mail_version);
    buf_putc(out, '\n');
}

/* One try on an open (or newly opened) connection. */
static int policy_try(struct smtpd_policy *p, const struct buf *req,
                      struct buf *action, struct buf *err)
{
    struct timespec deadline;
    time_t now = time(NULL);
    struct buf *line;
    int lines = 0, got_action = 0;

    if (p->fd >= 0
        && (now - p->last_used >= p->max_idle || now - p->opened >= p->max_ttl
            || (p->request_limit > 0 && p->requests >= p->request_limit)))
        smtpd_policy_close(p);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += p->timeout;
    if (p->fd < 0 && policy_connect(p, p->timeout * 1000L, err) < 0)
        return -1;
    if (policy_write(p->fd, buf_str(req), buf_len(req), &deadline, err) < 0) {
        smtpd_policy_close(p);
        return -1;
    }
    line = buf_new(128);
    for (;;) {
        if (policy_read_line(p, line, &deadline, err) < 0)
            break;
        if (buf_len(line) == 0) {
            if (got_action) {
                buf_free(line);
                p->requests++;
                p->last_used = time(NULL);
                return 0;
            }
            buf_set(err, "reply without action= attribute");
            break;
        }
        if (++lines > POLICY_LINES_MAX) {
            buf_set(err, "reply too long");
            break;
        }
        if (str_has_prefix(buf_str(line), "action=")) {
            buf_set(action, buf_str(line) + 7);
            got_action = 1;
        }
    }
    buf_free(line);
    smtpd_policy_close(p);
    return -1;
}

int smtpd_policy_query(struct smtpd_policy *p, const struct smtpd_client *c,
                       const char *state, struct buf *action, struct buf *err)
{
    struct buf *req = buf_new(1024);
    long tries = p->try_limit > 0 ? p->try_limit : 1;
    int ret = -1;

    smtpd_policy_request(p, c, state, req);
    for (long i = 0; i < tries; i++) {
        buf_reset(err);
        if (i > 0 && p->retry_delay > 0)
            sleep((unsigned) p->retry_delay);
        if (policy_try(p, req, action, err) == 0) {
            ret = 0;
            break;
        }
        msg_warn("problem talking to server %s: %s", p->endpoint, buf_str(err));
    }
    buf_free(req);
    return ret;
}
