/* Private to core/json*.c: the node layout, the arena and the helpers they share. Nothing
 * else may include this header (the unit test of core/json.c does, for the UTF-8 model
 * tests). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/json.h"

/* Node flags. */
enum {
        JSON_F_ROOT = 1,   /* heap block of its own, owns an arena: json_free frees it all */
        JSON_F_STATIC = 2, /* a constant singleton (null, true, false): never freed */
        JSON_F_SORTED = 4, /* object: members in strictly increasing RFC 8785 key order */
};

struct json_member {
        const char *key;   /* in the tree's arena (or a literal), NUL-terminated */
        uint32_t key_len;
        uint32_t key_plain; /* 1: no byte of the key needs a JSON escape (issue 12) */
        json *val;
};

/* Every block a tree owns starts with this header, linked from the tree's arena: bump
 * chunks and the blocks of standalone values adopted into the tree alike. */
struct json_block {
        struct json_block *next;
};

/* Bump allocator of one tree (performance, issue 12: one or two frees per record instead of
 * dozens, and none of them per node). An arena that was adopted into another tree forwards
 * there: its nodes allocate in the adopting tree's arena from then on. */
struct json_arena {
        struct json_arena *fwd;      /* adopted: allocate there instead; NULL when live */
        char *cur, *end;             /* free space in the current chunk */
        struct json_block *blocks, *tail;
        size_t next_chunk;           /* size of the next chunk */
};

struct json {
        uint8_t type;                /* enum json_type */
        uint8_t flags;               /* JSON_F_* */
        struct json_arena *arena;    /* where this node's children allocate; NULL: none */
        union {
                bool b;
                int64_t i;
                double d;
                struct {
                        char *p; /* NUL-terminated */
                        size_t n;
                } s;
                struct {
                        json **v;
                        uint32_t n, alloc;
                } a;
                struct {
                        struct json_member *m;
                        uint32_t n, alloc;
                } o;
        } u;
};

/* Returns the length of the valid UTF-8 sequence at s[0..n) (n >= 1), or 0 when it is
 * invalid and then *ret_bad is the length of its maximal invalid subpart (>= 1). NUL is
 * invalid. */
size_t json_utf8_seq(const unsigned char *s, size_t n, size_t *ret_bad);
/* Offset of the first invalid byte of s[0..n), or n when all is valid UTF-8 without NUL. */
size_t json_utf8_check(const char *s, size_t n);
/* The live arena of the tree holding v (follows forwards); NULL for standalone scalars and
 * constants. */
static inline struct json_arena *json_arena_of(const json *v)
{
        struct json_arena *a = v ? v->arena : NULL;

        while (a && a->fwd)
                a = a->fwd;
        return a;
}
/* The slow side of json_arena_alloc (a new chunk or block): n rounded to 8 already. */
void *json_arena_alloc_slow(struct json_arena *a, size_t n);
/* n bytes (8-aligned) from the arena, or NULL. Inline (prestore8): a record makes a few
 * dozen allocations, nearly all of them served by the current chunk. */
static inline void *json_arena_alloc(struct json_arena *a, size_t n)
{
        void *p;

        if (n > SIZE_MAX - 7)
                return NULL;
        n = (n + 7) & ~(size_t)7;
        if ((size_t)(a->end - a->cur) < n)
                return json_arena_alloc_slow(a, n);
        p = a->cur;
        a->cur += n;
        return p;
}
/* A copy of s[0..n) with a NUL after it, in the arena; NULL when out of memory. */
char *json_arena_strdup(struct json_arena *a, const char *s, size_t n);
/* A string node over n bytes of the arena that the caller fills (p[n] is set to NUL); the
 * bytes must end up valid UTF-8 without NUL. NULL when out of memory. */
json *json_arena_new_str(struct json_arena *a, size_t n);
/* Appends a member without looking for an existing key; key already in obj's arena (or a
 * literal). plain: 1 when the key needs no escape, 0 when it does, -1 unknown (checked).
 * Takes val always (as json_obj_set does). 0, -EINVAL (key over 4 GiB), -ENOMEM. */
int json_obj_push(json *obj, const char *key, size_t key_len, int plain, json *val);
/* json_obj_push of a key that is checked (valid UTF-8, else -EINVAL) and copied into obj's
 * arena first. Takes val always. 0, -EINVAL, -ENOMEM. */
int json_obj_push_copy(json *obj, const char *key, size_t key_len, json *val);
/* Makes val a member of container c's tree: a root is adopted, a node of another tree is
 * copied, a node of c's tree or a constant is returned as is. Takes val always: NULL when
 * out of memory, val then freed. (core/json-arena.c, used by core/json-build.c.) */
json *json_take(json *c, json *val);
/* Replaces the value of member m of obj (the old value stays in the arena); takes val
 * always. 0 or -ENOMEM. Inline (prestore8): a value built in obj's arena (what the rules
 * set) or a constant is stored as it is, as json_take would return it; anything else goes
 * through json_take. */
static inline int json_obj_replace(json *obj, struct json_member *m, json *val)
{
        if (!(val->flags & JSON_F_STATIC) &&
            ((val->flags & JSON_F_ROOT) || !val->arena || val->arena != obj->arena)) {
                val = json_take(obj, val);
                if (!val)
                        return -ENOMEM;
        }
        m->val = val;
        return 0;
}
/* json_key_cmp with the common case inline (performance, issue 12): UTF-8 byte order is
 * code point order, so the common prefix and a first difference between two ASCII bytes
 * decide without a call; only a difference at a non-ASCII byte takes json_key_cmp's UTF-16
 * rule. Record keys are short and often share a first letter ("raw", "raw_b64",
 * "received"), which the former first-byte test sent to the call. */
static inline int json_key_cmp_fast(const char *a, size_t na, const char *b, size_t nb)
{
        size_t p = 0, m = na < nb ? na : nb;
        unsigned char x, y;

        while (p < m && a[p] == b[p])
                p++;
        if (p == m)
                return na == nb ? 0 : na < nb ? -1 : 1;
        x = (unsigned char)a[p];
        y = (unsigned char)b[p];
        if (!((x | y) & 0x80))
                return x < y ? -1 : 1;
        return json_key_cmp(a, na, b, nb);
}

/* memcpy of the short pieces a record is made of (keys, most values: a library call costs
 * more than the copy there; performance, issue 12). Touches exactly d[0..n) and s[0..n).
 * (Moved here from json-canon.c, prestore8: the string constructors use it too.) */
static inline void json_copy_short(char *d, const char *s, size_t n)
{
        uint64_t a, b;
        uint32_t x, y;

        if (n > 16) {
                memcpy(d, s, n);
        } else if (n >= 8) {
                memcpy(&a, s, 8);
                memcpy(&b, s + n - 8, 8);
                memcpy(d, &a, 8);
                memcpy(d + n - 8, &b, 8);
        } else if (n >= 4) {
                memcpy(&x, s, 4);
                memcpy(&y, s + n - 4, 4);
                memcpy(d, &x, 4);
                memcpy(d + n - 4, &y, 4);
        } else if (n > 0) {
                d[0] = s[0];
                d[n / 2] = s[n / 2];
                d[n - 1] = s[n - 1];
        }
}

/* Are a[0..n) and b[0..n) the same bytes? memcmp for the short keys of a record, inline
 * (prestore8: the call cost more than the compare). */
static inline bool json_bytes_eq(const char *a, const char *b, size_t n)
{
        uint64_t x, y, u, v;
        uint32_t p, q, r, t;

        if (n > 16)
                return memcmp(a, b, n) == 0;
        if (n >= 8) {
                memcpy(&x, a, 8);
                memcpy(&y, b, 8);
                memcpy(&u, a + n - 8, 8);
                memcpy(&v, b + n - 8, 8);
                return ((x ^ y) | (u ^ v)) == 0;
        }
        if (n >= 4) {
                memcpy(&p, a, 4);
                memcpy(&q, b, 4);
                memcpy(&r, a + n - 4, 4);
                memcpy(&t, b + n - 4, 4);
                return ((p ^ q) | (r ^ t)) == 0;
        }
        return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}
