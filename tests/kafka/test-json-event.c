/* normalize/json-event.c: a broker payload becomes a gate record with every member of the
 * shape, the JSON object under "event", the right time, and anything unparseable flagged
 * malformed with its bytes kept. Cases in a table; each failure names its case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/recycle.h"
#include "core/tm.h"
#include "normalize/normalize.h"

/* 2026-01-02T03:04:05Z */
#define T0 INT64_C(1767323045000000)
#define RECEIVED INT64_C(1800000000000000)
#define MSG_TIME INT64_C(1790000000123000)

static const char *const shape[] = {
        "received", "time", "source", "format", "host", "app", "msgid", "pid", "procid",
        "facility", "severity", "message", "sd", "rule", "actor", "action", "target",
        "outcome", "criteria", "raw_sha256", "raw", "raw_b64", "flags", "error", "event",
};

struct tcase {
        const char *name;
        const char *payload;
        size_t len;             /* 0: strlen */
        bool truncated;
        int64_t msg_time;
        const char *format;
        const char *time;       /* expected RFC 3339 */
        const char *flags;      /* canonical JSON of the flags array */
        const char *host, *app, *message; /* NULL: null */
        bool has_event;
        bool raw;               /* raw holds the bytes */
        bool raw_b64;
};

static const struct tcase cases[] = {
        { "json rfc3339 timestamp", "{\"timestamp\":\"2026-01-02T03:04:05Z\",\"actor\":\"alice\","
          "\"host\":\"gw1\",\"app\":\"door\",\"message\":\"opened\"}", 0, false, MSG_TIME,
          "json", "2026-01-02T03:04:05.000000Z", "[]", "gw1", "door", "opened", true, false, false },
        { "json ts epoch seconds", "{\"ts\":1767323045}", 0, false, MSG_TIME, "json",
          "2026-01-02T03:04:05.000000Z", "[]", NULL, NULL, NULL, true, false, false },
        { "json ts fractional seconds", "{\"ts\":1767323045.25}", 0, false, MSG_TIME, "json",
          "2026-01-02T03:04:05.250000Z", "[]", NULL, NULL, NULL, true, false, false },
        { "json time epoch millis", "{\"time\":1767323045123,\"msg\":\"m\"}", 0, false,
          MSG_TIME, "json", "2026-01-02T03:04:05.123000Z", "[]", NULL, NULL, "m", true, false, false },
        { "json time epoch micros", "{\"time\":1767323045123456}", 0, false, MSG_TIME, "json",
          "2026-01-02T03:04:05.123456Z", "[]", NULL, NULL, NULL, true, false, false },
        { "json timestamp offset", "{\"timestamp\":\"2026-01-02T05:04:05+02:00\"}", 0, false,
          MSG_TIME, "json", "2026-01-02T03:04:05.000000Z", "[]", NULL, NULL, NULL, true, false, false },
        { "json no time: message timestamp", "{\"actor\":\"bob\"}", 0, false, MSG_TIME, "json",
          "2026-09-21T14:13:20.123000Z", "[]", NULL, NULL, NULL, true, false, false },
        { "json no time at all", "{\"actor\":\"bob\"}", 0, false, INT64_MIN, "json",
          "2027-01-15T08:00:00.000000Z", "[\"no_timestamp\"]", NULL, NULL, NULL, true, false, false },
        { "json bad time", "{\"ts\":\"yesterday\"}", 0, false, MSG_TIME, "json",
          "2026-09-21T14:13:20.123000Z", "[\"bad_timestamp\"]", NULL, NULL, NULL, true, false, false },
        { "json bool time", "{\"ts\":true}", 0, false, INT64_MIN, "json",
          "2027-01-15T08:00:00.000000Z", "[\"bad_timestamp\",\"no_timestamp\"]", NULL, NULL,
          NULL, true, false, false },
        { "json non-string host", "{\"host\":5,\"app\":[1]}", 0, false, MSG_TIME, "json",
          "2026-09-21T14:13:20.123000Z", "[]", NULL, NULL, NULL, true, false, false },
        /* The members are found in one pass (round 9): precedence is by key, not by the
         * order the members come in. */
        { "json timestamp wins over an earlier ts", "{\"ts\":\"bad\",\"time\":1,"
          "\"timestamp\":\"2026-01-02T03:04:05Z\"}", 0, false, MSG_TIME, "json",
          "2026-01-02T03:04:05.000000Z", "[]", NULL, NULL, NULL, true, false, false },
        { "json ts wins over an earlier time", "{\"time\":\"bad\",\"ts\":1767323045}", 0,
          false, MSG_TIME, "json", "2026-01-02T03:04:05.000000Z", "[]", NULL, NULL, NULL, true,
          false, false },
        { "json msg when message is not a string", "{\"msg\":\"m2\",\"message\":5,"
          "\"app\":\"a\",\"host\":\"h\",\"hostname\":\"x\",\"apps\":\"y\"}", 0, false,
          MSG_TIME, "json", "2026-09-21T14:13:20.123000Z", "[]", "h", "a", "m2", true, false,
          false },
        { "json message over msg", "{\"msg\":\"m2\",\"message\":\"m1\"}", 0, false,
          MSG_TIME, "json", "2026-09-21T14:13:20.123000Z", "[]", NULL, NULL, "m1", true, false,
          false },
        { "json escaped and non-ASCII members", "{\"host\":\"h\\u00e9\",\"app\":\"\\\"q\\\"\","
          "\"message\":\"caf\u00e9 \\ud83d\\ude00\"}", 0, false, MSG_TIME, "json",
          "2026-09-21T14:13:20.123000Z", "[]", "h\u00e9", "\"q\"", "caf\u00e9 \U0001F600", true,
          false, false },
        { "json leading white space", " \n{\"a\":1}", 0, false, MSG_TIME, "json",
          "2026-09-21T14:13:20.123000Z", "[]", NULL, NULL, NULL, true, false, false },
        { "json broken", "{\"a\":", 0, false, MSG_TIME, "unknown",
          "2027-01-15T08:00:00.000000Z", "[\"malformed\",\"no_timestamp\"]", NULL, NULL,
          "{\"a\":", false, true, false },
        { "json duplicate key", "{\"a\":1,\"a\":2}", 0, false, MSG_TIME, "unknown",
          "2027-01-15T08:00:00.000000Z", "[\"malformed\",\"no_timestamp\"]", NULL, NULL,
          "{\"a\":1,\"a\":2}", false, true, false },
        { "json truncated", "{\"actor\":\"alice\"}", 10, true, MSG_TIME, "unknown",
          "2027-01-15T08:00:00.000000Z", "[\"malformed\",\"no_timestamp\",\"truncated\"]",
          NULL, NULL, "{\"actor\":\"", false, true, false },
        { "plain text", "hello world", 0, false, MSG_TIME, "unknown",
          "2027-01-15T08:00:00.000000Z", "[\"malformed\",\"no_timestamp\"]", NULL, NULL,
          "hello world", false, true, false },
        { "json array is no event", "[1,2]", 0, false, MSG_TIME, "unknown",
          "2027-01-15T08:00:00.000000Z", "[\"malformed\",\"no_timestamp\"]", NULL, NULL,
          "[1,2]", false, true, false },
        { "binary", "\xff\xfe\x00\x01", 4, false, MSG_TIME, "unknown",
          "2027-01-15T08:00:00.000000Z",
          "[\"invalid_utf8\",\"malformed\",\"no_timestamp\"]", NULL, NULL,
          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x01", false, false, true },
        { "empty", "", 0, false, MSG_TIME, "unknown", "2027-01-15T08:00:00.000000Z",
          "[\"malformed\",\"no_timestamp\"]", NULL, NULL, "", false, true, false },
        { "syslog 5424", "<38>1 2026-01-02T03:04:05Z gw1 sshd 42 - - Accepted key", 0, false,
          MSG_TIME, "rfc5424", "2026-01-02T03:04:05.000000Z", "[]", "gw1", "sshd",
          "Accepted key", false, false, false },
};

static json *src(void)
{
        return normalize_kafka_source("access", 2, 17, "k1", 2, MSG_TIME);
}

static void check_str(const struct tcase *c, const json *rec, const char *key,
                      const char *want)
{
        json *v = json_obj_get(rec, key);

        if (!want) {
                if (json_type_of(v) != JSON_NULL)
                        fail_msg("%s: %s should be null", c->name, key);
                return;
        }
        if (json_type_of(v) != JSON_STR || strcmp(json_str(v, NULL), want) != 0)
                fail_msg("%s: %s is '%s', wanted '%s'", c->name, key,
                         json_type_of(v) == JSON_STR ? json_str(v, NULL) : "(not a string)",
                         want);
}

static void test_cases(void **state)
{
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct tcase *c = &cases[i];
                size_t len = c->len ? c->len : strlen(c->payload);
                json *rec = NULL;
                struct buf b = { 0 };

                assert_int_equal(normalize_payload(c->payload, len, c->truncated, src(),
                                                   RECEIVED, c->msg_time, &rec), 0);
                for (size_t k = 0; k < sizeof(shape) / sizeof(shape[0]); k++)
                        if (!json_obj_get(rec, shape[k]))
                                fail_msg("%s: member %s missing", c->name, shape[k]);
                check_str(c, rec, "format", c->format);
                check_str(c, rec, "time", c->time);
                check_str(c, rec, "received", "2027-01-15T08:00:00.000000Z");
                check_str(c, rec, "host", c->host);
                check_str(c, rec, "app", c->app);
                check_str(c, rec, "message", c->message);
                if (c->raw) {
                        char *kept = strndup(c->payload, len);

                        check_str(c, rec, "raw", kept);
                        free(kept);
                } else {
                        check_str(c, rec, "raw", NULL);
                }
                if (c->raw_b64 && json_type_of(json_obj_get(rec, "raw_b64")) != JSON_STR)
                        fail_msg("%s: raw_b64 missing", c->name);
                if (c->has_event != (json_type_of(json_obj_get(rec, "event")) == JSON_OBJ))
                        fail_msg("%s: event %s", c->name, c->has_event ? "missing" : "set");
                assert_int_equal(json_canon(json_obj_get(rec, "flags"), &b), 0);
                if (b.len != strlen(c->flags) || memcmp(b.data, c->flags, b.len) != 0)
                        fail_msg("%s: flags %.*s, wanted %s", c->name, (int)b.len, b.data,
                                 c->flags);
                check_str(c, json_obj_get(rec, "source"), "kind", "kafka");
                if (strcmp(c->flags, "[]") != 0 && json_type_of(json_obj_get(rec, "error")) !=
                                                           JSON_STR &&
                    strstr(c->flags, "malformed"))
                        fail_msg("%s: no error text", c->name);
                buf_free(&b);
                json_free(rec);
        }
}

static void test_event_kept_whole(void **state)
{
        const char *p = "{\"actor\":\"alice\",\"resource\":{\"door\":\"d1\"},\"decision\":\"allow\"}";
        json *rec = NULL, *want = NULL;
        struct buf a = { 0 }, b = { 0 };

        assert_int_equal(normalize_payload(p, strlen(p), false, src(), RECEIVED, MSG_TIME, &rec),
                         0);
        assert_int_equal(json_parse(p, strlen(p), &want, NULL), 0);
        assert_int_equal(json_canon(json_obj_get(rec, "event"), &a), 0);
        assert_int_equal(json_canon(want, &b), 0);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        assert_string_equal(json_str(json_path_get(rec, "event.resource.door"), NULL), "d1");
        buf_free(&a);
        buf_free(&b);
        json_free(want);
        json_free(rec);
}

static void test_source(void **state)
{
        const char bin[] = { 'k', (char)0xff };
        json *s = normalize_kafka_source("access", 2, 17, "k1", 2, MSG_TIME);
        struct buf b = { 0 };
        const char *want = "{\"key\":\"k1\",\"key_b64\":null,\"kind\":\"kafka\",\"offset\":17,"
                           "\"partition\":2,\"timestamp\":\"2026-09-21T14:13:20.123000Z\","
                           "\"topic\":\"access\"}";

        assert_int_equal(json_canon(s, &b), 0);
        assert_int_equal(b.len, strlen(want));
        assert_memory_equal(b.data, want, b.len);
        json_free(s);
        buf_free(&b);
        s = normalize_kafka_source("t", 0, 0, bin, 2, INT64_MIN);
        assert_int_equal(json_type_of(json_obj_get(s, "key")), JSON_NULL);
        assert_string_equal(json_str(json_obj_get(s, "key_b64"), NULL), "a/8=");
        assert_int_equal(json_type_of(json_obj_get(s, "timestamp")), JSON_NULL);
        json_free(s);
        s = normalize_kafka_source("t", 0, 0, NULL, 0, INT64_MIN);
        assert_int_equal(json_type_of(json_obj_get(s, "key")), JSON_NULL);
        assert_int_equal(json_type_of(json_obj_get(s, "key_b64")), JSON_NULL);
        json_free(s);
}

static void canon_equal(json *x, json *y)
{
        struct buf a = { 0 }, b = { 0 };

        assert_int_equal(json_canon(x, &a), 0);
        assert_int_equal(json_canon(y, &b), 0);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        buf_free(&a);
        buf_free(&b);
}

/* Records in recycled blocks (performance, issue 12) are the same records: every table case
 * (JSON, syslog, malformed) and payloads of growing size (small block, large block,
 * malloc), also after the rules grow them past their block. Blocks come back and are
 * reused entry after entry. */
static void test_recycled(void **state)
{
        struct recycle *rc[2];
        char big[600], p[3000];

        (void)state;
        memset(big, 'v', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(recycle_new(3072, 4, &rc[0]), 0);
        assert_int_equal(recycle_new(4096, 4, &rc[1]), 0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) + 40; i++) {
                const char *in = p;
                size_t len;
                bool trunc = false;
                int64_t mt = MSG_TIME;
                json *x = NULL, *y = NULL;

                if (i < sizeof(cases) / sizeof(cases[0])) {
                        in = cases[i].payload;
                        len = cases[i].len ? cases[i].len : strlen(in);
                        trunc = cases[i].truncated;
                        mt = cases[i].msg_time;
                } else {
                        size_t n = (i % 40) * 70;

                        if (i % 3 == 0)
                                len = (size_t)snprintf(p, sizeof(p), "<13>1 - h a - - - %.*s",
                                                       (int)n, big);
                        else
                                len = (size_t)snprintf(p, sizeof(p),
                                                       "{\"ts\":1767323045,\"msg\":\"%.*s\"}",
                                                       (int)n, big);
                }
                assert_int_equal(normalize_payload(in, len, trunc, src(), RECEIVED, mt, &x), 0);
                assert_int_equal(normalize_payload_recycled(rc, 2, in, len, trunc, src(),
                                                            RECEIVED, mt, &y), 0);
                canon_equal(x, y);
                for (int k = 0; k < 8; k++) {
                        assert_int_equal(json_path_set(x, "actor.name", json_new_str(big)), 0);
                        assert_int_equal(json_path_set(y, "actor.name", json_new_str(big)), 0);
                        assert_int_equal(json_obj_set_str(x, "rule", big + k), 0);
                        assert_int_equal(json_obj_set_str(y, "rule", big + k), 0);
                }
                canon_equal(x, y);
                json_free(x);
                json_free(y);
        }
        recycle_release(rc[0]);
        recycle_release(rc[1]);
}

/* The source built inside the record's block (normalize_kafka_recycled, performance, issue
 * 12) gives the same record as the separate normalize_kafka_source adopted by
 * normalize_payload: every table case, keys UTF-8 or not or absent or long enough to
 * overflow the block, a topic that is not UTF-8, with and without a broker timestamp; also
 * after a redelivery marker is set on the source and rules grow the record. */
static void test_source_in_record(void **state)
{
        struct recycle *rc[2];
        char longkey[701];
        const char bin[] = { 'k', (char)0xff };
        const struct { const char *key; size_t len; } keys[] = {
                { "k1", 2 }, { bin, 2 }, { NULL, 0 }, { longkey, sizeof(longkey) - 1 },
        };
        const char *const topics[] = { "access", "t\xff\x01x" };
        size_t n_cases = sizeof(cases) / sizeof(cases[0]);

        (void)state;
        memset(longkey, 'q', sizeof(longkey) - 1);
        longkey[sizeof(longkey) - 1] = '\0';
        assert_int_equal(recycle_new(4096, 4, &rc[0]), 0);
        assert_int_equal(recycle_new(8192, 4, &rc[1]), 0);
        for (size_t i = 0; i < n_cases * 8; i++) {
                const struct tcase *c = &cases[i % n_cases];
                size_t kk = i / n_cases % 4;
                const char *topic = topics[i / n_cases / 4];
                int64_t mt = i % 2 ? c->msg_time : INT64_MIN;
                size_t len = c->len ? c->len : strlen(c->payload);
                const struct norm_kafka_msg km = {
                        .topic = topic, .partition = (int32_t)i, .offset = 1000 + (int64_t)i,
                        .key = keys[kk].key, .key_len = keys[kk].len, .ts_us = mt,
                };
                json *x = NULL, *y = NULL, *mx, *my;

                assert_int_equal(normalize_payload(c->payload, len, c->truncated,
                                                   normalize_kafka_source(topic, km.partition,
                                                                          km.offset, km.key,
                                                                          km.key_len, mt),
                                                   RECEIVED, mt, &x), 0);
                assert_int_equal(normalize_kafka_recycled(rc, 2, c->payload, len, c->truncated,
                                                          &km, RECEIVED, &y), 0);
                canon_equal(x, y);
                if (i % 3 == 0) {
                        mx = json_new_obj();
                        my = json_new_obj();
                        assert_int_equal(json_obj_set_str(mx, "chain", "old"), 0);
                        assert_int_equal(json_obj_set_str(my, "chain", "old"), 0);
                        assert_int_equal(json_obj_set_int(mx, "through", 99), 0);
                        assert_int_equal(json_obj_set_int(my, "through", 99), 0);
                        assert_int_equal(json_obj_set(json_obj_get(x, "source"), "redelivery",
                                                      mx), 0);
                        assert_int_equal(json_obj_set(json_obj_get(y, "source"), "redelivery",
                                                      my), 0);
                        canon_equal(x, y);
                }
                assert_int_equal(json_path_set(x, "actor.name", json_new_str(longkey + 600)), 0);
                assert_int_equal(json_path_set(y, "actor.name", json_new_str(longkey + 600)), 0);
                canon_equal(x, y);
                json_free(x);
                json_free(y);
        }
        recycle_release(rc[0]);
        recycle_release(rc[1]);
}

/* The builder fills the record and its source from static tables without sorting
 * (json_obj_fill_sorted, round 9): the tables must be in RFC 8785 order, the records'
 * members must be the tables' in that order, and the canonical bytes must equal those of
 * the same members set one by one in reverse order (the general path, which sorts). */
static json *model_of(const json *o)
{
        json *m = json_new_obj();

        for (size_t k = json_len(o); k-- > 0;) {
                const char *key;
                size_t key_len;
                json *v = json_obj_at(o, k, &key, &key_len);

                assert_int_equal(json_obj_set(m, key, json_clone(v)), 0);
        }
        return m;
}

static void test_record_order(void **state)
{
        struct recycle *rc[2];
        size_t n, n_src, n_cases = sizeof(cases) / sizeof(cases[0]);
        const struct json_key *src_keys;
        const struct json_key *keys = norm_payload_keys(&n, &src_keys, &n_src);

        (void)state;
        assert_int_equal(n, 25);
        assert_int_equal(n_src, 7);
        assert_true(json_keys_sorted(keys, n));
        assert_true(json_keys_sorted(src_keys, n_src));
        assert_int_equal(recycle_new(4096, 4, &rc[0]), 0);
        assert_int_equal(recycle_new(8192, 4, &rc[1]), 0);
        for (size_t i = 0; i < n_cases * 2; i++) {
                const struct tcase *c = &cases[i % n_cases];
                const struct norm_kafka_msg km = {
                        .topic = "access", .partition = 3, .offset = 77, .key = "k",
                        .key_len = i % 2, .ts_us = i % 2 ? c->msg_time : INT64_MIN,
                };
                size_t len = c->len ? c->len : strlen(c->payload);
                json *rec = NULL, *model;

                assert_int_equal(normalize_kafka_recycled(rc, 2, c->payload, len, c->truncated,
                                                          &km, RECEIVED, &rec), 0);
                /* A syslog payload's record is normalize_syslog's (its own table). */
                if (c->payload[strspn(c->payload, " \t\r\n")] != '<') {
                        json *src = json_obj_get(rec, "source");

                        assert_int_equal(json_len(rec), n);
                        assert_int_equal(json_len(src), n_src);
                        for (size_t k = 0; k < n; k++) {
                                const char *key;
                                size_t key_len;

                                json_obj_at(rec, k, &key, &key_len);
                                assert_int_equal(key_len, keys[k].len);
                                assert_memory_equal(key, keys[k].key, key_len);
                        }
                        for (size_t k = 0; k < n_src; k++) {
                                const char *key;
                                size_t key_len;

                                json_obj_at(src, k, &key, &key_len);
                                assert_int_equal(key_len, src_keys[k].len);
                                assert_memory_equal(key, src_keys[k].key, key_len);
                        }
                }
                model = model_of(rec);
                canon_equal(rec, model);
                json_free(model);
                json_free(rec);
        }
        recycle_release(rc[0]);
        recycle_release(rc[1]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cases),
                cmocka_unit_test(test_event_kept_whole),
                cmocka_unit_test(test_source),
                cmocka_unit_test(test_recycled),
                cmocka_unit_test(test_source_in_record),
                cmocka_unit_test(test_record_order),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
