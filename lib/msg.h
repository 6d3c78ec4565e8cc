/*
 * msg.h - logging.
 *
 * Log lines have Postfix's shape so that pflogsumm, fail2ban and logwatch
 * read them: "Mon DD HH:MM:SS host $syslog_name/PROG[PID]: text", with
 * "warning: ", "error: ", "fatal: " or "panic: " before the text above the
 * info level. They go to syslog (facility mail) by default, or to the file
 * named by maillog_file (msg_set_logfile), which may be /dev/stdout.
 *
 * Commands (postconf, postmap, ...) also write "prog: level: text" to
 * stderr (MSG_STDERR); daemons write fatal and panic messages to stderr
 * when stderr is a terminal.
 *
 * msg_fatal exits with status 1; msg_panic aborts.
 */
#ifndef POSTERN_MSG_H
#define POSTERN_MSG_H

#include <stdarg.h>

#define MSG_STDERR 0x1 /* every message also goes to stderr */
#define MSG_NOLOG  0x2 /* nothing goes to syslog or the log file */

extern int msg_verbose;

/* Program name (without directory); flags as above. Opens nothing yet. */
void msg_init(const char *progname, int flags);
const char *msg_progname(void);
/* The "postern" in "postern/smtpd[PID]" (syslog_name). */
void msg_set_syslog_name(const char *name);
/*
 * Send log lines to PATH instead of syslog (maillog_file). An empty PATH
 * means syslog. The file is opened now (append) so it stays usable after
 * chroot. Returns 0, or -1 with errno set.
 */
int msg_set_logfile(const char *path);
/*
 * Log to FD, a descriptor that is already open (master hands its
 * maillog_file descriptor down to every child, lib/daemon.h), instead of
 * syslog; -1 means syslog again. The previous log file descriptor, if any
 * and different, is closed; FD's close-on-exec flag is the caller's.
 */
void msg_set_logfd(int fd);
/* The log file descriptor in use, or -1 when lines go to syslog. */
int msg_logfd(void);
/*
 * Connect to syslog now rather than at the first line, so that a process
 * about to chroot keeps its /dev/log connection (openlog with LOG_NDELAY).
 * Does nothing while a log file is in use.
 */
void msg_syslog_connect(void);
/* Hook run before msg_fatal exits (e.g. to remove a temporary file). */
void msg_set_cleanup(void (*fn)(void));

void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* msg_fatal with exit status STATUS (a sysexits.h code for commands). */
void msg_fatal_status(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
void msg_panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Formats one log line's prefix-less text into the log destinations. */
void msg_vlog(int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

enum msg_level { MSG_INFO, MSG_WARN, MSG_ERROR, MSG_FATAL, MSG_PANIC };

#endif
