/*
 * fuzz_regexp_map.c - libFuzzer target for regexp: tables
 * (maps/dict_regexp.c and maps/dict_pattern.c).
 *
 * Built and run by tests/fuzz/run. The input is a table source: it is
 * written to a temporary file and opened as regexp:FILE, and also given
 * inline as regexp:{...}; then a few fixed keys and the input's last line
 * are looked up. Besides sanitizer findings (crash, leak, undefined
 * behaviour), a broken invariant aborts:
 *   - opening a readable file never fails (bad rules are skipped);
 *   - a lookup answers FOUND or NOTFOUND, never an error;
 *   - the same lookup twice gives the same answer.
 * glibc's regcomp/regexec are exponential with back-references, stacked
 * repeat operators ("a+++") and nested repeat counts; inputs with those
 * are not tried (the C library's cost, not our code's).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dict.h"
#include "msg.h"
#include "regex_cost.h"

#define MAX_INPUT 4096
#define MAX_KEY   64

static char path[64];

static void check(int cond)
{
    if (!cond)
        abort();
}

static void cleanup(void)
{
    if (path[0] != 0)
        unlink(path);
}

static int init(void)
{
    int fd;

    msg_init("fuzz_regexp_map", MSG_NOLOG);
    snprintf(path, sizeof(path), "/tmp/fuzz_regexp_map.XXXXXX");
    fd = mkstemp(path);
    check(fd >= 0);
    close(fd);
    atexit(cleanup);
    return 1;
}

static void lookups(struct dict *d, const char *last)
{
    static const char *const keys[] = {
        "",
        "a",
        "user@example.com",
        "Foo-outgoing@Example.COM",
        "abcdefghijk",
        "Subject: make money fast",
        "192.0.2.1",
    };
    struct buf *v1 = buf_new(64);
    struct buf *v2 = buf_new(64);
    size_t i;

    for (i = 0; i <= sizeof(keys) / sizeof(keys[0]); i++) {
        const char *key = i < sizeof(keys) / sizeof(keys[0]) ? keys[i] : last;
        enum lookup_status st1 = dict_lookup(d, key, v1);
        enum lookup_status st2 = dict_lookup(d, key, v2);

        check(st1 == LOOKUP_FOUND || st1 == LOOKUP_NOTFOUND);
        check(st1 == st2);
        if (st1 == LOOKUP_FOUND)
            check(strcmp(buf_str(v1), buf_str(v2)) == 0
                  && strlen(buf_str(v1)) <= buf_len(v1));
    }
    buf_free(v1);
    buf_free(v2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    const char *text = (const char *) data;
    struct buf *err;
    struct buf *name;
    struct buf *last;
    struct dict *d;
    const char *nl;
    FILE *fp;

    if (!ready)
        ready = init();
    if (size > MAX_INPUT || too_costly(text, size))
        return 0;
    fp = fopen(path, "w");
    check(fp != NULL);
    check(fwrite(data, 1, size, fp) == size);
    check(fclose(fp) == 0);

    /* The last line (without NUL bytes) is also a key. */
    last = buf_new(MAX_KEY + 1);
    nl = size > 0 ? memrchr(text, '\n', size - 1) : NULL;
    nl = nl ? nl + 1 : text;
    buf_append(last, nl, (size_t) (text + size - nl));
    buf_truncate(last, strnlen(buf_str(last), buf_len(last)));
    if (buf_len(last) > 0 && buf_str(last)[buf_len(last) - 1] == '\n')
        buf_truncate(last, buf_len(last) - 1);
    if (buf_len(last) > MAX_KEY)
        buf_truncate(last, MAX_KEY);

    err = buf_new(64);
    name = buf_new(64);
    buf_setf(name, "regexp:%s", path);
    d = dict_open(buf_str(name), DICT_RDONLY, DICT_FOLD_FIX, err);
    check(d != NULL);
    lookups(d, buf_str(last));
    dict_close(d);

    /* Inline: the input (up to a NUL) as the text between the braces. */
    buf_setf(name, "regexp:{%.*s}", (int) strnlen(text, size), text);
    d = dict_open(buf_str(name), DICT_RDONLY, 0, err);
    if (d != NULL) {
        lookups(d, buf_str(last));
        dict_close(d);
    }
    buf_free(err);
    buf_free(name);
    buf_free(last);
    return 0;
}
