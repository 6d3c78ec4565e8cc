/*
 * sendmail.c - the Sendmail-compatible command (sendmail(1)): posts a
 * message from standard input, or (as mailq, newaliases, or with -bp,
 * -bi, -q, -bs) lists the queue, rebuilds the aliases, flushes the queue
 * or holds an SMTP dialogue on standard input and output.
 *
 *   sendmail [options] [--] [recipient ...]
 *
 * A message goes to $command_directory/postdrop (setgid setgid_group) as
 * a record stream (sendmail_drop.c); postdrop writes it into maildrop/
 * and the pickup daemon feeds it to cleanup. -bp and -q run postqueue,
 * -bi runs postalias on every table of alias_database.
 *
 * Called by users, scripts, cron, mail user agents. Errors: one line
 * "sendmail: fatal: ..." on stderr and an exit status from sysexits.h:
 * EX_USAGE for a bad command line or no recipients, EX_DATAERR for a
 * message over message_size_limit, EX_TEMPFAIL when the message could not
 * be queued now, EX_NOPERM for a user authorized_submit_users excludes;
 * otherwise postdrop's status.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "config.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "record.h"
#include "sendmail.h"
#include "str.h"
#include "stream.h"

/* The descriptor flags of stdin and stdout, put back at exit. */
static int sm_fl_in = -1;
static int sm_fl_out = -1;

static void sm_restore_fds(void)
{
    if (sm_fl_in >= 0)
        (void) fcntl(0, F_SETFL, sm_fl_in);
    if (sm_fl_out >= 0)
        (void) fcntl(1, F_SETFL, sm_fl_out);
}

static void sm_exec(const char *name, const char *config_dir,
                    const char *const *args) __attribute__((noreturn));

/* Run a command of command_directory in place of this process. */
static void sm_exec(const char *name, const char *config_dir,
                    const char *const *args)
{
    struct argv *av = argv_new(8);
    struct buf *path = buf_new(64);

    buf_setf(path, "%s/%s", var_command_directory, name);
    argv_add(av, buf_str(path));
    if (config_dir) {
        argv_add(av, "-c");
        argv_add(av, config_dir);
    }
    for (; *args; args++)
        argv_add(av, *args);
    fflush(stdout);
    sm_restore_fds();
    execv(buf_str(path), av->argv);
    msg_fatal_status(EX_UNAVAILABLE, "execute %s: %s", buf_str(path),
                     strerror(errno));
}

/* -bi, newaliases: postalias on every table of alias_database. */
static void sm_newaliases(const char *config_dir)
{
    struct argv *tables = argv_split(var_alias_database, STR_LIST_SEP);
    struct argv *args = argv_new(4);
    size_t i;

    if (tables->argc == 0) {
        if (msg_verbose)
            msg_info("alias_database is empty: nothing to do");
        exit(0);
    }
    for (i = 0; i < tables->argc; i++)
        argv_add(args, tables->argv[i]);
    sm_exec("postalias", config_dir, (const char *const *) args->argv);
}

/* The submitting user's login name. */
static const char *sm_login_name(void)
{
    struct passwd *pw = getpwuid(getuid());

    if (pw == NULL)
        msg_fatal_status(EX_OSERR, "no login name found for user ID %lu",
                         (unsigned long) getuid());
    return pw->pw_name;
}

/* TEXT made safe for a log line (a static copy, for one message). */
static const char *sm_printable(const char *text)
{
    static struct buf *safe;

    if (safe == NULL)
        safe = buf_new(64);
    buf_reset(safe);
    str_printable(safe, text, strlen(text));
    return buf_str(safe);
}

/* -V: printable ASCII without white space, at most 100 bytes (RFC 3461). */
static int sm_envid_ok(const char *envid)
{
    const char *cp;

    if (*envid == 0 || strlen(envid) > 100)
        return 0;
    for (cp = envid; *cp; cp++)
        if (*cp < 33 || *cp > 126)
            return 0;
    return 1;
}

/* The default mode: one message from standard input. */
static int sm_enqueue(const struct sm_opts *o, const struct sm_sink *sink)
{
    struct argv *addrs = argv_new(4);
    struct argv *origs = argv_new(4);
    struct buf *err = buf_new(64);
    struct buf *sender = buf_new(64);
    struct buf *id = buf_new(32);
    struct sm_env env;
    struct stream *in;
    const char *user = sm_login_name();
    char *user_copy = mem_strdup(user);
    int *notify;
    void *h;
    int status = 0;
    int copy;
    size_t i;

    for (i = 0; i < o->rcpts->argc; i++)
        if (sm_split_rcpts(o->rcpts->argv[i], addrs, origs, err) < 0)
            msg_fatal_status(EX_DATAERR, "bad recipient address \"%s\": %s",
                             sm_printable(o->rcpts->argv[i]), buf_str(err));
    if (addrs->argc == 0 && !o->extract)
        msg_fatal_status(EX_USAGE, "no recipients specified");
    if (o->envid && !sm_envid_ok(o->envid))
        msg_fatal_status(EX_USAGE, "-V: bad envelope ID \"%s\"",
                         sm_printable(o->envid));
    if (o->have_sender)
        sm_sender_internal(sender, o->sender);
    else
        buf_set(sender, user_copy);
    if (memchr(buf_str(sender), '\n', buf_len(sender)) != NULL)
        msg_fatal_status(EX_USAGE, "-f: bad sender address");

    memset(&env, 0, sizeof(env));
    env.sender = buf_str(sender);
    env.flags = (o->extract ? REC_FLAG_EXTRACT : 0)
                | (o->body_8bit ? REC_FLAG_8BITMIME : 0);
    env.dsn_ret = o->dsn_ret;
    env.envid = o->envid;
    env.full_name = o->full_name ? o->full_name : getenv("NAME");
    if (env.full_name && *env.full_name == 0)
        env.full_name = NULL;
    env.nrcpt = addrs->argc;
    env.rcpt_addr = (const char **) addrs->argv;
    env.rcpt_orig = (const char **) origs->argv;
    notify = mem_calloc(addrs->argc + 1, sizeof(*notify));
    for (i = 0; i < addrs->argc; i++)
        notify[i] = o->notify;
    env.rcpt_notify = notify;

    if ((h = sink->open(sink->ctx, &env, err, &status)) == NULL)
        msg_fatal_status(status, "%s(%lu): %s", user_copy,
                         (unsigned long) getuid(), buf_str(err));
    in = stream_open(0);
    stream_set_timeout(in, (int) var_daemon_timeout);
    copy =
        sm_copy_message(in, sink, h, o->ignore_dots ? 0 : 1,
                        var_message_size_limit, (size_t) var_line_length_limit);
    switch (copy) {
    case SM_COPY_TOOBIG:
        sink->abort(h);
        msg_fatal_status(EX_DATAERR, "%s(%lu): message file too big", user_copy,
                         (unsigned long) getuid());
    case SM_COPY_IO:
        sink->abort(h);
        msg_fatal_status(EX_IOERR, "%s(%lu): error reading input: %s",
                         user_copy, (unsigned long) getuid(),
                         stream_reason_text(in));
    default:
        break;
    }
    status = sink->finish(h, id, err);
    if (status != 0) {
        /* postdrop explained a failure of its own on stderr already. */
        if (strncmp(buf_str(err), "postdrop exit status", 20) != 0)
            msg_error("%s(%lu): message not queued: %s", user_copy,
                      (unsigned long) getuid(), buf_str(err));
    } else if (o->verbose) {
        msg_info("queued as %s", buf_str(id));
    }
    stream_free(in);
    argv_free(addrs);
    argv_free(origs);
    buf_free(err);
    buf_free(sender);
    buf_free(id);
    mem_free(notify);
    mem_free(user_copy);
    return status;
}

/* -bs: the SMTP dialogue. */
static int sm_smtp(const struct sm_sink *sink)
{
    struct sm_smtp_conf conf;
    struct stream *in = stream_open(0);
    struct stream *out = stream_open(1);
    int status;

    memset(&conf, 0, sizeof(conf));
    conf.hostname = var_myhostname;
    conf.banner = var_smtpd_banner;
    conf.size_limit = var_message_size_limit;
    conf.line_limit = (size_t) var_line_length_limit;
    conf.rcpt_limit = var_smtpd_recipient_limit;
    conf.helo_required = var_smtpd_helo_required;
    stream_set_timeout(in, (int) var_smtpd_timeout);
    stream_set_timeout(out, (int) var_smtpd_timeout);
    status = sm_smtp_run(in, out, &conf, sink);
    stream_free(in);
    stream_free(out);
    return status;
}

int main(int argc, char **argv)
{
    struct sm_opts opts;
    struct sm_sink sink;
    struct buf *err = buf_new(64);
    struct buf *postdrop = buf_new(64);
    char *config_dir = NULL;
    const char *slash = strrchr(argv[0], '/');
    int status = 0;

    msg_init(slash ? slash + 1 : argv[0], MSG_STDERR | MSG_NOLOG);
    /* Descriptors 0, 1 and 2 must be open before any pipe or file is. */
    for (;;) {
        int fd = open("/dev/null", O_RDWR);

        if (fd < 0)
            exit(EX_OSERR);
        if (fd > 2) {
            close(fd);
            break;
        }
    }
    sm_fl_in = fcntl(0, F_GETFL);
    sm_fl_out = fcntl(1, F_GETFL);
    atexit(sm_restore_fds);
    /* A postdrop that died must give an error, not kill sendmail. */
    signal(SIGPIPE, SIG_IGN);

    sm_opts_init(&opts);
    if (sm_args_parse(argc, argv, &opts, err) < 0)
        msg_fatal_status(EX_USAGE,
                         "%s; usage: sendmail [options] [recipient ...]",
                         buf_str(err));
    if (opts.config_dir)
        config_dir = config_dir_of(opts.config_dir);
    config_load(config_choose_dir(config_dir));
    params_load();
    msg_set_syslog_name(var_syslog_name);
    /* Log too when the log is reachable (a user may not write it). */
    if (*var_maillog_file == 0 || msg_set_logfile(var_maillog_file) == 0)
        msg_init(slash ? slash + 1 : argv[0], MSG_STDERR);
    if (opts.verbose)
        msg_verbose = opts.verbose;
    if (msg_verbose) {
        size_t i;

        for (i = 0; i < opts.warnings->argc; i++)
            msg_info("%s", opts.warnings->argv[i]);
    }

    switch (opts.mode) {
    case SM_MODE_MAILQ: {
        static const char *const args[] = {"-p", NULL};

        sm_exec("postqueue", config_dir, args);
    }
    case SM_MODE_FLUSH:
        if (opts.flush_site) {
            const char *args[] = {"-s", opts.flush_site, NULL};

            sm_exec("postqueue", config_dir, args);
        } else {
            static const char *const args[] = {"-f", NULL};

            sm_exec("postqueue", config_dir, args);
        }
    case SM_MODE_NEWALIASES:
        sm_newaliases(config_dir);
        break;
    case SM_MODE_SMTP:
    case SM_MODE_ENQUEUE:
        buf_setf(postdrop, "%s/postdrop", var_command_directory);
        sm_drop_sink(&sink, buf_str(postdrop), config_dir, msg_verbose);
        if (opts.mode == SM_MODE_SMTP)
            status = sm_smtp(&sink);
        else
            status = sm_enqueue(&opts, &sink);
        break;
    }
    sm_opts_free(&opts);
    mem_free(config_dir);
    buf_free(err);
    buf_free(postdrop);
    return status;
}
