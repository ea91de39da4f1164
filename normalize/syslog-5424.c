/* RFC 5424 ("The Syslog Protocol") parser: the header after PRI, STRUCTURED-DATA and MSG.
 *
 * Input is one message of at most a few hundred KiB, untrusted; every read is bounded by its
 * length and nothing is assumed NUL-terminated. The parser never rejects: a header it cannot
 * read makes the record "malformed" with the whole content as message (the rule RFC 3164
 * section 4.3.3 gives relays), bad structured data keeps the elements read so far and puts
 * the rest, from the first bad element on, in the message, flagged "bad_sd". Nothing the
 * sender wrote is lost: the exact bytes are in the record's raw/raw_b64 or message.
 *
 * Deviations from the RFC's ABNF that we accept because real senders produce them:
 *   - header fields of any non-space bytes and any length (the RFC says PRINTUSASCII, at
 *     most 255/48/128/32 octets); non-UTF-8 bytes are replaced and flagged in record.c;
 *   - a message that ends right after MSGID, without " -" for STRUCTURED-DATA (seen from
 *     hand-written senders and some appliances): no structured data, no MSG;
 *   - TIMESTAMP with lower-case 't'/'z' (RFC 3339 section 5.6 allows them; RFC 5424 section
 *     6.2.3 does not) and with more than 6 fractional digits (Go and Java loggers send
 *     nanoseconds): digits past the sixth are dropped, not rounded;
 *   - ']' unescaped inside a PARAM-VALUE (section 6.3.3 says it MUST be escaped; the closing
 *     '"' delimits the value unambiguously, and rsyslog accepts it too);
 *   - SD-NAMEs up to 255 octets instead of 32.
 * Not accepted: VERSION other than 1, a missing or empty header field, leap second 60. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/tm.h"
#include "normalize/syslog.h"

/* Longest TIMESTAMP we copy for normalisation: "YYYY-MM-DDThh:mm:ss" + "." + up to 32
 * fraction digits + "+hh:mm" fits; anything longer is not a timestamp. */
#define TS_MAX 64
/* Longest SD-ID or PARAM-NAME (the RFC says 32; see above). */
#define SD_NAME_MAX 255

/* n decimal digits at s (n <= 4), or -1 when one is not a digit. */
static int digits(const char *s, int n)
{
        int v = 0;

        for (int k = 0; k < n; k++) {
                unsigned d = (unsigned)(unsigned char)s[k] - '0';

                if (d > 9)
                        return -1;
                v = v * 10 + (int)d;
        }
        return v;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Words of 8 bytes, byte k being s[k]. A word x = w ^ expected holds at each digit place
 * the digit's value when it is one (0..9: neither x nor x + 6 has a high nibble; a carry
 * out of a byte comes only from a byte that is no digit already), and 0 at each
 * separator that matches. */
#define TS_SIXES 0x0606060606060606ull
#define TS_BYTE(x, k) ((unsigned)((x) >> (8 * (k))) & 0xffu)

static uint64_t load8(const char *s)
{
        uint64_t w;

        memcpy(&w, s, 8);
        return w;
}

static bool ts_word_ok(uint64_t x, uint64_t digit_nibbles, uint64_t seps)
{
        return !(x & seps) && !((x | (x + TS_SIXES)) & digit_nibbles);
}

/* "YYYY-MM-DDThh:mm:ss" at s[0..19) ('t' for 'T'), and n >= 20: the fields, unchecked
 * for range. false when a byte is out of place. */
static bool ts_fixed(const char *s, int *y, int *mo, int *d, int *h, int *mi, int *se)
{
        /* "YYYY-MM-", "DDThh:mm" with 'T' folded to 't', "h:mm:ss" and s[19] (ignored). */
        uint64_t a = load8(s) ^ 0x2d30302d30303030ull;
        uint64_t b = (load8(s + 8) | 0x200000ull) ^ 0x30303a3030743030ull;
        uint64_t c = load8(s + 12) ^ 0x0030303a30303a30ull;

        if (!ts_word_ok(a, 0x00f0f000f0f0f0f0ull, 0xff0000ff00000000ull) ||
            !ts_word_ok(b, 0xf0f000f0f000f0f0ull, 0x0000ff0000ff0000ull) ||
            !ts_word_ok(c, 0x00f0f000f0f000f0ull, 0x000000ff0000ff00ull))
                return false;
        *y = (int)(TS_BYTE(a, 0) * 1000 + TS_BYTE(a, 1) * 100 + TS_BYTE(a, 2) * 10 +
                   TS_BYTE(a, 3));
        *mo = (int)(TS_BYTE(a, 5) * 10 + TS_BYTE(a, 6));
        *d = (int)(TS_BYTE(b, 0) * 10 + TS_BYTE(b, 1));
        *h = (int)(TS_BYTE(b, 3) * 10 + TS_BYTE(b, 4));
        *mi = (int)(TS_BYTE(b, 6) * 10 + TS_BYTE(b, 7));
        *se = (int)(TS_BYTE(c, 5) * 10 + TS_BYTE(c, 6));
        return true;
}
#else
static bool ts_fixed(const char *s, int *y, int *mo, int *d, int *h, int *mi, int *se)
{
        if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
            s[16] != ':')
                return false;
        *y = digits(s, 4);
        *mo = digits(s + 5, 2);
        *d = digits(s + 8, 2);
        *h = digits(s + 11, 2);
        *mi = digits(s + 14, 2);
        *se = digits(s + 17, 2);
        return *y >= 0 && *mo >= 0 && *d >= 0 && *h >= 0 && *mi >= 0 && *se >= 0;
}
#endif

/* The fraction's digits from s[*i] (just past '.'): the first six, scaled to
 * microseconds; the rest dropped. -1 when there is none. */
static int64_t ts_frac(const char *s, size_t n, size_t *i)
{
        int64_t frac = 0;
        size_t j = *i, nd = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* Six digits, the usual case, in one word: s[j-1..j+7) is ".dddddd?". */
        if (n - j >= 7) {
                uint64_t x = load8(s + j - 1) ^ 0x003030303030302eull;

                if (ts_word_ok(x, 0x00f0f0f0f0f0f000ull, 0xffull)) {
                        frac = ((((int64_t)TS_BYTE(x, 1) * 10 + TS_BYTE(x, 2)) * 10 +
                                 TS_BYTE(x, 3)) * 10 + TS_BYTE(x, 4)) * 100 +
                               TS_BYTE(x, 5) * 10 + TS_BYTE(x, 6);
                        nd = 6;
                        j += 6;
                }
        }
#endif
        for (; j < n && s[j] >= '0' && s[j] <= '9'; j++) {
                if (++nd <= 6)
                        frac = frac * 10 + (s[j] - '0');
        }
        if (nd == 0)
                return -1;
        for (; nd < 6; nd++)
                frac *= 10;
        *i = j;
        return frac;
}

/* RFC 3339 section 5.6 as RFC 5424 section 6.2.3 profiles it, with the deviations at the
 * top of the file, in one pass: 't' and 'z' are taken as 'T' and 'Z', fraction digits
 * past the sixth are dropped (not rounded), and anything of TS_MAX bytes or more is not a
 * timestamp. Performance (issue 12): this was a check for those deviations (two memchr),
 * a copy when there were some, then tm_parse_rfc3339, ~450 instructions a message
 * (callgrind, round 9); tests/normalize/test-syslog.c checks it against that
 * copy-then-parse as a model. */
int syslog_parse_rfc3339(const char *s, size_t n, int64_t *ret_us)
{
        int y, mo, d, h, mi, se, oh, om;
        size_t i = 19;
        int64_t frac = 0, off = 0;

        /* "YYYY-MM-DDThh:mm:ss" and at least a zone letter. */
        if (n >= TS_MAX || n < 20 || !ts_fixed(s, &y, &mo, &d, &h, &mi, &se))
                return -EINVAL;
        if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59 ||
            d > (int)tm_days_in_month((unsigned)y, (unsigned)mo))
                return -EINVAL;
        if (s[i] == '.') {
                i++;
                frac = ts_frac(s, n, &i);
                if (frac < 0)
                        return -EINVAL;
        }
        if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
                i++;
        } else if (i < n && (s[i] == '+' || s[i] == '-')) {
                if (n - i < 6 || s[i + 3] != ':' || (oh = digits(s + i + 1, 2)) < 0 ||
                    (om = digits(s + i + 4, 2)) < 0 || oh > 23 || om > 59)
                        return -EINVAL;
                off = (int64_t)(oh * 3600 + om * 60) * TM_USEC_PER_SEC;
                if (s[i] == '-')
                        off = -off;
                i += 6;
        } else {
                return -EINVAL;
        }
        if (i != n)
                return -EINVAL;
        *ret_us = (tm_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
                   mi * 60 + se) * TM_USEC_PER_SEC + frac - off;
        return 0;
}

static bool span_is_nil(struct syslog_span sp)
{
        return sp.n == 1 && sp.p[0] == '-';
}

/* The first space in s[j..n), or n. Performance (issue 12): the header's ~50 bytes cost
 * ~250 instructions a message byte by byte; eight at a time, a space is a zero byte of
 * w ^ 0x20..20, and the lowest byte flagged is the first zero (the borrow can flag bytes
 * only above a real zero). */
static size_t find_space(const char *s, size_t j, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

        for (; n - j >= 8; j += 8) {
                uint64_t w, z;

                memcpy(&w, s + j, 8);
                w ^= 0x2020202020202020ull;
                z = (w - ones) & ~w & highs;
                if (z)
                        return j + (size_t)__builtin_ctzll(z) / 8;
        }
#endif
        while (j < n && s[j] != ' ')
                j++;
        return j;
}

/* Reads one header field: a non-empty run of non-space bytes. */
static bool read_field(const char *s, size_t n, size_t *i, struct syslog_span *ret)
{
        size_t b = *i;

        *i = find_space(s, b, n);
        if (*i == b)
                return false;
        ret->p = s + b;
        ret->n = *i - b;
        return true;
}

/* SD-NAME, RFC 5424 section 6.3.2/6.3.3: PRINTUSASCII except '=', SP, ']', '"'. Copies it
 * NUL-terminated into out (json_obj_get wants a C string). */
static bool read_sd_name(const char *s, size_t n, size_t *i, char out[SD_NAME_MAX + 1])
{
        size_t b = *i;

        while (*i < n && s[*i] > ' ' && s[*i] < 127 && s[*i] != '=' && s[*i] != ']' &&
               s[*i] != '"') {
                if (*i - b == SD_NAME_MAX)
                        return false;
                (*i)++;
        }
        if (*i == b)
                return false;
        memcpy(out, s + b, *i - b);
        out[*i - b] = '\0';
        return true;
}

/* PARAM-VALUE, section 6.3.3: '"', '\' and ']' are escaped by '\'; a '\' before any other
 * byte is kept as it is, together with that byte. *i is on the opening quote; on success it
 * ends past the closing one and val holds the value. */
static int read_param_value(const char *s, size_t n, size_t *i, struct buf *val)
{
        size_t j = *i + 1;
        int r;

        buf_reset(val);
        while (j < n && s[j] != '"') {
                size_t run = j;

                while (run < n && s[run] != '"' && s[run] != '\\')
                        run++;
                r = buf_append(val, s + j, run - j);
                if (r < 0)
                        return r;
                j = run;
                if (j + 1 < n && s[j] == '\\') {
                        char e = s[j + 1];

                        if (e == '"' || e == '\\' || e == ']')
                                j++;
                        r = buf_putc(val, s[j]);
                        if (r < 0)
                                return r;
                        j++;
                } else if (j < n && s[j] == '\\') {
                        j++; /* a final '\' escapes nothing; the value is unterminated */
                }
        }
        if (j >= n)
                return -EBADMSG;
        *i = j + 1;
        return 0;
}

/* A repeated PARAM-NAME in one element turns its value into an array, in order. */
static int sd_add_param(json *elem, const char *name, json *v)
{
        json *old = json_obj_get(elem, name), *arr, *first;

        if (!v)
                return -ENOMEM;
        if (!old) /* known absent: appended without a second lookup (issue 12) */
                return json_obj_add(elem, name, v);
        if (json_type_of(old) == JSON_ARR)
                return json_arr_append(old, v);
        arr = json_new_arr_in(elem);
        first = json_clone(old);
        if (!arr || !first) {
                json_free(arr);
                json_free(first);
                json_free(v);
                return -ENOMEM;
        }
        if (json_arr_append(arr, first) < 0) {
                json_free(arr);
                json_free(v);
                return -ENOMEM;
        }
        if (json_arr_append(arr, v) < 0) {
                json_free(arr);
                return -ENOMEM;
        }
        return json_obj_set(elem, name, arr);
}

/* The params of one SD-ELEMENT after its SD-ID, up to and past ']'. */
static int sd_params(const char *s, size_t n, size_t *i, json *elem, struct buf *val,
                     const char **why)
{
        char name[SD_NAME_MAX + 1];
        int r;

        for (;;) {
                if (*i >= n) {
                        *why = "unterminated SD-ELEMENT";
                        return -EBADMSG;
                }
                if (s[*i] == ']') {
                        (*i)++;
                        return 0;
                }
                if (s[*i] != ' ') {
                        *why = "no space before SD-PARAM";
                        return -EBADMSG;
                }
                (*i)++;
                if (!read_sd_name(s, n, i, name)) {
                        *why = "bad PARAM-NAME";
                        return -EBADMSG;
                }
                if (*i + 1 >= n || s[*i] != '=' || s[*i + 1] != '"') {
                        *why = "no =\" after PARAM-NAME";
                        return -EBADMSG;
                }
                (*i)++;
                r = read_param_value(s, n, i, val);
                if (r == -EBADMSG)
                        *why = "unterminated PARAM-VALUE";
                if (r < 0)
                        return r;
                r = sd_add_param(elem, name, json_new_str_lossy_in(elem, val->len ? val->data : "",
                                                                   val->len, NULL));
                if (r < 0)
                        return r;
        }
}

/* One SD-ELEMENT, section 6.3.1: "[" SD-ID *(SP SD-PARAM) "]". Added to sd only whole.
 * Returns 0, -EBADMSG (*why set) or -ENOMEM. */
static int sd_element(const char *s, size_t n, size_t *i, json *sd, struct buf *val,
                      const char **why)
{
        char id[SD_NAME_MAX + 1];
        size_t j = *i + 1;
        json *elem;
        int r;

        if (!read_sd_name(s, n, &j, id)) {
                *why = "bad SD-ID";
                return -EBADMSG;
        }
        /* Section 6.3.2: the same SD-ID MUST NOT occur twice in a message. */
        if (json_obj_get(sd, id)) {
                *why = "repeated SD-ID";
                return -EBADMSG;
        }
        elem = json_new_obj_in(sd); /* in the record's arena (issue 12) */
        if (!elem)
                return -ENOMEM;
        r = sd_params(s, n, &j, elem, val, why);
        if (r < 0) {
                json_free(elem);
                return r;
        }
        r = json_obj_add(sd, id, elem); /* absent, checked above */
        if (r < 0)
                return r;
        *i = j;
        return 0;
}

/* MSG, section 6.4: a leading UTF-8 BOM says the text is UTF-8; it is not part of it. */
static void set_msg(struct syslog_msg *m, const char *p, size_t n)
{
        if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
                p += 3;
                n -= 3;
        }
        m->message.p = p;
        m->message.n = n;
}

/* STRUCTURED-DATA and MSG, from s[i]. */
static int parse_sd_msg(const char *s, size_t n, size_t i, struct syslog_msg *m)
{
        struct buf val = BUF_INIT;
        const char *why = NULL;
        size_t start = i;
        int r = 0;

        if (i < n && s[i] == '-') {
                i++;
                if (i < n && s[i] != ' ') {
                        i = start;
                        why = "no space after NILVALUE";
                }
        } else if (i < n && s[i] == '[') {
                while (i < n && s[i] == '[') {
                        start = i;
                        r = sd_element(s, n, &i, m->sd, &val, &why);
                        if (r == -ENOMEM)
                                goto out;
                        if (r < 0)
                                break;
                }
                if (!why && i < n && s[i] != ' ') {
                        start = i;
                        why = "no space after STRUCTURED-DATA";
                }
        } else {
                why = "no STRUCTURED-DATA";
        }
        r = 0;
        if (why) {
                syslog_msg_flag(m, SF_BAD_SD, "bad STRUCTURED-DATA: %s", why);
                m->message.p = s + start;
                m->message.n = n - start;
        } else if (i < n) {
                set_msg(m, s + i + 1, n - i - 1);
        }
out:
        buf_free(&val);
        return r;
}

int syslog_parse_5424(const char *s, size_t n, struct syslog_msg *m)
{
        static const char *const names[] = { "TIMESTAMP", "HOSTNAME", "APP-NAME", "PROCID",
                                             "MSGID" };
        struct syslog_span f[5];
        bool ends_after_msgid = false;
        size_t i;

        /* Section 6.2.2: VERSION 1 is the only one defined. */
        if (n < 2 || s[0] != '1' || s[1] != ' ') {
                syslog_msg_malformed(m, s, n, "RFC 5424: no VERSION 1");
                return 0;
        }
        i = 2;
        for (int k = 0; k < 5; k++) {
                if (!read_field(s, n, &i, &f[k])) {
                        syslog_msg_malformed(m, s, n, "RFC 5424: no %s", names[k]);
                        return 0;
                }
                if (i == n && k < 4) {
                        syslog_msg_malformed(m, s, n, "RFC 5424: header ends after %s",
                                             names[k]);
                        return 0;
                }
                if (i < n)
                        i++;
                else
                        ends_after_msgid = true;
        }
        m->format = "rfc5424";
        if (span_is_nil(f[0])) {
                syslog_msg_flag(m, SF_NO_TIMESTAMP, NULL);
        } else if (syslog_parse_rfc3339(f[0].p, f[0].n, &m->time_us) == 0) {
                m->has_time = true;
        } else {
                syslog_msg_flag(m, SF_BAD_TIMESTAMP, "bad TIMESTAMP");
                syslog_msg_flag(m, SF_NO_TIMESTAMP, NULL);
        }
        m->host = span_is_nil(f[1]) ? (struct syslog_span){ 0 } : f[1];
        m->app = span_is_nil(f[2]) ? (struct syslog_span){ 0 } : f[2];
        m->procid = span_is_nil(f[3]) ? (struct syslog_span){ 0 } : f[3];
        m->msgid = span_is_nil(f[4]) ? (struct syslog_span){ 0 } : f[4];
        if (ends_after_msgid)
                return 0; /* tolerated, see above */
        return parse_sd_msg(s, n, i, m);
}
