/*
 * test_auth_mech.c - unit tests for the auth service's mechanisms,
 * password schemes and base64 (auth/auth_mech.c, auth_scheme.c,
 * auth_base64.c), with the RFCs' test vectors: RFC 2195 (CRAM-MD5), RFC
 * 2831's example (DIGEST-MD5), RFC 5802 (SCRAM-SHA-1), RFC 7677
 * (SCRAM-SHA-256); PLAIN's authzid rules, LOGIN, every scheme, the
 * combined value, the security options, and users in a Cyrus sasldb2 file
 * read through the maps library.
 *
 * The auth files are compiled in here (they are not in libpostern).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <db.h>

#include "../../auth/auth_base64.c"
#include "../../auth/auth_mech.c"
#include "../../auth/auth_scheme.c"

#include "maps.h"
#include "params.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

/* ---- a user table for the sessions -------------------------------------- */

struct user_row {
    const char *key;
    const char *value;
};

static const struct user_row *users;
static size_t nusers;

static enum lookup_status table_lookup(void *ctx, const char *key,
                                       struct buf *value, struct buf *err)
{
    size_t i;

    (void) ctx;
    if (strcmp(key, "broken@example.org") == 0) {
        buf_set(err, "inline: simulated failure");
        return LOOKUP_ERR_TEMP;
    }
    for (i = 0; i < nusers; i++) {
        if (strcmp(users[i].key, key) == 0) {
            buf_set(value, users[i].value);
            return LOOKUP_FOUND;
        }
    }
    return LOOKUP_NOTFOUND;
}

static void b64(struct buf *out, const char *text, size_t len)
{
    auth_b64_encode(out, text, len);
}

/* Decode a challenge (base64) for comparison. */
static char *unb64(const struct buf *data)
{
    struct buf *out = buf_new(64);

    assert_int_equal(auth_b64_decode(out, buf_str(data), buf_len(data)), 0);
    return buf_steal(out);
}

static void expect(enum auth_status got, enum auth_status want,
                   const struct auth_reply *r, const struct buf *log)
{
    if (got != want) {
        print_error("got status %s (reason \"%s\", log \"%s\"), want %s\n",
                    auth_status_name(got), buf_str(r->reason), buf_str(log),
                    auth_status_name(want));
        fail();
    }
}

/* ---- base64 ----------------------------------------------------------------
 */

static void test_base64(void **state)
{
    static const struct {
        const char *plain, *coded;
    } good[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    static const char *const bad[] = {
        "Zg",   "Zg=",      "Z===", "Zm9v\n", " Zm9v", "Zh==",
        "Zm9=", "Zg==Zg==", "Z=g=", "Zm*v",   "====",
    };
    struct buf *out = buf_new(16);
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(good); i++) {
        auth_b64_encode(out, good[i].plain, strlen(good[i].plain));
        assert_string_equal(buf_str(out), good[i].coded);
        assert_int_equal(
            auth_b64_decode(out, good[i].coded, strlen(good[i].coded)), 0);
        assert_string_equal(buf_str(out), good[i].plain);
    }
    for (i = 0; i < NCASES(bad); i++) {
        if (auth_b64_decode(out, bad[i], strlen(bad[i])) != -1) {
            print_error("decode \"%s\": got success, want -1\n", bad[i]);
            fail();
        }
    }
    buf_free(out);
}

/* ---- CRAM-MD5 (RFC 2195) ------------------------------------------------ */

#define RFC2195_CHALLENGE "<1896.697170952@postoffice.reston.mci.net>"
#define RFC2195_RESPONSE  "tim b913a602c7eda7a495b4e6e7334d3890"

static void run_cram(const char *stored, enum auth_status want)
{
    const struct user_row rows[] = {{"tim", stored}};
    struct auth_session *as =
        auth_session_create(table_lookup, NULL, "", "host.example", "smtp");
    struct auth_reply r;
    struct buf *log = buf_new(64), *resp = buf_new(64);
    char *ch;

    users = rows;
    nusers = 1;
    auth_reply_init(&r);
    auth_session_fix_nonce(as, RFC2195_CHALLENGE);
    expect(auth_session_start(as, "CRAM-MD5", NULL, 0, &r, log), AUTH_CONTINUE,
           &r, log);
    ch = unb64(r.data);
    assert_string_equal(ch, RFC2195_CHALLENGE);
    free(ch);
    b64(resp, RFC2195_RESPONSE, strlen(RFC2195_RESPONSE));
    expect(auth_session_step(as, buf_str(resp), &r, log), want, &r, log);
    if (want == AUTH_OK) {
        assert_string_equal(buf_str(r.user), "tim");
        assert_string_equal(buf_str(r.reason), "CRAM-MD5");
    }
    auth_reply_free(&r);
    buf_free(log);
    buf_free(resp);
    auth_session_free(as);
}

static void test_cram_md5(void **state)
{
    struct buf *val = buf_new(64), *err = buf_new(64);
    unsigned char ctx[32], a[16], b[EVP_MAX_MD_SIZE];
    char data[200];
    unsigned n;
    size_t len;

    (void) state;
    run_cram("{PLAIN}tanstaaftanstaaf", AUTH_OK);
    run_cram("tanstaaftanstaaf", AUTH_OK); /* a clear value (sasldb) */
    assert_int_equal(auth_scheme_make(val, "CRAM-MD5", NULL, NULL,
                                      "tanstaaftanstaaf", NULL, 0, 0, err),
                     0);
    run_cram(buf_str(val), AUTH_OK);
    run_cram("{PLAIN}wrong", AUTH_FAIL);
    run_cram("{SHA512-CRYPT}$6$abc$def", AUTH_FAIL); /* cannot serve */

    /* The precomputed context gives HMAC-MD5 for every data length. */
    for (len = 0; len < sizeof(data); len += 7) {
        memset(data, 'x' + (int) (len % 3), len);
        auth_cram_context("a key", 5, ctx);
        auth_cram_hmac(ctx, data, len, a);
        assert_int_equal(auth_hmac("MD5", "a key", 5, data, len, b, &n), 0);
        assert_memory_equal(a, b, 16);
    }
    buf_free(val);
    buf_free(err);
}

/* ---- DIGEST-MD5 (RFC 2831 section 4) --------------------------------- */

#define RFC2831_RESPONSE                                                       \
    "charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\","          \
    "nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\","          \
    "digest-uri=\"imap/elwood.innosoft.com\","                                 \
    "response=d388dad90d4bbd760a152321f2143af7,qop=auth"

static void run_digest(const char *stored, const char *response,
                       enum auth_status want)
{
    const struct user_row rows[] = {{"chris@elwood.innosoft.com", stored}};
    struct auth_session *as = auth_session_create(
        table_lookup, NULL, "elwood.innosoft.com", "elwood", "imap");
    struct auth_reply r;
    struct buf *log = buf_new(64), *resp = buf_new(64);
    char *ch;

    users = rows;
    nusers = 1;
    auth_reply_init(&r);
    auth_session_fix_nonce(as, "OA6MG9tEQGm2hh");
    expect(auth_session_start(as, "DIGEST-MD5", NULL, 0, &r, log),
           AUTH_CONTINUE, &r, log);
    ch = unb64(r.data);
    assert_non_null(strstr(ch, "nonce=\"OA6MG9tEQGm2hh\""));
    assert_non_null(strstr(ch, "realm=\"elwood.innosoft.com\""));
    assert_non_null(strstr(ch, "qop=\"auth\""));
    free(ch);
    b64(resp, response, strlen(response));
    expect(auth_session_step(as, buf_str(resp), &r, log),
           want == AUTH_OK ? AUTH_CONTINUE : want, &r, log);
    if (want == AUTH_OK) {
        ch = unb64(r.data);
        assert_string_equal(ch, "rspauth=ea40f60335c427b5527b84dbabcdfffd");
        free(ch);
        expect(auth_session_step(as, "", &r, log), AUTH_OK, &r, log);
        assert_string_equal(buf_str(r.user), "chris@elwood.innosoft.com");
    }
    auth_reply_free(&r);
    buf_free(log);
    buf_free(resp);
    auth_session_free(as);
}

static int count_pairs(void *ctx, const char *name, const char *value,
                       size_t vlen)
{
    (void) name;
    (void) value;
    (void) vlen;
    ++*(int *) ctx;
    return 0;
}

static void test_digest_md5(void **state)
{
    unsigned char urp[EVP_MAX_MD_SIZE];
    struct buf *val = buf_new(64), *err = buf_new(64);
    char out[33];
    unsigned n;
    int pairs = 0;

    (void) state;
    auth_hash("MD5", "chris:elwood.innosoft.com:secret", 32, urp, &n);
    auth_digest_compute(urp, "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", "00000001",
                        NULL, "imap/elwood.innosoft.com", 0, out);
    assert_string_equal(out, "d388dad90d4bbd760a152321f2143af7");
    auth_digest_compute(urp, "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", "00000001",
                        NULL, "imap/elwood.innosoft.com", 1, out);
    assert_string_equal(out, "ea40f60335c427b5527b84dbabcdfffd");

    run_digest("{PLAIN}secret", RFC2831_RESPONSE, AUTH_OK);
    assert_int_equal(auth_scheme_make(val, "DIGEST-MD5", "chris",
                                      "elwood.innosoft.com", "secret", NULL, 0,
                                      0, err),
                     0);
    run_digest(buf_str(val), RFC2831_RESPONSE, AUTH_OK);
    run_digest("{PLAIN}wrong", RFC2831_RESPONSE, AUTH_FAIL);
    run_digest("{SCRAM-SHA-1}4096,QSXCR+Q6sek8bf92,"
               "6dlGYMOdZcOPutkcNY8U2g7vK9Y=,D+CSWLOshSulAsxiupA+qs2/fTE=",
               RFC2831_RESPONSE, AUTH_FAIL); /* cannot serve */
    /* Wrong nonce, wrong nonce count, repeated directive, bad syntax. */
    run_digest(
        "{PLAIN}secret",
        "username=\"chris\",nonce=\"X\",nc=00000001,cnonce=\"a\","
        "digest-uri=\"imap/x\",response=d388dad90d4bbd760a152321f2143af7",
        AUTH_FAIL);
    run_digest("{PLAIN}secret",
               "username=\"chris\",nonce=\"OA6MG9tEQGm2hh\",nc=00000002,"
               "cnonce=\"a\",digest-uri=\"imap/x\","
               "response=d388dad90d4bbd760a152321f2143af7",
               AUTH_FAIL);
    run_digest("{PLAIN}secret", "username=\"chris\",username=\"tim\"",
               AUTH_FAIL);
    run_digest("{PLAIN}secret", "username=\"chris", AUTH_FAIL);

    assert_int_equal(
        auth_digest_parse("a=b, c=\"d\\\"e\" ,,f=g", 19, count_pairs, &pairs),
        0);
    assert_int_equal(pairs, 3);
    assert_int_equal(auth_digest_parse("a=", 2, count_pairs, &pairs), -1);
    assert_int_equal(auth_digest_parse("a=b c=d", 7, count_pairs, &pairs), -1);
    buf_free(val);
    buf_free(err);
}

/* Without smtpd_sasl_local_domain: realm myhostname means the bare user. */
static void test_digest_hostname_realm(void **state)
{
    const struct user_row rows[] = {{"tim", "{PLAIN}pw"}};
    struct auth_session *as =
        auth_session_create(table_lookup, NULL, "", "mx.example", "smtp");
    struct auth_reply r;
    struct buf *log = buf_new(64), *m = buf_new(64), *text = buf_new(256);
    unsigned char urp[EVP_MAX_MD_SIZE];
    unsigned n;
    char resp[33];
    char *ch;

    (void) state;
    users = rows;
    nusers = 1;
    auth_reply_init(&r);
    auth_session_fix_nonce(as, "N1");
    expect(auth_session_start(as, "DIGEST-MD5", "=", 0, &r, log), AUTH_CONTINUE,
           &r, log);
    ch = unb64(r.data);
    assert_non_null(strstr(ch, "realm=\"mx.example\""));
    free(ch);
    auth_hash("MD5", "tim:mx.example:pw", 17, urp, &n);
    auth_digest_compute(urp, "N1", "c1", "00000001", NULL, "smtp/mx.example", 0,
                        resp);
    buf_setf(text,
             "username=\"tim\",realm=\"mx.example\",nonce=\"N1\",cnonce=\"c1\","
             "nc=00000001,qop=auth,digest-uri=\"smtp/mx.example\",response=%s",
             resp);
    b64(m, buf_str(text), buf_len(text));
    expect(auth_session_step(as, buf_str(m), &r, log), AUTH_CONTINUE, &r, log);
    expect(auth_session_step(as, "", &r, log), AUTH_OK, &r, log);
    assert_string_equal(buf_str(r.user), "tim");
    auth_reply_free(&r);
    buf_free(log);
    buf_free(m);
    buf_free(text);
    auth_session_free(as);
}

/* ---- SCRAM (RFC 5802 section 5, RFC 7677 section 3) --------------------- */

struct scram_vector {
    const char *mech, *salt64, *snonce, *first, *server_first, *final,
        *server_final;
};

static const struct scram_vector scram_sha1 = {
    "SCRAM-SHA-1",
    "QSXCR+Q6sek8bf92",
    "3rfcNHYJY1ZVvWVs7j",
    "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

static const struct scram_vector scram_sha256 = {
    "SCRAM-SHA-256",
    "W22ZaJ0SNY7soEsUEjb6gQ==",
    "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

static void run_scram(const struct scram_vector *v, const char *stored,
                      const char *final, enum auth_status want)
{
    const struct user_row rows[] = {{"user@example.org", stored}};
    struct auth_session *as = auth_session_create(
        table_lookup, NULL, "example.org", "host.example", "smtp");
    struct auth_reply r;
    struct buf *log = buf_new(64), *msg = buf_new(64);
    char *ch;

    users = rows;
    nusers = 1;
    auth_reply_init(&r);
    auth_session_fix_nonce(as, v->snonce);
    b64(msg, v->first, strlen(v->first));
    expect(auth_session_start(as, v->mech, buf_str(msg), 0, &r, log),
           AUTH_CONTINUE, &r, log);
    ch = unb64(r.data);
    assert_string_equal(ch, v->server_first);
    free(ch);
    b64(msg, final, strlen(final));
    expect(auth_session_step(as, buf_str(msg), &r, log),
           want == AUTH_OK ? AUTH_CONTINUE : want, &r, log);
    if (want == AUTH_OK) {
        ch = unb64(r.data);
        assert_string_equal(ch, v->server_final);
        free(ch);
        expect(auth_session_step(as, "", &r, log), AUTH_OK, &r, log);
        assert_string_equal(buf_str(r.user), "user@example.org");
        assert_string_equal(buf_str(r.reason), v->mech);
    }
    auth_reply_free(&r);
    buf_free(log);
    buf_free(msg);
    auth_session_free(as);
}

static void test_scram(void **state)
{
    const struct scram_vector *vs[] = {&scram_sha1, &scram_sha256};
    struct buf *salt = buf_new(32), *val = buf_new(64), *err = buf_new(64);
    struct buf *combined = buf_new(256);
    size_t i;

    (void) state;
    for (i = 0; i < 2; i++) {
        const struct scram_vector *v = vs[i];

        assert_int_equal(auth_b64_decode(salt, v->salt64, strlen(v->salt64)),
                         0);
        assert_int_equal(auth_scheme_make(val, v->mech, NULL, NULL, "pencil",
                                          buf_str(salt), buf_len(salt), 4096,
                                          err),
                         0);
        run_scram(v, buf_str(val), v->final, AUTH_OK);
        /* The combined value with these salts serves it as well. */
        assert_int_equal(
            auth_scheme_make(combined, "COMBINED", "user", "example.org",
                             "pencil", buf_str(salt), buf_len(salt), 4096, err),
            0);
        run_scram(v, buf_str(combined), v->final, AUTH_OK);
        /* Wrong password, unknown user (made-up salt differs: no check). */
        assert_int_equal(auth_scheme_make(val, v->mech, NULL, NULL, "pencil2",
                                          buf_str(salt), buf_len(salt), 4096,
                                          err),
                         0);
        run_scram(v, buf_str(val), v->final, AUTH_FAIL);
    }
    buf_free(salt);
    buf_free(val);
    buf_free(err);
    buf_free(combined);
}

/* A SCRAM client, to check keys derived from a {PLAIN} value. */
static void scram_client(const char *md, const char *password,
                         const char *cfirst_bare, const char *sfirst,
                         struct buf *final)
{
    const EVP_MD *type = EVP_get_digestbyname(md);
    unsigned dlen = (unsigned) EVP_MD_get_size(type), n, i;
    unsigned char sp[64], ck[64], sk[64], sig[64];
    const char *s = strstr(sfirst, ",s="), *it = strstr(sfirst, ",i=");
    struct buf *salt = buf_new(32), *am = buf_new(128), *p64 = buf_new(64);

    assert_non_null(s);
    assert_non_null(it);
    assert_int_equal(auth_b64_decode(salt, s + 3, (size_t) (it - s - 3)), 0);
    assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int) strlen(password),
                                       (unsigned char *) buf_str(salt),
                                       (int) buf_len(salt), atoi(it + 3), type,
                                       (int) dlen, sp),
                     1);
    auth_hmac(md, sp, dlen, "Client Key", 10, ck, &n);
    auth_hash(md, ck, dlen, sk, &n);
    buf_setf(final, "c=biws,r=");
    buf_append(final, sfirst + 2, (size_t) (strchr(sfirst, ',') - sfirst - 2));
    buf_setf(am, "%s,%s,%s", cfirst_bare, sfirst, buf_str(final));
    auth_hmac(md, sk, dlen, buf_str(am), buf_len(am), sig, &n);
    for (i = 0; i < dlen; i++)
        ck[i] ^= sig[i];
    auth_b64_encode(p64, ck, dlen);
    buf_printf(final, ",p=%s", buf_str(p64));
    buf_free(salt);
    buf_free(am);
    buf_free(p64);
}

static void scram_plain_case(const char *mech, const char *md,
                             const char *stored, const char *password,
                             const char *user, enum auth_status want)
{
    const struct user_row rows[] = {{"user@example.org", stored}};
    struct auth_session *as = auth_session_create(
        table_lookup, NULL, "example.org", "host.example", "smtp");
    struct auth_reply r;
    struct buf *log = buf_new(64), *msg = buf_new(64), *fin = buf_new(64);
    char bare[64], first[80];
    char *sfirst;

    users = rows;
    nusers = 1;
    auth_reply_init(&r);
    snprintf(bare, sizeof(bare), "n=%s,r=abcdefgh", user);
    snprintf(first, sizeof(first), "n,,%s", bare);
    b64(msg, first, strlen(first));
    expect(auth_session_start(as, mech, buf_str(msg), 0, &r, log),
           AUTH_CONTINUE, &r, log);
    sfirst = unb64(r.data);
    scram_client(md, password, bare, sfirst, fin);
    free(sfirst);
    b64(msg, buf_str(fin), buf_len(fin));
    expect(auth_session_step(as, buf_str(msg), &r, log),
           want == AUTH_OK ? AUTH_CONTINUE : want, &r, log);
    if (want == AUTH_OK)
        expect(auth_session_step(as, "", &r, log), AUTH_OK, &r, log);
    if (strcmp(user, "user") != 0)
        assert_non_null(strstr(buf_str(log), "unknown user"));
    auth_reply_free(&r);
    buf_free(log);
    buf_free(msg);
    buf_free(fin);
    auth_session_free(as);
}

static void test_scram_plain(void **state)
{
    (void) state;
    scram_plain_case("SCRAM-SHA-256", "SHA256", "{PLAIN}pencil", "pencil",
                     "user", AUTH_OK);
    scram_plain_case("SCRAM-SHA-1", "SHA1", "{PLAIN}pencil", "pencil", "user",
                     AUTH_OK);
    scram_plain_case("SCRAM-SHA-256", "SHA256", "{PLAIN}pencil", "pencil1",
                     "user", AUTH_FAIL);
    /* Unknown users get a challenge too and fail at the end. */
    scram_plain_case("SCRAM-SHA-256", "SHA256", "{PLAIN}pencil", "pencil",
                     "nobody", AUTH_FAIL);
}

/* ---- PLAIN, LOGIN, ANONYMOUS, errors ------------------------------------ */

static const struct user_row plain_rows[] = {
    {"bob@example.org", "{PLAIN}secret"},
    {"carol@example.org", "{SHA512-CRYPT}$6$x$y"},
};

static enum auth_status plain_try(const char *msg, size_t len, int sec,
                                  struct auth_reply *r, struct buf *log)
{
    struct auth_session *as = auth_session_create(
        table_lookup, NULL, "example.org", "host.example", "smtp");
    struct buf *coded = buf_new(64);
    enum auth_status st;

    users = plain_rows;
    nusers = NCASES(plain_rows);
    b64(coded, msg, len);
    st = auth_session_start(as, "PLAIN", buf_str(coded), sec, r, log);
    buf_free(coded);
    auth_session_free(as);
    return st;
}

static void test_plain(void **state)
{
    static const struct {
        const char *msg;
        size_t len;
        enum auth_status want;
        const char *user_or_reason;
    } cases[] = {
        {"\0bob\0secret", 11, AUTH_OK, "bob@example.org"},
        {"bob\0bob\0secret", 14, AUTH_OK, "bob@example.org"},
        {"bob@example.org\0bob\0secret", 26, AUTH_OK, "bob@example.org"},
        {"\0bob@example.org\0secret", 23, AUTH_OK, "bob@example.org"},
        {"alice\0bob\0secret", 16, AUTH_FAIL,
         "authorization identity not allowed"},
        {"\0bob\0wrong", 10, AUTH_FAIL, "authentication failure"},
        {"\0nobody\0secret", 14, AUTH_FAIL, "authentication failure"},
        {"\0bob", 4, AUTH_FAIL, "malformed response"},
        {"\0bob\0sec\0ret", 12, AUTH_FAIL, "malformed response"},
        {"\0\0secret", 8, AUTH_FAIL, "malformed response"},
        {"\0broken\0x", 9, AUTH_TEMP, "user lookup failed"},
    };
    struct auth_reply r;
    struct buf *log = buf_new(64);
    size_t i;

    (void) state;
    auth_reply_init(&r);
    for (i = 0; i < NCASES(cases); i++) {
        enum auth_status st = plain_try(cases[i].msg, cases[i].len, 0, &r, log);

        if (st != cases[i].want
            || strcmp(st == AUTH_OK ? buf_str(r.user) : buf_str(r.reason),
                      cases[i].user_or_reason)
                   != 0) {
            print_error("case %zu: got %s \"%s\"/\"%s\", want %s \"%s\"\n", i,
                        auth_status_name(st), buf_str(r.user),
                        buf_str(r.reason), auth_status_name(cases[i].want),
                        cases[i].user_or_reason);
            fail();
        }
        /* Never a password in the log text. */
        assert_null(strstr(buf_str(log), "secret"));
    }
    /* PLAIN with noplaintext is not available. */
    expect(plain_try("\0bob\0secret", 11, AUTH_SEC_NOPLAINTEXT, &r, log),
           AUTH_FAIL, &r, log);
    assert_string_equal(buf_str(r.reason), "mechanism not available");
    auth_reply_free(&r);
    buf_free(log);
}

static void test_login_and_errors(void **state)
{
    struct auth_session *as = auth_session_create(
        table_lookup, NULL, "example.org", "host.example", "smtp");
    struct auth_reply r;
    struct buf *log = buf_new(64), *m = buf_new(64);
    char *ch;

    (void) state;
    users = plain_rows;
    nusers = NCASES(plain_rows);
    auth_reply_init(&r);

    /* LOGIN without and with an initial response. */
    expect(auth_session_start(as, "login", NULL, 0, &r, log), AUTH_CONTINUE, &r,
           log);
    assert_string_equal(buf_str(r.data), "VXNlcm5hbWU6");
    b64(m, "bob", 3);
    expect(auth_session_step(as, buf_str(m), &r, log), AUTH_CONTINUE, &r, log);
    assert_string_equal(buf_str(r.data), "UGFzc3dvcmQ6");
    b64(m, "secret", 6);
    expect(auth_session_step(as, buf_str(m), &r, log), AUTH_OK, &r, log);
    assert_string_equal(buf_str(r.user), "bob@example.org");
    assert_string_equal(buf_str(r.reason), "LOGIN");
    b64(m, "bob", 3);
    expect(auth_session_start(as, "LOGIN", buf_str(m), 0, &r, log),
           AUTH_CONTINUE, &r, log);
    ch = unb64(r.data);
    assert_string_equal(ch, "Password:");
    free(ch);
    b64(m, "nope", 4);
    expect(auth_session_step(as, buf_str(m), &r, log), AUTH_FAIL, &r, log);
    assert_non_null(strstr(buf_str(log), "wrong password"));
    assert_null(strstr(buf_str(log), "nope"));

    /* crypt value: PLAIN/LOGIN only; CRAM-MD5 cannot use it. */
    expect(auth_session_start(as, "CRAM-MD5", NULL, 0, &r, log), AUTH_CONTINUE,
           &r, log);
    b64(m, "carol 0123456789abcdef0123456789abcdef", 38);
    expect(auth_session_step(as, buf_str(m), &r, log), AUTH_FAIL, &r, log);
    assert_string_equal(buf_str(r.reason),
                        "stored value cannot serve this mechanism");
    assert_non_null(strstr(buf_str(log), "cannot serve CRAM-MD5"));

    /* "*" cancels; bad base64; a step without an exchange. */
    expect(auth_session_start(as, "LOGIN", NULL, 0, &r, log), AUTH_CONTINUE, &r,
           log);
    expect(auth_session_step(as, "*", &r, log), AUTH_FAIL, &r, log);
    assert_string_equal(buf_str(r.reason), AUTH_REASON_ABORTED);
    assert_false(auth_session_busy(as));
    expect(auth_session_start(as, "PLAIN", "%%%", 0, &r, log), AUTH_FAIL, &r,
           log);
    assert_string_equal(buf_str(r.reason), "invalid base64 data");
    expect(auth_session_step(as, "AAAA", &r, log), AUTH_FAIL, &r, log);
    expect(auth_session_start(as, "X-UNKNOWN", NULL, 0, &r, log), AUTH_FAIL, &r,
           log);
    /* PLAIN without an initial response, then "=" (empty) in LOGIN. */
    expect(auth_session_start(as, "PLAIN", NULL, 0, &r, log), AUTH_CONTINUE, &r,
           log);
    assert_string_equal(buf_str(r.data), "");
    b64(m, "\0bob\0secret", 11);
    expect(auth_session_step(as, buf_str(m), &r, log), AUTH_OK, &r, log);
    /* ANONYMOUS only without noanonymous. */
    expect(auth_session_start(as, "ANONYMOUS", "dHJhY2U=", AUTH_SEC_NOANONYMOUS,
                              &r, log),
           AUTH_FAIL, &r, log);
    expect(auth_session_start(as, "ANONYMOUS", "dHJhY2U=", 0, &r, log), AUTH_OK,
           &r, log);
    assert_string_equal(buf_str(r.user), "anonymous");
    /* Over-long responses. */
    {
        struct buf *big = buf_new(20000), *coded = buf_new(30000);

        while (buf_len(big) < AUTH_RESPONSE_MAX + 10)
            buf_putc(big, 'a');
        b64(coded, buf_str(big), buf_len(big));
        expect(auth_session_start(as, "PLAIN", buf_str(coded), 0, &r, log),
               AUTH_FAIL, &r, log);
        assert_string_equal(buf_str(r.reason), "response too long");
        buf_free(big);
        buf_free(coded);
    }
    /* No user maps: temporary. */
    {
        struct auth_session *none =
            auth_session_create(NULL, NULL, "", "h", "smtp");

        expect(
            auth_session_start(none, "PLAIN", "AGJvYgBzZWNyZXQ=", 0, &r, log),
            AUTH_TEMP, &r, log);
        auth_session_free(none);
    }
    auth_reply_free(&r);
    buf_free(log);
    buf_free(m);
    auth_session_free(as);
}

/* Failure reasons match fail2ban's postfix filter: [ A-Za-z0-9+/:]. */
static void test_reason_charset(void **state)
{
    static const char *const reasons[] = {
        "authentication failure",
        "malformed response",
        "mechanism not available",
        "invalid base64 data",
        "stored value cannot serve this mechanism",
        AUTH_REASON_ABORTED,
        "authorization identity not allowed",
        "response too long",
        "unexpected initial response",
        "channel binding not supported",
    };
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(reasons); i++)
        assert_int_equal(strspn(reasons[i], " abcdefghijklmnopqrstuvwxyz"
                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789+/:"),
                         strlen(reasons[i]));
}

/* ---- schemes --------------------------------------------------------------
 */

static void test_schemes(void **state)
{
    static const char *const schemes[] = {
        "PLAIN",         "CRAM-MD5",     "DIGEST-MD5", "SCRAM-SHA-1",
        "SCRAM-SHA-256", "SHA512-CRYPT", "BLF-CRYPT",  "COMBINED",
    };
    static const char *const bad[] = {
        "{CRAM-MD5}abc",
        "{DIGEST-MD5}zz",
        "{SCRAM-SHA-1}4096,a",
        "{SCRAM-SHA-256}0,QQ==,QQ==,QQ==",
        "{MD5-X}abc",
        "{SHA512-CRYPT}",
        "{PLAIN",
    };
    struct auth_secret s;
    struct buf *val = buf_new(64), *err = buf_new(64);
    size_t i;

    (void) state;
    auth_secret_init(&s);
    for (i = 0; i < NCASES(schemes); i++) {
        assert_int_equal(auth_scheme_make(val, schemes[i], "bob", "example.org",
                                          "pass word", NULL, 0, 0, err),
                         0);
        if (strcmp(schemes[i], "COMBINED") != 0) {
            assert_int_equal(buf_str(val)[0], '{');
            assert_true(str_has_prefix(buf_str(val) + 1, schemes[i]));
        }
        assert_int_equal(auth_secret_parse(&s, buf_str(val), err), 0);
        if (auth_secret_check(&s, "bob", "example.org", "pass word", 9) != 1
            || auth_secret_check(&s, "bob", "example.org", "pass wore", 9)
                   != 0) {
            print_error("scheme %s: check failed (value %s)\n", schemes[i],
                        buf_str(val));
            fail();
        }
        assert_null(strstr(buf_str(val), "pass word") != NULL
                            && strcmp(schemes[i], "PLAIN") != 0
                        ? "clear password in value"
                        : NULL);
    }
    /* The combined value holds every hash but no clear password. */
    assert_int_equal(auth_scheme_make(val, "COMBINED", "bob", "example.org",
                                      "pw", NULL, 0, 0, err),
                     0);
    assert_int_equal(auth_secret_parse(&s, buf_str(val), err), 0);
    assert_int_equal(s.have, AUTH_HAVE_SCRAM1 | AUTH_HAVE_SCRAM256
                                 | AUTH_HAVE_CRAM | AUTH_HAVE_DIGEST
                                 | AUTH_HAVE_CRYPT);
    /* A known crypt(3) value. */
    assert_int_equal(auth_secret_parse(
                         &s,
                         "{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd"
                         "8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoE"
                         "OfaS35inz1",
                         err),
                     0);
    assert_int_equal(auth_secret_check(&s, NULL, NULL, "Hello world!", 12), 1);
    assert_int_equal(auth_secret_check(&s, NULL, NULL, "Hello world?", 12), 0);
    for (i = 0; i < NCASES(bad); i++) {
        if (auth_secret_parse(&s, bad[i], err) != -1) {
            print_error("parse \"%s\": got success, want -1\n", bad[i]);
            fail();
        }
    }
    assert_int_equal(auth_scheme_make(val, "MD5", "", "", "x", NULL, 0, 0, err),
                     -1);
    auth_secret_free(&s);
    buf_free(val);
    buf_free(err);
}

static void test_mech_list(void **state)
{
    static const struct {
        const char *options, *want;
    } cases[] = {
        {"", "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5 PLAIN LOGIN "
             "ANONYMOUS"},
        {"noanonymous",
         "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5 PLAIN LOGIN"},
        {"noplaintext, noanonymous",
         "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5"},
        {"noactive", "SCRAM-SHA-256 SCRAM-SHA-1"},
        {"mutual_auth", "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5"},
        {"nodictionary", ""},
    };
    struct buf *out = buf_new(64), *err = buf_new(64);
    size_t i;
    int sec;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        sec = auth_sec_parse(cases[i].options, err);
        assert_true(sec >= 0);
        auth_mech_list(out, sec);
        assert_string_equal(buf_str(out), cases[i].want);
    }
    assert_int_equal(auth_sec_parse("noanonymous, bogus", err), -1);
    assert_non_null(strstr(buf_str(err), "bogus"));
    buf_free(out);
    buf_free(err);
}

/* ---- sasldb through the maps library --------------------------------------
 */

static struct maps *sasl_maps;

static enum lookup_status maps_lookup(void *ctx, const char *key,
                                      struct buf *value, struct buf *err)
{
    enum lookup_status st = maps_find(sasl_maps, key, 0, value);

    (void) ctx;
    if (st != LOOKUP_FOUND && st != LOOKUP_NOTFOUND)
        buf_set(err, maps_error(sasl_maps));
    return st;
}

static void test_sasldb(void **state)
{
    char dir[] = "/tmp/test_auth_XXXXXX";
    char path[256], name[300];
    struct buf *key = buf_new(64), *m = buf_new(64), *log = buf_new(64);
    struct auth_session *as;
    struct auth_reply r;
    DB *db;
    DBT k, v;

    (void) state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sasldb2", dir);
    assert_int_equal(db_create(&db, NULL, 0), 0);
    assert_int_equal(db->open(db, NULL, path, NULL, DB_HASH, DB_CREATE, 0600),
                     0);
    buf_puts(key, "tim");
    buf_putc(key, 0);
    buf_puts(key, "example.org");
    buf_putc(key, 0);
    buf_puts(key, "userPassword");
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = buf_str(key);
    k.size = (u_int32_t) buf_len(key);
    v.data = "tanstaaftanstaaf";
    v.size = 16;
    assert_int_equal(db->put(db, NULL, &k, &v, 0), 0);
    assert_int_equal(db->close(db, 0), 0);

    snprintf(name, sizeof(name), "sasldb:%s", path);
    sasl_maps = maps_create("auth_user_maps", name, 0);
    as = auth_session_create(maps_lookup, NULL, "example.org", "h", "smtp");
    auth_reply_init(&r);
    /* PLAIN and CRAM-MD5 from the same Cyrus entry. */
    b64(m, "\0tim\0tanstaaftanstaaf", 21);
    expect(auth_session_start(as, "PLAIN", buf_str(m), 0, &r, log), AUTH_OK, &r,
           log);
    assert_string_equal(buf_str(r.user), "tim@example.org");
    auth_session_fix_nonce(as, RFC2195_CHALLENGE);
    expect(auth_session_start(as, "CRAM-MD5", NULL, 0, &r, log), AUTH_CONTINUE,
           &r, log);
    b64(m, RFC2195_RESPONSE, strlen(RFC2195_RESPONSE));
    expect(auth_session_step(as, buf_str(m), &r, log), AUTH_OK, &r, log);
    b64(m, "\0tim\0wrong", 10);
    expect(auth_session_start(as, "PLAIN", buf_str(m), 0, &r, log), AUTH_FAIL,
           &r, log);

    auth_reply_free(&r);
    auth_session_free(as);
    maps_free(sasl_maps);
    unlink(path);
    rmdir(dir);
    buf_free(key);
    buf_free(m);
    buf_free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_cram_md5),
        cmocka_unit_test(test_digest_md5),
        cmocka_unit_test(test_digest_hostname_realm),
        cmocka_unit_test(test_scram),
        cmocka_unit_test(test_scram_plain),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_login_and_errors),
        cmocka_unit_test(test_reason_charset),
        cmocka_unit_test(test_schemes),
        cmocka_unit_test(test_mech_list),
        cmocka_unit_test(test_sasldb),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
