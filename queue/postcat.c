/*
 * postcat.c - the postcat command: print a queue file in readable form.
 *
 *   postcat [-behoqv] [-c dir] [file | queue_id ...]
 *
 * Without -b, -e or -h everything is shown (as -beh): the envelope
 * records, the message content and the records after it, between
 * Postfix's markers:
 *   *** ENVELOPE RECORDS NAME ***
 *   message_size: ...  message_arrival_time: ...  sender: ...  recipient:
 *   *** MESSAGE CONTENTS NAME ***
 *   *** HEADER EXTRACTED NAME ***
 *   *** MESSAGE FILE END NAME ***
 * -e: envelope only; -h: the message header; -b: the body (-bh: the whole
 * message, as it would be delivered). -o prints each record's offset.
 * -q takes the arguments as queue IDs and looks for them in the queues
 * (incoming active deferred hold maildrop corrupt); NAME is then
 * queue/ID. Without arguments the file is read from standard input.
 *
 * Callers: administrators (as root: the queue is mail_owner's), and the
 * end-to-end tests, which use it to look into queue files.
 * Errors: a file that cannot be opened, or a record that does not parse,
 * is "postcat: fatal: ..." (status 1) after what was printed so far.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "queue_id.h"
#include "record.h"

#define PC_ENVELOPE 0x1
#define PC_HEADER   0x2
#define PC_BODY     0x4
#define PC_OFFSET   0x8

#define USAGE "usage: postcat [-behoqv] [-c config_dir] [file(s)...]"

static const char *const pc_queues[] = {
    QF_INCOMING, QF_ACTIVE, QF_DEFERRED, QF_HOLD, QF_MAILDROP, QF_CORRUPT, NULL,
};

static void pc_put(const char *data, size_t len)
{
    if (len > 0 && fwrite(data, 1, len, stdout) != len)
        msg_fatal("write standard output: %s", strerror(errno));
}

/* "Thu Dec  3 20:08:37 2026" for a time in microseconds. */
static const char *pc_time(long long us)
{
    static char text[64];
    time_t t = (time_t) (us / 1000000);
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL
        || strftime(text, sizeof(text), "%a %b %e %H:%M:%S %Y", &tm) == 0)
        snprintf(text, sizeof(text), "%lld", us);
    return text;
}

static const char *pc_notify(int notify)
{
    static char text[64];

    text[0] = 0;
    if (notify & REC_NOTIFY_NEVER)
        strcat(text, ",NEVER");
    if (notify & REC_NOTIFY_SUCCESS)
        strcat(text, ",SUCCESS");
    if (notify & REC_NOTIFY_FAILURE)
        strcat(text, ",FAILURE");
    if (notify & REC_NOTIFY_DELAY)
        strcat(text, ",DELAY");
    return text + (text[0] == ',');
}

/* One envelope or extracted record. */
static void pc_envelope(int type, const struct buf *data, struct rec_rcpt *rcpt,
                        const char *pfx)
{
    long long value;

    switch (type) {
    case REC_TIME:
        if (rec_int_parse(buf_str(data), buf_len(data), &value) == 0)
            printf("%smessage_arrival_time: %s\n", pfx, pc_time(value));
        break;
    case REC_WARN:
        if (rec_int_parse(buf_str(data), buf_len(data), &value) == 0)
            printf("%swarning_message_time: %s\n", pfx,
                   value ? pc_time(value * 1000000) : "0");
        break;
    case REC_FLAGS:
        if (rec_int_parse(buf_str(data), buf_len(data), &value) == 0)
            printf("%smessage_flags: 0x%llx\n", pfx, value);
        break;
    case REC_SENDER:
        printf("%ssender: ", pfx);
        pc_put(buf_str(data), buf_len(data));
        printf("\n");
        break;
    case REC_DSN_RET:
        if (rec_int_parse(buf_str(data), buf_len(data), &value) == 0)
            printf("%sdsn_ret: %s\n", pfx,
                   value == REC_DSN_RET_HDRS   ? "HDRS"
                   : value == REC_DSN_RET_FULL ? "FULL"
                                               : "?");
        break;
    case REC_DSN_ENVID:
        printf("%sdsn_envid: ", pfx);
        pc_put(buf_str(data), buf_len(data));
        printf("\n");
        break;
    case REC_ATTR:
        printf("%snamed_attribute: ", pfx);
        pc_put(buf_str(data), buf_len(data));
        printf("\n");
        break;
    case REC_RCPT:
        if (rec_rcpt_parse(buf_str(data), buf_len(data), rcpt) < 0)
            msg_fatal("malformed recipient record");
        if (buf_len(rcpt->orig) > 0)
            printf("%soriginal_recipient: %s\n", pfx, buf_str(rcpt->orig));
        if (buf_len(rcpt->orcpt) > 0)
            printf("%sdsn_orig_rcpt: %s\n", pfx, buf_str(rcpt->orcpt));
        if (rcpt->notify)
            printf("%sdsn_notify: %s\n", pfx, pc_notify(rcpt->notify));
        printf("%s%s: %s\n", pfx,
               rcpt->status == REC_RCPT_PENDING     ? "recipient"
               : rcpt->status == REC_RCPT_DELIVERED ? "done_recipient"
               : rcpt->status == REC_RCPT_BOUNCED   ? "bounced_recipient"
                                                    : "dropped_recipient",
               buf_str(rcpt->addr));
        break;
    default:
        printf("%s%s: (%zu bytes)\n", pfx, rec_type_name(type), buf_len(data));
        break;
    }
}

/* Print the file open on FD, called NAME in the markers. */
static void pc_file(int fd, const char *name, int flags)
{
    struct rec_reader *r = rec_reader_fd(fd, 0, QF_RECORD_MAX, 0);
    struct buf *data = buf_new(1024);
    struct rec_rcpt rcpt;
    struct rec_size size;
    int markers = (flags & (PC_ENVELOPE | PC_HEADER | PC_BODY))
                  == (PC_ENVELOPE | PC_HEADER | PC_BODY);
    int in_body = 0;
    int sep_pending = 0;
    int line_open = 0; /* a PIECE started a line */
    char pfx[32] = "";
    int type;

    memset(&size, 0, sizeof(size));
    rec_rcpt_init(&rcpt);
    if ((flags & PC_ENVELOPE) && markers)
        printf("*** ENVELOPE RECORDS %s ***\n", name);
    while ((type = rec_get(r, data)) > 0) {
        int show;

        switch (type) {
        case REC_VERSION:
            break;
        case REC_SIZE:
            if (rec_size_parse(buf_str(data), buf_len(data), &size) < 0)
                msg_fatal("%s: malformed size record", name);
            if (flags & PC_OFFSET)
                printf("%9lld ", rec_reader_offset(r));
            if (flags & PC_ENVELOPE)
                printf("message_size: %15lld %15lld %15lld %15lld %15lld\n",
                       size.content_size, size.content_offset, size.rcpt_count,
                       size.body_offset, size.xtracted_offset);
            break;
        case REC_MESSAGE:
            if (markers)
                printf("*** MESSAGE CONTENTS %s ***\n", name);
            break;
        case REC_LINE:
        case REC_PIECE:
            if (!line_open && !in_body && size.body_offset > 0
                && rec_reader_offset(r) >= size.body_offset) {
                in_body = 1;
                if (sep_pending && (flags & PC_HEADER) && (flags & PC_BODY))
                    printf("\n");
                sep_pending = 0;
            }
            show = in_body ? (flags & PC_BODY) : (flags & PC_HEADER);
            if (!in_body && !line_open && type == REC_LINE
                && buf_len(data) == 0) {
                /* The empty line that ends the header. */
                sep_pending = 1;
                break;
            }
            if (sep_pending && !in_body) {
                /* An empty line inside a header-only message: keep it. */
                if (show)
                    printf("\n");
                sep_pending = 0;
            }
            if (show) {
                pc_put(buf_str(data), buf_len(data));
                if (type == REC_LINE)
                    printf("\n");
            }
            line_open = type == REC_PIECE;
            break;
        case REC_XTRACTED:
            if (sep_pending && (flags & PC_HEADER) && (flags & PC_BODY))
                printf("\n");
            sep_pending = 0;
            if (markers)
                printf("*** HEADER EXTRACTED %s ***\n", name);
            break;
        case REC_END:
            if (markers)
                printf("*** MESSAGE FILE END %s ***\n", name);
            break;
        default:
            if (!(flags & PC_ENVELOPE))
                break;
            if (flags & PC_OFFSET)
                snprintf(pfx, sizeof(pfx), "%9lld ", rec_reader_offset(r));
            pc_envelope(type, data, &rcpt, pfx);
            break;
        }
    }
    if (fflush(stdout) != 0)
        msg_fatal("write standard output: %s", strerror(errno));
    if (type < 0)
        msg_fatal("%s: %s", name, rec_reader_error(r));
    rec_rcpt_free(&rcpt);
    buf_free(data);
    rec_reader_free(r);
}

/* -q: open ID in the first queue that has it; NAME gets "queue/ID". */
static int pc_find(const char *id, struct buf *name)
{
    struct buf *path = buf_new(64);
    size_t i;
    int fd = -1;

    if (!queue_id_valid(id))
        msg_fatal("invalid queue ID: %s", id);
    for (i = 0; pc_queues[i] != NULL && fd < 0; i++) {
        qf_path(path, pc_queues[i], id);
        fd = open(buf_str(path), O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT)
            msg_fatal("open %s: %s", buf_str(path), strerror(errno));
        if (fd >= 0)
            buf_setf(name, "%s/%s", pc_queues[i], id);
    }
    buf_free(path);
    if (fd < 0)
        msg_fatal("open queue file %s: No such file or directory", id);
    return fd;
}

int main(int argc, char **argv)
{
    const char *opt_c = NULL;
    struct buf *name = buf_new(64);
    int by_id = 0;
    int flags = 0;
    int ch;
    int i;

    msg_init("postcat", MSG_STDERR | MSG_NOLOG);
    while ((ch = getopt(argc, argv, "bc:ehoqv")) != -1) {
        switch (ch) {
        case 'b':
            flags |= PC_BODY;
            break;
        case 'c':
            opt_c = optarg;
            break;
        case 'e':
            flags |= PC_ENVELOPE;
            break;
        case 'h':
            flags |= PC_HEADER;
            break;
        case 'o':
            flags |= PC_OFFSET;
            break;
        case 'q':
            by_id = 1;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            msg_fatal(USAGE);
        }
    }
    if ((flags & (PC_ENVELOPE | PC_HEADER | PC_BODY)) == 0)
        flags |= PC_ENVELOPE | PC_HEADER | PC_BODY;
    config_load(config_choose_dir(opt_c));
    params_load();
    qf_set_root(var_queue_directory);

    if (optind == argc) {
        if (by_id)
            msg_fatal(USAGE);
        pc_file(0, "stdin", flags);
    }
    for (i = optind; i < argc; i++) {
        int fd;

        if (by_id) {
            fd = pc_find(argv[i], name);
        } else {
            if ((fd = open(argv[i], O_RDONLY | O_CLOEXEC)) < 0)
                msg_fatal("open %s: %s", argv[i], strerror(errno));
            buf_set(name, argv[i]);
        }
        pc_file(fd, buf_str(name), flags);
        (void) close(fd);
    }
    buf_free(name);
    return 0;
}
