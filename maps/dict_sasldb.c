/*
 * dict_sasldb.c - the sasldb: table type: read-only access to a Cyrus SASL
 * sasldb2 file, so that users made with Cyrus' saslpasswd2 can log in.
 *
 * sasldb:/etc/sasldb2 names the file itself (no suffix is added). It is a
 * Berkeley DB file whose keys are "user NUL realm NUL property" (no
 * trailing NUL) and whose values are the property's bytes; only the
 * "userPassword" property is used. A lookup key "user@realm" splits at
 * the last '@'; a key without '@' uses the default realm, which is
 * $myhostname (what saslpasswd2 uses when not given -u). The answer is
 * the password. Sequence lists "user@realm" and password for every user.
 * User names are case-sensitive in Cyrus, so keys are never folded. The
 * file is verified when opened (Cyrus writes no page checksums), so a
 * damaged one is refused rather than read.
 *
 * Callers: dict_open() via the registry (the auth daemon's user maps).
 * Errors: open failures are NULL plus "open database PATH: reason";
 * read problems LOOKUP_ERR_TEMP/CONFIG with the reason in d->err.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <db.h>

#include "buf.h"
#include "dict.h"
#include "dict_impl.h"
#include "msg.h"
#include "params.h"

#define SASLDB_PROPERTY "userPassword"

struct dict_sasldb {
    DB *db;
    DBC *cursor;
    int fd;
    struct buf *key; /* the binary key being looked up */
};

static void dict_sasldb_errcall(const DB_ENV *env, const char *prefix,
                                const char *text)
{
    (void) env;
    (void) prefix;
    msg_warn("Berkeley DB: %s", text);
}

/* Verification complaints: the error message says enough. */
static void dict_sasldb_quiet(const DB_ENV *env, const char *prefix,
                              const char *text)
{
    (void) env;
    (void) prefix;
    (void) text;
}

/* Berkeley DB's informational output must not reach stdout. */
static void dict_sasldb_msgcall(const DB_ENV *env, const char *text)
{
    (void) env;
    (void) text;
}

static enum lookup_status dict_sasldb_error(struct dict *d, int ret)
{
    buf_setf(d->err, "read database %s: %s", d->name, db_strerror(ret));
    if (ret == EIO || ret == EAGAIN || ret == EINTR || ret == ENOMEM)
        return LOOKUP_ERR_TEMP;
    return LOOKUP_ERR_CONFIG;
}

static int dict_sasldb_lock(struct dict *d, short type)
{
    struct dict_sasldb *st = d->priv;
    struct flock fl;

    if (!(d->flags & DICT_LOCK))
        return 0;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    while (fcntl(st->fd, F_SETLKW, &fl) < 0) {
        if (errno == EINTR)
            continue;
        buf_setf(d->err, "lock %s: %s", d->name, strerror(errno));
        return -1;
    }
    return 0;
}

/* The realm for a user name given without one. */
static const char *dict_sasldb_default_realm(struct buf *scratch)
{
    char host[256];

    if (var_myhostname != NULL && *var_myhostname != 0)
        return var_myhostname;
    if (gethostname(host, sizeof(host) - 1) != 0)
        return "localhost";
    host[sizeof(host) - 1] = 0;
    buf_set(scratch, host);
    return buf_str(scratch);
}

static enum lookup_status dict_sasldb_lookup(struct dict *d, const char *key,
                                             struct buf *value)
{
    struct dict_sasldb *st = d->priv;
    const char *at = strrchr(key, '@');
    enum lookup_status status;
    DBT k;
    DBT v;
    int ret;

    buf_reset(st->key);
    if (at != NULL) {
        buf_append(st->key, key, (size_t) (at - key));
        buf_putc(st->key, 0);
        buf_puts(st->key, at + 1);
    } else {
        struct buf *scratch = buf_new(64);

        buf_puts(st->key, key);
        buf_putc(st->key, 0);
        buf_puts(st->key, dict_sasldb_default_realm(scratch));
        buf_free(scratch);
    }
    buf_putc(st->key, 0);
    buf_puts(st->key, SASLDB_PROPERTY);

    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = buf_str(st->key);
    k.size = (u_int32_t) buf_len(st->key);
    if (dict_sasldb_lock(d, F_RDLCK) < 0)
        return LOOKUP_ERR_TEMP;
    ret = st->db->get(st->db, NULL, &k, &v, 0);
    if (ret == 0) {
        buf_append(value, v.data, v.size);
        status = LOOKUP_FOUND;
    } else if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY) {
        status = LOOKUP_NOTFOUND;
    } else {
        status = dict_sasldb_error(d, ret);
    }
    if (dict_sasldb_lock(d, F_UNLCK) < 0 && status == LOOKUP_FOUND)
        status = LOOKUP_ERR_TEMP;
    return status;
}

/*
 * Split a stored key "user NUL realm NUL property" into "user@realm" when
 * the property is the password. Returns 1 when it is, else 0.
 */
static int dict_sasldb_user(const DBT *k, struct buf *key)
{
    const char *data = k->data;
    const char *user_end = memchr(data, 0, k->size);
    const char *realm;
    const char *realm_end;
    size_t rest;

    if (user_end == NULL)
        return 0;
    realm = user_end + 1;
    rest = k->size - (size_t) (realm - data);
    if ((realm_end = memchr(realm, 0, rest)) == NULL)
        return 0;
    rest = k->size - (size_t) (realm_end + 1 - data);
    if (rest != strlen(SASLDB_PROPERTY)
        || memcmp(realm_end + 1, SASLDB_PROPERTY, rest) != 0)
        return 0;
    buf_append(key, data, (size_t) (user_end - data));
    buf_putc(key, '@');
    buf_append(key, realm, (size_t) (realm_end - realm));
    return 1;
}

static enum lookup_status dict_sasldb_sequence(struct dict *d, int how,
                                               struct buf *key,
                                               struct buf *value)
{
    struct dict_sasldb *st = d->priv;
    enum lookup_status status = LOOKUP_NOTFOUND;
    u_int32_t op;
    DBT k;
    DBT v;
    int ret;

    if (dict_sasldb_lock(d, F_RDLCK) < 0)
        return LOOKUP_ERR_TEMP;
    if (how == DICT_SEQ_FIRST && st->cursor != NULL) {
        st->cursor->close(st->cursor);
        st->cursor = NULL;
    }
    op = DB_NEXT;
    if (st->cursor == NULL) {
        if ((ret = st->db->cursor(st->db, NULL, &st->cursor, 0)) != 0) {
            st->cursor = NULL;
            dict_sasldb_lock(d, F_UNLCK);
            return dict_sasldb_error(d, ret);
        }
        op = DB_FIRST;
    }
    for (;;) {
        memset(&k, 0, sizeof(k));
        memset(&v, 0, sizeof(v));
        ret = st->cursor->get(st->cursor, &k, &v, op);
        op = DB_NEXT;
        if (ret != 0) {
            if (ret != DB_NOTFOUND)
                status = dict_sasldb_error(d, ret);
            st->cursor->close(st->cursor);
            st->cursor = NULL;
            break;
        }
        buf_reset(key);
        if (dict_sasldb_user(&k, key)) {
            buf_append(value, v.data, v.size);
            status = LOOKUP_FOUND;
            break;
        }
    }
    if (dict_sasldb_lock(d, F_UNLCK) < 0 && status == LOOKUP_FOUND)
        status = LOOKUP_ERR_TEMP;
    return status;
}

/*
 * Cyrus writes sasldb2 without page checksums, and Berkeley DB trusts the
 * pages it reads: verify the (small) file before using it, so a damaged
 * one is an error instead of a crash. 0, or -1 with ERR set.
 */
static int dict_sasldb_verify(const char *path, struct buf *err)
{
    DB *vdb;
    int ret;

    if ((ret = db_create(&vdb, NULL, 0)) == 0) {
        vdb->set_errcall(vdb, dict_sasldb_quiet);
        vdb->set_msgcall(vdb, dict_sasldb_msgcall);
        /* verify() destroys the handle, whatever it returns. */
        ret = vdb->verify(vdb, path, NULL, NULL, 0);
    }
    if (ret == 0)
        return 0;
    if (ret == DB_VERIFY_BAD)
        buf_setf(err, "open database %s: damaged file", path);
    else
        buf_setf(err, "open database %s: %s", path, db_strerror(ret));
    return -1;
}

static int dict_sasldb_close(struct dict *d)
{
    struct dict_sasldb *st = d->priv;

    if (st->db != NULL) {
        DB_ENV *env = st->db->get_env(st->db);

        /* Close even after a damaged page made Berkeley DB give up. */
        if (env != NULL)
            env->set_flags(env, DB_NOPANIC, 1);
        if (st->cursor != NULL)
            st->cursor->close(st->cursor);
        st->db->close(st->db, 0);
    }
    buf_free(st->key);
    dict_free(d);
    return 0;
}

struct dict *dict_sasldb_open(const char *name, int open_flags, int flags,
                              struct buf *err)
{
    struct dict_sasldb *st;
    struct dict *d;
    int ret;

    if (open_flags & (DICT_RDWR | DICT_CREATE)) {
        buf_setf(err, "sasldb:%s map requires O_RDONLY access mode", name);
        return NULL;
    }
    if (access(name, R_OK) < 0) {
        buf_setf(err, "open database %s: %s", name, strerror(errno));
        return NULL;
    }
    if (dict_sasldb_verify(name, err) < 0)
        return NULL;
    d = dict_alloc("sasldb", name, open_flags, flags,
                   sizeof(struct dict_sasldb));
    st = d->priv;
    st->fd = -1;
    st->key = buf_new(64);
    d->lookup = dict_sasldb_lookup;
    d->sequence = dict_sasldb_sequence;
    d->close = dict_sasldb_close;

    if ((ret = db_create(&st->db, NULL, 0)) != 0) {
        st->db = NULL;
        buf_setf(err, "open database %s: %s", name, db_strerror(ret));
        dict_sasldb_close(d);
        return NULL;
    }
    st->db->set_errcall(st->db, dict_sasldb_errcall);
    st->db->set_msgcall(st->db, dict_sasldb_msgcall);
    ret = st->db->open(st->db, NULL, name, NULL, DB_UNKNOWN, DB_RDONLY, 0);
    if (ret == 0)
        ret = st->db->fd(st->db, &st->fd);
    if (ret != 0) {
        buf_setf(err, "open database %s: %s", name, db_strerror(ret));
        dict_sasldb_close(d);
        return NULL;
    }
    dict_remember_file(d, name);
    return d;
}
