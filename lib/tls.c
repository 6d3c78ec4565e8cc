/*
 * tls.c - the TLS layer on OpenSSL 3 (see tls.h), shared by smtpd (server
 * side: STARTTLS and wrapper mode) and the smtp client.
 *
 * A context (struct tls_ctx) is made once per process and side, before
 * chroot: it reads the certificate, key and CA files. Per connection a
 * handshake runs on the descriptor of a struct stream under one deadline
 * (poll here, the descriptor is non-blocking); on success the TLS I/O layer
 * is installed under the stream's buffers with stream_set_io, so the caller
 * goes on reading and writing the same stream.
 *
 * Errors: constructors return NULL and handshakes -1, with a message in
 * ERR; handshake failures are also logged as warnings in Postfix's shape
 * ("SSL_accept error from host[addr]: -1" and one "TLS library problem"
 * line per OpenSSL error). Nothing here is fatal. Key material is never
 * logged.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "mem.h"
#include "msg.h"
#include "str.h"
#include "stream.h"
#include "tls.h"

/* Separators of protocol and exclusion lists (Postfix's). */
#define TLS_LIST_SEP ", \t\r\n:"

/* Client sessions kept per context (one per cache key). */
#define TLS_CLIENT_CACHE_MAX 256

/* ---- protocol versions -------------------------------------------------- */

/* Known names, oldest first; bit i of a version mask is tls_protos[i]. */
static const struct {
    const char *name;
    int version; /* OpenSSL's *_VERSION, 0 for unsupported ones */
} tls_protos[] = {
    {"SSLv2", 0},
    {"SSLv3", SSL3_VERSION},
    {"TLSv1", TLS1_VERSION},
    {"TLSv1.1", TLS1_1_VERSION},
    {"TLSv1.2", TLS1_2_VERSION},
    {"TLSv1.3", TLS1_3_VERSION},
};

#define TLS_NPROTOS   ((int) (sizeof(tls_protos) / sizeof(tls_protos[0])))
#define TLS_PROTO_ALL ((1u << TLS_NPROTOS) - 1)

static int proto_index(const char *name)
{
    int i;

    for (i = 0; i < TLS_NPROTOS; i++)
        if (strcasecmp(name, tls_protos[i].name) == 0)
            return i;
    return -1;
}

/*
 * Postfix semantics: names listed plainly form the set of allowed versions
 * (all when none is), "!name" removes one, ">=name" and "<=name" bound the
 * range. Result: a mask of allowed versions, or -1 with ERR.
 */
static int parse_protocols(const char *spec, unsigned *mask, struct buf *err)
{
    unsigned include = 0;
    unsigned exclude = 0;
    int lo = 0;
    int hi = TLS_NPROTOS - 1;
    char *copy;
    char *cp;
    char *tok;
    int ret = 0;

    if (spec == NULL)
        spec = "";
    copy = mem_strdup(spec);
    cp = copy;
    while ((tok = str_token(&cp, TLS_LIST_SEP)) != NULL) {
        const char *name = tok;
        int op = 0;
        int idx;

        if (tok[0] == '!') {
            op = '!';
            name = tok + 1;
        } else if (strncmp(tok, ">=", 2) == 0) {
            op = '>';
            name = tok + 2;
        } else if (strncmp(tok, "<=", 2) == 0) {
            op = '<';
            name = tok + 2;
        }
        if ((idx = proto_index(name)) < 0) {
            buf_setf(
                err,
                "invalid TLS protocol \"%s\" in \"%s\" (known: SSLv2, "
                "SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3, with an optional "
                "!, >= or <= before the name)",
                tok, spec);
            ret = -1;
            break;
        }
        if (op == '!')
            exclude |= 1u << idx;
        else if (op == '>')
            lo = idx > lo ? idx : lo;
        else if (op == '<')
            hi = idx < hi ? idx : hi;
        else
            include |= 1u << idx;
    }
    mem_free(copy);
    if (ret < 0)
        return -1;
    if (include == 0)
        include = TLS_PROTO_ALL;
    *mask = include & ~exclude;
    *mask &= ((1u << (hi + 1)) - 1) & ~((1u << lo) - 1);
    /* SSLv2/SSLv3 are not offered by this build: drop them. */
    *mask &= ~3u;
    if (*mask == 0) {
        buf_setf(err,
                 "TLS protocol setting \"%s\" leaves no TLS version enabled",
                 spec);
        return -1;
    }
    return 0;
}

int tls_check_protocols(const char *protocols, struct buf *err)
{
    unsigned mask;

    return parse_protocols(protocols, &mask, err);
}

/* Set min/max version and punch holes for versions excluded in between. */
static int apply_protocols(SSL_CTX *ctx, const char *spec, struct buf *err)
{
    unsigned mask;
    int lo = -1;
    int hi = -1;
    int i;
    uint64_t no_ops[TLS_NPROTOS] = {0,
                                    0,
                                    SSL_OP_NO_TLSv1,
                                    SSL_OP_NO_TLSv1_1,
                                    SSL_OP_NO_TLSv1_2,
                                    SSL_OP_NO_TLSv1_3};

    if (spec == NULL || *spec == 0)
        return 0;
    if (parse_protocols(spec, &mask, err) < 0)
        return -1;
    for (i = 0; i < TLS_NPROTOS; i++) {
        if (mask & (1u << i)) {
            if (lo < 0)
                lo = i;
            hi = i;
        }
    }
    if (!SSL_CTX_set_min_proto_version(ctx, tls_protos[lo].version)
        || !SSL_CTX_set_max_proto_version(ctx, tls_protos[hi].version)) {
        buf_setf(err, "cannot set TLS protocol range for \"%s\"", spec);
        return -1;
    }
    for (i = lo + 1; i < hi; i++)
        if (!(mask & (1u << i)) && no_ops[i])
            SSL_CTX_set_options(ctx, no_ops[i]);
    return 0;
}

/* ---- cipher grades ------------------------------------------------------ */

/*
 * OpenSSL cipher strings per grade (TLS 1.2 and below; TLS 1.3 suites are
 * all strong and only the exclusion list touches them). Anonymous suites
 * are never offered: a peer would get no certificate to check at all.
 */
static const struct {
    const char *grade;
    const char *ciphers;
} tls_grades[] = {
    {"high", "HIGH:!aNULL:!eNULL:@STRENGTH"},
    {"medium", "HIGH:MEDIUM:!aNULL:!eNULL:@STRENGTH"},
    {"low", "HIGH:MEDIUM:LOW:!aNULL:!eNULL:@STRENGTH"},
    {"export", "HIGH:MEDIUM:LOW:EXPORT:!aNULL:!eNULL:@STRENGTH"},
    {"null", "eNULL:!aNULL:@SECLEVEL=0"},
};

static const char *grade_ciphers(const char *grade)
{
    size_t i;

    if (grade == NULL || *grade == 0)
        grade = "medium";
    for (i = 0; i < sizeof(tls_grades) / sizeof(tls_grades[0]); i++)
        if (strcasecmp(grade, tls_grades[i].grade) == 0)
            return tls_grades[i].ciphers;
    return NULL;
}

int tls_check_grade(const char *grade, struct buf *err)
{
    if (grade_ciphers(grade) == NULL) {
        buf_setf(err,
                 "invalid TLS cipher grade \"%s\" (use high, medium, low, "
                 "export or null)",
                 grade);
        return -1;
    }
    return 0;
}

/* The most recent OpenSSL error's reason text, or FALLBACK. */
static const char *ossl_reason(char *tmp, size_t len, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    const char *r;

    if (e == 0)
        return fallback;
    r = ERR_reason_error_string(e);
    if (r == NULL) {
        ERR_error_string_n(e, tmp, len);
        return tmp;
    }
    return r;
}

static int apply_ciphers(SSL_CTX *ctx, const char *grade, const char *exclude,
                         struct buf *err)
{
    const char *base = grade_ciphers(grade);
    struct buf *list;
    struct buf *suites;
    char *copy;
    char *cp;
    char *tok;
    char tmp[256];
    int ret = 0;
    static const char *tls13[] = {"TLS_AES_256_GCM_SHA384",
                                  "TLS_CHACHA20_POLY1305_SHA256",
                                  "TLS_AES_128_GCM_SHA256"};
    size_t i;

    if (base == NULL)
        return tls_check_grade(grade, err);
    list = buf_new(128);
    suites = buf_new(128);
    buf_puts(list, base);
    copy = mem_strdup(exclude ? exclude : "");
    cp = copy;
    while ((tok = str_token(&cp, TLS_LIST_SEP)) != NULL)
        buf_printf(list, ":!%s", tok + (*tok == '!'));
    for (i = 0; i < sizeof(tls13) / sizeof(tls13[0]); i++) {
        int excluded = 0;

        mem_free(copy);
        copy = mem_strdup(exclude ? exclude : "");
        cp = copy;
        while ((tok = str_token(&cp, TLS_LIST_SEP)) != NULL)
            if (strcasecmp(tok, tls13[i]) == 0)
                excluded = 1;
        if (!excluded)
            buf_printf(suites, "%s%s", buf_len(suites) ? ":" : "", tls13[i]);
    }
    mem_free(copy);
    ERR_clear_error();
    if (!SSL_CTX_set_cipher_list(ctx, buf_str(list))) {
        buf_setf(err, "invalid cipher list \"%s\" (grade %s): %s",
                 buf_str(list), grade && *grade ? grade : "medium",
                 ossl_reason(tmp, sizeof(tmp), "no cipher match"));
        ret = -1;
    } else if (!SSL_CTX_set_ciphersuites(ctx, buf_str(suites))) {
        buf_setf(err, "cannot set TLS 1.3 cipher suites \"%s\": %s",
                 buf_str(suites), ossl_reason(tmp, sizeof(tmp), "error"));
        ret = -1;
    } else if (buf_len(suites) == 0
               || (grade && strcasecmp(grade, "null") == 0)) {
        /* No TLS 1.3 suite left (or null ciphers wanted): stop at 1.2. */
        if (SSL_CTX_get_max_proto_version(ctx) == 0
            || SSL_CTX_get_max_proto_version(ctx) > TLS1_2_VERSION)
            SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    }
    ERR_clear_error();
    buf_free(list);
    buf_free(suites);
    return ret;
}

/* ---- certificates and keys ---------------------------------------------- */

/* One key with its certificate chain, as read from PEM files. */
struct tls_keycert {
    EVP_PKEY *key;
    X509 *cert;
    STACK_OF(X509) * chain;
    const char *key_file;
    const char *cert_file;
};

static void keycert_clear(struct tls_keycert *kc)
{
    EVP_PKEY_free(kc->key);
    X509_free(kc->cert);
    sk_X509_pop_free(kc->chain, X509_free);
    memset(kc, 0, sizeof(*kc));
}

/*
 * Read every PEM object of FILE in order and call FN for each private key
 * or certificate. Other objects are skipped; encrypted keys are refused.
 */
typedef int (*pem_fn)(void *arg, const char *file, EVP_PKEY *key, X509 *cert,
                      struct buf *err);

static int pem_read_file(const char *file, const char *what, pem_fn fn,
                         void *arg, struct buf *err)
{
    BIO *bio;
    int count = 0;
    int ret = 0;
    char tmp[256];

    ERR_clear_error();
    if ((bio = BIO_new_file(file, "r")) == NULL) {
        buf_setf(err, "cannot load %s %s: %s", what, file, strerror(errno));
        ERR_clear_error();
        return -1;
    }
    for (;;) {
        char *name = NULL;
        char *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        const unsigned char *p;
        EVP_PKEY *key = NULL;
        X509 *cert = NULL;

        if (!PEM_read_bio(bio, &name, &header, &data, &len)) {
            unsigned long e = ERR_peek_last_error();

            if (ERR_GET_REASON(e) == PEM_R_NO_START_LINE && count > 0) {
                ERR_clear_error();
                break;
            }
            buf_setf(err, "cannot load %s %s: %s", what, file,
                     count == 0 ? "no PEM data found"
                                : ossl_reason(tmp, sizeof(tmp), "bad PEM"));
            ret = -1;
            break;
        }
        p = data;
        if (strcmp(name, "CERTIFICATE") == 0
            || strcmp(name, "TRUSTED CERTIFICATE") == 0) {
            cert = strcmp(name, "CERTIFICATE") == 0
                       ? d2i_X509(NULL, &p, len)
                       : d2i_X509_AUX(NULL, &p, len);
            if (cert == NULL) {
                buf_setf(err, "cannot load %s %s: bad certificate: %s", what,
                         file, ossl_reason(tmp, sizeof(tmp), "parse error"));
                ret = -1;
            }
        } else if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0
                   || (header && strstr(header, "ENCRYPTED"))) {
            buf_setf(err,
                     "cannot load %s %s: the private key is encrypted "
                     "(a daemon cannot ask for a passphrase)",
                     what, file);
            ret = -1;
        } else if (str_has_suffix(name, "PRIVATE KEY")) {
            if ((key = d2i_AutoPrivateKey(NULL, &p, len)) == NULL) {
                buf_setf(err, "cannot load %s %s: bad private key: %s", what,
                         file, ossl_reason(tmp, sizeof(tmp), "parse error"));
                ret = -1;
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        if (data)
            OPENSSL_clear_free(data, (size_t) len);
        count++;
        if (ret == 0 && (key || cert))
            ret = fn(arg, file, key, cert, err);
        else {
            EVP_PKEY_free(key);
            X509_free(cert);
        }
        if (ret < 0)
            break;
    }
    BIO_free(bio);
    ERR_clear_error();
    return ret;
}

/* Install one key and its chain into CTX, checking that they match. */
static int keycert_install(SSL_CTX *ctx, struct tls_keycert *kc,
                           struct buf *err)
{
    char tmp[256];

    if (kc->key == NULL) {
        buf_setf(err, "no private key found for the certificate in %s",
                 kc->cert_file);
        return -1;
    }
    if (kc->cert == NULL) {
        buf_setf(err, "no certificate found after the private key in %s",
                 kc->key_file);
        return -1;
    }
    if (X509_check_private_key(kc->cert, kc->key) != 1) {
        ERR_clear_error();
        buf_setf(err,
                 "the private key in %s does not match the certificate in %s",
                 kc->key_file, kc->cert_file);
        return -1;
    }
    ERR_clear_error();
    if (!SSL_CTX_use_cert_and_key(ctx, kc->cert, kc->key, kc->chain, 1)) {
        buf_setf(err, "cannot use the certificate in %s: %s", kc->cert_file,
                 ossl_reason(tmp, sizeof(tmp), "error"));
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* chain_files: key, then its certificate, then the chain; repeat. */
struct chain_state {
    SSL_CTX *ctx;
    struct tls_keycert kc;
    int installed;
};

static int chain_item(void *arg, const char *file, EVP_PKEY *key, X509 *cert,
                      struct buf *err)
{
    struct chain_state *cs = arg;

    if (key) {
        if (cs->kc.key || cs->kc.cert) {
            if (keycert_install(cs->ctx, &cs->kc, err) < 0) {
                EVP_PKEY_free(key);
                return -1;
            }
            cs->installed++;
            keycert_clear(&cs->kc);
        }
        cs->kc.key = key;
        cs->kc.key_file = file;
        return 0;
    }
    if (cs->kc.key == NULL) {
        X509_free(cert);
        buf_setf(err,
                 "cannot load certificate chain file %s: a certificate comes "
                 "before its private key (chain files list the key first)",
                 file);
        return -1;
    }
    if (cs->kc.cert == NULL) {
        cs->kc.cert = cert;
        cs->kc.cert_file = file;
        return 0;
    }
    if (cs->kc.chain == NULL)
        cs->kc.chain = sk_X509_new_null();
    sk_X509_push(cs->kc.chain, cert);
    return 0;
}

static int load_chain_files(SSL_CTX *ctx, const char *files, struct buf *err)
{
    struct chain_state cs;
    char *copy = mem_strdup(files);
    char *cp = copy;
    char *tok;
    int ret = 0;

    memset(&cs, 0, sizeof(cs));
    cs.ctx = ctx;
    while (ret == 0 && (tok = str_token(&cp, STR_LIST_SEP)) != NULL)
        ret =
            pem_read_file(tok, "certificate chain file", chain_item, &cs, err);
    if (ret == 0) {
        if (cs.kc.key || cs.kc.cert) {
            ret = keycert_install(ctx, &cs.kc, err);
            cs.installed++;
        } else if (cs.installed == 0) {
            buf_setf(err, "no private key and certificate in chain files %s",
                     files);
            ret = -1;
        }
    }
    keycert_clear(&cs.kc);
    mem_free(copy);
    return ret;
}

/* cert_file: certificate, chain after it; key_file: the first key. */
static int cert_item(void *arg, const char *file, EVP_PKEY *key, X509 *cert,
                     struct buf *err)
{
    struct tls_keycert *kc = arg;

    (void) err;
    if (key) {
        if (kc->key == NULL) {
            kc->key = key;
            kc->key_file = file;
        } else {
            EVP_PKEY_free(key);
        }
        return 0;
    }
    if (kc->cert == NULL) {
        kc->cert = cert;
        kc->cert_file = file;
        return 0;
    }
    if (kc->chain == NULL)
        kc->chain = sk_X509_new_null();
    sk_X509_push(kc->chain, cert);
    return 0;
}

static int key_item(void *arg, const char *file, EVP_PKEY *key, X509 *cert,
                    struct buf *err)
{
    struct tls_keycert *kc = arg;

    (void) err;
    X509_free(cert);
    if (key && kc->key == NULL) {
        kc->key = key;
        kc->key_file = file;
    } else {
        EVP_PKEY_free(key);
    }
    return 0;
}

static int load_cert_key(SSL_CTX *ctx, const char *cert_file,
                         const char *key_file, struct buf *err)
{
    struct tls_keycert kc;
    int ret;

    memset(&kc, 0, sizeof(kc));
    if (key_file == NULL || *key_file == 0)
        key_file = cert_file;
    ret = pem_read_file(cert_file, "certificate", cert_item, &kc, err);
    if (ret == 0 && kc.cert == NULL) {
        buf_setf(err, "cannot load certificate %s: no certificate in it",
                 cert_file);
        ret = -1;
    }
    if (ret == 0 && strcmp(key_file, cert_file) != 0) {
        /* The key file wins over a key that came with the certificate. */
        EVP_PKEY_free(kc.key);
        kc.key = NULL;
        ret = pem_read_file(key_file, "private key", key_item, &kc, err);
    }
    if (ret == 0 && kc.key == NULL) {
        buf_setf(err, "cannot load private key %s: no private key in it",
                 key_file);
        ret = -1;
    }
    if (ret == 0) {
        kc.cert_file = cert_file;
        kc.key_file = key_file;
        ret = keycert_install(ctx, &kc, err);
    }
    keycert_clear(&kc);
    return ret;
}

/* ---- contexts ----------------------------------------------------------- */

struct tls_sess {
    char *key;
    SSL_SESSION *sess;
    struct tls_sess *next;
};

struct tls_ctx {
    SSL_CTX *ssl_ctx;
    int server;
    int loglevel;
    int ask_ccert;
    int has_ca;
    long cache_timeout;
    const EVP_MD *md;
    struct tls_sess *sessions; /* client: most recent first */
    int nsessions;
};

/* Per connection; SSL_get_app_data points here. */
struct tls_conn {
    SSL *ssl;
    struct tls_ctx *ctx;
    char *cache_key;
    int failed; /* a fatal error: no close_notify */
};

static void cache_store(struct tls_ctx *ctx, const char *key, SSL_SESSION *sess)
{
    struct tls_sess **pp;
    struct tls_sess *e;
    int n = 0;

    for (pp = &ctx->sessions; (e = *pp) != NULL; pp = &e->next) {
        if (strcmp(e->key, key) == 0) {
            *pp = e->next;
            SSL_SESSION_free(e->sess);
            mem_free(e->key);
            mem_free(e);
            ctx->nsessions--;
            break;
        }
    }
    e = mem_calloc(1, sizeof(*e));
    e->key = mem_strdup(key);
    e->sess = sess;
    e->next = ctx->sessions;
    ctx->sessions = e;
    ctx->nsessions++;
    /* Trim the oldest entries. */
    for (pp = &ctx->sessions; (e = *pp) != NULL; pp = &e->next) {
        if (++n > TLS_CLIENT_CACHE_MAX) {
            *pp = NULL;
            while (e) {
                struct tls_sess *next = e->next;

                SSL_SESSION_free(e->sess);
                mem_free(e->key);
                mem_free(e);
                ctx->nsessions--;
                e = next;
            }
            break;
        }
    }
}

static SSL_SESSION *cache_find(struct tls_ctx *ctx, const char *key)
{
    struct tls_sess *e;

    for (e = ctx->sessions; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            time_t now = time(NULL);

            if (!SSL_SESSION_is_resumable(e->sess)
                || SSL_SESSION_get_time(e->sess)
                           + SSL_SESSION_get_timeout(e->sess)
                       < now)
                return NULL;
            return e->sess;
        }
    }
    return NULL;
}

/* Client: OpenSSL hands over each new session (TLS 1.3: each ticket). */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct tls_conn *conn = SSL_get_app_data(ssl);

    if (conn == NULL || conn->cache_key == NULL
        || !SSL_SESSION_is_resumable(sess))
        return 0;
    if (conn->ctx->cache_timeout > 0)
        SSL_SESSION_set_timeout(sess, conn->ctx->cache_timeout);
    cache_store(conn->ctx, conn->cache_key, sess);
    return 1; /* we keep the reference */
}

/* Verification decides nothing here; the caller reads the result. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
    (void) ok;
    (void) store;
    return 1;
}

static void info_cb(const SSL *ssl, int where, int ret)
{
    struct tls_conn *conn = SSL_get_app_data(ssl);
    const char *side =
        SSL_is_server((SSL *) ssl) ? "SSL_accept" : "SSL_connect";

    if (conn == NULL || conn->ctx->loglevel < 2)
        return;
    if (where & SSL_CB_LOOP)
        msg_info("%s:%s", side, SSL_state_string_long(ssl));
    else if (where & SSL_CB_ALERT)
        msg_info(
            "SSL3 alert %s:%s:%s", (where & SSL_CB_READ) ? "read" : "write",
            SSL_alert_type_string_long(ret), SSL_alert_desc_string_long(ret));
}

static struct tls_ctx *ctx_new(const struct tls_config *cfg, int server,
                               struct buf *err)
{
    struct tls_ctx *ctx;
    SSL_CTX *sc;
    const char *dgst;
    char tmp[256];
    int has_cert;

    ERR_clear_error();
    if ((sc = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()))
        == NULL) {
        buf_setf(err, "cannot create TLS context: %s",
                 ossl_reason(tmp, sizeof(tmp), "error"));
        ERR_clear_error();
        return NULL;
    }
    ctx = mem_calloc(1, sizeof(*ctx));
    ctx->ssl_ctx = sc;
    ctx->server = server;
    ctx->loglevel = cfg->loglevel;
    ctx->ask_ccert = cfg->ask_ccert;
    ctx->cache_timeout = cfg->session_cache_timeout;

    dgst = cfg->fingerprint_digest && *cfg->fingerprint_digest
               ? cfg->fingerprint_digest
               : "sha256";
    if ((ctx->md = EVP_get_digestbyname(dgst)) == NULL) {
        buf_setf(err,
                 "unknown fingerprint digest \"%s\" (use sha256, sha1 "
                 "or md5)",
                 dgst);
        goto bad;
    }
    SSL_CTX_set_options(sc, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                                | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE
                             | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (apply_protocols(sc, cfg->protocols, err) < 0)
        goto bad;
    if (apply_ciphers(sc, cfg->ciphers, cfg->exclude, err) < 0)
        goto bad;

    has_cert = (cfg->chain_files && *cfg->chain_files)
               || (cfg->cert_file && *cfg->cert_file);
    if (cfg->chain_files && *cfg->chain_files) {
        if (load_chain_files(sc, cfg->chain_files, err) < 0)
            goto bad;
    } else if (cfg->cert_file && *cfg->cert_file) {
        if (load_cert_key(sc, cfg->cert_file, cfg->key_file, err) < 0)
            goto bad;
    }
    if (server && !has_cert) {
        buf_set(err, "no server certificate configured (set the cert_file and "
                     "key_file, or chain_files, parameters)");
        goto bad;
    }

    if ((cfg->CAfile && *cfg->CAfile) || (cfg->CApath && *cfg->CApath)) {
        const char *file = cfg->CAfile && *cfg->CAfile ? cfg->CAfile : NULL;
        const char *path = cfg->CApath && *cfg->CApath ? cfg->CApath : NULL;

        if (!SSL_CTX_load_verify_locations(sc, file, path)) {
            buf_setf(err, "cannot load CA certificates from %s%s%s: %s",
                     file ? file : "", file && path ? " and " : "",
                     path ? path : "", ossl_reason(tmp, sizeof(tmp), "error"));
            goto bad;
        }
        ctx->has_ca = 1;
        if (server && file && cfg->ask_ccert) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(file);

            if (names)
                SSL_CTX_set_client_CA_list(sc, names);
        }
    }
    if (cfg->verify_depth > 0)
        SSL_CTX_set_verify_depth(sc, cfg->verify_depth);
    if (server)
        SSL_CTX_set_verify(sc,
                           cfg->ask_ccert ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                           cfg->ask_ccert ? verify_cb : NULL);
    else
        SSL_CTX_set_verify(sc, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_info_callback(sc, info_cb);

    if (server) {
        static const unsigned char sid_ctx[] = "postern";

        SSL_CTX_set_session_id_context(sc, sid_ctx, sizeof(sid_ctx) - 1);
        SSL_CTX_set_dh_auto(sc, 1);
        if (ctx->cache_timeout > 0) {
            SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_SERVER);
            SSL_CTX_set_timeout(sc, ctx->cache_timeout);
        } else {
            SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
            SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
            SSL_CTX_set_num_tickets(sc, 0);
        }
    } else {
        SSL_CTX_set_session_cache_mode(
            sc, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(sc, new_session_cb);
    }
    ERR_clear_error();
    return ctx;

bad:
    ERR_clear_error();
    tls_ctx_free(ctx);
    return NULL;
}

struct tls_ctx *tls_server_new(const struct tls_config *cfg, struct buf *err)
{
    return ctx_new(cfg, 1, err);
}

struct tls_ctx *tls_client_new(const struct tls_config *cfg, struct buf *err)
{
    return ctx_new(cfg, 0, err);
}

void tls_ctx_free(struct tls_ctx *ctx)
{
    struct tls_sess *e;

    if (ctx == NULL)
        return;
    while ((e = ctx->sessions) != NULL) {
        ctx->sessions = e->next;
        SSL_SESSION_free(e->sess);
        mem_free(e->key);
        mem_free(e);
    }
    SSL_CTX_free(ctx->ssl_ctx);
    mem_free(ctx);
}

/* ---- the stream I/O layer ----------------------------------------------- */

static void conn_free(struct tls_conn *conn)
{
    if (conn == NULL)
        return;
    if (conn->ssl) {
        SSL_set_app_data(conn->ssl, NULL);
        SSL_free(conn->ssl);
    }
    mem_free(conn->cache_key);
    mem_free(conn);
}

/* Log the OpenSSL error queue, one warning per entry, and clear it. */
static void log_error_queue(void)
{
    const char *file;
    const char *data;
    int line;
    int flags;
    unsigned long e;
    char tmp[256];

    while ((e = ERR_get_error_all(&file, &line, NULL, &data, &flags)) != 0) {
        struct buf *text = buf_new(64);

        /* The extra data may quote the peer (names, alerts): sanitise. */
        if ((flags & ERR_TXT_STRING) && data)
            str_printable(text, data, strlen(data));
        ERR_error_string_n(e, tmp, sizeof(tmp));
        msg_warn("TLS library problem: %s:%s:%d:%s", tmp, file ? file : "",
                 line, buf_str(text));
        buf_free(text);
    }
}

/* Turn an SSL_read/SSL_write result into the stream layer's codes. */
static ssize_t io_result(struct tls_conn *conn, int n, int writing)
{
    int saved = errno;
    int e = SSL_get_error(conn->ssl, n);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        return STREAM_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return STREAM_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        if (!writing)
            return 0; /* close_notify: end of input */
        errno = EPIPE;
        return STREAM_IO_ERR;
    case SSL_ERROR_SYSCALL:
        if (saved == EAGAIN || saved == EWOULDBLOCK) {
            ERR_clear_error(); /* wait under the stream's deadline */
            return writing ? STREAM_IO_WANT_WRITE : STREAM_IO_WANT_READ;
        }
        if (saved == EINTR) {
            ERR_clear_error();
            errno = EINTR; /* the stream calls again */
            return STREAM_IO_ERR;
        }
        conn->failed = 1;
        if (ERR_peek_error())
            log_error_queue();
        if (saved == 0 && !writing)
            return 0; /* the peer closed without close_notify */
        errno = saved ? saved : EPIPE;
        return STREAM_IO_ERR;
    default:
        conn->failed = 1;
        log_error_queue();
        return STREAM_IO_TLSERR;
    }
}

static ssize_t tls_io_read(void *vctx, int fd, void *data, size_t len)
{
    struct tls_conn *conn = vctx;
    int n;

    (void) fd;
    if (len > INT_MAX)
        len = INT_MAX;
    ERR_clear_error();
    errno = 0;
    n = SSL_read(conn->ssl, data, (int) len);
    if (n > 0)
        return n;
    return io_result(conn, n, 0);
}

static ssize_t tls_io_write(void *vctx, int fd, const void *data, size_t len)
{
    struct tls_conn *conn = vctx;
    int n;

    (void) fd;
    if (len == 0)
        return 0;
    if (len > INT_MAX)
        len = INT_MAX;
    ERR_clear_error();
    errno = 0;
    n = SSL_write(conn->ssl, data, (int) len);
    if (n > 0)
        return n;
    return io_result(conn, n, 1);
}

static size_t tls_io_pending(void *vctx)
{
    struct tls_conn *conn = vctx;
    int n = SSL_pending(conn->ssl);

    return n > 0 ? (size_t) n : 0;
}

/* Best effort close_notify (never waits), then free. */
static void tls_io_close(void *vctx)
{
    struct tls_conn *conn = vctx;

    if (!conn->failed) {
        ERR_clear_error();
        (void) SSL_shutdown(conn->ssl);
        ERR_clear_error();
    }
    conn_free(conn);
}

static const struct stream_io tls_io = {tls_io_read, tls_io_write,
                                        tls_io_pending, tls_io_close};

/* ---- handshakes --------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for FD under DEADLINE: 1 ready, 0 timed out, -1 poll error. */
static int wait_ready(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd;
        int64_t left = deadline - now_ms();
        int n;

        if (left <= 0)
            return 0;
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int) left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n > 0)
            return 1;
    }
}

static void fingerprint(const X509 *cert, const EVP_MD *md, char *out,
                        size_t outlen)
{
    unsigned char dg[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    size_t pos = 0;
    unsigned int i;

    out[0] = 0;
    if (!X509_digest(cert, md, dg, &len))
        return;
    for (i = 0; i < len && pos + 4 <= outlen; i++)
        pos += (size_t) snprintf(out + pos, outlen - pos, "%s%02X",
                                 i ? ":" : "", dg[i]);
}

static void pkey_fingerprint(X509 *cert, const EVP_MD *md, char *out,
                             size_t outlen)
{
    unsigned char dg[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    size_t pos = 0;
    unsigned int i;

    out[0] = 0;
    if (!X509_pubkey_digest(cert, md, dg, &len))
        return;
    for (i = 0; i < len && pos + 4 <= outlen; i++)
        pos += (size_t) snprintf(out + pos, outlen - pos, "%s%02X",
                                 i ? ":" : "", dg[i]);
}

/* A name's CN, made printable, into OUT. */
static void name_cn(const X509_NAME *name, char *out, size_t outlen)
{
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    X509_NAME_ENTRY *ent;
    const ASN1_STRING *str;
    const unsigned char *p;
    int len;
    int i;
    size_t pos = 0;

    out[0] = 0;
    if (idx < 0 || (ent = X509_NAME_get_entry(name, idx)) == NULL
        || (str = X509_NAME_ENTRY_get_data(ent)) == NULL)
        return;
    p = ASN1_STRING_get0_data(str);
    len = ASN1_STRING_length(str);
    for (i = 0; i < len && pos + 1 < outlen; i++)
        out[pos++] = (p[i] < 32 || p[i] > 126) ? '?' : (char) p[i];
    out[pos] = 0;
}

/* Compare "AB:CD:.." fingerprints, ignoring case. */
static int fingerprint_listed(const char *list, const char *fp1,
                              const char *fp2)
{
    char *copy;
    char *cp;
    char *tok;
    int found = 0;

    if (list == NULL || *list == 0)
        return 0;
    copy = mem_strdup(list);
    cp = copy;
    while (!found && (tok = str_token(&cp, ", \t\r\n|")) != NULL)
        if ((*fp1 && strcasecmp(tok, fp1) == 0)
            || (*fp2 && strcasecmp(tok, fp2) == 0))
            found = 1;
    mem_free(copy);
    return found;
}

/* Does CERT match one of NAMES ("a.example .example.com", space list)? */
static int names_match(X509 *cert, const char *names)
{
    char *copy = mem_strdup(names);
    char *cp = copy;
    char *tok;
    int found = 0;

    while (!found && (tok = str_token(&cp, STR_LIST_SEP)) != NULL)
        if (X509_check_host(cert, tok, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                            NULL)
            == 1)
            found = 1;
    mem_free(copy);
    ERR_clear_error();
    return found;
}

/* An EC group's name as Postfix 3.7 with OpenSSL 3 shows it: "prime256v1". */
static const char *curve_name(int nid)
{
    const char *sn = OBJ_nid2sn(nid);

    return sn ? sn : "unknown";
}

/*
 * The key exchange group and the server's signature (key type, size or
 * curve, digest), for the Received: header as Postfix writes it.
 */
static void fill_kex(SSL *ssl, int server, struct tls_info *info)
{
    int nid = SSL_get_negotiated_group(ssl);
    int type = NID_undef;
    int md = NID_undef;
    EVP_PKEY *key = NULL;
    X509 *peer = NULL;

    if (nid == NID_X25519 || nid == NID_X448)
        snprintf(info->kex, sizeof(info->kex), "%s", OBJ_nid2sn(nid));
    else if (nid == NID_ffdhe2048 || nid == NID_ffdhe3072
             || nid == NID_ffdhe4096 || nid == NID_ffdhe6144
             || nid == NID_ffdhe8192)
        snprintf(info->kex, sizeof(info->kex), "DHE (%s bits)",
                 OBJ_nid2sn(nid) + strlen("ffdhe"));
    else if (nid != NID_undef && nid != 0 && OBJ_nid2sn(nid))
        snprintf(info->kex, sizeof(info->kex), "ECDHE (%s)", curve_name(nid));
    if (server) {
        X509 *cert = SSL_get_certificate(ssl);

        key = cert ? X509_get0_pubkey(cert) : NULL;
        if (!SSL_get_signature_type_nid(ssl, &type))
            type = NID_undef;
        if (!SSL_get_signature_nid(ssl, &md))
            md = NID_undef;
    } else {
        peer = SSL_get1_peer_certificate(ssl);
        key = peer ? X509_get0_pubkey(peer) : NULL;
        if (!SSL_get_peer_signature_type_nid(ssl, &type))
            type = NID_undef;
        if (!SSL_get_peer_signature_nid(ssl, &md))
            md = NID_undef;
    }
    if (key) {
        int base = EVP_PKEY_get_base_id(key);
        char group[64];
        size_t glen = 0;

        if (base == EVP_PKEY_RSA || base == EVP_PKEY_RSA_PSS)
            snprintf(info->server_sig, sizeof(info->server_sig), "%s (%d bits)",
                     type == EVP_PKEY_RSA_PSS || base == EVP_PKEY_RSA_PSS
                         ? "RSA-PSS"
                         : "RSA",
                     EVP_PKEY_get_bits(key));
        else if (base == EVP_PKEY_EC
                 && EVP_PKEY_get_group_name(key, group, sizeof(group), &glen))
            snprintf(info->server_sig, sizeof(info->server_sig), "ECDSA (%s)",
                     curve_name(OBJ_sn2nid(group)));
        else if (base == EVP_PKEY_ED25519)
            snprintf(info->server_sig, sizeof(info->server_sig), "ED25519");
        else if (base == EVP_PKEY_ED448)
            snprintf(info->server_sig, sizeof(info->server_sig), "ED448");
    }
    if (md != NID_undef && md != 0 && OBJ_nid2sn(md))
        snprintf(info->server_digest, sizeof(info->server_digest), "%s",
                 OBJ_nid2sn(md));
    if (peer)
        X509_free(peer);
}

void tls_info_kex(struct buf *out, const struct tls_info *info)
{
    const char *sep = "";

    if (info->kex[0]) {
        buf_printf(out, "key-exchange %s", info->kex);
        sep = " ";
    }
    if (info->server_sig[0]) {
        buf_printf(out, "%sserver-signature %s", sep, info->server_sig);
        sep = " ";
    }
    if (info->server_digest[0])
        buf_printf(out, "%sserver-digest %s", sep, info->server_digest);
}

static void fill_info(struct tls_conn *conn, const char *match_names,
                      const char *servername, const char *fingerprints,
                      struct tls_info *info)
{
    SSL *ssl = conn->ssl;
    const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
    X509 *peer = SSL_get1_peer_certificate(ssl);
    long vr;

    memset(info, 0, sizeof(*info));
    snprintf(info->protocol, sizeof(info->protocol), "%s",
             SSL_get_version(ssl));
    if (cipher) {
        snprintf(info->cipher, sizeof(info->cipher), "%s",
                 SSL_CIPHER_get_name(cipher));
        info->cipher_bits = SSL_CIPHER_get_bits(cipher, &info->cipher_alg_bits);
    }
    info->reused = SSL_session_reused(ssl);
    fill_kex(ssl, conn->ctx->server, info);
    if (conn->ctx->server) {
        const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        size_t i;

        for (i = 0; sni && sni[i] && i + 1 < sizeof(info->servername); i++)
            info->servername[i] = (sni[i] < 33 || sni[i] > 126) ? '?' : sni[i];
    }
    vr = SSL_get_verify_result(ssl);
    info->verify_result = vr;
    if (peer == NULL)
        return;
    info->peer_has_cert = 1;
    name_cn(X509_get_subject_name(peer), info->peer_cn, sizeof(info->peer_cn));
    name_cn(X509_get_issuer_name(peer), info->peer_issuer_cn,
            sizeof(info->peer_issuer_cn));
    fingerprint(peer, conn->ctx->md, info->peer_fingerprint,
                sizeof(info->peer_fingerprint));
    pkey_fingerprint(peer, conn->ctx->md, info->peer_pkey_fingerprint,
                     sizeof(info->peer_pkey_fingerprint));
    info->peer_trusted = conn->ctx->has_ca && vr == X509_V_OK;
    if (!info->peer_trusted)
        snprintf(info->verify_error, sizeof(info->verify_error), "%s",
                 conn->ctx->has_ca ? X509_verify_cert_error_string(vr)
                                   : "no CA certificates configured");
    if (!conn->ctx->server) {
        const char *names =
            match_names && *match_names ? match_names : servername;

        if (names && *names) {
            info->peer_name_matched = names_match(peer, names);
            info->peer_verified = info->peer_trusted && info->peer_name_matched;
        }
    }
    info->peer_fingerprint_ok = fingerprint_listed(
        fingerprints, info->peer_fingerprint, info->peer_pkey_fingerprint);
    X509_free(peer);
}

void tls_info_summary(struct buf *out, const struct tls_info *info)
{
    buf_printf(out, "%s with cipher %s (%d/%d bits)", info->protocol,
               info->cipher, info->cipher_bits, info->cipher_alg_bits);
}

/* The "... TLS connection established ..." line (loglevel >= 1). */
static void log_established(struct tls_ctx *ctx, const char *peer,
                            const struct tls_info *info)
{
    struct buf *b = buf_new(200);
    const char *kind;

    if (ctx->server)
        kind = !info->peer_has_cert ? "Anonymous"
               : info->peer_trusted ? "Trusted"
                                    : "Untrusted";
    else
        kind = info->peer_verified || info->peer_fingerprint_ok ? "Verified"
               : info->peer_trusted                             ? "Trusted"
                                                                : "Untrusted";
    tls_info_summary(b, info);
    msg_info("%s TLS connection established %s %s: %s", kind,
             ctx->server ? "from" : "to", peer, buf_str(b));
    buf_free(b);
}

/*
 * A failed handshake: ERR gets the short reason ("timed out", "lost
 * connection", "no shared cipher"); the log gets Postfix's line,
 * "SSL_accept error from host[addr]: REASON" (info, as Postfix logs it).
 */
static int handshake_fail(struct tls_ctx *ctx, const char *peer,
                          struct buf *err, const char *why)
{
    buf_set(err, why);
    msg_info("%s error %s %s: %s", ctx->server ? "SSL_accept" : "SSL_connect",
             ctx->server ? "from" : "to", peer, why);
    return -1;
}

static int handshake(struct tls_ctx *ctx, struct stream *s, int timeout,
                     const char *peer, const char *servername,
                     const char *match_names, const char *fingerprints,
                     const char *cache_key, struct tls_info *info,
                     struct buf *err)
{
    const char *op = ctx->server ? "SSL_accept" : "SSL_connect";
    struct tls_conn *conn;
    int64_t deadline;
    int fd = stream_fd(s);
    char tmp[256];
    char why[512];

    if (peer == NULL)
        peer = "unknown";
    if (stream_unflushed(s) > 0 && stream_flush(s) < 0) {
        snprintf(why, sizeof(why),
                 "cannot flush output before the TLS handshake: %s",
                 stream_reason_text(s));
        return handshake_fail(ctx, peer, err, why);
    }
    if (stream_pending(s) > 0) {
        stream_set_error(s, STREAM_TLS, 0);
        return handshake_fail(ctx, peer, err,
                              "plaintext input is buffered before the TLS "
                              "handshake (discard it first)");
    }
    if (ctx->loglevel >= 2)
        msg_info("setting up TLS connection %s %s", ctx->server ? "from" : "to",
                 peer);

    ERR_clear_error();
    conn = mem_calloc(1, sizeof(*conn));
    conn->ctx = ctx;
    if ((conn->ssl = SSL_new(ctx->ssl_ctx)) == NULL
        || !SSL_set_fd(conn->ssl, fd)) {
        snprintf(why, sizeof(why), "cannot set up TLS: %s",
                 ossl_reason(tmp, sizeof(tmp), "error"));
        handshake_fail(ctx, peer, err, why);
        log_error_queue();
        conn_free(conn);
        stream_set_error(s, STREAM_TLS, 0);
        return -1;
    }
    SSL_set_app_data(conn->ssl, conn);
    if (!ctx->server) {
        struct in6_addr a6;
        struct in_addr a4;

        if (servername && *servername && *servername != '['
            && inet_pton(AF_INET, servername, &a4) != 1
            && inet_pton(AF_INET6, servername, &a6) != 1)
            SSL_set_tlsext_host_name(conn->ssl, servername);
        if (cache_key && *cache_key && ctx->cache_timeout > 0) {
            SSL_SESSION *sess;

            conn->cache_key = mem_strdup(cache_key);
            if ((sess = cache_find(ctx, cache_key)) != NULL)
                SSL_set_session(conn->ssl, sess);
        }
    }

    deadline = now_ms() + (timeout > 0 ? timeout : 300) * 1000L;
    for (;;) {
        int ret;
        int e;
        int saved;
        int w;
        const char *reason;

        ERR_clear_error();
        errno = 0;
        ret = ctx->server ? SSL_accept(conn->ssl) : SSL_connect(conn->ssl);
        if (ret == 1)
            break;
        saved = errno;
        e = SSL_get_error(conn->ssl, ret);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            w = wait_ready(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                           deadline);
            if (w > 0)
                continue;
            saved = w == 0 ? 0 : errno;
            reason = w == 0 ? "timed out" : strerror(saved);
            handshake_fail(ctx, peer, err, reason);
            stream_set_error(s, w == 0 ? STREAM_TIMEOUT : STREAM_IO, saved);
        } else {
            unsigned long first = ERR_peek_error();

            if (e == SSL_ERROR_ZERO_RETURN
                || (e == SSL_ERROR_SYSCALL && saved == 0 && first == 0)
                || (ERR_GET_LIB(first) == ERR_LIB_SSL
                    && ERR_GET_REASON(first)
                           == SSL_R_UNEXPECTED_EOF_WHILE_READING))
                reason = "lost connection";
            else if (e == SSL_ERROR_SYSCALL && first == 0)
                reason = strerror(saved);
            else
                reason = ossl_reason(tmp, sizeof(tmp), "TLS protocol error");
            buf_set(err, reason);
            /* Postfix's shape: the return code, then the error queue. */
            if (strcmp(reason, "lost connection") == 0)
                msg_info("%s error %s %s: %s", op, ctx->server ? "from" : "to",
                         peer, reason);
            else
                msg_info("%s error %s %s: %d", op, ctx->server ? "from" : "to",
                         peer, ret);
            log_error_queue();
            stream_set_error(
                s, e == SSL_ERROR_SYSCALL && saved ? STREAM_IO : STREAM_TLS,
                saved);
        }
        conn->failed = 1;
        conn_free(conn);
        return -1;
    }

    fill_info(conn, match_names, servername, fingerprints, info);
    if (ctx->loglevel >= 2 && info->peer_has_cert)
        msg_info("%s: %s subject_CN=%s, issuer_CN=%s, fingerprint=%s", peer,
                 ctx->server ? "client" : "server", info->peer_cn,
                 info->peer_issuer_cn, info->peer_fingerprint);
    if (ctx->loglevel >= 2 && info->peer_has_cert && !info->peer_trusted)
        msg_info("%s certificate verification failed for %s: %s",
                 ctx->server ? "client" : "server", peer, info->verify_error);
    if (ctx->loglevel >= 1)
        log_established(ctx, peer, info);
    if (stream_set_io(s, &tls_io, conn) < 0) {
        handshake_fail(ctx, peer, err, "cannot install the TLS layer");
        conn->failed = 1;
        conn_free(conn);
        stream_set_error(s, STREAM_TLS, 0);
        return -1;
    }
    return 0;
}

int tls_server_start(struct tls_ctx *ctx, struct stream *s, int timeout,
                     const char *peer, struct tls_info *info, struct buf *err)
{
    if (ctx == NULL) {
        buf_set(err, "TLS is not configured");
        return -1;
    }
    if (!ctx->server) {
        buf_set(err, "tls_server_start called with a client context");
        return -1;
    }
    return handshake(ctx, s, timeout, peer, NULL, NULL, NULL, NULL, info, err);
}

int tls_client_start(struct tls_ctx *ctx, struct stream *s, int timeout,
                     const char *peer, const char *servername,
                     const char *match_names, const char *fingerprints,
                     const char *cache_key, struct tls_info *info,
                     struct buf *err)
{
    if (ctx == NULL) {
        buf_set(err, "TLS is not configured");
        return -1;
    }
    if (ctx->server) {
        buf_set(err, "tls_client_start called with a server context");
        return -1;
    }
    return handshake(ctx, s, timeout, peer, servername, match_names,
                     fingerprints, cache_key, info, err);
}
