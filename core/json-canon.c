/* JSON text: the strict parser (text to tree) and the RFC 8785 canonical serialiser (tree to
 * text). Every record hash in gatelog is taken over this serialiser's output, so it must be
 * byte-exact and deterministic; the parser is fed hostile input (Kafka payloads, rule files).
 *
 * The parser implements RFC 8259 exactly, plus the I-JSON (RFC 7493) restrictions RFC 8785
 * relies on: strings must be valid UTF-8 with no lone surrogates (section 2.1), object keys
 * must be unique (section 2.3), numbers must fit an IEEE double (section 2.2). Deviations we
 * chose: "\u0000" is refused, because every string in the tree is NUL-free so that C readers
 * of the export can use it; nesting deeper than JSON_MAX_DEPTH is refused (RFC 8259 section 9
 * allows limits). Integers without fraction or exponent that fit int64 stay exact (JSON_INT).
 * Duplicate keys are found by sorting the keys once the object is complete, so a hostile
 * object with many members costs O(n log n), never O(n^2). The parser never asserts on input:
 * every problem is an -EBADMSG with the byte offset and a short message.
 *
 * The serialiser follows RFC 8785 section 3.2: members sorted by UTF-16 code units
 * (3.2.3), strings escaped minimally (3.2.2.2), doubles in ECMAScript's Number.toString form
 * (3.2.2.3). JSON_INT values are printed exactly, even past 2^53 (a deliberate extension:
 * such values only come from our own counters). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/json-internal.h"
#include "core/limits.h"


struct parser {
        const char *s;
        size_t len, pos;
        unsigned depth;
        struct buf scratch; /* decoded string bytes */
        struct json_error *err;
};

static int fail(struct parser *p, size_t off, const char *msg)
{
        if (p->err) {
                p->err->offset = off;
                snprintf(p->err->msg, sizeof(p->err->msg), "%s", msg);
        }
        return -EBADMSG;
}

static void skip_ws(struct parser *p)
{
        while (p->pos < p->len) {
                char c = p->s[p->pos];

                if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
                        break;
                p->pos++;
        }
}

static int hex4(struct parser *p, size_t at, unsigned *ret)
{
        unsigned v = 0;

        if (p->len - at < 4)
                return fail(p, at, "truncated \\u escape");
        for (size_t k = 0; k < 4; k++) {
                char c = p->s[at + k];
                unsigned d;

                if (c >= '0' && c <= '9')
                        d = (unsigned)(c - '0');
                else if (c >= 'a' && c <= 'f')
                        d = (unsigned)(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        d = (unsigned)(c - 'A' + 10);
                else
                        return fail(p, at + k, "bad hex digit in \\u escape");
                v = v << 4 | d;
        }
        *ret = v;
        return 0;
}

static int put_utf8(struct buf *b, unsigned cp)
{
        char u[4];
        size_t n;

        if (cp < 0x80) {
                u[0] = (char)cp;
                n = 1;
        } else if (cp < 0x800) {
                u[0] = (char)(0xc0 | cp >> 6);
                u[1] = (char)(0x80 | (cp & 0x3f));
                n = 2;
        } else if (cp < 0x10000) {
                u[0] = (char)(0xe0 | cp >> 12);
                u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
                u[2] = (char)(0x80 | (cp & 0x3f));
                n = 3;
        } else {
                u[0] = (char)(0xf0 | cp >> 18);
                u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
                u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
                u[3] = (char)(0x80 | (cp & 0x3f));
                n = 4;
        }
        return buf_append(b, u, n);
}

/* Decodes a \uXXXX escape (and its low surrogate) at s[pos], pos pointing at the 'u'. */
static int parse_u_escape(struct parser *p)
{
        size_t at = p->pos - 1; /* the backslash, for messages */
        unsigned cp, lo;
        int r;

        r = hex4(p, p->pos + 1, &cp);
        if (r < 0)
                return r;
        p->pos += 5;
        if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(p, at, "lone low surrogate in \\u escape");
        if (cp >= 0xd800 && cp <= 0xdbff) {
                if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                        return fail(p, at, "lone high surrogate in \\u escape");
                r = hex4(p, p->pos + 2, &lo);
                if (r < 0)
                        return r;
                if (lo < 0xdc00 || lo > 0xdfff)
                        return fail(p, at, "lone high surrogate in \\u escape");
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp == 0)
                return fail(p, at, "\\u0000 is not accepted");
        return put_utf8(&p->scratch, cp) < 0 ? -ENOMEM : 0;
}

static int parse_escape(struct parser *p)
{
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *e;
        char c;

        if (p->pos + 1 >= p->len)
                return fail(p, p->pos, "unterminated string");
        c = p->s[p->pos + 1];
        if (c == 'u') {
                p->pos++;
                return parse_u_escape(p);
        }
        e = c ? strchr(from, c) : NULL;
        if (!e)
                return fail(p, p->pos, "bad escape");
        p->pos += 2;
        return buf_putc(&p->scratch, to[e - from]) < 0 ? -ENOMEM : 0;
}

/* Parses a string literal at s[pos] == '"' into p->scratch. */
static int parse_string_raw(struct parser *p)
{
        int r;

        buf_reset(&p->scratch);
        p->pos++;
        for (;;) {
                size_t start = p->pos, bad;

                while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\' &&
                       (unsigned char)p->s[p->pos] >= 0x20)
                        p->pos++;
                /* A run between ASCII delimiters holds whole UTF-8 sequences only. */
                bad = json_utf8_check(p->s + start, p->pos - start);
                if (bad != p->pos - start)
                        return fail(p, start + bad, "invalid UTF-8 in string");
                if (buf_append(&p->scratch, p->s + start, p->pos - start) < 0)
                        return -ENOMEM;
                if (p->pos >= p->len)
                        return fail(p, p->pos, "unterminated string");
                if (p->s[p->pos] == '"') {
                        p->pos++;
                        return 0;
                }
                if (p->s[p->pos] != '\\')
                        return fail(p, p->pos, "unescaped control character in string");
                r = parse_escape(p);
                if (r < 0)
                        return r;
        }
}

static int scan_digits(struct parser *p)
{
        size_t start = p->pos;

        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
                p->pos++;
        return p->pos > start ? 0 : fail(p, p->pos, "digit expected");
}

/* Exact int64 from a digit run with optional '-', or false if it overflows. */
static bool parse_int64(const char *s, size_t n, int64_t *ret)
{
        bool neg = s[0] == '-';
        uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

        for (size_t i = neg; i < n; i++) {
                unsigned d = (unsigned)(s[i] - '0');

                if (v > (lim - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *ret = neg ? (int64_t)(0 - v) : (int64_t)v;
        return true;
}

static int parse_number(struct parser *p, json **ret)
{
        size_t start = p->pos, n;
        bool is_int = true;
        char tmp[64], *copy, *end;
        int64_t i;
        double d;
        int r;

        if (p->s[p->pos] == '-')
                p->pos++;
        if (p->pos < p->len && p->s[p->pos] == '0')
                p->pos++;
        else if ((r = scan_digits(p)) < 0)
                return r;
        if (p->pos < p->len && p->s[p->pos] == '.') {
                p->pos++;
                is_int = false;
                if ((r = scan_digits(p)) < 0)
                        return r;
        }
        if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
                p->pos++;
                is_int = false;
                if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
                        p->pos++;
                if ((r = scan_digits(p)) < 0)
                        return r;
        }
        n = p->pos - start;
        if (is_int && parse_int64(p->s + start, n, &i)) {
                *ret = json_new_int(i);
                return *ret ? 0 : -ENOMEM;
        }
        /* strtod needs a NUL-terminated copy; the grammar above keeps it locale-neutral
         * as long as the program never calls setlocale(LC_NUMERIC). */
        copy = n < sizeof(tmp) ? tmp : malloc(n + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, p->s + start, n);
        copy[n] = '\0';
        d = strtod(copy, &end);
        if (copy != tmp)
                free(copy);
        if (d - d != 0)
                return fail(p, start, "number out of range");
        *ret = json_new_num(d);
        return *ret ? 0 : -ENOMEM;
}

static int parse_value(struct parser *p, json **ret);

static int key_order(const void *a, const void *b)
{
        const struct json_member *x = a, *y = b;

        if (x->key_len != y->key_len)
                return x->key_len < y->key_len ? -1 : 1;
        return memcmp(x->key, y->key, x->key_len);
}

/* RFC 8785 section 3.1 / RFC 7493 section 2.3: member names must be unique. */
static int check_dup_keys(struct parser *p, const json *obj, size_t at)
{
        struct json_member *m;
        size_t n = obj->u.o.n;
        int r = 0;

        if (n < 2)
                return 0;
        m = malloc(n * sizeof(*m));
        if (!m)
                return -ENOMEM;
        memcpy(m, obj->u.o.m, n * sizeof(*m));
        qsort(m, n, sizeof(*m), key_order);
        for (size_t i = 1; i < n && r == 0; i++)
                if (key_order(&m[i - 1], &m[i]) == 0)
                        r = fail(p, at, "duplicate object key");
        free(m);
        return r;
}

static int parse_members(struct parser *p, json *obj)
{
        for (;;) {
                json *val = NULL;
                char *key;
                size_t key_len;
                int r;

                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != '"')
                        return fail(p, p->pos, "object key expected");
                r = parse_string_raw(p);
                if (r < 0)
                        return r;
                key_len = p->scratch.len;
                key = json_memdup_nul(p->scratch.data ? p->scratch.data : "", key_len);
                if (!key)
                        return -ENOMEM;
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != ':') {
                        free(key);
                        return fail(p, p->pos, "':' expected");
                }
                p->pos++;
                r = parse_value(p, &val);
                if (r < 0) {
                        free(key);
                        return r;
                }
                r = json_obj_push(obj, key, key_len, val);
                if (r < 0)
                        return r;
                skip_ws(p);
                if (p->pos < p->len && p->s[p->pos] == ',') {
                        p->pos++;
                        continue;
                }
                if (p->pos < p->len && p->s[p->pos] == '}') {
                        p->pos++;
                        return 0;
                }
                return fail(p, p->pos, "',' or '}' expected");
        }
}

static int parse_elements(struct parser *p, json *arr)
{
        for (;;) {
                json *val = NULL;
                int r = parse_value(p, &val);

                if (r < 0)
                        return r;
                r = json_arr_append(arr, val);
                if (r < 0)
                        return r;
                skip_ws(p);
                if (p->pos < p->len && p->s[p->pos] == ',') {
                        p->pos++;
                        continue;
                }
                if (p->pos < p->len && p->s[p->pos] == ']') {
                        p->pos++;
                        return 0;
                }
                return fail(p, p->pos, "',' or ']' expected");
        }
}

static int parse_container(struct parser *p, json **ret)
{
        size_t at = p->pos;
        bool is_obj = p->s[p->pos] == '{';
        json *v;
        int r;

        if (p->depth >= JSON_MAX_DEPTH)
                return fail(p, at, "nesting too deep");
        v = is_obj ? json_new_obj() : json_new_arr();
        if (!v)
                return -ENOMEM;
        p->pos++;
        p->depth++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == (is_obj ? '}' : ']')) {
                p->pos++;
                r = 0;
        } else if (is_obj) {
                r = parse_members(p, v);
                if (r == 0)
                        r = check_dup_keys(p, v, at);
        } else {
                r = parse_elements(p, v);
        }
        p->depth--;
        if (r < 0) {
                json_free(v);
                return r;
        }
        *ret = v;
        return 0;
}

static int parse_literal(struct parser *p, const char *word, json *v, json **ret)
{
        size_t n = strlen(word);

        if (!v)
                return -ENOMEM;
        if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
                json_free(v);
                return fail(p, p->pos, "invalid literal");
        }
        p->pos += n;
        *ret = v;
        return 0;
}

static int parse_value(struct parser *p, json **ret)
{
        char c;
        int r;

        skip_ws(p);
        if (p->pos >= p->len)
                return fail(p, p->pos, "value expected");
        c = p->s[p->pos];
        switch (c) {
        case '{':
        case '[':
                return parse_container(p, ret);
        case '"':
                r = parse_string_raw(p);
                if (r < 0)
                        return r;
                *ret = json_new_str_take(json_memdup_nul(p->scratch.data ? p->scratch.data : "",
                                                    p->scratch.len), p->scratch.len);
                return *ret ? 0 : -ENOMEM;
        case 't':
                return parse_literal(p, "true", json_new_bool(true), ret);
        case 'f':
                return parse_literal(p, "false", json_new_bool(false), ret);
        case 'n':
                return parse_literal(p, "null", json_new_null(), ret);
        default:
                if (c == '-' || (c >= '0' && c <= '9'))
                        return parse_number(p, ret);
                return fail(p, p->pos, "unexpected character");
        }
}

int json_parse(const char *s, size_t len, json **ret, struct json_error *err)
{
        struct parser p = { .s = s, .len = len, .err = err };
        json *v = NULL;
        int r;

        if (!s && len > 0)
                return fail(&p, 0, "no input");
        if (!s)
                p.s = "";
        /* Decoded strings are never longer than the input. */
        p.scratch.max = len + 1;
        r = parse_value(&p, &v);
        if (r == 0) {
                skip_ws(&p);
                if (p.pos != p.len) {
                        json_free(v);
                        r = fail(&p, p.pos, "trailing characters after the value");
                }
        }
        buf_free(&p.scratch);
        if (r == -E2BIG)
                r = -ENOMEM;
        if (r == 0)
                *ret = v;
        return r;
}

/* ---- Canonical serialiser (RFC 8785) ---- */

/* First UTF-16 code unit of a code point: itself in the BMP, else its high surrogate. */
static unsigned utf16_first_unit(unsigned cp)
{
        return cp < 0x10000 ? cp : 0xd800 + ((cp - 0x10000) >> 10);
}

/* Decodes the code point at s[*i]; an invalid byte decodes as itself (keys are valid UTF-8
 * by construction, this only keeps the order total). */
static unsigned utf8_next(const char *s, size_t n, size_t *i)
{
        const unsigned char *u = (const unsigned char *)s + *i;
        size_t bad, k = json_utf8_seq(u, n - *i, &bad);
        unsigned cp;

        if (k <= 1) {
                (*i)++;
                return u[0];
        }
        cp = u[0] & (0x7f >> k);
        for (size_t j = 1; j < k; j++)
                cp = cp << 6 | (u[j] & 0x3f);
        *i += k;
        return cp;
}

int json_key_cmp(const char *a, size_t na, const char *b, size_t nb)
{
        size_t i = 0, j = 0, p = 0, m = na < nb ? na : nb;

        /* Performance (issue 12): UTF-8 byte order is code point order, so the common
         * prefix and a first difference between two ASCII bytes decide without decoding;
         * only a difference at a non-ASCII code point needs the UTF-16 rule below. */
        while (p < m && a[p] == b[p])
                p++;
        if (p == m)
                return na == nb ? 0 : na < nb ? -1 : 1;
        if (!((unsigned char)a[p] & 0x80) && !((unsigned char)b[p] & 0x80))
                return (unsigned char)a[p] < (unsigned char)b[p] ? -1 : 1;
        while (p > 0 && ((unsigned char)a[p] & 0xc0) == 0x80)
                p--; /* back to the start of the code point that differs */
        i = j = p;

        while (i < na && j < nb) {
                unsigned ca = utf8_next(a, na, &i), cb = utf8_next(b, nb, &j);
                unsigned ua, ub;

                if (ca == cb)
                        continue;
                /* Code points order like UTF-16 units except that U+E000..U+FFFF sort after
                 * the surrogates that encode U+10000 and above. Two supplementary code points
                 * with the same high surrogate order by their low one, i.e. by code point. */
                ua = utf16_first_unit(ca);
                ub = utf16_first_unit(cb);
                if (ua != ub)
                        return ua < ub ? -1 : 1;
                return ca < cb ? -1 : 1;
        }
        if (i < na)
                return 1;
        if (j < nb)
                return -1;
        return 0;
}

/* Length of the prefix of s[0..n) that needs no escape (no control, '"' or '\\'), eight
 * bytes at a time (performance, issue 12): the classic "has a byte less than / equal to"
 * word tests, exact for every byte value. */
static size_t plain_prefix(const char *s, size_t n)
{
        const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
        size_t i = 0;

        while (n - i >= 8) {
                uint64_t w, q, bs;

                memcpy(&w, s + i, 8);
                q = w ^ (ones * '"');
                bs = w ^ (ones * '\\');
                if (((w - ones * 0x20) & ~w & highs) | ((q - ones) & ~q & highs) |
                    ((bs - ones) & ~bs & highs))
                        break;
                i += 8;
        }
        while (i < n && (unsigned char)s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
                i++;
        return i;
}

/* json_canon_str for strings of a tree, which hold valid UTF-8 by construction (every
 * constructor and setter checks it): not checked again (performance, issue 12). */
static int canon_str_valid(struct buf *out, const char *s, size_t n)
{
        size_t run = 0;
        int r;

        r = buf_putc(out, '"');
        for (size_t i = 0; i < n && r == 0; i++) {
                unsigned char c;
                const char *esc = NULL;

                i += plain_prefix(s + i, n - i); /* performance (issue 12) */
                if (i >= n)
                        break;
                c = (unsigned char)s[i];

                switch (c) {
                case '"': esc = "\\\""; break;
                case '\\': esc = "\\\\"; break;
                case '\b': esc = "\\b"; break;
                case '\f': esc = "\\f"; break;
                case '\n': esc = "\\n"; break;
                case '\r': esc = "\\r"; break;
                case '\t': esc = "\\t"; break;
                default:
                        if (c >= 0x20)
                                continue;
                }
                /* Flush the plain run before this byte, then the escape. */
                r = buf_append(out, s + run, i - run);
                if (r == 0)
                        r = esc ? buf_puts(out, esc) : buf_printf(out, "\\u%04x", c);
                run = i + 1;
        }
        if (r == 0)
                r = buf_append(out, s + run, n - run);
        if (r == 0)
                r = buf_putc(out, '"');
        return r;
}

int json_canon_str(struct buf *out, const char *s, size_t n)
{
        if (!json_utf8_valid(s, n))
                return -EINVAL;
        return canon_str_valid(out, s, n);
}

/* ECMAScript Number::toString (ECMA-262 section 6.1.6.1.20), as RFC 8785 section 3.2.2.3
 * requires. The shortest digit string that round-trips is found by trying precisions 1..17
 * with glibc's exact printf; the correctly rounded candidate at the first precision that
 * round-trips is the closest one, which is the tie-break ECMAScript asks for. */
static int canon_double(struct buf *out, double d)
{
        char tmp[40], digits[20], o[32];
        int k = 0, e10 = 0, n, r = 0;

        if (d == 0)
                return buf_putc(out, '0'); /* also -0 */
        if (d < 0) {
                r = buf_putc(out, '-');
                d = -d;
        }
        for (int p = 1; p <= 17; p++) {
                snprintf(tmp, sizeof(tmp), "%.*e", p - 1, d);
                if (strtod(tmp, NULL) == d)
                        break;
        }
        /* tmp is "D[.DDD]e[+-]XX". */
        for (const char *c = tmp; *c && *c != 'e'; c++)
                if (*c != '.')
                        digits[k++] = *c;
        e10 = atoi(strchr(tmp, 'e') + 1);
        while (k > 1 && digits[k - 1] == '0')
                k--;
        digits[k] = '\0';
        n = e10 + 1; /* value = 0.digits * 10^n, 1 <= k <= 17, -323 <= n <= 309 */
        if (r < 0)
                return r;
        if (k <= n && n <= 21) {                /* integer: digits then n-k zeros */
                memcpy(o, digits, (size_t)k);
                memset(o + k, '0', (size_t)(n - k));
                return buf_append(out, o, (size_t)n);
        }
        if (0 < n && n <= 21)                   /* point inside the digits */
                return buf_printf(out, "%.*s.%s", n, digits, digits + n);
        if (-6 < n && n <= 0) {                 /* 0.000ddd */
                memcpy(o, "0.", 2);
                memset(o + 2, '0', (size_t)-n);
                r = buf_append(out, o, (size_t)(2 - n));
                return r < 0 ? r : buf_puts(out, digits);
        }
        if (k == 1)                             /* de+x */
                return buf_printf(out, "%se%c%d", digits, n - 1 < 0 ? '-' : '+', abs(n - 1));
        return buf_printf(out, "%c.%se%c%d", digits[0], digits + 1, n - 1 < 0 ? '-' : '+',
                          abs(n - 1));
}

static int canon_value(const json *v, struct buf *out);

static int member_cmp(const void *a, const void *b)
{
        const struct json_member *x = a, *y = b;

        return json_key_cmp(x->key, x->key_len, y->key, y->key_len);
}

/* Objects up to this many members are sorted on the stack by insertion (a gate record has
 * about twenty); larger ones are copied to the heap and qsorted. */
#define CANON_SMALL_OBJ 48

static int canon_object(const json *v, struct buf *out)
{
        size_t n = v->u.o.n;
        struct json_member small[CANON_SMALL_OBJ], *m = small;
        int r;

        if (n == 0)
                return buf_puts(out, "{}");
        if (n > CANON_SMALL_OBJ) {
                m = malloc(n * sizeof(*m));
                if (!m)
                        return -ENOMEM;
                memcpy(m, v->u.o.m, n * sizeof(*m));
                qsort(m, n, sizeof(*m), member_cmp);
        } else {
                /* Performance (issue 12): no allocation, no qsort call overhead. */
                for (size_t i = 0; i < n; i++) {
                        struct json_member x = v->u.o.m[i];
                        size_t lo = 0, hi = i; /* binary insertion: ~n log n compares */
                        while (lo < hi) {
                                size_t mid = (lo + hi) / 2;
                                if (member_cmp(&m[mid], &x) > 0)
                                        hi = mid;
                                else
                                        lo = mid + 1;
                        }
                        memmove(&m[lo + 1], &m[lo], (i - lo) * sizeof(*m));
                        m[lo] = x;
                }
        }
        r = buf_putc(out, '{');
        for (size_t i = 0; i < n && r == 0; i++) {
                if (i > 0)
                        r = buf_putc(out, ',');
                if (r == 0)
                        r = canon_str_valid(out, m[i].key, m[i].key_len);
                if (r == 0)
                        r = buf_putc(out, ':');
                if (r == 0)
                        r = canon_value(m[i].val, out);
        }
        if (m != small)
                free(m);
        return r < 0 ? r : buf_putc(out, '}');
}

static int canon_value(const json *v, struct buf *out)
{
        int r;

        if (!v) /* as json_type_of: NULL is null */
                return buf_puts(out, "null");
        switch (v->type) {
        case JSON_NULL:
                return buf_puts(out, "null");
        case JSON_BOOL:
                return buf_puts(out, v->u.b ? "true" : "false");
        case JSON_INT: {
                /* Performance (issue 12): no printf for the commonest number. */
                char d[24], *e = d + sizeof(d), *q = e;
                uint64_t u = v->u.i < 0 ? 0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
                do
                        *--q = (char)('0' + u % 10);
                while ((u /= 10) != 0);
                if (v->u.i < 0)
                        *--q = '-';
                return buf_append(out, q, (size_t)(e - q));
        }
        case JSON_NUM:
                return canon_double(out, v->u.d);
        case JSON_STR:
                return canon_str_valid(out, v->u.s.p, v->u.s.n);
        case JSON_ARR:
                r = buf_putc(out, '[');
                for (size_t i = 0; i < v->u.a.n && r == 0; i++) {
                        if (i > 0)
                                r = buf_putc(out, ',');
                        if (r == 0)
                                r = canon_value(v->u.a.v[i], out);
                }
                return r < 0 ? r : buf_putc(out, ']');
        case JSON_OBJ:
                return canon_object(v, out);
        }
        return -EINVAL;
}

int json_canon(const json *v, struct buf *out)
{
        size_t saved = out->len;
        int r = canon_value(v, out);

        if (r < 0 && out->data) {
                /* Leave the buffer as it was, not half-written. */
                out->len = saved;
                out->data[saved] = '\0';
        }
        return r;
}
