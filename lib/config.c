/*
 * config.c - the main.cf store and $name expansion (see config.h).
 *
 * The store maps a name to its raw value and where it came from. Expanded
 * values are cached per name and the cache is dropped whenever the store
 * changes, so config_get() is cheap for daemons that ask often.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "cfgfile.h"
#include "config.h"
#include "defaults.h"
#include "htable.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "str.h"

struct config_entry {
    char *value;
    char *file; /* NULL for overrides */
    int line;
};

static struct htable *config_store;
static struct htable *config_cache; /* name -> expanded value */
static char *config_path;

/* Expansion depth limit: a chain this long is a loop or a mistake. */
#define CONFIG_MAX_DEPTH 100

static void config_entry_free(void *ptr)
{
    struct config_entry *e = ptr;

    mem_free(e->value);
    mem_free(e->file);
    mem_free(e);
}

static void config_cache_flush(void)
{
    htable_free(config_cache, mem_free);
    config_cache = NULL;
}

static struct htable *config_table(void)
{
    if (config_store == NULL)
        config_store = htable_new(256);
    return config_store;
}

const char *config_choose_dir(const char *opt_c)
{
    const char *env;

    if (opt_c != NULL && *opt_c)
        return opt_c;
    env = getenv("MAIL_CONFIG");
    if (env != NULL && *env)
        return env;
    return def_config_directory;
}

void config_set(const char *name, const char *value, const char *file, int line)
{
    struct config_entry *e = mem_alloc(sizeof(*e));
    struct config_entry *old;

    e->value = mem_strdup(value);
    e->file = file ? mem_strdup(file) : NULL;
    e->line = line;
    old = htable_put(config_table(), name, e);
    if (old)
        config_entry_free(old);
    config_cache_flush();
}

void config_unset(const char *name)
{
    struct config_entry *e = htable_delete(config_table(), name);

    if (e)
        config_entry_free(e);
    config_cache_flush();
}

void config_clear(void)
{
    htable_free(config_store, config_entry_free);
    config_store = NULL;
    config_cache_flush();
    mem_free(config_path);
    config_path = NULL;
}

int config_read(const char *path, struct buf *err)
{
    FILE *fp = fopen(path, "r");
    struct buf *line;
    int lineno = 0;
    int first = 0;
    int ret = 0;
    int got;

    if (fp == NULL) {
        buf_setf(err, "open %s: %s", path, strerror(errno));
        return -1;
    }
    line = buf_new(256);
    while ((got = cfg_read_logical(fp, line, &lineno, &first)) > 0) {
        char *text = buf_str(line);
        char *name;
        char *value;
        const char *why;

        if (isspace((unsigned char) text[0])) {
            msg_warn(
                "%s, line %d: logical line must not start with white space: \"%.100s\"",
                path, first, text);
            continue;
        }
        if (cfg_split_entry(text, &name, &value, &why) < 0) {
            buf_setf(err, "%s, line %d: %s: \"%.100s\"", path, first, why,
                     str_trim(text));
            ret = -1;
            break;
        }
        config_set(name, value, path, first);
    }
    if (got < 0) {
        buf_setf(err, "read %s: %s", path, strerror(errno));
        ret = -1;
    }
    buf_free(line);
    fclose(fp);
    return ret;
}

void config_load(const char *dir)
{
    struct buf *path = buf_new(256);
    struct buf *err = buf_new(256);

    buf_printf(path, "%s/main.cf", dir);
    if (config_read(buf_str(path), err) < 0)
        msg_fatal("%s", buf_str(err));
    mem_free(config_path);
    config_path = buf_steal(path);
    buf_free(err);
    /* As Postfix does: the directory in use is itself a setting. */
    if (strcmp(dir, def_config_directory) != 0
        || config_lookup("config_directory") == NULL)
        config_set("config_directory", dir, NULL, 0);
}

const char *config_file(void)
{
    return config_path;
}

int config_override(const char *name_eq_value)
{
    char *copy = mem_strdup(name_eq_value);
    char *name;
    char *value;
    const char *why;
    int ret = -1;

    if (cfg_split_entry(copy, &name, &value, &why) == 0) {
        config_set(name, value, NULL, 0);
        ret = 0;
    }
    mem_free(copy);
    return ret;
}

const char *config_lookup(const char *name)
{
    struct config_entry *e;

    if (config_store == NULL)
        return NULL;
    e = htable_get(config_store, name);
    return e ? e->value : NULL;
}

const char *config_raw(const char *name)
{
    const char *value = config_lookup(name);
    const struct param_info *p;

    if (value != NULL)
        return value;
    p = param_find(name);
    return p ? param_default(p) : NULL;
}

int config_origin(const char *name, const char **file, int *line)
{
    struct config_entry *e;

    if (config_store == NULL || (e = htable_get(config_store, name)) == NULL
        || e->file == NULL)
        return -1;
    *file = e->file;
    *line = e->line;
    return 0;
}

static int config_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

const char **config_names(void)
{
    struct htable_entry **list;
    const char **names;
    size_t n;

    if (config_store == NULL) {
        names = mem_alloc(sizeof(*names));
        names[0] = NULL;
        return names;
    }
    list = htable_list(config_store);
    for (n = 0; list[n]; n++)
        ;
    names = mem_alloc((n + 1) * sizeof(*names));
    for (n = 0; list[n]; n++)
        names[n] = list[n]->key;
    names[n] = NULL;
    mem_free(list);
    qsort(names, n, sizeof(*names), config_name_cmp);
    return names;
}

/*
 * Expansion. A small recursive-descent scanner over the raw text. STACK
 * holds the names being expanded, to detect a name that refers to itself
 * through any chain.
 */
struct expand_state {
    const char *stack[CONFIG_MAX_DEPTH];
    int depth;
    struct buf *err;
};

static int config_expand_text(struct expand_state *st, struct buf *out,
                              const char *text, size_t len);

static int config_is_name_char(int ch)
{
    return isalnum((unsigned char) ch) || ch == '_';
}

static int config_expand_name(struct expand_state *st, struct buf *out,
                              const char *name)
{
    const char *raw = config_raw(name);
    int i;

    if (raw == NULL)
        return 0;
    for (i = 0; i < st->depth; i++) {
        if (strcmp(st->stack[i], name) == 0) {
            buf_setf(st->err, "recursive parameter expansion: \"%s\"", name);
            return -1;
        }
    }
    if (st->depth >= CONFIG_MAX_DEPTH) {
        buf_setf(st->err, "unreasonable macro call nesting: \"%s\"", name);
        return -1;
    }
    st->stack[st->depth++] = name;
    if (config_expand_text(st, out, raw, strlen(raw)) < 0)
        return -1;
    st->depth--;
    return 0;
}

/* Is NAME defined and non-empty (after expansion)? */
static int config_name_nonempty(struct expand_state *st, const char *name,
                                int *nonempty)
{
    struct buf *tmp = buf_new(64);
    int ret = config_expand_name(st, tmp, name);

    *nonempty = buf_len(tmp) > 0;
    buf_free(tmp);
    return ret;
}

/*
 * Parse "{text}" at *CP (inside a ${...} form), returning the text between
 * the braces with surrounding white space trimmed. Advances *CP past '}'.
 */
static int config_braced(struct expand_state *st, const char **cp,
                         const char *end, const char **start, size_t *len)
{
    const char *p = *cp + 1;
    int depth = 1;

    while (p < end && depth > 0) {
        if (*p == '{')
            depth++;
        else if (*p == '}')
            depth--;
        if (depth > 0)
            p++;
    }
    if (p >= end) {
        buf_setf(st->err, "missing '}' in macro reference");
        return -1;
    }
    *start = *cp + 1;
    *len = (size_t) (p - *start);
    while (*len > 0 && isspace((unsigned char) **start)) {
        (*start)++;
        (*len)--;
    }
    while (*len > 0 && isspace((unsigned char) (*start)[*len - 1]))
        (*len)--;
    *cp = p + 1;
    return 0;
}

/*
 * Handle "${" or "$(" at TEXT (pointing at the opening bracket). On
 * success *NEXT points past the closing bracket.
 */
static int config_expand_macro(struct expand_state *st, struct buf *out,
                               const char *open, const char *end,
                               const char **next)
{
    char close = *open == '{' ? '}' : ')';
    const char *cp = open + 1;
    const char *name_start = cp;
    char *name;
    int ret = 0;

    while (cp < end && config_is_name_char(*cp))
        cp++;
    if (cp == name_start) {
        buf_setf(st->err, "empty macro name");
        return -1;
    }
    name = mem_strndup(name_start, (size_t) (cp - name_start));
    if (cp < end && *cp == close) {
        ret = config_expand_name(st, out, name);
        *next = cp + 1;
    } else if (cp < end && (*cp == '?' || *cp == ':')) {
        int want_nonempty = (*cp == '?');
        int nonempty;
        const char *val1 = NULL;
        const char *val2 = NULL;
        size_t len1 = 0;
        size_t len2 = 0;
        int have2 = 0;

        cp++;
        if (cp < end && *cp == '{') {
            if (config_braced(st, &cp, end, &val1, &len1) < 0)
                goto fail;
            if (cp < end && *cp == ':' && want_nonempty) {
                cp++;
                if (cp >= end || *cp != '{') {
                    buf_setf(
                        st->err,
                        "expected '{' after ':' in macro reference to \"%s\"",
                        name);
                    goto fail;
                }
                if (config_braced(st, &cp, end, &val2, &len2) < 0)
                    goto fail;
                have2 = 1;
            }
            if (cp >= end || *cp != close) {
                buf_setf(
                    st->err,
                    "unexpected text after '}' in macro reference to \"%s\"",
                    name);
                goto fail;
            }
        } else {
            int depth = 0;

            val1 = cp;
            for (; cp < end; cp++) {
                if (*cp == '{' || *cp == '(')
                    depth++;
                else if ((*cp == '}' || *cp == ')') && depth > 0)
                    depth--;
                else if (*cp == close && depth == 0)
                    break;
            }
            if (cp >= end) {
                buf_setf(st->err, "truncated macro reference to \"%s\"", name);
                goto fail;
            }
            len1 = (size_t) (cp - val1);
        }
        *next = cp + 1;
        if (config_name_nonempty(st, name, &nonempty) < 0)
            goto fail;
        if (nonempty == want_nonempty)
            ret = config_expand_text(st, out, val1, len1);
        else if (have2)
            ret = config_expand_text(st, out, val2, len2);
    } else {
        buf_setf(st->err, "truncated macro reference to \"%s\"", name);
        goto fail;
    }
    mem_free(name);
    return ret;
fail:
    mem_free(name);
    return -1;
}

static int config_expand_text(struct expand_state *st, struct buf *out,
                              const char *text, size_t len)
{
    const char *cp = text;
    const char *end = text + len;

    while (cp < end) {
        const char *dollar = memchr(cp, '$', (size_t) (end - cp));

        if (dollar == NULL) {
            buf_append(out, cp, (size_t) (end - cp));
            break;
        }
        buf_append(out, cp, (size_t) (dollar - cp));
        cp = dollar + 1;
        if (cp < end && *cp == '$') {
            buf_putc(out, '$');
            cp++;
        } else if (cp < end && (*cp == '{' || *cp == '(')) {
            if (config_expand_macro(st, out, cp, end, &cp) < 0)
                return -1;
        } else if (cp < end && config_is_name_char(*cp)) {
            const char *start = cp;
            char *name;
            int ret;

            while (cp < end && config_is_name_char(*cp))
                cp++;
            name = mem_strndup(start, (size_t) (cp - start));
            ret = config_expand_name(st, out, name);
            mem_free(name);
            if (ret < 0)
                return -1;
        } else {
            buf_setf(st->err, "empty macro name");
            return -1;
        }
    }
    return 0;
}

int config_expand(struct buf *out, const char *raw, struct buf *err)
{
    struct expand_state st;

    st.depth = 0;
    st.err = err;
    return config_expand_text(&st, out, raw, strlen(raw));
}

const char *config_get(const char *name)
{
    const char *raw = config_raw(name);
    struct expand_state st;
    struct buf *out;
    struct buf *err;
    char *value;

    if (raw == NULL)
        return NULL;
    if (config_cache && (value = htable_get(config_cache, name)) != NULL)
        return value;
    out = buf_new(strlen(raw) + 16);
    err = buf_new(64);
    st.depth = 1;
    st.stack[0] = name;
    st.err = err;
    if (config_expand_text(&st, out, raw, strlen(raw)) < 0) {
        const char *file;
        int line;

        if (config_origin(name, &file, &line) == 0)
            msg_fatal("%s, line %d: parameter %s: %s", file, line, name,
                      buf_str(err));
        msg_fatal("parameter %s: %s", name, buf_str(err));
    }
    buf_free(err);
    if (config_cache == NULL)
        config_cache = htable_new(256);
    value = buf_steal(out);
    htable_put(config_cache, name, value);
    return value;
}

char *config_dir_of(const char *arg)
{
    struct stat st;
    const char *slash;

    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
        return mem_strdup(arg);
    if ((slash = strrchr(arg, '/')) == NULL)
        return mem_strdup(".");
    if (slash == arg)
        return mem_strdup("/");
    return mem_strndup(arg, (size_t) (slash - arg));
}
