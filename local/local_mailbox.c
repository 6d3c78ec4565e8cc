/*
 * local_mailbox.c - delivery into mailboxes and files: mbox files in
 * mail_spool_directory or $home/$home_mailbox, maildirs (tmp/ then new/),
 * and the /file/name destinations of aliases and .forward files.
 *
 * Privileges: the process runs as root. A mailbox in mail_spool_directory
 * (a root-owned folder) is opened, created (0600, then given to the user)
 * and dot-locked as root, with O_NOFOLLOW and checks that it is a plain
 * file with one link owned by the user; everything else (home mailboxes,
 * maildirs, /files) is opened with the effective user and group IDs of
 * the recipient (or of default_privs for aliases). The message is always
 * written with the recipient's effective IDs. Before success is reported
 * the data is fsynced; a failed write truncates the mbox back to its old
 * size, so no half message stays behind.
 *
 * Locks (mailbox_delivery_lock): fcntl, flock, dotlock; each is tried
 * deliver_lock_attempts times, deliver_lock_delay apart; a dot-lock older
 * than stale_lock_time is removed. A lock that cannot be had defers.
 *
 * Called by local.c and local_alias.c; outcomes go to local_outcome().
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "local.h"
#include "maps.h"
#include "msg.h"
#include "params.h"
#include "record.h"

int local_set_eugid(uid_t uid, gid_t gid)
{
    if (geteuid() != 0 && seteuid(0) < 0)
        return -1;
    if (setgroups(1, &gid) < 0 || setegid(gid) < 0)
        return -1;
    if (uid != 0 && seteuid(uid) < 0)
        return -1;
    return 0;
}

void local_restore_eugid(void)
{
    gid_t root_gid = 0;

    if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(1, &root_gid) < 0)
        msg_fatal("cannot restore root privileges: %m");
}

/* ---- locks ------------------------------------------------------------ */

struct local_lock {
    struct buf *dotlock; /* path of the dot-lock we made, or empty */
};

/* Make PATH.lock. 0, 1 (may not: ignored), -1 (ERR). */
static int local_dotlock(const char *path, struct buf *lockpath, int may_fail,
                         struct buf *err)
{
    int i, fd;
    struct stat sb;

    buf_setf(lockpath, "%s.lock", path);
    for (i = 0; i < var_deliver_lock_attempts; i++) {
        if (i > 0)
            sleep((unsigned) var_deliver_lock_delay);
        fd = open(buf_str(lockpath),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (errno != EEXIST) {
            if (may_fail
                && (errno == EACCES || errno == EPERM || errno == EROFS)) {
                buf_reset(lockpath);
                return 1;
            }
            break;
        }
        if (lstat(buf_str(lockpath), &sb) == 0
            && time(NULL) - sb.st_mtime > var_stale_lock_time) {
            msg_warn("%s: removing stale lock file", buf_str(lockpath));
            (void) unlink(buf_str(lockpath));
            i--;
            continue;
        }
        errno = EEXIST;
    }
    buf_setf(err, "unable to create lock file %s: %s", buf_str(lockpath),
             strerror(errno));
    buf_reset(lockpath);
    return -1;
}

/* Kernel locks on FD as mailbox_delivery_lock says. 0 / -1 (ERR). */
static int local_kernel_lock(int fd, struct buf *err)
{
    int use_fcntl = maps_feature_listed(var_mailbox_delivery_lock, "fcntl");
    int use_flock = maps_feature_listed(var_mailbox_delivery_lock, "flock");
    int i;

    for (i = 0; i < var_deliver_lock_attempts; i++) {
        int ok = 1;

        if (i > 0)
            sleep((unsigned) var_deliver_lock_delay);
        if (use_fcntl) {
            struct flock fl;

            memset(&fl, 0, sizeof(fl));
            fl.l_type = F_WRLCK;
            fl.l_whence = SEEK_SET;
            if (fcntl(fd, F_SETLK, &fl) < 0)
                ok = 0;
        }
        if (ok && use_flock && flock(fd, LOCK_EX | LOCK_NB) < 0)
            ok = 0;
        if (ok)
            return 0;
        if (errno != EAGAIN && errno != EACCES && errno != EWOULDBLOCK)
            break;
    }
    buf_setf(err, "unable to lock for exclusive access: %s", strerror(errno));
    return -1;
}

/* ---- mbox ------------------------------------------------------------- */

/*
 * Append the message to the mbox PATH for UID/GID. OPEN_AS_ROOT: open
 * and dot-lock with root privileges (the spool folder). WHAT: "mailbox"
 * or "file"; OK_TEXT the reason on success.
 */
/*
 * Report a mailbox, maildir or file write: OK_TEXT when it worked, else
 * deferred (4.x.x DSN) or bounced with Postfix's texts: "cannot update
 * mailbox PATH for user U. WHY" for a mailbox (WHAT "mailbox"), else
 * "FAILED PATH: WHY".
 */
static void local_write_outcome(struct local_state *st, int ok,
                                const char *ok_text, const char *what,
                                const char *path, const char *dsn,
                                const char *failed, const char *why)
{
    int action = dsn[0] == '4' ? REC_ACTION_DEFERRED : REC_ACTION_BOUNCED;

    if (ok)
        local_outcome(st, REC_ACTION_DELIVERED, "2.0.0", "%s", ok_text);
    else if (strcmp(what, "mailbox") == 0)
        local_outcome(st, action, dsn,
                      "cannot update mailbox %s for user %s. %s", path,
                      st->user ? st->user : "", why);
    else
        local_outcome(st, action, dsn, "%s %s: %s", failed, path, why);
}

static void local_mbox(struct local_state *st, const char *path, uid_t uid,
                       gid_t gid, int open_as_root, const char *what,
                       const char *ok_text)
{
    int dotlock = maps_feature_listed(var_mailbox_delivery_lock, "dotlock");
    int may_fail = strcmp(what, "file") == 0;
    struct buf *lockpath = buf_new(64);
    struct buf *err = buf_new(128);
    struct buf *why = buf_new(128);
    const char *dsn = "4.2.0";
    int fd = -1, created = 0, r, ok = 0;
    long long start = 0;
    struct stat sb;

    if (!open_as_root && local_set_eugid(uid, gid) < 0) {
        buf_setf(why, "cannot switch to uid %ld: %s", (long) uid,
                 strerror(errno));
        dsn = "4.3.0";
        goto done;
    }
    if (dotlock && local_dotlock(path, lockpath, may_fail, err) < 0) {
        buf_set(why, buf_str(err));
        goto done;
    }
    fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path,
                  O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW
                      | O_CLOEXEC | O_NONBLOCK,
                  0600);
        created = fd >= 0;
    }
    if (fd < 0) {
        buf_setf(why, "cannot open file: %s", strerror(errno));
        if (errno == EACCES || errno == ELOOP || errno == EISDIR)
            dsn = "5.2.0";
        goto done;
    }
    if (fstat(fd, &sb) < 0) {
        buf_setf(why, "cannot fstat: %s", strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        buf_setf(why, "destination %s is not a regular file", path);
        dsn = "5.2.0";
        goto done;
    }
    if (sb.st_nlink != 1) {
        buf_setf(why, "destination %s has %ld hard links", path,
                 (long) sb.st_nlink);
        dsn = "5.2.0";
        goto done;
    }
    if (created && open_as_root && fchown(fd, uid, gid) < 0) {
        buf_setf(why, "cannot set the owner of %s: %s", path, strerror(errno));
        goto done;
    }
    if (!created && open_as_root && var_strict_mailbox_ownership
        && sb.st_uid != uid) {
        buf_setf(why, "destination %s is owned by uid %ld, not by uid %ld",
                 path, (long) sb.st_uid, (long) uid);
        dsn = "5.2.0";
        goto done;
    }
    (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (local_kernel_lock(fd, err) < 0) {
        buf_set(why, buf_str(err));
        goto done;
    }
    if (open_as_root && local_set_eugid(uid, gid) < 0) {
        buf_setf(why, "cannot switch to uid %ld: %s", (long) uid,
                 strerror(errno));
        goto done;
    }
    if ((start = lseek(fd, 0, SEEK_END)) < 0) {
        buf_setf(why, "cannot seek: %s", strerror(errno));
        goto done;
    }
    r = local_copy(
        st, fd,
        may_fail && !maps_feature_listed(var_prepend_delivered_header, "file")
            ? LOCAL_COPY_MBOX & ~LOCAL_COPY_DELIVERED
            : LOCAL_COPY_MBOX,
        start, var_mailbox_size_limit, err);
    if (r == LOCAL_COPY_OK && fsync(fd) < 0) {
        buf_setf(err, "error writing message: %s", strerror(errno));
        r = LOCAL_COPY_EWRITE;
    }
    if (r != LOCAL_COPY_OK) {
        int saved = errno;

        if (ftruncate(fd, start) < 0)
            msg_warn("%s: cannot truncate to %lld bytes: %m", path, start);
        buf_set(why, buf_str(err));
        dsn = r == LOCAL_COPY_EREAD ? "4.3.0" : local_copy_dsn(saved);
        goto done;
    }
    ok = 1;
done:
    if (fd >= 0)
        close(fd); /* releases the kernel locks */
    local_restore_eugid();
    if (buf_len(lockpath)) {
        if (!open_as_root)
            (void) local_set_eugid(uid, gid);
        if (unlink(buf_str(lockpath)) < 0)
            msg_warn("cannot remove lock file %s: %m", buf_str(lockpath));
        local_restore_eugid();
    }
    local_write_outcome(st, ok, ok_text, what, path, dsn,
                        "cannot append message to file", buf_str(why));
    buf_free(lockpath);
    buf_free(err);
    buf_free(why);
}

/* ---- maildir ---------------------------------------------------------- */

static int local_mkdir(const char *path)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* The host name as maildir file names want it: '/' and ':' escaped. */
static void local_maildir_host(struct buf *out)
{
    char host[256];
    const char *p;

    if (gethostname(host, sizeof(host)) < 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = 0;
    for (p = host; *p; p++) {
        if (*p == '/')
            buf_puts(out, "\\057");
        else if (*p == ':')
            buf_puts(out, "\\072");
        else
            buf_putc(out, *p);
    }
}

void local_deliver_maildir(struct local_state *st, const char *dir, uid_t uid,
                           gid_t gid, const char *what)
{
    static unsigned counter;
    struct buf *base = buf_new(128);
    struct buf *name = buf_new(128);
    struct buf *tmp = buf_new(128);
    struct buf *newp = buf_new(128);
    struct buf *err = buf_new(128);
    struct buf *why = buf_new(128);
    const char *dsn = "4.2.0";
    struct timeval tv;
    int fd = -1, r, ok = 0;

    buf_set(base, dir);
    while (buf_len(base) > 1 && buf_str(base)[buf_len(base) - 1] == '/')
        buf_truncate(base, buf_len(base) - 1);
    if (local_set_eugid(uid, gid) < 0) {
        buf_setf(why, "cannot switch to uid %ld: %s", (long) uid,
                 strerror(errno));
        goto done;
    }
    buf_setf(tmp, "%s/tmp", buf_str(base));
    buf_setf(newp, "%s/new", buf_str(base));
    buf_setf(name, "%s/cur", buf_str(base));
    if (local_mkdir(buf_str(base)) < 0 || local_mkdir(buf_str(tmp)) < 0
        || local_mkdir(buf_str(newp)) < 0 || local_mkdir(buf_str(name)) < 0) {
        buf_setf(why, "create maildir file %s: %s", buf_str(base),
                 strerror(errno));
        if (errno == EACCES)
            dsn = "5.2.0";
        goto done;
    }
    gettimeofday(&tv, NULL);
    buf_setf(name, "%ld.M%ldP%ldQ%u.", (long) tv.tv_sec, (long) tv.tv_usec,
             (long) getpid(), ++counter);
    local_maildir_host(name);
    buf_setf(tmp, "%s/tmp/%s", buf_str(base), buf_str(name));
    buf_setf(newp, "%s/new/%s", buf_str(base), buf_str(name));
    fd = open(buf_str(tmp),
              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        buf_setf(why, "create maildir file %s: %s", buf_str(tmp),
                 strerror(errno));
        goto done;
    }
    r = local_copy(st, fd,
                   LOCAL_COPY_RETURN | LOCAL_COPY_ORIG | LOCAL_COPY_DELIVERED,
                   0, var_mailbox_size_limit, err);
    if (r == LOCAL_COPY_OK && fsync(fd) < 0) {
        buf_setf(err, "error writing message: %s", strerror(errno));
        r = LOCAL_COPY_EWRITE;
    }
    if (close(fd) < 0 && r == LOCAL_COPY_OK) {
        buf_setf(err, "error writing message: %s", strerror(errno));
        r = LOCAL_COPY_EWRITE;
    }
    fd = -1;
    if (r != LOCAL_COPY_OK) {
        int saved = errno;

        (void) unlink(buf_str(tmp));
        buf_set(why, buf_str(err));
        dsn = r == LOCAL_COPY_EREAD ? "4.3.0" : local_copy_dsn(saved);
        goto done;
    }
    if (rename(buf_str(tmp), buf_str(newp)) < 0) {
        buf_setf(why, "create maildir file %s: %s", buf_str(newp),
                 strerror(errno));
        (void) unlink(buf_str(tmp));
        goto done;
    }
    buf_setf(tmp, "%s/new", buf_str(base));
    if ((fd = open(buf_str(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        (void) fsync(fd);
        close(fd);
        fd = -1;
    }
    ok = 1;
done:
    if (fd >= 0)
        close(fd);
    local_restore_eugid();
    local_write_outcome(st, ok, "delivered to maildir", what, dir, dsn,
                        "cannot deliver to maildir", buf_str(why));
    buf_free(base);
    buf_free(name);
    buf_free(tmp);
    buf_free(newp);
    buf_free(err);
    buf_free(why);
}

/* ---- the user's mailbox and /files -------------------------------------- */

void local_deliver_mailbox(struct local_state *st)
{
    struct buf *path = buf_new(128);
    struct buf *err = buf_new(64);
    size_t n;

    if (local_dup(st, "mailbox", st->user))
        goto out;
    /* mailbox_command_maps: a per-user command, else mailbox_command. */
    buf_set(err, var_mailbox_command);
    if (local_g.mbox_cmd_maps != NULL) {
        struct buf *value = buf_new(64);

        switch (maps_find(local_g.mbox_cmd_maps, st->user, 0, value)) {
        case LOOKUP_FOUND:
            buf_set(err, buf_str(value));
            break;
        case LOOKUP_NOTFOUND:
            break;
        default:
            msg_warn("%s", maps_error(local_g.mbox_cmd_maps));
            local_outcome(st, REC_ACTION_DEFERRED, "4.3.0",
                          "mailbox_command_maps lookup failure");
            buf_free(value);
            goto out;
        }
        buf_free(value);
    }
    if (buf_len(err)) {
        struct buf *cmd = buf_new(64);

        buf_set(cmd, buf_str(err));
        buf_reset(err);
        if (local_expand(path, buf_str(cmd), st, var_command_expansion_filter,
                         err)
            < 0) {
            msg_warn("bad mailbox_command: %s", buf_str(err));
            local_outcome(st, REC_ACTION_DEFERRED, "4.3.5",
                          "mail system configuration error");
            buf_free(cmd);
            goto out;
        }
        buf_free(cmd);
        local_deliver_command(st, buf_str(path), st->uid, st->gid,
                              "mailbox_command");
        goto out;
    }
    if (*var_home_mailbox) {
        buf_setf(path, "%s/%s", st->home, var_home_mailbox);
        if (buf_str(path)[buf_len(path) - 1] == '/')
            local_deliver_maildir(st, buf_str(path), st->uid, st->gid,
                                  "mailbox");
        else
            local_mbox(st, buf_str(path), st->uid, st->gid, 0, "mailbox",
                       "delivered to mailbox");
        goto out;
    }
    buf_set(path, var_mail_spool_directory);
    n = buf_len(path);
    if (n > 0 && buf_str(path)[n - 1] == '/') {
        /* A maildir per user in a root-owned spool: made for the user. */
        buf_puts(path, st->user);
        if (mkdir(buf_str(path), 0700) == 0) {
            if (chown(buf_str(path), st->uid, st->gid) < 0)
                msg_warn("chown %s: %m", buf_str(path));
        }
        buf_putc(path, '/');
        local_deliver_maildir(st, buf_str(path), st->uid, st->gid, "mailbox");
    } else {
        buf_printf(path, "/%s", st->user);
        local_mbox(st, buf_str(path), st->uid, st->gid, 1, "mailbox",
                   "delivered to mailbox");
    }
out:
    buf_free(path);
    buf_free(err);
}

void local_deliver_file(struct local_state *st, const char *path)
{
    struct buf *ok = buf_new(64);
    /* Never as root: root's file deliveries use default_privs. */
    uid_t uid = st->uid ? st->uid : local_g.nobody_uid;
    gid_t gid = st->uid ? st->gid : local_g.nobody_gid;

    if (path[strlen(path) - 1] == '/') {
        local_deliver_maildir(st, path, uid, gid, "file");
    } else {
        buf_setf(ok, "delivered to file: %s", path);
        local_mbox(st, path, uid, gid, 0, "file", buf_str(ok));
    }
    buf_free(ok);
}
