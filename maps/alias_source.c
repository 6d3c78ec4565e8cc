/*
 * alias_source.c - aliases(5) source reader (see alias_source.h).
 *
 * Called by postalias/newaliases, the fuzzer and the unit tests. Bad lines
 * are warned about ("FILE, line N: ...") and skipped; read errors return
 * -1 with the reason in alias_source_error(). Never fatal.
 *
 * The right-hand side is stored as Postfix stores it, which matters for
 * .db files that both implementations read: the text is split into RFC 822
 * tokens (atoms, "quoted strings", (comments), [domain literals] and
 * operators) and written back with a fixed spacing: one space between two
 * word tokens (atom, quoted string, comment, literal) and before '<', a
 * space after every ',', nothing around the other operators. Besides the
 * RFC 822 specials, '|', '!' and '%' are operators, as in Postfix.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "alias_source.h"
#include "buf.h"
#include "htable.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "str.h"

/* ---- RFC 822 tokens ---------------------------------------------------- */

enum atok_kind { ATOK_ATOM, ATOK_QSTRING, ATOK_COMMENT, ATOK_DOMLIT, ATOK_OP };

struct atok {
    enum atok_kind kind;
    int op;     /* ATOK_OP: the character */
    size_t off; /* text in the list's pool */
    size_t len;
};

struct atoks {
    struct atok *v;
    size_t n;
    size_t size;
    struct buf *text; /* every token's text, back to back */
};

static int atok_is_space(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Characters that end an atom and stand as tokens of their own. */
static int atok_is_special(int ch)
{
    return ch != 0 && strchr("()<>@,;:\\\".[]|!%", ch) != NULL;
}

/* Inside quotes and literals, line-breaking white space becomes a space. */
static int atok_flatten(int ch)
{
    return atok_is_space(ch) ? ' ' : ch;
}

static struct atok *atoks_add(struct atoks *tl, enum atok_kind kind, int op)
{
    struct atok *t;

    if (tl->n == tl->size) {
        tl->size = tl->size ? tl->size * 2 : 16;
        tl->v = mem_realloc(tl->v, tl->size * sizeof(*tl->v));
    }
    t = &tl->v[tl->n++];
    t->kind = kind;
    t->op = op;
    t->off = buf_len(tl->text);
    t->len = 0;
    return t;
}

/* Append one character to the token being built (always the last one). */
static void atoks_putc(struct atoks *tl, int ch)
{
    buf_putc(tl->text, ch);
    tl->v[tl->n - 1].len++;
}

static void atoks_scan(struct atoks *tl, const char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        int ch = (unsigned char) s[i];

        if (atok_is_space(ch)) {
            i++;
        } else if (ch == '(') {
            /* Comments are kept as written, nesting and escapes included. */
            int depth = 0;

            atoks_add(tl, ATOK_COMMENT, 0);
            while (i < len) {
                ch = (unsigned char) s[i++];
                atoks_putc(tl, ch);
                if (ch == '\\' && i < len) {
                    atoks_putc(tl, (unsigned char) s[i++]);
                } else if (ch == '(') {
                    depth++;
                } else if (ch == ')' && --depth == 0) {
                    break;
                }
            }
        } else if (ch == '"' || ch == '[') {
            int close = ch == '"' ? '"' : ']';

            atoks_add(tl, ch == '"' ? ATOK_QSTRING : ATOK_DOMLIT, 0);
            i++;
            while (i < len) {
                ch = (unsigned char) s[i++];
                if (ch == '\\') {
                    if (i < len)
                        atoks_putc(tl, atok_flatten((unsigned char) s[i++]));
                } else if (ch == close) {
                    break;
                } else {
                    atoks_putc(tl, atok_flatten(ch));
                }
            }
        } else if (ch != '\\' && atok_is_special(ch)) {
            atoks_add(tl, ATOK_OP, ch);
            i++;
        } else {
            atoks_add(tl, ATOK_ATOM, 0);
            while (i < len) {
                ch = (unsigned char) s[i];
                if (ch == '\\') {
                    i++;
                    if (i < len)
                        atoks_putc(tl, atok_flatten((unsigned char) s[i++]));
                } else if (atok_is_space(ch) || atok_is_special(ch)) {
                    break;
                } else {
                    atoks_putc(tl, ch);
                    i++;
                }
            }
        }
    }
}

static int atok_is_word(const struct atok *t)
{
    return t->kind != ATOK_OP;
}

/* An atom that would not read back as one atom must be quoted. */
static int atom_needs_quotes(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        int ch = (unsigned char) s[i];

        if (ch < 0x20 || ch == 0x7f || ch == ' ' || atok_is_special(ch))
            return 1;
    }
    return 0;
}

static void put_quoted(struct buf *out, const char *s, size_t len)
{
    size_t i;

    buf_putc(out, '"');
    for (i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            buf_putc(out, '\\');
        buf_putc(out, (unsigned char) s[i]);
    }
    buf_putc(out, '"');
}

/*
 * Write tokens [FROM, TO) to OUT. EXTERNAL: as stored values (atoms and
 * strings quoted as needed); else as names (quotes removed).
 */
static void atoks_write(const struct atoks *tl, size_t from, size_t to,
                        int external, struct buf *out)
{
    size_t i;

    for (i = from; i < to; i++) {
        const struct atok *t = &tl->v[i];
        const char *text = buf_str(tl->text) + t->off;

        if (i > from) {
            const struct atok *prev = &tl->v[i - 1];

            if (!(prev->kind == ATOK_OP && prev->op == ',')
                && ((atok_is_word(prev) && atok_is_word(t))
                    || (t->kind == ATOK_OP && t->op == '<')))
                buf_putc(out, ' ');
        }
        switch (t->kind) {
        case ATOK_ATOM:
            if (external && atom_needs_quotes(text, t->len))
                put_quoted(out, text, t->len);
            else
                buf_append(out, text, t->len);
            break;
        case ATOK_QSTRING:
            if (external)
                put_quoted(out, text, t->len);
            else
                buf_append(out, text, t->len);
            break;
        case ATOK_COMMENT:
            buf_append(out, text, t->len);
            break;
        case ATOK_DOMLIT:
            /* Stored values double a backslash here, and nothing else. */
            buf_putc(out, '[');
            if (external) {
                size_t j;

                for (j = 0; j < t->len; j++) {
                    if (text[j] == '\\')
                        buf_putc(out, '\\');
                    buf_putc(out, (unsigned char) text[j]);
                }
            } else {
                buf_append(out, text, t->len);
            }
            buf_putc(out, ']');
            break;
        case ATOK_OP:
            buf_putc(out, t->op);
            if (t->op == ',')
                buf_putc(out, ' ');
            break;
        }
    }
}

int alias_parse_line(const char *line, size_t len, struct buf *name,
                     struct buf *value, const char **err)
{
    struct atoks tl = {0};
    size_t colon;
    size_t i;
    int ret = -1;

    buf_reset(name);
    buf_reset(value);
    /* Text after a NUL byte is not seen, as with Postfix's C strings. */
    len = strnlen(line, len);
    tl.text = buf_new(len + 1);
    atoks_scan(&tl, line, len);
    for (colon = 0; colon < tl.n; colon++)
        if (tl.v[colon].kind == ATOK_OP && tl.v[colon].op == ':')
            break;
    if (colon == tl.n) {
        *err = "missing ':' after the alias name";
        goto done;
    }
    if (colon == 0) {
        *err = "missing alias name before ':'";
        goto done;
    }
    if (colon + 1 == tl.n) {
        *err = "missing value after ':'";
        goto done;
    }
    for (i = 0; i < colon; i++) {
        if (tl.v[i].kind != ATOK_OP)
            continue;
        if (tl.v[i].op == ',') {
            *err = "',' in the alias name (quote the name)";
            goto done;
        }
        if (tl.v[i].op == '@' || tl.v[i].op == '%') {
            *err = "the alias name must be a local address, without '@' or '%'";
            goto done;
        }
    }
    atoks_write(&tl, 0, colon, 0, name);
    atoks_write(&tl, colon + 1, tl.n, 1, value);
    ret = 0;

done:
    mem_free(tl.v);
    buf_free(tl.text);
    return ret;
}

/* ---- the reader -------------------------------------------------------- */

/*
 * Logical lines as Postfix reads alias files: a line that starts with any
 * white space (C locale: space, \t, \n, \v, \f, \r) continues the previous
 * one; blank lines and comment lines are skipped, also inside a logical
 * line; physical lines are joined as they are, newline removed. Unlike
 * main.cf, a '\r' before the newline is kept: it is white space to the
 * tokenizer, but shows inside quotes and comments.
 */
static int line_is_space(int ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

static int line_ignorable(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len && line_is_space((unsigned char) s[i]))
        i++;
    return i == len || s[i] == '#';
}

/* One physical line into OUT without its newline; 0 at end of file. */
static int line_read_physical(FILE *fp, struct buf *out)
{
    int ch;
    int got = 0;

    buf_reset(out);
    while ((ch = getc(fp)) != EOF) {
        got = 1;
        if (ch == '\n')
            break;
        buf_putc(out, ch);
    }
    return got;
}

/* 1 and LINE set, 0 at end of file, -1 on a read error. */
static int line_read_logical(FILE *fp, struct buf *line, struct buf *phys,
                             int *lineno, int *first)
{
    int have = 0;
    int ch;

    buf_reset(line);
    for (;;) {
        if (have) {
            if ((ch = getc(fp)) == EOF)
                break;
            ungetc(ch, fp);
            if (!line_is_space(ch) && ch != '#')
                break;
        }
        if (!line_read_physical(fp, phys))
            break;
        (*lineno)++;
        if (line_ignorable(buf_str(phys), buf_len(phys)))
            continue;
        if (!have) {
            *first = *lineno;
            have = 1;
        }
        buf_append(line, buf_str(phys), buf_len(phys));
    }
    if (ferror(fp))
        return -1;
    return have;
}

struct alias_source {
    FILE *fp;
    int own_fp;
    char *name; /* for messages */
    int flags;
    int lineno; /* physical lines read */
    int line;   /* first line of the last logical line */
    int bad;
    struct buf *logical;
    struct buf *phys;
    struct buf *err;
    struct htable *seen; /* name -> first line, for duplicates */
};

static struct alias_source *alias_source_new(FILE *fp, int own,
                                             const char *name, int flags)
{
    struct alias_source *as = mem_calloc(1, sizeof(*as));

    as->fp = fp;
    as->own_fp = own;
    as->name = mem_strdup(name);
    as->flags = flags;
    as->logical = buf_new(256);
    as->phys = buf_new(256);
    as->err = buf_new(64);
    if (flags & (ALIAS_SOURCE_DUP_WARN | ALIAS_SOURCE_DUP_IGNORE))
        as->seen = htable_new(256);
    return as;
}

struct alias_source *alias_source_open(const char *path, int flags,
                                       struct buf *err)
{
    FILE *fp = fopen(path, "r");

    if (fp == NULL) {
        buf_setf(err, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    return alias_source_new(fp, 1, path, flags);
}

struct alias_source *alias_source_stream(FILE *fp, const char *name, int flags)
{
    return alias_source_new(fp, 0, name, flags);
}

void alias_source_close(struct alias_source *as)
{
    if (as == NULL)
        return;
    if (as->own_fp)
        fclose(as->fp);
    if (as->seen != NULL)
        htable_free(as->seen, NULL);
    buf_free(as->logical);
    buf_free(as->phys);
    buf_free(as->err);
    mem_free(as->name);
    mem_free(as);
}

static void alias_source_warn(struct alias_source *as, const char *what,
                              const char *detail)
{
    as->bad++;
    if (as->flags & ALIAS_SOURCE_QUIET)
        return;
    msg_warn("%s, line %d: %s%s", as->name, as->line, what,
             detail ? detail : "");
}

/*
 * The UTF-8 check as Postfix makes it: a line whose text (up to a NUL
 * byte) is plain ASCII passes; otherwise all FULL bytes must be valid,
 * also those after a NUL.
 */
static int alias_utf8_ok(const char *text, size_t len, size_t full)
{
    size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char) text[i] >= 0x80)
            return maps_utf8_valid(text, full);
    return 1;
}

/* A repeated name: 1 when the entry is to be skipped. */
static int alias_source_dup(struct alias_source *as, const char *name)
{
    struct htable_entry *e;

    if (as->seen == NULL)
        return 0;
    if ((e = htable_find(as->seen, name)) == NULL) {
        htable_put(as->seen, name, (void *) (intptr_t) as->line);
        return 0;
    }
    if ((as->flags & ALIAS_SOURCE_DUP_WARN)
        && !(as->flags & ALIAS_SOURCE_QUIET)) {
        struct buf *safe = buf_new(64);

        str_printable(safe, name, strlen(name));
        msg_warn("%s, line %d: duplicate alias name \"%s\" (first at line "
                 "%d); ignored",
                 as->name, as->line, buf_str(safe), (int) (intptr_t) e->value);
        buf_free(safe);
    }
    return 1;
}

int alias_source_next(struct alias_source *as, struct buf *name,
                      struct buf *value)
{
    for (;;) {
        const char *err;
        const char *text;
        size_t len;
        int r;

        r = line_read_logical(as->fp, as->logical, as->phys, &as->lineno,
                              &as->line);
        if (r < 0) {
            buf_setf(as->err, "read %s: %s", as->name, strerror(errno));
            return -1;
        }
        if (r == 0)
            return 0;
        text = buf_str(as->logical);
        len = strnlen(text, buf_len(as->logical));
        if (line_is_space((unsigned char) text[0])) {
            alias_source_warn(as,
                              "a continuation line with nothing to "
                              "continue; ignored",
                              NULL);
            continue;
        }
        if ((as->flags & ALIAS_SOURCE_UTF8)
            && !alias_utf8_ok(text, len, buf_len(as->logical))) {
            alias_source_warn(as, "not valid UTF-8; line ignored", NULL);
            continue;
        }
        if (alias_parse_line(text, len, name, value, &err) < 0) {
            alias_source_warn(as, err, "; line ignored");
            continue;
        }
        if (as->flags & ALIAS_SOURCE_FOLD) {
            struct buf *folded = buf_new(buf_len(name) + 1);

            maps_fold(folded, buf_str(name),
                      (as->flags & ALIAS_SOURCE_UTF8) != 0);
            buf_set(name, buf_str(folded));
            buf_free(folded);
        }
        if (buf_len(name) == 0) {
            alias_source_warn(as, "empty alias name; line ignored", NULL);
            continue;
        }
        if (alias_source_dup(as, buf_str(name)))
            continue;
        return 1;
    }
}

int alias_source_line(const struct alias_source *as)
{
    return as->line;
}

int alias_source_bad_lines(const struct alias_source *as)
{
    return as->bad;
}

const char *alias_source_error(const struct alias_source *as)
{
    return buf_str(as->err);
}
