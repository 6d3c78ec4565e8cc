/*
 * maps.h - a parameter's list of lookup tables, searched in order.
 *
 * A value such as alias_maps = "hash:/etc/aliases, regexp:/etc/x" or
 * smtp_sasl_password_maps = "inline:{ {host = user:pw} }" names several
 * tables. maps_create() opens each with dict_open(); maps_find() asks them
 * in order: the first FOUND wins, and an ERR_TEMP or ERR_CONFIG stops the
 * search and is returned as it is (an error is never turned into "not
 * found").
 *
 * A table that fails to open does not end the process: the failure is
 * logged once as a warning and remembered, and every lookup that reaches
 * it returns LOOKUP_ERR_CONFIG with the open error in maps_error(), so the
 * caller answers 4xx or defers (Postfix's "fail" surrogate behaviour).
 *
 * Long-running daemons call maps_reopen() between sessions: tables whose
 * file was replaced or modified since open are reopened, and tables that
 * failed to open are tried again.
 *
 * Callers: every daemon that looks things up (smtpd access maps, cleanup
 * canonical/virtual, local aliases, smtp/auth password maps), usually
 * through the search orders of maps_search.h.
 */
#ifndef POSTERN_MAPS_H
#define POSTERN_MAPS_H

#include <stddef.h>

#include "lookup.h"

struct buf;
struct maps;

/*
 * maps_find() flag: KEY is a derived, partial key (a parent domain,
 * "user@", "@domain" ...), so DICT_PATTERN tables, which see whole keys
 * only, are skipped.
 */
#define MAPS_PARTIAL 0x1

/*
 * Open every table in MAP_NAMES (a comma or white-space separated list;
 * text inside {} is kept whole, so inline:{a=b, c=d} is one entry).
 * TITLE names the list in messages, normally the parameter name.
 * DICT_FLAGS are dict_open()'s behaviour flags (DICT_FOLD_FIX, DICT_LOCK).
 * Never NULL; an empty MAP_NAMES gives an empty list.
 */
struct maps *maps_create(const char *title, const char *map_names,
                         int dict_flags);
void maps_free(struct maps *m);

/*
 * Search the tables in order. An empty KEY is not looked up (NOTFOUND).
 * VALUE gets the result when FOUND. On ERR_TEMP/ERR_CONFIG, maps_error()
 * says which table failed and why.
 */
enum lookup_status maps_find(struct maps *m, const char *key, int flags,
                             struct buf *value);

/* "TITLE: type:name: reason" of the last error; "" when none. */
const char *maps_error(const struct maps *m);
const char *maps_title(const struct maps *m);
/* Number of tables in the list (including those that failed to open). */
size_t maps_count(const struct maps *m);

/*
 * Reopen the tables whose file changed since open (dict_changed()) and
 * retry those that failed to open. Returns how many were reopened.
 */
int maps_reopen(struct maps *m);

/*
 * Is FEATURE ("smtpd_access_maps", "canonical" ...) an element of LIST
 * (a parameter value such as parent_domain_matches_subdomains or
 * propagate_unmatched_extensions)? Case-insensitive, whole words.
 */
int maps_feature_listed(const char *list, const char *feature);

/*
 * Append KEY folded to lower case to OUT. ASCII letters always; with
 * UTF8 set and KEY valid UTF-8, the other letters too (as Postfix folds
 * with smtputf8_enable = yes), else bytes above 127 stay as they are.
 */
void maps_fold(struct buf *out, const char *key, int utf8);
/* Are the LEN bytes at TEXT valid UTF-8 (no overlong forms, surrogates)? */
int maps_utf8_valid(const char *text, size_t len);

#endif
