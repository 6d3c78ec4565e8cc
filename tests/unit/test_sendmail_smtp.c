/*
 * test_sendmail_smtp.c - unit tests for sendmail -bs (the SMTP dialogue
 * of queue/sendmail_smtp.c) and for the message copy of
 * queue/sendmail_drop.c (dot handling, CR LF, From_ lines, long lines,
 * the size limit). Both files are included here; the dialogue runs over
 * memory streams with a fake sink that writes what it got into a log.
 *
 * Table-driven: each case is a client script, the replies wanted and the
 * sink log wanted; a failing case prints "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../queue/sendmail_args.c"
#include "../../queue/sendmail_drop.c"
#include "../../queue/sendmail_smtp.c"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

static int failures;

static int reset(void **state)
{
    (void) state;
    failures = 0;
    return 0;
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
    char text[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    print_error("%s\n", text);
    failures++;
}

/* ---- the fake sink ------------------------------------------------------ */

struct fake {
    struct buf *log;
    int open_status;   /* 0: open works; else fail with this status */
    int finish_status; /* what finish returns */
    int text_fails;    /* text() fails from the Nth call on (0 = never) */
    int texts;
    int seq;
};

static void *fake_open(void *ctx, const struct sm_env *env, struct buf *err,
                       int *status)
{
    struct fake *f = ctx;
    size_t i;

    if (f->open_status) {
        buf_set(err, "cannot");
        *status = f->open_status;
        return NULL;
    }
    buf_printf(f->log, "OPEN from=<%s> flags=%d", env->sender, env->flags);
    if (env->dsn_ret)
        buf_printf(f->log, " ret=%d", env->dsn_ret);
    if (env->envid)
        buf_printf(f->log, " envid=%s", env->envid);
    for (i = 0; i < env->nrcpt; i++) {
        buf_printf(f->log, " to=<%s>", env->rcpt_addr[i]);
        if (env->rcpt_notify && env->rcpt_notify[i])
            buf_printf(f->log, "/n%d", env->rcpt_notify[i]);
        if (env->rcpt_orcpt && env->rcpt_orcpt[i])
            buf_printf(f->log, "/o=%s", env->rcpt_orcpt[i]);
    }
    buf_puts(f->log, "\n");
    f->texts = 0;
    return f;
}

static int fake_text(void *h, const char *data, size_t len, int partial)
{
    struct fake *f = h;

    if (f->text_fails && ++f->texts >= f->text_fails)
        return -1;
    buf_puts(f->log, partial ? "P:" : "L:");
    buf_append(f->log, data, len);
    buf_puts(f->log, "\n");
    return 0;
}

static int fake_finish(void *h, struct buf *id, struct buf *err)
{
    struct fake *f = h;

    buf_puts(f->log, "END\n");
    if (f->finish_status) {
        buf_set(err, "failed");
        return f->finish_status;
    }
    buf_setf(id, "QID%d", ++f->seq);
    return 0;
}

static void fake_abort(void *h)
{
    struct fake *f = h;

    buf_puts(f->log, "ABORT\n");
}

static void fake_sink(struct sm_sink *sink, struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->log = buf_new(256);
    sink->open = fake_open;
    sink->text = fake_text;
    sink->finish = fake_finish;
    sink->abort = fake_abort;
    sink->ctx = f;
}

/* ---- the message copy ---------------------------------------------------- */

static void test_copy(void **state)
{
    static const struct {
        const char *input;
        int dot_mode;
        long limit;
        size_t line_limit;
        int want_ret;
        const char *want_log;
    } cases[] = {
        {"a\nb\n", 0, 0, 100, SM_COPY_OK, "L:a\nL:b\n"},
        {"a\r\nb\r\n", 0, 0, 100, SM_COPY_OK, "L:a\nL:b\n"},
        {"a\rb\n", 0, 0, 100, SM_COPY_OK, "L:a\rb\n"},
        {"no newline", 0, 0, 100, SM_COPY_OK, "L:no newline\n"},
        {"", 0, 0, 100, SM_COPY_OK, ""},
        {"a\n.\nb\n", 0, 0, 100, SM_COPY_OK, "L:a\nL:.\nL:b\n"},
        {"a\n.\nb\n", 1, 0, 100, SM_COPY_OK, "L:a\n"},
        {"a\n.\r\nb\n", 1, 0, 100, SM_COPY_OK, "L:a\n"},
        {"a\n..\nb\n", 1, 0, 100, SM_COPY_OK, "L:a\nL:..\nL:b\n"},
        {"a\n..\n.x\n.\n", 2, 0, 100, SM_COPY_OK, "L:a\nL:.\nL:x\n"},
        {"a\nb", 2, 0, 100, SM_COPY_EOF, "L:a\n"},
        {"From someone Thu\nSubject: x\n", 0, 0, 100, SM_COPY_OK,
         "L:Subject: x\n"},
        {"Subject: x\nFrom me\n", 0, 0, 100, SM_COPY_OK,
         "L:Subject: x\nL:From me\n"},
        {"From x\n.\n", 2, 0, 100, SM_COPY_OK, "L:From x\n"},
        {"abcdefghij\n", 0, 0, 4, SM_COPY_OK, "P:abcd\nP:efgh\nL:ij\n"},
        {"abcdefgh\n", 0, 0, 4, SM_COPY_OK, "P:abcd\nL:efgh\n"},
        {"abc\rx\n", 0, 0, 4, SM_COPY_OK, "P:abc\nL:\rx\n"},
        {"abc\r\nd\n", 0, 0, 4, SM_COPY_OK, "L:abc\nL:d\n"},
        {"..abcdef\n.\n", 2, 0, 4, SM_COPY_OK, "P:.ab\nL:cdef\n"},
        {"From abcdefgh\nok\n", 0, 0, 5, SM_COPY_OK, "L:ok\n"},
        {"12345\n12345\n", 0, 10, 100, SM_COPY_TOOBIG, "L:12345\n"},
        {"1234\n1234\n", 0, 10, 100, SM_COPY_OK, "L:1234\nL:1234\n"},
        {"12345\n12345\n.\n", 2, 10, 100, SM_COPY_TOOBIG, "L:12345\n"},
    };
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        struct sm_sink sink;
        struct fake f;
        struct stream *in;
        int ret;

        fake_sink(&sink, &f);
        in = stream_open_mem(cases[i].input, strlen(cases[i].input), NULL);
        ret = sm_copy_message(in, &sink, &f, cases[i].dot_mode, cases[i].limit,
                              cases[i].line_limit);
        if (ret != cases[i].want_ret)
            report("case %zu: got return %d, want %d", i, ret,
                   cases[i].want_ret);
        if (strcmp(buf_str(f.log), cases[i].want_log) != 0)
            report("case %zu: got log \"%s\", want \"%s\"", i, buf_str(f.log),
                   cases[i].want_log);
        stream_free(in);
        buf_free(f.log);
    }
    assert_int_equal(failures, 0);
}

static void test_copy_sink_failure(void **state)
{
    struct sm_sink sink;
    struct fake f;
    struct stream *in;
    const char *text = "a\nb\nc\n";

    (void) state;
    fake_sink(&sink, &f);
    f.text_fails = 2;
    in = stream_open_mem(text, strlen(text), NULL);
    assert_int_equal(sm_copy_message(in, &sink, &f, 0, 0, 100), SM_COPY_SINK);
    assert_string_equal(buf_str(f.log), "L:a\n");
    stream_free(in);
    buf_free(f.log);
}

/* ---- the dialogue -------------------------------------------------------- */

#define GREET "220 test.example ESMTP Postern\r\n"

static const char ehlo_reply[] = "250-test.example\r\n"
                                 "250-PIPELINING\r\n"
                                 "250-SIZE 1000\r\n"
                                 "250-ENHANCEDSTATUSCODES\r\n"
                                 "250-8BITMIME\r\n"
                                 "250-DSN\r\n"
                                 "250 SMTPUTF8\r\n";

struct dialogue {
    const char *name;
    const char *input;
    const char *want_out; /* after the greeting; NULL = the EHLO case */
    const char *want_log;
    int want_status;
    int finish_status;
    int open_status;
    int helo_required;
};

static void run_dialogue(const struct dialogue *d)
{
    struct sm_smtp_conf conf = {
        .hostname = "test.example",
        .banner = "test.example ESMTP Postern",
        .size_limit = 1000,
        .line_limit = 200,
        .rcpt_limit = 3,
        .helo_required = d->helo_required,
    };
    struct buf *out = buf_new(256);
    struct buf *want = buf_new(256);
    struct sm_sink sink;
    struct fake f;
    struct stream *in;
    struct stream *os;
    int status;

    fake_sink(&sink, &f);
    f.finish_status = d->finish_status;
    f.open_status = d->open_status;
    in = stream_open_mem(d->input, strlen(d->input), NULL);
    os = stream_open_mem("", 0, out);
    status = sm_smtp_run(in, os, &conf, &sink);
    stream_flush(os);
    buf_set(want, GREET);
    buf_puts(want, d->want_out ? d->want_out : ehlo_reply);
    if (strcmp(buf_str(out), buf_str(want)) != 0)
        report("%s: got replies\n%s\nwant\n%s", d->name, buf_str(out),
               buf_str(want));
    if (strcmp(buf_str(f.log), d->want_log) != 0)
        report("%s: got sink log\n%s\nwant\n%s", d->name, buf_str(f.log),
               d->want_log);
    if (status != d->want_status)
        report("%s: got status %d, want %d", d->name, status, d->want_status);
    stream_free(in);
    stream_free(os);
    buf_free(out);
    buf_free(want);
    buf_free(f.log);
}

static void test_dialogue(void **state)
{
    static const struct dialogue cases[] = {
        {"ehlo", "EHLO client\r\n", NULL, "", 0, 0, 0, 0},
        {"one message",
         "HELO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@y>\r\nDATA\r\n"
         "Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n",
         "250 test.example\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
         "354 End data with <CR><LF>.<CR><LF>\r\n"
         "250 2.0.0 Ok: queued as QID1\r\n221 2.0.0 Bye\r\n",
         "OPEN from=<s@x> flags=0 to=<r@y>\nL:Subject: hi\nL:\nL:.dot\n"
         "L:body\nEND\n",
         0, 0, 0, 0},
        {"two messages pipelined, bare LF",
         "MAIL FROM:<>\nRCPT TO:<a@b>\nDATA\nx\n.\n"
         "MAIL FROM:<c@d>\nRCPT TO:<e@f>\nRCPT TO:<g@h>\nDATA\ny\n.\nQUIT\n",
         "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
         "354 End data with <CR><LF>.<CR><LF>\r\n"
         "250 2.0.0 Ok: queued as QID1\r\n"
         "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
         "354 End data with <CR><LF>.<CR><LF>\r\n"
         "250 2.0.0 Ok: queued as QID2\r\n221 2.0.0 Bye\r\n",
         "OPEN from=<> flags=0 to=<a@b>\nL:x\nEND\n"
         "OPEN from=<c@d> flags=0 to=<e@f> to=<g@h>\nL:y\nEND\n",
         0, 0, 0, 0},
        {"DSN and body parameters",
         "MAIL FROM:<s@x> RET=HDRS ENVID=a+2Bb BODY=8BITMIME SIZE=10\r\n"
         "RCPT TO:<r@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r+40y\r\n"
         "DATA\r\n.\r\n",
         "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
         "354 End data with <CR><LF>.<CR><LF>\r\n"
         "250 2.0.0 Ok: queued as QID1\r\n",
         "OPEN from=<s@x> flags=2 ret=2 envid=a+b to=<r@y>/n6/o=rfc822;r@y\n"
         "END\n",
         0, 0, 0, 0},
        {"sequence errors",
         "RCPT TO:<a@b>\r\nDATA\r\nMAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\n"
         "DATA\r\nRSET\r\nRCPT TO:<a@b>\r\nNOOP\r\nQUIT\r\n",
         "503 5.5.1 Error: need MAIL command\r\n"
         "503 5.5.1 Error: need RCPT command\r\n"
         "250 2.1.0 Ok\r\n"
         "503 5.5.1 Error: nested MAIL command\r\n"
         "554 5.5.1 Error: no valid recipients\r\n"
         "250 2.0.0 Ok\r\n"
         "503 5.5.1 Error: need MAIL command\r\n"
         "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n",
         "", 0, 0, 0, 0},
        {"syntax errors",
         "\r\nFOO\r\nMAIL\r\nMAIL TO:<a>\r\nMAIL FROM:<a\r\n"
         "MAIL FROM:<a> BOGUS=1\r\nMAIL FROM:<a> SIZE=5000\r\n"
         "MAIL FROM:<a> RET=X\r\nMAIL FROM:<a> ENVID=a+zz\r\n"
         "MAIL FROM:<a@b>\r\nRCPT TO:<>\r\nRCPT TO:\r\nRCPT TO:<a> "
         "NOTIFY=NEVER,DELAY\r\nRCPT TO:<a> ORCPT=bad\r\nRCPT TO:<a> X=1\r\n"
         "DATA x\r\nRSET x\r\nHELO\r\nEHLO\r\nVRFY a\r\nETRN x\r\n"
         "AUTH PLAIN\r\nSTARTTLS\r\nM\001IL\r\nQUIT\r\n",
         "500 5.5.2 Error: bad syntax\r\n"
         "502 5.5.2 Error: command not recognized\r\n"
         "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
         "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
         "501 5.1.7 Bad sender address syntax\r\n"
         "555 5.5.4 Unsupported option: BOGUS\r\n"
         "552 5.3.4 Message size exceeds fixed limit\r\n"
         "501 5.5.4 Bad RET parameter syntax\r\n"
         "501 5.5.4 Bad ENVID parameter syntax\r\n"
         "250 2.1.0 Ok\r\n"
         "501 5.1.3 Bad recipient address syntax\r\n"
         "501 5.5.4 Syntax: RCPT TO:<address>\r\n"
         "501 5.5.4 Error: Bad NOTIFY parameter syntax\r\n"
         "501 5.5.4 Error: Bad ORCPT parameter syntax\r\n"
         "555 5.5.4 Unsupported option: X\r\n"
         "501 5.5.4 Syntax: DATA\r\n"
         "501 5.5.4 Syntax: RSET\r\n"
         "501 Syntax: HELO hostname\r\n"
         "501 Syntax: EHLO hostname\r\n"
         "502 5.5.1 VRFY command is disabled\r\n"
         "502 5.5.1 Error: command not implemented\r\n"
         "503 5.5.1 Error: authentication not enabled\r\n"
         "502 5.5.1 Error: command not implemented\r\n"
         "500 5.5.2 Error: bad syntax\r\n"
         "221 2.0.0 Bye\r\n",
         "", 0, 0, 0, 0},
        {"recipient limit",
         "MAIL FROM:<a>\r\nRCPT TO:<1>\r\nRCPT TO:<2>\r\nRCPT TO:<3>\r\n"
         "RCPT TO:<4>\r\n",
         "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
         "452 4.5.3 Error: too many recipients\r\n",
         "", 0, 0, 0, 0},
        {"helo required", "MAIL FROM:<a>\r\nHELO x\r\nMAIL FROM:<a>\r\n",
         "503 5.5.1 Error: send HELO/EHLO first\r\n250 test.example\r\n"
         "250 2.1.0 Ok\r\n",
         "", 0, 0, 0, 1},
        {"too big",
         "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\r\n"
         ".\r\nQUIT\r\n",
         "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
         "354 End data with <CR><LF>.<CR><LF>\r\n"
         "552 5.3.4 Message size exceeds fixed limit\r\n221 2.0.0 Bye\r\n",
         "OPEN from=<a> flags=0 to=<b>\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "L:0123456789012345678901234567890123456789012345678901234567890123"
         "4567890123456789\n"
         "ABORT\n",
         0, 0, 0, 0},
        {"input ends in DATA",
         "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nhalf\r\n",
         "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
         "354 End data with <CR><LF>.<CR><LF>\r\n",
         "OPEN from=<a> flags=0 to=<b>\nL:half\nABORT\n", EX_TEMPFAIL, 0, 0, 0},
        {"postdrop fails",
         "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nx\r\n.\r\n"
         "MAIL FROM:<a>\r\n",
         "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
         "354 End data with <CR><LF>.<CR><LF>\r\n"
         "451 4.3.0 Error: queue file write error\r\n250 2.1.0 Ok\r\n",
         "OPEN from=<a> flags=0 to=<b>\nL:x\nEND\n", 0, EX_TEMPFAIL, 0, 0},
        {"not allowed", "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n",
         "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
         "550 5.7.1 Error: not allowed to submit mail\r\n",
         "", 0, 0, EX_NOPERM, 0},
        {"end of input without QUIT", "NOOP\r\n", "250 2.0.0 Ok\r\n", "", 0, 0,
         0, 0},
    };
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++)
        run_dialogue(&cases[i]);
    assert_int_equal(failures, 0);
}

static void test_long_command_line(void **state)
{
    struct dialogue d = {
        "long line", NULL, "500 5.5.0 Error: line too long\r\n250 2.0.0 Ok\r\n",
        "",          0,    0,
        0,           0};
    struct buf *in = buf_new(512);
    size_t i;

    (void) state;
    buf_puts(in, "NOOP ");
    for (i = 0; i < 300; i++)
        buf_putc(in, 'x');
    buf_puts(in, "\r\nNOOP\r\n");
    d.input = buf_str(in);
    run_dialogue(&d);
    buf_free(in);
    assert_int_equal(failures, 0);
}

static void test_verb(void **state)
{
    static const struct {
        const char *line;
        int verb;
        const char *args;
    } cases[] = {
        {"EHLO x", SM_CMD_EHLO, "x"},
        {"ehlo   x y", SM_CMD_EHLO, "x y"},
        {"mail from:<a>", SM_CMD_MAIL, "from:<a>"},
        {"DATA", SM_CMD_DATA, ""},
        {"QUIT\t", SM_CMD_QUIT, ""},
        {"STARTTLS", SM_CMD_STARTTLS, ""},
        {"XYZZY", SM_CMD_UNKNOWN, ""},
        {"", SM_CMD_BAD, ""},
        {" NOOP", SM_CMD_BAD, "NOOP"},
        {"NO\033OP", SM_CMD_BAD, ""},
    };
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        size_t off;
        int verb = sm_smtp_verb(cases[i].line, strlen(cases[i].line), &off);

        if (verb != cases[i].verb)
            report("\"%s\": got verb %d, want %d", cases[i].line, verb,
                   cases[i].verb);
        if (verb != SM_CMD_BAD && strcmp(cases[i].line + off, cases[i].args))
            report("\"%s\": got args \"%s\", want \"%s\"", cases[i].line,
                   cases[i].line + off, cases[i].args);
    }
    assert_int_equal(failures, 0);
}

static void test_xtext(void **state)
{
    static const struct {
        const char *in;
        const char *want; /* NULL: refused */
    } cases[] = {
        {"abc", "abc"}, {"a+2Bb", "a+b"}, {"+41+42", "AB"}, {"a+2b", NULL},
        {"a+", NULL},   {"a+4", NULL},    {"a=b", NULL},    {"a b", NULL},
        {"+00", NULL},  {"", ""},
    };
    struct buf *out = buf_new(16);
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(cases); i++) {
        int ret;

        buf_reset(out);
        ret = sm_xtext_decode(out, cases[i].in);
        if (cases[i].want == NULL
                ? ret == 0
                : ret < 0 || strcmp(buf_str(out), cases[i].want) != 0)
            report("\"%s\": got %d \"%s\", want \"%s\"", cases[i].in, ret,
                   buf_str(out), cases[i].want ? cases[i].want : "refused");
    }
    buf_free(out);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_copy, reset),
        cmocka_unit_test_setup(test_copy_sink_failure, reset),
        cmocka_unit_test_setup(test_dialogue, reset),
        cmocka_unit_test_setup(test_long_command_line, reset),
        cmocka_unit_test_setup(test_verb, reset),
        cmocka_unit_test_setup(test_xtext, reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
