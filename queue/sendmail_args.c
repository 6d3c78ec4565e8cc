/*
 * sendmail_args.c - sendmail's command line: Sendmail's options as
 * Postfix understands them, the recipient arguments, -N and -R values.
 *
 * Called by sendmail.c, and by tests/unit/test_sendmail_args.c, which
 * includes this file. Errors: -1 and a message in ERR; nothing here exits
 * or logs.
 *
 * Options may be clustered ("-ti", "-oi", "-fuser") and, as with GNU
 * getopt, may come after the recipients; "--" ends the options (for a
 * recipient that starts with '-').
 */
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "argv.h"
#include "buf.h"
#include "mem.h"
#include "record.h"
#include "sendmail.h"
#include "str.h"

void sm_opts_init(struct sm_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = SM_MODE_ENQUEUE;
    o->rcpts = argv_new(4);
    o->warnings = argv_new(1);
}

void sm_opts_free(struct sm_opts *o)
{
    mem_free(o->sender);
    mem_free(o->full_name);
    mem_free(o->envid);
    mem_free(o->config_dir);
    mem_free(o->flush_site);
    argv_free(o->rcpts);
    argv_free(o->warnings);
    memset(o, 0, sizeof(*o));
}

int sm_parse_notify(const char *text, int *notify)
{
    char *copy = mem_strdup(text);
    char *cp = copy;
    char *word;
    int bits = 0;
    int ret = 0;

    while ((word = str_token(&cp, ", \t")) != NULL) {
        if (strcasecmp(word, "never") == 0)
            bits |= REC_NOTIFY_NEVER;
        else if (strcasecmp(word, "success") == 0)
            bits |= REC_NOTIFY_SUCCESS;
        else if (strcasecmp(word, "failure") == 0)
            bits |= REC_NOTIFY_FAILURE;
        else if (strcasecmp(word, "delay") == 0)
            bits |= REC_NOTIFY_DELAY;
        else
            ret = -1;
    }
    /* "never" excludes everything else (RFC 3461 section 4.1). */
    if (bits == 0 || ((bits & REC_NOTIFY_NEVER) && bits != REC_NOTIFY_NEVER))
        ret = -1;
    if (ret == 0)
        *notify = bits;
    mem_free(copy);
    return ret;
}

int sm_parse_ret(const char *text, int *ret)
{
    if (strcasecmp(text, "full") == 0)
        *ret = REC_DSN_RET_FULL;
    else if (strcasecmp(text, "hdrs") == 0)
        *ret = REC_DSN_RET_HDRS;
    else
        return -1;
    return 0;
}

void sm_sender_internal(struct buf *out, const char *given)
{
    size_t len = strlen(given);

    buf_reset(out);
    while (len > 0 && (*given == ' ' || *given == '\t')) {
        given++;
        len--;
    }
    while (len > 0 && (given[len - 1] == ' ' || given[len - 1] == '\t'))
        len--;
    if (len >= 2 && given[0] == '<' && given[len - 1] == '>') {
        given++;
        len -= 2;
    }
    addr_unquote(out, given, len);
}

/* One address of a recipient argument: OUT gets the internal form. */
static int sm_one_rcpt(const char *text, size_t len, struct buf *out,
                       struct buf *err)
{
    struct buf *plain = buf_new(len + 1);
    int quoted = 0;
    int depth = 0;
    size_t i;

    /* Drop (comments); find the last <...> outside quotes. */
    for (i = 0; i < len; i++) {
        char c = text[i];

        if (quoted) {
            if (c == '\\' && i + 1 < len) {
                buf_putc(plain, c);
                c = text[++i];
            } else if (c == '"') {
                quoted = 0;
            }
            buf_putc(plain, c);
            continue;
        }
        if (depth > 0) {
            if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            continue;
        }
        if (c == '(') {
            depth = 1;
        } else if (c == '"') {
            quoted = 1;
            buf_putc(plain, c);
        } else {
            buf_putc(plain, c);
        }
    }
    if (quoted || depth > 0) {
        buf_setf(err, "unbalanced %s", quoted ? "quote" : "parenthesis");
        buf_free(plain);
        return -1;
    }
    /* The mailbox is inside the last <...>, when there is one. */
    {
        const char *s = buf_str(plain);
        const char *l = strrchr(s, '<');
        const char *g = l ? strchr(l, '>') : NULL;
        const char *start = s;
        size_t n;

        if (l != NULL && g == NULL) {
            buf_set(err, "missing '>'");
            buf_free(plain);
            return -1;
        }
        if (l != NULL) {
            start = l + 1;
            n = (size_t) (g - start);
        } else {
            n = strlen(s);
        }
        while (n > 0 && strchr(" \t", *start)) {
            start++;
            n--;
        }
        while (n > 0 && strchr(" \t", start[n - 1]))
            n--;
        /* A source route "@a,@b:user@dom" keeps only the mailbox. */
        if (n > 0 && *start == '@') {
            const char *colon = memchr(start, ':', n);

            if (colon != NULL) {
                n -= (size_t) (colon + 1 - start);
                start = colon + 1;
            }
        }
        buf_reset(out);
        addr_unquote(out, start, n);
    }
    buf_free(plain);
    return 0;
}

int sm_split_rcpts(const char *arg, struct argv *addrs, struct argv *origs,
                   struct buf *err)
{
    struct buf *addr = buf_new(64);
    const char *start = arg;
    const char *cp;
    int quoted = 0;
    int depth = 0;
    int angle = 0;
    int count = 0;

    for (cp = arg;; cp++) {
        if (*cp == 0 || (*cp == ',' && !quoted && depth == 0 && angle == 0)) {
            const char *s = start;
            const char *e = cp;

            while (s < e && strchr(" \t\r\n", *s))
                s++;
            while (e > s && strchr(" \t\r\n", e[-1]))
                e--;
            if (e > s) {
                if (sm_one_rcpt(s, (size_t) (e - s), addr, err) < 0) {
                    buf_free(addr);
                    return -1;
                }
                if (buf_len(addr) == 0) {
                    buf_set(err, "empty address");
                    buf_free(addr);
                    return -1;
                }
                /* The original recipient: before cleanup rewrites it. */
                argv_add(addrs, buf_str(addr));
                argv_add(origs, buf_str(addr));
                count++;
            }
            if (*cp == 0)
                break;
            start = cp + 1;
            continue;
        }
        if (quoted) {
            if (*cp == '\\' && cp[1])
                cp++;
            else if (*cp == '"')
                quoted = 0;
        } else if (*cp == '"') {
            quoted = 1;
        } else if (*cp == '(') {
            depth++;
        } else if (*cp == ')' && depth > 0) {
            depth--;
        } else if (*cp == '<' && depth == 0) {
            angle = 1;
        } else if (*cp == '>' && depth == 0) {
            angle = 0;
        }
    }
    buf_free(addr);
    return count;
}

/* Options that take a value (attached or as the next argument). */
static const char sm_value_opts[] = "BCFLNORVXbefhopr";

/* The mode for -bX. */
static int sm_mode_opt(const char *val, struct sm_opts *o, struct buf *err)
{
    if (strlen(val) != 1) {
        buf_setf(err, "-b%s: unknown mode", val);
        return -1;
    }
    switch (*val) {
    case 'm':
        o->mode = SM_MODE_ENQUEUE;
        return 0;
    case 's':
        o->mode = SM_MODE_SMTP;
        return 0;
    case 'p':
        o->mode = SM_MODE_MAILQ;
        return 0;
    case 'i':
        o->mode = SM_MODE_NEWALIASES;
        return 0;
    case 'd':
    case 'D':
    case 'l':
    case 'h':
    case 'H':
    case 'v':
    case 't':
        buf_setf(err, "-b%s is not supported", val);
        return -1;
    default:
        buf_setf(err, "-b%s: unknown mode", val);
        return -1;
    }
}

/* One option with its value (NULL for flags). */
static int sm_option(int ch, const char *val, struct sm_opts *o,
                     struct buf *err)
{
    switch (ch) {
    case 'b':
        return sm_mode_opt(val, o, err);
    case 'B':
        if (strcasecmp(val, "8BITMIME") == 0)
            o->body_8bit = 1;
        else if (strcasecmp(val, "7BIT") == 0)
            o->body_8bit = 0;
        else
            argv_add(o->warnings, "-B: ignoring unknown body type");
        return 0;
    case 'C':
        mem_free(o->config_dir);
        o->config_dir = mem_strdup(val);
        return 0;
    case 'f':
    case 'r':
        mem_free(o->sender);
        o->sender = mem_strdup(val);
        o->have_sender = 1;
        return 0;
    case 'F':
        mem_free(o->full_name);
        o->full_name = mem_strdup(val);
        return 0;
    case 'N':
        if (sm_parse_notify(val, &o->notify) < 0) {
            buf_setf(err,
                     "-N: bad notify list \"%s\": want never, or one or "
                     "more of success, failure, delay",
                     val);
            return -1;
        }
        return 0;
    case 'R':
        if (sm_parse_ret(val, &o->dsn_ret) < 0) {
            buf_setf(err, "-R: bad value \"%s\": want full or hdrs", val);
            return -1;
        }
        return 0;
    case 'V':
        mem_free(o->envid);
        o->envid = mem_strdup(val);
        return 0;
    case 'o':
        /* -oi is -i; -oA (alias file), -om, -oem ... are ignored. */
        if (strcmp(val, "i") == 0)
            o->ignore_dots = 1;
        else
            argv_add(o->warnings, "-o option ignored");
        return 0;
    case 'e':
    case 'h':
    case 'L':
    case 'O':
    case 'p':
    case 'X':
        return 0;
    case 'i':
        o->ignore_dots = 1;
        return 0;
    case 't':
        o->extract = 1;
        return 0;
    case 'v':
        o->verbose++;
        return 0;
    case 'I':
        o->mode = SM_MODE_NEWALIASES;
        return 0;
    case 'G':
    case 'U':
    case 'm':
    case 'n':
        return 0;
    default:
        buf_setf(err, "invalid option -- '%c'", ch);
        return -1;
    }
}

/* -q, -qRsite, -qSsite, -q30m: NEXT is the following argument or NULL. */
static int sm_queue_opt(const char *rest, const char *next, int *used,
                        struct sm_opts *o, struct buf *err)
{
    *used = 0;
    o->mode = SM_MODE_FLUSH;
    if (*rest == 'R' || *rest == 'S') {
        const char *site = rest + 1;

        if (*site == 0) {
            if (next == NULL) {
                buf_setf(err, "-q%c requires a site", *rest);
                return -1;
            }
            site = next;
            *used = 1;
        }
        mem_free(o->flush_site);
        o->flush_site = mem_strdup(site);
        return 0;
    }
    /* -q with an interval: a queue run now, as without one. */
    if (*rest && strspn(rest, "0123456789smhdw") != strlen(rest)) {
        buf_setf(err, "-q%s: bad queue run interval", rest);
        return -1;
    }
    return 0;
}

int sm_args_parse(int argc, char **argv, struct sm_opts *o, struct buf *err)
{
    const char *prog = argc > 0 && argv[0] ? argv[0] : "sendmail";
    const char *slash = strrchr(prog, '/');
    int options_done = 0;
    int i;

    if (slash)
        prog = slash + 1;
    if (strcmp(prog, "mailq") == 0)
        o->mode = SM_MODE_MAILQ;
    else if (strcmp(prog, "newaliases") == 0)
        o->mode = SM_MODE_NEWALIASES;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *cp;

        if (options_done || arg[0] != '-' || arg[1] == 0) {
            if (!options_done && arg[0] == '-') {
                buf_set(err, "invalid argument \"-\"");
                return -1;
            }
            argv_add(o->rcpts, arg);
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = 1;
            continue;
        }
        for (cp = arg + 1; *cp; cp++) {
            const char *val = NULL;

            if (*cp == 'q') {
                int used;

                if (sm_queue_opt(cp + 1, i + 1 < argc ? argv[i + 1] : NULL,
                                 &used, o, err)
                    < 0)
                    return -1;
                i += used;
                break;
            }
            if (strchr(sm_value_opts, *cp) != NULL) {
                if (cp[1]) {
                    val = cp + 1;
                } else if (i + 1 < argc) {
                    val = argv[++i];
                } else {
                    buf_setf(err, "option requires an argument -- '%c'", *cp);
                    return -1;
                }
                if (sm_option(*cp, val, o, err) < 0)
                    return -1;
                break;
            }
            if (sm_option(*cp, NULL, o, err) < 0)
                return -1;
        }
    }
    return 0;
}
