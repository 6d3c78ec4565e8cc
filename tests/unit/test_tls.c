/*
 * test_tls.c - lib/tls: contexts, protocol and cipher settings, handshakes
 * and data through struct stream, certificate checks, session resumption,
 * and peers that send garbage or stall.
 *
 * A test CA, a leaf signed by it, a self-signed certificate and spare keys
 * are made once with the openssl command in a scratch folder. Handshakes
 * run over socketpairs: the server side is a forked child that reports each
 * connection's result through a pipe; the client side runs in the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"
#include "msg.h"
#include "stream.h"
#include "tls.h"

static char tmpdir[256];
static char logpath[300];

static const char *path(const char *name)
{
    static char paths[64][400];
    static int next;
    char *p = paths[next++ % 64];

    snprintf(p, 400, "%s/%s", tmpdir, name);
    return p;
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
        abort();
    }
}

static char *slurp(const char *file)
{
    FILE *fp = fopen(file, "r");
    struct buf *b = buf_new(1024);
    char tmp[4096];
    size_t n;

    if (fp) {
        while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
            buf_append(b, tmp, n);
        fclose(fp);
    }
    return buf_steal(b);
}

static void log_reset(void)
{
    FILE *fp = fopen(logpath, "w");

    if (fp)
        fclose(fp);
}

static int log_has(const char *text)
{
    char *all = slurp(logpath);
    int found = strstr(all, text) != NULL;

    mem_free(all);
    return found;
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000
           + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* The openssl "sha256 Fingerprint=AB:.." of FILE, just the digest. */
static void cli_fingerprint_md(const char *file, const char *md, char *out,
                               size_t len)
{
    char *text;
    char *eq;

    run("openssl x509 -noout -fingerprint -%s -in %s > %s", md, file,
        path("fp.txt"));
    text = slurp(path("fp.txt"));
    eq = strchr(text, '=');
    assert_non_null(eq);
    eq[strcspn(eq, "\r\n")] = 0;
    snprintf(out, len, "%s", eq + 1);
    mem_free(text);
}

static void cli_fingerprint(const char *file, char *out, size_t len)
{
    cli_fingerprint_md(file, "sha256", out, len);
}

static int group_setup(void **state)
{
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    FILE *fp;

    (void) state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tls.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(logpath, sizeof(logpath), "%s/maillog", tmpdir);
    msg_init("test_tls", 0);
    if (msg_set_logfile(logpath) < 0)
        return -1;

    fp = fopen(path("leaf.ext"), "w");
    fprintf(fp, "basicConstraints=CA:FALSE\n"
                "subjectAltName=DNS:mail.example.com,DNS:*.wild.example.com\n");
    fclose(fp);
    run("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 "
        "-subj '/CN=Postern Test CA' "
        "-addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null",
        tmpdir, ec);
    run("cd %s && openssl req -new %s -keyout leaf.key -out leaf.csr "
        "-subj '/CN=mail.example.com' 2>/dev/null",
        tmpdir, ec);
    run("cd %s && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial -out leaf.pem -days 2 -extfile leaf.ext 2>/dev/null",
        tmpdir);
    run("cd %s && openssl req -x509 %s -keyout self.key -out self.pem -days 2 "
        "-subj '/CN=self.example.com' 2>/dev/null",
        tmpdir, ec);
    run("cd %s && openssl genpkey -algorithm EC -pkeyopt "
        "ec_paramgen_curve:P-256 -out other.key 2>/dev/null",
        tmpdir);
    run("cd %s && openssl pkey -in leaf.key -aes256 -passout pass:secret "
        "-out enc.key 2>/dev/null",
        tmpdir);
    /* An RSA leaf from the same CA, for a dual-algorithm chain file. */
    run("cd %s && openssl req -new -newkey rsa:2048 -nodes -keyout rsa.key "
        "-out rsa.csr -subj '/CN=mail.example.com' 2>/dev/null && "
        "openssl x509 -req -in rsa.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial -out rsa.pem -days 2 -extfile leaf.ext 2>/dev/null",
        tmpdir);
    run("cd %s && cat leaf.key leaf.pem ca.pem rsa.key rsa.pem ca.pem "
        "> dual.pem",
        tmpdir);
    /* chain_files layouts: all in one file, and key / certs split. */
    run("cd %s && cat leaf.key leaf.pem ca.pem > chain.pem", tmpdir);
    run("cd %s && cat leaf.pem ca.pem > certs.pem", tmpdir);
    run("cd %s && cat leaf.pem leaf.key > certfirst.pem", tmpdir);
    run("cd %s && echo 'not a certificate' > junk.pem", tmpdir);
    return 0;
}

static int group_teardown(void **state)
{
    (void) state;
    msg_set_logfile("");
    if (tmpdir[0] && getenv("TEST_TLS_KEEP") == NULL)
        run("rm -rf %s", tmpdir);
    return 0;
}

/* ---- configurations ----------------------------------------------------- */

static struct tls_config server_cfg(void)
{
    struct tls_config c;

    memset(&c, 0, sizeof(c));
    c.cert_file = path("leaf.pem");
    c.key_file = path("leaf.key");
    c.protocols = ">=TLSv1.2";
    c.ciphers = "medium";
    c.exclude = "";
    c.verify_depth = 9;
    c.loglevel = 1;
    c.session_cache_timeout = 3600;
    return c;
}

static struct tls_config client_cfg(void)
{
    struct tls_config c;

    memset(&c, 0, sizeof(c));
    c.CAfile = path("ca.pem");
    c.protocols = ">=TLSv1.2";
    c.ciphers = "medium";
    c.verify_depth = 9;
    c.loglevel = 1;
    c.session_cache_timeout = 3600;
    return c;
}

static struct tls_ctx *must_server(const struct tls_config *cfg)
{
    struct buf *err = buf_new(100);
    struct tls_ctx *ctx = tls_server_new(cfg, err);

    if (ctx == NULL)
        fail_msg("tls_server_new: %s", buf_str(err));
    buf_free(err);
    return ctx;
}

static struct tls_ctx *must_client(const struct tls_config *cfg)
{
    struct buf *err = buf_new(100);
    struct tls_ctx *ctx = tls_client_new(cfg, err);

    if (ctx == NULL)
        fail_msg("tls_client_new: %s", buf_str(err));
    buf_free(err);
    return ctx;
}

/* ---- the server child --------------------------------------------------- */

struct result {
    int ret;
    struct tls_info info;
    char err[512];
};

#define BULK 300000

static unsigned char pattern(size_t i)
{
    return (unsigned char) ((i * 7 + i / 251) & 0xff);
}

/*
 * Serve: "PING x" -> "PONG x"; "BULK n" -> read n pattern bytes, answer
 * "GOT n ok|bad"; "SEND n" -> n pattern bytes; "QUIT" or end: done.
 */
static void serve_session(struct stream *s)
{
    struct buf *line = buf_new(100);
    unsigned char chunk[4096];

    while (stream_read_line(s, line, 1000) > 0) {
        if (strncmp(buf_str(line), "PING ", 5) == 0) {
            stream_printf(s, "PONG %s\r\n", buf_str(line) + 5);
        } else if (strncmp(buf_str(line), "BULK ", 5) == 0) {
            size_t n = strtoul(buf_str(line) + 5, NULL, 10);
            size_t i = 0;
            int ok = 1;

            while (i < n) {
                size_t want = n - i < sizeof(chunk) ? n - i : sizeof(chunk);
                size_t j;

                if (stream_read_exact(s, chunk, want) < 0) {
                    ok = 0;
                    break;
                }
                for (j = 0; j < want; j++)
                    if (chunk[j] != pattern(i + j))
                        ok = 0;
                i += want;
            }
            stream_printf(s, "GOT %zu %s\r\n", i, ok ? "ok" : "bad");
        } else if (strncmp(buf_str(line), "SEND ", 5) == 0) {
            size_t n = strtoul(buf_str(line) + 5, NULL, 10);
            size_t i;

            for (i = 0; i < n; i++)
                stream_putc(s, pattern(i));
        } else {
            break;
        }
        if (stream_flush(s) < 0)
            break;
    }
    buf_free(line);
}

/* Fork a server handling FDS[0..N-1] in turn; results go to *RESFD. */
static pid_t server_child(struct tls_ctx *sctx, int *fds, const int *others,
                          int n, int timeout, int *resfd)
{
    int pfd[2];
    pid_t pid;

    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int i;

        close(pfd[0]);
        alarm(30);
        for (i = 0; i < n; i++)
            close(others[i]); /* the client's ends: EOF must reach us */
        for (i = 0; i < n; i++) {
            struct stream *s = stream_open(fds[i]);
            struct buf *err = buf_new(100);
            struct result r;

            memset(&r, 0, sizeof(r));
            stream_set_timeout(s, 10);
            r.ret = tls_server_start(sctx, s, timeout, "client[127.0.0.1]",
                                     &r.info, err);
            snprintf(r.err, sizeof(r.err), "%s", buf_str(err));
            if (write(pfd[1], &r, sizeof(r)) != sizeof(r))
                _exit(2);
            if (r.ret == 0)
                serve_session(s);
            stream_close(s);
            buf_free(err);
        }
        _exit(0);
    }
    close(pfd[1]);
    *resfd = pfd[0];
    return pid;
}

static void read_result(int fd, struct result *r)
{
    assert_int_equal(read(fd, r, sizeof(*r)), (ssize_t) sizeof(*r));
}

static void wait_child(pid_t pid)
{
    int status;

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Exchange data both ways through the client stream. */
static void client_session(struct stream *s)
{
    struct buf *line = buf_new(100);
    size_t i;
    unsigned char chunk[4096];

    assert_int_equal(stream_puts(s, "PING hello\r\n"), 0);
    assert_true(stream_read_line(s, line, 1000) > 0);
    assert_string_equal(buf_str(line), "PONG hello");

    assert_int_equal(stream_printf(s, "BULK %d\r\n", BULK), 0);
    for (i = 0; i < BULK; i++)
        assert_int_equal(stream_putc(s, pattern(i)), 0);
    assert_true(stream_read_line(s, line, 1000) > 0);
    assert_string_equal(buf_str(line), "GOT 300000 ok");

    assert_int_equal(stream_printf(s, "SEND %d\r\n", BULK), 0);
    assert_int_equal(stream_flush(s), 0);
    for (i = 0; i < BULK;) {
        size_t want = BULK - i < sizeof(chunk) ? BULK - i : sizeof(chunk);
        size_t j;

        assert_int_equal(stream_read_exact(s, chunk, want), 0);
        for (j = 0; j < want; j++)
            assert_int_equal(chunk[j], pattern(i + j));
        i += want;
    }
    assert_int_equal(stream_puts(s, "QUIT\r\n"), 0);
    assert_int_equal(stream_flush(s), 0);
    /* The server closes with close_notify: end of input. */
    assert_int_equal(stream_read_line(s, line, 1000), -1);
    assert_int_equal(stream_reason(s), STREAM_EOF);
    buf_free(line);
}

struct client_args {
    const char *servername;
    const char *match_names;
    const char *fingerprints;
    const char *cache_key;
    int talk; /* run client_session after the handshake */
};

/*
 * One connection: server child with SCTX, client with CCTX. Fills the
 * server's result in *SR and the client's in *CR.
 */
static void connect_pair(struct tls_ctx *sctx, struct tls_ctx *cctx,
                         const struct client_args *a, struct result *sr,
                         struct result *cr)
{
    int sv[2];
    int resfd;
    pid_t pid;
    struct stream *s;
    struct buf *err = buf_new(100);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid = server_child(sctx, &sv[1], &sv[0], 1, 5, &resfd);
    close(sv[1]);
    s = stream_open(sv[0]);
    stream_set_timeout(s, 10);
    memset(cr, 0, sizeof(*cr));
    cr->ret = tls_client_start(cctx, s, 5, "mail.example.com[127.0.0.1]:25",
                               a->servername, a->match_names, a->fingerprints,
                               a->cache_key, &cr->info, err);
    snprintf(cr->err, sizeof(cr->err), "%s", buf_str(err));
    if (cr->ret == 0 && a->talk)
        client_session(s);
    stream_close(s);
    read_result(resfd, sr);
    close(resfd);
    wait_child(pid);
    buf_free(err);
}

/* ---- tests: settings ---------------------------------------------------- */

static void test_check_protocols(void **state)
{
    static const struct {
        const char *spec;
        int ok;
        const char *msg;
    } cases[] = {
        {"", 1, NULL},
        {">=TLSv1.2", 1, NULL},
        {"<=TLSv1.3", 1, NULL},
        {"!SSLv2, !SSLv3", 1, NULL},
        {"!SSLv2:!SSLv3:!TLSv1 !TLSv1.1", 1, NULL},
        {"TLSv1.2 TLSv1.3", 1, NULL},
        {">=TLSv1.2, <=TLSv1.2", 1, NULL},
        {"tlsv1.3", 1, NULL},
        {"TLSv1.4", 0, "invalid TLS protocol \"TLSv1.4\""},
        {">=TLSv9", 0, "invalid TLS protocol \">=TLSv9\""},
        {"!TLSv1 !TLSv1.1 !TLSv1.2 !TLSv1.3", 0, "leaves no TLS version"},
        {">=TLSv1.3 <=TLSv1.2", 0, "leaves no TLS version"},
        {"SSLv3", 0, "leaves no TLS version"},
    };
    struct buf *err = buf_new(100);
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got;

        buf_reset(err);
        got = tls_check_protocols(cases[i].spec, err);
        if (got != (cases[i].ok ? 0 : -1))
            fail_msg("\"%s\": got %d (%s)", cases[i].spec, got, buf_str(err));
        if (cases[i].msg && strstr(buf_str(err), cases[i].msg) == NULL)
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].spec,
                     buf_str(err), cases[i].msg);
    }
    buf_free(err);
}

static void test_check_grade(void **state)
{
    static const struct {
        const char *grade;
        int ok;
    } cases[] = {
        {"high", 1}, {"medium", 1}, {"low", 1},    {"export", 1},  {"null", 1},
        {"HIGH", 1}, {"", 1},       {"strong", 0}, {"medium ", 0}, {"super", 0},
    };
    struct buf *err = buf_new(100);
    struct tls_config c;
    struct tls_ctx *ctx;
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(err);
        if (tls_check_grade(cases[i].grade, err) != (cases[i].ok ? 0 : -1))
            fail_msg("grade \"%s\": want %s", cases[i].grade,
                     cases[i].ok ? "ok" : "error");
        if (!cases[i].ok)
            assert_non_null(strstr(buf_str(err), "invalid TLS cipher grade"));
    }
    /* Contexts refuse a bad grade and bad protocols with the same words. */
    c = server_cfg();
    c.ciphers = "strong";
    buf_reset(err);
    assert_null(tls_server_new(&c, err));
    assert_non_null(
        strstr(buf_str(err), "invalid TLS cipher grade \"strong\""));
    c = server_cfg();
    c.protocols = "TLSv2";
    buf_reset(err);
    assert_null(tls_server_new(&c, err));
    assert_non_null(strstr(buf_str(err), "invalid TLS protocol \"TLSv2\""));
    c = client_cfg();
    c.fingerprint_digest = "sha999";
    buf_reset(err);
    assert_null(tls_client_new(&c, err));
    assert_non_null(strstr(buf_str(err), "unknown fingerprint digest"));
    /* Every grade builds a context. */
    for (i = 0; i < 5; i++) {
        c = server_cfg();
        c.ciphers = cases[i].grade;
        ctx = must_server(&c);
        tls_ctx_free(ctx);
    }
    buf_free(err);
}

static void expect_ctx_error(const struct tls_config *c, int server,
                             const char *want)
{
    struct buf *err = buf_new(100);
    struct tls_ctx *ctx =
        server ? tls_server_new(c, err) : tls_client_new(c, err);

    if (ctx != NULL)
        fail_msg("context made, wanted error \"%s\"", want);
    if (strstr(buf_str(err), want) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", buf_str(err), want);
    buf_free(err);
}

static void test_cert_errors(void **state)
{
    struct tls_config c;
    char want[600];

    (void) state;
    c = server_cfg();
    c.cert_file = path("missing.pem");
    snprintf(want, sizeof(want),
             "cannot load certificate %s: No such file or directory",
             path("missing.pem"));
    expect_ctx_error(&c, 1, want);

    c = server_cfg();
    c.key_file = path("missing.key");
    snprintf(want, sizeof(want),
             "cannot load private key %s: No such file or directory",
             path("missing.key"));
    expect_ctx_error(&c, 1, want);

    c = server_cfg();
    c.key_file = path("other.key");
    snprintf(want, sizeof(want),
             "the private key in %s does not match the certificate in %s",
             path("other.key"), path("leaf.pem"));
    expect_ctx_error(&c, 1, want);

    c = server_cfg();
    c.key_file = path("enc.key");
    expect_ctx_error(&c, 1, "the private key is encrypted");

    c = server_cfg();
    c.cert_file = path("junk.pem");
    expect_ctx_error(&c, 1, "no PEM data found");

    c = server_cfg();
    c.key_file = path("leaf.pem"); /* certificate, no key in it */
    expect_ctx_error(&c, 1, "no private key in it");

    c = server_cfg();
    c.cert_file = "";
    c.key_file = "";
    expect_ctx_error(&c, 1, "no server certificate configured");

    c = server_cfg();
    c.chain_files = path("certfirst.pem");
    expect_ctx_error(&c, 1, "a certificate comes before its private key");

    c = server_cfg();
    c.chain_files = path("other.key");
    expect_ctx_error(&c, 1, "no certificate found after the private key");

    c = client_cfg();
    c.CAfile = path("missing-ca.pem");
    expect_ctx_error(&c, 0, "cannot load CA certificates from");

    /* Key and certificate in one file (key_file empty = cert_file). */
    run("cd %s && cat leaf.pem leaf.key > both.pem", tmpdir);
    c = server_cfg();
    c.cert_file = path("both.pem");
    c.key_file = "";
    tls_ctx_free(must_server(&c));
    /* chain_files win over cert_file, one file or several. */
    c = server_cfg();
    c.cert_file = path("missing.pem");
    c.chain_files = path("chain.pem");
    tls_ctx_free(must_server(&c));
}

/* ---- tests: handshakes -------------------------------------------------- */

static void test_handshake_and_data(void **state)
{
    struct tls_config sc = server_cfg();
    struct tls_config cc = client_cfg();
    struct tls_ctx *sctx;
    struct tls_ctx *cctx;
    struct client_args a = {"mail.example.com", NULL, NULL, NULL, 1};
    struct result sr;
    struct result cr;
    struct buf *sum = buf_new(100);
    char line[600];

    (void) state;
    log_reset();
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(sr.ret, 0);
    assert_int_equal(cr.ret, 0);
    assert_string_equal(cr.info.protocol, "TLSv1.3");
    assert_string_equal(sr.info.protocol, "TLSv1.3");
    assert_string_equal(cr.info.cipher, sr.info.cipher);
    assert_true(cr.info.cipher_bits >= 128);
    assert_int_equal(cr.info.reused, 0);
    assert_int_equal(cr.info.peer_has_cert, 1);
    assert_int_equal(cr.info.peer_trusted, 1);
    assert_int_equal(cr.info.peer_verified, 1);
    assert_string_equal(cr.info.peer_cn, "mail.example.com");
    assert_string_equal(cr.info.peer_issuer_cn, "Postern Test CA");
    assert_int_equal(sr.info.peer_has_cert, 0);
    /* SNI: the client sent the name, the server saw it. */
    assert_string_equal(sr.info.servername, "mail.example.com");

    /* The log lines, Postfix's shape. */
    tls_info_summary(sum, &sr.info);
    snprintf(line, sizeof(line), "%s with cipher %s (%d/%d bits)",
             sr.info.protocol, sr.info.cipher, sr.info.cipher_bits,
             sr.info.cipher_alg_bits);
    assert_string_equal(buf_str(sum), line);
    assert_true(log_has("Anonymous TLS connection established from "
                        "client[127.0.0.1]: TLSv1.3 with cipher "));
    buf_reset(sum);
    tls_info_summary(sum, &cr.info);
    snprintf(line, sizeof(line),
             ": Verified TLS connection established to "
             "mail.example.com[127.0.0.1]:25: %s\n",
             buf_str(sum));
    assert_true(log_has(line));

    /* Loglevel 0: nothing on success. */
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);
    log_reset();
    sc.loglevel = 0;
    cc.loglevel = 0;
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(sr.ret, 0);
    assert_int_equal(cr.ret, 0);
    assert_false(log_has("TLS connection established"));
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);

    /* Loglevel 2: handshake steps. */
    log_reset();
    sc.loglevel = 2;
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(sr.ret, 0);
    assert_true(log_has("setting up TLS connection from client[127.0.0.1]"));
    assert_true(log_has("SSL_accept:"));
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);
    buf_free(sum);
}

static void test_chain_files(void **state)
{
    struct tls_config sc = server_cfg();
    struct tls_config cc = client_cfg();
    struct tls_ctx *sctx;
    struct tls_ctx *cctx;
    struct client_args a = {"mail.example.com", NULL, NULL, NULL, 0};
    struct result sr;
    struct result cr;
    char files[800];
    int round;

    (void) state;
    for (round = 0; round < 2; round++) {
        sc = server_cfg();
        sc.cert_file = "";
        sc.key_file = "";
        if (round == 0) {
            sc.chain_files = path("chain.pem");
        } else {
            snprintf(files, sizeof(files), "%s, %s", path("leaf.key"),
                     path("certs.pem"));
            sc.chain_files = files;
        }
        sctx = must_server(&sc);
        cctx = must_client(&cc);
        connect_pair(sctx, cctx, &a, &sr, &cr);
        assert_int_equal(sr.ret, 0);
        assert_int_equal(cr.ret, 0);
        assert_int_equal(cr.info.peer_verified, 1);
        tls_ctx_free(sctx);
        tls_ctx_free(cctx);
    }
}

/* One chain file with an ECDSA and an RSA key: both are offered. */
static void test_dual_chain(void **state)
{
    struct tls_config sc = server_cfg();
    struct tls_config cc = client_cfg();
    struct tls_ctx *sctx;
    struct tls_ctx *cctx;
    struct client_args a = {"mail.example.com", NULL, NULL, NULL, 1};
    struct result sr;
    struct result cr;
    int round;

    (void) state;
    sc.cert_file = "";
    sc.key_file = "";
    sc.chain_files = path("dual.pem");
    sc.protocols = "<=TLSv1.2";
    sctx = must_server(&sc);
    for (round = 0; round < 2; round++) {
        cc.exclude = round == 0 ? "aRSA" : "aECDSA";
        cctx = must_client(&cc);
        connect_pair(sctx, cctx, &a, &sr, &cr);
        if (cr.ret != 0)
            fail_msg("round %d: %s / %s", round, cr.err, sr.err);
        assert_non_null(
            strstr(cr.info.cipher, round == 0 ? "-ECDSA-" : "-RSA-"));
        assert_int_equal(cr.info.peer_verified, 1);
        tls_ctx_free(cctx);
    }
    tls_ctx_free(sctx);
}

static void test_protocol_selection(void **state)
{
    static const struct {
        const char *server;
        const char *client;
        const char *want; /* NULL: the handshake must fail */
    } cases[] = {
        {">=TLSv1.2", ">=TLSv1.2", "TLSv1.3"},
        {"!TLSv1.3", ">=TLSv1.2", "TLSv1.2"},
        {"<=TLSv1.2", "", "TLSv1.2"},
        {">=TLSv1.2", "<=TLSv1.2", "TLSv1.2"},
        {"!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", "TLSv1.2", "TLSv1.2"},
        {"!TLSv1.2", "<=TLSv1.2", NULL},
        {">=TLSv1.3", "!TLSv1.3", NULL},
    };
    struct client_args a = {"mail.example.com", NULL, NULL, NULL, 0};
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tls_config sc = server_cfg();
        struct tls_config cc = client_cfg();
        struct tls_ctx *sctx;
        struct tls_ctx *cctx;
        struct result sr;
        struct result cr;

        sc.protocols = cases[i].server;
        cc.protocols = cases[i].client;
        sctx = must_server(&sc);
        cctx = must_client(&cc);
        log_reset();
        connect_pair(sctx, cctx, &a, &sr, &cr);
        if (cases[i].want) {
            if (sr.ret != 0 || cr.ret != 0)
                fail_msg("server %s client %s: %s / %s", cases[i].server,
                         cases[i].client, sr.err, cr.err);
            assert_string_equal(cr.info.protocol, cases[i].want);
        } else {
            assert_int_equal(sr.ret, -1);
            assert_int_equal(cr.ret, -1);
            assert_true(sr.err[0] != 0);
            assert_true(cr.err[0] != 0);
            assert_true(log_has("]: SSL_accept error from "
                                "client[127.0.0.1]: -1\n"));
            assert_true(log_has("]: SSL_connect error to "
                                "mail.example.com[127.0.0.1]:25: "));
            assert_true(log_has("warning: TLS library problem: error:"));
        }
        tls_ctx_free(sctx);
        tls_ctx_free(cctx);
    }
}

static void test_cipher_grades(void **state)
{
    struct client_args a = {"mail.example.com", NULL, NULL, NULL, 0};
    struct tls_config sc;
    struct tls_config cc;
    struct tls_ctx *sctx;
    struct tls_ctx *cctx;
    struct result sr;
    struct result cr;

    (void) state;
    /* TLS 1.2, high grade without AES-GCM and ChaCha20. */
    sc = server_cfg();
    sc.protocols = "<=TLSv1.2";
    sc.ciphers = "high";
    sc.exclude = "AESGCM, CHACHA20";
    cc = client_cfg();
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.ret, 0);
    assert_string_equal(cr.info.protocol, "TLSv1.2");
    assert_null(strstr(cr.info.cipher, "GCM"));
    assert_null(strstr(cr.info.cipher, "CHACHA"));
    assert_non_null(strstr(cr.info.cipher, "ECDSA"));
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);

    /* TLS 1.3 suites honour the exclusion list too. */
    sc = server_cfg();
    sc.exclude = "TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256";
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.ret, 0);
    assert_string_equal(cr.info.cipher, "TLS_AES_128_GCM_SHA256");
    assert_int_equal(cr.info.cipher_bits, 128);
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);

    /* No common cipher: the handshake fails on both sides. */
    sc = server_cfg();
    sc.protocols = "<=TLSv1.2";
    sc.exclude = "AESGCM";
    cc = client_cfg();
    cc.exclude = "AES CHACHA20 CAMELLIA ARIA";
    expect_ctx_error(&cc, 0, "no cipher match");
    cc.exclude = "SHA1 SHA256 SHA384 CHACHA20 CAMELLIA ARIA AESCCM";
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(sr.ret, -1);
    assert_int_equal(cr.ret, -1);
    assert_non_null(strstr(sr.err, "no shared cipher"));
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);
}

static void test_verification(void **state)
{
    struct tls_config sc = server_cfg();
    struct tls_config cc = client_cfg();
    struct tls_ctx *sctx;
    struct tls_ctx *cctx;
    struct result sr;
    struct result cr;
    char fp[200];
    char fps[400];
    struct client_args a = {NULL, NULL, NULL, NULL, 0};

    (void) state;
    cli_fingerprint(path("leaf.pem"), fp, sizeof(fp));
    sctx = must_server(&sc);
    cctx = must_client(&cc);

    /* Name from SERVERNAME. */
    a.servername = "mail.example.com";
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.ret, 0);
    assert_int_equal(cr.info.peer_trusted, 1);
    assert_int_equal(cr.info.peer_verified, 1);
    assert_string_equal(cr.info.peer_fingerprint, fp);
    assert_int_equal(cr.info.peer_fingerprint_ok, 0);

    /* A name that is not in the certificate: trusted, not verified. */
    a.servername = "mx.example.org";
    log_reset();
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.ret, 0);
    assert_int_equal(cr.info.peer_trusted, 1);
    assert_int_equal(cr.info.peer_name_matched, 0);
    assert_int_equal(cr.info.peer_verified, 0);
    assert_true(log_has("Trusted TLS connection established to "));

    /* MATCH_NAMES wins: a parent domain with a dot, and a wildcard. */
    a.match_names = "nomatch.example.net .example.com";
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.info.peer_verified, 1);
    a.match_names = "smtp.wild.example.com";
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.info.peer_verified, 1);
    /* An address literal is never sent as SNI nor matched by itself. */
    a.match_names = NULL;
    a.servername = "127.0.0.1";
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.ret, 0);
    assert_string_equal(sr.info.servername, "");
    assert_int_equal(cr.info.peer_verified, 0);
    a.servername = "mx.example.org";
    a.match_names = "smtp.wild.example.com";
    a.match_names = "a.b.wild.example.com example.com";
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.info.peer_verified, 0);

    /* Fingerprints: listed (any case), or not. */
    a.match_names = NULL;
    snprintf(fps, sizeof(fps), "00:11:22, %s", fp);
    for (size_t i = 0; fps[i]; i++)
        if (fps[i] >= 'A' && fps[i] <= 'F')
            fps[i] = (char) (fps[i] - 'A' + 'a');
    a.fingerprints = fps;
    log_reset();
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.info.peer_fingerprint_ok, 1);
    assert_true(log_has("Verified TLS connection established to "));
    a.fingerprints = "00:11:22:33";
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.info.peer_fingerprint_ok, 0);
    /* The public-key digest counts too. */
    a.fingerprints = cr.info.peer_pkey_fingerprint;
    {
        char pk[200];

        snprintf(pk, sizeof(pk), "%s", cr.info.peer_pkey_fingerprint);
        a.fingerprints = pk;
        connect_pair(sctx, cctx, &a, &sr, &cr);
        assert_int_equal(cr.info.peer_fingerprint_ok, 1);
    }
    a.fingerprints = NULL;
    tls_ctx_free(cctx);

    /* Other digests: sha1 and md5 as fingerprint_digest. */
    {
        static const char *mds[] = {"sha1", "md5"};
        size_t m;

        for (m = 0; m < 2; m++) {
            char want[200];

            cc.fingerprint_digest = mds[m];
            cctx = must_client(&cc);
            cli_fingerprint_md(path("leaf.pem"), mds[m], want, sizeof(want));
            a.fingerprints = want;
            connect_pair(sctx, cctx, &a, &sr, &cr);
            assert_string_equal(cr.info.peer_fingerprint, want);
            assert_int_equal(cr.info.peer_fingerprint_ok, 1);
            tls_ctx_free(cctx);
        }
        a.fingerprints = NULL;
        cc.fingerprint_digest = NULL;
    }

    /* No CA: untrusted, however well the name matches. */
    cc.CAfile = "";
    cctx = must_client(&cc);
    a.servername = "mail.example.com";
    log_reset();
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.ret, 0);
    assert_int_equal(cr.info.peer_trusted, 0);
    assert_int_equal(cr.info.peer_verified, 0);
    assert_int_equal(cr.info.peer_name_matched, 1);
    assert_true(log_has("Untrusted TLS connection established to "));
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);

    /* A self-signed server against our CA: untrusted, with the reason. */
    sc.cert_file = path("self.pem");
    sc.key_file = path("self.key");
    cc = client_cfg();
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    a.servername = "self.example.com";
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.ret, 0);
    assert_int_equal(cr.info.peer_trusted, 0);
    assert_int_equal(cr.info.peer_verified, 0);
    assert_int_equal(cr.info.peer_name_matched, 1);
    assert_string_equal(cr.info.verify_error, "self-signed certificate");
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);

    /* CA path (hashed folder). */
    run("mkdir -p %s/capath && cp %s %s/capath/ && openssl rehash "
        "%s/capath 2>/dev/null",
        tmpdir, path("ca.pem"), tmpdir, tmpdir);
    sc = server_cfg();
    cc = client_cfg();
    cc.CAfile = "";
    cc.CApath = path("capath");
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    a.servername = "mail.example.com";
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(cr.info.peer_verified, 1);
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);
}

static void test_client_certificate(void **state)
{
    struct tls_config sc = server_cfg();
    struct tls_config cc = client_cfg();
    struct tls_ctx *sctx;
    struct tls_ctx *cctx;
    struct result sr;
    struct result cr;
    struct client_args a = {"mail.example.com", NULL, NULL, NULL, 1};
    char fp[200];

    (void) state;
    cli_fingerprint(path("leaf.pem"), fp, sizeof(fp));
    sc.ask_ccert = 1;
    sc.CAfile = path("ca.pem");
    cc.cert_file = path("leaf.pem");
    cc.key_file = path("leaf.key");
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    log_reset();
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(sr.ret, 0);
    assert_int_equal(sr.info.peer_has_cert, 1);
    assert_int_equal(sr.info.peer_trusted, 1);
    assert_string_equal(sr.info.peer_cn, "mail.example.com");
    assert_string_equal(sr.info.peer_fingerprint, fp);
    assert_true(log_has("Trusted TLS connection established from "
                        "client[127.0.0.1]: "));
    tls_ctx_free(cctx);

    /* A self-signed client certificate: accepted, untrusted. */
    cc.cert_file = path("self.pem");
    cc.key_file = path("self.key");
    cctx = must_client(&cc);
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(sr.ret, 0);
    assert_int_equal(sr.info.peer_has_cert, 1);
    assert_int_equal(sr.info.peer_trusted, 0);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* Two connections to one server process; the second must resume. */
static void resume_round(const char *protocols, long timeout, int want)
{
    struct tls_config sc = server_cfg();
    struct tls_config cc = client_cfg();
    struct tls_ctx *sctx;
    struct tls_ctx *cctx;
    int sv[2][2];
    int child_fds[2];
    int parent_fds[2];
    int resfd;
    pid_t pid;
    int i;

    sc.protocols = protocols;
    sc.session_cache_timeout = timeout;
    cc.session_cache_timeout = timeout;
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    for (i = 0; i < 2; i++) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
        child_fds[i] = sv[i][1];
        parent_fds[i] = sv[i][0];
    }
    pid = server_child(sctx, child_fds, parent_fds, 2, 5, &resfd);
    for (i = 0; i < 2; i++) {
        struct stream *s;
        struct buf *err = buf_new(100);
        struct tls_info info;
        struct result sr;

        close(sv[i][1]);
        s = stream_open(sv[i][0]);
        stream_set_timeout(s, 10);
        if (tls_client_start(cctx, s, 5, "mail.example.com[127.0.0.1]:25",
                             "mail.example.com", NULL, NULL,
                             "mail.example.com:25", &info, err)
            < 0)
            fail_msg("%s", buf_str(err));
        client_session(s);
        stream_close(s);
        read_result(resfd, &sr);
        assert_int_equal(sr.ret, 0);
        assert_int_equal(info.reused, i == 1 ? want : 0);
        assert_int_equal(sr.info.reused, i == 1 ? want : 0);
        /* A resumed session still reports the peer's certificate. */
        assert_int_equal(info.peer_verified, 1);
        buf_free(err);
    }
    close(resfd);
    wait_child(pid);
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);
}

static void test_session_resumption(void **state)
{
    (void) state;
    resume_round(">=TLSv1.2", 3600, 1);
    resume_round("<=TLSv1.2", 3600, 1);
    resume_round(">=TLSv1.2", 0, 0);
}

/* ---- tests: bad peers --------------------------------------------------- */

/* A raw peer child: writes DATA, then holds the socket for HOLD ms. */
static pid_t raw_peer(int fd, int other, const void *data, size_t len,
                      long hold)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        struct timespec ts = {hold / 1000, (hold % 1000) * 1000000};
        char sink[4096];

        alarm(30);
        close(other);
        if (len && write(fd, data, len) != (ssize_t) len)
            _exit(2);
        if (hold > 0)
            nanosleep(&ts, NULL);
        else
            while (read(fd, sink, sizeof(sink)) > 0)
                ;
        _exit(0);
    }
    return pid;
}

static void test_garbage_client(void **state)
{
    struct tls_config sc = server_cfg();
    struct tls_ctx *sctx;
    struct tls_info info;
    struct buf *err = buf_new(100);
    struct timespec start;
    const char garbage[] = "EHLO client.example\r\nMAIL FROM:<a@b>\r\n";
    int sv[2];
    pid_t pid;
    struct stream *s;

    (void) state;
    sctx = must_server(&sc);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid = raw_peer(sv[1], sv[0], garbage, sizeof(garbage) - 1, 0);
    close(sv[1]);
    s = stream_open(sv[0]);
    log_reset();
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(
        tls_server_start(sctx, s, 5, "client[127.0.0.1]", &info, err), -1);
    assert_true(elapsed_ms(&start) < 4000); /* timeout is 5 s */
    assert_int_equal(stream_reason(s), STREAM_TLS);
    assert_string_equal(buf_str(err), "wrong version number");
    assert_true(log_has("]: SSL_accept error from client[127.0.0.1]: -1\n"));
    assert_true(log_has("warning: TLS library problem: error:"));
    stream_close(s);
    waitpid(pid, NULL, 0);

    /* A peer that hangs up at once: "lost connection". */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    s = stream_open(sv[0]);
    buf_reset(err);
    assert_int_equal(
        tls_server_start(sctx, s, 5, "client[127.0.0.1]", &info, err), -1);
    assert_string_equal(buf_str(err), "lost connection");
    assert_true(log_has("]: SSL_accept error from client[127.0.0.1]: lost "
                        "connection\n"));
    stream_close(s);
    tls_ctx_free(sctx);
    buf_free(err);
}

static void test_stalled_peers(void **state)
{
    struct tls_config sc = server_cfg();
    struct tls_config cc = client_cfg();
    struct tls_ctx *sctx;
    struct tls_ctx *cctx;
    struct tls_info info;
    struct buf *err = buf_new(100);
    struct timespec start;
    /* A handshake record header promising 512 bytes, then 4 of them. */
    const unsigned char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00,
                                     0x01, 0x00, 0x01, 0xfc};
    int sv[2];
    pid_t pid;
    struct stream *s;
    long ms;

    (void) state;
    sctx = must_server(&sc);
    cctx = must_client(&cc);

    /* Server side: the client stops in the middle of its ClientHello. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid = raw_peer(sv[1], sv[0], partial, sizeof(partial), 3000);
    close(sv[1]);
    s = stream_open(sv[0]);
    log_reset();
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(
        tls_server_start(sctx, s, 1, "client[127.0.0.1]", &info, err), -1);
    ms = elapsed_ms(&start);
    assert_true(ms >= 900 && ms < 4000);
    assert_int_equal(stream_reason(s), STREAM_TIMEOUT);
    assert_string_equal(buf_str(err), "timed out");
    assert_true(log_has("]: SSL_accept error from client[127.0.0.1]: "
                        "timed out\n"));
    stream_close(s);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    /* Client side: the server reads the ClientHello and says nothing. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid = raw_peer(sv[1], sv[0], NULL, 0, 3000);
    close(sv[1]);
    s = stream_open(sv[0]);
    buf_reset(err);
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(tls_client_start(cctx, s, 1, "mx[127.0.0.1]:25",
                                      "mail.example.com", NULL, NULL, NULL,
                                      &info, err),
                     -1);
    ms = elapsed_ms(&start);
    assert_true(ms >= 900 && ms < 4000);
    assert_string_equal(buf_str(err), "timed out");
    assert_true(log_has("]: SSL_connect error to mx[127.0.0.1]:25: "
                        "timed out\n"));
    stream_close(s);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    tls_ctx_free(sctx);
    tls_ctx_free(cctx);
    buf_free(err);
}

/* Plain text pipelined after STARTTLS must never reach the TLS session. */
static void test_buffered_plaintext_refused(void **state)
{
    struct tls_config sc = server_cfg();
    struct tls_ctx *sctx;
    struct tls_info info;
    struct buf *err = buf_new(100);
    struct buf *line = buf_new(100);
    const char text[] = "STARTTLS\r\nRSET\r\n";
    int sv[2];
    pid_t pid;
    struct stream *s;

    (void) state;
    sctx = must_server(&sc);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid = raw_peer(sv[1], sv[0], text, sizeof(text) - 1, 0);
    close(sv[1]);
    s = stream_open(sv[0]);
    assert_true(stream_read_line(s, line, 100) > 0);
    assert_string_equal(buf_str(line), "STARTTLS");
    assert_int_equal(
        tls_server_start(sctx, s, 2, "client[127.0.0.1]", &info, err), -1);
    assert_non_null(strstr(buf_str(err), "plaintext input is buffered"));
    stream_close(s);
    waitpid(pid, NULL, 0);
    tls_ctx_free(sctx);
    buf_free(err);
    buf_free(line);
}

/* A peer that vanishes after the handshake: end of input, not a crash. */
static void test_peer_gone_after_handshake(void **state)
{
    struct tls_config sc = server_cfg();
    struct tls_config cc = client_cfg();
    struct tls_ctx *sctx;
    struct tls_ctx *cctx;
    struct client_args a = {"mail.example.com", NULL, NULL, NULL, 0};
    struct result sr;
    struct result cr;

    (void) state;
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    /* talk = 0: the client closes right after the handshake; the server's
     * serve_session must see end of input and exit cleanly (wait_child). */
    connect_pair(sctx, cctx, &a, &sr, &cr);
    assert_int_equal(sr.ret, 0);
    assert_int_equal(cr.ret, 0);
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);
}

/*
 * After the handshake a client child either writes raw garbage under the
 * TLS layer (MODE 0) or vanishes without close_notify (MODE 1).
 */
static pid_t bad_client_child(struct tls_ctx *cctx, int fd, int other, int mode)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        struct stream *s;
        struct buf *err = buf_new(100);
        struct tls_info info;
        char sink[256];

        alarm(30);
        close(other);
        s = stream_open(fd);
        if (tls_client_start(cctx, s, 5, "server[127.0.0.1]:25", NULL, NULL,
                             NULL, NULL, &info, err)
            < 0)
            _exit(2);
        if (mode == 0) {
            /* Read the server's line first: the handshake is complete. */
            if (stream_read_some(s, sink, sizeof(sink)) <= 0)
                _exit(3);
            if (write(fd, "\x17\x03\x03\x00\x05hello", 10) != 10)
                _exit(4);
            while (read(fd, sink, sizeof(sink)) > 0)
                ;
        } else {
            if (stream_read_some(s, sink, sizeof(sink)) <= 0)
                _exit(3);
        }
        _exit(0); /* no stream_close: no close_notify */
    }
    return pid;
}

static void test_data_phase_errors(void **state)
{
    struct tls_config sc = server_cfg();
    struct tls_config cc = client_cfg();
    struct tls_ctx *sctx;
    struct tls_ctx *cctx;
    struct tls_info info;
    struct buf *err = buf_new(100);
    struct buf *line = buf_new(100);
    int mode;

    (void) state;
    sctx = must_server(&sc);
    cctx = must_client(&cc);
    for (mode = 0; mode < 2; mode++) {
        int sv[2];
        pid_t pid;
        struct stream *s;
        int status;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        pid = bad_client_child(cctx, sv[1], sv[0], mode);
        close(sv[1]);
        s = stream_open(sv[0]);
        stream_set_timeout(s, 5);
        log_reset();
        assert_int_equal(
            tls_server_start(sctx, s, 5, "client[127.0.0.1]", &info, err), 0);
        assert_int_equal(stream_puts(s, "220 ready\r\n"), 0);
        assert_int_equal(stream_flush(s), 0);
        assert_int_equal(stream_read_line(s, line, 100), -1);
        if (mode == 0) {
            /* A forged record: a TLS error, logged with OpenSSL's text. */
            assert_int_equal(stream_reason(s), STREAM_TLS);
            assert_true(log_has("warning: TLS library problem: error:"));
        } else {
            /* Gone without close_notify: plain end of input. */
            assert_int_equal(stream_reason(s), STREAM_EOF);
            /* Writing to the vanished peer fails, without SIGPIPE death. */
            assert_int_equal(waitpid(pid, &status, 0), pid);
            pid = -1;
            assert_int_equal(stream_puts(s, "421 bye\r\n"), 0);
            assert_int_equal(stream_flush(s), -1);
            assert_int_equal(stream_reason(s), STREAM_IO);
            assert_int_equal(stream_errno(s), EPIPE);
        }
        stream_close(s);
        if (pid > 0) {
            assert_int_equal(waitpid(pid, &status, 0), pid);
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        } else {
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        }
    }
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);
    buf_free(err);
    buf_free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_protocols),
        cmocka_unit_test(test_check_grade),
        cmocka_unit_test(test_cert_errors),
        cmocka_unit_test(test_handshake_and_data),
        cmocka_unit_test(test_chain_files),
        cmocka_unit_test(test_dual_chain),
        cmocka_unit_test(test_protocol_selection),
        cmocka_unit_test(test_cipher_grades),
        cmocka_unit_test(test_verification),
        cmocka_unit_test(test_client_certificate),
        cmocka_unit_test(test_session_resumption),
        cmocka_unit_test(test_garbage_client),
        cmocka_unit_test(test_stalled_peers),
        cmocka_unit_test(test_buffered_plaintext_refused),
        cmocka_unit_test(test_peer_gone_after_handshake),
        cmocka_unit_test(test_data_phase_errors),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
