/*
 * dict_regexp.c - the regexp: table type: POSIX extended regular
 * expressions (<regex.h>) in Postfix's regexp_table(5) format.
 *
 * Called through dict_open("regexp:/file") and the registry; the table
 * syntax, the if/endif nesting and the "$n" substitution live in
 * dict_pattern.c, this file only supplies the engine. Flags: "i" toggles
 * case-insensitive matching (default on), "x" toggles extended syntax
 * (default on), "m" toggles REG_NEWLINE (default off).
 *
 * Errors: a pattern that does not compile is warned about with the map,
 * file and line plus the regerror() text, and skipped. Open fails (NULL
 * with ERR) only when the source cannot be read.
 */
#include <regex.h>
#include <stddef.h>

#include "buf.h"
#include "dict.h"
#include "dict_impl.h"
#include "dict_pattern.h"
#include "mem.h"
#include "pat_literal.h"

struct regexp_re {
    regex_t re;
    regmatch_t *pm; /* NULL unless the result uses "$n" */
    size_t npm;
    /* Text every match contains (pat_literal.h): no text, no regexec. */
    char lit[128];
    size_t lit_len;
    int icase;
};

static int regexp_flag(int *opts, int c)
{
    switch (c) {
    case 'i':
        *opts ^= REG_ICASE;
        return 0;
    case 'x':
        *opts ^= REG_EXTENDED;
        return 0;
    case 'm':
        *opts ^= REG_NEWLINE;
        return 0;
    default:
        return -1;
    }
}

static void *regexp_compile(const char *pattern, int opts, int need_sub,
                            struct buf *err)
{
    struct regexp_re *r = mem_calloc(1, sizeof(*r));
    int ret;

    /* Without "$n" in the result the matcher need not track groups. */
    ret = regcomp(&r->re, pattern, opts | (need_sub ? 0 : REG_NOSUB));
    if (ret != 0) {
        char text[256];

        regerror(ret, &r->re, text, sizeof(text));
        buf_set(err, text);
        mem_free(r);
        return NULL;
    }
    if (need_sub) {
        r->npm = r->re.re_nsub + 1;
        r->pm = mem_calloc(r->npm, sizeof(*r->pm));
    }
    if (opts & REG_EXTENDED)
        r->lit_len = pat_required_literal(pattern, r->lit, sizeof(r->lit));
    r->icase = (opts & REG_ICASE) != 0;
    return r;
}

static size_t regexp_groups(void *re)
{
    return ((struct regexp_re *) re)->re.re_nsub;
}

static int regexp_match(void *re, const char *key, size_t len, size_t *ofs,
                        size_t nofs, struct buf *err)
{
    struct regexp_re *r = re;
    int use_pm = ofs != NULL && r->pm != NULL;
    size_t i;
    int ret;

    (void) len;
    if (r->lit_len && !pat_has_literal(key, r->lit, r->lit_len, r->icase))
        return 0;
    ret = regexec(&r->re, key, use_pm ? r->npm : 0, use_pm ? r->pm : NULL, 0);
    if (ret == REG_NOMATCH)
        return 0;
    if (ret != 0) {
        char text[256];

        regerror(ret, &r->re, text, sizeof(text));
        buf_set(err, text);
        return -1;
    }
    if (ofs != NULL) {
        for (i = 0; 2 * i + 1 < nofs; i++) {
            if (!use_pm || i >= r->npm || r->pm[i].rm_so < 0
                || r->pm[i].rm_eo < r->pm[i].rm_so) {
                ofs[2 * i] = ofs[2 * i + 1] = PAT_UNSET;
            } else {
                ofs[2 * i] = (size_t) r->pm[i].rm_so;
                ofs[2 * i + 1] = (size_t) r->pm[i].rm_eo;
            }
        }
    }
    return 1;
}

static void regexp_free(void *re)
{
    struct regexp_re *r = re;

    regfree(&r->re);
    mem_free(r->pm);
    mem_free(r);
}

static const struct pat_engine regexp_engine = {
    .type = "regexp",
    .default_opts = REG_ICASE | REG_EXTENDED,
    .zero_index_text = "out-of-range replacement index",
    .unclosed_action = "skipping this rule",
    .flag = regexp_flag,
    .compile = regexp_compile,
    .groups = regexp_groups,
    .match = regexp_match,
    .free = regexp_free,
};

struct dict *dict_regexp_open(const char *name, int open_flags, int flags,
                              struct buf *err)
{
    return pat_dict_open(&regexp_engine, name, open_flags, flags, err);
}
