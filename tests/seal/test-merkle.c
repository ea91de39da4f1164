/* Merkle trees: known-answer vectors from RFC 6962 (the ones Certificate Transparency
 * implementations test against), the incremental tree against the recursive reference for
 * every size up to 300 and random larger ones, and a deliberately wrong model (splitting at
 * n/2) to show that the comparison catches a wrong tree shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "seal/seal.h"
#include "tests/test-rng.h"

/* The eight leaves of the CT test suite (hex of each leaf's bytes). */
static const char *const ct_leaves[] = {
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
};

struct kat_case {
        const char *name;
        size_t n;
        const char *root;
};

/* Roots of the first n CT leaves; checked against an independent Python hashlib
 * implementation of RFC 6962 2.1 and the published CT vectors. */
static const struct kat_case kat_cases[] = {
        { "empty", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "1 leaf", 1, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d" },
        { "2 leaves", 2, "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" },
        { "3 leaves", 3, "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77" },
        { "4 leaves", 4, "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" },
        { "5 leaves", 5, "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4" },
        { "6 leaves", 6, "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef" },
        { "7 leaves", 7, "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c" },
        { "8 leaves", 8, "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328" },
};

static void ct_leaf_hashes(uint8_t out[8][HASH_LEN])
{
        for (size_t i = 0; i < 8; i++) {
                uint8_t bytes[16];
                size_t n = strlen(ct_leaves[i]) / 2;

                assert_int_equal(hash_unhex(ct_leaves[i], 2 * n, bytes, n), 0);
                merkle_leaf_hash(bytes, n, out[i]);
        }
}

static void expect_root(const char *name, const char *what, const uint8_t got[HASH_LEN],
                        const char *want)
{
        char hex[HASH_HEX_LEN];

        hash_hex(got, HASH_LEN, hex);
        if (strcmp(hex, want) != 0)
                fail_msg("case %s (%s): root %s, expected %s", name, what, hex, want);
}

static void test_known_answers(void **state)
{
        uint8_t leaves[8][HASH_LEN];

        ct_leaf_hashes(leaves);
        for (size_t c = 0; c < sizeof(kat_cases) / sizeof(*kat_cases); c++) {
                const struct kat_case *k = &kat_cases[c];
                struct merkle *m = NULL;
                uint8_t root[HASH_LEN];

                merkle_root_of((const uint8_t (*)[HASH_LEN])leaves, k->n, root);
                expect_root(k->name, "reference", root, k->root);
                assert_int_equal(merkle_new(&m), 0);
                for (size_t i = 0; i < k->n; i++)
                        assert_int_equal(merkle_add_leaf(m, leaves[i]), 0);
                assert_int_equal(merkle_count(m), k->n);
                merkle_root(m, root);
                expect_root(k->name, "incremental", root, k->root);
                merkle_free(m);
        }
}

/* Leaves and nodes are hashed in separate domains: 64 bytes hashed as a record never give
 * the node of its two halves (RFC 6962 2.1, second-preimage resistance). */
static void test_domain_separation(void **state)
{
        uint8_t two[2][HASH_LEN], leaf[HASH_LEN], node[HASH_LEN];

        memset(two[0], 0xaa, HASH_LEN);
        memset(two[1], 0x55, HASH_LEN);
        merkle_leaf_hash(two, sizeof(two), leaf);
        merkle_node_hash(two[0], two[1], node);
        assert_memory_not_equal(leaf, node, HASH_LEN);
}

/* A deliberately wrong tree: splits at n/2 instead of the largest power of two below n. */
static void broken_root_of(const uint8_t (*leaves)[HASH_LEN], size_t n, uint8_t out[HASH_LEN])
{
        uint8_t l[HASH_LEN], r[HASH_LEN];

        if (n == 0) {
                hash_sha256("", 0, out);
                return;
        }
        if (n == 1) {
                memcpy(out, leaves[0], HASH_LEN);
                return;
        }
        broken_root_of(leaves, n / 2, l);
        broken_root_of(leaves + n / 2, n - n / 2, r);
        merkle_node_hash(l, r, out);
}

typedef void (*root_model)(const uint8_t (*leaves)[HASH_LEN], size_t n, uint8_t out[HASH_LEN]);

/* Feeds n_max leaves one by one; returns the first tree size where the incremental root and
 * the model disagree, or -1 when they agree at every size in sizes. */
static long first_disagreement(root_model model, const size_t *sizes, size_t n_sizes,
                               size_t n_max)
{
        uint8_t (*leaves)[HASH_LEN] = calloc(n_max ? n_max : 1, HASH_LEN);
        struct merkle *m = NULL;
        long bad = -1;
        size_t next = 0;

        assert_non_null(leaves);
        assert_int_equal(merkle_new(&m), 0);
        for (size_t n = 0; n <= n_max && bad < 0 && next < n_sizes; n++) {
                if (n == sizes[next]) {
                        uint8_t a[HASH_LEN], b[HASH_LEN];

                        merkle_root(m, a);
                        model((const uint8_t (*)[HASH_LEN])leaves, n, b);
                        if (memcmp(a, b, HASH_LEN) != 0)
                                bad = (long)n;
                        while (next < n_sizes && sizes[next] == n)
                                next++;
                }
                if (n < n_max) {
                        uint64_t i = n;

                        merkle_leaf_hash(&i, sizeof(i), leaves[n]);
                        assert_int_equal(merkle_add_leaf(m, leaves[n]), 0);
                }
        }
        /* Every size asked for was compared (or a disagreement stopped the walk). */
        assert_true(bad >= 0 || next == n_sizes);
        merkle_free(m);
        free(leaves);
        return bad;
}

static void test_incremental_vs_reference(void **state)
{
        size_t sizes[301];

        for (size_t i = 0; i <= 300; i++)
                sizes[i] = i;
        assert_int_equal(first_disagreement(merkle_root_of, sizes, 301, 300), -1);
}

static int cmp_size(const void *a, const void *b)
{
        size_t x = *(const size_t *)a, y = *(const size_t *)b;

        return x < y ? -1 : x > y;
}

static void test_random_sizes(void **state)
{
        size_t sizes[40];
        uint64_t x = 0x9e3779b97f4a7c15u;      /* fixed seed: failures reproduce */

        for (size_t i = 0; i < 40; i++) {
                sizes[i] = 301 + (size_t)(test_rng_next(&x) % 8000);
        }
        sizes[39] = 8192;                       /* a power of two */
        sizes[38] = 8193;                       /* and one past it */
        qsort(sizes, 40, sizeof(*sizes), cmp_size);
        assert_int_equal(first_disagreement(merkle_root_of, sizes, 40, 8193), -1);
}

/* The checker must bite: the n/2 model agrees on powers of two and disagrees at n = 3. */
static void test_broken_model_is_caught(void **state)
{
        size_t sizes[301];
        size_t pow2[] = { 0, 1, 2, 4, 8, 16, 32, 64, 128, 256 };

        for (size_t i = 0; i <= 300; i++)
                sizes[i] = i;
        assert_int_equal(first_disagreement(broken_root_of, sizes, 301, 300), 3);
        assert_int_equal(first_disagreement(broken_root_of, pow2, 10, 256), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_answers),
                cmocka_unit_test(test_domain_separation),
                cmocka_unit_test(test_incremental_vs_reference),
                cmocka_unit_test(test_random_sizes),
                cmocka_unit_test(test_broken_model_is_caught),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
