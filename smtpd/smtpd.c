/*
 * smtpd.c - the SMTP server: one client at a time (DAEMON_SINGLE), the
 * ESMTP protocol of RFC 5321 with PIPELINING, SIZE, VRFY, ETRN, STARTTLS,
 * ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8 and CHUNKING, as Postfix's
 * smtpd(8) speaks it (replies, log lines, Received: header).
 *
 * Started by master (conf/master.cf "smtp inet ... smtpd"). Before chroot
 * it opens the restriction engine's tables (smtpd_check_new) and builds
 * the TLS context; then each client is served by smtpd_serve(). Command
 * lines are parsed by smtpd_cmd.c; the restriction engine (smtpd_check.c)
 * decides at each stage. The message streams into the cleanup service as
 * it arrives (lib/cleanup_client.h) and "250 ... queued as" is sent only
 * after cleanup's OK.
 *
 * Errors: a client's problem (bad input, timeout, lost connection) ends
 * that client only, with Postfix's reply and log line. Start-up problems
 * (bad restriction lists) are fatal.
 */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "argv.h"
#include "buf.h"
#include "cidr.h"
#include "cleanup_client.h"
#include "daemon.h"
#include "mail_proto.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "record.h"
#include "smtpd_anvil.h"
#include "smtpd_check.h"
#include "smtpd_cmd.h"
#include "smtpd_sasl.h"
#include "sock.h"
#include "str.h"
#include "stream.h"
#include "tls.h"

/* Command counters for the "disconnect from" line, in Postfix's order. */
enum {
    C_HELO,
    C_EHLO,
    C_STARTTLS,
    C_AUTH,
    C_MAIL,
    C_RCPT,
    C_DATA,
    C_BDAT,
    C_RSET,
    C_NOOP,
    C_VRFY,
    C_ETRN,
    C_QUIT,
    C_UNKNOWN,
    C_COUNT
};

static const char *const counter_names[C_COUNT] = {
    "helo", "ehlo", "starttls", "auth", "mail", "rcpt", "data",
    "bdat", "rset", "noop",     "vrfy", "etrn", "quit", "unknown",
};

/* EHLO keywords (smtpd_discard_ehlo_keywords). */
#define EHLO_PIPELINING 0x001
#define EHLO_SIZE       0x002
#define EHLO_VRFY       0x004
#define EHLO_ETRN       0x008
#define EHLO_STARTTLS   0x010
#define EHLO_AUTH       0x020
#define EHLO_ENHANCED   0x040
#define EHLO_8BITMIME   0x080
#define EHLO_DSN        0x100
#define EHLO_SMTPUTF8   0x200
#define EHLO_CHUNKING   0x400

static const struct {
    const char *name;
    int bit;
} ehlo_words[] = {
    {"pipelining", EHLO_PIPELINING},
    {"size", EHLO_SIZE},
    {"vrfy", EHLO_VRFY},
    {"etrn", EHLO_ETRN},
    {"starttls", EHLO_STARTTLS},
    {"auth", EHLO_AUTH},
    {"enhancedstatuscodes", EHLO_ENHANCED},
    {"8bitmime", EHLO_8BITMIME},
    {"dsn", EHLO_DSN},
    {"smtputf8", EHLO_SMTPUTF8},
    {"chunking", EHLO_CHUNKING},
};

/* TLS security levels. */
#define TLS_LEVEL_NONE    0
#define TLS_LEVEL_MAY     1
#define TLS_LEVEL_ENCRYPT 2

/* Process-wide state, set up before the first client. */
static struct smtpd_check *smtpd_chk;
static struct tls_ctx *smtpd_tls;
static int smtpd_tls_level;
static int smtpd_discard_bits;
static int smtpd_discard_silent;
static unsigned long smtpd_instance_seq;

/* smtpd_forbid_bare_newline: what a line ending in a bare LF gets. */
#define BARE_LF_ALLOW     0 /* "no": taken as CRLF, also ".\n" ends DATA */
#define BARE_LF_NORMALIZE 1 /* taken as CRLF, but DATA ends at CRLF.CRLF */
#define BARE_LF_REJECT    2 /* the command or message is rejected */
static int smtpd_bare_lf;
static struct cidr_list *smtpd_bare_lf_exclusions;
static struct maps *smtpd_footer_maps; /* smtpd_reject_footer_maps */
struct smtpd_state;
static int smtpd_bare_lf_mode(struct smtpd_state *st);

/* Handler results. */
#define RES_FAIL 0 /* the command failed (4xx/5xx) */
#define RES_OK   1
#define RES_END  (-1) /* end the session */

struct smtpd_state {
    struct stream *s;
    /* the client */
    struct buf *addr;
    struct buf *port;
    struct buf *name;
    struct buf *reverse_name;
    struct buf *namaddr; /* "host[addr]" for log lines */
    struct buf *server_addr;
    struct buf *server_port;
    int name_status;
    int reverse_status;
    struct buf *helo;
    int have_helo;
    int esmtp;
    struct buf *conn_reject; /* smtpd_client_restrictions said no at connect */
    int bare_lf;             /* BARE_LF_* for this client */
    int bare_lf_seen;        /* the message content had a bare LF */
    int prev_crlf;           /* the previous content line ended in CRLF */
    int ill_pipelining;      /* "improper command pipelining" was logged */
    /* the conversation */
    struct buf *line;
    struct buf *verb;
    struct buf *reply;
    struct buf *last;  /* the last reply sent */
    const char *where; /* for "lost connection after X" */
    unsigned errors;
    unsigned junk;
    unsigned counts[C_COUNT][2]; /* ok, total */
    int tls_active;
    struct tls_info tls;
    struct smtpd_sasl sasl; /* SMTP AUTH (smtpd_sasl.c) */
    /* the transaction */
    int in_mail;
    struct smtpd_mail mail;
    struct argv *rcpt;
    struct argv *orcpt;
    int *notify;
    size_t notify_size;
    struct cleanup_client *cc;
    struct buf *queue_id;
    struct buf *instance;
    int bdat_active; /* BDAT chunks have started this message */
    int bdat_failed; /* an earlier chunk failed: discard to LAST */
    struct buf *bdat_reply;
    long long bdat_bytes;  /* the chunks' sizes so far */
    long long deadline_us; /* smtpd_per_request_deadline: content's deadline */
    long long deadline_at; /* bytes received when it was last moved */
    /* content */
    struct buf *piece;
    int pending_cr;
    int first_piece;
    long long msg_bytes;
    int too_big;
    int write_error;
    /* the engine's view */
    struct smtpd_client cl;
    struct smtpd_check_result res;
};

/* ---- replies ------------------------------------------------------------ */

static void smtpd_flush(struct smtpd_state *st)
{
    (void) stream_flush(st->s);
}

/*
 * Length of the enhanced status code and its space at the start of TEXT
 * ("5.1.1 "), or 0 when there is none.
 */
static size_t smtpd_enhanced_len(const char *text, size_t len)
{
    size_t i = 0;
    int part;

    for (part = 0; part < 3; part++) {
        size_t start = i;

        while (i < len && text[i] >= '0' && text[i] <= '9' && i - start < 3)
            i++;
        if (i == start || i >= len)
            return 0;
        if (part < 2 && text[i++] != '.')
            return 0;
    }
    return text[i] == ' ' ? i + 1 : 0;
}

/* A $name of smtpd_reject_footer: the few Postfix offers, else empty. */
static void smtpd_footer_attr(struct smtpd_state *st, struct buf *out,
                              const char *name, size_t len)
{
#define IS(s) (len == sizeof(s) - 1 && strncmp(name, s, len) == 0)
    if (IS("client_address")) {
        buf_puts(out, buf_str(st->addr));
    } else if (IS("client_port")) {
        buf_puts(out, buf_str(st->port));
    } else if (IS("server_name")) {
        buf_puts(out, var_myhostname);
    } else if (IS("localtime")) {
        time_t now = time(NULL);
        struct tm tm;
        char text[32];

        localtime_r(&now, &tm);
        if (strftime(text, sizeof(text), "%b %e %H:%M:%S", &tm) > 0)
            buf_puts(out, text);
    } else {
        struct buf *n = buf_new(32);

        str_printable(n, name, len);
        msg_warn("unknown macro name \"%s\" in expansion request", buf_str(n));
        buf_free(n);
    }
#undef IS
}

/*
 * The reply TEXT with smtpd_reject_footer (or the smtpd_reject_footer_maps
 * template found for the whole reply) appended, or NULL when there is no
 * footer. "\n" in the template starts a new line with the reply's code
 * (and enhanced code); "\c" at its start continues the last line.
 */
static struct buf *smtpd_footer(struct smtpd_state *st, const char *text)
{
    struct buf *tmpl = buf_new(64);
    struct buf *out;
    const char *t;
    size_t prefix;

    if (smtpd_footer_maps) {
        enum lookup_status ls = maps_find(smtpd_footer_maps, text, 0, tmpl);

        if (ls != LOOKUP_FOUND) {
            if (ls != LOOKUP_NOTFOUND)
                msg_warn("%s", maps_error(smtpd_footer_maps));
            buf_reset(tmpl);
        }
    }
    if (buf_len(tmpl) == 0)
        buf_set(tmpl, var_smtpd_reject_footer);
    if (buf_len(tmpl) == 0) {
        buf_free(tmpl);
        return NULL;
    }
    /* "550 " or "550 5.1.1 ": what each footer line starts with. */
    prefix = strlen(text) >= 4 ? 4 : strlen(text);
    prefix += smtpd_enhanced_len(text + prefix, strlen(text + prefix));
    out = buf_new(strlen(text) + buf_len(tmpl) + 32);
    buf_puts(out, text);
    t = buf_str(tmpl);
    if (strncmp(t, "\\c", 2) == 0) {
        t += 2;
    } else {
        buf_putc(out, '\n');
        buf_append(out, text, prefix);
    }
    while (*t) {
        if (t[0] == '\\' && t[1] == 'n') {
            buf_putc(out, '\n');
            buf_append(out, text, prefix);
            t += 2;
        } else if (t[0] == '$' && t[1] == '$') {
            buf_putc(out, '$');
            t += 2;
        } else if (t[0] == '$' && t[1] == '{' && strchr(t, '}')) {
            const char *end = strchr(t, '}');

            smtpd_footer_attr(st, out, t + 2, (size_t) (end - t - 2));
            t = end + 1;
        } else if (t[0] == '$'
                   && (isalnum((unsigned char) t[1]) || t[1] == '_')) {
            size_t n = 1;

            while (isalnum((unsigned char) t[n]) || t[n] == '_')
                n++;
            smtpd_footer_attr(st, out, t + 1, n - 1);
            t += n;
        } else if (*t == '\r' || *t == '\n') {
            t++; /* a reply line never holds a raw line break */
        } else {
            buf_putc(out, *t++);
        }
    }
    buf_free(tmpl);
    return out;
}

/*
 * Send one reply (possibly several lines separated by "\n"); 4xx and 5xx
 * count as errors, and from smtpd_soft_error_limit errors on every reply
 * waits smtpd_error_sleep_time first, as Postfix does.
 */
static void smtpd_send(struct smtpd_state *st, const char *text)
{
    const char *p;
    struct buf *footed = NULL;

    if (text != buf_str(st->last))
        buf_set(st->last, text);
    p = text = buf_str(st->last);
    if (text[0] == '4' || text[0] == '5') {
        st->errors++;
        footed = smtpd_footer(st, text);
        if (footed)
            p = buf_str(footed);
    }
    /* Past the soft limit every reply waits, slowing down a bad client. */
    if (st->errors >= (unsigned) var_smtpd_soft_error_limit
        && var_smtpd_error_sleep_time > 0) {
        smtpd_flush(st);
        sleep((unsigned) var_smtpd_error_sleep_time);
    }
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t) (nl - p) : strlen(p);

        size_t skip = 0;

        /* smtpd_discard_ehlo_keywords = enhancedstatuscodes: plain replies. */
        if ((smtpd_discard_bits & EHLO_ENHANCED) && n > 4)
            skip = smtpd_enhanced_len(p + 4, n - 4);
        if (nl && n >= 4 && p[3] == ' ') {
            /* A multi-line reply: every line but the last has "-". */
            stream_write(st->s, p, 3);
            stream_putc(st->s, '-');
            stream_write(st->s, p + 4 + skip, n - 4 - skip);
        } else {
            stream_write(st->s, p, n < 4 ? n : 4);
            if (n > 4)
                stream_write(st->s, p + 4 + skip, n - 4 - skip);
        }
        stream_puts(st->s, "\r\n");
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    if (footed)
        buf_free(footed);
}

static void smtpd_reply(struct smtpd_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void smtpd_reply(struct smtpd_state *st, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_reset(st->reply);
    buf_vprintf(st->reply, fmt, ap);
    va_end(ap);
    smtpd_send(st, buf_str(st->reply));
}

/* A printable copy of peer data for a log line (static per call site). */
static const char *smtpd_safe(struct buf *out, const char *data, size_t len)
{
    buf_reset(out);
    str_printable(out, data, len);
    return buf_str(out);
}

/* ---- the client's names ------------------------------------------------- */

/*
 * Reverse lookup, then a forward lookup that must give the address back;
 * "unknown" otherwise (name_status 4 for a temporary failure, 5 else).
 */
static void smtpd_peer_names(struct smtpd_state *st)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[NI_MAXHOST];
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    int err;

    buf_set(st->name, "unknown");
    buf_set(st->reverse_name, "unknown");
    st->name_status = 5;
    st->reverse_status = 5;
    if (!var_smtpd_peername_lookup)
        return;
    if (getpeername(stream_fd(st->s), (struct sockaddr *) &ss, &sl) < 0
        || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return;
    err = getnameinfo((struct sockaddr *) &ss, sl, host, sizeof(host), NULL, 0,
                      NI_NAMEREQD);
    if (err != 0) {
        if (err == EAI_AGAIN)
            st->name_status = st->reverse_status = 4;
        return;
    }
    str_lower(host);
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) == 0) {
        /* A PTR record that holds an address is no name. */
        freeaddrinfo(res);
        msg_warn("numeric hostname: %s", host);
        return;
    }
    buf_set(st->reverse_name, host);
    st->reverse_status = 2;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    res = NULL;
    err = getaddrinfo(host, NULL, &hints, &res);
    if (err != 0) {
        st->name_status = err == EAI_AGAIN ? 4 : 5;
        msg_warn("hostname %s does not resolve to address %s%s", host,
                 buf_str(st->addr),
                 err == EAI_AGAIN ? ": temporary failure" : "");
        return;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        struct buf *a = buf_new(64);
        int same;

        same = sock_addr_text(ai->ai_addr, ai->ai_addrlen, a, NULL) == 0
               && strcmp(buf_str(a), buf_str(st->addr)) == 0;
        buf_free(a);
        if (same) {
            buf_set(st->name, host);
            st->name_status = 2;
            break;
        }
    }
    freeaddrinfo(res);
    if (st->name_status != 2)
        msg_warn("hostname %s does not resolve to address %s", host,
                 buf_str(st->addr));
}

/* ---- the engine's view of the session ----------------------------------- */

static void smtpd_client_sync(struct smtpd_state *st)
{
    struct smtpd_client *cl = &st->cl;

    cl->addr = buf_str(st->addr);
    cl->port = buf_str(st->port);
    cl->name = buf_str(st->name);
    cl->reverse_name = buf_str(st->reverse_name);
    cl->name_status = st->name_status;
    cl->reverse_status = st->reverse_status;
    cl->server_addr = buf_str(st->server_addr);
    cl->server_port = buf_str(st->server_port);
    cl->helo = st->have_helo ? buf_str(st->helo) : NULL;
    cl->protocol = st->esmtp ? "ESMTP" : "SMTP";
    cl->sender = st->in_mail ? buf_str(st->mail.addr) : NULL;
    cl->queue_id = st->cc ? buf_str(st->queue_id) : NULL;
    cl->sasl_method =
        smtpd_sasl_authenticated(&st->sasl) ? buf_str(st->sasl.method) : NULL;
    cl->sasl_username =
        smtpd_sasl_authenticated(&st->sasl) ? buf_str(st->sasl.username) : NULL;
    cl->sasl_sender = st->sasl.have_sender ? buf_str(st->sasl.sender) : NULL;
    cl->tls_protocol = st->tls_active ? st->tls.protocol : NULL;
    cl->tls_cipher = st->tls_active ? st->tls.cipher : NULL;
    cl->tls_bits = st->tls_active ? st->tls.cipher_bits : 0;
    cl->ccert_fingerprint = NULL;
    cl->rcpt_count = (unsigned) st->rcpt->argc;
    cl->instance = buf_str(st->instance);
}

/* Run one stage's check; RES_OK, or the engine's reply was sent: RES_FAIL. */
static int smtpd_checked(struct smtpd_state *st,
                         int (*fn)(struct smtpd_check *,
                                   const struct smtpd_client *,
                                   struct smtpd_check_result *))
{
    smtpd_client_sync(st);
    if (fn(smtpd_chk, &st->cl, &st->res) == SMTPD_CHECK_REPLY) {
        smtpd_send(st, buf_str(st->res.reply));
        return RES_FAIL;
    }
    return RES_OK;
}

/*
 * A check about all recipients (DATA, END-OF-MESSAGE). As Postfix, the
 * recipient is known to it (and logged as to=) only when there is one.
 */
static int smtpd_checked_all(struct smtpd_state *st,
                             int (*fn)(struct smtpd_check *,
                                       const struct smtpd_client *,
                                       struct smtpd_check_result *))
{
    int r;

    st->cl.recipient = st->rcpt->argc == 1 ? st->rcpt->argv[0] : NULL;
    r = smtpd_checked(st, fn);
    st->cl.recipient = NULL;
    return r;
}

/* ---- transactions ------------------------------------------------------- */

static void smtpd_new_instance(struct smtpd_state *st)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    buf_setf(st->instance, "%lx.%lx.%lx.%lu", (unsigned long) getpid(),
             (unsigned long) tv.tv_sec, (unsigned long) tv.tv_usec,
             ++smtpd_instance_seq);
}

/* Forget the transaction (RSET, HELO, after DATA); an open message is dropped.
 */
static void smtpd_tx_reset(struct smtpd_state *st)
{
    if (st->cc) {
        cleanup_close(st->cc);
        st->cc = NULL;
    }
    buf_reset(st->queue_id);
    st->in_mail = 0;
    buf_reset(st->mail.addr);
    argv_truncate(st->rcpt, 0);
    argv_truncate(st->orcpt, 0);
    st->bdat_active = 0;
    st->bdat_failed = 0;
    st->bdat_bytes = 0;
    st->cl.recipient = NULL;
    st->cl.size = 0;
    if (st->sasl.sender)
        smtpd_sasl_mail_reset(&st->sasl);
    if (smtpd_chk)
        smtpd_check_reset(smtpd_chk);
    smtpd_new_instance(st);
}

static long long smtpd_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long) ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* RFC 3848: ESMTP, ESMTPS, ESMTPA, ESMTPSA (or SMTP). */
static const char *smtpd_proto(struct smtpd_state *st)
{
    static const char *const names[] = {"ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA"};

    if (!st->esmtp)
        return "SMTP";
    return names[(st->tls_active ? 1 : 0)
                 + (smtpd_sasl_authenticated(&st->sasl) ? 2 : 0)];
}

/* Open the cleanup connection at the first accepted recipient. */
static int smtpd_open_cleanup(struct smtpd_state *st, struct buf *err)
{
    struct rec_writer *w;
    int flags = 0;
    int ret = 0;

    st->cc = cleanup_open(
        cleanup_flags_from_overrides(var_receive_override_options), err);
    if (st->cc == NULL)
        return -1;
    buf_set(st->queue_id, cleanup_queue_id(st->cc));
    {
        struct buf *l = buf_new(128);

        buf_printf(l, "%s: client=%s", buf_str(st->queue_id),
                   buf_str(st->namaddr));
        smtpd_sasl_log_fields(&st->sasl, l);
        msg_info("%s", buf_str(l));
        buf_free(l);
    }
    w = cleanup_writer(st->cc);
    if (st->mail.body == SMTPD_BODY_8BITMIME)
        flags |= REC_FLAG_8BITMIME;
    if (st->mail.smtputf8)
        flags |= REC_FLAG_SMTPUTF8;
    ret |= rec_put_int(w, REC_TIME, smtpd_now_us());
    if (flags)
        ret |= rec_put_int(w, REC_FLAGS, flags);
    ret |=
        rec_put(w, REC_SENDER, buf_str(st->mail.addr), buf_len(st->mail.addr));
    if (st->mail.ret)
        ret |= rec_put_int(w, REC_DSN_RET, st->mail.ret);
    if (buf_len(st->mail.envid))
        ret |= rec_puts(w, REC_DSN_ENVID, buf_str(st->mail.envid));
    ret |= rec_put_attr(w, "rewrite_context", "remote");
    ret |= rec_put_attr(w, "client_address", buf_str(st->addr));
    ret |= rec_put_attr(w, "client_name", buf_str(st->name));
    ret |= rec_put_attr(w, "reverse_client_name", buf_str(st->reverse_name));
    ret |= rec_put_attr(w, "client_port", buf_str(st->port));
    if (st->have_helo) {
        struct buf *h = buf_new(64);

        ret |=
            rec_put_attr(w, "helo_name",
                         smtpd_safe(h, buf_str(st->helo), buf_len(st->helo)));
        buf_free(h);
    }
    ret |= rec_put_attr(w, "protocol_name", smtpd_proto(st));
    if (smtpd_sasl_authenticated(&st->sasl)) {
        ret |= rec_put_attr(w, "sasl_method", buf_str(st->sasl.method));
        ret |= rec_put_attr(w, "sasl_username", buf_str(st->sasl.username));
    }
    if (st->sasl.have_sender)
        ret |= rec_put_attr(w, "sasl_sender", buf_str(st->sasl.sender));
    if (ret != 0) {
        buf_set(err, "cannot write to cleanup");
        cleanup_close(st->cc);
        st->cc = NULL;
        return -1;
    }
    return 0;
}

/* The date as Postfix writes it in headers. */
static void smtpd_date(struct buf *out)
{
    time_t now = time(NULL);
    struct tm tm;
    char text[64];

    localtime_r(&now, &tm);
    if (strftime(text, sizeof(text), "%a, %e %b %Y %H:%M:%S %z (%Z)", &tm) == 0)
        text[0] = 0;
    buf_puts(out, text);
}

static int smtpd_put_line(struct smtpd_state *st, const char *text)
{
    return cleanup_put_text(st->cc, text, strlen(text), 0);
}

/* The Received: header, Postfix's shape. */
static int smtpd_received(struct smtpd_state *st)
{
    struct buf *l = buf_new(256);
    struct buf *h = buf_new(64);
    const char *proto;
    int ret = 0;

    smtpd_safe(h, buf_str(st->helo), buf_len(st->helo));
    buf_printf(l, "Received: from %s (%s [%s%s])",
               st->have_helo ? buf_str(h) : buf_str(st->name),
               buf_str(st->name), strchr(buf_str(st->addr), ':') ? "IPv6:" : "",
               buf_str(st->addr));
    ret |= smtpd_put_line(st, buf_str(l));
    if (st->tls_active && var_smtpd_tls_received_header) {
        buf_set(l, "\t(using ");
        tls_info_summary(l, &st->tls);
        buf_reset(h);
        tls_info_kex(h, &st->tls);
        if (buf_len(h)) {
            /* Postfix folds the key exchange onto its own line. */
            ret |= smtpd_put_line(st, buf_str(l));
            buf_setf(l, "\t %s", buf_str(h));
        }
        buf_puts(l, ")");
        ret |= smtpd_put_line(st, buf_str(l));
        if (!var_smtpd_tls_ask_ccert) {
            buf_set(l, "\t(No client certificate requested)");
        } else if (!st->tls.peer_has_cert) {
            buf_set(l, "\t(Client did not present a certificate)");
        } else {
            buf_set(l, "\t(Client CN \"");
            str_printable(l, st->tls.peer_cn, strlen(st->tls.peer_cn));
            buf_puts(l, "\", Issuer \"");
            str_printable(l, st->tls.peer_issuer_cn,
                          strlen(st->tls.peer_issuer_cn));
            buf_printf(l, "\" (%s))",
                       st->tls.peer_trusted ? "verified OK" : "not verified");
        }
        ret |= smtpd_put_line(st, buf_str(l));
    }
    if (var_smtpd_sasl_authenticated_header
        && smtpd_sasl_authenticated(&st->sasl)) {
        buf_set(l, "\t(Authenticated sender: ");
        buf_puts(l, buf_str(st->sasl.username));
        buf_puts(l, ")");
        ret |= smtpd_put_line(st, buf_str(l));
    }
    proto = smtpd_proto(st);
    buf_setf(l, "\tby %s (%s) with %s id %s", var_myhostname, var_mail_name,
             proto, buf_str(st->queue_id));
    if (st->rcpt->argc == 1) {
        ret |= smtpd_put_line(st, buf_str(l));
        buf_set(l, "\tfor <");
        buf_reset(h);
        addr_quote(h, st->rcpt->argv[0], strlen(st->rcpt->argv[0]));
        str_printable(l, buf_str(h), buf_len(h));
        buf_puts(l, ">; ");
    } else {
        buf_puts(l, ";");
        ret |= smtpd_put_line(st, buf_str(l));
        buf_set(l, "\t");
    }
    smtpd_date(l);
    ret |= smtpd_put_line(st, buf_str(l));
    buf_free(l);
    buf_free(h);
    return ret;
}

/*
 * The envelope's recipients, the access actions so far, MESSAGE, the
 * PREPEND headers and Received:. 0, or -1 when cleanup went away.
 */
static int smtpd_start_content(struct smtpd_state *st)
{
    const struct smtpd_check_actions *act = smtpd_check_actions(smtpd_chk);
    struct rec_writer *w = cleanup_writer(st->cc);
    int ret = 0;
    size_t i;

    if (act && buf_len(act->redirect)) {
        ret |= rec_put_rcpt(w, REC_RCPT_PENDING, 0, buf_str(act->redirect),
                            buf_str(act->redirect), "");
    } else {
        for (i = 0; i < st->rcpt->argc; i++)
            ret |= rec_put_rcpt(w, REC_RCPT_PENDING, st->notify[i],
                                st->rcpt->argv[i], st->rcpt->argv[i],
                                st->orcpt->argv[i]);
    }
    if (act && buf_len(act->hold))
        ret |= rec_put_int(w, REC_FLAGS, REC_FLAG_HOLD);
    if (act && buf_len(act->filter))
        ret |= rec_put_attr(w, CLEANUP_ATTR_FILTER, buf_str(act->filter));
    ret |= rec_put(w, REC_MESSAGE, "", 0);
    if (act && buf_len(act->prepend)) {
        const char *p = buf_str(act->prepend);

        while (*p) {
            size_t n = strcspn(p, "\n");

            ret |= cleanup_put_text(st->cc, p, n, 0);
            p += n;
            if (*p == '\n')
                p++;
        }
    }
    ret |= smtpd_received(st);
    st->msg_bytes = 0;
    st->too_big = 0;
    st->write_error = ret != 0;
    st->pending_cr = 0;
    st->first_piece = 1;
    st->bare_lf_seen = 0;
    st->prev_crlf = 1; /* the DATA command ended the line before */
    buf_reset(st->piece);
    return ret != 0 ? -1 : 0;
}

/* One piece of content (a whole line unless PARTIAL). */
static void smtpd_emit(struct smtpd_state *st, int partial)
{
    st->msg_bytes += (long long) buf_len(st->piece) + (partial ? 0 : 2);
    if (var_message_size_limit > 0 && st->msg_bytes > var_message_size_limit)
        st->too_big = 1;
    if (!st->too_big && !st->write_error
        && cleanup_put_text(st->cc, buf_str(st->piece), buf_len(st->piece),
                            partial)
               < 0)
        st->write_error = 1;
    buf_reset(st->piece);
    st->first_piece = !partial;
}

/*
 * Feed one content byte. DOT: DATA's dot-stuffing. Returns 1 when the
 * end-of-data line "." was seen, else 0.
 */
static int smtpd_feed(struct smtpd_state *st, int c, int dot)
{
    int crlf = 0;
    int prev_crlf;

    if (st->pending_cr) {
        st->pending_cr = 0;
        if (c == '\n') {
            crlf = 1;
            goto line_end;
        }
        buf_putc(st->piece, '\r');
    }
    if (c == '\r') {
        st->pending_cr = 1;
        return 0;
    }
    if (c == '\n') {
        st->bare_lf_seen = 1;
        goto line_end;
    }
    buf_putc(st->piece, c);
    if (buf_len(st->piece) >= (size_t) var_line_length_limit) {
        if (dot && st->first_piece && buf_str(st->piece)[0] == '.') {
            memmove(st->piece->data, st->piece->data + 1, buf_len(st->piece));
            buf_truncate(st->piece, buf_len(st->piece) - 1);
        }
        smtpd_emit(st, 1);
    }
    return 0;
line_end:
    prev_crlf = st->prev_crlf;
    st->prev_crlf = crlf;
    if (dot && st->first_piece && buf_len(st->piece) > 0
        && buf_str(st->piece)[0] == '.') {
        /* Past "no", only CRLF "." CRLF ends the data (SMTP smuggling). */
        if (buf_len(st->piece) == 1
            && (st->bare_lf == BARE_LF_ALLOW || (crlf && prev_crlf)))
            return 1;
        memmove(st->piece->data, st->piece->data + 1, buf_len(st->piece));
        buf_truncate(st->piece, buf_len(st->piece) - 1);
    }
    smtpd_emit(st, 0);
    return 0;
}

/*
 * smtpd_forbid_bare_newline = reject: Postfix's reply and its log line
 * (which, unlike other rejects, does not repeat the reply).
 */
static void smtpd_bare_lf_reject(struct smtpd_state *st)
{
    struct buf *l = buf_new(128);
    struct buf *h = buf_new(64);

    smtpd_reply(st, "%d 5.5.2 %s Error: bare <LF> received",
                var_smtpd_forbid_bare_newline_reject_code, var_myhostname);
    buf_printf(l, "%s: reject: %s from %s: bare <LF> received;",
               buf_len(st->queue_id) ? buf_str(st->queue_id) : "NOQUEUE",
               st->where, buf_str(st->namaddr));
    if (st->in_mail) {
        buf_puts(l, " from=<");
        str_printable(l, buf_str(st->mail.addr), buf_len(st->mail.addr));
        buf_puts(l, ">");
    }
    if (st->rcpt->argc > 0) {
        const char *r = st->rcpt->argv[st->rcpt->argc - 1];

        buf_puts(l, " to=<");
        str_printable(l, r, strlen(r));
        buf_puts(l, ">");
    }
    buf_printf(l, " proto=%s", st->esmtp ? "ESMTP" : "SMTP");
    if (st->have_helo)
        buf_printf(l, " helo=<%s>",
                   smtpd_safe(h, buf_str(st->helo), buf_len(st->helo)));
    msg_info("%s", buf_str(l));
    buf_free(l);
    buf_free(h);
}

/* Postfix names the BDAT message's size in its reply. */
static void smtpd_queued_reply(struct smtpd_state *st)
{
    if (st->bdat_active)
        smtpd_reply(st, "250 2.0.0 Ok: %lld bytes queued as %s", st->bdat_bytes,
                    buf_str(st->queue_id));
    else
        smtpd_reply(st, "250 2.0.0 Ok: queued as %s", buf_str(st->queue_id));
}

/*
 * The content is in: end-of-data checks and actions, then cleanup's
 * verdict. Sends the reply and resets the transaction.
 */
static int smtpd_finish_message(struct smtpd_state *st)
{
    const struct smtpd_check_actions *act;
    struct buf *reason = buf_new(64);
    int status;
    int result = RES_FAIL;

    st->where = "END-OF-MESSAGE";
    if (st->too_big) {
        smtpd_reply(st, st->bdat_active
                            ? "552 5.3.4 Chunk exceeds message size limit"
                            : "552 5.3.4 Error: message file too big");
        goto out;
    }
    if (st->bare_lf == BARE_LF_REJECT && st->bare_lf_seen) {
        smtpd_bare_lf_reject(st);
        goto out;
    }
    if (st->write_error
        || rec_put(cleanup_writer(st->cc), REC_XTRACTED, "", 0) < 0) {
        msg_warn("%s: lost the connection to cleanup", buf_str(st->queue_id));
        smtpd_reply(st, "451 4.3.0 Error: queue file write error");
        goto out;
    }
    st->cl.size = (long) st->msg_bytes;
    if (smtpd_checked_all(st, smtpd_check_eod) != RES_OK)
        goto out;
    act = smtpd_check_actions(smtpd_chk);
    if (act && buf_len(act->discard)) {
        /* Accepted and dropped, as Postfix does. */
        smtpd_queued_reply(st);
        result = RES_OK;
        goto out;
    }
    if (act && buf_len(act->hold)
        && rec_put_int(cleanup_writer(st->cc), REC_FLAGS, REC_FLAG_HOLD) < 0) {
        smtpd_reply(st, "451 4.3.0 Error: queue file write error");
        goto out;
    }
    status = cleanup_finish(st->cc, reason);
    if (status < 0) {
        msg_warn("%s: %s", buf_str(st->queue_id), buf_str(reason));
        smtpd_reply(st, "451 4.3.0 Error: queue file write error");
    } else if (status == CLEANUP_STAT_OK) {
        smtpd_queued_reply(st);
        result = RES_OK;
    } else {
        struct buf *r = buf_new(64);

        cleanup_stat_reply(r, status, buf_str(reason));
        smtpd_send(st, buf_str(r));
        buf_free(r);
    }
out:
    buf_free(reason);
    smtpd_tx_reset(st);
    return result;
}

/* ---- commands ----------------------------------------------------------- */

static int smtpd_opts_dsn(void)
{
    return !(smtpd_discard_bits & EHLO_DSN);
}

static void smtpd_cmd_opts(struct smtpd_cmd_opts *o)
{
    o->strict_rfc821 = var_strict_rfc821_envelopes;
    o->smtputf8 = var_smtputf8_enable && !(smtpd_discard_bits & EHLO_SMTPUTF8);
    o->dsn = smtpd_opts_dsn();
    o->auth = smtpd_sasl_enabled() && !(smtpd_discard_bits & EHLO_AUTH);
    o->size_limit = var_message_size_limit;
}

static int smtpd_offer_tls(struct smtpd_state *st)
{
    return smtpd_tls != NULL && !st->tls_active
           && smtpd_tls_level >= TLS_LEVEL_MAY
           && !(smtpd_discard_bits & EHLO_STARTTLS);
}

static int cmd_helo(struct smtpd_state *st, const char *arg, size_t len,
                    int esmtp)
{
    if (len == 0) {
        smtpd_reply(st, "501 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
        return RES_FAIL;
    }
    smtpd_tx_reset(st);
    buf_reset(st->helo);
    buf_append(st->helo, arg, len);
    st->have_helo = 1;
    st->esmtp = esmtp;
    if (smtpd_checked(st, smtpd_check_helo) != RES_OK) {
        st->have_helo = 0;
        return RES_FAIL;
    }
    if (!esmtp) {
        smtpd_reply(st, "250 %s", var_myhostname);
        return RES_OK;
    }
    buf_reset(st->reply);
    buf_printf(st->reply, "250 %s", var_myhostname);
#define KW(bit, text)                                                          \
    do {                                                                       \
        if (!(smtpd_discard_bits & (bit)))                                     \
            buf_printf(st->reply, "\n250 %s", text);                           \
    } while (0)
    KW(EHLO_PIPELINING, "PIPELINING");
    if (!(smtpd_discard_bits & EHLO_SIZE)) {
        if (var_message_size_limit > 0)
            buf_printf(st->reply, "\n250 SIZE %ld", var_message_size_limit);
        else
            buf_puts(st->reply, "\n250 SIZE");
    }
    if (!var_disable_vrfy_command)
        KW(EHLO_VRFY, "VRFY");
    KW(EHLO_ETRN, "ETRN");
    if (smtpd_offer_tls(st))
        buf_puts(st->reply, "\n250 STARTTLS");
    if (!(smtpd_discard_bits & EHLO_AUTH))
        smtpd_sasl_ehlo(&st->sasl, st->tls_active, st->reply);
    KW(EHLO_ENHANCED, "ENHANCEDSTATUSCODES");
    KW(EHLO_8BITMIME, "8BITMIME");
    KW(EHLO_DSN, "DSN");
    if (var_smtputf8_enable)
        KW(EHLO_SMTPUTF8, "SMTPUTF8");
    KW(EHLO_CHUNKING, "CHUNKING");
#undef KW
    smtpd_send(st, buf_str(st->reply));
    return RES_OK;
}

static int cmd_mail(struct smtpd_state *st, const char *arg, size_t len)
{
    struct smtpd_cmd_opts o;

    if (var_smtpd_helo_required && !st->have_helo) {
        smtpd_reply(st, "503 5.5.1 Error: send HELO/EHLO first");
        return RES_FAIL;
    }
    if (st->in_mail) {
        smtpd_reply(st, "503 5.5.1 Error: nested MAIL command");
        return RES_FAIL;
    }
    if (smtpd_anvil_mail(st->reply) < 0) {
        smtpd_send(st, buf_str(st->reply));
        return RES_FAIL;
    }
    smtpd_cmd_opts(&o);
    if (smtpd_cmd_mail(arg, len, &o, &st->mail, st->reply) < 0) {
        smtpd_send(st, buf_str(st->reply));
        return RES_FAIL;
    }
    st->in_mail = 1;
    st->bdat_failed = 0;
    st->cl.size = st->mail.size > 0 ? st->mail.size : 0;
    smtpd_sasl_mail(&st->sasl, buf_str(st->mail.auth));
    if (smtpd_checked(st, smtpd_check_mail) != RES_OK) {
        st->in_mail = 0;
        smtpd_sasl_mail_reset(&st->sasl);
        smtpd_check_reset(smtpd_chk);
        return RES_FAIL;
    }
    smtpd_reply(st, "250 2.1.0 Ok");
    return RES_OK;
}

static int cmd_rcpt(struct smtpd_state *st, const char *arg, size_t len)
{
    struct smtpd_cmd_opts o;
    struct smtpd_rcpt r;
    int result = RES_FAIL;

    if (!st->in_mail) {
        smtpd_reply(st, "503 5.5.1 Error: need MAIL command");
        return RES_FAIL;
    }
    if (st->rcpt->argc >= (size_t) var_smtpd_recipient_limit) {
        smtpd_reply(st, "452 4.5.3 Error: too many recipients");
        return RES_FAIL;
    }
    if (smtpd_anvil_rcpt(st->reply) < 0) {
        smtpd_send(st, buf_str(st->reply));
        return RES_FAIL;
    }
    smtpd_cmd_opts(&o);
    smtpd_rcpt_init(&r);
    if (smtpd_cmd_rcpt(arg, len, &o, &r, st->reply) < 0) {
        smtpd_send(st, buf_str(st->reply));
        goto out;
    }
    st->cl.recipient = buf_str(r.addr);
    if (smtpd_checked(st, smtpd_check_rcpt) != RES_OK) {
        st->cl.recipient = NULL;
        goto out;
    }
    st->cl.recipient = NULL;
    if (st->cc == NULL) {
        struct buf *err = buf_new(64);

        if (smtpd_open_cleanup(st, err) < 0) {
            msg_warn("cannot hand a message to cleanup: %s", buf_str(err));
            smtpd_reply(st, "451 4.3.0 Error: queue file write error");
            buf_free(err);
            goto out;
        }
        buf_free(err);
    }
    if (st->rcpt->argc >= st->notify_size) {
        st->notify_size = st->notify_size ? st->notify_size * 2 : 16;
        st->notify =
            mem_realloc(st->notify, st->notify_size * sizeof(*st->notify));
    }
    st->notify[st->rcpt->argc] = r.notify;
    argv_add(st->rcpt, buf_str(r.addr));
    argv_add(st->orcpt, buf_str(r.orcpt));
    smtpd_reply(st, "250 2.1.5 Ok");
    result = RES_OK;
out:
    smtpd_rcpt_free(&r);
    return result;
}

/*
 * smtpd_per_request_deadline = yes: the content must arrive within
 * smtpd_timeout, and each N bytes received move that deadline N /
 * smtpd_min_data_rate seconds later (never past smtpd_timeout from now).
 * Without it every read waits up to smtpd_timeout.
 */
static void smtpd_deadline_start(struct smtpd_state *st)
{
    st->deadline_us = smtpd_now_us() + (long long) var_smtpd_timeout * 1000000;
    st->deadline_at = 0;
}

static void smtpd_deadline_move(struct smtpd_state *st, long long received)
{
    long long now;
    long long cap;
    long long left;

    if (!var_smtpd_per_request_deadline)
        return;
    now = smtpd_now_us();
    if (var_smtpd_min_data_rate > 0 && received > st->deadline_at)
        st->deadline_us +=
            (received - st->deadline_at) * 1000000LL / var_smtpd_min_data_rate;
    st->deadline_at = received;
    cap = now + (long long) var_smtpd_timeout * 1000000;
    if (st->deadline_us > cap)
        st->deadline_us = cap;
    left = (st->deadline_us - now) / 1000;
    stream_set_timeout_ms(st->s, left > 0 ? (long) left : 1);
}

/* Read error while receiving content: log it Postfix's way. */
static int smtpd_content_lost(struct smtpd_state *st, const char *what)
{
    if (stream_reason(st->s) == STREAM_TIMEOUT) {
        smtpd_reply(st, "421 4.4.2 %s Error: timeout exceeded", var_myhostname);
        smtpd_flush(st);
        msg_info("timeout after %s (%lld bytes) from %s", what, st->msg_bytes,
                 buf_str(st->namaddr));
    } else {
        msg_info("lost connection after %s (%lld bytes) from %s", what,
                 st->msg_bytes, buf_str(st->namaddr));
    }
    smtpd_tx_reset(st);
    return RES_END;
}

/* Checks before content (DATA or the first BDAT): RES_OK or RES_FAIL (replied).
 */
static int smtpd_before_content(struct smtpd_state *st)
{
    if (st->rcpt->argc == 0) {
        if (!st->in_mail)
            smtpd_reply(st, "503 5.5.1 Error: need RCPT command");
        else
            smtpd_reply(st, "554 5.5.1 Error: no valid recipients");
        return RES_FAIL;
    }
    if (smtpd_checked_all(st, smtpd_check_data) != RES_OK)
        return RES_FAIL;
    if (smtpd_start_content(st) < 0) {
        msg_warn("%s: lost the connection to cleanup", buf_str(st->queue_id));
        smtpd_reply(st, "451 4.3.0 Error: queue file write error");
        smtpd_tx_reset(st);
        return RES_FAIL;
    }
    return RES_OK;
}

static int cmd_data(struct smtpd_state *st, size_t len)
{
    int c;

    if (st->rcpt->argc == 0)
        return smtpd_before_content(st); /* "need RCPT" or "no valid" */
    if (len != 0) {
        smtpd_reply(st, "501 5.5.4 Syntax: DATA");
        return RES_FAIL;
    }
    if (st->bdat_active) {
        smtpd_reply(st, "503 5.5.1 Error: DATA after BDAT");
        return RES_FAIL;
    }
    if (stream_pending(st->s) > 0)
        st->cl.pipelined = 1; /* content sent before the 354 */
    if (smtpd_before_content(st) != RES_OK)
        return RES_FAIL;
    smtpd_reply(st, "354 End data with <CR><LF>.<CR><LF>");
    smtpd_flush(st);
    smtpd_deadline_start(st);
    for (;;) {
        if (stream_pending(st->s) == 0)
            smtpd_deadline_move(st, st->msg_bytes);
        if ((c = stream_getc(st->s)) < 0)
            return smtpd_content_lost(st, "DATA");
        if (smtpd_feed(st, c, 1))
            break;
    }
    stream_set_timeout(st->s, (int) var_smtpd_timeout);
    return smtpd_finish_message(st);
}

/* Throw away LEN bytes of a BDAT chunk. 0, or -1 on a read error. */
static int smtpd_bdat_skip(struct smtpd_state *st, long long len)
{
    char tmp[8192];

    while (len > 0) {
        ssize_t n = stream_read_some(
            st->s, tmp,
            len > (long long) sizeof(tmp) ? sizeof(tmp) : (size_t) len);

        if (n <= 0)
            return -1;
        len -= n;
    }
    return 0;
}

static int cmd_bdat(struct smtpd_state *st, const char *arg, size_t len)
{
    long long size;
    long long chunk;
    int last;
    char tmp[8192];
    int ok;

    if (smtpd_discard_bits & EHLO_CHUNKING) {
        /* The chunk that follows cannot be told from commands: hang up. */
        smtpd_reply(st, "521 5.5.1 Error: command not implemented");
        return RES_END;
    }
    if (smtpd_cmd_bdat(arg, len, &size, &last, st->reply) < 0) {
        /* The chunk's length is unknown: the rest cannot be skipped. */
        smtpd_send(st, buf_str(st->reply));
        msg_warn("%s: malformed BDAT command syntax from %s: %s",
                 buf_len(st->queue_id) ? buf_str(st->queue_id) : "NOQUEUE",
                 buf_str(st->namaddr),
                 smtpd_safe(st->verb, buf_str(st->line), buf_len(st->line)));
        return RES_END;
    }
    if (!st->bdat_active && !st->bdat_failed) {
        if (smtpd_before_content(st) != RES_OK) {
            /* This chunk and the rest of the message are thrown away. */
            buf_set(st->bdat_reply, buf_str(st->last));
            if (smtpd_bdat_skip(st, size) < 0)
                return smtpd_content_lost(st, "BDAT");
            if (last)
                smtpd_tx_reset(st);
            else
                st->bdat_failed = 1;
            return RES_FAIL;
        }
        st->bdat_active = 1;
    }
    chunk = size;
    st->bdat_bytes += size;
    if (st->bdat_failed) {
        if (smtpd_bdat_skip(st, size) < 0)
            return smtpd_content_lost(st, "BDAT");
        smtpd_reply(st, "551 5.0.0 Discarded %lld bytes after earlier error",
                    size);
        if (last)
            smtpd_tx_reset(st);
        return RES_FAIL;
    }
    if (var_message_size_limit > 0 && st->bdat_bytes > var_message_size_limit) {
        /* As Postfix: the chunk is thrown away unread, and the rest too. */
        if (smtpd_bdat_skip(st, size) < 0)
            return smtpd_content_lost(st, "BDAT");
        smtpd_reply(st, "552 5.3.4 Chunk exceeds message size limit");
        if (last)
            smtpd_tx_reset(st);
        else
            st->bdat_failed = 1;
        return RES_FAIL;
    }
    smtpd_deadline_start(st);
    while (size > 0) {
        ssize_t n;
        ssize_t i;

        smtpd_deadline_move(st, chunk - size);
        n = stream_read_some(st->s, tmp,
                             size > (long long) sizeof(tmp) ? sizeof(tmp)
                                                            : (size_t) size);
        if (n <= 0)
            return smtpd_content_lost(st, "BDAT");
        for (i = 0; i < n; i++)
            (void) smtpd_feed(st, (unsigned char) tmp[i], 0);
        size -= n;
    }
    stream_set_timeout(st->s, (int) var_smtpd_timeout);
    if (!last) {
        if (st->too_big) {
            /* Postfix stops at once when the message grew too large. */
            smtpd_reply(st, "552 5.3.4 Chunk exceeds message size limit");
            st->bdat_failed = 1;
            return RES_FAIL;
        }
        smtpd_reply(st, "250 2.0.0 Ok: %lld bytes", chunk);
        return RES_OK;
    }
    /* A last line without its line ending still counts. */
    if (st->pending_cr) {
        st->pending_cr = 0;
        buf_putc(st->piece, '\r');
    }
    if (buf_len(st->piece) > 0 || !st->first_piece)
        smtpd_emit(st, 0);
    ok = smtpd_finish_message(st);
    return ok;
}

static int cmd_starttls(struct smtpd_state *st, size_t len)
{
    struct buf *err;
    size_t junk;

    if (len != 0) {
        smtpd_reply(st, "501 5.5.4 Syntax: STARTTLS");
        return RES_FAIL;
    }
    if (st->tls_active) {
        smtpd_reply(st, "554 5.5.1 Error: TLS already active");
        return RES_FAIL;
    }
    if (!smtpd_offer_tls(st)) {
        smtpd_reply(st, "502 5.5.1 Error: command not implemented");
        return RES_FAIL;
    }
    /* As Postfix, also inside a transaction: TLS success forgets it. */
    if (smtpd_anvil_tls_check(0, st->reply) < 0) {
        smtpd_send(st, buf_str(st->reply));
        return RES_FAIL;
    }
    smtpd_reply(st, "220 2.0.0 Ready to start TLS");
    if (stream_flush(st->s) < 0)
        return RES_END;
    /* Plain text sent after STARTTLS must never count as protected. */
    junk = stream_discard_input(st->s);
    if (junk > 0)
        msg_info("discarding %zu bytes of plaintext sent after STARTTLS by %s",
                 junk, buf_str(st->namaddr));
    err = buf_new(64);
    if (tls_server_start(smtpd_tls, st->s, (int) var_smtpd_starttls_timeout,
                         buf_str(st->namaddr), &st->tls, err)
        < 0) {
        /* lib/tls.c logged "SSL_accept error from ...: REASON". */
        msg_info("lost connection after STARTTLS from %s",
                 buf_str(st->namaddr));
        buf_free(err);
        return RES_END;
    }
    buf_free(err);
    st->tls_active = 1;
    smtpd_anvil_tls_done(st->tls.reused);
    /* RFC 3207: forget everything learned before TLS, a login too. */
    smtpd_tx_reset(st);
    smtpd_sasl_session_tls(&st->sasl);
    st->have_helo = 0;
    st->esmtp = 0;
    buf_reset(st->helo);
    return RES_OK;
}

static int cmd_vrfy(struct smtpd_state *st, const char *arg, size_t len)
{
    struct addr_arg *a;
    const char *why;
    int ret;

    if (var_disable_vrfy_command) {
        smtpd_reply(st, "502 5.5.1 VRFY command is disabled");
        return RES_FAIL;
    }
    if (len == 0) {
        smtpd_reply(st, "501 5.5.4 Syntax: VRFY address [SMTPUTF8]");
        return RES_FAIL;
    }
    /* "VRFY address SMTPUTF8" (RFC 6531): the reply names the address. */
    if (var_smtputf8_enable && len > 9
        && strncasecmp(arg + len - 8, "SMTPUTF8", 8) == 0
        && (arg[len - 9] == ' ' || arg[len - 9] == '\t')) {
        len -= 9;
        while (len > 0 && (arg[len - 1] == ' ' || arg[len - 1] == '\t'))
            len--;
    }
    a = addr_arg_new();
    if (addr_parse_arg(a, arg, len, ADDR_PARSE_BARE | ADDR_PARSE_NO_NULL, &why)
            < 0
        || buf_len(a->addr) == 0 || a->nparams > 0
        || memchr(buf_str(a->addr), 0, buf_len(a->addr))) {
        addr_arg_free(a);
        smtpd_reply(st, "501 5.1.3 Bad recipient address syntax");
        return RES_FAIL;
    }
    st->cl.recipient = buf_str(a->addr);
    ret = smtpd_checked(st, smtpd_check_vrfy);
    st->cl.recipient = NULL;
    addr_arg_free(a);
    if (ret != RES_OK)
        return RES_FAIL;
    buf_reset(st->reply);
    buf_puts(st->reply, "252 2.0.0 ");
    str_printable(st->reply, arg, len);
    smtpd_send(st, buf_str(st->reply));
    return RES_OK;
}

static int cmd_etrn(struct smtpd_state *st, const char *arg, size_t len)
{
    struct buf *req;
    int ret;

    /* Postfix's ETRN replies (RFC 1985) carry no enhanced status codes. */
    if (var_smtpd_helo_required && !st->have_helo) {
        smtpd_reply(st, "503 Error: send HELO/EHLO first");
        return RES_FAIL;
    }
    if (st->in_mail) {
        smtpd_reply(st, "503 Error: MAIL transaction in progress");
        return RES_FAIL;
    }
    if (len == 0 || memchr(arg, ' ', len) || memchr(arg, '\t', len)) {
        smtpd_reply(st, "500 Syntax: ETRN domain");
        return RES_FAIL;
    }
    if (arg[0] == '@' || arg[0] == '#') {
        arg++;
        len--;
    }
    if (!smtpd_cmd_domain_ok(arg, len) || memchr(arg, '@', len)) {
        smtpd_reply(st, "501 Error: invalid parameter syntax");
        return RES_FAIL;
    }
    req = buf_new(64);
    buf_append(req, arg, len);
    st->cl.etrn_domain = buf_str(req);
    ret = smtpd_checked(st, smtpd_check_etrn);
    st->cl.etrn_domain = NULL;
    if (ret != RES_OK) {
        buf_free(req);
        return RES_FAIL;
    }
    buf_reset(req);
    buf_putc(req, QMGR_REQ_RETRY_SITE);
    buf_append(req, arg, len);
    if (mail_trigger(MAIL_CLASS_PUBLIC, MAIL_SERVICE_QMGR, buf_str(req),
                     buf_len(req))
        < 0) {
        msg_warn("ETRN: cannot reach the queue manager: %s",
                 mail_proto_error());
        smtpd_reply(st, "458 4.3.0 Unable to queue messages");
        buf_free(req);
        return RES_FAIL;
    }
    buf_free(req);
    smtpd_reply(st, "250 Queuing started");
    return RES_OK;
}

/* ---- AUTH (smtpd_sasl.c runs the exchange) ------------------------------ */

static void smtpd_sasl_reply(void *ctx, const char *text)
{
    smtpd_send(ctx, text);
}

static int smtpd_sasl_read(void *ctx, struct buf *line, size_t limit)
{
    struct smtpd_state *st = ctx;

    smtpd_flush(st);
    if (stream_read_line(st->s, line, limit) >= 0)
        return SMTPD_SASL_READ_OK;
    if (stream_reason(st->s) == STREAM_TOOLONG)
        return SMTPD_SASL_READ_TOOLONG;
    if (stream_reason(st->s) == STREAM_TIMEOUT) {
        smtpd_reply(st, "421 4.4.2 %s Error: timeout exceeded", var_myhostname);
        smtpd_flush(st);
        msg_info("timeout after %s from %s", st->where, buf_str(st->namaddr));
    } else {
        msg_info("lost connection after %s from %s", st->where,
                 buf_str(st->namaddr));
    }
    return SMTPD_SASL_READ_END;
}

static int smtpd_sasl_rate(void *ctx, struct buf *reply)
{
    (void) ctx;
    return smtpd_anvil_auth(reply);
}

static void smtpd_sasl_pause(void *ctx, unsigned seconds)
{
    if (seconds == 0)
        return;
    smtpd_flush(ctx);
    sleep(seconds);
}

static int cmd_auth(struct smtpd_state *st, const char *arg, size_t len)
{
    static const struct smtpd_sasl_io io_ops = {
        .reply = smtpd_sasl_reply,
        .read_line = smtpd_sasl_read,
        .rate_check = smtpd_sasl_rate,
        .pause = smtpd_sasl_pause,
    };
    struct smtpd_sasl_io io = io_ops;
    struct smtpd_sasl_cmd cmd;
    int r;

    io.ctx = st;
    memset(&cmd, 0, sizeof(cmd));
    cmd.namaddr = buf_str(st->namaddr);
    cmd.tls_active = st->tls_active;
    cmd.tls_offered = smtpd_offer_tls(st);
    cmd.in_mail = st->in_mail;
    cmd.need_helo = var_smtpd_helo_required && !st->have_helo;
    cmd.discarded = (smtpd_discard_bits & EHLO_AUTH) != 0;
    r = smtpd_sasl_auth_cmd(&st->sasl, &io, &cmd, arg, len);
    return r == SMTPD_SASL_OK    ? RES_OK
           : r == SMTPD_SASL_END ? RES_END
                                 : RES_FAIL;
}

/* ---- the session -------------------------------------------------------- */

/* NOOP, VRFY, ETRN and RSET past smtpd_junk_command_limit count as errors. */
static void smtpd_junk(struct smtpd_state *st)
{
    if (st->junk++ >= (unsigned) var_smtpd_junk_command_limit)
        st->errors++;
}

/*
 * Once per session, as Postfix: input sent ahead of the reply to a command
 * that RFC 2920 allows only last in a group, or by a client that did not
 * say EHLO. The pending text is logged with \r, \n and other controls
 * escaped.
 */
static void smtpd_log_pipelining(struct smtpd_state *st, int c)
{
    const char *data;
    size_t n = stream_peek(st->s, &data);
    struct buf *t;
    size_t i;

    if (st->ill_pipelining || n == 0)
        return;
    if (st->esmtp && c != C_HELO && c != C_EHLO && c != C_STARTTLS
        && c != C_AUTH && c != C_DATA && c != C_NOOP && c != C_VRFY
        && c != C_ETRN && c != C_QUIT)
        return;
    st->ill_pipelining = 1;
    if (n > 100)
        n = 100;
    t = buf_new(n * 2 + 8);
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) data[i];

        if (ch == '\r')
            buf_puts(t, "\\r");
        else if (ch == '\n')
            buf_puts(t, "\\n");
        else if (ch == '\t')
            buf_puts(t, "\\t");
        else if (ch < 0x20 || ch >= 0x7f || ch == '\\')
            buf_printf(t, "\\%03o", ch);
        else
            buf_putc(t, (int) ch);
    }
    msg_info("improper command pipelining after %s from %s: %s", st->where,
             buf_str(st->namaddr), buf_str(t));
    buf_free(t);
}

/* Commands an encrypt-level server takes before STARTTLS. */
static int smtpd_pre_tls_ok(int c)
{
    return c == C_HELO || c == C_EHLO || c == C_STARTTLS || c == C_NOOP
           || c == C_RSET || c == C_QUIT;
}

static int smtpd_command(struct smtpd_state *st)
{
    static const struct {
        const char *verb;
        int counter;
    } verbs[] = {
        {"HELO", C_HELO}, {"EHLO", C_EHLO}, {"STARTTLS", C_STARTTLS},
        {"AUTH", C_AUTH}, {"MAIL", C_MAIL}, {"RCPT", C_RCPT},
        {"DATA", C_DATA}, {"BDAT", C_BDAT}, {"RSET", C_RSET},
        {"NOOP", C_NOOP}, {"VRFY", C_VRFY}, {"ETRN", C_ETRN},
        {"QUIT", C_QUIT},
    };
    const char *arg;
    size_t len;
    int c = C_UNKNOWN;
    int r;
    size_t i;

    if (smtpd_cmd_split(buf_str(st->line), buf_len(st->line), st->verb, &arg,
                        &len, st->reply)
        < 0) {
        size_t k = 0;

        /* Postfix counts no command for an empty or blank line. */
        while (k < buf_len(st->line)
               && isspace((unsigned char) st->line->data[k]))
            k++;
        if (k < buf_len(st->line)) {
            st->where = "UNKNOWN";
            st->counts[C_UNKNOWN][1]++;
        }
        smtpd_send(st, buf_str(st->reply));
        return RES_FAIL;
    }
    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(buf_str(st->verb), verbs[i].verb) == 0)
            c = verbs[i].counter;
    st->where = c == C_UNKNOWN ? "UNKNOWN" : verbs[0].verb;
    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (verbs[i].counter == c)
            st->where = verbs[i].verb;
    st->counts[c][1]++;
    /* Commands sent ahead of time where that is not allowed. */
    if (stream_pending(st->s) > 0
        && (!st->esmtp || (smtpd_discard_bits & EHLO_PIPELINING) || c == C_HELO
            || c == C_EHLO || c == C_STARTTLS))
        st->cl.pipelined = 1;
    smtpd_log_pipelining(st, c);
    /* RFC 5321 3.1: after a 554 greeting only QUIT is served. */
    if (buf_len(st->conn_reject) && c != C_QUIT) {
        smtpd_reply(st, "503 5.7.0 Error: access denied for %s",
                    buf_str(st->namaddr));
        return RES_FAIL;
    }
    if (smtpd_tls_level == TLS_LEVEL_ENCRYPT && !st->tls_active
        && !smtpd_pre_tls_ok(c)) {
        smtpd_reply(st, "530 5.7.0 Must issue a STARTTLS command first");
        return RES_FAIL;
    }
    switch (c) {
    case C_HELO:
    case C_EHLO:
        r = cmd_helo(st, arg, len, c == C_EHLO);
        break;
    case C_STARTTLS:
        r = cmd_starttls(st, len);
        break;
    case C_MAIL:
        r = cmd_mail(st, arg, len);
        break;
    case C_RCPT:
        r = cmd_rcpt(st, arg, len);
        break;
    case C_DATA:
        r = cmd_data(st, len);
        break;
    case C_BDAT:
        r = cmd_bdat(st, arg, len);
        break;
    case C_RSET:
        smtpd_junk(st);
        if (len != 0) {
            smtpd_reply(st, "501 5.5.4 Syntax: RSET");
            r = RES_FAIL;
            break;
        }
        smtpd_tx_reset(st);
        smtpd_reply(st, "250 2.0.0 Ok");
        r = RES_OK;
        break;
    case C_NOOP:
        smtpd_junk(st);
        smtpd_reply(st, "250 2.0.0 Ok");
        r = RES_OK;
        break;
    case C_VRFY:
        smtpd_junk(st);
        r = cmd_vrfy(st, arg, len);
        break;
    case C_ETRN:
        smtpd_junk(st);
        r = cmd_etrn(st, arg, len);
        break;
    case C_QUIT:
        smtpd_reply(st, "221 2.0.0 Bye");
        st->counts[C_QUIT][0]++;
        return RES_END;
    case C_AUTH:
        r = cmd_auth(st, arg, len);
        break;
    default:
        smtpd_reply(st, "500 5.5.2 Error: command not recognized");
        r = RES_FAIL;
        break;
    }
    if (r == RES_OK)
        st->counts[c][0]++;
    return r;
}

static void smtpd_log_disconnect(struct smtpd_state *st)
{
    struct buf *l = buf_new(128);
    unsigned ok = 0;
    unsigned total = 0;
    int i;

    buf_printf(l, "disconnect from %s", buf_str(st->namaddr));
    for (i = 0; i < C_COUNT; i++) {
        if (st->counts[i][1] == 0)
            continue;
        ok += st->counts[i][0];
        total += st->counts[i][1];
        if (st->counts[i][0] == st->counts[i][1])
            buf_printf(l, " %s=%u", counter_names[i], st->counts[i][1]);
        else
            buf_printf(l, " %s=%u/%u", counter_names[i], st->counts[i][0],
                       st->counts[i][1]);
    }
    if (ok == total)
        buf_printf(l, " commands=%u", total);
    else
        buf_printf(l, " commands=%u/%u", ok, total);
    msg_info("%s", buf_str(l));
    buf_free(l);
}

static struct smtpd_state *smtpd_state_new(int fd)
{
    struct smtpd_state *st = mem_alloc(sizeof(*st));

    memset(st, 0, sizeof(*st));
    st->s = stream_open(fd);
    stream_set_timeout(st->s, (int) var_smtpd_timeout);
    st->addr = buf_new(64);
    st->port = buf_new(16);
    st->name = buf_new(64);
    st->reverse_name = buf_new(64);
    st->namaddr = buf_new(128);
    st->server_addr = buf_new(64);
    st->server_port = buf_new(16);
    st->helo = buf_new(64);
    st->conn_reject = buf_new(64);
    st->line = buf_new(512);
    st->verb = buf_new(16);
    st->reply = buf_new(256);
    st->last = buf_new(256);
    st->rcpt = argv_new(8);
    st->orcpt = argv_new(8);
    st->queue_id = buf_new(32);
    st->instance = buf_new(32);
    st->bdat_reply = buf_new(64);
    st->piece = buf_new((size_t) var_line_length_limit + 8);
    smtpd_mail_init(&st->mail);
    smtpd_check_result_init(&st->res);
    st->where = "CONNECT";
    return st;
}

static void smtpd_state_free(struct smtpd_state *st)
{
    if (st->cc)
        cleanup_close(st->cc);
    stream_close(st->s);
    buf_free(st->addr);
    buf_free(st->port);
    buf_free(st->name);
    buf_free(st->reverse_name);
    buf_free(st->namaddr);
    buf_free(st->server_addr);
    buf_free(st->server_port);
    buf_free(st->helo);
    buf_free(st->conn_reject);
    buf_free(st->line);
    buf_free(st->verb);
    buf_free(st->reply);
    buf_free(st->last);
    argv_free(st->rcpt);
    argv_free(st->orcpt);
    free(st->notify);
    buf_free(st->queue_id);
    buf_free(st->instance);
    buf_free(st->bdat_reply);
    buf_free(st->piece);
    smtpd_mail_free(&st->mail);
    smtpd_check_result_free(&st->res);
    if (st->sasl.method)
        smtpd_sasl_session_free(&st->sasl);
    free(st);
}

static void smtpd_serve(int fd, void *ctx)
{
    struct smtpd_state *st = smtpd_state_new(fd);

    (void) ctx;
    if (sock_peer_text(fd, st->addr, st->port) < 0) {
        buf_set(st->addr, "unknown");
        buf_set(st->port, "unknown");
    }
    if (sock_local_text(fd, st->server_addr, st->server_port) < 0) {
        buf_set(st->server_addr, "unknown");
        buf_set(st->server_port, "unknown");
    }
    smtpd_peer_names(st);
    buf_printf(st->namaddr, "%s[%s]", buf_str(st->name), buf_str(st->addr));
    if (var_smtpd_client_port_logging)
        buf_printf(st->namaddr, ":%s", buf_str(st->port));
    msg_info("connect from %s", buf_str(st->namaddr));
    smtpd_sasl_session_init(&st->sasl, buf_str(st->name), buf_str(st->addr));
    st->bare_lf = smtpd_bare_lf_mode(st);
    smtpd_check_new_session(smtpd_chk);
    smtpd_new_instance(st);

    if (var_smtpd_tls_wrappermode) {
        struct buf *err = buf_new(64);

        if (smtpd_tls == NULL) {
            msg_warn("smtpd_tls_wrappermode: no usable TLS certificate: "
                     "dropping the connection from %s",
                     buf_str(st->namaddr));
            buf_free(err);
            goto done;
        }
        if (tls_server_start(smtpd_tls, st->s, (int) var_smtpd_starttls_timeout,
                             buf_str(st->namaddr), &st->tls, err)
            < 0) {
            msg_info("lost connection after CONNECT from %s",
                     buf_str(st->namaddr));
            buf_free(err);
            goto done;
        }
        buf_free(err);
        st->tls_active = 1;
    }
    /* Per-client limits (anvil), after the wrapper-mode handshake. */
    if (smtpd_anvil_connect(buf_str(st->name), buf_str(st->addr),
                            buf_str(st->namaddr), st->reply)
            < 0
        || (st->tls_active && !st->tls.reused
            && smtpd_anvil_tls_check(1, st->reply) < 0)) {
        smtpd_send(st, buf_str(st->reply));
        goto done;
    }
    if (st->tls_active)
        smtpd_anvil_tls_done(st->tls.reused);
    smtpd_client_sync(st);
    if (smtpd_check_connect(smtpd_chk, &st->cl, &st->res)
        == SMTPD_CHECK_REPLY) {
        /* smtpd_delay_reject = no: the rejection replaces the greeting. */
        buf_set(st->conn_reject, buf_str(st->res.reply));
        smtpd_send(st, buf_str(st->conn_reject));
    } else {
        smtpd_reply(st, "220 %s", var_smtpd_banner);
    }
    for (;;) {
        int r =
            stream_read_line(st->s, st->line, (size_t) var_line_length_limit);

        if (r < 0 && stream_reason(st->s) == STREAM_TOOLONG) {
            /* As Postfix: the first line_length_limit bytes are the command. */
            r = STREAM_LINE_CRLF;
        }
        if (r == STREAM_LINE_LF && st->bare_lf == BARE_LF_REJECT) {
            smtpd_bare_lf_reject(st);
            break;
        }
        if (r < 0) {
            int why = stream_reason(st->s);

            if (why == STREAM_TIMEOUT) {
                smtpd_reply(st, "421 4.4.2 %s Error: timeout exceeded",
                            var_myhostname);
                smtpd_flush(st);
                msg_info("timeout after %s from %s", st->where,
                         buf_str(st->namaddr));
                break;
            } else {
                msg_info("lost connection after %s from %s", st->where,
                         buf_str(st->namaddr));
                break;
            }
        } else if (smtpd_command(st) == RES_END) {
            break;
        }
        if (st->errors >= (unsigned) var_smtpd_hard_error_limit) {
            smtpd_reply(st, "421 4.7.0 %s Error: too many errors",
                        var_myhostname);
            smtpd_flush(st);
            msg_info("too many errors after %s from %s", st->where,
                     buf_str(st->namaddr));
            break;
        }
    }
done:
    smtpd_flush(st);
    smtpd_anvil_end();
    smtpd_log_disconnect(st);
    smtpd_state_free(st);
}

/* ---- start-up ----------------------------------------------------------- */

static void smtpd_discard_setup(void)
{
    struct argv *words =
        argv_split(var_smtpd_discard_ehlo_keywords, STR_LIST_SEP);
    struct buf *log = buf_new(64);
    size_t i;
    size_t j;

    for (i = 0; i < words->argc; i++) {
        if (strcasecmp(words->argv[i], "silent-discard") == 0)
            smtpd_discard_silent = 1;
        for (j = 0; j < sizeof(ehlo_words) / sizeof(ehlo_words[0]); j++)
            if (strcasecmp(words->argv[i], ehlo_words[j].name) == 0)
                smtpd_discard_bits |= ehlo_words[j].bit;
    }
    /* Logged in EHLO order, upper case, as Postfix does. */
    for (j = 0; j < sizeof(ehlo_words) / sizeof(ehlo_words[0]); j++)
        if (smtpd_discard_bits & ehlo_words[j].bit) {
            char upper[32];
            size_t k;

            for (k = 0; ehlo_words[j].name[k] && k + 1 < sizeof(upper); k++)
                upper[k] =
                    (char) toupper((unsigned char) ehlo_words[j].name[k]);
            upper[k] = 0;
            buf_printf(log, "%s%s", buf_len(log) ? " " : "", upper);
        }
    if (buf_len(log) && !smtpd_discard_silent)
        msg_info("discarding EHLO keywords: %s", buf_str(log));
    argv_free(words);
    buf_free(log);
}

static void smtpd_tls_setup(void)
{
    const char *level = var_smtpd_tls_security_level;
    struct tls_config cfg;
    struct buf *err;

    if (level[0] == 0)
        smtpd_tls_level = var_smtpd_enforce_tls ? TLS_LEVEL_ENCRYPT
                          : var_smtpd_use_tls   ? TLS_LEVEL_MAY
                                                : TLS_LEVEL_NONE;
    else if (strcasecmp(level, "none") == 0)
        smtpd_tls_level = TLS_LEVEL_NONE;
    else if (strcasecmp(level, "may") == 0)
        smtpd_tls_level = TLS_LEVEL_MAY;
    else if (strcasecmp(level, "encrypt") == 0)
        smtpd_tls_level = TLS_LEVEL_ENCRYPT;
    else
        msg_fatal("invalid smtpd_tls_security_level value: \"%s\"", level);
    if (var_smtpd_tls_wrappermode && smtpd_tls_level < TLS_LEVEL_ENCRYPT)
        smtpd_tls_level = TLS_LEVEL_ENCRYPT;
    if (smtpd_tls_level == TLS_LEVEL_NONE)
        return;
    if (var_smtpd_tls_cert_file[0] == 0 && var_smtpd_tls_chain_files[0] == 0) {
        msg_warn("no server certificate (smtpd_tls_cert_file or "
                 "smtpd_tls_chain_files): STARTTLS is not offered");
        return;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.cert_file = var_smtpd_tls_cert_file;
    cfg.key_file = var_smtpd_tls_key_file;
    cfg.chain_files = var_smtpd_tls_chain_files;
    cfg.CAfile = var_smtpd_tls_CAfile;
    cfg.CApath = var_smtpd_tls_CApath;
    cfg.protocols = smtpd_tls_level == TLS_LEVEL_ENCRYPT
                        ? var_smtpd_tls_mandatory_protocols
                        : var_smtpd_tls_protocols;
    cfg.ciphers = smtpd_tls_level == TLS_LEVEL_ENCRYPT
                      ? var_smtpd_tls_mandatory_ciphers
                      : var_smtpd_tls_ciphers;
    cfg.exclude = smtpd_tls_level == TLS_LEVEL_ENCRYPT
                      ? var_smtpd_tls_mandatory_exclude_ciphers
                      : var_smtpd_tls_exclude_ciphers;
    cfg.fingerprint_digest = var_smtpd_tls_fingerprint_digest;
    cfg.verify_depth = var_smtpd_tls_ccert_verifydepth;
    cfg.ask_ccert = var_smtpd_tls_ask_ccert;
    cfg.loglevel = var_smtpd_tls_loglevel;
    cfg.session_cache_timeout = var_smtpd_tls_session_cache_timeout;
    err = buf_new(64);
    smtpd_tls = tls_server_new(&cfg, err);
    if (smtpd_tls == NULL)
        msg_warn("TLS is not available: %s: STARTTLS is not offered",
                 buf_str(err));
    buf_free(err);
}

static void smtpd_bare_lf_setup(void)
{
    const char *v = var_smtpd_forbid_bare_newline;
    struct argv *maps;
    struct argv *warnings;
    struct buf *err;
    size_t i;

    if (strcasecmp(v, "no") == 0 || v[0] == 0)
        smtpd_bare_lf = BARE_LF_ALLOW;
    else if (strcasecmp(v, "normalize") == 0 || strcasecmp(v, "yes") == 0)
        smtpd_bare_lf = BARE_LF_NORMALIZE;
    else if (strcasecmp(v, "reject") == 0)
        smtpd_bare_lf = BARE_LF_REJECT;
    else
        msg_fatal("invalid smtpd_forbid_bare_newline value: \"%s\"", v);
    if (smtpd_bare_lf == BARE_LF_ALLOW)
        return;
    maps = argv_new(2);
    warnings = argv_new(2);
    err = buf_new(64);
    smtpd_bare_lf_exclusions = cidr_list_new(CIDR_LIST_MATCH);
    if (cidr_list_parse(smtpd_bare_lf_exclusions,
                        var_smtpd_forbid_bare_newline_exclusions, maps,
                        warnings, err)
        < 0)
        msg_fatal("smtpd_forbid_bare_newline_exclusions: %s", buf_str(err));
    for (i = 0; i < warnings->argc; i++)
        msg_warn("smtpd_forbid_bare_newline_exclusions: %s", warnings->argv[i]);
    for (i = 0; i < maps->argc; i++)
        msg_warn("smtpd_forbid_bare_newline_exclusions: lookup table %s is "
                 "not supported here; only network/mask entries count",
                 maps->argv[i]);
    argv_free(maps);
    argv_free(warnings);
    buf_free(err);
}

/* This client's smtpd_forbid_bare_newline (exclusions are exempt). */
static int smtpd_bare_lf_mode(struct smtpd_state *st)
{
    if (smtpd_bare_lf == BARE_LF_ALLOW || smtpd_bare_lf_exclusions == NULL)
        return smtpd_bare_lf;
    if (cidr_list_match_text(smtpd_bare_lf_exclusions, buf_str(st->addr),
                             buf_len(st->addr)))
        return BARE_LF_ALLOW;
    return smtpd_bare_lf;
}

static void smtpd_pre_jail(void *ctx)
{
    struct buf *err = buf_new(64);

    (void) ctx;
    smtpd_chk = smtpd_check_new(err);
    if (smtpd_chk == NULL)
        msg_fatal("%s", buf_str(err));
    /* The per-client limits; their exception tables open before chroot. */
    if (smtpd_anvil_init(err) < 0)
        msg_fatal("%s", buf_str(err));
    /* SMTP AUTH: settings checked, filter tables opened, before chroot. */
    if (smtpd_sasl_init(err) < 0)
        msg_fatal("%s", buf_str(err));
    buf_free(err);
    smtpd_tls_setup();
    smtpd_discard_setup();
    smtpd_bare_lf_setup();
    if (var_smtpd_reject_footer_maps[0])
        smtpd_footer_maps = maps_create("smtpd_reject_footer_maps",
                                        var_smtpd_reject_footer_maps, 0);
}

static void smtpd_pre_exit(void *ctx)
{
    (void) ctx;
    if (smtpd_chk)
        smtpd_check_free(smtpd_chk);
    smtpd_chk = NULL;
    if (smtpd_tls)
        tls_ctx_free(smtpd_tls);
    smtpd_tls = NULL;
    if (smtpd_bare_lf_exclusions)
        cidr_list_free(smtpd_bare_lf_exclusions);
    smtpd_bare_lf_exclusions = NULL;
    if (smtpd_footer_maps)
        maps_free(smtpd_footer_maps);
    smtpd_footer_maps = NULL;
    smtpd_anvil_free();
    smtpd_sasl_free();
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .model = DAEMON_SINGLE,
        .pre_jail = smtpd_pre_jail,
        .serve = smtpd_serve,
        .pre_exit = smtpd_pre_exit,
    };

    daemon_main(argc, argv, &ops);
}
