/*
 * smtpd_check.c - smtpd's restriction engine (see smtpd_check.h).
 *
 * The restriction lists are split into words once (smtpd_check_new), where
 * every word is checked against the known restriction names and the
 * smtpd_restriction_classes; the tables the lists name are opened then.
 * Evaluation walks the words: a restriction returns DUNNO (go on), OK
 * (permit: ends this list) or REJECT (the reply is in chk->reply).
 * Access table results that are restriction lists are evaluated the same
 * way (tables they name are opened on first use).
 *
 * Errors: configuration errors at smtpd_check_new (unknown restriction,
 * missing argument, a class without definition, no relay restriction);
 * table and policy failures at run time become "451 4.3.5 Server
 * configuration error" with a warning naming the cause.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "buf.h"
#include "cidr.h"
#include "config.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "resolve.h"
#include "str.h"

#include "dict.h"
#include "maps.h"
#include "maps_search.h"

#include "smtpd_check.h"
#include "smtpd_dns.h"
#include "smtpd_policy.h"

#define CK_DUNNO  0
#define CK_OK     1
#define CK_REJECT 2

#define CHECK_DEPTH_MAX 50

/* What a restriction name takes after it. */
#define ARG_NONE   0
#define ARG_MAP    1 /* a table */
#define ARG_DOMAIN 2 /* a DNS list domain[=filter] */
#define ARG_POLICY 3 /* a policy service endpoint */

static const struct {
    const char *name;
    int arg;
    int relay; /* counts as a relay restriction */
} restr_names[] = {
    {"permit", ARG_NONE, 0},
    {"reject", ARG_NONE, 1},
    {"defer", ARG_NONE, 1},
    {"defer_if_permit", ARG_NONE, 1},
    {"defer_if_reject", ARG_NONE, 0},
    {"warn_if_reject", ARG_NONE, 0},
    {"permit_mynetworks", ARG_NONE, 0},
    {"permit_sasl_authenticated", ARG_NONE, 0},
    {"permit_tls_clientcerts", ARG_NONE, 0},
    {"permit_tls_all_clientcerts", ARG_NONE, 0},
    {"reject_unauth_destination", ARG_NONE, 1},
    {"defer_unauth_destination", ARG_NONE, 1},
    {"permit_auth_destination", ARG_NONE, 0},
    {"permit_mx_backup", ARG_NONE, 0},
    {"check_relay_domains", ARG_NONE, 1},
    {"reject_unauth_pipelining", ARG_NONE, 0},
    {"reject_non_fqdn_helo_hostname", ARG_NONE, 0},
    {"reject_non_fqdn_hostname", ARG_NONE, 0},
    {"reject_invalid_helo_hostname", ARG_NONE, 0},
    {"reject_invalid_hostname", ARG_NONE, 0},
    {"reject_unknown_helo_hostname", ARG_NONE, 0},
    {"reject_unknown_hostname", ARG_NONE, 0},
    {"reject_unknown_client_hostname", ARG_NONE, 0},
    {"reject_unknown_client", ARG_NONE, 0},
    {"reject_unknown_reverse_client_hostname", ARG_NONE, 0},
    {"reject_non_fqdn_sender", ARG_NONE, 0},
    {"reject_non_fqdn_recipient", ARG_NONE, 0},
    {"reject_unknown_sender_domain", ARG_NONE, 0},
    {"reject_unknown_recipient_domain", ARG_NONE, 0},
    {"reject_unlisted_sender", ARG_NONE, 0},
    {"reject_unlisted_recipient", ARG_NONE, 0},
    {"reject_unverified_sender", ARG_NONE, 0},
    {"reject_unverified_recipient", ARG_NONE, 0},
    {"reject_sender_login_mismatch", ARG_NONE, 0},
    {"reject_authenticated_sender_login_mismatch", ARG_NONE, 0},
    {"reject_unauthenticated_sender_login_mismatch", ARG_NONE, 0},
    {"reject_known_sender_login_mismatch", ARG_NONE, 0},
    {"check_client_access", ARG_MAP, 0},
    {"check_reverse_client_hostname_access", ARG_MAP, 0},
    {"check_helo_access", ARG_MAP, 0},
    {"check_sender_access", ARG_MAP, 0},
    {"check_recipient_access", ARG_MAP, 0},
    {"check_etrn_access", ARG_MAP, 0},
    {"check_client_a_access", ARG_MAP, 0},
    {"check_client_mx_access", ARG_MAP, 0},
    {"check_client_ns_access", ARG_MAP, 0},
    {"check_reverse_client_a_access", ARG_MAP, 0},
    {"check_reverse_client_mx_access", ARG_MAP, 0},
    {"check_reverse_client_ns_access", ARG_MAP, 0},
    {"check_helo_a_access", ARG_MAP, 0},
    {"check_helo_mx_access", ARG_MAP, 0},
    {"check_helo_ns_access", ARG_MAP, 0},
    {"check_sender_a_access", ARG_MAP, 0},
    {"check_sender_mx_access", ARG_MAP, 0},
    {"check_sender_ns_access", ARG_MAP, 0},
    {"check_recipient_a_access", ARG_MAP, 0},
    {"check_recipient_mx_access", ARG_MAP, 0},
    {"check_recipient_ns_access", ARG_MAP, 0},
    {"check_ccert_access", ARG_MAP, 0},
    {"check_sasl_access", ARG_MAP, 0},
    {"reject_rbl_client", ARG_DOMAIN, 0},
    {"reject_rhsbl_client", ARG_DOMAIN, 0},
    {"reject_rhsbl_reverse_client", ARG_DOMAIN, 0},
    {"reject_rhsbl_sender", ARG_DOMAIN, 0},
    {"reject_rhsbl_helo", ARG_DOMAIN, 0},
    {"reject_rhsbl_recipient", ARG_DOMAIN, 0},
    {"permit_dnswl_client", ARG_DOMAIN, 0},
    {"permit_rhswl_client", ARG_DOMAIN, 0},
    {"check_policy_service", ARG_POLICY, 0},
};

static int restr_find(const char *name)
{
    for (size_t i = 0; i < sizeof(restr_names) / sizeof(restr_names[0]); i++)
        if (strcasecmp(restr_names[i].name, name) == 0)
            return (int) i;
    return -1;
}

struct named_maps {
    char *name;
    struct maps *maps;
};

struct named_list {
    char *name;
    struct argv *list;
};

struct named_policy {
    char *name;
    struct smtpd_policy *policy;
};

/* A remembered list outcome (client and helo: session; sender: mail). */
struct saved {
    int done;
    int rejected;
    struct buf *reply;
    int dip; /* defer_if_permit was raised */
    struct buf *dip_reply;
    char *key; /* the HELO name or sender it is valid for */
};

/*
 * A list of networks written as mynetworks is: CIDR entries and /file
 * names go to NETS, type:table entries to MAPS (looked up by address,
 * then by client name).
 */
struct netlist {
    struct cidr_list *nets;
    struct maps *maps;
};

struct smtpd_check {
    struct resolver *resolver;
    struct netlist mynets;         /* mynetworks */
    struct netlist mx_backup_nets; /* permit_mx_backup_networks */
    struct named_maps *maps;
    size_t nmaps;
    struct named_list *classes;
    size_t nclasses;
    struct named_policy *policies;
    size_t npolicies;
    struct argv *client_list, *helo_list, *sender_list, *relay_list, *rcpt_list,
        *data_list, *eod_list, *etrn_list;
    struct maps *local_rcpt, *relay_rcpt, *valias, *vmailbox, *login_maps,
        *rbl_reply, *relay_certs;
    struct smtpd_check_dns dns;
    struct smtpd_check_actions actions;
    struct saved client_res, helo_res, sender_res;

    /* Evaluation state of one check call. */
    const struct smtpd_client *c;
    const char *where;       /* "RCPT" */
    const char *stage_name;  /* reply name of generic rejects */
    const char *stage_class; /* "Recipient address" */
    struct buf *reply;
    struct buf *tmp;
    int warn_next;
    int dir; /* defer_if_reject active */
    int dip; /* defer_if_permit active */
    struct buf *dip_reply;
    int depth;
    int unlisted_rcpt_done;
};

/* ---- splitting lists ---------------------------------------------------- */

/*
 * Split a restriction list: words separated by commas and white space;
 * text inside {} stays in its word (inline:{ {a = b} }). A word that is
 * wholly braced loses its braces ("{ inet:host:port, timeout=10 }").
 * Returns NULL with ERR on unbalanced braces.
 */
static struct argv *list_split(const char *text, struct buf *err)
{
    struct argv *av = argv_new(8);
    const char *s = text ? text : "";

    for (;;) {
        while (*s && strchr(STR_LIST_SEP, *s))
            s++;
        if (!*s)
            break;
        const char *start = s;
        int depth = 0;
        while (*s && (depth > 0 || !strchr(STR_LIST_SEP, *s))) {
            if (*s == '{')
                depth++;
            else if (*s == '}' && --depth < 0)
                break;
            s++;
        }
        if (depth != 0) {
            buf_setf(err, "unbalanced braces in \"%s\"", text);
            argv_free(av);
            return NULL;
        }
        if (*start == '{' && s > start + 1 && s[-1] == '}') {
            char *inner = mem_strndup(start + 1, (size_t) (s - start - 2));
            argv_add(av, str_trim(inner));
            mem_free(inner);
        } else {
            argv_addn(av, start, (size_t) (s - start));
        }
        if (*s == '}')
            s++;
    }
    return av;
}

/* ---- tables ------------------------------------------------------------- */

static struct maps *get_maps(struct smtpd_check *chk, const char *name)
{
    for (size_t i = 0; i < chk->nmaps; i++)
        if (strcmp(chk->maps[i].name, name) == 0)
            return chk->maps[i].maps;
    chk->maps = mem_realloc(chk->maps, (chk->nmaps + 1) * sizeof(*chk->maps));
    chk->maps[chk->nmaps].name = mem_strdup(name);
    chk->maps[chk->nmaps].maps =
        maps_create("smtpd access table", name, DICT_FOLD_FIX);
    return chk->maps[chk->nmaps++].maps;
}

static struct argv *list_split(const char *text, struct buf *err);

/*
 * The policy client for NAME: "unix:private/policy", or the braced form's
 * inside "inet:host:port, timeout=10s, default_action=DUNNO". NULL with
 * ERR on a bad attribute.
 */
static struct smtpd_policy *get_policy(struct smtpd_check *chk,
                                       const char *name, struct buf *err)
{
    struct argv *words;
    struct smtpd_policy *pol;

    for (size_t i = 0; i < chk->npolicies; i++)
        if (strcmp(chk->policies[i].name, name) == 0)
            return chk->policies[i].policy;
    if (!(words = list_split(name, err)))
        return NULL;
    if (words->argc == 0) {
        buf_set(err, "check_policy_service: missing endpoint");
        argv_free(words);
        return NULL;
    }
    pol = smtpd_policy_new(words->argv[0]);
    for (size_t i = 1; i < words->argc; i++) {
        char *attr = mem_strdup(words->argv[i]);
        char *eq = strchr(attr, '=');
        int bad;
        if (!eq) {
            buf_setf(err,
                     "check_policy_service %s: expected name=value: "
                     "\"%s\"",
                     words->argv[0], attr);
            bad = 1;
        } else {
            *eq = 0;
            bad = smtpd_policy_set_option(pol, str_trim(attr), str_trim(eq + 1),
                                          err)
                  < 0;
        }
        mem_free(attr);
        if (bad) {
            smtpd_policy_free(pol);
            argv_free(words);
            return NULL;
        }
    }
    argv_free(words);
    chk->policies = mem_realloc(chk->policies,
                                (chk->npolicies + 1) * sizeof(*chk->policies));
    chk->policies[chk->npolicies].name = mem_strdup(name);
    chk->policies[chk->npolicies++].policy = pol;
    return pol;
}

static struct argv *find_class(struct smtpd_check *chk, const char *name)
{
    for (size_t i = 0; i < chk->nclasses; i++)
        if (strcasecmp(chk->classes[i].name, name) == 0)
            return chk->classes[i].list;
    return NULL;
}

/*
 * Check the words of LIST and open what they name. RELAY (may be NULL)
 * is set when the list holds a relay restriction.
 */
static int list_validate(struct smtpd_check *chk, struct argv *list,
                         const char *title, int *relay, struct buf *err)
{
    for (size_t i = 0; i < list->argc; i++) {
        const char *w = list->argv[i];
        int r = restr_find(w);
        if (r < 0) {
            if (find_class(chk, w))
                continue;
            buf_setf(err, "%s: unknown smtpd restriction: \"%s\"", title, w);
            return -1;
        }
        if (relay && restr_names[r].relay)
            *relay = 1;
        if (strncmp(w, "reject_unverified_", 18) == 0)
            msg_warn("%s: %s: there is no address verification service "
                     "yet; this restriction neither permits nor rejects",
                     title, w);
        if (restr_names[r].arg == ARG_NONE)
            continue;
        if (i + 1 >= list->argc) {
            buf_setf(err, "%s: restriction \"%s\" requires an argument", title,
                     w);
            return -1;
        }
        i++;
        if (restr_names[r].arg == ARG_MAP) {
            if (!strchr(list->argv[i], ':')) {
                buf_setf(err, "%s: %s: bad table name \"%s\"", title, w,
                         list->argv[i]);
                return -1;
            }
            (void) get_maps(chk, list->argv[i]);
        } else if (restr_names[r].arg == ARG_POLICY) {
            struct buf *e = buf_new(64);
            int ok = get_policy(chk, list->argv[i], e) != NULL;
            if (!ok)
                buf_setf(err, "%s: %s", title, buf_str(e));
            buf_free(e);
            if (!ok)
                return -1;
        }
    }
    return 0;
}

/* ---- replies and logging ------------------------------------------------ */

static void put_printable(struct buf *out, const char *s)
{
    str_printable(out, s ? s : "", s ? strlen(s) : 0);
}

static const char *client_name(const struct smtpd_client *c)
{
    return c->name ? c->name : "unknown";
}

/* "QUEUEID: ACTION: WHERE from host[addr]: TEXT; from=<> to=<> proto=..." */
static void log_event(struct smtpd_check *chk, const char *action,
                      const char *text)
{
    const struct smtpd_client *c = chk->c;
    struct buf *line = buf_new(256);

    buf_printf(line, "%s: %s: %s from ", c->queue_id ? c->queue_id : "NOQUEUE",
               action, chk->where);
    put_printable(line, client_name(c));
    buf_putc(line, '[');
    put_printable(line, c->addr ? c->addr : "unknown");
    buf_putc(line, ']');
    if (var_smtpd_client_port_logging && c->port) {
        buf_putc(line, ':');
        put_printable(line, c->port);
    }
    buf_puts(line, ": ");
    put_printable(line, text);
    buf_putc(line, ';');
    if (c->sender) {
        buf_puts(line, " from=<");
        put_printable(line, c->sender);
        buf_putc(line, '>');
    }
    if (c->recipient) {
        buf_puts(line, " to=<");
        put_printable(line, c->recipient);
        buf_putc(line, '>');
    }
    buf_printf(line, " proto=%s", c->protocol ? c->protocol : "SMTP");
    if (c->helo) {
        buf_puts(line, " helo=<");
        put_printable(line, c->helo);
        buf_putc(line, '>');
    }
    msg_info("%s", buf_str(line));
    buf_free(line);
}

static int is_dsn(const char *s, size_t *len)
{
    const char *p = s;

    if ((*p != '2' && *p != '4' && *p != '5') || p[1] != '.')
        return 0;
    p += 2;
    for (int part = 0; part < 2; part++) {
        int n = 0;
        while (isdigit((unsigned char) *p) && n < 3)
            p++, n++;
        if (n == 0)
            return 0;
        if (part == 0) {
            if (*p != '.')
                return 0;
            p++;
        }
    }
    if (*p && *p != ' ')
        return 0;
    *len = (size_t) (p - s);
    return 1;
}

/*
 * Set chk->reply to "CODE DSN TEXT": a DSN at the start of TEXT wins over
 * DEF_DSN; the DSN class follows the code. An active defer_if_reject turns
 * a 5xx into 450 4.x.x.
 */
static int reply_set(struct smtpd_check *chk, int code, const char *def_dsn,
                     const char *text)
{
    char dsn[16];
    size_t len;

    if (is_dsn(text, &len) && len < sizeof(dsn)) {
        memcpy(dsn, text, len);
        dsn[len] = 0;
        text += len;
        while (*text == ' ')
            text++;
    } else {
        snprintf(dsn, sizeof(dsn), "%s", def_dsn);
    }
    if (code / 100 == 5 && chk->dir)
        code = var_defer_code;
    dsn[0] = (char) ('0' + code / 100);
    buf_reset(chk->reply);
    buf_printf(chk->reply, "%d %s %s", code, dsn, text);
    return CK_REJECT;
}

static int reply_fmt(struct smtpd_check *chk, int code, const char *dsn,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reply_fmt(struct smtpd_check *chk, int code, const char *dsn,
                     const char *fmt, ...)
{
    va_list ap;
    struct buf *t = buf_new(128);
    int ret;

    va_start(ap, fmt);
    buf_vprintf(t, fmt, ap);
    va_end(ap);
    ret = reply_set(chk, code, dsn, buf_str(t));
    buf_free(t);
    return ret;
}

static int config_error(struct smtpd_check *chk, const char *why)
{
    msg_warn("%s", why);
    buf_set(chk->reply, "451 4.3.5 Server configuration error");
    return CK_REJECT;
}

/* reject_tempfail_action and friends: a temporary failure of a reject. */
static int tempfail(struct smtpd_check *chk, const char *action, int code,
                    const char *dsn, const char *text)
{
    if (code / 100 == 5)
        code = 450;
    if (strcasecmp(action, "defer") == 0)
        return reply_set(chk, code, dsn, text);
    if (strcasecmp(action, "defer_if_reject") == 0) {
        chk->dir = 1;
        return CK_DUNNO;
    }
    if (strcasecmp(action, "defer_if_permit") != 0)
        msg_warn("unknown tempfail action \"%s\": using defer_if_permit",
                 action);
    if (!chk->dip) {
        struct buf *save = buf_new(64);
        buf_set(save, buf_str(chk->reply));
        reply_set(chk, code, dsn, text);
        buf_set(chk->dip_reply, buf_str(chk->reply));
        buf_set(chk->reply, buf_str(save));
        buf_free(save);
        chk->dip = 1;
    }
    return CK_DUNNO;
}

/* ---- small helpers ------------------------------------------------------ */

static const char *addr_domain(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    return at ? at + 1 : NULL;
}

static int is_literal(const char *name)
{
    return name[0] == '[' && name[strlen(name) - 1] == ']';
}

static int is_ip(const char *name)
{
    struct cidr_addr a;
    return cidr_addr_parse(name, strlen(name), &a) == 0;
}

static int valid_literal(const char *name)
{
    size_t len = strlen(name);
    const char *in = name + 1;

    if (len < 3)
        return 0;
    len -= 2;
    if (len > 5 && strncasecmp(in, "ipv6:", 5) == 0)
        in += 5, len -= 5;
    struct cidr_addr a;
    return cidr_addr_parse(in, len, &a) == 0;
}

/* RFC 1035 host name syntax (underscores tolerated); not all-numeric. */
static int valid_hostname(const char *name)
{
    size_t len = strlen(name), label = 0;
    int digits_only = 1;

    if (len == 0 || len > 255)
        return 0;
    for (const char *p = name; *p; p++) {
        if (*p == '.') {
            if (label == 0 || p[-1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char) *p) && *p != '-' && *p != '_')
            return 0;
        if (*p == '-' && label == 0)
            return 0;
        if (!isdigit((unsigned char) *p) && *p != '.')
            digits_only = 0;
        if (++label > 63)
            return 0;
    }
    return !digits_only;
}

static int valid_helo(const char *helo)
{
    if (is_literal(helo))
        return valid_literal(helo);
    if (is_ip(helo))
        return 1;
    return valid_hostname(helo);
}

/* ---- restrictions ------------------------------------------------------- */

static int eval_list(struct smtpd_check *chk, struct argv *list);
static int access_reply(struct smtpd_check *chk, int code, const char *name,
                        const char *class, const char *text);
static int eval_words(struct smtpd_check *chk, char **words, size_t count);

/* Parse TEXT, the value of parameter TITLE, into NL: 0, or -1 with ERR. */
static int netlist_init(struct netlist *nl, const char *title, const char *text,
                        struct buf *err)
{
    struct argv *maps_names = argv_new(2);
    struct argv *warnings = argv_new(2);
    int ret = 0;

    nl->nets = cidr_list_new(CIDR_LIST_MATCH);
    nl->maps = NULL;
    if (cidr_list_parse(nl->nets, text, maps_names, warnings, err) < 0) {
        struct buf *e = buf_new(64);

        buf_printf(e, "%s: %s", title, buf_str(err));
        buf_set(err, buf_str(e));
        buf_free(e);
        ret = -1;
    } else {
        for (size_t i = 0; i < warnings->argc; i++)
            msg_warn("%s: %s", title, warnings->argv[i]);
        if (maps_names->argc > 0) {
            struct buf *joined = buf_new(64);

            for (size_t i = 0; i < maps_names->argc; i++)
                buf_printf(joined, "%s%s", i ? ", " : "", maps_names->argv[i]);
            nl->maps = maps_create(title, buf_str(joined), 0);
            buf_free(joined);
        }
    }
    argv_free(maps_names);
    argv_free(warnings);
    return ret;
}

static void netlist_free(struct netlist *nl)
{
    if (nl->nets)
        cidr_list_free(nl->nets);
    if (nl->maps)
        maps_free(nl->maps);
}

/* Is ADDR (or NAME, when known, for the tables) in NL? */
static int netlist_match(const struct netlist *nl, const char *addr,
                         const char *name)
{
    struct cidr_addr a;
    struct buf *v;
    enum lookup_status st;

    if (!addr || cidr_addr_parse(addr, strlen(addr), &a) != CIDR_OK)
        return 0;
    if (cidr_addr_is_v4mapped(&a))
        cidr_addr_unmap(&a);
    if (cidr_list_match(nl->nets, &a, NULL))
        return 1;
    if (!nl->maps)
        return 0;
    v = buf_new(32);
    st = maps_find(nl->maps, addr, 0, v);
    if (st != LOOKUP_FOUND && name && strcmp(name, "unknown") != 0)
        st = maps_find(nl->maps, name, 0, v);
    buf_free(v);
    return st == LOOKUP_FOUND;
}

static int mynetworks_match(struct smtpd_check *chk)
{
    return netlist_match(&chk->mynets, chk->c->addr, chk->c->name);
}

/*
 * Apply an access(5) result VALUE found for NAME (the matched key's
 * subject: a host, address or domain) of class CLASS in TABLE.
 */
static int access_action(struct smtpd_check *chk, const char *table,
                         const char *value, const char *name, const char *class)
{
    char *copy = mem_strdup(value), *rest = copy;
    char *cmd = str_token(&rest, " \t");
    const char *text = rest ? str_trim(rest) : "";
    int ret = CK_DUNNO;
    struct buf *t = buf_new(128);

    if (!cmd) {
        mem_free(copy);
        buf_free(t);
        return CK_DUNNO;
    }
    if (strlen(cmd) == 3 && (cmd[0] == '4' || cmd[0] == '5')
        && isdigit((unsigned char) cmd[1]) && isdigit((unsigned char) cmd[2])) {
        ret = access_reply(chk, atoi(cmd), name, class, text);
    } else if (strcasecmp(cmd, "OK") == 0
               || strspn(cmd, "0123456789") == strlen(cmd)) {
        ret = CK_OK;
    } else if (strcasecmp(cmd, "DUNNO") == 0) {
        ret = CK_DUNNO;
    } else if (strcasecmp(cmd, "REJECT") == 0
               || strcasecmp(cmd, "DEFER") == 0) {
        int defer = toupper((unsigned char) cmd[0]) == 'D';
        ret = access_reply(
            chk, defer ? var_access_map_defer_code : var_access_map_reject_code,
            name, class, text);
    } else if (strcasecmp(cmd, "DEFER_IF_REJECT") == 0) {
        chk->dir = 1;
    } else if (strcasecmp(cmd, "DEFER_IF_PERMIT") == 0) {
        buf_printf(t, "<%s>: %s rejected: %s", name, class,
                   *text ? text : "Access denied");
        ret = tempfail(chk, "defer_if_permit", var_access_map_defer_code,
                       "4.7.1", buf_str(t));
    } else if (strcasecmp(cmd, "HOLD") == 0
               || strcasecmp(cmd, "DISCARD") == 0) {
        int hold = toupper((unsigned char) cmd[0]) == 'H';
        if (*text)
            buf_printf(t, "<%s>: %s %s", name, class, text);
        else
            buf_printf(t, "<%s>: %s triggers %s action", name, class,
                       hold ? "HOLD" : "DISCARD");
        buf_set(hold ? chk->actions.hold : chk->actions.discard, buf_str(t));
        log_event(chk, hold ? "hold" : "discard", buf_str(t));
        ret = hold ? CK_DUNNO : CK_OK;
    } else if (strcasecmp(cmd, "REDIRECT") == 0
               || strcasecmp(cmd, "FILTER") == 0) {
        int redirect = toupper((unsigned char) cmd[0]) == 'R';
        if (!*text || (!redirect && !strchr(text, ':'))) {
            buf_printf(t, "access table %s: bad %s argument: \"%s\"", table,
                       cmd, text);
            ret = config_error(chk, buf_str(t));
        } else {
            buf_set(redirect ? chk->actions.redirect : chk->actions.filter,
                    text);
            buf_printf(t, "<%s>: %s triggers %s %s", name, class,
                       redirect ? "REDIRECT" : "FILTER", text);
            log_event(chk, redirect ? "redirect" : "filter", buf_str(t));
        }
    } else if (strcasecmp(cmd, "PREPEND") == 0) {
        if (!*text || !strchr(text, ':')) {
            buf_printf(t, "access table %s: bad PREPEND header: \"%s\"", table,
                       text);
            ret = config_error(chk, buf_str(t));
        } else {
            buf_puts(chk->actions.prepend, text);
            buf_putc(chk->actions.prepend, '\n');
        }
    } else if (strcasecmp(cmd, "WARN") == 0 || strcasecmp(cmd, "INFO") == 0) {
        buf_printf(t, "<%s>: %s %s", name, class, text);
        log_event(chk, toupper((unsigned char) cmd[0]) == 'W' ? "warn" : "info",
                  buf_str(t));
    } else if (strcasecmp(cmd, "BCC") == 0) {
        msg_warn("access table %s: BCC action is not supported; ignored",
                 table);
    } else {
        /* A restriction list or class name. */
        struct buf *err = buf_new(64);
        struct argv *words = list_split(value, err);
        if (!words) {
            buf_printf(t, "access table %s: %s", table, buf_str(err));
            ret = config_error(chk, buf_str(t));
        } else {
            int bad = 0;
            for (size_t i = 0; i < words->argc && !bad; i++) {
                int r = restr_find(words->argv[i]);
                if (r < 0 && !find_class(chk, words->argv[i])) {
                    buf_printf(t,
                               "access table %s: unknown restriction or "
                               "action \"%s\"",
                               table, words->argv[i]);
                    bad = 1;
                } else if (r >= 0 && restr_names[r].arg != ARG_NONE) {
                    i++;
                }
            }
            ret = bad ? config_error(chk, buf_str(t))
                      : eval_words(chk, words->argv, words->argc);
            argv_free(words);
        }
        buf_free(err);
    }
    mem_free(copy);
    buf_free(t);
    return ret;
}

/* "CODE D.D.D <NAME>: CLASS rejected: TEXT", TEXT may start with a DSN. */
static int access_reply(struct smtpd_check *chk, int code, const char *name,
                        const char *class, const char *text)
{
    size_t dl;
    char dsn[16];

    if (*text && is_dsn(text, &dl) && dl < sizeof(dsn)) {
        memcpy(dsn, text, dl);
        dsn[dl] = 0;
        text += dl;
        while (*text == ' ')
            text++;
    } else {
        snprintf(dsn, sizeof(dsn), "%d.7.1", code / 100);
    }
    return reply_fmt(chk, code, dsn, "<%s>: %s rejected: %s", name, class,
                     *text ? text : "Access denied");
}

static int lookup_error(struct smtpd_check *chk, struct maps *m)
{
    struct buf *t = buf_new(64);
    buf_printf(t, "%s lookup error for \"%s\"", maps_error(m), chk->where);
    int ret = config_error(chk, buf_str(t));
    buf_free(t);
    return ret;
}

static void client_subject(struct smtpd_check *chk);

/* Look HOST up; a match replies about REPLY_NAME (NULL: HOST). */
static int check_host_access(struct smtpd_check *chk, const char *table,
                             const char *host, const char *reply_name,
                             const char *class)
{
    struct maps *m = get_maps(chk, table);
    struct buf *v = buf_new(64);
    int ret = CK_DUNNO;

    switch (maps_search_access_host(m, host, "smtpd_access_maps", v)) {
    case LOOKUP_FOUND:
        ret = access_action(chk, table, buf_str(v),
                            reply_name ? reply_name : host, class);
        break;
    case LOOKUP_NOTFOUND:
        break;
    default:
        ret = lookup_error(chk, m);
    }
    buf_free(v);
    return ret;
}

static int check_client_table(struct smtpd_check *chk, const char *table,
                              const char *name)
{
    const struct smtpd_client *c = chk->c;
    int ret = CK_DUNNO;
    char *namaddr;

    /* Replies name the client as "host[addr]", whichever key matched. */
    client_subject(chk);
    namaddr = mem_strdup(buf_str(chk->tmp));
    if (name && strcmp(name, "unknown") != 0)
        ret = check_host_access(chk, table, name, namaddr, "Client host");
    if (ret == CK_DUNNO && c->addr) {
        struct maps *m = get_maps(chk, table);
        struct buf *v = buf_new(64);
        switch (maps_search_access_ip(m, c->addr, v)) {
        case LOOKUP_FOUND:
            ret = access_action(chk, table, buf_str(v), namaddr, "Client host");
            break;
        case LOOKUP_NOTFOUND:
            break;
        default:
            ret = lookup_error(chk, m);
        }
        buf_free(v);
    }
    mem_free(namaddr);
    return ret;
}

static int check_addr_access(struct smtpd_check *chk, const char *table,
                             const char *addr, const char *class)
{
    struct maps *m = get_maps(chk, table);
    struct buf *v = buf_new(64);
    enum lookup_status st;
    int ret = CK_DUNNO;

    if (!addr)
        return CK_DUNNO;
    if (*addr == 0)
        st = maps_find(m, var_smtpd_null_access_lookup_key, 0, v);
    else
        st = maps_search_access_addr(m, addr, "smtpd_access_maps", v);
    switch (st) {
    case LOOKUP_FOUND:
        ret = access_action(chk, table, buf_str(v),
                            *addr ? addr : var_smtpd_null_access_lookup_key,
                            class);
        break;
    case LOOKUP_NOTFOUND:
        break;
    default:
        ret = lookup_error(chk, m);
    }
    buf_free(v);
    return ret;
}

/* ---- check_*_a_access, check_*_mx_access, check_*_ns_access ------------- */

/*
 * Apply the access(5) result VALUE of a DNS-derived key. OK (and a bare
 * number) would let a listed name server or MX host permit any mail, so
 * it is refused with a warning and counts as DUNNO, as Postfix does.
 */
static int server_action(struct smtpd_check *chk, const char *table,
                         const char *restriction, const char *value,
                         const char *reply_name, const char *class)
{
    size_t n = strcspn(value, " \t");

    int code = n == 3 && (value[0] == '4' || value[0] == '5');

    if ((n == 2 && strncasecmp(value, "OK", 2) == 0)
        || (n > 0 && !code && strspn(value, "0123456789") == n)) {
        msg_warn("access table %s: with %s specified, action %.*s is "
                 "unavailable",
                 table, restriction, (int) n, value);
        return CK_DUNNO;
    }
    return access_action(chk, table, value, reply_name, class);
}

/* ADDRS (text addresses) looked up as client addresses in TABLE. */
static int server_addrs_access(struct smtpd_check *chk, const char *table,
                               const char *restriction, struct argv *addrs,
                               const char *reply_name, const char *class)
{
    struct maps *m = get_maps(chk, table);
    struct buf *v = buf_new(64);
    int ret = CK_DUNNO;

    for (size_t i = 0; i < addrs->argc && ret == CK_DUNNO; i++) {
        switch (maps_search_access_ip(m, addrs->argv[i], v)) {
        case LOOKUP_FOUND:
            ret = server_action(chk, table, restriction, buf_str(v), reply_name,
                                class);
            break;
        case LOOKUP_NOTFOUND:
            break;
        default:
            ret = lookup_error(chk, m);
        }
    }
    buf_free(v);
    return ret;
}

/* A DNS lookup for a server check failed for now: defer_if_reject. */
static void server_tempfail(struct smtpd_check *chk, const char *what,
                            const char *name)
{
    client_subject(chk);
    msg_warn("%s: unable to look up %s for %s", buf_str(chk->tmp), what, name);
    chk->dir = 1;
}

/*
 * TYPE SMTPD_DNS_ADDR: the addresses of DOMAIN; SMTPD_DNS_MX: its MX hosts
 * (DOMAIN itself when it has no MX record), SMTPD_DNS_NS: its name servers
 * (those of the closest parent domain that has some), each host by name
 * and then by each of its addresses. Replies name REPLY_NAME.
 */
static int server_access(struct smtpd_check *chk, const char *restriction,
                         const char *table, int type, const char *domain,
                         const char *reply_name, const char *class)
{
    struct argv *hosts, *addrs;
    const char *name = domain;
    int st, ret = CK_DUNNO;

    if (!domain || !*domain || strcmp(domain, "unknown") == 0
        || is_literal(domain) || is_ip(domain))
        return CK_DUNNO;
    if (!chk->dns.records) {
        server_tempfail(chk, "DNS records", domain);
        return CK_DUNNO;
    }
    if (type == SMTPD_DNS_ADDR) {
        addrs = argv_new(4);
        st = chk->dns.records(domain, SMTPD_DNS_ADDR, addrs);
        if (st == 2)
            ret = server_addrs_access(chk, table, restriction, addrs,
                                      reply_name, class);
        else if (st == 4)
            server_tempfail(chk, "address", domain);
        argv_free(addrs);
        return ret;
    }
    hosts = argv_new(4);
    for (;;) {
        argv_truncate(hosts, 0);
        st = chk->dns.records(name, type, hosts);
        if (st != 5 || type != SMTPD_DNS_NS || !strchr(name, '.'))
            break;
        name = strchr(name, '.') + 1;
    }
    if (st == 4) {
        server_tempfail(chk, type == SMTPD_DNS_MX ? "MX host" : "name server",
                        domain);
        argv_free(hosts);
        return CK_DUNNO;
    }
    if (st != 2) {
        argv_truncate(hosts, 0);
        if (type == SMTPD_DNS_MX)
            argv_add(hosts, "0 ");
    }
    if (type == SMTPD_DNS_MX) {
        /* "PREF HOST": keep the host; no MX at all means DOMAIN. */
        struct argv *names = argv_new(hosts->argc + 1);
        for (size_t i = 0; i < hosts->argc; i++) {
            const char *h = strchr(hosts->argv[i], ' ');
            h = h ? h + 1 : hosts->argv[i];
            argv_add(names, *h ? h : (st == 2 ? "" : domain));
        }
        argv_free(hosts);
        hosts = names;
    }
    for (size_t i = 0; i < hosts->argc && ret == CK_DUNNO; i++) {
        const char *host = hosts->argv[i];
        struct maps *m = get_maps(chk, table);
        struct buf *v;

        if (!*host || strcmp(host, ".") == 0)
            continue; /* a null MX */
        v = buf_new(64);
        switch (maps_search_access_host(m, host, "smtpd_access_maps", v)) {
        case LOOKUP_FOUND:
            ret = server_action(chk, table, restriction, buf_str(v), reply_name,
                                class);
            break;
        case LOOKUP_NOTFOUND:
            break;
        default:
            ret = lookup_error(chk, m);
        }
        buf_free(v);
        if (ret != CK_DUNNO)
            break;
        addrs = argv_new(4);
        st = chk->dns.records(host, SMTPD_DNS_ADDR, addrs);
        if (st == 2)
            ret = server_addrs_access(chk, table, restriction, addrs,
                                      reply_name, class);
        else if (st == 4)
            server_tempfail(chk, "address", host);
        argv_free(addrs);
    }
    argv_free(hosts);
    return ret;
}

/* ---- permit_mx_backup --------------------------------------------------- */

static int relay_check(struct smtpd_check *chk, int how);

/* Is ADDR (text) an address of this machine (inet/proxy_interfaces)? */
static int addr_is_ours(struct smtpd_check *chk, const char *addr)
{
    struct buf *lit = buf_new(64);
    enum resolve_class cls;
    int ours;

    /* The resolver knows our addresses: [addr] is then a local domain. */
    buf_printf(lit, strchr(addr, ':') ? "[ipv6:%s]" : "[%s]", addr);
    ours =
        resolve_domain_class(chk->resolver, buf_str(lit), &cls) == LOOKUP_FOUND
        && cls == RESOLVE_CLASS_LOCAL;
    buf_free(lit);
    return ours;
}

/* Does every address in ADDRS match permit_mx_backup_networks? */
static int mx_backup_networks_match(struct smtpd_check *chk, struct argv *addrs)
{
    int ok = addrs->argc > 0;

    for (size_t i = 0; i < addrs->argc && ok; i++)
        ok = netlist_match(&chk->mx_backup_nets, addrs->argv[i], NULL);
    return ok;
}

/*
 * OK when the recipient domain is an authorized destination, or when this
 * machine is a backup (not the primary) MX host of the domain; with
 * permit_mx_backup_networks, only when every address of every better MX
 * host is in those networks. Never for sender-specified routing.
 */
static int mx_backup(struct smtpd_check *chk)
{
    const char *rcpt = chk->c->recipient;
    const char *dom = addr_domain(rcpt);
    struct argv *mx, *addrs;
    long best_ours = -1, primary = -1;
    int ret, st, temp = 0;

    if (!rcpt || !dom || !*dom)
        return CK_DUNNO;
    if ((ret = relay_check(chk, 0)) != CK_DUNNO)
        return ret;
    if (strcspn(rcpt, "@%!") < (size_t) (dom - 1 - rcpt) || is_literal(dom)
        || is_ip(dom))
        return CK_DUNNO;
    if (!chk->dns.records) {
        server_tempfail(chk, "DNS records", dom);
        return CK_DUNNO;
    }
    mx = argv_new(4);
    st = chk->dns.records(dom, SMTPD_DNS_MX, mx);
    if (st != 2) {
        if (st == 4)
            server_tempfail(chk, "MX host", dom);
        argv_free(mx);
        return CK_DUNNO;
    }
    /* "PREF HOST" sorted by preference: find our best preference. */
    for (size_t i = 0; i < mx->argc; i++) {
        char *host;
        long pref = strtol(mx->argv[i], &host, 10);
        int ours = 0;

        while (*host == ' ')
            host++;
        if (primary < 0 || pref < primary)
            primary = pref;
        if (!*host || strcmp(host, ".") == 0)
            continue;
        if (strcasecmp(host, var_myhostname) == 0) {
            ours = 1;
        } else {
            addrs = argv_new(4);
            st = chk->dns.records(host, SMTPD_DNS_ADDR, addrs);
            if (st == 4)
                temp = 1;
            for (size_t k = 0; st == 2 && k < addrs->argc && !ours; k++)
                ours = addr_is_ours(chk, addrs->argv[k]);
            argv_free(addrs);
        }
        if (ours && (best_ours < 0 || pref < best_ours))
            best_ours = pref;
    }
    ret = CK_DUNNO;
    if (best_ours < 0) {
        if (temp)
            server_tempfail(chk, "MX host address", dom);
    } else if (best_ours > primary) {
        ret = CK_OK;
        /* The better MX hosts must all be in permit_mx_backup_networks. */
        for (size_t i = 0;
             i < mx->argc && ret == CK_OK && *var_permit_mx_backup_networks;
             i++) {
            char *host;
            long pref = strtol(mx->argv[i], &host, 10);

            while (*host == ' ')
                host++;
            if (pref >= best_ours)
                break;
            addrs = argv_new(4);
            st = chk->dns.records(host, SMTPD_DNS_ADDR, addrs);
            if (st == 4)
                server_tempfail(chk, "MX host address", host);
            if (st != 2 || !mx_backup_networks_match(chk, addrs))
                ret = CK_DUNNO;
            argv_free(addrs);
        }
    }
    argv_free(mx);
    return ret;
}

/* check_{client,reverse_client,helo,sender,recipient}_{a,mx,ns}_access. */
static int server_check(struct smtpd_check *chk, const char *name,
                        const char *arg, int *handled)
{
    static const struct {
        const char *prefix;
        const char *class;
    } subjects[] = {
        {"check_client_", "Client host"},
        {"check_reverse_client_", "Client host"},
        {"check_helo_", "Helo command"},
        {"check_sender_", "Sender address"},
        {"check_recipient_", "Recipient address"},
    };
    static const struct {
        const char *suffix;
        int type;
    } kinds[] = {
        {"a_access", SMTPD_DNS_ADDR},
        {"mx_access", SMTPD_DNS_MX},
        {"ns_access", SMTPD_DNS_NS},
    };
    const struct smtpd_client *c = chk->c;

    *handled = 0;
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
        size_t pl = strlen(subjects[i].prefix);

        if (strncasecmp(name, subjects[i].prefix, pl) != 0)
            continue;
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            const char *domain = NULL, *reply_name = NULL;
            char *namaddr = NULL;
            int ret;

            if (strcasecmp(name + pl, kinds[k].suffix) != 0)
                continue;
            *handled = 1;
            switch (i) {
            case 0:
            case 1:
                domain = i == 0 ? c->name : c->reverse_name;
                client_subject(chk);
                namaddr = mem_strdup(buf_str(chk->tmp));
                reply_name = namaddr;
                break;
            case 2:
                domain = reply_name = c->helo;
                break;
            case 3:
            case 4:
                reply_name = i == 3 ? c->sender : c->recipient;
                domain = addr_domain(reply_name);
                break;
            }
            ret = server_access(chk, name, arg, kinds[k].type, domain,
                                reply_name, subjects[i].class);
            mem_free(namaddr);
            return ret;
        }
    }
    return CK_DUNNO;
}

/* reject_unauth_destination and friends: the recipient's class. */
static int relay_check(struct smtpd_check *chk, int how)
{
    const char *rcpt = chk->c->recipient;
    struct resolve_reply rr;
    int ret = CK_DUNNO, authorized;

    if (!rcpt)
        return CK_DUNNO;
    resolve_reply_init(&rr);
    if (resolve_addr(chk->resolver, chk->c->sender, rcpt, RESOLVE_NO_TRANSPORT,
                     &rr)
        != LOOKUP_FOUND) {
        struct buf *t = buf_new(64);
        buf_printf(t, "resolving <%s>: %s", rcpt,
                   resolver_error(chk->resolver));
        ret = config_error(chk, buf_str(t));
        buf_free(t);
        resolve_reply_free(&rr);
        return ret;
    }
    authorized =
        rr.cls != RESOLVE_CLASS_DEFAULT && !(rr.flags & RESOLVE_FLAG_ERROR)
        && !((rr.flags & RESOLVE_FLAG_ROUTED) && !var_allow_untrusted_routing);
    resolve_reply_free(&rr);
    if (how == 0) /* permit_auth_destination */
        return authorized ? CK_OK : CK_DUNNO;
    if (authorized)
        return CK_DUNNO;
    if (how == 1)
        return reply_fmt(chk, var_relay_domains_reject_code, "5.7.1",
                         "<%s>: Relay access denied", rcpt);
    return reply_fmt(chk, var_defer_code, "4.7.1", "<%s>: Relay access denied",
                     rcpt);
}

static int unknown_domain(struct smtpd_check *chk, const char *addr, int sender)
{
    const char *dom = addr_domain(addr);
    const char *class = sender ? "Sender address" : "Recipient address";
    const char *dsn = sender ? "4.1.8" : "4.1.2";
    struct buf *t;
    int ret = CK_DUNNO;

    if (!addr || !*addr || !dom || !*dom || is_literal(dom))
        return CK_DUNNO;
    /* Not when we are the final destination of the domain. */
    enum resolve_class cls;
    switch (resolve_domain_class(chk->resolver, dom, &cls)) {
    case LOOKUP_FOUND:
        if (cls == RESOLVE_CLASS_LOCAL || cls == RESOLVE_CLASS_ALIAS
            || cls == RESOLVE_CLASS_VIRTUAL)
            return CK_DUNNO;
        break;
    default:
        t = buf_new(64);
        buf_printf(t, "resolving domain %s: %s", dom,
                   resolver_error(chk->resolver));
        ret = config_error(chk, buf_str(t));
        buf_free(t);
        return ret;
    }
    t = buf_new(64);
    buf_printf(t, "<%s>: %s rejected: Domain not found", addr, class);
    switch (chk->dns.host_or_mx(dom)) {
    case 2:
        break;
    case 5:
        ret = reply_set(chk, var_unknown_address_reject_code, dsn, buf_str(t));
        break;
    default:
        ret = tempfail(chk, var_unknown_address_tempfail_action, 450, dsn,
                       buf_str(t));
    }
    buf_free(t);
    return ret;
}

/* The table and reply of an unknown address of class CLS; NULL: no check. */
static int unlisted(struct smtpd_check *chk, const char *addr, int sender)
{
    struct resolve_reply rr;
    struct buf *v;
    const char *table = NULL,
               *class = sender ? "Sender address" : "Recipient address";
    const char *dsn = sender ? "5.1.0" : "5.1.1";
    int code = 550, ret = CK_DUNNO;
    enum lookup_status st;

    if (!addr || !*addr)
        return CK_DUNNO;
    resolve_reply_init(&rr);
    if (resolve_addr(chk->resolver, NULL, addr, RESOLVE_NO_TRANSPORT, &rr)
        != LOOKUP_FOUND) {
        struct buf *t = buf_new(64);
        buf_printf(t, "resolving <%s>: %s", addr,
                   resolver_error(chk->resolver));
        ret = config_error(chk, buf_str(t));
        buf_free(t);
        resolve_reply_free(&rr);
        return ret;
    }
    enum resolve_class cls = rr.cls;
    resolve_reply_free(&rr);
    if (cls == RESOLVE_CLASS_DEFAULT)
        return CK_DUNNO;
    v = buf_new(64);
    /* An address with a virtual alias is valid in every class. */
    if (maps_count(chk->valias) > 0) {
        st = maps_search_rewrite(chk->valias, addr, 0, v);
        if (st == LOOKUP_FOUND)
            goto done;
        if (st != LOOKUP_NOTFOUND) {
            ret = lookup_error(chk, chk->valias);
            goto done;
        }
    }
    struct maps *m = NULL;
    switch (cls) {
    case RESOLVE_CLASS_LOCAL:
        m = chk->local_rcpt;
        table = "local recipient table";
        code = var_unknown_local_recipient_reject_code;
        break;
    case RESOLVE_CLASS_ALIAS:
        table = "virtual alias table";
        code = var_unknown_virtual_alias_reject_code;
        break;
    case RESOLVE_CLASS_VIRTUAL:
        m = chk->vmailbox;
        table = "virtual mailbox table";
        code = var_unknown_virtual_mailbox_reject_code;
        break;
    case RESOLVE_CLASS_RELAY:
        m = chk->relay_rcpt;
        table = "relay recipient table";
        code = var_unknown_relay_recipient_reject_code;
        break;
    default:
        goto done;
    }
    if (cls != RESOLVE_CLASS_ALIAS) {
        if (maps_count(m) == 0) /* no table: every user is valid */
            goto done;
        st = maps_search_rewrite(
            m, addr, cls == RESOLVE_CLASS_LOCAL ? MAPS_SEARCH_LOCAL : 0, v);
        if (st == LOOKUP_FOUND)
            goto done;
        if (st != LOOKUP_NOTFOUND) {
            ret = lookup_error(chk, m);
            goto done;
        }
    }
    if (var_show_user_unknown_table_name)
        ret = reply_fmt(chk, code, dsn, "<%s>: %s rejected: User unknown in %s",
                        addr, class, table);
    else
        ret = reply_fmt(chk, code, dsn, "<%s>: %s rejected: User unknown", addr,
                        class);
done:
    buf_free(v);
    return ret;
}

/* how: 0 both, 1 authenticated only, 2 unauthenticated only, 3 known. */
static int login_mismatch(struct smtpd_check *chk, int how)
{
    const struct smtpd_client *c = chk->c;
    const char *sender = c->sender;
    struct buf *v;
    int ret = CK_DUNNO;

    if (!sender || !*sender)
        return CK_DUNNO;
    if (c->sasl_username ? how == 2 : (how == 1 || how == 3))
        return CK_DUNNO;
    v = buf_new(64);
    enum lookup_status st = maps_search_rewrite(chk->login_maps, sender, 0, v);
    if (st != LOOKUP_FOUND && st != LOOKUP_NOTFOUND) {
        ret = lookup_error(chk, chk->login_maps);
    } else if (c->sasl_username) {
        int owned = 0;
        if (st == LOOKUP_FOUND) {
            struct argv *owners = argv_split(buf_str(v), STR_LIST_SEP);
            for (size_t i = 0; i < owners->argc; i++)
                if (strcasecmp(owners->argv[i], c->sasl_username) == 0)
                    owned = 1;
            argv_free(owners);
        }
        if (!owned && (st == LOOKUP_FOUND || how != 3))
            ret = reply_fmt(chk, 553, "5.7.1",
                            "<%s>: Sender address rejected: not owned by "
                            "user %s",
                            sender, c->sasl_username);
    } else if (st == LOOKUP_FOUND) {
        ret = reply_fmt(chk, 553, "5.7.1",
                        "<%s>: Sender address rejected: not logged in", sender);
    }
    buf_free(v);
    return ret;
}

/* ---- DNS lists ---------------------------------------------------------- */

struct rbl_vars {
    const struct smtpd_client *c;
    const char *code, *domain, *reason, *class, *what;
};

static const char *rbl_var(const struct rbl_vars *rv, const char *name,
                           size_t len)
{
#define IS(s) (len == strlen(s) && strncmp(name, s, len) == 0)
    const struct smtpd_client *c = rv->c;
    if (IS("rbl_code"))
        return rv->code;
    if (IS("rbl_domain"))
        return rv->domain;
    if (IS("rbl_reason") || IS("rbl_txt"))
        return rv->reason && *rv->reason ? rv->reason : NULL;
    if (IS("rbl_class"))
        return rv->class;
    if (IS("rbl_what"))
        return rv->what;
    if (IS("client"))
        return NULL;
    if (IS("client_address"))
        return c->addr;
    if (IS("client_name"))
        return c->name;
    if (IS("reverse_client_name"))
        return c->reverse_name;
    if (IS("client_port"))
        return c->port;
    if (IS("helo_name"))
        return c->helo;
    if (IS("sender"))
        return c->sender;
    if (IS("recipient"))
        return c->recipient;
    return NULL;
#undef IS
}

/* $name, ${name}, ${name?text}, ${name:text}; TEXT is expanded too. */
static void rbl_expand(struct buf *out, const char *s, size_t len,
                       const struct rbl_vars *rv, int depth)
{
    const char *end = s + len;

    while (s < end) {
        if (*s != '$' || s + 1 >= end) {
            buf_putc(out, *s++);
            continue;
        }
        s++;
        if (*s == '$') {
            buf_putc(out, *s++);
            continue;
        }
        if (*s == '{') {
            const char *p = ++s;
            int d = 1;
            const char *close = NULL;
            while (p < end) {
                if (*p == '{')
                    d++;
                else if (*p == '}' && --d == 0) {
                    close = p;
                    break;
                }
                p++;
            }
            if (!close) {
                buf_append(out, s - 2, (size_t) (end - s + 2));
                return;
            }
            size_t nl = strcspn(s, "?:}");
            if (s + nl > close)
                nl = (size_t) (close - s);
            const char *val = rbl_var(rv, s, nl);
            if (s + nl == close) {
                if (val)
                    buf_puts(out, val);
            } else if (depth < 5) {
                const char *t = s + nl + 1;
                int want = s[nl] == '?';
                if ((val && *val) == want)
                    rbl_expand(out, t, (size_t) (close - t), rv, depth + 1);
                else if (!want && val)
                    buf_puts(out, val);
            }
            s = close + 1;
            continue;
        }
        const char *p = s;
        while (p < end && (isalnum((unsigned char) *p) || *p == '_'))
            p++;
        if (p == s) {
            buf_putc(out, '$');
            continue;
        }
        if (p - s == 6 && strncmp(s, "client", 6) == 0) {
            buf_printf(out, "%s[%s]", client_name(rv->c),
                       rv->c->addr ? rv->c->addr : "unknown");
        } else {
            const char *val = rbl_var(rv, s, (size_t) (p - s));
            if (val)
                buf_puts(out, val);
        }
        s = p;
    }
}

/* Does one of ADDRS (space separated) pass FILTER (a.b.c.d, NULL: any)? */
static int rbl_filter(const char *addrs, const char *filter)
{
    if (!filter)
        return 1;
    struct argv *av = argv_split(addrs, " ");
    int hit = 0;
    for (size_t i = 0; i < av->argc && !hit; i++) {
        const char *a = av->argv[i], *f = filter;
        /* Octets of the filter may be [n..m] or [n;m;...]. */
        while (*a && *f) {
            if (*f == '[') {
                const char *close = strchr(f, ']');
                if (!close)
                    break;
                long v = strtol(a, (char **) &a, 10);
                char *set = mem_strndup(f + 1, (size_t) (close - f - 1));
                char *dots = strstr(set, "..");
                int ok = 0;
                if (dots) {
                    ok = v >= atol(set) && v <= atol(dots + 2);
                } else {
                    char *sp = set, *tok;
                    while ((tok = str_token(&sp, ";")))
                        if (atol(tok) == v)
                            ok = 1;
                }
                mem_free(set);
                if (!ok)
                    break;
                f = close + 1;
            } else if (*f == *a) {
                f++, a++;
            } else {
                break;
            }
        }
        hit = !*a && !*f;
    }
    argv_free(av);
    return hit;
}

/*
 * KIND: 0 reject_rbl_client/permit_dnswl_client (reversed address), else
 * a domain name for the rhsbl family. PERMIT: a white list.
 */
static int rbl_check(struct smtpd_check *chk, const char *arg,
                     const char *subject, int reversed, int permit,
                     const char *class)
{
    char *domain = mem_strdup(arg);
    char *filter = strchr(domain, '=');
    struct buf *q = buf_new(64), *addrs = buf_new(32), *txt = buf_new(32);
    int ret = CK_DUNNO;

    if (filter)
        *filter++ = 0;
    if (!subject || !*subject || strcmp(subject, "unknown") == 0)
        goto out;
    if (reversed) {
        struct cidr_addr a;
        if (cidr_addr_parse(subject, strlen(subject), &a) != 0)
            goto out;
        if (cidr_addr_is_v4mapped(&a))
            cidr_addr_unmap(&a);
        struct buf *canon = buf_new(48);
        cidr_addr_format(&a, canon);
        if (strchr(buf_str(canon), ':')) {
            unsigned char bin[16];
            if (inet_pton(AF_INET6, buf_str(canon), bin) == 1) {
                for (int i = 15; i >= 0; i--)
                    buf_printf(q, "%x.%x.", bin[i] & 0xf, bin[i] >> 4);
            }
        } else {
            unsigned o[4];
            if (sscanf(buf_str(canon), "%u.%u.%u.%u", &o[0], &o[1], &o[2],
                       &o[3])
                == 4)
                buf_printf(q, "%u.%u.%u.%u.", o[3], o[2], o[1], o[0]);
        }
        buf_free(canon);
        if (buf_len(q) == 0)
            goto out;
    } else {
        if (is_literal(subject) || is_ip(subject))
            goto out;
        buf_printf(q, "%s.", subject);
    }
    buf_puts(q, domain);
    int st = chk->dns.rbl(buf_str(q), addrs, permit ? NULL : txt);
    if (st != 2 || !rbl_filter(buf_str(addrs), filter))
        goto out; /* a temporary failure is logged by the lookup, not fatal */
    if (permit) {
        ret = CK_OK;
        goto out;
    }
    {
        struct buf *tmpl = buf_new(128), *out = buf_new(128);
        char code[8];
        snprintf(code, sizeof(code), "%d", var_maps_rbl_reject_code);
        struct rbl_vars rv = {chk->c,       code,  domain,
                              buf_str(txt), class, subject};
        enum lookup_status ls = maps_count(chk->rbl_reply)
                                    ? maps_find(chk->rbl_reply, arg, 0, tmpl)
                                    : LOOKUP_NOTFOUND;
        if (ls == LOOKUP_NOTFOUND && filter)
            ls = maps_find(chk->rbl_reply, domain, 0, tmpl);
        if (ls != LOOKUP_FOUND && ls != LOOKUP_NOTFOUND) {
            ret = lookup_error(chk, chk->rbl_reply);
        } else {
            const char *t =
                ls == LOOKUP_FOUND ? buf_str(tmpl) : var_default_rbl_reply;
            rbl_expand(out, t, strlen(t), &rv, 0);
            const char *s = buf_str(out);
            int rc = var_maps_rbl_reject_code;
            if (isdigit((unsigned char) s[0]) && isdigit((unsigned char) s[1])
                && isdigit((unsigned char) s[2]) && (s[3] == ' ' || !s[3])) {
                rc = atoi(s);
                s += 3;
                while (*s == ' ')
                    s++;
            }
            ret = reply_set(chk, rc, "5.7.1", s);
        }
        buf_free(tmpl);
        buf_free(out);
    }
out:
    buf_free(q);
    buf_free(addrs);
    buf_free(txt);
    mem_free(domain);
    return ret;
}

/* ---- the evaluator ------------------------------------------------------ */

static int eval_one(struct smtpd_check *chk, const char *name, const char *arg)
{
    const struct smtpd_client *c = chk->c;
    const char *helo = c->helo;
    struct buf *t;
    int ret;

#define NAME(s) (strcasecmp(name, s) == 0)
    if (NAME("permit"))
        return CK_OK;
    if (NAME("reject"))
        return reply_fmt(chk, var_reject_code, "5.7.1",
                         "<%s>: %s rejected: Access denied", chk->stage_name,
                         chk->stage_class);
    if (NAME("defer"))
        return reply_fmt(chk, var_defer_code, "4.7.1",
                         "<%s>: %s rejected: Try again later", chk->stage_name,
                         chk->stage_class);
    if (NAME("defer_if_permit")) {
        t = buf_new(64);
        buf_printf(t, "<%s>: %s rejected: defer_if_permit requested",
                   chk->stage_name, chk->stage_class);
        ret = tempfail(chk, "defer_if_permit", var_defer_code, "4.7.1",
                       buf_str(t));
        buf_free(t);
        return ret;
    }
    if (NAME("defer_if_reject")) {
        chk->dir = 1;
        return CK_DUNNO;
    }
    if (NAME("permit_mynetworks"))
        return mynetworks_match(chk) ? CK_OK : CK_DUNNO;
    if (NAME("permit_sasl_authenticated"))
        return c->sasl_username && *c->sasl_username ? CK_OK : CK_DUNNO;
    if (NAME("permit_tls_all_clientcerts"))
        return c->ccert_fingerprint && *c->ccert_fingerprint ? CK_OK : CK_DUNNO;
    if (NAME("permit_tls_clientcerts")) {
        if (!c->ccert_fingerprint || !*c->ccert_fingerprint)
            return CK_DUNNO;
        t = buf_new(32);
        enum lookup_status st =
            maps_find(chk->relay_certs, c->ccert_fingerprint, 0, t);
        buf_free(t);
        if (st == LOOKUP_FOUND)
            return CK_OK;
        return st == LOOKUP_NOTFOUND ? CK_DUNNO
                                     : lookup_error(chk, chk->relay_certs);
    }
    if (NAME("reject_unauth_destination") || NAME("check_relay_domains"))
        return relay_check(chk, 1);
    if (NAME("defer_unauth_destination"))
        return relay_check(chk, 2);
    if (NAME("permit_mx_backup"))
        return mx_backup(chk);
    if (NAME("permit_auth_destination"))
        return relay_check(chk, 0);
    if (NAME("reject_unauth_pipelining")) {
        if (!c->pipelined)
            return CK_DUNNO;
        return reply_fmt(chk, 503, "5.5.0",
                         "<%s>: %s rejected: Improper use of SMTP command "
                         "pipelining",
                         chk->stage_name, chk->stage_class);
    }
    if (NAME("reject_invalid_helo_hostname")
        || NAME("reject_invalid_hostname")) {
        if (!helo || valid_helo(helo))
            return CK_DUNNO;
        return reply_fmt(chk, var_invalid_hostname_reject_code, "5.5.2",
                         "<%s>: Helo command rejected: Invalid name", helo);
    }
    if (NAME("reject_non_fqdn_helo_hostname")
        || NAME("reject_non_fqdn_hostname")) {
        if (!helo || is_literal(helo) || is_ip(helo)
            || (valid_hostname(helo) && strchr(helo, '.')
                && helo[strlen(helo) - 1] != '.'))
            return CK_DUNNO;
        return reply_fmt(chk, var_non_fqdn_reject_code, "5.5.2",
                         "<%s>: Helo command rejected: need fully-qualified "
                         "hostname",
                         helo);
    }
    if (NAME("reject_unknown_helo_hostname")
        || NAME("reject_unknown_hostname")) {
        if (!helo || is_literal(helo) || is_ip(helo))
            return CK_DUNNO;
        t = buf_new(64);
        buf_printf(t, "<%s>: Helo command rejected: Host not found", helo);
        switch (chk->dns.host_or_mx(helo)) {
        case 2:
            ret = CK_DUNNO;
            break;
        case 5:
            ret = reply_set(chk, var_unknown_hostname_reject_code, "4.7.1",
                            buf_str(t));
            break;
        default:
            ret = tempfail(chk, var_unknown_helo_hostname_tempfail_action, 450,
                           "4.7.1", buf_str(t));
        }
        buf_free(t);
        return ret;
    }
    if (NAME("reject_unknown_client_hostname") || NAME("reject_unknown_client")
        || NAME("reject_unknown_reverse_client_hostname")) {
        int reverse = NAME("reject_unknown_reverse_client_hostname");
        int st = reverse ? c->reverse_status : c->name_status;
        const char *n = reverse ? c->reverse_name : c->name;
        if (st == 2 || (st == 0 && n && strcmp(n, "unknown") != 0))
            return CK_DUNNO;
        t = buf_new(64);
        buf_printf(t, "Client host rejected: cannot find your %shostname, [%s]",
                   reverse ? "reverse " : "", c->addr ? c->addr : "unknown");
        if (st == 4)
            ret = tempfail(chk, var_reject_tempfail_action, 450, "4.7.25",
                           buf_str(t));
        else
            ret = reply_set(chk, var_unknown_client_reject_code, "4.7.25",
                            buf_str(t));
        buf_free(t);
        return ret;
    }
    if (NAME("reject_non_fqdn_sender") || NAME("reject_non_fqdn_recipient")) {
        int snd = NAME("reject_non_fqdn_sender");
        const char *a = snd ? c->sender : c->recipient;
        const char *dom = addr_domain(a);
        if (!a || !*a)
            return CK_DUNNO;
        if (dom && *dom
            && (is_literal(dom)
                || (strchr(dom, '.') && valid_hostname(dom)
                    && dom[strlen(dom) - 1] != '.')))
            return CK_DUNNO;
        return reply_fmt(chk, var_non_fqdn_reject_code, "5.5.2",
                         "<%s>: %s rejected: need fully-qualified address", a,
                         snd ? "Sender address" : "Recipient address");
    }
    if (NAME("reject_unknown_sender_domain"))
        return unknown_domain(chk, c->sender, 1);
    if (NAME("reject_unknown_recipient_domain"))
        return unknown_domain(chk, c->recipient, 0);
    if (NAME("reject_unlisted_sender"))
        return unlisted(chk, c->sender, 1);
    if (NAME("reject_unlisted_recipient")) {
        if (!c->recipient)
            return CK_DUNNO;
        chk->unlisted_rcpt_done = 1;
        return unlisted(chk, c->recipient, 0);
    }
    if (NAME("reject_unverified_sender")
        || NAME("reject_unverified_recipient")) {
        /* No address verification service yet: never a false reject. */
        return CK_DUNNO;
    }
    if (NAME("reject_sender_login_mismatch"))
        return login_mismatch(chk, 0);
    if (NAME("reject_authenticated_sender_login_mismatch"))
        return login_mismatch(chk, 1);
    if (NAME("reject_unauthenticated_sender_login_mismatch"))
        return login_mismatch(chk, 2);
    if (NAME("reject_known_sender_login_mismatch"))
        return login_mismatch(chk, 3);
    if (NAME("check_client_access"))
        return check_client_table(chk, arg, c->name);
    if (NAME("check_reverse_client_hostname_access"))
        return check_client_table(chk, arg, c->reverse_name);
    if (NAME("check_helo_access"))
        return helo ? check_host_access(chk, arg, helo, NULL, "Helo command")
                    : CK_DUNNO;
    if (NAME("check_sender_access"))
        return check_addr_access(chk, arg, c->sender, "Sender address");
    if (NAME("check_recipient_access"))
        return check_addr_access(chk, arg, c->recipient, "Recipient address");
    {
        int handled;
        ret = server_check(chk, name, arg, &handled);
        if (handled)
            return ret;
    }
    if (NAME("check_etrn_access"))
        return c->etrn_domain ? check_host_access(chk, arg, c->etrn_domain,
                                                  NULL, "Etrn command")
                              : CK_DUNNO;
    if (NAME("check_ccert_access")) {
        if (!c->ccert_fingerprint || !*c->ccert_fingerprint)
            return CK_DUNNO;
        struct maps *m = get_maps(chk, arg);
        t = buf_new(32);
        enum lookup_status st = maps_find(m, c->ccert_fingerprint, 0, t);
        ret = st == LOOKUP_FOUND
                  ? access_action(chk, arg, buf_str(t), c->ccert_fingerprint,
                                  "Client certificate")
              : st == LOOKUP_NOTFOUND ? CK_DUNNO
                                      : lookup_error(chk, m);
        buf_free(t);
        return ret;
    }
    if (NAME("check_sasl_access")) {
        if (!c->sasl_username || !*c->sasl_username)
            return CK_DUNNO;
        struct maps *m = get_maps(chk, arg);
        t = buf_new(32);
        enum lookup_status st = maps_find(m, c->sasl_username, 0, t);
        ret = st == LOOKUP_FOUND ? access_action(
                  chk, arg, buf_str(t), c->sasl_username, "SASL login name")
              : st == LOOKUP_NOTFOUND ? CK_DUNNO
                                      : lookup_error(chk, m);
        buf_free(t);
        return ret;
    }
    if (NAME("reject_rbl_client"))
        return rbl_check(chk, arg, c->addr, 1, 0, "Client host");
    if (NAME("permit_dnswl_client"))
        return rbl_check(chk, arg, c->addr, 1, 1, "Client host");
    if (NAME("reject_rhsbl_client"))
        return rbl_check(chk, arg, c->name, 0, 0, "Client host");
    if (NAME("permit_rhswl_client"))
        return rbl_check(chk, arg, c->name, 0, 1, "Client host");
    if (NAME("reject_rhsbl_reverse_client"))
        return rbl_check(chk, arg, c->reverse_name, 0, 0,
                         "Unverified Client host");
    if (NAME("reject_rhsbl_helo"))
        return rbl_check(chk, arg, helo, 0, 0, "Helo command");
    if (NAME("reject_rhsbl_sender"))
        return rbl_check(chk, arg, addr_domain(c->sender), 0, 0,
                         "Sender address");
    if (NAME("reject_rhsbl_recipient"))
        return rbl_check(chk, arg, addr_domain(c->recipient), 0, 0,
                         "Recipient address");
    if (NAME("check_policy_service")) {
        struct buf *action = buf_new(64), *err = buf_new(64);
        struct smtpd_policy *p = get_policy(chk, arg, err);
        const char *subject = chk->stage_name;
        const char *class = chk->stage_class;
        if (!p) {
            ret = config_error(chk, buf_str(err));
            buf_free(action);
            buf_free(err);
            return ret;
        }
        if (smtpd_policy_query(p, c, chk->where, action, err) < 0) {
            msg_warn("policy service %s failed: %s; using default action "
                     "\"%s\"",
                     smtpd_policy_endpoint(p), buf_str(err),
                     smtpd_policy_default_action(p));
            buf_set(action, smtpd_policy_default_action(p));
        }
        ret = access_action(chk, arg, buf_str(action), subject, class);
        buf_free(action);
        buf_free(err);
        return ret;
    }
#undef NAME
    {
        struct argv *cls = find_class(chk, name);
        if (cls) {
            if (chk->depth >= CHECK_DEPTH_MAX)
                return config_error(chk, "restriction classes nest too deep");
            return eval_list(chk, cls);
        }
    }
    t = buf_new(64);
    buf_printf(t, "unknown smtpd restriction: \"%s\"", name);
    ret = config_error(chk, buf_str(t));
    buf_free(t);
    return ret;
}

static int eval_words(struct smtpd_check *chk, char **words, size_t count)
{
    int ret = CK_DUNNO;

    if (chk->depth >= CHECK_DEPTH_MAX)
        return config_error(chk, "restriction lists nest too deep");
    chk->depth++;
    for (size_t i = 0; i < count; i++) {
        const char *name = words[i], *arg = NULL;
        int r = restr_find(name);
        if (r >= 0 && restr_names[r].arg != ARG_NONE) {
            if (i + 1 >= count) {
                ret = config_error(chk, "restriction without its argument");
                break;
            }
            arg = words[++i];
        }
        if (strcasecmp(name, "warn_if_reject") == 0) {
            chk->warn_next = 1;
            continue;
        }
        int warn = chk->warn_next;
        chk->warn_next = 0;
        ret = eval_one(chk, name, arg);
        if (ret == CK_REJECT && warn) {
            log_event(chk, "reject_warning", buf_str(chk->reply));
            ret = CK_DUNNO;
        }
        if (ret != CK_DUNNO)
            break;
    }
    chk->depth--;
    return ret;
}

static int eval_list(struct smtpd_check *chk, struct argv *list)
{
    return eval_words(chk, list->argv, list->argc);
}

/* ---- stages ------------------------------------------------------------- */

static void client_subject(struct smtpd_check *chk)
{
    buf_reset(chk->tmp);
    buf_printf(chk->tmp, "%s[%s]", client_name(chk->c),
               chk->c->addr ? chk->c->addr : "unknown");
}

static void begin(struct smtpd_check *chk, const struct smtpd_client *c,
                  const char *where)
{
    chk->c = c;
    chk->where = where;
    chk->warn_next = 0;
    chk->dir = 0;
    chk->dip = 0;
    chk->depth = 0;
    buf_reset(chk->reply);
    buf_reset(chk->dip_reply);
}

static const char *helo_where(const struct smtpd_client *c)
{
    return c->protocol && strcasecmp(c->protocol, "SMTP") == 0 ? "HELO"
                                                               : "EHLO";
}

/* Run one list, remembering the outcome in SV. */
static void run_saved(struct smtpd_check *chk, struct saved *sv,
                      struct argv *list, const char *name, const char *class,
                      const char *key, int unlisted_sender)
{
    int dir = chk->dir, dip = chk->dip;
    struct buf *dip_reply = buf_new(32);

    buf_set(dip_reply, buf_str(chk->dip_reply));
    chk->dir = 0;
    chk->dip = 0;
    buf_reset(chk->dip_reply);
    chk->stage_name = name;
    chk->stage_class = class;
    int r = eval_list(chk, list);
    if (r != CK_REJECT && unlisted_sender && var_smtpd_reject_unlisted_sender)
        r = unlisted(chk, chk->c->sender, 1);
    sv->done = 1;
    sv->rejected = r == CK_REJECT;
    buf_set(sv->reply, sv->rejected ? buf_str(chk->reply) : "");
    sv->dip = chk->dip;
    buf_set(sv->dip_reply, buf_str(chk->dip_reply));
    mem_free(sv->key);
    sv->key = key ? mem_strdup(key) : NULL;
    chk->dir = dir;
    chk->dip = dip;
    buf_set(chk->dip_reply, buf_str(dip_reply));
    buf_free(dip_reply);
}

/* Fold a saved outcome into this call: 1 when it rejects. */
static int use_saved(struct smtpd_check *chk, const struct saved *sv)
{
    if (sv->rejected) {
        buf_set(chk->reply, buf_str(sv->reply));
        return 1;
    }
    if (sv->dip && !chk->dip) {
        chk->dip = 1;
        buf_set(chk->dip_reply, buf_str(sv->dip_reply));
    }
    return 0;
}

static int key_differs(const struct saved *sv, const char *key)
{
    if (!sv->key || !key)
        return sv->key != key;
    return strcmp(sv->key, key) != 0;
}

static void ensure_client(struct smtpd_check *chk)
{
    if (!chk->client_res.done) {
        client_subject(chk);
        char *subj = mem_strdup(buf_str(chk->tmp));
        run_saved(chk, &chk->client_res, chk->client_list, subj, "Client host",
                  NULL, 0);
        mem_free(subj);
    }
}

static void ensure_helo(struct smtpd_check *chk)
{
    const char *helo = chk->c->helo;
    if (!chk->helo_res.done || key_differs(&chk->helo_res, helo)) {
        run_saved(chk, &chk->helo_res, chk->helo_list, helo ? helo : "",
                  "Helo command", helo, 0);
    }
}

static void ensure_sender(struct smtpd_check *chk)
{
    const char *snd = chk->c->sender;
    if (!chk->sender_res.done || key_differs(&chk->sender_res, snd)) {
        run_saved(chk, &chk->sender_res, chk->sender_list, snd ? snd : "",
                  "Sender address", snd, 1);
    }
}

/* The end of a check call: log and hand over the reply. */
static int finish(struct smtpd_check *chk, int r,
                  struct smtpd_check_result *res)
{
    if (r != CK_REJECT && chk->dip) {
        buf_set(chk->reply, buf_str(chk->dip_reply));
        r = CK_REJECT;
    }
    if (r != CK_REJECT)
        return SMTPD_CHECK_OK;
    log_event(chk, "reject", buf_str(chk->reply));
    if (!res->reply)
        res->reply = buf_new(128);
    buf_set(res->reply, buf_str(chk->reply));
    return SMTPD_CHECK_REPLY;
}

int smtpd_check_connect(struct smtpd_check *chk,
                        const struct smtpd_client *client,
                        struct smtpd_check_result *res)
{
    begin(chk, client, "CONNECT");
    if (var_smtpd_delay_reject)
        return SMTPD_CHECK_OK;
    ensure_client(chk);
    return finish(chk, use_saved(chk, &chk->client_res) ? CK_REJECT : CK_DUNNO,
                  res);
}

int smtpd_check_helo(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res)
{
    begin(chk, client, helo_where(client));
    if (var_smtpd_delay_reject)
        return SMTPD_CHECK_OK;
    ensure_helo(chk);
    return finish(chk, use_saved(chk, &chk->helo_res) ? CK_REJECT : CK_DUNNO,
                  res);
}

int smtpd_check_mail(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res)
{
    begin(chk, client, "MAIL");
    if (var_smtpd_delay_reject)
        return SMTPD_CHECK_OK;
    ensure_sender(chk);
    return finish(chk, use_saved(chk, &chk->sender_res) ? CK_REJECT : CK_DUNNO,
                  res);
}

int smtpd_check_rcpt(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res)
{
    int r = CK_DUNNO;

    begin(chk, client, "RCPT");
    chk->unlisted_rcpt_done = 0;
    ensure_client(chk);
    if (use_saved(chk, &chk->client_res))
        return finish(chk, CK_REJECT, res);
    ensure_helo(chk);
    if (use_saved(chk, &chk->helo_res))
        return finish(chk, CK_REJECT, res);
    ensure_sender(chk);
    if (use_saved(chk, &chk->sender_res))
        return finish(chk, CK_REJECT, res);
    chk->stage_name = client->recipient ? client->recipient : "";
    chk->stage_class = "Recipient address";
    if (var_smtpd_relay_before_recipient_restrictions) {
        r = eval_list(chk, chk->relay_list);
        if (r != CK_REJECT)
            r = eval_list(chk, chk->rcpt_list);
    } else {
        r = eval_list(chk, chk->rcpt_list);
        if (r != CK_REJECT)
            r = eval_list(chk, chk->relay_list);
    }
    if (r != CK_REJECT && var_smtpd_reject_unlisted_recipient
        && !chk->unlisted_rcpt_done)
        r = unlisted(chk, client->recipient, 0);
    return finish(chk, r, res);
}

static int simple_stage(struct smtpd_check *chk,
                        const struct smtpd_client *client,
                        struct smtpd_check_result *res, const char *where,
                        const char *name, const char *class, struct argv *list)
{
    begin(chk, client, where);
    chk->stage_name = name;
    chk->stage_class = class;
    return finish(chk, eval_list(chk, list), res);
}

int smtpd_check_data(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res)
{
    return simple_stage(chk, client, res, "DATA", "DATA", "Data command",
                        chk->data_list);
}

int smtpd_check_eod(struct smtpd_check *chk, const struct smtpd_client *client,
                    struct smtpd_check_result *res)
{
    return simple_stage(chk, client, res, "END-OF-MESSAGE", "END-OF-MESSAGE",
                        "End-of-data", chk->eod_list);
}

int smtpd_check_etrn(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res)
{
    begin(chk, client, "ETRN");
    if (var_smtpd_delay_reject) {
        ensure_client(chk);
        if (use_saved(chk, &chk->client_res))
            return finish(chk, CK_REJECT, res);
        ensure_helo(chk);
        if (use_saved(chk, &chk->helo_res))
            return finish(chk, CK_REJECT, res);
    }
    chk->stage_name = client->etrn_domain ? client->etrn_domain : "";
    chk->stage_class = "Etrn command";
    return finish(chk, eval_list(chk, chk->etrn_list), res);
}

int smtpd_check_vrfy(struct smtpd_check *chk, const struct smtpd_client *client,
                     struct smtpd_check_result *res)
{
    begin(chk, client, "VRFY");
    if (!var_smtpd_reject_unlisted_recipient || !client->recipient)
        return SMTPD_CHECK_OK;
    return finish(chk, unlisted(chk, client->recipient, 0), res);
}

/* ---- life cycle --------------------------------------------------------- */

static void saved_init(struct saved *sv)
{
    sv->reply = buf_new(64);
    sv->dip_reply = buf_new(64);
}

static void saved_clear(struct saved *sv)
{
    sv->done = sv->rejected = sv->dip = 0;
    buf_reset(sv->reply);
    buf_reset(sv->dip_reply);
    mem_free(sv->key);
    sv->key = NULL;
}

static void saved_free(struct saved *sv)
{
    buf_free(sv->reply);
    buf_free(sv->dip_reply);
    mem_free(sv->key);
}

static struct argv *param_list(struct smtpd_check *chk, const char *param,
                               const char *value, int *relay, struct buf *err)
{
    struct buf *e = buf_new(64);
    struct argv *av = list_split(value, e);

    if (!av) {
        buf_setf(err, "%s: %s", param, buf_str(e));
    } else if (list_validate(chk, av, param, relay, err) < 0) {
        argv_free(av);
        av = NULL;
    }
    buf_free(e);
    return av;
}

struct smtpd_check *smtpd_check_new(struct buf *err)
{
    struct smtpd_check *chk = mem_calloc(1, sizeof(*chk));
    struct argv *names;
    int relay = 0;

    chk->dns = *smtpd_dns_default();
    chk->reply = buf_new(128);
    chk->tmp = buf_new(64);
    chk->dip_reply = buf_new(64);
    chk->actions.hold = buf_new(16);
    chk->actions.discard = buf_new(16);
    chk->actions.redirect = buf_new(16);
    chk->actions.filter = buf_new(16);
    chk->actions.prepend = buf_new(16);
    saved_init(&chk->client_res);
    saved_init(&chk->helo_res);
    saved_init(&chk->sender_res);
    chk->resolver = resolver_new();

    if (netlist_init(&chk->mynets, "mynetworks", var_mynetworks, err) < 0
        || netlist_init(&chk->mx_backup_nets, "permit_mx_backup_networks",
                        var_permit_mx_backup_networks, err)
               < 0)
        goto fail;

    /* Classes first: the lists may name them. */
    names = argv_split(var_smtpd_restriction_classes, STR_LIST_SEP);
    chk->classes = mem_calloc(names->argc + 1, sizeof(*chk->classes));
    for (size_t i = 0; i < names->argc; i++) {
        chk->classes[i].name = mem_strdup(names->argv[i]);
        chk->nclasses++;
        if (restr_find(names->argv[i]) >= 0) {
            buf_setf(err,
                     "smtpd_restriction_classes: class name \"%s\" is a "
                     "restriction name",
                     names->argv[i]);
            argv_free(names);
            goto fail;
        }
    }
    for (size_t i = 0; i < names->argc; i++) {
        const char *def = config_get(names->argv[i]);
        if (!def) {
            buf_setf(err, "restriction class \"%s\" needs a definition",
                     names->argv[i]);
            argv_free(names);
            goto fail;
        }
        chk->classes[i].list = param_list(chk, names->argv[i], def, NULL, err);
        if (!chk->classes[i].list) {
            argv_free(names);
            goto fail;
        }
    }
    argv_free(names);

#define LIST(field, param, rel)                                                \
    if (!(chk->field = param_list(chk, #param, var_##param, rel, err)))        \
        goto fail;
    LIST(client_list, smtpd_client_restrictions, NULL);
    LIST(helo_list, smtpd_helo_restrictions, NULL);
    LIST(sender_list, smtpd_sender_restrictions, NULL);
    LIST(relay_list, smtpd_relay_restrictions, &relay);
    LIST(rcpt_list, smtpd_recipient_restrictions, &relay);
    LIST(data_list, smtpd_data_restrictions, NULL);
    LIST(eod_list, smtpd_end_of_data_restrictions, NULL);
    LIST(etrn_list, smtpd_etrn_restrictions, NULL);
#undef LIST
    if (!relay) {
        buf_set(err, "in parameter smtpd_relay_restrictions or "
                     "smtpd_recipient_restrictions, specify at least one "
                     "working instance of: reject_unauth_destination, "
                     "defer_unauth_destination, reject, defer, "
                     "defer_if_permit or check_relay_domains");
        goto fail;
    }
    chk->local_rcpt = maps_create("local_recipient_maps",
                                  var_local_recipient_maps, DICT_FOLD_FIX);
    chk->relay_rcpt = maps_create("relay_recipient_maps",
                                  var_relay_recipient_maps, DICT_FOLD_FIX);
    chk->valias = maps_create("virtual_alias_maps", var_virtual_alias_maps,
                              DICT_FOLD_FIX);
    chk->vmailbox = maps_create("virtual_mailbox_maps",
                                var_virtual_mailbox_maps, DICT_FOLD_FIX);
    chk->login_maps = maps_create("smtpd_sender_login_maps",
                                  var_smtpd_sender_login_maps, DICT_FOLD_FIX);
    chk->rbl_reply =
        maps_create("rbl_reply_maps", var_rbl_reply_maps, DICT_FOLD_FIX);
    chk->relay_certs =
        maps_create("relay_clientcerts", var_relay_clientcerts, DICT_FOLD_FIX);
    return chk;

fail:
    smtpd_check_free(chk);
    return NULL;
}

void smtpd_check_free(struct smtpd_check *chk)
{
    if (!chk)
        return;
    if (chk->resolver)
        resolver_free(chk->resolver);
    netlist_free(&chk->mynets);
    netlist_free(&chk->mx_backup_nets);
    for (size_t i = 0; i < chk->nmaps; i++) {
        mem_free(chk->maps[i].name);
        maps_free(chk->maps[i].maps);
    }
    mem_free(chk->maps);
    for (size_t i = 0; i < chk->nclasses; i++) {
        mem_free(chk->classes[i].name);
        if (chk->classes[i].list)
            argv_free(chk->classes[i].list);
    }
    mem_free(chk->classes);
    for (size_t i = 0; i < chk->npolicies; i++) {
        mem_free(chk->policies[i].name);
        smtpd_policy_free(chk->policies[i].policy);
    }
    mem_free(chk->policies);
    struct argv *lists[] = {chk->client_list, chk->helo_list, chk->sender_list,
                            chk->relay_list,  chk->rcpt_list, chk->data_list,
                            chk->eod_list,    chk->etrn_list};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        if (lists[i])
            argv_free(lists[i]);
    struct maps *m[] = {chk->local_rcpt, chk->relay_rcpt, chk->valias,
                        chk->vmailbox,   chk->login_maps, chk->rbl_reply,
                        chk->relay_certs};
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        if (m[i])
            maps_free(m[i]);
    buf_free(chk->reply);
    buf_free(chk->tmp);
    buf_free(chk->dip_reply);
    buf_free(chk->actions.hold);
    buf_free(chk->actions.discard);
    buf_free(chk->actions.redirect);
    buf_free(chk->actions.filter);
    buf_free(chk->actions.prepend);
    saved_free(&chk->client_res);
    saved_free(&chk->helo_res);
    saved_free(&chk->sender_res);
    mem_free(chk);
}

int smtpd_check_reopen(struct smtpd_check *chk)
{
    for (size_t i = 0; i < chk->nmaps; i++)
        maps_reopen(chk->maps[i].maps);
    struct maps *m[] = {
        chk->local_rcpt,  chk->relay_rcpt,  chk->valias,
        chk->vmailbox,    chk->login_maps,  chk->rbl_reply,
        chk->relay_certs, chk->mynets.maps, chk->mx_backup_nets.maps};
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        if (m[i])
            maps_reopen(m[i]);
    resolver_reopen(chk->resolver);
    return 0;
}

void smtpd_check_set_dns(struct smtpd_check *chk,
                         const struct smtpd_check_dns *dns)
{
    chk->dns = dns ? *dns : *smtpd_dns_default();
}

const struct smtpd_check_actions *
smtpd_check_actions(const struct smtpd_check *chk)
{
    return &chk->actions;
}

void smtpd_check_reset(struct smtpd_check *chk)
{
    saved_clear(&chk->sender_res);
    buf_reset(chk->actions.hold);
    buf_reset(chk->actions.discard);
    buf_reset(chk->actions.redirect);
    buf_reset(chk->actions.filter);
    buf_reset(chk->actions.prepend);
}

void smtpd_check_new_session(struct smtpd_check *chk)
{
    smtpd_check_reset(chk);
    saved_clear(&chk->client_res);
    saved_clear(&chk->helo_res);
    for (size_t i = 0; i < chk->npolicies; i++)
        smtpd_policy_close(chk->policies[i].policy);
}

void smtpd_check_result_init(struct smtpd_check_result *res)
{
    res->reply = buf_new(128);
}

void smtpd_check_result_free(struct smtpd_check_result *res)
{
    if (res->reply)
        buf_free(res->reply);
    res->reply = NULL;
}
