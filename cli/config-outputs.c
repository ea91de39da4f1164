/* The configuration's outputs list: named folder and S3 exports (the `s3:` block is parsed
 * in config-outputs-s3.c); names are unique, and each type takes its own keys only. Nothing
 * here logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config-int.h"
#include "cli/config-outputs-s3.h"  /* S3 exports (issue 7) */

static int parse_out_name(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_name(x, n, &((struct config_output *)obj)->name);
}

static int parse_out_type(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config_output *o = obj;
        int r = cfg_string(x, n, &o->type);

        if (r == 0 && strcmp(o->type, "folder") != 0 && strcmp(o->type, "s3") != 0)
                return cfg_fail(x, n, "unknown output type '%s' (folder, s3)", o->type);
        return r;
}

static int parse_out_path(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config_output *)obj)->path);
}

/* S3 exports (issue 7): the `s3:` block is parsed in cli/config-outputs-s3.c. */
static int parse_out_s3(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return config_s3_parse(x->doc, n, x->path, &((struct config_output *)obj)->s3, x->err);
}

static const struct cfg_key output_keys[] = {
        { "name", parse_out_name },
        { "type", parse_out_type },
        { "path", parse_out_path },
        { "s3", parse_out_s3 },  /* issue 7 */
        { NULL, NULL },
};

static int parse_output(struct cfg_ctx *x, yaml_node_t *n, struct config *c, size_t i)
{
        struct config_output *o = &c->outputs[i];
        const char *missing = NULL;
        int r = cfg_map(x, n, output_keys, o);

        if (r < 0)
                return r;
        if (!o->name)
                missing = "name";
        else if (!o->type)
                missing = "type";
        else if (!o->path && !strcmp(o->type, "folder"))
                missing = "path";
        else if (!o->s3 && !strcmp(o->type, "s3"))  /* issue 7 */
                missing = "s3";
        if (missing)
                return cfg_fail(x, n, "missing key '%s'", missing);
        if (strcmp(o->type, "folder") ? o->path != NULL : o->s3 != NULL)  /* issue 7 */
                return cfg_fail(x, n, "'%s' belongs to the other output type",
                                strcmp(o->type, "folder") ? "path" : "s3");
        for (size_t k = 0; k < i; k++)
                if (!strcmp(c->outputs[k].name, o->name)) {
                        /* Point at the duplicate's name, where the fix goes. */
                        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
                             p < n->data.mapping.pairs.top; p++)
                                if (!strcmp((char *)cfg_node(x, p->key)->data.scalar.value,
                                            "name"))
                                        n = cfg_node(x, p->value);
                        return cfg_fail(x, n, "duplicate output name '%s'", o->name);
                }
        return 0;
}

void cfg_outputs_free(struct config *c)
{
        for (size_t i = 0; i < c->n_outputs; i++) {
                free(c->outputs[i].name);
                free(c->outputs[i].type);
                free(c->outputs[i].path);
                config_s3_free(c->outputs[i].s3);  /* issue 7 */
        }
        free(c->outputs);
        c->outputs = NULL;
        c->n_outputs = 0;
}

int cfg_parse_outputs(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        size_t plen = strlen(x->path), len;

        if (n->type != YAML_SEQUENCE_NODE)
                return cfg_fail(x, n, "expected a list of outputs");
        cfg_outputs_free(c);
        x->outputs_given = true;
        len = cfg_seq_len(n);
        if (len == 0)
                return 0;
        c->outputs = calloc(len, sizeof(*c->outputs));
        if (!c->outputs)
                return -ENOMEM;
        c->n_outputs = len;
        for (size_t i = 0; i < len; i++) {
                int r;

                snprintf(x->path + plen, sizeof(x->path) - plen, "[%zu]", i);
                r = parse_output(x, cfg_node(x, n->data.sequence.items.start[i]), c, i);
                x->path[plen] = '\0';
                if (r < 0)
                        return r;
        }
        return 0;
}
