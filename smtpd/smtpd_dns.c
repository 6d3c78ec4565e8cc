/*
 * smtpd_dns.c - the system resolver behind smtpd's DNS restrictions
 * (reject_unknown_*, reject_rbl_client and friends, check_*_{a,mx,ns}_access,
 * permit_mx_backup).
 *
 * Each query uses its own resolver state with a short retransmission
 * time-out and few tries, so a query is bounded to a few seconds. Answers
 * are parsed here with full bounds checks (no trust in the packet).
 * Errors: 4 for a time-out, SERVFAIL or a malformed answer; 5 for NXDOMAIN
 * or no data.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "buf.h"
#include "smtpd_check.h"
#include "smtpd_dns.h"

#define DNS_ANSWER_MAX 4096

/* Skip a (possibly compressed) name at P; the new offset or -1. */
static int dns_skip_name(const unsigned char *msg, int len, int off)
{
    int guard = 0;

    while (off < len && guard++ < 128) {
        unsigned c = msg[off];
        if (c == 0)
            return off + 1;
        if ((c & 0xc0) == 0xc0)
            return off + 2 <= len ? off + 2 : -1;
        if (c & 0xc0)
            return -1;
        off += 1 + (int) c;
    }
    return -1;
}

typedef void (*dns_record_fn)(const unsigned char *rd, int rdlen, void *ctx);

/*
 * Walk the answer section of the LEN-byte reply ANS: FN gets the data of
 * each record of TYPE. 2 when there was one, 5 when none, 4 when the
 * packet is malformed.
 */
static int dns_parse(const unsigned char *ans, int len, int type,
                     dns_record_fn fn, void *ctx)
{
    int off, qd, an, found = 0;

    if (len < 12)
        return 4;
    qd = (ans[4] << 8) | ans[5];
    an = (ans[6] << 8) | ans[7];
    off = 12;
    while (qd-- > 0) {
        if ((off = dns_skip_name(ans, len, off)) < 0 || off + 4 > len)
            return 4;
        off += 4;
    }
    while (an-- > 0) {
        int rtype, rdlen;
        if ((off = dns_skip_name(ans, len, off)) < 0 || off + 10 > len)
            return 4;
        rtype = (ans[off] << 8) | ans[off + 1];
        rdlen = (ans[off + 8] << 8) | ans[off + 9];
        off += 10;
        if (off + rdlen > len)
            return 4;
        if (rtype == type) {
            found = 1;
            if (fn)
                fn(ans + off, rdlen, ctx);
        }
        off += rdlen;
    }
    return found ? 2 : 5;
}

/*
 * Send one query for NAME and TYPE with the process's resolver state (read
 * from resolv.conf once, with a short retransmit time and two tries).
 * 0 with the answer in ANS (*LEN bytes), or 5 (no such name or no data)
 * or 4 (any other failure, a truncated answer included).
 */
static int dns_send(const char *name, int type, unsigned char *ans, int *len)
{
    static struct __res_state rs;
    static int ready;

    if (!ready) {
        memset(&rs, 0, sizeof(rs));
        if (res_ninit(&rs) < 0)
            return 4;
        rs.retrans = 2;
        rs.retry = 2;
        ready = 1;
    }
    *len = res_nquery(&rs, name, ns_c_in, type, ans, DNS_ANSWER_MAX);
    if (*len < 0)
        return (rs.res_h_errno == HOST_NOT_FOUND || rs.res_h_errno == NO_DATA)
                   ? 5
                   : 4;
    return *len > DNS_ANSWER_MAX ? 4 : 0;
}

/* Run one query. 2 with the records of TYPE passed to FN, 4 or 5 as above. */
static int dns_query(const char *name, int type, dns_record_fn fn, void *ctx)
{
    unsigned char ans[DNS_ANSWER_MAX];
    int len;
    int st = dns_send(name, type, ans, &len);

    return st ? st : dns_parse(ans, len, type, fn, ctx);
}

int smtpd_dns_host_or_mx(const char *name)
{
    static const int types[] = {ns_t_a, ns_t_aaaa, ns_t_mx};
    int temp = 0;

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int st = dns_query(name, types[i], NULL, NULL);
        if (st == 2)
            return 2;
        if (st == 4)
            temp = 1;
    }
    return temp ? 4 : 5;
}

static void dns_add_a(const unsigned char *rd, int rdlen, void *ctx)
{
    struct buf *out = ctx;
    char text[INET_ADDRSTRLEN];

    if (rdlen != 4 || !inet_ntop(AF_INET, rd, text, sizeof(text)))
        return;
    if (buf_len(out))
        buf_putc(out, ' ');
    buf_puts(out, text);
}

static void dns_add_txt(const unsigned char *rd, int rdlen, void *ctx)
{
    struct buf *out = ctx;
    int off = 0;

    if (buf_len(out))
        return; /* the first TXT record only */
    while (off < rdlen) {
        int n = rd[off++];
        if (off + n > rdlen)
            n = rdlen - off;
        buf_append(out, rd + off, (size_t) n);
        off += n;
    }
}

int smtpd_dns_rbl(const char *name, struct buf *addrs, struct buf *text)
{
    int st = dns_query(name, ns_t_a, dns_add_a, addrs);

    if (st == 2 && text)
        (void) dns_query(name, ns_t_txt, dns_add_txt, text);
    return st;
}

/* One MX record, for sorting by preference. */
struct dns_mx {
    unsigned pref;
    char host[NS_MAXDNAME];
};

static int dns_mx_cmp(const void *a, const void *b)
{
    const struct dns_mx *x = a, *y = b;

    return x->pref < y->pref ? -1 : x->pref > y->pref;
}

/*
 * The A, AAAA, MX or NS records of NAME appended to OUT as text (see
 * smtpd_dns.h). Names in MX and NS data may be compressed: they are
 * expanded against the whole answer, with dn_expand's bounds checks.
 */
static int dns_records_one(const char *name, int type, struct argv *out)
{
    unsigned char ans[DNS_ANSWER_MAX];
    struct dns_mx *mx = NULL;
    size_t nmx = 0;
    int len, off, qd, an, found = 0, ret = 4;
    int st = dns_send(name, type, ans, &len);

    if (st)
        return st;
    if (len < 12)
        return 4;
    qd = (ans[4] << 8) | ans[5];
    an = (ans[6] << 8) | ans[7];
    off = 12;
    while (qd-- > 0) {
        if ((off = dns_skip_name(ans, len, off)) < 0 || off + 4 > len)
            return 4;
        off += 4;
    }
    if (type == ns_t_mx)
        mx = calloc((size_t) an + 1, sizeof(*mx));
    while (an-- > 0) {
        int rtype, rdlen;
        char text[NS_MAXDNAME];

        if ((off = dns_skip_name(ans, len, off)) < 0 || off + 10 > len)
            goto out;
        rtype = (ans[off] << 8) | ans[off + 1];
        rdlen = (ans[off + 8] << 8) | ans[off + 9];
        off += 10;
        if (off + rdlen > len)
            goto out;
        if (rtype == type) {
            const unsigned char *rd = ans + off;

            if (type == ns_t_a && rdlen == 4
                && inet_ntop(AF_INET, rd, text, sizeof(text))) {
                argv_add(out, text);
                found = 1;
            } else if (type == ns_t_aaaa && rdlen == 16
                       && inet_ntop(AF_INET6, rd, text, sizeof(text))) {
                argv_add(out, text);
                found = 1;
            } else if (type == ns_t_ns
                       && dn_expand(ans, ans + len, rd, text, sizeof(text))
                              == rdlen) {
                argv_add(out, text);
                found = 1;
            } else if (type == ns_t_mx && mx && rdlen > 2
                       && dn_expand(ans, ans + len, rd + 2, mx[nmx].host,
                                    sizeof(mx[nmx].host))
                              == rdlen - 2) {
                mx[nmx++].pref = (unsigned) ((rd[0] << 8) | rd[1]);
                found = 1;
            } else {
                goto out; /* malformed data of the type asked for */
            }
        }
        off += rdlen;
    }
    if (mx && nmx > 0) {
        qsort(mx, nmx, sizeof(*mx), dns_mx_cmp);
        for (size_t i = 0; i < nmx; i++) {
            char text[NS_MAXDNAME + 8];

            snprintf(text, sizeof(text), "%u %s", mx[i].pref, mx[i].host);
            argv_add(out, text);
        }
    }
    ret = found ? 2 : 5;
out:
    free(mx);
    return ret;
}

int smtpd_dns_records(const char *name, int type, struct argv *out)
{
    int st, st6;

    switch (type) {
    case SMTPD_DNS_ADDR:
        st = dns_records_one(name, ns_t_a, out);
        st6 = dns_records_one(name, ns_t_aaaa, out);
        if (st == 2 || st6 == 2)
            return 2;
        return st == 4 || st6 == 4 ? 4 : 5;
    case SMTPD_DNS_MX:
        return dns_records_one(name, ns_t_mx, out);
    case SMTPD_DNS_NS:
        return dns_records_one(name, ns_t_ns, out);
    }
    return 4;
}

static const struct smtpd_check_dns dns_default = {
    smtpd_dns_host_or_mx,
    smtpd_dns_rbl,
    smtpd_dns_records,
};

const struct smtpd_check_dns *smtpd_dns_default(void)
{
    return &dns_default;
}
