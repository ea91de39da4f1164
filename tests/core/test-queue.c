/* Tests for core/queue.c: bounds, batches, close, the space fd, kick, and two producer
 * threads whose every item must arrive exactly once and in per-producer order. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/queue.h"
#include "core/tm.h"

#define ITEM(i) ((void *)(uintptr_t)(i))

static int fd_readable(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_bounded(void **state)
{
        struct queue *q = NULL;
        void *items[8];

        assert_int_equal(queue_new(0, &q), -EINVAL);
        assert_null(q);
        assert_int_equal(queue_new(4, &q), 0);
        for (uintptr_t i = 1; i <= 4; i++)
                assert_int_equal(queue_push(q, ITEM(i)), 0);
        assert_int_equal(queue_push(q, ITEM(5)), -EAGAIN);
        assert_int_equal(queue_depth(q), 4);
        /* Batches come out in order, at most max at a time. */
        assert_int_equal(queue_pop_batch(q, items, 3, -1), 3);
        assert_ptr_equal(items[0], ITEM(1));
        assert_ptr_equal(items[2], ITEM(3));
        assert_int_equal(queue_push(q, ITEM(6)), 0); /* wraps around the ring */
        assert_int_equal(queue_pop_batch(q, items, 8, -1), 2);
        assert_ptr_equal(items[0], ITEM(4));
        assert_ptr_equal(items[1], ITEM(6));
        assert_int_equal(queue_depth(q), 0);
        queue_free(q, NULL);
        queue_free(NULL, NULL);
}

static void test_timeout(void **state)
{
        struct queue *q;
        void *items[1];
        int64_t t0;

        assert_int_equal(queue_new(2, &q), 0);
        assert_int_equal(queue_pop_batch(q, items, 1, 0), 0); /* does not block */
        t0 = tm_mono_us();
        assert_int_equal(queue_pop_batch(q, items, 1, 30000), 0);
        assert_true(tm_mono_us() - t0 >= 30000);
        assert_true(tm_mono_us() - t0 < 2000000);
        queue_free(q, NULL);
}

static void test_close(void **state)
{
        struct queue *q;
        void *items[4];
        int64_t t0;

        assert_int_equal(queue_new(4, &q), 0);
        assert_int_equal(queue_push(q, ITEM(1)), 0);
        assert_int_equal(queue_push(q, ITEM(2)), 0);
        queue_close(q);
        assert_int_equal(queue_push(q, ITEM(3)), -EPIPE);
        assert_int_equal(queue_pop_batch(q, items, 1, -1), 1);
        assert_ptr_equal(items[0], ITEM(1));
        assert_int_equal(queue_pop_batch(q, items, 4, -1), 1);
        assert_ptr_equal(items[0], ITEM(2));
        /* Closed and empty: returns 0 at once even without a timeout. */
        t0 = tm_mono_us();
        assert_int_equal(queue_pop_batch(q, items, 4, -1), 0);
        assert_true(tm_mono_us() - t0 < 1000000);
        queue_free(q, NULL);
}

static size_t freed;
static void count_free(void *item)
{
        (void)item;
        freed++;
}

static void test_free_remaining(void **state)
{
        struct queue *q;
        void *items[1];

        assert_int_equal(queue_new(3, &q), 0);
        for (uintptr_t i = 1; i <= 3; i++)
                assert_int_equal(queue_push(q, ITEM(i)), 0);
        assert_int_equal(queue_pop_batch(q, items, 1, -1), 1);
        assert_int_equal(queue_push(q, ITEM(4)), 0);
        freed = 0;
        queue_free(q, count_free);
        assert_int_equal(freed, 3);
}

static void test_space_fd(void **state)
{
        struct queue *q;
        void *items[8];
        int fd;

        assert_int_equal(queue_new(4, &q), 0);
        fd = queue_space_fd(q);
        assert_true(fd >= 0);
        /* Draining without a failed push signals nothing. */
        assert_int_equal(queue_push(q, ITEM(1)), 0);
        assert_int_equal(queue_pop_batch(q, items, 8, 0), 1);
        assert_false(fd_readable(fd));
        for (uintptr_t i = 1; i <= 4; i++)
                assert_int_equal(queue_push(q, ITEM(i)), 0);
        assert_int_equal(queue_push(q, ITEM(5)), -EAGAIN);
        assert_false(fd_readable(fd));
        assert_int_equal(queue_pop_batch(q, items, 1, 0), 1); /* depth 3: above max/2 */
        assert_false(fd_readable(fd));
        assert_int_equal(queue_pop_batch(q, items, 1, 0), 1); /* depth 2: low-water mark */
        assert_true(fd_readable(fd));
        queue_ack_space(q);
        assert_false(fd_readable(fd));
        assert_int_equal(queue_pop_batch(q, items, 8, 0), 2); /* no new failed push */
        assert_false(fd_readable(fd));
        queue_ack_space(q); /* acking with nothing pending does not block */
        queue_free(q, NULL);
}

/* The item's number is its size in bytes. */
static size_t item_size(const void *item)
{
        return (size_t)(uintptr_t)item;
}

/* issue 12, queue.max_bytes: a push that would pass the byte budget fails like a full queue,
 * an item larger than the budget still goes into an empty queue, pops give their bytes back
 * (those of the push, by the slot), and space is signalled at half the bytes. */
static void test_byte_budget(void **state)
{
        struct queue *q;
        void *items[16];
        int fd;

        assert_int_equal(queue_new(16, &q), 0);
        assert_int_equal(queue_set_byte_budget(q, 0, item_size), -EINVAL);
        assert_int_equal(queue_set_byte_budget(q, 100, NULL), -EINVAL);
        assert_int_equal(queue_set_byte_budget(q, 100, item_size), 0);
        fd = queue_space_fd(q);
        assert_int_equal(queue_push(q, ITEM(40)), 0);
        assert_int_equal(queue_push(q, ITEM(40)), 0);
        assert_int_equal(queue_bytes(q), 80);
        assert_int_equal(queue_push(q, ITEM(21)), -EAGAIN); /* 101 > 100 */
        assert_int_equal(queue_push(q, ITEM(20)), 0);       /* exactly 100 */
        assert_int_equal(queue_push(q, ITEM(1)), -EAGAIN);
        assert_int_equal(queue_depth(q), 3);
        assert_int_equal(queue_pop_batch(q, items, 1, 0), 1); /* 60 bytes: above half */
        assert_int_equal(queue_bytes(q), 60);
        assert_false(fd_readable(fd));
        assert_int_equal(queue_pop_batch(q, items, 1, 0), 1); /* 20 bytes: half or below */
        assert_true(fd_readable(fd));
        queue_ack_space(q);
        assert_int_equal(queue_pop_batch(q, items, 16, 0), 1);
        assert_int_equal(queue_bytes(q), 0);
        /* Larger than the budget: fits alone, and nothing fits beside it. */
        assert_int_equal(queue_push(q, ITEM(250)), 0);
        assert_int_equal(queue_push(q, ITEM(1)), -EAGAIN);
        assert_int_equal(queue_pop_batch(q, items, 16, 0), 1);
        assert_ptr_equal(items[0], ITEM(250));
        assert_int_equal(queue_bytes(q), 0);
        /* Three pushes met the spent budget, none the count. */
        uint64_t by_events, by_bytes;
        queue_full_counts(q, &by_events, &by_bytes);
        assert_int_equal(by_events, 0);
        assert_int_equal(by_bytes, 3);
        /* The count limit still holds under the budget, and is counted as the count's. */
        for (uintptr_t i = 0; i < 16; i++)
                assert_int_equal(queue_push(q, ITEM(0)), 0);
        assert_int_equal(queue_push(q, ITEM(0)), -EAGAIN);
        queue_full_counts(q, &by_events, &by_bytes);
        assert_int_equal(by_events, 1);
        assert_int_equal(by_bytes, 3);
        queue_free(q, NULL);
}

struct batch_waiter {
        struct queue *q;
        void *items[8];
        size_t n;
};

static void *batch_waiter_thread(void *ud)
{
        struct batch_waiter *w = ud;

        w->n = queue_pop_batch(w->q, w->items, 8, -1);
        return NULL;
}

/* issue 12, queue_push_batch (the mapper's hand-off to the storing thread): items go in in
 * order as far as the count and the byte budget allow, the rest stay the caller's and arm
 * the space fd like a failed push; a consumer asleep on the empty queue wakes; a closed
 * queue takes nothing. */
static void test_push_batch(void **state)
{
        struct queue *q;
        void *in[6] = { ITEM(1), ITEM(2), ITEM(3), ITEM(4), ITEM(5), ITEM(6) };
        void *out[8];
        size_t k = 99;
        int fd;

        assert_int_equal(queue_new(4, &q), 0);
        fd = queue_space_fd(q);
        assert_int_equal(queue_push_batch(q, in, 0, &k), 0);
        assert_int_equal(k, 0);
        assert_false(fd_readable(fd));
        assert_int_equal(queue_push_batch(q, in, 6, &k), 0);
        assert_int_equal(k, 4);
        assert_int_equal(queue_depth(q), 4);
        assert_int_equal(queue_pop_batch(q, out, 1, 0), 1);
        assert_ptr_equal(out[0], ITEM(1));
        assert_false(fd_readable(fd)); /* 3 left: above half */
        assert_int_equal(queue_pop_batch(q, out, 1, 0), 1);
        assert_true(fd_readable(fd));  /* the batch did not fit: space is signalled */
        queue_ack_space(q);
        /* The rest after the ring wrapped, then everything in order. */
        assert_int_equal(queue_push_batch(q, in + 4, 2, &k), 0);
        assert_int_equal(k, 2);
        assert_int_equal(queue_pop_batch(q, out, 8, 0), 4);
        for (size_t i = 0; i < 4; i++)
                assert_ptr_equal(out[i], ITEM(3 + i));
        assert_false(fd_readable(fd));

        /* A consumer asleep on the empty queue wakes for a batch. */
        struct batch_waiter w = { .q = q };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, batch_waiter_thread, &w), 0);
        assert_int_equal(queue_push_batch(q, in, 3, &k), 0);
        assert_int_equal(k, 3);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_true(w.n >= 1 && w.n <= 3);
        assert_ptr_equal(w.items[0], ITEM(1));
        assert_int_equal(queue_pop_batch(q, out, 8, 0), 3 - w.n);

        queue_close(q);
        k = 99;
        assert_int_equal(queue_push_batch(q, in, 2, &k), -EPIPE);
        assert_int_equal(k, 0);
        queue_free(q, NULL);

        /* The byte budget: 40 + 40 fit in 100, 30 more does not; alone a large one does. */
        void *sized[3] = { ITEM(40), ITEM(40), ITEM(30) };
        void *big[2] = { ITEM(250), ITEM(1) };
        assert_int_equal(queue_new(16, &q), 0);
        assert_int_equal(queue_set_byte_budget(q, 100, item_size), 0);
        assert_int_equal(queue_push_batch(q, sized, 3, &k), 0);
        assert_int_equal(k, 2);
        assert_int_equal(queue_bytes(q), 80);
        assert_int_equal(queue_pop_batch(q, out, 8, 0), 2);
        assert_true(fd_readable(queue_space_fd(q)));
        assert_int_equal(queue_push_batch(q, big, 2, &k), 0);
        assert_int_equal(k, 1);
        assert_int_equal(queue_bytes(q), 250);
        queue_free(q, NULL);
}

/* issue 12: a subscriber (journald, Kafka, the writer's mapper) resumes only at the
 * low-water mark too, so a small queue does not make it flap at the edge; drained and
 * capacity say what a consumer thread needs to end and to size what follows it. */
static void test_subscriber_low_water_drained(void **state)
{
        struct queue *q;
        void *items[16];
        int fd;

        assert_int_equal(queue_new(8, &q), 0);
        assert_int_equal(queue_capacity(q), 8);
        fd = queue_space_subscribe(q);
        assert_true(fd >= 0);
        for (uintptr_t i = 1; i <= 8; i++)
                assert_int_equal(queue_push(q, ITEM(i)), 0);
        assert_int_equal(queue_push(q, ITEM(9)), -EAGAIN);
        /* Room for one, two, three: still above max/2, no wakeup. */
        for (int k = 0; k < 3; k++) {
                assert_int_equal(queue_pop_batch(q, items, 1, 0), 1);
                assert_false(fd_readable(fd));
        }
        assert_int_equal(queue_pop_batch(q, items, 1, 0), 1); /* depth 4 = max/2 */
        assert_true(fd_readable(fd));
        queue_ack_space_fd(fd);
        assert_false(fd_readable(fd));
        assert_false(queue_drained(q));
        queue_close(q);
        assert_false(queue_drained(q)); /* closed, but items remain */
        assert_int_equal(queue_pop_batch(q, items, 16, 0), 4);
        assert_true(queue_drained(q));
        queue_space_unsubscribe(q, fd);
        queue_free(q, NULL);
}

static void *kicker(void *arg)
{
        struct timespec ts = { 0, 20 * 1000 * 1000 };

        nanosleep(&ts, NULL);
        queue_kick(arg);
        return NULL;
}

static void test_kick(void **state)
{
        struct queue *q;
        pthread_t t;
        void *items[1];

        assert_int_equal(queue_new(2, &q), 0);
        assert_int_equal(pthread_create(&t, NULL, kicker, q), 0);
        assert_int_equal(queue_pop_batch(q, items, 1, -1), 0); /* returns after the kick */
        pthread_join(t, NULL);
        queue_free(q, NULL);
}

#define PER_PRODUCER 100000

struct producer {
        struct queue *q;
        uintptr_t id;
        size_t eagain;
};

static void *produce(void *arg)
{
        struct producer *p = arg;

        for (uintptr_t i = 0; i < PER_PRODUCER; i++) {
                /* Item encodes producer and sequence; never 0. */
                void *item = ITEM((p->id << 32 | i) + 1);

                while (queue_push(p->q, item) == -EAGAIN) {
                        struct pollfd pf = { .fd = queue_space_fd(p->q), .events = POLLIN };

                        p->eagain++;
                        if (poll(&pf, 1, 5) == 1)
                                queue_ack_space(p->q);
                }
        }
        return NULL;
}

static void test_two_producers(void **state)
{
        struct queue *q;
        struct producer p[2];
        pthread_t t[2];
        uint8_t *seen = calloc(2 * PER_PRODUCER, 1);
        int64_t next[2] = { 0, 0 };
        size_t total = 0;
        void *items[256];

        assert_int_equal(queue_new(64, &q), 0);
        for (int i = 0; i < 2; i++) {
                p[i] = (struct producer){ q, (uintptr_t)i, 0 };
                assert_int_equal(pthread_create(&t[i], NULL, produce, &p[i]), 0);
        }
        while (total < 2 * PER_PRODUCER) {
                size_t n = queue_pop_batch(q, items, 256, 1000000);

                if (n == 0)
                        fail_msg("stalled after %zu items", total);
                for (size_t k = 0; k < n; k++) {
                        uintptr_t v = (uintptr_t)items[k] - 1;
                        uintptr_t id = v >> 32, seq = v & 0xffffffffu;

                        assert_true(id < 2 && seq < PER_PRODUCER);
                        if (seen[id * PER_PRODUCER + seq]++)
                                fail_msg("item %lu/%lu twice", (unsigned long)id,
                                         (unsigned long)seq);
                        if ((int64_t)seq != next[id])
                                fail_msg("producer %lu out of order", (unsigned long)id);
                        next[id]++;
                }
                total += n;
        }
        for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
        assert_int_equal(queue_depth(q), 0);
        for (size_t i = 0; i < 2 * PER_PRODUCER; i++)
                assert_int_equal(seen[i], 1);
        queue_free(q, NULL);
        free(seen);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bounded),
                cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_close),
                cmocka_unit_test(test_free_remaining),
                cmocka_unit_test(test_space_fd),
                cmocka_unit_test(test_byte_budget),
                cmocka_unit_test(test_push_batch),
                cmocka_unit_test(test_subscriber_low_water_drained),
                cmocka_unit_test(test_kick),
                cmocka_unit_test(test_two_producers),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
