/*
 * privs.c - chroot and a permanent drop of root privileges (see privs.h).
 *
 * Called by the daemon skeleton before it serves. Errors are returned as
 * -1 with a reason in the caller's buffer; nothing here logs or exits.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"
#include "privs.h"

int privs_lookup(const char *user, uid_t *uid, gid_t *gid, struct buf *err)
{
    struct passwd *pw;

    errno = 0;
    pw = getpwnam(user);
    if (pw == NULL) {
        if (errno != 0 && errno != ENOENT && errno != ESRCH)
            buf_setf(err, "look up account \"%s\": %s", user, strerror(errno));
        else
            buf_setf(err, "unknown account \"%s\"", user);
        return -1;
    }
    if (pw->pw_uid == 0 || pw->pw_gid == 0) {
        buf_setf(err, "account \"%s\" has user or group ID 0", user);
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

int privs_chroot(const char *dir, struct buf *err)
{
    if (chdir(dir) < 0) {
        buf_setf(err, "chdir %s: %s", dir, strerror(errno));
        return -1;
    }
    if (chroot(".") < 0) {
        buf_setf(err, "chroot %s: %s", dir, strerror(errno));
        return -1;
    }
    if (chdir("/") < 0) {
        buf_setf(err, "chdir / in %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int privs_drop(uid_t uid, gid_t gid, struct buf *err)
{
    if (uid == 0 || gid == 0) {
        buf_setf(err,
                 "refusing to drop privileges to user ID %ld, group ID %ld",
                 (long) uid, (long) gid);
        return -1;
    }
    if (geteuid() == 0) {
        if (setgroups(1, &gid) < 0) {
            buf_setf(err, "setgroups(%ld): %s", (long) gid, strerror(errno));
            return -1;
        }
        if (setresgid(gid, gid, gid) < 0) {
            buf_setf(err, "setresgid(%ld): %s", (long) gid, strerror(errno));
            return -1;
        }
        if (setresuid(uid, uid, uid) < 0) {
            buf_setf(err, "setresuid(%ld): %s", (long) uid, strerror(errno));
            return -1;
        }
    }
    return privs_verify_dropped(uid, gid, err);
}

int privs_verify_dropped(uid_t uid, gid_t gid, struct buf *err)
{
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    gid_t *groups;
    int ngroups;
    int i;

    if (getresuid(&ruid, &euid, &suid) < 0
        || getresgid(&rgid, &egid, &sgid) < 0) {
        buf_setf(err, "privilege check: %s", strerror(errno));
        return -1;
    }
    if (ruid != uid || euid != uid || suid != uid) {
        buf_setf(err,
                 "privilege drop failed: user IDs are %ld/%ld/%ld, not %ld",
                 (long) ruid, (long) euid, (long) suid, (long) uid);
        return -1;
    }
    if (rgid != gid || egid != gid || sgid != gid) {
        buf_setf(err,
                 "privilege drop failed: group IDs are %ld/%ld/%ld, not %ld",
                 (long) rgid, (long) egid, (long) sgid, (long) gid);
        return -1;
    }
    ngroups = getgroups(0, NULL);
    if (ngroups < 0) {
        buf_setf(err, "privilege check: getgroups: %s", strerror(errno));
        return -1;
    }
    if (ngroups > 0) {
        groups = mem_calloc((size_t) ngroups, sizeof(*groups));
        ngroups = getgroups(ngroups, groups);
        for (i = 0; i < ngroups; i++) {
            if (groups[i] != gid) {
                buf_setf(err, "privilege drop failed: still in group %ld",
                         (long) groups[i]);
                mem_free(groups);
                return -1;
            }
        }
        mem_free(groups);
        if (ngroups < 0) {
            buf_setf(err, "privilege check: getgroups: %s", strerror(errno));
            return -1;
        }
    }
    /* Each of these must fail: success means root could come back. */
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        buf_setf(
            err,
            "privilege drop failed: the process could set its user ID back to 0");
        return -1;
    }
    if (gid != 0 && (setgid(0) == 0 || setegid(0) == 0)) {
        buf_setf(
            err,
            "privilege drop failed: the process could set its group ID back to 0");
        return -1;
    }
    return 0;
}
