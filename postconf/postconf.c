/*
 * postconf - show and edit Postern's configuration, as Postfix's postconf.
 *
 * This file: the command line and main.cf (-n -d -h -x -f -e -X -# -m -o
 * -c, "unused parameter" and "undefined parameter" warnings).
 * postconf_master.c: master.cf (-M -F -P). Errors go to stderr as
 * "postconf: fatal: ..." with exit status 1.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "afile.h"
#include "argv.h"
#include "buf.h"
#include "cfgfile.h"
#include "config.h"
#include "dict_types.h"
#include "htable.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "postconf.h"
#include "str.h"

static void pc_usage(void)
{
    msg_fatal(
        "usage: postconf [-c config_dir] [-o name=value] [-dfhnx] [-e|-X|-#] [-m] [-M|-F|-P] [name ...]");
}

/* ---- printing -------------------------------------------------------- */

static void pc_print(const char *name, const char *value, int flags)
{
    if (flags & PC_EXPAND) {
        struct buf *expanded = buf_new(256);
        struct buf *err = buf_new(64);

        if (config_expand(expanded, value, err) < 0)
            msg_fatal("parameter %s: %s", name, buf_str(err));
        pc_print_param(name, buf_str(expanded), flags);
        buf_free(expanded);
        buf_free(err);
    } else {
        pc_print_param(name, value, flags);
    }
}

/* ---- which names are in use ----------------------------------------- */

static void pc_collect_refs(const char *text, struct htable *used)
{
    struct argv *refs = pc_refs(text);
    size_t i;

    for (i = 0; i < refs->argc; i++)
        htable_put(used, refs->argv[i], "");
    argv_free(refs);
}

struct pc_state {
    const char *config_dir;
    struct htable *used;     /* user-defined names that something uses */
    struct mastercf *master; /* NULL when master.cf is absent */
};

/* A name is "known" when the table has it or something refers to it. */
static int pc_known(struct pc_state *st, const char *name)
{
    return param_find(name) != NULL || htable_find(st->used, name) != NULL;
}

/*
 * Service-specific names: for a master.cf service S, "S_X" is in use when
 * "default_X" is a parameter (per-destination limits and the like).
 */
static void pc_service_names(struct pc_state *st, const char **names)
{
    size_t i, s;
    struct argv *services;

    if (st->master == NULL)
        return;
    services = mastercf_service_names(st->master);
    for (i = 0; names[i]; i++) {
        for (s = 0; s < services->argc; s++) {
            const char *svc = services->argv[s];
            size_t len = strlen(svc);

            if (strncmp(names[i], svc, len) == 0 && names[i][len] == '_') {
                struct buf *dflt = buf_new(64);

                buf_printf(dflt, "default_%s", names[i] + len + 1);
                if (param_find(buf_str(dflt)))
                    htable_put(st->used, names[i], "");
                buf_free(dflt);
            }
        }
    }
    argv_free(services);
}

static void pc_find_used(struct pc_state *st)
{
    const char **names = config_names();
    const char *classes;
    size_t i;

    st->used = htable_new(64);
    for (i = 0; names[i]; i++)
        pc_collect_refs(config_lookup(names[i]), st->used);
    for (i = 0; i < param_count; i++)
        pc_collect_refs(param_table[i].defval, st->used);
    /*
     * A master.cf -o value that refers to $name uses name; the -o name
     * itself does not make a main.cf setting of that name used (Postfix).
     */
    if (st->master) {
        struct argv *values = mastercf_option_values(st->master);

        for (i = 0; i < values->argc; i++)
            pc_collect_refs(values->argv[i], st->used);
        argv_free(values);
    }
    /* Restriction classes name parameters that hold restriction lists. */
    if ((classes = config_lookup("smtpd_restriction_classes")) != NULL) {
        struct argv *list = argv_split(classes, STR_LIST_SEP);

        for (i = 0; i < list->argc; i++)
            htable_put(st->used, list->argv[i], "");
        argv_free(list);
    }
    pc_service_names(st, names);
    mem_free(names);
}

/* Warn about main.cf names nothing uses and references to nothing. */
static void pc_warn_unused(struct pc_state *st)
{
    const char **names = config_names();
    struct htable *undefined = htable_new(16);
    size_t i;

    for (i = 0; names[i]; i++) {
        const char *file;
        int line;

        if (config_origin(names[i], &file, &line) < 0)
            continue;
        if (!pc_known(st, names[i])) {
            struct buf *norm = buf_new(128);

            pc_normalize(norm, config_lookup(names[i]));
            msg_warn("%s: unused parameter: %s=%s", file, names[i],
                     buf_str(norm));
            buf_free(norm);
        }
    }
    for (i = 0; names[i]; i++) {
        struct argv *refs;
        const char *file;
        int line;
        size_t j;

        if (config_origin(names[i], &file, &line) < 0)
            continue;
        refs = pc_refs(config_lookup(names[i]));
        for (j = 0; j < refs->argc; j++) {
            const char *ref = refs->argv[j];

            if (param_find(ref) == NULL && config_lookup(ref) == NULL
                && htable_find(undefined, ref) == NULL) {
                htable_put(undefined, ref, "");
                msg_warn("%s: undefined parameter: %s", file, ref);
            }
        }
        argv_free(refs);
    }
    htable_free(undefined, NULL);
    mem_free(names);
}

/* ---- showing parameters ---------------------------------------------- */

static int pc_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The value postconf shows for NAME in this mode, or NULL. */
static const char *pc_value(struct pc_state *st, const char *name, int flags)
{
    const struct param_info *p = param_find(name);

    if (flags & PC_DEFAULTS)
        return p ? param_default(p) : NULL;
    if (flags & PC_NONDEF)
        return pc_known(st, name) ? config_lookup(name) : NULL;
    if (p == NULL && !pc_known(st, name))
        return NULL;
    return config_raw(name);
}

static int pc_show(struct pc_state *st, int flags, char **args)
{
    int status = 0;
    size_t i;

    if (*args) {
        for (; *args; args++) {
            const char *value = pc_value(st, *args, flags);

            if (value == NULL) {
                if (param_find(*args) == NULL && !pc_known(st, *args))
                    msg_warn("%s: unknown parameter", *args);
                continue;
            }
            pc_print(*args, value, flags);
        }
        return status;
    }
    {
        struct argv *names = argv_new(param_count + 16);
        const char **set = config_names();

        if (!(flags & PC_NONDEF))
            for (i = 0; i < param_count; i++)
                argv_add(names, param_table[i].name);
        if (!(flags & PC_DEFAULTS))
            for (i = 0; set[i]; i++)
                if ((flags & PC_NONDEF) || param_find(set[i]) == NULL)
                    argv_add(names, set[i]);
        mem_free(set);
        qsort(names->argv, names->argc, sizeof(char *), pc_name_cmp);
        for (i = 0; i < names->argc; i++) {
            const char *value = pc_value(st, names->argv[i], flags);

            if (value != NULL)
                pc_print(names->argv[i], value, flags);
        }
        argv_free(names);
    }
    return status;
}

/* ---- editing main.cf ------------------------------------------------- */

/*
 * main.cf as physical lines, each tagged with the entry it belongs to: the
 * name for an entry's first line and its continuation lines, NULL for
 * comments and blank lines (which an edit never touches).
 */
struct pc_line {
    char *text;  /* without the newline */
    char *owner; /* entry name, or NULL */
    int first;   /* first line of its entry */
};

static struct pc_line *pc_read_lines(const char *path, size_t *count)
{
    FILE *fp = fopen(path, "r");
    struct pc_line *lines = NULL;
    size_t n = 0, size = 0;
    struct buf *line = buf_new(256);
    char *owner = NULL;
    int ch;

    if (fp == NULL)
        msg_fatal("open %s: %m", path);
    for (;;) {
        const char *cp;

        buf_reset(line);
        while ((ch = getc(fp)) != EOF && ch != '\n')
            buf_putc(line, ch);
        if (ch == EOF && buf_len(line) == 0)
            break;
        if (n >= size) {
            size = size ? size * 2 : 64;
            lines = mem_realloc(lines, size * sizeof(*lines));
        }
        lines[n].text = mem_strdup(buf_str(line));
        lines[n].owner = NULL;
        lines[n].first = 0;
        for (cp = buf_str(line); isspace((unsigned char) *cp); cp++)
            ;
        if (*cp == 0 || *cp == '#') {
            /* comment or blank: belongs to nobody */
        } else if (cp != buf_str(line)) {
            if (owner)
                lines[n].owner = mem_strdup(owner);
        } else {
            size_t len = strcspn(cp, " \t=");

            mem_free(owner);
            owner = mem_strndup(cp, len);
            lines[n].owner = mem_strdup(owner);
            lines[n].first = 1;
        }
        n++;
        if (ch == EOF)
            break;
    }
    if (ferror(fp))
        msg_fatal("read %s: %m", path);
    fclose(fp);
    mem_free(owner);
    buf_free(line);
    *count = n;
    return lines;
}

static void pc_edit(struct pc_state *st, int flags, char **args)
{
    struct buf *path = buf_new(256);
    struct htable *edits = htable_new(16); /* name -> new value or "" */
    struct htable *done = htable_new(16);
    struct pc_line *lines;
    struct afile *af;
    FILE *fp;
    size_t count, i;
    char **ap;

    buf_printf(path, "%s/main.cf", st->config_dir);
    for (ap = args; *ap; ap++) {
        if (flags & PC_EDIT) {
            char *copy = mem_strdup(*ap);
            char *name;
            char *value;
            const char *why;
            const struct param_info *p;

            if (cfg_split_entry(copy, &name, &value, &why) < 0)
                msg_fatal("%s: \"%s\"", why, *ap);
            if ((p = param_find(name)) != NULL && (p->flags & PF_READONLY))
                msg_fatal("%s: parameter is read-only", name);
            mem_free(htable_put(edits, name, mem_strdup(value)));
            mem_free(copy);
        } else {
            mem_free(htable_put(edits, *ap, mem_strdup("")));
        }
    }
    lines = pc_read_lines(buf_str(path), &count);
    if ((af = afile_open(buf_str(path))) == NULL)
        msg_fatal("create a temporary file for %s: %m", buf_str(path));
    fp = afile_stream(af);
    for (i = 0; i < count; i++) {
        const char *value;

        if (lines[i].owner == NULL
            || (value = htable_get(edits, lines[i].owner)) == NULL) {
            fprintf(fp, "%s\n", lines[i].text);
        } else if (flags & PC_EDIT) {
            /* Every entry for the name gets the new value, as Postfix does. */
            if (lines[i].first) {
                fprintf(fp, "%s = %s\n", lines[i].owner, value);
                if (htable_put(done, lines[i].owner, "") != NULL)
                    msg_warn("%s: multiple entries for \"%s\"", buf_str(path),
                             lines[i].owner);
            }
        } else if (flags & PC_COMMENT) {
            fprintf(fp, "#%s\n", lines[i].text);
        }
    }
    /* New names go at the end, in the order given. */
    if (flags & PC_EDIT) {
        for (ap = args; *ap; ap++) {
            size_t len = strcspn(*ap, " \t=");
            char *name = mem_strndup(*ap, len);

            if (htable_find(done, name) == NULL) {
                fprintf(fp, "%s = %s\n", name,
                        (char *) htable_get(edits, name));
                htable_put(done, name, "");
            }
            mem_free(name);
        }
    }
    if (afile_commit(af) < 0)
        msg_fatal("replace %s: %m", buf_str(path));
    for (i = 0; i < count; i++) {
        mem_free(lines[i].text);
        mem_free(lines[i].owner);
    }
    mem_free(lines);
    htable_free(edits, mem_free);
    htable_free(done, NULL);
    buf_free(path);
}

/* ---- main ------------------------------------------------------------ */

static int pc_have_main_cf(const char *dir)
{
    struct buf *path = buf_new(256);
    int ret;

    buf_printf(path, "%s/main.cf", dir);
    ret = access(buf_str(path), F_OK) == 0;
    buf_free(path);
    return ret;
}

int main(int argc, char **argv)
{
    struct pc_state st;
    struct argv *overrides = argv_new(4);
    const char *opt_c = NULL;
    int flags = 0;
    int master_mode = 0;
    int show_maps = 0;
    int status = 0;
    int ch;
    size_t i;

    msg_init(argv[0], MSG_STDERR | MSG_NOLOG);
    while ((ch = getopt(argc, argv, "c:defhmno:vxFMPX#")) != -1) {
        switch (ch) {
        case 'c':
            opt_c = optarg;
            break;
        case 'd':
            flags |= PC_DEFAULTS;
            break;
        case 'e':
            flags |= PC_EDIT;
            break;
        case 'f':
            flags |= PC_FOLD;
            break;
        case 'h':
            flags |= PC_NONAME;
            break;
        case 'm':
            show_maps = 1;
            break;
        case 'n':
            flags |= PC_NONDEF;
            break;
        case 'o':
            argv_add(overrides, optarg);
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'x':
            flags |= PC_EXPAND;
            break;
        case 'X':
            flags |= PC_REMOVE;
            break;
        case '#':
            flags |= PC_COMMENT;
            break;
        case 'F':
        case 'M':
        case 'P':
            if (master_mode && master_mode != ch)
                msg_fatal("specify one of -F, -M and -P");
            master_mode = ch;
            break;
        default:
            pc_usage();
        }
    }
    if ((flags & PC_DEFAULTS) && (flags & PC_NONDEF))
        msg_fatal("specify one of -d and -n");
    if (((flags & PC_EDIT) != 0) + ((flags & PC_REMOVE) != 0)
            + ((flags & PC_COMMENT) != 0)
        > 1)
        msg_fatal("specify one of -e, -X and -#");

    if (show_maps) {
        const char *const *types = dict_type_names();

        for (; *types; types++)
            printf("%s\n", *types);
        return 0;
    }

    st.config_dir = config_choose_dir(opt_c);
    if (master_mode == 'M')
        return pc_master_entries(st.config_dir, flags, argv + optind);
    if (master_mode == 'F')
        return pc_master_fields(st.config_dir, flags, argv + optind);
    if (master_mode == 'P')
        return pc_master_params(st.config_dir, flags, argv + optind);

    if (flags & (PC_EDIT | PC_REMOVE | PC_COMMENT)) {
        if (argv[optind] == NULL)
            msg_fatal("-e, -X and -# need at least one parameter");
        config_load(st.config_dir);
        pc_edit(&st, flags, argv + optind);
        return 0;
    }

    /* Defaults need no main.cf, as in Postfix (the installer relies on it). */
    if (!(flags & PC_DEFAULTS) || pc_have_main_cf(st.config_dir))
        config_load(st.config_dir);
    for (i = 0; i < overrides->argc; i++)
        if (config_override(overrides->argv[i]) < 0)
            msg_fatal("-o option: missing '=' after attribute name: \"%s\"",
                      overrides->argv[i]);
    st.master = mastercf_load_quiet(st.config_dir);
    pc_find_used(&st);
    pc_warn_unused(&st);
    /* Defaults are what a main.cf-less system would use, computed ones too. */
    if (flags & PC_DEFAULTS)
        config_clear();
    status = pc_show(&st, flags, argv + optind);
    fflush(stdout);
    if (st.master && !(flags & PC_DEFAULTS))
        pc_master_check_params(st.master);
    if (ferror(stdout))
        msg_fatal("write error on standard output: %m");
    htable_free(st.used, NULL);
    if (st.master)
        mastercf_free(st.master);
    argv_free(overrides);
    config_clear();
    return status;
}
