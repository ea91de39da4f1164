/* The open epoch's counters (the manifest's `stats`), for the writer only.
 *
 * stats members: kept, received (kept + every event drop), dropped {reason: n} (fixed
 * reasons of core/event.h), dropped_by_rule {rule id: n}, flags {flag: n} over kept records,
 * malformed/truncated/invalid_utf8 (the same counts, top level), unmapped {app: n} (records
 * no rule mapped), rules_packs [hash…] (every rule pack in force), sources {source: {first,
 * last, count}} (positions of resumable sources, in the order sealed). */
#pragma once
#include <stdint.h>

#include "core/event.h"
#include "core/json.h"

struct epoch_stats {
        json *acc;                      /* the members above except dropped/received */
        uint64_t dropped[DROP__MAX];
};

int epoch_stats_init(struct epoch_stats *s);
void epoch_stats_clear(struct epoch_stats *s);
/* Loads the counters from a stored stats object (the open epoch after a restart). */
int epoch_stats_load(struct epoch_stats *s, const char *text);
/* A deep copy, to undo a failed batch with epoch_stats_restore (which consumes snap). */
int epoch_stats_snapshot(const struct epoch_stats *s, struct epoch_stats *ret);
void epoch_stats_restore(struct epoch_stats *s, struct epoch_stats *snap);
/* Counts one stored (or rule-dropped) event. 0 or -ENOMEM. */
int epoch_stats_event(struct epoch_stats *s, const struct event *e);
void epoch_stats_drops(struct epoch_stats *s, const uint64_t took[DROP__MAX]);
/* The stats object as the manifest shows it; caller frees. NULL when out of memory. */
json *epoch_stats_json(const struct epoch_stats *s);
