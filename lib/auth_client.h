/*
 * auth_client.h - talking to the auth service (auth/auth.c), the only
 * process that holds passwords: SMTP AUTH for smtpd (server side) and
 * client credentials for smtp (client side).
 *
 * Callers: smtpd (AUTH command, EHLO AUTH line), smtp (credentials),
 * postauth test, tests/daemons/authc.c. Errors are returned, never fatal:
 * AUTH_TEMP means "the service is down, misconfigured or timed out" and
 * becomes 454 4.7.0 (smtpd) or a deferral (smtp). Nothing here logs.
 *
 * ---- The protocol --------------------------------------------------------
 *
 * A stream connection to $queue_directory/private/auth (the path is
 * smtpd_sasl_path / smtp_sasl_path, relative to queue_directory; master.cf
 * line "auth unix - n n - 1 auth"). Every message is one attribute list
 * (lib/attr.h). The client sends a request, the service sends exactly one
 * reply; a connection may carry any number of requests, one at a time, and
 * holds at most one authentication exchange in progress. Every read on
 * both sides has a timeout (auth_ipc_timeout here). A malformed request
 * makes the service log a warning and close the connection.
 *
 * Requests (the first attribute is always "request"; unlisted attributes
 * are an error):
 *
 *   request=mechs   options=LIST tls=0|1
 *       Which mechanisms may be offered. OPTIONS is the security option
 *       list in force (smtpd_sasl_security_options, or the _tls_ variant
 *       when TLS=1): noanonymous, noplaintext, noactive, nodictionary,
 *       mutual_auth, separated by commas or blanks.
 *       reply: status=OK data="PLAIN LOGIN ..." (may be empty).
 *
 *   request=start   mech=NAME response=TEXT options=LIST tls=0|1
 *                   client=TEXT
 *       Begin an exchange (replaces one in progress). RESPONSE is the
 *       initial response exactly as the SMTP client sent it after the
 *       mechanism name: base64, "=" for an empty one, "" for none.
 *       CLIENT is "host[addr]" for the service's log lines. A mechanism
 *       not allowed by OPTIONS/TLS fails. Optional: realm=TEXT, the realm
 *       for a bare user name (smtpd_sasl_local_domain as the client sees
 *       it, so that a master.cf -o override counts); without it the
 *       service's own smtpd_sasl_local_domain is used.
 *
 *   request=step    response=TEXT
 *       The client's next line, exactly as sent (base64, or "*" which
 *       cancels: status=FAIL reason="authentication aborted").
 *
 *   request=cancel
 *       Forget the exchange in progress. reply: status=OK.
 *
 *   request=creds   sender=ADDR host=NAME nexthop=TEXT
 *       Client credentials (smtp_sasl_password_maps) for a delivery from
 *       SENDER ("" for the null sender) to the server HOST (the name
 *       smtp connected to) reached through NEXTHOP as written in
 *       relayhost/transport ("[mail.isp.example]:587"). Looked up in
 *       Postfix's order: with smtp_sender_dependent_authentication = yes
 *       and a non-null sender, SENDER then "@domain"; then HOST; then
 *       NEXTHOP. The value is "username:password", split at the first
 *       colon. reply: status=OK user=USERNAME data=PASSWORD, or
 *       status=NONE (no entry: do not authenticate), or status=TEMP.
 *
 * Every reply has the same four attributes, the unused ones empty:
 *
 *   status  INT  AUTH_OK, AUTH_CONTINUE, AUTH_FAIL, AUTH_TEMP, AUTH_NONE
 *   data    STR  CONTINUE: the challenge in base64 (send "334 " DATA);
 *                mechs: the list; creds: the password
 *   user    STR  OK after start/step: the authenticated identity
 *                (user@realm); creds: the username
 *   reason  STR  FAIL/TEMP: why, for the log (never for the SMTP client,
 *                never a secret); OK after start/step: the mechanism
 *
 * Example: "AUTH PLAIN AGJvYgBzZWNyZXQ=" becomes
 *   7:request,5:start,4:mech,5:PLAIN,8:response,16:AGJvYgBzZWNyZXQ=,...
 * and the reply
 *   6:status,1:0,4:data,0:,4:user,15:bob@example.org,6:reason,5:PLAIN,0:,
 */
#ifndef POSTERN_AUTH_CLIENT_H
#define POSTERN_AUTH_CLIENT_H

struct buf;
struct auth_client;

/* Reply status codes (values on the wire). */
enum auth_status {
    AUTH_OK = 0,       /* success (start/step/cancel/mechs/creds) */
    AUTH_CONTINUE = 1, /* send the challenge, then step with the answer */
    AUTH_FAIL = 2,     /* authentication failed (535, or 501 for "*") */
    AUTH_TEMP = 3,     /* service down, map error, timeout (454) */
    AUTH_NONE = 4,     /* creds: no entry for this destination */
};

/* Request names and attribute names. */
#define AUTH_REQ_MECHS  "mechs"
#define AUTH_REQ_START  "start"
#define AUTH_REQ_STEP   "step"
#define AUTH_REQ_CANCEL "cancel"
#define AUTH_REQ_CREDS  "creds"

#define AUTH_ATTR_REQUEST  "request"
#define AUTH_ATTR_OPTIONS  "options"
#define AUTH_ATTR_TLS      "tls"
#define AUTH_ATTR_MECH     "mech"
#define AUTH_ATTR_RESPONSE "response"
#define AUTH_ATTR_CLIENT   "client"
#define AUTH_ATTR_REALM    "realm"
#define AUTH_ATTR_SENDER   "sender"
#define AUTH_ATTR_HOST     "host"
#define AUTH_ATTR_NEXTHOP  "nexthop"
#define AUTH_ATTR_STATUS   "status"
#define AUTH_ATTR_DATA     "data"
#define AUTH_ATTR_USER     "user"
#define AUTH_ATTR_REASON   "reason"

/* The reason of a cancelled exchange (smtpd answers 501 5.7.0). */
#define AUTH_REASON_ABORTED "authentication aborted"

/* A reply: every field is an empty string when unused. */
struct auth_reply {
    enum auth_status status;
    struct buf *data;   /* challenge (base64), mechanism list, password */
    struct buf *user;   /* authenticated identity, or creds username */
    struct buf *reason; /* log text; the mechanism after a success */
};

/*
 * A handle for the service at PATH ("private/auth": relative to
 * queue_directory, or absolute; smtpd_sasl_path) with TIMEOUT_SEC
 * (auth_ipc_timeout) bounding the connect and every later read and write.
 * Never NULL: the connection is made by the first call below, and made
 * again by the next call after a failure, so smtpd can keep one handle
 * for its whole life. A step whose connection was lost is AUTH_TEMP (the
 * exchange lived in the lost connection); other calls retry once on a
 * fresh connection when a kept one turns out to be closed.
 */
struct auth_client *auth_client_create(const char *path, int timeout_sec);
void auth_client_free(struct auth_client *ac);
/*
 * Send REALM (smtpd_sasl_local_domain; NULL: let the service use its own)
 * with every later start request.
 */
void auth_client_set_realm(struct auth_client *ac, const char *realm);

/* A reply buffer set (free with auth_reply_free). */
void auth_reply_init(struct auth_reply *r);
void auth_reply_free(struct auth_reply *r);

/*
 * The calls. Each returns the reply status (also in R->status). On an
 * I/O or protocol failure the connection is closed (re-opened on the next
 * call) and the result is AUTH_TEMP with R->reason saying why
 * ("auth service: connect to private/auth: ...", "... timeout").
 */
enum auth_status auth_client_mechs(struct auth_client *ac, const char *options,
                                   int tls, struct auth_reply *r);
enum auth_status auth_client_start(struct auth_client *ac, const char *mech,
                                   const char *initial, const char *options,
                                   int tls, const char *client,
                                   struct auth_reply *r);
enum auth_status auth_client_step(struct auth_client *ac, const char *response,
                                  struct auth_reply *r);
enum auth_status auth_client_cancel(struct auth_client *ac,
                                    struct auth_reply *r);
enum auth_status auth_client_creds(struct auth_client *ac, const char *sender,
                                   const char *host, const char *nexthop,
                                   struct auth_reply *r);

/* "OK", "CONTINUE", "FAIL", "TEMP", "NONE" (for logs and tests). */
const char *auth_status_name(enum auth_status st);

#endif
