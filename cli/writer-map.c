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
#include <stddef.h>
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

/* What map_one carries from one record to the next of a batch (performance, canon10):
 * where the members it reads sat in the last record (json_obj_pick's hints: a syslog
 * record's "host" is member 8 every time), and the day of the last "time" it parsed. */
struct map_ctx {
        uint32_t rec_hints[7], src_hints[2];
        uint32_t seq_hint;  /* where "seq" went among the last record's members */
        char day[10];       /* "YYYY-MM-DD" of day_us; day_us valid when day[0] is set */
        int64_t day_us;
        const char *pack_hash; /* rules_pack_hash of the batch's pack, and its length */
        size_t pack_hash_len;
        bool over;          /* the last record's bytes did not fit a block */
};

/* What the store and the counters read of a record, in RFC 8785 order. */
enum { F_APP, F_CRITERIA, F_FLAGS, F_HOST, F_RULE, F_SOURCE, F_TIME, F__N };
static const struct json_key rec_keys[F__N] = {
        JSON_KEY("app"), JSON_KEY("criteria"), JSON_KEY("flags"), JSON_KEY("host"),
        JSON_KEY("rule"), JSON_KEY("source"), JSON_KEY("time"),
};
static const struct json_key src_keys[2] = { JSON_KEY("kind"), JSON_KEY("transport") };
static const struct json_key seq_key = JSON_KEY("seq");

static void map_ctx_init(struct map_ctx *c, const struct rules_pack *p) {
        memset(c, 0, sizeof(*c));
        c->seq_hint = UINT32_MAX;
        c->pack_hash = p ? rules_pack_hash(p) : "";
        c->pack_hash_len = strlen(c->pack_hash);
}

/* "THH:MM:SS.ffffffZ" (17 bytes: the form tm_format_rfc3339 writes after the date) as
 * microseconds into the day, with tm_parse_rfc3339's checks; false for anything else. */
static bool time_of_day(const char *s, int64_t *ret_us) {
        unsigned v[10];
        static const unsigned char at[10] = { 1, 2, 4, 5, 7, 8, 10, 11, 12, 13 };
        int64_t frac = 0;

        if (s[0] != 'T' || s[3] != ':' || s[6] != ':' || s[9] != '.' || s[16] != 'Z')
                return false;
        for (size_t k = 0; k < 10; k++) {
                v[k] = (unsigned)(unsigned char)s[at[k]] - '0';
                if (v[k] > 9)
                        return false;
        }
        if ((unsigned)(unsigned char)s[14] - '0' > 9 || (unsigned)(unsigned char)s[15] - '0' > 9)
                return false;
        unsigned h = v[0] * 10 + v[1], mi = v[2] * 10 + v[3], se = v[4] * 10 + v[5];
        if (h > 23 || mi > 59 || se > 59)
                return false;
        frac = ((((int64_t)v[6] * 10 + v[7]) * 10 + v[8]) * 10 + v[9]) * 100 +
               (s[14] - '0') * 10 + (s[15] - '0');
        *ret_us = ((int64_t)h * 3600 + mi * 60 + se) * TM_USEC_PER_SEC + frac;
        return true;
}

/* tm_parse_rfc3339(s, n, 0, ret_us) of a record's "time" (performance, canon10: ~310
 * instructions a record, most of them the date): a time in the form the normalizer writes,
 * on the day of the last one parsed, is that day plus its time of day. Same answers. */
static int time_parse(struct map_ctx *c, const char *s, size_t n, int64_t *ret_us) {
        int64_t tod, us;

        if (n == 27 && c->day[0] && !memcmp(s, c->day, 10) && time_of_day(s + 10, &tod)) {
                *ret_us = c->day_us + tod;
                return 0;
        }
        int r = tm_parse_rfc3339(s, n, 0, &us);
        if (r < 0)
                return r;
        if (n == 27 && time_of_day(s + 10, &tod)) {
                memcpy(c->day, s, 10);
                c->day_us = us - tod;
        }
        *ret_us = us;
        return 0;
}

/* The string members of arr (at most max): their count, and their bytes with a NUL each
 * into *ret_bytes. Tree strings hold no NUL (core/json.h), so each is the C string the
 * store and the counters always took. */
static size_t list_bytes(const json *arr, size_t max, size_t *ret_bytes) {
        size_t n = 0, k = 0, len = json_len(arr), l;
        for (size_t i = 0; i < len && k < max; i++)
                if (json_str(json_arr_at(arr, i), &l)) {
                        n += l + 1;
                        k++;
                }
        *ret_bytes = n;
        return k;
}

/* Appends the first k string members of arr to the list at *w. */
static void put_list(const json *arr, size_t k, char **w) {
        size_t l;
        for (size_t i = 0; k > 0; i++) {
                const char *s = json_str(json_arr_at(arr, i), &l);
                if (!s)
                        continue;
                memcpy(*w, s, l + 1);
                *w += l + 1;
                k--;
        }
}

/* Sets *malformed and *truncated from the record's flags list (n strings). */
static void flags_scan(const char *s, size_t n, bool *malformed, bool *truncated) {
        *malformed = *truncated = false;
        for (; n > 0; n--, s = wmap_next(s)) {
                if (!strcmp(s, "malformed"))
                        *malformed = true;
                else if (!strcmp(s, "truncated"))
                        *truncated = true;
        }
}

/* snprintf(dst, cap, "%s", s) of s's n bytes without the format engine or a strlen
 * (performance, issue 12). */
static void copy_n(char *dst, size_t cap, const char *s, size_t n) {
        if (n >= cap)
                n = cap - 1;
        memcpy(dst, s, n);
        dst[n] = '\0';
}

/* Applies the pack; a drop rule's record is freed and the rule named. */
static void map_rules(const struct rules_pack *p, struct event *e, const struct map_ctx *c) {
        enum rules_verdict v = RULES_KEEP;
        const char *id = NULL;
        /* -ENOMEM leaves a partly mapped record: stored as it is, not lost. */
        (void)rules_apply(p, e->rec, &v, &id);
        copy_n(e->rules_pack, sizeof(e->rules_pack), c->pack_hash, c->pack_hash_len);
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

/* wmap_event with the mapped block taken from rc when it fits (rc NULL: malloc). */
static int map_one(const struct rules_pack *p, struct recycle *rc, struct event *e,
                   struct buf *b, struct map_ctx *c) {
        if (!e->rec)
                return 0;
        if (p) {
                map_rules(p, e, c);
                if (!e->rec)
                        return 0;
        }
        json *rec = e->rec;
        size_t off = 0, len;
        /* The bytes the tree would have with "seq":0, and where that 0 is (issue 12; its place
         * among the members tried first where it was in the last record, mapper11),
         * written straight into a block of rc when they fit there (canon10: no copy of the
         * ~700 bytes from a scratch buffer); else into b. After a record that did not fit,
         * b first: records of one source have similar sizes, and one that does not fit is
         * written twice (padded to 1,000 bytes, every record: +40 % canon instructions). */
        struct wmap_rec *blk = rc && !c->over ? recycle_get(rc) : NULL;
        const char *bytes;
        int r = -E2BIG;
        if (blk) {
                size_t room = recycle_block_size(rc) - offsetof(struct wmap_rec, data);
                /* alloc = max + 1: the cap stops every write before a realloc would. */
                struct buf in_blk = { .data = blk->data, .alloc = room, .max = room - 1 };
                r = json_canon_with_int_at(rec, &seq_key, 0, &in_blk, &off, &c->seq_hint);
                len = in_blk.len;
                bytes = blk->data;
                if (r < 0) {
                        recycle_put(rc, blk);
                        blk = NULL;
                }
        }
        if (r == -E2BIG) {
                buf_reset(b);
                r = json_canon_with_int_at(rec, &seq_key, 0, b, &off, &c->seq_hint);
                len = b->len;
                bytes = b->data;
                /* the next record tries a block again once one would have fitted */
                c->over = rc && len >= recycle_block_size(rc) - offsetof(struct wmap_rec, data);
                if (r == 0 && rc && !c->over && (blk = recycle_get(rc)) == NULL)
                        c->over = true; /* out of memory: malloc below, as before */
        }
        if (r == 0 && (off >= len || bytes[off] != '0'))
                r = -EBADMSG;
        if (r < 0) {
                if (blk)
                        recycle_put(rc, blk);
                return r;
        }

        const json *f[F__N], *sv[2] = { NULL, NULL };
        json_obj_pick(rec, rec_keys, c->rec_hints, F__N, f);
        size_t hl = 0, al = 0, rl = 0, cb, fb;
        const char *host = json_str(f[F_HOST], &hl);
        const char *rule = json_str(f[F_RULE], &rl);
        const char *app = NULL;
        if (rule && rl == 8 && !memcmp(rule, "unmapped", 9)) {
                app = json_str(f[F_APP], &al);
                if (!app) {
                        app = "-";
                        al = 1;
                }
        }
        const json *crit = f[F_CRITERIA], *flags = f[F_FLAGS];
        size_t n_crit = list_bytes(crit, WMAP_MAX_CRIT, &cb);
        size_t n_flags = list_bytes(flags, SIZE_MAX, &fb);
        size_t need = sizeof(struct wmap_rec) + len + 1 + (host ? hl + 1 : 0) +
                      (app ? al + 1 : 0) + cb + fb;
        struct recycle *m_rc = blk && need <= recycle_block_size(rc) ? rc : NULL;
        struct wmap_rec *m = m_rc ? blk : malloc(need);
        if (!m) {
                if (blk)
                        recycle_put(rc, blk);
                return -ENOMEM;
        }
        if (bytes != m->data) /* the bytes from b, or from a block too small for the rest */
                memcpy(m->data, bytes, len + 1);
        if (blk && m != blk)
                recycle_put(rc, blk);
        m->len = len;
        m->seq_off = off;
        /* The leaf's prefix (RFC 6962: 0x00, as merkle_leaf_hash) and the bytes before seq:
         * most of the record, since "seq" sorts after "message" and "raw_sha256". */
        static const uint8_t leaf_prefix = 0x00;
        hash_sha256_begin(&m->leaf_mid);
        hash_sha256_update(&m->leaf_mid, &leaf_prefix, 1);
        hash_sha256_update(&m->leaf_mid, m->data, m->seq_off);
        m->time_us = e->received_us;
        size_t tl;
        const char *ts = json_str(f[F_TIME], &tl);
        if (ts)
                (void)time_parse(c, ts, tl, &m->time_us);
        char *w = m->data + len + 1;
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
        m->n_crit = n_crit;
        put_list(crit, n_crit, &w);
        m->flags = w;
        m->n_flags = n_flags;
        put_list(flags, n_flags, &w);

        /* What metrics read once the tree is gone. */
        size_t kl = 0, trl = 0;
        json_obj_pick(f[F_SOURCE], src_keys, c->src_hints, 2, sv);
        const char *kind = json_str(sv[0], &kl), *tr = json_str(sv[1], &trl);
        copy_n(e->src_kind, sizeof(e->src_kind), kind ? kind : "", kl);
        copy_n(e->src_transport, sizeof(e->src_transport), tr ? tr : "", trl);
        flags_scan(m->flags, n_flags, &e->malformed, &e->truncated);

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
        struct map_ctx c;
        map_ctx_init(&c, p);
        return map_one(p, NULL, e, b, &c);
}

void wmap_batch(const struct rules_pack *p, struct recycle *rc, struct event *const *ev,
                size_t n, struct buf *scratch) {
        struct map_ctx c;
        map_ctx_init(&c, p);
        /* On failure the tree stays: the storing thread maps it itself. */
        for (size_t j = 0; j < n; j++)
                (void)map_one(p, rc, ev[j], scratch, &c);
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

/* The decimal text of the next seq in place: the digits [digits, end) of a seq >= 0
 * (wmap_seq_digits' text, room before it) become those of seq + 1; a carry past the first
 * digit adds a '1' in front. */
static char *seq_digits_next(char *digits, char *end) {
        char *q = end;
        while (q > digits && q[-1] == '9')
                *--q = '0';
        if (q == digits) {
                *--digits = '1';
                return digits;
        }
        q[-1]++;
        return digits;
}

size_t wmap_seq_text(struct wmap_seq_text *t, int64_t seq, const char **ret_digits) {
        char *end = t->num + sizeof(t->num);
        if (t->seq >= 0 && t->seq == seq - 1)
                t->digits = seq_digits_next(t->digits, end);
        else
                t->digits = wmap_seq_digits(seq, t->num);
        t->seq = seq;
        *ret_digits = t->digits;
        return (size_t)(end - t->digits);
}

size_t wmap_splice_to(const struct wmap_rec *m, const char *digits, size_t nl, char *dst) {
        size_t tail = m->len - m->seq_off - 1;
        memcpy(dst, m->data, m->seq_off);
        memcpy(dst + m->seq_off, digits, nl);
        memcpy(dst + m->seq_off + nl, m->data + m->seq_off + 1, tail);
        return m->seq_off + nl + tail;
}

int wmap_splice_buf(const struct wmap_rec *m, const char *digits, size_t nl, struct buf *out) {
        buf_reset(out);
        int r = buf_reserve(out, m->len - 1 + nl);
        if (r < 0)
                return r;
        out->len = wmap_splice_to(m, digits, nl, out->data);
        out->data[out->len] = '\0';
        return 0;
}

void wmap_leaf(const struct wmap_rec *m, const char *data, size_t len, uint8_t leaf[HASH_LEN]) {
        struct hash_sha256_state st = m->leaf_mid;
        hash_sha256_update(&st, data + m->seq_off, len - m->seq_off);
        hash_sha256_end(&st, leaf);
}

int wmap_splice(const struct wmap_rec *m, int64_t seq, struct buf *out, uint8_t leaf[HASH_LEN]) {
        char num[WMAP_SEQ_DIGITS], *q = wmap_seq_digits(seq, num);
        int r = wmap_splice_buf(m, q, (size_t)(num + sizeof(num) - q), out);
        if (r >= 0)
                wmap_leaf(m, out->data, out->len, leaf);
        return r;
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
