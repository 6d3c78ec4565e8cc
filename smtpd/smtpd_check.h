/*
 * smtpd_check.h - smtpd's restriction engine: the smtpd_*_restrictions
 * lists of main.cf (and their master.cf -o overrides), evaluated the way
 * Postfix documents them (SMTPD_ACCESS_README, postconf(5), access(5)).
 *
 * smtpd owns the session and hands the engine a read-only view of it
 * (struct smtpd_client). The engine owns the tables: smtpd_check_new()
 * opens every map the restriction lists, restriction classes and related
 * parameters name (check_*_access tables, smtpd_sender_login_maps,
 * local_recipient_maps, relay_recipient_maps, virtual_alias_maps, ...),
 * before chroot, and smtpd_check_reopen() reopens those that changed.
 *
 * One call per SMTP stage. Each returns SMTPD_CHECK_OK (go on; this may be
 * an explicit permit or just the end of the list), or SMTPD_CHECK_REPLY
 * with the complete reply text in RES->reply ("554 5.7.1 <x@y>: Relay access
 * denied", "450 4.7.1 ...", "421 ..."): smtpd sends it as it is. The engine
 * logs Postfix's lines itself, e.g.
 *   "NOQUEUE: reject: RCPT from host[addr]: 554 5.7.1 <r>: Relay access
 *    denied; from=<s> to=<r> proto=ESMTP helo=<h>"
 * (the queue ID instead of NOQUEUE when there is one), and "reject_warning"
 * for warn_if_reject, "warn:", "hold:", "discard:", "redirect:", "filter:"
 * lines for those access actions.
 *
 * smtpd_delay_reject = yes (default): smtpd_check_rcpt() evaluates the
 * client, helo and sender lists first (then smtpd_relay_restrictions, then
 * smtpd_recipient_restrictions), remembering their outcome for the rest of
 * the transaction (client and helo: for the session); smtpd_check_connect,
 * smtpd_check_helo and smtpd_check_mail then only check what needs no
 * list (nothing) and return OK. With "no", each list runs at its own stage.
 * At least one of smtpd_relay_restrictions / smtpd_recipient_restrictions
 * must contain a relay restriction (reject, defer, reject_unauth_destination,
 * ...), as Postfix requires; otherwise smtpd_check_new fails with a clear
 * error naming the parameters.
 *
 * Side effects of access actions (HOLD, DISCARD, REDIRECT, FILTER, PREPEND)
 * accumulate per transaction in struct smtpd_check_actions; smtpd passes
 * them to cleanup and clears them with smtpd_check_reset().
 *
 * DNS: reject_unknown_*, reject_*_rbl_*, permit_dnswl_client,
 * check_{client,reverse_client,helo,sender,recipient}_{a,mx,ns}_access and
 * permit_mx_backup go through the lookup functions in struct
 * smtpd_check_dns (the system resolver with timeouts by default; unit
 * tests put their own in). The _a/_mx/_ns checks look up the addresses,
 * the MX hosts (the domain itself without MX) or the name servers (of
 * the closest enclosing domain that has some) of the name, then each host
 * by name and by address in the table; OK is not allowed there (logged,
 * counts as DUNNO); a DNS failure is defer_if_reject. permit_mx_backup
 * permits authorized destinations, and domains whose MX list names this
 * machine (myhostname or an inet_interfaces/proxy_interfaces address)
 * below the primary; with permit_mx_backup_networks every address of
 * every better MX host must be in those networks (CIDR lists and /files;
 * type:table entries are not supported and never permit).
 *
 * Errors: a table lookup that fails or a policy server that does not
 * answer gives "451 4.3.5 Server configuration error" (and a warning with
 * the cause), as Postfix does; an unknown restriction name is an error at
 * smtpd_check_new ("unknown smtpd restriction: NAME").
 */
#ifndef POSTERN_SMTPD_CHECK_H
#define POSTERN_SMTPD_CHECK_H

#include <stddef.h>

struct argv;
struct buf;
struct smtpd_check;

/* The part of the session the engine may look at. NULL: not known yet. */
struct smtpd_client {
    const char *addr;         /* "192.0.2.1", "2001:db8::1" */
    const char *port;         /* client port */
    const char *name;         /* verified name, or "unknown" */
    const char *reverse_name; /* PTR name, or "unknown" */
    int name_status;          /* 2 ok, 4 temporary failure, 5 no name */
    int reverse_status;       /* ditto for the PTR lookup alone */
    const char *server_addr;
    const char *server_port;
    const char *helo;      /* HELO/EHLO argument */
    const char *protocol;  /* "SMTP" or "ESMTP" */
    const char *sender;    /* MAIL FROM address ("" for <>) */
    const char *recipient; /* the RCPT TO address being checked */
    const char *etrn_domain;
    const char *queue_id;    /* NULL before one exists */
    const char *sasl_method; /* NULL: not authenticated */
    const char *sasl_username;
    const char *sasl_sender;
    const char *tls_protocol; /* NULL: no TLS */
    const char *tls_cipher;
    int tls_bits;
    const char *ccert_fingerprint; /* NULL: no verified client cert */
    long size;                     /* MAIL SIZE=, or the DATA size at EOD */
    unsigned rcpt_count;           /* accepted recipients so far */
    int pipelined;                 /* unauthorized pipelining was seen */
    const char *instance; /* unique per transaction (policy protocol) */
};

/* Per-transaction effects of access actions. */
struct smtpd_check_actions {
    struct buf *hold;     /* reason, or empty: no HOLD */
    struct buf *discard;  /* reason, or empty */
    struct buf *redirect; /* address, or empty */
    struct buf *filter;   /* transport:destination, or empty */
    struct buf *prepend;  /* header lines to add, each ending "\n" */
};

#define SMTPD_CHECK_OK    0
#define SMTPD_CHECK_REPLY 1

struct smtpd_check_result {
    struct buf *reply; /* set with SMTPD_CHECK_REPLY */
};

/* DNS lookups the engine needs; each returns 2 found, 4 temporary, 5 none. */
struct smtpd_check_dns {
    /* Has NAME an A, AAAA or MX record (for reject_unknown_*_domain /
     * _hostname)? */
    int (*host_or_mx)(const char *name);
    /* Look NAME up as an RBL query (A records); TEXT gets the TXT answer when
     * asked. */
    int (*rbl)(const char *name, struct buf *addrs, struct buf *text);
    /*
     * The records of TYPE for NAME appended to OUT, one string each (for
     * check_*_a_access, check_*_mx_access, check_*_ns_access):
     * SMTPD_DNS_ADDR the A and AAAA addresses as text; SMTPD_DNS_MX
     * "PREF HOST" sorted by preference; SMTPD_DNS_NS host names. A table
     * without it (NULL) makes every such lookup a temporary failure.
     */
    int (*records)(const char *name, int type, struct argv *out);
};

#define SMTPD_DNS_ADDR 1
#define SMTPD_DNS_MX   2
#define SMTPD_DNS_NS   3

/* Open every table; NULL with ERR on a configuration error. */
struct smtpd_check *smtpd_check_new(struct buf *err);
void smtpd_check_free(struct smtpd_check *chk);
/* Reopen tables whose files changed: 0, or -1 with a warning logged. */
int smtpd_check_reopen(struct smtpd_check *chk);
/* Replace the DNS functions (tests); NULL restores the default. */
void smtpd_check_set_dns(struct smtpd_check *chk,
                         const struct smtpd_check_dns *dns);

int smtpd_check_connect(struct smtpd_check *chk,
                        const struct smtpd_client *client,
                        struct smtpd_check_result *res);
int smtpd_check_helo(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res);
int smtpd_check_mail(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res);
int smtpd_check_rcpt(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res);
int smtpd_check_data(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res);
int smtpd_check_eod(struct smtpd_check *chk, const struct smtpd_client *client,
                    struct smtpd_check_result *res);
int smtpd_check_etrn(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res);
/*
 * VRFY: smtpd_recipient_restrictions-style check of an address for
 * reject_unlisted_recipient only (Postfix's smtpd_reject_unlisted_recipient
 * at VRFY): OK or a reply.
 */
int smtpd_check_vrfy(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res);

/* The actions collected in this transaction (owned by CHK). */
const struct smtpd_check_actions *
smtpd_check_actions(const struct smtpd_check *chk);
/* A new transaction (RSET, after DATA, new MAIL): forget sender results and
 * actions. */
void smtpd_check_reset(struct smtpd_check *chk);
/* A new session (a new client on the same process): forget everything. */
void smtpd_check_new_session(struct smtpd_check *chk);

void smtpd_check_result_init(struct smtpd_check_result *res);
void smtpd_check_result_free(struct smtpd_check_result *res);

#endif
