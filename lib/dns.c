/*
 * dns.c - MX and address lookups for the smtp client (see dns.h).
 *
 * One resolver state per process (res_ninit once), with a retransmission
 * time of 2 seconds and 2 tries. Answers are walked by hand with bounds
 * checks on every offset; names are expanded with dn_expand.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "mem.h"
#include "sock.h"

#define DNS_ANSWER_MAX 65535
#define DNS_T_A        1
#define DNS_T_MX       15
#define DNS_T_AAAA     28

static struct __res_state dns_state;
static int dns_ready;

int dns_init(void)
{
    if (dns_ready)
        return 0;
    memset(&dns_state, 0, sizeof(dns_state));
    if (res_ninit(&dns_state) < 0)
        return -1;
    dns_state.retrans = 2;
    dns_state.retry = 2;
    dns_ready = 1;
    return 0;
}

const char *dns_status_text(enum dns_status st)
{
    switch (st) {
    case DNS_OK:
        return "OK";
    case DNS_NXDOMAIN:
        return "Host not found";
    case DNS_NODATA:
        return "Host found but no data record of requested type";
    case DNS_TEMP:
        break;
    }
    return "Host not found, try again";
}

/* Skip the name at OFF; the offset after it, or -1. */
static long dns_skip_name(const unsigned char *msg, size_t len, size_t off)
{
    int guard = 0;

    while (off < len && guard++ < 128) {
        unsigned c = msg[off];

        if (c == 0)
            return (long) off + 1;
        if ((c & 0xc0) == 0xc0)
            return off + 2 <= len ? (long) off + 2 : -1;
        if (c & 0xc0)
            return -1;
        off += 1 + c;
    }
    return -1;
}

enum dns_status dns_parse_answer(const unsigned char *ans, size_t len, int type,
                                 struct dns_mx **mx, size_t *nmx,
                                 struct dns_addr **addr, size_t *naddr)
{
    unsigned qd, an;
    long off;
    int found = 0;

    if (len < 12 || len > DNS_ANSWER_MAX)
        return DNS_TEMP;
    if (ans[2] & 0x02) /* truncated */
        return DNS_TEMP;
    qd = (unsigned) ((ans[4] << 8) | ans[5]);
    an = (unsigned) ((ans[6] << 8) | ans[7]);
    off = 12;
    while (qd-- > 0) {
        if ((off = dns_skip_name(ans, len, (size_t) off)) < 0
            || (size_t) off + 4 > len)
            return DNS_TEMP;
        off += 4;
    }
    while (an-- > 0) {
        int rtype;
        size_t rdlen;
        const unsigned char *rd;

        if ((off = dns_skip_name(ans, len, (size_t) off)) < 0
            || (size_t) off + 10 > len)
            return DNS_TEMP;
        rtype = (ans[off] << 8) | ans[off + 1];
        rdlen = (size_t) ((ans[off + 8] << 8) | ans[off + 9]);
        off += 10;
        if ((size_t) off + rdlen > len)
            return DNS_TEMP;
        rd = ans + off;
        if (rtype == type && type == DNS_T_MX && mx) {
            char host[NS_MAXDNAME];
            size_t n;

            if (rdlen < 3
                || dn_expand(ans, ans + len, rd + 2, host, sizeof(host))
                       != (int) rdlen - 2)
                return DNS_TEMP;
            n = strlen(host);
            while (n > 0 && host[n - 1] == '.')
                host[--n] = 0;
            if (n == 0) /* "MX 0 ." : the domain accepts no mail */
                return DNS_NODATA;
            *mx = mem_realloc(*mx, (*nmx + 1) * sizeof(**mx));
            (*mx)[*nmx].pref = (unsigned) ((rd[0] << 8) | rd[1]);
            (*mx)[*nmx].host = mem_strdup(host);
            (*nmx)++;
            found = 1;
        } else if (rtype == type && (type == DNS_T_A || type == DNS_T_AAAA)
                   && addr) {
            size_t want = type == DNS_T_A ? 4 : 16;

            if (rdlen != want)
                return DNS_TEMP;
            *addr = mem_realloc(*addr, (*naddr + 1) * sizeof(**addr));
            memset(&(*addr)[*naddr], 0, sizeof(**addr));
            (*addr)[*naddr].family = type == DNS_T_A ? AF_INET : AF_INET6;
            memcpy((*addr)[*naddr].addr, rd, want);
            (*naddr)++;
            found = 1;
        }
        off += (long) rdlen;
    }
    return found ? DNS_OK : DNS_NODATA;
}

/* One query: DNS_OK with the answer in ANS and *LEN, or the failure. */
static enum dns_status dns_send(const char *name, int type, unsigned char *ans,
                                size_t *len)
{
    int n;

    if (dns_init() < 0)
        return DNS_TEMP;
    n = res_nquery(&dns_state, name, ns_c_in, type, ans, DNS_ANSWER_MAX);
    if (n < 0) {
        if (dns_state.res_h_errno == HOST_NOT_FOUND)
            return DNS_NXDOMAIN;
        if (dns_state.res_h_errno == NO_DATA)
            return DNS_NODATA;
        return DNS_TEMP;
    }
    if (n > DNS_ANSWER_MAX)
        return DNS_TEMP;
    *len = (size_t) n;
    return DNS_OK;
}

static int dns_mx_cmp(const void *a, const void *b)
{
    const struct dns_mx *x = a, *y = b;

    if (x->pref != y->pref)
        return x->pref < y->pref ? -1 : 1;
    return 0;
}

enum dns_status dns_lookup_mx(const char *name, struct dns_mx **out,
                              size_t *count)
{
    unsigned char *ans = mem_alloc(DNS_ANSWER_MAX);
    size_t len = 0;
    enum dns_status st;

    *out = NULL;
    *count = 0;
    st = dns_send(name, DNS_T_MX, ans, &len);
    if (st == DNS_OK)
        st = dns_parse_answer(ans, len, DNS_T_MX, out, count, NULL, NULL);
    mem_free(ans);
    if (st != DNS_OK) {
        dns_mx_free(*out, *count);
        *out = NULL;
        *count = 0;
        return st;
    }
    /* insertion sort: stable for equal preferences */
    for (size_t i = 1; i < *count; i++) {
        struct dns_mx tmp = (*out)[i];
        size_t j = i;

        while (j > 0 && dns_mx_cmp(&(*out)[j - 1], &tmp) > 0) {
            (*out)[j] = (*out)[j - 1];
            j--;
        }
        (*out)[j] = tmp;
    }
    return DNS_OK;
}

void dns_mx_free(struct dns_mx *mx, size_t count)
{
    for (size_t i = 0; i < count; i++)
        mem_free(mx[i].host);
    mem_free(mx);
}

/* Rank for combining results: the best outcome wins. */
static int dns_rank(enum dns_status st)
{
    switch (st) {
    case DNS_OK:
        return 3;
    case DNS_TEMP:
        return 2;
    case DNS_NODATA:
        return 1;
    case DNS_NXDOMAIN:
        break;
    }
    return 0;
}

enum dns_status dns_lookup_addr(const char *name, int protocols,
                                struct dns_addr **out, size_t *count)
{
    unsigned char *ans = mem_alloc(DNS_ANSWER_MAX);
    enum dns_status best = DNS_NXDOMAIN;
    int asked = 0;
    static const int types[] = {DNS_T_A, DNS_T_AAAA};

    for (size_t i = 0; i < 2; i++) {
        size_t len = 0;
        enum dns_status st;

        if (!(protocols & (i == 0 ? SOCK_PROTO_IPV4 : SOCK_PROTO_IPV6)))
            continue;
        asked = 1;
        st = dns_send(name, types[i], ans, &len);
        if (st == DNS_OK)
            st = dns_parse_answer(ans, len, types[i], NULL, NULL, out, count);
        if (dns_rank(st) > dns_rank(best))
            best = st;
    }
    mem_free(ans);
    return asked ? best : DNS_NODATA;
}

enum dns_status dns_native_addr(const char *name, int protocols,
                                struct dns_addr **out, size_t *count)
{
    struct addrinfo hints, *res = NULL, *ai;
    int found = 0;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = protocols == SOCK_PROTO_IPV4   ? AF_INET
                      : protocols == SOCK_PROTO_IPV6 ? AF_INET6
                                                     : AF_UNSPEC;
    rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        if (rc == EAI_NONAME)
            return DNS_NXDOMAIN;
#ifdef EAI_NODATA
        if (rc == EAI_NODATA)
            return DNS_NODATA;
#endif
        return DNS_TEMP;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        struct dns_addr a;

        memset(&a, 0, sizeof(a));
        if (ai->ai_family == AF_INET && (protocols & SOCK_PROTO_IPV4)) {
            a.family = AF_INET;
            memcpy(a.addr, &((struct sockaddr_in *) ai->ai_addr)->sin_addr, 4);
        } else if (ai->ai_family == AF_INET6 && (protocols & SOCK_PROTO_IPV6)) {
            a.family = AF_INET6;
            memcpy(a.addr, &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr,
                   16);
        } else {
            continue;
        }
        /* getaddrinfo repeats an address per socket type: skip repeats */
        for (size_t i = 0; i < *count; i++)
            if ((*out)[i].family == a.family
                && memcmp((*out)[i].addr, a.addr, 16) == 0)
                goto next;
        *out = mem_realloc(*out, (*count + 1) * sizeof(**out));
        (*out)[(*count)++] = a;
        found = 1;
    next:;
    }
    freeaddrinfo(res);
    return found ? DNS_OK : DNS_NODATA;
}
