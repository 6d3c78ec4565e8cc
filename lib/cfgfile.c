/*
 * cfgfile.c - logical lines and "name = value" entries (see cfgfile.h).
 *
 * Shared by the main.cf store, the master.cf parser, postconf's editor and
 * the map source readers. Read errors come back as -1 with errno; syntax
 * errors as -1 with a static message.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cfgfile.h"

/* Blank or comment line: skipped wherever it stands. */
static int cfg_is_ignorable(const char *line, size_t len)
{
    size_t i = 0;

    while (i < len && isspace((unsigned char) line[i]))
        i++;
    return i == len || line[i] == '#';
}

/* Read one physical line without its newline into OUT; -1 EOF/error. */
static int cfg_read_physical(FILE *fp, struct buf *out)
{
    int ch;
    int got = 0;

    buf_reset(out);
    while ((ch = getc(fp)) != EOF) {
        got = 1;
        if (ch == '\n')
            break;
        buf_putc(out, ch);
    }
    if (!got)
        return -1;
    if (buf_len(out) > 0 && buf_str(out)[buf_len(out) - 1] == '\r')
        buf_truncate(out, buf_len(out) - 1);
    return 0;
}

int cfg_read_logical(FILE *fp, struct buf *line, int *lineno, int *first)
{
    struct buf *phys = buf_new(256);
    int have = 0;
    int ch;

    buf_reset(line);
    for (;;) {
        /* Peek: a line that starts with white space continues this one. */
        if (have) {
            ch = getc(fp);
            if (ch == EOF)
                break;
            ungetc(ch, fp);
            if (ch != ' ' && ch != '\t' && ch != '#' && ch != '\n'
                && ch != '\r')
                break;
        }
        if (cfg_read_physical(fp, phys) < 0)
            break;
        (*lineno)++;
        if (cfg_is_ignorable(buf_str(phys), buf_len(phys)))
            continue;
        if (!have) {
            *first = *lineno;
            have = 1;
        }
        buf_append(line, buf_str(phys), buf_len(phys));
    }
    buf_free(phys);
    if (ferror(fp))
        return -1;
    return have;
}

int cfg_split_entry(char *text, char **name, char **value, const char **err)
{
    char *cp = text;
    char *name_end;

    while (isspace((unsigned char) *cp))
        cp++;
    if (*cp == '=' || *cp == 0) {
        *err = "missing attribute name";
        return -1;
    }
    *name = cp;
    while (*cp && *cp != '=' && !isspace((unsigned char) *cp))
        cp++;
    name_end = cp;
    while (isspace((unsigned char) *cp))
        cp++;
    if (*cp != '=') {
        *err = "missing '=' after attribute name";
        return -1;
    }
    *name_end = 0;
    cp++;
    while (isspace((unsigned char) *cp))
        cp++;
    *value = cp;
    cp += strlen(cp);
    while (cp > *value && isspace((unsigned char) cp[-1]))
        *--cp = 0;
    return 0;
}
