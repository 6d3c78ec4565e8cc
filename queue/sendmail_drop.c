/*
 * sendmail_drop.c - hand one message to postdrop, and copy a message
 * from an input stream into any sink (sendmail.h).
 *
 * postdrop runs setgid setgid_group with the record stream of one message
 * on its standard input (record.h: VERSION, TIME, SENDER, FLAGS, DSN_RET,
 * DSN_ENVID, ATTR full_name, RCPT..., MESSAGE, LINE/PIECE..., XTRACTED,
 * END) and answers with the queue ID on its standard output and its exit
 * status (sysexits.h). Its standard error is sendmail's: its own messages
 * reach the user as they are.
 *
 * Callers: sendmail.c (one message from stdin) and sendmail_smtp.c (each
 * message of a -bs dialogue). Errors: sysexits codes and a reason in a
 * buf; nothing here exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "record.h"
#include "sendmail.h"
#include "stream.h"

/* ---- copying a message ------------------------------------------------ */

struct sm_copy {
    const struct sm_sink *sink;
    void *h;
    int dot_mode;
    long size_limit;
    long long size;
    int toobig;
    int failed;
    int first_line; /* no line of the message seen yet */
    int skip_line;  /* dropping the current line (a From_ line) */
    int in_line;    /* part of the current line was passed on already */
};

/* Pass on DATA/LEN, the start or all of a line (PARTIAL: more follows). */
static void sm_copy_out(struct sm_copy *c, const char *data, size_t len,
                        int partial)
{
    if (!c->in_line) {
        if (c->first_line && c->dot_mode != 2 && len >= 5
            && memcmp(data, "From ", 5) == 0)
            c->skip_line = 1;
        if (c->dot_mode == 2 && len > 0 && data[0] == '.') {
            data++;
            len--;
        }
    }
    c->first_line = 0;
    c->in_line = partial;
    if (c->skip_line) {
        if (!partial)
            c->skip_line = 0;
        return;
    }
    c->size += (long long) len + (partial ? 0 : 1);
    if (c->size_limit > 0 && c->size > c->size_limit)
        c->toobig = 1;
    if (c->toobig || c->failed)
        return;
    if (c->sink->text(c->h, data, len, partial) < 0)
        c->failed = 1;
}

int sm_copy_message(struct stream *in, const struct sm_sink *sink, void *h,
                    int dot_mode, long size_limit, size_t line_limit)
{
    struct buf *line = buf_new(256);
    struct sm_copy c;
    int ret = SM_COPY_OK;
    int ch;

    memset(&c, 0, sizeof(c));
    c.sink = sink;
    c.h = h;
    c.dot_mode = dot_mode;
    c.size_limit = size_limit;
    c.first_line = 1;
    if (line_limit < 2)
        line_limit = 2;

    for (;;) {
        ch = stream_getc(in);
        if (ch < 0) {
            if (stream_reason(in) != STREAM_EOF) {
                ret = SM_COPY_IO;
                break;
            }
            /* A last line without a line ending still counts. */
            if (buf_len(line) > 0 || c.in_line) {
                if (dot_mode != 2)
                    sm_copy_out(&c, buf_str(line), buf_len(line), 0);
            }
            if (dot_mode == 2)
                ret = SM_COPY_EOF;
            break;
        }
        if (ch == '\n') {
            size_t len = buf_len(line);

            if (len > 0 && buf_str(line)[len - 1] == '\r')
                len--;
            if (dot_mode != 0 && !c.in_line && len == 1
                && buf_str(line)[0] == '.')
                break;
            sm_copy_out(&c, buf_str(line), len, 0);
            buf_reset(line);
            continue;
        }
        if (buf_len(line) >= line_limit) {
            /* A full buffer and more of the line: pass on a piece, but
             * keep a CR back (it may be the CR of a CR LF). */
            size_t len = buf_len(line);
            int cr = buf_str(line)[len - 1] == '\r';

            sm_copy_out(&c, buf_str(line), len - (size_t) cr, 1);
            buf_reset(line);
            if (cr)
                buf_putc(line, '\r');
        }
        buf_putc(line, ch);
    }
    buf_free(line);
    if (ret == SM_COPY_OK || ret == SM_COPY_EOF) {
        if (c.failed)
            ret = SM_COPY_SINK;
        else if (c.toobig && ret == SM_COPY_OK)
            ret = SM_COPY_TOOBIG;
    }
    return ret;
}

/* ---- the postdrop sink -------------------------------------------------- */

struct sm_drop_ctx {
    char *postdrop;
    char *config_dir;
    int verbose;
};

struct sm_drop {
    pid_t pid;
    int out_fd; /* postdrop's standard output (the queue ID) */
    struct stream *s;
    struct rec_writer *w;
    int failed; /* a write to postdrop failed */
};

static long long sm_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long) tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* Write the envelope and the MESSAGE record. 0 / -1. */
static int sm_drop_envelope(struct sm_drop *d, const struct sm_env *env)
{
    struct rec_writer *w = d->w;
    size_t i;

    rec_put_version(w);
    rec_put_int(w, REC_TIME, sm_now_us());
    rec_puts(w, REC_SENDER, env->sender);
    if (env->flags)
        rec_put_int(w, REC_FLAGS, env->flags);
    if (env->dsn_ret)
        rec_put_int(w, REC_DSN_RET, env->dsn_ret);
    if (env->envid)
        rec_puts(w, REC_DSN_ENVID, env->envid);
    if (env->full_name)
        rec_put_attr(w, "full_name", env->full_name);
    for (i = 0; i < env->nrcpt; i++)
        rec_put_rcpt(
            w, REC_RCPT_PENDING, env->rcpt_notify ? env->rcpt_notify[i] : 0,
            env->rcpt_addr[i], env->rcpt_orig ? env->rcpt_orig[i] : NULL,
            env->rcpt_orcpt ? env->rcpt_orcpt[i] : NULL);
    return rec_put(w, REC_MESSAGE, "", 0);
}

static void *sm_drop_open(void *ctx, const struct sm_env *env, struct buf *err,
                          int *status)
{
    struct sm_drop_ctx *dc = ctx;
    struct argv *av = argv_new(6);
    struct sm_drop *d;
    int in[2];
    int out[2];
    pid_t pid;

    if (pipe2(in, O_CLOEXEC) < 0) {
        buf_setf(err, "pipe: %s", strerror(errno));
        *status = EX_OSERR;
        argv_free(av);
        return NULL;
    }
    if (pipe2(out, O_CLOEXEC) < 0) {
        buf_setf(err, "pipe: %s", strerror(errno));
        *status = EX_OSERR;
        close(in[0]);
        close(in[1]);
        argv_free(av);
        return NULL;
    }
    argv_add(av, dc->postdrop);
    if (dc->config_dir) {
        argv_add(av, "-c");
        argv_add(av, dc->config_dir);
    }
    if (dc->verbose)
        argv_add(av, "-v");
    if ((pid = fork()) < 0) {
        buf_setf(err, "fork: %s", strerror(errno));
        *status = EX_OSERR;
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        argv_free(av);
        return NULL;
    }
    if (pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
            _exit(EX_OSERR);
        /* postdrop must not inherit an ignored SIGPIPE or SIGTERM. */
        signal(SIGPIPE, SIG_DFL);
        execv(dc->postdrop, av->argv);
        msg_warn("execute %s: %s", dc->postdrop, strerror(errno));
        _exit(EX_UNAVAILABLE);
    }
    argv_free(av);
    close(in[0]);
    close(out[1]);
    d = mem_calloc(1, sizeof(*d));
    d->pid = pid;
    d->out_fd = out[0];
    d->s = stream_open(in[1]);
    stream_set_timeout(d->s, (int) var_daemon_timeout);
    d->w = rec_writer_new(d->s, 0);
    if (sm_drop_envelope(d, env) < 0)
        d->failed = 1;
    return d;
}

static int sm_drop_text(void *h, const char *data, size_t len, int partial)
{
    struct sm_drop *d = h;

    if (d->failed)
        return -1;
    if (rec_put(d->w, partial ? REC_PIECE : REC_LINE, data, len) < 0) {
        d->failed = 1;
        return -1;
    }
    return 0;
}

/* Close our end of postdrop's input and wait for it; its exit status. */
static int sm_drop_wait(struct sm_drop *d, struct buf *id, struct buf *err)
{
    struct stream *out;
    char data[256];
    size_t got = 0;
    int wstatus;
    int ret;

    if (d->w) {
        rec_writer_free(d->w);
        d->w = NULL;
    }
    if (d->s) {
        (void) stream_close(d->s);
        d->s = NULL;
    }
    /* postdrop's answer (the queue ID), with the same deadline as input. */
    out = stream_open(d->out_fd);
    stream_set_timeout(out, (int) var_daemon_timeout);
    while (got < sizeof(data) - 1) {
        ssize_t n = stream_read_some(out, data + got, sizeof(data) - 1 - got);

        if (n <= 0)
            break;
        got += (size_t) n;
    }
    data[got] = 0;
    (void) stream_close(out);
    while (waitpid(d->pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            buf_setf(err, "wait for postdrop: %s", strerror(errno));
            return EX_OSERR;
        }
    }
    if (WIFSIGNALED(wstatus)) {
        buf_setf(err, "postdrop was killed by signal %d", WTERMSIG(wstatus));
        return EX_TEMPFAIL;
    }
    ret = WEXITSTATUS(wstatus);
    if (ret != 0) {
        /* postdrop said why on stderr already. */
        buf_setf(err, "postdrop exit status %d", ret);
        return ret >= EX__BASE && ret <= EX__MAX ? ret : EX_TEMPFAIL;
    }
    if (id) {
        size_t len = strcspn(data, "\r\n");

        buf_reset(id);
        buf_append(id, data, len);
        if (len == 0) {
            buf_set(err, "postdrop gave no queue ID");
            return EX_SOFTWARE;
        }
    }
    return 0;
}

static int sm_drop_finish(void *h, struct buf *id, struct buf *err)
{
    struct sm_drop *d = h;
    int write_failed;
    int ret;

    if (!d->failed
        && (rec_put(d->w, REC_XTRACTED, "", 0) < 0
            || rec_put(d->w, REC_END, "", 0) < 0 || rec_writer_flush(d->w) < 0))
        d->failed = 1;
    write_failed = d->failed;
    ret = sm_drop_wait(d, id, err);
    if (ret == 0 && write_failed) {
        buf_set(err, "lost connection with postdrop");
        ret = EX_TEMPFAIL;
    }
    mem_free(d);
    return ret;
}

static void sm_drop_abort(void *h)
{
    struct sm_drop *d = h;
    struct buf *err = buf_new(64);

    /* postdrop removes its temporary file when told to stop. */
    (void) kill(d->pid, SIGTERM);
    (void) sm_drop_wait(d, NULL, err);
    buf_free(err);
    mem_free(d);
}

void sm_drop_sink(struct sm_sink *sink, const char *postdrop,
                  const char *config_dir, int verbose)
{
    static struct sm_drop_ctx ctx;

    mem_free(ctx.postdrop);
    mem_free(ctx.config_dir);
    ctx.postdrop = mem_strdup(postdrop);
    ctx.config_dir = config_dir ? mem_strdup(config_dir) : NULL;
    ctx.verbose = verbose;
    sink->open = sm_drop_open;
    sink->text = sm_drop_text;
    sink->finish = sm_drop_finish;
    sink->abort = sm_drop_abort;
    sink->ctx = &ctx;
}
