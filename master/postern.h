/*
 * postern.h - what the files of the `postern` control command share.
 *
 * postern.c has main(), the message functions and the process control
 * commands; postern_check.c has `postern check` (also run by start).
 * Nothing outside master/postern*.c includes this header.
 *
 * Messages: postern_info/warn/error/fatal write one line to stderr as
 * "SYSLOG_NAME/postern-script: [level: ]text" (the shape of Postfix's
 * postfix-script lines) and the same text to the log (syslog, or
 * maillog_file). Warnings and errors are counted: check exits 1 when
 * there was an error, 0 when there were only warnings.
 */
#ifndef POSTERN_POSTERN_H
#define POSTERN_POSTERN_H

/* The tag of every line: "postern-script", after Postfix's postfix-script. */
#define POSTERN_TAG "postern-script"

extern int postern_warnings;
extern int postern_errors;

void postern_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void postern_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void postern_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void postern_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Read CONFIG_DIR/main.cf and check every parameter value without exiting:
 * a syntax error, a bad number or time, an expansion loop is reported as
 * an error naming the file and line. On success the var_NAME globals are
 * loaded (params_load) and 0 is returned; otherwise -1.
 */
int postern_config_load(const char *config_dir);

/* postern_check() flags. */
#define CHECK_FOR_START 0x1 /* run by start: it copies etc/ files itself */

/*
 * `postern check` after postern_config_load() succeeded (CONFIG_OK) or
 * failed (then only master.cf is checked). Creates missing queue folders.
 * Reports through the functions above; returns the number of errors.
 */
int postern_check(const char *config_dir, int config_ok, int flags);

/* Do the files open on FA and FB hold the same bytes (read from here on)? */
int postern_same_content(int fa, int fb);

/* The files chrooted daemons need, copied by start and reload into
 * queue_directory/etc when a master.cf service runs chrooted. */
extern const char *const postern_chroot_files[];

#endif
