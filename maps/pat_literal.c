/*
 * pat_literal.c - the text every match of an extended regular expression
 * must contain (see pat_literal.h).
 *
 * The pattern is read at its top level as a sequence of atoms, each
 * perhaps followed by a quantifier. A plain character (or a backslash
 * before punctuation) is a literal atom; a run of literal atoms that no
 * quantifier makes optional must appear in every match, in that order and
 * next to each other. Every other atom (".", a bracket expression, a
 * group, an anchor, a GNU operator such as \w or \1) ends the run. "*",
 * "?" and "{m,n}" make the atom before them optional, so it leaves the
 * run; "+" keeps one copy but ends the run after it (more copies may
 * follow). A "|" outside every group means there is no required text.
 */
#include <ctype.h>
#include <string.h>

#include "pat_literal.h"

struct lit_scan {
    char *best;
    size_t best_len;
    size_t size;
    char run[256];
    size_t run_len;
    int last_literal; /* the previous atom is the run's last character */
};

static void lit_end_run(struct lit_scan *ls)
{
    if (ls->run_len > ls->best_len && ls->run_len < ls->size) {
        memcpy(ls->best, ls->run, ls->run_len);
        ls->best[ls->run_len] = 0;
        ls->best_len = ls->run_len;
    }
    ls->run_len = 0;
    ls->last_literal = 0;
}

static void lit_add(struct lit_scan *ls, char c)
{
    if (ls->run_len == sizeof(ls->run))
        lit_end_run(ls);
    ls->run[ls->run_len++] = c;
    ls->last_literal = 1;
}

/* Skip a bracket expression starting at P ("["); NULL when unclosed. */
static const char *lit_skip_bracket(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    while (*p && *p != ']') {
        if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            char kind = p[1];

            p += 2;
            while (*p && !(*p == kind && p[1] == ']'))
                p++;
            if (*p == 0)
                return NULL;
            p += 2;
        } else {
            p++;
        }
    }
    return *p == ']' ? p + 1 : NULL;
}

/* Skip a group starting at P ("("); NULL when unbalanced. */
static const char *lit_skip_group(const char *p)
{
    int depth = 0;

    while (*p) {
        if (*p == '\\') {
            if (p[1] == 0)
                return NULL;
            p += 2;
        } else if (*p == '[') {
            if ((p = lit_skip_bracket(p)) == NULL)
                return NULL;
        } else if (*p == '(') {
            depth++;
            p++;
        } else if (*p == ')') {
            p++;
            if (--depth == 0)
                return p;
        } else {
            p++;
        }
    }
    return NULL;
}

/* Is there a "|" outside every group and bracket expression? -1: bad. */
static int lit_top_alternation(const char *p)
{
    while (*p) {
        if (*p == '\\') {
            if (p[1] == 0)
                return -1;
            p += 2;
        } else if (*p == '[') {
            if ((p = lit_skip_bracket(p)) == NULL)
                return -1;
        } else if (*p == '(') {
            if ((p = lit_skip_group(p)) == NULL)
                return -1;
        } else if (*p == '|') {
            return 1;
        } else if (*p == ')') {
            return -1;
        } else {
            p++;
        }
    }
    return 0;
}

size_t pat_required_literal(const char *pattern, char *out, size_t size)
{
    struct lit_scan ls;
    const char *p = pattern;
    int after_quantifier = 0;

    if (size == 0)
        return 0;
    out[0] = 0;
    if (lit_top_alternation(pattern) != 0)
        return 0;
    memset(&ls, 0, sizeof(ls));
    ls.best = out;
    ls.size = size;
    while (*p) {
        unsigned char c = (unsigned char) *p;

        if (c == '*' || c == '?' || c == '{' || c == '+') {
            /* A quantifier on a quantifier: too clever to follow. */
            if (after_quantifier)
                goto none;
            after_quantifier = 1;
            if (c == '{') {
                const char *end = strchr(p, '}');

                if (end == NULL)
                    goto none;
                p = end + 1;
            } else {
                p++;
            }
            if (!ls.last_literal) {
                lit_end_run(&ls);
                continue;
            }
            if (c == '+') {
                lit_end_run(&ls); /* the one copy stays in the run */
            } else {
                ls.run_len--; /* the optional character leaves the run */
                lit_end_run(&ls);
            }
            continue;
        }
        after_quantifier = 0;
        if (c == '\\') {
            unsigned char n = (unsigned char) p[1];

            if (n == 0)
                goto none;
            /* \w \b \< \1 ... are GNU operators, not characters. */
            if (isalnum(n) || n == '<' || n == '>' || n == '`' || n == '\''
                || n < 0x21 || n > 0x7e) {
                lit_end_run(&ls);
            } else {
                lit_add(&ls, (char) n);
            }
            p += 2;
        } else if (c == '[') {
            lit_end_run(&ls);
            if ((p = lit_skip_bracket(p)) == NULL)
                goto none;
        } else if (c == '(') {
            lit_end_run(&ls);
            if ((p = lit_skip_group(p)) == NULL)
                goto none;
        } else if (c == ')') {
            goto none;
        } else if (c == '.' || c == '^' || c == '$' || c < 0x20 || c > 0x7e) {
            lit_end_run(&ls);
            p++;
        } else {
            lit_add(&ls, (char) c);
            p++;
        }
    }
    lit_end_run(&ls);
    return ls.best_len;

none:
    out[0] = 0;
    return 0;
}

int pat_has_literal(const char *text, const char *lit, size_t len, int icase)
{
    if (len == 0)
        return 1;
    /* strcasestr folds ASCII in the C locale, as regcomp's REG_ICASE. */
    return (icase ? strcasestr(text, lit) : strstr(text, lit)) != NULL;
}
