/*
 * rfc822.c - RFC 5322 header helpers (rfc822.h).
 *
 * The address parser works in two steps: a lexer cuts the value into
 * tokens (atoms, quoted strings, comments, domain literals, specials,
 * white space), each with its place in the text, then a small state
 * machine walks the tokens and marks where each address is. Nothing is
 * rebuilt from tokens except the internal form of each address, so a
 * rewrite touches only the bytes of the addresses it changes.
 */
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "mem.h"
#include "rfc822.h"

/* ---- header names --------------------------------------------------- */

#define S  RFC822_HDR_SENDER
#define R  RFC822_HDR_RECIPIENT
#define X  RFC822_HDR_EXTRACT
#define RS RFC822_HDR_RESENT

static const struct rfc822_hdr_info rfc822_hdrs[] = {
    {"Apparently-To", RFC822_HDR_APPARENTLY_TO, R},
    {"Bcc", RFC822_HDR_BCC, R | X},
    {"Cc", RFC822_HDR_CC, R | X},
    {"Content-Length", RFC822_HDR_CONTENT_LENGTH, 0},
    {"Content-Transfer-Encoding", RFC822_HDR_CONTENT_TRANSFER_ENCODING, 0},
    {"Content-Type", RFC822_HDR_CONTENT_TYPE, 0},
    {"Date", RFC822_HDR_DATE, 0},
    {"Delivered-To", RFC822_HDR_DELIVERED_TO, 0},
    {"Disposition-Notification-To", RFC822_HDR_DISPOSITION_NOTIFICATION_TO, S},
    {"Errors-To", RFC822_HDR_ERRORS_TO, S},
    {"From", RFC822_HDR_FROM, S},
    {"Message-Id", RFC822_HDR_MESSAGE_ID, 0},
    {"Mime-Version", RFC822_HDR_MIME_VERSION, 0},
    {"Received", RFC822_HDR_RECEIVED, 0},
    {"Reply-To", RFC822_HDR_REPLY_TO, R},
    {"Resent-Bcc", RFC822_HDR_RESENT_BCC, R | X | RS},
    {"Resent-Cc", RFC822_HDR_RESENT_CC, R | X | RS},
    {"Resent-Date", RFC822_HDR_RESENT_DATE, RS},
    {"Resent-From", RFC822_HDR_RESENT_FROM, S | RS},
    {"Resent-Message-Id", RFC822_HDR_RESENT_MESSAGE_ID, RS},
    {"Resent-Reply-To", RFC822_HDR_RESENT_REPLY_TO, R | RS},
    {"Resent-Sender", RFC822_HDR_RESENT_SENDER, S | RS},
    {"Resent-To", RFC822_HDR_RESENT_TO, R | X | RS},
    {"Return-Path", RFC822_HDR_RETURN_PATH, S},
    {"Return-Receipt-To", RFC822_HDR_RETURN_RECEIPT_TO, S},
    {"Sender", RFC822_HDR_SENDER_ID, S},
    {"To", RFC822_HDR_TO, R | X},
};

#undef S
#undef R
#undef X
#undef RS

static int rfc822_wsp(int ch)
{
    return ch == ' ' || ch == '\t';
}

size_t rfc822_header_name(const char *line, size_t len)
{
    size_t i = 0;
    size_t name_len;

    while (i < len && (unsigned char) line[i] > 32
           && (unsigned char) line[i] < 127 && line[i] != ':')
        i++;
    if (i == 0)
        return 0;
    name_len = i;
    while (i < len && rfc822_wsp(line[i]))
        i++;
    if (i >= len || line[i] != ':')
        return 0;
    return name_len;
}

size_t rfc822_header_value(const char *line, size_t len)
{
    size_t i;

    if (rfc822_header_name(line, len) == 0)
        return 0;
    for (i = 0; line[i] != ':'; i++)
        ;
    return i + 1;
}

int rfc822_continuation(const char *line, size_t len)
{
    return len > 0 && rfc822_wsp(line[0]);
}

const struct rfc822_hdr_info *rfc822_header_info(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof(rfc822_hdrs) / sizeof(rfc822_hdrs[0]); i++) {
        if (strlen(rfc822_hdrs[i].name) == len
            && strncasecmp(rfc822_hdrs[i].name, name, len) == 0)
            return &rfc822_hdrs[i];
    }
    return NULL;
}

void rfc822_unfold(struct buf *out, const char *text, size_t len)
{
    size_t i = 0;

    while (i < len) {
        if (text[i] == '\r' && i + 2 < len && text[i + 1] == '\n'
            && rfc822_wsp(text[i + 2])) {
            i += 2;
            continue;
        }
        if (text[i] == '\n' && i + 1 < len && rfc822_wsp(text[i + 1])) {
            i++;
            continue;
        }
        buf_putc(out, text[i]);
        i++;
    }
}

void rfc822_header_text(struct buf *out, const char *hdr, size_t len)
{
    size_t v = rfc822_header_value(hdr, len);
    size_t start = out->len;
    size_t a;
    size_t b;

    rfc822_unfold(out, hdr + v, len - v);
    a = start;
    while (a < out->len
           && (rfc822_wsp(out->data[a]) || out->data[a] == '\r'
               || out->data[a] == '\n'))
        a++;
    b = out->len;
    while (b > a
           && (rfc822_wsp(out->data[b - 1]) || out->data[b - 1] == '\r'
               || out->data[b - 1] == '\n'))
        b--;
    memmove(out->data + start, out->data + a, b - a);
    buf_truncate(out, start + (b - a));
}

/* ---- lexer ------------------------------------------------------------ */

enum tok_type {
    TOK_ATOM = 1,
    TOK_QSTRING,
    TOK_COMMENT,
    TOK_DLITERAL,
    TOK_SPECIAL,
    TOK_SPACE,
};

struct tok {
    enum tok_type type;
    int ch; /* TOK_SPECIAL: the character */
    size_t start;
    size_t end;
};

struct toks {
    struct tok *v;
    size_t n;
    size_t size;
    int truncated;
};

static int rfc822_special(int ch)
{
    return strchr("()<>@,;:\\\".[]", ch) != NULL && ch != 0;
}

static int rfc822_space(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static void rfc822_lex(struct toks *t, const char *s, size_t len, size_t limit)
{
    size_t i = 0;
    struct tok tk;

    t->n = 0;
    t->truncated = 0;
    while (i < len) {
        if (limit > 0 && t->n >= limit) {
            t->truncated = 1;
            return;
        }
        tk.start = i;
        tk.ch = 0;
        if (rfc822_space(s[i])) {
            while (i < len && rfc822_space(s[i]))
                i++;
            tk.type = TOK_SPACE;
        } else if (s[i] == '"') {
            size_t j = i + 1;

            while (j < len && s[j] != '"')
                j += (s[j] == '\\' && j + 1 < len) ? 2 : 1;
            i = j < len ? j + 1 : len;
            tk.type = TOK_QSTRING;
        } else if (s[i] == '(') {
            int depth = 0;
            size_t j = i;

            while (j < len) {
                if (s[j] == '\\') {
                    j += (j + 1 < len) ? 2 : 1;
                    continue;
                }
                if (s[j] == '(')
                    depth++;
                else if (s[j] == ')' && --depth == 0) {
                    j++;
                    break;
                }
                j++;
            }
            i = j;
            tk.type = TOK_COMMENT;
        } else if (s[i] == '[') {
            size_t j = i + 1;

            while (j < len && s[j] != ']')
                j += (s[j] == '\\' && j + 1 < len) ? 2 : 1;
            i = j < len ? j + 1 : len;
            tk.type = TOK_DLITERAL;
        } else if (s[i] == '\\' || !rfc822_special((unsigned char) s[i])
                   || s[i] == '.') {
            /* An atom; dots and backslash escapes (obsolete) are kept in
             * it, so a dot-atom local part is one token. */
            while (i < len && !rfc822_space(s[i])
                   && (s[i] == '.' || s[i] == '\\'
                       || !rfc822_special((unsigned char) s[i]))) {
                if (s[i] == '\\' && i + 1 < len)
                    i++;
                i++;
            }
            tk.type = TOK_ATOM;
        } else {
            tk.type = TOK_SPECIAL;
            tk.ch = (unsigned char) s[i];
            i++;
        }
        tk.end = i;
        if (t->n == t->size) {
            t->size = t->size ? t->size * 2 : 32;
            t->v = mem_realloc(t->v, t->size * sizeof(*t->v));
        }
        t->v[t->n++] = tk;
    }
}

/* ---- address list --------------------------------------------------- */

void rfc822_addrs_init(struct rfc822_addrs *list)
{
    memset(list, 0, sizeof(*list));
}

void rfc822_addrs_free(struct rfc822_addrs *list)
{
    size_t i;

    for (i = 0; i < list->size; i++)
        if (list->v[i].addr)
            buf_free(list->v[i].addr);
    mem_free(list->v);
    memset(list, 0, sizeof(*list));
}

static int tok_filler(const struct tok *t)
{
    return t->type == TOK_SPACE || t->type == TOK_COMMENT;
}

/* Record the address made of tokens FIRST..LAST-1 (fillers trimmed). */
static void rfc822_add(struct rfc822_addrs *list, const char *s,
                       const struct toks *t, size_t first, size_t last,
                       int angle)
{
    struct rfc822_addr *a;
    struct buf *ext;
    size_t i;

    while (first < last && tok_filler(&t->v[first]))
        first++;
    while (last > first && tok_filler(&t->v[last - 1]))
        last--;
    if (first == last && !angle)
        return;
    if (list->n == list->size) {
        size_t old = list->size;

        list->size = list->size ? list->size * 2 : 8;
        list->v = mem_realloc(list->v, list->size * sizeof(*list->v));
        memset(list->v + old, 0, (list->size - old) * sizeof(*list->v));
    }
    a = &list->v[list->n++];
    if (a->addr == NULL)
        a->addr = buf_new(32);
    buf_reset(a->addr);
    a->angle = angle;
    if (first == last) {
        /* "<>": an empty address at the place of the '>' */
        if (last < t->n)
            a->start = t->v[last].start;
        else
            a->start = last > 0 ? t->v[last - 1].end : 0;
        a->end = a->start;
        return;
    }
    a->start = t->v[first].start;
    a->end = t->v[last - 1].end;
    /* The external form: the tokens without white space and comments. */
    ext = buf_new(a->end - a->start + 1);
    for (i = first; i < last; i++)
        if (!tok_filler(&t->v[i]))
            buf_append(ext, s + t->v[i].start, t->v[i].end - t->v[i].start);
    addr_unquote(a->addr, buf_str(ext), buf_len(ext));
    buf_free(ext);
}

size_t rfc822_parse_addrs(struct rfc822_addrs *list, const char *value,
                          size_t len, size_t token_limit)
{
    struct toks t = {0};
    size_t i;
    size_t elem = 0;  /* first token of the current element */
    int in_angle = 0; /* inside <...> */
    size_t angle_first = 0;
    int had_angle = 0; /* the element had a <...> */

    list->n = 0;
    rfc822_lex(&t, value, len, token_limit);
    list->truncated = t.truncated;
    for (i = 0; i < t.n; i++) {
        const struct tok *k = &t.v[i];

        if (k->type != TOK_SPECIAL)
            continue;
        if (in_angle) {
            if (k->ch == ':') {
                /* the end of a source route "@a,@b:" */
                angle_first = i + 1;
            } else if (k->ch == '>') {
                rfc822_add(list, value, &t, angle_first, i, 1);
                in_angle = 0;
                had_angle = 1;
            }
            continue;
        }
        switch (k->ch) {
        case '<':
            if (!had_angle) {
                in_angle = 1;
                angle_first = i + 1;
            }
            break;
        case ':':
            /* A group name ends: its members follow. */
            if (!had_angle)
                elem = i + 1;
            break;
        case ',':
        case ';':
            if (!had_angle)
                rfc822_add(list, value, &t, elem, i, 0);
            elem = i + 1;
            had_angle = 0;
            break;
        default:
            break;
        }
    }
    if (in_angle)
        rfc822_add(list, value, &t, angle_first, t.n, 1);
    else if (!had_angle)
        rfc822_add(list, value, &t, elem, t.n, 0);
    mem_free(t.v);
    return list->n;
}

int rfc822_rewrite_addrs(struct buf *out, const char *value, size_t len,
                         size_t token_limit, rfc822_rewrite_fn fn, void *ctx)
{
    struct rfc822_addrs list;
    struct buf *addr = buf_new(64);
    size_t pos = 0;
    size_t i;
    int changed = 0;
    int ret;

    rfc822_addrs_init(&list);
    rfc822_parse_addrs(&list, value, len, token_limit);
    buf_reset(out);
    for (i = 0; i < list.n; i++) {
        struct rfc822_addr *a = &list.v[i];

        if (buf_len(a->addr) == 0)
            continue;
        buf_set(addr, buf_str(a->addr));
        /* An address holding a NUL cannot be passed as a C string. */
        if (memchr(buf_str(a->addr), 0, buf_len(a->addr)) != NULL)
            continue;
        ret = fn(addr, ctx);
        if (ret < 0) {
            changed = -1;
            break;
        }
        if (ret == 0 || buf_len(addr) == 0)
            continue;
        buf_append(out, value + pos, a->start - pos);
        addr_quote(out, buf_str(addr), buf_len(addr));
        pos = a->end;
        changed++;
    }
    if (changed >= 0)
        buf_append(out, value + pos, len - pos);
    rfc822_addrs_free(&list);
    buf_free(addr);
    return changed;
}

/* Can TEXT go into a phrase unquoted (atoms and single spaces)? */
static int rfc822_plain_phrase(const char *text)
{
    const unsigned char *p = (const unsigned char *) text;

    if (*p == 0 || *p == ' ')
        return 0;
    for (; *p; p++) {
        if (*p == ' ') {
            if (p[1] == ' ' || p[1] == 0)
                return 0;
            continue;
        }
        if (*p < 33 || *p == 127 || rfc822_special(*p))
            return 0;
    }
    return 1;
}

void rfc822_format_mailbox(struct buf *out, const char *phrase,
                           const char *addr)
{
    const char *p;

    if (phrase == NULL || *phrase == 0) {
        addr_quote(out, addr, strlen(addr));
        return;
    }
    if (rfc822_plain_phrase(phrase)) {
        buf_puts(out, phrase);
    } else {
        buf_putc(out, '"');
        for (p = phrase; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_putc(out, '\\');
            /* Line breaks would end the header. */
            buf_putc(out, (*p == '\r' || *p == '\n') ? ' ' : *p);
        }
        buf_putc(out, '"');
    }
    buf_puts(out, " <");
    addr_quote(out, addr, strlen(addr));
    buf_putc(out, '>');
}
