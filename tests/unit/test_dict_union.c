/*
 * test_dict_union.c - unit tests for unionmap:{...} and pipemap:{...}
 * (maps/dict_union.c).
 *
 * Table-driven: each case opens a composite table, looks one key up and
 * compares the answer with what Debian's Postfix 3.7 "postmap -q" gives
 * for the same table name. A failing case prints "got X, want Y" and the
 * test fails at the end, so one run shows every broken case.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dict.h"
#include "lookup.h"
#include "msg.h"

#define F  LOOKUP_FOUND
#define NF LOOKUP_NOTFOUND

static int failures;
static char table1[] = "/tmp/test_dict_union.1.XXXXXX";
static char table2[] = "/tmp/test_dict_union.2.XXXXXX";

static void write_table(char *path, const char *text)
{
    int fd = mkstemp(path);
    FILE *fp;

    assert_true(fd >= 0);
    fp = fdopen(fd, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int setup(void **state)
{
    (void) state;
    msg_init("test_dict_union", MSG_NOLOG);
    write_table(table1, "/a/ A1\n/b/ B1\n");
    write_table(table2, "/a/ A2\n/c/ C2\n/^A1$/ P\n");
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    unlink(table1);
    unlink(table2);
    return 0;
}

/* "@1" and "@2" in a case's name stand for the two regexp tables. */
static void expand(struct buf *out, const char *name)
{
    buf_reset(out);
    for (; *name; name++) {
        if (name[0] == '@' && (name[1] == '1' || name[1] == '2')) {
            buf_puts(out, name[1] == '1' ? table1 : table2);
            name++;
        } else {
            buf_putc(out, *name);
        }
    }
}

static const struct {
    const char *name;
    const char *key;
    enum lookup_status st;
    const char *value;
} lookup_cases[] = {
    {"unionmap:{regexp:@1, regexp:@2}", "a", F, "A1,A2"},
    {"unionmap:{regexp:@1, regexp:@2}", "b", F, "B1"},
    {"unionmap:{regexp:@1, regexp:@2}", "c", F, "C2"},
    {"unionmap:{regexp:@1, regexp:@2}", "z", NF, NULL},
    {"unionmap:{regexp:@1 regexp:@2}", "a", F, "A1,A2"},
    {"unionmap:{regexp:@1,,regexp:@2}", "a", F, "A1,A2"},
    {"unionmap:{ regexp:@1, regexp:@1}", "a", F, "A1,A1"},
    {"unionmap:{regexp:@1}", "a", F, "A1"},
    {"unionmap:{ static:x,}", "a", F, "x"},
    {"pipemap:{regexp:@1, regexp:@2}", "a", F, "A2"},
    {"pipemap:{regexp:@1, regexp:@2}", "b", NF, NULL},
    {"pipemap:{regexp:@1, regexp:@2}", "z", NF, NULL},
    {"pipemap:{regexp:@1}", "a", F, "A1"},
    /* Members with braces and white space of their own. */
    {"unionmap:{ inline:{a=x}, static:y }", "a", F, "x,y"},
    {"unionmap:{ inline:{{a=x y}}, static:{y z} }", "a", F, "x y,y z"},
    {"unionmap:{ inline:{a=x, b=y}, static:y}", "a", F, "x,y"},
    {"unionmap:{cidr:{{1.2.3.0/24 net}}, pcre:{{/^1\\./ one}}}", "1.2.3.4", F,
     "net,one"},
    /* Empty values: no comma before the first, kept after it. */
    {"unionmap:{static:x, static:{}, static:y}", "a", F, "x,,y"},
    {"unionmap:{static:{}, static:x}", "a", F, "x"},
    {"unionmap:{static:{}}", "a", NF, NULL},
    /* Pipelines of several stages, and nesting. */
    {"pipemap:{inline:{a=b}, inline:{b=c}, inline:{c=d}}", "a", F, "d"},
    {"pipemap:{inline:{a=b}, inline:{c=d}}", "a", NF, NULL},
    {"pipemap:{static:{}, static:x}", "a", F, "x"},
    {"unionmap:{unionmap:{static:1, static:2}, pipemap:{static:3, "
     "inline:{3=4}}}",
     "a", F, "1,2,4"},
    /* A member error is the answer, wherever the member stands. */
    {"unionmap:{fail:x, regexp:@1}", "a", LOOKUP_ERR_TEMP, NULL},
    {"unionmap:{regexp:@1, fail:x}", "a", LOOKUP_ERR_TEMP, NULL},
    {"unionmap:{regexp:@1, fail:x}", "z", LOOKUP_ERR_TEMP, NULL},
    {"pipemap:{regexp:@1, fail:x}", "a", LOOKUP_ERR_TEMP, NULL},
    {"pipemap:{fail:x, regexp:@1}", "a", LOOKUP_ERR_TEMP, NULL},
    /* ... but a pipeline that stops first never asks the failing one. */
    {"pipemap:{regexp:@1, fail:x}", "z", NF, NULL},
};

static void test_lookups(void **state)
{
    struct buf *name = buf_new(128);
    struct buf *err = buf_new(64);
    struct buf *value = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]); i++) {
        struct dict *d;
        enum lookup_status st;

        expand(name, lookup_cases[i].name);
        d = dict_open(buf_str(name), DICT_RDONLY, DICT_FOLD_FIX, err);
        if (d == NULL) {
            print_error("%s: open failed: %s\n", lookup_cases[i].name,
                        buf_str(err));
            failures++;
            continue;
        }
        st = dict_lookup(d, lookup_cases[i].key, value);
        if (st != lookup_cases[i].st
            || (st == F && strcmp(buf_str(value), lookup_cases[i].value))) {
            print_error("%s: lookup %s: got %s \"%s\", want %s \"%s\"\n",
                        lookup_cases[i].name, lookup_cases[i].key,
                        lookup_status_name(st), buf_str(value),
                        lookup_status_name(lookup_cases[i].st),
                        lookup_cases[i].value ? lookup_cases[i].value : "");
            failures++;
        }
        if (st == LOOKUP_ERR_TEMP
            && strcmp(buf_str(d->err), "Application error") != 0) {
            print_error("%s: got error \"%s\", want fail:'s text\n",
                        lookup_cases[i].name, buf_str(d->err));
            failures++;
        }
        dict_close(d);
    }
    buf_free(name);
    buf_free(err);
    buf_free(value);
    assert_int_equal(failures, 0);
}

static const struct {
    const char *name;
    int open_flags;
    const char *want;
} open_cases[] = {
    {"unionmap:{}", DICT_RDONLY,
     "bad syntax: \"unionmap:{}\"; need \"unionmap:{type:name...}\""},
    {"pipemap:{}", DICT_RDONLY,
     "bad syntax: \"pipemap:{}\"; need \"pipemap:{type:name...}\""},
    {"unionmap:{ , }", DICT_RDONLY,
     "bad syntax: \"unionmap:{ , }\"; need \"unionmap:{type:name...}\""},
    {"unionmap:static:x", DICT_RDONLY,
     "bad syntax: \"unionmap:static:x\"; need \"unionmap:{type:name...}\""},
    {"unionmap:{static:x", DICT_RDONLY,
     "bad syntax: \"unionmap:{static:x\"; need \"unionmap:{type:name...}\""},
    {"unionmap:{static:x}x", DICT_RDONLY,
     "bad syntax: \"unionmap:{static:x}x\"; need "
     "\"unionmap:{type:name...}\""},
    {"unionmap:{nocolon}", DICT_RDONLY,
     "bad syntax: \"unionmap:{nocolon}\"; need \"unionmap:{type:name...}\""},
    {"unionmap:{bogus:x}", DICT_RDONLY, "unsupported dictionary type: bogus"},
    {"unionmap:{ {inline:{a=x}}, static:y}", DICT_RDONLY,
     "unsupported dictionary type: {inline"},
    {"pipemap:{static:x, regexp:/nonexistent/postern-test}", DICT_RDONLY,
     "open /nonexistent/postern-test: No such file or directory"},
    {"unionmap:{static:x}", DICT_CREATE,
     "unionmap:{static:x} map requires O_RDONLY access mode"},
};

static void test_open_errors(void **state)
{
    struct buf *err = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < sizeof(open_cases) / sizeof(open_cases[0]); i++) {
        struct dict *d;

        buf_reset(err);
        d = dict_open(open_cases[i].name, open_cases[i].open_flags, 0, err);
        if (d != NULL) {
            print_error("%s: got a table, want error \"%s\"\n",
                        open_cases[i].name, open_cases[i].want);
            failures++;
            dict_close(d);
        } else if (strcmp(buf_str(err), open_cases[i].want) != 0) {
            print_error("%s: got \"%s\", want \"%s\"\n", open_cases[i].name,
                        buf_str(err), open_cases[i].want);
            failures++;
        }
    }
    buf_free(err);
    assert_int_equal(failures, 0);
}

/*
 * Flags: members fold their own keys (the composite does not fold for
 * them), a composite with a fixed-string member gets partial-key lookups,
 * one of pattern tables only gets whole-key lookups.
 */
static void test_flags(void **state)
{
    struct buf *err = buf_new(64);
    struct buf *value = buf_new(64);
    struct dict *d;

    (void) state;
    d = dict_open("unionmap:{inline:{abc=fixed}, pcre:{{/^(ABC)$/i [$1]}}}",
                  DICT_RDONLY, DICT_FOLD_FIX, err);
    assert_non_null(d);
    assert_true(d->flags & DICT_FIXED);
    assert_false(d->flags & DICT_PATTERN);
    assert_false(d->flags & DICT_FOLD_FIX);
    assert_int_equal(dict_lookup(d, "ABC", value), LOOKUP_FOUND);
    assert_string_equal(buf_str(value), "fixed,[ABC]");
    dict_close(d);

    d = dict_open("pipemap:{regexp:{{/./ x}}, cidr:{{::/0 y}}}", DICT_RDONLY, 0,
                  err);
    assert_non_null(d);
    assert_true(d->flags & DICT_PATTERN);
    assert_false(d->flags & DICT_FIXED);
    dict_close(d);
    buf_free(err);
    buf_free(value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_flags),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
