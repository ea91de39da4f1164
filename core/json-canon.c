/* Tree to JSON text: the RFC 8785 canonical serialiser. Every record hash in gatelog is
 * taken over this serialiser's output, so it must be byte-exact and deterministic.
 *
 * It follows RFC 8785 section 3.2: members sorted by UTF-16 code units (3.2.3), strings
 * escaped minimally (3.2.2.2), doubles in ECMAScript's Number.toString form (3.2.2.3).
 * JSON_INT values are printed exactly, even past 2^53 (a deliberate extension: such values
 * only come from our own counters). The parser is in json-parse.c. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/json.h"
#include "core/json-canon-scan.h"
#include "core/json-internal.h"
#include "core/limits.h"

/* ---- Canonical serialiser (RFC 8785); the byte scanners are in json-canon-scan.h ---- */

/* The serialiser's writer (performance, issue 12): a tree's canonical form is written with
 * a few hundred small appends, so each is an inline capacity check and a memcpy, and the
 * buffer's terminating NUL is written once at the end (json_canon). The write position and
 * the last byte a piece may reach are kept as pointers (prestore7): the check is one
 * compare of two fields instead of four loads and two compares against the buf's length,
 * allocation and cap. b->len is brought up to date only when the buf itself is needed
 * (cw_grow, canon_double) and at the end (cw_finish). */
struct cw {
        struct buf *b;
        char *p;       /* next byte: b->data + the length written so far */
        char *end;     /* b->data + min(alloc - 1, cap): a piece may end here, the NUL after */
        size_t max;    /* the buffer's cap */
};

/* Derives p and end from the buf (after its data moved or its length changed). */
static void cw_load(struct cw *w)
{
        struct buf *b = w->b;
        size_t lim = b->alloc - 1 < w->max ? b->alloc - 1 : w->max;

        w->p = b->data + b->len;
        w->end = b->data + lim;
}

/* Starts writing at the end of out: 0, or -E2BIG/-ENOMEM when not even one byte and the NUL
 * fit (every canonical form has at least one byte, so that is the answer it would give). */
static int cw_init(struct cw *w, struct buf *out)
{
        int r;

        w->b = out;
        w->max = out->max ? out->max : BUF_DEFAULT_MAX;
        r = buf_reserve(out, 1); /* data is not NULL from here on: no arithmetic on NULL */
        if (r < 0)
                return r;
        cw_load(w);
        return 0;
}

/* b->len as written so far. */
static inline void cw_sync(struct cw *w)
{
        w->b->len = (size_t)(w->p - w->b->data);
}

/* The slow side of cw_room: the buf grown for n more bytes and the NUL. */
static int __attribute__((noinline)) cw_grow(struct cw *w, size_t n)
{
        int r;

        cw_sync(w);
        r = buf_reserve(w->b, n);
        cw_load(w);
        return r;
}

/* The length written, the NUL after it, on success; on failure the length saved before. */
static int cw_finish(struct cw *w, size_t saved, int r)
{
        struct buf *out = w->b;

        out->len = r < 0 ? saved : (size_t)(w->p - out->data);
        if (out->data)
                out->data[out->len] = '\0';
        return r;
}

/* Room for n more bytes and the NUL. */
static inline int cw_room(struct cw *w, size_t n)
{
        if (n <= (size_t)(w->end - w->p))
                return 0;
        return cw_grow(w, n);
}

static inline void cw_raw(struct cw *w, const void *s, size_t n)
{
        json_copy_short(w->p, s, n);
        w->p += n;
}

static inline int cw_put(struct cw *w, const void *s, size_t n)
{
        int r = cw_room(w, n);

        if (r == 0)
                cw_raw(w, s, n);
        return r;
}

static inline int cw_putc(struct cw *w, char c)
{
        int r = cw_room(w, 1);

        if (r == 0)
                *w->p++ = c;
        return r;
}

/* json_canon_str for strings of a tree, which hold valid UTF-8 by construction (every
 * constructor and setter checks it): not checked again (performance, issue 12). */
static int canon_str_valid(struct cw *w, const char *s, size_t n)
{
        size_t i, run = 0;
        int r;

        /* Nothing to escape, the common case: checked and copied in one pass. The room for
         * the plain form is never more than the escaped form needs. */
        if (n > SIZE_MAX - 2)
                return -E2BIG;
        r = cw_room(w, n + 2);
        if (r < 0)
                return r;
        if (copy_plain(w->p + 1, s, n)) {
                w->p[0] = '"';
                w->p[n + 1] = '"';
                w->p += n + 2;
                return 0;
        }
        /* Room for the quote: n + 2 was reserved above. */
        *w->p++ = '"';
        /* Sixteen bytes a step while their escapes fit the room left (mapper11); then the
         * rest the general way, which grows or fails. */
        i = 0;
        w->p = escape_blocks(w->p, w->end, s, n, &i);
        run = i;
        if (i < n)
                i += plain_prefix(s + i, n - i);
        r = 0;
        while (r == 0 && i < n) {
                char esc[6];
                size_t elen = escape_put(esc, (unsigned char)s[i]);

                /* Flush the plain run before this byte, then the escape. */
                r = cw_put(w, s + run, i - run);
                if (r == 0)
                        r = cw_put(w, esc, elen);
                run = ++i;
                i += plain_prefix(s + i, n - i);
        }
        if (r == 0)
                r = cw_put(w, s + run, n - run);
        if (r == 0)
                r = cw_putc(w, '"');
        return r;
}

int json_canon_str(struct buf *out, const char *s, size_t n)
{
        struct cw w;
        size_t saved = out->len;
        int r;

        if (!json_utf8_valid(s, n))
                return -EINVAL;
        r = cw_init(&w, out);
        if (r == 0)
                r = canon_str_valid(&w, s, n);
        return cw_finish(&w, saved, r);
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

static int canon_value(struct cw *w, const json *v);
static int canon_object(struct cw *w, const json *v);
static int canon_array(struct cw *w, const json *v);

static int member_cmp(const void *a, const void *b)
{
        const struct json_member *x = *(const struct json_member *const *)a;
        const struct json_member *y = *(const struct json_member *const *)b;

        return json_key_cmp_fast(x->key, x->key_len, y->key, y->key_len);
}

/* Puts x into the sorted m[0..n) at its place by binary search (m has room for n + 1). */
static void member_insert(const struct json_member **m, size_t n, const struct json_member *x)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;

                if (member_cmp(&m[mid], &x) > 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        memmove(&m[lo + 1], &m[lo], (n - lo) * sizeof(*m));
        m[lo] = x;
}

/* Unsorted objects up to this many members are sorted on the stack by insertion (a gate
 * record has about twenty-five); larger ones sort an array of pointers on the heap. */
#define CANON_SMALL_OBJ 64

/* Sorts the member pointers m[0..n) into RFC 8785 order in place: by binary insertion up
 * to CANON_SMALL_OBJ (no allocation; a member after the largest so far, the usual case since
 * records are built nearly in order, costs one comparison), else by qsort. Keys are unique,
 * so both give the one order. */
static void sort_member_ptrs(const struct json_member **m, size_t n)
{
        if (n > CANON_SMALL_OBJ) {
                qsort(m, n, sizeof(*m), member_cmp);
                return;
        }
        for (size_t i = 1; i < n; i++) {
                const struct json_member *x = m[i];

                if (member_cmp(&m[i - 1], &x) >= 0)
                        member_insert(m, i, x);
        }
}

/* Pointers to obj's members in RFC 8785 order, into small or a malloc'd array (*ret). */
static int sort_members(const json *v, const struct json_member **small,
                        const struct json_member ***ret)
{
        size_t n = v->u.o.n;
        const struct json_member **m = small;

        if (n > CANON_SMALL_OBJ) {
                m = malloc(n * sizeof(*m));
                if (!m)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                m[i] = &v->u.o.m[i];
        sort_member_ptrs(m, n);
        *ret = m;
        return 0;
}

/* ,"key": of member m (the comma always: an object's writer turns its first comma into the
 * '{', canon10). */
static int canon_key(struct cw *w, const struct json_member *m)
{
        size_t n = m->key_len;
        int r;

        if (m->key_plain) { /* performance (issue 12): known at insertion */
                r = cw_room(w, n + 4);
                if (r < 0)
                        return r;
                w->p[0] = ',';
                w->p[1] = '"';
                json_copy_short(w->p + 2, m->key, n);
                w->p[n + 2] = '"';
                w->p[n + 3] = ':';
                w->p += n + 4;
                return 0;
        }
        r = cw_putc(w, ',');
        if (r == 0)
                r = canon_str_valid(w, m->key, n);
        return r < 0 ? r : cw_putc(w, ':');
}

/* ,"key":value of member m, any member (the comma always). */
static int canon_member(struct cw *w, const struct json_member *m)
{
        int r = canon_key(w, m);

        return r < 0 ? r : canon_value(w, m->val);
}

/* The decimal digits of v, ending at e; returns where they start (no printf: performance,
 * issue 12). */
static inline char *int_digits(int64_t v, char *e)
{
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

        do
                *--e = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (v < 0)
                *--e = '-';
        return e;
}

/* cw_room on a run's own copies of the write position and limit (canon_run). */
static inline __attribute__((always_inline)) int run_room(struct cw *w, char **p, char **end,
                                                           size_t n)
{
        int r;

        if (n <= (size_t)(*end - *p))
                return 0;
        w->p = *p;
        r = cw_grow(w, n);
        *p = w->p;
        *end = w->end;
        return r;
}

/* ,"key": of a plain key at p (room checked). */
static inline char *run_key(char *p, const struct json_member *m)
{
        size_t n = m->key_len;

        p[0] = ',';
        p[1] = '"';
        json_copy_short(p + 2, m->key, n);
        p[n + 2] = '"';
        p[n + 3] = ':';
        return p + n + 4;
}

/* ,"key":value of the members m[0..n) in order, each after a comma (performance, canon10:
 * ~30 members per record, ~70 instructions each before). The members a record is made of,
 * a plain key with null, a string that needs no escape or an integer, are written here
 * with the write position and limit in registers (w's are reloaded after every store
 * through a char pointer otherwise), one room check and no call; nested objects and arrays
 * and everything else through canon_member. */
static int canon_run(struct cw *w, const struct json_member *m, size_t n)
{
        char *p = w->p, *end = w->end;
        int r;

        for (size_t i = 0; i < n; i++) { /* by index: m is NULL in an empty object */
                const struct json_member *x = &m[i];
                const json *v = x->val;
                size_t kn = x->key_len, vn;

                if (!x->key_plain || !v)
                        goto any;
                switch ((enum json_type)v->type) {
                case JSON_STR:
                        vn = v->u.s.n;
                        if (vn > SIZE_MAX / 2) /* in memory: never; keeps the sum exact */
                                return -E2BIG;
                        r = run_room(w, &p, &end, kn + vn + 6);
                        if (r < 0)
                                return r;
                        {
                                char *o = run_key(p, x);

                                if (!copy_plain(o + 1, v->u.s.p, vn))
                                        goto any; /* nothing kept: p has not moved */
                                o[0] = '"';
                                o[vn + 1] = '"';
                                p = o + vn + 2;
                        }
                        continue;
                case JSON_NULL:
                        r = run_room(w, &p, &end, kn + 8);
                        if (r < 0)
                                return r;
                        memcpy(run_key(p, x), "null", 4);
                        p += kn + 8;
                        continue;
                case JSON_INT: {
                        char d[24], *e = d + sizeof(d), *q = int_digits(v->u.i, e);

                        vn = (size_t)(e - q);
                        r = run_room(w, &p, &end, kn + vn + 4);
                        if (r < 0)
                                return r;
                        json_copy_short(run_key(p, x), q, vn);
                        p += kn + vn + 4;
                        continue;
                }
                case JSON_OBJ:
                case JSON_ARR: /* the key here, the container by its writer */
                        r = run_room(w, &p, &end, kn + 4);
                        if (r < 0)
                                return r;
                        w->p = run_key(p, x);
                        r = v->type == JSON_OBJ ? canon_object(w, v) : canon_array(w, v);
                        if (r < 0)
                                return r;
                        p = w->p;
                        end = w->end;
                        continue;
                default:
                        break;
                }
        any:
                w->p = p;
                r = canon_member(w, x);
                if (r < 0)
                        return r;
                p = w->p;
                end = w->end;
        }
        w->p = p;
        return 0;
}

/* Ends a container begun at offset start of the buffer whose n items were each written
 * after a comma: the first comma becomes open, and close is appended; "{}" or "[]" when
 * n is 0. */
static int cw_close(struct cw *w, size_t start, size_t n, char open, char close)
{
        if (n == 0) {
                char e[2] = { open, close };

                return cw_put(w, e, 2);
        }
        w->b->data[start] = open;
        return cw_putc(w, close);
}

/* {members} from the pointers m[0..n) in order. When extra is one of them, *ret_off is set
 * to where its value starts in the buffer. */
static int canon_members(struct cw *w, const struct json_member *const *m, size_t n,
                         const struct json_member *extra, size_t *ret_off)
{
        size_t start = (size_t)(w->p - w->b->data);
        int r = 0;

        for (size_t i = 0; i < n && r == 0; i++) {
                if (m[i] != extra) {
                        r = canon_member(w, m[i]);
                        continue;
                }
                r = canon_key(w, m[i]);
                if (r == 0)
                        *ret_off = (size_t)(w->p - w->b->data);
                if (r == 0)
                        r = canon_value(w, m[i]->val);
        }
        return r < 0 ? r : cw_close(w, start, n, '{', '}');
}

static int canon_object(struct cw *w, const json *v)
{
        const struct json_member *small[CANON_SMALL_OBJ], **m = NULL;
        size_t n = v->u.o.n, start = (size_t)(w->p - w->b->data);
        int r;

        /* Performance (issue 12): objects built in key order are not sorted again. */
        if (n > 0 && !(v->flags & JSON_F_SORTED)) {
                r = sort_members(v, small, &m);
                if (r < 0)
                        return r;
                r = canon_members(w, m, n, NULL, NULL);
                if (m != small)
                        free(m);
                return r;
        }
        r = canon_run(w, v->u.o.m, n);
        return r < 0 ? r : cw_close(w, start, n, '{', '}');
}

/* [items], each after a comma; a record's "criteria" and "flags" hold short strings: those
 * with nothing to escape are written here (canon10). */
static int canon_array(struct cw *w, const json *v)
{
        size_t n = v->u.a.n, start = (size_t)(w->p - w->b->data);
        int r = 0;

        for (size_t i = 0; i < n && r == 0; i++) {
                const json *x = v->u.a.v[i];

                if (x && x->type == JSON_STR && x->u.s.n < 16) {
                        size_t k = x->u.s.n;

                        r = cw_room(w, k + 3);
                        if (r == 0 && copy_plain(w->p + 2, x->u.s.p, k)) {
                                w->p[0] = ',';
                                w->p[1] = '"';
                                w->p[k + 2] = '"';
                                w->p += k + 3;
                                continue;
                        }
                }
                if (r == 0)
                        r = cw_putc(w, ',');
                if (r == 0)
                        r = canon_value(w, x);
        }
        return r < 0 ? r : cw_close(w, start, n, '[', ']');
}

static int canon_value(struct cw *w, const json *v)
{
        int r;

        if (!v) /* as json_type_of: NULL is null */
                return cw_put(w, "null", 4);
        switch ((enum json_type)v->type) {
        case JSON_NULL:
                return cw_put(w, "null", 4);
        case JSON_BOOL:
                return v->u.b ? cw_put(w, "true", 4) : cw_put(w, "false", 5);
        case JSON_INT: {
                char d[24], *e = d + sizeof(d), *q = int_digits(v->u.i, e);

                return cw_put(w, q, (size_t)(e - q));
        }
        case JSON_NUM:
                /* Rare: the buf API (which keeps the NUL) is fine here. */
                cw_sync(w);
                r = canon_double(w->b, v->u.d);
                cw_load(w);
                return r;
        case JSON_STR:
                return canon_str_valid(w, v->u.s.p, v->u.s.n);
        case JSON_ARR:
                return canon_array(w, v);
        case JSON_OBJ:
                return canon_object(w, v);
        }
        return -EINVAL;
}

int json_canon(const json *v, struct buf *out)
{
        struct cw w;
        size_t saved = out->len;
        int r = cw_init(&w, out);

        if (r == 0)
                r = canon_value(&w, v);
        /* On failure leave the buffer as it was, not half-written. */
        return cw_finish(&w, saved, r);
}

/* Is key[0..n) valid UTF-8 and free of escapes? *ret_plain says the latter. Keys of
 * printable ASCII (the caller's "seq") are decided by one short loop (prestore7). */
static bool key_check(const char *key, size_t n, bool *ret_plain)
{
        size_t i = 0;

        while (i < n && (unsigned char)key[i] - 0x20u < 0x5fu && key[i] != '"' &&
               key[i] != '\\')
                i++;
        if (i == n) {
                *ret_plain = true;
                return true;
        }
        if (!json_utf8_valid(key, n))
                return false;
        *ret_plain = plain_prefix(key, n) == n;
        return true;
}

/* json_canon_with_int of an object whose members are in RFC 8785 order (performance,
 * prestore7): the members are written from the object's own array in two runs, before and
 * after the place of the new member (found by bisection), which takes the place of a member
 * of the same key; no array of pointers is built. */
/* The place of extra's key among the sorted members m[0..n): the first member whose key is
 * not below it. The caller's hint (where the key went in the last object: "seq" after the
 * same members in every record of a source, mapper11) is tried first, with two compares;
 * else the members are bisected. */
static size_t sorted_place(const struct json_member *m, size_t n, const struct json_member *extra,
                           uint32_t hint)
{
        size_t lo = 0, hi = n;

        if (hint <= n &&
            (hint == 0 || json_key_cmp_fast(m[hint - 1].key, m[hint - 1].key_len, extra->key,
                                            extra->key_len) < 0) &&
            (hint == n ||
             json_key_cmp_fast(m[hint].key, m[hint].key_len, extra->key, extra->key_len) >= 0))
                return hint;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (json_key_cmp_fast(m[mid].key, m[mid].key_len, extra->key,
                                      extra->key_len) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int canon_sorted_with(struct cw *w, const json *obj, const struct json_member *extra,
                             size_t *ret_off, uint32_t *hint)
{
        const struct json_member *m = obj->u.o.m;
        size_t n = obj->u.o.n, lo, skip, start;
        int r;

        /* UINT32_MAX: no hint; a place past the end fails the check and bisects. */
        lo = sorted_place(m, n, extra, *hint);
        *hint = (uint32_t)lo;
        skip = lo < n && m[lo].key_len == extra->key_len &&
               !memcmp(m[lo].key, extra->key, extra->key_len);
        start = (size_t)(w->p - w->b->data);
        r = canon_run(w, m, lo);
        if (r == 0)
                r = canon_key(w, extra);
        if (r == 0) {
                *ret_off = (size_t)(w->p - w->b->data);
                r = canon_value(w, extra->val);
        }
        if (r == 0 && lo + skip < n) /* m is NULL in an empty object: no offset from it */
                r = canon_run(w, m + lo + skip, n - lo - skip);
        return r < 0 ? r : cw_close(w, start, 1, '{', '}'); /* extra: never empty */
}

int json_canon_with_int(const json *obj, const char *key, int64_t v, struct buf *out,
                        size_t *ret_value_off)
{
        const struct json_member *small[CANON_SMALL_OBJ], **m = small;
        struct cw w;
        json val = { .type = JSON_INT, .u.i = v };
        struct json_member extra = { .key = key, .val = &val };
        size_t saved = out->len, n = 0, kl, off = 0;
        bool replaced = false, plain = false;
        int r;

        if (!obj || obj->type != JSON_OBJ || !key)
                return -EINVAL;
        kl = strlen(key);
        if (kl > UINT32_MAX || !key_check(key, kl, &plain))
                return -EINVAL;
        extra.key_len = (uint32_t)kl;
        extra.key_plain = plain;
        if (obj->flags & JSON_F_SORTED) {
                uint32_t no_hint = UINT32_MAX;

                r = cw_init(&w, out);
                if (r == 0)
                        r = canon_sorted_with(&w, obj, &extra, &off, &no_hint);
                if (r == 0)
                        *ret_value_off = off;
                return cw_finish(&w, saved, r);
        }
        if (obj->u.o.n + 1 > CANON_SMALL_OBJ) {
                m = malloc((obj->u.o.n + 1) * sizeof(*m));
                if (!m)
                        return -ENOMEM;
        }
        /* The members as json_obj_set_int would leave them: the first one named key takes
         * the value (json_obj_set replaces the first match), or key is added. RFC 8785 orders
         * by key alone, so where the member sat in insertion order does not matter. */
        for (size_t i = 0; i < obj->u.o.n; i++) {
                const struct json_member *x = &obj->u.o.m[i];

                if (!replaced && x->key_len == kl && !memcmp(x->key, key, kl)) {
                        m[n++] = &extra;
                        replaced = true;
                } else {
                        m[n++] = x;
                }
        }
        if (!replaced)
                m[n++] = &extra;
        sort_member_ptrs(m, n);
        r = cw_init(&w, out);
        if (r == 0)
                r = canon_members(&w, m, n, &extra, &off);
        if (m != small)
                free(m);
        if (r == 0)
                *ret_value_off = off;
        return cw_finish(&w, saved, r);
}

int json_canon_with_int_at(const json *obj, const struct json_key *key, int64_t v,
                           struct buf *out, size_t *ret_value_off, uint32_t *hint)
{
        json val = { .type = JSON_INT, .u.i = v };
        struct json_member extra = { .key = key->key, .key_len = key->len, .key_plain = true,
                                     .val = &val };
        size_t saved = out->len, off = 0;
        struct cw w;
        int r;

        if (!obj || obj->type != JSON_OBJ || !(obj->flags & JSON_F_SORTED))
                return json_canon_with_int(obj, key->key, v, out, ret_value_off);
        assert(json_keys_sorted(key, 1)); /* the caller's promise (json.h) */
        r = cw_init(&w, out);
        if (r == 0)
                r = canon_sorted_with(&w, obj, &extra, &off, hint);
        if (r == 0)
                *ret_value_off = off;
        return cw_finish(&w, saved, r);
}
