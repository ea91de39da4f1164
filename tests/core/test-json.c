/* Tests for core/json.c and core/json-canon.c: strict parsing, RFC 8785 canonical output
 * (including the RFC's own examples), lossy UTF-8 repair, and the tree API. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "core/json-internal.h" /* json_utf8_check, json_utf8_seq (issue 12 model test) */
#include "core/limits.h"
#include "tests/test-rng.h"

/* Canonical text of a tree, as a malloc'd string. */
static char *canon_of(const json *v)
{
        struct buf b = BUF_INIT;

        assert_int_equal(json_canon(v, &b), 0);
        return buf_steal(&b, NULL);
}

/* Fails round's check unless got and the model have the same canonical bytes. */
static void assert_same_canon(int round, const json *got, const json *model)
{
        char *cg = canon_of(got), *cm = canon_of(model);

        if (strcmp(cg, cm) != 0)
                fail_msg("round %d: %s, model %s", round, cg, cm);
        free(cg);
        free(cm);
}

static int parse_str(const char *s, json **ret, struct json_error *err)
{
        return json_parse(s, strlen(s), ret, err);
}

struct valid_case {
        const char *name, *input, *canon;
};

static const struct valid_case valid_cases[] = {
        { "null", "null", "null" },
        { "true with white space", " \t\r\ntrue\n", "true" },
        { "false", "false", "false" },
        { "zero", "0", "0" },
        { "negative zero int", "-0", "0" },
        { "negative zero double", "-0.0", "0" },
        { "int64 max", "9223372036854775807", "9223372036854775807" },
        { "int64 min", "-9223372036854775808", "-9223372036854775808" },
        { "past int64 max becomes double", "9223372036854775808", "9223372036854776000" },
        { "big integer (RFC 8785)", "123456789012345680000", "123456789012345680000" },
        { "1e21", "1e21", "1e+21" },
        { "1E-7", "1E-7", "1e-7" },
        { "0.000001", "0.000001", "0.000001" },
        { "1.5e3", "1.5e3", "1500" },
        { "1e2", "1e2", "100" },
        { "4.50", "4.50", "4.5" },
        { "2e-3", "2e-3", "0.002" },
        { "1E30", "1E30", "1e+30" },
        { "tiny", "0.000000000000000000000000001", "1e-27" },
        { "negative fraction", "-12.25", "-12.25" },
        { "string escapes kept minimal", "\"\\b\\f\\n\\r\\t\\\"\\\\\"", "\"\\b\\f\\n\\r\\t\\\"\\\\\"" },
        { "solidus unescaped", "\"\\/\"", "\"/\"" },
        { "u escape to UTF-8", "\"\\u00e9\\u20AC\"", "\"\xc3\xa9\xe2\x82\xac\"" },
        { "control as lowercase u escape", "\"\\u001F\"", "\"\\u001f\"" },
        { "DEL raw", "\"\\u007f\"", "\"\x7f\"" },
        { "surrogate pair", "\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"" },
        { "raw UTF-8", "\"\xf0\x9f\x98\x80\"", "\"\xf0\x9f\x98\x80\"" },
        { "empty containers", " [ ] ", "[]" },
        { "empty object", "{ }", "{}" },
        { "nested sorted", "{\"b\":1,\"a\":[1,{\"d\":2,\"c\":3}]}",
          "{\"a\":[1,{\"c\":3,\"d\":2}],\"b\":1}" },
        { "empty key", "{\"\":0,\"a\":{}}", "{\"\":0,\"a\":{}}" },
        { "RFC 8785 3.2.2 example",
          "{\n  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n"
          "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
          "  \"literals\": [null, true, false]\n}",
          "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
          "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}" },
        { "RFC 8785 3.2.3 sorting example",
          "{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\","
          "\"1\":\"One\",\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
          "\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
          "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
          "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\","
          "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
          "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}" },
};

static void test_parse_valid(void **state)
{
        for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
                const struct valid_case *c = &valid_cases[i];
                struct json_error err = { 0 };
                json *v = NULL, *again = NULL;
                char *out, *out2;
                int r = parse_str(c->input, &v, &err);

                if (r != 0)
                        fail_msg("case '%s': parse failed %d at %zu: %s", c->name, r, err.offset,
                                 err.msg);
                out = canon_of(v);
                if (strcmp(out, c->canon) != 0)
                        fail_msg("case '%s': got %s, want %s", c->name, out, c->canon);
                /* Canonical output parses back to the same canonical output. */
                if (parse_str(out, &again, NULL) != 0)
                        fail_msg("case '%s': canonical output does not parse", c->name);
                out2 = canon_of(again);
                if (strcmp(out, out2) != 0)
                        fail_msg("case '%s': not idempotent: %s", c->name, out2);
                free(out);
                free(out2);
                json_free(v);
                json_free(again);
        }
}

struct invalid_case {
        const char *name, *input;
        size_t len;       /* 0: strlen(input) */
        long offset;      /* expected error offset, -1: not checked */
};

static const struct invalid_case invalid_cases[] = {
        { "empty", "", 0, 0 },
        { "only white space", "  \n", 0, 3 },
        { "open object", "{", 0, -1 },
        { "open array", "[1,2", 0, -1 },
        { "trailing comma array", "[1,]", 0, 3 },
        { "trailing comma object", "{\"a\":1,}", 0, 7 },
        { "missing colon", "{\"a\" 1}", 0, 5 },
        { "non-string key", "{1:2}", 0, 1 },
        { "single quotes", "'a'", 0, 0 },
        { "leading zero", "01", 0, 1 },
        { "bare dot", ".5", 0, 0 },
        { "trailing dot", "1.", 0, 2 },
        { "plus sign", "+1", 0, 0 },
        { "empty exponent", "1e", 0, 2 },
        { "lone minus", "-", 0, 1 },
        { "NaN", "NaN", 0, 0 },
        { "Infinity", "Infinity", 0, 0 },
        { "out of range double", "1e400", 0, 0 },
        { "truncated literal", "tru", 0, 0 },
        { "wrong literal", "nul1", 0, 0 },
        { "missing comma", "[1 2]", 0, 3 },
        { "unterminated string", "\"abc", 0, -1 },
        { "raw tab in string", "\"a\tb\"", 0, 2 },
        { "raw newline in string", "\"a\nb\"", 0, 2 },
        { "bad escape", "\"\\x\"", 0, 1 },
        { "short u escape", "\"\\u12\"", 0, -1 },
        { "bad hex in u escape", "\"\\u12g4\"", 0, 5 },
        { "lone high surrogate", "\"\\ud800\"", 0, 1 },
        { "lone low surrogate", "\"\\udc00\"", 0, 1 },
        { "high surrogate then BMP escape", "\"\\ud800\\u0041\"", 0, 1 },
        { "high surrogate then text", "\"\\ud800xxxxxx\"", 0, 1 },
        { "two high surrogates", "\"\\ud800\\ud800\"", 0, 1 },
        { "u0000 refused", "\"\\u0000\"", 0, 1 },
        { "invalid UTF-8 byte", "\"a\xff\"", 0, 2 },
        { "UTF-8 surrogate", "\"\xed\xa0\x80\"", 0, 1 },
        { "overlong UTF-8", "\"\xc0\xaf\"", 0, 1 },
        { "truncated UTF-8", "\"\xe2\x82\"", 0, 1 },
        { "duplicate key", "{\"a\":1,\"a\":2}", 0, 0 },
        { "nested duplicate key", "{\"a\":1,\"b\":{\"c\":1,\"c\":1}}", 0, 11 },
        { "duplicate via escape", "{\"\\u0061\":1,\"a\":2}", 0, 0 },
        /* Objects up to 12 members are checked pair by pair, larger ones sorted. */
        { "duplicate key among 12", "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,"
          "\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"k\":11,\"k\":12}", 0, 0 },
        { "duplicate key among 13", "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,"
          "\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"k\":11,\"l\":12,\"a\":13}", 0, 0 },
        { "trailing garbage", "1 2", 0, 2 },
        { "trailing bracket", "[]]", 0, 2 },
        { "object then text", "{} x", 0, 3 },
        { "NUL after value", "1\0", 2, 1 },
        { "comment", "/* c */ 1", 0, 0 },
        { "raw NUL in string", "\"a\0\"", 4, 2 },
};

static void test_parse_invalid(void **state)
{
        for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
                const struct invalid_case *c = &invalid_cases[i];
                struct json_error err = { 0 };
                json *v = (json *)0x1; /* must stay untouched */
                size_t len = c->len ? c->len : strlen(c->input);
                int r = json_parse(c->input, len, &v, &err);

                if (r != -EBADMSG)
                        fail_msg("case '%s': got %d, want -EBADMSG", c->name, r);
                if (v != (json *)0x1)
                        fail_msg("case '%s': ret touched on failure", c->name);
                if (err.msg[0] == '\0')
                        fail_msg("case '%s': no error message", c->name);
                if (c->offset >= 0 && err.offset != (size_t)c->offset)
                        fail_msg("case '%s': error at %zu (%s), want %ld", c->name, err.offset,
                                 err.msg, c->offset);
        }
}

/* A string's plain runs are scanned eight bytes at a time (round 9): a byte that ends the
 * run ('"', '\\', a control, a non-ASCII lead) at every offset of a 24-byte string, so
 * that it falls in the first, a middle and the last word and in the byte tail. */
static void test_parse_string_runs(void **state)
{
        static const struct {
                const char *ins;        /* inserted at offset k of 24 'x' */
                int valid;              /* 1: parses; 0: -EBADMSG at 1 + k */
                const char *value;      /* the decoded insertion when valid */
        } kinds[] = {
                { "\\\"", 1, "\"" }, { "\\n", 1, "\n" }, { "\xc3\xa9", 1, "\xc3\xa9" },
                { "\xf0\x9f\x98\x80", 1, "\xf0\x9f\x98\x80" }, { "\x7f", 1, "\x7f" },
                { " ", 1, " " }, { "\x01", 0, NULL }, { "\x1f", 0, NULL }, { "\xff", 0, NULL },
                { "\xc3", 0, NULL }, { "\xed\xa0\x80", 0, NULL },
        };

        (void)state;
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                for (size_t k = 0; k <= 24; k++) {
                        char in[64], want[64];
                        struct json_error err = { 0 };
                        json *v = NULL;
                        size_t n = 0, w = 0;
                        int r;

                        in[n++] = '"';
                        for (size_t j = 0; j <= 24; j++) {
                                if (j == k) {
                                        n += (size_t)sprintf(in + n, "%s", kinds[i].ins);
                                        if (kinds[i].valid)
                                                w += (size_t)sprintf(want + w, "%s",
                                                                     kinds[i].value);
                                }
                                if (j < 24)
                                        in[n++] = want[w++] = 'x';
                        }
                        in[n++] = '"';
                        want[w] = '\0';
                        r = json_parse(in, n, &v, &err);
                        if (kinds[i].valid) {
                                if (r != 0 || strcmp(json_str(v, NULL), want) != 0)
                                        fail_msg("kind %zu at %zu: r %d", i, k, r);
                                json_free(v);
                        } else if (r != -EBADMSG || err.offset != 1 + k) {
                                fail_msg("kind %zu at %zu: r %d at %zu", i, k, r, err.offset);
                        }
                }
        }
}

static char *nested(size_t depth)
{
        char *s = malloc(2 * depth + 1);

        memset(s, '[', depth);
        memset(s + depth, ']', depth);
        s[2 * depth] = '\0';
        return s;
}

static void test_parse_depth(void **state)
{
        char *ok = nested(JSON_MAX_DEPTH), *deep = nested(JSON_MAX_DEPTH + 1);
        char *very = nested(100000);
        json *v = NULL;

        assert_int_equal(parse_str(ok, &v, NULL), 0);
        json_free(v);
        assert_int_equal(parse_str(deep, &v, NULL), -EBADMSG);
        /* Far past the cap: must fail cleanly, not overflow the stack. */
        assert_int_equal(parse_str(very, &v, NULL), -EBADMSG);
        free(ok);
        free(deep);
        free(very);
}

static void test_parse_types(void **state)
{
        static const struct {
                const char *name, *input;
                enum json_type type;
        } cases[] = {
                { "int", "1", JSON_INT },
                { "negative int", "-42", JSON_INT },
                { "fraction is a double", "1.0", JSON_NUM },
                { "exponent is a double", "1e0", JSON_NUM },
                { "too big int is a double", "92233720368547758070", JSON_NUM },
                { "too small int is a double", "-9223372036854775809", JSON_NUM },
                { "string", "\"x\"", JSON_STR },
                { "array", "[]", JSON_ARR },
                { "object", "{}", JSON_OBJ },
                { "bool", "false", JSON_BOOL },
                { "null", "null", JSON_NULL },
        };
        json *v;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                v = NULL;
                if (parse_str(cases[i].input, &v, NULL) != 0)
                        fail_msg("case '%s': parse failed", cases[i].name);
                if (json_type_of(v) != cases[i].type)
                        fail_msg("case '%s': type %d, want %d", cases[i].name, json_type_of(v),
                                 cases[i].type);
                json_free(v);
        }
        assert_int_equal(parse_str("-9223372036854775808", &v, NULL), 0);
        assert_true(json_int(v) == INT64_MIN);
        json_free(v);
        assert_int_equal(parse_str("1e300", &v, NULL), 0);
        assert_true(json_int(v) == INT64_MAX); /* clamped, not undefined */
        assert_true(json_num(v) == 1e300);
        json_free(v);
}

/* RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text. */
static const struct {
        uint64_t bits;
        const char *canon;
} number_cases[] = {
        { 0x0000000000000000, "0" },
        { 0x8000000000000000, "0" },
        { 0x0000000000000001, "5e-324" },
        { 0x8000000000000001, "-5e-324" },
        { 0x7fefffffffffffff, "1.7976931348623157e+308" },
        { 0xffefffffffffffff, "-1.7976931348623157e+308" },
        { 0x4340000000000000, "9007199254740992" },
        { 0xc340000000000000, "-9007199254740992" },
        { 0x4430000000000000, "295147905179352830000" },
        { 0x44b52d02c7e14af5, "9.999999999999997e+22" },
        { 0x44b52d02c7e14af6, "1e+23" },
        { 0x44b52d02c7e14af7, "1.0000000000000001e+23" },
        { 0x444b1ae4d6e2ef4e, "999999999999999700000" },
        { 0x444b1ae4d6e2ef4f, "999999999999999900000" },
        { 0x444b1ae4d6e2ef50, "1e+21" },
        { 0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7" },
        { 0x3eb0c6f7a0b5ed8d, "0.000001" },
        { 0x41b3de4355555553, "333333333.3333332" },
        { 0x41b3de4355555554, "333333333.33333325" },
        { 0x41b3de4355555555, "333333333.3333333" },
        { 0x41b3de4355555556, "333333333.3333334" },
        { 0x41b3de4355555557, "333333333.33333343" },
        { 0xbecbf647612f3696, "-0.0000033333333333333333" },
        /* Subnormal and tiny values from the same test suite. */
        { 0x0000000100000000, "2.121995791e-314" },
        { 0x1000000100000000, "1.2882309824710566e-231" },
        { 0x1000000100000001, "1.288230982471057e-231" },
        { 0x43143ff3c1cb0959, "1424953923781206.2" },
};

static void test_canon_numbers(void **state)
{
        for (size_t i = 0; i < sizeof(number_cases) / sizeof(number_cases[0]); i++) {
                double d;
                json *v;
                char *out;

                memcpy(&d, &number_cases[i].bits, sizeof(d));
                v = json_new_num(d);
                assert_non_null(v);
                out = canon_of(v);
                if (strcmp(out, number_cases[i].canon) != 0)
                        fail_msg("case 0x%016llx: got %s, want %s",
                                 (unsigned long long)number_cases[i].bits, out,
                                 number_cases[i].canon);
                free(out);
                json_free(v);
        }
        assert_null(json_new_num(NAN));
        assert_null(json_new_num(INFINITY));
        assert_null(json_new_num(-INFINITY));
}

/* Random doubles: the canonical text must read back as the same double, be no longer than
 * needed (dropping the last significant digit must not round-trip), and re-parse. */
static void test_canon_numbers_random(void **state)
{
        uint64_t x = 0x9e3779b97f4a7c15u;

        for (int i = 0; i < 20000; i++) {
                uint64_t bits;
                double d;
                json *v, *back = NULL;
                char *out;

                bits = test_rng_next(&x);
                memcpy(&d, &bits, sizeof(d));
                if (!isfinite(d))
                        continue;
                v = json_new_num(d);
                out = canon_of(v);
                if (strtod(out, NULL) != d)
                        fail_msg("0x%016llx: %s does not round-trip", (unsigned long long)bits, out);
                if (parse_str(out, &back, NULL) != 0 || json_num(back) != d)
                        fail_msg("0x%016llx: %s does not re-parse", (unsigned long long)bits, out);
                if (strchr(out, 'E') || strstr(out, "e+0") || strstr(out, "e-0") ||
                    strstr(out, ".e") || (strchr(out, '.') && !strchr(out, 'e') &&
                                          out[strlen(out) - 1] == '0'))
                        fail_msg("0x%016llx: %s not in ECMAScript form", (unsigned long long)bits,
                                 out);
                json_free(back);
                json_free(v);
                free(out);
        }
}

struct lossy_case {
        const char *name, *input;
        size_t len;
        const char *expected;
        size_t replaced;
};

#define R "\xef\xbf\xbd"
static const struct lossy_case lossy_cases[] = {
        { "ascii", "abc", 3, "abc", 0 },
        { "valid multibyte", "\xe2\x82\xac\xf0\x9f\x98\x80", 7, "\xe2\x82\xac\xf0\x9f\x98\x80", 0 },
        { "lone continuation", "\x80", 1, R, 1 },
        { "overlong two bytes", "\xc0\xaf", 2, R R, 2 },
        { "overlong three bytes", "\xe0\x80\xaf", 3, R R R, 3 },
        { "UTF-8 surrogate", "\xed\xa0\x80", 3, R R R, 3 },
        { "past U+10FFFF", "\xf4\x90\x80\x80", 4, R R R R, 4 },
        { "F5 lead", "\xf5", 1, R, 1 },
        { "FF FE", "\xff\xfe", 2, R R, 2 },
        { "truncated at end", "\xe2\x82", 2, R, 1 },
        { "truncated before ASCII", "\xe2\x82" "A", 3, R "A", 1 },
        { "truncated four-byte", "\xf0\x9f\x98x", 4, R "x", 1 },
        { "NUL", "a\0b", 3, "a" R "b", 1 },
        { "Unicode Table 3-8", "\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64", 13,
          "a" R R R "b" R "c" R R "d", 6 },
        { "empty", "", 0, "", 0 },
};
#undef R

static void test_lossy(void **state)
{
        for (size_t i = 0; i < sizeof(lossy_cases) / sizeof(lossy_cases[0]); i++) {
                const struct lossy_case *c = &lossy_cases[i];
                size_t replaced = 999, n;
                json *v = json_new_str_lossy(c->input, c->len, &replaced);
                const char *s = json_str(v, &n);

                if (!s)
                        fail_msg("case '%s': NULL", c->name);
                if (n != strlen(c->expected) || memcmp(s, c->expected, n) != 0)
                        fail_msg("case '%s': wrong bytes (%zu long)", c->name, n);
                if (replaced != c->replaced)
                        fail_msg("case '%s': %zu replacements, want %zu", c->name, replaced,
                                 c->replaced);
                if (!json_utf8_valid(s, n))
                        fail_msg("case '%s': output not valid UTF-8", c->name);
                json_free(v);
        }
}

static void test_strict_constructors(void **state)
{
        json *o = json_new_obj();

        assert_null(json_new_strn("a\xff", 2));
        assert_null(json_new_strn("a\0b", 3));
        assert_null(json_new_str("\xed\xa0\x80"));
        assert_non_null(o);
        assert_int_equal(json_obj_set(o, "\xff", json_new_int(1)), -EINVAL);
        assert_int_equal(json_obj_set_str(o, "k", "\xc0\xaf"), -EINVAL);
        assert_int_equal(json_len(o), 0);
        json_free(o);
        json_free(NULL);
}

static void test_key_cmp(void **state)
{
        static const struct {
                const char *name, *a, *b;
                int sign;
        } cases[] = {
                { "equal", "abc", "abc", 0 },
                { "prefix first", "ab", "abc", -1 },
                { "ascii order", "b", "a", 1 },
                { "empty first", "", "a", -1 },
                { "BMP above surrogates sorts after emoji", "\xef\xac\xb3", "\xf0\x9f\x98\x80", 1 },
                { "U+E000 after U+10000", "\xee\x80\x80", "\xf0\x90\x80\x80", 1 },
                { "U+D7FF before U+10000", "\xed\x9f\xbf", "\xf0\x90\x80\x80", -1 },
                { "two supplementary", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x81", -1 },
                { "euro after o umlaut", "\xe2\x82\xac", "\xc3\xb6", 1 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int r = json_key_cmp(cases[i].a, strlen(cases[i].a), cases[i].b,
                                     strlen(cases[i].b));
                int s = (r > 0) - (r < 0);

                if (s != cases[i].sign)
                        fail_msg("case '%s': got %d, want %d", cases[i].name, s, cases[i].sign);
                r = json_key_cmp(cases[i].b, strlen(cases[i].b), cases[i].a, strlen(cases[i].a));
                if ((r > 0) - (r < 0) != -cases[i].sign)
                        fail_msg("case '%s': not antisymmetric", cases[i].name);
        }
}

/* Performance (issue 12): json_key_cmp compares bytes first and decodes only at a
 * non-ASCII difference; json_utf8_check skips eight ASCII bytes at a time. Both are checked
 * here against naive models on random strings built from pieces that straddle every case
 * (shared prefixes, ASCII against multi-byte, BMP above the surrogates against
 * supplementary code points, NUL and invalid bytes at every offset). */
static size_t model_units(const char *s, size_t n, unsigned *u)
{
        size_t k = 0;

        for (size_t i = 0; i < n;) {
                const unsigned char *c = (const unsigned char *)s + i;
                unsigned cp;
                size_t len = c[0] < 0x80 ? 1 : c[0] < 0xe0 ? 2 : c[0] < 0xf0 ? 3 : 4;

                cp = len == 1 ? c[0] : (unsigned)(c[0] & (0x7f >> len));
                for (size_t j = 1; j < len; j++)
                        cp = cp << 6 | (c[j] & 0x3f);
                if (cp >= 0x10000) {
                        u[k++] = 0xd800 + ((cp - 0x10000) >> 10);
                        u[k++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
                } else {
                        u[k++] = cp;
                }
                i += len;
        }
        return k;
}

static int model_key_cmp(const char *a, size_t na, const char *b, size_t nb)
{
        unsigned ua[256], ub[256];
        size_t ka = model_units(a, na, ua), kb = model_units(b, nb, ub);

        for (size_t i = 0; i < ka && i < kb; i++)
                if (ua[i] != ub[i])
                        return ua[i] < ub[i] ? -1 : 1;
        return ka == kb ? 0 : ka < kb ? -1 : 1;
}

static size_t model_utf8_check(const char *s, size_t n)
{
        for (size_t i = 0; i < n;) {
                size_t bad, k = json_utf8_seq((const unsigned char *)s + i, n - i, &bad);

                if (k == 0)
                        return i;
                i += k;
        }
        return n;
}

static void test_key_cmp_model(void **state)
{
        static const char *const pieces[] = { "a", "b", "z", "seq", "~", "\xc3\xa9",
                                              "\xef\xac\xb3", "\xee\x80\x80",
                                              "\xf0\x9f\x98\x80", "\xf0\x90\x80\x80",
                                              "\xed\x9f\xbf", "abcdefgh" };
        unsigned seed = 12;

        for (int t = 0; t < 20000; t++) {
                char a[64] = "", b[64] = "";
                int na = (int)(rand_r(&seed) % 5), nb = (int)(rand_r(&seed) % 5);
                int shared = (int)(rand_r(&seed) % 3);

                for (int i = 0; i < shared; i++) {
                        const char *p = pieces[rand_r(&seed) % 12];
                        strcat(a, p);
                        strcat(b, p);
                }
                for (int i = 0; i < na; i++)
                        strcat(a, pieces[rand_r(&seed) % 12]);
                for (int i = 0; i < nb; i++)
                        strcat(b, pieces[rand_r(&seed) % 12]);
                int r = json_key_cmp(a, strlen(a), b, strlen(b));
                int m = model_key_cmp(a, strlen(a), b, strlen(b));
                int f = json_key_cmp_fast(a, strlen(a), b, strlen(b));

                if ((r > 0) - (r < 0) != m)
                        fail_msg("json_key_cmp(\"%s\", \"%s\") = %d, model %d", a, b, r, m);
                /* The inline compare (issue 12) orders as the model too. */
                if ((f > 0) - (f < 0) != m)
                        fail_msg("json_key_cmp_fast(\"%s\", \"%s\") = %d, model %d", a, b, f,
                                 m);
        }
        for (int t = 0; t < 20000; t++) {
                char s[40];
                size_t n = (size_t)(rand_r(&seed) % sizeof(s));

                for (size_t i = 0; i < n; i++)
                        s[i] = (char)('a' + rand_r(&seed) % 26);
                if (n && rand_r(&seed) % 2) /* one odd byte anywhere: NUL, invalid, lead */
                        s[rand_r(&seed) % n] = "\x00\xff\xc3\x80\x7f"[rand_r(&seed) % 5];
                if (json_utf8_check(s, n) != model_utf8_check(s, n))
                        fail_msg("json_utf8_check: %zu, model %zu (n=%zu)",
                                 json_utf8_check(s, n), model_utf8_check(s, n), n);
        }
        /* json_canon_str scans eight bytes at a time: escapes at every offset. */
        static const char *const bytes[] = { "a", "\"", "\\", "\n", "\x01", "\x1f", "\x7f",
                                             " ", "\xc3\xa9", "~", "!", "#", "[", "]" };
        struct buf got = BUF_INIT, want = BUF_INIT;
        for (int t = 0; t < 20000; t++) {
                char s[128] = "";
                int k = (int)(rand_r(&seed) % 40);

                for (int i = 0; i < k; i++)
                        strcat(s, bytes[rand_r(&seed) % 14]);
                buf_reset(&got);
                buf_reset(&want);
                assert_int_equal(json_canon_str(&got, s, strlen(s)), 0);
                buf_putc(&want, '"');
                for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
                        if (*c == '"' || *c == '\\')
                                buf_printf(&want, "\\%c", *c);
                        else if (*c == '\n')
                                buf_puts(&want, "\\n");
                        else if (*c < 0x20)
                                buf_printf(&want, "\\u%04x", *c);
                        else
                                buf_putc(&want, (char)*c);
                }
                buf_putc(&want, '"');
                if (strcmp(got.data, want.data) != 0)
                        fail_msg("json_canon_str: got %s want %s", got.data, want.data);
        }
        buf_free(&got);
        buf_free(&want);
}

static void test_canon_str(void **state)
{
        static const struct {
                const char *name, *in, *out;
        } cases[] = {
                { "plain", "abc", "\"abc\"" },
                { "controls", "\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"" },
                { "short escapes", "\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"" },
                { "quote and backslash", "\"\\", "\"\\\"\\\\\"" },
                { "solidus and non-ASCII raw", "/\xc3\xa9", "\"/\xc3\xa9\"" },
        };
        struct buf b = BUF_INIT;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                buf_reset(&b);
                assert_int_equal(json_canon_str(&b, cases[i].in, strlen(cases[i].in)), 0);
                if (strcmp(b.data, cases[i].out) != 0)
                        fail_msg("case '%s': got %s want %s", cases[i].name, b.data, cases[i].out);
        }
        buf_reset(&b);
        assert_int_equal(json_canon_str(&b, "\xff", 1), -EINVAL);
        buf_free(&b);
}

static void test_canon_cap(void **state)
{
        struct buf b = BUF_INIT;
        json *a = json_new_arr();

        for (int i = 0; i < 100; i++)
                assert_int_equal(json_arr_append(a, json_new_str("0123456789")), 0);
        b.max = 64;
        assert_int_equal(buf_puts(&b, "keep"), 0);
        assert_int_equal(json_canon(a, &b), -E2BIG);
        /* A failed serialisation leaves the buffer as it was. */
        assert_int_equal(b.len, 4);
        assert_string_equal(b.data, "keep");
        buf_free(&b);
        json_free(a);
}

/* prestore7: the writer keeps its position and limit as pointers. Under every cap from
 * nothing to past the whole text, on an empty buffer and after a prefix, json_canon and
 * json_canon_with_int either write exactly the uncapped bytes or fail with -E2BIG and leave
 * the buffer as it was; on sorted trees (parsed) and unsorted ones (built out of order),
 * with escapes, nulls, numbers, arrays, nested objects, "seq" absent and present. */
static void expect_capped(const json *t, bool with_int)
{
        struct buf full = BUF_INIT;
        size_t off = 0;

        assert_int_equal(with_int ? json_canon_with_int(t, "seq", -42, &full, &off)
                                  : json_canon(t, &full), 0);
        for (int pre = 0; pre < 2; pre++)
                for (size_t cap = pre ? 3 : 1; cap <= full.len + (pre ? 3 : 0) + 2; cap++) {
                        struct buf b = BUF_INIT;
                        size_t p = pre ? 3 : 0, o2 = 7;
                        int r;

                        b.max = cap;
                        if (pre)
                                assert_int_equal(buf_puts(&b, "pre"), 0);
                        r = with_int ? json_canon_with_int(t, "seq", -42, &b, &o2)
                                     : json_canon(t, &b);
                        if (p + full.len <= cap) {
                                assert_int_equal(r, 0);
                                assert_int_equal(b.len, p + full.len);
                                assert_memory_equal(b.data + p, full.data, full.len);
                                assert_int_equal(b.data[b.len], '\0');
                                if (with_int)
                                        assert_int_equal(o2, off + p);
                        } else {
                                assert_int_equal(r, -E2BIG);
                                assert_int_equal(b.len, p);
                                if (pre)
                                        assert_string_equal(b.data, "pre");
                                if (with_int)
                                        assert_int_equal(o2, 7); /* untouched on failure */
                        }
                        buf_free(&b);
                }
        buf_free(&full);
}

static void test_canon_cap_every(void **state)
{
        static const char *const texts[] = {
                "{\"action\":null,\"app\":\"sshd\",\"criteria\":[\"CC6.1\",\"CC6.6\"],"
                "\"message\":\"Accepted \\\"x\\\" for \\u0001 alice from 10.1.2.3 port 22\","
                "\"pid\":4242,\"rate\":0.5,\"raw\":null,\"sd\":{},\"source\":{\"kind\":\"syslog\"},"
                "\"t\":true,\"time\":\"2024-06-15T12:00:01.123456Z\",\"x\\\"y\":\"z\"}",
                "{\"seq\":\"old\",\"a\":1,\"zz\":[1,{\"b\":\"\\n\"}],\"\u00e9\":\"\u00e9t\u00e9\"}",
                "{}",
        };

        (void)state;
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                json *sorted = NULL, *unsorted = json_new_obj();
                size_t n;

                assert_int_equal(parse_str(texts[i], &sorted, NULL), 0);
                /* The same members set last to first: no sorted mark. */
                n = json_len(sorted);
                for (size_t k = n; k-- > 0;) {
                        const char *key;
                        json *v = json_obj_at(sorted, k, &key, NULL);

                        assert_int_equal(json_obj_set(unsorted, key, json_clone(v)), 0);
                }
                expect_capped(sorted, false);
                expect_capped(sorted, true);
                expect_capped(unsorted, false);
                expect_capped(unsorted, true);
                json_free(sorted);
                json_free(unsorted);
        }
}

/* ---- Arena-backed trees (issue 12) ---- */

/* A value added to a tree stays usable through the pointer the caller kept; values built in
 * a tree's arena, replaced values, big strings and constants all behave; ASan and Valgrind
 * see every byte freed by json_free of the root. */
static void test_arena(void **state)
{
        json *rec = json_new_obj(), *sub = json_new_obj(), *arr, *v, *other;
        char big[5000];
        char *s;

        /* Adopted: the pointer kept after the add is the member. */
        assert_int_equal(json_obj_set(rec, "sub", sub), 0);
        assert_int_equal(json_obj_set_str(sub, "x", "y"), 0);
        assert_ptr_equal(json_obj_get(rec, "sub"), sub);
        json_free(sub); /* a member now: does nothing */
        /* Built in the tree's arena. */
        arr = json_new_arr_in(rec);
        assert_non_null(arr);
        assert_int_equal(json_arr_append(arr, json_new_strn_in(rec, "a", 1)), 0);
        assert_int_equal(json_arr_append(arr, json_new_int_in(rec, -5)), 0);
        assert_int_equal(json_arr_append(arr, json_new_str_lossy_in(rec, "b\xff", 2, NULL)), 0);
        assert_int_equal(json_arr_append(arr, json_new_obj_in(rec)), 0);
        assert_int_equal(json_obj_set(rec, "arr", arr), 0);
        assert_null(json_new_strn_in(rec, "\xff", 1));
        /* Counters and strings no longer than before are overwritten in place, so that a
         * long-lived object does not grow; other replacements only waste arena space. */
        for (int i = 0; i < 1000; i++)
                assert_int_equal(json_obj_set_int(rec, "n", i), 0);
        v = json_obj_get(rec, "n");
        assert_int_equal(json_obj_set_int(rec, "n", 999), 0);
        assert_ptr_equal(json_obj_get(rec, "n"), v);
        assert_int_equal(json_obj_set_str(rec, "s", "longer"), 0);
        v = json_obj_get(rec, "s");
        assert_int_equal(json_obj_set_str(rec, "s", "short"), 0);
        assert_ptr_equal(json_obj_get(rec, "s"), v);
        assert_string_equal(json_str(v, NULL), "short");
        assert_int_equal(json_obj_set_str(rec, "s", "much longer"), 0);
        assert_string_equal(json_str(json_obj_get(rec, "s"), NULL), "much longer");
        assert_int_equal(json_obj_set(rec, "s", json_new_int(1)), 0);
        assert_int_equal(json_obj_set_str(rec, "s", "x"), 0);
        assert_int_equal(json_obj_del(rec, "s"), 1);
        for (int i = 0; i < 1000; i++)
                assert_int_equal(json_obj_set(rec, "w", json_new_str("wasted")), 0);
        /* A string bigger than a chunk gets a block of its own. */
        memset(big, 'q', sizeof(big));
        assert_int_equal(json_obj_set(rec, "big", json_new_strn_in(rec, big, sizeof(big))), 0);
        assert_int_equal(json_obj_set(rec, "c", json_new_strn_in(rec, "after", 5)), 0);
        /* A node of another tree is copied, the other tree keeps its own. */
        other = json_new_obj();
        assert_int_equal(json_obj_set_str(other, "k", "v"), 0);
        assert_int_equal(json_obj_set(rec, "o", json_new_obj_in(other)), 0);
        v = json_obj_get(other, "k");
        assert_int_equal(json_obj_set(rec, "k", v), 0);
        assert_ptr_not_equal(json_obj_get(rec, "k"), v);
        json_free(other);
        assert_string_equal(json_str(json_obj_get(rec, "k"), NULL), "v");
        /* Constants are shared and never freed. */
        assert_ptr_equal(json_new_null(), json_new_null());
        json_free(json_new_bool(true));
        assert_true(json_bool(json_new_bool(true)));
        assert_int_equal(json_obj_del(rec, "big"), 1);
        s = canon_of(rec);
        assert_string_equal(s, "{\"arr\":[\"a\",-5,\"b\xef\xbf\xbd\",{}],\"c\":\"after\","
                               "\"k\":\"v\",\"n\":999,\"o\":{},\"sub\":{\"x\":\"y\"},"
                               "\"w\":\"wasted\"}");
        free(s);
        json_free(rec);
        /* A standalone scalar has no arena: the _in constructors then make standalone
         * values, which adding adopts. */
        v = json_new_int(1);
        other = json_new_strn_in(v, "x", 1);
        json_free(v);
        rec = json_new_obj_reserve(64);
        assert_int_equal(json_obj_reserve(rec, 40), 0);
        assert_int_equal(json_arena_reserve(rec, 10000), 0);
        assert_int_equal(json_obj_add(rec, "x", other), 0);
        assert_int_equal(json_obj_add_static(rec, "y", json_new_num(0.5)), 0);
        assert_int_equal(json_obj_add(rec, "\xff", json_new_null()), -EINVAL);
        assert_int_equal(json_obj_reserve(json_obj_get(rec, "x"), 4), -EINVAL);
        s = canon_of(rec);
        assert_string_equal(s, "{\"x\":\"x\",\"y\":0.5}");
        free(s);
        json_free(rec);
}

/* Serialisation does not depend on the order members were added in (objects built in key
 * order skip the sort, others are sorted): every permutation of a member set gives the
 * same bytes, and so does parsing those bytes. Duplicate keys are refused whether or not
 * the text was in key order. */
/* json_parse_in (issue 12): the same tree as json_parse, built in another tree's arena;
 * a failed parse leaves the host tree whole and usable. */
static void test_parse_in(void **state)
{
        static const char *const docs[] = {
                "{\"b\":[1,2.5,\"x\\u00e9\",{\"z\":null,\"a\":true}],\"a\":\"\\ud83d\\ude00\"}",
                "[1,{\"k\":\"v\"},[],{}]",
                "\"just a string\"",
                "-12",
                "{}",
        };
        static const char *const bad[] = { "{\"a\":1,\"a\":2}", "{\"a\":[1,2", "{\"a\":1} x",
                                           "[\"\\u0000\"]" };
        (void)state;
        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
                json *host = json_new_obj_reserve(64), *v = NULL, *ref = NULL;
                char *want, *got;

                assert_non_null(host);
                assert_int_equal(json_obj_set_str(host, "before", "kept"), 0);
                assert_int_equal(json_parse_in(host, docs[i], strlen(docs[i]), &v, NULL), 0);
                assert_int_equal(parse_str(docs[i], &ref, NULL), 0);
                assert_int_equal(json_obj_set(host, "doc", v), 0);
                want = canon_of(ref);
                got = canon_of(json_obj_get(host, "doc"));
                assert_string_equal(got, want);
                free(want);
                free(got);
                json_free(ref);
                json_free(host);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json *host = json_new_obj(), *v = NULL;
                struct json_error e1 = { 0 }, e2 = { 0 };
                char *got;

                assert_int_equal(json_obj_set_str(host, "k", "v"), 0);
                assert_int_equal(json_parse_in(host, bad[i], strlen(bad[i]), &v, &e1), -EBADMSG);
                assert_null(v);
                assert_int_equal(parse_str(bad[i], &v, &e2), -EBADMSG);
                assert_int_equal(e1.offset, e2.offset);
                assert_string_equal(e1.msg, e2.msg);
                assert_int_equal(json_obj_set_str(host, "after", "ok"), 0);
                got = canon_of(host);
                assert_string_equal(got, "{\"after\":\"ok\",\"k\":\"v\"}");
                free(got);
                json_free(host);
        }
        {
                json *v = NULL, *scalar = json_new_int(1);

                assert_int_equal(json_parse_in(NULL, "1", 1, &v, NULL), -EINVAL);
                assert_int_equal(json_parse_in(scalar, "1", 1, &v, NULL), -EINVAL);
                json_free(scalar);
        }
}

static void test_member_order(void **state)
{
        static const char *const keys[] = { "time", "a", "\xc3\xa9", "seq", "b", "aa",
                                            "\xf0\x9f\x98\x80", "\xef\xbd\xa1", "z", "" };
        const size_t nk = sizeof(keys) / sizeof(keys[0]);
        char *want = NULL;
        unsigned seed = 12;

        for (int round = 0; round < 200; round++) {
                size_t perm[sizeof(keys) / sizeof(keys[0])];
                json *o = json_new_obj(), *back = NULL;
                char *got, *again;

                for (size_t i = 0; i < nk; i++)
                        perm[i] = i;
                for (size_t i = nk - 1; round > 0 && i > 0; i--) {
                        size_t j = test_rng_lcg(&seed) % (i + 1), t = perm[i];
                        perm[i] = perm[j];
                        perm[j] = t;
                }
                for (size_t i = 0; i < nk; i++)
                        assert_int_equal(json_obj_set_int(o, keys[perm[i]], (int64_t)perm[i]), 0);
                got = canon_of(o);
                if (!want)
                        want = strdup(got);
                else if (strcmp(got, want) != 0)
                        fail_msg("round %d: %s != %s", round, got, want);
                assert_int_equal(parse_str(got, &back, NULL), 0);
                again = canon_of(back);
                assert_string_equal(again, want);
                free(again);
                free(got);
                json_free(back);
                json_free(o);
        }
        assert_string_equal(want, "{\"\":9,\"a\":1,\"aa\":5,\"b\":4,\"seq\":3,\"time\":0,\"z\":8,"
                                  "\"\xc3\xa9\":2,\"\xf0\x9f\x98\x80\":6,\"\xef\xbd\xa1\":7}");
        free(want);
        {
                json *v = NULL;
                struct json_error err;

                assert_int_equal(parse_str("{\"a\":1,\"b\":2,\"a\":3}", &v, &err), -EBADMSG);
                assert_int_equal(parse_str("{\"b\":1,\"a\":2,\"b\":3}", &v, &err), -EBADMSG);
                assert_int_equal(parse_str("{\"a\":1,\"a\":1}", &v, &err), -EBADMSG);
                assert_null(v);
        }
}

/* json_obj_fill_sorted (the known-order builder, issue 12) against the general path as the
 * model: random sorted key tables (non-ASCII keys whose RFC 8785 order differs from byte
 * order among them) with random values (constants, integers, strings and objects in the
 * tree's arena, standalone roots to adopt, nested objects filled the same way), appended to
 * an empty object or after a first member that sorts before or after the table's first key;
 * the model sets the same members one by one in a random order. The canonical bytes must be
 * equal, so a "sorted" mark left on an object that is not in order fails here. The table
 * checker bites on an unsorted, duplicated or escaped key. */
static unsigned fs_rnd(unsigned *s)
{
        return test_rng_lcg(s) >> 8;
}

static int fs_key_cmp(const void *a, const void *b)
{
        const struct json_key *x = a, *y = b;

        return json_key_cmp(x->key, x->len, y->key, y->len);
}

/* Value number v of round seed: built in tree (when not NULL and the kind says so) or
 * standalone; nested objects at depth 0 only. */
static json *fs_value(json *tree, unsigned v, int depth, bool filled);

static const char *const fs_pool[] = {
        "", "a", "aa", "action", "b", "raw", "raw_b64", "raw_sha256", "received", "rule",
        "seq", "time", "z", "\xc3\xa9", "\xef\xbd\xa1", "\xf0\x9f\x98\x80", "\x7f", "~",
};
#define FS_POOL_N (sizeof(fs_pool) / sizeof(fs_pool[0]))

/* An object of the keys picked by mask (sorted), values from seed: by json_obj_fill_sorted
 * when filled, else by json_obj_set in a shuffled order. prefix (a pool index or -1) is
 * set first either way. */
static json *fs_object(json *tree, unsigned mask, unsigned seed, int prefix, int depth,
                       bool filled)
{
        struct json_key keys[FS_POOL_N];
        json *vals[FS_POOL_N];
        size_t n = 0, perm[FS_POOL_N];
        json *o = tree ? json_new_obj_in(tree) : json_new_obj();
        unsigned s = seed;

        assert_non_null(o);
        if (prefix >= 0)
                assert_int_equal(json_obj_set(o, fs_pool[prefix], json_new_int(-1)), 0);
        for (size_t i = 0; i < FS_POOL_N; i++) {
                if ((mask >> i & 1) && (int)i != prefix)
                        keys[n++] = (struct json_key){ fs_pool[i], (uint32_t)strlen(fs_pool[i]) };
        }
        qsort(keys, n, sizeof(keys[0]), fs_key_cmp);
        assert_true(json_keys_sorted(keys, n));
        for (size_t i = 0; i < n; i++)
                vals[i] = fs_value(filled ? o : NULL, fs_rnd(&s), depth, filled);
        if (filled) {
                assert_int_equal(json_obj_fill_sorted(o, keys, vals, n), 0);
                return o;
        }
        for (size_t i = 0; i < n; i++)
                perm[i] = i;
        for (size_t i = n; i > 1; i--) {
                size_t j = fs_rnd(&s) % i, t = perm[i - 1];

                perm[i - 1] = perm[j];
                perm[j] = t;
        }
        for (size_t i = 0; i < n; i++)
                assert_int_equal(json_obj_set(o, keys[perm[i]].key, vals[perm[i]]), 0);
        return o;
}

static json *fs_value(json *tree, unsigned v, int depth, bool filled)
{
        char text[32];

        snprintf(text, sizeof(text), "v%u\xc3\xa9\"", v % 1000);
        switch (v % 7) {
        case 0:
                return json_new_null();
        case 1:
                return json_new_bool(v & 8);
        case 2:
                return tree ? json_new_int_in(tree, (int64_t)v - 5000000) : json_new_int((int64_t)v - 5000000);
        case 3:
                return tree ? json_new_strn_in(tree, text, strlen(text)) : json_new_str(text);
        case 4: /* a standalone root, adopted by the tree */
                return json_new_str(text);
        default:
                if (depth > 0)
                        return json_new_int(v);
                return fs_object(tree, v >> 3, v, v % 5 == 0 ? (int)(v % FS_POOL_N) : -1,
                                 depth + 1, filled);
        }
}

static void test_fill_sorted_model(void **state)
{
        unsigned seed = 2026;

        for (int round = 0; round < 3000; round++) {
                unsigned mask = fs_rnd(&seed) & ((1u << FS_POOL_N) - 1), s = fs_rnd(&seed);
                int prefix = round % 3 == 0 ? (int)(fs_rnd(&seed) % FS_POOL_N) : -1;
                json *a = fs_object(NULL, mask, s, prefix, 0, true);
                json *b = fs_object(NULL, mask, s, prefix, 0, false);

                assert_same_canon(round, a, b);
                json_free(a);
                json_free(b);
        }
        {
                static const struct json_key bad_order[] = { JSON_KEY("b"), JSON_KEY("a") };
                static const struct json_key dup[] = { JSON_KEY("a"), JSON_KEY("a") };
                static const struct json_key esc[] = { JSON_KEY("a"), JSON_KEY("b\"") };
                static const struct json_key utf16[] = { JSON_KEY("\xef\xbd\xa1"),
                                                         JSON_KEY("\xf0\x9f\x98\x80") };
                json *o = json_new_obj();
                json *v[2] = { json_new_int(1), NULL };

                assert_false(json_keys_sorted(bad_order, 2));
                assert_false(json_keys_sorted(dup, 2));
                assert_false(json_keys_sorted(esc, 2));
                assert_false(json_keys_sorted(utf16, 2)); /* byte order, not RFC 8785's */
                assert_true(json_keys_sorted(utf16 + 1, 1));
                /* A value that failed to build: nothing appended, the others freed. */
                assert_int_equal(json_obj_fill_sorted(o, dup, v, 2), -ENOMEM);
                assert_int_equal(json_len(o), 0);
                json_free(o);
        }
        /* A NULL at every place of fills of every length, after values of every kind (roots
         * of their own, built in the object's arena, constants, nodes of another tree):
         * nothing appended, the object as it was, every value freed (ASan's leak check),
         * whether the NULL comes first or after values were placed (mapper11: the NULL is
         * met by the fill itself). */
        for (size_t n = 1; n <= FS_POOL_N; n++) {
                for (size_t at = 0; at < n; at++) {
                        static const struct json_key pre[] = { JSON_KEY("0") };
                        struct json_key keys[FS_POOL_N];
                        json *o = json_new_obj_reserve(512), *other = json_new_obj(),
                             *vals[FS_POOL_N];
                        char *before, *after;

                        assert_non_null(o);
                        assert_non_null(other);
                        assert_int_equal(json_obj_set_str(other, "x", "other tree"), 0);
                        assert_int_equal(json_obj_fill_sorted(o, pre,
                                                              (json *[]){ json_new_int(7) }, 1),
                                         0);
                        before = canon_of(o);
                        for (size_t i = 0; i < n; i++) {
                                keys[i] = (struct json_key){ fs_pool[i], (uint32_t)strlen(fs_pool[i]) };
                                if (i == at) {
                                        vals[i] = NULL; /* its builder failed */
                                        continue;
                                }
                                switch ((i + at) % 4) {
                                case 0: vals[i] = json_new_str("root"); break;
                                case 1: vals[i] = json_new_strn_in(o, "in arena", 8); break;
                                case 2: vals[i] = json_new_null(); break;
                                default: vals[i] = json_obj_get(other, "x"); break;
                                }
                        }
                        qsort(keys, n, sizeof(keys[0]), fs_key_cmp); /* the table's promise */
                        assert_int_equal(json_obj_fill_sorted(o, keys, vals, n), -ENOMEM);
                        after = canon_of(o);
                        assert_string_equal(before, after);
                        assert_int_equal(json_len(o), 1);
                        free(before);
                        free(after);
                        json_free(o);
                        json_free(other);
                }
        }
}

/* json_new_arr_strs_in (mapper11) against appends one at a time: 0-12 strings of 0-40
 * bytes (empty, multi-byte, escapes), in a tree's arena or standalone, set into an object,
 * then appended to (the grow path from an array sized exactly): canonical bytes equal. */
static void test_arr_strs_model(void **state)
{
        static const char *const pool[] = { "", "CC6.1", "\xc3\xa9t\xc3\xa9", "q\"uote\\",
                                            "0123456789012345678901234567890123456789",
                                            "\xf0\x9f\x98\x80", "a" };
        unsigned seed = 4242;

        (void)state;
        for (int round = 0; round < 3000; round++) {
                struct json_key items[12];
                size_t n = (size_t)(fs_rnd(&seed) % 13);
                bool in_tree = round % 4 != 0;
                json *a = in_tree ? json_new_obj_reserve((size_t)(fs_rnd(&seed) % 600)) : NULL;
                json *b = json_new_obj(), *arr, *model = json_new_arr();

                for (size_t i = 0; i < n; i++) {
                        const char *p = pool[fs_rnd(&seed) % (sizeof(pool) / sizeof(pool[0]))];
                        size_t l = strlen(p);

                        items[i] = (struct json_key){ p, (uint32_t)(l ? fs_rnd(&seed) % (l + 1) : 0) };
                        if (items[i].len && (unsigned char)p[items[i].len - 1] >= 0x80)
                                items[i].len = (uint32_t)l; /* whole characters only */
                        assert_int_equal(json_arr_append(model,
                                                         json_new_strn(p, items[i].len)), 0);
                }
                arr = json_new_arr_strs_in(a, items, n);
                assert_non_null(arr);
                if (round % 3 == 0) { /* grown afterwards */
                        assert_int_equal(json_arr_append(arr, json_new_str("late")), 0);
                        assert_int_equal(json_arr_append(model, json_new_str("late")), 0);
                }
                if (a)
                        assert_int_equal(json_obj_set(a, "criteria", arr), 0);
                else
                        a = arr;
                assert_int_equal(json_obj_set(b, "criteria", model), 0);
                assert_same_canon(round, in_tree ? json_obj_get(a, "criteria") : a,
                                  json_obj_get(b, "criteria"));
                json_free(a);
                json_free(b);
        }
}

/* The escaper against a naive model, on random strings of every length up to 40 (the
 * word-at-a-time scan has a separate path for the last bytes). */
static void test_canon_str_model(void **state)
{
        static const char pool[] = "ab\"\\\x01\x1f\t\n/ ~\x7f\b\f\r";
        struct buf got = BUF_INIT, want = BUF_INIT;
        unsigned seed = 99;

        /* Up to 100 bytes: the 16-byte (SSE2) and 8-byte scans with their overlapping last
         * block, and UTF-8 bytes >= 0x80 (never escaped) among the ones that are. One round
         * in three draws every byte from the pool (escapes side by side: the block writer's
         * runs of escapes, mapper11). */
        for (int round = 0; round < 12000; round++) {
                char s[101];
                size_t n = (size_t)round % 101;
                json *v;

                for (size_t i = 0; i < n; i++) {
                        test_rng_lcg(&seed);
                        s[i] = (seed >> 16) % 4 && round % 3 ? 'x'
                                                             : pool[(seed >> 8) % (sizeof(pool) - 1)];
                        if ((seed >> 20) % 9 == 0 && i + 1 < n) {
                                s[i++] = '\xc3'; /* U+00E9 */
                                s[i] = '\xa9';
                        }
                }
                buf_reset(&want);
                buf_putc(&want, '"');
                for (size_t i = 0; i < n; i++) {
                        unsigned char c = (unsigned char)s[i];

                        if (c == '"' || c == '\\')
                                buf_printf(&want, "\\%c", c);
                        else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
                                buf_printf(&want, "\\%c", c == '\b' ? 'b' : c == '\f' ? 'f' :
                                           c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
                        else if (c < 0x20)
                                buf_printf(&want, "\\u%04x", c);
                        else
                                buf_putc(&want, (char)c);
                }
                buf_putc(&want, '"');
                buf_reset(&got);
                assert_int_equal(json_canon_str(&got, s, n), 0);
                if (got.len != want.len || memcmp(got.data, want.data, got.len) != 0)
                        fail_msg("round %d (n=%zu): %s, model %s", round, n, got.data, want.data);
                /* Under a cap: written whole when it fits exactly, else -E2BIG and the buffer
                 * as it was, whatever room the block writer found (mapper11). */
                {
                        struct buf capped = BUF_INIT;

                        size_t pre = round % 2 ? 0 : 4;

                        capped.max = want.len + pre;
                        if (pre)
                                assert_int_equal(buf_puts(&capped, "pre:"), 0);
                        int rc = json_canon_str(&capped, s, n);
                        if (rc != 0)
                                fail_msg("round %d (n=%zu): capped at %zu: %d", round, n,
                                         capped.max, rc);
                        assert_int_equal(capped.len, pre + want.len);
                        assert_memory_equal(capped.data + pre, want.data, want.len);
                        buf_reset(&capped);
                        capped.max = want.len - 1 + pre;
                        if (pre)
                                assert_int_equal(buf_puts(&capped, "pre:"), 0);
                        size_t before = capped.len;
                        assert_int_equal(json_canon_str(&capped, s, n), -E2BIG);
                        assert_int_equal(capped.len, before);
                        buf_free(&capped);
                }
                /* The same string as a tree value and as a key. */
                v = json_new_obj();
                assert_int_equal(json_obj_set(v, "k", json_new_strn(s, n)), 0);
                assert_int_equal(json_obj_setn(v, s, n, json_new_null()), 0);
                buf_reset(&got);
                assert_int_equal(json_canon(v, &got), 0);
                assert_non_null(strstr(got.data, want.data));
                json_free(v);
        }
        buf_free(&got);
        buf_free(&want);
}

/* issue 12: json_canon_with_int gives exactly the bytes json_obj_set_int + json_canon give,
 * and the offset of the value, over random objects: sorted or not, small and past the
 * on-stack size, the key absent, present as an integer or as another type, keys that sort
 * around it (also non-ASCII and escaped ones). */
static void test_canon_with_int_model(void **state)
{
        static const char *const keys[] = { "seq", "se", "seq2", "sep", "a", "zz", "s",
                                             "\u00e9t\u00e9", "\xf0\x9f\x98\x80", "q\"uote",
                                             "message", "raw_sha256", "rule", "time", "\xef\xbc\xa1" };
        const size_t n_keys = sizeof(keys) / sizeof(keys[0]);
        struct buf got = BUF_INIT, want = BUF_INIT;
        unsigned seed = 12345;

        for (int round = 0; round < 3000; round++) {
                size_t n = (size_t)round % 90, off = 0;
                bool sorted = round % 3 == 0;
                int64_t v = round % 7 == 0 ? -(int64_t)round * 1000003 : (int64_t)round * 7919;
                json *obj = json_new_obj(), *model;
                char k[32];

                /* n members: a few named keys, the rest numbered ("k0042" sorts before "s"). */
                for (size_t i = 0; i < n; i++) {
                        json *val;

                        test_rng_lcg(&seed);
                        if ((seed >> 16) % 3 == 0)
                                snprintf(k, sizeof(k), "%s", keys[(seed >> 8) % n_keys]);
                        else
                                snprintf(k, sizeof(k), "k%04zu", sorted ? i : (size_t)(seed % 9973));
                        switch ((seed >> 4) % 4) {
                        case 0: val = json_new_int((int64_t)seed); break;
                        case 1: val = json_new_str("va\"l\n"); break;
                        case 2: val = json_new_null(); break;
                        default:
                                val = json_new_obj();
                                assert_int_equal(json_obj_set_int(val, "seq", 1), 0);
                        }
                        assert_int_equal(json_obj_set(obj, k, val), 0);
                }
                if (sorted) { /* rebuilt in key order, so that it carries the sorted flag */
                        json *p = NULL;
                        char *c = canon_of(obj);

                        assert_int_equal(parse_str(c, &p, NULL), 0);
                        free(c);
                        json_free(obj);
                        obj = p;
                }
                char *before = canon_of(obj), *after;

                model = json_clone(obj);
                assert_non_null(model);
                assert_int_equal(json_obj_set_int(model, "seq", v), 0);
                buf_reset(&want);
                assert_int_equal(json_canon(model, &want), 0);
                buf_reset(&got);
                assert_int_equal(buf_puts(&got, "pre"), 0);
                assert_int_equal(json_canon_with_int(obj, "seq", v, &got, &off), 0);
                if (got.len != want.len + 3 || memcmp(got.data + 3, want.data, want.len) != 0)
                        fail_msg("round %d: %s, model %s", round, got.data + 3, want.data);
                snprintf(k, sizeof(k), "\"seq\":%lld", (long long)v);
                assert_true(off >= 3 + 6 && off < got.len);
                assert_memory_equal(got.data + off - 6, k, strlen(k));
                /* json_canon_with_int_at (mapper11): the same bytes and offset whatever the
                 * hint (the last place carried over, right, one off, 0, n, past the end,
                 * none), and the hint left at "seq"'s place among the members. */
                {
                        static const struct json_key seq = JSON_KEY("seq");
                        static uint32_t carried = UINT32_MAX;
                        size_t place = 0, off2 = 0, nm = json_len(obj);
                        uint32_t hints[8];

                        for (size_t i = 0; i < nm; i++) {
                                const char *key;
                                size_t kl;

                                json_obj_at(obj, i, &key, &kl);
                                place += json_key_cmp(key, kl, "seq", 3) < 0;
                        }
                        hints[0] = carried;
                        hints[1] = (uint32_t)place;
                        hints[2] = (uint32_t)place + 1;
                        hints[3] = place ? (uint32_t)place - 1 : 0;
                        hints[4] = 0;
                        hints[5] = (uint32_t)nm;
                        hints[6] = (uint32_t)nm + 1 + (seed >> 20) % 5;
                        hints[7] = UINT32_MAX;
                        for (int h = 0; h < 8; h++) {
                                uint32_t hint = hints[h];

                                buf_reset(&got);
                                assert_int_equal(buf_puts(&got, "pre"), 0);
                                assert_int_equal(json_canon_with_int_at(obj, &seq, v, &got, &off2,
                                                                        &hint), 0);
                                if (got.len != want.len + 3 ||
                                    memcmp(got.data + 3, want.data, want.len) != 0 || off2 != off)
                                        fail_msg("round %d hint %u (place %zu): %s, model %s",
                                                 round, hints[h], place, got.data + 3,
                                                 want.data);
                                if (sorted && hint != place)
                                        fail_msg("round %d: hint %u left, place %zu", round, hint,
                                                 place);
                                if (sorted)
                                        carried = hint;
                        }
                }
                /* The tree is not changed. */
                after = canon_of(obj);
                assert_string_equal(before, after);
                free(before);
                free(after);
                json_free(model);
                json_free(obj);
        }
        assert_int_equal(json_canon_with_int(NULL, "seq", 1, &got, NULL), -EINVAL);
        buf_free(&got);
        buf_free(&want);
}

static void test_tree(void **state)
{
        json *o = json_new_obj(), *c, *v;
        const char *k;
        size_t kn;
        char *s;

        assert_int_equal(json_obj_set_str(o, "z", "last"), 0);
        assert_int_equal(json_obj_set_int(o, "a", 1), 0);
        assert_int_equal(json_obj_set_str(o, "n", NULL), 0);
        assert_int_equal(json_obj_set_int(o, "z", 2), 0); /* replaces in place */
        assert_int_equal(json_len(o), 3);
        v = json_obj_at(o, 0, &k, &kn);
        assert_string_equal(k, "z");
        assert_int_equal(kn, 1);
        assert_int_equal(json_int(v), 2);
        assert_int_equal(json_type_of(json_obj_get(o, "n")), JSON_NULL);
        assert_null(json_obj_get(o, "missing"));
        assert_null(json_obj_at(o, 3, NULL, NULL));
        c = json_clone(o);
        assert_int_equal(json_obj_del(o, "a"), 1);
        assert_int_equal(json_obj_del(o, "a"), 0);
        s = canon_of(o);
        assert_string_equal(s, "{\"n\":null,\"z\":2}");
        free(s);
        s = canon_of(c); /* the clone is deep: unaffected */
        assert_string_equal(s, "{\"a\":1,\"n\":null,\"z\":2}");
        free(s);
        assert_int_equal(json_arr_append(o, json_new_null()), -EINVAL);
        assert_int_equal(json_obj_set(c, "x", NULL), -ENOMEM);
        json_free(o);
        json_free(c);
}

static void test_path(void **state)
{
        json *o = json_new_obj(), *v;
        size_t n;
        char *s;

        assert_int_equal(json_path_set(o, "sd.origin.ip", json_new_str("10.0.0.1")), 0);
        assert_int_equal(json_path_set(o, "sd.origin.port", json_new_int(514)), 0);
        assert_int_equal(json_path_set(o, "top", json_new_bool(true)), 0);
        v = json_path_get(o, "sd.origin.ip");
        assert_string_equal(json_str(v, &n), "10.0.0.1");
        assert_int_equal(n, 8);
        assert_int_equal(json_int(json_path_get(o, "sd.origin.port")), 514);
        assert_null(json_path_get(o, "sd.origin.missing"));
        assert_null(json_path_get(o, "top.below"));       /* through a non-object */
        assert_null(json_path_get(o, "sd.origin.ip.x"));
        s = canon_of(o);
        assert_string_equal(s, "{\"sd\":{\"origin\":{\"ip\":\"10.0.0.1\",\"port\":514}},\"top\":true}");
        free(s);
        /* Setting through a non-object replaces it. */
        assert_int_equal(json_path_set(o, "top.below", json_new_int(3)), 0);
        assert_int_equal(json_int(json_path_get(o, "top.below")), 3);
        /* A key with a dot is reachable only with json_obj_get. */
        assert_int_equal(json_obj_set_int(o, "a.b", 7), 0);
        assert_null(json_path_get(o, "a.b"));
        assert_int_equal(json_int(json_obj_get(o, "a.b")), 7);
        s = canon_of(o);
        assert_string_equal(s, "{\"a.b\":7,\"sd\":{\"origin\":{\"ip\":\"10.0.0.1\",\"port\":514}},"
                               "\"top\":{\"below\":3}}");
        free(s);
        v = json_new_arr();
        assert_int_equal(json_path_set(v, "x", json_new_int(1)), -EINVAL);
        json_free(v);
        json_free(o);
}


/* Same shape, insertion order, keys, escape marks and sorted flags (what canonical text
 * alone would not show). */
static bool same_tree(const json *a, const json *b)
{
        if (a->type != b->type)
                return false;
        switch (a->type) {
        case JSON_STR:
                return a->u.s.n == b->u.s.n && !memcmp(a->u.s.p, b->u.s.p, a->u.s.n);
        case JSON_INT:
                return a->u.i == b->u.i;
        case JSON_BOOL:
                return a->u.b == b->u.b;
        case JSON_ARR:
                if (a->u.a.n != b->u.a.n)
                        return false;
                for (uint32_t i = 0; i < a->u.a.n; i++)
                        if (!same_tree(a->u.a.v[i], b->u.a.v[i]))
                                return false;
                return true;
        case JSON_OBJ:
                if (a->u.o.n != b->u.o.n ||
                    (a->flags & JSON_F_SORTED) != (b->flags & JSON_F_SORTED))
                        return false;
                for (uint32_t i = 0; i < a->u.o.n; i++) {
                        const struct json_member *x = &a->u.o.m[i], *y = &b->u.o.m[i];

                        if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) ||
                            x->key_plain != y->key_plain || !same_tree(x->val, y->val))
                                return false;
                }
                return true;
        default:
                return true;
        }
}

/* json_path_split + json_path_set_split / json_path_get_split against json_path_set /
 * json_path_get as the model (issue 12): the same trees member for member, the same
 * lookups, on random paths over a small alphabet of keys (empty, non-ASCII, needing an
 * escape, prefixes of each other) and random values, objects among them. */
static void test_path_split_model(void **state)
{
        static const char *const keys[] = { "a", "b", "actor", "user", "", "\xc3\xa9",
                                            "k\"q", "act", "z\\", "seq" };
        unsigned seed = 1207;
        struct json_path sp;

        for (int t = 0; t < 300; t++) {
                json *a = json_new_obj_reserve(256), *b = json_new_obj_reserve(256);

                for (int op = 0; op < 40; op++) {
                        char path[128] = "";
                        int nk = 1 + (int)(rand_r(&seed) % 4);
                        json *va, *vb, *ga, *gb;
                        int ra, rb;

                        for (int k = 0; k < nk; k++) {
                                if (k)
                                        strcat(path, ".");
                                strcat(path, keys[rand_r(&seed) % 10]);
                        }
                        assert_int_equal(json_path_split(path, &sp), 0);
                        assert_int_equal(sp.n_keys, (size_t)nk);
                        for (int k = 0; k < nk; k++) { /* prestore8: hints right, wrong, past */
                                assert_int_equal(sp.keys[k].hint, 0);
                                sp.keys[k].hint = rand_r(&seed) % 14;
                        }
                        switch (rand_r(&seed) % 3) {
                        case 0:
                                va = json_new_int(op);
                                vb = json_new_int(op);
                                break;
                        case 1:
                                va = json_new_obj();
                                vb = json_new_obj();
                                break;
                        default:
                                va = json_new_str_lossy_in(a, path, strlen(path), NULL);
                                vb = json_new_str_lossy_in(b, path, strlen(path), NULL);
                        }
                        if (rand_r(&seed) % 4 == 0) { /* a lookup instead */
                                ga = json_path_get(a, path);
                                gb = json_path_get_split(b, &sp);
                                assert_int_equal(ga == NULL, gb == NULL);
                                if (ga && !same_tree(ga, gb))
                                        fail_msg("get %s: not the same value", path);
                                json_free(va);
                                json_free(vb);
                                continue;
                        }
                        ra = json_path_set(a, path, va);
                        rb = json_path_set_split(b, &sp, vb);
                        assert_int_equal(ra, rb);
                        if (!same_tree(a, b)) {
                                char *ca = canon_of(a), *cb = canon_of(b);

                                fail_msg("set %s: %s vs %s", path, ca, cb);
                        }
                }
                json_free(a);
                json_free(b);
        }
        /* The checker bites: the same members in another order are not the same tree. */
        json *x = json_new_obj(), *y = json_new_obj();
        assert_int_equal(json_obj_set_int(x, "a", 1), 0);
        assert_int_equal(json_obj_set_int(x, "b", 2), 0);
        assert_int_equal(json_obj_set_int(y, "b", 2), 0);
        assert_int_equal(json_obj_set_int(y, "a", 1), 0);
        assert_false(same_tree(x, y));
        /* Splitting refuses what json_path_set would: too many keys, keys not UTF-8. */
        assert_int_equal(json_path_split("a.b.c.d.e.f.g.h", &sp), 0);
        assert_int_equal(sp.n_keys, 8);
        assert_int_equal(json_path_split("a.b.c.d.e.f.g.h.i", &sp), -E2BIG);
        assert_int_equal(json_path_split("a.\xff", &sp), -EINVAL);
        assert_int_equal(json_path_split(NULL, &sp), -EINVAL);
        assert_int_equal(json_path_split("..", &sp), 0);
        assert_int_equal(sp.n_keys, 3);
        assert_int_equal(json_path_split("a.b", &sp), 0);
        assert_int_equal(json_path_set_split(NULL, &sp, json_new_int(1)), -EINVAL);
        json *arr = json_new_arr();
        assert_int_equal(json_path_set_split(arr, &sp, json_new_int(1)), -EINVAL);
        assert_int_equal(json_path_set_split(x, &sp, NULL), -ENOMEM);
        assert_null(json_path_get_split(arr, &sp));
        json_free(arr);
        json_free(x);
        json_free(y);
}

/* prestore7: json_path_set_split_from as the rules use it (rules-match.c rule_sets): the
 * object a two-key set wrote into is kept and the next two-key set under the same first key
 * starts there; any other set drops it. Against json_path_set from the root as the model,
 * on random sequences of sets (first keys that exist as objects, as scalars, or not at all),
 * and the parent it reports is the object the prefix leads to. */
/* json_bytes_eq (prestore8: the inline compare of keys and hints) against memcmp: every
 * length to 40, equal and with one byte changed at each place, both ways. */
static void test_bytes_eq_model(void **state)
{
        char a[48], b[48];

        (void)state;
        for (size_t n = 0; n <= 40; n++) {
                for (size_t i = 0; i < n; i++)
                        a[i] = b[i] = (char)('a' + (i * 7) % 26);
                assert_true(json_bytes_eq(a, b, n));
                for (size_t at = 0; at < n; at++) {
                        b[at] ^= 0x20;
                        assert_false(json_bytes_eq(a, b, n));
                        assert_false(json_bytes_eq(b, a, n));
                        assert_int_equal(json_bytes_eq(a, b, at), memcmp(a, b, at) == 0);
                        b[at] ^= 0x20;
                }
        }
}

static void test_path_set_from_model(void **state)
{
        static const char *const keys[] = { "target", "actor", "t\u00e9", "host", "user", "a" };
        unsigned seed = 4711;
        struct json_path sp;

        (void)state;
        for (int t = 0; t < 400; t++) {
                json *a = json_new_obj(), *b = json_new_obj(), *under = NULL;
                char under_k[64];
                size_t under_n = 0;
                int reused = 0;

                for (int op = 0; op < 30; op++) {
                        char path[64] = "";
                        int nk = 1 + (int)(rand_r(&seed) % 8 < 6 ? 1 : rand_r(&seed) % 3);
                        json *va, *vb;
                        int ra, rb;

                        for (int k = 0; k < nk; k++) {
                                if (k)
                                        strcat(path, ".");
                                strcat(path, keys[rand_r(&seed) % (k == 0 ? 3 : 6)]);
                        }
                        assert_int_equal(json_path_split(path, &sp), 0);
                        for (size_t k = 0; k < sp.n_keys; k++) /* prestore8: any hint */
                                sp.keys[k].hint = rand_r(&seed) % 8;
                        va = json_new_int(op);
                        vb = json_new_int(op);
                        ra = json_path_set(a, path, va);
                        if (under && sp.n_keys == 2 && sp.keys[0].n == under_n &&
                            !memcmp(sp.keys[0].s, under_k, under_n)) {
                                rb = json_path_set_split_from(under, &sp, 1, vb, NULL);
                                reused++;
                        } else if (sp.n_keys == 2) {
                                json *parent = NULL;

                                rb = json_path_set_split_from(b, &sp, 0, vb, &parent);
                                assert_ptr_equal(parent, json_path_get_split(b, &(struct json_path){
                                                 .keys = { sp.keys[0] }, .n_keys = 1 }));
                                under = parent;
                                under_n = sp.keys[0].n;
                                memcpy(under_k, sp.keys[0].s, under_n);
                        } else {
                                under = NULL;
                                rb = json_path_set_split(b, &sp, vb);
                        }
                        assert_int_equal(ra, rb);
                        if (!same_tree(a, b)) {
                                char *ca = canon_of(a), *cb = canon_of(b);

                                fail_msg("set %s: %s vs %s", path, ca, cb);
                        }
                }
                if (t == 0)
                        assert_true(reused > 0);
                json_free(a);
                json_free(b);
        }
        json *x = json_new_obj();
        assert_int_equal(json_path_split("a.b", &sp), 0);
        assert_int_equal(json_path_set_split_from(x, &sp, 2, json_new_int(1), NULL), -EINVAL);
        assert_int_equal(json_path_set_split_from(NULL, &sp, 1, json_new_int(1), NULL), -EINVAL);
        assert_int_equal(json_path_set_split_from(x, &sp, 1, NULL, NULL), -ENOMEM);
        json_free(x);
}

/* json_new_strn_valid_in makes what json_new_strn_in makes, and json_utf8_boundary is
 * exactly what makes a piece of valid text valid (issue 12: the normalizer and the rules
 * skip the second check on that ground). Model: json_utf8_valid of every piece. */
static void test_strn_valid_boundary(void **state)
{
        static const char *const pieces[] = { "a", " ", "\xc3\xa9", "\xe2\x82\xac",
                                              "\xf0\x9f\x98\x80", "~", "\xed\x9f\xbf" };
        unsigned seed = 77;
        json *tree = json_new_obj_reserve(64);

        for (int t = 0; t < 3000; t++) {
                char s[96] = "";
                size_t n;
                int k = (int)(rand_r(&seed) % 12);

                for (int i = 0; i < k; i++)
                        strcat(s, pieces[rand_r(&seed) % 7]);
                n = strlen(s);
                for (size_t i = 0; i <= n; i++)
                        for (size_t j = i; j <= n; j++) {
                                bool model = json_utf8_valid(s + i, j - i);
                                bool got = i == j || (json_utf8_boundary(s, n, i) &&
                                                      json_utf8_boundary(s, n, j));

                                if (model != got)
                                        fail_msg("piece [%zu, %zu) of %zu: boundary says %d, "
                                                 "valid %d", i, j, n, got, model);
                        }
                json *v = json_new_strn_valid_in(tree, s, n), *w = json_new_strn_in(tree, s, n);
                json *u = json_new_strn_valid_in(NULL, s, n);
                assert_non_null(v);
                assert_non_null(u);
                assert_true(same_tree(v, w) && same_tree(u, w));
                json_free(u);
        }
        json_free(tree);
}

/* json_obj_get finds the member a byte-for-byte scan finds, for every key, on objects
 * built in order (sorted flag kept) and not, of 0 to 40 members, with keys that share
 * prefixes, are non-ASCII, and lookups by bytes that are not UTF-8 (0xe9 alone compares
 * like U+00E9 in key order: a lookup by order, tried in issue 12, must not find "é"). */
static void test_obj_find_model(void **state)
{
        static const char *const pool[] = {
                "a", "ab", "abc", "b", "action", "actor", "app", "raw", "raw_b64",
                "raw_sha256", "received", "rule", "sd", "seq", "severity", "source",
                "\xc3\xa9", "\xc3\xa9t\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "~",
                "z", "", "target", "time", "host", "message", "msgid", "outcome", "pid",
                "procid", "flags", "format", "facility", "error", "criteria", "e", "f",
                "g", "h",
        };
        static const char *const strangers[] = { "\xe9", "\xc3", "\xe9t\xe9", "zz", "ac",
                                                 "\xff", "raw_", "acto" };
        const size_t n_pool = sizeof(pool) / sizeof(pool[0]);
        unsigned seed = 4242;

        for (int t = 0; t < 2000; t++) {
                json *o = json_new_obj();
                size_t n = (size_t)(rand_r(&seed) % 41);
                bool ordered = rand_r(&seed) % 2;
                const char *keys[64];

                for (size_t i = 0; i < n_pool; i++)
                        keys[i] = pool[i];
                if (ordered) /* in RFC 8785 order: the object keeps its sorted flag */
                        for (size_t i = 1; i < n_pool; i++)
                                for (size_t j = i; j > 0 &&
                                     json_key_cmp(keys[j - 1], strlen(keys[j - 1]), keys[j],
                                                  strlen(keys[j])) > 0; j--) {
                                        const char *x = keys[j];
                                        keys[j] = keys[j - 1];
                                        keys[j - 1] = x;
                                }
                else
                        for (size_t i = n_pool - 1; i > 0; i--) {
                                size_t j = (size_t)rand_r(&seed) % (i + 1);
                                const char *x = keys[i];
                                keys[i] = keys[j];
                                keys[j] = x;
                        }
                for (size_t i = 0, k = 0; k < n && i < n_pool; i++)
                        if (!ordered || rand_r(&seed) % 2) {
                                assert_int_equal(json_obj_set_int(o, keys[i], (int64_t)i), 0);
                                k++;
                        }
                for (size_t q = 0; q < n_pool + 8; q++) {
                        const char *key = q < n_pool ? pool[q] : strangers[q - n_pool];
                        json *model = NULL, *got = json_obj_get(o, key);

                        for (size_t i = 0; i < json_len(o) && !model; i++) {
                                const char *k;
                                size_t kl;
                                json *v = json_obj_at(o, i, &k, &kl);

                                if (kl == strlen(key) && !memcmp(k, key, kl))
                                        model = v;
                        }
                        if (got != model)
                                fail_msg("get \"%s\" in %zu members (%s): %p, model %p", key,
                                         json_len(o), ordered ? "ordered" : "not ordered",
                                         (void *)got, (void *)model);
                }
                json_free(o);
        }
}

/* ---- canon10: the canonical writer's fast paths against a naive model ---- */

/* The LCG's bits 8 and up (its low bits cycle fast). */
static unsigned cm_rnd(unsigned *seed)
{
        return test_rng_lcg(seed) >> 8;
}

static void model_str(struct buf *b, const char *s, size_t n)
{
        buf_putc(b, '"');
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c == '"' || c == '\\')
                        buf_printf(b, "\\%c", c);
                else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
                        buf_printf(b, "\\%c", c == '\b' ? 'b' : c == '\f' ? 'f' :
                                   c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
                else if (c < 0x20)
                        buf_printf(b, "\\u%04x", c);
                else
                        buf_putc(b, (char)c);
        }
        buf_putc(b, '"');
}

/* RFC 8785 the slow way: members gathered by json_obj_at and sorted by json_key_cmp
 * (tested against its own model above), strings escaped byte by byte, integers by printf;
 * doubles by json_canon of the number alone (canon_double, not a fast path). */
static void model_canon(struct buf *b, const json *v)
{
        size_t n = json_len(v), l;
        const char *s;

        switch (json_type_of(v)) {
        case JSON_NULL: buf_puts(b, "null"); return;
        case JSON_BOOL: buf_puts(b, json_bool(v) ? "true" : "false"); return;
        case JSON_INT: buf_printf(b, "%lld", (long long)json_int(v)); return;
        case JSON_NUM: assert_int_equal(json_canon(v, b), 0); return;
        case JSON_STR:
                s = json_str(v, &l);
                model_str(b, s, l);
                return;
        case JSON_ARR:
                buf_putc(b, '[');
                for (size_t i = 0; i < n; i++) {
                        if (i)
                                buf_putc(b, ',');
                        model_canon(b, json_arr_at(v, i));
                }
                buf_putc(b, ']');
                return;
        case JSON_OBJ: {
                size_t *ix = malloc((n + 1) * sizeof(*ix));
                const char *ka, *kb;
                size_t la, lb;

                assert_non_null(ix);
                for (size_t i = 0; i < n; i++) {
                        size_t j = i;

                        json_obj_at(v, i, &ka, &la);
                        for (; j > 0; j--) {
                                json_obj_at(v, ix[j - 1], &kb, &lb);
                                if (json_key_cmp(kb, lb, ka, la) <= 0)
                                        break;
                                ix[j] = ix[j - 1];
                        }
                        ix[j] = i;
                }
                buf_putc(b, '{');
                for (size_t i = 0; i < n; i++) {
                        json *x = json_obj_at(v, ix[i], &ka, &la);

                        if (i)
                                buf_putc(b, ',');
                        model_str(b, ka, la);
                        buf_putc(b, ':');
                        model_canon(b, x);
                }
                buf_putc(b, '}');
                free(ix);
                return;
        }
        }
}

/* A random string of up to max bytes: mostly 'x', then the bytes that need escapes, DEL,
 * '/', and two- and four-byte UTF-8, at every place (the 4/8/16-byte checks and the
 * overlapping last block). */
static size_t cm_string(unsigned *seed, char *s, size_t max)
{
        static const char *const pool[] = { "\"", "\\", "\x01", "\x1f", "\t", "\n", "\x7f",
                                            "/", " ", "~", "\xc3\xa9", "\xf0\x9f\x98\x80" };
        size_t n = 0, want = cm_rnd(seed) % 4 == 0 ? cm_rnd(seed) % (max + 1)
                                                            : cm_rnd(seed) % 20;

        while (n < want) {
                const char *p = cm_rnd(seed) % 6 ? "x" : pool[cm_rnd(seed) % 12];
                size_t k = strlen(p);

                if (n + k > want)
                        break;
                memcpy(s + n, p, k);
                n += k;
        }
        return n;
}

static json *cm_value(json *tree, unsigned *seed, int depth)
{
        static const int64_t ints[] = { 0, -1, 1, 9, 10, -10, INT64_MAX, INT64_MIN,
                                        INT64_MIN + 1, 1234567890123LL, 4294967296LL };
        static const double nums[] = { 0.5, -0.25, 1e21, 1e-7, 123.456, -1e300 };
        char s[120];
        unsigned k = cm_rnd(seed) % (depth < 3 ? 9 : 6);
        json *v;

        switch (k) {
        case 0: return json_new_null();
        case 1: return json_new_bool(cm_rnd(seed) % 2);
        case 2: return json_new_int(ints[cm_rnd(seed) % 11]);
        case 3: return json_new_num(nums[cm_rnd(seed) % 6]);
        case 4:
        case 5: {
                size_t n = cm_string(seed, s, sizeof(s));

                return tree ? json_new_strn_in(tree, s, n) : json_new_strn(s, n);
        }
        case 6: {
                size_t n = cm_rnd(seed) % 5;

                v = json_new_arr();
                for (size_t i = 0; i < n; i++)
                        assert_int_equal(json_arr_append(v, cm_value(NULL, seed, depth + 1)), 0);
                return v;
        }
        default: {
                size_t n = cm_rnd(seed) % 12;

                v = json_new_obj();
                for (size_t i = 0; i < n; i++) {
                        size_t kl = cm_string(seed, s, 24);

                        s[kl] = '\0';
                        /* set, not add: a key drawn twice replaces (no duplicates) */
                        assert_int_equal(json_obj_setn(v, s, kl, cm_value(NULL, seed, depth + 1)),
                                         0);
                }
                return v;
        }
        }
}

/* json_canon and json_canon_with_int against model_canon on random trees: keys and strings
 * with escapes and non-ASCII at every place and length, integers at the edges, doubles,
 * nested and empty containers; each tree as built (insertion order) and parsed back from
 * its text (sorted, the fast path every record takes). */
static void test_canon_model(void **state)
{
        struct buf got = BUF_INIT, want = BUF_INIT;
        unsigned seed = 1010;

        for (int round = 0; round < 4000; round++) {
                json *t = cm_value(NULL, &seed, round % 2), *p = NULL, *m;

                buf_reset(&want);
                model_canon(&want, t);
                buf_reset(&got);
                assert_int_equal(json_canon(t, &got), 0);
                if (got.len != want.len || memcmp(got.data, want.data, got.len))
                        fail_msg("round %d: %s\nmodel %s", round, got.data, want.data);
                assert_int_equal(json_parse(got.data, got.len, &p, NULL), 0);
                buf_reset(&got);
                assert_int_equal(json_canon(p, &got), 0);
                assert_memory_equal(got.data, want.data, want.len);
                if (json_type_of(t) == JSON_OBJ) { /* with "seq", as the writer's mapper */
                        int64_t v = round % 3 ? round : INT64_MIN + round;
                        size_t off = 0;
                        const json *obj[2] = { t, p };

                        m = json_clone(t);
                        assert_int_equal(json_obj_set_int(m, "seq", v), 0);
                        buf_reset(&want);
                        model_canon(&want, m);
                        for (int k = 0; k < 2; k++) {
                                buf_reset(&got);
                                assert_int_equal(json_canon_with_int(obj[k], "seq", v, &got,
                                                                     &off), 0);
                                if (got.len != want.len || memcmp(got.data, want.data, got.len))
                                        fail_msg("round %d/%d: %s\nmodel %s", round, k,
                                                 got.data, want.data);
                        }
                        json_free(m);
                }
                json_free(p);
                json_free(t);
        }
        buf_free(&got);
        buf_free(&want);
}

/* json_obj_pick against the first member of each name (json_obj_at), with hints right,
 * wrong, past the end and kept from one object to the next; sorted objects and objects in
 * insertion order, the latter with keys twice (json_obj_add), where only the first
 * counts. */
static void test_obj_pick_model(void **state)
{
        static const struct json_key keys[] = {
                JSON_KEY("app"), JSON_KEY("criteria"), JSON_KEY("flags"), JSON_KEY("host"),
                JSON_KEY("rule"), JSON_KEY("source"), JSON_KEY("time"), JSON_KEY("zz"),
                JSON_KEY("\xc3\xa9"),
        };
        const size_t nk = sizeof(keys) / sizeof(keys[0]);
        uint32_t hints[9] = { 0 };
        unsigned seed = 77;

        for (int t = 0; t < 3000; t++) {
                json *o = json_new_obj(), *p = NULL;
                size_t n = cm_rnd(&seed) % 14;
                const json *got[9];

                for (size_t i = 0; i < n; i++) {
                        const struct json_key *k = &keys[cm_rnd(&seed) % nk];
                        char other[8];

                        if (cm_rnd(&seed) % 3 == 0) { /* a key not looked for */
                                snprintf(other, sizeof(other), "k%u", cm_rnd(&seed) % 50);
                                assert_int_equal(json_obj_set_int(o, other, (int64_t)i), 0);
                        } else if (cm_rnd(&seed) % 4 == 0) {
                                assert_int_equal(json_obj_add(o, k->key, json_new_int((int64_t)i)),
                                                 0); /* maybe twice */
                        } else {
                                assert_int_equal(json_obj_set_int(o, k->key, (int64_t)i), 0);
                        }
                }
                if (t % 2) { /* sorted copy (the parser rejects duplicates: set only) */
                        char *c = canon_of(o);

                        if (json_parse(c, strlen(c), &p, NULL) == 0) {
                                json_free(o);
                                o = p;
                        }
                        free(c);
                }
                for (size_t i = 0; i < nk; i++)
                        if (cm_rnd(&seed) % 5 == 0)
                                hints[i] = cm_rnd(&seed) % 20; /* right, wrong, past */
                size_t found = json_obj_pick(o, keys, hints, nk, got), want_found = 0;

                for (size_t i = 0; i < nk; i++) {
                        const json *model = NULL;

                        for (size_t j = 0; j < json_len(o) && !model; j++) {
                                const char *k;
                                size_t kl;
                                json *v = json_obj_at(o, j, &k, &kl);

                                if (kl == keys[i].len && !memcmp(k, keys[i].key, kl))
                                        model = v;
                        }
                        if (got[i] != model)
                                fail_msg("object %d key %s: %p, model %p", t, keys[i].key,
                                         (const void *)got[i], (const void *)model);
                        want_found += model != NULL;
                }
                assert_int_equal(found, want_found);
                json_free(o);
        }
        { /* not an object: nothing found */
                const json *got[9];
                json *a = json_new_arr();

                assert_int_equal(json_obj_pick(a, keys, hints, nk, got), 0);
                assert_int_equal(json_obj_pick(NULL, keys, hints, nk, got), 0);
                for (size_t i = 0; i < nk; i++)
                        assert_null(got[i]);
                json_free(a);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_valid),
                cmocka_unit_test(test_parse_invalid),
                cmocka_unit_test(test_parse_string_runs),
                cmocka_unit_test(test_parse_depth),
                cmocka_unit_test(test_parse_types),
                cmocka_unit_test(test_canon_numbers),
                cmocka_unit_test(test_canon_numbers_random),
                cmocka_unit_test(test_lossy),
                cmocka_unit_test(test_strict_constructors),
                cmocka_unit_test(test_key_cmp),
                cmocka_unit_test(test_key_cmp_model),
                cmocka_unit_test(test_canon_str),
                cmocka_unit_test(test_canon_cap),
                cmocka_unit_test(test_canon_cap_every),
                cmocka_unit_test(test_tree),
                cmocka_unit_test(test_path),
                cmocka_unit_test(test_arena),
                cmocka_unit_test(test_member_order),
                cmocka_unit_test(test_parse_in),
                cmocka_unit_test(test_canon_str_model),
                cmocka_unit_test(test_canon_with_int_model),
                cmocka_unit_test(test_path_split_model),
                cmocka_unit_test(test_path_set_from_model),
                cmocka_unit_test(test_bytes_eq_model),
                cmocka_unit_test(test_strn_valid_boundary),
                cmocka_unit_test(test_obj_find_model),
                cmocka_unit_test(test_fill_sorted_model),
                cmocka_unit_test(test_arr_strs_model),
                cmocka_unit_test(test_canon_model),
                cmocka_unit_test(test_obj_pick_model),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
