/* A Kafka cluster for the tests: librdkafka's mock cluster (rd_kafka_mock_cluster_new), which
 * speaks the real Kafka wire protocol (metadata, produce, fetch, consumer groups, offset
 * commits) on 127.0.0.1 with random ports. kcat and gatelog talk to it as to any broker.
 *
 *   mock-cluster [-n BROKERS] [TOPIC:PARTITIONS ...]
 *
 * Prints "bootstraps=HOST:PORT,..." on stdout, then reads commands, one a line, and answers
 * each with lines ending in "ok" (or "error ..."):
 *   create TOPIC PARTITIONS        creates a topic (a topic "that does not exist yet")
 *   down | up                      every broker refuses / accepts connections again
 *   committed GROUP TOPIC PARTS    prints "committed TOPIC PARTITION OFFSET METADATA" per
 *                                  partition (-1001 when the group committed nothing
 *                                  there; METADATA is the commit's metadata text, possibly
 *                                  empty), read with an OffsetFetch request like any admin
 *                                  tool's
 * Stays up until stdin closes or SIGTERM.
 *
 * MOCK_CLUSTER_DEBUG=FACILITIES (librdkafka's debug property, e.g. "mock" for every request
 * the brokers answer and each consumer group's state changes) logs the cluster's own debug
 * lines to stderr, with the wall-clock time: the broker's side of a group join that never
 * ends (tests/kafka/kafkapeer.py, MOCK_SAFE_SESSION). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static rd_kafka_mock_cluster_t *mc;

static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        struct timespec ts;

        (void)rk;
        if (level > 3 && !getenv("MOCK_CLUSTER_DEBUG"))
                return;
        clock_gettime(CLOCK_REALTIME, &ts);
        fprintf(stderr, "%lld.%06ld mock-cluster: %s: %s\n", (long long)ts.tv_sec,
                ts.tv_nsec / 1000, fac, buf);
}

static int topic_create(const char *topic, int parts)
{
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, topic, parts, 1);

        if (err) {
                printf("error %s\n", rd_kafka_err2str(err));
                return -1;
        }
        return 0;
}

static void committed(const char *group, const char *topic, int parts)
{
        char errstr[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *l;
        rd_kafka_resp_err_t err;
        rd_kafka_t *rk;

        if (rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc),
                              errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr))) {
                printf("error %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                return;
        }
        rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!rk) {
                printf("error %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                return;
        }
        l = rd_kafka_topic_partition_list_new(parts);
        for (int p = 0; p < parts; p++)
                rd_kafka_topic_partition_list_add(l, topic, p);
        err = rd_kafka_committed(rk, l, 10000);
        if (err) {
                printf("error %s\n", rd_kafka_err2str(err));
        } else {
                for (int i = 0; i < l->cnt; i++)
                        printf("committed %s %d %lld %.*s\n", l->elems[i].topic,
                               (int)l->elems[i].partition, (long long)l->elems[i].offset,
                               (int)l->elems[i].metadata_size,
                               l->elems[i].metadata ? (const char *)l->elems[i].metadata : "");
                printf("ok\n");
        }
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
}

static void command(char *line)
{
        char a[256], b[256];
        int n;

        line[strcspn(line, "\r\n")] = '\0';
        if (sscanf(line, "create %255s %d", a, &n) == 2) {
                if (topic_create(a, n) == 0)
                        printf("ok\n");
        } else if (!strcmp(line, "down")) {
                rd_kafka_mock_broker_set_down(mc, -1);
                printf("ok\n");
        } else if (!strcmp(line, "up")) {
                rd_kafka_mock_broker_set_up(mc, -1);
                printf("ok\n");
        } else if (sscanf(line, "committed %255s %255s %d", a, b, &n) == 3) {
                committed(a, b, n);
        } else if (line[0]) {
                printf("error unknown command\n");
        }
        fflush(stdout);
}

int main(int argc, char **argv)
{
        char errstr[512], line[1024];
        int brokers = 1, opt;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_t *rk;

        while ((opt = getopt(argc, argv, "n:")) != -1) {
                if (opt != 'n') {
                        fprintf(stderr, "usage: mock-cluster [-n BROKERS] [TOPIC:PARTITIONS ...]\n");
                        return 2;
                }
                brokers = atoi(optarg);
        }
        rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
        if (getenv("MOCK_CLUSTER_DEBUG") &&
            rd_kafka_conf_set(conf, "debug", getenv("MOCK_CLUSTER_DEBUG"), errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "mock-cluster: MOCK_CLUSTER_DEBUG: %s\n", errstr);
                return 2;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "mock-cluster: %s\n", errstr);
                return 1;
        }
        mc = rd_kafka_mock_cluster_new(rk, brokers > 0 ? brokers : 1);
        if (!mc) {
                fprintf(stderr, "mock-cluster: cannot create the cluster\n");
                return 1;
        }
        for (int i = optind; i < argc; i++) {
                char *colon = strrchr(argv[i], ':');

                if (!colon) {
                        fprintf(stderr, "mock-cluster: %s: expected TOPIC:PARTITIONS\n", argv[i]);
                        return 2;
                }
                *colon = '\0';
                if (topic_create(argv[i], atoi(colon + 1)) < 0)
                        return 1;
        }
        printf("bootstraps=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
        fflush(stdout);
        while (fgets(line, sizeof(line), stdin))
                command(line);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 0;
}
