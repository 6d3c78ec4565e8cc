/*
 * dict_cidr.c - the cidr: table type: IPv4 and IPv6 networks in Postfix's
 * cidr_table(5) format, searched first match wins.
 *
 * Called through dict_open("cidr:/file") and the registry. Rules are
 * "network/prefix result", "address result" (brackets allowed around the
 * address, as Postfix allows), "!pattern result" (matches when the key is
 * NOT in the network), and "if pattern" / "if !pattern" ... "endif"
 * blocks, which nest. The source is read with the pattern-table reader
 * (dict_pattern.c), so continuation lines and inline "{ {rule}, ... }"
 * lists work as for regexp: tables. Addresses are parsed with lib/cidr.c.
 *
 * Errors: a bad rule (bad address, bad mask, host bits set below the mask,
 * no result, unmatched endif) is warned about with the map, file and line
 * in Postfix's words and skipped. A lookup key that is not an address is
 * simply not found. Open fails (NULL with ERR) only when the source cannot
 * be read or a write mode is asked for.
 */
#include <ctype.h>
#include <string.h>

#include "buf.h"
#include "cidr.h"
#include "dict.h"
#include "dict_impl.h"
#include "dict_pattern.h"
#include "mem.h"
#include "str.h"

struct cidr_rule {
    struct cidr_net net;
    int negate;
    int is_if;
    size_t skip_to; /* IF: the rule after its ENDIF */
    char *result;   /* NULL for IF */
};

struct cidr_table {
    struct cidr_rule *rules;
    size_t count;
    size_t size;
};

/* Names every complaint: "cidr map FILE, line N: ...". */
struct cidr_ctx {
    const char *name;
    int lineno;
};

#define CIDR_WARN(ctx, ...)                                                    \
    pat_warn("cidr", (ctx)->name, (ctx)->lineno, __VA_ARGS__)

static int cidr_all_digits(const char *s)
{
    return *s != 0 && strspn(s, "0123456789") == strlen(s);
}

/*
 * Parse a rule's address pattern TEXT into NET, warning as Postfix does
 * and returning -1 when the rule is to be skipped.
 */
static int cidr_parse_pattern(const struct cidr_ctx *ctx, const char *text,
                              struct cidr_net *net)
{
    struct buf *pat = buf_new(strlen(text) + 1);
    struct buf *fixed = NULL;
    char *slash;
    int ret = -1;

    /* "[addr]" and "[addr]/len" (and "[addr/len]") lose their brackets. */
    if (text[0] == '[') {
        const char *close = strchr(text, ']');

        if (close == NULL) {
            CIDR_WARN(ctx,
                      "missing ']' character after \"%s\": "
                      "skipping this rule",
                      text);
            goto out;
        }
        if (close[1] != 0 && close[1] != '/') {
            CIDR_WARN(ctx, "garbage after \"%.*s\": skipping this rule",
                      (int) (close - text + 1), text);
            goto out;
        }
        buf_append(pat, text + 1, (size_t) (close - text - 1));
        buf_puts(pat, close + 1);
    } else {
        buf_puts(pat, text);
    }
    memset(net, 0, sizeof(*net));
    slash = strchr(buf_str(pat), '/');
    if (slash != NULL) {
        const char *mask = slash + 1;
        size_t addr_len = (size_t) (slash - buf_str(pat));
        unsigned max;
        unsigned long len = 0;
        const char *d;

        if (!cidr_all_digits(mask)) {
            CIDR_WARN(ctx, "bad mask value in \"%s\": skipping this rule",
                      buf_str(pat));
            goto out;
        }
        max = memchr(buf_str(pat), ':', addr_len) != NULL ? 128 : 32;
        for (d = mask; *d; d++)
            len = len > 1000 ? len : len * 10 + (unsigned long) (*d - '0');
        if (len > max) {
            CIDR_WARN(ctx, "bad mask length in \"%s\": skipping this rule",
                      buf_str(pat));
            goto out;
        }
        if (cidr_addr_parse(buf_str(pat), addr_len, &net->addr) != CIDR_OK
            || (net->addr.family == CIDR_INET6) != (max == 128)) {
            CIDR_WARN(ctx, "bad network value in \"%s\": skipping this rule",
                      buf_str(pat));
            goto out;
        }
        net->prefix = (unsigned) len;
    } else {
        if (cidr_addr_parse(buf_str(pat), buf_len(pat), &net->addr)
            != CIDR_OK) {
            CIDR_WARN(ctx, "bad address pattern: \"%s\": skipping this rule",
                      buf_str(pat));
            goto out;
        }
        net->prefix = net->addr.family == CIDR_INET6 ? 128 : 32;
    }
    if (cidr_net_mask(net)) {
        fixed = buf_new(64);
        cidr_net_format(net, fixed, 0);
        CIDR_WARN(ctx,
                  "non-null host address bits in \"%s\", perhaps you "
                  "should use \"%s\" instead: skipping this rule",
                  buf_str(pat), buf_str(fixed));
        goto out;
    }
    ret = 0;
out:
    buf_free(pat);
    if (fixed != NULL)
        buf_free(fixed);
    return ret;
}

/* Skip white space and any number of '!' (each one flips NEGATE). */
static char *cidr_skip_negation(char *cp, int *negate)
{
    *negate = 0;
    while (isspace((unsigned char) *cp))
        cp++;
    while (*cp == '!') {
        *negate = !*negate;
        cp++;
        while (isspace((unsigned char) *cp))
            cp++;
    }
    return cp;
}

static void cidr_table_add(struct cidr_table *t, const struct cidr_rule *r)
{
    if (t->count >= t->size) {
        t->size = t->size ? t->size * 2 : 16;
        t->rules = mem_realloc(t->rules, t->size * sizeof(*t->rules));
    }
    t->rules[t->count++] = *r;
}

static void cidr_table_free(struct cidr_table *t)
{
    size_t i;

    for (i = 0; i < t->count; i++)
        mem_free(t->rules[i].result);
    mem_free(t->rules);
    mem_free(t);
}

/* "if [!]pattern": 0 with the rule added, -1 when skipped. */
static int cidr_parse_if(const struct cidr_ctx *ctx, struct cidr_table *t,
                         char *line)
{
    struct cidr_rule r;
    char *pattern;

    memset(&r, 0, sizeof(r));
    r.is_if = 1;
    /* The pattern is the rest of the line: no result follows an IF. */
    pattern = str_trim(cidr_skip_negation(line + 2, &r.negate));
    if (*pattern == 0) {
        CIDR_WARN(ctx, "no address pattern: skipping this rule");
        return -1;
    }
    if (cidr_parse_pattern(ctx, pattern, &r.net) < 0)
        return -1;
    cidr_table_add(t, &r);
    return 0;
}

/* "[!]pattern result". */
static void cidr_parse_rule(const struct cidr_ctx *ctx, struct cidr_table *t,
                            char *line)
{
    struct cidr_rule r;
    char *pattern;
    char *result;

    memset(&r, 0, sizeof(r));
    pattern = cidr_skip_negation(line, &r.negate);
    if (*pattern == 0) {
        CIDR_WARN(ctx, "no address pattern: skipping this rule");
        return;
    }
    result = pattern + strcspn(pattern, " \t\r\n\f\v");
    if (*result != 0)
        *result++ = 0;
    result = str_trim(result);
    if (cidr_parse_pattern(ctx, pattern, &r.net) < 0)
        return;
    if (*result == 0) {
        CIDR_WARN(ctx, "no lookup result: skipping this rule");
        return;
    }
    r.result = mem_strdup(result);
    cidr_table_add(t, &r);
}

static enum lookup_status cidr_lookup(struct dict *d, const char *key,
                                      struct buf *value)
{
    struct cidr_table *t = d->priv;
    struct cidr_addr addr;
    size_t i = 0;

    /* Not an address (brackets, zone ids, garbage): nothing can match. */
    if (cidr_addr_parse(key, strlen(key), &addr) != CIDR_OK)
        return LOOKUP_NOTFOUND;
    while (i < t->count) {
        const struct cidr_rule *r = &t->rules[i];
        /*
         * As in Postfix, a rule of the other address family never applies,
         * negated or not, and there is no IPv4-mapped matching.
         */
        int applies = r->net.addr.family == addr.family
                      && cidr_net_match(&r->net, &addr) != r->negate;

        if (r->is_if) {
            i = applies ? i + 1 : r->skip_to;
            continue;
        }
        if (applies) {
            buf_set(value, r->result);
            return LOOKUP_FOUND;
        }
        i++;
    }
    return LOOKUP_NOTFOUND;
}

static int cidr_close(struct dict *d)
{
    cidr_table_free(d->priv);
    d->priv = NULL;
    dict_free(d);
    return 0;
}

/* An open IF while parsing: its rule index and line. */
struct cidr_open_if {
    size_t rule;
    int lineno;
};

struct dict *dict_cidr_open(const char *name, int open_flags, int flags,
                            struct buf *err)
{
    struct pat_source *src;
    struct cidr_table *t;
    struct cidr_open_if *ifs = NULL;
    size_t nifs = 0;
    size_t ifs_size = 0;
    struct cidr_ctx ctx;
    struct buf *line;
    struct dict *d;
    int is_file;
    int ret;

    if (open_flags != DICT_RDONLY) {
        buf_setf(err, "cidr:%s map requires O_RDONLY access mode", name);
        return NULL;
    }
    src = pat_source_open("cidr", name, err);
    if (src == NULL)
        return NULL;
    t = mem_calloc(1, sizeof(*t));
    ctx.name = name;
    ctx.lineno = 0;
    line = buf_new(256);
    while ((ret = pat_source_next(src, line, &ctx.lineno, err)) > 0) {
        char *text = buf_str(line);

        if (pat_keyword(text, "if")) {
            if (cidr_parse_if(&ctx, t, text) == 0) {
                if (nifs >= ifs_size) {
                    ifs_size = ifs_size ? ifs_size * 2 : 8;
                    ifs = mem_realloc(ifs, ifs_size * sizeof(*ifs));
                }
                ifs[nifs].rule = t->count - 1;
                ifs[nifs].lineno = ctx.lineno;
                nifs++;
            }
        } else if (pat_keyword(text, "endif")) {
            if (text[5 + strspn(text + 5, " \t\r\n\f\v")] != 0) {
                CIDR_WARN(&ctx, "garbage after ENDIF: skipping this rule");
            } else if (nifs == 0) {
                CIDR_WARN(&ctx, "ENDIF without IF: skipping this rule");
            } else {
                nifs--;
                t->rules[ifs[nifs].rule].skip_to = t->count;
            }
        } else {
            cidr_parse_rule(&ctx, t, text);
        }
    }
    buf_free(line);
    is_file = pat_source_is_file(src);
    pat_source_close(src);
    if (ret < 0) {
        mem_free(ifs);
        cidr_table_free(t);
        return NULL;
    }
    /* An IF left open at the end covers the rest of the table. */
    while (nifs > 0) {
        nifs--;
        ctx.lineno = ifs[nifs].lineno;
        CIDR_WARN(&ctx, "IF has no matching ENDIF");
        t->rules[ifs[nifs].rule].skip_to = t->count;
    }
    mem_free(ifs);

    d = dict_alloc("cidr", name, open_flags,
                   (flags & ~(DICT_FOLD_FIX | DICT_FIXED)) | DICT_PATTERN, 0);
    d->priv = t;
    d->lookup = cidr_lookup;
    d->close = cidr_close;
    if (is_file)
        dict_remember_file(d, name);
    return d;
}
