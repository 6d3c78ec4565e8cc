/*
 * smtpd_anvil.c - smtpd's per-client connection and rate limits through
 * the anvil service (see smtpd_anvil.h).
 *
 * Called by smtpd.c at connect, MAIL, RCPT, STARTTLS (and AUTH, when the
 * auth issue adds it). Replies and warnings are Postfix's. Errors talking
 * to anvil never reject a client: the limit is skipped (lib/anvil_client.c
 * logs that once).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "anvil_client.h"
#include "argv.h"
#include "buf.h"
#include "cidr.h"
#include "daemon.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "smtpd_anvil.h"
#include "str.h"

/* ---- host lists ---------------------------------------------------------- */

enum hl_kind { HL_NET, HL_NAME, HL_DOMAIN, HL_MAP };

struct hl_entry {
    enum hl_kind kind;
    int negate;
    struct cidr_net net;
    char *text;        /* HL_NAME, HL_DOMAIN (with its leading dot) */
    struct maps *maps; /* HL_MAP */
};

struct smtpd_hostlist {
    char *title;
    int parent; /* "example.com" also matches its subdomains */
    struct hl_entry *entries;
    size_t count;
    size_t size;
};

#define HL_FILE_DEPTH 5

static struct hl_entry *hl_add(struct smtpd_hostlist *list, enum hl_kind kind,
                               int negate)
{
    struct hl_entry *e;

    if (list->count == list->size) {
        list->size = list->size ? list->size * 2 : 8;
        list->entries =
            mem_realloc(list->entries, list->size * sizeof(*list->entries));
    }
    e = &list->entries[list->count++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->negate = negate;
    return e;
}

/* "type:" followed by something, the type being letters, digits or _. */
static int hl_is_table(const char *word)
{
    const char *colon = strchr(word, ':');
    const char *p;

    if (colon == NULL || colon == word || colon[1] == 0)
        return 0;
    for (p = word; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '_'))
            return 0;
    return 1;
}

static int hl_name_ok(const char *word)
{
    const unsigned char *p;

    for (p = (const unsigned char *) word; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'
              || *p == '_'))
            return 0;
    return word[0] != 0 && strcmp(word, ".") != 0;
}

static int hl_parse(struct smtpd_hostlist *list, const char *text, int negate,
                    int depth, struct buf *err);

static int hl_parse_file(struct smtpd_hostlist *list, const char *path,
                         int negate, int depth, struct buf *err)
{
    struct buf *content = buf_new(256);
    char line[1024];
    FILE *fp;
    int ret;

    if (depth >= HL_FILE_DEPTH) {
        buf_setf(err, "%s: file %s: files nested too deeply", list->title,
                 path);
        buf_free(content);
        return -1;
    }
    if ((fp = fopen(path, "r")) == NULL) {
        buf_setf(err, "%s: open %s: %s", list->title, path, strerror(errno));
        buf_free(content);
        return -1;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        const char *p = line + strspn(line, " \t");

        if (*p == '#')
            continue;
        buf_puts(content, p);
        buf_putc(content, '\n');
    }
    fclose(fp);
    ret = hl_parse(list, buf_str(content), negate, depth + 1, err);
    buf_free(content);
    return ret;
}

static int hl_parse(struct smtpd_hostlist *list, const char *text, int negate,
                    int depth, struct buf *err)
{
    struct argv *words = argv_split(text, STR_LIST_SEP);
    int ret = 0;
    size_t i;

    for (i = 0; i < words->argc && ret == 0; i++) {
        const char *word = words->argv[i];
        int neg = negate;
        const char *why;
        struct cidr_net net;
        int st;

        while (*word == '!') {
            neg = !neg;
            word++;
        }
        if (*word == 0) {
            buf_setf(err, "%s: \"!\" without an entry", list->title);
            ret = -1;
        } else if (*word == '/') {
            ret = hl_parse_file(list, word, neg, depth, err);
        } else if ((st = cidr_net_parse(word, strlen(word), &net, &why))
                   == CIDR_OK) {
            hl_add(list, HL_NET, neg)->net = net;
        } else if (st == CIDR_ERR_HOSTBITS) {
            msg_warn("%s: non-null host address bits in \"%s\", skipping this "
                     "rule",
                     list->title, word);
        } else if (hl_is_table(word)) {
            hl_add(list, HL_MAP, neg)->maps = maps_create(list->title, word, 0);
        } else if (hl_name_ok(word)) {
            struct hl_entry *e =
                hl_add(list, word[0] == '.' ? HL_DOMAIN : HL_NAME, neg);

            e->text = str_lower(mem_strdup(word));
        } else {
            buf_setf(err, "%s: bad host or network pattern: \"%s\"",
                     list->title, word);
            ret = -1;
        }
    }
    argv_free(words);
    return ret;
}

void smtpd_hostlist_free(struct smtpd_hostlist *list)
{
    size_t i;

    if (list == NULL)
        return;
    for (i = 0; i < list->count; i++) {
        mem_free(list->entries[i].text);
        if (list->entries[i].maps)
            maps_free(list->entries[i].maps);
    }
    mem_free(list->entries);
    mem_free(list->title);
    mem_free(list);
}

struct smtpd_hostlist *smtpd_hostlist_new(const char *title, const char *text,
                                          struct buf *err)
{
    struct smtpd_hostlist *list = mem_calloc(1, sizeof(*list));

    list->title = mem_strdup(title);
    list->parent =
        maps_feature_listed(var_parent_domain_matches_subdomains, title);
    if (hl_parse(list, text, 0, 0, err) < 0) {
        smtpd_hostlist_free(list);
        return NULL;
    }
    return list;
}

/* Does NAME end with ".SUFFIX" (SUFFIX without its dot)? */
static int hl_below(const char *name, const char *suffix)
{
    size_t n = strlen(name);
    size_t s = strlen(suffix);

    return n > s + 1 && name[n - s - 1] == '.'
           && strcasecmp(name + n - s, suffix) == 0;
}

int smtpd_hostlist_match(struct smtpd_hostlist *list, const char *name,
                         const char *addr, struct buf *err)
{
    struct cidr_addr a;
    int have_addr;
    int have_name = name && name[0] && strcmp(name, "unknown") != 0;
    struct buf *value = buf_new(16);
    int ret = 0;
    size_t i;

    have_addr = addr && cidr_addr_parse(addr, strlen(addr), &a) == CIDR_OK;
    if (have_addr && cidr_addr_is_v4mapped(&a))
        cidr_addr_unmap(&a);
    for (i = 0; i < list->count; i++) {
        struct hl_entry *e = &list->entries[i];
        int hit = 0;
        enum lookup_status st = LOOKUP_NOTFOUND;

        switch (e->kind) {
        case HL_NET:
            hit = have_addr && cidr_net_match(&e->net, &a);
            break;
        case HL_NAME:
            hit = have_name
                  && (strcasecmp(name, e->text) == 0
                      || (list->parent && hl_below(name, e->text)));
            break;
        case HL_DOMAIN:
            hit = have_name && hl_below(name, e->text + 1);
            break;
        case HL_MAP:
            if (have_name)
                st = maps_find(e->maps, name, 0, value);
            if (st == LOOKUP_NOTFOUND && addr && addr[0])
                st = maps_find(e->maps, addr, 0, value);
            if (st == LOOKUP_ERR_TEMP || st == LOOKUP_ERR_CONFIG) {
                buf_set(err, maps_error(e->maps));
                ret = -1;
                goto out;
            }
            hit = st == LOOKUP_FOUND;
            break;
        }
        if (hit) {
            ret = e->negate ? 0 : 1;
            goto out;
        }
    }
out:
    buf_free(value);
    return ret;
}

/* ---- the session --------------------------------------------------------- */

static struct anvil_client *sa_client;   /* NULL: no limit is set */
static struct smtpd_hostlist *sa_exempt; /* the exceptions */
static struct buf *sa_addr;              /* the client's address */
static struct buf *sa_namaddr;           /* "name[addr]" */
static int sa_active;     /* this client is subject to the limits */
static int sa_registered; /* anvil counted its connection */

/* Most time one anvil request may take, in milliseconds. */
static long smtpd_anvil_timeout(void)
{
    long sec = var_ipc_timeout < 10 ? var_ipc_timeout : 10;

    return (sec > 0 ? sec : 1) * 1000L;
}

int smtpd_anvil_init(struct buf *err)
{
    if (var_smtpd_client_connection_count_limit <= 0
        && var_smtpd_client_connection_rate_limit <= 0
        && var_smtpd_client_message_rate_limit <= 0
        && var_smtpd_client_recipient_rate_limit <= 0
        && var_smtpd_client_new_tls_session_rate_limit <= 0
        && var_smtpd_client_auth_rate_limit <= 0)
        return 0;
    sa_exempt =
        smtpd_hostlist_new("smtpd_client_event_limit_exceptions",
                           var_smtpd_client_event_limit_exceptions, err);
    if (sa_exempt == NULL)
        return -1;
    sa_client = anvil_client_new(ANVIL_SERVICE, smtpd_anvil_timeout());
    sa_addr = buf_new(64);
    sa_namaddr = buf_new(128);
    return 0;
}

void smtpd_anvil_free(void)
{
    smtpd_anvil_end();
    anvil_client_free(sa_client);
    sa_client = NULL;
    smtpd_hostlist_free(sa_exempt);
    sa_exempt = NULL;
    buf_free(sa_addr);
    sa_addr = NULL;
    buf_free(sa_namaddr);
    sa_namaddr = NULL;
}

static const char *smtpd_anvil_service(void)
{
    const char *s = daemon_service();

    return s && s[0] ? s : "smtpd";
}

int smtpd_anvil_connect(const char *name, const char *addr, const char *namaddr,
                        struct buf *reply)
{
    struct buf *err;
    int count;
    int rate;
    int m;

    sa_active = 0;
    sa_registered = 0;
    if (sa_client == NULL)
        return 0;
    err = buf_new(64);
    m = smtpd_hostlist_match(sa_exempt, name, addr, err);
    if (m < 0)
        msg_warn("%s", buf_str(err));
    buf_free(err);
    if (m > 0)
        return 0;
    buf_set(sa_addr, addr);
    buf_set(sa_namaddr, namaddr);
    sa_active = 1;
    if (anvil_client_connect(sa_client, smtpd_anvil_service(), addr, &count,
                             &rate)
        != ANVIL_OK)
        return 0;
    sa_registered = 1;
    if (var_smtpd_client_connection_count_limit > 0
        && count > var_smtpd_client_connection_count_limit) {
        msg_warn("Connection concurrency limit exceeded: %d from %s for "
                 "service %s",
                 count, namaddr, smtpd_anvil_service());
        buf_setf(reply, "421 4.7.0 %s Error: too many connections from %s",
                 var_myhostname, addr);
        return -1;
    }
    if (var_smtpd_client_connection_rate_limit > 0
        && rate > var_smtpd_client_connection_rate_limit) {
        msg_warn("Connection rate limit exceeded: %d from %s for service %s",
                 rate, namaddr, smtpd_anvil_service());
        buf_setf(reply, "421 4.7.0 %s Error: too many connections from %s",
                 var_myhostname, addr);
        return -1;
    }
    return 0;
}

int smtpd_anvil_mail(struct buf *reply)
{
    int rate;

    if (!sa_active || var_smtpd_client_message_rate_limit <= 0
        || anvil_client_message(sa_client, smtpd_anvil_service(),
                                buf_str(sa_addr), &rate)
               != ANVIL_OK
        || rate <= var_smtpd_client_message_rate_limit)
        return 0;
    msg_warn("Message delivery request rate limit exceeded: %d from %s for "
             "service %s",
             rate, buf_str(sa_namaddr), smtpd_anvil_service());
    buf_setf(reply, "450 4.7.1 Error: too much mail from %s", buf_str(sa_addr));
    return -1;
}

int smtpd_anvil_rcpt(struct buf *reply)
{
    int rate;

    if (!sa_active || var_smtpd_client_recipient_rate_limit <= 0
        || anvil_client_recipient(sa_client, smtpd_anvil_service(),
                                  buf_str(sa_addr), &rate)
               != ANVIL_OK
        || rate <= var_smtpd_client_recipient_rate_limit)
        return 0;
    msg_warn("Recipient address rate limit exceeded: %d from %s for service "
             "%s",
             rate, buf_str(sa_namaddr), smtpd_anvil_service());
    buf_setf(reply, "450 4.7.1 Error: too many recipients from %s",
             buf_str(sa_addr));
    return -1;
}

int smtpd_anvil_tls_check(int wrapper, struct buf *reply)
{
    int rate;

    if (!sa_active || var_smtpd_client_new_tls_session_rate_limit <= 0
        || anvil_client_newtls_report(sa_client, smtpd_anvil_service(),
                                      buf_str(sa_addr), &rate)
               != ANVIL_OK
        || rate < var_smtpd_client_new_tls_session_rate_limit)
        return 0;
    msg_warn("New TLS session rate limit exceeded: %d from %s for service %s",
             rate, buf_str(sa_namaddr), smtpd_anvil_service());
    if (wrapper)
        buf_setf(reply, "421 4.7.0 %s Error: too many new TLS sessions from %s",
                 var_myhostname, buf_str(sa_addr));
    else
        buf_setf(reply, "454 4.7.0 Error: too many new TLS sessions from %s",
                 buf_str(sa_addr));
    return -1;
}

void smtpd_anvil_tls_done(int reused)
{
    int rate;

    if (sa_active && !reused && var_smtpd_client_new_tls_session_rate_limit > 0)
        (void) anvil_client_newtls(sa_client, smtpd_anvil_service(),
                                   buf_str(sa_addr), &rate);
}

int smtpd_anvil_auth(struct buf *reply)
{
    int rate;

    if (!sa_active || var_smtpd_client_auth_rate_limit <= 0
        || anvil_client_auth(sa_client, smtpd_anvil_service(), buf_str(sa_addr),
                             &rate)
               != ANVIL_OK
        || rate <= var_smtpd_client_auth_rate_limit)
        return 0;
    msg_warn("AUTH command rate limit exceeded: %d from %s for service %s",
             rate, buf_str(sa_namaddr), smtpd_anvil_service());
    buf_setf(reply, "450 4.7.1 Error: too many AUTH commands from %s",
             buf_str(sa_addr));
    return -1;
}

void smtpd_anvil_end(void)
{
    if (sa_registered && sa_client)
        (void) anvil_client_disconnect(sa_client, smtpd_anvil_service(),
                                       buf_str(sa_addr));
    sa_registered = 0;
    sa_active = 0;
}
