/*
 * postqueue.c - the postqueue command: list and flush the mail queue as
 * an ordinary user.
 *
 *   postqueue [-v] [-c dir] -p | -j | -f | -i queue_id | -s site
 *
 * Installed setgid setgid_group: that group may enter public/, where the
 * showq and qmgr endpoints live, but not the queue folders (mail_owner,
 * 0700). -p and -j read the listing from the showq service and format it
 * here (lib/queue_list.h), so times show in the user's time zone; when
 * showq cannot be reached, the superuser gets the listing straight from
 * the queue folders, everyone else an error. -f sends the qmgr flush
 * request, -i "Q" + ID, -s "S" + SITE (lib/mail_proto.h).
 *
 * Security: a user other than root may choose another configuration (-c
 * or MAIL_CONFIG) only when the default main.cf lists it in
 * alternate_config_directories; -v is for root only; authorized_mailq_users
 * and authorized_flush_users are checked against the real user.
 *
 * Errors: "postqueue: fatal: ..." on stderr (and the log) with exit status
 * 69 (EX_UNAVAILABLE), as Postfix's postqueue; usage errors too.
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "defaults.h"
#include "mail_proto.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "queue_id.h"
#include "queue_list.h"
#include "str.h"
#include "stream.h"

#define PQ_EX_UNAVAILABLE 69

#define USAGE                                                                  \
    "usage: postqueue -f | postqueue -i queueid | postqueue -j | "             \
    "postqueue -p | postqueue -s site"

/* Is DIR one of the words of LIST (alternate_config_directories)? */
static int pq_dir_listed(const char *list, const char *dir)
{
    char *copy = mem_strdup(list);
    char *cp = copy;
    char *word;
    int found = 0;

    while (!found && (word = str_token(&cp, ", \t\r\n")) != NULL)
        found = strcmp(word, dir) == 0;
    mem_free(copy);
    return found;
}

/*
 * Load main.cf. An unprivileged caller gets another configuration than
 * the compiled-in one only when that one allows it.
 */
static void pq_load_config(const char *opt_c)
{
    const char *dir = config_choose_dir(opt_c);
    char *chosen = mem_strdup(dir);

    if (getuid() != 0 && strcmp(chosen, def_config_directory) != 0) {
        config_load(def_config_directory);
        params_load();
        if (!pq_dir_listed(var_alternate_config_directories, chosen))
            msg_fatal_status(PQ_EX_UNAVAILABLE,
                             "configuration directory %s is not listed in "
                             "alternate_config_directories of %s/main.cf",
                             chosen, def_config_directory);
        config_clear();
    }
    config_load(chosen);
    params_load();
    mem_free(chosen);
    msg_set_syslog_name(var_syslog_name);
    /* Only root may write the log file; others log to syslog. */
    if (*var_maillog_file && getuid() == 0
        && msg_set_logfile(var_maillog_file) < 0)
        msg_init("postqueue", MSG_STDERR | MSG_NOLOG);
    else if (*var_maillog_file && getuid() != 0)
        msg_init("postqueue", MSG_STDERR | MSG_NOLOG);
}

/*
 * authorized_mailq_users / authorized_flush_users: "static:anyone", user
 * names, or lookup tables keyed by the user name. Root always may.
 */
static void pq_check_user(const char *param, const char *list, const char *what)
{
    struct passwd *pw;
    char *copy;
    char *cp;
    char *word;
    const char *name;
    int ok = 0;

    if (getuid() == 0)
        return;
    pw = getpwuid(getuid());
    name = pw ? pw->pw_name : "";
    cp = copy = mem_strdup(list);
    while (!ok && (word = str_token(&cp, ", \t\r\n")) != NULL) {
        if (strcmp(word, "static:anyone") == 0) {
            ok = 1;
        } else if (strchr(word, ':') != NULL) {
            struct maps *m = maps_create(param, word, 0);
            struct buf *value = buf_new(32);
            enum lookup_status st = maps_find(m, name, 0, value);

            if (st == LOOKUP_ERR_TEMP || st == LOOKUP_ERR_CONFIG)
                msg_fatal_status(PQ_EX_UNAVAILABLE, "%s", maps_error(m));
            ok = st == LOOKUP_FOUND;
            buf_free(value);
            maps_free(m);
        } else {
            ok = *name && strcmp(word, name) == 0;
        }
    }
    mem_free(copy);
    if (!ok)
        msg_fatal_status(PQ_EX_UNAVAILABLE, "User %s(%ld) is not allowed to %s",
                         *name ? name : "?", (long) getuid(), what);
}

/* ---- listing ----------------------------------------------------------- */

struct pq_list {
    int json;
    long count;
    long long bytes;
    struct buf *out;
};

static void pq_write(struct buf *out)
{
    if (buf_len(out) > 0
        && fwrite(buf_str(out), 1, buf_len(out), stdout) != buf_len(out))
        msg_fatal_status(PQ_EX_UNAVAILABLE, "write standard output: %s",
                         strerror(errno));
    buf_reset(out);
}

static int pq_show(const struct ql_msg *m, void *ctx)
{
    struct pq_list *l = ctx;

    if (l->json) {
        ql_json_msg(l->out, m);
    } else {
        if (l->count == 0)
            ql_text_header(l->out);
        ql_text_msg(l->out, m);
    }
    l->count++;
    l->bytes += m->size;
    pq_write(l->out);
    return 0;
}

static void pq_finish(struct pq_list *l)
{
    if (!l->json)
        ql_text_footer(l->out, l->bytes, l->count);
    pq_write(l->out);
    if (fflush(stdout) != 0)
        msg_fatal_status(PQ_EX_UNAVAILABLE, "write standard output: %s",
                         strerror(errno));
}

static int pq_list(int json)
{
    struct pq_list l = {.json = json, .out = buf_new(1024)};
    struct ql_msg m;
    struct stream *s;
    long sent = 0;
    int fd;
    int got;

    fd = mail_connect(MAIL_CLASS_PUBLIC, var_showq_service_name,
                      var_ipc_timeout * 1000L);
    if (fd < 0) {
        if (getuid() != 0)
            msg_fatal_status(PQ_EX_UNAVAILABLE,
                             "Queue report unavailable - mail system is down");
        msg_warn("Mail system is down -- accessing queue directly (%s)",
                 mail_proto_error());
        qf_set_root(var_queue_directory);
        if (ql_walk(pq_show, &l) < 0)
            msg_fatal_status(PQ_EX_UNAVAILABLE, "listing the queue failed");
        pq_finish(&l);
        buf_free(l.out);
        return 0;
    }
    s = stream_open(fd);
    stream_set_timeout(s, (int) var_ipc_timeout);
    ql_msg_init(&m);
    while ((got = ql_recv(s, &m, &sent)) > 0)
        pq_show(&m, &l);
    ql_msg_free(&m);
    (void) stream_close(s);
    if (got < 0)
        msg_fatal_status(
            PQ_EX_UNAVAILABLE,
            "Queue report unavailable: reading from the %s service: %s",
            var_showq_service_name, ql_error());
    if (sent != l.count)
        msg_fatal_status(
            PQ_EX_UNAVAILABLE,
            "Queue report unavailable: the %s service sent %ld of %ld "
            "messages",
            var_showq_service_name, l.count, sent);
    pq_finish(&l);
    buf_free(l.out);
    return 0;
}

/* ---- flushing ---------------------------------------------------------- */

static void pq_trigger(const char *req, size_t len)
{
    if (mail_trigger(MAIL_CLASS_PUBLIC, MAIL_SERVICE_QMGR, req, len) < 0) {
        msg_warn("%s", mail_proto_error());
        msg_fatal_status(PQ_EX_UNAVAILABLE,
                         "Cannot flush mail queue - mail system is down");
    }
}

/* A destination for -s: a domain or [address literal], nothing odd. */
static int pq_site_ok(const char *site)
{
    const unsigned char *cp;

    if (*site == 0 || strlen(site) > 255)
        return 0;
    for (cp = (const unsigned char *) site; *cp; cp++)
        if (*cp <= ' ' || *cp >= 0x7f || *cp == '@' || *cp == '/')
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    const char *opt_c = NULL;
    const char *arg = NULL;
    struct buf *req;
    int action = 0;
    int verbose = 0;
    int ch;

    msg_init("postqueue", MSG_STDERR);
    while ((ch = getopt(argc, argv, "c:fi:jps:v")) != -1) {
        switch (ch) {
        case 'c':
            opt_c = optarg;
            break;
        case 'v':
            verbose++;
            break;
        case 'f':
        case 'j':
        case 'p':
        case 'i':
        case 's':
            if (action)
                msg_fatal_status(PQ_EX_UNAVAILABLE, USAGE);
            action = ch;
            arg = optarg;
            break;
        default:
            msg_fatal_status(PQ_EX_UNAVAILABLE, USAGE);
        }
    }
    if (optind < argc || action == 0)
        msg_fatal_status(PQ_EX_UNAVAILABLE, USAGE);
    if (verbose && getuid() != 0)
        msg_fatal_status(PQ_EX_UNAVAILABLE,
                         "-v option is available for the super-user only");
    msg_verbose = verbose;
    pq_load_config(opt_c);

    switch (action) {
    case 'p':
    case 'j':
        pq_check_user("authorized_mailq_users", var_authorized_mailq_users,
                      "view the mail queue");
        return pq_list(action == 'j');
    case 'f':
        pq_check_user("authorized_flush_users", var_authorized_flush_users,
                      "flush the mail queue");
        pq_trigger(QMGR_FLUSH_REQUEST, strlen(QMGR_FLUSH_REQUEST));
        return 0;
    case 'i':
        pq_check_user("authorized_flush_users", var_authorized_flush_users,
                      "flush the mail queue");
        if (!queue_id_valid(arg))
            msg_fatal_status(PQ_EX_UNAVAILABLE, "invalid queue ID: \"%s\"",
                             arg);
        break;
    case 's':
        pq_check_user("authorized_flush_users", var_authorized_flush_users,
                      "flush the mail queue");
        if (!pq_site_ok(arg))
            msg_fatal_status(PQ_EX_UNAVAILABLE, "invalid destination: \"%s\"",
                             arg);
        break;
    }
    req = buf_new(64);
    buf_putc(req, action == 'i' ? QMGR_REQ_RETRY_ID : QMGR_REQ_RETRY_SITE);
    buf_puts(req, arg);
    pq_trigger(buf_str(req), buf_len(req));
    buf_free(req);
    return 0;
}
