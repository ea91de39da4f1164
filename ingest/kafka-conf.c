/* The Kafka collector's librdkafka configuration and subscription (split from
 * ingest/kafka.c, issue 12 hygiene): our properties first (the throughput and memory
 * defaults below, which the `properties` map may override), the user's, then the keys that
 * make the guarantees (refused in `properties` by cli/config-kafka.c); the callbacks
 * librdkafka calls.
 *
 * Load: once per consumer at start. log_cb runs on librdkafka's threads, error_cb on the
 * loop thread (served by rd_kafka_consumer_poll). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "ingest/kafka-internal.h"

/* ---- librdkafka callbacks ---- */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        char b[512];

        (void)level;
        /* error_cb and our own lines tell what matters once; librdkafka's per-attempt
         * detail goes to the debug level. */
        log_debug("librdkafka", "kafka=%s fac=%s text=\"%s\"", rd_kafka_name(rk), fac,
                  kafka_esc(buf, b, sizeof(b)));
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        struct ingest_kafka *k = opaque;

        (void)rk;
        switch (err) {
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__RESOLVE:
                kafka_state_down(k, reason);
                break;
        default:
                kafka_log_once(k, rd_kafka_err2name(err), reason);
        }
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, char *err,
                    size_t err_len)
{
        char e[256];

        if (rd_kafka_conf_set(conf, key, val, e, sizeof(e)) == RD_KAFKA_CONF_OK)
                return 0;
        snprintf(err, err_len, "property %s: %s", key, e);
        return -EINVAL;
}

rd_kafka_conf_t *kafka_make_conf(struct ingest_kafka *k, const struct ingest_kafka_config *cfg,
                                  char *err, size_t err_len)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char client[128], ms[32];
        int r = 0;

        if (!conf) {
                snprintf(err, err_len, "out of memory");
                return NULL;
        }
        snprintf(client, sizeof(client), "gatelog-%s", cfg->name);
        /* Ours first, so that properties can tune the rest; the keys that make the
         * guarantees are refused in properties by the configuration loader. */
        r = conf_set(conf, "client.id", client, err, err_len);
        if (r == 0)
                r = conf_set(conf, "log.connection.close", "false", err, err_len);
        /* Memory (issue 12): queued.max.messages.kbytes (librdkafka's pre-fetch, 64 MiB by
         * default) is left to librdkafka. 1 MiB cut the Kafka path's peak RSS from ~88 to
         * ~54 MiB but throttled the consumer to a quarter of its rate on a quiet machine,
         * 4-16 MiB cost 5-20 % of it (docs/PERFORMANCE.md, the lead's run of round 4);
         * `properties` can trade rate for memory. */
        for (size_t i = 0; r == 0 && i < cfg->n_props; i++)
                r = conf_set(conf, cfg->props[2 * i], cfg->props[2 * i + 1], err, err_len);
        if (r == 0 && cfg->session_timeout_us > 0) {
                snprintf(ms, sizeof(ms), "%lld", (long long)(cfg->session_timeout_us / 1000));
                r = conf_set(conf, "session.timeout.ms", ms, err, err_len);
        }
        if (r == 0)
                r = conf_set(conf, "bootstrap.servers", cfg->brokers, err, err_len);
        if (r == 0)
                r = conf_set(conf, "group.id", cfg->group, err, err_len);
        if (r == 0)
                r = conf_set(conf, "enable.auto.commit", "false", err, err_len);
        if (r == 0)
                r = conf_set(conf, "enable.auto.offset.store", "false", err, err_len);
        if (r == 0)
                r = conf_set(conf, "enable.partition.eof", "false", err, err_len);
        if (r == 0)
                r = conf_set(conf, "auto.offset.reset", cfg->start_latest ? "latest" : "earliest",
                             err, err_len);
        if (r < 0) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_conf_set_opaque(conf, k);
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
        rd_kafka_conf_set_rebalance_cb(conf, kafka_rebalance_cb);
        rd_kafka_conf_set_offset_commit_cb(conf, kafka_offset_commit_cb);
        return conf;
}

int kafka_subscribe(struct ingest_kafka *k, const struct ingest_kafka_config *cfg, char *err,
                     size_t err_len)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)cfg->n_topics);
        rd_kafka_resp_err_t e;

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < cfg->n_topics; i++)
                rd_kafka_topic_partition_list_add(l, cfg->topics[i], RD_KAFKA_PARTITION_UA);
        e = rd_kafka_subscribe(k->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
                snprintf(err, err_len, "kafka %s: subscribe: %s", cfg->name, rd_kafka_err2str(e));
                return -EINVAL;
        }
        return 0;
}

