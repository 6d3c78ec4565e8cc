/*
 * fuzz_auth_digest.c - libFuzzer target for the DIGEST-MD5 directive
 * parser and the server side of the exchange (auth/auth_mech.c).
 *
 * Built and run by tests/fuzz/run. The input is parsed as a directive
 * list (every value handed out must have the length given), then sent
 * (base64) as the client's response to a fixed challenge for a user with
 * a clear password. Invariants: the exchange ends in FAIL, or CONTINUE
 * with an rspauth (a correct response), never OK or TEMP at this step;
 * replies to FAIL carry a fail2ban-safe reason.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../auth/auth_base64.c"
#include "../../auth/auth_mech.c"
#include "../../auth/auth_scheme.c"

static void check(int cond)
{
    if (!cond)
        abort();
}

static int pair_fn(void *ctx, const char *name, const char *value, size_t vlen)
{
    (void) ctx;
    check(strlen(name) > 0 && strlen(name) <= 64);
    check(value[vlen] == 0);
    return 0;
}

static enum lookup_status fuzz_lookup(void *ctx, const char *key,
                                      struct buf *value, struct buf *err)
{
    (void) ctx;
    (void) err;
    if (strcmp(key, "chris@elwood.innosoft.com") != 0)
        return LOOKUP_NOTFOUND;
    buf_set(value, "{PLAIN}secret");
    return LOOKUP_FOUND;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_session *as = auth_session_create(
        fuzz_lookup, NULL, "elwood.innosoft.com", "elwood", "imap");
    struct auth_reply r;
    struct buf *log = buf_new(64), *coded = buf_new(64);
    enum auth_status st;

    auth_digest_parse((const char *) data, size, pair_fn, NULL);
    auth_reply_init(&r);
    auth_session_fix_nonce(as, "OA6MG9tEQGm2hh");
    check(auth_session_start(as, "DIGEST-MD5", NULL, 0, &r, log)
          == AUTH_CONTINUE);
    auth_b64_encode(coded, data, size);
    st = auth_session_step(as, buf_len(coded) ? buf_str(coded) : "=", &r, log);
    check(st == AUTH_FAIL || st == AUTH_CONTINUE);
    if (st == AUTH_FAIL)
        check(strspn(buf_str(r.reason), " abcdefghijklmnopqrstuvwxyz"
                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789+/:")
              == buf_len(r.reason));
    auth_reply_free(&r);
    auth_session_free(as);
    buf_free(log);
    buf_free(coded);
    return 0;
}
