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
 * in priority, cli/exporter-stage.c) appends the open epoch's records to a folder output's
 * hidden temporary files as they become durable, fed from memory by the storing thread, so
 * that at the seal only the tail since its last pass, the fsyncs, the renames and the
 * manifest remain for this thread. */
#include "cli/exporter.h"
#include "cli/exporter-int.h"  /* issue 12: shared with the stager */
#include "cli/export-crit.h"  /* issue 12 */
#include "cli/tsa.h"  /* trusted time (issue 10) */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"  /* ops (issue 9) */
#include "core/tm.h"
#include "outputs/outputs.h"
#include "seal/seal.h"  /* issue 12: the record scanner */

#define BACKOFF_MIN_US (1 * TM_USEC_PER_SEC)
#define BACKOFF_MAX_US (300 * TM_USEC_PER_SEC)

/* ---- one epoch ---- */

/* issue 12: the epoch's records are streamed from the store to the output, one at a time
 * (one prepared statement stepping in seq order), never collected: memory stays a few
 * buffers whatever the epoch's size. The criteria come from the record itself (the export
 * shows what was signed): cli/export-crit.h reads them from the record's first bytes
 * (a tenth of the full scanner's instructions per record, which was half of this thread's
 * CPU); a record it cannot decide takes the full scanner, then the full parser, as before. */
#define EXPORT_CRIT_BYTES 4096

struct crit_scratch {
        const char *ids[SEAL_SCAN_CRITERIA_MAX];
        char bytes[EXPORT_CRIT_BYTES];
};

/* The criteria of a record the scanner did not decide, from the full parser. */
static int slow_record(const char *data, size_t len,
                       int (*cb)(void *ud, const struct export_record *r), void *ud)
{
        struct export_record rec = { data, len, NULL, 0 };
        const char **ids = NULL;
        json *j = NULL;
        int ret;

        if (json_parse(data, len, &j, NULL) >= 0) {
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
        ret = cb(ud, &rec);
        free(ids);
        json_free(j);
        return ret;
}

int exporter_with_criteria(const char *data, size_t len,
                           int (*cb)(void *ud, const struct export_record *r), void *ud)
{
        struct crit_scratch cs;
        struct seal_span ids[SEAL_SCAN_CRITERIA_MAX];
        const struct seal_span *crit = ids;
        struct seal_scan sc;
        size_t n = 0, used = 0;

        /* issue 12: only the bytes up to "criteria" (export-crit.h); the full scanner, then
         * the full parser, when that cannot tell. */
        if (!export_crit_scan(data, len, ids, SEAL_SCAN_CRITERIA_MAX, &n)) {
                if (!seal_scan_record(data, len, &sc))
                        return slow_record(data, len, cb, ud);
                crit = sc.criteria;
                n = sc.n_criteria;
        }
        for (size_t i = 0; i < n; i++) {
                size_t l = crit[i].len;
                /* Ids hold no NUL (neither reader takes escapes); too many bytes: slow path. */
                if (used + l + 1 > sizeof(cs.bytes) || memchr(crit[i].p, '\0', l))
                        return slow_record(data, len, cb, ud);
                memcpy(cs.bytes + used, crit[i].p, l);
                cs.bytes[used + l] = '\0';
                cs.ids[i] = cs.bytes + used;
                used += l + 1;
        }
        struct export_record rec = { data, len, cs.ids, n };
        return cb(ud, &rec);
}

static int stream_record_cb(void *ud, const struct store_record *r)
{
        struct export_stream *x = ud;

        return exporter_with_criteria(r->data, r->len, x->cb, x->cb_ud);
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

static int export_one(struct exporter *x, size_t i, int64_t epoch, struct store_error *err) {
        const struct writer_output *o = &x->outputs[i];
        struct store_epoch e = { 0 };
        struct export_stream xs = { .store = x->store, .epoch = epoch };
        struct export_source src = { stream_foreach, &xs };
        uint8_t *tsr = NULL;  /* issue 10 */
        size_t tsr_len = 0;
        /* issue 12: what was staged of this epoch while it was open, if anything. */
        struct export_folder_stage *fs = exporter_stage_take(x, i, epoch, &xs.after);
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
        atomic_init(&x->durable, INT64_MIN);  /* issue 12: nothing durable until told */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&x->cond, &ca);
        pthread_cond_init(&x->stage_cond, &ca);
        pthread_condattr_destroy(&ca);
        x->chain = strdup(chain);
        x->db_path = strdup(db_path);
        x->state = calloc(n_outputs + 1, sizeof(*x->state));
        for (size_t i = 0; x->state && i < n_outputs; i++) {
                x->state[i].stage_epoch = -1;
                x->state[i].stage_asked = INT64_MIN;  /* issue 12 */
        }
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
                exporter_stager_start(x);  /* issue 12 */
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
        exporter_stager_halt(x);
        /* Epochs sealed while stopping: one more pass, honouring backoff, so that a dead
         * output does not hold up the exit. */
        for (size_t i = 0; i < x->n_outputs; i++)
                (void)output_pass(x, i, true);
        exporter_stager_free(x);
}

void exporter_free(struct exporter *x) {
        if (!x)
                return;
        exporter_stop(x);
        exporter_stager_free(x);  /* issue 12 */
        stage_feed_free(x->feed);  /* after the writer: it may push until it ended */
        buf_free(&x->stage_buf);
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
