/* The record scanner (issue 12): decides in one pass, without building a tree or allocating,
 * that a record's bytes are exactly what the canonical serialiser (core/json-canon.c) writes
 * for them, and picks out the top-level members the verifier, `verify --db` and the exporter
 * need ("seq", "criteria", "host", "time", "received").
 *
 * Load: every record of every epoch verified or exported (millions per run), so it scans
 * strings eight bytes at a time and never copies. Guarantee: it answers 1 only when the full
 * path (json_parse, then json_canon) would give back the same bytes and the same member
 * values; anything it does not handle exactly (a fraction or exponent, a key that is not
 * plain ASCII, deep nesting, a "seq" that is not a non-negative integer, a "criteria" that
 * is not an array of plain strings) makes it answer 0, and the caller takes the full path,
 * which also words any problem. Answering 0 is always safe; answering 1 wrongly is not, so
 * every rule below is at least as strict as the parser and the serialiser together:
 *  - no white space outside strings; one object at the top and nothing after it;
 *  - object keys plain printable ASCII (no escape), strictly increasing byte-wise (for ASCII
 *    this is RFC 8785's UTF-16 order, and it also excludes duplicate keys);
 *  - strings: valid UTF-8 (Unicode Table 3-7: no overlong forms, surrogates or code points
 *    past U+10FFFF), no raw control character, and only the escapes json_canon writes:
 *    \" \\ \b \f \n \r \t and \u00xx in lowercase hex for the other controls but U+0000;
 *  - numbers: integers of at most 18 digits without a leading zero or "-0" (they fit int64,
 *    which the parser keeps exact and the serialiser prints back as they are). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "seal/seal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define SCAN_MAX_DEPTH 32       /* below the parser's JSON_MAX_DEPTH */
#define SCAN_INT_DIGITS 18      /* 10^18 - 1 < 2^63: always an exact int64 */

struct scan {
        const unsigned char *p, *end;
        unsigned depth;
        bool escaped;           /* the last string scanned held an escape */
};

/* One UTF-8 sequence at p (its lead byte >= 0x80): its length, or 0 when ill-formed. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
        unsigned char c = p[0], lo = 0x80, hi = 0xbf;
        size_t need;

        if (c >= 0xc2 && c <= 0xdf)
                need = 1;
        else if (c >= 0xe0 && c <= 0xef)
                need = 2;
        else if (c >= 0xf0 && c <= 0xf4)
                need = 3;
        else
                return 0;
        if (c == 0xe0)
                lo = 0xa0;
        else if (c == 0xed)
                hi = 0x9f;
        else if (c == 0xf0)
                lo = 0x90;
        else if (c == 0xf4)
                hi = 0x8f;
        if ((size_t)(end - p) <= need)
                return 0;
        for (size_t k = 1; k <= need; k++) {
                if (p[k] < lo || p[k] > hi)
                        return 0;
                lo = 0x80;
                hi = 0xbf;
        }
        return need + 1;
}

static int hexval(unsigned char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1; /* uppercase is not canonical */
}

/* s->p just past the opening quote; on success s->p just past the closing quote. */
static bool scan_string(struct scan *s)
{
        const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
        const unsigned char *p = s->p, *end = s->end;

        s->escaped = false;
        for (;;) {
#if defined(__SSE2__)
                /* issue 12: sixteen bytes at a time, straight to the first '"', '\\',
                 * control or non-ASCII byte (as the mapper's escape scan in
                 * core/json-canon.c; the signed compare below 0x20 also catches >= 0x80). */
                {
                        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'),
                                      sp = _mm_set1_epi8(0x20);

                        while (end - p >= 16) {
                                __m128i w = _mm_loadu_si128((const __m128i *)(const void *)p);
                                __m128i hit = _mm_or_si128(
                                        _mm_cmplt_epi8(w, sp),
                                        _mm_or_si128(_mm_cmpeq_epi8(w, q), _mm_cmpeq_epi8(w, bs)));
                                unsigned bits = (unsigned)_mm_movemask_epi8(hit);

                                if (bits) {
                                        p += __builtin_ctz(bits);
                                        break;
                                }
                                p += 16;
                        }
                }
#endif
                /* Eight bytes with no '"', '\\', control or non-ASCII byte at a time. */
                while (end - p >= 8) {
                        uint64_t w, q, b;
                        memcpy(&w, p, 8);
                        q = w ^ (ones * '"');
                        b = w ^ (ones * '\\');
                        if ((w & highs) | ((w - ones * 0x20) & ~w & highs) |
                            ((q - ones) & ~q & highs) | ((b - ones) & ~b & highs))
                                break;
                        p += 8;
                }
                if (p >= end)
                        return false;
                unsigned char c = *p;
                if (c == '"') {
                        s->p = p + 1;
                        return true;
                }
                if (c < 0x20)
                        return false;
                if (c >= 0x80) {
                        size_t k = utf8_seq(p, end);
                        if (k == 0)
                                return false;
                        p += k;
                        continue;
                }
                if (c != '\\') {
                        p++;
                        continue;
                }
                s->escaped = true;
                if (end - p < 2)
                        return false;
                switch (p[1]) {
                case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't':
                        p += 2;
                        continue;
                case 'u':
                        break;
                default:
                        return false;
                }
                if (end - p < 6 || p[2] != '0' || p[3] != '0')
                        return false;
                int hi = hexval(p[4]), lo = hexval(p[5]);
                if (hi < 0 || lo < 0 || hi > 1)
                        return false;
                int v = hi * 16 + lo;
                /* Only controls without a short escape, and never U+0000. */
                if (v == 0 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
                        return false;
                p += 6;
        }
}

static bool scan_value(struct scan *s);

/* A non-negative integer when ret is set; any canonical integer otherwise. */
static bool scan_int(struct scan *s, int64_t *ret)
{
        const unsigned char *p = s->p, *start;
        bool neg = false;
        int64_t v = 0;

        if (p < s->end && *p == '-') {
                neg = true;
                p++;
        }
        start = p;
        if (p >= s->end || *p < '0' || *p > '9')
                return false;
        if (*p == '0') {
                p++;
                if (neg)
                        return false; /* "-0" is written "0" */
        } else {
                while (p < s->end && *p >= '0' && *p <= '9') {
                        /* Checked before the product: a 19th digit could overflow int64. */
                        if (p - start >= SCAN_INT_DIGITS)
                                return false;
                        v = v * 10 + (*p - '0');
                        p++;
                }
        }
        if (p < s->end && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9')))
                return false;
        if (ret) {
                if (neg)
                        return false;
                *ret = v;
        }
        s->p = p;
        return true;
}

static bool scan_literal(struct scan *s, const char *w, size_t n)
{
        if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
                return false;
        s->p += n;
        return true;
}

/* A key: plain printable ASCII, no escape. *ret_k and *ret_n: its bytes. */
static bool scan_key(struct scan *s, const unsigned char **ret_k, size_t *ret_n)
{
        const unsigned char *p = s->p, *k;

        if (p >= s->end || *p != '"')
                return false;
        k = ++p;
        while (p < s->end && *p != '"') {
                if (*p < 0x20 || *p >= 0x7f || *p == '\\')
                        return false;
                p++;
        }
        if (p >= s->end)
                return false;
        *ret_k = k;
        *ret_n = (size_t)(p - k);
        s->p = p + 1;
        return s->p < s->end && *s->p++ == ':';
}

/* Byte-wise order (issue 12: a loop rather than memcmp, whose call cost more than the few
 * bytes keys share). */
static bool key_less(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
        size_t n = an < bn ? an : bn;

        for (size_t i = 0; i < n; i++)
                if (a[i] != b[i])
                        return a[i] < b[i];
        return an < bn;
}

/* The members of an object; top: the record itself, whose wanted members go into out. */
static bool scan_object(struct scan *s, struct seal_scan *out)
{
        const unsigned char *prev = NULL, *k;
        size_t prev_n = 0, kn;

        if (++s->depth > SCAN_MAX_DEPTH)
                return false;
        s->p++; /* '{' */
        if (s->p < s->end && *s->p == '}') {
                s->p++;
                s->depth--;
                return true;
        }
        for (;;) {
                if (!scan_key(s, &k, &kn))
                        return false;
                if (prev && !key_less(prev, prev_n, k, kn))
                        return false;
                prev = k;
                prev_n = kn;
                if (s->p >= s->end)
                        return false;
                const unsigned char *v = s->p;
                if (out && kn == 3 && !memcmp(k, "seq", 3)) {
                        if (!scan_int(s, &out->seq))
                                return false;
                } else if (out && kn == 8 && !memcmp(k, "criteria", 8)) {
                        /* An array of plain strings. */
                        out->has_criteria = true;
                        if (*s->p != '[')
                                return false;
                        s->p++;
                        if (s->p < s->end && *s->p == ']') {
                                s->p++;
                        } else {
                                for (;;) {
                                        if (s->p >= s->end || *s->p != '"' ||
                                            out->n_criteria == SEAL_SCAN_CRITERIA_MAX)
                                                return false;
                                        const unsigned char *a = ++s->p;
                                        if (!scan_string(s) || s->escaped)
                                                return false;
                                        out->criteria[out->n_criteria++] = (struct seal_span){
                                                (const char *)a, (size_t)(s->p - 1 - a) };
                                        if (s->p < s->end && *s->p == ',') {
                                                s->p++;
                                                continue;
                                        }
                                        if (s->p < s->end && *s->p == ']') {
                                                s->p++;
                                                break;
                                        }
                                        return false;
                                }
                        }
                } else {
                        struct seal_span *span = NULL;
                        enum seal_scan_kind *kind = NULL;
                        if (out && kn == 4 && !memcmp(k, "host", 4))
                                span = &out->host, kind = &out->host_kind;
                        else if (out && kn == 4 && !memcmp(k, "time", 4))
                                span = &out->time, kind = &out->time_kind;
                        else if (out && kn == 8 && !memcmp(k, "received", 8))
                                span = &out->received, kind = &out->received_kind;
                        if (!scan_value(s))
                                return false;
                        if (kind) {
                                bool str = *v == '"' && !s->escaped;
                                *kind = str ? SEAL_SCAN_STRING : SEAL_SCAN_OTHER;
                                if (str)
                                        *span = (struct seal_span){ (const char *)v + 1,
                                                                    (size_t)(s->p - v - 2) };
                        }
                }
                if (s->p >= s->end)
                        return false;
                if (*s->p == ',') {
                        s->p++;
                        continue;
                }
                if (*s->p == '}') {
                        s->p++;
                        s->depth--;
                        return true;
                }
                return false;
        }
}

static bool scan_array(struct scan *s)
{
        if (++s->depth > SCAN_MAX_DEPTH)
                return false;
        s->p++; /* '[' */
        if (s->p < s->end && *s->p == ']') {
                s->p++;
                s->depth--;
                return true;
        }
        for (;;) {
                if (!scan_value(s) || s->p >= s->end)
                        return false;
                if (*s->p == ',') {
                        s->p++;
                        continue;
                }
                if (*s->p == ']') {
                        s->p++;
                        s->depth--;
                        return true;
                }
                return false;
        }
}

static bool scan_value(struct scan *s)
{
        s->escaped = false;
        if (s->p >= s->end)
                return false;
        switch (*s->p) {
        case '{':
                return scan_object(s, NULL);
        case '[':
                return scan_array(s);
        case '"':
                s->p++;
                return scan_string(s);
        case 't':
                return scan_literal(s, "true", 4);
        case 'f':
                return scan_literal(s, "false", 5);
        case 'n':
                return scan_literal(s, "null", 4);
        default:
                return scan_int(s, NULL);
        }
}

int seal_scan_record(const char *p, size_t len, struct seal_scan *ret)
{
        struct scan s = { (const unsigned char *)p, (const unsigned char *)p + len, 0, false };

        memset(ret, 0, offsetof(struct seal_scan, criteria));
        ret->seq = -1;
        ret->host_kind = ret->time_kind = ret->received_kind = SEAL_SCAN_ABSENT;
        if (len == 0 || *s.p != '{' || !scan_object(&s, ret) || s.p != s.end || ret->seq < 0)
                return 0;
        return 1;
}
