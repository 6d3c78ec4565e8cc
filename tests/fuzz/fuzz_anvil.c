/*
 * fuzz_anvil.c - libFuzzer target for the anvil service's request handling
 * (anvil/anvil_proto.c and anvil/anvil_table.c, included here: the fuzz
 * build links only lib/ and maps/).
 *
 * The input is a byte stream as a client would send it: it is framed with
 * attr_frame_len and each request is served, with the clock advancing by
 * the request's first byte in seconds, until a request is refused (the
 * service would close the connection) or the input ends; then the
 * session ends, which releases its connections. Besides sanitizer
 * findings, a broken invariant aborts:
 *   - every reply is one well-formed attribute list with a status;
 *   - no connection count stays above zero once the session ended;
 *   - the table never holds an entry that expire would keep forever.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../anvil/anvil_proto.c"
#include "../../anvil/anvil_table.c"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct anvil_table *t = anvil_table_new(60);
    struct anvil_session *s = anvil_session_new();
    struct buf *reply = buf_new(64);
    struct buf *why = buf_new(64);
    time_t now = 1000000;
    long len;

    while (size > 0 && (len = attr_frame_len(data, size)) > 0) {
        int status = -1;

        now += data[0];
        buf_reset(reply);
        if (anvil_session_request(s, t, (const char *) data, (size_t) len, now,
                                  reply, why)
            < 0) {
            check(buf_len(why) > 0);
            break;
        }
        check(attr_frame_len(buf_str(reply), buf_len(reply))
              == (long) buf_len(reply));
        check(attr_parse(buf_str(reply), buf_len(reply),
                         ATTR_FLAG_MISSING | ATTR_FLAG_EXTRA,
                         ATTR_GET_INT("status", &status), ATTR_END)
              == 1);
        check(status == 0 || status == 1);
        data += len;
        size -= (size_t) len;
    }
    anvil_session_end(s, t, now);
    /* Every entry is idle now: all go once their windows are over. */
    anvil_table_expire(t, now + 61);
    check(anvil_table_size(t) == 0);
    anvil_table_free(t);
    buf_free(reply);
    buf_free(why);
    return 0;
}
