/*
 * postern.c - the `postern` control command: start, stop and check the
 * mail system (postern(1); Postfix's postfix(1) for Postern).
 *
 *     postern [-c config_dir] [-v] command [argument ...]
 *
 * Commands: check, start, start-fg, stop, abort, reload, status, flush,
 * set-permissions [name=value ...]. Run by the administrator (root only),
 * by init scripts and systemd units, and by the end-to-end tests.
 *
 * How it finds the running master: $queue_directory/pid/master.pid holds
 * the master's PID ("%10d\n") and is fcntl()-locked by the running master
 * for as long as it lives, so a lock test (F_GETLK) says whether a master
 * runs for this configuration without trusting a stale file. It starts
 * $daemon_directory/master with -c config_dir and -w (detach, exit 0 once
 * up) or -d (stay in the foreground, for start-fg), and signals it as
 * master/master.c documents: SIGHUP reload; SIGTERM stop (the master
 * closes its endpoints and status pipes, children finish their client,
 * the master waits for them a few seconds and exits); SIGQUIT abort
 * (children get SIGTERM at once, SIGKILL a second later). When the master
 * is still there after the wait, stop and abort kill its process group.
 *
 * Errors: every message goes to stderr as "postern/postern-script: ..."
 * and to the log (postern.h). Exit status 0 on success, 1 on a fatal
 * error, on errors found by check, and for status/stop/abort/reload/flush
 * when the mail system is not running (as Postfix).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "config.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "queue_dirs.h"
#include "postern.h"

/* Signals understood by master (see master/master.c). */
#define MASTER_SIG_RELOAD SIGHUP
#define MASTER_SIG_STOP   SIGTERM
#define MASTER_SIG_ABORT  SIGQUIT
#define MASTER_SIG_KILL   SIGKILL

/* How long to wait for the master to exit before using force. */
#define STOP_WAIT_SECONDS  10
#define ABORT_WAIT_SECONDS 5
#define POLL_MS            100

/*
 * flush: the request written to the queue manager's public trigger. The
 * letters follow Postfix's qmgr: F forget which destinations were found
 * dead, A ignore the retry time stamps, D scan the deferred queue.
 */
#define QMGR_FLUSH_REQUEST "FAD"

int postern_warnings;
int postern_errors;

static const char *postern_syslog_name = "postern";

/*
 * The host files glibc's resolver and name service switch read: what a
 * chrooted daemon needs under queue_directory/etc (as Debian's Postfix
 * init script copies them). postern_check.c checks the same list.
 */
const char *const postern_chroot_files[] = {
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/services",
    "/etc/localtime",
    NULL,
};

/* ---- messages ---- */

static void postern_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void postern_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vlog(level, fmt, ap);
    va_end(ap);
}

static void postern_vmsg(int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void postern_vmsg(int level, const char *fmt, va_list ap)
{
    static const char *const prefix[] = {
        "", "warning: ", "error: ", "fatal: ", "panic: ",
    };
    struct buf *text = buf_new(256);
    struct buf *line = buf_new(256);
    char *cp;
    size_t off;

    buf_vprintf(text, fmt, ap);
    for (cp = buf_str(text); *cp; cp++)
        if (*cp == '\n' || *cp == '\r')
            *cp = ' ';
    buf_printf(line, "%s/%s: %s%s\n", postern_syslog_name, POSTERN_TAG,
               prefix[level], buf_str(text));
    for (off = 0; off < buf_len(line);) {
        ssize_t n = write(2, buf_str(line) + off, buf_len(line) - off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        off += (size_t) n;
    }
    /* The log gets the same text; stderr already has it. */
    msg_init(POSTERN_TAG, 0);
    postern_log(level, "%s", buf_str(text));
    msg_init(POSTERN_TAG, MSG_STDERR);
    buf_free(text);
    buf_free(line);
}

void postern_info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    postern_vmsg(MSG_INFO, fmt, ap);
    va_end(ap);
}

void postern_warn(const char *fmt, ...)
{
    va_list ap;

    postern_warnings++;
    va_start(ap, fmt);
    postern_vmsg(MSG_WARN, fmt, ap);
    va_end(ap);
}

void postern_error(const char *fmt, ...)
{
    va_list ap;

    postern_errors++;
    va_start(ap, fmt);
    postern_vmsg(MSG_ERROR, fmt, ap);
    va_end(ap);
}

void postern_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    postern_vmsg(MSG_FATAL, fmt, ap);
    va_end(ap);
    exit(1);
}

static void usage(void)
{
    postern_fatal("usage: postern [-c config_dir] [-v] command "
                  "(check, start, start-fg, stop, abort, reload, status, "
                  "flush, set-permissions [name=value ...])");
}

/* ---- the running master ---- */

static void master_pid_path(struct buf *path)
{
    if (var_process_id_directory[0] == '/')
        buf_setf(path, "%s/master.pid", var_process_id_directory);
    else
        buf_setf(path, "%s/%s/master.pid", var_queue_directory,
                 var_process_id_directory);
}

/* The PID written in the file open on FD, or 0. */
static long pid_file_value(int fd)
{
    struct buf *data = buf_new(32);
    size_t chunk_size = 16;
    char *chunk = mem_alloc(chunk_size);
    long pid = 0;
    char *end;
    ssize_t n;

    /* The file is "%10d\n"; anything much longer is not ours. */
    buf_set_limit(data, 64);
    for (;;) {
        n = read(fd, chunk, chunk_size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || buf_append(data, chunk, (size_t) n) < 0)
            break;
    }
    errno = 0;
    pid = strtol(buf_str(data), &end, 10);
    if (errno != 0 || end == buf_str(data) || pid <= 1)
        pid = 0;
    buf_free(data);
    mem_free(chunk);
    return pid;
}

/*
 * Is a master running for this configuration? 1 with *PID set (the lock
 * holder's PID, else the one written in the pid file), or 0.
 */
static int master_running(long *pid)
{
    struct buf *path = buf_new(256);
    struct flock fl;
    int fd;

    master_pid_path(path);
    fd = open(buf_str(path), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            buf_free(path);
            return 0;
        }
        postern_fatal("open %s: %s", buf_str(path), strerror(errno));
    }
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_GETLK, &fl) < 0)
        postern_fatal("lock test %s: %s", buf_str(path), strerror(errno));
    buf_free(path);
    if (fl.l_type == F_UNLCK) {
        close(fd);
        return 0;
    }
    /* The lock holder is the live master; the file is for other PID
     * namespaces, where the kernel reports no holder's PID. */
    *pid = fl.l_pid > 1 ? (long) fl.l_pid : pid_file_value(fd);
    close(fd);
    return 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Wait up to MS milliseconds for the master to go away; 1 when it did. */
static int master_wait_gone(long ms, int report)
{
    long waited;
    long pid;

    for (waited = 0; waited < ms; waited += POLL_MS) {
        if (!master_running(&pid))
            return 1;
        if (report && waited > 0 && waited % 1000 == 0)
            postern_info("waiting for the Postern mail system to terminate");
        sleep_ms(POLL_MS);
    }
    return !master_running(&pid);
}

/* Signal the master, or its whole process group when it leads one. */
static int signal_master(long pid, int sig, int group)
{
    if (pid <= 1)
        return -1;
    if (group && getpgid((pid_t) pid) == (pid_t) pid)
        return kill(-(pid_t) pid, sig);
    return kill((pid_t) pid, sig);
}

static long need_running(void)
{
    long pid = 0;

    if (!master_running(&pid))
        postern_fatal("the Postern mail system is not running");
    if (pid <= 1)
        postern_fatal("the Postern mail system is running, but its pid file "
                      "holds no process ID");
    return pid;
}

/* ---- running programs ---- */

/* Run ARGV[0] (a path) and wait; its exit status, or -1. */
static int run_wait(char **argv)
{
    pid_t pid;
    int status;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        postern_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execv(argv[0], argv);
        postern_error("execute %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            postern_error("waitpid: %s", strerror(errno));
            return -1;
        }
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        postern_error("%s was killed by signal %d", argv[0], WTERMSIG(status));
    return -1;
}

static struct argv *master_argv(const char *config_dir, const char *mode)
{
    struct argv *av = argv_new(8);
    struct buf *path = buf_new(256);
    int i;

    buf_setf(path, "%s/master", var_daemon_directory);
    argv_add(av, buf_str(path));
    argv_add(av, "-c");
    argv_add(av, config_dir);
    for (i = 0; i < msg_verbose; i++)
        argv_add(av, "-v");
    argv_add(av, mode);
    buf_free(path);
    return av;
}

/* ---- chroot support files ---- */

int postern_same_content(int fa, int fb)
{
    size_t chunk = 65536;
    char *ba = mem_alloc(chunk);
    char *bb = mem_alloc(chunk);
    int same = 1;

    for (;;) {
        ssize_t na = read(fa, ba, chunk);
        ssize_t nb;
        ssize_t got = 0;

        if (na < 0) {
            same = 0;
            break;
        }
        while (got < na) {
            nb = read(fb, bb + got, (size_t) (na - got));
            if (nb <= 0)
                break;
            got += nb;
        }
        if (got != na || memcmp(ba, bb, (size_t) na) != 0) {
            same = 0;
            break;
        }
        if (na == 0) {
            /* A ended; B must end too. */
            same = read(fb, bb, 1) == 0;
            break;
        }
    }
    mem_free(ba);
    mem_free(bb);
    return same;
}

/*
 * Copy SRC to DST through a temporary file in the same folder: root-owned,
 * mode 0644. Returns 1 when copied, 0 when DST was already the same, -1 on
 * error (reported).
 */
static int copy_file(const char *src, const char *dst)
{
    struct buf *tmp = buf_new(256);
    size_t chunk = 65536;
    char *data = NULL;
    int in;
    int out = -1;
    int ret = -1;

    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
        postern_warn("open %s: %s", src, strerror(errno));
        buf_free(tmp);
        return -1;
    }
    {
        int old = open(dst, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat osb;

        if (old >= 0) {
            int same = fstat(old, &osb) == 0 && S_ISREG(osb.st_mode)
                       && osb.st_uid == 0 && (osb.st_mode & 07777) == 0644
                       && postern_same_content(in, old);

            close(old);
            if (same) {
                close(in);
                buf_free(tmp);
                return 0;
            }
            if (lseek(in, 0, SEEK_SET) < 0) {
                postern_warn("seek %s: %s", src, strerror(errno));
                goto out;
            }
        }
    }
    buf_setf(tmp, "%s.tmpXXXXXX", dst);
    if ((out = mkostemp(buf_str(tmp), O_CLOEXEC)) < 0) {
        postern_warn("create %s: %s", buf_str(tmp), strerror(errno));
        goto out;
    }
    data = mem_alloc(chunk);
    for (;;) {
        ssize_t n = read(in, data, chunk);
        ssize_t off = 0;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            postern_warn("read %s: %s", src, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        while (off < n) {
            ssize_t w = write(out, data + off, (size_t) (n - off));

            if (w < 0) {
                if (errno == EINTR)
                    continue;
                postern_warn("write %s: %s", buf_str(tmp), strerror(errno));
                goto out;
            }
            off += w;
        }
    }
    if (fchown(out, 0, 0) < 0 || fchmod(out, 0644) < 0 || fsync(out) < 0) {
        postern_warn("%s: %s", buf_str(tmp), strerror(errno));
        goto out;
    }
    if (close(out) < 0) {
        out = -1;
        postern_warn("close %s: %s", buf_str(tmp), strerror(errno));
        goto out;
    }
    out = -1;
    if (rename(buf_str(tmp), dst) < 0) {
        postern_warn("rename %s to %s: %s", buf_str(tmp), dst, strerror(errno));
        goto out;
    }
    ret = 1;
out:
    if (out >= 0)
        close(out);
    if (ret < 0 && buf_len(tmp) > 0)
        (void) unlink(buf_str(tmp));
    close(in);
    mem_free(data);
    buf_free(tmp);
    return ret;
}

/*
 * Does any master.cf service run chrooted? 1 also when master.cf cannot
 * be read here (start's check and master report that; a copy does no
 * harm).
 */
static int chroot_services(const char *config_dir)
{
    struct mastercf *mcf = mastercf_load_quiet(config_dir);
    size_t i;
    int found = 0;

    if (mcf == NULL)
        return 1;
    for (i = 0; i < mcf->count && !found; i++)
        found = mcf->entries[i]->chroot;
    mastercf_free(mcf);
    return found;
}

/*
 * Give chrooted daemons the host's resolver, hosts, services, time zone
 * and name service files: copy each that exists into queue_directory/etc
 * when a service runs chrooted (start, start-fg and reload).
 */
static void copy_chroot_files(const char *config_dir)
{
    struct buf *dir;
    struct buf *dst;
    struct stat sb;
    int i;

    if (!chroot_services(config_dir)) {
        if (msg_verbose)
            postern_info("no chrooted service in master.cf: not copying "
                         "files into %s/etc",
                         var_queue_directory);
        return;
    }
    dir = buf_new(256);
    dst = buf_new(256);
    buf_setf(dir, "%s/etc", var_queue_directory);
    if (lstat(buf_str(dir), &sb) < 0) {
        if (errno != ENOENT || mkdir(buf_str(dir), 0755) < 0) {
            postern_warn("cannot create %s: %s", buf_str(dir), strerror(errno));
            goto out;
        }
        if (lstat(buf_str(dir), &sb) < 0 || chown(buf_str(dir), 0, 0) < 0
            || chmod(buf_str(dir), 0755) < 0) {
            postern_warn("%s: %s", buf_str(dir), strerror(errno));
            goto out;
        }
    }
    if (!S_ISDIR(sb.st_mode) || sb.st_uid != 0) {
        postern_warn("%s is not a directory owned by root: not copying "
                     "files for chrooted daemons into it",
                     buf_str(dir));
        goto out;
    }
    for (i = 0; postern_chroot_files[i]; i++) {
        const char *src = postern_chroot_files[i];
        struct stat ssb;

        if (stat(src, &ssb) < 0 || !S_ISREG(ssb.st_mode))
            continue;
        buf_setf(dst, "%s%s", var_queue_directory, src);
        if (copy_file(src, buf_str(dst)) > 0 && msg_verbose)
            postern_info("copied %s to %s", src, buf_str(dst));
    }
out:
    buf_free(dir);
    buf_free(dst);
}

/* ---- commands ---- */

static int cmd_check(const char *config_dir, int config_ok)
{
    int errors = postern_check(config_dir, config_ok, 0);

    return errors > 0 || !config_ok ? 1 : 0;
}

static void need_master_program(void)
{
    struct buf *path = buf_new(256);

    buf_setf(path, "%s/master", var_daemon_directory);
    if (access(buf_str(path), X_OK) < 0)
        postern_fatal("no Postern master program %s", buf_str(path));
    buf_free(path);
}

static int cmd_start(const char *config_dir, int foreground)
{
    struct argv *av;
    long pid;
    int status;

    need_master_program();
    if (master_running(&pid))
        postern_fatal("the Postern mail system is already running");
    if (postern_check(config_dir, 1, CHECK_FOR_START) > 0)
        postern_fatal("Postern integrity check failed!");
    copy_chroot_files(config_dir);
    postern_info("starting the Postern mail system");
    av = master_argv(config_dir, foreground ? "-d" : "-w");
    if (foreground) {
        fflush(NULL);
        execv(av->argv[0], av->argv);
        postern_fatal("cannot start-fg the master daemon: execute %s: %s",
                      av->argv[0], strerror(errno));
    }
    status = run_wait(av->argv);
    argv_free(av);
    if (status != 0)
        postern_fatal("mail system startup failed");
    return 0;
}

static int cmd_stop(void)
{
    long pid = need_running();

    postern_info("stopping the Postern mail system");
    if (signal_master(pid, MASTER_SIG_STOP, 0) < 0) {
        if (errno == ESRCH)
            return 0;
        postern_fatal("cannot signal the master process %ld: %s", pid,
                      strerror(errno));
    }
    if (master_wait_gone(STOP_WAIT_SECONDS * 1000L, 1))
        return 0;
    postern_warn("stopping the Postern mail system with force");
    if (master_running(&pid))
        (void) signal_master(pid, MASTER_SIG_KILL, 1);
    if (!master_wait_gone(2000, 0))
        postern_fatal("the Postern mail system did not stop (PID %ld)", pid);
    return 0;
}

static int cmd_abort(void)
{
    long pid = need_running();

    postern_info("aborting the Postern mail system");
    if (signal_master(pid, MASTER_SIG_ABORT, 0) < 0) {
        if (errno == ESRCH)
            return 0;
        postern_fatal("cannot signal the master process %ld: %s", pid,
                      strerror(errno));
    }
    if (master_wait_gone(ABORT_WAIT_SECONDS * 1000L, 0))
        return 0;
    postern_warn("aborting the Postern mail system with force");
    if (master_running(&pid))
        (void) signal_master(pid, MASTER_SIG_KILL, 1);
    if (!master_wait_gone(2000, 0))
        postern_fatal("the Postern mail system did not stop (PID %ld)", pid);
    return 0;
}

static int cmd_reload(const char *config_dir)
{
    long pid = need_running();

    /* Before the signal: new children find the new copies. */
    copy_chroot_files(config_dir);
    postern_info("refreshing the Postern mail system");
    if (signal_master(pid, MASTER_SIG_RELOAD, 0) < 0)
        postern_fatal("cannot signal the master process %ld: %s", pid,
                      strerror(errno));
    return 0;
}

static int cmd_status(void)
{
    long pid = 0;

    if (!master_running(&pid)) {
        postern_info("the Postern mail system is not running");
        return 1;
    }
    postern_info("the Postern mail system is running: PID: %ld", pid);
    return 0;
}

/* Send REQUEST to the trigger at PATH (a UNIX socket or a FIFO). */
static void send_trigger(const char *path, const char *request)
{
    struct sockaddr_un addr;
    struct stat sb;
    size_t len = strlen(request);
    int fd;

    if (lstat(path, &sb) < 0) {
        if (errno == ENOENT)
            postern_fatal("cannot flush the mail queue: %s does not exist "
                          "(no qmgr service in master.cf, or qmgr is not "
                          "installed yet)",
                          path);
        postern_fatal("cannot flush the mail queue: %s: %s", path,
                      strerror(errno));
    }
    if (S_ISFIFO(sb.st_mode)) {
        fd = open(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            postern_fatal("cannot flush the mail queue: open %s: %s%s", path,
                          strerror(errno),
                          errno == ENXIO ? " (qmgr is not running)" : "");
    } else if (S_ISSOCK(sb.st_mode)) {
        if (strlen(path) >= sizeof(addr.sun_path))
            postern_fatal("cannot flush the mail queue: socket path too "
                          "long: %s",
                          path);
        memset(&addr, 0, sizeof(addr));
        addr.sun_family = AF_UNIX;
        memcpy(addr.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            postern_fatal("socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
            postern_fatal("cannot flush the mail queue: connect to %s: %s%s",
                          path, strerror(errno),
                          errno == ECONNREFUSED ? " (qmgr is not running)"
                                                : "");
    } else {
        postern_fatal("cannot flush the mail queue: %s is neither a socket "
                      "nor a FIFO",
                      path);
    }
    if (write(fd, request, len) != (ssize_t) len)
        postern_fatal("cannot flush the mail queue: write to %s: %s", path,
                      strerror(errno));
    close(fd);
}

static int cmd_flush(const char *config_dir)
{
    struct buf *path = buf_new(256);
    struct mastercf *mcf;
    size_t i;

    (void) need_running();

    /* Until the queue manager exists, say so rather than wake nothing. */
    if ((mcf = mastercf_load_quiet(config_dir)) != NULL) {
        const struct mastercf_entry *qmgr = NULL;

        for (i = 0; i < mcf->count && qmgr == NULL; i++)
            if (strcmp(mcf->entries[i]->field[MASTERCF_SERVICE],
                       var_queue_service_name)
                    == 0
                && mcf->entries[i]->type != MASTERCF_INET)
                qmgr = mcf->entries[i];
        if (qmgr == NULL)
            postern_fatal("cannot flush the mail queue: %s has no %s service",
                          mcf->path, var_queue_service_name);
        if (qmgr->field[MASTERCF_COMMAND][0] == '/')
            buf_set(path, qmgr->field[MASTERCF_COMMAND]);
        else
            buf_setf(path, "%s/%s", var_daemon_directory,
                     qmgr->field[MASTERCF_COMMAND]);
        if (access(buf_str(path), X_OK) < 0)
            postern_fatal("cannot flush the mail queue: the queue manager %s "
                          "is not installed",
                          buf_str(path));
        mastercf_free(mcf);
    }
    buf_setf(path, "%s/public/%s", var_queue_directory, var_queue_service_name);
    send_trigger(buf_str(path), QMGR_FLUSH_REQUEST);
    postern_info("asked the queue manager to deliver the deferred mail now");
    buf_free(path);
    return 0;
}

static void set_perm_report(enum queue_dirs_event event, const char *text,
                            void *context)
{
    (void) context;
    if (event == QUEUE_DIRS_DONE)
        postern_info("%s", text);
    else if (event == QUEUE_DIRS_PROBLEM)
        postern_warn("%s", text);
    else
        postern_error("%s", text);
}

/*
 * Owner (USER), group (GROUP, or NULL to keep it) and mode of one
 * installed file or folder, never through a symbolic link.
 */
static void set_owner_mode(const char *path, const char *user,
                           const char *group, mode_t mode)
{
    struct passwd *pw = getpwnam(user);
    struct group *gr = group ? getgrnam(group) : NULL;
    uid_t uid;
    gid_t gid;
    struct stat sb;
    int fd;

    if (pw == NULL || (group && gr == NULL)) {
        postern_error("unknown user or group: %s%s%s", user, group ? ":" : "",
                      group ? group : "");
        return;
    }
    uid = pw->pw_uid;
    gid = gr ? gr->gr_gid : (gid_t) -1;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        postern_error("open %s: %s", path, strerror(errno));
        return;
    }
    if (fstat(fd, &sb) < 0) {
        postern_error("stat %s: %s", path, strerror(errno));
    } else {
        if (sb.st_uid != uid || (gr && sb.st_gid != gid)) {
            if (fchown(fd, uid, gid) < 0)
                postern_error("chown %s: %s", path, strerror(errno));
            else
                postern_info("set owner %s%s%s: %s", user, gr ? ":" : "",
                             gr ? group : "", path);
        }
        /* chown clears the set-gid bit: set the mode after it. */
        if (fstat(fd, &sb) == 0 && (sb.st_mode & 07777) != mode) {
            if (fchmod(fd, mode) < 0)
                postern_error("chmod %s: %s", path, strerror(errno));
            else
                postern_info("set mode %04o: %s", (unsigned) mode, path);
        }
    }
    close(fd);
}

static int cmd_set_permissions(const char *config_dir, char **args, int nargs)
{
    struct buf *path;
    struct stat sb;
    static const char *const setgid_cmds[] = {"postdrop", "postqueue", NULL};
    int i;

    /* name=value: update main.cf first, as Postfix's set-permissions. */
    if (nargs > 0) {
        struct argv *av = argv_new(8);
        struct buf *postconf = buf_new(256);

        for (i = 0; i < nargs; i++)
            if (strchr(args[i], '=') == NULL)
                postern_fatal("set-permissions: bad argument \"%s\": want "
                              "name=value",
                              args[i]);
        buf_setf(postconf, "%s/postconf", var_command_directory);
        argv_add(av, buf_str(postconf));
        argv_add(av, "-c");
        argv_add(av, config_dir);
        argv_add(av, "-e");
        for (i = 0; i < nargs; i++)
            argv_add(av, args[i]);
        if (run_wait(av->argv) != 0)
            postern_fatal("could not update %s/main.cf", config_dir);
        argv_free(av);
        buf_free(postconf);
        config_clear();
        if (postern_config_load(config_dir) < 0)
            postern_fatal("configuration errors; nothing changed");
    }

    if (queue_dirs_apply(var_queue_directory, var_mail_owner, var_setgid_group,
                         QUEUE_DIRS_CREATE | QUEUE_DIRS_FIX, set_perm_report,
                         NULL)
        < 0)
        return 1;

    /* data_directory belongs to mail_owner alone. */
    if (mkdir(var_data_directory, 0700) == 0)
        postern_info("created directory %s", var_data_directory);
    else if (errno != EEXIST)
        postern_error("mkdir %s: %s", var_data_directory, strerror(errno));
    if (lstat(var_data_directory, &sb) == 0 && S_ISDIR(sb.st_mode))
        set_owner_mode(var_data_directory, var_mail_owner, NULL, 0700);
    else
        postern_warn("not a directory: %s", var_data_directory);

    /* postdrop and postqueue: set-gid setgid_group. */
    path = buf_new(256);
    for (i = 0; setgid_cmds[i]; i++) {
        buf_setf(path, "%s/%s", var_command_directory, setgid_cmds[i]);
        if (lstat(buf_str(path), &sb) < 0 || !S_ISREG(sb.st_mode))
            continue;
        set_owner_mode(buf_str(path), "root", var_setgid_group, 02755);
    }
    buf_free(path);
    return postern_errors > 0 ? 1 : 0;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    const char *opt_c = NULL;
    const char *config_dir;
    const char *command;
    int config_ok;
    int ch;

    umask(022);
    msg_init(POSTERN_TAG, MSG_STDERR);
    /* A closed 0, 1 or 2 must not become a file we open. */
    for (;;) {
        int fd = open("/dev/null", O_RDWR);

        if (fd < 0 || fd > 2) {
            if (fd >= 0)
                close(fd);
            break;
        }
    }
    if (getenv("MAIL_VERBOSE") != NULL)
        msg_verbose++;
    while ((ch = getopt(argc, argv, "+c:v")) != -1) {
        switch (ch) {
        case 'c':
            opt_c = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
    if (optind >= argc)
        usage();
    command = argv[optind++];

    if (geteuid() != 0 || getuid() != 0)
        postern_fatal("the postern command is reserved for the superuser");

    config_dir = config_choose_dir(opt_c);
    if (opt_c != NULL && setenv("MAIL_CONFIG", config_dir, 1) < 0)
        postern_fatal("setenv: %s", strerror(errno));
    if (msg_verbose && setenv("MAIL_VERBOSE", "1", 1) < 0)
        postern_fatal("setenv: %s", strerror(errno));

    config_ok = postern_config_load(config_dir) == 0;
    if (config_ok) {
        postern_syslog_name = var_syslog_name;
        msg_set_syslog_name(var_syslog_name);
        if (*var_maillog_file && msg_set_logfile(var_maillog_file) < 0)
            postern_warn("cannot open maillog_file %s: %s", var_maillog_file,
                         strerror(errno));
    }

    if (strcmp(command, "check") == 0) {
        if (optind != argc)
            usage();
        return cmd_check(config_dir, config_ok);
    }
    if (!config_ok)
        postern_fatal("errors in %s/main.cf: nothing done", config_dir);
    if (strcmp(command, "set-permissions") == 0)
        return cmd_set_permissions(config_dir, argv + optind, argc - optind);
    if (optind != argc)
        usage();
    if (strcmp(command, "start") == 0)
        return cmd_start(config_dir, 0);
    if (strcmp(command, "start-fg") == 0)
        return cmd_start(config_dir, 1);
    if (strcmp(command, "stop") == 0)
        return cmd_stop();
    if (strcmp(command, "abort") == 0)
        return cmd_abort();
    if (strcmp(command, "reload") == 0)
        return cmd_reload(config_dir);
    if (strcmp(command, "status") == 0)
        return cmd_status();
    if (strcmp(command, "flush") == 0)
        return cmd_flush(config_dir);
    postern_fatal("unknown command: \"%s\"; known: check, start, start-fg, "
                  "stop, abort, reload, status, flush, set-permissions",
                  command);
}
