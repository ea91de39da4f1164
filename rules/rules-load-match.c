/* Loading a rule pack, the match conditions: field operators (equals, one_of, prefix,
 * suffix, contains, exists, lt/le/gt/ge, regex), any/all/not nesting at most
 * RULES_COND_MAX_DEPTH deep (so YAML alias cycles cannot make the walk loop), and PCRE2
 * patterns compiled (JIT) once here, with PCRE2's own message and the offending column on a
 * one-line pattern. Load time only; nothing here logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules-load-int.h"

static int cond_add(struct cond *parent, struct cond **ret)
{
        struct cond *k = realloc(parent->kids, (parent->n_kids + 1) * sizeof(*k));

        if (!k)
                return -ENOMEM;
        parent->kids = k;
        *ret = &k[parent->n_kids++];
        memset(*ret, 0, sizeof(**ret));
        return 0;
}

/* Values of a string operator: one scalar, or a list of them (any may match). */
static int ld_strs(struct ld *x, yaml_node_t *n, const char *what, struct cond *c)
{
        yaml_node_item_t *items = NULL;
        size_t count = 1;
        int r;

        if (n->type == YAML_SEQUENCE_NODE) {
                items = n->data.sequence.items.start;
                count = (size_t)(n->data.sequence.items.top - items);
                if (!count)
                        return ld_fail(x, n, "%s: empty list", what);
        } else if (n->type != YAML_SCALAR_NODE) {
                return ld_fail(x, n, "%s: expected a value or a list of values, not %s", what,
                               ld_node_kind(n));
        }
        c->strs = calloc(count, sizeof(*c->strs));
        c->lens = calloc(count, sizeof(*c->lens));
        if (!c->strs || !c->lens)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                yaml_node_t *v = items ? ld_node(x, items[i]) : n;
                const char *s;

                if (!v)
                        return ld_fail(x, n, "%s: broken list", what);
                if (v->type == YAML_SCALAR_NODE && ld_scalar_is_null(v))
                        return ld_fail(x, v, "%s: a null value matches nothing (use "
                                             "'exists: false' for a missing field)", what);
                r = ld_scalar(x, v, what, &s);
                if (r < 0)
                        return r;
                r = ld_strdup(x, s, v->data.scalar.length, &c->strs[c->n_strs]);
                if (r < 0)
                        return r;
                c->lens[c->n_strs++] = v->data.scalar.length;
        }
        return 0;
}

static int ld_number(struct ld *x, yaml_node_t *n, const char *what, double *ret)
{
        const char *s;
        char *end;
        int r = ld_scalar(x, n, what, &s);

        if (r < 0)
                return r;
        errno = 0;
        *ret = strtod(s, &end);
        if (end == s || *end || errno)
                return ld_fail(x, n, "%s: expected a number, not '%s'", what, s);
        return 0;
}

/* Registers a regex's named groups as rule capture slots (same name, same slot). */
static int ld_regex_names(struct ld *x, yaml_node_t *n, const char *what, struct cond *c)
{
        uint32_t count = 0, entry = 0;
        PCRE2_SPTR table;
        struct rule *rl = x->r;

        pcre2_pattern_info(c->re, PCRE2_INFO_NAMECOUNT, &count);
        pcre2_pattern_info(c->re, PCRE2_INFO_NAMEENTRYSIZE, &entry);
        pcre2_pattern_info(c->re, PCRE2_INFO_NAMETABLE, &table);
        for (uint32_t i = 0; i < count; i++) {
                const unsigned char *e = table + (size_t)i * entry;
                uint32_t group = ((uint32_t)e[0] << 8) | e[1];
                const char *name = (const char *)e + 2;
                size_t s;

                for (s = 0; s < rl->n_caps; s++)
                        if (!strcmp(rl->cap_names[s], name))
                                break;
                if (s == rl->n_caps) {
                        if (rl->n_caps == RULES_CAPTURES_MAX)
                                return ld_fail(x, n, "%s: more than %d named captures in one "
                                               "rule", what, RULES_CAPTURES_MAX);
                        rl->cap_names[s] = strdup(name);
                        if (!rl->cap_names[s])
                                return -ENOMEM;
                        rl->n_caps++;
                }
                if (group < c->n_groups)
                        c->group_slot[group] = (int)s;
        }
        return 0;
}

/* May pat[i..n) hide a top-level alternative or a change of what a literal means? The
 * structure of the pattern, read conservatively: groups counted, classes skipped (a POSIX
 * class inside one, or anything unbalanced, gives up), and every construct that would need
 * more reading (\Q...\E, inline options such as (?i) or (?x), (*VERB)s, (?|...)) refused. */
static bool regex_plain_structure(const char *pat, size_t n, size_t i)
{
        int depth = 0;

        for (; i < n; i++) {
                char c = pat[i];

                if (c == '\\') {
                        /* \c takes the next character whatever it is: in "\c(" or "\c)"
                         * it is no parenthesis (mapper11: "^a\c(|b\c)" read as one
                         * branch gave the prefix "a"). */
                        if (i + 1 >= n || pat[i + 1] == 'Q' || pat[i + 1] == 'E' ||
                            pat[i + 1] == 'c')
                                return false;
                        i++;
                } else if (c == '[') {
                        size_t j = i + 1;

                        if (j < n && pat[j] == '^')
                                j++;
                        if (j < n && pat[j] == ']') /* a ']' first is a member */
                                j++;
                        for (; j < n && pat[j] != ']'; j++) {
                                if (pat[j] == '[' && j + 1 < n && pat[j + 1] == ':')
                                        return false;
                                if (pat[j] == '\\' && ++j >= n)
                                        return false;
                        }
                        if (j >= n)
                                return false;
                        i = j;
                } else if (c == '(') {
                        if (i + 1 < n && pat[i + 1] == '*')
                                return false;
                        if (i + 1 < n && pat[i + 1] == '?' &&
                            (i + 2 >= n || !pat[i + 2] || !strchr(":<=!", pat[i + 2])))
                                return false;
                        depth++;
                } else if (c == ')') {
                        if (--depth < 0)
                                return false;
                } else if (c == '|' && depth == 0) {
                        return false;
                }
        }
        return depth == 0;
}

size_t rules_regex_prefix(const char *pat, size_t n, char *out, size_t out_max)
{
        size_t i = 1, o = 0;

        if (!pat || n < 2 || pat[0] != '^' || !regex_plain_structure(pat, n, 1))
                return 0;
        while (i < n && o < out_max) {
                unsigned char c = (unsigned char)pat[i];
                size_t step = 1;

                if (c == '\\') {
                        c = i + 1 < n ? (unsigned char)pat[i + 1] : 0;
                        /* A backslash before an ASCII non-alphanumeric is that character. */
                        if (c <= 0x20 || c >= 0x7f || (c >= '0' && c <= '9') ||
                            ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
                                break;
                        step = 2;
                } else if (c < 0x20 || c >= 0x7f || strchr("^$.|?*+()[]{}#", c)) {
                        break; /* a construct, or bytes of a character best left whole */
                }
                /* A quantifier after it applies to it: it is not certain to be there. */
                if (i + step < n && (!pat[i + step] || strchr("?*+{", pat[i + step])))
                        break;
                out[o++] = (char)c;
                i += step;
        }
        return o;
}

static int ld_regex(struct ld *x, yaml_node_t *n, const char *what, struct cond *c)
{
        const char *pat;
        int errcode;
        PCRE2_SIZE erroff;
        uint32_t groups = 0;
        int r = ld_scalar(x, n, what, &pat);

        if (r < 0)
                return r;
        c->re = pcre2_compile((PCRE2_SPTR)pat, n->data.scalar.length, PCRE2_UTF, &errcode,
                              &erroff, NULL);
        if (!c->re) {
                PCRE2_UCHAR msg[160];
                yaml_mark_t m = n->start_mark;
                size_t span = n->end_mark.index - n->start_mark.index;
                size_t quotes = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? 0 : 2;

                if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
                        snprintf((char *)msg, sizeof(msg), "error %d", errcode);
                /* The offset is in the pattern; it is a column in the file only when the
                 * pattern is written on one line without escapes. */
                if (n->start_mark.line == n->end_mark.line &&
                    span == n->data.scalar.length + quotes &&
                    n->data.scalar.style != YAML_LITERAL_SCALAR_STYLE &&
                    n->data.scalar.style != YAML_FOLDED_SCALAR_STYLE)
                        m.column += quotes / 2 + erroff;
                return ld_fail_at(x, &m, "%s: bad regex: %s at offset %zu", what, (char *)msg,
                                  (size_t)erroff);
        }
        /* JIT is an optimisation: where the CPU or system refuses it, PCRE2 interprets. */
        c->re_jit = pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE) == 0;
        c->re_prefix_len = (uint8_t)rules_regex_prefix(pat, n->data.scalar.length, c->re_prefix,
                                                       sizeof(c->re_prefix));
        pcre2_pattern_info(c->re, PCRE2_INFO_CAPTURECOUNT, &groups);
        c->n_groups = groups + 1;
        c->group_slot = malloc(c->n_groups * sizeof(*c->group_slot));
        if (!c->group_slot)
                return -ENOMEM;
        for (uint32_t i = 0; i < c->n_groups; i++)
                c->group_slot[i] = -1;
        if (c->n_groups > x->p->max_groups)
                x->p->max_groups = c->n_groups;
        return ld_regex_names(x, n, what, c);
}

static const char *const op_names[] = {
        "equals", "one_of", "prefix", "suffix", "contains", "exists", "lt", "le", "gt", "ge",
        "regex",
};
enum { K_EQUALS, K_ONE_OF, K_PREFIX, K_SUFFIX, K_CONTAINS, K_EXISTS, K_LT, K_LE, K_GT, K_GE,
       K_REGEX, K__N };

/* FIELD: {op: value, ...}: each operator becomes one condition of the enclosing `all`. */
static int ld_field_ops(struct ld *x, const char *path, yaml_node_t *n, struct cond *all)
{
        yaml_node_t *v[K__N];
        char what[300];
        bool any = false;
        int r;

        snprintf(what, sizeof(what), "match.%s", path);
        r = ld_keys(x, n, what, op_names, K__N, v);
        if (r < 0)
                return r;
        for (int k = 0; k < K__N; k++) {
                struct cond *c;

                if (!v[k])
                        continue;
                any = true;
                r = cond_add(all, &c);
                if (r < 0)
                        return r;
                r = ld_strdup(x, path, strlen(path), &c->path);
                if (r < 0)
                        return r;
                snprintf(what, sizeof(what), "match.%s.%s", path, op_names[k]);
                switch (k) {
                case K_EQUALS:
                        c->op = OP_EQ;
                        if (v[k]->type != YAML_SCALAR_NODE)
                                return ld_fail(x, v[k], "%s: expected one value (one_of takes "
                                                        "a list)", what);
                        r = ld_strs(x, v[k], what, c);
                        break;
                case K_ONE_OF:
                        c->op = OP_EQ;
                        r = ld_strs(x, v[k], what, c);
                        break;
                case K_PREFIX: c->op = OP_PREFIX; r = ld_strs(x, v[k], what, c); break;
                case K_SUFFIX: c->op = OP_SUFFIX; r = ld_strs(x, v[k], what, c); break;
                case K_CONTAINS: c->op = OP_CONTAINS; r = ld_strs(x, v[k], what, c); break;
                case K_EXISTS: c->op = OP_EXISTS; r = ld_bool(x, v[k], what, &c->exists); break;
                case K_LT: c->op = OP_LT; r = ld_number(x, v[k], what, &c->num); break;
                case K_LE: c->op = OP_LE; r = ld_number(x, v[k], what, &c->num); break;
                case K_GT: c->op = OP_GT; r = ld_number(x, v[k], what, &c->num); break;
                case K_GE: c->op = OP_GE; r = ld_number(x, v[k], what, &c->num); break;
                case K_REGEX: c->op = OP_REGEX; r = ld_regex(x, v[k], what, c); break;
                }
                if (r < 0)
                        return r;
        }
        if (!any)
                return ld_fail(x, n, "%s: expected at least one operator (%s)", what,
                               "equals, one_of, prefix, suffix, contains, exists, lt, le, gt, "
                               "ge, regex");
        return 0;
}

/* A list of match mappings, each one `all` kid of c. */
static int ld_match_list(struct ld *x, yaml_node_t *n, const char *what, struct cond *c,
                         unsigned depth)
{
        if (n->type != YAML_SEQUENCE_NODE)
                return ld_fail(x, n, "%s: expected a list of conditions, not %s", what,
                               ld_node_kind(n));
        if (n->data.sequence.items.top == n->data.sequence.items.start)
                return ld_fail(x, n, "%s: empty list", what);
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
                yaml_node_t *v = ld_node(x, *it);
                struct cond *k;
                int r = cond_add(c, &k);

                if (r < 0)
                        return r;
                k->op = OP_ALL;
                if (!v)
                        return ld_fail(x, n, "%s: broken list", what);
                r = ld_match_map(x, v, k, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A match mapping: every key is a field (or all/any/not); all must hold. */
int ld_match_map(struct ld *x, yaml_node_t *n, struct cond *all, unsigned depth)
{
        if (depth > RULES_COND_MAX_DEPTH)
                return ld_fail(x, n, "match: conditions nested more than %d deep",
                               RULES_COND_MAX_DEPTH);
        if (n->type != YAML_MAPPING_NODE)
                return ld_fail(x, n, "match: expected a mapping of field: condition, not %s",
                               ld_node_kind(n));
        if (n->data.mapping.pairs.top == n->data.mapping.pairs.start)
                return ld_fail(x, n, "match: empty (a rule must match on something)");
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
             pr++) {
                yaml_node_t *k = ld_node(x, pr->key), *v = ld_node(x, pr->value);
                const char *key;
                struct cond *c;
                int r;

                if (!k || !v)
                        return ld_fail(x, n, "match: broken mapping");
                r = ld_count(x, k);
                if (r < 0)
                        return r;
                r = ld_scalar(x, k, "match", &key);
                if (r < 0)
                        return r;
                if (!strcmp(key, "all") || !strcmp(key, "any")) {
                        r = cond_add(all, &c);
                        if (r < 0)
                                return r;
                        c->op = key[1] == 'l' ? OP_ALL : OP_ANY;
                        r = ld_match_list(x, v, key[1] == 'l' ? "match.all" : "match.any", c,
                                          depth);
                } else if (!strcmp(key, "not")) {
                        struct cond *kid;

                        r = cond_add(all, &c);
                        if (r < 0)
                                return r;
                        c->op = OP_NOT;
                        r = cond_add(c, &kid);
                        if (r < 0)
                                return r;
                        kid->op = OP_ALL;
                        r = ld_match_map(x, v, kid, depth + 1);
                } else if (!ld_path_valid(key)) {
                        return ld_fail(x, k, "match: '%s' is not a field path (names of "
                                             "A-Z a-z 0-9 _ @ - joined by dots)", key);
                } else if (v->type == YAML_MAPPING_NODE) {
                        r = ld_field_ops(x, key, v, all);
                } else {
                        char what[300];

                        snprintf(what, sizeof(what), "match.%s", key);
                        r = cond_add(all, &c);
                        if (r < 0)
                                return r;
                        c->op = OP_EQ;
                        r = ld_strdup(x, key, strlen(key), &c->path);
                        if (r == 0)
                                r = ld_strs(x, v, what, c);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}
