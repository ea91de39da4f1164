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

/* Adds key (new to rec) with v unless an earlier step failed; consumes v either way. */
static void put(json *rec, const char *key, json *v, int *r)
{
        if (*r < 0 || !v) {
                json_free(v);
                *r = *r < 0 ? *r : -ENOMEM;
                return;
        }
        *r = json_obj_set(rec, key, v);
}

/* Performance (issue 12, round 9): the strings below are our own ASCII (times, hex, flag
 * names) or pieces of text the parser or a caller already checked, so they are copied with
 * json_new_strn_valid_in, not checked for UTF-8 a second time. */
static json *time_json(json *rec, int64_t us)
{
        char t[TM_RFC3339_LEN];

        tm_format_rfc3339(us, t);
        return json_new_strn_valid_in(rec, t, TM_RFC3339_LEN - 1);  /* always that long */
}

static json *lit(json *rec, const char *s)
{
        return json_new_strn_valid_in(rec, s, strlen(s));
}

/* The members of the event the record reads, found in one pass over its members
 * (performance, issue 12: one scan instead of six lookups; the parser made the keys
 * unique, so the first match is the only one). NULL: absent. */
struct event_refs {
        const json *timestamp, *ts, *time;     /* event_time's order of preference */
        const json *app, *host, *message, *msg;
};

static void event_refs_find(const json *event, struct event_refs *ret)
{
        size_t n = json_len(event);

        *ret = (struct event_refs){ 0 };
        for (size_t i = 0; i < n; i++) {
                const char *k;
                size_t kn;
                const json *v = json_obj_at(event, i, &k, &kn);
                const json **slot = NULL;

                switch (kn) {
                case 2:
                        slot = !memcmp(k, "ts", 2) ? &ret->ts : NULL;
                        break;
                case 3:
                        slot = !memcmp(k, "app", 3) ? &ret->app
                             : !memcmp(k, "msg", 3) ? &ret->msg : NULL;
                        break;
                case 4:
                        slot = !memcmp(k, "host", 4) ? &ret->host
                             : !memcmp(k, "time", 4) ? &ret->time : NULL;
                        break;
                case 7:
                        slot = !memcmp(k, "message", 7) ? &ret->message : NULL;
                        break;
                case 9:
                        slot = !memcmp(k, "timestamp", 9) ? &ret->timestamp : NULL;
                        break;
                default:
                        break;
                }
                if (slot)
                        *slot = v;
        }
}

/* A string member of the event (v, or NULL when absent), copied into rec's arena, or null.
 * The event's own node is not shared: a rule that rewrote "host" in place would rewrite
 * event.host too. Parsed strings are valid UTF-8 without NUL (core/json.h). */
static json *member_str(json *rec, const json *v)
{
        const char *s;
        size_t n;

        if (!v || json_type_of(v) != JSON_STR)
                return json_new_null();
        s = json_str(v, &n);
        return json_new_strn_valid_in(rec, s, n);
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

/* The event time from the object's members; 1 found, 0 none, -EINVAL present but
 * unreadable. */
static int event_time(const struct event_refs *er, int64_t *ret_us, const char **ret_key)
{
        static const char *const keys[] = { "timestamp", "ts", "time" };
        const json *const vals[] = { er->timestamp, er->ts, er->time };

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                const json *v = vals[i];
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

static json *flags_json(json *rec, unsigned flags)
{
        json *a = json_new_arr_in(rec);

        for (int f = 0; a && f < JF__MAX; f++) {
                if ((flags & 1u << f) && json_arr_append(a, lit(rec, jflag_names[f])) < 0)
                        return NULL;
        }
        return a;
}

/* Performance (issue 12): the by-value state (as normalize/record.c) instead of
 * hash_sha256, whose EVP_DigestInit_ex2 frees and allocates the provider's context on
 * every call (~900 instructions and a malloc/free per message, callgrind, round 9). Same
 * digest. */
static json *sha_json(json *rec, const char *p, size_t n)
{
        struct hash_sha256_state st;
        uint8_t h[HASH_LEN];
        char hex[HASH_HEX_LEN];

        hash_sha256_begin(&st);
        hash_sha256_update(&st, p, n);
        hash_sha256_end(&st, h);
        return json_new_strn_valid_in(rec, hash_hex(h, HASH_LEN, hex), 2 * HASH_LEN);
}

static json *message_json(json *rec, const char *p, size_t n, const json *event,
                          const struct event_refs *er)
{
        const json *msg = er->message;

        if (!event)
                return json_new_str_lossy_in(rec, p, n, NULL);
        if (!msg || json_type_of(msg) != JSON_STR)
                msg = er->msg;
        return member_str(rec, msg);
}

static json *raw_b64_json(json *rec, const char *p, size_t n, bool utf8)
{
        char *b64;
        json *v;

        if (utf8)
                return json_new_null();
        b64 = norm_base64(p, n);
        v = b64 ? json_new_strn_in(rec, b64, strlen(b64)) : NULL;
        free(b64);
        return v;
}

/* The members of a JSON or malformed record, in RFC 8785 key order (the table must stay
 * sorted: json_obj_fill_sorted trusts it; tests/kafka/test-json-event.c checks it). */
enum jrec_member {
        J_ACTION, J_ACTOR, J_APP, J_CRITERIA, J_ERROR, J_EVENT, J_FACILITY, J_FLAGS, J_FORMAT,
        J_HOST, J_MESSAGE, J_MSGID, J_OUTCOME, J_PID, J_PROCID, J_RAW, J_RAW_B64, J_RAW_SHA256,
        J_RECEIVED, J_RULE, J_SD, J_SEVERITY, J_SOURCE, J_TARGET, J_TIME, J__N
};

static const struct json_key jrec_keys[J__N] = {
        [J_ACTION] = JSON_KEY("action"),     [J_ACTOR] = JSON_KEY("actor"),
        [J_APP] = JSON_KEY("app"),           [J_CRITERIA] = JSON_KEY("criteria"),
        [J_ERROR] = JSON_KEY("error"),       [J_EVENT] = JSON_KEY("event"),
        [J_FACILITY] = JSON_KEY("facility"), [J_FLAGS] = JSON_KEY("flags"),
        [J_FORMAT] = JSON_KEY("format"),     [J_HOST] = JSON_KEY("host"),
        [J_MESSAGE] = JSON_KEY("message"),   [J_MSGID] = JSON_KEY("msgid"),
        [J_OUTCOME] = JSON_KEY("outcome"),   [J_PID] = JSON_KEY("pid"),
        [J_PROCID] = JSON_KEY("procid"),     [J_RAW] = JSON_KEY("raw"),
        [J_RAW_B64] = JSON_KEY("raw_b64"),   [J_RAW_SHA256] = JSON_KEY("raw_sha256"),
        [J_RECEIVED] = JSON_KEY("received"), [J_RULE] = JSON_KEY("rule"),
        [J_SD] = JSON_KEY("sd"),             [J_SEVERITY] = JSON_KEY("severity"),
        [J_SOURCE] = JSON_KEY("source"),     [J_TARGET] = JSON_KEY("target"),
        [J_TIME] = JSON_KEY("time"),
};

/* The source's members, in RFC 8785 key order (as jrec_keys). */
enum jsrc_member { S_KEY, S_KEY_B64, S_KIND, S_OFFSET, S_PARTITION, S_TIMESTAMP, S_TOPIC, S__N };

static const struct json_key jsrc_keys[S__N] = {
        [S_KEY] = JSON_KEY("key"),             [S_KEY_B64] = JSON_KEY("key_b64"),
        [S_KIND] = JSON_KEY("kind"),           [S_OFFSET] = JSON_KEY("offset"),
        [S_PARTITION] = JSON_KEY("partition"), [S_TIMESTAMP] = JSON_KEY("timestamp"),
        [S_TOPIC] = JSON_KEY("topic"),
};

const struct json_key *norm_payload_keys(size_t *ret_n, const struct json_key **ret_source,
                                         size_t *ret_source_n)
{
        *ret_n = J__N;
        *ret_source = jsrc_keys;
        *ret_source_n = S__N;
        return jrec_keys;
}

/* Fills rec (empty, its own root) with the members a JSON or malformed record has, in one
 * sorted fill so that it is serialised without sorting (performance, issue 12: no call per
 * member); event (in rec's arena, or NULL: null) and source (owned always) become members. */
static int build(json *rec, const char *p, size_t n, json *source, json *event,
                 int64_t received_us, int64_t time_us, unsigned flags, const char *error,
                 const struct event_refs *er)
{
        bool malformed = flags & 1u << JF_MALFORMED;
        /* A payload that parsed is valid UTF-8 without NUL: the parser refuses anything
         * else, inside strings and out. */
        bool utf8 = event || json_utf8_valid(p, n);
        json *v[J__N];

        if (!utf8)
                flags |= 1u << JF_INVALID_UTF8;
        v[J_ACTION] = json_new_null();
        v[J_ACTOR] = json_new_null();
        v[J_APP] = event ? member_str(rec, er->app) : json_new_null();
        v[J_CRITERIA] = json_new_arr_in(rec);
        v[J_ERROR] = error ? json_new_str_lossy_in(rec, error, strlen(error), NULL)
                           : json_new_null();
        v[J_EVENT] = event ? event : json_new_null();
        v[J_FACILITY] = json_new_null();
        v[J_FLAGS] = flags_json(rec, flags);
        v[J_FORMAT] = lit(rec, malformed ? "unknown" : "json");
        v[J_HOST] = event ? member_str(rec, er->host) : json_new_null();
        v[J_MESSAGE] = message_json(rec, p, n, event, er);
        v[J_MSGID] = json_new_null();
        v[J_OUTCOME] = json_new_null();
        v[J_PID] = json_new_null();
        v[J_PROCID] = json_new_null();
        /* raw: utf8 was checked above (no event means json_utf8_valid ran). */
        v[J_RAW] = malformed && utf8 ? json_new_strn_valid_in(rec, p, n) : json_new_null();
        v[J_RAW_B64] = raw_b64_json(rec, p, n, utf8);
        v[J_RAW_SHA256] = sha_json(rec, p, n);
        v[J_RECEIVED] = time_json(rec, received_us);
        v[J_RULE] = json_new_null();
        v[J_SD] = json_new_obj_in(rec);
        v[J_SEVERITY] = json_new_null();
        v[J_SOURCE] = source; /* freed by the fill if another value is missing */
        v[J_TARGET] = json_new_null();
        v[J_TIME] = time_json(rec, time_us);
        return json_obj_fill_sorted(rec, jrec_keys, v, J__N);
}

/* Fills o (an empty object: a root, or a node of a record) with the source of km, its
 * values in o's arena and its members in key order, so that it is serialised without
 * sorting. 0 or -ENOMEM (o's space goes with its tree). */
static int kafka_source_fill(json *o, const struct norm_kafka_msg *km)
{
        bool utf8 = km->key && json_utf8_valid(km->key, km->key_len);
        char *b64 = NULL;
        json *v[S__N];
        int r;

        v[S_KEY] = utf8 ? json_new_strn_valid_in(o, km->key, km->key_len) : json_new_null();
        if (km->key && !utf8) {
                b64 = norm_base64(km->key, km->key_len);
                v[S_KEY_B64] = b64 ? json_new_strn_valid_in(o, b64, strlen(b64)) : NULL;
                free(b64);
        } else {
                v[S_KEY_B64] = json_new_null();
        }
        v[S_KIND] = lit(o, "kafka");
        v[S_OFFSET] = json_new_int_in(o, km->offset);
        v[S_PARTITION] = json_new_int_in(o, km->partition);
        v[S_TIMESTAMP] = km->ts_us != INT64_MIN ? time_json(o, km->ts_us) : json_new_null();
        v[S_TOPIC] = json_new_str_lossy_in(o, km->topic, strlen(km->topic), NULL);
        r = json_obj_fill_sorted(o, jsrc_keys, v, S__N);
        return r;
}

/* The record's source: the caller's (owned) or, with km, a new one in rec's arena (no
 * malloc of its own: performance, issue 12). NULL when out of memory. */
static json *source_of(json *rec, json *source, const struct norm_kafka_msg *km)
{
        json *o;

        if (!km)
                return source;
        o = json_new_obj_in(rec);
        return o && kafka_source_fill(o, km) == 0 ? o : NULL;
}

static int from_syslog(struct recycle *const *rc, size_t n_rc, const char *p, size_t n,
                       bool truncated, json *source, const struct norm_kafka_msg *km,
                       int64_t received_us, json **ret_rec)
{
        const struct norm_source src = { .kind = "kafka" };
        json *rec = NULL;
        int r = normalize_syslog_recycled(rc, n_rc, p, n, truncated, &src, received_us,
                                          NORM_AUTO, &rec);

        if (r < 0) {
                json_free(source);
                return r;
        }
        put(rec, "source", source_of(rec, source, km), &r);
        put(rec, "event", json_new_null(), &r);
        if (r < 0) {
                json_free(rec);
                return r;
        }
        *ret_rec = rec;
        return 0;
}

/* The event time, flags and error of a parsed object (see the top of the file). */
static void event_meta(const struct event_refs *er, int64_t received_us, int64_t msg_time_us,
                       int64_t *t, unsigned *flags, char *error, size_t error_len,
                       const char **err)
{
        const char *key = NULL;
        int r = event_time(er, t, &key);

        if (r < 0) {
                *flags |= 1u << JF_BAD_TIMESTAMP;
                snprintf(error, error_len, "bad time in member '%s'", key);
                *err = error;
        }
        if (r <= 0) {
                *t = msg_time_us != INT64_MIN ? msg_time_us : received_us;
                if (msg_time_us == INT64_MIN)
                        *flags |= 1u << JF_NO_TIMESTAMP;
        }
}

/* Either source (owned) or km (its source is built in the record's arena) is given. */
static int payload(struct recycle *const *rc, size_t n_rc, const char *p, size_t len,
                   bool truncated, json *source, const struct norm_kafka_msg *km,
                   int64_t received_us, int64_t msg_time_us, json **ret_rec)
{
        unsigned flags = truncated ? 1u << JF_TRUNCATED : 0;
        struct json_error jerr = { 0 };
        struct event_refs er = { 0 };
        char error[160];
        const char *err = NULL;
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
                return from_syslog(rc, n_rc, p, len, truncated, source, km, received_us,
                                   ret_rec);
        /* One block for the record, the parsed payload included (issue 12): a parsed tree
         * takes about its text's size again in nodes, the record ~1.5 KiB plus the text a
         * few times (message, raw). Members: 25, and room for what rules and writer add.
         * A source built here takes ~300 bytes, its key up to twice and its topic. */
        rec = json_new_obj_recycled(rc, n_rc, 2048 + 3 * len +
                                    (km ? 320 + 2 * km->key_len + strlen(km->topic) : 0));
        if (!rec || json_obj_reserve(rec, 30) < 0) {
                json_free(rec);
                json_free(source);
                return -ENOMEM;
        }
        if (i < len && p[i] == '{') {
                r = json_parse_in(rec, p, len, &event, &jerr);
                if (r == -ENOMEM) {
                        json_free(rec);
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
                        event = NULL; /* its space goes with rec */
                }
        } else {
                err = "payload is neither a JSON object nor a syslog message";
        }
        if (event) {
                event_refs_find(event, &er);
                event_meta(&er, received_us, msg_time_us, &t, &flags, error, sizeof(error),
                           &err);
        } else {
                flags |= 1u << JF_MALFORMED | 1u << JF_NO_TIMESTAMP;
        }
        r = build(rec, p, len, source_of(rec, source, km), event, received_us, t, flags, err,
                  &er);
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
        return payload(NULL, 0, p, len, truncated, source, NULL, received_us, msg_time_us,
                       ret_rec);
}

int normalize_payload_recycled(struct recycle *const *rc, size_t n_rc, const char *p,
                               size_t len, bool truncated, json *source, int64_t received_us,
                               int64_t msg_time_us, json **ret_rec)
{
        return payload(rc, n_rc, p, len, truncated, source, NULL, received_us, msg_time_us,
                       ret_rec);
}

int normalize_kafka_recycled(struct recycle *const *rc, size_t n_rc, const char *p,
                             size_t len, bool truncated, const struct norm_kafka_msg *km,
                             int64_t received_us, json **ret_rec)
{
        return payload(rc, n_rc, p, len, truncated, NULL, km, received_us, km->ts_us,
                       ret_rec);
}


json *normalize_kafka_source(const char *topic, int32_t partition, int64_t offset,
                             const void *key, size_t key_len, int64_t ts_us)
{
        const struct norm_kafka_msg km = { .topic = topic, .partition = partition,
                                           .offset = offset, .key = key, .key_len = key_len,
                                           .ts_us = ts_us };
        /* One block (issue 12): nodes ~300 bytes, the key up to twice (base64), the topic. */
        json *o = json_new_obj_reserve(512 + 2 * key_len + 2 * strlen(topic));

        if (o && kafka_source_fill(o, &km) < 0) {
                json_free(o);
                return NULL;
        }
        return o;
}
