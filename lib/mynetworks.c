/*
 * mynetworks.c - default mynetworks from the interfaces (see mynetworks.h).
 *
 * Called by the parameter code and daemons. Errors (unknown style or
 * protocol, getifaddrs failure) are -1 with a message in ERR; nothing
 * here logs.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "argv.h"
#include "buf.h"
#include "cidr.h"
#include "mem.h"
#include "mynetworks.h"
#include "str.h"

#define STYLE_HOST   1
#define STYLE_SUBNET 2
#define STYLE_CLASS  3

#define PROTO_V4 0x1
#define PROTO_V6 0x2

static int parse_style(const char *style, struct buf *err)
{
    if (strcasecmp(style, "host") == 0)
        return STYLE_HOST;
    if (strcasecmp(style, "subnet") == 0)
        return STYLE_SUBNET;
    if (strcasecmp(style, "class") == 0)
        return STYLE_CLASS;
    buf_setf(err, "unknown mynetworks_style parameter value: %s", style);
    return -1;
}

static int parse_protocols(const char *text, struct buf *err)
{
    struct argv *words = argv_split(text, STR_LIST_SEP);
    int protos = 0;
    size_t i;

    for (i = 0; i < words->argc; i++) {
        const char *w = words->argv[i];

        if (strcasecmp(w, "all") == 0) {
            protos |= PROTO_V4 | PROTO_V6;
        } else if (strcasecmp(w, "ipv4") == 0) {
            protos |= PROTO_V4;
        } else if (strcasecmp(w, "ipv6") == 0) {
            protos |= PROTO_V6;
        } else {
            buf_setf(err, "inet_protocols: unknown protocol: \"%s\"", w);
            argv_free(words);
            return -1;
        }
    }
    argv_free(words);
    if (protos == 0) {
        buf_setf(err, "inet_protocols: no protocol given");
        return -1;
    }
    return protos;
}

/* The historical class network of an IPv4 address. */
static unsigned class_prefix(const unsigned char *bytes)
{
    if ((bytes[0] & 0x80) == 0)
        return 8; /* A */
    if ((bytes[0] & 0xc0) == 0x80)
        return 16; /* B */
    if ((bytes[0] & 0xe0) == 0xc0)
        return 24; /* C */
    if ((bytes[0] & 0xf0) == 0xe0)
        return 4; /* D, as Postfix */
    return 32;    /* E: just the host */
}

int mynetworks_from_list(const char *style, const char *inet_protocols,
                         const struct mynetworks_if *ifs, size_t count,
                         struct buf *out, struct buf *err)
{
    int how = parse_style(style, err);
    int protos;
    struct cidr_net *seen;
    size_t nseen = 0;
    static const int families[2] = {CIDR_INET4, CIDR_INET6};
    size_t f;
    size_t i;

    if (how < 0 || (protos = parse_protocols(inet_protocols, err)) < 0)
        return -1;
    seen = mem_calloc(count ? count : 1, sizeof(*seen));
    /* Postfix lists every IPv4 network before the IPv6 ones. */
    for (f = 0; f < 2; f++) {
        int pass = families[f];

        if (!(protos & (pass == CIDR_INET4 ? PROTO_V4 : PROTO_V6)))
            continue;
        for (i = 0; i < count; i++) {
            struct cidr_net net;
            unsigned bits = pass == CIDR_INET6 ? 128 : 32;
            size_t j;

            if (ifs[i].addr.family != pass)
                continue;
            memset(&net, 0, sizeof(net));
            net.addr = ifs[i].addr;
            if (how == STYLE_HOST)
                net.prefix = bits;
            else if (how == STYLE_CLASS && pass == CIDR_INET4)
                net.prefix = class_prefix(net.addr.bytes);
            else
                net.prefix = ifs[i].prefix > bits ? bits : ifs[i].prefix;
            cidr_net_mask(&net);
            for (j = 0; j < nseen; j++)
                if (seen[j].prefix == net.prefix
                    && memcmp(seen[j].addr.bytes, net.addr.bytes, 16) == 0)
                    break;
            if (j < nseen)
                continue;
            seen[nseen++] = net;
            if (nseen > 1)
                buf_putc(out, ' ');
            cidr_net_format(&net, out, 1);
        }
    }
    mem_free(seen);
    return 0;
}

/* Leading one bits of a netmask (a broken, non-contiguous mask stops). */
static unsigned mask_prefix(const unsigned char *mask, size_t len)
{
    unsigned prefix = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char b = mask[i];

        while (b & 0x80) {
            prefix++;
            b = (unsigned char) (b << 1);
        }
        if (mask[i] != 0xff)
            break;
    }
    return prefix;
}

int mynetworks_compute(const char *style, const char *inet_protocols,
                       struct buf *out, struct buf *err)
{
    struct ifaddrs *head;
    struct ifaddrs *ifa;
    struct mynetworks_if *ifs;
    size_t count = 0;
    size_t size = 8;
    int ret;

    /* Check the arguments before asking the kernel. */
    if (parse_style(style, err) < 0 || parse_protocols(inet_protocols, err) < 0)
        return -1;
    if (getifaddrs(&head) < 0) {
        buf_setf(err, "getifaddrs: %s", strerror(errno));
        return -1;
    }
    ifs = mem_alloc(size * sizeof(*ifs));
    for (ifa = head; ifa != NULL; ifa = ifa->ifa_next) {
        struct mynetworks_if *e;
        int family;

        if (ifa->ifa_addr == NULL || !(ifa->ifa_flags & IFF_UP))
            continue;
        family = ifa->ifa_addr->sa_family;
        if (family != AF_INET && family != AF_INET6)
            continue;
        if (count >= size) {
            size *= 2;
            ifs = mem_realloc(ifs, size * sizeof(*ifs));
        }
        e = &ifs[count++];
        memset(e, 0, sizeof(*e));
        if (family == AF_INET) {
            const struct sockaddr_in *sin = (const void *) ifa->ifa_addr;
            const struct sockaddr_in *mask = (const void *) ifa->ifa_netmask;

            e->addr.family = CIDR_INET4;
            memcpy(e->addr.bytes, &sin->sin_addr, 4);
            e->prefix =
                mask ? mask_prefix((const void *) &mask->sin_addr, 4) : 32;
        } else {
            const struct sockaddr_in6 *sin6 = (const void *) ifa->ifa_addr;
            const struct sockaddr_in6 *mask = (const void *) ifa->ifa_netmask;

            e->addr.family = CIDR_INET6;
            memcpy(e->addr.bytes, &sin6->sin6_addr, 16);
            e->prefix =
                mask ? mask_prefix((const void *) &mask->sin6_addr, 16) : 128;
        }
    }
    freeifaddrs(head);
    ret = mynetworks_from_list(style, inet_protocols, ifs, count, out, err);
    mem_free(ifs);
    return ret;
}
