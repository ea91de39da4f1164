/* Private to the exporter's two files: cli/exporter.c (the outbox thread, gl-export) and
 * cli/exporter-stage.c (the stager, gl-stage, issue 12). */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli/exporter.h"
#include "cli/stage-feed.h"
#include "core/buf.h"
#include "outputs/outputs.h"

struct out_state {
        int64_t retry_at_us;   /* monotonic; 0: no wait */
        int64_t backoff_us;
        int failures;          /* consecutive, for logging once per state change */

        /* issue 12, staging (folder outputs only). Under stage_lock, except that while
         * staging is set the stager alone uses them, without the lock. */
        struct export_folder_stage *stage;  /* NULL: nothing staged yet */
        int64_t stage_epoch;   /* the open epoch being staged (or given up); -1: none */
        int64_t stage_lo;      /* its seq range's start when staging began */
        int64_t stage_last;    /* the last seq staged; INT64_MIN: none */
        bool stage_done;       /* stage_epoch is not staged further (taken, given up) */
        bool staging;          /* the stager is in a pass over this output */
        bool stage_warned;     /* a failure was logged (once per daemon) */
        int64_t stage_asked;   /* records up to this seq were read from the store */
        /* The stage of the epoch before stage_epoch, kept when the stager moved on to the
         * next open epoch before this thread took it (a seal, then records right away). */
        struct export_folder_stage *prev;
        int64_t prev_epoch, prev_lo, prev_last;
};

struct exporter {
        struct store *store;
        char *chain;
        const struct writer_output *outputs;
        size_t n_outputs;
        struct out_state *state;
        uint64_t rng;

        /* Trusted time (issue 10): with tsa_url, an epoch goes out only with its RFC 3161
         * token (stored in the store's timestamps table once obtained); tsa_ca, when set,
         * checks each reply before it is stored. tsa_failing: for logging per state change. */
        char *tsa_url, *tsa_ca;
        bool tsa_failing;

        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool kicked, stopping;

        /* issue 12: the stager (gl-stage) and its own connection. stage_break asks it to
         * end its pass at the next record (an export wants the stage, or a stop). */
        char *db_path;
        struct store *stage_store;
        pthread_t stager;
        bool stager_started, stage_stopping;
        pthread_mutex_t stage_lock;
        pthread_cond_t stage_cond;
        atomic_bool stage_break;
        /* issue 12 (stage8): the committed records from the storing thread (NULL: no
         * stager), the highest durable seq (the stager writes nothing above it), a wake-up
         * owed to the stager (under stage_lock), and the stager's buffer for what it reads
         * from the store. */
        struct stage_feed *feed;
        _Atomic int64_t durable;
        bool stage_kicked;
        struct buf stage_buf;
        /* Records staged from the feed and from the store (the stager counts, tests read),
         * passes done (under stage_lock, for exporter_stage_wait), the feed's sizes
         * (exporter_set_feed). */
        _Atomic uint64_t staged_fed, staged_store;
        uint64_t stage_passes;
        size_t feed_block_bytes, feed_blocks;
};

/* issue 12: how an export reads an epoch from the store (exporter.c): the records with seq
 * > after (tail) or all of them, each handed to cb with its criteria. */
struct export_stream {
        struct store *store;
        int64_t epoch;
        bool tail;             /* only the records with seq > after (staged) */
        int64_t after;
        int (*cb)(void *cb_ud, const struct export_record *r);
        void *cb_ud;
};

/* Hands one record's bytes to cb with the criteria its bytes name (export-crit.h, then the
 * full scanner, then the full parser). Returns cb's value, or -ENOMEM. */
int exporter_with_criteria(const char *data, size_t len,
                           int (*cb)(void *ud, const struct export_record *r), void *ud);

/* The stager (exporter-stage.c). */
/* Outputs that can stage: the folder output (S3 uploads each object whole, at the seal). */
bool exporter_output_stages(const struct writer_output *o);
/* Called by the exporter thread before exporting epoch to output i: stops the stager's
 * pass over it, and hands over the stage when it holds epoch and is still the start of the
 * epoch's seq range (*ret_after: the last seq staged). NULL when nothing fits; a stage of
 * an older epoch is removed. */
struct export_folder_stage *exporter_stage_take(struct exporter *x, size_t i, int64_t epoch,
                                                int64_t *ret_after);
/* Starts the stager when an output can stage; without it every export is written at the
 * seal, as before. */
void exporter_stager_start(struct exporter *x);
/* Stops the stager's thread; its stages stay for the last pass of exporter_stop. */
void exporter_stager_halt(struct exporter *x);
/* Stops the stager and removes what it staged (a restart restages from the store). */
void exporter_stager_free(struct exporter *x);
