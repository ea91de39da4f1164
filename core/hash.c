/* SHA-256 and hex helpers.
 *
 * Hashing goes through OpenSSL's one-shot EVP digest API so that the CPU's SHA extensions are
 * used. Everything here is thread-safe: the only state is one reused context per thread. An EVP
 * failure can only mean out of memory inside OpenSSL; we then abort rather than hand out a
 * wrong digest, because a silently wrong hash would corrupt the evidence chain. */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_CTX, see below; before any OpenSSL header */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <openssl/evp.h>
/* The by-value state below is OpenSSL's low-level SHA256_CTX, deprecated in 3.0 in favour of
 * EVP. EVP cannot hold a state by value: saving one (EVP_MD_CTX_copy_ex) costs two
 * allocations per record, freed on another thread. The low-level functions run the same
 * assembly (SHA extensions included); only this file uses them. */
#include <openssl/sha.h>

#include "core/hash.h"

/* Performance (issue 12): one digest context per thread, reused, and SHA-256 fetched from
 * the provider once; a context per call with the implicit fetch cost more than hashing a
 * 500-byte record. The context is freed when its thread ends (key destructor). */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t sha256_key;
static EVP_MD *sha256_md;

static void sha256_ctx_free(void *ctx)
{
        EVP_MD_CTX_free(ctx);
}

static void sha256_init_once(void)
{
        sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (!sha256_md || pthread_key_create(&sha256_key, sha256_ctx_free) != 0)
                abort();
}

static void sha256_pieces(const void *const *p, const size_t *n, size_t k, uint8_t out[HASH_LEN])
{
        EVP_MD_CTX *ctx;
        unsigned int olen = 0;

        pthread_once(&sha256_once, sha256_init_once);
        ctx = pthread_getspecific(sha256_key);
        if (!ctx) {
                ctx = EVP_MD_CTX_new();
                if (!ctx || pthread_setspecific(sha256_key, ctx) != 0)
                        abort();
        }
        if (EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1)
                abort();
        for (size_t i = 0; i < k; i++)
                if (n[i] > 0 && EVP_DigestUpdate(ctx, p[i], n[i]) != 1)
                        abort();
        if (EVP_DigestFinal_ex(ctx, out, &olen) != 1 || olen != HASH_LEN)
                abort();
}

void hash_sha256(const void *p, size_t n, uint8_t out[HASH_LEN])
{
        sha256_pieces(&p, &n, 1, out);
}

void hash_sha256_2(const void *a, size_t na, const void *b, size_t nb, uint8_t out[HASH_LEN])
{
        const void *p[2] = { a, b };
        size_t n[2] = { na, nb };

        sha256_pieces(p, n, 2, out);
}

void hash_sha256_3(const void *a, size_t na, const void *b, size_t nb, const void *c,
                   size_t nc, uint8_t out[HASH_LEN])
{
        const void *p[3] = { a, b, c };
        size_t n[3] = { na, nb, nc };

        sha256_pieces(p, n, 3, out);
}

_Static_assert(sizeof(SHA256_CTX) <= HASH_SHA256_STATE_SIZE, "hash_sha256_state too small");
_Static_assert(_Alignof(SHA256_CTX) <= 16, "hash_sha256_state misaligned");

void hash_sha256_begin(struct hash_sha256_state *st)
{
        if (SHA256_Init((SHA256_CTX *)st->opaque) != 1)
                abort();
}

void hash_sha256_update(struct hash_sha256_state *st, const void *p, size_t n)
{
        if (n > 0 && SHA256_Update((SHA256_CTX *)st->opaque, p, n) != 1)
                abort();
}

void hash_sha256_end(struct hash_sha256_state *st, uint8_t out[HASH_LEN])
{
        if (SHA256_Final(out, (SHA256_CTX *)st->opaque) != 1)
                abort();
}

/* Two hex digits per byte from one table: the tail that SSE2 does not take below. */
static const char hex_pairs[513] =
                "000102030405060708090a0b0c0d0e0f"
                "101112131415161718191a1b1c1d1e1f"
                "202122232425262728292a2b2c2d2e2f"
                "303132333435363738393a3b3c3d3e3f"
                "404142434445464748494a4b4c4d4e4f"
                "505152535455565758595a5b5c5d5e5f"
                "606162636465666768696a6b6c6d6e6f"
                "707172737475767778797a7b7c7d7e7f"
                "808182838485868788898a8b8c8d8e8f"
                "909192939495969798999a9b9c9d9e9f"
                "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
                "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
                "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
                "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
                "e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
                "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

/* Performance (issue 12): a record's raw_sha256 is hex-encoded per message on the
 * collector's thread. By the table, 32 bytes cost ~297 instructions (callgrind, round 9);
 * with SSE2 (every x86-64) 16 bytes at a time, ~40: each byte's nibbles side by side, then
 * '0' + v, plus 'a' - '0' - 10 where v > 9. */
char *hash_hex(const void *p, size_t n, char *out)
{
        const uint8_t *b = p;
        size_t i = 0;

#ifdef __SSE2__
        const __m128i mask = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9);
        const __m128i zero = _mm_set1_epi8('0'), af = _mm_set1_epi8('a' - '0' - 10);

        for (; n - i >= 16; i += 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(b + i));
                __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
                __m128i lo = _mm_and_si128(v, mask);
                __m128i a = _mm_unpacklo_epi8(hi, lo), c = _mm_unpackhi_epi8(hi, lo);

                a = _mm_add_epi8(_mm_add_epi8(a, zero), _mm_and_si128(_mm_cmpgt_epi8(a, nine), af));
                c = _mm_add_epi8(_mm_add_epi8(c, zero), _mm_and_si128(_mm_cmpgt_epi8(c, nine), af));
                _mm_storeu_si128((__m128i *)(out + 2 * i), a);
                _mm_storeu_si128((__m128i *)(out + 2 * i + 16), c);
        }
#endif
        for (; i < n; i++)
                memcpy(out + 2 * i, hex_pairs + 2 * b[i], 2);
        out[2 * n] = '\0';
        return out;
}

static int unhex_digit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int hash_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
        if (slen != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < slen; i++)
                if (unhex_digit(s[i]) < 0)
                        return -EINVAL;
        /* Validated first so that out is untouched on failure. */
        for (size_t i = 0; i < n; i++)
                out[i] = (uint8_t)(unhex_digit(s[2 * i]) << 4 | unhex_digit(s[2 * i + 1]));
        return 0;
}
