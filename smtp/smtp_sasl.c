/*
 * smtp_sasl.c - the SMTP AUTH client: credentials from the auth service
 * (auth_client_creds: smtp_sasl_password_maps are read by auth only),
 * the choice of mechanism, and the client side of PLAIN, LOGIN, CRAM-MD5
 * and SCRAM-SHA-256 on OpenSSL.
 *
 * Choice: the server's offer (either "AUTH" or the old "AUTH=" form),
 * filtered by smtp_sasl_mechanism_filter (which also gives the order of
 * preference; without it: SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN), minus
 * what smtp_sasl_security_options (or the _tls_ variant over TLS) forbid:
 * noplaintext (PLAIN, LOGIN), noanonymous (ANONYMOUS), nodictionary
 * (PLAIN, LOGIN, CRAM-MD5), mutual_auth (only SCRAM).
 *
 * Errors: a refusal by the server is SMTP_SASL_FAIL with "SASL
 * authentication failed; server host[addr] said: 535 ..." (the caller
 * defers, never bounces); no auth service or no mechanism is
 * SMTP_SASL_FAIL/TEMP with a reason; a broken connection is
 * SMTP_SASL_LOST.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "argv.h"
#include "auth_client.h"
#include "buf.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "smtp.h"
#include "str.h"
#include "stream.h"

static struct auth_client *smtp_auth;

/* ---- base64 ------------------------------------------------------------- */

static void smtp_b64_encode(struct buf *out, const void *data, size_t len)
{
    size_t need = 4 * ((len + 2) / 3) + 1;
    unsigned char *tmp = mem_alloc(need);
    int n = EVP_EncodeBlock(tmp, data, (int) len);

    buf_reset(out);
    buf_append(out, tmp, (size_t) n);
    mem_free(tmp);
}

/* Decode TEXT into OUT: 0, or -1 when it is not base64. */
static int smtp_b64_decode(struct buf *out, const char *text)
{
    size_t len = strlen(text);
    unsigned char *tmp;
    int n;

    buf_reset(out);
    if (len == 0)
        return 0;
    if (len % 4 != 0)
        return -1;
    tmp = mem_alloc(len / 4 * 3 + 1);
    n = EVP_DecodeBlock(tmp, (const unsigned char *) text, (int) len);
    if (n < 0) {
        mem_free(tmp);
        return -1;
    }
    if (len >= 1 && text[len - 1] == '=')
        n--;
    if (len >= 2 && text[len - 2] == '=')
        n--;
    buf_append(out, tmp, (size_t) n);
    mem_free(tmp);
    return 0;
}

/* ---- mechanism choice --------------------------------------------------- */

static int smtp_listed(const char *list, const char *word)
{
    struct argv *w = argv_split(list, ", \t");
    int found = 0;

    for (size_t i = 0; i < w->argc && !found; i++)
        found = strcasecmp(w->argv[i], word) == 0;
    argv_free(w);
    return found;
}

static int smtp_mech_allowed(const char *mech, const char *options)
{
    int plain =
        strcasecmp(mech, "PLAIN") == 0 || strcasecmp(mech, "LOGIN") == 0;

    if (plain && smtp_listed(options, "noplaintext"))
        return 0;
    if (strcasecmp(mech, "ANONYMOUS") == 0
        && smtp_listed(options, "noanonymous"))
        return 0;
    if ((plain || strcasecmp(mech, "CRAM-MD5") == 0)
        && smtp_listed(options, "nodictionary"))
        return 0;
    if (strcasecmp(mech, "SCRAM-SHA-256") != 0
        && smtp_listed(options, "mutual_auth"))
        return 0;
    return strcasecmp(mech, "PLAIN") == 0 || strcasecmp(mech, "LOGIN") == 0
           || strcasecmp(mech, "CRAM-MD5") == 0
           || strcasecmp(mech, "SCRAM-SHA-256") == 0;
}

const char *smtp_sasl_choose(const char *offered, const char *filter,
                             const char *options)
{
    static const char *const ours[] = {"SCRAM-SHA-256", "CRAM-MD5", "PLAIN",
                                       "LOGIN"};
    static char chosen[32];
    struct argv *order = argv_split(filter && *filter ? filter
                                                      : "SCRAM-SHA-256 "
                                                        "CRAM-MD5 PLAIN LOGIN",
                                    ", \t");
    const char *ret = NULL;

    for (size_t i = 0; i < order->argc && ret == NULL; i++) {
        const char *m = order->argv[i];

        if (!smtp_listed(offered, m) || !smtp_mech_allowed(m, options))
            continue;
        for (size_t k = 0; k < sizeof(ours) / sizeof(ours[0]); k++)
            if (strcasecmp(ours[k], m) == 0) {
                snprintf(chosen, sizeof(chosen), "%s", ours[k]);
                ret = chosen;
            }
    }
    argv_free(order);
    return ret;
}

/* ---- mechanisms --------------------------------------------------------- */

void smtp_sasl_cram_md5(struct buf *resp, const char *user,
                        const char *password, const char *challenge, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    HMAC(EVP_md5(), password, (int) strlen(password),
         (const unsigned char *) challenge, len, md, &n);
    buf_setf(resp, "%s ", user);
    for (unsigned i = 0; i < n; i++)
        buf_printf(resp, "%02x", md[i]);
    OPENSSL_cleanse(md, sizeof(md));
}

/* SCRAM's name escaping: "=" as "=3D", "," as "=2C". */
static void smtp_scram_name(struct buf *out, const char *name)
{
    for (; *name; name++) {
        if (*name == '=')
            buf_puts(out, "=3D");
        else if (*name == ',')
            buf_puts(out, "=2C");
        else
            buf_putc(out, *name);
    }
}

/* The value of attribute NAME ("r", "s", "i", "v") in MSG, into OUT. */
static int smtp_scram_attr(const char *msg, int name, struct buf *out)
{
    const char *p = msg;

    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t) (end - p) : strlen(p);

        if (len >= 2 && p[0] == name && p[1] == '=') {
            buf_reset(out);
            buf_append(out, p + 2, len - 2);
            return 0;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return -1;
}

struct smtp_scram {
    struct buf *first_bare; /* client-first-message-bare */
    struct buf *nonce;
    unsigned char server_sig[EVP_MAX_MD_SIZE];
    unsigned sig_len;
};

/* The client-final message for the server-first SERVER into OUT. */
static int smtp_scram_final(struct smtp_scram *sc, const char *password,
                            const char *server, struct buf *out)
{
    const EVP_MD *md = EVP_sha256();
    struct buf *r = buf_new(64), *s = buf_new(64), *i = buf_new(16);
    struct buf *salt = buf_new(64), *authmsg = buf_new(256);
    struct buf *b64 = buf_new(128);
    unsigned char salted[EVP_MAX_MD_SIZE], ckey[EVP_MAX_MD_SIZE];
    unsigned char stored[EVP_MAX_MD_SIZE], csig[EVP_MAX_MD_SIZE];
    unsigned char skey[EVP_MAX_MD_SIZE], proof[EVP_MAX_MD_SIZE];
    unsigned dlen = (unsigned) EVP_MD_size(md), n;
    long iters;
    int ret = -1;

    if (smtp_scram_attr(server, 'r', r) < 0
        || smtp_scram_attr(server, 's', s) < 0
        || smtp_scram_attr(server, 'i', i) < 0
        || buf_len(r) <= buf_len(sc->nonce)
        || strncmp(buf_str(r), buf_str(sc->nonce), buf_len(sc->nonce)) != 0
        || smtp_b64_decode(salt, buf_str(s)) < 0 || buf_len(salt) == 0)
        goto out;
    iters = strtol(buf_str(i), NULL, 10);
    if (iters < 1 || iters > 1000000)
        goto out;
    if (!PKCS5_PBKDF2_HMAC(password, (int) strlen(password),
                           (const unsigned char *) buf_str(salt),
                           (int) buf_len(salt), (int) iters, md, (int) dlen,
                           salted))
        goto out;
    HMAC(md, salted, (int) dlen, (const unsigned char *) "Client Key", 10, ckey,
         &n);
    EVP_Digest(ckey, dlen, stored, &n, md, NULL);
    buf_setf(out, "c=biws,r=%s", buf_str(r));
    buf_setf(authmsg, "%s,%s,%s", buf_str(sc->first_bare), server,
             buf_str(out));
    HMAC(md, stored, (int) dlen, (const unsigned char *) buf_str(authmsg),
         buf_len(authmsg), csig, &n);
    for (unsigned k = 0; k < dlen; k++)
        proof[k] = ckey[k] ^ csig[k];
    smtp_b64_encode(b64, proof, dlen);
    buf_printf(out, ",p=%s", buf_str(b64));
    HMAC(md, salted, (int) dlen, (const unsigned char *) "Server Key", 10, skey,
         &n);
    HMAC(md, skey, (int) dlen, (const unsigned char *) buf_str(authmsg),
         buf_len(authmsg), sc->server_sig, &sc->sig_len);
    ret = 0;
out:
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(ckey, sizeof(ckey));
    OPENSSL_cleanse(skey, sizeof(skey));
    buf_free(r);
    buf_free(s);
    buf_free(i);
    buf_free(salt);
    buf_free(authmsg);
    buf_free(b64);
    return ret;
}

/* ---- the exchange ------------------------------------------------------- */

static int smtp_sasl_send(struct smtp_session *ss, const char *line,
                          struct smtp_reply *r)
{
    if (stream_printf(ss->s, "%s\r\n", line) < 0)
        return -1;
    stream_set_timeout(ss->s, (int) var_smtp_helo_timeout);
    return smtp_reply_read(ss->s, r);
}

int smtp_sasl_login(struct smtp_session *ss, const char *sender,
                    const char *nexthop, struct buf *err, char *dsn)
{
    struct auth_reply ar;
    struct smtp_reply r;
    struct buf *line = buf_new(256), *data = buf_new(256), *b64 = buf_new(256);
    struct smtp_scram sc;
    const char *options, *mech;
    int ret = SMTP_SASL_OK, step, scram_verified;
    enum auth_status st;

    memset(&sc, 0, sizeof(sc));
    sc.first_bare = buf_new(64);
    sc.nonce = buf_new(32);
    auth_reply_init(&ar);
    smtp_reply_init(&r);
    strcpy(dsn, "4.7.0");
    if (smtp_auth == NULL)
        smtp_auth =
            auth_client_create(var_smtp_sasl_path, (int) var_auth_ipc_timeout);
    st = auth_client_creds(smtp_auth, sender, buf_str(ss->host), nexthop, &ar);
    if (st == AUTH_NONE)
        goto out; /* no credentials: deliver without AUTH */
    if (st != AUTH_OK) {
        buf_setf(err,
                 "SASL authentication failed; cannot authenticate to "
                 "server %s: %s",
                 buf_str(ss->peer),
                 buf_len(ar.reason) ? buf_str(ar.reason)
                                    : "credentials service unavailable");
        ret = SMTP_SASL_TEMP;
        goto out;
    }
    options = !ss->tls           ? var_smtp_sasl_security_options
              : ss->tls_verified ? var_smtp_sasl_tls_verified_security_options
                                 : var_smtp_sasl_tls_security_options;
    mech = smtp_sasl_choose(buf_str(ss->feat.auth_mechs),
                            var_smtp_sasl_mechanism_filter, options);
    if (mech == NULL) {
        buf_setf(err,
                 "SASL authentication failed; cannot authenticate to "
                 "server %s: no mechanism available",
                 buf_str(ss->peer));
        ret = SMTP_SASL_FAIL;
        goto out;
    }
    /* The first command, with an initial response where the mech has one. */
    if (strcmp(mech, "PLAIN") == 0) {
        buf_reset(data);
        buf_putc(data, 0);
        buf_puts(data, buf_str(ar.user));
        buf_putc(data, 0);
        buf_puts(data, buf_str(ar.data));
        smtp_b64_encode(b64, buf_str(data), buf_len(data));
        buf_setf(line, "AUTH PLAIN %s", buf_str(b64));
    } else if (strcmp(mech, "SCRAM-SHA-256") == 0) {
        unsigned char rnd[18];

        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            buf_set(err, "SASL authentication failed: no random numbers");
            ret = SMTP_SASL_TEMP;
            goto out;
        }
        smtp_b64_encode(sc.nonce, rnd, sizeof(rnd));
        buf_set(sc.first_bare, "n=");
        smtp_scram_name(sc.first_bare, buf_str(ar.user));
        buf_printf(sc.first_bare, ",r=%s", buf_str(sc.nonce));
        buf_setf(data, "n,,%s", buf_str(sc.first_bare));
        smtp_b64_encode(b64, buf_str(data), buf_len(data));
        buf_setf(line, "AUTH SCRAM-SHA-256 %s", buf_str(b64));
    } else {
        buf_setf(line, "AUTH %s", mech);
    }
    scram_verified = 0;
    for (step = 0; step < 5; step++) {
        if (smtp_sasl_send(ss, buf_str(line), &r) < 0) {
            buf_set(err, "lost connection");
            ret = SMTP_SASL_LOST;
            goto out;
        }
        OPENSSL_cleanse(buf_str(line), buf_len(line));
        if (r.code == 235) {
            /* SCRAM's "235" counts only after the server proved itself. */
            if (strcmp(mech, "SCRAM-SHA-256") == 0 && !scram_verified) {
                buf_setf(err,
                         "SASL authentication failed; server %s sent no "
                         "SCRAM server signature",
                         buf_str(ss->peer));
                ret = SMTP_SASL_FAIL;
                goto out;
            }
            ss->auth_done = 1;
            goto out;
        }
        if (r.code != 334 || r.lines->argc == 0)
            break;
        if (smtp_b64_decode(data, r.lines->argv[0]) < 0) {
            buf_set(line, "*"); /* cancel */
            continue;
        }
        if (strcmp(mech, "LOGIN") == 0) {
            const char *v = step == 0 ? buf_str(ar.user) : buf_str(ar.data);

            smtp_b64_encode(line, v, strlen(v));
        } else if (strcmp(mech, "CRAM-MD5") == 0) {
            smtp_sasl_cram_md5(b64, buf_str(ar.user), buf_str(ar.data),
                               buf_str(data), buf_len(data));
            smtp_b64_encode(line, buf_str(b64), buf_len(b64));
        } else if (strcmp(mech, "SCRAM-SHA-256") == 0 && step == 0) {
            if (smtp_scram_final(&sc, buf_str(ar.data), buf_str(data), b64)
                < 0) {
                buf_set(line, "*");
                continue;
            }
            smtp_b64_encode(line, buf_str(b64), buf_len(b64));
        } else if (strcmp(mech, "SCRAM-SHA-256") == 0 && step == 1) {
            /* the server's signature: check it before trusting "235" */
            struct buf *v = buf_new(64), *sig = buf_new(64);
            int good =
                smtp_scram_attr(buf_str(data), 'v', v) == 0
                && smtp_b64_decode(sig, buf_str(v)) == 0
                && buf_len(sig) == sc.sig_len
                && CRYPTO_memcmp(buf_str(sig), sc.server_sig, sc.sig_len) == 0;

            buf_free(v);
            buf_free(sig);
            if (!good) {
                buf_setf(err,
                         "SASL authentication failed; server %s gave a "
                         "wrong SCRAM server signature",
                         buf_str(ss->peer));
                (void) smtp_sasl_send(ss, "*", &r);
                ret = SMTP_SASL_FAIL;
                goto out;
            }
            scram_verified = 1;
            buf_reset(line);
        } else {
            buf_set(line, "*");
        }
    }
    if (r.code == 0 && r.lines->argc == 0) {
        buf_set(err, "lost connection");
        ret = SMTP_SASL_LOST;
        goto out;
    }
    buf_setf(err, "SASL authentication failed; server %s said: %s",
             buf_str(ss->peer), buf_str(r.text));
    snprintf(dsn, 16, "%s", r.dsn[0] ? r.dsn : "4.7.0");
    ret = SMTP_SASL_FAIL;
out:
    OPENSSL_cleanse(buf_str(data), buf_len(data));
    OPENSSL_cleanse(buf_str(b64), buf_len(b64));
    if (buf_len(ar.data))
        OPENSSL_cleanse(buf_str(ar.data), buf_len(ar.data));
    auth_reply_free(&ar);
    smtp_reply_free(&r);
    buf_free(line);
    buf_free(data);
    buf_free(b64);
    buf_free(sc.first_bare);
    buf_free(sc.nonce);
    return ret;
}
