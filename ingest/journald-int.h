/* The journald collector's parts (ingest/journald.c: reading entries into events, the
 * queue, sequence checks; ingest/journald-files.c: opening the journal, seeking, and probing
 * for files sd-journal skips; ingest/journald-cursor.c: parsing cursors). Internal to
 * ingest/; the collector's API is ingest/journald.h. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-journal.h>

#include "core/event.h"
#include "core/json.h"
#include "core/loop.h"
#include "core/queue.h"
#include "ingest/journald.h"

/* A file that fails to open within this long of its last change may still be being
 * created: it is probed again later before being reported. */
#define JOURNALD_PROBE_SETTLE_US (2 * TM_USEC_PER_SEC)
#define BEFORE_PREFIX "before:"
/* Journals (sequence-number ids) whose last sequence number we remember: one per journald
 * instance whose files are in the source, so a handful; the least recently seen goes. */
#define JOURNALD_SEQ_IDS 16

struct seq_track {
        char id[33];            /* the cursor's s= (seqnum id); "" = free slot */
        uint64_t seq;           /* the cursor's i= of the last entry seen */
        char *cursor;           /* its cursor, in a buffer reused entry after entry */
        size_t cursor_alloc;
        int64_t realtime_us;
        uint64_t tick;          /* for least-recently-seen replacement */
};

struct probed {
        dev_t dev;
        ino_t ino;
};

struct journald_source {
        char *name;
        char *pos_source;            /* "journald:NAME" */
        sd_journal *j;
        struct loop *loop;
        struct queue *q;
        struct drop_counters *drops;
        struct norm_journal *nb;
        struct recycle *rec_rc;         /* record blocks (issue 12) */
        struct recycle *ev_rc;          /* struct event blocks (issue 12) */
        int jfd, kick_fd, space_fd;  /* space_fd: our subscription to the queue's space */
        bool jfd_on, kick_on, space_on, stopped;
        int retry_timer, poll_timer, probe_timer;
        /* Built events waiting for queue space, oldest first. */
        struct event **pend;
        size_t pend_head, n_pend, pend_alloc;
        /* Resume check: the stored cursor, until the first entry read after seeking to it. */
        char *resume_cursor;
        bool resume_inclusive;
        /* Probing: the directories (dir mode) or files (files mode) to look at. */
        char **probe_paths;
        size_t n_probe_paths;
        bool probe_dirs;
        struct probed *seen;
        size_t n_seen;
        uint64_t count;
        bool read_error_logged;
        /* Sequence numbers: a jump within one journal means the library skipped entries
         * (a damaged or removed file). Only for unfiltered directory and system sources,
         * where every entry of a journal is ours to see. */
        bool track_seq;
        struct seq_track seq[JOURNALD_SEQ_IDS];
        uint64_t seq_tick;
        struct metric *m_lag;        /* ops (issue 9): gatelog_journald_cursor_lag_seconds */
        /* ops (issue 9): gatelog_events_received_total of the last transport seen, kept
         * instead of looked up per entry (issue 12); a transport too long for the cache is
         * looked up each time. */
        struct metric *m_recv;
        char recv_transport[32];
        bool recv_null;              /* m_recv is for entries without _TRANSPORT */
        uint64_t last_rt;            /* ops (issue 9): realtime of the last entry read; 0: none */
};

/* journald.c: queues rec (owned) behind the pending events, with pos (copied; may be NULL)
 * as its position and the receipt time written in the record. */
void journald_emit(struct journald_source *s, json *rec, const char *pos);
/* journald.c: pushes the pending events; 0 when all went, -EAGAIN on a full queue. */
int journald_pend_flush(struct journald_source *s);
/* journald.c: stops reading until the queue has room (its space fd, a retry timer). */
int journald_pause_reading(struct journald_source *s);

/* journald-files.c: the paths journald_probe looks at (the directory, the system
 * journal's folders, or the files). 0 or -ENOMEM. */
int journald_set_probe_paths(struct journald_source *s, const struct journald_config *c);
/* journald-files.c: probes every journal file of the source once; a file sd-journal
 * cannot open is logged and reported by a journal_unreadable record. */
void journald_probe(struct journald_source *s);
/* journald-files.c: opens s->j per c and applies its filters. 0 or -errno, err says why. */
int journald_open(struct journald_source *s, const struct journald_config *c, char *err,
                  size_t err_len);
/* journald-files.c: seeks after position (or at "before:CURSOR"), else per c->start. */
int journald_seek_start(struct journald_source *s, const struct journald_config *c,
                        const char *position, char *err, size_t err_len);

/* ---- journald-cursor.c: reading the parts of a cursor (no library call) ---- */

/* The parts of a cursor as sd_journal_get_cursor writes it (systemd 252, sd-journal.c):
 * "s=ID;i=SEQ;b=BOOT;m=MONO;t=REAL;x=XOR", the ids 32 lowercase hex digits, the numbers
 * lowercase hex (PRIx64). Parsed in one pass (issue 12): the entry's realtime, monotonic
 * time and boot id are read from here instead of asking the library twice more per entry
 * (each call moves to the entry object again), and its s= and i= for the sequence checks.
 * Anything else (another layout, a longer number) is refused: the caller then takes the
 * slow way, so the values are always the library's. */
struct journald_cursor {
        char id[33], boot[33];
        uint64_t seq, mono, real;
};
/* Parses c in the layout above into *ret (partly written when it is refused). True when c
 * has exactly that layout; false for anything else (the caller asks the library). */
bool journald_cursor_parse(const char *c, struct journald_cursor *ret);
/* The realtime (t=, hex microseconds) of a cursor of any field order, or 0. */
int64_t journald_cursor_realtime(const char *c);
/* The s= (seqnum id, 32 hex digits) and i= (seqnum) of a cursor of any field order: true
 * when it has both (id and *ret_seq may be written either way). */
bool journald_cursor_seq(const char *c, char id[33], uint64_t *ret_seq);
