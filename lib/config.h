/*
 * config.h - the main.cf store and $name expansion.
 *
 * Holds name = raw value pairs read from main.cf (with file and line, for
 * error messages) and from -o overrides (which win). Values stay raw until
 * asked for: config_expand() resolves $name, ${name}, $(name),
 * ${name?value}, ${name:value}, ${name?{value}}, ${name:{value}} and
 * ${name?{value1}:{value2}}, looking names up in the store and then in the
 * parameter table's defaults, and detects recursion.
 *
 * Callers: every program, through the daemon skeleton or its own main.
 * Errors: config_load() is fatal on a syntax error ("FILE, line N:
 * message"); config_read() and config_expand() return -1 with a message.
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

struct buf;

/*
 * The configuration directory: OPT_C (a -c argument) when not NULL, else
 * $MAIL_CONFIG when set and not empty, else the compiled-in default.
 */
const char *config_choose_dir(const char *opt_c);
/*
 * sendmail's -C ARG names main.cf or the folder holding it: the folder
 * (mem_alloc'ed).
 */
char *config_dir_of(const char *arg);

/* Parse PATH into the store. Returns 0, or -1 with ERR = "PATH, line N: ...".
 */
int config_read(const char *path, struct buf *err);
/*
 * Read DIR/main.cf into the store and set config_directory = DIR.
 * Fatal on syntax errors; a missing main.cf is fatal too.
 */
void config_load(const char *dir);
/* The path config_load() read, or NULL. */
const char *config_file(void);
/* Apply "-o name=value". Returns 0, or -1 when there is no '='. */
int config_override(const char *name_eq_value);

/* Set NAME in the store. FILE NULL means an override or a program's own. */
void config_set(const char *name, const char *value, const char *file,
                int line);
/* Remove NAME from the store (it falls back to its default). */
void config_unset(const char *name);
/* Forget everything (tests, reload). */
void config_clear(void);

/* The raw value set in the store, or NULL when NAME is not set. */
const char *config_lookup(const char *name);
/* The raw value: from the store, else the parameter default, else NULL. */
const char *config_raw(const char *name);
/* Where NAME was set: 0 and FILE/LINE when it came from a file, else -1. */
int config_origin(const char *name, const char **file, int *line);
/* Names set in the store, sorted, NULL-terminated; mem_free the array. */
const char **config_names(void);

/*
 * Expand RAW into OUT (appending). Unknown names expand to nothing.
 * Returns 0, or -1 with ERR describing the problem (unbalanced braces,
 * "recursion" for a name that refers to itself).
 */
int config_expand(struct buf *out, const char *raw, struct buf *err);
/*
 * The expanded value of NAME (store, else default), or NULL when neither
 * exists. The string lives until the store changes. Fatal on an expansion
 * error, naming the parameter.
 */
const char *config_get(const char *name);

#endif
