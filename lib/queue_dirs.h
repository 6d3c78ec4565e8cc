/*
 * queue_dirs.h - the one table of queue_directory folders, with the owner,
 * group and mode each must have, and the code that checks and repairs them.
 *
 * DESIGN.md section 4 names the folders; this table says who owns them:
 * queue_directory itself and pid/ belong to root, maildrop/ and public/
 * to mail_owner with group setgid_group (postdrop writes into maildrop/,
 * postqueue talks to public/), everything else to mail_owner alone. The
 * queue folders that hold queue files (incoming, active, deferred, ...)
 * are walked too: every file and subfolder in them belongs to mail_owner.
 *
 * Callers: `postern check` (report only, create what is missing),
 * `postern start` (create what is missing) and `postern set-permissions`
 * (create and repair); the install script writes the same values.
 * Errors: nothing here exits or logs. Every finding and every action goes
 * to the caller's report function as one line of text; queue_dirs_apply()
 * returns how many problems remain (0 when all is well) or -1 when
 * mail_owner or setgid_group does not exist.
 */
#ifndef POSTERN_QUEUE_DIRS_H
#define POSTERN_QUEUE_DIRS_H

#include <stddef.h>
#include <sys/types.h>

enum queue_dir_owner {
    QUEUE_DIR_ROOT,       /* root */
    QUEUE_DIR_MAIL_OWNER, /* $mail_owner */
};

enum queue_dir_group {
    QUEUE_DIR_GROUP_ANY,    /* not checked; new folders keep root's group */
    QUEUE_DIR_GROUP_ROOT,   /* group 0 */
    QUEUE_DIR_GROUP_SETGID, /* $setgid_group */
};

struct queue_dir {
    const char *name; /* relative to queue_directory; "" for itself */
    mode_t mode;      /* exact permission bits, sticky bit included */
    enum queue_dir_owner owner;
    enum queue_dir_group group;
    int walk; /* everything below belongs to the owner too */
};

/* The table, queue_directory itself first (it must exist before the rest). */
extern const struct queue_dir queue_dirs[];
extern const size_t queue_dir_count;

/* queue_dirs_apply() flags. */
#define QUEUE_DIRS_CREATE 0x1 /* create missing folders with owner and mode */
#define QUEUE_DIRS_FIX    0x2 /* repair wrong owners, groups and modes */

/* What a report line is about. */
enum queue_dirs_event {
    QUEUE_DIRS_DONE,    /* something was created or repaired */
    QUEUE_DIRS_PROBLEM, /* something is wrong and was left as it is */
    QUEUE_DIRS_FAILED,  /* a system call failed (create, chown, ...) */
};

typedef void (*queue_dirs_report_fn)(enum queue_dirs_event event,
                                     const char *text, void *context);

/*
 * Check every folder of the table under QUEUE_DIRECTORY against its owner,
 * group and mode (MAIL_OWNER and SETGID_GROUP are account names), and with
 * FLAGS create or repair. Symbolic links are never followed: a link where
 * a folder should be is a problem, not something to repair.
 *
 * Report texts, in Postfix's shapes where Postfix has one:
 *   "not owned by USER: PATH", "not owned by group GROUP: PATH",
 *   "mode 0755 should be 0700: PATH", "not a directory: PATH",
 *   "missing directory: PATH", "created directory PATH",
 *   "set owner USER: PATH", "set group GROUP: PATH",
 *   "set mode 0700: PATH", "mkdir PATH: reason" (and the like).
 * Returns the number of PROBLEM and FAILED reports, or -1 when an account
 * is unknown (also reported as FAILED).
 */
int queue_dirs_apply(const char *queue_directory, const char *mail_owner,
                     const char *setgid_group, int flags,
                     queue_dirs_report_fn report, void *context);

#endif
