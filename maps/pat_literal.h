/*
 * pat_literal.h - the longest piece of plain text that every match of a
 * POSIX extended regular expression must contain, so that a table lookup
 * can skip regexec() for keys that do not contain it (most rules of a
 * regexp: table do not match most keys).
 *
 * Callers: dict_regexp.c (at compile time, once per rule), its tests and
 * fuzz target. The analysis is conservative: anything it does not fully
 * understand (alternation at the top level, GNU backslash operators,
 * stacked quantifiers, an unbalanced group or bracket, non-ASCII bytes)
 * ends a piece of text or gives no text at all, so a key without the text
 * can never have matched. No I/O, no errors: 0 means "no filter".
 */
#ifndef POSTERN_PAT_LITERAL_H
#define POSTERN_PAT_LITERAL_H

#include <stddef.h>

/*
 * Store in OUT (at most SIZE - 1 bytes plus a NUL) the longest run of
 * printable ASCII characters that every string matched by the extended
 * (REG_EXTENDED) regular expression PATTERN contains, and return its
 * length; 0 when there is none (OUT is then "").
 */
size_t pat_required_literal(const char *pattern, char *out, size_t size);

/*
 * Does TEXT contain LIT (a string of LEN bytes)? ICASE compares ASCII letters
 * without case, as regexec() does with REG_ICASE in the C locale.
 */
int pat_has_literal(const char *text, const char *lit, size_t len, int icase);

#endif
