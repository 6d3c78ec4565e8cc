/*
 * fuzz_showq_wire.c - libFuzzer target for the showq -> postqueue wire
 * (lib/queue_list.c, ql_recv) and the formatters it feeds.
 *
 * Built and run by tests/fuzz/run. The input is read as a listing stream;
 * every message received is formatted as mailq text and as JSON. Besides
 * sanitizer findings, a broken invariant aborts:
 *   - ql_recv returns 1, 0 or -1, and -1 comes with a message;
 *   - a message has a queue name, an ID, a sender and its recipients;
 *   - the JSON line ends in exactly one newline and holds no control byte;
 *   - the text holds no control byte but newlines.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "queue_list.h"
#include "stream.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stream *s = stream_open_mem(data, size, NULL);
    struct buf *out = buf_new(256);
    struct ql_msg m;
    long sent = -1;
    size_t i;
    int ret;

    ql_msg_init(&m);
    while ((ret = ql_recv(s, &m, &sent)) > 0) {
        check(m.queue && *m.queue && m.id && m.sender);
        check(m.nrcpt == 0 || m.rcpts != NULL);
        buf_reset(out);
        ql_json_msg(out, &m);
        check(buf_len(out) > 0 && buf_str(out)[buf_len(out) - 1] == '\n');
        for (i = 0; i + 1 < buf_len(out); i++)
            check((unsigned char) buf_str(out)[i] >= 0x20);
        buf_reset(out);
        ql_text_msg(out, &m);
        for (i = 0; i < buf_len(out); i++)
            check(buf_str(out)[i] == '\n'
                  || ((unsigned char) buf_str(out)[i] >= 0x20
                      && buf_str(out)[i] != 0x7f));
    }
    check(ret == 0 || ret == -1);
    if (ret < 0)
        check(*ql_error() != 0);
    ql_msg_free(&m);
    buf_free(out);
    stream_free(s);
    return 0;
}
