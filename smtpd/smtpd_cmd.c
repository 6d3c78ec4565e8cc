/*
 * smtpd_cmd.c - parsing of SMTP command lines and of the MAIL FROM / RCPT
 * TO arguments for smtpd (see smtpd_cmd.h). Pure functions: no I/O, no
 * globals. Every error comes back as the reply Postfix sends for it.
 */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "buf.h"
#include "record.h"
#include "smtpd_cmd.h"

#define SMTPD_ENVID_MAX 100 /* RFC 3461 */
#define SMTPD_ORCPT_MAX 500

int smtpd_cmd_split(const char *line, size_t len, struct buf *verb,
                    const char **arg, size_t *arg_len, struct buf *reply)
{
    size_t i = 0;
    size_t end = len;

    buf_reset(verb);
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    while (i < len && line[i] != ' ' && line[i] != '\t') {
        unsigned char c = (unsigned char) line[i];

        if (c < 0x20 || c == 0x7f) {
            buf_set(reply, "500 5.5.2 Error: bad syntax");
            return -1;
        }
        buf_putc(verb, toupper(c));
        i++;
    }
    if (buf_len(verb) == 0) {
        buf_set(reply, "500 5.5.2 Error: bad syntax");
        return -1;
    }
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    while (end > i && (line[end - 1] == ' ' || line[end - 1] == '\t'))
        end--;
    *arg = line + i;
    *arg_len = end - i;
    return 0;
}

static int xdigit_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* RFC 3461: upper-case hex only */
}

int smtpd_xtext_decode(struct buf *out, const char *text, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text[i];

        if (c == '+') {
            int hi;
            int lo;

            if (i + 2 >= len)
                return -1;
            hi = xdigit_val((unsigned char) text[i + 1]);
            lo = xdigit_val((unsigned char) text[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            buf_putc(out, hi * 16 + lo);
            i += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return -1;
        } else {
            buf_putc(out, c);
        }
    }
    return 0;
}

void smtpd_mail_init(struct smtpd_mail *m)
{
    m->addr = buf_new(64);
    m->envid = buf_new(16);
    m->auth = buf_new(16);
    m->size = -1;
    m->body = SMTPD_BODY_NONE;
    m->smtputf8 = 0;
    m->ret = 0;
}

void smtpd_mail_free(struct smtpd_mail *m)
{
    buf_free(m->addr);
    buf_free(m->envid);
    buf_free(m->auth);
}

void smtpd_rcpt_init(struct smtpd_rcpt *r)
{
    r->addr = buf_new(64);
    r->orcpt = buf_new(16);
    r->notify = 0;
}

void smtpd_rcpt_free(struct smtpd_rcpt *r)
{
    buf_free(r->addr);
    buf_free(r->orcpt);
}

/*
 * Find the path after "FROM:" / "TO:" (case-insensitive). Postfix accepts
 * white space after the colon unless strict_rfc821_envelopes is set.
 */
static const char *cmd_path(const char *arg, size_t len, const char *key,
                            int strict, size_t *path_len)
{
    size_t klen = strlen(key);
    size_t i;

    if (len < klen || strncasecmp(arg, key, klen) != 0)
        return NULL;
    i = klen;
    if (!strict)
        while (i < len && (arg[i] == ' ' || arg[i] == '\t'))
            i++;
    if (i >= len)
        return NULL;
    *path_len = len - i;
    return arg + i;
}

static int parse_address(struct addr_arg *a, const char *path, size_t len,
                         int flags, const struct smtpd_cmd_opts *opts,
                         const char **why)
{
    if (!opts->strict_rfc821) {
        flags |= ADDR_PARSE_BARE;
    } else {
        /* RFC 821: "FROM:<path>", nothing between the colon and '<'. */
        if (len > 0 && path[0] != '<') {
            *why = "missing '<'";
            return -1;
        }
        flags |= ADDR_PARSE_STRICT;
    }
    if (addr_parse_arg(a, path, len, flags, why) < 0)
        return -1;
    if (memchr(buf_str(a->addr), 0, buf_len(a->addr)) != NULL) {
        *why = "NUL byte in address";
        return -1;
    }
    return 0;
}

static int is_digits(const char *s)
{
    if (s == NULL || *s == 0)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char) *s))
            return 0;
    return 1;
}

/* Postfix names the whole parameter, "NAME=VALUE", in this reply. */
static void unsupported(struct buf *reply, const char *name, const char *value)
{
    if (value)
        buf_setf(reply, "555 5.5.4 Unsupported option: %s=%s", name, value);
    else
        buf_setf(reply, "555 5.5.4 Unsupported option: %s", name);
}

int smtpd_cmd_mail(const char *arg, size_t len,
                   const struct smtpd_cmd_opts *opts, struct smtpd_mail *m,
                   struct buf *reply)
{
    struct addr_arg *a;
    const char *path;
    const char *why = NULL;
    size_t plen = 0;
    size_t i;
    int ret = -1;

    buf_reset(m->addr);
    buf_reset(m->envid);
    buf_reset(m->auth);
    m->size = -1;
    m->body = SMTPD_BODY_NONE;
    m->smtputf8 = 0;
    m->ret = 0;
    if ((path = cmd_path(arg, len, "FROM:", opts->strict_rfc821, &plen))
        == NULL) {
        buf_set(reply, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return -1;
    }
    a = addr_arg_new();
    if (parse_address(a, path, plen, 0, opts, &why) < 0) {
        if (a->param_error)
            buf_set(reply, "501 5.5.4 Bad ESMTP parameter syntax");
        else
            buf_set(reply, "501 5.1.7 Bad sender address syntax");
        goto out;
    }
    buf_set(m->addr, buf_str(a->addr));
    for (i = 0; i < a->nparams; i++) {
        const char *name = a->params[i].name;
        const char *value = a->params[i].value;

        if (strcasecmp(name, "SIZE") == 0) {
            char *end;
            unsigned long long n;

            /* A repeated SIZE replaces the first, as in Postfix. */
            if (!is_digits(value)) {
                buf_set(reply, "501 5.5.4 Bad message size syntax");
                goto out;
            }
            n = strtoull(value, &end, 10);
            if (n > (unsigned long long) LONG_MAX
                || (opts->size_limit > 0
                    && n > (unsigned long long) opts->size_limit)) {
                buf_set(reply, "552 5.3.4 Message size exceeds fixed limit");
                goto out;
            }
            m->size = (long) n;
        } else if (strcasecmp(name, "BODY") == 0) {
            if (value && strcasecmp(value, "8BITMIME") == 0)
                m->body = SMTPD_BODY_8BITMIME;
            else if (value && strcasecmp(value, "7BIT") == 0)
                m->body = SMTPD_BODY_7BIT;
            else {
                unsupported(reply, name, value);
                goto out;
            }
        } else if (strcasecmp(name, "SMTPUTF8") == 0 && opts->smtputf8) {
            if (value != NULL) {
                unsupported(reply, name, value);
                goto out;
            }
            m->smtputf8 = 1;
        } else if (strcasecmp(name, "RET") == 0 && opts->dsn) {
            if (m->ret != 0 || value == NULL) {
                buf_set(reply, "501 5.5.4 Bad RET parameter syntax");
                goto out;
            }
            if (strcasecmp(value, "FULL") == 0)
                m->ret = REC_DSN_RET_FULL;
            else if (strcasecmp(value, "HDRS") == 0)
                m->ret = REC_DSN_RET_HDRS;
            else {
                buf_set(reply, "501 5.5.4 Bad RET parameter syntax");
                goto out;
            }
        } else if (strcasecmp(name, "ENVID") == 0 && opts->dsn) {
            if (buf_len(m->envid) != 0 || value == NULL || *value == 0
                || smtpd_xtext_decode(m->envid, value, strlen(value)) < 0
                || buf_len(m->envid) > SMTPD_ENVID_MAX
                || memchr(buf_str(m->envid), 0, buf_len(m->envid))) {
                buf_set(reply, "501 5.5.4 Bad ENVID parameter syntax");
                goto out;
            }
        } else if (strcasecmp(name, "AUTH") == 0 && opts->auth) {
            if (buf_len(m->auth) != 0 || value == NULL || *value == 0
                || smtpd_xtext_decode(m->auth, value, strlen(value)) < 0
                || memchr(buf_str(m->auth), 0, buf_len(m->auth))) {
                buf_set(reply, "501 5.5.4 Bad AUTH parameter syntax");
                goto out;
            }
        } else {
            unsupported(reply, name, value);
            goto out;
        }
    }
    ret = 0;
out:
    addr_arg_free(a);
    return ret;
}

/* NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY. */
static int parse_notify(const char *value, int *notify)
{
    const char *p = value;
    int bits = 0;

    if (value == NULL || *value == 0)
        return -1;
    while (*p) {
        size_t n = strcspn(p, ",");
        int bit;

        if (n == 5 && strncasecmp(p, "NEVER", 5) == 0)
            bit = REC_NOTIFY_NEVER;
        else if (n == 7 && strncasecmp(p, "SUCCESS", 7) == 0)
            bit = REC_NOTIFY_SUCCESS;
        else if (n == 7 && strncasecmp(p, "FAILURE", 7) == 0)
            bit = REC_NOTIFY_FAILURE;
        else if (n == 5 && strncasecmp(p, "DELAY", 5) == 0)
            bit = REC_NOTIFY_DELAY;
        else
            return -1;
        if (bits & bit)
            return -1;
        bits |= bit;
        p += n;
        if (*p == ',') {
            p++;
            if (*p == 0)
                return -1;
        }
    }
    if ((bits & REC_NOTIFY_NEVER) && bits != REC_NOTIFY_NEVER)
        return -1;
    *notify = bits;
    return 0;
}

/* ORCPT=addr-type;xtext: "rfc822;user@example.com" decoded into OUT. */
static int parse_orcpt(const char *value, struct buf *out)
{
    const char *semi;
    const char *p;

    if (value == NULL || (semi = strchr(value, ';')) == NULL || semi == value
        || semi[1] == 0)
        return -1;
    for (p = value; p < semi; p++)
        if (!isalnum((unsigned char) *p) && *p != '-')
            return -1;
    buf_reset(out);
    buf_append(out, value, (size_t) (semi - value));
    buf_putc(out, ';');
    if (smtpd_xtext_decode(out, semi + 1, strlen(semi + 1)) < 0
        || buf_len(out) > SMTPD_ORCPT_MAX
        || memchr(buf_str(out), 0, buf_len(out)) != NULL)
        return -1;
    return 0;
}

int smtpd_cmd_rcpt(const char *arg, size_t len,
                   const struct smtpd_cmd_opts *opts, struct smtpd_rcpt *r,
                   struct buf *reply)
{
    struct addr_arg *a;
    const char *path;
    const char *why = NULL;
    size_t plen = 0;
    size_t i;
    int have_orcpt = 0;
    int ret = -1;

    buf_reset(r->addr);
    buf_reset(r->orcpt);
    r->notify = 0;
    if ((path = cmd_path(arg, len, "TO:", opts->strict_rfc821, &plen))
        == NULL) {
        buf_set(reply, "501 5.5.4 Syntax: RCPT TO:<address>");
        return -1;
    }
    a = addr_arg_new();
    if (parse_address(a, path, plen, ADDR_PARSE_NO_NULL, opts, &why) < 0
        || buf_len(a->addr) == 0) {
        if (a->param_error)
            buf_set(reply, "501 5.5.4 Bad ESMTP parameter syntax");
        else
            buf_set(reply, "501 5.1.3 Bad recipient address syntax");
        goto out;
    }
    buf_set(r->addr, buf_str(a->addr));
    for (i = 0; i < a->nparams; i++) {
        const char *name = a->params[i].name;
        const char *value = a->params[i].value;

        if (strcasecmp(name, "NOTIFY") == 0 && opts->dsn) {
            if (r->notify != 0 || parse_notify(value, &r->notify) < 0) {
                buf_set(reply, "501 5.5.4 Error: Bad NOTIFY parameter syntax");
                goto out;
            }
        } else if (strcasecmp(name, "ORCPT") == 0 && opts->dsn) {
            if (have_orcpt || parse_orcpt(value, r->orcpt) < 0) {
                buf_set(reply, "501 5.5.4 Error: Bad ORCPT parameter syntax");
                goto out;
            }
            have_orcpt = 1;
        } else {
            unsupported(reply, name, value);
            goto out;
        }
    }
    ret = 0;
out:
    addr_arg_free(a);
    return ret;
}

int smtpd_cmd_bdat(const char *arg, size_t len, long long *size, int *last,
                   struct buf *reply)
{
    size_t i = 0;
    unsigned long long n = 0;
    size_t digits = 0;

    *last = 0;
    while (i < len && isdigit((unsigned char) arg[i])) {
        if (n > (unsigned long long) LLONG_MAX / 10)
            goto bad;
        n = n * 10 + (unsigned) (arg[i] - '0');
        if (n > (unsigned long long) LLONG_MAX)
            goto bad;
        i++;
        digits++;
    }
    if (digits == 0)
        goto bad;
    while (i < len && (arg[i] == ' ' || arg[i] == '\t'))
        i++;
    if (i < len) {
        if (len - i == 4 && strncasecmp(arg + i, "LAST", 4) == 0)
            *last = 1;
        else
            goto bad;
    }
    *size = (long long) n;
    return 0;
bad:
    /* The chunk cannot be skipped: the caller hangs up, as Postfix does. */
    buf_set(reply, "521 5.5.4 Syntax: BDAT count [LAST]");
    return -1;
}

int smtpd_cmd_domain_ok(const char *name, size_t len)
{
    size_t i;

    if (len == 0 || len > 255)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name[i];

        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '('
            || c == ')' || c == ',' || c == ';' || c == '\\' || c == '"')
            return 0;
    }
    return 1;
}
