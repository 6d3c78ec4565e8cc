/*
 * dict.c - the generic half of the dictionary interface (see dict.h).
 *
 * dict_open() splits "type:name" at the first ':' (so that names which
 * themselves hold "type:name" text, such as unionmap:{hash:/a, hash:/b}
 * or inline:{a=b}, pass through whole), finds the type in the registry
 * (dict_types.c) and calls its open function. The generic methods add
 * what every type shares: key case folding for fixed-string tables, the
 * "operation is not supported" answer for missing methods, and Postfix's
 * warning about empty lookup results.
 *
 * Contract with the types (dict_*.c): an open function allocates its
 * table with dict_alloc(), fills the methods, and returns it. A close
 * method releases the type's own state and then calls dict_free(d);
 * dict_close() calls dict_free() itself only for types without a close
 * method. update returns LOOKUP_FOUND when the value was stored and
 * LOOKUP_NOTFOUND when the key existed and DICT_DUP_WARN/DICT_DUP_IGNORE
 * kept the old value; delete returns LOOKUP_NOTFOUND for a missing key.
 *
 * Callers: postmap, postalias, maps.c and through it every daemon.
 * Errors: open failures come back as NULL with ERR set; operation errors
 * as LOOKUP_ERR_TEMP/LOOKUP_ERR_CONFIG with the reason in d->err.
 */
#include <ctype.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "dict.h"
#include "mem.h"
#include "msg.h"
#include "str.h"

/* The file's modification time in nanoseconds, for dict_changed(). */
static long long dict_mtime_ns(const struct stat *st)
{
    return (long long) st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

struct dict *dict_open(const char *type_name, int open_flags, int flags,
                       struct buf *err)
{
    const char *colon = strchr(type_name, ':');
    struct dict *d;
    char *type;

    if (colon == NULL || colon == type_name || colon[1] == 0) {
        buf_setf(err,
                 "open dictionary: expecting \"type:name\" form instead of "
                 "\"%s\"",
                 type_name);
        return NULL;
    }
    type = mem_strndup(type_name, (size_t) (colon - type_name));
    d = dict_open3(type, colon + 1, open_flags, flags, err);
    mem_free(type);
    return d;
}

struct dict *dict_open3(const char *type, const char *name, int open_flags,
                        int flags, struct buf *err)
{
    dict_open_fn open_fn;

    if (*type == 0 || *name == 0) {
        buf_setf(err,
                 "open dictionary: expecting \"type:name\" form instead of "
                 "\"%s:%s\"",
                 type, name);
        return NULL;
    }
    open_fn = dict_find_type(type);
    if (open_fn == NULL) {
        buf_setf(err, "unsupported dictionary type: %s", type);
        return NULL;
    }
    buf_reset(err);
    return open_fn(name, open_flags, flags, err);
}

/*
 * Fixed-string tables fold the key when asked to: return KEY itself when
 * nothing needs changing, else a lower-case copy in *COPY (mem_free it).
 */
static const char *dict_fold_key(struct dict *d, const char *key, char **copy)
{
    const char *cp;
    char *out;

    *copy = NULL;
    if ((d->flags & (DICT_FOLD_FIX | DICT_FIXED))
        != (DICT_FOLD_FIX | DICT_FIXED))
        return key;
    for (cp = key; *cp; cp++)
        if (isupper((unsigned char) *cp))
            break;
    if (*cp == 0)
        return key;
    *copy = mem_strdup(key);
    for (out = *copy; *out; out++)
        *out = (char) tolower((unsigned char) *out);
    return *copy;
}

static enum lookup_status dict_unsupported(struct dict *d, const char *what)
{
    buf_setf(d->err, "%s operation is not supported", what);
    return LOOKUP_ERR_CONFIG;
}

int dict_hold(struct dict *d, int on)
{
    return d->hold ? d->hold(d, on) : 0;
}

enum lookup_status dict_lookup(struct dict *d, const char *key,
                               struct buf *value)
{
    enum lookup_status st;
    const char *k;
    char *copy;

    buf_reset(value);
    if (d->lookup == NULL)
        return dict_unsupported(d, "lookup");
    k = dict_fold_key(d, key, &copy);
    st = d->lookup(d, k, value);
    if (st == LOOKUP_FOUND && buf_len(value) == 0) {
        /* Postfix complains the same way; the empty value is kept. */
        struct buf *safe = buf_new(64);

        str_printable(safe, k, strlen(k));
        msg_warn("table %s:%s: key %s: empty string result is not allowed",
                 d->type, d->name, buf_str(safe));
        msg_warn("table %s:%s should return NO RESULT in case of NOT FOUND",
                 d->type, d->name);
        buf_free(safe);
    }
    mem_free(copy);
    return st;
}

enum lookup_status dict_update(struct dict *d, const char *key,
                               const char *value)
{
    enum lookup_status st;
    const char *k;
    char *copy;

    if (d->update == NULL)
        return dict_unsupported(d, "update");
    k = dict_fold_key(d, key, &copy);
    st = d->update(d, k, value);
    mem_free(copy);
    return st;
}

enum lookup_status dict_delete(struct dict *d, const char *key)
{
    enum lookup_status st;
    const char *k;
    char *copy;

    if (d->delete == NULL)
        return dict_unsupported(d, "delete");
    k = dict_fold_key(d, key, &copy);
    st = d->delete (d, k);
    mem_free(copy);
    return st;
}

enum lookup_status dict_sequence(struct dict *d, int how, struct buf *key,
                                 struct buf *value)
{
    buf_reset(key);
    buf_reset(value);
    if (d->sequence == NULL)
        return dict_unsupported(d, "sequence");
    return d->sequence(d, how, key, value);
}

int dict_close(struct dict *d)
{
    if (d == NULL)
        return 0;
    if (d->close != NULL)
        return d->close(d);
    dict_free(d);
    return 0;
}

int dict_changed(struct dict *d)
{
    struct stat st;

    if (d->file == NULL || *d->file == 0)
        return 0;
    /* A table whose file is gone is no longer what its name refers to. */
    if (stat(d->file, &st) < 0)
        return 1;
    return st.st_dev != d->file_dev || st.st_ino != d->file_ino
           || dict_mtime_ns(&st) != d->file_mtime_ns;
}

struct dict *dict_alloc(const char *type, const char *name, int open_flags,
                        int flags, size_t priv_size)
{
    struct dict *d = mem_calloc(1, sizeof(*d));

    d->type = mem_strdup(type);
    d->name = mem_strdup(name);
    d->open_flags = open_flags;
    d->flags = flags;
    d->file = mem_strdup("");
    d->err = buf_new(64);
    d->priv = priv_size ? mem_calloc(1, priv_size) : NULL;
    return d;
}

void dict_remember_file(struct dict *d, const char *file)
{
    struct stat st;

    mem_free(d->file);
    d->file = mem_strdup(file);
    if (stat(file, &st) == 0) {
        d->file_dev = st.st_dev;
        d->file_ino = st.st_ino;
        d->file_mtime_ns = dict_mtime_ns(&st);
    } else {
        d->file_dev = 0;
        d->file_ino = 0;
        d->file_mtime_ns = 0;
    }
}

void dict_free(struct dict *d)
{
    if (d == NULL)
        return;
    mem_free(d->type);
    mem_free(d->name);
    mem_free(d->file);
    buf_free(d->err);
    mem_free(d->priv);
    mem_free(d);
}
