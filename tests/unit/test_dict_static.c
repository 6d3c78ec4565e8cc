/*
 * test_dict_static.c - the in-memory and built-in table types (static:,
 * fail:, inline:, texthash:, unix:), the postmap source reader they share
 * with postmap (dict_source.c), dict_open()'s "type:name" handling and the
 * type registry behind postconf -m.
 *
 * Expected texts are Postfix 3.7's, checked against its postmap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dict.h"
#include "dict_source.h"
#include "dict_types.h"
#include "lookup.h"
#include "mem.h"
#include "msg.h"

/* ---- helpers ------------------------------------------------------------- */

static struct dict *open_ok(const char *type_name, int flags)
{
    struct buf *err = buf_new(64);
    struct dict *d = dict_open(type_name, DICT_RDONLY, flags, err);

    if (d == NULL)
        fail_msg("open %s: %s", type_name, buf_str(err));
    buf_free(err);
    return d;
}

static void expect(struct dict *d, const char *key, enum lookup_status want,
                   const char *want_value)
{
    struct buf *value = buf_new(64);
    enum lookup_status got = dict_lookup(d, key, value);

    if (got != want)
        fail_msg("%s:%s key \"%s\": got %s, want %s", d->type, d->name, key,
                 lookup_status_name(got), lookup_status_name(want));
    if (want == LOOKUP_FOUND)
        assert_string_equal(buf_str(value), want_value);
    buf_free(value);
}

/* Everything written to stderr while FN runs, to check warnings. */
static struct buf *capture_stderr_start(int *saved)
{
    char path[] = "/tmp/test_dict_static.XXXXXX";
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    *saved = dup(2);
    dup2(fd, 2);
    close(fd);
    return buf_new(256);
}

static void capture_stderr_end(int saved, struct buf *out)
{
    char chunk[512];
    ssize_t n;

    fflush(stderr);
    lseek(2, 0, SEEK_SET);
    while ((n = read(2, chunk, sizeof(chunk))) > 0)
        buf_append(out, chunk, (size_t) n);
    dup2(saved, 2);
    close(saved);
}

/* Write TEXT to a new file, return its name (mem_free it). */
static char *temp_file(const char *text)
{
    char path[] = "/tmp/test_dict_static_src.XXXXXX";
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    return mem_strdup(path);
}

/* ---- static: and fail: ------------------------------------------------- */

static void test_static(void **state)
{
    static const struct {
        const char *spec;
        const char *want;
    } cases[] = {
        {"static:foo", "foo"},   {"static:{ a b }", "a b"},
        {"static:{{a}}", "{a}"}, {"static:{a}  ", "a"},
        {"static:OK", "OK"},     {"static:a:b", "a:b"},
    };
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dict *d = open_ok(cases[i].spec, DICT_FOLD_FIX);

        expect(d, "anything", LOOKUP_FOUND, cases[i].want);
        expect(d, "", LOOKUP_FOUND, cases[i].want);
        assert_null(d->sequence);
        dict_close(d);
    }
}

static void test_open_errors(void **state)
{
    static const struct {
        const char *spec;
        int open_flags;
        const char *want;
    } cases[] = {
        {"static:{ a b ", DICT_RDONLY,
         "bad static:name syntax: missing '}' in \"{ a b \""},
        {"static:{a}b", DICT_RDONLY,
         "bad static:name syntax: syntax error after '}' in \"{a}b\""},
        {"static:x", DICT_CREATE, "static:x map requires O_RDONLY access mode"},
        {"static:", DICT_RDONLY,
         "open dictionary: expecting \"type:name\" form instead of "
         "\"static:\""},
        {"fail:", DICT_RDONLY,
         "open dictionary: expecting \"type:name\" form instead of \"fail:\""},
        {":x", DICT_RDONLY,
         "open dictionary: expecting \"type:name\" form instead of \":x\""},
        {"bogus:x", DICT_RDONLY, "unsupported dictionary type: bogus"},
        {"inline:{ a }", DICT_RDONLY,
         "missing '=' after attribute name: \"inline:{ a }\"; need "
         "\"inline:{name=value...}\""},
        {"inline:{ }", DICT_RDONLY,
         "empty table: \"inline:{ }\"; need \"inline:{name=value...}\""},
        {"inline:x=y", DICT_RDONLY,
         "bad syntax: \"inline:x=y\"; need \"inline:{name=value...}\""},
        {"inline:{x = y", DICT_RDONLY,
         "bad syntax: \"inline:{x = y\"; need \"inline:{name=value...}\""},
        {"inline:{x=y}}", DICT_RDONLY,
         "bad syntax: \"inline:{x=y}}\"; need \"inline:{name=value...}\""},
        {"inline:{ x = { y z } }", DICT_RDONLY,
         "missing '=' after attribute name: \"inline:{ x = { y z } }\"; need "
         "\"inline:{name=value...}\""},
        {"inline:{a=b}", DICT_RDWR,
         "inline:{a=b} map requires O_RDONLY access mode"},
        {"texthash:/nonexistent/x", DICT_RDONLY,
         "open database /nonexistent/x: No such file or directory"},
        {"texthash:/etc/passwd", DICT_CREATE,
         "texthash:/etc/passwd map requires O_RDONLY access mode"},
        {"unix:bogus", DICT_RDONLY, "unknown table: unix:bogus"},
        {"unix:passwd.byname", DICT_RDWR,
         "unix:passwd.byname map requires O_RDONLY access mode"},
    };
    struct buf *err = buf_new(64);
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(err);
        if (dict_open(cases[i].spec, cases[i].open_flags, 0, err) != NULL)
            fail_msg("%s: opened, want \"%s\"", cases[i].spec, cases[i].want);
        assert_string_equal(buf_str(err), cases[i].want);
    }
    buf_free(err);
}

static void test_fail(void **state)
{
    struct buf *key = buf_new(16);
    struct buf *value = buf_new(16);
    struct dict *d = open_ok("fail:whatever", 0);

    (void) state;
    assert_int_equal(dict_lookup(d, "x", value), LOOKUP_ERR_TEMP);
    assert_string_equal(buf_str(d->err), "Application error");
    assert_int_equal(dict_sequence(d, DICT_SEQ_FIRST, key, value),
                     LOOKUP_ERR_TEMP);
    assert_int_equal(dict_update(d, "x", "y"), LOOKUP_ERR_TEMP);
    assert_int_equal(dict_delete(d, "x"), LOOKUP_ERR_TEMP);
    dict_close(d);
    buf_free(key);
    buf_free(value);
}

/* ---- inline: ------------------------------------------------------------- */

static void test_inline(void **state)
{
    static const struct {
        const char *key;
        enum lookup_status want;
        const char *value;
    } cases[] = {
        {"a", LOOKUP_FOUND, "2"},   /* the later entry wins */
        {"b", LOOKUP_FOUND, "2 3"}, /* braces allow spaces */
        {"c", LOOKUP_FOUND, "4"},   /* C=4: folded */
        {"C", LOOKUP_FOUND, "4"},   /* and the query too */
        {"d", LOOKUP_FOUND, "x=y"},   {"e", LOOKUP_FOUND, "{f}"},
        {"g", LOOKUP_NOTFOUND, NULL}, {"", LOOKUP_NOTFOUND, NULL},
    };
    struct dict *d = open_ok("inline:{ a=1, { b = 2 3 }, C=4,d=x=y e={f} a=2 }",
                             DICT_FOLD_FIX);
    struct buf *key = buf_new(16);
    struct buf *value = buf_new(16);
    size_t i;
    int how;
    int n = 0;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect(d, cases[i].key, cases[i].want, cases[i].value);
    for (how = DICT_SEQ_FIRST;
         dict_sequence(d, how, key, value) == LOOKUP_FOUND; how = DICT_SEQ_NEXT)
        n++;
    assert_int_equal(n, 5);
    dict_close(d);

    /* Without folding, keys keep their case. */
    d = open_ok("inline:{ C=4 }", 0);
    expect(d, "C", LOOKUP_FOUND, "4");
    expect(d, "c", LOOKUP_NOTFOUND, NULL);
    dict_close(d);
    buf_free(key);
    buf_free(value);
}

/* An empty result is a warning (as in Postfix), and still a result. */
static void test_empty_result(void **state)
{
    struct dict *d = open_ok("inline:{a=1,b=}", 0);
    struct buf *warnings;
    int saved;

    (void) state;
    warnings = capture_stderr_start(&saved);
    expect(d, "b", LOOKUP_FOUND, "");
    capture_stderr_end(saved, warnings);
    assert_non_null(strstr(buf_str(warnings),
                           "warning: table inline:{a=1,b=}: key b: empty "
                           "string result is not allowed"));
    assert_non_null(strstr(buf_str(warnings),
                           "warning: table inline:{a=1,b=} should return NO "
                           "RESULT in case of NOT FOUND"));
    buf_free(warnings);
    dict_close(d);
}

/* ---- the source reader ----------------------------------------------------
 */

static void test_source_split(void **state)
{
    static const struct {
        const char *line;
        enum dict_source_status want;
        const char *key;
        const char *value;
    } cases[] = {
        {"foo bar", DICT_SOURCE_ENTRY, "foo", "bar"},
        {"Foo   bar baz  ", DICT_SOURCE_ENTRY, "Foo", "bar baz"},
        {"key3\ttab\tsep", DICT_SOURCE_ENTRY, "key3", "tab\tsep"},
        {"\"quoted key\" qv", DICT_SOURCE_ENTRY, "\"quoted key\"", "qv"},
        {"\"a\\\"b\" esc", DICT_SOURCE_ENTRY, "\"a\\\"b\"", "esc"},
        {"\"a b\"@ex.com v1", DICT_SOURCE_ENTRY, "\"a b\"@ex.com", "v1"},
        {"x\"c d\" v2", DICT_SOURCE_ENTRY, "x\"c d\"", "v2"},
        {"a\\ b v1", DICT_SOURCE_ENTRY, "a\\ b", "v1"},
        {"abd\\  v1", DICT_SOURCE_ENTRY, "abd\\ ", "v1"},
        {"\"\" empty", DICT_SOURCE_ENTRY, "\"\"", "empty"},
        {"k7 \\\"", DICT_SOURCE_ENTRY, "k7", "\\\""},
        {"key6 \"v6 unbal", DICT_SOURCE_ENTRY, "key6", "\"v6 unbal"},
        {"key5 v\\", DICT_SOURCE_ENTRY, "key5", "v\\"},
        {"alone", DICT_SOURCE_NOVALUE, NULL, NULL},
        {"alone   ", DICT_SOURCE_NOVALUE, NULL, NULL},
        {"abc\\", DICT_SOURCE_NOVALUE, NULL, NULL},
        {"\"\" ", DICT_SOURCE_NOVALUE, NULL, NULL},
        {"\"unterm key v3", DICT_SOURCE_UNBALANCED, NULL, NULL},
        {"\"a\\\" v3", DICT_SOURCE_UNBALANCED, NULL, NULL},
        {"  lead v0", DICT_SOURCE_LEADING_SPACE, NULL, NULL},
        {"\tlead v0", DICT_SOURCE_LEADING_SPACE, NULL, NULL},
    };
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *copy = mem_strdup(cases[i].line);
        char *key = NULL;
        char *value = NULL;
        enum dict_source_status got = dict_source_split(copy, &key, &value);

        if (got != cases[i].want)
            fail_msg("\"%s\": got status %d, want %d", cases[i].line, got,
                     cases[i].want);
        if (got == DICT_SOURCE_ENTRY) {
            assert_string_equal(key, cases[i].key);
            assert_string_equal(value, cases[i].value);
        }
        mem_free(copy);
    }
}

static const char source_text[] = "# comment\n"
                                  "Foo   bar baz  \n"
                                  "key2 value2\n"
                                  " continued here\n"
                                  "dup first\n"
                                  "DUP second\n"
                                  "\n"
                                  "alone\n"
                                  "\"unterm key v3\n"
                                  "key6\n"
                                  "    cont1\n"
                                  "\tcont2\n"
                                  "# c\n"
                                  "   cont3\n";

/* The reader: logical lines, line numbers, Postfix's warnings. */
static void test_source_reader(void **state)
{
    static const struct {
        const char *key;
        const char *value;
        int line;
    } want[] = {
        {"Foo", "bar baz", 2},
        {"key2", "value2 continued here", 3},
        {"dup", "first", 5},
        {"DUP", "second", 6},
        {"key6", "cont1\tcont2   cont3", 10},
    };
    char *path = temp_file(source_text);
    struct buf *err = buf_new(64);
    struct buf *warnings;
    struct buf *expected = buf_new(256);
    struct dict_source *src;
    char *key;
    char *value;
    size_t n = 0;
    int saved;
    int mode;

    (void) state;
    for (mode = 0; mode < 2; mode++) {
        n = 0;
        src = dict_source_open(path, mode ? DICT_SOURCE_IGNORING : 0, err);
        assert_non_null(src);
        warnings = capture_stderr_start(&saved);
        while (dict_source_next(src, &key, &value) > 0) {
            assert_true(n < sizeof(want) / sizeof(want[0]));
            assert_string_equal(key, want[n].key);
            assert_string_equal(value, want[n].value);
            assert_int_equal(dict_source_lineno(src), want[n].line);
            n++;
        }
        capture_stderr_end(saved, warnings);
        assert_int_equal(n, sizeof(want) / sizeof(want[0]));
        buf_setf(expected,
                 "%s: warning: %s, line 8: expected format: key whitespace "
                 "value%s\n"
                 "%s: warning: %s, line 9: unbalanced '\"' in '\"unterm key "
                 "v3' -- ignoring this line\n",
                 msg_progname(), path, mode ? " -- ignoring this line" : "",
                 msg_progname(), path);
        assert_string_equal(buf_str(warnings), buf_str(expected));
        buf_free(warnings);
        dict_source_close(src);
    }

    /* A first line that starts with white space: Postfix's words. */
    {
        char *lead =
            temp_file("  lead v0 with a very long text that goes on and on\n"
                      "   more\nk v\n");

        src = dict_source_open(lead, 0, err);
        warnings = capture_stderr_start(&saved);
        assert_int_equal(dict_source_next(src, &key, &value), 1);
        assert_string_equal(key, "k");
        assert_int_equal(dict_source_next(src, &key, &value), 0);
        capture_stderr_end(saved, warnings);
        buf_setf(expected,
                 "%s: warning: %s: logical line must not start with "
                 "whitespace: \"  lead v0 with a very long tex...\"\n",
                 msg_progname(), lead);
        assert_string_equal(buf_str(warnings), buf_str(expected));
        buf_free(warnings);
        dict_source_close(src);
        unlink(lead);
        mem_free(lead);
    }

    assert_null(dict_source_open("/nonexistent/source", 0, err));
    assert_string_equal(buf_str(err),
                        "open /nonexistent/source: No such file or directory");
    unlink(path);
    mem_free(path);
    buf_free(err);
    buf_free(expected);
}

/* ---- texthash: ------------------------------------------------------------
 */

static void test_texthash(void **state)
{
    static const struct {
        int flags;
        const char *key;
        enum lookup_status want;
        const char *value;
    } cases[] = {
        {DICT_FOLD_FIX, "foo", LOOKUP_FOUND, "bar baz"},
        {DICT_FOLD_FIX, "FOO", LOOKUP_FOUND, "bar baz"},
        {DICT_FOLD_FIX, "dup", LOOKUP_FOUND, "first"},
        {DICT_FOLD_FIX | DICT_DUP_REPLACE, "dup", LOOKUP_FOUND, "second"},
        {DICT_FOLD_FIX | DICT_DUP_IGNORE, "dup", LOOKUP_FOUND, "first"},
        {0, "Foo", LOOKUP_FOUND, "bar baz"},
        {0, "foo", LOOKUP_NOTFOUND, NULL},
        {0, "DUP", LOOKUP_FOUND, "second"}, /* not a duplicate unfolded */
        {DICT_FOLD_FIX, "alone", LOOKUP_NOTFOUND, NULL},
        {DICT_FOLD_FIX, "key6", LOOKUP_FOUND, "cont1\tcont2   cont3"},
    };
    char *path = temp_file(source_text);
    struct buf *spec = buf_new(64);
    struct buf *warnings;
    struct buf *key = buf_new(16);
    struct buf *value = buf_new(16);
    struct dict *d;
    size_t i;
    int saved;
    int how;
    int n;

    (void) state;
    buf_setf(spec, "texthash:%s", path);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        warnings = capture_stderr_start(&saved);
        d = open_ok(buf_str(spec), cases[i].flags);
        capture_stderr_end(saved, warnings);
        /* Postfix's duplicate warning names the key as written. */
        if ((cases[i].flags & DICT_FOLD_FIX)
            && !(cases[i].flags & (DICT_DUP_REPLACE | DICT_DUP_IGNORE)))
            assert_non_null(strstr(buf_str(warnings),
                                   ", line 6: duplicate entry: \"DUP\""));
        else
            assert_null(strstr(buf_str(warnings), "duplicate"));
        buf_free(warnings);
        expect(d, cases[i].key, cases[i].want, cases[i].value);
        assert_false(dict_changed(d));
        dict_close(d);
    }
    d = open_ok(buf_str(spec), DICT_FOLD_FIX | DICT_DUP_IGNORE);
    for (n = 0, how = DICT_SEQ_FIRST;
         dict_sequence(d, how, key, value) == LOOKUP_FOUND; how = DICT_SEQ_NEXT)
        n++;
    assert_int_equal(n, 4);
    /* A rewritten source file shows as a change. */
    {
        int fd = open(path, O_WRONLY | O_APPEND);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, "new entry\n", 10), 10);
        close(fd);
    }
    {
        struct timespec ts[2];

        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[0].tv_sec += 5;
        ts[1] = ts[0];
        utimensat(AT_FDCWD, path, ts, 0);
    }
    assert_true(dict_changed(d));
    dict_close(d);
    unlink(path);
    mem_free(path);
    buf_free(spec);
    buf_free(key);
    buf_free(value);
}

/* ---- unix: ----------------------------------------------------------------
 */

static void test_unix(void **state)
{
    struct dict *d = open_ok("unix:passwd.byname", DICT_FOLD_FIX);
    struct passwd *pw = getpwuid(0);
    struct buf *want = buf_new(64);

    (void) state;
    assert_non_null(pw);
    buf_setf(want, "%s:%s:0:%ld:%s:%s:%s", pw->pw_name, pw->pw_passwd,
             (long) pw->pw_gid, pw->pw_gecos, pw->pw_dir, pw->pw_shell);
    expect(d, "root", LOOKUP_FOUND, buf_str(want));
    expect(d, "ROOT", LOOKUP_FOUND, buf_str(want));
    expect(d, "no-such-user-here", LOOKUP_NOTFOUND, NULL);
    assert_null(d->sequence);
    dict_close(d);

    d = open_ok("unix:group.byname", DICT_FOLD_FIX);
    expect(d, "root", LOOKUP_FOUND, "root:x:0:");
    expect(d, "no-such-group-here", LOOKUP_NOTFOUND, NULL);
    dict_close(d);
    buf_free(want);
}

/* ---- the registry ------------------------------------------------------- */

static void test_registry(void **state)
{
    static const char *const must[] = {
        "btree",   "cidr",   "dbm",    "fail",   "hash",     "inline",   "pcre",
        "pipemap", "regexp", "sasldb", "static", "texthash", "unionmap", "unix",
    };
    const char *const *names = dict_type_names();
    size_t n;
    size_t i;

    (void) state;
    for (n = 0; names[n] != NULL; n++) {
        assert_non_null(dict_find_type(names[n]));
        if (n > 0)
            assert_true(strcmp(names[n - 1], names[n]) < 0);
    }
    assert_int_equal(n, sizeof(must) / sizeof(must[0]));
    for (i = 0; i < n; i++)
        assert_string_equal(names[i], must[i]);
    assert_null(dict_find_type("nosuch"));
    assert_null(dict_find_type(""));
    assert_null(dict_find_type("HASH"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_fail),
        cmocka_unit_test(test_inline),
        cmocka_unit_test(test_empty_result),
        cmocka_unit_test(test_source_split),
        cmocka_unit_test(test_source_reader),
        cmocka_unit_test(test_texthash),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_registry),
    };

    msg_init("test_dict_static", MSG_STDERR | MSG_NOLOG);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
