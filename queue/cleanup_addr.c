/*
 * cleanup_addr.c - cleanup's address rewriting: the local context
 * (@$myorigin, .$mydomain), canonical maps, masquerading and virtual
 * alias expansion, as Postfix's cleanup does them.
 *
 * Called by cleanup_message.c for the envelope sender and recipients and
 * for addresses in headers. No I/O except table lookups; errors come back
 * as -1/-2 with a reply text ("4.3.0 ...") and a logged warning naming
 * the table.
 */
#include <string.h>

#include "addr.h"
#include "argv.h"
#include "buf.h"
#include "cleanup.h"
#include "dict.h"
#include "maps.h"
#include "maps_search.h"
#include "msg.h"
#include "params.h"
#include "resolve.h"
#include "rfc822.h"
#include "str.h"

/* Most rounds of one-to-one mapping before a loop is assumed. */
#define CLEANUP_MAP11_MAX 10

int cleanup_parse_classes(const char *param, const char *list)
{
    static const struct {
        const char *name;
        int bit;
    } names[] = {
        {"envelope_sender", CLEANUP_CLASS_ENV_FROM},
        {"envelope_recipient", CLEANUP_CLASS_ENV_RCPT},
        {"header_sender", CLEANUP_CLASS_HDR_FROM},
        {"header_recipient", CLEANUP_CLASS_HDR_RCPT},
    };
    struct argv *words = argv_split(list ? list : "", STR_LIST_SEP);
    int bits = 0;
    size_t i;
    size_t j;

    for (i = 0; i < words->argc; i++) {
        for (j = 0; j < sizeof(names) / sizeof(names[0]); j++)
            if (strcasecmp(words->argv[i], names[j].name) == 0)
                break;
        if (j < sizeof(names) / sizeof(names[0]))
            bits |= names[j].bit;
        else
            msg_warn("%s: unknown address class \"%s\": ignored", param,
                     words->argv[i]);
    }
    argv_free(words);
    return bits;
}

static struct maps *cleanup_open_maps(const char *title, const char *names,
                                      int flags)
{
    struct maps *m;

    if (names == NULL || *names == 0)
        return NULL;
    m = maps_create(title, names, flags);
    if (maps_count(m) == 0) {
        maps_free(m);
        return NULL;
    }
    return m;
}

void cleanup_cfg_init(struct cleanup_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->canon =
        cleanup_open_maps("canonical_maps", var_canonical_maps, DICT_FOLD_FIX);
    cfg->send_canon = cleanup_open_maps(
        "sender_canonical_maps", var_sender_canonical_maps, DICT_FOLD_FIX);
    cfg->rcpt_canon =
        cleanup_open_maps("recipient_canonical_maps",
                          var_recipient_canonical_maps, DICT_FOLD_FIX);
    cfg->virt = cleanup_open_maps("virtual_alias_maps", var_virtual_alias_maps,
                                  DICT_FOLD_FIX);
    cfg->hdr_checks = cleanup_open_maps("header_checks", var_header_checks, 0);
    cfg->body_checks = cleanup_open_maps("body_checks", var_body_checks, 0);
    cfg->canon_classes =
        cleanup_parse_classes("canonical_classes", var_canonical_classes);
    cfg->send_canon_classes = cleanup_parse_classes(
        "sender_canonical_classes", var_sender_canonical_classes);
    cfg->rcpt_canon_classes = cleanup_parse_classes(
        "recipient_canonical_classes", var_recipient_canonical_classes);
    cfg->masq_classes =
        cleanup_parse_classes("masquerade_classes", var_masquerade_classes);
    cfg->masq_domains = argv_split(var_masquerade_domains, STR_LIST_SEP);
    cfg->masq_exceptions = argv_split(var_masquerade_exceptions, STR_LIST_SEP);
    cfg->drop_headers = argv_split(var_message_drop_headers, STR_LIST_SEP);
    cfg->resolver = resolver_new();
}

void cleanup_cfg_free(struct cleanup_cfg *cfg)
{
    struct maps *all[] = {cfg->canon, cfg->send_canon, cfg->rcpt_canon,
                          cfg->virt,  cfg->hdr_checks, cfg->body_checks};
    size_t i;

    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i])
            maps_free(all[i]);
    argv_free(cfg->masq_domains);
    argv_free(cfg->masq_exceptions);
    argv_free(cfg->drop_headers);
    if (cfg->resolver)
        resolver_free(cfg->resolver);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- the local context ------------------------------------------------ */

void cleanup_rewrite_local(struct buf *addr, const char *domain)
{
    size_t at;
    const char *dom;

    if (buf_len(addr) == 0)
        return;
    at = addr_split_at(buf_str(addr), buf_len(addr), ADDR_INTERNAL);
    if (domain != NULL) {
        if (at == buf_len(addr) && *domain)
            buf_printf(addr, "@%s", domain);
        return;
    }
    if (at == buf_len(addr)) {
        if (!var_append_at_myorigin || *var_myorigin == 0)
            return;
        buf_printf(addr, "@%s", var_myorigin);
        at = addr_split_at(buf_str(addr), buf_len(addr), ADDR_INTERNAL);
    }
    dom = buf_str(addr) + at + 1;
    if (var_append_dot_mydomain && *var_mydomain && *dom && *dom != '['
        && strchr(dom, '.') == NULL)
        buf_printf(addr, ".%s", var_mydomain);
}

/* Is the domain of ADDR one whose users the tables know by name alone? */
static int cleanup_local_domain(struct cleanup_cfg *cfg, const char *addr)
{
    const char *at = strrchr(addr, '@');
    enum resolve_class cls;

    if (at == NULL)
        return 1;
    if (strcasecmp(at + 1, var_myorigin) == 0)
        return 1;
    if (cfg->resolver == NULL)
        return 0;
    if (resolve_domain_class(cfg->resolver, at + 1, &cls) != LOOKUP_FOUND)
        return 0;
    return cls == RESOLVE_CLASS_LOCAL;
}

/* The first address of a table result, in internal form, into OUT. */
static int cleanup_first_addr(const char *value, struct buf *out)
{
    struct rfc822_addrs list;
    int found = 0;
    size_t i;

    rfc822_addrs_init(&list);
    rfc822_parse_addrs(&list, value, strlen(value), 0);
    for (i = 0; i < list.n && !found; i++) {
        if (buf_len(list.v[i].addr) > 0) {
            buf_set(out, buf_str(list.v[i].addr));
            found = 1;
        }
    }
    rfc822_addrs_free(&list);
    return found;
}

static void cleanup_lookup_error(struct maps *m, const char *addr,
                                 struct buf *err)
{
    struct buf *p = buf_new(64);

    str_printable(p, addr, strlen(addr));
    msg_warn("%s lookup error for \"%s\"", maps_error(m), buf_str(p));
    buf_set(err, "4.3.0 address mapping lookup error");
    buf_free(p);
}

int cleanup_map11(struct cleanup_cfg *cfg, struct maps *m, const char *feature,
                  struct buf *addr, struct buf *err)
{
    struct buf *value = buf_new(64);
    struct buf *next = buf_new(64);
    int round;
    int flags;
    int ret = 0;

    for (round = 0; round < CLEANUP_MAP11_MAX; round++) {
        if (buf_len(addr) == 0)
            break;
        flags =
            cleanup_local_domain(cfg, buf_str(addr)) ? MAPS_SEARCH_LOCAL : 0;
        if (maps_search_propagate(feature))
            flags |= MAPS_SEARCH_PROPAGATE;
        switch (maps_search_rewrite(m, buf_str(addr), flags, value)) {
        case LOOKUP_FOUND:
            break;
        case LOOKUP_NOTFOUND:
            goto done;
        default:
            cleanup_lookup_error(m, buf_str(addr), err);
            ret = -1;
            goto done;
        }
        if (!cleanup_first_addr(buf_str(value), next))
            goto done;
        cleanup_rewrite_local(next, NULL);
        if (strcmp(buf_str(next), buf_str(addr)) == 0)
            goto done;
        buf_set(addr, buf_str(next));
    }
    if (round == CLEANUP_MAP11_MAX) {
        buf_reset(value);
        str_printable(value, buf_str(addr), buf_len(addr));
        msg_warn("%s: mapping loop for \"%s\": stopped after %d rounds",
                 maps_title(m), buf_str(value), CLEANUP_MAP11_MAX);
    }
done:
    buf_free(value);
    buf_free(next);
    return ret;
}

int cleanup_masquerade(struct cleanup_cfg *cfg, struct buf *addr)
{
    const char *a = buf_str(addr);
    size_t at = addr_split_at(a, buf_len(addr), ADDR_INTERNAL);
    const char *domain;
    size_t dlen;
    size_t i;

    if (cfg->masq_domains == NULL || cfg->masq_domains->argc == 0
        || at == buf_len(addr))
        return 0;
    for (i = 0; i < cfg->masq_exceptions->argc; i++) {
        const char *ex = cfg->masq_exceptions->argv[i];

        if (strlen(ex) == at && strncasecmp(ex, a, at) == 0)
            return 0;
    }
    domain = a + at + 1;
    dlen = strlen(domain);
    for (i = 0; i < cfg->masq_domains->argc; i++) {
        const char *masq = cfg->masq_domains->argv[i];
        int negate = (*masq == '!');
        size_t mlen;
        const char *parent;

        masq += negate;
        mlen = strlen(masq);
        if (mlen == 0)
            continue;
        if (mlen == dlen) {
            if (strcasecmp(masq, domain) == 0)
                return 0;
            continue;
        }
        if (mlen > dlen)
            continue;
        parent = domain + dlen - mlen;
        if (parent[-1] != '.' || strcasecmp(parent, masq) != 0)
            continue;
        if (negate)
            return 0;
        {
            struct buf *next = buf_new(at + mlen + 2);

            buf_append(next, a, at + 1);
            buf_puts(next, masq);
            buf_set(addr, buf_str(next));
            buf_free(next);
        }
        return 1;
    }
    return 0;
}

int cleanup_map_class(struct cleanup_cfg *cfg, int cls, struct buf *addr,
                      struct buf *err)
{
    if (buf_len(addr) == 0)
        return 0;
    if ((cls & (CLEANUP_CLASS_ENV_FROM | CLEANUP_CLASS_HDR_FROM))
        && cfg->send_canon && (cfg->send_canon_classes & cls)
        && cleanup_map11(cfg, cfg->send_canon, "canonical", addr, err) < 0)
        return -1;
    if ((cls & (CLEANUP_CLASS_ENV_RCPT | CLEANUP_CLASS_HDR_RCPT))
        && cfg->rcpt_canon && (cfg->rcpt_canon_classes & cls)
        && cleanup_map11(cfg, cfg->rcpt_canon, "canonical", addr, err) < 0)
        return -1;
    if (cfg->canon && (cfg->canon_classes & cls)
        && cleanup_map11(cfg, cfg->canon, "canonical", addr, err) < 0)
        return -1;
    if (cfg->masq_classes & cls)
        cleanup_masquerade(cfg, addr);
    return 0;
}

/* ---- virtual alias expansion ----------------------------------------- */

struct cleanup_virt {
    struct cleanup_cfg *cfg;
    struct argv *out;
    struct argv *seen; /* expanded already */
    struct argv *path; /* being expanded: the way down to here */
    struct buf *err;
    long count;
};

static int cleanup_in_list(const struct argv *list, const char *addr)
{
    size_t i;

    for (i = 0; i < list->argc; i++)
        if (strcasecmp(list->argv[i], addr) == 0)
            return 1;
    return 0;
}

static int cleanup_limit(struct cleanup_virt *v, const char *what,
                         const char *addr)
{
    struct buf *p = buf_new(64);

    str_printable(p, addr, strlen(addr));
    msg_warn("unreasonable virtual_alias_maps map %s for \"%s\"", what,
             buf_str(p));
    buf_set(v->err, "4.6.0 Alias expansion error");
    buf_free(p);
    return -2;
}

static int cleanup_virt_expand(struct cleanup_virt *v, const char *addr,
                               int depth)
{
    struct buf *value;
    struct rfc822_addrs list;
    int flags;
    int ret = 0;
    size_t i;

    if (depth > var_virtual_alias_recursion_limit)
        return cleanup_limit(v, "nesting", addr);
    if (cleanup_in_list(v->path, addr)) {
        /* A loop (a -> b -> a): a is where it ends. */
        if (!cleanup_in_list(v->out, addr))
            argv_add(v->out, addr);
        return 0;
    }
    if (cleanup_in_list(v->seen, addr))
        return 0; /* reached twice (a -> b, c; b -> d; c -> d) */
    argv_add(v->seen, addr);
    value = buf_new(64);
    flags = cleanup_local_domain(v->cfg, addr) ? MAPS_SEARCH_LOCAL : 0;
    if (maps_search_propagate("virtual"))
        flags |= MAPS_SEARCH_PROPAGATE;
    switch (maps_search_rewrite(v->cfg->virt, addr, flags, value)) {
    case LOOKUP_FOUND:
        break;
    case LOOKUP_NOTFOUND:
        if (!cleanup_in_list(v->out, addr))
            argv_add(v->out, addr);
        buf_free(value);
        return 0;
    default:
        cleanup_lookup_error(v->cfg->virt, addr, v->err);
        buf_free(value);
        return -1;
    }
    rfc822_addrs_init(&list);
    rfc822_parse_addrs(&list, buf_str(value), buf_len(value), 0);
    if (list.n == 0 && !cleanup_in_list(v->out, addr))
        argv_add(v->out, addr);
    argv_add(v->path, addr);
    for (i = 0; i < list.n && ret == 0; i++) {
        struct buf *r = list.v[i].addr;

        if (buf_len(r) == 0)
            continue;
        cleanup_rewrite_local(r, NULL);
        if (buf_len(r) > (size_t) var_virtual_alias_address_length_limit) {
            ret = cleanup_limit(v, "result address length", addr);
            break;
        }
        if (++v->count > var_virtual_alias_expansion_limit) {
            ret = cleanup_limit(v, "expansion size", addr);
            break;
        }
        if (strcasecmp(buf_str(r), addr) == 0) {
            /* "a -> a, b": a stays as a final address. */
            if (!cleanup_in_list(v->out, addr))
                argv_add(v->out, addr);
            continue;
        }
        ret = cleanup_virt_expand(v, buf_str(r), depth + 1);
    }
    argv_truncate(v->path, v->path->argc - 1);
    rfc822_addrs_free(&list);
    buf_free(value);
    return ret;
}

int cleanup_virtual(struct cleanup_cfg *cfg, const char *addr, struct argv *out,
                    struct buf *err)
{
    struct cleanup_virt v;
    int ret;

    if (cfg->virt == NULL) {
        argv_add(out, addr);
        return 0;
    }
    v.cfg = cfg;
    v.out = out;
    v.seen = argv_new(8);
    v.path = argv_new(8);
    v.err = err;
    v.count = 0;
    ret = cleanup_virt_expand(&v, addr, 0);
    argv_free(v.seen);
    argv_free(v.path);
    return ret;
}
