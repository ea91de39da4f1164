/* Merkle trees of records, RFC 6962 section 2.1.
 *
 * The incremental tree keeps only the roots of its perfect subtrees, one per set bit of the
 * leaf count (a Certificate Transparency "compact range"): adding a leaf merges equal-sized
 * subtrees like a binary counter increments, so hashing costs O(1) amortised per leaf and
 * memory O(log n). The root folds the stack from the smallest subtree to the largest, which
 * gives exactly the RFC's tree (split at the largest power of two below n) because the left
 * subtrees of that tree are the perfect subtrees of the binary decomposition of n.
 *
 * merkle_root_of is the plain recursive definition, kept as the model the tests and the
 * verifier check the incremental tree against. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "seal/seal.h"

/* One level per bit of the 64-bit leaf count: the stack can never overflow. */
#define MERKLE_MAX_LEVELS 64

struct merkle {
        uint64_t count;
        /* level[i] is the root of the perfect subtree of 2^i leaves when bit i of count is
         * set; otherwise unused. */
        uint8_t level[MERKLE_MAX_LEVELS][HASH_LEN];
};

/* issue 12: through the by-value digest state rather than the EVP context: the same
 * SHA-256 code (the CPU's SHA extensions), without EVP's dispatch, which cost about a third
 * of a node hash (65 bytes) and a tenth of a record's leaf hash. */
void merkle_leaf_hash(const void *rec, size_t len, uint8_t out[HASH_LEN])
{
        static const uint8_t prefix = 0x00;
        struct hash_sha256_state st;

        hash_sha256_begin(&st);
        hash_sha256_update(&st, &prefix, 1);
        hash_sha256_update(&st, rec, len);
        hash_sha256_end(&st, out);
}

void merkle_node_hash(const uint8_t left[HASH_LEN], const uint8_t right[HASH_LEN],
                      uint8_t out[HASH_LEN])
{
        uint8_t in[1 + 2 * HASH_LEN];
        struct hash_sha256_state st;

        in[0] = 0x01;
        memcpy(in + 1, left, HASH_LEN);
        memcpy(in + 1 + HASH_LEN, right, HASH_LEN);
        hash_sha256_begin(&st);
        hash_sha256_update(&st, in, sizeof(in));
        hash_sha256_end(&st, out);
}

int merkle_new(struct merkle **ret)
{
        struct merkle *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        *ret = m;
        return 0;
}

void merkle_free(struct merkle *m)
{
        free(m);
}

int merkle_add_leaf(struct merkle *m, const uint8_t leaf[HASH_LEN])
{
        uint8_t carry[HASH_LEN];
        unsigned i = 0;

        if (m->count == UINT64_MAX)
                return -E2BIG;
        memcpy(carry, leaf, HASH_LEN);
        /* Each set low bit is a subtree of the same size as carry, to its left: merge. */
        while (m->count & (UINT64_C(1) << i)) {
                merkle_node_hash(m->level[i], carry, carry);
                i++;
        }
        memcpy(m->level[i], carry, HASH_LEN);
        m->count++;
        return 0;
}

uint64_t merkle_count(const struct merkle *m)
{
        return m->count;
}

void merkle_root(const struct merkle *m, uint8_t out[HASH_LEN])
{
        uint8_t acc[HASH_LEN];
        bool have = false;

        if (m->count == 0) {
                hash_sha256("", 0, out);
                return;
        }
        /* Smallest subtree first: it is the rightmost, and every larger one sits to the left
         * of everything folded so far. */
        for (unsigned i = 0; i < MERKLE_MAX_LEVELS; i++) {
                if (!(m->count & (UINT64_C(1) << i)))
                        continue;
                if (!have) {
                        memcpy(acc, m->level[i], HASH_LEN);
                        have = true;
                } else {
                        merkle_node_hash(m->level[i], acc, acc);
                }
        }
        memcpy(out, acc, HASH_LEN);
}

void merkle_root_of_indexed(const uint8_t (*leaves)[HASH_LEN], const size_t *idx, size_t n,
                            uint8_t out[HASH_LEN])
{
        uint8_t left[HASH_LEN], right[HASH_LEN];
        size_t k = 1;

        if (n == 0) {
                hash_sha256("", 0, out);
                return;
        }
        if (n == 1) {
                memcpy(out, leaves[idx ? idx[0] : 0], HASH_LEN);
                return;
        }
        /* k = the largest power of two strictly less than n. */
        while (k < n - k)
                k <<= 1;
        merkle_root_of_indexed(leaves, idx, k, left);
        if (idx)
                merkle_root_of_indexed(leaves, idx + k, n - k, right);
        else
                merkle_root_of_indexed(leaves + k, NULL, n - k, right);
        merkle_node_hash(left, right, out);
}

void merkle_root_of(const uint8_t (*leaves)[HASH_LEN], size_t n, uint8_t out[HASH_LEN])
{
        merkle_root_of_indexed(leaves, NULL, n, out);
}
