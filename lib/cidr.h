/*
 * cidr.h - IPv4 and IPv6 addresses, networks and first-match network lists.
 *
 * Used by mynetworks (lib/mynetworks.c, the permit_mynetworks check in
 * smtpd), by cidr: lookup tables (maps/) and by the address parser for
 * address literals (lib/addr.c). Text from a peer is taken as pointer plus
 * length and never needs a NUL.
 *
 * Errors: parsers return CIDR_OK (0) or a negative CIDR_ERR_* code and set
 * *ERR to a static message; CIDR_ERR_HOSTBITS is distinct so that callers
 * can warn as Postfix does ("non-null host address bits in \"...\",
 * skipping this rule") and go on. List parsing reports its errors in a
 * struct buf and its warnings in a struct argv.
 */
#ifndef POSTERN_CIDR_H
#define POSTERN_CIDR_H

#include <stddef.h>

struct argv;
struct buf;

#define CIDR_OK           0
#define CIDR_ERR_SYNTAX   (-1) /* not an address or network */
#define CIDR_ERR_HOSTBITS (-2) /* valid, but bits set below the mask */

/* Address family without dragging in the socket headers. */
#define CIDR_INET4 4
#define CIDR_INET6 6

struct cidr_addr {
    int family;              /* CIDR_INET4 or CIDR_INET6 */
    unsigned char bytes[16]; /* network order; IPv4 uses bytes[0..3] */
};

struct cidr_net {
    struct cidr_addr addr; /* host bits are zero */
    unsigned prefix;       /* 0..32 or 0..128 */
};

/*
 * Parse a bare address: dotted quad (no leading zeros, as inet_pton) or
 * IPv6 text (RFC 4291 forms, optional trailing dotted quad; no zone id,
 * no brackets). Returns CIDR_OK or CIDR_ERR_SYNTAX.
 */
int cidr_addr_parse(const char *text, size_t len, struct cidr_addr *out);
/* Append the inet_ntop text of A to OUT (IPv6 without brackets). */
void cidr_addr_format(const struct cidr_addr *a, struct buf *out);
/* 1 when A is an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
int cidr_addr_is_v4mapped(const struct cidr_addr *a);
/* Replace an IPv4-mapped IPv6 address by its IPv4 address; else no-op. */
void cidr_addr_unmap(struct cidr_addr *a);

/*
 * Parse a network: "192.0.2.0/24", "192.0.2.1" (= /32), "[2001:db8::]/32",
 * "2001:db8::/32", "[::1]" (= /128). Brackets are allowed around either
 * family. On CIDR_ERR_HOSTBITS *OUT holds the network with the host bits
 * cleared, for callers that want to say what was meant.
 */
int cidr_net_parse(const char *text, size_t len, struct cidr_net *out,
                   const char **err);
/*
 * Append "192.0.2.0/24" or, for IPv6, "[2001:db8::]/32" when BRACKETS is
 * set (the mynetworks shape) and "2001:db8::/32" otherwise.
 */
void cidr_net_format(const struct cidr_net *net, struct buf *out, int brackets);
/* Clear the bits of NET's address below its prefix; 1 when any was set. */
int cidr_net_mask(struct cidr_net *net);
/*
 * 1 when A lies in NET. An IPv4-mapped IPv6 address also matches IPv4
 * networks (a dual-stack socket reports IPv4 clients that way); an IPv4
 * address never matches an IPv6 network.
 */
int cidr_net_match(const struct cidr_net *net, const struct cidr_addr *a);

/*
 * A compiled list, searched in order; the first entry that applies wins.
 *
 * CIDR_LIST_MATCH (mynetworks, Postfix match lists): an entry applies when
 * the address is in its network; a negated ("!") entry that applies ends
 * the search with "no match".
 * CIDR_LIST_TABLE (cidr: tables): a negated entry applies when the
 * address is NOT in its network, and then it is the match.
 */
#define CIDR_LIST_MATCH 0
#define CIDR_LIST_TABLE 1

struct cidr_entry {
    struct cidr_net net;
    int negate;
    void *data; /* the caller's, e.g. a cidr: table result */
};

struct cidr_list {
    int mode;
    struct cidr_entry *entries;
    size_t count;
    size_t size;
};

struct cidr_list *cidr_list_new(int mode);
/* Frees the list only; DATA pointers stay the caller's. */
void cidr_list_free(struct cidr_list *list);
void cidr_list_add(struct cidr_list *list, const struct cidr_net *net,
                   int negate, void *data);
/*
 * Returns 1 and sets *HIT (when HIT is not NULL) to the entry that
 * matched, or 0 for no match.
 */
int cidr_list_match(const struct cidr_list *list, const struct cidr_addr *a,
                    const struct cidr_entry **hit);
/*
 * Match the address written in TEXT (LEN bytes; an IPv4-mapped IPv6
 * address counts as its IPv4 address): 1, or 0 for no match and for text
 * that is not an address.
 */
int cidr_list_match_text(const struct cidr_list *list, const char *text,
                         size_t len);

/*
 * Parse a mynetworks-style list into LIST: entries separated by commas
 * and/or white space; "!" before an entry negates it; "/file/name" reads
 * more entries from that file (white space or one per line, '#' comment
 * lines, nested files up to a small depth; "!/file" negates each of its
 * entries). "type:table" references are not parsed: they are appended,
 * as written (with any '!'), to MAPS (which may be NULL to reject them);
 * their position relative to the networks is not kept.
 *
 * An entry with non-zero host bits is skipped and WARNINGS (when not
 * NULL) gets "non-null host address bits in \"ENTRY\", skipping this
 * rule". Returns 0, or -1 with ERR set to a message such as
 * "bad network/mask pattern: \"ENTRY\"" or "open /file: reason"; entries
 * parsed before the error stay in LIST.
 */
int cidr_list_parse(struct cidr_list *list, const char *text, struct argv *maps,
                    struct argv *warnings, struct buf *err);

#endif
