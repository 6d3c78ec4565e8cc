/*
 * triggerd.c - test-only wake-up service (DAEMON_TRIGGER).
 *
 * Started by master (lib/daemon.h) for unix, fifo or unix-dgram services
 * with a wakeup time. Logs one line per request:
 *     trigger SERVICE/TYPE: DATA
 * (DATA made printable), which tests/e2e/test_master.py counts in
 * maillog_file. Nothing here fails.
 */
#include <stddef.h>

#include "buf.h"
#include "daemon.h"
#include "msg.h"
#include "str.h"

static void triggerd_trigger(const char *data, size_t len, void *ctx)
{
    struct buf *text = buf_new(64);

    (void) ctx;
    str_printable(text, data, len);
    msg_info("trigger %s/%s: %s", daemon_service(), daemon_type(),
             buf_str(text));
    buf_free(text);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_TRIGGER,
        .trigger = triggerd_trigger,
    };

    daemon_main(argc, argv, &ops);
}
