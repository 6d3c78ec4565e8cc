/*
 * test_alias_source.c - unit tests for maps/alias_source.c, the aliases(5)
 * source reader.
 *
 * Table-driven. The parse cases give one logical line and the name and
 * value that Debian's Postfix 3.7 postalias stores for it (read back with
 * "postalias -s"), or the line's rejection. The reader cases feed whole
 * files through a memory stream and compare every entry with its line
 * number. A failing case prints "got X, want Y" and the test fails at the
 * end, so one run shows every broken case.
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

#include "alias_source.h"
#include "buf.h"
#include "msg.h"

static int failures;

#define FAIL(...)                                                              \
    do {                                                                       \
        printf("FAIL: " __VA_ARGS__);                                          \
        printf("\n");                                                          \
        failures++;                                                            \
    } while (0)

/* ---- one line ----------------------------------------------------------- */

struct parse_case {
    const char *line;
    const char *name; /* NULL: the line is rejected */
    const char *value;
};

static const struct parse_case parse_cases[] = {
    /* What the values look like in a real aliases file. */
    {"root: admin, \"Bob Smith\"@x.com", "root", "admin, \"Bob Smith\"@x.com"},
    {"file: /var/log/x", "file", "/var/log/x"},
    {"cmd: \"|/usr/bin/foo bar\", |exit 67", "cmd",
     "\"|/usr/bin/foo bar\", |exit 67"},
    {"inc: :include:/etc/list", "inc", ":include:/etc/list"},
    {"inc: :include: /etc/list", "inc", ":include:/etc/list"},
    {"Mixed: Foo@Bar.COM", "Mixed", "Foo@Bar.COM"},
    {"list: a,  b ,c\tdd", "list", "a, b, c dd"},
    {"p: /path/with spaces", "p", "/path/with spaces"},
    {"c: |cmd with spaces", "c", "|cmd with spaces"},
    /* Spacing: words, '<', ',' and the other operators. */
    {"v: a , b", "v", "a, b"},
    {"v: a,,b", "v", "a, , b"},
    {"v: a, b,", "v", "a, b, "},
    {"v: ,a", "v", ", a"},
    {"v:    x   ", "v", "x"},
    {"v: Name <a@b>", "v", "Name <a@b>"},
    {"v: a<b@c>", "v", "a <b@c>"},
    {"v: <b@c>a", "v", "<b@c>a"},
    {"v: <a@b>,<c@d>", "v", "<a@b>, <c@d>"},
    {"v: a . b", "v", "a.b"},
    {"v: a @ b", "v", "a@b"},
    {"v: a: b", "v", "a:b"},
    {"v: x;y", "v", "x;y"},
    {"v: a>b", "v", "a>b"},
    {"v: x |y", "v", "x|y"},
    {"v: a ! b % c", "v", "a!b%c"},
    {"v: a # b = c", "v", "a # b = c"},
    {"v: group: a, b;", "v", "group:a, b;"},
    {"v: z . <z", "v", "z. <z"},
    /* Quoted strings, comments, domain literals. */
    {"v: a(c)", "v", "a (c)"},
    {"v: (c)a", "v", "(c) a"},
    {"v: (nested (c) x)", "v", "(nested (c) x)"},
    {"v: (a\\)b)", "v", "(a\\)b)"},
    {"v: (unterminated comment", "v", "(unterminated comment"},
    {"v: (a\tb)", "v", "(a\tb)"},
    {"v: \"q\"a", "v", "\"q\" a"},
    {"v: a\"b\"c", "v", "a \"b\" c"},
    {"v: \"a\\\"b\"", "v", "\"a\\\"b\""},
    {"v: \"a\\b\"", "v", "\"ab\""},
    {"v: \"a\\\\b\"", "v", "\"a\\\\b\""},
    {"v: \"unterminated", "v", "\"unterminated\""},
    {"v: \"a\tb\"", "v", "\"a b\""},
    {"v: \"a\rb\"", "v", "\"a b\""},
    {"v: \"a\vb\"", "v", "\"a\vb\""},
    {"v: \"\" ", "v", "\"\""},
    {"v: [1.2.3.4]", "v", "[1.2.3.4]"},
    {"v: a[1]", "v", "a [1]"},
    {"v: [a b]", "v", "[a b]"},
    {"v: [a\\]b]", "v", "[a]b]"},
    {"v: [a\\\\b]", "v", "[a\\\\b]"},
    {"v: [a\\xb]", "v", "[axb]"},
    {"v: [unterminated", "v", "[unterminated]"},
    {"v: [a\tb]", "v", "[a b]"},
    {"v: a]b", "v", "a]b"},
    {"v: a)b", "v", "a)b"},
    /* Backslashes in atoms: specials get the atom quoted. */
    {"v: a\\b", "v", "ab"},
    {"v: a\\ b", "v", "\"a b\""},
    {"v: a\\\"b", "v", "\"a\\\"b\""},
    {"v: a\\,b", "v", "\"a,b\""},
    {"v: a\\.b", "v", "\"a.b\""},
    {"v: a\\|b", "v", "\"a|b\""},
    {"v: a\\#b", "v", "a#b"},
    {"v: a\\\\b", "v", "\"a\\\\b\""},
    {"v: a\\", "v", "a"},
    {"v: \\", "v", ""},
    {"v: \\\"", "v", "\"\\\"\""},
    {"v: a\\\tb", "v", "\"a b\""},
    {"v: a\vb c", "v", "\"a\vb\" c"},
    {"v: a\x01"
     "b",
     "v",
     "\"a\x01"
     "b\""},
    {"v: a\x7f"
     "b",
     "v",
     "\"a\x7f"
     "b\""},
    {"v: h\xc3\xa9llo w\xc3\xb6rld", "v", "h\xc3\xa9llo w\xc3\xb6rld"},
    /* Names. */
    {"\"a b\": x", "a b", "x"},
    {"\"A\tB\": x", "A B", "x"},
    {"v20 : spaced", "v20", "spaced"},
    {"v22 x: y", "v22 x", "y"},
    {"v\\19: q", "v19", "q"},
    {"x28 \"q\" r: v", "x28 q r", "v"},
    {"\"a:b\": x", "a:b", "x"},
    {"a . b: x", "a.b", "x"},
    {"<a>: x", "<a>", "x"},
    {"a<b: x", "a <b", "x"},
    {"a (c): x", "a (c)", "x"},
    {"(a:b) c: x", "(a:b) c", "x"},
    {"\"a@b\": x", "a@b", "x"},
    {"[a@b]: x", "[a@b]", "x"},
    {"[a\\\\b]: x", "[a\\b]", "x"},
    {"\"c\\\\d\": y", "c\\d", "y"},
    {"a!b: x", "a!b", "x"},
    {"a;b: x", "a;b", "x"},
    {"\"\": x", "", "x"},
    /* Text after a NUL byte is not seen. */
    {"c3: a\0b c", "c3", "a"},
    /* Rejected lines. */
    {"nocolon x", NULL, NULL},
    {"empty:", NULL, NULL},
    {"empty:   ", NULL, NULL},
    {": x", NULL, NULL},
    {"a,b: x", NULL, NULL},
    {"a@b.c: x", NULL, NULL},
    {"@a: x", NULL, NULL},
    {"a@: x", NULL, NULL},
    {"a%b: x", NULL, NULL},
    {"<a@b>: x", NULL, NULL},
    {"\"a:b\" x", NULL, NULL},
    {"", NULL, NULL},
};

static void test_parse(void **state)
{
    struct buf *name = buf_new(16);
    struct buf *value = buf_new(16);
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *c = &parse_cases[i];
        /* The c3 case holds a NUL: give the length of the whole literal. */
        size_t len = strlen(c->line);
        const char *err = NULL;
        int ret;

        if (strcmp(c->line, "c3: a") == 0)
            len = sizeof("c3: a\0b c") - 1;
        ret = alias_parse_line(c->line, len, name, value, &err);
        if (c->name == NULL) {
            if (ret != -1 || err == NULL || *err == 0)
                FAIL("line \"%s\": got name \"%s\" value \"%s\", want an "
                     "error",
                     c->line, buf_str(name), buf_str(value));
        } else if (ret != 0) {
            FAIL("line \"%s\": got error \"%s\", want \"%s\" -> \"%s\"",
                 c->line, err, c->name, c->value);
        } else if (strcmp(buf_str(name), c->name) != 0
                   || strcmp(buf_str(value), c->value) != 0) {
            FAIL("line \"%s\": got \"%s\" -> \"%s\", want \"%s\" -> \"%s\"",
                 c->line, buf_str(name), buf_str(value), c->name, c->value);
        }
    }
    buf_free(name);
    buf_free(value);
}

/* ---- whole files -------------------------------------------------------- */

struct entry {
    int line;
    const char *name;
    const char *value;
};

struct file_case {
    const char *what;
    const char *text;
    size_t len; /* 0: strlen(text) */
    int flags;
    struct entry want[8]; /* ends with line 0 */
    int bad;              /* lines skipped as bad */
};

#define FOLD  ALIAS_SOURCE_FOLD
#define UTF8  ALIAS_SOURCE_UTF8
#define QUIET ALIAS_SOURCE_QUIET
#define FILE_WITH_NUL                                                          \
    "k: a\0b\n z\nn: \xc3\x89\0b\nm: \xc3\x89\n \0\xff\no: a\0\xff\n"

static const struct file_case file_cases[] = {
    {"continuation, comments and blank lines",
     "# head\n\nlist: a,\n  b ,c\n\tdd\nx16: x\n# c\n y\nx17: x\n\n y\n"
     "x18: x\n  # indented\n y\nlast: z",
     0,
     QUIET,
     {{3, "list", "a, b, c dd"},
      {6, "x16", "x y"},
      {9, "x17", "x y"},
      {12, "x18", "x y"},
      {15, "last", "z"}},
     0},
    {"continuation by any white space, CR kept",
     "a: x\n\vy\nb: \"q\r\n\fr\"\nc: (d\r\n\re)\n",
     0,
     QUIET,
     {{1, "a", "\"x\vy\""}, {3, "b", "\"q \fr\""}, {5, "c", "(d\r\re)"}},
     0},
    {"folding",
     "Root: Admin\n\"MiXeD Case\": x\n\xc3\x89"
     "cole: y\n",
     0,
     FOLD | UTF8 | QUIET,
     {{1, "root", "Admin"},
      {2, "mixed case", "x"},
      {3,
       "\xc3\xa9"
       "cole",
       "y"}},
     0},
    {"folding ASCII only without UTF-8",
     "\xc3\x89"
     "COLE: y\n",
     0,
     FOLD | QUIET,
     {{1,
       "\xc3\x89"
       "cole",
       "y"}},
     0},
    {"no folding", "Root: Admin\n", 0, QUIET, {{1, "Root", "Admin"}}, 0},
    {"bad lines are skipped",
     "  lead: x\nok: 1\nnocolon\nempty:\na@b: c\n"
     "\"\": e\nok2: 2\n",
     0,
     QUIET,
     {{2, "ok", "1"}, {7, "ok2", "2"}},
     5},
    {"invalid UTF-8 skipped when checked",
     "a: \xff\nb: ok\nc: \xc3\n",
     0,
     UTF8 | QUIET,
     {{2, "b", "ok"}},
     2},
    {"invalid UTF-8 kept when not checked",
     "a: \xff\n",
     0,
     QUIET,
     {{1, "a", "\xff"}},
     0},
    {"NUL bytes",
     FILE_WITH_NUL,
     sizeof(FILE_WITH_NUL) - 1,
     UTF8 | QUIET,
     {{1, "k", "a"}, {3, "n", "\xc3\x89"}, {6, "o", "a"}},
     1},
    {"duplicates kept by default",
     "a: 1\na: 2\n",
     0,
     QUIET,
     {{1, "a", "1"}, {2, "a", "2"}},
     0},
    {"duplicates skipped",
     "a: 1\nA: 2\nb: 3\na: 4\n",
     0,
     FOLD | ALIAS_SOURCE_DUP_WARN | QUIET,
     {{1, "a", "1"}, {3, "b", "3"}},
     0},
    {"duplicates ignored",
     "a: 1\na: 2\n",
     0,
     ALIAS_SOURCE_DUP_IGNORE | QUIET,
     {{1, "a", "1"}},
     0},
    {"empty file", "", 0, QUIET, {{0, NULL, NULL}}, 0},
    {"only comments", "# a\n\n   \n#b", 0, QUIET, {{0, NULL, NULL}}, 0},
};

static void test_files(void **state)
{
    struct buf *name = buf_new(16);
    struct buf *value = buf_new(16);
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
        const struct file_case *c = &file_cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        FILE *fp = fmemopen((void *) c->text, len ? len : 1, "r");
        struct alias_source *as;
        size_t n = 0;
        int ret;

        assert_non_null(fp);
        if (len == 0)
            fgetc(fp); /* fmemopen wants a size: read the one byte away */
        as = alias_source_stream(fp, "test", c->flags);
        while ((ret = alias_source_next(as, name, value)) > 0) {
            const struct entry *w = &c->want[n];

            if (n >= 8 || w->line == 0) {
                FAIL("%s: got an extra entry \"%s\" -> \"%s\"", c->what,
                     buf_str(name), buf_str(value));
                break;
            }
            if (alias_source_line(as) != w->line
                || strcmp(buf_str(name), w->name) != 0
                || strcmp(buf_str(value), w->value) != 0)
                FAIL("%s: entry %zu: got line %d \"%s\" -> \"%s\", want "
                     "line %d \"%s\" -> \"%s\"",
                     c->what, n, alias_source_line(as), buf_str(name),
                     buf_str(value), w->line, w->name, w->value);
            n++;
        }
        if (ret < 0)
            FAIL("%s: read error %s", c->what, alias_source_error(as));
        if (n < 8 && c->want[n].line != 0)
            FAIL("%s: got %zu entries, want more (next \"%s\")", c->what, n,
                 c->want[n].name);
        if (alias_source_bad_lines(as) != c->bad)
            FAIL("%s: got %d bad lines, want %d", c->what,
                 alias_source_bad_lines(as), c->bad);
        alias_source_close(as);
        fclose(fp);
    }
    buf_free(name);
    buf_free(value);
}

static void test_open(void **state)
{
    char path[] = "/tmp/test_alias_source.XXXXXX";
    struct buf *err = buf_new(16);
    struct buf *name = buf_new(16);
    struct buf *value = buf_new(16);
    struct alias_source *as;
    FILE *fp;
    int fd;

    (void) state;
    as = alias_source_open("/nonexistent/postern/aliases", 0, err);
    assert_null(as);
    assert_non_null(strstr(buf_str(err), "/nonexistent/postern/aliases"));

    fd = mkstemp(path);
    assert_true(fd >= 0);
    fp = fdopen(fd, "w");
    assert_non_null(fp);
    fputs("postmaster: root\nroot: \"|/bin/true\"\n", fp);
    fclose(fp);
    as = alias_source_open(path, ALIAS_SOURCE_FOLD, err);
    assert_non_null(as);
    assert_int_equal(alias_source_next(as, name, value), 1);
    assert_string_equal(buf_str(name), "postmaster");
    assert_int_equal(alias_source_next(as, name, value), 1);
    assert_string_equal(buf_str(value), "\"|/bin/true\"");
    assert_int_equal(alias_source_line(as), 2);
    assert_int_equal(alias_source_next(as, name, value), 0);
    assert_int_equal(alias_source_next(as, name, value), 0);
    alias_source_close(as);
    unlink(path);
    alias_source_close(NULL);
    buf_free(err);
    buf_free(name);
    buf_free(value);
}

/* A long line and a long entry: nothing has a fixed size. */
static void test_long(void **state)
{
    struct buf *text = buf_new(16);
    struct buf *want = buf_new(16);
    struct buf *name = buf_new(16);
    struct buf *value = buf_new(16);
    struct alias_source *as;
    FILE *fp;
    int i;

    (void) state;
    buf_puts(text, "big: ");
    for (i = 0; i < 20000; i++) {
        buf_printf(text, "user%d@example.com,\n  ", i);
        buf_printf(want, "%suser%d@example.com", i ? ", " : "", i);
    }
    buf_puts(text, "last\n");
    buf_puts(want, ", last");
    fp = fmemopen(buf_str(text), buf_len(text), "r");
    assert_non_null(fp);
    as = alias_source_stream(fp, "big", 0);
    assert_int_equal(alias_source_next(as, name, value), 1);
    assert_string_equal(buf_str(name), "big");
    assert_int_equal(buf_len(value), buf_len(want));
    assert_string_equal(buf_str(value), buf_str(want));
    alias_source_close(as);
    fclose(fp);
    buf_free(text);
    buf_free(want);
    buf_free(name);
    buf_free(value);
}

static void test_summary(void **state)
{
    (void) state;
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),   cmocka_unit_test(test_files),
        cmocka_unit_test(test_open),    cmocka_unit_test(test_long),
        cmocka_unit_test(test_summary),
    };

    msg_init("test_alias_source", MSG_NOLOG);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
