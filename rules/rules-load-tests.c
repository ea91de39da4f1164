/* Loading a rule pack, the inline tests: input (a syslog line or a JSON object), the
 * expected fields and criteria, or `match: false`; YAML values become typed JSON. The tests
 * run in rules/rules-test.c. Load time only; nothing here logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules-load-int.h"

/* YAML to JSON for test inputs and expectations: plain true/false/null/integers are typed,
 * everything else is a string. */
static int ld_to_json(struct ld *x, yaml_node_t *n, unsigned depth, json **ret)
{
        json *v = NULL;
        int r = 0;

        if (depth > RULES_COND_MAX_DEPTH)
                return ld_fail(x, n, "tests: nested more than %d deep", RULES_COND_MAX_DEPTH);
        r = ld_count(x, n);
        if (r < 0)
                return r;
        if (n->type == YAML_SCALAR_NODE) {
                const char *s = (const char *)n->data.scalar.value;
                bool plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                char *end;
                long long ll;

                if (strlen(s) != n->data.scalar.length)
                        return ld_fail(x, n, "tests: value contains a NUL byte");
                if (ld_scalar_is_null(n))
                        v = json_new_null();
                else if (plain && !strcmp(s, "true"))
                        v = json_new_bool(true);
                else if (plain && !strcmp(s, "false"))
                        v = json_new_bool(false);
                else if (plain && (errno = 0, ll = strtoll(s, &end, 10), !*end && !errno &&
                                   end != s && (*s == '-' || (*s >= '0' && *s <= '9'))))
                        v = json_new_int(ll);
                else
                        v = json_new_strn(s, n->data.scalar.length);
        } else if (n->type == YAML_SEQUENCE_NODE) {
                v = json_new_arr();
                for (yaml_node_item_t *it = n->data.sequence.items.start;
                     v && r == 0 && it < n->data.sequence.items.top; it++) {
                        yaml_node_t *c = ld_node(x, *it);
                        json *cv;

                        r = c ? ld_to_json(x, c, depth + 1, &cv) : ld_fail(x, n, "broken list");
                        if (r == 0)
                                r = json_arr_append(v, cv);
                }
        } else if (n->type == YAML_MAPPING_NODE) {
                v = json_new_obj();
                for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
                     v && r == 0 && pr < n->data.mapping.pairs.top; pr++) {
                        yaml_node_t *k = ld_node(x, pr->key), *c = ld_node(x, pr->value);
                        const char *key;
                        json *cv;

                        if (!k || !c) {
                                r = ld_fail(x, n, "broken mapping");
                                break;
                        }
                        r = ld_scalar(x, k, "tests", &key);
                        if (r == 0 && json_obj_get(v, key))
                                r = ld_fail(x, k, "tests: duplicate key '%s'", key);
                        if (r == 0)
                                r = ld_to_json(x, c, depth + 1, &cv);
                        if (r == 0)
                                r = json_obj_set(v, key, cv);
                }
        }
        if (!v) {
                return r < 0 ? r : -ENOMEM;
        }
        if (r < 0) {
                json_free(v);
                return r;
        }
        *ret = v;
        return 0;
}

static const char *const test_keys[] = { "input", "expect", "match" };
enum { T_INPUT, T_EXPECT, T_MATCH, T__N };

static int ld_test(struct ld *x, yaml_node_t *n, struct rtest *t)
{
        yaml_node_t *v[T__N];
        int r = ld_keys(x, n, "tests[]", test_keys, T__N, v);

        if (r < 0)
                return r;
        t->line = (unsigned)n->start_mark.line + 1;
        t->column = (unsigned)n->start_mark.column + 1;
        t->want_match = true;
        r = ld_strdup(x, x->file, strlen(x->file), &t->file);
        if (r < 0)
                return r;
        if (!v[T_INPUT])
                return ld_fail(x, n, "tests[]: missing 'input' (a log line, or a mapping of "
                                     "record fields)");
        if (v[T_INPUT]->type == YAML_SCALAR_NODE) {
                const char *s;

                r = ld_scalar(x, v[T_INPUT], "tests[].input", &s);
                if (r == 0)
                        r = ld_strdup(x, s, v[T_INPUT]->data.scalar.length, &t->text);
        } else if (v[T_INPUT]->type == YAML_MAPPING_NODE) {
                r = ld_to_json(x, v[T_INPUT], 0, &t->obj);
        } else {
                r = ld_fail(x, v[T_INPUT], "tests[].input: expected a log line or a mapping, "
                                           "not a list");
        }
        if (r < 0)
                return r;
        if (v[T_MATCH]) {
                r = ld_bool(x, v[T_MATCH], "tests[].match", &t->want_match);
                if (r < 0)
                        return r;
        }
        if (!v[T_EXPECT])
                return 0;
        if (v[T_EXPECT]->type != YAML_MAPPING_NODE)
                return ld_fail(x, v[T_EXPECT], "tests[].expect: expected a mapping of field: "
                                               "value, not %s", ld_node_kind(v[T_EXPECT]));
        for (yaml_node_pair_t *pr = v[T_EXPECT]->data.mapping.pairs.start;
             pr < v[T_EXPECT]->data.mapping.pairs.top; pr++) {
                yaml_node_t *k = ld_node(x, pr->key), *c = ld_node(x, pr->value);
                struct expect_item *e;
                const char *key;

                if (!k || !c)
                        return ld_fail(x, n, "tests[].expect: broken mapping");
                r = ld_scalar(x, k, "tests[].expect", &key);
                if (r < 0)
                        return r;
                if (!ld_path_valid(key))
                        return ld_fail(x, k, "tests[].expect: '%s' is not a field path", key);
                if (c->type == YAML_MAPPING_NODE)
                        return ld_fail(x, c, "tests[].expect.%s: expected a value or a list "
                                             "(name nested fields with dots)", key);
                for (size_t i = 0; i < t->n_ex; i++)
                        if (!strcmp(t->ex[i].path, key))
                                return ld_fail(x, k, "tests[].expect: duplicate key '%s'", key);
                if (!strcmp(key, "criteria") && c->type == YAML_SEQUENCE_NODE)
                        for (yaml_node_item_t *it = c->data.sequence.items.start;
                             it < c->data.sequence.items.top; it++) {
                                yaml_node_t *cv = ld_node(x, *it);
                                const char *s;

                                if (!cv)
                                        return ld_fail(x, c, "broken list");
                                r = ld_scalar(x, cv, "tests[].expect.criteria", &s);
                                if (r < 0)
                                        return r;
                                if (rules_criterion_index(s) < 0)
                                        return ld_fail(x, cv, "tests[].expect.criteria: unknown "
                                                              "criterion '%s'", s);
                        }
                e = realloc(t->ex, (t->n_ex + 1) * sizeof(*e));
                if (!e)
                        return -ENOMEM;
                t->ex = e;
                e = &e[t->n_ex];
                memset(e, 0, sizeof(*e));
                r = ld_to_json(x, c, 0, &e->val);
                if (r < 0)
                        return r;
                e->path = strdup(key);
                t->n_ex++;
                if (!e->path)
                        return -ENOMEM;
                if (!strcmp(key, "rule"))
                        t->has_rule_expect = true;
        }
        return 0;
}

int ld_tests(struct ld *x, yaml_node_t *n)
{
        struct rule *rl = x->r;
        size_t count;

        if (n->type != YAML_SEQUENCE_NODE)
                return ld_fail(x, n, "tests: expected a list of tests, not %s", ld_node_kind(n));
        count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        rl->tests = calloc(count ? count : 1, sizeof(*rl->tests));
        if (!rl->tests)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                yaml_node_t *v = ld_node(x, n->data.sequence.items.start[i]);
                int r;

                if (!v)
                        return ld_fail(x, n, "tests: broken list");
                rl->n_tests++;
                r = ld_test(x, v, &rl->tests[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}
