/* The writer's sync thread, gl-sync (issue 12, sync9): see cli/writer-sync.h.
 *
 * Load: one wake-up per commit of the storing thread, one fdatasync per wake-up however
 * many commits waited (a group sync). The sync is a near-fixed wait (~2-9 ms on these VMs)
 * that the storing thread no longer sits in: it inserts the next batch into its open
 * transaction meanwhile. After the sync this thread only touches the small records: one
 * committed_cb per event with a sink (none on plain syslog), and the batch's metrics. Round 8
 * (sync8) handed the events themselves over and freed them here: ~0.5 CPU-µs per event of
 * cross-core hand-off, which this layout does not pay.
 *
 * The ring: WSYNC_PENDING_MAX slots; [head, head + n_full) are handed over (owned by this
 * thread until it has run them), the slot at head + n_full is the one the storing thread
 * fills. Both indices change only under mu. */
#include "cli/writer-sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/tm.h"

struct wsync {
        struct store *store;
        struct store_sync *sync;   /* NULL: the store stayed at synchronous=FULL */
        pthread_t thread;
        bool started, stop;
        pthread_mutex_t mu;
        pthread_cond_t cv_work;    /* a record was handed over, or stop */
        pthread_cond_t cv_room;    /* records were done */
        struct wsync_commit ring[WSYNC_PENDING_MAX];
        size_t head, n_full;
        atomic_bool busy;          /* n_full > 0 or a sync is running: wsync_idle reads it */
        void (*idle_cb)(void *ud);
        void *idle_ud;
        /* The durable watermark and its callback, serialised by pub_mu so that the callback
         * sees seqs in order whichever thread publishes. */
        pthread_mutex_t pub_mu;
        int64_t durable;
        void (*durable_cb)(void *ud, int64_t seq);
        void *durable_ud;
};

static void sync_or_die(struct wsync *y)
{
        if (!y->sync)
                return;
        int r = store_sync_wal(y->sync);
        if (r < 0) {
                /* After a failed fdatasync the kernel may have dropped the dirty pages and a
                 * retry would answer 0 over lost data: acknowledging anything now could be a
                 * lie. Stop; a restart recovers what is on disk, and what was not
                 * acknowledged is resent or replayed. */
                log_error("store sync failed; exiting, nothing after it is acknowledged",
                          "error=\"%s\"", strerror(-r));
                abort();
        }
}

static void publish(struct wsync *y, int64_t seq)
{
        pthread_mutex_lock(&y->pub_mu);
        if (seq > y->durable) {
                y->durable = seq;
                if (y->durable_cb)
                        y->durable_cb(y->durable_ud, seq);
        }
        pthread_mutex_unlock(&y->pub_mu);
}

/* What followed each commit before the sync moved here: acks and the "stored" metrics. */
static void commit_done(struct wsync_commit *c)
{
        for (size_t i = 0; i < c->n_acks; i++)
                c->acks[i].sink->committed_cb(c->acks[i].sink->ud, c->acks[i].token);
        if (c->mb.overflow) {
                metrics_batch_done(&c->mb, c->held, c->n_held, tm_mono_us() - c->t0_us);
                event_free_batch(c->held, c->n_held);
                c->n_held = 0;
        } else {
                /* metrics_batch_done reads only the last event's rule pack. */
                struct event *pack = &c->pack;
                metrics_batch_done(&c->mb, &pack, c->pack.rules_pack[0] ? 1 : 0,
                                   tm_mono_us() - c->t0_us);
        }
        metrics_drops_committed(c->took);
}

static void *sync_thread(void *ud)
{
        struct wsync *y = ud;

        /* A name for `top -H` and `perf report --sort comm` (issue 12). */
        (void)pthread_setname_np(pthread_self(), "gl-sync");
        pthread_mutex_lock(&y->mu);
        for (;;) {
                while (y->n_full == 0 && !y->stop)
                        pthread_cond_wait(&y->cv_work, &y->mu);
                if (y->n_full == 0)
                        break;  /* stopping, nothing left */
                size_t head = y->head, k = y->n_full;
                pthread_mutex_unlock(&y->mu);
                /* One sync for all k: each of them committed before it started. */
                sync_or_die(y);
                int64_t seq = -1;
                for (size_t i = 0; i < k; i++) {
                        const struct wsync_commit *c = &y->ring[(head + i) % WSYNC_PENDING_MAX];
                        if (c->last_seq > seq)
                                seq = c->last_seq;
                }
                publish(y, seq);
                for (size_t i = 0; i < k; i++)
                        commit_done(&y->ring[(head + i) % WSYNC_PENDING_MAX]);
                pthread_mutex_lock(&y->mu);
                y->head = (head + k) % WSYNC_PENDING_MAX;
                y->n_full -= k;
                bool idle = y->n_full == 0;
                if (idle)
                        atomic_store(&y->busy, false);
                pthread_cond_broadcast(&y->cv_room);
                if (idle && y->idle_cb) {
                        /* Unlocked: the callback may take the storing thread's queue lock,
                         * which that thread holds while it may call wsync_idle. */
                        pthread_mutex_unlock(&y->mu);
                        y->idle_cb(y->idle_ud);
                        pthread_mutex_lock(&y->mu);
                }
        }
        pthread_mutex_unlock(&y->mu);
        return NULL;
}

int wsync_new(struct store *s, struct wsync **ret)
{
        struct wsync *y = calloc(1, sizeof(*y));

        if (!y)
                return -ENOMEM;
        y->store = s;
        pthread_mutex_init(&y->mu, NULL);
        pthread_mutex_init(&y->pub_mu, NULL);
        pthread_cond_init(&y->cv_work, NULL);
        pthread_cond_init(&y->cv_room, NULL);
        y->durable = -1;
        for (size_t i = 0; i < WSYNC_PENDING_MAX; i++) {
                y->ring[i].held = malloc(WRITER_COMMIT_MAX * sizeof(*y->ring[i].held));
                if (!y->ring[i].held) {
                        wsync_free(y);
                        return -ENOMEM;
                }
        }
        *ret = y;
        return 0;
}

void wsync_on_durable(struct wsync *y, void (*cb)(void *ud, int64_t seq), void *ud)
{
        y->durable_cb = cb;
        y->durable_ud = ud;
}

void wsync_on_idle(struct wsync *y, void (*cb)(void *ud), void *ud)
{
        y->idle_cb = cb;
        y->idle_ud = ud;
}

int wsync_start(struct wsync *y, int64_t durable_seq)
{
        if (!y->sync && store_sync_new(y->store, &y->sync) < 0) {
                y->sync = NULL;
                log_warn("store commits stay synchronous (fdatasync on the storing thread)",
                         "error=\"%s\"", store_errmsg(y->store));
        }
        publish(y, durable_seq);
        y->stop = false;
        int r = -pthread_create(&y->thread, NULL, sync_thread, y);
        if (r >= 0)
                y->started = true;
        return r;
}

struct wsync_commit *wsync_slot(struct wsync *y)
{
        pthread_mutex_lock(&y->mu);
        while (y->n_full == WSYNC_PENDING_MAX)
                pthread_cond_wait(&y->cv_room, &y->mu);
        struct wsync_commit *c = &y->ring[(y->head + y->n_full) % WSYNC_PENDING_MAX];
        pthread_mutex_unlock(&y->mu);
        c->last_seq = -1;
        c->n_acks = 0;
        c->n_held = 0;
        return c;
}

int wsync_ack_add(struct wsync_commit *c, const struct event_sink *sink, uint64_t token)
{
        if (c->n_acks == c->acks_alloc) {
                size_t na = c->acks_alloc ? 2 * c->acks_alloc : 256;
                struct wsync_ack *a = realloc(c->acks, na * sizeof(*a));
                if (!a)
                        return -ENOMEM;
                c->acks = a;
                c->acks_alloc = na;
        }
        c->acks[c->n_acks++] = (struct wsync_ack){ sink, token };
        return 0;
}

void wsync_acks_swap(struct wsync_commit *slot, struct wsync_commit *acks)
{
        struct wsync_ack *a = slot->acks;
        size_t alloc = slot->acks_alloc;

        slot->acks = acks->acks;
        slot->n_acks = acks->n_acks;
        slot->acks_alloc = acks->acks_alloc;
        acks->acks = a;
        acks->n_acks = 0;
        acks->acks_alloc = alloc;
}

/* dst = src, cut to 63 bytes (source kinds and transports are short names). */
static const char *label_copy(char dst[64], const char *src)
{
        if (!src)
                return NULL;
        size_t n = strnlen(src, 63);
        memcpy(dst, src, n);
        dst[n] = 0;
        return dst;
}

bool wsync_metrics_set(struct wsync_commit *slot, const struct metrics_batch *mb,
                       struct event **ev, size_t n)
{
        slot->mb = *mb;
        slot->pack.rules_pack[0] = 0;
        if (n > 0)
                memcpy(slot->pack.rules_pack, ev[n - 1]->rules_pack,
                       sizeof(slot->pack.rules_pack));
        if (mb->overflow) {
                memcpy(slot->held, ev, n * sizeof(*ev));
                slot->n_held = n;
                return true;
        }
        for (size_t i = 0; i < mb->n_src; i++) {
                struct metrics_batch_src *s = &slot->mb.src[i];
                s->kind = label_copy(slot->labels[i][0], s->kind);
                s->transport = label_copy(slot->labels[i][1], s->transport);
                s->mapped = NULL;  /* the event is freed; metrics_batch_done does not read it */
        }
        return false;
}

void wsync_push(struct wsync *y)
{
        pthread_mutex_lock(&y->mu);
        y->n_full++;
        atomic_store(&y->busy, true);
        pthread_cond_signal(&y->cv_work);
        pthread_mutex_unlock(&y->mu);
}

bool wsync_idle(struct wsync *y)
{
        return !atomic_load_explicit(&y->busy, memory_order_relaxed);
}

void wsync_drain(struct wsync *y)
{
        pthread_mutex_lock(&y->mu);
        while (y->n_full > 0 && y->started)
                pthread_cond_wait(&y->cv_room, &y->mu);
        pthread_mutex_unlock(&y->mu);
}

void wsync_now(struct wsync *y, int64_t seq)
{
        sync_or_die(y);
        publish(y, seq);
}

void wsync_stop(struct wsync *y)
{
        if (!y || !y->started)
                return;
        pthread_mutex_lock(&y->mu);
        y->stop = true;
        pthread_cond_signal(&y->cv_work);
        pthread_mutex_unlock(&y->mu);
        (void)pthread_join(y->thread, NULL);
        y->started = false;
}

void wsync_free(struct wsync *y)
{
        if (!y)
                return;
        wsync_stop(y);
        /* Handed over but never run (a thread that never started): nothing is acknowledged
         * for them; free the events held for metrics. */
        for (size_t i = 0; i < y->n_full; i++) {
                struct wsync_commit *c = &y->ring[(y->head + i) % WSYNC_PENDING_MAX];
                event_free_batch(c->held, c->n_held);
        }
        for (size_t i = 0; i < WSYNC_PENDING_MAX; i++) {
                free(y->ring[i].acks);
                free(y->ring[i].held);
        }
        store_sync_free(y->sync);
        pthread_cond_destroy(&y->cv_work);
        pthread_cond_destroy(&y->cv_room);
        pthread_mutex_destroy(&y->mu);
        pthread_mutex_destroy(&y->pub_mu);
        free(y);
}
