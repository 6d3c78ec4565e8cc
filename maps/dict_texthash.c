/*
 * dict_texthash.c - the texthash: table type.
 *
 * texthash:/path reads a postmap-format source file (dict_source.h) into
 * memory when the table is opened, so a table can be used without running
 * postmap. Keys fold to lower case with DICT_FOLD_FIX. A duplicate key
 * keeps the first value and is warned about with file and line, unless
 * DICT_DUP_IGNORE (keep quietly) or DICT_DUP_REPLACE (last one wins).
 * dict_changed() follows the source file.
 *
 * Callers: dict_open() via the registry.
 * Errors: open failures are NULL plus ERR ("open database PATH: reason",
 * as Postfix words it); bad lines are warned about and skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "dict.h"
#include "dict_impl.h"
#include "dict_source.h"
#include "htable.h"
#include "mem.h"
#include "msg.h"
#include "str.h"

/* Read every entry of SRC into the table. 0, or -1 on a read error. */
static int dict_texthash_load(struct dict *d, struct dict_source *src)
{
    struct htable *table = dict_memtab_table(d);
    struct htable_entry *old;
    struct buf *safe;
    char *folded;
    char *key;
    char *value;
    int ret;

    while ((ret = dict_source_next(src, &key, &value)) > 0) {
        /* Store the key folded, but warn with the key as written. */
        folded = mem_strdup(key);
        if (d->flags & DICT_FOLD_FIX)
            str_lower(folded);
        if ((old = htable_find(table, folded)) == NULL) {
            htable_put(table, folded, mem_strdup(value));
        } else if (d->flags & DICT_DUP_REPLACE) {
            mem_free(old->value);
            old->value = mem_strdup(value);
        } else if (!(d->flags & DICT_DUP_IGNORE)) {
            safe = buf_new(64);
            str_printable(safe, key, strlen(key));
            msg_warn("%s, line %d: duplicate entry: \"%s\"",
                     dict_source_name(src), dict_source_lineno(src),
                     buf_str(safe));
            buf_free(safe);
        }
        mem_free(folded);
    }
    return ret;
}

struct dict *dict_texthash_open(const char *name, int open_flags, int flags,
                                struct buf *err)
{
    struct dict_source *src;
    struct dict *d;
    FILE *fp;
    int ret;

    if (open_flags & (DICT_RDWR | DICT_CREATE)) {
        buf_setf(err, "texthash:%s map requires O_RDONLY access mode", name);
        return NULL;
    }
    if ((fp = fopen(name, "re")) == NULL) {
        buf_setf(err, "open database %s: %s", name, strerror(errno));
        return NULL;
    }
    d = dict_memtab_new("texthash", name, open_flags, flags);
    dict_remember_file(d, name);

    src = dict_source_stream(fp, name, DICT_SOURCE_IGNORING);
    ret = dict_texthash_load(d, src);
    dict_source_close(src);
    if (ret < 0) {
        buf_setf(err, "read %s: %s", name, strerror(errno));
        fclose(fp);
        dict_close(d);
        return NULL;
    }
    fclose(fp);
    return d;
}
