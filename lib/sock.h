/*
 * sock.h - listening and connecting sockets, address text, descriptor
 * passing.
 *
 * Called by master (opens every listening socket), the daemon skeleton
 * (accept), smtpd (client address text), smtp and the IPC clients
 * (connect with a timeout).
 *
 * Errors: functions return -1 with errno set; sock_error() then holds a
 * line fit for a log message that names the address ("bind 127.0.0.1:25:
 * Address already in use", "host \"x\": Name or service not known").
 * Timeouts give ETIMEDOUT. Every descriptor made here is close-on-exec.
 * Nothing here is fatal.
 *
 * Address forms (sock_inet_listen, sock_inet_connect):
 *   "host:port", "[ipv6-address]:port", "*:port" or ":port" (every
 *   address), "port" (every address). Host may be a name or a numeric
 *   address; port a number or a service name.
 */
#ifndef POSTERN_SOCK_H
#define POSTERN_SOCK_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct buf;

/* inet_protocols as a bit mask. */
#define SOCK_PROTO_IPV4 0x1
#define SOCK_PROTO_IPV6 0x2
#define SOCK_PROTO_ALL  (SOCK_PROTO_IPV4 | SOCK_PROTO_IPV6)

/*
 * Parse an inet_protocols value ("all", "ipv4", "ipv6", "ipv4, ipv6").
 * Returns the mask, or -1 (sock_error says why).
 */
int sock_protocols(const char *value);

/* Last error text (see top). Valid until the next sock_* call. */
const char *sock_error(void);

/* ---- listening ---------------------------------------------------------- */

/*
 * Listen on a UNIX stream socket at PATH with permissions MODE (set before
 * the socket can be reached, then fixed with chmod). A stale socket at PATH
 * is removed; any other kind of file there is an error (EEXIST).
 * Returns the descriptor.
 */
int sock_unix_listen(const char *path, int backlog, mode_t mode);
/*
 * Listen on TCP at ADDR (forms above) for the families in PROTOCOLS, with
 * SO_REUSEADDR (and IPV6_V6ONLY on IPv6 sockets, so "*:25" with "all" is
 * two sockets). A name that resolves to several addresses gets one socket
 * each. Stores a mem_alloc()ed array in *FDS and returns how many (>= 1);
 * -1 if any bind fails (none stays open).
 */
int sock_inet_listen(const char *addr, int protocols, int backlog, int **fds);
/* Accept one client (close-on-exec, EINTR retried): descriptor or -1. */
int sock_accept(int listen_fd);

/* ---- connecting --------------------------------------------------------- */

/*
 * The connect functions return a connected descriptor in blocking mode (a
 * stream makes it non-blocking again), or -1 (ETIMEDOUT after TIMEOUT_MS
 * milliseconds; 0 = the system's own limit, not for daemons).
 */
int sock_unix_connect(const char *path, long timeout_ms);
/* Try each address of ADDR (forms above, no wildcard) in turn. */
int sock_inet_connect(const char *addr, int protocols, long timeout_ms);
int sock_connect_addr(const struct sockaddr *sa, socklen_t len,
                      long timeout_ms);

/* ---- address text ------------------------------------------------------- */

/*
 * Numeric address and port of SA as text, appended to ADDR and PORT (each
 * may be NULL). IPv4-mapped IPv6 addresses (::ffff:1.2.3.4) are shown as
 * IPv4; IPv6 link-local addresses keep their %scope. AF_UNIX gives "unix"
 * and port "0". Returns 0 or -1 (unknown family).
 */
int sock_addr_text(const struct sockaddr *sa, socklen_t len, struct buf *addr,
                   struct buf *port);
/* The same for a socket's peer (getpeername) or local end (getsockname). */
int sock_peer_text(int fd, struct buf *addr, struct buf *port);
int sock_local_text(int fd, struct buf *addr, struct buf *port);

/* ---- descriptor passing ------------------------------------------------- */

/*
 * Send FD over the connected UNIX socket SOCK (SCM_RIGHTS, with one data
 * byte), waiting at most TIMEOUT_MS for room: 0 or -1.
 */
int sock_send_fd(int sock, int fd, long timeout_ms);
/*
 * Receive one descriptor sent that way (close-on-exec). Returns it, or -1:
 * ETIMEDOUT, ECONNRESET when the peer closed, EBADMSG when the message
 * carried no descriptor or more than one (any extra is closed).
 */
int sock_recv_fd(int sock, long timeout_ms);

#endif
