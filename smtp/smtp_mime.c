/*
 * smtp_mime.c - MIME conversion of 8-bit mail to 7 bit for servers that
 * do not offer 8BITMIME (RFC 6152 section 3, RFC 2045, RFC 2046), done on
 * the fly while smtp_proto.c sends the message.
 *
 * The message is walked twice: a scan pass (no output) finds whether the
 * message is 8-bit at all and which leaf parts hold 8-bit bytes; the
 * conversion pass then walks the same structure again (the parser is
 * deterministic, so entity numbers match) and writes:
 *   - headers as they are (8-bit bytes in headers cannot be converted);
 *   - each leaf part whose Content-Transfer-Encoding is 8bit or binary,
 *     or absent/7bit while its body has 8-bit bytes, re-encoded as
 *     quoted-printable with its Content-Transfer-Encoding header changed
 *     (or added: a message without MIME headers also gets MIME-Version and
 *     "Content-Type: text/plain; charset=unknown-8bit", RFC 1428);
 *   - multipart and message/rfc822 entities labelled 8bit or binary
 *     relabelled 7bit (their content is converted part by part);
 *   - everything else (base64 and quoted-printable parts, preambles,
 *     epilogues) as it is.
 * Containers nested deeper than mime_nesting_limit are not parsed (they
 * go as they are); the scan reports them, and the caller refuses to
 * convert such a message, as Postfix does.
 * Boundaries are compared on at most mime_boundary_length_limit bytes.
 *
 * Input is content lines, possibly in pieces (queue-file PIECE records);
 * memory is bounded: one header (SMTP_MIME_HEADER_MAX, longer ones go out
 * unparsed), the start of a line until it can be told (a header name or
 * a boundary), one output line, the boundary stack, one byte per entity.
 *
 * Errors: none of its own; a callback's negative return value stops the
 * pass and is handed back to the caller.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "mem.h"
#include "params.h"
#include "rfc822.h"
#include "smtp.h"

#define SMTP_MIME_HEADER_MAX (64 * 1024)
#define SMTP_MIME_LEAD_MAX   1024 /* most held to see a header's colon */

enum { CT_LEAF, CT_MULTIPART, CT_RFC822 };
enum { CTE_NONE, CTE_7BIT, CTE_8BIT, CTE_BINARY, CTE_QP, CTE_B64, CTE_OTHER };
enum { DO_KEEP, DO_QP, DO_7BIT };
enum { MODE_HEAD, MODE_RAW, MODE_QP };
enum { LINE_RAW, LINE_QP, LINE_HDR };

struct smtp_mime_level {
    struct buf *boundary; /* NULL: a message/rfc822 level */
    int digest;           /* multipart/digest: parts default to rfc822 */
};

struct smtp_mime {
    const struct smtp_mime_out *out; /* NULL while scanning */
    struct buf *eight;               /* per entity: 1 = 8-bit body bytes */
    int any8;                        /* the scan found 8-bit content */
    int too_deep;                    /* ... containers past the limit */
    struct smtp_mime_level *lv;      /* the enclosing containers */
    size_t depth, size;
    /* the current entity */
    size_t index;
    int mode, ctype, digest, cte, message, ct_seen, cte_seen, mv_seen;
    struct buf *boundary;
    struct buf **held; /* CTE headers waiting for the Content-Type */
    size_t nheld;
    /* the current line */
    int line_start, kind, spill;
    struct buf *hdr;
    struct buf *lead; /* the start of a line not yet told */
    /* quoted-printable output */
    struct buf *qline;
    int qpend, qsoft;
    struct buf *tmp;
};

static int smtp_mime_text(struct smtp_mime *m, const char *data, size_t len,
                          int flags)
{
    return m->out ? m->out->text(m->out->ctx, data, len, flags) : 0;
}

static int smtp_mime_header_out(struct smtp_mime *m, struct buf *hdr, int flags)
{
    if (m->out == NULL)
        return 0;
    if (m->depth == 0 && m->message)
        flags |= SMTP_MIME_PRIMARY;
    return m->out->header(m->out->ctx, hdr, flags);
}

static int smtp_mime_new_header(struct smtp_mime *m, const char *text)
{
    buf_set(m->tmp, text);
    return smtp_mime_header_out(m, m->tmp, SMTP_MIME_NEW);
}

/* Start a new entity: MESSAGE when it has message headers. */
static void smtp_mime_entity(struct smtp_mime *m, int ctype, int message)
{
    m->index++;
    if (m->out == NULL)
        buf_putc(m->eight, 0);
    m->mode = MODE_HEAD;
    m->ctype = ctype;
    m->digest = 0;
    m->cte = CTE_NONE;
    m->message = message;
    m->ct_seen = m->cte_seen = m->mv_seen = 0;
    buf_reset(m->boundary);
}

struct smtp_mime *smtp_mime_new(const struct smtp_mime_out *out)
{
    struct smtp_mime *m = mem_calloc(1, sizeof(*m));

    m->out = out;
    m->eight = buf_new(16);
    m->boundary = buf_new(64);
    m->hdr = buf_new(256);
    m->lead = buf_new(64);
    m->qline = buf_new(80);
    m->tmp = buf_new(64);
    m->line_start = 1;
    m->qpend = -1;
    m->index = (size_t) -1;
    smtp_mime_entity(m, CT_LEAF, 1);
    return m;
}

static void smtp_mime_pop(struct smtp_mime *m, size_t depth)
{
    while (m->depth > depth) {
        m->depth--;
        if (m->lv[m->depth].boundary)
            buf_free(m->lv[m->depth].boundary);
    }
}

static void smtp_mime_drop_held(struct smtp_mime *m)
{
    for (size_t i = 0; i < m->nheld; i++)
        buf_free(m->held[i]);
    m->nheld = 0;
}

void smtp_mime_free(struct smtp_mime *m)
{
    if (m == NULL)
        return;
    smtp_mime_pop(m, 0);
    smtp_mime_drop_held(m);
    mem_free(m->held);
    mem_free(m->lv);
    buf_free(m->eight);
    buf_free(m->boundary);
    buf_free(m->hdr);
    buf_free(m->lead);
    buf_free(m->qline);
    buf_free(m->tmp);
    mem_free(m);
}

int smtp_mime_eight(const struct smtp_mime *m)
{
    return m->any8;
}

int smtp_mime_too_deep(const struct smtp_mime *m)
{
    return m->too_deep;
}

void smtp_mime_rewind(struct smtp_mime *m, const struct smtp_mime_out *out)
{
    smtp_mime_pop(m, 0);
    smtp_mime_drop_held(m);
    buf_reset(m->hdr);
    buf_reset(m->lead);
    buf_reset(m->qline);
    m->out = out;
    m->line_start = 1;
    m->spill = 0;
    m->qpend = -1;
    m->qsoft = 0;
    m->index = (size_t) -1;
    smtp_mime_entity(m, CT_LEAF, 1);
}

/* ---- header values ------------------------------------------------------ */

static const char *smtp_mime_skip(const char *p, const char *end)
{
    while (p < end) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            p++;
        } else if (*p == '(') {
            int nest = 0;

            for (; p < end; p++) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                else if (*p == '(')
                    nest++;
                else if (*p == ')' && --nest == 0) {
                    p++;
                    break;
                }
            }
        } else {
            break;
        }
    }
    return p;
}

/* A MIME token (RFC 2045 5.1) at P: its end. */
static const char *smtp_mime_token(const char *p, const char *end)
{
    while (p < end && (unsigned char) *p > ' ' && (unsigned char) *p < 127
           && !strchr("()<>@,;:\\\"/[]?=", *p))
        p++;
    return p;
}

static int smtp_mime_word(const char *p, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(p, word, len) == 0;
}

/* Content-Type: the type and the boundary parameter. */
static void smtp_mime_content_type(struct smtp_mime *m, const char *v,
                                   size_t len)
{
    const char *end = v + len, *p = smtp_mime_skip(v, end), *t, *s = NULL;
    size_t tlen, slen = 0;

    t = p;
    p = smtp_mime_token(p, end);
    tlen = (size_t) (p - t);
    p = smtp_mime_skip(p, end);
    if (p < end && *p == '/') {
        p = smtp_mime_skip(p + 1, end);
        s = p;
        p = smtp_mime_token(p, end);
        slen = (size_t) (p - s);
    }
    if (smtp_mime_word(t, tlen, "multipart")) {
        m->ctype = CT_MULTIPART;
        m->digest = s && smtp_mime_word(s, slen, "digest");
    } else if (smtp_mime_word(t, tlen, "message") && s
               && smtp_mime_word(s, slen, "rfc822")) {
        m->ctype = CT_RFC822;
    } else {
        m->ctype = CT_LEAF;
    }
    /* parameters */
    for (;;) {
        const char *a;
        size_t alen;

        p = smtp_mime_skip(p, end);
        while (p < end && *p != ';')
            p++;
        if (p >= end)
            break;
        p = smtp_mime_skip(p + 1, end);
        a = p;
        p = smtp_mime_token(p, end);
        alen = (size_t) (p - a);
        p = smtp_mime_skip(p, end);
        if (p >= end || *p != '=')
            continue;
        p = smtp_mime_skip(p + 1, end);
        if (!smtp_mime_word(a, alen, "boundary")) {
            if (p < end && *p == '"')
                for (p++; p < end && *p != '"'; p++)
                    if (*p == '\\' && p + 1 < end)
                        p++;
            continue;
        }
        buf_reset(m->boundary);
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                buf_putc(m->boundary, *p);
            }
        } else {
            const char *b = p;

            p = smtp_mime_token(p, end);
            buf_append(m->boundary, b, (size_t) (p - b));
        }
        if (var_mime_boundary_length_limit > 0
            && buf_len(m->boundary) > (size_t) var_mime_boundary_length_limit)
            buf_truncate(m->boundary, (size_t) var_mime_boundary_length_limit);
    }
}

static int smtp_mime_encoding(const char *v, size_t len)
{
    const char *end = v + len, *p = smtp_mime_skip(v, end), *t = p;
    size_t n;

    p = smtp_mime_token(p, end);
    n = (size_t) (p - t);
    if (smtp_mime_word(t, n, "7bit"))
        return CTE_7BIT;
    if (smtp_mime_word(t, n, "8bit"))
        return CTE_8BIT;
    if (smtp_mime_word(t, n, "binary"))
        return CTE_BINARY;
    if (smtp_mime_word(t, n, "quoted-printable"))
        return CTE_QP;
    if (smtp_mime_word(t, n, "base64"))
        return CTE_B64;
    return CTE_OTHER;
}

/* ---- decisions ---------------------------------------------------------- */

/* May the current entity's content be parsed as a container? */
static int smtp_mime_container(const struct smtp_mime *m)
{
    if (m->ctype == CT_LEAF || m->depth >= (size_t) var_mime_nesting_limit)
        return 0;
    if (m->cte != CTE_NONE && m->cte != CTE_7BIT && m->cte != CTE_8BIT
        && m->cte != CTE_BINARY)
        return 0;
    return m->ctype == CT_RFC822 || buf_len(m->boundary) > 0;
}

static int smtp_mime_decide(const struct smtp_mime *m)
{
    int eight;

    if (m->out == NULL)
        return DO_KEEP;
    if (smtp_mime_container(m))
        return m->cte == CTE_8BIT || m->cte == CTE_BINARY ? DO_7BIT : DO_KEEP;
    if (m->ctype != CT_LEAF)
        return DO_KEEP; /* beyond the limit, or not a valid container */
    if (m->cte == CTE_8BIT || m->cte == CTE_BINARY)
        return DO_QP;
    eight = m->index < buf_len(m->eight) && buf_str(m->eight)[m->index];
    return (m->cte == CTE_NONE || m->cte == CTE_7BIT) && eight ? DO_QP
                                                               : DO_KEEP;
}

static int smtp_mime_cte_out(struct smtp_mime *m, int d)
{
    return smtp_mime_new_header(m, d == DO_QP
                                       ? "Content-Transfer-Encoding: "
                                         "quoted-printable"
                                       : "Content-Transfer-Encoding: 7bit");
}

/* One complete header of the current entity. */
static int smtp_mime_header(struct smtp_mime *m, struct buf *hdr)
{
    const char *p = buf_str(hdr);
    size_t n = rfc822_header_name(p, buf_len(hdr));
    size_t v = rfc822_header_value(p, buf_len(hdr));
    int d;

    if (n > 0 && v > 0 && smtp_mime_word(p, n, "content-type")) {
        if (!m->ct_seen)
            smtp_mime_content_type(m, p + v, buf_len(hdr) - v);
        m->ct_seen = 1;
    } else if (n > 0 && smtp_mime_word(p, n, "mime-version")) {
        m->mv_seen = 1;
    } else if (n > 0 && v > 0
               && smtp_mime_word(p, n, "content-transfer-encoding")) {
        if (!m->cte_seen) {
            m->cte = smtp_mime_encoding(p + v, buf_len(hdr) - v);
            if (m->cte == CTE_8BIT || m->cte == CTE_BINARY)
                m->any8 = 1;
        }
        if (!m->ct_seen) {
            struct buf *h = buf_new(buf_len(hdr) + 1);

            buf_append(h, p, buf_len(hdr));
            m->held = mem_realloc(m->held, (m->nheld + 1) * sizeof(*m->held));
            m->held[m->nheld++] = h;
            m->cte_seen = 1;
            return 0;
        }
        d = smtp_mime_decide(m);
        if (d != DO_KEEP) {
            int first = !m->cte_seen;

            m->cte_seen = 1;
            return first ? smtp_mime_cte_out(m, d) : 0;
        }
        m->cte_seen = 1;
    }
    return smtp_mime_header_out(m, hdr, 0);
}

static int smtp_mime_flush_header(struct smtp_mime *m)
{
    int rc = 0;

    if (buf_len(m->hdr) > 0)
        rc = smtp_mime_header(m, m->hdr);
    buf_reset(m->hdr);
    m->spill = 0;
    return rc;
}

/* The header block of the current entity ended (BLANK: by an empty line). */
static int smtp_mime_end_headers(struct smtp_mime *m, int blank)
{
    int d, rc = 0, added = 0;

    if ((rc = smtp_mime_flush_header(m)) < 0)
        return rc;
    if (m->ctype != CT_LEAF && m->depth >= (size_t) var_mime_nesting_limit)
        m->too_deep = 1;
    d = smtp_mime_decide(m);
    for (size_t i = 0; i < m->nheld && rc >= 0; i++) {
        if (d == DO_KEEP)
            rc = smtp_mime_header_out(m, m->held[i], 0);
        else if (i == 0)
            rc = smtp_mime_cte_out(m, d);
    }
    smtp_mime_drop_held(m);
    if (rc < 0)
        return rc;
    if (d == DO_QP && !m->cte_seen) {
        if (m->message && !m->mv_seen
            && (rc = smtp_mime_new_header(m, "MIME-Version: 1.0")) < 0)
            return rc;
        if (m->message && !m->ct_seen
            && (rc = smtp_mime_new_header(m, "Content-Type: text/plain; "
                                             "charset=unknown-8bit"))
                   < 0)
            return rc;
        if ((rc = smtp_mime_cte_out(m, d)) < 0)
            return rc;
        added = 1;
    }
    if (!blank && added
        && (rc = smtp_mime_text(
                m, "", 0, SMTP_MIME_START | SMTP_MIME_END | SMTP_MIME_NEW))
               < 0)
        return rc;
    if (smtp_mime_container(m)) {
        if (m->depth == m->size) {
            m->size = m->size ? 2 * m->size : 4;
            m->lv = mem_realloc(m->lv, m->size * sizeof(*m->lv));
        }
        if (m->ctype == CT_MULTIPART) {
            struct buf *b = buf_new(buf_len(m->boundary) + 1);

            buf_append(b, buf_str(m->boundary), buf_len(m->boundary));
            m->lv[m->depth].boundary = b;
            m->lv[m->depth].digest = m->digest;
            m->depth++;
            m->mode = MODE_RAW; /* the preamble */
        } else {
            m->lv[m->depth].boundary = NULL;
            m->lv[m->depth].digest = 0;
            m->depth++;
            smtp_mime_entity(m, CT_LEAF, 1);
        }
        return 0;
    }
    m->mode = d == DO_QP ? MODE_QP : MODE_RAW;
    return 0;
}

/* Does LINE start with a boundary? Its level + 1 (*CLOSE set), or 0. */
static size_t smtp_mime_boundary(const struct smtp_mime *m, const char *line,
                                 size_t len, int *close)
{
    if (len < 3 || line[0] != '-' || line[1] != '-')
        return 0;
    for (size_t k = m->depth; k-- > 0;) {
        const struct buf *b = m->lv[k].boundary;
        size_t n = b ? buf_len(b) : 0;

        if (n == 0 || len < n + 2 || memcmp(line + 2, buf_str(b), n) != 0)
            continue;
        *close = len >= n + 4 && line[n + 2] == '-' && line[n + 3] == '-';
        return k + 1;
    }
    return 0;
}

/* ---- quoted-printable --------------------------------------------------- */

static int smtp_mime_qp_line(struct smtp_mime *m, int soft)
{
    int rc;

    if (soft)
        buf_putc(m->qline, '=');
    rc = smtp_mime_text(m, buf_str(m->qline), buf_len(m->qline),
                        SMTP_MIME_START | SMTP_MIME_END | SMTP_MIME_QP);
    buf_reset(m->qline);
    m->qsoft = soft;
    return rc;
}

/* Write byte C; LAST: it ends its line. */
static int smtp_mime_qp_emit(struct smtp_mime *m, int c, int last)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t limit = last ? 76 : 75;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        char tok[3];
        size_t n = 1;
        int enc = c == '=' || c < 32 || c > 126;

        if (c == ' ' || c == '\t')
            enc = last;
        if (c == '-' && m->qsoft && buf_len(m->qline) == 0)
            enc = 1; /* never a boundary look-alike after a soft break */
        if (enc) {
            tok[0] = '=';
            tok[1] = hex[(c >> 4) & 15];
            tok[2] = hex[c & 15];
            n = 3;
        } else {
            tok[0] = (char) c;
        }
        if (pass == 0 && buf_len(m->qline) + n > limit) {
            int rc = smtp_mime_qp_line(m, 1);

            if (rc < 0)
                return rc;
            continue;
        }
        buf_append(m->qline, tok, n);
        return 0;
    }
    return 0;
}

static int smtp_mime_qp(struct smtp_mime *m, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (m->qpend >= 0) {
            int rc = smtp_mime_qp_emit(m, m->qpend, 0);

            if (rc < 0)
                return rc;
        }
        m->qpend = (unsigned char) data[i];
    }
    return 0;
}

static int smtp_mime_qp_end(struct smtp_mime *m)
{
    int rc = 0;

    if (m->qpend >= 0)
        rc = smtp_mime_qp_emit(m, m->qpend, 1);
    m->qpend = -1;
    if (rc < 0)
        return rc;
    return smtp_mime_qp_line(m, 0);
}

/* ---- lines -------------------------------------------------------------- */

/* Write a spilled (over-long) header as text, lines split at LF. */
static int smtp_mime_spill(struct smtp_mime *m)
{
    const char *p = buf_str(m->hdr);
    size_t start = 0, n = buf_len(m->hdr);
    int rc = 0;

    for (size_t i = 0; i <= n && rc >= 0; i++) {
        if (i == n)
            rc = smtp_mime_text(m, p + start, n - start, SMTP_MIME_START);
        else if (p[i] == '\n') {
            rc = smtp_mime_text(m, p + start, i - start,
                                SMTP_MIME_START | SMTP_MIME_END);
            start = i + 1;
        }
    }
    buf_reset(m->hdr);
    m->spill = 1;
    return rc;
}

/* Decide what the line starting with DATA is; may end header blocks. */
static int smtp_mime_line_start(struct smtp_mime *m, const char *data,
                                size_t len, int end)
{
    size_t k;
    int close = 0, rc;

    if (m->depth > 0 && (k = smtp_mime_boundary(m, data, len, &close)) > 0) {
        if (m->mode == MODE_HEAD && (rc = smtp_mime_end_headers(m, 0)) < 0)
            return rc;
        smtp_mime_pop(m, k);
        if (close)
            m->mode = MODE_RAW; /* the epilogue */
        else
            smtp_mime_entity(m, m->lv[k - 1].digest ? CT_RFC822 : CT_LEAF, 0);
        m->kind = LINE_RAW;
        return 0;
    }
    while (m->mode == MODE_HEAD) {
        if (len > 0 && (data[0] == ' ' || data[0] == '\t')
            && (buf_len(m->hdr) > 0 || m->spill)) {
            m->kind = m->spill ? LINE_RAW : LINE_HDR;
            if (!m->spill)
                buf_putc(m->hdr, '\n');
            return 0;
        }
        if ((rc = smtp_mime_flush_header(m)) < 0)
            return rc;
        if (rfc822_header_name(data, len) > 0) {
            m->kind = LINE_HDR;
            return 0;
        }
        if (len == 0 && end) {
            if ((rc = smtp_mime_end_headers(m, 1)) < 0)
                return rc;
            m->kind = LINE_RAW;
            return 0;
        }
        if ((rc = smtp_mime_end_headers(m, 0)) < 0)
            return rc;
    }
    m->kind = m->mode == MODE_QP ? LINE_QP : LINE_RAW;
    return 0;
}

/*
 * Can the start of a line (P, N bytes, more to come) not be told yet: a
 * possible boundary, or a header line whose colon has not come yet?
 */
static int smtp_mime_undecided(const struct smtp_mime *m, const char *p,
                               size_t n)
{
    size_t longest = 0;

    if (n == 0)
        return 1;
    for (size_t k = 0; k < m->depth; k++)
        if (m->lv[k].boundary && buf_len(m->lv[k].boundary) > longest)
            longest = buf_len(m->lv[k].boundary);
    if (longest > 0 && n < longest + 4 && p[0] == '-' && (n < 2 || p[1] == '-'))
        return 1;
    return m->mode == MODE_HEAD && p[0] != ' ' && p[0] != '\t'
           && n < SMTP_MIME_LEAD_MAX && memchr(p, ':', n) == NULL;
}

static int smtp_mime_feed_line(struct smtp_mime *m, const char *data,
                               size_t len, int end)
{
    int rc;

    if (m->line_start && (rc = smtp_mime_line_start(m, data, len, end)) < 0)
        return rc;
    switch (m->kind) {
    case LINE_HDR:
        if (buf_len(m->hdr) + len > SMTP_MIME_HEADER_MAX) {
            if ((rc = smtp_mime_spill(m)) < 0)
                return rc;
            m->kind = LINE_RAW;
            rc = smtp_mime_text(m, data, len, end ? SMTP_MIME_END : 0);
            break;
        }
        buf_append(m->hdr, data, len);
        rc = 0;
        break;
    case LINE_QP:
        rc = smtp_mime_qp(m, data, len);
        if (rc >= 0 && end)
            rc = smtp_mime_qp_end(m);
        break;
    default:
        if (m->out == NULL && m->mode != MODE_HEAD) {
            for (size_t i = 0; i < len; i++) {
                if ((unsigned char) data[i] >= 128) {
                    m->any8 = 1;
                    if (m->index < buf_len(m->eight))
                        m->eight->data[m->index] = 1;
                    break;
                }
            }
        }
        rc = smtp_mime_text(m, data, len,
                            (m->line_start ? SMTP_MIME_START : 0)
                                | (end ? SMTP_MIME_END : 0));
        break;
    }
    m->line_start = end;
    return rc;
}

int smtp_mime_feed(struct smtp_mime *m, const char *data, size_t len, int end)
{
    int rc;

    if (!m->line_start
        || (buf_len(m->lead) == 0
            && (end || !smtp_mime_undecided(m, data, len))))
        return smtp_mime_feed_line(m, data, len, end);
    /* hold the start of the line until it can be told what it is */
    buf_append(m->lead, data, len);
    if (!end && smtp_mime_undecided(m, buf_str(m->lead), buf_len(m->lead)))
        return 0;
    rc = smtp_mime_feed_line(m, buf_str(m->lead), buf_len(m->lead), end);
    buf_reset(m->lead);
    return rc;
}

int smtp_mime_finish(struct smtp_mime *m)
{
    int rc = 0;

    if (buf_len(m->lead) > 0) {
        rc = smtp_mime_feed_line(m, buf_str(m->lead), buf_len(m->lead), 0);
        buf_reset(m->lead);
        if (rc < 0)
            return rc;
    }
    if (!m->line_start) {
        /* the last line had no end: end it */
        if (m->kind == LINE_QP)
            rc = smtp_mime_qp_end(m);
        else if (m->kind == LINE_RAW)
            rc = smtp_mime_text(m, "", 0, SMTP_MIME_END);
        m->line_start = 1;
        if (rc < 0)
            return rc;
    }
    if (m->mode == MODE_HEAD)
        rc = smtp_mime_end_headers(m, 0);
    return rc;
}
