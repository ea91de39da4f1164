/* Small helpers shared by the commands. */
#pragma once
#include <sys/types.h>

#include "cli/config.h"

/* Creates the folders above path (not path itself), like mkdir -p of its dirname.
 * Returns 0 or -1 with errno set. */
int mkdir_parents(const char *path, mode_t mode);
/* Loads FILE, or the embedded default when path is NULL; prints FILE:LINE:COLUMN errors to
 * stderr. Returns 0 or <0. */
int config_load_any(const char *path, struct config *ret);

struct writer_output;
/* Builds the outputs of the configuration (an array of cfg->n_outputs, caller frees with
 * outputs_free). Returns 0 or -errno with err set (an unknown type, say). */
int outputs_build(const struct config *cfg, struct writer_output **ret, char *err,
                  size_t err_len);
void outputs_free(struct writer_output *outs, size_t n);

struct rules_pack;
/* Loads the rule pack the configuration names (rules.paths, rules.hmac_key); *ret is NULL
 * when none is configured. Returns 0 or <0 with err set to FILE:LINE:COLUMN: message. */
int rules_load_config(const struct config *cfg, struct rules_pack **ret, char *err,
                      size_t err_len);
