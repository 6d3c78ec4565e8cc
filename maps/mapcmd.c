/*
 * mapcmd.c - the command-line side shared by postmap and postalias (see
 * mapcmd.h).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "dict.h"
#include "mapcmd.h"
#include "mem.h"
#include "msg.h"
#include "params.h"

volatile sig_atomic_t mapcmd_signalled;

static void mapcmd_on_signal(int sig)
{
    mapcmd_signalled = sig;
}

void mapcmd_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = mapcmd_on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a read from stdin must return so the loop can stop. */
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void mapcmd_check_signal(void (*cleanup)(void))
{
    if (mapcmd_signalled) {
        int sig = mapcmd_signalled;

        cleanup();
        signal(sig, SIG_DFL);
        raise(sig);
        _exit(1);
    }
}

void mapcmd_split(const char *arg, char **type, char **name)
{
    const char *colon = strchr(arg, ':');

    if (colon != NULL) {
        *type = mem_strndup(arg, (size_t) (colon - arg));
        *name = mem_strdup(colon + 1);
    } else {
        *type = mem_strdup(var_default_database_type);
        *name = mem_strdup(arg);
    }
}

struct dict *mapcmd_open(const char *arg, int open_flags, int flags)
{
    struct buf *err = buf_new(128);
    struct dict *d;
    char *type;
    char *name;

    mapcmd_split(arg, &type, &name);
    d = dict_open3(type, name, open_flags, flags, err);
    if (d == NULL)
        msg_fatal("%s", buf_str(err));
    mem_free(type);
    mem_free(name);
    buf_free(err);
    return d;
}

int mapcmd_creatable(const char *type)
{
    return strcmp(type, "hash") == 0 || strcmp(type, "btree") == 0
           || strcmp(type, "dbm") == 0;
}

void mapcmd_args_init(struct mapcmd_args *a)
{
    memset(a, 0, sizeof(*a));
    a->dict_flags = DICT_FOLD_FIX | DICT_DUP_WARN;
}

int mapcmd_option(struct mapcmd_args *a, int ch, const char *arg)
{
    switch (ch) {
    case 'c':
        a->opt_c = arg;
        break;
    case 'd':
        if (a->sequence || a->query || a->delkey)
            msg_fatal("specify only one of -s -q or -d");
        a->delkey = arg;
        break;
    case 'f':
        a->dict_flags &= ~DICT_FOLD_FIX;
        break;
    case 'i':
        a->incremental = 1;
        break;
    case 'n':
        a->dict_flags |= DICT_TRY0NULL;
        a->dict_flags &= ~DICT_TRY1NULL;
        break;
    case 'N':
        a->dict_flags |= DICT_TRY1NULL;
        a->dict_flags &= ~DICT_TRY0NULL;
        break;
    case 'o':
        a->keep_root = 1;
        break;
    case 'p':
        a->default_perms = 1;
        break;
    case 'q':
        if (a->sequence || a->query || a->delkey)
            msg_fatal("specify only one of -s -q or -d");
        a->query = arg;
        break;
    case 'r':
        a->dict_flags &= ~(DICT_DUP_WARN | DICT_DUP_IGNORE);
        a->dict_flags |= DICT_DUP_REPLACE;
        break;
    case 's':
        if (a->query || a->delkey)
            msg_fatal("specify only one of -s or -q or -d");
        a->sequence = 1;
        break;
    case 'u':
        a->no_utf8 = 1;
        break;
    case 'v':
        msg_verbose++;
        break;
    case 'w':
        a->dict_flags &= ~(DICT_DUP_WARN | DICT_DUP_REPLACE);
        a->dict_flags |= DICT_DUP_IGNORE;
        break;
    default:
        return 0;
    }
    return 1;
}

struct dict *mapcmd_open_output(const char *type, const char *name,
                                const struct mapcmd_args *a, int rdwr_flags,
                                struct buf *path, int *existed, int *created)
{
    struct buf *err = buf_new(128);
    struct stat sb;
    struct dict *d;
    int open_flags = DICT_CREATE;
    int flags;

    if (dict_find_type(type) == NULL)
        msg_fatal("unsupported dictionary type: %s", type);
    if (!mapcmd_creatable(type))
        msg_fatal("unsupported dictionary type: %s does not support "
                  "bulk-mode creation.",
                  type);
    /* New files get the source's group and other read bits, as Postfix. */
    if (a->default_perms || a->incremental || stat(name, &sb) < 0)
        umask(022);
    else
        umask(022 | (~sb.st_mode & 077));
    buf_setf(path, "%s.db", name);
    *existed = stat(buf_str(path), &sb) == 0;
    if (a->incremental && *existed)
        open_flags = DICT_RDWR;
    /* Duplicates are reported by the caller, where file and line are known. */
    flags = a->dict_flags & ~(DICT_DUP_WARN | DICT_DUP_IGNORE);
    if (!(flags & DICT_DUP_REPLACE))
        flags |= DICT_DUP_IGNORE;
    if (open_flags == DICT_RDWR)
        flags |= rdwr_flags;
    d = dict_open3(type, name, open_flags, flags, err);
    if (d == NULL)
        msg_fatal("%s", buf_str(err));
    *created = open_flags == DICT_CREATE;
    buf_free(err);
    return d;
}

void mapcmd_finish_output(const char *path, const struct mapcmd_args *a,
                          int existed)
{
    if (a->keep_root && !existed && geteuid() == 0
        && chown(path, geteuid(), getegid()) < 0)
        msg_fatal("chown %s: %s", path, strerror(errno));
}
