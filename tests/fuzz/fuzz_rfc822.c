/*
 * fuzz_rfc822.c - libFuzzer target for lib/rfc822.c (header values reach
 * it from the network through smtpd and cleanup).
 *
 * The input is one header ("Name: value", possibly folded). Besides
 * sanitizer findings, a broken invariant aborts:
 *   - address places lie inside the value, in order, without overlap;
 *   - a rewrite that changes nothing gives the value back byte for byte;
 *   - a rewrite of every address keeps the bytes between addresses;
 *   - unfolding never makes the text longer, and the header text has no
 *     white space at either end.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "rfc822.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static int keep(struct buf *addr, void *ctx)
{
    (void) addr;
    (void) ctx;
    return 0;
}

static int change(struct buf *addr, void *ctx)
{
    (void) ctx;
    buf_set(addr, "x@y");
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *) data;
    struct rfc822_addrs list;
    struct buf *out = buf_new(size + 16);
    size_t v = rfc822_header_value(text, size);
    const char *value = text + v;
    size_t vlen = size - v;
    size_t i;
    size_t last = 0;
    size_t kept = 0;
    int n;

    check(v <= size);
    if (v > 0) {
        size_t name = rfc822_header_name(text, size);

        check(name > 0 && name < v);
        rfc822_header_info(text, name);
    }

    rfc822_unfold(out, text, size);
    check(buf_len(out) <= size);
    buf_reset(out);
    rfc822_header_text(out, text, size);
    if (buf_len(out) > 0) {
        check(memchr(" \t\r\n", buf_str(out)[0], 4) == NULL);
        check(memchr(" \t\r\n", buf_str(out)[buf_len(out) - 1], 4) == NULL);
    }

    rfc822_addrs_init(&list);
    rfc822_parse_addrs(&list, value, vlen, 64);
    for (i = 0; i < list.n; i++) {
        check(list.v[i].start <= list.v[i].end);
        check(list.v[i].end <= vlen);
        check(list.v[i].start >= last);
        last = list.v[i].end;
        if (buf_len(list.v[i].addr) > 0
            && memchr(buf_str(list.v[i].addr), 0, buf_len(list.v[i].addr))
                   == NULL)
            kept += list.v[i].end - list.v[i].start;
    }

    n = rfc822_rewrite_addrs(out, value, vlen, 64, keep, NULL);
    check(n == 0);
    check(buf_len(out) == vlen && memcmp(buf_str(out), value, vlen) == 0);

    n = rfc822_rewrite_addrs(out, value, vlen, 64, change, NULL);
    check(n >= 0 && (size_t) n <= list.n);
    /* Everything outside the replaced addresses is still there. */
    check(buf_len(out) + kept == vlen + 3 * (size_t) n);

    rfc822_addrs_free(&list);
    buf_free(out);
    return 0;
}
