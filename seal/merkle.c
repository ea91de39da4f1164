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
 * Leaves are reduced a chunk of MERKLE_CHUNK at a time; the roots of the full chunks are
 * perfect subtrees, merged like merkle_add_leaf merges leaves, and the last, partial chunk's
 * root is the rightmost piece the fold starts from, as in merkle_root.
 * tests/seal/test-verify-sha256.c checks it against the recursive definition.
 *
 * issue 12 (verify11): the same reduction fed one leaf at a time (struct merkle_chunked), so
 * that the verifier builds the epoch's tree and each criterion's while the leaves are hashed
 * instead of keeping every leaf for the end: the node hashes are the same, in the same
 * pairs. merkle_root_of_indexed is that tree fed from an array. */
#define MERKLE_CHUNK 256  /* leaves per chunk: 8 KiB */
#define MERKLE_CHUNK_MIN 8  /* a chunk buffer's first size: a criterion of one tag is small */

struct merkle_chunked {
        uint8_t (*buf)[HASH_LEN];   /* the current chunk's leaves, fill of buf_alloc */
        size_t fill, buf_alloc;     /* buf_alloc doubles from MERKLE_CHUNK_MIN to CHUNK */
        uint64_t chunks;            /* full chunks merged into level[], as count in merkle */
        uint8_t (*level)[HASH_LEN]; /* level[i]: root of 2^i chunks when bit i of chunks */
        unsigned n_level;           /* levels allocated (bits of chunks so far) */
};

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

/* The full chunk in t->buf reduced and merged into the levels. 0 or -ENOMEM. */
static int chunked_merge(struct merkle_chunked *t)
{
        uint8_t carry[HASH_LEN];
        unsigned i = 0;

        /* One level per bit of chunks, as merkle_add_leaf's stack: chunks + 1 needs
         * bit_length(chunks + 1) levels, at most one more than now. */
        if (t->n_level < MERKLE_MAX_LEVELS && t->chunks + 1 >= (UINT64_C(1) << t->n_level)) {
                uint8_t (*nl)[HASH_LEN] = realloc(t->level, (t->n_level + 1) * sizeof(*nl));

                if (!nl)
                        return -ENOMEM;
                t->level = nl;
                t->n_level++;
        }
        chunk_root(t->buf, MERKLE_CHUNK, carry);
        while (t->chunks & (UINT64_C(1) << i)) {
                merkle_node_hash(t->level[i], carry, carry);
                i++;
        }
        memcpy(t->level[i], carry, HASH_LEN);
        t->chunks++;
        t->fill = 0;
        return 0;
}

int merkle_chunked_new(struct merkle_chunked **ret)
{
        struct merkle_chunked *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

void merkle_chunked_free(struct merkle_chunked *t)
{
        if (!t)
                return;
        free(t->buf);
        free(t->level);
        free(t);
}

void merkle_chunked_reset(struct merkle_chunked *t)
{
        t->fill = 0;
        t->chunks = 0;
}

uint64_t merkle_chunked_count(const struct merkle_chunked *t)
{
        return t->chunks * MERKLE_CHUNK + t->fill;
}

/* Room for one more leaf in the chunk buffer. 0 or -ENOMEM. */
static int chunked_room(struct merkle_chunked *t)
{
        size_t na = t->buf_alloc ? 2 * t->buf_alloc : MERKLE_CHUNK_MIN;
        uint8_t (*nb)[HASH_LEN];

        if (t->fill < t->buf_alloc)
                return 0;
        if (na > MERKLE_CHUNK)
                na = MERKLE_CHUNK;
        nb = realloc(t->buf, na * sizeof(*nb));
        if (!nb)
                return -ENOMEM;
        t->buf = nb;
        t->buf_alloc = na;
        return 0;
}

int merkle_chunked_add(struct merkle_chunked *t, const uint8_t leaf[HASH_LEN])
{
        int r;

        if (t->fill == t->buf_alloc && (r = chunked_room(t)) < 0)
                return r;
        memcpy(t->buf[t->fill++], leaf, HASH_LEN);
        if (t->fill == MERKLE_CHUNK && (r = chunked_merge(t)) < 0) {
                t->fill--;  /* nothing merged: the leaf is not taken */
                return r;
        }
        return 0;
}

void merkle_chunked_root(struct merkle_chunked *t, uint8_t out[HASH_LEN])
{
        uint8_t acc[HASH_LEN];
        bool have = false;

        if (t->chunks == 0 && t->fill == 0) {
                hash_sha256("", 0, out);
                return;
        }
        if (t->fill) {
                chunk_root(t->buf, t->fill, acc);
                have = true;
        }
        /* Smallest first, as merkle_root folds. */
        for (unsigned i = 0; i < t->n_level; i++) {
                if (!(t->chunks & (UINT64_C(1) << i)))
                        continue;
                if (!have) {
                        memcpy(acc, t->level[i], HASH_LEN);
                        have = true;
                } else {
                        merkle_node_hash(t->level[i], acc, acc);
                }
        }
        memcpy(out, acc, HASH_LEN);
        merkle_chunked_reset(t);
}

void merkle_root_of_indexed(const uint8_t (*leaves)[HASH_LEN], const size_t *idx, size_t n,
                            uint8_t out[HASH_LEN])
{
        /* On the stack, so that the call cannot fail: levels for any 64-bit count. */
        uint8_t buf[MERKLE_CHUNK][HASH_LEN], level[MERKLE_MAX_LEVELS][HASH_LEN];
        struct merkle_chunked t = { .buf = buf, .buf_alloc = MERKLE_CHUNK, .level = level,
                                    .n_level = MERKLE_MAX_LEVELS };

        for (size_t k = 0; k < n; k++) {
                memcpy(t.buf[t.fill++], leaves[idx ? idx[k] : k], HASH_LEN);
                if (t.fill == MERKLE_CHUNK)
                        (void)chunked_merge(&t);  /* all levels are there: cannot fail */
        }
        merkle_chunked_root(&t, out);
}

void merkle_root_of(const uint8_t (*leaves)[HASH_LEN], size_t n, uint8_t out[HASH_LEN])
{
        merkle_root_of_indexed(leaves, NULL, n, out);
}
