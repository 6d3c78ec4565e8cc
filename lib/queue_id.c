/*
 * queue_id.c - unique queue IDs (see queue_id.h).
 *
 * Called by queue_file.c, postqueue and postsuper. No errors: the clock is
 * read with clock_gettime, which cannot fail for CLOCK_REALTIME.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "queue_id.h"

#define SEC_DIGITS  6
#define USEC_DIGITS 4
#define PID_DIGITS  4

static const char digits62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* The last time handed out by this process, so that it never repeats. */
static long long last_sec = -1;
static long last_usec;

static void put62(struct buf *out, unsigned long long value, int width)
{
    char tmp[16];
    int i;

    for (i = width - 1; i >= 0; i--) {
        tmp[i] = digits62[value % 62];
        value /= 62;
    }
    buf_append(out, tmp, (size_t) width);
}

static int val62(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 36;
    return -1;
}

void queue_id_format(struct buf *out, long long sec, long usec,
                     unsigned long pid)
{
    put62(out, (unsigned long long) sec, SEC_DIGITS);
    put62(out, (unsigned long long) usec, USEC_DIGITS);
    put62(out, pid, PID_DIGITS);
}

void queue_id_new(struct buf *out)
{
    struct timespec ts;
    long long sec;
    long usec;

    clock_gettime(CLOCK_REALTIME, &ts);
    sec = (long long) ts.tv_sec;
    usec = ts.tv_nsec / 1000;
    /* The clock stood still or went back: take the next microsecond. */
    if (sec < last_sec || (sec == last_sec && usec <= last_usec)) {
        sec = last_sec;
        usec = last_usec + 1;
        if (usec >= 1000000) {
            sec++;
            usec = 0;
        }
    }
    last_sec = sec;
    last_usec = usec;
    queue_id_format(out, sec, usec, (unsigned long) getpid());
}

int queue_id_valid(const char *id)
{
    size_t i;

    for (i = 0; i < QUEUE_ID_LEN; i++)
        if (val62((unsigned char) id[i]) < 0)
            return 0;
    if (id[QUEUE_ID_LEN] != 0)
        return 0;
    /* The microseconds must be below one million. */
    {
        long usec = 0;

        for (i = SEC_DIGITS; i < SEC_DIGITS + USEC_DIGITS; i++)
            usec = usec * 62 + val62((unsigned char) id[i]);
        if (usec >= 1000000)
            return 0;
    }
    return 1;
}

long long queue_id_time(const char *id)
{
    long long sec = 0;
    int i;

    if (!queue_id_valid(id))
        return -1;
    for (i = 0; i < SEC_DIGITS; i++)
        sec = sec * 62 + val62((unsigned char) id[i]);
    return sec;
}

int queue_id_hash_char(const char *id, int level)
{
    int pos = SEC_DIGITS + USEC_DIGITS - 1 - level;

    if (pos < 0)
        pos = 0;
    return (unsigned char) id[pos];
}
