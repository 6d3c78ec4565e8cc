/*
 * smtp_reply.c - reading SMTP server replies and the EHLO keyword list.
 *
 * A reply is one or more lines "NNN-text" ending with "NNN text" (or a
 * bare "NNN"). Lines are read with a length limit (the rest of a longer
 * line is skipped) and the number of lines is bounded, so a server can
 * neither make the client hold unbounded memory nor keep it reading
 * forever (the stream's timeout bounds each line). The text kept for
 * logging is made printable. A line that does not start with three digits
 * ends the reply as malformed (code 0): the caller treats it as a
 * protocol error.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "argv.h"
#include "buf.h"
#include "mem.h"
#include "smtp.h"
#include "str.h"
#include "stream.h"

void smtp_reply_init(struct smtp_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->text = buf_new(128);
    r->lines = argv_new(4);
}

void smtp_reply_free(struct smtp_reply *r)
{
    buf_free(r->text);
    argv_free(r->lines);
    memset(r, 0, sizeof(*r));
}

int smtp_reply_line(const char *line, size_t len, int *last)
{
    int code;

    *last = 1;
    if (len < 3 || !isdigit((unsigned char) line[0])
        || !isdigit((unsigned char) line[1])
        || !isdigit((unsigned char) line[2]))
        return 0;
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code < 200 || code > 599)
        return 0;
    if (len == 3 || line[3] == ' ')
        *last = 1;
    else if (line[3] == '-')
        *last = 0;
    else
        return 0;
    return code;
}

/*
 * The enhanced status code at the start of TEXT, when it is there and
 * its class matches CODE: copied to DSN. 1 when found.
 */
static int smtp_reply_dsn(const char *text, int code, char *dsn, size_t size)
{
    const char *p = text;
    size_t n;
    int dots = 0, digits = 0;

    if (*p != '0' + code / 100)
        return 0;
    for (n = 0; p[n] && p[n] != ' '; n++) {
        if (p[n] == '.') {
            if (digits == 0 || ++dots > 2)
                return 0;
            digits = 0;
        } else if (isdigit((unsigned char) p[n])) {
            if (++digits > 3)
                return 0;
        } else {
            return 0;
        }
    }
    if (dots != 2 || digits == 0 || n >= size)
        return 0;
    memcpy(dsn, p, n);
    dsn[n] = 0;
    return 1;
}

int smtp_reply_read(struct stream *s, struct smtp_reply *r)
{
    struct buf *line = buf_new(256);
    int nlines = 0;
    int ret = 0;

    r->code = 0;
    r->dsn[0] = 0;
    buf_reset(r->text);
    argv_truncate(r->lines, 0);
    for (;;) {
        int last, code;
        const char *rest;

        if (stream_read_line(s, line, SMTP_REPLY_LINE_MAX) < 0
            && stream_reason(s) != STREAM_TOOLONG) {
            ret = -1;
            break;
        }
        code = smtp_reply_line(buf_str(line), buf_len(line), &last);
        if (buf_len(r->text) && nlines < SMTP_REPLY_LINES_MAX)
            buf_putc(r->text, ' ');
        if (nlines < SMTP_REPLY_LINES_MAX)
            str_printable(r->text, buf_str(line), buf_len(line));
        if (code == 0 || (r->code != 0 && code != r->code)) {
            r->code = 0; /* malformed, or codes that change mid-reply */
            break;
        }
        r->code = code;
        rest = buf_len(line) > 4 ? buf_str(line) + 4 : "";
        if (nlines < SMTP_REPLY_LINES_MAX) {
            struct buf *p = buf_new(64);

            str_printable(p, rest, strlen(rest));
            argv_add(r->lines, buf_str(p));
            buf_free(p);
        }
        nlines++;
        if (last)
            break;
        /* Lines past the stored ones are read, but not without end. */
        if (nlines >= SMTP_REPLY_LINES_READ_MAX) {
            r->code = 0;
            break;
        }
    }
    buf_free(line);
    if (ret == 0 && r->code != 0 && r->lines->argc > 0
        && !smtp_reply_dsn(r->lines->argv[r->lines->argc - 1], r->code, r->dsn,
                           sizeof(r->dsn)))
        r->dsn[0] = 0;
    if (ret == 0 && r->code != 0 && r->dsn[0] == 0) {
        r->dsn[0] = (char) ('0' + r->code / 100);
        memcpy(r->dsn + 1, ".0.0", 5);
    }
    return ret;
}

void smtp_features_init(struct smtp_features *f)
{
    memset(f, 0, sizeof(*f));
    f->auth_mechs = buf_new(32);
}

void smtp_features_free(struct smtp_features *f)
{
    buf_free(f->auth_mechs);
    memset(f, 0, sizeof(*f));
}

/* Is KEYWORD in the DISCARD list (case-insensitive)? */
static int smtp_discarded(const char *discard, const char *keyword)
{
    char *copy, *cp, *word;
    int found = 0;

    if (discard == NULL || *discard == 0)
        return 0;
    cp = copy = mem_strdup(discard);
    if (copy == NULL)
        return 0;
    while (!found && (word = str_token(&cp, STR_LIST_SEP)) != NULL)
        found = strcasecmp(word, keyword) == 0;
    mem_free(copy);
    return found;
}

/* Add the mechanism names in LIST to F's set (no repeats, upper case). */
static void smtp_add_mechs(struct smtp_features *f, const char *list)
{
    char *copy = mem_strdup(list), *cp = copy, *word;

    if (copy == NULL)
        return;
    while ((word = str_token(&cp, " \t")) != NULL) {
        char *m;
        size_t n;
        int dup = 0;

        for (m = word; *m; m++)
            *m = (char) toupper((unsigned char) *m);
        n = strlen(word);
        for (m = buf_str(f->auth_mechs); (m = strstr(m, word)) != NULL; m += n)
            if ((m == buf_str(f->auth_mechs) || m[-1] == ' ')
                && (m[n] == 0 || m[n] == ' '))
                dup = 1;
        if (dup || n == 0 || n > 20)
            continue;
        if (buf_len(f->auth_mechs))
            buf_putc(f->auth_mechs, ' ');
        buf_puts(f->auth_mechs, word);
    }
    mem_free(copy);
}

void smtp_features_parse(struct smtp_features *f, const struct smtp_reply *r,
                         const char *discard)
{
    size_t i;

    f->esmtp = 1;
    f->pipelining = f->size = f->eightbitmime = f->smtputf8 = f->dsn = 0;
    f->starttls = f->auth = 0;
    f->size_limit = 0;
    buf_reset(f->auth_mechs);
    for (i = 1; i < r->lines->argc; i++) {
        char word[64];
        const char *line = r->lines->argv[i];
        const char *arg;
        size_t n = strcspn(line, " =");

        if (n == 0 || n >= sizeof(word))
            continue;
        memcpy(word, line, n);
        word[n] = 0;
        arg = line[n] ? line + n + 1 : "";
        if (smtp_discarded(discard, word))
            continue;
        if (strcasecmp(word, "PIPELINING") == 0) {
            f->pipelining = 1;
        } else if (strcasecmp(word, "SIZE") == 0) {
            char *end;
            long long v = strtoll(arg, &end, 10);

            f->size = 1;
            if (end != arg && v > 0)
                f->size_limit = v;
        } else if (strcasecmp(word, "8BITMIME") == 0) {
            f->eightbitmime = 1;
        } else if (strcasecmp(word, "SMTPUTF8") == 0) {
            f->smtputf8 = 1;
        } else if (strcasecmp(word, "DSN") == 0) {
            f->dsn = 1;
        } else if (strcasecmp(word, "STARTTLS") == 0) {
            f->starttls = 1;
        } else if (strcasecmp(word, "AUTH") == 0) {
            /* "AUTH PLAIN LOGIN" and the old "AUTH=PLAIN LOGIN" */
            f->auth = 1;
            smtp_add_mechs(f, arg);
        }
    }
}
