/*
 * cleanup.h - the parts of the cleanup service (queue/cleanup*.c).
 *
 *   cleanup.c          main, the client conversation (socket, replies,
 *                      the queue manager wake-up)
 *   cleanup_addr.c     address rewriting: @$myorigin / .$mydomain,
 *                      canonical maps, masquerading, virtual alias
 *                      expansion (no I/O: unit tested)
 *   cleanup_message.c  one message: envelope records, headers (checks,
 *                      rewriting, missing headers), body, the end
 *
 * Errors: processing never stops at the first problem; it sets
 * CLEANUP_STAT_* bits and a reason in the state, stops writing, and the
 * conversation reads the client's records to the end before it answers.
 */
#ifndef POSTERN_QUEUE_CLEANUP_H
#define POSTERN_QUEUE_CLEANUP_H

#include <stddef.h>

struct argv;
struct buf;
struct maps;
struct qf_writer;
struct resolver;

/* Address classes (canonical_classes, masquerade_classes ...). */
#define CLEANUP_CLASS_ENV_FROM 0x1 /* envelope_sender */
#define CLEANUP_CLASS_ENV_RCPT 0x2 /* envelope_recipient */
#define CLEANUP_CLASS_HDR_FROM 0x4 /* header_sender */
#define CLEANUP_CLASS_HDR_RCPT 0x8 /* header_recipient */

/* What the process opened at start-up (tables, lists). */
struct cleanup_cfg {
    struct maps *canon;       /* canonical_maps */
    struct maps *send_canon;  /* sender_canonical_maps */
    struct maps *rcpt_canon;  /* recipient_canonical_maps */
    struct maps *virt;        /* virtual_alias_maps */
    struct maps *hdr_checks;  /* header_checks */
    struct maps *body_checks; /* body_checks */
    int canon_classes;
    int send_canon_classes;
    int rcpt_canon_classes;
    int masq_classes;
    struct argv *masq_domains;    /* masquerade_domains */
    struct argv *masq_exceptions; /* masquerade_exceptions */
    struct argv *drop_headers;    /* message_drop_headers */
    struct resolver *resolver;    /* NULL: only $myorigin is local */
};

/* ---- cleanup_addr.c ------------------------------------------------------ */

/* The CLEANUP_CLASS_* bits named in LIST; PARAM names it in warnings. */
int cleanup_parse_classes(const char *param, const char *list);
/* Fill CFG from the parameters (tables opened with maps_create). */
void cleanup_cfg_init(struct cleanup_cfg *cfg);
void cleanup_cfg_free(struct cleanup_cfg *cfg);

/*
 * Local rewriting context (Postfix's trivial-rewrite "local"): "user"
 * gets @$myorigin (append_at_myorigin), "user@host" gets .$mydomain
 * (append_dot_mydomain). With a non-NULL DOMAIN (remote context,
 * remote_header_rewrite_domain) only "user" -> user@DOMAIN is done.
 */
void cleanup_rewrite_local(struct buf *addr, const char *domain);

/*
 * One-to-one mapping through M (canonical maps), repeated until the
 * address stops changing. Returns 0 (ADDR possibly changed) or -1 with
 * ERR set ("4.3.0 ..." for the client; the table error is logged).
 */
int cleanup_map11(struct cleanup_cfg *cfg, struct maps *m, const char *feature,
                  struct buf *addr, struct buf *err);

/* Shorten the domain of ADDR per masquerade_domains; 1 if changed. */
int cleanup_masquerade(struct cleanup_cfg *cfg, struct buf *addr);

/*
 * Canonical mapping and masquerading of ADDR as an address of CLASS
 * (CLEANUP_CLASS_*), after the context rewriting. 0 or -1 (ERR).
 */
int cleanup_map_class(struct cleanup_cfg *cfg, int cls, struct buf *addr,
                      struct buf *err);

/*
 * Expand ADDR through virtual_alias_maps, recursively, into OUT (the
 * final addresses, in order, ADDR itself when it has no alias). Returns
 * 0; -1 with ERR for a lookup failure (temporary: CLEANUP_STAT_BAD); -2
 * with ERR when a limit was passed (CLEANUP_STAT_DEFER).
 */
int cleanup_virtual(struct cleanup_cfg *cfg, const char *addr, struct argv *out,
                    struct buf *err);

/* ---- cleanup_message.c ----------------------------------------------------
 */

struct cleanup_state;

/*
 * A message for the client with request FLAGS (CLEANUP_FLAG_*), written
 * into QF (NULL when the queue file could not be created: everything is
 * read and the answer is a write error). QUEUE_ID names it in logs.
 */
struct cleanup_state *cleanup_state_new(struct cleanup_cfg *cfg,
                                        struct qf_writer *qf,
                                        const char *queue_id, int flags);
/* Take one record from the client: 0, or -1 (protocol error: give up). */
int cleanup_record(struct cleanup_state *st, int type, const char *data,
                   size_t len);
/*
 * The client sent END: finish the file (qf_commit when all is well) and
 * return the CLEANUP_STAT_* bits; REASON gets the reply text.
 */
int cleanup_end(struct cleanup_state *st, struct buf *reason);
/* Was a queue file committed (the queue manager must be told)? */
int cleanup_committed(const struct cleanup_state *st);
/* Free; an uncommitted queue file is removed. */
void cleanup_state_free(struct cleanup_state *st);

#endif
