/* Time: one unit, microseconds since the Unix epoch (UTC), everywhere. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define TM_USEC_PER_SEC INT64_C(1000000)
/* "2026-12-01T04:03:12.123456Z" plus NUL */
#define TM_RFC3339_LEN 28

/* Realtime clock, in microseconds. */
int64_t tm_now_us(void);
/* Monotonic clock, in microseconds. */
int64_t tm_mono_us(void);

/* Writes RFC 3339 UTC with exactly six fractional digits and 'Z' into out (TM_RFC3339_LEN
 * bytes). Years outside 0000..9999 are clamped. Returns out. */
char *tm_format_rfc3339(int64_t us, char out[TM_RFC3339_LEN]);

/* Parses an RFC 3339 date-time (RFC 5424 TIMESTAMP profile: 'T', optional fraction of 1-6
 * digits, 'Z' or +hh:mm/-hh:mm). Returns 0 and *ret_us (UTC), or -EINVAL. Also accepts a
 * bare date "YYYY-MM-DD" (midnight UTC) when allow_date is non-zero. */
int tm_parse_rfc3339(const char *s, size_t len, int allow_date, int64_t *ret_us);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
int64_t tm_days_from_civil(int64_t y, unsigned m, unsigned d);
/* Inverse of tm_days_from_civil. */
void tm_civil_from_days(int64_t days, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d);
