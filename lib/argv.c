/*
 * argv.c - string arrays (see argv.h). Errors: none; memory is fatal.
 */
#include <string.h>

#include "argv.h"
#include "mem.h"

struct argv *argv_new(size_t initial)
{
    struct argv *av = mem_alloc(sizeof(*av));

    av->size = initial < 4 ? 4 : initial;
    av->argv = mem_alloc((av->size + 1) * sizeof(char *));
    av->argc = 0;
    av->argv[0] = NULL;
    return av;
}

void argv_free(struct argv *av)
{
    size_t i;

    if (av == NULL)
        return;
    for (i = 0; i < av->argc; i++)
        mem_free(av->argv[i]);
    mem_free(av->argv);
    mem_free(av);
}

void argv_addn(struct argv *av, const char *str, size_t len)
{
    if (av->argc >= av->size) {
        av->size *= 2;
        av->argv = mem_realloc(av->argv, (av->size + 1) * sizeof(char *));
    }
    av->argv[av->argc++] = mem_strndup(str, len);
    av->argv[av->argc] = NULL;
}

void argv_add(struct argv *av, const char *str)
{
    argv_addn(av, str, strlen(str));
}

void argv_truncate(struct argv *av, size_t start)
{
    while (av->argc > start)
        mem_free(av->argv[--av->argc]);
    av->argv[av->argc] = NULL;
}

struct argv *argv_split(const char *str, const char *delim)
{
    struct argv *av = argv_new(8);
    const char *cp = str;

    while (*cp) {
        size_t skip = strspn(cp, delim);
        size_t len;

        cp += skip;
        if (*cp == 0)
            break;
        len = strcspn(cp, delim);
        argv_addn(av, cp, len);
        cp += len;
    }
    return av;
}
