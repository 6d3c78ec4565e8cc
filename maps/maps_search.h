/*
 * maps_search.h - Postfix's documented table search orders, written once.
 *
 * Each function derives the sequence of lookup keys from an address, host
 * name or IP address, asks maps_find() for each in turn, and stops at the
 * first FOUND or at the first error. Only the first key of a sequence is a
 * whole key; derived keys are partial, so pattern tables (regexp, pcre,
 * cidr: DICT_PATTERN) see the whole key only. Addresses are in internal
 * form (addr.h); keys are built from them as given, and case folding is
 * left to the tables (DICT_FOLD_FIX).
 *
 * The recipient_delimiter is var_recipient_delimiter; parent domain style
 * is var_parent_domain_matches_subdomains; extension propagation is the
 * caller's choice (see maps_search_propagate()).
 *
 * Callers: smtpd's restriction engine (access tables), cleanup (canonical,
 * virtual), smtp (generic), qmgr/resolver (transport), local (aliases).
 * Errors: the lookup_status of maps_find(); on ERR_TEMP/ERR_CONFIG the
 * reason is in maps_error() and VALUE is empty.
 */
#ifndef POSTERN_MAPS_SEARCH_H
#define POSTERN_MAPS_SEARCH_H

#include "lookup.h"

struct buf;
struct maps;

/*
 * access(5) e-mail address patterns: user+ext@domain, user@domain, then
 * domain and its parents (see maps_search_domain), then user+ext@ and
 * user@. FEATURE (e.g. "smtpd_access_maps") selects the parent domain
 * style. An address without '@' is looked up whole (and unextended) only.
 */
enum lookup_status maps_search_access_addr(struct maps *m, const char *addr,
                                           const char *feature,
                                           struct buf *value);

/*
 * access(5) host name patterns: host.example.com, then its parents:
 * example.com, com when FEATURE is listed in
 * parent_domain_matches_subdomains, else .example.com, .com. The first key
 * is a whole key. A domain literal "[...]" is looked up whole only.
 */
enum lookup_status maps_search_access_host(struct maps *m, const char *name,
                                           const char *feature,
                                           struct buf *value);

/*
 * access(5) IP address patterns: the address (whole key), then shorter
 * prefixes: 1.2.3.4, 1.2.3, 1.2, 1; for IPv6, the text cut at each ':'
 * from the right (2001:db8::1, 2001:db8:, 2001:db8, 2001).
 */
enum lookup_status maps_search_access_ip(struct maps *m, const char *ip,
                                         struct buf *value);

/*
 * maps_search_rewrite() flags. LOCAL: the domain is local ($myorigin,
 * $mydestination ...), so the local part alone is tried too. PROPAGATE:
 * append the unmatched extension to the result
 * (propagate_unmatched_extensions).
 */
#define MAPS_SEARCH_LOCAL     0x1
#define MAPS_SEARCH_PROPAGATE 0x2

/*
 * canonical(5)/virtual(5)/generic(5) order: user+ext@domain,
 * user@domain, then with MAPS_SEARCH_LOCAL user+ext and user, then
 * @domain. An address without '@' (an alias name) tries user+ext, user.
 *
 * Result rewriting, as Postfix: a result "@otherdomain" becomes the
 * address's local part in otherdomain (first address only); with
 * MAPS_SEARCH_PROPAGATE and a match on an unextended form (user@domain or
 * user, not @domain), "+ext" is inserted before the '@' of every address
 * in the result (or appended when it has none). A rewritten result is a
 * list joined with ", "; otherwise the value is returned as stored.
 */
enum lookup_status maps_search_rewrite(struct maps *m, const char *addr,
                                       int flags, struct buf *value);

/*
 * transport(5) order: user+ext@domain, user@domain, domain, its parents
 * (style per "transport_maps" in parent_domain_matches_subdomains), then
 * the wild card "*".
 */
enum lookup_status maps_search_transport(struct maps *m, const char *addr,
                                         struct buf *value);

/*
 * Generic domain walk used by the above: DOMAIN, then its parents in the
 * style FEATURE selects. FIRST_PARTIAL says whether DOMAIN itself is a
 * derived key (the domain of an address) or a whole key (a host name).
 */
enum lookup_status maps_search_domain(struct maps *m, const char *domain,
                                      const char *feature, int first_partial,
                                      struct buf *value);

/* Is FEATURE ("canonical", "virtual", "alias" ...) listed in
 * propagate_unmatched_extensions? */
int maps_search_propagate(const char *feature);

#endif
