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

/* put with a literal key known to be new in rec (no lookup, no copy, no strlen). */
static void add_n(json *rec, const char *key, size_t key_len, json *v, int *r)
{
        if (*r < 0 || !v) {
                json_free(v);
                *r = *r < 0 ? *r : -ENOMEM;
                return;
        }
        *r = json_obj_add_staticn(rec, key, key_len, v);
}
#define add(rec, key, v, r) add_n(rec, "" key, sizeof(key) - 1, v, r)

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

static json *source_json(json *rec, const char *name, const char *transport)
{
        json *o = json_new_obj_in(rec);
        int r = 0;

        if (!o)
                return NULL;
        add(o, "kind", lit_json(rec, "journald"), &r);
        add(o, "name", text_or_null(rec, name), &r); /* NULL (-ENOMEM) if not UTF-8, as before */
        add(o, "peer", json_new_null(), &r);
        add(o, "transport", text_or_null(rec, transport), &r);
        if (r < 0) {
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
        int64_t t = b->realtime_us, v;
        json *msg = json_new_null();
        int r = 0;

        if (parse_dec(field_text(b, K_SOURCE_REALTIME), &v) && v > 0)
                t = v;
        if (b->has_msg)
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
        add(rec, "action", json_new_null(), &r);
        add(rec, "actor", json_new_null(), &r);
        add(rec, "app", str_json(rec, app), &r);
        add(rec, "criteria", json_new_arr_in(rec), &r);
        add(rec, "error", b->error[0] ? json_new_str_lossy_in(rec, b->error, strlen(b->error),
                                                              NULL)
                                      : json_new_null(), &r);
        add(rec, "facility", text_or_null(rec, parse_dec(field_text(b, K_FACILITY), &v) &&
                                          v < 24 ? norm_facility_name((int)v) : NULL), &r);
        add(rec, "flags", flags_json(rec, flags, n_flags), &r);
        add(rec, "format", lit_json(rec, "journald"), &r);
        add(rec, "host", known_json(rec, b, K_HOSTNAME), &r);
        add(rec, "journal", b->fields, &r);
        b->fields = NULL;
        add(rec, "message", msg, &r);
        add(rec, "msgid", json_new_null(), &r);
        add(rec, "outcome", json_new_null(), &r);
        add(rec, "pid", parse_dec(pid_text, &v) ? json_new_int_in(rec, v) : json_new_null(), &r);
        add(rec, "procid", str_json(rec, pidv), &r);
        add(rec, "raw", json_new_null(), &r);
        add(rec, "raw_b64", json_new_null(), &r);
        add(rec, "raw_sha256", sha_json(rec, h), &r);
        add(rec, "received", time_json(rec, received_us), &r);
        add(rec, "rule", json_new_null(), &r);
        add(rec, "sd", json_new_obj_in(rec), &r);
        add(rec, "severity", text_or_null(rec, parse_dec(field_text(b, K_PRIORITY), &v) && v < 8
                                          ? norm_severity_name((int)v) : NULL), &r);
        add(rec, "source", source_json(rec, name, field_text(b, K_TRANSPORT)), &r);
        add(rec, "target", json_new_null(), &r);
        add(rec, "time", time_json(rec, t), &r);
        return r;
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
