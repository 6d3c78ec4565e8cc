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

/*
 * Read one physical line without its newline; -1 at EOF or error. The line
 * lives in a buffer reused across calls (getline grows it), so reading a
 * million-line map source costs no allocation per line.
 */
static char *cfg_phys;
static size_t cfg_phys_size;

static ssize_t cfg_read_physical(FILE *fp)
{
    ssize_t len = getline(&cfg_phys, &cfg_phys_size, fp);

    if (len < 0)
        return -1;
    if (len > 0 && cfg_phys[len - 1] == '\n')
        cfg_phys[--len] = 0;
    if (len > 0 && cfg_phys[len - 1] == '\r')
        cfg_phys[--len] = 0;
    return len;
}

int cfg_read_logical(FILE *fp, struct buf *line, int *lineno, int *first)
{
    int have = 0;
    ssize_t len;
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
        if ((len = cfg_read_physical(fp)) < 0)
            break;
        (*lineno)++;
        if (cfg_is_ignorable(cfg_phys, (size_t) len))
            continue;
        if (!have) {
            *first = *lineno;
            have = 1;
        }
        buf_append(line, cfg_phys, (size_t) len);
    }
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
