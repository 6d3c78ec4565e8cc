/*
 * master.h - the master daemon's internal interfaces, shared by
 * master/master.c (start-up, signals, reload, stop), master_service.c (the
 * service table and its listening endpoints, wake-ups) and master_proc.c
 * (forking, status, reaping, throttling).
 *
 * Nothing outside master/ includes this. See master.c for the conventions
 * with the postern command and lib/daemon.h for those with the children.
 * Errors: start-up problems are fatal; after start-up, problems with one
 * service are logged and that service is skipped or throttled.
 */
#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "mastercf.h"

struct argv;
struct buf;
struct event_loop;

struct master_service {
    char *key;       /* "name/type", as in master.cf */
    char *name;      /* the service column */
    char *type_text; /* the type column */
    enum mastercf_type type;
    char *endpoint;     /* what identifies the listening endpoint */
    char *label;        /* endpoint for log lines: "25", "private/x" */
    char *path;         /* the program */
    struct argv *cmd;   /* master.cf command and arguments (-o pairs) */
    int unpriv;         /* the unpriv column */
    int chroot;         /* the chroot column */
    int used;           /* a process was started (for "N?" wake-ups) */
    char *sock_path;    /* unix, unix-dgram, fifo, pass: the file */
    struct argv *specs; /* inet: the host:port forms to listen on */
    int protocols;      /* inet: SOCK_PROTO_* */
    int *listen_fds;
    int nlisten;
    int maxproc;            /* 0 = no limit */
    int wakeup;             /* seconds, 0 = none */
    int wakeup_cond;        /* only while a process runs */
    int status_rd;          /* status pipe, master's (read) end */
    int status_wr;          /* the end handed to children */
    struct buf *status_buf; /* a partial status record */
    int total;              /* processes of this generation */
    int avail;              /* of which ready for a client */
    int listening;          /* master watches the listening descriptors */
    int throttled;
    int at_limit; /* a client waits but maxproc is reached */
    time_t limit_warned;
    uint64_t throttle_timer;
    uint64_t wakeup_timer;
    uint64_t limit_timer; /* the process limit warning */
    struct master_service *next;
};

struct master_proc {
    pid_t pid;
    struct master_service *serv; /* NULL once reload detached it */
    char *path;                  /* the program, for log lines */
    int avail;
    long use_count; /* BUSY reports: clients taken */
    int signalled;  /* master told it to stop */
};

/* ---- master.c ---- */
extern struct event_loop *master_loop;
extern struct master_service *master_services;
extern int master_stopping;
extern int master_verbose;
extern char *master_config_dir;

/* ---- master_service.c ---- */
/*
 * Build the service list for MCF with the current parameters, opening
 * nothing: 0 and *LIST (NULL when no service is enabled), or -1 with ERR
 * (a bad inet_protocols or inet_interfaces value, for example).
 */
int master_services_build(const struct mastercf *mcf,
                          struct master_service **list, struct buf *err);
/* Open S's listening endpoint: 0, or -1 with ERR. */
int master_service_open(struct master_service *s, struct buf *err);
/*
 * Close S's endpoint. MASTER_CLOSE_SHUT also shuts inet sockets down, so
 * the port is free even while old children still hold a copy;
 * MASTER_CLOSE_UNLINK removes a socket or FIFO file.
 */
#define MASTER_CLOSE_SHUT   0x1
#define MASTER_CLOSE_UNLINK 0x2
void master_service_close(struct master_service *s, int how);
/* Close S's status pipe (its children then see that master went away). */
void master_service_close_status(struct master_service *s);
/* Create the status pipe of a new generation (closing the old one). */
void master_service_new_generation(struct master_service *s);
void master_service_free(struct master_service *s);
/* Start (or restart) the wake-up timer of S. */
void master_wakeup_start(struct master_service *s);

/* ---- master_proc.c ---- */
void master_procs_init(void);
/* Watch or unwatch S's listening descriptors as its counts say. */
void master_listen_update(struct master_service *s);
/* Watch S's status pipe. */
void master_status_watch(struct master_service *s);
/* Reap every exited child (after SIGCHLD). */
void master_reap(void);
/*
 * Forget S's processes (reload: they finish their client and exit on
 * their own). With SIG not 0, also send them SIG.
 */
void master_detach_procs(struct master_service *s, int sig);
/* Send SIG to every child; returns how many there are. */
int master_signal_all(int sig);
int master_proc_count(void);
/* Stop S's throttle, wake-up and warning timers. */
void master_service_timers_off(struct master_service *s);

#endif
