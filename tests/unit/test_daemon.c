/*
 * test_daemon.c - lib/daemon (argument parsing, the status record
 * encoding shared with master) and lib/privs (account checks; the
 * privilege drop itself in a child process when the test runs as root).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "daemon.h"
#include "privs.h"

/* ---- arguments ---------------------------------------------------------- */

struct parse_case {
    const char *args[12]; /* after argv[0], NULL-terminated */
    int ret;
    const char *service;
    const char *type;
    int nsock;
    int unpriv;
    int chroot;
    int verbose;
    const char *overrides; /* joined with '|' */
    const char *extra;     /* joined with '|' */
    const char *error;
};

static const struct parse_case parse_cases[] = {
    /* What master passes. */
    {{"-S", "smtp", "-t", "inet", "-s", "2", "-u", "-j", NULL},
     0,
     "smtp",
     "inet",
     2,
     1,
     1,
     0,
     "",
     "",
     ""},
    /* Defaults. */
    {{NULL}, 0, NULL, NULL, 1, 0, 0, 0, "", "", ""},
    /* Attached values, clusters, repeated -v, overrides in order. */
    {{"-Ssubmission", "-tinet", "-ujvv", "-o", "a=1", "-ob = two words", "-o",
      "a=3", NULL},
     0,
     "submission",
     "inet",
     1,
     1,
     1,
     2,
     "a=1|b = two words|a=3",
     "",
     ""},
    /* The first word ends the options; "--" too. */
    {{"-S", "pipe", "flags=R", "-v", "argv=/bin/cat", NULL},
     0,
     "pipe",
     NULL,
     1,
     0,
     0,
     0,
     "",
     "flags=R|-v|argv=/bin/cat",
     ""},
    {{"-u", "--", "-j", NULL}, 0, NULL, NULL, 1, 1, 0, 0, "", "-j", ""},
    {{"-", NULL}, 0, NULL, NULL, 1, 0, 0, 0, "", "-", ""},
    /* A later value replaces an earlier one. */
    {{"-S", "a", "-S", "b", "-t", "unix", "-t", "fifo", NULL},
     0,
     "b",
     "fifo",
     1,
     0,
     0,
     0,
     "",
     "",
     ""},
    {{"-t", "unix-dgram", "-s", "1000", NULL},
     0,
     NULL,
     "unix-dgram",
     1000,
     0,
     0,
     0,
     "",
     "",
     ""},
    {{"-t", "pass", NULL}, 0, NULL, "pass", 1, 0, 0, 0, "", "", ""},
    /* Errors. */
    {{"-x", NULL}, -1, NULL, NULL, 0, 0, 0, 0, NULL, NULL, "invalid option -x"},
    {{"-uz", NULL},
     -1,
     NULL,
     NULL,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     "invalid option -z"},
    {{"-S", NULL},
     -1,
     NULL,
     NULL,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     "option -S needs a value"},
    {{"-o", NULL},
     -1,
     NULL,
     NULL,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     "option -o needs a value"},
    {{"-o", "novalue", NULL},
     -1,
     NULL,
     NULL,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     "bad override \"novalue\": want name=value"},
    {{"-o", " =x", NULL},
     -1,
     NULL,
     NULL,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     "bad override \" =x\": want name=value"},
    {{"-t", "tcp", NULL},
     -1,
     NULL,
     NULL,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     "bad service type \"tcp\""},
    {{"-s", "0", NULL},
     -1,
     NULL,
     NULL,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     "bad socket count \"0\""},
    {{"-s", "2x", NULL},
     -1,
     NULL,
     NULL,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     "bad socket count \"2x\""},
    {{"-s", "1001", NULL},
     -1,
     NULL,
     NULL,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     "bad socket count \"1001\""},
    {{"-S", "", NULL},
     -1,
     NULL,
     NULL,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     "empty service name"},
};

static void join(struct buf *out, const struct argv *av)
{
    size_t i;

    buf_reset(out);
    for (i = 0; i < av->argc; i++) {
        if (i > 0)
            buf_putc(out, '|');
        buf_puts(out, av->argv[i]);
    }
}

static void test_parse_args(void **state)
{
    struct buf *err = buf_new(64);
    struct buf *got = buf_new(64);
    size_t n;

    (void) state;
    for (n = 0; n < sizeof(parse_cases) / sizeof(parse_cases[0]); n++) {
        const struct parse_case *c = &parse_cases[n];
        char *argv[16];
        struct daemon_args a;
        int argc = 0;
        int ret;

        argv[argc++] = (char *) "prog";
        while (c->args[argc - 1] != NULL) {
            argv[argc] = (char *) c->args[argc - 1];
            argc++;
        }
        argv[argc] = NULL;
        buf_reset(err);
        ret = daemon_parse_args(argc, argv, &a, err);
        if (ret != c->ret)
            fail_msg("case %zu: got %d (%s), want %d", n, ret, buf_str(err),
                     c->ret);
        if (ret < 0) {
            assert_string_equal(buf_str(err), c->error);
            daemon_args_free(&a);
            continue;
        }
        if (c->service)
            assert_string_equal(a.service, c->service);
        else
            assert_null(a.service);
        if (c->type)
            assert_string_equal(a.type, c->type);
        else
            assert_null(a.type);
        assert_int_equal(a.nsock, c->nsock);
        assert_int_equal(a.unpriv, c->unpriv);
        assert_int_equal(a.chroot, c->chroot);
        assert_int_equal(a.verbose, c->verbose);
        join(got, a.overrides);
        assert_string_equal(buf_str(got), c->overrides);
        join(got, a.extra);
        assert_string_equal(buf_str(got), c->extra);
        daemon_args_free(&a);
    }
    buf_free(err);
    buf_free(got);
}

/* ---- status records ---------------------------------------------------- */

static void test_status_encode(void **state)
{
    static const unsigned char want[DAEMON_STATUS_SIZE] = {
        'P', 'S', 't', '1', 0x00, 0x01, 0xe2, 0x40, 0, 0, 0, 1, 0, 0, 0, 0,
    };
    unsigned char rec[DAEMON_STATUS_SIZE];
    long pid;
    int status;

    (void) state;
    daemon_status_encode(rec, 123456, DAEMON_STAT_BUSY);
    assert_memory_equal(rec, want, sizeof(want));
    assert_int_equal(daemon_status_decode(rec, sizeof(rec), &pid, &status), 0);
    assert_int_equal(pid, 123456);
    assert_int_equal(status, DAEMON_STAT_BUSY);

    daemon_status_encode(rec, 1, DAEMON_STAT_IDLE);
    assert_int_equal(daemon_status_decode(rec, sizeof(rec), &pid, &status), 0);
    assert_int_equal(pid, 1);
    assert_int_equal(status, DAEMON_STAT_IDLE);
    daemon_status_encode(rec, 2147483647L, DAEMON_STAT_IDLE);
    assert_int_equal(daemon_status_decode(rec, sizeof(rec), &pid, &status), 0);
    assert_int_equal(pid, 2147483647L);
}

static void test_status_decode_rejects(void **state)
{
    unsigned char good[DAEMON_STATUS_SIZE];
    unsigned char rec[DAEMON_STATUS_SIZE];
    long pid = -1;
    int status = -1;
    size_t i;

    (void) state;
    daemon_status_encode(good, 4242, DAEMON_STAT_IDLE);
    /* Wrong lengths. */
    assert_int_equal(daemon_status_decode(good, 0, &pid, &status), -1);
    assert_int_equal(daemon_status_decode(good, 15, &pid, &status), -1);
    assert_int_equal(daemon_status_decode(good, 17, &pid, &status), -1);
    /* Any change to the magic or the padding. */
    for (i = 0; i < DAEMON_STATUS_SIZE; i++) {
        if (i >= 4 && i < 12)
            continue;
        memcpy(rec, good, sizeof(rec));
        rec[i] ^= 0x20;
        assert_int_equal(daemon_status_decode(rec, sizeof(rec), &pid, &status),
                         -1);
    }
    /* pid 0 and pids past INT32_MAX. */
    daemon_status_encode(rec, 0, DAEMON_STAT_IDLE);
    assert_int_equal(daemon_status_decode(rec, sizeof(rec), &pid, &status), -1);
    memcpy(rec, good, sizeof(rec));
    rec[4] = 0x80;
    assert_int_equal(daemon_status_decode(rec, sizeof(rec), &pid, &status), -1);
    /* Unknown status values. */
    daemon_status_encode(rec, 4242, 2);
    assert_int_equal(daemon_status_decode(rec, sizeof(rec), &pid, &status), -1);
    daemon_status_encode(rec, 4242, -1);
    assert_int_equal(daemon_status_decode(rec, sizeof(rec), &pid, &status), -1);
    /* Nothing was stored by the failures. */
    assert_int_equal(pid, -1);
    assert_int_equal(status, -1);
}

/* ---- privileges -------------------------------------------------------- */

static void test_privs_lookup(void **state)
{
    struct buf *err = buf_new(64);
    uid_t uid = 1;
    gid_t gid = 1;

    (void) state;
    assert_int_equal(privs_lookup("root", &uid, &gid, err), -1);
    assert_string_equal(buf_str(err),
                        "account \"root\" has user or group ID 0");
    assert_int_equal(privs_lookup("no-such-user-postern-test", &uid, &gid, err),
                     -1);
    assert_string_equal(buf_str(err),
                        "unknown account \"no-such-user-postern-test\"");
    assert_int_equal(uid, 1);
    assert_int_equal(privs_drop(0, 5, err), -1);
    assert_int_equal(privs_drop(5, 0, err), -1);
    buf_free(err);
}

/* As root: drop to "nobody" in a child and check that root stays gone. */
static void test_privs_drop(void **state)
{
    struct buf *err;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    int status;

    (void) state;
    if (geteuid() != 0) {
        skip();
        return;
    }
    err = buf_new(64);
    if (privs_lookup("nobody", &uid, &gid, err) < 0) {
        buf_free(err);
        skip();
        return;
    }
    /* Still root: the check must fail. */
    assert_int_equal(privs_verify_dropped(uid, gid, err), -1);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (privs_drop(uid, gid, err) < 0)
            _exit(2);
        if (getuid() != uid || geteuid() != uid || getgid() != gid)
            _exit(3);
        if (setuid(0) == 0 || seteuid(0) == 0)
            _exit(4);
        if (privs_verify_dropped(uid, gid, err) < 0)
            _exit(5);
        /* Dropping again to the same IDs is fine; to others is not. */
        if (privs_drop(uid, gid, err) < 0)
            _exit(6);
        if (privs_drop(uid + 1, gid, err) == 0)
            _exit(7);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    buf_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_args),
        cmocka_unit_test(test_status_encode),
        cmocka_unit_test(test_status_decode_rejects),
        cmocka_unit_test(test_privs_lookup),
        cmocka_unit_test(test_privs_drop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
