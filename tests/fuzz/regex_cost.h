/*
 * regex_cost.h - for the fuzz targets that hand patterns to glibc's
 * regcomp/regexec (fuzz_regexp_map.c, fuzz_pat_literal.c): which inputs
 * to skip because glibc itself would take exponential time on them.
 */
#ifndef POSTERN_FUZZ_REGEX_COST_H
#define POSTERN_FUZZ_REGEX_COST_H

#include <stddef.h>
#include <string.h>

/*
 * Back-references, stacked repeat operators, or repeat counts that
 * multiply into huge automata: glibc's cost, not ours.
 */
static int too_costly(const char *text, size_t len)
{
    int bounds = 0;
    size_t i;

    for (i = 0; i + 1 < len; i++) {
        if (text[i] == '\\' && text[i + 1] >= '1' && text[i + 1] <= '9')
            return 1;
        /* "a++++": glibc copies the tree once per stacked operator. */
        if (strchr("+*?}", text[i]) != NULL && text[i] != 0
            && strchr("+*?{", text[i + 1]) != NULL && text[i + 1] != 0)
            return 1;
        if (text[i] == '{' && text[i + 1] >= '0' && text[i + 1] <= '9') {
            size_t j = i + 1;
            long count = 0;

            while (j < len && text[j] >= '0' && text[j] <= '9' && count <= 32)
                count = count * 10 + (text[j++] - '0');
            if (count > 32 || ++bounds > 3)
                return 1;
        }
    }
    return 0;
}

#endif
