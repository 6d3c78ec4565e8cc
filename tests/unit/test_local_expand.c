/*
 * test_local_expand.c - the parsers of the local delivery agent: alias,
 * .forward and :include: lists (local_split_list), $name expansion of
 * forward_path / mailbox_command / luser_relay (local_expand), and the
 * sysexits.h mapping of command exit codes. The agent's sources are
 * included whole (its main renamed), as tests link only lib/ and maps/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sysexits.h>

#define main local_agent_main
#include "../../local/local.c"
#include "../../local/local_alias.c"
#include "../../local/local_command.c"
#include "../../local/local_copy.c"
#include "../../local/local_expand.c"
#include "../../local/local_forward.c"
#include "../../local/local_mailbox.c"
#undef main

#include "config.h"

static int group_setup(void **state)
{
    (void) state;
    msg_init("test_local_expand", MSG_NOLOG);
    config_clear();
    config_set("myhostname", "host.example", NULL, 0);
    config_set("mydomain", "example", NULL, 0);
    config_set("recipient_delimiter", "+", NULL, 0);
    params_load();
    return 0;
}

static int group_teardown(void **state)
{
    (void) state;
    config_clear();
    return 0;
}

/* VALUE splits into the NULL-terminated WANT. */
static void check_split(const char *value, const char *const *want)
{
    struct argv *got = local_split_list(value);
    size_t i;

    for (i = 0; want[i]; i++) {
        if (i >= got->argc)
            fail_msg("\"%s\": got %zu items, want more", value, got->argc);
        if (strcmp(got->argv[i], want[i]) != 0)
            fail_msg("\"%s\" item %zu: got \"%s\", want \"%s\"", value, i,
                     got->argv[i], want[i]);
    }
    if (got->argc != i)
        fail_msg("\"%s\": got %zu items, want %zu", value, got->argc, i);
    argv_free(got);
}

static void test_split_list(void **state)
{
    (void) state;
    check_split("a, b,c", (const char *[]){"a", "b", "c", NULL});
    check_split("\"|cmd arg, more\" , /var/log/x",
                (const char *[]){"|cmd arg, more", "/var/log/x", NULL});
    check_split(":include:/etc/list, \\root",
                (const char *[]){":include:/etc/list", "\\root", NULL});
    check_split("Pat Doe <pat@example.com>, x (a comment, with comma)",
                (const char *[]){"pat@example.com", "x", NULL});
    check_split("\"john doe\"@example.com",
                (const char *[]){"john doe@example.com", NULL});
    check_split("\"|echo \\\"q\\\"\"", (const char *[]){"|echo \"q\"", NULL});
    check_split("a\nb\n\n  ,, ", (const char *[]){"a", "b", NULL});
    check_split("", (const char *[]){NULL});
}

static void check_expand(const struct local_state *st, const char *tmpl,
                         const char *filter, int want_ret, const char *want)
{
    struct buf *out = buf_new(64);
    struct buf *err = buf_new(64);
    int ret = local_expand(out, tmpl, st, filter, err);

    if (ret != want_ret)
        fail_msg("\"%s\": got %d (%s), want %d", tmpl, ret, buf_str(err),
                 want_ret);
    if (want && strcmp(buf_str(out), want) != 0)
        fail_msg("\"%s\": got \"%s\", want \"%s\"", tmpl, buf_str(out), want);
    buf_free(out);
    buf_free(err);
}

static void test_expand(void **state)
{
    struct local_state st;
    const char *fp = "$home/.forward${recipient_delimiter}${extension}";

    (void) state;
    memset(&st, 0, sizeof(st));
    st.user = "pat";
    st.home = "/home/pat";
    st.shell = "/bin/sh";
    st.extension = "";
    st.local = "pat";
    st.domain = "host.example";
    st.address = "pat@host.example";
    st.sender = "x;rm -rf@evil.example";
    /* No extension: the first forward_path entry is skipped. */
    check_expand(&st, fp, NULL, 1, "/home/pat/.forward");
    check_expand(&st, "$home/.forward", NULL, 0, "/home/pat/.forward");
    st.extension = "lists";
    st.local = "pat+lists";
    check_expand(&st, fp, NULL, 0, "/home/pat/.forward+lists");
    check_expand(&st, "${extension?+$extension}${shell:none}", NULL, 0,
                 "+lists");
    check_expand(&st, "$(user)-${domain}", NULL, 0, "pat-host.example");
    check_expand(&st, "cost $$5 $user", NULL, 0, "cost $5 pat");
    /* Values pass the filter; the template itself does not need to. */
    check_expand(&st, "procmail -a '$sender'", "abcdefghijklmnopqrstuvwxyz@.-",
                 0, "procmail -a 'x_rm_-rf@evil.example'");
    /* Other names are main.cf parameters. */
    check_expand(&st, "$myhostname", NULL, 0, "host.example");
    check_expand(&st, "${user", NULL, -1, NULL);
    check_expand(&st, "$", NULL, -1, NULL);
    check_expand(&st, "${user?unclosed", NULL, -1, NULL);
}

static void test_exit_codes(void **state)
{
    int temp;

    (void) state;
    assert_string_equal(local_exit_dsn(EX_TEMPFAIL, &temp), "4.3.0");
    assert_int_equal(temp, 1);
    assert_string_equal(local_exit_dsn(EX_OSERR, &temp), "4.3.0");
    assert_int_equal(temp, 1);
    assert_string_equal(local_exit_dsn(EX_NOUSER, &temp), "5.1.1");
    assert_int_equal(temp, 0);
    assert_string_equal(local_exit_dsn(EX_NOPERM, &temp), "5.7.0");
    assert_string_equal(local_exit_dsn(EX_DATAERR, &temp), "5.6.0");
    assert_string_equal(local_exit_dsn(1, &temp), "5.3.0");
    assert_int_equal(temp, 0);
    assert_string_equal(local_copy_dsn(EFBIG), "5.2.2");
    assert_string_equal(local_copy_dsn(ENOSPC), "4.3.1");
    assert_string_equal(local_copy_dsn(EIO), "4.2.0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_list),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_exit_codes),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
