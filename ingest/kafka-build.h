/* ingest/kafka-build.h: the Kafka collector's building thread, `gl-kafka` (performance,
 * issue 12, round 11): the loop hands it slices of consumed messages, it builds their events
 * (JSON parse, the gate record, the event; ingest/kafka.c's build callback) and hands the
 * slices back, in the order they were handed. Private to ingest/kafka*.c and its unit test;
 * ingest/kafka-build.c says why and who touches what. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Messages per slice: as many as one rd_kafka_consume_batch_queue call takes. */
#define KAFKA_SLICE 64
/* Slices out at the builder at most (handed and not yet taken back): the loop consumes
 * the next slice while the builder builds the one before (issue 12, round 11). The loop's
 * held events (ingest/kafka-internal.h) can be this many slices' worth. */
#define KAFKA_BUILD_SLICES 4

struct kafka_part;

/* One slice. The loop fills n, msg, part, index and offset; the build callback fills ev
 * (NULL: not built, its loss counted by the callback) and consumes every msg. */
struct kafka_slice {
        struct kafka_slice *next;       /* list link (kafka-build.c's) */
        size_t n;
        void *msg[KAFKA_SLICE];         /* rd_kafka_message_t *: owned by the slice until
                                         * the callback has run */
        struct kafka_part *part[KAFKA_SLICE];
        uint16_t index[KAFKA_SLICE];    /* part's index (its sink tokens) */
        int64_t offset[KAFKA_SLICE];
        void *ev[KAFKA_SLICE];          /* struct event *, owned by whoever takes the slice */
};

/* Builds s on `gl-kafka`: fills s->ev[0..n) and consumes (destroys) s->msg[0..n). Must not
 * touch what the loop thread changes while slices are out (ingest/kafka-build.c). */
typedef void (*kafka_build_cb)(void *ud, struct kafka_slice *s);
/* Frees the events of a built slice nobody took (at kafka_build_free). */
typedef void (*kafka_discard_cb)(void *ud, struct kafka_slice *s);

struct kafka_build;

/* Starts `gl-kafka` with its callbacks. 0, -ENOMEM, or -errno of eventfd/pthread_create. */
int kafka_build_start(kafka_build_cb build, kafka_discard_cb discard, void *ud,
                      struct kafka_build **ret);
/* Becomes readable when a built slice is waiting (the loop's wake-up; drain it with
 * kafka_build_ack before taking). */
int kafka_build_fd(const struct kafka_build *b);
void kafka_build_ack(struct kafka_build *b);
/* Loop: an empty slice to fill (n = 0), or NULL when out of memory. Give it back with
 * kafka_build_hand or kafka_build_recycle. */
struct kafka_slice *kafka_build_slice(struct kafka_build *b);
/* Loop: hands s (n > 0) to the builder; it comes back from kafka_build_take. */
void kafka_build_hand(struct kafka_build *b, struct kafka_slice *s);
/* Loop: a slice back to the free list (its events taken or freed). */
void kafka_build_recycle(struct kafka_build *b, struct kafka_slice *s);
/* Loop: slices handed and not yet taken back. */
unsigned kafka_build_out(const struct kafka_build *b);
/* Loop: the oldest handed slice if it is built, else NULL; wait: blocks until it is (NULL
 * only when no slice is out). Slices come back in the order they were handed. */
struct kafka_slice *kafka_build_take(struct kafka_build *b, bool wait);
/* Stops and joins `gl-kafka` (after it built every slice handed: their messages are
 * consumed), discards the built slices nobody took, frees b. Accepts NULL. */
void kafka_build_free(struct kafka_build *b);
