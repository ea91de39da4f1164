/* The unit that flows from collectors to the writer, and the loss counters that travel
 * beside it.
 *
 * Collectors increment counters (atomically, from any thread); the writer takes them
 * (exchange with zero) at every batch commit and adds them to the open epoch's stats in the
 * same SQLite transaction, so that a count survives a crash exactly when the records do. */
#pragma once
#include <stdatomic.h>
#include <stdint.h>

#include "core/json.h"

struct event {
        int64_t received_us;  /* receipt time, decides the epoch */
        json *rec;            /* owned: the gate record without "seq" (the writer adds it) */
};

/* Takes ownership of rec always. NULL when out of memory. */
struct event *event_new(json *rec, int64_t received_us);
void event_free(struct event *e); /* accepts NULL */
void event_free_cb(void *e);      /* for queue_free */

/* Losses and refusals that never become records. Names appear in the manifest's
 * stats.dropped and in metrics; keep them stable. */
enum drop_reason {
        DROP_QUEUE_FULL,       /* UDP/unix datagram arrived while the queue was full */
        DROP_KERNEL_OVERFLOW,  /* datagrams the kernel dropped on our socket (SO_MEMINFO drop counter) */
        DROP_CONN_LIMIT,       /* TCP connection refused: too many connections */
        DROP_OUT_OF_MEMORY,    /* an event could not be allocated */
        DROP_SHUTDOWN,         /* partial frame still buffered when a connection closed at exit */
        DROP__MAX
};

const char *drop_reason_name(enum drop_reason r);

struct drop_counters {
        _Atomic uint64_t n[DROP__MAX];
};

static inline void drop_count(struct drop_counters *d, enum drop_reason r, uint64_t k) {
        atomic_fetch_add_explicit(&d->n[r], k, memory_order_relaxed);
}
/* Moves every counter into out[] (adding) and zeroes it. */
void drop_take(struct drop_counters *d, uint64_t out[DROP__MAX]);
