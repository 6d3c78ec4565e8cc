/*
 * cleanupc.c - test-only client of the cleanup service: sends one message
 * through lib/cleanup_client and prints what cleanup answered.
 *
 *     cleanupc [-c config_dir] [-f sender] [-N fullname] [-a name=value]
 *              [-x cleanup_flags] [-F rec_flags] [-o orig] [-l] [-k N]
 *              [-K N] rcpt... < message
 *
 * -f: the envelope sender (default "sender@example.com"; -f "" for the
 * null sender); -N: ATTR full_name; -a: an ATTR record (repeatable); -x:
 * CLEANUP_FLAG_* request bits; -F: REC_FLAG_* bits (0x10 = sendmail -t);
 * -o: the original recipient sent with every RCPT; -l: send the
 * recipients after XTRACTED instead (late recipients); -k N: after N
 * content lines, flush what was sent and wait to be killed; -K N: the
 * same, then exit at once (a client that goes away mid-message). The
 * message comes from standard input, one line each (CR LF or LF).
 *
 * Output: "queue_id: ID", then "status: N", "reason: TEXT" and, when N is
 * not 0, "reply: SMTP REPLY" (cleanup_stat_reply). Exit 0 when queued, 1
 * when cleanup refused the message, 2 when the conversation failed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "cleanup_client.h"
#include "config.h"
#include "msg.h"
#include "params.h"
#include "record.h"

static void usage(void)
{
    fprintf(stderr, "usage: cleanupc [-c dir] [-f sender] [-N fullname] "
                    "[-a n=v] [-x flags] [-F recflags] [-o orig] [-l] "
                    "[-k N] [-K N] rcpt...\n");
    exit(2);
}

static void fail(const char *what, struct cleanup_client *c)
{
    fprintf(stderr, "cleanupc: %s failed\n", what);
    cleanup_close(c);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *config_dir = NULL;
    const char *sender = "sender@example.com";
    const char *fullname = NULL;
    const char *orig = NULL;
    struct argv *attrs = argv_new(4);
    long cflags = 0;
    long rflags = 0;
    int late = 0;
    long stop_after = -1;
    int stop_exit = 0;
    struct cleanup_client *c;
    struct rec_writer *w;
    struct buf *err = buf_new(64);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lines = 0;
    int status;
    int ch;
    int i;

    while ((ch = getopt(argc, argv, "c:f:N:a:x:F:o:lk:K:")) != -1) {
        switch (ch) {
        case 'c':
            config_dir = optarg;
            break;
        case 'f':
            sender = optarg;
            break;
        case 'N':
            fullname = optarg;
            break;
        case 'a':
            if (strchr(optarg, '=') == NULL)
                usage();
            argv_add(attrs, optarg);
            break;
        case 'x':
            cflags = strtol(optarg, NULL, 0);
            break;
        case 'F':
            rflags = strtol(optarg, NULL, 0);
            break;
        case 'o':
            orig = optarg;
            break;
        case 'l':
            late = 1;
            break;
        case 'k':
        case 'K':
            stop_after = strtol(optarg, NULL, 10);
            stop_exit = (ch == 'K');
            break;
        default:
            usage();
        }
    }
    msg_init("cleanupc", MSG_STDERR | MSG_NOLOG);
    config_load(config_choose_dir(config_dir));
    params_load();

    if ((c = cleanup_open((int) cflags, err)) == NULL) {
        fprintf(stderr, "cleanupc: %s\n", buf_str(err));
        return 2;
    }
    printf("queue_id: %s\n", cleanup_queue_id(c));
    fflush(stdout);
    w = cleanup_writer(c);
    if (rec_puts(w, REC_SENDER, sender) < 0)
        fail("sender", c);
    if (fullname && rec_put_attr(w, "full_name", fullname) < 0)
        fail("full_name", c);
    for (i = 0; i < (int) attrs->argc; i++) {
        if (rec_puts(w, REC_ATTR, attrs->argv[i]) < 0)
            fail("attr", c);
    }
    if (rflags && rec_put_int(w, REC_FLAGS, rflags) < 0)
        fail("flags", c);
    for (i = optind; i < argc && !late; i++)
        if (rec_put_rcpt(w, REC_RCPT_PENDING, 0, argv[i], orig ? orig : "", "")
            < 0)
            fail("rcpt", c);
    if (rec_put(w, REC_MESSAGE, "", 0) < 0)
        fail("message", c);
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t) n;

        if (stop_after >= 0 && lines == stop_after) {
            rec_writer_flush(w);
            printf("stopped: %ld\n", lines);
            fflush(stdout);
            if (stop_exit)
                _exit(3);
            for (;;)
                pause();
        }
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (cleanup_put_text(c, line, len, 0) < 0)
            fail("content", c);
        lines++;
    }
    free(line);
    if (rec_put(w, REC_XTRACTED, "", 0) < 0)
        fail("xtracted", c);
    for (i = optind; i < argc && late; i++)
        if (rec_put_rcpt(w, REC_RCPT_PENDING, 0, argv[i], orig ? orig : "", "")
            < 0)
            fail("rcpt", c);
    status = cleanup_finish(c, err);
    if (status < 0) {
        fprintf(stderr, "cleanupc: %s\n", buf_str(err));
        cleanup_close(c);
        return 2;
    }
    printf("status: %d\nreason: %s\n", status, buf_str(err));
    if (status != 0) {
        struct buf *reply = buf_new(64);

        cleanup_stat_reply(reply, status, buf_str(err));
        printf("reply: %s\n", buf_str(reply));
        buf_free(reply);
    }
    cleanup_close(c);
    argv_free(attrs);
    buf_free(err);
    return status == 0 ? 0 : 1;
}
