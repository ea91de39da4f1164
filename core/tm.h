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

/* The date text of the day last formatted by tm_format_rfc3339_cached (performance, issue
 * 12: a collector's times mostly fall on one day, and the civil date conversion was about
 * half of a format's ~220 instructions). Zero-initialise it; one thread uses it. */
struct tm_day_text {
        uint64_t day1;          /* 1 + the day in date, counted from 0000-01-01; 0: none */
        char date[10];          /* "YYYY-MM-DD" */
};
/* tm_format_rfc3339 that takes the date from *c when us falls on c's day and keeps it
 * there otherwise. The same text. Returns out. */
char *tm_format_rfc3339_cached(struct tm_day_text *c, int64_t us, char out[TM_RFC3339_LEN]);

/* Parses an RFC 3339 date-time (RFC 5424 TIMESTAMP profile: 'T', optional fraction of 1-6
 * digits, 'Z' or +hh:mm/-hh:mm). Returns 0 and *ret_us (UTC), or -EINVAL. Also accepts a
 * bare date "YYYY-MM-DD" (midnight UTC) when allow_date is non-zero. */
int tm_parse_rfc3339(const char *s, size_t len, int allow_date, int64_t *ret_us);

/* Days in month m (1..12) of year y (proleptic Gregorian). */
unsigned tm_days_in_month(unsigned y, unsigned m);
/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
int64_t tm_days_from_civil(int64_t y, unsigned m, unsigned d);
/* Inverse of tm_days_from_civil. */
void tm_civil_from_days(int64_t days, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d);
