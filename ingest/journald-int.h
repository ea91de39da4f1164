/* The journald collector's parts (ingest/journald.c: reading entries, sequence checks;
 * ingest/journald-build.c: building their records and events on the `gl-journal` thread,
 * the queue; ingest/journald-files.c: opening the journal, seeking, and probing
 * for files sd-journal skips; ingest/journald-cursor.c: parsing cursors). Internal to
 * ingest/; the collector's API is ingest/journald.h. */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
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

/* Entries handed from the loop to `gl-journal` at once, and batches out at most (so
 * about JOURNALD_HAND * JOURNALD_HAND_MAX entries read ahead of the building). */
#define JOURNALD_HAND 64
#define JOURNALD_HAND_MAX 8

/* One entry the loop read (rec NULL: fields copied into its batch's bytes, each as a
 * uint64_t length then the bytes), or a record the loop made (gap, unreadable). */
struct jd_item {
        json *rec;              /* owned or NULL */
        char *pos;              /* owned or NULL: the event's position (an entry's cursor) */
        int64_t received;       /* rec's receipt time */
        uint64_t rt, mt;        /* an entry's realtime and monotonic time */
        char boot[33];          /* its boot id, 32 hex digits */
        int err;                /* < 0: the journal could not give every field (errno) */
        uint32_t n_fields;
        size_t off;             /* its fields in the batch's bytes */
};

struct jd_batch {
        struct jd_batch *next;
        size_t n;
        struct jd_item item[JOURNALD_HAND];
        char *bytes;
        size_t len, alloc;
};

/* The hand-off to `gl-journal` (ingest/journald-build.c says who touches what). */
struct jd_hand {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct jd_batch *full, *full_tail;  /* handed over, oldest first (lock) */
        struct jd_batch *free;              /* built, for reuse (lock) */
        unsigned n_out;                     /* batches not on the free list (lock) */
        bool loop_waiting;                  /* the loop wants hand_fd written (lock) */
        atomic_bool stop;
        int hand_fd, stop_fd;   /* eventfds: a batch came back (to the loop); stop */
        pthread_t thread;
        bool started;
        struct jd_batch *cur;   /* loop: the batch being filled */
        /* gl-journal: built events not queued yet, and what it counts. */
        struct event **pend;
        size_t pend_head, n_pend, pend_alloc;
        atomic_uint_fast64_t count;   /* entries queued (journald_source_count) */
        atomic_uint_fast64_t built_rt; /* realtime of the last entry built; 0: none (ops) */
        /* ops (issue 9): gatelog_events_received_total of the last transport seen, kept
         * instead of looked up per entry (issue 12); a transport too long for the cache is
         * looked up each time. */
        struct metric *m_recv;
        char recv_transport[32];
        bool recv_null;              /* m_recv is for entries without _TRANSPORT */
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
        struct norm_journal *nb;        /* gl-journal's */
        struct recycle *rec_rc;         /* record blocks (issue 12), gl-journal's */
        struct recycle *ev_rc;          /* struct event blocks (issue 12), gl-journal's */
        int jfd, kick_fd, space_fd;  /* space_fd: gl-journal's subscription to the queue */
        bool jfd_on, kick_on, hand_on, stopped;
        bool paused;                 /* every batch is out: reading waits for hand_fd */
        int poll_timer, probe_timer;
        struct jd_hand hand;
        /* Resume check: the stored cursor, until the first entry read after seeking to it. */
        char *resume_cursor;
        bool resume_inclusive;
        /* Probing: the directories (dir mode) or files (files mode) to look at. */
        char **probe_paths;
        size_t n_probe_paths;
        bool probe_dirs;
        struct probed *seen;
        size_t n_seen;
        bool read_error_logged;
        /* Sequence numbers: a jump within one journal means the library skipped entries
         * (a damaged or removed file). Only for unfiltered directory and system sources,
         * where every entry of a journal is ours to see. */
        bool track_seq;
        struct seq_track seq[JOURNALD_SEQ_IDS];
        uint64_t seq_tick;
        struct metric *m_lag;        /* ops (issue 9): gatelog_journald_cursor_lag_seconds */
};

/* journald.c: queues rec (owned) behind what was read before it, with pos (copied; may be
 * NULL) as its position and the receipt time written in the record. */
void journald_emit(struct journald_source *s, json *rec, const char *pos);

/* ---- journald-build.c: the hand-off to gl-journal ---- */

/* Loop: a batch with room for one more entry is current; false when every batch is out
 * (reading must wait: hand_fd is written when one comes back; force: past the limit) or
 * out of memory. Hands over a full current batch first. */
bool journald_hand_room(struct journald_source *s, bool force);
/* Loop: hands over the current batch (when it holds anything). */
void journald_hand_flush(struct journald_source *s);
/* Loop, after journald_hand_room: starts the entry with this cursor (taken), times and
 * boot id in the current batch; fields follow. */
struct jd_item *journald_hand_entry(struct journald_source *s, char *cursor, uint64_t rt,
                                    uint64_t mt, const char boot_hex[33]);
/* Loop: copies one field ("FIELD=value", l bytes) of the entry it. 0 or -ENOMEM. */
int journald_hand_field(struct journald_source *s, struct jd_item *it, const void *d,
                        size_t l);
/* Loop: takes back the entry it (the last one started), freeing its cursor. */
void journald_hand_drop(struct journald_source *s, struct jd_item *it);
/* Loop: queues a record of its own (taken) after what was read before, pos taken (may be
 * NULL). Not bounded by JOURNALD_HAND_MAX. 0, or -ENOMEM (both freed). */
int journald_hand_record(struct journald_source *s, json *rec, int64_t received, char *pos);
/* Starts gl-journal (s fully made). 0 or -errno. */
int journald_hand_start(struct journald_source *s);
/* Stops and joins gl-journal; frees what it had not queued (the journal gives it again). */
void journald_hand_stop(struct journald_source *s);
/* journald_hand_stop, then closes its fds. */
void journald_hand_free(struct journald_source *s);

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
