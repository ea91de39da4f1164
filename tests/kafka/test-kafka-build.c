/* ingest/kafka-build.c: the hand-off of consumed Kafka messages to `gl-kafka` and back
 * (issue 12, round 11). Against a model (a FIFO of what was handed): random hands, takes
 * that wait or not, builds of random length, lost events; every slice must come back
 * exactly once, in the order handed, with its offsets and its own events; a stop with
 * slices still being built must build them (their messages consumed: ASan's leak check
 * sees the rest) and discard them, never lose or double one. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingest/kafka-build.h"

/* What the build callback sees and does. msg: a malloc'd int64_t (the offset); ev: a
 * malloc'd int64_t, offset * 3 + 1, or NULL for the offsets lost on purpose. */
struct harness {
        atomic_uint_fast64_t consumed;   /* messages the callback freed */
        atomic_uint_fast64_t lost;       /* events it did not build */
        atomic_uint_fast64_t discarded;  /* items of slices discarded at the stop */
        atomic_bool building;            /* a build is running now */
        atomic_int max_delay_us;
        unsigned seed;                   /* the builder's own (rand_r) */
        int64_t discard_next;            /* discarded slices must be the next in order */
};

static bool lost_on_purpose(int64_t offset)
{
        return offset % 23 == 7;
}

static void build_cb(void *ud, struct kafka_slice *s)
{
        struct harness *h = ud;
        int d = atomic_load(&h->max_delay_us);

        atomic_store(&h->building, true);
        if (d > 0)
                usleep((useconds_t)(rand_r(&h->seed) % (unsigned)d));
        for (size_t i = 0; i < s->n; i++) {
                int64_t off = *(int64_t *)s->msg[i];
                int64_t *ev = NULL;

                if (!lost_on_purpose(off) && (ev = malloc(sizeof(*ev))))
                        *ev = off * 3 + 1;
                if (!ev)
                        atomic_fetch_add(&h->lost, 1);
                s->ev[i] = ev;
                free(s->msg[i]);
                s->msg[i] = NULL;
                atomic_fetch_add(&h->consumed, 1);
        }
        atomic_store(&h->building, false);
}

static void discard_cb(void *ud, struct kafka_slice *s)
{
        struct harness *h = ud;

        for (size_t i = 0; i < s->n; i++) {
                assert_null(s->msg[i]);  /* built before discarded */
                assert_int_equal(s->offset[i], h->discard_next);
                h->discard_next++;
                free(s->ev[i]);
        }
        atomic_fetch_add(&h->discarded, s->n);
}

/* Fills a slice of n messages with offsets from *next on. */
static struct kafka_slice *fill(struct kafka_build *b, size_t n, int64_t *next)
{
        struct kafka_slice *s = kafka_build_slice(b);

        assert_non_null(s);
        assert_int_equal(s->n, 0);
        for (size_t i = 0; i < n; i++) {
                int64_t *m = malloc(sizeof(*m));

                assert_non_null(m);
                *m = *next;
                s->msg[i] = m;
                s->part[i] = NULL;
                s->index[i] = (uint16_t)(*next % 7);
                s->offset[i] = (*next)++;
                s->ev[i] = (void *)0x1;  /* the callback must overwrite it */
        }
        s->n = n;
        return s;
}

/* A slice back: its offsets must be the model's next ones, its events theirs. */
static void check_back(struct kafka_build *b, struct kafka_slice *s, int64_t *want,
                       uint64_t *ret_got)
{
        for (size_t i = 0; i < s->n; i++) {
                int64_t off = s->offset[i];

                if (off != *want)
                        fail_msg("slice item %zu: offset %lld, model %lld", i, (long long)off,
                                 (long long)*want);
                assert_int_equal(s->index[i], (uint16_t)(off % 7));
                assert_null(s->msg[i]);
                if (lost_on_purpose(off)) {
                        assert_null(s->ev[i]);
                } else {
                        assert_non_null(s->ev[i]);
                        assert_int_equal(*(int64_t *)s->ev[i], off * 3 + 1);
                }
                free(s->ev[i]);
                (*want)++;
                (*ret_got)++;
        }
        kafka_build_recycle(b, s);
}

/* Random hands and takes (waiting or not, several slices out), then a settle (takes that
 * wait until none is out), a second round, and a stop with slices out. */
static void run_model(unsigned seed, int max_delay_us, bool stop_with_work)
{
        struct harness h = { .seed = seed * 7919u + 1, .discard_next = -1 };
        struct kafka_build *b = NULL;
        int64_t next = 1000, want = 1000;
        uint64_t handed = 0, got = 0;
        unsigned r = seed;

        atomic_store(&h.max_delay_us, max_delay_us);
        assert_int_equal(kafka_build_start(build_cb, discard_cb, &h, &b), 0);
        assert_null(kafka_build_take(b, true));  /* none out: no wait */
        for (int round = 0; round < 2; round++) {
                for (int step = 0; step < 400; step++) {
                        unsigned op = rand_r(&r) % 4;

                        if (op < 2 && kafka_build_out(b) < KAFKA_BUILD_SLICES) {
                                size_t n = 1 + rand_r(&r) % KAFKA_SLICE;

                                kafka_build_hand(b, fill(b, n, &next));
                                handed += n;
                        } else {
                                struct kafka_slice *s = kafka_build_take(b, op == 3);

                                if (op == 3 && !s && kafka_build_out(b) > 0)
                                        fail_msg("a waiting take came back empty with "
                                                 "slices out");
                                if (s)
                                        check_back(b, s, &want, &got);
                        }
                }
                /* The settle (kafka_rebalance_served_cb's): everything back, in order. */
                for (struct kafka_slice *s; (s = kafka_build_take(b, true)); )
                        check_back(b, s, &want, &got);
                assert_int_equal(kafka_build_out(b), 0);
                assert_int_equal(got, handed);
                assert_int_equal(want, next);
        }
        if (stop_with_work) {
                /* Slices out, the builder slow: the stop must still build every one (their
                 * messages consumed) and discard them in order. */
                atomic_store(&h.max_delay_us, 3000);
                h.discard_next = next;
                for (int i = 0; i < KAFKA_BUILD_SLICES; i++) {
                        kafka_build_hand(b, fill(b, KAFKA_SLICE, &next));
                        handed += KAFKA_SLICE;
                }
        }
        kafka_build_free(b);
        assert_int_equal(atomic_load(&h.consumed), handed);
        assert_int_equal(got + atomic_load(&h.discarded), handed);
        if (stop_with_work)
                assert_int_equal(h.discard_next, next);
}

static void test_model_fast(void **state)
{
        (void)state;
        for (unsigned seed = 1; seed <= 30; seed++)
                run_model(seed, 0, seed % 2 == 0);
}

static void test_model_slow_builder(void **state)
{
        (void)state;
        for (unsigned seed = 100; seed < 106; seed++)
                run_model(seed, 200, true);
}

/* The wake-up: the fd is readable once a slice is built, and quiet again after the ack
 * when nothing more is built; a take that does not wait never returns a later slice
 * ahead of an older one still building. */
static void test_fd_and_no_overtaking(void **state)
{
        struct harness h = { .seed = 5 };
        struct kafka_build *b = NULL;
        struct pollfd p = { .events = POLLIN };
        int64_t next = 0, want = 0;
        uint64_t got = 0;

        (void)state;
        assert_int_equal(kafka_build_start(build_cb, discard_cb, &h, &b), 0);
        p.fd = kafka_build_fd(b);
        assert_int_equal(poll(&p, 1, 0), 0);
        kafka_build_hand(b, fill(b, 3, &next));
        assert_int_equal(poll(&p, 1, 5000), 1);
        kafka_build_ack(b);
        check_back(b, kafka_build_take(b, false), &want, &got);
        assert_int_equal(poll(&p, 1, 0), 0);
        assert_null(kafka_build_take(b, false));  /* none out */
        /* A slow first slice, a fast second: the second may be built only after it, and
         * a take that does not wait sees neither before the first is done. */
        atomic_store(&h.max_delay_us, 200000);
        kafka_build_hand(b, fill(b, 2, &next));
        while (!atomic_load(&h.building))
                usleep(100);
        atomic_store(&h.max_delay_us, 0);
        kafka_build_hand(b, fill(b, 2, &next));
        for (struct kafka_slice *s; kafka_build_out(b) > 0; ) {
                s = kafka_build_take(b, false);
                if (s)
                        check_back(b, s, &want, &got);
                else
                        usleep(500);
        }
        assert_int_equal(got, (uint64_t)next);
        kafka_build_free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_model_fast),
                cmocka_unit_test(test_model_slow_builder),
                cmocka_unit_test(test_fd_and_no_overtaking),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
