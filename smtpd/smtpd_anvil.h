/*
 * smtpd_anvil.h - smtpd's per-client limits, counted by the anvil service
 * (lib/anvil_client.h): smtpd_client_connection_count_limit and the
 * smtpd_client_{connection,message,recipient,new_tls_session,auth}_rate
 * _limit parameters, with smtpd_client_event_limit_exceptions.
 *
 * Called by smtpd.c: smtpd_anvil_init() before the chroot, then for each
 * client smtpd_anvil_connect() ... smtpd_anvil_end(). smtpd serves one
 * client at a time, so the session's state lives here. A hook that says
 * "over the limit" returns -1 with Postfix's reply in REPLY and has logged
 * Postfix's warning ("Connection rate limit exceeded: 5 from
 * host[192.0.2.1] for service smtp"). When no limit is set, for an
 * exempt client, or when anvil cannot be reached (logged once by
 * lib/anvil_client.c), every hook returns 0: smtpd goes on without limits.
 */
#ifndef POSTERN_SMTPD_ANVIL_H
#define POSTERN_SMTPD_ANVIL_H

struct buf;

/*
 * Read the parameters and open the exception tables. 0, or -1 with ERR
 * ("smtpd_client_event_limit_exceptions: ...").
 */
int smtpd_anvil_init(struct buf *err);
void smtpd_anvil_free(void);

/*
 * A client connected: NAME is its verified name ("unknown" when none),
 * ADDR its address, NAMADDR "name[addr]" for log lines. Registers the
 * connection; -1 when the connection count or rate is over its limit
 * (REPLY: "421 4.7.0 myhostname Error: too many connections from ADDR";
 * the caller sends it and ends the session).
 */
int smtpd_anvil_connect(const char *name, const char *addr, const char *namaddr,
                        struct buf *reply);
/* MAIL FROM: -1 with "450 4.7.1 Error: too much mail from ADDR". */
int smtpd_anvil_mail(struct buf *reply);
/* RCPT TO: -1 with "450 4.7.1 Error: too many recipients from ADDR". */
int smtpd_anvil_rcpt(struct buf *reply);
/*
 * Before a TLS handshake: -1 when the client already had its
 * smtpd_client_new_tls_session_rate_limit new sessions in this time unit:
 * "454 4.7.0 Error: too many new TLS sessions from ADDR" for STARTTLS,
 * "421 4.7.0 myhostname Error: too many new TLS sessions from ADDR" when
 * WRAPPER (the session ends).
 */
int smtpd_anvil_tls_check(int wrapper, struct buf *reply);
/* After a handshake: counts the session unless REUSED (resumed). */
void smtpd_anvil_tls_done(int reused);
/* AUTH: -1 with "450 4.7.1 Error: too many AUTH commands from ADDR". */
int smtpd_anvil_auth(struct buf *reply);
/* The session ended: releases its connection (call even after -1). */
void smtpd_anvil_end(void);

/* ---- smtpd_client_event_limit_exceptions (also for the tests) -------- */

struct smtpd_hostlist;

/*
 * Compile a Postfix host list: networks ("192.0.2.0/24", "[2001:db8::]/32",
 * bare addresses), host names ("mail.example.com") and domains
 * (".example.com": any name below it; "example.com" also matches its
 * subdomains when TITLE is in parent_domain_matches_subdomains),
 * "type:table" lookups of the name and then the address, "/file/name"
 * with more entries, and "!" before an entry to negate it. The first
 * entry that matches decides. NULL with ERR on a syntax error or an
 * unreadable file.
 */
struct smtpd_hostlist *smtpd_hostlist_new(const char *title, const char *text,
                                          struct buf *err);
void smtpd_hostlist_free(struct smtpd_hostlist *list);
/*
 * 1 when the client NAME/ADDR matches, 0 when not, -1 when a table
 * failed (ERR says which; the caller treats it as no match).
 */
int smtpd_hostlist_match(struct smtpd_hostlist *list, const char *name,
                         const char *addr, struct buf *err);

#endif
