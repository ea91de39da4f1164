/* The gate record of one syslog message: PRI, format choice, and the record's every member.
 *
 * Called once per received message by the collectors (tens of thousands a second at most)
 * and by `gatelog normalize`. It never rejects input and never fails except for memory:
 * whatever the bytes, the record has all the members normalize.h lists, raw_sha256 covers
 * the bytes exactly as given, and when the text cannot hold them exactly (invalid UTF-8 or
 * NUL bytes) raw_b64 does.
 *
 * Decisions the RFCs leave to us:
 *   - The message is what remains after trailing NULs and then one "\n", "\r\n" or "\r" are
 *     removed (framing left-overs); raw_sha256 and raw_b64 still cover every byte given.
 *   - A truncated message may end inside a UTF-8 sequence: that cut is ours, not the
 *     sender's, so the incomplete sequence is dropped instead of flagged invalid_utf8.
 *   - No PRI at all (RFC 3164 section 4.3.3): PRI 13 (user.notice) is assumed, "bad_pri" is
 *     flagged, and the rest is still parsed as RFC 3164 (files and some appliances send
 *     "Mmm dd hh:mm:ss host tag: msg" without PRI).
 *   - A PRI-shaped prefix that is not a valid PRI ("<192>", "<013>", "<1a>", "<13"): also
 *     user.notice per section 4.3.3, "bad_pri", but a sender that gets PRI wrong cannot be
 *     trusted with the rest of the header, so the record is "malformed" and the message is
 *     the whole text, the bad PRI included.
 *   - "malformed" records have format "unknown", null header fields, and time = received.
 *   - "no_timestamp" is set whenever time is the receipt time (NILVALUE, bad TIMESTAMP,
 *     malformed), so that one flag tells a query whether "time" is the sender's.
 *   - procid holds the PROCID text whenever there is one; pid holds it as an integer too
 *     when it is all digits (at most 18, so that it fits int64).
 *   - raw is set only for malformed records whose text is valid UTF-8 (otherwise raw_b64
 *     carries the bytes and message their lossy text). It holds the bytes given, or the
 *     stripped message when only trailing NULs kept those from being a JSON string. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/buf.h"
#include "core/hash.h"
#include "core/tm.h"
#include "normalize/normalize.h"
#include "normalize/syslog.h"

/* The PRI RFC 3164 section 4.3.3 tells relays to assume: user.notice. */
#define PRI_DEFAULT 13
/* Longest PROCID turned into "pid": 18 digits always fit int64. */
#define PID_DIGITS_MAX 18

int norm_format_parse(const char *s, enum norm_format *ret)
{
        static const struct {
                const char *name;
                enum norm_format fmt;
        } tab[] = { { "auto", NORM_AUTO }, { "rfc5424", NORM_RFC5424 },
                    { "rfc3164", NORM_RFC3164 } };

        for (size_t i = 0; s && i < sizeof(tab) / sizeof(tab[0]); i++) {
                if (strcmp(s, tab[i].name) == 0) {
                        *ret = tab[i].fmt;
                        return 0;
                }
        }
        return -EINVAL;
}

const char *norm_facility_name(int facility)
{
        /* syslog(3)/RFC 5424 section 6.2.1 order; 13-15 use the names rsyslog prints. */
        static const char *const names[24] = {
                "kern",   "user",   "mail",   "daemon", "auth",     "syslog",  "lpr",
                "news",   "uucp",   "cron",   "authpriv", "ftp",    "ntp",     "security",
                "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4",
                "local5", "local6", "local7",
        };

        return facility >= 0 && facility < 24 ? names[facility] : NULL;
}

const char *norm_severity_name(int severity)
{
        static const char *const names[8] = { "emerg",  "alert", "crit", "err",
                                               "warning", "notice", "info", "debug" };

        return severity >= 0 && severity < 8 ? names[severity] : NULL;
}

/* Appends one problem to m->error, "; "-separated; text past the cap is cut. */
static void error_vappend(struct syslog_msg *m, const char *fmt, va_list ap)
{
        size_t used = strlen(m->error);

        if (used + 3 >= sizeof(m->error))
                return;
        if (used > 0) {
                memcpy(m->error + used, "; ", 3);
                used += 2;
        }
        vsnprintf(m->error + used, sizeof(m->error) - used, fmt, ap);
}

void syslog_msg_flag(struct syslog_msg *m, enum syslog_flag f, const char *fmt, ...)
{
        va_list ap;

        m->flags |= 1u << f;
        if (!fmt)
                return;
        va_start(ap, fmt);
        error_vappend(m, fmt, ap);
        va_end(ap);
}

void syslog_msg_malformed(struct syslog_msg *m, const char *content, size_t n,
                          const char *fmt, ...)
{
        va_list ap;

        m->flags &= ~(1u << SF_YEAR_INFERRED | 1u << SF_BAD_TIMESTAMP);
        m->flags |= 1u << SF_MALFORMED | 1u << SF_NO_TIMESTAMP;
        m->format = "unknown";
        m->has_time = false;
        m->host = m->app = m->procid = m->msgid = (struct syslog_span){ 0 };
        m->message = (struct syslog_span){ content, n };
        va_start(ap, fmt);
        error_vappend(m, fmt, ap);
        va_end(ap);
}

int syslog_parse_pri(const char *s, size_t n, int *ret_pri)
{
        size_t i = 1;
        int v = 0;

        if (n == 0 || s[0] != '<')
                return 0;
        while (i < n && i <= 4 && s[i] >= '0' && s[i] <= '9')
                v = v * 10 + (s[i++] - '0');
        /* 1-3 digits, '>', no leading zero (RFC 5424 section 6.2.1), at most 191. */
        if (i == 1 || i > 4 || i >= n || s[i] != '>' || (i > 2 && s[1] == '0') || v > 191)
                return -EINVAL;
        *ret_pri = v;
        return (int)i + 1;
}

/* Trailing NULs, then one LF, then one CR: framing, not message. */
static size_t strip_trailer(const char *s, size_t n)
{
        while (n > 0 && s[n - 1] == '\0')
                n--;
        if (n > 0 && s[n - 1] == '\n')
                n--;
        if (n > 0 && s[n - 1] == '\r')
                n--;
        return n;
}

/* Drops a UTF-8 sequence cut short by the end of s (see the top of the file). */
static size_t trim_cut_utf8(const char *s, size_t n)
{
        for (size_t k = 1; k <= 3 && k <= n; k++) {
                unsigned char c = (unsigned char)s[n - k];
                size_t need;

                if ((c & 0xC0) == 0x80)
                        continue;
                need = c < 0xC2 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 1;
                return need > k ? n - k : n;
        }
        return n;
}

/* Is s[0..n) ASCII without NUL, so valid UTF-8 (json_utf8_check's rule)? Performance
 * (issue 12): nearly all text is. json_utf8_valid took ~285 instructions for a message of
 * the mix (8 bytes a step, callgrind, round 9) and json_new_str_lossy_in ~130 for each of
 * the source's three short strings; with SSE2, 16 bytes in a handful. A false answer sends
 * the text to the general check. */
static bool ascii_text(const char *s, size_t n)
{
        const uint64_t highs = 0x8080808080808080ull, ones = 0x0101010101010101ull;
        uint64_t w, bad = 0;

#ifdef __SSE2__
        if (n >= 16) {
                const __m128i zero = _mm_setzero_si128();
                __m128i acc = zero, v;

                for (size_t i = 0; n - i > 16; i += 16) {
                        v = _mm_loadu_si128((const __m128i *)(s + i));
                        acc = _mm_or_si128(acc, _mm_or_si128(v, _mm_cmpeq_epi8(v, zero)));
                }
                /* The last 16 bytes, overlapping what was checked: ASCII either way. */
                v = _mm_loadu_si128((const __m128i *)(s + n - 16));
                acc = _mm_or_si128(acc, _mm_or_si128(v, _mm_cmpeq_epi8(v, zero)));
                return _mm_movemask_epi8(acc) == 0;
        }
#endif
        if (n < 4) {
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char)s[i] - 1u >= 0x7fu)
                                return false;
                return true;
        }
        if (n < 8) { /* the first four bytes and the last four */
                uint32_t u, v;

                memcpy(&u, s, 4);
                memcpy(&v, s + n - 4, 4);
                w = (uint64_t)u << 32 | v;
                return !((w | ((w - ones) & ~w)) & highs);
        }
        /* Words of 8, the last overlapping; a byte with its high bit set, or zero. */
        for (size_t i = 0; i < n; i += 8) {
                memcpy(&w, s + (n - i >= 8 ? i : n - 8), 8);
                bad |= w | ((w - ones) & ~w);
        }
        return !(bad & highs);
}

/* PRI, then the format's parser (or the fall-backs described at the top). */
static int parse(const char *s, size_t n, int64_t received_us, enum norm_format fmt,
                 struct syslog_msg *m)
{
        int pri = PRI_DEFAULT;
        int used = syslog_parse_pri(s, n, &pri);

        m->pri = PRI_DEFAULT;
        if (used < 0) {
                syslog_msg_flag(m, SF_BAD_PRI, "bad PRI, assumed user.notice");
                syslog_msg_malformed(m, s, n, "header not parsed");
                return 0;
        }
        if (used == 0) {
                syslog_msg_flag(m, SF_BAD_PRI, "no PRI, assumed user.notice");
                if (fmt == NORM_RFC5424) {
                        syslog_msg_malformed(m, s, n, "RFC 5424: no PRI");
                        return 0;
                }
                return syslog_parse_3164(s, n, received_us, m);
        }
        m->pri = pri;
        s += used;
        n -= (size_t)used;
        /* Auto: RFC 5424 section 6 puts VERSION (a non-zero digit) and a space right after
         * PRI; an RFC 3164 TIMESTAMP starts with a month name or, in rsyslog's variant, a
         * four-digit year. */
        if (fmt == NORM_RFC5424 ||
            (fmt == NORM_AUTO && n >= 2 && s[0] >= '1' && s[0] <= '9' && s[1] == ' '))
                return syslog_parse_5424(s, n, m);
        return syslog_parse_3164(s, n, received_us, m);
}

/* The message text the parsers' spans point into, and whether it was valid UTF-8 (checked
 * once, in normalize_syslog_recycled). */
struct body {
        const char *p;
        size_t n;
        bool valid;
        bool ascii;     /* ASCII without NUL (ascii_text): every offset is a boundary */
};

/* A span's string. Performance (issue 12): a span of valid text that starts and ends at
 * character boundaries is valid UTF-8 itself (the parsers cut at ASCII delimiters), so it
 * is copied without a second check; anything else is repaired as before. */
static json *span_json(json *rec, const struct body *b, struct syslog_span sp)
{
        uintptr_t at = (uintptr_t)sp.p - (uintptr_t)b->p;

        if (!sp.p)
                return json_new_null();
        if (b->valid && (uintptr_t)sp.p >= (uintptr_t)b->p && at <= b->n &&
            sp.n <= b->n - at &&
            (b->ascii || (json_utf8_boundary(b->p, b->n, at) &&
                          json_utf8_boundary(b->p, b->n, at + sp.n))))
                return json_new_strn_valid_in(rec, sp.p, sp.n);
        return json_new_str_lossy_in(rec, sp.p, sp.n, NULL);
}

static json *str_or_null(json *rec, const char *s)
{
        size_t n;

        if (!s)
                return json_new_null();
        n = strlen(s);
        return ascii_text(s, n) ? json_new_strn_valid_in(rec, s, n)
                                : json_new_str_lossy_in(rec, s, n, NULL);
}

/* One of our own names (facility, severity, format, flags: ASCII literals), or null. */
static json *name_or_null(json *rec, const char *s)
{
        return s ? json_new_strn_valid_in(rec, s, strlen(s)) : json_new_null();
}

static json *pid_json(json *rec, struct syslog_span sp)
{
        int64_t v = 0;

        if (!sp.p || sp.n == 0 || sp.n > PID_DIGITS_MAX)
                return json_new_null();
        for (size_t i = 0; i < sp.n; i++) {
                if (sp.p[i] < '0' || sp.p[i] > '9')
                        return json_new_null();
                v = v * 10 + (sp.p[i] - '0');
        }
        return json_new_int_in(rec, v);
}

/* A time's text; with tt, its date from tt's day (tm_format_rfc3339_cached). */
static json *time_json(json *rec, struct norm_time_text *tt, int64_t us)
{
        char t[TM_RFC3339_LEN];

        if (tt)
                tm_format_rfc3339_cached(&tt->day, us, t);
        else
                tm_format_rfc3339(us, t);
        return json_new_strn_valid_in(rec, t, TM_RFC3339_LEN - 1); /* ASCII digits and signs */
}

/* The receipt time's text, formatted again only when it changed (see norm_time_text). */
static json *received_json(json *rec, struct norm_time_text *tt, int64_t us)
{
        if (!tt)
                return time_json(rec, NULL, us);
        if (tt->len == 0 || tt->us != us) {
                tm_format_rfc3339_cached(&tt->day, us, tt->text);
                tt->len = TM_RFC3339_LEN - 1;
                tt->us = us;
        }
        return json_new_strn_valid_in(rec, tt->text, tt->len);
}

/* Members in key order, so that the object needs no sorting when serialised. */
static json *source_json(json *rec, const struct norm_source *src)
{
        static const struct json_key keys[] = { JSON_KEY("kind"), JSON_KEY("peer"),
                                                JSON_KEY("transport") };
        json *o = json_new_obj_in(rec);
        json *v[] = {
                str_or_null(rec, src && src->kind ? src->kind : "syslog"),
                str_or_null(rec, src ? src->peer : NULL),
                str_or_null(rec, src ? src->transport : NULL),
        };

        if (!o || json_obj_fill_sorted(o, keys, v, 3) < 0)
                return NULL; /* o is in rec's arena: freed with it */
        return o;
}

static json *flags_json(json *rec, unsigned flags)
{
        static const char *const names[SF__MAX] = {
                [SF_BAD_PRI] = "bad_pri",             [SF_BAD_SD] = "bad_sd",
                [SF_BAD_TIMESTAMP] = "bad_timestamp", [SF_INVALID_UTF8] = "invalid_utf8",
                [SF_MALFORMED] = "malformed",         [SF_NO_TIMESTAMP] = "no_timestamp",
                [SF_TRUNCATED] = "truncated",         [SF_YEAR_INFERRED] = "year_inferred",
        };
        json *a = json_new_arr_in(rec);

        for (int f = 0; a && f < SF__MAX; f++) {
                if ((flags & 1u << f) &&
                    json_arr_append(a, name_or_null(rec, names[f])) < 0)
                        return NULL;
        }
        return a;
}

/* Performance (issue 12): the by-value state (OpenSSL's SHA256_* functions, the same
 * assembly as EVP) instead of hash_sha256, whose EVP_DigestInit_ex2 frees and allocates the
 * provider's context on every call (~750 instructions and a malloc/free per message,
 * callgrind on the loop thread). Same digest. */
static json *sha_json(json *rec, const char *msg, size_t len)
{
        struct hash_sha256_state st;
        uint8_t h[HASH_LEN];
        char hex[HASH_HEX_LEN];

        hash_sha256_begin(&st);
        hash_sha256_update(&st, msg, len);
        hash_sha256_end(&st, h);
        return json_new_strn_valid_in(rec, hash_hex(h, HASH_LEN, hex), 2 * HASH_LEN);
}

/* The record's members, in RFC 8785 key order (the table below must stay sorted: the
 * builder trusts it, tests/normalize checks it). */
enum rec_member {
        R_ACTION, R_ACTOR, R_APP, R_CRITERIA, R_ERROR, R_FACILITY, R_FLAGS, R_FORMAT, R_HOST,
        R_MESSAGE, R_MSGID, R_OUTCOME, R_PID, R_PROCID, R_RAW, R_RAW_B64, R_RAW_SHA256,
        R_RECEIVED, R_RULE, R_SD, R_SEVERITY, R_SOURCE, R_TARGET, R_TIME, R__N
};

static const struct json_key rec_keys[R__N] = {
        [R_ACTION] = JSON_KEY("action"),     [R_ACTOR] = JSON_KEY("actor"),
        [R_APP] = JSON_KEY("app"),           [R_CRITERIA] = JSON_KEY("criteria"),
        [R_ERROR] = JSON_KEY("error"),       [R_FACILITY] = JSON_KEY("facility"),
        [R_FLAGS] = JSON_KEY("flags"),       [R_FORMAT] = JSON_KEY("format"),
        [R_HOST] = JSON_KEY("host"),         [R_MESSAGE] = JSON_KEY("message"),
        [R_MSGID] = JSON_KEY("msgid"),       [R_OUTCOME] = JSON_KEY("outcome"),
        [R_PID] = JSON_KEY("pid"),           [R_PROCID] = JSON_KEY("procid"),
        [R_RAW] = JSON_KEY("raw"),           [R_RAW_B64] = JSON_KEY("raw_b64"),
        [R_RAW_SHA256] = JSON_KEY("raw_sha256"), [R_RECEIVED] = JSON_KEY("received"),
        [R_RULE] = JSON_KEY("rule"),         [R_SD] = JSON_KEY("sd"),
        [R_SEVERITY] = JSON_KEY("severity"), [R_SOURCE] = JSON_KEY("source"),
        [R_TARGET] = JSON_KEY("target"),     [R_TIME] = JSON_KEY("time"),
};

const struct json_key *norm_record_keys(size_t *ret_n)
{
        *ret_n = R__N;
        return rec_keys;
}

/* raw, raw_b64 and raw_sha256, as decided at the top of the file. */
static void raw_json(json *rec, const struct syslog_msg *m, const char *msg, size_t len,
                     size_t body_len, json **v)
{
        bool invalid = m->flags & 1u << SF_INVALID_UTF8;
        char *b64;

        v[R_RAW] = json_new_null();
        if ((m->flags & 1u << SF_MALFORMED) && !invalid)
                v[R_RAW] = json_new_strn_in(rec, msg, json_utf8_valid(msg, len) ? len : body_len);
        v[R_RAW_B64] = json_new_null();
        if (invalid) {
                b64 = norm_base64(msg, len);
                v[R_RAW_B64] = b64 ? json_new_strn_in(rec, b64, strlen(b64)) : NULL;
                free(b64);
        }
        v[R_RAW_SHA256] = sha_json(rec, msg, len);
}

/* Fills rec, its members in RFC 8785 key order in one pass (performance, issue 12: no
 * lookup or order check per member, and the record is serialised without sorting); takes
 * m->sd (in rec's arena). */
static int build(struct syslog_msg *m, const char *msg, size_t len, size_t body_len,
                 const struct norm_source *src, struct norm_time_text *tt, int64_t received_us,
                 bool ascii, json *rec)
{
        const struct body b = { msg, body_len, !(m->flags & 1u << SF_INVALID_UTF8), ascii };
        const struct body *bp = &b;
        json *v[R__N];

        v[R_ACTION] = json_new_null();
        v[R_ACTOR] = json_new_null();
        v[R_APP] = span_json(rec, bp, m->app);
        v[R_CRITERIA] = json_new_arr_in(rec);
        v[R_ERROR] = m->error[0] ? str_or_null(rec, m->error) : json_new_null();
        v[R_FACILITY] = name_or_null(rec, m->pri >= 0 ? norm_facility_name(m->pri / 8) : NULL);
        v[R_FLAGS] = flags_json(rec, m->flags);
        v[R_FORMAT] = name_or_null(rec, m->format);
        v[R_HOST] = span_json(rec, bp, m->host);
        v[R_MESSAGE] = span_json(rec, bp, m->message);
        v[R_MSGID] = span_json(rec, bp, m->msgid);
        v[R_OUTCOME] = json_new_null();
        v[R_PID] = pid_json(rec, m->procid);
        v[R_PROCID] = span_json(rec, bp, m->procid);
        raw_json(rec, m, msg, len, body_len, v);
        v[R_RECEIVED] = received_json(rec, tt, received_us);
        v[R_RULE] = json_new_null();
        v[R_SD] = m->sd;
        m->sd = NULL;
        v[R_SEVERITY] = name_or_null(rec, m->pri >= 0 ? norm_severity_name(m->pri % 8) : NULL);
        v[R_SOURCE] = source_json(rec, src);
        v[R_TARGET] = json_new_null();
        v[R_TIME] = m->has_time ? time_json(rec, tt, m->time_us)
                                : received_json(rec, tt, received_us);
        return json_obj_fill_sorted(rec, rec_keys, v, R__N);
}

int normalize_syslog(const char *msg, size_t len, bool truncated, const struct norm_source *src,
                     int64_t received_us, enum norm_format fmt, json **ret_rec)
{
        return normalize_syslog_recycled(NULL, 0, msg, len, truncated, src, received_us, fmt,
                                         ret_rec);
}

int normalize_syslog_recycled(struct recycle *const *rc, size_t n_rc, const char *msg,
                              size_t len, bool truncated, const struct norm_source *src,
                              int64_t received_us, enum norm_format fmt, json **ret_rec)
{
        return normalize_syslog_recycled_tt(rc, n_rc, NULL, msg, len, truncated, src,
                                            received_us, fmt, ret_rec);
}

int normalize_syslog_recycled_tt(struct recycle *const *rc, size_t n_rc,
                                 struct norm_time_text *tt, const char *msg, size_t len,
                                 bool truncated, const struct norm_source *src,
                                 int64_t received_us, enum norm_format fmt, json **ret_rec)
{
        struct syslog_msg m;
        size_t body_len;
        bool ascii;
        json *rec;
        int r;

        /* All but the error text, whose first byte is enough (performance, issue 12:
         * zeroing its 160 bytes too was ~40 instructions a record). */
        memset(&m, 0, offsetof(struct syslog_msg, error));
        m.format = "unknown";
        m.pri = -1;
        m.error[0] = '\0';
        if (!msg) {
                msg = "";
                len = 0;
        }
        body_len = strip_trailer(msg, len);
        if (truncated) {
                body_len = trim_cut_utf8(msg, body_len);
                syslog_msg_flag(&m, SF_TRUNCATED, NULL);
        }
        ascii = ascii_text(msg, body_len);
        if (!ascii && !json_utf8_valid(msg, body_len))
                syslog_msg_flag(&m, SF_INVALID_UTF8, NULL);
        /* One arena chunk for the whole record (its nodes and text take about 1.5 KiB plus
         * the message's bytes a few times over): performance, issue 12. Members: 24, and
         * room for the ones the rules and the writer add. */
        rec = json_new_obj_recycled(rc, n_rc, 2048 + 2 * len);
        if (!rec || json_obj_reserve(rec, 28) < 0 || !(m.sd = json_new_obj_in(rec))) {
                r = -ENOMEM;
                goto out;
        }
        r = parse(msg, body_len, received_us, fmt, &m);
        if (r >= 0)
                r = build(&m, msg, len, body_len, src, tt, received_us, ascii, rec);
out:
        json_free(m.sd);
        if (r < 0) {
                json_free(rec);
                return r;
        }
        *ret_rec = rec;
        return 0;
}
