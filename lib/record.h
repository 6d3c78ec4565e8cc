/*
 * record.h - typed, length-prefixed records: the byte format of queue
 * files and of the per-message status logs (DESIGN.md section 4).
 *
 * Callers: lib/queue_file.c (every queue file is written and read through
 * it), and through queue_file.h cleanup, qmgr, pickup, postdrop, bounce,
 * the delivery agents, postqueue and postsuper. The reader also runs over
 * a socket stream when records travel between processes.
 *
 * Errors: every call returns -1 on failure and keeps a reason in the
 * reader or writer: rec_reader_reason() / rec_writer_reason() give a
 * REC_ERR_* class and *_error() a one-line message naming the byte offset
 * ("truncated record at offset 123"). Nothing here is fatal except a
 * programming error in the writer's caller (an unknown record type), which
 * is a msg_panic. Data that came from a file is never trusted: a reader
 * that returns a record has checked its type and the shape of its data.
 *
 * ---- Byte format -----------------------------------------------------------
 *
 *   file    = version-record *record end-record     ; nothing after end
 *   log     = version-record *record                 ; status logs (no end)
 *   record  = type length data
 *   type    = 1 byte, one of the REC_* letters below
 *   length  = unsigned LEB128 varint, 1 to 5 bytes: 7 bits per byte, least
 *             significant group first, bit 0x80 set on every byte but the
 *             last; the shortest encoding only (no trailing 0x80 0x00
 *             groups); at most 0xffffffff; at most the reader's limit
 *   data    = exactly LENGTH bytes, shaped by the type:
 *
 *   type 'V' VERSION  text "postern 1" (REC_VERSION_TEXT); first record only
 *   type 'Z' SIZE     40 bytes: five INTs (struct rec_size), patched in
 *                     place at commit
 *   type 'T' TIME     INT: arrival time in microseconds since the epoch
 *   type 'W' WARN     INT: time (seconds) a delay warning is due, 0 = none;
 *                     patched in place by qmgr
 *   type 'F' FLAGS    INT: message flags (REC_FLAG_*)
 *   type 'S' SENDER   address, internal form, no NUL; empty = null sender
 *   type 'R' RCPT     recipient, see below; its first byte is patched
 *   type 'N' DSN_RET  INT: REC_DSN_RET_FULL or REC_DSN_RET_HDRS
 *   type 'I' DSN_ENVID text, no NUL (the ENVID, xtext-decoded)
 *   type 'A' ATTR     "name=value": name 1 or more bytes of [a-z0-9_],
 *                     value any bytes but NUL (client_name,
 *                     client_address, helo_name, sasl_method ...)
 *   type 'M' MESSAGE  empty: the content starts after this record
 *   type 'L' LINE     a content line without its line ending (any bytes)
 *   type 'P' PIECE    part of a long content line; the line goes on in
 *                     the next 'P' or 'L' record
 *   type 'X' XTRACTED empty: the content ended; recipients found in the
 *                     headers (sendmail -t), late attributes and flags
 *                     follow
 *   type 'Q' STATUS   one delivery result, see below (status logs)
 *   type 'E' END      empty: the file is complete; last record
 *
 *   INT     = 8 bytes, two's complement, most significant byte first
 *   FIELD   = LEB128 length (as above, within the record) + that many
 *             bytes, none of them NUL
 *
 *   RCPT    = status:1 notify:1 FIELD(address) FIELD(original recipient)
 *             FIELD(DSN ORCPT, "rfc822;user@example.com", may be empty)
 *             status: 'P' pending, 'D' delivered, 'B' bounced (failed and
 *             reported in the bounce log), 'X' dropped (duplicate,
 *             discarded); everything but 'P' means "done". The status byte
 *             sits at a fixed place (after the type and length bytes) so
 *             qmgr marks a recipient done with a one-byte pwrite + fsync:
 *             a one-byte write cannot be torn by a crash.
 *             notify: 0 = not given, else REC_NOTIFY_* bits.
 *   STATUS  = action:1 notify:1 INT(RCPT record offset, -1 if none)
 *             INT(time, microseconds) FIELD(address) FIELD(original)
 *             FIELD(ORCPT) FIELD(DSN status "5.1.1") FIELD(relay, e.g.
 *             "mx.example.com[192.0.2.1]:25") FIELD(reason text)
 *             action: REC_ACTION_* letters. RCPT and STATUS addresses
 *             are never empty.
 *
 * No trailing bytes are allowed inside a structured record. A change of
 * any of this is a new format version.
 */
#ifndef POSTERN_RECORD_H
#define POSTERN_RECORD_H

#include <stddef.h>

struct buf;
struct stream;

/* Record types. */
#define REC_VERSION   'V'
#define REC_SIZE      'Z'
#define REC_TIME      'T'
#define REC_WARN      'W'
#define REC_FLAGS     'F'
#define REC_SENDER    'S'
#define REC_RCPT      'R'
#define REC_DSN_RET   'N'
#define REC_DSN_ENVID 'I'
#define REC_ATTR      'A'
#define REC_MESSAGE   'M'
#define REC_LINE      'L'
#define REC_PIECE     'P'
#define REC_XTRACTED  'X'
#define REC_STATUS    'Q'
#define REC_END       'E'

#define REC_FORMAT_VERSION 1
#define REC_VERSION_TEXT   "postern 1"

/* Recipient status byte (RCPT). */
#define REC_RCPT_PENDING   'P'
#define REC_RCPT_DELIVERED 'D'
#define REC_RCPT_BOUNCED   'B'
#define REC_RCPT_DROPPED   'X'

/* DSN NOTIFY bits (RCPT, STATUS); 0 = NOTIFY not given. */
#define REC_NOTIFY_NEVER   0x01
#define REC_NOTIFY_SUCCESS 0x02
#define REC_NOTIFY_FAILURE 0x04
#define REC_NOTIFY_DELAY   0x08
#define REC_NOTIFY_MASK    0x0f

/* DSN RET (DSN_RET). */
#define REC_DSN_RET_FULL 1
#define REC_DSN_RET_HDRS 2

/* Message flags (FLAGS); unknown bits are kept, not refused. */
#define REC_FLAG_BOUNCE   0x01 /* a bounce or notice: never bounced again */
#define REC_FLAG_8BITMIME 0x02 /* BODY=8BITMIME */
#define REC_FLAG_SMTPUTF8 0x04 /* SMTPUTF8 requested */
#define REC_FLAG_HOLD     0x08 /* go to hold/ instead of active/ */
/* sendmail -t: take recipients from To:, Cc:, Bcc: (maildrop files only;
 * cleanup acts on it and never writes it into a queue file). */
#define REC_FLAG_EXTRACT 0x10

/* Delivery result (STATUS action). */
#define REC_ACTION_DELIVERED 'D' /* delivered (DSN "delivered") */
#define REC_ACTION_RELAYED   'R' /* to a non-DSN host (DSN "relayed") */
#define REC_ACTION_EXPANDED  'E' /* alias/list expansion (DSN "expanded") */
#define REC_ACTION_DEFERRED  'F' /* will retry (DSN "delayed") */
#define REC_ACTION_BOUNCED   'B' /* failed for good (DSN "failed") */

/* Why a reader or writer call failed. */
enum rec_reason {
    REC_OK = 0,
    REC_ERR_IO,        /* the stream failed: rec_*_stream_reason, errno */
    REC_ERR_TRUNCATED, /* input ended inside a record */
    REC_ERR_TOOLONG,   /* length over the reader's limit */
    REC_ERR_LENGTH,    /* bad length varint (over 5 bytes, not shortest) */
    REC_ERR_TYPE,      /* unknown record type */
    REC_ERR_VERSION,   /* missing, unsupported or misplaced version record */
    REC_ERR_DATA,      /* data does not have the shape its type requires */
    REC_ERR_NOEND,     /* input ended without an end record */
    REC_ERR_TRAILING,  /* bytes after the end record */
};

/* The SIZE record: where things are and how big; patched at commit. */
struct rec_size {
    long long content_offset;  /* file offset of the MESSAGE record */
    long long content_size;    /* message bytes with LF line ends */
    long long body_offset;     /* offset of the first body record; 0 = none */
    long long xtracted_offset; /* offset of the XTRACTED record */
    long long rcpt_count;      /* RCPT records written */
};

#define REC_INT_LEN  8
#define REC_SIZE_LEN 40

/* A decoded RCPT record (rec_rcpt_init allocates, rec_rcpt_free frees). */
struct rec_rcpt {
    int status;        /* REC_RCPT_* */
    int notify;        /* REC_NOTIFY_* bits, 0 = not given */
    struct buf *addr;  /* internal form */
    struct buf *orig;  /* original recipient ("" = unknown) */
    struct buf *orcpt; /* DSN ORCPT ("" = none) */
};

/* A STATUS record: both what rec_put_status writes and what it decodes. */
struct rec_status {
    int action;            /* REC_ACTION_* */
    int notify;            /* REC_NOTIFY_* of the recipient */
    long long rcpt_offset; /* RCPT record offset in the queue file, -1 */
    long long time_us;     /* when the result came */
    struct buf *addr;
    struct buf *orig;
    struct buf *orcpt;
    struct buf *dsn;    /* "2.0.0", "4.4.1", "5.1.1" */
    struct buf *relay;  /* "host[addr]:port", "local", "none" */
    struct buf *reason; /* text for the log and the DSN report */
};

/* ---- names and data codecs ---------------------------------------------- */

/* "sender", "rcpt" ...; NULL for an unknown type. */
const char *rec_type_name(int type);
/* Is TYPE one of the types above? */
int rec_type_known(int type);

void rec_int_encode(unsigned char out[REC_INT_LEN], long long value);
long long rec_int_decode(const unsigned char in[REC_INT_LEN]);
/* INT record data: 0 and *VALUE, or -1 when LEN is not 8. */
int rec_int_parse(const char *data, size_t len, long long *value);

void rec_size_encode(unsigned char out[REC_SIZE_LEN],
                     const struct rec_size *sz);
int rec_size_parse(const char *data, size_t len, struct rec_size *sz);

void rec_rcpt_init(struct rec_rcpt *r);
void rec_rcpt_free(struct rec_rcpt *r);
/* Append the RCPT data for these fields to OUT (ORIG/ORCPT NULL = ""). */
void rec_rcpt_encode(struct buf *out, int status, int notify, const char *addr,
                     const char *orig, const char *orcpt);
/* Decode RCPT data into R: 0, or -1 when it is malformed. */
int rec_rcpt_parse(const char *data, size_t len, struct rec_rcpt *r);

void rec_status_init(struct rec_status *st);
void rec_status_free(struct rec_status *st);
void rec_status_encode(struct buf *out, const struct rec_status *st);
int rec_status_parse(const char *data, size_t len, struct rec_status *st);

/* ATTR data: split "name=value"; 0, or -1 when malformed. */
int rec_attr_parse(const char *data, size_t len, const char **name,
                   size_t *name_len, const char **value, size_t *value_len);

/*
 * Check DATA against the shape TYPE requires (the checks the reader makes
 * on every record). 0, or -1 with a static message in *WHY.
 */
int rec_check(int type, const char *data, size_t len, const char **why);

/* Length of the varint encoding of LEN (1 to 5). */
size_t rec_varint_len(size_t len);
/* Append the header (type and length) of a record to OUT. */
void rec_header_encode(struct buf *out, int type, size_t len);

/* ---- writer ---------------------------------------------------------------
 */

struct rec_writer;

/*
 * A writer over S (borrowed: not flushed or closed by rec_writer_free).
 * OFFSET is where the stream stands in the file, for rec_writer_offset.
 */
struct rec_writer *rec_writer_new(struct stream *s, long long offset);
/*
 * A writer over FD with its own stream (no timeout: local files only).
 * rec_writer_free frees that stream without flushing and never closes FD.
 */
struct rec_writer *rec_writer_fd(int fd, long long offset);
void rec_writer_free(struct rec_writer *w);
struct stream *rec_writer_stream(struct rec_writer *w);

/*
 * Write one record. An unknown TYPE, or a length over 0xffffffff, is a
 * msg_panic (the caller's bug). Returns 0, or -1 (REC_ERR_IO; the first
 * write error sticks: every later call fails the same way).
 */
int rec_put(struct rec_writer *w, int type, const void *data, size_t len);
int rec_puts(struct rec_writer *w, int type, const char *str);
int rec_put_int(struct rec_writer *w, int type, long long value);
/* The VERSION record. */
int rec_put_version(struct rec_writer *w);
int rec_put_attr(struct rec_writer *w, const char *name, const char *value);
int rec_put_rcpt(struct rec_writer *w, int status, int notify, const char *addr,
                 const char *orig, const char *orcpt);
int rec_put_status(struct rec_writer *w, const struct rec_status *st);
int rec_put_size(struct rec_writer *w, const struct rec_size *sz);
/* Write out buffered records: 0, or -1. */
int rec_writer_flush(struct rec_writer *w);

/* Offset of the next record to be written. */
long long rec_writer_offset(const struct rec_writer *w);
/* Offsets of the record last written and of its data. */
long long rec_writer_last_offset(const struct rec_writer *w);
long long rec_writer_last_data_offset(const struct rec_writer *w);

int rec_writer_reason(const struct rec_writer *w);
/* errno of the failed write (ENOSPC, EDQUOT, EIO ...), 0 if none. */
int rec_writer_errno(const struct rec_writer *w);
const char *rec_writer_error(const struct rec_writer *w);

/* ---- reader ---------------------------------------------------------------
 */

struct rec_reader;

/*
 * Reader flags. REC_READ_LOG: a status log, without an END record; input
 * that ends at a record boundary ends the log. REC_READ_STREAM: records on
 * a connection; after END do not look for trailing bytes (more may
 * follow).
 */
#define REC_READ_LOG    0x1
#define REC_READ_STREAM 0x2

/*
 * A reader over S (borrowed), which stands at OFFSET in its file. LIMIT
 * is the longest record data accepted (REC_ERR_TOOLONG above it; 0 is
 * taken as 1 MiB).
 */
struct rec_reader *rec_reader_new(struct stream *s, long long offset,
                                  size_t limit, int flags);
/* A reader over FD with its own stream (no timeout); FD is never closed. */
struct rec_reader *rec_reader_fd(int fd, long long offset, size_t limit,
                                 int flags);
void rec_reader_free(struct rec_reader *r);

/*
 * Read the next record into DATA (reset first). Returns its type (> 0),
 * 0 when there is nothing more (after END was returned, or at the end of
 * a log), or -1 with the reason kept. The first record must be VERSION
 * (it is returned too); END is returned once and only after checking
 * that nothing follows it (unless REC_READ_STREAM). After -1 every later
 * call fails again with the same reason.
 */
int rec_get(struct rec_reader *r, struct buf *data);

/* Offset of the type byte of the record last returned, and of its data. */
long long rec_reader_offset(const struct rec_reader *r);
long long rec_reader_data_offset(const struct rec_reader *r);
/*
 * Go on reading at OFFSET (a record boundary the caller got from
 * rec_reader_offset or a SIZE record) of a file whose version record was
 * read. Only for rec_reader_fd readers: the descriptor is repositioned
 * and the buffered input dropped. 0, or -1 (REC_ERR_IO).
 */
int rec_reader_seek(struct rec_reader *r, long long offset);

int rec_reader_reason(const struct rec_reader *r);
/* errno of a REC_ERR_IO failure (0 for a timeout or end of input). */
int rec_reader_errno(const struct rec_reader *r);
/* The stream's own reason (STREAM_TIMEOUT ...) of a REC_ERR_IO failure. */
int rec_reader_stream_reason(const struct rec_reader *r);
const char *rec_reader_error(const struct rec_reader *r);

#endif
