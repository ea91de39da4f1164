/* YAML walking helpers shared by the configuration's sections (see config-yaml.h). */
#include "cli/config-yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cfg_fail(struct cfg_ctx *x, const yaml_node_t *n, const char *fmt, ...)
{
        char msg[180];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        x->err->line = (unsigned)n->start_mark.line + 1;
        x->err->column = (unsigned)n->start_mark.column + 1;
        if (x->path[0])
                snprintf(x->err->msg, sizeof(x->err->msg), "%.90s: %.160s", x->path, msg);
        else
                snprintf(x->err->msg, sizeof(x->err->msg), "%s", msg);
        return -EINVAL;
}

yaml_node_t *cfg_node(struct cfg_ctx *x, int id)
{
        return yaml_document_get_node(x->doc, id);
}

int cfg_map_each(struct cfg_ctx *x, yaml_node_t *n,
                 int (*fn)(struct cfg_ctx *x, const char *key, yaml_node_t *v, void *obj),
                 void *obj)
{
        size_t plen = strlen(x->path);
        int r = 0;

        if (n->type != YAML_MAPPING_NODE)
                return cfg_fail(x, n, "expected a mapping");
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             p < n->data.mapping.pairs.top && r >= 0; p++) {
                yaml_node_t *k = cfg_node(x, p->key);
                const char *name;

                r = cfg_scalar(x, k, &name);
                if (r < 0)
                        return r;
                for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
                        yaml_node_t *kq = cfg_node(x, q->key);

                        if (kq->type == YAML_SCALAR_NODE &&
                            !strcmp((const char *)kq->data.scalar.value, name))
                                return cfg_fail(x, k, "duplicate key '%s'", name);
                }
                snprintf(x->path + plen, sizeof(x->path) - plen, "%s%s", plen ? "." : "",
                         name);
                r = fn(x, name, cfg_node(x, p->value), obj);
                x->path[plen] = '\0';
                if (r == 1)
                        return cfg_fail(x, k, "unknown key '%s'", name);
        }
        return r;
}

int cfg_scalar(struct cfg_ctx *x, yaml_node_t *n, const char **ret)
{
        const char *s;

        if (n->type != YAML_SCALAR_NODE)
                return cfg_fail(x, n, "expected a value, not a %s",
                                n->type == YAML_MAPPING_NODE ? "mapping" : "list");
        s = (const char *)n->data.scalar.value;
        if (strlen(s) != n->data.scalar.length)
                return cfg_fail(x, n, "value contains a NUL byte");
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
             !strcmp(s, "NULL")))
                return cfg_fail(x, n, "missing value");
        *ret = s;
        return 0;
}

int cfg_text(struct cfg_ctx *x, yaml_node_t *n, const char **ret)
{
        int r = cfg_scalar(x, n, ret);

        if (r == 0 && !**ret)
                return cfg_fail(x, n, "must not be empty");
        return r;
}

int cfg_string(struct cfg_ctx *x, yaml_node_t *n, char **dst)
{
        const char *s;
        char *copy;
        int r = cfg_text(x, n, &s);

        if (r < 0)
                return r;
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        free(*dst);
        *dst = copy;
        return 0;
}

size_t cfg_seq_len(const yaml_node_t *n)
{
        return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

int cfg_bool(struct cfg_ctx *x, yaml_node_t *n, bool *ret)
{
        const char *s;
        int r = cfg_scalar(x, n, &s);

        if (r < 0)
                return r;
        if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
                return cfg_fail(x, n, "expected true or false, not '%s'", s);
        *ret = !strcmp(s, "true");
        return 0;
}

bool cfg_name_valid(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > CFG_NAME_MAX)
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
               n;
}

int cfg_name(struct cfg_ctx *x, yaml_node_t *n, char **dst)
{
        int r = cfg_string(x, n, dst);

        if (r < 0)
                return r;
        if (!cfg_name_valid(*dst)) {
                cfg_fail(x, n, "'%s' is not a name (1-%d of A-Z a-z 0-9 . _ -)", *dst,
                         CFG_NAME_MAX);
                return -EINVAL;
        }
        return 0;
}
