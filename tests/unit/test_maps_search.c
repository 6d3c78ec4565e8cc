/*
 * test_maps_search.c - unit tests for maps/maps.c (lists of tables) and
 * maps/maps_search.c (Postfix's documented search orders).
 *
 * Table-driven. An order case lists the keys a search must try, in order,
 * plus keys it must never try. The case is run once per position: a table
 * holding the keys from that position on (and the never-keys) must answer
 * with that key's value, and a table holding only the never-keys must
 * answer "not found". So every key is proved to come before the next, and
 * the never-keys are proved unused. Value cases check result rewriting
 * (extension propagation, "@otherdomain"); error cases check that an
 * ERR_TEMP/ERR_CONFIG stops a search. Tables are inline:, texthash:,
 * regexp:, cidr: and fail: maps. A failing case prints "got X, want Y"
 * and the test fails at the end, so one run shows every broken case.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dict.h"
#include "lookup.h"
#include "maps.h"
#include "maps_search.h"
#include "msg.h"
#include "params.h"

#define F  LOOKUP_FOUND
#define NF LOOKUP_NOTFOUND
#define ET LOOKUP_ERR_TEMP
#define EC LOOKUP_ERR_CONFIG

static int failures;

#define FAIL(...)                                                              \
    do {                                                                       \
        printf("FAIL: " __VA_ARGS__);                                          \
        printf("\n");                                                          \
        failures++;                                                            \
    } while (0)

enum search_kind { ACCESS_ADDR, ACCESS_HOST, ACCESS_IP, REWRITE, TRANSPORT };

static const char *kind_name(enum search_kind kind)
{
    static const char *const names[] = {"access_addr", "access_host",
                                        "access_ip", "rewrite", "transport"};

    return names[kind];
}

/* Settings a case runs with. */
struct setting {
    const char *delim;  /* recipient_delimiter */
    const char *parent; /* parent_domain_matches_subdomains */
};

static void apply(const struct setting *s)
{
    var_recipient_delimiter = s->delim;
    var_parent_domain_matches_subdomains = s->parent;
}

static enum lookup_status run_search(enum search_kind kind, struct maps *m,
                                     const char *query, const char *feature,
                                     int flags, struct buf *value)
{
    switch (kind) {
    case ACCESS_ADDR:
        return maps_search_access_addr(m, query, feature, value);
    case ACCESS_HOST:
        return maps_search_access_host(m, query, feature, value);
    case ACCESS_IP:
        return maps_search_access_ip(m, query, value);
    case REWRITE:
        return maps_search_rewrite(m, query, flags, value);
    case TRANSPORT:
        return maps_search_transport(m, query, value);
    }
    return LOOKUP_ERR_CONFIG;
}

/* ---- search orders ------------------------------------------------------ */

#define MAXKEYS 12

struct order_case {
    const char *what;
    enum search_kind kind;
    struct setting set;
    const char *query;
    const char *feature;
    int flags;
    const char *order[MAXKEYS]; /* NULL-terminated */
    const char *never[MAXKEYS]; /* NULL-terminated */
};

#define PARENT_ACCESS "debug_peer_list, smtpd_access_maps, relay_domains"
#define PARENT_NONE   "debug_peer_list relay_domains"
#define PARENT_TRANS  "transport_maps"

static const struct order_case order_cases[] = {
    {"access addr, delimiter, parent style",
     ACCESS_ADDR,
     {"+", PARENT_ACCESS},
     "user+foo@sub.example.com",
     "smtpd_access_maps",
     0,
     {"user+foo@sub.example.com", "user@sub.example.com", "sub.example.com",
      "example.com", "com", "user+foo@", "user@"},
     {".example.com", ".com", "@sub.example.com", "user+foo", "user",
      ".sub.example.com"}},
    {"access addr, delimiter, dot style",
     ACCESS_ADDR,
     {"+", PARENT_NONE},
     "user+foo@sub.example.com",
     "smtpd_access_maps",
     0,
     {"user+foo@sub.example.com", "user@sub.example.com", "sub.example.com",
      ".example.com", ".com", "user+foo@", "user@"},
     {"example.com", "com", "@sub.example.com", "user"}},
    {"access addr, no delimiter set",
     ACCESS_ADDR,
     {"", PARENT_ACCESS},
     "user+foo@example.com",
     "smtpd_access_maps",
     0,
     {"user+foo@example.com", "example.com", "com", "user+foo@"},
     {"user@example.com", "user@", ".com"}},
    {"access addr, no extension in the address",
     ACCESS_ADDR,
     {"+", PARENT_ACCESS},
     "user@example.com",
     "smtpd_access_maps",
     0,
     {"user@example.com", "example.com", "com", "user@"},
     {"user", "@example.com"}},
    {"access addr, several delimiters",
     ACCESS_ADDR,
     {"+-", PARENT_ACCESS},
     "user-foo@example.com",
     "smtpd_access_maps",
     0,
     {"user-foo@example.com", "user@example.com", "example.com", "com",
      "user-foo@", "user@"},
     {"user-foo"}},
    {"access addr, mailer-daemon is never split",
     ACCESS_ADDR,
     {"-", PARENT_ACCESS},
     "mailer-daemon@example.com",
     "smtpd_access_maps",
     0,
     {"mailer-daemon@example.com", "example.com", "com", "mailer-daemon@"},
     {"mailer@example.com", "mailer@"}},
    {"access addr, without a domain",
     ACCESS_ADDR,
     {"+", PARENT_ACCESS},
     "user+foo",
     "smtpd_access_maps",
     0,
     {"user+foo", "user"},
     {"user+foo@", "user@"}},
    {"access addr, null sender key",
     ACCESS_ADDR,
     {"+", PARENT_ACCESS},
     "<>",
     "smtpd_access_maps",
     0,
     {"<>"},
     {"<>@"}},
    {"access addr, domain literal",
     ACCESS_ADDR,
     {"+", PARENT_ACCESS},
     "user@[192.0.2.1]",
     "smtpd_access_maps",
     0,
     {"user@[192.0.2.1]", "[192.0.2.1]", "user@"},
     {"0.2.1]", ".0.2.1]", "2.1]"}},
    {"access addr, feature decides the style",
     ACCESS_ADDR,
     {"+", PARENT_ACCESS},
     "u@a.example.com",
     "check_other",
     0,
     {"u@a.example.com", "a.example.com", ".example.com", ".com", "u@"},
     {"example.com", "com"}},

    {"host, parent style",
     ACCESS_HOST,
     {"+", PARENT_ACCESS},
     "mx.a.example.com",
     "smtpd_access_maps",
     0,
     {"mx.a.example.com", "a.example.com", "example.com", "com"},
     {".a.example.com", ".example.com", ".com", "mx"}},
    {"host, dot style",
     ACCESS_HOST,
     {"+", PARENT_NONE},
     "mx.a.example.com",
     "smtpd_access_maps",
     0,
     {"mx.a.example.com", ".a.example.com", ".example.com", ".com"},
     {"a.example.com", "example.com", "com"}},
    {"host, single label",
     ACCESS_HOST,
     {"+", PARENT_ACCESS},
     "localhost",
     "smtpd_access_maps",
     0,
     {"localhost"},
     {".localhost"}},

    {"ipv4 prefixes",
     ACCESS_IP,
     {"+", PARENT_ACCESS},
     "192.0.2.10",
     NULL,
     0,
     {"192.0.2.10", "192.0.2", "192.0", "192"},
     {"192.0.2.", "0.2.10", "192.0.2.0"}},
    {"ipv6 prefixes",
     ACCESS_IP,
     {"+", PARENT_ACCESS},
     "2001:db8::1",
     NULL,
     0,
     {"2001:db8::1", "2001:db8:", "2001:db8", "2001"},
     {"2001:db8::"}},
    {"ipv6 full form",
     ACCESS_IP,
     {"+", PARENT_ACCESS},
     "2001:db8:1:2:3:4:5:6",
     NULL,
     0,
     {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5", "2001:db8:1:2:3:4",
      "2001:db8:1:2:3", "2001:db8:1:2", "2001:db8:1", "2001:db8", "2001"},
     {"2001:db8:1:2:3:4:5:"}},
    {"ipv6 loopback",
     ACCESS_IP,
     {"+", PARENT_ACCESS},
     "::1",
     NULL,
     0,
     {"::1", ":"},
     {"1"}},

    {"rewrite, local domain",
     REWRITE,
     {"+", PARENT_ACCESS},
     "user+foo@example.com",
     NULL,
     MAPS_SEARCH_LOCAL,
     {"user+foo@example.com", "user@example.com", "user+foo", "user",
      "@example.com"},
     {"example.com", "user@", "user+foo@", "com", ".example.com"}},
    {"rewrite, remote domain",
     REWRITE,
     {"+", PARENT_ACCESS},
     "user+foo@example.com",
     NULL,
     0,
     {"user+foo@example.com", "user@example.com", "@example.com"},
     {"user+foo", "user", "example.com"}},
    {"rewrite, no delimiter",
     REWRITE,
     {"", PARENT_ACCESS},
     "user+foo@example.com",
     NULL,
     MAPS_SEARCH_LOCAL,
     {"user+foo@example.com", "user+foo", "@example.com"},
     {"user@example.com", "user"}},
    {"rewrite, alias name",
     REWRITE,
     {"+", PARENT_ACCESS},
     "user+foo",
     NULL,
     MAPS_SEARCH_LOCAL,
     {"user+foo", "user"},
     {"@", "user@"}},
    {"rewrite, owner- is not split with '-'",
     REWRITE,
     {"-", PARENT_ACCESS},
     "owner-list@example.com",
     NULL,
     MAPS_SEARCH_LOCAL,
     {"owner-list@example.com", "owner-list", "@example.com"},
     {"owner@example.com", "owner"}},

    {"transport, dot style",
     TRANSPORT,
     {"+", PARENT_ACCESS},
     "user+foo@sub.example.com",
     NULL,
     0,
     {"user+foo@sub.example.com", "user@sub.example.com", "sub.example.com",
      ".example.com", ".com", "*"},
     {"example.com", "user@", "@sub.example.com"}},
    {"transport, parent style",
     TRANSPORT,
     {"+", PARENT_TRANS},
     "user@sub.example.com",
     NULL,
     0,
     {"user@sub.example.com", "sub.example.com", "example.com", "com", "*"},
     {".example.com", "user"}},
};

static size_t list_len(const char *const *list)
{
    size_t n = 0;

    while (n < MAXKEYS && list[n] != NULL)
        n++;
    return n;
}

/* inline:{ {k = v}, ... } with ORDER[from..] and NEVER, plus a filler. */
static void build_inline(struct buf *spec, const struct order_case *c,
                         size_t from)
{
    size_t i;

    buf_set(spec, "inline:{ {zz-filler = filler}");
    for (i = from; i < list_len(c->order); i++)
        buf_printf(spec, ", { %s = V%zu }", c->order[i], i);
    for (i = 0; i < list_len(c->never); i++)
        buf_printf(spec, ", { %s = NEVER }", c->never[i]);
    buf_puts(spec, " }");
}

static void test_orders(void **state)
{
    struct buf *spec = buf_new(256);
    struct buf *value = buf_new(64);
    struct buf *want = buf_new(16);
    size_t n;
    size_t i;

    (void) state;
    for (n = 0; n < sizeof(order_cases) / sizeof(order_cases[0]); n++) {
        const struct order_case *c = &order_cases[n];
        size_t count = list_len(c->order);

        apply(&c->set);
        for (i = 0; i <= count; i++) {
            struct maps *m;
            enum lookup_status st;

            build_inline(spec, c, i);
            m = maps_create("test", buf_str(spec), DICT_FOLD_FIX);
            st = run_search(c->kind, m, c->query, c->feature, c->flags, value);
            if (i < count) {
                buf_setf(want, "V%zu", i);
                if (st != F || strcmp(buf_str(value), buf_str(want)) != 0)
                    FAIL("%s (%s %s): step %zu: got %s \"%s\", want found "
                         "\"%s\" (key \"%s\") [%s]",
                         c->what, kind_name(c->kind), c->query, i,
                         lookup_status_name(st), buf_str(value), buf_str(want),
                         c->order[i], maps_error(m));
            } else if (st != NF) {
                FAIL("%s (%s %s): with only never-keys: got %s \"%s\", want "
                     "not found",
                     c->what, kind_name(c->kind), c->query,
                     lookup_status_name(st), buf_str(value));
            }
            maps_free(m);
        }
    }
    buf_free(spec);
    buf_free(value);
    buf_free(want);
}

/* ---- answers: result rewriting, case, pattern tables --------------------- */

struct value_case {
    const char *what;
    enum search_kind kind;
    struct setting set;
    const char *maps;
    const char *query;
    const char *feature;
    int flags;
    enum lookup_status want_st;
    const char *want;
};

#define P MAPS_SEARCH_PROPAGATE
#define L MAPS_SEARCH_LOCAL
#define S1                                                                     \
    {                                                                          \
        "+", PARENT_ACCESS                                                     \
    }

static const struct value_case value_cases[] = {
    /* Extension propagation. */
    {"bare match propagates", REWRITE, S1,
     "inline:{user@example.com=joe@x.org}", "user+foo@example.com", NULL, P, F,
     "joe+foo@x.org"},
    {"no propagation without the flag", REWRITE, S1,
     "inline:{user@example.com=joe@x.org}", "user+foo@example.com", NULL, 0, F,
     "joe@x.org"},
    {"full match keeps the result", REWRITE, S1,
     "inline:{user+foo@example.com=joe@x.org, user@example.com=no}",
     "user+foo@example.com", NULL, P, F, "joe@x.org"},
    {"@domain match does not propagate", REWRITE, S1,
     "inline:{@example.com=catch@x.org}", "user+foo@example.com", NULL, P | L,
     F, "catch@x.org"},
    {"every address gets the extension", REWRITE, S1,
     "inline:{ {user@example.com = a@x.org, b@y.org,c} }",
     "user+foo@example.com", NULL, P, F, "a+foo@x.org, b+foo@y.org, c+foo"},
    {"result without a domain", REWRITE, S1, "inline:{user@example.com=joe}",
     "user+foo@example.com", NULL, P, F, "joe+foo"},
    {"local part match propagates", REWRITE, S1, "inline:{user=joe@x.org}",
     "user+foo@example.com", NULL, P | L, F, "joe+foo@x.org"},
    {"local part needs a local domain", REWRITE, S1, "inline:{user=joe@x.org}",
     "user+foo@example.com", NULL, P, NF, ""},
    {"local full match", REWRITE, S1, "inline:{user+foo=joe@x.org, user=no}",
     "user+foo@example.com", NULL, P | L, F, "joe@x.org"},
    {"alias name", REWRITE, S1, "inline:{user=joe}", "user+foo", NULL, P | L, F,
     "joe+foo"},
    {"other delimiter is kept",
     REWRITE,
     {"+-", PARENT_ACCESS},
     "inline:{user@example.com=joe@x.org}",
     "user-foo@example.com",
     NULL,
     P,
     F,
     "joe-foo@x.org"},
    {"empty extension", REWRITE, S1, "inline:{user@example.com=joe@x.org}",
     "user+@example.com", NULL, P, F, "joe+@x.org"},
    {"quoted result", REWRITE, S1,
     "inline:{ {user@example.com = \"a b\"@x.org} }", "user+foo@example.com",
     NULL, P, F, "\"a b+foo\"@x.org"},
    {"quoted result kept when nothing changes", REWRITE, S1,
     "inline:{ {user@example.com = \"a b\"@x.org ,c} }", "user@example.com",
     NULL, P, F, "\"a b\"@x.org ,c"},
    /* "@otherdomain" results. */
    {"@other, bare match", REWRITE, S1, "inline:{user@example.com=@x.org}",
     "user+foo@example.com", NULL, 0, F, "user@x.org"},
    {"@other, bare match, propagate", REWRITE, S1,
     "inline:{user@example.com=@x.org}", "user+foo@example.com", NULL, P, F,
     "user+foo@x.org"},
    {"@other, full match", REWRITE, S1, "inline:{user+foo@example.com=@x.org}",
     "user+foo@example.com", NULL, 0, F, "user+foo@x.org"},
    {"@other, domain match", REWRITE, S1, "inline:{@example.com=@x.org}",
     "user+foo@example.com", NULL, P, F, "user+foo@x.org"},
    {"@other, first address only", REWRITE, S1,
     "inline:{ {@example.com = @x.org, @y.org} }", "user@example.com", NULL, P,
     F, "user@x.org, @y.org"},
    {"@other, quoted local part", REWRITE, S1, "inline:{@example.com=@x.org}",
     "john doe@example.com", NULL, 0, F, "\"john doe\"@x.org"},
    /* Case folding is the tables' job (DICT_FOLD_FIX). */
    {"folded key", ACCESS_ADDR, S1, "inline:{user@example.com=OK}",
     "USER@Example.COM", "smtpd_access_maps", 0, F, "OK"},
    {"folded domain", ACCESS_HOST, S1, "inline:{example.com=OK}",
     "MX.EXAMPLE.COM", "smtpd_access_maps", 0, F, "OK"},
    /* Pattern tables see the whole key only. */
    {"regexp whole address", ACCESS_ADDR, S1,
     "regexp:{ {/^user@example\\.com$/ FULL} }", "user@example.com",
     "smtpd_access_maps", 0, F, "FULL"},
    {"regexp not asked for the domain", ACCESS_ADDR, S1,
     "regexp:{ {/^example\\.com$/ DOMAIN} }", "user@example.com",
     "smtpd_access_maps", 0, NF, ""},
    {"regexp not asked for user@", ACCESS_ADDR, S1,
     "regexp:{ {/^user@$/ USER} }", "user@example.com", "smtpd_access_maps", 0,
     NF, ""},
    {"regexp not asked for the unextended address", ACCESS_ADDR, S1,
     "regexp:{ {/^user@example\\.com$/ BARE} }", "user+foo@example.com",
     "smtpd_access_maps", 0, NF, ""},
    {"regexp host name", ACCESS_HOST, S1, "regexp:{ {/^mx\\./ HOST} }",
     "mx.example.com", "smtpd_access_maps", 0, F, "HOST"},
    {"regexp not asked for parents", ACCESS_HOST, S1,
     "regexp:{ {/^example\\.com$/ PARENT} }", "mx.example.com",
     "smtpd_access_maps", 0, NF, ""},
    {"cidr whole address", ACCESS_IP, S1, "cidr:{ {192.0.2.0/24 NET} }",
     "192.0.2.10", NULL, 0, F, "NET"},
    {"regexp not asked for prefixes", ACCESS_IP, S1,
     "regexp:{ {/^192\\.0\\.2$/ PREFIX} }", "192.0.2.10", NULL, 0, NF, ""},
    {"regexp rewrite whole address", REWRITE, S1,
     "regexp:{ {/^user\\+foo@example\\.com$/ joe@x.org} }",
     "user+foo@example.com", NULL, P | L, F, "joe@x.org"},
    {"regexp not asked for the local part", REWRITE, S1,
     "regexp:{ {/^user$/ joe} }", "user+foo@example.com", NULL, P | L, NF, ""},
    {"regexp not asked for @domain", REWRITE, S1,
     "regexp:{ {/^@example\\.com$/ joe} }", "user@example.com", NULL, P | L, NF,
     ""},
    {"pattern table skipped, fixed table asked", ACCESS_ADDR, S1,
     "regexp:{ {/^example\\.com$/ R} }, inline:{example.com=I}",
     "user@example.com", "smtpd_access_maps", 0, F, "I"},
    /* First found wins, across tables and across keys. */
    {"first table wins", ACCESS_HOST, S1, "inline:{a.com=1}, inline:{a.com=2}",
     "a.com", "smtpd_access_maps", 0, F, "1"},
    {"key order beats table order", ACCESS_HOST, S1,
     "inline:{com=PARENT}, inline:{mx.a.com=EXACT}", "mx.a.com",
     "smtpd_access_maps", 0, F, "EXACT"},
    {"empty list", ACCESS_ADDR, S1, "", "user@example.com", "smtpd_access_maps",
     0, NF, ""},
    {"transport wild card", TRANSPORT, S1, "inline:{ {* = smtp:relay} }",
     "user@example.com", NULL, 0, F, "smtp:relay"},
    /* Errors stop the search and are returned. */
    {"fail: table", ACCESS_ADDR, S1, "fail:broken", "user@example.com",
     "smtpd_access_maps", 0, ET, ""},
    {"error before a later match", ACCESS_ADDR, S1,
     "fail:broken, inline:{user@=OK}", "user@example.com", "smtpd_access_maps",
     0, ET, ""},
    {"error in a later table", ACCESS_ADDR, S1,
     "inline:{user@=OK}, fail:broken", "user@example.com", "smtpd_access_maps",
     0, ET, ""},
    {"match before an error", ACCESS_ADDR, S1,
     "inline:{user@example.com=OK}, fail:broken", "user@example.com",
     "smtpd_access_maps", 0, F, "OK"},
    {"fail: in host search", ACCESS_HOST, S1, "fail:broken", "a.b.c",
     "smtpd_access_maps", 0, ET, ""},
    {"fail: in ip search", ACCESS_IP, S1, "fail:broken", "192.0.2.1", NULL, 0,
     ET, ""},
    {"fail: in rewrite", REWRITE, S1, "fail:broken", "u+x@example.com", NULL,
     P | L, ET, ""},
    {"fail: in transport", TRANSPORT, S1, "fail:broken", "u@example.com", NULL,
     0, ET, ""},
    {"table that does not open", ACCESS_ADDR, S1,
     "hash:/nonexistent/postern-test/access", "user@example.com",
     "smtpd_access_maps", 0, EC, ""},
    {"bad inline syntax", ACCESS_HOST, S1, "inline:{a=b", "a",
     "smtpd_access_maps", 0, EC, ""},
    {"no type", ACCESS_HOST, S1, "/etc/postern/access", "a",
     "smtpd_access_maps", 0, EC, ""},
    {"unknown type", REWRITE, S1, "nosuchtype:/x", "a@b", NULL, 0, EC, ""},
};

static void test_values(void **state)
{
    struct buf *value = buf_new(64);
    size_t n;

    (void) state;
    for (n = 0; n < sizeof(value_cases) / sizeof(value_cases[0]); n++) {
        const struct value_case *c = &value_cases[n];
        struct maps *m;
        enum lookup_status st;

        apply(&c->set);
        m = maps_create("test_maps", c->maps, DICT_FOLD_FIX);
        st = run_search(c->kind, m, c->query, c->feature, c->flags, value);
        if (st != c->want_st || strcmp(buf_str(value), c->want) != 0)
            FAIL("%s (%s %s in %s): got %s \"%s\", want %s \"%s\" [%s]",
                 c->what, kind_name(c->kind), c->query, c->maps,
                 lookup_status_name(st), buf_str(value),
                 lookup_status_name(c->want_st), c->want, maps_error(m));
        /* An error always says which table and why. */
        if ((st == ET || st == EC)
            && (strstr(maps_error(m), "test_maps: ") != maps_error(m)
                || strlen(maps_error(m)) < 15))
            FAIL("%s: error text \"%s\" does not name the list and table",
                 c->what, maps_error(m));
        if ((st == F || st == NF) && *maps_error(m))
            FAIL("%s: error text \"%s\" left after %s", c->what, maps_error(m),
                 lookup_status_name(st));
        maps_free(m);
    }
    buf_free(value);
}

/* ---- maps.c itself ------------------------------------------------------ */

static void test_maps_basics(void **state)
{
    struct buf *value = buf_new(64);
    struct maps *m;

    (void) state;
    m = maps_create("alias_maps",
                    "inline:{a=1, {b = two words}},\n\tinline:{c=3} ,,",
                    DICT_FOLD_FIX);
    assert_int_equal(maps_count(m), 2);
    assert_string_equal(maps_title(m), "alias_maps");
    assert_int_equal(maps_find(m, "B", 0, value), F);
    assert_string_equal(buf_str(value), "two words");
    assert_int_equal(maps_find(m, "c", MAPS_PARTIAL, value), F);
    assert_string_equal(buf_str(value), "3");
    assert_int_equal(maps_find(m, "", 0, value), NF);
    assert_int_equal(maps_find(m, "zz", 0, value), NF);
    assert_string_equal(buf_str(value), "");
    maps_free(m);

    m = maps_create("x", NULL, 0);
    assert_int_equal(maps_count(m), 0);
    assert_int_equal(maps_find(m, "a", 0, value), NF);
    assert_int_equal(maps_reopen(m), 0);
    maps_free(m);

    /* The open error is kept and given on every lookup. */
    m = maps_create("alias_maps", "inline:{a=1}, hash:/nonexistent/pt/aliases",
                    DICT_FOLD_FIX);
    assert_int_equal(maps_count(m), 2);
    assert_int_equal(maps_find(m, "a", 0, value), F);
    assert_int_equal(maps_find(m, "b", 0, value), EC);
    assert_non_null(strstr(maps_error(m), "/nonexistent/pt/aliases"));
    assert_int_equal(maps_find(m, "b", MAPS_PARTIAL, value), EC);
    maps_free(m);

    assert_true(
        maps_feature_listed("a, smtpd_access_maps b", "smtpd_access_maps"));
    assert_true(maps_feature_listed("Canonical", "canonical"));
    assert_false(maps_feature_listed("canonical_maps", "canonical"));
    assert_false(maps_feature_listed("", "canonical"));
    assert_false(maps_feature_listed(NULL, "canonical"));

    var_propagate_unmatched_extensions = "canonical, virtual";
    assert_true(maps_search_propagate("virtual"));
    assert_false(maps_search_propagate("alias"));
    buf_free(value);
}

static void test_fold(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"User@Example.COM", "user@example.com"},
        {"\xc3\x89"
         "cole",
         "\xc3\xa9"
         "cole"},                                 /* Ecole */
        {"\xd0\x9f\xd0\xb8", "\xd0\xbf\xd0\xb8"}, /* Cyrillic */
        {"\xff"
         "ABC",
         "\xff"
         "abc"},                          /* not UTF-8 */
        {"\xc3\x89\xff", "\xc3\x89\xff"}, /* not UTF-8 */
        {"", ""},
    };
    struct buf *out = buf_new(16);
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(out);
        maps_fold(out, cases[i].in, 1);
        if (strcmp(buf_str(out), cases[i].want) != 0)
            FAIL("maps_fold(\"%s\"): got \"%s\", want \"%s\"", cases[i].in,
                 buf_str(out), cases[i].want);
    }
    buf_reset(out);
    maps_fold(out,
              "\xc3\x89"
              "COLE",
              0);
    assert_string_equal(buf_str(out), "\xc3\x89"
                                      "cole");
    assert_true(maps_utf8_valid("abc\xc3\xa9", 5));
    assert_false(maps_utf8_valid("\xc0\x80", 2));     /* overlong */
    assert_false(maps_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(maps_utf8_valid("\xc3", 1));         /* cut short */
    buf_free(out);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

static void test_reopen(void **state)
{
    char dir[] = "/tmp/test_maps_search.XXXXXX";
    struct buf *path = buf_new(64);
    struct buf *spec = buf_new(64);
    struct buf *value = buf_new(64);
    struct timespec times[2];
    struct maps *m;

    (void) state;
    assert_non_null(mkdtemp(dir));
    buf_setf(path, "%s/table", dir);
    buf_setf(spec, "texthash:%s", buf_str(path));

    /* Missing at first: an error, retried by maps_reopen(). */
    m = maps_create("relay_recipient_maps", buf_str(spec), DICT_FOLD_FIX);
    assert_int_equal(maps_find(m, "a", 0, value), EC);
    assert_int_equal(maps_reopen(m), 1);
    assert_int_equal(maps_find(m, "a", 0, value), EC);
    write_file(buf_str(path), "a old\n");
    assert_int_equal(maps_reopen(m), 1);
    assert_int_equal(maps_find(m, "a", 0, value), F);
    assert_string_equal(buf_str(value), "old");
    /* Unchanged: nothing to do. */
    assert_int_equal(maps_reopen(m), 0);
    /* Rewritten (another mtime): the new content is seen. */
    write_file(buf_str(path), "a new\n");
    times[0].tv_sec = times[1].tv_sec = 1000000000;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    assert_int_equal(utimensat(AT_FDCWD, buf_str(path), times, 0), 0);
    assert_int_equal(maps_find(m, "a", 0, value), F);
    assert_string_equal(buf_str(value), "old");
    assert_int_equal(maps_reopen(m), 1);
    assert_int_equal(maps_find(m, "a", 0, value), F);
    assert_string_equal(buf_str(value), "new");
    /* Removed: the reopen fails and lookups say so. */
    unlink(buf_str(path));
    assert_int_equal(maps_reopen(m), 1);
    assert_int_equal(maps_find(m, "a", 0, value), EC);
    maps_free(m);
    rmdir(dir);
    buf_free(path);
    buf_free(spec);
    buf_free(value);
}

static void test_summary(void **state)
{
    (void) state;
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders),      cmocka_unit_test(test_values),
        cmocka_unit_test(test_maps_basics), cmocka_unit_test(test_fold),
        cmocka_unit_test(test_reopen),      cmocka_unit_test(test_summary),
    };

    msg_init("test_maps_search", MSG_NOLOG);
    var_recipient_delimiter = "+";
    var_parent_domain_matches_subdomains = PARENT_ACCESS;
    var_propagate_unmatched_extensions = "canonical, virtual";
    return cmocka_run_group_tests(tests, NULL, NULL);
}
