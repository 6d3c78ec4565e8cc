/*
 * dict_pattern.h - what the regexp: and pcre: table types share, plus the
 * table-source reader that cidr: uses too.
 *
 * A pattern table is read once at open: logical lines (cfgfile.h), each
 * "/pattern/flags result", "!/pattern/flags result", "if /pattern/flags",
 * "if !/pattern/flags" or "endif". The table source is a file or, as in
 * Postfix 3.7, an inline list "{ {rule}, {rule} ... }". A regular-expression
 * engine (POSIX <regex.h> for regexp:, PCRE2 for pcre:) plugs in through
 * struct pat_engine; this module parses the lines, the flags and the "$n"
 * substitutions of the results, keeps the if/endif nesting, and does the
 * first-match search at lookup time.
 *
 * Callers: dict_regexp.c, dict_pcre.c (the whole table), dict_cidr.c (the
 * source reader only).
 *
 * Errors: a malformed rule is warned about with msg_warn(), naming the map,
 * the file and the line as Postfix does ("regexp map FILE, line N: ..."),
 * and skipped, so the rest of the table still works. Only a source that
 * cannot be opened or read makes the open fail (NULL with ERR set).
 */
#ifndef POSTERN_DICT_PATTERN_H
#define POSTERN_DICT_PATTERN_H

#include <stddef.h>

#include "dict.h"

struct buf;

/* ---- table source: a file or an inline "{ {rule}, ... }" list ---------- */

struct pat_source;

/*
 * Open the source of a TYPE table named NAME. A NAME that starts with '{'
 * is an inline list of rules; anything else is a file name. NULL with ERR
 * set ("open FILE: reason", "regexp map: missing '}' in ...").
 */
struct pat_source *pat_source_open(const char *type, const char *name,
                                   struct buf *err);
/* 1 when the source is a file (for dict_remember_file). */
int pat_source_is_file(const struct pat_source *src);
/*
 * Next logical line into LINE; *LINENO is where it starts. A logical line
 * that starts with white space is warned about and skipped. Returns 1 for a
 * line, 0 at the end, -1 on a read error (ERR set).
 */
int pat_source_next(struct pat_source *src, struct buf *line, int *lineno,
                    struct buf *err);
void pat_source_close(struct pat_source *src);

/*
 * Warn "TYPE map NAME, line N: TEXT", the prefix of every complaint about a
 * table line.
 */
void pat_warn(const char *type, const char *name, int lineno, const char *fmt,
              ...) __attribute__((format(printf, 4, 5)));

/*
 * Keyword test shared by the pattern and cidr parsers: 1 when TEXT starts
 * with WORD (case-insensitive) not followed by a letter or digit.
 */
int pat_keyword(const char *text, const char *word);

/* ---- regular-expression engines ----------------------------------------- */

/* Marks a capture group that took no part in the match. */
#define PAT_UNSET ((size_t) -1)

struct pat_engine {
    const char *type; /* "regexp", "pcre": also the log prefix */
    int default_opts; /* the engine's option bits before flags */
    /* "$0" complaint: Postfix words it differently per type. */
    const char *zero_index_text;
    /* Tail of the "no closing regexp delimiter" complaint, likewise. */
    const char *unclosed_action;
    /*
     * Apply flag character C to *OPTS: 0 done, 1 obsolete (ignored with a
     * warning), -1 unknown (the rule is skipped).
     */
    int (*flag)(int *opts, int c);
    /*
     * Compile PATTERN with OPTS. NEED_SUB says the result uses "$n", so
     * the engine must report group offsets. NULL with ERR holding the
     * engine's message (without the map/line prefix).
     */
    void *(*compile)(const char *pattern, int opts, int need_sub,
                     struct buf *err);
    /* Number of capture groups. */
    size_t (*groups)(void *re);
    /*
     * Match KEY (LEN bytes, NUL-terminated). When OFS is not NULL, fill
     * OFS[2*i], OFS[2*i+1] with the start and end of group i for i below
     * NOFS/2, PAT_UNSET for a group that did not take part. Returns 1 for
     * a match, 0 for none, -1 for an engine error (ERR set).
     */
    int (*match)(void *re, const char *key, size_t len, size_t *ofs,
                 size_t nofs, struct buf *err);
    void (*free)(void *re);
};

/*
 * PCRE2 match limit for pcre: tables opened from now on; 0 (the default)
 * keeps PCRE2's own limit, as Postfix does. Only the fuzz targets lower
 * it, so that a backtracking pattern cannot stall a run.
 */
extern unsigned long pat_pcre_match_limit;

/*
 * Read a whole pattern table NAME for ENGINE and return it as a struct dict
 * of type ENGINE->type (DICT_PATTERN set, DICT_FOLD_FIX cleared: patterns
 * decide about case themselves). NULL with ERR set when the source cannot
 * be read or OPEN_FLAGS asks for anything but read-only access.
 */
struct dict *pat_dict_open(const struct pat_engine *engine, const char *name,
                           int open_flags, int flags, struct buf *err);

#endif
