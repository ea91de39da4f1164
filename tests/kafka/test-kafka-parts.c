/* ingest/kafka-parts.c: the offset bookkeeping that exactly-once rests on. The resume rule
 * is checked as a table; durable offsets from a writer thread against a naive model (the
 * maximum of what was committed); tokens round-trip; the table refuses what it cannot
 * hold. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/limits.h"
#include "ingest/kafka.h"

static void test_resume_rule(void **state)
{
        static const struct {
                const char *name;
                int64_t stored, pushed, committed, want;
        } cases[] = {
                { "nothing known: the start setting", -1, -1, -1, -1 },
                { "nothing known, committed -1001 (librdkafka INVALID)", -1, -1, -1001, -1 },
                { "stored only: after it", 41, -1, -1, 42 },
                { "stored 0", 0, -1, -1, 1 },
                { "committed only: at it", -1, -1, 42, 42 },
                { "committed behind stored (crash before the commit)", 99, -1, 50, 100 },
                { "committed ahead (another instance stored those)", 10, -1, 500, 500 },
                { "pushed ahead of stored (queued, not yet committed)", 10, 20, 11, 21 },
                { "committed equals stored + 1", 9, -1, 10, 10 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t got = kafka_resume_offset(cases[i].stored, cases[i].pushed,
                                                  cases[i].committed);

                if (got != cases[i].want)
                        fail_msg("%s: got %lld, wanted %lld", cases[i].name, (long long)got,
                                 (long long)cases[i].want);
        }
}

static void test_tokens(void **state)
{
        static const struct { uint16_t index; int64_t offset; int r; } cases[] = {
                { 0, 0, 0 }, { 1, 1, 0 }, { 4095, 123456789, 0 }, { 65535, (INT64_C(1) << 48) - 1, 0 },
                { 3, INT64_C(1) << 48, -ERANGE }, { 3, -1, -ERANGE },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t t = 0;
                uint16_t idx;
                int64_t off;

                assert_int_equal(kafka_token_make(cases[i].index, cases[i].offset, &t),
                                 cases[i].r);
                if (cases[i].r < 0)
                        continue;
                kafka_token_split(t, &idx, &off);
                assert_int_equal(idx, cases[i].index);
                assert_int_equal(off, cases[i].offset);
        }
}

static void test_table(void **state)
{
        struct kafka_parts *t;
        struct kafka_part *a, *b;
        uint16_t ia, ib, i2;
        char topic[32];

        assert_int_equal(kafka_parts_new(&t), 0);
        a = kafka_parts_get(t, "access", 0, &ia);
        b = kafka_parts_get(t, "access", 1, &ib);
        assert_non_null(a);
        assert_non_null(b);
        assert_true(a != b);
        assert_string_equal(a->source, "kafka:access/0");
        assert_string_equal(b->source, "kafka:access/1");
        assert_ptr_equal(kafka_parts_get(t, "access", 0, &i2), a);
        assert_int_equal(i2, ia);
        assert_int_equal(a->next, -1);
        assert_int_equal(a->pushed, -1);
        assert_int_equal(a->committed, -1);
        assert_int_equal(atomic_load(&a->durable), -1);
        assert_true(kafka_part_drained(a));
        assert_null(kafka_parts_get(t, "access", -1, NULL));
        for (int i = 2; i < KAFKA_PARTITIONS_MAX; i++) {
                snprintf(topic, sizeof(topic), "t%d", i);
                assert_non_null(kafka_parts_get(t, topic, i, NULL));
        }
        assert_int_equal(kafka_parts_count(t), KAFKA_PARTITIONS_MAX);
        assert_null(kafka_parts_get(t, "one-too-many", 0, NULL));
        /* Known entries are still found when the table is full. */
        assert_ptr_equal(kafka_parts_get(t, "access", 1, NULL), b);
        kafka_parts_free(t);
        kafka_parts_free(NULL);
}

/* The failover claims in the broker's commit metadata: round trip, and what is refused
 * (another client's metadata, an older or damaged claim) is told apart from "none". */
static void test_claim_text(void **state)
{
        static const struct {
                const char *name, *md;
                int r;
                size_t n;
                const char *chain, *chain2;
                int64_t through, through2;
        } cases[] = {
                { "a claim", "gatelog:1 chain=node-a through=4101", 0, 1, "node-a", NULL, 4101, 0 },
                { "through 0", "gatelog:1 chain=a through=0", 0, 1, "a", NULL, 0, 0 },
                { "two claims", "gatelog:2 chain=c through=700 chain=b through=650", 0, 2, "c", "b",
                  700, 650 },
                { "version 2, one", "gatelog:2 chain=a through=1", 0, 1, "a", NULL, 1, 0 },
                { "empty: none", "", -ENOENT, 0, NULL, NULL, 0, 0 },
                { "another client's", "{\"app\":\"spark\"}", -EPROTO, 0, NULL, NULL, 0, 0 },
                { "another version", "gatelog:3 chain=a through=1", -EPROTO, 0, NULL, NULL, 0, 0 },
                { "two in version 1", "gatelog:1 chain=a through=1 chain=b through=2", -EPROTO, 0,
                  NULL, NULL, 0, 0 },
                { "trailing space", "gatelog:2 chain=a through=1 ", -EPROTO, 0, NULL, NULL, 0, 0 },
                { "half a second", "gatelog:2 chain=a through=1 chain=b", -EPROTO, 0, NULL, NULL,
                  0, 0 },
                { "no through", "gatelog:1 chain=a", -EPROTO, 0, NULL, NULL, 0, 0 },
                { "empty chain", "gatelog:1 chain= through=5", -EPROTO, 0, NULL, NULL, 0, 0 },
                { "negative", "gatelog:1 chain=a through=-5", -EPROTO, 0, NULL, NULL, 0, 0 },
                { "not a number", "gatelog:1 chain=a through=5x", -EPROTO, 0, NULL, NULL, 0, 0 },
                { "no digits", "gatelog:1 chain=a through=", -EPROTO, 0, NULL, NULL, 0, 0 },
                { "overflow", "gatelog:1 chain=a through=99999999999999999999", -EPROTO, 0, NULL,
                  NULL, 0, 0 },
                { "chain too long", "gatelog:1 chain=0123456789abcdef0123456789abcdef0123456789"
                                    "abcdef0123456789abcdef0 through=1", -EPROTO, 0, NULL, NULL,
                  0, 0 },
        };
        struct kafka_claim c[KAFKA_CLAIMS_MAX + 1];
        char buf[KAFKA_CLAIM_MAX];
        size_t n;
        int len;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int r;

                n = 99;
                r = kafka_claims_parse(cases[i].md, strlen(cases[i].md), c, KAFKA_CLAIMS_MAX, &n);
                if (r != cases[i].r)
                        fail_msg("%s: got %d, wanted %d", cases[i].name, r, cases[i].r);
                if (r == 0 && (n != cases[i].n || strcmp(c[0].chain, cases[i].chain) ||
                               c[0].through != cases[i].through))
                        fail_msg("%s: got %zu: %s %lld", cases[i].name, n, c[0].chain,
                                 (long long)c[0].through);
                if (r == 0 && n == 2 && (strcmp(c[1].chain, cases[i].chain2) ||
                                         c[1].through != cases[i].through2))
                        fail_msg("%s: second %s %lld", cases[i].name, c[1].chain,
                                 (long long)c[1].through);
                if (r < 0 && n != 99)
                        fail_msg("%s: count written on failure", cases[i].name);
        }
        /* Not NUL-terminated, as librdkafka hands it over: the length rules. */
        memcpy(buf, "gatelog:1 chain=b through=12345", 31);
        assert_int_equal(kafka_claims_parse(buf, 29, c, KAFKA_CLAIMS_MAX, &n), 0);
        assert_string_equal(c[0].chain, "b");
        assert_int_equal(c[0].through, 123);
        /* One claim is written as version 1 (older readers understand it); several as 2. */
        snprintf(c[0].chain, sizeof(c[0].chain), "node-b");
        c[0].through = INT64_C(281474976710655);
        len = kafka_claims_format(buf, sizeof(buf), c, 1);
        assert_true(len > 0);
        assert_memory_equal(buf, "gatelog:1 chain=node-b through=281474976710655", (size_t)len);
        assert_int_equal(kafka_claims_format(buf, 20, c, 1), -ENAMETOOLONG);
        /* The most a commit carries: KAFKA_CLAIMS_MAX claims of names at the length limit
         * fit the buffer, and read back in order; one more is refused both ways. */
        for (size_t i = 0; i <= KAFKA_CLAIMS_MAX; i++) {
                memset(c[i].chain, 'a' + (int)i, KAFKA_CHAIN_MAX);
                c[i].chain[KAFKA_CHAIN_MAX] = '\0';
                c[i].through = INT64_C(999999999999999999) - (int64_t)i;
        }
        len = kafka_claims_format(buf, sizeof(buf), c, KAFKA_CLAIMS_MAX);
        assert_true(len > 0);
        {
                struct kafka_claim back[KAFKA_CLAIMS_MAX];

                assert_int_equal(kafka_claims_parse(buf, (size_t)len, back, KAFKA_CLAIMS_MAX, &n),
                                 0);
                assert_int_equal(n, KAFKA_CLAIMS_MAX);
                for (size_t i = 0; i < n; i++) {
                        assert_string_equal(back[i].chain, c[i].chain);
                        assert_int_equal(back[i].through, c[i].through);
                }
                assert_int_equal(kafka_claims_parse(buf, (size_t)len, back, 2, &n), -EPROTO);
        }
        assert_int_equal(kafka_claims_format(buf, sizeof(buf), c, KAFKA_CLAIMS_MAX + 1), -EINVAL);
}

struct writer_model {
        struct kafka_parts *t;
        uint16_t index[4];
        int64_t n;
};

/* The writer thread: commits every partition's offsets in order, as the real writer does. */
static void *writer_thread(void *ud)
{
        struct writer_model *m = ud;

        for (int64_t off = 0; off < m->n; off++)
                for (int p = 0; p < 4; p++) {
                        uint64_t tok;

                        if ((off + p) % 3 == 0)  /* offsets skip, as compaction makes them */
                                continue;
                        kafka_token_make(m->index[p], off, &tok);
                        kafka_parts_durable(m->t, tok);
                }
        return NULL;
}

static void test_durable_vs_model(void **state)
{
        struct writer_model m = { .n = 100000 };
        struct kafka_part *p[4];
        pthread_t th;
        int64_t seen[4] = { -1, -1, -1, -1 };

        assert_int_equal(kafka_parts_new(&m.t), 0);
        for (int i = 0; i < 4; i++)
                p[i] = kafka_parts_get(m.t, "x", i, &m.index[i]);
        assert_int_equal(pthread_create(&th, NULL, writer_thread, &m), 0);
        /* The loop thread meanwhile: durable never goes back, also while the loop raises it
         * itself (an assignment to what the store holds) against the writer. */
        for (int k = 0; k < 100000; k++)
                for (int i = 0; i < 4; i++) {
                        int64_t d;

                        if (k % 97 == 0)
                                kafka_part_durable_raise(p[i], k / 2);
                        d = atomic_load(&p[i]->durable);
                        assert_true(d >= seen[i]);
                        assert_true(k % 97 != 0 || d >= k / 2);
                        seen[i] = d;
                }
        pthread_join(th, NULL);
        for (int i = 0; i < 4; i++) {
                int64_t want = -1;

                /* The model: the largest offset the writer committed for the partition. */
                for (int64_t off = 0; off < m.n; off++)
                        if ((off + i) % 3 != 0)
                                want = off;
                assert_int_equal(atomic_load(&p[i]->durable), want);
                p[i]->pushed = want;
                assert_true(kafka_part_drained(p[i]));
                p[i]->pushed = want + 1;
                assert_false(kafka_part_drained(p[i]));
        }
        /* An older token (a replayed callback) does not lower it. */
        {
                uint64_t tok;

                kafka_token_make(m.index[0], 5, &tok);
                kafka_parts_durable(m.t, tok);
                assert_true(atomic_load(&p[0]->durable) > 5);
                kafka_part_durable_raise(p[0], 5);
                assert_true(atomic_load(&p[0]->durable) > 5);
                kafka_part_durable_raise(p[0], m.n + 10);
                assert_int_equal(atomic_load(&p[0]->durable), m.n + 10);
        }
        kafka_parts_free(m.t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resume_rule),
                cmocka_unit_test(test_tokens),
                cmocka_unit_test(test_claim_text),
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_durable_vs_model),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
