/*
 * anvil_proto.h - one anvil client connection's requests, as pure
 * functions over the counting table (anvil_table.h): parse a request,
 * update the table, build the reply. The protocol is described in
 * lib/anvil_client.h.
 *
 * Used by anvil/anvil.c (which does the I/O) and by the unit test and the
 * fuzz target. The caller passes the clock. A malformed request returns
 * -1 with a one-line reason; the caller logs it and closes the
 * connection. Nothing here logs or exits.
 */
#ifndef POSTERN_ANVIL_PROTO_H
#define POSTERN_ANVIL_PROTO_H

#include <stddef.h>
#include <time.h>

struct anvil_table;
struct buf;

/* Most bytes of one request (an ident and a request name fit easily). */
#define ANVIL_REQUEST_MAX 2048

/* What one client connection registered (so it can be released). */
struct anvil_session;

struct anvil_session *anvil_session_new(void);
/*
 * The connection closed: release every connection it registered and
 * not disconnected, then free S.
 */
void anvil_session_end(struct anvil_session *s, struct anvil_table *t,
                       time_t now);

/*
 * Serve one request: the LEN bytes at DATA are exactly one attribute
 * list (attr_frame_len). Appends the reply to REPLY and returns 0, or
 * returns -1 with WHY ("unknown request \"x\"", "bad ident value",
 * "attr_scan: missing attribute \"ident\"", ...).
 */
int anvil_session_request(struct anvil_session *s, struct anvil_table *t,
                          const char *data, size_t len, time_t now,
                          struct buf *reply, struct buf *why);

#endif
