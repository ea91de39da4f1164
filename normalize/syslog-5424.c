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
#include <string.h>

#include "core/buf.h"
#include "core/tm.h"
#include "normalize/syslog.h"

/* Longest TIMESTAMP we copy for normalisation: "YYYY-MM-DDThh:mm:ss" + "." + up to 32
 * fraction digits + "+hh:mm" fits; anything longer is not a timestamp. */
#define TS_MAX 64
/* Longest SD-ID or PARAM-NAME (the RFC says 32; see above). */
#define SD_NAME_MAX 255

/* Is s[0..n) already what the copy below would make of it: no lower-case 't'/'z', at most
 * 6 fraction digits? Then it is parsed in place (performance, issue 12: nearly every
 * sender writes that form). */
static bool ts_as_is(const char *s, size_t n)
{
        size_t d = 0;

        if (memchr(s, 't', n) || memchr(s, 'z', n))
                return false;
        if (n > 19 && s[19] == '.')
                while (20 + d < n && s[20 + d] >= '0' && s[20 + d] <= '9')
                        d++;
        return d <= 6;
}

int syslog_parse_rfc3339(const char *s, size_t n, int64_t *ret_us)
{
        char t[TS_MAX];
        size_t i, o = 0, frac = 0;
        bool in_frac = false;

        if (n >= TS_MAX)
                return -EINVAL;
        if (ts_as_is(s, n))
                return tm_parse_rfc3339(s, n, 0, ret_us);
        for (i = 0; i < n; i++) {
                char c = s[i];

                if (c == 't' || c == 'z')
                        c = (char)(c - 'a' + 'A');
                if (in_frac && c >= '0' && c <= '9') {
                        /* RFC 5424 TIME-SECFRAC has at most 6 digits; drop the rest. */
                        if (++frac > 6)
                                continue;
                } else {
                        in_frac = c == '.' && o == 19;
                }
                t[o++] = c;
        }
        return tm_parse_rfc3339(t, o, 0, ret_us);
}

static bool span_is_nil(struct syslog_span sp)
{
        return sp.n == 1 && sp.p[0] == '-';
}

/* Reads one header field: a non-empty run of non-space bytes. */
static bool read_field(const char *s, size_t n, size_t *i, struct syslog_span *ret)
{
        size_t b = *i;

        while (*i < n && s[*i] != ' ')
                (*i)++;
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
