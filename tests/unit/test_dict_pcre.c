/*
 * test_dict_pcre.c - unit tests for the pcre: table type
 * (maps/dict_pcre.c and the shared parser maps/dict_pattern.c).
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

#define DICT_TEST_NAME "test_dict_pcre"
#include "dict_table_cases.h"

#define NF LOOKUP_NOTFOUND
#define F  LOOKUP_FOUND

/* ---- matching, flags, substitution ------------------------------------ */

static const struct table_case match_cases[] = {
    {"/^(?!owner-)(.*)-outgoing@(.*)/ 550 Use ${1}@${2} instead\n",
     {NULL},
     {{"list-outgoing@example.com", F, "550 Use list@example.com instead"},
      {"owner-list-outgoing@example.com", NF, NULL}}},
    {"/^(friend@(?!my\\.domain$).*)$/  550 Stick this in your pipe $1\n",
     {NULL},
     {{"friend@other.domain", F,
       "550 Stick this in your pipe friend@other.domain"},
      {"friend@my.domain", NF, NULL}}},
    /* Defaults: case-insensitive, dot matches newline. */
    {"/a/ x\n", {NULL}, {{"AB", F, "x"}}},
    {"/a/i x\n", {NULL}, {{"AB", NF, NULL}, {"ab", F, "x"}}},
    {"/(?i)A/i x\n", {NULL}, {{"ab", F, "x"}}},
    {"/a.b/ x\n", {NULL}, {{"a\nb", F, "x"}}},
    {"/a.b/s x\n", {NULL}, {{"a\nb", NF, NULL}, {"a-b", F, "x"}}},
    /* m: ^ and $ at newlines. */
    {"/^b$/m x\n", {NULL}, {{"a\nb\nc", F, "x"}}},
    {"/^b$/ x\n", {NULL}, {{"a\nb\nc", NF, NULL}}},
    /* x: white space in the pattern ignored. */
    {"/a b/x x\n", {NULL}, {{"ab", F, "x"}, {"a b", NF, NULL}}},
    {"/a b/ x\n", {NULL}, {{"a b", F, "x"}}},
    /* A: anchored. */
    {"/b/A x\n", {NULL}, {{"ab", NF, NULL}, {"ba", F, "x"}}},
    /* E: $ only at the very end. */
    {"/a$/ x\n", {NULL}, {{"a\n", F, "x"}}},
    {"/a$/E x\n", {NULL}, {{"a\n", NF, NULL}, {"a", F, "x"}}},
    /* U: ungreedy. */
    {"/(a+)/U $1\n", {NULL}, {{"aaa", F, "a"}}},
    {"/(a+)/ $1\n", {NULL}, {{"aaa", F, "aaa"}}},
    {"/(a+?)/U $1\n", {NULL}, {{"aaa", F, "aaa"}}},
    /* X is obsolete with PCRE2: a warning, the rule stays. */
    {"/a/X x\n",
     {"line 1: ignoring obsolete regexp option \"X\""},
     {{"ab", F, "x"}}},
    {"/a/mEUsx x\n", {NULL}, {{"ab", F, "x"}}},
    /* Groups that take no part give empty text. */
    {"/(a)|(b)/ [$1][$2]\n", {NULL}, {{"ab", F, "[a][]"}, {"b", F, "[][b]"}}},
    {"/(a)?(b)/ [$1][$2]\n", {NULL}, {{"b", F, "[][b]"}}},
    {"/(a)(?:b)(c)/ $1$2\n", {NULL}, {{"abc", F, "ac"}}},
    {"/(a)|b/ [$1]\n", {NULL}, {{"b", F, "[]"}}},
    {"/(?<n>a)b/ ${1}\n", {NULL}, {{"ab", F, "a"}}},
    {"/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)/ ${10}$11\n",
     {NULL},
     {{"abcdefghijk", F, "jk"}}},
    {"/\\p{Lu}/ x\n", {NULL}, {{"ab", NF, NULL}, {"aB", F, "x"}}},
    /* Bytes, not characters: no UTF mode. */
    {"/^.$/ one\n/^..$/ two\n", {NULL}, {{"\xc3\xa9", F, "two"}}},
    {"/a/ x\nif /a/\n/b/ y\nendif\n", {NULL}, {{"ab", F, "x"}}},
    {"if /a/\n/b/ X\nendif\n/c/ Y\n",
     {NULL},
     {{"ab", F, "X"}, {"b", NF, NULL}, {"c", F, "Y"}}},
    {"if !/a/\nif /b/\n/c/ X\nendif\nendif\n",
     {NULL},
     {{"bc", F, "X"}, {"abc", NF, NULL}}},
    {"/a/ X\n  continued\n", {NULL}, {{"a", F, "X  continued"}}},
    {"/a/  res  with  spaces  \n", {NULL}, {{"a", F, "res  with  spaces"}}},
};

static void test_match(void **state)
{
    (void) state;
    failures = 0;
    run_cases("pcre", match_cases,
              sizeof(match_cases) / sizeof(match_cases[0]));
    assert_int_equal(failures, 0);
}

/* ---- bad rules: warned about with the line, skipped, the rest works ----- */

static const struct table_case bad_cases[] = {
    {"/(a(/ x\n/a/ y\n",
     {"line 1: error in regex at offset 3: missing closing parenthesis"},
     {{"a", F, "y"}}},
    {"/a/q x\n",
     {"line 1: unknown regexp option \"q\": skipping this rule"},
     {{"a", NF, NULL}}},
    {"/\\/ x\n",
     {"line 1: no closing regexp delimiter \"/\": ignoring this rule"},
     {{"a", NF, NULL}}},
    {"if /a\n",
     {"line 1: no closing regexp delimiter \"/\": ignoring this rule"},
     {{"a", NF, NULL}}},
    {"/(a)(b)/ x$3\n",
     {"line 1: out of range replacement index \"3\": skipping this rule"},
     {{"ab", NF, NULL}}},
    {"/a/ $1\n",
     {"line 1: out of range replacement index \"1\": skipping this rule"},
     {{"a", NF, NULL}}},
    {"/(a)(b)/ x$0\n",
     {"line 1: out of range replacement index \"0\"",
      "line 1: bad replacement syntax: skipping this rule"},
     {{"ab", NF, NULL}}},
    {"/(?<n>a)b/ ${n}\n",
     {"line 1: non-numeric replacement index \"n\"",
      "line 1: bad replacement syntax: skipping this rule"},
     {{"ab", NF, NULL}}},
    {"!/(a)/ x$1\n",
     {"line 1: $number found in negative match replacement text: "
      "skipping this rule"},
     {{"b", NF, NULL}}},
    {"/(a)/ ${1\n",
     {"line 1: truncated macro reference: \"${1\""},
     {{"a", NF, NULL}}},
    {"if /a/ junk\n/b/ X\nendif\n",
     {"line 1: ignoring extra text after IF statement: \"junk\"",
      "line 1: do not prepend whitespace to statements between IF and ENDIF"},
     {{"ab", F, "X"}}},
    {"if /a/\n/b/ X\n", {"line 1: IF has no matching ENDIF"}, {{"ab", F, "X"}}},
    {"endif\n",
     {"line 1: ignoring ENDIF without matching IF"},
     {{NULL, 0, NULL}}},
    {"aab x\n", {"line 1: ignoring unrecognized request"}, {{NULL, 0, NULL}}},
    {"  /a/ x\n",
     {"line 1: logical line must not start with whitespace"},
     {{"a", NF, NULL}}},
    {"/a/\n",
     {"line 1: no replacement text: using empty string"},
     {{"a", F, ""}}},
};

static void test_bad_rules(void **state)
{
    (void) state;
    failures = 0;
    run_cases("pcre", bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]));
    assert_int_equal(failures, 0);
}

/*
 * Catastrophic backtracking hits PCRE2's match limit: as in Postfix the
 * error is logged with the line and that rule (or IF block) applies
 * neither way; the search goes on.
 */
static const struct table_case limit_cases[] = {
    {"/^(a|a?)+$/ x\n/./ y\n",
     {"line 1: match limit exceeded"},
     {{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", F,
       "y"}}},
    {"!/^(a|a?)+$/ x\n/./ y\n",
     {"line 1: match limit exceeded"},
     {{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", F,
       "y"}}},
    {"if /^(a|a?)+$/\n/./ z\nendif\n/./ y\n",
     {"line 1: match limit exceeded"},
     {{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", F,
       "y"}}},
    {"if !/^(a|a?)+$/\n/./ z\nendif\n/./ y\n",
     {"line 1: match limit exceeded"},
     {{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", F,
       "y"}}},
};

static void test_match_error(void **state)
{
    (void) state;
    failures = 0;
    run_cases("pcre", limit_cases,
              sizeof(limit_cases) / sizeof(limit_cases[0]));
    assert_int_equal(failures, 0);
}

static void test_inline_and_errors(void **state)
{
    struct buf *err = buf_new(64);
    struct buf *value = buf_new(64);
    struct dict *d;

    (void) state;
    d = dict_open("pcre:{ {/^(\\w+)@/ user=$1} }", DICT_RDONLY, DICT_FOLD_FIX,
                  err);
    assert_non_null(d);
    assert_true(d->flags & DICT_PATTERN);
    assert_int_equal(dict_lookup(d, "Joe@Example", value), LOOKUP_FOUND);
    assert_string_equal(buf_str(value), "user=Joe");
    dict_close(d);

    d = dict_open("pcre:/nonexistent/postern-test", DICT_RDONLY, 0, err);
    assert_null(d);
    assert_string_equal(
        buf_str(err),
        "open /nonexistent/postern-test: No such file or directory");
    d = dict_open("pcre:{ x }", DICT_RDONLY, 0, err);
    assert_null(d);
    assert_string_equal(buf_str(err),
                        "pcre map: no '{' at start of text in \"x\"");
    d = dict_open("pcre:/etc/passwd", DICT_CREATE, 0, err);
    assert_null(d);
    assert_string_equal(buf_str(err),
                        "pcre:/etc/passwd map requires O_RDONLY access mode");
    buf_free(err);
    buf_free(value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_bad_rules),
        cmocka_unit_test(test_match_error),
        cmocka_unit_test(test_inline_and_errors),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
