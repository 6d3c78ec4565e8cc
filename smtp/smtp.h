/*
 * smtp.h - the parts of the smtp(8) delivery agent shared by its files
 * (smtp/ only; nothing outside includes it, except its own unit tests and
 * fuzz target, which include the .c files).
 *
 *   smtp.c          main, the request loop, the connection cache
 *   smtp_reply.c    reading and parsing server replies, EHLO keywords
 *   smtp_addr.c     nexthop parsing, MX/A/AAAA lookups, the target list
 *   smtp_proto.c    the SMTP conversation for one request
 *   smtp_tls.c      STARTTLS and wrapper mode, TLS policies
 *   smtp_sasl.c     the SASL client (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256)
 *   smtp_generic.c  smtp_generic_maps on envelope and header addresses
 *   smtp_mime.c     8-bit to 7-bit MIME conversion for servers without
 *                   8BITMIME
 *
 * Errors: functions return -1 (or a SMTP_* outcome) with a reason text in
 * a caller's buffer; nothing here is fatal after start-up.
 */
#ifndef POSTERN_SMTP_H
#define POSTERN_SMTP_H

#include <stddef.h>
#include <sys/socket.h>

struct argv;
struct buf;
struct deliver_agent;
struct maps;
struct stream;
struct tls_ctx;

/* ---- replies (smtp_reply.c) --------------------------------------------- */

#define SMTP_REPLY_LINE_MAX       4096 /* longest reply line kept */
#define SMTP_REPLY_LINES_MAX      100  /* most lines in one reply */
#define SMTP_REPLY_LINES_READ_MAX 1000 /* more: a malformed reply */

struct smtp_reply {
    int code;           /* 250; 0 when malformed */
    char dsn[16];       /* "2.0.0": the server's, else from the code */
    struct buf *text;   /* every line, codes included, joined by ' ' */
    struct argv *lines; /* each line's text after "NNN-" / "NNN " */
};

void smtp_reply_init(struct smtp_reply *r);
void smtp_reply_free(struct smtp_reply *r);
/*
 * Read one (multi-line) reply from S under its current timeout. 0, or -1
 * with the stream's reason; a line that does not start with three digits
 * ends the reply as malformed (0 returned, r->code 0).
 */
int smtp_reply_read(struct stream *s, struct smtp_reply *r);
/* Parse one line: its code (or 0), *LAST set when it is the final line. */
int smtp_reply_line(const char *line, size_t len, int *last);

/* What the server offered in its EHLO reply. */
struct smtp_features {
    int esmtp; /* EHLO worked */
    int pipelining;
    int size;
    long long size_limit; /* 0 = none given */
    int eightbitmime;
    int smtputf8;
    int dsn;
    int starttls;
    int auth;
    struct buf *auth_mechs; /* "PLAIN LOGIN", upper case, space separated */
};

void smtp_features_init(struct smtp_features *f);
void smtp_features_free(struct smtp_features *f);
/*
 * Fill F from the EHLO reply R (the first line is the greeting name);
 * DISCARD is smtp_discard_ehlo_keywords (may be "").
 */
void smtp_features_parse(struct smtp_features *f, const struct smtp_reply *r,
                         const char *discard);

/* ---- destinations (smtp_addr.c) ----------------------------------------- */

struct smtp_dest {
    char *host;    /* without brackets and "ipv6:" */
    unsigned port; /* 0: smtp_tcp_port */
    int mx;        /* look up MX records (no brackets) */
    int literal;   /* host is a numeric address */
    char *text;    /* the nexthop as written */
};

/*
 * Parse one nexthop: "[host]", "[host]:port", "host", "host:port",
 * "[ipv6:2001:db8::1]:25", ":service" ports. 0, or -1 with ERR.
 */
int smtp_dest_parse(const char *text, struct smtp_dest *d, struct buf *err);
void smtp_dest_free(struct smtp_dest *d);
/* A port number or service name: the port, or -1. */
int smtp_port_lookup(const char *service);

/* One server address to try. */
struct smtp_target {
    char *host; /* the name to show: MX host or nexthop host */
    char *dest; /* the nexthop this came from (as written) */
    int family;
    unsigned char addr[16];
    unsigned port;
    char addr_text[64];
};

struct smtp_targets {
    struct smtp_target *v;
    size_t n;
    /* When none were found: why, and whether that is for good. */
    struct buf *why;
    char dsn[16];
    int hard;
};

/*
 * The targets for NEXTHOP (a list, as qmgr passes it) and then
 * smtp_fallback_relay. Ordered by MX preference, shuffled among equals
 * (smtp_randomize_addresses), limited by smtp_mx_address_limit.
 */
void smtp_targets_find(struct smtp_targets *t, const char *nexthop);
/*
 * Before chroot: load what the system resolver needs later (its NSS
 * modules) when smtp_host_lookup has "native".
 */
void smtp_addr_warm_up(void);
void smtp_targets_free(struct smtp_targets *t);

/* ---- the session -------------------------------------------------------- */

struct smtp_session {
    struct stream *s;
    struct buf *host; /* server name */
    struct buf *addr; /* server address text */
    unsigned port;
    struct buf *peer;  /* "host[addr]" */
    struct buf *relay; /* "host[addr]:port" */
    struct buf *dest;  /* nexthop it serves (connection cache key) */
    struct smtp_features feat;
    int tls;          /* TLS is on */
    int tls_verified; /* ... and the server was verified/fingerprinted */
    int auth_done;    /* authenticated */
    int no_tls;       /* plain-text retry after a failed "may" handshake */
    int use_count;    /* deliveries over it (conn_use) */
    long long born_us;
    long long idle_us; /* when it went into the cache */
};

struct smtp_session *smtp_session_new(struct stream *s,
                                      const struct smtp_target *t);
void smtp_session_free(struct smtp_session *ss);

/* ---- TLS (smtp_tls.c) --------------------------------------------------- */

enum smtp_tls_level {
    SMTP_TLS_NONE = 0,
    SMTP_TLS_MAY,
    SMTP_TLS_ENCRYPT,
    SMTP_TLS_FINGERPRINT,
    SMTP_TLS_VERIFY,
    SMTP_TLS_SECURE,
};

struct smtp_tls_policy {
    enum smtp_tls_level level;
    struct buf *match;     /* match= / cert names / fingerprints */
    struct buf *protocols; /* protocols= override */
    int from_map;
};

/* Open the TLS contexts (as root, before chroot). Fatal on bad files. */
void smtp_tls_setup(void);
void smtp_tls_policy_init(struct smtp_tls_policy *p);
void smtp_tls_policy_free(struct smtp_tls_policy *p);
/*
 * The policy for DEST (nexthop text) whose host part is HOST: 0, or -1
 * with ERR (a policy table failed: defer).
 */
int smtp_tls_policy_find(struct smtp_tls_policy *p, const char *dest,
                         const char *host, struct buf *err);
/* "none" ... "secure", or -1 for an unknown word. */
int smtp_tls_level_parse(const char *word);
/*
 * Run the handshake on SS->s per policy P (after "220 Ready to start
 * TLS", or at once in wrapper mode). 0 when the level's demands are met
 * (SS->tls set); -1 with ERR and *DSN otherwise.
 */
int smtp_tls_start(struct smtp_session *ss, const struct smtp_tls_policy *p,
                   const char *nexthop_host, struct buf *err);

/* ---- SASL (smtp_sasl.c) ------------------------------------------------- */

/* Outcomes of smtp_sasl_login. */
#define SMTP_SASL_OK   0 /* authenticated, or nothing to do */
#define SMTP_SASL_FAIL 1 /* the server refused: defer with ERR */
#define SMTP_SASL_TEMP 2 /* no credentials service, broken session */
#define SMTP_SASL_LOST 3 /* the connection broke: ERR says so */

/*
 * Authenticate SS when smtp_sasl_auth_enable is on, the server offers
 * AUTH and the auth service has credentials for SENDER/host/NEXTHOP.
 * ERR gets the reason for the log on failure.
 */
int smtp_sasl_login(struct smtp_session *ss, const char *sender,
                    const char *nexthop, struct buf *err, char *dsn);
/* Pick the mechanism from OFFERED per the filter and security options. */
const char *smtp_sasl_choose(const char *offered, const char *filter,
                             const char *options);
/* Client responses, exposed for unit tests (RESP gets raw bytes). */
void smtp_sasl_cram_md5(struct buf *resp, const char *user,
                        const char *password, const char *challenge,
                        size_t len);

/* ---- generic maps (smtp_generic.c) -------------------------------------- */

/* Open smtp_generic_maps (before chroot). */
void smtp_generic_setup(void);
/*
 * Rewrite ADDR into OUT when a table matches; 1 rewritten, 0 not, -1 on
 * a table error (ERR set: defer).
 */
int smtp_generic_addr(const char *addr, struct buf *out, struct buf *err);
/*
 * Rewrite the addresses in one header (name and value, unfolded lines
 * joined) in place; 1 changed, 0 not, -1 table error.
 */
int smtp_generic_header(struct buf *header, struct buf *err);
int smtp_generic_enabled(void);

/* ---- MIME conversion to 7 bit (smtp_mime.c) ---------------------------- */

/* Flags of the output callbacks. */
#define SMTP_MIME_START   0x01 /* text: the data begins a line */
#define SMTP_MIME_END     0x02 /* text: a line ends after the data */
#define SMTP_MIME_QP      0x04 /* text: a line we encoded */
#define SMTP_MIME_NEW     0x08 /* a header or empty line we added */
#define SMTP_MIME_PRIMARY 0x10 /* header: of the message itself */

struct smtp_mime_out {
    /*
     * One complete header: its physical lines joined by LF, no line end.
     * HDR may be changed (rewritten) by the callee.
     */
    int (*header)(void *ctx, struct buf *hdr, int flags);
    /* Content text: part of a line, a whole line, or a line end. */
    int (*text)(void *ctx, const char *data, size_t len, int flags);
    void *ctx;
};

struct smtp_mime;

/*
 * A converter writing to OUT, or (OUT NULL) a scan: feed it the whole
 * content, then smtp_mime_eight says whether the message is 8-bit, and
 * smtp_mime_rewind turns it into the converter for a second feeding of
 * the same content (it keeps what the scan learned about each part).
 */
struct smtp_mime *smtp_mime_new(const struct smtp_mime_out *out);
void smtp_mime_rewind(struct smtp_mime *m, const struct smtp_mime_out *out);
/*
 * Feed LEN bytes of content: a whole line or a piece of one (END: the
 * line ends here). 0, or a callback's negative return value.
 */
int smtp_mime_feed(struct smtp_mime *m, const char *data, size_t len, int end);
/* The content ended: ends an open line and header block. 0 or < 0. */
int smtp_mime_finish(struct smtp_mime *m);
/* After a scan: 8-bit body bytes or an 8bit/binary encoding were seen. */
int smtp_mime_eight(const struct smtp_mime *m);
/* After a scan: multipart/message nesting deeper than mime_nesting_limit. */
int smtp_mime_too_deep(const struct smtp_mime *m);
void smtp_mime_free(struct smtp_mime *m);

/* ---- the conversation (smtp_proto.c) ------------------------------------ */

/* Outcomes of smtp_proto_deliver. */
#define SMTP_DONE 0 /* every recipient has a result */
#define SMTP_NEXT 1 /* try the next server for the rest */

struct smtp_state {
    struct deliver_agent *a;
    int *accepted;   /* per recipient: RCPT accepted this session */
    struct buf *why; /* why the last server failed (for the deferral) */
    char why_dsn[16];
    struct buf *why_relay;
    int why_hard;        /* the last server's failure was a 5xx */
    int sessions;        /* sessions tried */
    int reusable;        /* the session may go into the cache */
    int tls_retry_plain; /* a "may" handshake failed: retry in plain text */
};

/*
 * Run one delivery over SS (fresh: greeting first; from the cache: MAIL
 * first). DEST is the nexthop host the policy applies to.
 */
int smtp_proto_deliver(struct smtp_state *st, struct smtp_session *ss,
                       int fresh, const char *nexthop, const char *dest_host);
/* Say QUIT (no wait for the reply with smtp_skip_quit_response). */
void smtp_proto_quit(struct smtp_session *ss);
/* RSET before caching: 0 when the server took it. */
int smtp_proto_rset(struct smtp_session *ss);
/* xtext encoding (RFC 3461) appended to OUT. */
void smtp_xtext(struct buf *out, const char *text);
/* Quote an envelope address for MAIL FROM/RCPT TO into OUT. */
void smtp_quote_addr(struct buf *out, const char *addr);

#endif
