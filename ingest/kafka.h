/* ingest/kafka: the Kafka collector (a librdkafka high-level consumer in a consumer group).
 *
 * Runs in the daemon's event loop: librdkafka's consumer queue signals an eventfd
 * (rd_kafka_queue_io_event_enable), and each wakeup takes at most KAFKA_POLL_BATCH messages,
 * in slices of KAFKA_SLICE (rd_kafka_consume_batch_queue) pushed to the queue together.
 * Each message becomes one gate record (normalize_payload: a JSON object, a syslog line, or
 * a record flagged malformed), whose event carries pos_source "kafka:TOPIC/PARTITION" and
 * pos = the message's offset, so the writer stores the offset in the same SQLite
 * transaction as the record.
 *
 * Exactly once into the store: on assignment each partition resumes after the offset stored
 * in the database (read on a read-only connection of its own), or after the group's
 * committed offset when that is further (another instance stored those); offsets below the
 * resume point are skipped even when the broker sends them again. Offsets are committed to
 * the broker only after the writer's transaction committed (the events' sink), from the
 * loop thread. A revoke waits (at most drain_timeout) until the revoked partitions' queued
 * events are committed, commits them, then releases the partitions.
 *
 * Across instances of one group (docs/CONFIG.md, "kafka"): each commit carries a claim in
 * its metadata ("gatelog:1 chain=C through=X", X at least every offset queued), made before
 * an offset past X is queued, followed by earlier owners' claims that still reach the
 * committed offset ("gatelog:2 ..." after a failover); on assignment each other chain's
 * claim that reaches the resume point makes the records up to its X carry
 * source.redelivery = {chain, through} (an array of them when several cover one). The
 * environment variable GATELOG_FAILPOINT=kafka-after-db-commit (a test hook) makes the
 * process _exit(137) right after the first store commit of Kafka records, and
 * GATELOG_FAILPOINT=kafka-claim-commit-fail makes the first claim commits fail (an event is
 * then held past a tick) and kafka-async-commit-lost drops asynchronous offset commits
 * unsent (docs/RELIABILITY.md, "Test hooks").
 *
 * Backpressure: a full queue keeps the slice's rest held and stops taking messages until the
 * queue's space fd fires; when the queue stays full past a second, every assigned partition
 * is also paused at librdkafka (rd_kafka_pause_partitions) so fetching stops too. Nothing is
 * dropped: an event not stored is fetched again from the store's position after a restart
 * or by the next owner of its partition. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/loop.h"
#include "core/queue.h"

struct ingest_kafka_config {
        char *name;              /* unique among kafka entries; names the collector in logs */
        char *brokers;           /* bootstrap.servers: "host:port,host:port" */
        char **topics;           /* names, or regular expressions starting with '^' */
        size_t n_topics;
        char *group;             /* group.id */
        bool start_latest;       /* new partitions (no stored or committed offset): end */
        char **props;            /* librdkafka properties, key/value pairs: props[2i], props[2i+1] */
        size_t n_props;
        int64_t session_timeout_us; /* 0: librdkafka's default */
        size_t max_message;      /* bytes; longer payloads are cut and flagged truncated */
        int64_t drain_timeout_us;
        int64_t close_timeout_us; /* the consumer's close at stop, at most; then destroyed */
        int64_t claim_window;    /* messages claimed ahead in the commit metadata; 0: default */
};

void ingest_kafka_config_clear(struct ingest_kafka_config *c); /* frees the members */

struct ingest_kafka;

/* Creates the consumer, subscribes, and registers its fds in loop. db_path is the store
 * (opened read-only here to read positions; the writer must have created it). Events go to
 * q, losses to drops (borrowed, must outlive the collector). Returns 0 or -errno with err
 * saying what failed. Does not block on the brokers: a broker that is down is retried. */
int ingest_kafka_new(const struct ingest_kafka_config *cfg, const char *db_path,
                     struct loop *loop, struct queue *q, struct drop_counters *drops,
                     struct ingest_kafka **ret, char *err, size_t err_len);
/* Stops taking messages (after the loop stopped): an event held back by a full queue is
 * released unstored (it is fetched again on the next start). */
void ingest_kafka_stop_fetching(struct ingest_kafka *k);
/* kafka[].close_timeout: how long the stop waits for librdkafka's consumer close (the final
 * revoke, its commit, the LeaveGroup). A close that waits on a coordinator that does not
 * answer would otherwise wait without end (librdkafka 2.0.2's rd_kafka_consumer_close has
 * no deadline); past this the consumer is destroyed without it and the group drops the
 * member at its session timeout. Nothing is lost: offsets not committed are re-read and
 * skipped by the store's positions. */
#define KAFKA_CLOSE_TIMEOUT_DEFAULT_US (10 * 1000 * 1000)

/* After the writer stored everything (writer_join): commits the durable offsets to the
 * broker (synchronously), leaves the group and closes the consumer, for at most the
 * configured close_timeout (then logged and given up). The close runs on a thread of its
 * own: one stuck inside librdkafka past close_timeout + 2 s is left behind (logged; k is
 * then never freed, the process is exiting). Returns true when it gave up. */
bool ingest_kafka_close(struct ingest_kafka *k);
/* Frees everything (closes first if ingest_kafka_close was not called). Accepts NULL. */
void ingest_kafka_free(struct ingest_kafka *k);
/* ops (issue 9): false while librdkafka reports the brokers unreachable (all brokers
 * down, a transport or resolve error, until the next message or assignment), with why =
 * "kafka NAME: brokers unreachable: REASON". Thread-safe (the HTTP thread asks). */
bool ingest_kafka_ready(struct ingest_kafka *k, char *why, size_t why_len);

/* Every consumer of the configuration at once, for the daemon: the same calls over a list
 * (n may be 0: *ret is then a set that does nothing). */
struct ingest_kafka_set;
int ingest_kafka_set_new(const struct ingest_kafka_config *cfgs, size_t n, const char *db_path,
                         struct loop *loop, struct queue *q, struct drop_counters *drops,
                         struct ingest_kafka_set **ret, char *err, size_t err_len);
void ingest_kafka_set_stop_fetching(struct ingest_kafka_set *s);
/* Returns how many consumers' closes gave up at their close_timeout. */
size_t ingest_kafka_set_close(struct ingest_kafka_set *s);
void ingest_kafka_set_free(struct ingest_kafka_set *s); /* accepts NULL */
/* ops (issue 9): ingest_kafka_ready over the set (ud: the set, may be NULL); the first
 * consumer not ready names why. Shaped as an http_set_ready_check callback. */
bool ingest_kafka_set_ready(void *ud, char *why, size_t why_len);

/* ---- Offset bookkeeping (ingest/kafka-parts.c), exposed for tests ----
 * One entry per topic-partition ever seen; entries are never freed before the table, so a
 * sink token (index << 48 | offset) stays valid while the writer holds events. */
#define KAFKA_TOKEN_OFFSET_BITS 48

struct metric;

/* One failover claim (docs/CONFIG.md, "kafka"): chain may hold offsets up to through. */
#define KAFKA_CHAIN_MAX 64          /* a chain name's bytes (config's name limit) */
#define KAFKA_CLAIMS_MAX 8          /* claims one commit carries, its own included */
struct kafka_claim {
        char chain[KAFKA_CHAIN_MAX + 1];
        int64_t through;
};

struct kafka_part {
        char *topic;
        int32_t partition;
        char *source;               /* "kafka:TOPIC/PARTITION" */
        size_t source_len;          /* strlen(source): set once, not per message */
        bool assigned;
        int64_t next;               /* first offset not yet pushed; -1: unknown */
        int64_t taken;              /* first offset not yet built into an event (held or
                                     * pushed); -1: unknown (then next says) */
        int64_t pushed;             /* highest offset pushed to the queue; -1: none */
        _Atomic int64_t durable;    /* highest offset the writer committed; -1: none
                                     * (raised by the writer thread, and by the loop at
                                     * assignment to what the store holds) */
        int64_t committed;          /* offset last committed to the broker (next to read);
                                     * -1: none */
        struct metric *m_lag;       /* ops (issue 9): gatelog_kafka_consumer_lag; NULL until
                                     * the first tick after the entry appeared */
        /* Failover (docs/CONFIG.md, "kafka"): this chain's claim in the broker's commit
         * metadata covers every offset pushed in this assignment: offsets <= through; -1: no
         * claim made since the assignment. */
        int64_t through;
        int64_t sent_through;       /* through of the metadata last committed; -1: none */
        bool sent_own;              /* ...and whether it named this chain */
        /* The previous owners' claims read at assignment (other chains that may hold offsets
         * from our resume point through each one's through, newest first): records of those
         * offsets are marked as possible redeliveries, and our commits carry the claims on
         * until the committed offset passes them. */
        struct kafka_claim prev[KAFKA_CLAIMS_MAX];
        size_t n_prev;
};

struct kafka_parts;

int kafka_parts_new(struct kafka_parts **ret);
void kafka_parts_free(struct kafka_parts *t); /* accepts NULL */
/* Finds or adds the entry; NULL when out of memory or the table is full. Its index is
 * *ret_index (may be NULL). */
struct kafka_part *kafka_parts_get(struct kafka_parts *t, const char *topic, int32_t partition,
                                   uint16_t *ret_index);
size_t kafka_parts_count(const struct kafka_parts *t);
struct kafka_part *kafka_parts_at(struct kafka_parts *t, size_t i);
/* Sink token of offset in entry index; offsets past 2^48 are refused (-ERANGE). */
int kafka_token_make(uint16_t index, int64_t offset, uint64_t *ret);
void kafka_token_split(uint64_t token, uint16_t *ret_index, int64_t *ret_offset);
/* The writer thread's side: raises the entry's durable offset (never lowers it). */
void kafka_parts_durable(struct kafka_parts *t, uint64_t token);
/* Raises p's durable offset to offset if that is higher; safe against the writer thread. */
void kafka_part_durable_raise(struct kafka_part *p, int64_t offset);
/* Where an assigned partition resumes: after the stored offset, after what this process
 * already pushed, or at the group's committed offset, whichever is furthest; -1 when none
 * is known (the start setting applies). stored and pushed are offsets of records (-1:
 * none), committed the next offset to read (<0: none). */
int64_t kafka_resume_offset(int64_t stored, int64_t pushed, int64_t committed);
/* ---- The claims carried in the broker's commit metadata (docs/CONFIG.md, "kafka") ----
 * "gatelog:1 chain=CHAIN through=OFFSET": chain CHAIN may have stored offsets of this
 * partition up to OFFSET (those at or past the committed offset are the ones that matter).
 * "gatelog:2 chain=C1 through=X1 chain=C2 through=X2 ...": several such claims, the
 * committer's own first, then earlier owners' that still reach the committed offset (a
 * failover inside another's claim window). A single claim is written as version 1. */
#define KAFKA_CLAIM_MAX 1024        /* 8 claims of 64-byte names fit; brokers allow 4096 */
/* Writes the metadata text (no NUL counted) into buf; its length, -ENAMETOOLONG, or -EINVAL
 * for 0 or more than KAFKA_CLAIMS_MAX claims. */
int kafka_claims_format(char *buf, size_t n, const struct kafka_claim *c, size_t count);
/* Reads metadata: 0 and count claims into c (room for max); -ENOENT when empty; -EPROTO when
 * it is not a claim list of these format versions (another client's metadata, a damaged
 * claim, a chain name over KAFKA_CHAIN_MAX bytes, more claims than max). */
int kafka_claims_parse(const char *md, size_t len, struct kafka_claim *c, size_t max,
                       size_t *ret_count);

/* Do all of an entry's pushed events have their commit? */
bool kafka_part_drained(struct kafka_part *p);
