/* The kafka: section: a list of consumers, each
 *   name, brokers, topics (names or ^regex), group, start (earliest|latest), properties
 *   (librdkafka's, passed through: SASL, TLS...), session_timeout, max_message,
 *   drain_timeout, close_timeout, claim_window.
 * Like the rest of the configuration, unknown keys, wrong types and bad values fail at
 * start-up with file:line:column; librdkafka properties are checked here against
 * librdkafka itself (rd_kafka_conf_set), so a misspelt property is a configuration error,
 * not a surprise at run time. Properties that would break the exactly-once guarantee (auto
 * commit, offset store) or that have their own key are refused. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "cli/config-yaml.h"
#include "cli/config-kafka.h"
#include "core/limits.h"

/* Topics one consumer subscribes to: a list in a config file, not a data set. */
#define KAFKA_TOPICS_MAX 256
#define KAFKA_PROPS_MAX 256

static int k_name(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        return cfg_name(x, n, &k->name);
}

static int k_brokers(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        return cfg_string(x, n, &k->brokers);
}

static int k_group(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        return cfg_string(x, n, &k->group);
}

static int k_start(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        const char *s;
        int r = cfg_text(x, n, &s);

        if (r < 0)
                return r;
        if (strcmp(s, "earliest") != 0 && strcmp(s, "latest") != 0)
                return cfg_fail(x, n, "unknown start '%s' (earliest or latest)", s);
        k->start_latest = !strcmp(s, "latest");
        return 0;
}

static int k_duration(struct cfg_ctx *x, yaml_node_t *n, int64_t lo, int64_t hi, int64_t *ret)
{
        const char *s;
        int64_t us;
        int r = cfg_text(x, n, &s);

        if (r < 0)
                return r;
        if (config_parse_duration(s, &us) < 0)
                return cfg_fail(x, n, "bad duration '%s' (e.g. 500ms, 10s, 1m)", s);
        if (us < lo || us > hi)
                return cfg_fail(x, n, "'%s' is out of range %lldms..%llds", s,
                             (long long)(lo / 1000), (long long)(hi / 1000000));
        *ret = us;
        return 0;
}

static int k_session_timeout(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        /* Kafka brokers accept 6 s..30 min by default (group.min/max.session.timeout.ms);
         * below 1 s the heartbeats cannot keep up. */
        int r = k_duration(x, n, 1000000, INT64_C(3600000000), &k->session_timeout_us);

        if (r == 0 && k->session_timeout_us % 1000)
                return cfg_fail(x, n, "must be whole milliseconds");
        return r;
}

static int k_drain_timeout(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        return k_duration(x, n, 0, INT64_C(600000000), &k->drain_timeout_us);
}

/* 0 is allowed: the stop then leaves the group unannounced (the session timeout drops the
 * member); 10 m is far past any stop timeout a service manager would give. */
static int k_close_timeout(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        return k_duration(x, n, 0, INT64_C(600000000), &k->close_timeout_us);
}

static int k_max_message(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        const char *s;
        uint64_t v;
        int r = cfg_text(x, n, &s);

        if (r < 0)
                return r;
        if (config_parse_size(s, &v) < 0)
                return cfg_fail(x, n, "bad size '%s' (a number, optionally followed by B, KiB, "
                                   "MiB or GiB)", s);
        if (v < 480 || v > KAFKA_MAX_MESSAGE_CEIL)
                return cfg_fail(x, n, "%s is out of range 480..%u", s, KAFKA_MAX_MESSAGE_CEIL);
        k->max_message = (size_t)v;
        return 0;
}

static int k_topics(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        size_t len, plen = strlen(x->path);

        if (n->type != YAML_SEQUENCE_NODE)
                return cfg_fail(x, n, "expected a list of topics (names, or regexes starting "
                                   "with ^)");
        len = cfg_seq_len(n);
        if (len == 0 || len > KAFKA_TOPICS_MAX)
                return cfg_fail(x, n, "1 to %d topics", KAFKA_TOPICS_MAX);
        for (size_t i = 0; i < k->n_topics; i++)
                free(k->topics[i]);
        free(k->topics);
        k->n_topics = 0;
        k->topics = calloc(len, sizeof(*k->topics));
        if (!k->topics)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                int r;

                snprintf(x->path + plen, sizeof(x->path) - plen, "[%zu]", i);
                r = cfg_string(x, cfg_node(x, n->data.sequence.items.start[i]), &k->topics[i]);
                x->path[plen] = '\0';
                if (r < 0)
                        return r;
                k->n_topics++;
        }
        return 0;
}

/* Properties set by gatelog itself: refused, with what to use instead. */
static const char *prop_refused(const char *key)
{
        static const struct { const char *key, *why; } tab[] = {
                { "bootstrap.servers", "use brokers" },
                { "metadata.broker.list", "use brokers" },
                { "group.id", "use group" },
                { "auto.offset.reset", "use start" },
                { "session.timeout.ms", "use session_timeout" },
                { "enable.auto.commit", "gatelog commits offsets after storing the records" },
                { "enable.auto.offset.store", "gatelog commits offsets after storing the records" },
                { "enable.partition.eof", "set by gatelog" },
        };

        for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
                if (!strcmp(tab[i].key, key))
                        return tab[i].why;
        return NULL;
}

static int k_properties(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        size_t len, plen = strlen(x->path);
        rd_kafka_conf_t *scratch;
        int r = 0;

        if (n->type != YAML_MAPPING_NODE)
                return cfg_fail(x, n, "expected a mapping of librdkafka properties");
        len = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
        if (len > KAFKA_PROPS_MAX)
                return cfg_fail(x, n, "more than %d properties", KAFKA_PROPS_MAX);
        for (size_t i = 0; i < 2 * k->n_props; i++)
                free(k->props[i]);
        free(k->props);
        k->n_props = 0;
        k->props = calloc(2 * len + 1, sizeof(*k->props));
        scratch = rd_kafka_conf_new();
        if (!k->props || !scratch) {
                if (scratch)
                        rd_kafka_conf_destroy(scratch);
                return -ENOMEM;
        }
        for (size_t i = 0; i < len && r == 0; i++) {
                yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
                yaml_node_t *kn = cfg_node(x, p->key), *vn = cfg_node(x, p->value);
                const char *key, *val, *why;
                char e[256];

                if ((r = cfg_text(x, kn, &key)) < 0)
                        break;
                snprintf(x->path + plen, sizeof(x->path) - plen, ".%s", key);
                for (size_t j = 0; j < k->n_props && r == 0; j++)
                        if (!strcmp(k->props[2 * j], key))
                                r = cfg_fail(x, kn, "duplicate property");
                if (r == 0 && (why = prop_refused(key)))
                        r = cfg_fail(x, kn, "not allowed here (%s)", why);
                if (r == 0)
                        r = cfg_text(x, vn, &val);
                if (r == 0 && rd_kafka_conf_set(scratch, key, val, e, sizeof(e)) !=
                                      RD_KAFKA_CONF_OK)
                        r = cfg_fail(x, rd_kafka_conf_set(scratch, key, "", e, sizeof(e)) ==
                                                 RD_KAFKA_CONF_UNKNOWN ? kn : vn,
                                  "%s", e);
                if (r == 0) {
                        k->props[2 * i] = strdup(key);
                        k->props[2 * i + 1] = strdup(val);
                        if (!k->props[2 * i] || !k->props[2 * i + 1])
                                r = -ENOMEM;
                        k->n_props++;
                }
                x->path[plen] = '\0';
        }
        rd_kafka_conf_destroy(scratch);
        return r;
}

/* Failover claims (docs/CONFIG.md): messages a claim in the commit metadata reaches ahead. */
static int k_claim_window(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        const char *s;
        char *end;
        long long v;
        int r = cfg_text(x, n, &s);

        if (r < 0)
                return r;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < 1 || v > KAFKA_CLAIM_WINDOW_MAX)
                return cfg_fail(x, n, "'%s' is not a number of messages 1..%d", s,
                                KAFKA_CLAIM_WINDOW_MAX);
        k->claim_window = v;
        return 0;
}

typedef int (*k_parse_fn)(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k);

static const struct {
        const char *name;
        k_parse_fn parse;
} kafka_keys[] = {
        { "name", k_name },
        { "brokers", k_brokers },
        { "topics", k_topics },
        { "group", k_group },
        { "start", k_start },
        { "properties", k_properties },
        { "session_timeout", k_session_timeout },
        { "max_message", k_max_message },
        { "drain_timeout", k_drain_timeout },
        { "close_timeout", k_close_timeout },
        { "claim_window", k_claim_window },
};

static int parse_item(struct cfg_ctx *x, yaml_node_t *n, struct ingest_kafka_config *k)
{
        size_t plen = strlen(x->path);
        const char *missing = NULL;

        if (n->type != YAML_MAPPING_NODE)
                return cfg_fail(x, n, "expected a mapping (name, brokers, topics, ...)");
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *kn = cfg_node(x, p->key);
                const char *name;
                size_t i = 0;
                int r = cfg_text(x, kn, &name);

                if (r < 0)
                        return r;
                for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
                        if (!strcmp((const char *)cfg_node(x, q->key)->data.scalar.value, name))
                                return cfg_fail(x, kn, "duplicate key '%s'", name);
                while (i < sizeof(kafka_keys) / sizeof(kafka_keys[0]) &&
                       strcmp(kafka_keys[i].name, name) != 0)
                        i++;
                if (i == sizeof(kafka_keys) / sizeof(kafka_keys[0]))
                        return cfg_fail(x, kn, "unknown key '%s'", name);
                snprintf(x->path + plen, sizeof(x->path) - plen, ".%s", name);
                r = kafka_keys[i].parse(x, cfg_node(x, p->value), k);
                x->path[plen] = '\0';
                if (r < 0)
                        return r;
        }
        if (!k->name)
                missing = "name";
        else if (!k->brokers)
                missing = "brokers";
        else if (!k->topics)
                missing = "topics";
        if (missing)
                return cfg_fail(x, n, "missing key '%s'", missing);
        if (!k->group && !(k->group = strdup("gatelog")))
                return -ENOMEM;
        return 0;
}

void config_kafka_free(struct config *c)
{
        for (size_t i = 0; i < c->n_kafka; i++)
                ingest_kafka_config_clear(&c->kafka[i]);
        free(c->kafka);
        c->kafka = NULL;
        c->n_kafka = 0;
}

int config_kafka_parse(yaml_document_t *doc, yaml_node_t *n, struct config *c,
                       struct config_error *err)
{
        struct cfg_ctx x = { .doc = doc, .err = err, .path = "kafka" };
        size_t len;

        config_kafka_free(c);
        if (n->type != YAML_SEQUENCE_NODE)
                return cfg_fail(&x, n, "expected a list of Kafka consumers");
        len = cfg_seq_len(n);
        if (len == 0)
                return 0;
        c->kafka = calloc(len, sizeof(*c->kafka));
        if (!c->kafka)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                yaml_node_t *item = cfg_node(&x, n->data.sequence.items.start[i]);
                struct ingest_kafka_config *k = &c->kafka[i];
                int r;

                snprintf(x.path, sizeof(x.path), "kafka[%zu]", i);
                k->max_message = KAFKA_MAX_MESSAGE_DEFAULT;
                k->drain_timeout_us = KAFKA_DRAIN_TIMEOUT_DEFAULT_US;
                k->close_timeout_us = KAFKA_CLOSE_TIMEOUT_DEFAULT_US;
                c->n_kafka++;
                r = parse_item(&x, item, k);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(c->kafka[j].name, k->name))
                                return cfg_fail(&x, item, "duplicate kafka name '%s'", k->name);
        }
        return 0;
}
