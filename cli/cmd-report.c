/* `gatelog report` (issue 10): the evidence an auditor puts in the audit file for a period.
 *
 * Counts come from the same record walk as `gatelog query` (store_query / export_query with
 * the criterion and the event-time window, sealed epochs only) and the same group keys
 * (cli/query-match.c), so the report's numbers equal `gatelog query --count` and
 * `--group-by day|actor|outcome` for the same period. Every sealed epoch of the chain is then
 * fed to the verifier (as `gatelog verify` does); the epochs whose receipt interval overlaps
 * the period are listed with their result, their drops and whether they hold no records.
 * A reservoir sample of each criterion's records (splitmix64 seeded by --seed: the same
 * seed gives the same sample) gets its inclusion proof from seal/proof.c, checked here too.
 *
 * Memory: the group counts, at most REPORT_FAIL_MAX failures and the sample per criterion,
 * and, for the epoch being streamed, the verifier's leaf hashes (and, when the epoch holds
 * samples, the prover's: seal_leaves); no record is held but the sampled ones (issue 12). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/audit-source.h"
#include "cli/cli.h"
#include "cli/cmd-report.h"
#include "cli/query-match.h"
#include "core/tm.h"
#include "outputs/outputs.h"
#include "outputs/s3.h"
#include "seal/seal.h"

#define REPORT_CRITERIA_MAX 32
#define REPORT_SAMPLE_MAX 100    /* records sampled per criterion */
#define REPORT_FAIL_MAX 50       /* failures listed per criterion (all are counted) */
#define REPORT_TOP_MAX 100
#define REPORT_PROBLEMS_MAX 20   /* problem sentences kept per epoch */

struct sample {
        uint64_t seq;
        json *proof;             /* the proof file as JSON, once built */
        bool proof_ok;
        char why[256];
        char *rec;               /* its bytes, copied while its epoch streams (issue 12) */
        size_t rec_len;
};

struct crit {
        const char *id;
        uint64_t total, n_fail;
        struct query_groups day, day_outcome, outcome, actor, target;
        json *failures;          /* array */
        struct sample sample[REPORT_SAMPLE_MAX];
        size_t n_sample;
        uint64_t rng;
};

struct report_ctx {
        struct crit crit[REPORT_CRITERIA_MAX];
        size_t n_crit, sample_n, top_n;
        int64_t since, until;
        struct buf key;
        /* the epoch walk */
        struct seal_verifier *v;
        json *epochs, *chain_problems, *rotations, *key_ids;
        json *cur_problems;      /* of the epoch being fed */
        uint64_t n_epochs, n_problems;
        struct crit *cur;
        /* issue 12: the epoch being streamed, when it holds samples: its leaf hashes, and the
         * samples it holds by record index (ascending; next is the next one to copy). */
        uint8_t epoch_pk[SEAL_PK_LEN];
        uint64_t epoch_before;   /* n_problems when the epoch began */
        struct seal_leaves *leaves;
        size_t n_records;
        struct sample **want;
        size_t *want_idx, n_want, next_want;
};

static uint64_t splitmix64(uint64_t *s)
{
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static void report_usage(FILE *f)
{
        fprintf(f,
                "Usage: gatelog report --criterion ID... --since T --until T --pubkey KEY\n"
                "                      (--db FILE | --export DIR [--chain NAME]) [--out FILE]\n"
                "                      [--format html|json] [--seed N] [--sample N] [--top N]\n"
                "\n"
                "Writes the evidence report of a period: per criterion, events per day by\n"
                "outcome (chart and table), top actors and targets, failures and denials; the\n"
                "epochs of the period with the verifier's result for each, those with no events\n"
                "or with drops flagged; key fingerprints; and a random sample of records, each\n"
                "with its inclusion proof (check one with `gatelog verify-proof`).\n"
                "\n"
                "  -c, --criterion ID   a criterion to report on (repeat; e.g. CC6.1)\n"
                "  -s, --since T        event time at or after T (RFC 3339 or YYYY-MM-DD)\n"
                "  -u, --until T        event time before T\n"
                "  -d, --db FILE        a gatelog database (opened read-only)\n"
                "  -e, --export DIR     an export folder instead\n"
                "  -C, --chain NAME     which chain of an export (default: the only one)\n"
                "  -k, --pubkey FILE    the chain's first public key (rotations are followed)\n"
                "  -o, --out FILE       write there (default: standard output)\n"
                "  -f, --format F       html (default; self-contained, prints to PDF) or json\n"
                "      --seed N         seed of the record sample (default 1)\n"
                "      --sample N       records sampled per criterion (default 5, max %d)\n"
                "      --top N          actors and targets listed (default 10)\n"
                "\n"
                "Counts equal `gatelog query --criterion ID --since T --until T --count`.\n"
                "Exit status: 0 report written and every epoch verified, 1 written but some\n"
                "epoch or proof failed verification, 2 usage, 3 runtime error.\n",
                REPORT_SAMPLE_MAX);
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

/* ---- the epoch walk ---- */

static json *str_or_null(const char *s)
{
        return s ? json_new_str(s) : json_new_null();
}

static void problem_cb(void *ud, int64_t epoch, int64_t seq, const char *what)
{
        struct report_ctx *c = ud;
        json *to = c->cur_problems ? c->cur_problems : c->chain_problems;
        char line[512];

        (void)epoch;
        c->n_problems++;
        if (json_len(to) >= REPORT_PROBLEMS_MAX)
                return;
        if (seq >= 0)
                snprintf(line, sizeof(line), "seq %lld: %s", (long long)seq, what);
        else
                snprintf(line, sizeof(line), "%s", what);
        (void)json_arr_append(to, json_new_str_lossy(line, strlen(line), NULL));
}

static void rotate_cb(void *ud, int64_t epoch, const char *key_id)
{
        struct report_ctx *c = ud;
        json *o = json_new_obj();

        if (!o)
                return;
        if (json_obj_set_int(o, "epoch", epoch) < 0 || json_obj_set_str(o, "key_id", key_id) < 0 ||
            json_arr_append(c->rotations, o) < 0)
                return;
}

static int64_t member_int(const json *m, const char *key, int64_t dflt)
{
        const json *j = m ? json_obj_get(m, key) : NULL;

        return j && json_type_of(j) == JSON_INT ? json_int(j) : dflt;
}

/* An RFC 3339 member as microseconds, INT64_MIN when absent or unreadable. */
static int64_t member_time(const json *m, const char *key)
{
        size_t n = 0;
        const char *s = m ? json_str(json_obj_get(m, key), &n) : NULL;
        int64_t us;

        return s && tm_parse_rfc3339(s, n, 0, &us) == 0 ? us : INT64_MIN;
}

/* Sum of the integer members of stats.dropped, and stats.malformed. */
static void manifest_drops(const json *m, int64_t *dropped, int64_t *malformed)
{
        const json *st = m ? json_obj_get(m, "stats") : NULL;
        const json *d = st ? json_obj_get(st, "dropped") : NULL;

        *dropped = 0;
        *malformed = member_int(st, "malformed", 0);
        if (d && json_type_of(d) == JSON_INT)
                *dropped = json_int(d);
        for (size_t i = 0; d && json_type_of(d) == JSON_OBJ && i < json_len(d); i++) {
                const json *e = json_obj_at(d, i, NULL, NULL);
                if (json_type_of(e) == JSON_INT)
                        *dropped += json_int(e);
        }
}

static int time_member(json *o, const char *key, int64_t us)
{
        char t[TM_RFC3339_LEN];

        if (us == INT64_MIN)
                return json_obj_set(o, key, json_new_null());
        tm_format_rfc3339(us, t);
        return json_obj_set_str(o, key, t);
}

static void key_id_seen(struct report_ctx *c, const char *id)
{
        for (size_t i = 0; i < json_len(c->key_ids); i++)
                if (strcmp(json_str(json_arr_at(c->key_ids, i), NULL), id) == 0)
                        return;
        (void)json_arr_append(c->key_ids, json_new_str(id));
}

static bool sample_in(const struct sample *sm, const struct audit_epoch *e)
{
        return !sm->proof && e->first_seq >= 0 && e->count >= 0 &&
               sm->seq >= (uint64_t)e->first_seq &&
               sm->seq < (uint64_t)(e->first_seq + e->count);
}

static int want_cmp(const void *a, const void *b, void *ud)
{
        const size_t *idx = ud;
        size_t x = idx[*(const size_t *)a], y = idx[*(const size_t *)b];

        return x < y ? -1 : x > y;
}

/* The samples this epoch holds, by record index; a leaf collector when there are any. */
static int samples_plan(struct report_ctx *c, const struct audit_epoch *e)
{
        size_t n = 0, *order = NULL, *idx = NULL;
        struct sample **want = NULL;
        int r = 0;

        c->n_want = c->next_want = c->n_records = 0;
        for (size_t i = 0; i < c->n_crit; i++)
                for (size_t s = 0; s < c->crit[i].n_sample; s++)
                        n += sample_in(&c->crit[i].sample[s], e);
        if (n == 0)
                return 0;
        if (!e->manifest || !e->sig || e->sig_len != SEAL_SIG_LEN) {
                for (size_t i = 0; i < c->n_crit; i++)
                        for (size_t s = 0; s < c->crit[i].n_sample; s++)
                                if (sample_in(&c->crit[i].sample[s], e))
                                        snprintf(c->crit[i].sample[s].why,
                                                 sizeof(c->crit[i].sample[s].why),
                                                 "%s: manifest or signature missing", e->label);
                return 0;
        }
        order = malloc(n * sizeof(*order));
        idx = malloc(n * sizeof(*idx));
        want = malloc(n * sizeof(*want));
        free(c->want);
        free(c->want_idx);
        c->want = malloc(n * sizeof(*c->want));
        c->want_idx = malloc(n * sizeof(*c->want_idx));
        if (!order || !idx || !want || !c->want || !c->want_idx) {
                r = -ENOMEM;
                goto out;
        }
        n = 0;
        for (size_t i = 0; i < c->n_crit; i++)
                for (size_t s = 0; s < c->crit[i].n_sample; s++) {
                        struct sample *sm = &c->crit[i].sample[s];

                        if (!sample_in(sm, e))
                                continue;
                        want[n] = sm;
                        idx[n] = (size_t)(sm->seq - (uint64_t)e->first_seq);
                        order[n] = n;
                        n++;
                }
        qsort_r(order, n, sizeof(*order), want_cmp, idx);
        for (size_t k = 0; k < n; k++) {
                c->want[k] = want[order[k]];
                c->want_idx[k] = idx[order[k]];
        }
        c->n_want = n;
        r = seal_leaves_new(&c->leaves);
out:
        free(order);
        free(idx);
        free(want);
        return r;
}

static int epoch_begin_cb(void *ud, const struct audit_epoch *e)
{
        struct report_ctx *c = ud;

        seal_verifier_key(c->v, c->epoch_pk);  /* the key in force for this epoch */
        c->epoch_before = c->n_problems;
        c->cur_problems = json_new_arr();
        if (!c->cur_problems)
                return -ENOMEM;
        int r = seal_verifier_epoch_begin(c->v, e->label, e->manifest, e->manifest_len, e->sig,
                                          e->sig_len);
        return r < 0 ? r : samples_plan(c, e);
}

/* Each record goes to the verifier and, when the epoch holds samples, to the leaf hashes;
 * the sampled records themselves are copied (at most REPORT_SAMPLE_MAX per criterion). */
static int epoch_record_cb(void *ud, const char *data, size_t len)
{
        struct report_ctx *c = ud;
        int r = seal_verifier_record(c->v, data, len);

        if (r < 0 || !c->leaves)
                return r;
        for (; c->next_want < c->n_want && c->want_idx[c->next_want] == c->n_records;
             c->next_want++) {
                struct sample *sm = c->want[c->next_want];

                free(sm->rec);
                sm->rec = malloc(len ? len : 1);
                if (!sm->rec)
                        return -ENOMEM;
                memcpy(sm->rec, data, len);
                sm->rec_len = len;
        }
        c->n_records++;
        return seal_leaves_add(c->leaves, data, len);
}

/* Builds and checks the proofs of the sampled records this epoch holds. */
static int epoch_samples(struct report_ctx *c, const struct audit_epoch *e)
{
        struct buf b = BUF_INIT;
        int r = 0;

        for (size_t k = 0; c->leaves && k < c->n_want; k++) {
                struct sample *sm = c->want[k];
                struct seal_proof_info info;
                struct seal_error err = { { 0 } };

                buf_reset(&b);
                r = sm->rec ? seal_leaves_proof(c->leaves, e->manifest, e->manifest_len, e->sig,
                                                e->epoch, sm->rec, sm->rec_len, c->want_idx[k],
                                                &b)
                            : -ENOENT;
                free(sm->rec);
                sm->rec = NULL;
                if (r == -ENOMEM)
                        break;
                if (r < 0) {
                        snprintf(sm->why, sizeof(sm->why), "%s: no proof: %s",
                                 e->label, strerror(-r));
                        r = 0;
                        continue;
                }
                r = seal_proof_verify(b.data, b.len, c->epoch_pk, &info, &err);
                sm->proof_ok = r == 0;
                if (r < 0)
                        snprintf(sm->why, sizeof(sm->why), "%s", err.msg);
                if (json_parse(b.data, b.len, &sm->proof, NULL) < 0)
                        sm->proof = json_new_null();
                r = 0;
        }
        c->leaves = seal_leaves_free(c->leaves);
        c->n_want = 0;
        buf_free(&b);
        return r;
}

static int epoch_end_cb(void *ud, const struct audit_epoch *e)
{
        struct report_ctx *c = ud;
        json *m = NULL, *o, *flags;
        uint64_t before = c->epoch_before;
        int64_t start, end, dropped = 0, malformed = 0;
        int r;

        r = seal_verifier_records_end(c->v);
        if (r >= 0)
                r = seal_verifier_epoch_end(c->v, false);
        c->n_epochs++;
        if (r >= 0)
                r = epoch_samples(c, e);
        if (r < 0 || !e->manifest || json_parse(e->manifest, e->manifest_len, &m, NULL) < 0)
                m = NULL;
        start = member_time(m, "start");
        end = member_time(m, "end");
        /* In the period: the receipt interval [start, end) overlaps [since, until); an
         * epoch whose manifest cannot be read is listed whatever its interval. */
        if (r < 0 || (m && (end <= c->since || start >= c->until))) {
                json_free(m);
                json_free(c->cur_problems);
                c->cur_problems = NULL;
                return r;
        }
        manifest_drops(m, &dropped, &malformed);
        o = json_new_obj();
        flags = json_new_arr();
        r = o && flags ? 0 : -ENOMEM;
        if (r >= 0)
                r = json_obj_set_int(o, "epoch", e->epoch);
        if (r >= 0)
                r = time_member(o, "start", start);
        if (r >= 0)
                r = time_member(o, "end", end);
        if (r >= 0)
                r = json_obj_set_int(o, "count", e->count);
        if (r >= 0)
                r = json_obj_set_int(o, "dropped", dropped);
        if (r >= 0)
                r = json_obj_set_int(o, "malformed", malformed);
        {
                const json *kid = m ? json_obj_get(m, "key_id") : NULL;
                const char *ks = kid ? json_str(kid, NULL) : NULL;
                if (r >= 0)
                        r = json_obj_set(o, "key_id", str_or_null(ks));
                if (ks)
                        key_id_seen(c, ks);
        }
        if (r >= 0)
                r = json_obj_set(o, "verified", json_new_bool(c->n_problems == before));
        if (r >= 0 && e->count == 0)
                r = json_arr_append(flags, json_new_str("no events"));
        if (r >= 0 && dropped > 0)
                r = json_arr_append(flags, json_new_str("drops"));
        if (r >= 0 && malformed > 0)
                r = json_arr_append(flags, json_new_str("malformed input"));
        if (r >= 0 && c->n_problems != before)
                r = json_arr_append(flags, json_new_str("verification failed"));
        if (r >= 0) {
                r = json_obj_set(o, "flags", flags);
                flags = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(o, "problems", c->cur_problems);
                c->cur_problems = NULL;
        }
        if (r >= 0) {
                r = json_arr_append(c->epochs, o);
                o = NULL;
        }
        json_free(o);
        json_free(flags);
        json_free(c->cur_problems);
        c->cur_problems = NULL;
        json_free(m);
        return r;
}

/* ---- the report tree ---- */

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

static json *crit_json(struct report_ctx *c, struct crit *k, uint64_t *bad)
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

static int walk_records(struct report_ctx *c, const char *db, const char *exp,
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

static int parse_uint(const char *opt, const char *s, uint64_t max, uint64_t *ret)
{
        char *end = NULL;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (!*s || *end || errno || s[0] == '-' || v > max) {
                fprintf(stderr, "gatelog report: %s '%s': not a number up to %" PRIu64 "\n",
                        opt, s, max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

struct report_opts {
        const char *db, *exp, *chain, *pub, *out, *format;
        uint64_t seed, sample, top;
        bool since_set, until_set;
};

static int report_parse(int argc, char **argv, struct report_ctx *c, struct report_opts *o)
{
        static const struct option opts[] = {
                { "criterion", required_argument, NULL, 'c' },
                { "since", required_argument, NULL, 's' },
                { "until", required_argument, NULL, 'u' },
                { "db", required_argument, NULL, 'd' },
                { "export", required_argument, NULL, 'e' },
                { "chain", required_argument, NULL, 'C' },
                { "pubkey", required_argument, NULL, 'k' },
                { "out", required_argument, NULL, 'o' },
                { "format", required_argument, NULL, 'f' },
                { "seed", required_argument, NULL, 1000 },
                { "sample", required_argument, NULL, 1001 },
                { "top", required_argument, NULL, 1002 },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        int ch, r = 0;

        optind = 0;
        while (r >= 0 && (ch = getopt_long(argc, argv, "c:s:u:d:e:C:k:o:f:h", opts, NULL)) != -1) {
                switch (ch) {
                case 'c':
                        if (c->n_crit == REPORT_CRITERIA_MAX) {
                                fprintf(stderr, "gatelog report: more than %d criteria\n",
                                        REPORT_CRITERIA_MAX);
                                r = -E2BIG;
                        } else {
                                c->crit[c->n_crit++].id = optarg;
                        }
                        break;
                case 's':
                case 'u':
                        r = tm_parse_rfc3339(optarg, strlen(optarg), 1,
                                             ch == 's' ? &c->since : &c->until);
                        if (r < 0)
                                fprintf(stderr, "gatelog report: --%s '%s' is neither RFC 3339 "
                                        "nor YYYY-MM-DD\n", ch == 's' ? "since" : "until", optarg);
                        *(ch == 's' ? &o->since_set : &o->until_set) = true;
                        break;
                case 'd': o->db = optarg; break;
                case 'e': o->exp = optarg; break;
                case 'C': o->chain = optarg; break;
                case 'k': o->pub = optarg; break;
                case 'o': o->out = optarg; break;
                case 'f': o->format = optarg; break;
                case 1000: r = parse_uint("--seed", optarg, UINT64_MAX, &o->seed); break;
                case 1001: r = parse_uint("--sample", optarg, REPORT_SAMPLE_MAX, &o->sample); break;
                case 1002: r = parse_uint("--top", optarg, REPORT_TOP_MAX, &o->top); break;
                case 'h': report_usage(stdout); return 1;
                default: r = -EINVAL; break;
                }
        }
        if (r >= 0 && optind < argc) {
                fprintf(stderr, "gatelog report: unexpected argument '%s'\n", argv[optind]);
                r = -EINVAL;
        }
        if (r >= 0 && (c->n_crit == 0 || !o->since_set || !o->until_set || !o->pub ||
                       !o->db == !o->exp)) {
                fprintf(stderr, "gatelog report: needs --criterion, --since, --until, --pubkey "
                        "and one of --db and --export\n");
                r = -EINVAL;
        }
        if (r >= 0 && c->since >= c->until) {
                fprintf(stderr, "gatelog report: --since must be before --until\n");
                r = -EINVAL;
        }
        if (r >= 0 && strcmp(o->format, "html") != 0 && strcmp(o->format, "json") != 0) {
                fprintf(stderr, "gatelog report: unknown format '%s'\n", o->format);
                r = -EINVAL;
        }
        return r;
}

static int report_header(json *rep, struct report_ctx *c, const struct report_opts *o,
                         const uint8_t pk[SEAL_PK_LEN])
{
        char kid[HASH_HEX_LEN];
        json *period = json_new_obj(), *src = json_new_obj(), *keys = json_new_obj();
        int r = period && src && keys ? 0 : -ENOMEM;

        seal_key_id(pk, kid);
        if (r >= 0)
                r = json_obj_set_str(rep, "report", "gatelog evidence report");
        if (r >= 0)
                r = time_member(rep, "generated", (int64_t)time(NULL) * 1000000);
        if (r >= 0)
                r = time_member(period, "since", c->since);
        if (r >= 0)
                r = time_member(period, "until", c->until);
        if (r >= 0)
                r = json_obj_set_str(period, "time", "event time, [since, until)");
        if (r >= 0)
                r = json_obj_set_str(src, o->db ? "db" : "export", o->db ? o->db : o->exp);
        if (r >= 0 && o->chain)
                r = json_obj_set_str(src, "chain", o->chain);
        if (r >= 0)
                r = json_obj_set_str(keys, "pinned_key_id", kid);
        if (r >= 0) {
                r = json_obj_set(keys, "rotations", c->rotations);
                c->rotations = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(keys, "signing_key_ids", c->key_ids);
                c->key_ids = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "period", period);
                period = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "source", src);
                src = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "keys", keys);
                keys = NULL;
        }
        if (r >= 0)
                r = json_obj_set_int(rep, "seed", (int64_t)o->seed);
        json_free(period);
        json_free(src);
        json_free(keys);
        return r;
}

static int report_write(const char *out, const struct buf *b)
{
        FILE *f = out ? fopen(out, "w") : stdout;
        bool ok;

        if (!f) {
                fprintf(stderr, "gatelog report: %s: %s\n", out, strerror(errno));
                return -errno;
        }
        ok = fwrite(b->data, 1, b->len, f) == b->len;
        ok &= out ? fclose(f) == 0 : fflush(f) == 0;
        if (!ok)
                fprintf(stderr, "gatelog report: %s: write failed\n", out ? out : "stdout");
        return ok ? 0 : -EIO;
}

static void report_ctx_free(struct report_ctx *c)
{
        for (size_t i = 0; i < c->n_crit; i++) {
                struct crit *k = &c->crit[i];
                query_groups_free(&k->day);
                query_groups_free(&k->day_outcome);
                query_groups_free(&k->outcome);
                query_groups_free(&k->actor);
                query_groups_free(&k->target);
                json_free(k->failures);
                for (size_t s = 0; s < k->n_sample; s++)
                        json_free(k->sample[s].proof);
        }
        buf_free(&c->key);
        seal_verifier_free(c->v);
        json_free(c->epochs);
        json_free(c->chain_problems);
        json_free(c->rotations);
        json_free(c->key_ids);
        json_free(c->cur_problems);
        seal_leaves_free(c->leaves);
        free(c->want);
        free(c->want_idx);
        for (size_t i = 0; i < c->n_crit; i++)
                for (size_t k = 0; k < c->crit[i].n_sample; k++)
                        free(c->crit[i].sample[k].rec);
}

/* Builds the whole tree; *ret_bad counts epoch problems and failed proofs. */
static int report_build(struct report_ctx *c, const struct report_opts *o,
                        const uint8_t pk[SEAL_PK_LEN], json **ret, uint64_t *ret_bad)
{
        static const struct audit_ops ops = { epoch_begin_cb, epoch_record_cb, epoch_end_cb };
        struct audit_source src = { .db = o->db, .export_dir = o->exp, .chain = o->chain };
        uint64_t skipped = 0, bad = 0;
        char err[512];
        json *rep = NULL, *crits = NULL, *ver = NULL;
        int r;

        for (size_t i = 0; i < c->n_crit; i++) {
                c->crit[i].rng = o->seed ^ (0x632be59bd9b4e019ull * (i + 1));
                c->crit[i].failures = json_new_arr();
                if (!c->crit[i].failures)
                        return -ENOMEM;
        }
        r = walk_records(c, o->db, o->exp, o->chain, pk, &skipped);
        if (r < 0)
                return r;
        c->epochs = json_new_arr();
        c->chain_problems = json_new_arr();
        c->rotations = json_new_arr();
        c->key_ids = json_new_arr();
        if (!c->epochs || !c->chain_problems || !c->rotations || !c->key_ids)
                return -ENOMEM;
        r = seal_verifier_new(pk, problem_cb, c, &c->v);
        if (r < 0)
                return r;
        seal_verifier_on_rotate(c->v, rotate_cb, c);
        r = audit_source_stream(&src, &ops, c, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "gatelog report: %s\n", err[0] ? err : strerror(-r));
                return r;
        }
        if ((r = seal_verifier_finish(c->v)) < 0)
                return r;
        rep = json_new_obj();
        crits = json_new_arr();
        ver = json_new_obj();
        r = rep && crits && ver ? report_header(rep, c, o, pk) : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < c->n_crit; i++)
                r = json_arr_append(crits, crit_json(c, &c->crit[i], &bad));
        if (r >= 0)
                r = json_obj_set(ver, "ok", json_new_bool(c->n_problems == 0 && skipped == 0));
        if (r >= 0)
                r = json_obj_set_int(ver, "epochs_checked", (int64_t)c->n_epochs);
        if (r >= 0)
                r = json_obj_set_int(ver, "problems", (int64_t)c->n_problems);
        if (r >= 0)
                r = json_obj_set_int(ver, "export_epochs_skipped", (int64_t)skipped);
        if (r >= 0) {
                r = json_obj_set(ver, "chain_problems", c->chain_problems);
                c->chain_problems = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "verification", ver);
                ver = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "epochs", c->epochs);
                c->epochs = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "criteria", crits);
                crits = NULL;
        }
        json_free(crits);
        json_free(ver);
        if (r < 0) {
                json_free(rep);
                return r;
        }
        *ret = rep;
        *ret_bad = bad + c->n_problems + skipped;
        return 0;
}

int cmd_report(int argc, char **argv)
{
        struct report_ctx c = { .since = INT64_MIN, .until = INT64_MAX, .key = BUF_INIT };
        struct report_opts o = { .format = "html", .seed = 1, .sample = 5, .top = 10 };
        struct seal_error kerr = { { 0 } };
        struct buf out = BUF_INIT;
        uint8_t pk[SEAL_PK_LEN];
        uint64_t bad = 0;
        json *rep = NULL;
        int r = report_parse(argc, argv, &c, &o);

        if (r > 0)
                return 0;  /* --help */
        if (r < 0) {
                report_usage(stderr);
                return 2;
        }
        if (seal_pubkey_load(o.pub, pk, &kerr) < 0) {
                fprintf(stderr, "gatelog report: %s: %s\n", o.pub, kerr.msg);
                return 2;
        }
        c.sample_n = (size_t)o.sample;
        c.top_n = (size_t)o.top;
        r = report_build(&c, &o, pk, &rep, &bad);
        if (r >= 0 && strcmp(o.format, "json") == 0) {
                r = json_canon(rep, &out);
                if (r >= 0)
                        r = buf_putc(&out, '\n');
        } else if (r >= 0) {
                r = report_html(rep, &out);
        }
        if (r == -ENOMEM)
                fprintf(stderr, "gatelog report: out of memory\n");
        if (r >= 0)
                r = report_write(o.out, &out);
        buf_free(&out);
        json_free(rep);
        report_ctx_free(&c);
        if (r < 0)
                return 3;
        return bad > 0 ? 1 : 0;
}
