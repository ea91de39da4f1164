/* Internal to cli/: how the configuration's files fit together. cli/config.c loads a text
 * (defaults, the one YAML document, the default lists); the key tables of every section and
 * their leaves are in cli/config-sections.c, syslog.listen in cli/config-listen.c, outputs in
 * cli/config-outputs.c, the environment overrides in cli/config-env.c. Every parse function
 * fails through cfg_fail (cli/config-yaml.h): FILE:LINE:COLUMN and -EINVAL, or -ENOMEM. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "cli/config.h"
#include "cli/config-yaml.h"

/* Limits of the values (the defaults are in core/limits.h). */
#define CONFIG_MAX_CONNECTIONS_CEIL 65536
#define CONFIG_QUEUE_MIN 8
#define CONFIG_QUEUE_CEIL (16u * 1024 * 1024)
/* queue.max_bytes: 1 MiB holds a few events of the largest message; 2 GiB fits a 32-bit
 * size_t and is far beyond any reasonable queue. */
#define CONFIG_QUEUE_BYTES_MIN (1u << 20)
#define CONFIG_QUEUE_BYTES_CEIL (2048ull << 20)
/* RFC 5424 section 6.1: receivers MUST accept messages of 480 octets. */
#define CONFIG_MAX_MESSAGE_MIN 480

/* Parses the value of one key into obj (the struct the key table belongs to). */
typedef int (*cfg_parse_fn)(struct cfg_ctx *x, yaml_node_t *val, void *obj);

struct cfg_key {
        const char *name;
        cfg_parse_fn parse;
};

/* Walks a mapping against a key table ended by { NULL, NULL }: duplicate and unknown keys
 * are errors; x->path names each key while its value is parsed (config-sections.c). */
int cfg_map(struct cfg_ctx *x, yaml_node_t *n, const struct cfg_key *keys, void *obj);
/* A decimal number (size: or a size with B, KiB, MiB or GiB, config_parse_size) within
 * lo..hi into *ret; -EINVAL otherwise, with *ret untouched (config-sections.c). */
int cfg_number(struct cfg_ctx *x, yaml_node_t *n, uint64_t lo, uint64_t hi, bool size,
               uint64_t *ret);
/* The top level of a configuration (config-sections.c). */
extern const struct cfg_key cfg_root_keys[];
/* Parses an unsigned decimal prefix; returns the number of digits (0: none or overflow)
 * (config.c). */
size_t cfg_parse_digits(const char *s, uint64_t *ret);
/* Parses the one document of the text into c, which holds the defaults or a loaded
 * configuration (config.c). */
int cfg_parse_document(struct cfg_ctx *x, const char *text, size_t len, struct config *c);
/* syslog.listen: replaces the list (config-listen.c). */
int cfg_parse_listen(struct cfg_ctx *x, yaml_node_t *n, void *obj);
/* outputs: replaces the list (config-outputs.c). */
int cfg_parse_outputs(struct cfg_ctx *x, yaml_node_t *n, void *obj);
/* Frees c's outputs and empties the list (config-outputs.c). */
void cfg_outputs_free(struct config *c);
