/* Blocks of one size recycled between threads (see recycle.h).
 *
 * Idle blocks sit on two sides: `shared`, a lock-free stack that any thread pushes to, and
 * the owner's private lists. recycle_get takes the whole of `shared` with one exchange
 * when its own lists are empty, and also every RECYCLE_PEEK gets when `shared` holds
 * anything. Only exchanges ever remove from `shared`, so the stack has no ABA problem.
 * `n_idle` counts the idle blocks (the owner's pops are subtracted 64 at a time, so it may
 * count up to 64 too many): a block put while keep_max are idle is freed instead (after a
 * burst), and no list is ever walked (each step would be a cache miss on a block last
 * written by another core).
 *
 * Most recently freed first (performance, issue 12, round 8): each list taken from
 * `shared` goes on top of the owner's, and the list it covers is kept whole underneath as
 * a segment (up to RECYCLE_SEGS of them; with all in use, a short list is joined onto the
 * newest segment, a long one used up first). So a block comes back into use soon after it was freed, while its
 * lines are still in a cache, and the idle blocks a burst left behind stay untouched at the
 * bottom. Before, the owner used up the whole list it had taken (as many blocks as were
 * ever idle at once) before looking at the ones freed since: every block went round, and
 * each came back cold (journald7: ~56 first-level write misses per journal entry into its
 * 8 KiB record block).
 *
 * Lifetime: `refs` counts the owner (1), every block handed out and not yet back, and a
 * credit the owner takes 64 at a time (so that recycle_get seldom touches the shared cache
 * line). Whoever drops refs to zero (a putter, or the owner at release) frees it all. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/recycle.h"

struct idle {
        struct idle *next;
};

/* References the owner takes at once (see the top of the file). */
#define RECYCLE_CREDIT 64
/* Gets between two looks at `shared` while the owner has blocks: a look reads the cache
 * line every putter writes, so not at every get; a block freed is handed out again within
 * about this many gets (plus what was freed after it). */
#define RECYCLE_PEEK 16
/* Older lists kept under the owner's current one (see the top of the file). */
#define RECYCLE_SEGS 16
/* Longest list walked to join it onto a segment (take_shared). */
#define RECYCLE_JOIN_MAX 32

struct recycle {
        size_t block_size, keep_max;
        /* Owner thread only. */
        struct idle *own;        /* the list blocks are taken from */
        struct idle *seg[RECYCLE_SEGS]; /* lists under it, the newest last */
        unsigned n_seg, since_peek;
        uint64_t credit;
        size_t popped;           /* pops not yet subtracted from n_idle */
        /* Shared: written by every putter. */
        _Alignas(64) _Atomic(struct idle *) shared;
        _Atomic size_t n_idle;
        _Atomic uint64_t refs;
};

int recycle_new(size_t block_size, size_t keep_max, struct recycle **ret)
{
        struct recycle *r;

        if (block_size < sizeof(struct idle))
                return -EINVAL;
        r = aligned_alloc(64, (sizeof(*r) + 63) & ~(size_t)63);
        if (!r)
                return -ENOMEM;
        r->block_size = block_size;
        r->keep_max = keep_max;
        r->own = NULL;
        r->n_seg = r->since_peek = 0;
        r->credit = 0;
        r->popped = 0;
        atomic_init(&r->shared, NULL);
        atomic_init(&r->n_idle, 0);
        atomic_init(&r->refs, 1);
        *ret = r;
        return 0;
}

size_t recycle_block_size(const struct recycle *r)
{
        return r->block_size;
}

static void free_list(struct idle *b)
{
        for (struct idle *next; b; b = next) {
                next = b->next;
                free(b);
        }
}

static void unref(struct recycle *r, uint64_t k)
{
        if (atomic_fetch_sub_explicit(&r->refs, k, memory_order_acq_rel) == k) {
                free_list(r->own);
                for (unsigned i = 0; i < r->n_seg; i++)
                        free_list(r->seg[i]);
                free_list(atomic_exchange_explicit(&r->shared, NULL, memory_order_acquire));
                free(r);
        }
}

/* Puts what other threads gave back on top of the owner's lists (most recently freed
 * first); the list it covers becomes a segment. With every segment slot in use, the list
 * it covers is joined onto the newest segment when it is short (the remnant of a list
 * taken a few gets ago, whose blocks are the next to use anyway); a long one is used up
 * first. */
static void take_shared(struct recycle *r)
{
        struct idle *t, *tail;
        unsigned k = 0;

        if (r->own && r->n_seg == RECYCLE_SEGS) {
                for (tail = r->own; tail->next && ++k < RECYCLE_JOIN_MAX;)
                        tail = tail->next;
                if (tail->next)
                        return;
                tail->next = r->seg[r->n_seg - 1];
                r->seg[r->n_seg - 1] = r->own;
                r->own = NULL;
        }
        t = atomic_exchange_explicit(&r->shared, NULL, memory_order_acquire);
        if (!t)
                return;
        if (r->own)
                r->seg[r->n_seg++] = r->own;
        r->own = t;
}

void *recycle_get(struct recycle *r)
{
        struct idle *b;

        if (!r->own || ++r->since_peek >= RECYCLE_PEEK) {
                r->since_peek = 0;
                /* A relaxed look first: the exchange would take the line for writing. */
                if (atomic_load_explicit(&r->shared, memory_order_relaxed))
                        take_shared(r);
                if (!r->own && r->n_seg > 0)
                        r->own = r->seg[--r->n_seg];
        }
        b = r->own;
        if (b) {
                r->own = b->next;
                /* The block was last written on another core: fetch the next one early. */
                if (r->own)
                        __builtin_prefetch(r->own);
                if (++r->popped == RECYCLE_CREDIT) {
                        atomic_fetch_sub_explicit(&r->n_idle, r->popped, memory_order_relaxed);
                        r->popped = 0;
                }
        } else {
                b = malloc(r->block_size);
                if (!b)
                        return NULL;
        }
        if (r->credit == 0) {
                atomic_fetch_add_explicit(&r->refs, RECYCLE_CREDIT, memory_order_relaxed);
                r->credit = RECYCLE_CREDIT;
        }
        r->credit--;
        return b;
}

void recycle_put(struct recycle *r, void *block)
{
        struct idle *b = block;
        struct idle *head;

        if (atomic_fetch_add_explicit(&r->n_idle, 1, memory_order_relaxed) >= r->keep_max) {
                atomic_fetch_sub_explicit(&r->n_idle, 1, memory_order_relaxed);
                free(block);
                unref(r, 1);
                return;
        }
        head = atomic_load_explicit(&r->shared, memory_order_relaxed);
        do
                b->next = head;
        while (!atomic_compare_exchange_weak_explicit(&r->shared, &head, b, memory_order_release,
                                                      memory_order_relaxed));
        unref(r, 1);
}

void recycle_put_many(struct recycle *r, void *const *blocks, size_t n)
{
        size_t idle, keep, i;
        struct idle *first, *last, *head;

        if (n == 0)
                return;
        /* Room for how many: the others are freed, as recycle_put frees one past keep_max. */
        idle = atomic_fetch_add_explicit(&r->n_idle, n, memory_order_relaxed);
        keep = idle >= r->keep_max ? 0 : r->keep_max - idle;
        if (keep > n)
                keep = n;
        if (keep < n) {
                atomic_fetch_sub_explicit(&r->n_idle, n - keep, memory_order_relaxed);
                for (i = keep; i < n; i++)
                        free(blocks[i]);
        }
        if (keep > 0) {
                /* Linked here, pushed with one compare-and-swap; the last on top, as keep
                 * recycle_put calls in order would leave them. */
                first = last = blocks[keep - 1];
                for (i = keep - 1; i-- > 0;) {
                        last->next = blocks[i];
                        last = blocks[i];
                }
                head = atomic_load_explicit(&r->shared, memory_order_relaxed);
                do
                        last->next = head;
                while (!atomic_compare_exchange_weak_explicit(&r->shared, &head, first,
                                                              memory_order_release,
                                                              memory_order_relaxed));
        }
        unref(r, n);
}

void recycle_forget(struct recycle *r)
{
        unref(r, 1);
}

void recycle_release(struct recycle *r)
{
        if (r)
                unref(r, r->credit + 1);
}
