/* Tests for core/recycle.c and its users (json_new_obj_recycled, event_new_recycled): blocks
 * come back for reuse, the idle cache is bounded, the recycler outlives its owner until the
 * last block is back, and blocks cross threads. Leaks, double frees and uses after free are
 * what the ASan and Valgrind builds of this test catch. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
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
                cmocka_unit_test(test_json_and_event),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
