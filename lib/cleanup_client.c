/*
 * cleanup_client.c - the client side of the cleanup protocol, and the
 * reply texts and exit codes for cleanup's status bits
 * (cleanup_client.h).
 *
 * Used by pickup, bounce and smtpd. Errors are returned (-1 and a reason
 * text); nothing here exits.
 */
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "attr.h"
#include "buf.h"
#include "cleanup_client.h"
#include "mail_proto.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"
#include "str.h"
#include "stream.h"

struct cleanup_client {
    struct stream *s;
    struct rec_writer *w;
    struct buf *id;
};

/* ---- status bits ------------------------------------------------------ */

/* One status class: its SMTP code, default text and exit code. */
struct cleanup_stat_info {
    int bit;
    int code;
    const char *text; /* "X.Y.Z text" when REASON is empty */
    int use_reason;   /* REASON, when given, replaces TEXT */
    int exit_code;
};

/* In priority order: the first bit set in a status decides. */
static const struct cleanup_stat_info cleanup_stats[] = {
    {CLEANUP_STAT_DEFER, 450, "4.7.1 Service unavailable", 1, EX_TEMPFAIL},
    {CLEANUP_STAT_NOSPACE, 452, "4.3.1 Insufficient system storage", 0,
     EX_TEMPFAIL},
    {CLEANUP_STAT_BAD, 451, "4.3.0 Error: internal error", 1, EX_TEMPFAIL},
    {CLEANUP_STAT_WRITE, 451, "4.3.0 Error: queue file write error", 0,
     EX_TEMPFAIL},
    {CLEANUP_STAT_SIZE, 552, "5.3.4 Message size exceeds fixed limit", 0,
     EX_DATAERR},
    {CLEANUP_STAT_CONT, 550, "5.7.1 message content rejected", 1,
     EX_UNAVAILABLE},
    {CLEANUP_STAT_HOPS, 554, "5.4.0 Error: too many hops", 0, EX_UNAVAILABLE},
    {CLEANUP_STAT_RCPT, 554, "5.5.1 Error: no valid recipients", 0, EX_NOUSER},
};

static const struct cleanup_stat_info *cleanup_stat_find(int status)
{
    size_t i;

    for (i = 0; i < sizeof(cleanup_stats) / sizeof(cleanup_stats[0]); i++)
        if (status & cleanup_stats[i].bit)
            return &cleanup_stats[i];
    return NULL;
}

int cleanup_stat_temporary(int status)
{
    const struct cleanup_stat_info *info = cleanup_stat_find(status);

    /* Unknown bits: say "try again" rather than lose the message. */
    if (info == NULL)
        return status != 0;
    return info->code < 500;
}

/* Does TEXT start with an enhanced status code "D.D.D "? */
static int cleanup_has_dsn(const char *text)
{
    const char *p = text;
    int part;

    if (*p != '2' && *p != '4' && *p != '5')
        return 0;
    for (part = 0; part < 3; part++) {
        if (part > 0) {
            if (*p != '.')
                return 0;
            p++;
        }
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == ' ' || *p == 0;
}

void cleanup_stat_reply(struct buf *out, int status, const char *reason)
{
    const struct cleanup_stat_info *info = cleanup_stat_find(status);
    int code;

    buf_reset(out);
    if (info == NULL) {
        buf_puts(out, "451 4.3.0 Error: internal error");
        return;
    }
    if (!info->use_reason || reason == NULL || *reason == 0) {
        buf_printf(out, "%d %s", info->code, info->text);
        return;
    }
    code = info->code;
    /* A reason of the other class keeps its own code class. */
    if (cleanup_has_dsn(reason) && reason[0] != '0' + code / 100)
        code = reason[0] == '4' ? 450 : 550;
    if (cleanup_has_dsn(reason))
        buf_printf(out, "%d ", code);
    else
        buf_printf(out, "%d %.5s ", code, info->text);
    /* The reason came from a table or a peer: keep it on one line. */
    str_printable(out, reason, strlen(reason));
}

int cleanup_stat_exit(int status)
{
    const struct cleanup_stat_info *info;

    if (status == 0)
        return EX_OK;
    info = cleanup_stat_find(status);
    return info ? info->exit_code : EX_SOFTWARE;
}

int cleanup_flags_from_overrides(const char *value)
{
    char *copy = mem_strdup(value ? value : "");
    char *cp = copy;
    char *word;
    int flags = 0;

    while ((word = str_token(&cp, STR_LIST_SEP)) != NULL) {
        if (strcasecmp(word, "no_address_mappings") == 0)
            flags |= CLEANUP_FLAG_NO_MAPS;
        else if (strcasecmp(word, "no_header_body_checks") == 0)
            flags |= CLEANUP_FLAG_NO_HDR_CHECKS;
        else if (strcasecmp(word, "no_unknown_recipient_checks") == 0)
            flags |= CLEANUP_FLAG_NO_UNKNOWN_RCPT;
        else if (strcasecmp(word, "no_milters") == 0)
            ; /* there are no milters to turn off */
        else
            msg_warn("receive_override_options: unknown option \"%s\": "
                     "ignored",
                     word);
    }
    mem_free(copy);
    return flags;
}

/* ---- the client -------------------------------------------------------- */

static void cleanup_io_reason(struct buf *err, const char *what,
                              struct stream *s)
{
    buf_reset(err);
    if (stream_reason(s) == STREAM_EOF)
        buf_printf(err, "cleanup: connection closed while %s", what);
    else if (stream_reason(s) == STREAM_OK)
        buf_printf(err, "cleanup: protocol error while %s: %s", what,
                   attr_error());
    else
        buf_printf(err, "cleanup: %s while %s", stream_reason_text(s), what);
}

struct cleanup_client *cleanup_open(int flags, struct buf *err)
{
    struct cleanup_client *c;
    int fd;

    fd = mail_connect(MAIL_CLASS_PUBLIC, var_cleanup_service_name,
                      var_ipc_timeout * 1000L);
    if (fd < 0) {
        buf_reset(err);
        buf_printf(err, "cleanup: %s", mail_proto_error());
        return NULL;
    }
    c = mem_calloc(1, sizeof(*c));
    c->s = stream_open(fd);
    stream_set_timeout(c->s, (int) var_ipc_timeout);
    c->id = buf_new(32);
    if (attr_scan(c->s, 0, ATTR_GET_STR("queue_id", c->id), ATTR_END) != 1) {
        cleanup_io_reason(err, "reading the queue ID", c->s);
        cleanup_close(c);
        return NULL;
    }
    if (buf_len(c->id) == 0) {
        /* cleanup could not create a file; it says why at the end. */
        buf_set(c->id, "NOQUEUE");
    }
    if (attr_print(c->s, 0, ATTR_PUT_INT("flags", flags), ATTR_END) < 0) {
        cleanup_io_reason(err, "sending the flags", c->s);
        cleanup_close(c);
        return NULL;
    }
    c->w = rec_writer_new(c->s, 0);
    if (rec_put_version(c->w) < 0) {
        cleanup_io_reason(err, "sending the message", c->s);
        cleanup_close(c);
        return NULL;
    }
    return c;
}

const char *cleanup_queue_id(const struct cleanup_client *c)
{
    return buf_str(c->id);
}

struct rec_writer *cleanup_writer(struct cleanup_client *c)
{
    return c->w;
}

int cleanup_put_text(struct cleanup_client *c, const char *data, size_t len,
                     int partial)
{
    while (len > QF_PIECE_MAX) {
        if (rec_put(c->w, REC_PIECE, data, QF_PIECE_MAX) < 0)
            return -1;
        data += QF_PIECE_MAX;
        len -= QF_PIECE_MAX;
    }
    return rec_put(c->w, partial ? REC_PIECE : REC_LINE, data, len);
}

int cleanup_finish(struct cleanup_client *c, struct buf *reason)
{
    int status = 0;

    if (rec_put(c->w, REC_END, "", 0) < 0 || rec_writer_flush(c->w) < 0) {
        cleanup_io_reason(reason, "sending the message", c->s);
        return -1;
    }
    if (attr_scan(c->s, 0, ATTR_GET_INT("status", &status),
                  ATTR_GET_STR("reason", reason), ATTR_END)
        != 2) {
        cleanup_io_reason(reason, "waiting for the reply", c->s);
        return -1;
    }
    if (status < 0) {
        buf_set(reason, "cleanup: protocol error: negative status");
        return -1;
    }
    return status;
}

void cleanup_close(struct cleanup_client *c)
{
    if (c == NULL)
        return;
    if (c->w)
        rec_writer_free(c->w);
    if (c->s) {
        /* Nothing half-sent may reach cleanup as if it were complete. */
        int fd = stream_fd(c->s);

        stream_free(c->s);
        close(fd);
    }
    buf_free(c->id);
    mem_free(c);
}
