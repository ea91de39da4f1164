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
 * threads). The collector starts no thread
 * of its own, but for its close at stop (ingest_kafka_close, so that a close stuck inside
 * librdkafka cannot hold the stop); librdkafka's are named by librdkafka (rdk:main,
 * rdk:broker*).
 *
 * Files: this one takes messages, holds and pauses, and owns the life cycle;
 * ingest/kafka-rebalance.c the assignments and revokes; ingest/kafka-conf.c librdkafka's
 * configuration; ingest/kafka-claim.c commits and claims; ingest/kafka-parts.c offsets. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
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
/* How long past close_timeout the stop waits for a close stuck in a librdkafka call before
 * it stops without it (ingest_kafka_close). */
#define KAFKA_CLOSE_GRACE_US (2 * 1000 * 1000)
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

bool kafka_held_has(const struct ingest_kafka *k, const struct kafka_part *p)
{
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

/* ---- messages ---- */

/* Sets src's "redelivery" when claims of p cover offset: one covering claim is the object
 * {"chain", "through"}, several an array of such objects, newest claim first (docs/FORMAT.md
 * section 11). 0 (also when none covers), or -ENOMEM. */
static int mark_redelivery(const struct kafka_part *p, int64_t offset, json *src)
{
        json *arr = NULL, *one = NULL;
        size_t n = 0;

        for (size_t i = 0; i < p->n_prev; i++) {
                json *mark;

                if (offset > p->prev[i].through)
                        continue;
                mark = json_new_obj();
                if (!mark || json_obj_set_str(mark, "chain", p->prev[i].chain) < 0 ||
                    json_obj_set_int(mark, "through", p->prev[i].through) < 0) {
                        json_free(mark);
                        goto fail;
                }
                if (n++ == 0) {
                        one = mark;
                        continue;
                }
                if (!arr) {
                        if (!(arr = json_new_arr())) {
                                json_free(mark);
                                goto fail;
                        }
                        /* json_arr_append takes its value, also when it fails */
                        if (json_arr_append(arr, one) < 0) {
                                one = NULL;
                                json_free(mark);
                                goto fail;
                        }
                        one = NULL;
                }
                if (json_arr_append(arr, mark) < 0)
                        goto fail;
        }
        if (n == 0)
                return 0;
        return json_obj_set(src, "redelivery", arr ? arr : one) < 0 ? -ENOMEM : 0;
fail:
        json_free(one);
        json_free(arr);
        return -ENOMEM;
}

/* The offset in decimal, as "%lld" writes it, without printf's cost per message (issue
 * 12). buf: at least 21 bytes. Returns the length (no NUL is written). */
static size_t offset_text(int64_t v, char *buf)
{
        char t[20];
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        size_t n = 0, len = 0;

        do {
                t[n++] = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        if (v < 0)
                buf[len++] = '-';
        while (n)
                buf[len++] = t[--n];
        return len;
}

static struct event *message_event(struct ingest_kafka *k, const rd_kafka_message_t *m,
                                   struct kafka_part *p, uint16_t index)
{
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        int64_t received = tm_now_us();
        const struct norm_kafka_msg km = {
                .topic = p->topic, .partition = p->partition, .offset = m->offset,
                .key = m->key, .key_len = m->key_len,
                .ts_us = ts >= 0 ? ts * 1000 : INT64_MIN,
        };
        size_t len = m->len;
        bool truncated = len > k->max_message;
        json *rec = NULL;
        struct event *ev;
        char off[24];
        uint64_t token;

        if (kafka_token_make(index, m->offset, &token) < 0)
                return NULL;
        if (truncated)
                len = k->max_message;
        /* The source is built in the record's block (issue 12: no allocation of its own). */
        if (normalize_kafka_recycled(k->rec_rc, 2, m->payload, len, truncated, &km, received,
                                     &rec) < 0)
                return NULL;
        /* Failover: a previous owner's chain may hold this offset too; the record says so
         * (docs/FORMAT.md), and `gatelog verify` accepts that duplicate and no other. */
        if (p->n_prev > 0 && mark_redelivery(p, m->offset, json_obj_get(rec, "source")) < 0) {
                json_free(rec);
                return NULL;
        }
        ev = event_new_recycled(k->ev_rc, rec, received);
        if (!ev || event_set_posn(ev, p->source, p->source_len, off,
                                  offset_text(m->offset, off)) < 0) {
                event_free(ev);
                return NULL;
        }
        ev->sink = &k->sink;
        ev->sink_token = token;
        return ev;
}

/* Builds the message's event into the slice (k->held; the caller pushes the slice). */
static void on_message(struct ingest_kafka *k, const rd_kafka_message_t *m)
{
        struct kafka_part *p;
        struct event *ev;
        uint16_t index;
        int64_t first;

        if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        kafka_log_once(k, m->rkt ? rd_kafka_topic_name(m->rkt) : "consumer",
                                 rd_kafka_message_errstr(m));
                return;
        }
        kafka_state_up(k);
        p = kafka_parts_get(k->parts, rd_kafka_topic_name(m->rkt), m->partition, &index);
        if (!p) {
                drop_count(k->drops, DROP_OUT_OF_MEMORY, 1);
                return;
        }
        /* A straggler of a revoked partition (its next owner reads it; also one taken in
         * the same slice as the revoke that librdkafka served inside the call), or an offset
         * that is already stored, queued or in this slice: skipping it is what makes "once"
         * true. */
        first = p->taken > p->next ? p->taken : p->next;
        if (!p->assigned || (first >= 0 && m->offset < first))
                return;
        ev = message_event(k, m, p, index);
        if (!ev) {
                drop_count(k->drops, DROP_OUT_OF_MEMORY, 1);
                return;
        }
        p->taken = m->offset + 1;
        k->held[k->n_held] = ev;
        k->held_part[k->n_held] = p;
        k->held_offset[k->n_held++] = m->offset;
}

/* Bounded work: at most KAFKA_POLL_BATCH messages in slices of KAFKA_SLICE, then a
 * self-wakeup for the rest. Each slice is built, then queued before librdkafka is called
 * again, so a rebalance served inside the next call finds no unqueued event of a revoked
 * partition unless the queue was full (then those are released: kafka_held_release). */
static void dispatch(struct ingest_kafka *k)
{
        rd_kafka_message_t *m[KAFKA_SLICE];

        for (int done = 0; done < KAFKA_POLL_BATCH; ) {
                ssize_t n;

                if (k->stopped || k->n_held > 0)
                        return;
                n = rd_kafka_consume_batch_queue(k->rkq, 0, m, KAFKA_SLICE);
                if (n <= 0)
                        return;
                for (ssize_t i = 0; i < n; i++) {
                        on_message(k, m[i]);
                        rd_kafka_message_destroy(m[i]);
                }
                done += (int)n;
                if (k->n_held > 0) {
                        int r = kafka_held_push(k);

                        if (r == -EAGAIN) {
                                k->held_since = tm_mono_us();
                                if (k->held_why == KAFKA_WHY_FULL)
                                        kafka_pause_set(k, true);
                        }
                        if (r < 0)
                                return;
                }
        }
        efd_signal(k->wake_fd);
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
        k->loop = loop;
        k->q = q;
        k->drops = drops;
        k->start_latest = cfg->start_latest;
        k->max_message = cfg->max_message ? cfg->max_message : KAFKA_MAX_MESSAGE_DEFAULT;
        k->drain_timeout_us = cfg->drain_timeout_us;
        k->close_timeout_us = cfg->close_timeout_us;
        k->claim_window = cfg->claim_window > 0 ? cfg->claim_window : KAFKA_CLAIM_WINDOW_DEFAULT;
        k->failpoint = getenv("GATELOG_FAILPOINT") &&
                       !strcmp(getenv("GATELOG_FAILPOINT"), "kafka-after-db-commit");
        if (getenv("GATELOG_FAILPOINT") &&
            !strcmp(getenv("GATELOG_FAILPOINT"), "kafka-claim-commit-fail"))
                k->claim_fails_left = KAFKA_FAILPOINT_CLAIM_FAILS;
        k->async_commits_lost = getenv("GATELOG_FAILPOINT") &&
                                !strcmp(getenv("GATELOG_FAILPOINT"), "kafka-async-commit-lost");
        k->close_stuck = getenv("GATELOG_FAILPOINT") &&
                         !strcmp(getenv("GATELOG_FAILPOINT"), "kafka-close-stuck");
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
        if ((r = loop_add(loop, k->wake_fd, EPOLLIN, wake_cb, k)) < 0 ||
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
        held_free(k);  /* unstored: fetched again on the next start */
        if (k->registered) {
                kafka_pause_set(k, false);
                loop_del(k->loop, k->wake_fd);
                loop_del(k->loop, k->commit_fd);
                loop_del_timer(k->loop, k->timer);
                k->registered = false;
        }
}

/* The close proper (ingest_kafka_close): the last commit and the consumer's close, both
 * bounded by close_deadline_us; given up, the consumer is destroyed at once, without the
 * close (rd_kafka_destroy would start it again and wait for it). At once, because from
 * then on a revoke librdkafka queues for us would not be served (kafka_close_bounded);
 * once destroying, librdkafka unassigns by itself. Sets close_gave_up. */
static void *close_run(void *arg)
{
        struct ingest_kafka *k = arg;

        kafka_commit_durable(k, NULL, false, true);  /* the writer stored all it will */
        if (k->close_stuck)  /* test hook: a librdkafka call that does not return */
                for (;;)
                        pause();
        k->close_gave_up = kafka_close_bounded(k);
        if (k->close_gave_up) {
                rd_kafka_queue_destroy(k->rkq);
                k->rkq = NULL;
                rd_kafka_destroy_flags(k->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
                k->rk = NULL;
        }
        return NULL;
}

bool ingest_kafka_close(struct ingest_kafka *k)
{
        struct timespec until;
        pthread_t t;
        int64_t wait_us, ns;

        if (!k || k->closed)
                return false;
        ingest_kafka_stop_fetching(k);
        k->closed = k->closing = true;
        if (!k->rk)
                return false;
        /* One deadline for the last commit and the close: each can wait on a coordinator
         * that does not answer. */
        k->close_deadline_us = tm_mono_us() + k->close_timeout_us;
        /* Some librdkafka calls of the close wait without a timeout of their own for
         * librdkafka's threads (rd_kafka_assign in the final revoke: a close hung there
         * after "partitions revoked", round 13). The close runs on a thread of its own so
         * that this one can stop waiting for it (the one thread the collector starts, only
         * while stopping); one left behind keeps k, which is then never freed: the process
         * is exiting. */
        if (pthread_create(&t, NULL, close_run, k) != 0) {
                close_run(k);
                return k->close_gave_up;
        }
        wait_us = k->close_timeout_us + KAFKA_CLOSE_GRACE_US;
        clock_gettime(CLOCK_REALTIME, &until);  /* pthread_timedjoin_np's clock */
        ns = until.tv_nsec + wait_us % 1000000 * 1000;
        until.tv_sec += (time_t)(wait_us / 1000000 + ns / 1000000000);
        until.tv_nsec = ns % 1000000000;
        if (pthread_timedjoin_np(t, NULL, &until) == 0)
                return k->close_gave_up;
        log_warn("kafka: the consumer's close is stuck inside librdkafka; stopping without it "
                 "(the group drops the member at its session timeout; offsets not committed "
                 "are read again and skipped)", "kafka=%s close_timeout_ms=%lld", k->name,
                 (long long)(k->close_timeout_us / 1000));
        pthread_detach(t);
        k->close_left = true;
        return true;
}

void ingest_kafka_free(struct ingest_kafka *k)
{
        if (!k)
                return;
        ingest_kafka_close(k);
        if (k->close_left)
                return;  /* its close's thread still uses k (ingest_kafka_close) */
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
