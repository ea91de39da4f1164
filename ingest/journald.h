/* The journald collector: reads a journal (the local system journal, a directory such as a
 * host's /var/log/journal mounted into a container, or given files) with libsystemd's
 * sd-journal, in the daemon's event loop, and turns every entry into a gate record
 * (normalize/journald.h).
 *
 * Exactly once: every event carries pos_source "journald:NAME" and pos = the entry's cursor;
 * the writer stores the position in the transaction that stores the record. On start the
 * collector is given the stored position and resumes right after it. A position
 * "before:CURSOR" (written with a gap record) means "resume at CURSOR, inclusive". A
 * stored cursor whose entry is gone (rotation, vacuuming, a deleted file) resumes at the
 * first entry after it and emits a record flagged journal_gap first.
 *
 * Reading (every sd-journal call) runs in the loop; the records are built on a thread of
 * the source's own, `gl-journal` (issue 12: the two overlap on two cores).
 *
 * Never drops: on a full queue the built events are held and reading stops a little later,
 * until the queue has room again (the journal keeps the rest). A wakeup reads at most
 * JOURNALD_BATCH entries; the rest is done on the next loop iteration. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/loop.h"
#include "core/queue.h"

/* Entries read per wakeup: large enough to amortise the wakeup, small
 * enough that other collectors in the loop are not starved while catching up. */
#define JOURNALD_BATCH 512
/* Bytes of one field value kept in a record (longer values are cut and flagged; the
 * record's raw_sha256 still covers the whole entry). journald's own line limit for stdout
 * streams is 48 KiB; 64 KiB keeps every ordinary message whole. */
#define JOURNALD_FIELD_MAX (64u * 1024)

enum journald_start { JOURNALD_START_HEAD, JOURNALD_START_TAIL, JOURNALD_START_TIME };

/* One `journald:` item of the configuration (docs/CONFIG.md). Exactly one of directory,
 * files, system is given. */
struct journald_config {
        char *name;                  /* unique; positions are stored as "journald:NAME" */
        char *directory;             /* sd_journal_open_directory */
        char **files;                /* sd_journal_open_files */
        size_t n_files;
        bool system;                 /* the local journal (sd_journal_open, SYSTEM flag) */
        char **matches;              /* "FIELD=value", journalctl's rules */
        size_t n_matches;
        char **units;                /* _SYSTEMD_UNIT= (".service" added when no suffix) */
        size_t n_units;
        char **identifiers;          /* SYSLOG_IDENTIFIER= */
        size_t n_identifiers;
        char **transports;           /* _TRANSPORT= */
        size_t n_transports;
        int max_priority;            /* PRIORITY=0..max_priority; -1: any */
        enum journald_start start;   /* first start only: no stored position */
        int64_t start_us;            /* JOURNALD_START_TIME: realtime, microseconds */
};

void journald_config_clear(struct journald_config *c); /* frees members; accepts NULL */

struct journald_source;

/* Opens the journal, applies the filters, seeks (after position when not NULL, else per
 * cfg->start) and registers in loop. Reading starts on the loop's first iteration. Events go
 * to q; the source's own failures to allocate go to drops. Returns 0 or -errno with err
 * saying what failed. cfg is copied as needed (it may be freed afterwards). */
int journald_source_new(const struct journald_config *cfg, const char *position,
                        struct loop *loop, struct queue *q, struct drop_counters *drops,
                        struct journald_source **ret, char *err, size_t err_len);
/* Stops reading (removes itself from the loop, stops and joins gl-journal, frees what was
 * read or built but not queued: the journal replays it on the next start). Call before
 * queue_close. */
void journald_source_stop(struct journald_source *s);
/* Stops and frees. Accepts NULL. */
void journald_source_free(struct journald_source *s);
/* Entries turned into events so far (tests, bench; any thread). */
uint64_t journald_source_count(const struct journald_source *s);
