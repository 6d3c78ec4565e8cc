/*
 * queue_file.c - queue files, status logs and queue folders (see
 * queue_file.h for the structure and the durability rules).
 *
 * Called by cleanup, postdrop, pickup, qmgr, bounce, the delivery agents,
 * postqueue and postsuper. Errors: -1 or NULL with qf_reason()/qf_error()
 * set; misuse by the caller is a msg_panic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"
#include "msg.h"
#include "params.h"
#include "queue_file.h"
#include "queue_id.h"
#include "record.h"

#define QF_TEMP_SUFFIX  ".tmp"
#define QF_HASH_MAX     10 /* deepest hashing honoured */
#define QF_CREATE_TRIES 10 /* new IDs tried when a name exists */

static const char *const qf_queues[] = {
    QF_MAILDROP, QF_INCOMING,   QF_ACTIVE,    QF_DEFERRED,  QF_HOLD,
    QF_CORRUPT,  QF_LOG_BOUNCE, QF_LOG_DEFER, QF_LOG_TRACE,
};

#define QF_NQUEUES (sizeof(qf_queues) / sizeof(qf_queues[0]))

/* ---- errors ----------------------------------------------------------- */

static struct buf *qf_why;
static int qf_why_reason;

static int qf_vfail(int reason, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static int qf_vfail(int reason, const char *fmt, va_list ap)
{
    if (qf_why == NULL)
        qf_why = buf_new(128);
    buf_reset(qf_why);
    buf_vprintf(qf_why, fmt, ap);
    qf_why_reason = reason;
    return -1;
}

static int qf_fail(int reason, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int qf_fail(int reason, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    qf_vfail(reason, fmt, ap);
    va_end(ap);
    return -1;
}

/* The reason a failed system call with errno ERR stands for. */
static int qf_errno_reason(int err)
{
    if (err == ENOSPC || err == EDQUOT)
        return QF_ERR_NOSPACE;
    if (err == EEXIST)
        return QF_ERR_EXISTS;
    return QF_ERR_IO;
}

/* "WHAT PATH: strerror(ERR)" with the reason ERR stands for. */
static int qf_fail_sys(int err, const char *what, const char *path)
{
    return qf_fail(qf_errno_reason(err), "%s %s: %s", what, path,
                   strerror(err));
}

int qf_reason(void)
{
    return qf_why_reason;
}

const char *qf_error(void)
{
    return qf_why ? buf_str(qf_why) : "";
}

/* ---- folders and names ------------------------------------------------ */

static char *qf_rootdir;

void qf_set_root(const char *dir)
{
    mem_free(qf_rootdir);
    qf_rootdir = (dir && *dir) ? mem_strdup(dir) : NULL;
}

int qf_queue_known(const char *name)
{
    size_t i;

    for (i = 0; i < QF_NQUEUES; i++)
        if (strcmp(name, qf_queues[i]) == 0)
            return 1;
    return 0;
}

static int qf_is_log(const char *queue)
{
    return strcmp(queue, QF_LOG_BOUNCE) == 0 || strcmp(queue, QF_LOG_DEFER) == 0
           || strcmp(queue, QF_LOG_TRACE) == 0;
}

static void qf_check_queue(const char *queue)
{
    if (queue == NULL || !qf_queue_known(queue))
        msg_panic("queue_file: unknown queue \"%s\"", queue ? queue : "(null)");
}

int qf_name_valid(const char *name)
{
    return queue_id_valid(name);
}

int qf_temp_name(const char *name)
{
    size_t len = strlen(name);
    char id[QUEUE_ID_LEN + 1];

    if (len != QUEUE_ID_LEN + strlen(QF_TEMP_SUFFIX)
        || strcmp(name + QUEUE_ID_LEN, QF_TEMP_SUFFIX) != 0)
        return 0;
    memcpy(id, name, QUEUE_ID_LEN);
    id[QUEUE_ID_LEN] = 0;
    return queue_id_valid(id);
}

/* Levels of hash subfolders for QUEUE (hash_queue_names, _depth). */
static int qf_hash_depth(const char *queue)
{
    const char *cp = var_hash_queue_names;
    size_t qlen = strlen(queue);
    int depth;

    if (cp == NULL)
        return 0;
    while (*cp) {
        size_t n;

        cp += strspn(cp, ", \t\r\n");
        n = strcspn(cp, ", \t\r\n");
        if (n == qlen && strncasecmp(cp, queue, n) == 0) {
            depth = var_hash_queue_depth < 1 ? 1 : var_hash_queue_depth;
            return depth > QF_HASH_MAX ? QF_HASH_MAX : depth;
        }
        cp += n;
    }
    return 0;
}

/* OUT = the folder of QUEUE itself. */
static void qf_queue_dir(struct buf *out, const char *queue)
{
    buf_reset(out);
    if (qf_rootdir) {
        buf_puts(out, qf_rootdir);
        buf_putc(out, '/');
    }
    buf_puts(out, queue);
}

/* OUT = the folder that holds NAME in QUEUE (with hash subfolders). */
static void qf_file_dir(struct buf *out, const char *queue, const char *name)
{
    int depth = qf_hash_depth(queue);
    int level;

    qf_queue_dir(out, queue);
    for (level = 0; level < depth; level++) {
        buf_putc(out, '/');
        buf_putc(out, queue_id_hash_char(name, level));
    }
}

void qf_path(struct buf *out, const char *queue, const char *name)
{
    qf_file_dir(out, queue, name);
    buf_putc(out, '/');
    buf_puts(out, name);
}

/* Open PATH (read-only, plus FLAGS), fsync, close. 0, or -1 with errno. */
static int qf_fsync_path(const char *path, int flags)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    int saved;

    if (fd < 0)
        return -1;
    if (fsync(fd) < 0) {
        saved = errno;
        (void) close(fd);
        errno = saved;
        return -1;
    }
    return close(fd);
}

static int qf_fsync_dir(const char *path)
{
    return qf_fsync_path(path, O_DIRECTORY);
}

/*
 * A folder the writer may add files to but not read (postdrop, setgid,
 * into maildrop/ of mode 1730) cannot be opened to fsync it. The rename
 * changed the ctime of the file itself, so fsync the file once more: on
 * journaling file systems (ext4, xfs, btrfs) that commits the journal
 * transaction holding the rename too. Cheaper than syncfs(), which would
 * write out every dirty file of the file system. 0, or -1 with errno.
 */
static int qf_sync_renamed(const char *path)
{
    return qf_fsync_path(path, 0);
}

/*
 * Make the hash subfolders that hold NAME in QUEUE. A new folder's parent
 * is synced, so the folder (and later the file in it) survives a crash.
 * 0, or -1 with qf_error set.
 */
static int qf_make_hash_dirs(const char *queue, const char *name)
{
    int depth = qf_hash_depth(queue);
    struct buf *path;
    int level;
    int ret = 0;

    if (depth == 0)
        return 0;
    path = buf_new(128);
    qf_queue_dir(path, queue);
    for (level = 0; level < depth && ret == 0; level++) {
        size_t parent_len = buf_len(path);

        buf_putc(path, '/');
        buf_putc(path, queue_id_hash_char(name, level));
        if (mkdir(buf_str(path), 0700) == 0) {
            char save = buf_str(path)[parent_len];

            buf_str(path)[parent_len] = 0;
            if (qf_fsync_dir(buf_str(path)) < 0)
                ret = qf_fail_sys(errno, "fsync folder", buf_str(path));
            buf_str(path)[parent_len] = save;
        } else if (errno != EEXIST) {
            ret = qf_fail_sys(errno, "create folder", buf_str(path));
        }
    }
    buf_free(path);
    return ret;
}

int qf_make_dirs(void)
{
    struct buf *path = buf_new(128);
    size_t i;
    int ret = 0;

    for (i = 0; i < QF_NQUEUES && ret == 0; i++) {
        qf_queue_dir(path, qf_queues[i]);
        if (mkdir(buf_str(path), 0700) < 0 && errno != EEXIST)
            ret = qf_fail_sys(errno, "create folder", buf_str(path));
    }
    buf_free(path);
    return ret;
}

/* ---- writing ---------------------------------------------------------- */

enum qfw_state { W_ENV, W_CONTENT, W_XTRACTED, W_DONE, W_FAILED };

struct qf_writer {
    char *queue;
    struct buf *id;
    struct buf *dir;  /* folder of the file */
    struct buf *tmp;  /* ID.tmp path */
    struct buf *path; /* final path */
    int fd;
    struct rec_writer *rw;
    enum qfw_state state;
    int finished;    /* committed, or removed: nothing to undo */
    struct buf *why; /* the failure, repeated by later calls */
    int why_reason;
    long long size_data; /* offset of the SIZE record's data */
    struct rec_size size;
    int piece_open;   /* the last content record was a PIECE */
    int body_pending; /* qf_mark_body: next content record is body */
};

/* A write failed: remember why; the writer is dead from now on. */
static int qf_writer_fail(struct qf_writer *w)
{
    int err = rec_writer_errno(w->rw);

    w->state = W_FAILED;
    qf_fail(qf_errno_reason(err ? err : EIO), "%s: queue file %s: %s",
            buf_str(w->id), buf_str(w->tmp), rec_writer_error(w->rw));
    w->why_reason = qf_reason();
    buf_set(w->why, qf_error());
    return -1;
}

/* A later call on a failed writer reports the first failure again. */
static int qf_writer_refail(struct qf_writer *w)
{
    if (w->why_reason == QF_OK)
        return qf_fail(QF_ERR_IO, "%s: queue file already failed",
                       buf_str(w->id));
    return qf_fail(w->why_reason, "%s", buf_str(w->why));
}

struct qf_writer *qf_create(const char *queue)
{
    struct qf_writer *w;
    struct rec_size zero;
    int tries;

    qf_check_queue(queue);
    if (qf_is_log(queue))
        msg_panic("qf_create: %s is a log, not a queue", queue);
    w = mem_calloc(1, sizeof(*w));
    w->queue = mem_strdup(queue);
    w->id = buf_new(QUEUE_ID_LEN + 1);
    w->dir = buf_new(64);
    w->tmp = buf_new(64);
    w->path = buf_new(64);
    w->why = buf_new(64);
    w->fd = -1;
    for (tries = 0; tries < QF_CREATE_TRIES; tries++) {
        buf_reset(w->id);
        queue_id_new(w->id);
        qf_file_dir(w->dir, queue, buf_str(w->id));
        buf_setf(w->path, "%s/%s", buf_str(w->dir), buf_str(w->id));
        buf_setf(w->tmp, "%s%s", buf_str(w->path), QF_TEMP_SUFFIX);
        if (qf_make_hash_dirs(queue, buf_str(w->id)) < 0)
            break;
        w->fd = open(buf_str(w->tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                     0600);
        if (w->fd < 0 && errno == EEXIST)
            continue;
        if (w->fd < 0)
            qf_fail_sys(errno, "create queue file", buf_str(w->tmp));
        break;
    }
    if (w->fd < 0) {
        if (tries == QF_CREATE_TRIES)
            qf_fail(QF_ERR_EXISTS, "create queue file %s: %s", buf_str(w->tmp),
                    strerror(EEXIST));
        w->finished = 1; /* nothing to remove */
        qf_writer_free(w);
        return NULL;
    }
    w->rw = rec_writer_fd(w->fd, 0);
    memset(&zero, 0, sizeof(zero));
    if (rec_put_version(w->rw) < 0 || rec_put_size(w->rw, &zero) < 0) {
        qf_writer_fail(w);
        qf_writer_free(w);
        return NULL;
    }
    w->size_data = rec_writer_last_data_offset(w->rw);
    w->state = W_ENV;
    return w;
}

const char *qf_writer_id(const struct qf_writer *w)
{
    return buf_str(w->id);
}

int qf_writer_fd(const struct qf_writer *w)
{
    return w->fd;
}

/* May the caller write TYPE now? */
static int qf_type_allowed(enum qfw_state state, int type)
{
    switch (state) {
    case W_ENV:
        return type == REC_TIME || type == REC_WARN || type == REC_FLAGS
               || type == REC_SENDER || type == REC_RCPT || type == REC_DSN_RET
               || type == REC_DSN_ENVID || type == REC_ATTR;
    case W_XTRACTED:
        return type == REC_RCPT || type == REC_ATTR || type == REC_FLAGS;
    default:
        return 0;
    }
}

int qf_put(struct qf_writer *w, int type, const void *data, size_t len)
{
    const char *why;

    if (w->state == W_FAILED)
        return qf_writer_refail(w);
    if (!qf_type_allowed(w->state, type))
        msg_panic("qf_put: %s record not allowed here",
                  rec_type_name(type) ? rec_type_name(type) : "unknown");
    if (rec_check(type, data, len, &why) < 0)
        msg_panic("qf_put: bad %s record: %s", rec_type_name(type), why);
    if (rec_put(w->rw, type, data, len) < 0)
        return qf_writer_fail(w);
    if (type == REC_RCPT)
        w->size.rcpt_count++;
    return 0;
}

int qf_puts(struct qf_writer *w, int type, const char *str)
{
    return qf_put(w, type, str, strlen(str));
}

int qf_put_int(struct qf_writer *w, int type, long long value)
{
    unsigned char num[REC_INT_LEN];

    rec_int_encode(num, value);
    return qf_put(w, type, num, sizeof(num));
}

int qf_put_attr(struct qf_writer *w, const char *name, const char *value)
{
    struct buf *data = buf_new(strlen(name) + strlen(value) + 2);
    int ret;

    buf_puts(data, name);
    buf_putc(data, '=');
    buf_puts(data, value);
    ret = qf_put(w, REC_ATTR, buf_str(data), buf_len(data));
    buf_free(data);
    return ret;
}

int qf_put_rcpt(struct qf_writer *w, int notify, const char *addr,
                const char *orig, const char *orcpt)
{
    struct buf *data = buf_new(128);
    int ret;

    if (addr == NULL || *addr == 0)
        msg_panic("qf_put_rcpt: empty recipient address");
    rec_rcpt_encode(data, REC_RCPT_PENDING, notify, addr, orig, orcpt);
    ret = qf_put(w, REC_RCPT, buf_str(data), buf_len(data));
    buf_free(data);
    return ret;
}

int qf_begin_content(struct qf_writer *w)
{
    if (w->state == W_FAILED)
        return qf_writer_refail(w);
    if (w->state != W_ENV)
        msg_panic("qf_begin_content: content already started");
    w->size.content_offset = rec_writer_offset(w->rw);
    if (rec_put(w->rw, REC_MESSAGE, "", 0) < 0)
        return qf_writer_fail(w);
    w->state = W_CONTENT;
    return 0;
}

/* One content record, noting where the body starts. */
static int qf_put_content(struct qf_writer *w, int type, const char *data,
                          size_t len)
{
    if (w->body_pending) {
        w->size.body_offset = rec_writer_offset(w->rw);
        w->body_pending = 0;
    }
    if (rec_put(w->rw, type, data, len) < 0)
        return qf_writer_fail(w);
    w->size.content_size += (long long) len + (type == REC_LINE ? 1 : 0);
    w->piece_open = type == REC_PIECE;
    return 0;
}

int qf_put_text(struct qf_writer *w, const char *data, size_t len, int partial)
{
    if (w->state == W_FAILED)
        return qf_writer_refail(w);
    if (w->state != W_CONTENT)
        msg_panic("qf_put_text: not in the content");
    while (len > QF_PIECE_MAX) {
        if (qf_put_content(w, REC_PIECE, data, QF_PIECE_MAX) < 0)
            return -1;
        data += QF_PIECE_MAX;
        len -= QF_PIECE_MAX;
    }
    if (partial && len == 0)
        return 0;
    return qf_put_content(w, partial ? REC_PIECE : REC_LINE, data, len);
}

void qf_mark_body(struct qf_writer *w)
{
    if (w->state == W_CONTENT && w->size.body_offset == 0)
        w->body_pending = 1;
}

long long qf_content_size(const struct qf_writer *w)
{
    return w->size.content_size;
}

int qf_end_content(struct qf_writer *w)
{
    if (w->state == W_ENV && qf_begin_content(w) < 0)
        return -1;
    if (w->state == W_FAILED)
        return qf_writer_refail(w);
    if (w->state != W_CONTENT)
        msg_panic("qf_end_content: content already ended");
    /* A line left open by the caller ends here. */
    if (w->piece_open && qf_put_content(w, REC_LINE, "", 0) < 0)
        return -1;
    w->size.xtracted_offset = rec_writer_offset(w->rw);
    if (w->body_pending) {
        w->size.body_offset = w->size.xtracted_offset;
        w->body_pending = 0;
    }
    if (rec_put(w->rw, REC_XTRACTED, "", 0) < 0)
        return qf_writer_fail(w);
    w->state = W_XTRACTED;
    return 0;
}

/* Undo an unfinished file: close and remove it. */
static void qf_writer_discard(struct qf_writer *w)
{
    if (w->fd >= 0) {
        (void) close(w->fd);
        w->fd = -1;
    }
    if (!w->finished)
        (void) unlink(buf_str(w->tmp));
    w->finished = 1;
    w->state = W_FAILED;
}

/* rename without replacing an existing file where the system can. */
static int qf_rename_new(const char *from, const char *to)
{
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
#endif
    return rename(from, to);
}

int qf_commit(struct qf_writer *w)
{
    unsigned char size[REC_SIZE_LEN];
    ssize_t n;
    int fd;

    if (w->state == W_DONE)
        msg_panic("qf_commit: %s committed twice", buf_str(w->id));
    if (w->state == W_ENV && qf_begin_content(w) < 0)
        goto failed;
    if (w->state == W_CONTENT && qf_end_content(w) < 0)
        goto failed;
    if (w->state != W_XTRACTED) {
        qf_writer_refail(w);
        goto failed;
    }
    if (rec_put(w->rw, REC_END, "", 0) < 0 || rec_writer_flush(w->rw) < 0) {
        qf_writer_fail(w);
        goto failed;
    }
    rec_size_encode(size, &w->size);
    n = pwrite(w->fd, size, sizeof(size), (off_t) w->size_data);
    if (n != (ssize_t) sizeof(size)) {
        qf_fail_sys(n < 0 ? errno : EIO, "write queue file", buf_str(w->tmp));
        goto failed;
    }
    if (fsync(w->fd) < 0) {
        qf_fail_sys(errno, "fsync queue file", buf_str(w->tmp));
        goto failed;
    }
    rec_writer_free(w->rw);
    w->rw = NULL;
    fd = w->fd;
    w->fd = -1;
    if (close(fd) < 0) {
        qf_fail_sys(errno, "close queue file", buf_str(w->tmp));
        goto failed;
    }
    if (qf_rename_new(buf_str(w->tmp), buf_str(w->path)) < 0) {
        qf_fail_sys(errno, "rename queue file to", buf_str(w->path));
        goto failed;
    }
    w->finished = 1;
    if (qf_fsync_dir(buf_str(w->dir)) < 0
        && (errno != EACCES || qf_sync_renamed(buf_str(w->path)) < 0)) {
        /*
         * The name may not survive a crash: say so, and take the file
         * back so that the client's retry is not a second copy.
         */
        qf_fail_sys(errno, "fsync queue folder", buf_str(w->dir));
        (void) unlink(buf_str(w->path));
        w->state = W_FAILED;
        return -1;
    }
    w->state = W_DONE;
    return 0;

failed:
    qf_writer_discard(w);
    return -1;
}

void qf_writer_free(struct qf_writer *w)
{
    if (w == NULL)
        return;
    if (w->rw) {
        rec_writer_free(w->rw);
        w->rw = NULL;
    }
    if (!w->finished || w->fd >= 0)
        qf_writer_discard(w);
    mem_free(w->queue);
    buf_free(w->id);
    buf_free(w->dir);
    buf_free(w->tmp);
    buf_free(w->path);
    buf_free(w->why);
    mem_free(w);
}

/* ---- reading ---------------------------------------------------------- */

enum qfr_state { R_ENV, R_CONTENT, R_XTRACTED, R_DONE, R_LOG };

struct qf_reader {
    char *queue;
    char *id;
    int fd;
    int flags;
    int is_log;
    struct rec_reader *rr;
    struct rec_size size;
    enum qfr_state state;
    int expect;     /* type the next record must have, or 0 */
    int sequential; /* read from the start: whole-file checks apply */
    int piece_open;
    int seen_sender;
    int seen_time;
    long attrs;
    long long rcpts;
    int failed;
    struct buf *why; /* the failure, repeated on later calls */
};

static int qf_reader_fail(struct qf_reader *r, int reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int qf_reader_fail(struct qf_reader *r, int reason, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    qf_vfail(reason, fmt, ap);
    va_end(ap);
    r->failed = reason;
    buf_set(r->why, qf_error());
    return -1;
}

static int qf_reader_corrupt(struct qf_reader *r, const char *what, int type)
{
    return qf_reader_fail(r, QF_ERR_CORRUPT, "%s/%s: %s%s%s at offset %lld",
                          r->queue, r->id, what, type ? " " : "",
                          type ? rec_type_name(type) : "",
                          rec_reader_offset(r->rr));
}

/* A failed rec_get: I/O stays I/O, everything else is corruption. */
static int qf_reader_rec_fail(struct qf_reader *r)
{
    int reason =
        rec_reader_reason(r->rr) == REC_ERR_IO ? QF_ERR_IO : QF_ERR_CORRUPT;

    if (reason == QF_ERR_IO && rec_reader_errno(r->rr) != 0)
        reason = qf_errno_reason(rec_reader_errno(r->rr));
    return qf_reader_fail(r, reason, "%s/%s: %s", r->queue, r->id,
                          rec_reader_error(r->rr));
}

struct qf_reader *qf_open(const char *queue, const char *id, int flags)
{
    struct qf_reader *r;
    struct buf *path;
    struct buf *data;
    int type;

    qf_check_queue(queue);
    if (!qf_name_valid(id)) {
        qf_fail(QF_ERR_GONE, "%s: not a queue ID", id);
        return NULL;
    }
    path = buf_new(64);
    qf_path(path, queue, id);
    r = mem_calloc(1, sizeof(*r));
    r->queue = mem_strdup(queue);
    r->id = mem_strdup(id);
    r->flags = flags;
    r->is_log = qf_is_log(queue);
    r->why = buf_new(64);
    r->fd = open(buf_str(path),
                 ((flags & QF_OPEN_RDWR) ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (r->fd < 0) {
        int err = errno;

        qf_fail(err == ENOENT ? QF_ERR_GONE : qf_errno_reason(err),
                "open %s: %s", buf_str(path), strerror(err));
        buf_free(path);
        qf_close(r);
        return NULL;
    }
    /* A log that is being appended to is read after the writer is done. */
    if (r->is_log && flock(r->fd, LOCK_SH) < 0) {
        qf_fail_sys(errno, "lock", buf_str(path));
        buf_free(path);
        qf_close(r);
        return NULL;
    }
    buf_free(path);
    r->rr =
        rec_reader_fd(r->fd, 0, QF_RECORD_MAX, r->is_log ? REC_READ_LOG : 0);
    r->sequential = 1;
    data = buf_new(64);
    if ((type = rec_get(r->rr, data)) != REC_VERSION) {
        if (type < 0)
            qf_reader_rec_fail(r);
        else
            qf_reader_corrupt(r, "missing version record", 0);
    } else if (r->is_log) {
        r->state = R_LOG;
    } else if ((type = rec_get(r->rr, data)) != REC_SIZE) {
        if (type < 0)
            qf_reader_rec_fail(r);
        else
            qf_reader_corrupt(r, "missing size record", 0);
    } else {
        (void) rec_size_parse(buf_str(data), buf_len(data), &r->size);
        if (r->size.content_offset == 0 || r->size.xtracted_offset == 0)
            qf_reader_corrupt(r, "incomplete size record", 0);
        r->state = R_ENV;
    }
    buf_free(data);
    if (r->failed) {
        qf_close(r);
        return NULL;
    }
    return r;
}

void qf_close(struct qf_reader *r)
{
    if (r == NULL)
        return;
    rec_reader_free(r->rr);
    if (r->fd >= 0)
        (void) close(r->fd);
    mem_free(r->queue);
    mem_free(r->id);
    buf_free(r->why);
    mem_free(r);
}

const char *qf_reader_id(const struct qf_reader *r)
{
    return r->id;
}

const char *qf_reader_queue(const struct qf_reader *r)
{
    return r->queue;
}

const struct rec_size *qf_size(const struct qf_reader *r)
{
    return r->is_log ? NULL : &r->size;
}

/* The structure rules of queue_file.h for one record. */
static int qf_check_structure(struct qf_reader *r, int type)
{
    long long off = rec_reader_offset(r->rr);

    if (r->expect && type != r->expect)
        return qf_reader_corrupt(r, "unexpected", type);
    r->expect = 0;
    switch (r->state) {
    case R_LOG:
        if (type != REC_STATUS)
            return qf_reader_corrupt(r, "unexpected", type);
        return 0;
    case R_ENV:
        switch (type) {
        case REC_SENDER:
            if (r->seen_sender++)
                return qf_reader_corrupt(r, "second", type);
            return 0;
        case REC_TIME:
            if (r->seen_time++)
                return qf_reader_corrupt(r, "second", type);
            return 0;
        case REC_RCPT:
            r->rcpts++;
            return 0;
        case REC_ATTR:
            r->attrs++;
            break;
        case REC_WARN:
        case REC_FLAGS:
        case REC_DSN_RET:
        case REC_DSN_ENVID:
            return 0;
        case REC_MESSAGE:
            if (off != r->size.content_offset)
                return qf_reader_corrupt(r, "misplaced", type);
            r->state = R_CONTENT;
            return 0;
        default:
            return qf_reader_corrupt(r, "unexpected", type);
        }
        break;
    case R_CONTENT:
        switch (type) {
        case REC_LINE:
        case REC_PIECE:
            r->piece_open = type == REC_PIECE;
            return 0;
        case REC_XTRACTED:
            if (r->piece_open)
                return qf_reader_corrupt(r, "unfinished line before", type);
            if (off != r->size.xtracted_offset)
                return qf_reader_corrupt(r, "misplaced", type);
            r->state = R_XTRACTED;
            return 0;
        default:
            return qf_reader_corrupt(r, "unexpected", type);
        }
        break;
    case R_XTRACTED:
        switch (type) {
        case REC_RCPT:
            r->rcpts++;
            return 0;
        case REC_FLAGS:
            return 0;
        case REC_ATTR:
            r->attrs++;
            break;
        case REC_END:
            r->state = R_DONE;
            if (!r->sequential)
                return 0;
            if (!r->seen_sender)
                return qf_reader_corrupt(r, "missing sender record before",
                                         type);
            if (!r->seen_time)
                return qf_reader_corrupt(r, "missing time record before", type);
            if (r->rcpts != r->size.rcpt_count)
                return qf_reader_corrupt(r, "recipient count mismatch", 0);
            return 0;
        default:
            return qf_reader_corrupt(r, "unexpected", type);
        }
        break;
    case R_DONE:
        return qf_reader_corrupt(r, "unexpected", type);
    }
    /* An ATTR record. */
    if (var_queue_file_attribute_count_limit > 0
        && r->attrs > var_queue_file_attribute_count_limit)
        return qf_reader_corrupt(r, "too many attributes", 0);
    return 0;
}

int qf_read(struct qf_reader *r, struct buf *data)
{
    int type;

    if (r->failed) {
        qf_fail(r->failed, "%s", buf_str(r->why));
        return -1;
    }
    type = rec_get(r->rr, data);
    if (type < 0)
        return qf_reader_rec_fail(r);
    if (type == 0)
        return 0;
    if (qf_check_structure(r, type) < 0)
        return -1;
    return type;
}

long long qf_offset(const struct qf_reader *r)
{
    return rec_reader_offset(r->rr);
}

static int qf_reader_seek(struct qf_reader *r, long long offset, int expect,
                          enum qfr_state state)
{
    if (r->is_log)
        msg_panic("qf_seek: %s/%s is a log", r->queue, r->id);
    if (r->failed) {
        qf_fail(r->failed, "%s", buf_str(r->why));
        return -1;
    }
    if (rec_reader_seek(r->rr, offset) < 0)
        return qf_reader_rec_fail(r);
    r->expect = expect;
    r->state = state;
    r->sequential = 0;
    r->piece_open = 0;
    return 0;
}

int qf_seek_content(struct qf_reader *r)
{
    return qf_reader_seek(r, r->size.content_offset, REC_MESSAGE, R_ENV);
}

int qf_skip_content(struct qf_reader *r)
{
    return qf_reader_seek(r, r->size.xtracted_offset, REC_XTRACTED, R_CONTENT);
}

/*
 * Check that a TYPE record with data of at least MIN_LEN bytes starts at
 * OFFSET; return the offset of its data, or -1 with qf_error set.
 */
static long long qf_record_at(struct qf_reader *r, long long offset, int type,
                              size_t min_len, size_t *lenp)
{
    unsigned char hdr[1 + 5];
    size_t len = 0;
    size_t vlen;
    ssize_t n;
    int i;

    if (!(r->flags & QF_OPEN_RDWR))
        msg_panic("qf_mark: %s/%s not opened for update", r->queue, r->id);
    if (offset <= 0) {
        qf_fail(QF_ERR_CORRUPT, "%s/%s: no %s record at offset %lld", r->queue,
                r->id, rec_type_name(type), offset);
        return -1;
    }
    n = pread(r->fd, hdr, sizeof(hdr), (off_t) offset);
    if (n < 0) {
        qf_fail_sys(errno, "read queue file", r->id);
        return -1;
    }
    /* Decode the length varint (shortest form, as the reader requires). */
    for (i = 1; i < n && i <= 5; i++) {
        len |= (size_t) (hdr[i] & 0x7f) << (7 * (i - 1));
        if (!(hdr[i] & 0x80))
            break;
    }
    vlen = (size_t) i;
    if (n < 2 || hdr[0] != type || i >= n || i > 5 || len < min_len) {
        qf_fail(QF_ERR_CORRUPT, "%s/%s: no %s record at offset %lld", r->queue,
                r->id, rec_type_name(type), offset);
        return -1;
    }
    *lenp = len;
    return offset + 1 + (long long) vlen;
}

/* Patch one status byte (no sync). */
static int qf_patch_rcpt(struct qf_reader *r, long long offset, int status)
{
    size_t len;
    long long pos = qf_record_at(r, offset, REC_RCPT, 2, &len);
    unsigned char old;
    unsigned char c = (unsigned char) status;

    if (pos < 0)
        return -1;
    if (pread(r->fd, &old, 1, (off_t) pos) != 1
        || (old != REC_RCPT_PENDING && old != REC_RCPT_DELIVERED
            && old != REC_RCPT_BOUNCED && old != REC_RCPT_DROPPED))
        return qf_fail(QF_ERR_CORRUPT, "%s/%s: bad recipient at offset %lld",
                       r->queue, r->id, offset);
    if (pwrite(r->fd, &c, 1, (off_t) pos) != 1)
        return qf_fail_sys(errno, "update queue file", r->id);
    return 0;
}

int qf_mark_rcpts(struct qf_reader *r, const long long *offsets, size_t n,
                  int status)
{
    size_t i;

    if (status != REC_RCPT_DELIVERED && status != REC_RCPT_BOUNCED
        && status != REC_RCPT_DROPPED)
        msg_panic("qf_mark_rcpt: bad status %d", status);
    for (i = 0; i < n; i++)
        if (qf_patch_rcpt(r, offsets[i], status) < 0)
            return -1;
    if (n > 0 && fdatasync(r->fd) < 0)
        return qf_fail_sys(errno, "fdatasync queue file", r->id);
    return 0;
}

int qf_mark_rcpt(struct qf_reader *r, long long offset, int status)
{
    return qf_mark_rcpts(r, &offset, 1, status);
}

int qf_set_warn(struct qf_reader *r, long long offset, long long when)
{
    size_t len;
    long long pos = qf_record_at(r, offset, REC_WARN, REC_INT_LEN, &len);
    unsigned char num[REC_INT_LEN];

    if (pos < 0)
        return -1;
    if (len != REC_INT_LEN)
        return qf_fail(QF_ERR_CORRUPT, "%s/%s: bad warn record at %lld",
                       r->queue, r->id, offset);
    rec_int_encode(num, when);
    if (pwrite(r->fd, num, sizeof(num), (off_t) pos) != (ssize_t) sizeof(num))
        return qf_fail_sys(errno, "update queue file", r->id);
    if (fdatasync(r->fd) < 0)
        return qf_fail_sys(errno, "fdatasync queue file", r->id);
    return 0;
}

/* ---- status logs ------------------------------------------------------ */

struct qf_log {
    char *log;
    char *id;
    int fd;
    int created;
    struct buf *dir;
    struct rec_writer *rw;
};

/* Free without syncing. */
static void qf_log_release(struct qf_log *l)
{
    rec_writer_free(l->rw);
    if (l->fd >= 0)
        (void) close(l->fd);
    mem_free(l->log);
    mem_free(l->id);
    buf_free(l->dir);
    mem_free(l);
}

/*
 * Find the end of the last whole record of the log on L->fd; cut off a
 * record torn by a crash. Returns that offset, or -1 (corrupt or I/O).
 */
static long long qf_log_scan(struct qf_log *l, const char *path)
{
    struct rec_reader *rr =
        rec_reader_fd(l->fd, 0, QF_RECORD_MAX, REC_READ_LOG);
    struct buf *data = buf_new(256);
    long long end = 0;
    int type;

    while ((type = rec_get(rr, data)) > 0) {
        if (type != (end == 0 ? REC_VERSION : REC_STATUS)) {
            qf_fail(QF_ERR_CORRUPT, "%s: unexpected %s record at offset %lld",
                    path, rec_type_name(type), rec_reader_offset(rr));
            end = -1;
            break;
        }
        end = rec_reader_data_offset(rr) + (long long) buf_len(data);
    }
    if (type < 0) {
        if (rec_reader_reason(rr) == REC_ERR_TRUNCATED) {
            msg_warn("%s: cutting off a record torn at offset %lld", path, end);
            if (ftruncate(l->fd, (off_t) end) < 0) {
                qf_fail_sys(errno, "truncate", path);
                end = -1;
            }
        } else if (rec_reader_reason(rr) == REC_ERR_IO) {
            qf_fail(QF_ERR_IO, "%s: %s", path, rec_reader_error(rr));
            end = -1;
        } else {
            qf_fail(QF_ERR_CORRUPT, "%s: %s", path, rec_reader_error(rr));
            end = -1;
        }
    }
    buf_free(data);
    rec_reader_free(rr);
    return end;
}

struct qf_log *qf_log_open(const char *log, const char *id)
{
    struct qf_log *l;
    struct buf *path;
    long long end = 0;
    struct stat st;

    qf_check_queue(log);
    if (!qf_is_log(log))
        msg_panic("qf_log_open: %s is not a log", log);
    if (!qf_name_valid(id)) {
        qf_fail(QF_ERR_GONE, "%s: not a queue ID", id);
        return NULL;
    }
    l = mem_calloc(1, sizeof(*l));
    l->log = mem_strdup(log);
    l->id = mem_strdup(id);
    l->dir = buf_new(64);
    l->fd = -1;
    path = buf_new(64);
    qf_file_dir(l->dir, log, id);
    qf_path(path, log, id);
    if (qf_make_hash_dirs(log, id) < 0)
        goto failed;
    l->fd = open(buf_str(path), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (l->fd >= 0)
        l->created = 1;
    else if (errno == EEXIST)
        l->fd = open(buf_str(path), O_RDWR | O_CLOEXEC);
    if (l->fd < 0) {
        qf_fail_sys(errno, "open log", buf_str(path));
        goto failed;
    }
    if (flock(l->fd, LOCK_EX) < 0 || fstat(l->fd, &st) < 0) {
        qf_fail_sys(errno, "lock log", buf_str(path));
        goto failed;
    }
    if (st.st_size > 0 && (end = qf_log_scan(l, buf_str(path))) < 0)
        goto failed;
    if (lseek(l->fd, (off_t) end, SEEK_SET) < 0) {
        qf_fail_sys(errno, "seek log", buf_str(path));
        goto failed;
    }
    l->rw = rec_writer_fd(l->fd, end);
    if (end == 0
        && (rec_put_version(l->rw) < 0 || rec_writer_flush(l->rw) < 0)) {
        int err = rec_writer_errno(l->rw);

        qf_fail(qf_errno_reason(err ? err : EIO), "%s: %s", buf_str(path),
                rec_writer_error(l->rw));
        goto failed;
    }
    buf_free(path);
    return l;

failed:
    buf_free(path);
    qf_log_release(l);
    return NULL;
}

int qf_log_append(struct qf_log *l, const struct rec_status *st)
{
    if (rec_put_status(l->rw, st) < 0 || rec_writer_flush(l->rw) < 0) {
        int err = rec_writer_errno(l->rw);

        return qf_fail(qf_errno_reason(err ? err : EIO), "%s/%s: %s", l->log,
                       l->id, rec_writer_error(l->rw));
    }
    return 0;
}

int qf_log_close(struct qf_log *l)
{
    int ret = 0;

    if (rec_writer_flush(l->rw) < 0) {
        int err = rec_writer_errno(l->rw);

        ret = qf_fail(qf_errno_reason(err ? err : EIO), "%s/%s: %s", l->log,
                      l->id, rec_writer_error(l->rw));
    } else if (fsync(l->fd) < 0) {
        ret = qf_fail_sys(errno, "fsync log", l->id);
    } else if (l->created && qf_fsync_dir(buf_str(l->dir)) < 0) {
        ret = qf_fail_sys(errno, "fsync folder", buf_str(l->dir));
    }
    rec_writer_free(l->rw);
    l->rw = NULL;
    if (close(l->fd) < 0 && ret == 0)
        ret = qf_fail_sys(errno, "close log", l->id);
    l->fd = -1;
    qf_log_release(l);
    return ret;
}

/* ---- moving and removing ---------------------------------------------- */

static int qf_rename(const char *id, const char *from, const char *to, int sync)
{
    struct buf *src;
    struct buf *dst;
    struct buf *dir;
    int ret = 0;

    qf_check_queue(from);
    qf_check_queue(to);
    if (!qf_name_valid(id))
        return qf_fail(QF_ERR_GONE, "%s: not a queue ID", id);
    if (qf_make_hash_dirs(to, id) < 0)
        return -1;
    src = buf_new(64);
    dst = buf_new(64);
    dir = buf_new(64);
    qf_path(src, from, id);
    qf_path(dst, to, id);
    qf_file_dir(dir, to, id);
    if (rename(buf_str(src), buf_str(dst)) < 0) {
        int err = errno;

        ret = qf_fail(err == ENOENT ? QF_ERR_GONE : qf_errno_reason(err),
                      "rename %s to %s: %s", buf_str(src), buf_str(dst),
                      strerror(err));
    } else if (sync && qf_fsync_dir(buf_str(dir)) < 0) {
        ret = qf_fail_sys(errno, "fsync folder", buf_str(dir));
    }
    buf_free(src);
    buf_free(dst);
    buf_free(dir);
    return ret;
}

int qf_move(const char *id, const char *from, const char *to)
{
    return qf_rename(id, from, to, 1);
}

int qf_move_lazy(const char *id, const char *from, const char *to)
{
    return qf_rename(id, from, to, 0);
}

int qf_move_corrupt(const char *id, const char *from, const char *why)
{
    if (qf_move(id, from, QF_CORRUPT) < 0) {
        msg_warn("%s: corrupt queue file %s/%s (%s): cannot move it to the "
                 "corrupt queue: %s",
                 id, from, id, why, qf_error());
        return -1;
    }
    msg_warn("%s: corrupt queue file %s/%s (%s): moved to the corrupt queue",
             id, from, id, why);
    return 0;
}

int qf_touch(const char *queue, const char *id, long long when)
{
    struct buf *path;
    struct timespec times[2];
    int ret = 0;

    qf_check_queue(queue);
    if (!qf_name_valid(id))
        return qf_fail(QF_ERR_GONE, "%s: not a queue ID", id);
    path = buf_new(64);
    qf_path(path, queue, id);
    times[0].tv_sec = times[1].tv_sec = (time_t) when;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    if (utimensat(AT_FDCWD, buf_str(path), times, 0) < 0) {
        int err = errno;

        ret = qf_fail(err == ENOENT ? QF_ERR_GONE : qf_errno_reason(err),
                      "set time of %s: %s", buf_str(path), strerror(err));
    }
    buf_free(path);
    return ret;
}

int qf_remove(const char *queue, const char *name)
{
    struct buf *path;
    int ret = 0;

    qf_check_queue(queue);
    if (!qf_name_valid(name) && !qf_temp_name(name))
        return qf_fail(QF_ERR_GONE, "%s: not a queue file name", name);
    path = buf_new(64);
    qf_path(path, queue, name);
    if (unlink(buf_str(path)) < 0) {
        int err = errno;

        ret = qf_fail(err == ENOENT ? QF_ERR_GONE : qf_errno_reason(err),
                      "remove %s: %s", buf_str(path), strerror(err));
    }
    buf_free(path);
    return ret;
}

/* ---- scanning --------------------------------------------------------- */

struct qf_scan {
    char *queue;
    int flags;
    int depth;          /* hash levels */
    int level;          /* current level, 0 = the queue folder */
    DIR **dirs;         /* open folder per level */
    struct buf **paths; /* their paths */
};

static int hash_char_ok(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
           || (c >= 'a' && c <= 'z');
}

struct qf_scan *qf_scan_open(const char *queue, int flags)
{
    struct qf_scan *s;
    int i;

    qf_check_queue(queue);
    s = mem_calloc(1, sizeof(*s));
    s->queue = mem_strdup(queue);
    s->flags = flags;
    s->depth = qf_hash_depth(queue);
    s->dirs = mem_calloc((size_t) s->depth + 1, sizeof(*s->dirs));
    s->paths = mem_calloc((size_t) s->depth + 1, sizeof(*s->paths));
    for (i = 0; i <= s->depth; i++)
        s->paths[i] = buf_new(64);
    qf_queue_dir(s->paths[0], queue);
    if ((s->dirs[0] = opendir(buf_str(s->paths[0]))) == NULL) {
        qf_fail_sys(errno, "open queue folder", buf_str(s->paths[0]));
        qf_scan_close(s);
        return NULL;
    }
    return s;
}

/* Does NAME belong in the hash folders the scan is in? */
static int qf_scan_placed(const struct qf_scan *s, const char *name)
{
    int level;

    for (level = 0; level < s->depth; level++) {
        const char *path = buf_str(s->paths[level + 1]);
        size_t len = buf_len(s->paths[level + 1]);

        if (path[len - 1] != queue_id_hash_char(name, level))
            return 0;
    }
    return 1;
}

int qf_scan_next(struct qf_scan *s, struct buf *name)
{
    for (;;) {
        struct dirent *de;
        const char *n;

        if (s->dirs[s->level] == NULL)
            return 0;
        errno = 0;
        if ((de = readdir(s->dirs[s->level])) == NULL) {
            if (errno != 0)
                return qf_fail_sys(errno, "read queue folder",
                                   buf_str(s->paths[s->level]));
            if (s->level == 0)
                return 0;
            (void) closedir(s->dirs[s->level]);
            s->dirs[s->level] = NULL;
            s->level--;
            continue;
        }
        n = de->d_name;
        if (s->level < s->depth) {
            DIR *sub;
            struct buf *p = s->paths[s->level + 1];

            if (!hash_char_ok((unsigned char) n[0]) || n[1] != 0)
                continue;
            buf_setf(p, "%s/%s", buf_str(s->paths[s->level]), n);
            if ((sub = opendir(buf_str(p))) == NULL) {
                if (errno == ENOTDIR || errno == ENOENT)
                    continue;
                return qf_fail_sys(errno, "open queue folder", buf_str(p));
            }
            s->level++;
            s->dirs[s->level] = sub;
            continue;
        }
        if ((s->flags & QF_SCAN_TEMP) ? !qf_temp_name(n) : !qf_name_valid(n))
            continue;
        if (!qf_scan_placed(s, n))
            continue;
        buf_set(name, n);
        return 1;
    }
}

void qf_scan_close(struct qf_scan *s)
{
    int i;

    if (s == NULL)
        return;
    for (i = 0; i <= s->depth; i++) {
        if (s->dirs[i])
            (void) closedir(s->dirs[i]);
        buf_free(s->paths[i]);
    }
    mem_free(s->dirs);
    mem_free(s->paths);
    mem_free(s->queue);
    mem_free(s);
}
