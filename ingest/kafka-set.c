/* The daemon's list of Kafka consumers (one per `kafka:` item) and their configuration's
 * memory: small glue so that the daemon's wiring stays a few lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ingest/kafka.h"

void ingest_kafka_config_clear(struct ingest_kafka_config *c)
{
        if (!c)
                return;
        free(c->name);
        free(c->brokers);
        free(c->group);
        for (size_t i = 0; i < c->n_topics; i++)
                free(c->topics[i]);
        free(c->topics);
        for (size_t i = 0; i < 2 * c->n_props; i++)
                free(c->props[i]);
        free(c->props);
        memset(c, 0, sizeof(*c));
}

/* ---- the daemon's set of consumers ---- */

struct ingest_kafka_set {
        size_t n;
        struct ingest_kafka *k[];
};

int ingest_kafka_set_new(const struct ingest_kafka_config *cfgs, size_t n, const char *db_path,
                         struct loop *loop, struct queue *q, struct drop_counters *drops,
                         struct ingest_kafka_set **ret, char *err, size_t err_len)
{
        struct ingest_kafka_set *s = calloc(1, sizeof(*s) + n * sizeof(s->k[0]));

        if (!s) {
                snprintf(err, err_len, "kafka: %s", strerror(ENOMEM));
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                int r = ingest_kafka_new(&cfgs[i], db_path, loop, q, drops, &s->k[i], err,
                                         err_len);

                if (r < 0) {
                        ingest_kafka_set_free(s);
                        return r;
                }
                s->n++;
                log_info("kafka consumer started", "kafka=%s brokers=%s group=%s topics=%zu",
                         cfgs[i].name, cfgs[i].brokers, cfgs[i].group, cfgs[i].n_topics);
        }
        *ret = s;
        return 0;
}

void ingest_kafka_set_stop_fetching(struct ingest_kafka_set *s)
{
        for (size_t i = 0; s && i < s->n; i++)
                ingest_kafka_stop_fetching(s->k[i]);
}

size_t ingest_kafka_set_close(struct ingest_kafka_set *s)
{
        size_t gave_up = 0;

        for (size_t i = 0; s && i < s->n; i++)
                gave_up += ingest_kafka_close(s->k[i]);
        return gave_up;
}

void ingest_kafka_set_free(struct ingest_kafka_set *s)
{
        for (size_t i = 0; s && i < s->n; i++)
                ingest_kafka_free(s->k[i]);
        free(s);
}

bool ingest_kafka_set_ready(void *ud, char *why, size_t why_len)  /* ops (issue 9) */
{
        struct ingest_kafka_set *s = ud;

        for (size_t i = 0; s && i < s->n; i++)
                if (!ingest_kafka_ready(s->k[i], why, why_len))
                        return false;
        return true;
}
