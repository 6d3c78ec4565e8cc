/*
 * maps_search.c - Postfix's table search orders (see maps_search.h).
 *
 * Called by the restriction engine, cleanup, smtp, the resolver and local
 * through maps_search.h. Errors: the first ERR_TEMP/ERR_CONFIG of a
 * lookup ends the search and is returned, with the reason in
 * maps_error(); nothing is logged here.
 */
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "maps.h"
#include "maps_search.h"
#include "mem.h"
#include "params.h"
#include "str.h"

/* One derived key: the address split once, keys built into KEY. */
struct search_addr {
    const char *addr;
    size_t len;
    size_t at;          /* offset of the domain's '@', or len */
    int split;          /* recipient_delimiter split the local part */
    int delim;          /* the delimiter found */
    struct buf *user;   /* local part without the extension */
    struct buf *ext;    /* the extension, without the delimiter */
    struct buf *domain; /* without '@' */
    struct buf *key;
};

static const char *search_delims(void)
{
    return var_recipient_delimiter ? var_recipient_delimiter : "";
}

static void search_addr_init(struct search_addr *sa, const char *addr)
{
    sa->addr = addr;
    sa->len = strlen(addr);
    sa->at = addr_split_at(addr, sa->len, ADDR_INTERNAL);
    sa->user = buf_new(64);
    sa->ext = buf_new(32);
    sa->domain = buf_new(64);
    sa->key = buf_new(128);
    sa->split = addr_split_ext(addr, sa->len, search_delims(), sa->user,
                               sa->ext, sa->domain, &sa->delim);
}

static void search_addr_free(struct search_addr *sa)
{
    buf_free(sa->user);
    buf_free(sa->ext);
    buf_free(sa->domain);
    buf_free(sa->key);
}

static int search_has_domain(const struct search_addr *sa)
{
    return sa->at < sa->len;
}

/* The unextended address: user@domain, or user without a domain. */
static const char *search_bare(struct search_addr *sa)
{
    buf_set(sa->key, buf_str(sa->user));
    if (search_has_domain(sa)) {
        buf_putc(sa->key, '@');
        buf_append(sa->key, buf_str(sa->domain), buf_len(sa->domain));
    }
    return buf_str(sa->key);
}

/* Derived lookups stop at the first answer that is not "not found". */
#define SEARCH(m, key, flags, value)                                           \
    do {                                                                       \
        enum lookup_status st_ = maps_find((m), (key), (flags), (value));      \
        if (st_ != LOOKUP_NOTFOUND)                                            \
            return st_;                                                        \
    } while (0)

enum lookup_status maps_search_domain(struct maps *m, const char *domain,
                                      const char *feature, int first_partial,
                                      struct buf *value)
{
    int parent_style = maps_feature_listed(var_parent_domain_matches_subdomains,
                                           feature ? feature : "");
    const char *name = domain;
    const char *next;

    SEARCH(m, domain, first_partial ? MAPS_PARTIAL : 0, value);
    /* A domain literal has no parents. */
    if (*domain == '[')
        return LOOKUP_NOTFOUND;
    while (*name && (next = strchr(name + 1, '.')) != NULL) {
        if (parent_style)
            next++;
        SEARCH(m, next, MAPS_PARTIAL, value);
        name = next;
    }
    return LOOKUP_NOTFOUND;
}

enum lookup_status maps_search_access_host(struct maps *m, const char *name,
                                           const char *feature,
                                           struct buf *value)
{
    return maps_search_domain(m, name, feature, 0, value);
}

/* The body of maps_search_access_addr, so that the caller frees once. */
static enum lookup_status search_access_addr(struct maps *m,
                                             struct search_addr *sa,
                                             const char *feature,
                                             struct buf *value)
{
    SEARCH(m, sa->addr, 0, value);
    if (sa->split)
        SEARCH(m, search_bare(sa), MAPS_PARTIAL, value);
    if (!search_has_domain(sa))
        return LOOKUP_NOTFOUND;
    {
        enum lookup_status st =
            maps_search_domain(m, buf_str(sa->domain), feature, 1, value);

        if (st != LOOKUP_NOTFOUND)
            return st;
    }
    buf_set(sa->key, "");
    buf_append(sa->key, sa->addr, sa->at + 1);
    SEARCH(m, buf_str(sa->key), MAPS_PARTIAL, value);
    if (sa->split) {
        buf_set(sa->key, buf_str(sa->user));
        buf_putc(sa->key, '@');
        SEARCH(m, buf_str(sa->key), MAPS_PARTIAL, value);
    }
    return LOOKUP_NOTFOUND;
}

enum lookup_status maps_search_access_addr(struct maps *m, const char *addr,
                                           const char *feature,
                                           struct buf *value)
{
    struct search_addr sa;
    enum lookup_status st;

    search_addr_init(&sa, addr);
    st = search_access_addr(m, &sa, feature, value);
    search_addr_free(&sa);
    return st;
}

enum lookup_status maps_search_access_ip(struct maps *m, const char *ip,
                                         struct buf *value)
{
    int delim = strchr(ip, ':') != NULL ? ':' : '.';
    enum lookup_status st;
    char *copy;
    char *cp;

    st = maps_find(m, ip, 0, value);
    if (st != LOOKUP_NOTFOUND)
        return st;
    copy = mem_strdup(ip);
    while ((cp = strrchr(copy, delim)) != NULL) {
        *cp = 0;
        if (*copy == 0)
            break;
        st = maps_find(m, copy, MAPS_PARTIAL, value);
        if (st != LOOKUP_NOTFOUND)
            break;
    }
    mem_free(copy);
    return st;
}

/* ---- canonical, virtual, generic --------------------------------------- */

/*
 * Append to OUT the internal address IN with STR inserted before its last
 * '@' (or at the end), in external form.
 */
static void search_insert_ext(struct buf *out, const char *el, size_t len,
                              const char *str, size_t slen)
{
    struct buf *in = buf_new(len + slen + 1);
    struct buf *ins = buf_new(len + slen + 1);
    size_t at;

    addr_unquote(in, el, len);
    at = addr_split_at(buf_str(in), buf_len(in), ADDR_INTERNAL);
    buf_append(ins, buf_str(in), at);
    buf_append(ins, str, slen);
    buf_append(ins, buf_str(in) + at, buf_len(in) - at);
    addr_quote(out, buf_str(ins), buf_len(ins));
    buf_free(in);
    buf_free(ins);
}

/*
 * Apply Postfix's result rewriting to VALUE: "@otherdomain" as the first
 * address becomes LOCAL@otherdomain; EXT (with its delimiter, may be
 * empty) goes into every address.
 */
static void search_rewrite_result(struct buf *value, const char *local,
                                  size_t local_len, const char *ext,
                                  size_t ext_len)
{
    struct buf *out;
    const char *cp;
    const char *end;
    int first = 1;

    if (ext_len == 0 && buf_str(value)[0] != '@')
        return;
    out = buf_new(buf_len(value) + local_len + ext_len + 16);
    cp = buf_str(value);
    end = cp + buf_len(value);
    while (cp < end) {
        const char *start;
        const char *stop;
        int inq = 0;

        while (cp < end
               && (*cp == ',' || *cp == ' ' || *cp == '\t' || *cp == '\r'
                   || *cp == '\n'))
            cp++;
        if (cp >= end)
            break;
        start = cp;
        /* An element ends at a comma outside quotes. */
        for (; cp < end; cp++) {
            if (inq) {
                if (*cp == '\\' && cp + 1 < end)
                    cp++;
                else if (*cp == '"')
                    inq = 0;
            } else if (*cp == '"') {
                inq = 1;
            } else if (*cp == ',') {
                break;
            }
        }
        stop = cp;
        while (stop > start
               && (stop[-1] == ' ' || stop[-1] == '\t' || stop[-1] == '\r'
                   || stop[-1] == '\n'))
            stop--;
        if (buf_len(out) > 0)
            buf_puts(out, ", ");
        if (first && *start == '@') {
            /* The same user (and extension) in the other domain. */
            struct buf *full =
                buf_new(local_len + ext_len + (size_t) (stop - start) + 1);

            buf_append(full, local, local_len);
            buf_append(full, ext, ext_len);
            buf_append(full, start, (size_t) (stop - start));
            addr_quote(out, buf_str(full), buf_len(full));
            buf_free(full);
        } else if (ext_len > 0) {
            search_insert_ext(out, start, (size_t) (stop - start), ext,
                              ext_len);
        } else {
            buf_append(out, start, (size_t) (stop - start));
        }
        first = 0;
    }
    buf_set(value, buf_str(out));
    buf_free(out);
}

/* Found: rewrite the result. CHOPPED says the key lacked the extension. */
static enum lookup_status search_rewrite_found(struct search_addr *sa,
                                               int chopped, int flags,
                                               struct buf *value)
{
    struct buf *ext = buf_new(32);
    const char *local = chopped ? buf_str(sa->user) : sa->addr;
    size_t local_len = chopped ? buf_len(sa->user) : sa->at;

    if (chopped && (flags & MAPS_SEARCH_PROPAGATE)) {
        buf_putc(ext, sa->delim);
        buf_append(ext, buf_str(sa->ext), buf_len(sa->ext));
    }
    search_rewrite_result(value, local, local_len, buf_str(ext), buf_len(ext));
    buf_free(ext);
    return LOOKUP_FOUND;
}

/* As SEARCH, but a match goes through the result rewriting. */
#define SEARCH_REWRITE(m, sa, key, lflags, chopped, flags, value)              \
    do {                                                                       \
        enum lookup_status st_ = maps_find((m), (key), (lflags), (value));     \
        if (st_ == LOOKUP_FOUND)                                               \
            return search_rewrite_found((sa), (chopped), (flags), (value));    \
        if (st_ != LOOKUP_NOTFOUND)                                            \
            return st_;                                                        \
    } while (0)

static enum lookup_status search_rewrite(struct maps *m, struct search_addr *sa,
                                         int flags, struct buf *value)
{
    SEARCH_REWRITE(m, sa, sa->addr, 0, 0, flags, value);
    if (sa->split)
        SEARCH_REWRITE(m, sa, search_bare(sa), MAPS_PARTIAL, 1, flags, value);
    if (!search_has_domain(sa))
        return LOOKUP_NOTFOUND;
    if (flags & MAPS_SEARCH_LOCAL) {
        buf_set(sa->key, "");
        buf_append(sa->key, sa->addr, sa->at);
        SEARCH_REWRITE(m, sa, buf_str(sa->key), MAPS_PARTIAL, 0, flags, value);
        if (sa->split)
            SEARCH_REWRITE(m, sa, buf_str(sa->user), MAPS_PARTIAL, 1, flags,
                           value);
    }
    buf_set(sa->key, "@");
    buf_append(sa->key, buf_str(sa->domain), buf_len(sa->domain));
    /* A wild-card match takes nothing from the local part's extension. */
    SEARCH_REWRITE(m, sa, buf_str(sa->key), MAPS_PARTIAL, 0, flags, value);
    return LOOKUP_NOTFOUND;
}

enum lookup_status maps_search_rewrite(struct maps *m, const char *addr,
                                       int flags, struct buf *value)
{
    struct search_addr sa;
    enum lookup_status st;

    search_addr_init(&sa, addr);
    st = search_rewrite(m, &sa, flags, value);
    search_addr_free(&sa);
    return st;
}

/* ---- transport --------------------------------------------------------- */

static enum lookup_status
search_transport(struct maps *m, struct search_addr *sa, struct buf *value)
{
    SEARCH(m, sa->addr, 0, value);
    if (sa->split)
        SEARCH(m, search_bare(sa), MAPS_PARTIAL, value);
    if (search_has_domain(sa)) {
        enum lookup_status st = maps_search_domain(m, buf_str(sa->domain),
                                                   "transport_maps", 1, value);

        if (st != LOOKUP_NOTFOUND)
            return st;
    }
    SEARCH(m, "*", MAPS_PARTIAL, value);
    return LOOKUP_NOTFOUND;
}

enum lookup_status maps_search_transport(struct maps *m, const char *addr,
                                         struct buf *value)
{
    struct search_addr sa;
    enum lookup_status st;

    search_addr_init(&sa, addr);
    st = search_transport(m, &sa, value);
    search_addr_free(&sa);
    return st;
}

int maps_search_propagate(const char *feature)
{
    return maps_feature_listed(var_propagate_unmatched_extensions, feature);
}
