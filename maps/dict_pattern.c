/*
 * dict_pattern.c - parsing and searching of regexp: and pcre: tables, and
 * the table-source reader shared with cidr: (see dict_pattern.h).
 *
 * Called by dict_regexp.c and dict_pcre.c, which supply an engine, and by
 * dict_cidr.c for its source lines. Bad rules are warned about with file
 * and line and skipped, the way Postfix does; open fails (NULL with ERR)
 * only when the source cannot be read or a write mode is asked for.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cfgfile.h"
#include "dict.h"
#include "dict_pattern.h"
#include "mem.h"
#include "msg.h"
#include "str.h"

/* ---- messages ------------------------------------------------------------ */

void pat_warn(const char *type, const char *name, int lineno, const char *fmt,
              ...)
{
    struct buf *text = buf_new(128);
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(text, fmt, ap);
    va_end(ap);
    msg_warn("%s map %s, line %d: %s", type, name, lineno, buf_str(text));
    buf_free(text);
}

int pat_keyword(const char *text, const char *word)
{
    size_t len = strlen(word);

    return strncasecmp(text, word, len) == 0
           && !isalnum((unsigned char) text[len]);
}

/* ---- table source ----------------------------------------------------------
 */

struct pat_source {
    char *type;
    char *name;
    FILE *fp;  /* NULL: an empty inline list */
    char *mem; /* the rules of an inline list, one per line */
    int is_file;
    int lineno; /* physical lines read so far */
};

/*
 * Turn "{ {rule}, {rule} }" into "rule\nrule\n" in OUT, or fail with a
 * message in ERR worded as Postfix words it.
 */
static int pat_inline_rules(const char *type, const char *name, struct buf *out,
                            struct buf *err)
{
    char *copy = mem_strdup(name);
    char *cp = copy;
    char *inner;
    char *rule;
    const char *why;
    int ret = -1;

    inner = str_token_braced(&cp, STR_LIST_SEP, &why);
    if (inner == NULL) {
        if (why != NULL && strcmp(why, "text after '}'") == 0)
            buf_setf(err, "%s map: syntax error after '}' in \"%s\"", type,
                     name);
        else
            buf_setf(err, "%s map: missing '}' in \"%s\"", type, name);
        goto out;
    }
    if (cp[strspn(cp, STR_LIST_SEP)] != 0) {
        buf_setf(err, "%s map: syntax error after '}' in \"%s\"", type, name);
        goto out;
    }
    cp = inner;
    for (;;) {
        char *start = cp + strspn(cp, STR_LIST_SEP);

        if (*start == 0)
            break;
        if (*start != '{') {
            rule = str_token(&cp, STR_LIST_SEP);
            buf_setf(err, "%s map: no '{' at start of text in \"%s\"", type,
                     rule ? rule : start);
            goto out;
        }
        rule = str_token_braced(&cp, STR_LIST_SEP, &why);
        if (rule == NULL) {
            buf_setf(err, "%s map: %s in \"%s\"", type,
                     why ? why : "syntax error", name);
            goto out;
        }
        buf_puts(out, rule);
        buf_putc(out, '\n');
    }
    ret = 0;
out:
    mem_free(copy);
    return ret;
}

struct pat_source *pat_source_open(const char *type, const char *name,
                                   struct buf *err)
{
    struct pat_source *src = mem_calloc(1, sizeof(*src));

    src->type = mem_strdup(type);
    src->name = mem_strdup(name);
    if (name[0] == '{') {
        struct buf *rules = buf_new(256);

        if (pat_inline_rules(type, name, rules, err) < 0) {
            buf_free(rules);
            pat_source_close(src);
            return NULL;
        }
        if (buf_len(rules) > 0) {
            size_t len = buf_len(rules);

            src->mem = buf_steal(rules);
            src->fp = fmemopen(src->mem, len, "r");
            if (src->fp == NULL) {
                buf_setf(err, "%s map: cannot read inline rules: %s", type,
                         strerror(errno));
                pat_source_close(src);
                return NULL;
            }
        } else {
            buf_free(rules);
        }
        return src;
    }
    src->is_file = 1;
    src->fp = fopen(name, "r");
    if (src->fp == NULL) {
        buf_setf(err, "open %s: %s", name, strerror(errno));
        pat_source_close(src);
        return NULL;
    }
    return src;
}

int pat_source_is_file(const struct pat_source *src)
{
    return src->is_file;
}

int pat_source_next(struct pat_source *src, struct buf *line, int *lineno,
                    struct buf *err)
{
    int ret;

    for (;;) {
        if (src->fp == NULL)
            return 0;
        ret = cfg_read_logical(src->fp, line, &src->lineno, lineno);
        if (ret < 0) {
            buf_setf(err, "read %s: %s", src->name, strerror(errno));
            return -1;
        }
        if (ret == 0)
            return 0;
        if (isspace((unsigned char) buf_str(line)[0])) {
            pat_warn(src->type, src->name, *lineno,
                     "logical line must not start with whitespace: \"%s\"",
                     buf_str(line));
            continue;
        }
        return 1;
    }
}

void pat_source_close(struct pat_source *src)
{
    if (src == NULL)
        return;
    if (src->fp != NULL)
        fclose(src->fp);
    mem_free(src->mem);
    mem_free(src->type);
    mem_free(src->name);
    mem_free(src);
}

/* ---- the compiled table ----------------------------------------------------
 */

/* One piece of a result: literal text, or the text of a capture group. */
struct pat_seg {
    size_t group; /* 0: literal text[off, off+len) */
    size_t off;
    size_t len;
};

struct pat_rule {
    void *re;
    int negate;
    int is_if;
    int lineno;
    size_t skip_to; /* IF: the rule after its ENDIF */
    char *text;     /* the literal pieces of the result */
    struct pat_seg *segs;
    size_t nsegs;
    size_t max_group; /* highest "$n" in the result, 0 for none */
};

struct pat_table {
    const struct pat_engine *engine;
    struct pat_rule *rules;
    size_t count;
    size_t size;
    size_t *ofs; /* group offsets, room for the largest max_group */
    size_t nofs;
};

/* What the parser of one table needs to name its complaints. */
struct pat_ctx {
    const struct pat_engine *engine;
    const char *name;
    int lineno;
};

#define PAT_WARN(ctx, ...)                                                     \
    pat_warn((ctx)->engine->type, (ctx)->name, (ctx)->lineno, __VA_ARGS__)

static void pat_rule_free(const struct pat_engine *engine, struct pat_rule *r)
{
    if (r->re != NULL)
        engine->free(r->re);
    mem_free(r->text);
    mem_free(r->segs);
}

/*
 * Parse "[!...]DpatternDflags" at *CP (D any character; a backslash hides
 * the next one). On success *PATTERN is a copy of the text between the
 * delimiters, *OPTS the engine options, *NEGATE set for an odd number of
 * '!', and *CP points after the flags. -1 after a warning.
 */
static int pat_parse_regex(const struct pat_ctx *ctx, char **cp, char **pattern,
                           int *opts, int *negate)
{
    char *p = *cp;
    char *start;
    char delim;

    *negate = 0;
    while (isspace((unsigned char) *p))
        p++;
    while (*p == '!') {
        *negate = !*negate;
        p++;
        while (isspace((unsigned char) *p))
            p++;
    }
    if (*p == 0) {
        PAT_WARN(ctx, "no regexp: skipping this rule");
        return -1;
    }
    delim = *p++;
    start = p;
    /* A backslash hides the next character, even when it is the delimiter. */
    while (*p) {
        if (*p == '\\') {
            if (p[1] == 0) {
                p++;
                break;
            }
            p += 2;
            continue;
        }
        if (*p == delim)
            break;
        p++;
    }
    if (*p == 0) {
        PAT_WARN(ctx, "no closing regexp delimiter \"%c\": %s", delim,
                 ctx->engine->unclosed_action);
        return -1;
    }
    *pattern = mem_strndup(start, (size_t) (p - start));
    p++;
    *opts = ctx->engine->default_opts;
    for (; *p && !isspace((unsigned char) *p); p++) {
        switch (ctx->engine->flag(opts, (unsigned char) *p)) {
        case 0:
            break;
        case 1:
            PAT_WARN(ctx, "ignoring obsolete regexp option \"%c\"", *p);
            break;
        default:
            PAT_WARN(ctx, "unknown regexp option \"%c\": skipping this rule",
                     *p);
            mem_free(*pattern);
            *pattern = NULL;
            return -1;
        }
    }
    *cp = p;
    return 0;
}

static void pat_add_seg(struct pat_seg **segs, size_t *nsegs, size_t *size,
                        size_t group, size_t off, size_t len)
{
    if (group == 0 && len == 0)
        return;
    /* Adjacent literal text becomes one piece. */
    if (group == 0 && *nsegs > 0 && (*segs)[*nsegs - 1].group == 0
        && (*segs)[*nsegs - 1].off + (*segs)[*nsegs - 1].len == off) {
        (*segs)[*nsegs - 1].len += len;
        return;
    }
    if (*nsegs >= *size) {
        *size = *size ? *size * 2 : 4;
        *segs = mem_realloc(*segs, *size * sizeof(**segs));
    }
    (*segs)[*nsegs].group = group;
    (*segs)[*nsegs].off = off;
    (*segs)[*nsegs].len = len;
    (*nsegs)++;
}

static int pat_is_name_char(int ch)
{
    return isalnum(ch) || ch == '_';
}

/*
 * Parse a result with "$n", "${n}", "$(n)" and "$$" into R's pieces and
 * max_group. -1 after a warning: the rule is to be skipped.
 */
static int pat_parse_result(const struct pat_ctx *ctx, const char *result,
                            struct pat_rule *r)
{
    struct buf *lit = buf_new(strlen(result) + 1);
    struct buf *name = buf_new(16);
    size_t size = 0;
    const char *p = result;
    int bad = 0;
    int fatal = 0;

    r->max_group = 0;
    while (*p && !fatal) {
        const char *dollar = strchr(p, '$');

        if (dollar == NULL) {
            pat_add_seg(&r->segs, &r->nsegs, &size, 0, buf_len(lit), strlen(p));
            buf_puts(lit, p);
            break;
        }
        pat_add_seg(&r->segs, &r->nsegs, &size, 0, buf_len(lit),
                    (size_t) (dollar - p));
        buf_append(lit, p, (size_t) (dollar - p));
        p = dollar + 1;
        buf_reset(name);
        if (*p == '$') {
            pat_add_seg(&r->segs, &r->nsegs, &size, 0, buf_len(lit), 1);
            buf_putc(lit, '$');
            p++;
            continue;
        }
        if (*p == '{' || *p == '(') {
            char open = *p;
            char close = open == '{' ? '}' : ')';
            const char *q = p + 1;
            int depth = 1;

            for (; *q; q++) {
                if (*q == open)
                    depth++;
                else if (*q == close && --depth == 0)
                    break;
            }
            if (*q == 0) {
                PAT_WARN(ctx, "truncated macro reference: \"%s\"", result);
                bad = fatal = 1;
                break;
            }
            /* As Postfix: after an error, a braced name ends the parse. */
            if (bad)
                break;
            buf_append(name, p + 1, (size_t) (q - p - 1));
            p = q + 1;
        } else {
            const char *q = p;

            while (pat_is_name_char((unsigned char) *q))
                q++;
            buf_append(name, p, (size_t) (q - p));
            p = q;
        }
        if (buf_len(name) == 0) {
            PAT_WARN(ctx, "empty macro name: \"%s\"", result);
            bad = fatal = 1;
            break;
        }
        if (strspn(buf_str(name), "0123456789") != buf_len(name)) {
            PAT_WARN(ctx, "non-numeric replacement index \"%s\"",
                     buf_str(name));
            bad = 1;
            continue;
        }
        {
            size_t group = 0;
            const char *d;

            /* Saturate: anything this large is out of range anyway. */
            for (d = buf_str(name); *d; d++)
                group =
                    group > 100000 ? group : group * 10 + (size_t) (*d - '0');
            if (group == 0) {
                PAT_WARN(ctx, "%s \"%s\"", ctx->engine->zero_index_text,
                         buf_str(name));
                bad = 1;
                continue;
            }
            pat_add_seg(&r->segs, &r->nsegs, &size, group, 0, 0);
            if (group > r->max_group)
                r->max_group = group;
        }
    }
    buf_free(name);
    r->text = buf_steal(lit);
    if (bad) {
        PAT_WARN(ctx, "bad replacement syntax: skipping this rule");
        return -1;
    }
    return 0;
}

static void pat_table_add(struct pat_table *t, const struct pat_rule *r)
{
    if (t->count >= t->size) {
        t->size = t->size ? t->size * 2 : 16;
        t->rules = mem_realloc(t->rules, t->size * sizeof(*t->rules));
    }
    t->rules[t->count++] = *r;
}

/*
 * Compile R's pattern and check its "$n" against the groups; -1 after a
 * warning.
 */
static int pat_compile(const struct pat_ctx *ctx, struct pat_rule *r,
                       const char *pattern, int opts)
{
    struct buf *why = buf_new(64);
    size_t groups;

    r->re = ctx->engine->compile(pattern, opts, r->max_group > 0, why);
    if (r->re == NULL) {
        PAT_WARN(ctx, "%s", buf_str(why));
        buf_free(why);
        return -1;
    }
    buf_free(why);
    groups = ctx->engine->groups(r->re);
    if (r->max_group > groups) {
        PAT_WARN(ctx,
                 "out of range replacement index \"%zu\": "
                 "skipping this rule",
                 r->max_group);
        return -1;
    }
    return 0;
}

/* "/pattern/flags result" or "!/pattern/flags result". */
static void pat_parse_match(const struct pat_ctx *ctx, struct pat_table *t,
                            char *line)
{
    struct pat_rule r;
    char *cp = line;
    char *pattern = NULL;
    char *result;
    int opts;

    memset(&r, 0, sizeof(r));
    r.lineno = ctx->lineno;
    if (pat_parse_regex(ctx, &cp, &pattern, &opts, &r.negate) < 0)
        return;
    result = str_trim(cp);
    if (*result == 0)
        PAT_WARN(ctx, "no replacement text: using empty string");
    if (pat_parse_result(ctx, result, &r) < 0)
        goto bad;
    if (r.negate && r.max_group > 0) {
        PAT_WARN(ctx, "$number found in negative match replacement text: "
                      "skipping this rule");
        goto bad;
    }
    if (pat_compile(ctx, &r, pattern, opts) < 0)
        goto bad;
    mem_free(pattern);
    pat_table_add(t, &r);
    return;
bad:
    mem_free(pattern);
    pat_rule_free(ctx->engine, &r);
}

/* "if /pattern/flags": 0 with the rule added, -1 when skipped. */
static int pat_parse_if(const struct pat_ctx *ctx, struct pat_table *t,
                        char *line)
{
    struct pat_rule r;
    char *cp = line + 2;
    char *pattern = NULL;
    int opts;

    memset(&r, 0, sizeof(r));
    r.lineno = ctx->lineno;
    r.is_if = 1;
    if (pat_parse_regex(ctx, &cp, &pattern, &opts, &r.negate) < 0)
        return -1;
    while (isspace((unsigned char) *cp))
        cp++;
    if (*cp != 0) {
        PAT_WARN(ctx, "ignoring extra text after IF statement: \"%s\"", cp);
        PAT_WARN(ctx, "do not prepend whitespace to statements between IF "
                      "and ENDIF");
    }
    if (pat_compile(ctx, &r, pattern, opts) < 0) {
        mem_free(pattern);
        pat_rule_free(ctx->engine, &r);
        return -1;
    }
    mem_free(pattern);
    pat_table_add(t, &r);
    return 0;
}

static void pat_table_free(struct pat_table *t)
{
    size_t i;

    for (i = 0; i < t->count; i++)
        pat_rule_free(t->engine, &t->rules[i]);
    mem_free(t->rules);
    mem_free(t->ofs);
    mem_free(t);
}

/* ---- lookups ------------------------------------------------------------- */

static enum lookup_status pat_lookup(struct dict *d, const char *key,
                                     struct buf *value)
{
    struct pat_table *t = d->priv;
    const struct pat_engine *engine = t->engine;
    size_t len = strlen(key);
    size_t i = 0;

    while (i < t->count) {
        struct pat_rule *r = &t->rules[i];
        int want_ofs = !r->is_if && !r->negate && r->max_group > 0;
        size_t nofs = want_ofs ? 2 * (r->max_group + 1) : 0;
        int m;

        m = engine->match(r->re, key, len, want_ofs ? t->ofs : NULL, nofs,
                          d->err);
        if (m < 0) {
            /*
             * As Postfix: a matching error (a PCRE2 match limit) is logged
             * and the rule, or the IF block, applies neither way.
             */
            msg_warn("%s map %s, line %d: %s", engine->type, d->name, r->lineno,
                     buf_str(d->err));
            i = r->is_if ? r->skip_to : i + 1;
            continue;
        }
        if (r->is_if) {
            i = (m != r->negate) ? i + 1 : r->skip_to;
            continue;
        }
        if (m == r->negate) {
            i++;
            continue;
        }
        buf_reset(value);
        {
            size_t s;

            for (s = 0; s < r->nsegs; s++) {
                const struct pat_seg *seg = &r->segs[s];
                size_t from;
                size_t to;

                if (seg->group == 0) {
                    buf_append(value, r->text + seg->off, seg->len);
                    continue;
                }
                from = t->ofs[2 * seg->group];
                to = t->ofs[2 * seg->group + 1];
                if (from != PAT_UNSET && to != PAT_UNSET && from <= to
                    && to <= len)
                    buf_append(value, key + from, to - from);
            }
        }
        return LOOKUP_FOUND;
    }
    return LOOKUP_NOTFOUND;
}

static int pat_close(struct dict *d)
{
    pat_table_free(d->priv);
    d->priv = NULL;
    dict_free(d);
    return 0;
}

/* ---- open ---------------------------------------------------------------- */

/* An open IF while parsing: its rule index and line. */
struct pat_open_if {
    size_t rule;
    int lineno;
};

struct dict *pat_dict_open(const struct pat_engine *engine, const char *name,
                           int open_flags, int flags, struct buf *err)
{
    struct pat_source *src;
    struct pat_table *t;
    struct pat_open_if *ifs = NULL;
    size_t nifs = 0;
    size_t ifs_size = 0;
    struct buf *line;
    struct pat_ctx ctx;
    struct dict *d;
    size_t max_group = 0;
    size_t i;
    int is_file;
    int ret;

    if (open_flags != DICT_RDONLY) {
        buf_setf(err, "%s:%s map requires O_RDONLY access mode", engine->type,
                 name);
        return NULL;
    }
    src = pat_source_open(engine->type, name, err);
    if (src == NULL)
        return NULL;
    t = mem_calloc(1, sizeof(*t));
    t->engine = engine;
    ctx.engine = engine;
    ctx.name = name;
    ctx.lineno = 0;
    line = buf_new(256);
    while ((ret = pat_source_next(src, line, &ctx.lineno, err)) > 0) {
        char *text = buf_str(line);

        if (pat_keyword(text, "if")) {
            if (pat_parse_if(&ctx, t, text) == 0) {
                if (nifs >= ifs_size) {
                    ifs_size = ifs_size ? ifs_size * 2 : 8;
                    ifs = mem_realloc(ifs, ifs_size * sizeof(*ifs));
                }
                ifs[nifs].rule = t->count - 1;
                ifs[nifs].lineno = ctx.lineno;
                nifs++;
            }
        } else if (pat_keyword(text, "endif")) {
            if (nifs == 0) {
                PAT_WARN(&ctx, "ignoring ENDIF without matching IF");
                continue;
            }
            if (text[5 + strspn(text + 5, " \t\r\n")] != 0)
                PAT_WARN(&ctx, "ignoring extra text after ENDIF");
            nifs--;
            t->rules[ifs[nifs].rule].skip_to = t->count;
        } else if (isalnum((unsigned char) text[0])) {
            PAT_WARN(&ctx, "ignoring unrecognized request");
        } else {
            pat_parse_match(&ctx, t, text);
        }
    }
    buf_free(line);
    is_file = pat_source_is_file(src);
    pat_source_close(src);
    if (ret < 0) {
        mem_free(ifs);
        pat_table_free(t);
        return NULL;
    }
    /* An IF left open at the end covers the rest of the table. */
    while (nifs > 0) {
        nifs--;
        ctx.lineno = ifs[nifs].lineno;
        PAT_WARN(&ctx, "IF has no matching ENDIF");
        t->rules[ifs[nifs].rule].skip_to = t->count;
    }
    mem_free(ifs);
    for (i = 0; i < t->count; i++)
        if (t->rules[i].max_group > max_group)
            max_group = t->rules[i].max_group;
    t->nofs = 2 * (max_group + 1);
    t->ofs = mem_calloc(t->nofs, sizeof(*t->ofs));

    /* Patterns decide about case themselves: never fold their keys. */
    d = dict_alloc(engine->type, name, open_flags,
                   (flags & ~(DICT_FOLD_FIX | DICT_FIXED)) | DICT_PATTERN, 0);
    d->priv = t;
    d->lookup = pat_lookup;
    d->close = pat_close;
    if (is_file)
        dict_remember_file(d, name);
    return d;
}
