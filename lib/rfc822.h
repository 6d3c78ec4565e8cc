/*
 * rfc822.h - RFC 5322 message header helpers: header names, folding,
 * and the addresses inside address-list headers (From:, To:, Cc: ...).
 *
 * Callers: cleanup (header fixing, canonical mapping and masquerading of
 * header addresses, sendmail -t recipient extraction), and later smtp
 * (smtp_generic_maps). Input may come from the network (through smtpd and
 * cleanup): every function takes pointer plus length, accepts any bytes,
 * never reads past LEN and bounds its work (token limits).
 *
 * A header is held as its physical lines joined with "\n" (no CR), the
 * form cleanup keeps while it reads a folded header. Unfolding removes
 * each line break that is followed by white space (RFC 5322 3.2.2); the
 * white space stays.
 *
 * Addresses: rfc822_parse_addrs() finds every address of an address list
 * (mailbox, name-addr with optional source route, group with its members)
 * and gives its place in the text and its internal form (addr.h: local
 * part unquoted). rfc822_rewrite_addrs() calls a function on each address
 * and replaces the address text only when the function changed it, so
 * phrases, comments, groups, folding and spacing around each address stay
 * exactly as they were: rewriting with a function that changes nothing
 * gives back the input byte for byte.
 *
 * Errors: there are none for malformed text: it is taken apart as well as
 * possible (an unclosed quote or comment runs to the end), as Postfix
 * does; a rewrite function's failure stops the rewrite (-1).
 */
#ifndef POSTERN_RFC822_H
#define POSTERN_RFC822_H

#include <stddef.h>

struct buf;

/* ---- header names --------------------------------------------------- */

/* What a known header holds (struct rfc822_hdr_info.flags). */
#define RFC822_HDR_SENDER    0x01 /* sender addresses (header_sender) */
#define RFC822_HDR_RECIPIENT 0x02 /* recipient addresses (header_recipient) */
#define RFC822_HDR_EXTRACT   0x04 /* recipients for sendmail -t */
#define RFC822_HDR_RESENT    0x08 /* a Resent- header */

enum rfc822_hdr_id {
    RFC822_HDR_OTHER = 0,
    RFC822_HDR_APPARENTLY_TO,
    RFC822_HDR_BCC,
    RFC822_HDR_CC,
    RFC822_HDR_CONTENT_LENGTH,
    RFC822_HDR_CONTENT_TRANSFER_ENCODING,
    RFC822_HDR_CONTENT_TYPE,
    RFC822_HDR_DATE,
    RFC822_HDR_DELIVERED_TO,
    RFC822_HDR_DISPOSITION_NOTIFICATION_TO,
    RFC822_HDR_ERRORS_TO,
    RFC822_HDR_FROM,
    RFC822_HDR_MESSAGE_ID,
    RFC822_HDR_MIME_VERSION,
    RFC822_HDR_RECEIVED,
    RFC822_HDR_REPLY_TO,
    RFC822_HDR_RESENT_BCC,
    RFC822_HDR_RESENT_CC,
    RFC822_HDR_RESENT_DATE,
    RFC822_HDR_RESENT_FROM,
    RFC822_HDR_RESENT_MESSAGE_ID,
    RFC822_HDR_RESENT_REPLY_TO,
    RFC822_HDR_RESENT_SENDER,
    RFC822_HDR_RESENT_TO,
    RFC822_HDR_RETURN_PATH,
    RFC822_HDR_RETURN_RECEIPT_TO,
    RFC822_HDR_SENDER_ID, /* the Sender: header */
    RFC822_HDR_TO,
    RFC822_HDR_COUNT
};

struct rfc822_hdr_info {
    const char *name; /* canonical spelling: "Message-Id" */
    enum rfc822_hdr_id id;
    int flags; /* RFC822_HDR_* */
};

/*
 * If LINE (LEN bytes) starts a header ("Name:" where Name is 1 or more
 * printable ASCII characters other than ':', optionally followed by
 * spaces or tabs before the colon, the obsolete form), return the length
 * of the name; else 0.
 */
size_t rfc822_header_name(const char *line, size_t len);
/* Offset of the header value (just after the colon), or 0 if no header. */
size_t rfc822_header_value(const char *line, size_t len);
/* Is LINE a continuation line (starts with a space or a tab)? */
int rfc822_continuation(const char *line, size_t len);
/* The entry for the header NAME (any case), or NULL for other names. */
const struct rfc822_hdr_info *rfc822_header_info(const char *name, size_t len);

/*
 * Append TEXT unfolded to OUT: every CR LF or LF followed by a space or a
 * tab is removed (the space or tab is kept); other line breaks stay.
 */
void rfc822_unfold(struct buf *out, const char *text, size_t len);
/*
 * Append the value of the header HDR (LEN bytes, folded or not) to OUT,
 * unfolded, with leading and trailing white space removed.
 */
void rfc822_header_text(struct buf *out, const char *hdr, size_t len);

/* ---- addresses -------------------------------------------------------- */

/* One address found in a header value. */
struct rfc822_addr {
    size_t start;     /* offset of the address text in the value */
    size_t end;       /* offset just past it (start == end: "<>") */
    int angle;        /* it was written inside <...> */
    struct buf *addr; /* internal form ("" for <>) */
};

struct rfc822_addrs {
    struct rfc822_addr *v;
    size_t n;
    size_t size;
    int truncated; /* the token limit stopped the parse */
};

void rfc822_addrs_init(struct rfc822_addrs *list);
void rfc822_addrs_free(struct rfc822_addrs *list);

/*
 * Find the addresses of the address list in VALUE (LEN bytes: a header
 * value, folded or not) and store them in LIST (emptied first). At most
 * TOKEN_LIMIT lexical tokens are looked at (header_address_token_limit;
 * 0 = no limit); addresses after that are left out and LIST->truncated is
 * set. Group names and their ":" ";" are not addresses; an empty group
 * gives no address. Returns the number of addresses.
 */
size_t rfc822_parse_addrs(struct rfc822_addrs *list, const char *value,
                          size_t len, size_t token_limit);

/*
 * Rewrite function: change ADDR (internal form) in place and return 1, or
 * return 0 to leave it alone, or -1 to stop everything (a lookup failed).
 * Empty addresses ("<>") are not passed.
 */
typedef int (*rfc822_rewrite_fn)(struct buf *addr, void *ctx);

/*
 * Set OUT to VALUE with every address FN changed replaced by the external
 * form (addr_quote) of the new address; all other bytes are copied as
 * they are. Returns how many addresses changed (0: OUT equals VALUE), or
 * -1 when FN returned -1 (OUT is then unusable).
 */
int rfc822_rewrite_addrs(struct buf *out, const char *value, size_t len,
                         size_t token_limit, rfc822_rewrite_fn fn, void *ctx);

/*
 * Append "PHRASE <ADDR>" to OUT for a header, ADDR (internal form) put in
 * external form and PHRASE written as it is when it is made of words and
 * spaces only, else as a quoted string. With an empty PHRASE only ADDR is
 * appended (without <>).
 */
void rfc822_format_mailbox(struct buf *out, const char *phrase,
                           const char *addr);

#endif
