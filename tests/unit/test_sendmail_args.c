/*
 * test_sendmail_args.c - unit tests for sendmail's command line
 * (queue/sendmail_args.c, included here: the unit tests link only lib/
 * and maps/).
 *
 * Table-driven; every failing case prints "got X, want Y". Covers the
 * modes (by option and by program name), clustered and separate option
 * values, -N/-R/-V/-F/-f, ignored options, options after recipients,
 * "--", the refused modes and bad values, and the splitting of recipient
 * arguments into addresses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../queue/sendmail_args.c"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static int failures;

static int reset(void **state)
{
    (void) state;
    failures = 0;
    return 0;
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    print_error("%s\n", text);
    failures++;
}

/* Split "a b c" into an argv-style array (no quoting). */
static int split_words(char *line, char **out, int max)
{
    int n = 0;
    char *tok;

    while (n < max - 1 && (tok = strsep(&line, " ")) != NULL)
        if (*tok)
            out[n++] = tok;
    out[n] = NULL;
    return n;
}

/* Describe the parse result as one string. */
static void describe(struct buf *out, const struct sm_opts *o)
{
    size_t i;

    buf_reset(out);
    buf_printf(out, "mode=%d", (int) o->mode);
    if (o->extract)
        buf_puts(out, " t");
    if (o->ignore_dots)
        buf_puts(out, " i");
    if (o->verbose)
        buf_printf(out, " v%d", o->verbose);
    if (o->have_sender)
        buf_printf(out, " f=[%s]", o->sender);
    if (o->full_name)
        buf_printf(out, " F=[%s]", o->full_name);
    if (o->notify)
        buf_printf(out, " N=%d", o->notify);
    if (o->dsn_ret)
        buf_printf(out, " R=%d", o->dsn_ret);
    if (o->envid)
        buf_printf(out, " V=[%s]", o->envid);
    if (o->body_8bit)
        buf_puts(out, " 8bit");
    if (o->config_dir)
        buf_printf(out, " C=[%s]", o->config_dir);
    if (o->flush_site)
        buf_printf(out, " site=[%s]", o->flush_site);
    for (i = 0; i < o->rcpts->argc; i++)
        buf_printf(out, " <%s>", o->rcpts->argv[i]);
}

static void test_args(void **state)
{
    static const struct {
        const char *argv; /* words separated by one space */
        const char *want; /* describe(), or "ERR:" + the error */
    } cases[] = {
        {"sendmail a@b", "mode=0 <a@b>"},
        {"sendmail -t", "mode=0 t"},
        {"sendmail -ti", "mode=0 t i"},
        {"sendmail -oi -t a", "mode=0 t i <a>"},
        {"sendmail -i a -t", "mode=0 t i <a>"},
        {"sendmail -f sender@x a", "mode=0 f=[sender@x] <a>"},
        {"sendmail -fsender@x a", "mode=0 f=[sender@x] <a>"},
        {"sendmail -r old a", "mode=0 f=[old] <a>"},
        {"sendmail -f <> a", "mode=0 f=[<>] <a>"},
        {"sendmail -F Joe -f u a", "mode=0 f=[u] F=[Joe] <a>"},
        {"sendmail -N success,delay a", "mode=0 N=10 <a>"},
        {"sendmail -N never a", "mode=0 N=1 <a>"},
        {"sendmail -Nfailure a", "mode=0 N=4 <a>"},
        {"sendmail -R hdrs -V env1 a", "mode=0 R=2 V=[env1] <a>"},
        {"sendmail -RFULL a", "mode=0 R=1 <a>"},
        {"sendmail -B 8BITMIME a", "mode=0 8bit <a>"},
        {"sendmail -v -v a", "mode=0 v2 <a>"},
        {"sendmail -vv a", "mode=0 v2 <a>"},
        {"sendmail -om -oem -oAfile -odb a", "mode=0 <a>"},
        {"sendmail -G -U -m -n -L x -X log -e x -h 5 -p smtp a", "mode=0 <a>"},
        {"sendmail -C /etc/x/main.cf a", "mode=0 C=[/etc/x/main.cf] <a>"},
        {"sendmail -- -dash", "mode=0 <-dash>"},
        {"sendmail -t -- a -i", "mode=0 t <a> <-i>"},
        {"sendmail -bm a", "mode=0 <a>"},
        {"sendmail -bs", "mode=1"},
        {"sendmail -bp", "mode=2"},
        {"/usr/bin/mailq", "mode=2"},
        {"mailq -v", "mode=2 v1"},
        {"sendmail -bi", "mode=3"},
        {"sendmail -I", "mode=3"},
        {"/usr/bin/newaliases", "mode=3"},
        {"sendmail -q", "mode=4"},
        {"sendmail -q30m", "mode=4"},
        {"sendmail -qRexample.com", "mode=4 site=[example.com]"},
        {"sendmail -qR example.com", "mode=4 site=[example.com]"},
        {"sendmail -qSexample.org", "mode=4 site=[example.org]"},
        {"sendmail -bd", "ERR:-bd is not supported"},
        {"sendmail -bD", "ERR:-bD is not supported"},
        {"sendmail -bv a", "ERR:-bv is not supported"},
        {"sendmail -bx", "ERR:-bx: unknown mode"},
        {"sendmail -bmm", "ERR:-bmm: unknown mode"},
        {"sendmail -k a", "ERR:invalid option -- 'k'"},
        {"sendmail -f", "ERR:option requires an argument -- 'f'"},
        {"sendmail -N bogus a", "ERR:-N: bad notify list \"bogus\": want "
                                "never, or one or more of success, failure, "
                                "delay"},
        {"sendmail -N never,success a",
         "ERR:-N: bad notify list \"never,success\": want never, or one or "
         "more of success, failure, delay"},
        {"sendmail -R body a", "ERR:-R: bad value \"body\": want full or hdrs"},
        {"sendmail -qR", "ERR:-qR requires a site"},
        {"sendmail -qx", "ERR:-qx: bad queue run interval"},
        {"sendmail - a", "ERR:invalid argument \"-\""},
    };
    struct buf *got = buf_new(128);
    struct buf *err = buf_new(128);
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        char line[512];
        char *av[64];
        int ac;
        struct sm_opts o;
        int ret;

        snprintf(line, sizeof(line), "%s", cases[i].argv);
        ac = split_words(line, av, 64);
        sm_opts_init(&o);
        buf_reset(err);
        ret = sm_args_parse(ac, av, &o, err);
        if (ret < 0) {
            buf_setf(got, "ERR:%s", buf_str(err));
        } else {
            describe(got, &o);
        }
        if (strcmp(buf_str(got), cases[i].want) != 0)
            report("%s: got \"%s\", want \"%s\"", cases[i].argv, buf_str(got),
                   cases[i].want);
        sm_opts_free(&o);
    }
    buf_free(got);
    buf_free(err);
    assert_int_equal(failures, 0);
}

static void test_split_rcpts(void **state)
{
    static const struct {
        const char *arg;
        const char *want; /* "addr|orig;addr|orig" or "ERR:why" */
    } cases[] = {
        {"user", "user|user"},
        {"a@b", "a@b|a@b"},
        {"  a@b  ", "a@b|a@b"},
        {"a@b, c@d", "a@b|a@b;c@d|c@d"},
        {"a@b,,c", "a@b|a@b;c|c"},
        {"Joe User <joe@example.com>", "joe@example.com|joe@example.com"},
        {"<x@y>", "x@y|x@y"},
        {"joe@example.com (Joe, the boss)", "joe@example.com|joe@example.com"},
        {"\"a, b\"@example.com", "a, b@example.com|a, b@example.com"},
        {"\"Last, First\" <lf@example.com>, z",
         "lf@example.com|lf@example.com;z|z"},
        {"<@relay:u@d>", "u@d|u@d"},
        {"", ""},
        {" , ", ""},
        {"<a@b", "ERR:missing '>'"},
        {"\"open@x", "ERR:unbalanced quote"},
        {"a (open", "ERR:unbalanced parenthesis"},
        {"<>", "ERR:empty address"},
    };
    struct buf *got = buf_new(128);
    struct buf *err = buf_new(64);
    size_t i;
    size_t k;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        struct argv *addrs = argv_new(2);
        struct argv *origs = argv_new(2);
        int n = sm_split_rcpts(cases[i].arg, addrs, origs, err);

        buf_reset(got);
        if (n < 0) {
            buf_printf(got, "ERR:%s", buf_str(err));
        } else {
            if ((size_t) n != addrs->argc)
                report("%s: count %d but %zu addresses", cases[i].arg, n,
                       addrs->argc);
            for (k = 0; k < addrs->argc; k++)
                buf_printf(got, "%s%s|%s", k ? ";" : "", addrs->argv[k],
                           origs->argv[k]);
        }
        if (strcmp(buf_str(got), cases[i].want) != 0)
            report("%s: got \"%s\", want \"%s\"", cases[i].arg, buf_str(got),
                   cases[i].want);
        argv_free(addrs);
        argv_free(origs);
    }
    buf_free(got);
    buf_free(err);
    assert_int_equal(failures, 0);
}

static void test_sender(void **state)
{
    static const struct {
        const char *given;
        const char *want;
    } cases[] = {
        {"", ""},
        {"<>", ""},
        {" <> ", ""},
        {"user", "user"},
        {"<u@d>", "u@d"},
        {"\"a b\"@d", "a b@d"},
        {"<\"x\"@y>", "x@y"},
    };
    struct buf *got = buf_new(32);
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        sm_sender_internal(got, cases[i].given);
        if (strcmp(buf_str(got), cases[i].want) != 0)
            report("\"%s\": got \"%s\", want \"%s\"", cases[i].given,
                   buf_str(got), cases[i].want);
    }
    buf_free(got);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_args, reset),
        cmocka_unit_test_setup(test_split_rcpts, reset),
        cmocka_unit_test_setup(test_sender, reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
