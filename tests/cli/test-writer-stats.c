/* The open epoch's counters (cli/writer-stats.c) against a naive model.
 *
 * issue 12: the counters are tallied per batch without JSON and folded into the stats object
 * once per batch. The model here is the per-event JSON update they replaced; random batches
 * of random events (mapped records and trees, flags, unmapped apps, rule drops, more rule
 * packs and sources than a tally table holds, so that early folds happen) must give the same
 * canonical stats as the model after every batch, also across failed batches undone with
 * snapshot and restore. A deliberately broken model (one that forgets the last position)
 * must be told apart, to show the check bites. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/writer-map.h"
#include "cli/writer-stats.h"
#include "core/buf.h"
#include "tests/test-rng.h"

/* ---- the model: what writer-stats.c did per event before issue 12's tally ---- */

static void m_add(json *obj, const char *key, int64_t n) {
        assert_int_equal(json_obj_set_int(obj, key, json_int(json_obj_get(obj, key)) + n), 0);
}

static void m_event(json *a, const struct event *e, bool broken) {
        if (e->mapped) {
                const struct wmap_rec *m = e->mapped;
                m_add(a, "kept", 1);
                const char *f = m->flags;
                for (size_t i = 0; i < m->n_flags; i++, f = wmap_next(f))
                        m_add(json_obj_get(a, "flags"), f, 1);
                if (m->unmapped_app)
                        m_add(json_obj_get(a, "unmapped"), m->unmapped_app, 1);
        } else if (e->rec) {
                m_add(a, "kept", 1);
                const json *f = json_obj_get(e->rec, "flags");
                for (size_t i = 0; i < json_len(f); i++)
                        m_add(json_obj_get(a, "flags"), json_str(json_arr_at(f, i), NULL), 1);
                const char *rule = json_str(json_obj_get(e->rec, "rule"), NULL);
                if (rule && strcmp(rule, "unmapped") == 0) {
                        const char *app = json_str(json_obj_get(e->rec, "app"), NULL);
                        m_add(json_obj_get(a, "unmapped"), app ? app : "-", 1);
                }
        } else if (e->drop_rule) {
                m_add(json_obj_get(a, "dropped_by_rule"), e->drop_rule, 1);
        }
        if (e->rules_pack[0]) {
                json *packs = json_obj_get(a, "rules_packs");
                size_t i = 0;
                while (i < json_len(packs) &&
                       strcmp(json_str(json_arr_at(packs, i), NULL), e->rules_pack) != 0)
                        i++;
                if (i == json_len(packs))
                        assert_int_equal(json_arr_append(packs, json_new_str(e->rules_pack)), 0);
        }
        if (e->pos_source && e->pos) {
                json *sources = json_obj_get(a, "sources");
                json *src = json_obj_get(sources, e->pos_source);
                if (!src) {
                        src = json_new_obj();
                        assert_int_equal(json_obj_set_str(src, "first", e->pos), 0);
                        assert_int_equal(json_obj_set(sources, e->pos_source, src), 0);
                }
                if (!broken || !json_obj_get(src, "last"))
                        assert_int_equal(json_obj_set_str(src, "last", e->pos), 0);
                m_add(src, "count", 1);
        }
}

/* ---- random events ---- */

/* The tests draw one sequence in turn (main's state, seeded once), each from where the one
 * before stopped. */
static uint32_t rnd(uint64_t *rng, uint32_t n) {
        return (uint32_t)(test_rng_next(rng) % n);
}

static const char *const flag_names[] = { "malformed", "truncated", "invalid_utf8", "no_host" };

/* A mapped record with only what the counters read: flags and the unmapped app. */
static struct wmap_rec *make_mapped(uint64_t *rng) {
        struct wmap_rec *m = calloc(1, sizeof(*m) + 128);
        assert_non_null(m);
        char *p = m->data;
        size_t nf = rnd(rng, 3);
        m->flags = p;
        for (size_t i = 0; i < nf; i++) {
                const char *f = flag_names[rnd(rng, 4)];
                strcpy(p, f);
                p += strlen(f) + 1;
        }
        m->n_flags = nf;
        if (rnd(rng, 3) == 0) {
                /* many distinct apps: more than a tally table holds */
                m->unmapped_app = p;
                sprintf(p, "app%u", rnd(rng, 40));
        }
        return m;
}

static json *make_tree(uint64_t *rng) {
        json *r = json_new_obj(), *f = json_new_arr();
        for (uint32_t i = rnd(rng, 3); i > 0; i--)
                json_arr_append(f, json_new_str(flag_names[rnd(rng, 4)]));
        json_obj_set(r, "flags", f);
        if (rnd(rng, 2)) {
                json_obj_set_str(r, "rule", "unmapped");
                if (rnd(rng, 2))
                        json_obj_set_str(r, "app", rnd(rng, 2) ? "sshd" : "nginx");
        } else {
                json_obj_set_str(r, "rule", "sshd-accepted");
        }
        return r;
}

static struct event *make_event(uint64_t *rng) {
        uint32_t kind = rnd(rng, 10);
        struct event *e = event_new(kind == 0 ? make_tree(rng) : NULL, 0);
        assert_non_null(e);
        if (kind == 1) {
                char rule[16];
                snprintf(rule, sizeof(rule), "drop%u", rnd(rng, 20));
                e->drop_rule = strdup(rule);
        } else if (kind > 1) {
                e->mapped = make_mapped(rng);
        }
        if (rnd(rng, 8)) {
                /* 24 packs, mostly the same one, as after a few reloads */
                uint32_t p = rnd(rng, 4) ? 0 : rnd(rng, 24);
                for (int i = 0; i < 64; i++)
                        e->rules_pack[i] = "0123456789abcdef"[(p * 7 + (uint32_t)i) % 16];
                e->rules_pack[0] = (char)('a' + p);
        }
        if (rnd(rng, 2)) {
                char src[32], pos[32];
                snprintf(src, sizeof(src), "kafka:t/%u", rnd(rng, rnd(rng, 2) ? 3 : 40));
                snprintf(pos, sizeof(pos), "%u", rnd(rng, 1000000));
                assert_int_equal(event_set_pos(e, src, pos), 0);
        }
        return e;
}

static char *canon_stats(const struct epoch_stats *s) {
        json *j = epoch_stats_json(s);
        assert_non_null(j);
        struct buf b = BUF_INIT;
        assert_int_equal(json_canon(j, &b), 0);
        json_free(j);
        return b.data;
}

/* Runs batches through both; returns whether they agreed after every batch. */
static bool run(uint64_t *rng, bool broken) {
        struct epoch_stats s, model;
        assert_int_equal(epoch_stats_init(&s), 0);
        assert_int_equal(epoch_stats_init(&model), 0);
        bool same = true;
        for (int batch = 0; batch < 300; batch++) {
                size_t n = rnd(rng, 4) ? rnd(rng, 200) : rnd(rng, 3);
                struct event **ev = calloc(n ? n : 1, sizeof(*ev));
                assert_non_null(ev);
                struct epoch_stats saved;
                assert_int_equal(epoch_stats_snapshot(&s, &saved), 0);
                for (size_t i = 0; i < n; i++) {
                        ev[i] = make_event(rng);
                        assert_int_equal(epoch_stats_event(&s, ev[i]), 0);
                }
                bool fail = rnd(rng, 10) == 0;  /* the commit fails: undo the batch */
                if (fail || rnd(rng, 2))  /* a failure before or after the fold */
                        assert_int_equal(epoch_stats_flush(&s), 0);
                if (fail) {
                        epoch_stats_restore(&s, &saved);
                } else {
                        assert_int_equal(epoch_stats_flush(&s), 0);
                        epoch_stats_clear(&saved);
                        for (size_t i = 0; i < n; i++)
                                m_event(model.acc, ev[i], broken);
                }
                for (size_t i = 0; i < n; i++)
                        event_free(ev[i]);
                free(ev);
                char *a = canon_stats(&s), *b = canon_stats(&model);
                if (strcmp(a, b) != 0)
                        same = false;
                if (!broken && !same)
                        fprintf(stderr, "batch %d:\n tally %s\n model %s\n", batch, a, b);
                free(a);
                free(b);
                if (!same)
                        break;
        }
        epoch_stats_clear(&s);
        epoch_stats_clear(&model);
        return same;
}

static void test_stats_tally_model(void **state) {
        assert_true(run(*state, false));
}

static void test_stats_broken_model_bites(void **state) {
        assert_false(run(*state, true));
}

/* A restart loads the counters back; counting goes on from them. */
static void test_stats_load_then_count(void **state) {
        uint64_t *rng = *state;
        struct epoch_stats s, t;
        assert_int_equal(epoch_stats_init(&s), 0);
        for (int i = 0; i < 50; i++) {
                struct event *e = make_event(rng);
                assert_int_equal(epoch_stats_event(&s, e), 0);
                assert_int_equal(epoch_stats_flush(&s), 0);
                event_free(e);
        }
        char *a = canon_stats(&s);
        assert_int_equal(epoch_stats_init(&t), 0);
        assert_int_equal(epoch_stats_load(&t, a), 0);
        char *b = canon_stats(&t);
        assert_string_equal(a, b);
        free(a);
        free(b);
        epoch_stats_clear(&s);
        epoch_stats_clear(&t);
}

int main(void) {
        uint64_t rng = 0x9e3779b97f4a7c15u;     /* fixed seed: failures reproduce */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_prestate(test_stats_tally_model, &rng),
                cmocka_unit_test_prestate(test_stats_broken_model_bites, &rng),
                cmocka_unit_test_prestate(test_stats_load_then_count, &rng),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
