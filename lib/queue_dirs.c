/*
 * queue_dirs.c - the queue_directory folder table and its check and
 * repair (see queue_dirs.h).
 *
 * Callers: postern check, start and set-permissions. Every change is made
 * through a descriptor opened with O_NOFOLLOW (or an *at() call with
 * AT_SYMLINK_NOFOLLOW), so a symbolic link planted in the queue cannot
 * redirect a chown or chmod done as root to some other file.
 * Errors: reported through the caller's function; nothing exits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "queue_dirs.h"

const struct queue_dir queue_dirs[] = {
    {"", 0755, QUEUE_DIR_ROOT, QUEUE_DIR_GROUP_ANY, 0},
    {"pid", 0755, QUEUE_DIR_ROOT, QUEUE_DIR_GROUP_ANY, 0},
    {"maildrop", 01730, QUEUE_DIR_MAIL_OWNER, QUEUE_DIR_GROUP_SETGID, 0},
    {"public", 0710, QUEUE_DIR_MAIL_OWNER, QUEUE_DIR_GROUP_SETGID, 0},
    {"private", 0700, QUEUE_DIR_MAIL_OWNER, QUEUE_DIR_GROUP_ANY, 0},
    {"incoming", 0700, QUEUE_DIR_MAIL_OWNER, QUEUE_DIR_GROUP_ANY, 1},
    {"active", 0700, QUEUE_DIR_MAIL_OWNER, QUEUE_DIR_GROUP_ANY, 1},
    {"deferred", 0700, QUEUE_DIR_MAIL_OWNER, QUEUE_DIR_GROUP_ANY, 1},
    {"hold", 0700, QUEUE_DIR_MAIL_OWNER, QUEUE_DIR_GROUP_ANY, 1},
    {"corrupt", 0700, QUEUE_DIR_MAIL_OWNER, QUEUE_DIR_GROUP_ANY, 1},
    {"bounce", 0700, QUEUE_DIR_MAIL_OWNER, QUEUE_DIR_GROUP_ANY, 1},
    {"defer", 0700, QUEUE_DIR_MAIL_OWNER, QUEUE_DIR_GROUP_ANY, 1},
    {"trace", 0700, QUEUE_DIR_MAIL_OWNER, QUEUE_DIR_GROUP_ANY, 1},
};

const size_t queue_dir_count = sizeof(queue_dirs) / sizeof(queue_dirs[0]);

/* Queue folders are hashed at most a few levels deep; stop a runaway. */
#define QUEUE_DIRS_MAX_DEPTH 16

struct qd_state {
    int flags;
    queue_dirs_report_fn report;
    void *context;
    int problems;
    struct buf *text;
    const char *owner_name;
    const char *group_name;
    int quiet; /* do not report repairs (of a new folder) */
};

static void qd_report(struct qd_state *st, enum queue_dirs_event event)
{
    if (event != QUEUE_DIRS_DONE)
        st->problems++;
    else if (st->quiet)
        return;
    st->report(event, buf_str(st->text), st->context);
}

/* Compare one object's owner with UID; report, or repair when asked. */
static void qd_fix_owner(struct qd_state *st, int dirfd, const char *name,
                         const struct stat *sb, uid_t uid, const char *path)
{
    if (sb->st_uid == uid)
        return;
    if (st->flags & QUEUE_DIRS_FIX) {
        int ret =
            name ? fchownat(dirfd, name, uid, (gid_t) -1, AT_SYMLINK_NOFOLLOW)
                 : fchown(dirfd, uid, (gid_t) -1);

        if (ret == 0) {
            buf_setf(st->text, "set owner %s: %s", st->owner_name, path);
            qd_report(st, QUEUE_DIRS_DONE);
        } else {
            buf_setf(st->text, "chown %s: %s", path, strerror(errno));
            qd_report(st, QUEUE_DIRS_FAILED);
        }
        return;
    }
    buf_setf(st->text, "not owned by %s: %s", st->owner_name, path);
    qd_report(st, QUEUE_DIRS_PROBLEM);
}

/* Everything below a queue folder belongs to mail_owner. */
static void qd_walk(struct qd_state *st, int dirfd, const char *path, uid_t uid,
                    int depth)
{
    struct buf *child;
    DIR *dir;
    struct dirent *de;
    int fd;

    if (depth > QUEUE_DIRS_MAX_DEPTH) {
        buf_setf(st->text, "folders nested too deep, not checked: %s", path);
        qd_report(st, QUEUE_DIRS_PROBLEM);
        return;
    }
    fd = dup(dirfd);
    if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
        buf_setf(st->text, "open %s: %s", path, strerror(errno));
        qd_report(st, QUEUE_DIRS_FAILED);
        if (fd >= 0)
            close(fd);
        return;
    }
    child = buf_new(256);
    while ((errno = 0, de = readdir(dir)) != NULL) {
        struct stat sb;
        int sub;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        buf_setf(child, "%s/%s", path, de->d_name);
        if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) /* delivered while we looked */
                continue;
            buf_setf(st->text, "stat %s: %s", buf_str(child), strerror(errno));
            qd_report(st, QUEUE_DIRS_FAILED);
            continue;
        }
        qd_fix_owner(st, dirfd, de->d_name, &sb, uid, buf_str(child));
        if (!S_ISDIR(sb.st_mode))
            continue;
        sub = openat(dirfd, de->d_name,
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            if (errno == ENOENT)
                continue;
            buf_setf(st->text, "open %s: %s", buf_str(child), strerror(errno));
            qd_report(st, QUEUE_DIRS_FAILED);
            continue;
        }
        qd_walk(st, sub, buf_str(child), uid, depth + 1);
        close(sub);
    }
    if (errno != 0) {
        buf_setf(st->text, "read %s: %s", path, strerror(errno));
        qd_report(st, QUEUE_DIRS_FAILED);
    }
    closedir(dir);
    buf_free(child);
}

/*
 * One table entry. Returns -1 when the folder is absent and stays absent
 * (the caller stops when that is queue_directory itself), else 0.
 */
static int qd_one(struct qd_state *st, const struct queue_dir *qd,
                  const char *path, uid_t uid, gid_t gid)
{
    struct stat sb;
    int created = 0;
    int saved_flags = st->flags;
    int fd;

    if (lstat(path, &sb) < 0) {
        if (errno != ENOENT) {
            buf_setf(st->text, "stat %s: %s", path, strerror(errno));
            qd_report(st, QUEUE_DIRS_FAILED);
            return -1;
        }
        if (!(st->flags & QUEUE_DIRS_CREATE)) {
            buf_setf(st->text, "missing directory: %s", path);
            qd_report(st, QUEUE_DIRS_PROBLEM);
            return -1;
        }
        /* Private until owner and mode are right. */
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            buf_setf(st->text, "mkdir %s: %s", path, strerror(errno));
            qd_report(st, QUEUE_DIRS_FAILED);
            return -1;
        }
        buf_setf(st->text, "created directory %s", path);
        qd_report(st, QUEUE_DIRS_DONE);
        created = 1;
    } else if (!S_ISDIR(sb.st_mode)) {
        buf_setf(st->text, "not a directory: %s", path);
        qd_report(st, QUEUE_DIRS_PROBLEM);
        return -1;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) < 0) {
        buf_setf(st->text, "open %s: %s", path, strerror(errno));
        qd_report(st, QUEUE_DIRS_FAILED);
        if (fd >= 0)
            close(fd);
        return -1;
    }

    /* A folder we just made is always put right, quietly. */
    if (created) {
        st->flags |= QUEUE_DIRS_FIX;
        st->quiet = 1;
    }
    qd_fix_owner(st, fd, NULL, &sb, uid, path);
    if (qd->group != QUEUE_DIR_GROUP_ANY && sb.st_gid != gid) {
        const char *gname =
            qd->group == QUEUE_DIR_GROUP_ROOT ? "root" : st->group_name;

        if (st->flags & QUEUE_DIRS_FIX) {
            if (fchown(fd, (uid_t) -1, gid) == 0) {
                buf_setf(st->text, "set group %s: %s", gname, path);
                qd_report(st, QUEUE_DIRS_DONE);
            } else {
                buf_setf(st->text, "chown %s: %s", path, strerror(errno));
                qd_report(st, QUEUE_DIRS_FAILED);
            }
        } else {
            buf_setf(st->text, "not owned by group %s: %s", gname, path);
            qd_report(st, QUEUE_DIRS_PROBLEM);
        }
    }
    /* After chown, which may clear set-id bits. */
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 07777) != qd->mode) {
        if (st->flags & QUEUE_DIRS_FIX) {
            if (fchmod(fd, qd->mode) == 0) {
                buf_setf(st->text, "set mode %04o: %s", (unsigned) qd->mode,
                         path);
                qd_report(st, QUEUE_DIRS_DONE);
            } else {
                buf_setf(st->text, "chmod %s: %s", path, strerror(errno));
                qd_report(st, QUEUE_DIRS_FAILED);
            }
        } else {
            buf_setf(st->text, "mode %04o should be %04o: %s",
                     (unsigned) (sb.st_mode & 07777), (unsigned) qd->mode,
                     path);
            qd_report(st, QUEUE_DIRS_PROBLEM);
        }
    }
    st->flags = saved_flags;
    st->quiet = 0;
    if (qd->walk)
        qd_walk(st, fd, path, uid, 1);
    close(fd);
    return 0;
}

int queue_dirs_apply(const char *queue_directory, const char *mail_owner,
                     const char *setgid_group, int flags,
                     queue_dirs_report_fn report, void *context)
{
    struct qd_state st;
    struct passwd *pw;
    struct group *gr;
    struct buf *path;
    uid_t owner_uid;
    gid_t setgid_gid;
    size_t i;

    memset(&st, 0, sizeof(st));
    st.flags = flags;
    st.report = report;
    st.context = context;
    st.text = buf_new(256);
    st.owner_name = mail_owner;
    st.group_name = setgid_group;

    if ((pw = getpwnam(mail_owner)) == NULL) {
        buf_setf(st.text, "mail_owner: unknown user: %s", mail_owner);
        qd_report(&st, QUEUE_DIRS_FAILED);
        buf_free(st.text);
        return -1;
    }
    owner_uid = pw->pw_uid;
    if ((gr = getgrnam(setgid_group)) == NULL) {
        buf_setf(st.text, "setgid_group: unknown group: %s", setgid_group);
        qd_report(&st, QUEUE_DIRS_FAILED);
        buf_free(st.text);
        return -1;
    }
    setgid_gid = gr->gr_gid;

    path = buf_new(256);
    for (i = 0; i < queue_dir_count; i++) {
        const struct queue_dir *qd = &queue_dirs[i];
        uid_t uid = qd->owner == QUEUE_DIR_ROOT ? 0 : owner_uid;
        gid_t gid = qd->group == QUEUE_DIR_GROUP_SETGID ? setgid_gid : 0;

        if (*qd->name)
            buf_setf(path, "%s/%s", queue_directory, qd->name);
        else
            buf_set(path, queue_directory);
        st.owner_name = qd->owner == QUEUE_DIR_ROOT ? "root" : mail_owner;
        if (qd_one(&st, qd, buf_str(path), uid, gid) < 0 && *qd->name == 0)
            break;
    }
    buf_free(path);
    buf_free(st.text);
    return st.problems;
}
