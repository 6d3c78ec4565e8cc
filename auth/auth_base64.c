/*
 * auth_base64.c - strict base64 (RFC 4648, padded) for SASL exchanges.
 *
 * Callers: the mechanisms (auth_mech.c), postauth. Decoding refuses white
 * space, a missing or misplaced "=", and non-zero bits in the last
 * character (so one text has one meaning); it returns -1, never reads
 * past LEN.
 */
#include "auth_impl.h"
#include "buf.h"

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void auth_b64_encode(struct buf *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i;

    buf_reset(out);
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v =
            (unsigned) p[i] << 16 | (unsigned) p[i + 1] << 8 | p[i + 2];

        buf_putc(out, b64_chars[v >> 18 & 63]);
        buf_putc(out, b64_chars[v >> 12 & 63]);
        buf_putc(out, b64_chars[v >> 6 & 63]);
        buf_putc(out, b64_chars[v & 63]);
    }
    if (len - i == 1) {
        unsigned v = (unsigned) p[i] << 16;

        buf_putc(out, b64_chars[v >> 18 & 63]);
        buf_putc(out, b64_chars[v >> 12 & 63]);
        buf_puts(out, "==");
    } else if (len - i == 2) {
        unsigned v = (unsigned) p[i] << 16 | (unsigned) p[i + 1] << 8;

        buf_putc(out, b64_chars[v >> 18 & 63]);
        buf_putc(out, b64_chars[v >> 12 & 63]);
        buf_putc(out, b64_chars[v >> 6 & 63]);
        buf_putc(out, '=');
    }
}

static int b64_value(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

int auth_b64_decode(struct buf *out, const char *text, size_t len)
{
    size_t i;

    buf_reset(out);
    if (len % 4 != 0)
        return -1;
    for (i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        int k;

        for (k = 0; k < 4; k++) {
            int ch = (unsigned char) text[i + k];

            if (ch == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad > 0)
                return -1; /* data after '=' */
            v[k] = b64_value(ch);
            if (v[k] < 0)
                return -1;
        }
        if (pad == 1 && (v[2] & 3) != 0)
            return -1;
        if (pad == 2 && (v[1] & 15) != 0)
            return -1;
        buf_putc(out, (v[0] << 2 | v[1] >> 4) & 255);
        if (pad < 2)
            buf_putc(out, (v[1] << 4 | v[2] >> 2) & 255);
        if (pad < 1)
            buf_putc(out, (v[2] << 6 | v[3]) & 255);
    }
    return 0;
}
