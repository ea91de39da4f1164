/* The journald collector (ingest/journald.h): sd-journal in the daemon's event loop.
 *
 * Load: a host journal catching up (hundreds of thousands of entries at once after a long
 * stop), then a steady trickle. Guarantees:
 *  - Exactly once across restarts and crashes: each event carries its entry's cursor as its
 *    position; we resume after the stored one, whose entry is skipped by sd_journal_test_cursor
 *    (seek_cursor + next lands ON the cursor's entry when it still exists).
 *  - Never drops: a full queue keeps the built events in a short pending list and reading
 *    stops until the queue's space fd fires (the journal holds the rest).
 *  - Nothing silent: a stored cursor whose entry is gone yields a journal_gap record before
 *    the first entry read after it; so does a jump in one journal's sequence numbers (the
 *    cursor's s= and i=) between two entries we read, which is how entries the library
 *    skipped in a damaged file show (unfiltered directory and system sources only: with
 *    filters or hand-picked files, jumps are normal); a journal file sd-journal cannot open
 *    (it skips those without telling) is found by probing every file of the source on start
 *    and whenever the file set changes, logged, and reported by a journal_unreadable record
 *    (once per file per daemon run).
 *  - Bounded work: JOURNALD_BATCH entries per wakeup; when more remain, an eventfd of ours
 *    is left readable so that the loop comes back after serving the other fds.
 *  - No polling while following: the journal's inotify fd wakes us (a 1 s timer only when
 *    sd_journal_reliable_fd says inotify cannot be trusted, and a 100 ms retry while paused
 *    on a full queue, since the queue's space fd is shared with other collectors and another
 *    one may consume its wakeup).
 *
 * The gap record's position is "before:CURSOR" (CURSOR: the first entry read after the
 * gap): a crash right after it is stored resumes AT that entry instead of reporting the gap
 * twice. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "core/log.h"
#include "core/metrics.h"  /* ops (issue 9) */
#include "core/recycle.h"
#include "core/tm.h"
#include "ingest/journald.h"
#include "normalize/journald.h"

/* Recycled blocks (performance, issue 12: this thread allocates every event and record, the
 * writer's threads free them; see core/recycle.h and ingest/syslog-net.c). A record's
 * block: its 4 KiB reserve and room to grow into (a bigger entry spills into malloc'd
 * chunks as before). Idle blocks kept: about a quarter of the default queue (8,192 events),
 * 16 MiB, so a burst's blocks are mostly reused. */
#define JOURNALD_REC_BLOCK 8192u
#define JOURNALD_REC_KEEP 2048u
#define JOURNALD_EVENT_KEEP 8192u

#define JOURNALD_RETRY_US (100 * 1000)
#define JOURNALD_POLL_US TM_USEC_PER_SEC
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
        char *cursor;
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
        uint64_t last_rt;            /* ops (issue 9): realtime of the last entry read; 0: none */
};

void journald_config_clear(struct journald_config *c)
{
        if (!c)
                return;
        free(c->name);
        free(c->directory);
        for (size_t i = 0; i < c->n_files; i++)
                free(c->files[i]);
        free(c->files);
#define FREE_LIST(l, n) \
        do { \
                for (size_t i_ = 0; i_ < (n); i_++) \
                        free((l)[i_]); \
                free(l); \
        } while (0)
        FREE_LIST(c->matches, c->n_matches);
        FREE_LIST(c->units, c->n_units);
        FREE_LIST(c->identifiers, c->n_identifiers);
        FREE_LIST(c->transports, c->n_transports);
#undef FREE_LIST
        memset(c, 0, sizeof(*c));
}

uint64_t journald_source_count(const struct journald_source *s)
{
        return s->count;
}

/* ---- pending events and the queue ---- */

static int pend_add(struct journald_source *s, struct event *e)
{
        if (s->n_pend == s->pend_alloc) {
                size_t na = s->pend_alloc ? s->pend_alloc * 2 : 8;
                struct event **p = malloc(na * sizeof(*p));

                if (!p)
                        return -ENOMEM;
                for (size_t i = 0; i < s->n_pend; i++)
                        p[i] = s->pend[(s->pend_head + i) % s->pend_alloc];
                free(s->pend);
                s->pend = p;
                s->pend_alloc = na;
                s->pend_head = 0;
        }
        s->pend[(s->pend_head + s->n_pend) % s->pend_alloc] = e;
        s->n_pend++;
        return 0;
}

/* Pushes pending events in order. 0 when all went, -EAGAIN when the queue is full. */
static int pend_flush(struct journald_source *s)
{
        while (s->n_pend > 0) {
                struct event *e = s->pend[s->pend_head];
                int r = queue_push(s->q, e);

                if (r == -EAGAIN)
                        return r;
                if (r < 0) {
                        /* Closed: shutting down; the journal replays it next start. */
                        event_free(e);
                }
                s->pend_head = (s->pend_head + 1) % s->pend_alloc;
                s->n_pend--;
        }
        return 0;
}

static void pend_clear(struct journald_source *s)
{
        while (s->n_pend > 0) {
                event_free(s->pend[s->pend_head]);
                s->pend_head = (s->pend_head + 1) % s->pend_alloc;
                s->n_pend--;
        }
}

/* Wraps rec (owned) in an event with an optional position and queues it behind what is
 * pending. Out of memory is counted: the record is lost, but the position does not move
 * past it unless a later entry's does. */
static void emit(struct journald_source *s, json *rec, const char *pos)
{
        /* The event's receipt time (which decides the epoch and fills the received column)
         * is the one written in the record. */
        int64_t received = tm_now_us();
        size_t len = 0;
        const char *rs = json_str(json_obj_get(rec, "received"), &len);
        if (rs)
                (void)tm_parse_rfc3339(rs, len, 0, &received);
        struct event *e = event_new_recycled(s->ev_rc, rec, received);

        if (e && pos && event_set_pos(e, s->pos_source, pos) < 0) {
                event_free(e);
                e = NULL;
        }
        if (!e || pend_add(s, e) < 0) {
                event_free(e);
                drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
        }
}

static int space_cb(struct loop *l, int fd, uint32_t events, void *ud);
static int retry_cb(struct loop *l, void *ud);
static int dispatch(struct journald_source *s);

static int pause_reading(struct journald_source *s)
{
        int r;

        if (!s->space_on) {
                r = loop_add(s->loop, s->space_fd, EPOLLIN, space_cb, s);
                if (r < 0)
                        return r;
                s->space_on = true;
        }
        if (s->retry_timer < 0) {
                r = loop_add_timer(s->loop, JOURNALD_RETRY_US, retry_cb, s);
                if (r < 0)
                        return r;
                s->retry_timer = r;
        }
        return 0;
}

static void resume_reading(struct journald_source *s)
{
        if (s->space_on) {
                loop_del(s->loop, s->space_fd);
                s->space_on = false;
        }
        if (s->retry_timer >= 0) {
                loop_del_timer(s->loop, s->retry_timer);
                s->retry_timer = -1;
        }
}

static void kick(struct journald_source *s)
{
        uint64_t one = 1;

        (void)!write(s->kick_fd, &one, sizeof(one));
}

static int try_resume(struct journald_source *s)
{
        if (pend_flush(s) == -EAGAIN)
                return 0;
        resume_reading(s);
        kick(s);
        return 0;
}

static int space_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        struct journald_source *s = ud;

        queue_ack_space_fd(s->space_fd);
        return try_resume(s);
}

static int retry_cb(struct loop *l, void *ud)
{
        return try_resume(ud);
}

/* ---- cursors ---- */

/* The realtime (t=, hex microseconds) of a cursor, or 0. */
static int64_t cursor_realtime(const char *c)
{
        for (const char *p = c; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
                if (p[0] == 't' && p[1] == '=') {
                        char *end;
                        unsigned long long v = strtoull(p + 2, &end, 16);

                        return (*end == ';' || !*end) && v < (unsigned long long)INT64_MAX
                                       ? (int64_t)v : 0;
                }
        }
        return 0;
}

/* The s= (seqnum id) and i= (seqnum) of a cursor. */
static bool cursor_seq(const char *c, char id[33], uint64_t *ret_seq)
{
        bool has_s = false, has_i = false;

        for (const char *p = c; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
                if (p[0] == 's' && p[1] == '=' && strspn(p + 2, "0123456789abcdef") == 32) {
                        memcpy(id, p + 2, 32);
                        id[32] = '\0';
                        has_s = true;
                } else if (p[0] == 'i' && p[1] == '=') {
                        char *end;

                        *ret_seq = strtoull(p + 2, &end, 16);
                        has_i = end > p + 2 && (*end == ';' || !*end);
                }
        }
        return has_s && has_i;
}

static struct seq_track *seq_find(struct journald_source *s, const char *id)
{
        for (size_t i = 0; i < JOURNALD_SEQ_IDS; i++)
                if (!strcmp(s->seq[i].id, id))
                        return &s->seq[i];
        return NULL;
}

/* Remembers the entry at cursor as the last seen of its journal. */
static void seq_note(struct journald_source *s, const char *cursor, int64_t rt)
{
        struct seq_track *t;
        char id[33], *copy;
        uint64_t seq;

        if (!cursor_seq(cursor, id, &seq))
                return;
        t = seq_find(s, id);
        if (!t) {
                t = &s->seq[0];
                for (size_t i = 1; i < JOURNALD_SEQ_IDS; i++)
                        if (s->seq[i].tick < t->tick)
                                t = &s->seq[i];
                memcpy(t->id, id, sizeof(id));
        }
        copy = strdup(cursor);
        if (!copy) {
                t->id[0] = '\0'; /* forget rather than compare against a stale one */
                return;
        }
        free(t->cursor);
        t->cursor = copy;
        t->seq = seq;
        t->realtime_us = rt;
        t->tick = ++s->seq_tick;
}

static void emit_gap(struct journald_source *s, const char *after, int64_t after_us,
                     const char *cursor, int64_t rt, int64_t missing, const char *why)
{
        char before[4096];
        json *gap = NULL;

        log_warn("journal entries missing (gap recorded)",
                 "source=%s after=\"%s\" before=\"%s\" missing=%lld reason=\"%s\"", s->name,
                 after, cursor, (long long)missing, why);
        snprintf(before, sizeof(before), "%s%s", BEFORE_PREFIX, cursor);
        if (norm_journal_gap(s->name, after, after_us, cursor, rt, missing, why, tm_now_us(),
                             &gap) < 0)
                drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
        else
                emit(s, gap, before);
}

/* A jump in the sequence numbers of one journal since the last entry we saw of it. */
static void seq_check(struct journald_source *s, const char *cursor, int64_t rt)
{
        struct seq_track *t;
        char id[33];
        uint64_t seq;

        if (!s->track_seq || !cursor_seq(cursor, id, &seq) || !(t = seq_find(s, id)) ||
            seq <= t->seq + 1)
                return;
        emit_gap(s, t->cursor, t->realtime_us, cursor, rt, (int64_t)(seq - t->seq - 1),
                 "the journal's sequence numbers jump: the library skipped entries (a damaged "
                 "or removed file)");
}

/* ---- entries ---- */

/* Builds the record of the current entry; *ret_cursor malloc'd. */
static int entry_build(struct journald_source *s, json **ret_rec, char **ret_cursor)
{
        sd_id128_t boot;
        uint64_t rt = 0, mt = 0;
        char boot_hex[SD_ID128_STRING_MAX], what[96];
        const void *d;
        size_t l;
        char *cursor = NULL;
        int r;

        r = sd_journal_get_cursor(s->j, &cursor);
        if (r < 0)
                return r;
        if (sd_journal_get_realtime_usec(s->j, &rt) < 0)
                rt = 0;
        if (sd_journal_get_monotonic_usec(s->j, &mt, &boot) < 0) {
                mt = 0;
                boot = SD_ID128_NULL;
        }
        sd_id128_to_string(boot, boot_hex);
        r = norm_journal_begin(s->nb, cursor, rt, mt, boot_hex);
        sd_journal_restart_data(s->j);
        while (r >= 0) {
                r = sd_journal_enumerate_data(s->j, &d, &l);
                if (r <= 0)
                        break;
                /* journalctl leaves the _BOOT_ID field out: the header line carries it. */
                if (l >= 9 && !memcmp(d, "_BOOT_ID=", 9))
                        continue;
                r = norm_journal_add(s->nb, d, l);
        }
        if (r == -ENOMEM)
                goto fail;
        if (r < 0) {
                snprintf(what, sizeof(what), "the journal could not give every field: %s",
                         strerror(-r));
                norm_journal_bad(s->nb, what);
        }
        r = norm_journal_finish(s->nb, s->name, tm_now_us(), ret_rec);
        if (r < 0)
                goto fail;
        *ret_cursor = cursor;
        return 0;
fail:
        free(cursor);
        return r;
}

/* The first entry after seeking to the stored cursor: skip it when it is the cursor's own
 * entry, report a gap when the cursor's entry is gone (*ret_gap). Returns 1 to take the
 * entry, 0 to skip it. */
static int resume_check(struct journald_source *s, const char *cursor, int64_t rt,
                        bool *ret_gap)
{
        char *stored = s->resume_cursor;
        bool inclusive = s->resume_inclusive;
        char sid[33], cid[33];
        uint64_t sseq, cseq;
        int64_t missing = -1;

        s->resume_cursor = NULL;
        if (sd_journal_test_cursor(s->j, stored) > 0) {
                free(stored);
                return inclusive ? 1 : 0;
        }
        /* Same journal: its sequence numbers say how many are gone (the stored entry itself
         * too when it was never taken, see BEFORE_PREFIX). */
        if (cursor_seq(stored, sid, &sseq) && cursor_seq(cursor, cid, &cseq) &&
            !strcmp(sid, cid) && cseq > sseq)
                missing = (int64_t)(cseq - sseq - (inclusive ? 0 : 1));
        emit_gap(s, stored, cursor_realtime(stored), cursor, rt, missing,
                 "the entry at the stored cursor is gone (its file was rotated away, vacuumed "
                 "or deleted)");
        *ret_gap = true;
        free(stored);
        return 1;
}

/* ops (issue 9): the cursor lag, the realtime of the journal's newest entry minus that of
 * the last entry read, in whole seconds rounded up (so any lag shows); 0 once caught up
 * (sd_journal_next found nothing more). The newest entry is the journal's, filters aside:
 * a filtered source shows the lag until it catches up. */
static void lag_update(struct journald_source *s, uint64_t rt)
{
        uint64_t to = 0;

        if (sd_journal_get_cutoff_realtime_usec(s->j, NULL, &to) <= 0)
                return;
        metric_set(s->m_lag, to > rt ? (int64_t)((to - rt + 999999) / 1000000) : 0);
}

/* Reads up to JOURNALD_BATCH entries. */
static int dispatch(struct journald_source *s)
{
        int n;

        if (s->n_pend > 0 && !s->stopped && s->last_rt)
                lag_update(s, s->last_rt);  /* ops (issue 9): paused; the journal grew */
        if (s->stopped || s->n_pend > 0)
                return 0;
        for (n = 0; n < JOURNALD_BATCH && s->n_pend == 0; n++) {
                json *rec = NULL;
                char *cursor = NULL;
                uint64_t rt = 0;
                bool gap;
                int take, r = sd_journal_next(s->j);

                if (r == 0) {
                        metric_set(s->m_lag, 0);  /* ops (issue 9): caught up */
                        return 0; /* caught up; the journal fd wakes us */
                }
                if (r < 0) {
                        if (!s->read_error_logged)
                                log_error("cannot read the journal; retrying on its next change",
                                          "source=%s error=\"%s\"", s->name, strerror(-r));
                        s->read_error_logged = true;
                        return 0;
                }
                s->read_error_logged = false;
                r = entry_build(s, &rec, &cursor);
                if (r < 0) {
                        /* Out of memory: counted; the entry is retried after a restart only
                         * if no later entry is stored, so this is a real loss. */
                        drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
                        continue;
                }
                sd_journal_get_realtime_usec(s->j, &rt);
                s->last_rt = rt;
                take = 1;
                gap = false;
                if (s->resume_cursor)
                        take = resume_check(s, cursor, (int64_t)rt, &gap);
                if (take && !gap)
                        seq_check(s, cursor, (int64_t)rt);
                seq_note(s, cursor, (int64_t)rt);
                if (!take) {
                        json_free(rec);
                        free(cursor);
                        continue;
                }
                /* ops (issue 9): counted under the label the writer's kept count uses */
                metrics_received("journald",
                                 json_str(json_obj_get(json_obj_get(rec, "source"),
                                                       "transport"), NULL));
                emit(s, rec, cursor);
                free(cursor);
                s->count++;
                if (pend_flush(s) == -EAGAIN) {
                        lag_update(s, s->last_rt);
                        return pause_reading(s);
                }
        }
        if (s->last_rt)
                lag_update(s, s->last_rt);  /* ops (issue 9) */
        if (s->n_pend > 0 && pend_flush(s) == -EAGAIN)
                return pause_reading(s);
        kick(s); /* more may remain: come back after the other fds */
        return 0;
}

static int kick_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        struct journald_source *s = ud;
        uint64_t v;

        (void)!read(fd, &v, sizeof(v));
        return dispatch(s);
}

/* ---- probing for files sd-journal skips ---- */

static bool seen_has(const struct journald_source *s, const struct stat *st)
{
        for (size_t i = 0; i < s->n_seen; i++)
                if (s->seen[i].dev == st->st_dev && s->seen[i].ino == st->st_ino)
                        return true;
        return false;
}

static int seen_add(struct journald_source *s, const struct stat *st)
{
        struct probed *p = realloc(s->seen, (s->n_seen + 1) * sizeof(*p));

        if (!p)
                return -ENOMEM;
        s->seen = p;
        s->seen[s->n_seen++] = (struct probed){ st->st_dev, st->st_ino };
        return 0;
}

static int probe_cb(struct loop *l, void *ud);

/* Probes one file. Returns 1 when it must be looked at again later. */
static int probe_file(struct journald_source *s, const char *path)
{
        const char *files[] = { path, NULL };
        struct stat st;
        sd_journal *j = NULL;
        json *rec = NULL;
        int r;

        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || seen_has(s, &st))
                return 0;
        r = sd_journal_open_files(&j, files, 0);
        sd_journal_close(j);
        if (r >= 0)
                return seen_add(s, &st) < 0 ? 1 : 0;
        if (tm_now_us() - ((int64_t)st.st_mtim.tv_sec * TM_USEC_PER_SEC +
                           st.st_mtim.tv_nsec / 1000) < JOURNALD_PROBE_SETTLE_US)
                return 1;
        if (seen_add(s, &st) < 0)
                return 1;
        log_error("journal file cannot be read; its entries are skipped",
                  "source=%s file=%s error=\"%s\"", s->name, path,
                  r == -ENODATA ? "truncated or not a journal file" : strerror(-r));
        if (norm_journal_unreadable(s->name, path,
                                    r == -ENODATA ? "truncated or not a journal file"
                                                  : strerror(-r), tm_now_us(), &rec) < 0)
                drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
        else
                emit(s, rec, NULL);
        return 0;
}

static bool is_journal_name(const char *n)
{
        size_t l = strlen(n);

        return (l > 8 && !strcmp(n + l - 8, ".journal")) ||
               (l > 9 && !strcmp(n + l - 9, ".journal~"));
}

static bool is_machine_dir(const char *n)
{
        return strlen(n) == 32 && strspn(n, "0123456789abcdef") == 32;
}

/* Probes the journal files of a directory (and its machine-id subdirectories, as
 * sd_journal_open_directory reads them). Returns how many must be looked at later. */
static int probe_dir(struct journald_source *s, const char *dir, int depth)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        char path[4096];
        int later = 0;

        if (!d)
                return 0;
        while ((de = readdir(d))) {
                if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
                        continue;
                if (is_journal_name(de->d_name))
                        later += probe_file(s, path);
                else if (depth == 0 && is_machine_dir(de->d_name))
                        later += probe_dir(s, path, 1);
        }
        closedir(d);
        return later;
}

static void probe(struct journald_source *s)
{
        int later = 0;

        for (size_t i = 0; i < s->n_probe_paths; i++)
                later += s->probe_dirs ? probe_dir(s, s->probe_paths[i], 0)
                                       : probe_file(s, s->probe_paths[i]);
        if (later && s->probe_timer < 0) {
                int t = loop_add_timer(s->loop, JOURNALD_PROBE_SETTLE_US, probe_cb, s);

                s->probe_timer = t >= 0 ? t : -1;
        } else if (!later && s->probe_timer >= 0) {
                loop_del_timer(s->loop, s->probe_timer);
                s->probe_timer = -1;
        }
        if (s->n_pend > 0 && pend_flush(s) == -EAGAIN)
                pause_reading(s);
}

static int probe_cb(struct loop *l, void *ud)
{
        probe(ud);
        return 0;
}

/* ---- following ---- */

static int journal_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        struct journald_source *s = ud;
        int r = sd_journal_process(s->j);

        if (r == SD_JOURNAL_INVALIDATE)
                probe(s);
        return dispatch(s);
}

static int poll_cb(struct loop *l, void *ud)
{
        return journal_cb(l, -1, 0, ud);
}

/* ---- opening ---- */

static int add_list(sd_journal *j, const char *field, char *const *vals, size_t n,
                    const char *suffix_if_bare, char *err, size_t err_len)
{
        char m[1024];

        for (size_t i = 0; i < n; i++) {
                bool bare = suffix_if_bare && !strchr(vals[i], '.');
                int r;

                snprintf(m, sizeof(m), "%s%s%s%s", field ? field : "", field ? "=" : "", vals[i],
                         bare ? suffix_if_bare : "");
                r = sd_journal_add_match(j, m, 0);
                if (r < 0) {
                        snprintf(err, err_len, "bad match '%s': %s", m, strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int add_filters(sd_journal *j, const struct journald_config *c, char *err,
                       size_t err_len)
{
        int r = add_list(j, NULL, c->matches, c->n_matches, NULL, err, err_len);

        if (r >= 0)
                r = add_list(j, "_SYSTEMD_UNIT", c->units, c->n_units, ".service", err, err_len);
        if (r >= 0)
                r = add_list(j, "SYSLOG_IDENTIFIER", c->identifiers, c->n_identifiers, NULL, err,
                             err_len);
        if (r >= 0)
                r = add_list(j, "_TRANSPORT", c->transports, c->n_transports, NULL, err, err_len);
        for (int p = 0; r >= 0 && p <= c->max_priority && p < 8; p++) {
                char m[16];

                snprintf(m, sizeof(m), "PRIORITY=%d", p);
                r = sd_journal_add_match(j, m, 0);
        }
        return r;
}

static int set_probe_paths(struct journald_source *s, const struct journald_config *c)
{
        static const char *const sys[] = { "/var/log/journal", "/run/log/journal" };
        size_t n = c->directory ? 1 : c->system ? 2 : c->n_files;

        s->probe_paths = calloc(n ? n : 1, sizeof(char *));
        if (!s->probe_paths)
                return -ENOMEM;
        s->probe_dirs = !c->n_files;
        for (size_t i = 0; i < n; i++) {
                const char *p = c->directory ? c->directory : c->system ? sys[i] : c->files[i];

                s->probe_paths[i] = strdup(p);
                if (!s->probe_paths[i])
                        return -ENOMEM;
                s->n_probe_paths++;
        }
        return 0;
}

/* Files mode: sd_journal_open_files refuses the whole list when one file is unreadable,
 * so the readable ones are opened and the others reported by the probe. */
static int open_files(struct journald_source *s, const struct journald_config *c, char *err,
                      size_t err_len)
{
        const char **ok = calloc(c->n_files + 1, sizeof(char *));
        size_t n = 0;
        int r;

        if (!ok)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_files; i++) {
                const char *one[] = { c->files[i], NULL };
                sd_journal *j = NULL;

                if (access(c->files[i], R_OK) < 0) {
                        r = -errno;
                        snprintf(err, err_len, "cannot read %s: %s", c->files[i], strerror(errno));
                        free(ok);
                        return r;
                }
                if (sd_journal_open_files(&j, one, 0) >= 0)
                        ok[n++] = c->files[i];
                sd_journal_close(j);
        }
        r = n ? sd_journal_open_files(&s->j, ok, 0) : -ENODATA;
        if (r < 0)
                snprintf(err, err_len, "cannot open the journal files: %s",
                         n ? strerror(-r) : "none of them is a readable journal file");
        free(ok);
        return r;
}

static int journal_open(struct journald_source *s, const struct journald_config *c, char *err,
                        size_t err_len)
{
        int r;

        if (c->directory) {
                r = sd_journal_open_directory(&s->j, c->directory, 0);
                if (r < 0)
                        snprintf(err, err_len, "cannot open the journal directory %s: %s",
                                 c->directory, strerror(-r));
        } else if (c->n_files) {
                r = open_files(s, c, err, err_len);
        } else {
                r = sd_journal_open(&s->j, SD_JOURNAL_LOCAL_ONLY);
                if (r < 0)
                        snprintf(err, err_len, "cannot open the system journal: %s",
                                 strerror(-r));
        }
        if (r < 0)
                return r;
        /* Whole fields: the record keeps up to JOURNALD_FIELD_MAX and says when it cut, and
         * raw_sha256 covers everything. */
        sd_journal_set_data_threshold(s->j, 0);
        return add_filters(s->j, c, err, err_len);
}

static int seek_start(struct journald_source *s, const struct journald_config *c,
                      const char *position, char *err, size_t err_len)
{
        int r;

        if (position) {
                bool incl = !strncmp(position, BEFORE_PREFIX, strlen(BEFORE_PREFIX));
                const char *cur = incl ? position + strlen(BEFORE_PREFIX) : position;

                r = sd_journal_seek_cursor(s->j, cur);
                if (r < 0) {
                        snprintf(err, err_len, "stored position '%s' is not a journal cursor: %s",
                                 position, strerror(-r));
                        return r;
                }
                s->resume_cursor = strdup(cur);
                s->resume_inclusive = incl;
                return s->resume_cursor ? 0 : -ENOMEM;
        }
        switch (c->start) {
        case JOURNALD_START_TAIL:
                r = sd_journal_seek_tail(s->j);
                /* Onto the last entry, so that next() gives only newer ones. */
                if (r >= 0)
                        r = sd_journal_previous(s->j);
                break;
        case JOURNALD_START_TIME:
                r = sd_journal_seek_realtime_usec(s->j, (uint64_t)c->start_us);
                break;
        default:
                r = sd_journal_seek_head(s->j);
                break;
        }
        if (r < 0)
                snprintf(err, err_len, "cannot seek the journal: %s", strerror(-r));
        return r < 0 ? r : 0;
}

int journald_source_new(const struct journald_config *cfg, const char *position,
                        struct loop *loop, struct queue *q, struct drop_counters *drops,
                        struct journald_source **ret, char *err, size_t err_len)
{
        struct journald_source *s = calloc(1, sizeof(*s));
        int r = -ENOMEM;

        if (!s)
                return -ENOMEM;
        s->jfd = s->kick_fd = s->space_fd = -1;
        s->retry_timer = s->poll_timer = s->probe_timer = -1;
        s->loop = loop;
        s->q = q;
        s->drops = drops;
        s->name = strdup(cfg->name);
        if (!s->name || asprintf(&s->pos_source, "journald:%s", cfg->name) < 0) {
                s->pos_source = NULL;
                goto fail_msg;
        }
        if (norm_journal_new(JOURNALD_FIELD_MAX, &s->nb) < 0 || set_probe_paths(s, cfg) < 0 ||
            recycle_new(JOURNALD_REC_BLOCK, JOURNALD_REC_KEEP, &s->rec_rc) < 0 ||
            recycle_new(sizeof(struct event), JOURNALD_EVENT_KEEP, &s->ev_rc) < 0 ||
            norm_journal_recycle(s->nb, &s->rec_rc, 1) < 0)
                goto fail_msg;
        s->m_lag = metrics_gauge("gatelog_journald_cursor_lag_seconds",  /* ops (issue 9) */
                                 "Realtime of the journal's newest entry minus the last one "
                                 "read, seconds; 0 when caught up", "source", cfg->name, NULL);
        s->track_seq = !cfg->n_files && !cfg->n_matches && !cfg->n_units &&
                       !cfg->n_identifiers && !cfg->n_transports && cfg->max_priority < 0;
        r = journal_open(s, cfg, err, err_len);
        if (r < 0)
                goto fail;
        r = seek_start(s, cfg, position, err, err_len);
        if (r < 0)
                goto fail;
        s->jfd = sd_journal_get_fd(s->j);
        if (s->jfd < 0) {
                r = s->jfd;
                snprintf(err, err_len, "cannot watch the journal: %s", strerror(-r));
                goto fail;
        }
        s->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        s->space_fd = queue_space_subscribe(q);
        if (s->kick_fd < 0 || s->space_fd < 0) {
                r = -errno;
                snprintf(err, err_len, "cannot start: %s", strerror(errno));
                goto fail;
        }
        r = loop_add(loop, s->jfd, EPOLLIN, journal_cb, s);
        if (r >= 0) {
                s->jfd_on = true;
                r = loop_add(loop, s->kick_fd, EPOLLIN, kick_cb, s);
        }
        if (r >= 0) {
                s->kick_on = true;
                if (sd_journal_reliable_fd(s->j) == 0) {
                        r = loop_add_timer(loop, JOURNALD_POLL_US, poll_cb, s);
                        s->poll_timer = r >= 0 ? r : -1;
                }
        }
        if (r < 0) {
                snprintf(err, err_len, "cannot register in the loop: %s", strerror(-r));
                goto fail;
        }
        probe(s);
        kick(s); /* catch up on the first loop iteration */
        *ret = s;
        return 0;
fail_msg:
        snprintf(err, err_len, "%s", strerror(ENOMEM));
fail:
        journald_source_free(s);
        return r;
}

void journald_source_stop(struct journald_source *s)
{
        if (!s || s->stopped)
                return;
        s->stopped = true;
        if (s->jfd_on)
                loop_del(s->loop, s->jfd);
        if (s->kick_on)
                loop_del(s->loop, s->kick_fd);
        s->jfd_on = s->kick_on = false;
        resume_reading(s);
        if (s->poll_timer >= 0)
                loop_del_timer(s->loop, s->poll_timer);
        if (s->probe_timer >= 0)
                loop_del_timer(s->loop, s->probe_timer);
        s->poll_timer = s->probe_timer = -1;
        pend_clear(s);
}

void journald_source_free(struct journald_source *s)
{
        if (!s)
                return;
        journald_source_stop(s);
        if (s->kick_fd >= 0)
                close(s->kick_fd);
        if (s->space_fd >= 0)
                queue_space_unsubscribe(s->q, s->space_fd);
        sd_journal_close(s->j); /* closes jfd */
        norm_journal_free(s->nb);
        /* Events still queued or in the writer keep their recyclers alive until freed. */
        recycle_release(s->rec_rc);
        recycle_release(s->ev_rc);
        for (size_t i = 0; i < s->n_probe_paths; i++)
                free(s->probe_paths[i]);
        free(s->probe_paths);
        free(s->seen);
        free(s->pend);
        free(s->resume_cursor);
        for (size_t i = 0; i < JOURNALD_SEQ_IDS; i++)
                free(s->seq[i].cursor);
        free(s->pos_source);
        free(s->name);
        free(s);
}
