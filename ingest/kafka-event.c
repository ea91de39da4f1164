/* The event of one Kafka message, built on `gl-kafka` (split from ingest/kafka.c, issue 12,
 * round 11, when the build moved to its own thread; ingest/kafka-build.c is the hand-off):
 * the gate record (normalize_kafka_recycled), a failover's redelivery mark, the event with
 * its position (the offset, stored in the record's transaction) and its sink token.
 *
 * Load: every message (~100k a second). Threads: `gl-kafka` only (kafka_discard_slice_cb
 * also on the loop, once the builder is joined). It reads what the loop does not change
 * while slices are out: the collector's settings, its sink and its recyclers (this
 * thread's: the only recycle_get caller), and each partition's names and previous owners'
 * claims (changed only at an assignment, when every slice is back). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "core/event.h"
#include "core/json.h"
#include "core/tm.h"
#include "ingest/kafka-internal.h"
#include "normalize/normalize.h"

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

/* gl-kafka (kafka_build_cb): builds the slice's events, destroys its messages. Reads only
 * what the loop does not change while slices are out: k's settings and recyclers (this
 * thread's), and of each partition its names and previous owners' claims (changed only at
 * an assignment, when every slice is back: kafka_rebalance_served_cb). */
void kafka_build_slice_cb(void *ud, struct kafka_slice *s)
{
        struct ingest_kafka *k = ud;

        for (size_t i = 0; i < s->n; i++) {
                s->ev[i] = message_event(k, s->msg[i], s->part[i], s->index[i]);
                if (!s->ev[i])
                        drop_count(k->drops, DROP_OUT_OF_MEMORY, 1);
                rd_kafka_message_destroy(s->msg[i]);
                s->msg[i] = NULL;
        }
}

/* kafka_discard_cb: a built slice nobody took (at the close): its events are not stored. */
void kafka_discard_slice_cb(void *ud, struct kafka_slice *s)
{
        (void)ud;
        for (size_t i = 0; i < s->n; i++)
                event_free(s->ev[i]);
}

