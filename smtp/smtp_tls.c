/*
 * smtp_tls.c - the smtp client's TLS: security levels, the policy table,
 * and the handshake (lib/tls.h does the OpenSSL work and logs the
 * "Verified/Trusted/Untrusted TLS connection established to
 * host[addr]:port: ..." line at smtp_tls_loglevel >= 1).
 *
 * Levels (smtp_tls_security_level, or a smtp_tls_policy_maps entry
 * "LEVEL [match=...] [protocols=...]" looked up by the nexthop as
 * written, then by its host name, then by its parent domains as
 * ".example.com"): none; may (STARTTLS when offered, any certificate;
 * a failed handshake is retried in plain text by the caller); encrypt
 * (TLS required, any certificate, smtp_tls_mandatory_protocols);
 * fingerprint (the certificate or public key digest must be listed in
 * smtp_tls_fingerprint_cert_match or match=, with
 * smtp_tls_fingerprint_digest); verify (a trusted chain and the MX host
 * name, smtp_tls_verify_cert_match); secure (a trusted chain and the
 * nexthop domain or a subdomain, smtp_tls_secure_cert_match).
 *
 * Errors: a failed requirement returns -1 with the deferral reason in
 * ERR ("Server certificate not verified", "Cannot start TLS: handshake
 * failure"); a policy table error is a deferral too, never "no TLS".
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "argv.h"
#include "buf.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "smtp.h"
#include "str.h"
#include "stream.h"
#include "tls.h"

static struct tls_ctx *smtp_tls_opt;  /* may */
static struct tls_ctx *smtp_tls_mand; /* encrypt and stronger */
static struct maps *smtp_tls_maps;

static const char *const smtp_tls_levels[] = {
    "none", "may", "encrypt", "fingerprint", "verify", "secure",
};

int smtp_tls_level_parse(const char *word)
{
    for (size_t i = 0; i < sizeof(smtp_tls_levels) / sizeof(smtp_tls_levels[0]);
         i++)
        if (strcasecmp(word, smtp_tls_levels[i]) == 0)
            return (int) i;
    /* Postfix's DANE levels need DNSSEC: run them as "may" / "secure" */
    if (strcasecmp(word, "dane") == 0)
        return SMTP_TLS_MAY;
    if (strcasecmp(word, "dane-only") == 0)
        return SMTP_TLS_SECURE;
    return -1;
}

static enum smtp_tls_level smtp_tls_default_level(void)
{
    int level;

    if (var_smtp_tls_security_level[0]) {
        level = smtp_tls_level_parse(var_smtp_tls_security_level);
        return level < 0 ? SMTP_TLS_NONE : (enum smtp_tls_level) level;
    }
    if (var_smtp_enforce_tls)
        return var_smtp_tls_enforce_peername ? SMTP_TLS_VERIFY
                                             : SMTP_TLS_ENCRYPT;
    return var_smtp_use_tls ? SMTP_TLS_MAY : SMTP_TLS_NONE;
}

static struct tls_ctx *smtp_tls_ctx(int mandatory)
{
    struct tls_config cfg;
    struct buf *err = buf_new(128);
    struct tls_ctx *ctx;

    memset(&cfg, 0, sizeof(cfg));
    cfg.cert_file = var_smtp_tls_cert_file;
    cfg.key_file = var_smtp_tls_key_file;
    cfg.chain_files = var_smtp_tls_chain_files;
    cfg.CAfile = var_smtp_tls_CAfile;
    cfg.CApath = var_smtp_tls_CApath;
    cfg.protocols =
        mandatory ? var_smtp_tls_mandatory_protocols : var_smtp_tls_protocols;
    cfg.ciphers =
        mandatory ? var_smtp_tls_mandatory_ciphers : var_smtp_tls_ciphers;
    cfg.exclude = mandatory ? var_smtp_tls_mandatory_exclude_ciphers
                            : var_smtp_tls_exclude_ciphers;
    cfg.fingerprint_digest = var_smtp_tls_fingerprint_digest;
    cfg.verify_depth = var_smtp_tls_scert_verifydepth;
    cfg.loglevel = var_smtp_tls_loglevel;
    cfg.session_cache_timeout = var_smtp_tls_session_cache_timeout;
    if ((ctx = tls_client_new(&cfg, err)) == NULL)
        msg_fatal("smtp TLS: %s", buf_str(err));
    buf_free(err);
    return ctx;
}

void smtp_tls_setup(void)
{
    if (var_smtp_tls_security_level[0]
        && smtp_tls_level_parse(var_smtp_tls_security_level) < 0)
        msg_fatal("bad smtp_tls_security_level value: %s",
                  var_smtp_tls_security_level);
    if (var_smtp_tls_policy_maps[0])
        smtp_tls_maps =
            maps_create("smtp_tls_policy_maps", var_smtp_tls_policy_maps, 0);
    if (smtp_tls_default_level() == SMTP_TLS_NONE && smtp_tls_maps == NULL)
        return;
    smtp_tls_opt = smtp_tls_ctx(0);
    smtp_tls_mand = smtp_tls_ctx(1);
}

void smtp_tls_policy_init(struct smtp_tls_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->match = buf_new(32);
    p->protocols = buf_new(16);
}

void smtp_tls_policy_free(struct smtp_tls_policy *p)
{
    buf_free(p->match);
    buf_free(p->protocols);
    memset(p, 0, sizeof(*p));
}

/* Apply a table value "level attr=value ...". 0, or -1 with ERR. */
static int smtp_tls_policy_value(struct smtp_tls_policy *p, const char *key,
                                 const char *value, struct buf *err)
{
    struct argv *words = argv_split(value, " \t");
    int ret = 0;

    if (words->argc == 0 || smtp_tls_level_parse(words->argv[0]) < 0) {
        buf_setf(err, "smtp_tls_policy_maps: bad TLS level \"%s\" for %s",
                 words->argc ? words->argv[0] : "", key);
        ret = -1;
        goto out;
    }
    p->level = (enum smtp_tls_level) smtp_tls_level_parse(words->argv[0]);
    p->from_map = 1;
    for (size_t i = 1; i < words->argc; i++) {
        const char *w = words->argv[i];

        if (strncasecmp(w, "match=", 6) == 0)
            buf_set(p->match, w + 6);
        else if (strncasecmp(w, "protocols=", 10) == 0)
            buf_set(p->protocols, w + 10);
        /* ciphers=, exclude=, tafile=: not supported, ignored */
    }
out:
    argv_free(words);
    return ret;
}

int smtp_tls_policy_find(struct smtp_tls_policy *p, const char *dest,
                         const char *host, struct buf *err)
{
    struct buf *value = buf_new(64);
    struct buf *key = buf_new(64);
    enum lookup_status st = LOOKUP_NOTFOUND;
    int ret = 0;

    p->level = smtp_tls_default_level();
    buf_reset(p->match);
    buf_reset(p->protocols);
    if (smtp_tls_maps) {
        st = maps_find(smtp_tls_maps, dest, 0, value);
        if (st == LOOKUP_NOTFOUND && host && *host) {
            const char *dot;

            buf_set(key, host);
            st = maps_find(smtp_tls_maps, host, MAPS_PARTIAL, value);
            for (dot = strchr(host, '.'); st == LOOKUP_NOTFOUND && dot;
                 dot = strchr(dot + 1, '.')) {
                st = maps_find(smtp_tls_maps, dot, MAPS_PARTIAL, value);
            }
        }
        if (st == LOOKUP_FOUND)
            ret = smtp_tls_policy_value(p, dest, buf_str(value), err);
        else if (st != LOOKUP_NOTFOUND) {
            buf_setf(err, "TLS policy lookup for %s: %s", dest,
                     maps_error(smtp_tls_maps));
            ret = -1;
        }
    }
    if (ret == 0 && p->level != SMTP_TLS_NONE && smtp_tls_opt == NULL) {
        buf_set(err, "TLS is required, but no TLS context was set up");
        ret = -1;
    }
    buf_free(value);
    buf_free(key);
    return ret;
}

/* Names for the match list: "hostname", "nexthop", "dot-nexthop", names. */
static void smtp_tls_names(struct buf *out, const char *list, const char *mx,
                           const char *nexthop)
{
    struct argv *words = argv_split(list, ", \t:");

    for (size_t i = 0; i < words->argc; i++) {
        const char *w = words->argv[i];

        if (buf_len(out))
            buf_putc(out, ' ');
        if (strcasecmp(w, "hostname") == 0)
            buf_puts(out, mx);
        else if (strcasecmp(w, "nexthop") == 0)
            buf_puts(out, nexthop);
        else if (strcasecmp(w, "dot-nexthop") == 0)
            buf_printf(out, ".%s", nexthop);
        else
            buf_puts(out, w);
    }
    argv_free(words);
}

int smtp_tls_start(struct smtp_session *ss, const struct smtp_tls_policy *p,
                   const char *nexthop_host, struct buf *err)
{
    struct tls_ctx *ctx =
        p->level >= SMTP_TLS_ENCRYPT ? smtp_tls_mand : smtp_tls_opt;
    struct tls_info info;
    struct buf *names = buf_new(64);
    struct buf *fps = buf_new(64);
    struct buf *why = buf_new(64);
    const char *sni = NULL;
    int ret = 0;

    if (stream_flush(ss->s) < 0 || ctx == NULL) {
        buf_set(err, "Cannot start TLS: lost connection");
        ret = -1;
        goto out;
    }
    (void) stream_discard_input(ss->s);
    if (p->level == SMTP_TLS_VERIFY)
        smtp_tls_names(names,
                       buf_len(p->match) ? buf_str(p->match)
                                         : var_smtp_tls_verify_cert_match,
                       buf_str(ss->host), nexthop_host);
    else if (p->level == SMTP_TLS_SECURE)
        smtp_tls_names(names,
                       buf_len(p->match) ? buf_str(p->match)
                                         : var_smtp_tls_secure_cert_match,
                       buf_str(ss->host), nexthop_host);
    else if (p->level == SMTP_TLS_FINGERPRINT)
        buf_set(fps, buf_len(p->match) ? buf_str(p->match)
                                       : var_smtp_tls_fingerprint_cert_match);
    if (strcasecmp(var_smtp_tls_servername, "hostname") == 0)
        sni = buf_str(ss->host);
    else if (strcasecmp(var_smtp_tls_servername, "nexthop") == 0)
        sni = nexthop_host;
    else if (var_smtp_tls_servername[0])
        sni = var_smtp_tls_servername;
    memset(&info, 0, sizeof(info));
    if (tls_client_start(
            ctx, ss->s, (int) var_smtp_starttls_timeout, buf_str(ss->relay),
            sni, buf_len(names) ? buf_str(names) : NULL,
            buf_len(fps) ? buf_str(fps) : NULL, buf_str(ss->relay), &info, why)
        < 0) {
        buf_setf(err, "Cannot start TLS: %s", buf_str(why));
        ret = -1;
        goto out;
    }
    ss->tls = 1;
    if ((p->level == SMTP_TLS_VERIFY || p->level == SMTP_TLS_SECURE)
        && !info.peer_verified) {
        buf_set(err, info.peer_trusted ? "Server certificate not verified"
                                       : "Server certificate not trusted");
        ret = -1;
    } else if (p->level == SMTP_TLS_FINGERPRINT && !info.peer_fingerprint_ok) {
        buf_set(err, "Server certificate not verified");
        ret = -1;
    }
    ss->tls_verified = ret == 0 && p->level >= SMTP_TLS_FINGERPRINT;
out:
    buf_free(names);
    buf_free(fps);
    buf_free(why);
    return ret;
}
