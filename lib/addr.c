/*
 * addr.c - RFC 5321 mail addresses (see addr.h).
 *
 * Called by smtpd, cleanup, local, sendmail and the rewriting code. Every
 * function is bounded by an explicit length and accepts any bytes; errors
 * are -1 with a static message in *ERR. Nothing here logs.
 */
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "buf.h"
#include "cidr.h"
#include "mem.h"

/* More than any real client sends; stops a line of "X X X ..." early. */
#define ADDR_MAX_PARAMS 64
/* RFC 5321 section 4.5.3.1, enforced with ADDR_PARSE_STRICT only. */
#define ADDR_MAX_LOCAL  64
#define ADDR_MAX_DOMAIN 255
#define ADDR_MAX_LABEL  63

static int is_alpha(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_alnum(int ch)
{
    return is_alpha(ch) || is_digit(ch);
}

/* RFC 5322 atext, without the bytes above 127 (see is_8bit). */
static int is_atext(int ch)
{
    return is_alnum(ch) || (ch != 0 && strchr("!#$%&'*+-/=?^_`{|}~", ch));
}

static int is_8bit(int ch)
{
    return ch >= 128;
}

static int is_wsp(int ch)
{
    return ch == ' ' || ch == '\t';
}

struct addr_arg *addr_arg_new(void)
{
    struct addr_arg *arg = mem_calloc(1, sizeof(*arg));

    arg->addr = buf_new(64);
    return arg;
}

static void clear_params(struct addr_arg *arg)
{
    size_t i;

    for (i = 0; i < arg->nparams; i++) {
        mem_free(arg->params[i].name);
        mem_free(arg->params[i].value);
    }
    arg->nparams = 0;
}

void addr_arg_free(struct addr_arg *arg)
{
    if (arg == NULL)
        return;
    clear_params(arg);
    mem_free(arg->params);
    buf_free(arg->addr);
    mem_free(arg);
}

int addr_arg_find(const struct addr_arg *arg, const char *name)
{
    size_t i;

    for (i = 0; i < arg->nparams; i++)
        if (strcasecmp(arg->params[i].name, name) == 0)
            return (int) i;
    return -1;
}

/*
 * A domain name: labels of letters, digits, '-' (and, unless strict, '_'),
 * bytes above 127 for SMTPUTF8 unless forbidden; no empty label.
 */
static int check_domain(const char *s, size_t n, int flags)
{
    size_t i;
    size_t label = 0;

    if (n == 0)
        return -1;
    if ((flags & ADDR_PARSE_STRICT) && n > ADDR_MAX_DOMAIN)
        return -1;
    for (i = 0; i < n; i++) {
        int ch = (unsigned char) s[i];

        if (ch == '.') {
            if (label == 0)
                return -1;
            if ((flags & ADDR_PARSE_STRICT) && s[i - 1] == '-')
                return -1;
            label = 0;
            continue;
        }
        if (is_8bit(ch)) {
            if (flags & ADDR_PARSE_NO_8BIT)
                return -1;
        } else if (ch == '-') {
            if ((flags & ADDR_PARSE_STRICT) && label == 0)
                return -1;
        } else if (ch == '_') {
            if (flags & ADDR_PARSE_STRICT)
                return -1;
        } else if (!is_alnum(ch)) {
            return -1;
        }
        label++;
        if ((flags & ADDR_PARSE_STRICT) && label > ADDR_MAX_LABEL)
            return -1;
    }
    if (label == 0)
        return -1;
    if ((flags & ADDR_PARSE_STRICT) && s[n - 1] == '-')
        return -1;
    return 0;
}

/*
 * "[192.0.2.1]" or "[IPv6:2001:db8::1]". RFC 5321 also has general
 * literals "[tag:text]" for registered tags; none is registered and no
 * MTA routes them, so they are refused, as a mistyped IPv6 literal
 * ("[2001:db8::1]") must be.
 */
static int check_literal(const char *s, size_t n)
{
    struct cidr_addr ip;

    if (n < 2 || s[0] != '[' || s[n - 1] != ']')
        return -1;
    s++;
    n -= 2;
    if (n > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
        if (cidr_addr_parse(s + 5, n - 5, &ip) < 0 || ip.family != CIDR_INET6)
            return -1;
    } else {
        if (cidr_addr_parse(s, n, &ip) < 0 || ip.family != CIDR_INET4)
            return -1;
    }
    return 0;
}

static int check_domain_or_literal(const char *s, size_t n, int flags)
{
    if (n > 0 && s[0] == '[')
        return check_literal(s, n);
    return check_domain(s, n, flags);
}

/* A dot-atom: no leading, trailing or double dot. */
static int is_dot_atom(const char *s, size_t n, int allow_8bit)
{
    size_t i;

    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (i = 0; i < n; i++) {
        int ch = (unsigned char) s[i];

        if (ch == '.') {
            if (s[i - 1] == '.')
                return 0;
        } else if (!is_atext(ch) && !(allow_8bit && is_8bit(ch))) {
            return 0;
        }
    }
    return 1;
}

static int is_postmaster(const char *s, size_t n)
{
    return n == 10 && strncasecmp(s, "postmaster", 10) == 0;
}

/*
 * Mailbox = Local-part "@" ( Domain / address-literal ), or a bare local
 * part. Appends the internal form to OUT.
 */
static int parse_mailbox(const char *s, size_t n, int flags, struct buf *out,
                         const char **err)
{
    int allow_8bit = !(flags & ADDR_PARSE_NO_8BIT);
    int strict = flags & ADDR_PARSE_STRICT;
    size_t i = 0;
    size_t local_start = buf_len(out);
    size_t local_len;
    int quoted = 0;

    while (i < n && s[i] != '@') {
        int ch = (unsigned char) s[i];

        if (ch == '"') {
            if (strict && i != 0) {
                *err = "bad character in local part";
                return -1;
            }
            quoted = 1;
            for (i++; i < n && s[i] != '"'; i++) {
                ch = (unsigned char) s[i];
                if (ch == '\\') {
                    if (++i == n)
                        break;
                    ch = (unsigned char) s[i];
                }
                if (ch < 32 || ch == 127 || (is_8bit(ch) && !allow_8bit)) {
                    *err = "bad character in quoted string";
                    return -1;
                }
                buf_putc(out, ch);
            }
            if (i >= n) {
                *err = "unbalanced quote";
                return -1;
            }
            i++;
            if (strict && i < n && s[i] != '@') {
                *err = "bad character in local part";
                return -1;
            }
            continue;
        }
        if (ch != '.' && !is_atext(ch) && !(allow_8bit && is_8bit(ch))) {
            *err = "bad character in local part";
            return -1;
        }
        buf_putc(out, ch);
        i++;
    }
    local_len = buf_len(out) - local_start;
    if (strict) {
        if (!quoted && !is_dot_atom(s, i, allow_8bit)) {
            *err = "bad local part syntax";
            return -1;
        }
        if (i > ADDR_MAX_LOCAL) { /* as sent, quotes included */
            *err = "local part too long";
            return -1;
        }
    }
    if (i == n) {
        /* Unqualified: "<postmaster>" always, anything else unless strict. */
        if (local_len == 0) {
            *err = "empty address";
            return -1;
        }
        if (memchr(buf_str(out) + local_start, '@', local_len) != NULL) {
            /* The internal form would read as user@domain. */
            *err = "unqualified address with '@' in local part";
            return -1;
        }
        if (strict && !is_postmaster(buf_str(out) + local_start, local_len)) {
            *err = "missing domain";
            return -1;
        }
        return 0;
    }
    i++; /* the '@' */
    if (check_domain_or_literal(s + i, n - i, flags) < 0) {
        if (i < n && s[i] == '[')
            *err = "bad address literal";
        else
            *err = "bad domain syntax";
        return -1;
    }
    buf_putc(out, '@');
    buf_append(out, s + i, n - i);
    return 0;
}

/* A-d-l = At-domain *( "," At-domain ), At-domain = "@" Domain */
static int check_route(const char *s, size_t n, int flags)
{
    size_t i = 0;

    while (i < n) {
        const char *comma;
        size_t end;

        if (s[i] != '@')
            return -1;
        i++;
        comma = memchr(s + i, ',', n - i);
        end = comma ? (size_t) (comma - s) : n;
        if (check_domain_or_literal(s + i, end - i, flags) < 0)
            return -1;
        i = end;
        if (comma != NULL && ++i == n)
            return -1;
    }
    return 0;
}

/*
 * Offset of the first unquoted byte in STOP after S[START], or N. Inside
 * quotes a backslash escapes the next byte.
 */
static size_t scan_unquoted(const char *s, size_t n, size_t start,
                            const char *stop, int *unbalanced)
{
    size_t i;
    int inq = 0;

    for (i = start; i < n; i++) {
        int ch = (unsigned char) s[i];

        if (inq) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                inq = 0;
        } else if (ch == '"') {
            inq = 1;
        } else if (ch != 0 && strchr(stop, ch) != NULL) {
            break;
        }
    }
    if (unbalanced)
        *unbalanced = inq;
    return i > n ? n : i;
}

static int is_keyword(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || !is_alnum((unsigned char) s[0]))
        return 0;
    for (i = 1; i < n; i++)
        if (!is_alnum((unsigned char) s[i]) && s[i] != '-')
            return 0;
    return 1;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 (RFC 6531). */
static int is_value(const char *s, size_t n, int flags)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        int ch = (unsigned char) s[i];

        if (is_8bit(ch) ? (flags & ADDR_PARSE_NO_8BIT) != 0
                        : (ch < 33 || ch > 126 || ch == '='))
            return 0;
    }
    return 1;
}

static int parse_params(struct addr_arg *arg, const char *s, size_t n,
                        int flags, const char **err)
{
    size_t i = 0;

    for (;;) {
        size_t start;
        const char *eq;
        size_t klen;
        struct addr_param *p;

        while (i < n && is_wsp((unsigned char) s[i]))
            i++;
        if (i == n)
            return 0;
        start = i;
        while (i < n && !is_wsp((unsigned char) s[i]))
            i++;
        eq = memchr(s + start, '=', i - start);
        klen = eq ? (size_t) (eq - (s + start)) : i - start;
        if (!is_keyword(s + start, klen)
            || (eq && !is_value(eq + 1, (size_t) (s + i - eq - 1), flags))) {
            arg->param_error = 1;
            *err = "bad ESMTP parameter syntax";
            return -1;
        }
        if (arg->nparams >= ADDR_MAX_PARAMS) {
            arg->param_error = 1;
            *err = "too many ESMTP parameters";
            return -1;
        }
        if (arg->nparams >= arg->params_size) {
            arg->params_size = arg->params_size ? arg->params_size * 2 : 4;
            arg->params = mem_realloc(arg->params,
                                      arg->params_size * sizeof(*arg->params));
        }
        p = &arg->params[arg->nparams++];
        p->name = mem_strndup(s + start, klen);
        p->value = eq ? mem_strndup(eq + 1, (size_t) (s + i - eq - 1)) : NULL;
    }
}

int addr_parse_arg(struct addr_arg *arg, const char *text, size_t len,
                   int flags, const char **err)
{
    size_t i = 0;
    size_t end;
    int unbalanced;

    buf_reset(arg->addr);
    clear_params(arg);
    arg->null_addr = 0;
    arg->bracketed = 0;
    arg->param_error = 0;
    *err = NULL;

    if (memchr(text, 0, len) != NULL) {
        *err = "NUL byte in address";
        return -1;
    }
    while (i < len && is_wsp((unsigned char) text[i]))
        i++;
    if (i == len) {
        *err = "missing address";
        return -1;
    }
    if (text[i] == '<') {
        size_t start = i + 1;
        size_t mbox;

        arg->bracketed = 1;
        end = scan_unquoted(text, len, start, "<>", &unbalanced);
        if (end == len || text[end] != '>') {
            if (unbalanced)
                *err = "unbalanced quote";
            else if (end < len)
                *err = "bad character in address";
            else
                *err = "missing '>'";
            return -1;
        }
        mbox = start;
        if (start < end && text[start] == '@') {
            /* Source route: "@a,@b:" is checked, then dropped. */
            const char *colon = memchr(text + start, ':', end - start);
            size_t route_len = colon ? (size_t) (colon - text) - start : 0;

            if (colon == NULL
                || check_route(text + start, route_len, flags) < 0) {
                *err = "bad source route";
                return -1;
            }
            mbox = (size_t) (colon - text) + 1;
            if (mbox == end) {
                *err = "bad source route";
                return -1;
            }
        }
        if (mbox == end) {
            if (flags & ADDR_PARSE_NO_NULL) {
                *err = "null address not allowed";
                return -1;
            }
            arg->null_addr = 1;
        } else {
            int ret =
                parse_mailbox(text + mbox, end - mbox, flags, arg->addr, err);

            if (ret < 0) {
                buf_reset(arg->addr);
                return -1;
            }
        }
        end++;
        if (end < len && !is_wsp((unsigned char) text[end])) {
            buf_reset(arg->addr);
            *err = "garbage after '>'";
            return -1;
        }
    } else {
        if (!(flags & ADDR_PARSE_BARE)) {
            *err = "missing '<'";
            return -1;
        }
        end = scan_unquoted(text, len, i, " \t", &unbalanced);
        if (unbalanced) {
            *err = "unbalanced quote";
            return -1;
        }
        if (parse_mailbox(text + i, end - i, flags, arg->addr, err) < 0) {
            buf_reset(arg->addr);
            return -1;
        }
    }
    if (parse_params(arg, text + end, len - end, flags, err) < 0) {
        buf_reset(arg->addr);
        return -1;
    }
    return 0;
}

/* Does the internal local part need quotes in the external form? */
static int local_needs_quotes(const char *s, size_t n)
{
    return !is_dot_atom(s, n, 1);
}

void addr_quote(struct buf *out, const char *addr, size_t len)
{
    size_t at;
    size_t i;

    if (len == 0)
        return;
    at = addr_split_at(addr, len, ADDR_INTERNAL);
    if (local_needs_quotes(addr, at)) {
        buf_putc(out, '"');
        for (i = 0; i < at; i++) {
            if (addr[i] == '"' || addr[i] == '\\')
                buf_putc(out, '\\');
            buf_putc(out, (unsigned char) addr[i]);
        }
        buf_putc(out, '"');
    } else {
        buf_append(out, addr, at);
    }
    buf_append(out, addr + at, len - at);
}

void addr_unquote(struct buf *out, const char *addr, size_t len)
{
    size_t at = addr_split_at(addr, len, ADDR_EXTERNAL);
    size_t i;
    int inq = 0;

    for (i = 0; i < at; i++) {
        int ch = (unsigned char) addr[i];

        if (inq) {
            if (ch == '\\' && i + 1 < at)
                ch = (unsigned char) addr[++i];
            else if (ch == '"') {
                inq = 0;
                continue;
            }
        } else if (ch == '"') {
            inq = 1;
            continue;
        }
        buf_putc(out, ch);
    }
    buf_append(out, addr + at, len - at);
}

size_t addr_split_at(const char *addr, size_t len, int form)
{
    size_t at = len;
    size_t i;
    int inq = 0;

    if (form == ADDR_INTERNAL) {
        const char *cp = memrchr(addr, '@', len);

        return cp ? (size_t) (cp - addr) : len;
    }
    for (i = 0; i < len; i++) {
        if (inq) {
            if (addr[i] == '\\')
                i++;
            else if (addr[i] == '"')
                inq = 0;
        } else if (addr[i] == '"') {
            inq = 1;
        } else if (addr[i] == '@') {
            at = i;
        }
    }
    return at;
}

int addr_split(const char *addr, size_t len, int form, struct buf *local,
               struct buf *domain)
{
    size_t at = addr_split_at(addr, len, form);

    if (local != NULL)
        buf_append(local, addr, at);
    if (at == len)
        return 0;
    if (domain != NULL)
        buf_append(domain, addr + at + 1, len - at - 1);
    return 1;
}

void addr_lower_ascii(char *text, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (text[i] >= 'A' && text[i] <= 'Z')
            text[i] = (char) (text[i] - 'A' + 'a');
}

void addr_lower_domain(struct buf *addr)
{
    size_t at = addr_split_at(buf_str(addr), buf_len(addr), ADDR_INTERNAL);

    if (at < buf_len(addr))
        addr_lower_ascii(buf_str(addr) + at + 1, buf_len(addr) - at - 1);
}

static int equal_nocase(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* Local parts that are never split, as in Postfix. */
static int no_split(const char *local, size_t n, const char *delims)
{
    static const char suffix[] = "-request";
    size_t slen = sizeof(suffix) - 1;

    if (equal_nocase(local, n, "postmaster")
        || equal_nocase(local, n, "mailer-daemon")
        || equal_nocase(local, n, "double-bounce"))
        return 1;
    if (strchr(delims, '-') != NULL) {
        if (n >= 6 && strncasecmp(local, "owner-", 6) == 0)
            return 1;
        if (n > slen && strncasecmp(local + n - slen, suffix, slen) == 0)
            return 1;
    }
    return 0;
}

int addr_split_ext(const char *addr, size_t len, const char *delims,
                   struct buf *user, struct buf *ext, struct buf *domain,
                   int *delim)
{
    size_t at = addr_split_at(addr, len, ADDR_INTERNAL);
    size_t i = at;

    if (delim != NULL)
        *delim = 0;
    if (delims != NULL && *delims && !no_split(addr, at, delims)) {
        /* From 1: a local part that starts with a delimiter is not split. */
        for (i = 1; i < at; i++)
            if (addr[i] != 0 && strchr(delims, addr[i]) != NULL)
                break;
    }
    if (i >= at)
        i = at;
    if (user != NULL)
        buf_append(user, addr, i);
    if (ext != NULL && i < at)
        buf_append(ext, addr + i + 1, at - i - 1);
    if (domain != NULL && at < len)
        buf_append(domain, addr + at + 1, len - at - 1);
    if (i == at)
        return 0;
    if (delim != NULL)
        *delim = (unsigned char) addr[i];
    return 1;
}
