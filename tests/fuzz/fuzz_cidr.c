/*
 * fuzz_cidr.c - libFuzzer target for lib/cidr.c.
 *
 * Built and run by tests/fuzz/run. The input is "NETWORK-OR-LIST\nADDRESS"
 * (the first byte's low bit picks the list mode). Besides sanitizer
 * findings, a broken invariant aborts:
 *   - cidr_addr_parse agrees with inet_pton, and its text parses back;
 *   - a parsed network formats and parses back to itself, and matching
 *     agrees with a bit-by-bit reference;
 *   - list matching agrees with a plain first-match walk.
 * Lists that name files ("/path") are not parsed: the fuzzer must not
 * read /dev/stdin or the like.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "buf.h"
#include "cidr.h"
#include "mem.h"
#include "str.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void check_addr(const char *text, size_t len)
{
    struct cidr_addr a;
    struct cidr_addr b;
    struct buf *out = buf_new(64);
    int ret = cidr_addr_parse(text, len, &a);

    if (memchr(text, 0, len) == NULL) {
        char *copy = mem_strndup(text, len);
        unsigned char ref[16];
        int family = memchr(text, ':', len) ? AF_INET6 : AF_INET;

        check((inet_pton(family, copy, ref) == 1) == (ret == CIDR_OK));
        if (ret == CIDR_OK)
            check(memcmp(ref, a.bytes, family == AF_INET6 ? 16 : 4) == 0);
        mem_free(copy);
    }
    if (ret == CIDR_OK) {
        cidr_addr_format(&a, out);
        check(cidr_addr_parse(buf_str(out), buf_len(out), &b) == CIDR_OK);
        check(a.family == b.family && memcmp(a.bytes, b.bytes, 16) == 0);
        b = a;
        cidr_addr_unmap(&b);
        check(b.family == CIDR_INET4 || !cidr_addr_is_v4mapped(&a));
    } else {
        check(ret == CIDR_ERR_SYNTAX);
    }
    buf_free(out);
}

static int bit(const unsigned char *bytes, unsigned i)
{
    return (bytes[i / 8] >> (7 - i % 8)) & 1;
}

/* Reference: compare PREFIX leading bits one by one. */
static int ref_match(const struct cidr_net *net, const struct cidr_addr *a)
{
    const unsigned char *ab = a->bytes;
    unsigned i;

    if (net->addr.family != a->family) {
        if (net->addr.family != CIDR_INET4 || !cidr_addr_is_v4mapped(a))
            return 0;
        ab = a->bytes + 12;
    }
    for (i = 0; i < net->prefix; i++)
        if (bit(net->addr.bytes, i) != bit(ab, i))
            return 0;
    return 1;
}

static void check_net(const char *text, size_t len, const struct cidr_addr *a,
                      int have_addr)
{
    struct cidr_net net;
    struct cidr_net back;
    struct buf *out = buf_new(64);
    const char *err = NULL;
    int ret = cidr_net_parse(text, len, &net, &err);
    unsigned i;

    if (ret == CIDR_ERR_SYNTAX) {
        check(err != NULL);
        buf_free(out);
        return;
    }
    check(ret == CIDR_OK ? err == NULL : ret == CIDR_ERR_HOSTBITS && err);
    check(net.prefix <= (net.addr.family == CIDR_INET6 ? 128u : 32u));
    /* Host bits are clear either way. */
    for (i = net.prefix; i < (net.addr.family == CIDR_INET6 ? 128u : 32u); i++)
        check(bit(net.addr.bytes, i) == 0);
    cidr_net_format(&net, out, len & 1);
    check(cidr_net_parse(buf_str(out), buf_len(out), &back, &err) == CIDR_OK);
    check(back.prefix == net.prefix && back.addr.family == net.addr.family
          && memcmp(back.addr.bytes, net.addr.bytes, 16) == 0);
    check(cidr_net_match(&net, &net.addr));
    if (have_addr)
        check(cidr_net_match(&net, a) == ref_match(&net, a));
    buf_free(out);
}

/* No entry may name a file. */
static int names_file(const char *text)
{
    char *copy = mem_strdup(text);
    char *cp = copy;
    char *item;
    int found = 0;

    while ((item = str_token(&cp, STR_LIST_SEP)) != NULL) {
        item += strspn(item, "!");
        if (*item == '/')
            found = 1;
    }
    mem_free(copy);
    return found;
}

static void check_list(const char *text, size_t len, int mode,
                       const struct cidr_addr *a, int have_addr)
{
    char *copy;
    struct cidr_list *list;
    struct argv *maps;
    struct argv *warnings;
    struct buf *err;

    if (memchr(text, 0, len) != NULL)
        return;
    copy = mem_strndup(text, len);
    if (names_file(copy)) {
        mem_free(copy);
        return;
    }
    list = cidr_list_new(mode);
    maps = argv_new(4);
    warnings = argv_new(4);
    err = buf_new(64);
    if (cidr_list_parse(list, copy, maps, warnings, err) < 0)
        check(buf_len(err) > 0);
    else
        check(buf_len(err) == 0);
    if (have_addr) {
        const struct cidr_entry *hit;
        int got = cidr_list_match(list, a, &hit);
        int want = 0;
        size_t i;

        for (i = 0; i < list->count; i++) {
            const struct cidr_entry *e = &list->entries[i];
            int in = ref_match(&e->net, a);

            if (mode == CIDR_LIST_TABLE ? in != e->negate : in) {
                want = mode == CIDR_LIST_TABLE || !e->negate;
                check(!want || hit == e);
                break;
            }
        }
        check(got == want && (hit != NULL) == got);
    }
    argv_free(maps);
    argv_free(warnings);
    buf_free(err);
    cidr_list_free(list);
    mem_free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text;
    const char *nl;
    size_t first_len;
    struct cidr_addr a;
    int have_addr = 0;
    int mode;

    if (size == 0)
        return 0;
    mode = (data[0] & 1) ? CIDR_LIST_TABLE : CIDR_LIST_MATCH;
    text = (const char *) data + 1;
    size--;
    nl = memchr(text, '\n', size);
    first_len = nl ? (size_t) (nl - text) : size;
    if (nl != NULL) {
        const char *rest = nl + 1;
        size_t rest_len = size - first_len - 1;

        check_addr(rest, rest_len);
        have_addr = cidr_addr_parse(rest, rest_len, &a) == CIDR_OK;
    }
    check_addr(text, first_len);
    check_net(text, first_len, &a, have_addr);
    check_list(text, first_len, mode, &a, have_addr);
    return 0;
}
