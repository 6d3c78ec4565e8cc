/*
 * tls.h - the TLS layer shared by smtpd (server side, STARTTLS and
 * wrapper mode) and the smtp client (issue 8), on OpenSSL.
 *
 * A process builds one context per side at start-up, before chroot
 * (tls_server_new / tls_client_new read certificate, key and CA files;
 * the files are not opened again). Per connection, tls_server_start /
 * tls_client_start run the handshake on a struct stream under a deadline
 * and, on success, install the TLS I/O layer (stream_set_io), so the
 * caller keeps reading and writing the same stream.
 *
 * Parameters follow Postfix's names and syntax; the caller fills struct
 * tls_config from its own parameters (smtpd_tls_* or smtp_tls_*):
 *   protocols   ">=TLSv1.2", "<=TLSv1.3", "!SSLv2, !SSLv3, !TLSv1" (a
 *               list of exclusions or bounds, separators comma/space/colon)
 *   ciphers     a grade: "high", "medium", "low", "export", "null"
 *   exclude     OpenSSL cipher names removed from the grade's list
 *
 * Session resumption: the server issues RFC 5077 tickets (key made at
 * context creation, so sessions resume within one process's life) and
 * keeps an in-memory session cache of session_cache_timeout seconds; the
 * client keeps the last session per tls_client_start "cache_key".
 *
 * Logging (Postfix's shapes, by the caller's loglevel):
 *   "Anonymous TLS connection established from host[addr]: TLSv1.3 with
 *    cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
 *   "Trusted/Verified/Untrusted TLS connection established to host[addr]:port:
 *    ..." (client)
 *   "SSL_accept error from host[addr]: -1" (info, as Postfix) plus one
 *   "warning: TLS library problem: error:..." per OpenSSL error, or
 *   "SSL_connect error to host[addr]:port: lost connection" / "timed out".
 *   tls_server_start / tls_client_start log these failure lines
 *   themselves, at every loglevel: callers must not log them again.
 *
 * Errors: NULL / -1 with a message in ERR; nothing here is fatal. After a
 * failed handshake ERR holds only the short reason ("timed out", "lost
 * connection", "wrong version number", "no shared cipher", ...), fit for
 * "Cannot start TLS: REASON" or a "lost connection after STARTTLS" line.
 * Client name matching: a name in MATCH_NAMES that starts with "." matches
 * any subdomain; "*" wildcards in certificates match one label.
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stddef.h>

struct buf;
struct stream;
struct tls_ctx;

struct tls_config {
    const char *cert_file;   /* PEM certificate (chain after it allowed) */
    const char *key_file;    /* PEM private key ("" or NULL: cert_file) */
    const char *chain_files; /* *_tls_chain_files; when set, wins */
    const char *CAfile;      /* peer verification ("" = none) */
    const char *CApath;
    const char *protocols;          /* see above; "" = library default */
    const char *ciphers;            /* grade; "" = medium */
    const char *exclude;            /* cipher names to remove; may be "" */
    const char *fingerprint_digest; /* "sha256" (default), "sha1", "md5" */
    int verify_depth;               /* longest peer chain accepted */
    int ask_ccert;                  /* server: ask for a client certificate */
    int loglevel;                   /* 0 quiet, 1 summary, 2 handshake steps */
    long session_cache_timeout;     /* seconds; 0: no resumption */
};

/* What one handshake gave. */
struct tls_info {
    char protocol[32];   /* "TLSv1.3" */
    char cipher[128];    /* "TLS_AES_256_GCM_SHA384" */
    int cipher_bits;     /* 256 */
    int cipher_alg_bits; /* 256 */
    int reused;          /* session resumed */
    int peer_has_cert;
    int peer_trusted;        /* chain verified to a CA */
    int peer_verified;       /* trusted and the name matched (client) */
    int peer_fingerprint_ok; /* a fingerprint from the list matched */
    char peer_cn[256];       /* subject CN ("" when none) */
    char peer_issuer_cn[256];
    char peer_fingerprint[200]; /* "AB:CD:..." with fingerprint_digest */
    /* Added by the TLS helper (additive): */
    char peer_pkey_fingerprint[200]; /* digest of the public key (also
                                        accepted in FINGERPRINTS) */
    int peer_name_matched;  /* client: a name matched (trusted or not) */
    long verify_result;     /* OpenSSL X509_V_* code of the peer chain */
    char verify_error[128]; /* why peer_trusted is 0 ("" when trusted) */
    char servername[256];   /* server: SNI name the client sent (printable) */
    /* Added for the Received: header's comment (additive): */
    char kex[64];           /* "X25519", "ECDHE (prime256v1)", "" unknown */
    char server_sig[64];    /* "RSA-PSS (2048 bits)", "ECDSA (prime256v1)" */
    char server_digest[32]; /* "SHA256", "" when none (Ed25519) */
};

/*
 * Contexts. Files named in CFG are read now; a missing or mismatching
 * certificate/key is an error here ("cannot load certificate FILE: ...").
 */
struct tls_ctx *tls_server_new(const struct tls_config *cfg, struct buf *err);
struct tls_ctx *tls_client_new(const struct tls_config *cfg, struct buf *err);
void tls_ctx_free(struct tls_ctx *ctx);

/*
 * Server handshake on S (plain so far: after "220 2.0.0 Ready to start
 * TLS" was flushed and buffered input discarded, or at once in wrapper
 * mode). TIMEOUT in seconds covers the whole handshake. PEER is
 * "host[addr]" for the log lines. On success the TLS layer is installed
 * on S and INFO filled; -1 with ERR on failure (S is then unusable).
 */
int tls_server_start(struct tls_ctx *ctx, struct stream *s, int timeout,
                     const char *peer, struct tls_info *info, struct buf *err);

/*
 * Client handshake. SERVERNAME (may be NULL) goes into SNI and is the name
 * checked against the certificate when MATCH_NAMES (a list like
 * "nexthop, dot-nexthop" already expanded to names, separated by spaces)
 * is given; FINGERPRINTS (may be NULL) is a list of "AB:CD:..." digests
 * for the fingerprint level. CACHE_KEY (may be NULL) names the session to
 * resume. Fills INFO; the caller decides from it what the security level
 * demands (verify/secure: peer_verified; fingerprint: peer_fingerprint_ok).
 */
int tls_client_start(struct tls_ctx *ctx, struct stream *s, int timeout,
                     const char *peer, const char *servername,
                     const char *match_names, const char *fingerprints,
                     const char *cache_key, struct tls_info *info,
                     struct buf *err);

/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" into OUT. */
void tls_info_summary(struct buf *out, const struct tls_info *info);
/*
 * Postfix's key-exchange part: "key-exchange X25519 server-signature
 * RSA-PSS (2048 bits) server-digest SHA256" into OUT (each part only when
 * known; nothing when none is).
 */
void tls_info_kex(struct buf *out, const struct tls_info *info);

/*
 * Check a protocols or ciphers setting without building a context (for
 * postern check and early start-up errors): 0, or -1 with ERR.
 */
int tls_check_protocols(const char *protocols, struct buf *err);
int tls_check_grade(const char *grade, struct buf *err);

#endif
