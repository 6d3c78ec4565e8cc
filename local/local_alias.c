/*
 * local_alias.c - the expansions of the local delivery agent: alias_maps
 * (with owner-NAME senders), .forward files (forward_path) and :include:
 * files, and the delivery of each destination they list (|command,
 * /file, :include:, \user, address).
 *
 * Called by local.c. Problems become outcomes (local_outcome): a failed
 * alias lookup defers, a restricted |command or /file bounces with 5.7.1;
 * a .forward file with a bad owner or mode is ignored with a warning, as
 * if it were not there.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "argv.h"
#include "buf.h"
#include "local.h"
#include "maps.h"
#include "msg.h"
#include "params.h"
#include "record.h"
#include "str.h"

/* Largest .forward or :include: file read. */
#define LOCAL_LIST_FILE_MAX (1024 * 1024)

/* Append one list element (trimmed, comments and quotes removed). */
static void local_list_add(struct argv *out, const char *text, size_t len)
{
    struct buf *b = buf_new(64);
    size_t i, start, end;
    int quoted = 0, depth = 0;
    const char *lt, *gt;

    for (i = 0; i < len; i++) {
        char c = text[i];

        if (quoted) {
            if (c == '\\' && i + 1 < len) {
                buf_putc(b, text[++i]);
            } else if (c == '"') {
                quoted = 0;
            } else {
                buf_putc(b, c);
            }
        } else if (depth > 0) {
            if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
        } else if (c == '"') {
            quoted = 1;
        } else if (c == '(') {
            depth = 1;
        } else {
            buf_putc(b, c);
        }
    }
    /* "Phrase <addr>": the address. */
    if ((lt = strchr(buf_str(b), '<')) != NULL
        && (gt = strrchr(buf_str(b), '>')) != NULL && gt > lt
        && buf_str(b)[0] != '|') {
        struct buf *inner = buf_new(64);

        buf_append(inner, lt + 1, (size_t) (gt - lt - 1));
        buf_set(b, buf_str(inner));
        buf_free(inner);
    }
    start = 0;
    end = buf_len(b);
    while (start < end && strchr(" \t\r\n", buf_str(b)[start]))
        start++;
    while (end > start && strchr(" \t\r\n", buf_str(b)[end - 1]))
        end--;
    if (end > start)
        argv_addn(out, buf_str(b) + start, end - start);
    buf_free(b);
}

struct argv *local_split_list(const char *value)
{
    struct argv *out = argv_new(4);
    size_t len = strlen(value);
    size_t i, start = 0;
    int quoted = 0, depth = 0;

    for (i = 0; i <= len; i++) {
        char c = i < len ? value[i] : ',';

        if (quoted) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '"')
                quoted = 0;
            if (i < len)
                continue;
        }
        if (c == '"') {
            quoted = 1;
        } else if (c == '(') {
            depth++;
        } else if (c == ')' && depth > 0) {
            depth--;
        } else if ((c == ',' || c == '\n') && depth == 0) {
            local_list_add(out, value + start, i - start);
            start = i + 1;
        }
    }
    return out;
}

static int local_allowed(const char *list, enum local_source source)
{
    switch (source) {
    case LOCAL_SRC_ALIAS:
        return maps_feature_listed(list, "alias");
    case LOCAL_SRC_FORWARD:
        return maps_feature_listed(list, "forward");
    case LOCAL_SRC_INCLUDE:
        return maps_feature_listed(list, "include");
    default:
        return 0;
    }
}

/* Is ADDR the name NAME itself (same local part, a local domain)? */
static int local_is_self(const char *addr, const char *name)
{
    struct buf *lp, *dom, *err;
    int self = 0;

    if (name == NULL)
        return 0;
    lp = buf_new(64);
    dom = buf_new(64);
    err = buf_new(64);
    addr_split(addr, strlen(addr), ADDR_INTERNAL, lp, dom);
    addr_lower_ascii(buf_str(lp), buf_len(lp));
    if (strcmp(buf_str(lp), name) == 0
        && local_domain_is_local(buf_str(dom), err) == 1)
        self = 1;
    buf_free(lp);
    buf_free(dom);
    buf_free(err);
    return self;
}

void local_deliver_list(struct local_state *st, const char *list,
                        enum local_source source, const char *name)
{
    struct argv *items = local_split_list(list);
    struct local_state child = *st;
    struct buf *key = buf_new(128);
    size_t i;

    child.source = source;
    for (i = 0; i < items->argc; i++) {
        const char *item = items->argv[i];

        if (item[0] == '|') {
            if (!local_allowed(var_allow_mail_to_commands, source)) {
                local_outcome(&child, REC_ACTION_BOUNCED, "5.7.1",
                              "mail to command is restricted");
                continue;
            }
            buf_setf(key, "%ld %s", (long) child.uid, item + 1);
            if (!local_dup(&child, "command", buf_str(key)))
                local_deliver_command(&child, item + 1, child.uid, child.gid,
                                      "command");
        } else if (str_has_prefix(item, ":include:")) {
            const char *path = item + 9;

            while (*path == ' ' || *path == '\t')
                path++;
            local_deliver_include(&child, path);
        } else if (item[0] == '/') {
            if (!local_allowed(var_allow_mail_to_files, source)) {
                local_outcome(&child, REC_ACTION_BOUNCED, "5.7.1",
                              "mail to file is restricted");
                continue;
            }
            if (!local_dup(&child, "file", item))
                local_deliver_file(&child, item);
        } else if (item[0] == '\\') {
            buf_set(key, item + 1);
            buf_truncate(
                key, addr_split_at(buf_str(key), buf_len(key), ADDR_INTERNAL));
            addr_lower_ascii(buf_str(key), buf_len(key));
            local_deliver_user(&child, buf_str(key), 0);
        } else if (local_is_self(item, name)) {
            local_deliver_user(&child, name, source == LOCAL_SRC_ALIAS);
        } else {
            local_deliver_addr(&child, item);
        }
    }
    buf_free(key);
    argv_free(items);
}

int local_try_alias(struct local_state *st, const char *local, const char *user)
{
    struct buf *value = buf_new(256);
    struct buf *owner = buf_new(64);
    struct buf *sender = buf_new(64);
    const char *keys[2];
    const char *name = NULL;
    struct local_state child;
    size_t i, nkeys = 0;
    int ret = 0;

    keys[nkeys++] = local;
    if (strcmp(local, user) != 0)
        keys[nkeys++] = user;
    for (i = 0; i < nkeys && name == NULL; i++) {
        switch (maps_find(local_g.aliases, keys[i], 0, value)) {
        case LOOKUP_FOUND:
            name = keys[i];
            break;
        case LOOKUP_NOTFOUND:
            break;
        default:
            msg_warn("%s", maps_error(local_g.aliases));
            local_outcome(st, REC_ACTION_DEFERRED, "4.3.0",
                          "alias database unavailable");
            ret = -1;
            goto out;
        }
    }
    if (name == NULL)
        goto out;
    ret = 1;
    child = *st;
    child.uid = local_g.nobody_uid;
    child.gid = local_g.nobody_gid;
    /* owner-NAME receives the bounces of what NAME expands to. */
    if (var_owner_request_special && !str_has_prefix(name, "owner-")) {
        struct buf *ov = buf_new(64);

        buf_setf(owner, "owner-%s", name);
        if (maps_find(local_g.aliases, buf_str(owner), 0, ov) == LOOKUP_FOUND) {
            if (var_expand_owner_alias) {
                struct argv *l = local_split_list(buf_str(ov));

                buf_set(sender, l->argc ? l->argv[0] : buf_str(owner));
                argv_free(l);
            } else {
                buf_setf(sender, "%s@%s", buf_str(owner), var_myorigin);
            }
            child.sender = buf_str(sender);
        }
        buf_free(ov);
    }
    /* Delivered-To: names the alias, so a loop through it is seen. */
    child.delivered = st->address;
    {
        struct argv *items = local_split_list(buf_str(value));
        size_t count = items->argc;

        argv_free(items);
        if (count == 0) {
            msg_warn("no recipient in alias lookup result for %s", name);
            local_outcome(st, REC_ACTION_DEFERRED, "4.3.0",
                          "alias database unavailable");
            goto out;
        }
    }
    local_deliver_list(&child, buf_str(value), LOCAL_SRC_ALIAS, name);
out:
    buf_free(value);
    buf_free(owner);
    buf_free(sender);
    return ret;
}

/* Read up to the limit from FD into OUT. 0 / -1 (errno). */
static int local_read_fd(int fd, struct buf *out)
{
    char chunk[4096];
    ssize_t n;

    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (buf_len(out) + (size_t) n > LOCAL_LIST_FILE_MAX) {
            errno = EFBIG;
            return -1;
        }
        buf_append(out, chunk, (size_t) n);
    }
    return 0;
}

/* Lines of TEXT without comments and blank lines, joined with ",". */
static void local_file_list(struct buf *out, const struct buf *text)
{
    const char *p = buf_str(text);
    const char *end = p + buf_len(text);

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        const char *le = nl ? nl : end;
        const char *q = p;

        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if (q < le && *q != '#') {
            if (buf_len(out))
                buf_putc(out, ',');
            buf_append(out, q, (size_t) (le - q));
        }
        p = le + 1;
    }
}

/*
 * Open PATH as UID/GID and read it. 1 read (ST_OUT set), 0 not there, -1
 * error (ERR).
 */
static int local_read_as(const char *path, uid_t uid, gid_t gid,
                         struct buf *content, struct stat *st_out,
                         struct buf *err)
{
    int fd, saved;

    if (local_set_eugid(uid, gid) < 0) {
        buf_setf(err, "cannot switch to uid %ld: %s", (long) uid,
                 strerror(errno));
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    saved = errno;
    local_restore_eugid();
    if (fd < 0) {
        if (saved == ENOENT || saved == ENOTDIR)
            return 0;
        buf_setf(err, "cannot open %s: %s", path, strerror(saved));
        return -1;
    }
    if (fstat(fd, st_out) < 0 || !S_ISREG(st_out->st_mode)) {
        buf_setf(err, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (local_read_fd(fd, content) < 0) {
        buf_setf(err, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 1;
}

int local_try_forward(struct local_state *st)
{
    struct argv *paths = argv_split(var_forward_path, ", \t\r\n");
    struct buf *path = buf_new(128);
    struct buf *err = buf_new(128);
    struct buf *content = buf_new(256);
    struct buf *list = buf_new(256);
    struct local_state child;
    struct stat sb;
    size_t i;
    int used = 0, r;

    for (i = 0; i < paths->argc && !used; i++) {
        buf_reset(path);
        r = local_expand(path, paths->argv[i], st, var_forward_expansion_filter,
                         err);
        if (r != 0 || buf_len(path) == 0)
            continue; /* bad syntax, or an attribute with no value */
        buf_reset(content);
        r = local_read_as(buf_str(path), st->uid, st->gid, content, &sb, err);
        if (r == 0)
            continue;
        if (r < 0) {
            msg_warn("ignoring .forward file: %s", buf_str(err));
            continue;
        }
        if (sb.st_uid != st->uid && sb.st_uid != 0) {
            msg_warn("ignoring .forward file %s: owned by uid %ld, not by "
                     "user %s",
                     buf_str(path), (long) sb.st_uid, st->user);
            continue;
        }
        if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
            msg_warn("ignoring .forward file %s: group or world writable",
                     buf_str(path));
            continue;
        }
        buf_reset(list);
        local_file_list(list, content);
        if (buf_len(list) == 0)
            continue;
        used = 1;
        child = *st; /* the recipient's own privileges */
        child.delivered = st->address;
        local_deliver_list(&child, buf_str(list), LOCAL_SRC_FORWARD, st->user);
    }
    argv_free(paths);
    buf_free(path);
    buf_free(err);
    buf_free(content);
    buf_free(list);
    return used;
}

void local_deliver_include(struct local_state *st, const char *path)
{
    struct buf *err = buf_new(128);
    struct buf *content = buf_new(256);
    struct buf *list = buf_new(256);
    struct local_state child = *st;
    struct stat sb;
    int r;

    if (path[0] != '/') {
        local_outcome(st, REC_ACTION_BOUNCED, "5.3.5",
                      ":include: file %s: not an absolute path", path);
        goto out;
    }
    r = local_read_as(path, st->uid, st->gid, content, &sb, err);
    if (r <= 0) {
        if (r == 0)
            buf_setf(err, "cannot open %s: %s", path, strerror(ENOENT));
        msg_warn(":include: %s", buf_str(err));
        local_outcome(st, REC_ACTION_DEFERRED, "4.3.0", "%s", buf_str(err));
        goto out;
    }
    /* A file owned by a user runs its commands and files as that user. */
    if (sb.st_uid != 0) {
        struct passwd *pw = getpwuid(sb.st_uid);

        child.uid = sb.st_uid;
        child.gid = pw ? pw->pw_gid : sb.st_gid;
    }
    local_file_list(list, content);
    local_deliver_list(&child, buf_str(list), LOCAL_SRC_INCLUDE, NULL);
out:
    buf_free(err);
    buf_free(content);
    buf_free(list);
}
