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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_batch_recycled_equals_malloc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
