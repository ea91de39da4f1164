/* cli/config-kafka.c: the kafka: section loads the values it says, and every mistake is
 * refused at its file:line:column with a message naming it, librdkafka properties included
 * (checked against librdkafka itself). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/config.h"
#include "core/limits.h"
#include "ingest/kafka.h"

static int load(const char *text, struct config *c, struct config_error *e)
{
        return config_load_text("t.yaml", text, strlen(text), c, e);
}

static void test_full(void **state)
{
        const char *text =
                "kafka:\n"
                "  - name: gates\n"
                "    brokers: 127.0.0.1:9092,127.0.0.1:9093\n"
                "    topics: [access, \"^idp-.*\"]\n"
                "    group: soc2\n"
                "    start: latest\n"
                "    session_timeout: 6s\n"
                "    max_message: 64KiB\n"
                "    drain_timeout: 2s\n"
                "    close_timeout: 0s\n"
                "    claim_window: 100\n"
                "    properties:\n"
                "      security.protocol: plaintext\n"
                "      heartbeat.interval.ms: 500\n"
                "  - name: second\n"
                "    brokers: b:9092\n"
                "    topics: [x]\n";
        struct config c;
        struct config_error e;

        assert_int_equal(load(text, &c, &e), 0);
        assert_int_equal(c.n_kafka, 2);
        assert_string_equal(c.kafka[0].name, "gates");
        assert_string_equal(c.kafka[0].brokers, "127.0.0.1:9092,127.0.0.1:9093");
        assert_int_equal(c.kafka[0].n_topics, 2);
        assert_string_equal(c.kafka[0].topics[1], "^idp-.*");
        assert_string_equal(c.kafka[0].group, "soc2");
        assert_true(c.kafka[0].start_latest);
        assert_int_equal(c.kafka[0].session_timeout_us, 6000000);
        assert_int_equal(c.kafka[0].max_message, 65536);
        assert_int_equal(c.kafka[0].drain_timeout_us, 2000000);
        assert_int_equal(c.kafka[0].close_timeout_us, 0);  /* leave unannounced */
        assert_int_equal(c.kafka[0].claim_window, 100);
        assert_int_equal(c.kafka[0].n_props, 2);
        assert_string_equal(c.kafka[0].props[2], "heartbeat.interval.ms");
        assert_string_equal(c.kafka[0].props[3], "500");
        /* Defaults. */
        assert_string_equal(c.kafka[1].group, "gatelog");
        assert_false(c.kafka[1].start_latest);
        assert_int_equal(c.kafka[1].session_timeout_us, 0);
        assert_int_equal(c.kafka[1].max_message, KAFKA_MAX_MESSAGE_DEFAULT);
        assert_int_equal(c.kafka[1].drain_timeout_us, KAFKA_DRAIN_TIMEOUT_DEFAULT_US);
        assert_int_equal(c.kafka[1].close_timeout_us, KAFKA_CLOSE_TIMEOUT_DEFAULT_US);
        assert_int_equal(c.kafka[1].n_props, 0);
        assert_int_equal(c.kafka[1].claim_window, 0);  /* the collector's default applies */
        config_free(&c);
        /* No kafka: section, or an empty list: no consumers. */
        assert_int_equal(load("kafka: []\n", &c, &e), 0);
        assert_int_equal(c.n_kafka, 0);
        config_free(&c);
}

static void test_errors(void **state)
{
        static const struct {
                const char *name, *text;
                unsigned line, column;
                const char *msg;
        } cases[] = {
                { "not a list", "kafka: {name: a}\n", 1, 8, "kafka: expected a list" },
                { "unknown key", "kafka:\n  - name: a\n    brokers: b\n    topics: [t]\n"
                                 "    topic: t\n", 5, 5, "kafka[0]: unknown key 'topic'" },
                { "missing brokers", "kafka:\n  - name: a\n    topics: [t]\n", 2, 5,
                  "kafka[0]: missing key 'brokers'" },
                { "missing topics", "kafka:\n  - name: a\n    brokers: b\n", 2, 5,
                  "kafka[0]: missing key 'topics'" },
                { "empty topics", "kafka:\n  - {name: a, brokers: b, topics: []}\n", 2, 35,
                  "kafka[0].topics: 1 to 256 topics" },
                { "bad name", "kafka:\n  - {name: a/b, brokers: b, topics: [t]}\n", 2, 12,
                  "kafka[0].name: 'a/b' is not a name" },
                { "bad start", "kafka:\n  - {name: a, brokers: b, topics: [t], start: now}\n",
                  2, 47, "kafka[0].start: unknown start 'now' (earliest or latest)" },
                { "bad session timeout", "kafka:\n  - {name: a, brokers: b, topics: [t], "
                                         "session_timeout: 500ms}\n", 2, 57,
                  "kafka[0].session_timeout: '500ms' is out of range" },
                { "bad close timeout", "kafka:\n  - {name: a, brokers: b, topics: [t], "
                                       "close_timeout: 11m}\n", 2, 55,
                  "kafka[0].close_timeout: '11m' is out of range 0ms..600s" },
                { "refused property", "kafka:\n  - name: a\n    brokers: b\n    topics: [t]\n"
                                      "    properties:\n      enable.auto.commit: true\n", 6, 7,
                  "kafka[0].properties.enable.auto.commit: not allowed here (gatelog commits" },
                { "unknown property", "kafka:\n  - name: a\n    brokers: b\n    topics: [t]\n"
                                      "    properties:\n      no.such.thing: 1\n", 6, 7,
                  "kafka[0].properties.no.such.thing: No such configuration property" },
                { "bad property value", "kafka:\n  - name: a\n    brokers: b\n    topics: [t]\n"
                                        "    properties:\n      heartbeat.interval.ms: soon\n",
                  6, 30, "kafka[0].properties.heartbeat.interval.ms: " },
                { "duplicate name", "kafka:\n  - {name: a, brokers: b, topics: [t]}\n"
                                    "  - {name: a, brokers: b, topics: [t]}\n", 3, 5,
                  "kafka[1]: duplicate kafka name 'a'" },
                { "claim window 0", "kafka:\n  - {name: a, brokers: b, topics: [t], "
                                    "claim_window: 0}\n", 2, 54,
                  "kafka[0].claim_window: '0' is not a number of messages 1..16777216" },
                { "claim window text", "kafka:\n  - {name: a, brokers: b, topics: [t], "
                                       "claim_window: 4k}\n", 2, 54,
                  "kafka[0].claim_window: '4k' is not a number" },
                { "null topic", "kafka:\n  - {name: a, brokers: b, topics: [~]}\n", 2, 36,
                  "kafka[0].topics[0]: missing value" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct config c;
                struct config_error e;

                memset(&e, 0, sizeof(e));
                int r = load(cases[i].text, &c, &e);

                if (r != -EINVAL)
                        fail_msg("%s: loaded (r=%d)", cases[i].name, r);
                if (e.line != cases[i].line || e.column != cases[i].column ||
                    strncmp(e.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
                        fail_msg("%s: got %u:%u: %s; wanted %u:%u: %s...", cases[i].name,
                                 e.line, e.column, e.msg, cases[i].line, cases[i].column,
                                 cases[i].msg);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_errors),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
