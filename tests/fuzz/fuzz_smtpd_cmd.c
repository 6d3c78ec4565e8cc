/*
 * fuzz_smtpd_cmd.c - libFuzzer target for smtpd's command parser
 * (smtpd/smtpd_cmd.c, included here: the fuzz build links only lib/ and
 * maps/): verb splitting, then the argument as MAIL FROM, RCPT TO and BDAT
 * arguments, and xtext decoding.
 *
 * The first input byte picks the settings (bit 0 strict_rfc821, bit 1
 * SMTPUTF8 off, bit 2 DSN off, bit 3 AUTH on, bit 4 a 1000-byte size
 * limit); the rest is one command line. Besides sanitizer findings, a
 * broken invariant aborts:
 *   - every error reply is "DDD X.Y.Z text" with a 4xx/5xx code;
 *   - an accepted MAIL/RCPT address holds no NUL, an accepted SIZE is
 *     within the limit, NOTIFY=NEVER never comes with other bits;
 *   - an accepted BDAT size is not negative.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/smtpd_cmd.c"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void check_reply(const struct buf *reply)
{
    const char *r = buf_str(reply);

    check(buf_len(reply) >= 10);
    check(r[0] == '4' || r[0] == '5');
    check(r[1] >= '0' && r[1] <= '9' && r[2] >= '0' && r[2] <= '9');
    check(r[3] == ' ');
    check(r[4] == r[0] && r[5] == '.');
    check(memchr(r, '\n', buf_len(reply)) == NULL);
    check(memchr(r, '\r', buf_len(reply)) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtpd_cmd_opts o;
    struct buf *verb;
    struct buf *reply;
    struct smtpd_mail m;
    struct smtpd_rcpt r;
    const char *arg;
    size_t alen;
    const char *line;
    size_t len;
    long long bsize;
    int last;

    if (size < 1)
        return 0;
    o.strict_rfc821 = data[0] & 1;
    o.smtputf8 = !(data[0] & 2);
    o.dsn = !(data[0] & 4);
    o.auth = (data[0] & 8) != 0;
    o.size_limit = (data[0] & 16) ? 1000 : 0;
    line = (const char *) data + 1;
    len = size - 1;
    verb = buf_new(16);
    reply = buf_new(64);
    smtpd_mail_init(&m);
    smtpd_rcpt_init(&r);
    if (smtpd_cmd_split(line, len, verb, &arg, &alen, reply) < 0) {
        check_reply(reply);
    } else {
        check(buf_len(verb) > 0);
        check(arg >= line && arg + alen <= line + len);
        buf_reset(reply);
        if (smtpd_cmd_mail(arg, alen, &o, &m, reply) == 0) {
            check(memchr(buf_str(m.addr), 0, buf_len(m.addr)) == NULL);
            check(m.size >= -1);
            if (o.size_limit > 0)
                check(m.size <= o.size_limit);
            check(buf_len(m.envid) <= 100);
        } else {
            check_reply(reply);
        }
        buf_reset(reply);
        if (smtpd_cmd_rcpt(arg, alen, &o, &r, reply) == 0) {
            check(buf_len(r.addr) > 0);
            check(memchr(buf_str(r.addr), 0, buf_len(r.addr)) == NULL);
            check(!(r.notify & REC_NOTIFY_NEVER)
                  || r.notify == REC_NOTIFY_NEVER);
            check(buf_len(r.orcpt) <= 500);
        } else {
            check_reply(reply);
        }
        buf_reset(reply);
        if (smtpd_cmd_bdat(arg, alen, &bsize, &last, reply) == 0)
            check(bsize >= 0 && (last == 0 || last == 1));
        else
            check_reply(reply);
        buf_reset(reply);
        (void) smtpd_xtext_decode(reply, arg, alen);
        (void) smtpd_cmd_domain_ok(arg, alen);
    }
    smtpd_mail_free(&m);
    smtpd_rcpt_free(&r);
    buf_free(verb);
    buf_free(reply);
    return 0;
}
