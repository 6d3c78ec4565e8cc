/*
 * buf.h - growable, length-tracked, NUL-terminated, binary-safe buffer.
 *
 * The one type for text and binary data in Postern. The data is always
 * NUL-terminated (the NUL is not counted in len), so buf_str() can be given
 * to C string functions when the content is known to hold no NUL.
 *
 * An optional hard limit (buf_set_limit) bounds the length: an append that
 * would pass it appends nothing, sets the overflow flag and returns -1.
 */
#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;   /* always NUL-terminated */
    size_t len;   /* bytes in use, not counting the NUL */
    size_t size;  /* bytes allocated */
    size_t limit; /* 0 = no limit */
    int overflow; /* set when an append was refused by the limit */
};

#define buf_str(b) ((b)->data)
#define buf_len(b) ((b)->len)

struct buf *buf_new(size_t initial);
void buf_free(struct buf *b);
/* Frees the buffer and hands its data to the caller. */
char *buf_steal(struct buf *b);

void buf_set_limit(struct buf *b, size_t limit);
void buf_reset(struct buf *b);
void buf_truncate(struct buf *b, size_t len);

int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *str);
int buf_putc(struct buf *b, int ch);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Replace the content (reset, then append). */
int buf_set(struct buf *b, const char *str);
int buf_setf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
