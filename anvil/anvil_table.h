/*
 * anvil_table.h - the counting and expiry logic of the anvil service:
 * per-(service, client) connection counts and event rates.
 *
 * Used by anvil/anvil.c (which owns the only table of the process) and by
 * tests/unit/test_anvil.c. Pure functions of their arguments: the caller
 * passes the time (seconds), so tests inject the clock. No I/O, no
 * logging; nothing here fails except running out of memory (mem.c).
 *
 * An entry is keyed by an ident, "service:address" (the client API builds
 * it; the table does not care about its shape). Each entry counts the
 * connections open now and, per event kind, the events in its current
 * rate window: the window starts at the entry's first event and lasts the
 * rate time unit (anvil_rate_time_unit); the first event at or after its
 * end starts a new window with every rate at zero. An entry with no open
 * connection is dropped once its window is over (anvil_table_expire).
 *
 * The table also keeps the maxima since the last report, which
 * anvil_table_report() hands out as Postfix's "statistics:" log lines and
 * then forgets.
 */
#ifndef POSTERN_ANVIL_TABLE_H
#define POSTERN_ANVIL_TABLE_H

#include <stddef.h>
#include <time.h>

/* Event kinds with a rate. */
enum anvil_event {
    ANVIL_EV_CONN = 0, /* connections (counted by anvil_table_connect) */
    ANVIL_EV_MAIL,     /* MAIL FROM requests */
    ANVIL_EV_RCPT,     /* RCPT TO requests */
    ANVIL_EV_NEWTLS,   /* new (not resumed) TLS sessions */
    ANVIL_EV_AUTH,     /* AUTH commands */
    ANVIL_EV_COUNT
};

struct anvil_table;

/* What one ident has now (anvil_table_lookup). */
struct anvil_counts {
    int count;                /* connections open */
    int rate[ANVIL_EV_COUNT]; /* events in the current window */
};

/* A table whose rate windows last UNIT seconds (>= 1). */
struct anvil_table *anvil_table_new(long unit);
void anvil_table_free(struct anvil_table *t);

/*
 * A connection from IDENT opens at NOW: store the connections now open
 * (this one included) in *COUNT and the connection rate in *RATE.
 */
void anvil_table_connect(struct anvil_table *t, const char *ident, time_t now,
                         int *count, int *rate);
/*
 * A connection from IDENT closed. Returns 0, or -1 when IDENT had no open
 * connection (nothing changes).
 */
int anvil_table_disconnect(struct anvil_table *t, const char *ident,
                           time_t now);
/* Count one event EV (not ANVIL_EV_CONN) of IDENT; returns its new rate. */
int anvil_table_event(struct anvil_table *t, const char *ident,
                      enum anvil_event ev, time_t now);
/* The rate of EV for IDENT at NOW, without counting anything. */
int anvil_table_peek(const struct anvil_table *t, const char *ident,
                     enum anvil_event ev, time_t now);
/* Everything about IDENT at NOW (all zero for an unknown ident). */
void anvil_table_lookup(const struct anvil_table *t, const char *ident,
                        time_t now, struct anvil_counts *out);

/*
 * Drop the entries that have no open connection and whose window ended
 * at or before NOW. Returns how many were dropped.
 */
size_t anvil_table_expire(struct anvil_table *t, time_t now);
/* Entries held now. */
size_t anvil_table_size(const struct anvil_table *t);

/*
 * Call FN with each "statistics: ..." line (without the program prefix)
 * for the maxima seen since the last report, in Postfix's order and
 * shape, e.g.
 *   statistics: max connection rate 3/60s for (smtp:192.0.2.1) at Dec  3
 * 23:51:07 statistics: max connection count 2 for (smtp:192.0.2.1) at Dec  3
 * 23:51:07 statistics: max cache size 1 at Dec  3 23:51:07 then forget the
 * maxima. Nothing is reported when nothing happened. Times are shown in local
 * time. Returns the number of lines.
 */
int anvil_table_report(struct anvil_table *t,
                       void (*fn)(const char *line, void *ctx), void *ctx);

#endif
