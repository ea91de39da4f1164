/* ingest/kafka-internal.h: the Kafka collector's state, shared by ingest/kafka.c (the
 * consumer, its loop callbacks and rebalances) and ingest/kafka-claim.c (commits to the
 * broker and the failover claims they carry). Private to these files; ingest/kafka.h is the
 * contract. Everything here runs on the loop thread unless a comment says otherwise. */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "ingest/kafka.h"
#include "outputs/outputs.h"

enum kstate { KS_UNKNOWN, KS_UP, KS_DOWN };

/* Messages taken from librdkafka at once (rd_kafka_consume_batch_queue) and pushed to the
 * queue at once: as the TCP path's held events (ingest/syslog-conn.c). */
#define KAFKA_SLICE 64

struct ingest_kafka {
        char *name;
        char *db_path;
        struct loop *loop;
        struct queue *q;
        struct drop_counters *drops;
        rd_kafka_t *rk;
        rd_kafka_queue_t *rkq;
        struct store *store;            /* read-only, for positions */
        char *chain;                    /* this store's chain (its meta), named in claims */
        int64_t claim_window;
        bool failpoint;                 /* test hook: _exit after a commit (RELIABILITY.md) */
        int claim_fails_left;           /* test hook: claim commits still to fail (same) */
        bool async_commits_lost;        /* test hook: asynchronous commits never sent (same) */
        bool close_stuck;               /* test hook: the close never returns (same) */
        struct kafka_parts *parts;
        struct event_sink sink;
        atomic_bool commit_signalled;
        int wake_fd;                    /* librdkafka's consumer queue became non-empty */
        int commit_fd;                  /* the writer committed events of ours */
        int space_fd;                   /* our subscription to the queue's space signal */
        int timer;
        bool registered, space_registered, paused;
        /* Events built from one consumed slice, in fetch order, not yet queued (issue 12:
         * pushed together with queue_push_batch, one lock and at most one wake-up of the
         * mapper per slice). Between librdkafka calls the slice is empty unless the queue
         * was full or a claim commit failed: then the rest waits here (the "held" events,
         * pushed first; kafka_held_push) and no message is taken until it is gone. */
        void *held[KAFKA_SLICE];        /* struct event * */
        struct kafka_part *held_part[KAFKA_SLICE];
        int64_t held_offset[KAFKA_SLICE];
        size_t n_held;
        int64_t held_since;             /* monotonic us: since when the slice waits */
        const char *held_why;           /* static text: queue full, or a claim commit failed */
        bool stopped, closed, closing, cooperative;
        bool start_latest;
        size_t max_message;
        struct recycle *rec_rc[2];      /* record blocks, small then large (issue 12) */
        struct recycle *ev_rc;          /* struct event blocks (issue 12) */
        int64_t drain_timeout_us;
        int64_t close_timeout_us;       /* the consumer's close, at most (kafka.h) */
        int64_t close_deadline_us;      /* monotonic: while closing, when the stop gives up */
        bool close_gave_up;             /* the close did not end by the deadline */
        bool close_left;                /* its thread was left behind, k with it */
        enum kstate state;
        struct metric *m_up, *m_messages, *m_paused; /* health, for /metrics (issue 9) */
        struct metric *m_received;      /* gatelog_events_received_total{kind="kafka"} */
        /* ops (issue 9): /readyz, read by the HTTP thread: brokers down and why. */
        pthread_mutex_t ready_lock;
        bool down;
        char down_reason[256];
        char last_error[256];           /* last non-state error logged, to log it once */
};

/* ingest/kafka.c */
/* Text for a quoted log value: quotes and backslashes become apostrophes. Returns buf. */
const char *kafka_esc(const char *s, char *buf, size_t n);
/* Logs an error once until a different one comes. */
void kafka_log_once(struct ingest_kafka *k, const char *what, const char *detail);
/* The brokers answered: health up, logged once per change. */
void kafka_state_up(struct ingest_kafka *k);
/* The brokers are unreachable (reason: librdkafka's): health down, logged once per change. */
void kafka_state_down(struct ingest_kafka *k, const char *reason);
/* Waits (pause) or stops waiting for the queue's space fd; un-waiting also resumes fetching
 * at librdkafka if it was paused. */
void kafka_pause_set(struct ingest_kafka *k, bool pause);
/* Does the slice hold events of p (waiting for the queue or a claim)? */
bool kafka_held_has(const struct ingest_kafka *k, const struct kafka_part *p);
/* A revoke: frees p's held events (not stored, so not committed: the partition's next owner
 * reads them again), logged; the others stay held in order. */
void kafka_held_release(struct ingest_kafka *k, struct kafka_part *p);

/* ingest/kafka-rebalance.c */
/* librdkafka's rebalance callback (served by rd_kafka_consumer_poll): on assignment, each
 * partition's resume offset and claims; on revoke, the drain and the final commit. */
void kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *l, void *opaque);
/* The consumer's close (rd_kafka_consumer_close_queue), serving its final revoke, until
 * close_deadline_us at most; logged. Returns true when it gave up (the consumer must then be
 * destroyed at once with RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE). */
bool kafka_close_bounded(struct ingest_kafka *k);
/* ops (issue 9): gatelog_kafka_consumer_lag of every partition seen (on the tick). */
void kafka_lag_update(struct ingest_kafka *k);

/* ingest/kafka-conf.c */
/* librdkafka's configuration of consumer k from cfg (callbacks included), or NULL with
 * err saying which property failed. */
rd_kafka_conf_t *kafka_make_conf(struct ingest_kafka *k, const struct ingest_kafka_config *cfg,
                                 char *err, size_t err_len);
/* Subscribes k to cfg's topics. 0, -ENOMEM, or -EINVAL with err saying why. */
int kafka_subscribe(struct ingest_kafka *k, const struct ingest_kafka_config *cfg, char *err,
                    size_t err_len);

/* ingest/kafka-claim.c: commits to the broker, each carrying this chain's failover claim in
 * its metadata (docs/CONFIG.md, "kafka"). */
/* librdkafka's offset commit callback (served by rd_kafka_consumer_poll). */
void kafka_offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *offsets, void *opaque);
/* Commits durable offsets of the assigned entries (or of those in only). async: the result
 * comes to kafka_offset_commit_cb, else this call blocks for the round trip. release: this
 * process stores nothing more of those partitions (a drained revoke, the close). */
void kafka_commit_durable(struct ingest_kafka *k, const rd_kafka_topic_partition_list_t *only,
                          bool async, bool release);
/* On the tick: idle partitions give up their claim past what is stored (async commit). */
void kafka_claims_shrink(struct ingest_kafka *k);
/* Before offset of p is queued: makes sure the broker holds a claim covering it (may block
 * up to KAFKA_CLAIM_TIMEOUT_MS). 0, or -EAGAIN when the claim commit failed. */
int kafka_claim_ahead(struct ingest_kafka *k, struct kafka_part *p, int64_t offset);
/* At assignment: resets p's claim state and reads the previous owner's claim from c (the
 * committed offset with its metadata; NULL when unknown), start being p's resume point. */
void kafka_claim_read(struct ingest_kafka *k, struct kafka_part *p,
                      const rd_kafka_topic_partition_t *c, int64_t start);
/* Reads the store's chain name into k->chain (opening k->store read-only). 0 or -errno
 * with err saying why. */
int kafka_chain_read(struct ingest_kafka *k, char *err, size_t err_len);
