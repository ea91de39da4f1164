/* The canonical serialiser's byte scanners (core/json-canon.c only; split from it by
 * canon10 to keep that file readable in one sitting): which bytes of a string need a JSON
 * escape (RFC 8785 section 3.2.2.2: controls, '"', '\\'), a word, a vector or a run at a
 * time, the check-and-copy the member writer uses, and the escaping block writer (mapper11).
 * All inline; no state. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/json-internal.h"

/* Bytes of the 64-bit word w (little-endian) that need an escape (control, '"', '\\'): the
 * classic "has a byte less than / equal to" word tests. A borrow only ever spills into a
 * higher byte, so the lowest flagged byte is exact (higher ones may be false positives). */
static inline uint64_t escape_mask(uint64_t w)
{
        const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
        uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');

        return ((w - ones * 0x20) & ~w & highs) | ((q - ones) & ~q & highs) |
               ((bs - ones) & ~bs & highs);
}

/* escape_mask for four bytes. */
static inline uint32_t escape_mask32(uint32_t w)
{
        const uint32_t ones = 0x01010101u, highs = 0x80808080u;
        uint32_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');

        return ((w - ones * 0x20) & ~w & highs) | ((q - ones) & ~q & highs) |
               ((bs - ones) & ~bs & highs);
}

static inline bool byte_plain(unsigned char c)
{
        return c >= 0x20 && c != '"' && c != '\\';
}

/* Does no byte of s[0..n), n < 8, need an escape? Two overlapping words or three bytes
 * that cover them all, without a loop (performance, issue 12: most of a record's values
 * are short: "sshd", "info", "CC6.1"). */
static inline bool short_plain(const char *s, size_t n)
{
        uint32_t a, b;

        if (n >= 4) {
                memcpy(&a, s, 4);
                memcpy(&b, s + n - 4, 4);
                return !escape_mask32(a) && !escape_mask32(b);
        }
        return n == 0 || (byte_plain((unsigned char)s[0]) &&
                          byte_plain((unsigned char)s[n / 2]) &&
                          byte_plain((unsigned char)s[n - 1]));
}

/* Length of the prefix of s[0..n) that needs no escape (no control, '"' or '\\'), eight
 * bytes at a time (performance, issue 12), the tail too (padded with 'a'). */
static inline size_t plain_prefix(const char *s, size_t n)
{
        size_t i = 0;
        uint64_t w, mask;

#if defined(__SSE2__)
        /* Sixteen bytes at a time where SSE2 is there (every x86-64): a third of the
         * instructions of the word test below on a record's long strings (issue 12). */
        if (n >= 16) {
                const __m128i ctl = _mm_set1_epi8(0x1f), q = _mm_set1_epi8('"'),
                              bs = _mm_set1_epi8('\\');
                unsigned bits;

                for (;;) {
                        size_t at = n - i >= 16 ? i : n - 16; /* the last block overlaps */
                        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + at));
                        __m128i hit = _mm_or_si128(
                                _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v),
                                _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)));

                        bits = (unsigned)_mm_movemask_epi8(hit);
                        if (bits)
                                return at + (size_t)__builtin_ctz(bits);
                        if (at + 16 >= n)
                                return n;
                        i = at + 16;
                }
        }
#endif
        if (n < 8 && short_plain(s, n))
                return n;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        while (n - i >= 8) {
                memcpy(&w, s + i, 8);
                mask = escape_mask(w);
                if (mask)
                        return i + (size_t)__builtin_ctzll(mask) / 8;
                i += 8;
        }
        if (i < n && n >= 8) {
                /* The last eight bytes, overlapping ones known plain (they flag nothing). */
                memcpy(&w, s + n - 8, 8);
                mask = escape_mask(w);
                return mask ? n - 8 + (size_t)__builtin_ctzll(mask) / 8 : n;
        }
        while (i < n && (unsigned char)s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
                i++;
        return i;
#else
        while (n - i >= 8) {
                memcpy(&w, s + i, 8);
                if (escape_mask(w))
                        break;
                i += 8;
        }
        (void)mask;
        while (i < n && (unsigned char)s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
                i++;
        return i;
#endif
}

#if defined(__SSE2__)
/* Does no byte of v need an escape (control, '"', '\\')? */
static inline bool vec_plain(__m128i v)
{
        __m128i hit = _mm_or_si128(
                _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v),
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));

        return _mm_movemask_epi8(hit) == 0;
}
#endif

/* Copies s[0..n) to o when no byte of it needs an escape, and says whether it did (o has
 * room for n bytes; when it did not, o[0..n) may hold some of the bytes). The check and the
 * copy in one pass (canon10): a record's ~30 strings were scanned by plain_prefix, a call
 * for each of the ~6 of 8 bytes or more, then copied by another. */
static inline bool copy_plain(char *o, const char *s, size_t n)
{
        uint64_t a, b;

#if defined(__SSE2__)
        /* Under 16 bytes: the two words that cover them tested as one vector (7
         * instructions against 10 per word for escape_mask). */
        if (n >= 4 && n < 16) {
                uint32_t x, y;

                if (n >= 8) {
                        memcpy(&a, s, 8);
                        memcpy(&b, s + n - 8, 8);
                } else {
                        memcpy(&x, s, 4);
                        memcpy(&y, s + n - 4, 4);
                        a = x | (uint64_t)y << 32;
                        b = a;
                }
                if (!vec_plain(_mm_set_epi64x((long long)b, (long long)a)))
                        return false;
                if (n >= 8) {
                        memcpy(o, &a, 8);
                        memcpy(o + n - 8, &b, 8);
                } else {
                        memcpy(o, &x, 4);
                        memcpy(o + n - 4, &y, 4);
                }
                return true;
        }
#endif
        if (n < 8) {
                if (!short_plain(s, n))
                        return false;
                json_copy_short(o, s, n);
                return true;
        }
        if (n <= 16) {
                memcpy(&a, s, 8);
                memcpy(&b, s + n - 8, 8);
                if (escape_mask(a) | escape_mask(b)) /* 0 exactly when no byte needs one */
                        return false;
                memcpy(o, &a, 8);
                memcpy(o + n - 8, &b, 8);
                return true;
        }
#if defined(__SSE2__)
        {
                size_t at = 0;

                for (;;) { /* sixteen bytes at a time, the last block overlapping */
                        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + at));

                        if (!vec_plain(v))
                                return false;
                        _mm_storeu_si128((__m128i *)(void *)(o + at), v);
                        if (at + 16 >= n)
                                return true;
                        at = n - at - 16 >= 16 ? at + 16 : n - 16;
                }
        }
#else
        if (plain_prefix(s, n) != n)
                return false;
        memcpy(o, s, n);
        return true;
#endif
}

/* The escaped form of byte c (a control, '"' or '\\') written at o: its length, 2 or 6. */
static inline size_t escape_put(char *o, unsigned char c)
{
        static const char hex[] = "0123456789abcdef";
        static const char two[32] = { ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f',
                                      ['\r'] = 'r' };

        o[0] = '\\';
        if (c == '"' || c == '\\') {
                o[1] = (char)c;
                return 2;
        }
        if (two[c]) {
                o[1] = two[c];
                return 2;
        }
        memcpy(o + 1, "u00", 3); /* other controls: \u00xx, lowercase */
        o[4] = hex[c >> 4];
        o[5] = hex[c & 15];
        return 6;
}

/* The escaping writer's fast part (mapper11: a JSON gate event's message or an nginx line,
 * a third of loadgen's records, carries a dozen quotes, and a call of cw_put, cw_put and
 * plain_prefix per escape cost ~1,250 instructions a string): sixteen bytes are stored as
 * they are, then the output is moved past the plain ones and each escape written in place,
 * while sixteen bytes of input and their escapes (96 bytes) fit between o and end. Writes
 * s[*i..) escaped from o, advances *i by whole blocks, and returns the new end of output;
 * the rest (the tail, or a string near the cap) is the caller's. */
static inline char *escape_blocks(char *o, const char *end, const char *s, size_t n,
                                  size_t *ret_i)
{
        size_t i = *ret_i;
#if defined(__SSE2__)
        const __m128i ctl = _mm_set1_epi8(0x1f), q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');

        while (n - i >= 16 && (size_t)(end - o) >= 16 * 6) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
                unsigned bits = (unsigned)_mm_movemask_epi8(_mm_or_si128(
                        _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v),
                        _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs))));

                _mm_storeu_si128((__m128i *)(void *)o, v);
                if (!bits) {
                        i += 16;
                        o += 16;
                        continue;
                }
                /* The plain bytes before the first escape are stored; then each escape,
                 * and the plain bytes after it copied from the input. */
                unsigned k = (unsigned)__builtin_ctz(bits), at;

                o += k;
                for (;;) {
                        o += escape_put(o, (unsigned char)s[i + k]);
                        at = k + 1;
                        bits &= bits - 1;
                        if (!bits)
                                break;
                        k = (unsigned)__builtin_ctz(bits);
                        json_copy_short(o, s + i + at, k - at);
                        o += k - at;
                }
                json_copy_short(o, s + i + at, 16 - at);
                o += 16 - at;
                i += 16;
        }
#else
        (void)end;
        (void)s;
        (void)n;
#endif
        *ret_i = i;
        return o;
}
