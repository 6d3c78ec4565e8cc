/*
 * sendmail_smtp.c - sendmail -bs: an SMTP dialogue on standard input and
 * output, each accepted message handed to a sink (postdrop).
 *
 * Commands: EHLO, HELO, MAIL FROM (SIZE, BODY, RET, ENVID, SMTPUTF8),
 * RCPT TO (NOTIFY, ORCPT), DATA (dot-stuffing), RSET, NOOP, QUIT; VRFY,
 * ETRN, AUTH, STARTTLS are refused. Reply texts are Postfix smtpd's.
 * "250 2.0.0 Ok: queued as ID" is sent only after postdrop said the
 * message is safe in maildrop/.
 *
 * The input is untrusted (whatever the user pipes in): every line has a
 * length limit and the read timeout smtpd_timeout. Callers: sendmail.c;
 * tests/unit/test_sendmail_smtp.c and tests/fuzz/fuzz_sendmail_smtp.c
 * include this file and drive it over memory streams with a fake sink.
 * Errors: protocol errors are replies; sm_smtp_run returns an exit code.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "addr.h"
#include "argv.h"
#include "buf.h"
#include "mem.h"
#include "record.h"
#include "sendmail.h"
#include "stream.h"

/* Commands. */
enum sm_verb {
    SM_CMD_BAD = 0,
    SM_CMD_EHLO,
    SM_CMD_HELO,
    SM_CMD_MAIL,
    SM_CMD_RCPT,
    SM_CMD_DATA,
    SM_CMD_RSET,
    SM_CMD_NOOP,
    SM_CMD_QUIT,
    SM_CMD_VRFY,
    SM_CMD_ETRN,
    SM_CMD_AUTH,
    SM_CMD_STARTTLS,
    SM_CMD_UNKNOWN,
};

static const struct {
    const char *name;
    enum sm_verb verb;
} sm_verbs[] = {
    {"EHLO", SM_CMD_EHLO}, {"HELO", SM_CMD_HELO}, {"MAIL", SM_CMD_MAIL},
    {"RCPT", SM_CMD_RCPT}, {"DATA", SM_CMD_DATA}, {"RSET", SM_CMD_RSET},
    {"NOOP", SM_CMD_NOOP}, {"QUIT", SM_CMD_QUIT}, {"VRFY", SM_CMD_VRFY},
    {"ETRN", SM_CMD_ETRN}, {"AUTH", SM_CMD_AUTH}, {"STARTTLS", SM_CMD_STARTTLS},
};

/*
 * The verb of command LINE/LEN; *ARGS gets the offset of its argument
 * (after the white space that follows the verb; LEN when none).
 * SM_CMD_BAD for an empty line or one with NUL or control bytes.
 */
static enum sm_verb sm_smtp_verb(const char *line, size_t len, size_t *args)
{
    size_t vlen;
    size_t i;

    *args = len;
    for (i = 0; i < len; i++)
        if (line[i] == 0
            || (iscntrl((unsigned char) line[i]) && line[i] != '\t'))
            return SM_CMD_BAD;
    vlen = 0;
    while (vlen < len && line[vlen] != ' ' && line[vlen] != '\t')
        vlen++;
    if (vlen == 0)
        return SM_CMD_BAD;
    i = vlen;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    *args = i;
    for (i = 0; i < sizeof(sm_verbs) / sizeof(sm_verbs[0]); i++)
        if (strlen(sm_verbs[i].name) == vlen
            && strncasecmp(line, sm_verbs[i].name, vlen) == 0)
            return sm_verbs[i].verb;
    return SM_CMD_UNKNOWN;
}

/* RFC 3461 xtext: append the decoded TEXT to OUT. 0, or -1 if malformed. */
static int sm_xtext_decode(struct buf *out, const char *text)
{
    const char *cp;

    for (cp = text; *cp; cp++) {
        unsigned char c = (unsigned char) *cp;

        if (c == '+') {
            int v = 0;
            int k;

            for (k = 1; k <= 2; k++) {
                char h = cp[k];

                if (h >= '0' && h <= '9')
                    v = v * 16 + (h - '0');
                else if (h >= 'A' && h <= 'F')
                    v = v * 16 + (h - 'A' + 10);
                else
                    return -1;
            }
            if (v == 0)
                return -1;
            buf_putc(out, v);
            cp += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return -1;
        } else {
            buf_putc(out, c);
        }
    }
    return 0;
}

/* One transaction of the dialogue. */
struct sm_smtp {
    struct stream *in;
    struct stream *out;
    const struct sm_smtp_conf *conf;
    const struct sm_sink *sink;
    int helo;
    int have_mail;
    struct buf *sender;
    int flags;
    int dsn_ret;
    struct buf *envid; /* empty = none */
    int have_envid;
    struct argv *addr;
    struct argv *orig;
    struct argv *orcpt;
    int *notify;
    size_t notify_size;
};

static void sm_reply(struct sm_smtp *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sm_reply(struct sm_smtp *st, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    stream_vprintf(st->out, fmt, ap);
    va_end(ap);
    stream_puts(st->out, "\r\n");
    /* Replies to pipelined commands go out together. */
    if (stream_pending(st->in) == 0)
        stream_flush(st->out);
}

static void sm_reset(struct sm_smtp *st)
{
    st->have_mail = 0;
    buf_reset(st->sender);
    st->flags = 0;
    st->dsn_ret = 0;
    buf_reset(st->envid);
    st->have_envid = 0;
    argv_truncate(st->addr, 0);
    argv_truncate(st->orig, 0);
    argv_truncate(st->orcpt, 0);
}

static void sm_ehlo(struct sm_smtp *st, const char *arg, int ehlo)
{
    if (*arg == 0) {
        sm_reply(st, "501 Syntax: %s hostname", ehlo ? "EHLO" : "HELO");
        return;
    }
    sm_reset(st);
    st->helo = 1;
    if (!ehlo) {
        sm_reply(st, "250 %s", st->conf->hostname);
        return;
    }
    stream_printf(st->out, "250-%s\r\n", st->conf->hostname);
    stream_puts(st->out, "250-PIPELINING\r\n");
    if (st->conf->size_limit > 0)
        stream_printf(st->out, "250-SIZE %ld\r\n", st->conf->size_limit);
    else
        stream_puts(st->out, "250-SIZE\r\n");
    stream_puts(st->out, "250-ENHANCEDSTATUSCODES\r\n");
    stream_puts(st->out, "250-8BITMIME\r\n");
    stream_puts(st->out, "250-DSN\r\n");
    sm_reply(st, "250 SMTPUTF8");
}

/* MAIL FROM parameters: 0, or -1 after a reply. */
static int sm_mail_params(struct sm_smtp *st, const struct addr_arg *a)
{
    size_t i;

    for (i = 0; i < a->nparams; i++) {
        const char *name = a->params[i].name;
        const char *value = a->params[i].value;

        if (strcasecmp(name, "SIZE") == 0) {
            char *end;
            unsigned long long n;

            if (value == NULL || !isdigit((unsigned char) *value)) {
                sm_reply(st, "501 5.5.4 Bad message size syntax");
                return -1;
            }
            n = strtoull(value, &end, 10);
            if (*end != 0) {
                sm_reply(st, "501 5.5.4 Bad message size syntax");
                return -1;
            }
            if (st->conf->size_limit > 0
                && n > (unsigned long long) st->conf->size_limit) {
                sm_reply(st, "552 5.3.4 Message size exceeds fixed limit");
                return -1;
            }
        } else if (strcasecmp(name, "BODY") == 0) {
            if (value && strcasecmp(value, "8BITMIME") == 0) {
                st->flags |= REC_FLAG_8BITMIME;
            } else if (value == NULL || strcasecmp(value, "7BIT") != 0) {
                sm_reply(st, "501 5.5.4 Unsupported BODY parameter value");
                return -1;
            }
        } else if (strcasecmp(name, "RET") == 0) {
            if (st->dsn_ret || value == NULL
                || sm_parse_ret(value, &st->dsn_ret) < 0) {
                sm_reply(st, "501 5.5.4 Bad RET parameter syntax");
                return -1;
            }
        } else if (strcasecmp(name, "ENVID") == 0) {
            if (st->have_envid || value == NULL || *value == 0
                || sm_xtext_decode(st->envid, value) < 0
                || buf_len(st->envid) > 100) {
                sm_reply(st, "501 5.5.4 Bad ENVID parameter syntax");
                return -1;
            }
            st->have_envid = 1;
        } else if (strcasecmp(name, "SMTPUTF8") == 0 && value == NULL) {
            st->flags |= REC_FLAG_SMTPUTF8;
        } else if (strcasecmp(name, "AUTH") == 0) {
            /* AUTH=<> and the like: accepted and ignored. */
        } else {
            sm_reply(st, "555 5.5.4 Unsupported option: %s", name);
            return -1;
        }
    }
    return 0;
}

/* The text after "FROM:" or "TO:" in ARG, or NULL. */
static const char *sm_path_arg(const char *arg, const char *keyword)
{
    size_t n = strlen(keyword);

    if (strncasecmp(arg, keyword, n) != 0)
        return NULL;
    return arg + n;
}

static void sm_mail(struct sm_smtp *st, const char *arg)
{
    struct addr_arg *a;
    const char *path;
    const char *why;

    if (st->conf->helo_required && !st->helo) {
        sm_reply(st, "503 5.5.1 Error: send HELO/EHLO first");
        return;
    }
    if (st->have_mail) {
        sm_reply(st, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    if ((path = sm_path_arg(arg, "FROM:")) == NULL
        || path[strspn(path, " \t")] == 0) {
        sm_reply(st, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return;
    }
    a = addr_arg_new();
    if (addr_parse_arg(a, path, strlen(path), ADDR_PARSE_BARE, &why) < 0) {
        if (a->param_error)
            sm_reply(st, "555 5.5.4 Unsupported option: %s", why);
        else
            sm_reply(st, "501 5.1.7 Bad sender address syntax");
        addr_arg_free(a);
        return;
    }
    sm_reset(st);
    if (sm_mail_params(st, a) < 0) {
        sm_reset(st);
        addr_arg_free(a);
        return;
    }
    buf_set(st->sender, buf_str(a->addr));
    if (memchr(buf_str(a->addr), 0, buf_len(a->addr)) != NULL) {
        sm_reset(st);
        sm_reply(st, "501 5.1.7 Bad sender address syntax");
        addr_arg_free(a);
        return;
    }
    st->have_mail = 1;
    addr_arg_free(a);
    sm_reply(st, "250 2.1.0 Ok");
}

static void sm_rcpt(struct sm_smtp *st, const char *arg)
{
    struct buf *orcpt = buf_new(64);
    struct addr_arg *a;
    const char *path;
    const char *why;
    int notify = 0;
    int have_orcpt = 0;
    size_t i;

    if (!st->have_mail) {
        sm_reply(st, "503 5.5.1 Error: need MAIL command");
        goto done;
    }
    if ((path = sm_path_arg(arg, "TO:")) == NULL
        || path[strspn(path, " \t")] == 0) {
        sm_reply(st, "501 5.5.4 Syntax: RCPT TO:<address>");
        goto done;
    }
    if (st->addr->argc >= (size_t) st->conf->rcpt_limit) {
        sm_reply(st, "452 4.5.3 Error: too many recipients");
        goto done;
    }
    a = addr_arg_new();
    if (addr_parse_arg(a, path, strlen(path),
                       ADDR_PARSE_BARE | ADDR_PARSE_NO_NULL, &why)
            < 0
        || buf_len(a->addr) == 0
        || memchr(buf_str(a->addr), 0, buf_len(a->addr)) != NULL) {
        if (a->param_error)
            sm_reply(st, "555 5.5.4 Unsupported option: %s", why);
        else
            sm_reply(st, "501 5.1.3 Bad recipient address syntax");
        addr_arg_free(a);
        goto done;
    }
    for (i = 0; i < a->nparams; i++) {
        const char *name = a->params[i].name;
        const char *value = a->params[i].value;

        if (strcasecmp(name, "NOTIFY") == 0) {
            if (notify || value == NULL || sm_parse_notify(value, &notify) < 0
                || strchr(value, ' ') != NULL) {
                sm_reply(st, "501 5.5.4 Error: Bad NOTIFY parameter syntax");
                addr_arg_free(a);
                goto done;
            }
        } else if (strcasecmp(name, "ORCPT") == 0) {
            const char *semi = value ? strchr(value, ';') : NULL;

            if (have_orcpt || semi == NULL || semi == value) {
                sm_reply(st, "501 5.5.4 Error: Bad ORCPT parameter syntax");
                addr_arg_free(a);
                goto done;
            }
            buf_append(orcpt, value, (size_t) (semi - value));
            buf_putc(orcpt, ';');
            if (sm_xtext_decode(orcpt, semi + 1) < 0 || semi[1] == 0
                || buf_len(orcpt) > 500) {
                sm_reply(st, "501 5.5.4 Error: Bad ORCPT parameter syntax");
                addr_arg_free(a);
                goto done;
            }
            have_orcpt = 1;
        } else {
            sm_reply(st, "555 5.5.4 Unsupported option: %s", name);
            addr_arg_free(a);
            goto done;
        }
    }
    if (st->addr->argc >= st->notify_size) {
        st->notify_size = st->notify_size ? st->notify_size * 2 : 8;
        st->notify =
            mem_realloc(st->notify, st->notify_size * sizeof(*st->notify));
    }
    st->notify[st->addr->argc] = notify;
    argv_add(st->addr, buf_str(a->addr));
    argv_add(st->orig, buf_str(a->addr));
    argv_add(st->orcpt, buf_str(orcpt));
    addr_arg_free(a);
    sm_reply(st, "250 2.1.5 Ok");
done:
    buf_free(orcpt);
}

/* The reply for a postdrop exit status other than 0. */
static void sm_drop_reply(struct sm_smtp *st, int status, const char *why)
{
    switch (status) {
    case EX_NOPERM:
        sm_reply(st, "550 5.7.1 Error: not allowed to submit mail");
        break;
    case EX_DATAERR:
        sm_reply(st, "554 5.6.0 Error: message not accepted (%s)", why);
        break;
    default:
        sm_reply(st, "451 4.3.0 Error: queue file write error");
        break;
    }
}

/* DATA: returns -1 when the dialogue must end (input gone or timed out). */
static int sm_data(struct sm_smtp *st, const char *arg)
{
    struct buf *err = buf_new(64);
    struct buf *id = buf_new(32);
    struct sm_env env;
    const char **orcpts;
    void *h;
    int status = 0;
    int ret = 0;
    int copy;
    size_t i;

    if (*arg) {
        sm_reply(st, "501 5.5.4 Syntax: DATA");
        goto done;
    }
    if (!st->have_mail) {
        sm_reply(st, "503 5.5.1 Error: need RCPT command");
        goto done;
    }
    if (st->addr->argc == 0) {
        sm_reply(st, "554 5.5.1 Error: no valid recipients");
        goto done;
    }
    memset(&env, 0, sizeof(env));
    env.sender = buf_str(st->sender);
    env.flags = st->flags;
    env.dsn_ret = st->dsn_ret;
    env.envid = st->have_envid ? buf_str(st->envid) : NULL;
    env.nrcpt = st->addr->argc;
    env.rcpt_addr = (const char **) st->addr->argv;
    env.rcpt_orig = (const char **) st->orig->argv;
    orcpts = mem_calloc(env.nrcpt, sizeof(*orcpts));
    for (i = 0; i < env.nrcpt; i++)
        orcpts[i] = *st->orcpt->argv[i] ? st->orcpt->argv[i] : NULL;
    env.rcpt_orcpt = orcpts;
    env.rcpt_notify = st->notify;
    h = st->sink->open(st->sink->ctx, &env, err, &status);
    mem_free(orcpts);
    if (h == NULL) {
        sm_drop_reply(st, status ? status : EX_TEMPFAIL, buf_str(err));
        sm_reset(st);
        goto done;
    }
    sm_reply(st, "354 End data with <CR><LF>.<CR><LF>");
    stream_flush(st->out);
    copy = sm_copy_message(st->in, st->sink, h, 2, st->conf->size_limit,
                           st->conf->line_limit);
    switch (copy) {
    case SM_COPY_OK:
    case SM_COPY_SINK:
        status = st->sink->finish(h, id, err);
        if (status == 0)
            sm_reply(st, "250 2.0.0 Ok: queued as %s", buf_str(id));
        else
            sm_drop_reply(st, status, buf_str(err));
        break;
    case SM_COPY_TOOBIG:
        st->sink->abort(h);
        sm_reply(st, "552 5.3.4 Message size exceeds fixed limit");
        break;
    case SM_COPY_EOF:
        st->sink->abort(h);
        ret = -1;
        break;
    default:
        st->sink->abort(h);
        if (stream_reason(st->in) == STREAM_TIMEOUT)
            sm_reply(st, "421 4.4.2 %s Error: timeout exceeded",
                     st->conf->hostname);
        ret = -1;
        break;
    }
    sm_reset(st);
done:
    buf_free(err);
    buf_free(id);
    return ret;
}

int sm_smtp_run(struct stream *in, struct stream *out,
                const struct sm_smtp_conf *conf, const struct sm_sink *sink)
{
    struct buf *line = buf_new(256);
    struct sm_smtp st;
    int status = 0;

    memset(&st, 0, sizeof(st));
    st.in = in;
    st.out = out;
    st.conf = conf;
    st.sink = sink;
    st.sender = buf_new(64);
    st.envid = buf_new(16);
    st.addr = argv_new(4);
    st.orig = argv_new(4);
    st.orcpt = argv_new(4);

    sm_reply(&st, "220 %s", conf->banner);
    stream_flush(out);
    for (;;) {
        enum sm_verb verb;
        const char *arg;
        size_t off;

        if (stream_read_line(in, line, conf->line_limit) < 0) {
            if (stream_reason(in) == STREAM_TOOLONG) {
                sm_reply(&st, "500 5.5.0 Error: line too long");
                continue;
            }
            if (stream_reason(in) == STREAM_TIMEOUT) {
                sm_reply(&st, "421 4.4.2 %s Error: timeout exceeded",
                         conf->hostname);
                status = EX_TEMPFAIL;
            } else if (stream_reason(in) != STREAM_EOF) {
                status = EX_IOERR;
            }
            break;
        }
        verb = sm_smtp_verb(buf_str(line), buf_len(line), &off);
        arg = buf_str(line) + off;
        switch (verb) {
        case SM_CMD_BAD:
            sm_reply(&st, "500 5.5.2 Error: bad syntax");
            continue;
        case SM_CMD_EHLO:
        case SM_CMD_HELO:
            sm_ehlo(&st, arg, verb == SM_CMD_EHLO);
            continue;
        case SM_CMD_MAIL:
            sm_mail(&st, arg);
            continue;
        case SM_CMD_RCPT:
            sm_rcpt(&st, arg);
            continue;
        case SM_CMD_DATA:
            if (sm_data(&st, arg) < 0) {
                status = EX_TEMPFAIL;
                break;
            }
            continue;
        case SM_CMD_RSET:
            if (*arg) {
                sm_reply(&st, "501 5.5.4 Syntax: RSET");
                continue;
            }
            sm_reset(&st);
            sm_reply(&st, "250 2.0.0 Ok");
            continue;
        case SM_CMD_NOOP:
            sm_reply(&st, "250 2.0.0 Ok");
            continue;
        case SM_CMD_QUIT:
            sm_reply(&st, "221 2.0.0 Bye");
            break;
        case SM_CMD_VRFY:
            sm_reply(&st, "502 5.5.1 VRFY command is disabled");
            continue;
        case SM_CMD_AUTH:
            sm_reply(&st, "503 5.5.1 Error: authentication not enabled");
            continue;
        case SM_CMD_ETRN:
        case SM_CMD_STARTTLS:
            sm_reply(&st, "502 5.5.1 Error: command not implemented");
            continue;
        default:
            sm_reply(&st, "502 5.5.2 Error: command not recognized");
            continue;
        }
        break;
    }
    stream_flush(out);
    buf_free(line);
    buf_free(st.sender);
    buf_free(st.envid);
    argv_free(st.addr);
    argv_free(st.orig);
    argv_free(st.orcpt);
    mem_free(st.notify);
    return status;
}
