/*
 * client.c - the load generator of bench/auth: SMTP AUTH logins per
 * second against one server.
 *
 * Compiled by bench/auth/run into its scratch folder (cc -O2 -pthread
 * client.c -lcrypto) and run once per measured run:
 *
 *   client PORT LOGINS CONCURRENCY MECH USERS TIMEOUT TIME-LIMIT
 *
 * CONCURRENCY threads share a counter of LOGINS logins. One login is one
 * connection to 127.0.0.1:PORT: read the greeting (220), EHLO (250, the
 * reply must offer MECH on its AUTH line), the AUTH exchange of MECH
 * (PLAIN with an initial response, or CRAM-MD5: 334 challenge, HMAC-MD5
 * answer), QUIT (221), read to end of input, close. Login I goes to user
 * "benchK" with password "Bench-K-secret", K = I mod USERS (the run script
 * creates the same users on both servers).
 *
 * A login whose AUTH reply is not 235 is a failure (counted, first reply
 * kept); anything else going wrong (connect, timeout, unexpected reply to
 * another command, end of input) is an error. Every socket has a send and
 * a receive timeout of TIMEOUT seconds; no new login starts after
 * TIME-LIMIT seconds. Prints one line of name=value results; exit status
 * 0 when every login got 235, 1 otherwise, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define LINE_MAX_BYTES 2048

static struct sockaddr_in addr;
static int total, users, timeout_s, cram;
static const char *mech;
static EVP_MD *md5; /* fetched once: an implicit fetch per HMAC is slow */
static double deadline;
static atomic_int next_login, ok_count, fail_count, err_count;
static double *lat;
static pthread_mutex_t note_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_fail[300], first_error[300];

/* One connection and its input buffer. */
struct conn {
    int fd;
    char in[4096];
    size_t len; /* bytes in IN */
    size_t pos; /* start of the unread ones */
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Keep the first text of a kind, printable and without blanks. */
static void note(atomic_int *counter, char *first, int i, const char *what,
                 const char *detail)
{
    char *s;

    atomic_fetch_add(counter, 1);
    pthread_mutex_lock(&note_lock);
    if (first[0] == 0) {
        snprintf(first, sizeof(first_fail), "login_%d:_%s:_%.200s", i, what,
                 detail);
        for (s = first; *s; s++)
            if (*s <= ' ' || *s > '~')
                *s = '_';
    }
    pthread_mutex_unlock(&note_lock);
}

/* One line without its CR LF into LINE; -1 and a reason on error. */
static int read_line(struct conn *c, char *line, const char **why)
{
    size_t n = 0;
    ssize_t got;
    char ch;

    for (;;) {
        if (c->pos == c->len) {
            got = recv(c->fd, c->in, sizeof(c->in), 0);
            if (got <= 0) {
                *why = got == 0 ? "end of input" : strerror(errno);
                return -1;
            }
            c->len = (size_t) got;
            c->pos = 0;
        }
        ch = c->in[c->pos++];
        if (ch == '\n')
            break;
        if (n == LINE_MAX_BYTES - 1) {
            *why = "reply line too long";
            return -1;
        }
        line[n++] = ch;
    }
    if (n && line[n - 1] == '\r')
        n--;
    line[n] = 0;
    return 0;
}

/*
 * A whole reply (all its lines); returns its code, LAST holds the last
 * line. When OFFER is not NULL it is set to 1 if a line offers MECH
 * ("250-AUTH PLAIN CRAM-MD5 ...").
 */
static int read_reply(struct conn *c, char *last, int *offer, const char **why)
{
    const char *p;
    size_t mlen = strlen(mech);

    for (;;) {
        if (read_line(c, last, why) < 0)
            return -1;
        if (strlen(last) < 3 || last[0] < '2' || last[0] > '5') {
            *why = "malformed reply";
            return -1;
        }
        if (offer && strncasecmp(last + 4, "AUTH ", 5) == 0) {
            for (p = last + 9; (p = strcasestr(p, mech)) != NULL; p += mlen)
                if (p[-1] == ' ' && (p[mlen] == 0 || p[mlen] == ' '))
                    *offer = 1;
        }
        if (last[3] != '-')
            return atoi(last);
    }
}

static int send_all(struct conn *c, const char *text, const char **why)
{
    size_t len = strlen(text), done = 0;
    ssize_t n;

    while (done < len) {
        n = send(c->fd, text + done, len - done, MSG_NOSIGNAL);
        if (n <= 0) {
            *why = n == 0 ? "send returned 0" : strerror(errno);
            return -1;
        }
        done += (size_t) n;
    }
    return 0;
}

static void b64(char *out, const unsigned char *in, int len)
{
    EVP_EncodeBlock((unsigned char *) out, in, len);
}

/*
 * The AUTH command of login I for user K: PLAIN sends everything at once;
 * CRAM-MD5 answers the challenge. Returns the final reply code or -1.
 */
static int auth(struct conn *c, int k, char *line, const char **why,
                const char **step)
{
    char user[64], pass[64], cmd[2 * LINE_MAX_BYTES];
    unsigned char raw[LINE_MAX_BYTES], mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0, i;
    char resp[256];
    int n, code;

    snprintf(user, sizeof(user), "bench%d", k);
    snprintf(pass, sizeof(pass), "Bench-%d-secret", k);
    if (!cram) {
        n = snprintf((char *) raw, sizeof(raw), "%c%s%c%s", 0, user, 0, pass);
        strcpy(cmd, "AUTH PLAIN ");
        b64(cmd + strlen(cmd), raw, n);
        strcat(cmd, "\r\n");
        *step = "AUTH PLAIN";
        if (send_all(c, cmd, why) < 0)
            return -1;
        return read_reply(c, line, NULL, why);
    }
    *step = "AUTH CRAM-MD5";
    if (send_all(c, "AUTH CRAM-MD5\r\n", why) < 0
        || (code = read_reply(c, line, NULL, why)) < 0)
        return -1;
    if (code != 334)
        return code;
    *step = "CRAM-MD5 answer";
    n = EVP_DecodeBlock(raw, (unsigned char *) line + 4,
                        (int) strlen(line + 4));
    if (n < 0) {
        *why = "challenge is not base64";
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as data. */
    for (i = strlen(line + 4); i > 4 && line[3 + i] == '='; i--)
        n--;
    if (HMAC(md5, pass, (int) strlen(pass), raw, (size_t) n, mac, &maclen)
        == NULL) {
        *why = "HMAC-MD5 failed";
        return -1;
    }
    n = snprintf(resp, sizeof(resp), "%s ", user);
    for (i = 0; i < maclen; i++)
        n += snprintf(resp + n, sizeof(resp) - (size_t) n, "%02x", mac[i]);
    b64(cmd, (unsigned char *) resp, n);
    strcat(cmd, "\r\n");
    if (send_all(c, cmd, why) < 0)
        return -1;
    return read_reply(c, line, NULL, why);
}

/* One login; 0 on 235, 1 on another AUTH reply, -1 on an error. */
static int one(int i)
{
    char line[LINE_MAX_BYTES];
    struct timeval tv = {timeout_s, 0};
    struct conn c = {.fd = -1};
    const char *why = "", *step = "connect";
    int code, offer = 0, result = -1;

    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
        note(&err_count, first_error, i, "socket", strerror(errno));
        return -1;
    }
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(c.fd, (struct sockaddr *) &addr, sizeof(addr)) < 0) {
        why = strerror(errno);
        goto error;
    }
    step = "greeting";
    if ((code = read_reply(&c, line, NULL, &why)) < 0)
        goto error;
    if (code != 220)
        goto unexpected;
    step = "EHLO";
    if (send_all(&c, "EHLO bench.client.invalid\r\n", &why) < 0
        || (code = read_reply(&c, line, &offer, &why)) < 0)
        goto error;
    if (code != 250)
        goto unexpected;
    if (!offer) {
        why = "the EHLO reply offers no AUTH with this mechanism";
        goto error;
    }
    if ((code = auth(&c, i % users, line, &why, &step)) < 0)
        goto error;
    if (code == 235) {
        result = 0;
    } else {
        note(&fail_count, first_fail, i, step, line);
        result = 1;
    }
    step = "QUIT";
    if (send_all(&c, "QUIT\r\n", &why) < 0
        || (code = read_reply(&c, line, NULL, &why)) < 0)
        goto error;
    if (code != 221)
        goto unexpected;
    /* The server closes after 221: wait for it, as a real client would. */
    while (recv(c.fd, c.in, sizeof(c.in), 0) > 0)
        ;
    close(c.fd);
    return result;

unexpected:
    note(&err_count, first_error, i, step, line);
    close(c.fd);
    return -1;
error:
    note(&err_count, first_error, i, step, why);
    close(c.fd);
    return -1;
}

static void *worker(void *arg)
{
    int i;
    double t0;

    (void) arg;
    while ((i = atomic_fetch_add(&next_login, 1)) < total) {
        t0 = now();
        if (t0 > deadline) {
            note(&err_count, first_error, i, "time limit", "reached");
            break;
        }
        lat[i] = -1;
        if (one(i) == 0) {
            lat[i] = now() - t0;
            atomic_fetch_add(&ok_count, 1);
        }
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int conc, i, n;
    pthread_t *th;
    double t0, elapsed;

    if (argc != 8) {
        fprintf(stderr, "usage: client PORT LOGINS CONCURRENCY PLAIN|CRAM-MD5 "
                        "USERS TIMEOUT TIME-LIMIT\n");
        return 2;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short) atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    total = atoi(argv[2]);
    conc = atoi(argv[3]);
    mech = argv[4];
    cram = strcmp(mech, "CRAM-MD5") == 0;
    users = atoi(argv[5]);
    timeout_s = atoi(argv[6]);
    if (total <= 0 || conc <= 0 || users <= 0 || timeout_s <= 0
        || (!cram && strcmp(mech, "PLAIN") != 0)) {
        fprintf(stderr, "client: bad arguments\n");
        return 2;
    }
    if (cram && (md5 = EVP_MD_fetch(NULL, "MD5", NULL)) == NULL) {
        fprintf(stderr, "client: OpenSSL has no MD5\n");
        return 2;
    }
    lat = calloc((size_t) total, sizeof(double));
    th = calloc((size_t) conc, sizeof(pthread_t));
    if (lat == NULL || th == NULL)
        return 2;
    t0 = now();
    deadline = t0 + atof(argv[7]);
    for (i = 0; i < conc; i++)
        if (pthread_create(&th[i], NULL, worker, NULL) != 0)
            return 2;
    for (i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    elapsed = now() - t0;
    for (i = n = 0; i < total; i++)
        if (lat[i] > 0)
            lat[n++] = lat[i];
    qsort(lat, (size_t) n, sizeof(double), cmp);
    printf("ok=%d failed=%d errors=%d elapsed=%.6f rate=%.1f p50_ms=%.3f "
           "p99_ms=%.3f max_ms=%.3f first_failure=%s first_error=%s\n",
           atomic_load(&ok_count), atomic_load(&fail_count),
           atomic_load(&err_count), elapsed, atomic_load(&ok_count) / elapsed,
           n ? lat[n / 2] * 1e3 : 0, n ? lat[(int) (n * 0.99)] * 1e3 : 0,
           n ? lat[n - 1] * 1e3 : 0, first_fail[0] ? first_fail : "-",
           first_error[0] ? first_error : "-");
    return atomic_load(&fail_count) || atomic_load(&err_count) ? 1 : 0;
}
