/* The JSON value tree: constructors, accessors, objects, arrays, dotted paths, and the UTF-8
 * checks every string goes through.
 *
 * Values live in their tree's arena (core/json-arena.c); objects are arrays of members kept in
 * insertion order (records have a few dozen keys, so a linear lookup beats a hash table). Every string in a tree is
 * valid UTF-8 without NUL: constructors check it, and json_new_str_lossy repairs untrusted
 * bytes the way the Unicode standard recommends (section 3.9, "U+FFFD Substitution of Maximal
 * Subparts"), so that the canonical form is always well defined. The text side (parser and
 * RFC 8785 serialiser) lives in json-canon.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/json-internal.h"
#include "core/limits.h"

/* Unicode section 3.9, Table 3-7 (well-formed byte sequences): each lead byte fixes the
 * range of the byte after it, which is how overlongs, surrogates and code points past
 * U+10FFFF are refused without decoding. */
size_t json_utf8_seq(const unsigned char *s, size_t n, size_t *ret_bad)
{
        unsigned char c = s[0], lo = 0x80, hi = 0xbf;
        size_t need, k;

        if (c >= 0x01 && c <= 0x7f)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                need = 1;
        else if (c >= 0xe0 && c <= 0xef)
                need = 2;
        else if (c >= 0xf0 && c <= 0xf4)
                need = 3;
        else {
                *ret_bad = 1;
                return 0;
        }
        if (c == 0xe0)
                lo = 0xa0;
        else if (c == 0xed)
                hi = 0x9f; /* no surrogates */
        else if (c == 0xf0)
                lo = 0x90;
        else if (c == 0xf4)
                hi = 0x8f; /* nothing past U+10FFFF */
        for (k = 1; k <= need; k++) {
                if (k >= n || s[k] < lo || s[k] > hi) {
                        *ret_bad = k;
                        return 0;
                }
                lo = 0x80;
                hi = 0xbf;
        }
        return need + 1;
}

size_t json_utf8_check(const char *s, size_t n)
{
        size_t i = 0, bad;

        while (i < n) {
                size_t k;

                /* Performance (issue 12): eight ASCII bytes without NUL at a time; a tail
                 * shorter than eight padded with 'a'. */
                if (n >= 8) {
                        /* The last word may overlap bytes already checked: valid either way. */
                        size_t at = n - i >= 8 ? i : n - 8;
                        uint64_t w;

                        memcpy(&w, s + at, 8);
                        if (!(w & 0x8080808080808080ull) &&
                            !((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)) {
                                i = at + 8;
                                continue;
                        }
                }
                if ((unsigned char)s[i] >= 0x01 && (unsigned char)s[i] <= 0x7f) {
                        i++;
                        continue;
                }
                k = json_utf8_seq((const unsigned char *)s + i, n - i, &bad);
                if (k == 0)
                        return i;
                i += k;
        }
        return n;
}

bool json_utf8_valid(const char *s, size_t n)
{
        return json_utf8_check(s, n) == n;
}

enum json_type json_type_of(const json *v)
{
        return v ? v->type : JSON_NULL;
}

bool json_bool(const json *v)
{
        return v && v->type == JSON_BOOL && v->u.b;
}

int64_t json_int(const json *v)
{
        if (!v)
                return 0;
        if (v->type == JSON_INT)
                return v->u.i;
        if (v->type == JSON_NUM) {
                /* Clamp: casting an out-of-range double is undefined behaviour. */
                if (v->u.d >= 9223372036854775807.0)
                        return INT64_MAX;
                if (v->u.d <= -9223372036854775808.0)
                        return INT64_MIN;
                return (int64_t)v->u.d;
        }
        return 0;
}

double json_num(const json *v)
{
        if (v && v->type == JSON_NUM)
                return v->u.d;
        if (v && v->type == JSON_INT)
                return (double)v->u.i;
        return 0;
}

const char *json_str(const json *v, size_t *ret_len)
{
        if (!v || v->type != JSON_STR)
                return NULL;
        if (ret_len)
                *ret_len = v->u.s.n;
        return v->u.s.p;
}

/* ---- Key order (RFC 8785 section 3.2.3; moved from json-canon.c, prestore7: that file
 * stays readable in one sitting) ---- */

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

static struct json_member *obj_find(const json *obj, const char *key, size_t key_len)
{
        if (!obj || obj->type != JSON_OBJ)
                return NULL;
        /* A linear scan: a record's ~25 members are checked by length and first byte, and
         * the keys looked up most (action, actor, app, criteria) come first; bisecting a
         * sorted record measured slower (issue 12). */
        for (size_t i = 0; i < obj->u.o.n; i++) {
                struct json_member *m = &obj->u.o.m[i];

                /* Performance (issue 12): the first byte rules out most keys of a length. */
                if (m->key_len == key_len && (key_len == 0 || m->key[0] == key[0]) &&
                    json_bytes_eq(m->key, key, key_len))
                        return m;
        }
        return NULL;
}

/* obj_find trying member index hint first (struct json_path's hint, prestore8): the rules
 * look up the same few record members (target at index 22, rule at 18) in every record,
 * which the scan reaches after a score of compares. */
static inline struct json_member *obj_find_hint(const json *obj, const char *key,
                                                size_t key_len, uint32_t hint)
{
        if (obj && obj->type == JSON_OBJ && hint < obj->u.o.n) {
                struct json_member *m = &obj->u.o.m[hint];

                if (m->key_len == key_len && json_bytes_eq(m->key, key, key_len))
                        return m;
        }
        return obj_find(obj, key, key_len);
}

int json_obj_setn(json *obj, const char *key, size_t key_len, json *val)
{
        struct json_member *m;

        if (!val)
                return -ENOMEM; /* the value's constructor failed */
        if (!obj || obj->type != JSON_OBJ || !key) {
                json_free(val);
                return -EINVAL;
        }
        /* Existing keys are valid UTF-8, so a key found needs no check (issue 12). */
        m = obj_find(obj, key, key_len);
        if (m)
                return json_obj_replace(obj, m, val);
        return json_obj_push_copy(obj, key, key_len, val);
}

int json_obj_set(json *obj, const char *key, json *val)
{
        if (!key) {
                json_free(val);
                return -EINVAL;
        }
        return json_obj_setn(obj, key, strlen(key), val);
}

/* The member's value when it is a node of the tree that may be overwritten in place. */
static json *member_scalar(json *obj, const char *key, enum json_type t)
{
        struct json_member *m = key ? obj_find(obj, key, strlen(key)) : NULL;

        if (!m || m->val->type != t || (m->val->flags & (JSON_F_STATIC | JSON_F_ROOT)))
                return NULL;
        return m->val;
}

int json_obj_set_strn(json *obj, const char *key, const char *s, size_t n)
{
        json *old;

        if (s && !json_utf8_valid(s, n))
                return -EINVAL;
        if (!obj || obj->type != JSON_OBJ)
                return -EINVAL;
        /* A replaced value's space is only reclaimed with the tree, so that long-lived
         * objects updated per event (the writer's counters) do not grow, a string no
         * longer than the one it replaces is overwritten in place: nobody may hold the
         * old value (it was freed under the former API). */
        if (s && (old = member_scalar(obj, key, JSON_STR)) && n <= old->u.s.n) {
                memmove(old->u.s.p, s, n);
                old->u.s.p[n] = '\0';
                old->u.s.n = n;
                return 0;
        }
        return json_obj_set(obj, key, s ? json_new_strn_in(obj, s, n) : json_new_null());
}

int json_obj_set_str(json *obj, const char *key, const char *s)
{
        return json_obj_set_strn(obj, key, s, s ? strlen(s) : 0);
}

int json_obj_set_int(json *obj, const char *key, int64_t v)
{
        json *old;

        if (!obj || obj->type != JSON_OBJ)
                return -EINVAL;
        /* Counters are overwritten in place (see json_obj_set_strn). */
        if ((old = member_scalar(obj, key, JSON_INT))) {
                old->u.i = v;
                return 0;
        }
        return json_obj_set(obj, key, json_new_int_in(obj, v));
}

json *json_obj_get(const json *obj, const char *key)
{
        struct json_member *m = key ? obj_find(obj, key, strlen(key)) : NULL;

        return m ? m->val : NULL;
}

int json_obj_del(json *obj, const char *key)
{
        struct json_member *m = key ? obj_find(obj, key, strlen(key)) : NULL;
        size_t i;

        if (!m)
                return 0;
        /* The value stays in the arena until the tree is freed. */
        i = (size_t)(m - obj->u.o.m);
        memmove(m, m + 1, (obj->u.o.n - i - 1) * sizeof(*m));
        obj->u.o.n--;
        return 1;
}

json *json_path_get(const json *root, const char *path)
{
        const json *cur = root;

        if (!path)
                return NULL;
        for (;;) {
                size_t n = 0;
                struct json_member *m;

                while (path[n] && path[n] != '.') /* one pass, no strchr + strlen */
                        n++;
                m = obj_find(cur, path, n);
                if (!m)
                        return NULL;
                if (!path[n])
                        return m->val;
                cur = m->val;
                path += n + 1;
        }
}

int json_path_set(json *root, const char *path, json *val)
{
        json *cur = root, *sub;
        int r;

        if (!val)
                return -ENOMEM;
        if (!root || root->type != JSON_OBJ || !path) {
                json_free(val);
                return -EINVAL;
        }
        for (;;) {
                const char *dot = strchr(path, '.');
                size_t n = dot ? (size_t)(dot - path) : strlen(path);
                struct json_member *m;

                if (!dot)
                        return json_obj_setn(cur, path, n, val);
                m = obj_find(cur, path, n);
                if (m && m->val->type == JSON_OBJ) {
                        cur = m->val;
                        path = dot + 1;
                        continue;
                }
                /* Performance (issue 12): the new level is made in the tree's arena and put
                 * in place once, without looking the key up again. */
                sub = json_new_obj_in(cur);
                if (!sub) {
                        json_free(val);
                        return -ENOMEM;
                }
                r = m ? json_obj_replace(cur, m, sub) : json_obj_setn(cur, path, n, sub);
                if (r < 0) {
                        json_free(val);
                        return r;
                }
                cur = sub;
                path = dot + 1;
        }
}

int json_path_split(const char *path, struct json_path *ret)
{
        struct json_path p = { .n_keys = 0 };

        if (!path)
                return -EINVAL;
        for (;;) {
                size_t n = 0, i = 0;

                while (path[n] && path[n] != '.')
                        n++;
                if (p.n_keys == JSON_PATH_KEYS_MAX)
                        return -E2BIG;
                if (n > UINT32_MAX || !json_utf8_valid(path, n))
                        return -EINVAL;
                while (i < n && (unsigned char)path[i] >= 0x20 && path[i] != '"' &&
                       path[i] != '\\')
                        i++;
                p.keys[p.n_keys].s = path;
                p.keys[p.n_keys].n = (uint32_t)n;
                p.keys[p.n_keys].plain = i == n;
                p.keys[p.n_keys].hint = 0;
                p.n_keys++;
                if (!path[n])
                        break;
                path += n + 1;
        }
        *ret = p;
        return 0;
}

json *json_path_get_split(const json *root, const struct json_path *p)
{
        const json *cur = root;

        for (size_t k = 0; k < p->n_keys; k++) {
                struct json_member *m =
                        obj_find_hint(cur, p->keys[k].s, p->keys[k].n, p->keys[k].hint);

                if (!m)
                        return NULL;
                cur = m->val;
        }
        return p->n_keys ? (json *)cur : NULL;
}

/* A member new to obj with key s[0..n) (valid UTF-8, plain as given): the key is copied
 * into obj's arena, checked once when the path was split. Takes val always. */
static int push_split_key(json *obj, const char *s, size_t n, int plain, json *val)
{
        char *k = json_arena_strdup(json_arena_of(obj), s, n);

        if (!k) {
                json_free(val);
                return -ENOMEM;
        }
        return json_obj_push(obj, k, n, plain, val);
}

int json_path_set_split_from(json *obj, const struct json_path *p, size_t from, json *val,
                             json **ret_parent)
{
        json *cur = obj, *sub;
        int r;

        if (!val)
                return -ENOMEM;
        if (!obj || obj->type != JSON_OBJ || from >= p->n_keys) {
                json_free(val);
                return -EINVAL;
        }
        /* The steps of json_path_set, with each key found by its length (no strchr, no
         * strlen) and a missing one appended without a second lookup or check. */
        for (size_t k = from;; k++) {
                const char *s = p->keys[k].s;
                size_t n = p->keys[k].n;
                struct json_member *m = obj_find_hint(cur, s, n, p->keys[k].hint);

                if (k + 1 == p->n_keys) {
                        r = m ? json_obj_replace(cur, m, val)
                              : push_split_key(cur, s, n, (int)p->keys[k].plain, val);
                        if (r == 0 && ret_parent)
                                *ret_parent = cur;
                        return r;
                }
                if (m && m->val->type == JSON_OBJ) {
                        cur = m->val;
                        continue;
                }
                sub = json_new_obj_in(cur);
                if (!sub) {
                        json_free(val);
                        return -ENOMEM;
                }
                r = m ? json_obj_replace(cur, m, sub)
                      : push_split_key(cur, s, n, (int)p->keys[k].plain, sub);
                if (r < 0) {
                        json_free(val);
                        return r;
                }
                cur = sub;
        }
}

int json_path_set_split(json *root, const struct json_path *p, json *val)
{
        return json_path_set_split_from(root, p, 0, val, NULL);
}

size_t json_len(const json *v)
{
        if (v && v->type == JSON_ARR)
                return v->u.a.n;
        if (v && v->type == JSON_OBJ)
                return v->u.o.n;
        return 0;
}

json *json_arr_at(const json *arr, size_t i)
{
        if (!arr || arr->type != JSON_ARR || i >= arr->u.a.n)
                return NULL;
        return arr->u.a.v[i];
}

json *json_obj_at(const json *obj, size_t i, const char **ret_key, size_t *ret_key_len)
{
        const struct json_member *m;

        if (!obj || obj->type != JSON_OBJ || i >= obj->u.o.n)
                return NULL;
        m = &obj->u.o.m[i];
        if (ret_key)
                *ret_key = m->key;
        if (ret_key_len)
                *ret_key_len = m->key_len;
        return m->val;
}

size_t json_obj_pick(const json *obj, const struct json_key *keys, uint32_t *hints, size_t n,
                     const json **ret_vals)
{
        bool sorted = obj && obj->type == JSON_OBJ && (obj->flags & JSON_F_SORTED);
        size_t found = 0;

        for (size_t i = 0; i < n; i++) {
                const struct json_member *m = NULL;
                uint32_t h = hints[i];

                if (sorted && h < obj->u.o.n && obj->u.o.m[h].key_len == keys[i].len &&
                    json_bytes_eq(obj->u.o.m[h].key, keys[i].key, keys[i].len))
                        m = &obj->u.o.m[h];
                else if ((m = obj_find(obj, keys[i].key, keys[i].len)) != NULL)
                        hints[i] = (uint32_t)(m - obj->u.o.m);
                ret_vals[i] = m ? m->val : NULL;
                found += m != NULL;
        }
        return found;
}
