/*
 * test_bounce_notice.c - the bounce service's notices (queue/bounce_notice.c,
 * included below: program folders are not in libpostern).
 *
 * Every test builds a real queue file (qf_create) and a real status log
 * (qf_log_open/qf_log_append) in its own temporary queue folder, loads them
 * with bounce_info_load, composes a notice into memory and checks the MIME
 * structure: the top headers, the boundary, the three parts, the delivery
 * report fields, which recipients are in it (NOTIFY), RET=HDRS, the
 * bounce_size_limit cut, delay warnings and postmaster copies. One test
 * also has Python's email package parse a notice when /usr/bin/python3 is
 * there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../queue/bounce_notice.c"

#include "buf.h"
#include "params.h"
#include "queue_file.h"
#include "record.h"

static char root[64];

/* 2026-12-03 12:00:00 UTC, and the arrival a day earlier. */
#define NOW     ((time_t) 1796299200)
#define ARRIVAL ((long long) (NOW - 86400) * 1000000)

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    char sub[512];

    if (d == NULL) {
        (void) unlink(path);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        rm_tree(sub);
    }
    closedir(d);
    (void) rmdir(path);
}

static int setup(void **state)
{
    (void) state;
    setenv("TZ", "UTC", 1);
    tzset();
    snprintf(root, sizeof(root), "/tmp/test_bounce_notice.XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    qf_set_root(root);
    var_hash_queue_names = "deferred, defer";
    var_hash_queue_depth = 1;
    var_queue_file_attribute_count_limit = 100;
    var_myhostname = "mx.example.org";
    var_myorigin = "example.org";
    var_double_bounce_sender = "double-bounce";
    var_header_from_format = "standard";
    var_bounce_size_limit = 50000;
    var_maximal_queue_lifetime = 5 * 86400;
    var_bounce_queue_lifetime = 2 * 86400;
    return qf_make_dirs();
}

static int teardown(void **state)
{
    (void) state;
    rm_tree(root);
    qf_set_root(NULL);
    return 0;
}

/* ---- building a message and its log -------------------------------------- */

struct t_rcpt {
    const char *addr;
    const char *orig;
    const char *orcpt;
    int notify;
};

struct t_msg {
    const char *sender;
    int flags;
    int dsn_ret;
    const char *envid;
    const char *notice; /* our "notice" attribute, or NULL */
    const char *const *headers;
    const char *const *body;
    int body_lines;   /* extra generated body lines "line N ..." */
    size_t long_line; /* a body line of this many 'x' (PIECE records) */
    const struct t_rcpt *rcpts;
    size_t nrcpt;
};

static const char *const std_headers[] = {
    "From: Alice <alice@example.com>",
    "To: Bob <bob@example.net>",
    "Subject: lunch",
    "Message-ID: <m1@example.com>",
    NULL,
};
static const char *const std_body[] = {"Hello Bob,", "", "see you at noon.",
                                       NULL};

/* Write the queue file; OFFSETS (may be NULL) gets each RCPT's offset. */
static void make_msg(const struct t_msg *m, struct buf *id, long long *offsets)
{
    struct qf_writer *w = qf_create(QF_INCOMING);
    struct qf_reader *r;
    struct buf *data = buf_new(64);
    size_t i;
    int type;

    assert_non_null(w);
    buf_set(id, qf_writer_id(w));
    assert_int_equal(qf_put_int(w, REC_TIME, ARRIVAL), 0);
    assert_int_equal(qf_puts(w, REC_SENDER, m->sender), 0);
    if (m->flags)
        assert_int_equal(qf_put_int(w, REC_FLAGS, m->flags), 0);
    if (m->dsn_ret)
        assert_int_equal(qf_put_int(w, REC_DSN_RET, m->dsn_ret), 0);
    if (m->envid)
        assert_int_equal(qf_puts(w, REC_DSN_ENVID, m->envid), 0);
    if (m->notice)
        assert_int_equal(qf_put_attr(w, "notice", m->notice), 0);
    assert_int_equal(qf_put_attr(w, "client_name", "localhost"), 0);
    for (i = 0; i < m->nrcpt; i++)
        assert_int_equal(qf_put_rcpt(w, m->rcpts[i].notify, m->rcpts[i].addr,
                                     m->rcpts[i].orig, m->rcpts[i].orcpt),
                         0);
    assert_int_equal(qf_begin_content(w), 0);
    for (i = 0; m->headers[i]; i++)
        assert_int_equal(
            qf_put_text(w, m->headers[i], strlen(m->headers[i]), 0), 0);
    assert_int_equal(qf_put_text(w, "", 0, 0), 0);
    qf_mark_body(w);
    for (i = 0; m->body && m->body[i]; i++)
        assert_int_equal(qf_put_text(w, m->body[i], strlen(m->body[i]), 0), 0);
    for (i = 0; i < (size_t) m->body_lines; i++) {
        char line[128];

        snprintf(line, sizeof(line), "line %04zu %s", i,
                 "...................................................."
                 "...................................");
        assert_int_equal(qf_put_text(w, line, strlen(line), 0), 0);
    }
    if (m->long_line) {
        char *big = malloc(m->long_line);

        memset(big, 'x', m->long_line);
        assert_int_equal(qf_put_text(w, big, m->long_line, 0), 0);
        free(big);
        assert_int_equal(qf_put_text(w, "after the long line", 19, 0), 0);
    }
    assert_int_equal(qf_end_content(w), 0);
    assert_int_equal(qf_commit(w), 0);
    qf_writer_free(w);
    if (offsets == NULL) {
        buf_free(data);
        return;
    }
    r = qf_open(QF_INCOMING, buf_str(id), 0);
    assert_non_null(r);
    i = 0;
    while ((type = qf_read(r, data)) > 0) {
        if (type == REC_RCPT)
            offsets[i++] = qf_offset(r);
        if (type == REC_MESSAGE)
            assert_int_equal(qf_skip_content(r), 0);
    }
    assert_int_equal(type, 0);
    assert_int_equal(i, m->nrcpt);
    qf_close(r);
    buf_free(data);
}

struct t_status {
    int action;
    int notify;
    long long offset;
    const char *addr;
    const char *orig;
    const char *orcpt;
    const char *dsn;
    const char *relay;
    const char *reason;
};

static void make_log(const char *log, const char *id,
                     const struct t_status *sts, size_t n)
{
    struct qf_log *l = qf_log_open(log, id);
    size_t i;

    assert_non_null(l);
    for (i = 0; i < n; i++) {
        struct rec_status st;

        rec_status_init(&st);
        st.action = sts[i].action;
        st.notify = sts[i].notify;
        st.rcpt_offset = sts[i].offset;
        st.time_us = ARRIVAL + 3600LL * 1000000;
        buf_set(st.addr, sts[i].addr);
        buf_set(st.orig, sts[i].orig ? sts[i].orig : sts[i].addr);
        buf_set(st.orcpt, sts[i].orcpt ? sts[i].orcpt : "");
        buf_set(st.dsn, sts[i].dsn);
        buf_set(st.relay, sts[i].relay);
        buf_set(st.reason, sts[i].reason);
        assert_int_equal(qf_log_append(l, &st), 0);
        rec_status_free(&st);
    }
    assert_int_equal(qf_log_close(l), 0);
}

/* ---- composing into memory and taking the result apart ------------------ */

struct t_sink {
    struct buf *out;
    int fail_after; /* fail the call after this many lines; 0 = never */
    int lines;
};

static int t_text(void *ctx, const char *data, size_t len, int partial)
{
    struct t_sink *s = ctx;

    if (s->fail_after && ++s->lines > s->fail_after)
        return -1;
    buf_append(s->out, data, len);
    if (!partial)
        buf_putc(s->out, '\n');
    return 0;
}

/* Load ID with LOG and compose a notice of KIND to TO into OUT. */
static void compose(const char *id, const char *log, enum bounce_kind kind,
                    const char *to, struct buf *out, struct bounce_info *bi)
{
    struct t_sink s = {out, 0, 0};
    struct bounce_sink sink = {t_text, &s};
    struct buf *err = buf_new(64);

    buf_reset(out);
    assert_int_equal(bounce_info_load(bi, QF_INCOMING, id, log, err),
                     BOUNCE_LOAD_OK);
    assert_int_equal(bounce_compose(bi, kind, to, "NEWID0000", NOW, &sink, err),
                     0);
    /* BOUNCE_DUMP=1 shows every notice (for reading them by eye). */
    if (getenv("BOUNCE_DUMP") != NULL)
        printf("%s\n----\n", buf_str(out));
    buf_free(err);
}

struct t_part {
    char *headers;
    char *body;
};

struct t_mime {
    char *headers; /* the top headers */
    char *boundary;
    struct t_part part[8];
    int nparts;
    int closed; /* the closing boundary was seen */
    char *after;
};

/* A header's value in HEADERS (unfolded), or NULL. */
static char *t_header(const char *headers, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = headers;
    char *out;
    size_t o = 0;

    while (*p) {
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            p += nlen + 1;
            while (*p == ' ')
                p++;
            out = malloc(strlen(p) + 1);
            for (;;) {
                if (*p == '\n' && (p[1] == ' ' || p[1] == '\t')) {
                    out[o++] = ' ';
                    p += 2;
                    while (*p == ' ' || *p == '\t')
                        p++;
                    continue;
                }
                if (*p == '\n' || *p == 0)
                    break;
                out[o++] = *p++;
            }
            out[o] = 0;
            return out;
        }
        p = strchr(p, '\n');
        if (p == NULL)
            break;
        p++;
    }
    return NULL;
}

static void t_mime_free(struct t_mime *m)
{
    int i;

    free(m->headers);
    free(m->boundary);
    free(m->after);
    for (i = 0; i < m->nparts; i++) {
        free(m->part[i].headers);
        free(m->part[i].body);
    }
}

/* Split TEXT at "\n\n" into a malloc'ed head and body. */
static void t_split(const char *text, size_t len, char **head, char **body)
{
    const char *sep = NULL;
    size_t i;

    if (len > 0 && text[0] == '\n')
        sep = text;
    for (i = 0; sep == NULL && i + 1 < len; i++)
        if (text[i] == '\n' && text[i + 1] == '\n')
            sep = text + i + 1;
    if (sep == NULL) {
        *head = strndup(text, len);
        *body = strdup("");
        return;
    }
    *head = strndup(text, (size_t) (sep - text));
    *body = strndup(sep + 1, len - (size_t) (sep + 1 - text));
}

static void t_parse(const char *text, struct t_mime *m)
{
    char *top_body;
    char *ct;
    char *b;
    char *q;
    char delim[256];
    const char *p;
    const char *start = NULL;

    memset(m, 0, sizeof(*m));
    t_split(text, strlen(text), &m->headers, &top_body);
    ct = t_header(m->headers, "Content-Type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "multipart/report"));
    assert_non_null(strstr(ct, "report-type=delivery-status"));
    b = strstr(ct, "boundary=\"");
    assert_non_null(b);
    b += 10;
    q = strchr(b, '"');
    assert_non_null(q);
    m->boundary = strndup(b, (size_t) (q - b));
    free(ct);
    snprintf(delim, sizeof(delim), "--%s", m->boundary);
    /* Walk the lines; a delimiter line starts a part or closes them. */
    for (p = top_body; *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t) (eol - p) : strlen(p);

        if (len >= strlen(delim) && strncmp(p, delim, strlen(delim)) == 0) {
            const char *rest = p + strlen(delim);

            if (start != NULL) {
                /* The line break before the delimiter belongs to it. */
                size_t plen = (size_t) (p - start);

                if (plen > 0)
                    plen--;
                assert_true(m->nparts < 8);
                t_split(start, plen, &m->part[m->nparts].headers,
                        &m->part[m->nparts].body);
                m->nparts++;
            }
            if (strncmp(rest, "--", 2) == 0) {
                m->closed = 1;
                m->after = strdup(eol ? eol + 1 : "");
                break;
            }
            start = eol ? eol + 1 : p + len;
        }
        p = eol ? eol + 1 : p + len;
    }
    free(top_body);
}

static int t_has(const char *hay, const char *needle)
{
    return hay != NULL && strstr(hay, needle) != NULL;
}

static int t_count(const char *hay, const char *needle)
{
    int n = 0;

    while ((hay = strstr(hay, needle)) != NULL) {
        n++;
        hay += strlen(needle);
    }
    return n;
}

static void t_expect_header(const char *headers, const char *name,
                            const char *want)
{
    char *got = t_header(headers, name);

    if (got == NULL || strcmp(got, want) != 0)
        print_error("header %s: got \"%s\", want \"%s\"\n", name,
                    got ? got : "(none)", want);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static const struct t_rcpt two_rcpts[] = {
    {"bob@example.net", NULL, "rfc822;bob@example.net", 0},
    {"carol@example.org", "team@example.org", NULL, 0},
};

static const struct t_status two_failed[] = {
    {REC_ACTION_BOUNCED, 0, -1, "bob@example.net", NULL,
     "rfc822;bob@example.net", "5.1.1", "mx.example.net[192.0.2.1]:25",
     "host mx.example.net[192.0.2.1] said: 550 5.1.1 <bob@example.net>: "
     "Recipient address rejected: User unknown (in reply to RCPT TO "
     "command)"},
    {REC_ACTION_BOUNCED, 0, -1, "carol@example.org", "team@example.org", NULL,
     "5.2.2", "local", "mailbox full"},
};

/* ---- tests ----------------------------------------------------------------
 */

static void test_failed_notice(void **state)
{
    struct t_msg m = {
        "alice@example.com", 0, 0, "env-1", NULL, std_headers, std_body, 0, 0,
        two_rcpts,           2};
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct bounce_info bi;
    struct t_mime mm;
    char boundary[128];

    (void) state;
    make_msg(&m, id, NULL);
    make_log(QF_LOG_BOUNCE, buf_str(id), two_failed, 2);
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_FAILED, "alice@example.com", out,
            &bi);
    assert_false(bounce_is_notice(&bi));
    assert_false(bounce_is_postmaster_notice(&bi));
    assert_int_equal(bounce_count(&bi, BOUNCE_FAILED), 2);
    t_parse(buf_str(out), &mm);

    /* Top headers. */
    t_expect_header(mm.headers, "Date", "Thu, 3 Dec 2026 12:00:00 +0000");
    t_expect_header(mm.headers, "From",
                    "Mail Delivery System <MAILER-DAEMON@mx.example.org>");
    t_expect_header(mm.headers, "Subject",
                    "Undelivered Mail Returned to Sender");
    t_expect_header(mm.headers, "To", "alice@example.com");
    t_expect_header(mm.headers, "Auto-Submitted", "auto-replied");
    t_expect_header(mm.headers, "MIME-Version", "1.0");
    t_expect_header(mm.headers, "Message-Id",
                    "<20261203120000.NEWID0000@mx.example.org>");
    assert_null(t_header(mm.headers, "Content-Transfer-Encoding"));
    snprintf(boundary, sizeof(boundary), "%s.%lld/mx.example.org", buf_str(id),
             (long long) NOW);
    assert_string_equal(mm.boundary, boundary);

    /* Three parts and a closing delimiter. */
    assert_int_equal(mm.nparts, 3);
    assert_true(mm.closed);
    t_expect_header(mm.part[0].headers, "Content-Type",
                    "text/plain; charset=us-ascii");
    t_expect_header(mm.part[1].headers, "Content-Type",
                    "message/delivery-status");
    t_expect_header(mm.part[2].headers, "Content-Type", "message/rfc822");

    /* 1: the explanation names the host and every recipient with why. */
    assert_true(t_has(mm.part[0].body, "mail delivery system at host "
                                       "mx.example.org"));
    assert_true(
        t_has(mm.part[0].body,
              "<bob@example.net>: host mx.example.net[192.0.2.1] said: 550 "
              "5.1.1 <bob@example.net>: Recipient address rejected"));
    assert_true(t_has(mm.part[0].body, "<carol@example.org> (expanded from "
                                       "<team@example.org>): mailbox full"));

    /* 2: the report. */
    {
        const char *want[] = {
            "Reporting-MTA: dns; mx.example.org\n",
            "X-Postern-Queue-ID: ",
            "X-Postern-Sender: rfc822; alice@example.com\n",
            "Original-Envelope-Id: env-1\n",
            "Arrival-Date: Wed, 2 Dec 2026 12:00:00 +0000\n",
            "\nFinal-Recipient: rfc822; bob@example.net\n"
            "Original-Recipient: rfc822;bob@example.net\n"
            "Action: failed\n"
            "Status: 5.1.1\n"
            "Remote-MTA: dns; mx.example.net\n"
            "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient "
            "address rejected: User unknown\n",
            "\nFinal-Recipient: rfc822; carol@example.org\n"
            "Action: failed\n"
            "Status: 5.2.2\n"
            "Diagnostic-Code: X-Postern; mailbox full\n",
        };
        size_t i;

        for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            if (!t_has(mm.part[1].body, want[i]))
                print_error("report lacks \"%s\"\n", want[i]);
            assert_true(t_has(mm.part[1].body, want[i]));
        }
        assert_false(t_has(mm.part[1].body, "Will-Retry-Until"));
    }

    /* 3: the whole original. */
    assert_true(t_has(mm.part[2].body, "Subject: lunch\n"));
    assert_true(t_has(mm.part[2].body, "\n\nHello Bob,\n\nsee you at noon.\n"));
    assert_string_equal(mm.after, "");

    t_mime_free(&mm);
    bounce_info_free(&bi);
    buf_free(id);
    buf_free(out);
}

static void test_ret_hdrs(void **state)
{
    struct t_msg m = {"alice@example.com",
                      0,
                      REC_DSN_RET_HDRS,
                      NULL,
                      NULL,
                      std_headers,
                      std_body,
                      0,
                      0,
                      two_rcpts,
                      2};
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct bounce_info bi;
    struct t_mime mm;

    (void) state;
    make_msg(&m, id, NULL);
    make_log(QF_LOG_BOUNCE, buf_str(id), two_failed, 2);
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_FAILED, "alice@example.com", out,
            &bi);
    t_parse(buf_str(out), &mm);
    assert_int_equal(mm.nparts, 3);
    t_expect_header(mm.part[2].headers, "Content-Type", "text/rfc822-headers");
    assert_true(t_has(mm.part[2].headers, "Undelivered Message Headers"));
    assert_true(t_has(mm.part[2].body, "From: Alice <alice@example.com>\n"));
    assert_true(t_has(mm.part[2].body, "Message-ID: <m1@example.com>\n"));
    assert_false(t_has(mm.part[2].body, "Hello Bob"));
    assert_false(t_has(buf_str(out), "noon"));
    assert_false(t_has(mm.part[1].body, "Original-Envelope-Id"));
    t_mime_free(&mm);
    bounce_info_free(&bi);
    buf_free(id);
    buf_free(out);
}

static void test_size_limit(void **state)
{
    static const char *const many_headers[] = {
        "From: alice@example.com",
        "Subject: a big one",
        "X-Filler-1: "
        "......................................................................",
        "X-Filler-2: "
        "......................................................................",
        "X-Filler-3: "
        "......................................................................",
        NULL,
    };
    struct t_msg m = {
        "alice@example.com", 0, 0, NULL, NULL, many_headers, NULL, 500, 0,
        two_rcpts,           1};
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct bounce_info bi;
    struct t_mime mm;
    char *body_start;
    size_t body_len;

    (void) state;
    make_msg(&m, id, NULL);
    make_log(QF_LOG_BOUNCE, buf_str(id), two_failed, 1);

    /* The headers alone pass the limit: they are still whole. */
    var_bounce_size_limit = 100;
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_FAILED, "alice@example.com", out,
            &bi);
    t_parse(buf_str(out), &mm);
    assert_int_equal(mm.nparts, 3);
    assert_true(mm.closed);
    assert_true(t_has(mm.part[2].body, "X-Filler-3: ....."));
    assert_false(t_has(mm.part[2].body, "line 0000"));
    t_mime_free(&mm);
    bounce_info_free(&bi);

    /* A limit in the body: cut at a line, no more than the limit. */
    var_bounce_size_limit = 5000;
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_FAILED, "alice@example.com", out,
            &bi);
    t_parse(buf_str(out), &mm);
    assert_int_equal(mm.nparts, 3);
    assert_true(mm.closed);
    t_expect_header(mm.part[2].headers, "Content-Type", "message/rfc822");
    assert_true(t_has(mm.part[2].body, "line 0000 "));
    assert_true(t_has(mm.part[2].body, "line 0010 "));
    assert_false(t_has(mm.part[2].body, "line 0499"));
    body_start = mm.part[2].body;
    body_len = strlen(body_start);
    /* The original plus the blank line before the delimiter. */
    assert_true(body_len <= 5000 + 1);
    assert_true(body_len > 5000 - 200);
    assert_int_equal(body_start[body_len - 1], '\n');
    t_mime_free(&mm);
    bounce_info_free(&bi);

    /* Big enough: everything. */
    var_bounce_size_limit = 1000000;
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_FAILED, "alice@example.com", out,
            &bi);
    t_parse(buf_str(out), &mm);
    assert_true(t_has(mm.part[2].body, "line 0499 "));
    t_mime_free(&mm);
    bounce_info_free(&bi);
    var_bounce_size_limit = 50000;
    buf_free(id);
    buf_free(out);
}

static void test_long_line_cut(void **state)
{
    struct t_msg m = {"alice@example.com",
                      0,
                      0,
                      NULL,
                      NULL,
                      std_headers,
                      std_body,
                      0,
                      3 * QF_PIECE_MAX + 17,
                      two_rcpts,
                      1};
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct bounce_info bi;
    struct t_mime mm;

    (void) state;
    make_msg(&m, id, NULL);
    make_log(QF_LOG_BOUNCE, buf_str(id), two_failed, 1);
    var_bounce_size_limit = QF_PIECE_MAX + 1000;
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_FAILED, "alice@example.com", out,
            &bi);
    t_parse(buf_str(out), &mm);
    assert_int_equal(mm.nparts, 3);
    assert_true(mm.closed);
    assert_true(t_has(mm.part[2].body, "see you at noon.\n"));
    assert_false(t_has(mm.part[2].body, "after the long line"));
    assert_true(strlen(mm.part[2].body) <= (size_t) var_bounce_size_limit + 1);
    t_mime_free(&mm);
    bounce_info_free(&bi);

    /* With room for it, the long line comes back whole. */
    var_bounce_size_limit = 4 * QF_PIECE_MAX;
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_FAILED, "alice@example.com", out,
            &bi);
    t_parse(buf_str(out), &mm);
    assert_true(mm.closed);
    assert_true(t_has(mm.part[2].body, "\nafter the long line\n"));
    {
        const char *x = strstr(mm.part[2].body, "xxxx");
        size_t n = 0;

        while (x[n] == 'x')
            n++;
        assert_int_equal(n, 3 * QF_PIECE_MAX + 17);
    }
    t_mime_free(&mm);
    bounce_info_free(&bi);
    var_bounce_size_limit = 50000;
    buf_free(id);
    buf_free(out);
}

static void test_notify_filter(void **state)
{
    static const struct t_rcpt rcpts[] = {
        {"never@example.net", NULL, NULL, REC_NOTIFY_NEVER},
        {"success@example.net", NULL, NULL, REC_NOTIFY_SUCCESS},
        {"failure@example.net", NULL, NULL,
         REC_NOTIFY_FAILURE | REC_NOTIFY_DELAY},
        {"default@example.net", NULL, NULL, 0},
    };
    static const struct t_status sts[] = {
        {REC_ACTION_BOUNCED, REC_NOTIFY_NEVER, -1, "never@example.net", NULL,
         NULL, "5.1.1", "none", "no such user"},
        {REC_ACTION_BOUNCED, REC_NOTIFY_SUCCESS, -1, "success@example.net",
         NULL, NULL, "5.1.1", "none", "no such user"},
        {REC_ACTION_BOUNCED, REC_NOTIFY_FAILURE | REC_NOTIFY_DELAY, -1,
         "failure@example.net", NULL, NULL, "5.1.1", "none", "no such user"},
        {REC_ACTION_BOUNCED, 0, -1, "default@example.net", NULL, NULL, "5.1.1",
         "none", "no such user"},
    };
    struct t_msg m = {"alice@example.com",
                      0,
                      0,
                      NULL,
                      NULL,
                      std_headers,
                      std_body,
                      0,
                      0,
                      rcpts,
                      4};
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct buf *err = buf_new(64);
    struct bounce_info bi;
    struct t_mime mm;

    (void) state;
    make_msg(&m, id, NULL);
    make_log(QF_LOG_BOUNCE, buf_str(id), sts, 4);
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_FAILED, "alice@example.com", out,
            &bi);
    assert_int_equal(bounce_count(&bi, BOUNCE_FAILED), 2);
    /* The postmaster copy names everyone. */
    assert_int_equal(bounce_count(&bi, BOUNCE_PM_FAILED), 4);
    t_parse(buf_str(out), &mm);
    assert_false(t_has(buf_str(out), "never@example.net"));
    assert_false(t_has(buf_str(out), "success@example.net"));
    assert_true(t_has(mm.part[0].body, "<failure@example.net>: no such user"));
    assert_true(t_has(mm.part[1].body, "Final-Recipient: rfc822; "
                                       "default@example.net"));
    assert_int_equal(t_count(mm.part[1].body, "Final-Recipient:"), 2);
    /* "relay=none" is not a Remote-MTA. */
    assert_false(t_has(mm.part[1].body, "Remote-MTA"));
    t_mime_free(&mm);
    bounce_info_free(&bi);

    /* Only NEVER: nobody to tell. */
    make_msg(&m, id, NULL);
    make_log(QF_LOG_BOUNCE, buf_str(id), sts, 1);
    bounce_info_init(&bi);
    assert_int_equal(
        bounce_info_load(&bi, QF_INCOMING, buf_str(id), QF_LOG_BOUNCE, err),
        BOUNCE_LOAD_OK);
    assert_int_equal(bi.st_count, 1);
    assert_int_equal(bounce_count(&bi, BOUNCE_FAILED), 0);
    bounce_info_free(&bi);
    buf_free(id);
    buf_free(out);
    buf_free(err);
}

static void test_delay_notice(void **state)
{
    static const struct t_rcpt rcpts[] = {
        {"slow@example.net", NULL, NULL, 0},
        {"done@example.net", NULL, NULL, 0},
        {"nodelay@example.net", NULL, NULL, REC_NOTIFY_FAILURE},
        {"delay@example.net", NULL, NULL, REC_NOTIFY_DELAY},
    };
    struct t_msg m = {"alice@example.com",
                      0,
                      0,
                      NULL,
                      NULL,
                      std_headers,
                      std_body,
                      0,
                      0,
                      rcpts,
                      4};
    long long off[4];
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct bounce_info bi;
    struct t_mime mm;
    struct qf_reader *r;

    (void) state;
    make_msg(&m, id, off);
    {
        const struct t_status sts[] = {
            {REC_ACTION_DEFERRED, 0, off[0], "slow@example.net", NULL, NULL,
             "4.4.1", "mx.example.net[192.0.2.1]:25",
             "connect to mx.example.net[192.0.2.1]:25: Connection refused"},
            {REC_ACTION_DEFERRED, 0, off[1], "done@example.net", NULL, NULL,
             "4.4.1", "none", "first try failed"},
            {REC_ACTION_DEFERRED, REC_NOTIFY_FAILURE, off[2],
             "nodelay@example.net", NULL, NULL, "4.4.1", "none", "try later"},
            {REC_ACTION_DEFERRED, REC_NOTIFY_DELAY, off[3], "delay@example.net",
             NULL, NULL, "4.2.0", "none", "old reason"},
            /* A later result for the same recipient replaces the first. */
            {REC_ACTION_DEFERRED, REC_NOTIFY_DELAY, off[3], "delay@example.net",
             NULL, NULL, "4.2.1", "none", "newer reason"},
        };
        make_log(QF_LOG_DEFER, buf_str(id), sts, 5);
    }
    /* done@ was delivered since. */
    r = qf_open(QF_INCOMING, buf_str(id), QF_OPEN_RDWR);
    assert_non_null(r);
    assert_int_equal(qf_mark_rcpt(r, off[1], REC_RCPT_DELIVERED), 0);
    qf_close(r);

    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_DEFER, BOUNCE_DELAYED, "alice@example.com", out,
            &bi);
    assert_int_equal(bi.st_count, 4);
    assert_int_equal(bounce_count(&bi, BOUNCE_DELAYED), 2);
    assert_int_equal(bounce_count(&bi, BOUNCE_PM_DELAYED), 3);
    assert_int_equal(bounce_count(&bi, BOUNCE_FAILED), 0);
    t_parse(buf_str(out), &mm);
    t_expect_header(mm.headers, "Subject",
                    "Delayed Mail (still being retried)");
    assert_int_equal(mm.nparts, 3);
    assert_true(mm.closed);
    assert_true(t_has(mm.part[0].body, "only a warning"));
    assert_true(t_has(mm.part[0].body, "4 days more"));
    assert_true(t_has(mm.part[0].body, "<slow@example.net>: connect to"));
    assert_false(t_has(buf_str(out), "done@example.net"));
    assert_false(t_has(buf_str(out), "nodelay@example.net"));
    assert_false(t_has(buf_str(out), "old reason"));
    assert_true(t_has(mm.part[1].body, "Final-Recipient: rfc822; "
                                       "slow@example.net\n"
                                       "Action: delayed\n"
                                       "Status: 4.4.1\n"
                                       "Remote-MTA: dns; mx.example.net\n"));
    assert_true(t_has(mm.part[1].body, "Status: 4.2.1\n"));
    assert_true(t_has(mm.part[1].body,
                      "Last-Attempt-Date: Wed, 2 Dec 2026 13:00:00 +0000\n"));
    assert_true(t_has(mm.part[1].body,
                      "Will-Retry-Until: Mon, 7 Dec 2026 12:00:00 +0000\n"));
    assert_int_equal(t_count(mm.part[1].body, "Will-Retry-Until:"), 2);
    t_expect_header(mm.part[1].headers, "Content-Description",
                    "Delivery delay report");
    /* Delay warnings carry the headers only. */
    t_expect_header(mm.part[2].headers, "Content-Type", "text/rfc822-headers");
    assert_true(t_has(mm.part[2].headers, "Delayed Message Headers"));
    assert_false(t_has(buf_str(out), "Hello Bob"));
    t_mime_free(&mm);
    bounce_info_free(&bi);
    buf_free(id);
    buf_free(out);
}

static void test_postmaster_copy(void **state)
{
    struct t_msg m = {
        "alice@example.com", 0, 0, NULL, NULL, std_headers, std_body, 0, 0,
        two_rcpts,           2};
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct bounce_info bi;
    struct t_mime mm;

    (void) state;
    make_msg(&m, id, NULL);
    make_log(QF_LOG_BOUNCE, buf_str(id), two_failed, 2);
    var_header_from_format = "obsolete";
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_PM_FAILED,
            "postmaster@example.org", out, &bi);
    var_header_from_format = "standard";
    t_parse(buf_str(out), &mm);
    t_expect_header(mm.headers, "Subject", "Postmaster Copy: Undelivered Mail");
    t_expect_header(mm.headers, "To", "postmaster@example.org");
    t_expect_header(mm.headers, "From",
                    "MAILER-DAEMON@mx.example.org (Mail Delivery System)");
    assert_int_equal(mm.nparts, 3);
    assert_true(t_has(mm.part[0].body, buf_str(id)));
    assert_true(t_has(mm.part[0].body, "<alice@example.com>"));
    t_expect_header(mm.part[2].headers, "Content-Type", "text/rfc822-headers");
    assert_false(t_has(buf_str(out), "Hello Bob"));
    t_mime_free(&mm);
    bounce_info_free(&bi);
    buf_free(id);
    buf_free(out);
}

static void test_notice_kinds(void **state)
{
    static const struct {
        const char *sender;
        int flags;
        const char *notice;
        int is_notice;
        int is_pm;
    } cases[] = {
        {"alice@example.com", 0, NULL, 0, 0},
        {"", 0, NULL, 1, 0},
        {"", REC_FLAG_BOUNCE, "bounce", 1, 0},
        {"alice@example.com", REC_FLAG_BOUNCE | REC_FLAG_8BITMIME, NULL, 1, 0},
        {"double-bounce@example.org", REC_FLAG_BOUNCE, NULL, 1, 1},
        {"Double-Bounce@EXAMPLE.ORG", 0, NULL, 0, 1},
        {"double-bounce", 0, NULL, 0, 1},
        {"double-bounce@elsewhere.example", 0, NULL, 0, 0},
        {"double-bouncer@example.org", 0, NULL, 0, 0},
        {"someone@example.org", REC_FLAG_BOUNCE, "2bounce", 1, 1},
        {"someone@example.org", REC_FLAG_BOUNCE, "postmaster", 1, 1},
    };
    struct buf *id = buf_new(32);
    struct buf *err = buf_new(64);
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct t_msg m = {cases[i].sender,
                          cases[i].flags,
                          0,
                          NULL,
                          cases[i].notice,
                          std_headers,
                          std_body,
                          0,
                          0,
                          two_rcpts,
                          1};
        struct bounce_info bi;

        make_msg(&m, id, NULL);
        make_log(QF_LOG_BOUNCE, buf_str(id), two_failed, 1);
        bounce_info_init(&bi);
        assert_int_equal(
            bounce_info_load(&bi, QF_INCOMING, buf_str(id), QF_LOG_BOUNCE, err),
            BOUNCE_LOAD_OK);
        if (bounce_is_notice(&bi) != cases[i].is_notice
            || bounce_is_postmaster_notice(&bi) != cases[i].is_pm)
            print_error("case %zu (%s): notice %d pm %d\n", i, cases[i].sender,
                        bounce_is_notice(&bi),
                        bounce_is_postmaster_notice(&bi));
        assert_int_equal(bounce_is_notice(&bi), cases[i].is_notice);
        assert_int_equal(bounce_is_postmaster_notice(&bi), cases[i].is_pm);
        bounce_info_free(&bi);
    }
    buf_free(id);
    buf_free(err);
}

static void test_missing(void **state)
{
    struct t_msg m = {
        "alice@example.com", 0, 0, NULL, NULL, std_headers, std_body, 0, 0,
        two_rcpts,           1};
    struct buf *id = buf_new(32);
    struct buf *err = buf_new(64);
    struct bounce_info bi;

    (void) state;
    make_msg(&m, id, NULL);
    /* No bounce log: nothing to send. */
    bounce_info_init(&bi);
    assert_int_equal(
        bounce_info_load(&bi, QF_INCOMING, buf_str(id), QF_LOG_BOUNCE, err),
        BOUNCE_LOAD_NOLOG);
    bounce_info_free(&bi);
    /* A log but no queue file. */
    make_log(QF_LOG_BOUNCE, buf_str(id), two_failed, 1);
    assert_int_equal(qf_remove(QF_INCOMING, buf_str(id)), 0);
    bounce_info_init(&bi);
    assert_int_equal(
        bounce_info_load(&bi, QF_INCOMING, buf_str(id), QF_LOG_BOUNCE, err),
        BOUNCE_LOAD_NOFILE);
    bounce_info_free(&bi);
    buf_free(id);
    buf_free(err);
}

/* Append raw bytes to LOG/ID. */
static void append_raw(const char *log, const char *id, const char *data,
                       size_t len, int truncate_first)
{
    struct buf *path = buf_new(64);
    int fd;

    qf_path(path, log, id);
    fd = open(buf_str(path),
              O_WRONLY | O_CREAT | (truncate_first ? O_TRUNC : O_APPEND), 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t) len);
    close(fd);
    buf_free(path);
}

static void test_damaged_log(void **state)
{
    static const struct t_rcpt rcpts[] = {
        {"bob@example.net", NULL, NULL, 0},
        {"carol@example.org", NULL, NULL, 0},
    };
    struct t_msg m = {"alice@example.com",
                      0,
                      0,
                      NULL,
                      NULL,
                      std_headers,
                      std_body,
                      0,
                      0,
                      rcpts,
                      2};
    long long off[2];
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct buf *err = buf_new(64);
    struct bounce_info bi;
    struct qf_reader *r;
    struct t_mime mm;

    (void) state;
    make_msg(&m, id, off);
    r = qf_open(QF_INCOMING, buf_str(id), QF_OPEN_RDWR);
    assert_non_null(r);
    assert_int_equal(qf_mark_rcpts(r, off, 2, REC_RCPT_BOUNCED), 0);
    qf_close(r);
    {
        const struct t_status sts[] = {
            {REC_ACTION_BOUNCED, 0, off[0], "bob@example.net", NULL, NULL,
             "5.1.1", "none", "no such user"},
        };
        make_log(QF_LOG_BOUNCE, buf_str(id), sts, 1);
    }
    /* A torn record after the good one. */
    append_raw(QF_LOG_BOUNCE, buf_str(id), "Q\x7f\x01", 3, 0);
    bounce_info_init(&bi);
    assert_int_equal(
        bounce_info_load(&bi, QF_INCOMING, buf_str(id), QF_LOG_BOUNCE, err),
        BOUNCE_LOAD_OK);
    assert_true(bi.log_damaged);
    assert_int_equal(bi.st_count, 2);
    assert_string_equal(buf_str(bi.st[0].reason), "no such user");
    assert_string_equal(buf_str(bi.st[1].addr), "carol@example.org");
    assert_string_equal(buf_str(bi.st[1].dsn), "5.0.0");
    bounce_info_free(&bi);

    /* A log that is garbage from the start: the queue file still knows. */
    append_raw(QF_LOG_BOUNCE, buf_str(id), "garbage", 7, 1);
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_FAILED, "alice@example.com", out,
            &bi);
    assert_true(bi.log_damaged);
    assert_int_equal(bounce_count(&bi, BOUNCE_FAILED), 2);
    t_parse(buf_str(out), &mm);
    assert_int_equal(t_count(mm.part[1].body, "Status: 5.0.0"), 2);
    assert_true(t_has(mm.part[0].body, "<carol@example.org>: delivery status "
                                       "unknown"));
    t_mime_free(&mm);
    bounce_info_free(&bi);
    buf_free(id);
    buf_free(out);
    buf_free(err);
}

static void test_odd_values(void **state)
{
    static const char *const hdrs8[] = {
        "From: J\xc3\xb6rg <joerg@example.com>",
        "Subject: gr\xc3\xbc\xc3\x9f",
        NULL,
    };
    static const char *const body8[] = {"Gr\xc3\xbc\xc3\x9f"
                                        "e",
                                        NULL};
    static const struct t_rcpt rcpts[] = {
        {"bad\x01user@example.net", NULL, NULL, 0},
    };
    static const struct t_status sts[] = {
        {REC_ACTION_BOUNCED, 0, -1, "bad\x01user@example.net", NULL, NULL,
         "5.x.1", "relay[192.0.2.9]:25", "evil\rreason\nBcc: x\xff"},
    };
    struct t_msg m = {"", 0, 0, NULL, NULL, hdrs8, body8, 0, 0, rcpts, 1};
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct bounce_info bi;
    struct t_mime mm;

    (void) state;
    make_msg(&m, id, NULL);
    make_log(QF_LOG_BOUNCE, buf_str(id), sts, 1);
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_PM_FAILED,
            "postmaster@example.org", out, &bi);
    t_parse(buf_str(out), &mm);
    assert_int_equal(mm.nparts, 3);
    t_expect_header(mm.headers, "Content-Transfer-Encoding", "8bit");
    t_expect_header(mm.part[2].headers, "Content-Transfer-Encoding", "8bit");
    /* A bad status code falls back to the class of the action. */
    assert_true(t_has(mm.part[1].body, "Status: 5.0.0\n"));
    /* Controls never reach the notice; a CR or LF cannot add a header. */
    assert_true(t_has(mm.part[1].body, "Diagnostic-Code: X-Postern; "
                                       "evil?reason?Bcc: x?\n"));
    assert_true(t_has(mm.part[1].body, "Final-Recipient: rfc822; "
                                       "bad?user@example.net\n"));
    assert_true(t_has(mm.part[1].body, "X-Postern-Sender: rfc822; \n"));
    assert_true(t_has(mm.part[0].body, "the null sender <>"));
    assert_true(t_has(mm.part[0].body, "itself a notice"));
    t_mime_free(&mm);
    bounce_info_free(&bi);
    buf_free(id);
    buf_free(out);
}

static void test_utf8_address(void **state)
{
    static const struct t_rcpt rcpts[] = {
        {"j\xc3\xb6rg@example.net", NULL, NULL, 0},
    };
    static const struct t_status sts[] = {
        {REC_ACTION_BOUNCED, 0, -1, "j\xc3\xb6rg@example.net", NULL, NULL,
         "5.1.1", "none", "unknown user"},
    };
    struct t_msg m = {"alice@example.com",
                      REC_FLAG_SMTPUTF8,
                      0,
                      NULL,
                      NULL,
                      std_headers,
                      std_body,
                      0,
                      0,
                      rcpts,
                      1};
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct bounce_info bi;
    struct t_mime mm;

    (void) state;
    make_msg(&m, id, NULL);
    make_log(QF_LOG_BOUNCE, buf_str(id), sts, 1);
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_FAILED, "alice@example.com", out,
            &bi);
    t_parse(buf_str(out), &mm);
    assert_int_equal(mm.nparts, 3);
    /* The address stays as it is, and the parts say 8bit. */
    t_expect_header(mm.headers, "Content-Transfer-Encoding", "8bit");
    t_expect_header(mm.part[0].headers, "Content-Type",
                    "text/plain; charset=utf-8");
    t_expect_header(mm.part[0].headers, "Content-Transfer-Encoding", "8bit");
    t_expect_header(mm.part[1].headers, "Content-Transfer-Encoding", "8bit");
    assert_true(t_has(mm.part[0].body, "<j\xc3\xb6rg@example.net>: unknown "
                                       "user"));
    assert_true(t_has(mm.part[1].body, "Final-Recipient: utf-8; "
                                       "j\xc3\xb6rg@example.net\n"));
    /* The original is plain ASCII: its part needs no 8bit. */
    assert_null(t_header(mm.part[2].headers, "Content-Transfer-Encoding"));
    t_mime_free(&mm);
    bounce_info_free(&bi);
    buf_free(id);
    buf_free(out);
}

static void test_sink_failure(void **state)
{
    struct t_msg m = {
        "alice@example.com", 0, 0, NULL, NULL, std_headers, std_body, 0, 0,
        two_rcpts,           2};
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct buf *err = buf_new(64);
    struct bounce_info bi;
    int lines;
    int n;

    (void) state;
    make_msg(&m, id, NULL);
    make_log(QF_LOG_BOUNCE, buf_str(id), two_failed, 2);
    bounce_info_init(&bi);
    assert_int_equal(
        bounce_info_load(&bi, QF_INCOMING, buf_str(id), QF_LOG_BOUNCE, err),
        BOUNCE_LOAD_OK);
    /* Fail at every possible line: always -1, never a crash. */
    {
        struct t_sink s = {out, 0, 0};
        struct bounce_sink sink = {t_text, &s};

        assert_int_equal(bounce_compose(&bi, BOUNCE_FAILED, "alice@example.com",
                                        "X", NOW, &sink, err),
                         0);
        lines = t_count(buf_str(out), "\n");
        assert_true(lines > 40);
    }
    for (n = 1; n < lines; n++) {
        struct t_sink s = {out, n, 0};
        struct bounce_sink sink = {t_text, &s};

        buf_reset(out);
        assert_int_equal(bounce_compose(&bi, BOUNCE_FAILED, "alice@example.com",
                                        "X", NOW, &sink, err),
                         -1);
        assert_true(buf_len(err) > 0);
    }
    /* The queue file vanished between load and compose. */
    assert_int_equal(qf_remove(QF_INCOMING, buf_str(id)), 0);
    {
        struct t_sink s = {out, 0, 0};
        struct bounce_sink sink = {t_text, &s};

        assert_int_equal(bounce_compose(&bi, BOUNCE_FAILED, "alice@example.com",
                                        "X", NOW, &sink, err),
                         -1);
        assert_true(t_has(buf_str(err), buf_str(id)));
    }
    bounce_info_free(&bi);
    buf_free(id);
    buf_free(out);
    buf_free(err);
}

/* Python's email package must read the notice as we mean it. */
static void test_python_parses(void **state)
{
    static const char script[] =
        "import email, sys\n"
        "from email import policy\n"
        "m = email.message_from_binary_file(open(sys.argv[1], 'rb'),"
        " policy=policy.default)\n"
        "assert m.get_content_type() == 'multipart/report', "
        "m.get_content_type()\n"
        "assert m.get_param('report-type') == 'delivery-status'\n"
        "parts = m.get_payload()\n"
        "assert [p.get_content_type() for p in parts] == ['text/plain', "
        "'message/delivery-status', 'message/rfc822'], parts\n"
        "ds = parts[1].get_payload()\n"
        "assert len(ds) == 3, len(ds)\n"
        "assert ds[0]['Reporting-MTA'] == 'dns; mx.example.org'\n"
        "assert ds[1]['Action'] == 'failed' and ds[1]['Status'] == '5.1.1'\n"
        "assert ds[2]['Final-Recipient'] == 'rfc822; carol@example.org'\n"
        "orig = parts[2].get_payload()[0]\n"
        "assert orig['Subject'] == 'lunch', orig['Subject']\n"
        "assert 'see you at noon.' in orig.get_content()\n"
        "assert not m.defects and not parts[0].defects, m.defects\n";
    struct t_msg m = {
        "alice@example.com", 0, 0, NULL, NULL, std_headers, std_body, 0, 0,
        two_rcpts,           2};
    struct buf *id = buf_new(32);
    struct buf *out = buf_new(4096);
    struct bounce_info bi;
    char file[512], py[512], cmd[1200];
    FILE *fp;
    int status;

    (void) state;
    if (access("/usr/bin/python3", X_OK) != 0)
        skip();
    make_msg(&m, id, NULL);
    make_log(QF_LOG_BOUNCE, buf_str(id), two_failed, 2);
    bounce_info_init(&bi);
    compose(buf_str(id), QF_LOG_BOUNCE, BOUNCE_FAILED, "alice@example.com", out,
            &bi);
    snprintf(file, sizeof(file), "%s/notice.eml", root);
    snprintf(py, sizeof(py), "%s/check.py", root);
    fp = fopen(file, "w");
    assert_non_null(fp);
    fwrite(buf_str(out), 1, buf_len(out), fp);
    fclose(fp);
    fp = fopen(py, "w");
    assert_non_null(fp);
    fputs(script, fp);
    fclose(fp);
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s", py, file);
    status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    bounce_info_free(&bi);
    buf_free(id);
    buf_free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failed_notice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ret_hdrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delay_notice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_postmaster_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notice_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_python_parses, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
