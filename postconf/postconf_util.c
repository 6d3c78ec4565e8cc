/*
 * postconf_util.c - what postconf's main.cf side (postconf.c) and master.cf
 * side (postconf_master.c) print and scan alike: "name = value" lines with
 * white space collapsed and optional folding, and the $name references in
 * a value. No errors.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "argv.h"
#include "buf.h"
#include "postconf.h"

void pc_normalize(struct buf *out, const char *value)
{
    const char *cp;
    int space = 0;

    buf_reset(out);
    for (cp = value; *cp; cp++) {
        if (isspace((unsigned char) *cp)) {
            space = 1;
            continue;
        }
        if (space && buf_len(out) > 0)
            buf_putc(out, ' ');
        space = 0;
        buf_putc(out, *cp);
    }
}

/*
 * Print TEXT; with -f (FOLD) lines break at spaces so that they stay within
 * 80 columns where words allow, continuation lines indented by four. (The
 * column format of -M/-F folds one column earlier, as Postfix does.)
 */
void pc_print_folded(const char *text, int fold)
{
    struct buf *out = buf_new(256);
    const char *cp = text;
    size_t line_start = 0;
    int first = 1;

    while (*cp) {
        size_t len = strcspn(cp, " ");

        if (!first) {
            if (fold && buf_len(out) - line_start + 1 + len > 80) {
                buf_putc(out, '\n');
                line_start = buf_len(out);
                buf_puts(out, "    ");
            } else {
                buf_putc(out, ' ');
            }
        }
        buf_append(out, cp, len);
        first = 0;
        cp += len;
        while (*cp == ' ')
            cp++;
    }
    buf_putc(out, '\n');
    fwrite(buf_str(out), 1, buf_len(out), stdout);
    buf_free(out);
}

/*
 * "name = value" as postconf prints parameter values: runs of white space
 * become one space; "name =" for an empty value; the value alone with -h.
 */
void pc_print_param(const char *name, const char *value, int flags)
{
    struct buf *norm = buf_new(256);
    struct buf *line = buf_new(256);

    pc_normalize(norm, value);
    if (flags & PC_NONAME)
        buf_set(line, buf_str(norm));
    else if (buf_len(norm) > 0)
        buf_setf(line, "%s = %s", name, buf_str(norm));
    else
        buf_setf(line, "%s =", name);
    pc_print_folded(buf_str(line), flags & PC_FOLD);
    buf_free(norm);
    buf_free(line);
}

/* Every $name, ${name...} and $(name...) in TEXT, in order. */
struct argv *pc_refs(const char *text)
{
    struct argv *refs = argv_new(4);
    const char *cp = text;

    while ((cp = strchr(cp, '$')) != NULL) {
        const char *start;

        cp++;
        if (*cp == '$') {
            cp++;
            continue;
        }
        if (*cp == '{' || *cp == '(')
            cp++;
        start = cp;
        while (isalnum((unsigned char) *cp) || *cp == '_')
            cp++;
        if (cp > start)
            argv_addn(refs, start, (size_t) (cp - start));
    }
    return refs;
}
