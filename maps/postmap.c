/*
 * postmap.c - the postmap command: build, query, list and edit lookup
 * tables, with Postfix's options and exit codes.
 *
 *   postmap [-fimnNoprsuUvw] [-c dir] [-d key] [-q key] [type:]file ...
 *
 * Building reads a postmap-format source (dict_source.h) into a new
 * table that replaces the old one atomically when complete (dict_db.c);
 * -i adds entries read from stdin to the existing table instead. -q key
 * prints the first value found (exit 0) or nothing (exit 1); "-q -" reads
 * keys from stdin and prints "key<TAB>value" for each found. -d deletes,
 * -s lists. The default type is default_database_type.
 *
 * Called by administrators, postalias-like scripts and the tests.
 * Errors: bad lines are warnings naming file and line; everything else
 * is "postmap: fatal: ..." with exit status 1. A table being built when
 * a fatal error or a signal strikes is removed, never left half-done.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "dict.h"
#include "mapcmd.h"
#include "dict_source.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "str.h"

#define USAGE                                                                  \
    "usage: %s [-fimnNoprsuUvw] [-c config_dir] [-d key] [-q key] "            \
    "[map_type:]file..."

/*
 * On a fatal error or a signal: the table being built is removed; tables
 * being changed in place (-i, -d) are closed properly, so that what was
 * done so far is written out whole.
 */
static struct dict *postmap_building;
static struct dict **postmap_editing;
static int postmap_nediting;

/* Options that decide how tables are opened and written. */
static void postmap_cleanup(void)
{
    struct dict *d = postmap_building;
    int i;

    if (d != NULL) {
        postmap_building = NULL;
        d->aborted = 1;
        dict_close(d);
    }
    for (i = 0; i < postmap_nediting; i++)
        if (postmap_editing[i] != NULL)
            dict_close(postmap_editing[i]);
    postmap_nediting = 0;
}

/*
 * Changing a file table in place (-i, -d): hold an exclusive lock on its
 * file for the whole run, as Postfix does, so that readers (who lock
 * around each lookup) see it before or after, and the table need not be
 * written out after every change. Returns the descriptor holding the
 * lock, or -1 for types without a file of ours. Call after the table is
 * open: closing any descriptor of the file drops the lock.
 */
static int postmap_lock_file(const char *arg)
{
    struct buf *path = buf_new(128);
    struct flock fl;
    char *type;
    char *name;
    int fd = -1;

    mapcmd_split(arg, &type, &name);
    if (mapcmd_creatable(type)) {
        buf_setf(path, "%s.db", name);
        if ((fd = open(buf_str(path), O_RDWR | O_CLOEXEC)) < 0)
            msg_fatal("open %s: %s", buf_str(path), strerror(errno));
        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        while (fcntl(fd, F_SETLKW, &fl) < 0)
            if (errno != EINTR)
                msg_fatal("lock %s: %s", buf_str(path), strerror(errno));
    }
    mem_free(type);
    mem_free(name);
    buf_free(path);
    return fd;
}

/* Read one line of stdin without its newline; 0 at the end. */
static int postmap_getline(struct buf *line)
{
    int ch;
    int got = 0;

    buf_reset(line);
    while ((ch = getchar()) != EOF) {
        got = 1;
        if (ch == '\n')
            break;
        buf_putc(line, ch);
    }
    return got;
}

/* Look KEY up in the tables in turn, printing the first answer. */
static int postmap_query_one(const char *key, int batch, struct dict **dicts,
                             char **maps, int nmaps, int flags,
                             struct buf *value)
{
    enum lookup_status st;
    int i;

    for (i = 0; i < nmaps; i++) {
        if (dicts[i] == NULL)
            dicts[i] = mapcmd_open(maps[i], DICT_RDONLY, flags);
        st = dict_lookup(dicts[i], key, value);
        if (st == LOOKUP_FOUND) {
            if (batch)
                printf("%s\t%s\n", key, buf_str(value));
            else
                printf("%s\n", buf_str(value));
            return 1;
        }
        if (st != LOOKUP_NOTFOUND)
            msg_fatal("table %s:%s: query error: %s", dicts[i]->type,
                      dicts[i]->name, buf_str(dicts[i]->err));
    }
    return 0;
}

/* Hold (ON = 1) or release every open table's lock for a run of lookups. */
static void postmap_hold(struct dict **dicts, int nmaps, int on)
{
    int i;

    for (i = 0; i < nmaps; i++)
        if (dicts[i] != NULL && dict_hold(dicts[i], on) < 0)
            msg_fatal("table %s:%s: %s", dicts[i]->type, dicts[i]->name,
                      buf_str(dicts[i]->err));
}

/*
 * -q -: the keys on stdin, read a block at a time; the lines of one block
 * are looked up under one hold of the tables' locks (dict_hold), which is
 * dropped before the next read so that a writer never waits for our input.
 */
static int postmap_query_stdin(struct dict **dicts, char **maps, int nmaps,
                               int flags, struct buf *value)
{
    struct buf *line = buf_new(256);
    char block[65536];
    ssize_t n;
    int found = 0;

    do {
        const char *p;
        const char *end;
        const char *nl;

        n = read(STDIN_FILENO, block, sizeof(block));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            msg_fatal("read standard input: %s", strerror(errno));
        }
        p = block;
        end = block + n;
        if (n == 0 && buf_len(line) > 0) {
            /* A last line without a newline. */
            p = "\n";
            end = p + 1;
        }
        postmap_hold(dicts, nmaps, 1);
        while (p < end) {
            nl = memchr(p, '\n', (size_t) (end - p));
            if (nl == NULL) {
                buf_append(line, p, (size_t) (end - p));
                break;
            }
            buf_append(line, p, (size_t) (nl - p));
            p = nl + 1;
            found |= postmap_query_one(buf_str(line), 1, dicts, maps, nmaps,
                                       flags, value);
            /* A table opened by that lookup is held from the next one. */
            postmap_hold(dicts, nmaps, 1);
            buf_reset(line);
        }
        postmap_hold(dicts, nmaps, 0);
    } while (n != 0);
    buf_free(line);
    return found;
}

/* -q key, -q -: returns the exit status. */
static int postmap_query(const char *key, char **maps, int nmaps, int flags)
{
    struct dict **dicts = mem_calloc((size_t) nmaps, sizeof(*dicts));
    struct buf *value = buf_new(256);
    int found;
    int i;

    if (strcmp(key, "-") == 0)
        found = postmap_query_stdin(dicts, maps, nmaps, flags, value);
    else
        found = postmap_query_one(key, 0, dicts, maps, nmaps, flags, value);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write standard output: %s", strerror(errno));
    for (i = 0; i < nmaps; i++)
        dict_close(dicts[i]);
    mem_free(dicts);
    buf_free(value);
    return found ? 0 : 1;
}

/* -d key, -d -: returns the exit status. */
static int postmap_delete(const char *key, char **maps, int nmaps, int flags)
{
    struct dict **dicts = mem_calloc((size_t) nmaps, sizeof(*dicts));
    int *locks = mem_calloc((size_t) nmaps, sizeof(*locks));
    struct buf *line = buf_new(256);
    enum lookup_status st;
    int found = 0;
    int i;

    postmap_editing = dicts;
    for (i = 0; i < nmaps; i++) {
        dicts[i] = mapcmd_open(maps[i], DICT_RDWR, flags);
        postmap_nediting = i + 1;
        locks[i] = postmap_lock_file(maps[i]);
    }
    while (strcmp(key, "-") != 0 || postmap_getline(line)) {
        const char *k = strcmp(key, "-") == 0 ? buf_str(line) : key;

        for (i = 0; i < nmaps; i++) {
            st = dict_delete(dicts[i], k);
            if (st == LOOKUP_FOUND)
                found = 1;
            else if (st != LOOKUP_NOTFOUND)
                msg_fatal("table %s:%s: delete error: %s", dicts[i]->type,
                          dicts[i]->name, buf_str(dicts[i]->err));
        }
        if (k == key || mapcmd_signalled)
            break;
    }
    postmap_nediting = 0;
    for (i = 0; i < nmaps; i++) {
        if (dict_close(dicts[i]) < 0)
            msg_fatal("close %s: table update failed", maps[i]);
        if (locks[i] >= 0)
            close(locks[i]);
    }
    mem_free(dicts);
    mem_free(locks);
    mapcmd_check_signal(postmap_cleanup);
    buf_free(line);
    return found ? 0 : 1;
}

/* -s: list every table. */
static void postmap_list(char **maps, int nmaps, int flags)
{
    struct buf *key = buf_new(256);
    struct buf *value = buf_new(256);
    enum lookup_status st;
    struct dict *d;
    int how;
    int i;

    for (i = 0; i < nmaps; i++) {
        d = mapcmd_open(maps[i], DICT_RDONLY, flags | DICT_LOCK);
        if (d->sequence == NULL)
            msg_fatal("table %s:%s: sequence operation is not supported",
                      d->type, d->name);
        for (how = DICT_SEQ_FIRST;
             (st = dict_sequence(d, how, key, value)) == LOOKUP_FOUND;
             how = DICT_SEQ_NEXT)
            printf("%s\t%s\n", buf_str(key), buf_str(value));
        if (st != LOOKUP_NOTFOUND)
            msg_fatal("table %s:%s: sequence error: %s", d->type, d->name,
                      buf_str(d->err));
        dict_close(d);
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write standard output: %s", strerror(errno));
    buf_free(key);
    buf_free(value);
}

/* Build (or with -i extend) one table from its source. */
static void postmap_build(const char *arg, const struct mapcmd_args *opts)
{
    struct buf *err = buf_new(128);
    struct buf *path = buf_new(128);
    struct buf *safe = buf_new(64);
    struct dict_source *src;
    enum lookup_status st;
    struct dict *d;
    int lock_fd = -1;
    int existed;
    int created;
    char *type;
    char *name;
    char *key;
    char *value;
    int ret;

    mapcmd_split(arg, &type, &name);
    if (opts->incremental) {
        src = dict_source_stream(stdin, "stdin", 0);
    } else if ((src = dict_source_open(name, 0, err)) == NULL) {
        msg_fatal("%s", buf_str(err));
    }
    d = mapcmd_open_output(type, name, opts, 0, path, &existed, &created);
    if (created) {
        postmap_building = d;
    } else {
        postmap_editing = &d;
        postmap_nediting = 1;
        lock_fd = postmap_lock_file(arg);
    }

    while ((ret = dict_source_next(src, &key, &value)) > 0) {
        st = dict_update(d, key, value);
        if (st == LOOKUP_NOTFOUND && (opts->dict_flags & DICT_DUP_WARN)) {
            buf_reset(safe);
            str_printable(safe, key, strlen(key));
            msg_warn("%s, line %d: duplicate entry: \"%s\"",
                     dict_source_name(src), dict_source_lineno(src),
                     buf_str(safe));
        } else if (st != LOOKUP_FOUND && st != LOOKUP_NOTFOUND) {
            msg_fatal("table %s:%s: write error: %s", d->type, d->name,
                      buf_str(d->err));
        }
        mapcmd_check_signal(postmap_cleanup);
    }
    mapcmd_check_signal(postmap_cleanup);
    if (ret < 0)
        msg_fatal("read %s: %s", dict_source_name(src), strerror(errno));
    dict_source_close(src);
    postmap_building = NULL;
    postmap_nediting = 0;
    if (dict_close(d) < 0)
        msg_fatal("%s: table update failed", buf_str(path));
    if (lock_fd >= 0)
        close(lock_fd);
    /* A signal during the final write: the table is complete; now stop. */
    mapcmd_check_signal(postmap_cleanup);
    mapcmd_finish_output(buf_str(path), opts, existed);
    mem_free(type);
    mem_free(name);
    buf_free(err);
    buf_free(path);
    buf_free(safe);
}

int main(int argc, char **argv)
{
    struct mapcmd_args opts;
    char *slash;
    int status = 0;
    int ch;
    int i;

    /* getopt() names the program by argv[0]: use the short name. */
    if ((slash = strrchr(argv[0], '/')) != NULL && slash[1])
        argv[0] = slash + 1;
    msg_init(argv[0], MSG_STDERR | MSG_NOLOG);
    if (getenv("MAIL_VERBOSE") != NULL)
        msg_verbose = 1;

    mapcmd_args_init(&opts);
    while ((ch = getopt(argc, argv, "bc:d:fFhimnNopq:rsuUvw")) > 0) {
        switch (ch) {
        case 'b':
        case 'h':
        case 'm':
        case 'F':
            msg_fatal("option -%c is not supported", ch);
        case 'U':
            /* SMTPUTF8 checks: keys and values pass through unchanged. */
            break;
        default:
            if (!mapcmd_option(&opts, ch, optarg))
                msg_fatal(USAGE, argv[0]);
        }
    }
    if (optind >= argc)
        msg_fatal(USAGE, argv[0]);
    config_load(config_choose_dir(opts.opt_c));
    params_load();

    if (opts.query != NULL) {
        status = postmap_query(opts.query, argv + optind, argc - optind,
                               opts.dict_flags | DICT_LOCK);
    } else if (opts.delkey != NULL) {
        msg_set_cleanup(postmap_cleanup);
        mapcmd_catch_signals();
        status = postmap_delete(opts.delkey, argv + optind, argc - optind,
                                opts.dict_flags);
    } else if (opts.sequence) {
        postmap_list(argv + optind, argc - optind, opts.dict_flags);
    } else {
        msg_set_cleanup(postmap_cleanup);
        mapcmd_catch_signals();
        for (i = optind; i < argc; i++)
            postmap_build(argv[i], &opts);
    }
    return status;
}
