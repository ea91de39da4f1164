/* The JSON parser's fast paths against simple models, on random input (issue 12, round 10,
 * kafka10): every Kafka payload goes through core/json-parse.c.
 *
 *   - string_run finds the end of a plain run from the word that holds it (a bit scan)
 *     instead of a byte loop: a model scanner, byte by byte, decides every random string
 *     literal (plain ASCII, the run's ending bytes, escapes, valid and invalid UTF-8, at
 *     every alignment): same decoded value, or the same error offset;
 *   - parse_members collects an object's first 16 members on the stack and puts them in one
 *     array: for random objects of 0..40 members (so both sides of 16), keys from a pool
 *     (duplicates included, escaped keys, non-ASCII ones) and values of every kind, the
 *     members come out as json_obj_push would have made them: same order, keys, key_plain,
 *     values, the SORTED flag exactly when the keys strictly increase, and duplicates
 *     refused at the object's offset.
 *
 * Includes core/json-internal.h (the flags and the member layout), as tests/core/test-json.c
 * does. Seeded, so a failure repeats. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "core/json-internal.h"

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
        rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
        return (uint32_t)(rng_state >> 33) % n;
}

/* Pieces a random string body is made of, each with its decoded bytes when it is valid in
 * a string (the model needs only the raw bytes; dec documents intent). */
static const char *const pieces[] = {
        "a", "b", "x", "Z", "0", " ", "/", "\x7f", "~", "\\n", "\\\"", "\\\\", "\\/",
        "\\u00e9", "\"", "\x01", "\x1f", "\t", "\xc3\xa9", "\xe2\x82\xac",
        "\xf0\x9f\x98\x80", "\xff", "\xc3", "\xed\xa0\x80", "\x80", "\xe2\x82",
};

/* Model of a string literal's scan as the parser defines it: plain runs end at '"', '\\'
 * or a byte below 0x20; a run with a byte of 0x80 or above must be whole UTF-8 (error at
 * the first bad byte, json_utf8_check); escapes as RFC 8259 (only those the pieces use).
 * s[0] is the opening quote. Returns 0 with the decoded value in out (and *ret_end after
 * the closing quote), or -EBADMSG with *ret_off. */
static int model_string(const char *s, size_t len, char *out, size_t *ret_n, size_t *ret_end,
                        size_t *ret_off)
{
        size_t pos = 1, n = 0;

        for (;;) {
                size_t start = pos, bad;

                while (pos < len && s[pos] != '"' && s[pos] != '\\' &&
                       (unsigned char)s[pos] >= 0x20)
                        pos++;
                bad = json_utf8_check(s + start, pos - start);
                if (bad != pos - start) {
                        *ret_off = start + bad;
                        return -EBADMSG;
                }
                memcpy(out + n, s + start, pos - start);
                n += pos - start;
                if (pos >= len) {
                        *ret_off = pos;
                        return -EBADMSG;
                }
                if (s[pos] == '"') {
                        *ret_n = n;
                        *ret_end = pos + 1;
                        return 0;
                }
                if (s[pos] != '\\') {
                        *ret_off = pos;
                        return -EBADMSG;
                }
                if (pos + 1 >= len) {
                        *ret_off = pos;
                        return -EBADMSG;
                }
                switch (s[pos + 1]) {
                case 'n':
                        out[n++] = '\n';
                        pos += 2;
                        break;
                case '"':
                case '\\':
                case '/':
                        out[n++] = s[pos + 1];
                        pos += 2;
                        break;
                case 'u':  /* only \u00e9 among the pieces */
                        if (len - pos < 6 || memcmp(s + pos, "\\u00e9", 6) != 0) {
                                *ret_off = pos;
                                return -EBADMSG;
                        }
                        out[n++] = '\xc3';
                        out[n++] = '\xa9';
                        pos += 6;
                        break;
                default:
                        *ret_off = pos;
                        return -EBADMSG;
                }
        }
}

/* A random string literal: '"', pieces, '"' (a '"' piece ends it early: the rest is then
 * trailing text). Returns its length. */
static size_t random_literal(char *buf, size_t max_pieces)
{
        size_t n = 0, k = rnd((uint32_t)max_pieces + 1);

        buf[n++] = '"';
        /* Mostly plain, so that runs are long and end anywhere in a word. */
        for (size_t i = 0; i < k; i++) {
                const char *pc = rnd(3) ? pieces[rnd(5)]
                                        : pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))];

                n += (size_t)sprintf(buf + n, "%s", pc);
        }
        buf[n++] = '"';
        return n;
}

static void test_strings_against_model(void **state)
{
        char in[512], out[512];

        (void)state;
        rng_state = 0x6b61666b6131306bull;
        for (int iter = 0; iter < 200000; iter++) {
                size_t n = random_literal(in, 40), mn = 0, end = 0, off = 0;
                struct json_error err = { 0 };
                json *v = NULL;
                int mr = model_string(in, n, out, &mn, &end, &off);
                int r;

                /* A string that ends before the text does leaves trailing text (no blank
                 * among the pieces after a quote can be all of it: a blank then more). */
                if (mr == 0 && end != n) {
                        size_t p = end;

                        while (p < n && (in[p] == ' ' || in[p] == '\t'))
                                p++;
                        if (p != n) {
                                mr = -EBADMSG;
                                off = p;
                        }
                }
                r = json_parse(in, n, &v, &err);
                if (r != mr)
                        fail_msg("iter %d: r %d, model %d (%.*s)", iter, r, mr, (int)n, in);
                if (r == 0) {
                        size_t got_n = 0;
                        const char *got = json_str(v, &got_n);

                        if (got_n != mn || memcmp(got, out, mn) != 0)
                                fail_msg("iter %d: value differs (%.*s)", iter, (int)n, in);
                        json_free(v);
                } else if (err.offset != off) {
                        fail_msg("iter %d: error at %zu, model %zu (%.*s)", iter, err.offset,
                                 off, (int)n, in);
                }
        }
}

/* Object keys (JSON text, decoded): plain, escaped (a control: key_plain 0), non-ASCII
 * (in UTF-16 order "é" sorts after "z"), prefixes of each other. */
static const struct {
        const char *text, *dec;
} keys[] = {
        { "a", "a" }, { "b", "b" }, { "ab", "ab" }, { "abc", "abc" }, { "ts", "ts" },
        { "time", "time" }, { "host", "host" }, { "message", "message" }, { "z", "z" },
        { "\xc3\xa9", "\xc3\xa9" }, { "\\u00e9x", "\xc3\xa9x" }, { "k\\n", "k\n" },
        { "a b", "a b" }, { "A", "A" }, { "_", "_" }, { "request_id", "request_id" },
        { "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" }, { "\xef\xbd\xa1", "\xef\xbd\xa1" },
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static void test_objects_against_model(void **state)
{
        static const char *const vals[] = { "1", "-7", "1.5", "2e3", "\"s\"", "\"\"", "true",
                                             "false", "null", "{}", "[]", "{\"x\":[1,2]}",
                                             "[{\"a\":1}]", "\"\xc3\xa9\"" };
        static const enum json_type vtypes[] = { JSON_INT, JSON_INT, JSON_NUM, JSON_NUM,
                                                 JSON_STR, JSON_STR, JSON_BOOL, JSON_BOOL,
                                                 JSON_NULL, JSON_OBJ, JSON_ARR, JSON_OBJ,
                                                 JSON_ARR, JSON_STR };
        char text[8192];

        (void)state;
        rng_state = 0x6b61666b61313032ull;
        for (int iter = 0; iter < 20000; iter++) {
                /* Distinct keys from a shuffled pool, sometimes sorted, sometimes one repeated;
                 * past the pool's size, generated keys "kNN". */
                size_t n = rnd(41), kidx[48], vidx[48], len = 0;
                char gen[48][8];
                const char *kt[48], *kd[48];
                bool dup = false, sorted = true, tree = rnd(2);
                struct json_error err = { 0 };
                json *root = NULL, *obj = NULL;
                int r;

                for (size_t i = 0; i < n; i++) {
                        kidx[i] = rnd(N_KEYS + 30);
                        if (kidx[i] < N_KEYS) {
                                kt[i] = keys[kidx[i]].text;
                                kd[i] = keys[kidx[i]].dec;
                        } else {
                                snprintf(gen[i], sizeof(gen[i]), "k%02zu", kidx[i] - N_KEYS);
                                kt[i] = kd[i] = gen[i];
                        }
                        vidx[i] = rnd(sizeof(vals) / sizeof(vals[0]));
                }
                if (rnd(3) == 0) {  /* keys in increasing order: the SORTED side */
                        for (size_t i = 1; i < n; i++)
                                for (size_t j = i; j > 0 && json_key_cmp(kd[j - 1],
                                        strlen(kd[j - 1]), kd[j], strlen(kd[j])) > 0; j--) {
                                        const char *t = kt[j], *d = kd[j];

                                        kt[j] = kt[j - 1];
                                        kd[j] = kd[j - 1];
                                        kt[j - 1] = t;
                                        kd[j - 1] = d;
                                }
                }
                for (size_t i = 0; i < n; i++)
                        for (size_t j = 0; j < i; j++)
                                if (!strcmp(kd[i], kd[j]))
                                        dup = true;
                for (size_t i = 1; i < n; i++)
                        if (json_key_cmp(kd[i - 1], strlen(kd[i - 1]), kd[i],
                                         strlen(kd[i])) >= 0)
                                sorted = false;
                text[len++] = '{';
                for (size_t i = 0; i < n; i++)
                        len += (size_t)sprintf(text + len, "%s\"%s\":%s", i ? "," : "", kt[i],
                                               vals[vidx[i]]);
                text[len++] = '}';
                if (tree) {  /* json_parse_in, as the Kafka record build calls it */
                        root = json_new_obj_reserve(64);
                        assert_non_null(root);
                        r = json_parse_in(root, text, len, &obj, &err);
                } else {
                        r = json_parse(text, len, &obj, &err);
                }
                if (dup) {
                        if (r != -EBADMSG || err.offset != 0)
                                fail_msg("iter %d: duplicate not refused at 0: r %d at %zu",
                                         iter, r, err.offset);
                        json_free(root);
                        continue;
                }
                if (r != 0)
                        fail_msg("iter %d: r %d at %zu: %s", iter, r, err.offset, err.msg);
                assert_int_equal(json_type_of(obj), JSON_OBJ);
                assert_int_equal(json_len(obj), n);
                if (!!(obj->flags & JSON_F_SORTED) != sorted)
                        fail_msg("iter %d: SORTED %d, keys sorted %d", iter,
                                 !!(obj->flags & JSON_F_SORTED), sorted);
                assert_true(obj->u.o.alloc >= n);
                for (size_t i = 0; i < n; i++) {
                        const struct json_member *m = &obj->u.o.m[i];
                        size_t dn = strlen(kd[i]);
                        bool plain = !strchr(kd[i], '\n');

                        if (m->key_len != dn || memcmp(m->key, kd[i], dn) != 0 ||
                            m->key[dn] != '\0')
                                fail_msg("iter %d: member %zu key differs", iter, i);
                        if (m->key_plain != plain)
                                fail_msg("iter %d: member %zu key_plain %u", iter, i,
                                         m->key_plain);
                        if (json_type_of(m->val) != vtypes[vidx[i]])
                                fail_msg("iter %d: member %zu type", iter, i);
                        if (json_obj_get(obj, kd[i]) != m->val)
                                fail_msg("iter %d: member %zu not found by key", iter, i);
                }
                /* The object still grows as any other (rules add members). */
                assert_int_equal(json_obj_set(obj, "zz-added", json_new_int(1)), 0);
                assert_int_equal(json_len(obj), n + 1);
                json_free(root ? root : obj);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_strings_against_model),
                cmocka_unit_test(test_objects_against_model),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
