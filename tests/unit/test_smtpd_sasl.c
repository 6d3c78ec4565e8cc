/*
 * test_smtpd_sasl.c - unit tests for smtpd's SMTP AUTH glue
 * (smtpd/smtpd_sasl.c): the failure delay schedule, the base64 syntax
 * check, what a client may see of a failure reason, security option
 * checking, smtpd_sasl_mechanism_filter, start-up errors (smtpd_sasl_type),
 * the EHLO AUTH lines, and every reply of the AUTH command, against a
 * scripted auth service that stands in for lib/auth_client.c.
 *
 * Table-driven: each failing case prints "got X, want Y".
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

#include "../../smtpd/smtpd_anvil.c"
#include "../../smtpd/smtpd_sasl.c"

#include "config.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

/* params_load() keeps old string values on purpose (lib/params.c). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:params_load\n";
}

static char tmpdir[] = "/tmp/test_smtpd_sasl.XXXXXX";

/* What smtpd_sasl_init handed to auth_client_set_realm (the mock below). */
static char mock_realm[64];

static void load(const char *const *params)
{
    size_t i;

    config_clear();
    config_set("queue_directory", tmpdir, NULL, 0);
    for (i = 0; params && params[i]; i++)
        assert_int_equal(config_override(params[i]), 0);
    params_load();
}

static int setup(void **state)
{
    (void) state;
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void) state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_fail_delay(void **state)
{
    static const unsigned want[] = {0, 0, 1, 2, 3, 4, 5, 5, 5};
    unsigned n;

    (void) state;
    for (n = 0; n < NCASES(want); n++) {
        unsigned got = smtpd_sasl_fail_delay(n);

        if (got != want[n])
            fail_msg("failure %u: got %u, want %u", n, got, want[n]);
    }
}

static void test_b64_syntax(void **state)
{
    static const struct {
        const char *text;
        int want;
    } cases[] = {
        {"=", 1},           {"", 1},          {"AGJvYgBzZWNyZXQ=", 1},
        {"YWxpY2U=", 1},    {"YWxpY2Vh", 1},  {"YQ==", 1},
        {"YQ=", 0},         {"Y===", 0},      {"YQ=a", 0},
        {"not base64!", 0}, {"YWxp Y2U=", 0}, {"*", 0},
        {"YWx", 0},         {"+/+/", 1},      {"-_-_", 0},
    };
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        int got =
            smtpd_sasl_b64_syntax_ok(cases[i].text, strlen(cases[i].text));

        if (got != cases[i].want)
            fail_msg("\"%s\": got %d, want %d", cases[i].text, got,
                     cases[i].want);
    }
}

static void test_client_reason(void **state)
{
    static const struct {
        const char *reason;
        const char *want;
    } cases[] = {
        {"authentication failure", "authentication failure"},
        {"malformed response", "malformed response"},
        {"authorization identity not allowed",
         "authorization identity not allowed"},
        /* would tell that the user exists */
        {"stored value cannot serve this mechanism", "authentication failure"},
        {"auth service private/auth: connect: refused",
         "authentication failure"},
        {"", "authentication failure"},
        {NULL, "authentication failure"},
    };
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        const char *got = smtpd_sasl_client_reason(cases[i].reason);

        if (strcmp(got, cases[i].want) != 0)
            fail_msg("\"%s\": got \"%s\", want \"%s\"",
                     cases[i].reason ? cases[i].reason : "(null)", got,
                     cases[i].want);
    }
}

static void test_options(void **state)
{
    static const struct {
        const char *value;
        int ret;
        const char *want; /* normalized list, or a piece of the error */
    } cases[] = {
        {"noanonymous", 0, "noanonymous"},
        {"noanonymous, noplaintext", 0, "noanonymous,noplaintext"},
        {" NoPlainText\tnoactive ", 0, "noplaintext,noactive"},
        {"", 0, ""},
        {"mutual_auth forward_secrecy nodictionary", 0,
         "mutual_auth,forward_secrecy,nodictionary"},
        {"noanonymous, nosuch", -1, "unknown SASL security option \"nosuch\""},
    };
    struct buf *out = buf_new(32);
    struct buf *err = buf_new(32);
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        int ret;

        buf_reset(err);
        ret = smtpd_sasl_options_check("opts", cases[i].value, out, err);
        if (ret != cases[i].ret)
            fail_msg("\"%s\": got %d, want %d", cases[i].value, ret,
                     cases[i].ret);
        if (ret == 0 && strcmp(buf_str(out), cases[i].want) != 0)
            fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].value,
                     buf_str(out), cases[i].want);
        if (ret < 0 && strstr(buf_str(err), cases[i].want) == NULL)
            fail_msg("\"%s\": got error \"%s\", want \"%s\"", cases[i].value,
                     buf_str(err), cases[i].want);
    }
    buf_free(out);
    buf_free(err);
}

static void test_filter(void **state)
{
    static const char all[] = "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5 "
                              "PLAIN LOGIN EXTERNAL";
    char file[256];
    char regexp[256];
    struct {
        const char *filter;
        const char *want;
    } cases[] = {
        {"", "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5 PLAIN LOGIN "
             "EXTERNAL"},
        {"!external, static:rest",
         "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5 PLAIN LOGIN"},
        {"login, plain", "PLAIN LOGIN"},
        {"LOGIN PLAIN", "PLAIN LOGIN"},
        {"!cram-md5 !digest-md5 static:x", "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN "
                                           "LOGIN EXTERNAL"},
        {"inline:{plain=1, {scram-sha-1 = 1}}", "SCRAM-SHA-1 PLAIN"},
        {"!inline:{plain=1}, static:rest",
         "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5 LOGIN EXTERNAL"},
        {file, "CRAM-MD5 LOGIN"},
        {NULL, "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 PLAIN EXTERNAL"},
        {regexp, "SCRAM-SHA-256 SCRAM-SHA-1"},
        {"nothing", ""},
    };
    struct buf *out = buf_new(64);
    struct buf *err = buf_new(64);
    char neg[300];
    FILE *fp;
    size_t i;

    (void) state;
    snprintf(file, sizeof(file), "%s/mechs", tmpdir);
    fp = fopen(file, "w");
    assert_non_null(fp);
    fputs("# the old ones\nlogin\ncram-md5 # a comment\n", fp);
    fclose(fp);
    snprintf(neg, sizeof(neg), "!%s, static:rest", file);
    cases[8].filter = neg;
    snprintf(regexp, sizeof(regexp), "regexp:%s/re", tmpdir);
    fp = fopen(regexp + 7, "w");
    assert_non_null(fp);
    fputs("/^scram-/ ok\n", fp);
    fclose(fp);
    for (i = 0; i < NCASES(cases); i++) {
        struct smtpd_sasl_filter *f =
            smtpd_sasl_filter_new(cases[i].filter, err);

        if (f == NULL)
            fail_msg("\"%s\": %s", cases[i].filter, buf_str(err));
        buf_reset(out);
        smtpd_sasl_filter_apply(f, all, out);
        if (strcmp(buf_str(out), cases[i].want) != 0)
            fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].filter,
                     buf_str(out), cases[i].want);
        smtpd_sasl_filter_free(f);
    }
    /* Errors. */
    assert_null(smtpd_sasl_filter_new("plain, !", err));
    assert_non_null(strstr(buf_str(err), "without a pattern"));
    assert_null(smtpd_sasl_filter_new("/nonexistent/mechs", err));
    assert_non_null(strstr(buf_str(err), "/nonexistent/mechs"));
    buf_free(out);
    buf_free(err);
}

static void test_init_errors(void **state)
{
    static const struct {
        const char *param;
        const char *want;
    } cases[] = {
        {"smtpd_sasl_type=dovecot", "dovecot is not supported yet"},
        {"smtpd_sasl_type=cyrus", "unsupported SASL server implementation: "
                                  "smtpd_sasl_type = cyrus"},
        {"smtpd_sasl_security_options=noanonymous,bogus",
         "smtpd_sasl_security_options: unknown SASL security option "
         "\"bogus\""},
        {"smtpd_sasl_tls_security_options=bogus",
         "smtpd_sasl_tls_security_options: unknown SASL security option"},
        {"smtpd_sasl_mechanism_filter=!", "without a pattern"},
    };
    struct buf *err = buf_new(64);
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        const char *params[] = {"smtpd_sasl_auth_enable=yes", cases[i].param,
                                NULL};

        load(params);
        buf_reset(err);
        if (smtpd_sasl_init(err) != -1)
            fail_msg("%s: got success, want an error", cases[i].param);
        if (strstr(buf_str(err), cases[i].want) == NULL)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].param,
                     buf_str(err), cases[i].want);
        smtpd_sasl_free();
        assert_int_equal(smtpd_sasl_enabled(), 0);
    }
    /* Off: nothing is checked. */
    {
        const char *params[] = {"smtpd_sasl_type=dovecot", NULL};

        load(params);
        assert_int_equal(smtpd_sasl_init(err), 0);
        assert_int_equal(smtpd_sasl_enabled(), 0);
        smtpd_sasl_free();
    }
    /* The realm smtpd sees (a master.cf -o override) is handed to auth. */
    {
        const char *params[] = {"smtpd_sasl_auth_enable=yes",
                                "smtpd_sasl_local_domain=realm.example", NULL};

        mock_realm[0] = 0;
        load(params);
        assert_int_equal(smtpd_sasl_init(err), 0);
        assert_string_equal(mock_realm, "realm.example");
        smtpd_sasl_free();
    }
    buf_free(err);
}

/*
 * ---- a scripted auth service --------------------------------------------
 *
 * These replace lib/auth_client.c (so the archive member is not linked):
 * every smtpd_sasl.c path is driven without a real service. Responses are
 * base64 of a word: "good" succeeds, "more" asks for another line, "temp"
 * is a temporary failure, "enum" a failure whose reason names the account,
 * anything else "authentication failure". mechs answers MOCK_MECHS (or
 * MOCK_TLS_MECHS with TLS), or TEMP when mock_mechs_down.
 */
struct auth_client {
    int unused;
};

static const char *mock_mechs = "SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN";
static const char *mock_tls_mechs = "SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN";
static int mock_mechs_down;
static int mock_cancels;
static int mock_mechs_calls;
static char mock_started[64];

struct auth_client *auth_client_create(const char *path, int timeout_sec)
{
    (void) path;
    (void) timeout_sec;
    return mem_calloc(1, sizeof(struct auth_client));
}

void auth_client_free(struct auth_client *ac)
{
    mem_free(ac);
}

void auth_client_set_realm(struct auth_client *ac, const char *realm)
{
    (void) ac;
    snprintf(mock_realm, sizeof(mock_realm), "%s", realm ? realm : "");
}

void auth_reply_init(struct auth_reply *r)
{
    r->status = AUTH_TEMP;
    r->data = buf_new(16);
    r->user = buf_new(16);
    r->reason = buf_new(16);
}

void auth_reply_free(struct auth_reply *r)
{
    buf_free(r->data);
    buf_free(r->user);
    buf_free(r->reason);
}

static enum auth_status mock_say(struct auth_reply *r, enum auth_status st,
                                 const char *data, const char *user,
                                 const char *reason)
{
    buf_set(r->data, data);
    buf_set(r->user, user);
    buf_set(r->reason, reason);
    r->status = st;
    return st;
}

static enum auth_status mock_eval(const char *text, struct auth_reply *r)
{
    if (strcmp(text, "Z29vZA==") == 0) /* good */
        return mock_say(r, AUTH_OK, "", "alice@example.org", "PLAIN");
    if (strcmp(text, "bW9yZQ==") == 0) /* more */
        return mock_say(r, AUTH_CONTINUE, "UGFzc3dvcmQ6", "", "");
    if (strcmp(text, "dGVtcA==") == 0) /* temp */
        return mock_say(r, AUTH_TEMP, "", "", "user lookup failed");
    if (strcmp(text, "ZW51bQ==") == 0) /* enum */
        return mock_say(r, AUTH_FAIL, "", "",
                        "stored value cannot serve this mechanism");
    return mock_say(r, AUTH_FAIL, "", "", "authentication failure");
}

enum auth_status auth_client_mechs(struct auth_client *ac, const char *options,
                                   int tls, struct auth_reply *r)
{
    (void) ac;
    (void) options;
    mock_mechs_calls++;
    if (mock_mechs_down)
        return mock_say(r, AUTH_TEMP, "", "", "auth service: connect: refused");
    return mock_say(r, AUTH_OK, tls ? mock_tls_mechs : mock_mechs, "", "");
}

enum auth_status auth_client_start(struct auth_client *ac, const char *mech,
                                   const char *initial, const char *options,
                                   int tls, const char *client,
                                   struct auth_reply *r)
{
    (void) ac;
    (void) options;
    (void) tls;
    (void) client;
    snprintf(mock_started, sizeof(mock_started), "%s", mech);
    if (initial && *initial)
        return mock_eval(initial, r);
    return mock_say(r, AUTH_CONTINUE, "VXNlcm5hbWU6", "", "");
}

enum auth_status auth_client_step(struct auth_client *ac, const char *response,
                                  struct auth_reply *r)
{
    (void) ac;
    return mock_eval(response, r);
}

enum auth_status auth_client_cancel(struct auth_client *ac,
                                    struct auth_reply *r)
{
    (void) ac;
    mock_cancels++;
    return mock_say(r, AUTH_OK, "", "", "");
}

/* ---- the AUTH command with a fake client side ---------------------------- */

struct fake {
    struct buf *replies; /* every reply, one per line */
    const char *const *lines;
    size_t next;
    unsigned paused;
    int rate_over;
};

static void fake_reply(void *ctx, const char *text)
{
    struct fake *f = ctx;

    buf_printf(f->replies, "%s\n", text);
}

static int fake_read(void *ctx, struct buf *line, size_t limit)
{
    struct fake *f = ctx;

    if (f->lines == NULL || f->lines[f->next] == NULL)
        return SMTPD_SASL_READ_END;
    buf_set(line, f->lines[f->next++]);
    return buf_len(line) > limit ? SMTPD_SASL_READ_TOOLONG : SMTPD_SASL_READ_OK;
}

static int fake_rate(void *ctx, struct buf *reply)
{
    struct fake *f = ctx;

    if (!f->rate_over)
        return 0;
    buf_set(reply, "450 4.7.1 Error: too many AUTH commands from 192.0.2.1");
    return -1;
}

static void fake_pause(void *ctx, unsigned seconds)
{
    struct fake *f = ctx;

    f->paused += seconds;
}

#define R334U "334 VXNlcm5hbWU6\n"
#define R235  "235 2.7.0 Authentication successful\n"
#define R535  "535 5.7.8 Error: authentication failed: authentication failure\n"
#define R538                                                                   \
    "538 5.7.11 Encryption required for requested authentication "             \
    "mechanism\n"
#define R454    "454 4.7.0 Temporary authentication failure\n"
#define RSYNTAX "501 5.5.4 Syntax: AUTH mechanism\n"
#define RB64    "501 5.5.2 Error: invalid base64 data in authentication response\n"

/* The tables below leave trailing fields out: NULL and 0. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static void test_auth_cmd_replies(void **state)
{
    static char longline[300];
    static const struct {
        const char *params[4];
        struct smtpd_sasl_cmd cmd; /* namaddr set below */
        int rate_over;
        int mechs_down;
        const char *arg;
        const char *lines[4];
        int ret;
        const char *want;
        const char *method; /* after success */
        int cancels;
    } cases[] = {
        {{"smtpd_sasl_auth_enable=no"},
         {0},
         0,
         0,
         "PLAIN",
         {NULL},
         SMTPD_SASL_FAIL,
         "503 5.5.1 Error: authentication not enabled\n"},
        {{"smtpd_sasl_auth_enable=yes"},
         {.discarded = 1},
         0,
         0,
         "PLAIN",
         {NULL},
         SMTPD_SASL_FAIL,
         "503 5.5.1 Error: authentication not enabled\n"},
        {{"smtpd_sasl_auth_enable=yes"},
         {.need_helo = 1},
         0,
         0,
         "PLAIN",
         {NULL},
         SMTPD_SASL_FAIL,
         "503 5.5.1 Error: send HELO/EHLO first\n"},
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         1,
         0,
         "PLAIN",
         {NULL},
         SMTPD_SASL_FAIL,
         "450 4.7.1 Error: too many AUTH commands from 192.0.2.1\n"},
        {{"smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=yes"},
         {0},
         0,
         0,
         "PLAIN",
         {NULL},
         SMTPD_SASL_FAIL,
         R538},
        {{"smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=yes"},
         {.tls_active = 1},
         0,
         0,
         "PLAIN Z29vZA==",
         {NULL},
         SMTPD_SASL_OK,
         R235,
         "PLAIN"},
        {{"smtpd_sasl_auth_enable=yes"},
         {.in_mail = 1},
         0,
         0,
         "PLAIN",
         {NULL},
         SMTPD_SASL_FAIL,
         "503 5.5.1 Error: MAIL transaction in progress\n"},
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "",
         {NULL},
         SMTPD_SASL_FAIL,
         RSYNTAX},
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "PLAIN abc def",
         {NULL},
         SMTPD_SASL_FAIL,
         RSYNTAX},
        /* The exchange. */
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "plain Z29vZA==",
         {NULL},
         SMTPD_SASL_OK,
         R235,
         "PLAIN"},
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "LOGIN",
         {"bW9yZQ==", "Z29vZA=="},
         SMTPD_SASL_OK,
         R334U "334 UGFzc3dvcmQ6\n" R235,
         "LOGIN"},
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "LOGIN",
         {"*"},
         SMTPD_SASL_FAIL,
         R334U "501 5.7.0 Authentication aborted\n",
         NULL,
         1},
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "LOGIN",
         {"abc!"},
         SMTPD_SASL_FAIL,
         R334U RB64,
         NULL,
         1},
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "LOGIN",
         {NULL},
         SMTPD_SASL_END,
         R334U,
         NULL,
         1},
        {{"smtpd_sasl_auth_enable=yes", "smtpd_sasl_response_limit=100"},
         {0},
         0,
         0,
         "LOGIN",
         {longline},
         SMTPD_SASL_FAIL,
         R334U "500 5.5.6 SASL response limit exceeded\n",
         NULL,
         1},
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "PLAIN d3Jvbmc=",
         {NULL},
         SMTPD_SASL_FAIL,
         R535},
        /* A reason that names the account is not shown. */
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "PLAIN ZW51bQ==",
         {NULL},
         SMTPD_SASL_FAIL,
         R535},
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "LOGIN",
         {"dGVtcA=="},
         SMTPD_SASL_FAIL,
         R334U R454},
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "PLAIN not!b64",
         {NULL},
         SMTPD_SASL_FAIL,
         RB64},
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         0,
         "NOPE",
         {NULL},
         SMTPD_SASL_FAIL,
         "535 5.7.8 Error: authentication failed: Invalid authentication "
         "mechanism\n"},
        /* Filtered out: not accepted either. */
        {{"smtpd_sasl_auth_enable=yes", "smtpd_sasl_mechanism_filter=plain"},
         {0},
         0,
         0,
         "LOGIN",
         {NULL},
         SMTPD_SASL_FAIL,
         "535 5.7.8 Error: authentication failed: Invalid authentication "
         "mechanism\n"},
        /* The auth service is down. */
        {{"smtpd_sasl_auth_enable=yes"},
         {0},
         0,
         1,
         "PLAIN Z29vZA==",
         {NULL},
         SMTPD_SASL_FAIL,
         R454},
    };
    size_t i;

    (void) state;
    memset(longline, 'A', sizeof(longline) - 1);
    for (i = 0; i < NCASES(cases); i++) {
        struct fake f = {.replies = buf_new(64),
                         .rate_over = cases[i].rate_over,
                         .lines = cases[i].lines};
        struct smtpd_sasl_io io = {&f, fake_reply, fake_read, fake_rate,
                                   fake_pause};
        struct smtpd_sasl_cmd cmd = cases[i].cmd;
        struct smtpd_sasl ss;
        struct buf *err = buf_new(32);
        int ret;

        load(cases[i].params);
        assert_int_equal(smtpd_sasl_init(err), 0);
        mock_mechs_down = cases[i].mechs_down;
        mock_cancels = 0;
        smtpd_sasl_session_init(&ss, "unknown", "192.0.2.1");
        cmd.namaddr = "unknown[192.0.2.1]";
        ret = smtpd_sasl_auth_cmd(&ss, &io, &cmd, cases[i].arg,
                                  strlen(cases[i].arg));
        if (ret != cases[i].ret || strcmp(buf_str(f.replies), cases[i].want))
            fail_msg("case %zu \"%s\": got %d \"%s\", want %d \"%s\"", i,
                     cases[i].arg, ret, buf_str(f.replies), cases[i].ret,
                     cases[i].want);
        if (cases[i].method) {
            assert_true(smtpd_sasl_authenticated(&ss));
            assert_string_equal(buf_str(ss.method), cases[i].method);
            assert_string_equal(buf_str(ss.username), "alice@example.org");
        } else {
            assert_false(smtpd_sasl_authenticated(&ss));
        }
        if (mock_cancels != cases[i].cancels)
            fail_msg("case %zu: %d cancels, want %d", i, mock_cancels,
                     cases[i].cancels);
        smtpd_sasl_session_free(&ss);
        smtpd_sasl_free();
        buf_free(f.replies);
        buf_free(err);
    }
    mock_mechs_down = 0;
}

static void test_auth_session(void **state)
{
    const char *params[] = {"smtpd_sasl_auth_enable=yes", NULL};
    struct fake f = {.replies = buf_new(64)};
    struct smtpd_sasl_io io = {&f, fake_reply, fake_read, NULL, fake_pause};
    struct smtpd_sasl_cmd cmd = {.namaddr = "unknown[192.0.2.1]"};
    struct smtpd_sasl ss;
    struct buf *err = buf_new(32);
    int k;

    (void) state;
    load(params);
    assert_int_equal(smtpd_sasl_init(err), 0);
    smtpd_sasl_session_init(&ss, "unknown", "192.0.2.1");
    /* Failures slow down: 0, 1, 2 seconds. */
    for (k = 0; k < 3; k++)
        assert_int_equal(smtpd_sasl_auth_cmd(&ss, &io, &cmd, "PLAIN eA==", 10),
                         SMTPD_SASL_FAIL);
    assert_int_equal(f.paused, 3);
    assert_int_equal(ss.failures, 3);
    /* The list is asked once per TLS state. */
    mock_mechs_calls = 0;
    assert_int_equal(smtpd_sasl_auth_cmd(&ss, &io, &cmd, "PLAIN Z29vZA==", 14),
                     SMTPD_SASL_OK);
    assert_int_equal(mock_mechs_calls, 0);
    buf_reset(f.replies);
    assert_int_equal(smtpd_sasl_auth_cmd(&ss, &io, &cmd, "PLAIN Z29vZA==", 14),
                     SMTPD_SASL_FAIL);
    assert_string_equal(buf_str(f.replies),
                        "503 5.5.1 Error: already authenticated\n");
    /* STARTTLS forgets the login and the list. */
    smtpd_sasl_session_tls(&ss);
    assert_false(smtpd_sasl_authenticated(&ss));
    buf_reset(f.replies);
    smtpd_sasl_ehlo(&ss, 1, f.replies);
    assert_int_equal(mock_mechs_calls, 1);
    assert_string_equal(buf_str(f.replies),
                        "\n250 AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN");
    smtpd_sasl_session_free(&ss);
    smtpd_sasl_free();
    buf_free(f.replies);
    buf_free(err);
}

static void test_ehlo(void **state)
{
    static const struct {
        const char *params[4];
        int tls;
        const char *name;
        const char *want;
    } cases[] = {
        {{"smtpd_sasl_auth_enable=no"}, 0, "unknown", ""},
        {{"smtpd_sasl_auth_enable=yes"},
         0,
         "unknown",
         "\n250 AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN"},
        {{"smtpd_sasl_auth_enable=yes", "broken_sasl_auth_clients=yes",
          "smtpd_sasl_mechanism_filter=login plain"},
         0,
         "unknown",
         "\n250 AUTH PLAIN LOGIN\n250 AUTH=PLAIN LOGIN"},
        {{"smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=yes"},
         0,
         "unknown",
         ""},
        {{"smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=yes"},
         1,
         "unknown",
         "\n250 AUTH CRAM-MD5 PLAIN"},
        {{"smtpd_sasl_auth_enable=yes",
          "smtpd_sasl_exceptions_networks=192.0.2.0/24"},
         0,
         "unknown",
         ""},
        {{"smtpd_sasl_auth_enable=yes",
          "smtpd_sasl_exceptions_networks=.example.com"},
         0,
         "mail.example.com",
         ""},
        {{"smtpd_sasl_auth_enable=yes",
          "smtpd_sasl_exceptions_networks=198.51.100.0/24"},
         0,
         "unknown",
         "\n250 AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN"},
        /* A filter that leaves nothing: no AUTH line at all. */
        {{"smtpd_sasl_auth_enable=yes", "smtpd_sasl_mechanism_filter=gssapi"},
         0,
         "unknown",
         ""},
    };
    size_t i;

    (void) state;
    mock_tls_mechs = "CRAM-MD5 PLAIN";
    for (i = 0; i < NCASES(cases); i++) {
        struct buf *out = buf_new(64);
        struct buf *err = buf_new(32);
        struct smtpd_sasl ss;

        load(cases[i].params);
        assert_int_equal(smtpd_sasl_init(err), 0);
        smtpd_sasl_session_init(&ss, cases[i].name, "192.0.2.1");
        smtpd_sasl_ehlo(&ss, cases[i].tls, out);
        if (strcmp(buf_str(out), cases[i].want) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, buf_str(out),
                     cases[i].want);
        smtpd_sasl_session_free(&ss);
        smtpd_sasl_free();
        buf_free(out);
        buf_free(err);
    }
    /* Offered only over TLS: 538 before STARTTLS when STARTTLS is there. */
    {
        const char *params[] = {"smtpd_sasl_auth_enable=yes", NULL};
        struct fake f = {.replies = buf_new(64)};
        struct smtpd_sasl_io io = {&f, fake_reply, fake_read, NULL, NULL};
        struct smtpd_sasl_cmd cmd = {.namaddr = "unknown[192.0.2.1]",
                                     .tls_offered = 1};
        struct buf *err = buf_new(32);
        struct smtpd_sasl ss;

        mock_mechs = "SCRAM-SHA-256 CRAM-MD5";
        load(params);
        assert_int_equal(smtpd_sasl_init(err), 0);
        smtpd_sasl_session_init(&ss, "unknown", "192.0.2.1");
        assert_int_equal(smtpd_sasl_auth_cmd(&ss, &io, &cmd, "PLAIN", 5),
                         SMTPD_SASL_FAIL);
        assert_string_equal(buf_str(f.replies), R538);
        smtpd_sasl_session_free(&ss);
        smtpd_sasl_free();
        buf_free(f.replies);
        buf_free(err);
    }
    mock_mechs = mock_tls_mechs = "SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN";
}

static void test_mail_and_log_fields(void **state)
{
    struct smtpd_sasl ss;
    struct buf *out = buf_new(64);

    (void) state;
    load(NULL);
    smtpd_sasl_session_init(&ss, "unknown", "192.0.2.1");
    smtpd_sasl_log_fields(&ss, out);
    assert_string_equal(buf_str(out), "");
    smtpd_sasl_mail(&ss, "<>");
    assert_int_equal(ss.have_sender, 0);
    smtpd_sasl_mail(&ss, "bob@example.org\r\nforged");
    buf_set(ss.method, "PLAIN");
    buf_set(ss.username, "alice@example.org");
    smtpd_sasl_log_fields(&ss, out);
    assert_string_equal(buf_str(out),
                        ", sasl_method=PLAIN, sasl_username=alice@example.org"
                        ", sasl_sender=bob@example.org??forged");
    smtpd_sasl_mail_reset(&ss);
    buf_reset(out);
    smtpd_sasl_log_fields(&ss, out);
    assert_string_equal(buf_str(out),
                        ", sasl_method=PLAIN, sasl_username=alice@example.org");
    /* STARTTLS forgets the login. */
    smtpd_sasl_session_tls(&ss);
    assert_int_equal(smtpd_sasl_authenticated(&ss), 0);
    smtpd_sasl_session_free(&ss);
    buf_free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_delay),
        cmocka_unit_test(test_b64_syntax),
        cmocka_unit_test(test_client_reason),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_init_errors),
        cmocka_unit_test(test_auth_cmd_replies),
        cmocka_unit_test(test_auth_session),
        cmocka_unit_test(test_ehlo),
        cmocka_unit_test(test_mail_and_log_fields),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
