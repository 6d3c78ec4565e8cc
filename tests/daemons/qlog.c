/*
 * qlog.c - test-only tool: append one delivery result (a STATUS record)
 * to a message's status log, as qmgr and the delivery agents would.
 *
 *     qlog [-c config_dir] [-l log] [-a action] [-d dsn] [-R relay]
 *          [-o offset] QUEUE_DIRECTORY ID RECIPIENT REASON
 *
 * -c: read that main.cf first (hash_queue_names and hash_queue_depth
 * decide where the log goes; without -c the log folders are not hashed);
 * -l: the log, defer (default), bounce or trace; -a: the action letter
 * (default F, deferred); -d: the DSN status (default 4.4.1); -R: the
 * relay (default "none"); -o: the RCPT record offset (default -1: match
 * by address). The e2e tests of postqueue use it to give deferred
 * messages a delay reason. Exit 0, or 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"

int main(int argc, char **argv)
{
    const char *log = QF_LOG_DEFER;
    const char *action = "F";
    const char *dsn = "4.4.1";
    const char *relay = "none";
    long long offset = -1;
    struct rec_status st;
    struct qf_log *l;
    struct timeval tv;
    int ch;

    while ((ch = getopt(argc, argv, "c:l:a:d:R:o:")) != -1) {
        switch (ch) {
        case 'c':
            config_load(optarg);
            params_load();
            break;
        case 'l':
            log = optarg;
            break;
        case 'a':
            action = optarg;
            break;
        case 'd':
            dsn = optarg;
            break;
        case 'R':
            relay = optarg;
            break;
        case 'o':
            offset = strtoll(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr,
                    "usage: qlog [-c dir] [-l log] [-a action] [-d dsn] "
                    "[-R relay] [-o offset] QUEUE_DIR ID RCPT "
                    "REASON\n");
            return 1;
        }
    }
    if (argc - optind != 4) {
        fprintf(stderr, "qlog: need QUEUE_DIRECTORY ID RECIPIENT REASON\n");
        return 1;
    }
    qf_set_root(argv[optind]);
    if ((l = qf_log_open(log, argv[optind + 1])) == NULL) {
        fprintf(stderr, "qlog: open: %s\n", qf_error());
        return 1;
    }
    gettimeofday(&tv, NULL);
    rec_status_init(&st);
    st.action = action[0];
    st.notify = 0;
    st.rcpt_offset = offset;
    st.time_us = (long long) tv.tv_sec * 1000000LL + tv.tv_usec;
    buf_set(st.addr, argv[optind + 2]);
    buf_set(st.orig, argv[optind + 2]);
    buf_set(st.dsn, dsn);
    buf_set(st.relay, relay);
    buf_set(st.reason, argv[optind + 3]);
    if (qf_log_append(l, &st) < 0 || qf_log_close(l) < 0) {
        fprintf(stderr, "qlog: append: %s\n", qf_error());
        return 1;
    }
    rec_status_free(&st);
    return 0;
}
