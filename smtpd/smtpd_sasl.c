/*
 * smtpd_sasl.c - smtpd's side of SMTP AUTH (see smtpd_sasl.h): relays the
 * client's AUTH exchange to the auth service through one lib/auth_client
 * handle kept for the life of the process, and gives Postfix's replies
 * and log lines.
 *
 * Called by smtpd.c. Replies go out through the smtpd_sasl_io callbacks so
 * that smtpd.c's error counting, footers and timeouts apply. Log lines:
 *   warning: host[addr]: SASL PLAIN authentication failed: REASON
 *   warning: host[addr]: SASL LOGIN authentication aborted
 *   warning: host[addr]: SASL PLAIN temporary authentication failure: WHY
 * The first is the shape fail2ban's postfix filter counts; a temporary
 * failure (auth down, map error) has a shape of its own on purpose, so
 * that an outage does not get every client banned.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth_client.h"
#include "buf.h"
#include "dict.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "smtpd_anvil.h"
#include "smtpd_sasl.h"
#include "str.h"

/* Longest mechanism name we look at (RFC 4422 allows 20 characters). */
#define SASL_MECH_MAX 64

static int sasl_on;
static struct auth_client *sasl_ac;
static struct smtpd_sasl_filter *sasl_filter;
static struct smtpd_hostlist *sasl_exceptions;
static struct buf *sasl_opts;     /* smtpd_sasl_security_options */
static struct buf *sasl_tls_opts; /* smtpd_sasl_tls_security_options */

/*
 * After the auth service failed to give the mechanism list, EHLO does not
 * ask again for this long: a stuck service would otherwise make every
 * EHLO wait auth_ipc_timeout.
 */
#define SASL_DOWN_SECONDS 10
static time_t sasl_down_until;
/*
 * The filtered mechanism lists without and with TLS, asked once per
 * process (they depend only on this process's settings; a reload replaces
 * the process). NULL: not known yet.
 */
static struct buf *sasl_mech_cache[2];

/* ---- pure helpers ------------------------------------------------------- */

unsigned smtpd_sasl_fail_delay(unsigned n)
{
    if (n <= 1)
        return 0;
    return n - 1 > 5 ? 5 : n - 1;
}

static int b64_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int smtpd_sasl_b64_syntax_ok(const char *text, size_t len)
{
    size_t i;
    size_t pad = 0;

    if (len == 1 && text[0] == '=')
        return 1; /* RFC 4954: an empty response */
    if (len % 4 != 0)
        return 0;
    for (i = 0; i < len; i++) {
        int c = (unsigned char) text[i];

        if (c == '=') {
            pad++;
            if (i < len - 2)
                return 0;
        } else if (pad > 0 || !b64_char(c)) {
            return 0;
        }
    }
    return pad <= 2;
}

/*
 * The auth service's reason is for the log. The client gets it only when
 * it says nothing about the account: "stored value cannot serve this
 * mechanism" would tell that the user exists.
 */
const char *smtpd_sasl_client_reason(const char *reason)
{
    static const char *const shown[] = {
        "authentication failure",
        "malformed response",
        "invalid base64 data",
        "response too long",
        "authorization identity not allowed",
        "unexpected initial response",
        "channel binding not supported",
    };
    size_t i;

    for (i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
        if (reason && strcmp(reason, shown[i]) == 0)
            return shown[i];
    return "authentication failure";
}

int smtpd_sasl_options_check(const char *title, const char *value,
                             struct buf *out, struct buf *err)
{
    static const char *const known[] = {
        "noanonymous",  "noplaintext", "noactive",
        "nodictionary", "mutual_auth", "forward_secrecy",
    };
    char *copy = mem_strdup(value ? value : "");
    char *cp = copy;
    char *word;
    int ret = 0;

    buf_reset(out);
    while ((word = str_token(&cp, STR_LIST_SEP)) != NULL) {
        size_t i;

        for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strcasecmp(word, known[i]) == 0)
                break;
        if (i == sizeof(known) / sizeof(known[0])) {
            buf_reset(err);
            buf_printf(err, "%s: unknown SASL security option \"", title);
            str_printable(err, word, strlen(word) > 40 ? 40 : strlen(word));
            buf_puts(err, "\" (want noanonymous, noplaintext, noactive, "
                          "nodictionary, mutual_auth or forward_secrecy)");
            ret = -1;
            break;
        }
        if (buf_len(out))
            buf_putc(out, ',');
        buf_puts(out, known[i]);
    }
    mem_free(copy);
    return ret;
}

/* ---- smtpd_sasl_mechanism_filter ----------------------------------------- */

struct filter_entry {
    int negate;
    char *name;         /* a mechanism name, or NULL */
    struct maps *table; /* a type:table, or NULL */
};

struct smtpd_sasl_filter {
    struct filter_entry *e;
    size_t n;
    size_t cap;
    int empty; /* the parameter is empty: every mechanism is kept */
};

static void filter_add(struct smtpd_sasl_filter *f, int negate,
                       const char *name, struct maps *table)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->e = mem_realloc(f->e, f->cap * sizeof(*f->e));
    }
    f->e[f->n].negate = negate;
    f->e[f->n].name = name ? mem_strdup(name) : NULL;
    f->e[f->n].table = table;
    f->n++;
}

static int filter_parse(struct smtpd_sasl_filter *f, const char *text,
                        int negate, int depth, struct buf *err);

/* "/file/name": its words are more patterns (# starts a comment). */
static int filter_parse_file(struct smtpd_sasl_filter *f, const char *path,
                             int negate, int depth, struct buf *err)
{
    FILE *fp;
    struct buf *text;
    char line[1024];
    int ret;

    if (depth > 4) {
        buf_setf(err, "smtpd_sasl_mechanism_filter: %s: files nested too deep",
                 path);
        return -1;
    }
    if ((fp = fopen(path, "r")) == NULL) {
        buf_setf(err, "smtpd_sasl_mechanism_filter: open %s: %m", path);
        return -1;
    }
    text = buf_new(256);
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *hash = strchr(line, '#');

        if (hash)
            *hash = 0;
        buf_printf(text, " %s", line);
    }
    fclose(fp);
    ret = filter_parse(f, buf_str(text), negate, depth + 1, err);
    buf_free(text);
    return ret;
}

/*
 * The next entry of a list at *CP (commas and white space separate; text
 * inside braces stays whole, as in "inline:{a=b, c=d}"), copied to OUT.
 * 0 at the end of the list.
 */
static int filter_next(const char **cp, struct buf *out)
{
    const char *p = *cp;
    const char *start;
    int depth = 0;

    p += strspn(p, STR_LIST_SEP);
    if (*p == 0)
        return 0;
    for (start = p; *p; p++) {
        if (*p == '{')
            depth++;
        else if (*p == '}' && depth > 0)
            depth--;
        else if (depth == 0 && strchr(STR_LIST_SEP, *p) != NULL)
            break;
    }
    buf_reset(out);
    buf_append(out, start, (size_t) (p - start));
    *cp = p;
    return 1;
}

static int filter_parse(struct smtpd_sasl_filter *f, const char *text,
                        int negate, int depth, struct buf *err)
{
    struct buf *entry = buf_new(64);
    const char *cp = text;
    int ret = 0;

    while (filter_next(&cp, entry)) {
        const char *word = buf_str(entry);
        int neg = negate;

        while (*word == '!') {
            neg = !neg;
            word++;
        }
        if (*word == 0) {
            buf_set(err, "smtpd_sasl_mechanism_filter: \"!\" without a "
                         "pattern");
            ret = -1;
            break;
        }
        if (*word == '/') {
            if ((ret = filter_parse_file(f, word, neg, depth, err)) < 0)
                break;
        } else if (strchr(word, ':') != NULL) {
            filter_add(f, neg, NULL,
                       maps_create("smtpd_sasl_mechanism_filter", word,
                                   DICT_FOLD_FIX));
        } else {
            filter_add(f, neg, word, NULL);
        }
    }
    buf_free(entry);
    return ret;
}

struct smtpd_sasl_filter *smtpd_sasl_filter_new(const char *text,
                                                struct buf *err)
{
    struct smtpd_sasl_filter *f = mem_calloc(1, sizeof(*f));
    const char *p = text ? text : "";

    while (*p && strchr(STR_LIST_SEP, *p))
        p++;
    if (*p == 0) {
        f->empty = 1;
        return f;
    }
    if (filter_parse(f, p, 0, 0, err) < 0) {
        smtpd_sasl_filter_free(f);
        return NULL;
    }
    return f;
}

void smtpd_sasl_filter_free(struct smtpd_sasl_filter *f)
{
    size_t i;

    if (f == NULL)
        return;
    for (i = 0; i < f->n; i++) {
        mem_free(f->e[i].name);
        if (f->e[i].table)
            maps_free(f->e[i].table);
    }
    mem_free(f->e);
    mem_free(f);
}

/* Does the filter keep MECH? The first pattern that matches decides. */
static int filter_keep(struct smtpd_sasl_filter *f, const char *mech)
{
    struct buf *key;
    struct buf *value;
    size_t i;
    int keep = 0;

    if (f == NULL || f->empty)
        return 1;
    key = buf_new(32);
    value = buf_new(32);
    maps_fold(key, mech, 0);
    for (i = 0; i < f->n; i++) {
        int match;

        if (f->e[i].name) {
            match = strcasecmp(f->e[i].name, mech) == 0;
        } else {
            enum lookup_status ls =
                maps_find(f->e[i].table, buf_str(key), 0, value);

            if (ls != LOOKUP_FOUND && ls != LOOKUP_NOTFOUND)
                msg_warn("%s: mechanism %s is not offered",
                         maps_error(f->e[i].table), mech);
            match = ls == LOOKUP_FOUND;
        }
        if (match) {
            keep = !f->e[i].negate;
            break;
        }
    }
    buf_free(key);
    buf_free(value);
    return keep;
}

void smtpd_sasl_filter_apply(struct smtpd_sasl_filter *f, const char *mechs,
                             struct buf *out)
{
    char *copy = mem_strdup(mechs ? mechs : "");
    char *cp = copy;
    char *word;

    while ((word = str_token(&cp, STR_LIST_SEP)) != NULL) {
        if (!filter_keep(f, word))
            continue;
        if (buf_len(out))
            buf_putc(out, ' ');
        buf_puts(out, word);
    }
    mem_free(copy);
}

/* ---- start-up ------------------------------------------------------------ */

int smtpd_sasl_init(struct buf *err)
{
    if (!var_smtpd_sasl_auth_enable)
        return 0;
    if (strcasecmp(var_smtpd_sasl_type, "postern") != 0) {
        if (strcasecmp(var_smtpd_sasl_type, "dovecot") == 0)
            buf_set(err, "smtpd_sasl_type = dovecot is not supported yet: "
                         "use smtpd_sasl_type = postern (the built-in auth "
                         "service)");
        else
            buf_setf(err,
                     "unsupported SASL server implementation: "
                     "smtpd_sasl_type = %.60s (want postern)",
                     var_smtpd_sasl_type);
        return -1;
    }
    sasl_opts = buf_new(64);
    sasl_tls_opts = buf_new(64);
    if (smtpd_sasl_options_check("smtpd_sasl_security_options",
                                 var_smtpd_sasl_security_options, sasl_opts,
                                 err)
            < 0
        || smtpd_sasl_options_check("smtpd_sasl_tls_security_options",
                                    var_smtpd_sasl_tls_security_options,
                                    sasl_tls_opts, err)
               < 0)
        return -1;
    if ((sasl_filter =
             smtpd_sasl_filter_new(var_smtpd_sasl_mechanism_filter, err))
        == NULL)
        return -1;
    if (var_smtpd_sasl_exceptions_networks[0]) {
        struct buf *e = buf_new(64);

        sasl_exceptions =
            smtpd_hostlist_new("smtpd_sasl_exceptions_networks",
                               var_smtpd_sasl_exceptions_networks, e);
        if (sasl_exceptions == NULL) {
            buf_set(err, buf_str(e));
            buf_free(e);
            return -1;
        }
        buf_free(e);
    }
    sasl_ac =
        auth_client_create(var_smtpd_sasl_path, (int) var_auth_ipc_timeout);
    /* A master.cf "-o smtpd_sasl_local_domain=..." must reach auth. */
    auth_client_set_realm(sasl_ac, var_smtpd_sasl_local_domain);
    sasl_on = 1;
    return 0;
}

void smtpd_sasl_free(void)
{
    if (sasl_ac)
        auth_client_free(sasl_ac);
    sasl_ac = NULL;
    sasl_down_until = 0;
    for (size_t i = 0; i < 2; i++) {
        buf_free(sasl_mech_cache[i]);
        sasl_mech_cache[i] = NULL;
    }
    smtpd_sasl_filter_free(sasl_filter);
    sasl_filter = NULL;
    if (sasl_exceptions)
        smtpd_hostlist_free(sasl_exceptions);
    sasl_exceptions = NULL;
    buf_free(sasl_opts);
    buf_free(sasl_tls_opts);
    sasl_opts = sasl_tls_opts = NULL;
    sasl_on = 0;
}

int smtpd_sasl_enabled(void)
{
    return sasl_on;
}

/* ---- the session ----------------------------------------------------------
 */

void smtpd_sasl_session_init(struct smtpd_sasl *ss, const char *name,
                             const char *addr)
{
    memset(ss, 0, sizeof(*ss));
    ss->method = buf_new(16);
    ss->username = buf_new(32);
    ss->sender = buf_new(32);
    ss->mechs = buf_new(64);
    if (sasl_on && sasl_exceptions) {
        struct buf *err = buf_new(32);
        int m = smtpd_hostlist_match(sasl_exceptions, name, addr, err);

        if (m < 0)
            msg_warn("%s", buf_str(err));
        ss->exception = m > 0;
        buf_free(err);
    }
}

void smtpd_sasl_session_free(struct smtpd_sasl *ss)
{
    buf_free(ss->method);
    buf_free(ss->username);
    buf_free(ss->sender);
    buf_free(ss->mechs);
    memset(ss, 0, sizeof(*ss));
}

void smtpd_sasl_session_tls(struct smtpd_sasl *ss)
{
    buf_reset(ss->method);
    buf_reset(ss->username);
    smtpd_sasl_mail_reset(ss);
    buf_reset(ss->mechs);
}

int smtpd_sasl_authenticated(const struct smtpd_sasl *ss)
{
    return buf_len(ss->username) > 0;
}

void smtpd_sasl_mail(struct smtpd_sasl *ss, const char *auth_param)
{
    smtpd_sasl_mail_reset(ss);
    if (auth_param == NULL || *auth_param == 0 || strcmp(auth_param, "<>") == 0)
        return;
    str_printable(ss->sender, auth_param, strlen(auth_param));
    ss->have_sender = 1;
}

void smtpd_sasl_mail_reset(struct smtpd_sasl *ss)
{
    buf_reset(ss->sender);
    ss->have_sender = 0;
}

void smtpd_sasl_log_fields(const struct smtpd_sasl *ss, struct buf *out)
{
    if (buf_len(ss->method))
        buf_printf(out, ", sasl_method=%s", buf_str(ss->method));
    if (buf_len(ss->username))
        buf_printf(out, ", sasl_username=%s", buf_str(ss->username));
    if (ss->have_sender)
        buf_printf(out, ", sasl_sender=%s", buf_str(ss->sender));
}

/*
 * The filtered mechanism list for TLS state TLS, in OUT, or NULL when the
 * auth service cannot be asked (logged).
 */
static const char *sasl_mechs(int tls, struct buf *out)
{
    struct auth_reply r;
    const char *result = NULL;

    if (sasl_mech_cache[tls]) {
        buf_set(out, buf_str(sasl_mech_cache[tls]));
        return buf_str(out);
    }
    if (sasl_down_until != 0 && time(NULL) < sasl_down_until)
        return NULL;
    auth_reply_init(&r);
    if (auth_client_mechs(sasl_ac, buf_str(tls ? sasl_tls_opts : sasl_opts),
                          tls, &r)
        != AUTH_OK) {
        msg_warn("SASL: cannot get the mechanism list from the auth "
                 "service: %s",
                 buf_str(r.reason));
        sasl_down_until = time(NULL) + SASL_DOWN_SECONDS;
    } else {
        sasl_down_until = 0;
        buf_reset(out);
        smtpd_sasl_filter_apply(sasl_filter, buf_str(r.data), out);
        if (buf_len(out) == 0 && buf_len(r.data) > 0)
            msg_warn("smtpd_sasl_mechanism_filter discards all mechanisms "
                     "in '%s'",
                     buf_str(r.data));
        sasl_mech_cache[tls] = buf_new(buf_len(out) + 1);
        buf_set(sasl_mech_cache[tls], buf_str(out));
        result = buf_str(out);
    }
    auth_reply_free(&r);
    return result;
}

void smtpd_sasl_ehlo(struct smtpd_sasl *ss, int tls_active, struct buf *reply)
{
    const char *mechs;

    if (!sasl_on || ss->exception || (var_smtpd_tls_auth_only && !tls_active))
        return;
    mechs = sasl_mechs(tls_active != 0, ss->mechs);
    if (mechs == NULL || *mechs == 0)
        return;
    buf_printf(reply, "\n250 AUTH %s", mechs);
    if (var_broken_sasl_auth_clients)
        buf_printf(reply, "\n250 AUTH=%s", mechs);
}

/* The word in LIST (blank separated) equal to MECH ignoring case, or NULL. */
static const char *mech_find(const char *list, const char *mech,
                             struct buf *out)
{
    size_t n = strlen(mech);

    while (list && *list) {
        size_t w;

        list += strspn(list, " ");
        w = strcspn(list, " ");
        if (w == n && w > 0 && strncasecmp(list, mech, n) == 0) {
            buf_reset(out);
            buf_append(out, list, w);
            return buf_str(out);
        }
        list += w;
    }
    return NULL;
}

/* ---- the AUTH command --------------------------------------------------- */

static void sasl_say(const struct smtpd_sasl_io *io, struct buf *b,
                     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void sasl_say(const struct smtpd_sasl_io *io, struct buf *b,
                     const char *fmt, ...)
{
    va_list ap;

    buf_reset(b);
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
    io->reply(io->ctx, buf_str(b));
}

/* A failed exchange: pause, log the fail2ban-shaped line, answer. */
static int sasl_failed(struct smtpd_sasl *ss, const struct smtpd_sasl_io *io,
                       const struct smtpd_sasl_cmd *cmd, const char *mech,
                       const char *reason, const char *code_text, struct buf *b)
{
    struct buf *why = buf_new(64);

    ss->failures++;
    str_printable(why, reason, strlen(reason) > 200 ? 200 : strlen(reason));
    msg_warn("%s: SASL %s authentication failed: %s", cmd->namaddr, mech,
             buf_str(why));
    if (io->pause)
        io->pause(io->ctx, smtpd_sasl_fail_delay(ss->failures));
    sasl_say(io, b, "%s", code_text);
    buf_free(why);
    return SMTPD_SASL_FAIL;
}

static int sasl_temp(const struct smtpd_sasl_io *io,
                     const struct smtpd_sasl_cmd *cmd, const char *mech,
                     const char *reason, struct buf *b)
{
    struct buf *why = buf_new(64);

    str_printable(why, reason, strlen(reason) > 300 ? 300 : strlen(reason));
    msg_warn("%s: SASL %s temporary authentication failure: %s", cmd->namaddr,
             mech, buf_str(why));
    sasl_say(io, b, "454 4.7.0 Temporary authentication failure");
    buf_free(why);
    return SMTPD_SASL_FAIL;
}

static void sasl_cancel(void)
{
    struct auth_reply r;

    auth_reply_init(&r);
    (void) auth_client_cancel(sasl_ac, &r);
    auth_reply_free(&r);
}

static int sasl_exchange(struct smtpd_sasl *ss, const struct smtpd_sasl_io *io,
                         const struct smtpd_sasl_cmd *cmd, const char *mech,
                         const char *initial, struct buf *b)
{
    struct auth_reply r;
    struct buf *line = buf_new(256);
    enum auth_status st;
    int ret;
    int tls = cmd->tls_active != 0;

    auth_reply_init(&r);
    st = auth_client_start(sasl_ac, mech, initial,
                           buf_str(tls ? sasl_tls_opts : sasl_opts), tls,
                           cmd->namaddr, &r);
    while (st == AUTH_CONTINUE) {
        int rc;

        sasl_say(io, b, "334 %s", buf_str(r.data));
        rc = io->read_line(io->ctx, line,
                           (size_t) var_smtpd_sasl_response_limit);
        if (rc == SMTPD_SASL_READ_END) {
            sasl_cancel();
            ret = SMTPD_SASL_END;
            goto out;
        }
        if (rc == SMTPD_SASL_READ_TOOLONG) {
            sasl_cancel();
            msg_warn("%s: SASL %s response longer than "
                     "smtpd_sasl_response_limit (%ld bytes)",
                     cmd->namaddr, mech, var_smtpd_sasl_response_limit);
            sasl_say(io, b, "500 5.5.6 SASL response limit exceeded");
            ret = SMTPD_SASL_FAIL;
            goto out;
        }
        if (buf_len(line) == 1 && buf_str(line)[0] == '*') {
            sasl_cancel();
            msg_warn("%s: SASL %s authentication aborted", cmd->namaddr, mech);
            sasl_say(io, b, "501 5.7.0 Authentication aborted");
            ret = SMTPD_SASL_FAIL;
            goto out;
        }
        if (!smtpd_sasl_b64_syntax_ok(buf_str(line), buf_len(line))) {
            sasl_cancel();
            ret = sasl_failed(ss, io, cmd, mech, "invalid base64 data",
                              "501 5.5.2 Error: invalid base64 data in "
                              "authentication response",
                              b);
            goto out;
        }
        st = auth_client_step(sasl_ac, buf_str(line), &r);
    }
    switch (st) {
    case AUTH_OK:
        buf_reset(ss->method);
        buf_puts(ss->method, mech);
        buf_reset(ss->username);
        str_printable(ss->username, buf_str(r.user),
                      buf_len(r.user) > 300 ? 300 : buf_len(r.user));
        sasl_say(io, b, "235 2.7.0 Authentication successful");
        ret = SMTPD_SASL_OK;
        break;
    case AUTH_FAIL: {
        struct buf *text = buf_new(64);

        buf_printf(text, "535 5.7.8 Error: authentication failed: %s",
                   smtpd_sasl_client_reason(buf_str(r.reason)));
        ret =
            sasl_failed(ss, io, cmd, mech, buf_str(r.reason), buf_str(text), b);
        buf_free(text);
        break;
    }
    default:
        ret = sasl_temp(
            io, cmd, mech,
            buf_len(r.reason) ? buf_str(r.reason) : "no reason given", b);
        break;
    }
out:
    buf_set(line, "");
    buf_free(line);
    auth_reply_free(&r);
    return ret;
}

int smtpd_sasl_auth_cmd(struct smtpd_sasl *ss, const struct smtpd_sasl_io *io,
                        const struct smtpd_sasl_cmd *cmd, const char *arg,
                        size_t len)
{
    struct buf *b = buf_new(128);
    struct buf *mech = buf_new(32);
    struct buf *canon = buf_new(32);
    struct buf *initial = buf_new(64);
    struct buf *list = buf_new(64);
    const char *mechs;
    size_t i = 0;
    int ret = SMTPD_SASL_FAIL;

    if (cmd->need_helo) {
        sasl_say(io, b, "503 5.5.1 Error: send HELO/EHLO first");
        goto out;
    }
    if (!sasl_on || cmd->discarded) {
        sasl_say(io, b, "503 5.5.1 Error: authentication not enabled");
        goto out;
    }
    if (io->rate_check && io->rate_check(io->ctx, b) < 0) {
        io->reply(io->ctx, buf_str(b));
        goto out;
    }
    if (var_smtpd_tls_auth_only && !cmd->tls_active) {
        /* RFC 4954 section 4. */
        sasl_say(io, b,
                 "538 5.7.11 Encryption required for requested "
                 "authentication mechanism");
        goto out;
    }
    if (smtpd_sasl_authenticated(ss)) {
        sasl_say(io, b, "503 5.5.1 Error: already authenticated");
        goto out;
    }
    if (cmd->in_mail) {
        sasl_say(io, b, "503 5.5.1 Error: MAIL transaction in progress");
        goto out;
    }
    /* "MECH [initial-response]" */
    while (i < len && arg[i] != ' ' && arg[i] != '\t')
        i++;
    buf_append(mech, arg, i);
    while (i < len && (arg[i] == ' ' || arg[i] == '\t'))
        i++;
    buf_append(initial, arg + i, len - i);
    if (buf_len(mech) == 0 || memchr(buf_str(initial), ' ', buf_len(initial))
        || memchr(buf_str(initial), '\t', buf_len(initial))) {
        sasl_say(io, b, "501 5.5.4 Syntax: AUTH mechanism");
        goto out;
    }
    if (buf_len(mech) > SASL_MECH_MAX
        || memchr(buf_str(mech), 0, buf_len(mech)))
        buf_truncate(mech, 0);
    mechs = sasl_mechs(cmd->tls_active != 0, ss->mechs);
    if (mechs == NULL) {
        str_printable(canon, buf_str(mech), buf_len(mech));
        ret =
            sasl_temp(io, cmd, buf_len(canon) ? buf_str(canon) : "(invalid)",
                      "cannot get the mechanism list from the auth service", b);
        goto out;
    }
    if (buf_len(mech) == 0 || mech_find(mechs, buf_str(mech), canon) == NULL) {
        const char *tls_mechs;

        /* Offered after STARTTLS (noplaintext and such): say so. */
        if (!cmd->tls_active && cmd->tls_offered && buf_len(mech) > 0
            && (tls_mechs = sasl_mechs(1, list)) != NULL
            && mech_find(tls_mechs, buf_str(mech), canon) != NULL) {
            sasl_say(io, b,
                     "538 5.7.11 Encryption required for requested "
                     "authentication mechanism");
            goto out;
        }
        buf_reset(canon);
        str_printable(canon, buf_str(mech), buf_len(mech));
        if (buf_len(canon) == 0)
            buf_set(canon, "(invalid)");
        /* Not a password guess: the shape fail2ban's filter leaves alone. */
        msg_warn("%s: SASL %s authentication failed: Invalid authentication "
                 "mechanism",
                 cmd->namaddr, buf_str(canon));
        sasl_say(io, b,
                 "535 5.7.8 Error: authentication failed: Invalid "
                 "authentication mechanism");
        goto out;
    }
    if (buf_len(initial) > 0
        && !smtpd_sasl_b64_syntax_ok(buf_str(initial), buf_len(initial))) {
        ret = sasl_failed(ss, io, cmd, buf_str(canon), "invalid base64 data",
                          "501 5.5.2 Error: invalid base64 data in "
                          "authentication response",
                          b);
        goto out;
    }
    ret = sasl_exchange(ss, io, cmd, buf_str(canon), buf_str(initial), b);
out:
    buf_set(initial, "");
    buf_free(b);
    buf_free(mech);
    buf_free(canon);
    buf_free(initial);
    buf_free(list);
    return ret;
}
