/*
 * fuzz_attr.c - libFuzzer target for lib/attr.c (the IPC attribute
 * protocol parser).
 *
 * Built and run by tests/fuzz/run. The first input byte picks the scan
 * flags (ATTR_FLAG_MISSING, _EXTRA, _MORE, _FOLLOW by its low bits) and a
 * small value limit (its high bits); the rest is parsed in memory against a
 * fixed list: request (STR), count (INT), size (LONG), blob (DATA).
 * Besides sanitizer findings, a broken invariant aborts:
 *   - a failure returns exactly -1 with a non-empty message and a class;
 *   - a success returns how many were stored (at most 4, exactly 4 unless
 *     MISSING or MORE), and STR values hold no NUL byte;
 *   - what was parsed, built again and parsed again, gives the same values.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"
#include "buf.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int flag_bits[] = {ATTR_FLAG_MISSING, ATTR_FLAG_EXTRA,
                                    ATTR_FLAG_MORE, ATTR_FLAG_FOLLOW};
    struct buf *request;
    struct buf *blob;
    int count = 0;
    long lsize = 0;
    int flags = 0;
    size_t i;
    int ret;

    if (size == 0)
        return 0;
    for (i = 0; i < 4; i++)
        if (data[0] & (1u << i))
            flags |= flag_bits[i];
    /* 0 = default limits, else small ones so limit paths are reached. */
    attr_set_limits((size_t) (data[0] >> 4) * 4, (size_t) (data[0] >> 4) * 32);
    data++;
    size--;

    request = buf_new(0);
    blob = buf_new(0);
    ret =
        attr_parse(data, size, flags, ATTR_GET_STR("request", request),
                   ATTR_GET_INT("count", &count), ATTR_GET_LONG("size", &lsize),
                   ATTR_GET_DATA("blob", blob), ATTR_END);
    if (ret < 0) {
        check(ret == -1);
        check(attr_error()[0] != 0);
        check(attr_error_code() != ATTR_ERR_NONE);
    } else {
        check(ret <= 4);
        check(attr_error_code() == ATTR_ERR_NONE);
        if (!(flags & (ATTR_FLAG_MISSING | ATTR_FLAG_MORE)))
            check(ret == 4);
        check(memchr(buf_str(request), 0, buf_len(request)) == NULL);
        if (ret == 4) {
            struct buf *enc = buf_new(0);
            struct buf *request2 = buf_new(0);
            struct buf *blob2 = buf_new(0);
            int count2 = 0;
            long lsize2 = 0;

            attr_set_limits(0, 0);
            check(
                attr_build(enc, 0, ATTR_PUT_STR("request", buf_str(request)),
                           ATTR_PUT_INT("count", count),
                           ATTR_PUT_LONG("size", lsize),
                           ATTR_PUT_DATA("blob", buf_str(blob), buf_len(blob)),
                           ATTR_END)
                == 0);
            check(attr_parse(buf_str(enc), buf_len(enc), 0,
                             ATTR_GET_LONG("size", &lsize2),
                             ATTR_GET_DATA("blob", blob2),
                             ATTR_GET_INT("count", &count2),
                             ATTR_GET_STR("request", request2), ATTR_END)
                  == 4);
            check(count2 == count && lsize2 == lsize);
            check(
                buf_len(request2) == buf_len(request)
                && memcmp(buf_str(request2), buf_str(request), buf_len(request))
                       == 0);
            check(buf_len(blob2) == buf_len(blob)
                  && memcmp(buf_str(blob2), buf_str(blob), buf_len(blob)) == 0);
            buf_free(enc);
            buf_free(request2);
            buf_free(blob2);
        }
    }
    buf_free(request);
    buf_free(blob);
    return 0;
}
