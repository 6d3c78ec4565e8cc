/*
 * test_queue_file.c - unit tests for lib/queue_file.c and lib/queue_id.c.
 *
 * Every test works in its own temporary queue folder (qf_set_root). Covers
 * create/commit/read back, seeking, moves between queues (with hashed
 * deferred/), scans, a writer killed before commit (no visible file),
 * recipients marked done surviving a re-open, every structural corruption
 * the reader must refuse, corrupt files moved to corrupt/, status logs
 * (with a torn last record), a full file system (tmpfs, when we may
 * mount one) giving QF_ERR_NOSPACE, and queue ID shape, order and
 * uniqueness across many calls and processes. Failing table cases print
 * "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "queue_id.h"
#include "record.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static int failures;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    print_error("%s\n", text);
    failures++;
}

/* ---- a temporary queue ----------------------------------------------------
 */

static char root[64];

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    char sub[512];

    if (d == NULL) {
        (void) unlink(path);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        rm_tree(sub);
    }
    closedir(d);
    (void) rmdir(path);
}

static int setup(void **state)
{
    (void) state;
    snprintf(root, sizeof(root), "/tmp/test_queue_file.XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    qf_set_root(root);
    var_hash_queue_names = "deferred, defer";
    var_hash_queue_depth = 1;
    var_queue_file_attribute_count_limit = 100;
    failures = 0;
    return qf_make_dirs();
}

static int teardown(void **state)
{
    (void) state;
    rm_tree(root);
    qf_set_root(NULL);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* All names a scan of QUEUE returns, space-separated, sorted. */
static void scan_all(const char *queue, int flags, struct buf *out)
{
    struct qf_scan *s = qf_scan_open(queue, flags);
    struct buf *name = buf_new(0);
    char **names = NULL;
    size_t n = 0;
    size_t i;
    int ret;

    buf_reset(out);
    if (s == NULL) {
        buf_puts(out, "(error)");
        buf_free(name);
        return;
    }
    while ((ret = qf_scan_next(s, name)) > 0) {
        names = realloc(names, (n + 1) * sizeof(*names));
        names[n++] = strdup(buf_str(name));
    }
    if (ret < 0)
        buf_puts(out, "(error)");
    qf_scan_close(s);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_names);
    for (i = 0; i < n; i++) {
        if (i)
            buf_putc(out, ' ');
        buf_puts(out, names[i]);
        free(names[i]);
    }
    free(names);
    buf_free(name);
}

static int file_exists(const char *queue, const char *name)
{
    struct buf *path = buf_new(0);
    struct stat st;
    int ret;

    qf_path(path, queue, name);
    ret = stat(buf_str(path), &st) == 0;
    buf_free(path);
    return ret;
}

/* A small committed message; its ID goes into ID. 0, or -1. */
static int small_message(struct buf *id, int nrcpt)
{
    struct qf_writer *w = qf_create(QF_INCOMING);
    char addr[64];
    int ret = 0;
    int i;

    if (w == NULL)
        return -1;
    ret |= qf_put_int(w, REC_TIME, 1700000000000000LL);
    ret |= qf_puts(w, REC_SENDER, "s@example.org");
    ret |= qf_put_int(w, REC_WARN, 0);
    for (i = 0; i < nrcpt; i++) {
        snprintf(addr, sizeof(addr), "r%d@example.com", i);
        ret |= qf_put_rcpt(w, 0, addr, NULL, NULL);
    }
    ret |= qf_begin_content(w);
    ret |= qf_put_text(w, "Subject: test", 13, 0);
    ret |= qf_put_text(w, "", 0, 0);
    qf_mark_body(w);
    ret |= qf_put_text(w, "body", 4, 0);
    ret |= qf_commit(w);
    buf_set(id, qf_writer_id(w));
    qf_writer_free(w);
    return ret;
}

static void make_message(struct buf *id, int nrcpt)
{
    assert_int_equal(small_message(id, nrcpt), 0);
}

/* ---- create, commit, read -------------------------------------------------
 */

static void test_create_commit_read(void **state)
{
    struct qf_writer *w;
    struct qf_reader *r;
    struct buf *id = buf_new(0);
    struct buf *names = buf_new(0);
    struct buf *data = buf_new(0);
    struct buf *longline = buf_new(0);
    struct buf *line = buf_new(0);
    struct rec_rcpt rc;
    const struct rec_size *sz;
    size_t i;
    int type;
    long long want_size;

    (void) state;
    for (i = 0; i < QF_PIECE_MAX + 1000; i++)
        buf_putc(longline, 'A' + (int) (i % 26));

    w = qf_create(QF_INCOMING);
    assert_non_null(w);
    buf_set(id, qf_writer_id(w));
    assert_true(queue_id_valid(buf_str(id)));
    /* While it is written nothing is visible, except to a temp scan. */
    scan_all(QF_INCOMING, 0, names);
    assert_string_equal(buf_str(names), "");
    scan_all(QF_INCOMING, QF_SCAN_TEMP, names);
    assert_int_equal(strncmp(buf_str(names), buf_str(id), QUEUE_ID_LEN), 0);
    assert_string_equal(buf_str(names) + QUEUE_ID_LEN, ".tmp");

    assert_int_equal(qf_put_int(w, REC_TIME, 1700000000000001LL), 0);
    assert_int_equal(qf_puts(w, REC_SENDER, "sender@example.org"), 0);
    assert_int_equal(qf_put_attr(w, "client_name", "mail.example.org"), 0);
    assert_int_equal(qf_put_attr(w, "client_address", "192.0.2.1"), 0);
    assert_int_equal(qf_put_attr(w, "sasl_method", "PLAIN"), 0);
    assert_int_equal(qf_put_attr(w, "sasl_username", "bob"), 0);
    assert_int_equal(qf_put_int(w, REC_DSN_RET, REC_DSN_RET_HDRS), 0);
    assert_int_equal(qf_puts(w, REC_DSN_ENVID, "ENV-1"), 0);
    assert_int_equal(qf_put_rcpt(w, REC_NOTIFY_FAILURE, "a@example.com",
                                 "A@example.com", "rfc822;A@example.com"),
                     0);
    assert_int_equal(qf_put_rcpt(w, 0, "b@example.com", NULL, NULL), 0);
    assert_int_equal(
        qf_put_rcpt(w, REC_NOTIFY_NEVER, "c@example.com", "c", NULL), 0);
    assert_int_equal(qf_begin_content(w), 0);
    assert_int_equal(qf_put_text(w, "Subject: hello", 14, 0), 0);
    assert_int_equal(qf_put_text(w, "X-Long: ", 8, 1), 0);
    assert_int_equal(qf_put_text(w, "folded", 6, 0), 0);
    assert_int_equal(qf_put_text(w, "", 0, 0), 0);
    qf_mark_body(w);
    assert_int_equal(qf_put_text(w, "first body line", 15, 0), 0);
    assert_int_equal(qf_put_text(w, buf_str(longline), buf_len(longline), 0),
                     0);
    assert_int_equal(qf_put_text(w, "last", 4, 1), 0); /* left open */
    want_size = 15 + 15 + 0 + 1 + 16 + (long long) buf_len(longline) + 1 + 5;
    /* The open line gets its LF when the content ends. */
    assert_int_equal(qf_content_size(w), want_size - 1);
    assert_int_equal(qf_end_content(w), 0);
    assert_int_equal(qf_content_size(w), want_size);
    assert_int_equal(qf_put_rcpt(w, 0, "extracted@example.net", NULL, NULL), 0);
    /* A header_checks HOLD is known only now. */
    assert_int_equal(qf_put_int(w, REC_FLAGS, REC_FLAG_HOLD), 0);
    assert_int_equal(qf_commit(w), 0);
    qf_writer_free(w);

    scan_all(QF_INCOMING, 0, names);
    assert_string_equal(buf_str(names), buf_str(id));
    scan_all(QF_INCOMING, QF_SCAN_TEMP, names);
    assert_string_equal(buf_str(names), "");

    r = qf_open(QF_INCOMING, buf_str(id), 0);
    assert_non_null(r);
    assert_string_equal(qf_reader_id(r), buf_str(id));
    assert_string_equal(qf_reader_queue(r), QF_INCOMING);
    sz = qf_size(r);
    assert_non_null(sz);
    assert_int_equal(sz->rcpt_count, 4);
    assert_int_equal(sz->content_size, want_size);
    assert_true(sz->content_offset > 0);
    assert_true(sz->body_offset > sz->content_offset);
    assert_true(sz->xtracted_offset > sz->body_offset);

    /* Envelope, in the order written. */
    {
        static const struct {
            int type;
            const char *data;
        } env[] = {
            {REC_TIME, NULL},
            {REC_SENDER, "sender@example.org"},
            {REC_ATTR, "client_name=mail.example.org"},
            {REC_ATTR, "client_address=192.0.2.1"},
            {REC_ATTR, "sasl_method=PLAIN"},
            {REC_ATTR, "sasl_username=bob"},
            {REC_DSN_RET, NULL},
            {REC_DSN_ENVID, "ENV-1"},
            {REC_RCPT, "a@example.com"},
            {REC_RCPT, "b@example.com"},
            {REC_RCPT, "c@example.com"},
        };

        rec_rcpt_init(&rc);
        for (i = 0; i < NCASES(env); i++) {
            type = qf_read(r, data);
            if (type != env[i].type) {
                report("envelope %zu: got type %d, want %c (%s)", i, type,
                       env[i].type, qf_error());
                continue;
            }
            if (type == REC_RCPT) {
                assert_int_equal(
                    rec_rcpt_parse(buf_str(data), buf_len(data), &rc), 0);
                if (strcmp(buf_str(rc.addr), env[i].data) != 0)
                    report("rcpt %zu: got %s, want %s", i, buf_str(rc.addr),
                           env[i].data);
                if (rc.status != REC_RCPT_PENDING)
                    report("rcpt %zu: got status %c, want P", i, rc.status);
            } else if (type == REC_TIME) {
                long long t;

                assert_int_equal(
                    rec_int_parse(buf_str(data), buf_len(data), &t), 0);
                assert_int_equal(t, 1700000000000001LL);
            } else if (env[i].data && strcmp(buf_str(data), env[i].data) != 0) {
                report("envelope %zu: got \"%s\", want \"%s\"", i,
                       buf_str(data), env[i].data);
            }
        }
        rec_rcpt_free(&rc);
    }

    /* Content: lines come back whole when the pieces are joined. */
    {
        static const char *const want_lines[] = {
            "Subject: hello",
            "X-Long: folded",
            "",
            "first body line",
            NULL, /* the long line */
            "last",
        };
        size_t n = 0;

        assert_int_equal(qf_read(r, data), REC_MESSAGE);
        assert_int_equal(qf_offset(r), sz->content_offset);
        buf_reset(line);
        while ((type = qf_read(r, data)) == REC_LINE || type == REC_PIECE) {
            buf_append(line, buf_str(data), buf_len(data));
            if (type == REC_PIECE)
                continue;
            if (n >= NCASES(want_lines)) {
                report("content: extra line \"%s\"", buf_str(line));
            } else if (want_lines[n] == NULL) {
                if (buf_len(line) != buf_len(longline)
                    || memcmp(buf_str(line), buf_str(longline), buf_len(line))
                           != 0)
                    report("content: long line differs (%zu bytes)",
                           buf_len(line));
            } else if (strcmp(buf_str(line), want_lines[n]) != 0) {
                report("content line %zu: got \"%s\", want \"%s\"", n,
                       buf_str(line), want_lines[n]);
            }
            if (n == 3 && qf_offset(r) != sz->body_offset)
                report("body offset: got %lld, want %lld", qf_offset(r),
                       sz->body_offset);
            n++;
            buf_reset(line);
        }
        assert_int_equal(n, NCASES(want_lines));
        assert_int_equal(type, REC_XTRACTED);
        assert_int_equal(qf_offset(r), sz->xtracted_offset);
    }
    assert_int_equal(qf_read(r, data), REC_RCPT);
    assert_int_equal(qf_read(r, data), REC_FLAGS);
    assert_int_equal(qf_read(r, data), REC_END);
    assert_int_equal(qf_read(r, data), 0);

    /* Seeking: content again, then skip it. */
    assert_int_equal(qf_seek_content(r), 0);
    assert_int_equal(qf_read(r, data), REC_MESSAGE);
    assert_int_equal(qf_read(r, data), REC_LINE);
    assert_string_equal(buf_str(data), "Subject: hello");
    assert_int_equal(qf_skip_content(r), 0);
    assert_int_equal(qf_read(r, data), REC_XTRACTED);
    assert_int_equal(qf_read(r, data), REC_RCPT);
    assert_int_equal(qf_read(r, data), REC_FLAGS);
    assert_int_equal(qf_read(r, data), REC_END);
    assert_int_equal(qf_read(r, data), 0);
    qf_close(r);

    buf_free(id);
    buf_free(names);
    buf_free(data);
    buf_free(longline);
    buf_free(line);
    assert_int_equal(failures, 0);
}

/* A message without content lines and a writer that skips the calls. */
static void test_minimal_message(void **state)
{
    struct qf_writer *w = qf_create(QF_MAILDROP);
    struct qf_reader *r;
    struct buf *data = buf_new(0);
    struct buf *id = buf_new(0);
    static const int want[] = {REC_TIME,    REC_SENDER,   REC_RCPT,
                               REC_MESSAGE, REC_XTRACTED, REC_END};
    size_t i;

    (void) state;
    assert_non_null(w);
    qf_put_int(w, REC_TIME, 1);
    qf_puts(w, REC_SENDER, "");
    qf_put_rcpt(w, 0, "root", NULL, NULL);
    assert_int_equal(qf_commit(w), 0);
    buf_set(id, qf_writer_id(w));
    qf_writer_free(w);
    r = qf_open(QF_MAILDROP, buf_str(id), 0);
    assert_non_null(r);
    for (i = 0; i < NCASES(want); i++)
        assert_int_equal(qf_read(r, data), want[i]);
    assert_int_equal(qf_read(r, data), 0);
    assert_int_equal(qf_size(r)->content_size, 0);
    assert_int_equal(qf_size(r)->body_offset, 0);
    qf_close(r);
    buf_free(data);
    buf_free(id);
}

/* ---- moves, scans, removal ------------------------------------------------
 */

static void test_move_and_scan(void **state)
{
    struct buf *a = buf_new(0);
    struct buf *b = buf_new(0);
    struct buf *names = buf_new(0);
    struct buf *path = buf_new(0);
    struct buf *want = buf_new(0);
    struct qf_reader *r;
    char hash[3];

    (void) state;
    make_message(a, 1);
    make_message(b, 2);
    assert_true(strcmp(buf_str(a), buf_str(b)) < 0);
    buf_setf(want, "%s %s", buf_str(a), buf_str(b));
    scan_all(QF_INCOMING, 0, names);
    assert_string_equal(buf_str(names), buf_str(want));

    assert_int_equal(qf_move(buf_str(a), QF_INCOMING, QF_ACTIVE), 0);
    scan_all(QF_INCOMING, 0, names);
    assert_string_equal(buf_str(names), buf_str(b));
    scan_all(QF_ACTIVE, 0, names);
    assert_string_equal(buf_str(names), buf_str(a));

    /* deferred/ is hashed one level deep by the ID's hash character. */
    assert_int_equal(qf_move(buf_str(a), QF_ACTIVE, QF_DEFERRED), 0);
    hash[0] = (char) queue_id_hash_char(buf_str(a), 0);
    hash[1] = 0;
    qf_path(path, QF_DEFERRED, buf_str(a));
    buf_setf(want, "%s/deferred/%s/%s", root, hash, buf_str(a));
    assert_string_equal(buf_str(path), buf_str(want));
    assert_true(file_exists(QF_DEFERRED, buf_str(a)));
    assert_int_equal(qf_move(buf_str(b), QF_INCOMING, QF_DEFERRED), 0);
    scan_all(QF_DEFERRED, 0, names);
    buf_setf(want, "%s %s", buf_str(a), buf_str(b));
    assert_string_equal(buf_str(names), buf_str(want));

    /* Readable where it is, gone where it was. */
    r = qf_open(QF_DEFERRED, buf_str(a), 0);
    assert_non_null(r);
    qf_close(r);
    assert_null(qf_open(QF_ACTIVE, buf_str(a), 0));
    assert_int_equal(qf_reason(), QF_ERR_GONE);
    assert_int_equal(qf_move(buf_str(a), QF_ACTIVE, QF_HOLD), -1);
    assert_int_equal(qf_reason(), QF_ERR_GONE);

    /* The next retry time lives in the file's modification time. */
    assert_int_equal(qf_touch(QF_DEFERRED, buf_str(a), 2000000000LL), 0);
    qf_path(path, QF_DEFERRED, buf_str(a));
    {
        struct stat st;

        assert_int_equal(stat(buf_str(path), &st), 0);
        assert_int_equal((long long) st.st_mtime, 2000000000LL);
    }
    assert_int_equal(qf_touch(QF_ACTIVE, buf_str(a), 1), -1);
    assert_int_equal(qf_reason(), QF_ERR_GONE);

    assert_int_equal(qf_move(buf_str(a), QF_DEFERRED, QF_HOLD), 0);
    scan_all(QF_HOLD, 0, names);
    assert_string_equal(buf_str(names), buf_str(a));
    scan_all(QF_DEFERRED, 0, names);
    assert_string_equal(buf_str(names), buf_str(b));

    /* Junk in a queue folder is never returned. */
    buf_setf(path, "%s/hold/not-an-id", root);
    close(open(buf_str(path), O_WRONLY | O_CREAT, 0600));
    buf_setf(path, "%s/hold/..hidden", root);
    close(open(buf_str(path), O_WRONLY | O_CREAT, 0600));
    scan_all(QF_HOLD, 0, names);
    assert_string_equal(buf_str(names), buf_str(a));

    assert_int_equal(qf_remove(QF_HOLD, buf_str(a)), 0);
    assert_int_equal(qf_remove(QF_HOLD, buf_str(a)), -1);
    assert_int_equal(qf_reason(), QF_ERR_GONE);
    assert_int_equal(qf_remove(QF_HOLD, "not-an-id"), -1);
    assert_int_equal(qf_remove(QF_DEFERRED, buf_str(b)), 0);
    scan_all(QF_DEFERRED, 0, names);
    assert_string_equal(buf_str(names), "");

    buf_free(a);
    buf_free(b);
    buf_free(names);
    buf_free(path);
    buf_free(want);
}

static void test_names(void **state)
{
    static const struct {
        const char *name;
        int valid;
        int temp;
    } cases[] = {
        {"4dXq2B0000AbCd", 1, 0},
        {"4dXq2B0000AbCd.tmp", 0, 1},
        {"4dXq2B0000AbC", 0, 0},
        {"4dXq2B0000AbCdE", 0, 0},
        {"4dXq2B0000AbC-", 0, 0},
        {"4dXq2BzzzzAbCd", 0, 0}, /* microseconds over a million */
        {"4dXq2B0000AbCd.tm", 0, 0},
        {"", 0, 0},
        {".tmp", 0, 0},
    };
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        if (qf_name_valid(cases[i].name) != cases[i].valid)
            report("qf_name_valid(%s): got %d, want %d", cases[i].name,
                   !cases[i].valid, cases[i].valid);
        if (qf_temp_name(cases[i].name) != cases[i].temp)
            report("qf_temp_name(%s): got %d, want %d", cases[i].name,
                   !cases[i].temp, cases[i].temp);
    }
    assert_true(qf_queue_known("incoming"));
    assert_true(qf_queue_known("defer"));
    assert_false(qf_queue_known("tmp"));
    assert_int_equal(failures, 0);
}

/* ---- crash before commit ----------------------------------------------------
 */

static void test_crash_before_commit(void **state)
{
    struct buf *names = buf_new(0);
    int status;
    pid_t pid;

    (void) state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct qf_writer *w = qf_create(QF_INCOMING);
        int i;

        if (w == NULL)
            _exit(2);
        qf_put_int(w, REC_TIME, 1);
        qf_puts(w, REC_SENDER, "s@example.org");
        qf_put_rcpt(w, 0, "r@example.com", NULL, NULL);
        qf_begin_content(w);
        for (i = 0; i < 2000; i++)
            qf_put_text(w, "a line of the message that never finishes", 42, 0);
        raise(SIGKILL); /* cleanup dies here */
        _exit(3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* Nothing visible, one stale temporary file for postsuper -p. */
    scan_all(QF_INCOMING, 0, names);
    assert_string_equal(buf_str(names), "");
    scan_all(QF_INCOMING, QF_SCAN_TEMP, names);
    assert_true(qf_temp_name(buf_str(names)));
    assert_int_equal(qf_remove(QF_INCOMING, buf_str(names)), 0);
    scan_all(QF_INCOMING, QF_SCAN_TEMP, names);
    assert_string_equal(buf_str(names), "");

    /* A writer that gives up removes its file. */
    {
        struct qf_writer *w = qf_create(QF_INCOMING);

        qf_put_int(w, REC_TIME, 1);
        qf_writer_free(w);
        scan_all(QF_INCOMING, QF_SCAN_TEMP, names);
        assert_string_equal(buf_str(names), "");
    }
    buf_free(names);
}

/* ---- recipients marked done -------------------------------------------------
 */

static void test_mark_done(void **state)
{
    struct buf *id = buf_new(0);
    struct buf *data = buf_new(0);
    struct qf_reader *r;
    long long rcpt_off[4];
    long long warn_off = -1;
    struct rec_rcpt rc;
    int n = 0;
    int type;
    static const int want[4] = {REC_RCPT_DELIVERED, REC_RCPT_PENDING,
                                REC_RCPT_BOUNCED, REC_RCPT_DROPPED};

    (void) state;
    make_message(id, 4);
    r = qf_open(QF_INCOMING, buf_str(id), QF_OPEN_RDWR);
    assert_non_null(r);
    while ((type = qf_read(r, data)) > 0) {
        if (type == REC_RCPT)
            rcpt_off[n++] = qf_offset(r);
        if (type == REC_WARN)
            warn_off = qf_offset(r);
    }
    assert_int_equal(type, 0);
    assert_int_equal(n, 4);
    assert_int_equal(qf_mark_rcpt(r, rcpt_off[0], REC_RCPT_DELIVERED), 0);
    assert_int_equal(qf_mark_rcpt(r, rcpt_off[2], REC_RCPT_BOUNCED), 0);
    assert_int_equal(qf_mark_rcpts(r, &rcpt_off[3], 1, REC_RCPT_DROPPED), 0);
    assert_int_equal(qf_set_warn(r, warn_off, 1700001234), 0);
    /* Offsets that are not a recipient or a warn record are refused. */
    assert_int_equal(qf_mark_rcpt(r, warn_off, REC_RCPT_DELIVERED), -1);
    assert_int_equal(qf_reason(), QF_ERR_CORRUPT);
    assert_int_equal(qf_mark_rcpt(r, rcpt_off[0] + 1, REC_RCPT_DELIVERED), -1);
    assert_int_equal(qf_mark_rcpt(r, 0, REC_RCPT_DELIVERED), -1);
    assert_int_equal(qf_set_warn(r, rcpt_off[1], 1), -1);
    qf_close(r);

    /* Re-opened (a restart): the marks are there, the file still parses. */
    r = qf_open(QF_INCOMING, buf_str(id), 0);
    assert_non_null(r);
    rec_rcpt_init(&rc);
    n = 0;
    while ((type = qf_read(r, data)) > 0) {
        if (type == REC_RCPT) {
            assert_int_equal(rec_rcpt_parse(buf_str(data), buf_len(data), &rc),
                             0);
            if (rc.status != want[n])
                report("rcpt %d: got status %c, want %c", n, rc.status,
                       want[n]);
            n++;
        }
        if (type == REC_WARN) {
            long long t;

            rec_int_parse(buf_str(data), buf_len(data), &t);
            assert_int_equal(t, 1700001234);
        }
    }
    assert_int_equal(type, 0);
    rec_rcpt_free(&rc);
    qf_close(r);
    buf_free(id);
    buf_free(data);
    assert_int_equal(failures, 0);
}

/* ---- corrupt files
 * ----------------------------------------------------------- */

#define Z_OK        0
#define Z_BAD_MSG   1 /* content offset off by one */
#define Z_BAD_XTR   2 /* xtracted offset off by one */
#define Z_BAD_COUNT 3 /* one recipient too many */
#define Z_ZERO      4 /* never patched */

/*
 * Write a queue file ID into incoming/ with one record per letter of SPEC
 * (default data per type) and a SIZE record computed from where MESSAGE
 * and XTRACTED really are, spoiled as ZMODE says.
 */
static void write_spec(const char *id, const char *spec, int zmode)
{
    struct buf *out = buf_new(0);
    struct buf *tmp = buf_new(0);
    struct buf *path = buf_new(0);
    struct rec_size sz = {0, 0, 0, 0, 0};
    struct rec_status st;
    size_t size_data = 0;
    const char *cp;
    int fd;

    rec_status_init(&st);
    buf_set(st.addr, "a@b");
    for (cp = spec; *cp; cp++) {
        unsigned char num[REC_INT_LEN];
        const char *data = "";
        size_t len = 0;

        switch (*cp) {
        case REC_VERSION:
            data = REC_VERSION_TEXT;
            len = strlen(data);
            break;
        case REC_SIZE:
            len = REC_SIZE_LEN;
            data = "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                   "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
            break;
        case REC_TIME:
        case REC_WARN:
        case REC_FLAGS:
            rec_int_encode(num, 5);
            data = (const char *) num;
            len = sizeof(num);
            break;
        case REC_SENDER:
            data = "s@example.org";
            len = strlen(data);
            break;
        case REC_RCPT:
            buf_reset(tmp);
            rec_rcpt_encode(tmp, REC_RCPT_PENDING, 0, "r@example.com", "", "");
            data = buf_str(tmp);
            len = buf_len(tmp);
            sz.rcpt_count++;
            break;
        case REC_ATTR:
            data = "client_name=x";
            len = strlen(data);
            break;
        case REC_LINE:
            data = "line";
            len = 4;
            break;
        case REC_PIECE:
            data = "pie";
            len = 3;
            break;
        case REC_STATUS:
            buf_reset(tmp);
            rec_status_encode(tmp, &st);
            data = buf_str(tmp);
            len = buf_len(tmp);
            break;
        case REC_MESSAGE:
            if (sz.content_offset == 0)
                sz.content_offset = (long long) buf_len(out);
            break;
        case REC_XTRACTED:
            if (sz.xtracted_offset == 0)
                sz.xtracted_offset = (long long) buf_len(out);
            break;
        default:
            break;
        }
        rec_header_encode(out, *cp, len);
        if (*cp == REC_SIZE && size_data == 0)
            size_data = buf_len(out);
        buf_append(out, data, len);
    }
    if (zmode == Z_BAD_MSG)
        sz.content_offset++;
    if (zmode == Z_BAD_XTR)
        sz.xtracted_offset++;
    if (zmode == Z_BAD_COUNT)
        sz.rcpt_count++;
    if (zmode != Z_ZERO && size_data > 0)
        rec_size_encode((unsigned char *) buf_str(out) + size_data, &sz);
    qf_path(path, QF_INCOMING, id);
    fd = open(buf_str(path), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf_str(out), buf_len(out)),
                     (ssize_t) buf_len(out));
    close(fd);
    rec_status_free(&st);
    buf_free(out);
    buf_free(tmp);
    buf_free(path);
}

static void test_structure(void **state)
{
    static const struct {
        const char *spec;
        int zmode;
        const char *want; /* "" = reads to the end, else part of the error */
    } cases[] = {
        {"VZTSRMLXE", Z_OK, ""},
        {"VZTSFRMLXFRE", Z_OK, ""},
        {"VZSTRAWMXE", Z_OK, ""},
        {"VZTSMLPLXRAE", Z_OK, ""},
        {"VTSRMLXE", Z_OK, "missing size record"},
        {"ZVTSRMLXE", Z_OK, "first record is not a version record"},
        {"", Z_OK, "missing version record"},
        {"VZTSRMLXE", Z_ZERO, "incomplete size record"},
        {"VZSRMLXE", Z_OK, "missing time record before end"},
        {"VZTRMLXE", Z_OK, "missing sender record before end"},
        {"VZTSSRMLXE", Z_OK, "second sender at offset"},
        {"VZTTSRMLXE", Z_OK, "second time"},
        {"VZTSRZMLXE", Z_OK, "unexpected size"},
        {"VZTSRLMXE", Z_OK, "unexpected line"},
        {"VZTSRMLRXE", Z_OK, "unexpected rcpt"},
        {"VZTSRMMLXE", Z_OK, "unexpected message"},
        {"VZTSRMLPXE", Z_OK, "unfinished line before xtracted"},
        {"VZTSRMLXSE", Z_OK, "unexpected sender"},
        {"VZTSRMLXLE", Z_OK, "unexpected line"},
        {"VZTSRMLXQE", Z_OK, "unexpected status"},
        {"VZTSRQMLXE", Z_OK, "unexpected status"},
        {"VZTSRMLE", Z_OK, "incomplete size record"},
        {"VZTSRE", Z_OK, "incomplete size record"},
        {"VZTSRMLX", Z_OK, "missing end record"},
        {"VZTSRMLXEE", Z_OK, "data after the end record"},
        {"VZTSRMLXE", Z_BAD_MSG, "misplaced message"},
        {"VZTSRMLXE", Z_BAD_XTR, "misplaced xtracted"},
        {"VZTSRMLXE", Z_BAD_COUNT, "recipient count mismatch"},
        {"VZTSRAAMLXE", Z_OK, ""},
        {"VZTSRAAAMLXE", Z_OK, "too many attributes"},
        {"VZTSRAMLXAAE", Z_OK, "too many attributes"},
    };
    static const char id[] = "0000010000000A";
    struct buf *data = buf_new(0);
    size_t i;

    (void) state;
    var_queue_file_attribute_count_limit = 2;
    for (i = 0; i < NCASES(cases); i++) {
        struct qf_reader *r;
        int type = 0;
        const char *got = "";

        write_spec(id, cases[i].spec, cases[i].zmode);
        r = qf_open(QF_INCOMING, id, 0);
        if (r == NULL) {
            got = qf_error();
            if (qf_reason() != QF_ERR_CORRUPT)
                report("%s: got reason %d, want QF_ERR_CORRUPT", cases[i].spec,
                       qf_reason());
        } else {
            while ((type = qf_read(r, data)) > 0)
                /* void */;
            if (type < 0) {
                got = qf_error();
                if (qf_reason() != QF_ERR_CORRUPT)
                    report("%s: got reason %d, want QF_ERR_CORRUPT",
                           cases[i].spec, qf_reason());
                if (qf_read(r, data) != -1)
                    report("%s: error did not stick", cases[i].spec);
            }
            qf_close(r);
        }
        if (cases[i].want[0] == 0 ? got[0] != 0
                                  : strstr(got, cases[i].want) == NULL)
            report("%s (z %d): got \"%s\", want \"%s\"", cases[i].spec,
                   cases[i].zmode, got, cases[i].want);
        else if (cases[i].want[0] && strstr(got, "incoming/") == NULL)
            report("%s: message \"%s\" does not name the file", cases[i].spec,
                   got);
    }
    qf_remove(QF_INCOMING, id);
    var_queue_file_attribute_count_limit = 100;
    buf_free(data);
    assert_int_equal(failures, 0);
}

static void test_move_corrupt(void **state)
{
    static const char id[] = "0000020000000B";
    struct buf *names = buf_new(0);
    struct buf *good = buf_new(0);
    struct qf_reader *r;

    (void) state;
    make_message(good, 1);
    write_spec(id, "VZTSRMLP", Z_OK);
    scan_all(QF_INCOMING, 0, names);
    /* The qmgr loop: a bad file goes to corrupt/, the rest flows. */
    {
        struct qf_scan *s = qf_scan_open(QF_INCOMING, 0);
        struct buf *name = buf_new(0);
        struct buf *data = buf_new(0);
        int moved = 0;
        int fine = 0;

        while (qf_scan_next(s, name) > 0) {
            int type = -1;

            if ((r = qf_open(QF_INCOMING, buf_str(name), 0)) != NULL) {
                while ((type = qf_read(r, data)) > 0)
                    /* void */;
                qf_close(r);
            }
            if (type < 0 && qf_reason() == QF_ERR_CORRUPT) {
                assert_int_equal(
                    qf_move_corrupt(buf_str(name), QF_INCOMING, qf_error()), 0);
                moved++;
            } else if (type == 0
                       && qf_move(buf_str(name), QF_INCOMING, QF_ACTIVE) == 0) {
                fine++;
            }
        }
        qf_scan_close(s);
        assert_int_equal(moved, 1);
        assert_int_equal(fine, 1);
        buf_free(name);
        buf_free(data);
    }
    scan_all(QF_CORRUPT, 0, names);
    assert_string_equal(buf_str(names), id);
    scan_all(QF_ACTIVE, 0, names);
    assert_string_equal(buf_str(names), buf_str(good));
    scan_all(QF_INCOMING, 0, names);
    assert_string_equal(buf_str(names), "");
    /* Moving what is gone is a warning and -1, never a crash. */
    assert_int_equal(qf_move_corrupt(id, QF_INCOMING, "again"), -1);
    buf_free(names);
    buf_free(good);
}

/* ---- status logs
 * --------------------------------------------------------------- */

static void fill_status(struct rec_status *st, int action, const char *addr,
                        const char *reason)
{
    st->action = action;
    st->notify = REC_NOTIFY_FAILURE;
    st->rcpt_offset = 55;
    st->time_us = 1700000000000000LL;
    buf_set(st->addr, addr);
    buf_set(st->dsn, action == REC_ACTION_BOUNCED ? "5.1.1" : "4.4.1");
    buf_set(st->relay, "mx.example.com[192.0.2.1]:25");
    buf_set(st->reason, reason);
}

static void read_log(const char *id, struct buf *out)
{
    struct qf_reader *r = qf_open(QF_LOG_DEFER, id, 0);
    struct buf *data = buf_new(0);
    struct rec_status st;
    int type;

    buf_reset(out);
    if (r == NULL) {
        buf_setf(out, "(open: %s)", qf_error());
        buf_free(data);
        return;
    }
    assert_null(qf_size(r));
    rec_status_init(&st);
    while ((type = qf_read(r, data)) == REC_STATUS) {
        assert_int_equal(rec_status_parse(buf_str(data), buf_len(data), &st),
                         0);
        buf_printf(out, "%s%c:%s:%s", buf_len(out) ? " " : "", st.action,
                   buf_str(st.addr), buf_str(st.reason));
    }
    if (type < 0)
        buf_printf(out, " (error: %s)", qf_error());
    rec_status_free(&st);
    qf_close(r);
    buf_free(data);
}

static void test_status_log(void **state)
{
    static const char id[] = "0000030000000C";
    struct rec_status st;
    struct qf_log *l;
    struct buf *got = buf_new(0);
    struct buf *path = buf_new(0);
    int fd;

    (void) state;
    rec_status_init(&st);
    l = qf_log_open(QF_LOG_DEFER, id);
    assert_non_null(l);
    fill_status(&st, REC_ACTION_DEFERRED, "a@example.com", "refused");
    assert_int_equal(qf_log_append(l, &st), 0);
    fill_status(&st, REC_ACTION_DEFERRED, "b@example.com", "timeout");
    assert_int_equal(qf_log_append(l, &st), 0);
    assert_int_equal(qf_log_close(l), 0);
    read_log(id, got);
    assert_string_equal(buf_str(got),
                        "F:a@example.com:refused F:b@example.com:timeout");

    /* defer/ is hashed. */
    qf_path(path, QF_LOG_DEFER, id);
    assert_non_null(strstr(buf_str(path), "/defer/"));
    assert_int_equal(buf_str(path)[buf_len(path) - QUEUE_ID_LEN - 2],
                     queue_id_hash_char(id, 0));

    /* A crash tore the last record: the next open cuts it off. */
    fd = open(buf_str(path), O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd,
                           "Q\x40"
                           "F\x04",
                           4),
                     4);
    close(fd);
    read_log(id, got);
    assert_non_null(strstr(buf_str(got), "truncated record"));
    l = qf_log_open(QF_LOG_DEFER, id);
    assert_non_null(l);
    fill_status(&st, REC_ACTION_BOUNCED, "c@example.com", "no such user");
    assert_int_equal(qf_log_append(l, &st), 0);
    assert_int_equal(qf_log_close(l), 0);
    read_log(id, got);
    assert_string_equal(buf_str(got),
                        "F:a@example.com:refused F:b@example.com:timeout "
                        "B:c@example.com:no such user");

    /* A log that is not a log is refused, not appended to. */
    fd = open(buf_str(path), O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "garbage!", 8), 8);
    close(fd);
    assert_null(qf_log_open(QF_LOG_DEFER, id));
    assert_int_equal(qf_reason(), QF_ERR_CORRUPT);
    assert_int_equal(qf_remove(QF_LOG_DEFER, id), 0);

    /* An empty file left by a crash right after create is fine. */
    close(open(buf_str(path), O_WRONLY | O_CREAT, 0600));
    l = qf_log_open(QF_LOG_DEFER, id);
    assert_non_null(l);
    assert_int_equal(qf_log_close(l), 0);
    read_log(id, got);
    assert_string_equal(buf_str(got), "");

    rec_status_free(&st);
    buf_free(got);
    buf_free(path);
}

/* ---- a full file system
 * ------------------------------------------------------- */

/* In a child with its own mount namespace: 0 ok, 77 skip, else failed. */
static int nospace_child(void)
{
    char dir[] = "/tmp/test_qf_full.XXXXXX";
    char line[1000];
    struct qf_writer *w;
    struct buf *names = buf_new(0);
    struct buf *id = buf_new(0);
    int i;
    int ret;

    if (unshare(CLONE_NEWNS) < 0
        || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return 77;
    if (mkdtemp(dir) == NULL)
        return 10;
    if (mount("tmpfs", dir, "tmpfs", 0, "size=64k,nr_inodes=64") < 0) {
        rmdir(dir);
        return 77;
    }
    qf_set_root(dir);
    if (qf_make_dirs() < 0)
        return 11;
    memset(line, 'x', sizeof(line));
    w = qf_create(QF_INCOMING);
    if (w == NULL)
        return 12;
    qf_put_int(w, REC_TIME, 1);
    qf_puts(w, REC_SENDER, "s@example.org");
    qf_put_rcpt(w, 0, "r@example.com", NULL, NULL);
    qf_begin_content(w);
    for (i = 0; i < 200; i++)
        if (qf_put_text(w, line, sizeof(line), 0) < 0)
            break;
    ret = qf_commit(w);
    qf_writer_free(w);
    if (ret != -1)
        return 13;
    if (qf_reason() != QF_ERR_NOSPACE)
        return 14;
    if (strstr(qf_error(), "No space left") == NULL)
        return 15;
    /* No file, not even the temporary one, is left behind. */
    scan_all(QF_INCOMING, 0, names);
    if (buf_len(names) != 0)
        return 16;
    scan_all(QF_INCOMING, QF_SCAN_TEMP, names);
    if (buf_len(names) != 0)
        return 17;
    /* With the space back, a small message commits. */
    if (small_message(id, 1) < 0)
        return 19;
    scan_all(QF_INCOMING, 0, names);
    if (strcmp(buf_str(names), buf_str(id)) != 0)
        return 18;
    (void) umount(dir);
    (void) rmdir(dir);
    buf_free(names);
    buf_free(id);
    return 0;
}

static void test_nospace(void **state)
{
    int status;
    pid_t pid;

    (void) state;
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(nospace_child());
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- queue IDs
 * ---------------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, QUEUE_ID_LEN);
}

static void test_queue_id_shape(void **state)
{
    static const struct {
        long long sec;
        long usec;
        unsigned long pid;
        const char *want;
    } cases[] = {
        {0, 0, 0, "00000000000000"},
        {1, 1, 1, "00000100010001"},
        {61, 61, 61, "00000z000z000z"},
        {62, 62, 62, "00001000100010"},
        {1700000000, 999999, 4194303, "1r31eq4C91Hb83"},
    };
    struct buf *id = buf_new(0);
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        buf_reset(id);
        queue_id_format(id, cases[i].sec, cases[i].usec, cases[i].pid);
        if (strcmp(buf_str(id), cases[i].want) != 0)
            report("queue_id_format(%lld, %ld, %lu): got %s, want %s",
                   cases[i].sec, cases[i].usec, cases[i].pid, buf_str(id),
                   cases[i].want);
        if (!queue_id_valid(buf_str(id)))
            report("queue_id_valid(%s): got 0, want 1", buf_str(id));
        if (queue_id_time(buf_str(id)) != cases[i].sec)
            report("queue_id_time(%s): got %lld, want %lld", buf_str(id),
                   queue_id_time(buf_str(id)), cases[i].sec);
    }
    assert_int_equal(queue_id_time("bad"), -1);
    /* A fresh ID is valid, about now, and hashes on a microsecond digit. */
    buf_reset(id);
    queue_id_new(id);
    assert_int_equal(buf_len(id), QUEUE_ID_LEN);
    assert_true(queue_id_valid(buf_str(id)));
    assert_true(llabs(queue_id_time(buf_str(id)) - (long long) time(NULL))
                <= 2);
    assert_int_equal(queue_id_hash_char(buf_str(id), 0), buf_str(id)[9]);
    assert_int_equal(queue_id_hash_char(buf_str(id), 1), buf_str(id)[8]);
    buf_free(id);
    assert_int_equal(failures, 0);
}

/* Many IDs from one process: strictly increasing, hence unique. */
static void test_queue_id_order(void **state)
{
    enum { N = 100000 };
    struct buf *prev = buf_new(0);
    struct buf *id = buf_new(0);
    int i;

    (void) state;
    queue_id_new(prev);
    for (i = 0; i < N; i++) {
        buf_reset(id);
        queue_id_new(id);
        if (strcmp(buf_str(prev), buf_str(id)) >= 0) {
            report("ID %d: %s does not sort after %s", i, buf_str(id),
                   buf_str(prev));
            break;
        }
        buf_set(prev, buf_str(id));
    }
    buf_free(prev);
    buf_free(id);
    assert_int_equal(failures, 0);
}

/* IDs from several processes at once never collide. */
static void test_queue_id_processes(void **state)
{
    enum { PROCS = 6, PER = 20000, BATCH = 200 };
    size_t total = (size_t) (PROCS + 1) * PER;
    char *all = malloc(total * QUEUE_ID_LEN);
    size_t got = 0;
    int fds[2];
    int p;
    size_t i;
    struct buf *id = buf_new(0);

    (void) state;
    assert_non_null(all);
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    for (p = 0; p < PROCS; p++) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
            char batch[BATCH * QUEUE_ID_LEN];
            int n;
            int j;

            close(fds[0]);
            for (n = 0; n < PER; n += BATCH) {
                for (j = 0; j < BATCH; j++) {
                    buf_reset(id);
                    queue_id_new(id);
                    memcpy(batch + j * QUEUE_ID_LEN, buf_str(id), QUEUE_ID_LEN);
                }
                /* At most PIPE_BUF bytes: one atomic write. */
                if (write(fds[1], batch, sizeof(batch))
                    != (ssize_t) sizeof(batch))
                    _exit(1);
            }
            _exit(0);
        }
    }
    close(fds[1]);
    /* The parent makes its own while the children run. */
    for (i = 0; i < PER; i++) {
        buf_reset(id);
        queue_id_new(id);
        memcpy(all + got++ * QUEUE_ID_LEN, buf_str(id), QUEUE_ID_LEN);
    }
    for (;;) {
        ssize_t n = read(fds[0], all + got * QUEUE_ID_LEN,
                         (total - got) * QUEUE_ID_LEN);

        if (n <= 0)
            break;
        got += (size_t) n / QUEUE_ID_LEN;
    }
    close(fds[0]);
    for (p = 0; p < PROCS; p++) {
        int status;

        assert_true(wait(&status) > 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(got, total);
    qsort(all, total, QUEUE_ID_LEN, cmp_id);
    for (i = 1; i < total; i++)
        if (memcmp(all + (i - 1) * QUEUE_ID_LEN, all + i * QUEUE_ID_LEN,
                   QUEUE_ID_LEN)
            == 0) {
            report("duplicate ID %.*s", QUEUE_ID_LEN, all + i * QUEUE_ID_LEN);
            break;
        }
    free(all);
    buf_free(id);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_commit_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_minimal_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move_and_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_before_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mark_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_structure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_log, setup, teardown),
        cmocka_unit_test(test_nospace),
        cmocka_unit_test(test_queue_id_shape),
        cmocka_unit_test(test_queue_id_order),
        cmocka_unit_test(test_queue_id_processes),
    };

    msg_init("test_queue_file", MSG_NOLOG);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
