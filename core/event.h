/* The unit that flows from collectors to the writer, and the loss counters that travel
 * beside it.
 *
 * Collectors increment counters (atomically, from any thread); the writer takes them
 * (exchange with zero) at every batch commit and adds them to the open epoch's stats in the
 * same SQLite transaction, so that a count survives a crash exactly when the records do. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/json.h"

/* Told after the transaction that stored an event committed (an at-least-once peer's ack: a
 * Kafka offset commit, a RELP response). */
struct event_sink {
        /* Called on the writer thread after the commit; must be thread-safe and must not
         * block (typically: record the token, write an eventfd the collector's loop polls). */
        void (*committed_cb)(void *ud, uint64_t token);
        void *ud;
};

/* Bytes of struct event's own storage for its position (pos_source and pos with their
 * NULs): "kafka:TOPIC/PARTITION" and a decimal offset of up to 19 digits. */
#define EVENT_POS_INLINE 104

struct event {
        int64_t received_us;  /* receipt time, decides the epoch */
        json *rec;            /* owned: the gate record without "seq" (the writer adds it);
                               * NULL when a rule dropped the event (drop_rule says which) */
        char *drop_rule;      /* owned or NULL: id of the rule that dropped this event; the
                               * writer counts it per rule in the epoch's stats */
        /* Resumable sources (journald, Kafka): the position OF this event, stored in the same
         * transaction as the record, so that a restart resumes exactly after it; the epoch's
         * stats.sources name the first and last position it sealed per source. An event a
         * rule dropped (rec NULL) still advances its source's position. */
        char *pos_source;     /* owned or NULL: "journald:NAME", "kafka:TOPIC/PARTITION" */
        char *pos;            /* owned or NULL: journal cursor, or Kafka offset in decimal */
        /* Both point into pos_buf (not owned: event_free frees neither) when event_set_pos
         * found room there (issue 12: no two mallocs per Kafka message on the collector's
         * thread and two frees on the storing thread). Set pos_source/pos only through
         * event_set_pos, or to malloc'd strings with pos_inline false (journald). */
        bool pos_inline;
        const struct event_sink *sink; /* borrowed or NULL: told after the commit */
        uint64_t sink_token;
        char rules_pack[65];  /* hex SHA-256 of the rule pack that mapped the record, or "" */
        /* issue 12: the writer's mapper stage (cli/writer-map.c) turns rec into canonical
         * bytes on its own thread and frees the tree: rec is then NULL and mapped holds the
         * bytes and what the storing thread needs (owned; freed by event_free). An event
         * with neither rec nor mapped was dropped by a rule. The four members below say
         * what metrics read from the record once the tree is gone. */
        void *mapped;
        /* The recycler mapped's block came from (core/recycle.h), given back to it by
         * event_free on any thread; NULL: mapped is malloc'd (performance, issue 12: a
         * block malloc'd on the mapper and freed on the storing thread went through the
         * mapper's arena lock, bins and heap trimming every time). */
        struct recycle *mapped_rc;
        char src_kind[16], src_transport[16];
        bool malformed, truncated;
        struct recycle *rc;   /* the recycler the struct came from (event_new_recycled), or NULL */
        /* Last, so that creating an event zeroes only the members above (issue 12). Room
         * for a Kafka source of a topic up to ~70 bytes and its offset; longer ones are
         * malloc'd. An event is never copied by value (the pointers would dangle). */
        char pos_buf[EVENT_POS_INLINE];
};

/* Does the event still carry a record (a tree or the mapper's bytes)? */
static inline bool event_has_record(const struct event *e) {
        return e->rec || e->mapped;
}

/* Takes ownership of rec always. NULL when out of memory. All other members are zero. */
struct event *event_new(json *rec, int64_t received_us);
/* event_new with the struct taken from a recycler of blocks of at least sizeof(struct event)
 * (core/recycle.h; on its owner's thread), given back by event_free on any thread
 * (performance, issue 12). rc NULL: event_new. */
struct recycle;
struct event *event_new_recycled(struct recycle *rc, json *rec, int64_t received_us);
/* Sets pos_source and pos (copies: into the event itself when both fit in
 * EVENT_POS_INLINE bytes, else malloc'd; neither may point into e's own position). 0 or
 * -ENOMEM (e unchanged). */
int event_set_pos(struct event *e, const char *source, const char *pos);
/* event_set_pos with the lengths known (no strlen; the bytes hold no NUL). */
int event_set_posn(struct event *e, const char *source, size_t source_len, const char *pos,
                   size_t pos_len);
void event_free(struct event *e); /* accepts NULL; frees every owned member */
void event_free_cb(void *e);      /* for queue_free */
/* event_free of ev[0..n) (NULL entries skipped), the recycled blocks given back per run of
 * one recycler (core/recycle.h recycle_put_many: a few atomic operations per batch instead
 * of three per block; performance, issue 12). The order blocks are given back in is not
 * the order of ev. */
void event_free_batch(struct event *const *ev, size_t n);
/* What an event holds in memory: the struct, its record tree (json_tree_bytes), its mapped
 * block and strings. For queue_set_byte_budget (queue.max_bytes, issue 12). */
size_t event_bytes(const void *e);

/* Losses and refusals that never become records. Names appear in the manifest's
 * stats.dropped and in metrics; keep them stable. */
enum drop_reason {
        DROP_QUEUE_FULL,       /* UDP/unix datagram arrived while the queue was full */
        DROP_KERNEL_OVERFLOW,  /* datagrams the kernel dropped on our socket (SO_MEMINFO drop counter) */
        DROP_CONN_LIMIT,       /* TCP connection refused: too many connections */
        DROP_OUT_OF_MEMORY,    /* an event could not be allocated */
        DROP_SHUTDOWN,         /* partial frame still buffered when a connection closed at exit */
        /* Connections closed for misbehaving (counted per connection, not per event; like
         * DROP_CONN_LIMIT they are not part of stats.received): */
        DROP_TLS_REFUSED,      /* TLS handshake failed or the client was not allowed */
        DROP_TLS_HANDSHAKE_TIMEOUT,
        DROP_IDLE_TIMEOUT,     /* no complete message within the idle timeout */
        DROP_FRAME_TOO_LARGE,  /* a frame over max_message: stored truncated, then closed */
        DROP__MAX
};

const char *drop_reason_name(enum drop_reason r);
/* Does r count connections rather than events? */
bool drop_reason_is_connection(enum drop_reason r);

struct drop_counters {
        _Atomic uint64_t n[DROP__MAX];
};

static inline void drop_count(struct drop_counters *d, enum drop_reason r, uint64_t k) {
        atomic_fetch_add_explicit(&d->n[r], k, memory_order_relaxed);
}
/* Moves every counter into out[] (adding) and zeroes it. */
void drop_take(struct drop_counters *d, uint64_t out[DROP__MAX]);
