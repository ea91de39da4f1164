/* The YAML walking helpers every configuration section uses (cli/config.c and the
 * config-*.c section files): one way to fail with FILE:LINE:COLUMN, one notion of a missing
 * value, one string reader. Internal to cli/. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "cli/config.h"

struct cfg_ctx {
        yaml_document_t *doc;
        struct config_error *err;
        char path[96];          /* the key being parsed, for messages: "syslog.max_message" */
        bool listen_given, outputs_given;
};

/* Fills the error at node n ("path: message", or the message alone when path is empty) and
 * returns -EINVAL. err->file is the loader's. */
__attribute__((format(printf, 3, 4)))
int cfg_fail(struct cfg_ctx *x, const yaml_node_t *n, const char *fmt, ...);
yaml_node_t *cfg_node(struct cfg_ctx *x, int id);
/* A scalar's text, NUL-free; YAML's null spellings (and a plain empty value) are "missing
 * value". A quoted "" is returned as the empty string. */
int cfg_scalar(struct cfg_ctx *x, yaml_node_t *n, const char **ret);
/* cfg_scalar, and the text must not be empty. */
int cfg_text(struct cfg_ctx *x, yaml_node_t *n, const char **ret);
/* cfg_text copied into *dst (the old value freed). */
int cfg_string(struct cfg_ctx *x, yaml_node_t *n, char **dst);
size_t cfg_seq_len(const yaml_node_t *n);
/* Walks a mapping: a duplicate key is an error; fn gets each key and its value with x->path
 * set to PATH.KEY (restored after), and answers 1 for a key it does not know, which fails
 * with "unknown key" at the key. Returns 0 or fn's first negative answer. */
int cfg_map_each(struct cfg_ctx *x, yaml_node_t *n,
                 int (*fn)(struct cfg_ctx *x, const char *key, yaml_node_t *v, void *obj),
                 void *obj);
/* `true` or `false`, nothing else. */
int cfg_bool(struct cfg_ctx *x, yaml_node_t *n, bool *ret);

/* Names (the chain, an output, a Kafka consumer) end up in file names, metric labels and
 * manifests: 1-CFG_NAME_MAX of A-Z a-z 0-9 . _ - */
#define CFG_NAME_MAX 64
bool cfg_name_valid(const char *s);
/* cfg_string, and the text must be a name; *dst is set (the old value freed) even when it is
 * not one, so the message can quote it and the caller frees it with the rest. */
int cfg_name(struct cfg_ctx *x, yaml_node_t *n, char **dst);
