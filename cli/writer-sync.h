/* The writer's sync thread (gl-sync, issue 12, sync9): the WAL's fdatasync off the storing
 * thread, with nothing but small records handed over.
 *
 * The storing thread (cli/writer.c, gl-store) commits at synchronous=NORMAL: its commit
 * returns once the WAL frames are written, not synced. It advances the trees, feeds the
 * stager (whose records stay above the durable watermark until this thread passes them) and
 * frees the batch's events itself, then hands this thread one small record per commit: its
 * highest seq, the (sink, token) pairs of the events that have a sink, the batch's metrics
 * tally with its source labels copied, and the drop counts it stored. This thread syncs the
 * WAL once for every record handed over since its last sync (a group sync), and only then
 * does what says an event is stored: it publishes the durable watermark, runs the sinks'
 * committed_cb (RELP acks, Kafka offset commits), and adds the batch to the "stored"
 * metrics.
 *
 * Guarantees: nothing is said to be stored before a sync that started after its commit
 * returned; callbacks and the watermark follow commit order; the watermark never goes back;
 * a failed fdatasync ends the process (abort): what it covered may be lost, and nothing must
 * be acknowledged on top of it (a restart recovers what is on disk; unacknowledged events
 * are resent by their peers or replayed from their sources). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/limits.h"
#include "core/metrics.h"
#include "outputs/outputs.h"


struct wsync;

/* An acknowledgement owed once the commit is durable. */
struct wsync_ack {
        const struct event_sink *sink;
        uint64_t token;
};

/* One committed batch, filled by the storing thread between wsync_slot and wsync_push. */
struct wsync_commit {
        int64_t last_seq;          /* highest seq the commit stored; -1: none */
        int64_t t0_us;             /* tm_mono_us when the batch began (latency to durable) */
        uint64_t took[DROP__MAX];  /* drop counts the commit stored */
        struct wsync_ack *acks;    /* grown by wsync_ack_add; kept from batch to batch */
        size_t n_acks, acks_alloc;
        /* The batch's metrics tally (metrics_batch_note on the storing thread); its source
         * strings point into labels, the rule pack into pack. When mb.overflow (more sources
         * than it holds), metrics count from the events: held owns them until then. */
        struct metrics_batch mb;
        char labels[METRICS_BATCH_SOURCES][2][64];
        struct event pack;         /* only rules_pack is set: what metrics read last */
        struct event **held;
        size_t n_held;
};

/* s's commits made durable on a thread of its own (wsync_start switches s to
 * synchronous=NORMAL). 0 or -ENOMEM. */
int wsync_new(struct store *s, struct wsync **ret);
/* cb(ud, seq) runs with the highest durable seq after each sync that raised it, on the
 * thread that synced (gl-sync, or the storing thread for wsync_now), serialised, never with
 * a lower seq than before. Set before wsync_start. */
void wsync_on_durable(struct wsync *y, void (*cb)(void *ud, int64_t seq), void *ud);
/* idle_cb(ud) runs on gl-sync each time it has nothing left to sync (the storing thread's
 * wake-up, so that it commits at once). Must not block. Set before wsync_start. */
void wsync_on_idle(struct wsync *y, void (*cb)(void *ud), void *ud);
/* Publishes durable_seq (everything committed so far; -1: none), switches the store to
 * synchronous=NORMAL with its own WAL sync (when that fails the store stays at FULL, every
 * commit is durable by itself, logged once) and starts the thread. 0 or -errno. */
int wsync_start(struct wsync *y, int64_t durable_seq);
/* The slot for the next committed batch, emptied; waits while WSYNC_PENDING_MAX records are
 * pending. Storing thread only, after wsync_start. */
struct wsync_commit *wsync_slot(struct wsync *y);
/* Appends an ack to c. 0 or -ENOMEM (before the commit: nothing is lost). */
int wsync_ack_add(struct wsync_commit *c, const struct event_sink *sink, uint64_t token);
/* Moves c's acks into the slot (the storing thread gathers them in a wsync_commit of its own
 * before the commit, where a failed allocation loses nothing; the swap cannot fail). */
void wsync_acks_swap(struct wsync_commit *slot, struct wsync_commit *acks);
/* Fills the slot's metrics from mb, copying the strings it borrows from ev[0..n) (the
 * batch's events), so that the events can be freed now; when mb overflowed (metrics then
 * count from the events), the slot keeps the events instead and returns true: they are
 * freed after the metrics. Cannot fail (the slot's array holds WRITER_COMMIT_MAX). */
bool wsync_metrics_set(struct wsync_commit *slot, const struct metrics_batch *mb,
                       struct event **ev, size_t n);
/* Hands the slot from wsync_slot to the sync thread. */
void wsync_push(struct wsync *y);
/* True when nothing handed over waits for a sync or is being synced. Any thread. */
bool wsync_idle(struct wsync *y);
/* Waits until every record handed over was synced and its callbacks ran. */
void wsync_drain(struct wsync *y);
/* Syncs on the caller's thread (a seal, before anything exports it) and publishes seq, the
 * highest committed seq, as durable (-1: none). Aborts when the sync fails. */
void wsync_now(struct wsync *y, int64_t seq);
/* Drains, ends the thread; the store is left at NORMAL with the handle still open until
 * wsync_free. Accepts a handle never started. */
void wsync_stop(struct wsync *y);
/* Stops first, frees what is left. Accepts NULL. */
void wsync_free(struct wsync *y);
