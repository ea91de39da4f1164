/* Cursors of the journald collector, read without asking the library: the one-pass parse
 * of sd_journal_get_cursor's layout (issue 12), and the field lookups that accept any
 * order (a stored cursor, the resume check). Split from ingest/journald.c (issue 12
 * hygiene: one concern per file); no behaviour change. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ingest/journald-int.h"

int64_t journald_cursor_realtime(const char *c)
{
        for (const char *p = c; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
                if (p[0] == 't' && p[1] == '=') {
                        char *end;
                        unsigned long long v = strtoull(p + 2, &end, 16);

                        return (*end == ';' || !*end) && v < (unsigned long long)INT64_MAX
                                       ? (int64_t)v : 0;
                }
        }
        return 0;
}

bool journald_cursor_seq(const char *c, char id[33], uint64_t *ret_seq)
{
        bool has_s = false, has_i = false;

        for (const char *p = c; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
                if (p[0] == 's' && p[1] == '=' && strspn(p + 2, "0123456789abcdef") == 32) {
                        memcpy(id, p + 2, 32);
                        id[32] = '\0';
                        has_s = true;
                } else if (p[0] == 'i' && p[1] == '=') {
                        char *end;

                        *ret_seq = strtoull(p + 2, &end, 16);
                        has_i = end > p + 2 && (*end == ';' || !*end);
                }
        }
        return has_s && has_i;
}

/* 32 lowercase hex digits at *pp into out; SSE2 checks them 16 at a time once the string
 * is known to be that long (issue 12: the byte loop was ~10 instructions per digit, two
 * ids per entry). */
static bool hex_id(const char **pp, char out[33])
{
        const char *p = *pp;

#ifdef __SSE2__
        if (strnlen(p, 32) < 32)
                return false;
        for (int i = 0; i < 32; i += 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
                __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                              _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
                __m128i af = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('a' - 1)),
                                           _mm_cmplt_epi8(v, _mm_set1_epi8('f' + 1)));

                if (_mm_movemask_epi8(_mm_or_si128(digit, af)) != 0xFFFF)
                        return false;
        }
#else
        for (int i = 0; i < 32; i++) {
                char c = p[i];

                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return false;
        }
#endif
        memcpy(out, p, 32);
        out[32] = '\0';
        *pp = p + 32;
        return true;
}

/* The value of each byte as a hex digit, 0xFF when it is none (lowercase only, as the
 * library writes them; issue 12: one load per digit instead of two ranges). */
static const uint8_t hex_val[256] = {
        ['0'] = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
        ['a'] = 10, 11, 12, 13, 14, 15,
};

static bool hex_u64(const char **pp, uint64_t *ret)
{
        const unsigned char *p = (const unsigned char *)*pp;
        uint64_t v = 0;
        int n = 0;

        for (;; n++, p++) {
                unsigned d = hex_val[*p];

                if (d == 0 && *p != '0')
                        break;
                if (n == 16)
                        return false;
                v = v << 4 | d;
        }
        if (n == 0)
                return false;
        *ret = v;
        *pp = (const char *)p;
        return true;
}

bool journald_cursor_parse(const char *c, struct journald_cursor *ret)
{
        const char *p = c;
        uint64_t xor;

#define TAG(t) (p[0] == (t)[0] && p[1] == '=' && (p += 2, true))
        return TAG("s") && hex_id(&p, ret->id) && *p++ == ';' &&
               TAG("i") && hex_u64(&p, &ret->seq) && *p++ == ';' &&
               TAG("b") && hex_id(&p, ret->boot) && *p++ == ';' &&
               TAG("m") && hex_u64(&p, &ret->mono) && *p++ == ';' &&
               TAG("t") && hex_u64(&p, &ret->real) && *p++ == ';' &&
               TAG("x") && hex_u64(&p, &xor) && *p == '\0';
#undef TAG
}
