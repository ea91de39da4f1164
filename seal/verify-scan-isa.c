/* The record scanner's block classifiers (issue 12, verify7 and verify10; split from
 * seal/verify-scan.c): a block of SCAN_BLOCK bytes into the bit mask of its special bytes,
 * with AVX-512BW (one load, four compares into mask registers), AVX2 (two 32-byte halves),
 * SSE2 (four 16-byte quarters) or a scalar loop, all giving the same bits. The choice of one
 * for an isa stays in verify-scan.c (classify_of): there it folds into each record's setup,
 * where a call to it here cost ~9 instructions per record (split10, callgrind); the scanner
 * then calls the chosen classifier per block through a pointer, as it always did. */
#include <stdbool.h>
#include <stdint.h>

#include "seal/seal.h"
#include "seal/verify-scan-isa.h"

#if defined(SCAN_X86)
#include <immintrin.h>
#endif

uint64_t scan_classify_scalar(const unsigned char *p)
{
        uint64_t m = 0;

        for (unsigned i = 0; i < SCAN_BLOCK; i++) {
                unsigned char c = p[i];
                m |= (uint64_t)(c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) << i;
        }
        return m;
}

#if defined(SCAN_X86)
/* The signed compare below 0x20 also catches the bytes >= 0x80 (negative as int8). */
uint64_t scan_classify_sse2(const unsigned char *p)
{
        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20),
                      del = _mm_set1_epi8(0x7f);
        uint64_t m = 0;

        for (unsigned i = 0; i < SCAN_BLOCK; i += 16) {
                __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
                __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(w, sp),
                                                        _mm_cmpeq_epi8(w, del)),
                                           _mm_or_si128(_mm_cmpeq_epi8(w, q),
                                                        _mm_cmpeq_epi8(w, bs)));
                m |= (uint64_t)(uint16_t)_mm_movemask_epi8(hit) << i;
        }
        return m;
}

__attribute__((target("avx2"))) uint64_t scan_classify_avx2(const unsigned char *p)
{
        const __m256i q = _mm256_set1_epi8('"'), bs = _mm256_set1_epi8('\\'),
                      sp = _mm256_set1_epi8(0x20), del = _mm256_set1_epi8(0x7f);
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
        __m256i ha = _mm256_or_si256(_mm256_or_si256(_mm256_cmpgt_epi8(sp, a),
                                                     _mm256_cmpeq_epi8(a, del)),
                                     _mm256_or_si256(_mm256_cmpeq_epi8(a, q),
                                                     _mm256_cmpeq_epi8(a, bs)));
        __m256i hb = _mm256_or_si256(_mm256_or_si256(_mm256_cmpgt_epi8(sp, b),
                                                     _mm256_cmpeq_epi8(b, del)),
                                     _mm256_or_si256(_mm256_cmpeq_epi8(b, q),
                                                     _mm256_cmpeq_epi8(b, bs)));

        return (uint64_t)(uint32_t)_mm256_movemask_epi8(ha) |
               (uint64_t)(uint32_t)_mm256_movemask_epi8(hb) << 32;
}

/* issue 12 (verify10): one 64-byte load and four compares into mask registers give the
 * block's bits directly (AVX-512BW, chosen for SEAL_SCAN_ISA_BEST when the CPU has it):
 * ~8 instructions a block against ~33 for the two AVX2 halves and their movemasks. The same
 * bits: controls (unsigned < 0x20), DEL and every byte >= 0x80 (unsigned >= 0x7f), '"',
 * '\\'. */
__attribute__((target("avx512bw"))) uint64_t scan_classify_avx512(const unsigned char *p)
{
        __m512i w = _mm512_loadu_si512((const void *)p);

        return _mm512_cmplt_epu8_mask(w, _mm512_set1_epi8(0x20)) |
               _mm512_cmpge_epu8_mask(w, _mm512_set1_epi8(0x7f)) |
               _mm512_cmpeq_epi8_mask(w, _mm512_set1_epi8('"')) |
               _mm512_cmpeq_epi8_mask(w, _mm512_set1_epi8('\\'));
}
#endif
