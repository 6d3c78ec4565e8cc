/*
 * test_cidr.c - unit tests for lib/cidr.c and lib/mynetworks.c.
 *
 * Table-driven: each case prints "got X, want Y" when it fails and the
 * test fails at the end, so one run shows every broken case.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "cidr.h"
#include "mynetworks.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static int failures;

static void check_str(const char *what, const char *input, const char *got,
                      const char *want)
{
    if (strcmp(got, want) != 0) {
        print_error("%s(\"%s\"): got \"%s\", want \"%s\"\n", what, input, got,
                    want);
        failures++;
    }
}

static void check_int(const char *what, const char *input, long got, long want)
{
    if (got != want) {
        print_error("%s(\"%s\"): got %ld, want %ld\n", what, input, got, want);
        failures++;
    }
}

/* ---- addresses ---------------------------------------------------------- */

static const struct {
    const char *text;
    int ret;
    int family;
    const char *formatted; /* inet_ntop text when ret == CIDR_OK */
} addr_cases[] = {
    {"192.0.2.1", CIDR_OK, CIDR_INET4, "192.0.2.1"},
    {"0.0.0.0", CIDR_OK, CIDR_INET4, "0.0.0.0"},
    {"255.255.255.255", CIDR_OK, CIDR_INET4, "255.255.255.255"},
    {"256.1.1.1", CIDR_ERR_SYNTAX, 0, NULL},
    {"1.2.3", CIDR_ERR_SYNTAX, 0, NULL},
    {"1.2.3.4.5", CIDR_ERR_SYNTAX, 0, NULL},
    {"01.2.3.4", CIDR_ERR_SYNTAX, 0, NULL},
    {"1.2.3.04", CIDR_ERR_SYNTAX, 0, NULL},
    {"1.2.3.4 ", CIDR_ERR_SYNTAX, 0, NULL},
    {" 1.2.3.4", CIDR_ERR_SYNTAX, 0, NULL},
    {"", CIDR_ERR_SYNTAX, 0, NULL},
    {"1..2.3", CIDR_ERR_SYNTAX, 0, NULL},
    {"1.2.3.4.", CIDR_ERR_SYNTAX, 0, NULL},
    {"1.2.3.-4", CIDR_ERR_SYNTAX, 0, NULL},
    {"1.2.3.1000", CIDR_ERR_SYNTAX, 0, NULL},
    {"::", CIDR_OK, CIDR_INET6, "::"},
    {"::1", CIDR_OK, CIDR_INET6, "::1"},
    {"2001:db8::1", CIDR_OK, CIDR_INET6, "2001:db8::1"},
    {"2001:DB8::1", CIDR_OK, CIDR_INET6, "2001:db8::1"},
    {"2001:0db8:0000:0000:0000:0000:0000:0001", CIDR_OK, CIDR_INET6,
     "2001:db8::1"},
    {"1:2:3:4:5:6:7:8", CIDR_OK, CIDR_INET6, "1:2:3:4:5:6:7:8"},
    {"1:2:3:4:5:6:7:8:9", CIDR_ERR_SYNTAX, 0, NULL},
    {"1:2:3:4:5:6:7", CIDR_ERR_SYNTAX, 0, NULL},
    {"1::2::3", CIDR_ERR_SYNTAX, 0, NULL},
    {":1::", CIDR_ERR_SYNTAX, 0, NULL},
    {":::", CIDR_ERR_SYNTAX, 0, NULL},
    {"1:", CIDR_ERR_SYNTAX, 0, NULL},
    {"1::", CIDR_OK, CIDR_INET6, "1::"},
    {"1:2:3:4:5:6:7::", CIDR_OK, CIDR_INET6, "1:2:3:4:5:6:7:0"},
    {"::1:2:3:4:5:6:7", CIDR_OK, CIDR_INET6, "0:1:2:3:4:5:6:7"},
    {"::1:2:3:4:5:6:7:8", CIDR_ERR_SYNTAX, 0, NULL},
    {"1:2:3:4:5:6:7:8::", CIDR_ERR_SYNTAX, 0, NULL},
    {"::ffff:192.0.2.1", CIDR_OK, CIDR_INET6, "::ffff:192.0.2.1"},
    {"::192.0.2.1", CIDR_OK, CIDR_INET6, "::192.0.2.1"},
    {"1:2:3:4:5:6:1.2.3.4", CIDR_OK, CIDR_INET6, "1:2:3:4:5:6:102:304"},
    {"1:2:3:4:5:6:7:1.2.3.4", CIDR_ERR_SYNTAX, 0, NULL},
    {"::1.2.3.4:5", CIDR_ERR_SYNTAX, 0, NULL},
    {"::01.2.3.4", CIDR_ERR_SYNTAX, 0, NULL},
    {"12345::", CIDR_ERR_SYNTAX, 0, NULL},
    {"fe80::1%eth0", CIDR_ERR_SYNTAX, 0, NULL},
    {"[::1]", CIDR_ERR_SYNTAX, 0, NULL},
    {"g::", CIDR_ERR_SYNTAX, 0, NULL},
    {"::1 ", CIDR_ERR_SYNTAX, 0, NULL},
};

static void test_addr_parse(void **state)
{
    struct buf *got = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(addr_cases); i++) {
        struct cidr_addr a;
        unsigned char ref[16];
        int ret =
            cidr_addr_parse(addr_cases[i].text, strlen(addr_cases[i].text), &a);
        int pton;

        check_int("cidr_addr_parse", addr_cases[i].text, ret,
                  addr_cases[i].ret);
        /* The parser must agree with the C library. */
        pton = inet_pton(strchr(addr_cases[i].text, ':') ? AF_INET6 : AF_INET,
                         addr_cases[i].text, ref);
        check_int("inet_pton agrees", addr_cases[i].text, pton == 1,
                  ret == CIDR_OK);
        if (ret != CIDR_OK || addr_cases[i].ret != CIDR_OK)
            continue;
        check_int("family", addr_cases[i].text, a.family, addr_cases[i].family);
        buf_reset(got);
        cidr_addr_format(&a, got);
        check_str("cidr_addr_format", addr_cases[i].text, buf_str(got),
                  addr_cases[i].formatted);
    }
    buf_free(got);
    assert_int_equal(failures, 0);
}

static void test_addr_unmap(void **state)
{
    struct cidr_addr a;
    struct buf *got = buf_new(64);

    (void) state;
    assert_int_equal(cidr_addr_parse("::ffff:10.1.2.3", 15, &a), CIDR_OK);
    assert_true(cidr_addr_is_v4mapped(&a));
    cidr_addr_unmap(&a);
    assert_int_equal(a.family, CIDR_INET4);
    cidr_addr_format(&a, got);
    assert_string_equal(buf_str(got), "10.1.2.3");
    assert_false(cidr_addr_is_v4mapped(&a));

    assert_int_equal(cidr_addr_parse("::10.1.2.3", 10, &a), CIDR_OK);
    assert_false(cidr_addr_is_v4mapped(&a));
    cidr_addr_unmap(&a);
    assert_int_equal(a.family, CIDR_INET6);
    buf_free(got);
}

/* Pointer plus length: bytes after LEN, NULs included, are not read. */
static void test_addr_parse_length(void **state)
{
    struct cidr_addr a;
    static const char text[] = "10.0.0.1\0garbage";

    (void) state;
    assert_int_equal(cidr_addr_parse(text, 8, &a), CIDR_OK);
    assert_int_equal(cidr_addr_parse(text, 9, &a), CIDR_ERR_SYNTAX);
    assert_int_equal(cidr_addr_parse("10.0.0.12", 8, &a), CIDR_OK);
    assert_int_equal(a.bytes[3], 1);
}

/* ---- networks ----------------------------------------------------------- */

static const struct {
    const char *text;
    int ret;
    const char *formatted; /* with brackets; also for HOSTBITS */
    const char *err;
} net_cases[] = {
    {"192.0.2.0/24", CIDR_OK, "192.0.2.0/24", NULL},
    {"192.0.2.1", CIDR_OK, "192.0.2.1/32", NULL},
    {"192.0.2.1/32", CIDR_OK, "192.0.2.1/32", NULL},
    {"192.0.2.1/24", CIDR_ERR_HOSTBITS, "192.0.2.0/24",
     "non-null host address bits"},
    {"1.2.3.128/25", CIDR_OK, "1.2.3.128/25", NULL},
    {"1.2.3.64/25", CIDR_ERR_HOSTBITS, "1.2.3.0/25",
     "non-null host address bits"},
    {"0.0.0.0/0", CIDR_OK, "0.0.0.0/0", NULL},
    {"10.0.0.0/8", CIDR_OK, "10.0.0.0/8", NULL},
    {"192.0.2.0/024", CIDR_OK, "192.0.2.0/24", NULL},
    {"192.0.2.0/33", CIDR_ERR_SYNTAX, NULL, "bad network mask length"},
    {"192.0.2.0/", CIDR_ERR_SYNTAX, NULL, "bad network mask length"},
    {"192.0.2.0/-1", CIDR_ERR_SYNTAX, NULL, "bad network mask length"},
    {"192.0.2.0/2x", CIDR_ERR_SYNTAX, NULL, "bad network mask length"},
    {"192.0.2.0/0024", CIDR_ERR_SYNTAX, NULL, "bad network mask length"},
    {"192.0.2/24", CIDR_ERR_SYNTAX, NULL, "bad address syntax"},
    {"example.com", CIDR_ERR_SYNTAX, NULL, "bad address syntax"},
    {"", CIDR_ERR_SYNTAX, NULL, "bad address syntax"},
    {"/24", CIDR_ERR_SYNTAX, NULL, "bad address syntax"},
    {"[2001:db8::]/32", CIDR_OK, "[2001:db8::]/32", NULL},
    {"2001:db8::/32", CIDR_OK, "[2001:db8::]/32", NULL},
    {"[::1]", CIDR_OK, "[::1]/128", NULL},
    {"[::1]/128", CIDR_OK, "[::1]/128", NULL},
    {"::/0", CIDR_OK, "[::]/0", NULL},
    {"[fe80::]/10", CIDR_OK, "[fe80::]/10", NULL},
    {"[2001:db8::1]/32", CIDR_ERR_HOSTBITS, "[2001:db8::]/32",
     "non-null host address bits"},
    {"[::1", CIDR_ERR_SYNTAX, NULL, "missing ']'"},
    {"[::1]x", CIDR_ERR_SYNTAX, NULL, "text after ']'"},
    {"[::1]/129", CIDR_ERR_SYNTAX, NULL, "bad network mask length"},
    {"[::1/128]", CIDR_ERR_SYNTAX, NULL, "bad address syntax"},
    {"[192.0.2.0]/24", CIDR_OK, "192.0.2.0/24", NULL},
    {"[::ffff:192.0.2.0]/120", CIDR_OK, "[::ffff:192.0.2.0]/120", NULL},
};

static void test_net_parse(void **state)
{
    struct buf *got = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(net_cases); i++) {
        struct cidr_net net;
        const char *err = "unset";
        int ret = cidr_net_parse(net_cases[i].text, strlen(net_cases[i].text),
                                 &net, &err);

        check_int("cidr_net_parse", net_cases[i].text, ret, net_cases[i].ret);
        if (ret != net_cases[i].ret)
            continue;
        if (net_cases[i].err != NULL)
            check_str("cidr_net_parse error", net_cases[i].text,
                      err ? err : "(null)", net_cases[i].err);
        else if (err != NULL)
            check_str("cidr_net_parse error", net_cases[i].text, err, "(null)");
        if (net_cases[i].formatted != NULL) {
            buf_reset(got);
            cidr_net_format(&net, got, 1);
            check_str("cidr_net_format", net_cases[i].text, buf_str(got),
                      net_cases[i].formatted);
        }
    }
    buf_free(got);
    assert_int_equal(failures, 0);
}

static void test_net_format_plain(void **state)
{
    struct cidr_net net;
    const char *err;
    struct buf *got = buf_new(64);

    (void) state;
    assert_int_equal(cidr_net_parse("[2001:db8::]/32", 15, &net, &err),
                     CIDR_OK);
    cidr_net_format(&net, got, 0);
    assert_string_equal(buf_str(got), "2001:db8::/32");
    buf_free(got);
}

static const struct {
    const char *net;
    const char *addr;
    int want;
} match_cases[] = {
    {"192.0.2.0/24", "192.0.2.200", 1},
    {"192.0.2.0/24", "192.0.2.0", 1},
    {"192.0.2.0/24", "192.0.3.1", 0},
    {"192.0.2.0/24", "::ffff:192.0.2.7", 1}, /* dual-stack socket */
    {"192.0.2.0/24", "::ffff:192.0.3.7", 0},
    {"192.0.2.0/24", "::192.0.2.7", 0}, /* compatible, not mapped */
    {"192.0.2.0/24", "2001:db8::1", 0},
    {"2001:db8::/32", "2001:db8:1::5", 1},
    {"2001:db8::/32", "2001:db9::", 0},
    {"2001:db8::/32", "192.0.2.1", 0},
    {"::ffff:0:0/96", "192.0.2.1", 0}, /* v4 never in v6 nets */
    {"::ffff:0:0/96", "::ffff:192.0.2.1", 1},
    {"0.0.0.0/0", "1.2.3.4", 1},
    {"0.0.0.0/0", "::ffff:1.2.3.4", 1},
    {"0.0.0.0/0", "::1", 0},
    {"::/0", "::1", 1},
    {"::/0", "1.2.3.4", 0},
    {"10.0.0.0/9", "10.127.255.255", 1},
    {"10.0.0.0/9", "10.128.0.0", 0},
    {"fe80::/10", "febf::1", 1},
    {"fe80::/10", "fec0::1", 0},
    {"192.0.2.1", "192.0.2.1", 1},
    {"192.0.2.1", "192.0.2.2", 0},
    {"::1", "::1", 1},
    {"::1", "::2", 0},
};

static void test_net_match(void **state)
{
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(match_cases); i++) {
        struct cidr_net net;
        struct cidr_addr a;
        const char *err;
        char label[128];

        assert_int_equal(cidr_net_parse(match_cases[i].net,
                                        strlen(match_cases[i].net), &net, &err),
                         CIDR_OK);
        assert_int_equal(cidr_addr_parse(match_cases[i].addr,
                                         strlen(match_cases[i].addr), &a),
                         CIDR_OK);
        snprintf(label, sizeof(label), "%s in %s", match_cases[i].addr,
                 match_cases[i].net);
        check_int("cidr_net_match", label, cidr_net_match(&net, &a),
                  match_cases[i].want);
    }
    assert_int_equal(failures, 0);
}

static void test_net_mask(void **state)
{
    struct cidr_net net;
    struct buf *got = buf_new(64);

    (void) state;
    memset(&net, 0, sizeof(net));
    assert_int_equal(cidr_addr_parse("172.16.5.4", 10, &net.addr), CIDR_OK);
    net.prefix = 12;
    assert_int_equal(cidr_net_mask(&net), 1);
    cidr_net_format(&net, got, 1);
    assert_string_equal(buf_str(got), "172.16.0.0/12");
    assert_int_equal(cidr_net_mask(&net), 0);
    buf_free(got);
}

/* ---- lists -------------------------------------------------------------- */

static char tmpdir[64];

static char *write_file(const char *name, const char *content)
{
    char *path = malloc(strlen(tmpdir) + strlen(name) + 2);
    FILE *fp;

    sprintf(path, "%s/%s", tmpdir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
    return path;
}

static int setup_dir(void **state)
{
    (void) state;
    strcpy(tmpdir, "/tmp/test_cidr.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int remove_dir(void **state)
{
    char cmd[128];

    (void) state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Parse TEXT as a match list, then check each "addr=0|1" in PROBES. */
static void check_list(const char *text, int mode, const char *probes)
{
    struct cidr_list *list = cidr_list_new(mode);
    struct argv *maps = argv_new(4);
    struct buf *err = buf_new(64);
    struct argv *want = argv_split(probes, " ");
    size_t i;

    if (cidr_list_parse(list, text, maps, NULL, err) != 0) {
        print_error("cidr_list_parse(\"%s\"): got error \"%s\", want 0\n", text,
                    buf_str(err));
        failures++;
    }
    for (i = 0; i < want->argc; i++) {
        char *eq = strchr(want->argv[i], '=');
        struct cidr_addr a;
        const struct cidr_entry *hit;
        char label[512];
        int got;

        assert_non_null(eq);
        assert_int_equal(
            cidr_addr_parse(want->argv[i], (size_t) (eq - want->argv[i]), &a),
            CIDR_OK);
        got = cidr_list_match(list, &a, &hit);
        snprintf(label, sizeof(label), "%.*s in %s", (int) (eq - want->argv[i]),
                 want->argv[i], text);
        check_int("cidr_list_match", label, got, atoi(eq + 1));
        check_int("hit set", label, hit != NULL, got);
    }
    argv_free(want);
    argv_free(maps);
    buf_free(err);
    cidr_list_free(list);
}

static void test_list_match(void **state)
{
    (void) state;
    failures = 0;
    check_list("127.0.0.0/8 [::1]/128, 10.0.0.0/8", CIDR_LIST_MATCH,
               "127.0.0.1=1 ::1=1 10.1.2.3=1 192.0.2.1=0 ::2=0 "
               "::ffff:127.0.0.1=1");
    check_list("  ,, 192.0.2.0/24\t,\n2001:db8::/32 ,", CIDR_LIST_MATCH,
               "192.0.2.9=1 2001:db8::9=1 10.0.0.1=0");
    /* First match wins; a negated match means "no". */
    check_list("!192.0.2.128/25 192.0.2.0/24", CIDR_LIST_MATCH,
               "192.0.2.200=0 192.0.2.1=1 10.0.0.1=0");
    check_list("192.0.2.0/24 !192.0.2.128/25", CIDR_LIST_MATCH,
               "192.0.2.200=1");
    check_list("!!192.0.2.0/24", CIDR_LIST_MATCH, "192.0.2.1=1");
    check_list("", CIDR_LIST_MATCH, "192.0.2.1=0 ::1=0");
    /* Table semantics: "!net" matches what is outside net. */
    check_list("!192.0.2.0/24", CIDR_LIST_TABLE,
               "10.0.0.1=1 192.0.2.1=0 ::1=1");
    check_list("192.0.2.0/24 !10.0.0.0/8", CIDR_LIST_TABLE,
               "192.0.2.1=1 10.0.0.1=0 172.16.0.1=1");
    assert_int_equal(failures, 0);
}

static void test_list_data(void **state)
{
    struct cidr_list *list = cidr_list_new(CIDR_LIST_TABLE);
    struct cidr_net net;
    struct cidr_addr a;
    const struct cidr_entry *hit;
    const char *err;
    static char first[] = "first", second[] = "second";
    size_t i;

    (void) state;
    assert_int_equal(cidr_net_parse("10.0.0.0/8", 10, &net, &err), CIDR_OK);
    cidr_list_add(list, &net, 0, first);
    assert_int_equal(cidr_net_parse("0.0.0.0/0", 9, &net, &err), CIDR_OK);
    cidr_list_add(list, &net, 0, second);
    /* Growing past the initial size keeps earlier entries. */
    for (i = 0; i < 100; i++)
        cidr_list_add(list, &net, 0, NULL);
    assert_int_equal(list->count, 102);
    assert_int_equal(cidr_addr_parse("10.9.9.9", 8, &a), CIDR_OK);
    assert_int_equal(cidr_list_match(list, &a, &hit), 1);
    assert_ptr_equal(hit->data, first);
    assert_int_equal(cidr_addr_parse("11.9.9.9", 8, &a), CIDR_OK);
    assert_int_equal(cidr_list_match(list, &a, &hit), 1);
    assert_ptr_equal(hit->data, second);
    assert_int_equal(cidr_list_match(list, &a, NULL), 1);
    cidr_list_free(list);
    cidr_list_free(NULL);
}

static void test_list_files(void **state)
{
    char *inner = write_file("inner", "# inner networks\n172.16.0.0/12\n");
    char *outer;
    char *text;
    char *loop;

    (void) state;
    failures = 0;
    outer = malloc(strlen(inner) + 200);
    sprintf(outer,
            "# comment line, 1.2.3.4 is not an entry\n"
            "10.0.0.0/8\n"
            "   # indented comment\n"
            "  192.0.2.0/24, [2001:db8::]/32 %s\n",
            inner);
    free(write_file("outer", outer));
    text = malloc(strlen(tmpdir) + 200);
    sprintf(text, "127.0.0.0/8 %s/outer", tmpdir);
    check_list(text, CIDR_LIST_MATCH,
               "127.0.0.1=1 10.1.1.1=1 192.0.2.1=1 2001:db8::1=1 "
               "172.20.0.1=1 1.2.3.4=0");
    /* "!/file" negates every entry of the file. */
    sprintf(text, "!%s/outer 0.0.0.0/0", tmpdir);
    check_list(text, CIDR_LIST_MATCH, "10.1.1.1=0 172.20.0.1=0 1.2.3.4=1");

    /* A file that names itself is stopped. */
    loop = malloc(strlen(tmpdir) + 20);
    sprintf(loop, "%s/loop", tmpdir);
    free(write_file("loop", loop));
    {
        struct cidr_list *list = cidr_list_new(CIDR_LIST_MATCH);
        struct buf *err = buf_new(64);
        char want[256];

        assert_int_equal(cidr_list_parse(list, loop, NULL, NULL, err), -1);
        snprintf(want, sizeof(want), "%s: files nested too deeply", loop);
        check_str("cidr_list_parse", loop, buf_str(err), want);
        cidr_list_free(list);
        buf_free(err);
    }
    free(loop);
    free(text);
    free(outer);
    free(inner);
    assert_int_equal(failures, 0);
}

static const struct {
    const char *text;
    int ret;
    const char *err;      /* for -1 */
    const char *maps;     /* joined with '|' */
    const char *warnings; /* joined with '|' */
    size_t count;         /* networks in the list */
} parse_cases[] = {
    {"hash:/etc/x 10.0.0.0/8, !cidr:/y", 0, "", "hash:/etc/x|!cidr:/y", "", 1},
    {"fe80::/10 [::1]", 0, "", "", "", 2},
    {"192.0.2.1/24 10.0.0.0/8", 0, "", "",
     "non-null host address bits in \"192.0.2.1/24\", skipping this rule", 1},
    {"10.0.0.0/8 foo", -1,
     "bad network/mask pattern: \"foo\" (bad address syntax)", "", "", 1},
    {"10.0.0.0/33", -1,
     "bad network/mask pattern: \"10.0.0.0/33\" (bad network mask length)", "",
     "", 0},
    {"!", -1, "bad network/mask pattern: \"!\" (bad address syntax)", "", "",
     0},
    {"/nonexistent/mynetworks", -1,
     "open /nonexistent/mynetworks: No such file or directory", "", "", 0},
};

static void join(struct buf *out, const struct argv *av)
{
    size_t i;

    buf_reset(out);
    for (i = 0; i < av->argc; i++) {
        if (i > 0)
            buf_putc(out, '|');
        buf_puts(out, av->argv[i]);
    }
}

static void test_list_parse(void **state)
{
    struct buf *got = buf_new(64);
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < NCASES(parse_cases); i++) {
        struct cidr_list *list = cidr_list_new(CIDR_LIST_MATCH);
        struct argv *maps = argv_new(4);
        struct argv *warnings = argv_new(4);
        struct buf *err = buf_new(64);
        const char *text = parse_cases[i].text;

        check_int("cidr_list_parse", text,
                  cidr_list_parse(list, text, maps, warnings, err),
                  parse_cases[i].ret);
        check_str("error", text, buf_str(err), parse_cases[i].err);
        join(got, maps);
        check_str("maps", text, buf_str(got), parse_cases[i].maps);
        join(got, warnings);
        check_str("warnings", text, buf_str(got), parse_cases[i].warnings);
        check_int("count", text, (long) list->count,
                  (long) parse_cases[i].count);
        cidr_list_free(list);
        argv_free(maps);
        argv_free(warnings);
        buf_free(err);
    }
    buf_free(got);
    assert_int_equal(failures, 0);
}

static void test_list_no_maps(void **state)
{
    struct cidr_list *list = cidr_list_new(CIDR_LIST_MATCH);
    struct buf *err = buf_new(64);

    (void) state;
    assert_int_equal(cidr_list_parse(list, "hash:/etc/x", NULL, NULL, err), -1);
    assert_string_equal(buf_str(err),
                        "bad network/mask pattern: "
                        "\"hash:/etc/x\" (lookup tables not allowed here)");
    cidr_list_free(list);
    buf_free(err);
}

/* ---- mynetworks --------------------------------------------------------- */

static struct mynetworks_if make_if(const char *addr, unsigned prefix)
{
    struct mynetworks_if ifc;

    memset(&ifc, 0, sizeof(ifc));
    assert_int_equal(cidr_addr_parse(addr, strlen(addr), &ifc.addr), CIDR_OK);
    ifc.prefix = prefix;
    return ifc;
}

static const struct {
    const char *style;
    const char *protocols;
    int ret;
    const char *want; /* the list, or the error */
} myn_cases[] = {
    {"host", "all", 0,
     "127.0.0.1/32 192.168.1.10/32 192.168.1.11/32 172.16.5.4/32 "
     "10.1.2.3/32 224.0.0.5/32 [::1]/128 [fe80::1]/128 "
     "[2001:db8:1:2::5]/128"},
    {"subnet", "all", 0,
     "127.0.0.0/8 192.168.1.0/24 172.16.0.0/12 10.0.0.0/8 224.0.0.5/32 "
     "[::1]/128 [fe80::]/64 [2001:db8:1:2::]/64"},
    {"class", "all", 0,
     "127.0.0.0/8 192.168.1.0/24 172.16.0.0/16 10.0.0.0/8 224.0.0.0/4 "
     "[::1]/128 [fe80::]/64 [2001:db8:1:2::]/64"},
    {"Subnet", "ipv4", 0,
     "127.0.0.0/8 192.168.1.0/24 172.16.0.0/12 10.0.0.0/8 224.0.0.5/32"},
    {"subnet", "ipv6", 0, "[::1]/128 [fe80::]/64 [2001:db8:1:2::]/64"},
    {"host", "ipv6, ipv4", 0,
     "127.0.0.1/32 192.168.1.10/32 192.168.1.11/32 172.16.5.4/32 "
     "10.1.2.3/32 224.0.0.5/32 [::1]/128 [fe80::1]/128 "
     "[2001:db8:1:2::5]/128"},
    {"bogus", "all", -1, "unknown mynetworks_style parameter value: bogus"},
    {"host", "ipv5", -1, "inet_protocols: unknown protocol: \"ipv5\""},
    {"host", " ", -1, "inet_protocols: no protocol given"},
};

static void test_mynetworks_list(void **state)
{
    struct mynetworks_if ifs[10];
    size_t n = 0;
    size_t i;

    (void) state;
    failures = 0;
    ifs[n++] = make_if("127.0.0.1", 8);
    ifs[n++] = make_if("::1", 128);
    ifs[n++] = make_if("192.168.1.10", 24);
    ifs[n++] = make_if("fe80::1", 64);
    ifs[n++] = make_if("192.168.1.11", 24); /* same subnet: listed once */
    ifs[n++] = make_if("2001:db8:1:2::5", 64);
    ifs[n++] = make_if("172.16.5.4", 12); /* class B */
    ifs[n++] = make_if("10.1.2.3", 8);
    ifs[n++] = make_if("224.0.0.5", 32); /* class D */
    for (i = 0; i < NCASES(myn_cases); i++) {
        struct buf *out = buf_new(64);
        struct buf *err = buf_new(64);
        char label[64];
        int ret;

        snprintf(label, sizeof(label), "%s, %s", myn_cases[i].style,
                 myn_cases[i].protocols);
        ret = mynetworks_from_list(myn_cases[i].style, myn_cases[i].protocols,
                                   ifs, n, out, err);
        check_int("mynetworks_from_list", label, ret, myn_cases[i].ret);
        check_str("mynetworks_from_list", label, buf_str(ret == 0 ? out : err),
                  myn_cases[i].want);
        buf_free(out);
        buf_free(err);
    }
    assert_int_equal(failures, 0);
}

/* The machine's own interfaces: loopback is there, and the text parses. */
static void test_mynetworks_compute(void **state)
{
    static const char *styles[] = {"host", "subnet", "class"};
    size_t i;

    (void) state;
    for (i = 0; i < 3; i++) {
        struct buf *out = buf_new(64);
        struct buf *err = buf_new(64);
        struct cidr_list *list = cidr_list_new(CIDR_LIST_MATCH);
        struct cidr_addr lo;

        assert_int_equal(mynetworks_compute(styles[i], "ipv4", out, err), 0);
        assert_int_equal(cidr_list_parse(list, buf_str(out), NULL, NULL, err),
                         0);
        assert_int_equal(cidr_addr_parse("127.0.0.1", 9, &lo), CIDR_OK);
        assert_int_equal(cidr_list_match(list, &lo, NULL), 1);
        assert_null(strchr(buf_str(out), '['));
        cidr_list_free(list);
        buf_free(out);
        buf_free(err);
    }
    {
        struct buf *out = buf_new(64);
        struct buf *err = buf_new(64);

        assert_int_equal(mynetworks_compute("nope", "all", out, err), -1);
        assert_string_equal(buf_str(err),
                            "unknown mynetworks_style parameter value: nope");
        buf_free(out);
        buf_free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse),
        cmocka_unit_test(test_addr_unmap),
        cmocka_unit_test(test_addr_parse_length),
        cmocka_unit_test(test_net_parse),
        cmocka_unit_test(test_net_format_plain),
        cmocka_unit_test(test_net_match),
        cmocka_unit_test(test_net_mask),
        cmocka_unit_test(test_list_match),
        cmocka_unit_test(test_list_data),
        cmocka_unit_test(test_list_files),
        cmocka_unit_test(test_list_parse),
        cmocka_unit_test(test_list_no_maps),
        cmocka_unit_test(test_mynetworks_list),
        cmocka_unit_test(test_mynetworks_compute),
    };

    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
