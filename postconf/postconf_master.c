/*
 * postconf_master.c - postconf's master.cf modes: -M (entries), -F (fields)
 * and -P (-o parameters), each to show, or with -e/-X/-# to edit.
 *
 * Called by postconf.c's main() through the pc_master_* entry points of
 * postconf.h, with the configuration directory, the mode flags and the
 * remaining arguments. Output and messages follow Postfix's postconf;
 * problems with the command line or master.cf are fatal ("postconf:
 * fatal: ...", exit 1) through msg_fatal, doubtful things are msg_warn()
 * warnings. Edits replace master.cf atomically (lib/mastercf.c, afile)
 * and leave every line they do not change byte for byte as it was.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "buf.h"
#include "cfgfile.h"
#include "config.h"
#include "htable.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "postconf.h"
#include "str.h"

#define PCM_EDITS (PC_EDIT | PC_REMOVE | PC_COMMENT)

/* Names master sets for each process; postconf knows them as Postfix does. */
static const char *const pcm_runtime_names[] = {
    "service_name",
    "process_name",
    "process_id",
    NULL,
};

/* ---- command line checks --------------------------------------------- */

/*
 * Postfix's refusals of flag combinations, with its messages. Flags are
 * named in this order when two clash.
 */
static void pcm_check_flags(int mode, int *flags, char **args)
{
    static const struct {
        int flag;
        const char *name;
    } order[] = {
        {PC_EDIT, "-e"},   {PC_FOLD, "-f"},   {PC_NONAME, "-h"},
        {PC_EXPAND, "-x"}, {PC_REMOVE, "-X"}, {PC_COMMENT, "-#"},
    };
    size_t i, j;

    /* "postconf -M name=value" edits, as "postconf name=value" does. */
    if (args[0] != NULL && strchr(args[0], '=') != NULL)
        *flags |= PC_EDIT;
    if (*flags & PC_DEFAULTS)
        msg_fatal("with option -%c, do not specify -d", mode);
    if (*flags & PC_NONDEF)
        msg_fatal("with option -%c, do not specify -n", mode);
    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!(*flags & order[i].flag) || !(order[i].flag & PCM_EDITS))
            continue;
        for (j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
            if (j == i || !(*flags & order[j].flag))
                continue;
            msg_fatal("specify one of %s %s", order[i < j ? i : j].name,
                      order[i < j ? j : i].name);
        }
    }
    if (mode == 'M' && (*flags & PC_NONAME))
        msg_fatal("with option -M, do not specify -h");
    if (mode != 'M' && (*flags & PC_COMMENT))
        msg_fatal("with option -%c, do not specify -#", mode);
    if (mode == 'F' && (*flags & PC_REMOVE))
        msg_fatal("with option -F, do not specify -X");
    if ((*flags & PC_EDIT) && args[0] == NULL)
        msg_fatal("-e requires name=value argument");
    if ((*flags & (PC_REMOVE | PC_COMMENT)) && args[0] == NULL)
        msg_fatal("missing service argument");
}

/* Split "a/b/c" into at most MAX parts; returns the count, or -1. */
static int pcm_split_key(const char *key, int max, char **parts)
{
    int n = 0;
    const char *cp = key;

    for (;;) {
        const char *slash = strchr(cp, '/');

        if (n == max) {
            while (n > 0)
                mem_free(parts[--n]);
            return -1;
        }
        if (slash == NULL) {
            parts[n++] = mem_strdup(cp);
            return n;
        }
        parts[n++] = mem_strndup(cp, (size_t) (slash - cp));
        cp = slash + 1;
    }
}

static void pcm_free_parts(char **parts, int n)
{
    while (n > 0)
        mem_free(parts[--n]);
}

/* ---- main.cf and master.cf ------------------------------------------- */

static void pcm_load_main(const char *config_dir)
{
    if (config_file() == NULL)
        config_load(config_dir);
}

/*
 * Read master.cf. Argument syntax warnings are shown when showing; an
 * edit does not repeat them for entries it does not touch (nor does
 * Postfix).
 */
static struct mastercf *pcm_load_master(const char *config_dir, int editing)
{
    struct buf *path = buf_new(256);
    struct buf *err = buf_new(256);
    struct argv *quiet = editing ? argv_new(4) : NULL;
    struct mastercf *mcf;

    buf_printf(path, "%s/master.cf", config_dir);
    errno = 0;
    mcf = mastercf_read(buf_str(path), 0, quiet, err);
    argv_free(quiet);
    if (mcf == NULL) {
        if (editing && errno != 0 && str_has_prefix(buf_str(err), "open "))
            msg_fatal("open %s for reading: %s", buf_str(path),
                      strerror(errno));
        msg_fatal("%s", buf_str(err));
    }
    buf_free(err);
    buf_free(path);
    return mcf;
}

static void pcm_save(struct mastercf *mcf)
{
    struct buf *err;

    if (!mcf->modified)
        return;
    err = buf_new(256);
    if (mastercf_save(mcf, err) < 0)
        msg_fatal("%s", buf_str(err));
    buf_free(err);
}

static void pcm_flush(void)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write error on standard output: %m");
}

/* ---- expansion in an entry's scope ------------------------------------ */

/*
 * With -x, an -o value is expanded as the service would see it: its own
 * -o settings first, then main.cf, then the defaults. The entry's
 * settings go into the store for the duration and come out again.
 */
struct pcm_saved {
    char *name;
    char *value; /* NULL: was not set */
    char *file;
    int line;
};

static void pcm_scope_set(struct pcm_saved *saved, size_t *n, const char *name,
                          const char *value)
{
    const char *old;
    const char *file;
    int line;
    size_t j;

    for (j = 0; j < *n; j++)
        if (strcmp(saved[j].name, name) == 0)
            break;
    if (j == *n) {
        saved[j].name = mem_strdup(name);
        old = config_lookup(name);
        saved[j].value = old ? mem_strdup(old) : NULL;
        if (old && config_origin(name, &file, &line) == 0) {
            saved[j].file = mem_strdup(file);
            saved[j].line = line;
        }
        (*n)++;
    }
    config_set(name, value, NULL, 0);
}

static struct pcm_saved *pcm_scope_enter(const struct mastercf_entry *e,
                                         size_t *count)
{
    struct pcm_saved *saved = mem_calloc(e->argc + 3, sizeof(*saved));
    size_t i, n = 0;

    /* What master tells the process about itself, then its settings. */
    pcm_scope_set(saved, &n, "service_name", e->field[MASTERCF_SERVICE]);
    pcm_scope_set(saved, &n, "process_name", e->field[MASTERCF_COMMAND]);
    for (i = 0; i < e->argc; i++)
        if (e->args[i].kind == MASTERCF_ARG_PARAM)
            pcm_scope_set(saved, &n, e->args[i].text, e->args[i].value);
    *count = n;
    return saved;
}

static void pcm_scope_leave(struct pcm_saved *saved, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (saved[i].value)
            config_set(saved[i].name, saved[i].value, saved[i].file,
                       saved[i].line);
        else
            config_unset(saved[i].name);
        mem_free(saved[i].name);
        mem_free(saved[i].value);
        mem_free(saved[i].file);
    }
    mem_free(saved);
}

static char *pcm_expand_one(const char *name, const char *value)
{
    struct buf *out = buf_new(256);
    struct buf *err = buf_new(64);

    if (config_expand(out, value, err) < 0)
        msg_fatal("parameter %s: %s", name, buf_str(err));
    buf_free(err);
    return buf_steal(out);
}

/* A copy of E whose -o values are expanded (for -Mx and -Fx). */
static struct mastercf_entry *pcm_expanded(const struct mastercf_entry *e)
{
    struct mastercf_entry *d = mastercf_entry_dup(e);
    size_t count, i;
    struct pcm_saved *saved = pcm_scope_enter(e, &count);

    for (i = 0; i < d->argc; i++) {
        struct mastercf_arg *a = &d->args[i];
        char *value;

        if (a->kind != MASTERCF_ARG_PARAM)
            continue;
        value = pcm_expand_one(a->text, a->value);
        mem_free(a->value);
        a->value = value;
    }
    pcm_scope_leave(saved, count);
    return d;
}

/* ---- printing ----------------------------------------------------------- */

static void pcm_collect_refs(const char *text, struct htable *names)
{
    struct argv *refs = pc_refs(text);
    size_t i;

    for (i = 0; i < refs->argc; i++)
        htable_put(names, refs->argv[i], "");
    argv_free(refs);
}

static int pcm_runtime_name(const char *name)
{
    int i;

    for (i = 0; pcm_runtime_names[i]; i++)
        if (strcmp(name, pcm_runtime_names[i]) == 0)
            return 1;
    return 0;
}

/*
 * "S_X" for a master.cf service S that runs a delivery agent is in use
 * when default_X is a parameter (S_destination_concurrency_limit, ...).
 */
static int pcm_service_defined(const struct mastercf *mcf, const char *name)
{
    static const char *const agents[] = {
        "smtp", "lmtp", "local", "virtual", "pipe", "error", "discard", NULL,
    };
    size_t i;
    int found = 0;
    int a;

    for (i = 0; i < mcf->count && !found; i++) {
        const char *svc = mcf->entries[i]->field[MASTERCF_SERVICE];
        const char *cmd = mcf->entries[i]->field[MASTERCF_COMMAND];
        size_t len = strlen(svc);

        for (a = 0; agents[a] && strcmp(cmd, agents[a]) != 0; a++)
            ;
        if (agents[a] == NULL)
            continue;
        if (strncmp(name, svc, len) == 0 && name[len] == '_') {
            struct buf *dflt = buf_new(64);

            buf_printf(dflt, "default_%s", name + len + 1);
            found = param_find(buf_str(dflt)) != NULL;
            buf_free(dflt);
        }
    }
    return found;
}

static void pcm_add_list(struct htable *names, const char *list)
{
    struct argv *items;
    size_t i;

    if (list == NULL)
        return;
    items = argv_split(list, STR_LIST_SEP);
    for (i = 0; i < items->argc; i++)
        htable_put(names, items->argv[i], "");
    argv_free(items);
}

/*
 * Warn about -o parameters that nothing uses and about $names in -o
 * values that nothing defines, as Postfix's postconf does after showing
 * master.cf. An -o name is in use when it is a known parameter, when a
 * value in main.cf or in its own entry refers to it, when it is a
 * restriction class, or when it is a service-specific form of a known
 * parameter. main.cf must be loaded. postconf.c may call this too.
 */
void pc_master_check_params(const struct mastercf *mcf)
{
    struct htable *global = htable_new(64);
    struct htable *undefined = htable_new(16);
    const char **names = config_names();
    size_t i, j;

    for (i = 0; names[i]; i++)
        pcm_collect_refs(config_lookup(names[i]), global);
    mem_free(names);
    pcm_add_list(global, config_lookup("smtpd_restriction_classes"));

    /* References to nothing, in the order they are written. */
    for (i = 0; i < mcf->count; i++) {
        const struct mastercf_entry *e = mcf->entries[i];

        for (j = 0; j < e->argc; j++) {
            struct argv *refs;
            size_t k;

            if (e->args[j].kind != MASTERCF_ARG_PARAM)
                continue;
            refs = pc_refs(e->args[j].value);
            for (k = 0; k < refs->argc; k++) {
                const char *ref = refs->argv[k];

                if (param_find(ref) == NULL && config_lookup(ref) == NULL
                    && mastercf_param(e, ref) == NULL && !pcm_runtime_name(ref)
                    && htable_find(undefined, ref) == NULL) {
                    htable_put(undefined, ref, "");
                    msg_warn("%s: undefined parameter: %s", mcf->path, ref);
                }
            }
            argv_free(refs);
        }
    }
    for (i = 0; i < mcf->count; i++) {
        const struct mastercf_entry *e = mcf->entries[i];
        struct htable *local = htable_new(16);

        for (j = 0; j < e->argc; j++)
            if (e->args[j].kind == MASTERCF_ARG_PARAM)
                pcm_collect_refs(e->args[j].value, local);
        pcm_add_list(local, mastercf_param(e, "smtpd_restriction_classes"));
        for (j = 0; j < e->argc; j++) {
            const struct mastercf_arg *a = &e->args[j];

            if (a->kind != MASTERCF_ARG_PARAM || param_find(a->text) != NULL
                || pcm_runtime_name(a->text)
                || htable_find(global, a->text) != NULL
                || htable_find(local, a->text) != NULL
                || pcm_service_defined(mcf, a->text))
                continue;
            msg_warn("%s: unused parameter: %s=%s", mcf->path, a->text,
                     a->value);
        }
        htable_free(local, NULL);
    }
    htable_free(global, NULL);
    htable_free(undefined, NULL);
}

/* After showing: flush the output, then the parameter warnings. */
static void pcm_show_done(struct mastercf *mcf)
{
    pcm_flush();
    pc_master_check_params(mcf);
    mastercf_free(mcf);
}

/* ---- requests for the show modes ---------------------------------------- */

/* "service[/type[/name]]" from the command line. */
struct pcm_request {
    const char *arg;
    char *part[3];
    int nparts;
    int matched;
};

static struct pcm_request *pcm_requests(char **args, int max, const char *usage,
                                        size_t *count)
{
    struct pcm_request *req;
    size_t n = 0;

    while (args[n])
        n++;
    req = mem_calloc(n + 1, sizeof(*req));
    for (*count = 0; *count < n; (*count)++) {
        struct pcm_request *r = &req[*count];

        r->arg = args[*count];
        r->nparts = pcm_split_key(r->arg, max, r->part);
        if (r->nparts < 0 || *r->part[0] == 0)
            msg_fatal("%s", usage);
    }
    return req;
}

static void pcm_free_requests(struct pcm_request *req, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++)
        pcm_free_parts(req[i].part, req[i].nparts);
    mem_free(req);
}

/* Does R select entry E? An empty type matches any, unless more follows. */
static int pcm_match(const struct pcm_request *r,
                     const struct mastercf_entry *e)
{
    if (strcmp(r->part[0], e->field[MASTERCF_SERVICE]) != 0)
        return 0;
    if (r->nparts < 2)
        return 1;
    if (*r->part[1] == 0)
        return r->nparts < 3 || *r->part[2] == 0;
    return strcmp(r->part[1], e->field[MASTERCF_TYPE]) == 0;
}

/* The part after service/type, or NULL for "all of it". */
static const char *pcm_detail(const struct pcm_request *r)
{
    return r->nparts == 3 && *r->part[2] ? r->part[2] : NULL;
}

/*
 * Postfix reports unmatched requests before it prints anything, so the
 * matching runs once without output (SHOW 0) and once with.
 */
typedef int (*pcm_show_fn)(const struct mastercf_entry *e, const char *detail,
                           int flags, int show);

static void pcm_show(struct mastercf *mcf, char **args, int max,
                     const char *usage, int flags, pcm_show_fn fn)
{
    struct pcm_request *req;
    size_t count, i, r;
    int pass;

    req = pcm_requests(args, max, usage, &count);
    if (count == 0) {
        for (i = 0; i < mcf->count; i++)
            fn(mcf->entries[i], NULL, flags, 1);
        pcm_free_requests(req, count);
        return;
    }
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < mcf->count; i++)
            for (r = 0; r < count; r++)
                if (pcm_match(&req[r], mcf->entries[i])
                    && fn(mcf->entries[i], pcm_detail(&req[r]), flags, pass))
                    req[r].matched = 1;
        if (pass == 0)
            for (r = 0; r < count; r++)
                if (!req[r].matched)
                    msg_warn("unmatched request: \"%s\"", req[r].arg);
    }
    pcm_free_requests(req, count);
}

/* ---- -M ------------------------------------------------------------------ */

static int pcm_show_entry(const struct mastercf_entry *e, const char *detail,
                          int flags, int show)
{
    struct buf *out;
    struct mastercf_entry *x = NULL;

    if (detail != NULL)
        return 0;
    if (!show)
        return 1;
    if (flags & PC_EXPAND)
        x = pcm_expanded(e);
    out = buf_new(256);
    mastercf_render(x ? x : e, (flags & PC_FOLD) ? MASTERCF_FOLD : 0, out);
    buf_putc(out, '\n');
    fwrite(buf_str(out), 1, buf_len(out), stdout);
    buf_free(out);
    mastercf_entry_free(x);
    return 1;
}

/* "service/type" with both parts, for -Me, -MX and -M#. */
static int pcm_service_type(const char *key, char **service, char **type)
{
    char *parts[2];
    int n = pcm_split_key(key, 2, parts);

    if (n != 2 || *parts[0] == 0 || *parts[1] == 0) {
        if (n > 0)
            pcm_free_parts(parts, n);
        return -1;
    }
    *service = parts[0];
    *type = parts[1];
    return 0;
}

static void pcm_edit_entries(struct mastercf *mcf, int flags, char **args)
{
    static const char usage[] = "-Me, -MX or -M# requires service_name/type";
    struct buf *err = buf_new(128);

    for (; *args; args++) {
        char *service;
        char *type;

        if (flags & PC_EDIT) {
            char *copy = mem_strdup(*args);
            char *key;
            char *text;
            const char *why;
            struct mastercf_entry *e;

            if (cfg_split_entry(copy, &key, &text, &why) < 0)
                msg_fatal("%s: \"%s\"", why, *args);
            if (pcm_service_type(key, &service, &type) < 0)
                msg_fatal("%s", usage);
            if ((e = mastercf_entry_parse(text, 0, NULL, err)) == NULL) {
                if (strcmp(buf_str(err), MASTERCF_MSG_FIELD_COUNT) == 0)
                    msg_fatal("%s: \"%s\"", MASTERCF_MSG_FIELD_COUNT, *args);
                msg_fatal("%s", buf_str(err));
            }
            mastercf_put(mcf, service, type, e);
            mem_free(copy);
        } else {
            struct mastercf_entry *e;

            if (pcm_service_type(*args, &service, &type) < 0)
                msg_fatal("%s", usage);
            /* Duplicates go too. */
            while ((e = mastercf_lookup(mcf, service, type)) != NULL) {
                if (flags & PC_REMOVE)
                    mastercf_remove(mcf, e);
                else
                    mastercf_comment_out(mcf, e);
            }
        }
        mem_free(service);
        mem_free(type);
    }
    buf_free(err);
}

int pc_master_entries(const char *config_dir, int flags, char **args)
{
    struct mastercf *mcf;

    pcm_check_flags('M', &flags, args);
    pcm_load_main(config_dir);
    mcf = pcm_load_master(config_dir, flags & PCM_EDITS);
    if (flags & PCM_EDITS) {
        pcm_edit_entries(mcf, flags, args);
        pcm_save(mcf);
        mastercf_free(mcf);
        return 0;
    }
    pcm_show(mcf, args, 2, "-M option requires service_name[/type]", flags,
             pcm_show_entry);
    pcm_show_done(mcf);
    return 0;
}

/* ---- -F ------------------------------------------------------------------ */

static void pcm_print_field(const struct mastercf_entry *e, int field,
                            int flags)
{
    struct buf *line = buf_new(256);

    if (!(flags & PC_NONAME))
        buf_printf(line, "%s/%s/%s = ", e->field[MASTERCF_SERVICE],
                   e->field[MASTERCF_TYPE], mastercf_field_names[field]);
    if (field == MASTERCF_COMMAND) {
        struct mastercf_entry *x = (flags & PC_EXPAND) ? pcm_expanded(e) : NULL;
        struct buf *prefix = buf_new(64);

        buf_set(prefix, buf_str(line));
        buf_reset(line);
        mastercf_render_command(x ? x : e,
                                (flags & PC_FOLD) ? MASTERCF_FOLD : 0,
                                buf_str(prefix), line);
        buf_free(prefix);
        mastercf_entry_free(x);
    } else {
        buf_puts(line, e->field[field]);
    }
    buf_putc(line, '\n');
    fwrite(buf_str(line), 1, buf_len(line), stdout);
    buf_free(line);
}

static int pcm_show_fields(const struct mastercf_entry *e, const char *detail,
                           int flags, int show)
{
    int i;

    if (!show)
        return 1;
    if (detail != NULL) {
        pcm_print_field(e, mastercf_field_index(detail), flags);
        return 1;
    }
    for (i = 0; i < MASTERCF_NFIELDS; i++)
        pcm_print_field(e, i, flags);
    return 1;
}

static void pcm_edit_fields(struct mastercf *mcf, char **args)
{
    static const char usage[] =
        "-Fe or -FX requires service_name/type/field_name";
    struct buf *err = buf_new(128);

    for (; *args; args++) {
        char *copy = mem_strdup(*args);
        char *key;
        char *value;
        const char *why;
        char *parts[3];
        int n;
        int field;
        struct mastercf_entry *e;

        if (cfg_split_entry(copy, &key, &value, &why) < 0)
            msg_fatal("%s: \"%s\"", why, *args);
        n = pcm_split_key(key, 3, parts);
        if (n != 3 || *parts[0] == 0 || *parts[1] == 0 || *parts[2] == 0)
            msg_fatal("%s", usage);
        if ((field = mastercf_field_index(parts[2])) < 0)
            msg_fatal("invalid service attribute name: \"%s\"", parts[2]);
        if (field != MASTERCF_COMMAND && strpbrk(value, " \t\r\n\f\v"))
            msg_fatal("-Fe does not accept whitespace in non-command field");
        if ((e = mastercf_lookup(mcf, parts[0], parts[1])) == NULL)
            msg_warn("unmatched service_name/type: \"%s\"", *args);
        else if (mastercf_set_field(mcf, e, field, value, 0, err) < 0)
            msg_fatal("%s", buf_str(err));
        pcm_free_parts(parts, n);
        mem_free(copy);
    }
    buf_free(err);
}

int pc_master_fields(const char *config_dir, int flags, char **args)
{
    struct mastercf *mcf;
    static const char usage[] =
        "-F option requires service_name[/type[/field]]";
    char **ap;

    pcm_check_flags('F', &flags, args);
    if (!(flags & PC_EDIT)) {
        /* Field names are checked before anything is read. */
        for (ap = args; *ap; ap++) {
            char *parts[3];
            int n = pcm_split_key(*ap, 3, parts);

            if (n < 0 || *parts[0] == 0)
                msg_fatal("%s", usage);
            if (n == 3 && *parts[1] && *parts[2]
                && mastercf_field_index(parts[2]) < 0)
                msg_fatal("invalid service attribute name: \"%s\"", parts[2]);
            pcm_free_parts(parts, n);
        }
    }
    pcm_load_main(config_dir);
    mcf = pcm_load_master(config_dir, flags & PC_EDIT);
    if (flags & PC_EDIT) {
        pcm_edit_fields(mcf, args);
        pcm_save(mcf);
        mastercf_free(mcf);
        return 0;
    }
    pcm_show(mcf, args, 3, usage, flags, pcm_show_fields);
    pcm_show_done(mcf);
    return 0;
}

/* ---- -P ------------------------------------------------------------------ */

static int pcm_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void pcm_print_one_param(const struct mastercf_entry *e,
                                const char *name, int flags)
{
    struct buf *full = buf_new(128);
    const char *value = mastercf_param(e, name);

    buf_printf(full, "%s/%s/%s", e->field[MASTERCF_SERVICE],
               e->field[MASTERCF_TYPE], name);
    if (flags & PC_EXPAND) {
        size_t count;
        struct pcm_saved *saved = pcm_scope_enter(e, &count);
        char *expanded = pcm_expand_one(name, value);

        pcm_scope_leave(saved, count);
        pc_print_param(buf_str(full), expanded, flags);
        mem_free(expanded);
    } else {
        pc_print_param(buf_str(full), value, flags);
    }
    buf_free(full);
}

static int pcm_show_params(const struct mastercf_entry *e, const char *detail,
                           int flags, int show)
{
    struct argv *names;
    size_t i;

    if (detail != NULL) {
        if (mastercf_param(e, detail) == NULL)
            return 0;
        if (show)
            pcm_print_one_param(e, detail, flags);
        return 1;
    }
    names = mastercf_param_names(e);
    if (names->argc == 0) {
        argv_free(names);
        return 0;
    }
    if (show) {
        qsort(names->argv, names->argc, sizeof(char *), pcm_name_cmp);
        for (i = 0; i < names->argc; i++)
            if (i == 0 || strcmp(names->argv[i], names->argv[i - 1]) != 0)
                pcm_print_one_param(e, names->argv[i], flags);
    }
    argv_free(names);
    return 1;
}

static void pcm_edit_params(struct mastercf *mcf, int flags, char **args)
{
    static const char usage[] =
        "-Pe or -PX requires service_name/type/parameter";

    for (; *args; args++) {
        char *copy = mem_strdup(*args);
        char *key = copy;
        char *value = NULL;
        const char *why;
        char *parts[3];
        int n;
        struct mastercf_entry *e;

        if ((flags & PC_EDIT) && cfg_split_entry(copy, &key, &value, &why) < 0)
            msg_fatal("%s: \"%s\"", why, *args);
        n = pcm_split_key(key, 3, parts);
        if (n != 3 || *parts[0] == 0 || *parts[1] == 0 || *parts[2] == 0)
            msg_fatal("%s", usage);
        if (value && strpbrk(value, " \t\r\n\f\v"))
            msg_fatal("-Pe does not accept whitespace in parameter value");
        if ((e = mastercf_lookup(mcf, parts[0], parts[1])) == NULL)
            msg_warn("unmatched service_name/type: \"%s\"", *args);
        else if (flags & PC_EDIT)
            mastercf_set_param(mcf, e, parts[2], value);
        else
            (void) mastercf_remove_param(mcf, e, parts[2]);
        pcm_free_parts(parts, n);
        mem_free(copy);
    }
}

int pc_master_params(const char *config_dir, int flags, char **args)
{
    struct mastercf *mcf;

    pcm_check_flags('P', &flags, args);
    pcm_load_main(config_dir);
    mcf = pcm_load_master(config_dir, flags & PCM_EDITS);
    if (flags & PCM_EDITS) {
        pcm_edit_params(mcf, flags, args);
        pcm_save(mcf);
        mastercf_free(mcf);
        return 0;
    }
    pcm_show(mcf, args, 3, "-P option requires service_name[/type[/parameter]]",
             flags, pcm_show_params);
    pcm_show_done(mcf);
    return 0;
}
