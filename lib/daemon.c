/*
 * daemon.c - the daemon skeleton (see daemon.h for the start-up order and
 * the conventions shared with master/master.c).
 *
 * Called by the main() of every service master starts. Start-up errors
 * are fatal (msg_fatal: logged, exit 1), which master notices and
 * throttles; errors with one client end that client only (a warning).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "config.h"
#include "daemon.h"
#include "event.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "privs.h"
#include "sock.h"

/* ---- the status protocol -------------------------------------------- */

static const unsigned char daemon_status_magic[4] = {'P', 'S', 't', '1'};

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

void daemon_status_encode(unsigned char *rec, long pid, int status)
{
    memcpy(rec, daemon_status_magic, 4);
    put32(rec + 4, (uint32_t) pid);
    put32(rec + 8, (uint32_t) status);
    put32(rec + 12, 0);
}

int daemon_status_decode(const unsigned char *rec, size_t len, long *pid,
                         int *status)
{
    uint32_t p;
    uint32_t s;

    if (len != DAEMON_STATUS_SIZE || memcmp(rec, daemon_status_magic, 4) != 0)
        return -1;
    p = get32(rec + 4);
    s = get32(rec + 8);
    if (p == 0 || p > INT32_MAX || get32(rec + 12) != 0)
        return -1;
    if (s != DAEMON_STAT_IDLE && s != DAEMON_STAT_BUSY)
        return -1;
    *pid = (long) p;
    *status = (int) s;
    return 0;
}

/* ---- arguments ------------------------------------------------------- */

static const char *const daemon_types[] = {
    "inet", "unix", "unix-dgram", "fifo", "pass", NULL,
};

static int daemon_known_type(const char *type)
{
    size_t i;

    for (i = 0; daemon_types[i]; i++)
        if (strcmp(type, daemon_types[i]) == 0)
            return 1;
    return 0;
}

/* "name=value" with a name that is not empty (white space aside). */
static int daemon_override_ok(const char *text)
{
    const char *eq = strchr(text, '=');
    const char *cp;

    if (eq == NULL)
        return 0;
    for (cp = text; cp < eq; cp++)
        if (*cp != ' ' && *cp != '\t')
            return 1;
    return 0;
}

static void daemon_set_str(char **dst, const char *value)
{
    mem_free(*dst);
    *dst = mem_strdup(value);
}

static int daemon_option(struct daemon_args *a, int opt, const char *val,
                         struct buf *err)
{
    char *end;
    long n;

    switch (opt) {
    case 'o':
        if (!daemon_override_ok(val)) {
            buf_setf(err, "bad override \"%s\": want name=value", val);
            return -1;
        }
        argv_add(a->overrides, val);
        return 0;
    case 'S':
        if (*val == 0) {
            buf_setf(err, "empty service name");
            return -1;
        }
        daemon_set_str(&a->service, val);
        return 0;
    case 't':
        if (!daemon_known_type(val)) {
            buf_setf(err, "bad service type \"%s\"", val);
            return -1;
        }
        daemon_set_str(&a->type, val);
        return 0;
    case 's':
        errno = 0;
        n = strtol(val, &end, 10);
        if (errno != 0 || end == val || *end != 0 || n < 1 || n > 1000) {
            buf_setf(err, "bad socket count \"%s\"", val);
            return -1;
        }
        a->nsock = (int) n;
        return 0;
    }
    buf_setf(err, "invalid option -%c", opt);
    return -1;
}

int daemon_parse_args(int argc, char **argv, struct daemon_args *a,
                      struct buf *err)
{
    int i;

    memset(a, 0, sizeof(*a));
    a->nsock = 1;
    a->overrides = argv_new(4);
    a->extra = argv_new(4);
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *cp;

        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == 0)
            break;
        for (cp = arg + 1; *cp; cp++) {
            int opt = (unsigned char) *cp;

            if (opt == 'u') {
                a->unpriv = 1;
            } else if (opt == 'j') {
                a->chroot = 1;
            } else if (opt == 'v') {
                a->verbose++;
            } else if (strchr("oSts", opt) != NULL) {
                const char *val;

                if (cp[1] != 0) {
                    val = cp + 1;
                } else if (i + 1 < argc) {
                    val = argv[++i];
                } else {
                    buf_setf(err, "option -%c needs a value", opt);
                    return -1;
                }
                if (daemon_option(a, opt, val, err) < 0)
                    return -1;
                break;
            } else if (opt >= 0x21 && opt < 0x7f) {
                buf_setf(err, "invalid option -%c", opt);
                return -1;
            } else {
                buf_setf(err, "invalid option character 0x%02x", opt);
                return -1;
            }
        }
    }
    for (; i < argc; i++)
        argv_add(a->extra, argv[i]);
    return 0;
}

void daemon_args_free(struct daemon_args *a)
{
    mem_free(a->service);
    mem_free(a->type);
    if (a->overrides)
        argv_free(a->overrides);
    if (a->extra)
        argv_free(a->extra);
    memset(a, 0, sizeof(*a));
}

/* ---- process state --------------------------------------------------- */

enum daemon_kind { KIND_STREAM, KIND_PASS, KIND_DGRAM, KIND_FIFO };

static struct daemon_args d_args;
static const struct daemon_ops *d_ops;
static struct event_loop *d_loop;
static char *d_root;
static enum daemon_kind d_kind;
static int d_nlisten;   /* listening descriptors still open */
static int d_listening; /* they are watched */
static int d_gone;      /* master went away */
static long d_use;      /* clients (or triggers) taken */
static int d_in_queue;  /* the working directory is queue_directory */
static int d_clients;   /* DAEMON_MULTI: clients now */
static int d_in_client; /* SINGLE, TRIGGER: inside ops->serve/trigger */
static uint64_t d_idle_timer;

const char *daemon_service(void)
{
    return d_args.service ? d_args.service : msg_progname();
}

const char *daemon_type(void)
{
    return d_args.type ? d_args.type : "unix";
}

const struct argv *daemon_extra_args(void)
{
    return d_args.extra;
}

struct event_loop *daemon_loop(void)
{
    return d_loop;
}

int daemon_in_queue(void)
{
    return d_in_queue;
}

const char *daemon_root(void)
{
    return d_root ? d_root : "/";
}

int daemon_stopping(void)
{
    return d_gone;
}

static void daemon_exit(void) __attribute__((noreturn));

static void daemon_exit(void)
{
    if (d_ops && d_ops->pre_exit)
        d_ops->pre_exit(d_ops->ctx);
    if (msg_verbose)
        msg_info("exiting after %ld client(s)", d_use);
    exit(0);
}

static void daemon_on_sigterm(int sig)
{
    (void) sig;
    _exit(0);
}

static int daemon_resident(void)
{
    return (d_ops->flags & DAEMON_FLAG_RESIDENT) != 0;
}

static int daemon_used_up(void)
{
    return !daemon_resident() && d_use >= var_max_use;
}

/* ---- descriptors handed down ----------------------------------------- */

static int fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static void daemon_std_fds(void)
{
    int fd;

    for (fd = 0; fd < 3; fd++) {
        if (!fd_open(fd)) {
            int got = open("/dev/null", O_RDWR);

            if (got >= 0 && got != fd) {
                dup2(got, fd);
                close(got);
            }
        }
    }
}

/* Close every descriptor from FIRST on. */
static void daemon_close_from(int first)
{
    long max;
    int fd;

#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned) first, ~0U, 0) == 0)
        return;
#endif
    max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (fd = first; fd < max; fd++)
        (void) close(fd);
}

static int daemon_log_handed_down(void)
{
    const char *env = getenv(DAEMON_LOG_ENV);

    return env != NULL && atoi(env) == DAEMON_LOG_FD && fd_open(DAEMON_LOG_FD);
}

/* ---- talking to master ----------------------------------------------- */

static void daemon_master_gone(void);

/*
 * Send one status record, or two in one write (so that master reads them
 * together): SECOND is -1 for none.
 */
static void daemon_status2(int status, int second)
{
    unsigned char rec[2 * DAEMON_STATUS_SIZE];
    size_t len = DAEMON_STATUS_SIZE;
    ssize_t n;

    if (d_gone)
        return;
    daemon_status_encode(rec, (long) getpid(), status);
    if (second >= 0) {
        daemon_status_encode(rec + DAEMON_STATUS_SIZE, (long) getpid(), second);
        len += DAEMON_STATUS_SIZE;
    }
    do {
        n = write(DAEMON_STATUS_FD, rec, len);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t) len)
        return;
    if (n < 0 && errno == EAGAIN) {
        msg_warn("status pipe to master is full; status not sent");
        return;
    }
    if (msg_verbose)
        msg_info("status write: %s: master went away",
                 n < 0 ? strerror(errno) : "short write");
    daemon_master_gone();
}

static void daemon_status(int status)
{
    daemon_status2(status, -1);
}

static void daemon_idle_timeout(struct event_loop *loop, void *ctx)
{
    (void) loop;
    (void) ctx;
    d_idle_timer = 0;
    if (msg_verbose)
        msg_info("idle for %lds: exiting", var_max_idle);
    daemon_exit();
}

static void daemon_idle_cancel(void)
{
    if (d_idle_timer) {
        event_cancel(d_loop, d_idle_timer);
        d_idle_timer = 0;
    }
}

static void daemon_idle_arm(void)
{
    daemon_idle_cancel();
    if (!daemon_resident())
        d_idle_timer = event_timer(d_loop, var_max_idle * 1000L,
                                   daemon_idle_timeout, NULL);
}

static void daemon_listen_ready(struct event_loop *loop, int fd, int events,
                                void *ctx);

static void daemon_listen_on(int on)
{
    int i;

    if (on == d_listening || d_nlisten == 0)
        return;
    for (i = 0; i < d_nlisten; i++) {
        int fd = DAEMON_LISTEN_FD + i;

        if (on) {
            if (event_watch(d_loop, fd, EVENT_READ | EVENT_EXCLUSIVE,
                            daemon_listen_ready, NULL)
                < 0)
                msg_fatal("watch listening descriptor %d: %s", fd,
                          strerror(errno));
        } else {
            event_unwatch(d_loop, fd);
        }
    }
    d_listening = on;
}

/*
 * Master closed its end (reload, stop) or a status write failed: stop
 * listening at once (so a restarted master can bind the same ports), and
 * exit now unless a client is still being served.
 */
static void daemon_master_gone(void)
{
    int i;

    if (d_gone)
        return;
    d_gone = 1;
    event_unwatch(d_loop, DAEMON_STATUS_FD);
    daemon_listen_on(0);
    for (i = 0; i < d_nlisten; i++)
        close(DAEMON_LISTEN_FD + i);
    d_nlisten = 0;
    if (!d_in_client && d_clients == 0)
        daemon_exit();
}

static void daemon_status_event(struct event_loop *loop, int fd, int events,
                                void *ctx)
{
    (void) loop;
    (void) fd;
    (void) events;
    (void) ctx;
    if (msg_verbose)
        msg_info("master went away");
    daemon_master_gone();
}

/* ---- taking a client ------------------------------------------------- */

static int daemon_blocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

/*
 * After a failed accept: another process took the client (EAGAIN), or
 * master shut the socket down at stop or reload (EINVAL: it no longer
 * listens), which means master is gone for this process.
 */
static void daemon_accept_error(void)
{
    switch (errno) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
        return;
    case EINVAL:
        daemon_master_gone();
        return;
    default:
        msg_warn("accept: %s", strerror(errno));
        /* Do not spin on a lasting error (EMFILE): let others serve. */
        if (d_in_client == 0 && d_clients == 0) {
            struct timespec ts = {0, 100 * 1000 * 1000};

            nanosleep(&ts, NULL);
        }
    }
}

/* Accept one client on LFD: its descriptor (blocking), or -1. */
static int daemon_take_client(int lfd)
{
    int fd;

    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        daemon_accept_error();
        return -1;
    }
    if (d_kind == KIND_PASS) {
        int passed = sock_recv_fd(fd, var_ipc_timeout * 1000L);

        if (passed < 0)
            msg_warn("receive a passed descriptor: %s", sock_error());
        close(fd);
        fd = passed;
        if (fd < 0)
            return -1;
    }
    if (daemon_blocking(fd) < 0) {
        msg_warn("client descriptor: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- DAEMON_SINGLE --------------------------------------------------- */

static void daemon_single_ready(int lfd)
{
    int fd = daemon_take_client(lfd);

    if (fd < 0)
        return;
    daemon_idle_cancel();
    d_in_client = 1;
    daemon_status(DAEMON_STAT_BUSY);
    d_use++;
    d_ops->serve(fd, d_ops->ctx);
    d_in_client = 0;
    if (d_gone || daemon_used_up())
        daemon_exit();
    daemon_status(DAEMON_STAT_IDLE);
    daemon_idle_arm();
}

/* ---- DAEMON_MULTI ---------------------------------------------------- */

static int daemon_multi_full(void)
{
    return (d_ops->max_clients > 0 && d_clients >= d_ops->max_clients)
           || daemon_used_up();
}

static void daemon_multi_ready(int lfd)
{
    int fd = daemon_take_client(lfd);

    if (fd < 0)
        return;
    daemon_idle_cancel();
    d_clients++;
    d_use++;
    if (daemon_multi_full()) {
        daemon_listen_on(0);
        daemon_status(DAEMON_STAT_BUSY);
    } else {
        /* Took a client and can take more: master counts the use. */
        daemon_status2(DAEMON_STAT_BUSY, DAEMON_STAT_IDLE);
    }
    d_ops->accept(d_loop, fd, d_ops->ctx);
}

void daemon_client_done(void)
{
    if (d_ops == NULL || d_ops->model != DAEMON_MULTI || d_clients <= 0)
        msg_panic("daemon_client_done: no client");
    d_clients--;
    if (d_clients == 0 && (d_gone || daemon_used_up()))
        daemon_exit();
    if (d_gone || daemon_used_up())
        return;
    if (!d_listening && !daemon_multi_full()) {
        daemon_listen_on(1);
        daemon_status(DAEMON_STAT_IDLE);
    }
    if (d_clients == 0)
        daemon_idle_arm();
}

/* ---- DAEMON_TRIGGER -------------------------------------------------- */

struct daemon_trigger_conn {
    int fd;
    struct buf *data;
    uint64_t timer;
};

static void daemon_trigger_run(const char *data, size_t len)
{
    if (len == 0)
        return;
    daemon_idle_cancel();
    d_in_client = 1;
    daemon_status(DAEMON_STAT_BUSY);
    d_use++;
    d_ops->trigger(data, len, d_ops->ctx);
    d_in_client = 0;
    if (d_gone || daemon_used_up())
        daemon_exit();
    daemon_status(DAEMON_STAT_IDLE);
    daemon_idle_arm();
}

static void daemon_trigger_conn_end(struct daemon_trigger_conn *c, int run)
{
    struct buf *data = c->data;

    event_unwatch(d_loop, c->fd);
    if (c->timer)
        event_cancel(d_loop, c->timer);
    close(c->fd);
    mem_free(c);
    if (run)
        daemon_trigger_run(buf_str(data), buf_len(data));
    buf_free(data);
}

static void daemon_trigger_conn_timeout(struct event_loop *loop, void *ctx)
{
    struct daemon_trigger_conn *c = ctx;

    (void) loop;
    c->timer = 0;
    msg_warn("trigger request: timeout after %lds", var_trigger_timeout);
    daemon_trigger_conn_end(c, 0);
}

static void daemon_trigger_conn_read(struct event_loop *loop, int fd,
                                     int events, void *ctx)
{
    struct daemon_trigger_conn *c = ctx;
    char chunk[256];
    ssize_t n;

    (void) loop;
    (void) events;
    n = read(fd, chunk, sizeof(chunk));
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        msg_warn("trigger request: read: %s", strerror(errno));
        daemon_trigger_conn_end(c, 0);
        return;
    }
    if (n == 0) {
        daemon_trigger_conn_end(c, 1);
        return;
    }
    buf_append(c->data, chunk, (size_t) n);
    if (buf_len(c->data) >= DAEMON_TRIGGER_MAX)
        daemon_trigger_conn_end(c, 1);
}

static void daemon_trigger_ready(int lfd)
{
    char data[DAEMON_TRIGGER_MAX];
    struct daemon_trigger_conn *c;
    ssize_t n;
    int fd;

    switch (d_kind) {
    case KIND_FIFO:
    case KIND_DGRAM:
        n = d_kind == KIND_FIFO ? read(lfd, data, sizeof(data))
                                : recv(lfd, data, sizeof(data), MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                msg_warn("read trigger: %s", strerror(errno));
            return;
        }
        daemon_trigger_run(data, (size_t) n);
        return;
    case KIND_STREAM:
    case KIND_PASS:
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            daemon_accept_error();
            return;
        }
        c = mem_calloc(1, sizeof(*c));
        c->fd = fd;
        c->data = buf_new(16);
        c->timer = event_timer(d_loop, var_trigger_timeout * 1000L,
                               daemon_trigger_conn_timeout, c);
        if (event_watch(d_loop, fd, EVENT_READ, daemon_trigger_conn_read, c)
            < 0) {
            msg_warn("watch trigger client: %s", strerror(errno));
            daemon_trigger_conn_end(c, 0);
        }
        return;
    }
}

static void daemon_listen_ready(struct event_loop *loop, int fd, int events,
                                void *ctx)
{
    (void) loop;
    (void) events;
    (void) ctx;
    switch (d_ops->model) {
    case DAEMON_SINGLE:
        daemon_single_ready(fd);
        break;
    case DAEMON_MULTI:
        daemon_multi_ready(fd);
        break;
    case DAEMON_TRIGGER:
        daemon_trigger_ready(fd);
        break;
    }
}

/* ---- start-up -------------------------------------------------------- */

static void daemon_check_ops(const struct daemon_ops *ops)
{
    switch (ops->model) {
    case DAEMON_SINGLE:
        if (ops->serve == NULL)
            msg_panic("daemon_main: DAEMON_SINGLE without serve");
        return;
    case DAEMON_MULTI:
        if (ops->accept == NULL)
            msg_panic("daemon_main: DAEMON_MULTI without accept");
        return;
    case DAEMON_TRIGGER:
        if (ops->trigger == NULL)
            msg_panic("daemon_main: DAEMON_TRIGGER without trigger");
        return;
    }
    msg_panic("daemon_main: bad model %d", (int) ops->model);
}

static void daemon_pick_kind(void)
{
    const char *type = daemon_type();

    if (strcmp(type, "fifo") == 0)
        d_kind = KIND_FIFO;
    else if (strcmp(type, "unix-dgram") == 0)
        d_kind = KIND_DGRAM;
    else if (strcmp(type, "pass") == 0)
        d_kind = KIND_PASS;
    else
        d_kind = KIND_STREAM;
    if ((d_kind == KIND_FIFO || d_kind == KIND_DGRAM)
        && d_ops->model != DAEMON_TRIGGER)
        msg_fatal("service %s: type %s is for wake-up services; %s serves "
                  "connections (use inet, unix or pass)",
                  daemon_service(), type, msg_progname());
}

void daemon_main(int argc, char **argv, const struct daemon_ops *ops)
{
    struct buf *err = buf_new(128);
    struct sigaction sa;
    uid_t uid = 0;
    gid_t gid = 0;
    int log_fd;
    size_t i;
    int fd;

    daemon_std_fds();
    log_fd = daemon_log_handed_down();
    msg_init(argc > 0 && argv[0] ? argv[0] : "daemon", 0);
    if (log_fd) {
        (void) fcntl(DAEMON_LOG_FD, F_SETFD, FD_CLOEXEC);
        msg_set_logfd(DAEMON_LOG_FD);
    }
    d_ops = ops;
    daemon_check_ops(ops);

    /* Keep what master handed down, nothing else. */
    if (daemon_parse_args(argc, argv, &d_args, err) < 0)
        msg_fatal("%s", buf_str(err));
    if (!log_fd && fd_open(DAEMON_LOG_FD))
        close(DAEMON_LOG_FD);
    daemon_close_from(DAEMON_LISTEN_FD + d_args.nsock);
    {
        struct stat st;

        if (fstat(DAEMON_STATUS_FD, &st) < 0 || !S_ISFIFO(st.st_mode))
            msg_fatal("no status pipe on descriptor %d: %s must be started "
                      "by the master daemon",
                      DAEMON_STATUS_FD, msg_progname());
    }
    for (fd = DAEMON_LISTEN_FD; fd < DAEMON_LISTEN_FD + d_args.nsock; fd++) {
        if (!fd_open(fd))
            msg_fatal("listening descriptor %d is not open", fd);
        (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    (void) fcntl(DAEMON_STATUS_FD, F_SETFD, FD_CLOEXEC);
    d_nlisten = d_args.nsock;
    msg_verbose = d_args.verbose;

    /* main.cf, then this service's overrides. */
    config_load(config_choose_dir(NULL));
    for (i = 0; i < d_args.overrides->argc; i++)
        if (config_override(d_args.overrides->argv[i]) < 0)
            msg_fatal("bad override \"%s\"", d_args.overrides->argv[i]);
    params_load();
    msg_set_syslog_name(var_syslog_name);
    if (!log_fd) {
        if (*var_maillog_file) {
            if (msg_set_logfile(var_maillog_file) < 0)
                msg_fatal("open maillog_file %s: %s", var_maillog_file,
                          strerror(errno));
        } else {
            msg_syslog_connect();
        }
    }
    tzset();
    daemon_pick_kind();

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = daemon_on_sigterm;
    sigaction(SIGTERM, &sa, NULL);

    if (d_args.unpriv && privs_lookup(var_mail_owner, &uid, &gid, err) < 0)
        msg_fatal("mail_owner: %s", buf_str(err));
    /* Every service works in the queue: "public/cleanup", "active/ID". */
    if (chdir(var_queue_directory) < 0)
        msg_fatal("chdir %s: %s", var_queue_directory, strerror(errno));
    d_in_queue = 1;
    if (ops->pre_jail)
        ops->pre_jail(ops->ctx);
    if (d_args.chroot) {
        if (privs_chroot(var_queue_directory, err) < 0)
            msg_fatal("%s", buf_str(err));
        d_root = mem_strdup(var_queue_directory);
    }
    if (d_args.unpriv && privs_drop(uid, gid, err) < 0)
        msg_fatal("%s", buf_str(err));
    buf_free(err);
    /* Made before post_jail, so that a service can set its first timers. */
    if ((d_loop = event_new()) == NULL)
        msg_fatal("event loop: %s", strerror(errno));
    if (ops->post_jail)
        ops->post_jail(ops->ctx);

    if (event_watch(d_loop, DAEMON_STATUS_FD, EVENT_READ, daemon_status_event,
                    NULL)
        < 0)
        msg_fatal("watch the status pipe: %s", strerror(errno));
    daemon_listen_on(1);
    if (msg_verbose)
        msg_info("service %s/%s ready", daemon_service(), daemon_type());
    daemon_status(DAEMON_STAT_IDLE);
    daemon_idle_arm();
    if (event_run(d_loop) < 0)
        msg_fatal("event loop: %s", strerror(errno));
    daemon_exit();
}
