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
#include "core/tm.h"
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

/* Adds the partition's commit at offset, carrying this chain's claim (through) and, after
 * it, the earlier owners' claims that still reach offset (below it, a next owner resumes
 * past everything they may hold, so they are dropped). Returns 0, or -ENOMEM or
 * -ENAMETOOLONG with nothing added (a commit without its claims would erase those the
 * broker holds). */
static int commit_add(rd_kafka_topic_partition_list_t *l, struct ingest_kafka *k,
                      struct kafka_part *p, int64_t offset, int64_t through)
{
        struct kafka_claim c[KAFKA_CLAIMS_MAX];
        char md[KAFKA_CLAIM_MAX];
        size_t nc = 1;
        int n;
        rd_kafka_topic_partition_t *e;
        size_t len = strlen(k->chain);

        if (len > KAFKA_CHAIN_MAX)
                return -ENAMETOOLONG;
        memcpy(c[0].chain, k->chain, len + 1);
        c[0].through = through;
        for (size_t i = 0; i < p->n_prev && nc < KAFKA_CLAIMS_MAX; i++)
                if (p->prev[i].through >= offset)
                        c[nc++] = p->prev[i];
        n = kafka_claims_format(md, sizeof(md), c, nc);
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

/* A commit whose result is waited for at most timeout_ms (-1: without end): librdkafka's
 * own synchronous commit waits without end for a coordinator that does not answer (a
 * broker that accepts connections but is stalled; librdkafka issue 3740). Returns the
 * commit's error, the first partition's, or __TIMED_OUT (the commit may still be sent;
 * its late result is dropped with the queue). */
static rd_kafka_resp_err_t commit_wait(struct ingest_kafka *k,
                                       const rd_kafka_topic_partition_list_t *l, int timeout_ms)
{
        rd_kafka_queue_t *rq = rd_kafka_queue_new(k->rk);
        rd_kafka_resp_err_t err;
        rd_kafka_event_t *ev;
        const rd_kafka_topic_partition_list_t *res;

        if (!rq)
                return RD_KAFKA_RESP_ERR__FAIL;
        err = rd_kafka_commit_queue(k->rk, l, rq, NULL, NULL);
        if (err) {
                rd_kafka_queue_destroy(rq);
                return err;
        }
        ev = rd_kafka_queue_poll(rq, timeout_ms);
        err = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
        res = ev && !err ? rd_kafka_event_topic_partition_list(ev) : NULL;
        for (int i = 0; res && i < res->cnt && !err; i++)
                err = res->elems[i].err;
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(rq);
        return err;
}

/* Sends l; an asynchronous result comes to offset_commit_cb. While closing, a synchronous
 * one waits at most until the close's deadline (ingest_kafka_close: the stop must end).
 * The test hook kafka-async-commit-lost (docs/RELIABILITY.md) drops asynchronous commits
 * unsent, as a commit lost in flight whose result never comes back. */
static rd_kafka_resp_err_t commit_send(struct ingest_kafka *k,
                                       rd_kafka_topic_partition_list_t *l, bool async)
{
        int64_t left;

        if (async && k->async_commits_lost) {
                kafka_log_once(k, "offset commit", "failpoint: asynchronous commit lost");
                return RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        if (async)
                return rd_kafka_commit(k->rk, l, true);
        if (!k->closing)
                return commit_wait(k, l, -1);
        left = (k->close_deadline_us - tm_mono_us()) / 1000;
        return commit_wait(k, l, left > 0 ? (int)left : 0);
}

/* Commits durable offsets of the entries that are assigned (or, with only, of those in
 * only). async: the result comes to offset_commit_cb. release: this process stores nothing
 * more of those partitions (a drained revoke, the close), so the claim shrinks to what is
 * stored (a next owner then marks nothing as ours); earlier owners' claims that still
 * reach past the committed offset stay in the metadata. A synchronous release while closing
 * is the last word: it is sent for every partition with a durable offset, even one we
 * believe committed, because an earlier asynchronous commit may still be in flight and
 * fail (or be lost) after we stop listening for its result. */
void kafka_commit_durable(struct ingest_kafka *k, const rd_kafka_topic_partition_list_t *only,
                           bool async, bool release)
{
        rd_kafka_topic_partition_list_t *l = NULL;
        rd_kafka_resp_err_t err;
        bool last_word = release && !async && k->closing;

        atomic_store(&k->commit_signalled, false);
        for (size_t i = 0; i < kafka_parts_count(k->parts); i++) {
                struct kafka_part *p = kafka_parts_at(k->parts, i);
                int64_t d = atomic_load_explicit(&p->durable, memory_order_acquire);
                int64_t off = d + 1 > p->committed ? d + 1 : p->committed, through = p->through;

                if (only ? !rd_kafka_topic_partition_list_find(only, p->topic, p->partition)
                         : !p->assigned)
                        continue;
                if (off < 0)
                        continue;
                if (release || through < 0)
                        through = off - 1;
                /* Normal commits: only when the durable offset moved; a release also when
                 * the claim it carries changes. */
                if (!last_word &&
                    (release ? off == p->committed && through == p->sent_through && p->sent_own
                             : d < 0 || d + 1 <= p->committed))
                        continue;
                if (!l && !(l = rd_kafka_topic_partition_list_new(8)))
                        return;
                if (commit_add(l, k, p, off, through) < 0)
                        break;  /* out of memory: the rest at the next flush */
                p->committed = off;
                p->sent_through = through;
                p->sent_own = true;
        }
        if (!l)
                return;
        if (l->cnt == 0) {
                rd_kafka_topic_partition_list_destroy(l);
                return;
        }
        err = commit_send(k, l, async);
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

                if (!p->assigned || p->through < 0 || d < 0 || d + 1 != off ||
                    p->pushed > d || kafka_held_has(k, p))
                        continue;
                if (!l && !(l = rd_kafka_topic_partition_list_new(8)))
                        return;
                if (commit_add(l, k, p, off, through) < 0)
                        break;  /* out of memory: what is in l goes; the rest next tick */
                p->through = -1;
                p->sent_through = through;
                p->sent_own = true;
        }
        if (!l)
                return;
        if (l->cnt > 0)
                commit_send(k, l, true);  /* the result comes to offset_commit_cb */
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
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__FAIL;

        if (offset <= p->through)
                return 0;
        /* Nothing durable or committed yet: every offset below this one is either absent
         * or before the start, so "next to read" is this one. */
        if (off < 0)
                off = offset;
        /* Test hook (docs/RELIABILITY.md): the broker's answer to a member it no longer
         * knows, without asking it; nothing is sent, so nothing is claimed. */
        if (k->claim_fails_left > 0) {
                k->claim_fails_left--;
                kafka_log_once(k, "claim commit", "failpoint: Broker: Unknown member");
                return -EAGAIN;
        }
        l = rd_kafka_topic_partition_list_new(1);
        if (l && commit_add(l, k, p, off, through) == 0)
                err = commit_wait(k, l, KAFKA_CLAIM_TIMEOUT_MS);
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

/* Reads the claims in the committed offset's metadata at assignment: other chains' claims
 * that reach the committed offset are kept (newest first, one per chain); those that reach
 * the resume point make the records of [start, through] carry a redelivery marker. Our own
 * chain's claims need none (our store says exactly what we hold) and our next claim covers
 * them. */
void kafka_claim_read(struct ingest_kafka *k, struct kafka_part *p,
                       const rd_kafka_topic_partition_t *c, int64_t start)
{
        struct kafka_claim got[KAFKA_CLAIMS_MAX];
        char b[256], text[256];
        size_t n = 0;
        int64_t from = c && c->offset >= 0 ? c->offset : start;
        int r;

        p->through = p->sent_through = -1;
        p->sent_own = false;
        p->n_prev = 0;
        if (!c)
                return;  /* committed offsets unknown: logged by the caller */
        r = kafka_claims_parse(c->metadata, c->metadata_size, got, KAFKA_CLAIMS_MAX, &n);
        if (r == -EPROTO) {
                snprintf(text, sizeof(text), "%.*s", (int)c->metadata_size,
                         (const char *)c->metadata);
                log_info("kafka: commit metadata is not a gatelog claim; ignored",
                         "kafka=%s topic=%s partition=%d metadata=\"%s\"", k->name, p->topic,
                         (int)p->partition, kafka_esc(text, b, sizeof(b)));
                return;
        }
        if (r < 0)
                return;
        p->sent_through = got[0].through;  /* what the broker holds now */
        p->sent_own = !strcmp(got[0].chain, k->chain);
        for (size_t i = 0; i < n; i++) {
                size_t j = 0;

                if (!strcmp(got[i].chain, k->chain) || from < 0 || got[i].through < from)
                        continue;
                while (j < p->n_prev && strcmp(p->prev[j].chain, got[i].chain))
                        j++;
                if (j < p->n_prev) {
                        if (got[i].through > p->prev[j].through)
                                p->prev[j].through = got[i].through;
                        continue;
                }
                p->prev[p->n_prev++] = got[i];
                if (p->n_prev == KAFKA_CLAIMS_MAX)
                        /* Our commits carry our own claim and 7 of these: the oldest goes,
                         * and verify reports its copies if that chain holds any. */
                        log_warn("kafka: too many failover claims; the oldest is not carried on",
                                 "kafka=%s topic=%s partition=%d chain=%s", k->name, p->topic,
                                 (int)p->partition, got[i].chain);
                if (start >= 0 && got[i].through >= start)
                        log_warn("kafka partition taken over: records marked as possible "
                                 "redeliveries", "kafka=%s topic=%s partition=%d from=%lld "
                                 "through=%lld chain=%s", k->name, p->topic, (int)p->partition,
                                 (long long)start, (long long)got[i].through, got[i].chain);
        }
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
