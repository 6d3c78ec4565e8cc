/*
 * smtp_generic.c - smtp_generic_maps: the address rewriting of mail on
 * its way out (generic(5)), for the envelope sender and recipients and
 * for the addresses in From:, To:, Cc:, Reply-To:, Sender: and the other
 * address headers.
 *
 * Lookup order is maps_search_rewrite's (canonical style): user+ext@domain,
 * user@domain, for a local domain ($myorigin, $mydestination) user+ext and
 * user, then @domain; the result replaces the address, "@domain" results
 * keep the local part. Header addresses are rewritten in place by
 * lib/rfc822.c, so comments, phrases and folding stay as they were.
 *
 * Errors: a table failure returns -1 with the reason: the caller defers
 * the mail rather than send it unrewritten.
 */
#include <string.h>
#include <strings.h>

#include "argv.h"
#include "buf.h"
#include "maps.h"
#include "maps_search.h"
#include "msg.h"
#include "params.h"
#include "rfc822.h"
#include "smtp.h"
#include "str.h"

#define SMTP_GENERIC_TOKENS 10000

static struct maps *smtp_generic;

void smtp_generic_setup(void)
{
    if (var_smtp_generic_maps[0])
        smtp_generic =
            maps_create("smtp_generic_maps", var_smtp_generic_maps, 0);
}

int smtp_generic_enabled(void)
{
    return smtp_generic != NULL;
}

/* Is DOMAIN this machine's ($myorigin, or named in $mydestination)? */
static int smtp_generic_local(const char *domain)
{
    struct argv *dest;
    int found = 0;

    if (strcasecmp(domain, var_myorigin) == 0
        || strcasecmp(domain, var_myhostname) == 0)
        return 1;
    dest = argv_split(var_mydestination, STR_LIST_SEP);
    for (size_t i = 0; i < dest->argc && !found; i++)
        found = strcasecmp(dest->argv[i], domain) == 0;
    argv_free(dest);
    return found;
}

int smtp_generic_addr(const char *addr, struct buf *out, struct buf *err)
{
    const char *at;
    int flags = 0;
    enum lookup_status st;

    if (smtp_generic == NULL || *addr == 0)
        return 0;
    at = strrchr(addr, '@');
    if (at == NULL || smtp_generic_local(at + 1))
        flags |= MAPS_SEARCH_LOCAL;
    if (maps_search_propagate("generic"))
        flags |= MAPS_SEARCH_PROPAGATE;
    st = maps_search_rewrite(smtp_generic, addr, flags, out);
    if (st == LOOKUP_FOUND) {
        /* a list result: the first address only, as Postfix */
        size_t n = strcspn(buf_str(out), ", \t");

        buf_truncate(out, n);
        return buf_len(out) > 0 && strcmp(buf_str(out), addr) != 0;
    }
    if (st == LOOKUP_NOTFOUND)
        return 0;
    buf_setf(err, "%s", maps_error(smtp_generic));
    return -1;
}

struct smtp_generic_ctx {
    struct buf *tmp;
    struct buf *err;
};

static int smtp_generic_one(struct buf *addr, void *ctx)
{
    struct smtp_generic_ctx *c = ctx;
    int rc = smtp_generic_addr(buf_str(addr), c->tmp, c->err);

    if (rc == 1)
        buf_set(addr, buf_str(c->tmp));
    return rc;
}

int smtp_generic_header(struct buf *header, struct buf *err)
{
    size_t voff = rfc822_header_value(buf_str(header), buf_len(header));
    struct smtp_generic_ctx c;
    struct buf *out;
    int rc;

    if (smtp_generic == NULL || voff == 0)
        return 0;
    c.tmp = buf_new(64);
    c.err = err;
    out = buf_new(buf_len(header) + 64);
    rc = rfc822_rewrite_addrs(out, buf_str(header) + voff,
                              buf_len(header) - voff, SMTP_GENERIC_TOKENS,
                              smtp_generic_one, &c);
    if (rc > 0) {
        buf_truncate(header, voff);
        buf_append(header, buf_str(out), buf_len(out));
    }
    buf_free(out);
    buf_free(c.tmp);
    return rc < 0 ? -1 : rc > 0;
}
