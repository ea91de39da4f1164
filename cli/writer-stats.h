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

/* issue 12: what the events of the current batch add, tallied without JSON and folded into
 * acc once per batch by epoch_stats_flush (a few JSON lookups and strcmp per event were
 * ~4 % of the storing thread). The strings are borrowed from the events, which the writer
 * frees only after the batch is flushed. Past a table's STATS_TALLY_MAX keys the tally is
 * folded early, so any number of distinct keys works. */
#define STATS_TALLY_MAX 16
struct stats_tally {
        const char *key[STATS_TALLY_MAX];
        int64_t n[STATS_TALLY_MAX];
        size_t len;
};
struct stats_source_tally {
        const char *source, *first, *last;  /* first: the batch's first position */
        int64_t n;
};
struct stats_pending {
        int64_t kept;
        struct stats_tally flags, unmapped, dropped_by_rule;
        /* events' rules_pack arrays (compared whole), in order of first sight */
        const char *packs[STATS_TALLY_MAX];
        size_t n_packs;
        struct stats_source_tally sources[STATS_TALLY_MAX];
        size_t n_sources;
};

struct epoch_stats {
        json *acc;                      /* the members above except dropped/received */
        uint64_t dropped[DROP__MAX];
        struct stats_pending pend;      /* counted, not yet in acc (see above) */
};

int epoch_stats_init(struct epoch_stats *s);
void epoch_stats_clear(struct epoch_stats *s);
/* Loads the counters from a stored stats object (the open epoch after a restart). */
int epoch_stats_load(struct epoch_stats *s, const char *text);
/* A deep copy, to undo a failed batch with epoch_stats_restore (which consumes snap). Take
 * it when nothing is pending (after epoch_stats_flush); what is pending is not copied. */
int epoch_stats_snapshot(const struct epoch_stats *s, struct epoch_stats *ret);
/* Back to snap: what was counted since, pending or flushed, is forgotten. */
void epoch_stats_restore(struct epoch_stats *s, struct epoch_stats *snap);
/* Counts one stored (or rule-dropped) event. It borrows the event's strings until the next
 * epoch_stats_flush, restore or clear: the event must live that long. 0 or -ENOMEM (then
 * restore: the counters may be half-updated). */
int epoch_stats_event(struct epoch_stats *s, const struct event *e);
/* Folds what epoch_stats_event counted into the stats object. 0 or -ENOMEM (as above). */
int epoch_stats_flush(struct epoch_stats *s);
void epoch_stats_drops(struct epoch_stats *s, const uint64_t took[DROP__MAX]);
/* The stats object as the manifest shows it, pending counts not included (flush first);
 * caller frees. NULL when out of memory. */
json *epoch_stats_json(const struct epoch_stats *s);
