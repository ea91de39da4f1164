/* Offset bookkeeping of the Kafka collector: one entry per topic-partition, the sink tokens
 * that tell the loop which offsets the writer made durable, and the resume rule.
 *
 * Entries live until the table is freed (a partition revoked and assigned again reuses its
 * entry), so a token in an event still queued always names a live entry. The loop thread
 * owns every member except `durable`, which the writer thread raises (atomically, and
 * monotonically: the writer commits one partition's events in the order they were pushed);
 * the loop raises it too, at assignment, to what the store already holds. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "ingest/kafka.h"

struct kafka_parts {
        struct kafka_part *v[KAFKA_PARTITIONS_MAX];
        size_t n;
        size_t last;            /* index of the last lookup: messages come in runs */
};

int kafka_parts_new(struct kafka_parts **ret)
{
        struct kafka_parts *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

void kafka_parts_free(struct kafka_parts *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++) {
                free(t->v[i]->topic);
                free(t->v[i]->source);
                free(t->v[i]);
        }
        free(t);
}

static bool part_is(const struct kafka_part *p, const char *topic, int32_t partition)
{
        return p->partition == partition && !strcmp(p->topic, topic);
}

struct kafka_part *kafka_parts_get(struct kafka_parts *t, const char *topic, int32_t partition,
                                   uint16_t *ret_index)
{
        struct kafka_part *p;
        size_t i;
        int n;

        if (t->last < t->n && part_is(t->v[t->last], topic, partition)) {
                i = t->last;
                goto found;
        }
        for (i = 0; i < t->n; i++)
                if (part_is(t->v[i], topic, partition))
                        goto found;
        if (t->n == KAFKA_PARTITIONS_MAX || partition < 0)
                return NULL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->topic = strdup(topic);
        n = p->topic ? asprintf(&p->source, "kafka:%s/%d", topic, (int)partition) : -1;
        if (n < 0)
                p->source = NULL;
        else
                p->source_len = (size_t)n;
        if (!p->topic || !p->source) {
                free(p->topic);
                free(p);
                return NULL;
        }
        p->partition = partition;
        p->next = p->taken = p->pushed = p->committed = -1;
        p->through = p->sent_through = -1;
        atomic_init(&p->durable, -1);
        i = t->n;
        t->v[t->n++] = p;
found:
        t->last = i;
        if (ret_index)
                *ret_index = (uint16_t)i;
        return t->v[i];
}

size_t kafka_parts_count(const struct kafka_parts *t)
{
        return t->n;
}

struct kafka_part *kafka_parts_at(struct kafka_parts *t, size_t i)
{
        return i < t->n ? t->v[i] : NULL;
}

int kafka_token_make(uint16_t index, int64_t offset, uint64_t *ret)
{
        if (offset < 0 || offset >= INT64_C(1) << KAFKA_TOKEN_OFFSET_BITS)
                return -ERANGE;
        *ret = (uint64_t)index << KAFKA_TOKEN_OFFSET_BITS | (uint64_t)offset;
        return 0;
}

void kafka_token_split(uint64_t token, uint16_t *ret_index, int64_t *ret_offset)
{
        *ret_index = (uint16_t)(token >> KAFKA_TOKEN_OFFSET_BITS);
        *ret_offset = (int64_t)(token & ((UINT64_C(1) << KAFKA_TOKEN_OFFSET_BITS) - 1));
}

void kafka_parts_durable(struct kafka_parts *t, uint64_t token)
{
        uint16_t i;
        int64_t off;

        kafka_token_split(token, &i, &off);
        /* t->n may grow concurrently on the loop thread, but an entry with a token in flight
         * was published before its event was pushed (the queue's lock orders both). */
        if (i >= KAFKA_PARTITIONS_MAX || !t->v[i])
                return;
        kafka_part_durable_raise(t->v[i], off);
}

void kafka_part_durable_raise(struct kafka_part *p, int64_t offset)
{
        int64_t cur = atomic_load_explicit(&p->durable, memory_order_relaxed);

        while (offset > cur && !atomic_compare_exchange_weak_explicit(
                                       &p->durable, &cur, offset, memory_order_release,
                                       memory_order_relaxed))
                ;
}

int64_t kafka_resume_offset(int64_t stored, int64_t pushed, int64_t committed)
{
        int64_t r = -1;

        if (stored >= 0)
                r = stored + 1;
        if (pushed >= 0 && pushed + 1 > r)
                r = pushed + 1;
        if (committed >= 0 && committed > r)
                r = committed;
        return r;
}

bool kafka_part_drained(struct kafka_part *p)
{
        return p->pushed < 0 ||
               atomic_load_explicit(&p->durable, memory_order_acquire) >= p->pushed;
}

/* Version 1 carries one claim (what round 1 wrote, and still what a single claim is written
 * as, so an older reader keeps understanding it); version 2 a list, the writer's own first. */
#define CLAIM_V1 "gatelog:1"
#define CLAIM_V2 "gatelog:2"

int kafka_claims_format(char *buf, size_t n, const struct kafka_claim *c, size_t count)
{
        size_t at;
        int len;

        if (count == 0 || count > KAFKA_CLAIMS_MAX)
                return -EINVAL;
        len = snprintf(buf, n, "%s", count == 1 ? CLAIM_V1 : CLAIM_V2);
        for (size_t i = 0; len >= 0 && i < count; i++) {
                at = (size_t)len;
                if (at >= n)
                        return -ENAMETOOLONG;
                len = snprintf(buf + at, n - at, " chain=%s through=%lld", c[i].chain,
                               (long long)c[i].through);
                if (len >= 0)
                        len += (int)at;
        }
        if (len < 0 || (size_t)len >= n)
                return -ENAMETOOLONG;
        return len;
}

/* One " chain=C through=X" at *at (advanced past it). 0 or -EPROTO. */
static int claim_parse_one(const char **at, const char *end, struct kafka_claim *c)
{
        static const char ch[] = " chain=", th[] = " through=";
        const char *name = *at + sizeof(ch) - 1, *sp, *d;
        int64_t v = 0;

        if ((size_t)(end - *at) <= sizeof(ch) - 1 || memcmp(*at, ch, sizeof(ch) - 1) != 0)
                return -EPROTO;
        sp = memchr(name, ' ', (size_t)(end - name));
        if (!sp || sp == name || (size_t)(sp - name) > KAFKA_CHAIN_MAX ||
            (size_t)(end - sp) <= sizeof(th) - 1 || memcmp(sp, th, sizeof(th) - 1) != 0)
                return -EPROTO;
        d = sp + sizeof(th) - 1;
        for (const char *e = d; e < end && *e != ' '; e++) {
                if (*e < '0' || *e > '9' || e - d >= 18)  /* 18 digits: below 2^63 */
                        return -EPROTO;
                v = v * 10 + (*e - '0');
                *at = e + 1;
        }
        if (*at <= d)
                return -EPROTO;  /* no digits */
        memcpy(c->chain, name, (size_t)(sp - name));
        c->chain[sp - name] = '\0';
        c->through = v;
        return 0;
}

int kafka_claims_parse(const char *md, size_t len, struct kafka_claim *c, size_t max,
                       size_t *ret_count)
{
        const size_t plen = sizeof(CLAIM_V1) - 1;
        const char *end = md + len, *at;
        size_t n = 0;
        bool v2;

        if (!md || len == 0)
                return -ENOENT;
        if (len <= plen || (memcmp(md, CLAIM_V1, plen) && memcmp(md, CLAIM_V2, plen)))
                return -EPROTO;
        v2 = md[plen - 1] == '2';
        for (at = md + plen; at < end; n++) {
                if (n == max || n == KAFKA_CLAIMS_MAX || (n == 1 && !v2) ||
                    claim_parse_one(&at, end, &c[n]) < 0)
                        return -EPROTO;
        }
        if (n == 0)
                return -EPROTO;
        *ret_count = n;
        return 0;
}
