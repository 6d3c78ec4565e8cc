/*
 * dns.h - the DNS lookups of the smtp client: MX records with their
 * preferences, and the A/AAAA addresses of a host, through the system
 * stub resolver (res_nquery) with a short retransmission time and few
 * tries, so a dead name server delays a delivery by seconds.
 *
 * Caller: smtp/ (smtp_addr.c). smtpd keeps its own lookups for now.
 * In a chroot the resolver reads queue_directory/etc/resolv.conf, which
 * "postern start" copies there; dns_init() may be called before chroot to
 * read the real one instead (the state is kept for the process's life).
 *
 * Results: DNS_OK, DNS_NXDOMAIN (the name does not exist), DNS_NODATA
 * (the name exists, without records of that type), DNS_TEMP (time-out,
 * SERVFAIL, a malformed or truncated answer). Answers are parsed with
 * full bounds checks. Nothing here logs or is fatal.
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stddef.h>
#include <sys/socket.h>

enum dns_status {
    DNS_OK = 0,
    DNS_NXDOMAIN,
    DNS_NODATA,
    DNS_TEMP,
};

/* One MX record. */
struct dns_mx {
    unsigned pref;
    char *host; /* without the trailing dot */
};

/* One address of a host. */
struct dns_addr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
};

/* Read resolv.conf now (optional; the first lookup does it otherwise). */
int dns_init(void);

/*
 * The MX records of NAME, sorted by preference (stable for equal ones),
 * into a mem_alloc()ed array *OUT of *COUNT entries (free with
 * dns_mx_free).
 */
enum dns_status dns_lookup_mx(const char *name, struct dns_mx **out,
                              size_t *count);
void dns_mx_free(struct dns_mx *mx, size_t count);

/*
 * The A (with SOCK_PROTO_IPV4 in PROTOCOLS) and AAAA (SOCK_PROTO_IPV6)
 * records of NAME, appended to *OUT (grown with mem_realloc; *COUNT
 * entries). DNS_OK when at least one was found; otherwise the worst of
 * the lookups (TEMP over NODATA over NXDOMAIN... NXDOMAIN only when every
 * type said so).
 */
enum dns_status dns_lookup_addr(const char *name, int protocols,
                                struct dns_addr **out, size_t *count);

/* The same through getaddrinfo (smtp_host_lookup = native). */
enum dns_status dns_native_addr(const char *name, int protocols,
                                struct dns_addr **out, size_t *count);

/* "Host not found", "Host not found, try again", "No address" ... */
const char *dns_status_text(enum dns_status st);

/*
 * Parse the LEN-byte answer ANS for records of TYPE (1 A, 28 AAAA, 15 MX)
 * and append them to the arrays (MX to *MX and *NMX, addresses to
 * *ADDR and *NADDR). DNS_OK, DNS_NODATA or DNS_TEMP (malformed). Exposed for
 * the fuzz target and unit tests.
 */
enum dns_status dns_parse_answer(const unsigned char *ans, size_t len, int type,
                                 struct dns_mx **mx, size_t *nmx,
                                 struct dns_addr **addr, size_t *naddr);

#endif
