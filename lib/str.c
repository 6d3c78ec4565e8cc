/*
 * str.c - string helpers (see str.h). No errors except where noted.
 */
#include <ctype.h>
#include <string.h>

#include "buf.h"
#include "str.h"

char *str_token(char **bufp, const char *delim)
{
    char *start = *bufp + strspn(*bufp, delim);
    char *end;

    if (*start == 0) {
        *bufp = start;
        return NULL;
    }
    end = start + strcspn(start, delim);
    if (*end)
        *end++ = 0;
    *bufp = end;
    return start;
}

char *str_token_braced(char **bufp, const char *delim, const char **err)
{
    char *start = *bufp + strspn(*bufp, delim);
    char *cp;
    int depth;

    *err = NULL;
    if (*start != '{')
        return str_token(bufp, delim);
    for (depth = 0, cp = start; *cp; cp++) {
        if (*cp == '{')
            depth++;
        else if (*cp == '}' && --depth == 0)
            break;
    }
    if (*cp != '}') {
        *err = "missing '}'";
        *bufp = cp;
        return NULL;
    }
    *cp++ = 0;
    if (*cp && strchr(delim, *cp) == NULL) {
        *err = "text after '}'";
        *bufp = cp;
        return NULL;
    }
    if (*cp)
        cp++;
    *bufp = cp;
    return str_trim(start + 1);
}

char *str_trim(char *str)
{
    char *start = str;
    size_t len;

    while (isspace((unsigned char) *start))
        start++;
    len = strlen(start);
    while (len > 0 && isspace((unsigned char) start[len - 1]))
        len--;
    memmove(str, start, len);
    str[len] = 0;
    return str;
}

char *str_lower(char *str)
{
    char *cp;

    for (cp = str; *cp; cp++)
        *cp = (char) tolower((unsigned char) *cp);
    return str;
}

int str_has_prefix(const char *str, const char *prefix)
{
    return strncmp(str, prefix, strlen(prefix)) == 0;
}

int str_has_suffix(const char *str, const char *suffix)
{
    size_t len = strlen(str);
    size_t slen = strlen(suffix);

    return len >= slen && strcmp(str + len - slen, suffix) == 0;
}

void str_printable(struct buf *out, const char *data, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char) data[i];

        buf_putc(out, (ch >= 32 && ch < 127) ? ch : '?');
    }
}
