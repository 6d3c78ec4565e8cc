/*
 * event.c - epoll event loop with one-shot timers (see event.h).
 *
 * Called by the many-clients-per-process services through the daemon
 * skeleton. Kernel failures return -1 with errno; out of memory is fatal
 * (mem.c).
 *
 * Stale events: epoll hands back a batch of events, and a callback early
 * in the batch may unwatch (and close, and reuse) a descriptor that has an
 * event later in the same batch. Each registration therefore gets a
 * generation number, carried in the epoll data next to the descriptor; an
 * event whose generation no longer matches the table is dropped.
 *
 * Timers live in a binary heap ordered by (due time, id); ids increase, so
 * timers due at the same millisecond fire in the order they were added.
 * Cancelling searches the heap (linear; timer counts are small here).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "mem.h"

#define EVENT_BATCH 64

struct watch {
    event_fd_fn fn;
    void *ctx;
    int events;
    int active;
    uint32_t gen;
};

struct timer {
    int64_t when;
    uint64_t id;
    event_timer_fn fn;
    void *ctx;
};

struct event_loop {
    int epfd;
    struct watch *watches; /* indexed by descriptor */
    size_t nslots;
    size_t nwatched;
    uint32_t gen;
    struct timer *heap;
    size_t ntimers;
    size_t heap_size;
    uint64_t next_id;
    int stop;
    struct epoll_event evs[EVENT_BATCH];
};

int64_t event_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct event_loop *event_new(void)
{
    struct event_loop *loop;
    int epfd = epoll_create1(EPOLL_CLOEXEC);

    if (epfd < 0)
        return NULL;
    loop = mem_calloc(1, sizeof(*loop));
    loop->epfd = epfd;
    loop->next_id = 1;
    return loop;
}

void event_free(struct event_loop *loop)
{
    if (loop == NULL)
        return;
    close(loop->epfd);
    mem_free(loop->watches);
    mem_free(loop->heap);
    mem_free(loop);
}

/* ---- descriptors -------------------------------------------------------- */

static uint32_t epoll_bits(int events)
{
    return ((events & EVENT_READ) ? EPOLLIN : 0)
           | ((events & EVENT_WRITE) ? EPOLLOUT : 0)
           | ((events & EVENT_EXCLUSIVE) ? EPOLLEXCLUSIVE : 0);
}

int event_watch(struct event_loop *loop, int fd, int events, event_fd_fn fn,
                void *ctx)
{
    struct epoll_event ev;
    struct watch *w;

    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    if ((size_t) fd >= loop->nslots) {
        size_t n = loop->nslots ? loop->nslots : 16;

        while (n <= (size_t) fd)
            n *= 2;
        loop->watches = mem_realloc(loop->watches, n * sizeof(*w));
        memset(loop->watches + loop->nslots, 0,
               (n - loop->nslots) * sizeof(*w));
        loop->nslots = n;
    }
    w = &loop->watches[fd];
    memset(&ev, 0, sizeof(ev));
    ev.events = epoll_bits(events);
    if (w->active && (events & EVENT_EXCLUSIVE)) {
        /* EPOLLEXCLUSIVE cannot be modified in place: register anew. */
        (void) epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
        w->active = 0;
        loop->nwatched--;
    }
    if (w->active) {
        ev.data.u64 = ((uint64_t) w->gen << 32) | (uint32_t) fd;
        if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
            return -1;
    } else {
        uint32_t gen = ++loop->gen;

        ev.data.u64 = ((uint64_t) gen << 32) | (uint32_t) fd;
        if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            return -1;
        w->gen = gen;
        w->active = 1;
        loop->nwatched++;
    }
    w->fn = fn;
    w->ctx = ctx;
    w->events = events & (EVENT_READ | EVENT_WRITE);
    return 0;
}

int event_unwatch(struct event_loop *loop, int fd)
{
    struct watch *w;

    if (fd < 0 || (size_t) fd >= loop->nslots || !loop->watches[fd].active) {
        errno = ENOENT;
        return -1;
    }
    w = &loop->watches[fd];
    /* Fails harmlessly if the descriptor was already closed. */
    (void) epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    w->active = 0;
    w->fn = NULL;
    w->ctx = NULL;
    loop->nwatched--;
    return 0;
}

/* ---- timers ------------------------------------------------------------- */

static int timer_before(const struct timer *a, const struct timer *b)
{
    return a->when < b->when || (a->when == b->when && a->id < b->id);
}

static void heap_swap(struct timer *heap, size_t i, size_t j)
{
    struct timer t = heap[i];

    heap[i] = heap[j];
    heap[j] = t;
}

static void sift_up(struct timer *heap, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (!timer_before(&heap[i], &heap[parent]))
            break;
        heap_swap(heap, i, parent);
        i = parent;
    }
}

static void sift_down(struct timer *heap, size_t n, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1;
        size_t right = left + 1;
        size_t min = i;

        if (left < n && timer_before(&heap[left], &heap[min]))
            min = left;
        if (right < n && timer_before(&heap[right], &heap[min]))
            min = right;
        if (min == i)
            break;
        heap_swap(heap, i, min);
        i = min;
    }
}

static void heap_remove(struct event_loop *loop, size_t i)
{
    loop->ntimers--;
    if (i == loop->ntimers)
        return;
    loop->heap[i] = loop->heap[loop->ntimers];
    sift_down(loop->heap, loop->ntimers, i);
    sift_up(loop->heap, i);
}

uint64_t event_timer(struct event_loop *loop, long msec, event_timer_fn fn,
                     void *ctx)
{
    struct timer *t;
    uint64_t id = loop->next_id++;

    if (loop->ntimers == loop->heap_size) {
        loop->heap_size = loop->heap_size ? loop->heap_size * 2 : 16;
        loop->heap =
            mem_realloc(loop->heap, loop->heap_size * sizeof(*loop->heap));
    }
    t = &loop->heap[loop->ntimers];
    t->when = event_now_ms() + (msec > 0 ? msec : 0);
    t->id = id;
    t->fn = fn;
    t->ctx = ctx;
    sift_up(loop->heap, loop->ntimers++);
    return id;
}

int event_cancel(struct event_loop *loop, uint64_t id)
{
    size_t i;

    for (i = 0; i < loop->ntimers; i++) {
        if (loop->heap[i].id == id) {
            heap_remove(loop, i);
            return 0;
        }
    }
    return -1;
}

/* ---- running ------------------------------------------------------------ */

static int dispatch_fd(struct event_loop *loop, const struct epoll_event *ev)
{
    int fd = (int) (uint32_t) (ev->data.u64 & 0xffffffffu);
    uint32_t gen = (uint32_t) (ev->data.u64 >> 32);
    struct watch *w;
    int ready = 0;

    if ((size_t) fd >= loop->nslots)
        return 0;
    w = &loop->watches[fd];
    if (!w->active || w->gen != gen || w->events == 0 || w->fn == NULL)
        return 0; /* unwatched (or replaced) earlier in this batch */
    if (ev->events & EPOLLIN)
        ready |= EVENT_READ;
    if (ev->events & EPOLLOUT)
        ready |= EVENT_WRITE;
    if (ev->events & (EPOLLERR | EPOLLHUP)) {
        /* Let the reader (or else the writer) see the hang-up. */
        ready |= EVENT_ERROR;
        ready |= (w->events & EVENT_READ) ? EVENT_READ : EVENT_WRITE;
    }
    ready &= w->events | EVENT_ERROR;
    if ((ready & (EVENT_READ | EVENT_WRITE)) == 0)
        return 0;
    w->fn(loop, fd, ready, w->ctx); /* W may be gone after this */
    return 1;
}

int event_run_once(struct event_loop *loop, long max_wait_ms)
{
    int timeout = max_wait_ms < 0         ? -1
                  : max_wait_ms > INT_MAX ? INT_MAX
                                          : (int) max_wait_ms;
    uint64_t limit_id;
    int64_t now;
    int ran = 0;
    int n;
    int i;

    if (loop->ntimers > 0) {
        int64_t left = loop->heap[0].when - event_now_ms();

        if (left < 0)
            left = 0;
        if (timeout < 0 || left < timeout)
            timeout = (int) left;
    }
    n = epoll_wait(loop->epfd, loop->evs, EVENT_BATCH, timeout);
    if (n < 0) {
        if (errno != EINTR)
            return -1;
        n = 0;
    }
    for (i = 0; i < n && !loop->stop; i++)
        ran += dispatch_fd(loop, &loop->evs[i]);

    /* Timers added by the callbacks below wait for the next turn. */
    now = event_now_ms();
    limit_id = loop->next_id;
    while (!loop->stop && loop->ntimers > 0 && loop->heap[0].when <= now
           && loop->heap[0].id < limit_id) {
        struct timer t = loop->heap[0];

        heap_remove(loop, 0);
        t.fn(loop, t.ctx);
        ran++;
    }
    return ran;
}

int event_run(struct event_loop *loop)
{
    int ret = 0;

    while (!loop->stop) {
        if (loop->nwatched == 0 && loop->ntimers == 0)
            break;
        if (event_run_once(loop, -1) < 0) {
            ret = -1;
            break;
        }
    }
    loop->stop = 0;
    return ret;
}

void event_stop(struct event_loop *loop)
{
    loop->stop = 1;
}
