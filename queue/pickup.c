/*
 * pickup.c - the pickup daemon (pickup(8)): moves the files that postdrop
 * leaves in maildrop/ on to the cleanup service.
 *
 * A DAEMON_TRIGGER service (lib/daemon.h), chrooted to queue_directory
 * and running as mail_owner as conf/master.cf says. Every request (the
 * "W" of postdrop after each message, and master's periodic wake-up)
 * means "scan maildrop/ now". For each file (qf_scan: complete files
 * only, never an ID.tmp still being written):
 *
 *   - its owner is the submitting user (postdrop runs as that user);
 *   - it is opened and checked record by record as it is copied to
 *     cleanup (CLEANUP_FLAG_BOUNCE and receive_override_options): the
 *     envelope (TIME, SENDER, RCPT, DSN_RET, DSN_ENVID, the flags a user
 *     may set, the full_name attribute), then the content with our own
 *     Received: header in front, then what follows XTRACTED;
 *   - "QUEUEID: uid=UID from=<sender>" is logged, as Postfix's pickup;
 *   - when cleanup answers "queued" the maildrop file is removed.
 *
 * Errors: a file that does not parse goes to corrupt/ with a warning
 * (qf_move_corrupt); it is never dropped silently. When cleanup cannot be
 * reached or fails temporarily, the file stays for the next scan (the
 * scan stops: the next files would fail the same way). A message cleanup
 * rejects for good is bounced by cleanup (CLEANUP_FLAG_BOUNCE); should
 * cleanup still refuse it, the refusal is logged and the file removed.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "cleanup_client.h"
#include "daemon.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"
#include "str.h"

/* Flags a submitting user may set (what postdrop accepts). */
#define PICKUP_FLAGS_ALLOWED                                                   \
    (REC_FLAG_EXTRACT | REC_FLAG_8BITMIME | REC_FLAG_SMTPUTF8)

/* What pickup_file did. */
enum pickup_result {
    PICKUP_DONE,    /* handed to cleanup and removed, or moved aside */
    PICKUP_RETRY,   /* left in maildrop/ for a later scan; stop this one */
    PICKUP_SKIPPED, /* gone, or not ours to take; go on */
    PICKUP_CORRUPT  /* does not parse: move it to corrupt/ */
};

/* Append an RFC 5322 date for TIME_US (microseconds) to OUT. */
static void pickup_date(struct buf *out, long long time_us)
{
    time_t when = (time_t) (time_us / 1000000LL);
    struct tm tm;
    char text[64];

    localtime_r(&when, &tm);
    if (strftime(text, sizeof(text), "%a, %e %b %Y %H:%M:%S %z (%Z)", &tm) == 0)
        text[0] = 0;
    buf_puts(out, text);
}

/* The Received: header, in Postfix pickup's shape, as two lines. */
static int pickup_received(struct cleanup_client *c, unsigned long uid,
                           long long time_us)
{
    struct buf *line = buf_new(128);
    int ret;

    buf_printf(line, "Received: by %s (%s, from userid %lu)", var_myhostname,
               var_mail_name, uid);
    ret = cleanup_put_text(c, buf_str(line), buf_len(line), 0);
    buf_reset(line);
    buf_printf(line, "\tid %s; ", cleanup_queue_id(c));
    pickup_date(line, time_us);
    if (ret == 0)
        ret = cleanup_put_text(c, buf_str(line), buf_len(line), 0);
    buf_free(line);
    return ret;
}

/*
 * Is this envelope or late record one a user may submit? Records that are
 * not (a delivery status, a WARN time) are dropped with a warning; FLAGS
 * lose the bits a user may not set.
 */
static int pickup_filter(const char *id, int type, struct buf *data)
{
    long long flags;
    const char *name;
    const char *value;
    size_t nlen;
    size_t vlen;

    switch (type) {
    case REC_TIME:
    case REC_SENDER:
    case REC_DSN_RET:
    case REC_DSN_ENVID:
        return 1;
    case REC_RCPT: {
        struct rec_rcpt r;
        int ok;

        rec_rcpt_init(&r);
        ok = rec_rcpt_parse(buf_str(data), buf_len(data), &r) == 0
             && r.status == REC_RCPT_PENDING;
        rec_rcpt_free(&r);
        if (!ok)
            msg_warn("%s: maildrop file: ignoring a recipient that is not "
                     "pending",
                     id);
        return ok;
    }
    case REC_FLAGS:
        if (rec_int_parse(buf_str(data), buf_len(data), &flags) < 0)
            return 0;
        if (flags & ~(long long) PICKUP_FLAGS_ALLOWED) {
            unsigned char num[REC_INT_LEN];

            msg_warn("%s: maildrop file: ignoring flags 0x%llx", id,
                     flags & ~(long long) PICKUP_FLAGS_ALLOWED);
            rec_int_encode(num, flags & PICKUP_FLAGS_ALLOWED);
            buf_reset(data);
            buf_append(data, num, sizeof(num));
        }
        return 1;
    case REC_ATTR:
        if (rec_attr_parse(buf_str(data), buf_len(data), &name, &nlen, &value,
                           &vlen)
                == 0
            && nlen == 9 && strncmp(name, "full_name", 9) == 0)
            return 1;
        msg_warn("%s: maildrop file: ignoring an attribute", id);
        return 0;
    default:
        return 0;
    }
}

/* Copy the open maildrop file R to cleanup. */
static enum pickup_result pickup_copy(struct qf_reader *r, const char *id,
                                      unsigned long uid, struct buf *why)
{
    struct buf *data = buf_new(256);
    struct buf *err = buf_new(64);
    struct buf *sender = buf_new(64);
    struct cleanup_client *c;
    struct rec_writer *w;
    enum pickup_result result = PICKUP_DONE;
    long long time_us = 0;
    int type;
    int status;

    c = cleanup_open(
        CLEANUP_FLAG_BOUNCE
            | cleanup_flags_from_overrides(var_receive_override_options),
        err);
    if (c == NULL) {
        msg_warn("%s: cannot hand the maildrop file to cleanup: %s", id,
                 buf_str(err));
        result = PICKUP_RETRY;
        goto out;
    }
    w = cleanup_writer(c);
    while ((type = qf_read(r, data)) > 0) {
        int ret = 0;

        if (type == REC_END)
            break;
        if (type == REC_MESSAGE) {
            struct buf *safe = buf_new(64);

            str_printable(safe, buf_str(sender), buf_len(sender));
            msg_info("%s: uid=%lu from=<%s>", cleanup_queue_id(c), uid,
                     buf_str(safe));
            buf_free(safe);
            if (time_us <= 0) {
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                time_us = (long long) ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
            }
            ret = rec_put(w, REC_MESSAGE, "", 0);
            if (ret == 0)
                ret = pickup_received(c, uid, time_us);
        } else if (type == REC_LINE || type == REC_PIECE) {
            ret = cleanup_put_text(c, buf_str(data), buf_len(data),
                                   type == REC_PIECE);
        } else if (type == REC_XTRACTED) {
            ret = rec_put(w, REC_XTRACTED, "", 0);
        } else if (pickup_filter(id, type, data)) {
            if (type == REC_SENDER)
                buf_set(sender, buf_str(data));
            if (type == REC_TIME)
                (void) rec_int_parse(buf_str(data), buf_len(data), &time_us);
            ret = rec_put(w, type, buf_str(data), buf_len(data));
        }
        if (ret < 0) {
            msg_warn("%s: lost the connection to cleanup: the maildrop file "
                     "stays for the next scan",
                     id);
            result = PICKUP_RETRY;
            goto out;
        }
    }
    if (type < 0) {
        /* Closing before the end makes cleanup drop what it got. */
        if (qf_reason() == QF_ERR_CORRUPT) {
            buf_set(why, qf_error());
            result = PICKUP_CORRUPT;
            goto out;
        }
        msg_warn("%s: cannot read the maildrop file: %s", id, qf_error());
        result = PICKUP_RETRY;
        goto out;
    }
    status = cleanup_finish(c, err);
    if (status < 0 || (status != 0 && cleanup_stat_temporary(status))) {
        msg_warn("%s: cleanup did not take the maildrop file: %s: it stays "
                 "for the next scan",
                 id, buf_len(err) ? buf_str(err) : "temporary failure");
        result = PICKUP_RETRY;
        goto out;
    }
    if (status != 0)
        msg_warn("%s: uid=%lu: message refused by cleanup: %s: removed", id,
                 uid, buf_str(err));
    if (qf_remove(QF_MAILDROP, id) < 0 && qf_reason() != QF_ERR_GONE)
        msg_warn("%s: %s", id, qf_error());

out:
    if (c)
        cleanup_close(c);
    buf_free(data);
    buf_free(err);
    buf_free(sender);
    return result;
}

/* One maildrop file. */
static enum pickup_result pickup_file(const char *id)
{
    struct buf *path = buf_new(64);
    struct qf_reader *r;
    struct buf *why;
    struct stat st;
    enum pickup_result result;

    qf_path(path, QF_MAILDROP, id);
    if (lstat(buf_str(path), &st) < 0) {
        if (errno != ENOENT)
            msg_warn("%s: stat %s: %s", id, buf_str(path), strerror(errno));
        buf_free(path);
        return PICKUP_SKIPPED;
    }
    if (!S_ISREG(st.st_mode)) {
        (void) qf_move_corrupt(id, QF_MAILDROP, "not a regular file");
        buf_free(path);
        return PICKUP_SKIPPED;
    }
    buf_free(path);
    if ((r = qf_open(QF_MAILDROP, id, 0)) == NULL) {
        if (qf_reason() == QF_ERR_GONE)
            return PICKUP_SKIPPED;
        if (qf_reason() == QF_ERR_CORRUPT) {
            struct buf *reason = buf_new(64);

            buf_set(reason, qf_error());
            (void) qf_move_corrupt(id, QF_MAILDROP, buf_str(reason));
            buf_free(reason);
            return PICKUP_SKIPPED;
        }
        msg_warn("%s: cannot open the maildrop file: %s", id, qf_error());
        return PICKUP_SKIPPED;
    }
    why = buf_new(64);
    result = pickup_copy(r, id, (unsigned long) st.st_uid, why);
    qf_close(r);
    if (result == PICKUP_CORRUPT) {
        (void) qf_move_corrupt(id, QF_MAILDROP, buf_str(why));
        result = PICKUP_SKIPPED;
    }
    buf_free(why);
    return result;
}

static void pickup_scan(void)
{
    struct buf *name = buf_new(32);
    struct qf_scan *s;
    int ret = 0;

    if ((s = qf_scan_open(QF_MAILDROP, 0)) == NULL) {
        msg_warn("cannot scan the maildrop queue: %s", qf_error());
        buf_free(name);
        return;
    }
    while (!daemon_stopping() && (ret = qf_scan_next(s, name)) > 0)
        if (pickup_file(buf_str(name)) == PICKUP_RETRY)
            break;
    if (ret < 0)
        msg_warn("cannot scan the maildrop queue: %s", qf_error());
    qf_scan_close(s);
    buf_free(name);
}

static void pickup_trigger(const char *data, size_t len, void *ctx)
{
    (void) data;
    (void) len;
    (void) ctx;
    pickup_scan();
}

static void pickup_pre_jail(void *ctx)
{
    (void) ctx;
    /* Local time for the Received: date, read before the chroot. */
    tzset();
}

static void pickup_post_jail(void *ctx)
{
    (void) ctx;
    /* daemon_main left us in queue_directory (or its chroot). */
    qf_set_root(NULL);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_TRIGGER,
        .pre_jail = pickup_pre_jail,
        .post_jail = pickup_post_jail,
        .trigger = pickup_trigger,
    };

    daemon_main(argc, argv, &ops);
}
