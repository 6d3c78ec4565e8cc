/*
 * privs.h - chroot and a permanent drop of root privileges.
 *
 * Called by the daemon skeleton (lib/daemon.c) between opening root-only
 * resources and serving: look the account up while /etc/passwd is still
 * reachable, chroot, then drop to that account for good and verify that
 * root cannot be regained. Other programs that must give up root (local
 * delivery to a recipient) may use the same calls.
 *
 * Errors: every function returns 0, or -1 with a one-line reason in ERR
 * ("unknown mail_owner account \"x\"", "chroot /var/spool/postern:
 * Permission denied", "privilege drop failed: the process could set its
 * user ID back to 0"). Nothing here exits; the skeleton makes a failure
 * fatal.
 */
#ifndef POSTERN_PRIVS_H
#define POSTERN_PRIVS_H

#include <sys/types.h>

struct buf;

/*
 * The user and primary group IDs of account USER. An account with user or
 * group ID 0 is refused (the mail system never "drops" to root).
 */
int privs_lookup(const char *user, uid_t *uid, gid_t *gid, struct buf *err);

/* chroot to DIR and make "/" (DIR) the working directory. */
int privs_chroot(const char *dir, struct buf *err);

/*
 * Become UID/GID for good: supplementary groups become just GID, then the
 * real, effective and saved group IDs, then the user IDs; finally
 * privs_verify_dropped(). Must run as root unless the process already is
 * exactly UID/GID.
 */
int privs_drop(uid_t uid, gid_t gid, struct buf *err);

/*
 * Check that every user ID is UID, every group ID is GID, no other group
 * is held, and that neither setuid(0), seteuid(0), setgid(0) nor
 * setegid(0) succeeds.
 */
int privs_verify_dropped(uid_t uid, gid_t gid, struct buf *err);

#endif
