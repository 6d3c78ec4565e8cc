/*
 * msg.c - logging to syslog, a log file, and stderr (see msg.h).
 *
 * Everything may call it, including the allocation wrappers, so it must not
 * allocate from the heap while formatting: lines are formatted into a fixed
 * local array and cut at its size (a log line is not peer data storage).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"

int msg_verbose;

static char msg_prog[64] = "postern";
static char msg_sysname[64] = "postern";
static int msg_flags;
static int msg_log_fd = -1; /* maillog_file, or -1 for syslog */
static int msg_syslog_open;
static void (*msg_cleanup)(void);

static const char *const msg_level_text[] = {
    "", "warning: ", "error: ", "fatal: ", "panic: ",
};

static void msg_copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

void msg_init(const char *progname, int flags)
{
    const char *slash = strrchr(progname, '/');

    msg_copy(msg_prog, sizeof(msg_prog), slash ? slash + 1 : progname);
    msg_flags = flags;
}

const char *msg_progname(void)
{
    return msg_prog;
}

void msg_set_syslog_name(const char *name)
{
    if (name == NULL || *name == 0)
        name = "postern";
    msg_copy(msg_sysname, sizeof(msg_sysname), name);
    if (msg_syslog_open) {
        closelog();
        msg_syslog_open = 0;
    }
}

int msg_set_logfile(const char *path)
{
    int fd;

    if (path == NULL || *path == 0) {
        if (msg_log_fd >= 0)
            close(msg_log_fd);
        msg_log_fd = -1;
        return 0;
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (msg_log_fd >= 0)
        close(msg_log_fd);
    msg_log_fd = fd;
    return 0;
}

void msg_set_logfd(int fd)
{
    if (msg_log_fd >= 0 && msg_log_fd != fd)
        close(msg_log_fd);
    msg_log_fd = fd < 0 ? -1 : fd;
}

int msg_logfd(void)
{
    return msg_log_fd;
}

static void msg_syslog_start(void)
{
    static char ident[160];

    snprintf(ident, sizeof(ident), "%s/%s", msg_sysname, msg_prog);
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
    msg_syslog_open = 1;
}

void msg_syslog_connect(void)
{
    if (msg_log_fd < 0 && !(msg_flags & MSG_NOLOG) && !msg_syslog_open)
        msg_syslog_start();
}

void msg_set_cleanup(void (*fn)(void))
{
    msg_cleanup = fn;
}

static void msg_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        data += n;
        len -= (size_t) n;
    }
}

static void msg_to_file(const char *text, enum msg_level level)
{
    char line[4096];
    char stamp[32];
    char host[256];
    time_t now = time(NULL);
    struct tm tm;
    int n;

    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
    if (gethostname(host, sizeof(host)) != 0)
        msg_copy(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = 0;
    {
        char *dot = strchr(host, '.');

        if (dot)
            *dot = 0;
    }
    n = snprintf(line, sizeof(line), "%s %s %s/%s[%ld]: %s%s\n", stamp, host,
                 msg_sysname, msg_prog, (long) getpid(), msg_level_text[level],
                 text);
    if (n < 0)
        return;
    if ((size_t) n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    msg_write_all(msg_log_fd, line, (size_t) n);
}

static void msg_to_syslog(const char *text, enum msg_level level)
{
    static const int prio[] = {
        LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT, LOG_CRIT,
    };

    if (!msg_syslog_open)
        msg_syslog_start();
    syslog(prio[level], "%s%s", msg_level_text[level], text);
}

static void msg_to_stderr(const char *text, enum msg_level level)
{
    char line[4096];
    int n = snprintf(line, sizeof(line), "%s: %s%s\n", msg_prog,
                     msg_level_text[level], text);

    if (n < 0)
        return;
    if ((size_t) n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    msg_write_all(2, line, (size_t) n);
}

void msg_vlog(int level, const char *fmt, va_list ap)
{
    char text[4000];
    int saved_errno = errno;
    char *cp;

    vsnprintf(text, sizeof(text), fmt, ap);
    /* One message, one line: a newline would forge a second log entry. */
    for (cp = text; *cp; cp++)
        if (*cp == '\n' || *cp == '\r')
            *cp = ' ';
    if (msg_flags & MSG_STDERR)
        msg_to_stderr(text, (enum msg_level) level);
    else if (level >= MSG_FATAL && isatty(2))
        msg_to_stderr(text, (enum msg_level) level);
    if (!(msg_flags & MSG_NOLOG)) {
        if (msg_log_fd >= 0)
            msg_to_file(text, (enum msg_level) level);
        else
            msg_to_syslog(text, (enum msg_level) level);
    }
    errno = saved_errno;
}

void msg_info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vlog(MSG_INFO, fmt, ap);
    va_end(ap);
}

void msg_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vlog(MSG_WARN, fmt, ap);
    va_end(ap);
}

void msg_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vlog(MSG_ERROR, fmt, ap);
    va_end(ap);
}

static void msg_vfatal_status(int status, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0), noreturn));

static void msg_vfatal_status(int status, const char *fmt, va_list ap)
{
    static int dying;

    msg_vlog(MSG_FATAL, fmt, ap);
    if (!dying++ && msg_cleanup)
        msg_cleanup();
    exit(status);
}

void msg_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vfatal_status(1, fmt, ap);
}

void msg_fatal_status(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vfatal_status(status, fmt, ap);
}

void msg_panic(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vlog(MSG_PANIC, fmt, ap);
    va_end(ap);
    abort();
}

/*
 * Sanitizer builds: commands and daemons end through msg_fatal() and exit()
 * with memory still allocated by design, so LeakSanitizer is off unless
 * ASAN_OPTIONS asks for it (the unit test runner does).
 */
#if defined(__SANITIZE_ADDRESS__)
#define MSG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MSG_ASAN 1
#endif
#endif
#ifdef MSG_ASAN
const char *__asan_default_options(void);

const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}
#endif
