/* The exporter's criteria reader (cli/export-crit.h) against the full parser as model.
 *
 * Records are built at random (keys around "criteria", nested objects that hold their own
 * "criteria", strings with escaped quotes, backslashes and look-alike text, non-ASCII,
 * numbers), serialised canonically, and must give exactly the parser's top-level
 * "criteria"; then their bytes are mutated at random and, whenever the mutated bytes are
 * still canonical (parse, serialise, same bytes: what verification requires of a record)
 * and the reader answers, the answers must agree. Hand-written cases pin the edges
 * (absent, empty, last member, a duplicate after it, unsorted keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/export-crit.h"
#include "core/buf.h"
#include "core/json.h"
#include "tests/test-rng.h"

static const char *const keys[] = {
        "", "a", "action", "actor", "app", "crit", "criteri", "criteria", "criteria0",
        "criterib", "event", "host", "message", "raw", "seq", "z",
};
static const char *const strs[] = {
        "", "CC6.1", "A1.2", "x\"y", "back\\slash", "\\", "\"criteria\":[\"Z\"]",
        "criteria", "{[", "]}", "caf\xc3\xa9", "tab\there", "nl\n", "\x01",
        "\xe2\x82\xac \xf0\x9f\x98\x80",
};
static const char *const ids[] = { "CC6.1", "CC6.2", "CC7.2", "A1.2", "PI1.1", "X" };

static json *rand_value(uint64_t *rng, int depth);

static json *rand_obj(uint64_t *rng, int depth, bool top)
{
        json *o = json_new_obj();
        size_t n = test_rng_next(rng) % (top ? 10 : 4);

        for (size_t i = 0; i < n; i++) {
                const char *k = keys[test_rng_next(rng) % (sizeof(keys) / sizeof(*keys))];
                json *v;
                if (!strcmp(k, "criteria") && (top || test_rng_next(rng) % 2)) {
                        v = json_new_arr();
                        size_t m = test_rng_next(rng) % 4;
                        for (size_t j = 0; j < m; j++)
                                json_arr_append(v, json_new_str(ids[test_rng_next(rng) % 6]));
                } else {
                        v = rand_value(rng, depth + 1);
                }
                json_obj_set(o, k, v);  /* replaces: keys stay unique */
        }
        return o;
}

static json *rand_value(uint64_t *rng, int depth)
{
        switch (test_rng_next(rng) % (depth > 3 ? 4 : 6)) {
        case 0: return json_new_str(strs[test_rng_next(rng) % (sizeof(strs) / sizeof(*strs))]);
        case 1: return json_new_int((int64_t)(test_rng_next(rng) % 2000000) - 1000000);
        case 2:
                return test_rng_next(rng) % 2 ? json_new_bool(test_rng_next(rng) % 2)
                                              : json_new_null();
        case 3: return json_new_num((double)(test_rng_next(rng) % 1000) / 8.0 + 0.5);
        case 4: return rand_obj(rng, depth, false);
        default: {
                json *a = json_new_arr();
                size_t m = test_rng_next(rng) % 4;
                for (size_t j = 0; j < m; j++)
                        json_arr_append(a, rand_value(rng, depth + 1));
                return a;
        }
        }
}

/* The model: the parser's top-level "criteria" as "id,id,", or NULL when the bytes do not
 * parse, are not canonical (json_canon of the tree gives other bytes) or "criteria" is not
 * an array of strings. */
static char *model(const char *p, size_t len)
{
        json *j = NULL;
        struct buf b = BUF_INIT;

        if (json_parse(p, len, &j, NULL) < 0)
                return NULL;
        if (json_canon(j, &b) < 0 || b.len != len || memcmp(b.data, p, len) != 0) {
                json_free(j);
                buf_free(&b);
                return NULL;
        }
        buf_reset(&b);
        const json *c = json_obj_get(j, "criteria");
        buf_putc(&b, '\0');
        b.len = 0;
        if (json_type_of(j) != JSON_OBJ || (c && json_type_of(c) != JSON_ARR)) {
                json_free(j);
                buf_free(&b);
                return NULL;
        }
        for (size_t i = 0; i < json_len(c); i++) {
                size_t n;
                const char *s = json_str(json_arr_at(c, i), &n);
                if (!s) {
                        json_free(j);
                        buf_free(&b);
                        return NULL;
                }
                buf_append(&b, s, n);
                buf_putc(&b, ',');
        }
        json_free(j);
        return b.data;
}

/* The reader's answer in the model's shape, or NULL when it cannot tell. */
static char *reader(const char *p, size_t len, char *out, size_t out_len)
{
        struct seal_span sp[SEAL_SCAN_CRITERIA_MAX];
        size_t n = 99, used = 0;

        if (!export_crit_scan(p, len, sp, SEAL_SCAN_CRITERIA_MAX, &n))
                return NULL;
        assert_true(n <= SEAL_SCAN_CRITERIA_MAX);
        out[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                assert_true(sp[i].p >= p && sp[i].p + sp[i].len <= p + len);
                assert_true(used + sp[i].len + 2 < out_len);
                memcpy(out + used, sp[i].p, sp[i].len);
                used += sp[i].len;
                out[used++] = ',';
                out[used] = '\0';
        }
        return out;
}

static void test_random_canonical(void **state)
{
        char got[4096];
        int decided = 0, total = 0;
        uint64_t rng = 88172645463325252u;      /* fixed seed: failures reproduce */

        for (int i = 0; i < 20000; i++) {
                json *o = rand_obj(&rng, 0, true);
                struct buf b = BUF_INIT;
                assert_int_equal(json_canon(o, &b), 0);
                char *want = model(b.data, b.len);
                assert_non_null(want);
                char *r = reader(b.data, b.len, got, sizeof(got));
                total++;
                if (r) {
                        decided++;
                        if (strcmp(r, want) != 0)
                                fail_msg("record %.*s: reader \"%s\", parser \"%s\"",
                                         (int)b.len, b.data, r, want);
                }
                /* Mutations: whenever the bytes stay canonical and the reader answers, they
                 * agree. */
                for (int m = 0; m < 8 && b.len > 0; m++) {
                        char *c = malloc(b.len + 1);
                        size_t at = test_rng_next(&rng) % b.len, n = b.len;
                        memcpy(c, b.data, b.len);
                        switch (test_rng_next(&rng) % 3) {
                        case 0: c[at] = "{}[]\",:\\ a0"[test_rng_next(&rng) % 11]; break;
                        case 1: memmove(c + at, c + at + 1, n - at - 1); n--; break;
                        default: c[at] = (char)(test_rng_next(&rng) & 0xff); break;
                        }
                        char *w = model(c, n), *g = reader(c, n, got, sizeof(got));
                        if (w && g && strcmp(w, g) != 0)
                                fail_msg("mutated %.*s: reader \"%s\", parser \"%s\"", (int)n,
                                         c, g, w);
                        free(w);
                        free(c);
                }
                free(want);
                buf_free(&b);
                json_free(o);
        }
        /* Most canonical records must take the short path, or it saves nothing. */
        print_message("decided %d of %d canonical records\n", decided, total);
        assert_true(decided * 10 > total * 9);
}

static const struct {
        const char *rec;
        int decided;
        const char *crit;
} cases[] = {
        { "{}", 1, "" },
        { "{\"a\":1}", 1, "" },
        { "{\"criteria\":[]}", 1, "" },
        { "{\"criteria\":[\"CC6.1\"]}", 1, "CC6.1," },
        { "{\"actor\":{\"criteria\":[\"X\"]},\"criteria\":[\"A1.2\",\"CC6.1\"],\"z\":0}", 1,
          "A1.2,CC6.1," },
        { "{\"action\":\"\\\"criteria\\\":[\\\"X\\\"]\",\"criteria\":[\"Y\"]}", 1, "Y," },
        { "{\"action\":\"\\\\\",\"criteria\":[\"Y\"],\"host\":\"h\"}", 1, "Y," },
        { "{\"host\":\"h\",\"message\":\"\\\"criteria\\\":[\\\"X\\\"]\"}", 1, "" },
        { "{\"app\":[1,{\"b\":[true,null]}],\"criteria\":[\"Q\"]}", 1, "Q," },
        /* cannot tell: a duplicate or an unsorted key right after, white space, escapes
         * (past "criteria" nothing is read: "{\"z\":[}" is answered, absent) */
        { "{\"criteria\":[\"A\"],\"criteria\":[\"B\"]}", 0, NULL },
        { "{\"criteria\":[\"A\"],\"action\":1}", 0, NULL },
        { "{\"b\":1,\"a\":2,\"criteria\":[\"A\"]}", 0, NULL },
        { "{\"a\":1, \"criteria\":[\"A\"]}", 0, NULL },
        { "{\"criteria\":[\"A\\u0041\"]}", 0, NULL },
        { "{\"criteria\":[\"caf\xc3\xa9\"]}", 0, NULL },
        { "{\"criteria\":\"A\"}", 0, NULL },
        { "{\"a\":[1}", 0, NULL },
        { "{\"z\":[}", 1, "" },
        { "{\"a\":{]}", 0, NULL },
        { "{\"a\":\"x", 0, NULL },
        { "[]", 0, NULL },
        { "", 0, NULL },
};

static void test_cases(void **state)
{
        char got[256];

        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                char *r = reader(cases[i].rec, strlen(cases[i].rec), got, sizeof(got));
                if (!cases[i].decided) {
                        if (r)
                                fail_msg("%s: decided \"%s\"", cases[i].rec, r);
                        continue;
                }
                if (!r || strcmp(r, cases[i].crit) != 0)
                        fail_msg("%s: got %s, want %s", cases[i].rec, r ? r : "(none)",
                                 cases[i].crit);
        }
}

static void test_too_many(void **state)
{
        struct buf b = BUF_INIT;
        struct seal_span sp[SEAL_SCAN_CRITERIA_MAX];
        size_t n;

        buf_puts(&b, "{\"criteria\":[");
        for (int i = 0; i <= SEAL_SCAN_CRITERIA_MAX; i++)
                buf_printf(&b, "%s\"C%03d\"", i ? "," : "", i);
        buf_puts(&b, "]}");
        assert_int_equal(export_crit_scan(b.data, b.len, sp, SEAL_SCAN_CRITERIA_MAX, &n), 0);
        buf_free(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cases),
                cmocka_unit_test(test_too_many),
                cmocka_unit_test(test_random_canonical),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
