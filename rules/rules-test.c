/* Inline rule tests (`tests:` of each rule), run against the whole pack exactly as the
 * daemon maps records, so that a test also catches an earlier rule that shadows its own.
 *
 * Per test, by default: the rule is the one that decides the record (its id ends up in
 * `rule`; for a drop rule, the record is dropped by it) and the record carries at least the
 * rule's criteria. `match: false` asserts instead that the rule did not match at all.
 * `expect` compares fields: a scalar against the field's text, a list element by element
 * (criteria as a set), null against a missing or null field. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tm.h"
#include "rules/rules-internal.h"

/* Fixed receipt time: RFC 3164 timestamps have no year, and tests must not depend on the
 * day they run. */
#define RULES_TEST_RECEIVED "2024-06-15T12:00:00Z"

struct trace {
        const struct rules_rule_info **matched;
        size_t n, alloc;
        int err;
};

static void trace_cb(void *ud, const struct rules_rule_info *rule, bool matched, const json *rec)
{
        struct trace *t = ud;

        (void)rec;
        if (!matched || t->err)
                return;
        if (t->n == t->alloc) {
                size_t na = t->alloc ? 2 * t->alloc : 8;
                const struct rules_rule_info **nm = realloc(t->matched, na * sizeof(*nm));

                if (!nm) {
                        t->err = -ENOMEM;
                        return;
                }
                t->matched = nm;
                t->alloc = na;
        }
        t->matched[t->n++] = rule;
}

static void show(const json *v, char *out, size_t len)
{
        struct buf b = BUF_INIT;

        if (!v)
                snprintf(out, len, "absent");
        else if (json_canon(v, &b) == 0)
                snprintf(out, len, "%s", b.data);
        else
                snprintf(out, len, "?");
        buf_free(&b);
}

static bool scalar_eq(const json *actual, const json *want)
{
        char ta[40], tw[40];
        size_t na, nw;
        const char *a = rules_value_text(actual, ta, sizeof(ta), &na);
        const char *w = rules_value_text(want, tw, sizeof(tw), &nw);

        return a && w && na == nw && !memcmp(a, w, na);
}

static bool has_text(const json *arr, const json *want)
{
        for (size_t i = 0; i < json_len(arr); i++)
                if (scalar_eq(json_arr_at(arr, i), want))
                        return true;
        return false;
}

static bool expect_ok(const json *rec, const struct expect_item *e)
{
        const json *a = json_path_get(rec, e->path);
        enum json_type wt = json_type_of(e->val);

        if (wt == JSON_NULL)
                return !a || json_type_of(a) == JSON_NULL;
        if (wt == JSON_ARR) {
                bool as_set = !strcmp(e->path, "criteria") || !strcmp(e->path, "flags");

                if (!a || json_type_of(a) != JSON_ARR || json_len(a) != json_len(e->val))
                        return false;
                for (size_t i = 0; i < json_len(a); i++)
                        if (as_set ? !has_text(a, json_arr_at(e->val, i))
                                   : !scalar_eq(json_arr_at(a, i), json_arr_at(e->val, i)))
                                return false;
                return true;
        }
        return scalar_eq(a, e->val);
}

static int test_record(const struct rtest *t, json **ret)
{
        int64_t received;

        tm_parse_rfc3339(RULES_TEST_RECEIVED, strlen(RULES_TEST_RECEIVED), 0, &received);
        if (t->text)
                return rules_event_from_text(t->text, strlen(t->text), RULES_INPUT_AUTO,
                                             received, ret);
        *ret = rules_record_base();
        if (!*ret)
                return -ENOMEM;
        if (rules_json_overlay(*ret, t->obj) < 0) {
                json_free(*ret);
                return -ENOMEM;
        }
        return 0;
}

/* Runs one test; why (len bytes) says what failed. Returns 1 pass, 0 fail, -ENOMEM. */
static int run_one(const struct rules_pack *p, const struct rule *rl, const struct rtest *t,
                   char *why, size_t len)
{
        struct trace tr = { 0 };
        enum rules_verdict verdict;
        const char *rid = NULL;
        json *rec = NULL;
        bool matched = false;
        char got[200];
        int r = test_record(t, &rec);

        if (r < 0)
                return r;
        r = rules_apply_trace(p, rec, &verdict, &rid, trace_cb, &tr);
        if (r == 0 && tr.err)
                r = tr.err;
        if (r < 0)
                goto out;
        for (size_t i = 0; i < tr.n; i++)
                if (tr.matched[i] == &rl->info)
                        matched = true;
        r = 1;
        if (!t->want_match) {
                if (matched) {
                        snprintf(why, len, "the rule matched; expected no match");
                        r = 0;
                }
        } else if (rl->drop) {
                if (verdict != RULES_DROP || !rid || strcmp(rid, rl->id)) {
                        snprintf(why, len, "expected a drop by this rule; %s %s",
                                 verdict == RULES_DROP ? "dropped by" : "kept with rule",
                                 rid ? rid : "unmapped");
                        r = 0;
                }
        } else if (verdict == RULES_DROP) {
                snprintf(why, len, "dropped by rule %s", rid);
                r = 0;
        } else if (!t->has_rule_expect && (!rid || strcmp(rid, rl->id))) {
                snprintf(why, len, "%s", !matched ? "the rule did not match" : "");
                if (matched)
                        snprintf(why, len, "the rule matched, but rule %s decided the record",
                                 rid ? rid : "unmapped");
                else if (rid)
                        snprintf(why, len, "the rule did not match (rule %s did)", rid);
                r = 0;
        } else if (matched) {
                json *crit = json_obj_get(rec, "criteria");

                for (size_t i = 0; r == 1 && i < rules_criteria_count(); i++) {
                        json *want;

                        if (!(rl->criteria & ((uint64_t)1 << i)))
                                continue;
                        want = json_new_str(rules_criterion_at(i));
                        if (!want) {
                                r = -ENOMEM;
                                break;
                        }
                        if (!has_text(crit, want)) {
                                snprintf(why, len, "criteria lack %s", rules_criterion_at(i));
                                r = 0;
                        }
                        json_free(want);
                }
        }
        for (size_t i = 0; r == 1 && i < t->n_ex; i++) {
                if (expect_ok(rec, &t->ex[i]))
                        continue;
                char want[200];

                show(json_path_get(rec, t->ex[i].path), got, sizeof(got));
                show(t->ex[i].val, want, sizeof(want));
                /* why is long enough for both (400 > 2 * 200); a cut is only cosmetic. */
                if (snprintf(why, len, "%s is %s, expected %s", t->ex[i].path, got, want) < 0)
                        why[0] = 0;
                r = 0;
        }
out:
        free(tr.matched);
        json_free(rec);
        return r;
}

int rules_pack_run_tests(const struct rules_pack *p, rules_test_cb cb, void *ud,
                         unsigned *ret_passed, unsigned *ret_failed)
{
        unsigned passed = 0, failed = 0;

        for (size_t i = 0; i < p->n_rules; i++) {
                const struct rule *rl = &p->rules[i];

                for (size_t k = 0; k < rl->n_tests; k++) {
                        const struct rtest *t = &rl->tests[k];
                        char why[400] = "";
                        int r = run_one(p, rl, t, why, sizeof(why));
                        struct rules_test_result res = {
                                .rule = &rl->info, .index = (unsigned)k + 1, .file = t->file,
                                .line = t->line, .column = t->column, .passed = r == 1,
                                .why = r == 1 ? NULL : why,
                        };

                        if (r < 0)
                                return r;
                        if (r == 1)
                                passed++;
                        else
                                failed++;
                        if (cb)
                                cb(ud, &res);
                }
        }
        if (ret_passed)
                *ret_passed = passed;
        if (ret_failed)
                *ret_failed = failed;
        return 0;
}
