/* The gate record of one message from a broker (Kafka): a JSON object, a syslog line, or
 * anything else (flagged malformed, bytes kept).
 *
 * Called once per message by the Kafka collector (up to ~100k a second). Like the syslog
 * path it never rejects input and fails only for memory. Decisions:
 *   - A payload whose first non-blank byte is '{' is JSON: it must parse (RFC 8259, strict,
 *     core/json.h) into an object, or the record is malformed with the parser's reason.
 *     The object lands whole under "event"; "host"/"app" are taken from it when they are
 *     strings, "message" from "message" or "msg".
 *   - The event's time is the first of "timestamp", "ts", "time" present: an RFC 3339
 *     string, or a number of seconds since the epoch (fractions allowed), read as
 *     milliseconds from 1e11, microseconds from 1e14 and nanoseconds from 1e17 on (1e11 s
 *     is the year 5138, so no real time in seconds is mistaken). A value that is neither
 *     flags "bad_timestamp". Without such a member the broker's message timestamp serves;
 *     without that, the receipt time (flag "no_timestamp").
 *   - A payload that starts with '<' is a syslog message (normalize_syslog, which flags
 *     its own problems); its record gains event: null.
 *   - Anything else (and JSON that fails) is malformed: format "unknown", time = receipt
 *     time, raw (or raw_b64 when not UTF-8) holds the bytes kept, message their lossy text.
 *   - truncated: the collector cut the payload at its cap; raw_sha256 covers the bytes kept.
 * Every record has every member normalize.h lists, plus "event" (object or null). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/tm.h"
#include "normalize/normalize.h"
#include "normalize/syslog.h"

enum jflag { JF_BAD_TIMESTAMP, JF_INVALID_UTF8, JF_MALFORMED, JF_NO_TIMESTAMP, JF_TRUNCATED,
             JF__MAX };

static const char *const jflag_names[JF__MAX] = {
        "bad_timestamp", "invalid_utf8", "malformed", "no_timestamp", "truncated",
};

static void put(json *rec, const char *key, json *v, int *r)
{
        if (*r < 0 || !v) {
                json_free(v);
                *r = *r < 0 ? *r : -ENOMEM;
                return;
        }
        *r = json_obj_set(rec, key, v);
}

static json *time_json(int64_t us)
{
        char t[TM_RFC3339_LEN];

        return json_new_str(tm_format_rfc3339(us, t));
}

/* A JSON string member of o, or null. */
static json *member_str(const json *o, const char *key)
{
        json *v = json_obj_get(o, key);

        return v && json_type_of(v) == JSON_STR ? json_clone(v) : json_new_null();
}

/* Epoch number (seconds, or ms/us/ns by magnitude) to microseconds; -EINVAL if absurd. */
static int epoch_number_us(double v, int64_t *ret)
{
        double a = v < 0 ? -v : v, us;

        if (a >= 1e17)
                us = v / 1e3;
        else if (a >= 1e14)
                us = v;
        else if (a >= 1e11)
                us = v * 1e3;
        else
                us = v * 1e6;
        /* Years 0000..9999, what an RFC 3339 time can say. */
        if (!(us >= -62167219200e6 && us <= 253402300799e6))  /* NaN fails too */
                return -EINVAL;
        *ret = (int64_t)(us < 0 ? us - 0.5 : us + 0.5);
        return 0;
}

/* The event time from the object; 1 found, 0 none, -EINVAL present but unreadable. */
static int event_time(const json *o, int64_t *ret_us, const char **ret_key)
{
        static const char *const keys[] = { "timestamp", "ts", "time" };

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                json *v = json_obj_get(o, keys[i]);
                const char *s;
                size_t n;

                if (!v)
                        continue;
                *ret_key = keys[i];
                switch (json_type_of(v)) {
                case JSON_STR:
                        s = json_str(v, &n);
                        return tm_parse_rfc3339(s, n, 0, ret_us) == 0 ? 1 : -EINVAL;
                case JSON_INT:
                case JSON_NUM:
                        return epoch_number_us(json_num(v), ret_us) == 0 ? 1 : -EINVAL;
                default:
                        return -EINVAL;
                }
        }
        return 0;
}

static json *flags_json(unsigned flags)
{
        json *a = json_new_arr();

        for (int f = 0; a && f < JF__MAX; f++) {
                if ((flags & 1u << f) && json_arr_append(a, json_new_str(jflag_names[f])) < 0) {
                        json_free(a);
                        return NULL;
                }
        }
        return a;
}

static json *sha_json(const char *p, size_t n)
{
        uint8_t h[HASH_LEN];
        char hex[HASH_HEX_LEN];

        hash_sha256(p, n, h);
        return json_new_str(hash_hex(h, HASH_LEN, hex));
}

/* Members a JSON or malformed record shares; event (owned, may be NULL: null). */
static int build(json *rec, const char *p, size_t n, json *source, json *event,
                 int64_t received_us, int64_t time_us, unsigned flags, const char *error)
{
        static const char *const nulls[] = { "msgid", "pid", "procid", "facility", "severity",
                                             "rule", "actor", "action", "target", "outcome" };
        bool malformed = flags & 1u << JF_MALFORMED;
        bool utf8 = json_utf8_valid(p, n);
        json *msg = NULL;
        int r = 0;

        if (!utf8)
                flags |= 1u << JF_INVALID_UTF8;
        put(rec, "received", time_json(received_us), &r);
        put(rec, "time", time_json(time_us), &r);
        put(rec, "source", source, &r);
        put(rec, "format", json_new_str(malformed ? "unknown" : "json"), &r);
        put(rec, "host", event ? member_str(event, "host") : json_new_null(), &r);
        put(rec, "app", event ? member_str(event, "app") : json_new_null(), &r);
        for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
                put(rec, nulls[i], json_new_null(), &r);
        if (event) {
                msg = json_obj_get(event, "message");
                if (!msg || json_type_of(msg) != JSON_STR)
                        msg = json_obj_get(event, "msg");
                msg = msg && json_type_of(msg) == JSON_STR ? json_clone(msg) : json_new_null();
        } else {
                msg = json_new_str_lossy(p, n, NULL);
        }
        put(rec, "message", msg, &r);
        put(rec, "sd", json_new_obj(), &r);
        put(rec, "criteria", json_new_arr(), &r);
        put(rec, "raw_sha256", sha_json(p, n), &r);
        put(rec, "raw", malformed && utf8 ? json_new_strn(p, n) : json_new_null(), &r);
        if (!utf8) {
                char *b64 = norm_base64(p, n);

                put(rec, "raw_b64", b64 ? json_new_str(b64) : NULL, &r);
                free(b64);
        } else {
                put(rec, "raw_b64", json_new_null(), &r);
        }
        put(rec, "flags", flags_json(flags), &r);
        put(rec, "error", error ? json_new_str_lossy(error, strlen(error), NULL)
                                : json_new_null(), &r);
        put(rec, "event", event ? event : json_new_null(), &r);
        return r;
}

static int from_syslog(const char *p, size_t n, bool truncated, json *source,
                       int64_t received_us, json **ret_rec)
{
        const struct norm_source src = { .kind = "kafka" };
        json *rec = NULL;
        int r = normalize_syslog(p, n, truncated, &src, received_us, NORM_AUTO, &rec);

        if (r < 0) {
                json_free(source);
                return r;
        }
        put(rec, "source", source, &r);
        put(rec, "event", json_new_null(), &r);
        if (r < 0) {
                json_free(rec);
                return r;
        }
        *ret_rec = rec;
        return 0;
}

int normalize_payload(const char *p, size_t len, bool truncated, json *source,
                      int64_t received_us, int64_t msg_time_us, json **ret_rec)
{
        unsigned flags = truncated ? 1u << JF_TRUNCATED : 0;
        struct json_error jerr = { 0 };
        char error[160];
        const char *err = NULL, *key = NULL;
        json *rec, *event = NULL;
        int64_t t = received_us;
        size_t i = 0;
        int r;

        if (!p) {
                p = "";
                len = 0;
        }
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
                i++;
        if (i < len && p[i] == '<')
                return from_syslog(p, len, truncated, source, received_us, ret_rec);
        if (i < len && p[i] == '{') {
                r = json_parse(p, len, &event, &jerr);
                if (r == -ENOMEM) {
                        json_free(source);
                        return r;
                }
                if (r < 0) {
                        snprintf(error, sizeof(error), "JSON payload: %s at byte %zu",
                                 jerr.msg, jerr.offset);
                        err = error;
                        event = NULL;
                } else if (json_type_of(event) != JSON_OBJ) {
                        err = "JSON payload is not an object";
                        json_free(event);
                        event = NULL;
                }
        } else {
                err = "payload is neither a JSON object nor a syslog message";
        }
        if (event) {
                r = event_time(event, &t, &key);
                if (r < 0) {
                        flags |= 1u << JF_BAD_TIMESTAMP;
                        snprintf(error, sizeof(error), "bad time in member '%s'", key);
                        err = error;
                }
                if (r <= 0) {
                        t = msg_time_us != INT64_MIN ? msg_time_us : received_us;
                        if (msg_time_us == INT64_MIN)
                                flags |= 1u << JF_NO_TIMESTAMP;
                }
        } else {
                flags |= 1u << JF_MALFORMED | 1u << JF_NO_TIMESTAMP;
        }
        rec = json_new_obj();
        if (!rec) {
                json_free(event);
                json_free(source);
                return -ENOMEM;
        }
        r = build(rec, p, len, source, event, received_us, t, flags, err);
        if (r < 0) {
                json_free(rec);
                return r;
        }
        *ret_rec = rec;
        return 0;
}

json *normalize_kafka_source(const char *topic, int32_t partition, int64_t offset,
                             const void *key, size_t key_len, int64_t ts_us)
{
        json *o = json_new_obj();
        bool utf8 = key && json_utf8_valid(key, key_len);
        int r = 0;

        if (!o)
                return NULL;
        put(o, "kind", json_new_str("kafka"), &r);
        put(o, "topic", json_new_str_lossy(topic, strlen(topic), NULL), &r);
        put(o, "partition", json_new_int(partition), &r);
        put(o, "offset", json_new_int(offset), &r);
        put(o, "key", utf8 ? json_new_strn(key, key_len) : json_new_null(), &r);
        if (key && !utf8) {
                char *b64 = norm_base64(key, key_len);

                put(o, "key_b64", b64 ? json_new_str(b64) : NULL, &r);
                free(b64);
        } else {
                put(o, "key_b64", json_new_null(), &r);
        }
        put(o, "timestamp", ts_us != INT64_MIN ? time_json(ts_us) : json_new_null(), &r);
        if (r < 0) {
                json_free(o);
                return NULL;
        }
        return o;
}
