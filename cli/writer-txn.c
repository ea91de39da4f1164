/* The storing thread's transaction (issue 12): events go into one open SQLite transaction
 * as they arrive, it commits when due, and after the commit the Merkle trees, the stager's
 * feed and gl-sync (the fdatasync, then what says "stored") take the batch. Split from
 * cli/writer.c, which keeps the epochs, the seal and the thread. */
#include "cli/writer-int.h"
#include "cli/stage-feed.h"
#include "cli/writer-map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/prefetch.h"
#include "core/tm.h"

static size_t event_criteria(const struct event *e, const char *crit[64]) {
        size_t nc = 0;
        if (e->mapped) {
                const struct wmap_rec *m = e->mapped;
                const char *id = m->crit;
                for (size_t j = 0; j < m->n_crit && nc < 64; j++, id = wmap_next(id))
                        crit[nc++] = id;
                return nc;
        }
        const json *cr = json_obj_get(e->rec, "criteria");
        for (size_t j = 0; j < json_len(cr) && nc < 64; j++)
                if ((crit[nc] = json_str(json_arr_at(cr, j), NULL)))
                        nc++;
        return nc;
}

/* The bytes of a record the mapper made, with seq spliced in: written into the stager's
 * feed (the commit publishes them, a rollback discards them) and stored and hashed from
 * there, or into b when the feed does not take them. 0 or -ENOMEM. */
static int splice_one(struct writer *w, const struct wmap_rec *m, int64_t seq, struct buf *b,
                      struct store_record *sr) {
        const char *digits, *data = NULL;
        size_t nl = wmap_seq_text(&w->txn.seq_text, seq, &digits), len = 0;
        if (w->feed)
                data = stage_feed_put(w->feed, w->open.epoch, w->open.first_seq, seq, m,
                                      digits, nl, &len);
        if (!data) {
                int r = wmap_splice_buf(m, digits, nl, b);
                if (r < 0)
                        return r;
                data = b->data;
                len = b->len;
        }
        wmap_leaf(m, data, len, sr->leaf);
        sr->data = data;
        sr->len = len;
        return 0;
}

/* Stores one record of a batch: seq, canonical bytes, leaf, criteria rows. A record the
 * mapper made into bytes only gets its seq spliced in; a tree (the mapper could not make
 * bytes) is canonicalised here (and not fed to the stager). The record's leaf and its
 * criterion trees (created now, so that nothing can fail after the commit) go into w->bs
 * for batch_committed. */
static int store_one(struct writer *w, struct event *e, int64_t seq, struct buf *b,
                     uint8_t leaf[HASH_LEN]) {
        const char *crit[64];
        size_t nc = event_criteria(e, crit);
        struct batch_scratch *bs = &w->bs;
        int r = 0;
        if (bs->n_trees + nc + 1 > bs->trees_alloc) {
                size_t na = (bs->trees_alloc ? bs->trees_alloc * 2 : 1024) + nc + 1;
                struct merkle **t = realloc(bs->trees, na * sizeof(*t));
                if (!t)
                        return -ENOMEM;
                bs->trees = t;
                bs->trees_alloc = na;
        }
        size_t t0 = bs->n_trees;
        for (size_t j = 0; r >= 0 && j < nc; j++) {
                struct merkle *t = wopen_crit_tree(&w->open, crit[j]);
                if (!t)
                        r = -ENOMEM;
                bs->trees[bs->n_trees++] = t;
        }
        if (r < 0) {
                bs->n_trees = t0;
                return r;
        }
        bs->trees[bs->n_trees++] = NULL;
        struct store_record sr = {
                .seq = seq, .epoch = w->open.epoch,
                .received_us = e->received_us, .time_us = e->received_us,
                .criteria = crit, .n_criteria = nc,
        };
        if (e->mapped) {
                const struct wmap_rec *m = e->mapped;
                r = splice_one(w, m, seq, b, &sr);
                sr.host = m->host;
                sr.time_us = m->time_us;
        } else {
                if (w->feed)
                        stage_feed_skip(w->feed, seq);
                r = json_obj_set_int(e->rec, "seq", seq);
                buf_reset(b);
                if (r >= 0)
                        r = json_canon(e->rec, b);
                sr.host = json_str(json_obj_get(e->rec, "host"), NULL);
                size_t tl;
                const char *ts = json_str(json_obj_get(e->rec, "time"), &tl);
                if (ts)
                        (void)tm_parse_rfc3339(ts, tl, 0, &sr.time_us);
                sr.data = b->data;
                sr.len = b->len;
                if (r >= 0)
                        merkle_leaf_hash(b->data, b->len, sr.leaf);
        }
        if (r < 0)
                return r;
        memcpy(leaf, sr.leaf, HASH_LEN);
        return store_record_insert(w->store, &sr);
}

/* Events and their mapped records were last written on the mapper's core: reading one here
 * misses the cache at the event, the record's header and its criteria (perf, issue 12: the
 * largest self cost of the storing thread). Ask for the ones a few events ahead while this
 * one is stored, one pointer further each step: the event three ahead, the record header
 * two ahead, its criteria and seq one ahead. */
static inline void prefetch_event(struct event *const *ev, size_t i, size_t n) {
        if (i + 3 < n)
                prefetch(ev[i + 3]);
        if (i + 2 < n && ev[i + 2]->mapped)
                prefetch(ev[i + 2]->mapped);
        if (i + 1 < n && ev[i + 1]->mapped) {
                const struct wmap_rec *m = ev[i + 1]->mapped;
                prefetch(m->crit);
                prefetch(m->data + m->seq_off);
        }
}

/* After the commit: the trees take the batch's k leaves (from w->bs, filled by store_one),
 * the stager gets the records written into its feed; then what says they are stored (the durable watermark, the
 * sinks' acks, the "stored" metrics) goes to gl-sync, which runs it after the fdatasync that
 * makes the commit durable (issue 12, sync9), and the events are freed here. Nothing here
 * can fail: the commit is done. */
static void batch_committed(struct writer *w, const uint64_t took[DROP__MAX]) {
        struct txn *t = &w->txn;
        struct event **ev = t->ev;
        size_t n = t->n, k = t->k;
        struct merkle *const *tr = w->bs.trees;
        for (size_t i = 0; i < k; i++) {
                const uint8_t *leaf = w->bs.leaves[i];
                int a = merkle_add_leaf(w->open.tree, leaf);
                for (; *tr; tr++)
                        if (a >= 0)
                                a = merkle_add_leaf(*tr, leaf);
                tr++;
                if (a < 0) {
                        /* The records are committed; the trees can be rebuilt from them,
                         * which is what a restart does. */
                        log_error("out of memory after commit; exiting to rebuild",
                                  "seq=%lld", (long long)(w->next_seq + (int64_t)i));
                        abort();
                }
        }
        if (w->feed)  /* issue 12 (stage8): the stager's records, from memory */
                stage_feed_publish(w->feed);
        w->next_seq += (int64_t)k;
        struct wsync_commit *c = wsync_slot(w->sync);
        c->last_seq = k ? w->next_seq - 1 : -1;
        c->t0_us = t->t0;
        memcpy(c->took, took, sizeof(c->took));
        wsync_acks_swap(c, &t->acks);
        bool held = wsync_metrics_set(c, &t->mb, ev, n);
        wsync_push(w->sync);
        /* Recycled blocks go back a run at a time (store7, issue 12). */
        if (!held)
                event_free_batch(ev, n);
        t->n = t->k = 0;
}

/* The positions of a batch's resumable sources: the transaction leaves each source's row at
 * its last event's position, so that one is the only one written (issue 12: a Kafka batch
 * wrote one UPSERT per message, ~15 % of the storing thread). Past WRITER_POS_SOURCES
 * distinct sources in a batch, the others' positions are written as they come, in order. */
#define WRITER_POS_SOURCES 32
static int store_positions(struct writer *w, struct event **ev, size_t n) {
        size_t last[WRITER_POS_SOURCES], n_src = 0;
        int r = 0;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (!ev[i]->pos_source || !ev[i]->pos)
                        continue;
                size_t j = 0;
                while (j < n_src && strcmp(ev[last[j]]->pos_source, ev[i]->pos_source) != 0)
                        j++;
                if (j == WRITER_POS_SOURCES)
                        r = store_position_set(w->store, ev[i]->pos_source, ev[i]->pos);
                else {
                        last[j] = i;
                        n_src += j == n_src;
                }
        }
        for (size_t j = 0; r >= 0 && j < n_src; j++)
                r = store_position_set(w->store, ev[last[j]]->pos_source, ev[last[j]]->pos);
        return r;
}

/* Opens the transaction (a new try: what t->ev holds is stored again by txn_store). */
static void txn_begin(struct writer *w) {
        struct txn *t = &w->txn;
        w->bs.n_trees = 0;
        t->k = 0;
        t->acks.n_acks = 0;
        t->t0 = tm_mono_us();  /* ops (issue 9): commit latency */
        metrics_batch_init(&t->mb);
        t->open = true;
        t->r = epoch_stats_snapshot(&w->open.stats, &t->saved);
        t->saved_ok = t->r >= 0;
        if (t->r >= 0)
                t->r = store_begin(w->store);
}

/* Stores t->ev[from..n) into the open transaction; the first error stops it (t->r). */
static void txn_store(struct writer *w, size_t from) {
        struct txn *t = &w->txn;
        for (size_t i = from; t->r >= 0 && i < t->n; i++) {
                struct event *e = t->ev[i];
                int r = 0;
                prefetch_event(t->ev, i, t->n);
                if (event_has_record(e)) {
                        r = store_one(w, e, w->next_seq + (int64_t)t->k, &t->b,
                                      w->bs.leaves[t->k]);
                        t->k++;
                }
                if (r >= 0 && e->sink && e->sink->committed_cb)
                        r = wsync_ack_add(&t->acks, e->sink, e->sink_token);
                if (r >= 0)
                        r = epoch_stats_event(&w->open.stats, e);
                metrics_batch_note(&t->mb, e);
                t->r = r;
        }
}

/* Adds ev[0..n) to the transaction (opened on the first), n ≤ WRITER_COMMIT_MAX - t->n. */
static void txn_add(struct writer *w, struct event **ev, size_t n) {
        struct txn *t = &w->txn;
        if (n == 0)
                return;
        if (t->n == 0) {
                if (!t->open)
                        txn_begin(w);
                t->opened_us = tm_mono_us();
        }
        memcpy(t->ev + t->n, ev, n * sizeof(*ev));
        t->n += n;
        txn_store(w, t->n - n);
}

/* Commits the transaction once (opened here when nothing was added: the counters alone).
 * 0; or -errno with the store and the counters as they were before it, its events still in
 * t->ev for the next try. */
static int txn_commit_once(struct writer *w) {
        struct txn *t = &w->txn;
        uint64_t took[DROP__MAX] = { 0 };
        if (!t->open)
                txn_begin(w);
        int r = t->r;
        if (r >= 0)
                r = epoch_stats_flush(&w->open.stats);
        if (r >= 0)
                r = store_positions(w, t->ev, t->n);
        if (r >= 0) {
                drop_take(w->drops ? w->drops : &(struct drop_counters){ 0 }, took);
                epoch_stats_drops(&w->open.stats, took);
                /* The count in the row must include this batch before the trees do. */
                r = wopen_put_count(w, (int64_t)(merkle_count(w->open.tree) + t->k));
        }
        WPROF_MARK(&w->prof, WP_INSERT);
        if (r >= 0)
                r = store_commit(w->store);
        WPROF_MARK(&w->prof, WP_COMMIT);
        WPROF_COUNT(&w->prof, 1, t->n);
        t->open = false;
        if (r < 0) {
                log_error("store write failed", "events=%zu error=\"%s\"", t->n,
                          store_errmsg(w->store));
                (void)store_rollback(w->store);
                if (w->feed)  /* the stager must never see what was rolled back */
                        stage_feed_discard(w->feed);
                /* gl-sync's metrics of earlier commits first, so that "not writable" is
                 * the last word. */
                wsync_drain(w->sync);
                metrics_store_failed();  /* ops (issue 9) */
                if (t->saved_ok)
                        epoch_stats_restore(&w->open.stats, &t->saved);
                /* Drops taken stay counted: give them back for the next try. */
                for (int d = 0; d < DROP__MAX; d++)
                        if (took[d] && w->drops)
                                drop_count(w->drops, d, took[d]);
                t->r = 0;
                return r;
        }
        epoch_stats_clear(&t->saved);
        batch_committed(w, took);
        WPROF_MARK(&w->prof, WP_AFTER);
        return 0;
}

/* A failed store write is retried every second. During shutdown this says once why the
 * daemon does not exit yet: it will not drop what it received. (SIGKILL stops it at once and
 * loses what was not committed; journald and Kafka replay that, syslog senders cannot.) */
static void write_retry_wait(struct writer *w, size_t left, bool *told) {
        if (atomic_load(&w->stopping) && !*told) {
                log_warn("stopping: waiting for the store to accept the remaining events",
                         "events=%zu queued=%zu", left, w->q ? queue_depth(w->q) : (size_t)0);
                *told = true;
        }
        sleep(1);
}

/* Commits the transaction; one holding events is retried every second until it succeeds
 * (the events stay ours), one of counters only is tried once. 0 or -errno. */
int wtxn_commit(struct writer *w) {
        struct txn *t = &w->txn;
        bool told = false;
        if (t->n == 0)
                return txn_commit_once(w);
        while (txn_commit_once(w) < 0) {
                write_retry_wait(w, t->n, &told);
                txn_begin(w);
                txn_store(w, 0);
        }
        return 0;
}

/* Whether the open transaction commits now (issue 12, sync9). Full: always. Otherwise only
 * when gl-sync is idle (no commit waits for its fdatasync, so this one's starts at once),
 * and the batch is as big as a batch waits for (WRITER_BATCH_MAX) or its first event
 * waited the gather time the writer always gave a light load (WRITER_BATCH_WAIT_US / 10).
 * While gl-sync syncs, events keep going into this transaction: one commit per sync, as
 * before, but the inserts no longer wait for the disk. */
bool wtxn_due(const struct writer *w) {
        const struct txn *t = &w->txn;
        if (t->n >= WRITER_COMMIT_MAX)
                return true;
        if (t->n == 0 || !wsync_idle(w->sync))
                return false;
        return t->n >= WRITER_BATCH_MAX ||
               tm_mono_us() - t->opened_us >= WRITER_BATCH_WAIT_US / 10;
}

/* Stores events in order into the transaction, committing it when due; an event received
 * after the open epoch's end first commits what came before it and seals that epoch. */
void wtxn_write(struct writer *w, struct event **ev, size_t n) {
        size_t i = 0;
        bool told = false;
        while (i < n) {
                if (ev[i]->received_us >= w->open.end_us) {
                        (void)wtxn_commit(w);  /* with events: until it succeeds */
                        if (w->txn.n > 0 || wseal_due(w, ev[i]->received_us) < 0) {
                                write_retry_wait(w, n - i, &told);
                                continue;
                        }
                }
                size_t k = i;
                size_t room = WRITER_COMMIT_MAX - w->txn.n;
                while (k < n && k - i < room && ev[k]->received_us < w->open.end_us)
                        k++;
                txn_add(w, ev + i, k - i);
                if (w->txn.n >= WRITER_COMMIT_MAX)
                        (void)wtxn_commit(w);
                i = k;
        }
}
