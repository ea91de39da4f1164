/* Loading a rule pack: YAML files (libyaml's document API) into struct rules_pack.
 *
 * Load time is where every mistake is caught, so that the daemon never meets a bad rule at
 * run time: unknown and duplicate keys, wrong types, PCRE2 compile errors (with PCRE2's own
 * message, and the column of the offending character when the pattern is written on one
 * line), criterion IDs that are not in the 2017 TSC, duplicate rule ids, template
 * references to captures or fields that cannot exist, and inline tests' shapes. The first
 * error stops the load and is reported with file:line:column (1-based). The walk is
 * bounded: conditions nest at most RULES_COND_MAX_DEPTH deep, so YAML alias cycles cannot
 * make it loop. Nothing here logs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "rules/rules-internal.h"

struct ld {
        yaml_document_t *doc;
        const char *file;              /* as given: errors and tests name it */
        const struct rules_options *opt;
        struct rules_error *err;
        struct rules_pack *p;
        size_t rules_alloc;
        struct rule *r;                /* the rule being loaded */
        size_t nodes;                  /* conditions and test values built from this file */
};

/* YAML aliases can repeat a node without end in breadth ("billion laughs"): a file may
 * build at most this many conditions and test values, far above any real pack. */
#define RULES_NODES_MAX 200000

static int ld_fail_at(struct ld *x, const yaml_mark_t *m, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Counts one built node; fails past the cap. */
static int ld_count(struct ld *x, const yaml_node_t *n)
{
        if (++x->nodes > RULES_NODES_MAX)
                return ld_fail_at(x, &n->start_mark, "the file expands to more than %d "
                                  "conditions and test values (YAML aliases?)", RULES_NODES_MAX);
        return 0;
}

__attribute__((format(printf, 3, 4)))
static int ld_fail_at(struct ld *x, const yaml_mark_t *m, const char *fmt, ...)
{
        va_list ap;

        snprintf(x->err->file, sizeof(x->err->file), "%s", x->file);
        x->err->line = m ? (unsigned)m->line + 1 : 0;
        x->err->column = m ? (unsigned)m->column + 1 : 0;
        va_start(ap, fmt);
        vsnprintf(x->err->msg, sizeof(x->err->msg), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

#define ld_fail(x, node, ...) ld_fail_at((x), &(node)->start_mark, __VA_ARGS__)

static yaml_node_t *ld_node(struct ld *x, int id)
{
        return yaml_document_get_node(x->doc, id);
}

static const char *node_kind(const yaml_node_t *n)
{
        switch (n->type) {
        case YAML_SCALAR_NODE: return "a value";
        case YAML_SEQUENCE_NODE: return "a list";
        case YAML_MAPPING_NODE: return "a mapping";
        default: return "nothing";
        }
}

static bool scalar_is_null(const yaml_node_t *n)
{
        const char *s = (const char *)n->data.scalar.value;

        return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
                !strcmp(s, "NULL"));
}

/* A scalar's text (NUL-free, not YAML's null). */
static int ld_scalar(struct ld *x, yaml_node_t *n, const char *what, const char **ret)
{
        if (n->type != YAML_SCALAR_NODE)
                return ld_fail(x, n, "%s: expected a value, not %s", what, node_kind(n));
        if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
                return ld_fail(x, n, "%s: value contains a NUL byte", what);
        if (scalar_is_null(n))
                return ld_fail(x, n, "%s: missing value", what);
        *ret = (const char *)n->data.scalar.value;
        return 0;
}

static int ld_bool(struct ld *x, yaml_node_t *n, const char *what, bool *ret)
{
        const char *s = NULL; /* ld_scalar sets it on success; gcc -O3 cannot see that */
        int r = ld_scalar(x, n, what, &s);

        if (r < 0)
                return r;
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(s, "true"))
                *ret = true;
        else if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(s, "false"))
                *ret = false;
        else
                return ld_fail(x, n, "%s: expected true or false, not '%s'", what, s);
        return 0;
}

static int ld_strdup(struct ld *x, const char *s, size_t n, char **ret)
{
        char *c = strndup(s, n);

        (void)x;
        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

/* A record path: segments of [A-Za-z0-9_@-] joined by single dots, at most 256 bytes. */
static bool path_valid(const char *s)
{
        size_t seg = 0, n = 0;

        for (; *s; s++, n++) {
                if (*s == '.') {
                        if (!seg)
                                return false;
                        seg = 0;
                } else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                           (*s >= '0' && *s <= '9') || *s == '_' || *s == '@' || *s == '-') {
                        seg++;
                } else {
                        return false;
                }
        }
        return seg > 0 && n <= 256;
}

/* Collects a mapping's values by key from a fixed list; unknown or repeated keys fail. */
static int ld_keys(struct ld *x, yaml_node_t *map, const char *what, const char *const *names,
                   size_t n_names, yaml_node_t **vals)
{
        memset(vals, 0, n_names * sizeof(*vals));
        if (map->type != YAML_MAPPING_NODE)
                return ld_fail(x, map, "%s: expected a mapping, not %s", what, node_kind(map));
        for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
             pr < map->data.mapping.pairs.top; pr++) {
                yaml_node_t *k = ld_node(x, pr->key), *v = ld_node(x, pr->value);
                const char *key;
                size_t i;
                int r;

                if (!k || !v)
                        return ld_fail(x, map, "%s: broken mapping", what);
                r = ld_scalar(x, k, what, &key);
                if (r < 0)
                        return r;
                for (i = 0; i < n_names; i++)
                        if (!strcmp(key, names[i]))
                                break;
                if (i == n_names) {
                        char list[160] = "";
                        for (size_t j = 0; j < n_names; j++)
                                snprintf(list + strlen(list), sizeof(list) - strlen(list),
                                         "%s%s", j ? ", " : "", names[j]);
                        return ld_fail(x, k, "%s: unknown key '%s' (expected one of: %s)", what,
                                       key, list);
                }
                if (vals[i])
                        return ld_fail(x, k, "%s: duplicate key '%s'", what, key);
                vals[i] = v;
        }
        return 0;
}

/* ---- Conditions ---- */

static int ld_match_map(struct ld *x, yaml_node_t *n, struct cond *all, unsigned depth);

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
                               node_kind(n));
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
                if (v->type == YAML_SCALAR_NODE && scalar_is_null(v))
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
        (void)pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE);
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
                               node_kind(n));
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
static int ld_match_map(struct ld *x, yaml_node_t *n, struct cond *all, unsigned depth)
{
        if (depth > RULES_COND_MAX_DEPTH)
                return ld_fail(x, n, "match: conditions nested more than %d deep",
                               RULES_COND_MAX_DEPTH);
        if (n->type != YAML_MAPPING_NODE)
                return ld_fail(x, n, "match: expected a mapping of field: condition, not %s",
                               node_kind(n));
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
                } else if (!path_valid(key)) {
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

/* ---- Sets and templates ---- */

/* Record members a template may name without a dot (a typo of a capture name fails). */
static const char *const record_members[] = {
        "received", "time", "source", "format", "host", "app", "msgid", "pid", "procid",
        "facility", "severity", "message", "sd", "rule", "actor", "action", "target",
        "outcome", "event", "journal", "raw_sha256",
};

static int tmpl_add(struct tmpl *t, struct tpart **ret)
{
        struct tpart *p = realloc(t->parts, (t->n_parts + 1) * sizeof(*p));

        if (!p)
                return -ENOMEM;
        t->parts = p;
        *ret = &p[t->n_parts++];
        memset(*ret, 0, sizeof(**ret));
        return 0;
}

static int tmpl_ref(struct ld *x, yaml_node_t *n, const char *what, const char *s, size_t len,
                    struct tmpl *t)
{
        const char *bar = memchr(s, '|', len);
        size_t nlen = bar ? (size_t)(bar - s) : len;
        struct tpart *p;
        char name[260];
        size_t i;
        int r;

        if (!nlen || nlen >= sizeof(name))
                return ld_fail(x, n, "%s: empty or too long {reference}", what);
        memcpy(name, s, nlen);
        name[nlen] = 0;
        r = tmpl_add(t, &p);
        if (r < 0)
                return r;
        if (bar) {
                r = ld_strdup(x, bar + 1, len - nlen - 1, &p->dflt);
                if (r < 0)
                        return r;
        }
        for (i = 0; i < x->r->n_caps; i++)
                if (!strcmp(x->r->cap_names[i], name)) {
                        p->kind = TP_CAPTURE;
                        p->slot = (int)i;
                        return 0;
                }
        if (!path_valid(name))
                return ld_fail(x, n, "%s: '{%s}' is not a capture name or a field path", what,
                               name);
        if (!strchr(name, '.')) {
                for (i = 0; i < sizeof(record_members) / sizeof(record_members[0]); i++)
                        if (!strcmp(record_members[i], name))
                                break;
                if (i == sizeof(record_members) / sizeof(record_members[0])) {
                        char caps[160] = "";
                        for (size_t j = 0; j < x->r->n_caps; j++)
                                snprintf(caps + strlen(caps), sizeof(caps) - strlen(caps),
                                         "%s%s", j ? ", " : "", x->r->cap_names[j]);
                        return ld_fail(x, n, "%s: '{%s}' is neither a named capture of this "
                                             "rule (%s) nor a record member", what, name,
                                       caps[0] ? caps : "it has none");
                }
        }
        p->kind = TP_FIELD;
        return ld_strdup(x, name, nlen, &p->text);
}

/* "text {capture} {field.path|default} {{literal braces}}" */
static int ld_template(struct ld *x, yaml_node_t *n, const char *what, struct tmpl *t)
{
        const char *s;
        struct buf lit = BUF_INIT;
        int r = ld_scalar(x, n, what, &s);

        if (r < 0)
                return r;
        for (const char *c = s; *c && r == 0; c++) {
                if ((c[0] == '{' && c[1] == '{') || (c[0] == '}' && c[1] == '}')) {
                        r = buf_putc(&lit, *c);
                        c++;
                } else if (*c == '}') {
                        r = ld_fail(x, n, "%s: '}' without '{' (write '}}' for a brace)", what);
                } else if (*c == '{') {
                        const char *end = strchr(c, '}');
                        struct tpart *p;

                        if (!end) {
                                r = ld_fail(x, n, "%s: '{' without '}' (write '{{' for a "
                                                  "brace)", what);
                                break;
                        }
                        if (lit.len) {
                                r = tmpl_add(t, &p);
                                if (r < 0)
                                        break;
                                p->kind = TP_TEXT;
                                p->len = lit.len;
                                p->text = buf_steal(&lit, NULL);
                                if (!p->text)
                                        r = -ENOMEM;
                        }
                        if (r == 0)
                                r = tmpl_ref(x, n, what, c + 1, (size_t)(end - c - 1), t);
                        c = end;
                } else {
                        r = buf_putc(&lit, *c);
                }
        }
        if (r == 0 && (lit.len || !t->n_parts)) {
                struct tpart *p;

                r = tmpl_add(t, &p);
                if (r == 0) {
                        p->kind = TP_TEXT;
                        p->len = lit.len;
                        p->text = lit.len ? buf_steal(&lit, NULL) : strdup("");
                        if (!p->text)
                                r = -ENOMEM;
                }
        }
        buf_free(&lit);
        return r;
}

static bool tmpl_is_literal(const struct tmpl *t, const char **ret)
{
        if (t->n_parts != 1 || t->parts[0].kind != TP_TEXT)
                return false;
        *ret = t->parts[0].text;
        return true;
}

static bool name_word(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
                        return false;
        return true;
}

static const char *const severities[] = {
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

/* One template, or a list of alternatives (the first whose references all resolve). */
static int ld_set_value(struct ld *x, yaml_node_t *v, const char *what, struct set_item *si)
{
        yaml_node_item_t *items = NULL;
        size_t count = 1;

        if (v->type == YAML_SEQUENCE_NODE) {
                items = v->data.sequence.items.start;
                count = (size_t)(v->data.sequence.items.top - items);
                if (!count)
                        return ld_fail(x, v, "%s: empty list", what);
        }
        si->t = calloc(count, sizeof(*si->t));
        if (!si->t)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                yaml_node_t *n = items ? ld_node(x, items[i]) : v;
                int r;

                if (!n)
                        return ld_fail(x, v, "%s: broken list", what);
                si->n_t++;
                r = ld_template(x, n, what, &si->t[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int ld_set(struct ld *x, yaml_node_t *n)
{
        if (n->type != YAML_MAPPING_NODE)
                return ld_fail(x, n, "set: expected a mapping of field: value, not %s",
                               node_kind(n));
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
             pr++) {
                yaml_node_t *k = ld_node(x, pr->key), *v = ld_node(x, pr->value);
                struct rule *rl = x->r;
                struct set_item *si;
                const char *key, *lit;
                char what[300];
                int r;

                if (!k || !v)
                        return ld_fail(x, n, "set: broken mapping");
                r = ld_scalar(x, k, "set", &key);
                if (r < 0)
                        return r;
                if (!(!strcmp(key, "action") || !strcmp(key, "outcome") ||
                      !strcmp(key, "severity") ||
                      (!strncmp(key, "actor.", 6) && name_word(key + 6)) ||
                      (!strncmp(key, "target.", 7) && name_word(key + 7))))
                        return ld_fail(x, k, "set: rules set action, outcome, severity, "
                                             "actor.NAME or target.NAME, not '%s'", key);
                for (size_t i = 0; i < rl->n_sets; i++)
                        if (!strcmp(rl->sets[i].path, key))
                                return ld_fail(x, k, "set: duplicate key '%s'", key);
                si = realloc(rl->sets, (rl->n_sets + 1) * sizeof(*si));
                if (!si)
                        return -ENOMEM;
                rl->sets = si;
                si = &si[rl->n_sets++];
                memset(si, 0, sizeof(*si));
                r = ld_strdup(x, key, strlen(key), &si->path);
                if (r < 0)
                        return r;
                snprintf(what, sizeof(what), "set.%s", key);
                r = ld_set_value(x, v, what, si);
                if (r < 0)
                        return r;
                if (!strcmp(key, "outcome")) {
                        if (si->n_t != 1 || !tmpl_is_literal(&si->t[0], &lit) ||
                            (strcmp(lit, "success") && strcmp(lit, "failure") &&
                             strcmp(lit, "unknown")))
                                return ld_fail(x, v, "%s: expected success, failure or unknown",
                                               what);
                } else if (!strcmp(key, "severity")) {
                        size_t i, ns = sizeof(severities) / sizeof(severities[0]);

                        if (si->n_t != 1 || !tmpl_is_literal(&si->t[0], &lit))
                                return ld_fail(x, v, "%s: expected a syslog severity keyword",
                                               what);
                        for (i = 0; i < ns; i++)
                                if (!strcmp(lit, severities[i]))
                                        break;
                        if (i == ns)
                                return ld_fail(x, v, "%s: expected emerg, alert, crit, err, "
                                                     "warning, notice, info or debug, not '%s'",
                                               what, lit);
                }
        }
        return 0;
}

/* ---- Criteria, redactions ---- */

static int ld_criterion(struct ld *x, yaml_node_t *v)
{
        const char *s = NULL; /* as in ld_bool */
        int r = ld_scalar(x, v, "criteria", &s), i;

        if (r < 0)
                return r;
        i = rules_criterion_index(s);
        if (i < 0)
                return ld_fail(x, v, "criteria: unknown criterion '%s' (the 2017 Trust "
                                     "Services Criteria are CC1.1-CC1.5, CC2.1-CC2.3, "
                                     "CC3.1-CC3.4, CC4.1-CC4.2, CC5.1-CC5.3, CC6.1-CC6.8, "
                                     "CC7.1-CC7.5, CC8.1, CC9.1-CC9.2, A1.1-A1.3, "
                                     "PI1.1-PI1.5, C1.1-C1.2, P1.1-P8.1)", s);
        x->r->criteria |= (uint64_t)1 << i;
        return 0;
}

static int ld_criteria(struct ld *x, yaml_node_t *n)
{
        if (n->type == YAML_SCALAR_NODE)
                return ld_criterion(x, n);
        if (n->type != YAML_SEQUENCE_NODE)
                return ld_fail(x, n, "criteria: expected a list of criterion IDs, not %s",
                               node_kind(n));
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
                yaml_node_t *v = ld_node(x, *it);
                int r;

                if (!v)
                        return ld_fail(x, n, "criteria: broken list");
                r = ld_criterion(x, v);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int redact_add(struct ld *x, const char *path, enum redact_how how)
{
        struct rule *rl = x->r;
        struct redact_item *ri = realloc(rl->redacts, (rl->n_redacts + 1) * sizeof(*ri));

        if (!ri)
                return -ENOMEM;
        rl->redacts = ri;
        ri = &ri[rl->n_redacts];
        ri->how = how;
        ri->path = strdup(path);
        if (!ri->path)
                return -ENOMEM;
        rl->n_redacts++;
        return 0;
}

static int ld_redact(struct ld *x, yaml_node_t *n)
{
        if (n->type != YAML_MAPPING_NODE)
                return ld_fail(x, n, "redact: expected a mapping of field: mask|hash|remove, "
                                     "not %s", node_kind(n));
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
             pr++) {
                yaml_node_t *k = ld_node(x, pr->key), *v = ld_node(x, pr->value);
                const char *key, *how;
                enum redact_how h;
                char what[300];
                int r;

                if (!k || !v)
                        return ld_fail(x, n, "redact: broken mapping");
                r = ld_scalar(x, k, "redact", &key);
                if (r < 0)
                        return r;
                if (!path_valid(key))
                        return ld_fail(x, k, "redact: '%s' is not a field path", key);
                snprintf(what, sizeof(what), "redact.%s", key);
                r = ld_scalar(x, v, what, &how);
                if (r < 0)
                        return r;
                if (!strcmp(how, "mask"))
                        h = REDACT_MASK;
                else if (!strcmp(how, "hash"))
                        h = REDACT_HASH;
                else if (!strcmp(how, "remove"))
                        h = REDACT_REMOVE;
                else
                        return ld_fail(x, v, "%s: expected mask, hash or remove, not '%s'", what,
                                       how);
                if (h == REDACT_HASH && (!x->opt || !x->opt->hmac_key))
                        return ld_fail(x, v, "%s: a keyed hash needs an HMAC key (rules.hmac_key "
                                             "in the configuration, --hmac-key for the rules "
                                             "commands)", what);
                r = redact_add(x, key, h);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- Inline tests ---- */

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
                if (scalar_is_null(n))
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
                                               "value, not %s", node_kind(v[T_EXPECT]));
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
                if (!path_valid(key))
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

static int ld_tests(struct ld *x, yaml_node_t *n)
{
        struct rule *rl = x->r;
        size_t count;

        if (n->type != YAML_SEQUENCE_NODE)
                return ld_fail(x, n, "tests: expected a list of tests, not %s", node_kind(n));
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

/* ---- Rules and files ---- */

static const char *const rule_keys[] = {
        "id", "description", "match", "set", "criteria", "continue", "drop", "redact",
        "withhold_raw", "tests",
};
enum { R_ID, R_DESC, R_MATCH, R_SET, R_CRITERIA, R_CONTINUE, R_DROP, R_REDACT, R_WITHHOLD,
       R_TESTS, R__N };

static int ld_rule_id(struct ld *x, yaml_node_t *n, struct rule *rl)
{
        const char *id;
        int r = ld_scalar(x, n, "id", &id);

        if (r < 0)
                return r;
        if (strlen(id) > 64 || !path_valid(id) || !strcmp(id, "unmapped"))
                return ld_fail(x, n, "id: '%s' is not a rule id (1-64 characters of "
                                     "A-Z a-z 0-9 . _ @ -, not 'unmapped')", id);
        for (size_t i = 0; i + 1 < x->p->n_rules; i++) {
                const struct rule *o = &x->p->rules[i];

                if (!strcmp(o->id, id))
                        return ld_fail(x, n, "id: duplicate rule id '%s' (first defined at "
                                             "%s:%u:%u)", id, o->file, o->info.line,
                                       o->info.column);
        }
        return ld_strdup(x, id, strlen(id), &rl->id);
}

static int ld_rule(struct ld *x, yaml_node_t *n)
{
        yaml_node_t *v[R__N];
        struct rule *rl;
        bool withhold = false;
        int r;

        if (x->p->n_rules == x->rules_alloc) {
                size_t na = x->rules_alloc ? 2 * x->rules_alloc : 32;
                struct rule *nr = realloc(x->p->rules, na * sizeof(*nr));

                if (!nr)
                        return -ENOMEM;
                x->p->rules = nr;
                x->rules_alloc = na;
        }
        rl = x->r = &x->p->rules[x->p->n_rules++];
        memset(rl, 0, sizeof(*rl));
        rl->match.op = OP_ALL;
        r = ld_strdup(x, x->file, strlen(x->file), &rl->file);
        if (r < 0)
                return r;
        rl->info.line = (unsigned)n->start_mark.line + 1;
        rl->info.column = (unsigned)n->start_mark.column + 1;
        r = ld_keys(x, n, "rule", rule_keys, R__N, v);
        if (r < 0)
                return r;
        if (!v[R_ID])
                return ld_fail(x, n, "rule: missing 'id'");
        r = ld_rule_id(x, v[R_ID], rl);
        if (r < 0)
                return r;
        if (!v[R_DESC])
                return ld_fail(x, n, "rule %s: missing 'description'", rl->id);
        r = ld_scalar(x, v[R_DESC], "description", (const char **)&rl->description);
        if (r == 0)
                r = ld_strdup(x, rl->description, strlen(rl->description), &rl->description);
        if (r < 0) {
                rl->description = NULL;
                return r;
        }
        if (!v[R_MATCH])
                return ld_fail(x, n, "rule %s: missing 'match'", rl->id);
        r = ld_match_map(x, v[R_MATCH], &rl->match, 0);
        if (r == 0 && v[R_SET])
                r = ld_set(x, v[R_SET]);
        if (r == 0 && v[R_CRITERIA])
                r = ld_criteria(x, v[R_CRITERIA]);
        if (r == 0 && v[R_CONTINUE])
                r = ld_bool(x, v[R_CONTINUE], "continue", &rl->cont);
        if (r == 0 && v[R_DROP])
                r = ld_bool(x, v[R_DROP], "drop", &rl->drop);
        if (r == 0 && v[R_REDACT])
                r = ld_redact(x, v[R_REDACT]);
        if (r == 0 && v[R_WITHHOLD])
                r = ld_bool(x, v[R_WITHHOLD], "withhold_raw", &withhold);
        if (r == 0 && withhold) {
                r = redact_add(x, "message", REDACT_REMOVE);
                if (r == 0)
                        r = redact_add(x, "raw", REDACT_REMOVE);
                if (r == 0)
                        r = redact_add(x, "raw_b64", REDACT_REMOVE);
        }
        if (r < 0)
                return r;
        if (rl->drop && (v[R_SET] || v[R_CRITERIA] || v[R_CONTINUE] || v[R_REDACT] ||
                         v[R_WITHHOLD]))
                return ld_fail(x, v[R_DROP], "drop: a drop rule discards the event, so it "
                                             "takes no set, criteria, continue, redact or "
                                             "withhold_raw");
        if (v[R_TESTS]) {
                r = ld_tests(x, v[R_TESTS]);
                if (r < 0)
                        return r;
        }
        {
                struct buf ct = BUF_INIT;

                for (size_t i = 0; r == 0 && i < rules_criteria_count(); i++)
                        if (rl->criteria & ((uint64_t)1 << i))
                                r = buf_printf(&ct, "%s%s", ct.len ? " " : "",
                                               rules_criterion_at(i));
                rl->criteria_text = r == 0 ? (ct.len ? buf_steal(&ct, NULL) : strdup("")) : NULL;
                buf_free(&ct);
                if (!rl->criteria_text)
                        return -ENOMEM;
        }
        rl->info.criteria = rl->criteria_text;
        rl->info.id = rl->id;
        rl->info.description = rl->description;
        rl->info.file = rl->file;
        rl->info.is_continue = rl->cont;
        rl->info.is_drop = rl->drop;
        return 0;
}

static int ld_document(struct ld *x)
{
        yaml_node_t *root = yaml_document_get_root_node(x->doc), *v[1], *list;
        static const char *const top_keys[] = { "rules" };
        int r;

        if (!root)
                return ld_fail_at(x, NULL, "empty file: expected a mapping with a 'rules' list");
        r = ld_keys(x, root, "top level", top_keys, 1, v);
        if (r < 0)
                return r;
        list = v[0];
        if (!list)
                return ld_fail(x, root, "top level: missing 'rules' (a list of rules)");
        if (list->type != YAML_SEQUENCE_NODE)
                return ld_fail(x, list, "rules: expected a list of rules, not %s",
                               node_kind(list));
        for (yaml_node_item_t *it = list->data.sequence.items.start;
             it < list->data.sequence.items.top; it++) {
                yaml_node_t *n = ld_node(x, *it);

                if (!n)
                        return ld_fail(x, list, "rules: broken list");
                r = ld_rule(x, n);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int ld_yaml_fail(struct ld *x, const yaml_parser_t *ps)
{
        const yaml_mark_t *m = ps->problem ? &ps->problem_mark : &ps->context_mark;

        if (ps->error == YAML_MEMORY_ERROR)
                return -ENOMEM;
        return ld_fail_at(x, m, "YAML: %s%s%s", ps->problem ? ps->problem : "syntax error",
                          ps->context ? " " : "", ps->context ? ps->context : "");
}

static void hash_netstring(EVP_MD_CTX *md, const char *p, size_t n)
{
        char len[32];
        int l = snprintf(len, sizeof(len), "%zu:", n);

        EVP_DigestUpdate(md, len, (size_t)l);
        EVP_DigestUpdate(md, p, n);
}

/* Loads one file's text into the pack being built; hashes its name and bytes. */
static int ld_text(struct ld *x, const char *name, const char *text, size_t len, EVP_MD_CTX *md)
{
        yaml_parser_t ps;
        yaml_document_t doc, extra;
        const char *base = strrchr(name, '/');
        int r;

        base = base ? base + 1 : name;
        hash_netstring(md, base, strlen(base));
        hash_netstring(md, text, len);
        x->file = name;
        x->nodes = 0;
        x->p->n_files++;
        if (len > RULES_FILE_MAX)
                return ld_fail_at(x, NULL, "file larger than %u bytes", RULES_FILE_MAX);
        if (!yaml_parser_initialize(&ps))
                return -ENOMEM;
        yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
        if (!yaml_parser_load(&ps, &doc)) {
                r = ld_yaml_fail(x, &ps);
                yaml_parser_delete(&ps);
                return r;
        }
        if (!yaml_parser_load(&ps, &extra)) {
                r = ld_yaml_fail(x, &ps);
        } else {
                yaml_node_t *n = yaml_document_get_root_node(&extra);

                r = n ? ld_fail(x, n, "a rule file holds one YAML document; remove this one "
                                      "(or its '---')") : 0;
                yaml_document_delete(&extra);
        }
        if (r == 0) {
                x->doc = &doc;
                r = ld_document(x);
                x->doc = NULL;
        }
        yaml_document_delete(&doc);
        yaml_parser_delete(&ps);
        return r;
}

static int read_file(const char *path, char **ret, size_t *ret_len)
{
        struct stat st;
        char *data;
        size_t got = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
                goto out;
        }
        if ((uint64_t)st.st_size > RULES_FILE_MAX) {
                r = -EFBIG;
                goto out;
        }
        data = malloc((size_t)st.st_size + 1);
        if (!data) {
                r = -ENOMEM;
                goto out;
        }
        while (got < (size_t)st.st_size) {
                ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        free(data);
                        goto out;
                }
                got += (size_t)n;
        }
        data[got] = 0;
        *ret = data;
        *ret_len = got;
out:
        close(fd);
        return r;
}

static int ld_file(struct ld *x, const char *path, EVP_MD_CTX *md)
{
        char *text = NULL;
        size_t len = 0;
        int r = read_file(path, &text, &len);

        if (r < 0) {
                x->file = path;
                ld_fail_at(x, NULL, "cannot read: %s", strerror(-r));
                return r == -EINVAL ? -EIO : r;
        }
        r = ld_text(x, path, text, len, md);
        free(text);
        return r;
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool yaml_name(const char *n)
{
        size_t l = strlen(n);

        if (n[0] == '.')
                return false;
        return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml"));
}

static int ld_folder(struct ld *x, const char *path, EVP_MD_CTX *md)
{
        DIR *d = opendir(path);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0, alloc = 0;
        int r = 0;

        if (!d) {
                r = -errno;
                x->file = path;
                ld_fail_at(x, NULL, "cannot open folder: %s", strerror(-r));
                return r;
        }
        while ((de = readdir(d))) {
                if (!yaml_name(de->d_name))
                        continue;
                if (n == alloc) {
                        size_t na = alloc ? 2 * alloc : 16;
                        char **nn = realloc(names, na * sizeof(*nn));
                        if (!nn) {
                                r = -ENOMEM;
                                break;
                        }
                        names = nn;
                        alloc = na;
                }
                if (asprintf(&names[n], "%s/%s", path, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        if (r == 0)
                qsort(names, n, sizeof(*names), name_cmp);
        for (size_t i = 0; r == 0 && i < n; i++)
                r = ld_file(x, names[i], md);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

static int pack_new(const struct rules_options *opt, struct rules_pack **ret,
                    struct rules_error *err)
{
        struct rules_pack *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        if (opt && opt->hmac_key) {
                if (opt->hmac_key_len < RULES_HMAC_KEY_MIN) {
                        free(p);
                        snprintf(err->msg, sizeof(err->msg), "the HMAC key has %zu bytes; at "
                                 "least %d are needed", opt->hmac_key_len, RULES_HMAC_KEY_MIN);
                        return -EINVAL;
                }
                p->hmac_key = malloc(opt->hmac_key_len);
                if (!p->hmac_key) {
                        free(p);
                        return -ENOMEM;
                }
                memcpy(p->hmac_key, opt->hmac_key, opt->hmac_key_len);
                p->hmac_key_len = opt->hmac_key_len;
        }
        *ret = p;
        return 0;
}

static int pack_finish(struct rules_pack *p, EVP_MD_CTX *md)
{
        unsigned char h[EVP_MAX_MD_SIZE];
        unsigned hl = 0;

        if (EVP_DigestFinal_ex(md, h, &hl) != 1 || hl != HASH_LEN)
                return -EIO;
        hash_hex(h, HASH_LEN, p->hash);
        return rules_index_build(p);
}

static int pack_load(const char *const *paths, size_t n_paths, const char *text_name,
                     const char *text, size_t text_len, const struct rules_options *opt,
                     struct rules_pack **ret, struct rules_error *e)
{
        struct rules_error scratch;
        struct rules_error *err = e ? e : &scratch;
        struct ld x = { .opt = opt, .err = err };
        EVP_MD_CTX *md;
        int r;

        memset(err, 0, sizeof(*err));
        r = pack_new(opt, &x.p, err);
        if (r < 0)
                return r;
        md = EVP_MD_CTX_new();
        if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(md);
                rules_pack_free(x.p);
                return -ENOMEM;
        }
        if (text) {
                r = ld_text(&x, text_name, text, text_len, md);
        } else {
                for (size_t i = 0; r == 0 && i < n_paths; i++) {
                        struct stat st;

                        if (stat(paths[i], &st) < 0) {
                                r = -errno;
                                x.file = paths[i];
                                ld_fail_at(&x, NULL, "cannot read: %s", strerror(-r));
                        } else if (S_ISDIR(st.st_mode)) {
                                r = ld_folder(&x, paths[i], md);
                        } else {
                                r = ld_file(&x, paths[i], md);
                        }
                }
        }
        if (r == 0)
                r = pack_finish(x.p, md);
        EVP_MD_CTX_free(md);
        if (r < 0) {
                if (r == -ENOMEM && !err->msg[0])
                        snprintf(err->msg, sizeof(err->msg), "out of memory");
                rules_pack_free(x.p);
                return r;
        }
        *ret = x.p;
        return 0;
}

int rules_pack_load(const char *const *paths, size_t n_paths, const struct rules_options *opt,
                    struct rules_pack **ret, struct rules_error *err)
{
        return pack_load(paths, n_paths, NULL, NULL, 0, opt, ret, err);
}

int rules_pack_load_text(const char *name, const char *text, size_t len,
                         const struct rules_options *opt, struct rules_pack **ret,
                         struct rules_error *err)
{
        return pack_load(NULL, 0, name, text ? text : "", len, opt, ret, err);
}

static void rule_free(struct rule *rl)
{
        free(rl->id);
        free(rl->description);
        free(rl->file);
        free(rl->criteria_text);
        rules_cond_free(&rl->match);
        for (size_t i = 0; i < rl->n_sets; i++) {
                free(rl->sets[i].path);
                for (size_t a = 0; a < rl->sets[i].n_t; a++) {
                        struct tmpl *t = &rl->sets[i].t[a];

                        for (size_t j = 0; j < t->n_parts; j++) {
                                free(t->parts[j].text);
                                free(t->parts[j].dflt);
                        }
                        free(t->parts);
                }
                free(rl->sets[i].t);
        }
        free(rl->sets);
        for (size_t i = 0; i < rl->n_redacts; i++)
                free(rl->redacts[i].path);
        free(rl->redacts);
        for (size_t i = 0; i < rl->n_caps; i++)
                free(rl->cap_names[i]);
        for (size_t i = 0; i < rl->n_tests; i++) {
                struct rtest *t = &rl->tests[i];

                free(t->file);
                free(t->text);
                json_free(t->obj);
                for (size_t j = 0; j < t->n_ex; j++) {
                        free(t->ex[j].path);
                        json_free(t->ex[j].val);
                }
                free(t->ex);
        }
        free(rl->tests);
}

void rules_pack_free(struct rules_pack *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n_rules; i++)
                rule_free(&p->rules[i]);
        free(p->rules);
        for (int d = 0; d < RULES_INDEX_DIMS; d++) {
                for (size_t i = 0; i < p->dims[d].n_entries; i++)
                        free(p->dims[d].entries[i].rules);
                free(p->dims[d].entries);
        }
        free(p->wild);
        pcre2_match_context_free(p->mctx);
        if (p->hmac_key) {
                OPENSSL_cleanse(p->hmac_key, p->hmac_key_len);
                free(p->hmac_key);
        }
        free(p);
}

const char *rules_pack_hash(const struct rules_pack *p)
{
        return p->hash;
}

size_t rules_pack_n_rules(const struct rules_pack *p)
{
        return p->n_rules;
}

size_t rules_pack_n_files(const struct rules_pack *p)
{
        return p->n_files;
}

void rules_error_format(const struct rules_error *err, char *out, size_t len)
{
        if (err->line)
                snprintf(out, len, "%s:%u:%u: %s", err->file, err->line, err->column, err->msg);
        else if (err->file[0])
                snprintf(out, len, "%s: %s", err->file, err->msg);
        else
                snprintf(out, len, "%s", err->msg);
}

int rules_key_load(const char *path, uint8_t **ret_key, size_t *ret_len)
{
        char *text = NULL;
        size_t len = 0;
        int r = read_file(path, &text, &len);

        if (r < 0)
                return r;
        if (len && text[len - 1] == '\n')
                len--;
        if (len < RULES_HMAC_KEY_MIN || len > 4096) {
                OPENSSL_cleanse(text, len);
                free(text);
                return -EINVAL;
        }
        *ret_key = (uint8_t *)text;
        *ret_len = len;
        return 0;
}
