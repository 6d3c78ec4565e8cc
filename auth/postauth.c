/*
 * postauth.c - manage the users of the auth service (issue 7).
 *
 *   postauth [-c DIR] add [-s SCHEME] USER[@REALM]
 *   postauth [-c DIR] delete USER[@REALM]
 *   postauth [-c DIR] list
 *   postauth [-c DIR] hash [-s SCHEME] [USER[@REALM]]
 *   postauth [-c DIR] test USER[@REALM]
 *
 * The password is read twice from a terminal, once from standard input
 * otherwise. add/delete edit the source text file of the first table of
 * auth_user_maps (texthash:FILE is used as it is; hash:, btree: and the
 * other postmap types are rebuilt with postmap), keep it root:root 0600,
 * and send master SIGHUP so that auth reads it again. SCHEME is PLAIN,
 * CRAM-MD5, DIGEST-MD5, SCRAM-SHA-1, SCRAM-SHA-256, SHA512-CRYPT,
 * BLF-CRYPT or COMBINED (the default). test authenticates through the
 * running auth service with each mechanism it offers and says which work.
 *
 * Errors: a message on stderr and exit status 1 (75 when the auth service
 * cannot be reached by test). Passwords are never printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "argv.h"
#include "auth_client.h"
#include "auth_impl.h"
#include "buf.h"
#include "config.h"
#include "mapcmd.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "str.h"

static void usage(void)
{
    msg_fatal("usage: postauth [-c config_dir] add [-s scheme] user[@realm] | "
              "delete user[@realm] | list | hash [-s scheme] [user[@realm]] | "
              "test user[@realm]");
}

/* ---- passwords ----------------------------------------------------------- */

static void read_line_fd(struct buf *out, FILE *fp)
{
    int ch;

    buf_reset(out);
    while ((ch = getc(fp)) != EOF && ch != '\n')
        buf_putc(out, ch);
    if (buf_len(out) && buf_str(out)[buf_len(out) - 1] == '\r')
        buf_truncate(out, buf_len(out) - 1);
}

static void prompt_password(struct buf *out, const char *prompt)
{
    struct termios old, quiet;
    FILE *tty = fopen("/dev/tty", "r+");

    if (tty == NULL)
        msg_fatal("open /dev/tty: %m");
    fputs(prompt, tty);
    fflush(tty);
    tcgetattr(fileno(tty), &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t) ECHO;
    tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    read_line_fd(out, tty);
    tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputs("\n", tty);
    fclose(tty);
}

/* The password: twice on a terminal (must match), once from stdin. */
static void get_password(struct buf *pw, int twice)
{
    if (isatty(0)) {
        struct buf *again = buf_new(64);

        prompt_password(pw, "Password: ");
        if (twice) {
            prompt_password(again, "Again: ");
            if (strcmp(buf_str(pw), buf_str(again)) != 0)
                msg_fatal("the passwords differ");
        }
        OPENSSL_cleanse(again->data, again->size);
        buf_free(again);
    } else {
        read_line_fd(pw, stdin);
    }
    if (buf_len(pw) == 0)
        msg_fatal("empty password");
    if (strlen(buf_str(pw)) != buf_len(pw))
        msg_fatal("the password contains a NUL byte");
}

/* KEY as auth looks it up: a bare user gets smtpd_sasl_local_domain. */
static void user_key(struct buf *key, const char *user)
{
    if (*user == 0 || strchr(user, ' ') || strchr(user, '\t')
        || strchr(user, ':') || strchr(user, '\n'))
        msg_fatal("bad user name \"%s\"", user);
    buf_set(key, user);
    if (strchr(user, '@') == NULL && *var_smtpd_sasl_local_domain)
        buf_printf(key, "@%s", var_smtpd_sasl_local_domain);
}

static void make_value(struct buf *out, const char *scheme, const char *key,
                       const char *password)
{
    struct buf *err = buf_new(64);
    const char *at = strrchr(key, '@');
    char *local = at ? mem_strndup(key, (size_t) (at - key)) : mem_strdup(key);

    if (auth_scheme_make(out, scheme, local, at ? at + 1 : "", password, NULL,
                         0, 0, err)
        < 0)
        msg_fatal("%s", buf_str(err));
    mem_free(local);
    buf_free(err);
}

/* ---- the table's source file -------------------------------------------- */

struct table {
    char *type;
    char *path; /* the source text file */
};

static void table_find(struct table *t)
{
    char *copy = mem_strdup(var_auth_user_maps), *cp = copy, *first;

    first = str_token(&cp, ", \t\r\n");
    if (first == NULL)
        msg_fatal("auth_user_maps is empty: name a table first, for "
                  "example texthash:%s/sasl_users",
                  var_config_directory);
    mapcmd_split(first, &t->type, &t->path);
    if (strcmp(t->type, "texthash") != 0 && !mapcmd_creatable(t->type))
        msg_fatal("cannot edit %s:%s tables: use texthash: or a postmap type",
                  t->type, t->path);
    mem_free(copy);
}

/* Write LINES to the table's file: root:root 0600, replaced atomically. */
static void table_write(const struct table *t, const struct argv *lines)
{
    struct buf *tmp = buf_new(256);
    size_t i;
    FILE *fp;
    int fd;

    buf_setf(tmp, "%s.postauth.%ld", t->path, (long) getpid());
    fd = open(buf_str(tmp), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        msg_fatal("create %s: %m", buf_str(tmp));
    if (fchown(fd, 0, 0) < 0 && geteuid() == 0)
        msg_fatal("chown %s: %m", buf_str(tmp));
    fp = fdopen(fd, "w");
    for (i = 0; i < lines->argc; i++)
        fprintf(fp, "%s\n", lines->argv[i]);
    if (fflush(fp) != 0 || fsync(fd) != 0 || fclose(fp) != 0) {
        unlink(buf_str(tmp));
        msg_fatal("write %s: %m", buf_str(tmp));
    }
    if (rename(buf_str(tmp), t->path) < 0) {
        unlink(buf_str(tmp));
        msg_fatal("rename %s to %s: %m", buf_str(tmp), t->path);
    }
    buf_free(tmp);
    if (strcmp(t->type, "texthash") != 0) {
        struct buf *cmd = buf_new(256);
        pid_t pid;
        int status;

        buf_setf(cmd, "%s/postmap", var_command_directory);
        pid = fork();
        if (pid == 0) {
            struct buf *arg = buf_new(256);

            buf_setf(arg, "%s:%s", t->type, t->path);
            execl(buf_str(cmd), "postmap", "-c", var_config_directory,
                  buf_str(arg), (char *) NULL);
            _exit(127);
        }
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0)
            msg_fatal("%s %s:%s failed", buf_str(cmd), t->type, t->path);
        buf_free(cmd);
    }
}

/* Read the file's lines (a missing file is empty). */
static struct argv *table_read(const struct table *t)
{
    struct argv *lines = argv_new(16);
    struct buf *line = buf_new(256);
    FILE *fp = fopen(t->path, "r");

    if (fp == NULL) {
        if (errno != ENOENT)
            msg_fatal("open %s: %m", t->path);
    } else {
        while (!feof(fp)) {
            read_line_fd(line, fp);
            if (feof(fp) && buf_len(line) == 0)
                break;
            argv_add(lines, buf_str(line));
        }
        fclose(fp);
    }
    buf_free(line);
    return lines;
}

/* The key of a source line, or NULL for comments and blank lines. */
static int line_key(const char *line, struct buf *key)
{
    size_t n;

    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == 0 || *line == '#')
        return -1;
    n = strcspn(line, " \t:");
    buf_reset(key);
    buf_append(key, line, n);
    return 0;
}

/* Tell master to restart auth (reload); quiet when it is not running. */
static void reload_auth(void)
{
    struct buf *path = buf_new(256);
    FILE *fp;
    long pid = 0;

    buf_setf(path, "%s/pid/master.pid", var_queue_directory);
    if ((fp = fopen(buf_str(path), "r")) != NULL) {
        if (fscanf(fp, "%ld", &pid) == 1 && pid > 1
            && kill((pid_t) pid, SIGHUP) == 0)
            msg_info("told master (pid %ld) to reload", pid);
        fclose(fp);
    }
    buf_free(path);
}

static struct argv *edit(const struct table *t, const char *key,
                         const char *value, int *found)
{
    struct argv *old = table_read(t), *lines = argv_new(old->argc + 1);
    struct buf *k = buf_new(64), *line = buf_new(256);
    size_t i;

    *found = 0;
    for (i = 0; i < old->argc; i++) {
        if (line_key(old->argv[i], k) == 0 && strcmp(buf_str(k), key) == 0) {
            *found = 1;
            continue;
        }
        argv_add(lines, old->argv[i]);
    }
    if (value != NULL) {
        buf_setf(line, "%s %s", key, value);
        argv_add(lines, buf_str(line));
        OPENSSL_cleanse(line->data, line->size);
    }
    argv_free(old);
    buf_free(k);
    buf_free(line);
    return lines;
}

/* ---- test: the client side of each mechanism ---------------------------- */

struct dparse {
    struct buf *realm, *nonce;
};

static int dparse_fn(void *ctx, const char *name, const char *value,
                     size_t vlen)
{
    struct dparse *d = ctx;

    (void) vlen;
    if (strcmp(name, "realm") == 0)
        buf_set(d->realm, value);
    else if (strcmp(name, "nonce") == 0)
        buf_set(d->nonce, value);
    return 0;
}

static enum auth_status try_mech(struct auth_client *ac, const char *mech,
                                 const char *key, const char *pw,
                                 struct auth_reply *r)
{
    struct buf *m = buf_new(128), *raw = buf_new(128), *b = buf_new(128);
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    enum auth_status st;

#define B64(text, len) auth_b64_encode(m, (text), (len))
#define RAW()                                                                  \
    (auth_b64_decode(raw, buf_str(r->data), buf_len(r->data)) == 0 ? 0 : -1)
    if (strcmp(mech, "PLAIN") == 0) {
        buf_reset(b);
        buf_putc(b, 0);
        buf_puts(b, key);
        buf_putc(b, 0);
        buf_puts(b, pw);
        B64(buf_str(b), buf_len(b));
        st = auth_client_start(ac, mech, buf_str(m), "", 1, "postauth", r);
    } else if (strcmp(mech, "LOGIN") == 0) {
        st = auth_client_start(ac, mech, "", "", 1, "postauth", r);
        if (st == AUTH_CONTINUE) {
            B64(key, strlen(key));
            st = auth_client_step(ac, buf_str(m), r);
        }
        if (st == AUTH_CONTINUE) {
            B64(pw, strlen(pw));
            st = auth_client_step(ac, buf_str(m), r);
        }
    } else if (strcmp(mech, "CRAM-MD5") == 0) {
        st = auth_client_start(ac, mech, "", "", 1, "postauth", r);
        if (st == AUTH_CONTINUE && RAW() == 0) {
            auth_hmac("MD5", pw, strlen(pw), buf_str(raw), buf_len(raw), h, &n);
            auth_hex(b, h, n);
            buf_setf(raw, "%s %s", key, buf_str(b));
            B64(buf_str(raw), buf_len(raw));
            st = auth_client_step(ac, buf_str(m), r);
        }
    } else if (strcmp(mech, "DIGEST-MD5") == 0) {
        struct dparse d = {buf_new(32), buf_new(32)};
        const char *at = strrchr(key, '@');
        char *local =
            at ? mem_strndup(key, (size_t) (at - key)) : mem_strdup(key);
        char resp[33];
        unsigned char c[12];

        st = auth_client_start(ac, mech, "", "", 1, "postauth", r);
        if (st == AUTH_CONTINUE && RAW() == 0
            && auth_digest_parse(buf_str(raw), buf_len(raw), dparse_fn, &d)
                   == 0) {
            const char *realm = at ? at + 1 : buf_str(d.realm);
            struct buf *cn = buf_new(32), *uri = buf_new(32);

            auth_random(c, sizeof(c));
            auth_b64_encode(cn, c, sizeof(c));
            buf_setf(uri, "%s/localhost", var_smtpd_sasl_service);
            buf_setf(b, "%s:%s:%s", local, realm, pw);
            auth_hash("MD5", buf_str(b), buf_len(b), h, &n);
            auth_digest_compute(h, buf_str(d.nonce), buf_str(cn), "00000001",
                                NULL, buf_str(uri), 0, resp);
            buf_setf(b,
                     "username=\"%s\",realm=\"%s\",nonce=\"%s\",cnonce=\"%s\","
                     "nc=00000001,qop=auth,digest-uri=\"%s\",response=%s,"
                     "charset=utf-8",
                     local, realm, buf_str(d.nonce), buf_str(cn), buf_str(uri),
                     resp);
            B64(buf_str(b), buf_len(b));
            st = auth_client_step(ac, buf_str(m), r);
            if (st == AUTH_CONTINUE)
                st = auth_client_step(ac, "", r);
            buf_free(cn);
            buf_free(uri);
        }
        buf_free(d.realm);
        buf_free(d.nonce);
        mem_free(local);
    } else if (str_has_prefix(mech, "SCRAM-SHA-")) {
        const char *md = strcmp(mech, "SCRAM-SHA-256") == 0 ? "SHA256" : "SHA1";
        struct buf *bare = buf_new(64), *sf = buf_new(128), *salt = buf_new(32);
        unsigned char sp[EVP_MAX_MD_SIZE], ck[EVP_MAX_MD_SIZE],
            sk[EVP_MAX_MD_SIZE], sig[EVP_MAX_MD_SIZE], c[12];
        unsigned dlen = strcmp(md, "SHA256") == 0 ? 32 : 20, i;
        const char *s, *it;

        auth_random(c, sizeof(c));
        auth_b64_encode(b, c, sizeof(c));
        buf_setf(bare, "n=%s,r=%s", key, buf_str(b));
        buf_setf(b, "n,,%s", buf_str(bare));
        B64(buf_str(b), buf_len(b));
        st = auth_client_start(ac, mech, buf_str(m), "", 1, "postauth", r);
        if (st == AUTH_CONTINUE && RAW() == 0
            && (s = strstr(buf_str(raw), ",s=")) != NULL
            && (it = strstr(buf_str(raw), ",i=")) != NULL && it > s
            && auth_b64_decode(salt, s + 3, (size_t) (it - s - 3)) == 0) {
            buf_set(sf, buf_str(raw));
            PKCS5_PBKDF2_HMAC(pw, (int) strlen(pw),
                              (unsigned char *) buf_str(salt),
                              (int) buf_len(salt), atoi(it + 3),
                              EVP_get_digestbyname(md), (int) dlen, sp);
            auth_hmac(md, sp, dlen, "Client Key", 10, ck, &n);
            auth_hash(md, ck, dlen, sk, &n);
            buf_setf(b, "c=biws,r=");
            buf_append(b, buf_str(sf) + 2, strcspn(buf_str(sf) + 2, ","));
            buf_setf(raw, "%s,%s,%s", buf_str(bare), buf_str(sf), buf_str(b));
            auth_hmac(md, sk, dlen, buf_str(raw), buf_len(raw), sig, &n);
            for (i = 0; i < dlen; i++)
                ck[i] ^= sig[i];
            auth_b64_encode(m, ck, dlen);
            buf_printf(b, ",p=%s", buf_str(m));
            B64(buf_str(b), buf_len(b));
            st = auth_client_step(ac, buf_str(m), r);
            if (st == AUTH_CONTINUE)
                st = auth_client_step(ac, "", r);
            OPENSSL_cleanse(sp, sizeof(sp));
        } else if (st == AUTH_CONTINUE) {
            st = AUTH_FAIL;
        }
        buf_free(bare);
        buf_free(sf);
        buf_free(salt);
    } else {
        st = AUTH_NONE;
    }
#undef B64
#undef RAW
    if (st == AUTH_CONTINUE) {
        auth_client_cancel(ac, r);
        st = AUTH_FAIL;
    }
    buf_free(m);
    buf_free(raw);
    buf_free(b);
    return st;
}

static int do_test(const char *key, const char *pw)
{
    struct auth_client *ac;
    struct auth_reply r;
    struct buf *path = buf_new(256);
    char *list, *cp, *mech;
    int bad = 0;

    buf_setf(path, "%s/private/auth", var_queue_directory);
    ac = auth_client_create(buf_str(path), 10);
    auth_reply_init(&r);
    if (auth_client_mechs(ac, "noanonymous", 1, &r) != AUTH_OK) {
        fprintf(stderr, "postauth: %s\n", buf_str(r.reason));
        return 75;
    }
    list = mem_strdup(buf_str(r.data));
    cp = list;
    while ((mech = str_token(&cp, " ")) != NULL) {
        enum auth_status st = try_mech(ac, mech, key, pw, &r);

        if (st == AUTH_OK)
            printf("%s: ok (%s)\n", mech, buf_str(r.user));
        else if (st == AUTH_NONE)
            printf("%s: not tested\n", mech);
        else {
            printf("%s: %s (%s)\n", mech,
                   st == AUTH_TEMP ? "temporary failure" : "failed",
                   buf_str(r.reason));
            bad++;
        }
    }
    mem_free(list);
    auth_reply_free(&r);
    auth_client_free(ac);
    buf_free(path);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *conf = NULL, *scheme = "COMBINED", *cmd;
    struct buf *key = buf_new(64), *pw = buf_new(64), *value = buf_new(256);
    struct table t;
    struct argv *lines;
    char *slash;
    int ch, found, status = 0;

    if ((slash = strrchr(argv[0], '/')) != NULL && slash[1])
        argv[0] = slash + 1;
    msg_init(argv[0], MSG_STDERR | MSG_NOLOG);
    umask(077);
    /* Options before and after the command word. */
    while ((ch = getopt(argc, argv, "+c:s:")) > 0) {
        if (ch == 'c')
            conf = optarg;
        else if (ch == 's')
            scheme = optarg;
        else
            usage();
    }
    if (optind >= argc)
        usage();
    cmd = argv[optind++];
    while ((ch = getopt(argc, argv, "+s:")) > 0) {
        if (ch == 's')
            scheme = optarg;
        else
            usage();
    }
    config_load(config_choose_dir(conf));
    params_load();

    if (strcmp(cmd, "hash") == 0) {
        if (optind < argc)
            user_key(key, argv[optind]);
        get_password(pw, 1);
        make_value(value, scheme, buf_str(key), buf_str(pw));
        printf("%s\n", buf_str(value));
    } else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "delete") == 0) {
        if (optind + 1 != argc)
            usage();
        user_key(key, argv[optind]);
        table_find(&t);
        if (strcmp(cmd, "add") == 0) {
            get_password(pw, 1);
            make_value(value, scheme, buf_str(key), buf_str(pw));
            lines = edit(&t, buf_str(key), buf_str(value), &found);
        } else {
            lines = edit(&t, buf_str(key), NULL, &found);
            if (!found)
                msg_fatal("%s: no such user in %s", buf_str(key), t.path);
        }
        table_write(&t, lines);
        argv_free(lines);
        msg_info("%s %s in %s:%s", found && value->len ? "replaced" : cmd,
                 buf_str(key), t.type, t.path);
        reload_auth();
    } else if (strcmp(cmd, "list") == 0) {
        struct buf *k = buf_new(64);
        size_t i;

        table_find(&t);
        lines = table_read(&t);
        for (i = 0; i < lines->argc; i++) {
            const char *v, *p;

            if (line_key(lines->argv[i], k) < 0)
                continue;
            /* The schemes held, never the data. */
            printf("%s:", buf_str(k));
            v = lines->argv[i] + strspn(lines->argv[i], " \t");
            v += buf_len(k);
            v += strspn(v, " \t:");
            if (*v != '{')
                printf(" (clear password)");
            for (p = v; (p = strchr(p, '{')) != NULL; p++) {
                size_t n = strcspn(p, "}");

                printf(" %.*s", (int) n + 1, p);
                if (strncmp(p, "{PLAIN}", 7) == 0)
                    break;
            }
            printf("\n");
        }
        argv_free(lines);
        buf_free(k);
    } else if (strcmp(cmd, "test") == 0) {
        if (optind + 1 != argc)
            usage();
        user_key(key, argv[optind]);
        get_password(pw, 0);
        status = do_test(buf_str(key), buf_str(pw));
    } else {
        usage();
    }
    OPENSSL_cleanse(pw->data, pw->size);
    buf_free(key);
    buf_free(pw);
    buf_free(value);
    return status;
}
