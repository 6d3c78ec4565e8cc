/*
 * master_service.c - master's service table: one struct master_service per
 * enabled master.cf entry, its listening endpoint, its status pipe and its
 * wake-up timer.
 *
 * Called by master.c at start-up and reload, and by master_proc.c. Errors
 * are returned with a message (the caller makes them fatal at start-up and
 * logs them at reload); a failed wake-up is a logged warning.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "daemon.h"
#include "event.h"
#include "master.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "sock.h"
#include "str.h"

/* ---- building ---------------------------------------------------------- */

/* master_service_disable: "type" or "name/type" items. */
static int master_disabled(const char *name, const char *type)
{
    struct argv *items = argv_split(var_master_service_disable, STR_LIST_SEP);
    size_t i;
    int hit = 0;

    for (i = 0; i < items->argc && !hit; i++) {
        const char *item = items->argv[i];
        const char *slash = strchr(item, '/');

        if (slash == NULL)
            hit = strcmp(item, type) == 0;
        else
            hit = strncmp(item, name, (size_t) (slash - item)) == 0
                  && name[slash - item] == 0 && strcmp(slash + 1, type) == 0;
    }
    argv_free(items);
    return hit;
}

static void master_add_spec(struct argv *specs, const char *host,
                            const char *port)
{
    struct buf *spec = buf_new(64);

    if (host == NULL)
        buf_puts(spec, port);
    else if (strchr(host, ':') != NULL)
        buf_printf(spec, "[%s]:%s", host, port);
    else
        buf_printf(spec, "%s:%s", host, port);
    argv_add(specs, buf_str(spec));
    buf_free(spec);
}

/* The host:port forms an inet entry listens on. */
static int master_inet_specs(const struct mastercf_entry *e, int protocols,
                             struct argv *specs, struct buf *err)
{
    struct argv *ifaces;
    size_t i;

    if (e->inet_host != NULL) {
        master_add_spec(specs, e->inet_host, e->inet_port);
        return 0;
    }
    ifaces = argv_split(var_inet_interfaces, STR_LIST_SEP);
    if (ifaces->argc == 0) {
        argv_free(ifaces);
        buf_setf(err, "inet_interfaces is empty: service %s has no address",
                 e->field[MASTERCF_SERVICE]);
        return -1;
    }
    for (i = 0; i < ifaces->argc; i++) {
        char *item = ifaces->argv[i];
        size_t len = strlen(item);

        if (strcmp(item, "all") == 0) {
            if (ifaces->argc > 1) {
                buf_setf(err, "inet_interfaces: \"all\" must stand alone");
                argv_free(ifaces);
                return -1;
            }
            master_add_spec(specs, NULL, e->inet_port);
        } else if (strcmp(item, "loopback-only") == 0) {
            if (protocols & SOCK_PROTO_IPV4)
                master_add_spec(specs, "127.0.0.1", e->inet_port);
            if (protocols & SOCK_PROTO_IPV6)
                master_add_spec(specs, "::1", e->inet_port);
        } else {
            if (item[0] == '[' && len > 2 && item[len - 1] == ']') {
                item[len - 1] = 0;
                item++;
            }
            master_add_spec(specs, item, e->inet_port);
        }
    }
    argv_free(ifaces);
    return 0;
}

static struct master_service *master_service_new(const struct mastercf_entry *e,
                                                 struct buf *err)
{
    struct master_service *s = mem_calloc(1, sizeof(*s));
    const char *name = e->field[MASTERCF_SERVICE];
    const char *type = e->field[MASTERCF_TYPE];
    const char *command = e->field[MASTERCF_COMMAND];
    struct buf *b = buf_new(128);
    size_t i;

    s->status_rd = s->status_wr = -1;
    s->name = mem_strdup(name);
    s->type_text = mem_strdup(type);
    s->type = e->type;
    buf_setf(b, "%s/%s", name, type);
    s->key = mem_strdup(buf_str(b));
    if (command[0] == '/')
        buf_set(b, command);
    else
        buf_setf(b, "%s/%s", var_daemon_directory, command);
    s->path = mem_strdup(buf_str(b));
    s->cmd = mastercf_exec_argv(e);
    s->unpriv = e->unpriv;
    s->chroot = e->chroot;
    s->maxproc = e->maxproc < 0 ? var_default_process_limit : e->maxproc;
    s->wakeup = e->wakeup;
    s->wakeup_cond = e->wakeup_cond;

    if (s->type == MASTERCF_INET) {
        s->protocols = sock_protocols(var_inet_protocols);
        if (s->protocols < 0) {
            buf_setf(err, "inet_protocols: %s", sock_error());
            goto bad;
        }
        s->specs = argv_new(2);
        if (master_inet_specs(e, s->protocols, s->specs, err) < 0)
            goto bad;
        buf_setf(b, "inet proto=%d", s->protocols);
        for (i = 0; i < s->specs->argc; i++)
            buf_printf(b, " %s", s->specs->argv[i]);
        s->endpoint = mem_strdup(buf_str(b));
        s->label = mem_strdup(name);
        if (s->wakeup > 0) {
            msg_warn("service %s: wakeup is not supported for inet services; "
                     "ignored",
                     s->key);
            s->wakeup = 0;
        }
    } else {
        const char *dir = e->priv ? "private" : "public";

        buf_setf(b, "%s/%s", dir, name);
        s->label = mem_strdup(buf_str(b));
        buf_setf(b, "%s/%s/%s", var_queue_directory, dir, name);
        if (buf_len(b) >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
            buf_setf(err, "service %s: socket path %s is too long", s->key,
                     buf_str(b));
            goto bad;
        }
        s->sock_path = mem_strdup(buf_str(b));
        buf_setf(b, "%s %s", type, s->sock_path);
        s->endpoint = mem_strdup(buf_str(b));
        if (s->wakeup > 0 && s->type == MASTERCF_PASS) {
            msg_warn("service %s: wakeup is not supported for pass services; "
                     "ignored",
                     s->key);
            s->wakeup = 0;
        }
    }
    buf_free(b);
    return s;

bad:
    buf_free(b);
    master_service_free(s);
    return NULL;
}

int master_services_build(const struct mastercf *mcf,
                          struct master_service **list, struct buf *err)
{
    struct master_service *head = NULL;
    struct master_service **tail = &head;
    size_t i;

    for (i = 0; i < mcf->count; i++) {
        const struct mastercf_entry *e = mcf->entries[i];
        struct master_service *s;

        if (master_disabled(e->field[MASTERCF_SERVICE],
                            e->field[MASTERCF_TYPE])) {
            if (master_verbose)
                msg_info("service %s/%s is disabled by master_service_disable",
                         e->field[MASTERCF_SERVICE], e->field[MASTERCF_TYPE]);
            continue;
        }
        if ((s = master_service_new(e, err)) == NULL) {
            while (head) {
                struct master_service *next = head->next;

                master_service_free(head);
                head = next;
            }
            return -1;
        }
        *tail = s;
        tail = &s->next;
    }
    *list = head;
    return 0;
}

void master_service_free(struct master_service *s)
{
    if (s == NULL)
        return;
    master_service_timers_off(s);
    master_service_close(s, 0);
    master_service_close_status(s);
    mem_free(s->key);
    mem_free(s->name);
    mem_free(s->type_text);
    mem_free(s->endpoint);
    mem_free(s->label);
    mem_free(s->path);
    if (s->cmd)
        argv_free(s->cmd);
    mem_free(s->sock_path);
    if (s->specs)
        argv_free(s->specs);
    mem_free(s);
}

/* ---- endpoints --------------------------------------------------------- */

static void master_add_fd(struct master_service *s, int fd)
{
    s->listen_fds =
        mem_realloc(s->listen_fds, (size_t) (s->nlisten + 1) * sizeof(int));
    s->listen_fds[s->nlisten++] = fd;
}

static int master_open_dgram(struct master_service *s, struct buf *err)
{
    struct sockaddr_un sun;
    struct stat st;
    mode_t old_mask;
    int fd;

    if (lstat(s->sock_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            buf_setf(err, "service %s: %s: exists and is not a socket", s->key,
                     s->sock_path);
            return -1;
        }
        (void) unlink(s->sock_path);
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, s->sock_path, strlen(s->sock_path) + 1);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        buf_setf(err, "service %s: socket: %s", s->key, strerror(errno));
        return -1;
    }
    old_mask = umask(0111);
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
        buf_setf(err, "service %s: bind %s: %s", s->key, s->sock_path,
                 strerror(errno));
        umask(old_mask);
        close(fd);
        return -1;
    }
    umask(old_mask);
    (void) chmod(s->sock_path, 0666);
    master_add_fd(s, fd);
    return 0;
}

static int master_open_fifo(struct master_service *s, struct buf *err)
{
    struct stat st;
    int fd;

    if (lstat(s->sock_path, &st) == 0) {
        if (!S_ISFIFO(st.st_mode)) {
            buf_setf(err, "service %s: %s: exists and is not a FIFO", s->key,
                     s->sock_path);
            return -1;
        }
    } else if (mkfifo(s->sock_path, 0622) < 0) {
        buf_setf(err, "service %s: mkfifo %s: %s", s->key, s->sock_path,
                 strerror(errno));
        return -1;
    }
    if (chmod(s->sock_path, 0622) < 0) {
        buf_setf(err, "service %s: chmod %s: %s", s->key, s->sock_path,
                 strerror(errno));
        return -1;
    }
    /* Open for reading and writing: the FIFO never reports end of file. */
    fd = open(s->sock_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        buf_setf(err, "service %s: open %s: %s", s->key, s->sock_path,
                 strerror(errno));
        return -1;
    }
    master_add_fd(s, fd);
    return 0;
}

int master_service_open(struct master_service *s, struct buf *err)
{
    size_t i;
    int fd;

    switch (s->type) {
    case MASTERCF_INET:
        for (i = 0; i < s->specs->argc; i++) {
            int *fds;
            int n = sock_inet_listen(s->specs->argv[i], s->protocols, SOMAXCONN,
                                     &fds);
            int k;

            if (n < 0) {
                buf_setf(err, "service %s: %s", s->key, sock_error());
                master_service_close(s, 0);
                return -1;
            }
            for (k = 0; k < n; k++)
                master_add_fd(s, fds[k]);
            mem_free(fds);
        }
        return 0;
    case MASTERCF_UNIX:
    case MASTERCF_PASS:
        fd = sock_unix_listen(s->sock_path, SOMAXCONN, 0666);
        if (fd < 0) {
            buf_setf(err, "service %s: %s", s->key, sock_error());
            return -1;
        }
        master_add_fd(s, fd);
        return 0;
    case MASTERCF_UNIX_DGRAM:
        return master_open_dgram(s, err);
    case MASTERCF_FIFO:
        return master_open_fifo(s, err);
    }
    buf_setf(err, "service %s: unknown type", s->key);
    return -1;
}

void master_service_close(struct master_service *s, int how)
{
    int i;

    if (s->listening) {
        for (i = 0; i < s->nlisten; i++)
            event_unwatch(master_loop, s->listen_fds[i]);
        s->listening = 0;
    }
    for (i = 0; i < s->nlisten; i++) {
        if ((how & MASTER_CLOSE_SHUT) && s->type == MASTERCF_INET)
            (void) shutdown(s->listen_fds[i], SHUT_RDWR);
        close(s->listen_fds[i]);
    }
    mem_free(s->listen_fds);
    s->listen_fds = NULL;
    if (s->nlisten > 0 && (how & MASTER_CLOSE_UNLINK) && s->sock_path)
        (void) unlink(s->sock_path);
    s->nlisten = 0;
}

/* ---- the status pipe ----------------------------------------------------- */

void master_service_close_status(struct master_service *s)
{
    if (s->status_rd >= 0) {
        event_unwatch(master_loop, s->status_rd);
        close(s->status_rd);
    }
    if (s->status_wr >= 0)
        close(s->status_wr);
    s->status_rd = s->status_wr = -1;
    if (s->status_buf)
        buf_free(s->status_buf);
    s->status_buf = NULL;
}

void master_service_new_generation(struct master_service *s)
{
    int fds[2];

    master_service_close_status(s);
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        msg_fatal("service %s: status pipe: %s", s->key, strerror(errno));
    s->status_rd = fds[0];
    s->status_wr = fds[1];
    s->status_buf = buf_new(DAEMON_STATUS_SIZE * 4);
}

/* ---- wake-ups ------------------------------------------------------------ */

static void master_wakeup_send(struct master_service *s)
{
    static const char req[1] = {DAEMON_TRIGGER_WAKEUP};
    struct sockaddr_un sun;
    int fd;

    if (s->nlisten == 0)
        return;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (s->sock_path)
        memcpy(sun.sun_path, s->sock_path, strlen(s->sock_path) + 1);
    switch (s->type) {
    case MASTERCF_FIFO:
        if (write(s->listen_fds[0], req, 1) < 0 && errno != EAGAIN)
            msg_warn("service %s: wakeup: write %s: %s", s->key, s->sock_path,
                     strerror(errno));
        return;
    case MASTERCF_UNIX_DGRAM:
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            break;
        if (sendto(fd, req, 1, 0, (struct sockaddr *) &sun, sizeof(sun)) < 0
            && errno != EAGAIN)
            msg_warn("service %s: wakeup: send to %s: %s", s->key, s->sock_path,
                     strerror(errno));
        close(fd);
        return;
    case MASTERCF_UNIX:
        /*
         * Never wait: a full backlog (EAGAIN) means the service has enough
         * to do already.
         */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            break;
        if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
            if (errno != EAGAIN)
                msg_warn("service %s: wakeup: connect %s: %s", s->key,
                         s->sock_path, strerror(errno));
        } else if (send(fd, req, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            msg_warn("service %s: wakeup: send: %s", s->key, strerror(errno));
        }
        close(fd);
        return;
    default:
        return;
    }
    msg_warn("service %s: wakeup: socket: %s", s->key, strerror(errno));
}

static void master_wakeup_event(struct event_loop *loop, void *ctx)
{
    struct master_service *s = ctx;

    (void) loop;
    s->wakeup_timer = 0;
    if (!s->throttled && (!s->wakeup_cond || s->used)) {
        if (master_verbose)
            msg_info("service %s: wakeup", s->key);
        master_wakeup_send(s);
    }
    master_wakeup_start(s);
}

void master_wakeup_start(struct master_service *s)
{
    if (s->wakeup_timer) {
        event_cancel(master_loop, s->wakeup_timer);
        s->wakeup_timer = 0;
    }
    if (s->wakeup > 0 && !master_stopping)
        s->wakeup_timer =
            event_timer(master_loop, s->wakeup * 1000L, master_wakeup_event, s);
}
