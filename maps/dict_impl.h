/*
 * dict_impl.h - the open functions of every map type, for the registry in
 * dict_types.c. Each has the dict_open_fn signature of dict.h: NAME is the
 * part after "type:", NULL with ERR set on failure.
 */
#ifndef POSTERN_DICT_IMPL_H
#define POSTERN_DICT_IMPL_H

#include "dict.h"

/* Berkeley DB files and friends (dict_db.c, dict_dbm.c, dict_sasldb.c). */
struct dict *dict_hash_open(const char *name, int open_flags, int flags,
                            struct buf *err);
struct dict *dict_btree_open(const char *name, int open_flags, int flags,
                             struct buf *err);
struct dict *dict_dbm_open(const char *name, int open_flags, int flags,
                           struct buf *err);
struct dict *dict_sasldb_open(const char *name, int open_flags, int flags,
                              struct buf *err);
/* In-memory and built-in types (dict_static.c, dict_texthash.c, dict_unix.c).
 */
struct dict *dict_static_open(const char *name, int open_flags, int flags,
                              struct buf *err);
struct dict *dict_fail_open(const char *name, int open_flags, int flags,
                            struct buf *err);
struct dict *dict_inline_open(const char *name, int open_flags, int flags,
                              struct buf *err);
struct dict *dict_texthash_open(const char *name, int open_flags, int flags,
                                struct buf *err);
struct dict *dict_unix_open(const char *name, int open_flags, int flags,
                            struct buf *err);
/* Pattern types and composites (dict_regexp.c, dict_pcre.c, dict_cidr.c,
 * dict_union.c). */
struct dict *dict_regexp_open(const char *name, int open_flags, int flags,
                              struct buf *err);
struct dict *dict_pcre_open(const char *name, int open_flags, int flags,
                            struct buf *err);
struct dict *dict_cidr_open(const char *name, int open_flags, int flags,
                            struct buf *err);
struct dict *dict_unionmap_open(const char *name, int open_flags, int flags,
                                struct buf *err);
struct dict *dict_pipemap_open(const char *name, int open_flags, int flags,
                               struct buf *err);

/*
 * The in-memory string table that inline: and texthash: share
 * (dict_static.c): a dict with lookup, sequence and close methods over a
 * hash table that the opener fills through dict_memtab_table().
 */
struct htable;
struct dict *dict_memtab_new(const char *type, const char *name, int open_flags,
                             int flags);
struct htable *dict_memtab_table(struct dict *d);

#endif
