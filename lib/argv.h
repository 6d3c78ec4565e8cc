/*
 * argv.h - growable, NULL-terminated string arrays.
 *
 * Used for command lines, split lists and anything that is "a list of
 * strings". Strings added are copied; argv_free frees them all.
 */
#ifndef POSTERN_ARGV_H
#define POSTERN_ARGV_H

#include <stddef.h>

struct argv {
    char **argv; /* NULL-terminated */
    size_t argc;
    size_t size;
};

struct argv *argv_new(size_t initial);
void argv_free(struct argv *av);
void argv_add(struct argv *av, const char *str);
void argv_addn(struct argv *av, const char *str, size_t len);
/* Remove every element from START on. */
void argv_truncate(struct argv *av, size_t start);
/* Split STR at any character in DELIM, dropping empty tokens. */
struct argv *argv_split(const char *str, const char *delim);

#endif
