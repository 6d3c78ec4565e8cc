/*
 * dict_source.c - the reader of postmap-format source text (see
 * dict_source.h).
 *
 * Callers: postmap, texthash (dict_texthash.c), the map_source fuzzer.
 * Errors: an open failure is NULL plus a message; a read error is -1 from
 * dict_source_next() with errno set; bad lines are msg_warn()ed with the
 * file and line, in Postfix's wording, and skipped.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cfgfile.h"
#include "dict_source.h"
#include "mem.h"
#include "msg.h"
#include "str.h"

struct dict_source {
    FILE *fp;
    int own_fp; /* opened here, closed by dict_source_close */
    char *name; /* for warnings */
    int flags;
    int lineno;       /* physical lines read so far */
    int first;        /* where the current logical line started */
    struct buf *line; /* the current logical line, split in place */
};

/* Postfix shows at most this much of a line that starts with white space. */
#define DICT_SOURCE_SHOW 30

struct dict_source *dict_source_open(const char *path, int flags,
                                     struct buf *err)
{
    struct dict_source *src;
    FILE *fp = fopen(path, "re");

    if (fp == NULL) {
        buf_setf(err, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    src = dict_source_stream(fp, path, flags);
    src->own_fp = 1;
    return src;
}

struct dict_source *dict_source_stream(FILE *fp, const char *name, int flags)
{
    struct dict_source *src = mem_calloc(1, sizeof(*src));

    src->fp = fp;
    src->name = mem_strdup(name);
    src->flags = flags;
    src->line = buf_new(256);
    return src;
}

void dict_source_close(struct dict_source *src)
{
    if (src == NULL)
        return;
    if (src->own_fp)
        fclose(src->fp);
    mem_free(src->name);
    buf_free(src->line);
    mem_free(src);
}

int dict_source_lineno(const struct dict_source *src)
{
    return src->first;
}

const char *dict_source_name(const struct dict_source *src)
{
    return src->name;
}

enum dict_source_status dict_source_split(char *line, char **key, char **value)
{
    char *cp = line;
    char *end;
    int quoted = 0;

    if (isspace((unsigned char) *cp))
        return DICT_SOURCE_LEADING_SPACE;
    /*
     * The key ends at white space outside double quotes. A backslash
     * protects the next character; quotes and backslashes stay in the key
     * (lookups quote address localparts the same way).
     */
    *key = cp;
    while (*cp) {
        if (*cp == '\\') {
            cp += cp[1] ? 2 : 1;
            continue;
        }
        if (*cp == '"')
            quoted = !quoted;
        else if (!quoted && isspace((unsigned char) *cp))
            break;
        cp++;
    }
    if (quoted)
        return DICT_SOURCE_UNBALANCED;
    if (*cp)
        *cp++ = 0;
    while (isspace((unsigned char) *cp))
        cp++;
    end = cp + strlen(cp);
    while (end > cp && isspace((unsigned char) end[-1]))
        *--end = 0;
    if (*cp == 0)
        return DICT_SOURCE_NOVALUE;
    *value = cp;
    return DICT_SOURCE_ENTRY;
}

/* Log one bad line the way Postfix words it. */
static void dict_source_warn(struct dict_source *src,
                             enum dict_source_status st, const char *text)
{
    const char *ignoring =
        (src->flags & DICT_SOURCE_IGNORING) ? " -- ignoring this line" : "";
    struct buf *safe = buf_new(64);
    size_t len = strlen(text);

    switch (st) {
    case DICT_SOURCE_LEADING_SPACE:
        str_printable(safe, text,
                      len > DICT_SOURCE_SHOW ? DICT_SOURCE_SHOW : len);
        msg_warn("%s: logical line must not start with whitespace: \"%s%s\"",
                 src->name, buf_str(safe), len > DICT_SOURCE_SHOW ? "..." : "");
        break;
    case DICT_SOURCE_UNBALANCED:
        str_printable(safe, text, len);
        msg_warn("%s, line %d: unbalanced '\"' in '%s' -- ignoring this line",
                 src->name, src->first, buf_str(safe));
        break;
    case DICT_SOURCE_NOVALUE:
        msg_warn("%s, line %d: expected format: key whitespace value%s",
                 src->name, src->first, ignoring);
        break;
    case DICT_SOURCE_ENTRY:
        break;
    }
    buf_free(safe);
}

int dict_source_next(struct dict_source *src, char **key, char **value)
{
    enum dict_source_status st;
    int ret;

    for (;;) {
        ret = cfg_read_logical(src->fp, src->line, &src->lineno, &src->first);
        if (ret <= 0)
            return ret;
        st = dict_source_split(buf_str(src->line), key, value);
        if (st == DICT_SOURCE_ENTRY)
            return 1;
        dict_source_warn(src, st, buf_str(src->line));
    }
}
