/* Tests for core/tm.c: RFC 3339 formatting and parsing, civil date conversion. Expected
 * values were computed independently with Python's datetime. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/tm.h"
#include "tests/test-rng.h"

static const struct {
        const char *name;
        int64_t us;
        const char *text;
} format_cases[] = {
        { "epoch", 0, "1970-01-01T00:00:00.000000Z" },
        { "just before epoch", -1, "1969-12-31T23:59:59.999999Z" },
        { "leap day 2000", INT64_C(951827696789012), "2000-02-29T12:34:56.789012Z" },
        { "doc example", INT64_C(1796097792123456), "2026-12-01T04:03:12.123456Z" },
        { "1900 is not leap", INT64_C(-2203891200000000), "1900-03-01T00:00:00.000000Z" },
        { "leap day 2400", INT64_C(13574649599999999), "2400-02-29T23:59:59.999999Z" },
        { "moon landing", INT64_C(-14182940000000), "1969-07-20T20:17:40.000000Z" },
        { "year 1", INT64_C(-62135596800000000), "0001-01-01T00:00:00.000000Z" },
        { "clamp high", INT64_MAX, "9999-12-31T23:59:59.999999Z" },
        { "clamp low", INT64_MIN, "0000-01-01T00:00:00.000000Z" },
};

static void test_format(void **state)
{
        char out[TM_RFC3339_LEN];

        for (size_t i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
                assert_ptr_equal(tm_format_rfc3339(format_cases[i].us, out), out);
                if (strcmp(out, format_cases[i].text) != 0)
                        fail_msg("case '%s': got %s want %s", format_cases[i].name, out,
                                 format_cases[i].text);
        }
}

static void test_parse_formatted(void **state)
{
        /* Everything we format (inside the clamp) parses back to the same instant. */
        for (size_t i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]) - 2; i++) {
                int64_t us = 0;
                const char *t = format_cases[i].text;

                if (tm_parse_rfc3339(t, strlen(t), 0, &us) != 0)
                        fail_msg("case '%s': parse failed", format_cases[i].name);
                if (us != format_cases[i].us)
                        fail_msg("case '%s': got %lld", format_cases[i].name, (long long)us);
        }
}

static const int64_t base = INT64_C(1796097792000000); /* 2026-12-01T04:03:12Z */

static const struct {
        const char *name, *text;
        int allow_date;
        int ret;
        int64_t us;
} parse_cases[] = {
        { "Z no fraction", "2026-12-01T04:03:12Z", 0, 0, INT64_C(1796097792000000) },
        { "one fraction digit", "2026-12-01T04:03:12.5Z", 0, 0, INT64_C(1796097792500000) },
        { "three fraction digits", "2026-12-01T04:03:12.123Z", 0, 0, INT64_C(1796097792123000) },
        { "six fraction digits", "2026-12-01T04:03:12.000001Z", 0, 0, INT64_C(1796097792000001) },
        { "plus offset", "2026-12-01T05:03:12+01:00", 0, 0, INT64_C(1796097792000000) },
        { "minus offset", "2026-12-01T03:33:12-00:30", 0, 0, INT64_C(1796097792000000) },
        { "offset crossing midnight", "2026-11-30T23:03:12.25-05:00", 0, 0,
          INT64_C(1796097792250000) },
        { "zero offset", "2026-12-01T04:03:12+00:00", 0, 0, INT64_C(1796097792000000) },
        { "date allowed", "2026-12-01", 1, 0, INT64_C(1796083200000000) },
        { "leap day 2024", "2024-02-29T00:00:00Z", 0, 0, INT64_C(1709164800000000) },
        { "date not allowed", "2026-12-01", 0, -EINVAL, 0 },
        { "seven fraction digits", "2026-12-01T04:03:12.1234567Z", 0, -EINVAL, 0 },
        { "empty fraction", "2026-12-01T04:03:12.Z", 0, -EINVAL, 0 },
        { "lower-case t", "2026-12-01t04:03:12Z", 0, -EINVAL, 0 },
        { "lower-case z", "2026-12-01T04:03:12z", 0, -EINVAL, 0 },
        { "space separator", "2026-12-01 04:03:12Z", 0, -EINVAL, 0 },
        { "no zone", "2026-12-01T04:03:12", 0, -EINVAL, 0 },
        { "no seconds", "2026-12-01T04:03Z", 0, -EINVAL, 0 },
        { "Feb 29 non-leap", "2026-02-29T00:00:00Z", 0, -EINVAL, 0 },
        { "Feb 29 1900", "1900-02-29T00:00:00Z", 0, -EINVAL, 0 },
        { "April 31", "2026-04-31T00:00:00Z", 0, -EINVAL, 0 },
        { "month 13", "2026-13-01T00:00:00Z", 0, -EINVAL, 0 },
        { "day 0", "2026-12-00T00:00:00Z", 0, -EINVAL, 0 },
        { "hour 24", "2026-12-01T24:00:00Z", 0, -EINVAL, 0 },
        { "leap second", "2026-12-31T23:59:60Z", 0, -EINVAL, 0 },
        { "short offset", "2026-12-01T04:03:12+1:00", 0, -EINVAL, 0 },
        { "offset no colon", "2026-12-01T04:03:12+0100", 0, -EINVAL, 0 },
        { "offset minutes 60", "2026-12-01T04:03:12+01:60", 0, -EINVAL, 0 },
        { "trailing garbage", "2026-12-01T04:03:12Zx", 0, -EINVAL, 0 },
        { "date trailing garbage", "2026-12-01x", 1, -EINVAL, 0 },
        { "two-digit year", "26-12-01T04:03:12Z", 0, -EINVAL, 0 },
        { "empty", "", 1, -EINVAL, 0 },
};

static void test_parse(void **state)
{
        for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
                int64_t us = 12345;
                const char *t = parse_cases[i].text;
                int r = tm_parse_rfc3339(t, strlen(t), parse_cases[i].allow_date, &us);

                if (r != parse_cases[i].ret)
                        fail_msg("case '%s': returned %d want %d", parse_cases[i].name, r,
                                 parse_cases[i].ret);
                if (r == 0 && us != parse_cases[i].us)
                        fail_msg("case '%s': got %lld want %lld", parse_cases[i].name,
                                 (long long)us, (long long)parse_cases[i].us);
                if (r < 0 && us != 12345)
                        fail_msg("case '%s': ret_us touched on failure", parse_cases[i].name);
        }
        (void)base;
}

static void test_parse_len_bounded(void **state)
{
        /* Only len bytes are read: a longer buffer with a valid prefix is judged by len. */
        const char *s = "2026-12-01T04:03:12Zgarbage";
        int64_t us = 0;

        assert_int_equal(tm_parse_rfc3339(s, 20, 0, &us), 0);
        assert_true(us == base);
        assert_int_equal(tm_parse_rfc3339(s, 19, 0, &us), -EINVAL);
}

static int is_leap(int64_t y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static void test_civil(void **state)
{
        int64_t y;
        unsigned m, d;

        assert_true(tm_days_from_civil(1970, 1, 1) == 0);
        assert_true(tm_days_from_civil(2000, 3, 1) == 11017);
        assert_true(tm_days_from_civil(1969, 12, 31) == -1);
        assert_true(tm_days_from_civil(0, 1, 1) == -719528);
        /* Feb 29 exists exactly in leap years, proleptically, also before year 0. */
        for (int64_t yr = -1000; yr <= 3000; yr++) {
                int64_t gap = tm_days_from_civil(yr, 3, 1) - tm_days_from_civil(yr, 2, 28);
                int64_t len = tm_days_from_civil(yr + 1, 1, 1) - tm_days_from_civil(yr, 1, 1);

                if (gap != 1 + is_leap(yr) || len != 365 + is_leap(yr))
                        fail_msg("year %lld: gap %lld len %lld", (long long)yr, (long long)gap,
                                 (long long)len);
        }
        /* Walking day by day, the inverse advances the calendar one day at a time. */
        tm_civil_from_days(-800000, &y, &m, &d);
        for (int64_t days = -800000; days <= 800000; days++) {
                int64_t y2;
                unsigned m2, d2;

                tm_civil_from_days(days, &y2, &m2, &d2);
                if (tm_days_from_civil(y2, m2, d2) != days)
                        fail_msg("day %lld does not round-trip", (long long)days);
                if (days > -800000) {
                        int next_month = d2 == 1 && (m2 == m % 12 + 1);
                        int same_month = y2 == y && m2 == m && d2 == d + 1;

                        if (!same_month && !(next_month && (m2 != 1 || y2 == y + 1)))
                                fail_msg("day %lld: %lld-%u-%u after %lld-%u-%u", (long long)days,
                                         (long long)y2, m2, d2, (long long)y, m, d);
                }
                y = y2;
                m = m2;
                d = d2;
        }
}

static void test_random_round_trip(void **state)
{
        const int64_t lo = INT64_C(-62167219200000000), hi = INT64_C(253402300799999999);
        uint64_t x = 88172645463325252u;
        char out[TM_RFC3339_LEN];

        for (int i = 0; i < 100000; i++) {
                int64_t us, back = 0;

                us = lo + (int64_t)(test_rng_next(&x) % (uint64_t)(hi - lo + 1));
                tm_format_rfc3339(us, out);
                if (tm_parse_rfc3339(out, strlen(out), 0, &back) != 0 || back != us)
                        fail_msg("%lld -> %s -> %lld", (long long)us, out, (long long)back);
        }
}

/* prestore7: tm_format_rfc3339 (unsigned divisions from year 0, digits by pairs) against the
 * former digit-by-digit formatter over tm_civil_from_days as the model: random instants of
 * the whole range, every day of years 0-1 and around 1970, 2000 and 9999, the clamps. */
static void model_format(int64_t us, char out[TM_RFC3339_LEN])
{
        const int64_t lo = INT64_C(-62167219200000000), hi = INT64_C(253402300799999999);
        int64_t secs, days, y;
        unsigned m, d, sod, frac;
        char tmp[64];

        us = us < lo ? lo : us > hi ? hi : us;
        secs = us / 1000000 - (us % 1000000 < 0);
        frac = (unsigned)(us - secs * 1000000);
        days = secs / 86400 - (secs % 86400 < 0);
        sod = (unsigned)(secs - days * 86400);
        tm_civil_from_days(days, &y, &m, &d);
        snprintf(tmp, sizeof(tmp), "%04lld-%02u-%02uT%02u:%02u:%02u.%06uZ", (long long)y, m, d,
                 sod / 3600, sod / 60 % 60, sod % 60, frac);
        assert_int_equal(strlen(tmp), TM_RFC3339_LEN - 1);
        memcpy(out, tmp, TM_RFC3339_LEN);
}

static void expect_format(int64_t us)
{
        char got[TM_RFC3339_LEN], want[TM_RFC3339_LEN];

        memset(got, 'x', sizeof(got));
        tm_format_rfc3339(us, got);
        model_format(us, want);
        if (memcmp(got, want, TM_RFC3339_LEN) != 0)
                fail_msg("%lld: got %.28s want %s", (long long)us, got, want);
}

static void test_format_model(void **state)
{
        const int64_t day = INT64_C(86400000000), y0 = INT64_C(-62167219200000000);
        const int64_t starts[] = { y0, INT64_C(-31536000000000) * 2, INT64_C(946684800000000) -
                                   400 * day, INT64_C(253402300799999999) - 800 * day };
        uint64_t x = 0x9e3779b97f4a7c15u;

        (void)state;
        for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++)
                for (int64_t i = -2; i < 800; i++) {
                        expect_format(starts[s] + i * day);
                        expect_format(starts[s] + i * day - 1);
                        expect_format(starts[s] + i * day + 86399999999);
                }
        for (int i = 0; i < 200000; i++) {
                uint64_t r = test_rng_next(&x);

                expect_format(y0 + (int64_t)(r % UINT64_C(315569520000000000)));
                expect_format((int64_t)r); /* anywhere, clamps included */
        }
        expect_format(INT64_MIN);
        expect_format(INT64_MAX);
}

/* tm_format_rfc3339_cached (performance, issue 12: the date kept per day) against the model
 * through one cache: steps of a few seconds to a few days from many starts (midnights, the
 * leap days of 1900, 2000, 2024, 2100 and 2400, year ends, the clamps), so that the day
 * stays, moves by one, jumps and comes back; then random instants anywhere. */
static void expect_format_cached(struct tm_day_text *c, int64_t us)
{
        char got[TM_RFC3339_LEN], want[TM_RFC3339_LEN];

        memset(got, 'x', sizeof(got));
        assert_ptr_equal(tm_format_rfc3339_cached(c, us, got), got);
        model_format(us, want);
        if (memcmp(got, want, TM_RFC3339_LEN) != 0)
                fail_msg("%lld: got %.28s want %s", (long long)us, got, want);
}

static void test_format_cached_model(void **state)
{
        static const char *const starts[] = {
                "1900-02-28T23:59:58Z", "2000-02-28T23:59:58Z", "2024-02-28T23:59:58Z",
                "2100-02-28T23:59:58Z", "2400-02-28T23:59:58Z", "1969-12-31T23:59:58Z",
                "2026-12-31T23:59:58Z", "0000-01-01T00:00:00Z", "9999-12-30T23:59:58Z",
                "2024-06-15T12:00:00Z",
        };
        const int64_t sec = TM_USEC_PER_SEC, day = 86400 * sec;
        struct tm_day_text c = { 0 };
        uint64_t x = 0x2545F4914F6CDD1Du;

        (void)state;
        for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
                int64_t us = 0;

                assert_int_equal(tm_parse_rfc3339(starts[s], strlen(starts[s]), 0, &us), 0);
                for (int i = 0; i < 20000; i++) {
                        uint64_t r = test_rng_next(&x);

                        switch (r % 8) {
                        case 0: /* back to the start */
                                us -= (int64_t)(r >> 8) % (3 * day);
                                break;
                        case 1: /* a day or more on */
                                us += day + (int64_t)((r >> 8) % (uint64_t)(2 * day));
                                break;
                        default: /* a few seconds, either way */
                                us += (int64_t)((r >> 8) % (uint64_t)(6 * sec)) - 2 * sec;
                                break;
                        }
                        expect_format_cached(&c, us);
                }
        }
        for (int i = 0; i < 200000; i++) {
                uint64_t r = test_rng_next(&x);

                expect_format_cached(&c, (int64_t)r); /* anywhere, clamps included */
                expect_format_cached(&c, (int64_t)r + (int64_t)(r % 7) * sec);
        }
        expect_format_cached(&c, INT64_MIN);
        expect_format_cached(&c, INT64_MAX);
        expect_format_cached(&c, INT64_MIN);
}

static void test_clocks(void **state)
{
        int64_t a = tm_mono_us(), b = tm_mono_us();

        assert_true(b >= a);
        /* Realtime is after 2020-01-01 on any machine that builds this. */
        assert_true(tm_now_us() > INT64_C(1577836800000000));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_format_model),
                cmocka_unit_test(test_format_cached_model),
                cmocka_unit_test(test_parse_formatted),
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_len_bounded),
                cmocka_unit_test(test_civil),
                cmocka_unit_test(test_random_round_trip),
                cmocka_unit_test(test_clocks),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
