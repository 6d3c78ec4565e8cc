/*
 * fuzz_map_source.c - libFuzzer target for the postmap source reader
 * (maps/dict_source.c) and the inline:/static: name parsers.
 *
 * Built and run by tests/fuzz/run. The first input byte picks the reader
 * flags; the rest is a source file. Besides sanitizer findings, a broken
 * invariant aborts:
 *   - every entry has a non-empty key and value without surrounding white
 *     space, and "key value" splits back into the same key and value;
 *   - line numbers only grow, and reading ends cleanly at end of input;
 *   - inline:{...} and static:{...} built from the first line either open
 *     or fail with a message, and an opened inline: table finds its keys.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dict.h"
#include "dict_source.h"
#include "mem.h"
#include "msg.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void check_entry(const char *key, const char *value)
{
    struct buf *line = buf_new(64);
    size_t vlen = strlen(value);
    char *k2;
    char *v2;

    check(*key != 0 && !isspace((unsigned char) key[0]));
    check(vlen > 0 && !isspace((unsigned char) value[0])
          && !isspace((unsigned char) value[vlen - 1]));
    buf_printf(line, "%s %s", key, value);
    check(dict_source_split(buf_str(line), &k2, &v2) == DICT_SOURCE_ENTRY);
    check(strcmp(k2, key) == 0 && strcmp(v2, value) == 0);
    buf_free(line);
}

/* The first line as the inside of inline:{...} and static:{...}. */
static void check_names(const char *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t len = nl ? (size_t) (nl - data) : size;
    struct buf *spec = buf_new(len + 16);
    struct buf *err = buf_new(64);
    struct buf *value = buf_new(64);
    struct dict *d;

    if (memchr(data, 0, len) != NULL)
        goto out;
    buf_puts(spec, "inline:{");
    buf_append(spec, data, len);
    buf_puts(spec, "}");
    d = dict_open(buf_str(spec), DICT_RDONLY, DICT_FOLD_FIX, err);
    if (d == NULL) {
        check(buf_len(err) > 0);
    } else {
        struct buf *key = buf_new(16);
        struct buf *val = buf_new(16);
        int how;

        for (how = DICT_SEQ_FIRST;
             dict_sequence(d, how, key, val) == LOOKUP_FOUND;
             how = DICT_SEQ_NEXT)
            check(dict_lookup(d, buf_str(key), value) == LOOKUP_FOUND);
        buf_free(key);
        buf_free(val);
        dict_close(d);
    }
    buf_set(spec, "static:");
    buf_append(spec, data, len);
    d = dict_open(buf_str(spec), DICT_RDONLY, 0, err);
    if (d == NULL)
        check(buf_len(err) > 0);
    else
        dict_close(d);
out:
    buf_free(spec);
    buf_free(err);
    buf_free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialized;
    struct dict_source *src;
    char *key;
    char *value;
    FILE *fp;
    int last = 0;
    int ret;

    if (!initialized) {
        msg_init("fuzz_map_source", MSG_NOLOG);
        initialized = 1;
    }
    if (size < 2)
        return 0;
    check_names((const char *) data + 1, size - 1);
    fp = fmemopen((void *) (data + 1), size - 1, "r");
    if (fp == NULL)
        return 0;
    src = dict_source_stream(fp, "fuzz",
                             (data[0] & 1) ? DICT_SOURCE_IGNORING : 0);
    while ((ret = dict_source_next(src, &key, &value)) > 0) {
        check(dict_source_lineno(src) > last);
        last = dict_source_lineno(src);
        check_entry(key, value);
    }
    check(ret == 0);
    dict_source_close(src);
    fclose(fp);
    return 0;
}
