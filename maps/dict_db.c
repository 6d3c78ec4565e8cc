/*
 * dict_db.c - the hash:, btree: and dbm: table types (Berkeley DB files
 * NAME.db).
 *
 * dbm: is Berkeley DB's ndbm emulation, whose tables are Berkeley DB hash
 * files named NAME.db (ndbm's dbm_open("NAME") opens exactly that file),
 * not the NAME.dir + NAME.pag pair of a classic ndbm. So dbm:NAME is
 * written and read here as the hash file NAME.db, readable with
 * dbm_open(); dbm:NAME and hash:NAME name the same file.
 *
 * The files are the ones Postfix reads and writes: Berkeley DB hash or
 * btree databases, keys and values stored with their trailing NUL byte
 * (DICT_TRY1NULL, the Linux default, or postmap -N) or without it
 * (DICT_TRY0NULL, postmap -n). A reader that was told neither tries the
 * key with the NUL first, then without, and sticks to whichever worked.
 *
 * DICT_CREATE builds a new table in a temporary file beside NAME.db
 * (mode of the old NAME.db when there was one, else 0644 less the umask;
 * when run as root, owned like the source file NAME) and dict_close()
 * fsyncs it and renames it over NAME.db, so a reader sees the old table
 * or the new one, never half of one. The entries are collected in memory
 * and written in page order at close (see "DICT_CREATE" below), which is
 * several times faster than inserting them as they come.
 *
 * Damaged files: Berkeley DB trusts what it reads, and a damaged page can
 * crash it. So every table Postern writes gets a seal (a digest of the
 * whole file, kept in bytes of the meta page that Berkeley DB leaves
 * unused and Postfix ignores), checked at open at about the speed of
 * reading the file; a file without a matching seal (built or changed by
 * Postfix, or damaged) goes through Berkeley DB's own verifier first,
 * which is slower. Every open also compares the meta page with the file
 * size, so a truncated file is refused. No per-page checksums: they would
 * cost every lookup that reads a page.
 *
 * DICT_LOCK takes an fcntl() lock on NAME.db around every access: shared
 * for lookups and sequence, exclusive for updates and deletes; dict_hold()
 * keeps the shared one across a run of lookups (postmap -q -).
 *
 * update() without a DICT_DUP_* flag replaces; with DICT_DUP_WARN or
 * DICT_DUP_IGNORE it keeps the old value and returns LOOKUP_NOTFOUND
 * (warning "NAME.db: duplicate entry" for DUP_WARN, as Postfix does).
 *
 * Callers: dict_open() via the registry (postmap, postalias, daemons).
 * Errors: open failures are NULL with ERR "open database NAME.db: reason";
 * I/O problems are LOOKUP_ERR_TEMP, a damaged file LOOKUP_ERR_CONFIG, with
 * the reason in d->err. Berkeley DB's own messages become warnings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <db.h>

#include "buf.h"
#include "dict.h"
#include "dict_impl.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "str.h"

/* One entry collected by a DICT_CREATE table (see dict_db_bulk_put). */
struct dict_db_rec {
    size_t key_off; /* key bytes as stored, in the arena */
    size_t val_off; /* value bytes as stored */
    uint32_t key_len;
    uint32_t val_len;
    uint32_t hash;   /* Berkeley DB's hash of the stored key */
    uint32_t bucket; /* hash bucket, set when the table is written */
};

struct dict_db_bulk {
    struct buf *arena; /* keys and values, back to back */
    struct dict_db_rec *recs;
    size_t count;
    size_t size;
    uint32_t *slots; /* open addressing: record index + 1 */
    size_t nslots;   /* a power of two */
};

struct dict_db {
    DB *db;
    DBC *cursor; /* open during dict_sequence() */
    int fd;      /* Berkeley DB's descriptor, for fcntl() locks */
    char *path;  /* NAME.db */
    char *tmp;   /* DICT_CREATE: the file renamed to PATH at close */
    int changed; /* DICT_RDWR: updated or deleted, reseal at close */
    int held;    /* dict_hold(): the shared lock is kept between lookups */
    DBTYPE dbtype;
    long cache;                /* Berkeley DB cache size */
    struct dict_db_bulk *bulk; /* DICT_CREATE until the table is written */
};

/* Defaults when the parameter table was not loaded (unit tests). */
#define DICT_DB_CREATE_CACHE (16L * 1024 * 1024)
#define DICT_DB_READ_CACHE   (128L * 1024)
#define DICT_DB_ATTEMPTS     3
/* Page size of new tables, as Postfix's (Berkeley DB reads any). */
#define DICT_DB_PAGESIZE 4096U
/* Hash buckets are filled to this percentage of a page on average. */
#define DICT_DB_FILL 75
/* A DICT_CREATE table collects at most this much before writing. */
#define DICT_DB_BULK_LIMIT (256UL * 1024 * 1024)

/* Meta page fields (Berkeley DB's DBMETA), for the truncation check. */
#define DB_META_MAGIC     12
#define DB_META_PAGESIZE  20
#define DB_META_FLAGS     26
#define DB_META_LAST_PGNO 32
#define DB_META_CHKSUM    0x01
#define DB_MAGIC_HASH     0x061561U
#define DB_MAGIC_BTREE    0x053162U
#define DB_META_READ      512 /* the smallest page size */

/*
 * The seal: Postern's mark in bytes that Berkeley DB leaves unused in the
 * meta page of hash and btree files (224-459 and 92-459 in 5.x): "PSTN",
 * a version, the file size and a digest of the whole file (seal bytes
 * read as zero), little-endian.
 */
#define DICT_DB_SEAL_OFF     400
#define DICT_DB_SEAL_LEN     24
#define DICT_DB_SEAL_MAGIC   "PSTN"
#define DICT_DB_SEAL_VERSION 1
#define DICT_DB_BLOCK        4096 /* digest unit; divides DICT_DB_CHUNK */
#define DICT_DB_CHUNK        (1024 * 1024)

static int dict_db_seal(const char *path, int lock);

static void dict_db_errcall(const DB_ENV *env, const char *prefix,
                            const char *text)
{
    (void) env;
    (void) prefix;
    msg_warn("Berkeley DB: %s", text);
}

/* Berkeley DB's informational output (page dumps) would land on stdout. */
static void dict_db_msgcall(const DB_ENV *env, const char *text)
{
    (void) env;
    if (msg_verbose)
        msg_info("Berkeley DB: %s", text);
}

/*
 * Close a handle even after Berkeley DB declared its private environment
 * dead (a checksum error does that): without DB_NOPANIC it would refuse
 * and keep its memory.
 */
static void dict_db_close_cursor(DB *db, DBC *cursor)
{
    DB_ENV *env = db->get_env(db);

    if (env != NULL)
        env->set_flags(env, DB_NOPANIC, 1);
    cursor->close(cursor);
}

static int dict_db_close_handle(DB *db, DBC *cursor)
{
    DB_ENV *env = db->get_env(db);

    if (cursor != NULL)
        dict_db_close_cursor(db, cursor);
    if (env != NULL)
        env->set_flags(env, DB_NOPANIC, 1);
    return db->close(db, 0);
}

/* An error code from Berkeley DB as a lookup status. */
static enum lookup_status dict_db_status(struct dict *d, const char *what,
                                         int ret)
{
    struct dict_db *st = d->priv;

    buf_setf(d->err, "%s %s: %s", what, st->path, db_strerror(ret));
    switch (ret) {
    case EIO:
    case EAGAIN:
    case EINTR:
    case ENOMEM:
    case ENOSPC:
    case DB_LOCK_DEADLOCK:
    case DB_LOCK_NOTGRANTED:
        return LOOKUP_ERR_TEMP;
    default:
        /* DB_RUNRECOVERY, DB_PAGE_NOTFOUND, EINVAL ...: a damaged file. */
        return LOOKUP_ERR_CONFIG;
    }
}

/* Take (F_RDLCK, F_WRLCK) or drop (F_UNLCK) the table lock if asked to. */
static int dict_db_lock(struct dict *d, short type)
{
    struct dict_db *st = d->priv;
    struct flock fl;

    if (!(d->flags & DICT_LOCK) || st->tmp != NULL)
        return 0;
    if (st->held) {
        if (type != F_WRLCK)
            return 0; /* the held shared lock covers this lookup */
        buf_setf(d->err, "lock %s: held for reading", st->path);
        return -1;
    }
    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    while (fcntl(st->fd, F_SETLKW, &fl) < 0) {
        if (errno == EINTR)
            continue;
        buf_setf(d->err, "%s %s: %s", type == F_UNLCK ? "unlock" : "lock",
                 st->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Copy a stored key or value, less the trailing NUL it may carry. */
static void dict_db_copy(struct buf *out, const DBT *dbt)
{
    size_t size = dbt->size;

    if (size > 0 && ((const char *) dbt->data)[size - 1] == 0)
        size--;
    buf_append(out, dbt->data, size);
}

/* ---- DICT_CREATE: collect, then write in one ordered pass ---------------- */

/*
 * Inserting entries in source order makes Berkeley DB visit pages at
 * random, and with a cache far smaller than the table every page is
 * written and read back many times. A new table instead collects its
 * entries in memory (detecting duplicates as they come, so callers still
 * hear about them at once), then writes them in the order of the pages
 * they land on: hash tables are sized up front and filled bucket by
 * bucket, btree tables get their keys in sorted order. The files are
 * ordinary Berkeley DB files; only the build is faster.
 */

/* Berkeley DB's default hash function (FNV-1a started from 0). */
static uint32_t dict_db_hash(const unsigned char *p, size_t len)
{
    uint32_t h = 0;

    while (len-- > 0) {
        h ^= *p++;
        h *= 16777619U;
    }
    return h;
}

static struct dict_db_bulk *dict_db_bulk_new(void)
{
    struct dict_db_bulk *b = mem_calloc(1, sizeof(*b));

    b->arena = buf_new(65536);
    b->nslots = 1024;
    b->slots = mem_calloc(b->nslots, sizeof(*b->slots));
    return b;
}

static void dict_db_bulk_free(struct dict_db_bulk *b)
{
    if (b == NULL)
        return;
    buf_free(b->arena);
    mem_free(b->recs);
    mem_free(b->slots);
    mem_free(b);
}

/* The slot holding KEY, or the empty slot where it would go. */
static size_t dict_db_bulk_slot(const struct dict_db_bulk *b, const char *key,
                                size_t len, uint32_t hash)
{
    size_t mask = b->nslots - 1;
    size_t slot = hash & mask;
    const struct dict_db_rec *r;

    while (b->slots[slot] != 0) {
        r = b->recs + b->slots[slot] - 1;
        if (r->hash == hash && r->key_len == len
            && memcmp(buf_str(b->arena) + r->key_off, key, len) == 0)
            break;
        slot = (slot + 1) & mask;
    }
    return slot;
}

static void dict_db_bulk_grow(struct dict_db_bulk *b)
{
    size_t i;
    size_t slot;

    mem_free(b->slots);
    b->nslots *= 2;
    b->slots = mem_calloc(b->nslots, sizeof(*b->slots));
    for (i = 0; i < b->count; i++) {
        slot = b->recs[i].hash & (b->nslots - 1);
        while (b->slots[slot] != 0)
            slot = (slot + 1) & (b->nslots - 1);
        b->slots[slot] = (uint32_t) (i + 1);
    }
}

static enum lookup_status dict_db_bulk_put(struct dict *d, const char *key,
                                           size_t klen, const char *value,
                                           size_t vlen)
{
    struct dict_db *st = d->priv;
    struct dict_db_bulk *b = st->bulk;
    uint32_t hash = dict_db_hash((const unsigned char *) key, klen);
    size_t slot = dict_db_bulk_slot(b, key, klen, hash);
    struct dict_db_rec *r;

    if (b->slots[slot] != 0) {
        r = b->recs + b->slots[slot] - 1;
        if ((d->flags & (DICT_DUP_WARN | DICT_DUP_IGNORE))
            && !(d->flags & DICT_DUP_REPLACE)) {
            if (d->flags & DICT_DUP_WARN) {
                struct buf *safe = buf_new(64);

                str_printable(safe, key, strlen(key));
                msg_warn("%s: duplicate entry: \"%s\"", st->path,
                         buf_str(safe));
                buf_free(safe);
            }
            return LOOKUP_NOTFOUND;
        }
        r->val_off = buf_len(b->arena);
        r->val_len = (uint32_t) vlen;
        buf_append(b->arena, value, vlen);
        return LOOKUP_FOUND;
    }
    if (b->count == b->size) {
        b->size = b->size ? 2 * b->size : 1024;
        b->recs = mem_realloc(b->recs, b->size * sizeof(*b->recs));
    }
    r = b->recs + b->count;
    r->key_off = buf_len(b->arena);
    r->key_len = (uint32_t) klen;
    buf_append(b->arena, key, klen);
    r->val_off = buf_len(b->arena);
    r->val_len = (uint32_t) vlen;
    buf_append(b->arena, value, vlen);
    r->hash = hash;
    r->bucket = 0;
    b->slots[slot] = (uint32_t) ++b->count;
    if (2 * b->count > b->nslots)
        dict_db_bulk_grow(b);
    return LOOKUP_FOUND;
}

/*
 * Size a new hash table for the collected entries: *NELEM and *FFACTOR
 * for set_h_nelem()/set_h_ffactor(). Berkeley DB gives a new table a
 * power of two of buckets, about NELEM / FFACTOR, and counts the entries
 * added on top of NELEM; it splits buckets once that count divided by the
 * buckets passes FFACTOR. The goal: enough buckets that pages fill to
 * about DICT_DB_FILL percent (a key or value larger than a quarter page
 * lives on overflow pages, leaving a small reference), and no split while
 * the entries go in. NELEM = 2n and FFACTOR = 3n / buckets do both.
 */
static void dict_db_bulk_size(const struct dict_db_bulk *b, uint32_t *nelem,
                              uint32_t *ffactor)
{
    unsigned long long bytes = 0;
    unsigned long long per;
    unsigned long long want;
    unsigned long long buckets;
    unsigned long long n = b->count;
    size_t i;

    for (i = 0; i < b->count; i++) {
        const struct dict_db_rec *r = b->recs + i;

        bytes += r->key_len > DICT_DB_PAGESIZE / 4 ? 12 : r->key_len + 1;
        bytes += r->val_len > DICT_DB_PAGESIZE / 4 ? 12 : r->val_len + 1;
        bytes += 4; /* two index entries */
    }
    per = (bytes + n - 1) / n;
    want =
        (unsigned long long) (DICT_DB_PAGESIZE - 26) * DICT_DB_FILL / 100 / per;
    if (want < 1)
        want = 1;
    for (buckets = 4; buckets * want < n; buckets <<= 1)
        continue;
    if (3 * n > (unsigned long long) UINT32_MAX - buckets
        || (3 * n + buckets - 1) / buckets > 65535) {
        /* Beyond what the fields hold: let Berkeley DB grow the table. */
        *nelem = 0;
        *ffactor = 0;
        return;
    }
    *nelem = (uint32_t) (2 * n);
    *ffactor = (uint32_t) ((3 * n + buckets - 1) / buckets);
}

/* Berkeley DB's default btree order: bytes, then the shorter key first. */
static int dict_db_cmp_key(const void *a, const void *b, void *arena)
{
    const struct dict_db_rec *ra = a;
    const struct dict_db_rec *rb = b;
    const char *base = arena;
    size_t len = ra->key_len < rb->key_len ? ra->key_len : rb->key_len;
    int cmp = memcmp(base + ra->key_off, base + rb->key_off, len);

    if (cmp != 0)
        return cmp;
    return ra->key_len < rb->key_len ? -1 : ra->key_len > rb->key_len;
}

/* Sort the collected entries into the order of their pages. */
static void dict_db_bulk_order(struct dict_db *st, struct dict_db_bulk *b)
{
    DB_HASH_STAT *hs = NULL;
    struct dict_db_rec *sorted;
    size_t *start;
    uint32_t high;
    uint32_t max_bucket;
    size_t i;

    if (st->dbtype == DB_BTREE) {
        qsort_r(b->recs, b->count, sizeof(*b->recs), dict_db_cmp_key,
                buf_str(b->arena));
        return;
    }
    /* Ask the new table how many buckets it has rather than guess. */
    if (st->db->stat(st->db, NULL, &hs, DB_FAST_STAT) != 0 || hs == NULL
        || hs->hash_buckets == 0) {
        free(hs);
        return;
    }
    max_bucket = hs->hash_buckets - 1;
    free(hs);
    for (high = 1; high <= max_bucket; high <<= 1)
        continue;
    high -= 1;
    /* A counting sort: buckets are small integers. */
    start = mem_calloc((size_t) max_bucket + 2, sizeof(*start));
    for (i = 0; i < b->count; i++) {
        uint32_t bucket = b->recs[i].hash & high;

        if (bucket > max_bucket)
            bucket &= high >> 1;
        b->recs[i].bucket = bucket;
        start[bucket + 1]++;
    }
    for (i = 1; i <= (size_t) max_bucket + 1; i++)
        start[i] += start[i - 1];
    sorted = mem_alloc(b->count * sizeof(*sorted));
    for (i = 0; i < b->count; i++)
        sorted[start[b->recs[i].bucket]++] = b->recs[i];
    mem_free(b->recs);
    b->recs = sorted;
    b->size = b->count;
    mem_free(start);
}

static int dict_db_open_db(struct dict *d, const char *file, u_int32_t flags,
                           uint32_t nelem, uint32_t ffactor, struct buf *err);

/*
 * Write the collected entries into the temporary file and leave the
 * table in direct mode. LOOKUP_FOUND, or an error with d->err set.
 */
static enum lookup_status dict_db_flush(struct dict *d)
{
    struct dict_db *st = d->priv;
    struct dict_db_bulk *b = st->bulk;
    enum lookup_status status = LOOKUP_FOUND;
    uint32_t ffactor = 0;
    uint32_t nelem = 0;
    size_t i;
    DBT k;
    DBT v;
    int ret;

    st->bulk = NULL;
    if (st->dbtype == DB_HASH && b->count > 0)
        dict_db_bulk_size(b, &nelem, &ffactor);
    if (dict_db_open_db(d, st->tmp, DB_CREATE | DB_TRUNCATE, nelem, ffactor,
                        d->err)
        < 0) {
        dict_db_bulk_free(b);
        return LOOKUP_ERR_TEMP;
    }
    dict_db_bulk_order(st, b);
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    for (i = 0; i < b->count; i++) {
        k.data = buf_str(b->arena) + b->recs[i].key_off;
        k.size = b->recs[i].key_len;
        v.data = buf_str(b->arena) + b->recs[i].val_off;
        v.size = b->recs[i].val_len;
        if ((ret = st->db->put(st->db, NULL, &k, &v, 0)) != 0) {
            status = dict_db_status(d, "write database", ret);
            break;
        }
    }
    dict_db_bulk_free(b);
    return status;
}

static int dict_db_get(struct dict *d, const char *key, size_t len,
                       struct buf *value, enum lookup_status *status)
{
    struct dict_db *st = d->priv;
    DBT k;
    DBT v;
    int ret;

    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = (void *) key;
    k.size = (u_int32_t) len;
    ret = st->db->get(st->db, NULL, &k, &v, 0);
    if (ret == 0) {
        dict_db_copy(value, &v);
        *status = LOOKUP_FOUND;
        return 1;
    }
    if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY) {
        *status = LOOKUP_NOTFOUND;
        return 0;
    }
    *status = dict_db_status(d, "read database", ret);
    return -1;
}

static int dict_db_hold(struct dict *d, int on)
{
    struct dict_db *st = d->priv;

    if (on == st->held)
        return 0;
    if (!on)
        st->held = 0;
    if (dict_db_lock(d, on ? F_RDLCK : F_UNLCK) < 0)
        return -1;
    st->held = on;
    return 0;
}

static enum lookup_status dict_db_lookup(struct dict *d, const char *key,
                                         struct buf *value)
{
    struct dict_db *st = d->priv;
    enum lookup_status status = LOOKUP_NOTFOUND;
    size_t len = strlen(key);
    int ret = 0;

    if (st->bulk != NULL && (status = dict_db_flush(d)) != LOOKUP_FOUND)
        return status;
    status = LOOKUP_NOTFOUND;
    if (dict_db_lock(d, F_RDLCK) < 0)
        return LOOKUP_ERR_TEMP;
    /* Learn from the first hit whether this file stores the NUL. */
    if (d->flags & DICT_TRY1NULL) {
        ret = dict_db_get(d, key, len + 1, value, &status);
        if (ret > 0)
            d->flags &= ~DICT_TRY0NULL;
    }
    if (ret == 0 && (d->flags & DICT_TRY0NULL)) {
        ret = dict_db_get(d, key, len, value, &status);
        if (ret > 0)
            d->flags &= ~DICT_TRY1NULL;
    }
    if (dict_db_lock(d, F_UNLCK) < 0 && status != LOOKUP_ERR_CONFIG)
        status = LOOKUP_ERR_TEMP;
    return status;
}

static enum lookup_status dict_db_update(struct dict *d, const char *key,
                                         const char *value)
{
    struct dict_db *st = d->priv;
    enum lookup_status status = LOOKUP_FOUND;
    u_int32_t put_flags = 0;
    DBT k;
    DBT v;
    int ret;

    /* Undecided: store the NUL, as Postfix does on this platform. */
    if ((d->flags & (DICT_TRY1NULL | DICT_TRY0NULL))
        == (DICT_TRY1NULL | DICT_TRY0NULL))
        d->flags &= ~DICT_TRY0NULL;
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = (void *) key;
    k.size = (u_int32_t) (strlen(key) + ((d->flags & DICT_TRY1NULL) != 0));
    v.data = (void *) value;
    v.size = (u_int32_t) (strlen(value) + ((d->flags & DICT_TRY1NULL) != 0));
    if (st->bulk != NULL) {
        if (buf_len(st->bulk->arena) < DICT_DB_BULK_LIMIT)
            return dict_db_bulk_put(d, k.data, k.size, v.data, v.size);
        /* Very large: write what we have, then add entries one by one. */
        if ((status = dict_db_flush(d)) != LOOKUP_FOUND)
            return status;
    }
    if ((d->flags & (DICT_DUP_WARN | DICT_DUP_IGNORE))
        && !(d->flags & DICT_DUP_REPLACE))
        put_flags = DB_NOOVERWRITE;

    if (dict_db_lock(d, F_WRLCK) < 0)
        return LOOKUP_ERR_TEMP;
    ret = st->db->put(st->db, NULL, &k, &v, put_flags);
    if (ret == 0)
        st->changed = 1;
    if (ret == DB_KEYEXIST) {
        if (d->flags & DICT_DUP_WARN) {
            struct buf *safe = buf_new(64);

            str_printable(safe, key, strlen(key));
            msg_warn("%s: duplicate entry: \"%s\"", st->path, buf_str(safe));
            buf_free(safe);
        }
        status = LOOKUP_NOTFOUND;
    } else if (ret != 0) {
        status = dict_db_status(d, "write database", ret);
    } else if (st->tmp == NULL && (d->flags & DICT_LOCK)
               && (ret = st->db->sync(st->db, 0)) != 0) {
        /* Others read the file: write the change out before unlocking. */
        status = dict_db_status(d, "write database", ret);
    }
    if (dict_db_lock(d, F_UNLCK) < 0 && status == LOOKUP_FOUND)
        status = LOOKUP_ERR_TEMP;
    return status;
}

static enum lookup_status dict_db_delete(struct dict *d, const char *key)
{
    struct dict_db *st = d->priv;
    enum lookup_status status = LOOKUP_NOTFOUND;
    size_t len = strlen(key);
    DBT k;
    int ret = DB_NOTFOUND;

    if (st->bulk != NULL && (status = dict_db_flush(d)) != LOOKUP_FOUND)
        return status;
    status = LOOKUP_NOTFOUND;
    if (dict_db_lock(d, F_WRLCK) < 0)
        return LOOKUP_ERR_TEMP;
    memset(&k, 0, sizeof(k));
    k.data = (void *) key;
    if (d->flags & DICT_TRY1NULL) {
        k.size = (u_int32_t) (len + 1);
        ret = st->db->del(st->db, NULL, &k, 0);
        if (ret == 0)
            d->flags &= ~DICT_TRY0NULL;
    }
    if (ret == DB_NOTFOUND && (d->flags & DICT_TRY0NULL)) {
        k.size = (u_int32_t) len;
        ret = st->db->del(st->db, NULL, &k, 0);
        if (ret == 0)
            d->flags &= ~DICT_TRY1NULL;
    }
    if (ret == 0) {
        status = LOOKUP_FOUND;
        st->changed = 1;
        if (st->tmp == NULL && (d->flags & DICT_LOCK)
            && (ret = st->db->sync(st->db, 0)) != 0)
            status = dict_db_status(d, "write database", ret);
    } else if (ret != DB_NOTFOUND) {
        status = dict_db_status(d, "write database", ret);
    }
    if (dict_db_lock(d, F_UNLCK) < 0 && status == LOOKUP_FOUND)
        status = LOOKUP_ERR_TEMP;
    return status;
}

static enum lookup_status dict_db_sequence(struct dict *d, int how,
                                           struct buf *key, struct buf *value)
{
    struct dict_db *st = d->priv;
    enum lookup_status status;
    DBT k;
    DBT v;
    int ret;

    if (st->bulk != NULL && (status = dict_db_flush(d)) != LOOKUP_FOUND)
        return status;
    if (dict_db_lock(d, F_RDLCK) < 0)
        return LOOKUP_ERR_TEMP;
    if (how == DICT_SEQ_FIRST && st->cursor != NULL) {
        dict_db_close_cursor(st->db, st->cursor);
        st->cursor = NULL;
    }
    if (st->cursor == NULL) {
        ret = st->db->cursor(st->db, NULL, &st->cursor, 0);
        if (ret != 0) {
            st->cursor = NULL;
            status = dict_db_status(d, "read database", ret);
            dict_db_lock(d, F_UNLCK);
            return status;
        }
        how = DICT_SEQ_FIRST;
    }
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    ret = st->cursor->get(st->cursor, &k, &v,
                          how == DICT_SEQ_FIRST ? DB_FIRST : DB_NEXT);
    if (ret == 0) {
        dict_db_copy(key, &k);
        dict_db_copy(value, &v);
        status = LOOKUP_FOUND;
    } else {
        status = ret == DB_NOTFOUND ? LOOKUP_NOTFOUND
                                    : dict_db_status(d, "read database", ret);
        dict_db_close_cursor(st->db, st->cursor);
        st->cursor = NULL;
    }
    if (dict_db_lock(d, F_UNLCK) < 0 && status == LOOKUP_FOUND)
        status = LOOKUP_ERR_TEMP;
    return status;
}

/* Make the temporary file durable and put it in place of NAME.db. */
static int dict_db_commit(struct dict_db *st)
{
    char *slash;
    int fd;
    int ok;

    fd = open(st->tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        msg_warn("sync %s: %s", st->tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    if (rename(st->tmp, st->path) < 0) {
        msg_warn("rename %s to %s: %s", st->tmp, st->path, strerror(errno));
        return -1;
    }
    /* The rename itself must survive a crash too. */
    slash = strrchr(st->path, '/');
    if (slash == NULL) {
        fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        char *dir = mem_strndup(st->path, (size_t) (slash - st->path) + 1);

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        mem_free(dir);
    }
    ok = fd >= 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok)
        msg_warn("sync directory of %s: %s", st->path, strerror(errno));
    return 0;
}

static int dict_db_close(struct dict *d)
{
    struct dict_db *st = d->priv;
    int result = 0;
    int ret;

    if (st->bulk != NULL) {
        if (d->aborted) {
            dict_db_bulk_free(st->bulk);
            st->bulk = NULL;
        } else if (dict_db_flush(d) != LOOKUP_FOUND) {
            msg_warn("%s", buf_str(d->err));
            result = -1;
        }
    }
    if (st->db != NULL
        && (ret = dict_db_close_handle(st->db, st->cursor)) != 0) {
        msg_warn("close database %s: %s", st->tmp ? st->tmp : st->path,
                 db_strerror(ret));
        result = -1;
    }
    if (st->tmp != NULL && !d->aborted && result == 0
        && dict_db_seal(st->tmp, 0) < 0) {
        msg_warn("seal %s: %s", st->tmp, strerror(errno));
        result = -1;
    }
    if (st->tmp == NULL && st->changed && result == 0
        && dict_db_seal(st->path, 1) < 0)
        /* Still a good table; the next open verifies it instead. */
        msg_warn("seal %s: %s", st->path, strerror(errno));
    if (st->tmp != NULL) {
        if (d->aborted || result < 0 || dict_db_commit(st) < 0) {
            if (!d->aborted)
                result = -1;
            unlink(st->tmp);
        }
        mem_free(st->tmp);
    }
    mem_free(st->path);
    dict_free(d);
    return result;
}

static uint32_t dict_db_word(const unsigned char *p, int swap)
{
    if (swap)
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
               | (uint32_t) p[2] << 8 | p[3];
    return (uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8
           | p[0];
}

/* ---- the seal ------------------------------------------------------------ */

static uint64_t dict_db_get64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;

    for (i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void dict_db_put64(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++, v >>= 8)
        p[i] = (unsigned char) v;
}

static uint64_t dict_db_rotl(uint64_t v, int n)
{
    return v << n | v >> (64 - n);
}

/* Read LEN bytes at OFF, or fewer at the end of the file. */
static ssize_t dict_db_pread_full(int fd, unsigned char *buf, size_t len,
                                  off_t off)
{
    size_t got = 0;
    ssize_t n;

    while (got < len) {
        n = pread(fd, buf + got, len - got, off + (off_t) got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t) n;
    }
    return (ssize_t) got;
}

/* One block's share of the digest: 0 for a block of zeros. */
static uint64_t dict_db_block_digest(const unsigned char *block, off_t off)
{
    static const uint64_t k1 = 0x9E3779B97F4A7C15ULL;
    static const uint64_t k2 = 0xC2B2AE3D27D4EB4FULL;
    uint64_t lane[4];
    uint64_t any = 0;
    uint64_t h;
    size_t i;

    lane[0] = k1 ^ (uint64_t) off;
    lane[1] = k2 + (uint64_t) off;
    lane[2] = ~k1;
    lane[3] = ~k2 ^ ((uint64_t) off << 17);
    for (i = 0; i < DICT_DB_BLOCK; i += 8) {
        uint64_t w = dict_db_get64(block + i);
        uint64_t *l = &lane[(i >> 3) & 3];

        any |= w;
        *l ^= w * k1;
        *l = dict_db_rotl(*l, 31) * k2;
    }
    if (any == 0)
        return 0;
    h = dict_db_rotl(lane[0], 1) + dict_db_rotl(lane[1], 7)
        + dict_db_rotl(lane[2], 12) + dict_db_rotl(lane[3], 18);
    h ^= h >> 33;
    h *= k2;
    h ^= h >> 29;
    return h;
}

/*
 * A 64-bit digest of the first SIZE bytes of FD, with the seal bytes read
 * as zero: the sum of a per-block hash (four multiply-rotate lanes over
 * little-endian words, seeded with the block's offset) over every block
 * that is not all zeros. Zero blocks count for nothing, so the holes of a
 * sparse file (Berkeley DB hash files have them) are skipped unread and a
 * copy that fills them in keeps its seal. Enough to notice damage; no
 * defence against someone who may write the file (they could as well
 * write a valid table). 0, or -1 with errno set.
 */
static int dict_db_digest(int fd, off_t size, uint64_t *digest)
{
    unsigned char *chunk = mem_alloc(DICT_DB_CHUNK);
    uint64_t sum = 0;
    off_t data = 0;
    off_t hole;
    off_t off;
    ssize_t n;
    size_t i;

    while (data < size) {
        /* Skip holes where the file system tells us where they are. */
        if ((off = lseek(fd, data, SEEK_DATA)) < 0) {
            if (errno == ENXIO)
                break; /* only a hole is left */
            off = data;
            hole = size;
        } else if ((hole = lseek(fd, off, SEEK_HOLE)) < 0 || hole > size) {
            hole = size;
        }
        /* Whole blocks, each read once. */
        off -= off % DICT_DB_BLOCK;
        if (off < data)
            off = data;
        if (hole % DICT_DB_BLOCK)
            hole += DICT_DB_BLOCK - hole % DICT_DB_BLOCK;
        if (hole > size)
            hole = size;
        for (; off < hole; off += n) {
            size_t want = hole - off < DICT_DB_CHUNK ? (size_t) (hole - off)
                                                     : DICT_DB_CHUNK;

            n = dict_db_pread_full(fd, chunk, want, off);
            if (n <= 0) {
                if (n == 0)
                    errno = EIO; /* shorter than it said */
                mem_free(chunk);
                return -1;
            }
            if (off < DICT_DB_SEAL_OFF + DICT_DB_SEAL_LEN
                && off + n > DICT_DB_SEAL_OFF)
                memset(chunk + (DICT_DB_SEAL_OFF - off), 0, DICT_DB_SEAL_LEN);
            /* A partial last block is read as if padded with zeros. */
            if (n % DICT_DB_BLOCK)
                memset(chunk + n, 0, DICT_DB_BLOCK - n % DICT_DB_BLOCK);
            for (i = 0; i < (size_t) n; i += DICT_DB_BLOCK)
                sum += dict_db_block_digest(chunk + i, off + (off_t) i);
        }
        /* HOLE is block-aligned (or SIZE), so no block is seen twice. */
        data = hole > data ? hole : data + DICT_DB_BLOCK;
    }
    mem_free(chunk);
    sum ^= (uint64_t) size * 0x9E3779B97F4A7C15ULL;
    sum ^= sum >> 32;
    *digest = sum;
    return 0;
}

/* Does the meta page carry a seal that matches the file on FD? */
static int dict_db_sealed(int fd, const unsigned char *meta, off_t size)
{
    const unsigned char *seal = meta + DICT_DB_SEAL_OFF;
    uint64_t digest;

    if (memcmp(seal, DICT_DB_SEAL_MAGIC, 4) != 0
        || dict_db_word(seal + 4, 0) != DICT_DB_SEAL_VERSION
        || dict_db_get64(seal + 8) != (uint64_t) size)
        return 0;
    return dict_db_digest(fd, size, &digest) == 0
           && digest == dict_db_get64(seal + 16);
}

/*
 * Seal PATH, a table Berkeley DB just finished writing. With LOCK, hold
 * an exclusive lock meanwhile (the table is in use). 0, or -1 with errno.
 */
static int dict_db_seal(const char *path, int lock)
{
    unsigned char seal[DICT_DB_SEAL_LEN];
    struct stat sb;
    uint64_t digest;
    int saved;
    int fd;

    if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
        return -1;
    if (lock) {
        struct flock fl;

        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        while (fcntl(fd, F_SETLKW, &fl) < 0) {
            if (errno != EINTR)
                goto fail;
        }
    }
    if (fstat(fd, &sb) < 0 || sb.st_size < DB_META_READ
        || dict_db_digest(fd, sb.st_size, &digest) < 0)
        goto fail;
    memcpy(seal, DICT_DB_SEAL_MAGIC, 4);
    seal[4] = DICT_DB_SEAL_VERSION;
    seal[5] = seal[6] = seal[7] = 0;
    dict_db_put64(seal + 8, (uint64_t) sb.st_size);
    dict_db_put64(seal + 16, digest);
    if (pwrite(fd, seal, sizeof(seal), DICT_DB_SEAL_OFF)
        != (ssize_t) sizeof(seal))
        goto fail;
    return close(fd);

fail:
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* Collects Berkeley DB's first complaint while it verifies a file. */
static struct buf *dict_db_verify_msg;

static void dict_db_verify_errcall(const DB_ENV *env, const char *prefix,
                                   const char *text)
{
    (void) env;
    (void) prefix;
    if (dict_db_verify_msg != NULL && buf_len(dict_db_verify_msg) == 0)
        buf_puts(dict_db_verify_msg, text);
}

/*
 * Look at a file before Berkeley DB reads it. Berkeley DB trusts the page
 * contents it reads, and a damaged page can crash it, so a table is used
 * only when one of these holds:
 *   - it carries Postern's seal (written when Postern built or last
 *     changed it) and the file still matches the seal's digest;
 *   - it has Berkeley DB page checksums, which Berkeley DB checks itself;
 *   - Berkeley DB's verifier, run over the whole file here, accepts it
 *     (tables built by Postfix, or changed since they were sealed).
 * A file cut at a page boundary is caught first by comparing the meta
 * page's last page number with the file size. On success *SB holds the
 * identity of the file that was checked. Returns 0, or -1 with ERR set.
 */
static int dict_db_check_file(struct dict *d, struct dict_db *st, long cache,
                              struct stat *sb, struct buf *err)
{
    unsigned char meta[DB_META_READ];
    uint32_t magic;
    uint32_t pagesize;
    uint32_t last;
    int swap;
    int fd;
    int ret;
    DB *vdb;

    if ((fd = open(st->path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, sb) < 0) {
        buf_setf(err, "open database %s: %s", st->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (dict_db_pread_full(fd, meta, sizeof(meta), 0) != sizeof(meta)) {
        close(fd);
        return 0; /* Berkeley DB will say what is wrong with it */
    }
    magic = dict_db_word(meta + DB_META_MAGIC, 0);
    swap = magic != DB_MAGIC_HASH && magic != DB_MAGIC_BTREE;
    if (swap)
        magic = dict_db_word(meta + DB_META_MAGIC, 1);
    if (magic != DB_MAGIC_HASH && magic != DB_MAGIC_BTREE) {
        close(fd);
        return 0;
    }
    pagesize = dict_db_word(meta + DB_META_PAGESIZE, swap);
    last = dict_db_word(meta + DB_META_LAST_PGNO, swap);
    if ((long long) sb->st_size < ((long long) last + 1) * pagesize) {
        buf_setf(err,
                 "open database %s: file is truncated (%lld bytes, "
                 "expected at least %lld)",
                 st->path, (long long) sb->st_size,
                 ((long long) last + 1) * pagesize);
        close(fd);
        return -1;
    }
    /* A writer using DICT_LOCK must not change the file under the check. */
    if (d->flags & DICT_LOCK) {
        struct flock fl;

        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_RDLCK;
        fl.l_whence = SEEK_SET;
        while (fcntl(fd, F_SETLKW, &fl) < 0 && errno == EINTR)
            continue;
    }
    if (dict_db_sealed(fd, meta, sb->st_size)
        || (meta[DB_META_FLAGS] & DB_META_CHKSUM)) {
        close(fd);
        return 0;
    }
    if ((ret = db_create(&vdb, NULL, 0)) == 0) {
        dict_db_verify_msg = buf_new(128);
        vdb->set_errcall(vdb, dict_db_verify_errcall);
        vdb->set_msgcall(vdb, dict_db_msgcall);
        vdb->set_cachesize(vdb, 0, (u_int32_t) cache, 0);
        /* verify() destroys the handle, whatever it returns. */
        ret = vdb->verify(vdb, st->path, NULL, NULL, 0);
        if (ret != 0)
            buf_setf(err, "open database %s: damaged file: %s", st->path,
                     buf_len(dict_db_verify_msg) ? buf_str(dict_db_verify_msg)
                                                 : db_strerror(ret));
        buf_free(dict_db_verify_msg);
        dict_db_verify_msg = NULL;
    } else {
        buf_setf(err, "open database %s: %s", st->path, db_strerror(ret));
    }
    close(fd);
    return ret == 0 ? 0 : -1;
}

/*
 * DICT_CREATE: a temporary file beside NAME.db that takes NAME.db's mode
 * (or 0644 less the umask) and, for root, the source file's owner.
 */
static int dict_db_make_tmp(struct dict *d, struct dict_db *st, struct buf *err)
{
    struct buf *tmp = buf_new(strlen(st->path) + 16);
    struct stat sb;
    mode_t mode;
    int have_owner = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    int fd;

    if (stat(st->path, &sb) == 0) {
        mode = sb.st_mode & 07777;
        have_owner = 1;
        uid = sb.st_uid;
        gid = sb.st_gid;
    } else {
        mode_t mask = umask(0);

        umask(mask);
        mode = 0644 & ~mask;
    }
    if (stat(d->name, &sb) == 0 && S_ISREG(sb.st_mode)) {
        have_owner = 1;
        uid = sb.st_uid;
        gid = sb.st_gid;
    }
    buf_printf(tmp, "%s.XXXXXX", st->path);
    fd = mkstemp(buf_str(tmp));
    if (fd < 0) {
        buf_setf(err, "open database %s: %s", st->path, strerror(errno));
        buf_free(tmp);
        return -1;
    }
    if (fchmod(fd, mode) < 0
        || (have_owner && geteuid() == 0 && fchown(fd, uid, gid) < 0)) {
        buf_setf(err, "open database %s: %s", buf_str(tmp), strerror(errno));
        close(fd);
        unlink(buf_str(tmp));
        buf_free(tmp);
        return -1;
    }
    close(fd);
    st->tmp = buf_steal(tmp);
    return 0;
}

/* Give up on a half-opened table (removing a temporary file). */
static struct dict *dict_db_fail(struct dict *d)
{
    d->aborted = 1;
    dict_db_close(d);
    return NULL;
}

/*
 * Open FILE with Berkeley DB for the table D. A new table (DB_CREATE)
 * gets page checksums and, given NELEM entries, its final number of
 * buckets. Returns 0, or -1 with ERR set.
 */
static int dict_db_open_db(struct dict *d, const char *file, u_int32_t flags,
                           uint32_t nelem, uint32_t ffactor, struct buf *err)
{
    struct dict_db *st = d->priv;
    int ret;

    if ((ret = db_create(&st->db, NULL, 0)) != 0) {
        st->db = NULL;
        buf_setf(err, "open database %s: %s", st->path, db_strerror(ret));
        return -1;
    }
    st->db->set_errcall(st->db, dict_db_errcall);
    st->db->set_msgcall(st->db, dict_db_msgcall);
    st->db->set_cachesize(st->db, 0, (u_int32_t) st->cache, 0);
    if (flags & DB_CREATE) {
        st->db->set_pagesize(st->db, DICT_DB_PAGESIZE);
        if (st->dbtype == DB_HASH && nelem > 0) {
            st->db->set_h_ffactor(st->db, ffactor);
            st->db->set_h_nelem(st->db, nelem);
        }
    }
    ret = st->db->open(st->db, NULL, file, NULL, st->dbtype, flags, 0644);
    if (ret == 0)
        ret = st->db->fd(st->db, &st->fd);
    if (ret != 0) {
        buf_setf(err, "open database %s: %s", st->path, db_strerror(ret));
        dict_db_close_handle(st->db, NULL);
        st->db = NULL;
        return -1;
    }
    return 0;
}

static struct dict *dict_db_open(const char *type, DBTYPE dbtype,
                                 const char *name, int open_flags, int flags,
                                 struct buf *err)
{
    struct dict *d = dict_alloc(type, name, open_flags, flags | DICT_FIXED,
                                sizeof(struct dict_db));
    struct dict_db *st = d->priv;
    struct stat checked;
    struct stat now;
    int attempt;

    if ((d->flags & (DICT_TRY1NULL | DICT_TRY0NULL)) == 0)
        d->flags |= DICT_TRY1NULL | DICT_TRY0NULL;
    st->fd = -1;
    st->dbtype = dbtype;
    st->path = mem_alloc(strlen(name) + 4);
    memcpy(st->path, name, strlen(name));
    memcpy(st->path + strlen(name), ".db", 4);
    d->lookup = dict_db_lookup;
    d->hold = dict_db_hold;
    d->update = dict_db_update;
    d->delete = dict_db_delete;
    d->sequence = dict_db_sequence;
    d->close = dict_db_close;

    if (open_flags & DICT_CREATE) {
        /* Berkeley DB opens the file when the entries are written. */
        st->cache = var_berkeley_db_create_buffer_size > 0
                        ? var_berkeley_db_create_buffer_size
                        : DICT_DB_CREATE_CACHE;
        if (dict_db_make_tmp(d, st, err) < 0)
            return dict_db_fail(d);
        st->bulk = dict_db_bulk_new();
        return d;
    }
    st->cache = var_berkeley_db_read_buffer_size > 0
                    ? var_berkeley_db_read_buffer_size
                    : DICT_DB_READ_CACHE;

    /* A rebuild may rename a new file into place while we look: retry. */
    for (attempt = 1;; attempt++) {
        if (dict_db_check_file(d, st, st->cache, &checked, err) < 0
            || dict_db_open_db(d, st->path,
                               (open_flags & DICT_RDWR) ? 0 : DB_RDONLY, 0, 0,
                               err)
                   < 0)
            return dict_db_fail(d);
        if (fstat(st->fd, &now) < 0) {
            buf_setf(err, "open database %s: %s", st->path, strerror(errno));
            return dict_db_fail(d);
        }
        if (now.st_dev == checked.st_dev && now.st_ino == checked.st_ino)
            break;
        dict_db_close_handle(st->db, NULL);
        st->db = NULL;
        if (attempt >= DICT_DB_ATTEMPTS) {
            buf_setf(err, "open database %s: file keeps changing", st->path);
            return dict_db_fail(d);
        }
    }
    dict_remember_file(d, st->path);
    d->file_dev = now.st_dev;
    d->file_ino = now.st_ino;
    d->file_mtime_ns =
        (long long) now.st_mtim.tv_sec * 1000000000LL + now.st_mtim.tv_nsec;
    return d;
}

struct dict *dict_hash_open(const char *name, int open_flags, int flags,
                            struct buf *err)
{
    return dict_db_open("hash", DB_HASH, name, open_flags, flags, err);
}

struct dict *dict_btree_open(const char *name, int open_flags, int flags,
                             struct buf *err)
{
    return dict_db_open("btree", DB_BTREE, name, open_flags, flags, err);
}

struct dict *dict_dbm_open(const char *name, int open_flags, int flags,
                           struct buf *err)
{
    return dict_db_open("dbm", DB_HASH, name, open_flags, flags, err);
}
