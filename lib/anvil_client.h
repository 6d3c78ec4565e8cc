/*
 * anvil_client.h - talking to the anvil service (anvil/anvil.c), which
 * counts connections and event rates per (service, client address) for
 * the smtpd per-client limits (smtpd_client_connection_count_limit,
 * smtpd_client_*_rate_limit).
 *
 * Caller: smtpd (one struct anvil_client per process, kept open across
 * that process's clients). Errors are returned, never fatal, and nothing
 * here makes the caller wait longer than the timeout given at creation:
 * ANVIL_FAIL means "the service could not be asked" and the caller goes
 * on without the limit. The first failure of a process is logged once as
 * a warning ("anvil service unavailable: ... ; client limits are not
 * enforced"); later failures are silent until a request succeeds again.
 *
 * ---- The protocol --------------------------------------------------------
 *
 * A stream connection to $queue_directory/private/anvil (master.cf line
 * "anvil unix - - y - 1 anvil"). Every message is one attribute list
 * (lib/attr.h); the client sends a request, the service sends one reply;
 * a connection carries any number of requests, one at a time. IDENT is
 * "service:address" (e.g. "smtp:192.0.2.1"): 1 to 256 printable bytes
 * without white space.
 *
 *   request=connect ident=ID      reply: status=0 count=N rate=N
 *       a connection opened; COUNT is how many are open now (this one
 *       included), RATE how many opened in the current time unit.
 *   request=disconnect ident=ID   reply: status=0
 *       a connection closed (status=1 when ID had none open).
 *   request=message ident=ID      reply: status=0 rate=N   (MAIL FROM)
 *   request=recipient ident=ID    reply: status=0 rate=N   (RCPT TO)
 *   request=newtls ident=ID       reply: status=0 rate=N   (a new TLS
 *       session was negotiated)
 *   request=newtls_report ident=ID reply: status=0 rate=N  (the rate of
 *       new TLS sessions, nothing counted: asked before a handshake)
 *   request=auth ident=ID         reply: status=0 rate=N   (AUTH command)
 *   request=lookup ident=ID       reply: status=0 count=N rate=N
 *       message=N recipient=N newtls=N auth=N   (nothing counted)
 *
 * Rates count events in a window of anvil_rate_time_unit that starts at
 * the first event. Connections a client connection registered and did
 * not disconnect are disconnected when that client connection closes
 * (an smtpd process that exits or crashes leaves no count behind). A
 * malformed request makes the service log a warning and close the
 * connection.
 */
#ifndef POSTERN_ANVIL_CLIENT_H
#define POSTERN_ANVIL_CLIENT_H

#define ANVIL_SERVICE "anvil" /* private/anvil */

/* Most bytes of an ident. */
#define ANVIL_IDENT_MAX 256

#define ANVIL_RETRY_DELAY 5

/* Results. */
#define ANVIL_OK   0
#define ANVIL_FAIL (-1) /* service unreachable, timeout, bad reply */

struct anvil_client;

/*
 * A client for the service named SERVICE (ANVIL_SERVICE normally) in
 * private/; the connect, the request and the reply each take at most
 * TIMEOUT_MS milliseconds. Nothing is connected yet. After a failure the
 * client does not try again for ANVIL_RETRY_DELAY seconds (a hung
 * service must not slow down every SMTP session); a connection that broke
 * (the service restarted) is reopened at once, once.
 */
struct anvil_client *anvil_client_new(const char *service, long timeout_ms);
void anvil_client_free(struct anvil_client *ac);

/*
 * SERVICE is the caller's master.cf service name ("smtp"), ADDR the
 * client's address. Each returns ANVIL_OK and fills the numbers, or
 * ANVIL_FAIL.
 */
int anvil_client_connect(struct anvil_client *ac, const char *service,
                         const char *addr, int *count, int *rate);
int anvil_client_disconnect(struct anvil_client *ac, const char *service,
                            const char *addr);
int anvil_client_message(struct anvil_client *ac, const char *service,
                         const char *addr, int *rate);
int anvil_client_recipient(struct anvil_client *ac, const char *service,
                           const char *addr, int *rate);
int anvil_client_newtls(struct anvil_client *ac, const char *service,
                        const char *addr, int *rate);
int anvil_client_newtls_report(struct anvil_client *ac, const char *service,
                               const char *addr, int *rate);
int anvil_client_auth(struct anvil_client *ac, const char *service,
                      const char *addr, int *rate);

/* The reason for the last ANVIL_FAIL. */
const char *anvil_client_error(const struct anvil_client *ac);

#endif
