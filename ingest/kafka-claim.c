/* Commits to the broker and the failover claims they carry (issue 6, docs/CONFIG.md
 * "kafka"): every offset commit of the collector carries "gatelog:1 chain=C through=X" in
 * its metadata, X bounding every offset this process has queued for its store. Before an
 * offset past X is queued, a synchronous commit moves X forward by claim_window; an idle
 * partition, a drained revoke and the close shrink X back to what is stored, so only a
 * process that dies between its store commit and its broker commit leaves a live claim.
 * The next owner reads it at assignment and marks the records it may share with that chain
 * (source.redelivery), which `gatelog verify --export` checks across chains.
 *
 * Load: one synchronous round trip per claim_window messages per partition and one commit
 * per writer batch; all on the loop thread except where noted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/log.h"
#include "ingest/kafka-internal.h"

void kafka_offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
        struct ingest_kafka *k = opaque;

        (void)rk;
        if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
                return;
        for (int i = 0; offsets && i < offsets->cnt; i++) {
                rd_kafka_topic_partition_t *e = &offsets->elems[i];
                struct kafka_part *p;

                if (!e->err && !err)
                        continue;
                /* Forget what we believed committed, so the next flush sends it again. */
                p = kafka_parts_get(k->parts, e->topic, e->partition, NULL);
                if (p && p->committed == e->offset)
                        p->committed = -1;
        }
        if (err)
                kafka_log_once(k, "offset commit", rd_kafka_err2str(err));
        else
                kafka_state_up(k);
}

/* ---- commits to the broker ---- */

/* Adds the partition's commit at offset, carrying the claim (chain, through) as metadata.
 * Returns 0, or -ENOMEM with nothing added (a commit without its claim would erase the one
 * the broker holds). */
static int commit_add(rd_kafka_topic_partition_list_t *l, struct kafka_part *p, int64_t offset,
                      const char *chain, int64_t through)
{
        char md[KAFKA_CLAIM_MAX];
        int n = kafka_claim_format(md, sizeof(md), chain, through);
        rd_kafka_topic_partition_t *e;

        if (n < 0)
                return n;
        e = rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
        e->offset = offset;
        /* The list owns metadata and frees it with free() (librdkafka's rd_free). */
        e->metadata = malloc((size_t)n);
        if (!e->metadata) {
                rd_kafka_topic_partition_list_del(l, p->topic, p->partition);
                return -ENOMEM;
        }
        memcpy(e->metadata, md, (size_t)n);
        e->metadata_size = (size_t)n;
        return 0;
}

/* Commits durable offsets of the entries that are assigned (or, with only, of those in
 * only). async: the result comes to offset_commit_cb. release: this process stores nothing
 * more of those partitions (a drained revoke, the close), so the claim shrinks to what is
 * stored (a next owner then marks nothing as ours), or goes back to the previous owner's
 * claim while that one still reaches past the committed offset. */
void kafka_commit_durable(struct ingest_kafka *k, const rd_kafka_topic_partition_list_t *only,
                           bool async, bool release)
{
        rd_kafka_topic_partition_list_t *l = NULL;
        rd_kafka_resp_err_t err;

        atomic_store(&k->commit_signalled, false);
        for (size_t i = 0; i < kafka_parts_count(k->parts); i++) {
                struct kafka_part *p = kafka_parts_at(k->parts, i);
                int64_t d = atomic_load_explicit(&p->durable, memory_order_acquire);
                int64_t off = d + 1 > p->committed ? d + 1 : p->committed, through = p->through;
                const char *chain = k->chain;

                if (only ? !rd_kafka_topic_partition_list_find(only, p->topic, p->partition)
                         : !p->assigned)
                        continue;
                if (off < 0)
                        continue;
                if (release || through < 0) {
                        through = off - 1;
                        if (p->prev_chain && p->prev_through >= off) {
                                chain = p->prev_chain;
                                through = p->prev_through;
                        }
                }
                /* Normal commits: only when the durable offset moved; a release also when
                 * the claim it carries changes. */
                if (release ? off == p->committed && through == p->sent_through &&
                                      (chain == k->chain) == p->sent_own
                            : d < 0 || d + 1 <= p->committed)
                        continue;
                if (!l && !(l = rd_kafka_topic_partition_list_new(8)))
                        return;
                if (commit_add(l, p, off, chain, through) < 0)
                        break;  /* out of memory: the rest at the next flush */
                p->committed = off;
                p->sent_through = through;
                p->sent_own = chain == k->chain;
        }
        if (!l)
                return;
        if (l->cnt == 0) {
                rd_kafka_topic_partition_list_destroy(l);
                return;
        }
        err = rd_kafka_commit(k->rk, l, async);
        if (err && !async)
                kafka_offset_commit_cb(k->rk, err, l, k);
        rd_kafka_topic_partition_list_destroy(l);
}

/* An idle partition (everything queued is stored and its offset committed) keeps no claim
 * past what is stored: shrinking it on the tick makes a clean hand-over leave nothing for
 * the next owner to mark even when the commit in the revoke fails (brokers may refuse
 * commits while the group rebalances; librdkafka's mock always does). The next message then
 * makes a new claim: at most one extra commit per tick per partition, and none while a
 * partition is busy. */
void kafka_claims_shrink(struct ingest_kafka *k)
{
        rd_kafka_topic_partition_list_t *l = NULL;

        for (size_t i = 0; i < kafka_parts_count(k->parts); i++) {
                struct kafka_part *p = kafka_parts_at(k->parts, i);
                int64_t d = atomic_load_explicit(&p->durable, memory_order_acquire);
                int64_t off = p->committed, through = off - 1;
                const char *chain = k->chain;

                if (!p->assigned || p->through < 0 || d < 0 || d + 1 != off ||
                    p->pushed > d || (k->pending && k->pending_part == p))
                        continue;
                if (p->prev_chain && p->prev_through >= off) {
                        chain = p->prev_chain;   /* the previous owner's claim still holds */
                        through = p->prev_through;
                }
                if (!l && !(l = rd_kafka_topic_partition_list_new(8)))
                        return;
                if (commit_add(l, p, off, chain, through) < 0)
                        break;  /* out of memory: what is in l goes; the rest next tick */
                p->through = -1;
                p->sent_through = through;
                p->sent_own = chain == k->chain;
        }
        if (!l)
                return;
        if (l->cnt > 0)
                rd_kafka_commit(k->rk, l, 1);  /* the result comes to offset_commit_cb */
        rd_kafka_topic_partition_list_destroy(l);
}

/* Before offset is queued for the store: the broker must already hold this chain's claim
 * over it, so that if this process dies after the store's commit and before the broker's,
 * the partition's next owner knows which of its records this chain may also hold. One
 * synchronous commit (bounded by KAFKA_CLAIM_TIMEOUT_MS) per claim_window messages per
 * partition, on the loop thread. Returns 0, or -EAGAIN when the commit failed (the caller
 * holds the event and retries on the tick). */
int kafka_claim_ahead(struct ingest_kafka *k, struct kafka_part *p, int64_t offset)
{
        int64_t d = atomic_load_explicit(&p->durable, memory_order_acquire);
        int64_t off = d + 1 > p->committed ? d + 1 : p->committed;
        int64_t through = offset + k->claim_window;
        rd_kafka_topic_partition_list_t *l;
        rd_kafka_queue_t *rq = NULL;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__FAIL;

        if (offset <= p->through)
                return 0;
        /* Nothing durable or committed yet: every offset below this one is either absent
         * or before the start, so "next to read" is this one. */
        if (off < 0)
                off = offset;
        l = rd_kafka_topic_partition_list_new(1);
        if (l && commit_add(l, p, off, k->chain, through) == 0 &&
            (rq = rd_kafka_queue_new(k->rk))) {
                err = rd_kafka_commit_queue(k->rk, l, rq, NULL, NULL);
                if (!err) {
                        rd_kafka_event_t *ev = rd_kafka_queue_poll(rq, KAFKA_CLAIM_TIMEOUT_MS);
                        const rd_kafka_topic_partition_list_t *res;

                        err = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
                        res = ev && !err ? rd_kafka_event_topic_partition_list(ev) : NULL;
                        for (int i = 0; res && i < res->cnt && !err; i++)
                                err = res->elems[i].err;
                        if (ev)
                                rd_kafka_event_destroy(ev);
                }
        }
        if (rq)
                rd_kafka_queue_destroy(rq);
        if (l)
                rd_kafka_topic_partition_list_destroy(l);
        if (err) {
                kafka_log_once(k, "claim commit", rd_kafka_err2str(err));
                return -EAGAIN;
        }
        p->through = through;
        p->committed = off;
        p->sent_through = through;
        p->sent_own = true;
        return 0;
}

/* Reads the claim in the committed offset's metadata at assignment: another chain's claim
 * that reaches the resume point makes the records of [start, through] carry a redelivery
 * marker. Our own chain's claim needs none (our store says exactly what we hold). */
void kafka_claim_read(struct ingest_kafka *k, struct kafka_part *p,
                       const rd_kafka_topic_partition_t *c, int64_t start)
{
        char chain[KAFKA_CLAIM_MAX], b[256];
        int64_t through = -1;
        int r;

        p->through = p->sent_through = -1;
        p->sent_own = false;
        free(p->prev_chain);
        p->prev_chain = NULL;
        p->prev_through = -1;
        if (!c)
                return;  /* committed offsets unknown: logged by the caller */
        r = kafka_claim_parse(c->metadata, c->metadata_size, chain, sizeof(chain), &through);
        if (r == -EPROTO) {
                snprintf(chain, sizeof(chain), "%.*s", (int)c->metadata_size,
                         (const char *)c->metadata);
                log_info("kafka: commit metadata is not a gatelog claim; ignored",
                         "kafka=%s topic=%s partition=%d metadata=\"%s\"", k->name, p->topic,
                         (int)p->partition, kafka_esc(chain, b, sizeof(b)));
                return;
        }
        if (r < 0 || !strcmp(chain, k->chain))
                return;
        p->sent_through = through;  /* what the broker holds now */
        if (start < 0 || through < start)
                return;
        p->prev_chain = strdup(chain);
        if (!p->prev_chain) {
                /* Cannot mark: say so loudly rather than store unmarked duplicates quietly. */
                log_error("kafka: out of memory; redeliveries of this partition are not marked",
                          "kafka=%s topic=%s partition=%d", k->name, p->topic, (int)p->partition);
                return;
        }
        p->prev_through = through;
        log_warn("kafka partition taken over: records marked as possible redeliveries",
                 "kafka=%s topic=%s partition=%d from=%lld through=%lld chain=%s", k->name,
                 p->topic, (int)p->partition, (long long)start, (long long)through, chain);
}

/* The chain this store belongs to (the writer recorded it in the store's meta before any
 * collector starts): claims in the broker's commit metadata name it. */
int kafka_chain_read(struct ingest_kafka *k, char *err, size_t err_len)
{
        struct store_error serr = { { 0 } };
        int r = store_open(k->db_path, STORE_READONLY, &k->store, &serr);

        if (r < 0) {
                k->store = NULL;
                snprintf(err, err_len, "kafka %s: %s: %s", k->name, k->db_path, serr.msg);
                return r;
        }
        r = store_meta_get(k->store, "chain", &k->chain);
        if (r < 0)
                snprintf(err, err_len, "kafka %s: the store names no chain", k->name);
        return r;
}
