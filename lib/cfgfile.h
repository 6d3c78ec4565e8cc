/*
 * cfgfile.h - the line syntax shared by main.cf, master.cf and map sources.
 *
 * A logical line is a physical line plus every following line that starts
 * with white space. Blank lines and comment lines (first non-blank
 * character '#') are skipped, also in the middle of a logical line.
 * Physical lines are joined with their newline removed; the caller trims.
 *
 * Callers: config.c (main.cf), mastercf.c (master.cf), postconf -e, and the
 * map source readers.
 */
#ifndef POSTERN_CFGFILE_H
#define POSTERN_CFGFILE_H

#include <stdio.h>

struct buf;

/*
 * Read the next logical line into LINE. *LINENO counts physical lines read
 * so far (start it at 0); *FIRST is set to the physical line number where
 * the logical line starts. Returns 1 for a line, 0 at end of file, -1 on a
 * read error (errno set).
 */
int cfg_read_logical(FILE *fp, struct buf *line, int *lineno, int *first);

/*
 * Split a main.cf logical line "name = value" in place. The name ends at
 * white space or '='; the value is trimmed. Returns 0, or -1 with *ERR set
 * to a static message such as "missing '=' after attribute name".
 */
int cfg_split_entry(char *text, char **name, char **value, const char **err);

#endif
