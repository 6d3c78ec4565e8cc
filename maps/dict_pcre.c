/*
 * dict_pcre.c - the pcre: table type: Perl-compatible regular expressions
 * (PCRE2, 8-bit code units) in Postfix's pcre_table(5) format.
 *
 * Called through dict_open("pcre:/file") and the registry; the table
 * syntax, the if/endif nesting and the "$n" substitution live in
 * dict_pattern.c, this file only supplies the engine. Flags toggle PCRE2
 * options as pcre_table(5) documents: "i" CASELESS (default on), "s"
 * DOTALL (default on), "m" MULTILINE, "x" EXTENDED, "A" ANCHORED, "E"
 * DOLLAR_ENDONLY, "U" UNGREEDY; "X" is obsolete with PCRE2 and ignored
 * with a warning. Keys are matched as bytes (no UTF mode), by the PCRE2
 * interpreter as Postfix does (no JIT, whose stack limit could make a
 * rule fail where Postfix's would match).
 *
 * Errors: a pattern that does not compile is warned about with the map,
 * file and line ("error in regex at offset N: text") and skipped. A
 * matching error at lookup time (a match limit hit) is logged with the
 * file and line, and that rule (or IF block) then applies neither way, as
 * in Postfix; the search goes on with the next rule.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>

#include "buf.h"
#include "dict.h"
#include "dict_impl.h"
#include "dict_pattern.h"
#include "mem.h"

struct pcre_re {
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mc; /* NULL: PCRE2's default limits */
};

unsigned long pat_pcre_match_limit;

static int pcre_flag(int *opts, int c)
{
    switch (c) {
    case 'i':
        *opts ^= (int) PCRE2_CASELESS;
        return 0;
    case 'm':
        *opts ^= (int) PCRE2_MULTILINE;
        return 0;
    case 's':
        *opts ^= (int) PCRE2_DOTALL;
        return 0;
    case 'x':
        *opts ^= (int) PCRE2_EXTENDED;
        return 0;
    case 'A':
        *opts ^= (int) PCRE2_ANCHORED;
        return 0;
    case 'E':
        *opts ^= (int) PCRE2_DOLLAR_ENDONLY;
        return 0;
    case 'U':
        *opts ^= (int) PCRE2_UNGREEDY;
        return 0;
    case 'X':
        return 1;
    default:
        return -1;
    }
}

static void pcre_error_text(int code, struct buf *out)
{
    PCRE2_UCHAR text[256];

    if (pcre2_get_error_message(code, text, sizeof(text)) < 0)
        buf_printf(out, "error %d", code);
    else
        buf_puts(out, (const char *) text);
}

static void *pcre_compile(const char *pattern, int opts, int need_sub,
                          struct buf *err)
{
    struct pcre_re *r;
    pcre2_code *code;
    PCRE2_SIZE offset = 0;
    int code_err = 0;

    (void) need_sub;
    code = pcre2_compile((PCRE2_SPTR) pattern, PCRE2_ZERO_TERMINATED,
                         (uint32_t) opts, &code_err, &offset, NULL);
    if (code == NULL) {
        buf_setf(err, "error in regex at offset %zu: ", (size_t) offset);
        pcre_error_text(code_err, err);
        return NULL;
    }
    r = mem_calloc(1, sizeof(*r));
    r->code = code;
    r->md = pcre2_match_data_create_from_pattern(code, NULL);
    if (r->md == NULL) {
        pcre2_code_free(code);
        mem_free(r);
        buf_set(err, "out of memory for match data");
        return NULL;
    }
    if (pat_pcre_match_limit > 0) {
        r->mc = pcre2_match_context_create(NULL);
        if (r->mc != NULL)
            pcre2_set_match_limit(r->mc, (uint32_t) pat_pcre_match_limit);
    }
    return r;
}

static size_t pcre_groups(void *re)
{
    uint32_t count = 0;

    if (pcre2_pattern_info(((struct pcre_re *) re)->code,
                           PCRE2_INFO_CAPTURECOUNT, &count)
        != 0)
        return 0;
    return count;
}

static int pcre_match(void *re, const char *key, size_t len, size_t *ofs,
                      size_t nofs, struct buf *err)
{
    struct pcre_re *r = re;
    PCRE2_SIZE *ov;
    uint32_t pairs;
    size_t i;
    int ret;

    ret = pcre2_match(r->code, (PCRE2_SPTR) key, len, 0, 0, r->md, r->mc);
    if (ret == PCRE2_ERROR_NOMATCH)
        return 0;
    if (ret < 0) {
        buf_reset(err);
        pcre_error_text(ret, err);
        return -1;
    }
    if (ofs != NULL) {
        ov = pcre2_get_ovector_pointer(r->md);
        pairs = pcre2_get_ovector_count(r->md);
        for (i = 0; 2 * i + 1 < nofs; i++) {
            /* Groups past RET did not take part in the match. */
            if (i >= pairs || (ret > 0 && i >= (size_t) ret)
                || ov[2 * i] == PCRE2_UNSET || ov[2 * i + 1] < ov[2 * i]) {
                ofs[2 * i] = ofs[2 * i + 1] = PAT_UNSET;
            } else {
                ofs[2 * i] = ov[2 * i];
                ofs[2 * i + 1] = ov[2 * i + 1];
            }
        }
    }
    return 1;
}

static void pcre_free(void *re)
{
    struct pcre_re *r = re;

    pcre2_match_context_free(r->mc);
    pcre2_match_data_free(r->md);
    pcre2_code_free(r->code);
    mem_free(r);
}

static const struct pat_engine pcre_engine = {
    .type = "pcre",
    .default_opts = (int) (PCRE2_CASELESS | PCRE2_DOTALL),
    .zero_index_text = "out of range replacement index",
    .unclosed_action = "ignoring this rule",
    .flag = pcre_flag,
    .compile = pcre_compile,
    .groups = pcre_groups,
    .match = pcre_match,
    .free = pcre_free,
};

struct dict *dict_pcre_open(const char *name, int open_flags, int flags,
                            struct buf *err)
{
    return pat_dict_open(&pcre_engine, name, open_flags, flags, err);
}
