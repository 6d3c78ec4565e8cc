/*
 * auth_impl.h - the parts of the auth service (auth/auth*.c): base64,
 * stored password values ("schemes"), the SASL mechanisms.
 *
 * Everything here is pure computation over buffers, so unit tests and
 * fuzz targets include the .c files directly; the daemon (auth.c) adds
 * the socket, the maps and the logging. Errors are return values with a
 * reason text; nothing here exits or logs.
 */
#ifndef POSTERN_AUTH_IMPL_H
#define POSTERN_AUTH_IMPL_H

#include <stddef.h>

#include "auth_client.h"
#include "lookup.h"

struct buf;

/* ---- base64 (auth_base64.c), RFC 4648 with padding, strict ----------- */

void auth_b64_encode(struct buf *out, const void *data, size_t len);
/* Replace OUT with the decoding of TEXT/LEN: 0, or -1 (bad input). */
int auth_b64_decode(struct buf *out, const char *text, size_t len);

/* ---- stored values (auth_scheme.c) ----------------------------------- */

/*
 * A value from auth_user_maps is one "{SCHEME}data" item, or a combined
 * value: several items separated by single spaces (the "{PLAIN}" item,
 * whose data may contain spaces, only as the last one). A value that does
 * not start with "{" is a clear password (sasldb entries, Cyrus-style).
 *   {PLAIN}password
 *   {CRAM-MD5}64 hex digits: the HMAC-MD5 inner and outer MD5 states
 *             after the key block (a, b, c, d little-endian), Dovecot's
 *   {DIGEST-MD5}32 hex digits: MD5(user:realm:password)
 *   {SCRAM-SHA-1} / {SCRAM-SHA-256}ITERATIONS,SALT,STOREDKEY,SERVERKEY
 *             (base64 fields, Dovecot's format)
 *   {SHA512-CRYPT}$6$... / {BLF-CRYPT}$2y$...  crypt(3) strings
 */
#define AUTH_HAVE_PLAIN    0x01
#define AUTH_HAVE_CRAM     0x02
#define AUTH_HAVE_DIGEST   0x04
#define AUTH_HAVE_SCRAM1   0x08
#define AUTH_HAVE_SCRAM256 0x10
#define AUTH_HAVE_CRYPT    0x20

#define AUTH_SCRAM_MAX 64 /* bytes of the largest digest */

struct auth_scram_keys {
    int iter;
    struct buf *salt; /* raw bytes */
    unsigned char stored[AUTH_SCRAM_MAX];
    unsigned char server[AUTH_SCRAM_MAX];
};

struct auth_secret {
    unsigned have;
    struct buf *plain;
    unsigned char cram[32]; /* inner state, outer state */
    unsigned char digest[16];
    struct auth_scram_keys scram1;
    struct auth_scram_keys scram256;
    struct buf *crypt; /* the crypt(3) string */
};

void auth_secret_init(struct auth_secret *s);
/* Wipes the secret bytes too. */
void auth_secret_free(struct auth_secret *s);
/* Parse VALUE into S (cleared first): 0, or -1 with ERR (no secret in ERR). */
int auth_secret_parse(struct auth_secret *s, const char *value,
                      struct buf *err);
/*
 * Does PASSWORD match S? USER and REALM are needed for a {DIGEST-MD5}
 * value only. 1 yes, 0 no, -1 the value cannot check a password.
 */
int auth_secret_check(const struct auth_secret *s, const char *user,
                      const char *realm, const char *password, size_t len);

/*
 * Make a stored value for PASSWORD: SCHEME is "PLAIN", "CRAM-MD5",
 * "DIGEST-MD5" (needs USER and REALM), "SCRAM-SHA-1", "SCRAM-SHA-256",
 * "SHA512-CRYPT", "BLF-CRYPT", or "COMBINED" (SCRAM-SHA-256, SCRAM-SHA-1,
 * CRAM-MD5, DIGEST-MD5 and SHA512-CRYPT). SALT/SALT_LEN (NULL: random) and
 * ITER (0: 4096) for the SCRAM schemes. 0, or -1 with ERR.
 */
int auth_scheme_make(struct buf *out, const char *scheme, const char *user,
                     const char *realm, const char *password, const void *salt,
                     size_t salt_len, int iter, struct buf *err);

/* Digests by name ("MD5", "SHA1", "SHA256"): 0, or -1. */
int auth_hash(const char *md, const void *data, size_t len, unsigned char *out,
              unsigned *out_len);
int auth_hmac(const char *md, const void *key, size_t key_len, const void *data,
              size_t len, unsigned char *out, unsigned *out_len);
/* HMAC-MD5 of DATA from the 32-byte precomputed CRAM-MD5 context. */
void auth_cram_hmac(const unsigned char ctx[32], const void *data, size_t len,
                    unsigned char out[16]);
/* The precomputed CRAM-MD5 context of a password. */
void auth_cram_context(const char *password, size_t len, unsigned char ctx[32]);
void auth_hex(struct buf *out, const unsigned char *data, size_t len);
/* Fill DATA with LEN random bytes (OpenSSL): 0, or -1. */
int auth_random(void *data, size_t len);

/* ---- mechanisms (auth_mech.c) ---------------------------------------- */

/* Security properties (smtpd_sasl_security_options words). */
#define AUTH_SEC_NOPLAINTEXT  0x01
#define AUTH_SEC_NOANONYMOUS  0x02
#define AUTH_SEC_NOACTIVE     0x04
#define AUTH_SEC_NODICTIONARY 0x08
#define AUTH_SEC_MUTUAL       0x10

/* Parse an option list: the mask, or -1 with ERR naming a bad word. */
int auth_sec_parse(const char *options, struct buf *err);
/* Set OUT to the mechanisms allowed by SEC, blank separated. */
void auth_mech_list(struct buf *out, int sec);

/*
 * How a mechanism finds a user: KEY is "user@realm" (or "user" without a
 * realm); VALUE gets the stored value. ERR gets the reason of an error.
 */
typedef enum lookup_status (*auth_lookup_fn)(void *ctx, const char *key,
                                             struct buf *value,
                                             struct buf *err);

struct auth_session;

/*
 * REALM: the realm for bare user names (smtpd_sasl_local_domain, may be
 * empty); HOSTNAME: for challenges (myhostname); SERVICE: the DIGEST-MD5
 * digest-uri service ("smtp").
 */
struct auth_session *auth_session_create(auth_lookup_fn lookup, void *ctx,
                                         const char *realm,
                                         const char *hostname,
                                         const char *service);
void auth_session_free(struct auth_session *as);
/* Replace the realm for bare user names (the start request's "realm"). */
void auth_session_set_realm(struct auth_session *as, const char *realm);
/* Tests: use this nonce / CRAM-MD5 challenge instead of random ones. */
void auth_session_fix_nonce(struct auth_session *as, const char *nonce);

/*
 * One exchange. auth_session_start begins MECH (SEC must allow it) with
 * the initial response INITIAL as the client sent it (base64, "=" empty,
 * NULL or "" none). auth_session_step gives the next client line ("*"
 * cancels). Both return the status and fill R: the base64 challenge in
 * R->data for CONTINUE; the identity in R->user and the mechanism in
 * R->reason for OK; a fail2ban-safe reason (letters, digits, blanks and
 * colons only) for FAIL and TEMP. LOG gets a detailed line for the
 * service's log (user names made printable, never a secret), or "".
 */
enum auth_status auth_session_start(struct auth_session *as, const char *mech,
                                    const char *initial, int sec,
                                    struct auth_reply *r, struct buf *log);
enum auth_status auth_session_step(struct auth_session *as,
                                   const char *response, struct auth_reply *r,
                                   struct buf *log);
/* Forget the exchange in progress. */
void auth_session_reset(struct auth_session *as);
/* Is an exchange in progress? */
int auth_session_busy(const struct auth_session *as);

/*
 * Parsers exposed for tests and fuzzing. DIGEST-MD5: split a
 * directive list into NAME=VALUE pairs, calling FN for each (unquoted
 * value); 0, or -1 on a syntax error or when FN returns -1.
 */
int auth_digest_parse(const char *text, size_t len,
                      int (*fn)(void *ctx, const char *name, const char *value,
                                size_t vlen),
                      void *ctx);
/* The DIGEST-MD5 response and rspauth values (hex) of RFC 2831. */
void auth_digest_compute(const unsigned char urp[16], const char *nonce,
                         const char *cnonce, const char *nc,
                         const char *authzid, const char *uri, int server,
                         char out[33]);

#endif
