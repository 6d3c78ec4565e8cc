/*
 * failstart.c - test-only service that always fails at start-up.
 *
 * Goes through the daemon skeleton (lib/daemon.h) and dies with a fatal
 * error (exit status 1) in its pre-jail hook, before it ever tells master
 * it is ready: tests/e2e/test_master.py checks that master throttles it
 * instead of forking it again and again.
 */
#include "daemon.h"
#include "msg.h"

static void failstart_pre_jail(void *ctx)
{
    (void) ctx;
    msg_fatal("failing at start-up, as this test program always does");
}

static void failstart_serve(int fd, void *ctx)
{
    (void) fd;
    (void) ctx;
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_SINGLE,
        .pre_jail = failstart_pre_jail,
        .serve = failstart_serve,
    };

    daemon_main(argc, argv, &ops);
}
