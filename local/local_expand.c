/*
 * local_expand.c - $name expansion in forward_path, luser_relay and
 * mailbox_command, with the recipient's attributes as Postfix's local(8)
 * documents them: $user, $home, $shell, $extension, $domain, $local,
 * $recipient, $sender, $recipient_delimiter; other names are main.cf
 * parameters. ${name?text} gives text when name has a value, ${name:text}
 * when it has none.
 *
 * Called by local.c, local_alias.c, local_command.c. Returns -1 with a
 * reason for bad syntax; 1 when a plain $name referred to an attribute
 * without a value (forward_path skips such an entry, as Postfix does).
 */
#include <ctype.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "local.h"
#include "params.h"

/* The attribute NAME (LEN bytes): its value, "" for none, NULL unknown. */
static const char *local_attr(const struct local_state *st, const char *name,
                              size_t len)
{
    static char delim[2];

#define IS(s) (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
    if (IS("user"))
        return st->user ? st->user : "";
    if (IS("home"))
        return st->home ? st->home : "";
    if (IS("shell"))
        return st->shell ? st->shell : "";
    if (IS("extension"))
        return st->extension ? st->extension : "";
    if (IS("domain"))
        return st->domain ? st->domain : "";
    if (IS("local"))
        return st->local ? st->local : "";
    if (IS("recipient"))
        return st->address ? st->address : "";
    if (IS("sender"))
        return st->sender ? st->sender : "";
    if (IS("recipient_delimiter")) {
        if (st->extension == NULL || *st->extension == 0)
            return "";
        delim[0] = var_recipient_delimiter[0];
        delim[1] = 0;
        return delim;
    }
#undef IS
    return NULL;
}

static void local_put_filtered(struct buf *out, const char *value,
                               const char *filter)
{
    for (; *value; value++)
        buf_putc(out, filter == NULL || strchr(filter, *value) ? *value : '_');
}

int local_expand(struct buf *out, const char *template,
                 const struct local_state *st, const char *filter,
                 struct buf *err)
{
    const char *p = template;
    int undef = 0;

    while (*p) {
        const char *name, *value, *text = NULL;
        size_t nlen, tlen = 0;
        char op = 0;
        struct buf *nb;

        if (*p != '$') {
            buf_putc(out, *p++);
            continue;
        }
        p++;
        if (*p == '$') {
            buf_putc(out, *p++);
            continue;
        }
        if (*p == '{' || *p == '(') {
            char close = *p == '{' ? '}' : ')';
            int depth = 1;
            const char *q;

            name = ++p;
            while (*p && (isalnum((unsigned char) *p) || *p == '_'))
                p++;
            nlen = (size_t) (p - name);
            if (*p == '?' || *p == ':') {
                op = *p++;
                text = p;
                for (q = p; *q; q++) {
                    if (*q == '{' || *q == '(')
                        depth++;
                    else if ((*q == '}' || *q == ')') && --depth == 0)
                        break;
                }
                if (*q != close) {
                    buf_setf(err, "missing '%c' in \"%s\"", close, template);
                    return -1;
                }
                tlen = (size_t) (q - p);
                p = q + 1;
            } else if (*p == close) {
                p++;
            } else {
                buf_setf(err, "bad $name syntax in \"%s\"", template);
                return -1;
            }
        } else {
            name = p;
            while (*p && (isalnum((unsigned char) *p) || *p == '_'))
                p++;
            nlen = (size_t) (p - name);
        }
        if (nlen == 0) {
            buf_setf(err, "bad $name syntax in \"%s\"", template);
            return -1;
        }
        nb = buf_new(32);
        buf_append(nb, name, nlen);
        if ((value = local_attr(st, name, nlen)) == NULL) {
            value = config_get(buf_str(nb));
            if (value == NULL)
                value = "";
        }
        buf_free(nb);
        if (op == '?' || op == ':') {
            if ((op == '?') == (*value != 0)) {
                struct buf *t = buf_new(tlen + 1);
                int r;

                buf_append(t, text, tlen);
                r = local_expand(out, buf_str(t), st, filter, err);
                buf_free(t);
                if (r < 0)
                    return -1;
                if (r > 0)
                    undef = 1;
            }
        } else {
            if (*value == 0)
                undef = 1;
            local_put_filtered(out, value, filter);
        }
    }
    return undef;
}
