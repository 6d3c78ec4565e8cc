/*
 * params.h - the one parameter table.
 *
 * lib/params.def lists every parameter once:
 *     PARAM(name, TYPE, "default", min, max, flags, "one-line meaning")
 * From it come the typed globals var_NAME, the lookup table that postconf
 * -d prints, and the main.cf man page. No default is written anywhere else.
 *
 * Types and their globals:
 *   STR   const char *  expanded string
 *   RAW   const char *  not expanded at load (the consumer expands later)
 *   LIST  const char *  expanded, comma/white-space separated list
 *   BOOL  int           yes or no
 *   INT   int           decimal integer
 *   LONG  long          decimal integer
 *   SIZE  long          a byte count (decimal, no unit, as in Postfix)
 *   TIME  long          seconds; value is a number with an optional unit
 *                       s, m, h, d or w; without one, the unit that ends
 *                       the default applies
 * For INT, LONG, SIZE and TIME, min and max bound the value (in seconds
 * for TIME); max 0 means no upper bound.
 *
 * Callers: every program after config_load() and -o overrides calls
 * params_load(). Errors there are fatal and name the file and line.
 */
#ifndef POSTERN_PARAMS_H
#define POSTERN_PARAMS_H

#include <stddef.h>

#include "defaults.h"

enum param_type {
    PT_STR,
    PT_RAW,
    PT_LIST,
    PT_BOOL,
    PT_INT,
    PT_LONG,
    PT_SIZE,
    PT_TIME,
};

#define PF_SECRET   0x1 /* value names secrets: never logged */
#define PF_READONLY 0x2 /* postconf -e refuses to set it (mail_version) */
#define PF_DYNAMIC  0x4 /* default computed at run time (myhostname) */

struct param_info {
    const char *name;
    enum param_type type;
    const char *defval; /* raw default, as postconf -d prints it */
    long min;
    long max;
    unsigned flags;
    const char *desc;
    void *var; /* the var_NAME global */
};

#define PARAM_CTYPE_STR  const char *
#define PARAM_CTYPE_RAW  const char *
#define PARAM_CTYPE_LIST const char *
#define PARAM_CTYPE_BOOL int
#define PARAM_CTYPE_INT  int
#define PARAM_CTYPE_LONG long
#define PARAM_CTYPE_SIZE long
#define PARAM_CTYPE_TIME long

#define PARAM(name, type, def, min, max, flags, desc)                          \
    extern PARAM_CTYPE_##type var_##name;
#include "params.def"
#undef PARAM

extern const struct param_info param_table[];
extern const size_t param_count;

/* The entry for NAME, or NULL. */
const struct param_info *param_find(const char *name);
/* The raw default (computed for PF_DYNAMIC entries). */
const char *param_default(const struct param_info *p);
const char *param_type_name(enum param_type type);

/*
 * Convert and check one raw-but-expanded VALUE for P. Returns 0 and
 * stores the result in *NUM (numbers, booleans, seconds), or -1 with ERR
 * set to Postfix's wording, e.g. "bad numerical configuration:
 * message_size_limit = 10M".
 */
struct buf;
int param_convert(const struct param_info *p, const char *value, long *num,
                  struct buf *err);

/*
 * Fill every var_NAME from the store (config.h) and the defaults. Fatal on
 * a bad value, naming the file and line where it was set.
 */
void params_load(void);

/* Conversions shared with other users of time and boolean values. */
int conv_time(const char *str, int def_unit, long *secs);
int conv_long(const char *str, long *val);
int conv_bool(const char *str, int *val);

#endif
