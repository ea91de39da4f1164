/* Time in microseconds since the Unix epoch, and RFC 3339 formatting and parsing.
 *
 * Civil date conversion uses Howard Hinnant's days_from_civil algorithm (proleptic Gregorian,
 * exact for every int64 day that fits), so no call depends on the process time zone or on
 * gmtime's range. Parsing follows RFC 3339 section 5.6 restricted to the RFC 5424 TIMESTAMP
 * profile: upper-case 'T' and 'Z' only, 1-6 fraction digits, no leap second (60 is refused,
 * as RFC 5424 section 6.2.3 allows). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "core/tm.h"

static int64_t clock_us(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * TM_USEC_PER_SEC + ts.tv_nsec / 1000;
}

int64_t tm_now_us(void)
{
        return clock_us(CLOCK_REALTIME);
}

int64_t tm_mono_us(void)
{
        return clock_us(CLOCK_MONOTONIC);
}

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;

        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t tm_days_from_civil(int64_t y, unsigned m, unsigned d)
{
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = floor_div(y, 400);
        yoe = y - era * 400;                                       /* [0, 399] */
        doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1; /* [0, 365] */
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;               /* [0, 146096] */
        return era * 146097 + doe - 719468;
}

void tm_civil_from_days(int64_t days, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d)
{
        int64_t z = days + 719468;
        int64_t era = floor_div(z, 146097);
        int64_t doe = z - era * 146097;                                      /* [0, 146096] */
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
        int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
        unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
        unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);

        *ret_y = yoe + era * 400 + (m <= 2);
        *ret_m = m;
        *ret_d = d;
}

/* "00".."99": two digits per lookup (performance, prestore7: the record's two times were
 * ~340 instructions each digit by digit). */
static const char digit_pairs[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";

static inline void put2(char *p, unsigned v)
{
        p[0] = digit_pairs[2 * v];
        p[1] = digit_pairs[2 * v + 1];
}

/* Clamp to 0000-01-01T00:00:00.000000Z .. 9999-12-31T23:59:59.999999Z. */
static const int64_t min_us = -62167219200LL * 1000000LL;
static const int64_t max_us = 253402300799LL * 1000000LL + 999999LL;

/* Inside the clamp, counted from 0000-01-01 the value is never negative: the divisions are
 * unsigned by constants, no floor correction (performance, prestore7). */
static uint64_t clamp_from_year0(int64_t us)
{
        if (us < min_us)
                us = min_us;
        if (us > max_us)
                us = max_us;
        return (uint64_t)(us - min_us);
}

/* "YYYY-MM-DD" of day `day` counted from 0000-01-01 (at most 9999-12-31) into out[0..10).
 * The civil date is tm_civil_from_days's, shifted to that origin. */
static void put_date(uint64_t day, char *out)
{
        uint64_t z, era, doe, yoe, doy, mp, y;
        unsigned m, d;

        /* Days since 0000-03-01, the civil algorithm's origin (0000-01-01 is 60 days
         * before it), one era of 400 years up so that January and February of year 0 stay
         * positive; the era is taken off the year below. */
        z = day + 146097 - 60;
        era = z / 146097;
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
        m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
        y = yoe + era * 400 + (m <= 2) - 400;

        put2(out, (unsigned)(y / 100));
        put2(out + 2, (unsigned)(y % 100));
        out[4] = '-';
        put2(out + 5, m);
        out[7] = '-';
        put2(out + 8, d);
}

/* "Thh:mm:ss.ffffffZ" and the NUL into out[10..28). */
static void put_time(unsigned sod, unsigned frac, char *out)
{
        out[10] = 'T';
        put2(out + 11, sod / 3600);
        out[13] = ':';
        put2(out + 14, sod / 60 % 60);
        out[16] = ':';
        put2(out + 17, sod % 60);
        out[19] = '.';
        put2(out + 20, frac / 10000);
        put2(out + 22, frac / 100 % 100);
        put2(out + 24, frac % 100);
        out[26] = 'Z';
        out[27] = '\0';
}

char *tm_format_rfc3339(int64_t us, char out[TM_RFC3339_LEN])
{
        uint64_t u = clamp_from_year0(us), secs = u / 1000000u;

        put_date(secs / 86400u, out);
        put_time((unsigned)(secs % 86400u), (unsigned)(u - secs * 1000000u), out);
        return out;
}

char *tm_format_rfc3339_cached(struct tm_day_text *c, int64_t us, char out[TM_RFC3339_LEN])
{
        uint64_t u = clamp_from_year0(us), secs = u / 1000000u, day = secs / 86400u;

        if (c->day1 != day + 1) {
                put_date(day, c->date);
                c->day1 = day + 1;
        }
        memcpy(out, c->date, sizeof(c->date));
        put_time((unsigned)(secs - day * 86400u), (unsigned)(u - secs * 1000000u), out);
        return out;
}

/* Reads exactly n decimal digits at s[*i]. */
static bool get_digits(const char *s, size_t len, size_t *i, int n, unsigned *ret)
{
        unsigned v = 0;

        if (len - *i < (size_t)n)
                return false;
        for (int k = 0; k < n; k++) {
                char c = s[*i + k];

                if (c < '0' || c > '9')
                        return false;
                v = v * 10 + (unsigned)(c - '0');
        }
        *i += (size_t)n;
        *ret = v;
        return true;
}

static bool expect(const char *s, size_t len, size_t *i, char c)
{
        if (*i >= len || s[*i] != c)
                return false;
        (*i)++;
        return true;
}

unsigned tm_days_in_month(unsigned y, unsigned m)
{
        static const unsigned dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

        return m == 2 && leap ? 29 : dim[m - 1];
}

/* Parses the fraction and zone after the seconds; returns the offset to subtract, in us. */
static int parse_frac_zone(const char *s, size_t len, size_t i, unsigned *ret_frac,
                           int64_t *ret_off_us)
{
        unsigned frac = 0, oh, om;
        int nd = 0;
        int64_t off = 0;

        if (i < len && s[i] == '.') {
                i++;
                while (i < len && s[i] >= '0' && s[i] <= '9') {
                        if (++nd > 6)
                                return -EINVAL;
                        frac = frac * 10 + (unsigned)(s[i++] - '0');
                }
                if (nd == 0)
                        return -EINVAL;
                for (int k = nd; k < 6; k++)
                        frac *= 10;
        }
        if (expect(s, len, &i, 'Z')) {
                off = 0;
        } else if (i < len && (s[i] == '+' || s[i] == '-')) {
                int sign = s[i++] == '-' ? -1 : 1;

                if (!get_digits(s, len, &i, 2, &oh) || !expect(s, len, &i, ':') ||
                    !get_digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
                        return -EINVAL;
                off = sign * (int64_t)(oh * 3600 + om * 60) * TM_USEC_PER_SEC;
        } else {
                return -EINVAL;
        }
        if (i != len)
                return -EINVAL;
        *ret_frac = frac;
        *ret_off_us = off;
        return 0;
}

int tm_parse_rfc3339(const char *s, size_t len, int allow_date, int64_t *ret_us)
{
        size_t i = 0;
        unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0, frac = 0; /* set for gcc -O3 */
        int64_t off = 0, us;
        int r;

        if (!s || !get_digits(s, len, &i, 4, &y) || !expect(s, len, &i, '-') ||
            !get_digits(s, len, &i, 2, &mo) || !expect(s, len, &i, '-') ||
            !get_digits(s, len, &i, 2, &d))
                return -EINVAL;
        if (mo < 1 || mo > 12 || d < 1 || d > tm_days_in_month(y, mo))
                return -EINVAL;
        if (i == len && !allow_date)
                return -EINVAL;
        if (i < len) {
                if (!expect(s, len, &i, 'T') || !get_digits(s, len, &i, 2, &h) ||
                    !expect(s, len, &i, ':') || !get_digits(s, len, &i, 2, &mi) ||
                    !expect(s, len, &i, ':') || !get_digits(s, len, &i, 2, &se))
                        return -EINVAL;
                if (h > 23 || mi > 59 || se > 59)
                        return -EINVAL;
                r = parse_frac_zone(s, len, i, &frac, &off);
                if (r < 0)
                        return r;
        }
        us = (tm_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * TM_USEC_PER_SEC +
             frac - off;
        *ret_us = us;
        return 0;
}
