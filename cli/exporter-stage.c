/* The stager (gl-stage): the open epoch's export written while the epoch is open (issue 12).
 *
 * Load: every stored record once per folder output, as it becomes durable; the storing
 * thread writes each record it stores into a bounded feed (cli/stage-feed.h) and publishes
 * them at the commit, the durable watermark wakes this thread, and it appends the records up to that seq to each
 * folder output's stage (export_folder_stage_add): records.jsonl and the tsc files grow in
 * a hidden staging folder. At the seal the exporter thread takes the stage and commits it
 * after the tail (export_stage_records past the last staged seq), so the export is the same
 * bytes as an export in one go.
 *
 * Guarantees: a stage holds the records of its epoch from the epoch's first seq on, in seq
 * order, each once, and never a record above the durable watermark (a record that a power
 * loss could still take back is never written to an export, staged or not). The feed
 * drops records when the stager lags (it never makes the storing thread wait): those
 * records, a record the mapper could not make bytes for, and everything before the first
 * record fed after a restart, are read from the store in chunks of one short read
 * transaction each (copied out, then written), so that no snapshot stays open while files
 * are written. In the steady state no read transaction is open at all: round 7 found that
 * the stager's snapshot kept WAL checkpoints from completing (the WAL grew to 185 MB and
 * the storing thread checkpointed inline, docs/PERFORMANCE-LOG.md, stage7).
 *
 * Priority: the stager runs at the daemon's own nice value, like the pipeline's threads.
 * Until round 9 it lowered its thread to nice 10 so that staging would yield to storing;
 * fed from memory (~0.7 CPU-us per record, most of it the kernel's page-cache writes) it
 * needs ~8 % of a core at 120k events/s, which nice 10 did not give it on a busy 2-core
 * host: the feed then dropped 1-74 % of the records (median 25 %, load 8-12), read back
 * from the store at ~3x the instructions, with read snapshots held against the
 * checkpointer and ~4 MiB more peak RSS (every feed block full, SQLite's page cache on the
 * stager's connection). At the daemon's nice value the feed dropped nothing in 10 of 12
 * runs (at most 4.5 %) at the same CPU per event and rate (docs/PERFORMANCE-LOG.md,
 * round 9, cpu9). Not raised above the daemon's: a stager that still lags under
 * saturation only reads more from the store, or leaves a longer tail for the seal. */
#include "cli/exporter-int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/tm.h"

/* Without a wake-up (no records, or a store error to retry), a pass every half second. */
#define EXPORT_STAGE_US (TM_USEC_PER_SEC / 2)
/* What one read transaction copies out of the store at most (a record larger than that
 * alone). */
#define EXPORT_STAGE_CHUNK STAGE_FEED_BLOCK_BYTES

bool exporter_output_stages(const struct writer_output *o) {
        return o->write_epoch == exporter_folder_write;
}

/* ---- the producers' side: the storing thread and the durable watermark ---- */

struct stage_feed *exporter_feed(struct exporter *x) {
        return x->stager_started ? x->feed : NULL;
}

void exporter_durable(void *ud, int64_t seq) {
        struct exporter *x = ud;
        int64_t was = atomic_load(&x->durable);
        while (seq > was && !atomic_compare_exchange_weak(&x->durable, &was, seq))
                ;
        if (!x->feed)
                return;
        pthread_mutex_lock(&x->stage_lock);
        x->stage_kicked = true;
        pthread_cond_signal(&x->stage_cond);
        pthread_mutex_unlock(&x->stage_lock);
}

/* ---- the exporter thread's side ---- */

struct export_folder_stage *exporter_stage_take(struct exporter *x, size_t i, int64_t epoch,
                                                int64_t *ret_after) {
        struct out_state *st = &x->state[i];
        struct export_folder_stage *fs = NULL, *old = NULL;
        int64_t lo = 0, last = 0;

        if (!x->stager_started)
                return NULL;
        pthread_mutex_lock(&x->stage_lock);
        atomic_store(&x->stage_break, true);
        while (st->staging)
                pthread_cond_wait(&x->stage_cond, &x->stage_lock);
        atomic_store(&x->stage_break, false);
        if (st->stage_epoch == epoch) {
                fs = st->stage;
                lo = st->stage_lo;
                last = st->stage_last;
                st->stage = NULL;
                st->stage_done = true;  /* records of it may still come from the feed */
        } else if (st->stage_epoch < epoch) {
                old = st->stage;
                st->stage = NULL;
        }
        if (st->prev && st->prev_epoch == epoch) {
                fs = st->prev;
                lo = st->prev_lo;
                last = st->prev_last;
                st->prev = NULL;
        } else if (st->prev && st->prev_epoch < epoch) {
                export_folder_stage_free(old);
                old = st->prev;
                st->prev = NULL;
        }
        pthread_mutex_unlock(&x->stage_lock);
        export_folder_stage_free(old);
        /* The staged records must still be the start of the range the export walks. */
        if (fs && export_stage_check(x->store, epoch, lo, last) < 0) {
                log_warn("staged export dropped", "output=%s epoch=%lld",
                         x->outputs[i].name, (long long)epoch);
                export_folder_stage_free(fs);
                fs = NULL;
        }
        *ret_after = last;
        return fs;
}

/* ---- the stager's side: one output ---- */

/* The stager is in a pass over output i (false: an export or a stop wants it now). */
static bool stage_enter(struct exporter *x, size_t i) {
        bool ok;
        pthread_mutex_lock(&x->stage_lock);
        ok = !atomic_load(&x->stage_break) && !x->stage_stopping;
        if (ok)
                x->state[i].staging = true;
        pthread_mutex_unlock(&x->stage_lock);
        return ok;
}

static void stage_leave(struct exporter *x, size_t i) {
        pthread_mutex_lock(&x->stage_lock);
        x->state[i].staging = false;
        pthread_cond_broadcast(&x->stage_cond);
        pthread_mutex_unlock(&x->stage_lock);
}

/* A new open epoch: the last one's stage waits for the exporter thread (older ones go:
 * their exports are behind, and will be written in one go). */
static void stage_switch(struct out_state *st, int64_t epoch) {
        export_folder_stage_free(st->prev);
        st->prev = st->stage;
        st->prev_epoch = st->stage_epoch;
        st->prev_lo = st->stage_lo;
        st->prev_last = st->stage_last;
        st->stage = NULL;
        st->stage_epoch = epoch;
        st->stage_last = INT64_MIN;
        st->stage_done = false;
}

/* A failed write leaves a partial line, a moved range a stage that no longer fits: give
 * the epoch up (its export is then written in one go at the seal). */
static void stage_give_up(struct exporter *x, size_t i, int r, const struct store_error *err) {
        struct out_state *st = &x->state[i];
        if (!st->stage_warned)
                log_warn("staging failing", "output=%s epoch=%lld error=\"%s\"",
                         x->outputs[i].name, (long long)st->stage_epoch,
                         err && err->msg[0] ? err->msg : strerror(-r));
        st->stage_warned = true;
        export_folder_stage_free(st->stage);
        st->stage = NULL;
        st->stage_done = true;
}

struct line_ctx {
        struct export_folder_stage *fs;
        struct store_error err;
};

static int stage_line_cb(void *ud, const struct export_record *rec) {
        struct line_ctx *c = ud;
        return export_folder_stage_add(c->fs, rec, &c->err);
}

/* Appends r to output i's stage of r's epoch (the stage's current one, not done, r the
 * next seq), opening the stage first; lo: the epoch's range start as export_stage_check
 * sees it (NULL: asked of the store). 0 (a write failure gave the epoch up) or a store
 * error (-errno: nothing written, try again later). */
static int stage_append(struct exporter *x, size_t i, const struct stage_feed_rec *r,
                        const int64_t *lo) {
        struct out_state *st = &x->state[i];
        struct line_ctx c = { .fs = st->stage };
        int k;

        if (!st->stage) {
                int64_t l;
                if (lo)
                        l = *lo;
                else if ((k = export_stage_lo(x->stage_store, r->epoch, &l)) < 0)
                        return k;
                k = export_folder_stage_open(x->outputs[i].impl, x->chain, r->epoch,
                                             &st->stage, &c.err);
                if (k < 0) {
                        stage_give_up(x, i, k, &c.err);
                        return 0;
                }
                st->stage_lo = l;
                c.fs = st->stage;
        }
        if (r->crit && r->n_crit <= 64) {  /* the criteria the mapper read from its tree */
                const char *ids[64];
                const char *s = r->crit;
                for (size_t j = 0; j < r->n_crit; j++, s += strlen(s) + 1)
                        ids[j] = s;
                struct export_record rec = { r->data, r->len, ids, r->n_crit };
                k = stage_line_cb(&c, &rec);
        } else {
                k = exporter_with_criteria(r->data, r->len, stage_line_cb, &c);
        }
        if (k < 0) {
                stage_give_up(x, i, k, &c.err);
                return 0;
        }
        st->stage_last = r->seq;
        atomic_fetch_add_explicit(lo ? &x->staged_store : &x->staged_fed, 1,
                                  memory_order_relaxed);
        return 0;
}

static int stage_from_store(struct exporter *x, size_t i, int64_t limit);

/* One record for output i. from_store: r was read from the store after the last staged
 * record (no hole to fill); lo is then its epoch's range start. 0 or a store error. */
static int stage_one(struct exporter *x, size_t i, const struct stage_feed_rec *r,
                     bool from_store, int64_t lo) {
        struct out_state *st = &x->state[i];

        if (r->epoch < st->stage_epoch)
                return 0;  /* an epoch the stager has left: its rest is the seal's tail */
        if (r->epoch > st->stage_epoch)
                stage_switch(st, r->epoch);
        if (st->stage_done)
                return 0;
        if (from_store)
                return stage_append(x, i, r, &lo);
        int64_t next = st->stage_last != INT64_MIN ? st->stage_last + 1 : r->epoch_first;
        if (r->seq < next)
                return 0;  /* staged already (from the store) */
        if (r->seq > next) {
                /* A hole: records the feed dropped, or that came before a restart. The store
                 * holds them: every record up to r is committed. */
                int k = stage_from_store(x, i, r->seq - 1);
                if (k < 0)
                        return k;
                if (r->epoch != st->stage_epoch || st->stage_done)
                        return 0;  /* the store's open epoch moved on meanwhile */
                next = st->stage_last != INT64_MIN ? st->stage_last + 1 : r->epoch_first;
                if (r->seq != next) {
                        if (r->seq < next)
                                return 0;
                        stage_give_up(x, i, -ESTALE, NULL);
                        return 0;
                }
        }
        return stage_append(x, i, r, NULL);
}

/* Output i takes the records of v up to seq limit. *stop: the first it did not take
 * (v->end when all). 0, -EINTR (an export or a stop wants the stage) or a store error. */
static int stage_view(struct exporter *x, size_t i, struct stage_feed_view v, int64_t limit,
                      bool from_store, int64_t lo, const char **stop) {
        struct stage_feed_rec r;
        const char *pos;

        while (stage_feed_next(&v, &r, &pos)) {
                int k = 0;
                if (r.seq > limit)
                        k = -ERANGE;
                else if (atomic_load_explicit(&x->stage_break, memory_order_relaxed))
                        k = -EINTR;
                else
                        k = stage_one(x, i, &r, from_store, lo);
                if (k < 0) {
                        *stop = pos;
                        return k == -ERANGE ? 0 : k;
                }
        }
        *stop = v.end;
        return 0;
}

/* Copies a store walk's records into the stager's buffer. */
struct copy_ctx {
        struct buf *b;
        int64_t epoch, lo, limit;
        bool full, out_of_place;
};

static int copy_cb(void *ud, const struct store_record *rec) {
        struct copy_ctx *c = ud;
        if (rec->seq > c->limit)
                return -ECANCELED;
        /* A record out of place (only an edited store holds one): the seal's export walks
         * the epoch's seq range whatever the column says; leave the rest to it. */
        if (rec->epoch != c->epoch) {
                c->out_of_place = true;
                return -ECANCELED;
        }
        if (c->b->len > 0 && c->b->len + rec->len > EXPORT_STAGE_CHUNK) {
                c->full = true;
                return -ECANCELED;
        }
        struct stage_feed_rec r = {
                .seq = rec->seq, .epoch = rec->epoch, .epoch_first = c->lo,
                .data = rec->data, .len = rec->len,
        };
        return stage_feed_buf_put(c->b, &r);
}

/* Output i's records up to seq limit of the store's open epoch, after its last staged one,
 * read from the store in chunks (each copied out of one short read transaction, then
 * written). 0 or a store error. */
static int stage_from_store(struct exporter *x, size_t i, int64_t limit) {
        struct out_state *st = &x->state[i];
        for (;;) {
                struct store_epoch e = { 0 };
                int r = export_stage_begin(x->stage_store, &e);
                if (r < 0)
                        return r;
                if (!e.sealed && e.epoch > st->stage_epoch)
                        stage_switch(st, e.epoch);
                if (e.sealed || e.epoch != st->stage_epoch || st->stage_done ||
                    st->stage_last >= limit) {
                        (void)export_stage_end(x->stage_store);
                        store_epoch_clear(&e);
                        return 0;
                }
                struct copy_ctx c = { .b = &x->stage_buf, .epoch = e.epoch, .limit = limit };
                buf_reset(c.b);
                r = export_stage_records(x->stage_store, e.epoch, st->stage_last, &c.lo,
                                         copy_cb, &c);
                (void)export_stage_end(x->stage_store);
                store_epoch_clear(&e);
                if (r == -ECANCELED)  /* copy_cb stopped the walk */
                        r = 0;
                if (r < 0)
                        return r;
                if (st->stage && c.lo != st->stage_lo) {  /* never for the writer's store */
                        stage_give_up(x, i, -ESTALE, NULL);
                        return 0;
                }
                struct stage_feed_view v;
                const char *stop;
                stage_feed_view_of(&v, c.b);
                r = stage_view(x, i, v, limit, true, c.lo, &stop);
                if (r < 0)
                        return r;
                if (c.out_of_place) {
                        st->stage_done = true;
                        return 0;
                }
                if (!c.full)
                        return 0;
        }
}

/* ---- the stager's passes ---- */

/* Writes what the stages' buffers hold (a pass's end: the files then hold every record
 * staged, and the disk can start on them). */
static void stage_flush(struct exporter *x, size_t i) {
        struct out_state *st = &x->state[i];
        struct store_error err = { { 0 } };
        if (!st->stage || st->stage_done)
                return;
        int r = export_folder_stage_flush(st->stage, &err);
        if (r < 0)
                stage_give_up(x, i, r, &err);
}

/* The feed's records up to the durable watermark, to every staging output; then what the
 * feed dropped at its end, from the store. */
static void stage_pass(struct exporter *x) {
        int64_t durable = atomic_load(&x->durable);
        struct stage_feed_view v;
        bool stalled = false, blocked = false;

        while (!stalled && stage_feed_peek(x->feed, &v)) {
                const char *upto = v.end;
                for (size_t i = 0; i < x->n_outputs; i++) {
                        const char *stop = v.at;
                        if (!exporter_output_stages(&x->outputs[i]))
                                continue;
                        if (stage_enter(x, i)) {
                                if (stage_view(x, i, v, durable, false, 0, &stop) < 0)
                                        blocked = true;
                                stage_leave(x, i);
                        } else {
                                blocked = true;
                        }
                        /* What one output did not take stays for the next pass; the others
                         * pass over what they took already. */
                        if (stop < upto)
                                upto = stop;
                }
                /* Stopped at the watermark, or by an export, a stop or a store error. */
                stalled = upto != v.end;
                stage_feed_release(x->feed, &v, upto);
        }
        int64_t dropped = stage_feed_dropped_through(x->feed);
        int64_t limit = dropped < durable ? dropped : durable;
        for (size_t i = 0; i < x->n_outputs; i++) {
                struct out_state *st = &x->state[i];
                if (!exporter_output_stages(&x->outputs[i]) || !stage_enter(x, i))
                        continue;
                /* Records the feed dropped with none fed after them: from the store, once
                 * per new limit. */
                if (!blocked && limit > st->stage_last && limit > st->stage_asked &&
                    stage_from_store(x, i, limit) >= 0)
                        st->stage_asked = limit;
                stage_flush(x, i);
                stage_leave(x, i);
        }
}

static void *stager_thread(void *ud) {
        struct exporter *x = ud;
        (void)pthread_setname_np(pthread_self(), "gl-stage");
        /* What a crash left: staged files are never an export; the open epoch is restaged
         * from the store (from the first record fed on, the hole before it is read). */
        for (size_t i = 0; i < x->n_outputs; i++)
                if (exporter_output_stages(&x->outputs[i]) &&
                    export_folder_stage_clean(x->outputs[i].impl, x->chain) < 0)
                        log_warn("staging folder not removed", "output=%s", x->outputs[i].name);
        pthread_mutex_lock(&x->stage_lock);
        while (!x->stage_stopping) {
                if (!x->stage_kicked) {
                        struct timespec ts;
                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        ts.tv_nsec += (EXPORT_STAGE_US % TM_USEC_PER_SEC) * 1000;
                        ts.tv_sec += EXPORT_STAGE_US / TM_USEC_PER_SEC + ts.tv_nsec / 1000000000;
                        ts.tv_nsec %= 1000000000;
                        pthread_cond_timedwait(&x->stage_cond, &x->stage_lock, &ts);
                }
                x->stage_kicked = false;
                if (x->stage_stopping)
                        break;
                pthread_mutex_unlock(&x->stage_lock);
                stage_pass(x);
                pthread_mutex_lock(&x->stage_lock);
                x->stage_passes++;
                pthread_cond_broadcast(&x->stage_cond);
        }
        pthread_mutex_unlock(&x->stage_lock);
        return NULL;
}

void exporter_stager_start(struct exporter *x) {
        struct store_error se = { { 0 } };
        bool any = false;
        for (size_t i = 0; i < x->n_outputs; i++)
                any |= exporter_output_stages(&x->outputs[i]);
        if (!any)
                return;
        if (!x->feed &&
            stage_feed_new(x->feed_block_bytes ? x->feed_block_bytes : STAGE_FEED_BLOCK_BYTES,
                           x->feed_blocks ? x->feed_blocks : STAGE_FEED_BLOCKS, &x->feed) < 0) {
                log_warn("staging off", "error=\"%s\"", strerror(ENOMEM));
                return;
        }
        if (store_open(x->db_path, STORE_READWRITE, &x->stage_store, &se) < 0) {
                log_warn("staging off", "error=\"%s\"", se.msg);
                return;
        }
        if (pthread_create(&x->stager, NULL, stager_thread, x) != 0) {
                store_close(x->stage_store);
                x->stage_store = NULL;
                return;
        }
        x->stager_started = true;
}

void exporter_stager_halt(struct exporter *x) {
        if (!x->stager_started || x->stage_stopping)
                return;
        pthread_mutex_lock(&x->stage_lock);
        x->stage_stopping = true;
        atomic_store(&x->stage_break, true);
        pthread_cond_broadcast(&x->stage_cond);
        pthread_mutex_unlock(&x->stage_lock);
        pthread_join(x->stager, NULL);
        atomic_store(&x->stage_break, false);
}

void exporter_stager_free(struct exporter *x) {
        struct stage_feed_stats fs;
        if (!x->stager_started)
                return;
        exporter_stager_halt(x);
        x->stager_started = false;
        stage_feed_stats(x->feed, &fs);
        log_info("staging stopped", "from_feed=%llu from_store=%llu feed_dropped=%llu",
                 (unsigned long long)atomic_load(&x->staged_fed),
                 (unsigned long long)atomic_load(&x->staged_store),
                 (unsigned long long)fs.dropped);
        for (size_t i = 0; i < x->n_outputs; i++) {
                export_folder_stage_free(x->state[i].stage);
                export_folder_stage_free(x->state[i].prev);
                x->state[i].stage = NULL;
                x->state[i].prev = NULL;
        }
        store_close(x->stage_store);
        x->stage_store = NULL;
}

/* ---- for tests ---- */

int exporter_set_feed(struct exporter *x, size_t block_bytes, size_t blocks) {
        if (x->stager_started || block_bytes < 4096 || blocks < 2)
                return -EINVAL;
        x->feed_block_bytes = block_bytes;
        x->feed_blocks = blocks;
        return 0;
}

void exporter_stage_wait(struct exporter *x, struct exporter_stage_counts *ret) {
        pthread_mutex_lock(&x->stage_lock);
        /* The pass running now may have read the watermark before the caller's change. */
        uint64_t until = x->stage_passes + 2;
        x->stage_kicked = true;
        pthread_cond_broadcast(&x->stage_cond);
        while (x->stager_started && !x->stage_stopping && x->stage_passes < until)
                pthread_cond_wait(&x->stage_cond, &x->stage_lock);
        if (ret) {
                struct stage_feed_stats fs = { 0 };
                if (x->feed)
                        stage_feed_stats(x->feed, &fs);
                ret->from_feed = atomic_load(&x->staged_fed);
                ret->from_store = atomic_load(&x->staged_store);
                ret->fed = fs.fed;
                ret->dropped = fs.dropped;
        }
        pthread_mutex_unlock(&x->stage_lock);
}
