/* The exporter thread: outbox -> outputs, with retries.
 *
 * Load: one pass per sealed epoch (hourly by default) plus retries; each export reads one
 * epoch's records from the store and hands them to the output, which may block on the
 * network. That is why this runs beside the writer and not in it: a slow or dead object
 * store must not stop records from being stored and sealed. Guarantees: an epoch is marked
 * done only after its output reported it complete; per output, epochs go out in order (a
 * failed one holds back the later ones, so an export never has holes that later fill).
 *
 * issue 12, export while the epoch is open: a second thread (gl-stage, below the pipeline
 * in priority) appends the open epoch's committed records to a folder output's hidden
 * temporary files every EXPORT_STAGE_US, so that at the seal only the tail since its last
 * pass, the fsyncs, the renames and the manifest remain for this thread. */
#include "cli/exporter.h"
#include "cli/export-crit.h"  /* issue 12 */
#include "cli/tsa.h"  /* trusted time (issue 10) */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"  /* ops (issue 9) */
#include "core/tm.h"
#include "outputs/outputs.h"
#include "seal/seal.h"  /* issue 12: the record scanner */

#define BACKOFF_MIN_US (1 * TM_USEC_PER_SEC)
#define BACKOFF_MAX_US (300 * TM_USEC_PER_SEC)

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
};

/* ---- one epoch ---- */

/* issue 12: the epoch's records are streamed from the store to the output, one at a time
 * (one prepared statement stepping in seq order), never collected: memory stays a few
 * buffers whatever the epoch's size. The criteria come from the record itself (the export
 * shows what was signed): cli/export-crit.h reads them from the record's first bytes
 * (a tenth of the full scanner's instructions per record, which was half of this thread's
 * CPU); a record it cannot decide takes the full scanner, then the full parser, as before. */
#define EXPORT_CRIT_BYTES 4096

struct export_stream {
        struct store *store;
        int64_t epoch;
        bool tail;             /* issue 12: only the records with seq > after (staged) */
        int64_t after;
        int (*cb)(void *cb_ud, const struct export_record *r);
        void *cb_ud;
};

struct crit_scratch {
        const char *ids[SEAL_SCAN_CRITERIA_MAX];
        char bytes[EXPORT_CRIT_BYTES];
};

/* The criteria of a record the scanner did not decide, from the full parser. */
static int slow_record(struct export_stream *x, const struct store_record *r)
{
        struct export_record rec = { r->data, r->len, NULL, 0 };
        const char **ids = NULL;
        json *j = NULL;
        int ret;

        if (json_parse(r->data, r->len, &j, NULL) >= 0) {
                const json *cr = json_obj_get(j, "criteria");
                size_t nc = json_len(cr), k = 0;
                if (nc > 0 && !(ids = calloc(nc, sizeof(*ids)))) {
                        json_free(j);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < nc; i++) {
                        const char *s = json_str(json_arr_at(cr, i), NULL);
                        if (s)
                                ids[k++] = s;
                }
                rec.criteria = ids;
                rec.n_criteria = k;
        }
        ret = x->cb(x->cb_ud, &rec);
        free(ids);
        json_free(j);
        return ret;
}

static int stream_record_cb(void *ud, const struct store_record *r)
{
        struct export_stream *x = ud;
        struct crit_scratch cs;
        struct seal_span ids[SEAL_SCAN_CRITERIA_MAX];
        const struct seal_span *crit = ids;
        struct seal_scan sc;
        size_t n = 0, used = 0;

        /* issue 12: only the bytes up to "criteria" (export-crit.h); the full scanner, then
         * the full parser, when that cannot tell. */
        if (!export_crit_scan(r->data, r->len, ids, SEAL_SCAN_CRITERIA_MAX, &n)) {
                if (!seal_scan_record(r->data, r->len, &sc))
                        return slow_record(x, r);
                crit = sc.criteria;
                n = sc.n_criteria;
        }
        for (size_t i = 0; i < n; i++) {
                size_t len = crit[i].len;
                /* Ids hold no NUL (neither reader takes escapes); too many bytes: slow path. */
                if (used + len + 1 > sizeof(cs.bytes) || memchr(crit[i].p, '\0', len))
                        return slow_record(x, r);
                memcpy(cs.bytes + used, crit[i].p, len);
                cs.bytes[used + len] = '\0';
                cs.ids[i] = cs.bytes + used;
                used += len + 1;
        }
        struct export_record rec = { r->data, r->len, cs.ids, n };
        return x->cb(x->cb_ud, &rec);
}

static int stream_foreach(void *ud, int (*cb)(void *cb_ud, const struct export_record *r),
                          void *cb_ud)
{
        struct export_stream *x = ud;

        x->cb = cb;
        x->cb_ud = cb_ud;
        /* issue 12: the rest of a staged epoch, or all of it; the stage reader reads only
         * the columns an export needs (the same walk as store_records_foreach). */
        return export_stage_records(x->store, x->epoch, x->tail ? x->after : INT64_MIN, NULL,
                                    stream_record_cb, x);
}

/* Trusted time (issue 10): the epoch's token from the store, or a new one from the TSA
 * (checked against tsa_ca when set), stored before use. A TSA that is down or refuses fails
 * the export of this epoch (err says why), so that the exporter's backoff retries it: the
 * epoch waits in the outbox, it is never exported without its token. */
static int epoch_token(struct exporter *x, const struct store_epoch *e, uint8_t **tsr,
                       size_t *tsr_len, struct store_error *err) {
        int r = store_timestamp_get(x->store, e->epoch, tsr, tsr_len);
        if (r != -ENOENT)
                return r;
        struct buf t = BUF_INIT;
        char why[512] = "";
        r = tsa_stamp(x->tsa_url, e->manifest ? e->manifest : "", e->manifest_len, &t, why,
                      sizeof(why));
        if (r >= 0 && x->tsa_ca)
                r = tsa_verify(t.data, t.len, e->manifest ? e->manifest : "", e->manifest_len,
                               x->tsa_ca, NULL, why, sizeof(why));
        if (r >= 0)
                r = store_timestamp_put(x->store, e->epoch, (const uint8_t *)t.data, t.len);
        if (r >= 0)
                r = store_timestamp_get(x->store, e->epoch, tsr, tsr_len);
        buf_free(&t);
        if (r < 0 && why[0]) {
                snprintf(err->msg, sizeof(err->msg), "epoch %lld: time stamp: %.200s",
                         (long long)e->epoch, why);
                if (!x->tsa_failing)
                        log_error("time-stamping failing", "tsa=%s epoch=%lld error=\"%s\"",
                                  x->tsa_url, (long long)e->epoch, why);
                x->tsa_failing = true;
        } else if (r >= 0 && x->tsa_failing) {
                log_info("time-stamping recovered", "tsa=%s epoch=%lld", x->tsa_url,
                         (long long)e->epoch);
                x->tsa_failing = false;
        }
        return r;
}

/* ---- staging the open epoch (issue 12) ----
 *
 * The stager wakes every EXPORT_STAGE_US, opens a read transaction on its own connection,
 * and when the store's last epoch is open appends its records with seq > the last staged
 * one to each folder output's stage (export_folder_stage_add): records.jsonl and the tsc
 * files grow in a hidden staging folder. At the seal, export_one takes the stage and
 * commits it after the tail (export_stage_records past the last staged seq), so the export
 * is the same bytes as an export in one go. Half a second: the tail left at a seal is at
 * most that much of the input (~50,000 records at full speed), while a pass costs a
 * transaction and a wake-up, nothing per record beyond the export's own work.
 *
 * Priority: the stager lowers its own thread's nice value to EXPORT_STAGE_NICE
 * (setpriority on its TID; Linux applies nice per thread). The pipeline's threads keep
 * theirs, so under contention the staging yields to storing and sealing, which is what the
 * evidence depends on; a lagging stager only leaves a longer tail for the seal. Not
 * SCHED_IDLE: that would starve staging entirely on a busy host. Not on gl-export: an
 * unprivileged thread cannot raise its priority back, and the export after a seal (and
 * S3's) should not wait behind every other process. */
#define EXPORT_STAGE_US (TM_USEC_PER_SEC / 2)
#define EXPORT_STAGE_NICE 10

/* Outputs that can stage: the folder output (S3 uploads each object whole, at the seal). */
static bool output_stages(const struct writer_output *o) {
        return o->write_epoch == exporter_folder_write;
}

/* Called by the exporter thread before exporting epoch to output i: stops the stager's
 * pass over it, and hands over the stage when it holds epoch and is still the start of the
 * epoch's seq range (*ret_after: the last seq staged). NULL when nothing fits; a stage of
 * an older epoch is removed. */
static struct export_folder_stage *stage_take(struct exporter *x, size_t i, int64_t epoch,
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
                st->stage_done = true;  /* the stager's snapshot may still show it open */
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

struct stage_ctx {
        struct exporter *x;
        size_t i;
        int64_t epoch;
        int64_t lo;
        bool write_failed;
        struct export_stream xs;
        struct store_error err;
};

static int stage_line_cb(void *ud, const struct export_record *rec) {
        struct stage_ctx *c = ud;
        int r = export_folder_stage_add(c->x->state[c->i].stage, rec, &c->err);
        if (r < 0)
                c->write_failed = true;
        return r;
}

static int stage_record_cb(void *ud, const struct store_record *rec) {
        struct stage_ctx *c = ud;
        struct out_state *st = &c->x->state[c->i];
        int r;

        if (atomic_load_explicit(&c->x->stage_break, memory_order_relaxed))
                return -EINTR;
        /* A record out of place (only an edited store holds one): the seal's export walks
         * the epoch's seq range whatever the column says; leave the rest to it. */
        if (rec->epoch != c->epoch) {
                st->stage_done = true;
                return -ECANCELED;
        }
        if (!st->stage) {
                r = export_folder_stage_open(c->x->outputs[c->i].impl, c->x->chain, c->epoch,
                                             &st->stage, &c->err);
                if (r < 0) {
                        c->write_failed = true;
                        return r;
                }
                st->stage_lo = c->lo;
        }
        r = stream_record_cb(&c->xs, rec);
        if (r >= 0)
                st->stage_last = rec->seq;
        return r;
}

/* One pass over output i (the stager's thread; st->staging is set). */
static void stage_output(struct exporter *x, size_t i) {
        struct out_state *st = &x->state[i];
        struct store_epoch e = { 0 };
        struct stage_ctx c = { .x = x, .i = i };
        int r = export_stage_begin(x->stage_store, &e);

        if (r < 0)
                return;
        if (!e.sealed && st->stage_epoch != e.epoch) {  /* a new open epoch */
                /* The last one's stage waits for the exporter thread (older ones go: their
                 * exports are behind, and will be written in one go). */
                export_folder_stage_free(st->prev);
                st->prev = st->stage;
                st->prev_epoch = st->stage_epoch;
                st->prev_lo = st->stage_lo;
                st->prev_last = st->stage_last;
                st->stage = NULL;
                st->stage_epoch = e.epoch;
                st->stage_last = INT64_MIN;
                st->stage_done = false;
        }
        if (!e.sealed && !st->stage_done) {
                c.epoch = e.epoch;
                c.xs.cb = stage_line_cb;
                c.xs.cb_ud = &c;
                r = export_stage_records(x->stage_store, e.epoch, st->stage_last, &c.lo,
                                         stage_record_cb, &c);
                if (r >= 0 && st->stage && c.lo != st->stage_lo)
                        r = -ESTALE;  /* the epoch's range moved: never for the writer's */
                if (st->stage && !c.write_failed && r != -ESTALE) {
                        int k = export_folder_stage_flush(st->stage, &c.err);
                        if (k < 0) {
                                c.write_failed = true;
                                r = k;
                        }
                }
                /* A failed write leaves a partial line: give the epoch up (its export is
                 * then written in one go at the seal). A store error: try again next pass. */
                if ((r < 0 && r != -EINTR && c.write_failed) || r == -ESTALE) {
                        if (!st->stage_warned)
                                log_warn("staging failing", "output=%s epoch=%lld error=\"%s\"",
                                         x->outputs[i].name, (long long)e.epoch,
                                         c.err.msg[0] ? c.err.msg : strerror(-r));
                        st->stage_warned = true;
                        export_folder_stage_free(st->stage);
                        st->stage = NULL;
                        st->stage_done = true;
                }
        }
        (void)export_stage_end(x->stage_store);
        store_epoch_clear(&e);
}

static void *stager_thread(void *ud) {
        struct exporter *x = ud;
        (void)pthread_setname_np(pthread_self(), "gl-stage");
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), EXPORT_STAGE_NICE);
        /* What a crash left: staged files are never an export; the open epoch is restaged
         * from the store. */
        for (size_t i = 0; i < x->n_outputs; i++)
                if (output_stages(&x->outputs[i]) &&
                    export_folder_stage_clean(x->outputs[i].impl, x->chain) < 0)
                        log_warn("staging folder not removed", "output=%s", x->outputs[i].name);
        pthread_mutex_lock(&x->stage_lock);
        while (!x->stage_stopping) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_nsec += (EXPORT_STAGE_US % TM_USEC_PER_SEC) * 1000;
                ts.tv_sec += EXPORT_STAGE_US / TM_USEC_PER_SEC + ts.tv_nsec / 1000000000;
                ts.tv_nsec %= 1000000000;
                pthread_cond_timedwait(&x->stage_cond, &x->stage_lock, &ts);
                for (size_t i = 0; i < x->n_outputs && !x->stage_stopping; i++) {
                        if (!output_stages(&x->outputs[i]) ||
                            atomic_load(&x->stage_break))
                                continue;
                        x->state[i].staging = true;
                        pthread_mutex_unlock(&x->stage_lock);
                        stage_output(x, i);
                        pthread_mutex_lock(&x->stage_lock);
                        x->state[i].staging = false;
                        pthread_cond_broadcast(&x->stage_cond);
                }
        }
        pthread_mutex_unlock(&x->stage_lock);
        return NULL;
}

/* Starts the stager when an output can stage; without it every export is written at the
 * seal, as before. */
static void stager_start(struct exporter *x) {
        struct store_error se = { { 0 } };
        bool any = false;
        for (size_t i = 0; i < x->n_outputs; i++)
                any |= output_stages(&x->outputs[i]);
        if (!any)
                return;
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

/* Stops the stager's thread; its stages stay for the last pass of exporter_stop. */
static void stager_halt(struct exporter *x) {
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

/* Stops the stager and removes what it staged (a restart restages from the store). */
static void stager_free(struct exporter *x) {
        if (!x->stager_started)
                return;
        stager_halt(x);
        x->stager_started = false;
        for (size_t i = 0; i < x->n_outputs; i++) {
                export_folder_stage_free(x->state[i].stage);
                export_folder_stage_free(x->state[i].prev);
                x->state[i].stage = NULL;
                x->state[i].prev = NULL;
        }
        store_close(x->stage_store);
        x->stage_store = NULL;
}

static int export_one(struct exporter *x, size_t i, int64_t epoch, struct store_error *err) {
        const struct writer_output *o = &x->outputs[i];
        struct store_epoch e = { 0 };
        struct export_stream xs = { .store = x->store, .epoch = epoch };
        struct export_source src = { stream_foreach, &xs };
        uint8_t *tsr = NULL;  /* issue 10 */
        size_t tsr_len = 0;
        /* issue 12: what was staged of this epoch while it was open, if anything. */
        struct export_folder_stage *fs = stage_take(x, i, epoch, &xs.after);
        int r = store_epoch_get(x->store, epoch, &e);
        if (r >= 0 && !e.sealed)
                r = -EINVAL;
        if (r >= 0 && x->tsa_url)  /* issue 10: the token first; no token, no export yet */
                r = epoch_token(x, &e, &tsr, &tsr_len, err);
        if (r >= 0) {
                struct export_epoch ee = {
                        .chain = x->chain, .epoch = epoch,
                        .manifest = e.manifest, .manifest_len = e.manifest_len,
                        .sig = e.sig, .tsr = tsr, .tsr_len = tsr_len,
                        .source = &src,  /* issue 12: streamed */
                };
                if (fs) {  /* issue 12: the tail after the staged records, then the commit */
                        xs.tail = true;
                        r = export_folder_stage_commit(fs, &ee, err);
                        fs = NULL;
                } else {
                        r = o->write_epoch(o->impl, &ee, err);
                }
        }
        export_folder_stage_free(fs);
        if (r >= 0)
                r = store_outbox_done(x->store, o->name, epoch);
        store_epoch_clear(&e);
        free(tsr);
        return r;
}

/* ---- passes ---- */

struct pending { int64_t *v; size_t n, alloc; };

static int pending_cb(void *ud, int64_t epoch) {
        struct pending *p = ud;
        if (p->n == p->alloc) {
                size_t na = p->alloc ? p->alloc * 2 : 16;
                int64_t *v = realloc(p->v, na * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                p->v = v;
                p->alloc = na;
        }
        p->v[p->n++] = epoch;
        return 0;
}

/* xorshift64*: jitter only, not security. */
static uint64_t rng_next(struct exporter *x) {
        x->rng ^= x->rng >> 12;
        x->rng ^= x->rng << 25;
        x->rng ^= x->rng >> 27;
        return x->rng * UINT64_C(2685821657736338717);
}

static void output_failed(struct exporter *x, size_t i, int64_t epoch, int r,
                          const struct store_error *err) {
        struct out_state *st = &x->state[i];
        const char *why = err->msg[0] ? err->msg : strerror(-r);
        st->backoff_us = st->backoff_us ? st->backoff_us * 2 : BACKOFF_MIN_US;
        if (st->backoff_us > BACKOFF_MAX_US)
                st->backoff_us = BACKOFF_MAX_US;
        /* Full jitter over the upper half, so that instances do not retry in step. */
        int64_t wait = st->backoff_us / 2 + (int64_t)(rng_next(x) % (uint64_t)(st->backoff_us / 2 + 1));
        st->retry_at_us = tm_mono_us() + wait;
        if (st->failures++ == 0)
                log_error("export failing", "output=%s epoch=%lld error=\"%s\"",
                          x->outputs[i].name, (long long)epoch, why);
        else
                log_debug("export retry failed", "output=%s epoch=%lld attempt=%d error=\"%s\"",
                          x->outputs[i].name, (long long)epoch, st->failures, why);
        (void)store_outbox_failed(x->store, x->outputs[i].name, epoch, why);
        metrics_export_failed(x->outputs[i].name);  /* ops (issue 9) */
}

/* Exports what one output has pending, in order, stopping at the first failure. Returns 0
 * when nothing is left, 1 when something is left (failure), <0 on a store error. */
static int output_pass(struct exporter *x, size_t i, bool honour_backoff) {
        struct out_state *st = &x->state[i];
        if (honour_backoff && st->retry_at_us && tm_mono_us() < st->retry_at_us)
                return 1;
        struct pending p = { 0 };
        int r = store_outbox_pending(x->store, x->outputs[i].name, pending_cb, &p);
        if (r >= 0)  /* ops (issue 9): the backlog gauge, lowered as epochs go out */
                metrics_export_backlog(x->outputs[i].name, p.n);
        for (size_t k = 0; r >= 0 && k < p.n; k++) {
                struct store_error err = { { 0 } };
                int e = export_one(x, i, p.v[k], &err);
                if (e < 0) {
                        output_failed(x, i, p.v[k], e, &err);
                        r = 1;
                        break;
                }
                if (st->failures)
                        log_info("export recovered", "output=%s epoch=%lld attempts=%d",
                                 x->outputs[i].name, (long long)p.v[k], st->failures + 1);
                st->failures = 0;
                st->backoff_us = 0;
                st->retry_at_us = 0;
                metrics_export_done(x->outputs[i].name);  /* ops (issue 9) */
                metrics_export_backlog(x->outputs[i].name, p.n - k - 1);
        }
        free(p.v);
        return r;
}

int exporter_flush(struct exporter *x) {
        int ret = 0;
        for (size_t i = 0; i < x->n_outputs; i++) {
                int r = output_pass(x, i, false);
                if (r != 0 && ret == 0)
                        ret = r < 0 ? r : -EAGAIN;
        }
        return ret;
}

/* The next moment a waiting output may retry, or -1 when none waits. */
static int64_t next_retry(const struct exporter *x) {
        int64_t t = -1;
        for (size_t i = 0; i < x->n_outputs; i++)
                if (x->state[i].retry_at_us && (t < 0 || x->state[i].retry_at_us < t))
                        t = x->state[i].retry_at_us;
        return t;
}

static void *exporter_thread(void *ud) {
        struct exporter *x = ud;
        /* A name for `top -H` and `perf report --sort comm` (issue 12). */
        (void)pthread_setname_np(pthread_self(), "gl-export");
        for (;;) {
                for (size_t i = 0; i < x->n_outputs; i++)
                        (void)output_pass(x, i, true);
                pthread_mutex_lock(&x->lock);
                while (!x->kicked && !x->stopping) {
                        int64_t at = next_retry(x);
                        if (at < 0) {
                                pthread_cond_wait(&x->cond, &x->lock);
                                continue;
                        }
                        int64_t left = at - tm_mono_us();
                        if (left <= 0)
                                break;
                        struct timespec ts;
                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        ts.tv_sec += left / TM_USEC_PER_SEC;
                        ts.tv_nsec += (left % TM_USEC_PER_SEC) * 1000;
                        if (ts.tv_nsec >= 1000000000) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000;
                        }
                        pthread_cond_timedwait(&x->cond, &x->lock, &ts);
                }
                bool stop = x->stopping;
                x->kicked = false;
                pthread_mutex_unlock(&x->lock);
                if (stop)
                        break;
        }
        return NULL;
}

int exporter_new(const char *db_path, const char *chain, const struct writer_output *outputs,
                 size_t n_outputs, struct exporter **ret, char *err, size_t err_len) {
        struct exporter *x = calloc(1, sizeof(*x));
        struct store_error se = { { 0 } };
        if (!x)
                return -ENOMEM;
        pthread_mutex_init(&x->lock, NULL);
        pthread_mutex_init(&x->stage_lock, NULL);  /* issue 12 */
        atomic_init(&x->stage_break, false);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&x->cond, &ca);
        pthread_cond_init(&x->stage_cond, &ca);
        pthread_condattr_destroy(&ca);
        x->chain = strdup(chain);
        x->db_path = strdup(db_path);
        x->state = calloc(n_outputs + 1, sizeof(*x->state));
        for (size_t i = 0; x->state && i < n_outputs; i++)
                x->state[i].stage_epoch = -1;
        if (!x->chain || !x->db_path || !x->state) {
                exporter_free(x);
                return -ENOMEM;
        }
        x->outputs = outputs;
        x->n_outputs = n_outputs;
        x->rng = (uint64_t)tm_now_us() | 1;
        int r = store_open(db_path, STORE_READWRITE, &x->store, &se);
        if (r < 0) {
                snprintf(err, err_len, "%s: %s", db_path, se.msg);
                exporter_free(x);
                return r;
        }
        *ret = x;
        return 0;
}

int exporter_set_tsa(struct exporter *x, const char *url, const char *ca) {
        free(x->tsa_url);
        free(x->tsa_ca);
        x->tsa_url = url ? strdup(url) : NULL;
        x->tsa_ca = ca ? strdup(ca) : NULL;
        return (url && !x->tsa_url) || (ca && !x->tsa_ca) ? -ENOMEM : 0;
}

int exporter_start(struct exporter *x) {
        int r = -pthread_create(&x->thread, NULL, exporter_thread, x);
        if (r == 0) {
                x->started = true;
                stager_start(x);  /* issue 12 */
        }
        return r;
}

void exporter_kick(void *ud, int64_t epoch) {
        struct exporter *x = ud;
        (void)epoch;
        pthread_mutex_lock(&x->lock);
        x->kicked = true;
        pthread_cond_signal(&x->cond);
        pthread_mutex_unlock(&x->lock);
}

void exporter_stop(struct exporter *x) {
        if (!x->started)
                return;

        pthread_mutex_lock(&x->lock);
        x->stopping = true;
        pthread_cond_signal(&x->cond);
        pthread_mutex_unlock(&x->lock);
        pthread_join(x->thread, NULL);
        x->started = false;
        /* issue 12: then the stager (this thread may have waited for its pass to end; it
         * never waits for this thread); what it staged serves the last pass, then goes. */
        stager_halt(x);
        /* Epochs sealed while stopping: one more pass, honouring backoff, so that a dead
         * output does not hold up the exit. */
        for (size_t i = 0; i < x->n_outputs; i++)
                (void)output_pass(x, i, true);
        stager_free(x);
}

void exporter_free(struct exporter *x) {
        if (!x)
                return;
        exporter_stop(x);
        stager_free(x);  /* issue 12 */
        store_close(x->store);
        pthread_mutex_destroy(&x->lock);
        pthread_cond_destroy(&x->cond);
        pthread_mutex_destroy(&x->stage_lock);  /* issue 12 */
        pthread_cond_destroy(&x->stage_cond);
        free(x->db_path);
        free(x->state);
        free(x->chain);
        free(x->tsa_url);  /* issue 10 */
        free(x->tsa_ca);
        free(x);
}

int exporter_folder_write(void *impl, const struct export_epoch *e, struct store_error *err) {
        return export_folder_write(impl, e, err);
}
