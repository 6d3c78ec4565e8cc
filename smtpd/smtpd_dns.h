/*
 * smtpd_dns.h - the default DNS lookups of smtpd's restriction engine
 * (struct smtpd_check_dns): the system resolver (res_nquery) with a bounded
 * time-out and number of tries, so that a dead name server delays a
 * session by seconds, not minutes.
 *
 * Caller: smtpd_check.c (smtpd_check_new installs these; tests replace
 * them with smtpd_check_set_dns). Results: 2 found, 4 temporary failure,
 * 5 the name or record does not exist.
 */
#ifndef POSTERN_SMTPD_DNS_H
#define POSTERN_SMTPD_DNS_H

struct argv;
struct buf;
struct smtpd_check_dns;

/* The resolver-backed functions. */
const struct smtpd_check_dns *smtpd_dns_default(void);

/* Has NAME an A, AAAA or MX record? */
int smtpd_dns_host_or_mx(const char *name);
/*
 * RBL query: the A records of NAME appended to ADDRS (space separated);
 * with TEXT not NULL, the TXT record text appended to TEXT.
 */
int smtpd_dns_rbl(const char *name, struct buf *addrs, struct buf *text);
/*
 * The records of TYPE (SMTPD_DNS_ADDR, _MX or _NS of smtpd_check.h) of
 * NAME appended to OUT: addresses as text, "PREF HOST" by preference, host
 * names.
 */
int smtpd_dns_records(const char *name, int type, struct argv *out);

#endif
