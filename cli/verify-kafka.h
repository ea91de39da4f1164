/* Kafka coverage across chains (issue 6), for `gatelog verify --export`: several instances
 * of one consumer group each seal their own chain, and a failover can make two chains hold
 * the same (topic, partition, offset). That is accepted only when one of the two records
 * says so: its source carries "redelivery": {"chain": OTHER, ...}, or an array of such
 * objects, naming the other holder (docs/FORMAT.md section 11). Any other offset held twice, within one chain or across chains, is a
 * problem. Private to cli/. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "seal/seal.h"  /* issue 12: struct seal_scan */

struct verify_kafka;

int verify_kafka_new(struct verify_kafka **ret);  /* 0 or -ENOMEM */
void verify_kafka_free(struct verify_kafka *v);   /* accepts NULL */
/* Takes one epoch's records.jsonl (bytes borrowed for the call) of the named chain: its
 * Kafka records' topic, partition, offset and redelivery marker. Other records and lines
 * that do not parse are skipped (the verifier reports those). Returns 0 or -ENOMEM. */
int verify_kafka_add(struct verify_kafka *v, const char *chain, const char *records,
                     size_t len);
/* issue 12: the same, a line at a time, so that the verifier's own pass over records.jsonl
 * serves both: verify_kafka_chain names the chain (0 or -ENOMEM), then each line of its
 * epochs goes to verify_kafka_line (bytes borrowed for the call; 0 or -ENOMEM). */
int verify_kafka_chain(struct verify_kafka *v, const char *chain);
int verify_kafka_line(struct verify_kafka *v, const char *s, size_t len);
/* issue 12 (verify7): verify_kafka_line for a line the record scanner has decided (sc: its
 * seal_scan_record of exactly these bytes, NULL when it did not decide): the needle is
 * looked for in the "source" member's bytes only, not in the whole line. Same records taken. */
int verify_kafka_line_scanned(struct verify_kafka *v, const char *s, size_t len,
                              const struct seal_scan *sc);
/* Writes to out a "FAIL ..." line per offset range held twice without a marker that
 * explains it (at most 20, then a count), and a summary line when Kafka records were seen.
 * Returns the number of problems. */
uint64_t verify_kafka_finish(struct verify_kafka *v, FILE *out);
