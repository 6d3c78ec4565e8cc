/*
 * test_pat_literal.c - unit tests for maps/pat_literal.c, the text every
 * match of a regexp: rule must contain (the filter that lets a lookup skip
 * regexec for most rules), and for dict_regexp.c using it.
 *
 * Table-driven: each case prints "got X, want Y" when it fails and the
 * test fails at the end, so one run shows every broken case.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "pat_literal.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static void test_required_literal(void **state)
{
    static const struct {
        const char *pattern;
        const char *want;
    } cases[] = {
        {"^(.+)@host12\\.example\\.(com|net)$", "@host12.example."},
        {"abc", "abc"},
        {"ab*c", "a"},        /* b is optional, so "abc" is not required */
        {"ab?cdef", "cdef"},  /* the longest of "a" and "cdef" */
        {"ab+cd", "ab"},      /* one b stays; more may follow it */
        {"abc{2}de", "ab"},   /* a counted atom counts as optional */
        {"a|b", ""},          /* alternation at the top: nothing required */
        {"(a|b)xyz", "xyz"},  /* inside a group it is fine */
        {"x\\wyz", "yz"},     /* GNU operators are not characters */
        {"foo\\1bar", "foo"}, /* nor back-references */
        {"foo\\.bar", "foo.bar"},
        {"[abc]def", "def"},
        {"[]x]yz", "yz"}, /* "]" first in a bracket is a member */
        {"[[:alpha:]]+qq", "qq"},
        {"a+?", ""}, /* stacked quantifiers: give up */
        {"(unclosed", ""},
        {"abc)", ""},
        {"[unclosed", ""},
        {"\xc3\xa9t\xc3\xa9", "t"}, /* non-ASCII bytes end a run */
        {"a.b..cd", "cd"},
        {"", ""},
    };
    char out[64];
    size_t i;
    int failed = 0;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        size_t len = pat_required_literal(cases[i].pattern, out, sizeof(out));

        if (strcmp(out, cases[i].want) != 0 || len != strlen(out)) {
            printf("pattern \"%s\": got \"%s\" (%zu), want \"%s\"\n",
                   cases[i].pattern, out, len, cases[i].want);
            failed++;
        }
    }
    /* A run longer than OUT is not cut short: it is not used. */
    assert_int_equal(pat_required_literal("abcdefgh", out, 4), 0);
    assert_string_equal(out, "");
    assert_int_equal(failed, 0);
}

static void test_has_literal(void **state)
{
    (void) state;
    assert_true(pat_has_literal("Hello World", "WORLD", 5, 1));
    assert_false(pat_has_literal("Hello World", "WORLD", 5, 0));
    assert_true(pat_has_literal("Hello World", "o W", 3, 0));
    assert_false(pat_has_literal("ab", "abc", 3, 1));
    assert_true(pat_has_literal("", "", 0, 0));
    assert_false(pat_has_literal("", "a", 1, 1));
    assert_true(pat_has_literal("xxaAB", "aab", 3, 1));
}

/* The filter never hides a match glibc finds (a few fixed pairs). */
static void test_filter_agrees_with_regexec(void **state)
{
    static const char *const patterns[] = {
        "^(.+)@host1\\.example\\.com$",
        "ab+c",
        "x(y|z)*w",
        "[a-c]+@dom",
        "fo?o\\.bar",
    };
    static const char *const keys[] = {
        "someone@host1.example.com",
        "SOMEONE@HOST1.EXAMPLE.COM",
        "abbbc",
        "xyzyw",
        "ab@dom",
        "fo.bar",
        "foo.bar",
        "nothing",
    };
    char lit[64];
    size_t p, k;

    (void) state;
    for (p = 0; p < NCASES(patterns); p++) {
        regex_t re;
        size_t len = pat_required_literal(patterns[p], lit, sizeof(lit));

        assert_int_equal(
            regcomp(&re, patterns[p], REG_EXTENDED | REG_ICASE | REG_NOSUB), 0);
        for (k = 0; k < NCASES(keys); k++) {
            int matched = regexec(&re, keys[k], 0, NULL, 0) == 0;

            if (matched && !pat_has_literal(keys[k], lit, len, 1))
                fail_msg("\"%s\" matches \"%s\" but lacks \"%s\"", keys[k],
                         patterns[p], lit);
        }
        regfree(&re);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_required_literal),
        cmocka_unit_test(test_has_literal),
        cmocka_unit_test(test_filter_agrees_with_regexec),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
