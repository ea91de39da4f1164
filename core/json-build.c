/* Members and elements of JSON trees: appending to objects and arrays, the sorted fill of
 * the record builders, key checks and member replacement. The memory under them (arenas,
 * adoption of roots, copies) is core/json-arena.c's; see the invariants at its top.
 *
 * Split from json-arena.c (issue 12 hygiene: one concern per file); no behaviour change. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/json.h"
#include "core/json-internal.h"

/* Room for one more element in an array of elem-byte items, in arena a: grows in place
 * when the array ends where the arena's free space starts. */
static int grow(struct json_arena *a, void **arr, uint32_t n, uint32_t *alloc, size_t elem)
{
        uint32_t na;
        char *p;

        if (n < *alloc)
                return 0;
        if (*alloc >= UINT32_MAX / 2)
                return -ENOMEM;
        na = *alloc ? *alloc * 2 : 4;
        if (*arr && (char *)*arr + (size_t)*alloc * elem == a->cur &&
            (size_t)(a->end - a->cur) >= (size_t)(na - *alloc) * elem) {
                a->cur += (size_t)(na - *alloc) * elem;
                *alloc = na;
                return 0;
        }
        p = json_arena_alloc(a, (size_t)na * elem);
        if (!p)
                return -ENOMEM;
        if (n > 0)
                memcpy(p, *arr, (size_t)n * elem);
        *arr = p;
        *alloc = na;
        return 0;
}

int json_obj_reserve(json *obj, size_t n)
{
        struct json_arena *a = json_arena_of(obj);
        struct json_member *m;

        if (!obj || obj->type != JSON_OBJ || !a)
                return -EINVAL;
        if (n <= obj->u.o.alloc)
                return 0;
        if (n >= UINT32_MAX / 2)
                return -ENOMEM;
        m = json_arena_alloc(a, n * sizeof(*m));
        if (!m)
                return -ENOMEM;
        if (obj->u.o.n > 0)
                memcpy(m, obj->u.o.m, obj->u.o.n * sizeof(*m));
        obj->u.o.m = m;
        obj->u.o.alloc = (uint32_t)n;
        return 0;
}

/* json_obj_push, inlined into the builders' json_obj_add_staticn (performance, issue 12:
 * a record is two dozen of these; the call chain cost as much as the append). */
static inline __attribute__((always_inline)) int obj_push(json *obj, const char *key,
                                                          size_t key_len, int plain, json *val)
{
        struct json_arena *a = json_arena_of(obj);
        struct json_member *last;

        if (key_len > UINT32_MAX) {
                json_free(val);
                return -EINVAL;
        }
        if (plain < 0) {
                const unsigned char *k = (const unsigned char *)key;
                size_t i = 0;

                while (i < key_len && k[i] >= 0x20 && k[i] != '"' && k[i] != '\\')
                        i++;
                plain = i == key_len;
        }

        if (obj->u.o.n == obj->u.o.alloc &&
            grow(a, (void **)&obj->u.o.m, obj->u.o.n, &obj->u.o.alloc, sizeof(*obj->u.o.m)) < 0) {
                json_free(val);
                return -ENOMEM;
        }
        /* Performance (issue 12): a value built in this tree's arena (the builders' common
         * case) or a constant needs no adoption. */
        if (!(val->flags & JSON_F_STATIC) && ((val->flags & JSON_F_ROOT) || val->arena != a)) {
                val = json_take(obj, val);
                if (!val)
                        return -ENOMEM;
        }
        /* Performance (issue 12): canonical output skips sorting objects built in order. */
        if (obj->u.o.n > 0 && (obj->flags & JSON_F_SORTED)) {
                last = &obj->u.o.m[obj->u.o.n - 1];
                if (json_key_cmp_fast(last->key, last->key_len, key, key_len) >= 0)
                        obj->flags &= (uint8_t)~JSON_F_SORTED;
        }
        obj->u.o.m[obj->u.o.n++] =
                (struct json_member){ key, (uint32_t)key_len, (uint32_t)plain, val };
        return 0;
}

int json_obj_push(json *obj, const char *key, size_t key_len, int plain, json *val)
{
        return obj_push(obj, key, key_len, plain, val);
}

int json_obj_add_static(json *obj, const char *key, json *val)
{
        return json_obj_add_staticn(obj, key, key ? strlen(key) : 0, val);
}

int json_obj_add_staticn(json *obj, const char *key, size_t key_len, json *val)
{
        if (!val)
                return -ENOMEM;
        if (!obj || obj->type != JSON_OBJ || !key) {
                json_free(val);
                return -EINVAL;
        }
        return obj_push(obj, key, key_len, 1, val);
}

bool json_keys_sorted(const struct json_key *keys, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                const unsigned char *k = (const unsigned char *)keys[i].key;

                if (!k || !json_utf8_valid(keys[i].key, keys[i].len))
                        return false;
                for (size_t j = 0; j < keys[i].len; j++) {
                        if (k[j] < 0x20 || k[j] == '"' || k[j] == '\\')
                                return false;
                }
                if (i > 0 && json_key_cmp(keys[i - 1].key, keys[i - 1].len, keys[i].key,
                                          keys[i].len) >= 0)
                        return false;
        }
        return true;
}

/* Frees vals[from..n) (values of a fill that did not happen). */
static void free_vals(json *const *vals, size_t from, size_t n)
{
        for (size_t i = from; i < n; i++)
                json_free(vals[i]);
}

/* json_obj_fill_sorted's way out when vals[i] cannot be appended: the values after it freed
 * (those before it are obj's tree's now, or constants). A NULL among them, or vals[i]
 * itself NULL (null_at_i), appends nothing, as the contract says; else the members before
 * i stay. */
static int fill_fail(json *obj, json *const *vals, size_t i, size_t n, bool null_at_i)
{
        bool null = null_at_i;

        for (size_t k = i + 1; k < n && !null; k++)
                null = vals[k] == NULL;
        free_vals(vals, i + 1, n);
        if (!null)
                obj->u.o.n += (uint32_t)i;
        return -ENOMEM;
}

int json_obj_fill_sorted(json *obj, const struct json_key *keys, json *const *vals, size_t n)
{
        struct json_arena *a;
        struct json_member *m;
        size_t i;
        int r = 0;

        if (!obj || obj->type != JSON_OBJ || n > UINT32_MAX / 4)
                r = -EINVAL;
        else if (obj->u.o.alloc - obj->u.o.n < n)
                r = json_obj_reserve(obj, (size_t)obj->u.o.n + n);
        if (r < 0) {
                free_vals(vals, 0, n);
                return r;
        }
        a = json_arena_of(obj);
        m = obj->u.o.m + obj->u.o.n;
        /* Cleared before anything is appended (the order mark, not content: a failure below
         * that appends nothing leaves the members as they were). */
        if (n > 0 && obj->u.o.n > 0 && (obj->flags & JSON_F_SORTED) &&
            json_key_cmp_fast(m[-1].key, m[-1].key_len, keys[0].key, keys[0].len) >= 0)
                obj->flags &= (uint8_t)~JSON_F_SORTED;
        /* Performance (mapper11): the members are written past the count and counted at the
         * end, so a NULL value is met here rather than by a pass of its own before (~170
         * instructions a syslog record): nothing was appended then. Values placed before
         * it were this tree's already or adopted into it: freed with obj. */
        for (i = 0; i < n; i++) {
                json *v = vals[i];

                if (!v)
                        return fill_fail(obj, vals, i, n, true);
                /* As obj_push: values built in this arena and constants need no adoption. */
                if (!(v->flags & JSON_F_STATIC) && ((v->flags & JSON_F_ROOT) || v->arena != a)) {
                        v = json_take(obj, v);
                        if (!v)
                                return fill_fail(obj, vals, i, n, false);
                }
                m[i] = (struct json_member){ keys[i].key, keys[i].len, 1, v };
        }
        assert(json_keys_sorted(keys, n)); /* the caller's promise (json.h) */
        obj->u.o.n += (uint32_t)n;
        return 0;
}

int json_obj_push_copy(json *obj, const char *key, size_t key_len, json *val)
{
        char *k;

        if (!json_utf8_valid(key, key_len)) {
                json_free(val);
                return -EINVAL;
        }
        k = json_arena_strdup(json_arena_of(obj), key, key_len);
        if (!k) {
                json_free(val);
                return -ENOMEM;
        }
        return json_obj_push(obj, k, key_len, -1, val);
}

int json_obj_add(json *obj, const char *key, json *val)
{
        if (!val)
                return -ENOMEM;
        if (!obj || obj->type != JSON_OBJ || !key) {
                json_free(val);
                return -EINVAL;
        }
        return json_obj_push_copy(obj, key, strlen(key), val);
}

json *json_new_arr_strs_in(json *tree, const struct json_key *items, size_t n)
{
        struct json_arena *a = json_arena_of(tree);
        size_t bytes = sizeof(json) + n * sizeof(json *);
        json *arr;
        char *q;

        if (!a || n > UINT32_MAX / 2) {
                /* No arena to share (a standalone root): one append at a time. */
                arr = json_new_arr_in(tree);
                for (size_t i = 0; arr && i < n; i++)
                        if (json_arr_append(arr, json_new_strn_valid_in(tree, items[i].key,
                                                                        items[i].len)) < 0) {
                                json_free(arr); /* a root's; one of tree's stays there */
                                return NULL;
                        }
                return arr;
        }
        for (size_t i = 0; i < n; i++) {
                assert(json_utf8_valid(items[i].key, items[i].len)); /* the caller's promise */
                bytes += (sizeof(json) + items[i].len + 1 + 7) & ~(size_t)7;
        }
        q = json_arena_alloc(a, bytes);
        if (!q)
                return NULL;
        /* The node, its item array and the items, in that order (all 8-aligned). */
        arr = (json *)(void *)q;
        arr->type = JSON_ARR;
        arr->flags = 0;
        arr->arena = a;
        arr->u.a.v = (json **)(void *)(arr + 1);
        arr->u.a.n = arr->u.a.alloc = (uint32_t)n;
        q = (char *)(arr->u.a.v + n);
        for (size_t i = 0; i < n; i++) {
                json *v = (json *)(void *)q;

                v->type = JSON_STR;
                v->flags = 0;
                v->arena = a;
                v->u.s.p = (char *)(v + 1);
                v->u.s.n = items[i].len;
                json_copy_short(v->u.s.p, items[i].key, items[i].len);
                v->u.s.p[items[i].len] = '\0';
                arr->u.a.v[i] = v;
                q += (sizeof(json) + items[i].len + 1 + 7) & ~(size_t)7;
        }
        return arr;
}

int json_arr_append(json *arr, json *val)
{
        if (!val)
                return -ENOMEM;
        if (!arr || arr->type != JSON_ARR) {
                json_free(val);
                return -EINVAL;
        }
        if (grow(json_arena_of(arr), (void **)&arr->u.a.v, arr->u.a.n, &arr->u.a.alloc,
                 sizeof(*arr->u.a.v)) < 0) {
                json_free(val);
                return -ENOMEM;
        }
        /* Performance (rules10): as obj_push, a value built in this tree's arena (the
         * rules' criteria) or a constant needs no adoption. */
        if (!(val->flags & JSON_F_STATIC) &&
            ((val->flags & JSON_F_ROOT) || val->arena != json_arena_of(arr))) {
                val = json_take(arr, val);
                if (!val)
                        return -ENOMEM;
        }
        arr->u.a.v[arr->u.a.n++] = val;
        return 0;
}

int json_obj_put_sorted(json *obj, const char *key, size_t key_len, uint32_t hint,
                        const struct json_key *keys, json *const *vals, size_t n)
{
        struct json_member *m = NULL, *mem;
        struct json_arena *a;
        size_t count = 0, key_bytes = 0, i;
        json *sub;
        char *kp;

        if (!obj || obj->type != JSON_OBJ)
                return -EINVAL;
        a = json_arena_of(obj);
        if (!a)
                return 0;
        /* As json.c's obj_find_hint: the hinted member, else the first of that key. */
        if (hint < obj->u.o.n && obj->u.o.m[hint].key_len == key_len &&
            json_bytes_eq(obj->u.o.m[hint].key, key, key_len))
                m = &obj->u.o.m[hint];
        for (i = 0; !m && i < obj->u.o.n; i++)
                if (obj->u.o.m[i].key_len == key_len &&
                    json_bytes_eq(obj->u.o.m[i].key, key, key_len))
                        m = &obj->u.o.m[i];
        if (!m || m->val->type == JSON_OBJ)
                return 0;
        assert(json_keys_sorted(keys, n)); /* the caller's promise (json.h) */
        for (i = 0; i < n; i++)
                if (vals[i]) {
                        count++;
                        key_bytes += (size_t)keys[i].len + 1;
                }
        if (count == 0)
                return 1;
        /* The object, its members and their keys in one allocation (rules10: the node, the
         * member array and each key apart cost ~200 instructions a group more). */
        sub = count <= UINT32_MAX / 2 && key_bytes < SIZE_MAX / 2
                      ? json_arena_alloc(a, sizeof(*sub) + count * sizeof(*mem) + key_bytes)
                      : NULL;
        if (!sub) {
                free_vals(vals, 0, n);
                return -ENOMEM;
        }
        mem = (struct json_member *)(void *)(sub + 1);
        kp = (char *)(mem + count);
        memset(sub, 0, sizeof(*sub));
        sub->type = JSON_OBJ;
        /* Keys in increasing order into an empty object: it keeps the sorted mark an empty
         * object has (json_new_obj_in), as pushing them one by one would. */
        sub->flags = JSON_F_SORTED;
        sub->arena = a;
        sub->u.o.m = mem;
        sub->u.o.alloc = (uint32_t)count;
        for (i = 0; i < n; i++) {
                json *v = vals[i];

                if (!v)
                        continue;
                /* As obj_push: values built in this arena and constants need no adoption. */
                if (!(v->flags & JSON_F_STATIC) && ((v->flags & JSON_F_ROOT) || v->arena != a)) {
                        v = json_take(sub, v);
                        if (!v) {
                                free_vals(vals, i + 1, n);
                                return -ENOMEM;
                        }
                }
                json_copy_short(kp, keys[i].key, keys[i].len);
                kp[keys[i].len] = '\0';
                mem[sub->u.o.n++] = (struct json_member){ kp, keys[i].len, 1, v };
                kp += keys[i].len + 1;
        }
        return json_obj_replace(obj, m, sub) == 0 ? 1 : -ENOMEM;
}
