/*
 * test_dict_regexp.c - unit tests for the regexp: table type
 * (maps/dict_regexp.c and the shared parser maps/dict_pattern.c).
 *
 * Table-driven: each case is a table source, the warnings opening it must
 * log (checked in a log file) and lookups with their wanted answers. The
 * answers and warning texts were taken from Debian's Postfix 3.7 postmap.
 * A failing case prints "got X, want Y" and the test fails at the end, so
 * one run shows every broken case.
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

#define DICT_TEST_NAME "test_dict_regexp"
#include "dict_table_cases.h"

#define NF LOOKUP_NOTFOUND
#define F  LOOKUP_FOUND

/* ---- matching, flags, substitution ------------------------------------ */

static const struct table_case match_cases[] = {
    {"/^(.*)-outgoing@(.*)$/  550 Use ${1}@${2} instead $$ $(1)\n",
     {NULL},
     {{"Foo-outgoing@bar", F, "550 Use Foo@bar instead $ Foo"},
      {"foo@bar", NF, NULL}}},
    /* Case-insensitive by default; "i" toggles it off. */
    {"/abc/ X\n", {NULL}, {{"xABCx", F, "X"}, {"ab", NF, NULL}}},
    {"/abc/i X\n", {NULL}, {{"ABC", NF, NULL}, {"abc", F, "X"}}},
    /* "x" toggles extended syntax off: parentheses become literal. */
    {"/(a)(b)/x X\n", {NULL}, {{"ab", NF, NULL}, {"(a)(b)", F, "X"}}},
    {"/a+/x X\n/a+b/ Y\n", {NULL}, {{"a+", F, "X"}, {"aab", F, "Y"}}},
    /* "m": REG_NEWLINE lets ^ match after a newline. */
    {"/^b/m X\n", {NULL}, {{"a\nb", F, "X"}, {"ab", NF, NULL}}},
    {"/^b/ X\n", {NULL}, {{"a\nb", NF, NULL}}},
    /* First match wins. */
    {"/a/ X\n/a/ Y\n", {NULL}, {{"a", F, "X"}}},
    {"/x/ 1\n/y/ 2\n", {NULL}, {{"yx", F, "1"}, {"y", F, "2"}}},
    /* Substitution forms. */
    {"/(a)(b)/ x${1}y$(2)z\n", {NULL}, {{"ab", F, "xaybz"}}},
    {"/(a)|(b)/ [$1][$2]\n", {NULL}, {{"ab", F, "[a][]"}, {"b", F, "[][b]"}}},
    {"/(a)(b)/ $$1\n", {NULL}, {{"ab", F, "$1"}}},
    {"/(a)(b)/ ${1}{x}\n", {NULL}, {{"ab", F, "a{x}"}}},
    {"/(a)(b)/ $1}\n", {NULL}, {{"ab", F, "a}"}}},
    {"/(a)(b)/ $01\n", {NULL}, {{"ab", F, "a"}}},
    {"/(a)(b)/ x$1.x\n", {NULL}, {{"ab", F, "xa.x"}}},
    {"/(a)(b)/ x$1@$2\n", {NULL}, {{"ab", F, "xa@b"}}},
    {"/(a)(b)/ ${2}$$$1\n", {NULL}, {{"ab", F, "b$a"}}},
    {"/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)/ ${10}$11\n",
     {NULL},
     {{"abcdefghijk", F, "jk"}}},
    {"/(a)(b)/ $1\t$2\n", {NULL}, {{"ab", F, "a\tb"}}},
    /* Results: surrounding white space goes, inner white space stays. */
    {"/a/  res  with  spaces  \n", {NULL}, {{"a", F, "res  with  spaces"}}},
    {"/a/ x #comment\n", {NULL}, {{"a", F, "x #comment"}}},
    /* Continuation lines, with comments and blank lines between. */
    {"/a/ X\n  continued\n# c\n\tmore\n",
     {NULL},
     {{"a", F, "X  continued\tmore"}}},
    {"/a/ x\n\n  cont\n", {NULL}, {{"a", F, "x  cont"}}},
    /* Delimiters: any non-alphanumeric character; backslash escapes. */
    {"|a/b| x\n", {NULL}, {{"a/b", F, "x"}}},
    {"/a\\/b/ x\n", {NULL}, {{"a/b", F, "x"}, {"ab", NF, NULL}}},
    {"\"ab\" x\n", {NULL}, {{"ab", F, "x"}}},
    {"_ab_ x\n", {NULL}, {{"ab", F, "x"}}},
    {"+a\\+b+ x\n", {NULL}, {{"a+b", F, "x"}, {"aab", NF, NULL}}},
    {"/a\\\\/ x\n", {NULL}, {{"a\\", F, "x"}}},
    {"// x\n", {NULL}, {{"anything", F, "x"}}},
    /* Negation: any number of '!', white space allowed. */
    {"!/c/ X\n", {NULL}, {{"ab", F, "X"}, {"c", NF, NULL}}},
    {"! /c/ X\n", {NULL}, {{"ab", F, "X"}}},
    {"!!/a/ x\n", {NULL}, {{"ab", F, "x"}, {"b", NF, NULL}}},
    {"!// x\n", {NULL}, {{"ab", NF, NULL}}},
    /* Comments and an empty table. */
    {"#/a/ comment\n", {NULL}, {{"a", NF, NULL}}},
    {"", {NULL}, {{"a", NF, NULL}}},
};

static void test_match(void **state)
{
    (void) state;
    failures = 0;
    run_cases("regexp", match_cases,
              sizeof(match_cases) / sizeof(match_cases[0]));
    assert_int_equal(failures, 0);
}

/* ---- if/endif ------------------------------------------------------------ */

static const struct table_case if_cases[] = {
    {"if /a/\n/b/ X\nendif\n/c/ Y\n",
     {NULL},
     {{"ab", F, "X"}, {"b", NF, NULL}, {"ac", F, "Y"}, {"bc", F, "Y"}}},
    {"IF /a/\n/b/ X\nENDIF\n", {NULL}, {{"ab", F, "X"}}},
    {"if !/c/\n/b/ X\nendif\n", {NULL}, {{"ab", F, "X"}, {"bc", NF, NULL}}},
    {"if!/c/\n/b/ X\nendif\n", {NULL}, {{"ab", F, "X"}}},
    {"if ! /c/\n/b/ X\nendif\n", {NULL}, {{"ab", F, "X"}}},
    {"if/a/\n/b/ X\nendif\n", {NULL}, {{"ab", F, "X"}}},
    {"if_a_\n/b/ x\nendif\n", {NULL}, {{"ab", F, "x"}}},
    {"if /a/\nif /b/\n/c/ X\nendif\n/d/ Y\nendif\n/./ Z\n",
     {NULL},
     {{"abc", F, "X"},
      {"ad", F, "Y"},
      {"abd", F, "Y"},
      {"bcd", F, "Z"},
      {"ac", F, "Z"}}},
    {"if /c/\n/b/ X\nendif\n/a/ Y\n", {NULL}, {{"ab", F, "Y"}}},
    /* Unmatched IF: covers the rest of the table, with a warning. */
    {"if /a/\n/b/ X\n",
     {"line 1: IF has no matching ENDIF"},
     {{"ab", F, "X"}, {"b", NF, NULL}}},
    {"if /a/\nif /b/\n/b/ X\n",
     {"line 2: IF has no matching ENDIF", "line 1: IF has no matching ENDIF"},
     {{"ab", F, "X"}}},
    /* Unmatched ENDIF: ignored. */
    {"endif\n/a/ X\n",
     {"line 1: ignoring ENDIF without matching IF"},
     {{"ab", F, "X"}}},
    {"endif_\n",
     {"line 1: ignoring ENDIF without matching IF"},
     {{NULL, 0, NULL}}},
    {"if /a/\n/b/ x\nendif junk\n",
     {"line 3: ignoring extra text after ENDIF"},
     {{"ab", F, "x"}}},
    {"if /a/ junk\n/b/ X\nendif\n",
     {"line 1: ignoring extra text after IF statement: \"junk\"",
      "line 1: do not prepend whitespace to statements between IF and ENDIF"},
     {{"ab", F, "X"}, {"b", NF, NULL}}},
    /* A bad IF is skipped, so its ENDIF is unmatched. */
    {"if /a(/\n/b/ X\nendif\n/a/ Y\n",
     {"line 1: Unmatched ( or \\(",
      "line 3: ignoring ENDIF without matching IF"},
     {{"ab", F, "X"}, {"a", F, "Y"}}},
    {"if /a/q\n/b/ X\nendif\n",
     {"line 1: unknown regexp option \"q\": skipping this rule",
      "line 3: ignoring ENDIF without matching IF"},
     {{"b", F, "X"}}},
    {"if\n/b/ X\nendif\n",
     {"line 1: no regexp: skipping this rule",
      "line 3: ignoring ENDIF without matching IF"},
     {{"ab", F, "X"}}},
    {"if1\n/b/ x\nendif\n",
     {"line 1: ignoring unrecognized request",
      "line 3: ignoring ENDIF without matching IF"},
     {{"ab", F, "x"}}},
    {"ifx /a/ X\n",
     {"line 1: ignoring unrecognized request"},
     {{"ab", NF, NULL}}},
    {"endifx\n", {"line 1: ignoring unrecognized request"}, {{NULL, 0, NULL}}},
};

static void test_if_endif(void **state)
{
    (void) state;
    failures = 0;
    run_cases("regexp", if_cases, sizeof(if_cases) / sizeof(if_cases[0]));
    assert_int_equal(failures, 0);
}

/* ---- bad rules: warned about with the line, skipped, the rest works ----- */

static const struct table_case bad_cases[] = {
    {"/a(/ BAD\n/a/ GOOD\n",
     {"line 1: Unmatched ( or \\("},
     {{"a", F, "GOOD"}}},
    {"/[/ x\n/a/ y\n", {"line 1: "}, {{"a", F, "y"}}},
    {"/x/q BADFLAG\n/x/ OK\n",
     {"line 1: unknown regexp option \"q\": skipping this rule"},
     {{"x", F, "OK"}}},
    {"/a/b/ x\n",
     {"line 1: unknown regexp option \"b\": skipping this rule"},
     {{"ab", NF, NULL}}},
    {"/a/i\\ x\n",
     {"line 1: unknown regexp option \"\\\": skipping this rule"},
     {{"ab", NF, NULL}}},
    {"/nores/\n",
     {"line 1: no replacement text: using empty string"},
     {{"nores", F, ""}}},
    {"!/zzz/ NEG $1\n",
     {"line 1: $number found in negative match replacement text: "
      "skipping this rule"},
     {{"a", NF, NULL}}},
    {"/unterminated\tX\n",
     {"line 1: no closing regexp delimiter \"/\": skipping this rule"},
     {{"unterminated", NF, NULL}}},
    {"\\ab\\ x\n",
     {"line 1: no closing regexp delimiter \"\\\": skipping this rule"},
     {{"ab", NF, NULL}}},
    {"!\n", {"line 1: no regexp: skipping this rule"}, {{NULL, 0, NULL}}},
    {"!a/ x\n",
     {"line 1: no closing regexp delimiter \"a\": skipping this rule"},
     {{NULL, 0, NULL}}},
    {"noslash\n", {"line 1: ignoring unrecognized request"}, {{NULL, 0, NULL}}},
    {"1ab1 x\n", {"line 1: ignoring unrecognized request"}, {{"ab", NF, NULL}}},
    {"  /a/ indented\n",
     {"line 1: logical line must not start with whitespace: "
      "\"  /a/ indented\""},
     {{"a", NF, NULL}}},
    /* Replacement syntax. */
    {"/(a)(b)/ x$3\n",
     {"line 1: out of range replacement index \"3\": skipping this rule"},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ x$3y\n",
     {"line 1: non-numeric replacement index \"3y\"",
      "line 1: bad replacement syntax: skipping this rule"},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ x$1y$2z\n",
     {"line 1: non-numeric replacement index \"1y\"",
      "line 1: non-numeric replacement index \"2z\"",
      "line 1: bad replacement syntax: skipping this rule"},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ x$0\n",
     {"line 1: out-of-range replacement index \"0\"",
      "line 1: bad replacement syntax: skipping this rule"},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ x${0}\n",
     {"line 1: out-of-range replacement index \"0\""},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ x$10\n",
     {"line 1: out of range replacement index \"10\": skipping this rule"},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ x$\n",
     {"line 1: empty macro name: \"x$\"",
      "line 1: bad replacement syntax: skipping this rule"},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ $-1\n",
     {"line 1: empty macro name: \"$-1\""},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ ${}\n",
     {"line 1: empty macro name: \"${}\""},
     {{"ab", NF, NULL}}},
    {"/(a)/ $$$\n", {"line 1: empty macro name: \"$$$\""}, {{"a", NF, NULL}}},
    {"/(a)(b)/ x${1\n",
     {"line 1: truncated macro reference: \"x${1\"",
      "line 1: bad replacement syntax: skipping this rule"},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ ${1)\n",
     {"line 1: truncated macro reference: \"${1)\""},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ ${ 1 }\n",
     {"line 1: non-numeric replacement index \" 1 \""},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ ${{1}}\n",
     {"line 1: non-numeric replacement index \"{1}\""},
     {{"ab", NF, NULL}}},
    {"/(a)(b)/ x$1_x\n",
     {"line 1: non-numeric replacement index \"1_x\""},
     {{"ab", NF, NULL}}},
    {"/(a)/ $5$3\n",
     {"line 1: out of range replacement index \"5\": skipping this rule"},
     {{"a", NF, NULL}}},
    {"/b/ \\$1\n",
     {"line 1: out of range replacement index \"1\": skipping this rule"},
     {{"b", NF, NULL}}},
    /* Order of the checks: flags, then the result, then the pattern. */
    {"/a(/q $0\n", {"line 1: unknown regexp option \"q\""}, {{"a", NF, NULL}}},
    {"/a(/ $0\n",
     {"line 1: out-of-range replacement index \"0\""},
     {{"a", NF, NULL}}},
    {"!/a(/ $1\n",
     {"line 1: $number found in negative match"},
     {{"a", NF, NULL}}},
    /* Several bad lines, and the good ones between them still work. */
    {"/(a)/ ok $1\n/a(/ x\n/b/q y\n/c/ z\nendif\nword\n/d/ w\n",
     {"line 2: Unmatched ( or \\(", "line 3: unknown regexp option \"q\"",
      "line 5: ignoring ENDIF without matching IF",
      "line 6: ignoring unrecognized request"},
     {{"a", F, "ok a"}, {"c", F, "z"}, {"d", F, "w"}, {"b", NF, NULL}}},
};

static void test_bad_rules(void **state)
{
    (void) state;
    failures = 0;
    run_cases("regexp", bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]));
    assert_int_equal(failures, 0);
}

/* ---- open: inline tables, errors, flags -----------------------------------
 */

static void test_inline(void **state)
{
    static const struct {
        const char *name;
        const char *key;
        enum lookup_status st;
        const char *value;
    } cases[] = {
        {"regexp:{ {/a/ X}, {/b/ Y} }", "b", F, "Y"},
        {"regexp:{ {/(a)/ [$1]} {/b/ y} }", "a", F, "[a]"},
        {"regexp:{{/a{2}/ X}}", "aa", F, "X"},
        {"regexp:{{/a{2}/ X}}", "a", NF, NULL},
        {"regexp:{ {if /a/}, {/b/ X}, {endif} }", "b", NF, NULL},
        {"regexp:{ {if /a/}, {/b/ X}, {endif} }", "ab", F, "X"},
        {"regexp:{}", "a", NF, NULL},
        {"regexp:{ , }", "a", NF, NULL},
    };
    struct buf *err = buf_new(64);
    struct buf *value = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dict *d = dict_open(cases[i].name, DICT_RDONLY, 0, err);
        enum lookup_status st;

        if (d == NULL) {
            print_error("%s: open failed: %s\n", cases[i].name, buf_str(err));
            failures++;
            continue;
        }
        if (*d->file != 0) {
            print_error("%s: got file \"%s\", want none\n", cases[i].name,
                        d->file);
            failures++;
        }
        st = dict_lookup(d, cases[i].key, value);
        if (st != cases[i].st
            || (st == F && strcmp(buf_str(value), cases[i].value) != 0)) {
            print_error("%s: lookup %s: got %s \"%s\", want %s \"%s\"\n",
                        cases[i].name, cases[i].key, lookup_status_name(st),
                        buf_str(value), lookup_status_name(cases[i].st),
                        cases[i].value ? cases[i].value : "");
            failures++;
        }
        dict_close(d);
    }
    buf_free(err);
    buf_free(value);
    assert_int_equal(failures, 0);
}

static void test_open_errors(void **state)
{
    static const struct {
        const char *name;
        int open_flags;
        const char *want;
    } cases[] = {
        {"regexp:/nonexistent/postern-test", DICT_RDONLY,
         "open /nonexistent/postern-test: No such file or directory"},
        {"regexp:{ /a/ X }", DICT_RDONLY,
         "regexp map: no '{' at start of text in \"/a/\""},
        {"regexp:{ {/a/ X}, junk }", DICT_RDONLY,
         "regexp map: no '{' at start of text in \"junk\""},
        {"regexp:{ {/a/ X}", DICT_RDONLY,
         "regexp map: missing '}' in \"{ {/a/ X}\""},
        {"regexp:{ {/a/ X} }x", DICT_RDONLY,
         "regexp map: syntax error after '}' in \"{ {/a/ X} }x\""},
        {"regexp:/etc/passwd", DICT_RDWR,
         "regexp:/etc/passwd map requires O_RDONLY access mode"},
        {"regexp:/etc/passwd", DICT_CREATE,
         "regexp:/etc/passwd map requires O_RDONLY access mode"},
    };
    struct buf *err = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dict *d;

        buf_reset(err);
        d = dict_open(cases[i].name, cases[i].open_flags, 0, err);
        if (d != NULL) {
            print_error("%s: got a table, want error \"%s\"\n", cases[i].name,
                        cases[i].want);
            failures++;
            dict_close(d);
        } else if (strcmp(buf_str(err), cases[i].want) != 0) {
            print_error("%s: got \"%s\", want \"%s\"\n", cases[i].name,
                        buf_str(err), cases[i].want);
            failures++;
        }
    }
    buf_free(err);
    assert_int_equal(failures, 0);
}

/* DICT_FOLD_FIX must not fold the key of a pattern table. */
static void test_flags(void **state)
{
    struct buf *err = buf_new(64);
    struct buf *value = buf_new(64);
    struct buf *name = buf_new(64);
    struct dict *d;

    (void) state;
    write_file(table_path, "/^(A)b$/i $1\n/^(.)B$/ [$1]\n");
    buf_setf(name, "regexp:%s", table_path);
    d = dict_open(buf_str(name), DICT_RDONLY, DICT_FOLD_FIX, err);
    assert_non_null(d);
    assert_true(d->flags & DICT_PATTERN);
    assert_false(d->flags & DICT_FIXED);
    assert_string_equal(d->file, table_path);
    assert_int_equal(dict_changed(d), 0);
    assert_int_equal(dict_lookup(d, "Ab", value), LOOKUP_FOUND);
    assert_string_equal(buf_str(value), "A");
    assert_int_equal(dict_lookup(d, "aB", value), LOOKUP_FOUND);
    assert_string_equal(buf_str(value), "[a]");
    assert_int_equal(dict_lookup(d, "ab", value), LOOKUP_FOUND);
    assert_string_equal(buf_str(value), "[a]");
    assert_null(d->update);
    assert_null(d->sequence);
    assert_int_equal(dict_sequence(d, DICT_SEQ_FIRST, name, value),
                     LOOKUP_ERR_CONFIG);
    dict_close(d);
    buf_free(err);
    buf_free(value);
    buf_free(name);
}

/* A long table: every line compiled once, lookups walk it in order. */
static void test_many_rules(void **state)
{
    struct buf *text = buf_new(4096);
    struct buf *err = buf_new(64);
    struct buf *value = buf_new(64);
    struct buf *name = buf_new(64);
    struct buf *key = buf_new(64);
    struct dict *d;
    int i;

    (void) state;
    for (i = 0; i < 1000; i++)
        buf_printf(text, "/^user%d@(example\\.com)$/ OK %d $1\n", i, i);
    write_file(table_path, buf_str(text));
    buf_setf(name, "regexp:%s", table_path);
    d = dict_open(buf_str(name), DICT_RDONLY, 0, err);
    assert_non_null(d);
    for (i = 0; i < 1000; i += 97) {
        buf_setf(key, "USER%d@Example.COM", i);
        assert_int_equal(dict_lookup(d, buf_str(key), value), LOOKUP_FOUND);
        buf_setf(key, "OK %d Example.COM", i);
        assert_string_equal(buf_str(value), buf_str(key));
    }
    assert_int_equal(dict_lookup(d, "user1000@example.com", value),
                     LOOKUP_NOTFOUND);
    dict_close(d);
    buf_free(text);
    buf_free(err);
    buf_free(value);
    buf_free(name);
    buf_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),       cmocka_unit_test(test_if_endif),
        cmocka_unit_test(test_bad_rules),   cmocka_unit_test(test_inline),
        cmocka_unit_test(test_open_errors), cmocka_unit_test(test_flags),
        cmocka_unit_test(test_many_rules),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
