/*
 * queue_id.h - unique queue IDs.
 *
 * A queue ID names a message's queue file in every queue folder and
 * starts every log line about the message ("4dXq2BZk0Ja3Kd: to=<...>").
 * Called by lib/queue_file.c when a queue file is created, and by
 * postqueue/postsuper to check IDs given by users.
 *
 * Shape (QUEUE_ID_LEN = 14 characters, all [0-9A-Za-z], so safe as file
 * names and in log lines):
 *     SSSSSS  creation time, seconds since the epoch, base 62
 *     UUUU    microseconds, base 62
 *     PPPP    the creating process id, base 62
 * Digits run 0-9, A-Z, a-z (ASCII order) with fixed widths, so IDs sort
 * by creation time as plain strings. Within one process the time never
 * repeats (a second ID in the same microsecond takes the next one), and
 * two processes differ in the pid, so IDs are unique on one host; the
 * queue file code also refuses to overwrite an existing file.
 *
 * Errors: none; queue_id_valid() says whether a string is an ID.
 */
#ifndef POSTERN_QUEUE_ID_H
#define POSTERN_QUEUE_ID_H

struct buf;

#define QUEUE_ID_LEN 14

/* Append a new unique ID to OUT. */
void queue_id_new(struct buf *out);
/* Append the ID for these parts (tests; SEC >= 0, 0 <= USEC < 1000000). */
void queue_id_format(struct buf *out, long long sec, long usec,
                     unsigned long pid);
/* 1 when ID has the shape of a queue ID, else 0. */
int queue_id_valid(const char *id);
/* The creation time (seconds) of a valid ID, or -1. */
long long queue_id_time(const char *id);
/*
 * The character naming the hashed-queue subfolder at LEVEL (0 = top) for
 * a valid ID (hash_queue_depth): taken from the fast-changing microsecond
 * digits, so messages spread evenly.
 */
int queue_id_hash_char(const char *id, int level);

#endif
