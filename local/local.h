/*
 * local.h - the parts of the local delivery agent (local/local*.c) and
 * what they share: the state of one recipient's delivery as it recurses
 * through aliases, .forward and :include: files, and the outcome of it.
 *
 * Only local/ includes this header. Errors: the delivery functions never
 * fail as such; they record the outcome of each final delivery with
 * local_outcome() (delivered, deferred or bounced, with a DSN and a
 * reason), and local.c turns the outcomes into the one result qmgr gets
 * for the original recipient.
 */
#ifndef POSTERN_LOCAL_H
#define POSTERN_LOCAL_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

struct buf;
struct argv;
struct htable;
struct maps;
struct qf_reader;
struct resolver;
struct deliver_agent;
struct deliver_request;

/* Nesting limit of aliases, .forward and :include: (as Postfix). */
#define LOCAL_MAX_LEVEL 100

/* Where a destination came from (allow_mail_to_commands/files). */
enum local_source {
    LOCAL_SRC_NONE = 0, /* the recipient itself */
    LOCAL_SRC_ALIAS,
    LOCAL_SRC_FORWARD,
    LOCAL_SRC_INCLUDE,
};

/* Things that live as long as the process. */
struct local_globals {
    struct maps *aliases;
    struct maps *mbox_cmd_maps; /* NULL when mailbox_command_maps is empty */
    struct resolver *resolver;
    uid_t nobody_uid; /* default_privs */
    gid_t nobody_gid;
    uid_t owner_uid; /* mail_owner: writes bounce/ and defer/ logs */
    gid_t owner_gid;
};
extern struct local_globals local_g;

/* One message being delivered: the request and what is known about it. */
struct local_msg {
    struct deliver_agent *agent;
    const struct deliver_request *req;
    struct qf_reader *qf;
    struct htable *delivered_to; /* Delivered-To: addresses, lower case */
    struct htable *dup;          /* deliveries done for this request */
    long long connected_us;
};

/* The outcome of one top-level recipient, merged over its deliveries. */
struct local_result {
    int delivered;
    int deferred;
    int bounced;
    struct buf *dsn;    /* of the first deferral, else the first bounce */
    struct buf *reason; /* ditto; for all delivered: the last reason */
};

/* The state of one (possibly nested) delivery. */
struct local_state {
    struct local_msg *msg;
    size_t index; /* the request's recipient */
    struct local_result *result;
    struct htable *dup; /* the request's deliveries (msg->dup) */
    int level;
    enum local_source source;
    const char *top_addr;  /* the request's recipient */
    const char *orig_addr; /* its original address (orig_to) */
    const char *address;   /* the address being delivered now */
    const char *sender;    /* envelope sender ("" = null sender) */
    const char *delivered; /* for Delivered-To: */
    /* set for the user being delivered to (after getpwnam) */
    const char *user;
    const char *home;
    const char *shell;
    const char *extension; /* "" without one */
    const char *local;     /* local part, lower case, with extension */
    const char *domain;
    /* privileges for commands and files */
    uid_t uid;
    gid_t gid;
};

/* ---- local.c ------------------------------------------------------------ */

/* Record the outcome of one delivery (and log its Postfix line). */
void local_outcome(struct local_state *st, int action, const char *dsn,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * Has this delivery (KIND and TEXT, e.g. "mailbox" "alice") already been
 * done for this request (up to duplicate_filter_limit of them remembered)?
 * Remembers it when not.
 */
int local_dup(struct local_state *st, const char *kind, const char *text);
/*
 * Deliver to the account USER: its .forward files (when USE_FORWARD),
 * else its mailbox; unknown users go to luser_relay or bounce.
 */
void local_deliver_user(struct local_state *st, const char *user,
                        int use_forward);
/* Deliver the address ADDR (internal form) recursively. */
void local_deliver_addr(struct local_state *st, const char *addr);
/* Is DOMAIN (no '@') ours? 1 yes, 0 no, -1 lookup error (in ERR). */
int local_domain_is_local(const char *domain, struct buf *err);

/* ---- local_alias.c --------------------------------------------------- */

/*
 * Split an aliases(5) / .forward / :include: value into destinations,
 * quotes removed as Postfix does: "|cmd arg", /file, :include:/path,
 * \user, addresses. Comments in () are dropped. Returns the list.
 */
struct argv *local_split_list(const char *value);
/*
 * Deliver to each destination of LIST (its source SOURCE). NAME is the
 * alias or user whose list this is (a destination equal to NAME goes
 * straight to that user's mailbox).
 */
void local_deliver_list(struct local_state *st, const char *list,
                        enum local_source source, const char *name);
/*
 * Alias lookup for local part LOCAL (with extension, then without). 1
 * when it was an alias (delivered), 0 when not, -1 when the lookup failed
 * (deferred).
 */
int local_try_alias(struct local_state *st, const char *local,
                    const char *user);
/* .forward files of the user in ST. 1 when one was used, 0 when none. */
int local_try_forward(struct local_state *st);
/* Deliver an :include: file. */
void local_deliver_include(struct local_state *st, const char *path);

/* ---- local_expand.c ------------------------------------------------- */

/*
 * Expand $name, ${name}, ${name?text}, ${name:text} in TEMPLATE with the
 * recipient's attributes (user, home, shell, extension, domain, local,
 * recipient, sender, recipient_delimiter; others from main.cf). Values
 * are filtered: characters not in FILTER become '_'. 0 / -1 (bad syntax,
 * ERR set).
 */
int local_expand(struct buf *out, const char *template,
                 const struct local_state *st, const char *filter,
                 struct buf *err);

/* ---- local_copy.c --------------------------------------------------- */

#define LOCAL_COPY_FROM      0x01 /* "From sender date" line */
#define LOCAL_COPY_QUOTE     0x02 /* ">From " quoting */
#define LOCAL_COPY_BLANK     0x04 /* an empty line at the end */
#define LOCAL_COPY_DELIVERED 0x08 /* Delivered-To: */
#define LOCAL_COPY_RETURN    0x10 /* Return-Path: */
#define LOCAL_COPY_ORIG      0x20 /* X-Original-To: */
#define LOCAL_COPY_MBOX                                                        \
    (LOCAL_COPY_FROM | LOCAL_COPY_QUOTE | LOCAL_COPY_BLANK                     \
     | LOCAL_COPY_DELIVERED | LOCAL_COPY_RETURN | LOCAL_COPY_ORIG)

/* Why a copy failed. */
enum local_copy_err {
    LOCAL_COPY_OK = 0,
    LOCAL_COPY_EREAD,  /* the queue file: defer */
    LOCAL_COPY_EWRITE, /* the destination: errno says more */
};

/*
 * Write the message to FD (at its current offset) with FLAGS, stopping
 * when more than LIMIT bytes (0 = none) would be written in all (START is
 * what the file already holds: EFBIG). Returns LOCAL_COPY_*; for EWRITE
 * errno is set; ERR gets a reason.
 */
int local_copy(struct local_state *st, int fd, int flags, long long start,
               long long limit, struct buf *err);
/* Set by command delivery's SIGALRM handler: a blocked write gives up. */
extern volatile sig_atomic_t local_copy_timeout;
/* The DSN for a write failure with ERRNO: 5.2.2 (full), 4.3.0 ... */
const char *local_copy_dsn(int err);
/* Collect the Delivered-To: headers of the message into MSG. 0 / -1. */
int local_scan_headers(struct local_msg *msg);

/* ---- local_mailbox.c ------------------------------------------------ */

/* Privilege switching for the effective IDs (root <-> UID/GID). */
int local_set_eugid(uid_t uid, gid_t gid);
void local_restore_eugid(void);
/* The mailbox of the user in ST (mail_spool_directory or home_mailbox). */
void local_deliver_mailbox(struct local_state *st);
/* An mbox or (trailing /) maildir file named by an alias or .forward. */
void local_deliver_file(struct local_state *st, const char *path);
/* Delivery into the maildir DIR (ending in '/') as UID/GID. */
void local_deliver_maildir(struct local_state *st, const char *dir, uid_t uid,
                           gid_t gid, const char *what);

/* ---- local_command.c ------------------------------------------------ */

/* Run COMMAND as UID/GID with the message on its standard input. */
void local_deliver_command(struct local_state *st, const char *command,
                           uid_t uid, gid_t gid, const char *what);

/* ---- local_forward.c ----------------------------------------------- */

/* Resubmit the message to ADDR (not local) through cleanup. */
void local_forward(struct local_state *st, const char *addr);

#endif
