/* `gatelog report`: the epoch walk. Every sealed epoch of the chain is fed to the verifier
 * (as `gatelog verify` does); the epochs whose receipt interval overlaps the period are listed
 * with their result, their drops and whether they hold no records. The records sampled by
 * the record walk get their inclusion proof from seal/proof.c while their epoch streams, and
 * the proof is checked here too.
 *
 * Memory: for the epoch being streamed, the verifier's leaf hashes (and, when the epoch holds
 * samples, the prover's: seal_leaves) and the sampled records' bytes; nothing else of an
 * epoch is held (issue 12). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd-report-int.h"
#include "core/tm.h"

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

int report_time_member(json *o, const char *key, int64_t us)
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
                r = report_time_member(o, "start", start);
        if (r >= 0)
                r = report_time_member(o, "end", end);
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

int report_walk_epochs(struct report_ctx *c, const struct audit_source *src,
                       const uint8_t pk[SEAL_PK_LEN])
{
        static const struct audit_ops ops = { epoch_begin_cb, epoch_record_cb, epoch_end_cb };
        char err[512];
        int r = seal_verifier_new(pk, problem_cb, c, &c->v);

        if (r < 0)
                return r;
        seal_verifier_on_rotate(c->v, rotate_cb, c);
        r = audit_source_stream(src, &ops, c, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "gatelog report: %s\n", err[0] ? err : strerror(-r));
                return r;
        }
        return seal_verifier_finish(c->v);
}
