/* The Kafka collector: a librdkafka high-level consumer driven by the daemon's event loop.
 *
 * Load: up to ~100k messages a second per collector; a few partitions to a few hundred.
 * Guarantees (ingest/kafka.h has the contract):
 *   - exactly once into the store: the offset goes into the record's transaction; a
 *     partition resumes after max(stored, pushed, group-committed); below that, offsets the
 *     broker sends again are skipped;
 *   - offsets reach the broker only after the writer's commit (the event sink), so the
 *     group's lag counts exactly what is not yet evidence;
 *   - across instances of one group, exact and never silent: every commit carries this
 *     chain's failover claim (ingest/kafka-claim.c), and a partition taken over from a chain
 *     that may hold some of its offsets marks those records (source.redelivery);
 *   - a full queue pauses the partitions, never drops;
 *   - a broker down: librdkafka reconnects with its backoff; we log each state change once;
 *     the loop never spins (the queue's eventfd wakes us, plus a 1 s tick that keeps the
 *     consumer's max.poll.interval alive and retries failed commits).
 *
 * Threads: everything here runs on the loop thread (librdkafka's callbacks are served by
 * rd_kafka_consumer_poll, since the main queue is forwarded to the consumer queue), except
 * sink_cb (whichever writer thread runs the after-commit work: the storing thread, or a
 * sync thread once the commit's fdatasync moves there; it only raises an atomic offset and
 * signals an eventfd, so any thread, in any order, may call it) and log_cb (librdkafka's
 * threads). The events are built on the collector's own thread, `gl-kafka` (round 11:
 * ingest/kafka-build.c hands it each consumed slice and hands it back built; the loop
 * pushes it, so what is queued, held, claimed and released is still decided here);
 * librdkafka's threads are named by librdkafka (rdk:main, rdk:broker*).
 *
 * Files: this one takes messages, holds and pauses, and owns the life cycle;
 * ingest/kafka-build.c and ingest/kafka-event.c build the events on gl-kafka;
 * ingest/kafka-rebalance.c the assignments and revokes; ingest/kafka-conf.c librdkafka's
 * configuration; ingest/kafka-claim.c commits and claims; ingest/kafka-parts.c offsets. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/recycle.h"
#include "core/tm.h"
#include "ingest/kafka-internal.h"
#include "normalize/normalize.h"
#include "outputs/outputs.h"

/* Recycled blocks (performance, issue 12: the loop thread allocates every event and record,
 * the writer's threads free them; see core/recycle.h and ingest/syslog-net.c). A Kafka
 * record takes ~2 KiB plus three times its payload: the small block fits a payload up to
 * ~650 bytes, the large one up to ~2 KiB; longer ones are malloc'd. Idle blocks kept: about
 * what the default queue (8,192 events) holds. */
#define KAFKA_REC_SMALL 4096u
#define KAFKA_REC_LARGE 8192u
#define KAFKA_REC_SMALL_KEEP 8192u
#define KAFKA_REC_LARGE_KEEP 1024u
#define KAFKA_EVENT_KEEP 8192u

/* How often the tick runs: liveness for max.poll.interval.ms (300 s by default), retry of
 * failed commits and of an event held by a full queue. */
#define KAFKA_TICK_US (1000 * 1000)
/* Test hook (docs/RELIABILITY.md): claim commits failed by GATELOG_FAILPOINT=
 * kafka-claim-commit-fail. One is tried per tick while an event is held, so this many hold
 * it for several seconds: long enough for a test to start a rebalance that only
 * serve_while_held can serve. */
#define KAFKA_FAILPOINT_CLAIM_FAILS 8
/* A full queue first only holds the event and waits for the space fd (the writer frees room
 * within one batch, ~50 ms); partitions are paused at librdkafka only when the queue stays
 * full past a tick, since a pause discards what was prefetched and costs a fetch round trip
 * on resume. Memory meanwhile: librdkafka's prefetch queue (queued.max.messages.kbytes). */

/* Text for a quoted log value: quotes and backslashes become apostrophes. */
const char *kafka_esc(const char *s, char *buf, size_t n)
{
        size_t i = 0;

        for (; s && *s && i + 1 < n; s++)
                buf[i++] = *s == '"' || *s == '\\' ? '\'' : *s;
        buf[i] = '\0';
        return buf;
}

static void efd_signal(int fd)
{
        uint64_t one = 1;

        (void)!write(fd, &one, sizeof(one));
}

static void efd_drain(int fd)
{
        uint64_t v;

        (void)!read(fd, &v, sizeof(v));
}

void kafka_state_up(struct ingest_kafka *k)
{
        if (k->state == KS_UP)
                return;
        if (k->state == KS_DOWN)
                log_info("kafka brokers reachable again", "kafka=%s", k->name);
        k->state = KS_UP;
        metric_set(k->m_up, 1);
        pthread_mutex_lock(&k->ready_lock);  /* ops (issue 9) */
        k->down = false;
        pthread_mutex_unlock(&k->ready_lock);
}

void kafka_state_down(struct ingest_kafka *k, const char *reason)
{
        char b[256];

        if (k->state == KS_DOWN)
                return;
        log_warn("kafka brokers unreachable; retrying", "kafka=%s reason=\"%s\"", k->name,
                 kafka_esc(reason, b, sizeof(b)));
        k->state = KS_DOWN;
        metric_set(k->m_up, 0);
        pthread_mutex_lock(&k->ready_lock);  /* ops (issue 9) */
        k->down = true;
        snprintf(k->down_reason, sizeof(k->down_reason), "%s", kafka_esc(reason, b, sizeof(b)));
        pthread_mutex_unlock(&k->ready_lock);
}

bool ingest_kafka_ready(struct ingest_kafka *k, char *why, size_t why_len)
{
        bool down;

        pthread_mutex_lock(&k->ready_lock);
        down = k->down;
        if (down)
                snprintf(why, why_len, "kafka %s: brokers unreachable: %s", k->name,
                         k->down_reason);
        pthread_mutex_unlock(&k->ready_lock);
        return !down;
}

/* Logs an error once until a different one comes. */
void kafka_log_once(struct ingest_kafka *k, const char *what, const char *detail)
{
        char text[256], b[256];

        snprintf(text, sizeof(text), "%s: %s", what, detail);
        if (!strcmp(text, k->last_error))
                return;
        snprintf(k->last_error, sizeof(k->last_error), "%s", text);
        log_warn("kafka error", "kafka=%s error=\"%s\"", k->name, kafka_esc(text, b, sizeof(b)));
}

/* ---- the writer's callback (librdkafka's are in ingest/kafka-conf.c) ---- */

static void sink_cb(void *ud, uint64_t token)
{
        struct ingest_kafka *k = ud;

        /* Test hook (docs/RELIABILITY.md): die in the window between the store's commit and
         * the broker's, the one a failover claim exists for. */
        if (k->failpoint)
                _exit(137);
        kafka_parts_durable(k->parts, token);
        if (!atomic_exchange(&k->commit_signalled, true))
                efd_signal(k->commit_fd);
}

/* ---- pausing when the queue is full (or a claim commit failed) ---- */

/* Why an event is held, for the pause's log line. */
static const char KAFKA_WHY_FULL[] = "queue full";
static const char KAFKA_WHY_CLAIM[] = "claim commit failed";

static int space_cb(struct loop *l, int fd, uint32_t events, void *ud);

/* Stops or restarts fetching of every assigned partition at librdkafka; the log says why
 * the held events wait (k->held_why). */
static void fetch_pause(struct ingest_kafka *k, bool pause)
{
        rd_kafka_topic_partition_list_t *a = NULL;

        if (k->paused == pause)
                return;
        if (rd_kafka_assignment(k->rk, &a) == 0 && a) {
                if (pause)
                        rd_kafka_pause_partitions(k->rk, a);
                else
                        rd_kafka_resume_partitions(k->rk, a);
                rd_kafka_topic_partition_list_destroy(a);
        }
        k->paused = pause;
        metric_set(k->m_paused, pause);
        if (pause)
                log_debug("kafka paused", "kafka=%s reason=\"%s\"", k->name,
                          k->held_why ? k->held_why : "queue full");
        else
                log_debug("kafka resumed", "kafka=%s", k->name);
}

/* Waits (or stops waiting) for the queue's space fd; un-waiting also resumes fetching. */
void kafka_pause_set(struct ingest_kafka *k, bool pause)
{
        if (!pause)
                fetch_pause(k, false);
        if (pause && !k->space_registered && k->registered)
                k->space_registered = loop_add(k->loop, k->space_fd, EPOLLIN, space_cb, k) == 0;
        if (!pause && k->space_registered) {
                loop_del(k->loop, k->space_fd);
                k->space_registered = false;
        }
}

static void held_free(struct ingest_kafka *k)
{
        for (size_t i = 0; i < k->n_held; i++)
                event_free(k->held[i]);
        k->n_held = 0;
}

/* Drops the first n held events (the queue took them), keeping the rest in order. */
static void held_shift(struct ingest_kafka *k, size_t n)
{
        size_t rest = k->n_held - n;

        if (n == 0)
                return;
        /* By index, not k->held + n: cppcheck cannot see that n <= n_held <= KAFKA_SLICE
         * (queue_push_batch takes at most what it was given). */
        for (size_t i = 0; i < rest; i++) {
                k->held[i] = k->held[n + i];
                k->held_part[i] = k->held_part[n + i];
                k->held_offset[i] = k->held_offset[n + i];
        }
        k->n_held = rest;
}

/* Queues the held events in order: each run that the broker's claims already cover goes
 * in one queue_push_batch; an offset past its partition's claim first waits for the claim
 * commit (a synchronous round trip, made only after everything before it was queued, so no
 * event waits behind it needlessly). Returns 0 when all went (fetching resumed), -EAGAIN
 * when the queue filled or a claim commit failed (the rest stays held, k->held_why says
 * which; a full queue arms the space fd), -EPIPE when the queue is closed (the rest freed:
 * fetched again on the next start). */
static int kafka_held_push(struct ingest_kafka *k)
{
        while (k->n_held > 0) {
                size_t end = 0, taken = 0;
                int r;

                while (end < k->n_held && k->held_offset[end] <= k->held_part[end]->through)
                        end++;
                if (end == 0) {
                        if (kafka_claim_ahead(k, k->held_part[0], k->held_offset[0]) < 0) {
                                k->held_why = KAFKA_WHY_CLAIM;
                                return -EAGAIN;
                        }
                        continue;
                }
                r = queue_push_batch(k->q, k->held, end, &taken);
                for (size_t i = 0; i < taken; i++) {
                        k->held_part[i]->pushed = k->held_offset[i];
                        k->held_part[i]->next = k->held_offset[i] + 1;
                }
                if (taken > 0) {
                        metric_add(k->m_messages, taken);
                        metric_add(k->m_received, taken);  /* ops (issue 9) */
                }
                held_shift(k, taken);
                if (r < 0) {
                        held_free(k);
                        k->stopped = true;
                        kafka_pause_set(k, false);
                        return r;
                }
                if (taken < end) {
                        k->held_why = KAFKA_WHY_FULL;
                        return -EAGAIN;
                }
        }
        return 0;
}

/* Held or being built (gl-kafka): not queued yet. */
bool kafka_held_has(const struct ingest_kafka *k, const struct kafka_part *p)
{
        if (p->n_building > 0)
                return true;
        for (size_t i = 0; i < k->n_held; i++)
                if (k->held_part[i] == p)
                        return true;
        return false;
}

void kafka_held_release(struct ingest_kafka *k, struct kafka_part *p)
{
        size_t kept = 0, freed = 0;
        int64_t first = -1;

        for (size_t i = 0; i < k->n_held; i++) {
                if (k->held_part[i] != p) {
                        k->held[kept] = k->held[i];
                        k->held_part[kept] = k->held_part[i];
                        k->held_offset[kept++] = k->held_offset[i];
                        continue;
                }
                if (freed++ == 0)
                        first = k->held_offset[i];
                event_free(k->held[i]);
        }
        k->n_held = kept;
        p->taken = -1;  /* the next assignment says where p resumes */
        if (freed > 0)
                log_info("kafka revoke: held event released, not stored",
                         "kafka=%s topic=%s partition=%d offset=%lld n=%zu", k->name, p->topic,
                         (int)p->partition, (long long)first, freed);
        if (freed > 0 && kept == 0)
                kafka_pause_set(k, false);
}

/* After a held slice moved on (space came, a claim commit went through): 0 done (fetching
 * resumed, consuming goes on), -EAGAIN still held (a full queue re-armed the space fd). */
static int held_retry(struct ingest_kafka *k)
{
        int r = kafka_held_push(k);

        if (r == -EAGAIN) {
                if (k->held_why == KAFKA_WHY_FULL)
                        kafka_pause_set(k, true);
                return r;
        }
        kafka_pause_set(k, false);
        if (r == 0 && k->registered)
                efd_signal(k->wake_fd);  /* go on consuming */
        return r;
}

static int space_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        struct ingest_kafka *k = ud;

        (void)l;
        (void)events;
        queue_ack_space_fd(fd);
        if (k->n_held > 0)
                held_retry(k);  /* still full: our failed push asks for the next signal */
        return 0;
}

/* ---- messages: taken on the loop, built on gl-kafka (ingest/kafka-event.c) ---- */

/* Takes message m for building into slice s, or returns false (the caller destroys it):
 * an error, a straggler of a revoked partition, or an offset already taken. Loop thread:
 * everything that decides what is queued is decided here, before the build. */
static bool take_message(struct ingest_kafka *k, rd_kafka_message_t *m, struct kafka_slice *s)
{
        struct kafka_part *p;
        uint16_t index;
        int64_t first;

        if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        kafka_log_once(k, m->rkt ? rd_kafka_topic_name(m->rkt) : "consumer",
                                 rd_kafka_message_errstr(m));
                return false;
        }
        kafka_state_up(k);
        p = kafka_parts_get(k->parts, rd_kafka_topic_name(m->rkt), m->partition, &index);
        if (!p) {
                drop_count(k->drops, DROP_OUT_OF_MEMORY, 1);
                return false;
        }
        /* A straggler of a revoked partition (its next owner reads it; also one taken in
         * the same slice as the revoke that librdkafka served inside the call), or an offset
         * that is already stored, queued, held or being built: skipping it is what makes
         * "once" true. */
        first = p->taken > p->next ? p->taken : p->next;
        if (!p->assigned || (first >= 0 && m->offset < first))
                return false;
        p->taken = m->offset + 1;
        p->n_building++;
        s->msg[s->n] = m;
        s->part[s->n] = p;
        s->index[s->n] = index;
        s->offset[s->n++] = m->offset;
        return true;
}

/* Moves built slices, oldest first, behind the held events: those already built, or
 * (wait) every slice out. Room: see KAFKA_HELD_MAX. */
static void build_take(struct ingest_kafka *k, bool wait)
{
        struct kafka_slice *s;

        while (k->build && (wait || k->n_held + KAFKA_SLICE <= KAFKA_HELD_MAX) &&
               (s = kafka_build_take(k->build, wait))) {
                for (size_t i = 0; i < s->n; i++) {
                        s->part[i]->n_building--;
                        if (!s->ev[i])
                                continue;  /* counted by kafka_build_slice_cb */
                        k->held[k->n_held] = s->ev[i];
                        k->held_part[k->n_held] = s->part[i];
                        k->held_offset[k->n_held++] = s->offset[i];
                }
                kafka_build_recycle(k->build, s);
        }
}

/* Pushes the held events; when they must wait, says since when and (a full queue) waits
 * for space. 0 when all went. */
static int held_push_now(struct ingest_kafka *k)
{
        int r = kafka_held_push(k);

        if (r == -EAGAIN) {
                k->held_since = tm_mono_us();
                if (k->held_why == KAFKA_WHY_FULL)
                        kafka_pause_set(k, true);
        }
        return r;
}

void kafka_rebalance_served_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *l, void *opaque)
{
        struct ingest_kafka *k = opaque;
        bool held = k->n_held > 0;

        /* Every slice back (the builder then reads nothing an assignment changes), and
         * queued as the loop used to queue each slice before calling librdkafka again:
         * unless the queue is full (then they are held, and a revoke releases those of its
         * partitions), a revoke drains and commits them. Held before: the queue was full,
         * and is retried by the space fd as before. */
        build_take(k, true);
        if (!held && k->n_held > 0 && !k->stopped)
                (void)held_push_now(k);
        kafka_rebalance_cb(rk, err, l, opaque);
        /* A revoke may have released every held event while built slices wait: consuming
         * goes on at once rather than at the next tick. */
        if (k->registered && k->n_held == 0)
                efd_signal(k->wake_fd);
}

/* Bounded work: at most KAFKA_POLL_BATCH messages in slices of KAFKA_SLICE, then a
 * self-wakeup for the rest. Each slice is handed to gl-kafka and pushed when it comes back
 * built, while the next is consumed; a rebalance served inside the next call takes every
 * slice back first (kafka_rebalance_served_cb), so it finds no unqueued event of a revoked
 * partition unless the queue was full (then those are released: kafka_held_release). */
static void dispatch(struct ingest_kafka *k)
{
        rd_kafka_message_t *m[KAFKA_SLICE];

        for (int done = 0; ; ) {
                struct kafka_slice *s;
                ssize_t n;

                if (k->stopped || k->n_held > 0)
                        return;
                build_take(k, false);
                if (k->n_held > 0 && held_push_now(k) < 0)
                        return;
                if (done >= KAFKA_POLL_BATCH)
                        break;
                if (kafka_build_out(k->build) >= KAFKA_BUILD_SLICES)
                        return;  /* the build fd wakes us */
                s = kafka_build_slice(k->build);
                if (!s)
                        return;  /* out of memory: the tick tries again */
                n = rd_kafka_consume_batch_queue(k->rkq, 0, m, KAFKA_SLICE);
                for (ssize_t i = 0; i < n; i++)
                        if (!take_message(k, m[i], s))
                                rd_kafka_message_destroy(m[i]);
                if (s->n > 0)
                        kafka_build_hand(k->build, s);
                else
                        kafka_build_recycle(k->build, s);
                if (n <= 0)
                        return;
                done += (int)n;
                /* A rebalance served inside the call took every slice back and queued
                 * them; what the queue did not take is held: the loop's top returns. */
        }
        efd_signal(k->wake_fd);
}

static int built_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        struct ingest_kafka *k = ud;

        (void)l;
        (void)fd;
        (void)events;
        kafka_build_ack(k->build);
        dispatch(k);
        return 0;
}

static int wake_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        (void)l;
        (void)events;
        efd_drain(fd);
        dispatch(ud);
        return 0;
}

static int commit_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        (void)l;
        (void)events;
        efd_drain(fd);
        kafka_commit_durable(ud, NULL, true, false);
        return 0;
}

/* While an event is held the consumer must still be polled: a rebalance (after a session
 * timeout, say) is served only from inside poll, and a held claim commit keeps failing
 * ("Unknown member") until it is. Fetching is paused, so poll has no messages of ours to
 * return; one that comes anyway is rewound (sought back to), to be fetched again after the
 * resume, never skipped. */
static void serve_while_held(struct ingest_kafka *k)
{
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, 0);
        rd_kafka_topic_partition_list_t *l;

        if (!m)
                return;
        if (!m->err && m->rkt && (l = rd_kafka_topic_partition_list_new(1))) {
                rd_kafka_error_t *e;

                rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt),
                                                  m->partition)->offset = m->offset;
                e = rd_kafka_seek_partitions(k->rk, l, 0);
                if (e) {
                        kafka_log_once(k, "rewind", rd_kafka_error_string(e));
                        rd_kafka_error_destroy(e);
                }
                rd_kafka_topic_partition_list_destroy(l);
        }
        rd_kafka_message_destroy(m);
}

static int tick_cb(struct loop *l, void *ud)
{
        struct ingest_kafka *k = ud;

        (void)l;
        kafka_commit_durable(k, NULL, true, false);
        kafka_claims_shrink(k);
        kafka_lag_update(k);  /* ops (issue 9) */
        if (k->n_held > 0 && held_retry(k) == -EAGAIN) {
                if (tm_mono_us() - k->held_since >= KAFKA_TICK_US) {
                        fetch_pause(k, true);
                        serve_while_held(k);
                }
                return 0;
        }
        dispatch(k);
        return 0;
}

/* ---- life cycle ---- */

int ingest_kafka_new(const struct ingest_kafka_config *cfg, const char *db_path,
                     struct loop *loop, struct queue *q, struct drop_counters *drops,
                     struct ingest_kafka **ret, char *err, size_t err_len)
{
        static const uint64_t one = 1;
        struct ingest_kafka *k = calloc(1, sizeof(*k));
        rd_kafka_conf_t *conf;
        char e[512] = "";
        int r = -ENOMEM;

        if (!k)
                goto fail_msg;
        k->wake_fd = k->commit_fd = k->space_fd = k->timer = -1;
        pthread_mutex_init(&k->ready_lock, NULL);  /* ops (issue 9) */
        k->name = strdup(cfg->name);
        k->db_path = strdup(db_path);
        if (!k->name || !k->db_path || kafka_parts_new(&k->parts) < 0 ||
            recycle_new(KAFKA_REC_SMALL, KAFKA_REC_SMALL_KEEP, &k->rec_rc[0]) < 0 ||
            recycle_new(KAFKA_REC_LARGE, KAFKA_REC_LARGE_KEEP, &k->rec_rc[1]) < 0 ||
            recycle_new(sizeof(struct event), KAFKA_EVENT_KEEP, &k->ev_rc) < 0)
                goto fail_msg;
        r = kafka_build_start(kafka_build_slice_cb, kafka_discard_slice_cb, k, &k->build);
        if (r < 0) {
                snprintf(err, err_len, "kafka %s: the building thread: %s", cfg->name,
                         strerror(-r));
                goto fail;
        }
        r = -ENOMEM;
        k->loop = loop;
        k->q = q;
        k->drops = drops;
        k->start_latest = cfg->start_latest;
        k->max_message = cfg->max_message ? cfg->max_message : KAFKA_MAX_MESSAGE_DEFAULT;
        k->drain_timeout_us = cfg->drain_timeout_us;
        k->claim_window = cfg->claim_window > 0 ? cfg->claim_window : KAFKA_CLAIM_WINDOW_DEFAULT;
        k->failpoint = getenv("GATELOG_FAILPOINT") &&
                       !strcmp(getenv("GATELOG_FAILPOINT"), "kafka-after-db-commit");
        if (getenv("GATELOG_FAILPOINT") &&
            !strcmp(getenv("GATELOG_FAILPOINT"), "kafka-claim-commit-fail"))
                k->claim_fails_left = KAFKA_FAILPOINT_CLAIM_FAILS;
        k->async_commits_lost = getenv("GATELOG_FAILPOINT") &&
                                !strcmp(getenv("GATELOG_FAILPOINT"), "kafka-async-commit-lost");
        r = kafka_chain_read(k, err, err_len);
        if (r < 0)
                goto fail;
        r = -ENOMEM;
        k->sink = (struct event_sink){ .committed_cb = sink_cb, .ud = k };
        k->m_up = metrics_gauge("gatelog_kafka_up", "Kafka brokers reachable (1), "
                                "unreachable (0)", "consumer", cfg->name, NULL);
        k->m_messages = metrics_counter("gatelog_kafka_messages_total", "Kafka messages "
                                        "queued for the store", "consumer", cfg->name, NULL);
        /* Looked up once (issue 12: no label formatting per message). */
        k->m_received = metrics_received_counter("kafka", NULL);
        k->m_paused = metrics_gauge("gatelog_kafka_paused", "Kafka fetching paused by a "
                                    "full queue", "consumer", cfg->name, NULL);
        atomic_init(&k->commit_signalled, false);
        k->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        k->commit_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (k->wake_fd < 0 || k->commit_fd < 0) {
                r = -errno;
                snprintf(err, err_len, "kafka %s: %s", cfg->name, strerror(errno));
                goto fail;
        }
        k->space_fd = queue_space_subscribe(q);
        if (k->space_fd < 0) {
                r = k->space_fd;
                snprintf(err, err_len, "kafka %s: queue space subscription: %s", cfg->name,
                         strerror(-r));
                goto fail;
        }
        conf = kafka_make_conf(k, cfg, e, sizeof(e));
        if (!conf) {
                snprintf(err, err_len, "kafka %s: %s", cfg->name, e);
                r = -EINVAL;
                goto fail;
        }
        k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
        if (!k->rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(err, err_len, "kafka %s: %s", cfg->name, e);
                r = -EINVAL;
                goto fail;
        }
        k->cooperative = !strcmp(rd_kafka_rebalance_protocol(k->rk), "COOPERATIVE");
        rd_kafka_poll_set_consumer(k->rk);
        k->rkq = rd_kafka_queue_get_consumer(k->rk);
        if (!k->rkq) {
                snprintf(err, err_len, "kafka %s: no consumer queue", cfg->name);
                r = -EINVAL;
                goto fail;
        }
        rd_kafka_queue_io_event_enable(k->rkq, k->wake_fd, &one, sizeof(one));
        r = kafka_subscribe(k, cfg, err, err_len);
        if (r < 0)
                goto fail;
        r = loop_add(loop, kafka_build_fd(k->build), EPOLLIN, built_cb, k);
        k->build_registered = r >= 0;
        if (r < 0 || (r = loop_add(loop, k->wake_fd, EPOLLIN, wake_cb, k)) < 0 ||
            (r = loop_add(loop, k->commit_fd, EPOLLIN, commit_cb, k)) < 0 ||
            (r = k->timer = loop_add_timer(loop, KAFKA_TICK_US, tick_cb, k)) < 0) {
                snprintf(err, err_len, "kafka %s: %s", cfg->name, strerror(-r));
                goto fail;
        }
        k->registered = true;
        efd_signal(k->wake_fd);  /* serve what is already queued */
        *ret = k;
        return 0;
fail_msg:
        snprintf(err, err_len, "kafka %s: %s", cfg->name, strerror(ENOMEM));
fail:
        if (k && k->timer >= 0)
                loop_del_timer(loop, k->timer);
        if (k && k->build_registered)
                loop_del(loop, kafka_build_fd(k->build));
        if (k && k->wake_fd >= 0)
                loop_del(loop, k->wake_fd);
        if (k && k->commit_fd >= 0)
                loop_del(loop, k->commit_fd);
        if (k)
                k->closed = true;  /* nothing subscribed worth a group leave */
        ingest_kafka_free(k);
        return r;
}

void ingest_kafka_stop_fetching(struct ingest_kafka *k)
{
        if (!k || (k->stopped && !k->registered))
                return;
        k->stopped = true;
        build_take(k, true);  /* what gl-kafka was building joins the held events */
        held_free(k);  /* unstored: fetched again on the next start */
        if (k->registered) {
                kafka_pause_set(k, false);
                loop_del(k->loop, kafka_build_fd(k->build));
                loop_del(k->loop, k->wake_fd);
                loop_del(k->loop, k->commit_fd);
                loop_del_timer(k->loop, k->timer);
                k->registered = false;
        }
}

void ingest_kafka_close(struct ingest_kafka *k)
{
        rd_kafka_resp_err_t err;

        if (!k || k->closed)
                return;
        ingest_kafka_stop_fetching(k);
        k->closed = k->closing = true;
        if (!k->rk)
                return;
        kafka_commit_durable(k, NULL, false, true);  /* the writer stored all it will */
        err = rd_kafka_consumer_close(k->rk);
        if (err)
                log_warn("kafka: closing the consumer", "kafka=%s error=\"%s\"", k->name,
                         rd_kafka_err2str(err));
}

void ingest_kafka_free(struct ingest_kafka *k)
{
        if (!k)
                return;
        ingest_kafka_close(k);
        /* Before librdkafka's handle: the builder destroys the messages it was handed. */
        kafka_build_free(k->build);
        if (k->rkq)
                rd_kafka_queue_destroy(k->rkq);
        if (k->rk)
                rd_kafka_destroy(k->rk);
        held_free(k);
        store_close(k->store);
        kafka_parts_free(k->parts);
        if (k->wake_fd >= 0)
                close(k->wake_fd);
        if (k->commit_fd >= 0)
                close(k->commit_fd);
        if (k->space_fd >= 0)
                queue_space_unsubscribe(k->q, k->space_fd);
        pthread_mutex_destroy(&k->ready_lock);  /* ops (issue 9) */
        free(k->name);
        free(k->db_path);
        free(k->chain);
        /* Events still queued or in the writer keep their recyclers alive until freed. */
        recycle_release(k->rec_rc[0]);
        recycle_release(k->rec_rc[1]);
        recycle_release(k->ev_rc);
        free(k);
}
