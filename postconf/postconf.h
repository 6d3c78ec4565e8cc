/*
 * postconf.h - the parts of postconf, shared between its files.
 *
 * postconf.c parses the command line and handles main.cf; postconf_master.c
 * handles master.cf (-M, -F, -P and their -e, -X, -# forms). Each pc_*
 * entry point returns the process exit status.
 */
#ifndef POSTERN_POSTCONF_H
#define POSTERN_POSTCONF_H

#define PC_EDIT     0x001 /* -e */
#define PC_REMOVE   0x002 /* -X */
#define PC_COMMENT  0x004 /* -# */
#define PC_NONAME   0x008 /* -h: values only */
#define PC_EXPAND   0x010 /* -x: expand $name in values */
#define PC_FOLD     0x020 /* -f: fold long lines */
#define PC_DEFAULTS 0x040 /* -d */
#define PC_NONDEF   0x080 /* -n */

/*
 * -M [service[/type]...]: show (or, with PC_EDIT/PC_REMOVE/PC_COMMENT, edit)
 * master.cf entries in CONFIG_DIR. ARGS is NULL-terminated.
 */
int pc_master_entries(const char *config_dir, int flags, char **args);
/* -F [service[/type[/field]]...] and -Fe service/type/field=value. */
int pc_master_fields(const char *config_dir, int flags, char **args);
/* -P [service[/type[/param]]...], -Pe service/type/name=value, -PX. */
int pc_master_params(const char *config_dir, int flags, char **args);

struct argv;
struct buf;
struct mastercf;

/* Warn about -o settings in master.cf that nothing uses or defines. */
void pc_master_check_params(const struct mastercf *mcf);

/* postconf_util.c: printing and scanning shared by both sides. */
/* Collapse runs of white space to one space, as postconf prints values. */
void pc_normalize(struct buf *out, const char *value);
/* Print TEXT, folded at 80 columns (4-space indent) when FOLD. */
void pc_print_folded(const char *text, int fold);
/* "name = value" (or the value alone with PC_NONAME), normalized. */
void pc_print_param(const char *name, const char *value, int flags);
/* Every $name, ${name...} and $(name...) referenced in TEXT, in order. */
struct argv *pc_refs(const char *text);

#endif
