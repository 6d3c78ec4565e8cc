/*
 * postalias.c - the postalias and newaliases commands: build, query, list
 * and edit alias tables, with Postfix's options and exit codes.
 *
 *   postalias [-Nfinoprsuvw] [-c dir] [-d key] [-q key] [type:]file ...
 *   newaliases [-v] [-c dir] [-C main.cf-or-dir]
 *
 * Building reads an aliases(5) source (alias_source.h) into a new table
 * that replaces the old one atomically when complete (dict_db.c); -i adds
 * entries read from stdin to the existing table instead. Like Postfix,
 * every build also stores "@" -> "@" (the sendmail "database complete"
 * mark) and the NIS entries YP_LAST_MODIFIED and YP_MASTER_NAME, the
 * latter two without a trailing NUL and not case-folded. -q key prints the
 * first value found (exit 0) or nothing (exit 1); "-q -" reads keys from
 * stdin and prints "key:<TAB>value" for each found; -d deletes; -s lists
 * the first table. Run as "newaliases" (by name), it builds every table
 * of alias_database. The default type is default_database_type.
 *
 * Called by administrators, install scripts, sendmail -bi and the tests.
 * Errors: bad source lines are warnings naming file and line; everything
 * else is "postalias: fatal: ..." with exit status 1. A table being built
 * when a fatal error or a signal strikes is removed, never left half-done.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alias_source.h"
#include "argv.h"
#include "buf.h"
#include "config.h"
#include "dict.h"
#include "mapcmd.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "str.h"

#define USAGE                                                                  \
    "usage: %s [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] "              \
    "[map_type:]file..."
#define NA_USAGE "usage: %s [-v] [-c config_dir] [-C config_file]"

/* The table being built, removed by a fatal error or a signal. */
static struct dict *postalias_building;

static void postalias_cleanup(void)
{
    struct dict *d = postalias_building;

    if (d != NULL) {
        postalias_building = NULL;
        d->aborted = 1;
        dict_close(d);
    }
}

/* Read one line of stdin without its newline; 0 at the end. */
static int postalias_getline(struct buf *line)
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

/*
 * The key as the table stores it: names are folded (UTF-8 aware, as the
 * build folds them) for fixed-string tables unless -f was given.
 */
static const char *postalias_key(struct dict *d, const char *key, int utf8,
                                 struct buf *folded)
{
    if ((d->flags & (DICT_FOLD_FIX | DICT_FIXED))
        != (DICT_FOLD_FIX | DICT_FIXED))
        return key;
    buf_reset(folded);
    maps_fold(folded, key, utf8);
    return buf_str(folded);
}

/* -q key, -q -: returns the exit status. Tables open when first needed. */
static int postalias_query(const char *key, char **maps, int nmaps, int flags,
                           int utf8)
{
    struct dict **dicts = mem_calloc((size_t) nmaps, sizeof(*dicts));
    struct buf *value = buf_new(256);
    struct buf *line = buf_new(256);
    struct buf *folded = buf_new(256);
    int from_stdin = strcmp(key, "-") == 0;
    enum lookup_status st;
    int found = 0;
    int i;

    while (!from_stdin || postalias_getline(line)) {
        const char *k = from_stdin ? buf_str(line) : key;

        for (i = 0; *k && i < nmaps; i++) {
            if (dicts[i] == NULL)
                dicts[i] = mapcmd_open(maps[i], DICT_RDONLY, flags);
            st = dict_lookup(dicts[i], postalias_key(dicts[i], k, utf8, folded),
                             value);
            if (st == LOOKUP_FOUND) {
                found = 1;
                if (from_stdin)
                    printf("%s:\t%s\n", k, buf_str(value));
                else
                    printf("%s\n", buf_str(value));
                break;
            }
            if (st != LOOKUP_NOTFOUND)
                msg_fatal("table %s:%s: query error: %s", dicts[i]->type,
                          dicts[i]->name, buf_str(dicts[i]->err));
        }
        if (!from_stdin)
            break;
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write standard output: %s", strerror(errno));
    for (i = 0; i < nmaps; i++)
        dict_close(dicts[i]);
    mem_free(dicts);
    buf_free(value);
    buf_free(line);
    buf_free(folded);
    return found ? 0 : 1;
}

/*
 * -d key, -d -: returns the exit status. Every table is opened first, so
 * that a table that cannot be opened changes nothing anywhere.
 */
static int postalias_delete(const char *key, char **maps, int nmaps, int flags,
                            int utf8)
{
    struct dict **dicts = mem_calloc((size_t) nmaps, sizeof(*dicts));
    struct buf *line = buf_new(256);
    struct buf *folded = buf_new(256);
    int from_stdin = strcmp(key, "-") == 0;
    enum lookup_status st;
    int found = 0;
    int i;

    for (i = 0; i < nmaps; i++)
        dicts[i] = mapcmd_open(maps[i], DICT_RDWR, flags | DICT_LOCK);
    while (!from_stdin || postalias_getline(line)) {
        const char *k = from_stdin ? buf_str(line) : key;

        for (i = 0; *k && i < nmaps; i++) {
            st =
                dict_delete(dicts[i], postalias_key(dicts[i], k, utf8, folded));
            if (st == LOOKUP_FOUND)
                found = 1;
            else if (st != LOOKUP_NOTFOUND)
                msg_fatal("table %s:%s: delete error: %s", dicts[i]->type,
                          dicts[i]->name, buf_str(dicts[i]->err));
        }
        if (!from_stdin)
            break;
    }
    for (i = 0; i < nmaps; i++)
        if (dict_close(dicts[i]) < 0)
            msg_fatal("close %s: table update failed", maps[i]);
    mem_free(dicts);
    buf_free(line);
    buf_free(folded);
    return found ? 0 : 1;
}

/* -s: list the first table (Postfix's postalias lists only that one). */
static void postalias_list(const char *map, int flags)
{
    struct buf *key = buf_new(256);
    struct buf *value = buf_new(256);
    enum lookup_status st;
    struct dict *d;
    int how;

    d = mapcmd_open(map, DICT_RDONLY, flags | DICT_LOCK);
    if (d->sequence == NULL)
        msg_fatal("table %s:%s: sequence operation is not supported", d->type,
                  d->name);
    for (how = DICT_SEQ_FIRST;
         (st = dict_sequence(d, how, key, value)) == LOOKUP_FOUND;
         how = DICT_SEQ_NEXT)
        printf("%s:\t%s\n", buf_str(key), buf_str(value));
    if (st != LOOKUP_NOTFOUND)
        msg_fatal("table %s:%s: sequence error: %s", d->type, d->name,
                  buf_str(d->err));
    dict_close(d);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write standard output: %s", strerror(errno));
    buf_free(key);
    buf_free(value);
}

/*
 * Store one entry; a kept duplicate is reported as the flags say. WHERE
 * is "FILE, line N" or NULL for the entries postalias adds itself.
 */
static void postalias_store(struct dict *d, const char *key, const char *value,
                            int warn_dups, const char *where)
{
    enum lookup_status st = dict_update(d, key, value);

    if (st == LOOKUP_NOTFOUND && warn_dups) {
        struct buf *safe = buf_new(64);

        str_printable(safe, key, strlen(key));
        if (where != NULL)
            msg_warn("%s: duplicate entry: \"%s\"", where, buf_str(safe));
        else
            msg_warn("table %s:%s: duplicate entry: \"%s\"", d->type, d->name,
                     buf_str(safe));
        buf_free(safe);
    } else if (st != LOOKUP_FOUND && st != LOOKUP_NOTFOUND) {
        msg_fatal("table %s:%s: write error: %s", d->type, d->name,
                  buf_str(d->err));
    }
}

/*
 * The entries every alias table gets, as Postfix's postalias writes them:
 * "@" -> "@" under the table's own rules (an existing "@" wins, except
 * with -i, which refreshes it), then the NIS entries, always replaced,
 * never folded and without a trailing NUL.
 */
static void postalias_signatures(struct dict *d, const struct mapcmd_args *opts)
{
    int saved = d->flags;
    struct buf *now = buf_new(32);

    if (opts->incremental)
        d->flags =
            (d->flags & ~(DICT_DUP_WARN | DICT_DUP_IGNORE)) | DICT_DUP_REPLACE;
    postalias_store(d, "@", "@", (opts->dict_flags & DICT_DUP_WARN) != 0, NULL);
    d->flags &=
        ~(DICT_FOLD_FIX | DICT_TRY1NULL | DICT_DUP_WARN | DICT_DUP_IGNORE);
    d->flags |= DICT_TRY0NULL | DICT_DUP_REPLACE;
    buf_setf(now, "%010ld", (long) time(NULL));
    postalias_store(d, "YP_LAST_MODIFIED", buf_str(now), 0, NULL);
    postalias_store(d, "YP_MASTER_NAME", var_myhostname ? var_myhostname : "",
                    0, NULL);
    d->flags = saved;
    buf_free(now);
}

/* Build (or with -i extend) one table from its source. */
static void postalias_build(const char *arg, const struct mapcmd_args *opts)
{
    struct buf *err = buf_new(128);
    struct buf *path = buf_new(128);
    struct buf *where = buf_new(128);
    struct buf *key = buf_new(128);
    struct buf *value = buf_new(256);
    struct alias_source *src;
    struct dict *d;
    int src_flags = 0;
    int existed;
    int created;
    char *type;
    char *name;
    int ret;

    mapcmd_split(arg, &type, &name);
    if (opts->dict_flags & DICT_FOLD_FIX)
        src_flags |= ALIAS_SOURCE_FOLD;
    if (var_smtputf8_enable && !opts->no_utf8)
        src_flags |= ALIAS_SOURCE_UTF8;
    if (opts->incremental) {
        src = alias_source_stream(stdin, "stdin", src_flags);
    } else if ((src = alias_source_open(name, src_flags, err)) == NULL) {
        msg_fatal("%s", buf_str(err));
    }
    d = mapcmd_open_output(type, name, opts, DICT_LOCK, path, &existed,
                           &created);
    if (created)
        postalias_building = d;

    while ((ret = alias_source_next(src, key, value)) > 0) {
        buf_setf(where, "%s, line %d", opts->incremental ? "stdin" : name,
                 alias_source_line(src));
        postalias_store(d, buf_str(key), buf_str(value),
                        (opts->dict_flags & DICT_DUP_WARN) != 0,
                        buf_str(where));
        mapcmd_check_signal(postalias_cleanup);
    }
    mapcmd_check_signal(postalias_cleanup);
    if (ret < 0)
        msg_fatal("%s", alias_source_error(src));
    alias_source_close(src);
    postalias_signatures(d, opts);
    postalias_building = NULL;
    if (dict_close(d) < 0)
        msg_fatal("%s: table update failed", buf_str(path));
    mapcmd_finish_output(buf_str(path), opts, existed);
    mem_free(type);
    mem_free(name);
    buf_free(err);
    buf_free(path);
    buf_free(where);
    buf_free(key);
    buf_free(value);
}

/* newaliases: build every table of alias_database. */
static int newaliases_main(int argc, char **argv)
{
    struct mapcmd_args opts;
    const char *opt_c = NULL;
    char *opt_dir = NULL;
    struct argv *tables;
    size_t i;
    int ch;

    while ((ch = getopt(argc, argv, "c:C:o:v")) > 0) {
        switch (ch) {
        case 'c':
            opt_c = optarg;
            break;
        case 'C':
            mem_free(opt_dir);
            opt_dir = config_dir_of(optarg);
            opt_c = opt_dir;
            break;
        case 'o':
            /* sendmail -oXvalue options mean nothing here. */
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            msg_fatal(NA_USAGE, argv[0]);
        }
    }
    if (optind < argc)
        msg_fatal(NA_USAGE, argv[0]);
    config_load(config_choose_dir(opt_c));
    params_load();

    mapcmd_args_init(&opts);
    msg_set_cleanup(postalias_cleanup);
    mapcmd_catch_signals();
    tables =
        argv_split(var_alias_database ? var_alias_database : "", STR_LIST_SEP);
    for (i = 0; i < tables->argc; i++)
        postalias_build(tables->argv[i], &opts);
    argv_free(tables);
    mem_free(opt_dir);
    return 0;
}

int main(int argc, char **argv)
{
    struct mapcmd_args opts;
    char *slash;
    int status = 0;
    int utf8;
    int ch;
    int i;

    /* getopt() names the program by argv[0]: use the short name. */
    if ((slash = strrchr(argv[0], '/')) != NULL && slash[1])
        argv[0] = slash + 1;
    msg_init(argv[0], MSG_STDERR | MSG_NOLOG);
    if (getenv("MAIL_VERBOSE") != NULL)
        msg_verbose = 1;
    if (strcmp(argv[0], "newaliases") == 0)
        return newaliases_main(argc, argv);

    mapcmd_args_init(&opts);
    while ((ch = getopt(argc, argv, "Nc:d:finopq:rsuvw")) > 0) {
        switch (ch) {
        default:
            if (!mapcmd_option(&opts, ch, optarg))
                msg_fatal(USAGE, argv[0]);
        }
    }
    if (optind >= argc)
        msg_fatal(USAGE, argv[0]);
    config_load(config_choose_dir(opts.opt_c));
    params_load();
    utf8 = var_smtputf8_enable && !opts.no_utf8;

    if (opts.query != NULL) {
        status = postalias_query(opts.query, argv + optind, argc - optind,
                                 opts.dict_flags | DICT_LOCK, utf8);
    } else if (opts.delkey != NULL) {
        status = postalias_delete(opts.delkey, argv + optind, argc - optind,
                                  opts.dict_flags, utf8);
    } else if (opts.sequence) {
        postalias_list(argv[optind], opts.dict_flags);
    } else {
        msg_set_cleanup(postalias_cleanup);
        mapcmd_catch_signals();
        for (i = optind; i < argc; i++)
            postalias_build(argv[i], &opts);
    }
    return status;
}
