/* Loading a rule pack, the YAML walking helpers: scalars, booleans, record paths, the
 * fixed-key mappings every part of a rule is written as, and the one way to fail with
 * file:line:column (1-based). Load time only; nothing here logs. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules-load-int.h"

/* Counts one built node; fails past the cap. */
int ld_count(struct ld *x, const yaml_node_t *n)
{
        if (++x->nodes > RULES_NODES_MAX)
                return ld_fail_at(x, &n->start_mark, "the file expands to more than %d "
                                  "conditions and test values (YAML aliases?)", RULES_NODES_MAX);
        return 0;
}

__attribute__((format(printf, 3, 4)))
int ld_fail_at(struct ld *x, const yaml_mark_t *m, const char *fmt, ...)
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

yaml_node_t *ld_node(struct ld *x, int id)
{
        return yaml_document_get_node(x->doc, id);
}

const char *ld_node_kind(const yaml_node_t *n)
{
        switch (n->type) {
        case YAML_SCALAR_NODE: return "a value";
        case YAML_SEQUENCE_NODE: return "a list";
        case YAML_MAPPING_NODE: return "a mapping";
        default: return "nothing";
        }
}

bool ld_scalar_is_null(const yaml_node_t *n)
{
        const char *s = (const char *)n->data.scalar.value;

        return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
                !strcmp(s, "NULL"));
}

/* A scalar's text (NUL-free, not YAML's null). */
int ld_scalar(struct ld *x, yaml_node_t *n, const char *what, const char **ret)
{
        if (n->type != YAML_SCALAR_NODE)
                return ld_fail(x, n, "%s: expected a value, not %s", what, ld_node_kind(n));
        if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
                return ld_fail(x, n, "%s: value contains a NUL byte", what);
        if (ld_scalar_is_null(n))
                return ld_fail(x, n, "%s: missing value", what);
        *ret = (const char *)n->data.scalar.value;
        return 0;
}

int ld_bool(struct ld *x, yaml_node_t *n, const char *what, bool *ret)
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

int ld_strdup(struct ld *x, const char *s, size_t n, char **ret)
{
        char *c = strndup(s, n);

        (void)x;
        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

/* A record path: segments of [A-Za-z0-9_@-] joined by single dots, at most 256 bytes. */
bool ld_path_valid(const char *s)
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
int ld_keys(struct ld *x, yaml_node_t *map, const char *what, const char *const *names,
            size_t n_names, yaml_node_t **vals)
{
        memset(vals, 0, n_names * sizeof(*vals));
        if (map->type != YAML_MAPPING_NODE)
                return ld_fail(x, map, "%s: expected a mapping, not %s", what, ld_node_kind(map));
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
