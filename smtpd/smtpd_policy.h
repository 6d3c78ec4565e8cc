/*
 * smtpd_policy.h - check_policy_service: Postfix's policy delegation
 * protocol (SMTPD_POLICY_README) over unix:path (a relative path is
 * relative to the working directory, which daemons set to
 * queue_directory, inside or outside the chroot) or inet:host:port.
 *
 * A request is "name=value" lines and an empty line; the reply is
 * "action=..." (other attributes ignored) and an empty line. Connections
 * are kept for smtpd_policy_service_max_idle / _max_ttl /
 * _request_limit; a failed request is retried up to
 * smtpd_policy_service_try_limit times, smtpd_policy_service_retry_delay
 * apart; each request is bounded by smtpd_policy_service_timeout.
 *
 * Caller: smtpd_check.c. Errors: -1 with a reason in ERR; the caller then
 * applies smtpd_policy_service_default_action.
 */
#ifndef POSTERN_SMTPD_POLICY_H
#define POSTERN_SMTPD_POLICY_H

struct buf;
struct smtpd_client;
struct smtpd_policy;

/* ENDPOINT: "unix:private/policy", "inet:127.0.0.1:9998". */
struct smtpd_policy *smtpd_policy_new(const char *endpoint);
void smtpd_policy_free(struct smtpd_policy *p);
const char *smtpd_policy_endpoint(const struct smtpd_policy *p);
/*
 * Per-service settings (Postfix 3.0 "check_policy_service { endpoint,
 * name=value, ... }"): timeout, max_idle, max_ttl, request_limit,
 * try_limit, retry_delay, default_action, policy_context. Defaults are
 * the smtpd_policy_service_* parameters. 0, or -1 with ERR.
 */
int smtpd_policy_set_option(struct smtpd_policy *p, const char *name,
                            const char *value, struct buf *err);
/* The action used when the service fails. */
const char *smtpd_policy_default_action(const struct smtpd_policy *p);
/* Close an idle connection (between sessions). */
void smtpd_policy_close(struct smtpd_policy *p);

/*
 * Ask the server about CLIENT at STATE ("CONNECT", "EHLO", "HELO", "MAIL",
 * "RCPT", "DATA", "END-OF-MESSAGE", "VRFY", "ETRN"). 0 with the action
 * text in ACTION, or -1 with ERR set.
 */
int smtpd_policy_query(struct smtpd_policy *p, const struct smtpd_client *c,
                       const char *state, struct buf *action, struct buf *err);

/* The request text for CLIENT at STATE (exposed for tests). */
void smtpd_policy_request(const struct smtpd_policy *p,
                          const struct smtpd_client *c, const char *state,
                          struct buf *out);

#endif
