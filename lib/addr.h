/*
 * addr.h - RFC 5321 mail addresses: the MAIL FROM/RCPT TO argument,
 * quoting between internal and external form, local part/domain split,
 * recipient_delimiter extensions.
 *
 * Called by smtpd (MAIL FROM, RCPT TO), cleanup, local, sendmail and the
 * address rewriting code. Two forms of an address exist, as in Postfix:
 *   external: RFC 5321 text as on the wire, '"john doe"@example.com';
 *   internal: the local part unquoted, 'john doe@example.com'; the domain
 *             is everything after the LAST '@'.
 * Queue files, lookups and logs use the internal form.
 *
 * Input that may come from a peer is taken as pointer plus length and may
 * contain anything, NULs included. Errors: -1 and *ERR set to a static
 * message; results go into struct buf (no fixed-size arrays).
 */
#ifndef POSTERN_ADDR_H
#define POSTERN_ADDR_H

#include <stddef.h>

struct buf;

/*
 * Flags for addr_parse_arg.
 * BARE: allow "user@dom" without <> (Postfix's strict_rfc821_envelopes =
 * no). NO_NULL: reject "<>" (RCPT TO). STRICT: RFC 5321 grammar only
 * (dot-atom local part, letter-digit-hyphen domain, RFC lengths, a domain
 * required except for <postmaster>). NO_8BIT: reject bytes above 127 (no
 * SMTPUTF8).
 */
#define ADDR_PARSE_BARE    0x01
#define ADDR_PARSE_NO_NULL 0x02
#define ADDR_PARSE_STRICT  0x04
#define ADDR_PARSE_NO_8BIT 0x08

/* One ESMTP parameter: "SIZE=123" or "SMTPUTF8" (VALUE NULL). */
struct addr_param {
    char *name;
    char *value;
};

/* The parsed argument of MAIL FROM: or RCPT TO:. */
struct addr_arg {
    struct buf *addr;          /* internal form; "" for <> */
    int null_addr;             /* the address was <> */
    int bracketed;             /* the address was inside <> */
    struct addr_param *params; /* NPARAMS entries, in order */
    size_t nparams;
    size_t params_size;
    /* The error was in the parameters: the caller may answer 555. */
    int param_error;
};

struct addr_arg *addr_arg_new(void);
void addr_arg_free(struct addr_arg *arg);

/*
 * Parse the text after "MAIL FROM:" or "RCPT TO:" (leading white space is
 * skipped): "<addr>", "<@a,@b:user@dom>" (source route dropped), "<>",
 * quoted local parts, address literals "[192.0.2.1]" and "[IPv6:...]"
 * (general literals "[tag:...]" are refused),
 * then ESMTP parameters separated by spaces. Without ADDR_PARSE_STRICT
 * the address is checked as Postfix does by default: dots anywhere in an
 * unquoted local part, '_' in domains and an unqualified "user" are
 * accepted. Returns 0, or -1 with *ERR set (e.g. "missing '>'",
 * "unbalanced quote", "bad domain syntax", "bad ESMTP parameter syntax").
 */
int addr_parse_arg(struct addr_arg *arg, const char *text, size_t len,
                   int flags, const char **err);
/*
 * Index of the parameter NAME (case-insensitive) in ARG, or -1. Use this
 * rather than a value lookup: "SMTPUTF8" has no value.
 */
int addr_arg_find(const struct addr_arg *arg, const char *name);

/*
 * Append the external form of the internal address ADDR to OUT: the local
 * part (up to the last '@') is put in quotes, with '"' and '\' escaped,
 * when it is not a dot-atom (empty, specials, space, controls, leading,
 * trailing or double dots). Bytes above 127 do not force quoting
 * (SMTPUTF8). An empty ADDR (the null sender) stays empty.
 */
void addr_quote(struct buf *out, const char *addr, size_t len);
/*
 * Append the internal form of the external address ADDR to OUT: quotes
 * before the last unquoted '@' are removed and "\x" inside them becomes
 * "x". The domain is copied as it is. addr_unquote(addr_quote(x)) == x.
 */
void addr_unquote(struct buf *out, const char *addr, size_t len);

/* Flags for addr_split_at and addr_split. */
#define ADDR_INTERNAL 0 /* split at the last '@' */
#define ADDR_EXTERNAL 1 /* split at the last '@' outside quotes */

/* Offset of the '@' that starts the domain, or LEN when there is none. */
size_t addr_split_at(const char *addr, size_t len, int form);
/*
 * Copy the local part into LOCAL and the domain (without '@') into DOMAIN
 * (either may be NULL). Returns 1 when ADDR has a domain part, 0 when not.
 */
int addr_split(const char *addr, size_t len, int form, struct buf *local,
               struct buf *domain);

/* Lower-case ASCII letters in place (not locale dependent). */
void addr_lower_ascii(char *text, size_t len);
/* Lower-case the domain of the internal address in BUF (in place). */
void addr_lower_domain(struct buf *addr);

/*
 * recipient_delimiter: split the internal address "user+ext@dom" at the
 * first character of the local part that is in DELIMS (several may be
 * given, e.g. "+-"), into USER, EXT (without the delimiter) and DOMAIN
 * (without '@'); any output may be NULL. *DELIM (when not NULL) gets the
 * delimiter used, or 0.
 *
 * Not split, as Postfix: an empty DELIMS; a local part that starts with a
 * delimiter ("+foo"); the local parts "postmaster", "mailer-daemon" and
 * "double-bounce" (any case); and, when DELIMS holds '-', "owner-..." and
 * "...-request" (mailing-list conventions). "user+@dom" splits with an
 * empty extension.
 *
 * Returns 1 when split, 0 when not (USER is then the whole local part and
 * EXT is empty).
 */
int addr_split_ext(const char *addr, size_t len, const char *delims,
                   struct buf *user, struct buf *ext, struct buf *domain,
                   int *delim);

#endif
