/*
 * cidr.c - IPv4/IPv6 addresses, networks and network lists (see cidr.h).
 *
 * Called by lib/mynetworks.c, lib/addr.c (address literals), smtpd and the
 * cidr: map type. Parsers take pointer plus length and return CIDR_OK or a
 * CIDR_ERR_* code with a static message; list parsing reports errors in a
 * buffer and warnings in an argv. Nothing here logs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "argv.h"
#include "buf.h"
#include "cidr.h"
#include "mem.h"
#include "str.h"

/* "/file" inside "/file" inside ...: enough for real use, stops loops. */
#define CIDR_MAX_FILE_DEPTH 8
/* A mynetworks file is configuration; bound it anyway. */
#define CIDR_MAX_FILE_SIZE (16 * 1024 * 1024)

static int is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static int hex_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Dotted quad, each part 0..255 without leading zeros (as inet_pton). */
static int parse_v4(const char *cp, size_t len, unsigned char *out)
{
    size_t i = 0;
    int part;

    for (part = 0; part < 4; part++) {
        unsigned value = 0;
        size_t digits = 0;

        if (part > 0) {
            if (i >= len || cp[i] != '.')
                return -1;
            i++;
        }
        while (i < len && is_digit((unsigned char) cp[i])) {
            if (digits > 0 && value == 0)
                return -1; /* leading zero */
            value = value * 10 + (unsigned) (cp[i] - '0');
            if (value > 255)
                return -1;
            digits++;
            i++;
        }
        if (digits == 0)
            return -1;
        out[part] = (unsigned char) value;
    }
    return i == len ? 0 : -1;
}

/*
 * RFC 4291 section 2.2 text forms: eight groups of 1-4 hex digits, at most
 * one "::" for a run of zero groups, optionally a dotted quad for the last
 * 32 bits.
 */
static int parse_v6(const char *cp, size_t len, unsigned char *out)
{
    unsigned groups[8];
    size_t ngroups = 0;
    long gap = -1; /* group index of "::" */
    size_t i = 0;
    size_t g;

    if (len >= 2 && cp[0] == ':' && cp[1] == ':') {
        gap = 0;
        i = 2;
        if (i == len)
            goto done;
    } else if (len >= 1 && cp[0] == ':') {
        return -1;
    }
    for (;;) {
        size_t start = i;
        unsigned value = 0;
        int digit;

        while (i < len && i - start < 5
               && (digit = hex_value((unsigned char) cp[i])) >= 0) {
            value = (value << 4) | (unsigned) digit;
            i++;
        }
        if (i < len && cp[i] == '.') {
            /* The dotted quad takes the last two groups. */
            if (ngroups > 6)
                return -1;
            if (parse_v4(cp + start, len - start, out) < 0)
                return -1;
            groups[ngroups++] = ((unsigned) out[0] << 8) | out[1];
            groups[ngroups++] = ((unsigned) out[2] << 8) | out[3];
            break;
        }
        if (i == start || i - start > 4 || ngroups >= 8)
            return -1;
        groups[ngroups++] = value;
        if (i == len)
            break;
        if (cp[i] != ':')
            return -1;
        i++;
        if (i < len && cp[i] == ':') {
            if (gap >= 0)
                return -1;
            gap = (long) ngroups;
            i++;
            if (i == len)
                break;
        } else if (i == len) {
            return -1; /* trailing single ':' */
        }
    }
done:
    if (gap < 0 ? ngroups != 8 : ngroups >= 8)
        return -1;
    memset(out, 0, 16);
    if (gap < 0)
        gap = (long) ngroups;
    for (g = 0; g < (size_t) gap; g++) {
        out[2 * g] = (unsigned char) (groups[g] >> 8);
        out[2 * g + 1] = (unsigned char) groups[g];
    }
    for (g = (size_t) gap; g < ngroups; g++) {
        size_t pos = 8 - (ngroups - g);

        out[2 * pos] = (unsigned char) (groups[g] >> 8);
        out[2 * pos + 1] = (unsigned char) groups[g];
    }
    return 0;
}

int cidr_addr_parse(const char *text, size_t len, struct cidr_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (memchr(text, ':', len) != NULL) {
        if (parse_v6(text, len, out->bytes) < 0)
            return CIDR_ERR_SYNTAX;
        out->family = CIDR_INET6;
    } else {
        if (parse_v4(text, len, out->bytes) < 0)
            return CIDR_ERR_SYNTAX;
        out->family = CIDR_INET4;
    }
    return CIDR_OK;
}

void cidr_addr_format(const struct cidr_addr *a, struct buf *out)
{
    char text[INET6_ADDRSTRLEN];

    if (inet_ntop(a->family == CIDR_INET6 ? AF_INET6 : AF_INET, a->bytes, text,
                  sizeof(text))
        == NULL)
        buf_puts(out, "?"); /* cannot happen */
    else
        buf_puts(out, text);
}

static const unsigned char v4mapped_prefix[12] = {0, 0, 0, 0, 0,    0,
                                                  0, 0, 0, 0, 0xff, 0xff};

int cidr_addr_is_v4mapped(const struct cidr_addr *a)
{
    return a->family == CIDR_INET6
           && memcmp(a->bytes, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

void cidr_addr_unmap(struct cidr_addr *a)
{
    if (!cidr_addr_is_v4mapped(a))
        return;
    memmove(a->bytes, a->bytes + 12, 4);
    memset(a->bytes + 4, 0, 12);
    a->family = CIDR_INET4;
}

static unsigned max_prefix(int family)
{
    return family == CIDR_INET6 ? 128 : 32;
}

/* Clear the bits below PREFIX; returns 1 when any was set. */
static int clear_host_bits(unsigned char *bytes, unsigned prefix, unsigned bits)
{
    int dirty = 0;
    unsigned i;

    for (i = 0; i < bits / 8; i++) {
        unsigned char keep;

        if (prefix >= (i + 1) * 8)
            continue;
        keep = prefix <= i * 8
                   ? 0
                   : (unsigned char) (0xff << (8 - (prefix - i * 8)));
        if (bytes[i] & (unsigned char) ~keep)
            dirty = 1;
        bytes[i] &= keep;
    }
    return dirty;
}

int cidr_net_mask(struct cidr_net *net)
{
    unsigned bits = max_prefix(net->addr.family);

    if (net->prefix > bits)
        net->prefix = bits;
    return clear_host_bits(net->addr.bytes, net->prefix, bits);
}

int cidr_net_parse(const char *text, size_t len, struct cidr_net *out,
                   const char **err)
{
    const char *addr = text;
    size_t addr_len = len;
    const char *mask = NULL;
    size_t mask_len = 0;
    const char *slash;

    memset(out, 0, sizeof(*out));
    if (len > 0 && text[0] == '[') {
        const char *close = memchr(text, ']', len);

        if (close == NULL) {
            *err = "missing ']'";
            return CIDR_ERR_SYNTAX;
        }
        addr = text + 1;
        addr_len = (size_t) (close - addr);
        if (close + 1 < text + len) {
            if (close[1] != '/') {
                *err = "text after ']'";
                return CIDR_ERR_SYNTAX;
            }
            mask = close + 2;
            mask_len = (size_t) (text + len - mask);
        }
    } else if ((slash = memchr(text, '/', len)) != NULL) {
        addr_len = (size_t) (slash - text);
        mask = slash + 1;
        mask_len = (size_t) (text + len - mask);
    }
    if (cidr_addr_parse(addr, addr_len, &out->addr) != CIDR_OK) {
        *err = "bad address syntax";
        return CIDR_ERR_SYNTAX;
    }
    out->prefix = max_prefix(out->addr.family);
    if (mask != NULL) {
        unsigned value = 0;
        size_t i;

        if (mask_len == 0 || mask_len > 3) {
            *err = "bad network mask length";
            return CIDR_ERR_SYNTAX;
        }
        for (i = 0; i < mask_len; i++) {
            if (!is_digit((unsigned char) mask[i])) {
                *err = "bad network mask length";
                return CIDR_ERR_SYNTAX;
            }
            value = value * 10 + (unsigned) (mask[i] - '0');
        }
        if (value > out->prefix) {
            *err = "bad network mask length";
            return CIDR_ERR_SYNTAX;
        }
        out->prefix = value;
    }
    if (clear_host_bits(out->addr.bytes, out->prefix,
                        max_prefix(out->addr.family))) {
        *err = "non-null host address bits";
        return CIDR_ERR_HOSTBITS;
    }
    *err = NULL;
    return CIDR_OK;
}

void cidr_net_format(const struct cidr_net *net, struct buf *out, int brackets)
{
    int bracket = brackets && net->addr.family == CIDR_INET6;

    if (bracket)
        buf_putc(out, '[');
    cidr_addr_format(&net->addr, out);
    if (bracket)
        buf_putc(out, ']');
    buf_printf(out, "/%u", net->prefix);
}

static int prefix_equal(const unsigned char *a, const unsigned char *b,
                        unsigned prefix)
{
    unsigned whole = prefix / 8;
    unsigned rest = prefix % 8;
    unsigned char mask;

    if (memcmp(a, b, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    mask = (unsigned char) (0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

int cidr_net_match(const struct cidr_net *net, const struct cidr_addr *a)
{
    if (net->addr.family == a->family)
        return prefix_equal(net->addr.bytes, a->bytes, net->prefix);
    if (net->addr.family == CIDR_INET4 && cidr_addr_is_v4mapped(a))
        return prefix_equal(net->addr.bytes, a->bytes + 12, net->prefix);
    return 0;
}

struct cidr_list *cidr_list_new(int mode)
{
    struct cidr_list *list = mem_calloc(1, sizeof(*list));

    list->mode = mode;
    return list;
}

void cidr_list_free(struct cidr_list *list)
{
    if (list == NULL)
        return;
    mem_free(list->entries);
    mem_free(list);
}

void cidr_list_add(struct cidr_list *list, const struct cidr_net *net,
                   int negate, void *data)
{
    struct cidr_entry *e;

    if (list->count >= list->size) {
        list->size = list->size ? list->size * 2 : 8;
        list->entries =
            mem_realloc(list->entries, list->size * sizeof(*list->entries));
    }
    e = &list->entries[list->count++];
    e->net = *net;
    e->negate = negate ? 1 : 0;
    e->data = data;
}

int cidr_list_match_text(const struct cidr_list *list, const char *text,
                         size_t len)
{
    struct cidr_addr a;

    if (cidr_addr_parse(text, len, &a) != CIDR_OK)
        return 0;
    if (cidr_addr_is_v4mapped(&a))
        cidr_addr_unmap(&a);
    return cidr_list_match(list, &a, NULL);
}

int cidr_list_match(const struct cidr_list *list, const struct cidr_addr *a,
                    const struct cidr_entry **hit)
{
    size_t i;

    if (hit != NULL)
        *hit = NULL;
    for (i = 0; i < list->count; i++) {
        const struct cidr_entry *e = &list->entries[i];
        int in = cidr_net_match(&e->net, a);

        if (list->mode == CIDR_LIST_TABLE) {
            if (in != e->negate) {
                if (hit != NULL)
                    *hit = e;
                return 1;
            }
        } else if (in) {
            if (e->negate)
                return 0;
            if (hit != NULL)
                *hit = e;
            return 1;
        }
    }
    return 0;
}

/* "type:table": a word of letters, digits, '_' or '-', then ':'. */
static int is_map_reference(const char *item)
{
    size_t n = strspn(item, "abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

    return n > 0 && item[n] == ':';
}

static int read_file(const char *path, struct buf *content, struct buf *err)
{
    FILE *fp = fopen(path, "r");
    char chunk[4096];
    size_t n;

    if (fp == NULL) {
        buf_setf(err, "open %s: %s", path, strerror(errno));
        return -1;
    }
    buf_set_limit(content, CIDR_MAX_FILE_SIZE);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (buf_append(content, chunk, n) < 0) {
            buf_setf(err, "%s: file too large", path);
            fclose(fp);
            return -1;
        }
    }
    if (ferror(fp)) {
        buf_setf(err, "read %s: %s", path, strerror(errno));
        fclose(fp);
        return -1;
    }
    fclose(fp);
    if (memchr(buf_str(content), 0, buf_len(content)) != NULL) {
        buf_setf(err, "%s: file contains a NUL byte", path);
        return -1;
    }
    return 0;
}

static int parse_items(struct cidr_list *list, char *text, int negate,
                       int depth, struct argv *maps, struct argv *warnings,
                       struct buf *err);

/* Comment lines start with '#' (after white space); blank them out. */
static void strip_comment_lines(char *text)
{
    char *line = text;

    while (*line) {
        char *end = strchr(line, '\n');
        char *cp = line + strspn(line, " \t\r");

        if (*cp == '#')
            memset(line, ' ',
                   (size_t) ((end ? end : line + strlen(line)) - line));
        if (end == NULL)
            break;
        line = end + 1;
    }
}

static int parse_file(struct cidr_list *list, const char *path, int negate,
                      int depth, struct argv *maps, struct argv *warnings,
                      struct buf *err)
{
    struct buf *content;
    int ret;

    if (depth >= CIDR_MAX_FILE_DEPTH) {
        buf_setf(err, "%s: files nested too deeply", path);
        return -1;
    }
    content = buf_new(1024);
    ret = read_file(path, content, err);
    if (ret == 0) {
        strip_comment_lines(buf_str(content));
        ret = parse_items(list, buf_str(content), negate, depth + 1, maps,
                          warnings, err);
    }
    buf_free(content);
    return ret;
}

static int parse_items(struct cidr_list *list, char *text, int negate,
                       int depth, struct argv *maps, struct argv *warnings,
                       struct buf *err)
{
    char *item;

    while ((item = str_token(&text, STR_LIST_SEP)) != NULL) {
        const char *spec = item;
        int neg = negate;
        struct cidr_net net;
        const char *why;
        int ret;

        while (*spec == '!') {
            neg = !neg;
            spec++;
        }
        if (*spec == '/') {
            if (parse_file(list, spec, neg, depth, maps, warnings, err) < 0)
                return -1;
            continue;
        }
        ret = cidr_net_parse(spec, strlen(spec), &net, &why);
        if (ret == CIDR_OK) {
            cidr_list_add(list, &net, neg, NULL);
        } else if (ret == CIDR_ERR_HOSTBITS) {
            if (warnings != NULL) {
                struct buf *w = buf_new(64);

                buf_printf(w,
                           "non-null host address bits in \"%s\", "
                           "skipping this rule",
                           spec);
                argv_add(warnings, buf_str(w));
                buf_free(w);
            }
        } else if (is_map_reference(spec) && maps != NULL) {
            struct buf *m = buf_new(64);

            if (neg)
                buf_putc(m, '!');
            buf_puts(m, spec);
            argv_add(maps, buf_str(m));
            buf_free(m);
        } else {
            buf_setf(err, "bad network/mask pattern: \"%s\" (%s)", item,
                     is_map_reference(spec) ? "lookup tables not allowed here"
                                            : why);
            return -1;
        }
    }
    return 0;
}

int cidr_list_parse(struct cidr_list *list, const char *text, struct argv *maps,
                    struct argv *warnings, struct buf *err)
{
    char *copy = mem_strdup(text);
    int ret;

    buf_reset(err);
    ret = parse_items(list, copy, 0, 0, maps, warnings, err);
    mem_free(copy);
    return ret;
}
