/* The daemon's metrics: one process-wide registry of counters, gauges and histograms that
 * any thread may update, rendered in the Prometheus text exposition format (version 0.0.4)
 * for the HTTP endpoint's /metrics.
 *
 * A series is a family name plus a set of label pairs. metrics_counter() and friends find
 * or create it and return a handle that stays valid for the life of the process; updates
 * through a handle are single atomic operations (no lock). Lookups of an existing series
 * take no lock either (an open-addressing table whose slots are published with release
 * stores), so hot paths may look up by name on every event; creation takes a mutex.
 * The registry is the one mutable global besides the log level: like the log, it is
 * write-only for the pipeline and read only by the endpoint (STYLE.md allows it there).
 *
 * Limits: METRICS_SERIES_MAX series in all; a series past that, a bad name, or a name
 * already registered with another type gets a NULL handle, which every update accepts and
 * ignores (counted in gatelog_metrics_refused_total), so metrics can never break the
 * pipeline. Histograms measure durations: observations in microseconds, rendered in
 * seconds as Prometheus expects. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/event.h"

/* Series in the registry, all families together. Per-output and per-partition labels are
 * the only ones that grow with the configuration; 4096 leaves room for thousands of Kafka
 * partitions while bounding /metrics to a few hundred KiB. */
#define METRICS_SERIES_MAX 4096
/* Families (distinct metric names). */
#define METRICS_FAMILIES_MAX 256
/* The rendered label set of one series ("k=\"v\",..."), after escaping. */
#define METRICS_LABELS_MAX 512
/* Bucket bounds of one histogram. */
#define METRICS_BUCKETS_MAX 24

struct metric;

/* Find-or-create. The variadic part is label name, label value pairs ending with NULL:
 * metrics_counter("gatelog_events_received_total", "Events read", "source", "syslog/udp",
 * NULL). Label values may hold any bytes but NUL (escaped on output); names must match
 * [a-zA-Z_:][a-zA-Z0-9_:]* (metric) and [a-zA-Z_][a-zA-Z0-9_]* (label). help is used when
 * the family is created. Returns the series, or NULL (see above). Thread-safe. */
struct metric *metrics_counter(const char *name, const char *help, ...)
        __attribute__((sentinel));
struct metric *metrics_gauge(const char *name, const char *help, ...)
        __attribute__((sentinel));
/* bounds_us: ascending upper bounds in microseconds (at most METRICS_BUCKETS_MAX); the +Inf
 * bucket is implied. The bounds of the family's first series apply to all its series. */
struct metric *metrics_histogram_us(const char *name, const char *help,
                                    const int64_t *bounds_us, size_t n_bounds, ...)
        __attribute__((sentinel));

/* Updates. m may be NULL (ignored). */
void metric_add(struct metric *m, uint64_t k);          /* counter */
void metric_set(struct metric *m, int64_t v);           /* gauge */
void metric_gauge_add(struct metric *m, int64_t delta); /* gauge */
void metric_observe_us(struct metric *m, int64_t us);   /* histogram; negative counts as 0 */
/* A counter's or gauge's value, a histogram's observation count; 0 for NULL. */
int64_t metric_value(const struct metric *m);

/* Appends every family (sorted by name, each with # HELP and # TYPE) and its series (in
 * creation order) to out. Returns 0 or buf's error. Thread-safe; a concurrent update lands
 * in this scrape or the next. */
int metrics_render(struct buf *out);
/* Frees every series. Tests only: no other thread may hold or use a handle. */
void metrics_reset(void);

/* ---- The daemon's metrics (names are an interface: docs/OPERATIONS.md lists them) ----
 * Helpers for the pipeline, so that each call site is one line. */

/* A collector read one event (before the queue): gatelog_events_received_total{source}.
 * source is "KIND/TRANSPORT" ("syslog/udp") or KIND alone when transport is NULL. */
void metrics_received(const char *kind, const char *transport);
/* The counter metrics_received adds to, for a collector that keeps it instead of looking it
 * up per event (issue 12). Valid until metrics_reset. */
struct metric *metrics_received_counter(const char *kind, const char *transport);
/* The writer committed a batch: kept, malformed and truncated per source, rule drops, the
 * commit latency (commit_us) and the rule pack in force. */
void metrics_batch_committed(struct event *const *ev, size_t n, int64_t commit_us);
/* What one batch adds to the kept/malformed/truncated counters and the rule drops, tallied
 * by metrics_batch_note while the writer stores each event (the event is in cache then)
 * and added by metrics_batch_done after the commit: metrics_batch_committed reads every
 * event a second time after SQLite has pushed them out of the cache (issue 12, ~1 % of
 * the storing thread). The strings are borrowed from the events, which must live until
 * metrics_batch_done. Past METRICS_BATCH_SOURCES sources in one batch, done counts from
 * the events instead (metrics_batch_committed), so any number of sources works. */
#define METRICS_BATCH_SOURCES 8
struct metrics_batch {
        struct metrics_batch_src {
                const char *kind, *transport;  /* borrowed; NULL: none */
                /* kind and transport are an event's src_kind/src_transport arrays, which
                 * the next event's are compared with as whole arrays first */
                const struct event *mapped;
                uint64_t kept, malformed, truncated;
        } src[METRICS_BATCH_SOURCES];
        size_t n_src, cur;
        uint64_t rule_drops;
        bool overflow;
};
static inline void metrics_batch_init(struct metrics_batch *mb) {
        mb->n_src = mb->cur = 0;
        mb->rule_drops = 0;
        mb->overflow = false;
}
/* Counts one event of the batch (before the commit; nothing is published yet). */
void metrics_batch_note(struct metrics_batch *mb, const struct event *e);
/* The batch ev[0..n) that mb counted is committed: what metrics_batch_committed does. */
void metrics_batch_done(const struct metrics_batch *mb, struct event *const *ev, size_t n,
                        int64_t commit_us);
/* The writer stored drop counts (the same numbers the manifest gets). */
void metrics_drops_committed(const uint64_t took[DROP__MAX]);
/* A store write failed (the writer retries): gatelog_store_writable 0 until the next
 * commit succeeds. */
void metrics_store_failed(void);
/* An epoch was sealed. */
void metrics_epoch_sealed(int64_t epoch, uint64_t count);
/* Exporter: the epochs still pending for an output after a pass; a failed attempt; an
 * epoch exported. */
void metrics_export_backlog(const char *output, uint64_t pending);
void metrics_export_failed(const char *output);
void metrics_export_done(const char *output);
/* Creates the daemon's series at zero (Prometheus prefers a 0 to a missing series): drops by
 * every reason, epochs sealed, store failures; per output when output is not NULL; per
 * collector source when source is not NULL ("syslog/udp"). */
void metrics_daemon_init(const char *output, const char *source);
