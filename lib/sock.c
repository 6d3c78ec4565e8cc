/*
 * sock.c - socket helpers (see sock.h).
 *
 * Called by master, the daemon skeleton, smtpd, smtp and IPC clients.
 * Failures return -1 with errno set and a log-ready text in sock_error();
 * nothing is fatal. Every descriptor is created close-on-exec; listening
 * sockets are non-blocking so that several processes may wait on one
 * without a loser blocking in accept().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "mem.h"
#include "sock.h"
#include "str.h"

static struct buf *sock_err;

/* Record a failure text; keeps ERR in errno and returns -1. */
static int sock_fail(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int sock_fail(int err, const char *fmt, ...)
{
    va_list ap;

    if (sock_err == NULL)
        sock_err = buf_new(128);
    buf_reset(sock_err);
    va_start(ap, fmt);
    buf_vprintf(sock_err, fmt, ap);
    va_end(ap);
    errno = err;
    return -1;
}

const char *sock_error(void)
{
    return sock_err ? buf_str(sock_err) : "no error";
}

int sock_protocols(const char *value)
{
    struct argv *av = argv_split(value, STR_LIST_SEP);
    int mask = 0;
    size_t i;

    for (i = 0; i < av->argc; i++) {
        const char *p = av->argv[i];

        if (strcasecmp(p, "all") == 0) {
            mask |= SOCK_PROTO_ALL;
        } else if (strcasecmp(p, "ipv4") == 0) {
            mask |= SOCK_PROTO_IPV4;
        } else if (strcasecmp(p, "ipv6") == 0) {
            mask |= SOCK_PROTO_IPV6;
        } else {
            struct buf *tmp = buf_new(32);

            str_printable(tmp, p, strlen(p));
            sock_fail(EINVAL, "bad inet_protocols value \"%s\"", buf_str(tmp));
            buf_free(tmp);
            argv_free(av);
            return -1;
        }
    }
    argv_free(av);
    if (mask == 0)
        return sock_fail(EINVAL, "empty inet_protocols value");
    return mask;
}

/* ---- small helpers ------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before DEADLINE for poll(): -1 none, 0 passed. */
static int ms_left(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - now_ms();
    if (left <= 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int) left;
}

/* Wait for EVENTS on FD until DEADLINE: 0, or -1 with errno. */
static int wait_ready(int fd, short events, int64_t deadline)
{
    struct pollfd pfd;
    int n;

    for (;;) {
        int ms = ms_left(deadline);

        if (ms == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n > 0)
            return 0;
    }
}

static int set_blocking(int fd, int blocking)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -1;
    flags = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
    return fcntl(fd, F_SETFL, flags);
}

/* Split ADDR into host (NULL: every address) and port, in *COPY. */
static int split_addr(const char *addr, char **copy, char **host, char **port)
{
    char *s = mem_strdup(addr);
    char *colon;

    *copy = s;
    *host = NULL;
    if (*s == '[') {
        char *end = strchr(s, ']');

        if (end == NULL || end[1] != ':' || end == s + 1)
            goto bad;
        *end = 0;
        *host = s + 1;
        *port = end + 2;
    } else if ((colon = strrchr(s, ':')) != NULL) {
        *colon = 0;
        if (strchr(s, ':') != NULL)
            goto bad; /* IPv6 without brackets */
        if (*s != 0 && strcmp(s, "*") != 0)
            *host = s;
        *port = colon + 1;
    } else {
        *port = s;
    }
    if (**port == 0)
        goto bad;
    return 0;

bad:
    mem_free(s);
    *copy = NULL;
    return sock_fail(EINVAL,
                     "bad address \"%s\": want host:port, "
                     "[ipv6]:port, *:port or port",
                     addr);
}

static int proto_family(int protocols)
{
    switch (protocols & SOCK_PROTO_ALL) {
    case SOCK_PROTO_IPV4:
        return AF_INET;
    case SOCK_PROTO_IPV6:
        return AF_INET6;
    default:
        return AF_UNSPEC;
    }
}

static int resolve(const char *addr, const char *host, const char *port,
                   int protocols, int passive, struct addrinfo **res)
{
    struct addrinfo hints;
    int ret;

    if ((protocols & SOCK_PROTO_ALL) == 0)
        return sock_fail(EINVAL, "%s: no address family enabled", addr);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = proto_family(protocols);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    ret = getaddrinfo(host, port, &hints, res);
    if (ret != 0) {
        int err = ret == EAI_SYSTEM  ? errno
                  : ret == EAI_AGAIN ? EAGAIN
                                     : ENOENT;

        return sock_fail(err, "%s: %s", addr,
                         ret == EAI_SYSTEM ? strerror(errno)
                                           : gai_strerror(ret));
    }
    return 0;
}

/* ---- listening ---------------------------------------------------------- */

int sock_unix_listen(const char *path, int backlog, mode_t mode)
{
    struct sockaddr_un sun;
    struct stat st;
    mode_t old_mask;
    int fd;
    int err;

    if (strlen(path) >= sizeof(sun.sun_path))
        return sock_fail(ENAMETOOLONG, "%s: socket path too long", path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return sock_fail(EEXIST, "%s: exists and is not a socket", path);
        if (unlink(path) < 0 && errno != ENOENT)
            return sock_fail(errno, "remove %s: %s", path, strerror(errno));
    } else if (errno != ENOENT) {
        return sock_fail(errno, "%s: %s", path, strerror(errno));
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sock_fail(errno, "socket: %s", strerror(errno));
    /* The socket must never be reachable with looser permissions. */
    old_mask = umask((mode_t) ~mode & 0777);
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
        err = errno;
        umask(old_mask);
        close(fd);
        return sock_fail(err, "bind %s: %s", path, strerror(err));
    }
    umask(old_mask);
    if (chmod(path, mode) < 0 || listen(fd, backlog) < 0) {
        err = errno;
        close(fd);
        unlink(path);
        return sock_fail(err, "listen %s: %s", path, strerror(err));
    }
    return fd;
}

static int same_addr(const struct addrinfo *a, const struct addrinfo *b)
{
    return a->ai_family == b->ai_family && a->ai_addrlen == b->ai_addrlen
           && memcmp(a->ai_addr, b->ai_addr, a->ai_addrlen) == 0;
}

static int listen_one(const char *addr, const struct addrinfo *ai, int backlog)
{
    struct buf *text = buf_new(64);
    int on = 1;
    int fd;
    int err;

    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        err = errno;
        buf_free(text);
        return sock_fail(err, "socket for %s: %s", addr, strerror(err));
    }
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (ai->ai_family == AF_INET6)
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        err = errno;
        close(fd);
        if (ai->ai_family == AF_INET6)
            buf_putc(text, '[');
        sock_addr_text(ai->ai_addr, ai->ai_addrlen, text, NULL);
        if (ai->ai_family == AF_INET6)
            buf_putc(text, ']');
        buf_putc(text, ':');
        sock_addr_text(ai->ai_addr, ai->ai_addrlen, NULL, text);
        sock_fail(err, "bind %s: %s", buf_str(text), strerror(err));
        buf_free(text);
        return -1;
    }
    buf_free(text);
    return fd;
}

int sock_inet_listen(const char *addr, int protocols, int backlog, int **fds)
{
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    struct addrinfo *prev;
    char *copy;
    char *host;
    char *port;
    int *list;
    int count = 0;
    int skipped_family = 0;
    int err;

    *fds = NULL;
    if (split_addr(addr, &copy, &host, &port) < 0)
        return -1;
    if (resolve(addr, host, port, protocols, 1, &res) < 0) {
        mem_free(copy);
        return -1;
    }
    mem_free(copy);
    for (ai = res; ai; ai = ai->ai_next)
        count++;
    list = mem_calloc((size_t) count, sizeof(*list));
    count = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        int fd;

        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        for (prev = res; prev != ai; prev = prev->ai_next)
            if (same_addr(prev, ai))
                break;
        if (prev != ai)
            continue;
        fd = listen_one(addr, ai, backlog);
        if (fd < 0) {
            /* A wildcard with "all" on a host without one family. */
            if (errno == EAFNOSUPPORT && host == NULL
                && proto_family(protocols) == AF_UNSPEC) {
                skipped_family = 1;
                continue;
            }
            err = errno;
            while (count > 0)
                close(list[--count]);
            mem_free(list);
            freeaddrinfo(res);
            errno = err;
            return -1;
        }
        list[count++] = fd;
    }
    freeaddrinfo(res);
    if (count == 0) {
        mem_free(list);
        return sock_fail(skipped_family ? EAFNOSUPPORT : EADDRNOTAVAIL,
                         "%s: no usable address", addr);
    }
    *fds = list;
    return count;
}

int sock_accept(int listen_fd)
{
    int fd;

    do {
        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return sock_fail(errno, "accept: %s", strerror(errno));
    return fd;
}

/* ---- connecting --------------------------------------------------------- */

int sock_connect_addr(const struct sockaddr *sa, socklen_t len, long timeout_ms)
{
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
    int fd;
    int err = 0;
    socklen_t errlen = sizeof(err);

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sock_fail(errno, "socket: %s", strerror(errno));
    for (;;) {
        if (connect(fd, sa, len) == 0)
            goto done;
        if (errno == EINPROGRESS || errno == EINTR)
            break;
        if (errno == EAGAIN && sa->sa_family == AF_UNIX) {
            /* Listener's backlog is full: try again shortly. */
            int ms = ms_left(deadline);

            if (ms == 0) {
                err = ETIMEDOUT;
                goto fail;
            }
            (void) poll(NULL, 0, ms < 0 || ms > 10 ? 10 : ms);
            continue;
        }
        err = errno;
        goto fail;
    }
    if (wait_ready(fd, POLLOUT, deadline) < 0) {
        err = errno;
        goto fail;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
        err = errno;
    if (err != 0)
        goto fail;
done:
    if (set_blocking(fd, 1) < 0) {
        err = errno;
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return sock_fail(err, "connect: %s", strerror(err));
}

int sock_unix_connect(const char *path, long timeout_ms)
{
    struct sockaddr_un sun;
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path))
        return sock_fail(ENAMETOOLONG, "%s: socket path too long", path);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = sock_connect_addr((struct sockaddr *) &sun, sizeof(sun), timeout_ms);
    if (fd < 0)
        return sock_fail(errno, "connect to %s: %s", path, strerror(errno));
    return fd;
}

int sock_inet_connect(const char *addr, int protocols, long timeout_ms)
{
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    char *copy;
    char *host;
    char *port;
    int fd = -1;
    int err = EADDRNOTAVAIL;

    if (split_addr(addr, &copy, &host, &port) < 0)
        return -1;
    if (host == NULL) {
        mem_free(copy);
        return sock_fail(EINVAL, "%s: cannot connect to a wildcard", addr);
    }
    if (resolve(addr, host, port, protocols, 0, &res) < 0) {
        mem_free(copy);
        return -1;
    }
    mem_free(copy);
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        fd = sock_connect_addr(ai->ai_addr, ai->ai_addrlen, timeout_ms);
        if (fd < 0)
            err = errno;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return sock_fail(err, "connect to %s: %s", addr, strerror(err));
    return fd;
}

/* ---- address text ------------------------------------------------------- */

int sock_addr_text(const struct sockaddr *sa, socklen_t len, struct buf *addr,
                   struct buf *port)
{
    char host[NI_MAXHOST];
    unsigned portnum;

    if (sa->sa_family == AF_INET
        && len >= (socklen_t) sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

        if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)) == NULL)
            return -1;
        portnum = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6
               && len >= (socklen_t) sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            if (inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, host,
                          sizeof(host))
                == NULL)
                return -1;
        } else if (getnameinfo(sa, len, host, sizeof(host), NULL, 0,
                               NI_NUMERICHOST)
                   != 0) {
            return -1;
        }
        portnum = ntohs(in6->sin6_port);
    } else if (sa->sa_family == AF_UNIX) {
        snprintf(host, sizeof(host), "unix");
        portnum = 0;
    } else {
        errno = EAFNOSUPPORT;
        return -1;
    }
    if (addr)
        buf_puts(addr, host);
    if (port)
        buf_printf(port, "%u", portnum);
    return 0;
}

int sock_peer_text(int fd, struct buf *addr, struct buf *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getpeername(fd, (struct sockaddr *) &ss, &len) < 0)
        return -1;
    return sock_addr_text((struct sockaddr *) &ss, len, addr, port);
}

int sock_local_text(int fd, struct buf *addr, struct buf *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0)
        return -1;
    return sock_addr_text((struct sockaddr *) &ss, len, addr, port);
}

/* ---- descriptor passing ------------------------------------------------- */

/* Room for a few descriptors, so that extras can be seen and closed. */
#define SOCK_FD_MAX 8

int sock_send_fd(int sock, int fd, long timeout_ms)
{
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    struct cmsghdr *cmsg;
    struct msghdr msg;
    struct iovec iov;
    char byte = 'F';

    memset(&control, 0, sizeof(control));
    memset(&msg, 0, sizeof(msg));
    iov.iov_base = &byte;
    iov.iov_len = 1;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof(control.space);
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    for (;;) {
        if (sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return sock_fail(errno, "send descriptor: %s", strerror(errno));
        if (wait_ready(sock, POLLOUT, deadline) < 0)
            return sock_fail(errno, "send descriptor: %s", strerror(errno));
    }
}

int sock_recv_fd(int sock, long timeout_ms)
{
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * SOCK_FD_MAX)];
    } control;
    struct cmsghdr *cmsg;
    struct msghdr msg;
    struct iovec iov;
    char byte;
    ssize_t n;
    int got = -1;
    int bad = 0;

    for (;;) {
        memset(&msg, 0, sizeof(msg));
        iov.iov_base = &byte;
        iov.iov_len = 1;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.space;
        msg.msg_controllen = sizeof(control.space);
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n >= 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return sock_fail(errno, "receive descriptor: %s", strerror(errno));
        if (wait_ready(sock, POLLIN, deadline) < 0)
            return sock_fail(errno, "receive descriptor: %s", strerror(errno));
    }
    if (n == 0)
        return sock_fail(ECONNRESET, "receive descriptor: connection closed");
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        size_t count;
        size_t i;

        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
            continue;
        count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < count; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            if (got < 0) {
                got = fd;
            } else {
                close(fd);
                bad = 1;
            }
        }
    }
    if (msg.msg_flags & MSG_CTRUNC)
        bad = 1;
    if (got < 0 || bad) {
        if (got >= 0)
            close(got);
        return sock_fail(EBADMSG, "receive descriptor: %s",
                         got < 0 ? "no descriptor in message"
                                 : "more than one descriptor in message");
    }
    return got;
}
