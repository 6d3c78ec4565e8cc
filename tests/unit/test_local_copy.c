/*
 * test_local_copy.c - the message as the local delivery agent writes it
 * (local/local_copy.c), pinned byte for byte: mbox ("From " line,
 * Return-Path:, X-Original-To:, Delivered-To:, ">From " quoting, the
 * empty line at the end), maildir and command forms, long lines that the
 * queue file keeps as PIECE records, the size limit (EFBIG, nothing
 * written), and the Delivered-To: scan for loop detection. Each test
 * reads a real queue file made with qf_create.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define main local_agent_main
#include "../../local/local.c"
#include "../../local/local_alias.c"
#include "../../local/local_command.c"
#include "../../local/local_copy.c"
#include "../../local/local_expand.c"
#include "../../local/local_forward.c"
#include "../../local/local_mailbox.c"
#undef main

static char root[64];

static int setup(void **state)
{
    (void) state;
    msg_init("test_local_copy", MSG_NOLOG);
    snprintf(root, sizeof(root), "/tmp/test_local_copy.XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    qf_set_root(root);
    var_hash_queue_names = "deferred, defer";
    var_hash_queue_depth = 1;
    var_queue_file_attribute_count_limit = 100;
    return qf_make_dirs();
}

static int teardown(void **state)
{
    char cmd[128];

    (void) state;
    qf_set_root(NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

#define LONG_LEN 10000

/* A queue file with LINES as its content; its reader. */
static struct qf_reader *make_msg(const char *const *lines, int long_line)
{
    struct qf_writer *w = qf_create(QF_INCOMING);
    struct qf_reader *r;
    struct buf *id = buf_new(32);
    size_t i;

    assert_non_null(w);
    buf_set(id, qf_writer_id(w));
    assert_int_equal(qf_puts(w, REC_SENDER, "s@example.org"), 0);
    assert_int_equal(qf_put_rcpt(w, 0, "u@example.org", "u", NULL), 0);
    assert_int_equal(qf_begin_content(w), 0);
    for (i = 0; lines[i]; i++) {
        if (lines[i][0] == 0)
            qf_mark_body(w);
        assert_int_equal(qf_put_text(w, lines[i], strlen(lines[i]), 0), 0);
    }
    if (long_line) {
        char *big = malloc(LONG_LEN);

        memcpy(big, "From ", 5);
        memset(big + 5, 'x', LONG_LEN - 5);
        assert_int_equal(qf_put_text(w, big, LONG_LEN, 0), 0);
        free(big);
    }
    assert_int_equal(qf_end_content(w), 0);
    assert_int_equal(qf_commit(w), 0);
    qf_writer_free(w);
    r = qf_open(QF_INCOMING, buf_str(id), 0);
    assert_non_null(r);
    buf_free(id);
    return r;
}

static const char *const message[] = {
    "Subject: hello",
    "Delivered-To: Old@Example.ORG",
    "X-Folded: a",
    " b",
    "",
    "From the start of a line",
    ">From already quoted",
    " From not at the start",
    "last",
    NULL,
};

struct fixture {
    struct local_msg msg;
    struct local_result res;
    struct local_state st;
};

static void fixture_init(struct fixture *f, struct qf_reader *qf)
{
    memset(f, 0, sizeof(*f));
    f->msg.qf = qf;
    f->msg.delivered_to = htable_new(4);
    f->st.msg = &f->msg;
    f->st.result = &f->res;
    f->st.sender = "s@example.org";
    f->st.orig_addr = "u";
    f->st.delivered = "Root@Example.ORG";
}

static void fixture_free(struct fixture *f)
{
    htable_free(f->msg.delivered_to, NULL);
    qf_close(f->msg.qf);
}

/* Run local_copy into a memory file; the bytes written into OUT. */
static int copy_to(struct fixture *f, int flags, long long start,
                   long long limit, struct buf *out, struct buf *err)
{
    int fd = memfd_create("test", 0);
    char chunk[4096];
    ssize_t n;
    int r;

    assert_true(fd >= 0);
    r = local_copy(&f->st, fd, flags, start, limit, err);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(out, chunk, (size_t) n);
    close(fd);
    return r;
}

static void test_mbox_form(void **state)
{
    struct fixture f;
    struct buf *out = buf_new(256);
    struct buf *err = buf_new(64);
    const char *nl, *want;

    (void) state;
    fixture_init(&f, make_msg(message, 0));
    assert_int_equal(copy_to(&f, LOCAL_COPY_MBOX, 0, 0, out, err),
                     LOCAL_COPY_OK);
    /* "From s@example.org  Thu Dec  4 05:25:08 2026" */
    nl = strchr(buf_str(out), '\n');
    assert_non_null(nl);
    assert_true(str_has_prefix(buf_str(out), "From s@example.org  "));
    assert_int_equal(nl - buf_str(out), 20 + 24);
    want = "Return-Path: <s@example.org>\n"
           "X-Original-To: u\n"
           "Delivered-To: root@example.org\n"
           "Subject: hello\n"
           "Delivered-To: Old@Example.ORG\n"
           "X-Folded: a\n"
           " b\n"
           "\n"
           ">From the start of a line\n"
           ">From already quoted\n"
           " From not at the start\n"
           "last\n"
           "\n";
    assert_string_equal(nl + 1, want);
    fixture_free(&f);
    buf_free(out);
    buf_free(err);
}

static void test_null_sender_and_command_form(void **state)
{
    struct fixture f;
    struct buf *out = buf_new(256);
    struct buf *err = buf_new(64);

    (void) state;
    fixture_init(&f, make_msg(message, 0));
    f.st.sender = "";
    assert_int_equal(
        copy_to(&f, LOCAL_COPY_FROM | LOCAL_COPY_RETURN | LOCAL_COPY_ORIG, 0, 0,
                out, err),
        LOCAL_COPY_OK);
    assert_true(str_has_prefix(buf_str(out), "From MAILER-DAEMON  "));
    assert_non_null(strstr(buf_str(out), "\nReturn-Path: <>\nX-Original-To: "
                                         "u\nSubject: hello\n"));
    /* No quoting, no Delivered-To:, no empty line at the end. */
    assert_non_null(strstr(buf_str(out), "\n\nFrom the start of a line\n"));
    assert_true(str_has_suffix(buf_str(out), "\nlast\n"));
    fixture_free(&f);
    buf_free(out);
    buf_free(err);
}

static void test_maildir_form_and_long_line(void **state)
{
    struct fixture f;
    struct buf *out = buf_new(256);
    struct buf *err = buf_new(64);
    const char *tail;

    (void) state;
    fixture_init(&f, make_msg(message, 1));
    assert_int_equal(copy_to(&f,
                             LOCAL_COPY_RETURN | LOCAL_COPY_ORIG
                                 | LOCAL_COPY_DELIVERED | LOCAL_COPY_QUOTE,
                             0, 0, out, err),
                     LOCAL_COPY_OK);
    assert_true(str_has_prefix(buf_str(out), "Return-Path: <s@example.org>\n"
                                             "X-Original-To: u\n"
                                             "Delivered-To: root@example.org\n"
                                             "Subject: hello\n"));
    /* The long line comes back whole (quoted once, at its start only). */
    tail = strstr(buf_str(out), "\nlast\n>From xxx");
    assert_non_null(tail);
    tail += 6;
    assert_int_equal(strlen(tail), 1 + LONG_LEN + 1);
    assert_int_equal(strchr(tail, '\n') - tail, 1 + LONG_LEN);
    assert_null(strstr(tail + 2, "From"));
    fixture_free(&f);
    buf_free(out);
    buf_free(err);
}

static void test_size_limit(void **state)
{
    struct fixture f;
    struct buf *out = buf_new(256);
    struct buf *err = buf_new(64);

    (void) state;
    fixture_init(&f, make_msg(message, 0));
    /* 1000 bytes already there, 1100 allowed: the message does not fit. */
    assert_int_equal(copy_to(&f, LOCAL_COPY_MBOX, 1000, 1100, out, err),
                     LOCAL_COPY_EWRITE);
    assert_int_equal(errno, EFBIG);
    assert_int_equal(buf_len(out), 0);
    assert_string_equal(buf_str(err), "error writing message: File too large");
    buf_reset(out);
    assert_int_equal(copy_to(&f, LOCAL_COPY_MBOX, 1000, 2000, out, err),
                     LOCAL_COPY_OK);
    assert_true(buf_len(out) > 0);
    fixture_free(&f);
    buf_free(out);
    buf_free(err);
}

static void test_scan_delivered_to(void **state)
{
    static const char *const folded[] = {
        "Delivered-To:",
        "\tFolded@Example.ORG",
        "Subject: x",
        "",
        "Delivered-To: body@example.org",
        NULL,
    };
    struct fixture f;

    (void) state;
    fixture_init(&f, make_msg(message, 0));
    assert_int_equal(local_scan_headers(&f.msg), 0);
    assert_non_null(htable_get(f.msg.delivered_to, "old@example.org"));
    assert_int_equal(f.msg.delivered_to->used, 1);
    fixture_free(&f);
    fixture_init(&f, make_msg(folded, 0));
    assert_int_equal(local_scan_headers(&f.msg), 0);
    assert_non_null(htable_get(f.msg.delivered_to, "folded@example.org"));
    /* A body line is not a header. */
    assert_null(htable_get(f.msg.delivered_to, "body@example.org"));
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mbox_form),
        cmocka_unit_test(test_null_sender_and_command_form),
        cmocka_unit_test(test_maildir_form_and_long_line),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_scan_delivered_to),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
