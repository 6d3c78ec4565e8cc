/*
 * fuzz_pat_literal.c - libFuzzer target for the required-text filter of
 * regexp: tables (maps/pat_literal.c).
 *
 * Built and run by tests/fuzz/run. The input's first line is an extended
 * regular expression, the other lines (at most 16) are keys. The oracle
 * is glibc itself: for both case modes, whenever the filter says a key
 * lacks the text every match must contain, regexec() must find no match
 * for it. The text must also be printable ASCII of the length returned.
 * The pattern itself is tried as a key too. A broken promise aborts.
 */
#include <regex.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pat_literal.h"
#include "regex_cost.h"

#define MAX_PATTERN 256
#define MAX_KEYS    16

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[2048];
    char lit[64];
    const char *keys[MAX_KEYS];
    size_t nkeys = 0;
    char *nl, *cp;
    int icase;

    if (size >= sizeof(text) || memchr(data, 0, size) != NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    nl = strchr(text, '\n');
    if (nl == NULL)
        nl = text + size;
    if ((size_t) (nl - text) > MAX_PATTERN || too_costly(text, nl - text))
        return 0;
    keys[nkeys++] = text; /* the pattern as a key (cut at its end below) */
    if (*nl) {
        *nl = 0;
        for (cp = nl + 1; cp && nkeys < MAX_KEYS;) {
            char *end = strchr(cp, '\n');

            if (end)
                *end++ = 0;
            keys[nkeys++] = cp;
            cp = end;
        }
    }
    for (icase = 0; icase <= 1; icase++) {
        regex_t re;
        size_t len, i;

        if (regcomp(&re, text,
                    REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0))
            != 0)
            continue;
        len = pat_required_literal(text, lit, sizeof(lit));
        check(len == strlen(lit));
        for (i = 0; i < len; i++)
            check(lit[i] >= 0x20 && lit[i] <= 0x7e);
        for (i = 0; i < nkeys; i++) {
            if (len == 0 || pat_has_literal(keys[i], lit, len, icase))
                continue;
            check(regexec(&re, keys[i], 0, NULL, 0) == REG_NOMATCH);
        }
        regfree(&re);
    }
    return 0;
}
