/*
 * fuzz_smtp_mime.c - libFuzzer target for the smtp client's 8-bit to
 * 7-bit MIME conversion (smtp/smtp_mime.c, included here: the fuzz build
 * links only lib/ and maps/). The message content comes from users and
 * the network through the queue.
 *
 * Input: one control byte (piece size for the queue-file PIECE records,
 * mime_nesting_limit), then the message with LF line ends. It is scanned,
 * then converted; a broken invariant aborts:
 *   - every line we encoded is at most 76 bytes of printable ASCII, with
 *     no white space before a hard line end, "=" only in "=XX" or a soft
 *     break;
 *   - every other line we did not add is an input line as it was (so any
 *     8-bit byte left in the output was in the input on such a line:
 *     headers, base64/quoted-printable parts, preambles);
 *   - decoding each run of encoded lines gives back input lines;
 *   - a pure 7-bit input is not reported 8-bit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtp/smtp_mime.c"

#include "config.h"
#include "msg.h"

#define MAX_INPUT (32 * 1024)

struct line {
    const char *p;
    size_t n;
};

struct sink {
    struct line *in; /* input lines, sorted */
    size_t nin;
    struct buf *cur; /* the text line being assembled */
    int cur_qp;      /* ... it is an encoded line */
    struct buf *dec; /* decoded encoded lines so far (one logical line) */
    int dec_open;    /* a soft break continues DEC */
};

static void check(int cond)
{
    if (!cond)
        abort();
}

static int line_cmp(const void *a, const void *b)
{
    const struct line *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->p, y->p, n);

    if (c)
        return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

static void check_input_line(struct sink *k, const char *p, size_t n)
{
    struct line key = {p, n};

    check(bsearch(&key, k->in, k->nin, sizeof(key), line_cmp) != NULL);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void check_qp_line(struct sink *k, const char *p, size_t n)
{
    int soft = n > 0 && p[n - 1] == '=';
    size_t body = soft ? n - 1 : n;

    check(n <= 76);
    check(soft || body == 0 || (p[body - 1] != ' ' && p[body - 1] != '\t'));
    for (size_t i = 0; i < body; i++) {
        unsigned char c = (unsigned char) p[i];

        check((c >= 32 && c <= 126) || c == '\t');
        if (c == '=') {
            int hi, lo;

            check(i + 2 < body);
            hi = hexval(p[i + 1]);
            lo = hexval(p[i + 2]);
            check(hi >= 0 && lo >= 0);
            buf_putc(k->dec, hi * 16 + lo);
            i += 2;
        } else {
            buf_putc(k->dec, (int) c);
        }
    }
    k->dec_open = soft;
    if (!soft) {
        check_input_line(k, buf_str(k->dec), buf_len(k->dec));
        buf_reset(k->dec);
    }
}

static int sink_header(void *ctx, struct buf *hdr, int flags)
{
    struct sink *k = ctx;
    const char *p = buf_str(hdr);
    size_t start = 0;

    check(!k->dec_open);
    check(buf_len(hdr) > 0);
    if (flags & SMTP_MIME_NEW) {
        for (size_t i = 0; i < buf_len(hdr); i++)
            check((unsigned char) p[i] < 128 && p[i] != '\n');
        return 0;
    }
    for (size_t i = 0; i <= buf_len(hdr); i++) {
        if (i == buf_len(hdr) || p[i] == '\n') {
            check_input_line(k, p + start, i - start);
            start = i + 1;
        }
    }
    return 0;
}

static int sink_text(void *ctx, const char *data, size_t len, int flags)
{
    struct sink *k = ctx;

    if (flags & SMTP_MIME_START) {
        check(buf_len(k->cur) == 0);
        k->cur_qp = (flags & SMTP_MIME_QP) != 0;
        if (!k->cur_qp)
            check(!k->dec_open);
    }
    buf_append(k->cur, data, len);
    if (flags & SMTP_MIME_END) {
        if (k->cur_qp)
            check_qp_line(k, buf_str(k->cur), buf_len(k->cur));
        else if (flags & SMTP_MIME_NEW)
            check(buf_len(k->cur) == 0);
        else
            check_input_line(k, buf_str(k->cur), buf_len(k->cur));
        buf_reset(k->cur);
    }
    return 0;
}

static void feed(struct smtp_mime *m, const char *p, size_t size, size_t piece)
{
    const char *end = p + size;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);

        do {
            size_t n = len > piece ? piece : len;

            check(smtp_mime_feed(m, p, n, n == len && nl != NULL) == 0);
            p += n;
            len -= n;
        } while (len > 0);
        if (nl)
            p++;
    }
    check(smtp_mime_finish(m) == 0);
}

static int init(void)
{
    msg_init("fuzz_smtp_mime", MSG_NOLOG);
    config_clear();
    config_set("myhostname", "host.example", NULL, 0);
    config_set("mydomain", "example", NULL, 0);
    config_set("mime_boundary_length_limit", "60", NULL, 0);
    params_load();
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    struct sink k;
    struct smtp_mime_out out = {sink_header, sink_text, &k};
    struct smtp_mime *m;
    const char *text, *p, *end;
    size_t piece, nalloc = 16;
    int any8 = 0;

    if (!ready)
        ready = init();
    if (size < 1 || size > MAX_INPUT)
        return 0;
    /* pieces of 64 bytes or more: a boundary (<= 60) fits in one */
    piece = 64 + (data[0] & 0x0f) * 97;
    var_mime_nesting_limit = 1 + (data[0] >> 4);
    text = (const char *) data + 1;
    size--;

    /* the input lines, as the converter sees them */
    memset(&k, 0, sizeof(k));
    k.in = malloc(nalloc * sizeof(*k.in));
    check(k.in != NULL);
    for (p = text, end = text + size; p <= end;) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);

        if (k.nin == nalloc) {
            nalloc *= 2;
            k.in = realloc(k.in, nalloc * sizeof(*k.in));
            check(k.in != NULL);
        }
        k.in[k.nin].p = p;
        k.in[k.nin++].n = n;
        p += n + 1;
    }
    qsort(k.in, k.nin, sizeof(*k.in), line_cmp);
    for (size_t i = 0; i < size; i++)
        any8 |= (unsigned char) text[i] >= 128;
    k.cur = buf_new(128);
    k.dec = buf_new(128);

    m = smtp_mime_new(NULL);
    feed(m, text, size, piece);
    if (!any8)
        check(!smtp_mime_eight(m) || memmem(text, size, "8", 1) != NULL
              || memmem(text, size, "inary", 5) != NULL);
    smtp_mime_rewind(m, &out);
    feed(m, text, size, piece);
    check(buf_len(k.cur) == 0);
    check(!k.dec_open);
    smtp_mime_free(m);

    buf_free(k.cur);
    buf_free(k.dec);
    free(k.in);
    return 0;
}
