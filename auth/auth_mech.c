/*
 * auth_mech.c - the SASL mechanisms of the auth service, server side:
 * PLAIN (RFC 4616), LOGIN, ANONYMOUS (RFC 4505), CRAM-MD5 (RFC 2195),
 * DIGEST-MD5 (RFC 2831, qop=auth only), SCRAM-SHA-1 and SCRAM-SHA-256
 * (RFC 5802, RFC 7677; no channel binding).
 *
 * Callers: auth.c (one session per client connection), unit tests and
 * fuzz targets. A session runs one exchange at a time; every outcome is
 * a status and a reply (auth_impl.h). Reasons returned for FAIL are
 * fail2ban-safe words; the details (user name, what was wrong) go to the
 * LOG buffer for the service's own log line, never a secret.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth_impl.h"
#include "buf.h"
#include "mem.h"
#include "str.h"

/* Most bytes of a decoded client response we look at. */
#define AUTH_RESPONSE_MAX 8192

struct auth_session;
typedef enum auth_status (*mech_step_fn)(struct auth_session *as,
                                         const char *data, size_t len, int have,
                                         struct auth_reply *r, struct buf *log);

struct mech_info {
    const char *name;
    int props; /* the AUTH_SEC_* properties the mechanism satisfies */
    mech_step_fn step;
    const char *md; /* SCRAM digest */
};

struct auth_session {
    auth_lookup_fn lookup;
    void *ctx;
    char *realm;
    char *hostname;
    char *service;
    char *fixed_nonce;
    const struct mech_info *mech;
    int state;
    struct buf *user;      /* login name (LOGIN), identity */
    struct buf *challenge; /* CRAM-MD5 challenge, DIGEST/SCRAM nonce */
    struct buf *gs2;       /* SCRAM gs2 header */
    struct buf *authmsg;   /* SCRAM AuthMessage so far */
    struct buf *value;     /* the stored value */
    struct buf *err;
    struct auth_secret secret;
    struct auth_scram_keys keys; /* SCRAM keys in use */
    int unknown;                 /* SCRAM: user unknown, fail at the end */
    unsigned char server_sig[AUTH_SCRAM_MAX];
    unsigned dlen;
};

static enum auth_status mech_plain(struct auth_session *, const char *, size_t,
                                   int, struct auth_reply *, struct buf *);
static enum auth_status mech_login(struct auth_session *, const char *, size_t,
                                   int, struct auth_reply *, struct buf *);
static enum auth_status mech_anon(struct auth_session *, const char *, size_t,
                                  int, struct auth_reply *, struct buf *);
static enum auth_status mech_cram(struct auth_session *, const char *, size_t,
                                  int, struct auth_reply *, struct buf *);
static enum auth_status mech_digest(struct auth_session *, const char *, size_t,
                                    int, struct auth_reply *, struct buf *);
static enum auth_status mech_scram(struct auth_session *, const char *, size_t,
                                   int, struct auth_reply *, struct buf *);

#define SEC_NP AUTH_SEC_NOPLAINTEXT
#define SEC_NA AUTH_SEC_NOANONYMOUS

/* In the order offered: strongest first. */
static const struct mech_info mech_table[] = {
    {"SCRAM-SHA-256", SEC_NP | SEC_NA | AUTH_SEC_NOACTIVE | AUTH_SEC_MUTUAL,
     mech_scram, "SHA256"},
    {"SCRAM-SHA-1", SEC_NP | SEC_NA | AUTH_SEC_NOACTIVE | AUTH_SEC_MUTUAL,
     mech_scram, "SHA1"},
    {"DIGEST-MD5", SEC_NP | SEC_NA | AUTH_SEC_MUTUAL, mech_digest, NULL},
    {"CRAM-MD5", SEC_NP | SEC_NA, mech_cram, NULL},
    {"PLAIN", SEC_NA, mech_plain, NULL},
    {"LOGIN", SEC_NA, mech_login, NULL},
    {"ANONYMOUS", SEC_NP, mech_anon, NULL},
};
#define MECH_COUNT (sizeof(mech_table) / sizeof(mech_table[0]))

int auth_sec_parse(const char *options, struct buf *err)
{
    static const struct {
        const char *name;
        int bit;
    } words[] = {
        {"noplaintext", AUTH_SEC_NOPLAINTEXT},
        {"noanonymous", AUTH_SEC_NOANONYMOUS},
        {"noactive", AUTH_SEC_NOACTIVE},
        {"nodictionary", AUTH_SEC_NODICTIONARY},
        {"mutual_auth", AUTH_SEC_MUTUAL},
        {"forward_secrecy", 0x20},
    };
    char *copy = mem_strdup(options ? options : "");
    char *cp = copy, *word;
    int mask = 0;

    while ((word = str_token(&cp, ", \t\r\n")) != NULL) {
        size_t i;

        for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
            if (strcasecmp(word, words[i].name) == 0)
                break;
        if (i == sizeof(words) / sizeof(words[0])) {
            buf_setf(err, "unknown security option \"%.40s\"", word);
            mem_free(copy);
            return -1;
        }
        mask |= words[i].bit;
    }
    mem_free(copy);
    return mask;
}

static int mech_allowed(const struct mech_info *m, int sec)
{
    return (sec & ~m->props) == 0;
}

void auth_mech_list(struct buf *out, int sec)
{
    size_t i;

    buf_reset(out);
    for (i = 0; i < MECH_COUNT; i++) {
        if (!mech_allowed(&mech_table[i], sec))
            continue;
        if (buf_len(out))
            buf_putc(out, ' ');
        buf_puts(out, mech_table[i].name);
    }
}

/* ---- sessions ----------------------------------------------------------- */

struct auth_session *auth_session_create(auth_lookup_fn lookup, void *ctx,
                                         const char *realm,
                                         const char *hostname,
                                         const char *service)
{
    struct auth_session *as = mem_calloc(1, sizeof(*as));

    as->lookup = lookup;
    as->ctx = ctx;
    as->realm = mem_strdup(realm ? realm : "");
    as->hostname = mem_strdup(hostname ? hostname : "localhost");
    as->service = mem_strdup(service ? service : "smtp");
    as->user = buf_new(64);
    as->challenge = buf_new(64);
    as->gs2 = buf_new(64);
    as->authmsg = buf_new(256);
    as->value = buf_new(256);
    as->err = buf_new(64);
    as->keys.salt = buf_new(32);
    auth_secret_init(&as->secret);
    return as;
}

void auth_session_reset(struct auth_session *as)
{
    as->mech = NULL;
    as->state = 0;
    as->unknown = 0;
    buf_reset(as->user);
    buf_reset(as->challenge);
    buf_reset(as->gs2);
    buf_reset(as->authmsg);
    if (as->value->data)
        OPENSSL_cleanse(as->value->data, as->value->size);
    buf_reset(as->value);
    auth_secret_parse(&as->secret, "{PLAIN}", as->err);
    OPENSSL_cleanse(&as->keys.stored, sizeof(as->keys.stored));
    OPENSSL_cleanse(&as->keys.server, sizeof(as->keys.server));
    OPENSSL_cleanse(as->server_sig, sizeof(as->server_sig));
}

/* The realm for bare user names from now on (the client's setting). */
void auth_session_set_realm(struct auth_session *as, const char *realm)
{
    mem_free(as->realm);
    as->realm = mem_strdup(realm ? realm : "");
}

void auth_session_free(struct auth_session *as)
{
    if (as == NULL)
        return;
    auth_session_reset(as);
    auth_secret_free(&as->secret);
    buf_free(as->keys.salt);
    buf_free(as->user);
    buf_free(as->challenge);
    buf_free(as->gs2);
    buf_free(as->authmsg);
    buf_free(as->value);
    buf_free(as->err);
    mem_free(as->realm);
    mem_free(as->hostname);
    mem_free(as->service);
    mem_free(as->fixed_nonce);
    mem_free(as);
}

void auth_session_fix_nonce(struct auth_session *as, const char *nonce)
{
    mem_free(as->fixed_nonce);
    as->fixed_nonce = nonce ? mem_strdup(nonce) : NULL;
}

int auth_session_busy(const struct auth_session *as)
{
    return as->mech != NULL;
}

static enum auth_status say_fail(struct auth_session *as, struct auth_reply *r,
                                 const char *reason)
{
    auth_session_reset(as);
    buf_reset(r->data);
    buf_reset(r->user);
    buf_set(r->reason, reason);
    r->status = AUTH_FAIL;
    return AUTH_FAIL;
}

static enum auth_status say_temp(struct auth_session *as, struct auth_reply *r,
                                 const char *reason)
{
    say_fail(as, r, reason);
    r->status = AUTH_TEMP;
    return AUTH_TEMP;
}

static enum auth_status say_continue(struct auth_reply *r, const void *data,
                                     size_t len)
{
    auth_b64_encode(r->data, data, len);
    buf_reset(r->user);
    buf_reset(r->reason);
    r->status = AUTH_CONTINUE;
    return AUTH_CONTINUE;
}

static enum auth_status say_ok(struct auth_session *as, struct auth_reply *r,
                               const char *identity)
{
    buf_reset(r->data);
    buf_set(r->user, identity);
    buf_set(r->reason, as->mech->name);
    auth_session_reset(as);
    r->status = AUTH_OK;
    return AUTH_OK;
}

/* Append a printable, bounded form of TEXT to LOG. */
static void log_text(struct buf *log, const char *text, size_t len)
{
    str_printable(log, text, len > 100 ? 100 : len);
}

/*
 * The lookup key for login NAME: "user@realm" as given, else NAME plus
 * "@" and REALM (DEFREALM when REALM is NULL/empty), else NAME alone.
 */
static void user_key(struct auth_session *as, struct buf *key, const char *name,
                     const char *realm)
{
    buf_set(key, name);
    if (strchr(name, '@') != NULL)
        return;
    if (realm == NULL || *realm == 0)
        realm = as->realm;
    if (*realm)
        buf_printf(key, "@%s", realm);
}

/*
 * Look up KEY into as->secret: OK, FAIL (unknown user, "authentication
 * failure") or TEMP, with R and LOG filled for the latter two.
 */
static enum auth_status find_user(struct auth_session *as, const char *key,
                                  struct auth_reply *r, struct buf *log)
{
    enum lookup_status st;

    buf_reset(as->err);
    if (as->lookup == NULL) {
        buf_puts(log, "no auth_user_maps configured");
        return say_temp(as, r, "no user database configured");
    }
    st = as->lookup(as->ctx, key, as->value, as->err);
    if (st == LOOKUP_NOTFOUND) {
        buf_puts(log, "unknown user ");
        log_text(log, key, strlen(key));
        return say_fail(as, r, "authentication failure");
    }
    if (st != LOOKUP_FOUND) {
        buf_puts(log, "user lookup failed: ");
        buf_puts(log, buf_str(as->err));
        return say_temp(as, r, "user lookup failed");
    }
    if (auth_secret_parse(&as->secret, buf_str(as->value), as->err) < 0) {
        buf_puts(log, "user ");
        log_text(log, key, strlen(key));
        buf_printf(log, ": %s", buf_str(as->err));
        return say_temp(as, r, "bad stored value");
    }
    return AUTH_OK;
}

static enum auth_status cannot_serve(struct auth_session *as,
                                     struct auth_reply *r, struct buf *log,
                                     const char *key)
{
    buf_puts(log, "user ");
    log_text(log, key, strlen(key));
    buf_printf(log, ": the stored value cannot serve %s", as->mech->name);
    return say_fail(as, r, "stored value cannot serve this mechanism");
}

static enum auth_status check_password(struct auth_session *as,
                                       const char *name, const char *pw,
                                       size_t pwlen, struct auth_reply *r,
                                       struct buf *log)
{
    struct buf *key = buf_new(64);
    const char *at;
    enum auth_status st;
    int ok;

    user_key(as, key, name, NULL);
    if ((st = find_user(as, buf_str(key), r, log)) != AUTH_OK) {
        buf_free(key);
        return st;
    }
    /* DIGEST-MD5 hashes are made from the local part and the realm. */
    at = strrchr(buf_str(key), '@');
    if (at != NULL) {
        char *local = mem_strndup(buf_str(key), (size_t) (at - buf_str(key)));

        ok = auth_secret_check(&as->secret, local, at + 1, pw, pwlen);
        mem_free(local);
    } else {
        ok = auth_secret_check(&as->secret, buf_str(key), "", pw, pwlen);
    }
    if (ok < 0)
        st = cannot_serve(as, r, log, buf_str(key));
    else if (ok == 0) {
        buf_puts(log, "wrong password for ");
        log_text(log, buf_str(key), buf_len(key));
        st = say_fail(as, r, "authentication failure");
    } else
        st = say_ok(as, r, buf_str(key));
    buf_free(key);
    return st;
}

/* ---- PLAIN, LOGIN, ANONYMOUS ------------------------------------------- */

static enum auth_status mech_plain(struct auth_session *as, const char *data,
                                   size_t len, int have, struct auth_reply *r,
                                   struct buf *log)
{
    const char *authz, *authc, *pw, *end = data + len, *nul;
    struct buf *key;
    enum auth_status st;

    if (as->state == 0 && !have) {
        as->state = 1;
        return say_continue(r, "", 0);
    }
    authz = data;
    if ((nul = memchr(authz, 0, len)) == NULL)
        goto bad;
    authc = nul + 1;
    if ((nul = memchr(authc, 0, (size_t) (end - authc))) == NULL)
        goto bad;
    pw = nul + 1;
    if (memchr(pw, 0, (size_t) (end - pw)) != NULL || *authc == 0)
        goto bad;
    if (*authz) {
        /* authzid: empty, the login name, or the full identity. */
        key = buf_new(64);
        user_key(as, key, authc, NULL);
        if (strcmp(authz, authc) != 0 && strcmp(authz, buf_str(key)) != 0) {
            buf_puts(log, "authorization identity ");
            log_text(log, authz, strlen(authz));
            buf_puts(log, " differs from login ");
            log_text(log, authc, strlen(authc));
            buf_free(key);
            return say_fail(as, r, "authorization identity not allowed");
        }
        buf_free(key);
    }
    st = check_password(as, authc, pw, (size_t) (end - pw), r, log);
    return st;
bad:
    buf_puts(log, "malformed PLAIN response");
    return say_fail(as, r, "malformed response");
}

static enum auth_status mech_login(struct auth_session *as, const char *data,
                                   size_t len, int have, struct auth_reply *r,
                                   struct buf *log)
{
    switch (as->state) {
    case 0:
        if (!have) {
            as->state = 1;
            return say_continue(r, "Username:", 9);
        }
        /* the initial response is the user name */
        __attribute__((fallthrough));
    case 1:
        if (len == 0 || memchr(data, 0, len) != NULL) {
            buf_puts(log, "malformed LOGIN user name");
            return say_fail(as, r, "malformed response");
        }
        buf_reset(as->user);
        buf_append(as->user, data, len);
        as->state = 2;
        return say_continue(r, "Password:", 9);
    default: {
        struct buf *name = buf_new(64);
        enum auth_status st;

        buf_set(name, buf_str(as->user));
        st = check_password(as, buf_str(name), data, len, r, log);
        buf_free(name);
        return st;
    }
    }
}

static enum auth_status mech_anon(struct auth_session *as, const char *data,
                                  size_t len, int have, struct auth_reply *r,
                                  struct buf *log)
{
    if (as->state == 0 && !have) {
        as->state = 1;
        return say_continue(r, "", 0);
    }
    if (len > 255 || memchr(data, 0, len) != NULL) {
        buf_puts(log, "malformed ANONYMOUS trace");
        return say_fail(as, r, "malformed response");
    }
    buf_puts(log, "anonymous login, trace ");
    log_text(log, data, len);
    return say_ok(as, r, "anonymous");
}

/* ---- CRAM-MD5 ----------------------------------------------------------- */

static void make_nonce(struct auth_session *as, struct buf *out, size_t bytes)
{
    unsigned char rnd[32];

    if (as->fixed_nonce) {
        buf_set(out, as->fixed_nonce);
        return;
    }
    if (bytes > sizeof(rnd))
        bytes = sizeof(rnd);
    if (auth_random(rnd, bytes) < 0)
        memset(rnd, 0, sizeof(rnd)); /* made unusable below */
    auth_b64_encode(out, rnd, bytes);
}

static enum auth_status mech_cram(struct auth_session *as, const char *data,
                                  size_t len, int have, struct auth_reply *r,
                                  struct buf *log)
{
    const char *sp;
    struct buf *key;
    unsigned char mac[EVP_MAX_MD_SIZE];
    char want[33], got[33];
    unsigned n = 0;
    enum auth_status st;
    size_t i;

    if (as->state == 0) {
        if (have && len > 0) {
            buf_puts(log, "initial response to CRAM-MD5");
            return say_fail(as, r, "unexpected initial response");
        }
        if (as->fixed_nonce) {
            buf_set(as->challenge, as->fixed_nonce);
        } else {
            unsigned long long rnd;

            if (auth_random(&rnd, sizeof(rnd)) < 0)
                return say_temp(as, r, "no random numbers");
            buf_setf(as->challenge, "<%llu.%lld@%s>", rnd, (long long) time(0),
                     as->hostname);
        }
        as->state = 1;
        return say_continue(r, buf_str(as->challenge), buf_len(as->challenge));
    }
    /* "user digest": the digest is 32 hex digits after the last space. */
    if (len < 34 || memchr(data, 0, len) != NULL
        || (sp = data + len - 33, *sp != ' ')) {
        buf_puts(log, "malformed CRAM-MD5 response");
        return say_fail(as, r, "malformed response");
    }
    for (i = 0; i < 32; i++) {
        int ch = (unsigned char) sp[1 + i];

        if (ch >= 'A' && ch <= 'F')
            ch += 'a' - 'A';
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            buf_puts(log, "malformed CRAM-MD5 digest");
            return say_fail(as, r, "malformed response");
        }
        got[i] = (char) ch;
    }
    got[32] = 0;
    key = buf_new(64);
    buf_append(key, data, (size_t) (sp - data));
    {
        char *name = mem_strdup(buf_str(key));

        user_key(as, key, name, NULL);
        mem_free(name);
    }
    if ((st = find_user(as, buf_str(key), r, log)) != AUTH_OK) {
        buf_free(key);
        return st;
    }
    if (as->secret.have & AUTH_HAVE_CRAM) {
        auth_cram_hmac(as->secret.cram, buf_str(as->challenge),
                       buf_len(as->challenge), mac);
    } else if (as->secret.have & AUTH_HAVE_PLAIN) {
        auth_hmac("MD5", buf_str(as->secret.plain), buf_len(as->secret.plain),
                  buf_str(as->challenge), buf_len(as->challenge), mac, &n);
    } else {
        st = cannot_serve(as, r, log, buf_str(key));
        buf_free(key);
        return st;
    }
    for (i = 0; i < 16; i++)
        snprintf(want + 2 * i, 3, "%02x", mac[i]);
    OPENSSL_cleanse(mac, sizeof(mac));
    if (CRYPTO_memcmp(want, got, 32) != 0) {
        buf_puts(log, "wrong password for ");
        log_text(log, buf_str(key), buf_len(key));
        st = say_fail(as, r, "authentication failure");
    } else {
        st = say_ok(as, r, buf_str(key));
    }
    buf_free(key);
    return st;
}

/* ---- DIGEST-MD5 --------------------------------------------------------- */

int auth_digest_parse(const char *text, size_t len,
                      int (*fn)(void *ctx, const char *name, const char *value,
                                size_t vlen),
                      void *ctx)
{
    const char *p = text, *end = text + len;
    struct buf *name = buf_new(32), *value = buf_new(64);
    int ok = -1;

#define SKIP_LWS()                                                             \
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))   \
    p++
    for (;;) {
        SKIP_LWS();
        while (p < end && *p == ',') { /* empty list elements are allowed */
            p++;
            SKIP_LWS();
        }
        if (p >= end)
            break;
        buf_reset(name);
        buf_reset(value);
        while (p < end
               && (*p == '-' || *p == '_' || (*p >= 'a' && *p <= 'z')
                   || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            buf_putc(name, *p++);
        if (buf_len(name) == 0 || buf_len(name) > 64)
            goto out;
        SKIP_LWS();
        if (p >= end || *p++ != '=')
            goto out;
        SKIP_LWS();
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end)
                    goto out;
                if (*p == '"') {
                    p++;
                    break;
                }
                if (*p == '\\') {
                    if (++p >= end)
                        goto out;
                }
                if (*p == 0)
                    goto out;
                buf_putc(value, *p++);
            }
        } else {
            while (p < end && *p != ',' && *p != ' ' && *p != '\t' && *p != '"'
                   && *p != 0 && *p != '\r' && *p != '\n')
                buf_putc(value, *p++);
            if (buf_len(value) == 0)
                goto out;
        }
        if (buf_len(value) > 4096)
            goto out;
        if (fn(ctx, str_lower(buf_str(name)), buf_str(value), buf_len(value))
            < 0)
            goto out;
        SKIP_LWS();
        if (p < end && *p != ',')
            goto out;
    }
#undef SKIP_LWS
    ok = 0;
out:
    buf_free(name);
    buf_free(value);
    return ok;
}

static void md5_hex(const void *data, size_t len, char out[33])
{
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned n = 0, i;

    auth_hash("MD5", data, len, h, &n);
    for (i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

void auth_digest_compute(const unsigned char urp[16], const char *nonce,
                         const char *cnonce, const char *nc,
                         const char *authzid, const char *uri, int server,
                         char out[33])
{
    struct buf *b = buf_new(128);
    char ha1[33], ha2[33];

    buf_append(b, urp, 16);
    buf_printf(b, ":%s:%s", nonce, cnonce);
    if (authzid && *authzid)
        buf_printf(b, ":%s", authzid);
    md5_hex(buf_str(b), buf_len(b), ha1);
    buf_setf(b, "%s:%s", server ? "" : "AUTHENTICATE", uri);
    md5_hex(buf_str(b), buf_len(b), ha2);
    buf_setf(b, "%s:%s:%s:%s:auth:%s", ha1, nonce, nc, cnonce, ha2);
    md5_hex(buf_str(b), buf_len(b), out);
    OPENSSL_cleanse(b->data, b->size);
    buf_free(b);
}

struct digest_resp {
    char *field[10];
    int dup;
};

static const char *const digest_names[10] = {
    "username", "realm",      "nonce",    "cnonce",  "nc",
    "qop",      "digest-uri", "response", "authzid", "charset"};

static int digest_collect(void *ctx, const char *name, const char *value,
                          size_t vlen)
{
    struct digest_resp *dr = ctx;
    int i;

    if (strlen(value) != vlen)
        return -1;
    for (i = 0; i < 10; i++) {
        if (strcmp(name, digest_names[i]) == 0) {
            if (dr->field[i] != NULL) {
                dr->dup = 1;
                return -1;
            }
            dr->field[i] = mem_strdup(value);
            return 0;
        }
    }
    return 0; /* maxbuf, cipher ...: ignored */
}

enum {
    D_USER,
    D_REALM,
    D_NONCE,
    D_CNONCE,
    D_NC,
    D_QOP,
    D_URI,
    D_RESP,
    D_AUTHZ,
    D_CHARSET
};

static enum auth_status mech_digest(struct auth_session *as, const char *data,
                                    size_t len, int have, struct auth_reply *r,
                                    struct buf *log)
{
    struct digest_resp dr;
    struct buf *key, *ch;
    const char *realm, *bad = NULL;
    unsigned char urp[EVP_MAX_MD_SIZE];
    char want[33];
    unsigned n = 0;
    enum auth_status st;
    int i;

    if (as->state == 0) {
        if (have && len > 0) {
            buf_puts(log, "initial response to DIGEST-MD5");
            return say_fail(as, r, "unexpected initial response");
        }
        make_nonce(as, as->challenge, 24);
        ch = buf_new(128);
        buf_printf(ch,
                   "realm=\"%s\",nonce=\"%s\",qop=\"auth\",charset=utf-8,"
                   "algorithm=md5-sess",
                   *as->realm ? as->realm : as->hostname,
                   buf_str(as->challenge));
        as->state = 1;
        st = say_continue(r, buf_str(ch), buf_len(ch));
        buf_free(ch);
        return st;
    }
    if (as->state == 2)
        return say_ok(as, r, buf_str(as->user));
    memset(&dr, 0, sizeof(dr));
    if (len > AUTH_RESPONSE_MAX
        || auth_digest_parse(data, len, digest_collect, &dr) < 0)
        bad = dr.dup ? "repeated directive" : "syntax error";
    else if (!dr.field[D_USER] || !dr.field[D_NONCE] || !dr.field[D_CNONCE]
             || !dr.field[D_NC] || !dr.field[D_URI] || !dr.field[D_RESP])
        bad = "missing directive";
    else if (strcmp(dr.field[D_NONCE], buf_str(as->challenge)) != 0)
        bad = "wrong nonce";
    else if (strcmp(dr.field[D_NC], "00000001") != 0)
        bad = "wrong nonce count";
    else if (dr.field[D_QOP] && strcmp(dr.field[D_QOP], "auth") != 0)
        bad = "qop not supported";
    else if (strncasecmp(dr.field[D_URI], as->service, strlen(as->service)) != 0
             || dr.field[D_URI][strlen(as->service)] != '/')
        bad = "wrong digest-uri service";
    else if (strlen(dr.field[D_RESP]) != 32)
        bad = "malformed response value";
    if (bad) {
        buf_printf(log, "malformed DIGEST-MD5 response: %s", bad);
        st = say_fail(as, r, "malformed response");
        goto out;
    }
    realm = dr.field[D_REALM] ? dr.field[D_REALM] : "";
    key = buf_new(64);
    /*
     * Without smtpd_sasl_local_domain the challenge offers myhostname as
     * the realm; a user answering with it is the bare user name, as with
     * the other mechanisms.
     */
    user_key(as, key, dr.field[D_USER],
             *as->realm == 0 && strcmp(realm, as->hostname) == 0 ? "" : realm);
    if (dr.field[D_AUTHZ] && *dr.field[D_AUTHZ]
        && strcmp(dr.field[D_AUTHZ], dr.field[D_USER]) != 0
        && strcmp(dr.field[D_AUTHZ], buf_str(key)) != 0) {
        buf_puts(log, "authorization identity differs from login ");
        log_text(log, buf_str(key), buf_len(key));
        st = say_fail(as, r, "authorization identity not allowed");
        buf_free(key);
        goto out;
    }
    if ((st = find_user(as, buf_str(key), r, log)) != AUTH_OK) {
        buf_free(key);
        goto out;
    }
    if (as->secret.have & AUTH_HAVE_DIGEST) {
        memcpy(urp, as->secret.digest, 16);
    } else if (as->secret.have & AUTH_HAVE_PLAIN) {
        struct buf *a = buf_new(64);

        buf_printf(a, "%s:%s:", dr.field[D_USER], realm);
        buf_append(a, buf_str(as->secret.plain), buf_len(as->secret.plain));
        auth_hash("MD5", buf_str(a), buf_len(a), urp, &n);
        OPENSSL_cleanse(a->data, a->size);
        buf_free(a);
    } else {
        st = cannot_serve(as, r, log, buf_str(key));
        buf_free(key);
        goto out;
    }
    auth_digest_compute(urp, dr.field[D_NONCE], dr.field[D_CNONCE],
                        dr.field[D_NC], dr.field[D_AUTHZ], dr.field[D_URI], 0,
                        want);
    for (i = 0; i < 32; i++)
        if (dr.field[D_RESP][i] >= 'A' && dr.field[D_RESP][i] <= 'F')
            dr.field[D_RESP][i] += 'a' - 'A';
    if (CRYPTO_memcmp(want, dr.field[D_RESP], 32) != 0) {
        buf_puts(log, "wrong password for ");
        log_text(log, buf_str(key), buf_len(key));
        st = say_fail(as, r, "authentication failure");
    } else {
        auth_digest_compute(urp, dr.field[D_NONCE], dr.field[D_CNONCE],
                            dr.field[D_NC], dr.field[D_AUTHZ], dr.field[D_URI],
                            1, want);
        buf_set(as->user, buf_str(key));
        as->state = 2;
        ch = buf_new(64);
        buf_printf(ch, "rspauth=%s", want);
        st = say_continue(r, buf_str(ch), buf_len(ch));
        buf_free(ch);
    }
    OPENSSL_cleanse(urp, sizeof(urp));
    buf_free(key);
out:
    for (i = 0; i < 10; i++)
        mem_free(dr.field[i]);
    return st;
}

/* ---- SCRAM -------------------------------------------------------------- */

/* Decode a SCRAM saslname (",": "=2C", "=": "=3D") of LEN bytes. */
static int scram_name(struct buf *out, const char *p, size_t len)
{
    size_t i;

    buf_reset(out);
    for (i = 0; i < len; i++) {
        if (p[i] == 0 || p[i] == ',')
            return -1;
        if (p[i] == '=') {
            if (len - i >= 3 && p[i + 1] == '2' && p[i + 2] == 'C')
                buf_putc(out, ',');
            else if (len - i >= 3 && p[i + 1] == '3' && p[i + 2] == 'D')
                buf_putc(out, '=');
            else
                return -1;
            i += 2;
            continue;
        }
        buf_putc(out, p[i]);
    }
    return buf_len(out) > 0 ? 0 : -1;
}

/* The value of attribute "X=" at P (up to the next comma or END). */
static const char *scram_attr(const char *p, const char *end, int name,
                              size_t *vlen)
{
    const char *comma;

    if (end - p < 2 || p[0] != name || p[1] != '=')
        return NULL;
    comma = memchr(p + 2, ',', (size_t) (end - p - 2));
    *vlen = (size_t) ((comma ? comma : end) - (p + 2));
    return p + 2;
}

static enum auth_status scram_first(struct auth_session *as, const char *data,
                                    size_t len, struct auth_reply *r,
                                    struct buf *log)
{
    const char *end = data + len, *p = data, *bare, *v, *cnonce;
    size_t vlen, cnlen;
    struct buf *authz = buf_new(32), *name = buf_new(32), *key = buf_new(64);
    struct buf *b = buf_new(64);
    int want = strcmp(as->mech->md, "SHA256") == 0 ? AUTH_HAVE_SCRAM256
                                                   : AUTH_HAVE_SCRAM1;
    const char *bad = NULL;
    enum auth_status st = AUTH_OK;
    size_t i;

    if (memchr(data, 0, len) != NULL) {
        bad = "NUL byte";
        goto out;
    }
    /* gs2-header: ("n" / "y") "," [ "a=" saslname ] "," */
    if (p < end && *p == 'p') {
        buf_puts(log, "SCRAM channel binding requested");
        st = say_fail(as, r, "channel binding not supported");
        goto out;
    }
    if (end - p < 2 || (*p != 'n' && *p != 'y') || p[1] != ',') {
        bad = "bad gs2 header";
        goto out;
    }
    p += 2;
    if (p < end && *p != ',') {
        if ((v = scram_attr(p, end, 'a', &vlen)) == NULL
            || scram_name(authz, v, vlen) < 0) {
            bad = "bad authzid";
            goto out;
        }
        p = v + vlen;
    }
    if (p >= end || *p != ',') {
        bad = "bad gs2 header";
        goto out;
    }
    p++;
    buf_reset(as->gs2);
    buf_append(as->gs2, data, (size_t) (p - data));
    bare = p;
    if (p < end && *p == 'm') {
        bad = "mandatory extension";
        goto out;
    }
    if ((v = scram_attr(p, end, 'n', &vlen)) == NULL
        || scram_name(name, v, vlen) < 0) {
        bad = "bad user name";
        goto out;
    }
    p = v + vlen;
    if (p >= end || *p++ != ','
        || (cnonce = scram_attr(p, end, 'r', &cnlen)) == NULL || cnlen == 0) {
        bad = "bad nonce";
        goto out;
    }
    for (i = 0; i < cnlen; i++)
        if (cnonce[i] < 0x21 || cnonce[i] > 0x7e || cnonce[i] == ',') {
            bad = "bad nonce";
            goto out;
        }
    user_key(as, key, buf_str(name), NULL);
    if (buf_len(authz) && strcmp(buf_str(authz), buf_str(name)) != 0
        && strcmp(buf_str(authz), buf_str(key)) != 0) {
        buf_puts(log, "authorization identity differs from login ");
        log_text(log, buf_str(key), buf_len(key));
        st = say_fail(as, r, "authorization identity not allowed");
        goto out;
    }
    {
        const struct mech_info *mech = as->mech;

        buf_set(b, buf_str(as->gs2));
        st = find_user(as, buf_str(key), r, log);
        if (st == AUTH_FAIL) {
            /*
             * Unknown user (find_user ended the exchange): go on with
             * made-up keys so the client cannot tell, and fail at the end.
             */
            as->mech = mech;
            as->unknown = 1;
            buf_set(as->gs2, buf_str(b));
            buf_reset(log);
            st = AUTH_OK;
        }
        buf_set(as->user, buf_str(key));
    }
    if (st != AUTH_OK)
        goto out;
    if (!as->unknown && (as->secret.have & want)) {
        const struct auth_scram_keys *k = want == AUTH_HAVE_SCRAM256
                                              ? &as->secret.scram256
                                              : &as->secret.scram1;

        as->keys.iter = k->iter;
        buf_reset(as->keys.salt);
        buf_append(as->keys.salt, buf_str(k->salt), buf_len(k->salt));
        memcpy(as->keys.stored, k->stored, sizeof(k->stored));
        memcpy(as->keys.server, k->server, sizeof(k->server));
    } else if (!as->unknown && (as->secret.have & AUTH_HAVE_PLAIN)) {
        struct auth_secret tmp;

        auth_secret_init(&tmp);
        if (auth_scheme_make(b, as->mech->name, NULL, NULL,
                             buf_str(as->secret.plain), NULL, 0, 4096, as->err)
                < 0
            || auth_secret_parse(&tmp, buf_str(b), as->err) < 0) {
            auth_secret_free(&tmp);
            st = say_temp(as, r, "cannot derive keys");
            goto out;
        }
        OPENSSL_cleanse(b->data, b->size);
        {
            struct auth_scram_keys *k =
                want == AUTH_HAVE_SCRAM256 ? &tmp.scram256 : &tmp.scram1;

            as->keys.iter = k->iter;
            buf_reset(as->keys.salt);
            buf_append(as->keys.salt, buf_str(k->salt), buf_len(k->salt));
            memcpy(as->keys.stored, k->stored, sizeof(k->stored));
            memcpy(as->keys.server, k->server, sizeof(k->server));
        }
        auth_secret_free(&tmp);
    } else if (!as->unknown) {
        st = cannot_serve(as, r, log, buf_str(key));
        goto out;
    } else {
        unsigned char salt[16];

        auth_random(salt, sizeof(salt));
        as->keys.iter = 4096;
        buf_reset(as->keys.salt);
        buf_append(as->keys.salt, (char *) salt, sizeof(salt));
    }
    /* server-first-message */
    buf_reset(as->challenge);
    buf_append(as->challenge, cnonce, cnlen);
    make_nonce(as, b, 18);
    buf_puts(as->challenge, buf_str(b));
    buf_reset(as->authmsg);
    buf_append(as->authmsg, bare, len - (size_t) (bare - data));
    auth_b64_encode(b, buf_str(as->keys.salt), buf_len(as->keys.salt));
    buf_printf(as->authmsg, ",r=%s,s=%s,i=%d", buf_str(as->challenge),
               buf_str(b), as->keys.iter);
    buf_setf(b, "r=%s,s=", buf_str(as->challenge));
    {
        struct buf *s64 = buf_new(32);

        auth_b64_encode(s64, buf_str(as->keys.salt), buf_len(as->keys.salt));
        buf_printf(b, "%s,i=%d", buf_str(s64), as->keys.iter);
        buf_free(s64);
    }
    as->state = 2;
    st = say_continue(r, buf_str(b), buf_len(b));
out:
    if (bad) {
        buf_printf(log, "malformed SCRAM client-first message: %s", bad);
        st = say_fail(as, r, "malformed response");
    }
    buf_free(authz);
    buf_free(name);
    buf_free(key);
    buf_free(b);
    return st;
}

static enum auth_status scram_final(struct auth_session *as, const char *data,
                                    size_t len, struct auth_reply *r,
                                    struct buf *log)
{
    const char *end = data + len, *p = data, *v, *proof_at;
    size_t vlen;
    struct buf *b = buf_new(64), *proof = buf_new(64);
    const char *md = as->mech->md;
    unsigned char sig[EVP_MAX_MD_SIZE], ckey[EVP_MAX_MD_SIZE],
        h[EVP_MAX_MD_SIZE];
    unsigned n = 0, dlen = strcmp(md, "SHA256") == 0 ? 32 : 20, i;
    const char *bad = NULL;
    enum auth_status st;

    if (memchr(data, 0, len) != NULL) {
        bad = "NUL byte";
        goto out;
    }
    auth_b64_encode(b, buf_str(as->gs2), buf_len(as->gs2));
    if ((v = scram_attr(p, end, 'c', &vlen)) == NULL || vlen != buf_len(b)
        || memcmp(v, buf_str(b), vlen) != 0) {
        bad = "wrong channel binding data";
        goto out;
    }
    p = v + vlen;
    if (p >= end || *p++ != ',' || (v = scram_attr(p, end, 'r', &vlen)) == NULL
        || vlen != buf_len(as->challenge)
        || memcmp(v, buf_str(as->challenge), vlen) != 0) {
        bad = "wrong nonce";
        goto out;
    }
    /* The proof is the last attribute. */
    proof_at = NULL;
    for (p = data; p + 3 <= end; p++)
        if (memcmp(p, ",p=", 3) == 0)
            proof_at = p;
    if (proof_at == NULL
        || memchr(proof_at + 3, ',', (size_t) (end - proof_at - 3))
        || auth_b64_decode(proof, proof_at + 3, (size_t) (end - proof_at - 3))
               < 0
        || buf_len(proof) != dlen) {
        bad = "bad proof";
        goto out;
    }
    buf_putc(as->authmsg, ',');
    buf_append(as->authmsg, data, (size_t) (proof_at - data));
    if (as->unknown) {
        buf_puts(log, "unknown user ");
        log_text(log, buf_str(as->user), buf_len(as->user));
        st = say_fail(as, r, "authentication failure");
        goto done;
    }
    auth_hmac(md, as->keys.stored, dlen, buf_str(as->authmsg),
              buf_len(as->authmsg), sig, &n);
    for (i = 0; i < dlen; i++)
        ckey[i] = (unsigned char) buf_str(proof)[i] ^ sig[i];
    auth_hash(md, ckey, dlen, h, &n);
    if (CRYPTO_memcmp(h, as->keys.stored, dlen) != 0) {
        buf_puts(log, "wrong password for ");
        log_text(log, buf_str(as->user), buf_len(as->user));
        st = say_fail(as, r, "authentication failure");
        goto done;
    }
    auth_hmac(md, as->keys.server, dlen, buf_str(as->authmsg),
              buf_len(as->authmsg), as->server_sig, &n);
    auth_b64_encode(proof, as->server_sig, dlen);
    buf_setf(b, "v=%s", buf_str(proof));
    as->state = 3;
    st = say_continue(r, buf_str(b), buf_len(b));
done:
    OPENSSL_cleanse(ckey, sizeof(ckey));
    OPENSSL_cleanse(sig, sizeof(sig));
out:
    if (bad) {
        buf_printf(log, "malformed SCRAM client-final message: %s", bad);
        st = say_fail(as, r, "malformed response");
    }
    buf_free(b);
    buf_free(proof);
    return st;
}

static enum auth_status mech_scram(struct auth_session *as, const char *data,
                                   size_t len, int have, struct auth_reply *r,
                                   struct buf *log)
{
    switch (as->state) {
    case 0:
        if (!have) {
            as->state = 1;
            return say_continue(r, "", 0);
        }
        __attribute__((fallthrough));
    case 1:
        return scram_first(as, data, len, r, log);
    case 2:
        return scram_final(as, data, len, r, log);
    default: {
        struct buf *id = buf_new(64);
        enum auth_status st;

        buf_set(id, buf_str(as->user));
        st = say_ok(as, r, buf_str(id));
        buf_free(id);
        return st;
    }
    }
}

/* ---- the exchange ------------------------------------------------------- */

static enum auth_status run_step(struct auth_session *as, const char *text,
                                 int have, struct auth_reply *r,
                                 struct buf *log)
{
    struct buf *raw = buf_new(128);
    enum auth_status st;

    if (have && strcmp(text, "=") == 0) {
        /* RFC 4954: "=" is an empty initial response. */
    } else if (have && auth_b64_decode(raw, text, strlen(text)) < 0) {
        buf_printf(log, "%s: invalid base64 data", as->mech->name);
        buf_free(raw);
        return say_fail(as, r, "invalid base64 data");
    }
    if (buf_len(raw) > AUTH_RESPONSE_MAX) {
        buf_printf(log, "%s: response too long", as->mech->name);
        buf_free(raw);
        return say_fail(as, r, "response too long");
    }
    st = as->mech->step(as, buf_str(raw), buf_len(raw), have, r, log);
    OPENSSL_cleanse(raw->data, raw->size);
    buf_free(raw);
    return st;
}

enum auth_status auth_session_start(struct auth_session *as, const char *mech,
                                    const char *initial, int sec,
                                    struct auth_reply *r, struct buf *log)
{
    size_t i;

    buf_reset(log);
    auth_session_reset(as);
    for (i = 0; i < MECH_COUNT; i++)
        if (strcasecmp(mech, mech_table[i].name) == 0)
            break;
    if (i == MECH_COUNT || !mech_allowed(&mech_table[i], sec)) {
        buf_puts(log, "mechanism ");
        log_text(log, mech, strlen(mech));
        buf_puts(log, i == MECH_COUNT ? " unknown" : " not allowed");
        return say_fail(as, r, "mechanism not available");
    }
    as->mech = &mech_table[i];
    return run_step(as, initial ? initial : "", initial && *initial, r, log);
}

enum auth_status auth_session_step(struct auth_session *as,
                                   const char *response, struct auth_reply *r,
                                   struct buf *log)
{
    buf_reset(log);
    if (as->mech == NULL) {
        buf_puts(log, "step without an exchange in progress");
        return say_fail(as, r, "no exchange in progress");
    }
    if (strcmp(response, "*") == 0) {
        buf_printf(log, "%s: cancelled by the client", as->mech->name);
        return say_fail(as, r, AUTH_REASON_ABORTED);
    }
    return run_step(as, response, 1, r, log);
}
