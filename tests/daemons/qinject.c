/*
 * qinject.c - test-only tool: write one queue file straight into a queue
 * folder, as cleanup would, and print its queue ID.
 *
 *     qinject [-q queue] [-f sender] [-t time_us] [-F flags] [-w warn]
 *             [-a name=value] [-r] QUEUE_DIRECTORY rcpt... < message
 *
 * -q: the queue (default incoming); -f: the sender (default
 * "sender@example.com", -f "" for the null sender); -t: the arrival time
 * in microseconds (default now); -F: REC_FLAG_* bits; -w: WARN time
 * (seconds); -a: a message attribute (repeatable); -r: leave the file
 * as ID.tmp (a writer that died before commit). The message is read from
 * standard input, one LINE record per line. The e2e tests of qmgr,
 * postqueue and postsuper use it to make queues of a known shape without
 * going through sendmail and cleanup. Exit 0, or 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "queue_file.h"
#include "record.h"

static void die(const char *what)
{
    fprintf(stderr, "qinject: %s: %s\n", what, qf_error());
    exit(1);
}

int main(int argc, char **argv)
{
    const char *queue = QF_INCOMING;
    const char *sender = "sender@example.com";
    struct argv *attrs = argv_new(4);
    long long time_us = -1;
    long long flags = 0;
    long long warn = 0;
    int raw = 0;
    struct qf_writer *w;
    struct buf *line = buf_new(0);
    char *data = NULL;
    size_t cap = 0;
    ssize_t n;
    int ch;
    int in_body = 0;
    size_t i;

    while ((ch = getopt(argc, argv, "q:f:t:F:w:a:r")) != -1) {
        switch (ch) {
        case 'q':
            queue = optarg;
            break;
        case 'f':
            sender = optarg;
            break;
        case 't':
            time_us = strtoll(optarg, NULL, 10);
            break;
        case 'F':
            flags = strtoll(optarg, NULL, 0);
            break;
        case 'w':
            warn = strtoll(optarg, NULL, 10);
            break;
        case 'a':
            argv_add(attrs, optarg);
            break;
        case 'r':
            raw = 1;
            break;
        default:
            fprintf(stderr, "usage: qinject [-q queue] [-f sender] [-t us] "
                            "[-F flags] [-w warn] [-a n=v] [-r] QUEUE_DIR "
                            "rcpt...\n");
            return 1;
        }
    }
    if (argc - optind < 2) {
        fprintf(stderr, "qinject: need QUEUE_DIRECTORY and a recipient\n");
        return 1;
    }
    qf_set_root(argv[optind]);
    if (time_us < 0) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        time_us = (long long) tv.tv_sec * 1000000LL + tv.tv_usec;
    }
    if ((w = qf_create(queue)) == NULL)
        die("create");
    qf_put_int(w, REC_TIME, time_us);
    qf_puts(w, REC_SENDER, sender);
    qf_put_int(w, REC_WARN, warn);
    if (flags)
        qf_put_int(w, REC_FLAGS, flags);
    for (i = 0; i < attrs->argc; i++) {
        const char *a = attrs->argv[i];
        const char *eq = strchr(a, '=');
        struct buf *name;

        if (eq == NULL) {
            fprintf(stderr, "qinject: -a %s: need name=value\n", a);
            return 1;
        }
        name = buf_new(0);
        buf_append(name, a, (size_t) (eq - a));
        qf_put_attr(w, buf_str(name), eq + 1);
        buf_free(name);
    }
    for (i = (size_t) optind + 1; i < (size_t) argc; i++)
        qf_put_rcpt(w, 0, argv[i], argv[i], NULL);
    qf_begin_content(w);
    while ((n = getline(&data, &cap, stdin)) >= 0) {
        size_t len = (size_t) n;

        if (len > 0 && data[len - 1] == '\n')
            len--;
        if (len > 0 && data[len - 1] == '\r')
            len--;
        if (in_body == 1) {
            qf_mark_body(w);
            in_body = 2;
        }
        qf_put_text(w, data, len, 0);
        if (len == 0 && in_body == 0)
            in_body = 1;
    }
    free(data);
    if (raw) {
        /* Flush what was written and leave the temporary file behind. */
        qf_end_content(w);
        printf("%s\n", qf_writer_id(w));
        fflush(stdout);
        _exit(0);
    }
    if (qf_commit(w) < 0)
        die("commit");
    printf("%s\n", qf_writer_id(w));
    qf_writer_free(w);
    buf_free(line);
    argv_free(attrs);
    return 0;
}
