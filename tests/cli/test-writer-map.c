/* The mapper's recycled blocks (cli/writer-map.c wmap_batch, issue 12): a record mapped
 * into a block of the mapper's recycler is byte for byte what a malloc'd one is (the bytes,
 * the seq offset, the leaf, the strings the store reads); a record too large for a block
 * is malloc'd; event_bytes counts the block; event_free gives the block back on any thread.
 * A block event_free did not give back keeps the recycler alive after its owner released
 * it, and the ASan build's leak check fails the test. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/writer-map.h"
#include "core/json.h"
#include "core/recycle.h"
#include "core/tm.h"

#define N_REC 200
#define BLOCK 1536u

/* A record of about `size` bytes: keys that sort around "seq", criteria, flags, a host. */
static json *make_rec(unsigned i, size_t size) {
        json *rec = json_new_obj();
        char *msg = malloc(size + 1);

        assert_non_null(rec);
        assert_non_null(msg);
        for (size_t k = 0; k < size; k++)
                msg[k] = (char)('a' + (i + k) % 26);
        msg[size] = '\0';
        assert_int_equal(json_obj_set_str(rec, "message", msg), 0);
        assert_int_equal(json_obj_set_str(rec, "host", i % 3 ? "host-1" : "h"), 0);
        assert_int_equal(json_obj_set_str(rec, "rule", i % 2 ? "unmapped" : "ssh-login"), 0);
        assert_int_equal(json_obj_set_str(rec, "app", "sshd"), 0);
        assert_int_equal(json_obj_set_str(rec, "sez", "after seq"), 0);
        assert_int_equal(json_obj_set_str(rec, "time", "2026-01-02T03:04:05Z"), 0);
        json *crit = json_new_arr(), *flags = json_new_arr();
        assert_non_null(crit);
        assert_non_null(flags);
        assert_int_equal(json_arr_append(crit, json_new_str("CC6.1")), 0);
        if (i % 4 == 0)
                assert_int_equal(json_arr_append(flags, json_new_str("truncated")), 0);
        assert_int_equal(json_obj_set(rec, "criteria", crit), 0);
        assert_int_equal(json_obj_set(rec, "flags", flags), 0);
        free(msg);
        return rec;
}

static void *free_all(void *ud) {
        struct event **ev = ud;
        for (size_t i = 0; i < N_REC; i++)
                event_free(ev[i]);
        return NULL;
}

static void assert_same_mapped(const struct wmap_rec *a, const struct wmap_rec *b) {
        struct buf oa = BUF_INIT, ob = BUF_INIT;
        uint8_t la[HASH_LEN], lb[HASH_LEN];

        assert_int_equal(a->len, b->len);
        assert_int_equal(a->seq_off, b->seq_off);
        assert_int_equal(a->time_us, b->time_us);
        assert_int_equal(a->n_crit, b->n_crit);
        assert_int_equal(a->n_flags, b->n_flags);
        assert_string_equal(a->host ? a->host : "(none)", b->host ? b->host : "(none)");
        assert_string_equal(a->unmapped_app ? a->unmapped_app : "(none)",
                            b->unmapped_app ? b->unmapped_app : "(none)");
        assert_string_equal(a->crit, b->crit);
        assert_int_equal(wmap_splice(a, 1234567, &oa, la), 0);
        assert_int_equal(wmap_splice(b, 1234567, &ob, lb), 0);
        assert_int_equal(oa.len, ob.len);
        assert_memory_equal(oa.data, ob.data, oa.len);
        assert_memory_equal(la, lb, HASH_LEN);
        buf_free(&oa);
        buf_free(&ob);
}

static void test_batch_recycled_equals_malloc(void **state) {
        (void)state;
        struct recycle *rc = NULL;
        struct event *ev[N_REC], *model[N_REC];
        struct buf scratch = BUF_INIT;
        size_t n_rc = 0, n_malloc = 0;

        assert_int_equal(recycle_new(BLOCK, 64, &rc), 0);
        for (int round = 0; round < 3; round++) {
                for (unsigned i = 0; i < N_REC; i++) {
                        /* 0 .. ~2.4 KiB of message: both sides of the block size. */
                        size_t size = (i * 97u) % 2400u;
                        ev[i] = event_new(make_rec(i, size), 1000);
                        model[i] = event_new(make_rec(i, size), 1000);
                        assert_non_null(ev[i]);
                        assert_non_null(model[i]);
                }
                wmap_batch(NULL, rc, ev, N_REC, &scratch);
                for (unsigned i = 0; i < N_REC; i++) {
                        assert_int_equal(wmap_event(NULL, model[i], &scratch), 0);
                        assert_null(ev[i]->rec);
                        assert_non_null(ev[i]->mapped);
                        assert_null(model[i]->mapped_rc);
                        assert_same_mapped(ev[i]->mapped, model[i]->mapped);
                        const struct wmap_rec *m = ev[i]->mapped;
                        if (ev[i]->mapped_rc) {
                                assert_ptr_equal(ev[i]->mapped_rc, rc);
                                /* The block held everything the record needs. */
                                assert_true((size_t)(wmap_next(m->crit) - (const char *)m) <=
                                            BLOCK);
                                assert_true(event_bytes(ev[i]) >= BLOCK);
                                n_rc++;
                        } else {
                                assert_true(sizeof(*m) + m->len + 1 > BLOCK - 64);
                                n_malloc++;
                        }
                        event_free(model[i]);
                }
                /* Given back on another thread, as the storing thread does. */
                pthread_t t;
                assert_int_equal(pthread_create(&t, NULL, free_all, ev), 0);
                assert_int_equal(pthread_join(t, NULL), 0);
        }
        /* Both kinds were exercised. */
        assert_true(n_rc > N_REC);
        assert_true(n_malloc > N_REC / 4);
        recycle_release(rc);
        buf_free(&scratch);
}

/* canon10: a batch keeps hints and the last day from record to record. Every record's
 * time, host, app, criteria and flags must still be what the tree says: time as
 * tm_parse_rfc3339 reads it (else the receipt time), the rest the first member of each
 * name. Times on the same day and not, valid and broken at every place; records of two
 * layouts (sorted, and in insertion order with other members first) mixed in a batch. */
static void test_batch_fields_model(void **state) {
        (void)state;
        static const char *const days[] = { "2026-01-02", "2026-01-03", "2024-02-29",
                                            "2023-02-29", "2026-13-01", "1970-01-01" };
        static const char muts[] = "0123456789T t:.Zz+-";
        unsigned seed = 2024;
        struct recycle *rc = NULL;
        struct buf scratch = BUF_INIT;
        enum { B = 64 };
        struct event *ev[B];
        size_t n_fast = 0;

        assert_int_equal(recycle_new(BLOCK, 64, &rc), 0);
        for (int batch = 0; batch < 300; batch++) {
                int64_t want_time[B];
                char want_host[B][16], want_flags[B][32];
                for (unsigned i = 0; i < B; i++) {
                        char ts[40];
                        seed = seed * 1103515245u + 12345u;
                        unsigned r = seed >> 8;
                        snprintf(ts, sizeof(ts), "%sT%02u:%02u:%02u.%06uZ",
                                 days[r % 7 < 4 ? 0 : r % 6], (r >> 3) % 25, (r >> 8) % 61,
                                 (r >> 14) % 61, (r >> 4) % 1000000);
                        size_t tl = strlen(ts);
                        seed = seed * 1103515245u + 12345u;
                        if ((seed >> 8) % 3 == 0) /* one byte changed */
                                ts[(seed >> 12) % tl] = muts[(seed >> 20) % (sizeof(muts) - 1)];
                        else if ((seed >> 8) % 7 == 0) /* cut or grown */
                                tl = (seed >> 12) % 2 ? tl - 1 - (seed >> 16) % 8 : tl;
                        if ((seed >> 8) % 11 == 0) {
                                memcpy(ts + tl - 1, "+01:30", 7);
                                tl = strlen(ts);
                        }
                        json *rec = json_new_obj();
                        assert_non_null(rec);
                        bool other = (seed >> 24) % 2;
                        if (other) /* a different layout: members the mapper skips, first */
                                assert_int_equal(json_obj_set_str(rec, "zzz", "x"), 0);
                        snprintf(want_host[i], sizeof(want_host[i]), "h%u", i);
                        assert_int_equal(json_obj_set_strn(rec, "time", ts, tl), 0);
                        assert_int_equal(json_obj_set_str(rec, "host", want_host[i]), 0);
                        assert_int_equal(json_obj_set_str(rec, "rule", "unmapped"), 0);
                        assert_int_equal(json_obj_set_str(rec, "app", other ? "a" : "bb"), 0);
                        json *flags = json_new_arr();
                        const char *fl = i % 3 == 0 ? "truncated" : i % 3 == 1 ? "malformed" : "x";
                        assert_int_equal(json_arr_append(flags, json_new_str(fl)), 0);
                        assert_int_equal(json_obj_set(rec, "flags", flags), 0);
                        snprintf(want_flags[i], sizeof(want_flags[i]), "%s", fl);
                        if (!other) { /* sorted, as every syslog record */
                                struct buf c = BUF_INIT;
                                json *p = NULL;
                                assert_int_equal(json_canon(rec, &c), 0);
                                assert_int_equal(json_parse(c.data, c.len, &p, NULL), 0);
                                json_free(rec);
                                rec = p;
                                buf_free(&c);
                        }
                        int64_t us;
                        want_time[i] = tm_parse_rfc3339(ts, tl, 0, &us) == 0 ? us : 1000;
                        ev[i] = event_new(rec, 1000);
                        assert_non_null(ev[i]);
                }
                wmap_batch(NULL, rc, ev, B, &scratch);
                for (unsigned i = 0; i < B; i++) {
                        const struct wmap_rec *m = ev[i]->mapped;
                        assert_non_null(m);
                        if (m->time_us != want_time[i])
                                fail_msg("batch %d record %u: time %lld, model %lld", batch, i,
                                         (long long)m->time_us, (long long)want_time[i]);
                        n_fast += want_time[i] != 1000;
                        assert_string_equal(m->host, want_host[i]);
                        assert_non_null(m->unmapped_app);
                        assert_int_equal(m->n_flags, 1);
                        assert_string_equal(m->flags, want_flags[i]);
                        assert_int_equal(ev[i]->truncated, i % 3 == 0);
                        assert_int_equal(ev[i]->malformed, i % 3 == 1);
                        event_free(ev[i]);
                }
        }
        assert_true(n_fast > 1000);
        recycle_release(rc);
        buf_free(&scratch);
}

/* canon10: the bytes are written straight into the block. Records around the block's
 * size: the bytes and strings fit; the bytes fit but the strings do not (moved to a
 * malloc'd record); the bytes do not fit (written again into scratch). Each equals the
 * model (wmap_event, no recycler). */
static void test_block_edges(void **state) {
        (void)state;
        struct recycle *rc = NULL;
        struct buf scratch = BUF_INIT;
        size_t room = BLOCK - offsetof(struct wmap_rec, data), kinds[3] = { 0, 0, 0 };
        char host[200];

        memset(host, 'h', sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        assert_int_equal(recycle_new(BLOCK, 64, &rc), 0);
        for (size_t size = room > 800 ? room - 800 : 0; size < room; size++) {
                struct event *ev[1], *model;
                json *a = make_rec((unsigned)size, size), *b = make_rec((unsigned)size, size);
                assert_int_equal(json_obj_set_str(a, "host", host), 0);
                assert_int_equal(json_obj_set_str(b, "host", host), 0);
                ev[0] = event_new(a, 1000);
                model = event_new(b, 1000);
                wmap_batch(NULL, rc, ev, 1, &scratch);
                assert_int_equal(wmap_event(NULL, model, &scratch), 0);
                const struct wmap_rec *m = ev[0]->mapped;
                assert_non_null(m);
                assert_same_mapped(m, model->mapped);
                kinds[ev[0]->mapped_rc ? 0 : m->len + 1 <= room ? 1 : 2]++;
                event_free(ev[0]);
                event_free(model);
        }
        if (!kinds[0] || !kinds[1] || !kinds[2])
                fail_msg("kinds %zu %zu %zu", kinds[0], kinds[1], kinds[2]);
        recycle_release(rc);
        buf_free(&scratch);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_batch_recycled_equals_malloc),
                cmocka_unit_test(test_batch_fields_model),
                cmocka_unit_test(test_block_edges),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
