/* `gatelog report`: the record walk and each criterion's part of the report tree.
 *
 * Counts come from the same record walk as `gatelog query` (store_query / export_query with
 * the criterion and the event-time window, sealed epochs only) and the same group keys
 * (cli/query-match.c), so the report's numbers equal `gatelog query --count` and
 * `--group-by day|actor|outcome` for the same period. A reservoir sample of each criterion's
 * records (splitmix64 seeded by --seed: the same seed gives the same sample) is chosen here;
 * cmd-report-epochs.c fetches and proves them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd-report-int.h"
#include "outputs/outputs.h"
#include "outputs/s3.h"

static uint64_t splitmix64(uint64_t *s)
{
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

/* ---- the record walk (one per criterion) ---- */

/* The target's group key: target.user, else host, else ip, else the string, else "-". */
static int target_key(const json *rec, struct buf *out)
{
        static const char *const keys[] = { "user", "host", "service", "ip", "path" };
        const json *t = rec ? json_obj_get(rec, "target") : NULL;
        const json *s = t;
        size_t n = 0;
        const char *p;

        if (t && json_type_of(t) == JSON_OBJ) {
                s = NULL;
                for (size_t i = 0; !s && i < sizeof(keys) / sizeof(*keys); i++) {
                        const json *e = json_obj_get(t, keys[i]);
                        if (e && json_type_of(e) == JSON_STR)
                                s = e;
                }
        }
        p = s && json_type_of(s) == JSON_STR ? json_str(s, &n) : NULL;
        return p && n ? buf_append(out, p, n) : buf_append(out, "-", 1);
}

static int count_key(struct report_ctx *c, struct query_groups *g, const char *by,
                     const json *rec, int64_t time_us)
{
        int r;

        buf_reset(&c->key);
        r = by ? query_group_key(by, rec, time_us, &c->key) : target_key(rec, &c->key);
        return r < 0 ? r : query_groups_add(g, c->key.data ? c->key.data : "", c->key.len, 1);
}

static bool outcome_failed(const json *rec)
{
        size_t n = 0;
        const char *s = json_str(json_obj_get(rec, "outcome"), &n);

        return s && ((n == 7 && memcmp(s, "failure", 7) == 0) ||
                     (n == 6 && memcmp(s, "denied", 6) == 0));
}

static int add_failure(struct report_ctx *c, struct crit *k, const struct store_record *sr,
                       const json *rec)
{
        static const char *const keep[] = { "time", "host", "app", "rule", "outcome",
                                            "actor", "action", "target", "message" };
        json *o = json_new_obj();
        int r = o ? json_obj_set_int(o, "seq", sr->seq) : -ENOMEM;

        (void)c;
        for (size_t i = 0; r >= 0 && i < sizeof(keep) / sizeof(*keep); i++) {
                const json *v = json_obj_get(rec, keep[i]);
                json *cv = v ? json_clone(v) : json_new_null();
                r = cv ? json_obj_set(o, keep[i], cv) : -ENOMEM;
        }
        if (r >= 0)
                return json_arr_append(k->failures, o);
        json_free(o);
        return r;
}

static int record_cb(void *ud, const struct store_record *sr)
{
        struct report_ctx *c = ud;
        struct crit *k = c->cur;
        json *rec = NULL;
        int r;

        if (json_parse(sr->data, sr->len, &rec, NULL) < 0 || json_type_of(rec) != JSON_OBJ) {
                json_free(rec);
                rec = NULL;  /* counted, grouped under "-" as query does */
        }
        r = count_key(c, &k->day, "day", rec, sr->time_us);
        if (r >= 0)
                r = count_key(c, &k->outcome, "outcome", rec, sr->time_us);
        if (r >= 0)
                r = count_key(c, &k->actor, "actor", rec, sr->time_us);
        if (r >= 0)
                r = count_key(c, &k->target, NULL, rec, sr->time_us);
        if (r >= 0) {  /* "YYYY-MM-DD outcome" */
                buf_reset(&c->key);
                r = query_group_key("day", rec, sr->time_us, &c->key);
                if (r >= 0)
                        r = buf_putc(&c->key, ' ');
                if (r >= 0)
                        r = query_group_key("outcome", rec, sr->time_us, &c->key);
                if (r >= 0)
                        r = query_groups_add(&k->day_outcome, c->key.data, c->key.len, 1);
        }
        if (r >= 0 && rec && outcome_failed(rec)) {
                if (k->n_fail++ < REPORT_FAIL_MAX)
                        r = add_failure(c, k, sr, rec);
        }
        /* Reservoir sampling (Algorithm R): each record kept with probability n/total. */
        if (r >= 0 && c->sample_n > 0) {
                if (k->total < c->sample_n) {
                        k->sample[k->n_sample++].seq = (uint64_t)sr->seq;
                } else {
                        uint64_t j = splitmix64(&k->rng) % (k->total + 1);
                        if (j < c->sample_n)
                                k->sample[j].seq = (uint64_t)sr->seq;
                }
        }
        k->total++;
        json_free(rec);
        return r;
}

static void skipped_cb(void *ud, const char *what)
{
        (void)ud;
        fprintf(stderr, "gatelog report: %s\n", what);
}

int report_walk_records(struct report_ctx *c, const char *db, const char *exp,
                        const char *chain, const uint8_t pk[SEAL_PK_LEN], uint64_t *skipped)
{
        struct store_error err = { { 0 } };
        struct store *s = NULL;
        int r = 0;

        if (db && (r = store_open(db, STORE_READONLY, &s, &err)) < 0) {
                fprintf(stderr, "gatelog report: %s: %s\n", db, err.msg);
                return r;
        }
        for (size_t i = 0; r >= 0 && i < c->n_crit; i++) {
                struct store_query q = { c->crit[i].id, NULL, c->since, c->until, false };
                uint64_t sk = 0;

                c->cur = &c->crit[i];
                if (s) {
                        r = store_query(s, &q, record_cb, c);
                        if (r < 0)
                                fprintf(stderr, "gatelog report: %s: %s\n", db,
                                        store_errmsg(s)[0] ? store_errmsg(s) : strerror(-r));
                } else {
                        r = export_query(exp, chain, pk, &q, record_cb, skipped_cb, c, &sk,
                                         &err);
                        if (r < 0)
                                fprintf(stderr, "gatelog report: %s: %s\n", exp,
                                        err.msg[0] ? err.msg : strerror(-r));
                        if (sk > *skipped)
                                *skipped = sk;
                }
        }
        store_close(s);
        return r;
}

/* ---- the criterion's report tree ---- */

static json *groups_json(struct query_groups *g, bool by_count, size_t max)
{
        json *a = json_new_arr();

        query_groups_sort(g, by_count);
        for (size_t i = 0; a && i < g->n && i < max; i++) {
                json *o = json_new_obj();
                if (!o || json_obj_set(o, "key", json_new_strn(g->v[i].key, g->v[i].key_len)) < 0 ||
                    json_obj_set_int(o, "count", (int64_t)g->v[i].count) < 0 ||
                    json_arr_append(a, o) < 0) {
                        json_free(a);
                        return NULL;
                }
        }
        return a;
}

/* by_day: [{day, count, outcomes: {outcome: n}}] in day order. */
static json *by_day_json(struct crit *k)
{
        json *a = json_new_arr();
        int r = a ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < k->day.n; i++) {
                json *o = json_new_obj(), *oc = json_new_obj();
                r = o && oc ? 0 : -ENOMEM;
                for (size_t j = 0; r >= 0 && j < k->day_outcome.n; j++) {
                        const struct query_group *g = &k->day_outcome.v[j];
                        if (g->key_len > 11 && memcmp(g->key, k->day.v[i].key, 10) == 0)
                                r = json_obj_setn(oc, g->key + 11, g->key_len - 11,
                                                  json_new_int((int64_t)g->count));
                }
                if (r >= 0)
                        r = json_obj_set(o, "day", json_new_str(k->day.v[i].key));
                if (r >= 0)
                        r = json_obj_set_int(o, "count", (int64_t)k->day.v[i].count);
                if (r >= 0) {
                        r = json_obj_set(o, "outcomes", oc);
                        oc = NULL;
                }
                if (r >= 0) {
                        r = json_arr_append(a, o);
                        o = NULL;
                }
                json_free(o);
                json_free(oc);
        }
        if (r < 0) {
                json_free(a);
                return NULL;
        }
        return a;
}

static json *samples_json(struct crit *k, uint64_t *bad)
{
        json *a = json_new_arr();

        for (size_t i = 0; a && i < k->n_sample; i++) {
                struct sample *s = &k->sample[i];
                json *o = json_new_obj();
                int r = o ? json_obj_set_int(o, "seq", (int64_t)s->seq) : -ENOMEM;
                if (!s->proof_ok)
                        (*bad)++;
                if (r >= 0)
                        r = json_obj_set(o, "proof_verified", json_new_bool(s->proof_ok));
                if (r >= 0 && !s->proof_ok)
                        r = json_obj_set_str(o, "problem", s->why[0] ? s->why :
                                             "no sealed epoch holds it");
                if (r >= 0) {
                        r = json_obj_set(o, "proof", s->proof ? s->proof : json_new_null());
                        s->proof = NULL;
                }
                if (r < 0 || json_arr_append(a, o) < 0) {
                        json_free(o);
                        json_free(a);
                        return NULL;
                }
        }
        return a;
}

json *report_crit_json(struct report_ctx *c, struct crit *k, uint64_t *bad)
{
        json *o = json_new_obj();
        int r = o ? json_obj_set_str(o, "id", k->id) : -ENOMEM;

        if (r >= 0)
                r = json_obj_set_int(o, "total", (int64_t)k->total);
        if (r >= 0)
                r = json_obj_set(o, "by_day", by_day_json(k));
        if (r >= 0)
                r = json_obj_set(o, "by_outcome", groups_json(&k->outcome, true, SIZE_MAX));
        if (r >= 0)
                r = json_obj_set(o, "top_actors", groups_json(&k->actor, true, c->top_n));
        if (r >= 0)
                r = json_obj_set_int(o, "n_actors", (int64_t)k->actor.n);
        if (r >= 0)
                r = json_obj_set(o, "top_targets", groups_json(&k->target, true, c->top_n));
        if (r >= 0)
                r = json_obj_set_int(o, "n_targets", (int64_t)k->target.n);
        if (r >= 0)
                r = json_obj_set_int(o, "failures_total", (int64_t)k->n_fail);
        if (r >= 0) {
                r = json_obj_set(o, "failures", k->failures);
                k->failures = NULL;
        }
        if (r >= 0)
                r = json_obj_set(o, "sample", samples_json(k, bad));
        if (r < 0) {
                json_free(o);
                return NULL;
        }
        return o;
}

/* json_obj_set with a NULL value (an allocation failed) must fail: it does (-EINVAL or
 * -ENOMEM), so each builder above reports out of memory through r. */
