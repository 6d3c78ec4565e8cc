/*
 * attr.c - the IPC attribute protocol: lists of netstring name/value pairs
 * (see attr.h for the wire format).
 *
 * Called by every program that talks to another over a local socket.
 * Failures return -1 with a log-ready message in attr_error(); a peer's
 * bytes never cause a fatal error. Mistakes in the caller's own list
 * (unknown type code, bad name to print) are msg_panic.
 *
 * Reading is byte-driven from the stream buffer (stream_getc for length
 * digits and separators, stream_read_buf for content) and every length is
 * checked against the limits before any content is read, so a peer cannot
 * make us allocate more than the limits allow.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "attr.h"
#include "buf.h"
#include "mem.h"
#include "msg.h"
#include "str.h"
#include "stream.h"

static size_t attr_value_max = ATTR_VALUE_MAX_DEFAULT;
static size_t attr_total_max = ATTR_TOTAL_MAX_DEFAULT;

static struct buf *attr_err_text;
static int attr_err_code;

void attr_set_limits(size_t value_max, size_t total_max)
{
    attr_value_max = value_max ? value_max : ATTR_VALUE_MAX_DEFAULT;
    attr_total_max = total_max ? total_max : ATTR_TOTAL_MAX_DEFAULT;
}

const char *attr_error(void)
{
    return attr_err_text ? buf_str(attr_err_text) : "no error";
}

int attr_error_code(void)
{
    return attr_err_code;
}

static void attr_clear_error(void)
{
    if (attr_err_text == NULL)
        attr_err_text = buf_new(128);
    buf_reset(attr_err_text);
    attr_err_code = ATTR_ERR_NONE;
}

static int attr_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int attr_fail(int code, const char *fmt, ...)
{
    va_list ap;

    attr_clear_error();
    va_start(ap, fmt);
    buf_vprintf(attr_err_text, fmt, ap);
    va_end(ap);
    attr_err_code = code;
    return -1;
}

/* Names: 1 to ATTR_NAME_MAX bytes of a-z 0-9 _. */
static int attr_name_ok(const char *name, size_t len)
{
    size_t i;

    if (len == 0 || len > ATTR_NAME_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* ---- printing ----------------------------------------------------------- */

static int put_field(struct stream *s, const void *data, size_t len)
{
    if (stream_printf(s, "%zu:", len) < 0 || stream_write(s, data, len) < 0
        || stream_putc(s, ',') < 0)
        return -1;
    return 0;
}

int attr_vprint(struct stream *s, int flags, va_list ap)
{
    char num[32]; /* our own integers, not peer data */
    int type;

    attr_clear_error();
    while ((type = va_arg(ap, int)) != ATTR_T_END) {
        const char *name = va_arg(ap, const char *);
        const void *data;
        size_t len;
        int n;

        if (name == NULL || !attr_name_ok(name, strlen(name)))
            msg_panic("attr_print: bad attribute name \"%s\"",
                      name ? name : "(null)");
        switch (type) {
        case ATTR_T_STR:
            data = va_arg(ap, const char *);
            if (data == NULL)
                msg_panic("attr_print: null string for \"%s\"", name);
            len = strlen(data);
            break;
        case ATTR_T_INT:
            n = snprintf(num, sizeof(num), "%d", va_arg(ap, int));
            data = num;
            len = (size_t) n;
            break;
        case ATTR_T_LONG:
            n = snprintf(num, sizeof(num), "%ld", va_arg(ap, long));
            data = num;
            len = (size_t) n;
            break;
        case ATTR_T_DATA:
            data = va_arg(ap, const void *);
            len = va_arg(ap, size_t);
            if (data == NULL && len > 0)
                msg_panic("attr_print: null data for \"%s\"", name);
            if (data == NULL)
                data = "";
            break;
        default:
            msg_panic("attr_print: unknown type code %d for \"%s\"", type,
                      name);
        }
        if (put_field(s, name, strlen(name)) < 0 || put_field(s, data, len) < 0)
            return attr_fail(ATTR_ERR_IO, "attr_print: write error: %s",
                             stream_reason_text(s));
    }
    if (flags & ATTR_FLAG_MORE)
        return 0;
    if (stream_puts(s, "0:,") < 0 || stream_flush(s) < 0)
        return attr_fail(ATTR_ERR_IO, "attr_print: write error: %s",
                         stream_reason_text(s));
    return 0;
}

int attr_print(struct stream *s, int flags, ...)
{
    va_list ap;
    int ret;

    va_start(ap, flags);
    ret = attr_vprint(s, flags, ap);
    va_end(ap);
    return ret;
}

/* ---- scanning ----------------------------------------------------------- */

struct spec {
    int type;
    const char *name;
    void *dest;
    int seen;
};

struct scan {
    struct stream *s;
    size_t used;       /* bytes consumed by this call */
    struct buf *name;  /* current attribute name */
    struct buf *tmp;   /* integer text, skipped values */
    struct buf *shown; /* printable name for messages */
    struct buf *what;  /* "value of \"name\"" for messages */
};

/* The current name, printable, for messages. */
static const char *scan_name(struct scan *sc, struct buf *out)
{
    buf_reset(out);
    str_printable(out, buf_str(sc->name), buf_len(sc->name));
    return buf_str(out);
}

static int scan_io_error(struct scan *sc)
{
    if (stream_reason(sc->s) == STREAM_EOF) {
        if (sc->used == 0)
            return attr_fail(ATTR_ERR_CLOSED, "attr_scan: connection closed");
        return attr_fail(ATTR_ERR_PROTOCOL,
                         "attr_scan: premature end of input");
    }
    return attr_fail(ATTR_ERR_IO, "attr_scan: read error: %s",
                     stream_reason_text(sc->s));
}

static int scan_getc(struct scan *sc)
{
    int c = stream_getc(sc->s);

    if (c >= 0)
        sc->used++;
    return c;
}

/*
 * Read a field's length: "0", or a digit 1-9 and more digits, then ':'.
 * MAX bounds it; WHAT names the field in messages.
 */
static int scan_length(struct scan *sc, size_t max, const char *what,
                       size_t *lenp)
{
    size_t len = 0;
    int digits = 0;
    int c;

    for (;;) {
        if ((c = scan_getc(sc)) < 0)
            return scan_io_error(sc);
        if (c == ':')
            break;
        if (c < '0' || c > '9' || (digits == 1 && len == 0))
            return attr_fail(ATTR_ERR_PROTOCOL,
                             "attr_scan: bad length field for %s", what);
        len = len * 10 + (size_t) (c - '0');
        digits++;
        if (len > max)
            return attr_fail(ATTR_ERR_PROTOCOL,
                             "attr_scan: %s too long (limit %zu bytes)", what,
                             max);
    }
    if (digits == 0)
        return attr_fail(ATTR_ERR_PROTOCOL,
                         "attr_scan: bad length field for %s", what);
    if (sc->used > attr_total_max || len + 1 > attr_total_max - sc->used)
        return attr_fail(ATTR_ERR_PROTOCOL,
                         "attr_scan: attribute list too long (limit %zu "
                         "bytes)",
                         attr_total_max);
    *lenp = len;
    return 0;
}

/* Read LEN content bytes into OUT (reset first) and the closing ','. */
static int scan_content(struct scan *sc, struct buf *out, size_t len,
                        const char *what)
{
    int c;

    buf_reset(out);
    if (stream_read_buf(sc->s, out, len) < 0) {
        if (stream_reason(sc->s) == STREAM_TOOLONG)
            return attr_fail(ATTR_ERR_PROTOCOL, "attr_scan: %s too long", what);
        return scan_io_error(sc);
    }
    sc->used += len;
    if ((c = scan_getc(sc)) < 0)
        return scan_io_error(sc);
    if (c != ',')
        return attr_fail(ATTR_ERR_PROTOCOL, "attr_scan: missing ',' after %s",
                         what);
    return 0;
}

/* Strict decimal integer within [MIN, MAX]. */
static int parse_integer(const char *p, size_t len, long min, long max,
                         long *out)
{
    int neg = 0;
    unsigned long v = 0;
    unsigned long lim;
    size_t i = 0;

    if (len > 0 && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len || (p[i] == '0' && (len - i > 1 || neg)))
        return -1;
    lim = neg ? (unsigned long) -(min + 1) + 1 : (unsigned long) max;
    for (; i < len; i++) {
        unsigned d;

        if (p[i] < '0' || p[i] > '9')
            return -1;
        d = (unsigned) (p[i] - '0');
        if (v > (lim - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == 0 ? 0 : -(long) (v - 1) - 1;
    else
        *out = (long) v;
    return 0;
}

static int scan_value(struct scan *sc, struct spec *sp)
{
    struct buf *shown = sc->shown;
    struct buf *what = sc->what;
    struct buf *dest;
    size_t max = attr_value_max;
    size_t len;
    long v;
    int ret = -1;

    buf_setf(what, "value of \"%s\"", scan_name(sc, shown));
    switch (sp->type) {
    case ATTR_T_STR:
    case ATTR_T_DATA:
        dest = sp->dest;
        if (dest->limit && dest->limit < max)
            max = dest->limit;
        if (scan_length(sc, max, buf_str(what), &len) < 0
            || scan_content(sc, dest, len, buf_str(what)) < 0)
            break;
        if (sp->type == ATTR_T_STR && memchr(buf_str(dest), 0, len)) {
            attr_fail(ATTR_ERR_PROTOCOL,
                      "attr_scan: NUL byte in string value of \"%s\"",
                      buf_str(shown));
            break;
        }
        ret = 0;
        break;
    case ATTR_T_INT:
    case ATTR_T_LONG:
        if (scan_length(sc, 24, buf_str(what), &len) < 0
            || scan_content(sc, sc->tmp, len, buf_str(what)) < 0)
            break;
        if (parse_integer(buf_str(sc->tmp), len,
                          sp->type == ATTR_T_INT ? INT_MIN : LONG_MIN,
                          sp->type == ATTR_T_INT ? INT_MAX : LONG_MAX, &v)
            < 0) {
            attr_fail(ATTR_ERR_PROTOCOL,
                      "attr_scan: bad integer value for \"%s\"",
                      buf_str(shown));
            break;
        }
        if (sp->type == ATTR_T_INT)
            *(int *) sp->dest = (int) v;
        else
            *(long *) sp->dest = v;
        ret = 0;
        break;
    }
    return ret;
}

/* Read and drop one value (ATTR_FLAG_EXTRA). */
static int scan_skip(struct scan *sc)
{
    size_t len;

    if (scan_length(sc, attr_value_max, "skipped value", &len) < 0)
        return -1;
    return scan_content(sc, sc->tmp, len, "skipped value");
}

static int scan_list(struct scan *sc, int flags, struct spec *specs,
                     size_t nspec)
{
    struct buf *shown = sc->shown;
    size_t found = 0;
    size_t len;
    size_t i;
    int ret = -1;

    for (;;) {
        struct spec *sp = NULL;

        if ((flags & ATTR_FLAG_MORE) && found == nspec)
            break;
        if (scan_length(sc, ATTR_NAME_MAX, "attribute name", &len) < 0
            || scan_content(sc, sc->name, len, "attribute name") < 0)
            goto out;
        if (len == 0) {
            if (flags & ATTR_FLAG_MORE) {
                attr_fail(ATTR_ERR_PROTOCOL,
                          "attr_scan: list ended after %zu of %zu "
                          "attributes",
                          found, nspec);
                goto out;
            }
            break;
        }
        if (!attr_name_ok(buf_str(sc->name), len)) {
            attr_fail(ATTR_ERR_PROTOCOL, "attr_scan: bad attribute name \"%s\"",
                      scan_name(sc, shown));
            goto out;
        }
        for (i = 0; i < nspec; i++) {
            if (strcmp(specs[i].name, buf_str(sc->name)) == 0) {
                sp = &specs[i];
                break;
            }
        }
        if (sp == NULL) {
            if ((flags & ATTR_FLAG_EXTRA) && !(flags & ATTR_FLAG_MORE)) {
                if (scan_skip(sc) < 0)
                    goto out;
                continue;
            }
            attr_fail(ATTR_ERR_PROTOCOL,
                      "attr_scan: unexpected attribute \"%s\"",
                      scan_name(sc, shown));
            goto out;
        }
        if (sp->seen) {
            attr_fail(ATTR_ERR_PROTOCOL,
                      "attr_scan: duplicate attribute \"%s\"",
                      scan_name(sc, shown));
            goto out;
        }
        if (scan_value(sc, sp) < 0)
            goto out;
        sp->seen = 1;
        found++;
    }
    if (!(flags & (ATTR_FLAG_MISSING | ATTR_FLAG_MORE))) {
        for (i = 0; i < nspec; i++) {
            if (!specs[i].seen) {
                attr_fail(ATTR_ERR_PROTOCOL,
                          "attr_scan: missing attribute \"%s\"", specs[i].name);
                goto out;
            }
        }
    }
    if (!(flags & (ATTR_FLAG_MORE | ATTR_FLAG_FOLLOW))
        && stream_pending(sc->s) > 0) {
        attr_fail(ATTR_ERR_PROTOCOL,
                  "attr_scan: unexpected data after end of attribute list");
        goto out;
    }
    ret = (int) found;
out:
    return ret;
}

/* Fetch a destination with the type it was passed as. */
static void *next_dest(int type, va_list *ap)
{
    switch (type) {
    case ATTR_T_STR:
    case ATTR_T_DATA:
        return va_arg(*ap, struct buf *);
    case ATTR_T_INT:
        return va_arg(*ap, int *);
    case ATTR_T_LONG:
        return va_arg(*ap, long *);
    default:
        msg_panic("attr_scan: unknown type code %d", type);
    }
}

int attr_vscan(struct stream *s, int flags, va_list ap)
{
    struct spec *specs;
    struct scan sc;
    size_t nspec = 0;
    size_t i;
    va_list count;
    va_list args;
    int type;
    int ret;

    attr_clear_error();
    va_copy(count, ap);
    while ((type = va_arg(count, int)) != ATTR_T_END) {
        (void) va_arg(count, const char *);
        (void) next_dest(type, &count);
        nspec++;
    }
    va_end(count);
    specs = mem_calloc(nspec ? nspec : 1, sizeof(*specs));
    va_copy(args, ap);
    for (i = 0; i < nspec; i++) {
        specs[i].type = va_arg(args, int);
        specs[i].name = va_arg(args, const char *);
        specs[i].dest = next_dest(specs[i].type, &args);
        if (specs[i].name == NULL || specs[i].dest == NULL)
            msg_panic("attr_scan: null name or destination in list");
    }
    va_end(args);
    sc.s = s;
    sc.used = 0;
    sc.name = buf_new(ATTR_NAME_MAX + 1);
    sc.tmp = buf_new(64);
    sc.shown = buf_new(ATTR_NAME_MAX + 8);
    sc.what = buf_new(ATTR_NAME_MAX + 32);
    ret = scan_list(&sc, flags, specs, nspec);
    buf_free(sc.name);
    buf_free(sc.tmp);
    buf_free(sc.shown);
    buf_free(sc.what);
    mem_free(specs);
    return ret;
}

int attr_scan(struct stream *s, int flags, ...)
{
    va_list ap;
    int ret;

    va_start(ap, flags);
    ret = attr_vscan(s, flags, ap);
    va_end(ap);
    return ret;
}

/* ---- in memory ---------------------------------------------------------- */

int attr_build(struct buf *out, int flags, ...)
{
    struct stream *s = stream_open_mem(NULL, 0, out);
    va_list ap;
    int ret;

    va_start(ap, flags);
    ret = attr_vprint(s, flags, ap);
    va_end(ap);
    if (stream_close(s) < 0 && ret == 0)
        ret = attr_fail(ATTR_ERR_IO, "attr_print: write error");
    return ret;
}

int attr_parse(const void *data, size_t len, int flags, ...)
{
    struct stream *s = stream_open_mem(data, len, NULL);
    va_list ap;
    int ret;

    va_start(ap, flags);
    ret = attr_vscan(s, flags, ap);
    va_end(ap);
    stream_free(s);
    return ret;
}

/* ---- framing for event-driven readers ----------------------------------- */

/*
 * Walk the fields of DATA without copying: the same length and separator
 * rules as scan_length/scan_content, the same limits. Content is not
 * checked (names, integers): attr_parse does that on the framed list.
 */
long attr_frame_len(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t pos = 0;
    int is_name = 1;

    for (;;) {
        size_t flen = 0;
        size_t max = is_name ? ATTR_NAME_MAX : attr_value_max;
        int digits = 0;

        for (;;) {
            unsigned char c;

            if (pos >= len)
                return 0;
            c = p[pos++];
            if (c == ':')
                break;
            if (c < '0' || c > '9' || (digits == 1 && flen == 0))
                return -1;
            flen = flen * 10 + (size_t) (c - '0');
            digits++;
            if (flen > max)
                return -1;
        }
        if (digits == 0)
            return -1;
        if (pos > attr_total_max || flen + 1 > attr_total_max - pos)
            return -1;
        if (len - pos < flen + 1)
            return 0;
        pos += flen;
        if (p[pos++] != ',')
            return -1;
        if (is_name && flen == 0)
            return (long) pos;
        is_name = !is_name;
    }
}
