/*
 * test_postconf.c - golden-file tests of the postconf binary.
 *
 * Each folder tests/unit/postconf/CASE holds:
 *   main.cf       copied into a fresh configuration folder
 *   master.cf     (optional) copied too
 *   args          postconf's arguments, one per line (-c DIR comes first)
 *   out           the expected standard output
 *   err           (optional) the expected standard error
 *   status        (optional) the expected exit status, default 0
 *   main.cf.ref   (optional) main.cf as it must be afterwards
 * In out, err and main.cf.ref the text $DIR stands for the folder's path.
 * The binary is $POSTERN_BUILD/bin/postconf.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "mem.h"

#define CASES "tests/unit/postconf"

static struct buf *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    struct buf *b;
    char chunk[4096];
    size_t n;

    if (fp == NULL)
        return NULL;
    b = buf_new(1024);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_append(b, chunk, n);
    fclose(fp);
    return b;
}

static void copy_file(const char *from, const char *to)
{
    struct buf *b = slurp(from);
    FILE *fp;

    if (b == NULL)
        return;
    fp = fopen(to, "w");
    assert_non_null(fp);
    fwrite(buf_str(b), 1, buf_len(b), fp);
    fclose(fp);
    buf_free(b);
}

/* Replace every occurrence of DIR in TEXT by "$DIR". */
static void mask_dir(struct buf *text, const char *dir)
{
    struct buf *out = buf_new(buf_len(text) + 1);
    const char *cp = buf_str(text);
    size_t dlen = strlen(dir);
    const char *hit;

    while ((hit = strstr(cp, dir)) != NULL) {
        buf_append(out, cp, (size_t) (hit - cp));
        buf_puts(out, "$DIR");
        cp = hit + dlen;
    }
    buf_puts(out, cp);
    buf_set(text, buf_str(out));
    buf_free(out);
}

static void expect_file(const char *case_dir, const char *ref_name,
                        const char *got_path, const char *dir)
{
    char ref_path[512];
    struct buf *want;
    struct buf *got;

    snprintf(ref_path, sizeof(ref_path), "%s/%s", case_dir, ref_name);
    want = slurp(ref_path);
    if (want == NULL)
        return;
    got = slurp(got_path);
    assert_non_null(got);
    mask_dir(got, dir);
    if (strcmp(buf_str(got), buf_str(want)) != 0)
        fail_msg("%s: %s differs\n--- got:\n%s--- want:\n%s", case_dir,
                 ref_name, buf_str(got), buf_str(want));
    buf_free(want);
    buf_free(got);
}

static void run_case(void **state)
{
    const char *case_dir = *state;
    const char *build = getenv("POSTERN_BUILD");
    char dir[] = "/tmp/postern-pc.XXXXXX";
    char path[512], prog[512], out_path[600], err_path[600];
    struct buf *args;
    char *argv[64];
    int argc = 0;
    int status;
    int want_status = 0;
    pid_t pid;

    assert_non_null(build);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/main.cf", case_dir);
    snprintf(prog, sizeof(prog), "%s/main.cf", dir);
    copy_file(path, prog);
    snprintf(path, sizeof(path), "%s/master.cf", case_dir);
    snprintf(prog, sizeof(prog), "%s/master.cf", dir);
    copy_file(path, prog);

    snprintf(prog, sizeof(prog), "%s/bin/postconf", build);
    argv[argc++] = "postconf";
    argv[argc++] = "-c";
    argv[argc++] = dir;
    snprintf(path, sizeof(path), "%s/args", case_dir);
    args = slurp(path);
    assert_non_null(args);
    {
        char *cp = buf_str(args);
        char *line;

        while ((line = strsep(&cp, "\n")) != NULL && argc < 63)
            if (*line)
                argv[argc++] = line;
    }
    argv[argc] = NULL;
    snprintf(path, sizeof(path), "%s/status", case_dir);
    {
        struct buf *st = slurp(path);

        if (st) {
            want_status = atoi(buf_str(st));
            buf_free(st);
        }
    }
    snprintf(out_path, sizeof(out_path), "%s/stdout", dir);
    snprintf(err_path, sizeof(err_path), "%s/stderr", dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (freopen(out_path, "w", stdout) == NULL
            || freopen(err_path, "w", stderr) == NULL)
            _exit(127);
        unsetenv("MAIL_CONFIG");
        /* postconf exits through fatal paths with memory in use by design. */
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        execv(prog, argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != want_status) {
        struct buf *err = slurp(err_path);

        fail_msg("%s: exit status %d, want %d; stderr:\n%s", case_dir,
                 WEXITSTATUS(status), want_status, err ? buf_str(err) : "");
    }
    expect_file(case_dir, "out", out_path, dir);
    expect_file(case_dir, "err", err_path, dir);
    snprintf(prog, sizeof(prog), "%s/main.cf", dir);
    expect_file(case_dir, "main.cf.ref", prog, dir);
    snprintf(prog, sizeof(prog), "%s/master.cf", dir);
    expect_file(case_dir, "master.cf.ref", prog, dir);
    {
        char cmd[600];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
    buf_free(args);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

int main(void)
{
    DIR *dp = opendir(CASES);
    struct dirent *de;
    struct CMUnitTest *tests;
    char **names = NULL;
    size_t n = 0, i;
    int ret;

    if (dp == NULL) {
        fprintf(stderr, "open %s: %s (run from the source root)\n", CASES,
                strerror(errno));
        return 1;
    }
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        names = mem_realloc(names, (n + 1) * sizeof(*names));
        names[n] = mem_alloc(strlen(CASES) + strlen(de->d_name) + 2);
        sprintf(names[n], "%s/%s", CASES, de->d_name);
        n++;
    }
    closedir(dp);
    qsort(names, n, sizeof(*names), name_cmp);
    tests = mem_calloc(n, sizeof(*tests));
    for (i = 0; i < n; i++) {
        tests[i].name = names[i] + strlen(CASES) + 1;
        tests[i].test_func = run_case;
        tests[i].initial_state = names[i];
    }
    ret = _cmocka_run_group_tests("postconf golden", tests, n, NULL, NULL);
    for (i = 0; i < n; i++)
        mem_free(names[i]);
    mem_free(names);
    mem_free(tests);
    return ret;
}
