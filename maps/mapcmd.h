/*
 * mapcmd.h - what postmap and postalias share: naming a table on the
 * command line ("type:name", the type defaulting to default_database_type),
 * opening it or dying with the reason, and stopping cleanly on a signal so
 * that a half-built table is removed.
 *
 * Callers: maps/postmap.c, maps/postalias.c. Errors are fatal (msg_fatal),
 * as befits a command.
 */
#ifndef POSTERN_MAPCMD_H
#define POSTERN_MAPCMD_H

#include <signal.h>

struct buf;

struct dict;

/* The options postmap and postalias share, as their getopt loops set them. */
struct mapcmd_args {
    int dict_flags;     /* DICT_FOLD_FIX, DICT_TRY*NULL, DICT_DUP_* */
    int incremental;    /* -i */
    int keep_root;      /* -o */
    int default_perms;  /* -p */
    int no_utf8;        /* -u */
    int sequence;       /* -s */
    const char *opt_c;  /* -c */
    const char *query;  /* -q */
    const char *delkey; /* -d */
};

/* Defaults: fold keys, warn about duplicates. */
void mapcmd_args_init(struct mapcmd_args *a);
/* Take option CH (with ARG) when both commands share it: 1, else 0. */
int mapcmd_option(struct mapcmd_args *a, int ch, const char *arg);

/* The signal that arrived (HUP, INT, QUIT, TERM), or 0. */
extern volatile sig_atomic_t mapcmd_signalled;

/* Catch those signals without SA_RESTART, so a read from stdin returns. */
void mapcmd_catch_signals(void);
/* After a signal: run CLEANUP, then die of the same signal. */
void mapcmd_check_signal(void (*cleanup)(void));

/* Split ARG into malloc'ed type and name (type default_database_type). */
void mapcmd_split(const char *arg, char **type, char **name);
/* Open ARG or die with the reason. */
struct dict *mapcmd_open(const char *arg, int open_flags, int flags);
/* Can these commands build a table of TYPE (one file NAME.db)? */
int mapcmd_creatable(const char *type);

/*
 * Open TYPE:NAME to build into, or die: the type must be buildable; the
 * umask gives new files the source's group and other read bits (unless
 * -p or -i); an existing table is updated with -i (RDWR_FLAGS added), else
 * a new one is created. Duplicates are left to the caller (the table keeps
 * the first, or the last with -r). PATH gets NAME.db; *EXISTED tells
 * whether it existed; *CREATED whether the table is being created.
 */
struct dict *mapcmd_open_output(const char *type, const char *name,
                                const struct mapcmd_args *a, int rdwr_flags,
                                struct buf *path, int *existed, int *created);
/* After the table is closed: -o keeps a new file root's. */
void mapcmd_finish_output(const char *path, const struct mapcmd_args *a,
                          int existed);

#endif
