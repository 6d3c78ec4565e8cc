/*
 * anvil_table.c - per-(service, client) connection counts and event rates
 * for the anvil service (see anvil_table.h).
 *
 * Called by anvil/anvil.c and the unit tests. No I/O; the caller passes
 * the clock. Allocation failures are fatal (mem.c).
 */
#include <stdio.h>
#include <string.h>

#include "anvil_table.h"
#include "buf.h"
#include "htable.h"
#include "mem.h"

struct anvil_entry {
    int count;                /* connections open now */
    int rate[ANVIL_EV_COUNT]; /* events in the window */
    time_t start;             /* when the window began */
};

/* The largest value seen since the last report, who and when. */
struct anvil_max {
    int value;
    struct buf *ident;
    time_t when;
};

/* The rates in report order, then the count (index ANVIL_EV_COUNT). */
#define MAX_COUNT ANVIL_EV_COUNT

struct anvil_table {
    struct htable *entries;
    long unit;
    struct anvil_max max[ANVIL_EV_COUNT + 1];
    size_t max_cache;
    time_t max_cache_when;
};

struct anvil_table *anvil_table_new(long unit)
{
    struct anvil_table *t = mem_calloc(1, sizeof(*t));
    int i;

    t->entries = htable_new(64);
    t->unit = unit > 0 ? unit : 1;
    for (i = 0; i <= ANVIL_EV_COUNT; i++)
        t->max[i].ident = buf_new(32);
    return t;
}

void anvil_table_free(struct anvil_table *t)
{
    int i;

    if (t == NULL)
        return;
    htable_free(t->entries, mem_free);
    for (i = 0; i <= ANVIL_EV_COUNT; i++)
        buf_free(t->max[i].ident);
    mem_free(t);
}

/* Has the window of E ended at NOW? A clock that went back ends it too. */
static int anvil_window_over(const struct anvil_table *t,
                             const struct anvil_entry *e, time_t now)
{
    return now < e->start || now - e->start >= t->unit;
}

/* The entry of IDENT with a current window, made when missing. */
static struct anvil_entry *anvil_get(struct anvil_table *t, const char *ident,
                                     time_t now)
{
    struct anvil_entry *e = htable_get(t->entries, ident);

    if (e == NULL) {
        e = mem_calloc(1, sizeof(*e));
        e->start = now;
        htable_put(t->entries, ident, e);
        if (t->entries->used > t->max_cache) {
            t->max_cache = t->entries->used;
            t->max_cache_when = now;
        }
    } else if (anvil_window_over(t, e, now)) {
        memset(e->rate, 0, sizeof(e->rate));
        e->start = now;
    }
    return e;
}

static void anvil_note_max(struct anvil_table *t, int which, int value,
                           const char *ident, time_t now)
{
    struct anvil_max *m = &t->max[which];

    if (value > m->value) {
        m->value = value;
        buf_set(m->ident, ident);
        m->when = now;
    }
}

void anvil_table_connect(struct anvil_table *t, const char *ident, time_t now,
                         int *count, int *rate)
{
    struct anvil_entry *e = anvil_get(t, ident, now);

    e->count++;
    e->rate[ANVIL_EV_CONN]++;
    anvil_note_max(t, ANVIL_EV_CONN, e->rate[ANVIL_EV_CONN], ident, now);
    anvil_note_max(t, MAX_COUNT, e->count, ident, now);
    *count = e->count;
    *rate = e->rate[ANVIL_EV_CONN];
}

int anvil_table_disconnect(struct anvil_table *t, const char *ident, time_t now)
{
    struct anvil_entry *e = htable_get(t->entries, ident);

    (void) now;
    if (e == NULL || e->count <= 0)
        return -1;
    e->count--;
    return 0;
}

int anvil_table_event(struct anvil_table *t, const char *ident,
                      enum anvil_event ev, time_t now)
{
    struct anvil_entry *e;

    if (ev <= ANVIL_EV_CONN || ev >= ANVIL_EV_COUNT)
        return 0;
    e = anvil_get(t, ident, now);
    e->rate[ev]++;
    anvil_note_max(t, ev, e->rate[ev], ident, now);
    return e->rate[ev];
}

int anvil_table_peek(const struct anvil_table *t, const char *ident,
                     enum anvil_event ev, time_t now)
{
    const struct anvil_entry *e = htable_get(t->entries, ident);

    if (e == NULL || ev < 0 || ev >= ANVIL_EV_COUNT
        || anvil_window_over(t, e, now))
        return 0;
    return e->rate[ev];
}

void anvil_table_lookup(const struct anvil_table *t, const char *ident,
                        time_t now, struct anvil_counts *out)
{
    const struct anvil_entry *e = htable_get(t->entries, ident);
    int i;

    memset(out, 0, sizeof(*out));
    if (e == NULL)
        return;
    out->count = e->count;
    if (!anvil_window_over(t, e, now))
        for (i = 0; i < ANVIL_EV_COUNT; i++)
            out->rate[i] = e->rate[i];
}

size_t anvil_table_expire(struct anvil_table *t, time_t now)
{
    struct htable_entry **list = htable_list(t->entries);
    size_t dropped = 0;
    size_t i;

    for (i = 0; list[i] != NULL; i++) {
        struct anvil_entry *e = list[i]->value;

        if (e->count == 0 && anvil_window_over(t, e, now)) {
            mem_free(htable_delete(t->entries, list[i]->key));
            dropped++;
        }
    }
    mem_free(list);
    return dropped;
}

size_t anvil_table_size(const struct anvil_table *t)
{
    return t->entries->used;
}

/* "Dec  3 23:51:07", local time. */
static void anvil_time_text(struct buf *out, time_t when)
{
    struct tm tm;
    char text[32];

    if (localtime_r(&when, &tm) == NULL
        || strftime(text, sizeof(text), "%b %e %H:%M:%S", &tm) == 0)
        snprintf(text, sizeof(text), "%lld", (long long) when);
    buf_puts(out, text);
}

int anvil_table_report(struct anvil_table *t,
                       void (*fn)(const char *line, void *ctx), void *ctx)
{
    /* Report order: Postfix's. */
    static const struct {
        int which;
        const char *what;
        int is_rate;
    } order[] = {
        {ANVIL_EV_CONN, "connection rate", 1},
        {MAX_COUNT, "connection count", 0},
        {ANVIL_EV_MAIL, "message rate", 1},
        {ANVIL_EV_RCPT, "recipient rate", 1},
        {ANVIL_EV_NEWTLS, "new TLS sessions", 1},
        {ANVIL_EV_AUTH, "auth rate", 1},
    };
    struct buf *line = buf_new(128);
    int lines = 0;
    size_t i;

    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        struct anvil_max *m = &t->max[order[i].which];

        if (m->value <= 0)
            continue;
        buf_setf(line, "statistics: max %s %d", order[i].what, m->value);
        if (order[i].is_rate)
            buf_printf(line, "/%lds", t->unit);
        buf_printf(line, " for (%s) at ", buf_str(m->ident));
        anvil_time_text(line, m->when);
        fn(buf_str(line), ctx);
        lines++;
        m->value = 0;
        buf_reset(m->ident);
    }
    if (t->max_cache > 0) {
        buf_setf(line, "statistics: max cache size %zu at ", t->max_cache);
        anvil_time_text(line, t->max_cache_when);
        fn(buf_str(line), ctx);
        lines++;
        /* The next period starts from what is held now. */
        t->max_cache = 0;
    }
    buf_free(line);
    return lines;
}
