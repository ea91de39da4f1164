/* Tests for core/buf.c: appends, the hard cap (-E2BIG leaves the buffer unchanged), steal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

static void test_append(void **state)
{
        struct buf b = BUF_INIT;

        assert_int_equal(buf_puts(&b, "ab"), 0);
        assert_int_equal(buf_putc(&b, 'c'), 0);
        assert_int_equal(buf_append(&b, "\0d", 2), 0);
        assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
        assert_int_equal(buf_put_hex(&b, "\x01\xab", 2), 0);
        assert_int_equal(b.len, 13);
        assert_memory_equal(b.data, "abc\0d42-x01ab", 14); /* NUL-terminated */
        buf_reset(&b);
        assert_int_equal(b.len, 0);
        assert_string_equal(b.data, "");
        buf_free(&b);
        assert_null(b.data);
        buf_free(&b); /* twice is fine */
}

static void test_growth(void **state)
{
        struct buf b = BUF_INIT;
        char big[1000];

        memset(big, 'x', sizeof(big));
        for (int i = 0; i < 1000; i++)
                assert_int_equal(buf_append(&b, big, sizeof(big)), 0);
        assert_int_equal(b.len, 1000000);
        assert_true(b.alloc > b.len);
        assert_int_equal(b.data[b.len], '\0');
        /* A long printf goes through the slow path. */
        buf_reset(&b);
        assert_int_equal(buf_printf(&b, "%.*s|", 900, big), 0);
        assert_int_equal(b.len, 901);
        assert_int_equal(b.data[900], '|');
        buf_free(&b);
}

struct cap_case {
        const char *name;
        int (*op)(struct buf *b);
};

static int op_append(struct buf *b) { return buf_append(b, "12345", 5); }
static int op_putc(struct buf *b) { return buf_putc(b, 'z'); }
static int op_puts(struct buf *b) { return buf_puts(b, "toolong"); }
static int op_printf(struct buf *b) { return buf_printf(b, "%s", "toolong"); }
static int op_printf_long(struct buf *b)
{
        return buf_printf(b, "%0300d", 1);
}
static int op_hex(struct buf *b) { return buf_put_hex(b, "\x01\x02\x03", 3); }

static const struct cap_case cap_cases[] = {
        { "append", op_append }, { "putc", op_putc }, { "puts", op_puts },
        { "printf", op_printf }, { "printf long", op_printf_long }, { "hex", op_hex },
};

static void test_cap(void **state)
{
        for (size_t i = 0; i < sizeof(cap_cases) / sizeof(cap_cases[0]); i++) {
                struct buf b = BUF_INIT;
                char *before;

                b.max = 10;
                assert_int_equal(buf_puts(&b, "abcdefghij"), 0); /* exactly at the cap */
                before = b.data;
                if (cap_cases[i].op(&b) != -E2BIG)
                        fail_msg("case '%s': not -E2BIG", cap_cases[i].name);
                if (b.len != 10 || b.data != before || strcmp(b.data, "abcdefghij") != 0)
                        fail_msg("case '%s': buffer changed", cap_cases[i].name);
                buf_free(&b);
                assert_int_equal(b.max, 10); /* max kept */
        }
}

static void test_cap_partial(void **state)
{
        struct buf b = BUF_INIT;

        b.max = 4;
        assert_int_equal(buf_puts(&b, "ab"), 0);
        assert_int_equal(buf_puts(&b, "cde"), -E2BIG);
        assert_string_equal(b.data, "ab");
        assert_int_equal(buf_puts(&b, "cd"), 0);
        assert_string_equal(b.data, "abcd");
        assert_int_equal(buf_append(&b, "", 0), 0); /* empty append at the cap is fine */
        assert_int_equal(buf_append(&b, "x", SIZE_MAX), -E2BIG);
        buf_free(&b);
}

static void test_steal(void **state)
{
        struct buf b = BUF_INIT;
        size_t n = 99;
        char *s;

        s = buf_steal(&b, &n); /* never used: still a valid empty string */
        assert_non_null(s);
        assert_int_equal(n, 0);
        assert_string_equal(s, "");
        free(s);
        assert_int_equal(buf_puts(&b, "hello"), 0);
        s = buf_steal(&b, &n);
        assert_string_equal(s, "hello");
        assert_int_equal(n, 5);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        free(s);
        assert_int_equal(buf_puts(&b, "again"), 0); /* usable afterwards */
        assert_string_equal(b.data, "again");
        buf_free(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_append),
                cmocka_unit_test(test_growth),
                cmocka_unit_test(test_cap),
                cmocka_unit_test(test_cap_partial),
                cmocka_unit_test(test_steal),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
