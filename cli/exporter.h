/* The exporter: writes sealed epochs to every configured output from the durable outbox.
 *
 * The writer queues each sealed epoch for every output in the transaction that seals it; the
 * exporter, on its own thread and its own database connection, takes pending epochs oldest
 * first per output, writes them (the output writes its manifest last), and marks them done.
 * A failing output is retried with exponential backoff and jitter (1 s doubling to 5 min)
 * without holding up the writer or the other outputs; its backlog stays in the outbox, so an
 * object store that is down for hours loses nothing, and a restart resumes. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "cli/writer.h"

struct exporter;

/* Opens its own connection to the store. outputs are borrowed and must outlive it.
 * Returns 0 or -errno with err set. */
int exporter_new(const char *db_path, const char *chain, const struct writer_output *outputs,
                 size_t n_outputs, struct exporter **ret, char *err, size_t err_len);
/* Trusted time (issue 10): with url (seal.tsa_url), every epoch is exported with its RFC 3161
 * token (manifest.tsr), asked for once and kept in the store; while the TSA is down the
 * epoch's export fails and is retried with the output's backoff. ca (seal.tsa_ca, may be
 * NULL) checks each reply before it is kept. Call before exporter_start. 0 or -ENOMEM. */
int exporter_set_tsa(struct exporter *x, const char *url, const char *ca);
/* Starts the thread. */
int exporter_start(struct exporter *x);
/* issue 12, the stager fed from memory (cli/exporter-stage.c): its feed, for the storing
 * thread to write the records it stores into (writer_set_feed, cli/stage-feed.h); NULL when
 * no stager runs (no folder output). Valid after exporter_start until exporter_free. */
struct stage_feed;
struct stage_feed *exporter_feed(struct exporter *x);
/* The durable watermark (writer_on_durable): seq is the highest durable seq; the stager
 * never writes a record above it, whether fed from memory or read from the store. Wakes
 * the stager. Thread-safe; a lower seq than before is ignored. */
void exporter_durable(void *x, int64_t seq);
/* For tests and benchmarks: the feed's size (before exporter_start; default
 * STAGE_FEED_BLOCKS blocks of STAGE_FEED_BLOCK_BYTES). 0 or -EINVAL. */
int exporter_set_feed(struct exporter *x, size_t block_bytes, size_t blocks);
/* For tests: waits until the stager has done a whole pass that began after this call (so
 * with the watermark as it is now), then the records it staged so far, from the feed and
 * from the store, and the feed's counts (stage_feed_stats: records published into it,
 * records dropped). Returns at once when no stager runs. */
struct exporter_stage_counts {
        uint64_t from_feed, from_store;
        uint64_t fed, dropped;
};
void exporter_stage_wait(struct exporter *x, struct exporter_stage_counts *ret);
/* Wakes the thread: an epoch was sealed (a writer_config sealed_cb). Thread-safe. */
void exporter_kick(void *x, int64_t epoch);
/* Without a thread: one pass over every output's pending epochs, no backoff. Returns 0
 * when nothing is left pending, else the first error. */
int exporter_flush(struct exporter *x);
/* Stops the thread after its current export (a pending one is retried at the next start),
 * then one last pass so that the epochs sealed at shutdown are exported when possible. */
void exporter_stop(struct exporter *x);
void exporter_free(struct exporter *x); /* stops first; accepts NULL */

/* The folder output (outputs/export-folder.c) as a writer_output: impl is the folder. */
int exporter_folder_write(void *impl, const struct export_epoch *e, struct store_error *err);
