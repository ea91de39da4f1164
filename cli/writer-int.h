/* The writer's private parts (cli/writer.c, cli/writer-txn.c): its state, and what the
 * storing thread's transaction code (writer-txn.c) and the epoch code (writer.c) call of
 * each other. Not for other modules: they use cli/writer.h. */
#ifndef GATELOG_CLI_WRITER_INT_H
#define GATELOG_CLI_WRITER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli/writer.h"
#include "cli/writer-map.h"
#include "cli/writer-prof.h"
#include "cli/writer-stats.h"
#include "cli/writer-sync.h"
#include "core/buf.h"
#include "core/metrics.h"
#include "outputs/outputs.h"

/* One incremental tree per criterion of the open epoch. */
struct crit_tree {
        char *id;
        size_t len;  /* strlen(id): looked up for every criterion of every record */
        struct merkle *tree;
};

struct open_epoch {
        int64_t epoch, start_us, end_us, first_seq;
        struct merkle *tree;
        struct crit_tree *crit;   /* sorted by id, RFC 8785 order */
        size_t n_crit;
        /* counters, persisted with every batch as the epoch row's stats */
        struct epoch_stats stats;
};

struct writer {
        struct store *store;
        char *chain;
        int64_t epoch_us;
        const struct seal_key *key;
        char key_id[HASH_HEX_LEN];
        /* issue 10, key rotation: the key to announce in the next manifest, or NULL. */
        const struct seal_key *next_key;
        uint8_t next_pk[SEAL_PK_LEN];
        char next_key_id[HASH_HEX_LEN];
        void (*on_rotated_cb)(void *ud);
        void *on_rotated_ud;
        const struct writer_output *outputs;
        size_t n_outputs;
        void (*sealed_cb)(void *ud, int64_t epoch);
        void *sealed_ud;
        /* issue 12 (stage8): the export stager's feed (NULL: none), each record written into
         * it as it is stored, published by the commit (writer_set_feed) */
        struct stage_feed *feed;
        /* issue 12: the durable watermark (writer_on_durable) */
        void (*durable_cb)(void *ud, int64_t seq);
        void *durable_ud;

        struct open_epoch open;
        int64_t next_seq;
        uint8_t prev[HASH_LEN];       /* hash of the last sealed manifest; zeros before */
        _Atomic int64_t sealed_count;

        struct queue *q;
        struct drop_counters *drops;
        pthread_t thread;
        bool started;
        atomic_bool stopping;         /* set after the queue is closed */
        /* issue 12: the mapper stage (cli/writer-map.c) takes q, applies the rules and makes
         * canonical bytes on its own thread, and hands events over on mq; a seal request
         * travels on mq as &seal_mark, behind the events received before it. */
        struct wmap *map;
        struct queue *mq;
        struct event seal_mark;
        /* issue 12: what a batch's commit hands to the trees, gathered while its records
         * are stored so that nothing after the commit reads the events or their mapped
         * records again (by then SQLite's work has pushed them out of the cache: that
         * second pass was ~5 % of the storing thread). Reused from batch to batch. */
        struct batch_scratch {
                uint8_t (*leaves)[HASH_LEN];  /* one per record, WRITER_COMMIT_MAX */
                struct merkle **trees;        /* each record's criterion trees, then NULL */
                size_t n_trees, trees_alloc;
        } bs;
        /* issue 12 (sync9): the storing thread's open transaction. Events are stored into
         * it as they arrive; it commits (synchronous=NORMAL) when gl-sync is idle and the
         * batch is big or old enough, or when it is full (txn_due), so that inserting the
         * next batch overlaps the previous commit's fdatasync on gl-sync. The events stay
         * here until their commit succeeded (a failed one is retried whole). */
        struct txn {
                struct event **ev;            /* WRITER_COMMIT_MAX */
                size_t n, k;                  /* events, and records among them */
                bool open;                    /* txn_begin ran for this try (r: how it went) */
                bool saved_ok;                /* saved holds a snapshot */
                int r;                        /* first error of this try; 0 */
                int64_t t0, opened_us;        /* tm_mono_us at its first event */
                struct epoch_stats saved;     /* the open epoch's counters before it */
                struct metrics_batch mb;      /* tallied while storing, published on gl-sync */
                struct wsync_commit acks;     /* only acks: (sink, token) of its events */
                struct buf b;                 /* one record's bytes (when not in the feed) */
                struct wmap_seq_text seq_text;  /* the last record's seq as text */
        } txn;
        struct wsync *sync;           /* gl-sync: the commits' fdatasync and what follows it */
        WPROF_DECL                    /* -DGL_WRITER_PROF only (cli/writer-prof.h) */
};

/* writer.c: the tree of criterion id of the open epoch, created on first use (NULL when out
 * of memory); the open epoch's row with its record count; seals the open epoch when its
 * interval ended at now (0, or -errno with nothing sealed). */
struct merkle *wopen_crit_tree(struct open_epoch *o, const char *id);
int wopen_put_count(struct writer *w, int64_t count);
int wseal_due(struct writer *w, int64_t now);

/* writer-txn.c, on the storing thread: stores events into the open transaction, committing
 * it when due (and before an event of the next epoch, sealing that one); whether it is due
 * now; commits it (retried every second while it holds events). */
void wtxn_write(struct writer *w, struct event **ev, size_t n);
bool wtxn_due(const struct writer *w);
int wtxn_commit(struct writer *w);

#endif
