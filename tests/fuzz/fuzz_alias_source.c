/*
 * fuzz_alias_source.c - libFuzzer target for the aliases(5) source reader
 * (maps/alias_source.c).
 *
 * Built and run by tests/fuzz/run. The input's first byte picks the reader
 * flags (folding, UTF-8 checks, duplicate handling); the rest is an alias
 * file, read through a memory stream, and also given whole to
 * alias_parse_line(). Besides sanitizer findings (crash, leak, undefined
 * behaviour), a broken invariant aborts:
 *   - reading never fails and ends; entry line numbers never go down;
 *   - names are not empty; names and values hold no NUL byte;
 *   - with folding, names hold no ASCII capital letter;
 *   - with UTF-8 checks, names and values are valid UTF-8;
 *   - normalising a stored value twice (read back as "x: VALUE") gives
 *     the same text: the stored form is a fixed point after one more
 *     round (the first round may still drop an empty atom, as Postfix's
 *     does).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alias_source.h"
#include "buf.h"
#include "maps.h"
#include "msg.h"

#define MAX_INPUT 8192

static void check(int cond)
{
    if (!cond)
        abort();
}

static int init(void)
{
    msg_init("fuzz_alias_source", MSG_NOLOG);
    return 1;
}

/* Parse "x: VALUE" into OUT; 0 when the line is rejected. */
static int reparse(const struct buf *value, struct buf *out)
{
    struct buf *line = buf_new(buf_len(value) + 4);
    struct buf *name = buf_new(8);
    const char *err;
    int ok;

    buf_puts(line, "x: ");
    buf_append(line, buf_str(value), buf_len(value));
    ok = alias_parse_line(buf_str(line), buf_len(line), name, out, &err) == 0;
    if (ok)
        check(strcmp(buf_str(name), "x") == 0);
    buf_free(line);
    buf_free(name);
    return ok;
}

static void check_entry(const struct buf *name, const struct buf *value,
                        int flags)
{
    struct buf *v1;
    struct buf *v2;
    size_t i;

    check(buf_len(name) > 0);
    check(strlen(buf_str(name)) == buf_len(name));
    check(strlen(buf_str(value)) == buf_len(value));
    if (flags & ALIAS_SOURCE_FOLD)
        for (i = 0; i < buf_len(name); i++)
            check(buf_str(name)[i] < 'A' || buf_str(name)[i] > 'Z');
    if (flags & ALIAS_SOURCE_UTF8) {
        check(maps_utf8_valid(buf_str(name), buf_len(name)));
        check(maps_utf8_valid(buf_str(value), buf_len(value)));
    }
    /* One round of normalisation may still change a value (an empty
     * atom from a lone backslash leaves a space, a ']' inside a literal
     * is written bare); a second round must not. */
    v1 = buf_new(buf_len(value) + 1);
    v2 = buf_new(buf_len(value) + 1);
    if (reparse(value, v1) && buf_len(v1) > 0) {
        check(reparse(v1, v2));
        check(strcmp(buf_str(v2), buf_str(v1)) == 0);
    }
    buf_free(v1);
    buf_free(v2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    struct alias_source *as;
    struct buf *name;
    struct buf *value;
    const char *err;
    FILE *fp;
    int flags;
    int last = 0;
    int ret;

    if (!ready)
        ready = init();
    if (size < 2 || size > MAX_INPUT)
        return 0;
    flags = (data[0]
             & (ALIAS_SOURCE_FOLD | ALIAS_SOURCE_UTF8 | ALIAS_SOURCE_DUP_WARN
                | ALIAS_SOURCE_DUP_IGNORE))
            | ALIAS_SOURCE_QUIET;
    data++;
    size--;

    name = buf_new(16);
    value = buf_new(16);
    if (alias_parse_line((const char *) data, size, name, value, &err) == 0)
        check(strlen(buf_str(value)) == buf_len(value));
    else
        check(err != NULL && *err != 0);

    fp = fmemopen((void *) data, size, "r");
    check(fp != NULL);
    as = alias_source_stream(fp, "fuzz", flags);
    while ((ret = alias_source_next(as, name, value)) > 0) {
        check(alias_source_line(as) > last);
        last = alias_source_line(as);
        check_entry(name, value, flags);
    }
    check(ret == 0);
    check(alias_source_next(as, name, value) == 0);
    alias_source_close(as);
    fclose(fp);
    buf_free(name);
    buf_free(value);
    return 0;
}
