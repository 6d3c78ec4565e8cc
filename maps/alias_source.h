/*
 * alias_source.h - reader for aliases(5) source files.
 *
 * Syntax: "name: value, value, ..."; a line that starts with white space
 * (any of " \t\n\v\f\r") continues the previous one; blank lines and
 * lines whose first non-blank character is '#' are skipped (also inside a
 * continued entry); text after a NUL byte is not seen. The name
 * is a local address: quote it when it holds special characters
 * ("a b": x). Values (addresses, /file/name, |command, :include:/file)
 * are stored the way Postfix's postalias stores them: tokenized as RFC 822
 * text and written back with normalised spacing ("a ,b" -> "a, b",
 * ":include: /x" -> ":include:/x"), quotes and comments kept.
 *
 * Bad lines (no ':' after the name, nothing after it, a name with a
 * domain, invalid UTF-8 when required, a continuation line with nothing
 * to continue) are reported as warnings "FILE, line N: ..." and skipped;
 * the rest of the file is still read, as Postfix does. Repeated names are
 * warned about or skipped as the flags say.
 *
 * Callers: postalias/newaliases (building tables), the alias source
 * fuzzer and unit tests. Errors: read errors come back as -1 from
 * alias_source_next() with the reason in alias_source_error().
 */
#ifndef POSTERN_ALIAS_SOURCE_H
#define POSTERN_ALIAS_SOURCE_H

#include <stddef.h>
#include <stdio.h>

struct buf;
struct alias_source;

/*
 * Flags. FOLD: names to lower case (postalias without -f; non-ASCII
 * letters only with UTF8). UTF8: skip lines that are not valid UTF-8
 * (smtputf8_enable, no -u). DUP_WARN: a
 * repeated name is warned about and skipped (the first stays). DUP_IGNORE:
 * skipped quietly. QUIET: no warnings at all (fuzzing, tests).
 */
#define ALIAS_SOURCE_FOLD       0x01
#define ALIAS_SOURCE_UTF8       0x02
#define ALIAS_SOURCE_DUP_WARN   0x04
#define ALIAS_SOURCE_DUP_IGNORE 0x08
#define ALIAS_SOURCE_QUIET      0x10

/* Open PATH. NULL with ERR = "open PATH: reason" when it cannot be read. */
struct alias_source *alias_source_open(const char *path, int flags,
                                       struct buf *err);
/* Read from FP (not closed by alias_source_close); NAME is for messages. */
struct alias_source *alias_source_stream(FILE *fp, const char *name, int flags);
void alias_source_close(struct alias_source *as);

/*
 * The next entry: NAME (unquoted, folded with ALIAS_SOURCE_FOLD) and
 * VALUE (normalised right-hand side). Returns 1 for an entry, 0 at end of
 * input, -1 on a read error.
 */
int alias_source_next(struct alias_source *as, struct buf *name,
                      struct buf *value);
/* The first physical line of the entry last returned. */
int alias_source_line(const struct alias_source *as);
/* How many lines were skipped as bad so far. */
int alias_source_bad_lines(const struct alias_source *as);
/* The reason for the last -1 of alias_source_next(). */
const char *alias_source_error(const struct alias_source *as);

/*
 * Parse one logical line (without its newline) of LEN bytes. Returns 0
 * with NAME (not folded) and VALUE set, or -1 with *ERR set to a static
 * message ("missing ':' after the alias name" ...).
 */
int alias_parse_line(const char *line, size_t len, struct buf *name,
                     struct buf *value, const char **err);

#endif
