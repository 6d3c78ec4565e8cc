/*
 * test_smtpd_check.c - unit tests for smtpd's restriction engine
 * (smtpd/smtpd_check.c, smtpd_policy.c, smtpd_dns.c compiled in here).
 *
 * Table-driven: each case sets main.cf parameters, a client, a stage, and
 * wants a reply ("" = OK) and optionally a log line fragment. DNS is faked
 * through smtpd_check_set_dns; tables are inline: or files in a temporary
 * folder; the policy server is a forked process on a unix socket.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../smtpd/smtpd_check.c"
#include "../../smtpd/smtpd_dns.c"
#include "../../smtpd/smtpd_policy.c"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

/*
 * Each case loads the parameters again; params_load() keeps the old
 * string values on purpose (lib/params.c), which LeakSanitizer would
 * report at exit. Only that allocation is exempt.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:params_load\n";
}

static char tmpdir[] = "/tmp/test_smtpd_check.XXXXXX";
static char logpath[256];
static int failures;

/* ---- fake DNS ----------------------------------------------------------- */

static const struct {
    const char *name;
    int status;
    const char *addrs;
    const char *txt;
} fake_zone[] = {
    {"mail.client.test", 2, NULL, NULL},
    {"sender.test", 2, NULL, NULL},
    {"tempfail.test", 4, NULL, NULL},
    {"10.2.0.192.zen.test", 2, "127.0.0.2", "listed for spam"},
    {"10.2.0.192.dnswl.test", 2, "127.0.10.1", NULL},
    {"sender.test.dbl.test", 2, "127.0.1.2", NULL},
    {"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.test",
     2, "127.0.0.4", NULL},
};

static int fake_find(const char *name)
{
    for (size_t i = 0; i < NCASES(fake_zone); i++)
        if (strcasecmp(fake_zone[i].name, name) == 0)
            return (int) i;
    return -1;
}

static int fake_host_or_mx(const char *name)
{
    int i = fake_find(name);
    return i < 0 ? 5 : fake_zone[i].status;
}

static int fake_rbl(const char *name, struct buf *addrs, struct buf *text)
{
    int i = fake_find(name);
    if (i < 0)
        return 5;
    if (fake_zone[i].addrs)
        buf_puts(addrs, fake_zone[i].addrs);
    if (text && fake_zone[i].txt)
        buf_puts(text, fake_zone[i].txt);
    return fake_zone[i].status;
}

/* Records for check_*_{a,mx,ns}_access: values separated by ','. */
static const struct {
    const char *name;
    int type;
    int status;
    const char *values;
} fake_records_zone[] = {
    {"spam.test", SMTPD_DNS_MX, 2, "10 mx1.spamhost.test,20 mx2.spamhost.test"},
    {"mx1.spamhost.test", SMTPD_DNS_ADDR, 2, "198.51.100.1"},
    {"mx2.spamhost.test", SMTPD_DNS_ADDR, 2, "198.51.100.2,2001:db8::2"},
    {"sender.test", SMTPD_DNS_ADDR, 2, "192.0.2.50"},
    {"ns.test", SMTPD_DNS_NS, 2, "ns1.bad-ns.test"},
    {"ns1.bad-ns.test", SMTPD_DNS_ADDR, 2, "203.0.113.5"},
    {"nullmx.test", SMTPD_DNS_MX, 2, "0 "},
    {"backup.test", SMTPD_DNS_MX, 2,
     "10 primary.backup.test,20 mx.example.com"},
    {"primary.backup.test", SMTPD_DNS_ADDR, 2, "198.51.100.7"},
    {"weprimary.test", SMTPD_DNS_MX, 2, "10 mx.example.com,20 spam.test"},
    {"loop.test", SMTPD_DNS_MX, 2,
     "5 primary.backup.test,7 mx2.spamhost.test,9 lo.loop.test"},
    {"lo.loop.test", SMTPD_DNS_ADDR, 2, "192.0.2.99,::1"},
    {"notus.test", SMTPD_DNS_MX, 2, "10 primary.backup.test"},
    {"tempfail.test", SMTPD_DNS_MX, 4, NULL},
    {"tempfail.test", SMTPD_DNS_NS, 4, NULL},
    {"tempfail.test", SMTPD_DNS_ADDR, 4, NULL},
};

static int fake_records(const char *name, int type, struct argv *out)
{
    for (size_t i = 0; i < NCASES(fake_records_zone); i++) {
        if (strcasecmp(fake_records_zone[i].name, name) != 0
            || fake_records_zone[i].type != type)
            continue;
        if (fake_records_zone[i].values) {
            struct argv *v = argv_split(fake_records_zone[i].values, ",");
            for (size_t k = 0; k < v->argc; k++)
                argv_add(out, v->argv[k]);
            argv_free(v);
        }
        return fake_records_zone[i].status;
    }
    return 5;
}

static const struct smtpd_check_dns fake_dns = {fake_host_or_mx, fake_rbl,
                                                fake_records};

/* ---- set-up ------------------------------------------------------------- */

static void write_file(const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static const char *base_params[][2] = {
    {"myhostname", "mx.example.com"},
    {"mydomain", "example.com"},
    {"mydestination", "example.com"},
    {"inet_interfaces", "loopback-only"},
    {"relay_domains", "relay.test"},
    {"virtual_alias_domains", "valias.test"},
    {"virtual_alias_maps", "inline:{ {va@valias.test = alice@example.com} }"},
    {"virtual_mailbox_domains", "vmbox.test"},
    {"virtual_mailbox_maps", "inline:{ {vm@vmbox.test = vm/} }"},
    {"local_recipient_maps",
     "inline:{ {alice = 1}, {r = 1}, {postmaster = 1} }"},
    {"alias_maps", ""},
    {"mynetworks", "127.0.0.0/8 10.0.0.0/8 [::1]/128"},
    {"smtpd_policy_service_timeout", "1s"},
    {"smtpd_policy_service_try_limit", "1"},
};

/* PARAMS: "name=value" strings, NULL-terminated. NULL with ERR on error. */
static struct smtpd_check *make_check(const char *const *params,
                                      struct buf *err)
{
    config_clear();
    for (size_t i = 0; i < NCASES(base_params); i++)
        config_set(base_params[i][0], base_params[i][1], NULL, 0);
    config_set("queue_directory", tmpdir, NULL, 0);
    for (size_t i = 0; params && params[i]; i++)
        assert_int_equal(config_override(params[i]), 0);
    params_load();
    struct smtpd_check *chk = smtpd_check_new(err);
    if (chk)
        smtpd_check_set_dns(chk, &fake_dns);
    return chk;
}

static struct smtpd_client base_client(void)
{
    struct smtpd_client c;
    memset(&c, 0, sizeof(c));
    c.addr = "192.0.2.10";
    c.port = "54321";
    c.name = "mail.client.test";
    c.reverse_name = "mail.client.test";
    c.name_status = 2;
    c.reverse_status = 2;
    c.server_addr = "192.0.2.1";
    c.server_port = "25";
    c.helo = "mail.client.test";
    c.protocol = "ESMTP";
    c.sender = "s@sender.test";
    c.recipient = "r@example.com";
    c.instance = "1234.5678.1";
    return c;
}

enum stage { CONNECT, HELO, MAIL, RCPT, DATA, EOD, ETRN, VRFY };

static int run(struct smtpd_check *chk, enum stage st,
               const struct smtpd_client *c, struct smtpd_check_result *res)
{
    switch (st) {
    case CONNECT:
        return smtpd_check_connect(chk, c, res);
    case HELO:
        return smtpd_check_helo(chk, c, res);
    case MAIL:
        return smtpd_check_mail(chk, c, res);
    case RCPT:
        return smtpd_check_rcpt(chk, c, res);
    case DATA:
        return smtpd_check_data(chk, c, res);
    case EOD:
        return smtpd_check_eod(chk, c, res);
    case ETRN:
        return smtpd_check_etrn(chk, c, res);
    case VRFY:
        return smtpd_check_vrfy(chk, c, res);
    }
    return -1;
}

static char *read_log(void)
{
    FILE *f = fopen(logpath, "r");
    static char text[65536];
    size_t n = 0;
    if (f) {
        n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
    }
    text[n] = 0;
    return text;
}

static void clear_log(void)
{
    FILE *f = fopen(logpath, "w");
    if (f)
        fclose(f);
}

/* NULL in a client field of a case means "as base_client"; "(null)" NULL. */
#define NUL "(null)"

struct ccase {
    const char *what;
    const char *params[8];
    enum stage stage;
    const char *addr, *name, *helo, *sender, *rcpt, *sasl, *ccert;
    int name_status;
    int pipelined;
    const char *want;     /* "" = OK */
    const char *want_log; /* fragment of the log, or NULL */
};

static const char *pick(const char *v, const char *def)
{
    if (!v)
        return def;
    return strcmp(v, NUL) == 0 ? NULL : v;
}

static void run_case(const struct ccase *cc)
{
    struct buf *err = buf_new(64);
    struct smtpd_check *chk = make_check(cc->params, err);
    struct smtpd_client c = base_client();
    struct smtpd_check_result res;

    if (!chk) {
        print_error("%s: smtpd_check_new failed: %s\n", cc->what, buf_str(err));
        failures++;
        buf_free(err);
        return;
    }
    c.addr = pick(cc->addr, c.addr);
    c.name = pick(cc->name, c.name);
    c.helo = pick(cc->helo, c.helo);
    c.sender = pick(cc->sender, c.sender);
    c.recipient = pick(cc->rcpt, c.recipient);
    c.sasl_username = pick(cc->sasl, NULL);
    if (c.sasl_username)
        c.sasl_method = "PLAIN";
    if (cc->name_status)
        c.name_status = c.reverse_status = cc->name_status;
    c.pipelined = cc->pipelined;
    c.ccert_fingerprint = pick(cc->ccert, NULL);
    if (cc->stage != RCPT && cc->stage != VRFY)
        c.recipient =
            cc->stage == DATA || cc->stage == EOD ? c.recipient : NULL;
    if (cc->stage == CONNECT || cc->stage == HELO)
        c.sender = NULL;
    if (cc->stage == ETRN)
        c.etrn_domain = "example.com";
    clear_log();
    smtpd_check_result_init(&res);
    int r = run(chk, cc->stage, &c, &res);
    const char *got = r == SMTPD_CHECK_REPLY ? buf_str(res.reply) : "";
    if (strcmp(got, cc->want) != 0) {
        print_error("%s: got \"%s\", want \"%s\"\n", cc->what, got, cc->want);
        failures++;
    }
    if (r == SMTPD_CHECK_OK && *cc->want) {
        print_error("%s: OK returned with a wanted reply\n", cc->what);
        failures++;
    }
    if (cc->want_log && !strstr(read_log(), cc->want_log)) {
        print_error("%s: log lacks \"%s\"; log:\n%s\n", cc->what, cc->want_log,
                    read_log());
        failures++;
    }
    smtpd_check_result_free(&res);
    smtpd_check_free(chk);
    buf_free(err);
}

static int group_setup(void **state)
{
    (void) state;
    assert_non_null(mkdtemp(tmpdir));
    snprintf(logpath, sizeof(logpath), "%s/maillog", tmpdir);
    msg_init("test_smtpd_check", 0);
    assert_int_equal(msg_set_logfile(logpath), 0);
    write_file("access.texthash", "bad.sender.test REJECT texthash says no\n"
                                  "good@sender.test OK\n");
    write_file("rbl_reply", "zen.test $rbl_code 5.7.9 $client listed at "
                            "$rbl_domain (${rbl_reason?$rbl_reason})\n");
    write_file("access.cidr", "192.0.2.0/24 REJECT cidr says no\n");
    write_file("access.regexp", "/^spam.*@/ 550 5.7.9 regexp says no\n");
    return 0;
}

static int group_teardown(void **state)
{
    (void) state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

#define P(...)                                                                 \
    {                                                                          \
        __VA_ARGS__, NULL                                                      \
    }

/* ---- relay control and address classes ---------------------------------- */

static void test_relay(void **state)
{
    (void) state;
    failures = 0;
    static const struct ccase cases[] = {
        {"relay denied, default defer_unauth_destination", P(NULL), RCPT,
         .rcpt = "x@other.test",
         .want = "450 4.7.1 <x@other.test>: Relay access denied",
         .want_log = "NOQUEUE: reject: RCPT from mail.client.test[192.0.2.10]: "
                     "450 4.7.1 <x@other.test>: Relay access denied; "
                     "from=<s@sender.test> to=<x@other.test> proto=ESMTP "
                     "helo=<mail.client.test>"},
        {"relay denied, reject_unauth_destination",
         P("smtpd_relay_restrictions=permit_mynetworks, "
           "permit_sasl_authenticated, reject_unauth_destination"),
         RCPT, .rcpt = "x@other.test",
         .want = "554 5.7.1 <x@other.test>: Relay access denied"},
        {"relay_domains_reject_code",
         P("smtpd_relay_restrictions=reject_unauth_destination",
           "relay_domains_reject_code=550"),
         RCPT, .rcpt = "x@other.test",
         .want = "550 5.7.1 <x@other.test>: Relay access denied"},
        {"mynetworks may relay", P(NULL), RCPT, .addr = "10.1.2.3",
         .rcpt = "x@other.test", .want = ""},
        {"ipv6 mynetworks", P(NULL), RCPT, .addr = "::1",
         .rcpt = "x@other.test", .want = ""},
        {"sasl may relay", P(NULL), RCPT, .sasl = "bob", .rcpt = "x@other.test",
         .want = ""},
        {"relay domain accepted", P(NULL), RCPT, .rcpt = "x@relay.test",
         .want = ""},
        {"relay subdomain accepted (parent_domain_matches_subdomains)", P(NULL),
         RCPT, .rcpt = "x@sub.relay.test", .want = ""},
        {"source routed relay denied", P(NULL), RCPT,
         .rcpt = "x%other.test@relay.test",
         .want = "450 4.7.1 <x%other.test@relay.test>: Relay access denied"},
        {"permit_auth_destination",
         P("smtpd_relay_restrictions=permit_auth_destination, reject"), RCPT,
         .rcpt = "r@example.com", .want = ""},
        {"permit_auth_destination then reject",
         P("smtpd_relay_restrictions=permit_auth_destination, reject"), RCPT,
         .rcpt = "x@other.test",
         .want = "554 5.7.1 <x@other.test>: Recipient address rejected: "
                 "Access denied"},
        {"local user known", P(NULL), RCPT, .rcpt = "alice@example.com",
         .want = ""},
        {"local user known with extension", P("recipient_delimiter=+"), RCPT,
         .rcpt = "alice+x@example.com", .want = ""},
        {"local user unknown", P(NULL), RCPT, .rcpt = "nobody@example.com",
         .want = "550 5.1.1 <nobody@example.com>: Recipient address rejected: "
                 "User unknown in local recipient table"},
        {"local user unknown, smtpd_reject_unlisted_recipient=no",
         P("smtpd_reject_unlisted_recipient=no"), RCPT,
         .rcpt = "nobody@example.com", .want = ""},
        {"local_recipient_maps empty accepts all", P("local_recipient_maps="),
         RCPT, .rcpt = "nobody@example.com", .want = ""},
        {"virtual alias known", P(NULL), RCPT, .rcpt = "va@valias.test",
         .want = ""},
        {"virtual alias unknown", P(NULL), RCPT, .rcpt = "x@valias.test",
         .want = "550 5.1.1 <x@valias.test>: Recipient address rejected: "
                 "User unknown in virtual alias table"},
        {"virtual mailbox known", P(NULL), RCPT, .rcpt = "vm@vmbox.test",
         .want = ""},
        {"virtual mailbox unknown", P(NULL), RCPT, .rcpt = "x@vmbox.test",
         .want = "550 5.1.1 <x@vmbox.test>: Recipient address rejected: "
                 "User unknown in virtual mailbox table"},
        {"relay recipient unknown",
         P("relay_recipient_maps=inline:{ {ok@relay.test = 1} }"), RCPT,
         .rcpt = "x@relay.test",
         .want = "550 5.1.1 <x@relay.test>: Recipient address rejected: "
                 "User unknown in relay recipient table"},
        {"relay recipient known",
         P("relay_recipient_maps=inline:{ {ok@relay.test = 1} }"), RCPT,
         .rcpt = "ok@relay.test", .want = ""},
        {"explicit reject_unlisted_recipient with code",
         P("smtpd_recipient_restrictions=reject_unlisted_recipient",
           "unknown_local_recipient_reject_code=450"),
         RCPT, .rcpt = "nobody@example.com",
         .want = "450 4.1.1 <nobody@example.com>: Recipient address rejected: "
                 "User unknown in local recipient table"},
        {"reject_unlisted_sender",
         P("smtpd_sender_restrictions=reject_unlisted_sender"), RCPT,
         .sender = "ghost@example.com",
         .want = "550 5.1.0 <ghost@example.com>: Sender address rejected: "
                 "User unknown in local recipient table"},
        {"VRFY unknown", P(NULL), VRFY, .rcpt = "nobody@example.com",
         .want = "550 5.1.1 <nobody@example.com>: Recipient address rejected: "
                 "User unknown in local recipient table"},
        {"VRFY known", P(NULL), VRFY, .rcpt = "alice@example.com", .want = ""},
    };
    for (size_t i = 0; i < NCASES(cases); i++)
        run_case(&cases[i]);
    assert_int_equal(failures, 0);
}

/* ---- access tables and every action ------------------------------------- */

static void test_access(void **state)
{
    (void) state;
    failures = 0;
    static const struct ccase cases[] = {
        {"client address REJECT",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = REJECT} }"),
         RCPT,
         .want =
             "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host rejected: Access denied"},
        {"client address prefix",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2 = REJECT net says no} }"),
         RCPT,
         .want =
             "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host rejected: net says no"},
        {"client name parent domain",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {client.test = REJECT go away} }"),
         RCPT,
         .want =
             "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host rejected: "
             "go away"},
        {"access_map_reject_code",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = REJECT} }",
           "access_map_reject_code=550"),
         RCPT,
         .want =
             "550 5.7.1 <mail.client.test[192.0.2.10]>: Client host rejected: Access denied"},
        {"DEFER",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = DEFER} }"),
         RCPT,
         .want =
             "450 4.7.1 <mail.client.test[192.0.2.10]>: Client host rejected: Access denied"},
        {"REJECT with dsn",
         P("smtpd_sender_restrictions=check_sender_access "
           "inline:{ {s@sender.test = REJECT 5.7.0 not you} }"),
         RCPT,
         .want = "554 5.7.0 <s@sender.test>: Sender address rejected: not you"},
        {"5NN text",
         P("smtpd_recipient_restrictions=check_recipient_access "
           "inline:{ {r@example.com = 550 5.2.2 mailbox full} }"),
         RCPT,
         .want = "550 5.2.2 <r@example.com>: Recipient address rejected: "
                 "mailbox full"},
        {"4NN text without dsn",
         P("smtpd_recipient_restrictions=check_recipient_access "
           "inline:{ {r@example.com = 421 later} }"),
         RCPT,
         .want = "421 4.7.1 <r@example.com>: Recipient address rejected: "
                 "later"},
        {"OK ends the list",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = OK} }, reject"),
         RCPT, .want = ""},
        {"numeric result is OK",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = 1234} }, reject"),
         RCPT, .want = ""},
        {"DUNNO goes on",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = DUNNO} }, reject"),
         RCPT,
         .want = "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host "
                 "rejected: Access denied"},
        {"DEFER_IF_PERMIT then permit",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = DEFER_IF_PERMIT try later} }, permit"),
         RCPT,
         .want =
             "450 4.7.1 <mail.client.test[192.0.2.10]>: Client host rejected: try later"},
        {"DEFER_IF_PERMIT then reject",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = DEFER_IF_PERMIT try later} }, reject"),
         RCPT,
         .want = "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host "
                 "rejected: Access denied"},
        {"DEFER_IF_REJECT then reject",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = DEFER_IF_REJECT} }, reject"),
         RCPT,
         .want = "450 4.7.1 <mail.client.test[192.0.2.10]>: Client host "
                 "rejected: Access denied"},
        {"DEFER_IF_REJECT then permit",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = DEFER_IF_REJECT} }, permit"),
         RCPT, .want = ""},
        {"helo access",
         P("smtpd_helo_restrictions=check_helo_access "
           "inline:{ {mail.client.test = REJECT bad helo} }"),
         RCPT,
         .want = "554 5.7.1 <mail.client.test>: Helo command rejected: "
                 "bad helo"},
        {"sender access by domain",
         P("smtpd_sender_restrictions=check_sender_access "
           "inline:{ {sender.test = REJECT} }"),
         RCPT,
         .want = "554 5.7.1 <s@sender.test>: Sender address rejected: "
                 "Access denied"},
        {"null sender key",
         P("smtpd_sender_restrictions=check_sender_access "
           "inline:{ {<> = REJECT no bounces} }"),
         RCPT, .sender = "",
         .want = "554 5.7.1 <<>>: Sender address rejected: no bounces"},
        {"recipient access by user@",
         P("smtpd_recipient_restrictions=check_recipient_access "
           "inline:{ {r@ = REJECT} }"),
         RCPT,
         .want = "554 5.7.1 <r@example.com>: Recipient address rejected: "
                 "Access denied"},
        {"reverse client hostname access",
         P("smtpd_client_restrictions=check_reverse_client_hostname_access "
           "inline:{ {mail.client.test = REJECT rev} }"),
         RCPT,
         .want =
             "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host rejected: "
             "rev"},
        {"texthash file",
         P("smtpd_sender_restrictions=check_sender_access "
           "texthash:${queue_directory}/access.texthash"),
         RCPT, .sender = "x@bad.sender.test",
         .want = "554 5.7.1 <x@bad.sender.test>: Sender address rejected: "
                 "texthash says no"},
        {"cidr file",
         P("smtpd_client_restrictions=check_client_access "
           "cidr:${queue_directory}/access.cidr"),
         RCPT,
         .want =
             "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host rejected: cidr says no"},
        {"regexp file",
         P("smtpd_recipient_restrictions=check_recipient_access "
           "regexp:${queue_directory}/access.regexp"),
         RCPT, .rcpt = "spammer@example.com",
         .want = "550 5.7.9 <spammer@example.com>: Recipient address "
                 "rejected: regexp says no"},
        {"table failure is 451 4.3.5",
         P("smtpd_client_restrictions=check_client_access "
           "texthash:/nonexistent/table"),
         RCPT, .want = "451 4.3.5 Server configuration error"},
        {"nested restriction list in table",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = reject_non_fqdn_helo_hostname, permit} },"
           " reject"),
         RCPT, .helo = "nodots",
         .want = "504 5.5.2 <nodots>: Helo command rejected: need "
                 "fully-qualified hostname"},
        {"nested list permits",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = reject_non_fqdn_helo_hostname, permit} },"
           " reject"),
         RCPT, .want = ""},
        {"restriction class",
         P("smtpd_restriction_classes=strict",
           "strict=check_sender_access inline:{ {s@sender.test = OK} }, reject",
           "smtpd_recipient_restrictions=check_recipient_access "
           "inline:{ {r@example.com = strict} }"),
         RCPT, .want = ""},
        {"restriction class rejects",
         P("smtpd_restriction_classes=strict",
           "strict=check_sender_access inline:{ {s@sender.test = OK} }, reject",
           "smtpd_recipient_restrictions=check_recipient_access "
           "inline:{ {r@example.com = strict} }"),
         RCPT, .sender = "other@sender.test",
         .want = "554 5.7.1 <r@example.com>: Recipient address rejected: "
                 "Access denied"},
        {"class used directly in a list",
         P("smtpd_restriction_classes=strict", "strict=reject",
           "smtpd_sender_restrictions=strict"),
         RCPT,
         .want = "554 5.7.1 <s@sender.test>: Sender address rejected: "
                 "Access denied"},
        {"unknown action in table",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = FROBNICATE} }"),
         RCPT, .want = "451 4.3.5 Server configuration error"},
        {"WARN logs and goes on",
         P("smtpd_client_restrictions=check_client_access "
           "inline:{ {192.0.2.10 = WARN watch this} }"),
         RCPT, .want = "",
         .want_log = "NOQUEUE: warn: RCPT from mail.client.test[192.0.2.10]: "
                     "<mail.client.test[192.0.2.10]>: Client host watch this;"},
        {"warn_if_reject", P("smtpd_client_restrictions=warn_if_reject reject"),
         RCPT, .want = "",
         .want_log = "NOQUEUE: reject_warning: RCPT from "
                     "mail.client.test[192.0.2.10]: 554 5.7.1 "
                     "<mail.client.test[192.0.2.10]>: Client host rejected: "
                     "Access denied;"},
    };
    for (size_t i = 0; i < NCASES(cases); i++)
        run_case(&cases[i]);
    assert_int_equal(failures, 0);
}

static void test_actions(void **state)
{
    (void) state;
    failures = 0;
    struct buf *err = buf_new(64);
    const char *params[] = {
        "smtpd_recipient_restrictions=check_recipient_access inline:{ "
        "{h@example.com = HOLD}, {d@example.com = DISCARD spam}, "
        "{rd@example.com = REDIRECT other@example.net}, "
        "{f@example.com = FILTER smtp:[10.0.0.1]:10025}, "
        "{p@example.com = PREPEND X-Tag: yes} }",
        "local_recipient_maps=", NULL};
    struct smtpd_check *chk = make_check(params, err);
    assert_non_null(chk);
    struct smtpd_client c = base_client();
    struct smtpd_check_result res;
    smtpd_check_result_init(&res);
    const struct smtpd_check_actions *a = smtpd_check_actions(chk);

    clear_log();
    const char *rcpts[] = {"h@example.com", "d@example.com", "rd@example.com",
                           "f@example.com", "p@example.com"};
    for (size_t i = 0; i < NCASES(rcpts); i++) {
        c.recipient = rcpts[i];
        assert_int_equal(smtpd_check_rcpt(chk, &c, &res), SMTPD_CHECK_OK);
    }
    assert_string_equal(buf_str(a->hold),
                        "<h@example.com>: Recipient address triggers HOLD "
                        "action");
    assert_string_equal(buf_str(a->discard),
                        "<d@example.com>: Recipient address spam");
    assert_string_equal(buf_str(a->redirect), "other@example.net");
    assert_string_equal(buf_str(a->filter), "smtp:[10.0.0.1]:10025");
    assert_string_equal(buf_str(a->prepend), "X-Tag: yes\n");
    const char *log = read_log();
    assert_non_null(strstr(log, "NOQUEUE: hold: RCPT from "
                                "mail.client.test[192.0.2.10]: "
                                "<h@example.com>: Recipient address triggers "
                                "HOLD action; from=<s@sender.test> "
                                "to=<h@example.com> proto=ESMTP "
                                "helo=<mail.client.test>"));
    assert_non_null(strstr(log, "NOQUEUE: redirect: RCPT from "
                                "mail.client.test[192.0.2.10]: "
                                "<rd@example.com>: Recipient address triggers "
                                "REDIRECT other@example.net;"));
    assert_non_null(strstr(log, "NOQUEUE: filter: RCPT"));
    assert_non_null(strstr(log, "NOQUEUE: discard: RCPT"));
    smtpd_check_reset(chk);
    assert_int_equal(buf_len(a->hold), 0);
    assert_int_equal(buf_len(a->prepend), 0);
    smtpd_check_result_free(&res);
    smtpd_check_free(chk);
    buf_free(err);
}

/* ---- delay_reject ------------------------------------------------------- */

static void test_delay_reject(void **state)
{
    (void) state;
    failures = 0;
    static const struct ccase cases[] = {
        {"delay yes: connect passes", P("smtpd_client_restrictions=reject"),
         CONNECT, .want = ""},
        {"delay yes: helo passes", P("smtpd_helo_restrictions=reject"), HELO,
         .want = ""},
        {"delay yes: mail passes", P("smtpd_sender_restrictions=reject"), MAIL,
         .want = ""},
        {"delay yes: client reject at RCPT",
         P("smtpd_client_restrictions=reject"), RCPT,
         .want = "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host "
                 "rejected: Access denied",
         .want_log = "NOQUEUE: reject: RCPT from mail.client.test[192.0.2.10]: "
                     "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host "
                     "rejected: Access denied; from=<s@sender.test> "
                     "to=<r@example.com> proto=ESMTP helo=<mail.client.test>"},
        {"delay no: connect rejects",
         P("smtpd_client_restrictions=reject", "smtpd_delay_reject=no"),
         CONNECT,
         .want = "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host "
                 "rejected: Access denied",
         .want_log = "NOQUEUE: reject: CONNECT from "
                     "mail.client.test[192.0.2.10]: 554 5.7.1 "
                     "<mail.client.test[192.0.2.10]>: Client host rejected: "
                     "Access denied; proto=ESMTP"},
        {"delay no: helo rejects",
         P("smtpd_helo_restrictions=reject_invalid_helo_hostname",
           "smtpd_delay_reject=no"),
         HELO, .helo = "bad..name",
         .want = "501 5.5.2 <bad..name>: Helo command rejected: Invalid name",
         .want_log = "reject: EHLO from"},
        {"delay no: mail rejects",
         P("smtpd_sender_restrictions=reject_non_fqdn_sender",
           "smtpd_delay_reject=no"),
         MAIL, .sender = "user@localhost",
         .want = "504 5.5.2 <user@localhost>: Sender address rejected: need "
                 "fully-qualified address"},
        {"data restrictions",
         P("smtpd_data_restrictions=reject_unauth_pipelining"), DATA,
         .pipelined = 1,
         .want =
             "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP "
             "command pipelining"},
        {"data restrictions, no pipelining",
         P("smtpd_data_restrictions=reject_unauth_pipelining"), DATA,
         .want = ""},
        {"data reject", P("smtpd_data_restrictions=reject"), DATA,
         .want = "554 5.7.1 <DATA>: Data command rejected: Access denied"},
        {"end of data reject", P("smtpd_end_of_data_restrictions=defer"), EOD,
         .want = "450 4.7.1 <END-OF-MESSAGE>: End-of-data rejected: Try "
                 "again later"},
        {"etrn reject", P("smtpd_etrn_restrictions=permit_mynetworks, reject"),
         ETRN,
         .want = "554 5.7.1 <example.com>: Etrn command rejected: Access "
                 "denied"},
    };
    for (size_t i = 0; i < NCASES(cases); i++)
        run_case(&cases[i]);
    assert_int_equal(failures, 0);
}

/* Saved results: the client list runs once per session, sender per mail. */
static void test_saved_results(void **state)
{
    (void) state;
    failures = 0;
    struct buf *err = buf_new(64);
    const char *params[] = {"smtpd_sender_restrictions=check_sender_access "
                            "inline:{ {bad@sender.test = REJECT} }",
                            NULL};
    struct smtpd_check *chk = make_check(params, err);
    assert_non_null(chk);
    struct smtpd_client c = base_client();
    struct smtpd_check_result res;
    smtpd_check_result_init(&res);

    c.sender = "bad@sender.test";
    assert_int_equal(smtpd_check_rcpt(chk, &c, &res), SMTPD_CHECK_REPLY);
    smtpd_check_reset(chk);
    c.sender = "good@sender.test";
    assert_int_equal(smtpd_check_rcpt(chk, &c, &res), SMTPD_CHECK_OK);
    smtpd_check_new_session(chk);
    c.sender = "bad@sender.test";
    assert_int_equal(smtpd_check_rcpt(chk, &c, &res), SMTPD_CHECK_REPLY);
    smtpd_check_result_free(&res);
    smtpd_check_free(chk);
    buf_free(err);
}

/* ---- HELO, address syntax, DNS ------------------------------------------ */

static void test_names(void **state)
{
    (void) state;
    failures = 0;
    static const struct ccase cases[] = {
        {"invalid helo",
         P("smtpd_helo_restrictions=reject_invalid_helo_hostname"), RCPT,
         .helo = "bad_name!",
         .want = "501 5.5.2 <bad_name!>: Helo command rejected: Invalid name"},
        {"valid helo literal",
         P("smtpd_helo_restrictions=reject_invalid_helo_hostname, "
           "reject_non_fqdn_helo_hostname"),
         RCPT, .helo = "[192.0.2.10]", .want = ""},
        {"invalid helo literal",
         P("smtpd_helo_restrictions=reject_invalid_helo_hostname"), RCPT,
         .helo = "[300.1.1.1]",
         .want = "501 5.5.2 <[300.1.1.1]>: Helo command rejected: Invalid "
                 "name"},
        {"non-fqdn helo",
         P("smtpd_helo_restrictions=reject_non_fqdn_helo_hostname"), RCPT,
         .helo = "localhost",
         .want = "504 5.5.2 <localhost>: Helo command rejected: need "
                 "fully-qualified hostname"},
        {"non-fqdn recipient",
         P("smtpd_recipient_restrictions=reject_non_fqdn_recipient"), RCPT,
         .rcpt = "r",
         .want = "504 5.5.2 <r>: Recipient address rejected: need "
                 "fully-qualified address"},
        {"non_fqdn_reject_code",
         P("smtpd_sender_restrictions=reject_non_fqdn_sender",
           "non_fqdn_reject_code=550"),
         RCPT, .sender = "me@host",
         .want = "550 5.5.2 <me@host>: Sender address rejected: need "
                 "fully-qualified address"},
        {"null sender is fqdn enough",
         P("smtpd_sender_restrictions=reject_non_fqdn_sender, "
           "reject_unknown_sender_domain"),
         RCPT, .sender = "", .want = ""},
        {"unknown helo hostname",
         P("smtpd_helo_restrictions=reject_unknown_helo_hostname"), RCPT,
         .helo = "nowhere.test",
         .want = "450 4.7.1 <nowhere.test>: Helo command rejected: Host not "
                 "found"},
        {"known helo hostname",
         P("smtpd_helo_restrictions=reject_unknown_helo_hostname"), RCPT,
         .want = ""},
        {"helo temp failure: defer_if_permit",
         P("smtpd_helo_restrictions=reject_unknown_helo_hostname"), RCPT,
         .helo = "tempfail.test",
         .want = "450 4.7.1 <tempfail.test>: Helo command rejected: Host not "
                 "found"},
        {"helo temp failure then reject stays reject",
         P("smtpd_helo_restrictions=reject_unknown_helo_hostname, reject"),
         RCPT, .helo = "tempfail.test",
         .want = "554 5.7.1 <tempfail.test>: Helo command rejected: Access "
                 "denied"},
        {"unknown sender domain",
         P("smtpd_sender_restrictions=reject_unknown_sender_domain"), RCPT,
         .sender = "x@nowhere.test",
         .want = "450 4.1.8 <x@nowhere.test>: Sender address rejected: Domain "
                 "not found"},
        {"unknown sender domain, code 550",
         P("smtpd_sender_restrictions=reject_unknown_sender_domain",
           "unknown_address_reject_code=550"),
         RCPT, .sender = "x@nowhere.test",
         .want = "550 5.1.8 <x@nowhere.test>: Sender address rejected: Domain "
                 "not found"},
        {"local recipient domain needs no DNS",
         P("smtpd_recipient_restrictions=reject_unknown_recipient_domain"),
         RCPT, .addr = "10.0.0.1", .rcpt = "alice@example.com", .want = "",
         .want_log = NULL},
        {"virtual sender domain needs no DNS",
         P("smtpd_sender_restrictions=reject_unknown_sender_domain"), RCPT,
         .sender = "vm@vmbox.test", .want = ""},
        {"client port logging",
         P("smtpd_client_restrictions=reject", "smtpd_client_port_logging=yes"),
         RCPT,
         .want = "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host "
                 "rejected: Access denied",
         .want_log = "reject: RCPT from mail.client.test[192.0.2.10]:54321: "},
        {"unknown recipient domain",
         P("smtpd_recipient_restrictions=reject_unknown_recipient_domain"),
         RCPT, .addr = "10.0.0.1", .rcpt = "x@nowhere.test",
         .want = "450 4.1.2 <x@nowhere.test>: Recipient address rejected: "
                 "Domain not found"},
        {"unknown client hostname",
         P("smtpd_client_restrictions=reject_unknown_client_hostname"), RCPT,
         .name = "unknown", .name_status = 5,
         .want = "450 4.7.25 Client host rejected: cannot find your hostname, "
                 "[192.0.2.10]"},
        {"unknown client hostname code 550",
         P("smtpd_client_restrictions=reject_unknown_client_hostname",
           "unknown_client_reject_code=550"),
         RCPT, .name = "unknown", .name_status = 5,
         .want = "550 5.7.25 Client host rejected: cannot find your hostname, "
                 "[192.0.2.10]"},
        {"unknown reverse hostname",
         P("smtpd_client_restrictions=reject_unknown_reverse_client_hostname"),
         RCPT, .name = "unknown", .name_status = 5,
         .want = "450 4.7.25 Client host rejected: cannot find your reverse "
                 "hostname, [192.0.2.10]"},
        {"client hostname temp failure",
         P("smtpd_client_restrictions=reject_unknown_client_hostname"), RCPT,
         .name = "unknown", .name_status = 4,
         .want = "450 4.7.25 Client host rejected: cannot find your hostname, "
                 "[192.0.2.10]"},
        {"known client hostname",
         P("smtpd_client_restrictions=reject_unknown_client_hostname"), RCPT,
         .want = ""},
        {"permit_tls_clientcerts",
         P("smtpd_relay_restrictions=permit_tls_clientcerts, "
           "reject_unauth_destination",
           "relay_clientcerts=inline:{ {AA:BB = client one} }"),
         RCPT, .ccert = "AA:BB", .rcpt = "x@other.test", .want = ""},
        {"permit_tls_clientcerts, unknown cert",
         P("smtpd_relay_restrictions=permit_tls_clientcerts, "
           "reject_unauth_destination",
           "relay_clientcerts=inline:{ {AA:BB = client one} }"),
         RCPT, .ccert = "CC:DD", .rcpt = "x@other.test",
         .want = "554 5.7.1 <x@other.test>: Relay access denied"},
        {"permit_tls_all_clientcerts",
         P("smtpd_relay_restrictions=permit_tls_all_clientcerts, "
           "reject_unauth_destination"),
         RCPT, .ccert = "CC:DD", .rcpt = "x@other.test", .want = ""},
        {"check_ccert_access",
         P("smtpd_client_restrictions=check_ccert_access "
           "inline:{ {CC:DD = REJECT revoked} }"),
         RCPT, .ccert = "CC:DD",
         .want = "554 5.7.1 <CC:DD>: Client certificate rejected: revoked"},
        {"check_sasl_access",
         P("smtpd_recipient_restrictions=check_sasl_access "
           "inline:{ {bob = REJECT suspended} }"),
         RCPT, .sasl = "bob",
         .want = "554 5.7.1 <bob>: SASL login name rejected: suspended"},
        {"check_etrn_access",
         P("smtpd_etrn_restrictions=check_etrn_access "
           "inline:{ {example.com = REJECT no flush} }"),
         ETRN,
         .want = "554 5.7.1 <example.com>: Etrn command rejected: no flush"},
        {"unauth pipelining at RCPT",
         P("smtpd_recipient_restrictions=reject_unauth_pipelining"), RCPT,
         .pipelined = 1,
         .want =
             "503 5.5.0 <r@example.com>: Recipient address rejected: Improper "
             "use of SMTP command pipelining"},
    };
    for (size_t i = 0; i < NCASES(cases); i++)
        run_case(&cases[i]);
    assert_int_equal(failures, 0);
}

static void test_rbl(void **state)
{
    (void) state;
    failures = 0;
    static const struct ccase cases[] = {
        {"rbl client listed",
         P("smtpd_client_restrictions=reject_rbl_client zen.test"), RCPT,
         .want = "554 5.7.1 Service unavailable; Client host [192.0.2.10] "
                 "blocked using zen.test; listed for spam"},
        {"rbl client filter matches",
         P("smtpd_client_restrictions=reject_rbl_client zen.test=127.0.0.2"),
         RCPT,
         .want = "554 5.7.1 Service unavailable; Client host [192.0.2.10] "
                 "blocked using zen.test; listed for spam"},
        {"rbl client filter range",
         P("smtpd_client_restrictions=reject_rbl_client "
           "zen.test=127.0.0.[1..3]"),
         RCPT,
         .want = "554 5.7.1 Service unavailable; Client host [192.0.2.10] "
                 "blocked using zen.test; listed for spam"},
        {"rbl client filter does not match",
         P("smtpd_client_restrictions=reject_rbl_client zen.test=127.0.0.3"),
         RCPT, .want = ""},
        {"rbl client not listed",
         P("smtpd_client_restrictions=reject_rbl_client zen.test"), RCPT,
         .addr = "192.0.2.11", .want = ""},
        {"rbl ipv6 client listed",
         P("smtpd_client_restrictions=reject_rbl_client zen.test"), RCPT,
         .addr = "2001:db8::1",
         .want = "554 5.7.1 Service unavailable; Client host [2001:db8::1] "
                 "blocked using zen.test"},
        {"maps_rbl_reject_code",
         P("smtpd_client_restrictions=reject_rbl_client zen.test",
           "maps_rbl_reject_code=550"),
         RCPT,
         .want = "550 5.7.1 Service unavailable; Client host [192.0.2.10] "
                 "blocked using zen.test; listed for spam"},
        {"rbl_reply_maps",
         P("smtpd_client_restrictions=reject_rbl_client zen.test",
           "rbl_reply_maps=texthash:${queue_directory}/rbl_reply"),
         RCPT,
         .want = "554 5.7.9 mail.client.test[192.0.2.10] listed at zen.test "
                 "(listed for spam)"},
        {"dnswl permits",
         P("smtpd_client_restrictions=permit_dnswl_client dnswl.test, reject"),
         RCPT, .want = ""},
        {"dnswl not listed",
         P("smtpd_client_restrictions=permit_dnswl_client dnswl.test, reject"),
         RCPT, .addr = "192.0.2.11",
         .want = "554 5.7.1 <mail.client.test[192.0.2.11]>: Client host "
                 "rejected: Access denied"},
        {"rhsbl sender",
         P("smtpd_sender_restrictions=reject_rhsbl_sender dbl.test"), RCPT,
         .want = "554 5.7.1 Service unavailable; Sender address "
                 "[sender.test] blocked using dbl.test"},
        {"rhsbl client",
         P("smtpd_client_restrictions=reject_rhsbl_client dbl.test"), RCPT,
         .name = "sender.test",
         .want = "554 5.7.1 Service unavailable; Client host [sender.test] "
                 "blocked using dbl.test"},
        {"rhsbl client: unknown name is not looked up",
         P("smtpd_client_restrictions=reject_rhsbl_client dbl.test"), RCPT,
         .name = "unknown", .want = ""},
        {"rhsbl helo", P("smtpd_helo_restrictions=reject_rhsbl_helo dbl.test"),
         RCPT, .helo = "sender.test",
         .want = "554 5.7.1 Service unavailable; Helo command [sender.test] "
                 "blocked using dbl.test"},
    };
    for (size_t i = 0; i < NCASES(cases); i++)
        run_case(&cases[i]);
    assert_int_equal(failures, 0);
}

/* ---- check_*_a_access, check_*_mx_access, check_*_ns_access ------------ */

static void test_server_access(void **state)
{
    (void) state;
    failures = 0;
    static const struct ccase cases[] = {
        {"sender MX host by name",
         P("smtpd_sender_restrictions=check_sender_mx_access "
           "inline:{ {mx1.spamhost.test = REJECT spammy MX} }"),
         RCPT, .sender = "s@spam.test",
         .want = "554 5.7.1 <s@spam.test>: Sender address rejected: spammy MX"},
        {"sender MX host by address, second MX, parent domain",
         P("smtpd_sender_restrictions=check_sender_mx_access "
           "inline:{ {198.51.100.2 = 550 second MX} }"),
         RCPT, .sender = "s@spam.test",
         .want = "550 5.7.1 <s@spam.test>: Sender address rejected: second "
                 "MX"},
        {"sender MX host by domain name match",
         P("smtpd_sender_restrictions=check_sender_mx_access "
           "inline:{ {spamhost.test = REJECT} }"),
         RCPT, .sender = "s@spam.test",
         .want = "554 5.7.1 <s@spam.test>: Sender address rejected: Access "
                 "denied"},
        {"no MX: the domain itself is the MX host",
         P("smtpd_sender_restrictions=check_sender_mx_access "
           "inline:{ {192.0.2.50 = REJECT no MX} }"),
         RCPT, .sender = "s@sender.test",
         .want = "554 5.7.1 <s@sender.test>: Sender address rejected: no MX"},
        {"MX not listed",
         P("smtpd_sender_restrictions=check_sender_mx_access "
           "inline:{ {other.test = REJECT} }"),
         RCPT, .sender = "s@spam.test", .want = ""},
        {"null MX names no host",
         P("smtpd_sender_restrictions=check_sender_mx_access "
           "inline:{ {nullmx.test = REJECT} }"),
         RCPT, .sender = "s@nullmx.test", .want = ""},
        {"OK is not allowed",
         P("smtpd_sender_restrictions=check_sender_mx_access "
           "inline:{ {mx1.spamhost.test = OK} }, reject"),
         RCPT, .sender = "s@spam.test",
         .want = "554 5.7.1 <s@spam.test>: Sender address rejected: Access "
                 "denied",
         .want_log = "with check_sender_mx_access specified, action OK is "
                     "unavailable"},
        {"MX lookup failure: defer_if_reject",
         P("smtpd_sender_restrictions=check_sender_mx_access "
           "inline:{ {x.test = REJECT} }, reject"),
         RCPT, .sender = "s@tempfail.test",
         .want = "450 4.7.1 <s@tempfail.test>: Sender address rejected: "
                 "Access denied",
         .want_log = "unable to look up MX host for tempfail.test"},
        {"MX lookup failure alone: no reject",
         P("smtpd_sender_restrictions=check_sender_mx_access "
           "inline:{ {x.test = REJECT} }"),
         RCPT, .sender = "s@tempfail.test", .want = ""},
        {"sender A record in a cidr table",
         P("smtpd_sender_restrictions=check_sender_a_access "
           "cidr:${queue_directory}/access.cidr"),
         RCPT, .sender = "s@sender.test",
         .want = "554 5.7.1 <s@sender.test>: Sender address rejected: cidr "
                 "says no"},
        {"null sender: nothing to look up",
         P("smtpd_sender_restrictions=check_sender_a_access "
           "cidr:${queue_directory}/access.cidr"),
         RCPT, .sender = "", .want = ""},
        {"recipient name server of a parent domain",
         P("smtpd_recipient_restrictions=check_recipient_ns_access "
           "inline:{ {bad-ns.test = REJECT bad name server} }"),
         RCPT, .addr = "10.0.0.1", .rcpt = "r@sub.ns.test",
         .want = "554 5.7.1 <r@sub.ns.test>: Recipient address rejected: bad "
                 "name server"},
        {"recipient name server address",
         P("smtpd_recipient_restrictions=check_recipient_ns_access "
           "inline:{ {203.0.113.5 = DEFER ns address} }"),
         RCPT, .addr = "10.0.0.1", .rcpt = "r@ns.test",
         .want = "450 4.7.1 <r@ns.test>: Recipient address rejected: ns "
                 "address"},
        {"recipient MX, IPv6 address",
         P("smtpd_recipient_restrictions=check_recipient_mx_access "
           "inline:{ {2001:db8::2 = REJECT v6} }"),
         RCPT, .addr = "10.0.0.1", .rcpt = "r@spam.test",
         .want = "554 5.7.1 <r@spam.test>: Recipient address rejected: v6"},
        {"helo A record",
         P("smtpd_helo_restrictions=check_helo_a_access "
           "inline:{ {198.51.100.1 = REJECT helo address} }"),
         RCPT, .helo = "mx1.spamhost.test",
         .want = "554 5.7.1 <mx1.spamhost.test>: Helo command rejected: helo "
                 "address"},
        {"helo literal is not looked up",
         P("smtpd_helo_restrictions=check_helo_a_access "
           "inline:{ {198.51.100.1 = REJECT helo address} }"),
         RCPT, .helo = "[198.51.100.1]", .want = ""},
        {"client MX host",
         P("smtpd_client_restrictions=check_client_mx_access "
           "inline:{ {mx2.spamhost.test = 450 try later} }"),
         RCPT, .name = "spam.test",
         .want = "450 4.7.1 <spam.test[192.0.2.10]>: Client host rejected: "
                 "try later"},
        {"client NS, unknown client name",
         P("smtpd_client_restrictions=check_client_ns_access "
           "inline:{ {bad-ns.test = REJECT} }"),
         RCPT, .name = "unknown", .want = ""},
        {"client A record",
         P("smtpd_client_restrictions=check_client_a_access "
           "inline:{ {192.0.2.50 = REJECT reverse} }"),
         RCPT, .name = "sender.test",
         .want = "554 5.7.1 <sender.test[192.0.2.10]>: Client host rejected: "
                 "reverse"},
        {"a number is OK too: not allowed",
         P("smtpd_sender_restrictions=check_sender_mx_access "
           "inline:{ {mx1.spamhost.test = 1234} }, reject"),
         RCPT, .sender = "s@spam.test",
         .want = "554 5.7.1 <s@spam.test>: Sender address rejected: Access "
                 "denied",
         .want_log = "action 1234 is unavailable"},
        {"an action other than OK: a restriction list",
         P("smtpd_sender_restrictions=check_sender_mx_access "
           "inline:{ {mx1.spamhost.test = reject_unknown_sender_domain} }"),
         RCPT, .sender = "s@spam.test",
         .want = "450 4.1.8 <s@spam.test>: Sender address rejected: Domain "
                 "not found"},
    };
    for (size_t i = 0; i < NCASES(cases); i++)
        run_case(&cases[i]);
    assert_int_equal(failures, 0);
}

static void test_mx_backup(void **state)
{
    (void) state;
    failures = 0;
#define MXB                                                                    \
    "smtpd_relay_restrictions=permit_mx_backup, reject_unauth_destination"
    static const struct ccase cases[] = {
        {"backup MX by our host name", P(MXB), RCPT, .rcpt = "r@backup.test",
         .want = ""},
        {"backup MX by our address (::1, loopback-only)", P(MXB), RCPT,
         .rcpt = "r@loop.test", .want = ""},
        {"primary MX: not a backup", P(MXB), RCPT, .rcpt = "r@weprimary.test",
         .want = "554 5.7.1 <r@weprimary.test>: Relay access denied"},
        {"not an MX host", P(MXB), RCPT, .rcpt = "r@notus.test",
         .want = "554 5.7.1 <r@notus.test>: Relay access denied"},
        {"no MX record", P(MXB), RCPT, .rcpt = "r@sender.test",
         .want = "554 5.7.1 <r@sender.test>: Relay access denied"},
        {"authorized destination", P(MXB), RCPT, .rcpt = "r@relay.test",
         .want = ""},
        {"sender-specified routing", P(MXB), RCPT, .rcpt = "r%x@backup.test",
         .want = "554 5.7.1 <r%x@backup.test>: Relay access denied"},
        {"primary in permit_mx_backup_networks",
         P(MXB, "permit_mx_backup_networks=198.51.100.0/24"), RCPT,
         .rcpt = "r@backup.test", .want = ""},
        {"primary outside permit_mx_backup_networks",
         P(MXB, "permit_mx_backup_networks=203.0.113.0/24"), RCPT,
         .rcpt = "r@backup.test",
         .want = "554 5.7.1 <r@backup.test>: Relay access denied"},
        {"every better MX must be in the networks",
         P(MXB, "permit_mx_backup_networks=198.51.100.0/24"), RCPT,
         .rcpt = "r@loop.test",
         .want = "554 5.7.1 <r@loop.test>: Relay access denied"},
        {"every better MX is in the networks",
         P(MXB, "permit_mx_backup_networks=198.51.100.0/24, [2001:db8::]/32"),
         RCPT, .rcpt = "r@loop.test", .want = ""},
        {"MX lookup failure: defer_if_reject", P(MXB), RCPT,
         .rcpt = "r@tempfail.test",
         .want = "450 4.7.1 <r@tempfail.test>: Relay access denied",
         .want_log = "unable to look up MX host for tempfail.test"},
    };
#undef MXB
    for (size_t i = 0; i < NCASES(cases); i++)
        run_case(&cases[i]);
    assert_int_equal(failures, 0);
}

/* A DNS table without the records function: every lookup fails for now. */
static void test_server_access_without_records(void **state)
{
    (void) state;
    static const struct smtpd_check_dns old_dns = {fake_host_or_mx, fake_rbl,
                                                   NULL};
    const char *params[] = {"smtpd_sender_restrictions=check_sender_mx_access "
                            "inline:{ {spamhost.test = REJECT} }, reject",
                            NULL};
    struct buf *err = buf_new(64);
    struct smtpd_check *chk = make_check(params, err);
    assert_non_null(chk);
    smtpd_check_set_dns(chk, &old_dns);
    struct smtpd_client c = base_client();
    c.sender = "s@spam.test";
    struct smtpd_check_result res;
    smtpd_check_result_init(&res);
    clear_log();
    assert_int_equal(smtpd_check_rcpt(chk, &c, &res), SMTPD_CHECK_REPLY);
    assert_string_equal(buf_str(res.reply),
                        "450 4.7.1 <s@spam.test>: Sender address rejected: "
                        "Access denied");
    assert_non_null(strstr(read_log(), "unable to look up DNS records"));
    smtpd_check_result_free(&res);
    smtpd_check_free(chk);
    buf_free(err);
}

static void test_login(void **state)
{
    (void) state;
    failures = 0;
#define LOGIN "smtpd_sender_login_maps=inline:{ {s@sender.test = bob, carol} }"
    static const struct ccase cases[] = {
        {"owner logged in",
         P(LOGIN, "smtpd_sender_restrictions=reject_sender_login_mismatch"),
         RCPT, .sasl = "carol", .want = ""},
        {"other user",
         P(LOGIN, "smtpd_sender_restrictions=reject_sender_login_mismatch"),
         RCPT, .sasl = "eve",
         .want = "553 5.7.1 <s@sender.test>: Sender address rejected: not "
                 "owned by user eve"},
        {"not logged in",
         P(LOGIN, "smtpd_sender_restrictions=reject_sender_login_mismatch"),
         RCPT,
         .want = "553 5.7.1 <s@sender.test>: Sender address rejected: not "
                 "logged in"},
        {"unowned address, logged in",
         P(LOGIN, "smtpd_sender_restrictions=reject_sender_login_mismatch"),
         RCPT, .sasl = "bob", .sender = "free@sender.test",
         .want = "553 5.7.1 <free@sender.test>: Sender address rejected: not "
                 "owned by user bob"},
        {"unowned address, not logged in",
         P(LOGIN, "smtpd_sender_restrictions=reject_sender_login_mismatch"),
         RCPT, .sender = "free@sender.test", .want = ""},
        {"authenticated variant ignores anonymous",
         P(LOGIN, "smtpd_sender_restrictions="
                  "reject_authenticated_sender_login_mismatch"),
         RCPT, .want = ""},
        {"unauthenticated variant ignores logged in",
         P(LOGIN, "smtpd_sender_restrictions="
                  "reject_unauthenticated_sender_login_mismatch"),
         RCPT, .sasl = "eve", .want = ""},
        {"unauthenticated variant",
         P(LOGIN, "smtpd_sender_restrictions="
                  "reject_unauthenticated_sender_login_mismatch"),
         RCPT,
         .want = "553 5.7.1 <s@sender.test>: Sender address rejected: not "
                 "logged in"},
    };
    for (size_t i = 0; i < NCASES(cases); i++)
        run_case(&cases[i]);
    assert_int_equal(failures, 0);
}

/* ---- configuration errors ----------------------------------------------- */

static void test_config_errors(void **state)
{
    (void) state;
    failures = 0;
    static const struct {
        const char *params[4];
        const char *want;
    } cases[] = {
        {P("smtpd_client_restrictions=permit_everyone"),
         "smtpd_client_restrictions: unknown smtpd restriction: "
         "\"permit_everyone\""},
        {P("smtpd_relay_restrictions=permit_mynetworks",
           "smtpd_recipient_restrictions=permit"),
         "in parameter smtpd_relay_restrictions or "
         "smtpd_recipient_restrictions, specify at least one working instance "
         "of: reject_unauth_destination, defer_unauth_destination, reject, "
         "defer, defer_if_permit or check_relay_domains"},
        {P("smtpd_restriction_classes=nodef"),
         "restriction class \"nodef\" needs a definition"},
        {P("smtpd_recipient_restrictions=reject, check_policy_service "
           "{ unix:private/policy, frobs=1 }"),
         "smtpd_recipient_restrictions: check_policy_service "
         "unix:private/policy: unknown attribute: \"frobs\""},
        {P("smtpd_sender_restrictions=check_sender_access"),
         "smtpd_sender_restrictions: restriction \"check_sender_access\" "
         "requires an argument"},
    };
    for (size_t i = 0; i < NCASES(cases); i++) {
        struct buf *err = buf_new(64);
        struct smtpd_check *chk = make_check(cases[i].params, err);
        if (chk) {
            print_error("case %zu: no error, want \"%s\"\n", i, cases[i].want);
            failures++;
            smtpd_check_free(chk);
        } else if (strcmp(buf_str(err), cases[i].want) != 0) {
            print_error("case %zu: got \"%s\", want \"%s\"\n", i, buf_str(err),
                        cases[i].want);
            failures++;
        }
        buf_free(err);
    }
    assert_int_equal(failures, 0);
}

/* ---- policy service ----------------------------------------------------- */

/*
 * A policy server: answers per recipient; "hang@" gets no answer. Writes
 * each request to TMPDIR/policy.req. Serves requests until killed.
 */
static pid_t serve_policy(int lfd);

/* PATH: a unix socket path, or NULL for TCP on 127.0.0.1 (*PORT set). */
static pid_t start_policy_server(const char *path, int *port)
{
    int lfd;

    if (path) {
        struct sockaddr_un sun;
        lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(lfd >= 0);
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
        unlink(path);
        assert_int_equal(bind(lfd, (struct sockaddr *) &sun, sizeof(sun)), 0);
    } else {
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);
        lfd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(lfd >= 0);
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(lfd, (struct sockaddr *) &sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(lfd, (struct sockaddr *) &sin, &len), 0);
        *port = ntohs(sin.sin_port);
    }
    assert_int_equal(listen(lfd, 5), 0);
    return serve_policy(lfd);
}

static pid_t serve_policy(int lfd)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0) {
        close(lfd);
        return pid;
    }
    alarm(60);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            _exit(0);
        FILE *in = fdopen(fd, "r+");
        char line[1024], req[8192] = "", rcpt[1024] = "";
        while (fgets(line, sizeof(line), in)) {
            if (strcmp(line, "\n") == 0) {
                char rp[512];
                snprintf(rp, sizeof(rp), "%s/policy.req", tmpdir);
                FILE *f = fopen(rp, "w");
                if (f) {
                    fputs(req, f);
                    fclose(f);
                }
                if (strncmp(rcpt, "hang@", 5) == 0) {
                    sleep(30);
                    _exit(0);
                }
                if (strncmp(rcpt, "no@", 3) == 0)
                    fputs("action=REJECT policy says no\n\n", in);
                else if (strncmp(rcpt, "junk@", 5) == 0)
                    fputs("foo=bar\n\n", in);
                else
                    fputs("action=DUNNO\n\n", in);
                fflush(in);
                req[0] = 0;
                continue;
            }
            if (strlen(req) + strlen(line) < sizeof(req))
                strcat(req, line);
            if (strncmp(line, "recipient=", 10) == 0) {
                snprintf(rcpt, sizeof(rcpt), "%s", line + 10);
            }
        }
        fclose(in);
    }
}

static void test_policy(void **state)
{
    (void) state;
    failures = 0;
    char path[300], param[400], reqpath[300];
    snprintf(path, sizeof(path), "%s/policy", tmpdir);
    snprintf(param, sizeof(param),
             "smtpd_recipient_restrictions=check_policy_service unix:%s", path);
    snprintf(reqpath, sizeof(reqpath), "%s/policy.req", tmpdir);
    char param2[500];
    snprintf(param2, sizeof(param2),
             "smtpd_recipient_restrictions=check_policy_service { unix:%s, "
             "timeout=1, try_limit=1, { default_action = 450 policy down } }",
             path);
    pid_t pid = start_policy_server(path, NULL);
    const struct ccase cases[] = {
        {"policy DUNNO", P(param), RCPT, .rcpt = "alice@example.com",
         .want = ""},
        {"policy REJECT", P(param), RCPT, .rcpt = "no@example.com",
         .want = "554 5.7.1 <no@example.com>: Recipient address rejected: "
                 "policy says no"},
        {"policy reply without action", P(param), RCPT,
         .rcpt = "junk@example.com",
         .want = "451 4.3.5 <junk@example.com>: Recipient address rejected: "
                 "Server configuration problem"},
        {"policy server hangs: timeout, default action", P(param), RCPT,
         .rcpt = "hang@example.com",
         .want = "451 4.3.5 <hang@example.com>: Recipient address rejected: "
                 "Server configuration problem",
         .want_log = "timeout"},
        {"policy per-service attributes",
         P(param2, "smtpd_reject_unlisted_recipient=no"), RCPT,
         .rcpt = "hang@example.com",
         .want = "450 4.7.1 <hang@example.com>: Recipient address rejected: "
                 "policy down",
         .want_log = "timeout"},
        {"policy default action setting",
         P(param, "smtpd_policy_service_default_action=DUNNO",
           "smtpd_reject_unlisted_recipient=no"),
         RCPT, .rcpt = "hang@example.com", .want = "", .want_log = "timeout"},
    };
    /* A hanging case ends the server: restart it for the later cases. */
    for (size_t i = 0; i < NCASES(cases); i++) {
        if (i >= 4) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            pid = start_policy_server(path, NULL);
        }
        run_case(&cases[i]);
        if (i == 0) {
            FILE *f = fopen(reqpath, "r");
            char text[8192] = "";
            assert_non_null(f);
            size_t n = fread(text, 1, sizeof(text) - 1, f);
            text[n] = 0;
            fclose(f);
            static const char *want[] = {
                "request=smtpd_access_policy\n",
                "protocol_state=RCPT\n",
                "protocol_name=ESMTP\n",
                "helo_name=mail.client.test\n",
                "sender=s@sender.test\n",
                "recipient=alice@example.com\n",
                "client_address=192.0.2.10\n",
                "client_name=mail.client.test\n",
                "reverse_client_name=mail.client.test\n",
                "instance=1234.5678.1\n",
                "client_port=54321\n",
                "server_address=192.0.2.1\n",
                "server_port=25\n",
                "sasl_username=\n",
                "encryption_keysize=0\n"};
            for (size_t k = 0; k < NCASES(want); k++)
                if (!strstr(text, want[k])) {
                    print_error("policy request lacks \"%s\":\n%s\n", want[k],
                                text);
                    failures++;
                }
        }
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* Nobody listening at all. */
    const struct ccase dead = {
        "policy server down", P(param), RCPT, .rcpt = "alice@example.com",
        .want = "451 4.3.5 <alice@example.com>: Recipient address rejected: "
                "Server configuration problem"};
    unlink(path);
    run_case(&dead);

    /* TCP, and a unix path relative to the working directory. */
    int port = 0;
    pid = start_policy_server(NULL, &port);
    char inet_param[200];
    snprintf(inet_param, sizeof(inet_param),
             "smtpd_recipient_restrictions=check_policy_service "
             "inet:127.0.0.1:%d",
             port);
    const struct ccase inet_case = {
        "policy over TCP", P(inet_param), RCPT, .rcpt = "no@example.com",
        .want = "554 5.7.1 <no@example.com>: Recipient address rejected: "
                "policy says no"};
    run_case(&inet_case);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    pid = start_policy_server(path, NULL);
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmpdir), 0);
    const struct ccase rel_case = {
        "policy at a relative path",
        P("smtpd_recipient_restrictions=check_policy_service unix:policy"),
        RCPT, .rcpt = "no@example.com",
        .want = "554 5.7.1 <no@example.com>: Recipient address rejected: "
                "policy says no"};
    run_case(&rel_case);
    assert_int_equal(chdir(cwd), 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(failures, 0);
}

/* A table file replaced on disk is seen after smtpd_check_reopen(). */
static void test_reopen(void **state)
{
    (void) state;
    struct buf *err = buf_new(64);
    char path[512];
    snprintf(path, sizeof(path), "%s/reopen.texthash", tmpdir);
    write_file("reopen.texthash", "192.0.2.10 OK\n");
    char param[700];
    snprintf(param, sizeof(param),
             "smtpd_client_restrictions=check_client_access texthash:%s, "
             "reject",
             path);
    const char *params[] = {param, NULL};
    struct smtpd_check *chk = make_check(params, err);
    assert_non_null(chk);
    struct smtpd_client c = base_client();
    struct smtpd_check_result res;
    smtpd_check_result_init(&res);
    assert_int_equal(smtpd_check_rcpt(chk, &c, &res), SMTPD_CHECK_OK);
    sleep(1); /* a new modification time */
    write_file("reopen.texthash", "192.0.2.10 REJECT now closed\n");
    assert_int_equal(smtpd_check_reopen(chk), 0);
    smtpd_check_new_session(chk);
    assert_int_equal(smtpd_check_rcpt(chk, &c, &res), SMTPD_CHECK_REPLY);
    assert_string_equal(buf_str(res.reply),
                        "554 5.7.1 <mail.client.test[192.0.2.10]>: Client host "
                        "rejected: now closed");
    smtpd_check_result_free(&res);
    smtpd_check_free(chk);
    buf_free(err);
}

/* ---- the resolver's answer parser --------------------------------------- */

static void test_dns_parse(void **state)
{
    (void) state;
    static const unsigned char pkt[] = {
        0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0,
        /* question: 2.zen.test A IN */
        1, '2', 3, 'z', 'e', 'n', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1,
        /* answer: pointer to the question name, A 127.0.0.2 */
        0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2,
        /* answer: A 127.0.0.4 */
        0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 4,
        /* answer: TXT "hello" " world" */
        0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 13, 5, 'h', 'e', 'l', 'l', 'o',
        6, ' ', 'w', 'o', 'r', 'l', 'd'};
    struct buf *out = buf_new(32);

    assert_int_equal(dns_parse(pkt, sizeof(pkt), ns_t_a, dns_add_a, out), 2);
    assert_string_equal(buf_str(out), "127.0.0.2 127.0.0.4");
    buf_reset(out);
    assert_int_equal(dns_parse(pkt, sizeof(pkt), ns_t_txt, dns_add_txt, out),
                     2);
    assert_string_equal(buf_str(out), "hello world");
    assert_int_equal(dns_parse(pkt, sizeof(pkt), ns_t_mx, NULL, NULL), 5);
    /* Every truncation is malformed (4), never a crash or a false "2". */
    for (size_t len = 0; len < 44; len++)
        assert_int_equal(dns_parse(pkt, (int) len, ns_t_a, NULL, NULL), 4);
    for (size_t len = 44; len < sizeof(pkt); len++) {
        int st = dns_parse(pkt, (int) len, ns_t_txt, NULL, NULL);
        assert_int_equal(st, 4);
    }
    /* A compression loop is refused. */
    unsigned char loop[] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12};
    assert_int_equal(dns_parse(loop, sizeof(loop), ns_t_a, NULL, NULL), 4);
    buf_free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relay),
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_delay_reject),
        cmocka_unit_test(test_saved_results),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_rbl),
        cmocka_unit_test(test_server_access),
        cmocka_unit_test(test_server_access_without_records),
        cmocka_unit_test(test_mx_backup),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_dns_parse),
        cmocka_unit_test(test_reopen),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
