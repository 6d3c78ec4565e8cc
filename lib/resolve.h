/*
 * resolve.h - address classes and the transport:nexthop of a recipient,
 * as Postfix's trivial-rewrite(8) resolves them.
 *
 * Callers: qmgr (which transport and destination gets each recipient),
 * cleanup (address classes), smtpd (reject_unauth_destination and
 * friends ask resolve_domain_class() or look at the class and flags of
 * resolve_addr(); reject_unlisted_recipient picks local_recipient_maps,
 * virtual_alias_maps or relay_recipient_maps by class), local (is a
 * domain ours?).
 *
 * Classes, checked in this order (first match wins):
 *   LOCAL    the domain matches mydestination (whole names, /file and
 *            type:table entries, !negation), or is an address literal
 *            [ip] / [ipv6:ip] of this machine: inet_interfaces ("all" =
 *            every interface address, "loopback-only") or
 *            proxy_interfaces; an address without a domain is local too
 *   ALIAS    virtual_alias_domains: unknown users are rejected
 *            (error:5.1.1 User unknown in virtual alias table)
 *   VIRTUAL  virtual_mailbox_domains (virtual_transport)
 *   RELAY    relay_domains (relay_transport)
 *   DEFAULT  everything else (default_transport)
 * virtual_alias_domains, virtual_mailbox_domains and relay_domains are
 * domain lists: "example.com" also matches subdomains when the parameter
 * name is listed in parent_domain_matches_subdomains (relay_domains by
 * default), else ".example.com" is needed; tables are searched for the
 * domain and its parents in the same style.
 *
 * Local addresses are taken apart as Postfix does: "user%host@ours"
 * (allow_percent_hack), "host!user@ours" (swap_bangpath) and
 * "\"user@host\"@ours" (resolve_dequoted_address) resolve as user@host;
 * an address of another class whose local part still holds such an
 * operator gets RESOLVE_FLAG_ROUTED (smtpd must not relay it). One
 * trailing dot of the domain is dropped; "user@" is an error unless
 * resolve_null_domain; "user@1.2.3.4" is an error unless
 * resolve_numeric_domain, which turns it into user@[1.2.3.4].
 *
 * Transport and nexthop per class: local_transport, virtual_transport,
 * relay_transport, default_transport ("transport" or "transport:nexthop");
 * for DEFAULT sender_dependent_default_transport_maps overrides
 * default_transport. The nexthop is the first non-empty of: the
 * transport setting's nexthop (for DEFAULT: the sender-dependent one, then
 * default_transport's), then for RELAY and DEFAULT the
 * sender_dependent_relayhost_maps result (sender address, address without
 * extension, "@domain"; the null sender as
 * empty_address_relayhost_maps_lookup_key; DUNNO means "no override"),
 * then relayhost, then the recipient domain (lower case). relayhost and
 * map results are kept exactly as written ([host], [host]:port,
 * host:port, host:service, lists): SASL credentials are keyed by them.
 * transport_maps (transport(5) search order: user+ext@domain,
 * user@domain, domain, parent domains, "*") then applies to every class but
 * ALIAS: "transport:nexthop" replaces both, "transport:" sets the
 * transport and resets the nexthop to the recipient domain, ":nexthop"
 * keeps the transport, ":" or "" change nothing.
 *
 * Errors: the functions return a lookup_status. LOOKUP_FOUND means the
 * reply is complete (a malformed address is still FOUND, with
 * RESOLVE_FLAG_ERROR: smtpd rejects it, qmgr bounces it with 5.1.3 "bad
 * address syntax"). LOOKUP_ERR_TEMP and LOOKUP_ERR_CONFIG come from a map
 * or a broken setting (an unreadable /file, a null transport, an
 * inet_interfaces host that does not resolve) with the reason in
 * resolver_error(); the caller answers 4xx or defers, never treats it as
 * a class. LOOKUP_NOTFOUND is never returned.
 */
#ifndef POSTERN_RESOLVE_H
#define POSTERN_RESOLVE_H

#include "lookup.h"

struct buf;
struct resolver;

enum resolve_class {
    RESOLVE_CLASS_LOCAL = 1,
    RESOLVE_CLASS_ALIAS,
    RESOLVE_CLASS_VIRTUAL,
    RESOLVE_CLASS_RELAY,
    RESOLVE_CLASS_DEFAULT,
};

/*
 * Reply flags. FINAL: we are the final destination (LOCAL, ALIAS,
 * VIRTUAL). ROUTED: a non-local address with %, ! or @ in its local part
 * (source routing; smtpd must not relay it for untrusted clients). ERROR:
 * a malformed address or domain.
 */
#define RESOLVE_FLAG_FINAL  0x01
#define RESOLVE_FLAG_ROUTED 0x02
#define RESOLVE_FLAG_ERROR  0x04

/*
 * resolve_addr() flags. NO_TRANSPORT: class and recipient only, no
 * transport_maps or sender-dependent lookups (smtpd's relay check).
 */
#define RESOLVE_NO_TRANSPORT 0x1

struct resolve_reply {
    enum resolve_class cls;
    int flags;             /* RESOLVE_FLAG_* */
    struct buf *transport; /* master.cf service name: "smtp", "local" */
    struct buf *nexthop;   /* "example.com", "[relay]:587", error text */
    struct buf *recipient; /* the address to deliver to (rewritten) */
};

void resolve_reply_init(struct resolve_reply *reply);
void resolve_reply_free(struct resolve_reply *reply);

/*
 * A resolver for the current parameter values (params_load() done):
 * parses the domain lists, opens the tables, finds the interface
 * addresses. Never NULL; problems surface as ERR_CONFIG from the calls
 * that need the broken part (and are logged once as warnings here).
 */
struct resolver *resolver_new(void);
void resolver_free(struct resolver *r);
/* Reopen tables whose files changed (long-running daemons, between
 * sessions). Returns how many were reopened. */
int resolver_reopen(struct resolver *r);
/* Why the last call returned ERR_TEMP or ERR_CONFIG. */
const char *resolver_error(const struct resolver *r);

/*
 * Resolve the recipient RCPT (internal form) of mail from SENDER
 * (internal form, "" = the null sender, NULL = unknown: no
 * sender-dependent lookups) into REPLY. FLAGS: RESOLVE_NO_TRANSPORT.
 */
enum lookup_status resolve_addr(struct resolver *r, const char *sender,
                                const char *rcpt, int flags,
                                struct resolve_reply *reply);

/*
 * The class of DOMAIN alone ("example.com", "[192.0.2.1]"): smtpd's
 * "is this domain local, virtual or relay?". An invalid domain is
 * DEFAULT. *CLS is set when FOUND is returned.
 */
enum lookup_status resolve_domain_class(struct resolver *r, const char *domain,
                                        enum resolve_class *cls);

/* "local", "alias", "virtual", "relay", "default". */
const char *resolve_class_name(enum resolve_class cls);

#endif
