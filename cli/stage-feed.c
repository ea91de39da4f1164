/* The stager's feed: committed records from the storing thread to gl-stage (issue 12).
 *
 * Load: every stored record once, on the storing thread (the full path's serial stage):
 * its bytes (~700 B) spliced in once, where the store and the leaf hash then read them, and
 * its criteria; one lock per block (a block holds ~1,300 records of the loadgen mix) and
 * two per transaction. Guarantees: records leave in the order they came, each at most once,
 * with the bytes the store holds, and only once their transaction committed; a record that
 * is dropped raises dropped_through or leaves a hole in the seq order the consumer sees,
 * never both unseen.
 *
 * Blocks: a queue, oldest first; the producer writes past each block's `used` (published
 * under the lock) while the consumer reads below it, so neither copies under the lock. An
 * open transaction's records may fill the end of one block and whole blocks after it (the
 * last one is the producer's); a block with unpublished records is marked `open` under the
 * lock, and neither side takes it back until the publish or the discard. */
#include "cli/stage-feed.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli/writer-map.h"

/* One record in a block: this header, the bytes and a NUL, then the criteria; 8-aligned. */
struct ent {
        int64_t seq, epoch, epoch_first;
        uint32_t size;         /* the whole entry, header included, a multiple of 8 */
        uint32_t len;          /* bytes of data */
        uint32_t n_crit;       /* ENT_CRIT_UNKNOWN: not known */
        uint32_t crit_len;     /* bytes of the criteria strings, NULs included */
        char bytes[];
};
#define ENT_CRIT_UNKNOWN UINT32_MAX
/* The mapper keeps at most 64 criteria (cli/writer-map.c, like the writer's trees): a
 * record with that many may name more, which only its bytes tell. */
#define ENT_CRIT_MAPPED_MAX 64

struct block {
        struct block *next;
        size_t used;           /* bytes published: the consumer reads [read, used) */
        size_t read;           /* the consumer's position */
        size_t wpos;           /* the producer's (only the producer's block moves it) */
        bool claimed;          /* in a consumer's view */
        bool open;             /* holds records of the producer's open transaction */
        _Alignas(8) char data[];
};

struct stage_feed {
        pthread_mutex_t lock;
        size_t block_bytes, max_blocks, n_blocks;
        struct block *head, *tail;  /* the queue; tail is the producer's */
        struct block *spare;        /* read blocks, for the producer to reuse */
        int64_t dropped_through;
        uint64_t fed, dropped;
        /* The producer's open transaction (the producer's alone, no lock): whether it put
         * or skipped anything yet, whether the feed was full for it, its records put, its
         * highest seq not fed and how many. */
        struct {
                bool started, full;
                uint64_t fed, dropped;
                int64_t drop_through;
        } tx;
};

static size_t align8(size_t n) {
        return (n + 7) & ~(size_t)7;
}

int stage_feed_new(size_t block_bytes, size_t max_blocks, struct stage_feed **ret) {
        if (block_bytes < 4096 || max_blocks < 2)
                return -EINVAL;
        struct stage_feed *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        pthread_mutex_init(&f->lock, NULL);
        f->block_bytes = align8(block_bytes);
        f->max_blocks = max_blocks;
        f->dropped_through = INT64_MIN;
        *ret = f;
        return 0;
}

static void blocks_free(struct block *b) {
        while (b) {
                struct block *n = b->next;
                free(b);
                b = n;
        }
}

void stage_feed_free(struct stage_feed *f) {
        if (!f)
                return;
        blocks_free(f->head);
        blocks_free(f->spare);
        pthread_mutex_destroy(&f->lock);
        free(f);
}

static void drop_seq(struct stage_feed *f, int64_t seq, uint64_t n) {
        if (seq > f->dropped_through)
                f->dropped_through = seq;
        f->dropped += n;
}

/* Under the lock: a block for the producer to write into, appended to the queue: a spare
 * one, one the consumer has read to its end, or a new one while fewer than max_blocks
 * exist. NULL when every block holds unread records: the producer then drops what it has
 * left (the newest records, without touching them: the consumer is behind and reads them
 * from the store anyway). */
static struct block *block_next(struct stage_feed *f) {
        struct block *b = f->spare;
        if (b) {
                f->spare = b->next;
        } else {
                struct block **pp = &f->head;
                while (*pp && ((*pp)->claimed || (*pp)->open || *pp == f->tail ||
                               (*pp)->read < (*pp)->used))
                        pp = &(*pp)->next;
                if (*pp) {
                        b = *pp;
                        *pp = b->next;
                } else if (f->n_blocks < f->max_blocks) {
                        b = malloc(sizeof(*b) + f->block_bytes);
                        if (b)
                                f->n_blocks++;
                }
        }
        if (!b)
                return NULL;
        b->next = NULL;
        b->used = b->read = b->wpos = 0;
        b->claimed = false;
        b->open = false;
        if (f->tail)
                f->tail->next = b;
        else
                f->head = b;
        f->tail = b;
        return b;
}

/* The first put or skip of a transaction. The producer's block, read to its end and in
 * no view, starts over. */
static void tx_start(struct stage_feed *f) {
        pthread_mutex_lock(&f->lock);
        struct block *b = f->tail;
        if (b && !b->claimed && b->read == b->used && b->used == b->wpos)
                b->used = b->read = b->wpos = 0;
        pthread_mutex_unlock(&f->lock);
        f->tx.started = true;
}

static void tx_drop(struct stage_feed *f, int64_t seq) {
        f->tx.drop_through = seq;
        f->tx.dropped++;
}

const char *stage_feed_put(struct stage_feed *f, int64_t epoch, int64_t epoch_first,
                           int64_t seq, const struct wmap_rec *m, const char *digits,
                           size_t nl, size_t *ret_len) {
        if (!f->tx.started)
                tx_start(f);
        /* The ids end where the flags begin (cli/writer-map.c's layout). */
        size_t cl = m->n_crit < ENT_CRIT_MAPPED_MAX ? (size_t)(m->flags - m->crit) : 0;
        /* the bytes: m->len with the "0" at seq_off replaced by the number */
        size_t size = align8(sizeof(struct ent) + m->len - 1 + nl + 1 + cl);
        struct block *b = f->tail;
        if (f->tx.full || size > f->block_bytes) {
                tx_drop(f, seq);
                return NULL;
        }
        if (!b || b->wpos + size > f->block_bytes) {
                pthread_mutex_lock(&f->lock);
                if (b && b->wpos != b->used)
                        b->open = true;  /* its records wait for the publish */
                b = block_next(f);
                pthread_mutex_unlock(&f->lock);
                if (!b) {  /* full: the rest of the transaction is dropped unread */
                        f->tx.full = true;
                        tx_drop(f, seq);
                        return NULL;
                }
        }
        struct ent *en = (struct ent *)(b->data + b->wpos);
        en->seq = seq;
        en->epoch = epoch;
        en->epoch_first = epoch_first;
        en->size = (uint32_t)size;
        en->len = (uint32_t)wmap_splice_to(m, digits, nl, en->bytes);
        en->n_crit = m->n_crit < ENT_CRIT_MAPPED_MAX ? (uint32_t)m->n_crit : ENT_CRIT_UNKNOWN;
        en->crit_len = (uint32_t)cl;
        char *w = en->bytes;
        w[en->len] = '\0';
        if (cl)
                memcpy(w + en->len + 1, m->crit, cl);
        b->wpos += size;
        f->tx.fed++;
        *ret_len = en->len;
        return w;
}

void stage_feed_skip(struct stage_feed *f, int64_t seq) {
        if (!f->tx.started)
                tx_start(f);
        tx_drop(f, seq);
}

/* Ends the transaction: publish, its records to the consumer (each block's up to the
 * producer's position) and its drops counted; else its records forgotten (each block back
 * to what was published). */
static void tx_end(struct stage_feed *f, bool publish) {
        if (!f->tx.started)
                return;
        pthread_mutex_lock(&f->lock);
        for (struct block *b = f->head; b; b = b->next) {
                if (publish)
                        b->used = b->wpos;
                else
                        b->wpos = b->used;
                b->open = false;
        }
        if (publish) {
                f->fed += f->tx.fed;
                if (f->tx.dropped)
                        drop_seq(f, f->tx.drop_through, f->tx.dropped);
        }
        pthread_mutex_unlock(&f->lock);
        memset(&f->tx, 0, sizeof(f->tx));
}

void stage_feed_publish(struct stage_feed *f) {
        tx_end(f, true);
}

void stage_feed_discard(struct stage_feed *f) {
        tx_end(f, false);
}

bool stage_feed_peek(struct stage_feed *f, struct stage_feed_view *v) {
        bool any = false;
        pthread_mutex_lock(&f->lock);
        for (struct block *b = f->head; b; b = b->next) {
                if (b->read < b->used) {
                        b->claimed = true;
                        v->block = b;
                        v->at = b->data + b->read;
                        v->end = b->data + b->used;
                        any = true;
                        break;
                }
        }
        pthread_mutex_unlock(&f->lock);
        return any;
}

static void ent_rec(const struct ent *en, struct stage_feed_rec *r) {
        r->seq = en->seq;
        r->epoch = en->epoch;
        r->epoch_first = en->epoch_first;
        r->data = en->bytes;
        r->len = en->len;
        r->crit = en->n_crit == ENT_CRIT_UNKNOWN ? NULL : en->bytes + en->len + 1;
        r->n_crit = en->n_crit == ENT_CRIT_UNKNOWN ? 0 : en->n_crit;
}

bool stage_feed_next(struct stage_feed_view *v, struct stage_feed_rec *r, const char **pos) {
        if (v->at >= v->end)
                return false;
        const struct ent *en = (const struct ent *)v->at;
        if (pos)
                *pos = v->at;
        ent_rec(en, r);
        v->at += en->size;
        return true;
}

void stage_feed_release(struct stage_feed *f, struct stage_feed_view *v, const char *upto) {
        struct block *b = v->block;
        if (!b)
                return;
        pthread_mutex_lock(&f->lock);
        b->claimed = false;
        size_t at = (size_t)(upto - b->data);
        if (at > b->read)
                b->read = at;
        /* Read to its end and not the producer's: back to the producer as a spare. */
        if (b->read == b->used && b != f->tail && !b->open) {
                struct block **pp = &f->head;
                while (*pp && *pp != b)
                        pp = &(*pp)->next;
                if (*pp) {
                        *pp = b->next;
                        b->next = f->spare;
                        f->spare = b;
                }
        }
        pthread_mutex_unlock(&f->lock);
        v->block = NULL;
}

int64_t stage_feed_dropped_through(struct stage_feed *f) {
        pthread_mutex_lock(&f->lock);
        int64_t d = f->dropped_through;
        pthread_mutex_unlock(&f->lock);
        return d;
}

void stage_feed_stats(struct stage_feed *f, struct stage_feed_stats *ret) {
        pthread_mutex_lock(&f->lock);
        ret->fed = f->fed;
        ret->dropped = f->dropped;
        ret->blocks = f->n_blocks;
        pthread_mutex_unlock(&f->lock);
}

int stage_feed_buf_put(struct buf *b, const struct stage_feed_rec *r) {
        size_t cl = 0;
        if (r->crit) {
                const char *s = r->crit;
                for (size_t j = 0; j < r->n_crit; j++)
                        s += strlen(s) + 1;
                cl = (size_t)(s - r->crit);
        }
        size_t size = align8(sizeof(struct ent) + r->len + 1 + cl);
        if (r->len > UINT32_MAX - 64 || size > UINT32_MAX)
                return -E2BIG;
        int ret = buf_reserve(b, size);
        if (ret < 0)
                return ret;
        struct ent en = {
                .seq = r->seq, .epoch = r->epoch, .epoch_first = r->epoch_first,
                .size = (uint32_t)size, .len = (uint32_t)r->len,
                .n_crit = r->crit ? (uint32_t)r->n_crit : ENT_CRIT_UNKNOWN,
                .crit_len = (uint32_t)cl,
        };
        char *w = b->data + b->len;
        memcpy(w, &en, sizeof(en));
        memcpy(w + sizeof(en), r->data, r->len);
        w[sizeof(en) + r->len] = '\0';
        if (cl)
                memcpy(w + sizeof(en) + r->len + 1, r->crit, cl);
        memset(w + sizeof(en) + r->len + 1 + cl, 0, size - sizeof(en) - r->len - 1 - cl);
        b->len += size;
        return 0;
}

void stage_feed_view_of(struct stage_feed_view *v, const struct buf *b) {
        v->block = NULL;
        v->at = b->data;
        v->end = b->data ? b->data + b->len : NULL;
}
