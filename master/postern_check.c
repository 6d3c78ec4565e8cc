/*
 * postern_check.c - `postern check`: find what would make the mail system
 * fail or misbehave, before it starts.
 *
 * What it checks, in order:
 *   - main.cf syntax and every parameter value (numbers, times, booleans,
 *     $name expansion), with file and line: errors;
 *   - master.cf syntax with the strict parser master uses: errors (and its
 *     warnings);
 *   - accounts: mail_owner and setgid_group exist and are not root;
 *   - owners and modes of the queue folders (lib/queue_dirs.h; missing
 *     ones are created, as Postfix's check does), of the root-owned
 *     configuration and daemon folders, of data_directory, of the files
 *     copied for chrooted daemons, and of postdrop/postqueue: warnings;
 *   - password maps (smtp_sasl_password_maps, auth_user_maps) that other
 *     users could read, or that do not exist: warnings;
 *   - common mistakes: permit_sasl_authenticated without
 *     smtpd_sasl_auth_enable, SMTP client AUTH without credentials,
 *     credentials keyed differently from relayhost, smtp_/smtpd_
 *     parameter mix-ups, tables older than their source file, relay
 *     restrictions that allow nothing or everything, SMTP client AUTH
 *     whose security options leave no PLAIN or LOGIN, Postfix features
 *     set but not supported yet (milters, content filters...): warnings.
 * Per-service settings are taken into account: a master.cf service's -o
 * overrides win over main.cf for that service.
 *
 * Called by postern.c for `check` and before `start`. Reports through
 * postern_warn/postern_error (postern.h); returns the number of errors.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "argv.h"
#include "buf.h"
#include "config.h"
#include "defaults.h"
#include "dict.h"
#include "dict_source.h"
#include "htable.h"
#include "lookup.h"
#include "mastercf.h"
#include "mem.h"
#include "params.h"
#include "queue_dirs.h"
#include "str.h"
#include "postern.h"

/* Root-owned folders are walked this deep, no further. */
#define CHECK_MAX_DEPTH 8

/* ---- main.cf ---- */

/* Report an error about parameter NAME, with its file and line if set. */
static void config_value_error(const char *name, const char *text)
{
    const char *file;
    int line;

    if (config_origin(name, &file, &line) == 0)
        postern_error("%s, line %d: %s", file, line, text);
    else
        postern_error("%s", text);
}

int postern_config_load(const char *config_dir)
{
    struct buf *path = buf_new(256);
    struct buf *err = buf_new(256);
    struct buf *value = buf_new(256);
    struct buf *text = buf_new(256);
    int errors = 0;
    size_t i;

    buf_setf(path, "%s/main.cf", config_dir);
    if (config_read(buf_str(path), err) < 0) {
        postern_error("%s", buf_str(err));
        errors++;
        goto out;
    }
    /* As config_load(): the folder in use is itself a setting. */
    if (strcmp(config_dir, def_config_directory) != 0
        || config_lookup("config_directory") == NULL)
        config_set("config_directory", config_dir, NULL, 0);

    for (i = 0; i < param_count; i++) {
        const struct param_info *p = &param_table[i];
        const char *raw = config_raw(p->name);
        long num;

        buf_reset(value);
        buf_reset(err);
        if (raw == NULL)
            raw = "";
        if (p->type == PT_RAW) {
            buf_set(value, raw);
        } else if (config_expand(value, raw, err) < 0) {
            buf_setf(text, "parameter %s: %s", p->name, buf_str(err));
            config_value_error(p->name, buf_str(text));
            errors++;
            continue;
        }
        if (param_convert(p, buf_str(value), &num, err) < 0) {
            config_value_error(p->name, buf_str(err));
            errors++;
        }
    }
    if (errors == 0)
        params_load();
out:
    buf_free(path);
    buf_free(err);
    buf_free(value);
    buf_free(text);
    return errors ? -1 : 0;
}

/* ---- small helpers ---- */

/* Warnings said once, even when several services lead to the same one. */
static struct htable *check_seen;

static void warn_once(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void warn_once(const char *fmt, ...)
{
    struct buf *text = buf_new(256);
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(text, fmt, ap);
    va_end(ap);
    if (check_seen == NULL)
        check_seen = htable_new(32);
    if (htable_get(check_seen, buf_str(text)) == NULL) {
        htable_put(check_seen, buf_str(text), check_seen);
        postern_warn("%s", buf_str(text));
    }
    buf_free(text);
}

/*
 * Split a list value into words at commas and white space; text inside
 * {} stays with its word ("inline:{a=b, c=d}" is one word).
 */
static struct argv *split_words(const char *value)
{
    struct argv *words = argv_new(8);
    const char *cp = value;

    for (;;) {
        const char *start;
        int depth = 0;

        cp += strspn(cp, STR_LIST_SEP);
        if (*cp == 0)
            break;
        for (start = cp; *cp; cp++) {
            if (*cp == '{')
                depth++;
            else if (*cp == '}' && depth > 0)
                depth--;
            else if (depth == 0 && strchr(STR_LIST_SEP, *cp))
                break;
        }
        argv_addn(words, start, (size_t) (cp - start));
    }
    return words;
}

static int words_have(const struct argv *words, const char *word)
{
    size_t i;

    for (i = 0; i < words->argc; i++)
        if (strcasecmp(words->argv[i], word) == 0)
            return 1;
    return 0;
}

/* "type:name" without any "proxy:" in front; TYPE and NAME are set. */
static int map_split(const char *spec, struct buf *type, const char **name)
{
    const char *colon;

    while (strncasecmp(spec, "proxy:", 6) == 0)
        spec += 6;
    if ((colon = strchr(spec, ':')) == NULL || colon == spec)
        return -1;
    buf_reset(type);
    buf_append(type, spec, (size_t) (colon - spec));
    str_lower(buf_str(type));
    *name = colon + 1;
    return 0;
}

/* Types whose data lives in NAME.db, built by postmap from NAME. */
static int map_is_db(const char *type)
{
    return strcmp(type, "hash") == 0 || strcmp(type, "btree") == 0
           || strcmp(type, "dbm") == 0;
}

/* Types whose data is the file NAME itself. */
static int map_is_file(const char *type)
{
    static const char *const types[] = {
        "texthash", "regexp", "pcre", "cidr", "sasldb", "lmdb", "cdb", NULL,
    };
    int i;

    for (i = 0; types[i]; i++)
        if (strcmp(type, types[i]) == 0)
            return 1;
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

static int stat_newer(const struct stat *a, const struct stat *b)
{
    if (a->st_mtim.tv_sec != b->st_mtim.tv_sec)
        return a->st_mtim.tv_sec > b->st_mtim.tv_sec;
    return a->st_mtim.tv_nsec > b->st_mtim.tv_nsec;
}

static const char *user_name(uid_t uid, struct buf *out)
{
    struct passwd *pw = getpwuid(uid);

    if (pw)
        buf_set(out, pw->pw_name);
    else
        buf_setf(out, "%ld", (long) uid);
    return buf_str(out);
}

/* ---- services ---- */

/*
 * One view of the settings: main.cf alone (entry NULL), or a master.cf
 * service, whose -o overrides win over main.cf.
 */
struct svc {
    const struct mastercf *mcf;
    const struct mastercf_entry *e;
};

/* Is NAME set explicitly (by -o or in main.cf), not left at its default? */
static int svc_is_set(const struct svc *s, const char *name)
{
    return (s->e && mastercf_param(s->e, name) != NULL)
           || config_lookup(name) != NULL;
}

/* The expanded value of NAME for service S (appended to OUT). */
static const char *svc_value(const struct svc *s, const char *name,
                             struct buf *out)
{
    const char *raw = s->e ? mastercf_param(s->e, name) : NULL;
    struct buf *err = buf_new(64);

    buf_reset(out);
    if (raw == NULL)
        raw = config_raw(name);
    if (raw != NULL && config_expand(out, raw, err) < 0)
        buf_set(out, raw);
    buf_free(err);
    return buf_str(out);
}

static int svc_bool(const struct svc *s, const char *name)
{
    struct buf *value = buf_new(16);
    int yes = 0;

    if (conv_bool(svc_value(s, name, value), &yes) < 0)
        yes = 0;
    buf_free(value);
    return yes;
}

/* Where NAME was set for S: "master.cf, line N", "main.cf, line N", or "". */
static const char *svc_where(const struct svc *s, const char *name,
                             struct buf *out)
{
    const char *file;
    int line;

    if (s->e && mastercf_param(s->e, name) != NULL)
        buf_setf(out, "%s, line %d", s->mcf->path, s->e->first_line);
    else if (config_origin(name, &file, &line) == 0)
        buf_setf(out, "%s, line %d", file, line);
    else
        buf_set(out, config_file() ? config_file() : "main.cf");
    return buf_str(out);
}

/*
 * " for service NAME/TYPE" when S overrides one of NAMES with -o, else ""
 * (the finding is about main.cf, whatever service runs it).
 */
static const char *svc_label(const struct svc *s, const char *const *names,
                             struct buf *out)
{
    int i;

    buf_reset(out);
    for (i = 0; s->e && names[i]; i++) {
        if (mastercf_param(s->e, names[i]) != NULL) {
            buf_setf(out, " for service %s/%s", s->e->field[MASTERCF_SERVICE],
                     s->e->field[MASTERCF_TYPE]);
            break;
        }
    }
    return buf_str(out);
}

/* The services that run PROGRAM; main.cf alone when there is none. */
static size_t services_running(const struct mastercf *mcf, const char *program,
                               struct svc **out)
{
    struct svc *list;
    size_t count = 0;
    size_t i;

    list = mem_calloc(mcf ? mcf->count + 1 : 1, sizeof(*list));
    for (i = 0; mcf && i < mcf->count; i++) {
        const struct mastercf_entry *e = mcf->entries[i];

        if (strcmp(base_name(e->field[MASTERCF_COMMAND]), program) == 0) {
            list[count].mcf = mcf;
            list[count].e = e;
            count++;
        }
    }
    if (count == 0)
        count = 1; /* list[0] is main.cf alone */
    *out = list;
    return count;
}

/*
 * The words of restriction list NAME for S, with the restriction classes
 * it names replaced by their own words (a few levels deep).
 */
static void restriction_words(const struct svc *s, const char *name,
                              struct argv *out, int depth)
{
    struct buf *value = buf_new(128);
    struct buf *classes_value = buf_new(128);
    struct argv *classes;
    struct argv *words;
    size_t i;

    words = split_words(svc_value(s, name, value));
    classes =
        split_words(svc_value(s, "smtpd_restriction_classes", classes_value));
    for (i = 0; i < words->argc; i++) {
        if (depth < 4 && words_have(classes, words->argv[i]))
            restriction_words(s, words->argv[i], out, depth + 1);
        else
            argv_add(out, words->argv[i]);
    }
    argv_free(words);
    argv_free(classes);
    buf_free(value);
    buf_free(classes_value);
}

/* ---- master.cf ---- */

static struct mastercf *check_master_cf(const char *config_dir)
{
    struct buf *path = buf_new(256);
    struct buf *err = buf_new(256);
    struct argv *warnings = argv_new(4);
    struct mastercf *mcf;
    size_t i;

    buf_setf(path, "%s/master.cf", config_dir);
    mcf = mastercf_read(buf_str(path), MASTERCF_STRICT, warnings, err);
    for (i = 0; i < warnings->argc; i++)
        postern_warn("%s", warnings->argv[i]);
    if (mcf == NULL) {
        if (access(buf_str(path), F_OK) < 0 && errno == ENOENT)
            postern_error("no %s file found", buf_str(path));
        else
            postern_error("%s", buf_str(err));
    }
    argv_free(warnings);
    buf_free(path);
    buf_free(err);
    return mcf;
}

/* ---- accounts, folders and files ---- */

static void check_accounts(void)
{
    struct passwd *pw = getpwnam(var_mail_owner);
    struct group *gr = getgrnam(var_setgid_group);

    if (pw == NULL)
        postern_error("mail_owner: unknown user: %s", var_mail_owner);
    else if (pw->pw_uid == 0)
        postern_error("mail_owner: %s has user ID 0; it must be an "
                      "unprivileged account of its own",
                      var_mail_owner);
    if (gr == NULL)
        postern_error("setgid_group: unknown group: %s", var_setgid_group);
    else if (gr->gr_gid == 0)
        postern_error("setgid_group: %s has group ID 0; it must be a group "
                      "of its own",
                      var_setgid_group);
    if (pw && gr && pw->pw_gid == gr->gr_gid)
        postern_warn("the primary group of mail_owner %s is setgid_group %s: "
                     "every mail_owner process could write into maildrop as "
                     "any user; give %s a group of its own",
                     var_mail_owner, var_setgid_group, var_mail_owner);
}

struct dirs_report {
    int problems;
};

static void dirs_report(enum queue_dirs_event event, const char *text,
                        void *context)
{
    struct dirs_report *r = context;

    if (event == QUEUE_DIRS_DONE) {
        postern_info("%s", text);
    } else if (event == QUEUE_DIRS_PROBLEM) {
        r->problems++;
        postern_warn("%s", text);
    } else {
        postern_error("%s", text);
    }
}

/*
 * Walk PATH (no symbolic links followed): everything must belong to UID
 * (named OWNER) and not be writable by group or others.
 */
static void check_tree(const char *path, uid_t uid, const char *owner,
                       int depth)
{
    struct stat sb;
    DIR *dir;
    struct dirent *de;
    struct buf *child;

    if (lstat(path, &sb) < 0 || S_ISLNK(sb.st_mode))
        return;
    if (sb.st_uid != uid)
        postern_warn("not owned by %s: %s", owner, path);
    if (sb.st_mode & (S_IWGRP | S_IWOTH))
        postern_warn("group or other writable: %s", path);
    if (!S_ISDIR(sb.st_mode) || depth >= CHECK_MAX_DEPTH)
        return;
    if ((dir = opendir(path)) == NULL)
        return;
    child = buf_new(256);
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        buf_setf(child, "%s/%s", path, de->d_name);
        check_tree(buf_str(child), uid, owner, depth + 1);
    }
    closedir(dir);
    buf_free(child);
}

static void check_data_directory(void)
{
    struct passwd *pw = getpwnam(var_mail_owner);
    struct stat sb;

    if (pw == NULL)
        return;
    if (lstat(var_data_directory, &sb) < 0 && errno == ENOENT) {
        if (mkdir(var_data_directory, 0700) < 0
            || chown(var_data_directory, pw->pw_uid, pw->pw_gid) < 0) {
            postern_error("cannot create data_directory %s: %s",
                          var_data_directory, strerror(errno));
            return;
        }
        postern_info("created directory %s", var_data_directory);
    }
    check_tree(var_data_directory, pw->pw_uid, var_mail_owner, 0);
}

static void check_folders(int flags)
{
    struct dirs_report report = {0};
    struct argv *done = argv_new(4);
    const char *roots[4];
    struct buf *path = buf_new(256);
    struct group *gr;
    size_t i;
    int n;

    /* The queue: created where missing, as Postfix's check does. */
    n = queue_dirs_apply(var_queue_directory, var_mail_owner, var_setgid_group,
                         QUEUE_DIRS_CREATE, dirs_report, &report);
    if (n > 0 && report.problems > 0)
        postern_info("\"postern set-permissions\" repairs the owners and "
                     "modes above");

    /* Root's folders: configuration and programs. */
    roots[0] = var_config_directory;
    roots[1] = var_meta_directory;
    roots[2] = var_daemon_directory;
    roots[3] = NULL;
    for (i = 0; roots[i]; i++) {
        if (words_have(done, roots[i]))
            continue;
        argv_add(done, roots[i]);
        check_tree(roots[i], 0, "root", 0);
    }
    argv_free(done);

    check_data_directory();

    /* Files copied for chrooted daemons: root's, and the host's copy. */
    for (i = 0; postern_chroot_files[i]; i++) {
        const char *host = postern_chroot_files[i];
        struct stat sb;
        struct stat hsb;

        buf_setf(path, "%s%s", var_queue_directory, host);
        if (lstat(buf_str(path), &sb) < 0)
            continue;
        if (sb.st_uid != 0)
            postern_warn("not owned by root: %s", buf_str(path));
        if ((flags & CHECK_FOR_START) || stat(host, &hsb) < 0)
            continue;
        if (S_ISREG(sb.st_mode) && S_ISREG(hsb.st_mode)) {
            int fa = open(buf_str(path), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            int fb = open(host, O_RDONLY | O_CLOEXEC);
            int same = 0;

            if (fa >= 0 && fb >= 0 && sb.st_size == hsb.st_size)
                same = postern_same_content(fa, fb);
            if (fa >= 0)
                close(fa);
            if (fb >= 0)
                close(fb);
            if (!same)
                postern_warn("%s and %s differ (\"postern start\" copies it "
                             "again)",
                             buf_str(path), host);
        }
    }

    /* Messages that could not be read. */
    {
        DIR *dir;
        struct dirent *de;

        buf_setf(path, "%s/corrupt", var_queue_directory);
        if ((dir = opendir(buf_str(path))) != NULL) {
            while ((de = readdir(dir)) != NULL)
                if (de->d_name[0] != '.')
                    postern_warn("damaged message: %s/%s", buf_str(path),
                                 de->d_name);
            closedir(dir);
        }
    }

    /* postdrop and postqueue: set-gid setgid_group. */
    gr = getgrnam(var_setgid_group);
    for (i = 0; i < 2; i++) {
        static const char *const cmds[] = {"postdrop", "postqueue"};
        struct stat sb;

        buf_setf(path, "%s/%s", var_command_directory, cmds[i]);
        if (lstat(buf_str(path), &sb) < 0 || !S_ISREG(sb.st_mode))
            continue;
        if (gr && sb.st_gid != gr->gr_gid)
            postern_warn("not owned by group %s: %s", var_setgid_group,
                         buf_str(path));
        if ((sb.st_mode & 02111) != 02111)
            postern_warn("not set-gid or not owner+group+world executable: %s",
                         buf_str(path));
    }
    buf_free(path);
}

/* ---- map usage ---- */

/* Every parameter setting in force: NAME, its expanded VALUE, and WHERE. */
struct setting {
    char *name;
    char *value;
    char *where;
};

struct settings {
    struct setting *list;
    size_t count;
    size_t size;
};

static void settings_add(struct settings *s, const char *name,
                         const char *value, const char *where)
{
    if (s->count == s->size) {
        s->size = s->size ? s->size * 2 : 64;
        s->list = mem_realloc(s->list, s->size * sizeof(*s->list));
    }
    s->list[s->count].name = mem_strdup(name);
    s->list[s->count].value = mem_strdup(value);
    s->list[s->count].where = mem_strdup(where);
    s->count++;
}

static void settings_free(struct settings *s)
{
    size_t i;

    for (i = 0; i < s->count; i++) {
        mem_free(s->list[i].name);
        mem_free(s->list[i].value);
        mem_free(s->list[i].where);
    }
    mem_free(s->list);
}

/*
 * Collect every value that may name tables: each parameter of the table
 * (set or default), each other main.cf setting (restriction classes),
 * and each -o override in master.cf.
 */
static void collect_settings(const struct mastercf *mcf, struct settings *out)
{
    struct buf *value = buf_new(256);
    struct buf *err = buf_new(64);
    struct buf *where = buf_new(256);
    const char **names;
    size_t i;
    size_t j;

    for (i = 0; i < param_count; i++) {
        const struct param_info *p = &param_table[i];
        const char *file;
        int line;

        if (p->type == PT_RAW || p->type == PT_BOOL || p->type == PT_INT
            || p->type == PT_LONG || p->type == PT_SIZE || p->type == PT_TIME)
            continue;
        if (config_origin(p->name, &file, &line) == 0)
            buf_setf(where, "%s, line %d", file, line);
        else
            buf_setf(where, "default %s", p->name);
        settings_add(out, p->name, config_get(p->name), buf_str(where));
    }
    names = config_names();
    for (i = 0; names[i]; i++) {
        const char *file;
        int line;

        if (param_find(names[i]) != NULL)
            continue;
        buf_reset(value);
        if (config_expand(value, config_lookup(names[i]), err) < 0)
            continue;
        if (config_origin(names[i], &file, &line) == 0)
            buf_setf(where, "%s, line %d", file, line);
        else
            buf_set(where, names[i]);
        settings_add(out, names[i], buf_str(value), buf_str(where));
    }
    mem_free(names);
    for (i = 0; mcf && i < mcf->count; i++) {
        const struct mastercf_entry *e = mcf->entries[i];

        for (j = 0; j < e->argc; j++) {
            if (e->args[j].kind != MASTERCF_ARG_PARAM)
                continue;
            buf_reset(value);
            if (config_expand(value, e->args[j].value, err) < 0)
                buf_set(value, e->args[j].value);
            buf_setf(where, "%s, line %d", mcf->path, e->first_line);
            settings_add(out, e->args[j].text, buf_str(value), buf_str(where));
        }
    }
    buf_free(value);
    buf_free(err);
    buf_free(where);
}

/* A table file older than its source: postmap was forgotten. */
static void check_stale_tables(const struct settings *s)
{
    struct htable *done = htable_new(32);
    struct buf *type = buf_new(16);
    struct buf *db = buf_new(256);
    size_t i;
    size_t j;

    for (i = 0; i < s->count; i++) {
        struct argv *words = split_words(s->list[i].value);
        int alias = strcmp(s->list[i].name, "alias_maps") == 0
                    || strcmp(s->list[i].name, "alias_database") == 0;

        for (j = 0; j < words->argc; j++) {
            const char *name;
            struct stat src;
            struct stat dbs;

            if (map_split(words->argv[j], type, &name) < 0
                || !map_is_db(buf_str(type)) || name[0] != '/'
                || htable_get(done, name) != NULL)
                continue;
            htable_put(done, name, done);
            buf_setf(db, "%s.db", name);
            if (stat(name, &src) < 0 || stat(buf_str(db), &dbs) < 0)
                continue;
            if (stat_newer(&src, &dbs))
                postern_warn("database %s is older than source file %s "
                             "(forgot to run \"%s %s:%s\"?)",
                             buf_str(db), name, alias ? "postalias" : "postmap",
                             buf_str(type), name);
        }
        argv_free(words);
    }
    htable_free(done, NULL);
    buf_free(type);
    buf_free(db);
}

/* ---- password maps ---- */

static void check_secret_file(const char *param, const char *file,
                              struct htable *done)
{
    struct buf *owner = buf_new(32);
    struct stat sb;
    int bad_mode;
    int bad_owner;

    if (htable_get(done, file) != NULL || stat(file, &sb) < 0) {
        buf_free(owner);
        return;
    }
    htable_put(done, file, done);
    bad_mode = (sb.st_mode & 077) != 0;
    bad_owner = sb.st_uid != 0;
    if (bad_mode && bad_owner)
        postern_warn("%s: the password file %s is mode %04o and owned by %s, "
                     "should be 0600 owned by root",
                     param, file, (unsigned) (sb.st_mode & 07777),
                     user_name(sb.st_uid, owner));
    else if (bad_mode)
        postern_warn("%s: the password file %s is mode %04o, should be 0600 "
                     "owned by root",
                     param, file, (unsigned) (sb.st_mode & 07777));
    else if (bad_owner)
        postern_warn("%s: the password file %s is owned by %s, should be 0600 "
                     "owned by root",
                     param, file, user_name(sb.st_uid, owner));
    buf_free(owner);
}

static void check_password_maps(const struct settings *s)
{
    static const char *const params[] = {
        "smtp_sasl_password_maps",
        "auth_user_maps",
        NULL,
    };
    struct htable *done = htable_new(16);
    struct buf *type = buf_new(16);
    struct buf *db = buf_new(256);
    size_t i;
    size_t j;
    int k;

    for (i = 0; i < s->count; i++) {
        struct argv *words;

        for (k = 0; params[k]; k++)
            if (strcmp(s->list[i].name, params[k]) == 0)
                break;
        if (params[k] == NULL)
            continue;
        words = split_words(s->list[i].value);
        for (j = 0; j < words->argc; j++) {
            const char *name;
            const char *t;

            if (map_split(words->argv[j], type, &name) < 0)
                continue;
            t = buf_str(type);
            if (strcmp(t, "inline") == 0) {
                warn_once("%s: %s: inline: keeps the passwords in a "
                          "configuration file that every user can read; use a "
                          "hash: table owned by root with mode 0600",
                          s->list[i].where, params[k]);
                continue;
            }
            if (name[0] != '/')
                continue;
            if (map_is_db(t)) {
                struct stat sb;

                buf_setf(db, "%s.db", name);
                if (stat(buf_str(db), &sb) < 0) {
                    if (stat(name, &sb) == 0)
                        warn_once("%s: the table %s does not exist (forgot to "
                                  "run \"postmap %s:%s\"?)",
                                  params[k], buf_str(db), t, name);
                    else
                        warn_once("%s: %s:%s: neither %s nor %s exists",
                                  params[k], t, name, name, buf_str(db));
                }
                check_secret_file(params[k], name, done);
                check_secret_file(params[k], buf_str(db), done);
            } else if (map_is_file(t)) {
                struct stat sb;

                if (stat(name, &sb) < 0)
                    warn_once("%s: %s:%s: the file %s does not exist",
                              params[k], t, name, name);
                check_secret_file(params[k], name, done);
            }
        }
        argv_free(words);
    }
    htable_free(done, NULL);
    buf_free(type);
    buf_free(db);
}

/* ---- relayhost credentials ---- */

/* A next-hop as written: [host]:port, [host], host:port or host. */
struct hop {
    char *host;
    char *port; /* NULL when none */
    int bracket;
};

static int hop_parse(const char *text, struct hop *h)
{
    memset(h, 0, sizeof(*h));
    if (text[0] == '[') {
        const char *end = strchr(text, ']');

        if (end == NULL)
            return -1;
        h->host = mem_strndup(text + 1, (size_t) (end - text - 1));
        h->bracket = 1;
        if (end[1] == ':')
            h->port = mem_strdup(end + 2);
        else if (end[1] != 0)
            return -1;
    } else {
        const char *colon = strchr(text, ':');

        if (colon) {
            h->host = mem_strndup(text, (size_t) (colon - text));
            h->port = mem_strdup(colon + 1);
        } else {
            h->host = mem_strdup(text);
        }
    }
    return 0;
}

static void hop_free(struct hop *h)
{
    mem_free(h->host);
    mem_free(h->port);
}

static int same_host(const char *key, const struct hop *relay)
{
    struct hop k;
    int same;

    if (hop_parse(key, &k) < 0) {
        hop_free(&k);
        return 0;
    }
    same = strcasecmp(k.host, relay->host) == 0;
    hop_free(&k);
    return same;
}

/* Keys someone might have written for RELAY instead of the exact text. */
static struct argv *hop_variants(const struct hop *relay)
{
    struct argv *v = argv_new(8);
    struct buf *key = buf_new(64);
    char *alt = NULL;

    argv_add(v, relay->host);
    buf_setf(key, "[%s]", relay->host);
    argv_add(v, buf_str(key));
    if (relay->port) {
        struct servent *se;
        char *end;
        long num = strtol(relay->port, &end, 10);

        /* 587 and submission are the same port, but not the same key. */
        if (*end == 0 && num > 0 && num < 65536) {
            if ((se = getservbyport(htons((uint16_t) num), "tcp")) != NULL)
                alt = mem_strdup(se->s_name);
        } else if ((se = getservbyname(relay->port, "tcp")) != NULL) {
            buf_setf(key, "%d", (int) ntohs((uint16_t) se->s_port));
            alt = mem_strdup(buf_str(key));
        }
        buf_setf(key, "[%s]:%s", relay->host, relay->port);
        argv_add(v, buf_str(key));
        buf_setf(key, "%s:%s", relay->host, relay->port);
        argv_add(v, buf_str(key));
        if (alt) {
            buf_setf(key, "[%s]:%s", relay->host, alt);
            argv_add(v, buf_str(key));
            buf_setf(key, "%s:%s", relay->host, alt);
            argv_add(v, buf_str(key));
            mem_free(alt);
        }
    }
    buf_free(key);
    return v;
}

/*
 * Look for ELEM (one relayhost destination) in the tables of
 * smtp_sasl_password_maps. Warn when only other spellings of the same
 * host are there; say so when there is nothing at all and the SMTP client
 * would have to log in.
 */
static void check_relay_key(const char *maps_value, const char *elem,
                            int must_login)
{
    struct argv *words = split_words(maps_value);
    struct argv *found = argv_new(4); /* "where\tkey" of near misses */
    struct buf *type = buf_new(16);
    struct buf *err = buf_new(64);
    struct buf *value = buf_new(64);
    struct hop relay;
    int exact = 0;
    size_t i;
    size_t j;

    if (hop_parse(elem, &relay) < 0 || *relay.host == 0) {
        hop_free(&relay);
        goto out;
    }
    for (i = 0; i < words->argc && !exact; i++) {
        const char *name;
        const char *t;
        struct dict_source *src = NULL;

        if (map_split(words->argv[i], type, &name) < 0)
            continue;
        t = buf_str(type);
        /* A source text file says where the key is. */
        if ((map_is_db(t) || strcmp(t, "texthash") == 0) && name[0] == '/'
            && access(name, R_OK) == 0
            && (src = dict_source_open(name, 0, err)) != NULL) {
            char *key;
            char *val;

            while (dict_source_next(src, &key, &val) > 0) {
                if (strcasecmp(key, elem) == 0) {
                    exact = 1;
                    break;
                }
                if (same_host(key, &relay)) {
                    buf_setf(value, "%s, line %d\t%s", name,
                             dict_source_lineno(src), key);
                    argv_add(found, buf_str(value));
                }
            }
            dict_source_close(src);
        } else {
            struct dict *d =
                dict_open(words->argv[i], DICT_RDONLY, DICT_FOLD_FIX, err);
            struct argv *variants;

            if (d == NULL)
                continue;
            if (dict_lookup(d, elem, value) == LOOKUP_FOUND) {
                exact = 1;
            } else {
                variants = hop_variants(&relay);
                for (j = 0; j < variants->argc; j++) {
                    if (strcasecmp(variants->argv[j], elem) == 0)
                        continue;
                    if (dict_lookup(d, variants->argv[j], value)
                        == LOOKUP_FOUND) {
                        /* Never the text of an inline table: secrets. */
                        if (name[0] == '/')
                            buf_setf(value,
                                     "smtp_sasl_password_maps: %s:%s\t%s", t,
                                     name, variants->argv[j]);
                        else
                            buf_setf(value,
                                     "smtp_sasl_password_maps: the %s: table"
                                     "\t%s",
                                     t, variants->argv[j]);
                        argv_add(found, buf_str(value));
                    }
                }
                argv_free(variants);
            }
            dict_close(d);
        }
    }
    if (!exact) {
        for (i = 0; i < found->argc; i++) {
            char *tab = strchr(found->argv[i], '\t');

            *tab = 0;
            warn_once("%s: the key \"%s\" does not match relayhost %s as "
                      "written; credentials are looked up by the relayhost "
                      "exactly as it is written in main.cf: use \"%s\" as "
                      "the key",
                      found->argv[i], tab + 1, elem, elem);
        }
        if (found->argc == 0 && must_login)
            warn_once("smtp_sasl_password_maps has no key \"%s\": the SMTP "
                      "client has no credentials for relayhost %s",
                      elem, elem);
    }
    hop_free(&relay);
out:
    argv_free(words);
    argv_free(found);
    buf_free(type);
    buf_free(err);
    buf_free(value);
}

static void check_relayhost_credentials(void)
{
    struct argv *relays;
    size_t i;

    if (*var_relayhost == 0 || *var_smtp_sasl_password_maps == 0)
        return;
    relays = split_words(var_relayhost);
    for (i = 0; i < relays->argc; i++)
        check_relay_key(var_smtp_sasl_password_maps, relays->argv[i],
                        var_smtp_sasl_auth_enable
                            && !var_smtp_sender_dependent_authentication
                            && relays->argv[i][0] == '[');
    argv_free(relays);
}

/* ---- common mistakes ---- */

static const char *const smtpd_restriction_lists[] = {
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
    "smtpd_data_restrictions",
    "smtpd_end_of_data_restrictions",
    "smtpd_etrn_restrictions",
    NULL,
};

/*
 * permit_sasl_authenticated can never match without AUTH. A main.cf list
 * shared by a service that has AUTH (submission, with -o) is fine on
 * port 25 too: ANY_AUTH says some smtpd service has AUTH on.
 */
static void check_sasl_permit(const struct svc *s, int any_auth)
{
    struct buf *where = buf_new(128);
    struct buf *label = buf_new(64);
    int i;

    if (svc_bool(s, "smtpd_sasl_auth_enable"))
        goto out;
    for (i = 0; smtpd_restriction_lists[i]; i++) {
        const char *name = smtpd_restriction_lists[i];
        struct argv *words;

        if (!svc_is_set(s, name)
            || (any_auth
                && (s->e == NULL || mastercf_param(s->e, name) == NULL)))
            continue;
        words = argv_new(8);
        restriction_words(s, name, words, 0);
        if (words_have(words, "permit_sasl_authenticated")) {
            const char *const involved[] = {
                name,
                "smtpd_sasl_auth_enable",
                "smtpd_restriction_classes",
                NULL,
            };

            warn_once("%s: %s uses permit_sasl_authenticated, but "
                      "smtpd_sasl_auth_enable = no%s: no client can log in, "
                      "so it never permits anything",
                      svc_where(s, name, where), name,
                      svc_label(s, involved, label));
        }
        argv_free(words);
    }
out:
    buf_free(where);
    buf_free(label);
}

/* AUTH switched on without what it needs. */
static void check_sasl_needs(const struct svc *s, int client, int *uses_auth)
{
    struct buf *where = buf_new(128);
    struct buf *label = buf_new(64);
    struct buf *value = buf_new(128);
    const char *enable =
        client ? "smtp_sasl_auth_enable" : "smtpd_sasl_auth_enable";
    const char *const involved[] = {
        enable,
        client ? "smtp_sasl_password_maps" : "auth_user_maps",
        NULL,
    };

    if (!svc_bool(s, enable))
        goto out;
    *uses_auth = 1;
    svc_where(s, enable, where);
    svc_label(s, involved, label);
    if (client && *svc_value(s, "smtp_sasl_password_maps", value) == 0)
        warn_once("%s: smtp_sasl_auth_enable = yes, but "
                  "smtp_sasl_password_maps is empty%s: the SMTP client has "
                  "no username and password to send",
                  buf_str(where), buf_str(label));
    if (!client && *svc_value(s, "auth_user_maps", value) == 0)
        warn_once("%s: smtpd_sasl_auth_enable = yes, but auth_user_maps is "
                  "empty%s: every AUTH attempt will fail with a temporary "
                  "error",
                  buf_str(where), buf_str(label));
out:
    buf_free(where);
    buf_free(label);
    buf_free(value);
}

/* Does the security options list OPTIONS (a value) rule out PLAIN/LOGIN? */
static int no_plaintext(const char *options)
{
    struct argv *words = split_words(options);
    int found = words_have(words, "noplaintext");

    argv_free(words);
    return found;
}

/*
 * SMTP client AUTH with PLAIN and LOGIN filtered out by the security
 * options (noplaintext is in the default), while most providers offer
 * nothing else: every login fails with "no mechanism available".
 */
static void check_client_plaintext(const struct svc *s)
{
    static const char *const involved[] = {
        "smtp_sasl_auth_enable",
        "smtp_sasl_security_options",
        "smtp_sasl_tls_security_options",
        "smtp_sasl_tls_verified_security_options",
        "smtp_tls_security_level",
        "smtp_sasl_mechanism_filter",
        NULL,
    };
    struct buf *value = buf_new(64);
    struct buf *where = buf_new(128);
    struct buf *label = buf_new(64);
    struct argv *filter;
    const char *level;
    int tls;
    int plain_ok;

    if (!svc_bool(s, "smtp_sasl_auth_enable"))
        goto out;
    /* A filter without PLAIN and LOGIN: the admin chose other mechanisms. */
    filter = split_words(svc_value(s, "smtp_sasl_mechanism_filter", value));
    if (filter->argc > 0 && !words_have(filter, "plain")
        && !words_have(filter, "login")) {
        argv_free(filter);
        goto out;
    }
    argv_free(filter);
    level = svc_value(s, "smtp_tls_security_level", value);
    tls = (*level != 0 && strcasecmp(level, "none") != 0)
          || svc_bool(s, "smtp_use_tls") || svc_bool(s, "smtp_enforce_tls");
    plain_ok = !no_plaintext(svc_value(s, "smtp_sasl_security_options", value));
    if (tls && !plain_ok) {
        /* Their defaults name $smtp_sasl_security_options: as above. */
        const char *raw =
            s->e ? mastercf_param(s->e, "smtp_sasl_tls_security_options")
                 : NULL;

        if (raw == NULL)
            raw = config_raw("smtp_sasl_tls_security_options");
        if (raw == NULL || strstr(raw, "smtp_sasl_security_options") == NULL)
            plain_ok = !no_plaintext(
                svc_value(s, "smtp_sasl_tls_security_options", value));
        raw = s->e ? mastercf_param(s->e,
                                    "smtp_sasl_tls_verified_security_options")
                   : NULL;
        if (raw == NULL)
            raw = config_raw("smtp_sasl_tls_verified_security_options");
        if (!plain_ok && raw != NULL
            && strstr(raw, "smtp_sasl_tls_security_options") == NULL
            && strstr(raw, "smtp_sasl_security_options") == NULL)
            plain_ok = !no_plaintext(
                svc_value(s, "smtp_sasl_tls_verified_security_options", value));
    }
    if (plain_ok)
        goto out;
    svc_where(s, "smtp_sasl_auth_enable", where);
    svc_label(s, involved, label);
    if (tls)
        warn_once("%s: smtp_sasl_auth_enable = yes, but the SMTP client "
                  "security options have noplaintext, with TLS and without "
                  "it%s: PLAIN and LOGIN, often the only mechanisms a "
                  "provider offers, are never used (\"no mechanism "
                  "available\"); set smtp_sasl_tls_security_options = "
                  "noanonymous",
                  buf_str(where), buf_str(label));
    else
        warn_once("%s: smtp_sasl_auth_enable = yes, but "
                  "smtp_sasl_security_options has noplaintext and TLS is "
                  "off%s: PLAIN and LOGIN, often the only mechanisms a "
                  "provider offers, are never used (\"no mechanism "
                  "available\"); set smtp_tls_security_level = encrypt and "
                  "smtp_sasl_tls_security_options = noanonymous, or "
                  "smtp_sasl_security_options = noanonymous",
                  buf_str(where), buf_str(label));
out:
    buf_free(value);
    buf_free(where);
    buf_free(label);
}

/* Relay control that lets nothing through, or everything. */
static void check_relay_control(const struct svc *s)
{
    static const char *const involved[] = {
        "smtpd_relay_restrictions",
        "smtpd_recipient_restrictions",
        "smtpd_restriction_classes",
        NULL,
    };
    static const char *const guards[] = {
        "reject_unauth_destination",
        "defer_unauth_destination",
        "reject",
        "defer",
        "defer_if_permit",
        "check_relay_domains",
        NULL,
    };
    struct argv *words = argv_new(16);
    struct buf *where = buf_new(128);
    struct buf *label = buf_new(64);
    int guarded = 0;
    int allows = 0;
    size_t i;
    int k;

    restriction_words(s, "smtpd_relay_restrictions", words, 0);
    restriction_words(s, "smtpd_recipient_restrictions", words, 0);
    for (i = 0; i < words->argc; i++) {
        const char *w = words->argv[i];

        for (k = 0; guards[k]; k++)
            if (strcasecmp(w, guards[k]) == 0)
                guarded = 1;
        if (strncasecmp(w, "permit", 6) == 0 || strncasecmp(w, "check_", 6) == 0
            || strcasecmp(w, "reject_unauth_destination") == 0
            || strcasecmp(w, "defer_unauth_destination") == 0)
            allows = 1;
    }
    if (svc_is_set(s, "smtpd_relay_restrictions")
        || !svc_is_set(s, "smtpd_recipient_restrictions"))
        svc_where(s, "smtpd_relay_restrictions", where);
    else
        svc_where(s, "smtpd_recipient_restrictions", where);
    svc_label(s, involved, label);
    if (!guarded)
        warn_once("%s: neither smtpd_relay_restrictions nor "
                  "smtpd_recipient_restrictions has reject_unauth_destination, "
                  "defer_unauth_destination, reject, defer or "
                  "defer_if_permit%s: the SMTP server would be an open relay "
                  "and refuses to run",
                  buf_str(where), buf_str(label));
    else if (!allows)
        warn_once("%s: neither smtpd_relay_restrictions nor "
                  "smtpd_recipient_restrictions has a permit_ restriction or "
                  "reject_unauth_destination%s: the SMTP server accepts mail "
                  "for no recipient at all",
                  buf_str(where), buf_str(label));
    argv_free(words);
    buf_free(where);
    buf_free(label);
}

/* "smtp_x" <-> "smtpd_x", or NULL when NAME has neither prefix. */
static char *swap_smtp_prefix(const char *name)
{
    struct buf *out = buf_new(64);

    if (strncmp(name, "smtpd_", 6) == 0)
        buf_setf(out, "smtp_%s", name + 6);
    else if (strncmp(name, "smtp_", 5) == 0)
        buf_setf(out, "smtpd_%s", name + 5);
    else {
        buf_free(out);
        return NULL;
    }
    return buf_steal(out);
}

static const char *prefix_role(const char *name)
{
    return strncmp(name, "smtpd_", 6) == 0 ? "an SMTP server"
                                           : "an SMTP client";
}

/* smtpd_sasl_password_maps and friends: a d too many or too few. */
static void check_prefix_mixups(const struct mastercf *mcf)
{
    const char **names = config_names();
    size_t i;
    size_t j;

    for (i = 0; names[i]; i++) {
        const char *file;
        int line;
        char *other;

        if (param_find(names[i]) != NULL
            || config_origin(names[i], &file, &line) < 0
            || (other = swap_smtp_prefix(names[i])) == NULL)
            continue;
        if (param_find(other) != NULL)
            postern_warn("%s, line %d: %s is not a Postern parameter; did you "
                         "mean %s? (smtp_ parameters configure the SMTP "
                         "client, smtpd_ parameters the SMTP server)",
                         file, line, names[i], other);
        mem_free(other);
    }
    mem_free(names);

    for (i = 0; mcf && i < mcf->count; i++) {
        const struct mastercf_entry *e = mcf->entries[i];
        const char *prog = base_name(e->field[MASTERCF_COMMAND]);
        int server = strcmp(prog, "smtpd") == 0;
        int client = strcmp(prog, "smtp") == 0;

        for (j = 0; j < e->argc; j++) {
            const char *name = e->args[j].text;
            char *other;

            if (e->args[j].kind != MASTERCF_ARG_PARAM
                || (other = swap_smtp_prefix(name)) == NULL)
                continue;
            if (param_find(name) == NULL && param_find(other) != NULL)
                postern_warn("%s, line %d: %s is not a Postern parameter; did "
                             "you mean %s? (smtp_ parameters configure the "
                             "SMTP client, smtpd_ parameters the SMTP server)",
                             mcf->path, e->first_line, name, other);
            else if (param_find(name) != NULL && param_find(other) != NULL
                     && ((server && strncmp(name, "smtp_", 5) == 0)
                         || (client && strncmp(name, "smtpd_", 6) == 0)))
                postern_warn("%s, line %d: service %s/%s runs %s, but %s is "
                             "%s parameter; did you mean %s?",
                             mcf->path, e->first_line,
                             e->field[MASTERCF_SERVICE],
                             e->field[MASTERCF_TYPE], prog, name,
                             prefix_role(name), other);
            mem_free(other);
        }
    }
}

/*
 * Postfix parameters that Postern knows (so postconf keeps them) but does
 * not act on yet: a migrated main.cf or master.cf that sets one would
 * silently lose that feature.
 */
static void check_unsupported(const struct mastercf *mcf)
{
    static const struct {
        const char *name;
        const char *feature;
    } table[] = {
        {"smtpd_milters", "milters"},
        {"non_smtpd_milters", "milters"},
        {"smtpd_proxy_filter", "before-queue content filters"},
        {"content_filter", "after-queue content filters"},
        {"smtp_header_checks", "header and body checks on output"},
        {"smtp_mime_header_checks", "header and body checks on output"},
        {"smtp_nested_header_checks", "header and body checks on output"},
        {"smtp_body_checks", "header and body checks on output"},
        {"mailbox_transport", "mailbox_transport in local(8)"},
        {"fallback_transport", "fallback_transport in local(8)"},
        {NULL, NULL},
    };
    struct buf *value = buf_new(64);
    struct buf *where = buf_new(128);
    struct svc main_only = {mcf, NULL};
    size_t i;
    int k;

    for (k = 0; table[k].name; k++) {
        const char *name = table[k].name;

        if (config_lookup(name) != NULL
            && *svc_value(&main_only, name, value) != 0)
            warn_once("%s: %s is set, but Postern does not support %s yet: "
                      "the setting is ignored",
                      svc_where(&main_only, name, where), name,
                      table[k].feature);
        for (i = 0; mcf && i < mcf->count; i++) {
            struct svc s = {mcf, mcf->entries[i]};
            const char *raw = mastercf_param(s.e, name);

            if (raw != NULL && *svc_value(&s, name, value) != 0)
                warn_once("%s: %s is set for service %s/%s, but Postern does "
                          "not support %s yet: the setting is ignored",
                          svc_where(&s, name, where), name,
                          s.e->field[MASTERCF_SERVICE],
                          s.e->field[MASTERCF_TYPE], table[k].feature);
        }
    }
    buf_free(value);
    buf_free(where);
}

static void check_mistakes(const struct mastercf *mcf)
{
    struct svc *servers;
    struct svc *clients;
    size_t nservers = services_running(mcf, "smtpd", &servers);
    size_t nclients = services_running(mcf, "smtp", &clients);
    int uses_auth = 0;
    int any_auth = 0;
    size_t i;

    check_prefix_mixups(mcf);
    check_unsupported(mcf);
    for (i = 0; i < nservers; i++)
        if (svc_bool(&servers[i], "smtpd_sasl_auth_enable"))
            any_auth = 1;
    for (i = 0; i < nservers; i++) {
        check_sasl_permit(&servers[i], any_auth);
        check_sasl_needs(&servers[i], 0, &uses_auth);
        check_relay_control(&servers[i]);
    }
    for (i = 0; i < nclients; i++) {
        check_sasl_needs(&clients[i], 1, &uses_auth);
        check_client_plaintext(&clients[i]);
    }
    check_relayhost_credentials();

    /* Both sides of AUTH go through the auth service. */
    if (uses_auth && mcf) {
        struct svc *auth;
        size_t n = services_running(mcf, "auth", &auth);

        if (n == 1 && auth[0].e == NULL)
            postern_warn("SMTP AUTH is switched on, but %s has no service "
                         "running auth: every AUTH will fail with a temporary "
                         "error",
                         mcf->path);
        mem_free(auth);
    }
    mem_free(servers);
    mem_free(clients);
}

/* ---- the whole check ---- */

int postern_check(const char *config_dir, int config_ok, int flags)
{
    struct mastercf *mcf;
    int errors_before = postern_errors;

    mcf = check_master_cf(config_dir);
    if (config_ok) {
        struct settings settings = {0};

        check_accounts();
        check_folders(flags);
        collect_settings(mcf, &settings);
        check_password_maps(&settings);
        check_stale_tables(&settings);
        check_mistakes(mcf);
        settings_free(&settings);
    }
    if (mcf)
        mastercf_free(mcf);
    if (check_seen) {
        htable_free(check_seen, NULL);
        check_seen = NULL;
    }
    return postern_errors - errors_before;
}
