/* JSON text to tree: the strict parser. It is fed hostile input (Kafka payloads, rule
 * files, records read back for verification).
 *
 * It implements RFC 8259 exactly, plus the I-JSON (RFC 7493) restrictions RFC 8785 relies
 * on: strings must be valid UTF-8 with no lone surrogates (section 2.1), object keys must be
 * unique (section 2.3), numbers must fit an IEEE double (section 2.2). Deviations we chose:
 * "\u0000" is refused, because every string in the tree is NUL-free so that C readers of the
 * export can use it; nesting deeper than JSON_MAX_DEPTH is refused (RFC 8259 section 9
 * allows limits). Integers without fraction or exponent that fit int64 stay exact
 * (JSON_INT). Duplicate keys are found by sorting the keys once the object is complete, so
 * a hostile object with many members costs O(n log n), never O(n^2); objects whose keys
 * arrive in increasing order (canonical text) need no sort. The parser never asserts on
 * input: every problem is an -EBADMSG with the byte offset and a short message. The tree
 * is built in the arena of its root (core/json-arena.c). */
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
        json *tree;         /* the root container once made: values allocate in its arena */
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

/* The bytes of w that end a run of plain ASCII string bytes: below 0x20, '"', '\\' or 0x80
 * and above, each flagged by its high bit (the "has a byte below n" test of Hacker's
 * Delight 6-1; n = 0x20, and a zero byte for w xor '"' and w xor '\\'). Bytes above the
 * first such byte may be flagged falsely (a borrow), but the lowest flag is exact: below
 * it no byte borrows, so the first byte of w (in memory order) that ends the run is the
 * lowest flagged one. 0: all eight bytes are plain. */
static inline uint64_t word_run_ends(uint64_t w)
{
        const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

        return (w | ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high;
}

/* The offset in w's eight bytes (memory order) of the first byte flagged in m (not 0). */
static inline size_t word_first(uint64_t m)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        return (size_t)__builtin_clzll(m) >> 3;
#else
        return (size_t)__builtin_ctzll(m) >> 3;
#endif
}

/* Scans the run of plain string bytes at s[pos] and checks its UTF-8. Performance (issue
 * 12): eight bytes at a time while they are plain ASCII (round 9); the word that holds the
 * run's end says where it is, with no byte loop over its last bytes (round 10: a Kafka
 * event's keys and values are 2-18 bytes, so most runs end in their first word); the UTF-8
 * check only for a run that holds a byte of 0x80 or above, which the byte loop takes from
 * the first such byte on. Inlined into parse_string_raw, its one caller (~14 strings per
 * Kafka event each paid the call's register saves). With parse_members' one array below,
 * json_parse_in went from 4,590 to 3,578 instructions per bench event (callgrind). */
static inline __attribute__((always_inline)) int string_run(struct parser *p,
                                                             size_t *ret_start)
{
        size_t start = p->pos, bad;
        unsigned char high = 0;

        while (p->len - p->pos >= 8) {
                uint64_t w, m;

                memcpy(&w, p->s + p->pos, 8);
                m = word_run_ends(w);
                if (m == 0) {
                        p->pos += 8;
                        continue;
                }
                p->pos += word_first(m);
                if ((unsigned char)p->s[p->pos] < 0x80) {
                        *ret_start = start;  /* every byte before it is plain ASCII */
                        return 0;
                }
                break;
        }
        while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\' &&
               (unsigned char)p->s[p->pos] >= 0x20)
                high |= (unsigned char)p->s[p->pos++];
        if (!(high & 0x80)) {
                *ret_start = start;
                return 0;
        }
        /* A run between ASCII delimiters holds whole UTF-8 sequences only. */
        bad = json_utf8_check(p->s + start, p->pos - start);
        if (bad != p->pos - start)
                return fail(p, start + bad, "invalid UTF-8 in string");
        *ret_start = start;
        return 0;
}

/* Parses a string literal at s[pos] == '"'. *ret_s points into the input when the string
 * has no escape (performance, issue 12: no copy), else into p->scratch. */
static int parse_string_raw(struct parser *p, const char **ret_s, size_t *ret_n)
{
        size_t start;
        int r;

        p->pos++;
        r = string_run(p, &start);
        if (r < 0)
                return r;
        if (p->pos < p->len && p->s[p->pos] == '"') {
                *ret_s = p->s + start;
                *ret_n = p->pos - start;
                p->pos++;
                return 0;
        }
        buf_reset(&p->scratch);
        for (;;) {
                if (buf_append(&p->scratch, p->s + start, p->pos - start) < 0)
                        return -ENOMEM;
                if (p->pos >= p->len)
                        return fail(p, p->pos, "unterminated string");
                if (p->s[p->pos] == '"') {
                        p->pos++;
                        *ret_s = p->scratch.data ? p->scratch.data : "";
                        *ret_n = p->scratch.len;
                        return 0;
                }
                if (p->s[p->pos] != '\\')
                        return fail(p, p->pos, "unescaped control character in string");
                r = parse_escape(p);
                if (r < 0)
                        return r;
                r = string_run(p, &start);
                if (r < 0)
                        return r;
        }
}

/* A string node of the parsed tree (valid UTF-8 already checked). */
static json *parsed_str(struct parser *p, const char *s, size_t n)
{
        json *v;

        if (!p->tree)
                return json_new_strn(s, n);
        v = json_arena_new_str(json_arena_of(p->tree), n);
        if (v && n > 0)
                memcpy(v->u.s.p, s, n);
        return v;
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
                *ret = json_new_int_in(p->tree, i);
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

/* Objects up to this many members are checked for duplicate keys pair by pair (n(n-1)/2
 * compares), larger ones by sorting a copy (O(n log n), for hostile objects). */
#define JSON_DUP_PAIRWISE_MAX 12

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

        /* Keys in strictly increasing order (canonical text, all we store) are unique. */
        if (n < 2 || (obj->flags & JSON_F_SORTED))
                return 0;
        /* A small object (an event's few members): each pair compared, no copy and no
         * sort (performance, issue 12, round 9: the qsort and its malloc cost ~1,100
         * instructions for a Kafka event's 7 members; 28 pairs cost ~300). */
        if (n <= JSON_DUP_PAIRWISE_MAX) {
                m = obj->u.o.m;
                for (size_t i = 1; i < n; i++)
                        for (size_t j = 0; j < i; j++)
                                if (m[i].key_len == m[j].key_len &&
                                    !memcmp(m[i].key, m[j].key, m[i].key_len))
                                        return fail(p, at, "duplicate object key");
                return 0;
        }
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

/* After a member or an element: 1 when a ',' follows (another one comes), 0 when `close`
 * ends the object or array (both consumed), else -EBADMSG. One place for both loops. */
static int list_next(struct parser *p, char close)
{
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                return 1;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
                p->pos++;
                return 0;
        }
        return fail(p, p->pos, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
}

/* Members an object collects on the stack before they go into its arena in one array
 * (parse_members). 16: a Kafka event has 7-10, so its array is allocated once at its size;
 * an object with more pushes the rest one by one (json_obj_push), as all did before. */
#define JSON_MEMBERS_LOCAL 16

/* Puts the n collected members into obj (empty, made by the parser: SORTED set) in one
 * array of exactly n, as n json_obj_push calls would have (same members, same order, the
 * same SORTED flag). Performance (issue 12, round 10): json_obj_push's call, its growth
 * (arrays of 4 then 8, the first copied) and its per-member order test cost ~75
 * instructions per member of a Kafka event, callgrind. 0 or -ENOMEM. */
static int members_flush(json *obj, const struct json_member *loc, size_t n)
{
        if (n == 0)
                return 0;
        if (json_obj_reserve(obj, n) < 0)
                return -ENOMEM;
        memcpy(obj->u.o.m, loc, n * sizeof(*loc));
        obj->u.o.n = (uint32_t)n;
        for (size_t i = 1; i < n && (obj->flags & JSON_F_SORTED); i++)
                if (json_key_cmp_fast(loc[i - 1].key, loc[i - 1].key_len, loc[i].key,
                                      loc[i].key_len) >= 0)
                        obj->flags &= (uint8_t)~JSON_F_SORTED;
        return 0;
}

static int parse_members(struct parser *p, json *obj)
{
        struct json_member loc[JSON_MEMBERS_LOCAL];
        struct json_arena *a = json_arena_of(obj);
        size_t n = 0;  /* collected in loc; SIZE_MAX once flushed (then pushed) */

        for (;;) {
                json *val = NULL;
                const char *ks;
                char *key;
                size_t key_len;
                int r, plain;

                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != '"')
                        return fail(p, p->pos, "object key expected");
                r = parse_string_raw(p, &ks, &key_len);
                if (r < 0)
                        return r;
                /* Read without escapes: no control, '"' or '\\' in it (string_run). */
                plain = ks != p->scratch.data || !p->scratch.data ? 1 : -1;
                key = json_arena_strdup(a, ks, key_len);
                if (!key)
                        return -ENOMEM;
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != ':')
                        return fail(p, p->pos, "':' expected");
                p->pos++;
                r = parse_value(p, &val);
                if (r < 0)
                        return r;
                if (n < JSON_MEMBERS_LOCAL && key_len <= UINT32_MAX) {
                        /* As json_obj_push: a value from outside the arena (a number
                         * parsed as a double is standalone) joins the tree now, so that a
                         * later failure frees it with the tree. */
                        if (!(val->flags & JSON_F_STATIC) &&
                            ((val->flags & JSON_F_ROOT) || val->arena != a) &&
                            !(val = json_take(obj, val)))
                                return -ENOMEM;
                        if (plain < 0) {
                                size_t i = 0;

                                while (i < key_len && (unsigned char)key[i] >= 0x20 &&
                                       key[i] != '"' && key[i] != '\\')
                                        i++;
                                plain = i == key_len;
                        }
                        loc[n++] = (struct json_member){ key, (uint32_t)key_len,
                                                         (uint32_t)plain, val };
                } else {
                        if (n != SIZE_MAX && members_flush(obj, loc, n) < 0) {
                                json_free(val);
                                return -ENOMEM;
                        }
                        n = SIZE_MAX;
                        r = json_obj_push(obj, key, key_len, plain, val);
                        if (r < 0)
                                return r;
                }
                r = list_next(p, '}');
                if (r == 0 && n != SIZE_MAX)
                        r = members_flush(obj, loc, n);
                if (r <= 0)
                        return r;
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
                if (r == 0)
                        r = list_next(p, ']');
                if (r <= 0)
                        return r;
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
        v = is_obj ? json_new_obj_in(p->tree) : json_new_arr_in(p->tree);
        if (!v)
                return -ENOMEM;
        if (!p->tree)
                p->tree = v; /* the root: everything below allocates in its arena */
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
                json_free(v); /* frees the whole tree at the root, nothing below it */
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
        const char *str;
        size_t n;
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
                r = parse_string_raw(p, &str, &n);
                if (r < 0)
                        return r;
                *ret = parsed_str(p, str, n);
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

/* tree NULL: the first container made becomes the root; else everything goes in its arena. */
static int parse_top(json *tree, const char *s, size_t len, json **ret, struct json_error *err)
{
        struct parser p = { .s = s, .len = len, .err = err, .tree = tree };
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

int json_parse(const char *s, size_t len, json **ret, struct json_error *err)
{
        return parse_top(NULL, s, len, ret, err);
}

int json_parse_in(json *tree, const char *s, size_t len, json **ret, struct json_error *err)
{
        if (!tree || !json_arena_of(tree))
                return -EINVAL;
        return parse_top(tree, s, len, ret, err);
}
