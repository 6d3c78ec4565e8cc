/*
 * lookup.h - the result of every lookup and remote call.
 *
 * STYLE.md: a map or auth error becomes a 4xx reply or a deferral, never
 * a silent "no" and never a silent "yes". Callers switch on all four.
 */
#ifndef POSTERN_LOOKUP_H
#define POSTERN_LOOKUP_H

enum lookup_status {
    LOOKUP_FOUND = 0,
    LOOKUP_NOTFOUND,
    LOOKUP_ERR_TEMP,   /* try again later: I/O error, peer down, lock */
    LOOKUP_ERR_CONFIG, /* broken table or setting: fix the configuration */
};

const char *lookup_status_name(enum lookup_status st);

#endif
