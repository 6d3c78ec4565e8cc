/*
 * master.c - the master daemon: runs the services of master.cf on demand.
 *
 * Started as root by "postern start" (or by hand). It reads main.cf and
 * master.cf, opens every listening endpoint itself, and forks a service's
 * program from daemon_directory when a client waits and no process of that
 * service is free (lib/daemon.h has the conventions with the children).
 * It reaps children, logs abnormal exits, throttles services that fail at
 * start-up, reloads on SIGHUP and stops on SIGTERM.
 *
 * Errors: problems before the daemon is running are fatal (exit 1, the
 * message on stderr and in the log); afterwards, a problem with one
 * service is logged and that service is skipped or throttled.
 *
 * ---- Conventions shared with the postern command (master/postern*.c) ----
 *
 * Program: $daemon_directory/master, run as root.
 *   -c dir   configuration directory (else $MAIL_CONFIG, else the
 *            compiled-in config_directory); children get MAIL_CONFIG=dir.
 *   -d       stay in the foreground ("postern start-fg"): no fork, no new
 *            session, stdin/stdout/stderr kept, so maillog_file =
 *            /dev/stdout or /dev/stderr works.
 *   -w       detach, and let the parent wait until the daemon finished
 *            initialising (pid file locked, every endpoint open): the
 *            parent exits 0, or 1 after the fatal message went to stderr.
 *            Without -d and -w the parent exits 0 at once (as Postfix).
 *   -t       test: exit 0 when no master runs for this configuration (the
 *            pid file is missing or not locked), 1 when one does. Prints
 *            nothing; needs no privileges.
 *   -v       verbose logging, passed on to the children (repeatable).
 *
 * Pid file: $queue_directory/$process_id_directory/master.pid (normally
 *   .../pid/master.pid), the daemon's pid as "%10d\n", write-locked with
 *   fcntl(F_SETLK) for the daemon's whole life. A second master fails with
 *   "fatal: the Postern mail system is already running" (exit 1) before it
 *   touches any endpoint. "postern status" reads the pid from the file and
 *   uses -t (or F_GETLK itself) to know whether it is alive.
 *
 * Signals:
 *   SIGHUP   reload ("postern reload"): main.cf and master.cf are read
 *            again. A master.cf or main.cf with errors is refused (logged
 *            as an error) and everything stays as it was. Otherwise
 *            services whose endpoint is unchanged keep their listening
 *            sockets; their old processes finish their current client and
 *            exit; removed services close their endpoints and their
 *            processes get SIGTERM (they exit at once); new services open.
 *            Logs "reload -- version V, configuration DIR".
 *   SIGTERM  stop, graceful ("postern stop"; SIGINT does the same): master
 *            closes every listening endpoint and status pipe, so idle
 *            children exit at once and busy ones after their current
 *            client; master waits for them up to MASTER_STOP_WAIT seconds,
 *            then exits 0 (a child still busy then finishes on its own; it
 *            no longer holds any listening socket).
 *   SIGQUIT  abort ("postern abort"): every child gets SIGTERM and exits
 *            at once; after MASTER_ABORT_WAIT seconds the rest get SIGKILL;
 *            master exits 0.
 *   Both log "terminating on signal N". The pid file is left in place
 *   (unlocked), as Postfix does. "postern stop" can wait for "-t" to
 *   return 0.
 *   SIGCHLD  reap children.
 *
 * Logging: with maillog_file set, master opens it (append) before any
 * child starts and hands the descriptor to every child as descriptor 4,
 * announced by POSTERN_LOG_FD=4 in the child's environment; children keep
 * it through chroot and privilege drop. SIGHUP reopens the file (log
 * rotation: move the file, then reload). With maillog_file empty, every
 * process uses syslog (children connect before chroot).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "config.h"
#include "daemon.h"
#include "event.h"
#include "master.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"
#include "params.h"

#define MASTER_STOP_WAIT  5  /* seconds for children after "stop" */
#define MASTER_ABORT_WAIT 1  /* seconds before SIGKILL after "abort" */
#define MASTER_INIT_WAIT  60 /* seconds "-w" waits for initialisation */
#define MASTER_CHECK_WAIT 10 /* seconds a reload's main.cf check may take */

struct event_loop *master_loop;
struct master_service *master_services;
int master_stopping;
int master_verbose;
char *master_config_dir;

static int master_sig_pipe[2] = {-1, -1};

/* ---- descriptors and logging ----------------------------------------------
 */

static void master_close_strays(void)
{
    int fd;

    for (fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) < 0) {
            int got = open("/dev/null", O_RDWR);

            if (got >= 0 && got != fd) {
                dup2(got, fd);
                close(got);
            }
        }
    }
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0) == 0)
        return;
#endif
    for (fd = 3; fd < 1024; fd++)
        (void) close(fd);
}

/* syslog_name and maillog_file; at reload a failure keeps the old file. */
static int master_log_setup(struct buf *err)
{
    msg_set_syslog_name(var_syslog_name);
    if (msg_set_logfile(var_maillog_file) < 0) {
        buf_setf(err, "open maillog_file %s: %s", var_maillog_file,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* Is the log file the same file as stderr (maillog_file = /dev/stderr)? */
static int master_log_is_stderr(void)
{
    struct stat a;
    struct stat b;

    return msg_logfd() >= 0 && fstat(msg_logfd(), &a) == 0 && fstat(2, &b) == 0
           && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* ---- the pid file -----------------------------------------------------------
 */

static char *master_pid_path(void)
{
    struct buf *b = buf_new(128);

    if (var_process_id_directory[0] == '/')
        buf_printf(b, "%s/master.pid", var_process_id_directory);
    else
        buf_printf(b, "%s/%s/master.pid", var_queue_directory,
                   var_process_id_directory);
    return buf_steal(b);
}

/* -t: exit 0 when no master holds the lock, 1 when one does. */
static void master_test(void) __attribute__((noreturn));

static void master_test(void)
{
    char *path = master_pid_path();
    struct flock fl;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    mem_free(path);
    if (fd < 0)
        exit(0);
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_GETLK, &fl) < 0)
        exit(0);
    exit(fl.l_type == F_UNLCK ? 0 : 1);
}

static void master_lock_pid_file(void)
{
    char *path = master_pid_path();
    char *slash = strrchr(path, '/');
    char text[16];
    struct flock fl;
    int fd;

    /* The folder is "postern start"'s to make; a missing one is made here. */
    if (slash != NULL && slash != path) {
        *slash = 0;
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            msg_fatal("create %s: %s", path, strerror(errno));
        *slash = '/';
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        msg_fatal("open lock file %s: %s", path, strerror(errno));
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        if (errno == EAGAIN || errno == EACCES)
            msg_fatal("the Postern mail system is already running");
        msg_fatal("lock %s: %s", path, strerror(errno));
    }
    snprintf(text, sizeof(text), "%10ld\n", (long) getpid());
    if (ftruncate(fd, 0) < 0
        || pwrite(fd, text, strlen(text), 0) != (ssize_t) strlen(text))
        msg_fatal("write %s: %s", path, strerror(errno));
    /* fd stays open (and locked) until exit. */
    mem_free(path);
}

/* ---- services --------------------------------------------------------------
 */

static struct mastercf *master_read_table(struct buf *err)
{
    struct buf *path = buf_new(128);
    struct mastercf *mcf;

    buf_printf(path, "%s/master.cf", master_config_dir);
    mcf = mastercf_read(buf_str(path), MASTERCF_STRICT, NULL, err);
    buf_free(path);
    return mcf;
}

static void master_service_start(struct master_service *s)
{
    master_service_new_generation(s);
    master_status_watch(s);
    master_wakeup_start(s);
    master_listen_update(s);
}

/* ---- reload
 * ------------------------------------------------------------------ */

/*
 * Check main.cf (and the services built from it) in a child, because a
 * bad value is fatal in params_load(): 0 when it is usable. The child
 * logs what is wrong.
 */
static int master_check_config(const struct mastercf *mcf)
{
    int64_t deadline = event_now_ms() + MASTER_CHECK_WAIT * 1000L;
    struct master_service *list = NULL;
    struct buf *err;
    int status;
    pid_t pid;

    pid = fork();
    if (pid < 0) {
        msg_error("reload: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        config_clear();
        config_load(master_config_dir);
        params_load();
        err = buf_new(128);
        if (master_services_build(mcf, &list, err) < 0)
            msg_fatal("%s", buf_str(err));
        _exit(0);
    }
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);

        if (got == pid)
            break;
        if (got < 0 && errno != EINTR) {
            msg_error("reload: wait for the configuration check: %s",
                      strerror(errno));
            return -1;
        }
        if (event_now_ms() > deadline) {
            msg_error("reload: the configuration check took more than %ds",
                      MASTER_CHECK_WAIT);
            kill(pid, SIGKILL);
            (void) waitpid(pid, &status, 0);
            return -1;
        }
        {
            struct timespec ts = {0, 10 * 1000 * 1000};

            nanosleep(&ts, NULL);
        }
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void master_reload(void)
{
    struct buf *err = buf_new(128);
    struct master_service *fresh = NULL;
    struct master_service *old;
    struct master_service *s;
    struct master_service **tail;
    struct mastercf *mcf;

    if ((mcf = master_read_table(err)) == NULL) {
        msg_error("%s", buf_str(err));
        msg_error("reload refused: master.cf has errors; the running "
                  "services stay as they are");
        buf_free(err);
        return;
    }
    if (master_check_config(mcf) < 0) {
        msg_error("reload refused: %s/main.cf has errors (see above); the "
                  "running services stay as they are",
                  master_config_dir);
        mastercf_free(mcf);
        buf_free(err);
        return;
    }
    config_clear();
    config_load(master_config_dir);
    params_load();
    if (master_log_setup(err) < 0)
        msg_error("%s; logging stays where it was", buf_str(err));
    if (master_services_build(mcf, &fresh, err) < 0) {
        msg_error("reload: %s; the running services stay as they are",
                  buf_str(err));
        mastercf_free(mcf);
        buf_free(err);
        return;
    }
    mastercf_free(mcf);

    /* Unchanged endpoints move to the new table with their descriptors. */
    for (s = fresh; s; s = s->next) {
        for (old = master_services; old; old = old->next) {
            if (old->nlisten > 0 && strcmp(old->key, s->key) == 0
                && strcmp(old->endpoint, s->endpoint) == 0) {
                if (old->listening) {
                    int i;

                    for (i = 0; i < old->nlisten; i++)
                        event_unwatch(master_loop, old->listen_fds[i]);
                    old->listening = 0;
                }
                s->listen_fds = old->listen_fds;
                s->nlisten = old->nlisten;
                old->listen_fds = NULL;
                old->nlisten = 0;
                break;
            }
        }
    }
    /* The old table goes: kept services drain, removed ones stop now. */
    while ((old = master_services) != NULL) {
        master_services = old->next;
        master_service_timers_off(old);
        if (old->nlisten > 0) {
            master_service_close(old, MASTER_CLOSE_SHUT | MASTER_CLOSE_UNLINK);
            master_detach_procs(old, SIGTERM);
        } else {
            master_detach_procs(old, 0);
        }
        master_service_free(old);
    }
    /* New endpoints; one that cannot open is left out. */
    tail = &master_services;
    while ((s = fresh) != NULL) {
        fresh = s->next;
        s->next = NULL;
        if (s->nlisten == 0 && master_service_open(s, err) < 0) {
            msg_error("%s", buf_str(err));
            master_service_free(s);
            continue;
        }
        *tail = s;
        tail = &s->next;
    }
    for (s = master_services; s; s = s->next)
        master_service_start(s);
    buf_free(err);
    msg_info("reload -- version %s, configuration %s", var_mail_version,
             master_config_dir);
}

/* ---- stop
 * -------------------------------------------------------------------- */

static void master_exit(void) __attribute__((noreturn));

static void master_exit(void)
{
    if (master_verbose)
        msg_info("exiting");
    exit(0);
}

static void master_stop_timeout(struct event_loop *loop, void *ctx)
{
    (void) loop;
    (void) ctx;
    if (master_stopping == 2 && master_proc_count() > 0) {
        int64_t deadline = event_now_ms() + 1000;

        master_signal_all(SIGKILL);
        while (master_proc_count() > 0 && event_now_ms() < deadline) {
            struct timespec ts = {0, 10 * 1000 * 1000};

            master_reap();
            nanosleep(&ts, NULL);
        }
    } else if (master_proc_count() > 0) {
        msg_info("%d process(es) still busy; they finish on their own",
                 master_proc_count());
    }
    master_exit();
}

/* HOW: 1 = stop (graceful), 2 = abort. */
static void master_stop(int sig, int how)
{
    struct master_service *s;

    if (master_stopping >= how)
        return;
    if (!master_stopping)
        msg_info("terminating on signal %d", sig);
    master_stopping = how;
    for (s = master_services; s; s = s->next) {
        master_service_timers_off(s);
        master_service_close(s, MASTER_CLOSE_SHUT);
        master_service_close_status(s);
    }
    if (how == 2)
        master_signal_all(SIGTERM);
    if (master_proc_count() == 0)
        master_exit();
    event_timer(master_loop,
                (how == 2 ? MASTER_ABORT_WAIT : MASTER_STOP_WAIT) * 1000L,
                master_stop_timeout, NULL);
}

/* ---- signals
 * ----------------------------------------------------------------- */

static void master_on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char) sig;

    (void) !write(master_sig_pipe[1], &c, 1);
    errno = saved;
}

static void master_signal_event(struct event_loop *loop, int fd, int events,
                                void *ctx)
{
    unsigned char sigs[64];
    int reap = 0;
    int reload = 0;
    int stop = 0;
    int abort_now = 0;
    ssize_t n;
    ssize_t i;

    (void) loop;
    (void) events;
    (void) ctx;
    while ((n = read(fd, sigs, sizeof(sigs))) > 0) {
        for (i = 0; i < n; i++) {
            switch (sigs[i]) {
            case SIGCHLD:
                reap = 1;
                break;
            case SIGHUP:
                reload = 1;
                break;
            case SIGTERM:
            case SIGINT:
                stop = sigs[i];
                break;
            case SIGQUIT:
                abort_now = SIGQUIT;
                break;
            }
        }
    }
    if (reap)
        master_reap();
    if (abort_now)
        master_stop(abort_now, 2);
    else if (stop)
        master_stop(stop, 1);
    else if (reload && !master_stopping)
        master_reload();
    if (master_stopping && master_proc_count() == 0)
        master_exit();
}

static void master_signals(void)
{
    static const int sigs[] = {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT};
    struct sigaction sa;
    size_t i;

    if (pipe2(master_sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        msg_fatal("signal pipe: %s", strerror(errno));
    if (event_watch(master_loop, master_sig_pipe[0], EVENT_READ,
                    master_signal_event, NULL)
        < 0)
        msg_fatal("watch signal pipe: %s", strerror(errno));
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = master_on_signal;
    sa.sa_flags = SA_RESTART;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sa.sa_flags = SA_RESTART | (sigs[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* ---- detaching
 * ----------------------------------------------------------------- */

/*
 * Fork; the parent waits (-w) for the daemon's word on WAIT_FD, or exits
 * at once. Returns in the daemon, with the write end in *NOTIFY_FD (-1
 * without -w).
 */
static void master_detach(int wait_init, int *notify_fd)
{
    int fds[2] = {-1, -1};
    pid_t pid;

    *notify_fd = -1;
    if (wait_init && pipe2(fds, O_CLOEXEC) < 0)
        msg_fatal("pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        msg_fatal("fork: %s", strerror(errno));
    if (pid > 0) {
        struct pollfd pfd;
        char c = 0;
        int status;
        int ready;

        if (!wait_init)
            _exit(0);
        close(fds[1]);
        pfd.fd = fds[0];
        pfd.events = POLLIN;
        do {
            ready = poll(&pfd, 1, MASTER_INIT_WAIT * 1000);
        } while (ready < 0 && errno == EINTR);
        if (ready > 0 && read(fds[0], &c, 1) == 1 && c == '0')
            _exit(0);
        if (ready == 0) {
            fprintf(stderr,
                    "master: fatal: the master daemon did not finish "
                    "initialising within %d seconds\n",
                    MASTER_INIT_WAIT);
            _exit(1);
        }
        /* It died; its fatal message is already on stderr. */
        if (waitpid(pid, &status, 0) == pid && WIFEXITED(status)
            && WEXITSTATUS(status) != 0)
            _exit(WEXITSTATUS(status));
        _exit(1);
    }
    if (wait_init) {
        close(fds[0]);
        *notify_fd = fds[1];
    }
    if (setsid() < 0)
        msg_warn("setsid: %s", strerror(errno));
}

static void master_quiet_stdio(void)
{
    int fd = open("/dev/null", O_RDWR);

    if (fd < 0)
        return;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
}

/* ---- main
 * -------------------------------------------------------------------- */

static void master_usage(void) __attribute__((noreturn));

static void master_usage(void)
{
    msg_fatal("usage: master [-dtvw] [-c config_dir]");
}

int main(int argc, char **argv)
{
    const char *opt_c = NULL;
    struct master_service *s;
    struct mastercf *mcf;
    struct buf *err;
    int foreground = 0;
    int test = 0;
    int wait_init = 0;
    int notify_fd = -1;
    int ch;

    master_close_strays();
    msg_init("master", MSG_STDERR);
    while ((ch = getopt(argc, argv, "c:dtvw")) != -1) {
        switch (ch) {
        case 'c':
            opt_c = optarg;
            break;
        case 'd':
            foreground = 1;
            break;
        case 't':
            test = 1;
            break;
        case 'v':
            master_verbose++;
            break;
        case 'w':
            wait_init = 1;
            break;
        default:
            master_usage();
        }
    }
    if (optind != argc)
        master_usage();
    msg_verbose = master_verbose;
    master_config_dir = mem_strdup(config_choose_dir(opt_c));
    config_load(master_config_dir);
    params_load();
    if (test)
        master_test();
    if (geteuid() != 0)
        msg_fatal("the master command is reserved for the superuser");

    err = buf_new(128);
    if (master_log_setup(err) < 0)
        msg_fatal("%s", buf_str(err));
    if (master_log_is_stderr())
        msg_init("master", 0);
    if (!foreground)
        master_detach(wait_init, &notify_fd);
    umask(022);
    if (chdir(var_queue_directory) < 0)
        msg_fatal("chdir %s: %s", var_queue_directory, strerror(errno));
    master_lock_pid_file();

    if ((mcf = master_read_table(err)) == NULL)
        msg_fatal("%s", buf_str(err));
    if (master_services_build(mcf, &master_services, err) < 0)
        msg_fatal("%s", buf_str(err));
    mastercf_free(mcf);
    if ((master_loop = event_new()) == NULL)
        msg_fatal("event loop: %s", strerror(errno));
    master_procs_init();
    for (s = master_services; s; s = s->next)
        if (master_service_open(s, err) < 0)
            msg_fatal("%s", buf_str(err));
    buf_free(err);
    master_signals();
    for (s = master_services; s; s = s->next)
        master_service_start(s);

    if (notify_fd >= 0) {
        (void) !write(notify_fd, "0", 1);
        close(notify_fd);
    }
    if (!foreground)
        master_quiet_stdio();
    msg_init("master", 0);
    msg_info("daemon started -- version %s, configuration %s", var_mail_version,
             master_config_dir);
    for (;;) {
        if (event_run_once(master_loop, -1) < 0 && errno != EINTR)
            msg_fatal("event loop: %s", strerror(errno));
    }
}
