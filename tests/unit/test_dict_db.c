/*
 * test_dict_db.c - the Berkeley DB table types: hash:, btree:, dbm: and
 * sasldb:, plus the generic dict_open()/dict_changed() machinery they use.
 *
 * Every test works in a fresh scratch folder under $TMPDIR. Tables are
 * built the way postmap builds them (DICT_CREATE, then dict_close), read
 * back, updated in place, damaged on purpose and rebuilt while open.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The ndbm interface too, to read dbm: tables the way ndbm users do. */
#define DB_DBM_HSEARCH 1
#include <db.h>
#undef delete
#undef fetch
#undef store
#undef firstkey
#undef nextkey

#include "buf.h"
#include "dict.h"
#include "lookup.h"
#include "mem.h"
#include "msg.h"
#include "params.h"

/* The types that build files, with the file each leaves behind. */
static const char *const file_types[] = {"hash", "btree", "dbm"};
#define NTYPES (sizeof(file_types) / sizeof(file_types[0]))

static char scratch[256];

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static int setup(void **state)
{
    const char *tmp = getenv("TMPDIR");

    (void) state;
    snprintf(scratch, sizeof(scratch), "%s/test_dict_db.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(scratch) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    return nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* PATH under the scratch folder, in a static buffer per call slot. */
static const char *in_scratch(const char *name)
{
    static char paths[4][512];
    static int next;
    char *p = paths[next++ % 4];

    snprintf(p, 512, "%s/%s", scratch, name);
    return p;
}

static struct dict *open_ok(const char *type, const char *name, int open_flags,
                            int flags)
{
    struct buf *err = buf_new(64);
    struct dict *d = dict_open3(type, name, open_flags, flags, err);

    if (d == NULL)
        fail_msg("open %s:%s: %s", type, name, buf_str(err));
    buf_free(err);
    return d;
}

/* Build TYPE:NAME from KEYS/VALUES (NULL-terminated) with FLAGS. */
static void build(const char *type, const char *name, const char *const *kv,
                  int flags)
{
    struct dict *d = open_ok(type, name, DICT_CREATE, flags);
    int i;

    for (i = 0; kv[i] != NULL; i += 2)
        assert_int_equal(dict_update(d, kv[i], kv[i + 1]), LOOKUP_FOUND);
    assert_int_equal(dict_close(d), 0);
}

static void expect(struct dict *d, const char *key, enum lookup_status want,
                   const char *want_value)
{
    struct buf *value = buf_new(64);
    enum lookup_status got = dict_lookup(d, key, value);

    if (got != want)
        fail_msg("%s:%s key \"%s\": got %s, want %s", d->type, d->name, key,
                 lookup_status_name(got), lookup_status_name(want));
    if (want == LOOKUP_FOUND)
        assert_string_equal(buf_str(value), want_value);
    buf_free(value);
}

static const char *const sample[] = {
    "foo",       "bar baz", "user@example.com", "relay:[mx.example.net]:25",
    "\"a b\"@x", "quoted",  "empty-ish",        " ",
    NULL,
};

static void test_build_and_read(void **state)
{
    size_t t;

    (void) state;
    for (t = 0; t < NTYPES; t++) {
        const char *name = in_scratch("basic");
        struct dict *d;

        build(file_types[t], name, sample, DICT_FOLD_FIX | DICT_DUP_WARN);
        d = open_ok(file_types[t], name, DICT_RDONLY, DICT_FOLD_FIX);
        assert_true(d->flags & DICT_FIXED);
        expect(d, "foo", LOOKUP_FOUND, "bar baz");
        expect(d, "FOO", LOOKUP_FOUND, "bar baz");
        expect(d, "User@Example.COM", LOOKUP_FOUND,
               "relay:[mx.example.net]:25");
        expect(d, "\"a b\"@x", LOOKUP_FOUND, "quoted");
        expect(d, "empty-ish", LOOKUP_FOUND, " ");
        expect(d, "fo", LOOKUP_NOTFOUND, NULL);
        expect(d, "", LOOKUP_NOTFOUND, NULL);
        /* The file stores the NUL: the reader has learned that. */
        assert_true(d->flags & DICT_TRY1NULL);
        assert_false(d->flags & DICT_TRY0NULL);
        assert_int_equal(dict_close(d), 0);

        /* Without DICT_FOLD_FIX the key is taken as given. */
        d = open_ok(file_types[t], name, DICT_RDONLY, 0);
        expect(d, "FOO", LOOKUP_NOTFOUND, NULL);
        expect(d, "foo", LOOKUP_FOUND, "bar baz");
        dict_close(d);
    }
}

static void test_null_byte_modes(void **state)
{
    static const struct {
        int build_flags;
        int read_flags;
        enum lookup_status want;
    } cases[] = {
        {DICT_TRY1NULL, 0, LOOKUP_FOUND},
        {DICT_TRY0NULL, 0, LOOKUP_FOUND},
        {DICT_TRY1NULL, DICT_TRY1NULL, LOOKUP_FOUND},
        {DICT_TRY0NULL, DICT_TRY0NULL, LOOKUP_FOUND},
        {DICT_TRY1NULL, DICT_TRY0NULL, LOOKUP_NOTFOUND},
        {DICT_TRY0NULL, DICT_TRY1NULL, LOOKUP_NOTFOUND},
        {0, DICT_TRY1NULL, LOOKUP_FOUND}, /* undecided writers store it */
    };
    static const char *const kv[] = {"k", "v", NULL};
    size_t i;
    size_t t;

    (void) state;
    for (t = 0; t < NTYPES; t++) {
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const char *name = in_scratch("nul");
            struct dict *d;

            build(file_types[t], name, kv, cases[i].build_flags);
            d = open_ok(file_types[t], name, DICT_RDONLY, cases[i].read_flags);
            expect(d, "k", cases[i].want, "v");
            dict_close(d);
        }
    }
}

/* Raw keys as stored, checked with Berkeley DB itself. */
static void test_stored_bytes(void **state)
{
    static const char *const kv[] = {"Key", "Value", NULL};
    const char *name = in_scratch("raw");
    const char *path = in_scratch("raw.db");
    DB *db;
    DBT k;
    DBT v;

    (void) state;
    build("hash", name, kv, DICT_FOLD_FIX);
    assert_int_equal(db_create(&db, NULL, 0), 0);
    assert_int_equal(db->open(db, NULL, path, NULL, DB_HASH, DB_RDONLY, 0), 0);
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = "key"; /* folded, with its NUL */
    k.size = 4;
    assert_int_equal(db->get(db, NULL, &k, &v, 0), 0);
    assert_int_equal(v.size, 6);
    assert_memory_equal(v.data, "Value", 6);
    db->close(db, 0);
}

static void test_duplicates(void **state)
{
    static const struct {
        int flags;
        enum lookup_status second;
        const char *want;
    } cases[] = {
        {DICT_DUP_WARN, LOOKUP_NOTFOUND, "first"},
        {DICT_DUP_IGNORE, LOOKUP_NOTFOUND, "first"},
        {DICT_DUP_REPLACE, LOOKUP_FOUND, "second"},
        {0, LOOKUP_FOUND, "second"},
        {DICT_DUP_WARN | DICT_DUP_REPLACE, LOOKUP_FOUND, "second"},
    };
    size_t i;
    size_t t;

    (void) state;
    for (t = 0; t < NTYPES; t++) {
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const char *name = in_scratch("dup");
            struct dict *d = open_ok(file_types[t], name, DICT_CREATE,
                                     cases[i].flags | DICT_FOLD_FIX);

            assert_int_equal(dict_update(d, "dup", "first"), LOOKUP_FOUND);
            assert_int_equal(dict_update(d, "DUP", "second"), cases[i].second);
            assert_int_equal(dict_close(d), 0);
            d = open_ok(file_types[t], name, DICT_RDONLY, 0);
            expect(d, "dup", LOOKUP_FOUND, cases[i].want);
            dict_close(d);

            /* The same rules hold for updates in place. */
            d = open_ok(file_types[t], name, DICT_RDWR,
                        cases[i].flags | DICT_LOCK);
            assert_int_equal(dict_update(d, "dup", "third"), cases[i].second);
            expect(d, "dup", LOOKUP_FOUND,
                   cases[i].second == LOOKUP_FOUND ? "third" : "first");
            dict_close(d);
        }
    }
}

static void test_sequence(void **state)
{
    size_t t;

    (void) state;
    for (t = 0; t < NTYPES; t++) {
        const char *name = in_scratch("seq");
        struct buf *key = buf_new(16);
        struct buf *value = buf_new(16);
        struct dict *d;
        int seen[4] = {0, 0, 0, 0};
        int how;
        int n = 0;
        int i;

        build(file_types[t], name, sample, 0);
        d = open_ok(file_types[t], name, DICT_RDONLY, DICT_LOCK);
        for (how = DICT_SEQ_FIRST;
             dict_sequence(d, how, key, value) == LOOKUP_FOUND;
             how = DICT_SEQ_NEXT) {
            for (i = 0; sample[2 * i] != NULL; i++)
                if (strcmp(buf_str(key), sample[2 * i]) == 0) {
                    assert_string_equal(buf_str(value), sample[2 * i + 1]);
                    seen[i]++;
                }
            n++;
        }
        assert_int_equal(n, 4);
        for (i = 0; i < 4; i++)
            assert_int_equal(seen[i], 1);
        /* FIRST starts over. */
        assert_int_equal(dict_sequence(d, DICT_SEQ_FIRST, key, value),
                         LOOKUP_FOUND);
        dict_close(d);
        buf_free(key);
        buf_free(value);
    }
}

static void test_update_delete_in_place(void **state)
{
    static const char *const kv[] = {"a", "1", "b", "2", NULL};
    size_t t;

    (void) state;
    for (t = 0; t < NTYPES; t++) {
        const char *name = in_scratch("rdwr");
        struct dict *d;

        build(file_types[t], name, kv, 0);
        d = open_ok(file_types[t], name, DICT_RDWR, DICT_LOCK | DICT_DUP_WARN);
        assert_int_equal(dict_update(d, "c", "3"), LOOKUP_FOUND);
        assert_int_equal(dict_delete(d, "a"), LOOKUP_FOUND);
        assert_int_equal(dict_delete(d, "a"), LOOKUP_NOTFOUND);
        assert_int_equal(dict_delete(d, "zz"), LOOKUP_NOTFOUND);
        dict_close(d);
        d = open_ok(file_types[t], name, DICT_RDONLY, 0);
        expect(d, "a", LOOKUP_NOTFOUND, NULL);
        expect(d, "b", LOOKUP_FOUND, "2");
        expect(d, "c", LOOKUP_FOUND, "3");
        dict_close(d);
    }
}

/* Can another process take an exclusive lock on PATH right now? */
static int other_can_write_lock(const char *path)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        struct flock fl;
        int fd = open(path, O_RDWR);

        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        _exit(fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* dict_hold keeps the shared lock over lookups and refuses writes. */
static void test_hold(void **state)
{
    static const char *const kv[] = {"a", "1", "b", "2", NULL};
    size_t t;

    (void) state;
    for (t = 0; t < NTYPES; t++) {
        const char *name = in_scratch("hold");
        struct buf *path;
        struct dict *d;

        if (strcmp(file_types[t], "dbm") == 0)
            continue; /* the same code; its file name differs */
        path = buf_new(0);
        buf_setf(path, "%s.db", name);
        build(file_types[t], name, kv, 0);
        d = open_ok(file_types[t], name, DICT_RDWR, DICT_LOCK);
        assert_true(other_can_write_lock(buf_str(path)));
        assert_int_equal(dict_hold(d, 1), 0);
        assert_int_equal(dict_hold(d, 1), 0);
        assert_false(other_can_write_lock(buf_str(path)));
        expect(d, "a", LOOKUP_FOUND, "1");
        expect(d, "zz", LOOKUP_NOTFOUND, NULL);
        /* The lookups left the held lock in place. */
        assert_false(other_can_write_lock(buf_str(path)));
        assert_int_equal(dict_update(d, "c", "3"), LOOKUP_ERR_TEMP);
        assert_int_equal(dict_hold(d, 0), 0);
        assert_true(other_can_write_lock(buf_str(path)));
        assert_int_equal(dict_update(d, "c", "3"), LOOKUP_FOUND);
        expect(d, "c", LOOKUP_FOUND, "3");
        dict_close(d);
        buf_free(path);
    }
}

/* A created table may be read and edited before it is committed. */
static void test_create_then_use(void **state)
{
    size_t t;

    (void) state;
    for (t = 0; t < NTYPES; t++) {
        const char *name = in_scratch("early");
        struct dict *d =
            open_ok(file_types[t], name, DICT_CREATE, DICT_DUP_WARN);

        assert_int_equal(dict_update(d, "x", "1"), LOOKUP_FOUND);
        expect(d, "x", LOOKUP_FOUND, "1");
        assert_int_equal(dict_update(d, "y", "2"), LOOKUP_FOUND);
        assert_int_equal(dict_update(d, "x", "3"), LOOKUP_NOTFOUND);
        assert_int_equal(dict_delete(d, "y"), LOOKUP_FOUND);
        assert_int_equal(dict_close(d), 0);
        d = open_ok(file_types[t], name, DICT_RDONLY, 0);
        expect(d, "x", LOOKUP_FOUND, "1");
        expect(d, "y", LOOKUP_NOTFOUND, NULL);
        dict_close(d);
    }
}

static int count_files(const char *prefix)
{
    char cmd[1024];
    FILE *fp;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "ls -1 '%s' | grep -c '^%s' || true", scratch,
             prefix);
    if ((fp = popen(cmd, "r")) != NULL) {
        if (fscanf(fp, "%d", &n) != 1)
            n = -1;
        pclose(fp);
    }
    return n;
}

/* Readers see the old table until the new one is complete. */
static void test_atomic_rebuild(void **state)
{
    static const char *const old_kv[] = {"k", "old", NULL};
    size_t t;

    (void) state;
    for (t = 0; t < NTYPES; t++) {
        char prefix[64];
        const char *name;
        struct dict *reader;
        struct dict *builder;
        struct dict *again;
        int i;

        snprintf(prefix, sizeof(prefix), "atomic-%s", file_types[t]);
        name = in_scratch(prefix);
        build(file_types[t], name, old_kv, 0);
        reader = open_ok(file_types[t], name, DICT_RDONLY, DICT_LOCK);
        assert_false(dict_changed(reader));

        builder = open_ok(file_types[t], name, DICT_CREATE, 0);
        for (i = 0; i < 2000; i++) {
            char k[32];

            snprintf(k, sizeof(k), "key%d", i);
            assert_int_equal(dict_update(builder, k, "new"), LOOKUP_FOUND);
        }
        assert_int_equal(dict_update(builder, "k", "new"), LOOKUP_FOUND);
        /* Mid-build: a new reader still gets the old table. */
        again = open_ok(file_types[t], name, DICT_RDONLY, 0);
        expect(again, "k", LOOKUP_FOUND, "old");
        expect(again, "key5", LOOKUP_NOTFOUND, NULL);
        dict_close(again);
        assert_false(dict_changed(reader));

        assert_int_equal(dict_close(builder), 0);
        /* The old reader keeps its table, and learns it was replaced. */
        expect(reader, "k", LOOKUP_FOUND, "old");
        assert_true(dict_changed(reader));
        dict_close(reader);
        again = open_ok(file_types[t], name, DICT_RDONLY, 0);
        expect(again, "k", LOOKUP_FOUND, "new");
        expect(again, "key1999", LOOKUP_FOUND, "new");
        dict_close(again);

        /* An aborted build leaves the old table and no temporary file. */
        builder = open_ok(file_types[t], name, DICT_CREATE, 0);
        assert_int_equal(dict_update(builder, "k", "aborted"), LOOKUP_FOUND);
        builder->aborted = 1;
        assert_int_equal(dict_close(builder), 0);
        again = open_ok(file_types[t], name, DICT_RDONLY, 0);
        expect(again, "k", LOOKUP_FOUND, "new");
        dict_close(again);
        /* Only NAME.db itself is left. */
        assert_int_equal(count_files(prefix), 1);
    }
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t) len);
    close(fd);
}

static struct buf *read_all(const char *path)
{
    struct buf *b = buf_new(4096);
    char chunk[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(b, chunk, (size_t) n);
    close(fd);
    return b;
}

/*
 * Open NAME and use it; return the first error seen (NOTFOUND and FOUND
 * do not count), LOOKUP_ERR_CONFIG for a failed open.
 */
static enum lookup_status try_table(const char *type, const char *name)
{
    struct buf *err = buf_new(64);
    struct buf *key = buf_new(64);
    struct buf *value = buf_new(64);
    enum lookup_status st = LOOKUP_FOUND;
    struct dict *d = dict_open3(type, name, DICT_RDONLY, 0, err);
    char k[32];
    int how;
    int i;

    if (d == NULL) {
        assert_true(buf_len(err) > 0);
        st = LOOKUP_ERR_CONFIG;
        goto out;
    }
    for (i = 0; i < 300 && st != LOOKUP_ERR_TEMP && st != LOOKUP_ERR_CONFIG;
         i += 7) {
        snprintf(k, sizeof(k), "key%d", i);
        st = dict_lookup(d, k, value);
    }
    for (how = DICT_SEQ_FIRST;
         st != LOOKUP_ERR_TEMP && st != LOOKUP_ERR_CONFIG
         && (st = dict_sequence(d, how, key, value)) == LOOKUP_FOUND;
         how = DICT_SEQ_NEXT)
        continue;
    if (st != LOOKUP_FOUND && st != LOOKUP_NOTFOUND)
        assert_true(buf_len(d->err) > 0);
    dict_close(d);
out:
    buf_free(err);
    buf_free(key);
    buf_free(value);
    return st;
}

/* A table built without page checksums, as Postfix builds them. */
static void build_plain(const char *path, DBTYPE type, int n)
{
    DB *db;
    DBT k;
    DBT v;
    char key[32];
    char val[64];
    int i;

    unlink(path);
    assert_int_equal(db_create(&db, NULL, 0), 0);
    assert_int_equal(db->open(db, NULL, path, NULL, type, DB_CREATE, 0644), 0);
    for (i = 0; i < n; i++) {
        memset(&k, 0, sizeof(k));
        memset(&v, 0, sizeof(v));
        snprintf(key, sizeof(key), "key%d", i);
        snprintf(val, sizeof(val), "value number %d for the test", i);
        k.data = key;
        k.size = (u_int32_t) strlen(key) + 1;
        v.data = val;
        v.size = (u_int32_t) strlen(val) + 1;
        assert_int_equal(db->put(db, NULL, &k, &v, 0), 0);
    }
    db->close(db, 0);
}

static void test_damaged_files(void **state)
{
    static const char *const types[] = {"hash", "btree"};
    struct buf *good;
    struct buf *bad;
    size_t t;
    size_t off;
    unsigned seed = 12345;
    int round;
    int i;

    (void) state;
    for (t = 0; t < 2; t++) {
        const char *name = in_scratch("damaged");
        const char *path = in_scratch("damaged.db");
        int built_by_us;

        for (built_by_us = 0; built_by_us < 2; built_by_us++) {
            if (built_by_us) {
                struct dict *d = open_ok(types[t], name, DICT_CREATE, 0);

                for (i = 0; i < 300; i++) {
                    char k[32];

                    snprintf(k, sizeof(k), "key%d", i);
                    dict_update(d, k, "value for the damaged-file test");
                }
                assert_int_equal(dict_close(d), 0);
            } else {
                build_plain(path, t == 0 ? DB_HASH : DB_BTREE, 300);
            }
            good = read_all(path);
            assert_int_equal(try_table(types[t], name), LOOKUP_NOTFOUND);

            /* Empty, garbage, truncated anywhere. */
            write_bytes(path, "", 0);
            assert_int_equal(try_table(types[t], name), LOOKUP_ERR_CONFIG);
            write_bytes(path, "garbage\n", 8);
            assert_int_equal(try_table(types[t], name), LOOKUP_ERR_CONFIG);
            for (off = 1; off < buf_len(good); off += buf_len(good) / 23 + 1) {
                write_bytes(path, buf_str(good), off);
                assert_int_not_equal(try_table(types[t], name), LOOKUP_FOUND);
            }
            /* At page boundaries too. */
            for (off = 512; off < buf_len(good); off *= 2) {
                write_bytes(path, buf_str(good), off);
                assert_int_equal(try_table(types[t], name), LOOKUP_ERR_CONFIG);
            }
            /* Random damage: an error or a clean answer, never a crash. */
            bad = buf_new(buf_len(good));
            for (round = 0; round < 60; round++) {
                buf_set(bad, "");
                buf_append(bad, buf_str(good), buf_len(good));
                for (i = 0; i < 1 + round % 17; i++) {
                    seed = seed * 1103515245 + 12345;
                    bad->data[(seed >> 8) % buf_len(bad)] = (char) (seed >> 3);
                }
                write_bytes(path, buf_str(bad), buf_len(bad));
                (void) try_table(types[t], name);
            }
            buf_free(bad);
            buf_free(good);
        }
    }
}

/* TEMPLATE with every "@D" replaced by the scratch folder. */
static void subst(struct buf *out, const char *template)
{
    const char *at;

    buf_reset(out);
    while ((at = strstr(template, "@D")) != NULL) {
        buf_append(out, template, (size_t) (at - template));
        buf_puts(out, scratch);
        template = at + 2;
    }
    buf_puts(out, template);
}

static void test_open_errors(void **state)
{
    static const struct {
        const char *type_name;
        int open_flags;
        const char *want;
    } cases[] = {
        {"hash:@D/missing", DICT_RDONLY,
         "open database @D/missing.db: No such file or directory"},
        {"btree:@D/missing", DICT_RDWR,
         "open database @D/missing.db: No such file or directory"},
        {"dbm:@D/missing", DICT_RDONLY,
         "open database @D/missing.db: No such file or directory"},
        {"hash:@D/nodir/x", DICT_CREATE,
         "open database @D/nodir/x.db: No such file or directory"},
        {"sasldb:@D/missing", DICT_RDONLY,
         "open database @D/missing: No such file or directory"},
        {"sasldb:@D/x", DICT_CREATE,
         "sasldb:@D/x map requires O_RDONLY access mode"},
        {"nosuchtype:@D/x", DICT_RDONLY,
         "unsupported dictionary type: nosuchtype"},
        {"hash:", DICT_RDONLY,
         "open dictionary: expecting \"type:name\" form instead of \"hash:\""},
        {"nocolon", DICT_RDONLY,
         "open dictionary: expecting \"type:name\" form instead of \"nocolon\""},
    };
    struct buf *err = buf_new(64);
    struct buf *arg = buf_new(64);
    struct buf *want = buf_new(64);
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        subst(arg, cases[i].type_name);
        subst(want, cases[i].want);
        assert_null(dict_open(buf_str(arg), cases[i].open_flags, 0, err));
        assert_string_equal(buf_str(err), buf_str(want));
    }
    buf_free(err);
    buf_free(arg);
    buf_free(want);
}

static void test_permissions(void **state)
{
    static const char *const kv[] = {"k", "v", NULL};
    const char *name = in_scratch("perm");
    const char *path = in_scratch("perm.db");
    struct passwd *nobody = getpwnam("nobody");
    struct stat sb;
    mode_t old = umask(027);

    (void) state;
    /* New file: 0644 less the umask. */
    write_bytes(name, "k v\n", 4);
    build("hash", name, kv, 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0640);
    /* Existing file: its mode stays. */
    chmod(path, 0600);
    build("hash", name, kv, 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    umask(old);
    /* Root: the table belongs to the source file's owner. */
    if (geteuid() == 0 && nobody != NULL) {
        assert_int_equal(chown(name, nobody->pw_uid, nobody->pw_gid), 0);
        build("btree", name, kv, 0);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_uid, nobody->pw_uid);
        assert_int_equal(sb.st_gid, nobody->pw_gid);
    }
}

static void test_changed(void **state)
{
    static const char *const kv[] = {"k", "v", NULL};
    const char *name = in_scratch("chg");
    struct dict *d;
    struct timespec ts[2];

    (void) state;
    build("hash", name, kv, 0);
    d = open_ok("hash", name, DICT_RDONLY, 0);
    assert_false(dict_changed(d));
    /* Touched in place (a new mtime) counts as a change. */
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec += 5;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, in_scratch("chg.db"), ts, 0), 0);
    assert_true(dict_changed(d));
    dict_close(d);
    d = open_ok("hash", name, DICT_RDONLY, 0);
    assert_false(dict_changed(d));
    /* Removed counts too. */
    unlink(in_scratch("chg.db"));
    assert_true(dict_changed(d));
    dict_close(d);
    /* Tables without a file never change. */
    d = open_ok("static", "x", DICT_RDONLY, 0);
    assert_false(dict_changed(d));
    dict_close(d);
}

/* Cyrus sasldb2: keys "user NUL realm NUL property", no trailing NUL. */
static void put_sasl(DB *db, const char *user, const char *realm,
                     const char *prop, const char *value)
{
    struct buf *key = buf_new(64);
    DBT k;
    DBT v;

    buf_puts(key, user);
    buf_putc(key, 0);
    buf_puts(key, realm);
    buf_putc(key, 0);
    buf_puts(key, prop);
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = buf_str(key);
    k.size = (u_int32_t) buf_len(key);
    v.data = (void *) value;
    v.size = (u_int32_t) strlen(value);
    assert_int_equal(db->put(db, NULL, &k, &v, 0), 0);
    buf_free(key);
}

static void test_sasldb(void **state)
{
    static const struct {
        const char *key;
        enum lookup_status want;
        const char *value;
    } cases[] = {
        {"alice@example.com", LOOKUP_FOUND, "secret1"},
        {"alice", LOOKUP_FOUND, "secret-default"},
        {"Alice@example.com", LOOKUP_NOTFOUND, NULL}, /* case-sensitive */
        {"bob@example.com", LOOKUP_NOTFOUND, NULL},   /* no password */
        {"carol@other.org", LOOKUP_FOUND, "p@ss word"},
        {"odd@name@example.com", LOOKUP_FOUND, "at-sign"},
        {"nobody@example.com", LOOKUP_NOTFOUND, NULL},
        {"", LOOKUP_NOTFOUND, NULL},
    };
    const char *path = in_scratch("sasldb2");
    const char *saved = var_myhostname;
    struct buf *key = buf_new(32);
    struct buf *value = buf_new(32);
    struct dict *d;
    DB *db;
    size_t i;
    int how;
    int n = 0;

    (void) state;
    assert_int_equal(db_create(&db, NULL, 0), 0);
    assert_int_equal(db->open(db, NULL, path, NULL, DB_HASH, DB_CREATE, 0600),
                     0);
    put_sasl(db, "alice", "example.com", "userPassword", "secret1");
    put_sasl(db, "alice", "mail.example.com", "userPassword", "secret-default");
    put_sasl(db, "bob", "example.com", "cmusaslsecretOTP", "otp-data");
    put_sasl(db, "carol", "other.org", "userPassword", "p@ss word");
    put_sasl(db, "odd@name", "example.com", "userPassword", "at-sign");
    db->close(db, 0);

    var_myhostname = "mail.example.com";
    d = open_ok("sasldb", path, DICT_RDONLY, DICT_FOLD_FIX | DICT_LOCK);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect(d, cases[i].key, cases[i].want, cases[i].value);
    for (how = DICT_SEQ_FIRST;
         dict_sequence(d, how, key, value) == LOOKUP_FOUND;
         how = DICT_SEQ_NEXT) {
        assert_non_null(strchr(buf_str(key), '@'));
        assert_int_not_equal(strcmp(buf_str(key), "bob@example.com"), 0);
        n++;
    }
    assert_int_equal(n, 4);
    assert_false(dict_changed(d));
    dict_close(d);
    var_myhostname = saved;

    /* Damaged sasldb2 files are refused at open. */
    {
        struct buf *good = read_all(path);
        struct buf *err = buf_new(64);
        struct buf *bad = buf_new(buf_len(good));
        unsigned seed = 99;
        int round;
        int j;

        write_bytes(path, buf_str(good), buf_len(good) / 2);
        assert_null(dict_open3("sasldb", path, DICT_RDONLY, 0, err));
        assert_non_null(strstr(buf_str(err), "open database "));
        for (round = 0; round < 40; round++) {
            buf_reset(bad);
            buf_append(bad, buf_str(good), buf_len(good));
            for (j = 0; j < 1 + round % 9; j++) {
                seed = seed * 1103515245 + 12345;
                bad->data[(seed >> 8) % buf_len(bad)] = (char) (seed >> 3);
            }
            write_bytes(path, buf_str(bad), buf_len(bad));
            d = dict_open3("sasldb", path, DICT_RDONLY, 0, err);
            if (d != NULL) {
                for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                    (void) dict_lookup(d, cases[i].key, value);
                for (how = DICT_SEQ_FIRST;
                     dict_sequence(d, how, key, value) == LOOKUP_FOUND;
                     how = DICT_SEQ_NEXT)
                    continue;
                dict_close(d);
            }
        }
        buf_free(good);
        buf_free(bad);
        buf_free(err);
    }
    buf_free(key);
    buf_free(value);
}

/* The seal in the meta page: "PSTN", version, file size, digest. */
static unsigned long long seal_size(const char *path)
{
    unsigned char meta[512];
    unsigned long long v = 0;
    int fd = open(path, O_RDONLY);
    int i;

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, meta, sizeof(meta), 0), (ssize_t) sizeof(meta));
    close(fd);
    if (memcmp(meta + 400, "PSTN", 4) != 0 || meta[404] != 1)
        return 0;
    for (i = 7; i >= 0; i--)
        v = v << 8 | meta[408 + i];
    return v;
}

static void test_seal(void **state)
{
    static const char *const kv[] = {"a", "1", NULL};
    const char *name = in_scratch("seal");
    const char *path = in_scratch("seal.db");
    struct stat sb;
    struct dict *d;
    size_t t;
    int i;

    (void) state;
    for (t = 0; t < 2; t++) {
        build(file_types[t], name, kv, 0);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(seal_size(path), (unsigned long long) sb.st_size);

        /* Changed in place by us: sealed again, for the new size. */
        d = open_ok(file_types[t], name, DICT_RDWR, DICT_LOCK);
        for (i = 0; i < 3000; i++) {
            char k[32];

            snprintf(k, sizeof(k), "grow%d", i);
            assert_int_equal(dict_update(d, k, "a value to make it grow"),
                             LOOKUP_FOUND);
        }
        dict_close(d);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(seal_size(path), (unsigned long long) sb.st_size);
        d = open_ok(file_types[t], name, DICT_RDONLY, 0);
        expect(d, "grow2999", LOOKUP_FOUND, "a value to make it grow");
        dict_close(d);

        /* A byte changed behind our back, where Berkeley DB does not
         * look: the seal no longer matches, the verifier takes over and
         * the table is still good. */
        {
            int fd = open(path, O_WRONLY);

            assert_true(fd >= 0);
            assert_int_equal(pwrite(fd, "x", 1, 440), 1);
            close(fd);
        }
        d = open_ok(file_types[t], name, DICT_RDONLY, 0);
        expect(d, "a", LOOKUP_FOUND, "1");
        dict_close(d);
        /* A table without a seal (built by Postfix) reads fine too. */
        build_plain(path, t == 0 ? DB_HASH : DB_BTREE, 50);
        assert_int_equal(seal_size(path), 0);
        d = open_ok(file_types[t], name, DICT_RDONLY, 0);
        expect(d, "key7", LOOKUP_FOUND, "value number 7 for the test");
        dict_close(d);
    }
}

/* dbm: tables are what Berkeley DB's ndbm interface reads and writes. */
static void test_dbm_is_ndbm(void **state)
{
    static const char *const kv[] = {"alpha", "one", "beta", "two", NULL};
    const char *name = in_scratch("ndbm");
    struct dict *d;
    DBM *dbm;
    datum k;
    datum v;

    (void) state;
    build("dbm", name, kv, 0);
    dbm = dbm_open(name, O_RDONLY, 0);
    assert_non_null(dbm);
    k.dptr = "alpha";
    k.dsize = 6; /* with the NUL, as Postfix stores keys */
    v = dbm_fetch(dbm, k);
    assert_non_null(v.dptr);
    assert_int_equal(v.dsize, 4);
    assert_string_equal(v.dptr, "one");
    dbm_close(dbm);

    /* And the other way: an ndbm-made file (keys without NUL) reads back. */
    unlink(in_scratch("ndbm.db"));
    dbm = dbm_open(name, O_RDWR | O_CREAT, 0644);
    assert_non_null(dbm);
    k.dptr = "gamma";
    k.dsize = 5;
    v.dptr = "three";
    v.dsize = 5;
    assert_int_equal(dbm_store(dbm, k, v, DBM_INSERT), 0);
    dbm_close(dbm);
    d = open_ok("dbm", name, DICT_RDONLY, 0);
    expect(d, "gamma", LOOKUP_FOUND, "three");
    assert_true(d->flags & DICT_TRY0NULL);
    assert_false(d->flags & DICT_TRY1NULL);
    dict_close(d);
}

/* Many entries, so the collected build spans many pages and buckets. */
static void test_large_build(void **state)
{
    size_t t;

    (void) state;
    for (t = 0; t < 2; t++) {
        const char *name = in_scratch("large");
        struct buf *k = buf_new(32);
        struct buf *v = buf_new(600);
        struct dict *d =
            open_ok(file_types[t], name, DICT_CREATE, DICT_DUP_WARN);
        int i;

        for (i = 0; i < 20000; i++) {
            buf_setf(k, "k%d", i);
            /* Some values larger than a page, some empty. */
            buf_setf(v, "%0*d", i % 97 == 0 ? 3000 : i % 13, i);
            assert_int_equal(dict_update(d, buf_str(k), buf_str(v)),
                             LOOKUP_FOUND);
        }
        assert_int_equal(dict_close(d), 0);
        d = open_ok(file_types[t], name, DICT_RDONLY, 0);
        for (i = 0; i < 20000; i += 37) {
            buf_setf(k, "k%d", i);
            buf_setf(v, "%0*d", i % 97 == 0 ? 3000 : i % 13, i);
            expect(d, buf_str(k), LOOKUP_FOUND, buf_str(v));
        }
        expect(d, "k20000", LOOKUP_NOTFOUND, NULL);
        dict_close(d);
        buf_free(k);
        buf_free(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_build_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_byte_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_delete_in_place, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_then_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sasldb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dbm_is_ndbm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_build, setup, teardown),
    };

    msg_init("test_dict_db", MSG_STDERR | MSG_NOLOG);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
