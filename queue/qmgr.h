/*
 * qmgr.h - the queue manager's scheduling arithmetic (qmgr_sched.c):
 * retry backoff, expiry, the per-destination concurrency window with its
 * failure cohorts, recipient-limit splitting, destination keys and
 * per-transport parameters. Pure functions of their arguments (and of
 * main.cf for the parameter lookups), so tests/unit/test_qmgr_sched.c
 * drives them directly. Used by queue/qmgr.c only.
 */
#ifndef POSTERN_QMGR_H
#define POSTERN_QMGR_H

#include <stddef.h>

struct buf;

/*
 * Seconds to wait before the next attempt for a message AGE seconds old:
 * the age itself, so each wait doubles the age (exponential backoff),
 * bounded by [MIN, MAX] (MAX below MIN counts as MIN).
 */
long qmgr_backoff(long long age, long min, long max);

/*
 * Has a message that arrived at ARRIVAL (seconds) outlived LIFETIME at
 * NOW? A lifetime of 0 means one delivery attempt only.
 */
int qmgr_expired(long long arrival, long long now, long lifetime);

/*
 * The lifetime that applies: bounce_queue_lifetime for the null sender
 * and for notices (REC_FLAG_BOUNCE), else maximal_queue_lifetime.
 */
long qmgr_lifetime(const char *sender, int flags, long max_life,
                   long bounce_life);

/*
 * The concurrency window of one destination: how many deliveries may run
 * at once. It starts at the initial concurrency, grows by POS per cohort
 * of successful deliveries (POS / window per delivery) up to LIMIT (0 =
 * no limit), and shrinks by NEG per cohort of failures, never below 1. A
 * failure cohort is "window" failures without a success between them;
 * after COHORT_LIMIT of those (0 = never) the destination is dead
 * (Postfix's throttled destination) until qmgr_window_revive.
 */
struct qmgr_window {
    double window;
    int limit;
    int active;
    double pos;
    double neg;
    double failures; /* fraction of a cohort failed so far */
    int failed_cohorts;
    int cohort_limit;
    int dead;
};

void qmgr_window_init(struct qmgr_window *w, int initial, int limit,
                      int cohort_limit, double pos, double neg);
/* May another delivery start now? */
int qmgr_window_can_start(const struct qmgr_window *w);
void qmgr_window_success(struct qmgr_window *w);
/* A failed delivery; returns 1 when the destination just became dead. */
int qmgr_window_failure(struct qmgr_window *w);
/* Forget a dead state (flush, or its suspension time passed). */
void qmgr_window_revive(struct qmgr_window *w, int initial);

/*
 * A feedback setting ("1", "0.5", "1/concurrency", "2/4") as a number;
 * DEF for anything else.
 */
double qmgr_feedback_parse(const char *text, double def);

/* How many requests N recipients need with at most LIMIT each (0 = any). */
size_t qmgr_split_count(size_t n, int limit);

/*
 * The destination key of a recipient: "TRANSPORT NEXTHOP" (nexthop in
 * lower case), or, when the transport takes one recipient per request
 * (RCPT_LIMIT 1, as local does), "TRANSPORT RCPT": Postfix's
 * per-recipient destinations.
 */
void qmgr_dest_key(struct buf *out, const char *transport, const char *nexthop,
                   const char *rcpt, int rcpt_limit);

/*
 * TRANSPORT_SUFFIX from main.cf (e.g. smtp_destination_recipient_limit),
 * else DEF (the default_ parameter's value). A bad number is a warning
 * and gives DEF.
 */
int qmgr_transport_int(const char *transport, const char *suffix, int def);
/* The same for a string parameter; DEF when not set. */
const char *qmgr_transport_str(const char *transport, const char *suffix,
                               const char *def);

#endif
