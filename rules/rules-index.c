/* The rule pack's index and what a pack prepares once at load (rules_index_build), and the
 * index lookup rules_apply makes per record (rules_index_find).
 *
 * Why an index: a record tries only the rules its `app` and `source.kind` can satisfy. A
 * rule whose top-level match requires one of those fields to equal some values is listed
 * under each value; the others are wildcards, tried for every record. Candidates are then
 * merged in pack order (rules-match.c), so the index changes which rules are tried, never
 * which one wins. Split from rules-match.c (issue 12 hygiene): built once per pack here,
 * used per record there. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "normalize/normalize.h"
#include "rules/rules-internal.h"
/* Backtracking steps one regex may take on one value: ample for log lines (a linear
 * pattern over 64 KiB takes well under this), and a bound for a pathological one. */
#define RULES_MATCH_LIMIT 1000000u

/* ---- Index ---- */

static const char *const index_paths[RULES_INDEX_DIMS] = { "app", "source.kind" };

/* By length, then bytes (prestore8: one compare of lengths rules out most entries, and
 * no strcmp call per probe). Equality is strcmp's for values without NUL, which are the
 * only ones listed (eq_plain). */
static int entry_cmp(const void *a, const void *b)
{
        const struct index_entry *x = a, *y = b;

        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        return memcmp(x->value, y->value, x->len);
}

static int idx_push(size_t **arr, size_t *n, size_t v)
{
        size_t *na;

        /* Rules are added in ascending order; the same rule may list a value twice. */
        if (*n && (*arr)[*n - 1] == v)
                return 0;
        na = realloc(*arr, (*n + 1) * sizeof(*na));
        if (!na)
                return -ENOMEM;
        na[(*n)++] = v;
        *arr = na;
        return 0;
}

static int idx_add(struct index_dim *d, const char *value, size_t rule)
{
        struct index_entry *e = NULL;

        for (size_t i = 0; i < d->n_entries; i++)
                if (!strcmp(d->entries[i].value, value)) {
                        e = &d->entries[i];
                        break;
                }
        if (!e) {
                struct index_entry *ne = realloc(d->entries, (d->n_entries + 1) * sizeof(*ne));

                if (!ne)
                        return -ENOMEM;
                d->entries = ne;
                e = &ne[d->n_entries++];
                memset(e, 0, sizeof(*e));
                e->value = value;
                e->len = strlen(value);
        }
        return idx_push(&e->rules, &e->n_rules, rule);
}

/* The top-level equality condition of a rule on path, or NULL; *ret_kid: its index. */
static const struct cond *rule_eq_on(const struct rule *rl, const char *path, size_t *ret_kid)
{
        for (size_t i = 0; i < rl->match.n_kids; i++) {
                const struct cond *c = &rl->match.kids[i];

                if (c->op == OP_EQ && !strcmp(c->path, path)) {
                        *ret_kid = i;
                        return c;
                }
        }
        return NULL;
}

/* Are all of an equality's values free of NUL (so the index's strcmp decides as it does)? */
static bool eq_plain(const struct cond *c)
{
        for (size_t k = 0; k < c->n_strs; k++)
                if (strlen(c->strs[k]) != c->lens[k])
                        return false;
        return true;
}

/* json_path_split, with the place of the first key among a syslog record's members as its
 * hint (prestore8): the rules look up the same few members of every record, and the
 * records of the syslog path (most of them) hold their members in that table's order.
 * Other records (journald's, JSON events) only miss the hint. */
static int path_split_hinted(const char *path, struct json_path *ret)
{
        const struct json_key *keys;
        size_t n;
        int r = json_path_split(path, ret);

        if (r < 0)
                return r;
        keys = norm_record_keys(&n);
        for (size_t i = 0; i < n; i++)
                if (keys[i].len == ret->keys[0].n &&
                    !memcmp(keys[i].key, ret->keys[0].s, keys[i].len)) {
                        ret->keys[0].hint = (uint32_t)i;
                        break;
                }
        return 0;
}

/* Gives each distinct path of c's field conditions an id (the first RULES_PATH_CACHE). */
static void paths_number(struct rules_pack *p, struct cond *c)
{
        c->path_id = -1;
        if (c->path) {
                size_t i;

                for (i = 0; i < p->n_paths && strcmp(p->paths[i], c->path); i++)
                        ;
                if (i == p->n_paths && p->n_paths < RULES_PATH_CACHE) {
                        if (path_split_hinted(c->path, &p->path_split[i]) == 0)
                                p->path_split_ok |= (uint64_t)1 << i;
                        p->paths[p->n_paths++] = c->path;
                }
                if (i < p->n_paths)
                        c->path_id = (int)i;
        }
        for (size_t k = 0; k < c->n_kids; k++)
                paths_number(p, &c->kids[k]);
}

/* The first key of a dotted path: its length. */
static size_t first_key_len(const char *path)
{
        const char *dot = strchr(path, '.');

        return dot ? (size_t)(dot - path) : strlen(path);
}

/* RFC 8785 order of two set paths, key by key (set paths have one or two keys). */
static int set_cmp(const void *a, const void *b)
{
        const char *x = ((const struct set_item *)a)->path, *y = ((const struct set_item *)b)->path;
        size_t nx = first_key_len(x), ny = first_key_len(y);
        int c = json_key_cmp(x, nx, y, ny);

        if (c || !x[nx] || !y[ny])
                return c ? c : (int)!!x[nx] - (int)!!y[ny];
        return json_key_cmp(x + nx + 1, strlen(x + nx + 1), y + ny + 1, strlen(y + ny + 1));
}

/* Performance (prestore8): a rule's sets put in RFC 8785 order of their paths, so that the
 * objects they create ("actor", "target") get their members in key order, keep their
 * "sorted" mark and are serialised without a sort. The record comes out the same: set paths
 * are distinct and none is a prefix of another (the loader allows action, outcome,
 * severity, actor.NAME and target.NAME, once each), and values are rendered from the
 * captures and the record; only a template that reads a field under a key the rule sets
 * could see another order's work, so such a rule keeps its order. */
static bool sets_order(struct rule *rl)
{
        for (size_t i = 0; i < rl->n_sets; i++)
                for (size_t a = 0; a < rl->sets[i].n_t; a++)
                        for (size_t k = 0; k < rl->sets[i].t[a].n_parts; k++) {
                                const struct tpart *tp = &rl->sets[i].t[a].parts[k];
                                size_t n;

                                if (tp->kind != TP_FIELD || !tp->text)
                                        continue;
                                n = first_key_len(tp->text);
                                for (size_t j = 0; j < rl->n_sets; j++)
                                        if (first_key_len(rl->sets[j].path) == n &&
                                            !memcmp(rl->sets[j].path, tp->text, n))
                                                return false;
                        }
        if (rl->n_sets > 1)
                qsort(rl->sets, rl->n_sets, sizeof(*rl->sets), set_cmp);
        return true;
}

/* Is set item s a two-key path whose second key may be a group's member name? */
static bool set_groupable(const struct set_item *s)
{
        return s->split_ok && s->split.n_keys == 2 && s->split.keys[1].plain &&
               s->split.keys[0].plain;
}

/* Performance (rules10): runs of two-key sets under the same first key, in a rule whose
 * sets are in key order (sets_order), become groups made in one go: the object "actor" of
 * sshd.login.accepted's five sets took five lookups, five key checks and three growths
 * of its member array (json_path_set_split_from, ~290 instructions a set). A template
 * reads no key the rule sets there (sets_order's condition), so rendering a group's values
 * before setting them changes nothing. */
static int groups_build(struct rule *rl)
{
        for (size_t i = 0; i < rl->n_sets;) {
                const struct set_item *si = &rl->sets[i];
                struct set_group g = { .first = i, .n = 0 };
                struct set_group *ng;

                while (i < rl->n_sets && g.n < RULES_GROUP_MAX && set_groupable(&rl->sets[i]) &&
                       set_groupable(si) && rl->sets[i].split.keys[0].n == si->split.keys[0].n &&
                       !memcmp(rl->sets[i].split.keys[0].s, si->split.keys[0].s,
                               si->split.keys[0].n)) {
                        g.names[g.n].key = rl->sets[i].split.keys[1].s;
                        g.names[g.n].len = rl->sets[i].split.keys[1].n;
                        g.n++;
                        i++;
                }
                if (g.n == 0) {
                        i++;
                        continue;
                }
                if (!json_keys_sorted(g.names, g.n))
                        continue; /* not in key order after all: set one by one */
                ng = realloc(rl->groups, (rl->n_groups + 1) * sizeof(*ng));
                if (!ng)
                        return -ENOMEM;
                rl->groups = ng;
                rl->sets[g.first].group = (int)rl->n_groups;
                ng[rl->n_groups++] = g;
        }
        return 0;
}

/* What rules_apply can do per record without checking again (performance, issue 12): set
 * paths split, template text and defaults known valid UTF-8, the rule's id too; the sets in
 * key order where that changes nothing but speed (sets_order). */
static int rule_prepare(struct rule *rl)
{
        bool sorted;

        rl->id_valid = rl->id && json_utf8_valid(rl->id, strlen(rl->id));
        sorted = sets_order(rl);
        for (size_t i = 0; i < rl->n_sets; i++) {
                struct set_item *si = &rl->sets[i];

                si->group = -1;
                si->split_ok = path_split_hinted(si->path, &si->split) == 0;
                for (size_t a = 0; a < si->n_t; a++)
                        for (size_t k = 0; k < si->t[a].n_parts; k++) {
                                struct tpart *tp = &si->t[a].parts[k];

                                tp->split_ok = tp->kind == TP_FIELD && tp->text &&
                                               path_split_hinted(tp->text, &tp->split) == 0;
                                tp->text_valid = tp->kind == TP_TEXT && tp->text &&
                                                 json_utf8_valid(tp->text, tp->len);
                                tp->dflt_valid = tp->dflt &&
                                                 json_utf8_valid(tp->dflt, strlen(tp->dflt));
                        }
        }
        return sorted ? groups_build(rl) : 0;
}

/* Performance (rules10): a record whose `app` (or `source.kind`) hits one index entry, or
 * none, tries one list in pack order instead of a merge of three, made here once. */
static int refs_merge(const size_t *a, size_t na, uint32_t dim, const size_t *w, size_t nw,
                      struct rule_ref **ret, size_t *ret_n)
{
        struct rule_ref *r = malloc((na + nw ? na + nw : 1) * sizeof(*r));
        size_t i = 0, j = 0, k = 0;

        if (!r)
                return -ENOMEM;
        while (i < na || j < nw) {
                /* A rule is in an entry's list or in the wildcards, never both. */
                if (j == nw || (i < na && a[i] < w[j]))
                        r[k++] = (struct rule_ref){ (uint32_t)a[i++], dim };
                else
                        r[k++] = (struct rule_ref){ (uint32_t)w[j++], RULES_INDEX_DIMS };
        }
        *ret = r;
        *ret_n = k;
        return 0;
}

/* The first bytes a top-level condition lets through (struct rule_qr), into q; false when
 * the condition cannot reject by the value's text (not a text compare, or no path id). */
static bool qr_of_cond(const struct cond *c, struct rule_qr *q)
{
        memset(q, 0, sizeof(*q));
        q->path = c->path_id;
        if (c->path_id < 0)
                return false;
        switch (c->op) {
        case OP_EQ:
        case OP_PREFIX:
                for (size_t k = 0; k < c->n_strs; k++) {
                        if (c->lens[k] == 0 && c->op == OP_PREFIX)
                                goto any; /* an empty prefix: every text */
                        if (c->lens[k] == 0)
                                q->empty = true;
                        else
                                q->first[(unsigned char)c->strs[k][0] >> 6] |=
                                        (uint64_t)1 << ((unsigned char)c->strs[k][0] & 63);
                }
                return true;
        case OP_REGEX:
                if (c->re_prefix_len) {
                        unsigned char b = (unsigned char)c->re_prefix[0];

                        q->first[b >> 6] |= (uint64_t)1 << (b & 63);
                        return true;
                }
                goto any;
        case OP_SUFFIX:
        case OP_CONTAINS:
                goto any;
        default:
                return false;
        }
any:    /* Only a value without text (absent, null, object, array) is rejected. */
        q->empty = true;
        memset(q->first, 0xff, sizeof(q->first));
        return true;
}

/* How many first bytes q lets through (the empty string counts as one). */
static unsigned qr_width(const struct rule_qr *q)
{
        unsigned n = q->empty;

        for (int i = 0; i < 4; i++)
                n += (unsigned)__builtin_popcountll(q->first[i]);
        return n;
}

/* The narrowest quick reject among the rule's top-level conditions, leaving out the one
 * its index entry vouches for. */
static void rule_qr_build(const struct rule *rl, struct rule_qr *ret)
{
        struct rule_qr q;

        memset(ret, 0, sizeof(*ret));
        ret->path = -1;
        if (rl->match.op != OP_ALL)
                return;
        for (size_t i = 0; i < rl->match.n_kids; i++) {
                if (rl->idx_dim >= 0 && i == rl->idx_kid)
                        continue;
                if (qr_of_cond(&rl->match.kids[i], &q) &&
                    (ret->path < 0 || qr_width(&q) < qr_width(ret)))
                        *ret = q;
        }
}

void rules_index_free(struct rules_pack *p)
{
        for (int d = 0; d < RULES_INDEX_DIMS; d++)
                for (size_t i = 0; i < p->dims[d].n_entries; i++) {
                        free(p->dims[d].entries[i].refs);
                        p->dims[d].entries[i].refs = NULL;
                }
        for (size_t i = 0; i < p->n_rules; i++) {
                free(p->rules[i].groups);
                p->rules[i].groups = NULL;
                p->rules[i].n_groups = 0;
        }
        free(p->wild_refs);
        free(p->qr);
        p->wild_refs = NULL;
        p->qr = NULL;
}

void rules_index_fast_off(struct rules_pack *p)
{
        for (size_t i = 0; i < p->n_rules; i++)
                for (size_t k = 0; k < p->rules[i].n_sets; k++)
                        p->rules[i].sets[k].group = -1;
        for (size_t i = 0; i < p->n_rules; i++)
                p->qr[i].path = -1;
        for (int d = 0; d < RULES_INDEX_DIMS; d++)
                for (size_t i = 0; i < p->dims[d].n_entries; i++)
                        p->dims[d].entries[i].n_refs = 0;
        p->fast_off = true;
}

/* The per-record shortcuts of rules10: merged candidate lists and quick rejects. */
static int fast_build(struct rules_pack *p)
{
        int r;

        if (p->n_rules > UINT32_MAX)
                return -E2BIG;
        p->qr = calloc(p->n_rules ? p->n_rules : 1, sizeof(*p->qr));
        if (!p->qr)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_rules; i++)
                rule_qr_build(&p->rules[i], &p->qr[i]);
        r = refs_merge(NULL, 0, 0, p->wild, p->n_wild, &p->wild_refs, &(size_t){ 0 });
        for (int d = 0; r == 0 && d < RULES_INDEX_DIMS; d++)
                for (size_t i = 0; r == 0 && i < p->dims[d].n_entries; i++) {
                        struct index_entry *e = &p->dims[d].entries[i];

                        r = refs_merge(e->rules, e->n_rules, (uint32_t)d, p->wild, p->n_wild,
                                       &e->refs, &e->n_refs);
                }
        return r;
}

int rules_index_build(struct rules_pack *p)
{
        p->mctx = pcre2_match_context_create(NULL);
        if (!p->mctx)
                return -ENOMEM;
        pcre2_set_match_limit(p->mctx, RULES_MATCH_LIMIT);
        for (int d = 0; d < RULES_INDEX_DIMS; d++)
                p->dim_split_ok[d] = path_split_hinted(index_paths[d], &p->dim_split[d]) == 0;
        if (path_split_hinted("rule", &p->rule_path) < 0 ||
            path_split_hinted("criteria", &p->criteria_path) < 0)
                return -EINVAL; /* our literals: never */
        for (size_t i = 0; i < p->n_rules; i++) {
                const struct cond *c = NULL;
                size_t kid = 0;
                int d, r = 0;

                paths_number(p, &p->rules[i].match);
                r = rule_prepare(&p->rules[i]);
                if (r < 0)
                        return r;
                for (d = 0; d < RULES_INDEX_DIMS && !c; d++)
                        c = rule_eq_on(&p->rules[i], index_paths[d], &kid);
                /* The index compares C strings: a value with a NUL in it is listed under
                 * its prefix, so such a condition is still evaluated. */
                p->rules[i].idx_dim = c && eq_plain(c) ? d - 1 : -1;
                p->rules[i].idx_kid = kid;
                if (!c) {
                        r = idx_push(&p->wild, &p->n_wild, i);
                } else {
                        p->dims[d - 1].path = index_paths[d - 1];
                        for (size_t k = 0; r == 0 && k < c->n_strs; k++)
                                r = idx_add(&p->dims[d - 1], c->strs[k], i);
                }
                if (r < 0)
                        return r;
        }
        for (int d = 0; d < RULES_INDEX_DIMS; d++)
                if (p->dims[d].n_entries)
                        qsort(p->dims[d].entries, p->dims[d].n_entries,
                              sizeof(struct index_entry), entry_cmp);
        return fast_build(p);
}

const struct index_entry *rules_index_find(const struct index_dim *d, const char *value,
                                           size_t len)
{
        size_t lo = 0, hi = d->n_entries;

        if (!value)
                return NULL;
        while (lo < hi) { /* bsearch, inline: a few probes per record */
                size_t mid = lo + (hi - lo) / 2;
                const struct index_entry *e = &d->entries[mid];
                /* The first byte inline (rules10): memcmp's call decides only ties. */
                int c = e->len != len ? (e->len < len ? -1 : 1)
                        : len == 0    ? 0
                        : e->value[0] != value[0]
                                ? ((unsigned char)e->value[0] < (unsigned char)value[0] ? -1 : 1)
                                : memcmp(e->value, value, len);

                if (c == 0)
                        return e;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}
