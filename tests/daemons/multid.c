/*
 * multid.c - test-only multi-client service (DAEMON_MULTI, event loop).
 *
 * Started by master (lib/daemon.h). One process serves many clients at
 * once: each gets "200 SERVICE pid=N clients=K" (K counts this process's
 * clients now), then "250 LINE" for every line, "221 bye" for QUIT.
 * Replies are short and written directly; a client that sends more than
 * 4096 bytes without a newline is dropped. Errors end the client only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "daemon.h"
#include "event.h"
#include "mem.h"
#include "msg.h"

struct client {
    int fd;
    struct buf *in;
};

static int nclients;

static void client_say(struct client *c, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(c->fd, text, len);

        if (n <= 0) {
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            return;
        }
        text += n;
        len -= (size_t) n;
    }
}

static void client_end(struct event_loop *loop, struct client *c)
{
    event_unwatch(loop, c->fd);
    close(c->fd);
    buf_free(c->in);
    mem_free(c);
    nclients--;
    daemon_client_done();
}

static void client_read(struct event_loop *loop, int fd, int events, void *ctx)
{
    struct client *c = ctx;
    struct buf *reply = buf_new(128);
    char chunk[512];
    ssize_t n;
    char *nl;

    (void) events;
    n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        buf_free(reply);
        return;
    }
    if (n <= 0) {
        buf_free(reply);
        client_end(loop, c);
        return;
    }
    buf_append(c->in, chunk, (size_t) n);
    while ((nl = memchr(buf_str(c->in), '\n', buf_len(c->in))) != NULL) {
        size_t len = (size_t) (nl - buf_str(c->in));
        size_t rest;

        if (len > 0 && buf_str(c->in)[len - 1] == '\r')
            buf_str(c->in)[len - 1] = 0;
        else
            *nl = 0;
        if (strcmp(buf_str(c->in), "QUIT") == 0) {
            client_say(c, "221 bye\r\n", 9);
            buf_free(reply);
            client_end(loop, c);
            return;
        }
        buf_setf(reply, "250 %s\r\n", buf_str(c->in));
        client_say(c, buf_str(reply), buf_len(reply));
        rest = buf_len(c->in) - len - 1;
        memmove(buf_str(c->in), nl + 1, rest);
        buf_truncate(c->in, rest);
    }
    buf_free(reply);
    if (buf_len(c->in) > 4096)
        client_end(loop, c);
}

static void multid_accept(struct event_loop *loop, int fd, void *ctx)
{
    struct client *c = mem_calloc(1, sizeof(*c));
    char greeting[256];
    int len;

    (void) ctx;
    c->fd = fd;
    c->in = buf_new(128);
    nclients++;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    len = snprintf(greeting, sizeof(greeting), "200 %s pid=%ld clients=%d\r\n",
                   daemon_service(), (long) getpid(), nclients);
    client_say(c, greeting, (size_t) len);
    if (event_watch(loop, fd, EVENT_READ, client_read, c) < 0) {
        msg_warn("watch client: %s", strerror(errno));
        client_end(loop, c);
    }
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_MULTI,
        .accept = multid_accept,
    };

    daemon_main(argc, argv, &ops);
}
