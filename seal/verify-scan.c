/* The record scanner (issue 12): decides in one pass, without building a tree or allocating,
 * that a record's bytes are exactly what the canonical serialiser (core/json-canon.c) writes
 * for them, and picks out the top-level members the verifier, `verify --db` and the exporter
 * need ("seq", "criteria", "host", "time", "received").
 *
 * Load: every record of every epoch verified or exported (millions per run), so it never
 * copies, and strings and keys are skipped through a structural index (below) rather than
 * byte by byte. Guarantee: it answers 1 only when the full
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
#if defined(__SSE2__)
#include <emmintrin.h> /* usual_at */
#endif

#include "seal/seal.h"
#include "seal/verify-scan-isa.h"

#define SCAN_MAX_DEPTH 32       /* below the parser's JSON_MAX_DEPTH */
#define SCAN_INT_DIGITS 18      /* 10^18 - 1 < 2^63: always an exact int64 */

/* issue 12 (verify7), the structural index: a block of 64 bytes is classified at once into a
 * bit mask of its "special" bytes ('"', '\\', controls below 0x20, DEL and every byte >= 0x80),
 * with AVX2 (two 32-byte compares, chosen at run time), SSE2 (four 16-byte ones) or a scalar
 * loop. The end of a string or key is then the next set bit: a count of trailing zeros, not
 * a loop over its bytes, and one block serves the several short strings and keys it holds.
 * Blocks are taken lazily where the scan stands, so a record costs its own length (plus at
 * most one block) whatever lies after it. Everything else (structure, numbers, literals,
 * escapes, UTF-8 sequences) is checked byte by byte as before. The classifiers are
 * seal/verify-scan-isa.c; the choice of one is here. */
struct scan {
        const unsigned char *p, *end;
        unsigned depth;
        bool escaped;           /* the last string scanned held an escape */
        const unsigned char *blk;       /* the block whose special bytes are in bits */
        uint64_t bits;          /* bit i: blk[i] is special; bits past end are set too */
        scan_classify_fn classify;
};

bool seal_scan_isa_supported(enum seal_scan_isa isa)
{
        switch (isa) {
        case SEAL_SCAN_ISA_BEST:
        case SEAL_SCAN_ISA_SCALAR:
                return true;
#if defined(SCAN_X86)
        case SEAL_SCAN_ISA_SSE2:
                return __builtin_cpu_supports("sse2");
        case SEAL_SCAN_ISA_AVX2:
                return __builtin_cpu_supports("avx2");
        case SEAL_SCAN_ISA_AVX512:
                return __builtin_cpu_supports("avx512bw");
#endif
        default:
                return false;
        }
}

/* The classifier of isa; NULL when this build or CPU cannot run it. */
static scan_classify_fn classify_of(enum seal_scan_isa isa)
{
        if (!seal_scan_isa_supported(isa))
                return NULL;
        switch (isa) {
        case SEAL_SCAN_ISA_SCALAR:
                return scan_classify_scalar;
#if defined(SCAN_X86)
        case SEAL_SCAN_ISA_SSE2:
                return scan_classify_sse2;
        case SEAL_SCAN_ISA_AVX2:
                return scan_classify_avx2;
        case SEAL_SCAN_ISA_AVX512:
                return scan_classify_avx512;
        case SEAL_SCAN_ISA_BEST:
                return __builtin_cpu_supports("avx512bw") ? scan_classify_avx512
                       : __builtin_cpu_supports("avx2") ? scan_classify_avx2
                       : __builtin_cpu_supports("sse2") ? scan_classify_sse2
                                                        : scan_classify_scalar;
#else
        case SEAL_SCAN_ISA_BEST:
                return scan_classify_scalar;
#endif
        default:
                return NULL;
        }
}

/* Classifies the block at p (p < end). A block cut by the end is classified from a copy
 * padded with plain bytes, and the bit of the end itself is set: the next special byte is
 * then found at end at the latest, which every caller takes as "not found" and never
 * reads. */
static void scan_load(struct scan *s, const unsigned char *p)
{
        size_t n = (size_t)(s->end - p);

        s->blk = p;
        if (n >= SCAN_BLOCK) {
                s->bits = s->classify(p);
                return;
        }
        unsigned char tail[SCAN_BLOCK];
        memcpy(tail, p, n);
        memset(tail + n, 'x', SCAN_BLOCK - n);
        s->bits = s->classify(tail) | (uint64_t)1 << n;
}

/* The first special byte at or after p (p <= end), or end when there is none before it.
 * p never moves backwards during a scan, so a position outside the current block is past
 * it. */
static inline const unsigned char *next_special(struct scan *s, const unsigned char *p)
{
        for (;;) {
                uintptr_t off = (uintptr_t)p - (uintptr_t)s->blk;

                if (off < SCAN_BLOCK) {
                        uint64_t m = s->bits >> off;

                        if (m)  /* at most end: a cut block has the end's bit set */
                                return p + __builtin_ctzll(m);
                        p = s->blk + SCAN_BLOCK;
                }
                if (p >= s->end)
                        return s->end;
                scan_load(s, p);
        }
}

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

/* issue 12 (verify9): scan_string and scan_key inlined into their callers whatever the
 * compiler's estimate (~6 % fewer instructions per record, callgrind); next_special and
 * scan_load forced inline too gave more (register pressure), so they are left to it. */
#define SCAN_INLINE inline __attribute__((always_inline))

/* s->p just past the opening quote; on success s->p just past the closing quote. */
static SCAN_INLINE bool scan_string(struct scan *s)
{
        const unsigned char *p = s->p, *end = s->end;

        s->escaped = false;
        for (;;) {
                p = next_special(s, p);  /* issue 12: straight to the next '"', '\\', ... */
                if (p >= end)
                        return false;
                unsigned char c = *p;
                if (c == '"') {
                        s->p = p + 1;
                        return true;
                }
                if (c < 0x20)
                        return false;
                if (c == 0x7f) {  /* DEL: special for keys only; a string may hold it raw */
                        p++;
                        continue;
                }
                if (c >= 0x80) {
                        size_t k = utf8_seq(p, end);
                        if (k == 0)
                                return false;
                        p += k;
                        continue;
                }
                /* c is '\\' */
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
static bool scan_array(struct scan *s);

/* A non-negative integer when ret is set; any canonical integer otherwise. issue 12
 * (verify10): the digits are read up to one past the limit without a check per digit (a
 * 19th digit refuses the number, as before: an unsigned sum of 19 digits cannot wrap). */
static bool scan_int(struct scan *s, int64_t *ret)
{
        const unsigned char *p = s->p, *end = s->end, *start;
        bool neg = false;
        uint64_t v = 0;

        if (p < end && *p == '-') {
                neg = true;
                p++;
        }
        start = p;
        if (p >= end || (unsigned)(*p - '0') > 9)
                return false;
        if (*p == '0') {
                p++;
                if (neg)
                        return false; /* "-0" is written "0" */
        } else {
                const unsigned char *lim = (size_t)(end - p) > SCAN_INT_DIGITS
                                                   ? p + SCAN_INT_DIGITS + 1 : end;
                do
                        v = v * 10 + (unsigned)(*p++ - '0');
                while (p < lim && (unsigned)(*p - '0') <= 9);
                if (p - start > SCAN_INT_DIGITS)
                        return false;
        }
        if (p < end && (*p == '.' || *p == 'e' || *p == 'E' || (unsigned)(*p - '0') <= 9))
                return false;
        if (ret) {
                if (neg)
                        return false;
                *ret = (int64_t)v;
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
static SCAN_INLINE bool scan_key(struct scan *s, const unsigned char **ret_k, size_t *ret_n)
{
        const unsigned char *p = s->p, *k;

        if (p >= s->end || *p != '"')
                return false;
        k = ++p;
        /* issue 12: the first special byte must be the closing quote (no escape, control,
         * DEL or non-ASCII byte before it). */
        p = next_special(s, p);
        if (p >= s->end || *p != '"')
                return false;
        *ret_k = k;
        *ret_n = (size_t)(p - k);
        s->p = p + 1;
        return s->p < s->end && *s->p++ == ':';
}

/* Byte-wise order (issue 12: a loop rather than memcmp, whose call cost more than the few
 * bytes keys share; verify7 tried eight bytes at once as big-endian words: 9 % more
 * instructions, since most keys differ at their first byte). */
static bool key_less(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
        size_t n = an < bn ? an : bn;

        for (size_t i = 0; i < n; i++)
                if (a[i] != b[i])
                        return a[i] < b[i];
        return an < bn;
}

/* issue 12 (verify8): which of the members the callers want a key names. */
enum member { M_OTHER, M_SEQ, M_CRITERIA, M_HOST, M_TIME, M_RECEIVED, M_SOURCE };

static enum member member_of(const unsigned char *k, size_t kn)
{
        if (kn == 3 && !memcmp(k, "seq", 3))
                return M_SEQ;
        if (kn == 8 && !memcmp(k, "criteria", 8))
                return M_CRITERIA;
        if (kn == 4 && !memcmp(k, "host", 4))
                return M_HOST;
        if (kn == 4 && !memcmp(k, "time", 4))
                return M_TIME;
        if (kn == 8 && !memcmp(k, "received", 8))
                return M_RECEIVED;
        if (kn == 6 && !memcmp(k, "source", 6))
                return M_SOURCE;
        return M_OTHER;
}

/* issue 12 (verify8), the record's usual keys: every top-level key gatelog writes (syslog,
 * journald and Kafka records, normalize/), in strictly increasing byte order, each as the
 * exact bytes "KEY": it takes in a record. At each member of a record the scanner first
 * compares the bytes there with the next usual key still possible (16 bytes at once): when
 * they are equal, that is the key scan_key would find, it is in order (below), and which
 * member it names is known, so neither the key's scan, nor its order check, nor the lookup
 * of what it names runs. Anything else (another key, a key skipped, a change) takes the
 * general path, exactly as before.
 * Order: `next` only grows; after a usual key it is the index past it, after any other key
 * the first usual key greater than it; so every usual key from `next` on is greater than the
 * key before, and a match needs no comparison. tests/seal/test-verify-scan.c checks the
 * table's order and feeds records of these keys in and out of order, with others between. */
struct usual_key {
        /* issue 12 (verify10): from the separator before it, so that the scan compares at
         * the separator and steps over both at once. issue 12 (verify13): the separator
         * ',' is compared too (bit 0 of mask), so that where a member ends nothing is
         * checked until its next key fails to match; the first member's '{' was checked
         * by the caller and is left out (usual_at's first). */
        char text[16];          /* ,"KEY": (at most 16 bytes), zero-padded */
        unsigned short mask;    /* bits 0 .. len - 1: the bytes of text to compare */
        unsigned char len;      /* of text */
        unsigned char member;   /* enum member */
};

#define USUAL(k, m) { ",\"" k "\":", (1u << (sizeof(k) + 3)) - 1, sizeof(k) + 3, m }
static const struct usual_key usual_keys[] = {
        USUAL("action", M_OTHER), USUAL("actor", M_OTHER), USUAL("app", M_OTHER),
        USUAL("criteria", M_CRITERIA), USUAL("error", M_OTHER), USUAL("facility", M_OTHER),
        USUAL("flags", M_OTHER), USUAL("format", M_OTHER), USUAL("host", M_HOST),
        USUAL("journal", M_OTHER), USUAL("message", M_OTHER), USUAL("msgid", M_OTHER),
        USUAL("outcome", M_OTHER), USUAL("pid", M_OTHER), USUAL("procid", M_OTHER),
        USUAL("raw", M_OTHER), USUAL("raw_b64", M_OTHER), USUAL("raw_sha256", M_OTHER),
        USUAL("received", M_RECEIVED), USUAL("rule", M_OTHER), USUAL("sd", M_OTHER),
        USUAL("seq", M_SEQ), USUAL("severity", M_OTHER), USUAL("source", M_SOURCE),
        USUAL("target", M_OTHER), USUAL("time", M_TIME),
};
#undef USUAL
#define N_USUAL (sizeof(usual_keys) / sizeof(usual_keys[0]))

/* Do the bytes at p begin with u's separator and key? first: the record's first member,
 * whose separator ('{', checked by the caller) is not compared (a constant at each call). */
static inline bool usual_at(const unsigned char *p, const unsigned char *end,
                            const struct usual_key *u, bool first)
{
#if defined(__SSE2__)
        if (end - p >= 16) {
                __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
                __m128i b = _mm_loadu_si128((const __m128i *)(const void *)u->text);
                unsigned eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, b));
                unsigned want = first ? u->mask & ~1u : u->mask;

                return (eq & want) == want;
        }
#endif
        return (size_t)(end - p) >= u->len && (first || *p == ',') &&
               memcmp(p + 1, u->text + 1, u->len - 1u) == 0;
}

/* The value of a member the record's callers want, into out. */
static bool scan_wanted(struct scan *s, struct seal_scan *out, enum member what)
{
        const unsigned char *v = s->p;
        struct seal_span *span = NULL;
        enum seal_scan_kind *kind = NULL;

        if (what == M_OTHER)  /* most members */
                return scan_value(s);
        if (what == M_SEQ)
                return scan_int(s, &out->seq);
        if (what == M_CRITERIA) {
                /* An array of plain strings. */
                out->has_criteria = true;
                if (*s->p != '[')
                        return false;
                s->p++;
                if (s->p < s->end && *s->p == ']') {
                        s->p++;
                        return true;
                }
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
                                return true;
                        }
                        return false;
                }
        }
        if (what == M_HOST)
                span = &out->host, kind = &out->host_kind;
        else if (what == M_TIME)
                span = &out->time, kind = &out->time_kind;
        else if (what == M_RECEIVED)
                span = &out->received, kind = &out->received_kind;
        if (!scan_value(s))
                return false;
        if (what == M_SOURCE)  /* issue 12 */
                out->source = (struct seal_span){ (const char *)v, (size_t)(s->p - v) };
        if (kind) {
                bool str = *v == '"' && !s->escaped;
                *kind = str ? SEAL_SCAN_STRING : SEAL_SCAN_OTHER;
                if (str)
                        *span = (struct seal_span){ (const char *)v + 1,
                                                    (size_t)(s->p - v - 2) };
        }
        return true;
}

/* issue 12 (verify9): a string value whose first special byte is its closing quote (no
 * escape, control, DEL or non-ASCII byte: most values of a record) ends there; p at its
 * opening quote. The end past the closing quote, or NULL: scan it the general way (which
 * gives the same answer for a plain string, so NULL is always safe). */
static inline const unsigned char *plain_string_end(struct scan *s, const unsigned char *p)
{
        const unsigned char *q = next_special(s, p + 1);

        return q < s->end && *q == '"' ? q + 1 : NULL;
}

/* After an object member's value: 1 when another member follows (its ',' consumed), 0 when
 * the object closed (its '}' consumed, depth back), -1 when the text is malformed. Shared by
 * scan_object and scan_top. */
static inline int member_end(struct scan *s)
{
        if (s->p >= s->end)
                return -1;
        if (*s->p == ',') {
                s->p++;
                return 1;
        }
        if (*s->p == '}') {
                s->p++;
                s->depth--;
                return 0;
        }
        return -1;
}

/* The members of a nested object (issue 12, verify9: the record's own members are walked by
 * scan_top below). */
static bool scan_object(struct scan *s)
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
                /* issue 12 (verify9): a plain string, the commonest value, without the
                 * calls through scan_value and scan_string. */
                const unsigned char *e = *s->p == '"' ? plain_string_end(s, s->p) : NULL;
                if (e)
                        s->p = e;
                else if (!scan_value(s))
                        return false;
                int r = member_end(s);
                if (r <= 0)
                        return r == 0;
        }
}

/* issue 12 (verify9): a plain string [v, e) (quotes included) of member what into out, as
 * scan_wanted gives it: "host", "time" and "received" as strings with their bytes. */
static SCAN_INLINE void plain_string_member(struct seal_scan *out, enum member what,
                                            const unsigned char *v, const unsigned char *e)
{
        struct seal_span span = { (const char *)v + 1, (size_t)(e - v - 2) };

        if (what == M_HOST) {
                out->host_kind = SEAL_SCAN_STRING;
                out->host = span;
        } else if (what == M_TIME) {
                out->time_kind = SEAL_SCAN_STRING;
                out->time = span;
        } else if (what == M_RECEIVED) {
                out->received_kind = SEAL_SCAN_STRING;
                out->received = span;
        }
}

/* The record itself: its members, the wanted ones into out. issue 12 (verify9): the
 * nested-object path (scan_object) without the checks of out, and the commonest values of
 * the members nobody asks for (a plain string, null) and of "host", "time" and "received"
 * (a plain string) taken here, without the calls through scan_wanted and scan_value; every
 * other value as before. issue 12 (verify10): the cursor is a local (s->p is set only
 * around the calls that read it), each member starts at its separator, which a usual key
 * is stepped over with, and the value's first byte picks its path. issue 12 (verify13): the
 * usual keys walked by a pointer, and the byte a value ends at checked only when the next
 * usual key (separator included) does not match there; the first member enters the loop
 * past that check (it has its own compare, without the separator). */
static bool scan_top(struct scan *s, struct seal_scan *out)
{
        const unsigned char *end = s->end, *p = s->p, *prev = NULL, *k;
        const struct usual_key *u = usual_keys, *const u_end = usual_keys + N_USUAL;
        size_t prev_n = 0, kn;
        enum member what;
        bool prev_usual = false;  /* the key before was u[-1]'s (prev not set for it) */

        s->depth = 1;
        if (end - p >= 2 && p[1] == '}') {  /* p at the '{' */
                s->p = p + 2;
                s->depth = 0;
                return true;
        }
        /* p at the '{' (u is the first usual key: no bound check) */
        if (!usual_at(p, end, u, true))
                goto key;
        prev_usual = true;
        what = (enum member)u->member;
        p += u->len;
        u++;
        goto value;
        for (;;) {  /* p where the value before ended: ',' and a member, or the '}' */
                /* The next usual key, or the one after it when that one is absent (syslog
                 * records have no "journal"): every usual key from u on is greater than the
                 * key before, so either is in order. */
                const struct usual_key *m = u < u_end && usual_at(p, end, u, false) ? u
                                            : u + 1 < u_end && usual_at(p, end, u + 1, false)
                                                    ? u + 1 : NULL;

                if (m) {
                        u = m;
                        prev_usual = true;
                        what = (enum member)u->member;
                        p += u->len;
                        u++;
                } else {
                        if (p >= end)
                                return false;
                        if (*p == '}') {
                                s->p = p + 1;
                                s->depth = 0;
                                return true;
                        }
                        if (*p != ',')
                                return false;
                key:
                        s->p = p + 1;
                        if (!scan_key(s, &k, &kn))
                                return false;
                        if (prev_usual) {  /* u has not moved since that key */
                                prev = (const unsigned char *)u[-1].text + 2;
                                prev_n = u[-1].len - 4u;
                        }
                        if (prev && !key_less(prev, prev_n, k, kn))
                                return false;
                        prev = k;
                        prev_n = kn;
                        prev_usual = false;
                        what = member_of(k, kn);
                        while (u < u_end && !key_less(k, kn, (const unsigned char *)u->text + 2,
                                                      u->len - 4u))
                                u++;
                        p = s->p;
                }
        value:
                if (p >= end)
                        return false;
                const unsigned char *v = p, *e = NULL;
                /* Every path is the one scan_value would take for that byte (it also clears
                 * escaped, which only "host", "time" and "received" read, and they still go
                 * through scan_wanted unless their value is a plain string). */
                switch (*v) {
                case '"':
                        if ((what == M_OTHER || what == M_HOST || what == M_TIME ||
                             what == M_RECEIVED) && (e = plain_string_end(s, v))) {
                                if (what != M_OTHER)  /* most are: one test */
                                        plain_string_member(out, what, v, e);
                                p = e;
                                break;
                        }
                        goto general;
                case 'n':
                        if (what == M_OTHER && end - v >= 4 && memcmp(v, "null", 4) == 0) {
                                p = v + 4;
                                break;
                        }
                        goto general;
                case '{':
                        if (what != M_OTHER && what != M_SOURCE)
                                goto general;
                        if (what == M_OTHER && end - v >= 2 && v[1] == '}') {
                                p = v + 2;  /* {} ("sd" of most records): no call */
                                break;
                        }
                        s->p = v;
                        if (!scan_object(s))
                                return false;
                        p = s->p;
                        if (what == M_SOURCE)
                                out->source = (struct seal_span){ (const char *)v,
                                                                  (size_t)(p - v) };
                        break;
                case '[':
                        if (what != M_OTHER)
                                goto general;
                        if (end - v >= 2 && v[1] == ']') {
                                p = v + 2;
                                break;
                        }
                        s->p = v;
                        if (!scan_array(s))
                                return false;
                        p = s->p;
                        break;
                case '-': case '0': case '1': case '2': case '3': case '4': case '5':
                case '6': case '7': case '8': case '9':
                        if (what != M_OTHER)  /* "seq" included: scan_wanted reads it */
                                goto general;
                        s->p = v;
                        if (!scan_int(s, NULL))
                                return false;
                        p = s->p;
                        break;
                default:
                general:
                        s->p = v;
                        if (!scan_wanted(s, out, what))
                                return false;
                        p = s->p;
                }
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
                return scan_object(s);
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

/* One object at p, in at most len bytes; *ret_len: where it ends. 1 or 0 as seal_scan_record
 * (but bytes may follow the object: the callers check what follows). */
static int scan_run(const char *p, size_t len, struct seal_scan *ret, size_t *ret_len,
                    enum seal_scan_isa isa)
{
        struct scan s = { (const unsigned char *)p, (const unsigned char *)p + len, 0, false,
                          NULL, 0, classify_of(isa) };

        memset(ret, 0, offsetof(struct seal_scan, criteria));
        ret->seq = -1;
        ret->host_kind = ret->time_kind = ret->received_kind = SEAL_SCAN_ABSENT;
        if (len == 0 || !s.classify || *s.p != '{')
                return 0;
        scan_load(&s, s.p);
        if (!scan_top(&s, ret) || ret->seq < 0)
                return 0;
        *ret_len = (size_t)(s.p - (const unsigned char *)p);
        return 1;
}

int seal_scan_record_isa(const char *p, size_t len, struct seal_scan *ret,
                         enum seal_scan_isa isa)
{
        size_t n = 0;

        return scan_run(p, len, ret, &n, isa) == 1 && n == len;
}

int seal_scan_record(const char *p, size_t len, struct seal_scan *ret)
{
        return seal_scan_record_isa(p, len, ret, SEAL_SCAN_ISA_BEST);
}

/* The object ends at its closing brace whatever follows it: the scan never reads past a
 * decided object's end (the wide loads classify bytes beyond it, but only the first special
 * byte, inside the object, is used), so a decided object followed by '\n' is exactly the
 * line a split on '\n' gives (it holds no raw '\n': no white space outside strings, no
 * control inside), with the same answer and members. */
int seal_scan_line_isa(const char *p, size_t avail, struct seal_scan *ret, size_t *ret_len,
                       enum seal_scan_isa isa)
{
        size_t n = 0;

        if (scan_run(p, avail, ret, &n, isa) != 1 || n >= avail || p[n] != '\n')
                return 0;
        *ret_len = n;
        return 1;
}

int seal_scan_line(const char *p, size_t avail, struct seal_scan *ret, size_t *ret_len)
{
        return seal_scan_line_isa(p, avail, ret, ret_len, SEAL_SCAN_ISA_BEST);
}
