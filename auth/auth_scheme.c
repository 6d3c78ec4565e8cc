/*
 * auth_scheme.c - stored password values ({SCHEME}data, auth_impl.h), the
 * digests and HMACs of the mechanisms, and random bytes.
 *
 * Callers: auth_mech.c, auth.c, postauth, the unit tests. Every digest,
 * HMAC, PBKDF2 and random number comes from OpenSSL's EVP interface;
 * secrets are compared with CRYPTO_memcmp. The one exception is the MD5
 * block function below: a {CRAM-MD5} value is an MD5 state in the middle
 * of a computation, and EVP offers no way to resume from one.
 */
#include <crypt.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth_impl.h"
#include "buf.h"
#include "mem.h"

/* ---- digests ------------------------------------------------------------ */

int auth_hash(const char *md, const void *data, size_t len, unsigned char *out,
              unsigned *out_len)
{
    const EVP_MD *type = EVP_get_digestbyname(md);

    if (type == NULL)
        return -1;
    return EVP_Digest(data, len, out, out_len, type, NULL) == 1 ? 0 : -1;
}

int auth_hmac(const char *md, const void *key, size_t key_len, const void *data,
              size_t len, unsigned char *out, unsigned *out_len)
{
    const EVP_MD *type = EVP_get_digestbyname(md);
    size_t n = 0;

    if (type == NULL)
        return -1;
    if (EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(type), NULL, key,
                  key_len, data, len, out, EVP_MAX_MD_SIZE, &n)
        == NULL)
        return -1;
    *out_len = (unsigned) n;
    return 0;
}

int auth_random(void *data, size_t len)
{
    return RAND_bytes(data, (int) len) == 1 ? 0 : -1;
}

void auth_hex(struct buf *out, const unsigned char *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    buf_reset(out);
    for (i = 0; i < len; i++) {
        buf_putc(out, hex[data[i] >> 4]);
        buf_putc(out, hex[data[i] & 15]);
    }
}

static int hex_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int hex_decode(const char *text, size_t len, unsigned char *out,
                      size_t want)
{
    size_t i;

    if (len != 2 * want)
        return -1;
    for (i = 0; i < want; i++) {
        int hi = hex_value((unsigned char) text[2 * i]);
        int lo = hex_value((unsigned char) text[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char) (hi << 4 | lo);
    }
    return 0;
}

/* ---- MD5 from a mid-computation state (CRAM-MD5 contexts) --------------- */

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a,
    0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
    0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
    0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8,
    0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
    0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
    0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const unsigned char md5_r[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_block(uint32_t st[4], const unsigned char *p)
{
    uint32_t m[16], a = st[0], b = st[1], c = st[2], d = st[3];
    int i;

    for (i = 0; i < 16; i++)
        m[i] = (uint32_t) p[4 * i] | (uint32_t) p[4 * i + 1] << 8
               | (uint32_t) p[4 * i + 2] << 16 | (uint32_t) p[4 * i + 3] << 24;
    for (i = 0; i < 64; i++) {
        uint32_t f, t;
        int g;

        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) % 16;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
        }
        t = d;
        d = c;
        c = b;
        f = a + f + md5_k[i] + m[g];
        b = b + (f << md5_r[i] | f >> (32 - md5_r[i]));
        a = t;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
}

static void md5_load(uint32_t st[4], const unsigned char *p)
{
    int i;

    for (i = 0; i < 4; i++)
        st[i] = (uint32_t) p[4 * i] | (uint32_t) p[4 * i + 1] << 8
                | (uint32_t) p[4 * i + 2] << 16 | (uint32_t) p[4 * i + 3] << 24;
}

static void md5_store(unsigned char *p, const uint32_t st[4])
{
    int i;

    for (i = 0; i < 4; i++) {
        p[4 * i] = st[i] & 255;
        p[4 * i + 1] = st[i] >> 8 & 255;
        p[4 * i + 2] = st[i] >> 16 & 255;
        p[4 * i + 3] = st[i] >> 24 & 255;
    }
}

/* Finish MD5 over DATA from state ST, which has consumed one 64-byte block. */
static void md5_finish_from(uint32_t st[4], const unsigned char *data,
                            size_t len, unsigned char out[16])
{
    unsigned char block[64];
    uint64_t bits = (uint64_t) (64 + len) * 8;
    size_t rest;
    int i;

    while (len >= 64) {
        md5_block(st, data);
        data += 64;
        len -= 64;
    }
    rest = len;
    memset(block, 0, sizeof(block));
    memcpy(block, data, rest);
    block[rest] = 0x80;
    if (rest >= 56) {
        md5_block(st, block);
        memset(block, 0, sizeof(block));
    }
    for (i = 0; i < 8; i++)
        block[56 + i] = (unsigned char) (bits >> (8 * i));
    md5_block(st, block);
    md5_store(out, st);
    OPENSSL_cleanse(block, sizeof(block));
}

void auth_cram_context(const char *password, size_t len, unsigned char ctx[32])
{
    static const uint32_t md5_init[4] = {0x67452301, 0xefcdab89, 0x98badcfe,
                                         0x10325476};
    unsigned char key[64], pad[64];
    uint32_t st[4];
    unsigned n = 0;
    int i;

    memset(key, 0, sizeof(key));
    if (len > 64) {
        auth_hash("MD5", password, len, key, &n);
    } else {
        memcpy(key, password, len);
    }
    for (i = 0; i < 64; i++)
        pad[i] = key[i] ^ 0x36;
    memcpy(st, md5_init, sizeof(st));
    md5_block(st, pad);
    md5_store(ctx, st);
    for (i = 0; i < 64; i++)
        pad[i] = key[i] ^ 0x5c;
    memcpy(st, md5_init, sizeof(st));
    md5_block(st, pad);
    md5_store(ctx + 16, st);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(pad, sizeof(pad));
}

void auth_cram_hmac(const unsigned char ctx[32], const void *data, size_t len,
                    unsigned char out[16])
{
    unsigned char inner[16];
    uint32_t st[4];

    md5_load(st, ctx);
    md5_finish_from(st, data, len, inner);
    md5_load(st, ctx + 16);
    md5_finish_from(st, inner, sizeof(inner), out);
}

/* ---- stored values ------------------------------------------------------ */

void auth_secret_init(struct auth_secret *s)
{
    memset(s, 0, sizeof(*s));
    s->plain = buf_new(32);
    s->crypt = buf_new(32);
    s->scram1.salt = buf_new(32);
    s->scram256.salt = buf_new(32);
}

static void wipe_buf(struct buf *b)
{
    if (b != NULL && b->data != NULL)
        OPENSSL_cleanse(b->data, b->size);
    if (b != NULL)
        buf_reset(b);
}

static void auth_secret_clear(struct auth_secret *s)
{
    wipe_buf(s->plain);
    wipe_buf(s->crypt);
    wipe_buf(s->scram1.salt);
    wipe_buf(s->scram256.salt);
    OPENSSL_cleanse(s->cram, sizeof(s->cram));
    OPENSSL_cleanse(s->digest, sizeof(s->digest));
    OPENSSL_cleanse(s->scram1.stored, sizeof(s->scram1.stored));
    OPENSSL_cleanse(s->scram1.server, sizeof(s->scram1.server));
    OPENSSL_cleanse(s->scram256.stored, sizeof(s->scram256.stored));
    OPENSSL_cleanse(s->scram256.server, sizeof(s->scram256.server));
    s->have = 0;
}

void auth_secret_free(struct auth_secret *s)
{
    auth_secret_clear(s);
    buf_free(s->plain);
    buf_free(s->crypt);
    buf_free(s->scram1.salt);
    buf_free(s->scram256.salt);
    s->plain = s->crypt = s->scram1.salt = s->scram256.salt = NULL;
}

/* "ITER,SALT,STORED,SERVER" with base64 fields; DLEN bytes per key. */
static int scram_parse(struct auth_scram_keys *k, const char *text, size_t len,
                       size_t dlen)
{
    struct buf *tmp = buf_new(64);
    const char *p = text, *end = text + len, *comma;
    const char *field[4];
    size_t flen[4];
    int i, ok = -1;
    long iter = 0;

    for (i = 0; i < 4; i++) {
        comma = i < 3 ? memchr(p, ',', (size_t) (end - p)) : end;
        if (comma == NULL)
            goto out;
        field[i] = p;
        flen[i] = (size_t) (comma - p);
        p = comma + 1;
    }
    if (flen[0] == 0 || flen[0] > 7)
        goto out;
    for (i = 0; i < (int) flen[0]; i++) {
        if (field[0][i] < '0' || field[0][i] > '9')
            goto out;
        iter = iter * 10 + (field[0][i] - '0');
    }
    if (iter < 1)
        goto out;
    k->iter = (int) iter;
    if (auth_b64_decode(k->salt, field[1], flen[1]) < 0
        || buf_len(k->salt) == 0)
        goto out;
    if (auth_b64_decode(tmp, field[2], flen[2]) < 0 || buf_len(tmp) != dlen)
        goto out;
    memcpy(k->stored, buf_str(tmp), dlen);
    if (auth_b64_decode(tmp, field[3], flen[3]) < 0 || buf_len(tmp) != dlen)
        goto out;
    memcpy(k->server, buf_str(tmp), dlen);
    ok = 0;
out:
    wipe_buf(tmp);
    buf_free(tmp);
    return ok;
}

int auth_secret_parse(struct auth_secret *s, const char *value, struct buf *err)
{
    const char *p = value;

    auth_secret_clear(s);
    if (*p != '{') {
        buf_set(s->plain, value);
        s->have = AUTH_HAVE_PLAIN;
        return 0;
    }
    while (*p) {
        const char *close = strchr(p, '}');
        const char *data, *end;
        size_t nlen;

        if (*p != '{' || close == NULL) {
            buf_set(err, "malformed stored value: want {SCHEME}data");
            return -1;
        }
        nlen = (size_t) (close - p - 1);
        data = close + 1;
#define IS(name) (nlen == sizeof(name) - 1 && strncmp(p + 1, name, nlen) == 0)
        if (IS("PLAIN") || IS("CLEARTEXT") || IS("CLEAR")) {
            buf_set(s->plain, data);
            s->have |= AUTH_HAVE_PLAIN;
            return 0;
        }
        end = strchr(data, ' ');
        if (end == NULL)
            end = data + strlen(data);
        if (IS("CRAM-MD5")) {
            if (hex_decode(data, (size_t) (end - data), s->cram, 32) < 0)
                goto bad;
            s->have |= AUTH_HAVE_CRAM;
        } else if (IS("DIGEST-MD5")) {
            if (hex_decode(data, (size_t) (end - data), s->digest, 16) < 0)
                goto bad;
            s->have |= AUTH_HAVE_DIGEST;
        } else if (IS("SCRAM-SHA-1")) {
            if (scram_parse(&s->scram1, data, (size_t) (end - data), 20) < 0)
                goto bad;
            s->have |= AUTH_HAVE_SCRAM1;
        } else if (IS("SCRAM-SHA-256")) {
            if (scram_parse(&s->scram256, data, (size_t) (end - data), 32) < 0)
                goto bad;
            s->have |= AUTH_HAVE_SCRAM256;
        } else if (IS("SHA512-CRYPT") || IS("BLF-CRYPT")) {
            if (end == data || data[0] != '$')
                goto bad;
            buf_reset(s->crypt);
            buf_append(s->crypt, data, (size_t) (end - data));
            s->have |= AUTH_HAVE_CRYPT;
        } else {
            buf_set(err, "unknown password scheme {");
            buf_append(err, p + 1, nlen > 20 ? 20 : nlen);
            buf_puts(err, "}");
            return -1;
        }
#undef IS
        p = *end == ' ' ? end + 1 : end;
        continue;
    bad:
        buf_set(err, "malformed stored value for scheme {");
        buf_append(err, p + 1, nlen);
        buf_puts(err, "}");
        return -1;
    }
    if (s->have == 0) {
        buf_set(err, "empty stored value");
        return -1;
    }
    return 0;
}

/* Derive StoredKey and ServerKey for PASSWORD with K's salt and count. */
static int scram_derive(const char *md, const char *password, size_t len,
                        const unsigned char *salt, size_t salt_len, int iter,
                        unsigned char *stored, unsigned char *server,
                        unsigned *dlen)
{
    const EVP_MD *type = EVP_get_digestbyname(md);
    unsigned char salted[EVP_MAX_MD_SIZE], ckey[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    int ok = -1;

    if (type == NULL)
        return -1;
    *dlen = (unsigned) EVP_MD_get_size(type);
    if (PKCS5_PBKDF2_HMAC(password, (int) len, salt, (int) salt_len, iter, type,
                          (int) *dlen, salted)
        != 1)
        goto out;
    if (auth_hmac(md, salted, *dlen, "Client Key", 10, ckey, &n) < 0)
        goto out;
    if (auth_hash(md, ckey, n, stored, &n) < 0)
        goto out;
    if (auth_hmac(md, salted, *dlen, "Server Key", 10, server, &n) < 0)
        goto out;
    ok = 0;
out:
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(ckey, sizeof(ckey));
    return ok;
}

static int scram_check(const char *md, const struct auth_scram_keys *k,
                       const char *password, size_t len)
{
    unsigned char stored[EVP_MAX_MD_SIZE], server[EVP_MAX_MD_SIZE];
    unsigned dlen;
    int same;

    if (scram_derive(md, password, len,
                     (const unsigned char *) buf_str(k->salt), buf_len(k->salt),
                     k->iter, stored, server, &dlen)
        < 0)
        return -1;
    same = CRYPTO_memcmp(stored, k->stored, dlen) == 0;
    OPENSSL_cleanse(stored, sizeof(stored));
    OPENSSL_cleanse(server, sizeof(server));
    return same;
}

int auth_secret_check(const struct auth_secret *s, const char *user,
                      const char *realm, const char *password, size_t len)
{
    /* The cheapest scheme the value holds decides. */
    if (s->have & AUTH_HAVE_PLAIN)
        return buf_len(s->plain) == len
               && CRYPTO_memcmp(buf_str(s->plain), password, len) == 0;
    if (s->have & AUTH_HAVE_CRAM) {
        unsigned char ctx[32];
        int same;

        auth_cram_context(password, len, ctx);
        same = CRYPTO_memcmp(ctx, s->cram, 32) == 0;
        OPENSSL_cleanse(ctx, sizeof(ctx));
        return same;
    }
    if ((s->have & AUTH_HAVE_DIGEST) && user != NULL && realm != NULL) {
        struct buf *a = buf_new(64);
        unsigned char h[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        int same;

        buf_printf(a, "%s:%s:", user, realm);
        buf_append(a, password, len);
        same = auth_hash("MD5", buf_str(a), buf_len(a), h, &n) == 0
               && CRYPTO_memcmp(h, s->digest, 16) == 0;
        wipe_buf(a);
        buf_free(a);
        return same;
    }
    if (s->have & AUTH_HAVE_CRYPT) {
        struct crypt_data *cd = mem_calloc(1, sizeof(*cd));
        struct buf *pw = buf_new(len + 1);
        const char *res;
        int same;

        buf_append(pw, password, len);
        if (strlen(buf_str(pw)) != len) {
            same = 0; /* a NUL in the password */
        } else {
            res = crypt_r(buf_str(pw), buf_str(s->crypt), cd);
            same = res != NULL && res[0] != '*'
                   && strlen(res) == buf_len(s->crypt)
                   && CRYPTO_memcmp(res, buf_str(s->crypt), strlen(res)) == 0;
        }
        OPENSSL_cleanse(cd, sizeof(*cd));
        mem_free(cd);
        wipe_buf(pw);
        buf_free(pw);
        return same;
    }
    if (s->have & AUTH_HAVE_SCRAM256)
        return scram_check("SHA256", &s->scram256, password, len);
    if (s->have & AUTH_HAVE_SCRAM1)
        return scram_check("SHA1", &s->scram1, password, len);
    return -1;
}

/* ---- making values ------------------------------------------------------ */

static int make_scram(struct buf *out, const char *md, const char *name,
                      const char *password, const void *salt, size_t salt_len,
                      int iter)
{
    unsigned char rsalt[16], stored[EVP_MAX_MD_SIZE], server[EVP_MAX_MD_SIZE];
    struct buf *b = buf_new(64);
    unsigned dlen;

    if (salt == NULL) {
        if (auth_random(rsalt, sizeof(rsalt)) < 0) {
            buf_free(b);
            return -1;
        }
        salt = rsalt;
        salt_len = sizeof(rsalt);
    }
    if (iter <= 0)
        iter = 4096;
    if (scram_derive(md, password, strlen(password), salt, salt_len, iter,
                     stored, server, &dlen)
        < 0) {
        buf_free(b);
        return -1;
    }
    buf_printf(out, "{%s}%d,", name, iter);
    auth_b64_encode(b, salt, salt_len);
    buf_printf(out, "%s,", buf_str(b));
    auth_b64_encode(b, stored, dlen);
    buf_printf(out, "%s,", buf_str(b));
    auth_b64_encode(b, server, dlen);
    buf_puts(out, buf_str(b));
    buf_free(b);
    return 0;
}

static int make_crypt(struct buf *out, const char *name, const char *prefix,
                      const char *password)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd = mem_calloc(1, sizeof(*cd));
    const char *res;
    int ok = -1;

    if (crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof(setting)) != NULL
        && (res = crypt_r(password, setting, cd)) != NULL && res[0] == '$') {
        buf_printf(out, "{%s}%s", name, res);
        ok = 0;
    }
    OPENSSL_cleanse(cd, sizeof(*cd));
    mem_free(cd);
    return ok;
}

int auth_scheme_make(struct buf *out, const char *scheme, const char *user,
                     const char *realm, const char *password, const void *salt,
                     size_t salt_len, int iter, struct buf *err)
{
    struct buf *h = buf_new(64);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    int ok = 0;

    buf_reset(out);
    if (strcmp(scheme, "PLAIN") == 0) {
        buf_printf(out, "{PLAIN}%s", password);
    } else if (strcmp(scheme, "CRAM-MD5") == 0) {
        unsigned char ctx[32];

        auth_cram_context(password, strlen(password), ctx);
        auth_hex(h, ctx, 32);
        buf_printf(out, "{CRAM-MD5}%s", buf_str(h));
    } else if (strcmp(scheme, "DIGEST-MD5") == 0) {
        buf_setf(h, "%s:%s:%s", user ? user : "", realm ? realm : "", password);
        auth_hash("MD5", buf_str(h), buf_len(h), d, &n);
        wipe_buf(h);
        auth_hex(h, d, 16);
        buf_printf(out, "{DIGEST-MD5}%s", buf_str(h));
    } else if (strcmp(scheme, "SCRAM-SHA-1") == 0) {
        ok = make_scram(out, "SHA1", scheme, password, salt, salt_len, iter);
    } else if (strcmp(scheme, "SCRAM-SHA-256") == 0) {
        ok = make_scram(out, "SHA256", scheme, password, salt, salt_len, iter);
    } else if (strcmp(scheme, "SHA512-CRYPT") == 0) {
        ok = make_crypt(out, scheme, "$6$", password);
    } else if (strcmp(scheme, "BLF-CRYPT") == 0) {
        ok = make_crypt(out, scheme, "$2y$", password);
    } else if (strcmp(scheme, "COMBINED") == 0) {
        static const char *const parts[] = {"SCRAM-SHA-256", "SCRAM-SHA-1",
                                            "CRAM-MD5", "DIGEST-MD5",
                                            "SHA512-CRYPT"};
        size_t i;

        for (i = 0; ok == 0 && i < sizeof(parts) / sizeof(parts[0]); i++) {
            ok = auth_scheme_make(h, parts[i], user, realm, password, salt,
                                  salt_len, iter, err);
            if (ok == 0)
                buf_printf(out, "%s%s", i ? " " : "", buf_str(h));
        }
    } else {
        buf_setf(err, "unknown password scheme \"%s\"", scheme);
        ok = -1;
    }
    if (ok < 0 && buf_len(err) == 0)
        buf_setf(err, "cannot make a %s value", scheme);
    buf_free(h);
    return ok;
}
