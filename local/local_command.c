/*
 * local_command.c - delivery to a |command (aliases, .forward, :include:)
 * and through mailbox_command.
 *
 * The command runs in a child that gives up root for good (the user's or
 * default_privs' IDs), in its own process group, with the environment
 * Postfix documents (HOME, USER, LOGNAME, SHELL, PATH, EXTENSION, DOMAIN,
 * LOCAL, RECIPIENT, SENDER, ORIGINAL_RECIPIENT and export_environment),
 * by local_command_shell or else "/bin/sh -c". The message goes to its
 * standard input with "From " line, Return-Path:, X-Original-To: and
 * (per prepend_delivered_header) Delivered-To:. Its output is kept for
 * the reason text. command_time_limit bounds the whole run; the process
 * group is then killed.
 *
 * Outcome, as Postfix maps sysexits.h: exit 0 delivered; EX_TEMPFAIL and
 * EX_OSERR, death by a signal defer; other codes bounce ("Command died
 * with status N: \"cmd\". Command output: ...").
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "local.h"
#include "maps.h"
#include "msg.h"
#include "params.h"
#include "privs.h"
#include "record.h"
#include "str.h"

/* Most bytes of command output kept for the reason. */
#define LOCAL_OUTPUT_MAX 512

static void local_alarm(int sig)
{
    (void) sig;
    local_copy_timeout = 1;
}

/* Enhanced status code and temporary-ness of exit code CODE. */
static const char *local_exit_dsn(int code, int *temp)
{
    *temp = 0;
    switch (code) {
    case EX_USAGE:
    case EX_NOINPUT:
    case EX_UNAVAILABLE:
    case EX_SOFTWARE:
    case EX_OSFILE:
    case EX_IOERR:
        return "5.3.0";
    case EX_DATAERR:
        return "5.6.0";
    case EX_NOUSER:
        return "5.1.1";
    case EX_NOHOST:
        return "5.1.2";
    case EX_CANTCREAT:
        return "5.2.0";
    case EX_PROTOCOL:
        return "5.5.0";
    case EX_NOPERM:
        return "5.7.0";
    case EX_CONFIG:
        return "5.3.5";
    case EX_OSERR:
    case EX_TEMPFAIL:
        *temp = 1;
        return "4.3.0";
    default:
        return "5.3.0";
    }
}

static void local_env_add(struct argv *env, const char *name, const char *value)
{
    struct buf *b = buf_new(64);

    buf_setf(b, "%s=%s", name, value ? value : "");
    argv_add(env, buf_str(b));
    buf_free(b);
}

/* The environment of the command. */
static struct argv *local_command_env(const struct local_state *st, uid_t uid)
{
    struct argv *env = argv_new(16);
    struct argv *exp = argv_split(var_export_environment, ", \t\r\n");
    const char *user = st->user, *home = st->home, *shell = st->shell;
    struct passwd *pw;
    size_t i;

    if (user == NULL && (pw = getpwuid(uid)) != NULL) {
        user = pw->pw_name;
        home = pw->pw_dir;
        shell = pw->pw_shell;
    }
    for (i = 0; i < exp->argc; i++) {
        const char *eq = strchr(exp->argv[i], '=');
        const char *v;

        if (eq != NULL)
            argv_add(env, exp->argv[i]);
        else if ((v = getenv(exp->argv[i])) != NULL)
            local_env_add(env, exp->argv[i], v);
    }
    argv_free(exp);
    local_env_add(env, "PATH", "/usr/bin:/bin");
    local_env_add(env, "HOME", home);
    local_env_add(env, "USER", user);
    local_env_add(env, "LOGNAME", user);
    local_env_add(env, "SHELL", shell);
    local_env_add(env, "SENDER", st->sender);
    local_env_add(env, "RECIPIENT", st->address);
    local_env_add(env, "ORIGINAL_RECIPIENT", st->orig_addr);
    local_env_add(env, "LOCAL", st->local);
    local_env_add(env, "DOMAIN", st->domain);
    if (st->extension && *st->extension)
        local_env_add(env, "EXTENSION", st->extension);
    return env;
}

/* The child: become UID/GID and run the command. Never returns. */
static void local_child(int in, int out, uid_t uid, gid_t gid, const char *dir,
                        struct argv *args, struct argv *env)
{
    const char *home = dir;

    (void) setsid();
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(EX_OSERR);
    closefrom(3);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    {
        struct buf *err = buf_new(64);

        if (privs_drop(uid, gid, err) < 0) {
            buf_puts(err, "\n");
            (void) write(2, buf_str(err), buf_len(err));
            _exit(EX_OSERR);
        }
        buf_free(err);
    }
    if (home == NULL || chdir(home) < 0)
        (void) chdir("/");
    execve(args->argv[0], args->argv, env->argv);
    {
        static const char msg[] = "local: cannot execute the command shell\n";

        (void) write(2, msg, sizeof(msg) - 1);
    }
    _exit(EX_OSERR);
}

void local_deliver_command(struct local_state *st, const char *command,
                           uid_t uid, gid_t gid, const char *what)
{
    struct argv *args = NULL, *env = NULL;
    struct buf *err = buf_new(128);
    struct buf *output = buf_new(LOCAL_OUTPUT_MAX + 1);
    struct buf *text = buf_new(LOCAL_OUTPUT_MAX + 64);
    struct buf *dir = buf_new(64);
    struct sigaction sa, old_sa;
    int in[2] = {-1, -1}, out = -1, status = 0, r, flags, timed_out = 0;
    pid_t pid;
    char chunk[LOCAL_OUTPUT_MAX];
    ssize_t n;

    (void) what;
    /* Never as root: root's commands run with default_privs, as Postfix. */
    if (uid == 0) {
        uid = local_g.nobody_uid;
        gid = local_g.nobody_gid;
    }
    if (*var_local_command_shell) {
        args = argv_split(var_local_command_shell, " \t");
        if (args->argc == 0)
            argv_add(args, "/bin/sh");
        if (args->argc == 1)
            argv_add(args, "-c");
    } else {
        args = argv_new(4);
        argv_add(args, "/bin/sh");
        argv_add(args, "-c");
    }
    argv_add(args, command);
    env = local_command_env(st, uid);
    if (*var_command_execution_directory) {
        if (local_expand(dir, var_command_execution_directory, st,
                         var_execution_directory_expansion_filter, err)
            < 0)
            buf_reset(dir);
    } else if (st->home) {
        buf_set(dir, st->home);
    }
    if (pipe2(in, O_CLOEXEC) < 0
        || (out = memfd_create("local-command", MFD_CLOEXEC)) < 0) {
        local_outcome(st, REC_ACTION_DEFERRED, "4.3.0",
                      "cannot run command: %s", strerror(errno));
        goto out;
    }
    if ((pid = fork()) < 0) {
        local_outcome(st, REC_ACTION_DEFERRED, "4.3.0",
                      "cannot run command: fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        local_child(in[0], out, uid, gid, buf_len(dir) ? buf_str(dir) : NULL,
                    args, env);
    close(in[0]);
    in[0] = -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = local_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked write must return */
    sigaction(SIGALRM, &sa, &old_sa);
    local_copy_timeout = 0;
    alarm((unsigned) var_command_time_limit);
    flags = LOCAL_COPY_FROM | LOCAL_COPY_RETURN | LOCAL_COPY_ORIG;
    if (maps_feature_listed(var_prepend_delivered_header, "command"))
        flags |= LOCAL_COPY_DELIVERED;
    r = local_copy(st, in[1], flags, 0, 0, err);
    close(in[1]);
    in[1] = -1;
    /* Timed out while copying: the alarm is spent, kill before waiting. */
    if (local_copy_timeout && !timed_out) {
        timed_out = 1;
        (void) kill(-pid, SIGKILL);
        (void) kill(pid, SIGKILL);
    }
    /* The command may exit without reading everything: not an error. */
    for (;;) {
        if (waitpid(pid, &status, 0) == pid)
            break;
        if (errno != EINTR) {
            status = EX_OSERR << 8;
            break;
        }
        if (local_copy_timeout && !timed_out) {
            timed_out = 1;
            (void) kill(-pid, SIGKILL);
            (void) kill(pid, SIGKILL);
        }
    }
    if (local_copy_timeout && !timed_out) {
        timed_out = 1;
        (void) kill(-pid, SIGKILL);
    }
    alarm(0);
    sigaction(SIGALRM, &old_sa, NULL);
    if (lseek(out, 0, SEEK_SET) == 0
        && (n = read(out, chunk, sizeof(chunk))) > 0) {
        ssize_t i;

        for (i = 0; i < n; i++)
            if (chunk[i] == '\n' || chunk[i] == '\r' || chunk[i] == '\t')
                chunk[i] = ' ';
        while (n > 0 && chunk[n - 1] == ' ')
            n--;
        str_printable(output, chunk, (size_t) n);
    }
    if (buf_len(output))
        buf_setf(text, ". Command output: %s", buf_str(output));
    if (timed_out) {
        local_outcome(st, REC_ACTION_BOUNCED, "5.3.0",
                      "Command time limit exceeded: \"%s\"%s", command,
                      buf_str(text));
    } else if (r == LOCAL_COPY_EREAD) {
        local_outcome(st, REC_ACTION_DEFERRED, "4.3.0", "%s", buf_str(err));
    } else if (WIFSIGNALED(status)) {
        local_outcome(st, REC_ACTION_DEFERRED, "4.3.0",
                      "Command died with signal %d: \"%s\"%s", WTERMSIG(status),
                      command, buf_str(text));
    } else if (WEXITSTATUS(status) != 0) {
        int temp;
        const char *dsn = local_exit_dsn(WEXITSTATUS(status), &temp);

        local_outcome(st, temp ? REC_ACTION_DEFERRED : REC_ACTION_BOUNCED, dsn,
                      "Command died with status %d: \"%s\"%s",
                      WEXITSTATUS(status), command, buf_str(text));
    } else {
        local_outcome(st, REC_ACTION_DELIVERED, "2.0.0",
                      "delivered to command: %s", command);
    }
out:
    if (in[0] >= 0)
        close(in[0]);
    if (in[1] >= 0)
        close(in[1]);
    if (out >= 0)
        close(out);
    argv_free(args);
    argv_free(env);
    buf_free(err);
    buf_free(output);
    buf_free(text);
    buf_free(dir);
}
