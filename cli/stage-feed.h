/* The stager's feed (issue 12): committed records handed from the storing thread to the
 * export stager (gl-stage, cli/exporter.c) in memory, so that the stager reads no SQLite
 * snapshot while the epoch is open.
 *
 * Why: the stager used to read each pass's records back from SQLite in one read
 * transaction; that snapshot kept checkpoints from finishing (the WAL grew to 185 MB and
 * the storing thread ran them inline) and SQLite's reading was a third of the stager's CPU
 * (docs/PERFORMANCE-LOG.md, round 7, stage7). The storing thread has each record's bytes in
 * hand while it stores them: writing them here costs one copy per record.
 *
 * Bounded, never waits: at most max_blocks blocks of block_bytes. When every block holds
 * records the consumer has not read, the producer drops the rest of the transaction it is
 * putting without reading it (the consumer is behind: copying records it would not reach
 * before they were overwritten only costs the storing thread; a measured first version
 * that overwrote the oldest block copied ~90 % of the records for nothing at load 15). The
 * highest seq dropped is kept (stage_feed_dropped_through), and the consumer finds every
 * other hole by the seq of the next record it gets. A dropped record is not lost: it is in
 * the store, and the stager reads it from there (export_stage_records). The feed only ever
 * holds records in seq order.
 *
 * Threads: one producer (put, skip, publish, discard: the storing thread) and one consumer
 * (peek, next, release: gl-stage); one mutex, taken once per block on either side and twice
 * per transaction by the producer, never held while copying. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct wmap_rec;

/* 1 MiB blocks, eight at most: ~10,000 records of the loadgen mix (~800 bytes each with the
 * entry's header). The feed holds the open transaction's tail (up to WRITER_COMMIT_MAX,
 * 2,048 records, ~1.6 MiB), the committed records waiting for gl-sync's fdatasync (up to
 * WSYNC_PENDING_MAX commits) and those the stager has not read yet. With four blocks
 * (round 12, load 4, 200k TCP events, 3 runs each) the feed dropped 15-32k records and
 * gl-stage read them back from the store at ~3x the CPU per record; with six 0-25k, with
 * eight 0-1.5k. Blocks are allocated when first needed; 8 MiB at most, within the
 * daemon's 64 MiB budget at overload. A record larger than a block is never fed. */
#define STAGE_FEED_BLOCK_BYTES ((size_t)1 << 20)
#define STAGE_FEED_BLOCKS 8

/* One record as the consumer sees it (borrowed from the feed until released). */
struct stage_feed_rec {
        int64_t seq, epoch;
        int64_t epoch_first;   /* the first seq of the record's epoch (the writer's) */
        const char *data;      /* the stored bytes, NUL-terminated */
        size_t len;
        /* The record's criteria as the mapper read them from its tree (n_crit ids, each
         * NUL-terminated, one after another); crit NULL: not known here, read them from
         * the bytes (export-crit.h). */
        const char *crit;
        size_t n_crit;
};

struct stage_feed;

/* A feed of at most max_blocks blocks of block_bytes (tests use small ones). Blocks are
 * allocated when first needed. 0, -EINVAL or -ENOMEM. */
int stage_feed_new(size_t block_bytes, size_t max_blocks, struct stage_feed **ret);
void stage_feed_free(struct stage_feed *f);  /* accepts NULL */

/* Producer: the storing thread, while it stores the records of its open transaction
 * (cli/writer-txn.c, issue 12). Each record goes into the feed's unpublished tail as it is
 * stored, while its bytes are in the cache (copying them after the commit re-read records
 * that the batch's SQLite work had evicted: ~300 instructions a record on the serial
 * stage); the commit publishes the tail (stage_feed_publish), a rollback forgets it
 * (stage_feed_discard): the consumer never sees a record of a transaction that failed, and
 * the retry puts them again. A transaction may span several blocks. */

/* Record seq of epoch (whose first seq is epoch_first): the mapper's bytes m with the nl
 * digits of seq in place of its "0" (wmap_splice_to), into the tail. Returns its bytes,
 * NUL-terminated, *ret_len of them: they stay where they are, unchanged, until the tail is
 * published or discarded, so the caller hashes and stores them from there. NULL when the
 * record is not fed: larger than a block, or every block holds unread records (the
 * consumer is behind: nothing more of this transaction is fed, without being read). Never
 * blocks, never fails. */
const char *stage_feed_put(struct stage_feed *f, int64_t epoch, int64_t epoch_first,
                           int64_t seq, const struct wmap_rec *m, const char *digits,
                           size_t nl, size_t *ret_len);
/* Record seq of the transaction is not fed (the mapper could not make its bytes): a hole
 * once published. */
void stage_feed_skip(struct stage_feed *f, int64_t seq);
/* After the commit: the tail's records to the consumer, its holes to dropped_through. */
void stage_feed_publish(struct stage_feed *f);
/* After a rollback: the tail as if never put. */
void stage_feed_discard(struct stage_feed *f);

/* Consumer. A view is the unread records of the oldest block that has any, claimed (the
 * producer does not take it) until stage_feed_release. */
struct stage_feed_view {
        void *block;           /* opaque */
        const char *at;        /* the next record */
        const char *end;       /* what the producer had published at the peek */
};
/* Fills v and returns true when a block holds unread records; false when none. */
bool stage_feed_peek(struct stage_feed *f, struct stage_feed_view *v);
/* The record at v->at into r, v->at then at the one after; false at the view's end.
 * Returns the record's position in *pos (for stage_feed_release). No lock. */
bool stage_feed_next(struct stage_feed_view *v, struct stage_feed_rec *r, const char **pos);
/* Ends the claim: the records before upto (a position from stage_feed_next, or v->end)
 * are consumed, the rest stays for the next peek. A block read to its end goes back to
 * the producer. */
void stage_feed_release(struct stage_feed *f, struct stage_feed_view *v, const char *upto);
/* The highest seq dropped so far (INT64_MIN: none). */
int64_t stage_feed_dropped_through(struct stage_feed *f);

struct stage_feed_stats {
        /* Records copied in; records dropped (never copied in, or in a block taken back
         * before they were read). Every record pushed is read once or dropped once. */
        uint64_t fed, dropped;
        size_t blocks;          /* blocks allocated now */
};
void stage_feed_stats(struct stage_feed *f, struct stage_feed_stats *ret);

/* One record appended to b in the feed's entry layout (crit NULL: criteria unknown), for a
 * consumer that reads a part from the store and wants the same walk: stage_feed_view_of
 * then iterates b's records. 0 or -ENOMEM. */
int stage_feed_buf_put(struct buf *b, const struct stage_feed_rec *r);
void stage_feed_view_of(struct stage_feed_view *v, const struct buf *b);
