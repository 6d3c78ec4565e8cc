/*
 * buf.c - growable string buffer (see buf.h).
 *
 * Used everywhere. Append functions return 0, or -1 when the buffer's hard
 * limit would be passed; memory exhaustion is fatal (mem.c).
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

struct buf *buf_new(size_t initial)
{
    struct buf *b = mem_alloc(sizeof(*b));

    b->size = initial < 16 ? 16 : initial + 1;
    b->data = mem_alloc(b->size);
    b->data[0] = 0;
    b->len = 0;
    b->limit = 0;
    b->overflow = 0;
    return b;
}

void buf_free(struct buf *b)
{
    if (b == NULL)
        return;
    mem_free(b->data);
    mem_free(b);
}

char *buf_steal(struct buf *b)
{
    char *data = b->data;

    mem_free(b);
    return data;
}

void buf_set_limit(struct buf *b, size_t limit)
{
    b->limit = limit;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->data[0] = 0;
    b->overflow = 0;
}

void buf_truncate(struct buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = 0;
    }
}

static void buf_reserve(struct buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t size = b->size;

    if (need <= size)
        return;
    while (size < need)
        size = size < 1024 * 1024 ? size * 2 : size + size / 2;
    b->data = mem_realloc(b->data, size);
    b->size = size;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
    if (b->limit && (len > b->limit || b->len > b->limit - len)) {
        b->overflow = 1;
        return -1;
    }
    buf_reserve(b, len);
    if (len)
        memmove(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

int buf_puts(struct buf *b, const char *str)
{
    return buf_append(b, str, strlen(str));
}

int buf_putc(struct buf *b, int ch)
{
    char c = (char) ch;

    return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -1;
    if (b->limit && ((size_t) n > b->limit || b->len > b->limit - (size_t) n)) {
        b->overflow = 1;
        return -1;
    }
    buf_reserve(b, (size_t) n);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    b->len += (size_t) n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return ret;
}

int buf_set(struct buf *b, const char *str)
{
    buf_reset(b);
    return buf_puts(b, str);
}

int buf_setf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int ret;

    buf_reset(b);
    va_start(ap, fmt);
    ret = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return ret;
}
