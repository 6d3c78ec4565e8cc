/*
 * master_proc.c - master's child processes: fork on demand, exec from
 * daemon_directory with the descriptors and environment of lib/daemon.h,
 * the status pipe, reaping, and throttling of services that fail at
 * start-up.
 *
 * Called by master.c (signals) and master_service.c. A failed fork or a
 * broken status record is a logged warning; the service is throttled or
 * the record dropped, and master goes on.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "daemon.h"
#include "event.h"
#include "htable.h"
#include "master.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "str.h"

/* How often, at most, the "process limit" warning repeats per service. */
#define MASTER_LIMIT_WARN_INTERVAL 300
/* How long (ms) clients must wait at the limit before that warning. */
#define MASTER_LIMIT_WARN_DELAY 1000

static struct htable *master_procs;
static int master_nprocs;

void master_procs_init(void)
{
    master_procs = htable_new(64);
}

int master_proc_count(void)
{
    return master_nprocs;
}

static void master_pid_key(char *key, size_t size, pid_t pid)
{
    snprintf(key, size, "%ld", (long) pid);
}

/* ---- listening --------------------------------------------------------- */

static void master_spawn(struct master_service *s);

/*
 * A client waited while maxproc processes were busy. Warn only if that is
 * still so a little later: a process that just exited after max_use is
 * counted until it is reaped, which is no reason to warn.
 */
static void master_limit_check(struct event_loop *loop, void *ctx)
{
    struct master_service *s = ctx;
    time_t now = time(NULL);
    int waiting = 0;
    int i;

    (void) loop;
    s->limit_timer = 0;
    if (s->maxproc == 0 || s->total < s->maxproc || s->avail > 0)
        return;
    /* One process by design (qmgr, pickup): clients wait their turn. */
    if (s->maxproc == 1)
        return;
    for (i = 0; i < s->nlisten && !waiting; i++) {
        struct pollfd pfd = {s->listen_fds[i], POLLIN, 0};

        waiting = poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN);
    }
    if (!waiting)
        return;
    if (s->limit_warned != 0
        && now - s->limit_warned < MASTER_LIMIT_WARN_INTERVAL)
        return;
    s->limit_warned = now;
    msg_warn("service \"%s\" (%s) has reached its process limit \"%d\": "
             "new clients may experience noticeable delays",
             s->name, s->label, s->maxproc);
    msg_warn("to avoid this, raise the process limit (maxproc) of %s in "
             "master.cf, or default_process_limit for every service",
             s->key);
}

static void master_limit_warning(struct master_service *s)
{
    if (s->limit_timer == 0)
        s->limit_timer = event_timer(master_loop, MASTER_LIMIT_WARN_DELAY,
                                     master_limit_check, s);
}

static void master_listen_event(struct event_loop *loop, int fd, int events,
                                void *ctx)
{
    struct master_service *s = ctx;

    (void) loop;
    (void) fd;
    (void) events;
    if (s->maxproc > 0 && s->total >= s->maxproc) {
        s->at_limit = 1;
        master_limit_warning(s);
        master_listen_update(s);
        return;
    }
    master_spawn(s);
}

void master_listen_update(struct master_service *s)
{
    int want = !master_stopping && !s->throttled && !s->at_limit
               && s->avail == 0 && s->nlisten > 0;
    int i;

    if (want == s->listening)
        return;
    for (i = 0; i < s->nlisten; i++) {
        if (want) {
            if (event_watch(master_loop, s->listen_fds[i], EVENT_READ,
                            master_listen_event, s)
                < 0)
                msg_fatal("service %s: watch descriptor: %s", s->key,
                          strerror(errno));
        } else {
            event_unwatch(master_loop, s->listen_fds[i]);
        }
    }
    s->listening = want;
}

/* ---- throttling -----------------------------------------------------------
 */

static void master_unthrottle(struct event_loop *loop, void *ctx)
{
    struct master_service *s = ctx;

    (void) loop;
    s->throttle_timer = 0;
    s->throttled = 0;
    if (master_verbose)
        msg_info("service %s: throttle ends", s->key);
    master_listen_update(s);
}

static void master_throttle(struct master_service *s)
{
    if (s->throttled)
        return;
    s->throttled = 1;
    s->throttle_timer = event_timer(
        master_loop, var_service_throttle_time * 1000L, master_unthrottle, s);
    master_listen_update(s);
}

void master_service_timers_off(struct master_service *s)
{
    if (s->throttle_timer) {
        event_cancel(master_loop, s->throttle_timer);
        s->throttle_timer = 0;
    }
    if (s->wakeup_timer) {
        event_cancel(master_loop, s->wakeup_timer);
        s->wakeup_timer = 0;
    }
    if (s->limit_timer) {
        event_cancel(master_loop, s->limit_timer);
        s->limit_timer = 0;
    }
    s->throttled = 0;
}

/* ---- starting a child -------------------------------------------------------
 */

static struct argv *master_child_argv(const struct master_service *s)
{
    struct argv *av = argv_new(s->cmd->argc + 12);
    char num[16];
    size_t i;
    int v;

    argv_add(av, s->cmd->argv[0]);
    argv_add(av, "-S");
    argv_add(av, s->name);
    argv_add(av, "-t");
    argv_add(av, s->type_text);
    snprintf(num, sizeof(num), "%d", s->nlisten);
    argv_add(av, "-s");
    argv_add(av, num);
    if (s->unpriv)
        argv_add(av, "-u");
    if (s->chroot)
        argv_add(av, "-j");
    for (v = 0; v < master_verbose; v++)
        argv_add(av, "-v");
    for (i = 1; i < s->cmd->argc; i++)
        argv_add(av, s->cmd->argv[i]);
    return av;
}

/* import_environment, then MAIL_CONFIG and the log descriptor. */
static struct argv *master_child_env(void)
{
    struct argv *items = argv_split(var_import_environment, STR_LIST_SEP);
    struct argv *env = argv_new(items->argc + 4);
    struct buf *b = buf_new(128);
    size_t i;

    for (i = 0; i < items->argc; i++) {
        const char *item = items->argv[i];
        const char *value;

        if (strncmp(item, "MAIL_CONFIG", 11) == 0
            && (item[11] == 0 || item[11] == '='))
            continue;
        if (strncmp(item, DAEMON_LOG_ENV, strlen(DAEMON_LOG_ENV)) == 0)
            continue;
        if (strchr(item, '=') != NULL) {
            argv_add(env, item);
        } else if ((value = getenv(item)) != NULL) {
            buf_setf(b, "%s=%s", item, value);
            argv_add(env, buf_str(b));
        }
    }
    buf_setf(b, "MAIL_CONFIG=%s", master_config_dir);
    argv_add(env, buf_str(b));
    if (msg_logfd() >= 0) {
        buf_setf(b, "%s=%d", DAEMON_LOG_ENV, DAEMON_LOG_FD);
        argv_add(env, buf_str(b));
    }
    buf_free(b);
    argv_free(items);
    return env;
}

static void master_child_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void master_child_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vlog(MSG_FATAL, fmt, ap);
    va_end(ap);
    _exit(1);
}

/*
 * In the new child: put the status pipe, the log and the listening
 * descriptors at their numbers, reset signals, exec. Every other master
 * descriptor is close-on-exec.
 */
static void master_child_exec(const struct master_service *s, struct argv *av,
                              struct argv *env)
{
    static const int sigs[] = {SIGHUP,  SIGTERM, SIGINT,
                               SIGQUIT, SIGCHLD, SIGPIPE};
    int top = DAEMON_LISTEN_FD + s->nlisten;
    int *tmp = mem_calloc((size_t) s->nlisten + 1, sizeof(int));
    struct sigaction sa;
    sigset_t none;
    int status_fd;
    int log_fd = -1;
    size_t k;
    int i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
        sigaction(sigs[k], &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* First move everything above the target numbers, then into place. */
    status_fd = fcntl(s->status_wr, F_DUPFD_CLOEXEC, top);
    if (msg_logfd() >= 0) {
        log_fd = fcntl(msg_logfd(), F_DUPFD_CLOEXEC, top);
        if (log_fd >= 0)
            msg_set_logfd(log_fd);
    }
    for (i = 0; i < s->nlisten; i++)
        tmp[i] = fcntl(s->listen_fds[i], F_DUPFD_CLOEXEC, top);
    if (status_fd < 0 || (msg_logfd() >= 0 && log_fd < 0))
        master_child_fail("spawn %s: dup: %s", s->path, strerror(errno));
    for (i = 0; i < s->nlisten; i++)
        if (tmp[i] < 0)
            master_child_fail("spawn %s: dup: %s", s->path, strerror(errno));
    if (dup2(status_fd, DAEMON_STATUS_FD) < 0
        || (log_fd >= 0 && dup2(log_fd, DAEMON_LOG_FD) < 0))
        master_child_fail("spawn %s: dup2: %s", s->path, strerror(errno));
    for (i = 0; i < s->nlisten; i++)
        if (dup2(tmp[i], DAEMON_LISTEN_FD + i) < 0)
            master_child_fail("spawn %s: dup2: %s", s->path, strerror(errno));
    execve(s->path, av->argv, env->argv);
    master_child_fail("exec %s: %s", s->path, strerror(errno));
}

static void master_spawn(struct master_service *s)
{
    struct master_proc *proc;
    struct argv *av = master_child_argv(s);
    struct argv *env = master_child_env();
    char key[32];
    pid_t pid;

    pid = fork();
    if (pid == 0)
        master_child_exec(s, av, env);
    argv_free(av);
    argv_free(env);
    if (pid < 0) {
        msg_warn("service %s: fork: %s -- throttling", s->key, strerror(errno));
        master_throttle(s);
        return;
    }
    proc = mem_calloc(1, sizeof(*proc));
    proc->pid = pid;
    proc->serv = s;
    proc->path = mem_strdup(s->path);
    proc->avail = 1;
    master_pid_key(key, sizeof(key), pid);
    htable_put(master_procs, key, proc);
    master_nprocs++;
    s->total++;
    s->avail++;
    s->used = 1;
    if (master_verbose)
        msg_info("service %s: started %s pid %ld", s->key, s->path, (long) pid);
    master_listen_update(s);
}

/* ---- status records
 * ------------------------------------------------------------ */

static void master_status_record(struct master_service *s, long pid, int status)
{
    char key[32];
    struct master_proc *proc;

    master_pid_key(key, sizeof(key), (pid_t) pid);
    proc = htable_get(master_procs, key);
    if (proc == NULL || proc->serv != s) {
        msg_warn("service %s: status from unknown process %ld", s->key, pid);
        return;
    }
    if (status == DAEMON_STAT_BUSY) {
        proc->use_count++;
        if (proc->avail) {
            proc->avail = 0;
            s->avail--;
        }
    } else if (!proc->avail) {
        proc->avail = 1;
        s->avail++;
    }
}

static void master_status_event(struct event_loop *loop, int fd, int events,
                                void *ctx)
{
    struct master_service *s = ctx;
    char data[DAEMON_STATUS_SIZE * 64];
    ssize_t n;

    (void) loop;
    (void) events;
    for (;;) {
        size_t off = 0;

        n = read(fd, data, sizeof(data));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf_append(s->status_buf, data, (size_t) n);
        while (buf_len(s->status_buf) - off >= DAEMON_STATUS_SIZE) {
            long pid;
            int status;

            if (daemon_status_decode((unsigned char *) buf_str(s->status_buf)
                                         + off,
                                     DAEMON_STATUS_SIZE, &pid, &status)
                < 0) {
                msg_warn("service %s: malformed status record; discarding "
                         "what is pending",
                         s->key);
                off = buf_len(s->status_buf);
                break;
            }
            master_status_record(s, pid, status);
            off += DAEMON_STATUS_SIZE;
        }
        if (off > 0) {
            size_t left = buf_len(s->status_buf) - off;

            memmove(buf_str(s->status_buf), buf_str(s->status_buf) + off, left);
            buf_truncate(s->status_buf, left);
        }
    }
    s->at_limit = 0;
    master_listen_update(s);
}

void master_status_watch(struct master_service *s)
{
    if (event_watch(master_loop, s->status_rd, EVENT_READ, master_status_event,
                    s)
        < 0)
        msg_fatal("service %s: watch status pipe: %s", s->key, strerror(errno));
}

/* ---- reaping
 * ------------------------------------------------------------------- */

static void master_proc_free(struct master_proc *proc)
{
    mem_free(proc->path);
    mem_free(proc);
}

void master_reap(void)
{
    struct master_proc *proc;
    struct master_service *s;
    char key[32];
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int abnormal;

        master_pid_key(key, sizeof(key), pid);
        proc = htable_get(master_procs, key);
        if (proc == NULL)
            continue;
        /*
         * Status records the child wrote just before it exited may still
         * be in the pipe: take them while its pid is known, so they count
         * and do not come back later as "status from unknown process".
         */
        if (proc->serv != NULL && proc->serv->status_rd >= 0)
            master_status_event(master_loop, proc->serv->status_rd, 0,
                                proc->serv);
        htable_delete(master_procs, key);
        master_nprocs--;
        abnormal = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
            msg_warn("process %s pid %ld exit status %d", proc->path,
                     (long) pid, WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
            msg_warn("process %s pid %ld killed by signal %d", proc->path,
                     (long) pid, WTERMSIG(status));
        else if (master_verbose)
            msg_info("process %s pid %ld exited", proc->path, (long) pid);
        if ((s = proc->serv) != NULL) {
            s->total--;
            if (proc->avail)
                s->avail--;
            s->at_limit = 0;
            /* It never took a client: its start-up fails. */
            if (abnormal && proc->use_count == 0 && !proc->signalled
                && !s->throttled && !master_stopping) {
                msg_warn("%s: bad command startup -- throttling", s->path);
                master_throttle(s);
            }
            master_listen_update(s);
        }
        master_proc_free(proc);
    }
}

/* ---- reload and stop
 * ------------------------------------------------------------- */

void master_detach_procs(struct master_service *s, int sig)
{
    struct htable_entry **list = htable_list(master_procs);
    size_t i;

    for (i = 0; list[i]; i++) {
        struct master_proc *proc = list[i]->value;

        if (proc->serv != s)
            continue;
        proc->serv = NULL;
        if (sig) {
            proc->signalled = 1;
            (void) kill(proc->pid, sig);
        }
    }
    mem_free(list);
    s->total = 0;
    s->avail = 0;
}

int master_signal_all(int sig)
{
    struct htable_entry **list = htable_list(master_procs);
    size_t i;

    for (i = 0; list[i]; i++) {
        struct master_proc *proc = list[i]->value;

        proc->signalled = 1;
        (void) kill(proc->pid, sig);
    }
    mem_free(list);
    return master_nprocs;
}
