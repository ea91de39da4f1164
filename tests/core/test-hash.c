/* Tests for core/hash.c: FIPS 180-2 known answers, piecewise hashing equals one-shot, hex. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/hash.h"
#include "tests/test-rng.h"

static const struct {
        const char *name, *input, *hex;
} kat[] = {
        { "empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "two blocks", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
};

static void test_kat(void **state)
{
        uint8_t h[HASH_LEN], h2[HASH_LEN], h3[HASH_LEN];
        char hex[HASH_HEX_LEN];

        for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
                size_t n = strlen(kat[i].input);

                hash_sha256(kat[i].input, n, h);
                if (strcmp(hash_hex(h, HASH_LEN, hex), kat[i].hex) != 0)
                        fail_msg("case '%s': got %s", kat[i].name, hex);
                /* Every split into two or three pieces gives the same digest. */
                for (size_t a = 0; a <= n; a++) {
                        hash_sha256_2(kat[i].input, a, kat[i].input + a, n - a, h2);
                        if (memcmp(h, h2, HASH_LEN) != 0)
                                fail_msg("case '%s': split at %zu differs", kat[i].name, a);
                        for (size_t b = a; b <= n; b++) {
                                hash_sha256_3(kat[i].input, a, kat[i].input + a, b - a,
                                              kat[i].input + b, n - b, h3);
                                if (memcmp(h, h3, HASH_LEN) != 0)
                                        fail_msg("case '%s': split %zu/%zu differs",
                                                 kat[i].name, a, b);
                        }
                }
        }
}

/* hash_hex (a two-digit table) against a nibble-by-nibble model, every byte value in every
 * position of inputs of 0 to 40 bytes, and round trips through hash_unhex. */
static void test_hex_model(void **state)
{
        static const char digits[] = "0123456789abcdef";
        uint8_t in[40], back[40];
        char got[2 * 40 + 1], want[2 * 40 + 1];
        unsigned seed = 12;

        for (size_t n = 0; n <= sizeof(in); n++) {
                for (unsigned v = 0; v < 256; v++) {
                        for (size_t i = 0; i < n; i++) {
                                test_rng_lcg(&seed);
                                in[i] = i == v % (n ? n : 1) ? (uint8_t)v : (uint8_t)(seed >> 16);
                        }
                        for (size_t i = 0; i < n; i++) {
                                want[2 * i] = digits[in[i] >> 4];
                                want[2 * i + 1] = digits[in[i] & 15];
                        }
                        want[2 * n] = '\0';
                        memset(got, 'x', sizeof(got));
                        assert_ptr_equal(hash_hex(in, n, got), got);
                        assert_string_equal(got, want);
                        assert_int_equal(hash_unhex(got, 2 * n, back, n), 0);
                        assert_memory_equal(back, in, n);
                }
        }
}

static void test_unhex(void **state)
{
        uint8_t out[3] = { 9, 9, 9 };

        assert_int_equal(hash_unhex("01aBfF", 6, out, 3), 0);
        assert_memory_equal(out, "\x01\xab\xff", 3);
        out[0] = 9;
        assert_int_equal(hash_unhex("01ab", 4, out, 3), -EINVAL);   /* too short */
        assert_int_equal(hash_unhex("01abff00", 8, out, 3), -EINVAL); /* too long */
        assert_int_equal(hash_unhex("01abgf", 6, out, 3), -EINVAL);
        assert_int_equal(hash_unhex("01ab f", 6, out, 3), -EINVAL);
        assert_int_equal(out[0], 9); /* untouched on failure */
}

/* A saved state (struct copy) resumed at every split point, over lengths that cross the
 * 64-byte block boundary, gives the one-shot digest; the saved copy is not disturbed by the
 * copy that went on. */
static void test_state_copy(void **state)
{
        unsigned char in[300];
        uint8_t want[HASH_LEN], got[HASH_LEN], again[HASH_LEN];

        for (size_t i = 0; i < sizeof(in); i++)
                in[i] = (unsigned char)(i * 131 + 7);
        for (size_t n = 0; n <= sizeof(in); n += 37) {
                hash_sha256(in, n, want);
                for (size_t a = 0; a <= n; a++) {
                        struct hash_sha256_state saved, st;
                        hash_sha256_begin(&saved);
                        hash_sha256_update(&saved, in, a);
                        st = saved;
                        hash_sha256_update(&st, in + a, n - a);
                        hash_sha256_end(&st, got);
                        if (memcmp(want, got, HASH_LEN) != 0)
                                fail_msg("n %zu split %zu differs", n, a);
                        hash_sha256_update(&saved, in + a, n - a);
                        hash_sha256_end(&saved, again);
                        assert_memory_equal(want, again, HASH_LEN);
                }
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kat),
                cmocka_unit_test(test_unhex),
                cmocka_unit_test(test_hex_model),
                cmocka_unit_test(test_state_copy),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
