/*
 * fuzz_smtp_reply.c - libFuzzer target for what the smtp client reads
 * from the network: server replies and EHLO keywords (smtp/smtp_reply.c,
 * included here: the fuzz build links only lib/ and maps/), and DNS
 * answers for MX/A/AAAA (lib/dns.c's dns_parse_answer).
 *
 * The input is the server's byte stream; replies are read from it until
 * it ends. When it starts with "DNS" the rest is a DNS answer instead.
 * Besides sanitizer findings, a broken invariant aborts:
 *   - a reply's code is 0 or 200..599, its DSN starts with the code's
 *     class and is at most "ddd.ddd.ddd";
 *   - the kept text is printable and bounded, the line count bounded;
 *   - the EHLO SIZE limit is never negative, AUTH names are upper case;
 *   - DNS results are OK, NODATA or TEMP, MX hosts are non-empty.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtp/smtp_reply.c"

#include "dns.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void fuzz_dns(const uint8_t *data, size_t size)
{
    static const int types[] = {1, 15, 28};

    for (size_t i = 0; i < 3; i++) {
        struct dns_mx *mx = NULL;
        struct dns_addr *addr = NULL;
        size_t nmx = 0, naddr = 0;
        enum dns_status st =
            dns_parse_answer(data, size, types[i], &mx, &nmx, &addr, &naddr);

        check(st == DNS_OK || st == DNS_NODATA || st == DNS_TEMP);
        for (size_t k = 0; k < nmx; k++)
            check(mx[k].host[0] != 0);
        for (size_t k = 0; k < naddr; k++)
            check(addr[k].family == AF_INET || addr[k].family == AF_INET6);
        dns_mx_free(mx, nmx);
        free(addr);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stream *s;
    struct smtp_reply r;
    struct smtp_features f;
    int guard = 0;

    if (size >= 3 && memcmp(data, "DNS", 3) == 0) {
        fuzz_dns(data + 3, size - 3);
        return 0;
    }
    s = stream_open_mem(data, size, NULL);
    smtp_reply_init(&r);
    smtp_features_init(&f);
    while (guard++ < 10000) {
        int ret = smtp_reply_read(s, &r);

        check(r.code == 0 || (r.code >= 200 && r.code <= 599));
        check(r.lines->argc <= SMTP_REPLY_LINES_MAX);
        check(buf_len(r.text)
              <= SMTP_REPLY_LINES_MAX * (SMTP_REPLY_LINE_MAX + 1));
        for (size_t i = 0; i < buf_len(r.text); i++)
            check(buf_str(r.text)[i] >= 32 && buf_str(r.text)[i] < 127);
        if (ret == 0 && r.code) {
            check(r.dsn[0] == '0' + r.code / 100);
            check(strlen(r.dsn) <= 11);
            smtp_features_parse(&f, &r, "DSN");
            check(f.size_limit >= 0);
            check(!f.dsn);
            for (size_t i = 0; i < buf_len(f.auth_mechs); i++)
                check(!islower((unsigned char) buf_str(f.auth_mechs)[i]));
        }
        if (ret < 0)
            break;
    }
    smtp_features_free(&f);
    smtp_reply_free(&r);
    stream_free(s);
    return 0;
}
