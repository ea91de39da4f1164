/* The records of the journald normalizer: the gate record of an entry from what the field
 * intake gathered (normalize/journald.c), and the notices that report on the journal itself
 * (journal_gap, journal_unreadable). normalize/journald.h says what each member holds.
 * Split from normalize/journald.c (issue 12 hygiene: one concern per file); no behaviour
 * change. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/tm.h"
#include "normalize/journald.h"
#include "normalize/journald-int.h"
#include "normalize/normalize.h"

/* Longest decimal accepted for timestamps and pids: 18 digits always fit int64. */
#define DIGITS_MAX 18

static void put(json *rec, const char *key, json *v, int *r)
{
        if (*r < 0 || !v) {
                json_free(v);
                *r = *r < 0 ? *r : -ENOMEM;
                return;
        }
        *r = json_obj_set(rec, key, v);
}

/* The first text value of a known field, or NULL. */
static const char *field_text(const struct norm_journal *b, enum known k)
{
        return json_str(b->known[k], NULL);
}

/* A non-negative decimal of 1..DIGITS_MAX digits. */
static bool parse_dec(const char *s, int64_t *ret)
{
        int64_t v = 0;
        size_t i = 0;

        if (!s)
                return false;
        for (; s[i]; i++) {
                if (s[i] < '0' || s[i] > '9' || i >= DIGITS_MAX)
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        if (i == 0)
                return false;
        *ret = v;
        return true;
}

/* Values built in rec's arena (issue 12); s: valid UTF-8 (a tree string or a literal). */
static json *text_or_null(json *rec, const char *s)
{
        return s ? json_new_strn_in(rec, s, strlen(s)) : json_new_null();
}

static json *time_json(json *rec, int64_t us)
{
        char t[TM_RFC3339_LEN];
        const char *s = tm_format_rfc3339(us, t);

        return s ? json_new_strn_valid_in(rec, s, strlen(s)) : json_new_null(); /* ASCII */
}

/* time_json for the two times of an entry's record (slot 0: received, 1: the entry's time),
 * through a per-slot cache of the last second's text: the date and time of day are formatted
 * once per second, the microseconds each time (issue 12: tm_format_rfc3339 was ~340
 * instructions a call, and a catching-up journal has hundreds of entries per second of
 * both). The same text as tm_format_rfc3339 (which the cache falls back on outside 1970 ..
 * 9999, where it clamps). */
static json *time_cached(struct norm_journal *b, json *rec, int slot, int64_t us)
{
        static const int64_t max_us = INT64_C(253402300799) * TM_USEC_PER_SEC + 999999;
        struct norm_journal_time *c = &b->tcache[slot];
        int64_t sec;
        unsigned frac;

        if (us < 0 || us > max_us)
                return time_json(rec, us);
        sec = us / TM_USEC_PER_SEC;
        if (sec != c->sec) {
                tm_format_rfc3339(us, c->text);
                c->sec = sec;
        } else {
                frac = (unsigned)(us % TM_USEC_PER_SEC);
                for (int i = 25; i >= 20; i--) {
                        c->text[i] = (char)('0' + frac % 10);
                        frac /= 10;
                }
        }
        return json_new_strn_valid_in(rec, c->text, TM_RFC3339_LEN - 1); /* ASCII */
}

/* Our own ASCII literal as a string value (no strlen, no UTF-8 check). */
#define lit_json(rec, s) json_new_strn_valid_in(rec, "" s, sizeof(s) - 1)

/* The first value of a known field as a string of rec (it is one already: no strlen, no
 * UTF-8 check), or null. */
static json *str_json(json *rec, const json *v)
{
        size_t n = 0;
        const char *s = json_str(v, &n);

        return s ? json_new_strn_valid_in(rec, s, n) : json_new_null();
}
#define known_json(rec, b, k) str_json(rec, (b)->known[k])

/* The source object of an entry's record: its four members in key order in one fill
 * (json_obj_fill_sorted: no order check or call per member; issue 12). */
static json *source_json(json *rec, const char *name, const char *transport)
{
        static const struct json_key keys[] = {
                JSON_KEY("kind"), JSON_KEY("name"), JSON_KEY("peer"), JSON_KEY("transport"),
        };
        json *vals[] = {
                lit_json(rec, "journald"),
                text_or_null(rec, name), /* NULL (-ENOMEM) if not UTF-8, as before */
                json_new_null(),
                text_or_null(rec, transport),
        };
        json *o = json_new_obj_in(rec);

        _Static_assert(sizeof(keys) / sizeof(keys[0]) == sizeof(vals) / sizeof(vals[0]),
                       "a value per key");
        if (!o || json_obj_fill_sorted(o, keys, vals, sizeof(vals) / sizeof(vals[0])) < 0) {
                if (!o)
                        for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
                                json_free(vals[i]);
                json_free(o);
                return NULL;
        }
        return o;
}

static json *flags_json(json *rec, const char *const *names, size_t n)
{
        json *a = json_new_arr_in(rec);

        for (size_t i = 0; a && i < n; i++)
                if (json_arr_append(a, text_or_null(rec, names[i])) < 0) {
                        json_free(a);
                        return NULL;
                }
        return a;
}

static json *sha_json(json *rec, const uint8_t h[HASH_LEN])
{
        char hex[HASH_HEX_LEN];

        return json_new_strn_valid_in(rec, hash_hex(h, HASH_LEN, hex), 2 * HASH_LEN);
}

/* The members every journald record has in the same form. */
static void put_common(json *rec, const char *name, const char *transport, int64_t received_us,
                       int64_t time_us, int *r)
{
        static const char *const rules_keys[] = { "rule", "actor", "action", "target",
                                                  "outcome" };

        put(rec, "received", time_json(rec, received_us), r);
        put(rec, "time", time_json(rec, time_us), r);
        put(rec, "source", source_json(rec, name, transport), r);
        put(rec, "format", text_or_null(rec, "journald"), r);
        put(rec, "msgid", json_new_null(), r);
        put(rec, "sd", json_new_obj_in(rec), r);
        for (size_t i = 0; i < sizeof(rules_keys) / sizeof(rules_keys[0]); i++)
                put(rec, rules_keys[i], json_new_null(), r);
        put(rec, "criteria", json_new_arr_in(rec), r);
        put(rec, "raw", json_new_null(), r);
        put(rec, "raw_b64", json_new_null(), r);
}

/* (journald-int.h) Members in RFC 8785 key order so that the record is serialised without
 * sorting (issue 12). */
int norm_journal_build(struct norm_journal *b, json *rec, const char *name,
                       int64_t received_us, const uint8_t h[HASH_LEN])
{
        static const char *const flag_names[JF__MAX] = {
                [JF_INVALID_UTF8] = "invalid_utf8",
                [JF_JOURNAL_BAD_DATA] = "journal_bad_data",
                [JF_TRUNCATED] = "truncated",
        };
        const char *flags[JF__MAX], *pid_text;
        const json *app, *pidv;
        size_t n_flags = 0, replaced = 0;
        int64_t t = b->realtime_us, v, fac, pid, pri; /* one per use: the values below are
                                                       * built in no set order */
        json *msg = json_new_null();

        if (parse_dec(field_text(b, K_SOURCE_REALTIME), &v) && v > 0)
                t = v;
        if (b->msg_node)
                msg = str_json(rec, b->msg_node);
        else if (b->has_msg)
                msg = json_new_str_lossy_in(rec, b->msg.data ? b->msg.data : "", b->msg.len,
                                            &replaced);
        if (replaced)
                b->flags |= 1u << JF_INVALID_UTF8;
        for (int i = 0; i < JF__MAX; i++)
                if (b->flags & 1u << i)
                        flags[n_flags++] = flag_names[i];
        app = field_text(b, K_SYSLOG_IDENTIFIER) ? b->known[K_SYSLOG_IDENTIFIER]
                                                 : b->known[K_COMM];
        pidv = field_text(b, K_PID) ? b->known[K_PID] : b->known[K_SYSLOG_PID];
        pid_text = json_str(pidv, NULL);
        /* The record's members in RFC 8785 key order, in one fill (issue 12: through
         * json_obj_add_staticn each cost ~84 instructions, most of it the order check). */
        static const struct json_key keys[] = {
                JSON_KEY("action"), JSON_KEY("actor"), JSON_KEY("app"), JSON_KEY("criteria"),
                JSON_KEY("error"), JSON_KEY("facility"), JSON_KEY("flags"), JSON_KEY("format"),
                JSON_KEY("host"), JSON_KEY("journal"), JSON_KEY("message"), JSON_KEY("msgid"),
                JSON_KEY("outcome"), JSON_KEY("pid"), JSON_KEY("procid"), JSON_KEY("raw"),
                JSON_KEY("raw_b64"), JSON_KEY("raw_sha256"), JSON_KEY("received"),
                JSON_KEY("rule"), JSON_KEY("sd"), JSON_KEY("severity"), JSON_KEY("source"),
                JSON_KEY("target"), JSON_KEY("time"),
        };
        json *vals[] = {
                json_new_null(),
                json_new_null(),
                str_json(rec, app),
                json_new_arr_in(rec),
                b->error[0] ? json_new_str_lossy_in(rec, b->error, strlen(b->error), NULL)
                            : json_new_null(),
                text_or_null(rec, parse_dec(field_text(b, K_FACILITY), &fac) && fac < 24
                                          ? norm_facility_name((int)fac) : NULL),
                flags_json(rec, flags, n_flags),
                lit_json(rec, "journald"),
                known_json(rec, b, K_HOSTNAME),
                b->fields,
                msg,
                json_new_null(),
                json_new_null(),
                parse_dec(pid_text, &pid) ? json_new_int_in(rec, pid) : json_new_null(),
                str_json(rec, pidv),
                json_new_null(),
                json_new_null(),
                sha_json(rec, h),
                time_cached(b, rec, 0, received_us),
                json_new_null(),
                json_new_obj_in(rec),
                text_or_null(rec, parse_dec(field_text(b, K_PRIORITY), &pri) && pri < 8
                                          ? norm_severity_name((int)pri) : NULL),
                source_json(rec, name, field_text(b, K_TRANSPORT)),
                json_new_null(),
                time_cached(b, rec, 1, t),
        };

        _Static_assert(sizeof(keys) / sizeof(keys[0]) == sizeof(vals) / sizeof(vals[0]),
                       "a value per key");
        b->fields = NULL; /* taken by the fill, also on failure */
        return json_obj_fill_sorted(rec, keys, vals, sizeof(vals) / sizeof(vals[0]));
}

const char *norm_journal_transport(const struct norm_journal *b)
{
        return field_text(b, K_TRANSPORT);
}

/* A record that reports on the journal instead of carrying an entry. */
static int notice(const char *name, const char *flag, const char *message, json *journal,
                  int64_t time_us, int64_t received_us, json **ret_rec)
{
        json *rec = json_new_obj();
        uint8_t h[HASH_LEN];
        int r = 0;

        if (!rec || !journal) {
                json_free(rec);
                json_free(journal);
                return -ENOMEM;
        }
        hash_sha256(message, strlen(message), h);
        put_common(rec, name, NULL, received_us, time_us, &r);
        put(rec, "host", json_new_null(), &r);
        put(rec, "app", json_new_null(), &r);
        put(rec, "pid", json_new_null(), &r);
        put(rec, "procid", json_new_null(), &r);
        put(rec, "facility", json_new_null(), &r);
        put(rec, "severity", json_new_null(), &r);
        put(rec, "message", json_new_str_lossy(message, strlen(message), NULL), &r);
        put(rec, "journal", journal, &r);
        put(rec, "raw_sha256", sha_json(rec, h), &r);
        put(rec, "flags", flags_json(rec, &flag, 1), &r);
        put(rec, "error", json_new_str_lossy(message, strlen(message), NULL), &r);
        if (r < 0) {
                json_free(rec);
                return r;
        }
        *ret_rec = rec;
        return 0;
}

static json *cursor_or_null(const char *c)
{
        return c ? json_new_str_lossy(c, strlen(c), NULL) : json_new_null();
}

static json *time_or_null(int64_t us)
{
        return us > 0 ? time_json(NULL, us) : json_new_null();
}

int norm_journal_gap(const char *name, const char *after_cursor, int64_t after_us,
                     const char *before_cursor, int64_t before_us, int64_t missing,
                     const char *why, int64_t received_us, json **ret_rec)
{
        char a[TM_RFC3339_LEN] = "?", bt[TM_RFC3339_LEN] = "?", msg[384], n[32] = "";
        json *j = json_new_obj();
        int r = 0;

        if (after_us > 0)
                tm_format_rfc3339(after_us, a);
        if (before_us > 0)
                tm_format_rfc3339(before_us, bt);
        if (missing >= 0)
                snprintf(n, sizeof(n), "%lld ", (long long)missing);
        snprintf(msg, sizeof(msg), "%sjournal entries %s missing between %s and %s: %s", n,
                 missing >= 0 ? "are" : "may be", a, bt, why);
        if (j) {
                put(j, "gap_after_cursor", cursor_or_null(after_cursor), &r);
                put(j, "gap_after_time", time_or_null(after_us), &r);
                put(j, "gap_before_cursor", cursor_or_null(before_cursor), &r);
                put(j, "gap_before_time", time_or_null(before_us), &r);
                put(j, "missing", missing >= 0 ? json_new_int(missing) : json_new_null(), &r);
                if (r < 0) {
                        json_free(j);
                        return r;
                }
        }
        return notice(name, "journal_gap", msg, j, after_us > 0 ? after_us : received_us,
                      received_us, ret_rec);
}

int norm_journal_unreadable(const char *name, const char *file, const char *error,
                            int64_t received_us, json **ret_rec)
{
        char msg[512];
        json *j = json_new_obj();
        int r = 0;

        snprintf(msg, sizeof(msg), "journal file cannot be read, its entries are skipped: %s: %s",
                 file, error);
        if (j) {
                put(j, "file", json_new_str_lossy(file, strlen(file), NULL), &r);
                put(j, "error", json_new_str_lossy(error, strlen(error), NULL), &r);
                if (r < 0) {
                        json_free(j);
                        return r;
                }
        }
        return notice(name, "journal_unreadable", msg, j, received_us, received_us, ret_rec);
}
