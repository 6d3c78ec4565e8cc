/*
 * fuzz_addr.c - libFuzzer target for lib/addr.c.
 *
 * Built and run by tests/fuzz/run. The first input byte picks the parser
 * flags, the rest is the text after "MAIL FROM:"/"RCPT TO:". Besides
 * sanitizer findings, a broken invariant aborts:
 *   - unquote(quote(x)) == x for any bytes x;
 *   - a parsed address, quoted and put back in <>, parses to itself;
 *   - a failed parse leaves an empty address and an error message;
 *   - split and extension split put the address back together.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "buf.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static int same(const struct buf *b, const char *data, size_t len)
{
    return buf_len(b) == len && memcmp(buf_str(b), data, len) == 0;
}

static void round_trip(const char *data, size_t len)
{
    struct buf *q = buf_new(len * 2 + 4);
    struct buf *u = buf_new(len + 4);

    addr_quote(q, data, len);
    addr_unquote(u, buf_str(q), buf_len(q));
    check(same(u, data, len));
    buf_free(q);
    buf_free(u);
}

static void check_parsed(const struct addr_arg *arg, int flags)
{
    const char *a = buf_str(arg->addr);
    size_t len = buf_len(arg->addr);
    struct buf *ext = buf_new(len + 8);
    struct buf *local = buf_new(len + 8);
    struct buf *domain = buf_new(len + 8);
    struct buf *user = buf_new(len + 8);
    struct buf *extension = buf_new(len + 8);
    struct addr_arg *again = addr_arg_new();
    const char *err;
    int delim;
    int has_domain;
    size_t i;

    check(memchr(a, 0, len) == NULL);
    check(arg->null_addr == (len == 0));
    check(!arg->null_addr || !(flags & ADDR_PARSE_NO_NULL));
    for (i = 0; i < arg->nparams; i++) {
        check(arg->params[i].name[0] != 0);
        check(addr_arg_find(arg, arg->params[i].name) <= (int) i);
    }

    /* Quoted and bracketed again, it parses to the same address. */
    buf_putc(ext, '<');
    addr_quote(ext, a, len);
    buf_putc(ext, '>');
    check(addr_parse_arg(again, buf_str(ext), buf_len(ext), flags, &err) == 0);
    check(same(again->addr, a, len));

    /* The external form splits into the quoted local part and domain. */
    has_domain = addr_split(buf_str(ext) + 1, buf_len(ext) - 2, ADDR_EXTERNAL,
                            local, domain);
    buf_reset(user);
    addr_unquote(user, buf_str(local), buf_len(local));
    if (has_domain) {
        buf_putc(user, '@');
        buf_append(user, buf_str(domain), buf_len(domain));
    }
    check(same(user, a, len));

    /* user + delimiter + extension + "@" domain is the address again. */
    buf_reset(user);
    buf_reset(domain);
    if (addr_split_ext(a, len, "+-=", user, extension, domain, &delim)) {
        check(delim == '+' || delim == '-' || delim == '=');
        check(buf_len(user) > 0);
        buf_putc(user, delim);
        buf_append(user, buf_str(extension), buf_len(extension));
    } else {
        check(delim == 0 && buf_len(extension) == 0);
    }
    if (addr_split_at(a, len, ADDR_INTERNAL) < len) {
        buf_putc(user, '@');
        buf_append(user, buf_str(domain), buf_len(domain));
    }
    check(same(user, a, len));

    addr_arg_free(again);
    buf_free(ext);
    buf_free(local);
    buf_free(domain);
    buf_free(user);
    buf_free(extension);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct addr_arg *arg;
    const char *text;
    const char *err = NULL;
    int flags;

    if (size == 0)
        return 0;
    flags = data[0]
            & (ADDR_PARSE_BARE | ADDR_PARSE_NO_NULL | ADDR_PARSE_STRICT
               | ADDR_PARSE_NO_8BIT);
    text = (const char *) data + 1;
    size--;

    round_trip(text, size);

    arg = addr_arg_new();
    if (addr_parse_arg(arg, text, size, flags, &err) == 0) {
        check(err == NULL);
        check_parsed(arg, flags);
    } else {
        check(err != NULL && *err != 0);
        check(buf_len(arg->addr) == 0);
    }
    addr_arg_free(arg);

    /* Lower-casing the domain never changes the length or the local part. */
    {
        struct buf *b = buf_new(size + 1);
        size_t at = addr_split_at(text, size, ADDR_INTERNAL);

        buf_append(b, text, size);
        addr_lower_domain(b);
        check(buf_len(b) == size && memcmp(buf_str(b), text, at) == 0);
        buf_free(b);
    }
    return 0;
}
