/* Merkle trees of records, RFC 6962 section 2.1.
 *
 * The incremental tree keeps only the roots of its perfect subtrees, one per set bit of the
 * leaf count (a Certificate Transparency "compact range"): adding a leaf merges equal-sized
 * subtrees like a binary counter increments, so hashing costs O(1) amortised per leaf and
 * memory O(log n). The root folds the stack from the smallest subtree to the largest, which
 * gives exactly the RFC's tree (split at the largest power of two below n) because the left
 * subtrees of that tree are the perfect subtrees of the binary decomposition of n.
 *
 * merkle_root_of computes the same tree from all leaves at once (bottom-up since round 8);
 * the tests check the incremental tree against it and it against the RFC's recursion. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "seal/seal.h"
#include "seal/sha256-ni.h"  /* issue 12 (verify8) */

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
 * of a node hash (65 bytes) and a tenth of a record's leaf hash. The daemon's leaves and
 * incremental trees stay on OpenSSL on purpose: evidence is made with the vetted library,
 * and the verifier (seal/verify-hash.c, merkle_root_of below) recomputes every leaf and
 * root with seal/sha256-ni.c where the CPU has the SHA extensions, so each verification
 * also checks one SHA-256 implementation against the other. */
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

/* issue 12 (verify8): bottom-up rather than by the RFC's recursion, so that the node hashes
 * of a level go two at a time through sha_node_hashes (independent pairs). Pairing nodes
 * level by level and carrying an odd last node up gives the RFC 6962 tree: its left
 * subtrees are perfect and start at multiples of their size, so no pair crosses a split.
 * Leaves are reduced a chunk of MERKLE_CHUNK at a time in a buffer on the stack (no
 * allocation, so the call cannot fail); the roots of the full chunks are perfect subtrees,
 * merged like merkle_add_leaf merges leaves, and the last, partial chunk's root is the
 * rightmost piece the fold starts from, as in merkle_root. tests/seal/test-verify-sha256.c
 * checks it against the recursive definition. */
#define MERKLE_CHUNK 256  /* leaves per chunk: 8 KiB of stack */

/* The root of the n (1 <= n <= MERKLE_CHUNK) nodes in buf, which it overwrites. */
static void chunk_root(uint8_t (*buf)[HASH_LEN], size_t n, uint8_t out[HASH_LEN])
{
        while (n > 1) {
                size_t pairs = n / 2;

                sha_node_hashes((const uint8_t (*)[HASH_LEN])buf, pairs, buf);
                if (n & 1)
                        memcpy(buf[pairs], buf[n - 1], HASH_LEN);
                n = pairs + (n & 1);
        }
        memcpy(out, buf[0], HASH_LEN);
}

/* Copies leaves [from, from + n) of the chosen sequence into buf. */
static void chunk_gather(uint8_t (*buf)[HASH_LEN], const uint8_t (*leaves)[HASH_LEN],
                         const size_t *idx, size_t from, size_t n)
{
        if (!idx) {
                memcpy(buf, leaves[from], n * HASH_LEN);
                return;
        }
        for (size_t k = 0; k < n; k++)
                memcpy(buf[k], leaves[idx[from + k]], HASH_LEN);
}

void merkle_root_of_indexed(const uint8_t (*leaves)[HASH_LEN], const size_t *idx, size_t n,
                            uint8_t out[HASH_LEN])
{
        uint8_t buf[MERKLE_CHUNK][HASH_LEN], level[MERKLE_MAX_LEVELS][HASH_LEN], acc[HASH_LEN];
        size_t full = n / MERKLE_CHUNK, rest = n % MERKLE_CHUNK;
        uint64_t count = 0;  /* full chunks merged into level[], as merkle_add_leaf counts */
        bool have = false;

        if (n == 0) {
                hash_sha256("", 0, out);
                return;
        }
        for (size_t c = 0; c < full; c++) {
                uint8_t carry[HASH_LEN];
                unsigned i = 0;

                chunk_gather(buf, leaves, idx, c * MERKLE_CHUNK, MERKLE_CHUNK);
                chunk_root(buf, MERKLE_CHUNK, carry);
                while (count & (UINT64_C(1) << i)) {
                        merkle_node_hash(level[i], carry, carry);
                        i++;
                }
                memcpy(level[i], carry, HASH_LEN);
                count++;
        }
        if (rest) {
                chunk_gather(buf, leaves, idx, full * MERKLE_CHUNK, rest);
                chunk_root(buf, rest, acc);
                have = true;
        }
        /* Smallest first, as merkle_root folds. */
        for (unsigned i = 0; i < MERKLE_MAX_LEVELS; i++) {
                if (!(count & (UINT64_C(1) << i)))
                        continue;
                if (!have) {
                        memcpy(acc, level[i], HASH_LEN);
                        have = true;
                } else {
                        merkle_node_hash(level[i], acc, acc);
                }
        }
        memcpy(out, acc, HASH_LEN);
}

void merkle_root_of(const uint8_t (*leaves)[HASH_LEN], size_t n, uint8_t out[HASH_LEN])
{
        merkle_root_of_indexed(leaves, NULL, n, out);
}
