/* The Kafka collector's rebalances and per-partition gauges (split from ingest/kafka.c,
 * issue 12 hygiene): where an assigned partition resumes (the store's position, the
 * group's committed offset, what this process already queued; ingest/kafka.h has the
 * rule), the drain of a revoked partition before its release, the consumer-lag gauge, and
 * the consumer's close at stop, bounded by close_timeout (its final revoke is one more
 * rebalance, served from the close's queue).
 *
 * Load: once per rebalance (a revoke may wait up to drain_timeout for the writer) and once
 * per tick; everything here runs on the loop thread (the rebalance callback is served by
 * rd_kafka_consumer_poll; at the close, by kafka_close_bounded on the thread that stops). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tm.h"
#include "ingest/kafka-internal.h"
#include "outputs/outputs.h"

/* The stored position of a partition (an offset), -1 when none. */
static int64_t stored_position(struct ingest_kafka *k, struct kafka_part *p)
{
        struct store_error serr = { { 0 } };
        char *pos = NULL, *end;
        long long v;
        int r;

        if (!k->store && store_open(k->db_path, STORE_READONLY, &k->store, &serr) < 0) {
                k->store = NULL;
                return -1;
        }
        r = store_position_get(k->store, p->source, &pos);
        if (r < 0) {
                if (r != -ENOENT)
                        log_error("kafka: cannot read the stored position", "kafka=%s source=%s",
                                  k->name, p->source);
                return -1;
        }
        errno = 0;
        v = strtoll(pos, &end, 10);
        if (errno || *end || end == pos || v < 0) {
                log_error("kafka: stored position is not an offset", "kafka=%s source=%s pos=%s",
                          k->name, p->source, pos);
                v = -1;
        }
        free(pos);
        return v;
}

/* Partitions with no resume point start at the log's beginning (or end, with start:
 * latest). Handing librdkafka that logical offset makes it look the offset up itself,
 * and librdkafka 2.0.2 does so before a partition of a topic new to this process has its
 * leader: it then waits a fixed 500 ms (rd_kafka_toppar_offset_request, "no current leader
 * for partition") before asking, which was a third of a 100k-message run from a fresh group
 * (issue 12, round 8). So the collector asks the broker for those offsets (one ListOffsets
 * per leader, the request librdkafka would send) and assigns the absolute offsets, which
 * librdkafka fetches from at once. Where the answer does not come, the logical offset
 * stays: the same start, only later. An offset from here that retention removes before the
 * first fetch is out of range, and auto.offset.reset (the same start setting) applies, as
 * it would have. */
static void start_offsets_resolve(struct ingest_kafka *k, rd_kafka_topic_partition_list_t *l)
{
        rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(l->cnt);
        rd_kafka_resp_err_t err;

        if (!q)
                return;
        for (int i = 0; i < l->cnt; i++)
                if (l->elems[i].offset == RD_KAFKA_OFFSET_BEGINNING ||
                    l->elems[i].offset == RD_KAFKA_OFFSET_END)
                        rd_kafka_topic_partition_list_add(q, l->elems[i].topic,
                                                          l->elems[i].partition)->offset =
                                l->elems[i].offset;
        /* ListOffsets takes the logical offsets as its timestamps: -2 earliest, -1 latest. */
        err = q->cnt > 0 ? rd_kafka_offsets_for_times(k->rk, q, KAFKA_COMMITTED_TIMEOUT_MS)
                         : RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int i = 0; !err && i < q->cnt; i++) {
                rd_kafka_topic_partition_t *e;

                if (q->elems[i].err || q->elems[i].offset < 0)
                        continue;
                e = rd_kafka_topic_partition_list_find(l, q->elems[i].topic,
                                                       q->elems[i].partition);
                if (!e)
                        continue;
                log_info("kafka partition starts", "kafka=%s topic=%s partition=%d at=%s "
                         "offset=%lld", k->name, e->topic, (int)e->partition,
                         e->offset == RD_KAFKA_OFFSET_END ? "end" : "beginning",
                         (long long)q->elems[i].offset);
                e->offset = q->elems[i].offset;
        }
        if (err)
                log_info("kafka: start offsets not known; librdkafka looks them up",
                         "kafka=%s error=\"%s\"", k->name, rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(q);
}

static void on_assign(struct ingest_kafka *k, rd_kafka_topic_partition_list_t *l)
{
        rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(l);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__FAIL;

        kafka_state_up(k);
        /* The group's committed offsets: further than ours when another instance of the
         * group stored those messages in its own chain. */
        if (c)
                err = rd_kafka_committed(k->rk, c, KAFKA_COMMITTED_TIMEOUT_MS);
        if (err)
                log_warn("kafka: committed offsets unknown; resuming from the store",
                         "kafka=%s error=\"%s\"", k->name, rd_kafka_err2str(err));
        for (int i = 0; i < l->cnt; i++) {
                rd_kafka_topic_partition_t *e = &l->elems[i];
                struct kafka_part *p = kafka_parts_get(k->parts, e->topic, e->partition, NULL);
                int64_t stored, committed = -1, start;

                if (!p) {
                        log_error("kafka: too many partitions; not consuming this one",
                                  "kafka=%s topic=%s partition=%d", k->name, e->topic,
                                  (int)e->partition);
                        e->offset = RD_KAFKA_OFFSET_END;
                        continue;
                }
                stored = stored_position(k, p);
                if (!err && c->elems[i].offset >= 0)
                        committed = c->elems[i].offset;
                start = kafka_resume_offset(stored, p->pushed, committed);
                /* What the store holds is durable, also when the broker's commit lags it (a
                 * process killed between the two commits): the next flush commits it, even
                 * if no new message comes. */
                if (stored >= 0)
                        kafka_part_durable_raise(p, stored);
                p->assigned = true;
                p->next = start;
                p->taken = -1;
                p->committed = committed;
                kafka_claim_read(k, p, err ? NULL : &c->elems[i], start);
                if (start >= 0)
                        e->offset = start;
                else if (err)
                        e->offset = RD_KAFKA_OFFSET_INVALID;  /* committed, else start: */
                else
                        e->offset = k->start_latest ? RD_KAFKA_OFFSET_END
                                                    : RD_KAFKA_OFFSET_BEGINNING;
                log_info("kafka partition assigned", "kafka=%s topic=%s partition=%d "
                         "stored=%lld committed=%lld resume=%lld", k->name, e->topic,
                         (int)e->partition, (long long)stored, (long long)committed,
                         (long long)start);
        }
        rd_kafka_topic_partition_list_destroy(c);
        start_offsets_resolve(k, l);
}

static bool all_drained(struct ingest_kafka *k, const rd_kafka_topic_partition_list_t *l)
{
        for (int i = 0; i < l->cnt; i++) {
                struct kafka_part *p = kafka_parts_get(k->parts, l->elems[i].topic,
                                                       l->elems[i].partition, NULL);

                if (p && !kafka_part_drained(p))
                        return false;
        }
        return true;
}

static void on_revoke(struct ingest_kafka *k, rd_kafka_topic_partition_list_t *l, bool lost)
{
        int64_t deadline = tm_mono_us() + (k->closing ? 0 : k->drain_timeout_us);

        for (int i = 0; i < l->cnt; i++) {
                struct kafka_part *p = kafka_parts_get(k->parts, l->elems[i].topic,
                                                       l->elems[i].partition, NULL);

                if (!p)
                        continue;
                p->assigned = false;
                /* Held events (not stored, so not committed): the next owner reads them
                 * again. */
                kafka_held_release(k, p);
        }
        if (lost) {
                log_warn("kafka partitions lost (not committed)", "kafka=%s n=%d", k->name,
                         l->cnt);
                return;
        }
        /* Their queued events must be stored before another instance reads on from the
         * committed offset; the writer runs on its own thread meanwhile. */
        while (!all_drained(k, l) && tm_mono_us() < deadline)
                usleep(5000);
        if (!all_drained(k, l))
                log_warn("kafka revoke: queued events not yet stored; the next owner may "
                         "store them again", "kafka=%s", k->name);
        kafka_commit_durable(k, l, false, all_drained(k, l));
        log_info("kafka partitions revoked", "kafka=%s n=%d", k->name, l->cnt);
}

void kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *l, void *opaque)
{
        struct ingest_kafka *k = opaque;
        rd_kafka_error_t *e = NULL;
        rd_kafka_resp_err_t r = 0;

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                on_assign(k, l);
                if (k->cooperative)
                        e = rd_kafka_incremental_assign(rk, l);
                else
                        r = rd_kafka_assign(rk, l);
        } else {
                if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
                        kafka_log_once(k, "rebalance", rd_kafka_err2str(err));
                on_revoke(k, l, rd_kafka_assignment_lost(rk));
                if (k->cooperative)
                        e = rd_kafka_incremental_unassign(rk, l);
                else
                        r = rd_kafka_assign(rk, NULL);
        }
        if (e) {
                kafka_log_once(k, "assign", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
        } else if (r) {
                kafka_log_once(k, "assign", rd_kafka_err2str(r));
        }
}

/* ops (issue 9): gatelog_kafka_consumer_lag{consumer,topic,partition} = the partition's high
 * watermark minus the next offset this process would queue (messages in the partition not
 * yet read; a held event counts). The watermark is librdkafka's cached one, refreshed by
 * every fetch response (no broker round trip here). Unknown watermark: the gauge keeps its
 * last value; a partition no longer assigned shows 0 (another consumer reports it). */
void kafka_lag_update(struct ingest_kafka *k)
{
        for (size_t i = 0; i < kafka_parts_count(k->parts); i++) {
                struct kafka_part *p = kafka_parts_at(k->parts, i);
                int64_t lo = -1, hi = -1, next;

                if (!p->m_lag) {
                        char part[16];

                        snprintf(part, sizeof(part), "%d", (int)p->partition);
                        p->m_lag = metrics_gauge("gatelog_kafka_consumer_lag",
                                                 "Kafka messages in the partition not yet read "
                                                 "(high watermark minus next offset)",
                                                 "consumer", k->name, "topic", p->topic,
                                                 "partition", part, NULL);
                }
                if (!p->assigned) {
                        metric_set(p->m_lag, 0);
                        continue;
                }
                if (rd_kafka_get_watermark_offsets(k->rk, p->topic, p->partition, &lo, &hi) !=
                            RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0)
                        continue;
                next = p->next >= 0 ? p->next : k->start_latest ? hi : lo;
                if (next < 0)
                        continue;
                metric_set(p->m_lag, hi > next ? hi - next : 0);
        }
}

/* One event of the close's queue. librdkafka forwards what its callbacks would have served
 * as events here (rd_kafka_consumer_close_queue): the final revoke must still drain and
 * commit (on_revoke, as at any rebalance) and unassign, or the close waits for the
 * unassign; commit results keep what we believe committed true. Messages fetched before
 * the close are dropped unstored: the store's position re-reads them on the next start. */
static void close_event(struct ingest_kafka *k, rd_kafka_event_t *ev)
{
        switch (rd_kafka_event_type(ev)) {
        case RD_KAFKA_EVENT_REBALANCE:
                kafka_rebalance_cb(k->rk, rd_kafka_event_error(ev),
                                   rd_kafka_event_topic_partition_list(ev), k);
                break;
        case RD_KAFKA_EVENT_OFFSET_COMMIT:
                kafka_offset_commit_cb(k->rk, rd_kafka_event_error(ev),
                                       rd_kafka_event_topic_partition_list(ev), k);
                break;
        case RD_KAFKA_EVENT_ERROR:
                kafka_log_once(k, rd_kafka_err2name(rd_kafka_event_error(ev)),
                               rd_kafka_event_error_string(ev));
                break;
        default:
                break;
        }
}

/* The poll's slice: short, so that the deadline is met within ~0.1 s. */
#define CLOSE_POLL_MS 100

bool kafka_close_bounded(struct ingest_kafka *k)
{
        int64_t start = tm_mono_us(), deadline = k->close_deadline_us;
        rd_kafka_error_t *e = rd_kafka_consumer_close_queue(k->rk, k->rkq);

        if (e) {
                log_warn("kafka: closing the consumer", "kafka=%s error=\"%s\"", k->name,
                         rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                return false;  /* no close started: nothing to wait for */
        }
        while (!rd_kafka_consumer_closed(k->rk)) {
                int64_t left = deadline - tm_mono_us();
                rd_kafka_event_t *ev;

                if (left <= 0) {
                        /* Events already queued are served first: a revoke left unserved
                         * keeps the group waiting for its unassign, and librdkafka's
                         * destroy waits for the group without end (seen: a close that
                         * dropped the revoke event hung in rd_kafka_destroy). A commit in
                         * on_revoke now waits for nothing (the deadline has passed). */
                        while ((ev = rd_kafka_queue_poll(k->rkq, 0))) {
                                close_event(k, ev);
                                rd_kafka_event_destroy(ev);
                        }
                        log_warn("kafka: the consumer's close did not end in close_timeout; "
                                 "destroying it without (the group drops the member at its "
                                 "session timeout; offsets not committed are read again and "
                                 "skipped)", "kafka=%s close_timeout_ms=%lld", k->name,
                                 (long long)(k->close_timeout_us / 1000));
                        return true;
                }
                ev = rd_kafka_queue_poll(k->rkq, left / 1000 < CLOSE_POLL_MS
                                                         ? (int)(left / 1000) : CLOSE_POLL_MS);
                if (ev) {
                        close_event(k, ev);
                        rd_kafka_event_destroy(ev);
                }
        }
        log_info("kafka consumer closed", "kafka=%s ms=%lld", k->name,
                 (long long)((tm_mono_us() - start) / 1000));
        return false;
}
