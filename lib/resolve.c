/*
 * resolve.c - address classes and transport:nexthop (see resolve.h for
 * the rules, which follow Postfix's trivial-rewrite).
 *
 * Called by qmgr, cleanup, smtpd and local. Errors: lookup_status; a map
 * failure or a broken setting is ERR_TEMP/ERR_CONFIG with the text in
 * resolver_error(), never a class.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "addr.h"
#include "argv.h"
#include "buf.h"
#include "cidr.h"
#include "dict.h"
#include "maps.h"
#include "maps_search.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "resolve.h"
#include "str.h"

#define RESOLVE_FILE_DEPTH 5  /* /file entries naming /files */
#define RESOLVE_LOOP_MAX   50 /* local-part rewrites of one address */

/* A parameter that params_load() has not set yet reads as empty. */
#define NONNULL(s) ((s) ? (s) : "")

/* ---- domain lists ---------------------------------------------------- */

struct domain_entry {
    int negate;
    char *name;        /* a lower-case name or ".domain" pattern */
    struct maps *maps; /* or a type:table */
};

struct domain_list {
    char *param; /* the parameter, also the parent-style feature */
    int exact;   /* mydestination: whole names only */
    struct domain_entry *e;
    size_t n;
    size_t size;
    struct buf *error; /* the list could not be built: ERR_CONFIG */
};

/*
 * Next list element of *CP: separated by commas and white space, except
 * inside {} (inline:{ a=b, c=d } is one element). Returns its length and
 * its start in *START, or 0 at the end.
 */
static size_t list_next(const char **cp, const char **start)
{
    const char *p = *cp;
    int depth = 0;

    p += strspn(p, STR_LIST_SEP);
    *start = p;
    for (; *p; p++) {
        if (*p == '{')
            depth++;
        else if (*p == '}' && depth > 0)
            depth--;
        else if (depth == 0 && strchr(STR_LIST_SEP, *p))
            break;
    }
    *cp = p;
    return (size_t) (p - *start);
}

static void list_add(struct domain_list *l, int negate, const char *name,
                     struct maps *maps)
{
    if (l->n == l->size) {
        l->size = l->size ? l->size * 2 : 8;
        l->e = mem_realloc(l->e, l->size * sizeof(*l->e));
    }
    l->e[l->n].negate = negate;
    l->e[l->n].name = name ? str_lower(mem_strdup(name)) : NULL;
    l->e[l->n].maps = maps;
    l->n++;
}

static int list_parse(struct domain_list *l, const char *text, int negate,
                      int depth);

/* A "/file/name" element: its words are elements too. */
static int list_parse_file(struct domain_list *l, const char *path, int negate,
                           int depth)
{
    FILE *fp;
    struct buf *text;
    char line[1024];
    int ret;

    if (depth >= RESOLVE_FILE_DEPTH) {
        buf_setf(l->error, "%s: /file entries nested too deeply at %s",
                 l->param, path);
        return -1;
    }
    if ((fp = fopen(path, "r")) == NULL) {
        buf_setf(l->error, "%s: open %s: %s", l->param, path, strerror(errno));
        return -1;
    }
    text = buf_new(1024);
    /* Long lines arrive in several fgets calls; comments start a line. */
    {
        int at_start = 1;
        int comment = 0;

        while (fgets(line, sizeof(line), fp) != NULL) {
            size_t len = strlen(line);

            if (at_start) {
                const char *p = line + strspn(line, " \t");

                comment = *p == '#';
            }
            if (!comment)
                buf_append(text, line, len);
            at_start = len > 0 && line[len - 1] == '\n';
            if (at_start && !comment)
                buf_putc(text, ' ');
        }
    }
    if (ferror(fp)) {
        buf_setf(l->error, "%s: read %s: %s", l->param, path, strerror(errno));
        fclose(fp);
        buf_free(text);
        return -1;
    }
    fclose(fp);
    ret = list_parse(l, buf_str(text), negate, depth + 1);
    buf_free(text);
    return ret;
}

static int list_parse(struct domain_list *l, const char *text, int negate,
                      int depth)
{
    const char *cp = text;
    const char *start;
    size_t len;

    while ((len = list_next(&cp, &start)) > 0) {
        char *item = mem_strndup(start, len);
        char *p = item;
        int neg = negate;
        int ret = 0;

        while (*p == '!') {
            neg = !neg;
            p++;
        }
        if (*p == 0) {
            /* A lone "!": nothing to match. */
        } else if (*p == '/') {
            ret = list_parse_file(l, p, neg, depth);
        } else if (*p != '[' && strchr(p, ':') != NULL) {
            list_add(l, neg, NULL, maps_create(l->param, p, DICT_FOLD_FIX));
        } else {
            size_t n = strlen(p);

            /* "example.com." names the same domain. */
            if (n > 1 && p[n - 1] == '.' && p[n - 2] != '.')
                p[n - 1] = 0;
            list_add(l, neg, p, NULL);
        }
        mem_free(item);
        if (ret < 0)
            return -1;
    }
    return 0;
}

static struct domain_list *list_new(const char *param, const char *value,
                                    int exact)
{
    struct domain_list *l = mem_calloc(1, sizeof(*l));

    l->param = mem_strdup(param);
    l->exact = exact;
    l->error = buf_new(0);
    if (list_parse(l, value ? value : "", 0, 0) < 0)
        msg_warn("%s", buf_str(l->error));
    return l;
}

static void list_free(struct domain_list *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < l->n; i++) {
        mem_free(l->e[i].name);
        if (l->e[i].maps)
            maps_free(l->e[i].maps);
    }
    mem_free(l->e);
    mem_free(l->param);
    buf_free(l->error);
    mem_free(l);
}

static int list_reopen(struct domain_list *l)
{
    size_t i;
    int n = 0;

    for (i = 0; i < l->n; i++)
        if (l->e[i].maps)
            n += maps_reopen(l->e[i].maps);
    return n;
}

/* Does NAME (lower case) end with ".SUFFIX"? */
static int is_subdomain(const char *name, const char *suffix)
{
    size_t nl = strlen(name);
    size_t sl = strlen(suffix);

    return nl > sl + 1 && name[nl - sl - 1] == '.'
           && strcmp(name + nl - sl, suffix) == 0;
}

/* ---- the resolver ---------------------------------------------------- */

struct resolver {
    struct domain_list *mydest;
    struct domain_list *alias_domains;
    struct domain_list *mbox_domains;
    struct domain_list *relay_domains;
    struct cidr_addr *ifaddrs; /* inet_interfaces + proxy_interfaces */
    size_t nif;
    size_t ifsize;
    struct buf *if_error; /* why they are unknown; "" if known */
    struct maps *transport_maps;
    struct maps *sdrh_maps; /* sender_dependent_relayhost_maps */
    struct maps *sddt_maps; /* sender_dependent_default_transport_maps */
    struct buf *err;
    struct buf *value;
};

/* Copy a list's or a map's error into the resolver; return ST. */
static enum lookup_status resolver_fail(struct resolver *r,
                                        enum lookup_status st, const char *text)
{
    buf_set(r->err, text);
    return st;
}

static void if_add(struct resolver *r, const struct cidr_addr *a)
{
    struct cidr_addr copy = *a;

    cidr_addr_unmap(&copy);
    if (r->nif == r->ifsize) {
        r->ifsize = r->ifsize ? r->ifsize * 2 : 8;
        r->ifaddrs = mem_realloc(r->ifaddrs, r->ifsize * sizeof(*r->ifaddrs));
    }
    r->ifaddrs[r->nif++] = copy;
}

static void if_add_sockaddr(struct resolver *r, const struct sockaddr *sa)
{
    struct cidr_addr a;

    memset(&a, 0, sizeof(a));
    if (sa->sa_family == AF_INET) {
        a.family = CIDR_INET4;
        memcpy(a.bytes,
               &((const struct sockaddr_in *) (const void *) sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        a.family = CIDR_INET6;
        memcpy(a.bytes,
               &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr,
               16);
    } else {
        return;
    }
    if_add(r, &a);
}

/* Every address of every interface that is up. */
static void if_add_all(struct resolver *r)
{
    struct ifaddrs *list;
    struct ifaddrs *ifa;

    if (getifaddrs(&list) < 0) {
        buf_setf(r->if_error, "inet_interfaces: cannot list interfaces: %s",
                 strerror(errno));
        return;
    }
    for (ifa = list; ifa; ifa = ifa->ifa_next)
        if (ifa->ifa_addr)
            if_add_sockaddr(r, ifa->ifa_addr);
    freeifaddrs(list);
}

/* One inet_interfaces/proxy_interfaces element: address or host name. */
static void if_add_name(struct resolver *r, const char *param, const char *name)
{
    struct cidr_addr a;
    struct addrinfo hints;
    struct addrinfo *res;
    struct addrinfo *ai;
    size_t len = strlen(name);
    int err;

    if (len > 2 && name[0] == '[' && name[len - 1] == ']') {
        name++;
        len -= 2;
    }
    if (cidr_addr_parse(name, len, &a) == CIDR_OK) {
        if_add(r, &a);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    {
        char *host = mem_strndup(name, len);

        err = getaddrinfo(host, NULL, &hints, &res);
        mem_free(host);
    }
    if (err != 0) {
        buf_setf(r->if_error, "%s: cannot find the address of %.*s: %s", param,
                 (int) len, name, gai_strerror(err));
        return;
    }
    for (ai = res; ai; ai = ai->ai_next)
        if_add_sockaddr(r, ai->ai_addr);
    freeaddrinfo(res);
}

static void if_load(struct resolver *r, const char *param, const char *value,
                    int allow_all)
{
    struct argv *av = argv_split(value ? value : "", STR_LIST_SEP);
    size_t i;

    for (i = 0; i < av->argc; i++) {
        const char *name = av->argv[i];

        if (allow_all && strcasecmp(name, "all") == 0) {
            if_add_all(r);
        } else if (allow_all && strcasecmp(name, "loopback-only") == 0) {
            struct cidr_addr a;

            cidr_addr_parse("127.0.0.1", 9, &a);
            if_add(r, &a);
            cidr_addr_parse("::1", 3, &a);
            if_add(r, &a);
        } else {
            if_add_name(r, param, name);
        }
    }
    argv_free(av);
}

struct resolver *resolver_new(void)
{
    struct resolver *r = mem_calloc(1, sizeof(*r));

    r->err = buf_new(64);
    r->value = buf_new(128);
    r->if_error = buf_new(0);
    r->mydest = list_new("mydestination", var_mydestination, 1);
    r->alias_domains =
        list_new("virtual_alias_domains", var_virtual_alias_domains, 0);
    r->mbox_domains =
        list_new("virtual_mailbox_domains", var_virtual_mailbox_domains, 0);
    r->relay_domains = list_new("relay_domains", var_relay_domains, 0);
    if_load(r, "inet_interfaces", var_inet_interfaces, 1);
    if_load(r, "proxy_interfaces", var_proxy_interfaces, 0);
    if (buf_len(r->if_error))
        msg_warn("%s", buf_str(r->if_error));
    r->transport_maps = maps_create("transport_maps",
                                    NONNULL(var_transport_maps), DICT_FOLD_FIX);
    r->sdrh_maps = maps_create("sender_dependent_relayhost_maps",
                               NONNULL(var_sender_dependent_relayhost_maps),
                               DICT_FOLD_FIX);
    r->sddt_maps = maps_create(
        "sender_dependent_default_transport_maps",
        NONNULL(var_sender_dependent_default_transport_maps), DICT_FOLD_FIX);
    return r;
}

void resolver_free(struct resolver *r)
{
    if (r == NULL)
        return;
    list_free(r->mydest);
    list_free(r->alias_domains);
    list_free(r->mbox_domains);
    list_free(r->relay_domains);
    mem_free(r->ifaddrs);
    buf_free(r->if_error);
    maps_free(r->transport_maps);
    maps_free(r->sdrh_maps);
    maps_free(r->sddt_maps);
    buf_free(r->err);
    buf_free(r->value);
    mem_free(r);
}

int resolver_reopen(struct resolver *r)
{
    return list_reopen(r->mydest) + list_reopen(r->alias_domains)
           + list_reopen(r->mbox_domains) + list_reopen(r->relay_domains)
           + maps_reopen(r->transport_maps) + maps_reopen(r->sdrh_maps)
           + maps_reopen(r->sddt_maps);
}

const char *resolver_error(const struct resolver *r)
{
    return buf_str(r->err);
}

void resolve_reply_init(struct resolve_reply *reply)
{
    reply->cls = RESOLVE_CLASS_DEFAULT;
    reply->flags = 0;
    reply->transport = buf_new(16);
    reply->nexthop = buf_new(64);
    reply->recipient = buf_new(64);
}

void resolve_reply_free(struct resolve_reply *reply)
{
    buf_free(reply->transport);
    buf_free(reply->nexthop);
    buf_free(reply->recipient);
    reply->transport = reply->nexthop = reply->recipient = NULL;
}

const char *resolve_class_name(enum resolve_class cls)
{
    switch (cls) {
    case RESOLVE_CLASS_LOCAL:
        return "local";
    case RESOLVE_CLASS_ALIAS:
        return "alias";
    case RESOLVE_CLASS_VIRTUAL:
        return "virtual";
    case RESOLVE_CLASS_RELAY:
        return "relay";
    case RESOLVE_CLASS_DEFAULT:
        return "default";
    }
    return "unknown";
}

/* ---- matching ---------------------------------------------------------- */

/* Does DOMAIN (lower case, no trailing dot) match list L? */
static enum lookup_status list_match(struct resolver *r, struct domain_list *l,
                                     const char *domain)
{
    int parent = maps_feature_listed(
        NONNULL(var_parent_domain_matches_subdomains), l->param);
    size_t i;

    if (buf_len(l->error))
        return resolver_fail(r, LOOKUP_ERR_CONFIG, buf_str(l->error));
    for (i = 0; i < l->n; i++) {
        const struct domain_entry *e = &l->e[i];
        int hit;

        if (e->name) {
            hit = strcmp(domain, e->name) == 0;
            if (!hit && !l->exact) {
                if (e->name[0] == '.')
                    hit = e->name[1] && is_subdomain(domain, e->name + 1);
                else if (parent)
                    hit = is_subdomain(domain, e->name);
            }
        } else {
            enum lookup_status st =
                l->exact ? maps_find(e->maps, domain, 0, r->value)
                         : maps_search_domain(e->maps, domain, l->param, 0,
                                              r->value);

            if (st != LOOKUP_FOUND && st != LOOKUP_NOTFOUND)
                return resolver_fail(r, st, maps_error(e->maps));
            hit = st == LOOKUP_FOUND;
        }
        if (hit)
            return e->negate ? LOOKUP_NOTFOUND : LOOKUP_FOUND;
    }
    return LOOKUP_NOTFOUND;
}

/*
 * Parse the address literal "[...]" in DOMAIN into A: an IPv4 address or
 * "ipv6:" and an IPv6 address. 0, or -1 when it is not one.
 */
static int literal_parse(const char *domain, struct cidr_addr *a)
{
    size_t len = strlen(domain);
    const char *in;
    size_t n;

    if (len < 3 || domain[0] != '[' || domain[len - 1] != ']')
        return -1;
    in = domain + 1;
    n = len - 2;
    if (n > 5 && strncasecmp(in, "ipv6:", 5) == 0) {
        if (cidr_addr_parse(in + 5, n - 5, a) != CIDR_OK
            || a->family != CIDR_INET6)
            return -1;
        return 0;
    }
    if (cidr_addr_parse(in, n, a) != CIDR_OK || a->family != CIDR_INET4)
        return -1;
    return 0;
}

/* Is DOMAIN the address literal of one of our interfaces? */
static enum lookup_status literal_is_ours(struct resolver *r,
                                          const char *domain)
{
    struct cidr_addr a;
    size_t i;

    if (literal_parse(domain, &a) < 0)
        return LOOKUP_NOTFOUND;
    if (buf_len(r->if_error))
        return resolver_fail(r, LOOKUP_ERR_CONFIG, buf_str(r->if_error));
    cidr_addr_unmap(&a);
    for (i = 0; i < r->nif; i++)
        if (r->ifaddrs[i].family == a.family
            && memcmp(r->ifaddrs[i].bytes, a.bytes,
                      a.family == CIDR_INET4 ? 4 : 16)
                   == 0)
            return LOOKUP_FOUND;
    return LOOKUP_NOTFOUND;
}

/* Is DOMAIN (canonical) local: mydestination or our address literal? */
static enum lookup_status domain_is_local(struct resolver *r,
                                          const char *domain)
{
    enum lookup_status st = list_match(r, r->mydest, domain);

    if (st == LOOKUP_NOTFOUND)
        st = literal_is_ours(r, domain);
    return st;
}

/* The class of a DOMAIN that is not local. */
static enum lookup_status classify_other(struct resolver *r, const char *domain,
                                         enum resolve_class *cls)
{
    enum lookup_status st;

    if ((st = list_match(r, r->alias_domains, domain)) != LOOKUP_NOTFOUND) {
        *cls = RESOLVE_CLASS_ALIAS;
        return st;
    }
    if ((st = list_match(r, r->mbox_domains, domain)) != LOOKUP_NOTFOUND) {
        *cls = RESOLVE_CLASS_VIRTUAL;
        return st;
    }
    if ((st = list_match(r, r->relay_domains, domain)) != LOOKUP_NOTFOUND) {
        *cls = RESOLVE_CLASS_RELAY;
        return st;
    }
    *cls = RESOLVE_CLASS_DEFAULT;
    return LOOKUP_FOUND;
}

/* The class of DOMAIN (canonical: lower case, no trailing dot, valid). */
static enum lookup_status classify(struct resolver *r, const char *domain,
                                   enum resolve_class *cls)
{
    enum lookup_status st = domain_is_local(r, domain);

    if (st != LOOKUP_NOTFOUND) {
        *cls = RESOLVE_CLASS_LOCAL;
        return st;
    }
    return classify_other(r, domain, cls);
}

/* Only digits and dots: "1.2.3.4" (or a broken attempt at one). */
static int domain_numeric(const char *domain)
{
    return *domain && strspn(domain, "0123456789.") == strlen(domain);
}

/* Host name syntax: labels of letters, digits, '-' (not first or last),
 * '_' and UTF-8 bytes, 1 to 63 long, 255 in all. */
static int domain_valid(const char *domain)
{
    const char *label = domain;
    size_t total = strlen(domain);

    if (total == 0 || total > 255)
        return 0;
    for (;;) {
        size_t n = strcspn(label, ".");
        size_t i;

        if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
            return 0;
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char) label[i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '-' || c == '_'
                  || c >= 0x80))
                return 0;
        }
        if (label[n] == 0)
            return 1;
        label += n + 1;
    }
}

/*
 * Put DOMAIN into canonical form in OUT: lower case, one trailing dot
 * dropped, "user@1.2.3.4" as "[1.2.3.4]" when resolve_numeric_domain.
 * Returns 1 when the result is a valid domain, 0 when not (OUT holds the
 * lowered text anyway).
 */
static int domain_canon(struct buf *out, const char *domain)
{
    size_t len = strlen(domain);
    struct cidr_addr a;

    buf_set(out, domain);
    addr_lower_ascii(buf_str(out), buf_len(out));
    if (len > 0 && domain[len - 1] == '.') {
        if (len == 1 || domain[len - 2] == '.')
            return 0;
        buf_truncate(out, len - 1);
    }
    if (buf_str(out)[0] == '[')
        return literal_parse(buf_str(out), &a) == 0;
    if (domain_numeric(buf_str(out))) {
        if (!var_resolve_numeric_domain
            || cidr_addr_parse(buf_str(out), buf_len(out), &a) != CIDR_OK
            || a.family != CIDR_INET4)
            return 0;
        {
            struct buf *tmp = buf_new(buf_len(out) + 2);

            buf_printf(tmp, "[%s]", buf_str(out));
            buf_set(out, buf_str(tmp));
            buf_free(tmp);
        }
        return 1;
    }
    return domain_valid(buf_str(out));
}

enum lookup_status resolve_domain_class(struct resolver *r, const char *domain,
                                        enum resolve_class *cls)
{
    struct buf *canon = buf_new(64);
    enum lookup_status st;

    if (!domain_canon(canon, domain)) {
        *cls = RESOLVE_CLASS_DEFAULT;
        st = LOOKUP_FOUND;
    } else {
        st = classify(r, buf_str(canon), cls);
    }
    buf_free(canon);
    return st;
}

/* ---- transports ------------------------------------------------------- */

/* Split "transport:nexthop" (the nexthop may hold more colons). */
static void transport_split(const char *spec, struct buf *transport,
                            struct buf *nexthop)
{
    const char *colon = strchr(spec, ':');

    buf_reset(transport);
    buf_reset(nexthop);
    if (colon == NULL) {
        buf_puts(transport, spec);
    } else {
        buf_append(transport, spec, (size_t) (colon - spec));
        buf_puts(nexthop, colon + 1);
    }
    str_trim(buf_str(transport));
    buf_truncate(transport, strlen(buf_str(transport)));
}

/* A class's transport setting; ERR_CONFIG when it names no transport. */
static enum lookup_status
transport_setting(struct resolver *r, const char *param, const char *value,
                  struct buf *transport, struct buf *nexthop)
{
    transport_split(value ? value : "", transport, nexthop);
    if (buf_len(transport) == 0) {
        buf_setf(r->err, "%s = %s: a null transport is not allowed", param,
                 value ? value : "");
        return LOOKUP_ERR_CONFIG;
    }
    return LOOKUP_FOUND;
}

/* Is a table result "DUNNO" (stop, no override)? */
static int result_dunno(const char *value)
{
    const char *p = value + strspn(value, " \t");
    size_t n = strcspn(p, " \t");

    return n == 5 && strncasecmp(p, "DUNNO", 5) == 0
           && p[n + strspn(p + n, " \t")] == 0;
}

/*
 * sender_dependent_* lookup: the sender address, without its extension,
 * then "@domain"; the null sender as NULL_KEY. DUNNO ends the search
 * without a result.
 */
static enum lookup_status sender_lookup(struct resolver *r, struct maps *m,
                                        const char *sender,
                                        const char *null_key, struct buf *value)
{
    enum lookup_status st;
    struct buf *user;
    struct buf *domain;
    struct buf *key;
    size_t len;
    int split;

    if (sender == NULL || maps_count(m) == 0)
        return LOOKUP_NOTFOUND;
    if (*sender == 0) {
        st = maps_find(m, null_key ? null_key : "<>", 0, value);
    } else {
        len = strlen(sender);
        user = buf_new(64);
        domain = buf_new(64);
        key = buf_new(64);
        split = addr_split_ext(
            sender, len, var_recipient_delimiter ? var_recipient_delimiter : "",
            user, NULL, domain, NULL);
        st = maps_find(m, sender, 0, value);
        if (st == LOOKUP_NOTFOUND && split) {
            buf_set(key, buf_str(user));
            if (addr_split_at(sender, len, ADDR_INTERNAL) < len) {
                buf_putc(key, '@');
                buf_puts(key, buf_str(domain));
            }
            st = maps_find(m, buf_str(key), MAPS_PARTIAL, value);
        }
        if (st == LOOKUP_NOTFOUND
            && addr_split_at(sender, len, ADDR_INTERNAL) < len) {
            buf_set(key, "@");
            buf_puts(key, buf_str(domain));
            st = maps_find(m, buf_str(key), MAPS_PARTIAL, value);
        }
        buf_free(user);
        buf_free(domain);
        buf_free(key);
    }
    if (st == LOOKUP_FOUND && result_dunno(buf_str(value)))
        return LOOKUP_NOTFOUND;
    if (st != LOOKUP_FOUND && st != LOOKUP_NOTFOUND)
        return resolver_fail(r, st, maps_error(m));
    return st;
}

/* Transport and nexthop for the class, before transport_maps. */
static enum lookup_status class_transport(struct resolver *r,
                                          const char *sender,
                                          const char *domain, int flags,
                                          struct resolve_reply *reply)
{
    struct buf *t = reply->transport;
    struct buf *n = reply->nexthop;
    enum lookup_status st;
    int relayhost_ok = 0;

    switch (reply->cls) {
    case RESOLVE_CLASS_LOCAL:
        st = transport_setting(r, "local_transport", var_local_transport, t, n);
        break;
    case RESOLVE_CLASS_ALIAS:
        buf_set(t, "error");
        buf_set(n, var_show_user_unknown_table_name
                       ? "5.1.1 User unknown in virtual alias table"
                       : "5.1.1 User unknown");
        return LOOKUP_FOUND;
    case RESOLVE_CLASS_VIRTUAL:
        st = transport_setting(r, "virtual_transport", var_virtual_transport, t,
                               n);
        break;
    case RESOLVE_CLASS_RELAY:
        st = transport_setting(r, "relay_transport", var_relay_transport, t, n);
        relayhost_ok = 1;
        break;
    case RESOLVE_CLASS_DEFAULT:
    default:
        st = transport_setting(r, "default_transport", var_default_transport, t,
                               n);
        if (st == LOOKUP_FOUND && !(flags & RESOLVE_NO_TRANSPORT)) {
            struct buf *dt_next = buf_new(64);

            buf_set(dt_next, buf_str(n));
            st = sender_lookup(
                r, r->sddt_maps, sender,
                var_empty_address_default_transport_maps_lookup_key, r->value);
            if (st == LOOKUP_FOUND) {
                st = transport_setting(
                    r, "sender_dependent_default_transport_maps",
                    buf_str(r->value), t, n);
                if (buf_len(n) == 0)
                    buf_set(n, buf_str(dt_next));
            } else if (st == LOOKUP_NOTFOUND) {
                st = LOOKUP_FOUND;
            }
            buf_free(dt_next);
        }
        relayhost_ok = 1;
        break;
    }
    if (st != LOOKUP_FOUND)
        return st;
    if (buf_len(n) == 0 && relayhost_ok) {
        if (!(flags & RESOLVE_NO_TRANSPORT)) {
            st = sender_lookup(r, r->sdrh_maps, sender,
                               var_empty_address_relayhost_maps_lookup_key,
                               r->value);
            if (st == LOOKUP_FOUND)
                buf_set(n, buf_str(r->value));
            else if (st != LOOKUP_NOTFOUND)
                return st;
        }
        if (buf_len(n) == 0 && var_relayhost)
            buf_set(n, var_relayhost);
    }
    if (buf_len(n) == 0)
        buf_set(n, domain);
    return LOOKUP_FOUND;
}

/* transport_maps, for every class but ALIAS. */
static enum lookup_status map_transport(struct resolver *r, const char *domain,
                                        struct resolve_reply *reply)
{
    struct buf *t;
    struct buf *n;
    enum lookup_status st;

    if (maps_count(r->transport_maps) == 0 || buf_len(reply->recipient) == 0)
        return LOOKUP_FOUND;
    st = maps_search_transport(r->transport_maps, buf_str(reply->recipient),
                               r->value);
    if (st == LOOKUP_NOTFOUND)
        return LOOKUP_FOUND;
    if (st != LOOKUP_FOUND)
        return resolver_fail(r, st, maps_error(r->transport_maps));
    t = buf_new(16);
    n = buf_new(64);
    transport_split(buf_str(r->value), t, n);
    if (buf_len(t) > 0) {
        buf_set(reply->transport, buf_str(t));
        buf_set(reply->nexthop, buf_len(n) ? buf_str(n) : domain);
    } else if (buf_len(n) > 0) {
        buf_set(reply->nexthop, buf_str(n));
    }
    buf_free(t);
    buf_free(n);
    return LOOKUP_FOUND;
}

/* ---- resolve_addr ------------------------------------------------------ */

/* Does LOCAL (a local part) hold an operator that routes elsewhere? */
static int local_routed(const char *local, size_t len)
{
    return (var_resolve_dequoted_address && memchr(local, '@', len))
           || (var_allow_percent_hack && memchr(local, '%', len))
           || (var_swap_bangpath && memchr(local, '!', len));
}

/*
 * Rewrite the local part LOCAL (no domain) one step into WORK when it
 * routes elsewhere: "user@host" (dequoted), "user%host", "host!user".
 * Returns 1 when rewritten, 0 when LOCAL is a plain local part.
 */
static int local_rewrite(struct buf *work, const char *local, size_t len)
{
    const char *p;

    if (var_resolve_dequoted_address && memchr(local, '@', len)) {
        struct buf *tmp = buf_new(len + 1);

        buf_append(tmp, local, len);
        buf_set(work, buf_str(tmp));
        buf_free(tmp);
        return 1;
    }
    if (var_allow_percent_hack && (p = memrchr(local, '%', len)) != NULL) {
        struct buf *tmp = buf_new(len + 1);

        buf_append(tmp, local, (size_t) (p - local));
        buf_putc(tmp, '@');
        buf_append(tmp, p + 1, len - (size_t) (p - local) - 1);
        buf_set(work, buf_str(tmp));
        buf_free(tmp);
        return 1;
    }
    if (var_swap_bangpath && (p = memchr(local, '!', len)) != NULL) {
        struct buf *tmp = buf_new(len + 1);

        buf_append(tmp, p + 1, len - (size_t) (p - local) - 1);
        buf_putc(tmp, '@');
        buf_append(tmp, local, (size_t) (p - local));
        buf_set(work, buf_str(tmp));
        buf_free(tmp);
        return 1;
    }
    return 0;
}

/*
 * The recipient keeps the case of its domain, without the trailing dot
 * and with brackets added to a numeric domain (CANON holds both): rebuild
 * WORK = LOCAL "@" domain, where AT is the '@' offset in WORK.
 */
static void recipient_domain(struct buf *work, const char *local, size_t at,
                             const char *canon)
{
    const char *dom = buf_str(work) + at + 1;
    size_t dlen = strlen(dom);
    struct buf *tmp;

    if (strcasecmp(dom, canon) == 0)
        return;
    tmp = buf_new(at + strlen(canon) + 2);
    buf_append(tmp, local, at);
    buf_putc(tmp, '@');
    if (canon[0] == '[' && dom[0] != '[')
        buf_puts(tmp, canon);
    else
        buf_append(tmp, dom,
                   dlen > 0 && dom[dlen - 1] == '.' ? dlen - 1 : dlen);
    buf_set(work, buf_str(tmp));
    buf_free(tmp);
}

enum lookup_status resolve_addr(struct resolver *r, const char *sender,
                                const char *rcpt, int flags,
                                struct resolve_reply *reply)
{
    struct buf *work = buf_new(128);
    struct buf *domain = buf_new(64); /* canonical, for matching */
    struct buf *saved = buf_new(64);  /* the last local domain seen */
    struct buf *local = buf_new(64);
    enum lookup_status st = LOOKUP_FOUND;
    int loops;

    reply->cls = RESOLVE_CLASS_DEFAULT;
    reply->flags = 0;
    buf_reset(reply->transport);
    buf_reset(reply->nexthop);
    buf_reset(reply->recipient);
    buf_reset(r->err);

    buf_set(work,
            *rcpt ? rcpt
                  : (var_empty_address_recipient ? var_empty_address_recipient
                                                 : "MAILER-DAEMON"));
    /* "@a,@b:user@c" (RFC 821 source route): only user@c counts. */
    if (buf_str(work)[0] == '@' && strchr(buf_str(work), ':')) {
        char *rest = mem_strdup(strchr(buf_str(work), ':') + 1);

        buf_set(work, rest);
        mem_free(rest);
    }

    for (loops = 0;; loops++) {
        const char *w = buf_str(work);
        size_t len = buf_len(work);
        size_t at = addr_split_at(w, len, ADDR_INTERNAL);

        if (loops >= RESOLVE_LOOP_MAX) {
            reply->flags |= RESOLVE_FLAG_ERROR;
            break;
        }
        if (at == len) {
            /* No domain: a local address, unless it routes elsewhere. */
            buf_set(local, w);
            if (local_rewrite(work, buf_str(local), buf_len(local)))
                continue;
            if (buf_len(saved) == 0)
                buf_set(saved, var_myhostname ? var_myhostname : "");
            buf_printf(work, "@%s", buf_str(saved));
            domain_canon(domain, buf_str(saved));
            reply->cls = RESOLVE_CLASS_LOCAL;
            break;
        }
        buf_reset(local);
        buf_append(local, w, at);
        if (at + 1 == len && !var_resolve_null_domain) {
            reply->flags |= RESOLVE_FLAG_ERROR;
            buf_reset(domain);
            break;
        }
        if (at + 1 == len) {
            /* "user@" taken as a local address. */
            buf_truncate(work, at);
            continue;
        }
        if (!domain_canon(domain, w + at + 1)) {
            reply->flags |= RESOLVE_FLAG_ERROR;
            break;
        }
        recipient_domain(work, buf_str(local), at, buf_str(domain));
        w = buf_str(work);
        if ((st = domain_is_local(r, buf_str(domain))) == LOOKUP_FOUND) {
            buf_set(saved, w + at + 1);
            if (local_rewrite(work, buf_str(local), buf_len(local)))
                continue;
            reply->cls = RESOLVE_CLASS_LOCAL;
            break;
        }
        if (st != LOOKUP_NOTFOUND)
            goto done;
        if ((st = classify_other(r, buf_str(domain), &reply->cls))
            != LOOKUP_FOUND)
            goto done;
        if (local_routed(buf_str(local), buf_len(local)))
            reply->flags |= RESOLVE_FLAG_ROUTED;
        break;
    }
    st = LOOKUP_FOUND;
    buf_set(reply->recipient, buf_str(work));
    if (reply->cls == RESOLVE_CLASS_LOCAL || reply->cls == RESOLVE_CLASS_ALIAS
        || reply->cls == RESOLVE_CLASS_VIRTUAL)
        reply->flags |= RESOLVE_FLAG_FINAL;
    if (reply->flags & RESOLVE_FLAG_ERROR) {
        /* Nothing to look up for an address that is not one. */
        st = class_transport(r, sender, buf_str(domain),
                             flags | RESOLVE_NO_TRANSPORT, reply);
        goto done;
    }
    st = class_transport(r, sender, buf_str(domain), flags, reply);
    if (st == LOOKUP_FOUND && reply->cls != RESOLVE_CLASS_ALIAS
        && !(flags & RESOLVE_NO_TRANSPORT))
        st = map_transport(r, buf_str(domain), reply);

done:
    buf_free(work);
    buf_free(domain);
    buf_free(saved);
    buf_free(local);
    return st;
}
