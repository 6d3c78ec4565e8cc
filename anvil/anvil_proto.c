/*
 * anvil_proto.c - anvil requests and replies over the counting table
 * (see anvil_proto.h and, for the protocol, lib/anvil_client.h).
 *
 * Called by anvil/anvil.c, the unit tests and the fuzz target. Every
 * request is checked strictly (lib/attr.h): the two attributes, no
 * others, no bytes after the list; the ident printable, without white
 * space, at most ANVIL_IDENT_MAX bytes. Errors are returned, never fatal.
 */
#include <string.h>

#include "anvil_client.h"
#include "anvil_proto.h"
#include "anvil_table.h"
#include "attr.h"
#include "buf.h"
#include "htable.h"
#include "mem.h"
#include "str.h"

struct anvil_session {
    struct htable *open; /* ident -> connections registered (int *) */
};

struct anvil_session *anvil_session_new(void)
{
    struct anvil_session *s = mem_calloc(1, sizeof(*s));

    s->open = htable_new(16);
    return s;
}

void anvil_session_end(struct anvil_session *s, struct anvil_table *t,
                       time_t now)
{
    struct htable_entry **list;
    size_t i;

    if (s == NULL)
        return;
    list = htable_list(s->open);
    for (i = 0; list[i] != NULL; i++) {
        int *n = list[i]->value;

        for (; *n > 0; (*n)--)
            (void) anvil_table_disconnect(t, list[i]->key, now);
    }
    mem_free(list);
    htable_free(s->open, mem_free);
    mem_free(s);
}

/* Printable, no white space, 1 to ANVIL_IDENT_MAX bytes. */
static int anvil_ident_ok(const struct buf *ident)
{
    const unsigned char *p = (const unsigned char *) buf_str(ident);
    size_t i;

    if (buf_len(ident) == 0 || buf_len(ident) > ANVIL_IDENT_MAX)
        return 0;
    for (i = 0; i < buf_len(ident); i++)
        if (p[i] <= ' ' || p[i] >= 0x7f)
            return 0;
    return 1;
}

static void anvil_note_open(struct anvil_session *s, const char *ident,
                            int delta)
{
    int *n = htable_get(s->open, ident);

    if (n == NULL) {
        if (delta <= 0)
            return;
        n = mem_calloc(1, sizeof(*n));
        htable_put(s->open, ident, n);
    }
    *n += delta;
    if (*n <= 0)
        mem_free(htable_delete(s->open, ident));
}

int anvil_session_request(struct anvil_session *s, struct anvil_table *t,
                          const char *data, size_t len, time_t now,
                          struct buf *reply, struct buf *why)
{
    static const struct {
        const char *name;
        enum anvil_event ev;
    } events[] = {
        {"message", ANVIL_EV_MAIL},
        {"recipient", ANVIL_EV_RCPT},
        {"newtls", ANVIL_EV_NEWTLS},
        {"auth", ANVIL_EV_AUTH},
    };
    struct buf *request = buf_new(16);
    struct buf *ident = buf_new(64);
    const char *req;
    const char *id;
    int count;
    int rate;
    int ret = 0;
    size_t i;

    buf_set_limit(request, 32);
    buf_set_limit(ident, ANVIL_IDENT_MAX + 1);
    if (attr_parse(data, len, 0, ATTR_GET_STR("request", request),
                   ATTR_GET_STR("ident", ident), ATTR_END)
        < 0) {
        buf_set(why, attr_error());
        ret = -1;
        goto out;
    }
    if (!anvil_ident_ok(ident)) {
        buf_set(why, "bad ident value");
        ret = -1;
        goto out;
    }
    req = buf_str(request);
    id = buf_str(ident);
    if (strcmp(req, "connect") == 0) {
        anvil_table_connect(t, id, now, &count, &rate);
        anvil_note_open(s, id, 1);
        attr_build(reply, 0, ATTR_PUT_INT("status", 0),
                   ATTR_PUT_INT("count", count), ATTR_PUT_INT("rate", rate),
                   ATTR_END);
    } else if (strcmp(req, "disconnect") == 0) {
        /* Only what this connection registered may be released. */
        int ok = htable_get(s->open, id) != NULL
                 && anvil_table_disconnect(t, id, now) == 0;

        if (ok)
            anvil_note_open(s, id, -1);
        attr_build(reply, 0, ATTR_PUT_INT("status", ok ? 0 : 1), ATTR_END);
    } else if (strcmp(req, "newtls_report") == 0) {
        attr_build(
            reply, 0, ATTR_PUT_INT("status", 0),
            ATTR_PUT_INT("rate", anvil_table_peek(t, id, ANVIL_EV_NEWTLS, now)),
            ATTR_END);
    } else if (strcmp(req, "lookup") == 0) {
        struct anvil_counts c;

        anvil_table_lookup(t, id, now, &c);
        attr_build(reply, 0, ATTR_PUT_INT("status", 0),
                   ATTR_PUT_INT("count", c.count),
                   ATTR_PUT_INT("rate", c.rate[ANVIL_EV_CONN]),
                   ATTR_PUT_INT("message", c.rate[ANVIL_EV_MAIL]),
                   ATTR_PUT_INT("recipient", c.rate[ANVIL_EV_RCPT]),
                   ATTR_PUT_INT("newtls", c.rate[ANVIL_EV_NEWTLS]),
                   ATTR_PUT_INT("auth", c.rate[ANVIL_EV_AUTH]), ATTR_END);
    } else {
        for (i = 0; i < sizeof(events) / sizeof(events[0]); i++)
            if (strcmp(req, events[i].name) == 0)
                break;
        if (i == sizeof(events) / sizeof(events[0])) {
            buf_reset(why);
            buf_puts(why, "unknown request \"");
            str_printable(why, req, buf_len(request));
            buf_puts(why, "\"");
            ret = -1;
            goto out;
        }
        rate = anvil_table_event(t, id, events[i].ev, now);
        attr_build(reply, 0, ATTR_PUT_INT("status", 0),
                   ATTR_PUT_INT("rate", rate), ATTR_END);
    }
out:
    buf_free(request);
    buf_free(ident);
    return ret;
}
