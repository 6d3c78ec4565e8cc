/*
 * fuzz_auth_base64.c - libFuzzer target for the auth service's strict
 * base64 decoder (auth/auth_base64.c).
 *
 * Built and run by tests/fuzz/run. Invariants (abort when broken):
 *   - a text that decodes encodes back to exactly the same text (one
 *     meaning per text: no lenient forms are accepted);
 *   - any bytes encode to a text that decodes back to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../auth/auth_base64.c"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf *out = buf_new(64), *back = buf_new(64);

    if (auth_b64_decode(out, (const char *) data, size) == 0) {
        auth_b64_encode(back, buf_str(out), buf_len(out));
        check(buf_len(back) == size && memcmp(buf_str(back), data, size) == 0);
    }
    auth_b64_encode(out, data, size);
    check(auth_b64_decode(back, buf_str(out), buf_len(out)) == 0);
    check(buf_len(back) == size && memcmp(buf_str(back), data, size) == 0);
    buf_free(out);
    buf_free(back);
    return 0;
}
