/*
 * postsuper.c - the postsuper command: queue maintenance for the
 * superuser.
 *
 *   postsuper [-psSv] [-c dir] [-d id] [-h id] [-H id] [-r id] [queue...]
 *
 * -d deletes messages (the queue file and its bounce, defer and trace
 * logs), -h moves them to hold/, -H moves them from hold/ to deferred/
 * with a modification time of now (due at the next deferred scan), -r
 * requeues them: moves them to incoming/ and wakes the queue manager, so
 * they are scheduled again at once (Postern does not send them through
 * cleanup again as Postfix does: the queue file keeps its ID, envelope
 * and finished recipients). ID may be ALL (in upper case) or "-" (IDs
 * from standard input, one per line). The queues searched are the
 * arguments, or by default Postfix's: hold incoming active deferred
 * (-d, -r), incoming active deferred (-h), hold (-H).
 *
 * -s checks the structure: queue and log files in the wrong hash folder
 * (after hash_queue_names or hash_queue_depth changed) are moved to the
 * right one, unneeded hash folders removed, logs without a queue file
 * removed. -p removes temporary files (ID.tmp) older than a day, left by
 * writers that died. -s and -p run before the other operations; without
 * any operation, postsuper runs -s.
 *
 * Works directly on the queue folders: checks that it was started by
 * root, then runs as mail_owner (folders it makes belong to the queue's
 * owner). Removing or moving a file the queue manager has in active/ is
 * safe (it finds the file gone).
 *
 * Errors: bad IDs and failed file operations are warnings; a bad option,
 * queue name or configuration is "postsuper: fatal: ..." with status 1.
 * Counts go to stderr and the log, Postfix's words: "Deleted: 2 messages".
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "config.h"
#include "mail_proto.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "privs.h"
#include "queue_file.h"
#include "queue_id.h"
#include "str.h"

/* -p: temporary files older than this are left by a dead writer. */
#define PS_TEMP_AGE (24 * 60 * 60)
/* -s: deepest folder nesting looked at inside a queue. */
#define PS_WALK_MAX 8

#define USAGE                                                                  \
    "usage: postsuper [-psSv] [-c config_dir] [-d queue_id] [-h queue_id] "    \
    "[-H queue_id] [-r queue_id] [queue...]"

/* Message queues and log folders, for -s and the stale-log check. */
static const char *const ps_msg_queues[] = {
    QF_MAILDROP, QF_INCOMING, QF_ACTIVE, QF_DEFERRED, QF_HOLD, QF_CORRUPT, NULL,
};
static const char *const ps_log_queues[] = {
    QF_LOG_BOUNCE,
    QF_LOG_DEFER,
    QF_LOG_TRACE,
    NULL,
};

enum ps_op { PS_DELETE, PS_HOLD, PS_RELEASE, PS_REQUEUE, PS_NOPS };

static const struct ps_op_info {
    char option;
    const char *defaults; /* queues searched by default */
    const char *done;     /* per message, in the log */
    const char *report;   /* the count line */
} ps_ops[PS_NOPS] = {
    [PS_DELETE] = {'d', "hold incoming active deferred", "removed", "Deleted"},
    [PS_HOLD] = {'h', "incoming active deferred", "placed on hold",
                 "Placed on hold"},
    [PS_RELEASE] = {'H', "hold", "released from hold", "Released from hold"},
    [PS_REQUEUE] = {'r', "hold incoming active deferred", "requeued",
                    "Requeued"},
};

/* Which queues a message can be named in on the command line. */
static int ps_queue_ok(const char *name)
{
    size_t i;

    for (i = 0; ps_msg_queues[i] != NULL; i++)
        if (strcmp(name, ps_msg_queues[i]) == 0)
            return 1;
    return 0;
}

static void ps_report(const char *what, long count, const char *unit)
{
    msg_info("%s: %ld %s%s", what, count, unit, count == 1 ? "" : "s");
}

/* ---- -d -h -H -r ----------------------------------------------------------
 */

/* Remove the status logs of ID; a missing log is fine. */
static void ps_remove_logs(const char *id)
{
    size_t i;

    for (i = 0; ps_log_queues[i] != NULL; i++)
        if (qf_remove(ps_log_queues[i], id) < 0 && qf_reason() != QF_ERR_GONE)
            msg_warn("%s: %s", id, qf_error());
}

/* Do OP to ID in QUEUE: 1 when done, 0 when ID is not there. */
static int ps_apply(enum ps_op op, const char *queue, const char *id)
{
    int ret;

    switch (op) {
    case PS_DELETE:
        ret = qf_remove(queue, id);
        if (ret == 0)
            ps_remove_logs(id);
        break;
    case PS_HOLD:
        if (strcmp(queue, QF_HOLD) == 0)
            return 0;
        if (strcmp(queue, QF_MAILDROP) == 0) {
            msg_warn("%s: mail in the maildrop queue cannot be put on hold",
                     id);
            return 0;
        }
        ret = qf_move(id, queue, QF_HOLD);
        break;
    case PS_RELEASE:
        if (strcmp(queue, QF_HOLD) != 0)
            return 0;
        ret = qf_move(id, queue, QF_DEFERRED);
        if (ret == 0 && qf_touch(QF_DEFERRED, id, (long long) time(NULL)) < 0)
            msg_warn("%s: %s", id, qf_error());
        break;
    case PS_REQUEUE:
        if (strcmp(queue, QF_MAILDROP) == 0)
            return 0; /* pickup takes it anyway */
        ret = qf_move(id, queue, QF_INCOMING);
        if (ret == 0 && qf_touch(QF_INCOMING, id, (long long) time(NULL)) < 0)
            msg_warn("%s: %s", id, qf_error());
        break;
    default:
        msg_panic("postsuper: bad operation %d", (int) op);
    }
    if (ret < 0) {
        if (qf_reason() != QF_ERR_GONE)
            msg_warn("%s: %s", id, qf_error());
        return 0;
    }
    msg_info("%s: %s", id, ps_ops[op].done);
    return 1;
}

/* A queue ID from the command line or stdin; status marks are dropped. */
static int ps_clean_id(struct buf *id, const char *arg)
{
    buf_set(id, arg);
    while (buf_len(id) > 0 && strchr("*!# \t\r", buf_str(id)[buf_len(id) - 1]))
        buf_truncate(id, buf_len(id) - 1);
    if (!queue_id_valid(buf_str(id))) {
        struct buf *shown = buf_new(64);

        str_printable(shown, arg, strlen(arg));
        msg_warn("invalid mail queue id: %s", buf_str(shown));
        buf_free(shown);
        return 0;
    }
    return 1;
}

static long ps_apply_id(enum ps_op op, const struct argv *queues,
                        const char *arg)
{
    struct buf *id = buf_new(32);
    long count = 0;
    size_t q;

    if (ps_clean_id(id, arg))
        for (q = 0; q < queues->argc; q++)
            if (ps_apply(op, queues->argv[q], buf_str(id))) {
                count++;
                break;
            }
    buf_free(id);
    return count;
}

static long ps_apply_all(enum ps_op op, const struct argv *queues)
{
    struct argv *names = argv_new(16);
    struct argv *where = argv_new(16);
    struct buf *name = buf_new(32);
    long count = 0;
    size_t q;
    size_t i;

    /* Look at every queue first, so a message moved on is not met twice. */
    for (q = 0; q < queues->argc; q++) {
        struct qf_scan *scan = qf_scan_open(queues->argv[q], 0);
        int got;

        if (scan == NULL) {
            msg_warn("%s", qf_error());
            continue;
        }
        while ((got = qf_scan_next(scan, name)) > 0) {
            argv_add(names, buf_str(name));
            argv_add(where, queues->argv[q]);
        }
        if (got < 0)
            msg_warn("%s", qf_error());
        qf_scan_close(scan);
    }
    for (i = 0; i < names->argc; i++)
        count += ps_apply(op, where->argv[i], names->argv[i]);
    buf_free(name);
    argv_free(names);
    argv_free(where);
    return count;
}

static long ps_apply_stdin(enum ps_op op, const struct argv *queues)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long count = 0;

    while ((n = getline(&line, &cap, stdin)) >= 0) {
        char *cp = line;
        char *word;

        while ((word = str_token(&cp, " \t\r\n")) != NULL)
            count += ps_apply_id(op, queues, word);
    }
    free(line);
    return count;
}

static long ps_run(enum ps_op op, const struct argv *ids,
                   const struct argv *queues)
{
    long count = 0;
    size_t i;

    for (i = 0; i < ids->argc; i++) {
        if (strcmp(ids->argv[i], "ALL") == 0)
            count += ps_apply_all(op, queues);
        else if (strcmp(ids->argv[i], "-") == 0)
            count += ps_apply_stdin(op, queues);
        else
            count += ps_apply_id(op, queues, ids->argv[i]);
    }
    return count;
}

/* ---- -s -------------------------------------------------------------------
 */

struct ps_fix {
    long moved;
    long stale;
    long dirs;
};

/* Make the folders above PATH (relative to the queue root) as needed. */
static int ps_make_parents(const char *path, size_t from)
{
    char *copy = mem_strdup(path);
    char *cp;
    int ret = 0;

    for (cp = copy + from; ret == 0 && (cp = strchr(cp, '/')) != NULL; cp++) {
        *cp = 0;
        if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
            msg_warn("create folder %s: %s", copy, strerror(errno));
            ret = -1;
        }
        *cp = '/';
    }
    mem_free(copy);
    return ret;
}

/* Move a file found at PATH in QUEUE to where it belongs, if elsewhere. */
static void ps_place(const char *queue, const char *path, const char *name,
                     size_t root_len, struct ps_fix *fix)
{
    struct buf *want = buf_new(64);
    struct stat st;

    qf_path(want, queue, name);
    if (strcmp(buf_str(want), path) != 0) {
        if (lstat(buf_str(want), &st) == 0) {
            msg_warn("%s: %s is also in %s: left alone", name, path,
                     buf_str(want));
        } else if (ps_make_parents(buf_str(want), root_len) == 0) {
            if (rename(path, buf_str(want)) < 0) {
                msg_warn("rename %s to %s: %s", path, buf_str(want),
                         strerror(errno));
            } else {
                msg_info("%s: moved from %s to %s", name, path, buf_str(want));
                fix->moved++;
            }
        }
    }
    buf_free(want);
}

/* Walk DIR (LEVEL folders below QUEUE's own) and fix what is misplaced. */
static void ps_walk(const char *queue, const char *dir, int level, int depth,
                    size_t root_len, struct ps_fix *fix)
{
    DIR *d = opendir(dir);
    struct argv *names = argv_new(16);
    struct buf *path = buf_new(64);
    struct dirent *de;
    struct stat st;
    size_t i;

    if (d == NULL) {
        msg_warn("open folder %s: %s", dir, strerror(errno));
        goto out;
    }
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            argv_add(names, de->d_name);
    (void) closedir(d);
    for (i = 0; i < names->argc; i++) {
        const char *name = names->argv[i];

        buf_setf(path, "%s/%s", dir, name);
        if (lstat(buf_str(path), &st) < 0)
            continue; /* gone meanwhile */
        if (S_ISDIR(st.st_mode) && strlen(name) == 1 && level < PS_WALK_MAX) {
            ps_walk(queue, buf_str(path), level + 1, depth, root_len, fix);
            if (level + 1 > depth && rmdir(buf_str(path)) == 0)
                fix->dirs++;
        } else if (S_ISREG(st.st_mode)
                   && (qf_name_valid(name) || qf_temp_name(name))) {
            ps_place(queue, buf_str(path), name, root_len, fix);
        } else {
            msg_warn("unexpected file %s: left alone", buf_str(path));
        }
    }
out:
    buf_free(path);
    argv_free(names);
}

/* Hash levels of QUEUE, from where qf_path puts a file. */
static int ps_depth(const char *queue)
{
    struct buf *id = buf_new(32);
    struct buf *path = buf_new(64);
    const char *cp;
    int slashes = 0;

    queue_id_format(id, 0, 0, 0);
    qf_path(path, queue, buf_str(id));
    for (cp = buf_str(path) + strlen(var_queue_directory); *cp; cp++)
        slashes += *cp == '/';
    buf_free(id);
    buf_free(path);
    return slashes - 2; /* "/queue" and "/ID" */
}

/* Does a queue file for ID exist in any message queue? */
static int ps_has_message(const char *id)
{
    struct buf *path = buf_new(64);
    struct stat st;
    int pass;
    size_t i;
    int found = 0;

    /* Twice: the queue manager may move the file between two looks. */
    for (pass = 0; pass < 2 && !found; pass++)
        for (i = 0; ps_msg_queues[i] != NULL && !found; i++) {
            qf_path(path, ps_msg_queues[i], id);
            found = lstat(buf_str(path), &st) == 0;
        }
    buf_free(path);
    return found;
}

static void ps_structure(void)
{
    struct ps_fix fix = {0, 0, 0};
    struct buf *dir = buf_new(64);
    struct buf *name = buf_new(32);
    size_t root_len = strlen(var_queue_directory) + 1;
    size_t i;

    for (i = 0; ps_msg_queues[i] != NULL; i++) {
        buf_setf(dir, "%s/%s", var_queue_directory, ps_msg_queues[i]);
        ps_walk(ps_msg_queues[i], buf_str(dir), 0, ps_depth(ps_msg_queues[i]),
                root_len, &fix);
    }
    for (i = 0; ps_log_queues[i] != NULL; i++) {
        struct qf_scan *scan;
        struct argv *names = argv_new(16);
        size_t j;
        int got;

        buf_setf(dir, "%s/%s", var_queue_directory, ps_log_queues[i]);
        ps_walk(ps_log_queues[i], buf_str(dir), 0, ps_depth(ps_log_queues[i]),
                root_len, &fix);
        if ((scan = qf_scan_open(ps_log_queues[i], 0)) == NULL) {
            msg_warn("%s", qf_error());
            argv_free(names);
            continue;
        }
        while ((got = qf_scan_next(scan, name)) > 0)
            argv_add(names, buf_str(name));
        if (got < 0)
            msg_warn("%s", qf_error());
        qf_scan_close(scan);
        for (j = 0; j < names->argc; j++) {
            if (ps_has_message(names->argv[j]))
                continue;
            if (qf_remove(ps_log_queues[i], names->argv[j]) == 0) {
                msg_info("%s: removed %s log without a queue file",
                         names->argv[j], ps_log_queues[i]);
                fix.stale++;
            } else if (qf_reason() != QF_ERR_GONE) {
                msg_warn("%s", qf_error());
            }
        }
        argv_free(names);
    }
    if (fix.moved)
        ps_report("Moved to the right folder", fix.moved, "file");
    if (fix.stale)
        ps_report("Removed stale logs", fix.stale, "file");
    if (fix.dirs)
        ps_report("Removed unneeded folders", fix.dirs, "folder");
    buf_free(dir);
    buf_free(name);
}

/* ---- -p -------------------------------------------------------------------
 */

static void ps_purge(void)
{
    struct buf *name = buf_new(32);
    struct buf *path = buf_new(64);
    time_t limit = time(NULL) - PS_TEMP_AGE;
    long count = 0;
    size_t i;

    for (i = 0; ps_msg_queues[i] != NULL; i++) {
        struct qf_scan *scan = qf_scan_open(ps_msg_queues[i], QF_SCAN_TEMP);
        struct argv *names = argv_new(4);
        struct stat st;
        size_t j;
        int got;

        if (scan == NULL) {
            msg_warn("%s", qf_error());
            argv_free(names);
            continue;
        }
        while ((got = qf_scan_next(scan, name)) > 0)
            argv_add(names, buf_str(name));
        if (got < 0)
            msg_warn("%s", qf_error());
        qf_scan_close(scan);
        for (j = 0; j < names->argc; j++) {
            qf_path(path, ps_msg_queues[i], names->argv[j]);
            if (lstat(buf_str(path), &st) < 0 || st.st_mtime >= limit)
                continue;
            if (qf_remove(ps_msg_queues[i], names->argv[j]) == 0) {
                msg_info("%s/%s: removed old temporary file", ps_msg_queues[i],
                         names->argv[j]);
                count++;
            } else if (qf_reason() != QF_ERR_GONE) {
                msg_warn("%s", qf_error());
            }
        }
        argv_free(names);
    }
    ps_report("Deleted", count, "temporary file");
    buf_free(name);
    buf_free(path);
}

/* ---- main -------------------------------------------------------------------
 */

int main(int argc, char **argv)
{
    struct argv *ids[PS_NOPS];
    const char *opt_c = NULL;
    int structure = 0;
    int purge = 0;
    int any = 0;
    int ch;
    int op;

    msg_init("postsuper", MSG_STDERR);
    if (getuid() != 0)
        msg_fatal("use of this command is reserved for the superuser");
    for (op = 0; op < PS_NOPS; op++)
        ids[op] = argv_new(4);
    while ((ch = getopt(argc, argv, "c:d:h:H:r:psSve:f:")) != -1) {
        switch (ch) {
        case 'c':
            opt_c = optarg;
            break;
        case 'd':
            argv_add(ids[PS_DELETE], optarg);
            break;
        case 'h':
            argv_add(ids[PS_HOLD], optarg);
            break;
        case 'H':
            argv_add(ids[PS_RELEASE], optarg);
            break;
        case 'r':
            argv_add(ids[PS_REQUEUE], optarg);
            break;
        case 'p':
            purge = 1;
            break;
        case 's':
        case 'S':
            structure = 1;
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'e':
        case 'f':
            msg_fatal("option -%c (forced expiration) is not supported", ch);
        default:
            msg_fatal(USAGE);
        }
    }
    for (op = 0; op < PS_NOPS; op++)
        any |= ids[op]->argc > 0;
    if (!any && !purge)
        structure = 1;
    for (ch = optind; ch < argc; ch++)
        if (!ps_queue_ok(argv[ch]))
            msg_fatal("invalid directory name: %s", argv[ch]);

    config_load(config_choose_dir(opt_c));
    params_load();
    msg_set_syslog_name(var_syslog_name);
    if (*var_maillog_file && msg_set_logfile(var_maillog_file) < 0)
        msg_warn("cannot open %s: %s", var_maillog_file, strerror(errno));
    /*
     * The queue is mail_owner's: work as mail_owner, so that every folder
     * and file made here belongs to it and the daemons can use them.
     */
    {
        struct buf *err = buf_new(64);
        uid_t uid;
        gid_t gid;

        if (privs_lookup(var_mail_owner, &uid, &gid, err) < 0
            || privs_drop(uid, gid, err) < 0)
            msg_fatal("%s", buf_str(err));
        buf_free(err);
    }
    qf_set_root(var_queue_directory);

    if (structure)
        ps_structure();
    if (purge)
        ps_purge();
    for (op = 0; op < PS_NOPS; op++) {
        struct argv *queues;
        long count;
        int i;

        if (ids[op]->argc == 0)
            continue;
        if (optind < argc) {
            queues = argv_new(4);
            for (i = optind; i < argc; i++)
                argv_add(queues, argv[i]);
        } else {
            queues = argv_split(ps_ops[op].defaults, " ");
        }
        count = ps_run((enum ps_op) op, ids[op], queues);
        ps_report(ps_ops[op].report, count, "message");
        if (op == PS_REQUEUE && count > 0) {
            char req = QMGR_REQ_SCAN_INCOMING;

            /* qmgr scans incoming/ on its own too: only a hurry-up. */
            if (mail_trigger(MAIL_CLASS_PUBLIC, MAIL_SERVICE_QMGR, &req, 1) < 0
                && msg_verbose)
                msg_info("%s", mail_proto_error());
        }
        argv_free(queues);
    }
    for (op = 0; op < PS_NOPS; op++)
        argv_free(ids[op]);
    return 0;
}
