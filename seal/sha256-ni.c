/* SHA-256 of Merkle leaves and nodes with the x86 SHA extensions, two messages at a time
 * (issue 12, verify8).
 *
 * Load: every record of every epoch verified (~700 bytes, 12 blocks) and every node of its
 * epoch and criterion trees (65 bytes, 2 blocks): ~1.9 million hashes per million records.
 * OpenSSL's SHA-NI code hashes one message at a time, and a block's 32 dependent
 * sha256rnds2 steps leave the unit idle between them; two independent messages in lockstep
 * fill those gaps (measured here: a 701-byte leaf 320 ns instead of OpenSSL's ~500, a node
 * 49 ns instead of ~80, docs/PERFORMANCE-LOG.md round 8). The digests are SHA-256 (FIPS
 * 180-4), bit for bit: tests/seal/test-verify-sha256.c checks them against OpenSSL over
 * every length from 0 to 300 bytes and random longer ones, and the FIPS vectors.
 *
 * Each lane walks its message M = prefix || data block by block: whole blocks are read in
 * place (an unaligned load from data - 1, because of the prefix byte), the first block and
 * the padded tail (one or two blocks) from small copies. A lane that ends takes the next
 * message, so records of different lengths keep both lanes busy.
 *
 * On CPUs without the extensions (or other architectures) everything goes through
 * core/hash.c (OpenSSL), with the same results. */
#include <pthread.h>
#include <string.h>

#include "core/prefetch.h"  /* issue 12 (verify9) */
#include "seal/sha256-ni.h"

#if defined(__x86_64__) || defined(__i386__)
#define SHA_NI_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#if defined(SHA_NI_X86)
/* The extensions and the SSSE3 / SSE4.1 shuffles and blends the state layout needs. The
 * answer of cpuid (a trap to the hypervisor on a VM, microseconds) is taken once. */
static pthread_once_t ni_once = PTHREAD_ONCE_INIT;
static bool ni_ok;

static void ni_probe(void)
{
        unsigned a, b, c, d;

        if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
                return;
        if (__get_cpuid_max(0, NULL) < 7)
                return;
        __cpuid_count(7, 0, a, b, c, d);
        ni_ok = (b & bit_SHA) != 0;
}

bool sha_ni_supported(void)
{
        pthread_once(&ni_once, ni_probe);
        return ni_ok;
}

#define NI __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t ni_k[64] __attribute__((aligned(16))) = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
};

/* The hash state in the two registers sha256rnds2 works on: ABEF and CDGH. */
struct ni_state {
        __m128i abef, cdgh;
};

NI static inline __m128i ni_bswap_mask(void)
{
        return _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
}

NI static inline void ni_init(struct ni_state *s)
{
        /* H0..H7 of FIPS 180-4 5.3.3, rearranged into ABEF and CDGH. */
        const __m128i abcd = _mm_set_epi32((int)0xa54ff53a, 0x3c6ef372, (int)0xbb67ae85,
                                           0x6a09e667);
        const __m128i efgh = _mm_set_epi32(0x5be0cd19, 0x1f83d9ab, (int)0x9b05688c,
                                           0x510e527f);
        __m128i t = _mm_shuffle_epi32(abcd, 0xb1), u = _mm_shuffle_epi32(efgh, 0x1b);

        s->abef = _mm_alignr_epi8(t, u, 8);
        s->cdgh = _mm_blend_epi16(u, t, 0xf0);
}

NI static inline void ni_final(const struct ni_state *s, uint8_t out[HASH_LEN])
{
        __m128i t = _mm_shuffle_epi32(s->abef, 0x1b), u = _mm_shuffle_epi32(s->cdgh, 0xb1);
        __m128i abcd = _mm_blend_epi16(t, u, 0xf0), efgh = _mm_alignr_epi8(u, t, 8);

        _mm_storeu_si128((__m128i *)(void *)out, _mm_shuffle_epi8(abcd, ni_bswap_mask()));
        _mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_shuffle_epi8(efgh, ni_bswap_mask()));
}

/* The message schedule's next four words from the last sixteen (w[t & 3] is W[4t-16..]),
 * FIPS 180-4 6.2.2 step 1 through sha256msg1/sha256msg2. */
#define NI_SCHEDULE(w, t)                                                                    \
        do {                                                                                  \
                __m128i x_ = _mm_add_epi32(_mm_sha256msg1_epu32(w[(t) & 3], w[((t) + 1) & 3]), \
                                           _mm_alignr_epi8(w[((t) + 3) & 3],                  \
                                                           w[((t) + 2) & 3], 4));             \
                w[(t) & 3] = _mm_sha256msg2_epu32(x_, w[((t) + 3) & 3]);                      \
        } while (0)

/* One 64-byte block into s, its bytes in registers (pb: four 16-byte pieces, as they lie in
 * memory). */
NI static inline void ni_block1_regs(struct ni_state *s, const __m128i pb[4])
{
        __m128i a = s->abef, c = s->cdgh, w[4], m;

        _Pragma("GCC unroll 16") for (int t = 0; t < 16; t++) {
                if (t < 4)
                        w[t] = _mm_shuffle_epi8(pb[t], ni_bswap_mask());
                else
                        NI_SCHEDULE(w, t);
                m = _mm_add_epi32(w[t & 3], _mm_load_si128((const __m128i *)(const void *)
                                                           &ni_k[4 * t]));
                c = _mm_sha256rnds2_epu32(c, a, m);
                a = _mm_sha256rnds2_epu32(a, c, _mm_shuffle_epi32(m, 0x0e));
        }
        s->abef = _mm_add_epi32(s->abef, a);
        s->cdgh = _mm_add_epi32(s->cdgh, c);
}

/* One block of each of two independent messages, interleaved round by round; the blocks'
 * bytes in registers (pb, qb: four 16-byte pieces each, as they lie in memory; issue 12,
 * verify12: a node's blocks are put together there, ni_node_regs). */
NI static inline void ni_block2_regs(struct ni_state *s, const __m128i pb[4], struct ni_state *r,
                                     const __m128i qb[4])
{
        __m128i a = s->abef, c = s->cdgh, b = r->abef, d = r->cdgh, w[4], v[4], m, n;

        _Pragma("GCC unroll 16") for (int t = 0; t < 16; t++) {
                if (t < 4) {
                        w[t] = _mm_shuffle_epi8(pb[t], ni_bswap_mask());
                        v[t] = _mm_shuffle_epi8(qb[t], ni_bswap_mask());
                } else {
                        NI_SCHEDULE(w, t);
                        NI_SCHEDULE(v, t);
                }
                __m128i k = _mm_load_si128((const __m128i *)(const void *)&ni_k[4 * t]);
                m = _mm_add_epi32(w[t & 3], k);
                n = _mm_add_epi32(v[t & 3], k);
                c = _mm_sha256rnds2_epu32(c, a, m);
                d = _mm_sha256rnds2_epu32(d, b, n);
                a = _mm_sha256rnds2_epu32(a, c, _mm_shuffle_epi32(m, 0x0e));
                b = _mm_sha256rnds2_epu32(b, d, _mm_shuffle_epi32(n, 0x0e));
        }
        s->abef = _mm_add_epi32(s->abef, a);
        s->cdgh = _mm_add_epi32(s->cdgh, c);
        r->abef = _mm_add_epi32(r->abef, b);
        r->cdgh = _mm_add_epi32(r->cdgh, d);
}

NI static inline void ni_load_block(__m128i out[4], const uint8_t *p)
{
        for (int t = 0; t < 4; t++)
                out[t] = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * t));
}

/* One 64-byte block at p into s. */
NI static inline void ni_block1(struct ni_state *s, const uint8_t *p)
{
        __m128i pb[4];

        ni_load_block(pb, p);
        ni_block1_regs(s, pb);
}

/* One block of each of two independent messages at p and q. */
NI static inline void ni_block2(struct ni_state *s, const uint8_t *p, struct ni_state *r,
                                const uint8_t *q)
{
        __m128i pb[4], qb[4];

        ni_load_block(pb, p);
        ni_load_block(qb, q);
        ni_block2_regs(s, pb, r, qb);
}

/* One message prefix || data[0, len) walked block by block (see the file's comment). */
struct ni_lane {
        const uint8_t *data;
        size_t j, nb;           /* the next block, the blocks in all */
        size_t jt;              /* the first block taken from tail */
        uint8_t *out;
        struct ni_state st;
        /* block 0 when it is not in tail; issue 12 (verify12): aligned, written by
         * lane_start as four 16-byte pieces */
        uint8_t first[64] __attribute__((aligned(16)));
        uint8_t tail[128];      /* blocks jt..nb-1: the message's end and the padding */
};

NI static void lane_start(struct ni_lane *l, uint8_t prefix, const uint8_t *data, size_t len,
                          uint8_t *out)
{
        size_t m = len + 1;                      /* the message's bytes, prefix included */
        size_t padded = (m + 9 + 63) & ~(size_t)63;
        size_t off, k;
        uint64_t bits = (uint64_t)m * 8;

        l->data = data;
        l->out = out;
        l->j = 0;
        l->nb = padded / 64;
        l->jt = m / 64;
        off = 64 * l->jt;  /* the tail's first byte, as an offset into the message */
        if (l->jt == 0) {
                l->tail[0] = prefix;
                if (len)
                        memcpy(l->tail + 1, data, len);
        } else {
                /* issue 12 (verify12): prefix || data[0, 63) from four loads inside the
                 * record (len >= 63), shifted by one byte and stored as the four aligned
                 * 16-byte pieces ni_block2 loads at once; the loads did not match a
                 * memcpy's stores and waited for them (a leaf ~2.5 % faster, shab in
                 * the round-12 log). */
                __m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)data);
                __m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(data + 16));
                __m128i x2 = _mm_loadu_si128((const __m128i *)(const void *)(data + 32));
                __m128i x3 = _mm_loadu_si128((const __m128i *)(const void *)(data + 47));
                __m128i *f = (__m128i *)(void *)l->first;

                _mm_store_si128(f, _mm_or_si128(_mm_slli_si128(x0, 1),
                                                _mm_cvtsi32_si128(prefix)));
                _mm_store_si128(f + 1, _mm_alignr_epi8(x1, x0, 15));
                _mm_store_si128(f + 2, _mm_alignr_epi8(x2, x1, 15));
                _mm_store_si128(f + 3, x3);
                memcpy(l->tail, data + off - 1, m - off);
        }
        k = m - off;
        l->tail[k++] = 0x80;
        memset(l->tail + k, 0, padded - off - k - 8);
        for (int i = 0; i < 8; i++)
                l->tail[padded - off - 1 - (size_t)i] = (uint8_t)(bits >> (8 * i));
        ni_init(&l->st);
}

/* The lane's next block; blocks 1..jt-1 lie whole inside data (at data + 64j - 1). */
static inline const uint8_t *lane_block(struct ni_lane *l)
{
        size_t j = l->j++;

        if (j >= l->jt)
                return l->tail + 64 * (j - l->jt);
        return j == 0 ? l->first : l->data + 64 * j - 1;
}

NI static void lane_finish_alone(struct ni_lane *l)
{
        while (l->j < l->nb)
                ni_block1(&l->st, lane_block(l));
        ni_final(&l->st, l->out);
}

/* issue 12 (verify9): the lines of recs[i] (at most LEAF_PREFETCH_MAX bytes) asked into the
 * cache while the lanes hash the two records before it. In `verify --export` the records
 * were just read and scanned by the other thread, so their lines sit in the other core's
 * cache; a lane that starts on them waited for each line in turn (the copies of the first
 * block and the tail showed as memmove in the hashing thread's profile). */
#define LEAF_PREFETCH_MAX 1024

static inline void leaf_prefetch(const struct seal_blob *recs, size_t n, size_t i)
{
        if (i >= n)
                return;
        const char *p = recs[i].data;
        size_t len = recs[i].len < LEAF_PREFETCH_MAX ? recs[i].len : LEAF_PREFETCH_MAX;

        for (size_t off = 0; off < len; off += 64)
                prefetch(p + off);
        if (len)
                prefetch(p + len - 1);
}

NI static void ni_leaves(const struct seal_blob *recs, size_t n, uint8_t (*out)[HASH_LEN])
{
        struct ni_lane a, b;
        size_t next = 2;

        leaf_prefetch(recs, n, 2);
        leaf_prefetch(recs, n, 3);

        lane_start(&a, 0x00, (const uint8_t *)recs[0].data, recs[0].len, out[0]);
        if (n == 1) {
                lane_finish_alone(&a);
                return;
        }
        lane_start(&b, 0x00, (const uint8_t *)recs[1].data, recs[1].len, out[1]);
        for (;;) {
                const uint8_t *p = lane_block(&a), *q = lane_block(&b);

                ni_block2(&a.st, p, &b.st, q);
                if (a.j == a.nb) {
                        ni_final(&a.st, a.out);
                        if (next == n) {
                                lane_finish_alone(&b);
                                return;
                        }
                        lane_start(&a, 0x00, (const uint8_t *)recs[next].data, recs[next].len,
                                   out[next]);
                        leaf_prefetch(recs, n, next + 2);
                        next++;
                }
                if (b.j == b.nb) {
                        ni_final(&b.st, b.out);
                        if (next == n) {
                                lane_finish_alone(&a);
                                return;
                        }
                        lane_start(&b, 0x00, (const uint8_t *)recs[next].data, recs[next].len,
                                   out[next]);
                        leaf_prefetch(recs, n, next + 2);
                        next++;
                }
        }
}

/* The two blocks of a node's message 0x01 || left || right (65 bytes) and its padding, in
 * eight registers. issue 12 (verify12): put together from the two hashes' four 16-byte
 * pieces shifted by the prefix byte (block 0 is 0x01 || left || right[0, 31), block 1
 * right[31] || 0x80, zeros, and the length 0x0208 in its last two bytes), not copied to the
 * stack: the block's loads that followed at once spanned two of the copy's stores and
 * waited for them (a node hash 55-58 ns, now 45-48: bench/verify-scan). */
NI static inline void ni_node_regs(__m128i b[8], const uint8_t *left, const uint8_t *right)
{
        __m128i l0 = _mm_loadu_si128((const __m128i *)(const void *)left);
        __m128i l1 = _mm_loadu_si128((const __m128i *)(const void *)(left + 16));
        __m128i r0 = _mm_loadu_si128((const __m128i *)(const void *)right);
        __m128i r1 = _mm_loadu_si128((const __m128i *)(const void *)(right + 16));

        b[0] = _mm_or_si128(_mm_slli_si128(l0, 1), _mm_cvtsi32_si128(0x01));
        b[1] = _mm_alignr_epi8(l1, l0, 15);
        b[2] = _mm_alignr_epi8(r0, l1, 15);
        b[3] = _mm_alignr_epi8(r1, r0, 15);
        b[4] = _mm_or_si128(_mm_srli_si128(r1, 15), _mm_cvtsi32_si128(0x8000));
        b[5] = _mm_setzero_si128();
        b[6] = _mm_setzero_si128();
        b[7] = _mm_set_epi64x(0x0802000000000000LL, 0);
}

NI static void ni_node1(const uint8_t *left, const uint8_t *right, uint8_t out[HASH_LEN])
{
        __m128i b[8];
        struct ni_state s;

        ni_node_regs(b, left, right);  /* both loaded before out is written */
        ni_init(&s);
        ni_block1_regs(&s, b);
        ni_block1_regs(&s, b + 4);
        ni_final(&s, out);
}

NI static void ni_nodes(const uint8_t (*in)[HASH_LEN], size_t n_pairs,
                        uint8_t (*out)[HASH_LEN])
{
        size_t i = 0;

        for (; i + 2 <= n_pairs; i += 2) {
                __m128i p[8], q[8];
                struct ni_state s, r;

                /* Both inputs are loaded before either output is written: out may be in. */
                ni_node_regs(p, in[2 * i], in[2 * i + 1]);
                ni_node_regs(q, in[2 * i + 2], in[2 * i + 3]);
                ni_init(&s);
                ni_init(&r);
                ni_block2_regs(&s, p, &r, q);
                ni_block2_regs(&s, p + 4, &r, q + 4);
                ni_final(&s, out[i]);
                ni_final(&r, out[i + 1]);
        }
        if (i < n_pairs)
                ni_node1(in[2 * i], in[2 * i + 1], out[i]);
}
#else
bool sha_ni_supported(void)
{
        return false;
}
#endif

/* The portable path: OpenSSL, through merkle_leaf_hash and merkle_node_hash (seal/merkle.c),
 * which the daemon uses for its own leaves and trees. merkle_node_hash copies both inputs
 * before hashing, so out may be either of them. */
static void portable_leaves(const struct seal_blob *recs, size_t n, uint8_t (*out)[HASH_LEN])
{
        for (size_t i = 0; i < n; i++)
                merkle_leaf_hash(recs[i].data, recs[i].len, out[i]);
}

static void portable_node(const uint8_t *left, const uint8_t *right, uint8_t out[HASH_LEN])
{
        merkle_node_hash(left, right, out);
}

void sha_leaf_hashes_isa(const struct seal_blob *recs, size_t n, uint8_t (*out)[HASH_LEN],
                         bool ni)
{
        if (n == 0)
                return;
#if defined(SHA_NI_X86)
        if (ni && sha_ni_supported()) {
                ni_leaves(recs, n, out);
                return;
        }
#endif
        (void)ni;
        portable_leaves(recs, n, out);
}

void sha_leaf_hashes(const struct seal_blob *recs, size_t n, uint8_t (*out)[HASH_LEN])
{
        sha_leaf_hashes_isa(recs, n, out, true);
}

void sha_node_hashes_isa(const uint8_t (*in)[HASH_LEN], size_t n_pairs,
                         uint8_t (*out)[HASH_LEN], bool ni)
{
#if defined(SHA_NI_X86)
        if (ni && sha_ni_supported()) {
                ni_nodes(in, n_pairs, out);
                return;
        }
#endif
        (void)ni;
        for (size_t i = 0; i < n_pairs; i++)
                portable_node(in[2 * i], in[2 * i + 1], out[i]);  /* copies both first */
}

void sha_node_hashes(const uint8_t (*in)[HASH_LEN], size_t n_pairs, uint8_t (*out)[HASH_LEN])
{
        sha_node_hashes_isa(in, n_pairs, out, true);
}

void sha_node_hash(const uint8_t left[HASH_LEN], const uint8_t right[HASH_LEN],
                   uint8_t out[HASH_LEN])
{
#if defined(SHA_NI_X86)
        if (sha_ni_supported()) {
                ni_node1(left, right, out);
                return;
        }
#endif
        portable_node(left, right, out);
}
