/* The verifier's checks of an epoch's records: each one's seq and canonical form, its leaf
 * hash and criteria tags, then the count, root and criteria roots at the end. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/tm.h"
#include "seal/verify-int.h"

/* ---- Records ---- */

/* issue 12: the per-record arrays reach tens of MiB per epoch (a million records: 30 MiB of
 * leaves, 15 of spans, and 8 of seqs when the epoch's seqs do not run on: verify9); faulted
 * in 4 KiB at a time they cost ~15,000 page faults, each dear on a VM. Transparent huge
 * pages (when the system offers them on request) take 2 MiB a fault. Advice only: nothing
 * changes when it is refused. issue 12 (verify11): the leaves and indexes are kept only for
 * seal_verifier_tsc and the spans sit in a ring, so `verify --export` and `--db` make none of
 * these arrays but seqs. */
#define VF_HUGE_MIN (4u << 20)
#define VF_HUGE_PAGE ((uintptr_t)2 << 20)

void vf_advise_huge(void *p, size_t len)
{
        uintptr_t a = ((uintptr_t)p + VF_HUGE_PAGE - 1) & ~(VF_HUGE_PAGE - 1);
        uintptr_t z = ((uintptr_t)p + len) & ~(VF_HUGE_PAGE - 1);

        if (len >= VF_HUGE_MIN && z > a)
                (void)madvise((void *)a, z - a, MADV_HUGEPAGE);
}

int vf_leaves_reserve(struct seal_verifier *v, size_t n)
{
        uint8_t (*nl)[HASH_LEN];

        /* issue 12 (verify11): only kept for seal_verifier_tsc; the roots need none. */
        if (!v->keep_leaves || n <= v->alloc_leaves)
                return 0;
        vf_hash_quiesce(v);  /* issue 12: the worker must not hash into a moved array */
        nl = realloc(v->leaves, n * sizeof(*nl));
        if (!nl)
                return -ENOMEM;
        v->leaves = nl;
        vf_advise_huge(nl, n * sizeof(*nl));
        v->alloc_leaves = n;
        return 0;
}

int vf_seq_set(struct seal_verifier *v, size_t i, int64_t seq)
{
        if (!v->seqs_on) {
                if (i == 0 && seq >= 0) {
                        v->seq0 = seq;
                        return 0;
                }
                /* Both non-negative: the difference is exact in uint64_t. */
                if (i > 0 && seq >= 0 && (uint64_t)seq - (uint64_t)v->seq0 == i)
                        return 0;
        }
        if (i >= v->alloc_seqs) {
                size_t na = v->alloc_leaves > 2 * i ? v->alloc_leaves : 2 * i + 16;
                int64_t *ns = realloc(v->seqs, na * sizeof(*ns));

                if (!ns)
                        return -ENOMEM;
                v->seqs = ns;
                v->alloc_seqs = na;
                vf_advise_huge(ns, na * sizeof(*ns));
        }
        if (!v->seqs_on) {  /* records 0 .. i-1 were seq0, seq0 + 1, ... */
                for (size_t k = 0; k < i; k++)
                        v->seqs[k] = v->seq0 + (int64_t)k;
                v->seqs_on = true;
        }
        v->seqs[i] = seq;
        return 0;
}

int64_t vf_seq_of(const struct seal_verifier *v, size_t i)
{
        return v->seqs_on ? v->seqs[i] : v->seq0 + (int64_t)i;
}

/* issue 12: past this many records the hint is not trusted (arrays of ~60 bytes a record). */
#define VF_EXPECT_MAX ((uint64_t)1 << 26)

void seal_verifier_records_expect(struct seal_verifier *v, uint64_t n)
{
        if (!v->in_records || v->n_leaves > 0)
                return;
        if (v->f.has_count && v->f.count < n)
                n = v->f.count;
        if (n > VF_EXPECT_MAX)
                n = VF_EXPECT_MAX;
        (void)vf_leaves_reserve(v, (size_t)n);  /* advice: on failure they grow as before */
        /* The criteria the manifest lists, each to its count (vf_crit_tag grows past it). */
        for (size_t k = 0; k < v->n_crits; k++) {
                struct crit *c = &v->crits[k];
                size_t want = (size_t)(c->m_count < n ? c->m_count : n);
                size_t *ni;

                if (!v->keep_leaves || !c->in_manifest || want <= c->alloc_idx)
                        continue;
                ni = realloc(c->idx, want * sizeof(*ni));
                if (!ni)
                        continue;
                c->idx = ni;
                c->alloc_idx = want;
                vf_advise_huge(ni, want * sizeof(*ni));
        }
}

/* Tags record i with the ids of its "criteria" array. */
static int record_criteria(struct seal_verifier *v, const json *rec, size_t i, int64_t seq,
                           const struct seal_blob *b)
{
        /* issue 12: a record with a raw newline is no line of a tsc file (data NULL). */
        const char *data = memchr(b->data, '\n', b->len) ? NULL : b->data;
        size_t len = b->len;
        const json *arr = json_obj_get(rec, "criteria");
        size_t n = json_len(arr);

        if (!arr)
                return 0;
        if (json_type_of(arr) != JSON_ARR) {
                vf_problem(v, seq, "record member \"criteria\" is not an array");
                return 0;
        }
        for (size_t k = 0; k < n; k++) {
                const char *id = json_str(json_arr_at(arr, k), NULL);
                struct crit *c;

                if (!id) {
                        vf_problem(v, seq, "criteria[%zu] is not a string", k);
                        continue;
                }
                c = vf_crit_get(v, id, true);
                if (!c || vf_crit_tag(v, c, i, data, len) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* Checks the seq of record i against the one expected; returns the seq to report under. */
static int64_t record_seq_num(struct seal_verifier *v, int64_t s, size_t i, bool *known,
                              uint64_t *expected);

static int64_t record_seq(struct seal_verifier *v, const json *rec, size_t i, bool *known,
                          uint64_t *expected)
{
        const json *j = json_obj_get(rec, "seq");
        int64_t want = *known ? (int64_t)*expected : -1;

        if (!j || json_type_of(j) != JSON_INT || json_int(j) < 0) {
                vf_problem(v, want, "record has no non-negative integer \"seq\"");
                if (*known)
                        (*expected)++;
                return want;
        }
        return record_seq_num(v, json_int(j), i, known, expected);
}

/* issue 12: the seq checks on a number, shared by the scanner's fast path. */
static int64_t record_seq_num(struct seal_verifier *v, int64_t s, size_t i, bool *known,
                              uint64_t *expected)
{
        int64_t want = *known ? (int64_t)*expected : -1;

        if (*known && s != want && i == 0)
                vf_problem(v, s, "first record has seq %" PRId64 ", expected %" PRId64, s, want);
        else if (*known && s == want + 1)
                vf_problem(v, s, "seq jumps from %" PRId64 " to %" PRId64 ": record %" PRId64
                        " missing", want - 1, s, want);
        else if (*known && s > want)
                vf_problem(v, s, "seq jumps from %" PRId64 " to %" PRId64 ": records %" PRId64
                        " to %" PRId64 " missing", want - 1, s, want, s - 1);
        else if (*known && s < want)
                vf_problem(v, s, "out of order or repeated: comes after seq %" PRId64, want - 1);
        /* Resynchronise forwards only, so that a swap or a duplicate is reported once. */
        if (!*known || s >= want) {
                *expected = (uint64_t)s + 1;
                *known = true;
        }
        return s;
}

static int check_record(struct seal_verifier *v, const struct seal_blob *b, size_t i,
                        bool *known, uint64_t *expected)
{
        struct json_error jerr = { 0 };
        json *rec = NULL;
        int64_t seq;
        int r;

        r = json_parse(b->data, b->len, &rec, &jerr);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                seq = *known ? (int64_t)(*expected)++ : -1;
                vf_problem(v, seq, "record is not valid JSON (%s at byte %zu)", jerr.msg,
                        jerr.offset);
                return vf_seq_set(v, i, seq);
        }
        if (json_type_of(rec) != JSON_OBJ) {
                seq = *known ? (int64_t)(*expected)++ : -1;
                vf_problem(v, seq, "record is not a JSON object");
        } else {
                seq = record_seq(v, rec, i, known, expected);
                r = record_criteria(v, rec, i, seq, b);
        }
        if (r == 0)
                r = vf_seq_set(v, i, seq);
        if (r == 0) {
                r = vf_is_canonical(rec, b->data, b->len);
                if (r == 0)
                        vf_problem(v, seq, "record is not canonical JSON");
        }
        json_free(rec);
        return r < 0 ? r : 0;
}

static void check_criteria_roots(struct seal_verifier *v)
{
        char a[HASH_HEX_LEN], b[HASH_HEX_LEN];

        for (size_t k = 0; k < v->n_crits; k++) {
                struct crit *c = &v->crits[k];
                uint8_t root[HASH_LEN];

                if (!c->in_manifest) {
                        vf_problem(v, -1, "%zu record%s tagged with criterion \"%s\" but the "
                                "manifest does not list it", c->n_idx,
                                c->n_idx == 1 ? " is" : "s are", c->id);
                        continue;
                }
                merkle_chunked_root(c->tree, root);  /* issue 12 (verify11): built as hashed */
                if (c->m_count != c->n_idx)
                        vf_problem(v, -1, "criterion \"%s\": manifest count is %" PRIu64
                                " but %zu record%s tagged with it", c->id, c->m_count,
                                c->n_idx, c->n_idx == 1 ? " is" : "s are");
                if (memcmp(root, c->m_root, HASH_LEN) != 0)
                        vf_problem(v, -1, "criterion \"%s\" root mismatch: manifest says %s, "
                                "records give %s", c->id, (vf_hex_of(c->m_root, a), a),
                                (vf_hex_of(root, b), b));
        }
}

/* issue 12: one record of the epoch being fed. The scanner decides most records without a
 * tree; the others take the full parser (check_record), which also words any problem. sc is
 * the scan of these bytes when the caller ran it (decided: its answer), NULL to scan here. */
int vf_feed_record(struct seal_verifier *v, const char *data, size_t len, int decided,
                   const struct seal_scan *sc)
{
        struct seal_scan own;
        size_t i = v->n_leaves;
        int64_t seq;

        if (i == v->alloc_leaves && v->keep_leaves) {
                int r = vf_leaves_reserve(v, i ? 2 * i : 1024);
                if (r < 0)
                        return r;
        }
        v->n_leaves++;
        if (!sc) {
                decided = seal_scan_record(data, len, &own);
                sc = &own;
        }
        if (!decided) {
                struct seal_blob b = { data, len };
                int r = check_record(v, &b, i, &v->known, &v->expected);

                /* issue 12 (verify11): the leaf after the tags, which it is added under. */
                return r < 0 ? r : vf_hash_leaf(v, i, data, len);
        }
        seq = record_seq_num(v, sc->seq, i, &v->known, &v->expected);
        if (vf_seq_set(v, i, seq) < 0)
                return -ENOMEM;
        for (size_t k = 0; k < sc->n_criteria; k++) {
                struct crit *c = vf_crit_get_n(v, sc->criteria[k].p, sc->criteria[k].len, true);
                if (!c || vf_crit_tag(v, c, i, data, len) < 0)
                        return -ENOMEM;
        }
        return vf_hash_leaf(v, i, data, len);
}

/* The epoch's count, root and criteria roots, once every record was fed. */
int vf_records_check(struct seal_verifier *v, const struct mf *f)
{
        char a[HASH_HEX_LEN], b[HASH_HEX_LEN];
        uint8_t root[HASH_LEN];
        size_t n = v->n_leaves;
        int r = vf_hash_finish(v);  /* issue 12: every leaf, whichever thread hashed it */

        if (r < 0)
                return r;
        if (f->has_count && f->count != n)
                vf_problem(v, -1, "manifest count is %" PRIu64 " but %zu records were given",
                        f->count, n);
        merkle_chunked_root(v->tree, root);  /* issue 12 (verify11): built as hashed */
        if (f->has_root && memcmp(root, f->root, HASH_LEN) != 0)
                vf_problem(v, -1, "root mismatch: manifest says %s, records give %s",
                        (vf_hex_of(f->root, a), a), (vf_hex_of(root, b), b));
        if (f->has_criteria)
                check_criteria_roots(v);
        /* The next epoch continues from what the manifest claims when it can be read. */
        if (f->has_first_seq && f->has_count) {
                v->next_seq = f->first_seq + f->count;
                v->have_seq = true;
        } else if (v->known) {
                v->next_seq = v->expected;
                v->have_seq = true;
        }
        return 0;
}
