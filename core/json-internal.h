/* Private to core/json.c and core/json-canon.c: the node layout and the helpers both share.
 * Nothing outside those two files may include this header. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"

struct json_member {
        char *key;      /* owned, NUL-terminated */
        size_t key_len;
        json *val;      /* owned */
};

struct json {
        enum json_type type;
        union {
                bool b;
                int64_t i;
                double d;
                struct {
                        char *p; /* owned, NUL-terminated */
                        size_t n;
                } s;
                struct {
                        json **v;
                        size_t n, alloc;
                } a;
                struct {
                        struct json_member *m;
                        size_t n, alloc;
                } o;
        } u;
};

/* Returns the length of the valid UTF-8 sequence at s[0..n) (n >= 1), or 0 when it is
 * invalid and then *ret_bad is the length of its maximal invalid subpart (>= 1). NUL is
 * invalid. */
size_t json_utf8_seq(const unsigned char *s, size_t n, size_t *ret_bad);
/* Offset of the first invalid byte of s[0..n), or n when all is valid UTF-8 without NUL. */
size_t json_utf8_check(const char *s, size_t n);
/* Wraps an owned NUL-terminated UTF-8 string of n bytes; frees p on failure (p may be NULL,
 * then NULL is returned). */
json *json_new_str_take(char *p, size_t n);
/* malloc'd copy of s[0..n) with a NUL after it, or NULL. */
char *json_memdup_nul(const char *s, size_t n);
/* Appends a member without looking for an existing key; takes key and val always. */
int json_obj_push(json *obj, char *key, size_t key_len, json *val);
