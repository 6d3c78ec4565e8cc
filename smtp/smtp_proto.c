/*
 * smtp_proto.c - the SMTP conversation of one delivery request: greeting,
 * EHLO (HELO fallback), STARTTLS, AUTH, MAIL FROM, RCPT TO, DATA with the
 * message from the queue file, with client-side PIPELINING when the
 * server offers it.
 *
 * Each recipient gets its result through deliver_report (lib/deliver.h)
 * as soon as it is known. A failure of the server as a whole (a refused
 * greeting, 421, a lost connection, a time-out) leaves the recipients
 * without a result and returns SMTP_NEXT with the reason in the state:
 * the caller tries the next server and defers with that reason when none
 * is left. Reason texts and the "(in reply to X command)" wording are
 * Postfix's, so log readers work unchanged.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "argv.h"
#include "buf.h"
#include "deliver.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"
#include "rfc822.h"
#include "smtp.h"
#include "str.h"
#include "stream.h"

/* ---- small helpers ------------------------------------------------------ */

void smtp_xtext(struct buf *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        if (*p < 33 || *p > 126 || *p == '+' || *p == '=')
            buf_printf(out, "+%02X", *p);
        else
            buf_putc(out, *p);
    }
}

/* Does the local part LOCAL (LEN bytes) need quotes in RFC 5321? */
static int smtp_needs_quote(const char *local, size_t len)
{
    static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
    int dot_ok = 0;

    if (len == 0)
        return 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) local[i];

        if (c == '.') {
            if (!dot_ok)
                return 1;
            dot_ok = 0;
            continue;
        }
        if (!(isalnum(c) || strchr(atext, c) || c >= 128))
            return 1;
        dot_ok = 1;
    }
    return !dot_ok;
}

void smtp_quote_addr(struct buf *out, const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t) (at - addr) : strlen(addr);

    if (*addr == 0)
        return;
    if (!var_smtp_quote_rfc821_envelope || !smtp_needs_quote(addr, llen)
        || (llen >= 2 && addr[0] == '"')) {
        buf_puts(out, addr);
        return;
    }
    buf_putc(out, '"');
    for (size_t i = 0; i < llen; i++) {
        if (addr[i] == '"' || addr[i] == '\\')
            buf_putc(out, '\\');
        buf_putc(out, addr[i]);
    }
    buf_putc(out, '"');
    if (at)
        buf_puts(out, at);
}

static int smtp_non_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s >= 128)
            return 1;
    return 0;
}

/* Send one command line (not flushed: a read flushes). 0 / -1. */
static int smtp_send(struct smtp_session *ss, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int smtp_send(struct smtp_session *ss, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = stream_vprintf(ss->s, fmt, ap);
    va_end(ap);
    if (ret >= 0)
        ret = stream_puts(ss->s, "\r\n");
    if (msg_verbose && ret >= 0) {
        va_start(ap, fmt);
        msg_vlog(MSG_INFO, fmt, ap);
        va_end(ap);
    }
    return ret < 0 ? -1 : 0;
}

static int smtp_read(struct smtp_session *ss, long timeout,
                     struct smtp_reply *r)
{
    stream_set_timeout(ss->s, (int) timeout);
    return smtp_reply_read(ss->s, r);
}

/* ---- outcomes ----------------------------------------------------------- */

static void smtp_why(struct smtp_state *st, struct smtp_session *ss,
                     const char *dsn, int hard, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void smtp_why(struct smtp_state *st, struct smtp_session *ss,
                     const char *dsn, int hard, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_reset(st->why);
    buf_vprintf(st->why, fmt, ap);
    va_end(ap);
    snprintf(st->why_dsn, sizeof(st->why_dsn), "%s", dsn);
    buf_set(st->why_relay, ss ? buf_str(ss->relay) : "none");
    st->why_hard = hard;
}

/* A broken conversation while STAGE: lost connection or time-out. */
static int smtp_broken(struct smtp_state *st, struct smtp_session *ss,
                       const char *stage)
{
    if (stream_reason(ss->s) == STREAM_TIMEOUT)
        smtp_why(st, ss, "4.4.2", 0, "conversation with %s timed out while %s",
                 buf_str(ss->peer), stage);
    else
        smtp_why(st, ss, "4.4.2", 0, "lost connection with %s while %s",
                 buf_str(ss->peer), stage);
    st->reusable = 0;
    return SMTP_NEXT;
}

/* Report every recipient without a result. */
static void smtp_report_rest(struct smtp_state *st, struct smtp_session *ss,
                             int action, const char *dsn, const char *reason)
{
    const struct deliver_request *req = deliver_agent_request(st->a);

    for (size_t i = 0; i < req->rcpt_count; i++)
        if (!req->rcpts[i].done)
            deliver_report(st->a, i, action, dsn,
                           ss ? buf_str(ss->relay) : "none", "%s", reason);
}

/* The DSN for a reply: the server's, with the class of its code. */
static const char *smtp_reply_status(const struct smtp_reply *r)
{
    return r->dsn;
}

/* A malformed reply counts as a broken conversation. */
static int smtp_malformed(struct smtp_state *st, struct smtp_session *ss,
                          const struct smtp_reply *r, const char *cmd)
{
    smtp_why(st, ss, "4.5.0", 0,
             "host %s said: malformed reply \"%s\" (in reply to %s command)",
             buf_str(ss->peer), buf_str(r->text), cmd);
    st->reusable = 0;
    return SMTP_NEXT;
}

/*
 * A reply to a command that concerns the whole message (MAIL, DATA, end
 * of data, HELO): 4xx defers, 5xx bounces every recipient without a
 * result; 421 is the server going away: the next server is tried.
 */
static int smtp_message_fail(struct smtp_state *st, struct smtp_session *ss,
                             const struct smtp_reply *r, const char *cmd)
{
    struct buf *reason = buf_new(128);

    buf_setf(reason, "host %s said: %s (in reply to %s command)",
             buf_str(ss->peer), buf_str(r->text), cmd);
    if (r->code == 421) {
        smtp_why(st, ss, smtp_reply_status(r), 0, "%s", buf_str(reason));
        st->why_dsn[0] = '4';
        st->reusable = 0;
        buf_free(reason);
        return SMTP_NEXT;
    }
    smtp_report_rest(st, ss,
                     r->code >= 500 ? REC_ACTION_BOUNCED : REC_ACTION_DEFERRED,
                     smtp_reply_status(r), buf_str(reason));
    buf_free(reason);
    return SMTP_DONE;
}

/* ---- the handshake ------------------------------------------------------ */

/* Greeting, EHLO/HELO, STARTTLS, AUTH. SMTP_DONE means "go on" here: -1. */
#define SMTP_GO (-1)

static int smtp_ehlo(struct smtp_state *st, struct smtp_session *ss,
                     struct smtp_reply *r, int greeting_esmtp)
{
    int use_ehlo = !var_smtp_never_send_ehlo
                   && (var_smtp_always_send_ehlo || greeting_esmtp);

    ss->feat.esmtp = 0;
    if (use_ehlo) {
        if (smtp_send(ss, "EHLO %s", var_smtp_helo_name) < 0
            || smtp_read(ss, var_smtp_helo_timeout, r) < 0)
            return smtp_broken(st, ss, "performing the EHLO handshake");
        if (r->code == 0)
            return smtp_malformed(st, ss, r, "EHLO");
        if (r->code >= 200 && r->code < 300) {
            smtp_features_parse(&ss->feat, r, var_smtp_discard_ehlo_keywords);
            return SMTP_GO;
        }
        if (r->code == 421 || r->code < 500) {
            smtp_why(st, ss, r->code == 421 ? "4.0.0" : r->dsn, 0,
                     "host %s refused to talk to me: %s", buf_str(ss->peer),
                     buf_str(r->text));
            st->reusable = 0;
            return SMTP_NEXT;
        }
    }
    if (smtp_send(ss, "HELO %s", var_smtp_helo_name) < 0
        || smtp_read(ss, var_smtp_helo_timeout, r) < 0)
        return smtp_broken(st, ss, "performing the HELO handshake");
    if (r->code == 0)
        return smtp_malformed(st, ss, r, "HELO");
    if (r->code >= 200 && r->code < 300)
        return SMTP_GO;
    return smtp_message_fail(st, ss, r, "HELO");
}

static int smtp_handshake(struct smtp_state *st, struct smtp_session *ss,
                          const char *nexthop, const char *dest_host,
                          struct smtp_reply *r)
{
    const struct deliver_request *req = deliver_agent_request(st->a);
    struct smtp_tls_policy pol;
    struct buf *err = buf_new(128);
    int esmtp, ret = SMTP_GO;
    char dsn[16] = "4.7.0";

    smtp_tls_policy_init(&pol);
    if (smtp_tls_policy_find(&pol, nexthop, dest_host, err) < 0) {
        smtp_why(st, ss, "4.3.0", 0, "%s", buf_str(err));
        ret = SMTP_NEXT;
        goto out;
    }
    if (ss->no_tls && pol.level == SMTP_TLS_MAY)
        pol.level = SMTP_TLS_NONE;
    if (var_smtp_tls_wrappermode && pol.level != SMTP_TLS_NONE) {
        if (smtp_tls_start(ss, &pol, dest_host, err) < 0) {
            smtp_why(st, ss, "4.7.5", 0, "%s", buf_str(err));
            st->reusable = 0;
            ret = SMTP_NEXT;
            goto out;
        }
    }
    if (smtp_read(ss, var_smtp_helo_timeout, r) < 0) {
        ret = smtp_broken(st, ss, "receiving the initial server greeting");
        goto out;
    }
    if (r->code == 0) {
        ret = smtp_malformed(st, ss, r, "initial greeting");
        goto out;
    }
    if (r->code < 200 || r->code >= 300) {
        int hard = r->code >= 500 && !var_smtp_skip_5xx_greeting;

        smtp_why(st, ss, r->dsn, hard, "host %s refused to talk to me: %s",
                 buf_str(ss->peer), buf_str(r->text));
        st->reusable = 0;
        if (hard) {
            smtp_report_rest(st, ss, REC_ACTION_BOUNCED, r->dsn,
                             buf_str(st->why));
            ret = SMTP_DONE;
        } else {
            if (st->why_dsn[0] == '5')
                st->why_dsn[0] = '4';
            ret = SMTP_NEXT;
        }
        goto out;
    }
    esmtp = strstr(buf_str(r->text), "ESMTP") != NULL;
    if ((ret = smtp_ehlo(st, ss, r, esmtp)) != SMTP_GO)
        goto out;
    /* STARTTLS */
    if (!ss->tls && pol.level != SMTP_TLS_NONE) {
        if (ss->feat.starttls && ss->feat.esmtp) {
            if (smtp_send(ss, "STARTTLS") < 0
                || smtp_read(ss, var_smtp_helo_timeout, r) < 0) {
                ret = smtp_broken(st, ss, "sending STARTTLS");
                goto out;
            }
            if (r->code == 220) {
                if (smtp_tls_start(ss, &pol, dest_host, err) < 0) {
                    smtp_why(st, ss, "4.7.5", 0, "%s", buf_str(err));
                    st->reusable = 0;
                    /* "may": the caller tries this server in plain text */
                    st->tls_retry_plain = pol.level == SMTP_TLS_MAY;
                    ret = SMTP_NEXT;
                    goto out;
                }
                if ((ret = smtp_ehlo(st, ss, r, 1)) != SMTP_GO)
                    goto out;
            } else if (pol.level >= SMTP_TLS_ENCRYPT) {
                smtp_why(st, ss, "4.7.4", 0,
                         "TLS is required, but host %s refused to start TLS: "
                         "%s",
                         buf_str(ss->peer), buf_str(r->text));
                ret = SMTP_NEXT;
                goto out;
            }
        } else if (pol.level >= SMTP_TLS_ENCRYPT) {
            smtp_why(st, ss, "4.7.4", 0,
                     "TLS is required, but was not offered by host %s",
                     buf_str(ss->peer));
            ret = SMTP_NEXT;
            goto out;
        }
    }
    /* AUTH */
    if (var_smtp_sasl_auth_enable && ss->feat.auth && !ss->auth_done) {
        int rc = smtp_sasl_login(ss, buf_str(req->sender), nexthop, err, dsn);

        if (rc == SMTP_SASL_LOST) {
            ret = smtp_broken(st, ss, "authenticating");
            goto out;
        }
        if (rc != SMTP_SASL_OK) {
            /* never a bounce: the credentials may be fixed */
            smtp_why(st, ss, dsn, 0, "%s", buf_str(err));
            if (st->why_dsn[0] == '5')
                st->why_dsn[0] = '4';
            ret = SMTP_NEXT;
            goto out;
        }
    }
out:
    smtp_tls_policy_free(&pol);
    buf_free(err);
    return ret;
}

/* ---- the message -------------------------------------------------------- */

/* Write LEN bytes of DATA at the start of a line or not, dot-stuffed. */
static int smtp_put_text(struct smtp_session *ss, const char *data, size_t len,
                         int line_start, size_t *col)
{
    if (line_start && len > 0 && data[0] == '.' && stream_putc(ss->s, '.') < 0)
        return -1;
    if (var_smtp_line_length_limit > 0) {
        size_t limit = (size_t) var_smtp_line_length_limit;

        while (*col + len > limit) {
            size_t n = limit > *col ? limit - *col : 0;

            if (stream_write(ss->s, data, n) < 0
                || stream_write(ss->s, "\r\n ", 3) < 0)
                return -1;
            data += n;
            len -= n;
            *col = 1;
        }
    }
    *col += len;
    return stream_write(ss->s, data, len);
}

/* Is NAME (LEN bytes) a header whose value holds addresses? */
static int smtp_addr_header(const char *name, size_t len)
{
    static const char *const names[] = {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "sender",
        "errors-to",
        "return-receipt-to",
        "resent-from",
        "resent-to",
        "resent-cc",
        "resent-bcc",
        "resent-sender",
        "resent-reply-to",
        "disposition-notification-to",
        "mail-followup-to",
        "mail-reply-to",
        "return-path",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0)
            return 1;
    return 0;
}

/*
 * Write one (possibly folded: LF inside) header, rewritten when needed
 * (REWRITE: a header of the message itself, not of a MIME part).
 */
static int smtp_put_header_as(struct smtp_session *ss, struct buf *hdr,
                              struct buf *err, int rewrite)
{
    const char *p = buf_str(hdr), *colon = memchr(p, ':', buf_len(hdr));
    size_t start = 0, col = 0;

    if (rewrite && colon && smtp_generic_enabled()
        && smtp_addr_header(p, (size_t) (colon - p))) {
        if (smtp_generic_header(hdr, err) < 0)
            return -2;
        p = buf_str(hdr);
    }
    for (size_t i = 0; i <= buf_len(hdr); i++) {
        if (i == buf_len(hdr) || p[i] == '\n') {
            col = 0;
            if (smtp_put_text(ss, p + start, i - start, 1, &col) < 0
                || stream_write(ss->s, "\r\n", 2) < 0)
                return -1;
            start = i + 1;
        }
    }
    return 0;
}

static int smtp_put_header(struct smtp_session *ss, struct buf *hdr,
                           struct buf *err)
{
    return smtp_put_header_as(ss, hdr, err, 1);
}

/* ---- 8-bit to 7-bit conversion (smtp_mime.c does the MIME work) ------- */

struct smtp_mime_sink {
    struct smtp_session *ss;
    struct buf *err;
    size_t col;
};

static int smtp_mime_sink_header(void *ctx, struct buf *hdr, int flags)
{
    struct smtp_mime_sink *k = ctx;

    return smtp_put_header_as(k->ss, hdr, k->err,
                              (flags & SMTP_MIME_PRIMARY) != 0);
}

static int smtp_mime_sink_text(void *ctx, const char *data, size_t len,
                               int flags)
{
    struct smtp_mime_sink *k = ctx;

    if (flags & SMTP_MIME_START)
        k->col = 0;
    if (smtp_put_text(k->ss, data, len, (flags & SMTP_MIME_START) != 0, &k->col)
        < 0)
        return -1;
    if (flags & SMTP_MIME_END) {
        k->col = 0;
        return stream_write(k->ss->s, "\r\n", 2) < 0 ? -1 : 0;
    }
    return 0;
}

/* Feed the whole content to M: 0, or < 0 (-2 with ERR: the file). */
static int smtp_mime_pass(struct qf_reader *qf, struct smtp_mime *m,
                          struct buf *data, struct buf *err)
{
    int type, rc;

    if (qf_seek_content(qf) < 0 || qf_read(qf, data) != REC_MESSAGE) {
        buf_setf(err, "cannot read the message: %s", qf_error());
        return -2;
    }
    while ((type = qf_read(qf, data)) == REC_LINE || type == REC_PIECE)
        if ((rc = smtp_mime_feed(m, buf_str(data), buf_len(data),
                                 type == REC_LINE))
            < 0)
            return rc;
    if (type != REC_XTRACTED) {
        buf_setf(err, "cannot read the message: %s", qf_error());
        return -2;
    }
    return smtp_mime_finish(m);
}

/*
 * When the server lacks 8BITMIME and the message is 8-bit (BODY=8BITMIME,
 * or 8-bit content found by a scan), send it converted to 7 bit, with the
 * final dot: 0, -1, -2 as smtp_send_content; -3 (ERR) it cannot be
 * converted (nothing was sent: bounce); 1: nothing to convert.
 */
static int smtp_send_converted(struct smtp_state *st, struct smtp_session *ss,
                               struct buf *err)
{
    const struct deliver_request *req = deliver_agent_request(st->a);
    struct qf_reader *qf = deliver_agent_file(st->a);
    struct smtp_mime_sink sink = {ss, err, 0};
    struct smtp_mime_out out = {smtp_mime_sink_header, smtp_mime_sink_text,
                                &sink};
    struct smtp_mime *m = smtp_mime_new(NULL);
    struct buf *data = buf_new(1024);
    int rc;

    if ((rc = smtp_mime_pass(qf, m, data, err)) < 0)
        goto out;
    if (!(req->flags & REC_FLAG_8BITMIME) && !smtp_mime_eight(m)) {
        rc = 1;
        goto out;
    }
    if (smtp_mime_too_deep(m)) {
        buf_set(err, "MIME nesting exceeds safety limit");
        rc = -3;
        goto out;
    }
    smtp_mime_rewind(m, &out);
    if ((rc = smtp_mime_pass(qf, m, data, err)) < 0)
        goto out;
    if (stream_write(ss->s, ".\r\n", 3) < 0 || stream_flush(ss->s) < 0)
        rc = -1;
out:
    smtp_mime_free(m);
    buf_free(data);
    return rc;
}

/*
 * Send the message content and the final dot. 0, -1 (the connection
 * broke: stream reason), -2 (the queue file or a table failed: ERR; the
 * conversation cannot go on either), -3 (the 8-bit message cannot be
 * converted for this server: ERR; nothing was sent, bounce it).
 */
/*
 * Read one reply within TIMEOUT seconds. 0 with a well-formed reply in R;
 * -1 with *RET set when the connection broke while DOING ("sending MAIL
 * FROM") or the reply to CMD was garbled.
 */
static int smtp_reply_get(struct smtp_state *st, struct smtp_session *ss,
                          long timeout, struct smtp_reply *r, const char *doing,
                          const char *cmd, int *ret)
{
    if (smtp_read(ss, timeout, r) < 0) {
        *ret = smtp_broken(st, ss, doing);
        return -1;
    }
    if (r->code == 0) {
        *ret = smtp_malformed(st, ss, r, cmd);
        return -1;
    }
    return 0;
}

/*
 * Read the reply to the RCPT TO of recipient I and act on it: accepted,
 * or that recipient deferred/bounced with the server's text. 0 to go on;
 * -1 with *RET set when the session cannot go on (lost, garbled, 421).
 */
static int smtp_rcpt_reply(struct smtp_state *st, struct smtp_session *ss,
                           size_t i, struct smtp_reply *r, size_t *naccepted,
                           int *ret)
{
    if (smtp_reply_get(st, ss, var_smtp_rcpt_timeout, r, "sending RCPT TO",
                       "RCPT TO", ret)
        < 0)
        return -1;
    if (r->code == 421) {
        *ret = smtp_message_fail(st, ss, r, "RCPT TO");
        return -1;
    }
    if (r->code >= 200 && r->code < 300) {
        st->accepted[i] = 1;
        (*naccepted)++;
    } else {
        deliver_report(
            st->a, i, r->code >= 500 ? REC_ACTION_BOUNCED : REC_ACTION_DEFERRED,
            r->dsn, buf_str(ss->relay),
            "host %s said: %s (in reply to RCPT TO command)", buf_str(ss->peer),
            buf_str(r->text));
    }
    return 0;
}

static int smtp_send_content(struct smtp_state *st, struct smtp_session *ss,
                             struct buf *err)
{
    struct qf_reader *qf = deliver_agent_file(st->a);
    struct buf *data = buf_new(1024);
    struct buf *hdr = buf_new(256);
    int type, line_start = 1, in_headers = 1, ret = 0;
    size_t col = 0;

    stream_set_timeout(ss->s, (int) var_smtp_data_xfer_timeout);
    if (!var_disable_mime_output_conversion && !ss->feat.eightbitmime
        && (ret = smtp_send_converted(st, ss, err)) <= 0)
        goto out;
    ret = 0;
    if (qf_seek_content(qf) < 0 || qf_read(qf, data) != REC_MESSAGE) {
        buf_setf(err, "cannot read the message: %s", qf_error());
        ret = -2;
        goto out;
    }
    while ((type = qf_read(qf, data)) == REC_LINE || type == REC_PIECE) {
        if (in_headers) {
            int continuation =
                line_start && buf_len(data) > 0
                && (buf_str(data)[0] == ' ' || buf_str(data)[0] == '\t');
            int blank = line_start && type == REC_LINE && buf_len(data) == 0;

            if (line_start && !continuation && buf_len(hdr)) {
                if ((ret = smtp_put_header(ss, hdr, err)) < 0)
                    goto out;
                buf_reset(hdr);
            }
            if (blank) {
                in_headers = 0;
            } else if (line_start && !continuation
                       && rfc822_header_name(buf_str(data), buf_len(data))
                              == 0) {
                in_headers = 0; /* no header: the body starts here */
            } else if (buf_len(hdr) + buf_len(data) > 64 * 1024) {
                /* too long to rewrite: the rest goes as body text */
                if (buf_len(hdr) && (ret = smtp_put_header(ss, hdr, err)) < 0)
                    goto out;
                buf_reset(hdr);
                in_headers = 0;
            } else {
                if (line_start && continuation)
                    buf_putc(hdr, '\n');
                buf_append(hdr, buf_str(data), buf_len(data));
                line_start = type == REC_LINE;
                continue;
            }
        }
        if (smtp_put_text(ss, buf_str(data), buf_len(data), line_start, &col)
            < 0) {
            ret = -1;
            goto out;
        }
        line_start = type == REC_LINE;
        if (line_start) {
            col = 0;
            if (stream_write(ss->s, "\r\n", 2) < 0) {
                ret = -1;
                goto out;
            }
        }
    }
    if (type != REC_XTRACTED) {
        buf_setf(err, "cannot read the message: %s", qf_error());
        ret = -2;
        goto out;
    }
    if (buf_len(hdr) && (ret = smtp_put_header(ss, hdr, err)) < 0)
        goto out;
    if (!line_start && stream_write(ss->s, "\r\n", 2) < 0) {
        ret = -1;
        goto out;
    }
    if (stream_write(ss->s, ".\r\n", 3) < 0 || stream_flush(ss->s) < 0)
        ret = -1;
out:
    buf_free(data);
    buf_free(hdr);
    return ret;
}

/* ---- the transaction ---------------------------------------------------- */

static void smtp_mail_cmd(struct smtp_state *st, struct smtp_session *ss,
                          struct buf *cmd, const char *sender)
{
    const struct deliver_request *req = deliver_agent_request(st->a);
    const struct rec_size *sz = qf_size(deliver_agent_file(st->a));

    buf_set(cmd, "MAIL FROM:<");
    smtp_quote_addr(cmd, sender);
    buf_putc(cmd, '>');
    if (ss->feat.size && sz)
        buf_printf(cmd, " SIZE=%lld", sz->content_size);
    if ((req->flags & REC_FLAG_8BITMIME) && ss->feat.eightbitmime)
        buf_puts(cmd, " BODY=8BITMIME");
    if ((req->flags & REC_FLAG_SMTPUTF8) && ss->feat.smtputf8)
        buf_puts(cmd, " SMTPUTF8");
    if (ss->feat.dsn) {
        if (req->dsn_ret == REC_DSN_RET_FULL)
            buf_puts(cmd, " RET=FULL");
        else if (req->dsn_ret == REC_DSN_RET_HDRS)
            buf_puts(cmd, " RET=HDRS");
        if (buf_len(req->dsn_envid)) {
            buf_puts(cmd, " ENVID=");
            smtp_xtext(cmd, buf_str(req->dsn_envid));
        }
    }
    if (var_smtp_send_dummy_mail_auth && ss->auth_done)
        buf_puts(cmd, " AUTH=<>");
}

static void smtp_rcpt_cmd(struct smtp_session *ss, struct buf *cmd,
                          const struct deliver_rcpt *rc, const char *addr)
{
    buf_set(cmd, "RCPT TO:<");
    smtp_quote_addr(cmd, addr);
    buf_putc(cmd, '>');
    if (ss->feat.dsn) {
        if (rc->notify & REC_NOTIFY_NEVER) {
            buf_puts(cmd, " NOTIFY=NEVER");
        } else if (rc->notify) {
            const char *sep = " NOTIFY=";

            if (rc->notify & REC_NOTIFY_SUCCESS) {
                buf_printf(cmd, "%sSUCCESS", sep);
                sep = ",";
            }
            if (rc->notify & REC_NOTIFY_FAILURE) {
                buf_printf(cmd, "%sFAILURE", sep);
                sep = ",";
            }
            if (rc->notify & REC_NOTIFY_DELAY)
                buf_printf(cmd, "%sDELAY", sep);
        }
        if (buf_len(rc->orcpt)) {
            const char *o = buf_str(rc->orcpt);
            const char *semi = strchr(o, ';');

            if (semi) {
                buf_puts(cmd, " ORCPT=");
                buf_append(cmd, o, (size_t) (semi - o + 1));
                smtp_xtext(cmd, semi + 1);
            }
        } else if (buf_len(rc->orig_rcpt)) {
            buf_puts(cmd, " ORCPT=rfc822;");
            smtp_xtext(cmd, buf_str(rc->orig_rcpt));
        }
    }
}

int smtp_proto_deliver(struct smtp_state *st, struct smtp_session *ss,
                       int fresh, const char *nexthop, const char *dest_host)
{
    const struct deliver_request *req = deliver_agent_request(st->a);
    const struct rec_size *sz = qf_size(deliver_agent_file(st->a));
    struct smtp_reply r;
    struct buf *cmd = buf_new(256);
    struct buf *addr = buf_new(128);
    struct buf *err = buf_new(128);
    size_t *sent = mem_calloc(req->rcpt_count + 1, sizeof(*sent));
    size_t nsent = 0, naccepted = 0, i;
    int ret = SMTP_DONE, rc, pipe;

    smtp_reply_init(&r);
    st->reusable = 1;
    for (i = 0; i < req->rcpt_count; i++)
        st->accepted[i] = 0;
    if (fresh
        && (ret = smtp_handshake(st, ss, nexthop, dest_host, &r)) != SMTP_GO)
        goto out;
    ret = SMTP_DONE;
    if (fresh)
        deliver_agent_connected(st->a);

    /* What the server must support. */
    if (ss->feat.size_limit > 0 && sz
        && sz->content_size > ss->feat.size_limit) {
        buf_setf(err, "message size %lld exceeds size limit %lld of server %s",
                 sz->content_size, ss->feat.size_limit, buf_str(ss->peer));
        smtp_report_rest(st, ss, REC_ACTION_BOUNCED, "5.3.4", buf_str(err));
        goto out;
    }
    if ((req->flags & REC_FLAG_SMTPUTF8) && !ss->feat.smtputf8) {
        int need = smtp_non_ascii(buf_str(req->sender));

        for (i = 0; i < req->rcpt_count && !need; i++)
            need = smtp_non_ascii(buf_str(req->rcpts[i].address));
        if (need) {
            buf_setf(err,
                     "SMTPUTF8 is required, but was not offered by host %s",
                     buf_str(ss->peer));
            smtp_report_rest(st, ss, REC_ACTION_BOUNCED, "5.6.7", buf_str(err));
            goto out;
        }
    }

    /* MAIL FROM */
    rc = smtp_generic_addr(buf_str(req->sender), addr, err);
    if (rc < 0) {
        smtp_report_rest(st, ss, REC_ACTION_DEFERRED, "4.3.0", buf_str(err));
        goto out;
    }
    smtp_mail_cmd(st, ss, cmd, rc ? buf_str(addr) : buf_str(req->sender));
    pipe = ss->feat.pipelining && ss->feat.esmtp;
    if (smtp_send(ss, "%s", buf_str(cmd)) < 0) {
        ret = smtp_broken(st, ss, "sending MAIL FROM");
        goto out;
    }
    if (!pipe) {
        if (smtp_reply_get(st, ss, var_smtp_mail_timeout, &r,
                           "sending MAIL FROM", "MAIL FROM", &ret)
            < 0)
            goto out;
        if (r.code >= 300) {
            ret = smtp_message_fail(st, ss, &r, "MAIL FROM");
            goto out;
        }
    }
    /* RCPT TO, each (pipelined: all written before any reply is read) */
    for (i = 0; i < req->rcpt_count; i++) {
        const struct deliver_rcpt *rcp = &req->rcpts[i];

        if (rcp->done)
            continue;
        rc = smtp_generic_addr(buf_str(rcp->address), addr, err);
        if (rc < 0) {
            deliver_report(st->a, i, REC_ACTION_DEFERRED, "4.3.0",
                           buf_str(ss->relay), "%s", buf_str(err));
            continue;
        }
        smtp_rcpt_cmd(ss, cmd, rcp, rc ? buf_str(addr) : buf_str(rcp->address));
        if (smtp_send(ss, "%s", buf_str(cmd)) < 0) {
            ret = smtp_broken(st, ss, "sending RCPT TO");
            goto out;
        }
        sent[nsent++] = i;
        if (pipe)
            continue;
        if (smtp_rcpt_reply(st, ss, i, &r, &naccepted, &ret) < 0)
            goto out;
    }
    if (pipe) {
        int mail_ok;

        if (nsent > 0 && smtp_send(ss, "DATA") < 0) {
            ret = smtp_broken(st, ss, "sending DATA command");
            goto out;
        }
        if (smtp_reply_get(st, ss, var_smtp_mail_timeout, &r,
                           "sending MAIL FROM", "MAIL FROM", &ret)
            < 0)
            goto out;
        mail_ok = r.code >= 200 && r.code < 300;
        if (!mail_ok) {
            /* the replies to the RCPTs and DATA still come: read them */
            struct smtp_reply mail;

            smtp_reply_init(&mail);
            buf_set(mail.text, buf_str(r.text));
            mail.code = r.code;
            memcpy(mail.dsn, r.dsn, sizeof(mail.dsn));
            for (i = 0; i < nsent + (nsent > 0); i++)
                if (smtp_read(ss, var_smtp_rcpt_timeout, &r) < 0 || r.code == 0)
                    break;
            if (i < nsent + (nsent > 0))
                st->reusable = 0;
            else if (nsent > 0 && r.code == 354) {
                st->reusable = 0; /* it wants the message: end it here */
            }
            ret = smtp_message_fail(st, ss, &mail, "MAIL FROM");
            smtp_reply_free(&mail);
            goto out;
        }
        for (size_t k = 0; k < nsent; k++) {
            if (smtp_rcpt_reply(st, ss, sent[k], &r, &naccepted, &ret) < 0)
                goto out;
        }
    }
    if (nsent == 0)
        goto out; /* nothing left to send (table errors) */
    /* DATA */
    if (!pipe) {
        if (naccepted == 0)
            goto out;
        if (smtp_send(ss, "DATA") < 0) {
            ret = smtp_broken(st, ss, "sending DATA command");
            goto out;
        }
    }
    if (smtp_reply_get(st, ss, var_smtp_data_init_timeout, &r,
                       "sending DATA command", "DATA", &ret)
        < 0)
        goto out;
    if (naccepted == 0) {
        /* pipelined, and every recipient was refused */
        if (r.code == 354) {
            st->reusable = 0;
            (void) smtp_send(ss, ".");
            (void) smtp_read(ss, var_smtp_data_done_timeout, &r);
        }
        goto out;
    }
    if (r.code != 354) {
        ret = smtp_message_fail(st, ss, &r, "DATA");
        goto out;
    }
    rc = smtp_send_content(st, ss, err);
    if (rc == -2 || rc == -3) {
        /* a half-sent message must not be taken: drop the connection */
        st->reusable = 0;
        if (rc == -3)
            smtp_report_rest(st, ss, REC_ACTION_BOUNCED, "5.6.0", buf_str(err));
        else
            smtp_report_rest(st, ss, REC_ACTION_DEFERRED, "4.3.0",
                             buf_str(err));
        stream_close(ss->s);
        ss->s = NULL;
        goto out;
    }
    if (rc < 0) {
        ret = smtp_broken(st, ss, "sending message body");
        goto out;
    }
    if (smtp_reply_get(st, ss, var_smtp_data_done_timeout, &r,
                       "sending end of data -- message may be sent more "
                       "than once",
                       "end of DATA", &ret)
        < 0)
        goto out;
    if (r.code >= 200 && r.code < 300) {
        for (i = 0; i < req->rcpt_count; i++)
            if (st->accepted[i] && !req->rcpts[i].done)
                deliver_report(
                    st->a, i,
                    ss->feat.dsn ? REC_ACTION_DELIVERED : REC_ACTION_RELAYED,
                    r.dsn, buf_str(ss->relay), "%s", buf_str(r.text));
        ss->use_count++;
        goto out;
    }
    ret = smtp_message_fail(st, ss, &r, "end of DATA");
out:
    /* Recipients of a finished conversation all need a result. */
    if (ret == SMTP_DONE && ss->s == NULL)
        st->reusable = 0;
    smtp_reply_free(&r);
    buf_free(cmd);
    buf_free(addr);
    buf_free(err);
    mem_free(sent);
    return ret;
}

void smtp_proto_quit(struct smtp_session *ss)
{
    struct smtp_reply r;

    if (ss->s == NULL)
        return;
    smtp_reply_init(&r);
    if (smtp_send(ss, "QUIT") == 0) {
        if (var_smtp_skip_quit_response)
            (void) stream_flush(ss->s);
        else
            (void) smtp_read(ss, var_smtp_quit_timeout, &r);
    }
    smtp_reply_free(&r);
}

int smtp_proto_rset(struct smtp_session *ss)
{
    struct smtp_reply r;
    int ok;

    smtp_reply_init(&r);
    ok = smtp_send(ss, "RSET") == 0
         && smtp_read(ss, var_smtp_rset_timeout, &r) == 0 && r.code >= 200
         && r.code < 300;
    smtp_reply_free(&r);
    return ok ? 0 : -1;
}
