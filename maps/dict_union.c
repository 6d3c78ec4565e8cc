/*
 * dict_union.c - the composite table types unionmap:{...} and pipemap:{...}
 * (Postfix 3.0 and later).
 *
 * unionmap:{type:name, type:name ...} looks the key up in every member and
 * returns every value found, joined with commas, in member order.
 * pipemap:{type:name, type:name ...} looks the key up in the first member,
 * that result up in the second, and so on; the last result is the answer.
 * Members are separated by commas and/or white space; a member may itself
 * hold braces (inline:{a=b}, static:{a b}, unionmap:{...}).
 *
 * Called through dict_open() and the registry; members are opened with
 * dict_open() with the same flags, and fold their own keys.
 *
 * Errors: a bad name gives NULL with 'bad syntax: "unionmap:NAME"; need
 * "unionmap:{type:name...}"', a member that fails to open gives NULL with
 * that member's message. At lookup time a member error is the answer
 * (LOOKUP_ERR_TEMP/CONFIG with the reason in d->err), never a silent "not
 * found"; a member that does not find the key makes a pipemap not find it.
 */
#include <ctype.h>
#include <string.h>

#include "argv.h"
#include "buf.h"
#include "dict.h"
#include "dict_impl.h"
#include "mem.h"
#include "str.h"

struct union_table {
    struct dict **members;
    size_t count;
    struct buf *tmp; /* one member's answer */
    struct buf *key; /* pipemap: the key of the next stage */
};

/*
 * Split "{a, b:{c d}, e}" into members: separators at brace depth zero
 * only. NULL when NAME is not one balanced {...} with at least one member.
 */
static struct argv *union_split(const char *name)
{
    struct argv *members;
    const char *inner;
    const char *end;
    const char *cp;
    int depth = 0;

    if (name[0] != '{')
        return NULL;
    /* Find the brace that closes the first one; nothing may follow. */
    for (cp = name; *cp; cp++) {
        if (*cp == '{')
            depth++;
        else if (*cp == '}' && --depth == 0)
            break;
    }
    if (*cp != '}' || cp[1 + strspn(cp + 1, " \t\r\n")] != 0)
        return NULL;
    inner = name + 1;
    end = cp;
    members = argv_new(4);
    cp = inner;
    while (cp < end) {
        const char *start;

        while (cp < end && strchr(STR_LIST_SEP, *cp) != NULL)
            cp++;
        if (cp >= end)
            break;
        start = cp;
        depth = 0;
        for (; cp < end; cp++) {
            if (*cp == '{')
                depth++;
            else if (*cp == '}')
                depth--;
            else if (depth == 0 && strchr(STR_LIST_SEP, *cp) != NULL)
                break;
        }
        argv_addn(members, start, (size_t) (cp - start));
    }
    if (members->argc == 0) {
        argv_free(members);
        return NULL;
    }
    return members;
}

static void union_table_free(struct union_table *t)
{
    size_t i;

    for (i = 0; i < t->count; i++)
        dict_close(t->members[i]);
    mem_free(t->members);
    buf_free(t->tmp);
    buf_free(t->key);
    mem_free(t);
}

/* A member's error is the composite's error, in the member's words. */
static enum lookup_status
union_member_error(struct dict *d, const struct dict *m, enum lookup_status st)
{
    buf_set(d->err, buf_len(m->err) ? buf_str(m->err) : lookup_status_name(st));
    return st;
}

static enum lookup_status union_lookup(struct dict *d, const char *key,
                                       struct buf *value)
{
    struct union_table *t = d->priv;
    size_t i;

    buf_reset(value);
    for (i = 0; i < t->count; i++) {
        enum lookup_status st = dict_lookup(t->members[i], key, t->tmp);

        if (st == LOOKUP_NOTFOUND)
            continue;
        if (st != LOOKUP_FOUND)
            return union_member_error(d, t->members[i], st);
        /* As Postfix: an empty first value leaves no leading comma. */
        if (buf_len(value) > 0)
            buf_putc(value, ',');
        buf_append(value, buf_str(t->tmp), buf_len(t->tmp));
    }
    return buf_len(value) > 0 ? LOOKUP_FOUND : LOOKUP_NOTFOUND;
}

static enum lookup_status pipe_lookup(struct dict *d, const char *key,
                                      struct buf *value)
{
    struct union_table *t = d->priv;
    size_t i;

    buf_set(t->key, key);
    for (i = 0; i < t->count; i++) {
        enum lookup_status st =
            dict_lookup(t->members[i], buf_str(t->key), t->tmp);

        if (st == LOOKUP_NOTFOUND)
            return st;
        if (st != LOOKUP_FOUND)
            return union_member_error(d, t->members[i], st);
        buf_set(t->key, buf_str(t->tmp));
    }
    buf_set(value, buf_str(t->key));
    return LOOKUP_FOUND;
}

static int union_close(struct dict *d)
{
    union_table_free(d->priv);
    d->priv = NULL;
    dict_free(d);
    return 0;
}

static struct dict *union_open(const char *type, const char *name,
                               int open_flags, int flags, struct buf *err,
                               int pipe)
{
    struct argv *names;
    struct union_table *t;
    struct dict *d;
    int any_fixed = 0;
    int any_pattern = 0;
    size_t i;

    if (open_flags != DICT_RDONLY) {
        buf_setf(err, "%s:%s map requires O_RDONLY access mode", type, name);
        return NULL;
    }
    names = union_split(name);
    if (names != NULL) {
        for (i = 0; i < names->argc; i++)
            if (strchr(names->argv[i], ':') == NULL)
                break;
        if (i < names->argc) {
            argv_free(names);
            names = NULL;
        }
    }
    if (names == NULL) {
        buf_setf(err, "bad syntax: \"%s:%s\"; need \"%s:{type:name...}\"", type,
                 name, type);
        return NULL;
    }
    t = mem_calloc(1, sizeof(*t));
    t->members = mem_calloc(names->argc, sizeof(*t->members));
    t->tmp = buf_new(64);
    t->key = buf_new(64);
    for (i = 0; i < names->argc; i++) {
        struct dict *m = dict_open(names->argv[i], open_flags, flags, err);

        if (m == NULL) {
            argv_free(names);
            union_table_free(t);
            return NULL;
        }
        t->members[t->count++] = m;
        if (m->flags & DICT_FIXED)
            any_fixed = 1;
        if (m->flags & DICT_PATTERN)
            any_pattern = 1;
    }
    argv_free(names);

    /*
     * The members fold their own keys; the composite must not fold them
     * first (a pcre member may care about case). As in Postfix, callers
     * make partial-key lookups (parent domains, user@) when any member is
     * a fixed-string table, and whole-key lookups only when every member
     * is a pattern table.
     */
    flags &= ~(DICT_FOLD_FIX | DICT_FIXED | DICT_PATTERN);
    if (any_fixed)
        flags |= DICT_FIXED;
    else if (any_pattern)
        flags |= DICT_PATTERN;
    d = dict_alloc(type, name, open_flags, flags, 0);
    d->priv = t;
    d->lookup = pipe ? pipe_lookup : union_lookup;
    d->close = union_close;
    return d;
}

struct dict *dict_unionmap_open(const char *name, int open_flags, int flags,
                                struct buf *err)
{
    return union_open("unionmap", name, open_flags, flags, err, 0);
}

struct dict *dict_pipemap_open(const char *name, int open_flags, int flags,
                               struct buf *err)
{
    return union_open("pipemap", name, open_flags, flags, err, 1);
}
