/*
 * fuzz_record.c - libFuzzer target for lib/record.c (the queue file record
 * reader) and the structure checks of lib/queue_file.c.
 *
 * Built and run by tests/fuzz/run. The first input byte picks the reader
 * flags (bit 0 REC_READ_LOG, bit 1 REC_READ_STREAM), a record length limit
 * (bits 2-5: 0 = the default, else 16 * n bytes) and, with bit 7, whether
 * the rest is also written to a queue file and read through qf_open /
 * qf_read (incoming/ or, with bit 0, the defer/ log). The rest is the file.
 * Besides sanitizer findings, a broken invariant aborts:
 *   - a failure is exactly -1 with a reason and a non-empty message, and
 *     it sticks;
 *   - every record returned passes rec_check, and its structured data
 *     decodes;
 *   - the records returned, written again, give exactly the bytes read
 *     (the format is canonical), and a clean end in file mode consumed
 *     the whole input.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "queue_file.h"
#include "record.h"
#include "stream.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void check_decodes(int type, const struct buf *data)
{
    const char *why;
    long long num;

    check(rec_check(type, buf_str(data), buf_len(data), &why) == 0);
    switch (type) {
    case REC_RCPT: {
        struct rec_rcpt r;

        rec_rcpt_init(&r);
        check(rec_rcpt_parse(buf_str(data), buf_len(data), &r) == 0);
        check(buf_len(r.addr) > 0);
        rec_rcpt_free(&r);
        break;
    }
    case REC_STATUS: {
        struct rec_status st;
        struct buf *again = buf_new(0);

        rec_status_init(&st);
        check(rec_status_parse(buf_str(data), buf_len(data), &st) == 0);
        rec_status_encode(again, &st);
        check(buf_len(again) == buf_len(data)
              && memcmp(buf_str(again), buf_str(data), buf_len(data)) == 0);
        rec_status_free(&st);
        buf_free(again);
        break;
    }
    case REC_SIZE: {
        struct rec_size sz;

        check(rec_size_parse(buf_str(data), buf_len(data), &sz) == 0);
        break;
    }
    case REC_TIME:
    case REC_WARN:
    case REC_FLAGS:
    case REC_DSN_RET:
        check(rec_int_parse(buf_str(data), buf_len(data), &num) == 0);
        break;
    default:
        break;
    }
}

/* The queue folder, made once per process and removed at exit. */
static char root[] = "/tmp/fuzz_record.XXXXXX";

static void remove_root(void)
{
    static const char *const names[] = {
        QF_MAILDROP, QF_INCOMING,   QF_ACTIVE,    QF_DEFERRED,  QF_HOLD,
        QF_CORRUPT,  QF_LOG_BOUNCE, QF_LOG_DEFER, QF_LOG_TRACE,
    };
    char path[sizeof(root) + 32];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, names[i]);
        (void) rmdir(path);
    }
    (void) rmdir(root);
}

static void queue_root(void)
{
    static int made;

    if (!made) {
        check(mkdtemp(root) != NULL);
        qf_set_root(root);
        check(qf_make_dirs() == 0);
        atexit(remove_root);
        made = 1;
    }
}

static void fuzz_queue_file(const uint8_t *data, size_t size, int log)
{
    static const char id[] = "0000000000000A"; /* a valid queue ID */
    const char *queue = log ? QF_LOG_DEFER : QF_INCOMING;
    struct buf *path = buf_new(0);
    struct buf *rec = buf_new(0);
    struct qf_reader *r;
    int fd;

    queue_root();
    qf_path(path, queue, id);
    fd = open(buf_str(path), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { /* a hashed log folder: make it through the API once */
        struct qf_log *l = qf_log_open(queue, id);

        if (l)
            qf_log_close(l);
        fd = open(buf_str(path), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    }
    check(fd >= 0);
    check(write(fd, data, size) == (ssize_t) size);
    close(fd);
    r = qf_open(queue, id, 0);
    if (r == NULL) {
        check(qf_reason() != QF_OK && qf_error()[0] != 0);
    } else {
        int type;

        while ((type = qf_read(r, rec)) > 0)
            check_decodes(type, rec);
        if (type < 0) {
            check(type == -1);
            check(qf_reason() == QF_ERR_CORRUPT);
            check(qf_read(r, rec) == -1);
        }
        qf_close(r);
    }
    unlink(buf_str(path));
    buf_free(path);
    buf_free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf *rec;
    struct buf *again;
    struct stream *s;
    struct stream *ws;
    struct rec_reader *r;
    struct rec_writer *w;
    size_t limit;
    int flags = 0;
    int mode;
    int type;

    if (size == 0)
        return 0;
    mode = data[0];
    if (mode & 1)
        flags |= REC_READ_LOG;
    if (mode & 2)
        flags |= REC_READ_STREAM;
    limit = (size_t) ((mode >> 2) & 0xf) * 16;
    data++;
    size--;

    rec = buf_new(0);
    again = buf_new(0);
    s = stream_open_mem(data, size, NULL);
    r = rec_reader_new(s, 0, limit, flags);
    ws = stream_open_mem(NULL, 0, again);
    w = rec_writer_new(ws, 0);
    while ((type = rec_get(r, rec)) > 0) {
        check(rec_type_known(type));
        check(limit == 0 || buf_len(rec) <= limit);
        check_decodes(type, rec);
        check(rec_reader_data_offset(r) > rec_reader_offset(r));
        check(rec_put(w, type, buf_str(rec), buf_len(rec)) == 0);
        check(rec_writer_last_offset(w) == rec_reader_offset(r));
    }
    check(rec_writer_flush(w) == 0);
    /* What was read is exactly what writing it again gives. */
    check(buf_len(again) <= size);
    check(memcmp(buf_str(again), data, buf_len(again)) == 0);
    if (type < 0) {
        check(type == -1);
        check(rec_reader_reason(r) != REC_OK);
        check(rec_reader_error(r)[0] != 0);
        check(rec_get(r, rec) == -1);
    } else if (!(flags & REC_READ_STREAM)) {
        check(buf_len(again) == size);
    }
    rec_writer_free(w);
    stream_close(ws);
    rec_reader_free(r);
    stream_close(s);
    buf_free(rec);
    buf_free(again);

    if (mode & 0x80)
        fuzz_queue_file(data, size, mode & 1);
    return 0;
}
