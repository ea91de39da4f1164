/* The writer thread: queue -> SQLite -> sealed epochs -> exports.
 *
 * Issue 12: in front of it a mapper thread (cli/writer-map.c) applies the rules and makes
 * each record's canonical bytes; this thread, the storing one, splices in seq, hashes the
 * leaf and stores. The public queue is the mapper's; this thread reads the mapper's queue.
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
#include "core/prefetch.h"
#include "core/tm.h"
#include "outputs/outputs.h"
#include "rules/rules.h"

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
        /* issue 12 (stage8): each committed batch to the export stager's feed */
        void (*committed_cb)(void *ud, int64_t epoch, int64_t epoch_first, int64_t first_seq,
                             struct event *const *ev, size_t n, size_t n_records);
        void *committed_ud;
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
                struct buf b;                 /* one record's bytes */
        } txn;
        struct wsync *sync;           /* gl-sync: the commits' fdatasync and what follows it */
        WPROF_DECL                    /* -DGL_WRITER_PROF only (cli/writer-prof.h) */
};

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
static struct merkle *crit_tree_get(struct open_epoch *o, const char *id) {
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
static int open_epoch_put_count(struct writer *w, int64_t count) {
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
        return open_epoch_put_count(w, (int64_t)merkle_count(w->open.tree));
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
                struct merkle *t = crit_tree_get(&w->open, criteria[i]);
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
static int seal_due(struct writer *w, int64_t now) {
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
                r = seal_due(w, tm_now_us());
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

/* Stores one record of a batch: seq, canonical bytes, leaf, criteria rows. A record the
 * mapper made into bytes only gets its seq spliced in; a tree (the mapper could not make
 * bytes) is canonicalised here. The record's leaf and its criterion trees (created now, so
 * that nothing can fail after the commit) go into w->bs for batch_committed. */
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
                struct merkle *t = crit_tree_get(&w->open, crit[j]);
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
        bool hashed = false;
        if (e->mapped) {
                const struct wmap_rec *m = e->mapped;
                r = wmap_splice(m, seq, b, sr.leaf);
                hashed = true;
                sr.host = m->host;
                sr.time_us = m->time_us;
        } else {
                r = json_obj_set_int(e->rec, "seq", seq);
                buf_reset(b);
                if (r >= 0)
                        r = json_canon(e->rec, b);
                sr.host = json_str(json_obj_get(e->rec, "host"), NULL);
                size_t tl;
                const char *ts = json_str(json_obj_get(e->rec, "time"), &tl);
                if (ts)
                        (void)tm_parse_rfc3339(ts, tl, 0, &sr.time_us);
        }
        if (r < 0)
                return r;
        sr.data = b->data;
        sr.len = b->len;
        if (!hashed) /* the mapper's records come with their leaf hash */
                merkle_leaf_hash(b->data, b->len, sr.leaf);
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
 * the stager's feed its records; then what says they are stored (the durable watermark, the
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
        if (w->committed_cb && k)  /* issue 12 (stage8): the stager's feed, from memory */
                w->committed_cb(w->committed_ud, w->open.epoch, w->open.first_seq,
                                w->next_seq, ev, n, k);
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
                r = open_epoch_put_count(w, (int64_t)(merkle_count(w->open.tree) + t->k));
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
static int txn_commit(struct writer *w) {
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
static bool txn_due(const struct writer *w) {
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
static void write_events(struct writer *w, struct event **ev, size_t n) {
        size_t i = 0;
        bool told = false;
        while (i < n) {
                if (ev[i]->received_us >= w->open.end_us) {
                        (void)txn_commit(w);  /* with events: until it succeeds */
                        if (w->txn.n > 0 || seal_due(w, ev[i]->received_us) < 0) {
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
                        (void)txn_commit(w);
                i = k;
        }
}

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
                if (txn_commit(w) >= 0) {
                        int r = seal_due(w, now);
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
                                write_events(w, ev + i, k - i);
                        if (k < n) {
                                seal_point(w, true);
                                k++;
                        }
                        i = k;
                }
                if (txn_due(w))
                        (void)txn_commit(w);
                WPROF_MARK(&w->prof, WP_FREE);
                seal_point(w, false);
                if (n == 0 && queue_drained(w->mq))
                        break;
        }
        /* What is left, and the counters of the last moments, go into the open epoch. */
        (void)txn_commit(w);
        wsync_drain(w->sync);
        WPROF_REPORT(&w->prof, "gl-store");
        free(ev);
        return NULL;
}

void writer_on_sealed(struct writer *w, void (*cb)(void *ud, int64_t epoch), void *ud) {
        w->sealed_cb = cb;
        w->sealed_ud = ud;
}

void writer_on_committed(struct writer *w,
                         void (*cb)(void *ud, int64_t epoch, int64_t epoch_first,
                                    int64_t first_seq, struct event *const *ev, size_t n,
                                    size_t n_records),
                         void *ud) {
        w->committed_cb = cb;
        w->committed_ud = ud;
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
        int r = seal_due(w, now);
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
