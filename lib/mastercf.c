/*
 * mastercf.c - master.cf parser, renderer and editor (see mastercf.h).
 *
 * Callers: master (service table), postconf -M/-F/-P (postconf_master.c),
 * postconf's "unused parameter" check, postern check. Errors come back in
 * a struct buf, warnings in an argv or through msg_warn(); nothing here
 * exits except on out-of-memory.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "afile.h"
#include "argv.h"
#include "buf.h"
#include "cfgfile.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"
#include "str.h"

const char *const mastercf_field_names[MASTERCF_NFIELDS] = {
    "service", "type",   "private",       "unprivileged",
    "chroot",  "wakeup", "process_limit", "command",
};

/* Entry states, for mastercf_write(). */
enum {
    MCF_ORIG,      /* as read */
    MCF_MODIFIED,  /* read, then edited: re-rendered at its first line */
    MCF_NEW,       /* added by an edit: appended */
    MCF_DELETED,   /* read, then removed: its lines are dropped */
    MCF_COMMENTED, /* read, then commented out with '#' */
};

/* Postfix's column starts for postconf -M output. */
static const size_t mcf_columns[MASTERCF_NFIELDS] = {
    0, 11, 17, 25, 33, 41, 49, 57,
};

/* Folded output: lines stay below this width where words allow. */
#define MCF_LINE_LIMIT 80
#define MCF_INDENT     "    "

static const char *const mcf_type_names[] = {
    "inet", "unix", "unix-dgram", "fifo", "pass",
};

/* ---- diagnostics ---------------------------------------------------- */

/*
 * How bad a finding is: MCF_E is always an error; MCF_W is an error when
 * strict and a warning otherwise (Postfix's postconf warns); MCF_S is an
 * error when strict and silent otherwise (Postfix's postconf accepts it).
 */
enum { MCF_E, MCF_W, MCF_S };

struct mcf_ctx {
    const char *path; /* NULL: no location in messages */
    int line;
    int flags;
    struct argv *warnings; /* NULL: msg_warn */
    struct buf *err;
    int failed;
};

static void mcf_report(struct mcf_ctx *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void mcf_report(struct mcf_ctx *ctx, int level, const char *fmt, ...)
{
    struct buf *text;
    va_list ap;
    int error = level == MCF_E || (ctx->flags & MASTERCF_STRICT);

    if (ctx->failed || (!error && level == MCF_S))
        return;
    text = buf_new(128);
    if (ctx->path)
        buf_printf(text, "file %s: line %d: ", ctx->path, ctx->line);
    va_start(ap, fmt);
    buf_vprintf(text, fmt, ap);
    va_end(ap);
    if (error) {
        ctx->failed = 1;
        buf_set(ctx->err, buf_str(text));
    } else if (ctx->warnings) {
        argv_add(ctx->warnings, buf_str(text));
    } else {
        msg_warn("%s", buf_str(text));
    }
    buf_free(text);
}

/* TEXT made safe for a message, as Postfix shows it (controls as '?'). */
static char *mcf_quote(const char *text)
{
    struct buf *b = buf_new(strlen(text) + 1);

    str_printable(b, text, strlen(text));
    return buf_steal(b);
}

/* ---- small helpers -------------------------------------------------- */

static int mcf_is_space(int ch)
{
    return isspace((unsigned char) ch);
}

static int mcf_has_space(const char *text)
{
    for (; *text; text++)
        if (mcf_is_space(*text))
            return 1;
    return 0;
}

static char *mcf_trim_dup(const char *start, size_t len)
{
    while (len > 0 && mcf_is_space(*start)) {
        start++;
        len--;
    }
    while (len > 0 && mcf_is_space(start[len - 1]))
        len--;
    return mem_strndup(start, len);
}

/* A decimal number without sign; -1 when not digits, -2 on overflow. */
static long mcf_number(const char *text, size_t len)
{
    long val = 0;
    size_t i;

    if (len == 0)
        return -1;
    for (i = 0; i < len; i++) {
        if (!isdigit((unsigned char) text[i]))
            return -1;
        if (val > (INT_MAX - (text[i] - '0')) / 10)
            return -2;
        val = val * 10 + (text[i] - '0');
    }
    return val;
}

/* ---- tokens ----------------------------------------------------------- */

/*
 * Split TEXT at white space, except inside {braces}; a '{' without its
 * '}' runs to the end of the text (*UNCLOSED is then set, when not NULL).
 * Tokens keep their braces.
 */
static struct argv *mcf_tokenize(const char *text, int *unclosed)
{
    struct argv *tokens = argv_new(16);
    const char *cp = text;

    if (unclosed)
        *unclosed = 0;
    for (;;) {
        const char *start;
        int depth = 0;

        while (*cp && mcf_is_space(*cp))
            cp++;
        if (*cp == 0)
            break;
        start = cp;
        for (; *cp; cp++) {
            if (*cp == '{')
                depth++;
            else if (*cp == '}' && depth > 0)
                depth--;
            else if (depth == 0 && mcf_is_space(*cp))
                break;
        }
        if (depth > 0) {
            /*
             * An unclosed '{' ran to the end of the text: drop the white
             * space it swallowed there (a CR before the line end, say), as
             * a reader of the rewritten line would.
             */
            const char *end = cp;

            while (end > start && mcf_is_space(end[-1]))
                end--;
            argv_addn(tokens, start, (size_t) (end - start));
            if (unclosed)
                *unclosed = 1;
        } else {
            argv_addn(tokens, start, (size_t) (cp - start));
        }
    }
    return tokens;
}

/*
 * TOKEN starts with '{': return the text inside the outer braces, trimmed.
 * A missing '}' or text after it is reported (MCF_W) as Postfix does.
 */
static char *mcf_unbrace(struct mcf_ctx *ctx, const char *token)
{
    const char *cp;
    int depth = 0;
    char *quoted;

    for (cp = token; *cp; cp++) {
        if (*cp == '{')
            depth++;
        else if (*cp == '}' && --depth == 0)
            break;
    }
    if (*cp == 0) {
        quoted = mcf_quote(token);
        mcf_report(ctx, MCF_W, "missing '}' in \"%s\"", quoted);
        mem_free(quoted);
        return mcf_trim_dup(token + 1, strlen(token + 1));
    }
    if (cp[1] != 0) {
        quoted = mcf_quote(token);
        mcf_report(ctx, MCF_W, "syntax error after '}' in \"%s\"", quoted);
        mem_free(quoted);
    }
    return mcf_trim_dup(token + 1, (size_t) (cp - token - 1));
}

/* ---- arguments -------------------------------------------------------- */

static void mcf_arg_add(struct mastercf_entry *e, enum mastercf_arg_kind kind,
                        char *text, char *value, int braced)
{
    struct mastercf_arg *a;

    e->args = mem_realloc(e->args, (e->argc + 1) * sizeof(*e->args));
    a = &e->args[e->argc++];
    a->kind = kind;
    a->text = text;
    a->value = value;
    a->braced = braced;
}

/*
 * The value of one -o option: "name=value", or "{ name = value }" where
 * the value may hold white space. Anything else is kept as OPTARG.
 */
static void mcf_add_override(struct mcf_ctx *ctx, struct mastercf_entry *e,
                             const char *value)
{
    if (*value == '{') {
        char *content = mcf_unbrace(ctx, value);
        char *name;
        char *val;
        const char *why;
        char *copy = mem_strdup(content);

        if (cfg_split_entry(copy, &name, &val, &why) == 0) {
            mcf_arg_add(e, MASTERCF_ARG_PARAM, mem_strdup(name),
                        mem_strdup(val), 0);
        } else {
            char *quoted = mcf_quote(content);

            mcf_report(ctx, MCF_W, "%s: \"%s\"", why, quoted);
            mem_free(quoted);
            mcf_arg_add(e, MASTERCF_ARG_OPTARG, mem_strdup(content), NULL, 1);
        }
        mem_free(copy);
        mem_free(content);
        return;
    }
    {
        const char *eq = strchr(value, '=');
        int name_ok = eq != NULL && eq > value;
        const char *cp;

        /* White space can get in only through braces inside the token. */
        for (cp = value; name_ok && cp < eq; cp++)
            if (mcf_is_space(*cp))
                name_ok = 0;
        if (name_ok) {
            mcf_arg_add(e, MASTERCF_ARG_PARAM,
                        mem_strndup(value, (size_t) (eq - value)),
                        mem_strdup(eq + 1), 0);
        } else {
            char *quoted = mcf_quote(value);

            mcf_report(ctx, MCF_S, "%s: \"%s\"",
                       eq == value ? "missing attribute name"
                                   : "missing '=' after attribute name",
                       quoted);
            mem_free(quoted);
            mcf_arg_add(e, MASTERCF_ARG_OPTARG, mem_strdup(value), NULL, 0);
        }
    }
}

static void mcf_add_word(struct mcf_ctx *ctx, struct mastercf_entry *e,
                         const char *token)
{
    if (*token == '{')
        mcf_arg_add(e, MASTERCF_ARG_WORD, mcf_unbrace(ctx, token), NULL, 1);
    else
        mcf_arg_add(e, MASTERCF_ARG_WORD, mem_strdup(token), NULL, 0);
}

/*
 * The arguments after the command name. Options are scanned as getopt
 * would: up to the first argument that is not an option or "--"; in a
 * cluster like "-vo name=value" the 'o' takes the rest of the cluster or
 * the next argument.
 */
static void mcf_parse_args(struct mcf_ctx *ctx, struct mastercf_entry *e,
                           char **tokens, size_t count)
{
    size_t i;
    int options = 1;

    for (i = 0; i < count; i++) {
        const char *tok = tokens[i];
        const char *opt;

        if (!options || tok[0] != '-' || tok[1] == 0
            || strcmp(tok, "--") == 0) {
            options = 0;
            mcf_add_word(ctx, e, tok);
            continue;
        }
        opt = strchr(tok + 1, 'o');
        /* Not an option letter: an 'o' inside braces or a long option. */
        if (opt != NULL
            && (memchr(tok, '{', (size_t) (opt - tok)) != NULL
                || tok[1] == '-'))
            opt = NULL;
        if (opt == NULL) {
            mcf_arg_add(e, MASTERCF_ARG_OPTION, mem_strdup(tok), NULL, 0);
            continue;
        }
        if (opt > tok + 1)
            mcf_arg_add(e, MASTERCF_ARG_OPTION,
                        mem_strndup(tok, (size_t) (opt - tok)), NULL, 0);
        if (opt[1] != 0) {
            mcf_add_override(ctx, e, opt + 1);
        } else if (i + 1 < count) {
            mcf_add_override(ctx, e, tokens[++i]);
        } else {
            mcf_report(ctx, MCF_S, "option requires an argument -- 'o'");
            mcf_arg_add(e, MASTERCF_ARG_WORD, mem_strdup("-o"), NULL, 0);
            options = 0;
        }
    }
}

static void mcf_free_args(struct mastercf_entry *e)
{
    size_t i;

    for (i = 0; i < e->argc; i++) {
        mem_free(e->args[i].text);
        mem_free(e->args[i].value);
    }
    mem_free(e->args);
    e->args = NULL;
    e->argc = 0;
}

/* ---- columns ---------------------------------------------------------- */

/*
 * Check column FIELD of E holding VALUE and set the values derived from
 * it. WHOLE is the text to quote in the message. Returns 0 or -1.
 */
static int mcf_check_field(struct mcf_ctx *ctx, struct mastercf_entry *e,
                           int field, const char *value, const char *whole)
{
    size_t len = strlen(value);
    long num;
    size_t i;
    int bad = 0;
    int level = MCF_E;

    switch (field) {
    case MASTERCF_TYPE:
        for (i = 0; i < sizeof(mcf_type_names) / sizeof(mcf_type_names[0]); i++)
            if (strcmp(value, mcf_type_names[i]) == 0)
                break;
        if (i == sizeof(mcf_type_names) / sizeof(mcf_type_names[0]))
            bad = 1;
        else
            e->type = (enum mastercf_type) i;
        break;
    case MASTERCF_PRIVATE:
    case MASTERCF_UNPRIV:
    case MASTERCF_CHROOT:
        if (strcmp(value, "y") != 0 && strcmp(value, "n") != 0
            && strcmp(value, "-") != 0) {
            bad = 1;
            break;
        }
        if (field == MASTERCF_PRIVATE)
            e->priv = value[0] != 'n';
        else if (field == MASTERCF_UNPRIV)
            e->unpriv = value[0] != 'n';
        else
            e->chroot = value[0] == 'y';
        break;
    case MASTERCF_WAKEUP:
        e->wakeup = 0;
        e->wakeup_cond = 0;
        if (strcmp(value, "-") == 0)
            break;
        if (len > 0 && value[len - 1] == '?') {
            e->wakeup_cond = 1;
            len--;
        }
        if (len == 0 && e->wakeup_cond)
            break;
        num = mcf_number(value, len);
        if (num == -1) {
            bad = 1;
        } else if (num == -2) {
            bad = 1;
            level = MCF_S;
            e->wakeup = INT_MAX;
        } else {
            e->wakeup = (int) num;
        }
        break;
    case MASTERCF_MAXPROC:
        if (strcmp(value, "-") == 0) {
            e->maxproc = -1;
            break;
        }
        num = mcf_number(value, len);
        if (num == -1) {
            bad = 1;
        } else if (num == -2) {
            bad = 1;
            level = MCF_S;
            e->maxproc = INT_MAX;
        } else {
            e->maxproc = (int) num;
        }
        break;
    default:
        break;
    }
    if (bad) {
        char *qv = mcf_quote(value);
        char *qw = mcf_quote(whole);

        mcf_report(ctx, level, "invalid %s field \"%s\" in \"%s\"",
                   mastercf_field_names[field], qv, qw);
        mem_free(qv);
        mem_free(qw);
        return ctx->failed ? -1 : 0;
    }
    return 0;
}

/* A port: a number 1..65535 or a services(5) name. */
static int mcf_valid_port(const char *port)
{
    const char *cp;
    long num;

    if (*port == 0)
        return 0;
    if (isdigit((unsigned char) *port)) {
        num = mcf_number(port, strlen(port));
        return num >= 1 && num <= 65535;
    }
    for (cp = port; *cp; cp++)
        if (!isalnum((unsigned char) *cp) && *cp != '-' && *cp != '_'
            && *cp != '.')
            return 0;
    return 1;
}

/*
 * Split an inet service name into host and port: "port", "host:port",
 * "[address]:port". Problems are MCF_S: Postfix's postconf does not check.
 */
static void mcf_split_inet(struct mcf_ctx *ctx, struct mastercf_entry *e)
{
    const char *name = e->field[MASTERCF_SERVICE];
    const char *why = NULL;
    const char *colon;

    mem_free(e->inet_host);
    mem_free(e->inet_port);
    e->inet_host = e->inet_port = NULL;
    if (e->type != MASTERCF_INET)
        return;
    if (name[0] == '[') {
        const char *close = strchr(name, ']');

        if (close == NULL) {
            why = "missing ']'";
        } else if (close == name + 1) {
            why = "empty address in []";
        } else if (close[1] != ':') {
            why = "expected ':port' after ']'";
        } else {
            e->inet_host = mem_strndup(name + 1, (size_t) (close - name - 1));
            e->inet_port = mem_strdup(close + 2);
        }
    } else if ((colon = strrchr(name, ':')) != NULL) {
        if (memchr(name, ':', (size_t) (colon - name)) != NULL)
            why = "an IPv6 address must be written as [address]:port";
        else if (colon == name)
            why = "missing host before ':'";
        else {
            e->inet_host = mem_strndup(name, (size_t) (colon - name));
            e->inet_port = mem_strdup(colon + 1);
        }
    } else {
        e->inet_port = mem_strdup(name);
    }
    if (why == NULL && !mcf_valid_port(e->inet_port))
        why = *e->inet_port ? "bad port" : "missing port";
    if (why != NULL) {
        char *quoted = mcf_quote(name);

        mcf_report(ctx, MCF_S, "invalid inet service \"%s\": %s", quoted, why);
        mem_free(quoted);
        if (e->inet_port == NULL)
            e->inet_port = mem_strdup("");
    }
}

/* ---- entries ---------------------------------------------------------- */

void mastercf_entry_free(struct mastercf_entry *e)
{
    int i;

    if (e == NULL)
        return;
    for (i = 0; i < MASTERCF_NFIELDS; i++)
        mem_free(e->field[i]);
    mem_free(e->inet_host);
    mem_free(e->inet_port);
    mcf_free_args(e);
    mem_free(e->source);
    mem_free(e);
}

static struct mastercf_entry *mcf_parse_entry(struct mcf_ctx *ctx,
                                              const char *text)
{
    int unclosed;
    struct argv *tokens = mcf_tokenize(text, &unclosed);
    struct mastercf_entry *e;
    int i;

    if (tokens->argc < MASTERCF_NFIELDS) {
        mcf_report(ctx, MCF_E, MASTERCF_MSG_FIELD_COUNT);
        argv_free(tokens);
        return NULL;
    }
    e = mem_calloc(1, sizeof(*e));
    e->priv = 1;
    e->unpriv = 1;
    e->maxproc = -1;
    for (i = 0; i < MASTERCF_NFIELDS; i++)
        e->field[i] = mem_strdup(tokens->argv[i]);
    /* Written back, such a line would be a comment. */
    if (e->field[MASTERCF_SERVICE][0] == '#') {
        char *qv = mcf_quote(e->field[MASTERCF_SERVICE]);
        char *qw = mcf_quote(text);

        mcf_report(ctx, MCF_E, "invalid service field \"%s\" in \"%s\"", qv,
                   qw);
        mem_free(qv);
        mem_free(qw);
    }
    for (i = MASTERCF_TYPE; i <= MASTERCF_MAXPROC && !ctx->failed; i++)
        if (mcf_check_field(ctx, e, i, e->field[i], text) < 0)
            break;
    /*
     * An unclosed '{' in a token that is not itself braced (those get a
     * warning of their own) took the rest of the line into that token.
     */
    if (!ctx->failed && unclosed && tokens->argv[tokens->argc - 1][0] != '{') {
        char *quoted = mcf_quote(tokens->argv[tokens->argc - 1]);

        mcf_report(ctx, MCF_S, "missing '}' in \"%s\"", quoted);
        mem_free(quoted);
    }
    if (!ctx->failed)
        mcf_split_inet(ctx, e);
    if (!ctx->failed)
        mcf_parse_args(ctx, e, tokens->argv + MASTERCF_NFIELDS,
                       tokens->argc - MASTERCF_NFIELDS);
    argv_free(tokens);
    if (ctx->failed) {
        mastercf_entry_free(e);
        return NULL;
    }
    e->state = MCF_NEW;
    return e;
}

/*
 * Text from a command line may hold line breaks; in the file they would
 * start a new line, so they count as the white space they are.
 */
static char *mcf_one_line(const char *text)
{
    char *copy = mem_strdup(text);
    char *cp;

    for (cp = copy; *cp; cp++)
        if (*cp == '\n' || *cp == '\r')
            *cp = ' ';
    return copy;
}

struct mastercf_entry *mastercf_entry_parse(const char *text, int flags,
                                            struct argv *warnings,
                                            struct buf *err)
{
    struct mcf_ctx ctx = {NULL, 0, flags, warnings, err, 0};
    char *line = mcf_one_line(text);
    struct mastercf_entry *e = mcf_parse_entry(&ctx, line);

    mem_free(line);
    return e;
}

struct mastercf_entry *mastercf_entry_dup(const struct mastercf_entry *e)
{
    struct mastercf_entry *d = mem_alloc(sizeof(*d));
    size_t i;

    *d = *e;
    for (i = 0; i < MASTERCF_NFIELDS; i++)
        d->field[i] = mem_strdup(e->field[i]);
    d->inet_host = e->inet_host ? mem_strdup(e->inet_host) : NULL;
    d->inet_port = e->inet_port ? mem_strdup(e->inet_port) : NULL;
    d->source = e->source ? mem_strdup(e->source) : NULL;
    d->args = mem_alloc((e->argc ? e->argc : 1) * sizeof(*d->args));
    for (i = 0; i < e->argc; i++) {
        d->args[i] = e->args[i];
        d->args[i].text = mem_strdup(e->args[i].text);
        d->args[i].value =
            e->args[i].value ? mem_strdup(e->args[i].value) : NULL;
    }
    return d;
}

/* ---- the file --------------------------------------------------------- */

/* Physical line starts in DATA: starts[i] for line i+1; *COUNT lines. */
static size_t *mcf_line_starts(const char *data, size_t len, size_t *count)
{
    size_t *starts = NULL;
    size_t n = 0, size = 0, pos = 0;

    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);

        if (n >= size) {
            size = size ? size * 2 : 64;
            starts = mem_realloc(starts, size * sizeof(*starts));
        }
        starts[n++] = pos;
        pos = nl ? (size_t) (nl - data) + 1 : len;
    }
    *count = n;
    return starts;
}

/* The bytes of line L (1-based), with its newline when it has one. */
static void mcf_line(const struct mastercf *mcf, const size_t *starts,
                     size_t nlines, size_t l, const char **text, size_t *len)
{
    size_t end = l < nlines ? starts[l] : mcf->len;

    *text = mcf->data + starts[l - 1];
    *len = end - starts[l - 1];
}

/* Blank or comment line, as cfgfile.c decides. */
static int mcf_ignorable(const char *text, size_t len)
{
    size_t i = 0;

    while (i < len && mcf_is_space(text[i]))
        i++;
    return i == len || text[i] == '#';
}

void mastercf_free(struct mastercf *mcf)
{
    size_t i;

    if (mcf == NULL)
        return;
    for (i = 0; i < mcf->count; i++)
        mastercf_entry_free(mcf->entries[i]);
    for (i = 0; i < mcf->ngone; i++)
        mastercf_entry_free(mcf->gone[i]);
    mem_free(mcf->entries);
    mem_free(mcf->gone);
    mem_free(mcf->path);
    mem_free(mcf->data);
    mem_free(mcf);
}

static void mcf_append(struct mastercf_entry ***list, size_t *count,
                       struct mastercf_entry *e)
{
    *list = mem_realloc(*list, (*count + 1) * sizeof(**list));
    (*list)[(*count)++] = e;
}

struct mastercf *mastercf_parse(const char *path, const char *data, size_t len,
                                int flags, struct argv *warnings,
                                struct buf *err)
{
    struct mastercf *mcf = mem_calloc(1, sizeof(*mcf));
    struct mcf_ctx ctx = {path, 0, flags, warnings, err, 0};
    struct buf *logical;
    size_t *starts;
    size_t nlines;
    FILE *fp;
    int lineno = 0;
    int first = 0;
    int got;

    mcf->path = mem_strdup(path);
    mcf->data = mem_alloc(len + 1);
    memcpy(mcf->data, data, len);
    mcf->data[len] = 0;
    mcf->len = len;
    if (len == 0)
        return mcf;
    if ((fp = fmemopen(mcf->data, len, "r")) == NULL) {
        buf_setf(err, "read %s: %s", path, strerror(errno));
        mastercf_free(mcf);
        return NULL;
    }
    starts = mcf_line_starts(mcf->data, len, &nlines);
    logical = buf_new(256);
    while (!ctx.failed
           && (got = cfg_read_logical(fp, logical, &lineno, &first)) > 0) {
        const char *text = buf_str(logical);
        struct mastercf_entry *e;
        size_t l, last;
        size_t i;

        ctx.line = first;
        if (mcf_is_space(text[0])) {
            char *quoted = mcf_quote(text);

            mcf_report(&ctx, MCF_W,
                       "logical line must not start with whitespace: \"%s\"",
                       quoted);
            mem_free(quoted);
            continue;
        }
        if ((e = mcf_parse_entry(&ctx, text)) == NULL)
            break;
        /* The entry ends at its last continuation line. */
        for (last = (size_t) first, l = (size_t) first + 1;
             l <= (size_t) lineno && l <= nlines; l++) {
            const char *lt;
            size_t ll;

            mcf_line(mcf, starts, nlines, l, &lt, &ll);
            if (!mcf_ignorable(lt, ll))
                last = l;
        }
        e->first_line = first;
        e->last_line = (int) last;
        {
            const char *ft, *lt;
            size_t fl, ll;

            mcf_line(mcf, starts, nlines, (size_t) first, &ft, &fl);
            mcf_line(mcf, starts, nlines, last, &lt, &ll);
            e->source = mem_strndup(ft, (size_t) (lt + ll - ft));
        }
        e->state = MCF_ORIG;
        for (i = 0; i < mcf->count; i++) {
            struct mastercf_entry *o = mcf->entries[i];

            if (strcmp(o->field[MASTERCF_SERVICE], e->field[MASTERCF_SERVICE])
                    == 0
                && strcmp(o->field[MASTERCF_TYPE], e->field[MASTERCF_TYPE])
                       == 0) {
                char *qs = mcf_quote(e->field[MASTERCF_SERVICE]);

                mcf_report(
                    &ctx, MCF_S,
                    "duplicate service \"%s/%s\" (first defined at line %d)",
                    qs, e->field[MASTERCF_TYPE], o->first_line);
                mem_free(qs);
                break;
            }
        }
        mcf_append(&mcf->entries, &mcf->count, e);
    }
    if (!ctx.failed && ferror(fp)) {
        buf_setf(err, "read %s: %s", path, strerror(errno));
        ctx.failed = 1;
    }
    fclose(fp);
    buf_free(logical);
    mem_free(starts);
    if (ctx.failed) {
        mastercf_free(mcf);
        return NULL;
    }
    return mcf;
}

struct mastercf *mastercf_read(const char *path, int flags,
                               struct argv *warnings, struct buf *err)
{
    FILE *fp = fopen(path, "r");
    struct buf *data;
    struct mastercf *mcf;
    char chunk[4096];
    size_t n;

    if (fp == NULL) {
        int saved = errno;

        buf_setf(err, "open %s: %s", path, strerror(saved));
        errno = saved;
        return NULL;
    }
    data = buf_new(8192);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_append(data, chunk, n);
    if (ferror(fp)) {
        int saved = errno;

        buf_setf(err, "read %s: %s", path, strerror(saved));
        fclose(fp);
        buf_free(data);
        errno = saved;
        return NULL;
    }
    fclose(fp);
    mcf = mastercf_parse(path, buf_str(data), buf_len(data), flags, warnings,
                         err);
    buf_free(data);
    return mcf;
}

struct mastercf *mastercf_load_quiet(const char *config_dir)
{
    struct buf *path = buf_new(256);
    struct buf *err = buf_new(128);
    struct argv *warnings = argv_new(4);
    struct mastercf *mcf;

    buf_printf(path, "%s/master.cf", config_dir);
    mcf = mastercf_read(buf_str(path), 0, warnings, err);
    argv_free(warnings);
    buf_free(err);
    buf_free(path);
    return mcf;
}

/* ---- lookup ----------------------------------------------------------- */

struct mastercf_entry *mastercf_lookup(const struct mastercf *mcf,
                                       const char *service, const char *type)
{
    size_t i;

    for (i = 0; i < mcf->count; i++) {
        struct mastercf_entry *e = mcf->entries[i];

        if (strcmp(e->field[MASTERCF_SERVICE], service) == 0
            && strcmp(e->field[MASTERCF_TYPE], type) == 0)
            return e;
    }
    return NULL;
}

struct mastercf_entry *mastercf_find(const struct mastercf *mcf,
                                     const char *key)
{
    const char *slash = strrchr(key, '/');
    struct mastercf_entry *e;
    char *service;

    if (slash == NULL)
        return NULL;
    service = mem_strndup(key, (size_t) (slash - key));
    e = mastercf_lookup(mcf, service, slash + 1);
    mem_free(service);
    return e;
}

int mastercf_field_index(const char *name)
{
    int i;

    for (i = 0; i < MASTERCF_NFIELDS; i++)
        if (strcmp(name, mastercf_field_names[i]) == 0)
            return i;
    return -1;
}

const char *mastercf_param(const struct mastercf_entry *e, const char *name)
{
    const char *value = NULL;
    size_t i;

    for (i = 0; i < e->argc; i++)
        if (e->args[i].kind == MASTERCF_ARG_PARAM
            && strcmp(e->args[i].text, name) == 0)
            value = e->args[i].value;
    return value;
}

struct argv *mastercf_param_names(const struct mastercf_entry *e)
{
    struct argv *names = argv_new(e->argc);
    size_t i;

    for (i = 0; i < e->argc; i++)
        if (e->args[i].kind == MASTERCF_ARG_PARAM)
            argv_add(names, e->args[i].text);
    return names;
}

static struct argv *mcf_collect(const struct mastercf *mcf, int what)
{
    struct argv *out = argv_new(32);
    size_t i, j;

    if (mcf == NULL)
        return out;
    for (i = 0; i < mcf->count; i++) {
        const struct mastercf_entry *e = mcf->entries[i];

        if (what == 2) {
            argv_add(out, e->field[MASTERCF_SERVICE]);
            continue;
        }
        for (j = 0; j < e->argc; j++)
            if (e->args[j].kind == MASTERCF_ARG_PARAM)
                argv_add(out, what ? e->args[j].value : e->args[j].text);
    }
    return out;
}

struct argv *mastercf_option_names(const struct mastercf *mcf)
{
    return mcf_collect(mcf, 0);
}

struct argv *mastercf_option_values(const struct mastercf *mcf)
{
    return mcf_collect(mcf, 1);
}

struct argv *mastercf_service_names(const struct mastercf *mcf)
{
    return mcf_collect(mcf, 2);
}

struct argv *mastercf_exec_argv(const struct mastercf_entry *e)
{
    struct argv *av = argv_new(e->argc * 2 + 2);
    struct buf *pair = buf_new(64);
    size_t i;

    argv_add(av, e->field[MASTERCF_COMMAND]);
    for (i = 0; i < e->argc; i++) {
        const struct mastercf_arg *a = &e->args[i];

        switch (a->kind) {
        case MASTERCF_ARG_PARAM:
            argv_add(av, "-o");
            buf_setf(pair, "%s=%s", a->text, a->value);
            argv_add(av, buf_str(pair));
            break;
        case MASTERCF_ARG_OPTARG:
            argv_add(av, "-o");
            argv_add(av, a->text);
            break;
        default:
            argv_add(av, a->text);
            break;
        }
    }
    buf_free(pair);
    return av;
}

/* ---- rendering -------------------------------------------------------- */

/*
 * An argument is written in braces when the parser would otherwise split
 * it, strip it, or (for a WORD) take it for an option.
 */
static int mcf_needs_braces(const char *text, int word)
{
    return *text == 0 || *text == '{' || (word && *text == '-')
           || mcf_has_space(text);
}

/* Braces in TEXT pair up, so "{TEXT}" reads back as TEXT. */
static int mcf_balanced(const char *text)
{
    int depth = 0;

    for (; *text; text++) {
        if (*text == '{')
            depth++;
        else if (*text == '}' && --depth < 0)
            return 0;
    }
    return depth == 0;
}

/*
 * Append TEXT, in braces where needed. Text whose braces do not pair up
 * came from a single token (an unclosed '{' swallows the rest of the
 * line), so it is written as it came.
 */
static int mcf_put_text(struct buf *out, const char *text, int word)
{
    if (mcf_needs_braces(text, word) && mcf_balanced(text)) {
        buf_printf(out, "{%s}", text);
        return 1;
    }
    buf_puts(out, text);
    return 0;
}

/*
 * One argument as postconf prints it; *FORCED for -o pairs. *WIDTH is
 * what the fold decision counts: Postfix leaves out the braces it adds
 * around a word.
 */
static void mcf_render_arg(const struct mastercf_arg *a, struct buf *out,
                           int *forced, size_t *width)
{
    buf_reset(out);
    *forced = 0;
    *width = 0;
    switch (a->kind) {
    case MASTERCF_ARG_OPTION:
        buf_puts(out, a->text);
        break;
    case MASTERCF_ARG_WORD:
        if (!a->braced)
            buf_puts(out, a->text);
        else if (mcf_put_text(out, a->text, 1))
            *width = strlen(a->text);
        break;
    case MASTERCF_ARG_PARAM: {
        struct buf *pair = buf_new(64);
        size_t vlen = strlen(a->value);

        buf_printf(pair, "%s=%s", a->text, a->value);
        buf_puts(out, "-o ");
        /* Braces would trim white space at the ends of the value. */
        if (vlen > 0
            && (mcf_is_space(a->value[0]) || mcf_is_space(a->value[vlen - 1])))
            buf_puts(out, buf_str(pair));
        else
            mcf_put_text(out, buf_str(pair), 0);
        buf_free(pair);
    }
        *forced = 1;
        break;
    case MASTERCF_ARG_OPTARG:
        /* Unbraced, it was one token and stays one; braced, it keeps them. */
        buf_puts(out, "-o ");
        if (a->braced)
            mcf_put_text(out, a->text, 0);
        else
            buf_puts(out, a->text);
        *forced = 1;
        break;
    }
    if (*width == 0)
        *width = buf_len(out);
}

/*
 * Append the command and its arguments to OUT, whose current line began
 * at offset LINE_START. Folding: an -o pair starts a line and so does the
 * word after it; other words move to a new line when the line would reach
 * MCF_LINE_LIMIT columns.
 */
static void mcf_render_args(const struct mastercf_entry *e, int flags,
                            struct buf *out, size_t line_start)
{
    struct buf *item = buf_new(64);
    int prev_forced = 0;
    size_t i;

    buf_puts(out, e->field[MASTERCF_COMMAND]);
    for (i = 0; i < e->argc; i++) {
        int forced;
        size_t width;

        mcf_render_arg(&e->args[i], item, &forced, &width);
        /* A continuation line that started with '#' would be a comment. */
        if ((flags & MASTERCF_FOLD) && *buf_str(item) != '#'
            && (forced || prev_forced
                || buf_len(out) - line_start + 1 + width >= MCF_LINE_LIMIT)) {
            buf_putc(out, '\n');
            line_start = buf_len(out);
            buf_puts(out, MCF_INDENT);
        } else {
            buf_putc(out, ' ');
        }
        buf_append(out, buf_str(item), buf_len(item));
        prev_forced = forced;
    }
    buf_free(item);
}

void mastercf_render_command(const struct mastercf_entry *e, int flags,
                             const char *prefix, struct buf *out)
{
    size_t line_start = buf_len(out);

    buf_puts(out, prefix);
    mcf_render_args(e, flags, out, line_start);
}

void mastercf_render(const struct mastercf_entry *e, int flags, struct buf *out)
{
    size_t line_start = buf_len(out);
    int i;

    for (i = 0; i < MASTERCF_COMMAND; i++) {
        if (i > 0) {
            size_t col = buf_len(out) - line_start;

            do
                buf_putc(out, ' ');
            while (++col < mcf_columns[i]);
        }
        buf_puts(out, e->field[i]);
    }
    {
        size_t col = buf_len(out) - line_start;

        do
            buf_putc(out, ' ');
        while (++col < mcf_columns[MASTERCF_COMMAND]);
    }
    mcf_render_args(e, flags, out, line_start);
}

/* ---- editing ---------------------------------------------------------- */

static void mcf_touch(struct mastercf *mcf, struct mastercf_entry *e)
{
    if (e->state == MCF_ORIG)
        e->state = MCF_MODIFIED;
    mcf->modified = 1;
}

/* Take E out of the live list; STATE says how its lines are written. */
static void mcf_unlink(struct mastercf *mcf, struct mastercf_entry *e,
                       int state)
{
    size_t i;

    for (i = 0; i < mcf->count; i++)
        if (mcf->entries[i] == e)
            break;
    if (i == mcf->count)
        return;
    memmove(mcf->entries + i, mcf->entries + i + 1,
            (mcf->count - i - 1) * sizeof(*mcf->entries));
    mcf->count--;
    mcf->modified = 1;
    if (e->first_line == 0) {
        mastercf_entry_free(e);
        return;
    }
    e->state = state;
    mcf_append(&mcf->gone, &mcf->ngone, e);
}

void mastercf_remove(struct mastercf *mcf, struct mastercf_entry *e)
{
    mcf_unlink(mcf, e, MCF_DELETED);
}

void mastercf_comment_out(struct mastercf *mcf, struct mastercf_entry *e)
{
    mcf_unlink(mcf, e, MCF_COMMENTED);
}

void mastercf_put(struct mastercf *mcf, const char *service, const char *type,
                  struct mastercf_entry *new_entry)
{
    struct mastercf_entry *target = NULL;
    size_t i;

    /* The first match takes the new text; later matches would duplicate it. */
    for (i = 0; i < mcf->count;) {
        struct mastercf_entry *e = mcf->entries[i];
        const char *s = e->field[MASTERCF_SERVICE];
        const char *t = e->field[MASTERCF_TYPE];

        if ((strcmp(s, service) == 0 && strcmp(t, type) == 0)
            || (strcmp(s, new_entry->field[MASTERCF_SERVICE]) == 0
                && strcmp(t, new_entry->field[MASTERCF_TYPE]) == 0)) {
            if (target == NULL) {
                target = e;
                i++;
            } else {
                mastercf_remove(mcf, e);
            }
        } else {
            i++;
        }
    }
    mcf->modified = 1;
    if (target == NULL) {
        new_entry->state = MCF_NEW;
        new_entry->first_line = new_entry->last_line = 0;
        mcf_append(&mcf->entries, &mcf->count, new_entry);
        return;
    }
    for (i = 0; i < mcf->count; i++)
        if (mcf->entries[i] == target)
            break;
    new_entry->first_line = target->first_line;
    new_entry->last_line = target->last_line;
    new_entry->state = target->state == MCF_NEW ? MCF_NEW : MCF_MODIFIED;
    mem_free(new_entry->source);
    new_entry->source = target->source;
    target->source = NULL;
    mcf->entries[i] = new_entry;
    mastercf_entry_free(target);
}

int mastercf_set_field(struct mastercf *mcf, struct mastercf_entry *e,
                       int field, const char *value, int flags, struct buf *err)
{
    struct mcf_ctx ctx = {NULL, 0, flags, NULL, err, 0};
    struct mastercf_entry *tmp;

    if (field < 0 || field >= MASTERCF_NFIELDS) {
        buf_setf(err, "invalid service attribute number: %d", field);
        return -1;
    }
    if (field == MASTERCF_COMMAND) {
        char *line = mcf_one_line(value);
        struct argv *tokens = mcf_tokenize(line, NULL);

        mem_free(line);

        if (tokens->argc == 0) {
            char *quoted = mcf_quote(value);

            buf_setf(err, "invalid command field \"%s\" in \"%s\"", quoted,
                     quoted);
            mem_free(quoted);
            argv_free(tokens);
            return -1;
        }
        tmp = mem_calloc(1, sizeof(*tmp));
        mcf_parse_args(&ctx, tmp, tokens->argv + 1, tokens->argc - 1);
        if (ctx.failed) {
            mastercf_entry_free(tmp);
            argv_free(tokens);
            return -1;
        }
        mem_free(e->field[MASTERCF_COMMAND]);
        e->field[MASTERCF_COMMAND] = mem_strdup(tokens->argv[0]);
        mcf_free_args(e);
        e->args = tmp->args;
        e->argc = tmp->argc;
        tmp->args = NULL;
        tmp->argc = 0;
        mastercf_entry_free(tmp);
        argv_free(tokens);
        mcf_touch(mcf, e);
        return 0;
    }
    if (*value == 0 || mcf_has_space(value)
        || (field == MASTERCF_SERVICE && *value == '#')) {
        char *quoted = mcf_quote(value);

        buf_setf(err, "invalid %s field \"%s\" in \"%s\"",
                 mastercf_field_names[field], quoted, quoted);
        mem_free(quoted);
        return -1;
    }
    if (strcmp(e->field[field], value) == 0)
        return 0;
    /* Check on a copy so a bad value leaves E as it was. */
    tmp = mastercf_entry_dup(e);
    mem_free(tmp->field[field]);
    tmp->field[field] = mem_strdup(value);
    if (mcf_check_field(&ctx, tmp, field, value, value) == 0 && !ctx.failed)
        mcf_split_inet(&ctx, tmp);
    if (ctx.failed) {
        mastercf_entry_free(tmp);
        return -1;
    }
    mem_free(e->field[field]);
    e->field[field] = mem_strdup(value);
    e->type = tmp->type;
    e->priv = tmp->priv;
    e->unpriv = tmp->unpriv;
    e->chroot = tmp->chroot;
    e->wakeup = tmp->wakeup;
    e->wakeup_cond = tmp->wakeup_cond;
    e->maxproc = tmp->maxproc;
    mem_free(e->inet_host);
    mem_free(e->inet_port);
    e->inet_host = tmp->inet_host;
    e->inet_port = tmp->inet_port;
    tmp->inet_host = tmp->inet_port = NULL;
    mastercf_entry_free(tmp);
    mcf_touch(mcf, e);
    return 0;
}

void mastercf_set_param(struct mastercf *mcf, struct mastercf_entry *e,
                        const char *name, const char *value)
{
    size_t i;
    size_t insert = 0;
    int found = 0;

    for (i = 0; i < e->argc; i++) {
        struct mastercf_arg *a = &e->args[i];

        if (a->kind == MASTERCF_ARG_WORD)
            break;
        insert = i + 1;
        if (a->kind == MASTERCF_ARG_PARAM && strcmp(a->text, name) == 0) {
            found = 1;
            if (strcmp(a->value, value) != 0) {
                mem_free(a->value);
                a->value = mem_strdup(value);
                mcf_touch(mcf, e);
            }
        }
    }
    /* PARAMs only live in the option part, so the loop saw them all. */
    if (found)
        return;
    e->args = mem_realloc(e->args, (e->argc + 1) * sizeof(*e->args));
    memmove(e->args + insert + 1, e->args + insert,
            (e->argc - insert) * sizeof(*e->args));
    e->argc++;
    e->args[insert].kind = MASTERCF_ARG_PARAM;
    e->args[insert].text = mem_strdup(name);
    e->args[insert].value = mem_strdup(value);
    e->args[insert].braced = 0;
    mcf_touch(mcf, e);
}

size_t mastercf_remove_param(struct mastercf *mcf, struct mastercf_entry *e,
                             const char *name)
{
    size_t i, j;
    size_t removed = 0;

    for (i = j = 0; i < e->argc; i++) {
        struct mastercf_arg *a = &e->args[i];

        if (a->kind == MASTERCF_ARG_PARAM && strcmp(a->text, name) == 0) {
            mem_free(a->text);
            mem_free(a->value);
            removed++;
            continue;
        }
        e->args[j++] = *a;
    }
    e->argc = j;
    if (removed)
        mcf_touch(mcf, e);
    return removed;
}

/* ---- writing ---------------------------------------------------------- */

static int mcf_put(FILE *fp, const char *data, size_t len)
{
    return len == 0 || fwrite(data, 1, len, fp) == len ? 0 : -1;
}

int mastercf_write(const struct mastercf *mcf, FILE *fp)
{
    size_t nlines;
    size_t *starts = mcf_line_starts(mcf->data, mcf->len, &nlines);
    struct mastercf_entry **owner = mem_calloc(nlines + 1, sizeof(*owner));
    struct buf *text = buf_new(256);
    int ends_nl = 1;
    int ret = 0;
    size_t i, l;

    /* Which entry each non-comment line belongs to. */
    for (i = 0; i < mcf->count + mcf->ngone; i++) {
        struct mastercf_entry *e =
            i < mcf->count ? mcf->entries[i] : mcf->gone[i - mcf->count];

        if (e->first_line <= 0)
            continue;
        for (l = (size_t) e->first_line;
             l <= (size_t) e->last_line && l <= nlines; l++) {
            const char *lt;
            size_t ll;

            mcf_line(mcf, starts, nlines, l, &lt, &ll);
            if (l == (size_t) e->first_line || !mcf_ignorable(lt, ll))
                owner[l] = e;
        }
    }
    for (l = 1; l <= nlines && ret == 0; l++) {
        struct mastercf_entry *e = owner[l];
        const char *lt;
        size_t ll;

        mcf_line(mcf, starts, nlines, l, &lt, &ll);
        if (e == NULL || e->state == MCF_ORIG) {
            ret = mcf_put(fp, lt, ll);
            ends_nl = ll > 0 && lt[ll - 1] == '\n';
        } else if (e->state == MCF_MODIFIED) {
            if (l == (size_t) e->first_line) {
                buf_reset(text);
                mastercf_render(e, MASTERCF_FOLD, text);
                buf_putc(text, '\n');
                ret = mcf_put(fp, buf_str(text), buf_len(text));
                ends_nl = 1;
            }
        } else if (e->state == MCF_COMMENTED) {
            ret = mcf_put(fp, "#", 1) | mcf_put(fp, lt, ll);
            ends_nl = ll > 0 && lt[ll - 1] == '\n';
        }
        /* MCF_DELETED: the line goes. */
    }
    for (i = 0; i < mcf->count && ret == 0; i++) {
        struct mastercf_entry *e = mcf->entries[i];

        if (e->state != MCF_NEW)
            continue;
        buf_reset(text);
        if (!ends_nl)
            buf_putc(text, '\n');
        mastercf_render(e, MASTERCF_FOLD, text);
        buf_putc(text, '\n');
        ret = mcf_put(fp, buf_str(text), buf_len(text));
        ends_nl = 1;
    }
    buf_free(text);
    mem_free(owner);
    mem_free(starts);
    if (ret == 0 && (fflush(fp) != 0 || ferror(fp)))
        ret = -1;
    return ret;
}

int mastercf_save(struct mastercf *mcf, struct buf *err)
{
    struct afile *af = afile_open(mcf->path);

    if (af == NULL) {
        buf_setf(err, "open %s.tmp: %s", mcf->path, strerror(errno));
        return -1;
    }
    if (mastercf_write(mcf, afile_stream(af)) < 0) {
        int saved = errno;

        afile_abort(af);
        buf_setf(err, "write %s: %s", mcf->path, strerror(saved));
        return -1;
    }
    if (afile_commit(af) < 0) {
        buf_setf(err, "replace %s: %s", mcf->path, strerror(errno));
        return -1;
    }
    return 0;
}
