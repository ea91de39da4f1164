/* The verifier's SHA-256 (seal/sha256-ni.c, issue 12 verify8) against OpenSSL (core/hash.c),
 * and the bottom-up Merkle root (seal/merkle.c) against the RFC 6962 recursion.
 *
 * Leaves: every record length from 0 to 300 bytes (each block boundary of the prefixed
 * message, and the padding's one- and two-block tails) and random longer ones up to 5,000,
 * hashed in batches of 1, 2, 3 and more records of mixed lengths, so that the two lanes end
 * at different blocks and take new records at different times; each digest must equal
 * OpenSSL's SHA-256(0x00 || record), with the SHA extensions (when this CPU has them) and on
 * the portable path. Nodes: random pairs, in batches of odd and even sizes, in place and
 * not. Roots: merkle_root_of_indexed and merkle_root_of for every size up to 600 and random
 * sizes past several chunks (256 leaves), with random and NULL index lists, against the
 * recursive definition computed here with OpenSSL; a model that splits at n/2 instead must
 * differ (the comparison bites). issue 12 (verify11): the streaming tree (merkle_chunked,
 * the verifier's roots) fed the same leaves one at a time, one tree reused for every root,
 * and against the incremental tree (merkle_add_leaf) up to several thousand chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "seal/seal.h"
#include "seal/sha256-ni.h"
#include "tests/test-rng.h"

static void model_leaf(const void *p, size_t n, uint8_t out[HASH_LEN])
{
        static const uint8_t prefix = 0x00;

        hash_sha256_2(&prefix, 1, p, n, out);
}

static void model_node(const uint8_t *l, const uint8_t *r, uint8_t out[HASH_LEN])
{
        static const uint8_t prefix = 0x01;

        hash_sha256_3(&prefix, 1, l, HASH_LEN, r, HASH_LEN, out);
}

/* RFC 6962 2.1 as written (split: the largest power of two below n), or at n/2 (wrong). */
static void model_root(const uint8_t (*leaves)[HASH_LEN], const size_t *idx, size_t n,
                       bool wrong, uint8_t out[HASH_LEN])
{
        uint8_t l[HASH_LEN], r[HASH_LEN];
        size_t k = 1;

        if (n == 0) {
                hash_sha256("", 0, out);
                return;
        }
        if (n == 1) {
                memcpy(out, leaves[idx ? idx[0] : 0], HASH_LEN);
                return;
        }
        while (k < n - k)
                k <<= 1;
        if (wrong)
                k = n / 2;
        model_root(leaves, idx, k, wrong, l);
        if (idx)
                model_root(leaves, idx + k, n - k, wrong, r);
        else
                model_root(leaves + k, NULL, n - k, wrong, r);
        model_node(l, r, out);
}

static void check_batch(const struct seal_blob *recs, size_t n, bool ni)
{
        uint8_t (*got)[HASH_LEN] = malloc((n ? n : 1) * HASH_LEN);

        assert_non_null(got);
        sha_leaf_hashes_isa(recs, n, got, ni);
        for (size_t i = 0; i < n; i++) {
                uint8_t want[HASH_LEN];

                model_leaf(recs[i].data, recs[i].len, want);
                if (memcmp(got[i], want, HASH_LEN) != 0)
                        fail_msg("leaf %zu of %zu (%zu bytes, %s) differs from OpenSSL", i, n,
                                 recs[i].len, ni ? "SHA extensions" : "portable");
        }
        free(got);
}

static void test_leaf_lengths(void **state)
{
        (void)state;
        uint64_t rng;
        char *buf = malloc(6000);
        struct seal_blob recs[64];

        assert_non_null(buf);
        rng = 0x9e3779b97f4a7c15ULL * 8;
        for (size_t i = 0; i < 6000; i++)
                buf[i] = (char)test_rng_next(&rng);
        printf("# SHA extensions on this CPU: %s\n", sha_ni_supported() ? "yes" : "no");
        for (int ni = 0; ni <= 1; ni++) {
                /* Every length alone, then in pairs with every other small length. */
                for (size_t len = 0; len <= 300; len++) {
                        recs[0] = (struct seal_blob){ buf + len % 7, len };
                        check_batch(recs, 1, ni);
                        recs[1] = (struct seal_blob){ buf + 1000, 300 - len };
                        check_batch(recs, 2, ni);
                        recs[2] = (struct seal_blob){ buf + 2000, (len * 37) % 301 };
                        check_batch(recs, 3, ni);
                }
                /* issue 12 (verify12): each record alone in an allocation of its exact
                 * length, so that the ASan build catches a read past its end or before its
                 * start (the first block is put together from 16-byte loads). */
                for (size_t len = 0; len <= 300; len++) {
                        char *own = malloc(len ? len : 1);

                        assert_non_null(own);
                        memcpy(own, buf + 3000 + len, len);
                        recs[0] = (struct seal_blob){ own, len };
                        recs[1] = (struct seal_blob){ own, len };
                        check_batch(recs, 1, ni);
                        check_batch(recs, 2, ni);
                        free(own);
                }
                /* Batches of mixed lengths up to 5,000 bytes. */
                for (int round = 0; round < 200; round++) {
                        size_t n = 1 + test_rng_next(&rng) % 64;

                        for (size_t i = 0; i < n; i++) {
                                size_t len = test_rng_next(&rng) % (round % 4 ? 1000 : 5000);
                                size_t at = test_rng_next(&rng) % (6000 - len);

                                recs[i] = (struct seal_blob){ buf + at, len };
                        }
                        check_batch(recs, n, ni);
                }
        }
        /* The CT vector: the leaf hash of the empty record (the root of one empty leaf). */
        uint8_t h[HASH_LEN];
        char hex[HASH_HEX_LEN];
        merkle_leaf_hash("", 0, h);
        assert_string_equal(hash_hex(h, HASH_LEN, hex),
                            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        free(buf);
}

static void test_node_pairs(void **state)
{
        (void)state;
        uint64_t rng;
        uint8_t in[2 * 37][HASH_LEN], out[37][HASH_LEN], inplace[2 * 37][HASH_LEN];

        rng = 0x9e3779b97f4a7c15ULL * 9;
        for (int ni = 0; ni <= 1; ni++) {
                for (size_t pairs = 0; pairs <= 37; pairs++) {
                        for (size_t i = 0; i < 2 * pairs; i++)
                                for (size_t b = 0; b < HASH_LEN; b++)
                                        in[i][b] = (uint8_t)test_rng_next(&rng);
                        memcpy(inplace, in, sizeof(in));
                        sha_node_hashes_isa((const uint8_t (*)[HASH_LEN])in, pairs, out, ni);
                        sha_node_hashes_isa((const uint8_t (*)[HASH_LEN])inplace, pairs,
                                            inplace, ni);
                        for (size_t i = 0; i < pairs; i++) {
                                uint8_t want[HASH_LEN], one[HASH_LEN];

                                model_node(in[2 * i], in[2 * i + 1], want);
                                merkle_node_hash(in[2 * i], in[2 * i + 1], one);
                                if (memcmp(out[i], want, HASH_LEN) != 0 ||
                                    memcmp(inplace[i], want, HASH_LEN) != 0 ||
                                    memcmp(one, want, HASH_LEN) != 0)
                                        fail_msg("node %zu of %zu pairs (%s) differs", i, pairs,
                                                 ni ? "SHA extensions" : "portable");
                        }
                }
        }
}

static struct merkle_chunked *chunked;  /* reused by every check: root empties it */

static void check_root(const uint8_t (*leaves)[HASH_LEN], const size_t *idx, size_t n)
{
        uint8_t got[HASH_LEN], want[HASH_LEN], wrong[HASH_LEN];

        merkle_root_of_indexed(leaves, idx, n, got);
        model_root(leaves, idx, n, false, want);
        if (memcmp(got, want, HASH_LEN) != 0)
                fail_msg("root of %zu leaves (%s) differs from the recursion", n,
                         idx ? "indexed" : "contiguous");
        for (size_t k = 0; k < n; k++)
                assert_int_equal(merkle_chunked_add(chunked, leaves[idx ? idx[k] : k]), 0);
        assert_int_equal(merkle_chunked_count(chunked), n);
        merkle_chunked_root(chunked, got);
        if (memcmp(got, want, HASH_LEN) != 0)
                fail_msg("streamed root of %zu leaves (%s) differs from the recursion", n,
                         idx ? "indexed" : "contiguous");
        assert_int_equal(merkle_chunked_count(chunked), 0);
        if (!idx) {
                merkle_root_of(leaves, n, got);
                assert_memory_equal(got, want, HASH_LEN);
        }
        /* The broken model's tree differs once n is not a power of two (from 3 up). */
        model_root(leaves, idx, n, true, wrong);
        if (n >= 3 && (n & (n - 1)) != 0 && memcmp(wrong, want, HASH_LEN) == 0)
                fail_msg("a tree split at n/2 gave the same root for %zu leaves", n);
}

static void test_roots(void **state)
{
        (void)state;
        uint64_t rng;
        size_t max = 5000;
        uint8_t (*leaves)[HASH_LEN] = malloc(max * HASH_LEN);
        size_t *idx = malloc(max * sizeof(*idx));

        assert_non_null(leaves);
        assert_non_null(idx);
        assert_int_equal(merkle_chunked_new(&chunked), 0);
        rng = 0x9e3779b97f4a7c15ULL * 10;
        for (size_t i = 0; i < max; i++)
                for (size_t b = 0; b < HASH_LEN; b++)
                        leaves[i][b] = (uint8_t)test_rng_next(&rng);
        for (size_t n = 0; n <= 600; n++) {
                size_t at = 0;

                for (size_t i = 0; i < n; i++) {  /* increasing, with gaps, as tags are */
                        at += 1 + test_rng_next(&rng) % 3;
                        idx[i] = at % max;
                }
                check_root((const uint8_t (*)[HASH_LEN])leaves, NULL, n);
                check_root((const uint8_t (*)[HASH_LEN])leaves, idx, n);
        }
        for (int round = 0; round < 40; round++) {
                size_t n = 256 * (1 + test_rng_next(&rng) % 18) + test_rng_next(&rng) % 3 - 1;

                if (n > max)
                        n = max;
                for (size_t i = 0; i < n; i++)
                        idx[i] = test_rng_next(&rng) % max;
                check_root((const uint8_t (*)[HASH_LEN])leaves, NULL, n);
                check_root((const uint8_t (*)[HASH_LEN])leaves, idx, n);
        }
        check_root((const uint8_t (*)[HASH_LEN])leaves, NULL, 4096);
        check_root((const uint8_t (*)[HASH_LEN])leaves, NULL, 4097);
        merkle_chunked_free(chunked);
        chunked = NULL;
        free(leaves);
        free(idx);
}

/* issue 12 (verify11): past the levels the roots above reach (up to ~2^20 leaves, 4096
 * chunks), the streamed root against the incremental tree at sizes around powers of two
 * and random ones, and a tree fed, emptied and fed again. */
static void test_chunked_long(void **state)
{
        (void)state;
        uint64_t rng = 0x9e3779b97f4a7c15ULL * 11;
        size_t sizes[] = { 1, 255, 256, 257, 511, 512, 513, 65535, 65536, 65537, 131072 + 300,
                           (1u << 20) + 1, 0 };
        struct merkle_chunked *t;

        assert_int_equal(merkle_chunked_new(&t), 0);
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]) + 4; s++) {
                size_t n = s < sizeof(sizes) / sizeof(sizes[0]) ? sizes[s]
                                                                : test_rng_next(&rng) % 300000;
                struct merkle *m;
                uint8_t leaf[HASH_LEN], got[HASH_LEN], want[HASH_LEN];

                assert_int_equal(merkle_new(&m), 0);
                for (size_t i = 0; i < n; i++) {
                        for (size_t b = 0; b < HASH_LEN; b += 8) {
                                uint64_t x = test_rng_next(&rng);
                                memcpy(leaf + b, &x, 8);
                        }
                        assert_int_equal(merkle_add_leaf(m, leaf), 0);
                        assert_int_equal(merkle_chunked_add(t, leaf), 0);
                }
                merkle_root(m, want);
                merkle_chunked_root(t, got);
                if (memcmp(got, want, HASH_LEN) != 0)
                        fail_msg("streamed root of %zu leaves differs from merkle_root", n);
                merkle_free(m);
        }
        merkle_chunked_free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_leaf_lengths),
                cmocka_unit_test(test_node_pairs),
                cmocka_unit_test(test_roots),
                cmocka_unit_test(test_chunked_long),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
