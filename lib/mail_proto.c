/*
 * mail_proto.c - reaching queue services by name (mail_proto.h).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "daemon.h"
#include "mail_proto.h"
#include "params.h"
#include "sock.h"

static struct buf *mp_error;

/* Keep WHY ("connect to PATH: reason" from sock_error) as the error. */
static void mp_set_error(const char *why)
{
    if (mp_error == NULL)
        mp_error = buf_new(0);
    buf_reset(mp_error);
    buf_puts(mp_error, why);
}

const char *mail_proto_error(void)
{
    return mp_error ? buf_str(mp_error) : "";
}

void mail_endpoint(struct buf *out, const char *cls, const char *service)
{
    buf_reset(out);
    /*
     * A daemon works in queue_directory (chrooted or not): the relative
     * name works even where the absolute one is out of its reach.
     */
    if (!daemon_in_queue())
        buf_printf(out, "%s/", var_queue_directory);
    buf_printf(out, "%s/%s", cls, service);
}

int mail_connect(const char *cls, const char *service, long timeout_ms)
{
    struct buf *path = buf_new(0);
    int fd;

    mail_endpoint(path, cls, service);
    fd = sock_unix_connect(buf_str(path), timeout_ms);
    if (fd < 0)
        mp_set_error(sock_error());
    buf_free(path);
    return fd;
}

/* Write all of DATA to FD, waiting at most TIMEOUT_MS for each step. */
static int mp_write_all(int fd, const char *data, size_t len, long timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    ssize_t n;

    while (len > 0) {
        n = write(fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t) n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (poll(&pfd, 1, (int) timeout_ms) <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    return 0;
}

int mail_trigger(const char *cls, const char *service, const char *request,
                 size_t len)
{
    long timeout_ms = var_trigger_timeout * 1000L;
    struct buf *path = buf_new(0);
    int fd;
    int ret = 0;

    mail_endpoint(path, cls, service);
    fd = sock_unix_connect(buf_str(path), timeout_ms);
    if (fd < 0) {
        mp_set_error(sock_error());
        ret = -1;
    } else if (mp_write_all(fd, request, len, timeout_ms) < 0) {
        int err = errno;

        mp_set_error("");
        buf_setf(mp_error, "write to %s: %s", buf_str(path), strerror(err));
        ret = -1;
    }
    if (fd >= 0)
        close(fd);
    buf_free(path);
    return ret;
}
