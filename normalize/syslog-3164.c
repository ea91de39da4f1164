/* RFC 3164 ("The BSD syslog Protocol") parser: "Mmm dd hh:mm:ss HOST TAG[PID]: MSG" after
 * the PRI (section 4.1).
 *
 * Input is one untrusted message; every read is bounded by its length. A message whose
 * header has no recognisable TIMESTAMP is, as section 4.3.2 tells relays, taken whole as
 * its content: the record is flagged "malformed" and keeps the text as its message.
 *
 * The BSD TIMESTAMP has no year and no zone. The year is the one, among the receipt year
 * and its two neighbours, that puts the time nearest to the receipt time (so "Dec 31
 * 23:59:59" received on Jan 1 belongs to the year before, and "Feb 29" only ever lands in
 * a leap year); the record says "year_inferred". The zone is the sender's local time, which
 * the message does not tell: we treat it as UTC, the only reproducible choice, and an
 * auditor comparing "time" with "received" must allow for the sender's UTC offset.
 *
 * Deviations from the RFC we accept because real senders produce them:
 *   - day of month zero-padded ("Dec 01") or unpadded after one space ("Dec 1"), besides the
 *     RFC's space padding ("Dec  1"); month names in any letter case;
 *   - an RFC 3339 timestamp in place of the BSD one (rsyslog's high-precision template,
 *     RSYSLOG_ForwardFormat), converted to UTC like RFC 5424's;
 *   - no HOSTNAME: local senders (logger -u, glibc syslog(3) over /dev/log) write
 *     "<13>Dec  1 04:03:12 tag: msg"; a first token shaped like "TAG:" or "TAG[PID]:" is
 *     taken as the tag, not the host (an IPv6 host such as "fe80::1" is not TAG-shaped
 *     because a tag's ':' must be followed by a space or the end);
 *   - TAGs longer than 32 characters and containing '-', '_', '.', '/' (systemd units,
 *     "postfix/smtpd"), besides the RFC's alphanumerics;
 *   - a token after HOSTNAME that is not TAG-shaped (no ':') is not taken as a tag: the
 *     RFC would end the TAG at the first non-alphanumeric byte, which turns ordinary first
 *     words of a message into application names. app is then null and MSG is the rest. */
#include <errno.h>
#include <string.h>

#include "core/tm.h"
#include "normalize/syslog.h"

/* Longest PID we look for between '[' and ']': PROCID's limit in RFC 5424 section 6. */
#define PID_MAX 128

static unsigned parse_month(const char *s)
{
        static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
        char lc[3];

        for (int k = 0; k < 3; k++)
                lc[k] = (char)((s[k] >= 'A' && s[k] <= 'Z') ? s[k] - 'A' + 'a' : s[k]);
        for (unsigned m = 0; m < 12; m++)
                if (memcmp(months + 3 * m, lc, 3) == 0)
                        return m + 1;
        return 0;
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static unsigned two_digits(const char *s)
{
        return (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
}

/* "Mmm dd hh:mm:ss" (section 4.1.2) at s, followed by a space or the end. Returns its
 * length, or 0 when s does not have that shape. *ret_sod is seconds of the day, or UINT32_MAX when a field is out of range. */
static size_t read_bsd_time(const char *s, size_t n, unsigned *ret_mon, unsigned *ret_day,
                            unsigned *ret_sod)
{
        size_t i = 4;
        unsigned day = 0, h, mi, se;
        bool padded = false;

        if (n < 4 || s[3] != ' ')
                return 0;
        *ret_mon = parse_month(s);
        if (*ret_mon == 0)
                return 0;
        if (i < n && s[i] == ' ') {
                padded = true;
                i++;
        }
        if (i < n && is_digit(s[i]))
                day = (unsigned)(s[i++] - '0');
        else
                return 0;
        if (i < n && is_digit(s[i]) && !padded)
                day = day * 10 + (unsigned)(s[i++] - '0');
        if (n - i < 9 || s[i] != ' ' || !is_digit(s[i + 1]) || !is_digit(s[i + 2]) ||
            s[i + 3] != ':' || !is_digit(s[i + 4]) || !is_digit(s[i + 5]) ||
            s[i + 6] != ':' || !is_digit(s[i + 7]) || !is_digit(s[i + 8]) ||
            (n - i > 9 && s[i + 9] != ' '))
                return 0;
        h = two_digits(s + i + 1);
        mi = two_digits(s + i + 4);
        se = two_digits(s + i + 7);
        *ret_day = day;
        *ret_sod = (h > 23 || mi > 59 || se > 59) ? UINT32_MAX : h * 3600 + mi * 60 + se;
        return i + 9;
}

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;

        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The nearest-year rule above. Returns 0 and *ret_us, or -EINVAL when the date exists in
 * none of the three candidate years (a bad day, or Feb 29 with no leap year near). */
static int infer_year(unsigned mon, unsigned day, unsigned sod, int64_t received_us,
                      int64_t *ret_us)
{
        int64_t ry, best = 0, best_d = -1;
        unsigned rm, rd;

        if (day < 1 || day > 31 || sod == UINT32_MAX)
                return -EINVAL;
        tm_civil_from_days(floor_div(received_us, 86400 * TM_USEC_PER_SEC), &ry, &rm, &rd);
        for (int64_t y = ry - 1; y <= ry + 1; y++) {
                int64_t days = tm_days_from_civil(y, mon, day), cy, t, d;
                unsigned cm, cd;

                /* A date past the month's end rolls over; the round trip catches it. */
                tm_civil_from_days(days, &cy, &cm, &cd);
                if (cm != mon)
                        continue;
                t = (days * 86400 + sod) * TM_USEC_PER_SEC;
                d = t > received_us ? t - received_us : received_us - t;
                if (best_d < 0 || d < best_d) {
                        best = t;
                        best_d = d;
                }
        }
        if (best_d < 0)
                return -EINVAL;
        *ret_us = best;
        return 0;
}

/* Reads the TIMESTAMP at s, sets m's time and flags. Returns the bytes used, 0 when there
 * is no TIMESTAMP-shaped text. */
static size_t read_timestamp(const char *s, size_t n, int64_t received_us,
                             struct syslog_msg *m)
{
        unsigned mon, day, sod;
        size_t len;

        len = read_bsd_time(s, n, &mon, &day, &sod);
        if (len > 0) {
                if (infer_year(mon, day, sod, received_us, &m->time_us) == 0) {
                        m->has_time = true;
                        syslog_msg_flag(m, SF_YEAR_INFERRED, NULL);
                } else {
                        syslog_msg_flag(m, SF_BAD_TIMESTAMP, "bad TIMESTAMP");
                        syslog_msg_flag(m, SF_NO_TIMESTAMP, NULL);
                }
                return len;
        }
        if (n >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
            s[4] == '-') {
                const char *sp = memchr(s, ' ', n);

                len = sp ? (size_t)(sp - s) : n;
                if (syslog_parse_rfc3339(s, len, &m->time_us) == 0) {
                        m->has_time = true;
                } else {
                        syslog_msg_flag(m, SF_BAD_TIMESTAMP, "bad TIMESTAMP");
                        syslog_msg_flag(m, SF_NO_TIMESTAMP, NULL);
                }
                return len;
        }
        return 0;
}

static bool is_tag_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
               c == '_' || c == '.' || c == '/';
}

/* "TAG:" or "TAG[PID]:" followed by a space or the end (section 4.1.3). On a match, sets
 * app and procid and returns true with *ret_next at the MSG. */
static bool read_tag(const char *s, size_t n, size_t i, struct syslog_msg *m,
                     size_t *ret_next)
{
        size_t b = i, tag_end, pid_b = 0, pid_e = 0;

        while (i < n && is_tag_char(s[i]))
                i++;
        if (i == b)
                return false;
        tag_end = i;
        if (i < n && s[i] == '[') {
                pid_b = ++i;
                while (i < n && i - pid_b < PID_MAX && s[i] != ']' && s[i] != ' ')
                        i++;
                if (i >= n || s[i] != ']' || i == pid_b)
                        return false;
                pid_e = i++;
        }
        if (i >= n || s[i] != ':' || (i + 1 < n && s[i + 1] != ' '))
                return false;
        m->app = (struct syslog_span){ s + b, tag_end - b };
        if (pid_e > pid_b)
                m->procid = (struct syslog_span){ s + pid_b, pid_e - pid_b };
        i++;
        if (i < n)
                i++; /* the space after ':' belongs to neither TAG nor MSG */
        *ret_next = i;
        return true;
}

/* HOSTNAME, TAG and MSG from s[i] (just past the TIMESTAMP's space). */
static void read_host_tag_msg(const char *s, size_t n, size_t i, struct syslog_msg *m)
{
        size_t next, b = i;

        if (i >= n)
                return;
        if (!read_tag(s, n, i, m, &next)) {
                while (i < n && s[i] != ' ')
                        i++;
                if (i == b || i == n) {
                        /* Empty or lone token: keep it as the message, not as a host. */
                        m->message = (struct syslog_span){ s + b, n - b };
                        return;
                }
                m->host = (struct syslog_span){ s + b, i - b };
                i++;
                if (!read_tag(s, n, i, m, &next))
                        next = i;
        }
        m->message = (struct syslog_span){ s + next, n - next };
}

int syslog_parse_3164(const char *s, size_t n, int64_t received_us, struct syslog_msg *m)
{
        size_t i = read_timestamp(s, n, received_us, m);

        if (i == 0) {
                syslog_msg_malformed(m, s, n, "RFC 3164: no TIMESTAMP");
                return 0;
        }
        m->format = "rfc3164";
        read_host_tag_msg(s, n, i + 1, m);
        return 0;
}
