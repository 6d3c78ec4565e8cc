/*
 * smtpd_sasl.h - smtpd's side of SMTP AUTH (RFC 4954): the AUTH command
 * state machine, the EHLO AUTH keyword, the mechanism filter, the AUTH=
 * parameter of MAIL FROM and the SASL log lines, in Postfix's behaviour.
 * The mechanisms themselves run in the auth service (lib/auth_client.h);
 * smtpd relays the client's lines and never sees a password file.
 *
 * Callers: smtpd/smtpd.c (smtpd_sasl_init before the chroot, one struct
 * smtpd_sasl per client), tests/unit/test_smtpd_sasl.c.
 *
 * Errors: start-up problems (smtpd_sasl_type, security options, filter
 * syntax) are returned for a fatal; a client's failure becomes Postfix's
 * reply; the auth service being down becomes "454 4.7.0 Temporary
 * authentication failure" and smtpd goes on serving.
 *
 * Parameters: smtpd_sasl_auth_enable, smtpd_sasl_type, smtpd_sasl_path,
 * smtpd_sasl_security_options, smtpd_sasl_tls_security_options,
 * smtpd_tls_auth_only, smtpd_sasl_mechanism_filter,
 * broken_sasl_auth_clients, smtpd_sasl_exceptions_networks,
 * smtpd_sasl_response_limit, auth_ipc_timeout. Failed attempts in one
 * session are slowed down: no pause for the first, then 1, 2, 3, 4 and
 * at most 5 seconds before the 535 reply (smtpd_sasl_fail_delay).
 */
#ifndef POSTERN_SMTPD_SASL_H
#define POSTERN_SMTPD_SASL_H

#include <stddef.h>

struct buf;

/*
 * Start-up (before the chroot: the filter's tables and the exceptions'
 * tables are opened here). Does nothing when smtpd_sasl_auth_enable is
 * off. 0, or -1 with ERR ("smtpd_sasl_type: ...").
 */
int smtpd_sasl_init(struct buf *err);
void smtpd_sasl_free(void);
/* smtpd_sasl_auth_enable, and init succeeded. */
int smtpd_sasl_enabled(void);

/* One client's SASL state. */
struct smtpd_sasl {
    struct buf *method;   /* mechanism after success, "" before */
    struct buf *username; /* authenticated identity (user@realm), "" */
    struct buf *sender;   /* AUTH= of the current MAIL FROM, printable */
    int have_sender;      /* AUTH= given (and not <>) */
    unsigned failures;    /* failed AUTH exchanges in this session */
    int exception;        /* smtpd_sasl_exceptions_networks: no AUTH in EHLO */
    struct buf *mechs;    /* the filtered list from auth (last EHLO) */
};

/* Client NAME/ADDR (for smtpd_sasl_exceptions_networks). */
void smtpd_sasl_session_init(struct smtpd_sasl *ss, const char *name,
                             const char *addr);
void smtpd_sasl_session_free(struct smtpd_sasl *ss);
/* After STARTTLS: forget the login and the mechanism list (RFC 3207). */
void smtpd_sasl_session_tls(struct smtpd_sasl *ss);
/* Is the client authenticated? */
int smtpd_sasl_authenticated(const struct smtpd_sasl *ss);

/*
 * EHLO: append "\n250 AUTH MECHS" (and "\n250 AUTH=MECHS" with
 * broken_sasl_auth_clients) to REPLY when AUTH applies to this client
 * now (not an exception, not smtpd_tls_auth_only before TLS, a
 * non-empty list from auth).
 */
void smtpd_sasl_ehlo(struct smtpd_sasl *ss, int tls_active, struct buf *reply);

/*
 * MAIL FROM's AUTH= value (decoded xtext, "" when absent): remembered
 * for the log and the queue file until smtpd_sasl_mail_reset().
 */
void smtpd_sasl_mail(struct smtpd_sasl *ss, const char *auth_param);
void smtpd_sasl_mail_reset(struct smtpd_sasl *ss);
/* ", sasl_method=M, sasl_username=U, sasl_sender=S" for the queue-ID line. */
void smtpd_sasl_log_fields(const struct smtpd_sasl *ss, struct buf *out);

/* What smtpd.c provides to the AUTH command. */
#define SMTPD_SASL_READ_OK      0
#define SMTPD_SASL_READ_TOOLONG 1
#define SMTPD_SASL_READ_END     (-1) /* lost or timed out (logged, replied) */

struct smtpd_sasl_io {
    void *ctx;
    /* Send one reply (4xx/5xx count as errors). */
    void (*reply)(void *ctx, const char *text);
    /* Flush, read one line (at most LIMIT bytes): SMTPD_SASL_READ_*. */
    int (*read_line)(void *ctx, struct buf *line, size_t limit);
    /* smtpd_client_auth_rate_limit: -1 with REPLY when over. May be NULL. */
    int (*rate_check)(void *ctx, struct buf *reply);
    /* Pause SECONDS before a failure reply (tests make it a no-op). */
    void (*pause)(void *ctx, unsigned seconds);
};

/* The session facts the AUTH command looks at. */
struct smtpd_sasl_cmd {
    const char *namaddr; /* "host[addr]" for log lines */
    int tls_active;
    int tls_offered; /* STARTTLS is offered (a 538 hint makes sense) */
    int in_mail;     /* a MAIL transaction is in progress */
    int need_helo;   /* smtpd_helo_required and no HELO/EHLO yet */
    int discarded;   /* AUTH is in smtpd_discard_ehlo_keywords */
};

/* AUTH results, as smtpd.c's handlers return them. */
#define SMTPD_SASL_FAIL 0
#define SMTPD_SASL_OK   1
#define SMTPD_SASL_END  (-1)

/*
 * The AUTH command with argument ARG (LEN bytes: "MECH [initial]"):
 * the whole exchange, replies included. SMTPD_SASL_OK after "235",
 * SMTPD_SASL_FAIL after an error reply, SMTPD_SASL_END when the client
 * went away during the exchange.
 */
int smtpd_sasl_auth_cmd(struct smtpd_sasl *ss, const struct smtpd_sasl_io *io,
                        const struct smtpd_sasl_cmd *cmd, const char *arg,
                        size_t len);

/* ---- pure helpers (also for the tests) ------------------------------ */

/* Seconds to wait before the reply to failure number N (1, 2, ...). */
unsigned smtpd_sasl_fail_delay(unsigned n);
/* Is TEXT syntactically base64 (RFC 4648 alphabet, padding), or "="? */
int smtpd_sasl_b64_syntax_ok(const char *text, size_t len);
/* The text a client may see for the auth service's failure REASON. */
const char *smtpd_sasl_client_reason(const char *reason);

struct smtpd_sasl_filter;
/*
 * Compile a smtpd_sasl_mechanism_filter value: mechanism names,
 * "type:table" lookups (the value is ignored), "/file/name" with more
 * patterns, "!" before any of them to exclude. NULL with ERR.
 */
struct smtpd_sasl_filter *smtpd_sasl_filter_new(const char *text,
                                                struct buf *err);
void smtpd_sasl_filter_free(struct smtpd_sasl_filter *f);
/* Append to OUT the words of MECHS (blank separated) that FILTER keeps. */
void smtpd_sasl_filter_apply(struct smtpd_sasl_filter *f, const char *mechs,
                             struct buf *out);
/* Check and normalize a security option list ("noanonymous, noplaintext"). */
int smtpd_sasl_options_check(const char *title, const char *value,
                             struct buf *out, struct buf *err);

#endif
