/*
 * postdrop.c - put one message into maildrop/ (postdrop(1)).
 *
 *   postdrop [-c config_dir] [-v] < record-stream
 *
 * Installed setgid setgid_group: the only way an ordinary user writes
 * into maildrop/ (mail_owner:setgid_group, mode 1730). sendmail runs it
 * with the record stream of one message on standard input (record.h):
 *
 *   VERSION envelope* MESSAGE (LINE|PIECE)* XTRACTED END
 *   envelope = TIME SENDER FLAGS DSN_RET DSN_ENVID ATTR(full_name) RCPT
 *
 * TIME, FLAGS, DSN_RET and DSN_ENVID at most once, SENDER exactly once;
 * RCPT with status 'P'; FLAGS only REC_FLAG_EXTRACT, _8BITMIME and
 * _SMTPUTF8. Everything is checked, because the caller is whoever ran
 * postdrop. The file is written as maildrop/ID.tmp, synced and renamed to
 * maildrop/ID (qf_commit); the submitting user owns it (the pickup daemon
 * takes the uid from there), mode 0644 so that pickup, running as
 * mail_owner, can read it. The queue ID goes to standard output, then the
 * pickup daemon gets a wake-up (when that fails, pickup finds the file at
 * its next periodic scan).
 *
 * authorized_submit_users decides who may submit. A configuration folder
 * other than the default (-c, MAIL_CONFIG) is accepted from a user other
 * than root only when alternate_config_directories lists it.
 *
 * Errors: "postdrop: fatal: ..." on stderr (and the log) and a sysexits.h
 * status: EX_DATAERR for input that is not a valid record stream,
 * EX_NOPERM for an unauthorized user or configuration folder,
 * EX_TEMPFAIL for a write error (disk full), a timeout, or a signal. In
 * every failure the temporary file is removed; a postdrop killed by
 * SIGKILL leaves only maildrop/ID.tmp, which no scan picks up.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>
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
#include "record.h"
#include "str.h"
#include "stream.h"

#define PD_FLAGS_ALLOWED                                                       \
    (REC_FLAG_EXTRACT | REC_FLAG_8BITMIME | REC_FLAG_SMTPUTF8)

static struct qf_writer *pd_writer;
/* The temporary file, for the signal handler (set once, never freed). */
static char *volatile pd_temp_path;

/* Remove the unfinished file (msg_fatal hook, fatal errors). */
static void pd_cleanup(void)
{
    if (pd_writer) {
        struct qf_writer *w = pd_writer;

        pd_writer = NULL;
        qf_writer_free(w);
    }
}

static void pd_signal(int sig)
{
    (void) sig;
    if (pd_temp_path)
        (void) unlink(pd_temp_path);
    _exit(EX_TEMPFAIL);
}

/* -c or MAIL_CONFIG: allowed for root, else only when listed. */
static void pd_load_config(const char *opt_c)
{
    const char *dir = config_choose_dir(opt_c);
    char *want = mem_strdup(dir);

    if (getuid() != 0 && strcmp(want, def_config_directory) != 0) {
        char *list;
        char *cp;
        char *word;
        int ok = 0;

        config_load(def_config_directory);
        params_load();
        list = mem_strdup(var_alternate_config_directories);
        cp = list;
        while ((word = str_token(&cp, STR_LIST_SEP)) != NULL)
            if (strcmp(word, want) == 0)
                ok = 1;
        mem_free(list);
        if (!ok)
            msg_fatal_status(EX_NOPERM,
                             "%s: configuration folder not listed in "
                             "alternate_config_directories of %s/main.cf",
                             want, def_config_directory);
        config_clear();
    }
    config_load(want);
    params_load();
    mem_free(want);
}

/*
 * authorized_submit_users: the first element that matches decides ("!"
 * negates); user names, or type:table lookups (static:anyone matches
 * everyone). Returns 1 when USER may submit.
 */
static int pd_authorized(const char *user)
{
    char *list = mem_strdup(var_authorized_submit_users);
    char *cp = list;
    char *word;
    const char *err;
    int result = 0;

    while ((word = str_token_braced(&cp, STR_LIST_SEP, &err)) != NULL) {
        int negate = 0;
        int match = 0;

        while (*word == '!') {
            negate = !negate;
            word++;
        }
        if (*word == '/') {
            msg_warn("authorized_submit_users: %s: file patterns are not "
                     "supported: ignored",
                     word);
            continue;
        }
        if (strchr(word, ':') != NULL) {
            struct maps *m = maps_create("authorized_submit_users", word, 0);
            struct buf *value = buf_new(16);
            enum lookup_status st = maps_find(m, user, 0, value);

            if (st == LOOKUP_FOUND)
                match = 1;
            else if (st != LOOKUP_NOTFOUND)
                msg_fatal_status(EX_TEMPFAIL, "%s", maps_error(m));
            buf_free(value);
            maps_free(m);
        } else {
            match = strcasecmp(word, user) == 0;
        }
        if (match) {
            result = !negate;
            break;
        }
    }
    mem_free(list);
    return result;
}

static long long pd_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long) tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* A write failed: say why and give up. */
static void pd_write_failed(unsigned long uid)
{
    if (qf_reason() == QF_ERR_NOSPACE)
        msg_fatal_status(EX_TEMPFAIL,
                         "uid=%lu: not enough space to store the message: %s",
                         uid, qf_error());
    msg_fatal_status(EX_TEMPFAIL, "uid=%lu: cannot write the maildrop file: %s",
                     uid, qf_error());
}

static void pd_unexpected(unsigned long uid, int type)
{
    const char *name = rec_type_name(type);

    if (name)
        msg_fatal_status(EX_DATAERR, "uid=%lu: unexpected record type: %s", uid,
                         name);
    msg_fatal_status(EX_DATAERR, "uid=%lu: unexpected record type: %d", uid,
                     type);
}

/* Copy the record stream on standard input into maildrop/. */
static void pd_copy(struct rec_reader *rr, unsigned long uid)
{
    enum { ENV, CONTENT, XTRACTED } state = ENV;
    struct buf *data = buf_new(256);
    struct buf *path = buf_new(64);
    int seen_time = 0;
    int seen_sender = 0;
    int seen_flags = 0;
    int seen_ret = 0;
    int seen_envid = 0;
    int in_piece = 0;
    int headers = 1;
    int body_next = 0;
    int type;

    while ((type = rec_get(rr, data)) > 0) {
        if (type == REC_VERSION) {
            if (rec_reader_offset(rr) != 0)
                pd_unexpected(uid, type);
            pd_writer = qf_create(QF_MAILDROP);
            if (pd_writer == NULL)
                pd_write_failed(uid);
            qf_path(path, QF_MAILDROP, qf_writer_id(pd_writer));
            buf_puts(path, ".tmp");
            pd_temp_path = mem_strdup(buf_str(path));
            /* pickup (mail_owner) reads it; the folder keeps others out. */
            if (fchmod(qf_writer_fd(pd_writer), 0644) < 0)
                msg_fatal_status(EX_TEMPFAIL, "uid=%lu: chmod %s: %s", uid,
                                 buf_str(path), strerror(errno));
            continue;
        }
        if (state == ENV) {
            long long num = 0;

            switch (type) {
            case REC_TIME:
                if (seen_time++)
                    pd_unexpected(uid, type);
                break;
            case REC_SENDER:
                if (seen_sender++)
                    pd_unexpected(uid, type);
                break;
            case REC_FLAGS:
                if (seen_flags++)
                    pd_unexpected(uid, type);
                (void) rec_int_parse(buf_str(data), buf_len(data), &num);
                if (num & ~(long long) PD_FLAGS_ALLOWED)
                    msg_fatal_status(EX_DATAERR,
                                     "uid=%lu: flags 0x%llx not allowed", uid,
                                     num);
                break;
            case REC_DSN_RET:
                if (seen_ret++)
                    pd_unexpected(uid, type);
                break;
            case REC_DSN_ENVID:
                if (seen_envid++)
                    pd_unexpected(uid, type);
                break;
            case REC_ATTR: {
                const char *name;
                const char *value;
                size_t nlen;
                size_t vlen;

                (void) rec_attr_parse(buf_str(data), buf_len(data), &name,
                                      &nlen, &value, &vlen);
                if (nlen != 9 || strncmp(name, "full_name", 9) != 0)
                    msg_fatal_status(EX_DATAERR,
                                     "uid=%lu: attribute not allowed: %.*s",
                                     uid, (int) (nlen > 64 ? 64 : nlen), name);
                break;
            }
            case REC_RCPT: {
                struct rec_rcpt r;

                rec_rcpt_init(&r);
                (void) rec_rcpt_parse(buf_str(data), buf_len(data), &r);
                if (r.status != REC_RCPT_PENDING)
                    msg_fatal_status(EX_DATAERR,
                                     "uid=%lu: recipient not pending", uid);
                rec_rcpt_free(&r);
                break;
            }
            case REC_MESSAGE:
                if (!seen_sender)
                    msg_fatal_status(EX_DATAERR, "uid=%lu: no sender record",
                                     uid);
                if (!seen_time
                    && qf_put_int(pd_writer, REC_TIME, pd_now_us()) < 0)
                    pd_write_failed(uid);
                if (qf_begin_content(pd_writer) < 0)
                    pd_write_failed(uid);
                state = CONTENT;
                continue;
            default:
                pd_unexpected(uid, type);
            }
            if (qf_put(pd_writer, type, buf_str(data), buf_len(data)) < 0)
                pd_write_failed(uid);
            continue;
        }
        if (state == CONTENT) {
            if (type == REC_LINE || type == REC_PIECE) {
                if (body_next) {
                    qf_mark_body(pd_writer);
                    body_next = 0;
                }
                if (qf_put_text(pd_writer, buf_str(data), buf_len(data),
                                type == REC_PIECE)
                    < 0)
                    pd_write_failed(uid);
                if (type == REC_LINE && !in_piece && buf_len(data) == 0
                    && headers) {
                    headers = 0;
                    body_next = 1;
                }
                in_piece = type == REC_PIECE;
                if (var_message_size_limit > 0
                    && qf_content_size(pd_writer) > var_message_size_limit)
                    msg_fatal_status(EX_DATAERR,
                                     "uid=%lu: message file too big", uid);
                continue;
            }
            if (type == REC_XTRACTED) {
                if (qf_end_content(pd_writer) < 0)
                    pd_write_failed(uid);
                state = XTRACTED;
                continue;
            }
            pd_unexpected(uid, type);
        }
        /* XTRACTED: only the end. */
        if (type == REC_END)
            break;
        pd_unexpected(uid, type);
    }
    if (type < 0) {
        if (rec_reader_reason(rr) == REC_ERR_IO
            && rec_reader_stream_reason(rr) == STREAM_TIMEOUT)
            msg_fatal_status(EX_TEMPFAIL,
                             "uid=%lu: timeout reading the message", uid);
        if (rec_reader_reason(rr) == REC_ERR_IO)
            msg_fatal_status(EX_TEMPFAIL,
                             "uid=%lu: error reading the message: %s", uid,
                             rec_reader_error(rr));
        msg_fatal_status(EX_DATAERR, "uid=%lu: malformed input: %s", uid,
                         rec_reader_error(rr));
    }
    /* END was read; the reader checked that nothing follows. */
    if (rec_get(rr, data) < 0)
        msg_fatal_status(EX_DATAERR, "uid=%lu: malformed input: %s", uid,
                         rec_reader_error(rr));
    buf_free(data);
    buf_free(path);
}

int main(int argc, char **argv)
{
    struct rec_reader *rr;
    struct stream *in;
    struct passwd *pw;
    const char *opt_c = NULL;
    char *user;
    unsigned long uid = (unsigned long) getuid();
    int ch;

    msg_init("postdrop", MSG_STDERR | MSG_NOLOG);
    /* A fatal error takes the unfinished queue file away. */
    msg_set_cleanup(pd_cleanup);
    /* Descriptors 0, 1 and 2 must be open before any pipe or file is. */
    for (;;) {
        int fd = open("/dev/null", O_RDWR);

        if (fd < 0)
            exit(EX_OSERR);
        if (fd > 2) {
            close(fd);
            break;
        }
    }
    umask(077);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, pd_signal);
    signal(SIGINT, pd_signal);
    signal(SIGHUP, pd_signal);
    signal(SIGQUIT, pd_signal);
    msg_set_cleanup(pd_cleanup);

    while ((ch = getopt(argc, argv, "c:rv")) != -1) {
        switch (ch) {
        case 'c':
            opt_c = optarg;
            break;
        case 'r':
            /* Postfix's "raw" flag: the input is always records here. */
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            msg_fatal_status(EX_USAGE, "usage: postdrop [-c config_dir] [-v]");
        }
    }
    if (optind != argc)
        msg_fatal_status(EX_USAGE, "usage: postdrop [-c config_dir] [-v]");
    pd_load_config(opt_c);
    msg_set_syslog_name(var_syslog_name);
    if (*var_maillog_file == 0 || msg_set_logfile(var_maillog_file) == 0)
        msg_init("postdrop", MSG_STDERR);

    if ((pw = getpwuid(getuid())) != NULL) {
        user = mem_strdup(pw->pw_name);
    } else {
        struct buf *b = buf_new(16);

        buf_printf(b, "%lu", uid);
        user = buf_steal(b);
    }
    if (!pd_authorized(user))
        msg_fatal_status(
            EX_NOPERM, "User %s(%lu) is not allowed to submit mail", user, uid);

    qf_set_root(var_queue_directory);
    in = stream_open(0);
    stream_set_timeout(in, (int) var_daemon_timeout);
    rr = rec_reader_new(in, 0, QF_RECORD_MAX, 0);
    pd_copy(rr, uid);
    if (pd_writer == NULL)
        msg_fatal_status(EX_DATAERR, "uid=%lu: empty input", uid);
    if (qf_commit(pd_writer) < 0) {
        if (qf_reason() == QF_ERR_NOSPACE)
            msg_fatal_status(
                EX_TEMPFAIL,
                "uid=%lu: not enough space to store the message: %s", uid,
                qf_error());
        msg_fatal_status(EX_TEMPFAIL, "uid=%lu: cannot store the message: %s",
                         uid, qf_error());
    }
    /* The file is safe: a signal now must not remove the (gone) temp. */
    pd_temp_path = NULL;
    printf("%s\n", qf_writer_id(pd_writer));
    if (fflush(stdout) != 0)
        msg_warn("uid=%lu: cannot report the queue ID: %s", uid,
                 strerror(errno));
    if (msg_verbose)
        msg_info("%s: uid=%lu queued in maildrop", qf_writer_id(pd_writer),
                 uid);
    qf_writer_free(pd_writer);
    pd_writer = NULL;
    if (mail_trigger(MAIL_CLASS_PUBLIC, MAIL_SERVICE_PICKUP, "W", 1) < 0)
        msg_warn("unable to wake up the pickup service: %s",
                 mail_proto_error());
    rec_reader_free(rr);
    stream_free(in);
    mem_free(user);
    return 0;
}
