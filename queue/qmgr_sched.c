/*
 * qmgr_sched.c - the queue manager's scheduling arithmetic (qmgr.h).
 *
 * No I/O, no clock: callers pass the times. Errors: a bad number in a
 * per-transport parameter is a warning and the default applies.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "msg.h"
#include "params.h"
#include "qmgr.h"
#include "record.h"

long qmgr_backoff(long long age, long min, long max)
{
    if (max < min)
        max = min;
    if (age < min)
        return min;
    if (age > max)
        return max;
    return (long) age;
}

int qmgr_expired(long long arrival, long long now, long lifetime)
{
    return now >= arrival + lifetime;
}

long qmgr_lifetime(const char *sender, int flags, long max_life,
                   long bounce_life)
{
    if ((sender && *sender == 0) || (flags & REC_FLAG_BOUNCE))
        return bounce_life;
    return max_life;
}

void qmgr_window_init(struct qmgr_window *w, int initial, int limit,
                      int cohort_limit, double pos, double neg)
{
    memset(w, 0, sizeof(*w));
    w->limit = limit;
    w->cohort_limit = cohort_limit;
    w->pos = pos;
    w->neg = neg;
    qmgr_window_revive(w, initial);
}

void qmgr_window_revive(struct qmgr_window *w, int initial)
{
    w->window = initial < 1 ? 1 : initial;
    if (w->limit > 0 && w->window > w->limit)
        w->window = w->limit;
    w->failures = 0;
    w->failed_cohorts = 0;
    w->dead = 0;
}

int qmgr_window_can_start(const struct qmgr_window *w)
{
    return !w->dead && w->active < (int) w->window;
}

void qmgr_window_success(struct qmgr_window *w)
{
    w->failures = 0;
    w->failed_cohorts = 0;
    w->window += w->pos / w->window;
    if (w->limit > 0 && w->window > w->limit)
        w->window = w->limit;
}

int qmgr_window_failure(struct qmgr_window *w)
{
    double size = w->window;

    w->window -= w->neg / size;
    if (w->window < 1)
        w->window = 1;
    w->failures += 1 / size;
    if (w->failures >= 1 - 1e-9) {
        w->failures = 0;
        w->failed_cohorts++;
        if (w->cohort_limit > 0 && w->failed_cohorts >= w->cohort_limit
            && !w->dead) {
            w->dead = 1;
            return 1;
        }
    }
    return 0;
}

double qmgr_feedback_parse(const char *text, double def)
{
    char *end;
    double num;
    double den = 1;

    if (text == NULL)
        return def;
    while (isspace((unsigned char) *text))
        text++;
    num = strtod(text, &end);
    if (end == text || num < 0)
        return def;
    while (isspace((unsigned char) *end))
        end++;
    if (*end == '/') {
        char *end2;

        end++;
        while (isspace((unsigned char) *end))
            end++;
        if (strncmp(end, "concurrency", 11) == 0) {
            end += 11; /* per cohort already */
        } else {
            den = strtod(end, &end2);
            if (end2 == end || den <= 0)
                return def;
            end = end2;
        }
        while (isspace((unsigned char) *end))
            end++;
    }
    if (*end != 0)
        return def;
    return num / den;
}

size_t qmgr_split_count(size_t n, int limit)
{
    if (n == 0)
        return 0;
    if (limit <= 0)
        return 1;
    return (n + (size_t) limit - 1) / (size_t) limit;
}

void qmgr_dest_key(struct buf *out, const char *transport, const char *nexthop,
                   const char *rcpt, int rcpt_limit)
{
    const char *p = rcpt_limit == 1 ? rcpt : nexthop;

    buf_reset(out);
    buf_puts(out, transport);
    buf_putc(out, ' ');
    for (; *p; p++)
        buf_putc(out, rcpt_limit == 1 ? *p : tolower((unsigned char) *p));
}

const char *qmgr_transport_str(const char *transport, const char *suffix,
                               const char *def)
{
    struct buf *name = buf_new(64);
    const char *val;

    buf_setf(name, "%s_%s", transport, suffix);
    val = config_get(buf_str(name));
    buf_free(name);
    return val ? val : def;
}

int qmgr_transport_int(const char *transport, const char *suffix, int def)
{
    const char *val = qmgr_transport_str(transport, suffix, NULL);
    char *end;
    long n;

    if (val == NULL || *val == 0)
        return def;
    n = strtol(val, &end, 10);
    if (end == val || *end != 0 || n < 0 || n > 1000000) {
        msg_warn("bad numerical configuration: %s_%s = %s: using %d", transport,
                 suffix, val, def);
        return def;
    }
    return (int) n;
}
