/*
 * smtp_addr.c - from a nexthop to the list of server addresses to try.
 *
 * Nexthop forms (as qmgr passes them, a list separated by commas or
 * white space): "[host]" and "[host]:port" (no MX lookup), "host" and
 * "host:port" (MX lookup, the host's own addresses when it has no MX),
 * "[ipv6:2001:db8::1]:port", numeric addresses; ports are numbers or
 * service names (/etc/services, with the common mail ones built in for a
 * chroot without the file). smtp_fallback_relay destinations come after
 * the nexthop's. Lookups follow smtp_host_lookup (dns, native or both, in
 * that order) and inet_protocols.
 *
 * Errors: a nexthop that does not parse, or names that do not resolve,
 * leave the list empty with the reason and whether it is for good (a
 * name that does not exist: bounce) in struct smtp_targets.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "argv.h"
#include "buf.h"
#include "dns.h"
#include "mem.h"
#include "params.h"
#include "smtp.h"
#include "sock.h"
#include "str.h"

int smtp_port_lookup(const char *service)
{
    static const struct {
        const char *name;
        int port;
    } known[] = {
        {"smtp", 25},         {"submission", 587}, {"smtps", 465},
        {"submissions", 465}, {"lmtp", 24},        {"urd", 465},
    };
    struct servent *se;
    char *end;
    long v;

    if (service == NULL || *service == 0)
        return -1;
    v = strtol(service, &end, 10);
    if (*end == 0)
        return v > 0 && v < 65536 ? (int) v : -1;
    if ((se = getservbyname(service, "tcp")) != NULL)
        return ntohs((unsigned short) se->s_port);
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcasecmp(service, known[i].name) == 0)
            return known[i].port;
    return -1;
}

void smtp_dest_free(struct smtp_dest *d)
{
    mem_free(d->host);
    mem_free(d->text);
    memset(d, 0, sizeof(*d));
}

static int smtp_is_numeric(const char *host)
{
    unsigned char tmp[16];

    return inet_pton(AF_INET, host, tmp) == 1
           || inet_pton(AF_INET6, host, tmp) == 1;
}

int smtp_dest_parse(const char *text, struct smtp_dest *d, struct buf *err)
{
    const char *p = text;
    const char *host, *port = NULL;
    size_t hlen;

    memset(d, 0, sizeof(*d));
    if (*p == '[') {
        const char *close = strchr(p, ']');

        if (close == NULL) {
            buf_setf(err, "malformed nexthop \"%s\": missing ']'", text);
            return -1;
        }
        host = p + 1;
        hlen = (size_t) (close - host);
        if (hlen >= 5 && strncasecmp(host, "ipv6:", 5) == 0) {
            host += 5;
            hlen -= 5;
        }
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != 0) {
            buf_setf(err, "malformed nexthop \"%s\"", text);
            return -1;
        }
        d->mx = 0;
    } else {
        const char *colon = strrchr(p, ':');

        /* a bare IPv6 address has several colons: no port then */
        if (colon && strchr(p, ':') != colon)
            colon = NULL;
        host = p;
        hlen = colon ? (size_t) (colon - p) : strlen(p);
        if (colon)
            port = colon + 1;
        d->mx = 1;
    }
    if (hlen == 0 || hlen > 255) {
        buf_setf(err, "malformed nexthop \"%s\": bad host name", text);
        return -1;
    }
    d->host = mem_strndup(host, hlen);
    if (strspn(d->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789.-_:%")
        != hlen) {
        buf_setf(err, "malformed nexthop \"%s\": bad host name", text);
        smtp_dest_free(d);
        return -1;
    }
    d->literal = smtp_is_numeric(d->host);
    if (d->literal)
        d->mx = 0;
    if (port) {
        int n = smtp_port_lookup(port);

        if (n < 0) {
            buf_setf(err, "unknown service \"%s\" in nexthop \"%s\"", port,
                     text);
            smtp_dest_free(d);
            return -1;
        }
        d->port = (unsigned) n;
    }
    d->text = mem_strdup(text);
    return 0;
}

void smtp_addr_warm_up(void)
{
    struct argv *how = argv_split(var_smtp_host_lookup, STR_LIST_SEP);

    for (size_t i = 0; i < how->argc; i++) {
        if (strcasecmp(how->argv[i], "native") == 0) {
            struct dns_addr *a = NULL;
            size_t n = 0;

            (void) dns_native_addr("localhost", SOCK_PROTO_ALL, &a, &n);
            mem_free(a);
            break;
        }
    }
    argv_free(how);
}

void smtp_targets_free(struct smtp_targets *t)
{
    for (size_t i = 0; i < t->n; i++) {
        mem_free(t->v[i].host);
        mem_free(t->v[i].dest);
    }
    mem_free(t->v);
    buf_free(t->why);
    memset(t, 0, sizeof(*t));
}

/* Addresses of HOST per smtp_host_lookup. */
static enum dns_status smtp_host_addrs(const char *host, int protocols,
                                       struct dns_addr **out, size_t *n)
{
    struct argv *how = argv_split(var_smtp_host_lookup, STR_LIST_SEP);
    enum dns_status st = DNS_NXDOMAIN, got;
    int tried = 0;

    for (size_t i = 0; i < how->argc; i++) {
        if (strcasecmp(how->argv[i], "dns") == 0)
            got = dns_lookup_addr(host, protocols, out, n);
        else if (strcasecmp(how->argv[i], "native") == 0)
            got = dns_native_addr(host, protocols, out, n);
        else
            continue;
        tried = 1;
        if (got == DNS_OK) {
            st = DNS_OK;
            break;
        }
        if (st != DNS_TEMP)
            st = got;
    }
    if (!tried)
        st = dns_lookup_addr(host, protocols, out, n);
    argv_free(how);
    return st;
}

static int smtp_use_dns(void)
{
    struct argv *how = argv_split(var_smtp_host_lookup, STR_LIST_SEP);
    int dns = how->argc == 0;

    for (size_t i = 0; i < how->argc; i++)
        if (strcasecmp(how->argv[i], "dns") == 0)
            dns = 1;
    argv_free(how);
    return dns;
}

static void smtp_target_add(struct smtp_targets *t, const char *host,
                            const struct smtp_dest *d, const struct dns_addr *a,
                            unsigned port)
{
    struct smtp_target *x;

    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].family == a->family && t->v[i].port == port
            && memcmp(t->v[i].addr, a->addr, 16) == 0)
            return; /* the same server twice (two MX names, one address) */
    t->v = mem_realloc(t->v, (t->n + 1) * sizeof(*t->v));
    x = &t->v[t->n++];
    memset(x, 0, sizeof(*x));
    x->host = mem_strdup(host);
    x->dest = mem_strdup(d->text);
    x->family = a->family;
    memcpy(x->addr, a->addr, 16);
    x->port = port;
    inet_ntop(a->family, a->addr, x->addr_text, sizeof(x->addr_text));
}

/* Note why a lookup failed; a temporary failure wins over a hard one. */
static void smtp_targets_why(struct smtp_targets *t, int hard, const char *dsn,
                             const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void smtp_targets_why(struct smtp_targets *t, int hard, const char *dsn,
                             const char *fmt, ...)
{
    va_list ap;

    if (buf_len(t->why) && !t->hard && hard)
        return;
    va_start(ap, fmt);
    buf_reset(t->why);
    buf_vprintf(t->why, fmt, ap);
    va_end(ap);
    t->hard = hard;
    snprintf(t->dsn, sizeof(t->dsn), "%s", dsn);
}

/* Shuffle the runs of equal preference in MX (Fisher-Yates per run). */
static void smtp_mx_shuffle(struct dns_mx *mx, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t j = i;

        while (j < n && mx[j].pref == mx[i].pref)
            j++;
        for (size_t k = j - 1; k > i; k--) {
            size_t r = i + (size_t) random() % (k - i + 1);
            struct dns_mx tmp = mx[k];

            mx[k] = mx[r];
            mx[r] = tmp;
        }
        i = j;
    }
}

/* The addresses of one host (a literal, or looked up). */
static void smtp_host_targets(struct smtp_targets *t, const struct smtp_dest *d,
                              const char *host, unsigned port, int protocols)
{
    struct dns_addr *addrs = NULL;
    size_t n = 0;
    enum dns_status st;
    struct dns_addr lit;

    memset(&lit, 0, sizeof(lit));
    if (inet_pton(AF_INET, host, lit.addr) == 1) {
        lit.family = AF_INET;
        smtp_target_add(t, host, d, &lit, port);
        return;
    }
    if (inet_pton(AF_INET6, host, lit.addr) == 1) {
        lit.family = AF_INET6;
        smtp_target_add(t, host, d, &lit, port);
        return;
    }
    st = smtp_host_addrs(host, protocols, &addrs, &n);
    if (st == DNS_OK) {
        for (size_t i = 0; i < n; i++)
            smtp_target_add(t, host, d, &addrs[i], port);
    } else {
        smtp_targets_why(t, st != DNS_TEMP, st == DNS_TEMP ? "4.4.3" : "5.4.4",
                         "Host or domain name not found. Name service error "
                         "for name=%s type=%s: %s",
                         host, protocols == SOCK_PROTO_IPV6 ? "AAAA" : "A",
                         dns_status_text(st));
    }
    mem_free(addrs);
}

static void smtp_dest_targets(struct smtp_targets *t, const struct smtp_dest *d,
                              int protocols)
{
    unsigned port = d->port;
    struct dns_mx *mx = NULL;
    size_t nmx = 0;
    enum dns_status st;

    if (port == 0) {
        int p = smtp_port_lookup(var_smtp_tcp_port);

        port = p > 0 ? (unsigned) p : 25;
    }
    if (!d->mx || !smtp_use_dns()) {
        smtp_host_targets(t, d, d->host, port, protocols);
        return;
    }
    st = dns_lookup_mx(d->host, &mx, &nmx);
    if (st == DNS_OK) {
        size_t before = t->n;

        if (var_smtp_randomize_addresses)
            smtp_mx_shuffle(mx, nmx);
        for (size_t i = 0; i < nmx; i++)
            smtp_host_targets(t, d, mx[i].host, port, protocols);
        /* MX hosts without addresses: bounce, unless told to defer */
        if (t->n == before && var_smtp_defer_if_no_mx_address_found)
            t->hard = 0;
        dns_mx_free(mx, nmx);
        return;
    }
    if (st == DNS_NODATA) {
        smtp_host_targets(t, d, d->host, port, protocols);
        return;
    }
    smtp_targets_why(t, st == DNS_NXDOMAIN, st == DNS_TEMP ? "4.4.3" : "5.4.4",
                     "Host or domain name not found. Name service error for "
                     "name=%s type=MX: %s",
                     d->host, dns_status_text(st));
}

/* Add the targets of each nexthop in LIST; count the ones that parsed. */
static void smtp_list_targets(struct smtp_targets *t, const char *list,
                              int protocols)
{
    struct argv *items = argv_split(list, STR_LIST_SEP);
    struct buf *err = buf_new(64);

    for (size_t i = 0; i < items->argc; i++) {
        struct smtp_dest d;

        if (smtp_dest_parse(items->argv[i], &d, err) < 0) {
            smtp_targets_why(t, 0, "4.3.5", "%s", buf_str(err));
            continue;
        }
        smtp_dest_targets(t, &d, protocols);
        smtp_dest_free(&d);
    }
    buf_free(err);
    argv_free(items);
}

void smtp_targets_find(struct smtp_targets *t, const char *nexthop)
{
    int protocols = sock_protocols(var_inet_protocols);
    size_t primary;

    memset(t, 0, sizeof(*t));
    t->why = buf_new(64);
    if (protocols < 0)
        protocols = SOCK_PROTO_ALL;
    smtp_list_targets(t, nexthop, protocols);
    primary = t->n;
    if (var_smtp_fallback_relay[0])
        smtp_list_targets(t, var_smtp_fallback_relay, protocols);
    if (var_smtp_mx_address_limit > 0
        && t->n > (size_t) var_smtp_mx_address_limit) {
        /* the fallback relays keep their place after the limit */
        size_t keep = (size_t) var_smtp_mx_address_limit;

        if (primary > keep && t->n > primary) {
            size_t extra = t->n - primary;

            for (size_t i = keep; i < primary; i++) {
                mem_free(t->v[i].host);
                mem_free(t->v[i].dest);
            }
            memmove(&t->v[keep], &t->v[primary], extra * sizeof(*t->v));
            t->n = keep + extra;
        } else if (primary <= keep) {
            /* nothing of the nexthop's to cut */
        } else {
            for (size_t i = keep; i < t->n; i++) {
                mem_free(t->v[i].host);
                mem_free(t->v[i].dest);
            }
            t->n = keep;
        }
    }
    if (t->n == 0 && buf_len(t->why) == 0)
        smtp_targets_why(t, 0, "4.4.4", "no server address for %s", nexthop);
}
