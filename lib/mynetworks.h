/*
 * mynetworks.h - Postfix's default mynetworks from the machine's
 * interfaces.
 *
 * Called by the parameter code (the default of mynetworks, shown by
 * "postconf -d mynetworks") and by daemons when main.cf leaves mynetworks
 * unset. The result is text in Postfix's shape, IPv4 networks first, then
 * IPv6 in brackets: "127.0.0.0/8 192.168.1.0/24 [::1]/128 [fe80::]/64".
 * Errors: -1 with a message in ERR.
 */
#ifndef POSTERN_MYNETWORKS_H
#define POSTERN_MYNETWORKS_H

#include <stddef.h>

#include "cidr.h"

struct buf;

/* One interface address, for mynetworks_from_list (and its tests). */
struct mynetworks_if {
    struct cidr_addr addr;
    unsigned prefix; /* from the interface netmask */
};

/*
 * STYLE is mynetworks_style: "host" (each address as /32 or /128),
 * "subnet" (each address's network), "class" (the class A/B/C network of
 * each IPv4 address, and as "subnet" for IPv6); any case. INET_PROTOCOLS
 * is "all", "ipv4", "ipv6" or a list of the last two. Interfaces that are
 * down are ignored; a network shared by two addresses is listed once.
 * Returns 0 with the list appended to OUT, or -1 with ERR set.
 */
int mynetworks_compute(const char *style, const char *inet_protocols,
                       struct buf *out, struct buf *err);
/* The same over a given list of interface addresses (in that order). */
int mynetworks_from_list(const char *style, const char *inet_protocols,
                         const struct mynetworks_if *ifs, size_t count,
                         struct buf *out, struct buf *err);

#endif
