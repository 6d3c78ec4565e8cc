/*
 * mastercf.h - master.cf: parse, validate, render and edit the service table.
 *
 * One parser for master (which starts the services), postconf -M/-F/-P
 * (which shows and edits them) and `postern check`. A master.cf line has
 * eight columns: service, type, private, unpriv, chroot, wakeup, maxproc,
 * command [args...]; "-" in a column means the default; a line that starts
 * with white space continues the previous one; '#' lines are comments.
 * Arguments are split at white space except inside {braces}; option
 * arguments "-o name=value", "-oname=value" and "-o { name = value }" are
 * kept as parameter overrides, everything else is kept in order.
 *
 * The table keeps the file's bytes: every entry knows its physical line
 * range, and mastercf_write() reproduces every line that no edit touched
 * (comments and blank lines too) byte for byte. An edited entry is written
 * in postconf's folded column format at its first line; comment and
 * blank lines that stood between its lines follow it, unchanged.
 *
 * Defaults for "-": private y, unpriv y, chroot n (Postfix 3.x's
 * compiled-in default; DESIGN.md's chrooted services say "y" explicitly
 * in conf/master.cf), wakeup 0 (never), maxproc default_process_limit
 * (left to the caller: maxproc is -1).
 *
 * Two levels of checking:
 *   - always errors: a wrong field count and bad type, private, unpriv,
 *     chroot, wakeup or maxproc fields (what Postfix's postconf rejects),
 *     and a service name starting with '#' (it would be written back as
 *     a comment);
 *   - with MASTERCF_STRICT (master, postern check) also: brace syntax
 *     (a missing '}' or text after it), -o without name=value, bad inet
 *     host:port, numbers out of range, duplicate service/type pairs,
 *     lines that start with white space.
 *     Without it, the ones Postfix's postconf warns about are warnings and
 *     the rest pass silently, so postconf prints what Postfix prints.
 * Errors are returned in a struct buf as "file PATH: line N: text" (the
 * text in Postfix's wording where Postfix has one, e.g. 'invalid type
 * field "bogus" in "..."'); warnings go to a caller's argv or, when it
 * passes NULL, to msg_warn(). Nothing here exits.
 */
#ifndef POSTERN_MASTERCF_H
#define POSTERN_MASTERCF_H

#include <stddef.h>
#include <stdio.h>

struct argv;
struct buf;

#define MASTERCF_STRICT 0x1 /* parse: everything questionable is an error */
#define MASTERCF_FOLD   0x2 /* render: fold as "postconf -Mf" does */

/* The error text (without location) for a line with fewer than 8 fields. */
#define MASTERCF_MSG_FIELD_COUNT "bad field count"

enum mastercf_type {
    MASTERCF_INET,
    MASTERCF_UNIX,
    MASTERCF_UNIX_DGRAM,
    MASTERCF_FIFO,
    MASTERCF_PASS,
};

/* Column numbers, also the -F field names (mastercf_field_names). */
enum mastercf_field {
    MASTERCF_SERVICE,
    MASTERCF_TYPE,
    MASTERCF_PRIVATE,
    MASTERCF_UNPRIV,
    MASTERCF_CHROOT,
    MASTERCF_WAKEUP,
    MASTERCF_MAXPROC,
    MASTERCF_COMMAND,
    MASTERCF_NFIELDS,
};

/* "service", "type", "private", "unprivileged", "chroot", "wakeup",
 * "process_limit", "command". */
extern const char *const mastercf_field_names[MASTERCF_NFIELDS];

/* One argument after the command name, as parsed. */
enum mastercf_arg_kind {
    MASTERCF_ARG_WORD,   /* a plain argument; TEXT has braces removed */
    MASTERCF_ARG_OPTION, /* an option cluster without 'o' ("-v", "-vx") */
    MASTERCF_ARG_PARAM,  /* -o NAME=VALUE */
    MASTERCF_ARG_OPTARG, /* -o TEXT where TEXT is not name=value */
};

struct mastercf_arg {
    enum mastercf_arg_kind kind;
    char *text;  /* WORD, OPTION, OPTARG text; PARAM name */
    char *value; /* PARAM value, else NULL */
    int braced;  /* WORD/OPTARG was written as {...} */
};

struct mastercf_entry {
    char *field[MASTERCF_NFIELDS]; /* columns as written; COMMAND = name */
    enum mastercf_type type;
    int priv;        /* private column: 1 (also for "-") or 0 */
    int unpriv;      /* unpriv column: 1 (also for "-") or 0 */
    int chroot;      /* chroot column: 0 for "-" (Postfix 3.x default) */
    int wakeup;      /* seconds; 0 = never ("-" or "0") */
    int wakeup_cond; /* the wakeup had a '?' suffix */
    int maxproc;     /* 0 = no limit, -1 = "-" (default_process_limit) */
    char *inet_host; /* inet: host without [], NULL for a bare port */
    char *inet_port; /* inet: port or service name; else NULL */
    struct mastercf_arg *args; /* after the command name, in order */
    size_t argc;
    int first_line; /* physical lines in the file, 0 when not read */
    int last_line;
    char *source; /* those lines as read (with newlines), or NULL */
    int state;    /* private to mastercf.c */
};

struct mastercf {
    char *path;                      /* for messages and mastercf_save() */
    struct mastercf_entry **entries; /* live entries, file order, new last */
    size_t count;
    /* private to mastercf.c: the file's bytes and removed entries */
    char *data;
    size_t len;
    struct mastercf_entry **gone;
    size_t ngone;
    int modified;
};

/* ---- reading ---- */

/*
 * Read and check PATH. Warnings go to WARNINGS (may be NULL: msg_warn).
 * Returns the table, or NULL with ERR set ("open PATH: reason", or
 * "file PATH: line N: ..."; errno is kept for an open failure).
 */
struct mastercf *mastercf_read(const char *path, int flags,
                               struct argv *warnings, struct buf *err);
/* The same from memory; PATH only names the file in messages. */
struct mastercf *mastercf_parse(const char *path, const char *data, size_t len,
                                int flags, struct argv *warnings,
                                struct buf *err);
/* CONFIG_DIR/master.cf, not strict, silent; NULL when absent or broken. */
struct mastercf *mastercf_load_quiet(const char *config_dir);
void mastercf_free(struct mastercf *mcf);

/*
 * Parse one entry's text (as "postconf -Me" gets it). Errors have no
 * location ("bad field count", "invalid type field ..."). Returns NULL
 * with ERR set.
 */
struct mastercf_entry *mastercf_entry_parse(const char *text, int flags,
                                            struct argv *warnings,
                                            struct buf *err);
struct mastercf_entry *mastercf_entry_dup(const struct mastercf_entry *e);
void mastercf_entry_free(struct mastercf_entry *e);

/* ---- lookup ---- */

/* The live entry SERVICE/TYPE, or NULL. */
struct mastercf_entry *mastercf_lookup(const struct mastercf *mcf,
                                       const char *service, const char *type);
/* The same with a "service/type" key. */
struct mastercf_entry *mastercf_find(const struct mastercf *mcf,
                                     const char *key);
/* The field number for a -F name ("process_limit"), or -1. */
int mastercf_field_index(const char *name);
/* The last -o value for NAME in E, or NULL. */
const char *mastercf_param(const struct mastercf_entry *e, const char *name);
/* Every -o name of E, in order, repeats included. */
struct argv *mastercf_param_names(const struct mastercf_entry *e);
/* Every -o name / value / service name of every live entry (postconf). */
struct argv *mastercf_option_names(const struct mastercf *mcf);
struct argv *mastercf_option_values(const struct mastercf *mcf);
struct argv *mastercf_service_names(const struct mastercf *mcf);
/*
 * The argument vector master gives the program: the command name, then
 * each argument with braces removed and every override as "-o",
 * "name=value".
 */
struct argv *mastercf_exec_argv(const struct mastercf_entry *e);

/* ---- rendering ---- */

/*
 * Append E in "postconf -M" form (no newline): columns at Postfix's
 * widths, then the command and its arguments; with MASTERCF_FOLD, each
 * -o override on its own line and other words wrapped before column 80,
 * continuation lines indented by four spaces.
 */
void mastercf_render(const struct mastercf_entry *e, int flags,
                     struct buf *out);
/* Append PREFIX, then only the command and arguments, folded the same way. */
void mastercf_render_command(const struct mastercf_entry *e, int flags,
                             const char *prefix, struct buf *out);

/* ---- editing (in memory; mastercf_save writes the file) ---- */

/*
 * "postconf -Me SERVICE/TYPE=entry": NEW (owned by the table afterwards)
 * takes the place of the first entry, in file order, that is SERVICE/TYPE
 * or has NEW's own service/type; the other one of those, if any, goes.
 * Without either, NEW is appended.
 */
void mastercf_put(struct mastercf *mcf, const char *service, const char *type,
                  struct mastercf_entry *new_entry);
/* Remove E (postconf -MX) or comment its lines out with '#' (-M#). */
void mastercf_remove(struct mastercf *mcf, struct mastercf_entry *e);
void mastercf_comment_out(struct mastercf *mcf, struct mastercf_entry *e);
/*
 * Set one column (or the command line, which is parsed again) of E.
 * VALUE is checked as the parser checks it; returns 0, or -1 with ERR
 * ('invalid private field "yes" in "yes"').
 */
int mastercf_set_field(struct mastercf *mcf, struct mastercf_entry *e,
                       int field, const char *value, int flags,
                       struct buf *err);
/* Set every -o NAME of E to VALUE, or add "-o NAME=VALUE" after the options. */
void mastercf_set_param(struct mastercf *mcf, struct mastercf_entry *e,
                        const char *name, const char *value);
/* Remove every -o NAME of E; returns how many there were. */
size_t mastercf_remove_param(struct mastercf *mcf, struct mastercf_entry *e,
                             const char *name);

/* Write the table: untouched lines as read, edited entries re-rendered. */
int mastercf_write(const struct mastercf *mcf, FILE *fp);
/*
 * Replace mcf->path atomically with mastercf_write()'s output. Returns 0,
 * or -1 with ERR ("open PATH.tmp: reason", "write PATH: reason").
 */
int mastercf_save(struct mastercf *mcf, struct buf *err);

#endif
