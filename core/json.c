/* The JSON value tree: constructors, accessors, objects, arrays, dotted paths, and the UTF-8
 * checks every string goes through.
 *
 * Values are small heap nodes; objects are arrays of members kept in insertion order (records
 * have a few dozen keys, so a linear lookup beats a hash table). Every string in a tree is
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

                /* Performance (issue 12): eight ASCII bytes without NUL at a time. */
                if (n - i >= 8) {
                        uint64_t w;
                        memcpy(&w, s + i, 8);
                        if (!(w & 0x8080808080808080ull) &&
                            !((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)) {
                                i += 8;
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

static json *json_alloc(enum json_type t)
{
        json *v = calloc(1, sizeof(*v));

        if (v)
                v->type = t;
        return v;
}

json *json_new_null(void)
{
        return json_alloc(JSON_NULL);
}

json *json_new_bool(bool b)
{
        json *v = json_alloc(JSON_BOOL);

        if (v)
                v->u.b = b;
        return v;
}

json *json_new_int(int64_t i)
{
        json *v = json_alloc(JSON_INT);

        if (v)
                v->u.i = i;
        return v;
}

json *json_new_num(double d)
{
        json *v;

        if (d != d || d - d != 0) /* NaN or infinity */
                return NULL;
        v = json_alloc(JSON_NUM);
        if (v)
                v->u.d = d;
        return v;
}

json *json_new_str_take(char *p, size_t n)
{
        json *v = p ? json_alloc(JSON_STR) : NULL;

        if (!v) {
                free(p);
                return NULL;
        }
        v->u.s.p = p;
        v->u.s.n = n;
        return v;
}

char *json_memdup_nul(const char *s, size_t n)
{
        char *p = malloc(n + 1);

        if (!p)
                return NULL;
        if (n > 0)
                memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

json *json_new_strn(const char *s, size_t n)
{
        char *p;

        if (!s || !json_utf8_valid(s, n))
                return NULL;
        p = json_memdup_nul(s, n);
        return p ? json_new_str_take(p, n) : NULL;
}

json *json_new_str(const char *s)
{
        return s ? json_new_strn(s, strlen(s)) : NULL;
}

json *json_new_str_lossy(const char *s, size_t n, size_t *ret_replaced)
{
        const unsigned char *u = (const unsigned char *)s;
        size_t i = 0, o = 0, replaced = 0, bad;
        char *p;

        if (n > (SIZE_MAX - 1) / 3)
                return NULL;
        p = malloc(3 * n + 1); /* each bad byte may become the 3-byte U+FFFD */
        if (!p)
                return NULL;
        while (i < n) {
                size_t k = json_utf8_seq(u + i, n - i, &bad);

                if (k > 0) {
                        memcpy(p + o, u + i, k);
                        o += k;
                        i += k;
                        continue;
                }
                memcpy(p + o, "\xef\xbf\xbd", 3);
                o += 3;
                i += bad;
                replaced++;
        }
        p[o] = '\0';
        if (ret_replaced)
                *ret_replaced = replaced;
        return json_new_str_take(p, o);
}

json *json_new_obj(void)
{
        return json_alloc(JSON_OBJ);
}

json *json_new_arr(void)
{
        return json_alloc(JSON_ARR);
}

void json_free(json *v)
{
        if (!v)
                return;
        switch (v->type) {
        case JSON_STR:
                free(v->u.s.p);
                break;
        case JSON_ARR:
                for (size_t i = 0; i < v->u.a.n; i++)
                        json_free(v->u.a.v[i]);
                free(v->u.a.v);
                break;
        case JSON_OBJ:
                for (size_t i = 0; i < v->u.o.n; i++) {
                        free(v->u.o.m[i].key);
                        json_free(v->u.o.m[i].val);
                }
                free(v->u.o.m);
                break;
        default:
                break;
        }
        free(v);
}

int json_obj_push(json *obj, char *key, size_t key_len, json *val)
{
        if (obj->u.o.n == obj->u.o.alloc) {
                size_t na = obj->u.o.alloc ? obj->u.o.alloc * 2 : 8;
                struct json_member *m = realloc(obj->u.o.m, na * sizeof(*m));

                if (!m) {
                        free(key);
                        json_free(val);
                        return -ENOMEM;
                }
                obj->u.o.m = m;
                obj->u.o.alloc = na;
        }
        obj->u.o.m[obj->u.o.n++] = (struct json_member){ key, key_len, val };
        return 0;
}

json *json_clone(const json *v)
{
        json *c;

        if (!v)
                return NULL;
        switch (v->type) {
        case JSON_STR:
                return json_new_strn(v->u.s.p, v->u.s.n);
        case JSON_ARR:
                c = json_new_arr();
                for (size_t i = 0; c && i < v->u.a.n; i++) {
                        json *e = json_clone(v->u.a.v[i]);

                        if (!e || json_arr_append(c, e) < 0) {
                                json_free(c);
                                return NULL;
                        }
                }
                return c;
        case JSON_OBJ:
                c = json_new_obj();
                for (size_t i = 0; c && i < v->u.o.n; i++) {
                        const struct json_member *m = &v->u.o.m[i];
                        json *e = json_clone(m->val);
                        char *k = json_memdup_nul(m->key, m->key_len);

                        if (!e || !k || json_obj_push(c, k, m->key_len, e) < 0) {
                                if (!e || !k) {
                                        free(k);
                                        json_free(e);
                                }
                                json_free(c);
                                return NULL;
                        }
                }
                return c;
        default:
                c = json_alloc(v->type);
                if (c)
                        c->u = v->u;
                return c;
        }
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

static struct json_member *obj_find(const json *obj, const char *key, size_t key_len)
{
        if (!obj || obj->type != JSON_OBJ)
                return NULL;
        for (size_t i = 0; i < obj->u.o.n; i++) {
                struct json_member *m = &obj->u.o.m[i];

                if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0)
                        return m;
        }
        return NULL;
}

int json_obj_setn(json *obj, const char *key, size_t key_len, json *val)
{
        struct json_member *m;
        char *k;

        if (!val)
                return -ENOMEM; /* the value's constructor failed */
        if (!obj || obj->type != JSON_OBJ || !key || !json_utf8_valid(key, key_len)) {
                json_free(val);
                return -EINVAL;
        }
        m = obj_find(obj, key, key_len);
        if (m) {
                json_free(m->val);
                m->val = val;
                return 0;
        }
        k = json_memdup_nul(key, key_len);
        if (!k) {
                json_free(val);
                return -ENOMEM;
        }
        return json_obj_push(obj, k, key_len, val);
}

int json_obj_set(json *obj, const char *key, json *val)
{
        if (!key) {
                json_free(val);
                return -EINVAL;
        }
        return json_obj_setn(obj, key, strlen(key), val);
}

int json_obj_set_str(json *obj, const char *key, const char *s)
{
        if (s && !json_utf8_valid(s, strlen(s)))
                return -EINVAL;
        return json_obj_set(obj, key, s ? json_new_str(s) : json_new_null());
}

int json_obj_set_int(json *obj, const char *key, int64_t v)
{
        return json_obj_set(obj, key, json_new_int(v));
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
        i = (size_t)(m - obj->u.o.m);
        free(m->key);
        json_free(m->val);
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
                const char *dot = strchr(path, '.');
                size_t n = dot ? (size_t)(dot - path) : strlen(path);
                struct json_member *m = obj_find(cur, path, n);

                if (!m)
                        return NULL;
                if (!dot)
                        return m->val;
                cur = m->val;
                path = dot + 1;
        }
}

int json_path_set(json *root, const char *path, json *val)
{
        json *cur = root;
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
                if (!m || m->val->type != JSON_OBJ) {
                        r = json_obj_setn(cur, path, n, json_new_obj());
                        if (r < 0) {
                                json_free(val);
                                return r;
                        }
                        m = obj_find(cur, path, n);
                }
                cur = m->val;
                path = dot + 1;
        }
}

int json_arr_append(json *arr, json *val)
{
        if (!val)
                return -ENOMEM;
        if (!arr || arr->type != JSON_ARR) {
                json_free(val);
                return -EINVAL;
        }
        if (arr->u.a.n == arr->u.a.alloc) {
                size_t na = arr->u.a.alloc ? arr->u.a.alloc * 2 : 8;
                json **v = realloc(arr->u.a.v, na * sizeof(*v));

                if (!v) {
                        json_free(val);
                        return -ENOMEM;
                }
                arr->u.a.v = v;
                arr->u.a.alloc = na;
        }
        arr->u.a.v[arr->u.a.n++] = val;
        return 0;
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
