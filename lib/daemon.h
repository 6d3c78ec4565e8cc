/*
 * daemon.h - the daemon skeleton: how every service that master starts
 * begins, serves and ends.
 *
 * A service's main() fills a struct daemon_ops and calls daemon_main(),
 * which never returns. The skeleton runs the one start-up order of
 * STYLE.md ("Processes"):
 *
 *   1. keep only the descriptors master handed down (below), close the
 *      rest; make sure 0, 1 and 2 are open;
 *   2. logging: program name from argv[0]; the log descriptor master
 *      handed down, if any;
 *   3. arguments (daemon_parse_args); main.cf from MAIL_CONFIG (or the
 *      compiled-in config_directory); then the service's -o overrides;
 *      then params_load(); then syslog_name and, without a handed-down
 *      descriptor, maillog_file (opened now) or syslog (connected now, so
 *      /dev/log stays reachable after chroot);
 *   4. SIGPIPE ignored, SIGTERM ends the process at once;
 *   5. ops->pre_jail(): open what only root may open (password maps);
 *   6. chroot to queue_directory when master passed -j;
 *   7. drop to mail_owner when master passed -u, and verify that root
 *      cannot be regained (lib/privs.h);
 *   8. ops->post_jail(); then tell master "ready" and serve.
 *
 * Errors: start-up problems are fatal (logged, exit 1), and master
 * throttles a service that keeps failing that way. A failing client only
 * ends that client.
 *
 * ---- The master/child conventions (master/master.c uses the same) ----
 *
 * argv:  COMMAND -S service -t type -s N [-u] [-j] [-v...] then the
 *        master.cf arguments, "-o name=value" overrides among them. The
 *        type is inet, unix, unix-dgram, fifo or pass; N is how many
 *        listening descriptors there are; -u: drop to mail_owner; -j:
 *        chroot to queue_directory. The first word that is not an option
 *        ends the options; it and everything after it are the service's
 *        own arguments (daemon_extra_args).
 * environment: MAIL_CONFIG (the configuration directory master uses),
 *        import_environment, and DAEMON_LOG_ENV=4 when master hands down
 *        its maillog_file descriptor.
 * descriptors:
 *   DAEMON_STATUS_FD (3)  write end of the service's status pipe;
 *   DAEMON_LOG_FD    (4)  master's maillog_file, when DAEMON_LOG_ENV is set;
 *   DAEMON_LISTEN_FD (5)  the first of N listening descriptors (non-
 *                         blocking): a listening stream socket (inet,
 *                         unix, pass), a bound datagram socket
 *                         (unix-dgram), or a FIFO open for reading and
 *                         writing (fifo).
 * status: fixed-size records (DAEMON_STATUS_SIZE bytes, one write() each,
 *        so several children can share one pipe without interleaving):
 *        IDLE when the child is ready for a client (its first IDLE says
 *        that start-up succeeded), BUSY when it is not (serving its only
 *        client, or its client limit reached). Master forks another
 *        process when every process of a service is busy and a client
 *        waits, up to maxproc. A multi-client process that takes a client
 *        and can take more sends BUSY and IDLE in one write; master counts
 *        BUSY records as clients taken (a process that exits abnormally
 *        before it took any is a start-up failure: throttled).
 * master gone: the child watches DAEMON_STATUS_FD; an error there (master
 *        closed its read end: reload or stop) or a failed status write
 *        means "finish the current client and exit". The child then closes
 *        its listening descriptors at once.
 * wakeup: master connects to a unix service (or writes into a fifo, or
 *        sends a datagram) and sends the one byte "W" (DAEMON_TRIGGER_WAKEUP).
 * signals: SIGTERM ends a child at once (master sends it on "abort" and to
 *        the processes of a service removed at reload).
 */
#ifndef POSTERN_DAEMON_H
#define POSTERN_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

struct argv;
struct buf;
struct event_loop;

#define DAEMON_STATUS_FD 3
#define DAEMON_LOG_FD    4
#define DAEMON_LISTEN_FD 5
#define DAEMON_LOG_ENV   "POSTERN_LOG_FD"

/* The byte master sends to wake a service up. */
#define DAEMON_TRIGGER_WAKEUP 'W'
/* Most bytes of one trigger request that a trigger service reads. */
#define DAEMON_TRIGGER_MAX 1024

/* ---- the status protocol -------------------------------------------- */

#define DAEMON_STAT_IDLE 0
#define DAEMON_STAT_BUSY 1

/*
 * One record: "PSt1", then the pid and the status as 32-bit big-endian
 * numbers, then 4 zero bytes.
 */
#define DAEMON_STATUS_SIZE 16

void daemon_status_encode(unsigned char *rec, long pid, int status);
/*
 * Check and decode one record of LEN bytes: 0, or -1 for a wrong length,
 * magic, pid (must be > 0), status or padding.
 */
int daemon_status_decode(const unsigned char *rec, size_t len, long *pid,
                         int *status);

/* ---- arguments ------------------------------------------------------- */

struct daemon_args {
    char *service;          /* -S; NULL when not given */
    char *type;             /* -t; NULL when not given */
    int nsock;              /* -s; 1 when not given */
    int unpriv;             /* -u */
    int chroot;             /* -j */
    int verbose;            /* how many -v */
    struct argv *overrides; /* every -o value, in order */
    struct argv *extra;     /* the first non-option word and what follows */
};

/*
 * Parse ARGV (ARGV[0] is the program) into ARGS. Options may be clustered
 * ("-uj") and option values attached ("-Ssmtp") or separate; "--" ends the
 * options. Returns 0, or -1 with ERR ("invalid option -x", "option -S
 * needs a value", "bad socket count \"x\"", "bad override \"x\": want
 * name=value"). ARGS must be freed with daemon_args_free either way.
 */
int daemon_parse_args(int argc, char **argv, struct daemon_args *args,
                      struct buf *err);
void daemon_args_free(struct daemon_args *args);

/* ---- serving --------------------------------------------------------- */

enum daemon_model {
    DAEMON_SINGLE = 1, /* one client at a time (smtpd, smtp, local) */
    DAEMON_MULTI,      /* many clients, event loop (qmgr, auth, cleanup) */
    DAEMON_TRIGGER,    /* wake-up requests, event loop (pickup, qmgr) */
};

/* Flags. */
#define DAEMON_FLAG_RESIDENT 0x1 /* never exit for max_idle or max_use */

struct daemon_ops {
    enum daemon_model model;
    unsigned flags;
    void *ctx; /* passed to every hook */
    /* Optional: as root, before chroot: open root-only resources. */
    void (*pre_jail)(void *ctx);
    /* Optional: after the privilege drop, before the first client. */
    void (*post_jail)(void *ctx);
    /*
     * DAEMON_SINGLE: serve the client on FD (a connected, blocking
     * stream socket) to the end and close FD.
     */
    void (*serve)(int fd, void *ctx);
    /*
     * DAEMON_MULTI: take the client on FD (blocking) into the event loop
     * LOOP; call daemon_client_done() after closing it.
     */
    void (*accept)(struct event_loop *loop, int fd, void *ctx);
    /*
     * DAEMON_MULTI: with more than this many clients at once the process
     * tells master it is busy (so master starts another one) and stops
     * accepting; 0 = no limit.
     */
    int max_clients;
    /* DAEMON_TRIGGER: one request of LEN bytes (at least 1) arrived. */
    void (*trigger)(const char *data, size_t len, void *ctx);
    /* Optional: the process is about to exit voluntarily (status 0). */
    void (*pre_exit)(void *ctx);
};

/* Run the service; never returns (exit 0, or exit 1 on a fatal error). */
void daemon_main(int argc, char **argv, const struct daemon_ops *ops)
    __attribute__((noreturn));

/* ---- for the service's code, valid once daemon_main has started ------ */

/* The -S service name and -t type. */
const char *daemon_service(void);
const char *daemon_type(void);
/* The service's own arguments (the non-option words). */
const struct argv *daemon_extra_args(void);
/* The event loop (DAEMON_MULTI and DAEMON_TRIGGER; also made for SINGLE). */
struct event_loop *daemon_loop(void);
/*
 * Non-zero in a daemon: its working directory is queue_directory (set
 * before chroot and privilege drop), so queue paths may be relative.
 */
int daemon_in_queue(void);
/* The directory the process is jailed in ("/" without chroot). */
const char *daemon_root(void);
/* DAEMON_MULTI: one client taken by ops->accept is finished and closed. */
void daemon_client_done(void);
/* Non-zero once master went away or asked the process to stop. */
int daemon_stopping(void);

#endif
