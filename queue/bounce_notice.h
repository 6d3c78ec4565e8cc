/*
 * bounce_notice.h - what the bounce service knows about one message, and
 * the RFC 3464 delivery status notices it writes about it.
 *
 * Callers: queue/bounce.c (the daemon) and tests/unit/test_bounce_notice.c.
 * Nothing here talks to another process: bounce_info_load reads a queue
 * file and its status log (bounce/ID or defer/ID), bounce_compose writes
 * the content of one notice line by line into a sink (the cleanup client
 * in the daemon, a memory buffer in the tests).
 *
 * Errors: -1 with a one-line reason in ERR; nothing logs or exits.
 */
#ifndef POSTERN_BOUNCE_NOTICE_H
#define POSTERN_BOUNCE_NOTICE_H

#include <stddef.h>
#include <time.h>

#include "record.h"

struct buf;

/* The kinds of notice. */
enum bounce_kind {
    BOUNCE_FAILED,     /* non-delivery notice to the sender */
    BOUNCE_DELAYED,    /* delay warning to the sender */
    BOUNCE_PM_FAILED,  /* postmaster copy of a non-delivery notice, or a
                        * double bounce (a notice that could not be
                        * returned) */
    BOUNCE_PM_DELAYED, /* postmaster copy of a delay warning */
};

/* Our own envelope attribute on every notice: which kind it is. */
#define BOUNCE_ATTR_NOTICE "notice"

/* A recipient record of the queue file: where it is and its status. */
struct bounce_qrcpt {
    long long offset;
    int status; /* REC_RCPT_* */
};

struct bounce_info {
    char *queue;
    char *id;
    struct buf *sender; /* "" = the null sender */
    struct buf *envid;  /* DSN ENVID, "" = none */
    struct buf *notice; /* our "notice" attribute, "" = not a notice */
    long long arrival_us;
    int flags;   /* REC_FLAG_* of both FLAGS sections */
    int dsn_ret; /* 0 = not given, REC_DSN_RET_* */
    /* Every RCPT record of the queue file, in file order. */
    struct bounce_qrcpt *rcpts;
    size_t rcpt_count;
    /* The status log's results, one per recipient (the latest). */
    struct rec_status *st;
    size_t st_count;
    int log_damaged; /* the log did not parse to its end */
};

/* bounce_info_load results. */
#define BOUNCE_LOAD_OK     0
#define BOUNCE_LOAD_NOLOG  1 /* no status log: nothing to report */
#define BOUNCE_LOAD_NOFILE 2 /* the queue file is gone */

void bounce_info_init(struct bounce_info *bi);
void bounce_info_free(struct bounce_info *bi);

/*
 * Read the envelope of QUEUE/ID and the status records of LOG/ID
 * (QF_LOG_BOUNCE or QF_LOG_DEFER) into BI. A log that stops parsing part
 * way keeps the records before the damage (log_damaged is set and ERR
 * says why). Returns BOUNCE_LOAD_*, or -1 with ERR (an I/O error or a
 * corrupt queue file: try again later).
 */
int bounce_info_load(struct bounce_info *bi, const char *queue, const char *id,
                     const char *log, struct buf *err);

/* Is the message itself a notice (null sender or REC_FLAG_BOUNCE)? */
int bounce_is_notice(const struct bounce_info *bi);
/*
 * Is the message a notice to the postmaster (a double bounce or a
 * postmaster copy: its sender is double_bounce_sender, or it carries our
 * notice attribute saying so)? Such a message is never reported on.
 */
int bounce_is_postmaster_notice(const struct bounce_info *bi);

/* Does status record I go into a notice of KIND (action, NOTIFY, ...)? */
int bounce_wanted(const struct bounce_info *bi, size_t i,
                  enum bounce_kind kind);
/* How many status records go into a notice of KIND. */
size_t bounce_count(const struct bounce_info *bi, enum bounce_kind kind);

/*
 * Where the notice goes: TEXT gets each line without its line ending;
 * PARTIAL = 1 for the first part of a long line whose rest follows in
 * the next call(s). It returns 0, or -1 to stop the composition.
 */
struct bounce_sink {
    int (*text)(void *ctx, const char *data, size_t len, int partial);
    void *ctx;
};

/*
 * Write the whole content (headers, the empty line, the multipart/report
 * body) of a notice of KIND about BI to recipient TO (internal form).
 * NEW_ID is the queue ID of the notice (for its Message-Id), NOW the time
 * it is made. The original is read again from its queue file. Uses
 * var_myhostname, var_header_from_format, var_bounce_size_limit,
 * var_maximal_queue_lifetime and var_bounce_queue_lifetime. Returns 0,
 * or -1 with ERR (the queue file could not be read, or the sink failed).
 */
int bounce_compose(const struct bounce_info *bi, enum bounce_kind kind,
                   const char *to, const char *new_id, time_t now,
                   const struct bounce_sink *sink, struct buf *err);

/* Append the RFC 5322 date of T (local time) to OUT. */
void bounce_date(struct buf *out, time_t t);

#endif
