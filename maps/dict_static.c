/*
 * dict_static.c - the static:, fail: and inline: table types.
 *
 * static:value answers every lookup with VALUE; static:{ value with
 * spaces } lets the value hold white space. fail:name answers every
 * operation with a temporary error (NAME only shows in messages), for
 * testing error handling. inline:{ key=value, { key = value with spaces } }
 * is a small table written in place; later entries replace earlier ones,
 * keys fold to lower case with DICT_FOLD_FIX, and sequence walks it.
 *
 * Callers: dict_open() via the registry.
 * Errors: syntax errors at open are NULL plus ERR in Postfix's wording
 * ("bad static:name syntax: ...", "...; need \"inline:{name=value...}\"").
 */
#include <ctype.h>
#include <string.h>

#include "buf.h"
#include "cfgfile.h"
#include "dict.h"
#include "dict_impl.h"
#include "htable.h"
#include "mem.h"
#include "str.h"

/* The read-only types refuse to be opened for writing, as in Postfix. */
static int dict_static_rdonly(const char *type, const char *name,
                              int open_flags, struct buf *err)
{
    if (open_flags & (DICT_RDWR | DICT_CREATE)) {
        buf_setf(err, "%s:%s map requires O_RDONLY access mode", type, name);
        return -1;
    }
    return 0;
}

/*
 * NAME is "{ text }": return a copy of the trimmed text between the outer
 * braces, or NULL with *WHY set ("missing '}'", "syntax error after '}'").
 * Trailing white space after the closing brace is allowed.
 */
static char *dict_static_unbrace(const char *name, const char **why)
{
    const char *cp;
    const char *end;
    int depth = 0;

    for (cp = name; *cp; cp++) {
        if (*cp == '{')
            depth++;
        else if (*cp == '}' && --depth == 0)
            break;
    }
    if (*cp != '}') {
        *why = "missing '}'";
        return NULL;
    }
    for (end = cp + 1; *end; end++) {
        if (!isspace((unsigned char) *end)) {
            *why = "syntax error after '}'";
            return NULL;
        }
    }
    return str_trim(mem_strndup(name + 1, (size_t) (cp - name - 1)));
}

/* ---- static: ------------------------------------------------------------ */

static enum lookup_status dict_static_lookup(struct dict *d, const char *key,
                                             struct buf *value)
{
    (void) key;
    buf_puts(value, d->priv);
    return LOOKUP_FOUND;
}

struct dict *dict_static_open(const char *name, int open_flags, int flags,
                              struct buf *err)
{
    struct dict *d;
    const char *why;
    char *value;

    if (dict_static_rdonly("static", name, open_flags, err) < 0)
        return NULL;
    if (*name == '{') {
        value = dict_static_unbrace(name, &why);
        if (value == NULL) {
            buf_setf(err, "bad static:name syntax: %s in \"%s\"", why, name);
            return NULL;
        }
    } else {
        value = mem_strdup(name);
    }
    d = dict_alloc("static", name, open_flags, flags, 0);
    d->priv = value; /* dict_free() releases it */
    d->lookup = dict_static_lookup;
    return d;
}

/* ---- fail: -------------------------------------------------------------- */

/* Postfix reports its fail: table this way; scripts may look for it. */
#define DICT_FAIL_TEXT "Application error"

static enum lookup_status dict_fail_lookup(struct dict *d, const char *key,
                                           struct buf *value)
{
    (void) key;
    (void) value;
    buf_set(d->err, DICT_FAIL_TEXT);
    return LOOKUP_ERR_TEMP;
}

static enum lookup_status dict_fail_update(struct dict *d, const char *key,
                                           const char *value)
{
    (void) key;
    (void) value;
    buf_set(d->err, DICT_FAIL_TEXT);
    return LOOKUP_ERR_TEMP;
}

static enum lookup_status dict_fail_delete(struct dict *d, const char *key)
{
    (void) key;
    buf_set(d->err, DICT_FAIL_TEXT);
    return LOOKUP_ERR_TEMP;
}

static enum lookup_status dict_fail_sequence(struct dict *d, int how,
                                             struct buf *key, struct buf *value)
{
    (void) how;
    (void) key;
    (void) value;
    buf_set(d->err, DICT_FAIL_TEXT);
    return LOOKUP_ERR_TEMP;
}

struct dict *dict_fail_open(const char *name, int open_flags, int flags,
                            struct buf *err)
{
    struct dict *d = dict_alloc("fail", name, open_flags, flags, 0);

    (void) err;
    d->lookup = dict_fail_lookup;
    d->update = dict_fail_update;
    d->delete = dict_fail_delete;
    d->sequence = dict_fail_sequence;
    return d;
}

/* ---- inline: ------------------------------------------------------------ */

/*
 * The in-memory table behind inline: and texthash: (dict_impl.h): a hash
 * table of strings with lookup, sequence and close.
 */
struct dict_memtab {
    struct htable *table;       /* key -> value (mem_strdup'ed) */
    struct htable_entry **list; /* sequence snapshot */
    size_t next;                /* sequence position */
};

static enum lookup_status dict_memtab_lookup(struct dict *d, const char *key,
                                             struct buf *value)
{
    struct dict_memtab *st = d->priv;
    const char *found = htable_get(st->table, key);

    if (found == NULL)
        return LOOKUP_NOTFOUND;
    buf_puts(value, found);
    return LOOKUP_FOUND;
}

static enum lookup_status dict_memtab_sequence(struct dict *d, int how,
                                               struct buf *key,
                                               struct buf *value)
{
    struct dict_memtab *st = d->priv;

    if (how == DICT_SEQ_FIRST || st->list == NULL) {
        mem_free(st->list);
        st->list = htable_list(st->table);
        st->next = 0;
    }
    if (st->next >= st->table->used) {
        mem_free(st->list);
        st->list = NULL;
        return LOOKUP_NOTFOUND;
    }
    buf_puts(key, st->list[st->next]->key);
    buf_puts(value, st->list[st->next]->value);
    st->next++;
    return LOOKUP_FOUND;
}

static int dict_memtab_close(struct dict *d)
{
    struct dict_memtab *st = d->priv;

    htable_free(st->table, mem_free);
    mem_free(st->list);
    dict_free(d);
    return 0;
}

struct dict *dict_memtab_new(const char *type, const char *name, int open_flags,
                             int flags)
{
    struct dict *d = dict_alloc(type, name, open_flags, flags | DICT_FIXED,
                                sizeof(struct dict_memtab));
    struct dict_memtab *st = d->priv;

    st->table = htable_new(16);
    d->lookup = dict_memtab_lookup;
    d->sequence = dict_memtab_sequence;
    d->close = dict_memtab_close;
    return d;
}

struct htable *dict_memtab_table(struct dict *d)
{
    return ((struct dict_memtab *) d->priv)->table;
}

struct dict *dict_inline_open(const char *name, int open_flags, int flags,
                              struct buf *err)
{
    static const char need[] = "need \"inline:{name=value...}\"";
    struct htable *table;
    struct dict *d;
    const char *why;
    char *text;
    char *cp;
    char *token;
    char *key;
    char *value;

    if (dict_static_rdonly("inline", name, open_flags, err) < 0)
        return NULL;
    if (*name != '{' || (text = dict_static_unbrace(name, &why)) == NULL) {
        buf_setf(err, "bad syntax: \"inline:%s\"; %s", name, need);
        return NULL;
    }
    d = dict_memtab_new("inline", name, open_flags, flags);
    table = dict_memtab_table(d);

    cp = text;
    while ((token = str_token_braced(&cp, STR_LIST_SEP, &why)) != NULL) {
        if (cfg_split_entry(token, &key, &value, &why) < 0)
            break;
        if (d->flags & DICT_FOLD_FIX)
            str_lower(key);
        mem_free(htable_put(table, key, mem_strdup(value)));
    }
    mem_free(text);
    if (why != NULL) {
        buf_setf(err, "%s: \"inline:%s\"; %s", why, name, need);
        dict_close(d);
        return NULL;
    }
    if (table->used == 0) {
        buf_setf(err, "empty table: \"inline:%s\"; %s", name, need);
        dict_close(d);
        return NULL;
    }
    return d;
}
