/*
 * dict_table_cases.h - the table-driven harness shared by the pattern map
 * tests (test_dict_regexp.c, test_dict_pcre.c, test_dict_cidr.c): write a
 * table source, open it as TYPE:file, check each lookup's status and value
 * and the warnings logged. Define DICT_TEST_NAME before including it; the
 * includer provides cmocka and the system headers.
 */
#ifndef POSTERN_DICT_TABLE_CASES_H
#define POSTERN_DICT_TABLE_CASES_H

#include "buf.h"
#include "dict.h"
#include "lookup.h"
#include "msg.h"

#define MAX_LOOKUPS  8
#define MAX_WARNINGS 4

struct lookup_case {
    const char *key;
    enum lookup_status st;
    const char *value;
};

struct table_case {
    const char *text;                   /* the table source */
    const char *warnings[MAX_WARNINGS]; /* each must be logged; none: no log */
    struct lookup_case lookups[MAX_LOOKUPS];
};

static int failures;
static char log_path[] = "/tmp/" DICT_TEST_NAME ".log.XXXXXX";
static char table_path[] = "/tmp/" DICT_TEST_NAME ".tab.XXXXXX";

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    struct buf *b = buf_new(256);
    int ch;

    if (fp != NULL) {
        while ((ch = getc(fp)) != EOF)
            buf_putc(b, ch);
        fclose(fp);
    }
    return buf_steal(b);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int setup(void **state)
{
    int fd;

    (void) state;
    fd = mkstemp(log_path);
    assert_true(fd >= 0);
    close(fd);
    fd = mkstemp(table_path);
    assert_true(fd >= 0);
    close(fd);
    msg_init(DICT_TEST_NAME, 0);
    assert_int_equal(msg_set_logfile(log_path), 0);
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    msg_set_logfile("");
    unlink(log_path);
    unlink(table_path);
    return 0;
}

static void check_log(const char *what, const char *const *warnings)
{
    char *log = read_file(log_path);
    int i;

    if (warnings[0] == NULL && *log != 0) {
        print_error("%s: got log \"%s\", want no warning\n", what, log);
        failures++;
    }
    for (i = 0; i < MAX_WARNINGS && warnings[i] != NULL; i++) {
        if (strstr(log, warnings[i]) == NULL) {
            print_error("%s: got log \"%s\", want a line with \"%s\"\n", what,
                        log, warnings[i]);
            failures++;
        }
    }
    free(log);
}

static void check_lookups(struct dict *d, const char *what,
                          const struct lookup_case *lookups)
{
    struct buf *value = buf_new(64);
    int i;

    for (i = 0; i < MAX_LOOKUPS && lookups[i].key != NULL; i++) {
        const struct lookup_case *lc = &lookups[i];
        enum lookup_status st = dict_lookup(d, lc->key, value);

        if (st != lc->st) {
            print_error("%s: lookup \"%s\": got %s, want %s\n", what, lc->key,
                        lookup_status_name(st), lookup_status_name(lc->st));
            failures++;
        } else if (st == LOOKUP_FOUND && strcmp(buf_str(value), lc->value)) {
            print_error("%s: lookup \"%s\": got \"%s\", want \"%s\"\n", what,
                        lc->key, buf_str(value), lc->value);
            failures++;
        }
    }
    buf_free(value);
}

/* The table text on one line, for failure messages. */
static void label_of(struct buf *out, const char *text)
{
    buf_reset(out);
    for (; *text; text++) {
        if (*text == '\n')
            buf_puts(out, "\\n");
        else if (*text == '\t')
            buf_puts(out, "\\t");
        else
            buf_putc(out, *text);
    }
}

static void run_cases(const char *type, const struct table_case *cases,
                      size_t count)
{
    struct buf *err = buf_new(64);
    struct buf *name = buf_new(64);
    struct buf *label = buf_new(64);
    size_t i;

    for (i = 0; i < count; i++) {
        const struct table_case *tc = &cases[i];
        struct dict *d;

        label_of(label, tc->text);

        write_file(table_path, tc->text);
        assert_int_equal(truncate(log_path, 0), 0);
        buf_setf(name, "%s:%s", type, table_path);
        d = dict_open(buf_str(name), DICT_RDONLY, DICT_FOLD_FIX, err);
        if (d == NULL) {
            print_error("table \"%s\": open failed: %s\n", buf_str(label),
                        buf_str(err));
            failures++;
            continue;
        }
        check_lookups(d, buf_str(label), tc->lookups);
        dict_close(d);
        check_log(buf_str(label), tc->warnings);
    }
    buf_free(err);
    buf_free(name);
    buf_free(label);
}

#endif
