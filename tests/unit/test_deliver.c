/*
 * test_deliver.c - lib/deliver: the request's wire form, the agent's side
 * over a socketpair with a real queue file in a temporary queue folder
 * (what deliver_report makes durable: queue-file marks, bounce and defer
 * logs), the results qmgr parses, the log line, bad requests and bad
 * results.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attr.h"
#include "buf.h"
#include "deliver.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"
#include "stream.h"

static char root[64];
static char logpath[128];

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
    strcpy(root, "/tmp/test_deliver.XXXXXX");
    assert_non_null(mkdtemp(root));
    qf_set_root(root);
    assert_int_equal(qf_make_dirs(), 0);
    snprintf(logpath, sizeof(logpath), "%s/maillog", root);
    assert_int_equal(msg_set_logfile(logpath), 0);
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    msg_set_logfile("");
    qf_set_root(NULL);
    rm_tree(root);
    return 0;
}

/* A committed queue file in active/ with these recipients. */
static char *make_message(const char *const *rcpts, size_t n,
                          long long *offsets)
{
    struct qf_writer *w = qf_create(QF_INCOMING);
    struct qf_reader *r;
    struct buf *data = buf_new(64);
    char *id;
    size_t i = 0;
    int type;

    assert_non_null(w);
    assert_int_equal(qf_put_int(w, REC_TIME, 1000000LL), 0);
    assert_int_equal(qf_puts(w, REC_SENDER, "s@example.com"), 0);
    for (i = 0; i < n; i++)
        assert_int_equal(qf_put_rcpt(w, 0, rcpts[i], rcpts[i], NULL), 0);
    assert_int_equal(qf_begin_content(w), 0);
    assert_int_equal(qf_put_text(w, "Subject: x", 10, 0), 0);
    assert_int_equal(qf_commit(w), 0);
    id = strdup(qf_writer_id(w));
    qf_writer_free(w);
    assert_int_equal(qf_move(id, QF_INCOMING, QF_ACTIVE), 0);
    r = qf_open(QF_ACTIVE, id, 0);
    assert_non_null(r);
    i = 0;
    while ((type = qf_read(r, data)) > 0 && type != REC_MESSAGE)
        if (type == REC_RCPT)
            offsets[i++] = qf_offset(r);
    assert_int_equal(i, n);
    qf_close(r);
    buf_free(data);
    return id;
}

/* The RCPT status bytes of active/ID, in order. */
static void rcpt_states(const char *id, char *out)
{
    struct qf_reader *r = qf_open(QF_ACTIVE, id, 0);
    struct buf *data = buf_new(64);
    int type;

    assert_non_null(r);
    while ((type = qf_read(r, data)) > 0 && type != REC_MESSAGE)
        if (type == REC_RCPT)
            *out++ = buf_str(data)[0];
    *out = 0;
    qf_close(r);
    buf_free(data);
}

/* How many STATUS records LOG/ID holds; the last one's reason into WHY. */
static int log_count(const char *log, const char *id, struct buf *why)
{
    struct qf_reader *r = qf_open(log, id, 0);
    struct buf *data = buf_new(64);
    struct rec_status st;
    int n = 0;

    if (r == NULL) {
        buf_free(data);
        return 0;
    }
    rec_status_init(&st);
    while (qf_read(r, data) == REC_STATUS) {
        assert_int_equal(rec_status_parse(buf_str(data), buf_len(data), &st),
                         0);
        if (why)
            buf_set(why, buf_str(st.reason));
        n++;
    }
    rec_status_free(&st);
    qf_close(r);
    buf_free(data);
    return n;
}

static struct buf *slurp_fd(int fd)
{
    struct buf *b = buf_new(256);
    char chunk[512];
    ssize_t n;

    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(b, chunk, (size_t) n);
    return b;
}

static struct buf *slurp(const char *path)
{
    int fd = open(path, O_RDONLY);
    struct buf *b;

    assert_true(fd >= 0);
    b = slurp_fd(fd);
    close(fd);
    return b;
}

static void fill_request(struct deliver_request *req, const char *id,
                         const char *const *rcpts, size_t n,
                         const long long *offsets)
{
    size_t i;

    deliver_request_init(req);
    buf_set(req->queue_name, QF_ACTIVE);
    buf_set(req->queue_id, id);
    buf_set(req->nexthop, "[relay.example]:587");
    buf_set(req->sender, "s@example.com");
    req->flags = REC_FLAG_8BITMIME;
    req->arrival_us = 1000000;
    req->active_us = 2000000;
    req->request_us = 3000000;
    for (i = 0; i < n; i++)
        deliver_request_add_rcpt(req, rcpts[i],
                                 i == 0 ? "orig@example.com" : "", "",
                                 REC_NOTIFY_FAILURE, offsets[i]);
}

static void test_encode_wire(void **state)
{
    struct deliver_request req;
    struct buf *out = buf_new(0);
    static const char *const rcpts[] = {"a@x"};
    long long off = 42;
    long len;

    (void) state;
    fill_request(&req, "1r31eq0005001z", rcpts, 1, &off);
    deliver_request_encode(out, &req);
    len = attr_frame_len(buf_str(out), buf_len(out));
    assert_true(len > 0);
    /* The request list, then one recipient list, nothing else. */
    assert_true(strstr(buf_str(out), "7:nexthop,19:[relay.example]:587,")
                != NULL);
    assert_int_equal(attr_frame_len(buf_str(out) + len, buf_len(out) - len),
                     (long) buf_len(out) - len);
    assert_true(strstr(buf_str(out) + len, "7:address,3:a@x,") != NULL);
    assert_true(strstr(buf_str(out) + len, "6:offset,2:42,") != NULL);
    deliver_request_free(&req);
    buf_free(out);
}

static void test_result_parse(void **state)
{
    static const struct {
        const char *in;
        int ret, final, index, action;
        const char *reason;
    } cases[] = {
        {"5:index,1:2,6:action,2:68,3:dsn,5:2.0.0,6:reason,2:ok,0:,", 0, 0, 2,
         'D', "ok"},
        {"6:status,1:0,0:,", 0, 1, 0, 0, ""},
        {"5:index,1:0,6:action,2:70,3:dsn,5:4.4.1,6:reason,4:wait,0:,", 0, 0, 0,
         'F', "wait"},
        {"5:index,2:-1,6:action,2:68,3:dsn,5:2.0.0,6:reason,0:,0:,", -1, 0, 0,
         0, ""},
        {"5:index,1:0,6:action,2:90,3:dsn,5:2.0.0,6:reason,0:,0:,", -1, 0, 0, 0,
         ""},
        {"5:index,1:0,6:action,2:68,3:dsn,5:2.0.0,0:,", -1, 0, 0, 0, ""},
        {"5:index,1:0,6:action,2:68,3:dsn,5:2.0.0,6:reason,0:,1:x,0:,0:,", -1,
         0, 0, 0, ""},
        {"6:status,1:x,0:,", -1, 0, 0, 0, ""},
    };
    struct buf *dsn = buf_new(0);
    struct buf *reason = buf_new(0);
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int final = -1;
        int index = -1;
        int action = -1;
        int ret = deliver_result_parse(cases[i].in, strlen(cases[i].in), &final,
                                       &index, &action, dsn, reason);

        assert_int_equal(ret, cases[i].ret);
        if (ret < 0) {
            assert_true(strlen(deliver_error()) > 0);
            continue;
        }
        assert_int_equal(final, cases[i].final);
        if (!final) {
            assert_int_equal(index, cases[i].index);
            assert_int_equal(action, cases[i].action);
            assert_string_equal(buf_str(reason), cases[i].reason);
        }
    }
    buf_free(dsn);
    buf_free(reason);
}

/* The whole conversation: qmgr's bytes in, results and durable state out. */
static void test_agent_round_trip(void **state)
{
    static const char *const rcpts[] = {"a@x", "b@x", "c@x", "d@x"};
    long long offsets[4];
    struct deliver_request req;
    struct deliver_agent *a;
    struct buf *out = buf_new(0);
    struct buf *err = buf_new(0);
    struct buf *got;
    struct buf *dsn = buf_new(0);
    struct buf *reason = buf_new(0);
    struct buf *why = buf_new(0);
    struct stream *s;
    char states[8];
    char *id;
    int sv[2];
    int seen[4] = {0, 0, 0, 0};
    int finals = 0;
    size_t pos;
    long len;
    regex_t re;

    (void) state;
    id = make_message(rcpts, 4, offsets);
    fill_request(&req, id, rcpts, 4, offsets);
    deliver_request_encode(out, &req);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[0], buf_str(out), buf_len(out)),
                     (ssize_t) buf_len(out));
    s = stream_open(sv[1]);
    stream_set_timeout(s, 5);
    a = deliver_agent_open(s, err);
    assert_non_null(a);
    assert_string_equal(buf_str(deliver_agent_request(a)->nexthop),
                        "[relay.example]:587");
    assert_int_equal(deliver_agent_request(a)->rcpt_count, 4);
    assert_non_null(deliver_agent_file(a));
    deliver_agent_connected(a);
    assert_int_equal(deliver_report(a, 2, REC_ACTION_BOUNCED, "5.1.1", "none",
                                    "user %s unknown", "c"),
                     0);
    assert_int_equal(deliver_report(a, 0, REC_ACTION_DELIVERED, "2.0.0",
                                    "mx.example[192.0.2.1]:25", "250 ok"),
                     0);
    assert_int_equal(deliver_report(a, 1, REC_ACTION_DEFERRED, "4.4.1", "none",
                                    "connection refused"),
                     0);
    /* d@x gets no result: finish defers it. */
    assert_int_equal(deliver_agent_finish(a), 0);
    stream_close(s);

    got = slurp_fd(sv[0]);
    close(sv[0]);
    pos = 0;
    while ((len = attr_frame_len(buf_str(got) + pos, buf_len(got) - pos)) > 0) {
        int final = 0;
        int index = 0;
        int action = 0;

        assert_int_equal(deliver_result_parse(buf_str(got) + pos, (size_t) len,
                                              &final, &index, &action, dsn,
                                              reason),
                         0);
        pos += (size_t) len;
        if (final) {
            finals++;
            continue;
        }
        assert_in_range(index, 0, 3);
        seen[index]++;
        assert_int_equal(action, "DFBF"[index]);
        if (index == 3) {
            assert_string_equal(buf_str(dsn), "4.3.0");
            assert_string_equal(buf_str(reason),
                                "delivery agent gave no result");
        }
    }
    assert_int_equal(pos, buf_len(got));
    assert_int_equal(finals, 1);
    assert_int_equal(seen[0] + seen[1] + seen[2] + seen[3], 4);

    rcpt_states(id, states);
    assert_string_equal(states, "DPBP");
    assert_int_equal(log_count(QF_LOG_BOUNCE, id, why), 1);
    assert_string_equal(buf_str(why), "user c unknown");
    assert_int_equal(log_count(QF_LOG_DEFER, id, why), 2);
    assert_string_equal(buf_str(why), "delivery agent gave no result");

    /* The log lines, Postfix's shape. */
    buf_free(got);
    got = slurp(logpath);
    assert_int_equal(
        regcomp(&re,
                ": [0-9A-Za-z]{14}: to=<a@x>, orig_to=<orig@example.com>, "
                "relay=mx.example\\[192.0.2.1\\]:25, delay=[0-9.]+, "
                "delays=1/1/[0-9.]+/[0-9.]+, dsn=2.0.0, status=sent \\(250 "
                "ok\\)\n",
                REG_EXTENDED),
        0);
    assert_int_equal(regexec(&re, buf_str(got), 0, NULL, 0), 0);
    regfree(&re);
    assert_non_null(strstr(buf_str(got), "to=<c@x>, relay=none"));
    assert_non_null(strstr(buf_str(got), "dsn=5.1.1, status=bounced (user c "
                                         "unknown)"));
    assert_non_null(strstr(buf_str(got), "dsn=4.4.1, status=deferred "
                                         "(connection refused)"));
    deliver_request_free(&req);
    buf_free(got);
    buf_free(out);
    buf_free(err);
    buf_free(dsn);
    buf_free(reason);
    buf_free(why);
    free(id);
}

/* soft_bounce turns a bounce into a deferral with a 4.x.x status. */
static void test_soft_bounce(void **state)
{
    static const char *const rcpts[] = {"a@x"};
    long long off;
    struct deliver_request req;
    struct deliver_agent *a;
    struct buf *out = buf_new(0);
    struct buf *err = buf_new(0);
    struct buf *got;
    struct stream *s;
    char states[4];
    char *id;
    int sv[2];

    (void) state;
    id = make_message(rcpts, 1, &off);
    fill_request(&req, id, rcpts, 1, &off);
    deliver_request_encode(out, &req);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[0], buf_str(out), buf_len(out)),
                     (ssize_t) buf_len(out));
    s = stream_open(sv[1]);
    stream_set_timeout(s, 5);
    a = deliver_agent_open(s, err);
    assert_non_null(a);
    var_soft_bounce = 1;
    assert_int_equal(
        deliver_report(a, 0, REC_ACTION_BOUNCED, "5.1.1", "none", "no"), 0);
    var_soft_bounce = 0;
    assert_int_equal(deliver_agent_finish(a), 0);
    stream_close(s);
    got = slurp_fd(sv[0]);
    close(sv[0]);
    assert_non_null(strstr(buf_str(got), "6:action,2:70,3:dsn,5:4.1.1,"));
    rcpt_states(id, states);
    assert_string_equal(states, "P");
    assert_int_equal(log_count(QF_LOG_BOUNCE, id, NULL), 0);
    assert_int_equal(log_count(QF_LOG_DEFER, id, NULL), 1);
    deliver_request_free(&req);
    buf_free(got);
    buf_free(out);
    buf_free(err);
    free(id);
}

/* Bad requests: NULL and a reason, never a crash. */
static void test_bad_requests(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"", "bad delivery request: attr_scan: connection closed"},
        {"garbage", "bad delivery request: attr_scan: bad length field"},
        {"10:queue_name,6:active,8:queue_id,14:1r31eq0005001z,7:nexthop,0:,"
         "6:sender,0:,5:flags,1:0,9:dsn_envid,0:,7:dsn_ret,1:0,12:arrival_"
         "time,1:1,11:active_time,1:1,12:request_time,1:1,10:rcpt_count,1:0,0:"
         ",",
         "bad delivery request: recipient count 0"},
        {"10:queue_name,6:bounce,8:queue_id,14:1r31eq0005001z,7:nexthop,0:,"
         "6:sender,0:,5:flags,1:0,9:dsn_envid,0:,7:dsn_ret,1:0,12:arrival_"
         "time,1:1,11:active_time,1:1,12:request_time,1:1,10:rcpt_count,1:1,0:"
         ",",
         "bad delivery request: unknown queue name"},
        {"10:queue_name,6:active,8:queue_id,5:../..,7:nexthop,0:,"
         "6:sender,0:,5:flags,1:0,9:dsn_envid,0:,7:dsn_ret,1:0,12:arrival_"
         "time,1:1,11:active_time,1:1,12:request_time,1:1,10:rcpt_count,1:1,0:"
         ",",
         "bad delivery request: bad queue id"},
        {"10:queue_name,6:active,8:queue_id,14:1r31eq0005001z,7:nexthop,0:,"
         "6:sender,0:,5:flags,1:0,9:dsn_envid,0:,7:dsn_ret,1:0,12:arrival_"
         "time,1:1,11:active_time,1:1,12:request_time,1:1,10:rcpt_count,1:1,0:"
         ",7:address,0:,9:orig_rcpt,0:,5:orcpt,0:,6:notify,1:0,6:offset,1:5,0:"
         ",",
         "bad delivery request: recipient 0: empty address"},
        {"10:queue_name,6:active,8:queue_id,14:1r31eq0005001z,7:nexthop,0:,"
         "6:sender,0:,5:flags,1:0,9:dsn_envid,0:,7:dsn_ret,1:0,12:arrival_"
         "time,1:1,11:active_time,1:1,12:request_time,1:1,10:rcpt_count,1:1,0:"
         ",7:address,1:a,9:orig_rcpt,0:,5:orcpt,0:,6:notify,1:0,6:offset,1:5,0:"
         ",",
         "1r31eq0005001z: open "},
    };
    struct buf *err = buf_new(0);
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int sv[2];
        struct stream *s;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        assert_int_equal(write(sv[0], cases[i].in, strlen(cases[i].in)),
                         (ssize_t) strlen(cases[i].in));
        shutdown(sv[0], SHUT_WR);
        s = stream_open(sv[1]);
        stream_set_timeout(s, 5);
        buf_reset(err);
        assert_null(deliver_agent_open(s, err));
        if (strncmp(buf_str(err), cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s...\"", i, buf_str(err),
                     cases[i].want);
        stream_close(s);
        close(sv[0]);
    }
    buf_free(err);
}

/* An agent holds a shared lock on the file while it works on it. */
static void test_agent_lock(void **state)
{
    static const char *const rcpts[] = {"a@x"};
    long long off;
    struct deliver_request req;
    struct deliver_agent *a;
    struct buf *out = buf_new(0);
    struct buf *err = buf_new(0);
    struct buf *path = buf_new(0);
    struct stream *s;
    char *id;
    int sv[2];
    int fd;

    (void) state;
    id = make_message(rcpts, 1, &off);
    fill_request(&req, id, rcpts, 1, &off);
    deliver_request_encode(out, &req);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[0], buf_str(out), buf_len(out)),
                     (ssize_t) buf_len(out));
    s = stream_open(sv[1]);
    stream_set_timeout(s, 5);
    a = deliver_agent_open(s, err);
    assert_non_null(a);
    qf_path(path, QF_ACTIVE, id);
    fd = open(buf_str(path), O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
    assert_int_equal(deliver_agent_finish(a), 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    close(fd);
    stream_close(s);
    close(sv[0]);
    deliver_request_free(&req);
    buf_free(out);
    buf_free(err);
    buf_free(path);
    free(id);
}

/* The delivery log line, pinned (times far enough apart to be exact). */
static void test_log_line_golden(void **state)
{
    long long t = deliver_now_us();
    struct buf *got;

    (void) state;
    deliver_log_status("1r31eq0005001z", "a\nb@x", "orig@x", "mx[192.0.2.1]:25",
                       t - 500000000LL, t - 487660000LL, t - 487270000LL,
                       t - 487210000LL, REC_ACTION_DEFERRED, "4.4.1",
                       "connect to mx: Connection refused");
    deliver_log_status("1r31eq0005001z", "c@x", "c@x", "none", t - 500000000LL,
                       t - 400000000LL, t - 300000000LL, 0, REC_ACTION_EXPANDED,
                       "2.0.0", "alias expanded");
    got = slurp(logpath);
    assert_non_null(strstr(
        buf_str(got),
        "1r31eq0005001z: to=<a?b@x>, orig_to=<orig@x>, "
        "relay=mx[192.0.2.1]:25, delay=500, delays=12.3/0.39/0.06/487, "
        "dsn=4.4.1, status=deferred (connect to mx: Connection refused)\n"));
    /* No orig_to when it is the recipient; no connection: c is 0. */
    assert_non_null(strstr(buf_str(got),
                           "1r31eq0005001z: to=<c@x>, relay=none, delay=500, "
                           "delays=100/100/0/300, dsn=2.0.0, status=expanded "
                           "(alias expanded)\n"));
    buf_free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_wire),
        cmocka_unit_test(test_result_parse),
        cmocka_unit_test_setup_teardown(test_agent_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_soft_bounce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_line_golden, setup, teardown),
    };

    msg_init("test_deliver", 0);
    params_load();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
