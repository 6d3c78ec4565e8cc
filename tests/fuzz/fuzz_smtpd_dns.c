/*
 * fuzz_smtpd_dns.c - libFuzzer target for the DNS answer parser of
 * smtpd's restriction engine (smtpd/smtpd_dns.c, included here: the fuzz
 * build links only lib/ and maps/). The input is one reply packet, parsed
 * for A, TXT and MX records.
 *
 * Besides sanitizer findings, a broken invariant aborts: the result is 2,
 * 4 or 5; A record text holds only digits, dots and spaces; nothing is
 * reported found in a packet shorter than a header.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/smtpd_dns.c"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf *out = buf_new(64);
    int len = size > 65535 ? 65535 : (int) size;

    int st = dns_parse(data, len, ns_t_a, dns_add_a, out);
    check(st == 2 || st == 4 || st == 5);
    check(strspn(buf_str(out), "0123456789. ") == buf_len(out));
    if (len < 12)
        check(st == 4);
    buf_reset(out);
    st = dns_parse(data, len, ns_t_txt, dns_add_txt, out);
    check(st == 2 || st == 4 || st == 5);
    st = dns_parse(data, len, ns_t_mx, NULL, NULL);
    check(st == 2 || st == 4 || st == 5);
    buf_free(out);
    return 0;
}
