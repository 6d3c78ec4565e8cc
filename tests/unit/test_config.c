/*
 * test_config.c - the main.cf reader, $name expansion and the parameter
 * table's conversions. Table-driven: got X, want Y.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "cfgfile.h"
#include "config.h"
#include "mem.h"
#include "msg.h"
#include "params.h"

static char tmpdir[] = "/tmp/postern-test-config.XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static int setup(void **state)
{
    msg_init("test_config", MSG_STDERR | MSG_NOLOG);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_logical_lines(void **state)
{
    const char *path = write_file("ll.cf", "# comment\n"
                                           "a = 1\n"
                                           "  2\n"
                                           "# inside\n"
                                           "\n"
                                           "\t3\n"
                                           "b = x\r\n"
                                           "   \n"
                                           "c=\n");
    FILE *fp = fopen(path, "r");
    struct buf *line = buf_new(16);
    int lineno = 0, first = 0;

    assert_int_equal(cfg_read_logical(fp, line, &lineno, &first), 1);
    assert_string_equal(buf_str(line), "a = 1  2\t3");
    assert_int_equal(first, 2);
    assert_int_equal(cfg_read_logical(fp, line, &lineno, &first), 1);
    assert_string_equal(buf_str(line), "b = x");
    assert_int_equal(first, 7);
    assert_int_equal(cfg_read_logical(fp, line, &lineno, &first), 1);
    assert_string_equal(buf_str(line), "c=");
    assert_int_equal(first, 9);
    assert_int_equal(cfg_read_logical(fp, line, &lineno, &first), 0);
    fclose(fp);
    buf_free(line);
}

static void test_split_entry(void **state)
{
    static const struct {
        const char *in;
        int ret;
        const char *name;
        const char *value;
        const char *err;
    } cases[] = {
        {"a = b", 0, "a", "b", NULL},
        {"a=b", 0, "a", "b", NULL},
        {"  a   =   b c  ", 0, "a", "b c", NULL},
        {"a =", 0, "a", "", NULL},
        {"a b = c", -1, NULL, NULL, "missing '=' after attribute name"},
        {"bad line", -1, NULL, NULL, "missing '=' after attribute name"},
        {"= x", -1, NULL, NULL, "missing attribute name"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *copy = mem_strdup(cases[i].in);
        char *name, *value;
        const char *err = NULL;
        int ret = cfg_split_entry(copy, &name, &value, &err);

        assert_int_equal(ret, cases[i].ret);
        if (ret == 0) {
            assert_string_equal(name, cases[i].name);
            assert_string_equal(value, cases[i].value);
        } else {
            assert_string_equal(err, cases[i].err);
        }
        mem_free(copy);
    }
}

static void test_read_errors(void **state)
{
    struct buf *err = buf_new(64);
    const char *path;
    char want[512];

    config_clear();
    path = write_file("bad.cf", "a = 1\n\n# c\nbad line\n");
    assert_int_equal(config_read(path, err), -1);
    snprintf(want, sizeof(want),
             "%s, line 4: missing '=' after attribute name: \"bad line\"",
             path);
    assert_string_equal(buf_str(err), want);

    path = write_file("bad2.cf", "  x = 1\na = 2\n");
    assert_int_equal(config_read(path, err), 0); /* indented: warned, skipped */
    assert_null(config_lookup("x"));
    assert_string_equal(config_lookup("a"), "2");

    assert_int_equal(config_read("/nonexistent/main.cf", err), -1);
    assert_string_equal(buf_str(err),
                        "open /nonexistent/main.cf: No such file or directory");
    buf_free(err);
}

static void test_store_and_origin(void **state)
{
    struct buf *err = buf_new(64);
    const char *path;
    const char *file;
    int line;
    const char **names;

    config_clear();
    path = write_file("store.cf", "zeta = 1\nalpha = 2\n\nzeta = 3\n");
    assert_int_equal(config_read(path, err), 0);
    assert_string_equal(config_lookup("zeta"), "3"); /* last one wins */
    assert_int_equal(config_origin("zeta", &file, &line), 0);
    assert_string_equal(file, path);
    assert_int_equal(line, 4);
    assert_int_equal(config_override("alpha=over ride"), 0);
    assert_string_equal(config_lookup("alpha"), "over ride");
    assert_int_equal(config_origin("alpha", &file, &line), -1);
    assert_int_equal(config_override("novalue"), -1);
    names = config_names();
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "zeta");
    assert_null(names[2]);
    mem_free(names);
    config_unset("zeta");
    assert_null(config_lookup("zeta"));
    assert_string_equal(config_raw("mail_name"), "Postern");
    buf_free(err);
}

static void test_expansion(void **state)
{
    static const struct {
        const char *raw;
        const char *want; /* NULL: expansion error */
    } cases[] = {
        {"plain", "plain"},
        {"$a", "A"},
        {"${a}x", "Ax"},
        {"$(a)x", "Ax"},
        {"x$a.y", "xA.y"},
        {"a$$b", "a$b"},
        {"$undefined_name", ""},
        {"${a?yes}", "yes"},
        {"${empty?yes}", ""},
        {"${nothere?yes}", ""},
        {"${a:no}", ""},
        {"${empty:no}", "no"},
        {"${nothere:no}", "no"},
        {"${a?{ yes }}", "yes"},
        {"${empty:{ no }}", "no"},
        {"${a?{x}:{y}}", "x"},
        {"${empty?{x}:{y}}", "y"},
        {"${a?$b}", "A-B"},
        {"$(a?{$b})", "A-B"},
        {"${a?{${b}!}}", "A-B!"},
        {"$nested", "<A-B>"},
        {"$ x", NULL},
        {"${a", NULL},
        {"${a?{x}z}", NULL},
        {"${a?{x", NULL},
        {"$loop1", NULL},
        {"$self", NULL},
    };
    size_t i;

    config_clear();
    config_set("a", "A", NULL, 0);
    config_set("b", "$a-B", NULL, 0);
    config_set("empty", "", NULL, 0);
    config_set("nested", "<$b>", NULL, 0);
    config_set("loop1", "x$loop2", NULL, 0);
    config_set("loop2", "y$loop1", NULL, 0);
    config_set("self", "$self", NULL, 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf *out = buf_new(16);
        struct buf *err = buf_new(16);
        int ret = config_expand(out, cases[i].raw, err);

        if (cases[i].want == NULL) {
            if (ret != -1)
                fail_msg("case %zu \"%s\": got \"%s\", want an error", i,
                         cases[i].raw, buf_str(out));
            assert_true(buf_len(err) > 0);
        } else {
            if (ret != 0 || strcmp(buf_str(out), cases[i].want) != 0)
                fail_msg("case %zu \"%s\": got \"%s\" (%s), want \"%s\"", i,
                         cases[i].raw, buf_str(out), buf_str(err),
                         cases[i].want);
        }
        buf_free(out);
        buf_free(err);
    }
}

static void test_recursion_message(void **state)
{
    struct buf *out = buf_new(16);
    struct buf *err = buf_new(16);

    config_clear();
    config_set("loop1", "$loop2", NULL, 0);
    config_set("loop2", "$loop1", NULL, 0);
    assert_int_equal(config_expand(out, "$loop1", err), -1);
    assert_string_equal(buf_str(err),
                        "recursive parameter expansion: \"loop1\"");
    buf_free(out);
    buf_free(err);
}

static void test_defaults_expand(void **state)
{
    config_clear();
    config_set("myhostname", "mail.example.com", NULL, 0);
    assert_string_equal(config_get("smtpd_banner"),
                        "mail.example.com ESMTP Postern");
    assert_string_equal(config_get("mydomain"), "example.com");
    config_set("stress", "yes", NULL, 0);
    assert_string_equal(config_get("smtpd_timeout"), "10s");
    config_unset("stress");
    assert_string_equal(config_get("smtpd_timeout"), "300s");
    config_set("myhostname", "single", NULL, 0);
    assert_string_equal(config_get("mydomain"), "localdomain");
    config_unset("myhostname");
    config_set("mydomain", "example.org", NULL, 0);
    assert_true(strchr(config_get("myhostname"), '.') != NULL);
    config_clear();
}

static void test_conversions(void **state)
{
    static const struct {
        const char *name;
        const char *value;
        int ret;
        long want;
        const char *err;
    } cases[] = {
        {"message_size_limit", "10240000", 0, 10240000, NULL},
        {"message_size_limit", "10M", -1, 0,
         "bad numerical configuration: message_size_limit = 10M"},
        {"message_size_limit", "", -1, 0,
         "bad numerical configuration: message_size_limit = "},
        {"smtpd_timeout", "300s", 0, 300, NULL},
        {"smtpd_timeout", "300", 0, 300, NULL},
        {"smtpd_timeout", "5m", 0, 300, NULL},
        {"smtpd_timeout", "2h", 0, 7200, NULL},
        {"smtpd_timeout", "1d", 0, 86400, NULL},
        {"smtpd_timeout", "1w", 0, 604800, NULL},
        {"smtpd_timeout", "5x", -1, 0,
         "bad time value or unit: smtpd_timeout = 5x"},
        {"smtpd_timeout", "m", -1, 0,
         "bad time value or unit: smtpd_timeout = m"},
        {"smtpd_timeout", "0", -1, 0,
         "invalid smtpd_timeout parameter value 0 < 1"},
        {"maximal_queue_lifetime", "5", 0, 5 * 86400, NULL},
        {"biff", "yes", 0, 1, NULL},
        {"biff", "NO", 0, 0, NULL},
        {"biff", "maybe", -1, 0, "bad boolean configuration: biff = maybe"},
        {"mail_name", "anything at all", 0, 0, NULL},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct param_info *p = param_find(cases[i].name);
        struct buf *err = buf_new(16);
        long num = -1;
        int ret;

        assert_non_null(p);
        ret = param_convert(p, cases[i].value, &num, err);
        if (ret != cases[i].ret)
            fail_msg("case %zu %s = %s: got %d (%s), want %d", i, cases[i].name,
                     cases[i].value, ret, buf_str(err), cases[i].ret);
        if (ret == 0)
            assert_int_equal(num, cases[i].want);
        else
            assert_string_equal(buf_str(err), cases[i].err);
        buf_free(err);
    }
}

static void test_table_sane(void **state)
{
    size_t i;

    assert_true(param_count > 100);
    for (i = 0; i < param_count; i++) {
        const struct param_info *p = &param_table[i];

        /* Every name is unique and found by lookup. */
        assert_ptr_equal(param_find(p->name), p);
        assert_non_null(p->desc);
        assert_true(strlen(p->desc) > 0);
        /* Every static numeric/boolean default converts. */
        if (!(p->flags & PF_DYNAMIC) && p->type != PT_STR && p->type != PT_RAW
            && p->type != PT_LIST && strchr(p->defval, '$') == NULL) {
            struct buf *err = buf_new(16);
            long num;

            if (param_convert(p, p->defval, &num, err) < 0)
                fail_msg("default of %s: %s", p->name, buf_str(err));
            buf_free(err);
        }
    }
    assert_null(param_find("no_such_parameter"));
}

static void test_params_load(void **state)
{
    config_clear();
    config_set("message_size_limit", "123", NULL, 0);
    config_set("myhostname", "host.example.net", NULL, 0);
    params_load();
    assert_int_equal(var_message_size_limit, 123);
    assert_int_equal(var_smtpd_timeout, 300);
    assert_string_equal(var_myhostname, "host.example.net");
    assert_string_equal(var_smtpd_banner, "host.example.net ESMTP Postern");
    config_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logical_lines),
        cmocka_unit_test(test_split_entry),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_store_and_origin),
        cmocka_unit_test(test_expansion),
        cmocka_unit_test(test_recursion_message),
        cmocka_unit_test(test_defaults_expand),
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_table_sane),
        cmocka_unit_test(test_params_load),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
