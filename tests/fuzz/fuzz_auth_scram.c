/*
 * fuzz_auth_scram.c - libFuzzer target for the SCRAM message parsers of
 * the auth service (auth/auth_mech.c).
 *
 * Built and run by tests/fuzz/run. The input is split at its first
 * newline: the client-first message (SCRAM-SHA-256, or SCRAM-SHA-1 when
 * the first byte is odd) and the client-final message; each is sent in
 * base64. The user's value holds SCRAM keys with one iteration, so a run
 * is fast. Invariants: no step returns TEMP; the exchange never succeeds
 * without a valid proof (a random input cannot hold one: OK aborts).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../auth/auth_base64.c"
#include "../../auth/auth_mech.c"
#include "../../auth/auth_scheme.c"

static struct buf *stored;

static void check(int cond)
{
    if (!cond)
        abort();
}

static enum lookup_status fuzz_lookup(void *ctx, const char *key,
                                      struct buf *value, struct buf *err)
{
    (void) ctx;
    (void) err;
    if (strcmp(key, "user@example.org") != 0)
        return LOOKUP_NOTFOUND;
    buf_set(value, buf_str(stored));
    return LOOKUP_FOUND;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_session *as;
    struct auth_reply r;
    struct buf *log = buf_new(64), *coded = buf_new(64), *err = buf_new(64);
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t) (nl - data) : size;
    const char *mech = size && (data[0] & 1) ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
    enum auth_status st;

    if (stored == NULL) {
        struct buf *tmp = buf_new(256);

        stored = buf_new(256);
        auth_scheme_make(tmp, "SCRAM-SHA-256", NULL, NULL, "pencil", "salt", 4,
                         1, err);
        buf_set(stored, buf_str(tmp));
        auth_scheme_make(tmp, "SCRAM-SHA-1", NULL, NULL, "pencil", "salt", 4, 1,
                         err);
        buf_printf(stored, " %s", buf_str(tmp));
        buf_free(tmp);
    }
    as = auth_session_create(fuzz_lookup, NULL, "example.org", "h", "smtp");
    auth_reply_init(&r);
    auth_b64_encode(coded, data, first);
    st = auth_session_start(as, mech, buf_len(coded) ? buf_str(coded) : "=", 0,
                            &r, log);
    check(st == AUTH_FAIL || st == AUTH_CONTINUE);
    if (st == AUTH_CONTINUE && nl != NULL) {
        auth_b64_encode(coded, nl + 1, size - first - 1);
        st = auth_session_step(as, buf_len(coded) ? buf_str(coded) : "=", &r,
                               log);
        check(st == AUTH_FAIL || st == AUTH_CONTINUE);
        if (st == AUTH_CONTINUE && auth_session_busy(as))
            check(as->state == 2 || as->state == 3);
    }
    auth_reply_free(&r);
    auth_session_free(as);
    buf_free(log);
    buf_free(coded);
    buf_free(err);
    return 0;
}
