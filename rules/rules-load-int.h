/* Internal to rules/: the state of one rule-pack load, shared by the loader's files
 * (rules-load.c: files, rules and the pack; rules-load-yaml.c: the YAML walking helpers;
 * rules-load-match.c: match conditions and regexes; rules-load-set.c: set templates,
 * criteria and redactions; rules-load-tests.c: inline tests). Not part of the stage's API.
 *
 * Every ld_ function that fails fills x->err (file:line:column of the node at fault, 1-based)
 * and returns -EINVAL, or returns -ENOMEM with x->err untouched. Nothing here logs. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

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

/* ---- YAML walking (rules-load-yaml.c) ---- */

/* Fills x->err at mark m (NULL: no line or column) and returns -EINVAL. */
__attribute__((format(printf, 3, 4)))
int ld_fail_at(struct ld *x, const yaml_mark_t *m, const char *fmt, ...);
#define ld_fail(x, node, ...) ld_fail_at((x), &(node)->start_mark, __VA_ARGS__)
/* Counts one built node; fails past RULES_NODES_MAX. */
int ld_count(struct ld *x, const yaml_node_t *n);
/* The node of the document being loaded; NULL for a broken id. */
yaml_node_t *ld_node(struct ld *x, int id);
/* "a value", "a list", "a mapping" or "nothing", for messages. */
const char *ld_node_kind(const yaml_node_t *n);
/* A plain scalar spelling YAML's null (empty, ~, null, Null, NULL). */
bool ld_scalar_is_null(const yaml_node_t *n);
/* A scalar's text (NUL-free, not YAML's null), borrowed from the document. */
int ld_scalar(struct ld *x, yaml_node_t *n, const char *what, const char **ret);
/* Plain true or false, nothing else. */
int ld_bool(struct ld *x, yaml_node_t *n, const char *what, bool *ret);
/* A copy of s's first n bytes into *ret (caller frees); -ENOMEM. */
int ld_strdup(struct ld *x, const char *s, size_t n, char **ret);
/* A record path: segments of [A-Za-z0-9_@-] joined by single dots, at most 256 bytes. */
bool ld_path_valid(const char *s);
/* Collects a mapping's values by key from a fixed list (vals[i] for names[i], NULL when
 * absent); unknown or repeated keys fail. */
int ld_keys(struct ld *x, yaml_node_t *map, const char *what, const char *const *names,
            size_t n_names, yaml_node_t **vals);

/* ---- the parts of a rule ---- */

/* match: a mapping of field: condition into the conjunction all (rules-load-match.c);
 * depth counts the any/all/not levels (at most RULES_COND_MAX_DEPTH). */
int ld_match_map(struct ld *x, yaml_node_t *n, struct cond *all, unsigned depth);
/* set: the rule's templates, checked against its captures (rules-load-set.c). */
int ld_set(struct ld *x, yaml_node_t *n);
/* criteria: one TSC criterion ID or a list of them (rules-load-set.c). */
int ld_criteria(struct ld *x, yaml_node_t *n);
/* redact: a mapping of path: remove|hash|hmac (rules-load-set.c). */
int ld_redact(struct ld *x, yaml_node_t *n);
/* Adds one redaction to the rule being loaded (rules-load-set.c). */
int ld_redact_add(struct ld *x, const char *path, enum redact_how how);
/* tests: the rule's inline tests (rules-load-tests.c). */
int ld_tests(struct ld *x, yaml_node_t *n);
