/*
 * fuzz_mastercf.c - libFuzzer target for lib/mastercf.c (master.cf).
 *
 * Built and run by tests/fuzz/run; seeds in tests/fuzz/corpus/mastercf/.
 * The input is a master.cf file. Besides sanitizer findings, a broken
 * invariant aborts:
 *   - strict parsing never accepts what the lenient one refuses;
 *   - writing an unedited table gives back the input byte for byte;
 *   - an entry parsed without warnings renders (plain and folded) to text
 *     that parses back, without warnings, to the same rendering;
 *   - after removing, commenting out, changing (when warning-free) and
 *     adding entries, the written file parses again and holds the
 *     entries it should.
 * Warnings are collected, never logged, so the run stays quiet.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "buf.h"
#include "mastercf.h"
#include "mem.h"

#define PATH "fuzz/master.cf"

static void check(int cond)
{
    if (!cond)
        abort();
}

static char *written(const struct mastercf *mcf, size_t *len)
{
    char *data = NULL;
    FILE *fp = open_memstream(&data, len);

    check(fp != NULL);
    check(mastercf_write(mcf, fp) == 0);
    fclose(fp);
    return data;
}

/* Render E, parse the text back, and compare renderings. */
static void check_round_trip(const struct mastercf_entry *e, int flags)
{
    struct buf *out = buf_new(256);
    struct buf *again = buf_new(256);
    struct buf *err = buf_new(64);
    struct argv *warnings = argv_new(4);
    struct mastercf *back;

    mastercf_render(e, flags, out);
    back = mastercf_parse(PATH, buf_str(out), buf_len(out), 0, warnings, err);
    check(back != NULL);
    check(warnings->argc == 0);
    check(back->count == 1);
    mastercf_render(back->entries[0], flags, again);
    check(strcmp(buf_str(out), buf_str(again)) == 0);
    mastercf_free(back);
    argv_free(warnings);
    buf_free(err);
    buf_free(again);
    buf_free(out);
}

static int is_new(const struct mastercf_entry *e)
{
    return strcmp(e->field[MASTERCF_SERVICE], "fuzz-new") == 0
           && strcmp(e->field[MASTERCF_TYPE], "unix") == 0;
}

static int balanced(const char *text)
{
    int depth = 0;

    for (; *text; text++)
        if (*text == '{')
            depth++;
        else if (*text == '}' && depth > 0)
            depth--;
    return depth == 0;
}

/*
 * An unclosed '{' swallows the rest of its line, so anything an edit adds
 * after it would be swallowed too; such entries are not edited.
 */
static int editable(const struct mastercf_entry *e)
{
    size_t i;

    for (i = 0; i < MASTERCF_NFIELDS; i++)
        if (!balanced(e->field[i]))
            return 0;
    for (i = 0; i < e->argc; i++)
        if (!balanced(e->args[i].text)
            || (e->args[i].value && !balanced(e->args[i].value)))
            return 0;
    return 1;
}

static void check_edits(const uint8_t *data, size_t size)
{
    struct buf *err = buf_new(64);
    struct argv *warnings = argv_new(4);
    struct mastercf *mcf;
    struct mastercf_entry *n;
    size_t expect;
    size_t same = 0;
    size_t len, i;
    int first_edited = 0;
    char *text;

    mcf = mastercf_parse(PATH, (const char *) data, size, 0, warnings, err);
    check(mcf != NULL);
    expect = mcf->count;
    /* A malformed entry (one with warnings) need not survive a rewrite. */
    if (mcf->count > 0 && !is_new(mcf->entries[0]) && warnings->argc == 0
        && editable(mcf->entries[0])) {
        mastercf_set_param(mcf, mcf->entries[0], "fuzz_name", "fuzz_value");
        check(mastercf_set_field(mcf, mcf->entries[0], MASTERCF_MAXPROC, "7", 0,
                                 err)
              == 0);
        first_edited = 1;
    }
    if (mcf->count > 1) {
        mastercf_remove(mcf, mcf->entries[1]);
        expect--;
    }
    if (mcf->count > 2) {
        mastercf_comment_out(mcf, mcf->entries[2]);
        expect--;
    }
    if (mcf->count > 3)
        mastercf_remove_param(mcf, mcf->entries[3], "fuzz_name");
    n = mastercf_entry_parse("fuzz-new unix - - n - 1 cmd -o {a = b c}", 0,
                             warnings, err);
    check(n != NULL);
    /* The first fuzz-new/unix takes its place, duplicates go. */
    for (i = 0; i < mcf->count; i++)
        same += is_new(mcf->entries[i]);
    expect = same ? expect - (same - 1) : expect + 1;
    mastercf_put(mcf, "fuzz-new", "unix", n);
    check(mcf->count == expect);
    text = written(mcf, &len);
    mastercf_free(mcf);

    argv_truncate(warnings, 0);
    mcf = mastercf_parse(PATH, text, len, 0, warnings, err);
    check(mcf != NULL);
    check(mcf->count == expect);
    check(mastercf_find(mcf, "fuzz-new/unix") != NULL);
    check(mastercf_param(mastercf_find(mcf, "fuzz-new/unix"), "a") != NULL);
    if (first_edited) {
        check(mcf->entries[0]->maxproc == 7);
        check(mastercf_param(mcf->entries[0], "fuzz_name") != NULL);
    }
    mastercf_free(mcf);
    free(text);
    argv_free(warnings);
    buf_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf *err = buf_new(64);
    struct argv *warnings = argv_new(4);
    struct mastercf *lenient;
    struct mastercf *strict;
    size_t i;

    if (size > 65536)
        return 0;
    lenient = mastercf_parse(PATH, (const char *) data, size, 0, warnings, err);
    strict = mastercf_parse(PATH, (const char *) data, size, MASTERCF_STRICT,
                            NULL, err);
    check(lenient != NULL || strict == NULL);
    if (strict != NULL)
        check(strict->count == lenient->count);
    mastercf_free(strict);
    if (lenient == NULL)
        goto out;

    {
        size_t len;
        char *text = written(lenient, &len);

        check(len == size && memcmp(text, data, size) == 0);
        free(text);
    }
    /* Round trips of warning-free input, and of every entry's pieces. */
    for (i = 0; i < lenient->count; i++) {
        const struct mastercf_entry *e = lenient->entries[i];
        struct argv *av = mastercf_exec_argv(e);

        check(av->argc >= 1);
        argv_free(av);
        if (warnings->argc == 0 && memchr(data, 0, size) == NULL) {
            check_round_trip(e, 0);
            check_round_trip(e, MASTERCF_FOLD);
        }
    }
    if (memchr(data, 0, size) == NULL)
        check_edits(data, size);
    mastercf_free(lenient);
out:
    argv_free(warnings);
    buf_free(err);
    return 0;
}
