/* Memory of JSON trees: one arena per tree, constructors, adoption, copies and json_free.
 * Appending members and elements to the containers is core/json-build.c's.
 *
 * Load: every event builds one tree of a few dozen nodes (normalize, rules) on one thread
 * and frees it on another (the writer), tens of thousands of times a second. A node per
 * malloc made that dozens of malloc/free pairs per event, the frees crossing threads; here
 * all nodes, strings, member arrays and keys of a tree are bump-allocated from chunks owned
 * by the tree's root (1 KiB first, doubling to 32 KiB), and json_free of the root frees
 * those chunks: a record built with the _in constructors costs two or three mallocs.
 *
 * Invariants:
 *   - A root (JSON_F_ROOT) is a heap block of its own: a standalone scalar (a string's
 *     bytes follow the node) or a container with its arena embedded in the block.
 *   - Every node reachable from a root, other than the root and the constants, lives in
 *     that root's arena or in a block that arena owns. Replaced or deleted values stay in
 *     the arena (wasted, freed with the tree).
 *   - Adding a root R to a container of tree T adopts it: R's block and R's chunks join T's
 *     block list and R's arena forwards to T's, so R and every pointer into it stay valid
 *     (callers may keep using a value after adding it) and nothing is copied.
 *   - null, true and false are shared constants: constructing them never allocates. Scalar
 *     nodes are immutable, so sharing them is invisible.
 * Chunks are never returned before the tree is freed, so a pointer into a tree (json_str,
 * json_obj_at keys) stays valid until json_free of its root. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/json-internal.h"
#include "core/recycle.h"

/* First chunk of an arena, and the largest: a gate record (~3 KiB of nodes and text) needs
 * two or three chunks; a manifest or a big Kafka event grows to 32 KiB chunks. */
#define ARENA_CHUNK_FIRST 1024u
#define ARENA_CHUNK_MAX (32u * 1024)

/* A root container: block header, node, arena, and the recycler its block came from
 * (json_new_obj_recycled) or NULL. */
struct json_root {
        struct json_block hdr;
        json node;
        struct json_arena arena;
        struct recycle *rc;
};

/* A root scalar: block header, node, then a string's bytes. */
struct json_root_scalar {
        struct json_block hdr;
        json node;
};

static const json json_const_null = { .type = JSON_NULL, .flags = JSON_F_STATIC };
static const json json_const_true = { .type = JSON_BOOL, .flags = JSON_F_STATIC, .u.b = true };
static const json json_const_false = { .type = JSON_BOOL, .flags = JSON_F_STATIC };

static struct json_block *block_of(json *v)
{
        return (struct json_block *)((char *)v - offsetof(struct json_root, node));
}

static void arena_link(struct json_arena *a, struct json_block *b)
{
        b->next = a->blocks;
        a->blocks = b;
        if (!a->tail)
                a->tail = b;
}

/* Makes a new chunk of size bytes (header included) the current one. */
static int arena_new_chunk(struct json_arena *a, size_t size)
{
        struct json_block *b = malloc(size);

        if (!b)
                return -ENOMEM;
        arena_link(a, b);
        a->cur = (char *)b + sizeof(*b);
        a->end = (char *)b + size;
        return 0;
}

/* Slow path of json_arena_alloc: a new chunk, or a block of its own for a big request
 * (which keeps the current chunk's free space for the small ones after it). */
static void *arena_alloc_slow(struct json_arena *a, size_t n)
{
        size_t size = a->next_chunk ? a->next_chunk : ARENA_CHUNK_FIRST;
        const size_t hdr = sizeof(struct json_block);
        struct json_block *b;
        void *p;

        if (n > SIZE_MAX - hdr)
                return NULL;
        if (n > size / 2) {
                b = malloc(hdr + n);
                if (!b)
                        return NULL;
                arena_link(a, b);
                return (char *)b + hdr;
        }
        if (arena_new_chunk(a, size) < 0)
                return NULL;
        a->next_chunk = size < ARENA_CHUNK_MAX ? 2 * size : ARENA_CHUNK_MAX;
        p = a->cur;
        a->cur += n;
        return p;
}

/* (json-internal.h) json_arena_alloc's side for a request the current chunk cannot hold;
 * n is rounded already. */
void *json_arena_alloc_slow(struct json_arena *a, size_t n)
{
        return arena_alloc_slow(a, n);
}

char *json_arena_strdup(struct json_arena *a, const char *s, size_t n)
{
        char *p = n < SIZE_MAX ? json_arena_alloc(a, n + 1) : NULL;

        if (!p)
                return NULL;
        json_copy_short(p, s, n);
        p[n] = '\0';
        return p;
}

static json *arena_node(struct json_arena *a, enum json_type t)
{
        json *v = json_arena_alloc(a, sizeof(*v));

        if (v) {
                memset(v, 0, sizeof(*v));
                v->type = (uint8_t)t;
                v->arena = a;
        }
        return v;
}

json *json_arena_new_str(struct json_arena *a, size_t n)
{
        json *v;

        if (n > SIZE_MAX - sizeof(*v) - 1)
                return NULL;
        v = json_arena_alloc(a, sizeof(*v) + n + 1);
        if (!v)
                return NULL;
        memset(v, 0, sizeof(*v));
        v->type = JSON_STR;
        v->arena = a;
        v->u.s.p = (char *)(v + 1);
        v->u.s.p[n] = '\0';
        v->u.s.n = n;
        return v;
}

/* ---- Standalone values (roots) ---- */

static json *root_scalar(enum json_type t, size_t extra)
{
        struct json_root_scalar *r;

        if (extra > SIZE_MAX - sizeof(*r))
                return NULL;
        r = malloc(sizeof(*r) + extra);
        if (!r)
                return NULL;
        memset(r, 0, sizeof(*r));
        r->node.type = (uint8_t)t;
        r->node.flags = JSON_F_ROOT;
        return &r->node;
}

static json *root_container(enum json_type t)
{
        struct json_root *r = malloc(sizeof(*r));

        if (!r)
                return NULL;
        memset(r, 0, sizeof(*r));
        r->node.type = (uint8_t)t;
        r->node.flags = JSON_F_ROOT | (t == JSON_OBJ ? JSON_F_SORTED : 0);
        r->node.arena = &r->arena;
        return &r->node;
}

json *json_new_null(void)
{
        return (json *)&json_const_null;
}

json *json_new_bool(bool b)
{
        return (json *)(b ? &json_const_true : &json_const_false);
}

json *json_new_int(int64_t i)
{
        json *v = root_scalar(JSON_INT, 0);

        if (v)
                v->u.i = i;
        return v;
}

json *json_new_num(double d)
{
        json *v;

        if (d != d || d - d != 0) /* NaN or infinity */
                return NULL;
        v = root_scalar(JSON_NUM, 0);
        if (v)
                v->u.d = d;
        return v;
}

/* A string node of n bytes to fill: in tree's arena, or standalone when tree is NULL or
 * has no arena. */
static json *str_node(json *tree, size_t n)
{
        struct json_arena *a = json_arena_of(tree);
        json *v;

        if (a)
                return json_arena_new_str(a, n);
        if (n > SIZE_MAX - 1)
                return NULL;
        v = root_scalar(JSON_STR, n + 1);
        if (v) {
                v->u.s.p = (char *)(v + 1);
                v->u.s.p[n] = '\0';
                v->u.s.n = n;
        }
        return v;
}

/* str_node's common case, inline (performance, prestore8: a record gets a dozen strings
 * from normalize and rules, and the calls through json_arena_of, json_arena_new_str,
 * json_arena_alloc, memset and memcpy cost ~100 instructions each): tree's own live arena
 * with room in its current chunk. NULL when that is not the case (str_node then). Every
 * field of the node is written (its padding is never read). */
static inline json *str_node_fast(json *tree, size_t n)
{
        struct json_arena *a = tree ? tree->arena : NULL;
        size_t need;
        json *v;

        if (!a || a->fwd || n > ARENA_CHUNK_MAX)
                return NULL;
        need = (sizeof(*v) + n + 1 + 7) & ~(size_t)7;
        if ((size_t)(a->end - a->cur) < need)
                return NULL;
        v = (json *)(void *)a->cur;
        a->cur += need;
        v->type = JSON_STR;
        v->flags = 0;
        v->arena = a;
        v->u.s.p = (char *)(v + 1);
        v->u.s.n = n;
        v->u.s.p[n] = '\0';
        return v;
}

json *json_new_strn_in(json *tree, const char *s, size_t n)
{
        json *v;

        if (!s || !json_utf8_valid(s, n))
                return NULL;
        v = str_node_fast(tree, n);
        if (!v)
                v = str_node(tree, n);
        if (v)
                json_copy_short(v->u.s.p, s, n);
        return v;
}

json *json_new_strn_valid_in(json *tree, const char *s, size_t n)
{
        json *v;

        assert(s && json_utf8_valid(s, n)); /* the caller's promise (json.h) */
        v = str_node_fast(tree, n);
        if (!v)
                v = str_node(tree, n);
        if (v)
                json_copy_short(v->u.s.p, s, n);
        return v;
}

json *json_new_strn(const char *s, size_t n)
{
        return json_new_strn_in(NULL, s, n);
}

json *json_new_str(const char *s)
{
        return s ? json_new_strn(s, strlen(s)) : NULL;
}

/* Writes the repaired form of s[0..n) to out (room for 3n bytes) or, out NULL, only
 * measures it. Returns its length; *ret_replaced the replacements. */
static size_t lossy_copy(const unsigned char *u, size_t n, char *out, size_t *ret_replaced)
{
        size_t i = 0, o = 0, replaced = 0, bad;

        while (i < n) {
                size_t k;

                /* Performance (issue 12): valid runs are copied whole. */
                k = json_utf8_check((const char *)u + i, n - i);
                if (k > 0) {
                        if (out)
                                memcpy(out + o, u + i, k);
                        o += k;
                        i += k;
                        continue;
                }
                (void)json_utf8_seq(u + i, n - i, &bad);
                if (out)
                        memcpy(out + o, "\xef\xbf\xbd", 3);
                o += 3;
                i += bad;
                replaced++;
        }
        *ret_replaced = replaced;
        return o;
}

json *json_new_str_lossy_in(json *tree, const char *s, size_t n, size_t *ret_replaced)
{
        size_t replaced = 0, len = json_utf8_check(s, n);
        bool valid = len == n;
        json *v;

        /* Performance (issue 12): valid text (nearly all of it) is checked once and copied;
         * only invalid text is measured, then repaired. */
        if (!valid)
                len = lossy_copy((const unsigned char *)s, n, NULL, &replaced);
        v = str_node_fast(tree, len);
        if (!v)
                v = str_node(tree, len);
        if (!v)
                return NULL;
        if (valid) {
                json_copy_short(v->u.s.p, s, n);
        } else {
                (void)lossy_copy((const unsigned char *)s, n, v->u.s.p, &replaced);
        }
        if (ret_replaced)
                *ret_replaced = replaced;
        return v;
}

json *json_new_str_lossy(const char *s, size_t n, size_t *ret_replaced)
{
        return json_new_str_lossy_in(NULL, s, n, ret_replaced);
}

json *json_new_int_in(json *tree, int64_t i)
{
        struct json_arena *a = json_arena_of(tree);
        json *v;

        if (!a)
                return json_new_int(i);
        v = arena_node(a, JSON_INT);
        if (v)
                v->u.i = i;
        return v;
}

json *json_new_obj(void)
{
        return root_container(JSON_OBJ);
}

/* An empty root object in block b of size bytes (the arena gets what the root leaves). */
static json *root_obj_in_block(struct json_root *r, size_t size, struct recycle *rc)
{
        memset(r, 0, sizeof(*r));
        r->node.type = JSON_OBJ;
        r->node.flags = JSON_F_ROOT | JSON_F_SORTED;
        r->node.arena = &r->arena;
        r->arena.cur = (char *)(r + 1);
        r->arena.end = (char *)r + size;
        r->rc = rc;
        return &r->node;
}

json *json_new_obj_reserve(size_t bytes)
{
        struct json_root *r;

        /* Performance (issue 12): the root and its first chunk in one block, one malloc. */
        if (bytes > SIZE_MAX / 2)
                return NULL;
        bytes = (bytes + 7) & ~(size_t)7;
        r = malloc(sizeof(*r) + bytes);
        if (!r)
                return NULL;
        return root_obj_in_block(r, sizeof(*r) + bytes, NULL);
}

json *json_new_obj_recycled(struct recycle *const *rc, size_t n_rc, size_t bytes)
{
        struct json_root *r;

        for (size_t i = 0; i < n_rc; i++) {
                size_t size = recycle_block_size(rc[i]) & ~(size_t)7;

                if (size < sizeof(*r) || bytes > size - sizeof(*r))
                        continue;
                r = recycle_get(rc[i]);
                return r ? root_obj_in_block(r, size, rc[i]) : NULL;
        }
        return json_new_obj_reserve(bytes);
}

json *json_new_arr(void)
{
        return root_container(JSON_ARR);
}

json *json_new_obj_in(json *tree)
{
        struct json_arena *a = json_arena_of(tree);
        json *v;

        if (!a)
                return json_new_obj();
        v = arena_node(a, JSON_OBJ);
        if (v)
                v->flags = JSON_F_SORTED;
        return v;
}

json *json_new_arr_in(json *tree)
{
        struct json_arena *a = json_arena_of(tree);

        return a ? arena_node(a, JSON_ARR) : json_new_arr();
}

int json_arena_reserve(json *tree, size_t bytes)
{
        struct json_arena *a = json_arena_of(tree);

        if (!a || (size_t)(a->end - a->cur) >= bytes)
                return 0;
        if (bytes > SIZE_MAX / 2)
                return -ENOMEM;
        return arena_new_chunk(a, bytes + sizeof(struct json_block));
}

void json_free(json *v)
{
        struct json_block *b, *next;

        if (!v || !(v->flags & JSON_F_ROOT))
                return; /* constants, and nodes that belong to a tree */
        if (v->arena) {
                struct json_root *r = (struct json_root *)block_of(v);

                for (b = v->arena->blocks; b; b = next) {
                        next = b->next;
                        free(b);
                }
                if (r->rc) {
                        recycle_put(r->rc, r);
                        return;
                }
        }
        free(block_of(v));
}

size_t json_tree_bytes(const json *v)
{
        size_t n;

        if (!v || !(v->flags & JSON_F_ROOT))
                return 0;
        /* A recycled block's size is known (reading malloc's header of a block last written
         * on another core costs a cache miss per event). */
        if (v->arena && ((const struct json_root *)block_of((json *)v))->rc)
                n = recycle_block_size(((const struct json_root *)block_of((json *)v))->rc);
        else
                n = malloc_usable_size(block_of((json *)v));
        if (v->arena)
                for (const struct json_block *b = v->arena->blocks; b; b = b->next)
                        n += malloc_usable_size((void *)b);
        return n;
}

/* ---- Moving values into trees ---- */

/* A root joins the tree of arena a (see the top of the file). */
static void adopt(struct json_arena *a, json *r)
{
        struct json_arena *ra = r->arena;

        arena_link(a, block_of(r));
        if (ra) {
                struct json_root *root = (struct json_root *)block_of(r);

                /* Its block is freed with the adopting tree from now on. */
                if (root->rc) {
                        recycle_forget(root->rc);
                        root->rc = NULL;
                }
                /* A root's arena is its own (roots are never forwarded). */
                if (ra->blocks) {
                        ra->tail->next = a->blocks;
                        a->blocks = ra->blocks;
                }
                ra->fwd = a;
                ra->blocks = ra->tail = NULL;
                ra->cur = ra->end = NULL;
        } else {
                r->arena = a;
        }
        r->flags &= (uint8_t)~JSON_F_ROOT;
}

/* Deep copy of v into arena a. */
static json *copy_into(struct json_arena *a, const json *v)
{
        json *c;

        if (v->flags & JSON_F_STATIC)
                return (json *)v;
        if (v->type == JSON_STR) {
                c = json_arena_new_str(a, v->u.s.n);
                if (c && v->u.s.n > 0)
                        memcpy(c->u.s.p, v->u.s.p, v->u.s.n);
                return c;
        }
        c = arena_node(a, v->type);
        if (!c)
                return NULL;
        c->flags = v->flags & JSON_F_SORTED;
        if (v->type == JSON_ARR) {
                if (v->u.a.n == 0)
                        return c;
                c->u.a.v = json_arena_alloc(a, v->u.a.n * sizeof(*c->u.a.v));
                if (!c->u.a.v)
                        return NULL;
                c->u.a.alloc = v->u.a.n;
                for (uint32_t i = 0; i < v->u.a.n; i++) {
                        c->u.a.v[i] = copy_into(a, v->u.a.v[i]);
                        if (!c->u.a.v[i])
                                return NULL;
                        c->u.a.n++;
                }
                return c;
        }
        if (v->type == JSON_OBJ) {
                if (v->u.o.n == 0)
                        return c;
                c->u.o.m = json_arena_alloc(a, v->u.o.n * sizeof(*c->u.o.m));
                if (!c->u.o.m)
                        return NULL;
                c->u.o.alloc = v->u.o.n;
                for (uint32_t i = 0; i < v->u.o.n; i++) {
                        const struct json_member *m = &v->u.o.m[i];
                        struct json_member *cm = &c->u.o.m[i];

                        cm->key = json_arena_strdup(a, m->key, m->key_len);
                        cm->key_len = m->key_len;
                        cm->key_plain = m->key_plain;
                        cm->val = copy_into(a, m->val);
                        if (!cm->key || !cm->val)
                                return NULL;
                        c->u.o.n++;
                }
                return c;
        }
        c->u = v->u;
        return c;
}

/* (json-internal.h) The adoption rule of the invariants at the top, for json-build.c. */
json *json_take(json *c, json *val)
{
        struct json_arena *a;
        json *cp;

        if (val->flags & JSON_F_STATIC)
                return val;
        a = json_arena_of(c);
        if (val->flags & JSON_F_ROOT) {
                adopt(a, val);
                return val;
        }
        if (json_arena_of(val) == a)
                return val;
        /* A node of another tree (the old API could not express this either: it would have
         * been freed twice): copied, the other tree keeps its own. */
        cp = copy_into(a, val);
        return cp;
}

json *json_clone(const json *v)
{
        json *c;

        if (!v)
                return NULL;
        switch (v->type) {
        case JSON_STR:
                return json_new_strn(v->u.s.p, v->u.s.n);
        case JSON_INT:
                return json_new_int(v->u.i);
        case JSON_NUM:
                return json_new_num(v->u.d);
        case JSON_ARR:
        case JSON_OBJ: {
                json *tmp;

                c = root_container(v->type);
                if (!c)
                        return NULL;
                /* Copy the members into the new root's arena, then move them onto it. */
                tmp = copy_into(c->arena, v);
                if (!tmp) {
                        json_free(c);
                        return NULL;
                }
                c->flags = (uint8_t)(JSON_F_ROOT | (tmp->flags & JSON_F_SORTED));
                c->u = tmp->u;
                return c;
        }
        default:
                return (json *)v; /* null and booleans are constants */
        }
}
