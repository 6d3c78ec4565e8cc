/*
 * dict_source.h - the reader of postmap-format source text.
 *
 * A source file holds "key whitespace value" entries, one per logical
 * line (cfgfile.h: continuation lines start with white space, '#'
 * comments and blank lines are skipped). Surrounding white space is
 * removed from key and value. A key may hold white space inside double
 * quotes ("a b"@example.com); a backslash protects the next character;
 * quotes and backslashes stay part of the key, as in Postfix.
 *
 * Bad lines are logged with msg_warn() naming the file and line, in
 * Postfix's words, and skipped; reading goes on.
 *
 * Callers: postmap (building hash/btree/dbm tables) and texthash.
 */
#ifndef POSTERN_DICT_SOURCE_H
#define POSTERN_DICT_SOURCE_H

#include <stdio.h>

struct buf;
struct dict_source;

/* Flags. */
#define DICT_SOURCE_IGNORING                                                   \
    0x1 /* end warnings "-- ignoring this line"                                \
         * (texthash's wording; postmap omits it) */

/* Results of dict_source_split(). */
enum dict_source_status {
    DICT_SOURCE_ENTRY = 0,    /* *KEY and *VALUE are set */
    DICT_SOURCE_NOVALUE,      /* "expected format: key whitespace value" */
    DICT_SOURCE_UNBALANCED,   /* a '"' in the key is not closed */
    DICT_SOURCE_LEADING_SPACE /* the logical line starts with white space */
};

/*
 * Open PATH for reading. NULL with ERR = "open PATH: reason" on failure.
 */
struct dict_source *dict_source_open(const char *path, int flags,
                                     struct buf *err);
/* Read from FP (not closed by dict_source_close), called NAME in warnings. */
struct dict_source *dict_source_stream(FILE *fp, const char *name, int flags);

/*
 * The next entry: 1 with *KEY and *VALUE pointing into the reader's
 * buffer (valid until the next call), 0 at the end, -1 on a read error
 * (errno set). Bad lines are warned about and skipped.
 */
int dict_source_next(struct dict_source *src, char **key, char **value);
/* The physical line number where the last entry started. */
int dict_source_lineno(const struct dict_source *src);
/* The name used in warnings ("stdin" or the path). */
const char *dict_source_name(const struct dict_source *src);
void dict_source_close(struct dict_source *src);

/*
 * Split one logical line in place into key and value (the parser behind
 * dict_source_next, for tests and the fuzzer).
 */
enum dict_source_status dict_source_split(char *line, char **key, char **value);

#endif
