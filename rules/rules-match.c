/* Applying a rule pack to gate records: the per-record hot path.
 *
 * Expected load: every record the daemon stores passes here once (tens of thousands per
 * second). A record tries only the rules its `app` and `source.kind` can satisfy (the
 * index built at load: rules-index.c), in pack order; conditions short-circuit; regexes
 * run JIT-compiled with a match limit, so a pathological pattern costs bounded time (a
 * regex that hits the limit counts as not matching). All scratch state (PCRE2 match data, capture text, the
 * text of a template) belongs to the calling thread and is reused from one call to the next
 * (performance, issue 12: no allocation per record), so a pack is shared between threads
 * without locks. Values set are built in the record's arena.
 *
 * Guarantees: the first rule that matches and does not say `continue` ends the search;
 * `set` writes only actor.*, target.*, action, outcome and severity; redactions run after
 * the last rule, so conditions always see the original record. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules-internal.h"

void rules_cond_free(struct cond *c)
{
        free(c->path);
        for (size_t i = 0; i < c->n_strs; i++)
                free(c->strs[i]);
        free(c->strs);
        free(c->lens);
        pcre2_code_free(c->re);
        free(c->group_slot);
        for (size_t i = 0; i < c->n_kids; i++)
                rules_cond_free(&c->kids[i]);
        free(c->kids);
}

/* ---- Values ---- */

const char *rules_value_text(const json *v, char *tmp, size_t tmp_len, size_t *ret_len)
{
        int n;

        switch (v ? json_type_of(v) : JSON_NULL) {
        case JSON_STR:
                return json_str(v, ret_len);
        case JSON_INT:
                n = snprintf(tmp, tmp_len, "%lld", (long long)json_int(v));
                break;
        case JSON_NUM:
                n = snprintf(tmp, tmp_len, "%.17g", json_num(v));
                break;
        case JSON_BOOL:
                n = snprintf(tmp, tmp_len, "%s", json_bool(v) ? "true" : "false");
                break;
        default:
                return NULL;
        }
        *ret_len = n > 0 ? (size_t)n : 0;
        return tmp;
}

static bool value_number(const json *v, double *ret)
{
        const char *s;
        char *end;

        if (!v)
                return false;
        if (json_type_of(v) == JSON_INT || json_type_of(v) == JSON_NUM) {
                *ret = json_num(v);
                return true;
        }
        s = json_str(v, NULL);
        if (!s || !*s)
                return false;
        *ret = strtod(s, &end);
        return !*end && isfinite(*ret);
}

/* ---- Per-thread scratch ----
 * The match data, capture and template buffers of one thread, kept between calls: the
 * pthread key (made once) is the only process-wide state here; each thread's scratch is
 * freed when the thread exits. */

struct scratch {
        pcre2_match_data *md;
        uint32_t md_groups;           /* pairs md holds */
        struct buf caps, out;
        bool busy;                    /* in use by an outer call (a trace callback's) */
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_err;

static void scratch_free(void *p)
{
        struct scratch *sc = p;

        if (!sc)
                return;
        pcre2_match_data_free(sc->md);
        buf_free(&sc->caps);
        buf_free(&sc->out);
        free(sc);
}

static void scratch_key_make(void)
{
        scratch_key_err = pthread_key_create(&scratch_key, scratch_free);
}

/* This thread's scratch with match data for groups pairs, or a fresh one (*ret_own true:
 * the caller frees it) when the thread's is busy or cannot be kept. NULL when out of
 * memory. */
static struct scratch *scratch_get(uint32_t groups, bool *ret_own)
{
        struct scratch *sc = NULL;

        *ret_own = false;
        if (pthread_once(&scratch_once, scratch_key_make) == 0 && scratch_key_err == 0)
                sc = pthread_getspecific(scratch_key);
        if (!sc || sc->busy) {
                bool keep = !sc && scratch_key_err == 0;

                sc = calloc(1, sizeof(*sc));
                if (!sc)
                        return NULL;
                if (!keep || pthread_setspecific(scratch_key, sc) != 0)
                        *ret_own = true;
        }
        if (groups > sc->md_groups) {
                pcre2_match_data_free(sc->md);
                sc->md = pcre2_match_data_create(groups, NULL);
                sc->md_groups = sc->md ? groups : 0;
                if (!sc->md) {
                        if (*ret_own)
                                scratch_free(sc);
                        return NULL;
                }
        }
        sc->busy = true;
        return sc;
}

static void scratch_put(struct scratch *sc, bool own)
{
        if (own) {
                scratch_free(sc);
                return;
        }
        sc->busy = false;
        /* Keep the buffers, but not what one huge record made them grow to. */
        if (sc->caps.alloc > 64 * 1024)
                buf_free(&sc->caps);
        if (sc->out.alloc > 64 * 1024)
                buf_free(&sc->out);
}

/* ---- Matching ---- */

static bool str_op(const struct cond *c, const char *s, size_t n)
{
        for (size_t i = 0; i < c->n_strs; i++) {
                size_t l = c->lens[i];

                switch (c->op) {
                case OP_EQ:
                        if (n == l && !memcmp(s, c->strs[i], n))
                                return true;
                        break;
                case OP_PREFIX:
                        if (n >= l && !memcmp(s, c->strs[i], l))
                                return true;
                        break;
                case OP_SUFFIX:
                        if (n >= l && !memcmp(s + n - l, c->strs[i], l))
                                return true;
                        break;
                case OP_CONTAINS:
                        if (memmem(s, n, c->strs[i], l))
                                return true;
                        break;
                default:
                        return false;
                }
        }
        return false;
}

static bool regex_op(struct mctx *m, const struct cond *c, const char *s, size_t n)
{
        /* Performance (prestore8): a subject without the pattern's literal prefix cannot
         * match ("Failed password ..." against "^Accepted "), and this compare costs a
         * tenth of the regex call that would say so. */
        if (c->re_prefix_len &&
            (n < c->re_prefix_len || memcmp(s, c->re_prefix, c->re_prefix_len) != 0))
                return false;
        /* Performance (prestore8): a JIT-compiled pattern is run by pcre2_jit_match itself,
         * without pcre2_match's checks of what we know (the subject is valid UTF-8, the
         * options none), ~130 instructions a call. Same results, match limit included. */
        int rc = c->re_jit ? pcre2_jit_match(c->re, (PCRE2_SPTR)s, n, 0, 0, m->md, m->mctx)
                           : pcre2_match(c->re, (PCRE2_SPTR)s, n, 0, PCRE2_NO_UTF_CHECK, m->md,
                                         m->mctx);
        PCRE2_SIZE *ov;

        if (rc < 0)
                return false;   /* no match, or the match limit: both mean "does not match" */
        ov = pcre2_get_ovector_pointer(m->md);
        for (uint32_t g = 1; g < c->n_groups && g < (uint32_t)rc; g++) {
                int slot = c->group_slot[g];
                size_t at, len;

                if (slot < 0 || ov[2 * g] == PCRE2_UNSET)
                        continue;
                at = m->caps->len;
                /* The capture and its NUL in one reservation (issue 12). */
                len = ov[2 * g + 1] - ov[2 * g];
                if (buf_reserve(m->caps, len + 1) < 0) {
                        m->err = -ENOMEM;
                        return false;
                }
                if (len > 0)
                        memcpy(m->caps->data + at, s + ov[2 * g], len);
                m->caps->data[at + len] = '\0';
                m->caps->len = at + len + 1;
                m->caps->data[m->caps->len] = '\0';
                m->cap_off[slot] = at;
                m->cap_len[slot] = ov[2 * g + 1] - ov[2 * g];
                m->cap_set[slot] = true;
                /* The subject is a tree string or number text: valid UTF-8 without NUL. */
                m->cap_valid[slot] = json_utf8_boundary(s, n, ov[2 * g]) &&
                                     json_utf8_boundary(s, n, ov[2 * g + 1]);
        }
        return true;
}

/* The record's value at path id `id`, looked up once per record (until a rule sets). */
static inline const json *path_value(struct mctx *m, int id)
{
        uint64_t bit = (uint64_t)1 << id;

        if (!(m->path_known & bit)) {
                m->path_val[id] = (m->p->path_split_ok & bit)
                                          ? json_path_get_split(m->rec, &m->p->path_split[id])
                                          : json_path_get(m->rec, m->p->paths[id]);
                m->path_known |= bit;
        }
        return m->path_val[id];
}

/* First-byte classes of a value's text (struct rule_qr): a byte 0..255, or these. */
enum { QR_EMPTY = 256, QR_ANY = 257, QR_NONE = 258 };

static unsigned qr_class(const json *v)
{
        const char *s;
        size_t n;

        switch (v ? json_type_of(v) : JSON_NULL) {
        case JSON_STR:
                s = json_str(v, &n);
                return n ? (unsigned char)s[0] : QR_EMPTY;
        case JSON_INT:
        case JSON_NUM:
        case JSON_BOOL:
                return QR_ANY; /* number text: not judged here */
        default:
                return QR_NONE; /* no text: every text compare fails */
        }
}

/* Does the rule's quick reject (rules-index.c, rule_qr_build) say it cannot match this
 * record? Performance (rules10): three in four rules tried on loadgen's mix failed on a
 * literal's first byte (the five pam rules on every message, sshd's regexes by their
 * prefix, the gate rules on a record without `event`), each after ~150 instructions of
 * calls; this is a lookup and a bit test. */
static inline bool qr_rejects(struct mctx *m, const struct rule_qr *q)
{
        uint64_t bit = (uint64_t)1 << q->path;
        unsigned c;

        if (!(m->first_known & bit)) {
                m->path_first[q->path] = (uint16_t)qr_class(path_value(m, q->path));
                m->first_known |= bit;
        }
        c = m->path_first[q->path];
        if (c < 256)
                return !((q->first[c >> 6] >> (c & 63)) & 1);
        return c == QR_NONE || (c == QR_EMPTY && !q->empty);
}

static bool cond_eval(struct mctx *m, const struct cond *c)
{
        const json *v;
        const char *s;
        char tmp[40];
        size_t n;
        double d;

        switch (c->op) {
        case OP_ALL:
                for (size_t i = 0; i < c->n_kids; i++)
                        if (!cond_eval(m, &c->kids[i]))
                                return false;
                return true;
        case OP_ANY:
                for (size_t i = 0; i < c->n_kids; i++)
                        if (cond_eval(m, &c->kids[i]))
                                return true;
                return false;
        case OP_NOT:
                return !cond_eval(m, &c->kids[0]);
        default:
                break;
        }
        if (c->path_id >= 0) {
                v = path_value(m, c->path_id);
        } else {
                v = json_path_get(m->rec, c->path);
        }
        switch (c->op) {
        case OP_EXISTS:
                return (v && json_type_of(v) != JSON_NULL) == c->exists;
        case OP_LT:
                return value_number(v, &d) && d < c->num;
        case OP_LE:
                return value_number(v, &d) && d <= c->num;
        case OP_GT:
                return value_number(v, &d) && d > c->num;
        case OP_GE:
                return value_number(v, &d) && d >= c->num;
        default:
                break;
        }
        s = rules_value_text(v, tmp, sizeof(tmp), &n);
        if (!s)
                return false;
        if (c->op == OP_REGEX)
                return regex_op(m, c, s, n);
        return str_op(c, s, n);
}

/* A rule's match. The index handed the rule over from dimension dim's list for the
 * record's value, so the equality it was indexed by holds and is skipped (performance,
 * issue 12); a rule from the wildcard list evaluates everything. */
static bool match_eval(struct mctx *m, const struct rule *rl, int dim)
{
        const struct cond *top = &rl->match;

        if (rl->idx_dim < 0 || rl->idx_dim != dim)
                return cond_eval(m, top);
        for (size_t i = 0; i < top->n_kids; i++)
                if (i != rl->idx_kid && !cond_eval(m, &top->kids[i]))
                        return false;
        return true;
}

/* ---- The loop ---- */

static int set_criteria(json *rec, const struct json_path *criteria_path, uint64_t bits)
{
        struct json_key ids[64];
        size_t count = rules_criteria_count(), n = 0;
        json *arr;

        /* The set bits in TSC order, lowest first (issue 12: no walk over every criterion). */
        while (bits) {
                size_t i = (size_t)__builtin_ctzll(bits);
                const char *id;

                if (i >= count)
                        break;
                id = rules_criterion_at(i);
                ids[n++] = (struct json_key){ id, (uint32_t)strlen(id) };
                bits &= bits - 1;
        }
        /* TSC ids: our ASCII literals (issue 12: not checked); the array and its strings in
         * one allocation of the record's arena (mapper11). */
        arr = json_new_arr_strs_in(rec, ids, n);
        if (!arr)
                return -ENOMEM;
        return json_path_set_split(rec, criteria_path, arr);
}

/* Candidate rules in pack order: the merge of the index lists for the record's values and
 * the rules no index covers. When at most one dimension has an entry for the record (every
 * record, with a pack indexed on `app` alone), that entry's list merged with the wildcards
 * at load is walked as it is (rules10). */
struct cand {
        const struct rule_ref *refs;  /* the premerged list, or NULL: merge below */
        size_t n_refs, at_ref;
        const size_t *list[RULES_INDEX_DIMS + 1];
        size_t n[RULES_INDEX_DIMS + 1], at[RULES_INDEX_DIMS + 1];
};

static void cand_init(const struct rules_pack *p, const json *rec, struct cand *c)
{
        const struct index_entry *hit = NULL;
        int n_hits = 0;

        memset(c, 0, sizeof(*c));
        for (int d = 0; d < RULES_INDEX_DIMS; d++) {
                const struct index_entry *e;
                const char *s;
                size_t n = 0;

                if (!p->dims[d].n_entries)
                        continue;
                s = json_str(p->dim_split_ok[d] ? json_path_get_split(rec, &p->dim_split[d])
                                                : json_path_get(rec, p->dims[d].path),
                             &n);
                e = rules_index_find(&p->dims[d], s, n);
                if (e) {
                        c->list[d] = e->rules;
                        c->n[d] = e->n_rules;
                        hit = e;
                        n_hits++;
                }
        }
        c->list[RULES_INDEX_DIMS] = p->wild;
        c->n[RULES_INDEX_DIMS] = p->n_wild;
        if (n_hits <= 1 && !p->fast_off) {
                c->refs = hit ? hit->refs : p->wild_refs;
                c->n_refs = hit ? hit->n_refs : p->n_wild;
        }
}

/* The next candidate in *ret, and in *ret_dim the index dimension whose list held it
 * (RULES_INDEX_DIMS: the wildcard list). */
static bool cand_next(struct cand *c, size_t *ret, int *ret_dim)
{
        int best = -1;

        if (c->refs) {
                if (c->at_ref == c->n_refs)
                        return false;
                *ret = c->refs[c->at_ref].rule;
                *ret_dim = (int)c->refs[c->at_ref++].dim;
                return true;
        }
        for (int i = 0; i <= RULES_INDEX_DIMS; i++)
                if (c->at[i] < c->n[i] &&
                    (best < 0 || c->list[i][c->at[i]] < c->list[best][c->at[best]]))
                        best = i;
        if (best < 0)
                return false;
        *ret = c->list[best][c->at[best]++];
        *ret_dim = best;
        return true;
}

int rules_apply_trace(const struct rules_pack *p, json *rec, enum rules_verdict *ret_verdict,
                      const char **ret_rule_id, rules_trace_cb cb, void *ud)
{
        struct mctx m;
        size_t *matched = NULL, n_matched = 0, matched_alloc = 0, idx;
        uint64_t criteria = 0;
        const struct rule *last = NULL;
        enum rules_verdict verdict = RULES_KEEP;
        struct scratch *sc;
        bool own;
        struct cand c;
        int r = 0, dim;

        sc = scratch_get(p->max_groups ? p->max_groups : 1, &own);
        if (!sc)
                return -ENOMEM;
        /* Not zeroed whole (issue 12: ~1 KiB per record): path_val[] is read only where
         * path_known says, cap_*[] only where cap_set (cleared per rule) says. */
        m.p = p;
        m.rl = NULL;
        m.rec = rec;
        m.path_known = 0;
        m.first_known = 0;
        m.err = 0;
        m.mctx = p->mctx;
        m.md = sc->md;
        m.caps = &sc->caps;
        m.out = &sc->out;
        cand_init(p, rec, &c);
        while (cand_next(&c, &idx, &dim)) {
                const struct rule *rl = &p->rules[idx];
                bool ok;

                /* Without a trace: a rule tried as a trace reports it stays tried. */
                if (!cb && p->qr[idx].path >= 0 && qr_rejects(&m, &p->qr[idx]))
                        continue;
                m.rl = rl;
                buf_reset(m.caps);
                memset(m.cap_set, 0, sizeof(m.cap_set));
                ok = match_eval(&m, rl, dim);
                if (m.err) {
                        r = m.err;
                        goto out;
                }
                if (ok && rl->drop) {
                        if (cb)
                                cb(ud, &rl->info, true, rec);
                        verdict = RULES_DROP;
                        last = rl;
                        break;
                }
                if (ok) {
                        /* the record changes: look values up again */
                        m.path_known = 0;
                        m.first_known = 0;
                        r = rules_sets(&m, rec, rl);
                        if (r < 0)
                                goto out;
                        criteria |= rl->criteria;
                        last = rl;
                        if (rl->n_redacts && n_matched == matched_alloc) {
                                size_t na = matched_alloc ? 2 * matched_alloc : 8;
                                size_t *nm = realloc(matched, na * sizeof(*nm));

                                if (!nm) {
                                        r = -ENOMEM;
                                        goto out;
                                }
                                matched = nm;
                                matched_alloc = na;
                        }
                        if (rl->n_redacts)
                                matched[n_matched++] = idx;
                }
                if (cb)
                        cb(ud, &rl->info, ok, rec);
                if (ok && !rl->cont)
                        break;
        }
        if (verdict == RULES_KEEP) {
                /* Built in the record's arena and set with one lookup (issue 12). */
                const char *rid = last ? last->id : "unmapped";
                size_t rl_n = strlen(rid);

                r = json_path_set_split(rec, &p->rule_path,
                                        !last || last->id_valid
                                                ? json_new_strn_valid_in(rec, rid, rl_n)
                                                : json_new_strn_in(rec, rid, rl_n));
                if (r == 0)
                        r = set_criteria(rec, &p->criteria_path, criteria);
                /* Only when a matched rule redacts: a call across files (rules-set.c) cost
                 * ~25 instructions per record with nothing to do (split10, callgrind). */
                if (r == 0 && n_matched)
                        r = rules_redact(p, rec, matched, n_matched);
        }
out:
        scratch_put(sc, own);
        free(matched);
        if (r < 0)
                return r;
        if (ret_verdict)
                *ret_verdict = verdict;
        if (ret_rule_id)
                *ret_rule_id = last ? last->id : NULL;
        return 0;
}

int rules_apply(const struct rules_pack *p, json *rec, enum rules_verdict *ret_verdict,
                const char **ret_rule_id)
{
        return rules_apply_trace(p, rec, ret_verdict, ret_rule_id, NULL, NULL);
}
