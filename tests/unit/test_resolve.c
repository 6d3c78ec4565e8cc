/*
 * test_resolve.c - unit tests for lib/resolve.c (address classes and
 * transport:nexthop, Postfix trivial-rewrite semantics).
 *
 * Table-driven: each suite sets parameters (on top of a base), builds a
 * resolver and resolves probes; a reply is printed as
 *     class|flags|transport|nexthop|recipient
 * (flags: F final, R routed, E error, - none) and compared with the
 * wanted line, or an error as "temp|text" / "config|text" where TEXT must
 * appear in resolver_error(). Failures print "got X, want Y". Tables are
 * inline: and texthash: maps (files in a temporary folder, %D in a
 * setting), errors come from fail: tables, unreadable /files, null
 * transports and host names that do not resolve.
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
#include "config.h"
#include "msg.h"
#include "params.h"
#include "resolve.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static int failures;

/* Each test counts its own failures. */
static int reset(void **state)
{
    (void) state;
    failures = 0;
    return 0;
}
static char dir[64];

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
    char text[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    print_error("%s\n", text);
    failures++;
}

/* ---- parameters: saved once, set per suite, restored at the end -------- */

union saved_value {
    const char *str;
    int i;
    long l;
};

static union saved_value *saved;
static char **owned; /* strings made for settings, freed at the end */
static size_t nowned;

static void params_save(void)
{
    size_t i;

    saved = calloc(param_count, sizeof(*saved));
    for (i = 0; i < param_count; i++) {
        const struct param_info *p = &param_table[i];

        switch (p->type) {
        case PT_STR:
        case PT_RAW:
        case PT_LIST:
            saved[i].str = *(const char **) p->var;
            break;
        case PT_BOOL:
        case PT_INT:
            saved[i].i = *(int *) p->var;
            break;
        default:
            saved[i].l = *(long *) p->var;
            break;
        }
    }
}

static void params_restore(void)
{
    size_t i;

    for (i = 0; i < param_count; i++) {
        const struct param_info *p = &param_table[i];

        switch (p->type) {
        case PT_STR:
        case PT_RAW:
        case PT_LIST:
            *(const char **) p->var = saved[i].str;
            break;
        case PT_BOOL:
        case PT_INT:
            *(int *) p->var = saved[i].i;
            break;
        default:
            *(long *) p->var = saved[i].l;
            break;
        }
    }
}

/* "name=value", %D standing for the test folder. */
static void set_param(const char *setting)
{
    const char *eq = strchr(setting, '=');
    char name[128];
    const struct param_info *p;
    struct buf *value = buf_new(64);
    const char *cp;

    assert_non_null(eq);
    snprintf(name, sizeof(name), "%.*s", (int) (eq - setting), setting);
    p = param_find(name);
    if (p == NULL)
        fail_msg("unknown parameter %s", name);
    for (cp = eq + 1; *cp; cp++) {
        if (cp[0] == '%' && cp[1] == 'D') {
            buf_puts(value, dir);
            cp++;
        } else {
            buf_putc(value, *cp);
        }
    }
    switch (p->type) {
    case PT_STR:
    case PT_RAW:
    case PT_LIST:
        owned = realloc(owned, (nowned + 1) * sizeof(*owned));
        owned[nowned] = buf_steal(value);
        *(const char **) p->var = owned[nowned++];
        return;
    case PT_BOOL:
        *(int *) p->var = strcmp(buf_str(value), "yes") == 0;
        break;
    case PT_INT:
        *(int *) p->var = atoi(buf_str(value));
        break;
    default:
        *(long *) p->var = atol(buf_str(value));
        break;
    }
    buf_free(value);
}

/* The base every suite starts from. */
static const char *const base[] = {
    "myhostname=host.example.net",
    "mydomain=example.net",
    "mydestination=host.example.net, localhost.example.net, localhost, "
    "example.net",
    "inet_interfaces=127.0.0.1",
    "proxy_interfaces=192.0.2.100",
    "virtual_alias_domains=valias.example texthash:%D/valias",
    "virtual_mailbox_domains=vmbox.example",
    "relay_domains=relay.example, .dotrelay.example, "
    "inline:{ relaymap.example=x }",
    "parent_domain_matches_subdomains=debug_peer_list,fast_flush_domains,"
    "mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,"
    "relay_domains,smtpd_access_maps",
    "local_transport=local:host.example.net",
    "relay_transport=relay",
    "default_transport=smtp",
    "virtual_transport=virtual",
    "relayhost=",
    "transport_maps=",
    "sender_dependent_relayhost_maps=",
    "sender_dependent_default_transport_maps=",
    "recipient_delimiter=+",
    "empty_address_recipient=MAILER-DAEMON",
    "empty_address_relayhost_maps_lookup_key=<>",
    "empty_address_default_transport_maps_lookup_key=<>",
    "allow_percent_hack=yes",
    "swap_bangpath=yes",
    "resolve_dequoted_address=yes",
    "resolve_null_domain=no",
    "resolve_numeric_domain=no",
    "show_user_unknown_table_name=yes",
};

static void write_file(const char *name, const char *text)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int group_setup(void **state)
{
    (void) state;
    msg_init("test_resolve", MSG_NOLOG);
    config_clear();
    config_set("myhostname", "host.example.net", NULL, 0);
    config_set("mydomain", "example.net", NULL, 0);
    params_load();
    params_save();
    snprintf(dir, sizeof(dir), "/tmp/test_resolve.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    write_file("valias", "aliasdom.example   anything\n"
                         "user@valias.example  real@example.com\n");
    write_file("transport",
               "# transport(5) forms\n"
               "user@tm.example      special:[special-host]\n"
               "user+ext@tm.example  ext:\n"
               "tm.example           smtp:[tm-gw]:2525\n"
               ".sub.tm.example      :[sub-gw]\n"
               "nochange.example     :\n"
               "keep.example         keep:\n"
               "list.example         smtp:[a.example]:25, [b.example]:25\n"
               "host.example.net     lmtp:unix:private/dovecot-lmtp\n"
               "valias.example       smtp:[never]\n"
               "error.example        error:5.7.1 mail for error.example "
               "is not accepted\n");
    write_file("wild", "*  smtp:[wild-gw]\n"
                       "local.example  :\n");
    write_file("mydest", "# names from a file\n"
                         "file.example other.example\n"
                         "  # an indented comment.example\n"
                         "third.example\n");
    write_file("relays", "filerelay.example\n");
    return 0;
}

static int group_teardown(void **state)
{
    static const char *const files[] = {"valias", "transport", "wild", "mydest",
                                        "relays"};
    char path[256];
    size_t i;

    (void) state;
    params_restore();
    for (i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(saved);
    for (i = 0; i < NCASES(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    config_clear();
    return 0;
}

/* ---- probes ----------------------------------------------------------------
 */

struct probe {
    const char *sender; /* NULL: unknown */
    const char *rcpt;
    int flags;
    const char *want;
};

#define NT RESOLVE_NO_TRANSPORT

static void format_reply(struct buf *out, enum lookup_status st,
                         const struct resolve_reply *rep)
{
    buf_reset(out);
    if (st != LOOKUP_FOUND) {
        buf_printf(out, "%s",
                   st == LOOKUP_ERR_TEMP     ? "temp"
                   : st == LOOKUP_ERR_CONFIG ? "config"
                                             : "notfound");
        return;
    }
    buf_printf(out, "%s|", resolve_class_name(rep->cls));
    if (rep->flags & RESOLVE_FLAG_FINAL)
        buf_putc(out, 'F');
    if (rep->flags & RESOLVE_FLAG_ROUTED)
        buf_putc(out, 'R');
    if (rep->flags & RESOLVE_FLAG_ERROR)
        buf_putc(out, 'E');
    if (rep->flags == 0)
        buf_putc(out, '-');
    buf_printf(out, "|%s|%s|%s", buf_str(rep->transport), buf_str(rep->nexthop),
               buf_str(rep->recipient));
}

static void run_probes(const char *suite, const char *const *settings,
                       size_t nsettings, const struct probe *probes,
                       size_t nprobes)
{
    struct resolve_reply rep;
    struct resolver *r;
    struct buf *got = buf_new(0);
    size_t i;

    for (i = 0; i < NCASES(base); i++)
        set_param(base[i]);
    for (i = 0; i < nsettings; i++)
        set_param(settings[i]);
    r = resolver_new();
    resolve_reply_init(&rep);
    for (i = 0; i < nprobes; i++) {
        enum lookup_status st = resolve_addr(
            r, probes[i].sender, probes[i].rcpt, probes[i].flags, &rep);
        const char *want = probes[i].want;
        const char *bar = strchr(want, '|');

        format_reply(got, st, &rep);
        if (st != LOOKUP_FOUND) {
            /* "temp|text": the status, and TEXT in the error message. */
            size_t n = bar ? (size_t) (bar - want) : strlen(want);

            if (strlen(buf_str(got)) != n || strncmp(buf_str(got), want, n)
                || (bar && strstr(resolver_error(r), bar + 1) == NULL))
                report("%s: resolve(%s, %s): got %s|%s, want %s", suite,
                       probes[i].sender ? probes[i].sender : "NULL",
                       probes[i].rcpt, buf_str(got), resolver_error(r), want);
        } else if (strcmp(buf_str(got), want) != 0) {
            report("%s: resolve(%s, %s): got %s, want %s", suite,
                   probes[i].sender ? probes[i].sender : "NULL", probes[i].rcpt,
                   buf_str(got), want);
        }
    }
    resolve_reply_free(&rep);
    resolver_free(r);
    buf_free(got);
}

#define RUN(suite, settings, probes)                                           \
    run_probes(suite, settings, NCASES(settings), probes, NCASES(probes))

/* ---- classes ------------------------------------------------------------- */

static void test_classes(void **state)
{
    static const char *const settings[] = {"myhostname=host.example.net"};
    static const struct probe probes[] = {
        /* local: mydestination, whole names only, any case */
        {NULL, "user@host.example.net", 0,
         "local|F|local|host.example.net|user@host.example.net"},
        {NULL, "User@HOST.Example.NET", 0,
         "local|F|local|host.example.net|User@HOST.Example.NET"},
        {NULL, "user@example.net", 0,
         "local|F|local|host.example.net|user@example.net"},
        {NULL, "user@host.example.net.", 0,
         "local|F|local|host.example.net|user@host.example.net"},
        {NULL, "user@sub.example.net", 0,
         "default|-|smtp|sub.example.net|user@sub.example.net"},
        {NULL, "root", 0,
         "local|F|local|host.example.net|root@host.example.net"},
        {NULL, "", 0,
         "local|F|local|host.example.net|MAILER-DAEMON@host.example.net"},
        /* local: our addresses as literals */
        {NULL, "user@[127.0.0.1]", 0,
         "local|F|local|host.example.net|user@[127.0.0.1]"},
        {NULL, "user@[192.0.2.100]", 0,
         "local|F|local|host.example.net|user@[192.0.2.100]"},
        {NULL, "user@[192.0.2.1]", 0,
         "default|-|smtp|[192.0.2.1]|user@[192.0.2.1]"},
        {NULL, "user@[IPv6:2001:db8::1]", 0,
         "default|-|smtp|[ipv6:2001:db8::1]|user@[IPv6:2001:db8::1]"},
        /* virtual alias domains: names and a texthash table, no parents */
        {NULL, "user@valias.example", 0,
         "alias|F|error|5.1.1 User unknown in virtual alias table|"
         "user@valias.example"},
        {NULL, "x@aliasdom.example", 0,
         "alias|F|error|5.1.1 User unknown in virtual alias table|"
         "x@aliasdom.example"},
        {NULL, "x@sub.valias.example", 0,
         "default|-|smtp|sub.valias.example|x@sub.valias.example"},
        /* virtual mailbox domains */
        {NULL, "x@vmbox.example", 0,
         "virtual|F|virtual|vmbox.example|x@vmbox.example"},
        /* relay domains: parent style, ".domain", an inline table */
        {NULL, "x@relay.example", 0,
         "relay|-|relay|relay.example|x@relay.example"},
        {NULL, "x@Sub.Relay.Example", 0,
         "relay|-|relay|sub.relay.example|x@Sub.Relay.Example"},
        {NULL, "x@dotrelay.example", 0,
         "default|-|smtp|dotrelay.example|x@dotrelay.example"},
        {NULL, "x@a.dotrelay.example", 0,
         "relay|-|relay|a.dotrelay.example|x@a.dotrelay.example"},
        {NULL, "x@relaymap.example", 0,
         "relay|-|relay|relaymap.example|x@relaymap.example"},
        {NULL, "x@deep.relaymap.example", 0,
         "relay|-|relay|deep.relaymap.example|x@deep.relaymap.example"},
        /* default */
        {NULL, "x@example.com", 0, "default|-|smtp|example.com|x@example.com"},
        {NULL, "x@exa_mple.com", 0,
         "default|-|smtp|exa_mple.com|x@exa_mple.com"},
        /* malformed */
        {NULL, "x@host.example.net..", 0,
         "default|E|smtp|host.example.net..|x@host.example.net.."},
        {NULL, "x@", 0, "default|E|smtp||x@"},
        {NULL, "x@1.2.3.4", 0, "default|E|smtp|1.2.3.4|x@1.2.3.4"},
        {NULL, "x@[300.1.1.1]", 0, "default|E|smtp|[300.1.1.1]|x@[300.1.1.1]"},
        {NULL, "x@-bad.example", 0,
         "default|E|smtp|-bad.example|x@-bad.example"},
        {NULL, "x@bad..example", 0,
         "default|E|smtp|bad..example|x@bad..example"},
        /* the relay check needs no transport lookups */
        {NULL, "x@relay.example", NT,
         "relay|-|relay|relay.example|x@relay.example"},
    };

    (void) state;
    RUN("classes", settings, probes);
    assert_int_equal(failures, 0);
}

/* Percent hack, bang paths, quoted @, source routes. */
static void test_routing(void **state)
{
    static const char *const on[] = {"allow_percent_hack=yes"};
    static const struct probe on_probes[] = {
        {NULL, "user%remote.example@host.example.net", 0,
         "default|-|smtp|remote.example|user@remote.example"},
        {NULL, "remote.example!user@host.example.net", 0,
         "default|-|smtp|remote.example|user@remote.example"},
        {NULL, "user@remote.example@host.example.net", 0,
         "default|-|smtp|remote.example|user@remote.example"},
        {NULL, "user%localhost@host.example.net", 0,
         "local|F|local|host.example.net|user@localhost"},
        {NULL, "user%localhost", 0,
         "local|F|local|host.example.net|user@localhost"},
        {NULL, "a%b%relay.example@localhost", 0,
         "relay|R|relay|relay.example|a%b@relay.example"},
        {NULL, "user%other.example@relay.example", 0,
         "relay|R|relay|relay.example|user%other.example@relay.example"},
        {NULL, "host!user@example.com", 0,
         "default|R|smtp|example.com|host!user@example.com"},
        {NULL, "@a.example,@b.example:user@example.com", 0,
         "default|-|smtp|example.com|user@example.com"},
        {NULL, "user%host.example.net", 0,
         "local|F|local|host.example.net|user@host.example.net"},
    };
    static const char *const off[] = {
        "allow_percent_hack=no",       "swap_bangpath=no",
        "resolve_dequoted_address=no", "resolve_null_domain=yes",
        "resolve_numeric_domain=yes",
    };
    static const struct probe off_probes[] = {
        {NULL, "user%remote.example@host.example.net", 0,
         "local|F|local|host.example.net|user%remote.example@host.example.net"},
        {NULL, "remote!user@host.example.net", 0,
         "local|F|local|host.example.net|remote!user@host.example.net"},
        {NULL, "x@y@host.example.net", 0,
         "local|F|local|host.example.net|x@y@host.example.net"},
        {NULL, "user%other.example@relay.example", 0,
         "relay|-|relay|relay.example|user%other.example@relay.example"},
        {NULL, "user@", 0,
         "local|F|local|host.example.net|user@host.example.net"},
        {NULL, "user@1.2.3.4", 0, "default|-|smtp|[1.2.3.4]|user@[1.2.3.4]"},
        {NULL, "user@127.0.0.1", 0,
         "local|F|local|host.example.net|user@[127.0.0.1]"},
        {NULL, "user@1.2.3", 0, "default|E|smtp|1.2.3|user@1.2.3"},
    };

    (void) state;
    RUN("routing on", on, on_probes);
    RUN("routing off", off, off_probes);
    assert_int_equal(failures, 0);
}

/* ---- relayhost and the class transports -----------------------------------
 */

static void test_relayhost(void **state)
{
    static const char *const forms[] = {
        "[smtp.isp.example]:587",
        "[smtp.isp.example]",
        "smtp.isp.example:2525",
        "Smtp.Isp.Example:submission",
        "isp.example",
        "[192.0.2.25]:25",
        "mail1.example:587, mail2.example:587",
    };
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(forms); i++) {
        char setting[128];
        char want_def[256];
        char want_rel[256];
        const char *settings[1];
        struct probe probes[3];

        snprintf(setting, sizeof(setting), "relayhost=%s", forms[i]);
        snprintf(want_def, sizeof(want_def), "default|-|smtp|%s|x@example.com",
                 forms[i]);
        snprintf(want_rel, sizeof(want_rel), "relay|-|relay|%s|x@relay.example",
                 forms[i]);
        settings[0] = setting;
        probes[0] = (struct probe){NULL, "x@example.com", 0, want_def};
        probes[1] = (struct probe){NULL, "x@relay.example", 0, want_rel};
        probes[2] =
            (struct probe){NULL, "x@host.example.net", 0,
                           "local|F|local|host.example.net|x@host.example.net"};
        run_probes(setting, settings, 1, probes, 3);
    }

    {
        static const char *const s[] = {
            "relayhost=[relayhost.example]",
            "default_transport=smtp:[dt-gw]:25",
            "relay_transport=relay:[rt-gw]",
            "local_transport=local",
            "virtual_transport=lmtp:unix:private/lmtp",
        };
        static const struct probe p[] = {
            {NULL, "x@example.com", 0,
             "default|-|smtp|[dt-gw]:25|x@example.com"},
            {NULL, "x@relay.example", 0,
             "relay|-|relay|[rt-gw]|x@relay.example"},
            {NULL, "x@host.example.net", 0,
             "local|F|local|host.example.net|x@host.example.net"},
            {NULL, "x@Example.NET", 0,
             "local|F|local|example.net|x@Example.NET"},
            {NULL, "x@vmbox.example", 0,
             "virtual|F|lmtp|unix:private/lmtp|x@vmbox.example"},
        };
        RUN("transport settings", s, p);
    }
    {
        static const char *const s[] = {"show_user_unknown_table_name=no"};
        static const struct probe p[] = {
            {NULL, "x@valias.example", 0,
             "alias|F|error|5.1.1 User unknown|x@valias.example"},
        };
        RUN("unknown table name", s, p);
    }
    assert_int_equal(failures, 0);
}

static void test_sender_dependent(void **state)
{
    static const char *const s[] = {
        "relayhost=[default-relay]",
        "sender_dependent_relayhost_maps=inline:{ alice@a.example=[alice-relay]:587, "
        "@b.example=[b-relay], bob@b.example=DUNNO, <>=[bounce-relay] }",
    };
    static const struct probe p[] = {
        {"alice@a.example", "x@example.com", 0,
         "default|-|smtp|[alice-relay]:587|x@example.com"},
        {"Alice@A.Example", "x@example.com", 0,
         "default|-|smtp|[alice-relay]:587|x@example.com"},
        {"alice+tag@a.example", "x@example.com", 0,
         "default|-|smtp|[alice-relay]:587|x@example.com"},
        {"carol@b.example", "x@example.com", 0,
         "default|-|smtp|[b-relay]|x@example.com"},
        {"bob@b.example", "x@example.com", 0,
         "default|-|smtp|[default-relay]|x@example.com"},
        {"", "x@example.com", 0, "default|-|smtp|[bounce-relay]|x@example.com"},
        {NULL, "x@example.com", 0,
         "default|-|smtp|[default-relay]|x@example.com"},
        {"dave@c.example", "x@example.com", 0,
         "default|-|smtp|[default-relay]|x@example.com"},
        {"alice@a.example", "x@relay.example", 0,
         "relay|-|relay|[alice-relay]:587|x@relay.example"},
        {"alice@a.example", "x@host.example.net", 0,
         "local|F|local|host.example.net|x@host.example.net"},
        {"alice@a.example", "x@example.com", NT,
         "default|-|smtp|[default-relay]|x@example.com"},
    };
    static const char *const s2[] = {
        "default_transport=smtp:[dt-next]",
        "relayhost=[default-relay]",
        "sender_dependent_default_transport_maps=inline:{ "
        "special@a.example=uucp:uuhost, nonh@a.example=slow, "
        "@d.example=DUNNO, <>=bounce: }",
        "sender_dependent_relayhost_maps=inline:{ nonh@a.example=[nonh-relay] }",
    };
    static const struct probe p2[] = {
        {"special@a.example", "x@example.com", 0,
         "default|-|uucp|uuhost|x@example.com"},
        {"nonh@a.example", "x@example.com", 0,
         "default|-|slow|[dt-next]|x@example.com"},
        {"eve@d.example", "x@example.com", 0,
         "default|-|smtp|[dt-next]|x@example.com"},
        {"", "x@example.com", 0, "default|-|bounce|[dt-next]|x@example.com"},
        {"special@a.example", "x@relay.example", 0,
         "relay|-|relay|[default-relay]|x@relay.example"},
    };

    (void) state;
    RUN("sender dependent relayhost", s, p);
    RUN("sender dependent default transport", s2, p2);
    assert_int_equal(failures, 0);
}

/* ---- transport_maps
 * ---------------------------------------------------------- */

static void test_transport_maps(void **state)
{
    static const char *const s[] = {
        "transport_maps=texthash:%D/transport",
        "relayhost=[relayhost.example]",
    };
    static const struct probe p[] = {
        {NULL, "user@tm.example", 0,
         "default|-|special|[special-host]|user@tm.example"},
        {NULL, "user+ext@tm.example", 0,
         "default|-|ext|tm.example|user+ext@tm.example"},
        {NULL, "user+other@tm.example", 0,
         "default|-|special|[special-host]|user+other@tm.example"},
        {NULL, "other@tm.example", 0,
         "default|-|smtp|[tm-gw]:2525|other@tm.example"},
        {NULL, "x@a.sub.tm.example", 0,
         "default|-|smtp|[sub-gw]|x@a.sub.tm.example"},
        {NULL, "x@sub.tm.example", 0,
         "default|-|smtp|[relayhost.example]|x@sub.tm.example"},
        {NULL, "x@nochange.example", 0,
         "default|-|smtp|[relayhost.example]|x@nochange.example"},
        {NULL, "x@keep.example", 0,
         "default|-|keep|keep.example|x@keep.example"},
        {NULL, "x@list.example", 0,
         "default|-|smtp|[a.example]:25, [b.example]:25|x@list.example"},
        {NULL, "x@host.example.net", 0,
         "local|F|lmtp|unix:private/dovecot-lmtp|x@host.example.net"},
        {NULL, "x@valias.example", 0,
         "alias|F|error|5.1.1 User unknown in virtual alias table|"
         "x@valias.example"},
        {NULL, "x@error.example", 0,
         "default|-|error|5.7.1 mail for error.example is not accepted|"
         "x@error.example"},
        {NULL, "x@TM.Example", 0, "default|-|smtp|[tm-gw]:2525|x@TM.Example"},
        {NULL, "user%x@tm.example", 0,
         "default|R|smtp|[tm-gw]:2525|user%x@tm.example"},
        {NULL, "other@tm.example", NT,
         "default|-|smtp|[relayhost.example]|other@tm.example"},
    };
    static const char *const w[] = {
        "transport_maps=texthash:%D/wild",
    };
    static const struct probe wp[] = {
        {NULL, "x@example.com", 0, "default|-|smtp|[wild-gw]|x@example.com"},
        {NULL, "x@relay.example", 0, "relay|-|smtp|[wild-gw]|x@relay.example"},
        {NULL, "x@local.example", 0,
         "default|-|smtp|local.example|x@local.example"},
        {NULL, "x@valias.example", 0,
         "alias|F|error|5.1.1 User unknown in virtual alias table|"
         "x@valias.example"},
    };
    static const char *const parent[] = {
        "transport_maps=inline:{ example.org=smtp:[org-gw] }",
        "parent_domain_matches_subdomains=transport_maps",
    };
    static const struct probe pp[] = {
        {NULL, "x@deep.sub.example.org", 0,
         "default|-|smtp|[org-gw]|x@deep.sub.example.org"},
        {NULL, "x@relay.example", 0,
         "relay|-|relay|relay.example|x@relay.example"},
        {NULL, "x@sub.relay.example", 0,
         "default|-|smtp|sub.relay.example|x@sub.relay.example"},
    };

    (void) state;
    RUN("transport_maps", s, p);
    RUN("transport_maps wild card", w, wp);
    RUN("transport_maps parent style", parent, pp);
    assert_int_equal(failures, 0);
}

/* ---- lists: files, negation -------------------------------------------------
 */

static void test_lists(void **state)
{
    static const char *const s[] = {
        "mydestination=!Other.Example, host.example.net, /%D/mydest",
        "relay_domains=!bad.relay.example, relay.example, !/%D/relays",
        "inet_interfaces=loopback-only",
        "proxy_interfaces=[192.0.2.7], 2001:db8::7",
    };
    static const struct probe p[] = {
        {NULL, "x@file.example", 0,
         "local|F|local|host.example.net|x@file.example"},
        {NULL, "x@third.example", 0,
         "local|F|local|host.example.net|x@third.example"},
        {NULL, "x@other.example", 0,
         "default|-|smtp|other.example|x@other.example"},
        {NULL, "x@comment.example", 0,
         "default|-|smtp|comment.example|x@comment.example"},
        {NULL, "x@bad.relay.example", 0,
         "default|-|smtp|bad.relay.example|x@bad.relay.example"},
        {NULL, "x@good.relay.example", 0,
         "relay|-|relay|good.relay.example|x@good.relay.example"},
        {NULL, "x@filerelay.example", 0,
         "default|-|smtp|filerelay.example|x@filerelay.example"},
        {NULL, "x@[127.0.0.1]", 0,
         "local|F|local|host.example.net|x@[127.0.0.1]"},
        {NULL, "x@[IPv6:::1]", 0,
         "local|F|local|host.example.net|x@[IPv6:::1]"},
        {NULL, "x@[192.0.2.7]", 0,
         "local|F|local|host.example.net|x@[192.0.2.7]"},
        {NULL, "x@[ipv6:2001:DB8::7]", 0,
         "local|F|local|host.example.net|x@[ipv6:2001:DB8::7]"},
        {NULL, "x@[192.0.2.8]", 0, "default|-|smtp|[192.0.2.8]|x@[192.0.2.8]"},
    };
    static const char *const all[] = {"inet_interfaces=all"};
    static const struct probe allp[] = {
        {NULL, "x@[127.0.0.1]", 0,
         "local|F|local|host.example.net|x@[127.0.0.1]"},
    };

    (void) state;
    RUN("lists", s, p);
    RUN("inet_interfaces=all", all, allp);
    assert_int_equal(failures, 0);
}

/* ---- errors are errors, never classes
 * ---------------------------------------- */

static void test_errors(void **state)
{
    static const char *const mydest[] = {
        "mydestination=host.example.net, fail:mydest",
    };
    static const struct probe mydest_p[] = {
        {NULL, "x@host.example.net", 0,
         "local|F|local|host.example.net|x@host.example.net"},
        {NULL, "x@example.com", 0, "temp|fail:mydest"},
        {NULL, "x%y@example.com", NT, "temp|Application error"},
    };
    static const char *const relay[] = {"relay_domains=fail:relay"};
    static const struct probe relay_p[] = {
        {NULL, "x@example.com", 0, "temp|fail:relay"},
        {NULL, "x@host.example.net", 0,
         "local|F|local|host.example.net|x@host.example.net"},
    };
    static const char *const valias[] = {"virtual_alias_domains=fail:valias"};
    static const struct probe valias_p[] = {
        {NULL, "x@example.com", NT, "temp|fail:valias"},
    };
    static const char *const tm[] = {"transport_maps=fail:tm"};
    static const struct probe tm_p[] = {
        {NULL, "x@example.com", 0, "temp|fail:tm"},
        {NULL, "x@host.example.net", 0, "temp|fail:tm"},
        {NULL, "x@example.com", NT, "default|-|smtp|example.com|x@example.com"},
        {NULL, "x@valias.example", 0,
         "alias|F|error|5.1.1 User unknown in virtual alias table|"
         "x@valias.example"},
    };
    static const char *const sdrh[] = {
        "sender_dependent_relayhost_maps=fail:sdrh",
        "sender_dependent_default_transport_maps=fail:sddt",
    };
    static const struct probe sdrh_p[] = {
        {"a@b.example", "x@example.com", 0, "temp|fail:sddt"},
        {"a@b.example", "x@relay.example", 0, "temp|fail:sdrh"},
        {NULL, "x@example.com", 0, "default|-|smtp|example.com|x@example.com"},
        {"a@b.example", "x@host.example.net", 0,
         "local|F|local|host.example.net|x@host.example.net"},
    };
    static const char *const badfile[] = {
        "mydestination=host.example.net, /nonexistent/postern-test-file",
    };
    static const struct probe badfile_p[] = {
        {NULL, "x@host.example.net", 0,
         "config|open /nonexistent/postern-test-file"},
    };
    static const char *const badmap[] = {
        "relay_domains=nosuchtype:/x",
    };
    static const struct probe badmap_p[] = {
        {NULL, "x@example.com", 0, "config|nosuchtype"},
    };
    static const char *const nullt[] = {"local_transport=:foo",
                                        "relay_transport="};
    static const struct probe nullt_p[] = {
        {NULL, "x@host.example.net", 0,
         "config|local_transport = :foo: a null transport is not allowed"},
        {NULL, "x@relay.example", 0, "config|relay_transport"},
        {NULL, "x@example.com", 0, "default|-|smtp|example.com|x@example.com"},
    };
    static const char *const badif[] = {
        "inet_interfaces=no-such-host.invalid",
    };
    static const struct probe badif_p[] = {
        {NULL, "x@[192.0.2.1]", 0, "config|no-such-host.invalid"},
        {NULL, "x@example.com", 0, "default|-|smtp|example.com|x@example.com"},
    };

    (void) state;
    RUN("fail mydestination", mydest, mydest_p);
    RUN("fail relay_domains", relay, relay_p);
    RUN("fail virtual_alias_domains", valias, valias_p);
    RUN("fail transport_maps", tm, tm_p);
    RUN("fail sender dependent", sdrh, sdrh_p);
    RUN("unreadable /file", badfile, badfile_p);
    RUN("unknown table type", badmap, badmap_p);
    RUN("null transport", nullt, nullt_p);
    RUN("unresolvable interface", badif, badif_p);
    assert_int_equal(failures, 0);
}

/* ---- resolve_domain_class
 * ----------------------------------------------------- */

static void test_domain_class(void **state)
{
    static const struct {
        const char *domain;
        const char *want;
    } cases[] = {
        {"host.example.net", "local"},  {"HOST.example.net.", "local"},
        {"[127.0.0.1]", "local"},       {"[192.0.2.100]", "local"},
        {"valias.example", "alias"},    {"aliasdom.example", "alias"},
        {"vmbox.example", "virtual"},   {"relay.example", "relay"},
        {"a.b.relay.example", "relay"}, {"x.dotrelay.example", "relay"},
        {"relaymap.example", "relay"},  {"example.com", "default"},
        {"bad..example", "default"},    {"", "default"},
        {"[192.0.2.1]", "default"},     {"1.2.3.4", "default"},
    };
    struct resolver *r;
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(base); i++)
        set_param(base[i]);
    r = resolver_new();
    for (i = 0; i < NCASES(cases); i++) {
        enum resolve_class cls = 0;
        enum lookup_status st = resolve_domain_class(r, cases[i].domain, &cls);

        if (st != LOOKUP_FOUND)
            report("resolve_domain_class(%s): got %s, want %s", cases[i].domain,
                   lookup_status_name(st), cases[i].want);
        else if (strcmp(resolve_class_name(cls), cases[i].want) != 0)
            report("resolve_domain_class(%s): got %s, want %s", cases[i].domain,
                   resolve_class_name(cls), cases[i].want);
    }
    resolver_free(r);

    /* A map error is an error here too. */
    set_param("relay_domains=fail:relay");
    r = resolver_new();
    {
        enum resolve_class cls;

        assert_int_equal(resolve_domain_class(r, "example.com", &cls),
                         LOOKUP_ERR_TEMP);
        assert_non_null(strstr(resolver_error(r), "fail:relay"));
        assert_int_equal(resolve_domain_class(r, "host.example.net", &cls),
                         LOOKUP_FOUND);
        assert_int_equal(cls, RESOLVE_CLASS_LOCAL);
    }
    assert_int_equal(resolver_reopen(r), 0);
    resolver_free(r);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_classes, reset),
        cmocka_unit_test_setup(test_routing, reset),
        cmocka_unit_test_setup(test_relayhost, reset),
        cmocka_unit_test_setup(test_sender_dependent, reset),
        cmocka_unit_test_setup(test_transport_maps, reset),
        cmocka_unit_test_setup(test_lists, reset),
        cmocka_unit_test_setup(test_errors, reset),
        cmocka_unit_test_setup(test_domain_class, reset),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
