/*
 * fuzz_deliver.c - libFuzzer target for lib/deliver.c's parsers of peer
 * input: the result stream qmgr reads from a delivery agent (framed with
 * attr_frame_len, parsed with deliver_result_parse) and the request an
 * agent reads from qmgr (deliver_agent_open over an in-memory stream).
 *
 * Built and run by tests/fuzz/run. The first byte picks the side (even:
 * results, odd: request). Besides sanitizer findings, a broken invariant
 * aborts:
 *   - a frame is never longer than the input and is > 0 or ends the loop;
 *   - a parsed result has index >= 0 and a known action, and a failure
 *     leaves a message in deliver_error();
 *   - a request never opens (there is no queue file) and always says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"
#include "buf.h"
#include "deliver.h"
#include "record.h"
#include "stream.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void fuzz_results(const uint8_t *data, size_t size)
{
    struct buf *dsn = buf_new(0);
    struct buf *reason = buf_new(0);
    size_t pos = 0;
    long len;

    while ((len = attr_frame_len(data + pos, size - pos)) > 0) {
        int final = -1;
        int index = -1;
        int action = -1;

        check((size_t) len <= size - pos);
        if (deliver_result_parse(data + pos, (size_t) len, &final, &index,
                                 &action, dsn, reason)
            == 0) {
            check(final == 0 || final == 1);
            if (!final) {
                check(index >= 0);
                check(action == REC_ACTION_DELIVERED
                      || action == REC_ACTION_RELAYED
                      || action == REC_ACTION_EXPANDED
                      || action == REC_ACTION_DEFERRED
                      || action == REC_ACTION_BOUNCED);
            }
        } else {
            check(deliver_error()[0] != 0);
        }
        pos += (size_t) len;
    }
    check(len == 0 || len == -1);
    buf_free(dsn);
    buf_free(reason);
}

static void fuzz_request(const uint8_t *data, size_t size)
{
    struct stream *s = stream_open_mem(data, size, NULL);
    struct buf *err = buf_new(0);
    struct deliver_agent *a = deliver_agent_open(s, err);

    /* The fuzzer's working folder has no active/ queue. */
    check(a == NULL);
    check(buf_len(err) > 0);
    buf_free(err);
    stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_request(data + 1, size - 1);
    else
        fuzz_results(data + 1, size - 1);
    return 0;
}
