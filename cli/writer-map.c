/* The writer's mapper stage (issue 12): public queue -> rules, canonical bytes, tree freed
 * -> the storing thread's queue.
 *
 * Load: every event of the daemon, once. Before this stage the writer thread applied the
 * rules, canonicalised and freed each tree itself, about half of its time; here that work
 * runs beside the SQLite commits, so on two cores the store's thread only splices seq,
 * hashes and inserts. Guarantees: events leave in the order they arrived (one consumer, one
 * producer, FIFO queues); a reloaded pack applies between two batches, so from one record
 * on; a mark request (a seal) is put after every event taken before it, so a seal covers
 * what was received before it was asked for, as when the writer had one thread; nothing is
 * dropped when the storing thread's queue is full: the mapper waits, the public queue fills
 * and the collectors apply backpressure. Memory: the tree (a few KiB) becomes one block of
 * the canonical bytes plus the few strings the store and the counters need, a block the
 * storing thread gives back to the mapper's recycler (core/recycle.h). */
#include "cli/writer-map.h"
#include "cli/writer-prof.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/recycle.h"
#include "core/tm.h"
#include "rules/rules.h"

/* The mapper waits at most this long on an empty queue before it looks at its flags again
 * (kicks wake it at once; this is a safety net). */
#define WMAP_IDLE_WAIT_US (200 * 1000)
/* A full storing queue is polled again after this, in case a wakeup was missed. */
#define WMAP_FULL_WAIT_MS 100
/* Events mapped before they are handed to the storing thread in one push. */
#define WMAP_PUSH_SLICE 64
/* Criteria kept per record: the writer's own limit (store_one). */
#define WMAP_MAX_CRIT 64
/* Mapped records come from blocks of this size that the storing thread gives back
 * (event_free): a syslog record's block is ~0.8-1.3 KiB (its canonical bytes, the leaf
 * midstate and a few strings); a larger one is malloc'd. Idle blocks kept: about one
 * storing batch; those in flight are bounded by the queues (WRITER_MAP_QUEUE). */
#define WMAP_REC_BLOCK 1536u
#define WMAP_REC_KEEP 1024u

struct wmap {
        struct queue *in, *out;
        void *mark;
        pthread_t thread;
        bool started;
        struct rules_pack *rules;                /* in force, owned */
        _Atomic(struct rules_pack *) rules_next; /* a reload waiting to take effect */
        atomic_bool mark_requested;
        atomic_bool stopping;                    /* set by wmap_join after queue_close(in) */
        WPROF_DECL                               /* -DGL_WRITER_PROF (cli/writer-prof.h) */
};

/* snprintf(dst, cap, "%s", s) without the format engine (performance, issue 12: three of
 * them per event cost more than the leaf's midstate). */
static void copy_trunc(char *dst, size_t cap, const char *s)
{
        size_t n = strlen(s);

        if (n >= cap)
                n = cap - 1;
        memcpy(dst, s, n);
        dst[n] = '\0';
}

/* Applies the pack; a drop rule's record is freed and the rule named. */
static void map_rules(const struct rules_pack *p, struct event *e) {
        enum rules_verdict v = RULES_KEEP;
        const char *id = NULL;
        /* -ENOMEM leaves a partly mapped record: stored as it is, not lost. */
        (void)rules_apply(p, e->rec, &v, &id);
        copy_trunc(e->rules_pack, sizeof(e->rules_pack), rules_pack_hash(p));
        if (v != RULES_DROP)
                return;
        char *rid = strdup(id ? id : "?");
        if (!rid)
                return; /* cannot count it: keep the record instead */
        json_free(e->rec);
        e->rec = NULL;
        free(e->drop_rule);
        e->drop_rule = rid;
}

/* Appends the string members of arr (at most max) to the list at *w; returns how many.
 * Each is taken as a C string, up to a NUL it may hold, as the store and the counters
 * always took them. */
static size_t put_list(const json *arr, size_t max, char **w) {
        size_t k = 0;
        for (size_t i = 0; i < json_len(arr) && k < max; i++) {
                const char *s = json_str(json_arr_at(arr, i), NULL);
                if (!s)
                        continue;
                size_t l = strlen(s);
                memcpy(*w, s, l + 1);
                *w += l + 1;
                k++;
        }
        return k;
}

static size_t list_bytes(const json *arr, size_t max) {
        size_t n = 0, k = 0;
        for (size_t i = 0; i < json_len(arr) && k < max; i++) {
                const char *s = json_str(json_arr_at(arr, i), NULL);
                if (s) {
                        n += strlen(s) + 1;
                        k++;
                }
        }
        return n;
}

/* What the store and the counters read of a record: the first member of each name, found
 * in one pass over the members instead of a lookup by key for each (performance, issue 12). */
struct rec_fields {
        const json *host, *rule, *app, *time, *criteria, *flags, *source;
};

static void rec_fields_get(const json *rec, struct rec_fields *f) {
        const char *k;
        size_t kl;
        const json *v;

        memset(f, 0, sizeof(*f));
        for (size_t i = 0; (v = json_obj_at(rec, i, &k, &kl)); i++) {
                const json **slot = NULL;

                switch (kl) {
                case 3:
                        slot = !memcmp(k, "app", 3) ? &f->app : NULL;
                        break;
                case 4:
                        slot = !memcmp(k, "host", 4)   ? &f->host
                               : !memcmp(k, "rule", 4) ? &f->rule
                               : !memcmp(k, "time", 4) ? &f->time
                                                       : NULL;
                        break;
                case 5:
                        slot = !memcmp(k, "flags", 5) ? &f->flags : NULL;
                        break;
                case 6:
                        slot = !memcmp(k, "source", 6) ? &f->source : NULL;
                        break;
                case 8:
                        slot = !memcmp(k, "criteria", 8) ? &f->criteria : NULL;
                        break;
                default:
                        break;
                }
                if (slot && !*slot)
                        *slot = v;
        }
}

/* Sets *malformed and *truncated from the record's flags, in one pass. */
static void flags_scan(const json *flags, bool *malformed, bool *truncated) {
        *malformed = *truncated = false;
        for (size_t i = 0; i < json_len(flags); i++) {
                size_t l;
                const char *s = json_str(json_arr_at(flags, i), &l);

                if (!s)
                        continue;
                if (l == 9 && !memcmp(s, "malformed", 10))
                        *malformed = true;
                else if (l == 9 && !memcmp(s, "truncated", 10))
                        *truncated = true;
        }
}

/* wmap_event with the mapped block taken from rc when it fits (rc NULL: malloc). */
static int map_one(const struct rules_pack *p, struct recycle *rc, struct event *e,
                   struct buf *b) {
        if (!e->rec)
                return 0;
        if (p) {
                map_rules(p, e);
                if (!e->rec)
                        return 0;
        }
        json *rec = e->rec;
        size_t off = 0;
        buf_reset(b);
        /* The bytes the tree would have with "seq":0, and where that 0 is (issue 12). */
        int r = json_canon_with_int(rec, "seq", 0, b, &off);
        if (r < 0)
                return r;
        if (off >= b->len || b->data[off] != '0')
                return -EBADMSG;

        struct rec_fields f;
        rec_fields_get(rec, &f);
        size_t hl = 0, al = 0, rl = 0;
        const char *host = json_str(f.host, &hl);
        const char *rule = json_str(f.rule, &rl);
        const char *app = NULL;
        if (rule && rl == 8 && !memcmp(rule, "unmapped", 9)) {
                app = json_str(f.app, &al);
                if (!app) {
                        app = "-";
                        al = 1;
                }
        }
        const json *crit = f.criteria, *flags = f.flags;
        size_t need = sizeof(struct wmap_rec) + b->len + 1 + (host ? hl + 1 : 0) +
                      (app ? al + 1 : 0) + list_bytes(crit, WMAP_MAX_CRIT) +
                      list_bytes(flags, SIZE_MAX);
        struct recycle *m_rc = rc && need <= recycle_block_size(rc) ? rc : NULL;
        struct wmap_rec *m = m_rc ? recycle_get(m_rc) : malloc(need);
        if (!m)
                return -ENOMEM;
        memcpy(m->data, b->data, b->len + 1);
        m->len = b->len;
        m->seq_off = off;
        /* The leaf's prefix (RFC 6962: 0x00, as merkle_leaf_hash) and the bytes before seq:
         * most of the record, since "seq" sorts after "message" and "raw_sha256". */
        static const uint8_t leaf_prefix = 0x00;
        hash_sha256_begin(&m->leaf_mid);
        hash_sha256_update(&m->leaf_mid, &leaf_prefix, 1);
        hash_sha256_update(&m->leaf_mid, m->data, m->seq_off);
        m->time_us = e->received_us;
        size_t tl;
        const char *ts = json_str(f.time, &tl);
        if (ts)
                (void)tm_parse_rfc3339(ts, tl, 0, &m->time_us);
        char *w = m->data + b->len + 1;
        m->host = NULL;
        if (host) {
                memcpy(w, host, hl + 1);
                m->host = w;
                w += hl + 1;
        }
        m->unmapped_app = NULL;
        if (app) {
                memcpy(w, app, al);
                w[al] = '\0';
                m->unmapped_app = w;
                w += al + 1;
        }
        m->crit = w;
        m->n_crit = put_list(crit, WMAP_MAX_CRIT, &w);
        m->flags = w;
        m->n_flags = put_list(flags, SIZE_MAX, &w);

        /* What metrics read once the tree is gone. */
        const char *kind = json_str(json_obj_get(f.source, "kind"), NULL);
        const char *tr = json_str(json_obj_get(f.source, "transport"), NULL);
        copy_trunc(e->src_kind, sizeof(e->src_kind), kind ? kind : "");
        copy_trunc(e->src_transport, sizeof(e->src_transport), tr ? tr : "");
        flags_scan(flags, &e->malformed, &e->truncated);

        if (e->mapped_rc)
                recycle_put(e->mapped_rc, e->mapped);
        else
                free(e->mapped);
        e->mapped = m;
        e->mapped_rc = m_rc;
        json_free(e->rec);
        e->rec = NULL;
        return 0;
}

int wmap_event(const struct rules_pack *p, struct event *e, struct buf *b) {
        return map_one(p, NULL, e, b);
}

void wmap_batch(const struct rules_pack *p, struct recycle *rc, struct event *const *ev,
                size_t n, struct buf *scratch) {
        /* On failure the tree stays: the storing thread maps it itself. */
        for (size_t j = 0; j < n; j++)
                (void)map_one(p, rc, ev[j], scratch);
}

char *wmap_seq_digits(int64_t seq, char num[WMAP_SEQ_DIGITS]) {
        char *q = num + WMAP_SEQ_DIGITS;
        uint64_t u = seq < 0 ? 0 - (uint64_t)seq : (uint64_t)seq;
        do
                *--q = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (seq < 0)
                *--q = '-';
        return q;
}

size_t wmap_splice_to(const struct wmap_rec *m, const char *digits, size_t nl, char *dst) {
        size_t tail = m->len - m->seq_off - 1;
        memcpy(dst, m->data, m->seq_off);
        memcpy(dst + m->seq_off, digits, nl);
        memcpy(dst + m->seq_off + nl, m->data + m->seq_off + 1, tail);
        return m->seq_off + nl + tail;
}

int wmap_splice(const struct wmap_rec *m, int64_t seq, struct buf *out, uint8_t leaf[HASH_LEN]) {
        char num[WMAP_SEQ_DIGITS], *q = wmap_seq_digits(seq, num);
        size_t nl = (size_t)(num + sizeof(num) - q);
        buf_reset(out);
        int r = buf_reserve(out, m->len - 1 + nl);
        if (r < 0)
                return r;
        out->len = wmap_splice_to(m, q, nl, out->data);
        out->data[out->len] = '\0';
        struct hash_sha256_state st = m->leaf_mid;
        hash_sha256_update(&st, out->data + m->seq_off, out->len - m->seq_off);
        hash_sha256_end(&st, leaf);
        return 0;
}

/* ---- the thread ---- */

int wmap_new(struct wmap **ret) {
        struct wmap *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        *ret = m;
        return 0;
}

void wmap_set_rules(struct wmap *m, struct rules_pack *p) {
        if (!m->started) {
                rules_pack_free(m->rules);
                m->rules = p;
                return;
        }
        rules_pack_free(atomic_exchange(&m->rules_next, p));
        queue_kick(m->in); /* take it now, so that the log says when it took effect */
}

/* Takes a reloaded pack, if one waits: between two batches. */
static void rules_take(struct wmap *m) {
        struct rules_pack *next = atomic_exchange(&m->rules_next, NULL);
        if (!next)
                return;
        rules_pack_free(m->rules);
        m->rules = next;
        log_info("rules in force", "pack=%s rules=%zu", rules_pack_hash(next),
                 rules_pack_n_rules(next));
}

/* Puts items on the storing queue in order, waiting while it is full (backpressure). One
 * lock and at most one wakeup of the storing thread per batch (issue 12). Only the mapper
 * closes that queue, so a push never meets a closed queue. */
static void push_out(struct wmap *m, void *const *items, size_t n) {
        struct pollfd pfd = { .fd = queue_space_fd(m->out), .events = POLLIN };
        for (;;) {
                size_t k = 0;
                (void)queue_push_batch(m->out, items, n, &k);
                items += k;
                n -= k;
                if (n == 0)
                        return;
                (void)poll(&pfd, 1, WMAP_FULL_WAIT_MS);
                queue_ack_space(m->out);
        }
}

static void *wmap_thread(void *ud) {
        struct wmap *m = ud;
        struct event **ev = malloc(WRITER_BATCH_MAX * sizeof(*ev));
        struct buf b = BUF_INIT;
        /* Made on this thread, its owner (recycle_get only here). Without it the mapped
         * records are malloc'd, as before (slower, not wrong). */
        struct recycle *rc = NULL;
        /* A name for `top -H` and `perf report --sort comm` (issue 12). */
        (void)pthread_setname_np(pthread_self(), "gl-mapper");
        if (recycle_new(WMAP_REC_BLOCK, WMAP_REC_KEEP, &rc) < 0)
                rc = NULL;
        if (!ev) {
                log_error("writer mapper cannot start", "error=\"%s\"", strerror(ENOMEM));
                abort();
        }
        for (;;) {
                WPROF_MARK(&m->prof, WP_OTHER);
                size_t n = queue_pop_batch(m->in, (void **)ev, WRITER_BATCH_MAX,
                                           WMAP_IDLE_WAIT_US);
                WPROF_MARK(&m->prof, WP_POP);
                WPROF_COUNT(&m->prof, n > 0, n);
                rules_take(m);
                /* The batch goes out in slices, so the storing thread starts on the first
                 * events while the mapper maps the rest (both threads busy on two cores). */
                for (size_t i = 0; i < n;) {
                        size_t k = i + WMAP_PUSH_SLICE < n ? i + WMAP_PUSH_SLICE : n;
                        wmap_batch(m->rules, rc, ev + i, k - i, &b);
                        WPROF_MARK(&m->prof, WP_MAP);
                        push_out(m, (void *const *)(ev + i), k - i);
                        WPROF_MARK(&m->prof, WP_PUSH);
                        i = k;
                }
                if (atomic_exchange(&m->mark_requested, false))
                        push_out(m, &m->mark, 1);
                if (n == 0 && atomic_load(&m->stopping) && queue_depth(m->in) == 0)
                        break;
        }
        WPROF_REPORT(&m->prof, "gl-mapper");
        buf_free(&b);
        free(ev);
        /* Blocks still in events (queued, or on the storing thread) keep it alive. */
        recycle_release(rc);
        queue_close(m->out);
        return NULL;
}

int wmap_start(struct wmap *m, struct queue *in, struct queue *out, void *mark) {
        m->in = in;
        m->out = out;
        m->mark = mark;
        int r = -pthread_create(&m->thread, NULL, wmap_thread, m);
        if (r == 0)
                m->started = true;
        return r;
}

void wmap_request_mark(struct wmap *m) {
        atomic_store(&m->mark_requested, true);
        if (m->in)
                queue_kick(m->in);
}

void wmap_join(struct wmap *m) {
        if (!m->started)
                return;
        atomic_store(&m->stopping, true);
        queue_kick(m->in);
        (void)pthread_join(m->thread, NULL);
        m->started = false;
}

void wmap_free(struct wmap *m) {
        if (!m)
                return;
        wmap_join(m);
        rules_pack_free(m->rules);
        rules_pack_free(atomic_exchange(&m->rules_next, NULL));
        free(m);
}
