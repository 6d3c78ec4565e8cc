/*
 * queue_file.h - queue files and queue folders (DESIGN.md section 4).
 *
 * Callers: cleanup and postdrop write new files (qf_create ... qf_commit);
 * qmgr scans incoming/ and deferred/, moves files between queues, reads
 * envelopes, marks recipients done and keeps the defer/bounce logs;
 * delivery agents read content; postqueue and postsuper list, move and
 * remove files.
 *
 * Layout: QUEUE_ROOT/QUEUE[/H1[/H2...]]/ID where QUEUE is one of the names
 * below; queues listed in hash_queue_names get hash_queue_depth levels of
 * one-character subfolders taken from the ID (queue_id_hash_char). The
 * root is the current directory (daemons chdir to queue_directory before
 * they chroot) unless qf_set_root() names one.
 *
 * A queue file is a record file (record.h) with this structure, checked
 * by the reader; anything else is "corrupt":
 *     VERSION SIZE envelope* MESSAGE content* XTRACTED extracted* END
 *     envelope  = TIME SENDER RCPT ATTR FLAGS WARN DSN_RET DSN_ENVID
 *                 (TIME and SENDER exactly once)
 *     content   = LINE, PIECE (a PIECE is always followed by more of the
 *                 same line: PIECE or LINE)
 *     extracted = RCPT ATTR FLAGS
 * SIZE holds the offsets of MESSAGE and XTRACTED, the content size and the
 * recipient count; the writer patches it just before the file is synced.
 * FLAGS may come in both sections (a header_checks HOLD is known only
 * after the envelope was written): a reader ORs their bits.
 * A status log (bounce/, defer/, trace/) is VERSION STATUS*, appended to.
 *
 * Durability: qf_commit writes END, flushes, fsyncs the file, renames it
 * from ID.tmp to ID in its queue folder (never over an existing file) and
 * fsyncs the folder; only then does it return 0, and only then may the
 * caller say "250 ... queued as ID". A writer that dies earlier leaves an
 * ID.tmp file that no scan returns (postsuper -p removes it). Moves are a
 * rename plus an fsync of the target folder (qf_move_lazy() leaves the
 * fsync out where losing the move in a crash is harmless). A recipient is
 * marked done by patching one byte of its RCPT record and fdatasync
 * (qf_mark_rcpt), so a restart never delivers it again.
 *
 * Errors: -1 (or NULL) and the reason of the failed call in qf_reason() /
 * qf_error() (the last failure in this process):
 *     QF_ERR_NOSPACE  ENOSPC or EDQUOT: smtpd answers 452 4.3.1,
 *                     sendmail exits EX_TEMPFAIL
 *     QF_ERR_IO       any other system error: 451 4.3.0, or defer
 *     QF_ERR_CORRUPT  the file does not parse: qf_move_corrupt() it
 *     QF_ERR_GONE     no such file (another process moved or removed it)
 *     QF_ERR_EXISTS   the target name exists
 * Nothing is fatal except misuse by the caller (a record type written in
 * the wrong section, a bad queue name), which is a msg_panic.
 */
#ifndef POSTERN_QUEUE_FILE_H
#define POSTERN_QUEUE_FILE_H

#include <stddef.h>

#include "record.h"

struct buf;

/* Queues. */
#define QF_MAILDROP "maildrop"
#define QF_INCOMING "incoming"
#define QF_ACTIVE   "active"
#define QF_DEFERRED "deferred"
#define QF_HOLD     "hold"
#define QF_CORRUPT  "corrupt"
/* Per-message status logs, named by queue ID like the queue files. */
#define QF_LOG_BOUNCE "bounce"
#define QF_LOG_DEFER  "defer"
#define QF_LOG_TRACE  "trace"

enum qf_reason {
    QF_OK = 0,
    QF_ERR_IO,
    QF_ERR_NOSPACE,
    QF_ERR_CORRUPT,
    QF_ERR_GONE,
    QF_ERR_EXISTS,
};

/* Longest record the reader accepts, and longest content record written. */
#define QF_RECORD_MAX (1024 * 1024)
#define QF_PIECE_MAX  (64 * 1024)

/* Reason and message of the last failed call ("" / QF_OK when none). */
int qf_reason(void);
const char *qf_error(void);

/* ---- folders and names ------------------------------------------------ */

/* Queue root for every later call; NULL or "" = the current directory. */
void qf_set_root(const char *dir);
/* Is NAME one of the queues or logs above? */
int qf_queue_known(const char *name);
/* Is NAME a queue or log file name (a queue ID)? */
int qf_name_valid(const char *name);
/* Is NAME a temporary file name ("ID.tmp")? */
int qf_temp_name(const char *name);
/* Set OUT to the path of file NAME (an ID or "ID.tmp") in QUEUE. */
void qf_path(struct buf *out, const char *queue, const char *name);
/* Create every queue and log folder under the root (mode 0700). 0 / -1. */
int qf_make_dirs(void);

/* ---- writing a new queue file ----------------------------------------- */

struct qf_writer;

/*
 * Create ID.tmp for a new queue ID in QUEUE (incoming, or maildrop for
 * postdrop), mode 0600, and write VERSION and a SIZE placeholder.
 */
struct qf_writer *qf_create(const char *queue);
const char *qf_writer_id(const struct qf_writer *w);
/* The descriptor (e.g. for fchmod/fchown by postdrop). */
int qf_writer_fd(const struct qf_writer *w);

/*
 * Envelope records (before qf_begin_content): TIME, WARN, FLAGS, SENDER,
 * DSN_RET, DSN_ENVID, ATTR; after qf_end_content RCPT, ATTR and FLAGS.
 * The record's data is checked (rec_check); a wrong type or shape is a
 * panic. 0, or -1 (the first failure sticks; qf_commit then fails too).
 */
int qf_put(struct qf_writer *w, int type, const void *data, size_t len);
int qf_puts(struct qf_writer *w, int type, const char *str);
int qf_put_int(struct qf_writer *w, int type, long long value);
int qf_put_attr(struct qf_writer *w, const char *name, const char *value);
/* A pending recipient; ORIG and ORCPT may be NULL. */
int qf_put_rcpt(struct qf_writer *w, int notify, const char *addr,
                const char *orig, const char *orcpt);

/* Start the content (the MESSAGE record). */
int qf_begin_content(struct qf_writer *w);
/*
 * One content line without its line ending; PARTIAL: only the first part
 * of a line, the rest comes in the next call(s). Long data is split into
 * PIECE records of at most QF_PIECE_MAX bytes.
 */
int qf_put_text(struct qf_writer *w, const char *data, size_t len, int partial);
/* The next content record starts the body (after the empty line). */
void qf_mark_body(struct qf_writer *w);
/* Content bytes so far, counting one LF per line (message_size_limit). */
long long qf_content_size(const struct qf_writer *w);
/* End the content (the XTRACTED record). */
int qf_end_content(struct qf_writer *w);

/*
 * Finish (MESSAGE/XTRACTED if still missing, END, SIZE patched), fsync,
 * rename into the queue, fsync the folder. 0: the message is safe. -1:
 * nothing is left behind (the temporary file is removed).
 */
int qf_commit(struct qf_writer *w);
/* Free; an uncommitted file is removed (the writer gave up). */
void qf_writer_free(struct qf_writer *w);

/* ---- reading ------------------------------------------------------------ */

struct qf_reader;

#define QF_OPEN_RDWR 0x1 /* for qf_mark_rcpt and qf_set_warn */

/*
 * Open ID in QUEUE and read its VERSION and SIZE records (for a log, the
 * VERSION only). NULL with QF_ERR_GONE, QF_ERR_CORRUPT or QF_ERR_IO.
 */
struct qf_reader *qf_open(const char *queue, const char *id, int flags);
void qf_close(struct qf_reader *r);
const char *qf_reader_id(const struct qf_reader *r);
const char *qf_reader_queue(const struct qf_reader *r);
/* The SIZE record of a queue file (NULL for a log). */
const struct rec_size *qf_size(const struct qf_reader *r);

/*
 * The next record into DATA: its type (END included, once), 0 after END
 * or at the end of a log, -1 (QF_ERR_CORRUPT with the offset and what is
 * wrong, or QF_ERR_IO). VERSION and SIZE are not returned again. Decode
 * with rec_rcpt_parse, rec_int_parse, rec_attr_parse, rec_status_parse.
 */
int qf_read(struct qf_reader *r, struct buf *data);
/* File offset of the record qf_read returned last (for qf_mark_rcpt). */
long long qf_offset(const struct qf_reader *r);
/* Jump to the content: the next qf_read returns MESSAGE. 0 / -1. */
int qf_seek_content(struct qf_reader *r);
/* Skip the content: the next qf_read returns XTRACTED. 0 / -1. */
int qf_skip_content(struct qf_reader *r);

/*
 * Mark the RCPT record at OFFSET (from qf_offset) with STATUS
 * (REC_RCPT_DELIVERED, _BOUNCED or _DROPPED) and fdatasync. The record is
 * checked first. Needs QF_OPEN_RDWR. 0 / -1. The reader's own buffered
 * input is not updated: mark after reading past the record.
 */
int qf_mark_rcpt(struct qf_reader *r, long long offset, int status);
/* The same for N records with one fdatasync at the end. */
int qf_mark_rcpts(struct qf_reader *r, const long long *offsets, size_t n,
                  int status);
/* Patch the WARN record at OFFSET to WHEN and fdatasync. 0 / -1. */
int qf_set_warn(struct qf_reader *r, long long offset, long long when);

/* ---- status logs (bounce/, defer/, trace/) ------------------------------ */

struct qf_log;

/*
 * Open (create when missing) the LOG for ID, locked (flock) against other
 * writers. A record torn by a crash at the end is cut off with a warning;
 * a log that does not parse gives QF_ERR_CORRUPT (remove it or move the
 * message on).
 */
struct qf_log *qf_log_open(const char *log, const char *id);
/* Append one result (written to the kernel, not yet synced). 0 / -1. */
int qf_log_append(struct qf_log *l, const struct rec_status *st);
/* fsync (and the folder for a new log), unlock, close, free. 0 / -1. */
int qf_log_close(struct qf_log *l);

/* ---- moving and removing ------------------------------------------------ */

/* Rename ID from queue FROM to queue TO and fsync TO's folder. */
int qf_move(const char *id, const char *from, const char *to);
/*
 * The same rename without the folder fsync, for moves whose loss in a
 * crash is harmless because the file stays where it was and that place is
 * safe too: qmgr's moves between incoming/, deferred/ and active/ (a
 * restart moves active/ back to incoming/ and every done recipient is
 * marked durably in the file itself). The rename itself is atomic: the
 * file is in one folder or the other, never lost.
 */
int qf_move_lazy(const char *id, const char *from, const char *to);
/*
 * qf_move(ID, FROM, corrupt) with the warning
 * "ID: corrupt queue file FROM/ID (WHY): moved to the corrupt queue".
 */
int qf_move_corrupt(const char *id, const char *from, const char *why);
/*
 * Set the modification time of ID in QUEUE to WHEN (seconds): qmgr keeps
 * a deferred message's next retry time there, as Postfix does.
 */
int qf_touch(const char *queue, const char *id, long long when);
/*
 * Remove NAME (an ID or "ID.tmp") from QUEUE. The folder is not synced: a
 * file that comes back after a crash has its recipients marked done.
 */
int qf_remove(const char *queue, const char *name);

/* ---- scanning a queue ---------------------------------------------------- */

struct qf_scan;

#define QF_SCAN_TEMP 0x1 /* return temporary "ID.tmp" names instead */

/* NULL with qf_error() when QUEUE cannot be opened. */
struct qf_scan *qf_scan_open(const char *queue, int flags);
/* 1 and the next name in NAME, 0 at the end, -1 on a read error. */
int qf_scan_next(struct qf_scan *s, struct buf *name);
void qf_scan_close(struct qf_scan *s);

#endif
