/*
 * record.c - typed, length-prefixed records (see record.h for the byte
 * format).
 *
 * Called by lib/queue_file.c for every queue file and status log, by the
 * fuzz target and by anything that streams records over a connection.
 * Errors: -1 with a REC_ERR_* reason and a message kept in the reader or
 * writer; a programming error of the writer's caller is a msg_panic.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"
#include "msg.h"
#include "record.h"
#include "stream.h"

#define REC_LIMIT_DEFAULT (1024 * 1024)
#define REC_LEN_MAX       0xffffffffULL
#define REC_VARINT_MAX    5

/* ---- the type table --------------------------------------------------- */

enum rec_shape {
    SH_VERSION, /* REC_VERSION_TEXT */
    SH_EMPTY,   /* no data */
    SH_INT,     /* 8-byte integer */
    SH_DSN_RET, /* 8-byte integer, FULL or HDRS */
    SH_SIZE,    /* struct rec_size */
    SH_TEXT,    /* any bytes */
    SH_NONUL,   /* any bytes but NUL */
    SH_RCPT,    /* RCPT fields */
    SH_STATUS,  /* STATUS fields */
    SH_ATTR,    /* name=value */
};

struct rec_type_info {
    int type;
    const char *name;
    enum rec_shape shape;
};

static const struct rec_type_info rec_types[] = {
    {REC_VERSION, "version", SH_VERSION},
    {REC_SIZE, "size", SH_SIZE},
    {REC_TIME, "time", SH_INT},
    {REC_WARN, "warn", SH_INT},
    {REC_FLAGS, "flags", SH_INT},
    {REC_SENDER, "sender", SH_NONUL},
    {REC_RCPT, "rcpt", SH_RCPT},
    {REC_DSN_RET, "dsn_ret", SH_DSN_RET},
    {REC_DSN_ENVID, "dsn_envid", SH_NONUL},
    {REC_ATTR, "attr", SH_ATTR},
    {REC_MESSAGE, "message", SH_EMPTY},
    {REC_LINE, "line", SH_TEXT},
    {REC_PIECE, "piece", SH_TEXT},
    {REC_XTRACTED, "xtracted", SH_EMPTY},
    {REC_STATUS, "status", SH_STATUS},
    {REC_END, "end", SH_EMPTY},
};

static const struct rec_type_info *rec_type_find(int type)
{
    size_t i;

    for (i = 0; i < sizeof(rec_types) / sizeof(rec_types[0]); i++)
        if (rec_types[i].type == type)
            return &rec_types[i];
    return NULL;
}

const char *rec_type_name(int type)
{
    const struct rec_type_info *t = rec_type_find(type);

    return t ? t->name : NULL;
}

int rec_type_known(int type)
{
    return rec_type_find(type) != NULL;
}

/* ---- integers and varints --------------------------------------------- */

void rec_int_encode(unsigned char out[REC_INT_LEN], long long value)
{
    uint64_t v = (uint64_t) value;
    int i;

    for (i = REC_INT_LEN - 1; i >= 0; i--) {
        out[i] = (unsigned char) (v & 0xff);
        v >>= 8;
    }
}

long long rec_int_decode(const unsigned char in[REC_INT_LEN])
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < REC_INT_LEN; i++)
        v = (v << 8) | in[i];
    /* Two's complement back to signed without implementation-defined casts. */
    if (v > (uint64_t) INT64_MAX)
        return -(long long) (~v) - 1;
    return (long long) v;
}

int rec_int_parse(const char *data, size_t len, long long *value)
{
    if (len != REC_INT_LEN)
        return -1;
    *value = rec_int_decode((const unsigned char *) data);
    return 0;
}

size_t rec_varint_len(size_t len)
{
    size_t n = 1;

    while (len >= 0x80) {
        len >>= 7;
        n++;
    }
    return n;
}

static void varint_encode(struct buf *out, size_t len)
{
    while (len >= 0x80) {
        buf_putc(out, (int) ((len & 0x7f) | 0x80));
        len >>= 7;
    }
    buf_putc(out, (int) len);
}

void rec_header_encode(struct buf *out, int type, size_t len)
{
    if ((unsigned long long) len > REC_LEN_MAX)
        msg_panic("rec_header_encode: record length %zu too large", len);
    buf_putc(out, type);
    varint_encode(out, len);
}

/*
 * Decode a varint from the bytes at *P (up to END). 0 and *LEN, or -1 when
 * it runs past END, is longer than 5 bytes, exceeds 32 bits or is not the
 * shortest encoding.
 */
static int varint_decode(const unsigned char **p, const unsigned char *end,
                         size_t *len)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < REC_VARINT_MAX; i++) {
        unsigned c;

        if (*p >= end)
            return -1;
        c = *(*p)++;
        v |= (uint64_t) (c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            if (i > 0 && c == 0)
                return -1;
            if (v > REC_LEN_MAX)
                return -1;
            *len = (size_t) v;
            return 0;
        }
    }
    return -1;
}

/* ---- structured data -------------------------------------------------- */

static void field_put(struct buf *out, const char *data, size_t len)
{
    varint_encode(out, len);
    buf_append(out, data, len);
}

static void field_puts(struct buf *out, const char *str)
{
    if (str == NULL)
        str = "";
    field_put(out, str, strlen(str));
}

/* A field that may not hold NUL bytes. */
static int field_get(const unsigned char **p, const unsigned char *end,
                     const char **data, size_t *len)
{
    if (varint_decode(p, end, len) < 0 || *len > (size_t) (end - *p))
        return -1;
    *data = (const char *) *p;
    if (memchr(*data, 0, *len) != NULL)
        return -1;
    *p += *len;
    return 0;
}

static int int_get(const unsigned char **p, const unsigned char *end,
                   long long *value)
{
    if (end - *p < REC_INT_LEN)
        return -1;
    *value = rec_int_decode(*p);
    *p += REC_INT_LEN;
    return 0;
}

void rec_size_encode(unsigned char out[REC_SIZE_LEN], const struct rec_size *sz)
{
    rec_int_encode(out, sz->content_offset);
    rec_int_encode(out + 8, sz->content_size);
    rec_int_encode(out + 16, sz->body_offset);
    rec_int_encode(out + 24, sz->xtracted_offset);
    rec_int_encode(out + 32, sz->rcpt_count);
}

int rec_size_parse(const char *data, size_t len, struct rec_size *sz)
{
    const unsigned char *p = (const unsigned char *) data;

    if (len != REC_SIZE_LEN)
        return -1;
    sz->content_offset = rec_int_decode(p);
    sz->content_size = rec_int_decode(p + 8);
    sz->body_offset = rec_int_decode(p + 16);
    sz->xtracted_offset = rec_int_decode(p + 24);
    sz->rcpt_count = rec_int_decode(p + 32);
    if (sz->content_offset < 0 || sz->content_size < 0 || sz->body_offset < 0
        || sz->xtracted_offset < 0 || sz->rcpt_count < 0)
        return -1;
    return 0;
}

static int rcpt_status_valid(int c)
{
    return c == REC_RCPT_PENDING || c == REC_RCPT_DELIVERED
           || c == REC_RCPT_BOUNCED || c == REC_RCPT_DROPPED;
}

static int action_valid(int c)
{
    return c == REC_ACTION_DELIVERED || c == REC_ACTION_RELAYED
           || c == REC_ACTION_EXPANDED || c == REC_ACTION_DEFERRED
           || c == REC_ACTION_BOUNCED;
}

void rec_rcpt_init(struct rec_rcpt *r)
{
    r->status = REC_RCPT_PENDING;
    r->notify = 0;
    r->addr = buf_new(64);
    r->orig = buf_new(64);
    r->orcpt = buf_new(16);
}

void rec_rcpt_free(struct rec_rcpt *r)
{
    buf_free(r->addr);
    buf_free(r->orig);
    buf_free(r->orcpt);
    r->addr = r->orig = r->orcpt = NULL;
}

void rec_rcpt_encode(struct buf *out, int status, int notify, const char *addr,
                     const char *orig, const char *orcpt)
{
    if (!rcpt_status_valid(status) || (notify & ~REC_NOTIFY_MASK) != 0)
        msg_panic("rec_rcpt_encode: bad status %d or notify %d", status,
                  notify);
    buf_putc(out, status);
    buf_putc(out, notify);
    field_puts(out, addr);
    field_puts(out, orig);
    field_puts(out, orcpt);
}

/* The fields of a RCPT record, pointing into the data. */
struct rcpt_view {
    int status;
    int notify;
    const char *f[3];
    size_t n[3];
};

static int rcpt_view_parse(const char *data, size_t len, struct rcpt_view *v)
{
    const unsigned char *p = (const unsigned char *) data;
    const unsigned char *end = p + len;
    int i;

    if (len < 2)
        return -1;
    v->status = p[0];
    v->notify = p[1];
    if (!rcpt_status_valid(v->status) || (v->notify & ~REC_NOTIFY_MASK) != 0)
        return -1;
    p += 2;
    for (i = 0; i < 3; i++)
        if (field_get(&p, end, &v->f[i], &v->n[i]) < 0)
            return -1;
    if (v->n[0] == 0 || p != end)
        return -1;
    return 0;
}

int rec_rcpt_parse(const char *data, size_t len, struct rec_rcpt *r)
{
    struct rcpt_view v;

    if (rcpt_view_parse(data, len, &v) < 0)
        return -1;
    r->status = v.status;
    r->notify = v.notify;
    buf_reset(r->addr);
    buf_append(r->addr, v.f[0], v.n[0]);
    buf_reset(r->orig);
    buf_append(r->orig, v.f[1], v.n[1]);
    buf_reset(r->orcpt);
    buf_append(r->orcpt, v.f[2], v.n[2]);
    return 0;
}

void rec_status_init(struct rec_status *st)
{
    st->action = REC_ACTION_DEFERRED;
    st->notify = 0;
    st->rcpt_offset = -1;
    st->time_us = 0;
    st->addr = buf_new(64);
    st->orig = buf_new(64);
    st->orcpt = buf_new(16);
    st->dsn = buf_new(8);
    st->relay = buf_new(64);
    st->reason = buf_new(128);
}

void rec_status_free(struct rec_status *st)
{
    buf_free(st->addr);
    buf_free(st->orig);
    buf_free(st->orcpt);
    buf_free(st->dsn);
    buf_free(st->relay);
    buf_free(st->reason);
    st->addr = st->orig = st->orcpt = st->dsn = st->relay = st->reason = NULL;
}

void rec_status_encode(struct buf *out, const struct rec_status *st)
{
    unsigned char num[REC_INT_LEN];
    const struct buf *const fields[] = {st->addr, st->orig,  st->orcpt,
                                        st->dsn,  st->relay, st->reason};
    size_t i;

    if (!action_valid(st->action) || (st->notify & ~REC_NOTIFY_MASK) != 0
        || st->rcpt_offset < -1)
        msg_panic("rec_status_encode: bad action %d, notify %d or offset %lld",
                  st->action, st->notify, st->rcpt_offset);
    buf_putc(out, st->action);
    buf_putc(out, st->notify);
    rec_int_encode(num, st->rcpt_offset);
    buf_append(out, num, sizeof(num));
    rec_int_encode(num, st->time_us);
    buf_append(out, num, sizeof(num));
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (memchr(buf_str(fields[i]), 0, buf_len(fields[i])) != NULL)
            msg_panic("rec_status_encode: NUL byte in field %zu", i);
        field_put(out, buf_str(fields[i]), buf_len(fields[i]));
    }
}

/* Parse STATUS data; with ST NULL only check it. */
static int status_parse(const char *data, size_t len, struct rec_status *st)
{
    const unsigned char *p = (const unsigned char *) data;
    const unsigned char *end = p + len;
    const char *f[6];
    size_t n[6];
    long long off;
    long long when;
    int action;
    int notify;
    int i;

    if (len < 2)
        return -1;
    action = p[0];
    notify = p[1];
    if (!action_valid(action) || (notify & ~REC_NOTIFY_MASK) != 0)
        return -1;
    p += 2;
    if (int_get(&p, end, &off) < 0 || off < -1 || int_get(&p, end, &when) < 0)
        return -1;
    for (i = 0; i < 6; i++)
        if (field_get(&p, end, &f[i], &n[i]) < 0)
            return -1;
    if (p != end || n[0] == 0)
        return -1;
    if (st != NULL) {
        struct buf *const out[] = {st->addr, st->orig,  st->orcpt,
                                   st->dsn,  st->relay, st->reason};

        st->action = action;
        st->notify = notify;
        st->rcpt_offset = off;
        st->time_us = when;
        for (i = 0; i < 6; i++) {
            buf_reset(out[i]);
            buf_append(out[i], f[i], n[i]);
        }
    }
    return 0;
}

int rec_status_parse(const char *data, size_t len, struct rec_status *st)
{
    return status_parse(data, len, st);
}

static int attr_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

int rec_attr_parse(const char *data, size_t len, const char **name,
                   size_t *name_len, const char **value, size_t *value_len)
{
    size_t i;

    for (i = 0; i < len && attr_name_char((unsigned char) data[i]); i++)
        /* void */;
    if (i == 0 || i == len || data[i] != '=')
        return -1;
    if (memchr(data + i + 1, 0, len - i - 1) != NULL)
        return -1;
    *name = data;
    *name_len = i;
    *value = data + i + 1;
    *value_len = len - i - 1;
    return 0;
}

int rec_check(int type, const char *data, size_t len, const char **why)
{
    const struct rec_type_info *t = rec_type_find(type);
    struct rcpt_view rv;
    struct rec_size sz;
    long long num;
    const char *n;
    const char *v;
    size_t nl;
    size_t vl;

    if (t == NULL) {
        *why = "unknown record type";
        return -1;
    }
    switch (t->shape) {
    case SH_VERSION:
        if (len != strlen(REC_VERSION_TEXT)
            || memcmp(data, REC_VERSION_TEXT, len) != 0) {
            *why = "unsupported format version";
            return -1;
        }
        return 0;
    case SH_EMPTY:
        if (len != 0) {
            *why = "data in an empty record";
            return -1;
        }
        return 0;
    case SH_INT:
        if (rec_int_parse(data, len, &num) < 0) {
            *why = "integer record is not 8 bytes";
            return -1;
        }
        return 0;
    case SH_DSN_RET:
        if (rec_int_parse(data, len, &num) < 0
            || (num != REC_DSN_RET_FULL && num != REC_DSN_RET_HDRS)) {
            *why = "bad DSN RET value";
            return -1;
        }
        return 0;
    case SH_SIZE:
        if (rec_size_parse(data, len, &sz) < 0) {
            *why = "bad size record";
            return -1;
        }
        return 0;
    case SH_TEXT:
        return 0;
    case SH_NONUL:
        if (memchr(data, 0, len) != NULL) {
            *why = "NUL byte in text";
            return -1;
        }
        return 0;
    case SH_RCPT:
        if (rcpt_view_parse(data, len, &rv) < 0) {
            *why = "bad recipient record";
            return -1;
        }
        return 0;
    case SH_STATUS:
        if (status_parse(data, len, NULL) < 0) {
            *why = "bad status record";
            return -1;
        }
        return 0;
    case SH_ATTR:
        if (rec_attr_parse(data, len, &n, &nl, &v, &vl) < 0) {
            *why = "bad attribute record";
            return -1;
        }
        return 0;
    }
    *why = "unknown record shape";
    return -1;
}

/* ---- writer ----------------------------------------------------------- */

struct rec_writer {
    struct stream *s;
    int own;             /* the stream is ours */
    long long offset;    /* of the next record */
    long long last;      /* of the last record */
    long long last_data; /* of its data */
    int reason;
    int err;
    struct buf *why;
    struct buf *tmp; /* encodings */
};

struct rec_writer *rec_writer_new(struct stream *s, long long offset)
{
    struct rec_writer *w = mem_calloc(1, sizeof(*w));

    w->s = s;
    w->offset = offset;
    w->last = w->last_data = -1;
    w->why = buf_new(64);
    w->tmp = buf_new(256);
    return w;
}

struct rec_writer *rec_writer_fd(int fd, long long offset)
{
    struct stream *s = stream_open(fd);
    struct rec_writer *w;

    stream_set_timeout(s, 0);
    w = rec_writer_new(s, offset);
    w->own = 1;
    return w;
}

void rec_writer_free(struct rec_writer *w)
{
    if (w == NULL)
        return;
    if (w->own)
        stream_free(w->s);
    buf_free(w->why);
    buf_free(w->tmp);
    mem_free(w);
}

struct stream *rec_writer_stream(struct rec_writer *w)
{
    return w->s;
}

static int writer_fail(struct rec_writer *w, const char *what)
{
    w->reason = REC_ERR_IO;
    w->err = stream_errno(w->s);
    if (w->err == 0 && stream_reason(w->s) != STREAM_IO)
        w->err = EIO;
    buf_setf(w->why, "%s at offset %lld: %s", what, w->offset,
             stream_reason(w->s) == STREAM_IO ? strerror(w->err)
                                              : stream_reason_text(w->s));
    return -1;
}

int rec_put(struct rec_writer *w, int type, const void *data, size_t len)
{
    unsigned char hdr[1 + REC_VARINT_MAX];
    size_t hlen = 1;
    size_t rest = len;

    if (!rec_type_known(type))
        msg_panic("rec_put: unknown record type %d", type);
    if ((unsigned long long) len > REC_LEN_MAX)
        msg_panic("rec_put: record length %zu too large", len);
    if (w->reason != REC_OK)
        return -1;
    hdr[0] = (unsigned char) type;
    while (rest >= 0x80) {
        hdr[hlen++] = (unsigned char) ((rest & 0x7f) | 0x80);
        rest >>= 7;
    }
    hdr[hlen++] = (unsigned char) rest;
    if (stream_write(w->s, hdr, hlen) < 0
        || (len > 0 && stream_write(w->s, data, len) < 0))
        return writer_fail(w, "write error");
    w->last = w->offset;
    w->last_data = w->offset + (long long) hlen;
    w->offset = w->last_data + (long long) len;
    return 0;
}

int rec_puts(struct rec_writer *w, int type, const char *str)
{
    return rec_put(w, type, str, strlen(str));
}

int rec_put_int(struct rec_writer *w, int type, long long value)
{
    unsigned char num[REC_INT_LEN];

    rec_int_encode(num, value);
    return rec_put(w, type, num, sizeof(num));
}

int rec_put_version(struct rec_writer *w)
{
    return rec_puts(w, REC_VERSION, REC_VERSION_TEXT);
}

int rec_put_attr(struct rec_writer *w, const char *name, const char *value)
{
    size_t i;

    for (i = 0; name[i]; i++)
        if (!attr_name_char((unsigned char) name[i]))
            msg_panic("rec_put_attr: bad attribute name \"%s\"", name);
    if (i == 0)
        msg_panic("rec_put_attr: empty attribute name");
    buf_set(w->tmp, name);
    buf_putc(w->tmp, '=');
    buf_puts(w->tmp, value);
    return rec_put(w, REC_ATTR, buf_str(w->tmp), buf_len(w->tmp));
}

int rec_put_rcpt(struct rec_writer *w, int status, int notify, const char *addr,
                 const char *orig, const char *orcpt)
{
    if (addr == NULL || *addr == 0)
        msg_panic("rec_put_rcpt: empty recipient address");
    buf_reset(w->tmp);
    rec_rcpt_encode(w->tmp, status, notify, addr, orig, orcpt);
    return rec_put(w, REC_RCPT, buf_str(w->tmp), buf_len(w->tmp));
}

int rec_put_status(struct rec_writer *w, const struct rec_status *st)
{
    if (buf_len(st->addr) == 0)
        msg_panic("rec_put_status: empty recipient address");
    buf_reset(w->tmp);
    rec_status_encode(w->tmp, st);
    return rec_put(w, REC_STATUS, buf_str(w->tmp), buf_len(w->tmp));
}

int rec_put_size(struct rec_writer *w, const struct rec_size *sz)
{
    unsigned char data[REC_SIZE_LEN];

    rec_size_encode(data, sz);
    return rec_put(w, REC_SIZE, data, sizeof(data));
}

int rec_writer_flush(struct rec_writer *w)
{
    if (w->reason != REC_OK)
        return -1;
    if (stream_flush(w->s) < 0)
        return writer_fail(w, "write error");
    return 0;
}

long long rec_writer_offset(const struct rec_writer *w)
{
    return w->offset;
}

long long rec_writer_last_offset(const struct rec_writer *w)
{
    return w->last;
}

long long rec_writer_last_data_offset(const struct rec_writer *w)
{
    return w->last_data;
}

int rec_writer_reason(const struct rec_writer *w)
{
    return w->reason;
}

int rec_writer_errno(const struct rec_writer *w)
{
    return w->err;
}

const char *rec_writer_error(const struct rec_writer *w)
{
    return buf_str(w->why);
}

/* ---- reader ----------------------------------------------------------- */

enum rec_read_state {
    RS_VERSION, /* the version record comes next */
    RS_BODY,    /* records */
    RS_DONE,    /* END returned, or the log ended */
    RS_FAILED,  /* an error was reported */
};

struct rec_reader {
    struct stream *s;
    int own;
    long long offset; /* of the next byte */
    long long last;
    long long last_data;
    size_t limit;
    int flags;
    enum rec_read_state state;
    int reason;
    int err;
    int sreason;
    struct buf *why;
};

struct rec_reader *rec_reader_new(struct stream *s, long long offset,
                                  size_t limit, int flags)
{
    struct rec_reader *r = mem_calloc(1, sizeof(*r));

    r->s = s;
    r->offset = offset;
    r->last = r->last_data = -1;
    r->limit = limit ? limit : REC_LIMIT_DEFAULT;
    r->flags = flags;
    r->state = RS_VERSION;
    r->why = buf_new(64);
    return r;
}

struct rec_reader *rec_reader_fd(int fd, long long offset, size_t limit,
                                 int flags)
{
    struct stream *s = stream_open(fd);
    struct rec_reader *r;

    stream_set_timeout(s, 0);
    r = rec_reader_new(s, offset, limit, flags);
    r->own = 1;
    return r;
}

void rec_reader_free(struct rec_reader *r)
{
    if (r == NULL)
        return;
    if (r->own)
        stream_free(r->s);
    buf_free(r->why);
    mem_free(r);
}

static int reader_fail(struct rec_reader *r, int reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reader_fail(struct rec_reader *r, int reason, const char *fmt, ...)
{
    va_list ap;

    r->state = RS_FAILED;
    r->reason = reason;
    va_start(ap, fmt);
    buf_reset(r->why);
    buf_vprintf(r->why, fmt, ap);
    va_end(ap);
    return -1;
}

/*
 * A stream error while reading: end of input becomes TRUNCATED (inside a
 * record), anything else is an I/O error.
 */
static int reader_stream_fail(struct rec_reader *r, long long where)
{
    int sr = stream_reason(r->s);

    if (sr == STREAM_EOF)
        return reader_fail(r, REC_ERR_TRUNCATED,
                           "truncated record at offset %lld", where);
    r->sreason = sr;
    r->err = sr == STREAM_IO ? stream_errno(r->s) : 0;
    return reader_fail(r, REC_ERR_IO, "read error at offset %lld: %s", where,
                       stream_reason_text(r->s));
}

int rec_get(struct rec_reader *r, struct buf *data)
{
    long long start = r->offset;
    unsigned char hdr[REC_VARINT_MAX];
    const unsigned char *hp;
    size_t hlen = 0;
    size_t len = 0;
    const char *why;
    int type;
    int c;

    if (r->state == RS_FAILED)
        return -1;
    if (r->state == RS_DONE)
        return 0;
    buf_reset(data);

    if ((type = stream_getc(r->s)) < 0) {
        if (stream_reason(r->s) != STREAM_EOF)
            return reader_stream_fail(r, start);
        if (r->state == RS_VERSION)
            return reader_fail(r, REC_ERR_VERSION,
                               "missing version record (empty input)");
        if (r->flags & REC_READ_LOG) {
            r->state = RS_DONE;
            return 0;
        }
        return reader_fail(r, REC_ERR_NOEND,
                           "missing end record at offset %lld", start);
    }
    if (!rec_type_known(type))
        return reader_fail(r, REC_ERR_TYPE,
                           "unknown record type 0x%02x at offset %lld", type,
                           start);
    if (r->state == RS_VERSION && type != REC_VERSION)
        return reader_fail(r, REC_ERR_VERSION,
                           "first record is not a version record");
    if (r->state == RS_BODY && type == REC_VERSION)
        return reader_fail(r, REC_ERR_VERSION,
                           "misplaced version record at offset %lld", start);

    /* The length: read byte by byte up to the last varint byte. */
    do {
        if ((c = stream_getc(r->s)) < 0)
            return reader_stream_fail(r, start);
        hdr[hlen++] = (unsigned char) c;
    } while ((c & 0x80) && hlen < REC_VARINT_MAX);
    hp = hdr;
    if (varint_decode(&hp, hdr + hlen, &len) < 0)
        return reader_fail(r, REC_ERR_LENGTH,
                           "bad record length at offset %lld", start);
    if (len > r->limit)
        return reader_fail(r, REC_ERR_TOOLONG,
                           "%s record at offset %lld is %zu bytes long "
                           "(limit %zu)",
                           rec_type_name(type), start, len, r->limit);
    if (len > 0 && stream_read_buf(r->s, data, len) < 0) {
        if (stream_reason(r->s) == STREAM_TOOLONG)
            return reader_fail(r, REC_ERR_TOOLONG,
                               "%s record at offset %lld is too long for "
                               "the buffer",
                               rec_type_name(type), start);
        return reader_stream_fail(r, start);
    }
    if (rec_check(type, buf_str(data), buf_len(data), &why) < 0)
        return reader_fail(
            r, type == REC_VERSION ? REC_ERR_VERSION : REC_ERR_DATA,
            "%s record at offset %lld: %s", rec_type_name(type), start, why);
    r->last = start;
    r->last_data = start + 1 + (long long) hlen;
    r->offset = r->last_data + (long long) len;
    r->state = RS_BODY;

    if (type == REC_END) {
        if (!(r->flags & REC_READ_STREAM)) {
            if (stream_getc(r->s) >= 0)
                return reader_fail(r, REC_ERR_TRAILING,
                                   "data after the end record at offset %lld",
                                   r->offset);
            if (stream_reason(r->s) != STREAM_EOF)
                return reader_stream_fail(r, r->offset);
        }
        r->state = RS_DONE;
    }
    return type;
}

long long rec_reader_offset(const struct rec_reader *r)
{
    return r->last;
}

long long rec_reader_data_offset(const struct rec_reader *r)
{
    return r->last_data;
}

int rec_reader_seek(struct rec_reader *r, long long offset)
{
    int fd;

    if (!r->own || offset < 0) {
        r->err = EINVAL;
        r->sreason = STREAM_IO;
        return reader_fail(r, REC_ERR_IO, "cannot seek to offset %lld: %s",
                           offset, strerror(EINVAL));
    }
    fd = stream_fd(r->s);
    if (lseek(fd, (off_t) offset, SEEK_SET) < 0) {
        r->err = errno;
        r->sreason = STREAM_IO;
        return reader_fail(r, REC_ERR_IO, "cannot seek to offset %lld: %s",
                           offset, strerror(r->err));
    }
    stream_free(r->s);
    r->s = stream_open(fd);
    stream_set_timeout(r->s, 0);
    r->offset = offset;
    r->state = RS_BODY;
    r->reason = REC_OK;
    r->err = r->sreason = 0;
    buf_reset(r->why);
    return 0;
}

int rec_reader_reason(const struct rec_reader *r)
{
    return r->reason;
}

int rec_reader_errno(const struct rec_reader *r)
{
    return r->err;
}

int rec_reader_stream_reason(const struct rec_reader *r)
{
    return r->sreason;
}

const char *rec_reader_error(const struct rec_reader *r)
{
    return buf_str(r->why);
}
