/*
 * dict_unix.c - the unix: table type (the system's user and group lists).
 *
 * unix:passwd.byname answers a user name with the passwd(5) line
 * "name:passwd:uid:gid:gecos:dir:shell"; unix:group.byname answers a
 * group name with the group(5) line "name:passwd:gid:member,member".
 * Both go through getpwnam()/getgrnam(), so NSS sources count too. Keys
 * fold to lower case with DICT_FOLD_FIX (local_recipient_maps uses it).
 *
 * Callers: dict_open() via the registry (local_recipient_maps, postmap -q).
 * Errors: an unknown table name is NULL plus "unknown table: unix:NAME";
 * a failing name service is LOOKUP_ERR_TEMP with the reason in d->err.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "buf.h"
#include "dict.h"
#include "dict_impl.h"

/* errno values that getpwnam()/getgrnam() use for "no such entry". */
static int dict_unix_missing(int err)
{
    return err == 0 || err == ENOENT || err == ESRCH || err == EBADF
           || err == EPERM;
}

static enum lookup_status dict_unix_passwd(struct dict *d, const char *key,
                                           struct buf *value)
{
    struct passwd *pw;

    errno = 0;
    if ((pw = getpwnam(key)) == NULL) {
        if (dict_unix_missing(errno))
            return LOOKUP_NOTFOUND;
        buf_setf(d->err, "getpwnam: %s", strerror(errno));
        return LOOKUP_ERR_TEMP;
    }
    buf_printf(value, "%s:%s:%ld:%ld:%s:%s:%s", pw->pw_name, pw->pw_passwd,
               (long) pw->pw_uid, (long) pw->pw_gid, pw->pw_gecos, pw->pw_dir,
               pw->pw_shell);
    return LOOKUP_FOUND;
}

static enum lookup_status dict_unix_group(struct dict *d, const char *key,
                                          struct buf *value)
{
    struct group *gr;
    char **mem;

    errno = 0;
    if ((gr = getgrnam(key)) == NULL) {
        if (dict_unix_missing(errno))
            return LOOKUP_NOTFOUND;
        buf_setf(d->err, "getgrnam: %s", strerror(errno));
        return LOOKUP_ERR_TEMP;
    }
    buf_printf(value, "%s:%s:%ld:", gr->gr_name, gr->gr_passwd,
               (long) gr->gr_gid);
    for (mem = gr->gr_mem; mem && *mem; mem++)
        buf_printf(value, "%s%s", mem == gr->gr_mem ? "" : ",", *mem);
    return LOOKUP_FOUND;
}

struct dict *dict_unix_open(const char *name, int open_flags, int flags,
                            struct buf *err)
{
    enum lookup_status (*lookup)(struct dict *, const char *, struct buf *);
    struct dict *d;

    if (strcmp(name, "passwd.byname") == 0) {
        lookup = dict_unix_passwd;
    } else if (strcmp(name, "group.byname") == 0) {
        lookup = dict_unix_group;
    } else {
        buf_setf(err, "unknown table: unix:%s", name);
        return NULL;
    }
    if (open_flags & (DICT_RDWR | DICT_CREATE)) {
        buf_setf(err, "unix:%s map requires O_RDONLY access mode", name);
        return NULL;
    }
    d = dict_alloc("unix", name, open_flags, flags | DICT_FIXED, 0);
    d->lookup = lookup;
    return d;
}
