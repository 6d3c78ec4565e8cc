/*
 * echod.c - test-only single-client service for tests/e2e/test_master.py.
 *
 * Started by master like any service (lib/daemon.h, DAEMON_SINGLE). Greets
 * each client with
 *     200 SERVICE BANNER uid=N gid=N root=DIR pid=N
 * where BANNER is this service's smtpd_banner (so a master.cf -o override
 * shows) and DIR is the directory it is jailed in; then answers every line
 * with "250 LINE" until "QUIT" (221) or end of input. "EXIT N" makes the
 * process exit with status N at once. Errors end the client only.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "daemon.h"
#include "msg.h"
#include "stream.h"

static void echod_serve(int fd, void *ctx)
{
    struct stream *s = stream_open(fd);
    struct buf *line = buf_new(128);
    const char *banner = config_get("smtpd_banner");

    (void) ctx;
    stream_set_timeout(s, 60);
    stream_printf(s, "200 %s %s uid=%ld gid=%ld root=%s pid=%ld\r\n",
                  daemon_service(), banner ? banner : "", (long) getuid(),
                  (long) getgid(), daemon_root(), (long) getpid());
    stream_flush(s);
    while (stream_read_line(s, line, 1000) > 0) {
        if (strcmp(buf_str(line), "QUIT") == 0) {
            stream_printf(s, "221 bye\r\n");
            break;
        }
        if (strncmp(buf_str(line), "EXIT ", 5) == 0)
            _exit(atoi(buf_str(line) + 5));
        stream_printf(s, "250 %s\r\n", buf_str(line));
        stream_flush(s);
    }
    stream_close(s);
    buf_free(line);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_SINGLE,
        .serve = echod_serve,
    };

    daemon_main(argc, argv, &ops);
}
