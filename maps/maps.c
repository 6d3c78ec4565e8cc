/*
 * maps.c - a parameter's list of lookup tables (see maps.h).
 *
 * Called by every daemon that looks things up, mostly through the search
 * orders in maps_search.c. Errors: a table that fails to open is logged
 * once and remembered; lookups through it, and lookup errors of open
 * tables, return LOOKUP_ERR_TEMP/LOOKUP_ERR_CONFIG with the reason in
 * maps_error(). Nothing here is fatal.
 */
#include <locale.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#include "buf.h"
#include "dict.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "str.h"

struct maps_entry {
    char *spec;           /* "hash:/etc/aliases" as written */
    struct dict *dict;    /* NULL when the open failed */
    struct buf *open_err; /* why it failed */
};

struct maps {
    char *title;
    int dict_flags;
    struct maps_entry *entries;
    size_t count;
    struct buf *err;
};

/* Open (or reopen) one entry; on failure remember and log why. */
static void maps_open_entry(struct maps *m, struct maps_entry *e)
{
    buf_reset(e->open_err);
    e->dict = dict_open(e->spec, DICT_RDONLY, m->dict_flags, e->open_err);
    if (e->dict == NULL) {
        if (buf_len(e->open_err) == 0)
            buf_set(e->open_err, "open failed");
        msg_warn("%s: %s is unavailable: %s", m->title, e->spec,
                 buf_str(e->open_err));
    }
}

/*
 * Split a list at commas and white space, keeping text inside (nested)
 * braces whole: "inline:{a=b, c=d}, hash:/x" is two entries.
 */
static void maps_split(struct maps *m, const char *names)
{
    const char *cp = names;
    size_t size = 0;

    while (*cp) {
        const char *start;
        int depth = 0;

        cp += strspn(cp, STR_LIST_SEP);
        if (*cp == 0)
            break;
        start = cp;
        for (; *cp; cp++) {
            if (*cp == '{')
                depth++;
            else if (*cp == '}' && depth > 0)
                depth--;
            else if (depth == 0 && strchr(STR_LIST_SEP, *cp) != NULL)
                break;
        }
        if (m->count == size) {
            size = size ? size * 2 : 4;
            m->entries = mem_realloc(m->entries, size * sizeof(*m->entries));
        }
        m->entries[m->count].spec = mem_strndup(start, (size_t) (cp - start));
        m->entries[m->count].dict = NULL;
        m->entries[m->count].open_err = buf_new(64);
        m->count++;
    }
}

struct maps *maps_create(const char *title, const char *map_names,
                         int dict_flags)
{
    struct maps *m = mem_calloc(1, sizeof(*m));
    size_t i;

    m->title = mem_strdup(title ? title : "maps");
    m->dict_flags = dict_flags;
    m->err = buf_new(64);
    maps_split(m, map_names ? map_names : "");
    for (i = 0; i < m->count; i++)
        maps_open_entry(m, &m->entries[i]);
    return m;
}

void maps_free(struct maps *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < m->count; i++) {
        if (m->entries[i].dict != NULL)
            dict_close(m->entries[i].dict);
        buf_free(m->entries[i].open_err);
        mem_free(m->entries[i].spec);
    }
    mem_free(m->entries);
    buf_free(m->err);
    mem_free(m->title);
    mem_free(m);
}

enum lookup_status maps_find(struct maps *m, const char *key, int flags,
                             struct buf *value)
{
    size_t i;

    buf_reset(m->err);
    buf_reset(value);
    if (key == NULL || *key == 0)
        return LOOKUP_NOTFOUND;
    for (i = 0; i < m->count; i++) {
        struct maps_entry *e = &m->entries[i];
        enum lookup_status st;

        if (e->dict == NULL) {
            buf_setf(m->err, "%s: %s: %s", m->title, e->spec,
                     buf_str(e->open_err));
            return LOOKUP_ERR_CONFIG;
        }
        if ((flags & MAPS_PARTIAL) && (e->dict->flags & DICT_PATTERN))
            continue;
        st = dict_lookup(e->dict, key, value);
        switch (st) {
        case LOOKUP_FOUND:
            return st;
        case LOOKUP_NOTFOUND:
            continue;
        case LOOKUP_ERR_TEMP:
        case LOOKUP_ERR_CONFIG:
            buf_reset(value);
            buf_setf(m->err, "%s: %s:%s: %s", m->title, e->dict->type,
                     e->dict->name,
                     buf_len(e->dict->err) ? buf_str(e->dict->err)
                                           : lookup_status_name(st));
            return st;
        }
        /* An out-of-range status from a broken type is a configuration
         * problem, not a silent "no". */
        buf_reset(value);
        buf_setf(m->err, "%s: %s:%s: bad lookup status %d", m->title,
                 e->dict->type, e->dict->name, (int) st);
        return LOOKUP_ERR_CONFIG;
    }
    return LOOKUP_NOTFOUND;
}

const char *maps_error(const struct maps *m)
{
    return buf_str(m->err);
}

const char *maps_title(const struct maps *m)
{
    return m->title;
}

size_t maps_count(const struct maps *m)
{
    return m->count;
}

int maps_reopen(struct maps *m)
{
    size_t i;
    int n = 0;

    for (i = 0; i < m->count; i++) {
        struct maps_entry *e = &m->entries[i];

        if (e->dict != NULL) {
            if (!dict_changed(e->dict))
                continue;
            msg_info("%s: %s has changed, reopening", m->title, e->spec);
            dict_close(e->dict);
            e->dict = NULL;
        }
        maps_open_entry(m, e);
        n++;
    }
    return n;
}

int maps_feature_listed(const char *list, const char *feature)
{
    const char *cp = list ? list : "";
    size_t flen = strlen(feature);

    while (*cp) {
        size_t len;

        cp += strspn(cp, STR_LIST_SEP);
        len = strcspn(cp, STR_LIST_SEP);
        if (len == 0)
            break;
        if (len == flen && strncasecmp(cp, feature, len) == 0)
            return 1;
        cp += len;
    }
    return 0;
}

/* ---- case folding ------------------------------------------------------ */

/*
 * Decode one UTF-8 character at S (N bytes left). Returns its length and
 * sets *CP, or 0 for an invalid sequence (overlong forms, surrogates and
 * values above U+10FFFF are invalid).
 */
static size_t maps_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c;
    size_t len;
    size_t i;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        c = s[0] & 0x1f;
        len = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        c = s[0] & 0x0f;
        len = 3;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        c = s[0] & 0x07;
        len = 4;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000)
        || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
        return 0;
    *cp = c;
    return len;
}

int maps_utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *) text;
    size_t i;

    for (i = 0; i < len;) {
        uint32_t c;
        size_t n = maps_utf8_decode(s + i, len - i, &c);

        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

static void maps_utf8_encode(struct buf *out, uint32_t c)
{
    char tmp[4];
    size_t len;

    if (c < 0x80) {
        tmp[0] = (char) c;
        len = 1;
    } else if (c < 0x800) {
        tmp[0] = (char) (0xc0 | (c >> 6));
        tmp[1] = (char) (0x80 | (c & 0x3f));
        len = 2;
    } else if (c < 0x10000) {
        tmp[0] = (char) (0xe0 | (c >> 12));
        tmp[1] = (char) (0x80 | ((c >> 6) & 0x3f));
        tmp[2] = (char) (0x80 | (c & 0x3f));
        len = 3;
    } else {
        tmp[0] = (char) (0xf0 | (c >> 18));
        tmp[1] = (char) (0x80 | ((c >> 12) & 0x3f));
        tmp[2] = (char) (0x80 | ((c >> 6) & 0x3f));
        tmp[3] = (char) (0x80 | (c & 0x3f));
        len = 4;
    }
    buf_append(out, tmp, len);
}

/* The Unicode case tables of the C library, without touching the
 * process locale. Kept for the life of the process. */
static locale_t maps_utf8_locale(void)
{
    static locale_t loc;
    static int tried;

    if (!tried) {
        tried = 1;
        loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
    }
    return loc;
}

static void maps_fold_ascii(struct buf *out, const char *key, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        int ch = (unsigned char) key[i];

        buf_putc(out, (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch);
    }
}

void maps_fold(struct buf *out, const char *key, int utf8)
{
    const unsigned char *s = (const unsigned char *) key;
    size_t len = strlen(key);
    size_t i;
    int eight = 0;
    locale_t loc;

    for (i = 0; i < len; i++) {
        if (s[i] >= 0x80) {
            eight = 1;
            break;
        }
    }
    if (!utf8 || !eight || (loc = maps_utf8_locale()) == (locale_t) 0) {
        maps_fold_ascii(out, key, len);
        return;
    }
    /* Only valid UTF-8 is folded as characters; anything else as bytes. */
    if (!maps_utf8_valid(key, len)) {
        maps_fold_ascii(out, key, len);
        return;
    }
    for (i = 0; i < len;) {
        uint32_t c;
        size_t n = maps_utf8_decode(s + i, len - i, &c);
        wint_t low = towlower_l((wint_t) c, loc);

        maps_utf8_encode(out,
                         (low > 0 && low <= 0x10ffff) ? (uint32_t) low : c);
        i += n;
    }
}
