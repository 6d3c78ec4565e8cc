/*
 * smtpd_cmd.h - smtpd's pure command parsing: one SMTP command line into
 * verb and argument, and the MAIL FROM / RCPT TO argument (address and
 * ESMTP parameters: SIZE, BODY, SMTPUTF8, RET, ENVID, NOTIFY, ORCPT,
 * AUTH) with RFC 3461 xtext decoding.
 *
 * Callers: smtpd/smtpd.c, tests/unit/test_smtpd_cmd.c and the fuzz target
 * tests/fuzz/fuzz_smtpd_cmd.c. No I/O and no global state: the session's
 * settings come in struct smtpd_cmd_opts.
 *
 * Errors: -1 with the complete Postfix reply to send in REPLY ("501 5.1.7
 * Bad sender address syntax", "555 5.5.4 Unsupported option: X", "552
 * 5.3.4 Message size exceeds fixed limit" ...).
 */
#ifndef POSTERN_SMTPD_CMD_H
#define POSTERN_SMTPD_CMD_H

#include <stddef.h>

struct buf;

/*
 * Split LINE (LEN bytes, no line ending) into VERB (upper-cased) and the
 * argument (*ARG, *ARG_LEN: after the white space that follows the verb,
 * trailing white space removed). Returns 0, or -1 with REPLY set for an
 * empty line or a line holding a NUL or another control byte in the verb
 * ("500 5.5.2 Error: bad syntax").
 */
int smtpd_cmd_split(const char *line, size_t len, struct buf *verb,
                    const char **arg, size_t *arg_len, struct buf *reply);

/* RFC 3461 xtext: append the decoded TEXT (LEN bytes) to OUT; 0 or -1. */
int smtpd_xtext_decode(struct buf *out, const char *text, size_t len);

/* What the session allows. */
struct smtpd_cmd_opts {
    int strict_rfc821; /* strict_rfc821_envelopes: <> required, RFC grammar */
    int smtputf8;      /* SMTPUTF8 offered (smtputf8_enable, not discarded) */
    int dsn;           /* DSN offered (not in smtpd_discard_ehlo_keywords) */
    int auth;          /* AUTH offered: accept the AUTH= parameter */
    long size_limit;   /* message_size_limit; 0 = none */
};

/* MAIL FROM results. */
#define SMTPD_BODY_NONE     0
#define SMTPD_BODY_7BIT     1
#define SMTPD_BODY_8BITMIME 2

struct smtpd_mail {
    struct buf *addr;  /* internal form; "" for <> */
    long size;         /* SIZE=, -1 when not given */
    int body;          /* SMTPD_BODY_* */
    int smtputf8;      /* SMTPUTF8 given */
    int ret;           /* REC_DSN_RET_FULL / _HDRS, 0 = not given */
    struct buf *envid; /* decoded ENVID, "" = none */
    struct buf *auth;  /* decoded AUTH= value, "" = none */
};

struct smtpd_rcpt {
    struct buf *addr;  /* internal form */
    int notify;        /* REC_NOTIFY_* bits, 0 = not given */
    struct buf *orcpt; /* "rfc822;user@example.com" (decoded), "" = none */
};

void smtpd_mail_init(struct smtpd_mail *m);
void smtpd_mail_free(struct smtpd_mail *m);
void smtpd_rcpt_init(struct smtpd_rcpt *r);
void smtpd_rcpt_free(struct smtpd_rcpt *r);

/*
 * ARG is what follows the verb MAIL (or RCPT): "FROM:<a@b> SIZE=10" (or
 * "TO:<a@b> NOTIFY=NEVER"). Fills M (R) and returns 0, or -1 with REPLY.
 */
int smtpd_cmd_mail(const char *arg, size_t len,
                   const struct smtpd_cmd_opts *opts, struct smtpd_mail *m,
                   struct buf *reply);
int smtpd_cmd_rcpt(const char *arg, size_t len,
                   const struct smtpd_cmd_opts *opts, struct smtpd_rcpt *r,
                   struct buf *reply);

/*
 * "BDAT size [LAST]": 0 with *SIZE and *LAST, or -1 with REPLY ("501
 * 5.5.4 Syntax: BDAT count [LAST]").
 */
int smtpd_cmd_bdat(const char *arg, size_t len, long long *size, int *last,
                   struct buf *reply);

/* Is NAME a syntactically valid HELO/ETRN domain (for ETRN: "@" or "#" prefix
 * allowed)? */
int smtpd_cmd_domain_ok(const char *name, size_t len);

#endif
