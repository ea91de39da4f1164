/* The stager's feed (cli/stage-feed.c, issue 12) against a model: every record put comes
 * out once, in seq order, with the bytes the store gets and the criteria the export would
 * read from those bytes (export-crit.h), or is counted as dropped and leaves
 * a hole (or raises dropped_through); the bytes put returns (what the storing thread hashes
 * and stores) are those bytes and stay so until the publish; records the consumer has not
 * read are never overwritten; nothing of a transaction is seen before its publish, and
 * nothing of a discarded one ever (the retry's bytes differ here, so a leak shows); a
 * producer and a consumer on two threads agree with the model.
 *
 * The bytes expected are written out by hand from the record's parts (want_bytes), not by
 * json_canon or the mapper's splice (wmap_splice_to), which stage_feed_put itself uses: a
 * wrong splice would make the same wrong bytes on both sides. */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/export-crit.h"
#include "cli/stage-feed.h"
#include "cli/writer-map.h"
#include "core/json.h"

/* What a test record is made of: {"app":"sshd","criteria":[...],"host":"h1","message":...}
 * with a message of size letters from the i-th on and n_crit criteria, the k-th
 * "CC<k>.<i % 3>". */
struct rec_spec {
        unsigned i;
        size_t size, n_crit;
};

static char msg_char(const struct rec_spec *s, size_t k) {
        return (char)('a' + (s->i + k) % 26);
}

/* The record's bytes with seq, as docs/FORMAT.md section 1 defines them, built from its
 * parts: canonical JSON, members in code-unit order, no white space, the message and ids
 * plain ASCII letters and digits (no escapes), seq in decimal. Returns malloc'd bytes
 * (NUL-terminated, *ret_len without the NUL) or NULL; no asserts (the producer thread). */
static char *want_bytes(const struct rec_spec *s, int64_t seq, size_t *ret_len) {
        char *p = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&p, &len);
        if (!f)
                return NULL;
        fputs("{\"app\":\"sshd\",\"criteria\":[", f);
        for (size_t k = 0; k < s->n_crit; k++)
                fprintf(f, "%s\"CC%zu.%u\"", k ? "," : "", k, s->i % 3);
        fputs("],\"host\":\"h1\",\"message\":\"", f);
        for (size_t k = 0; k < s->size; k++)
                fputc(msg_char(s, k), f);
        fprintf(f, "\",\"seq\":%" PRId64 "}", seq);
        if (fclose(f) != 0) {
                free(p);
                return NULL;
        }
        *ret_len = len;
        return p;
}

/* Whether got[0..len] (NUL included) is s's record with seq. */
static bool bytes_are(const char *got, size_t len, const struct rec_spec *s, int64_t seq) {
        size_t want_len;
        char *want = want_bytes(s, seq, &want_len);
        bool same = want && len == want_len && memcmp(got, want, len + 1) == 0;
        free(want);
        return same;
}

/* The event of s (mapped when scratch is given). */
static struct event *mapped_event(const struct rec_spec *s, struct buf *scratch) {
        json *rec = json_new_obj();
        char *msg = malloc(s->size + 1);
        assert_non_null(rec);
        assert_non_null(msg);
        for (size_t k = 0; k < s->size; k++)
                msg[k] = msg_char(s, k);
        msg[s->size] = '\0';
        assert_int_equal(json_obj_set_str(rec, "message", msg), 0);
        assert_int_equal(json_obj_set_str(rec, "host", "h1"), 0);
        assert_int_equal(json_obj_set_str(rec, "app", "sshd"), 0);
        json *crit = json_new_arr();
        assert_non_null(crit);
        for (size_t k = 0; k < s->n_crit; k++) {
                char id[48];
                snprintf(id, sizeof(id), "CC%zu.%u", k, s->i % 3);
                assert_int_equal(json_arr_append(crit, json_new_str(id)), 0);
        }
        assert_int_equal(json_obj_set(rec, "criteria", crit), 0);
        free(msg);
        struct event *e = event_new(rec, 1000);
        assert_non_null(e);
        if (scratch)
                assert_int_equal(wmap_event(NULL, e, scratch), 0);
        return e;
}

/* The feed's record is s's record with seq, with the bytes' criteria. */
static void check_rec(const struct stage_feed_rec *r, const struct rec_spec *s, int64_t seq) {
        struct seal_span ids[SEAL_SCAN_CRITERIA_MAX];
        size_t n = 0, want_len;
        char *want = want_bytes(s, seq, &want_len);

        assert_non_null(want);
        assert_int_equal(r->seq, seq);
        if (r->len != want_len || memcmp(r->data, want, want_len) != 0)
                fail_msg("seq %" PRId64 ": %.*s != %s", seq, (int)r->len, r->data, want);
        free(want);
        assert_int_equal(r->data[r->len], '\0');
        if (!r->crit) {  /* only for records that may name more than the mapper keeps */
                assert_true(s->n_crit >= 64);
        } else if (export_crit_scan(r->data, r->len, ids, SEAL_SCAN_CRITERIA_MAX, &n)) {
                assert_int_equal(r->n_crit, n);
                const char *c = r->crit;
                for (size_t j = 0; j < n; j++, c += strlen(c) + 1) {
                        assert_int_equal(strlen(c), ids[j].len);
                        assert_memory_equal(c, ids[j].p, ids[j].len);
                }
        }
}

/* What the storing thread does with one transaction (cli/writer-txn.c): ev[0..n)'s records
 * (made from sp[0..n)) with seqs from first_seq on put into the feed (a tree: skipped; a
 * rule drop: no seq), each put's bytes checked against want_bytes at once and again before
 * the end; then the publish, or the discard. Returns the records put. */
static size_t put_tx(struct stage_feed *f, int64_t epoch, int64_t epoch_first,
                     int64_t first_seq, struct event *const *ev, const struct rec_spec *sp,
                     size_t n, bool publish) {
        struct wmap_seq_text t = WMAP_SEQ_TEXT_INIT;
        const char **got = calloc(n ? n : 1, sizeof(*got));
        size_t *got_len = calloc(n ? n : 1, sizeof(*got_len)), fed = 0;
        int64_t seq = first_seq;
        assert_non_null(got);
        assert_non_null(got_len);
        for (size_t i = 0; i < n; i++) {
                if (!event_has_record(ev[i]))
                        continue;
                int64_t s = seq++;
                if (!ev[i]->mapped) {
                        stage_feed_skip(f, s);
                        continue;
                }
                const char *digits;
                size_t nl = wmap_seq_text(&t, s, &digits);
                got[i] = stage_feed_put(f, epoch, epoch_first, s, ev[i]->mapped, digits, nl,
                                        &got_len[i]);
                if (!got[i])
                        continue;
                fed++;
                assert_true(bytes_are(got[i], got_len[i], &sp[i], s));
        }
        seq = first_seq;
        for (size_t i = 0; i < n; i++) {  /* unchanged by the puts after them */
                if (!event_has_record(ev[i]))
                        continue;
                if (got[i])
                        assert_true(bytes_are(got[i], got_len[i], &sp[i], seq));
                seq++;
        }
        if (publish)
                stage_feed_publish(f);
        else
                stage_feed_discard(f);
        free(got);
        free(got_len);
        return fed;
}

static size_t push(struct stage_feed *f, int64_t epoch, int64_t epoch_first, int64_t first_seq,
                   struct event *const *ev, const struct rec_spec *sp, size_t n) {
        return put_tx(f, epoch, epoch_first, first_seq, ev, sp, n, true);
}

/* Seqs from start on (the storing thread writes each seq's digits by incrementing the last
 * record's, so starts whose batch carries into another digit are included). */
static void bytes_criteria_holes(int64_t start) {
        struct stage_feed *f = NULL;
        struct buf scratch = BUF_INIT;
        enum { N = 40 };
        struct event *ev[N];
        struct rec_spec sp[N];
        int64_t seq_of[N];
        int64_t seq = start;

        assert_int_equal(stage_feed_new(STAGE_FEED_BLOCK_BYTES, 4, &f), 0);
        for (unsigned i = 0; i < N; i++) {
                if (i % 7 == 3) {  /* dropped by a rule: no record, no seq */
                        sp[i] = (struct rec_spec){ i, 10, 1 };
                        ev[i] = mapped_event(&sp[i], NULL);
                        json_free(ev[i]->rec);
                        ev[i]->rec = NULL;
                        seq_of[i] = -1;
                        continue;
                }
                /* i % 11 == 5: still a tree (the mapper failed): a hole in the feed.
                 * i == 18: more criteria than the mapper keeps: read from the bytes. */
                sp[i] = (struct rec_spec){ i, (i * 131u) % 3000u, i == 18 ? 70 : i % 4 };
                ev[i] = mapped_event(&sp[i], i % 11 == 5 ? NULL : &scratch);
                seq_of[i] = seq++;
        }
        size_t k = N / 2;
        while (seq_of[k] < 0)
                k++;
        push(f, 7, 90, start, ev, sp, N / 2);
        push(f, 7, 90, seq_of[k], ev + N / 2, sp + N / 2, N - N / 2);

        struct stage_feed_view v;
        struct stage_feed_rec r;
        size_t i = 0, got = 0, holes = 0;
        while (stage_feed_peek(f, &v)) {
                while (stage_feed_next(&v, &r, NULL)) {
                        while (i < N && (seq_of[i] < 0 || ev[i]->rec)) {
                                holes += seq_of[i] >= 0;
                                i++;
                        }
                        assert_true(i < N);
                        assert_int_equal(r.epoch, 7);
                        assert_int_equal(r.epoch_first, 90);
                        check_rec(&r, &sp[i], seq_of[i]);
                        got++;
                        i++;
                }
                stage_feed_release(f, &v, v.end);
        }
        struct stage_feed_stats st;
        stage_feed_stats(f, &st);
        assert_int_equal(st.fed, got);
        assert_int_equal(st.dropped, holes);
        assert_true(holes >= 3);
        assert_true(stage_feed_dropped_through(f) >= start);
        for (i = 0; i < N; i++)
                event_free(ev[i]);
        stage_feed_free(f);
        buf_free(&scratch);
}

static void test_bytes_criteria_holes(void **state) {
        (void)state;
        static const int64_t starts[] = { 100, 0, 1, 95, 9990, 999999990, 99999999999999990 };
        for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
                bytes_criteria_holes(starts[i]);
}

/* Two blocks of 4 KiB: the consumer holds the first in its view while the producer fills
 * on; once both are full the producer drops the rest of its batch (the newest records),
 * never touching what the consumer has not read; read blocks are reused. */
static void test_drops_newest_never_unread(void **state) {
        (void)state;
        struct stage_feed *f = NULL;
        struct buf scratch = BUF_INIT;
        enum { N = 64 };
        struct event *ev[N];
        struct rec_spec sp[N];

        assert_int_equal(stage_feed_new(4096, 2, &f), 0);
        for (unsigned i = 0; i < N; i++) {
                sp[i] = (struct rec_spec){ i, 300, 1 };
                ev[i] = mapped_event(&sp[i], &scratch);
        }
        push(f, 1, 0, 0, ev, sp, 4);
        struct stage_feed_view v;
        struct stage_feed_rec r;
        const char *pos;
        assert_true(stage_feed_peek(f, &v));
        assert_true(stage_feed_next(&v, &r, &pos));
        check_rec(&r, &sp[0], 0);
        /* Everything else while the first block is claimed: at most one other block. */
        push(f, 1, 0, 4, ev + 4, sp + 4, N - 4);
        struct stage_feed_stats st;
        stage_feed_stats(f, &st);
        assert_true(st.dropped > 0);
        assert_int_equal(st.blocks, 2);
        assert_int_equal(stage_feed_dropped_through(f), N - 1);
        /* The claimed block is intact: its next record is seq 1. */
        assert_true(stage_feed_next(&v, &r, &pos));
        check_rec(&r, &sp[1], 1);
        stage_feed_release(f, &v, pos);  /* seq 1 not consumed */
        int64_t last = 0;
        uint64_t got = 1;
        while (stage_feed_peek(f, &v)) {
                while (stage_feed_next(&v, &r, NULL)) {
                        assert_true(r.seq > last);
                        check_rec(&r, &sp[r.seq], r.seq);
                        last = r.seq;
                        got++;
                }
                stage_feed_release(f, &v, v.end);
        }
        stage_feed_stats(f, &st);
        assert_int_equal(got + st.dropped, N);
        /* Released blocks are reused, no more are made. */
        push(f, 1, 0, N, ev, sp, 8);
        stage_feed_stats(f, &st);
        assert_int_equal(st.blocks, 2);
        assert_true(stage_feed_peek(f, &v));
        assert_true(stage_feed_next(&v, &r, NULL));
        check_rec(&r, &sp[0], N);
        stage_feed_release(f, &v, v.end);
        for (unsigned i = 0; i < N; i++)
                event_free(ev[i]);
        stage_feed_free(f);
        buf_free(&scratch);
}

/* Reads every published record: each must be the next seq from *next on, with sp's bytes
 * (sp[seq - base]). Returns how many. */
static size_t read_all(struct stage_feed *f, const struct rec_spec *sp, int64_t base,
                       int64_t *next) {
        struct stage_feed_view v;
        struct stage_feed_rec r;
        size_t got = 0;
        while (stage_feed_peek(f, &v)) {
                while (stage_feed_next(&v, &r, NULL)) {
                        assert_int_equal(r.seq, *next);
                        check_rec(&r, &sp[r.seq - base], r.seq);
                        (*next)++;
                        got++;
                }
                stage_feed_release(f, &v, v.end);
        }
        return got;
}

/* A transaction's records are seen only after its publish, never after a discard (the
 * retry's bytes differ from the discarded ones here, so a record that leaked shows), and
 * a block the consumer read to its published end stays the producer's while it holds
 * records of the open transaction. */
static void test_tail_publish_discard(void **state) {
        (void)state;
        struct stage_feed *f = NULL;
        struct buf scratch = BUF_INIT;
        enum { N = 120 };
        struct event *ev[N], *alt[N];
        struct rec_spec sp[N], alt_sp[N];
        struct stage_feed_view v;
        struct stage_feed_rec r;
        struct stage_feed_stats st;
        int64_t next = 0;

        assert_int_equal(stage_feed_new(4096, 4, &f), 0);
        for (unsigned i = 0; i < N; i++) {
                sp[i] = (struct rec_spec){ i, 200, i % 3 };
                alt_sp[i] = (struct rec_spec){ i + 7, 180 + i % 40, 1 };
                ev[i] = mapped_event(&sp[i], &scratch);
                alt[i] = mapped_event(&alt_sp[i], &scratch);
        }
        /* Committed: seqs 0..4. */
        assert_int_equal(push(f, 1, 0, 0, ev, sp, 5), 5);
        /* Open: 5..24 (several blocks); the consumer sees 0..4 only, and releases the
         * first block read to its published end while the transaction goes on into new
         * blocks (a block taken back then would lose 5..). */
        struct wmap_seq_text t = WMAP_SEQ_TEXT_INIT;
        for (int64_t seq = 5; seq < 25; seq++) {
                const char *digits;
                size_t nl = wmap_seq_text(&t, seq, &digits), len;
                assert_non_null(stage_feed_put(f, 1, 0, seq, ev[seq]->mapped, digits, nl, &len));
                if (seq == 12) {
                        assert_int_equal(read_all(f, sp, 0, &next), 5);
                        assert_false(stage_feed_peek(f, &v));
                }
        }
        assert_false(stage_feed_peek(f, &v));
        stage_feed_publish(f);
        assert_int_equal(read_all(f, sp, 0, &next), 20);
        /* Rolled back: 25..64 with other bytes, over the block the consumer has in view
         * (part read) and beyond, until the feed is full; then the retry with ev's bytes. */
        assert_int_equal(push(f, 1, 0, 25, ev + 25, sp + 25, 3), 3);
        const char *pos;
        assert_true(stage_feed_peek(f, &v));
        assert_true(stage_feed_next(&v, &r, &pos));
        assert_int_equal(r.seq, 25);
        size_t fed = put_tx(f, 1, 0, 28, alt + 28, alt_sp + 28, 60, false);
        assert_true(fed > 0 && fed < 60);          /* the feed was full for it */
        stage_feed_release(f, &v, pos);            /* 25 not consumed */
        stage_feed_stats(f, &st);
        assert_int_equal(st.fed, 28);
        assert_int_equal(st.dropped, 0);           /* a discarded transaction drops nothing */
        assert_int_equal(stage_feed_dropped_through(f), INT64_MIN);
        assert_int_equal(read_all(f, sp, 0, &next), 3);
        /* The retry: fed again, from where the discarded one began. */
        assert_int_equal(push(f, 1, 0, 28, ev + 28, sp + 28, 30), 30);
        assert_int_equal(read_all(f, sp, 0, &next), 30);
        /* A discarded transaction that skipped and dropped leaves no hole either. */
        struct wmap_seq_text t2 = WMAP_SEQ_TEXT_INIT;
        const char *digits;
        size_t nl = wmap_seq_text(&t2, 58, &digits), len;
        assert_non_null(stage_feed_put(f, 1, 0, 58, alt[58]->mapped, digits, nl, &len));
        stage_feed_skip(f, 59);
        stage_feed_discard(f);
        assert_int_equal(push(f, 1, 0, 58, ev + 58, sp + 58, 2), 2);
        assert_int_equal(read_all(f, sp, 0, &next), 2);
        stage_feed_stats(f, &st);
        assert_int_equal(st.fed, 60);
        assert_int_equal(st.dropped, 0);
        assert_int_equal(stage_feed_dropped_through(f), INT64_MIN);
        assert_int_equal(st.blocks, 4);
        for (unsigned i = 0; i < N; i++) {
                event_free(ev[i]);
                event_free(alt[i]);
        }
        stage_feed_free(f);
        buf_free(&scratch);
}

/* A producer thread and this thread as the consumer: seq strictly increasing, bytes right,
 * and fed + dropped == pushed, every missing seq counted as dropped. */
#define T_EVENTS 256
#define T_BATCHES 400
struct producer {
        struct stage_feed *f;
        struct event **ev, **alt;
        const struct rec_spec *sp, *alt_sp;  /* what ev[i] and alt[i] are made of */
        _Atomic int done;
        const char *bad;            /* set by the producer thread (no asserts there) */
};

/* One transaction of ev[0..T_EVENTS) (made from sp) from first_seq on, published or
 * discarded; the bytes put returns checked against want_bytes. */
static void produce_tx(struct producer *p, int b, int64_t first_seq, struct event **ev,
                       const struct rec_spec *sp, bool publish) {
        struct wmap_seq_text t = WMAP_SEQ_TEXT_INIT;
        for (int64_t i = 0; i < T_EVENTS; i++) {
                const char *digits, *got;
                size_t nl = wmap_seq_text(&t, first_seq + i, &digits), len;
                got = stage_feed_put(p->f, b / 100, (b / 100) * 100 * T_EVENTS, first_seq + i,
                                     ev[i]->mapped, digits, nl, &len);
                if (got && !bytes_are(got, len, &sp[i], first_seq + i))
                        p->bad = "put returned other bytes than the record's";
        }
        if (publish)
                stage_feed_publish(p->f);
        else
                stage_feed_discard(p->f);
}

static void *produce(void *ud) {
        struct producer *p = ud;
        for (int b = 0; b < T_BATCHES; b++) {
                int64_t first = (int64_t)b * T_EVENTS;
                if (b % 3 == 1)  /* a transaction rolled back, then retried */
                        produce_tx(p, b, first, p->alt, p->alt_sp, false);
                produce_tx(p, b, first, p->ev, p->sp, true);
                sched_yield();  /* let the consumer in now and then */
        }
        atomic_store(&p->done, 1);
        return NULL;
}

static void test_two_threads(void **state) {
        (void)state;
        struct buf scratch = BUF_INIT;
        struct event *ev[T_EVENTS], *alt[T_EVENTS];
        struct rec_spec sp[T_EVENTS], alt_sp[T_EVENTS];
        struct producer p = { 0 };
        pthread_t t;

        for (unsigned i = 0; i < T_EVENTS; i++) {
                sp[i] = (struct rec_spec){ i, (i * 37u) % 900u, i % 3 };
                alt_sp[i] = (struct rec_spec){ i + 5, (i * 53u) % 900u, 1 };
                ev[i] = mapped_event(&sp[i], &scratch);
                alt[i] = mapped_event(&alt_sp[i], &scratch);
        }
        assert_int_equal(stage_feed_new(64 * 1024, 3, &p.f), 0);
        p.ev = ev;
        p.alt = alt;
        p.sp = sp;
        p.alt_sp = alt_sp;
        assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
        int64_t last = -1;
        uint64_t got = 0, missing = 0;
        for (;;) {
                int done = atomic_load(&p.done);
                struct stage_feed_view v;
                struct stage_feed_rec r;
                while (stage_feed_peek(p.f, &v)) {
                        while (stage_feed_next(&v, &r, NULL)) {
                                assert_true(r.seq > last);
                                missing += (uint64_t)(r.seq - last - 1);
                                assert_int_equal(r.epoch, r.seq / (100 * T_EVENTS));
                                check_rec(&r, &sp[r.seq % T_EVENTS], r.seq);
                                last = r.seq;
                                got++;
                        }
                        stage_feed_release(p.f, &v, v.end);
                }
                if (done)
                        break;
        }
        assert_int_equal(pthread_join(t, NULL), 0);
        if (p.bad)
                fail_msg("%s", p.bad);
        struct stage_feed_stats st;
        stage_feed_stats(p.f, &st);
        int64_t total = (int64_t)T_BATCHES * T_EVENTS;
        missing += (uint64_t)(total - 1 - last);
        /* fed counts records copied in, dropped those lost after too (a taken block) */
        assert_int_equal(got + st.dropped, (uint64_t)total);
        assert_int_equal(st.dropped, missing);
        assert_true(st.fed >= got);
        if (last < total - 1)
                assert_int_equal(stage_feed_dropped_through(p.f), total - 1);
        for (unsigned i = 0; i < T_EVENTS; i++) {
                event_free(ev[i]);
                event_free(alt[i]);
        }
        stage_feed_free(p.f);
        buf_free(&scratch);
}

/* Records read from the store take the same walk (stage_feed_buf_put, stage_feed_view_of). */
static void test_buf_entries(void **state) {
        (void)state;
        struct buf b = BUF_INIT;
        struct stage_feed_view v;
        struct stage_feed_rec r;
        const char *crit = "A1\0B.2\0";

        for (int i = 0; i < 50; i++) {
                char data[64];
                int len = snprintf(data, sizeof(data), "{\"i\":%d%.*s}", i, i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
                struct stage_feed_rec w = { .seq = 10 + i, .epoch = 2, .epoch_first = 10,
                                            .data = data, .len = (size_t)len,
                                            .crit = i % 2 ? crit : NULL, .n_crit = 2 };
                assert_int_equal(stage_feed_buf_put(&b, &w), 0);
        }
        stage_feed_view_of(&v, &b);
        for (int i = 0; i < 50; i++) {
                char data[64];
                int len = snprintf(data, sizeof(data), "{\"i\":%d%.*s}", i, i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
                assert_true(stage_feed_next(&v, &r, NULL));
                assert_int_equal(r.seq, 10 + i);
                assert_int_equal(r.epoch, 2);
                assert_int_equal(r.len, (size_t)len);
                assert_memory_equal(r.data, data, (size_t)len);
                if (i % 2) {
                        assert_non_null(r.crit);
                        assert_int_equal(r.n_crit, 2);
                        assert_string_equal(r.crit, "A1");
                        assert_string_equal(r.crit + 3, "B.2");
                } else {
                        assert_null(r.crit);
                }
        }
        assert_false(stage_feed_next(&v, &r, NULL));
        buf_free(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bytes_criteria_holes),
                cmocka_unit_test(test_drops_newest_never_unread),
                cmocka_unit_test(test_tail_publish_discard),
                cmocka_unit_test(test_two_threads),
                cmocka_unit_test(test_buf_entries),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
