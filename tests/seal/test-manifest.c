/* Manifests: golden canonical bytes for fixed manifests (the bytes auditors hash and verify
 * signatures over must never drift), and the inputs the builder must refuse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/tm.h"
#include "seal/seal.h"

#define H11 "1111111111111111111111111111111111111111111111111111111111111111"
#define H22 "2222222222222222222222222222222222222222222222222222222222222222"
#define H33 "3333333333333333333333333333333333333333333333333333333333333333"
#define H44 "4444444444444444444444444444444444444444444444444444444444444444"
#define HAB "abababababababababababababababababababababababababababababababab"
#define H00 "0000000000000000000000000000000000000000000000000000000000000000"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* 2026-03-01T10:00:00Z */
#define T0 INT64_C(1772359200000000)

static json *make_stats(void)
{
        json *s = json_new_obj(), *d = json_new_obj();

        assert_non_null(s);
        assert_non_null(d);
        assert_int_equal(json_obj_set_int(d, "udp", 0), 0);
        assert_int_equal(json_obj_set_int(s, "received", 4), 0);
        assert_int_equal(json_obj_set_int(s, "kept", 3), 0);
        assert_int_equal(json_obj_set_int(s, "malformed", 1), 0);
        assert_int_equal(json_obj_set(s, "dropped", d), 0);
        return s;
}

static void fill(uint8_t h[HASH_LEN], uint8_t byte)
{
        memset(h, byte, HASH_LEN);
}

struct golden_case {
        const char *name;
        bool with_criteria, with_stats;
        uint64_t epoch, first_seq, count;
        const char *want;
};

static const struct golden_case golden_cases[] = {
        { "full", true, true, 7, 100, 3,
          "{\"chain\":\"main\",\"count\":3,\"criteria\":{\"CC6.1\":{\"count\":2,\"root\":\"" H22
          "\"},\"CC7.2\":{\"count\":1,\"root\":\"" H33 "\"}},\"end\":\"2026-03-01T11:00:00.000000Z\","
          "\"epoch\":7,\"first_seq\":100,\"key_id\":\"" HAB "\",\"prev\":\"" H44 "\",\"root\":\""
          H11 "\",\"sealed\":\"2026-03-01T11:00:01.500000Z\",\"start\":"
          "\"2026-03-01T10:00:00.000000Z\",\"stats\":{\"dropped\":{\"udp\":0},\"kept\":3,"
          "\"malformed\":1,\"received\":4},\"version\":1}" },
        { "empty epoch 0, no stats", false, false, 0, 0, 0,
          "{\"chain\":\"main\",\"count\":0,\"criteria\":{},\"end\":\"2026-03-01T11:00:00.000000Z\","
          "\"epoch\":0,\"first_seq\":0,\"key_id\":\"" HAB "\",\"prev\":\"" H00 "\",\"root\":\""
          EMPTY "\",\"sealed\":\"2026-03-01T11:00:01.500000Z\",\"start\":"
          "\"2026-03-01T10:00:00.000000Z\",\"stats\":{},\"version\":1}" },
};

static void test_golden(void **state)
{
        for (size_t c = 0; c < sizeof(golden_cases) / sizeof(*golden_cases); c++) {
                const struct golden_case *g = &golden_cases[c];
                /* Given out of order: the output is sorted regardless. */
                struct seal_criterion crit[2] = { { "CC7.2", 1, { 0 } }, { "CC6.1", 2, { 0 } } };
                struct seal_manifest m = {
                        .chain = "main", .epoch = g->epoch, .start_us = T0,
                        .end_us = T0 + 3600 * TM_USEC_PER_SEC, .first_seq = g->first_seq,
                        .count = g->count, .sealed_us = T0 + 3601500000,
                };
                struct buf out = BUF_INIT;
                json *stats = g->with_stats ? make_stats() : NULL;

                fill(crit[0].root, 0x33);
                fill(crit[1].root, 0x22);
                if (g->with_criteria) {
                        m.criteria = crit;
                        m.n_criteria = 2;
                        fill(m.root, 0x11);
                        fill(m.prev, 0x44);
                } else {
                        hash_sha256("", 0, m.root);
                }
                m.stats = stats;
                memcpy(m.key_id, HAB, HASH_HEX_LEN);
                assert_int_equal(seal_manifest_build(&m, &out), 0);
                if (strcmp(out.data, g->want) != 0)
                        fail_msg("case %s:\n got  %s\n want %s", g->name, out.data, g->want);
                buf_free(&out);
                json_free(stats);
        }
}

struct refuse_case {
        const char *name;
        int how;
        int want;
};

static void test_refused(void **state)
{
        static const struct refuse_case cases[] = {
                { "duplicate criterion", 0, -EINVAL },
                { "count past int64", 1, -ERANGE },
                { "stats not an object", 2, -EINVAL },
                { "no chain", 3, -EINVAL },
        };

        for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
                struct seal_criterion dup[2] = { { "CC6.1", 1, { 0 } }, { "CC6.1", 1, { 0 } } };
                struct seal_manifest m = { .chain = "main" };
                struct buf out = BUF_INIT;
                json *arr = json_new_arr();
                int r;

                memcpy(m.key_id, HAB, HASH_HEX_LEN);
                switch (cases[c].how) {
                case 0: m.criteria = dup; m.n_criteria = 2; break;
                case 1: m.count = (uint64_t)INT64_MAX + 1; break;
                case 2: m.stats = arr; break;
                case 3: m.chain = NULL; break;
                }
                r = seal_manifest_build(&m, &out);
                if (r != cases[c].want)
                        fail_msg("case %s: got %d want %d", cases[c].name, r, cases[c].want);
                buf_free(&out);
                json_free(arr);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden),
                cmocka_unit_test(test_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
