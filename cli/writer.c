/* The writer thread: queue -> SQLite -> sealed epochs -> exports.
 *
 * Issue 12: in front of it a mapper thread (cli/writer-map.c) applies the rules and makes
 * each record's canonical bytes; this thread, the storing one, splices in seq, hashes the
 * leaf and stores. The public queue is the mapper's; this thread reads the mapper's queue.
 * The transaction it stores into, and what follows each commit, are in cli/writer-txn.c
 * (the state both share: cli/writer-int.h).
 *
 * Load: every event of the daemon passes here, so a batch (up to WRITER_COMMIT_MAX events, or
 * what arrived within WRITER_BATCH_WAIT_US) is one transaction: the records, their criteria
 * rows and the open epoch's counters commit together or not at all. The Merkle trees are
 * advanced only after the commit succeeds, so they always describe what is stored. A failed
 * commit (a full disk, say) keeps the batch in memory and retries it; meanwhile the queue
 * fills and the collectors apply backpressure or count drops: nothing is lost silently.
 *
 * Epochs: [start, end) intervals of receipt time aligned to the epoch length in UTC. The
 * epoch a record belongs to is decided by its receipt time: an event received at or after
 * the open epoch's end first closes that epoch. An event received a moment before the open
 * epoch's start (it was in flight while the previous epoch closed) joins the open epoch; its
 * own `received` still says when it arrived. Sealing an epoch and opening the next are one
 * transaction that also queues the epoch's exports (the outbox); the exporter (cli/exporter.c)
 * writes them after that commit and marks them done only when complete, so a crash in
 * between re-exports. */
#include "cli/writer.h"
#include "cli/writer-map.h"
#include "cli/writer-prof.h"
#include "cli/writer-stats.h"
#include "cli/writer-sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/metrics.h"  /* ops (issue 9) */
#include "core/tm.h"
#include "outputs/outputs.h"
#include "rules/rules.h"

#include "cli/writer-int.h"

static void open_epoch_clear(struct open_epoch *o) {
        merkle_free(o->tree);
        for (size_t i = 0; i < o->n_crit; i++) {
                free(o->crit[i].id);
                merkle_free(o->crit[i].tree);
        }
        free(o->crit);
        epoch_stats_clear(&o->stats);
        memset(o, 0, sizeof(*o));
}

/* The tree of criterion id, created on first use. NULL when out of memory. */
struct merkle *wopen_crit_tree(struct open_epoch *o, const char *id) {
        size_t lo = 0, hi = o->n_crit, len = strlen(id);
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = json_key_cmp(o->crit[mid].id, o->crit[mid].len, id, len);
                if (c == 0)
                        return o->crit[mid].tree;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        struct crit_tree *n = realloc(o->crit, (o->n_crit + 1) * sizeof(*n));
        if (!n)
                return NULL;
        o->crit = n;
        struct crit_tree t = { strdup(id), len, NULL };
        if (!t.id || merkle_new(&t.tree) < 0) {
                free(t.id);
                return NULL;
        }
        memmove(&o->crit[lo + 1], &o->crit[lo], (o->n_crit - lo) * sizeof(*n));
        o->crit[lo] = t;
        o->n_crit++;
        return t.tree;
}

static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The aligned end of the interval that contains t. */
static int64_t interval_end(const struct writer *w, int64_t t) {
        return (floor_div(t, w->epoch_us) + 1) * w->epoch_us;
}

/* Writes the open epoch's row with count records (counters included). Inside a
 * transaction. */
int wopen_put_count(struct writer *w, int64_t count) {
        json *s = epoch_stats_json(&w->open.stats);
        struct buf b = BUF_INIT;
        int r = s ? json_canon(s, &b) : -ENOMEM;
        json_free(s);
        if (r < 0) {
                buf_free(&b);
                return r;
        }
        struct store_epoch e = {
                .epoch = w->open.epoch, .start_us = w->open.start_us, .end_us = w->open.end_us,
                .first_seq = w->open.first_seq, .count = count, .sealed = false,
                .stats = b.data,
        };
        r = store_epoch_put(w->store, &e);
        buf_free(&b);
        return r;
}

static int open_epoch_put(struct writer *w) {
        return wopen_put_count(w, (int64_t)merkle_count(w->open.tree));
}

static int open_epoch_init(struct writer *w, int64_t epoch, int64_t start_us, int64_t first_seq) {
        open_epoch_clear(&w->open);
        w->open.epoch = epoch;
        w->open.start_us = start_us;
        w->open.end_us = interval_end(w, start_us);
        w->open.first_seq = first_seq;
        int r = epoch_stats_init(&w->open.stats);
        return r < 0 ? r : merkle_new(&w->open.tree);
}

/* ---- sealing ---- */

/* Closes the open epoch at end_us (its aligned end, or earlier on request), signs it, opens
 * the next one and queues the exports, all in one transaction. */
static int seal_open(struct writer *w, int64_t end_us) {
        struct open_epoch *o = &w->open;
        struct seal_criterion *crit = calloc(o->n_crit ? o->n_crit : 1, sizeof(*crit));
        json *stats = epoch_stats_json(&o->stats);
        struct buf m = BUF_INIT;
        uint8_t sig[SEAL_SIG_LEN];
        int r = (crit && stats) ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < o->n_crit; i++) {
                crit[i].id = o->crit[i].id;
                crit[i].count = merkle_count(o->crit[i].tree);
                merkle_root(o->crit[i].tree, crit[i].root);
        }
        struct seal_manifest man = {
                .chain = w->chain, .epoch = (uint64_t)o->epoch,
                .start_us = o->start_us, .end_us = end_us,
                .first_seq = (uint64_t)o->first_seq, .count = merkle_count(o->tree),
                .criteria = crit, .n_criteria = o->n_crit, .stats = stats,
                .sealed_us = tm_now_us(),
        };
        memcpy(man.key_id, w->key_id, sizeof(man.key_id));
        memcpy(man.prev, w->prev, HASH_LEN);
        if (w->next_key)  /* issue 10: announce the next key, signed by this one */
                man.next_key = w->next_pk;
        merkle_root(o->tree, man.root);
        if (r >= 0)
                r = seal_manifest_build(&man, &m);
        if (r >= 0)
                r = seal_key_sign(w->key, m.data, m.len, sig);
        if (r >= 0)
                r = store_begin(w->store);
        if (r >= 0) {
                struct store_epoch e = {
                        .epoch = o->epoch, .start_us = o->start_us, .end_us = end_us,
                        .first_seq = o->first_seq, .count = (int64_t)man.count, .sealed = true,
                        .manifest = m.data, .manifest_len = m.len, .sealed_us = man.sealed_us,
                };
                struct buf sb = BUF_INIT;
                r = json_canon(stats, &sb);
                e.stats = sb.data;
                memcpy(e.root, man.root, HASH_LEN);
                memcpy(e.sig, sig, SEAL_SIG_LEN);
                if (r >= 0)
                        r = store_epoch_put(w->store, &e);
                buf_free(&sb);
                for (size_t i = 0; r >= 0 && i < w->n_outputs; i++)
                        r = store_outbox_add(w->store, w->outputs[i].name, o->epoch);
                int64_t next_first = o->first_seq + (int64_t)man.count, next_epoch = o->epoch + 1;
                if (r >= 0)
                        r = open_epoch_init(w, next_epoch, end_us, next_first);
                if (r >= 0)
                        r = open_epoch_put(w);
                if (r >= 0)
                        r = store_commit(w->store);
                if (r < 0) {
                        log_error("seal failed", "epoch=%lld error=\"%s\"",
                                  (long long)next_epoch - 1, store_errmsg(w->store));
                        (void)store_rollback(w->store);
                }
        }
        if (r >= 0) {
                /* issue 12 (sync9): the seal committed at synchronous=NORMAL; nothing may
                 * export it, count it sealed or move key files before it is on disk. */
                if (w->sync)
                        wsync_now(w->sync, w->next_seq - 1);
                hash_sha256(m.data, m.len, w->prev);
                atomic_fetch_add(&w->sealed_count, 1);
                metrics_epoch_sealed((int64_t)man.epoch, man.count);  /* ops (issue 9) */
                log_info("epoch sealed", "epoch=%lld count=%llu", (long long)man.epoch,
                         (unsigned long long)man.count);
                if (w->next_key) {  /* issue 10: the announced key signs from now on */
                        w->key = w->next_key;
                        memcpy(w->key_id, w->next_key_id, sizeof(w->key_id));
                        w->next_key = NULL;
                        log_info("signing key rotated", "epoch=%lld key_id=%s",
                                 (long long)man.epoch, w->key_id);
                        if (w->on_rotated_cb)
                                w->on_rotated_cb(w->on_rotated_ud);
                }
                if (w->sealed_cb)
                        w->sealed_cb(w->sealed_ud, (int64_t)man.epoch);
        }
        buf_free(&m);
        json_free(stats);
        free(crit);
        return r;
}

/* issue 10, key rotation: chooses the key in force from the last sealed manifest. w->key and
 * w->next_key hold the configured key and next key; afterwards w->key signs the next epoch
 * and w->next_key is what it still has to announce (NULL when nothing). */
static int key_pick(struct writer *w, const char *manifest, size_t len, char *err,
                    size_t err_len) {
        struct json_error jerr = { 0 };
        json *m = NULL;
        if (json_parse(manifest, len, &m, &jerr) < 0) {
                snprintf(err, err_len, "the last sealed manifest is not JSON: %s", jerr.msg);
                return -EBADMSG;
        }
        char want[HASH_HEX_LEN] = "";
        const char *kid = json_str(json_obj_get(m, "key_id"), NULL);
        const char *next = json_str(json_obj_get(m, "next_key"), NULL);
        uint8_t npk[SEAL_PK_LEN];
        if (next && hash_unhex(next, strlen(next), npk, sizeof(npk)) == 0)
                seal_key_id(npk, want);
        else if (kid && strlen(kid) == HASH_HEX_LEN - 1)
                memcpy(want, kid, HASH_HEX_LEN);
        int64_t epoch = json_int(json_obj_get(m, "epoch"));
        json_free(m);
        if (strcmp(want, w->key_id) == 0) {
                if (w->next_key && strcmp(w->next_key_id, w->key_id) == 0)
                        w->next_key = NULL;  /* FILE.next is FILE: nothing to announce */
                return 0;
        }
        if (w->next_key && strcmp(want, w->next_key_id) == 0) {
                /* The rotation was sealed but the key files were not moved yet. */
                w->key = w->next_key;
                memcpy(w->key_id, w->next_key_id, sizeof(w->key_id));
                w->next_key = NULL;
                if (w->on_rotated_cb)
                        w->on_rotated_cb(w->on_rotated_ud);
                return 0;
        }
        if (next) {
                snprintf(err, err_len, "epoch %lld announced the signing key %s, but neither the "
                         "key file nor its .next file is that key", (long long)epoch, want);
                return -EKEYREJECTED;
        }
        /* Signing on with another key would break the chain for every verifier pinned to
         * it: a new key goes through `gatelog keygen --rotate`, which announces it first. */
        snprintf(err, err_len, "the chain is signed by key %s (epoch %lld), but the configured "
                 "key is %s: restore the right seal.key, or announce a new key with `gatelog "
                 "keygen --rotate`", want, (long long)epoch, w->key_id);
        return -EKEYREJECTED;
}

/* Rebuilds the open epoch from the store after a restart. */
static int rebuild_cb(void *ud, int64_t seq, const uint8_t leaf[HASH_LEN],
                      const char *const *criteria, size_t n_criteria) {
        struct writer *w = ud;
        if (seq != w->open.first_seq + (int64_t)merkle_count(w->open.tree))
                return -EBADMSG; /* the store lost a record: refuse to go on silently */
        int r = merkle_add_leaf(w->open.tree, leaf);
        for (size_t i = 0; r >= 0 && i < n_criteria; i++) {
                struct merkle *t = wopen_crit_tree(&w->open, criteria[i]);
                r = t ? merkle_add_leaf(t, leaf) : -ENOMEM;
        }
        return r;
}

static int store_recover(struct writer *w, char *err, size_t err_len) {
        struct store_epoch last = { 0 };
        int r = store_epoch_last(w->store, &last);
        if (r == -ENOENT) {
                /* A new chain: epoch 0 is the interval that contains now. */
                int64_t now = tm_now_us();
                r = open_epoch_init(w, 0, floor_div(now, w->epoch_us) * w->epoch_us, 0);
                if (r >= 0)
                        r = store_begin(w->store);
                if (r >= 0)
                        r = open_epoch_put(w);
                if (r >= 0)
                        r = store_commit(w->store);
                w->next_seq = 0;
                return r;
        }
        if (r < 0) {
                snprintf(err, err_len, "%s: cannot read epochs: %s", "store", store_errmsg(w->store));
                return r;
        }
        if (last.sealed) {
                /* Sealing always opens the next epoch in the same transaction. */
                snprintf(err, err_len, "database has no open epoch after epoch %lld",
                         (long long)last.epoch);
                store_epoch_clear(&last);
                return -EBADMSG;
        }
        r = open_epoch_init(w, last.epoch, last.start_us, last.first_seq);
        w->open.end_us = last.end_us;
        if (r >= 0 && last.stats && epoch_stats_load(&w->open.stats, last.stats) < 0)
                r = -EBADMSG;
        if (r >= 0)
                r = store_records_leaves(w->store, last.epoch, rebuild_cb, w);
        if (r < 0) {
                snprintf(err, err_len, "cannot rebuild the open epoch %lld: %s",
                         (long long)last.epoch, strerror(-r));
                store_epoch_clear(&last);
                return r;
        }
        w->next_seq = w->open.first_seq + (int64_t)merkle_count(w->open.tree);
        if (last.epoch > 0) {
                struct store_epoch prev = { 0 };
                r = store_epoch_get(w->store, last.epoch - 1, &prev);
                if (r >= 0 && prev.sealed && prev.manifest) {
                        hash_sha256(prev.manifest, prev.manifest_len, w->prev);
                        r = key_pick(w, prev.manifest, prev.manifest_len, err, err_len);
                } else {
                        snprintf(err, err_len, "epoch %lld is missing or not sealed",
                                 (long long)last.epoch - 1);
                        r = r < 0 ? r : -EBADMSG;
                }
                store_epoch_clear(&prev);
        }
        store_epoch_clear(&last);
        return r < 0 ? r : 0;
}

/* Checks that the store belongs to this chain and epoch length; records them when new. */
static int meta_check(struct writer *w, char *err, size_t err_len) {
        char lenbuf[32];
        snprintf(lenbuf, sizeof(lenbuf), "%lld", (long long)w->epoch_us);
        const char *keys[2] = { "chain", "epoch_us" }, *want[2] = { w->chain, lenbuf };
        for (int i = 0; i < 2; i++) {
                char *v = NULL;
                int r = store_meta_get(w->store, keys[i], &v);
                if (r == -ENOENT) {
                        r = store_meta_set(w->store, keys[i], want[i]);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (r < 0)
                        return r;
                if (strcmp(v, want[i]) != 0) {
                        snprintf(err, err_len,
                                 "database belongs to %s=%s but the configuration says %s; "
                                 "use another store.path or the same settings",
                                 keys[i], v, want[i]);
                        free(v);
                        return -EINVAL;
                }
                free(v);
        }
        return 0;
}

/* Seals every interval that has ended. */
int wseal_due(struct writer *w, int64_t now) {
        while (now >= w->open.end_us) {
                int r = seal_open(w, w->open.end_us);
                if (r < 0)
                        return r;
        }
        return 0;
}

int writer_open(const struct writer_config *cfg, struct writer **ret, char *err,
                size_t err_len) {
        struct writer *w = calloc(1, sizeof(*w));
        struct store_error se = { { 0 } };
        if (!w || !(w->chain = strdup(cfg->chain)) || wmap_new(&w->map) < 0 ||
            !(w->txn.ev = malloc(WRITER_COMMIT_MAX * sizeof(*w->txn.ev))) ||
            !(w->bs.leaves = malloc(WRITER_COMMIT_MAX * HASH_LEN))) {
                if (w) {
                        wmap_free(w->map);
                        free(w->txn.ev);
                        free(w->chain);
                }
                free(w);
                return -ENOMEM;
        }
        w->epoch_us = cfg->epoch_us;
        w->txn.seq_text = WMAP_SEQ_TEXT_INIT;
        w->key = cfg->key;
        w->outputs = cfg->outputs;
        w->n_outputs = cfg->n_outputs;
        uint8_t pk[SEAL_PK_LEN];
        seal_key_public(cfg->key, pk);
        seal_key_id(pk, w->key_id);
        if (cfg->next_key) {  /* issue 10: key rotation */
                w->next_key = cfg->next_key;
                seal_key_public(cfg->next_key, w->next_pk);
                seal_key_id(w->next_pk, w->next_key_id);
        }
        w->on_rotated_cb = cfg->on_rotated_cb;
        w->on_rotated_ud = cfg->on_rotated_ud;

        int r = store_open(cfg->db_path, STORE_READWRITE, &w->store, &se);
        if (r < 0) {
                snprintf(err, err_len, "%s: %s", cfg->db_path, se.msg);
                writer_free(w);
                return r;
        }
        if (store_open_note(w->store))  /* issue 12: a schema 1 file migrated in place */
                log_info("store migrated", "db=\"%s\" what=\"%s\"", cfg->db_path,
                         store_open_note(w->store));
        /* issue 12: checkpoints off the writer's thread; without it SQLite's own
         * autocheckpoint stays, slower but as safe. */
        if (store_checkpoint_in_background(w->store) < 0)
                log_warn("checkpoints stay on the writer thread", "error=\"%s\"",
                         store_errmsg(w->store));
        if (r >= 0)
                r = store_begin(w->store);
        if (r >= 0) {
                r = meta_check(w, err, err_len);
                int c = r >= 0 ? store_commit(w->store) : store_rollback(w->store);
                r = r < 0 ? r : c;
        }
        if (r >= 0)
                r = store_recover(w, err, err_len);
        if (r >= 0)
                r = wseal_due(w, tm_now_us());
        if (r < 0) {
                if (!err[0])
                        snprintf(err, err_len, "%s: %s", cfg->db_path, strerror(-r));
                writer_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

/* The criterion ids of an event's record (at most 64), borrowed from it. */
void writer_set_rules(struct writer *w, struct rules_pack *p) {
        wmap_set_rules(w->map, p);
}

/* Seals what is due: the open epoch when its interval ended, or now on request (a seal
 * mark, which travelled behind the events received before the request). */
static void seal_point(struct writer *w, bool req) {
        int64_t now = tm_now_us();
        if (now >= w->open.end_us || req) {
                /* The transaction's events, and drops counted since the last batch, belong
                 * to the epoch they were counted in: store them before it closes. */
                if (wtxn_commit(w) >= 0) {
                        int r = wseal_due(w, now);
                        if (r >= 0 && req && now > w->open.start_us)
                                r = seal_open(w, now);
                }
        }
}

/* gl-sync is idle: wake the storing thread from its queue wait, so that a transaction that
 * waited for it commits now. */
static void sync_idle_cb(void *ud) {
        struct writer *w = ud;
        queue_kick(w->mq);
}

/* How long the storing thread may wait for events: until the open epoch's end, and while a
 * transaction is open, until its gather time is up (gl-sync's idle kick wakes it earlier). */
static int64_t pop_wait_us(const struct writer *w) {
        int64_t wait = w->open.end_us - tm_now_us();
        if (w->txn.n > 0) {
                int64_t left = w->txn.opened_us + WRITER_BATCH_WAIT_US / 10 - tm_mono_us();
                if (left < 1000)
                        left = 1000;  /* past it: only the idle kick or events wake it */
                if (left < wait)
                        wait = left;
        }
        return wait < 0 ? 0 : wait;
}

static void *writer_thread(void *ud) {
        struct writer *w = ud;
        struct event **ev = malloc(WRITER_COMMIT_MAX * sizeof(*ev));
        /* A name for `top -H` and `perf report --sort comm` (issue 12). */
        (void)pthread_setname_np(pthread_self(), "gl-store");
        if (!ev) {
                log_error("writer cannot start", "error=\"%s\"", strerror(ENOMEM));
                abort();
        }
        for (;;) {
                WPROF_MARK(&w->prof, WP_OTHER);
                /* All that is mapped, up to what the transaction still takes. */
                size_t room = WRITER_COMMIT_MAX - w->txn.n;
                size_t n = queue_pop_batch(w->mq, (void **)ev, room, pop_wait_us(w));
                WPROF_MARK(&w->prof, WP_POP);
                /* Events up to each seal mark, then the seal it asks for. */
                for (size_t i = 0; i < n;) {
                        size_t k = i;
                        while (k < n && ev[k] != &w->seal_mark)
                                k++;
                        if (k > i)
                                wtxn_write(w, ev + i, k - i);
                        if (k < n) {
                                seal_point(w, true);
                                k++;
                        }
                        i = k;
                }
                if (wtxn_due(w))
                        (void)wtxn_commit(w);
                WPROF_MARK(&w->prof, WP_FREE);
                seal_point(w, false);
                if (n == 0 && queue_drained(w->mq))
                        break;
        }
        /* What is left, and the counters of the last moments, go into the open epoch. */
        (void)wtxn_commit(w);
        wsync_drain(w->sync);
        WPROF_REPORT(&w->prof, "gl-store");
        free(ev);
        return NULL;
}

void writer_on_sealed(struct writer *w, void (*cb)(void *ud, int64_t epoch), void *ud) {
        w->sealed_cb = cb;
        w->sealed_ud = ud;
}

void writer_set_feed(struct writer *w, struct stage_feed *feed) {
        w->feed = feed;
}

void writer_on_durable(struct writer *w, void (*cb)(void *ud, int64_t seq), void *ud) {
        w->durable_cb = cb;
        w->durable_ud = ud;
}

int writer_start(struct writer *w, struct queue *q, struct drop_counters *d) {
        w->q = q;
        w->drops = d;
        size_t mq_max = queue_capacity(q) / 4;
        mq_max = mq_max < 64 ? 64 : mq_max > WRITER_MAP_QUEUE ? WRITER_MAP_QUEUE : mq_max;
        int r = w->mq ? 0 : queue_new(mq_max, &w->mq);
        if (r < 0)
                return r;
        /* issue 12 (sync9): commits at synchronous=NORMAL from now on, made durable by
         * gl-sync. Everything the store holds now was committed (and synced) before the
         * threads: the watermark starts there. */
        if (!w->sync) {
                r = wsync_new(w->store, &w->sync);
                if (r < 0)
                        return r;
                wsync_on_durable(w->sync, w->durable_cb, w->durable_ud);
                wsync_on_idle(w->sync, sync_idle_cb, w);
                r = wsync_start(w->sync, w->next_seq - 1);
                if (r < 0) {
                        wsync_free(w->sync);
                        w->sync = NULL;
                        return r;
                }
        }
        r = -pthread_create(&w->thread, NULL, writer_thread, w);
        if (r < 0)
                return r;
        w->started = true;
        r = wmap_start(w->map, q, w->mq, &w->seal_mark);
        if (r < 0) {
                /* The storing thread ends once its queue is closed and empty. */
                queue_close(w->mq);
                (void)pthread_join(w->thread, NULL);
                w->started = false;
        }
        return r;
}

void writer_request_seal(struct writer *w) {
        /* Before writer_start there is no thread to ask: writer_seal_now seals. */
        if (w->started)
                wmap_request_mark(w->map);
}

int writer_seal_now(struct writer *w) {
        int64_t now = tm_now_us();
        int r = wseal_due(w, now);
        if (r >= 0 && now > w->open.start_us)
                r = seal_open(w, now);
        return r;
}

int writer_join(struct writer *w) {
        if (!w->started)
                return 0;
        /* The mapper ends after the public queue drained, and closes mq behind it. */
        wmap_join(w->map);
        atomic_store(&w->stopping, true);
        queue_kick(w->mq);
        w->started = false;
        int r = -pthread_join(w->thread, NULL);
        wsync_stop(w->sync);  /* the thread drained it; the handle stays for seals */
        return r;
}

int64_t writer_sealed_count(struct writer *w) {
        return atomic_load(&w->sealed_count);
}

void writer_free(struct writer *w) {
        if (!w)
                return;
        (void)writer_join(w);
        wmap_free(w->map);
        queue_free(w->mq, event_free_cb);
        wsync_free(w->sync);
        /* Events of a transaction that never committed (the thread never ran). */
        event_free_batch(w->txn.ev, w->txn.n);
        if (w->txn.open && w->txn.saved_ok)
                epoch_stats_clear(&w->txn.saved);
        free(w->txn.ev);
        free(w->txn.acks.acks);
        buf_free(&w->txn.b);
        open_epoch_clear(&w->open);
        store_close(w->store);
        free(w->bs.leaves);
        free(w->bs.trees);
        free(w->chain);
        free(w);
}
