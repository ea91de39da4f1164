/* The kafka: section of the configuration (issue 6), parsed here so that cli/config.c only
 * names it in its root key table. Private to cli/. */
#pragma once
#include <yaml.h>

#include "cli/config.h"
#include "ingest/kafka.h"

/* Parses the kafka: list at node n of doc into c->kafka (replacing what was there). Every
 * error names the node at fault: err's line, column and message ("kafka[0].brokers: ...")
 * are set and -EINVAL returned; or -ENOMEM. */
int config_kafka_parse(yaml_document_t *doc, yaml_node_t *n, struct config *c,
                       struct config_error *err);
/* Frees c->kafka. */
void config_kafka_free(struct config *c);
