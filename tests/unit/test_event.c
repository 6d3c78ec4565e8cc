/*
 * test_event.c - lib/event: timers in order, cancel, descriptors ready for
 * reading and writing, hang-ups, removal from inside callbacks (including
 * stale events of a descriptor another callback closed), stopping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "event.h"

/* Callbacks append a tag to this log, so order is easy to check. */
static struct buf *trace;

static int setup(void **state)
{
    (void) state;
    trace = buf_new(0);
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    buf_free(trace);
    return 0;
}

static void note_timer(struct event_loop *loop, void *ctx)
{
    (void) loop;
    buf_puts(trace, ctx);
}

static void test_timers_in_order(void **state)
{
    static const struct {
        long ms;
        const char *tag;
    } timers[] = {
        {60, "F"}, {20, "B"}, {0, "A"},  {40, "D"},
        {20, "C"}, {40, "E"}, {50, "x"},
    };
    struct event_loop *loop = event_new();
    uint64_t ids[7];
    int64_t start = event_now_ms();
    size_t i;

    (void) state;
    assert_non_null(loop);
    for (i = 0; i < 7; i++) {
        ids[i] =
            event_timer(loop, timers[i].ms, note_timer, (void *) timers[i].tag);
        assert_true(ids[i] != 0);
    }
    assert_int_equal(event_cancel(loop, ids[6]), 0);
    assert_int_equal(event_cancel(loop, ids[6]), -1);
    assert_int_equal(event_cancel(loop, 12345), -1);
    /* Nothing watched: run returns once the last timer fired. */
    assert_int_equal(event_run(loop), 0);
    assert_string_equal(buf_str(trace), "ABCDEF");
    assert_true(event_now_ms() - start >= 60);
    assert_int_equal(event_cancel(loop, ids[0]), -1); /* already fired */
    event_free(loop);
}

/* A timer added from a timer callback waits for the next turn. */
static void chain_timer(struct event_loop *loop, void *ctx)
{
    int *left = ctx;

    buf_putc(trace, '0' + *left);
    if (--*left > 0)
        event_timer(loop, 0, chain_timer, ctx);
}

static void test_timer_added_in_callback(void **state)
{
    struct event_loop *loop = event_new();
    int left = 3;

    (void) state;
    event_timer(loop, 0, chain_timer, &left);
    assert_int_equal(event_run_once(loop, 1000), 1);
    assert_string_equal(buf_str(trace), "3");
    assert_int_equal(event_run_once(loop, 1000), 1);
    assert_int_equal(event_run_once(loop, 1000), 1);
    assert_string_equal(buf_str(trace), "321");
    /* Nothing left: a bounded wait runs nothing. */
    assert_int_equal(event_run_once(loop, 10), 0);
    event_free(loop);
}

/* Cancelling a later timer from an earlier one. */
static uint64_t victim;

static void cancel_victim(struct event_loop *loop, void *ctx)
{
    (void) ctx;
    buf_putc(trace, 'k');
    assert_int_equal(event_cancel(loop, victim), 0);
}

static void test_cancel_from_callback(void **state)
{
    struct event_loop *loop = event_new();

    (void) state;
    event_timer(loop, 5, cancel_victim, NULL);
    victim = event_timer(loop, 5, note_timer, "V");
    event_timer(loop, 10, note_timer, "z");
    assert_int_equal(event_run(loop), 0);
    assert_string_equal(buf_str(trace), "kz");
    event_free(loop);
}

/* ---- descriptors -------------------------------------------------------- */

struct conn {
    int fd;
    char tag;
    int reads;
    int writes;
    int errors;
    int eof;
};

/* Reads what is there; unwatches and closes itself at end of input. */
static void on_read(struct event_loop *loop, int fd, int events, void *ctx)
{
    struct conn *c = ctx;
    char data[64];
    ssize_t n;

    assert_int_equal(fd, c->fd);
    assert_true(events & EVENT_READ);
    if (events & EVENT_ERROR)
        c->errors++;
    n = read(fd, data, sizeof(data));
    if (n > 0) {
        c->reads++;
        buf_putc(trace, c->tag);
        buf_append(trace, data, (size_t) n);
        return;
    }
    c->eof = 1;
    buf_putc(trace, c->tag);
    buf_puts(trace, "<eof>");
    assert_int_equal(event_unwatch(loop, fd), 0);
    close(fd);
    c->fd = -1;
}

static void test_read_and_hangup(void **state)
{
    struct event_loop *loop = event_new();
    struct conn c = {0};
    int sv[2];

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    c.fd = sv[0];
    c.tag = 'r';
    assert_int_equal(event_watch(loop, sv[0], EVENT_READ, on_read, &c), 0);
    /* Nothing to read yet. */
    assert_int_equal(event_run_once(loop, 20), 0);
    assert_int_equal(write(sv[1], "hi", 2), 2);
    assert_int_equal(event_run_once(loop, 1000), 1);
    assert_string_equal(buf_str(trace), "rhi");
    close(sv[1]);
    /* The hang-up reaches the reader, which removes itself. */
    assert_int_equal(event_run(loop), 0);
    assert_string_equal(buf_str(trace), "rhir<eof>");
    assert_int_equal(c.eof, 1);
    assert_int_equal(event_unwatch(loop, sv[0]), -1);
    assert_int_equal(errno, ENOENT);
    event_free(loop);
}

static void on_write(struct event_loop *loop, int fd, int events, void *ctx)
{
    struct conn *c = ctx;

    assert_true(events & EVENT_WRITE);
    c->writes++;
    assert_int_equal(write(fd, "ok", 2), 2);
    /* Done writing: switch to reading only. */
    assert_int_equal(event_watch(loop, fd, EVENT_READ, on_read, c), 0);
}

static void test_write_then_read(void **state)
{
    struct event_loop *loop = event_new();
    struct conn c = {0};
    char got[4];
    int sv[2];

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    c.fd = sv[0];
    c.tag = 'w';
    assert_int_equal(event_watch(loop, sv[0], EVENT_WRITE, on_write, &c), 0);
    assert_int_equal(event_run_once(loop, 1000), 1);
    assert_int_equal(c.writes, 1);
    assert_int_equal(read(sv[1], got, sizeof(got)), 2);
    /* Now only readable matters: nothing happens until the peer writes. */
    assert_int_equal(event_run_once(loop, 20), 0);
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(event_run_once(loop, 1000), 1);
    assert_string_equal(buf_str(trace), "wx");
    /* Quiet (events 0): registered but not called. */
    assert_int_equal(event_watch(loop, sv[0], 0, on_read, &c), 0);
    assert_int_equal(write(sv[1], "y", 1), 1);
    assert_int_equal(event_run_once(loop, 20), 0);
    assert_int_equal(event_unwatch(loop, sv[0]), 0);
    close(sv[0]);
    close(sv[1]);
    event_free(loop);
}

/*
 * Two readable descriptors in one batch; whichever callback runs first
 * unwatches and closes the other, reuses its number for a new socket
 * watched by a third callback, and removes itself. The batch still holds
 * the event of the closed one, under the same number: it must reach
 * nobody.
 */
struct pair_state {
    int fds[2];
    int calls;
    int newfd;
    int newpeer;
    int stale_calls;
};

static void stale_cb(struct event_loop *loop, int fd, int events, void *ctx)
{
    struct pair_state *ps = ctx;

    (void) loop;
    (void) fd;
    (void) events;
    ps->stale_calls++;
}

static void kill_both(struct event_loop *loop, int fd, int events, void *ctx)
{
    struct pair_state *ps = ctx;
    int other = fd == ps->fds[0] ? ps->fds[1] : ps->fds[0];
    int sv[2];

    (void) events;
    ps->calls++;
    assert_int_equal(event_unwatch(loop, other), 0);
    close(other);
    /* The lowest free number is the one just closed: reuse it. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(sv[0], other);
    ps->newfd = sv[0];
    ps->newpeer = sv[1];
    assert_int_equal(event_watch(loop, sv[0], EVENT_READ, stale_cb, ps), 0);
    assert_int_equal(event_unwatch(loop, fd), 0);
    close(fd);
}

static void test_remove_inside_batch(void **state)
{
    struct event_loop *loop = event_new();
    struct pair_state ps;
    int a[2];
    int b[2];

    (void) state;
    memset(&ps, 0, sizeof(ps));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
    ps.fds[0] = a[0];
    ps.fds[1] = b[0];
    assert_int_equal(write(a[1], "1", 1), 1);
    assert_int_equal(write(b[1], "2", 1), 1);
    assert_int_equal(event_watch(loop, a[0], EVENT_READ, kill_both, &ps), 0);
    assert_int_equal(event_watch(loop, b[0], EVENT_READ, kill_both, &ps), 0);
    assert_int_equal(event_run_once(loop, 1000), 1);
    assert_int_equal(ps.calls, 1);
    assert_int_equal(ps.stale_calls, 0);
    assert_true(ps.newfd == a[0] || ps.newfd == b[0]);
    assert_true(ps.newpeer != a[0] && ps.newpeer != b[0]);
    /* The new registration works normally. */
    assert_int_equal(write(ps.newpeer, "n", 1), 1);
    assert_int_equal(event_run_once(loop, 1000), 1);
    assert_int_equal(ps.stale_calls, 1);
    assert_int_equal(event_unwatch(loop, ps.newfd), 0);
    close(ps.newfd);
    close(ps.newpeer);
    close(a[1]);
    close(b[1]);
    event_free(loop);
}

/* A timer stops a loop that still watches a descriptor. */
static void stop_timer(struct event_loop *loop, void *ctx)
{
    (void) ctx;
    buf_puts(trace, "stop");
    event_stop(loop);
}

static void test_stop(void **state)
{
    struct event_loop *loop = event_new();
    struct conn c = {0};
    int sv[2];

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    c.fd = sv[0];
    c.tag = 's';
    assert_int_equal(event_watch(loop, sv[0], EVENT_READ, on_read, &c), 0);
    event_timer(loop, 30, stop_timer, NULL);
    assert_int_equal(event_run(loop), 0);
    assert_string_equal(buf_str(trace), "stop");
    /* The loop can run again after a stop. */
    event_timer(loop, 10, stop_timer, NULL);
    assert_int_equal(event_run(loop), 0);
    assert_string_equal(buf_str(trace), "stopstop");
    assert_int_equal(event_unwatch(loop, sv[0]), 0);
    close(sv[0]);
    close(sv[1]);
    event_free(loop);
}

/* Descriptors and timers together, in time order. */
static void test_fds_and_timers(void **state)
{
    struct event_loop *loop = event_new();
    struct conn c = {0};
    int sv[2];

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    c.fd = sv[0];
    c.tag = 'f';
    assert_int_equal(event_watch(loop, sv[0], EVENT_READ, on_read, &c), 0);
    event_timer(loop, 30, note_timer, "T");
    assert_int_equal(write(sv[1], "1", 1), 1);
    assert_true(event_run_once(loop, -1) >= 1); /* the fd, at once */
    assert_string_equal(buf_str(trace), "f1");
    assert_int_equal(event_run_once(loop, -1), 1); /* then the timer */
    assert_string_equal(buf_str(trace), "f1T");
    close(sv[1]);
    assert_int_equal(event_run(loop), 0);
    assert_string_equal(buf_str(trace), "f1Tf<eof>");
    event_free(loop);
}

static void on_accept(struct event_loop *loop, int fd, int events, void *ctx)
{
    int c;

    (void) loop;
    (void) ctx;
    assert_true(events & EVENT_READ);
    c = accept(fd, NULL, NULL);
    assert_true(c >= 0);
    close(c);
    buf_putc(trace, 'a');
}

/*
 * EVENT_EXCLUSIVE (a listening socket shared by a pool of processes):
 * watching again registers anew, the descriptor still reports connections
 * once each, and the loop's count of watched descriptors stays right.
 */
static void test_exclusive_listener(void **state)
{
    struct event_loop *loop = event_new();
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);

    (void) state;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(listen(lfd, 8), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *) &sin, &len), 0);
    assert_int_equal(
        event_watch(loop, lfd, EVENT_READ | EVENT_EXCLUSIVE, on_accept, NULL),
        0);
    assert_int_equal(
        event_watch(loop, lfd, EVENT_READ | EVENT_EXCLUSIVE, on_accept, NULL),
        0);
    assert_int_equal(event_run_once(loop, 20), 0);
    assert_int_equal(connect(cfd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(event_run_once(loop, 1000), 1);
    assert_string_equal(buf_str(trace), "a");
    assert_int_equal(event_run_once(loop, 20), 0);
    /* Once unwatched, nothing is left and event_run returns at once. */
    assert_int_equal(event_unwatch(loop, lfd), 0);
    assert_int_equal(event_run(loop), 0);
    close(cfd);
    close(lfd);
    event_free(loop);
}

static void test_bad_fd(void **state)
{
    struct event_loop *loop = event_new();

    (void) state;
    assert_int_equal(event_watch(loop, -1, EVENT_READ, on_read, NULL), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(event_watch(loop, 9999, EVENT_READ, on_read, NULL), -1);
    assert_int_equal(event_unwatch(loop, 9999), -1);
    /* Nothing watched, no timers: run returns at once. */
    assert_int_equal(event_run(loop), 0);
    event_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timers_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_added_in_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_and_hangup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_then_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_inside_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fds_and_timers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusive_listener, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_fd, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
