/*
 * cleanup_message.c - one message through cleanup: the records a client
 * sends become a queue file.
 *
 * Envelope records are rewritten and written as they arrive; content
 * lines go out as they arrive too, except the header being read: it is
 * held (at most header_size_limit bytes) until the next line shows that
 * it is complete, then checked (header_checks), rewritten and written.
 * At the end of the headers the missing ones are added. Nothing else of
 * the message is held in memory; sendmail -t recipients are kept until
 * the content ends, because they go after the XTRACTED record.
 *
 * Called by cleanup.c, one record at a time. Problems set CLEANUP_STAT_*
 * bits and stop the writing; the caller keeps reading to the END record
 * and then calls cleanup_end for the answer.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "addr.h"
#include "cidr.h"
#include "argv.h"
#include "buf.h"
#include "cleanup.h"
#include "cleanup_client.h"
#include "htable.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"
#include "resolve.h"
#include "rfc822.h"
#include "str.h"

enum cleanup_section {
    SEC_ENVELOPE,
    SEC_HEADERS,
    SEC_BODY,
    SEC_EXTRACTED,
};

/* Errors that CLEANUP_FLAG_BOUNCE turns into a bounce of a kept file. */
#define CLEANUP_STAT_BOUNCEABLE                                                \
    (CLEANUP_STAT_CONT | CLEANUP_STAT_SIZE | CLEANUP_STAT_HOPS                 \
     | CLEANUP_STAT_RCPT)

struct cleanup_state {
    struct cleanup_cfg *cfg;
    struct qf_writer *qf;
    char *queue_id;
    int flags;  /* CLEANUP_FLAG_* */
    int errs;   /* CLEANUP_STAT_* */
    int logged; /* a write error was logged */
    struct buf *reason;
    struct buf *fail_reason; /* for CLEANUP_FLAG_BOUNCE */
    enum cleanup_section section;
    int committed;
    int discard;
    int hold;
    int got_time;
    int got_sender;
    long long arrival_us;
    int rec_flags; /* REC_FLAG_* the client sent */
    struct buf *sender;
    struct buf *first_rcpt;
    long rcpt_count;
    struct htable *dups; /* final recipients, lower case */
    long ndups;
    /* attributes that matter to cleanup itself */
    struct buf *full_name;
    struct buf *client_name;
    struct buf *client_addr;
    struct buf *helo;
    struct buf *protocol;
    struct buf *sasl_user;
    struct buf *rewrite_ctx;
    int local; /* header rewriting context: 1 local, 0 remote */
    /* content */
    struct buf *hdr; /* the header being read, lines joined by \n */
    int hdr_truncated;
    int line_open;        /* a PIECE started a line that goes on */
    int line_is_body;     /* ... and that line is body text */
    int qf_partial;       /* the file's last content record was a PIECE */
    long long body_bytes; /* for body_checks_size_limit */
    long long content_bytes;
    int hops;
    unsigned long seen; /* 1 << rfc822_hdr_id of headers seen */
    int resent;
    int msgid_logged;
    struct argv *xtract;
    struct argv *xtract_resent;
    struct buf *tmp;
    struct buf *safe;  /* the sender made printable, for log lines */
    struct buf *fixed; /* a content record without stray CR and LF */
};

#define SEEN(st, id) (((st)->seen >> (id)) & 1UL)

struct cleanup_state *cleanup_state_new(struct cleanup_cfg *cfg,
                                        struct qf_writer *qf,
                                        const char *queue_id, int flags)
{
    struct cleanup_state *st = mem_calloc(1, sizeof(*st));

    st->cfg = cfg;
    st->qf = qf;
    st->queue_id = mem_strdup(queue_id);
    st->flags = flags;
    st->reason = buf_new(64);
    st->fail_reason = buf_new(64);
    st->section = SEC_ENVELOPE;
    st->sender = buf_new(64);
    st->first_rcpt = buf_new(64);
    st->dups = htable_new(16);
    st->full_name = buf_new(0);
    st->client_name = buf_new(0);
    st->client_addr = buf_new(0);
    st->helo = buf_new(0);
    st->protocol = buf_new(0);
    st->sasl_user = buf_new(0);
    st->rewrite_ctx = buf_new(0);
    st->local = 1;
    st->hdr = buf_new(256);
    st->xtract = argv_new(4);
    st->xtract_resent = argv_new(4);
    st->tmp = buf_new(256);
    st->safe = buf_new(64);
    st->fixed = buf_new(256);
    if (qf == NULL) /* qf_create failed just before: its reason stands */
        st->errs |=
            CLEANUP_STAT_WRITE
            | (qf_reason() == QF_ERR_NOSPACE ? CLEANUP_STAT_NOSPACE : 0);
    return st;
}

void cleanup_state_free(struct cleanup_state *st)
{
    if (st == NULL)
        return;
    if (st->qf)
        qf_writer_free(st->qf);
    mem_free(st->queue_id);
    buf_free(st->reason);
    buf_free(st->fail_reason);
    buf_free(st->sender);
    buf_free(st->first_rcpt);
    htable_free(st->dups, NULL);
    buf_free(st->full_name);
    buf_free(st->client_name);
    buf_free(st->client_addr);
    buf_free(st->helo);
    buf_free(st->protocol);
    buf_free(st->sasl_user);
    buf_free(st->rewrite_ctx);
    buf_free(st->hdr);
    argv_free(st->xtract);
    argv_free(st->xtract_resent);
    buf_free(st->tmp);
    buf_free(st->safe);
    buf_free(st->fixed);
    mem_free(st);
}

int cleanup_committed(const struct cleanup_state *st)
{
    return st->committed;
}

/* The sender for a log line. */
static const char *cleanup_safe_sender(struct cleanup_state *st)
{
    buf_reset(st->safe);
    str_printable(st->safe, buf_str(st->sender), buf_len(st->sender));
    return buf_str(st->safe);
}

/* ---- errors and output ---------------------------------------------------
 */

/* Set an error bit; the first reason given wins. */
static void cleanup_fail(struct cleanup_state *st, int bits, const char *why)
{
    if (why && *why && buf_len(st->reason) == 0)
        buf_set(st->reason, why);
    st->errs |= bits;
}

/* May records still go into the file? */
static int cleanup_out_ok(const struct cleanup_state *st)
{
    int bounceable =
        (st->flags & CLEANUP_FLAG_BOUNCE) ? CLEANUP_STAT_BOUNCEABLE : 0;

    return st->qf != NULL && !st->discard && (st->errs & ~bounceable) == 0;
}

/* Check the result of a queue file write. */
static void cleanup_wrote(struct cleanup_state *st, int ret)
{
    if (ret >= 0)
        return;
    cleanup_fail(
        st,
        CLEANUP_STAT_WRITE
            | (qf_reason() == QF_ERR_NOSPACE ? CLEANUP_STAT_NOSPACE : 0),
        NULL);
    if (!st->logged) {
        msg_warn("%s: write queue file: %s", st->queue_id, qf_error());
        st->logged = 1;
    }
}

/* Content text goes out unless the message is over the size limit. */
static void cleanup_text(struct cleanup_state *st, const char *data, size_t len,
                         int partial)
{
    if (!cleanup_out_ok(st))
        return;
    if (st->errs & CLEANUP_STAT_SIZE) {
        /* Content is no longer kept; end a line the file has begun. */
        if (st->qf_partial)
            cleanup_wrote(st, qf_put_text(st->qf, "", 0, 0));
        st->qf_partial = 0;
        return;
    }
    cleanup_wrote(st, qf_put_text(st->qf, data, len, partial));
    st->qf_partial = partial;
}

/* Write a header held as lines joined by \n. */
static void cleanup_put_header(struct cleanup_state *st, const char *hdr,
                               size_t len)
{
    const char *nl;

    while ((nl = memchr(hdr, '\n', len)) != NULL) {
        cleanup_text(st, hdr, (size_t) (nl - hdr), 0);
        len -= (size_t) (nl - hdr) + 1;
        hdr = nl + 1;
    }
    cleanup_text(st, hdr, len, 0);
}

static void cleanup_count(struct cleanup_state *st, size_t len, int line_end)
{
    st->content_bytes += (long long) len + (line_end ? 1 : 0);
    if (var_message_size_limit > 0
        && st->content_bytes > (long long) var_message_size_limit
        && !(st->errs & CLEANUP_STAT_SIZE)) {
        cleanup_fail(st, CLEANUP_STAT_SIZE, NULL);
        if (buf_len(st->fail_reason) == 0)
            buf_set(st->fail_reason, "5.3.4 message file too big");
        msg_info("%s: reject: message size exceeds message_size_limit "
                 "(%ld bytes)",
                 st->queue_id, var_message_size_limit);
    }
}

/* ---- addresses ------------------------------------------------------------
 */

/* Envelope sender or recipient: local context, then the maps. */
static int cleanup_env_addr(struct cleanup_state *st, int cls, struct buf *addr)
{
    struct buf *err = buf_new(64);
    int ret = 0;

    cleanup_rewrite_local(addr, NULL);
    if (!(st->flags & CLEANUP_FLAG_NO_MAPS)
        && cleanup_map_class(st->cfg, cls, addr, err) < 0) {
        cleanup_fail(st, CLEANUP_STAT_BAD, buf_str(err));
        ret = -1;
    }
    buf_free(err);
    return ret;
}

/* Write one final recipient unless it is a duplicate. */
static void cleanup_put_rcpt(struct cleanup_state *st, int notify,
                             const char *addr, const char *orig,
                             const char *orcpt)
{
    struct buf *key = buf_new(strlen(addr) + 1);

    /* Postfix compares the whole address without regard to case. */
    buf_puts(key, addr);
    addr_lower_ascii(key->data, key->len);
    if (htable_get(st->dups, buf_str(key)) != NULL) {
        buf_free(key);
        return;
    }
    if (st->ndups < var_duplicate_filter_limit) {
        htable_put(st->dups, buf_str(key), st);
        st->ndups++;
    }
    buf_free(key);
    if (st->rcpt_count++ == 0)
        buf_set(st->first_rcpt, addr);
    if (cleanup_out_ok(st))
        cleanup_wrote(st,
                      qf_put_rcpt(st->qf, notify, addr,
                                  var_enable_original_recipient ? orig : NULL,
                                  orcpt));
}

/* One recipient as the client gave it (or from a header): rewrite and
 * expand it, then write the results. */
static void cleanup_recipient(struct cleanup_state *st, int notify,
                              const char *addr, const char *orig,
                              const char *orcpt)
{
    struct buf *a = buf_new(64);
    struct argv *out;
    struct buf *err;
    size_t i;

    buf_set(a, addr);
    if (cleanup_env_addr(st, CLEANUP_CLASS_ENV_RCPT, a) < 0) {
        buf_free(a);
        return;
    }
    if (orig == NULL || *orig == 0)
        orig = addr;
    if (st->flags & CLEANUP_FLAG_NO_MAPS) {
        cleanup_put_rcpt(st, notify, buf_str(a), orig, orcpt);
        buf_free(a);
        return;
    }
    out = argv_new(4);
    err = buf_new(64);
    switch (cleanup_virtual(st->cfg, buf_str(a), out, err)) {
    case 0:
        for (i = 0; i < out->argc; i++)
            cleanup_put_rcpt(st, notify, out->argv[i], orig, orcpt);
        break;
    case -1:
        cleanup_fail(st, CLEANUP_STAT_BAD, buf_str(err));
        break;
    default:
        cleanup_fail(st, CLEANUP_STAT_DEFER, buf_str(err));
        break;
    }
    argv_free(out);
    buf_free(err);
    buf_free(a);
}

/* ---- the header rewriting context -------------------------------------- */

static int cleanup_client_local(struct cleanup_state *st)
{
    struct argv *words;
    struct cidr_addr ca;
    int local = 0;
    size_t i;

    if (buf_len(st->rewrite_ctx) > 0)
        return strcasecmp(buf_str(st->rewrite_ctx), "local") == 0;
    if (buf_len(st->client_addr) == 0)
        return 1; /* sendmail, pickup, bounce: submitted on this machine */
    if (cidr_addr_parse(buf_str(st->client_addr), buf_len(st->client_addr), &ca)
        < 0)
        return 0;
    cidr_addr_unmap(&ca);
    words = argv_split(var_local_header_rewrite_clients, STR_LIST_SEP);
    for (i = 0; i < words->argc && !local; i++) {
        const char *w = words->argv[i];

        if (strcasecmp(w, "permit_inet_interfaces") == 0) {
            enum resolve_class cls;

            if ((ca.family == CIDR_INET4 && ca.bytes[0] == 127)
                || (ca.family == CIDR_INET6
                    && memcmp(ca.bytes, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16)
                           == 0)) {
                local = 1;
            } else if (st->cfg->resolver) {
                buf_reset(st->tmp);
                buf_printf(st->tmp, "[%s%s]",
                           ca.family == CIDR_INET6 ? "ipv6:" : "",
                           buf_str(st->client_addr));
                if (resolve_domain_class(st->cfg->resolver, buf_str(st->tmp),
                                         &cls)
                        == LOOKUP_FOUND
                    && cls == RESOLVE_CLASS_LOCAL)
                    local = 1;
            }
        } else if (strcasecmp(w, "permit_mynetworks") == 0) {
            struct argv *nets = argv_split(var_mynetworks, STR_LIST_SEP);
            struct cidr_net net;
            const char *why;
            size_t j;

            for (j = 0; j < nets->argc && !local; j++)
                if (cidr_net_parse(nets->argv[j], strlen(nets->argv[j]), &net,
                                   &why)
                        == 0
                    && cidr_net_match(&net, &ca))
                    local = 1;
            argv_free(nets);
        } else if (strcasecmp(w, "permit_sasl_authenticated") == 0) {
            local = buf_len(st->sasl_user) > 0;
        } else if (strcasecmp(w, "static:all") == 0) {
            local = 1;
        }
    }
    argv_free(words);
    return local;
}

/* ---- envelope ------------------------------------------------------------ */

static long long cleanup_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long) tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* TIME and WARN go first, whether the client sent TIME or not. */
static void cleanup_time(struct cleanup_state *st, long long when)
{
    long long warn = 0;

    st->got_time = 1;
    st->arrival_us = when;
    if (var_delay_warning_time > 0)
        warn = when / 1000000LL + var_delay_warning_time;
    if (cleanup_out_ok(st)) {
        cleanup_wrote(st, qf_put_int(st->qf, REC_TIME, when));
        cleanup_wrote(st, qf_put_int(st->qf, REC_WARN, warn));
    }
}

static void cleanup_attr(struct cleanup_state *st, const char *data, size_t len)
{
    const char *name;
    const char *value;
    size_t nlen;
    size_t vlen;
    struct buf *keep = NULL;

    if (rec_attr_parse(data, len, &name, &nlen, &value, &vlen) < 0)
        return;
#define IS(n) (nlen == strlen(n) && memcmp(name, n, nlen) == 0)
    /* Cleanup's own inputs; not kept in the file. */
    if (IS("full_name")) {
        buf_reset(st->full_name);
        buf_append(st->full_name, value, vlen);
        return;
    }
    if (IS("rewrite_context")) {
        buf_reset(st->rewrite_ctx);
        buf_append(st->rewrite_ctx, value, vlen);
        return;
    }
    if (IS("client_address"))
        keep = st->client_addr;
    else if (IS("client_name"))
        keep = st->client_name;
    else if (IS("helo_name"))
        keep = st->helo;
    else if (IS("protocol_name"))
        keep = st->protocol;
    else if (IS("sasl_username"))
        keep = st->sasl_user;
#undef IS
    if (keep) {
        buf_reset(keep);
        buf_append(keep, value, vlen);
    }
    if (cleanup_out_ok(st))
        cleanup_wrote(st, qf_put(st->qf, REC_ATTR, data, len));
}

static void cleanup_flags(struct cleanup_state *st, const char *data,
                          size_t len)
{
    long long value;

    if (rec_int_parse(data, len, &value) < 0)
        return;
    st->rec_flags |= (int) value;
    value &= ~(long long) REC_FLAG_EXTRACT;
    if (value != 0 && cleanup_out_ok(st))
        cleanup_wrote(st, qf_put_int(st->qf, REC_FLAGS, value));
}

static int cleanup_rcpt_record(struct cleanup_state *st, const char *data,
                               size_t len)
{
    struct rec_rcpt r;

    rec_rcpt_init(&r);
    if (rec_rcpt_parse(data, len, &r) < 0) {
        rec_rcpt_free(&r);
        return -1;
    }
    cleanup_recipient(st, r.notify, buf_str(r.addr), buf_str(r.orig),
                      buf_str(r.orcpt));
    rec_rcpt_free(&r);
    return 0;
}

static int cleanup_envelope(struct cleanup_state *st, int type,
                            const char *data, size_t len)
{
    long long value;

    if (!st->got_time) {
        if (type == REC_TIME) {
            if (rec_int_parse(data, len, &value) < 0)
                return -1;
            cleanup_time(st, value);
            return 0;
        }
        cleanup_time(st, cleanup_now_us());
    }
    switch (type) {
    case REC_TIME:
        return -1; /* only once, and first */
    case REC_WARN:
        return 0; /* computed here from delay_warning_time */
    case REC_SENDER:
        if (st->got_sender)
            return -1;
        st->got_sender = 1;
        buf_reset(st->sender);
        buf_append(st->sender, data, len);
        cleanup_env_addr(st, CLEANUP_CLASS_ENV_FROM, st->sender);
        if (cleanup_out_ok(st))
            cleanup_wrote(st, qf_puts(st->qf, REC_SENDER, buf_str(st->sender)));
        return 0;
    case REC_RCPT:
        return cleanup_rcpt_record(st, data, len);
    case REC_ATTR:
        cleanup_attr(st, data, len);
        return 0;
    case REC_FLAGS:
        cleanup_flags(st, data, len);
        return 0;
    case REC_DSN_RET:
    case REC_DSN_ENVID:
        if (cleanup_out_ok(st))
            cleanup_wrote(st, qf_put(st->qf, type, data, len));
        return 0;
    case REC_MESSAGE:
        if (!st->got_sender)
            return -1;
        if (st->flags & CLEANUP_FLAG_NOTICE) {
            if (cleanup_out_ok(st))
                cleanup_wrote(st,
                              qf_put_int(st->qf, REC_FLAGS, REC_FLAG_BOUNCE));
        }
        st->local = cleanup_client_local(st);
        if (cleanup_out_ok(st))
            cleanup_wrote(st, qf_begin_content(st->qf));
        st->section = SEC_HEADERS;
        return 0;
    default:
        return -1;
    }
}

/* ---- headers ------------------------------------------------------------ */

/* "ACTION: WHAT TEXT from client[addr]; from=<s> to=<r> proto=P helo=<h>" */
static void cleanup_act_log(struct cleanup_state *st, const char *action,
                            const char *what, const char *hdr, const char *text)
{
    struct buf *line = buf_new(256);
    size_t hlen = strlen(hdr);

    buf_printf(line, "%s: %s: %s ", st->queue_id, action, what);
    str_printable(line, hdr, hlen > 200 ? 200 : hlen);
    if (buf_len(st->client_addr) > 0) {
        buf_puts(line, " from ");
        str_printable(line, buf_str(st->client_name), buf_len(st->client_name));
        if (buf_len(st->client_name) == 0)
            buf_puts(line, "unknown");
        buf_putc(line, '[');
        str_printable(line, buf_str(st->client_addr), buf_len(st->client_addr));
        buf_putc(line, ']');
    }
    buf_puts(line, "; from=<");
    str_printable(line, buf_str(st->sender), buf_len(st->sender));
    buf_puts(line, "> to=<");
    str_printable(line, buf_str(st->first_rcpt), buf_len(st->first_rcpt));
    buf_putc(line, '>');
    if (buf_len(st->helo) > 0) {
        buf_printf(line, " proto=%s helo=<",
                   buf_len(st->protocol) ? buf_str(st->protocol) : "SMTP");
        str_printable(line, buf_str(st->helo), buf_len(st->helo));
        buf_putc(line, '>');
    }
    if (text && *text) {
        buf_puts(line, ": ");
        str_printable(line, text, strlen(text));
    }
    msg_info("%s", buf_str(line));
    buf_free(line);
}

/* What header_checks and body_checks results do to the text. */
enum cleanup_hdr_act {
    HDR_KEEP,
    HDR_DROP,
};

/*
 * Apply the WHAT_checks (WHAT: "header" or "body") result VALUE for KEY
 * (a header unfolded, or a body line). PREPEND writes its text here
 * (before the current one); REPLACE puts its text into REPLACE, which
 * the caller writes instead of the current one.
 */
static enum cleanup_hdr_act cleanup_act(struct cleanup_state *st,
                                        const char *what, const char *key,
                                        const char *value, struct buf *replace)
{
    int header = (strcmp(what, "header") == 0);

    size_t alen = strcspn(value, " \t");
    const char *text = value + alen;

    text += strspn(text, " \t");
#define ACT(n) (alen == strlen(n) && strncasecmp(value, n, alen) == 0)
    if (ACT("REJECT")) {
        struct buf *why = buf_new(64);

        if (*text == 0)
            buf_set(why, "5.7.1 message content rejected");
        else if (text[0] >= '4' && text[0] <= '5' && text[1] == '.')
            buf_set(why, text);
        else
            buf_printf(why, "5.7.1 %s", text);
        cleanup_act_log(st, "reject", what, key, buf_str(why));
        if (!(st->errs & CLEANUP_STAT_CONT)) {
            cleanup_fail(st, CLEANUP_STAT_CONT, buf_str(why));
            if (buf_len(st->fail_reason) == 0)
                buf_set(st->fail_reason, buf_str(why));
        }
        buf_free(why);
        return HDR_KEEP;
    }
    if (ACT("WARN")) {
        cleanup_act_log(st, "warning", what, key, text);
        return HDR_KEEP;
    }
    if (ACT("INFO")) {
        cleanup_act_log(st, "info", what, key, text);
        return HDR_KEEP;
    }
    if (ACT("DISCARD")) {
        cleanup_act_log(st, "discard", what, key, text);
        st->discard = 1;
        return HDR_KEEP;
    }
    if (ACT("HOLD")) {
        cleanup_act_log(st, "hold", what, key, text);
        st->hold = 1;
        return HDR_KEEP;
    }
    if (ACT("IGNORE"))
        return HDR_DROP;
    if (ACT("STRIP")) {
        cleanup_act_log(st, "strip", what, key, text);
        return HDR_DROP;
    }
    if (ACT("PREPEND") || ACT("REPLACE")) {
        if (header && rfc822_header_name(text, strlen(text)) == 0) {
            msg_warn("%s: header_checks: %.*s action needs a header "
                     "(name: value), not \"%s\": ignored",
                     st->queue_id, (int) alen, value, text);
            return HDR_KEEP;
        }
        if (ACT("PREPEND")) {
            if (header)
                cleanup_put_header(st, text, strlen(text));
            else
                cleanup_text(st, text, strlen(text), 0);
        } else {
            buf_set(replace, text);
        }
        return HDR_KEEP;
    }
    if (ACT("DUNNO") || ACT("OK") || ACT("PASS"))
        return HDR_KEEP;
    if (ACT("FILTER") || ACT("REDIRECT") || ACT("BCC") || ACT("DEFER")
        || ACT("DEFER_IF_PERMIT") || ACT("DEFER_IF_REJECT")) {
        msg_warn("%s: %s_checks: unsupported action \"%.*s\": ignored",
                 st->queue_id, what, (int) alen, value);
        return HDR_KEEP;
    }
#undef ACT
    msg_warn("%s: %s_checks: unknown action \"%.*s\": ignored", st->queue_id,
             what, (int) alen, value);
    return HDR_KEEP;
}

struct cleanup_hdr_rw {
    struct cleanup_state *st;
    int cls;
    struct buf *err;
};

static int cleanup_hdr_addr(struct buf *addr, void *ctx)
{
    struct cleanup_hdr_rw *rw = ctx;
    struct cleanup_state *st = rw->st;
    struct buf *orig = buf_new(buf_len(addr) + 1);
    int changed;

    buf_set(orig, buf_str(addr));
    if (st->local)
        cleanup_rewrite_local(addr, NULL);
    else if (*var_remote_header_rewrite_domain)
        cleanup_rewrite_local(addr, var_remote_header_rewrite_domain);
    if (!(st->flags & CLEANUP_FLAG_NO_MAPS)
        && cleanup_map_class(st->cfg, rw->cls, addr, rw->err) < 0) {
        buf_free(orig);
        return -1;
    }
    changed = strcmp(buf_str(orig), buf_str(addr)) != 0;
    buf_free(orig);
    return changed;
}

/* Collect sendmail -t recipients from the header HDR (of INFO). */
static void cleanup_extract(struct cleanup_state *st,
                            const struct rfc822_hdr_info *info)
{
    struct rfc822_addrs list;
    size_t v = rfc822_header_value(buf_str(st->hdr), buf_len(st->hdr));
    size_t i;
    struct argv *to =
        (info->flags & RFC822_HDR_RESENT) ? st->xtract_resent : st->xtract;

    rfc822_addrs_init(&list);
    rfc822_parse_addrs(&list, buf_str(st->hdr) + v, buf_len(st->hdr) - v,
                       (size_t) var_header_address_token_limit);
    for (i = 0; i < list.n; i++) {
        const struct buf *a = list.v[i].addr;

        if (buf_len(a) > 0 && memchr(buf_str(a), 0, buf_len(a)) == NULL)
            argv_add(to, buf_str(a));
    }
    rfc822_addrs_free(&list);
}

static int cleanup_drop_listed(struct cleanup_state *st, const char *name,
                               size_t len)
{
    size_t i;

    for (i = 0; i < st->cfg->drop_headers->argc; i++) {
        const char *d = st->cfg->drop_headers->argv[i];

        if (strlen(d) == len && strncasecmp(d, name, len) == 0)
            return 1;
    }
    return 0;
}

/* The header in st->hdr is complete: check, rewrite and write it. */
static void cleanup_header_done(struct cleanup_state *st)
{
    const struct rfc822_hdr_info *info;
    size_t name_len;
    struct buf *key;

    if (buf_len(st->hdr) == 0)
        return;
    name_len = rfc822_header_name(buf_str(st->hdr), buf_len(st->hdr));
    info = rfc822_header_info(buf_str(st->hdr), name_len);
    if (info && info->id == RFC822_HDR_RECEIVED
        && ++st->hops > var_hopcount_limit && !(st->errs & CLEANUP_STAT_HOPS)) {
        msg_info("%s: reject: too many Received: headers (%d); from=<%s>",
                 st->queue_id, st->hops, cleanup_safe_sender(st));
        cleanup_fail(st, CLEANUP_STAT_HOPS, NULL);
        if (buf_len(st->fail_reason) == 0)
            buf_set(st->fail_reason, "5.4.6 too many hops");
    }
    if (st->cfg->hdr_checks && !(st->flags & CLEANUP_FLAG_NO_HDR_CHECKS)) {
        struct buf *value = buf_new(64);

        key = buf_new(buf_len(st->hdr) + 1);
        rfc822_unfold(key, buf_str(st->hdr), buf_len(st->hdr));
        switch (maps_find(st->cfg->hdr_checks, buf_str(key), 0, value)) {
        case LOOKUP_FOUND:
            if (cleanup_act(st, "header", buf_str(key), buf_str(value), st->hdr)
                == HDR_DROP) {
                buf_free(value);
                buf_free(key);
                buf_reset(st->hdr);
                return;
            }
            break;
        case LOOKUP_NOTFOUND:
            break;
        default:
            msg_warn("%s: %s", st->queue_id, maps_error(st->cfg->hdr_checks));
            cleanup_fail(st, CLEANUP_STAT_BAD,
                         "4.3.0 header_checks lookup "
                         "error");
            break;
        }
        buf_free(value);
        buf_free(key);
        /* REPLACE may have changed the header. */
        name_len = rfc822_header_name(buf_str(st->hdr), buf_len(st->hdr));
        info = rfc822_header_info(buf_str(st->hdr), name_len);
    }
    if (info) {
        if (info->flags & RFC822_HDR_RESENT)
            st->resent = 1;
        if ((info->flags & RFC822_HDR_EXTRACT)
            && (st->rec_flags & REC_FLAG_EXTRACT))
            cleanup_extract(st, info);
        if ((info->id == RFC822_HDR_MESSAGE_ID
             || info->id == RFC822_HDR_RESENT_MESSAGE_ID)
            && !SEEN(st, info->id)) {
            buf_reset(st->tmp);
            rfc822_header_text(st->tmp, buf_str(st->hdr), buf_len(st->hdr));
            key = buf_new(buf_len(st->tmp) + 1);
            str_printable(key, buf_str(st->tmp), buf_len(st->tmp));
            msg_info("%s: %s=%s", st->queue_id,
                     info->id == RFC822_HDR_MESSAGE_ID ? "message-id"
                                                       : "resent-message-id",
                     buf_str(key));
            buf_free(key);
            if (info->id == RFC822_HDR_MESSAGE_ID)
                st->msgid_logged = 1;
        }
        st->seen |= 1UL << info->id;
    }
    if (cleanup_drop_listed(st, buf_str(st->hdr), name_len)) {
        buf_reset(st->hdr);
        return;
    }
    /*
     * Header addresses are rewritten (context, canonical maps,
     * masquerading) only for local clients, or for remote ones when
     * remote_header_rewrite_domain is set, as canonical(5) says.
     */
    if (info && (info->flags & (RFC822_HDR_SENDER | RFC822_HDR_RECIPIENT))
        && (st->local || *var_remote_header_rewrite_domain)
        && memchr(buf_str(st->hdr), 0, buf_len(st->hdr)) == NULL) {
        struct cleanup_hdr_rw rw;
        size_t v = rfc822_header_value(buf_str(st->hdr), buf_len(st->hdr));
        struct buf *out = buf_new(buf_len(st->hdr) + 64);
        int n;

        rw.st = st;
        rw.cls = (info->flags & RFC822_HDR_SENDER) ? CLEANUP_CLASS_HDR_FROM
                                                   : CLEANUP_CLASS_HDR_RCPT;
        rw.err = buf_new(64);
        n = rfc822_rewrite_addrs(
            out, buf_str(st->hdr) + v, buf_len(st->hdr) - v,
            (size_t) var_header_address_token_limit, cleanup_hdr_addr, &rw);
        if (n < 0) {
            cleanup_fail(st, CLEANUP_STAT_BAD, buf_str(rw.err));
        } else if (n > 0) {
            buf_truncate(st->hdr, v);
            buf_append(st->hdr, buf_str(out), buf_len(out));
        }
        buf_free(rw.err);
        buf_free(out);
    }
    cleanup_put_header(st, buf_str(st->hdr), buf_len(st->hdr));
    buf_reset(st->hdr);
}

/* RFC 5322 date of the arrival time, local time zone, as Postfix writes
 * it ("Thu,  3 Dec 2026 20:05:53 +0000 (UTC)"). */
static void cleanup_date(struct buf *out, long long when_us)
{
    time_t t = (time_t) (when_us / 1000000LL);
    struct tm tm;
    char text[128];
    long off;

    localtime_r(&t, &tm);
    off = tm.tm_gmtoff / 60;
    strftime(text, sizeof(text), "%a, %e %b %Y %H:%M:%S ", &tm);
    buf_puts(out, text);
    buf_printf(out, "%c%02ld%02ld", off < 0 ? '-' : '+',
               (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
    if (strftime(text, sizeof(text), " (%Z)", &tm) > 3)
        buf_puts(out, text);
}

/* The headers ended: add what is missing. */
static void cleanup_headers_end(struct cleanup_state *st)
{
    const char *pfx = st->resent ? "Resent-" : "";
    struct buf *h = buf_new(256);
    int add = st->local || var_always_add_missing_headers;
    size_t i;

    cleanup_header_done(st);
    if (add
        && !SEEN(st, st->resent ? RFC822_HDR_RESENT_MESSAGE_ID
                                : RFC822_HDR_MESSAGE_ID)) {
        time_t t = (time_t) (st->arrival_us / 1000000LL);
        struct tm tm;
        char stamp[32];

        localtime_r(&t, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
        buf_printf(h, "%sMessage-Id: <%s.%s@%s>", pfx, stamp, st->queue_id,
                   var_myhostname);
        cleanup_put_header(st, buf_str(h), buf_len(h));
        msg_info("%s: %smessage-id=<%s.%s@%s>", st->queue_id,
                 st->resent ? "resent-" : "", stamp, st->queue_id,
                 var_myhostname);
        if (!st->resent)
            st->msgid_logged = 1;
    }
    if (!st->msgid_logged)
        msg_info("%s: message-id=<>", st->queue_id);
    if (add
        && !SEEN(st, st->resent ? RFC822_HDR_RESENT_DATE : RFC822_HDR_DATE)) {
        buf_reset(h);
        buf_printf(h, "%sDate: ", pfx);
        cleanup_date(h, st->arrival_us);
        cleanup_put_header(st, buf_str(h), buf_len(h));
    }
    if (add
        && !SEEN(st, st->resent ? RFC822_HDR_RESENT_FROM : RFC822_HDR_FROM)) {
        buf_reset(h);
        buf_printf(h, "%sFrom: ", pfx);
        if (buf_len(st->sender) == 0)
            buf_puts(h, "MAILER-DAEMON");
        else
            rfc822_format_mailbox(
                h,
                memchr(buf_str(st->full_name), 0, buf_len(st->full_name))
                    ? ""
                    : buf_str(st->full_name),
                buf_str(st->sender));
        /* A line break in the sender must not start a header of its own. */
        for (i = 0; i < buf_len(h); i++)
            if (h->data[i] == '\r' || h->data[i] == '\n')
                h->data[i] = ' ';
        cleanup_put_header(st, buf_str(h), buf_len(h));
    }
    if (add && !SEEN(st, RFC822_HDR_TO) && !SEEN(st, RFC822_HDR_CC)
        && !SEEN(st, RFC822_HDR_RESENT_TO) && !SEEN(st, RFC822_HDR_RESENT_CC)
        && *var_undisclosed_recipients_header) {
        const char *u = var_undisclosed_recipients_header;

        if (rfc822_header_name(u, strlen(u)) == 0)
            msg_warn("undisclosed_recipients_header: \"%s\" is not a "
                     "header: ignored",
                     u);
        else
            cleanup_put_header(st, u, strlen(u));
    }
    buf_free(h);
}

/* ---- content ------------------------------------------------------------- */

/* The headers ended: add the missing ones and the empty line. */
static void cleanup_body_start(struct cleanup_state *st)
{
    cleanup_headers_end(st);
    cleanup_text(st, "", 0, 0);
    if (cleanup_out_ok(st))
        qf_mark_body(st->qf);
    st->section = SEC_BODY;
}

/* Add DATA to the held header, within header_size_limit. */
static void cleanup_hdr_add(struct cleanup_state *st, const char *data,
                            size_t len)
{
    size_t room;

    if (st->hdr_truncated)
        return;
    room = (size_t) var_header_size_limit > buf_len(st->hdr)
               ? (size_t) var_header_size_limit - buf_len(st->hdr)
               : 0;
    if (len > room) {
        len = room;
        st->hdr_truncated = 1;
    }
    buf_append(st->hdr, data, len);
}

/*
 * A body line, or the first part of one: body_checks look at whole lines
 * (one LINE record) within the first body_checks_size_limit bytes.
 */
static void cleanup_body(struct cleanup_state *st, const char *data, size_t len,
                         int partial)
{
    struct buf *key;
    struct buf *value;
    struct buf *replace;
    int drop = 0;

    if (st->line_open || partial || st->cfg->body_checks == NULL
        || (st->flags & CLEANUP_FLAG_NO_HDR_CHECKS)
        || (var_body_checks_size_limit > 0
            && st->body_bytes >= var_body_checks_size_limit)
        || memchr(data, 0, len) != NULL) {
        st->body_bytes += (long long) len + !partial;
        cleanup_text(st, data, len, partial);
        return;
    }
    st->body_bytes += (long long) len + 1;
    key = buf_new(len + 1);
    value = buf_new(64);
    replace = buf_new(0);
    buf_append(key, data, len);
    switch (maps_find(st->cfg->body_checks, buf_str(key), 0, value)) {
    case LOOKUP_FOUND:
        drop = cleanup_act(st, "body", buf_str(key), buf_str(value), replace)
               == HDR_DROP;
        break;
    case LOOKUP_NOTFOUND:
        break;
    default:
        msg_warn("%s: %s", st->queue_id, maps_error(st->cfg->body_checks));
        cleanup_fail(st, CLEANUP_STAT_BAD, "4.3.0 body_checks lookup error");
        break;
    }
    if (buf_len(replace) > 0)
        cleanup_text(st, buf_str(replace), buf_len(replace), 0);
    else if (!drop)
        cleanup_text(st, data, len, 0);
    buf_free(key);
    buf_free(value);
    buf_free(replace);
}

static void cleanup_content(struct cleanup_state *st, int type,
                            const char *data, size_t len)
{
    int partial = (type == REC_PIECE);

    cleanup_count(st, len, !partial);
    if (st->section == SEC_HEADERS && !st->line_open) {
        /* The first part of a line says what the line is. */
        if (rfc822_continuation(data, len) && buf_len(st->hdr) > 0) {
            cleanup_hdr_add(st, "\n", 1);
            cleanup_hdr_add(st, data, len);
            st->line_is_body = 0;
        } else if (rfc822_header_name(data, len) > 0) {
            cleanup_header_done(st);
            st->hdr_truncated = 0;
            cleanup_hdr_add(st, data, len);
            st->line_is_body = 0;
        } else if (len == 0 && !partial) {
            cleanup_body_start(st);
            return;
        } else {
            /* Not a header: the body starts without the empty line. */
            cleanup_body_start(st);
            cleanup_body(st, data, len, partial);
            st->line_is_body = 1;
        }
        st->line_open = partial;
        return;
    }
    if (st->section == SEC_HEADERS && !st->line_is_body) {
        cleanup_hdr_add(st, data, len);
        st->line_open = partial;
        return;
    }
    cleanup_body(st, data, len, partial);
    st->line_open = partial;
}

int cleanup_record(struct cleanup_state *st, int type, const char *data,
                   size_t len)
{
    switch (st->section) {
    case SEC_ENVELOPE:
        return cleanup_envelope(st, type, data, len);
    case SEC_HEADERS:
    case SEC_BODY:
        if (type == REC_LINE || type == REC_PIECE) {
            /*
             * cleanup_replace_stray_cr_lf: a CR or LF inside a line would
             * end it early for the reader (and a header held as lines
             * joined by LF would be cut there).
             */
            if (len > 0
                && (memchr(data, '\r', len) != NULL
                    || memchr(data, '\n', len) != NULL)) {
                size_t i;

                buf_reset(st->fixed);
                buf_append(st->fixed, data, len);
                for (i = 0; i < len; i++)
                    if (st->fixed->data[i] == '\n'
                        || (st->fixed->data[i] == '\r'
                            && var_cleanup_replace_stray_cr_lf))
                        st->fixed->data[i] = ' ';
                data = buf_str(st->fixed);
            }
            cleanup_content(st, type, data, len);
            return 0;
        }
        if (type != REC_XTRACTED || st->line_open)
            return -1;
        if (st->section == SEC_HEADERS)
            cleanup_headers_end(st);
        if (cleanup_out_ok(st))
            cleanup_wrote(st, qf_end_content(st->qf));
        st->section = SEC_EXTRACTED;
        return 0;
    case SEC_EXTRACTED:
        switch (type) {
        case REC_RCPT:
            return cleanup_rcpt_record(st, data, len);
        case REC_ATTR:
            cleanup_attr(st, data, len);
            return 0;
        case REC_FLAGS:
            cleanup_flags(st, data, len);
            return 0;
        default:
            return -1;
        }
    }
    return -1;
}

/* ---- the end ------------------------------------------------------------ */

int cleanup_end(struct cleanup_state *st, struct buf *reason)
{
    size_t i;

    buf_reset(reason);
    if (st->section != SEC_EXTRACTED) {
        msg_warn("%s: client sent END before the content ended", st->queue_id);
        cleanup_fail(st, CLEANUP_STAT_BAD, "4.3.0 protocol error");
    }
    if (st->rec_flags & REC_FLAG_EXTRACT) {
        struct argv *from = st->resent && st->xtract_resent->argc > 0
                                ? st->xtract_resent
                                : st->xtract;

        for (i = 0; i < from->argc; i++)
            cleanup_recipient(st, 0, from->argv[i], from->argv[i], NULL);
    }
    if (st->discard && (st->errs & ~CLEANUP_STAT_BOUNCEABLE) == 0) {
        /* Accepted and dropped, as Postfix does: the client hears OK. */
        return 0;
    }
    if (st->rcpt_count == 0 && st->errs == 0) {
        msg_info("%s: reject: no recipients; from=<%s>", st->queue_id,
                 cleanup_safe_sender(st));
        cleanup_fail(st, CLEANUP_STAT_RCPT, NULL);
        buf_set(st->fail_reason, "5.1.3 no recipients specified");
    }
    if ((st->flags & CLEANUP_FLAG_BOUNCE) && st->errs != 0
        && (st->errs & ~CLEANUP_STAT_BOUNCEABLE) == 0 && st->qf != NULL) {
        /* Queue it anyway: the queue manager bounces it to the sender. */
        cleanup_wrote(st, qf_put_attr(st->qf, CLEANUP_ATTR_FAIL_REASON,
                                      buf_str(st->fail_reason)));
        st->errs &= ~CLEANUP_STAT_BOUNCEABLE;
    }
    if (st->errs == 0 && st->hold)
        cleanup_wrote(st, qf_put_int(st->qf, REC_FLAGS, REC_FLAG_HOLD));
    if (st->errs == 0) {
        if (qf_commit(st->qf) < 0) {
            cleanup_wrote(st, -1);
        } else {
            st->committed = 1;
            return 0;
        }
    }
    buf_set(reason, buf_str(st->reason));
    return st->errs;
}
