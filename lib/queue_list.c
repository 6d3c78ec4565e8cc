/*
 * queue_list.c - the mail queue listing (queue_list.h).
 *
 * The formatters build their output in a buffer and never look at the
 * queue, so the unit tests pin their exact bytes. Times are shown in the
 * local time zone of the process that formats (postqueue: the user's).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "argv.h"
#include "attr.h"
#include "buf.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "queue_list.h"
#include "record.h"
#include "stream.h"

/* Postfix's showq order. */
const char *const ql_queues[] = {
    QF_INCOMING, QF_ACTIVE, QF_DEFERRED, QF_HOLD, QF_MAILDROP, NULL,
};

/* Most recipients postqueue accepts for one message from showq. */
#define QL_RCPT_MAX 10000000

static struct buf *ql_err;

static void ql_set_error(const char *text)
{
    if (ql_err == NULL)
        ql_err = buf_new(0);
    buf_set(ql_err, text);
}

const char *ql_error(void)
{
    return ql_err ? buf_str(ql_err) : "";
}

void ql_msg_init(struct ql_msg *m)
{
    memset(m, 0, sizeof(*m));
}

void ql_msg_free(struct ql_msg *m)
{
    size_t i;

    for (i = 0; i < m->nrcpt; i++) {
        mem_free(m->rcpts[i].addr);
        mem_free(m->rcpts[i].reason);
    }
    mem_free(m->rcpts);
    mem_free(m->queue);
    mem_free(m->id);
    mem_free(m->sender);
    ql_msg_init(m);
}

void ql_msg_add_rcpt(struct ql_msg *m, const char *addr, const char *reason)
{
    if (m->nrcpt == m->rcpt_alloc) {
        m->rcpt_alloc = m->rcpt_alloc ? 2 * m->rcpt_alloc : 4;
        m->rcpts = mem_realloc(m->rcpts, m->rcpt_alloc * sizeof(*m->rcpts));
    }
    m->rcpts[m->nrcpt].addr = mem_strdup(addr);
    m->rcpts[m->nrcpt].reason = reason ? mem_strdup(reason) : NULL;
    m->nrcpt++;
}

/* ---- reading a queue file -------------------------------------------------
 */

/*
 * Attach the newest deferral reason in defer/ID to each recipient: by the
 * RCPT record offset when the STATUS record has one, else by address.
 */
static void ql_read_reasons(struct ql_msg *m, const long long *offsets)
{
    struct qf_reader *r = qf_open(QF_LOG_DEFER, m->id, 0);
    struct buf *data;
    struct rec_status st;
    size_t i;
    int type;

    if (r == NULL)
        return; /* no log, or unreadable: no reasons, still listed */
    data = buf_new(256);
    rec_status_init(&st);
    while ((type = qf_read(r, data)) > 0) {
        if (type != REC_STATUS
            || rec_status_parse(buf_str(data), buf_len(data), &st) < 0)
            continue;
        if (st.action != REC_ACTION_DEFERRED)
            continue;
        for (i = 0; i < m->nrcpt; i++) {
            int match = st.rcpt_offset >= 0
                            ? st.rcpt_offset == offsets[i]
                            : strcmp(buf_str(st.addr), m->rcpts[i].addr) == 0;

            if (match) {
                mem_free(m->rcpts[i].reason);
                m->rcpts[i].reason = mem_strdup(buf_str(st.reason));
            }
        }
    }
    rec_status_free(&st);
    buf_free(data);
    qf_close(r);
}

int ql_msg_read(struct ql_msg *m, const char *queue, const char *id)
{
    struct qf_reader *r = qf_open(queue, id, 0);
    struct buf *data;
    struct rec_rcpt rcpt;
    long long *offsets = NULL;
    size_t noff = 0;
    long long value;
    int type;
    int ret = 0;

    ql_msg_init(m);
    if (r == NULL)
        return -1;
    m->queue = mem_strdup(queue);
    m->id = mem_strdup(id);
    m->sender = mem_strdup("");
    m->size = qf_size(r) ? qf_size(r)->content_size : 0;
    data = buf_new(256);
    rec_rcpt_init(&rcpt);
    while ((type = qf_read(r, data)) > 0 && type != REC_END) {
        switch (type) {
        case REC_TIME:
            if (rec_int_parse(buf_str(data), buf_len(data), &value) == 0)
                m->arrival = value / 1000000;
            break;
        case REC_SENDER:
            mem_free(m->sender);
            m->sender = mem_strndup(buf_str(data), buf_len(data));
            break;
        case REC_RCPT:
            if (rec_rcpt_parse(buf_str(data), buf_len(data), &rcpt) < 0
                || rcpt.status != REC_RCPT_PENDING)
                break;
            ql_msg_add_rcpt(m, buf_str(rcpt.addr), NULL);
            if (noff < m->nrcpt) {
                offsets =
                    mem_realloc(offsets, m->rcpt_alloc * sizeof(*offsets));
                noff = m->rcpt_alloc;
            }
            offsets[m->nrcpt - 1] = qf_offset(r);
            break;
        case REC_MESSAGE:
            if (qf_skip_content(r) < 0)
                ret = -1;
            break;
        default:
            break;
        }
        if (ret < 0)
            break;
    }
    if (type < 0)
        ret = -1;
    rec_rcpt_free(&rcpt);
    buf_free(data);
    qf_close(r);
    if (ret == 0 && m->nrcpt > 0)
        ql_read_reasons(m, offsets);
    mem_free(offsets);
    if (ret < 0)
        ql_msg_free(m);
    return ret;
}

static int ql_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

long ql_walk(int (*fn)(const struct ql_msg *m, void *ctx), void *ctx)
{
    struct buf *name = buf_new(32);
    struct argv *names = argv_new(16);
    struct ql_msg m;
    long count = 0;
    size_t q;
    size_t i;

    for (q = 0; ql_queues[q] != NULL && count >= 0; q++) {
        struct qf_scan *scan = qf_scan_open(ql_queues[q], 0);
        int got;

        if (scan == NULL) {
            msg_warn("%s", qf_error());
            continue;
        }
        argv_truncate(names, 0);
        while ((got = qf_scan_next(scan, name)) > 0)
            argv_add(names, buf_str(name));
        if (got < 0)
            msg_warn("%s", qf_error());
        qf_scan_close(scan);
        qsort(names->argv, names->argc, sizeof(*names->argv), ql_name_cmp);
        for (i = 0; i < names->argc; i++) {
            if (ql_msg_read(&m, ql_queues[q], names->argv[i]) < 0) {
                if (qf_reason() != QF_ERR_GONE)
                    msg_warn("%s/%s: %s", ql_queues[q], names->argv[i],
                             qf_error());
                continue;
            }
            got = fn(&m, ctx);
            ql_msg_free(&m);
            if (got < 0) {
                count = -1;
                break;
            }
            count++;
        }
    }
    argv_free(names);
    buf_free(name);
    return count;
}

/* ---- text ------------------------------------------------------------------
 */

/* Printable text for a terminal: controls and DEL become '?'. */
static void ql_put_text(struct buf *out, const char *str)
{
    const unsigned char *cp;

    for (cp = (const unsigned char *) str; *cp; cp++)
        buf_putc(out, (*cp < 0x20 || *cp == 0x7f) ? '?' : *cp);
}

/* "Thu Dec  3 20:08:37" in the local time zone, locale-independent. */
static void ql_put_time(struct buf *out, long long when)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t t = (time_t) when;
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL) {
        buf_printf(out, "%-19lld", when);
        return;
    }
    buf_printf(out, "%.3s %.3s %2d %02d:%02d:%02d", days + 3 * tm.tm_wday,
               months + 3 * tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
               tm.tm_sec);
}

void ql_text_header(struct buf *out)
{
    buf_puts(out, "-Queue ID-  --Size-- ----Arrival Time---- "
                  "-Sender/Recipient-------\n");
}

/* Recipients without a reason first, then grouped by reason, stable. */
static int ql_reason_cmp(const struct ql_rcpt *a, const struct ql_rcpt *b)
{
    if (a->reason == NULL || b->reason == NULL)
        return (a->reason != NULL) - (b->reason != NULL);
    return strcmp(a->reason, b->reason);
}

void ql_text_msg(struct buf *out, const struct ql_msg *m)
{
    struct buf *id = buf_new(32);
    size_t *order = mem_calloc(m->nrcpt ? m->nrcpt : 1, sizeof(*order));
    const char *prev = NULL;
    size_t i;
    size_t j;
    int status = 0;

    if (m->forced_expire)
        status = '#';
    else if (strcmp(m->queue, QF_ACTIVE) == 0)
        status = '*';
    else if (strcmp(m->queue, QF_HOLD) == 0)
        status = '!';
    ql_put_text(id, m->id);
    if (status)
        buf_putc(id, status);
    buf_printf(out, "%-11s%8lld ", buf_str(id), m->size);
    ql_put_time(out, m->arrival);
    buf_puts(out, "  ");
    ql_put_text(out, *m->sender ? m->sender : "MAILER-DAEMON");
    buf_putc(out, '\n');

    /* Insertion sort: stable, and recipient lists are short. */
    for (i = 0; i < m->nrcpt; i++) {
        for (j = i;
             j > 0 && ql_reason_cmp(&m->rcpts[order[j - 1]], &m->rcpts[i]) > 0;
             j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    for (i = 0; i < m->nrcpt; i++) {
        const struct ql_rcpt *r = &m->rcpts[order[i]];

        if (r->reason != NULL && (prev == NULL || strcmp(prev, r->reason))) {
            struct buf *reason = buf_new(128);
            int pad;

            ql_put_text(reason, r->reason);
            pad = 76 - (int) buf_len(reason);
            buf_printf(out, "%*s(%s)\n", pad > 0 ? pad : 0, "",
                       buf_str(reason));
            buf_free(reason);
        }
        prev = r->reason;
        buf_printf(out, "%41s", "");
        ql_put_text(out, r->addr);
        buf_putc(out, '\n');
    }
    buf_putc(out, '\n');
    mem_free(order);
    buf_free(id);
}

void ql_text_footer(struct buf *out, long long total_bytes, long count)
{
    if (count == 0)
        buf_puts(out, "Mail queue is empty\n");
    else
        buf_printf(out, "-- %lld Kbytes in %ld Request%s.\n",
                   total_bytes / 1024, count, count == 1 ? "" : "s");
}

/* ---- JSON ------------------------------------------------------------------
 */

/* Length of a valid UTF-8 sequence at CP (at most LEFT bytes), or 0. */
static size_t ql_utf8_len(const unsigned char *cp, size_t left)
{
    size_t n;
    size_t i;
    unsigned long cpt;

    if (*cp >= 0xc2 && *cp <= 0xdf)
        n = 2, cpt = *cp & 0x1f;
    else if (*cp >= 0xe0 && *cp <= 0xef)
        n = 3, cpt = *cp & 0x0f;
    else if (*cp >= 0xf0 && *cp <= 0xf4)
        n = 4, cpt = *cp & 0x07;
    else
        return 0;
    if (left < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((cp[i] & 0xc0) != 0x80)
            return 0;
        cpt = (cpt << 6) | (cp[i] & 0x3f);
    }
    if ((n == 3 && (cpt < 0x800 || (cpt >= 0xd800 && cpt <= 0xdfff)))
        || (n == 4 && (cpt < 0x10000 || cpt > 0x10ffff)))
        return 0;
    return n;
}

void ql_json_string(struct buf *out, const char *data, size_t len)
{
    const unsigned char *cp = (const unsigned char *) data;
    const unsigned char *end = cp + len;

    buf_putc(out, '"');
    while (cp < end) {
        size_t n;

        if (*cp == '"' || *cp == '\\') {
            buf_putc(out, '\\');
            buf_putc(out, *cp++);
        } else if (*cp == '\n') {
            buf_puts(out, "\\n"), cp++;
        } else if (*cp == '\t') {
            buf_puts(out, "\\t"), cp++;
        } else if (*cp < 0x20 || *cp == 0x7f) {
            buf_printf(out, "\\u%04x", *cp++);
        } else if (*cp < 0x80) {
            buf_putc(out, *cp++);
        } else if ((n = ql_utf8_len(cp, (size_t) (end - cp))) > 0) {
            buf_append(out, cp, n);
            cp += n;
        } else {
            /* Not UTF-8: keep the byte's value as a code point. */
            buf_printf(out, "\\u%04x", *cp++);
        }
    }
    buf_putc(out, '"');
}

void ql_json_msg(struct buf *out, const struct ql_msg *m)
{
    const char *sender = *m->sender ? m->sender : "MAILER-DAEMON";
    size_t i;

    buf_puts(out, "{\"queue_name\": ");
    ql_json_string(out, m->queue, strlen(m->queue));
    buf_puts(out, ", \"queue_id\": ");
    ql_json_string(out, m->id, strlen(m->id));
    buf_printf(out,
               ", \"arrival_time\": %lld, \"message_size\": %lld, "
               "\"forced_expire\": %s, \"sender\": ",
               m->arrival, m->size, m->forced_expire ? "true" : "false");
    ql_json_string(out, sender, strlen(sender));
    buf_puts(out, ", \"recipients\": [");
    for (i = 0; i < m->nrcpt; i++) {
        const struct ql_rcpt *r = &m->rcpts[i];

        buf_puts(out, i ? ", {\"address\": " : "{\"address\": ");
        ql_json_string(out, r->addr, strlen(r->addr));
        if (r->reason != NULL) {
            buf_puts(out, ", \"delay_reason\": ");
            ql_json_string(out, r->reason, strlen(r->reason));
        }
        buf_putc(out, '}');
    }
    buf_puts(out, "]}\n");
}

/* ---- the wire
 * ---------------------------------------------------------------- */

int ql_send(struct stream *s, const struct ql_msg *m)
{
    size_t i;

    if (attr_print(s, 0, ATTR_PUT_STR("queue_name", m->queue),
                   ATTR_PUT_STR("queue_id", m->id),
                   ATTR_PUT_LONG("time", (long) m->arrival),
                   ATTR_PUT_LONG("size", (long) m->size),
                   ATTR_PUT_INT("forced_expire", m->forced_expire),
                   ATTR_PUT_STR("sender", m->sender),
                   ATTR_PUT_INT("rcpt_count", (int) m->nrcpt), ATTR_END)
        < 0)
        return -1;
    for (i = 0; i < m->nrcpt; i++) {
        const struct ql_rcpt *r = &m->rcpts[i];

        if (attr_print(s, 0, ATTR_PUT_STR("address", r->addr),
                       ATTR_PUT_STR("reason", r->reason ? r->reason : ""),
                       ATTR_END)
            < 0)
            return -1;
    }
    return 0;
}

int ql_send_end(struct stream *s, long count)
{
    return attr_print(
        s, 0, ATTR_PUT_STR("queue_name", ""), ATTR_PUT_STR("queue_id", ""),
        ATTR_PUT_LONG("time", 0L), ATTR_PUT_LONG("size", 0L),
        ATTR_PUT_INT("forced_expire", 0), ATTR_PUT_STR("sender", ""),
        ATTR_PUT_INT("rcpt_count", (int) count), ATTR_END);
}

int ql_recv(struct stream *s, struct ql_msg *m, long *end_count)
{
    struct buf *queue = buf_new(16);
    struct buf *id = buf_new(16);
    struct buf *sender = buf_new(64);
    struct buf *addr = buf_new(64);
    struct buf *reason = buf_new(64);
    long when = 0;
    long size = 0;
    int expire = 0;
    int count = 0;
    int ret = 1;
    int i;

    ql_msg_free(m);
    if (attr_scan(s, ATTR_FLAG_FOLLOW, ATTR_GET_STR("queue_name", queue),
                  ATTR_GET_STR("queue_id", id), ATTR_GET_LONG("time", &when),
                  ATTR_GET_LONG("size", &size),
                  ATTR_GET_INT("forced_expire", &expire),
                  ATTR_GET_STR("sender", sender),
                  ATTR_GET_INT("rcpt_count", &count), ATTR_END)
        < 0) {
        ql_set_error(attr_error_code() == ATTR_ERR_CLOSED
                         ? "connection closed before the end"
                         : attr_error());
        ret = -1;
    } else if (buf_len(queue) == 0) {
        ret = 0;
        *end_count = count;
    } else if (count < 0 || count > QL_RCPT_MAX) {
        ql_set_error("bad recipient count");
        ret = -1;
    } else {
        m->queue = mem_strdup(buf_str(queue));
        m->id = mem_strdup(buf_str(id));
        m->sender = mem_strdup(buf_str(sender));
        m->arrival = when;
        m->size = size;
        m->forced_expire = expire != 0;
        for (i = 0; i < count; i++) {
            if (attr_scan(s, ATTR_FLAG_FOLLOW, ATTR_GET_STR("address", addr),
                          ATTR_GET_STR("reason", reason), ATTR_END)
                < 0) {
                ql_set_error(attr_error_code() == ATTR_ERR_CLOSED
                                 ? "connection closed before the end"
                                 : attr_error());
                ret = -1;
                break;
            }
            ql_msg_add_rcpt(m, buf_str(addr),
                            buf_len(reason) ? buf_str(reason) : NULL);
        }
        if (ret < 0)
            ql_msg_free(m);
    }
    buf_free(queue);
    buf_free(id);
    buf_free(sender);
    buf_free(addr);
    buf_free(reason);
    return ret;
}
