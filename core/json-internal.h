/* Private to core/json*.c: the node layout, the arena and the helpers they share. Nothing
 * else may include this header (the unit test of core/json.c does, for the UTF-8 model
 * tests). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* n bytes (8-aligned) from the arena, or NULL. */
void *json_arena_alloc(struct json_arena *a, size_t n);
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
 * always. 0 or -ENOMEM. */
int json_obj_replace(json *obj, struct json_member *m, json *val);
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
