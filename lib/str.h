/*
 * str.h - small string helpers shared by every program.
 */
#ifndef POSTERN_STR_H
#define POSTERN_STR_H

#include <stddef.h>

struct buf;

/* Postfix list separators: comma and white space. */
#define STR_LIST_SEP ", \t\r\n"

/*
 * Return the next token of *BUFP delimited by any of DELIM, NUL-terminate
 * it in place and advance *BUFP; NULL when no token is left.
 */
char *str_token(char **bufp, const char *delim);
/*
 * Like str_token, but a token that starts with '{' runs to the matching
 * '}' (nesting counted) and is returned without the outer braces and
 * surrounding white space, as in "-o { name = value }" or
 * "inline:{ {a = b}, c=d }". Sets *ERR to a message for an unbalanced
 * brace and returns NULL.
 */
char *str_token_braced(char **bufp, const char *delim, const char **err);
/* Remove leading and trailing white space in place; returns STR. */
char *str_trim(char *str);
/* Lower-case in place; returns STR. */
char *str_lower(char *str);
int str_has_prefix(const char *str, const char *prefix);
int str_has_suffix(const char *str, const char *suffix);
/*
 * Append a printable form of DATA to OUT for a log line: every control
 * character and every byte above 126 becomes '?', so that peer data can
 * neither forge log lines nor garble a terminal.
 */
void str_printable(struct buf *out, const char *data, size_t len);

#endif
