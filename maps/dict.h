/*
 * dict.h - the one dictionary (lookup table) interface.
 *
 * Every lookup in Postern goes through here: access maps, aliases,
 * canonical/virtual/generic rewriting, transport, relay credentials and
 * SASL users. A table is named "type:name" (hash:/etc/postern/access,
 * regexp:/etc/postern/header_checks, inline:{a=b}, static:value ...).
 *
 * dict_open() finds the type in the registry (dict.c) and calls its open
 * function, which fills a struct dict with its methods. Lookups return a
 * lookup_status (lookup.h) and put the value into a caller's buffer.
 * Errors at open time come back as NULL plus a message in ERR naming the
 * table (and, for text sources, the file and line).
 *
 * Callers: postmap, postalias, and through maps.h every daemon.
 */
#ifndef POSTERN_DICT_H
#define POSTERN_DICT_H

#include <sys/types.h>

#include "lookup.h"

struct buf;

/* Open flags. */
#define DICT_RDONLY 0x0000 /* lookups only */
#define DICT_RDWR   0x0001 /* lookups and updates of an existing table */
#define DICT_CREATE                                                            \
    0x0002 /* new, empty table (postmap, postalias build);                     \
            * written to a temporary file and renamed                          \
            * into place by dict_close() */
/* Behaviour flags. */
#define DICT_FOLD_FIX                                                          \
    0x0010               /* fold keys to lower case (fixed-string types)       \
                          */
#define DICT_LOCK 0x0020 /* take a lock around each access */
#define DICT_DUP_WARN                                                          \
    0x0040 /* duplicate key on update: warn, keep the first                    \
            */
#define DICT_DUP_IGNORE                                                        \
    0x0080 /* duplicate key on update: keep the first quietly */
#define DICT_DUP_REPLACE 0x0100 /* duplicate key on update: replace */
#define DICT_TRY0NULL                                                          \
    0x0200                   /* db types: keys stored without a trailing NUL   \
                              */
#define DICT_TRY1NULL 0x0400 /* db types: keys stored with a trailing NUL */
/* Set by the type, read by consumers. */
#define DICT_PATTERN                                                           \
    0x1000                /* regexp, pcre, cidr: match the whole key only,     \
                           * no partial-key search orders */
#define DICT_FIXED 0x2000 /* exact-string keys (hash, btree, texthash ...) */

/* dict_sequence() positions. */
#define DICT_SEQ_FIRST 0
#define DICT_SEQ_NEXT  1

struct dict {
    char *type; /* "hash" */
    char *name; /* "/etc/postern/access" (without the type) */
    int open_flags;
    int flags;

    /* Methods. update, delete and sequence may be NULL (not supported). */
    enum lookup_status (*lookup)(struct dict *d, const char *key,
                                 struct buf *value);
    enum lookup_status (*update)(struct dict *d, const char *key,
                                 const char *value);
    enum lookup_status (*delete)(struct dict *d, const char *key);
    enum lookup_status (*sequence)(struct dict *d, int how, struct buf *key,
                                   struct buf *value);
    /* Finish: for DICT_CREATE, commit (rename) unless aborted; 0 or -1. */
    int (*close)(struct dict *d);
    /* Optional: see dict_hold(). */
    int (*hold)(struct dict *d, int on);

    /* The file this table was read from, for dict_changed(); "" if none. */
    char *file;
    dev_t file_dev;
    ino_t file_ino;
    long long file_mtime_ns;

    /* Text of the last error (lookup_status other than FOUND/NOTFOUND). */
    struct buf *err;
    /* Set to abort a DICT_CREATE table: dict_close() then removes it. */
    int aborted;
    void *priv; /* the type's own state */
};

/*
 * Open "type:name". OPEN_FLAGS is DICT_RDONLY, DICT_RDWR or DICT_CREATE;
 * FLAGS are the behaviour flags. NULL with ERR set on failure.
 */
struct dict *dict_open(const char *type_name, int open_flags, int flags,
                       struct buf *err);
/* Same with the type and name already split. */
struct dict *dict_open3(const char *type, const char *name, int open_flags,
                        int flags, struct buf *err);

enum lookup_status dict_lookup(struct dict *d, const char *key,
                               struct buf *value);
enum lookup_status dict_update(struct dict *d, const char *key,
                               const char *value);
enum lookup_status dict_delete(struct dict *d, const char *key);
enum lookup_status dict_sequence(struct dict *d, int how, struct buf *key,
                                 struct buf *value);
/*
 * ON = 1: take the table's shared lock (DICT_LOCK) now and keep it, so
 * that a run of lookups locks once instead of once each; ON = 0: drop it.
 * Updates and deletes are refused while it is held. A no-op for tables
 * without locks. 0, or -1 with d->err set. Hold it only while the caller
 * does not wait for input: writers wait for it.
 */
int dict_hold(struct dict *d, int on);
/* Close; for a created table, commit it. 0, or -1 with a logged warning. */
int dict_close(struct dict *d);

/*
 * Has the table's file changed (replaced or modified) since open? Long-
 * running daemons ask between sessions and reopen the table when it has.
 */
int dict_changed(struct dict *d);

/*
 * For type implementations: allocate a struct dict with the common fields
 * set, remember FILE's identity (stat) for dict_changed(), free it.
 */
struct dict *dict_alloc(const char *type, const char *name, int open_flags,
                        int flags, size_t priv_size);
void dict_remember_file(struct dict *d, const char *file);
void dict_free(struct dict *d);

/* Registry: one entry per type; dict_types.c lists the names. */
typedef struct dict *(*dict_open_fn)(const char *name, int open_flags,
                                     int flags, struct buf *err);
dict_open_fn dict_find_type(const char *type);

#endif
