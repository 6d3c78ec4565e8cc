/*
 * test_mastercf.c - lib/mastercf.c: master.cf columns and defaults,
 * continuation and comment lines, -o overrides in all their forms, inet
 * host:port, every error and warning with its file and line, the
 * "postconf -M" column format (plain and folded), and edits that must
 * leave every other byte of the file as it was. Table-driven: got X,
 * want Y. The expected column output was checked against Postfix 3.7's
 * postconf on the same input.
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

#include "argv.h"
#include "buf.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"

#define PATH "/etc/postern/master.cf"

static struct mastercf *parse(const char *text, int flags,
                              struct argv *warnings, struct buf *err)
{
    return mastercf_parse(PATH, text, strlen(text), flags, warnings, err);
}

/* Parse TEXT that must be fine, with no warnings. */
static struct mastercf *parse_ok(const char *text)
{
    struct buf *err = buf_new(64);
    struct argv *warnings = argv_new(4);
    struct mastercf *mcf = parse(text, 0, warnings, err);

    if (mcf == NULL)
        fail_msg("unexpected error: %s", buf_str(err));
    if (warnings->argc)
        fail_msg("unexpected warning: %s", warnings->argv[0]);
    argv_free(warnings);
    buf_free(err);
    return mcf;
}

static char *write_out(const struct mastercf *mcf)
{
    char *data = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&data, &len);

    assert_non_null(fp);
    assert_int_equal(mastercf_write(mcf, fp), 0);
    fclose(fp);
    return data;
}

static int setup(void **state)
{
    (void) state;
    msg_init("test_mastercf", MSG_STDERR | MSG_NOLOG);
    return 0;
}

/* ---- columns and defaults ------------------------------------------- */

static void test_columns(void **state)
{
    static const struct {
        const char *line;
        enum mastercf_type type;
        int priv, unpriv, chroot, wakeup, cond, maxproc;
        const char *command;
    } cases[] = {
        {"smtp inet n - y - - smtpd", MASTERCF_INET, 0, 1, 1, 0, 0, -1,
         "smtpd"},
        {"a unix - - - - - cmd", MASTERCF_UNIX, 1, 1, 0, 0, 0, -1, "cmd"},
        {"a unix y n n 60 1 cmd", MASTERCF_UNIX, 1, 0, 0, 60, 0, 1, "cmd"},
        {"a unix - - - 1000? 0 cmd", MASTERCF_UNIX, 1, 1, 0, 1000, 1, 0, "cmd"},
        {"a unix - - - ? 007 cmd", MASTERCF_UNIX, 1, 1, 0, 0, 1, 7, "cmd"},
        {"a unix - - - 0 - cmd", MASTERCF_UNIX, 1, 1, 0, 0, 0, -1, "cmd"},
        {"a unix-dgram n - n - 1 postlogd", MASTERCF_UNIX_DGRAM, 0, 1, 0, 0, 0,
         1, "postlogd"},
        {"a fifo - - - 10? 0 cmd", MASTERCF_FIFO, 1, 1, 0, 10, 1, 0, "cmd"},
        {"a pass - - - - - cmd", MASTERCF_PASS, 1, 1, 0, 0, 0, -1, "cmd"},
        {NULL, 0, 0, 0, 0, 0, 0, 0, NULL},
    };
    size_t i;

    (void) state;
    for (i = 0; cases[i].line; i++) {
        struct mastercf *mcf = parse_ok(cases[i].line);
        struct mastercf_entry *e;

        assert_int_equal(mcf->count, 1);
        e = mcf->entries[0];
        assert_int_equal(e->type, cases[i].type);
        assert_int_equal(e->priv, cases[i].priv);
        assert_int_equal(e->unpriv, cases[i].unpriv);
        assert_int_equal(e->chroot, cases[i].chroot);
        assert_int_equal(e->wakeup, cases[i].wakeup);
        assert_int_equal(e->wakeup_cond, cases[i].cond);
        assert_int_equal(e->maxproc, cases[i].maxproc);
        assert_string_equal(e->field[MASTERCF_COMMAND], cases[i].command);
        assert_int_equal(e->first_line, 1);
        assert_int_equal(e->last_line, 1);
        mastercf_free(mcf);
    }
}

static void test_inet_names(void **state)
{
    static const struct {
        const char *service;
        const char *host; /* NULL: bare port */
        const char *port;
    } cases[] = {
        {"smtp", NULL, "smtp"},
        {"2525", NULL, "2525"},
        {"127.0.0.1:10025", "127.0.0.1", "10025"},
        {"mail.example.com:submission", "mail.example.com", "submission"},
        {"[::1]:10026", "::1", "10026"},
        {"[2001:db8::1]:smtp", "2001:db8::1", "smtp"},
        {NULL, NULL, NULL},
    };
    struct buf *line = buf_new(64);
    size_t i;

    (void) state;
    for (i = 0; cases[i].service; i++) {
        struct mastercf *mcf;
        struct mastercf_entry *e;

        buf_setf(line, "%s inet n - n - - smtpd", cases[i].service);
        mcf = parse_ok(buf_str(line));
        e = mcf->entries[0];
        if (cases[i].host)
            assert_string_equal(e->inet_host, cases[i].host);
        else
            assert_null(e->inet_host);
        assert_string_equal(e->inet_port, cases[i].port);
        mastercf_free(mcf);
    }
    /* Other types have no inet parts. */
    {
        struct mastercf *mcf = parse_ok("a:b unix - - - - - x");

        assert_null(mcf->entries[0]->inet_host);
        assert_null(mcf->entries[0]->inet_port);
        mastercf_free(mcf);
    }
    buf_free(line);
}

/* ---- lines -------------------------------------------------------------- */

static void test_continuation_and_comments(void **state)
{
    static const char text[] = "# head comment\n"                      /* 1 */
                               "a unix - - - - - cmd -o mail_name=1\n" /* 2 */
                               "  # inner comment\n"                   /* 3 */
                               "  -o smtpd_banner=x\n"                 /* 4 */
                               "\n"                                    /* 5 */
                               "# between\n"                           /* 6 */
                               "b unix - - - - - cmd2\r\n"             /* 7 */
                               "\t-o\r\n"                              /* 8 */
                               "\t  mail_name=2\n"                     /* 9 */
                               "# tail\n";                             /* 10 */
    struct mastercf *mcf = parse_ok(text);
    struct mastercf_entry *a, *b;

    (void) state;
    assert_int_equal(mcf->count, 2);
    a = mcf->entries[0];
    b = mcf->entries[1];
    assert_int_equal(a->first_line, 2);
    assert_int_equal(a->last_line, 4);
    assert_string_equal(a->source, "a unix - - - - - cmd -o mail_name=1\n"
                                   "  # inner comment\n"
                                   "  -o smtpd_banner=x\n");
    assert_string_equal(mastercf_param(a, "mail_name"), "1");
    assert_string_equal(mastercf_param(a, "smtpd_banner"), "x");
    assert_int_equal(b->first_line, 7);
    assert_int_equal(b->last_line, 9);
    /* "-o" and its value on different lines is still one override. */
    assert_string_equal(mastercf_param(b, "mail_name"), "2");
    assert_ptr_equal(mastercf_find(mcf, "b/unix"), b);
    assert_ptr_equal(mastercf_lookup(mcf, "a", "unix"), a);
    assert_null(mastercf_find(mcf, "a/inet"));
    assert_null(mastercf_find(mcf, "a"));
    mastercf_free(mcf);
}

static void test_empty_files(void **state)
{
    static const char *const texts[] = {"", "\n\n", "# only\n  # comments\n",
                                        NULL};
    size_t i;

    (void) state;
    for (i = 0; texts[i]; i++) {
        struct mastercf *mcf = parse_ok(texts[i]);

        assert_int_equal(mcf->count, 0);
        mastercf_free(mcf);
    }
}

/* ---- arguments and -o --------------------------------------------------- */

/* A compact picture of the parsed arguments: W:text O:opt P:name=value
 * A:optarg. */
static void describe_args(const struct mastercf_entry *e, struct buf *out)
{
    size_t i;

    buf_reset(out);
    for (i = 0; i < e->argc; i++) {
        const struct mastercf_arg *a = &e->args[i];

        if (i)
            buf_putc(out, '|');
        switch (a->kind) {
        case MASTERCF_ARG_WORD:
            buf_printf(out, "W:%s%s", a->braced ? "{}" : "", a->text);
            break;
        case MASTERCF_ARG_OPTION:
            buf_printf(out, "O:%s", a->text);
            break;
        case MASTERCF_ARG_PARAM:
            buf_printf(out, "P:%s=%s", a->text, a->value);
            break;
        case MASTERCF_ARG_OPTARG:
            buf_printf(out, "A:%s", a->text);
            break;
        }
    }
}

static void test_arguments(void **state)
{
    static const struct {
        const char *args;
        const char *want;
    } cases[] = {
        {"-o a=1 -o b=2", "P:a=1|P:b=2"},
        {"-oname=value", "P:name=value"},
        {"-o { name = value with spaces }", "P:name=value with spaces"},
        {"-o{ name = v }", "P:name=v"},
        {"-o {name=a=b}", "P:name=a=b"},
        {"-o name=", "P:name="},
        {"-o name=a=b", "P:name=a=b"},
        {"-o {  name  =  a \t b  }", "P:name=a \t b"},
        /* Postfix reads "-o name = value" as -o name, then arguments. */
        {"-o name2 = value2", "A:name2|W:=|W:value2"},
        {"-v -o a=1 -vo b=2 -ovc=3", "O:-v|P:a=1|O:-v|P:b=2|P:vc=3"},
        {"-vx -o a=1", "O:-vx|P:a=1"},
        /* Options end at the first argument that is not one. */
        {"foo -o a=1", "W:foo|W:-o|W:a=1"},
        {"- -o a=1", "W:-|W:-o|W:a=1"},
        {"-- -o a=1", "W:--|W:-o|W:a=1"},
        {"-o a=1 -o", "P:a=1|W:-o"},
        {"flags=R user=x argv=/bin/x ${nexthop} { a b }",
         "W:flags=R|W:user=x|W:argv=/bin/x|W:${nexthop}|W:{}a b"},
        {"a{b c}d {x {y z} w} {}", "W:a{b c}d|W:{}x {y z} w|W:{}"},
        {"-o =v -o x", "A:=v|A:x"},
        {NULL, NULL},
    };
    struct buf *line = buf_new(128);
    struct buf *got = buf_new(128);
    size_t i;

    (void) state;
    for (i = 0; cases[i].args; i++) {
        struct mastercf *mcf;

        buf_setf(line, "a unix - - - - - cmd %s", cases[i].args);
        mcf = parse_ok(buf_str(line));
        describe_args(mcf->entries[0], got);
        if (strcmp(buf_str(got), cases[i].want) != 0)
            fail_msg("args \"%s\": got \"%s\", want \"%s\"", cases[i].args,
                     buf_str(got), cases[i].want);
        mastercf_free(mcf);
    }
    buf_free(line);
    buf_free(got);
}

static void test_exec_argv_and_names(void **state)
{
    struct mastercf *mcf = parse_ok(
        "a unix - - - - - smtpd -v -o { smtpd_banner = $myhostname hi } -o a=1\n"
        "b unix - - - - - pipe flags=R argv=/bin/x {a b} -o x=y\n"
        "a inet - - - - - smtpd -o a=2\n");
    struct argv *av = mastercf_exec_argv(mcf->entries[0]);
    struct argv *names;

    (void) state;
    assert_int_equal(av->argc, 6);
    assert_string_equal(av->argv[0], "smtpd");
    assert_string_equal(av->argv[1], "-v");
    assert_string_equal(av->argv[2], "-o");
    assert_string_equal(av->argv[3], "smtpd_banner=$myhostname hi");
    assert_string_equal(av->argv[5], "a=1");
    argv_free(av);
    av = mastercf_exec_argv(mcf->entries[1]);
    assert_int_equal(av->argc, 6);
    assert_string_equal(av->argv[3], "a b");
    assert_string_equal(av->argv[4], "-o");
    argv_free(av);

    names = mastercf_param_names(mcf->entries[0]);
    assert_int_equal(names->argc, 2);
    assert_string_equal(names->argv[0], "smtpd_banner");
    argv_free(names);
    names = mastercf_option_names(mcf);
    assert_int_equal(names->argc, 3);
    assert_string_equal(names->argv[2], "a");
    argv_free(names);
    names = mastercf_option_values(mcf);
    assert_string_equal(names->argv[0], "$myhostname hi");
    assert_string_equal(names->argv[2], "2");
    argv_free(names);
    names = mastercf_service_names(mcf);
    assert_int_equal(names->argc, 3);
    assert_string_equal(names->argv[1], "b");
    argv_free(names);
    assert_int_equal(mastercf_field_index("process_limit"), MASTERCF_MAXPROC);
    assert_int_equal(mastercf_field_index("unprivileged"), MASTERCF_UNPRIV);
    assert_int_equal(mastercf_field_index("maxproc"), -1);
    mastercf_free(mcf);
}

/* ---- errors and warnings ------------------------------------------------ */

static void test_errors(void **state)
{
    static const struct {
        const char *text;
        int flags;
        const char *want;
    } cases[] = {
        {"a unix - - - - - cmd\nb bogus - - - - - cmd\n", 0,
         "file " PATH
         ": line 2: invalid type field \"bogus\" in \"b bogus - - - - - cmd\""},
        {"a UNIX - - - - - cmd\n", 0,
         "file " PATH
         ": line 1: invalid type field \"UNIX\" in \"a UNIX - - - - - cmd\""},
        {"a unix x - - - - cmd\n", 0,
         "file " PATH
         ": line 1: invalid private field \"x\" in \"a unix x - - - - cmd\""},
        {"a unix - yes - - - cmd\n", 0,
         "file " PATH
         ": line 1: invalid unprivileged field \"yes\" in \"a unix - yes - - - cmd\""},
        {"a unix - - N - - cmd\n", 0,
         "file " PATH
         ": line 1: invalid chroot field \"N\" in \"a unix - - N - - cmd\""},
        {"a unix - - - 1x - cmd\n", 0,
         "file " PATH
         ": line 1: invalid wakeup field \"1x\" in \"a unix - - - 1x - cmd\""},
        {"a unix - - - 10?? - cmd\n", 0,
         "file " PATH
         ": line 1: invalid wakeup field \"10??\" in \"a unix - - - 10?? - cmd\""},
        {"a unix - - - -1 - cmd\n", 0,
         "file " PATH
         ": line 1: invalid wakeup field \"-1\" in \"a unix - - - -1 - cmd\""},
        {"a unix - - - +5 - cmd\n", 0,
         "file " PATH
         ": line 1: invalid wakeup field \"+5\" in \"a unix - - - +5 - cmd\""},
        {"a unix - - - - x cmd\n", 0,
         "file " PATH
         ": line 1: invalid process_limit field \"x\" in \"a unix - - - - x cmd\""},
        {"a unix - - - - -1 cmd\n", 0,
         "file " PATH
         ": line 1: invalid process_limit field \"-1\" in \"a unix - - - - -1 cmd\""},
        /* The quoted line is the logical line, controls shown as '?'. */
        {"# c\na   \tbogus  - - - - - cmd\n  x y\n", 0,
         "file " PATH
         ": line 2: invalid type field \"bogus\" in \"a   ?bogus  - - - - - cmd  x y\""},
        {"a unix - - - - -\n", 0, "file " PATH ": line 1: bad field count"},
        {"a unix\n", 0, "file " PATH ": line 1: bad field count"},
        {"\n\na\n", 0, "file " PATH ": line 3: bad field count"},
        /* Only master (MASTERCF_STRICT) refuses these. */
        {"a unix - - - - - x\na unix - - - - - y\n", MASTERCF_STRICT,
         "file " PATH
         ": line 2: duplicate service \"a/unix\" (first defined at line 1)"},
        {"foo: inet - - - - - x\n", MASTERCF_STRICT,
         "file " PATH ": line 1: invalid inet service \"foo:\": missing port"},
        {":25 inet - - - - - x\n", MASTERCF_STRICT,
         "file " PATH
         ": line 1: invalid inet service \":25\": missing host before ':'"},
        {"a:b:25 inet - - - - - x\n", MASTERCF_STRICT,
         "file " PATH
         ": line 1: invalid inet service \"a:b:25\": an IPv6 address must be written as [address]:port"},
        {"[::1 inet - - - - - x\n", MASTERCF_STRICT,
         "file " PATH ": line 1: invalid inet service \"[::1\": missing ']'"},
        {"[::1] inet - - - - - x\n", MASTERCF_STRICT,
         "file " PATH
         ": line 1: invalid inet service \"[::1]\": expected ':port' after ']'"},
        {"[]:25 inet - - - - - x\n", MASTERCF_STRICT,
         "file " PATH
         ": line 1: invalid inet service \"[]:25\": empty address in []"},
        {"1.2.3.4:99999 inet - - - - - x\n", MASTERCF_STRICT,
         "file " PATH
         ": line 1: invalid inet service \"1.2.3.4:99999\": bad port"},
        {"h:sm/tp inet - - - - - x\n", MASTERCF_STRICT,
         "file " PATH ": line 1: invalid inet service \"h:sm/tp\": bad port"},
        {"a unix - - - - 99999999999 x\n", MASTERCF_STRICT,
         "file " PATH
         ": line 1: invalid process_limit field \"99999999999\" in \"a unix - - - - 99999999999 x\""},
        {"a unix - - - 99999999999 - x\n", MASTERCF_STRICT,
         "file " PATH
         ": line 1: invalid wakeup field \"99999999999\" in \"a unix - - - 99999999999 - x\""},
        {"a unix - - - - - x -o {a = b\n", MASTERCF_STRICT,
         "file " PATH ": line 1: missing '}' in \"{a = b\""},
        {"a unix - - - - - x{y z\n", MASTERCF_STRICT,
         "file " PATH ": line 1: missing '}' in \"x{y z\""},
        {"a unix - - - - - x -o name\n", MASTERCF_STRICT,
         "file " PATH ": line 1: missing '=' after attribute name: \"name\""},
        {"a unix - - - - - x -o =v\n", MASTERCF_STRICT,
         "file " PATH ": line 1: missing attribute name: \"=v\""},
        {"a unix - - - - - x -o\n", MASTERCF_STRICT,
         "file " PATH ": line 1: option requires an argument -- 'o'"},
        {"# x\n  a unix - - - - - x\n", MASTERCF_STRICT,
         "file " PATH
         ": line 2: logical line must not start with whitespace: \"  a unix - - - - - x\""},
        {NULL, 0, NULL},
    };
    struct buf *err = buf_new(128);
    size_t i;

    (void) state;
    for (i = 0; cases[i].text; i++) {
        struct argv *warnings = argv_new(4);
        struct mastercf *mcf;

        buf_reset(err);
        mcf = parse(cases[i].text, cases[i].flags, warnings, err);
        if (mcf != NULL)
            fail_msg("case %zu: no error, want %s", i, cases[i].want);
        assert_string_equal(buf_str(err), cases[i].want);
        argv_free(warnings);
        /* Without STRICT, the S-class cases parse (silently or with a warning).
         */
        if (cases[i].flags & MASTERCF_STRICT) {
            warnings = argv_new(4);
            mcf = parse(cases[i].text, 0, warnings, err);
            assert_non_null(mcf);
            mastercf_free(mcf);
            argv_free(warnings);
        }
    }
    buf_free(err);
    /* An unreadable file. */
    {
        struct mastercf *mcf;

        err = buf_new(64);
        mcf = mastercf_read("/nonexistent/master.cf", 0, NULL, err);
        assert_null(mcf);
        assert_string_equal(
            buf_str(err),
            "open /nonexistent/master.cf: No such file or directory");
        buf_free(err);
    }
}

static void test_warnings(void **state)
{
    static const struct {
        const char *text;
        const char *want; /* warnings joined by '\n' */
    } cases[] = {
        {"a unix - - - - - cmd -o {mail_name=a b\n  -o x=y\n",
         "file " PATH ": line 1: missing '}' in \"{mail_name=a b  -o x=y\""},
        {"a unix - - - - - cmd -o {a b = c} -o { = x } -o {x} -o{\n",
         "file " PATH
         ": line 1: missing '=' after attribute name: \"a b = c\"\n"
         "file " PATH ": line 1: missing attribute name: \"= x\"\n"
         "file " PATH ": line 1: missing '=' after attribute name: \"x\"\n"
         "file " PATH ": line 1: missing '}' in \"{\"\n"
         "file " PATH ": line 1: missing attribute name: \"\""},
        {"\n\na unix - - - - - cmd -o {mail_name=b c}x {a b}c\n",
         "file " PATH
         ": line 3: syntax error after '}' in \"{mail_name=b c}x\"\n"
         "file " PATH ": line 3: syntax error after '}' in \"{a b}c\""},
        {"# c\n  a unix - - - - - cmd\nb unix - - - - - cmd\n",
         "file " PATH
         ": line 2: logical line must not start with whitespace: \"  a unix - - - - - cmd\""},
        /* Silent without STRICT, as in Postfix's postconf. */
        {"a unix - - - - - x\na unix - - - - - y\nfoo: inet - - - - - x -o x -o\n",
         ""},
        {NULL, NULL},
    };
    struct buf *err = buf_new(64);
    struct buf *got = buf_new(256);
    size_t i, j;

    (void) state;
    for (i = 0; cases[i].text; i++) {
        struct argv *warnings = argv_new(4);
        struct mastercf *mcf = parse(cases[i].text, 0, warnings, err);

        assert_non_null(mcf);
        buf_reset(got);
        for (j = 0; j < warnings->argc; j++)
            buf_printf(got, "%s%s", j ? "\n" : "", warnings->argv[j]);
        assert_string_equal(buf_str(got), cases[i].want);
        argv_free(warnings);
        mastercf_free(mcf);
    }
    buf_free(err);
    buf_free(got);
}

/* ---- rendering ------------------------------------------------------------
 */

static void test_render(void **state)
{
    static const struct {
        const char *line;
        int flags;
        const char *want;
    } cases[] = {
        {"smtp inet n - y - - smtpd", 0,
         "smtp       inet  n       -       y       -       -       smtpd"},
        {"tlsmgr unix - - y 1000? 1 tlsmgr", 0,
         "tlsmgr     unix  -       -       y       1000?   1       tlsmgr"},
        /* A wide column pushes the next ones; one space at least. */
        {"postlog unix-dgram n - n - 1 postlogd", 0,
         "postlog    unix-dgram n  -       n       -       1       postlogd"},
        {"scalemail-backend unix - n n - 2 pipe flags=R", 0,
         "scalemail-backend unix - n       n       -       2       pipe flags=R"},
        {"127.0.0.1:10025 inet n - n - - smtpd", 0,
         "127.0.0.1:10025 inet n   -       n       -       -       smtpd"},
        {"[::1]:10026 inet n - n - - smtpd", 0,
         "[::1]:10026 inet n       -       n       -       -       smtpd"},
        /* -o forms are normalized; braces only where needed. */
        {"a unix - - - - - cmd -o { smtpd_tls_security_level = encrypt } -oname=v -o {x = a, b}",
         0,
         "a          unix  -       -       -       -       -       cmd -o smtpd_tls_security_level=encrypt -o name=v -o {x=a, b}"},
        {"a unix - - - - - cmd -vo a=1 -ovb=2 x { a b c } {c}", 0,
         "a          unix  -       -       -       -       -       cmd -v -o a=1 -o vb=2 x {a b c} c"},
        {"a unix - - - - - cmd {} -o {}", 0,
         "a          unix  -       -       -       -       -       cmd {} -o {}"},
        /* Folded: every -o on its own line, and the word after it. */
        {"relay unix - - y - - smtp -o syslog_name=postfix/$service_name",
         MASTERCF_FOLD,
         "relay      unix  -       -       y       -       -       smtp\n"
         "    -o syslog_name=postfix/$service_name"},
        {"a unix - - - - - cmd -v -x -o mail_name=1 - x", MASTERCF_FOLD,
         "a          unix  -       -       -       -       -       cmd -v -x\n"
         "    -o mail_name=1\n"
         "    - x"},
        /* Words wrap before column 80 (a line of 79 stays). */
        {"a unix - - - - - cmd 123456789012345678", MASTERCF_FOLD,
         "a          unix  -       -       -       -       -       cmd 123456789012345678"},
        {"a unix - - - - - cmd 1234567890123456789", MASTERCF_FOLD,
         "a          unix  -       -       -       -       -       cmd\n"
         "    1234567890123456789"},
        {"maildrop unix - n n - - pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}",
         MASTERCF_FOLD,
         "maildrop   unix  -       n       n       -       -       pipe flags=DRXhu\n"
         "    user=vmail argv=/usr/bin/maildrop -d ${recipient}"},
        /* The braces Postfix adds do not count for the fold. */
        {"a unix - - - - - cmd a{b c}d {x {y z} w} z", MASTERCF_FOLD,
         "a          unix  -       -       -       -       -       cmd a{b c}d {x {y z} w}\n"
         "    z"},
        {NULL, 0, NULL},
    };
    struct buf *out = buf_new(256);
    size_t i;

    (void) state;
    for (i = 0; cases[i].line; i++) {
        struct mastercf *mcf = parse_ok(cases[i].line);

        buf_reset(out);
        mastercf_render(mcf->entries[0], cases[i].flags, out);
        assert_string_equal(buf_str(out), cases[i].want);
        /* What is rendered parses back to the same thing. */
        {
            struct buf *err = buf_new(64);
            struct mastercf_entry *again =
                mastercf_entry_parse(buf_str(out), 0, NULL, err);
            struct buf *out2 = buf_new(256);

            assert_non_null(again);
            mastercf_render(again, cases[i].flags, out2);
            assert_string_equal(buf_str(out2), buf_str(out));
            mastercf_entry_free(again);
            buf_free(out2);
            buf_free(err);
        }
        mastercf_free(mcf);
    }
    /* The command alone, as postconf -F prints it. */
    {
        struct mastercf *mcf =
            parse_ok("a unix - - - - - cmd -o mail_name=1 -o smtpd_banner=x");

        buf_reset(out);
        mastercf_render_command(mcf->entries[0], MASTERCF_FOLD,
                                "a/unix/command = ", out);
        assert_string_equal(buf_str(out), "a/unix/command = cmd\n"
                                          "    -o mail_name=1\n"
                                          "    -o smtpd_banner=x");
        mastercf_free(mcf);
    }
    buf_free(out);
}

/* ---- editing ----------------------------------------------------------------
 */

static const char edit_base[] = "# head comment\n"
                                "a unix - - - - - cmd -o mail_name=1\n"
                                "  # inner comment\n"
                                "  -o smtpd_banner=x\n"
                                "\n"
                                "# between\n"
                                "b   unix - - - - - cmd2   \n"
                                "# tail\n";

enum edit_op {
    OP_NONE,
    OP_PUT,
    OP_REMOVE,
    OP_COMMENT,
    OP_FIELD,
    OP_PARAM,
    OP_UNPARAM
};

static void test_edits(void **state)
{
    static const struct {
        enum edit_op op;
        const char *key;  /* service/type */
        const char *arg1; /* entry text, field name or param name */
        const char *arg2; /* field or param value */
        const char *want;
    } cases[] = {
        {OP_NONE, "a/unix", NULL, NULL, edit_base},
        {OP_PUT, "a/unix", "a unix n - - - - newcmd -o mail_name=2", NULL,
         "# head comment\n"
         "a          unix  n       -       -       -       -       newcmd\n"
         "    -o mail_name=2\n"
         "  # inner comment\n"
         "\n"
         "# between\n"
         "b   unix - - - - - cmd2   \n"
         "# tail\n"},
        /* A new name/type goes at the end. */
        {OP_PUT, "c/inet", "c inet n - - - - newcmd   x", NULL,
         "# head comment\n"
         "a unix - - - - - cmd -o mail_name=1\n"
         "  # inner comment\n"
         "  -o smtpd_banner=x\n"
         "\n"
         "# between\n"
         "b   unix - - - - - cmd2   \n"
         "# tail\n"
         "c          inet  n       -       -       -       -       newcmd x\n"},
        /* a/unix=b...: a's place takes b's text, the old b goes. */
        {OP_PUT, "a/unix", "b unix - - - - - x", NULL,
         "# head comment\n"
         "b          unix  -       -       -       -       -       x\n"
         "  # inner comment\n"
         "\n"
         "# between\n"
         "# tail\n"},
        {OP_PUT, "x/unix", "b unix - - - - - x", NULL,
         "# head comment\n"
         "a unix - - - - - cmd -o mail_name=1\n"
         "  # inner comment\n"
         "  -o smtpd_banner=x\n"
         "\n"
         "# between\n"
         "b          unix  -       -       -       -       -       x\n"
         "# tail\n"},
        {OP_REMOVE, "a/unix", NULL, NULL,
         "# head comment\n"
         "  # inner comment\n"
         "\n"
         "# between\n"
         "b   unix - - - - - cmd2   \n"
         "# tail\n"},
        {OP_COMMENT, "a/unix", NULL, NULL,
         "# head comment\n"
         "#a unix - - - - - cmd -o mail_name=1\n"
         "  # inner comment\n"
         "#  -o smtpd_banner=x\n"
         "\n"
         "# between\n"
         "b   unix - - - - - cmd2   \n"
         "# tail\n"},
        {OP_FIELD, "b/unix", "private", "n",
         "# head comment\n"
         "a unix - - - - - cmd -o mail_name=1\n"
         "  # inner comment\n"
         "  -o smtpd_banner=x\n"
         "\n"
         "# between\n"
         "b          unix  n       -       -       -       -       cmd2\n"
         "# tail\n"},
        /* Setting a field to what it is changes nothing. */
        {OP_FIELD, "b/unix", "private", "-", edit_base},
        {OP_FIELD, "a/unix", "command", "smtpd -o x=y  foo",
         "# head comment\n"
         "a          unix  -       -       -       -       -       smtpd\n"
         "    -o x=y\n"
         "    foo\n"
         "  # inner comment\n"
         "\n"
         "# between\n"
         "b   unix - - - - - cmd2   \n"
         "# tail\n"},
        {OP_PARAM, "a/unix", "mail_name", "2",
         "# head comment\n"
         "a          unix  -       -       -       -       -       cmd\n"
         "    -o mail_name=2\n"
         "    -o smtpd_banner=x\n"
         "  # inner comment\n"
         "\n"
         "# between\n"
         "b   unix - - - - - cmd2   \n"
         "# tail\n"},
        {OP_PARAM, "b/unix", "new_param", "x",
         "# head comment\n"
         "a unix - - - - - cmd -o mail_name=1\n"
         "  # inner comment\n"
         "  -o smtpd_banner=x\n"
         "\n"
         "# between\n"
         "b          unix  -       -       -       -       -       cmd2\n"
         "    -o new_param=x\n"
         "# tail\n"},
        {OP_PARAM, "a/unix", "mail_name", "1", edit_base},
        {OP_UNPARAM, "a/unix", "mail_name", NULL,
         "# head comment\n"
         "a          unix  -       -       -       -       -       cmd\n"
         "    -o smtpd_banner=x\n"
         "  # inner comment\n"
         "\n"
         "# between\n"
         "b   unix - - - - - cmd2   \n"
         "# tail\n"},
        {OP_UNPARAM, "a/unix", "nosuch", NULL, edit_base},
        {OP_NONE, NULL, NULL, NULL, NULL},
    };
    size_t i;

    (void) state;
    for (i = 0; cases[i].want; i++) {
        struct mastercf *mcf = parse_ok(edit_base);
        struct mastercf_entry *e = mastercf_find(mcf, cases[i].key);
        struct buf *err = buf_new(64);
        char *got;

        switch (cases[i].op) {
        case OP_NONE:
            break;
        case OP_PUT: {
            struct mastercf_entry *n =
                mastercf_entry_parse(cases[i].arg1, 0, NULL, err);
            char *slash = strchr(cases[i].key, '/');
            char *service =
                mem_strndup(cases[i].key, (size_t) (slash - cases[i].key));

            assert_non_null(n);
            mastercf_put(mcf, service, slash + 1, n);
            mem_free(service);
        } break;
        case OP_REMOVE:
            mastercf_remove(mcf, e);
            break;
        case OP_COMMENT:
            mastercf_comment_out(mcf, e);
            break;
        case OP_FIELD:
            assert_int_equal(
                mastercf_set_field(mcf, e, mastercf_field_index(cases[i].arg1),
                                   cases[i].arg2, 0, err),
                0);
            break;
        case OP_PARAM:
            mastercf_set_param(mcf, e, cases[i].arg1, cases[i].arg2);
            break;
        case OP_UNPARAM:
            mastercf_remove_param(mcf, e, cases[i].arg1);
            break;
        }
        got = write_out(mcf);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("edit case %zu:\n--- got\n%s--- want\n%s", i, got,
                     cases[i].want);
        free(got);
        buf_free(err);
        mastercf_free(mcf);
    }
}

static void test_edit_bytes_kept(void **state)
{
    /* CRLF, tabs, trailing blanks and no final newline survive an edit. */
    static const char text[] = "a unix - - - - - cmd\r\n"
                               " -o mail_name=1\r\n"
                               "#\tc  \r\n"
                               "b unix - - - - - x";
    struct mastercf *mcf = parse_ok(text);
    char *got;

    (void) state;
    mastercf_put(mcf, "c", "unix",
                 mastercf_entry_parse("c unix - - - - - y", 0, NULL, NULL));
    got = write_out(mcf);
    assert_string_equal(
        got, "a unix - - - - - cmd\r\n"
             " -o mail_name=1\r\n"
             "#\tc  \r\n"
             "b unix - - - - - x\n"
             "c          unix  -       -       -       -       -       y\n");
    free(got);
    mastercf_remove(mcf, mastercf_find(mcf, "a/unix"));
    mastercf_remove(mcf, mastercf_find(mcf, "c/unix"));
    got = write_out(mcf);
    assert_string_equal(got, "#\tc  \r\nb unix - - - - - x");
    free(got);
    mastercf_free(mcf);
}

static void test_set_field_errors(void **state)
{
    static const struct {
        const char *field;
        const char *value;
        const char *want;
    } cases[] = {
        {"private", "yes", "invalid private field \"yes\" in \"yes\""},
        {"unprivileged", "", "invalid unprivileged field \"\" in \"\""},
        {"type", "bogus", "invalid type field \"bogus\" in \"bogus\""},
        {"wakeup", "10??", "invalid wakeup field \"10??\" in \"10??\""},
        {"process_limit", "x", "invalid process_limit field \"x\" in \"x\""},
        {"service", "a b", "invalid service field \"a b\" in \"a b\""},
        {"command", "  ", "invalid command field \"  \" in \"  \""},
        {NULL, NULL, NULL},
    };
    struct mastercf *mcf = parse_ok(edit_base);
    struct mastercf_entry *e = mastercf_find(mcf, "a/unix");
    struct buf *err = buf_new(64);
    char *got;
    size_t i;

    (void) state;
    for (i = 0; cases[i].field; i++) {
        buf_reset(err);
        assert_int_equal(
            mastercf_set_field(mcf, e, mastercf_field_index(cases[i].field),
                               cases[i].value, 0, err),
            -1);
        assert_string_equal(buf_str(err), cases[i].want);
    }
    /* Nothing changed. */
    got = write_out(mcf);
    assert_string_equal(got, edit_base);
    free(got);
    /* A strict check of a new inet name. */
    assert_int_equal(mastercf_set_field(mcf, e, MASTERCF_TYPE, "inet", 0, err),
                     0);
    assert_string_equal(e->inet_port, "a");
    assert_int_equal(mastercf_set_field(mcf, e, MASTERCF_SERVICE,
                                        "foo:", MASTERCF_STRICT, err),
                     -1);
    assert_string_equal(buf_str(err),
                        "invalid inet service \"foo:\": missing port");
    assert_int_equal(mastercf_set_field(mcf, e, MASTERCF_SERVICE, "[::1]:2525",
                                        MASTERCF_STRICT, err),
                     0);
    assert_string_equal(e->inet_host, "::1");
    assert_string_equal(e->inet_port, "2525");
    buf_free(err);
    mastercf_free(mcf);
}

static void test_entry_parse(void **state)
{
    struct buf *err = buf_new(64);
    struct mastercf_entry *e;

    (void) state;
    /* Written back, such an entry would be a comment. */
    assert_null(mastercf_entry_parse("#x unix - - - - - y", 0, NULL, err));
    assert_string_equal(
        buf_str(err),
        "invalid service field \"#x\" in \"#x unix - - - - - y\"");
    assert_null(mastercf_entry_parse("a unix", 0, NULL, err));
    assert_string_equal(buf_str(err), MASTERCF_MSG_FIELD_COUNT);
    /* Line breaks from a command line are white space. */
    e = mastercf_entry_parse("a unix - - - - - cmd\n -o {x = a\nb}", 0, NULL,
                             err);
    assert_non_null(e);
    assert_string_equal(mastercf_param(e, "x"), "a b");
    mastercf_entry_free(e);
    buf_free(err);
}

static void test_save(void **state)
{
    char dir[] = "/tmp/postern-test-mastercf.XXXXXX";
    struct buf *path = buf_new(64);
    struct buf *err = buf_new(64);
    struct mastercf *mcf;
    FILE *fp;
    char back[512];
    size_t n;

    (void) state;
    assert_non_null(mkdtemp(dir));
    buf_printf(path, "%s/master.cf", dir);
    fp = fopen(buf_str(path), "w");
    assert_non_null(fp);
    fputs(edit_base, fp);
    fclose(fp);
    mcf = mastercf_read(buf_str(path), 0, NULL, err);
    assert_non_null(mcf);
    mastercf_remove(mcf, mastercf_find(mcf, "b/unix"));
    assert_int_equal(mastercf_save(mcf, err), 0);
    mastercf_free(mcf);
    fp = fopen(buf_str(path), "r");
    assert_non_null(fp);
    n = fread(back, 1, sizeof(back) - 1, fp);
    back[n] = 0;
    fclose(fp);
    assert_string_equal(back, "# head comment\n"
                              "a unix - - - - - cmd -o mail_name=1\n"
                              "  # inner comment\n"
                              "  -o smtpd_banner=x\n"
                              "\n"
                              "# between\n"
                              "# tail\n");
    mcf = mastercf_load_quiet(dir);
    assert_non_null(mcf);
    assert_int_equal(mcf->count, 1);
    mastercf_free(mcf);
    unlink(buf_str(path));
    assert_null(mastercf_load_quiet(dir));
    rmdir(dir);
    buf_free(path);
    buf_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_inet_names),
        cmocka_unit_test(test_continuation_and_comments),
        cmocka_unit_test(test_empty_files),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_exec_argv_and_names),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_edits),
        cmocka_unit_test(test_edit_bytes_kept),
        cmocka_unit_test(test_set_field_errors),
        cmocka_unit_test(test_entry_parse),
        cmocka_unit_test(test_save),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
