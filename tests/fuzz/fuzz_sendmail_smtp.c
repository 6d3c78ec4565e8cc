/*
 * fuzz_sendmail_smtp.c - libFuzzer target for sendmail -bs: the SMTP
 * command parser and dialogue of queue/sendmail_smtp.c and the DATA copy
 * of queue/sendmail_drop.c (both included here; the fuzz build links
 * only lib/ and maps/).
 *
 * Built and run by tests/fuzz/run. The first input byte picks the
 * settings: HELO required (bit 0), a small message size limit (bit 1), a
 * short line limit (bit 2), one recipient at most (bit 3), a sink whose
 * open fails (bit 4), whose finish fails (bit 5) or whose text fails
 * (bit 6). The rest is the client's input. Besides sanitizer findings, a
 * broken invariant aborts:
 *   - every reply line is "DDD " or "DDD-" and ends with CR LF;
 *   - every message the sink opened was finished or aborted once;
 *   - "queued as" is said exactly as often as the sink queued a message;
 *   - the sink never gets text outside a message, nor more content than
 *     the size limit allows.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../queue/sendmail_args.c"
#include "../../queue/sendmail_drop.c"
#include "../../queue/sendmail_smtp.c"

static void check(int cond)
{
    if (!cond)
        abort();
}

struct fz {
    int open_fails;
    int finish_fails;
    int text_fails;
    int opened;
    int closed;
    int queued;
    int in_message;
    long long size;
    long limit;
};

static void *fz_open(void *ctx, const struct sm_env *env, struct buf *err,
                     int *status)
{
    struct fz *f = ctx;
    size_t i;

    check(!f->in_message);
    check(env->nrcpt > 0);
    for (i = 0; i < env->nrcpt; i++)
        check(env->rcpt_addr[i][0] != 0);
    if (f->open_fails) {
        buf_set(err, "open failed");
        *status = EX_TEMPFAIL;
        return NULL;
    }
    f->opened++;
    f->in_message = 1;
    f->size = 0;
    return f;
}

static int fz_text(void *h, const char *data, size_t len, int partial)
{
    struct fz *f = h;

    (void) data;
    check(f->in_message);
    f->size += (long long) len + (partial ? 0 : 1);
    check(f->limit == 0 || f->size <= f->limit);
    return f->text_fails ? -1 : 0;
}

static int fz_finish(void *h, struct buf *id, struct buf *err)
{
    struct fz *f = h;

    check(f->in_message);
    f->in_message = 0;
    f->closed++;
    if (f->finish_fails) {
        buf_set(err, "failed");
        return EX_TEMPFAIL;
    }
    f->queued++;
    buf_set(id, "QUEUEID");
    return 0;
}

static void fz_abort(void *h)
{
    struct fz *f = h;

    check(f->in_message);
    f->in_message = 0;
    f->closed++;
}

/* Count "queued as" replies and check the shape of every reply line. */
static int fz_replies(const struct buf *out)
{
    const char *cp = buf_str(out);
    const char *end = cp + buf_len(out);
    int queued = 0;

    while (cp < end) {
        const char *nl = memchr(cp, '\n', (size_t) (end - cp));

        check(nl != NULL && nl - cp >= 5 && nl[-1] == '\r');
        check(cp[0] >= '2' && cp[0] <= '5' && cp[1] >= '0' && cp[1] <= '9'
              && cp[2] >= '0' && cp[2] <= '9');
        check(cp[3] == ' ' || cp[3] == '-');
        if (nl - cp > 12 && memmem(cp, (size_t) (nl - cp), "queued as", 9))
            queued++;
        cp = nl + 1;
    }
    return queued;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sm_smtp_conf conf;
    struct sm_sink sink;
    struct buf *out;
    struct stream *in;
    struct stream *os;
    struct fz f;

    if (size == 0)
        return 0;
    memset(&conf, 0, sizeof(conf));
    conf.hostname = "fuzz.example";
    conf.banner = "fuzz.example ESMTP Postern";
    conf.helo_required = data[0] & 0x01;
    conf.size_limit = (data[0] & 0x02) ? 64 : 0;
    conf.line_limit = (data[0] & 0x04) ? 16 : 1000;
    conf.rcpt_limit = (data[0] & 0x08) ? 1 : 100;
    memset(&f, 0, sizeof(f));
    f.open_fails = (data[0] & 0x10) != 0;
    f.finish_fails = (data[0] & 0x20) != 0;
    f.text_fails = (data[0] & 0x40) != 0;
    f.limit = conf.size_limit;
    sink.open = fz_open;
    sink.text = fz_text;
    sink.finish = fz_finish;
    sink.abort = fz_abort;
    sink.ctx = &f;

    out = buf_new(256);
    in = stream_open_mem(data + 1, size - 1, NULL);
    os = stream_open_mem("", 0, out);
    (void) sm_smtp_run(in, os, &conf, &sink);
    stream_flush(os);
    check(!f.in_message);
    check(f.opened == f.closed);
    check(fz_replies(out) == f.queued);
    stream_free(in);
    stream_free(os);
    buf_free(out);
    return 0;
}
