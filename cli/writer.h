/* The writer: the one thread that owns the read-write store. It takes batches of events off
 * the queue, numbers them (seq, gapless per chain), stores each batch in one SQLite
 * transaction together with the open epoch's counters, keeps the open epoch's Merkle trees
 * incrementally (one for all records, one per criterion), closes epochs when their interval
 * ends (or on request), signs their manifests, queues their exports in the sealing
 * transaction; cli/exporter.h then writes them.
 *
 * Guarantees: a record is in the database before anything says it is kept; the in-memory
 * trees always describe exactly the committed records of the open epoch (rebuilt from the
 * store on open); an interval that ended while the daemon was down is sealed by writer_open;
 * every interval is sealed, empty or not. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/queue.h"
#include "outputs/outputs.h"
#include "seal/seal.h"

struct writer;

/* An export destination (cli/exporter.h writes to it; the writer only queues epochs for
 * it by name in the outbox). */
struct writer_output {
        const char *name;
        /* Writes one sealed epoch completely (manifest last) or fails; may block. */
        int (*write_epoch)(void *impl, const struct export_epoch *e, struct store_error *err);
        void *impl;
};

struct writer_config {
        const char *db_path;
        const char *chain;
        int64_t epoch_us;
        const struct seal_key *key;            /* borrowed; must outlive the writer */
        const struct writer_output *outputs;   /* borrowed */
        size_t n_outputs;
        /* issue 10, key rotation (docs/FORMAT.md section 9): the announced next key (the
         * key file's FILE.next), borrowed, or NULL. The next manifest, signed by key, names
         * it in "next_key", and every later epoch is signed by it. On open, the key in force
         * is the one the last sealed manifest names (next_key, else key_id): key or next_key.
         * on_rotated_cb(ud) runs once the rotation is sealed (after that commit, or in
         * writer_open when the chain already rotated), so the caller can move the files. */
        const struct seal_key *next_key;
        void (*on_rotated_cb)(void *ud);
        void *on_rotated_ud;
};

/* Opens (or creates) the store, checks that its chain and epoch length match the
 * configuration, rebuilds the open epoch's trees and seals what ended while down.
 * Returns 0 or -errno with err set. */
int writer_open(const struct writer_config *cfg, struct writer **ret, char *err, size_t err_len);
struct rules_pack;
/* Hands the writer a rule pack (ownership moves; NULL: no rules). Before writer_start it
 * applies at once; afterwards (a SIGHUP reload) the writer takes it between two batches,
 * so the new pack applies from one record on, and frees the pack it replaces. Rules run on
 * the writer's mapper thread (cli/writer-map.h), once per event, before the event is stored: a drop rule's event
 * becomes a counted drop (stats.dropped_by_rule), and each record's pack hash reaches
 * stats.rules_packs. Thread-safe. */
void writer_set_rules(struct writer *w, struct rules_pack *p);

/* cb is called on the writer's thread after each epoch's seal committed (the exporter's
 * kick). Set before writer_start. */
void writer_on_sealed(struct writer *w, void (*cb)(void *ud, int64_t epoch), void *ud);
/* issue 12, the durable watermark: cb(ud, seq) runs with the highest seq whose record is
 * durable (committed with synchronous=FULL, so its WAL frames are synced): once at
 * writer_start with what the store held (when it holds any record), then on the storing thread after
 * each commit that stored records; seq never goes back. Anything that exposes records of
 * the open epoch (the stager) must stay at or below it, so that it stays right if commits
 * and syncs are ever decoupled (docs/PERFORMANCE-LOG.md, round 8: measured, not kept).
 * cb must not block. Set before writer_start. */
void writer_on_durable(struct writer *w, void (*cb)(void *ud, int64_t seq), void *ud);
/* issue 12 (stage8): the export stager's feed (cli/stage-feed.h, cli/exporter.h
 * exporter_feed; NULL: none). The storing thread writes each record it stores into the
 * feed's tail, publishes the tail right after the commit (before the durable watermark
 * passes it) and discards it when the transaction rolls back. The feed must outlive the
 * storing thread. Set before writer_start. */
struct stage_feed;
void writer_set_feed(struct writer *w, struct stage_feed *feed);
/* Starts the writer's threads on q (issue 12: a mapper for rules and canonical bytes, and
 * the storing thread behind it on a queue of at most a quarter of q's capacity); drops are
 * taken from d at every commit. */
int writer_start(struct writer *w, struct queue *q, struct drop_counters *d);
/* Asks the thread to close the open epoch now (thread- and signal-context safe). The
 * request queues behind the events the writer already took: they go into the sealed epoch. */
void writer_request_seal(struct writer *w);
/* Without a thread: closes the open epoch now (gatelog seal --now when no daemon runs). */
int writer_seal_now(struct writer *w);
/* Call after queue_close: the thread stores what remains in the queue, then ends; this
 * waits for it. */
int writer_join(struct writer *w);
void writer_free(struct writer *w); /* accepts NULL */
/* Sealed epochs so far (for callers waiting on a seal). */
int64_t writer_sealed_count(struct writer *w);
