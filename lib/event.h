/*
 * event.h - a small event loop: descriptor readiness and one-shot timers.
 *
 * Used by the services that serve many clients in one process (qmgr, auth,
 * cleanup) through the daemon skeleton. Linux epoll underneath.
 *
 * Errors: event_new returns NULL and event_watch/event_run -1 with errno
 * set when the kernel refuses; nothing here is fatal except running out of
 * memory (mem.c).
 *
 * Callbacks may do anything to the loop: watch or unwatch any descriptor
 * (their own included, then close it), add or cancel timers, stop the loop.
 * An event already collected for a descriptor that a callback unwatched is
 * not delivered, even when the same number is watched again meanwhile.
 * The loop is single-threaded; one loop per process is the norm.
 */
#ifndef POSTERN_EVENT_H
#define POSTERN_EVENT_H

#include <stdint.h>

struct event_loop;

/* Interest and readiness bits. */
#define EVENT_READ  0x1
#define EVENT_WRITE 0x2
#define EVENT_ERROR 0x4 /* hang-up or error; delivered with READ/WRITE */
/*
 * With EVENT_READ in event_watch: when several processes watch the same
 * descriptor (a listening socket shared by a service's processes), wake
 * one of them, not all (EPOLLEXCLUSIVE), so an idle pool does not race
 * for every connection. The descriptor is registered anew each time.
 */
#define EVENT_EXCLUSIVE 0x8

/* EVENTS holds the bits that are ready (EVENT_ERROR comes with READ). */
typedef void (*event_fd_fn)(struct event_loop *loop, int fd, int events,
                            void *ctx);
typedef void (*event_timer_fn)(struct event_loop *loop, void *ctx);

/* A new loop, or NULL with errno when epoll is not available. */
struct event_loop *event_new(void);
/* Frees the loop and its timers; descriptors are not closed. */
void event_free(struct event_loop *loop);

/*
 * Call FN when FD is ready for EVENTS (EVENT_READ and/or EVENT_WRITE;
 * level-triggered). Watching a descriptor again replaces its interest,
 * callback and context. EVENTS 0 keeps it registered but quiet.
 * Returns 0, or -1 with errno (EBADF, EPERM for regular files, ...).
 */
int event_watch(struct event_loop *loop, int fd, int events, event_fd_fn fn,
                void *ctx);
/* Stop watching FD (before closing it). 0, or -1 (ENOENT) if not watched. */
int event_unwatch(struct event_loop *loop, int fd);

/*
 * Call FN once, MSEC milliseconds from now (0: at the next turn of the
 * loop, after the descriptor events). Timers due at the same time fire in
 * the order they were added. Returns an id (never 0) for event_cancel.
 */
uint64_t event_timer(struct event_loop *loop, long msec, event_timer_fn fn,
                     void *ctx);
/* Cancel a pending timer: 0, or -1 if it already fired or never existed. */
int event_cancel(struct event_loop *loop, uint64_t id);

/*
 * Wait at most MAX_WAIT_MS (-1: until something happens) and run what is
 * ready. Returns the number of callbacks run, or -1 with errno.
 */
int event_run_once(struct event_loop *loop, long max_wait_ms);
/*
 * Run until event_stop, or until nothing is watched and no timer is
 * pending. Returns 0, or -1 with errno if epoll fails.
 */
int event_run(struct event_loop *loop);
/* Make event_run return after the current callback. */
void event_stop(struct event_loop *loop);

/* Milliseconds on the loop's monotonic clock (for callers' bookkeeping). */
int64_t event_now_ms(void);

#endif
