/* The `journald:` section of the configuration (docs/CONFIG.md), parsed apart from
 * cli/config.c so that the collector's options live beside each other. */
#pragma once
#include <stddef.h>
#include <yaml.h>

#include "cli/config.h"
#include "ingest/journald.h"

/* Parses the `journald:` list node n of doc into a new array (*ret, *ret_n; replaced, the
 * old one freed). Errors fill err's line, column and message ("journald[1].name: ...") and
 * return -EINVAL; -ENOMEM when out of memory. err->file is left as the caller set it. */
int config_journald_parse(yaml_document_t *doc, yaml_node_t *n, struct journald_config **ret,
                          size_t *ret_n, struct config_error *err);
void config_journald_free(struct journald_config *list, size_t n); /* accepts NULL */
