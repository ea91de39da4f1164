/* Tests for core/recycle.c and its users (json_new_obj_recycled, event_new_recycled): blocks
 * come back for reuse, the idle cache is bounded, the recycler outlives its owner until the
 * last block is back, and blocks cross threads. Leaks, double frees and uses after free are
 * what the ASan and Valgrind builds of this test catch. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/event.h"
#include "core/json.h"
#include "core/queue.h"
#include "core/recycle.h"

static void test_reuse(void **state)
{
        struct recycle *r;
        void *a, *b, *c;

        assert_int_equal(recycle_new(2, 4, &r), -EINVAL); /* smaller than a pointer */
        assert_int_equal(recycle_new(64, 4, &r), 0);
        assert_int_equal(recycle_block_size(r), 64);
        a = recycle_get(r);
        b = recycle_get(r);
        assert_non_null(a);
        assert_non_null(b);
        assert_ptr_not_equal(a, b);
        memset(a, 0xab, 64);
        memset(b, 0xcd, 64);
        recycle_put(r, a);
        recycle_put(r, b);
        /* Both come back, most recent first, before any new malloc. */
        c = recycle_get(r);
        assert_ptr_equal(c, b);
        c = recycle_get(r);
        assert_ptr_equal(c, a);
        recycle_put(r, a);
        recycle_put(r, b);
        recycle_release(r); /* both idle: freed now */
        recycle_release(NULL);
}

/* At most keep_max blocks are kept idle; the rest are freed when they come back. */
static void test_keep_max(void **state)
{
        enum { N = 10, KEEP = 3 };
        struct recycle *r;
        void *blocks[N], *again[KEEP];

        assert_int_equal(recycle_new(32, KEEP, &r), 0);
        for (int i = 0; i < N; i++)
                assert_non_null(blocks[i] = recycle_get(r));
        for (int i = 0; i < N; i++)
                recycle_put(r, blocks[i]);
        /* The first KEEP given back are the ones kept (the rest were freed as they came). */
        for (int i = 0; i < KEEP; i++) {
                again[i] = recycle_get(r);
                assert_ptr_equal(again[i], blocks[KEEP - 1 - i]);
        }
        for (int i = 0; i < KEEP; i++)
                recycle_put(r, again[i]);
        recycle_release(r);
}

/* Released while blocks are out: the last block back frees the recycler (and a forgotten
 * block counts as back). */
static void test_release_first(void **state)
{
        struct recycle *r;
        void *a, *b;

        assert_int_equal(recycle_new(48, 8, &r), 0);
        a = recycle_get(r);
        b = recycle_get(r);
        recycle_release(r);
        recycle_put(r, a);
        free(b);
        recycle_forget(r);
}

/* recycle_put_many gives back what n recycle_put calls would: the first keep_max kept (the
 * same blocks, in the same order of reuse), the rest freed; zero blocks is nothing. */
static void test_put_many(void **state)
{
        enum { N = 10, KEEP = 4 };
        struct recycle *r, *one;
        void *blocks[N], *model[N], *got, *want;

        assert_int_equal(recycle_new(40, KEEP, &r), 0);
        assert_int_equal(recycle_new(40, KEEP, &one), 0);
        for (int i = 0; i < N; i++) {
                assert_non_null(blocks[i] = recycle_get(r));
                assert_non_null(model[i] = recycle_get(one));
        }
        recycle_put_many(r, blocks, 0);
        /* Two calls: the second finds the cache partly full, then full. */
        recycle_put_many(r, blocks, 3);
        recycle_put_many(r, blocks + 3, N - 3);
        for (int i = 0; i < N; i++)
                recycle_put(one, model[i]);
        for (int i = 0; i < KEEP; i++) {
                got = recycle_get(r);
                want = recycle_get(one);
                /* The same position in each run: block k of r for block k of the model. */
                int k = -1, m = -1;
                for (int j = 0; j < N; j++) {
                        if (blocks[j] == got)
                                k = j;
                        if (model[j] == want)
                                m = j;
                }
                assert_int_equal(k, m);
                blocks[i] = got;
                model[i] = want;
        }
        recycle_put_many(r, blocks, KEEP);
        for (int i = 0; i < KEEP; i++)
                recycle_put(one, model[i]);
        recycle_release(r);
        recycle_release(one);
}

/* Released while blocks are out: recycle_put_many of the last of them frees the recycler. */
static void test_put_many_last(void **state)
{
        struct recycle *r;
        void *b[3];

        assert_int_equal(recycle_new(64, 2, &r), 0);
        for (int i = 0; i < 3; i++)
                assert_non_null(b[i] = recycle_get(r));
        recycle_release(r);
        recycle_put_many(r, b, 3);
}

/* Most recently given back first, also while the owner still holds blocks that were idle
 * before (issue 12: those came first, so every block went round and came back cold): a
 * block given back is handed out again within 16 gets, and the oldest idle blocks only
 * once the newer ones are used up. Then everything still comes back, each block once. */
static void test_lifo(void **state)
{
        enum { N = 200, PEEK = 16 };
        struct recycle *r;
        void *b[N], *got[N], *x;
        bool seen;

        /* keep_max above N + 64: the idle count lags the owner's pops by up to 64. */
        assert_int_equal(recycle_new(64, 2 * N, &r), 0);
        for (int i = 0; i < N; i++)
                assert_non_null(b[i] = recycle_get(r));
        for (int i = 0; i < N; i++)
                recycle_put(r, b[i]);
        /* The owner takes all N (newest first); then it gives some back, round after
         * round, each round found again within PEEK gets. */
        for (int round = 0; round < 40; round++) {
                x = recycle_get(r);
                recycle_put(r, x);
                seen = false;
                for (int k = 0; k < PEEK; k++) {
                        got[k] = recycle_get(r);
                        seen |= got[k] == x;
                }
                assert_true(seen);
                for (int k = 0; k < PEEK; k++)
                        recycle_put(r, got[k]);
        }
        /* The first block given back, the oldest idle one, was never handed out again. */
        for (int k = 0; k < N; k++) {
                got[k] = recycle_get(r);
                assert_non_null(got[k]);
                if (k < N - 1)
                        assert_ptr_not_equal(got[k], b[0]);
        }
        assert_ptr_equal(got[N - 1], b[0]);
        /* Each of the N exactly once, and no more idle: the next is a new malloc. */
        for (int i = 0; i < N; i++) {
                int hits = 0;
                for (int k = 0; k < N; k++)
                        hits += got[k] == b[i];
                assert_int_equal(hits, 1);
        }
        x = recycle_get(r);
        for (int k = 0; k < N; k++)
                assert_ptr_not_equal(x, got[k]);
        recycle_put(r, x);
        recycle_put_many(r, got, N);
        recycle_release(r);
}

/* event_free_batch frees what event_free frees: events and mapped blocks from two
 * recyclers each, malloc'd ones, positions inline and malloc'd, drop rules, trees, and
 * NULL entries. The recycled blocks come back (got again before any new malloc). */
static void test_event_free_batch(void **state)
{
        enum { N = 150 };  /* more than one run of 64 */
        struct recycle *ev[2], *mapped[2];
        struct event *e[N + 1];
        void *was_ev[N], *was_mapped[N];
        size_t n_ev[2] = { 0 }, n_mapped[2] = { 0 };

        for (int k = 0; k < 2; k++) {
                assert_int_equal(recycle_new(sizeof(struct event), N, &ev[k]), 0);
                assert_int_equal(recycle_new(128, N, &mapped[k]), 0);
        }
        for (int i = 0; i < N; i++) {
                int k = (i / 7) % 2;  /* runs of one recycler, then the other */
                json *rec = NULL;
                if (i % 5 == 0) {
                        rec = json_new_obj();
                        assert_non_null(rec);
                        assert_int_equal(json_obj_set_str(rec, "msg", "a tree"), 0);
                }
                e[i] = i % 11 == 0 ? event_new(rec, i) : event_new_recycled(ev[k], rec, i);
                assert_non_null(e[i]);
                was_ev[i] = e[i]->rc ? e[i] : NULL;
                if (e[i]->rc)
                        n_ev[k]++;
                was_mapped[i] = NULL;
                if (!rec && i % 3 == 0) {
                        e[i]->mapped = malloc(100);
                        assert_non_null(e[i]->mapped);
                } else if (!rec) {
                        e[i]->mapped_rc = mapped[k];
                        e[i]->mapped = recycle_get(mapped[k]);
                        assert_non_null(e[i]->mapped);
                        was_mapped[i] = e[i]->mapped;
                        n_mapped[k]++;
                }
                if (i % 4 == 0)
                        assert_int_equal(event_set_pos(e[i], "kafka:t/0", "12"), 0);
                if (i % 13 == 0) {
                        char big[200];
                        memset(big, 'c', sizeof(big) - 1);
                        big[sizeof(big) - 1] = '\0';
                        assert_int_equal(event_set_pos(e[i], "journald:x", big), 0);
                }
                if (i % 17 == 0)
                        assert_non_null(e[i]->drop_rule = strdup("rule-x"));
        }
        e[N] = NULL;
        event_free_batch(e, N + 1);
        event_free_batch(NULL, 0);
        /* Every recycled block is idle again: the next gets return only those. */
        for (int k = 0; k < 2; k++) {
                for (size_t j = 0; j < n_ev[k]; j++) {
                        void *b = recycle_get(ev[k]);
                        bool found = false;
                        for (int i = 0; i < N && !found; i++)
                                found = b == was_ev[i];
                        assert_true(found);
                        recycle_put(ev[k], b);
                }
                for (size_t j = 0; j < n_mapped[k]; j++) {
                        void *b = recycle_get(mapped[k]);
                        bool found = false;
                        for (int i = 0; i < N && !found; i++)
                                found = b == was_mapped[i];
                        assert_true(found);
                        recycle_put(mapped[k], b);
                }
                recycle_release(ev[k]);
                recycle_release(mapped[k]);
        }
}

struct worker {
        struct queue *q;
        struct recycle *r;
        uint64_t seen;
};

#define STRESS_BLOCK 256

static void *stress_consumer(void *ud)
{
        struct worker *w = ud;
        void *items[64];
        size_t n;

        while ((n = queue_pop_batch(w->q, items, 64, -1)) > 0) {
                for (size_t i = 0; i < n; i++) {
                        unsigned char *p = items[i];

                        /* Filled by the owner with one byte; nobody else wrote it. */
                        for (size_t k = 1; k < STRESS_BLOCK; k++)
                                assert_int_equal(p[k], p[0]);
                        memset(p, 0xee, STRESS_BLOCK);
                        recycle_put(w->r, p);
                        w->seen++;
                }
        }
        return NULL;
}

/* One owner hands blocks to two threads that give them back; released while some are
 * still out. Every block holds what its last writer put there. */
static void test_threads(void **state)
{
        enum { N = 200000 };
        struct worker w[2];
        pthread_t t[2];
        struct recycle *r;

        assert_int_equal(recycle_new(STRESS_BLOCK, 128, &r), 0);
        for (int i = 0; i < 2; i++) {
                w[i] = (struct worker){ .r = r };
                assert_int_equal(queue_new(1024, &w[i].q), 0);
                assert_int_equal(pthread_create(&t[i], NULL, stress_consumer, &w[i]), 0);
        }
        for (int i = 0; i < N; i++) {
                unsigned char *p = recycle_get(r);

                assert_non_null(p);
                memset(p, i & 0x7f, STRESS_BLOCK);
                while (queue_push(w[i & 1].q, p) == -EAGAIN)
                        ;
        }
        recycle_release(r); /* blocks are likely still out: r lives on until they are back */
        for (int i = 0; i < 2; i++) {
                queue_close(w[i].q);
                pthread_join(t[i], NULL);
                queue_free(w[i].q, NULL);
        }
        assert_true(w[0].seen + w[1].seen == N);
}

/* A record built in a recycled block is the same record; an adopted recycled root is
 * freed with the tree that adopted it; events come back too. */
static void test_json_and_event(void **state)
{
        struct recycle *rc[2], *ev;
        struct buf a = { 0 }, b = { 0 };
        json *x, *y, *small;
        struct event *e;

        assert_int_equal(recycle_new(512, 8, &rc[0]), 0);
        assert_int_equal(recycle_new(4096, 8, &rc[1]), 0);
        assert_int_equal(recycle_new(sizeof(struct event), 8, &ev), 0);
        for (int round = 0; round < 3; round++) {
                x = json_new_obj_recycled(rc, 2, 1000); /* the 4096 block */
                y = json_new_obj_reserve(1000);
                assert_non_null(x);
                assert_non_null(y);
                for (int i = 0; i < 40; i++) {
                        char k[16];

                        snprintf(k, sizeof(k), "k%02d", 39 - i);
                        assert_int_equal(json_obj_set_str(x, k, "a value of some length"), 0);
                        assert_int_equal(json_obj_set_str(y, k, "a value of some length"), 0);
                }
                buf_reset(&a);
                buf_reset(&b);
                assert_int_equal(json_canon(x, &a), 0);
                assert_int_equal(json_canon(y, &b), 0);
                assert_int_equal(a.len, b.len);
                assert_memory_equal(a.data, b.data, a.len);
                json_free(y);
                /* Bigger than both blocks: malloc'd, and freed as such. */
                y = json_new_obj_recycled(rc, 2, 10000);
                assert_non_null(y);
                json_free(y);
                /* A recycled root adopted into another tree. */
                small = json_new_obj_recycled(rc, 2, 100);
                assert_non_null(small);
                assert_int_equal(json_obj_set_int(small, "n", round), 0);
                y = json_new_obj();
                assert_int_equal(json_obj_set(y, "inner", small), 0);
                assert_int_equal(json_int(json_path_get(y, "inner.n")), round);
                json_free(y);
                e = event_new_recycled(ev, x, 7);
                assert_non_null(e);
                assert_ptr_equal(e->rec, x);
                assert_true(e->received_us == 7);
                assert_null(e->mapped);
                event_free(e);
        }
        buf_free(&a);
        buf_free(&b);
        recycle_release(rc[0]);
        recycle_release(rc[1]);
        recycle_release(ev);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reuse),
                cmocka_unit_test(test_keep_max),
                cmocka_unit_test(test_release_first),
                cmocka_unit_test(test_threads),
                cmocka_unit_test(test_put_many),
                cmocka_unit_test(test_put_many_last),
                cmocka_unit_test(test_lifo),
                cmocka_unit_test(test_event_free_batch),
                cmocka_unit_test(test_json_and_event),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
