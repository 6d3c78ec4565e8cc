/*
 * test_buf.c - the string buffer, argv, str and htable helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "argv.h"
#include "buf.h"
#include "htable.h"
#include "mem.h"
#include "str.h"

static void test_buf_append_and_grow(void **state)
{
    struct buf *b = buf_new(0);
    int i;

    for (i = 0; i < 10000; i++)
        assert_int_equal(buf_putc(b, 'a' + i % 26), 0);
    assert_int_equal(buf_len(b), 10000);
    assert_int_equal(buf_str(b)[10000], 0);
    assert_int_equal(buf_str(b)[27], 'b');
    buf_free(b);
}

static void test_buf_binary_safe(void **state)
{
    struct buf *b = buf_new(4);

    buf_append(b, "a\0b", 3);
    assert_int_equal(buf_len(b), 3);
    assert_memory_equal(buf_str(b), "a\0b", 4);
    buf_free(b);
}

static void test_buf_limit(void **state)
{
    struct buf *b = buf_new(4);

    buf_set_limit(b, 5);
    assert_int_equal(buf_puts(b, "abc"), 0);
    assert_int_equal(buf_puts(b, "def"), -1);
    assert_true(b->overflow);
    assert_string_equal(buf_str(b), "abc");
    assert_int_equal(buf_printf(b, "%d", 12345), -1);
    assert_int_equal(buf_printf(b, "%d", 12), 0);
    assert_string_equal(buf_str(b), "abc12");
    buf_reset(b);
    assert_false(b->overflow);
    buf_free(b);
}

static void test_buf_printf_set_truncate(void **state)
{
    struct buf *b = buf_new(1);

    buf_printf(b, "%s=%d", "x", 42);
    assert_string_equal(buf_str(b), "x=42");
    buf_setf(b, "[%s]", "y");
    assert_string_equal(buf_str(b), "[y]");
    buf_truncate(b, 1);
    assert_string_equal(buf_str(b), "[");
    buf_truncate(b, 10);
    assert_string_equal(buf_str(b), "[");
    buf_set(b, "new");
    assert_int_equal(buf_len(b), 3);
    {
        char *s = buf_steal(b);

        assert_string_equal(s, "new");
        mem_free(s);
    }
}

static void test_argv_split(void **state)
{
    static const struct {
        const char *in;
        size_t argc;
        const char *first;
        const char *last;
    } cases[] = {
        {"a, b,c", 3, "a", "c"},
        {"  permit_mynetworks,\n\treject  ", 2, "permit_mynetworks", "reject"},
        {"", 0, NULL, NULL},
        {" ,, ", 0, NULL, NULL},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct argv *av = argv_split(cases[i].in, STR_LIST_SEP);

        assert_int_equal(av->argc, cases[i].argc);
        assert_null(av->argv[av->argc]);
        if (cases[i].argc) {
            assert_string_equal(av->argv[0], cases[i].first);
            assert_string_equal(av->argv[av->argc - 1], cases[i].last);
        }
        argv_truncate(av, 0);
        assert_int_equal(av->argc, 0);
        argv_free(av);
    }
}

static void test_str_token_braced(void **state)
{
    char text[] = "-o { name = value with spaces } plain {x{y}z}";
    char *cp = text;
    const char *err;

    assert_string_equal(str_token_braced(&cp, " ", &err), "-o");
    assert_string_equal(str_token_braced(&cp, " ", &err),
                        "name = value with spaces");
    assert_string_equal(str_token_braced(&cp, " ", &err), "plain");
    assert_string_equal(str_token_braced(&cp, " ", &err), "x{y}z");
    assert_null(str_token_braced(&cp, " ", &err));
    assert_null(err);
    {
        char bad[] = "{ open";
        char *bp = bad;

        assert_null(str_token_braced(&bp, " ", &err));
        assert_string_equal(err, "missing '}'");
    }
}

static void test_str_misc(void **state)
{
    char t[] = "  \tHello World \n";
    struct buf *b = buf_new(8);

    assert_string_equal(str_trim(t), "Hello World");
    assert_string_equal(str_lower(t), "hello world");
    assert_true(str_has_prefix("smtpd_banner", "smtpd_"));
    assert_false(str_has_prefix("smtp", "smtpd_"));
    assert_true(str_has_suffix("main.cf", ".cf"));
    str_printable(b, "a\nb\x01\xffz", 6);
    assert_string_equal(buf_str(b), "a?b??z");
    buf_free(b);
}

static void test_htable(void **state)
{
    struct htable *ht = htable_new(2);
    struct htable_entry **list;
    char key[16];
    int i, n;

    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_null(htable_put(ht, key, (void *) (intptr_t) (i + 1)));
    }
    assert_int_equal(ht->used, 1000);
    assert_int_equal((intptr_t) htable_get(ht, "k500"), 501);
    assert_int_equal((intptr_t) htable_put(ht, "k500", (void *) 7), 501);
    assert_int_equal((intptr_t) htable_delete(ht, "k500"), 7);
    assert_null(htable_get(ht, "k500"));
    assert_null(htable_delete(ht, "nope"));
    list = htable_list(ht);
    for (n = 0; list[n]; n++)
        ;
    assert_int_equal(n, 999);
    mem_free(list);
    htable_free(ht, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_and_grow),
        cmocka_unit_test(test_buf_binary_safe),
        cmocka_unit_test(test_buf_limit),
        cmocka_unit_test(test_buf_printf_set_truncate),
        cmocka_unit_test(test_argv_split),
        cmocka_unit_test(test_str_token_braced),
        cmocka_unit_test(test_str_misc),
        cmocka_unit_test(test_htable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
