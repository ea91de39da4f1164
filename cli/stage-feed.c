/* The stager's feed: committed records from the storing thread to gl-stage (issue 12).
 *
 * Load: every stored record once, on the storing thread (the full path's serial stage):
 * one copy of its bytes (~700 B) and criteria, one lock per block (a block holds ~1,300
 * records of the loadgen mix). Guarantees: records leave in the order they came, each at
 * most once, with the bytes the store holds; a record that is dropped raises
 * dropped_through or leaves a hole in the seq order the consumer sees, never both unseen.
 *
 * Blocks: a queue, oldest first; the last one is the producer's, which writes past `used`
 * (published under the lock) while the consumer reads below it, so neither copies under
 * the lock. */
#include "cli/stage-feed.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli/writer-map.h"
#include "core/prefetch.h"

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
        int64_t last_seq;      /* of the last record published */
        bool claimed;          /* in a consumer's view */
        _Alignas(8) char data[];
};

struct stage_feed {
        pthread_mutex_t lock;
        size_t block_bytes, max_blocks, n_blocks;
        struct block *head, *tail;  /* the queue; tail is the producer's */
        struct block *spare;        /* read blocks, for the producer to reuse */
        int64_t dropped_through;
        uint64_t fed, dropped;
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
                while (*pp && ((*pp)->claimed || *pp == f->tail || (*pp)->read < (*pp)->used))
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
        b->last_seq = INT64_MIN;
        b->claimed = false;
        if (f->tail)
                f->tail->next = b;
        else
                f->head = b;
        f->tail = b;
        return b;
}

/* Publishes what the producer wrote into its block since the last call. */
static void publish(struct block *b, int64_t last_seq) {
        if (b && b->wpos != b->used) {
                b->used = b->wpos;
                b->last_seq = last_seq;
        }
}

/* The events and their mapped records were last touched before the batch's SQLite work,
 * which has pushed them out of the cache: ask for the ones a few events ahead (as the
 * storing thread's prefetch_event does) while this one is copied. */
static inline void prefetch_ahead(struct event *const *ev, size_t i, size_t n) {
        if (i + 4 < n)
                prefetch(ev[i + 4]);
        if (i + 2 < n && ev[i + 2]->mapped)
                prefetch(ev[i + 2]->mapped);
        if (i + 1 < n && ev[i + 1]->mapped) {
                const struct wmap_rec *m = ev[i + 1]->mapped;
                prefetch(m->data);
                prefetch(m->crit);
        }
}

/* The decimal text of the next seq in place: the digits [digits, end) of a seq >= 0
 * (wmap_seq_digits' text, room before it) become those of seq + 1; a carry past the first
 * digit adds a '1' in front. The records of a batch have consecutive seqs: a few
 * instructions instead of a division loop per record on the storing thread (issue 12,
 * round 9). */
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

void stage_feed_push(struct stage_feed *f, int64_t epoch, int64_t epoch_first,
                     int64_t first_seq, struct event *const *ev, size_t n, size_t n_records) {
        struct block *b = NULL;
        int64_t seq = first_seq, last = INT64_MIN;
        uint64_t fed = 0;
        /* the digits of num_seq, at num's end */
        char num[WMAP_SEQ_DIGITS], *digits = NULL;
        int64_t num_seq = INT64_MIN;

        if (!n_records)
                return;
        pthread_mutex_lock(&f->lock);
        b = f->tail;
        /* The producer's block read to its end and not in a view: start it over. */
        if (b && !b->claimed && b->read == b->used && b->used == b->wpos)
                b->used = b->read = b->wpos = 0;
        bool locked = true;
        for (size_t i = 0; i < n; i++) {
                prefetch_ahead(ev, i, n);
                const struct event *e = ev[i];
                if (!event_has_record(e))
                        continue;
                const struct wmap_rec *m = e->mapped;
                size_t nl = 0, cl = 0, size = 0;
                if (m) {
                        if (num_seq >= 0 && num_seq == seq - 1) {
                                digits = seq_digits_next(digits, num + sizeof(num));
                        } else {
                                digits = wmap_seq_digits(seq, num);
                        }
                        num_seq = seq;
                        nl = (size_t)(num + sizeof(num) - digits);
                        /* The ids end where the flags begin (cli/writer-map.c's layout). */
                        cl = m->n_crit < ENT_CRIT_MAPPED_MAX ? (size_t)(m->flags - m->crit) : 0;
                        /* the bytes: m->len with the "0" at seq_off replaced by the number */
                        size = align8(sizeof(struct ent) + m->len - 1 + nl + 1 + cl);
                }
                if (!m || size > f->block_bytes) {
                        if (!locked) {
                                pthread_mutex_lock(&f->lock);
                                locked = true;
                        }
                        drop_seq(f, seq, 1);
                        seq++;
                        continue;
                }
                if (!b || b->wpos + size > f->block_bytes) {
                        if (!locked) {
                                pthread_mutex_lock(&f->lock);
                                locked = true;
                        }
                        publish(b, last);
                        b = block_next(f);
                        if (!b) {  /* full: the rest of the batch is dropped unread */
                                int64_t end = first_seq + (int64_t)n_records - 1;
                                drop_seq(f, end, (uint64_t)(end - seq + 1));
                                break;
                        }
                }
                if (locked) {  /* the copy runs unlocked */
                        pthread_mutex_unlock(&f->lock);
                        locked = false;
                }
                struct ent *en = (struct ent *)(b->data + b->wpos);
                en->seq = seq;
                en->epoch = epoch;
                en->epoch_first = epoch_first;
                en->size = (uint32_t)size;
                en->len = (uint32_t)wmap_splice_to(m, digits, nl, en->bytes);
                en->n_crit = m->n_crit < ENT_CRIT_MAPPED_MAX ? (uint32_t)m->n_crit
                                                              : ENT_CRIT_UNKNOWN;
                en->crit_len = (uint32_t)cl;
                char *w = en->bytes;
                w[en->len] = '\0';
                if (cl)
                        memcpy(w + en->len + 1, m->crit, cl);
                b->wpos += size;
                last = seq;
                seq++;
                fed++;
        }
        if (!locked)
                pthread_mutex_lock(&f->lock);
        publish(b, last);
        f->fed += fed;
        pthread_mutex_unlock(&f->lock);
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
        if (b->read == b->used && b != f->tail) {
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
