/* The journald collector (ingest/journald.h): sd-journal in the daemon's event loop.
 *
 * Load: a host journal catching up (hundreds of thousands of entries at once after a long
 * stop), then a steady trickle. Guarantees:
 *  - Exactly once across restarts and crashes: each event carries its entry's cursor as its
 *    position; we resume after the stored one, whose entry is skipped by sd_journal_test_cursor
 *    (seek_cursor + next lands ON the cursor's entry when it still exists).
 *  - Never drops: the records are built on the `gl-journal` thread (ingest/journald-build.c:
 *    reading and building overlap on two cores); a full queue stops it, and reading stops
 *    when it is JOURNALD_HAND_MAX batches behind, until it gives one back (the journal
 *    holds the rest).
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
 *    sd_journal_reliable_fd says inotify cannot be trusted).
 *
 * The gap record's position is "before:CURSOR" (CURSOR: the first entry read after the
 * gap): a crash right after it is stored resumes AT that entry instead of reporting the gap
 * twice. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "core/log.h"
#include "core/metrics.h"  /* ops (issue 9) */
#include "core/recycle.h"
#include "core/tm.h"
#include "ingest/journald.h"
#include "ingest/journald-int.h"
#include "normalize/journald.h"

/* Recycled blocks (performance, issue 12: gl-journal allocates every event and record, the
 * writer's threads free them; see core/recycle.h and ingest/syslog-net.c). A record's
 * block: its 4 KiB reserve and room to grow into (a bigger entry spills into malloc'd
 * chunks as before). Idle blocks kept: about a quarter of the default queue (8,192 events),
 * 16 MiB, so a burst's blocks are mostly reused. */
#define JOURNALD_REC_BLOCK 8192u
#define JOURNALD_REC_KEEP 2048u
#define JOURNALD_EVENT_KEEP 8192u

#define JOURNALD_POLL_US TM_USEC_PER_SEC
/* systemd's VALID_REALTIME/VALID_MONOTONIC bound: times from here on are refused. */
#define JOURNALD_TIME_INVALID ((UINT64_C(1) << 55) - 1)
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
        return atomic_load_explicit(&((struct journald_source *)s)->hand.count,
                                    memory_order_relaxed);
}

/* ---- records of the loop's own, and pausing ---- */

/* Queues a gap or unreadable record after what was read before it (through gl-journal, to
 * keep the order): the receipt time is read back from the record, pos (optional) copied.
 * Out of memory is counted: the record is lost. */
void journald_emit(struct journald_source *s, json *rec, const char *pos)
{
        int64_t received = tm_now_us();
        size_t len = 0;
        const char *rs = json_str(json_obj_get(rec, "received"), &len);
        char *copy = NULL;

        if (rs)
                (void)tm_parse_rfc3339(rs, len, 0, &received);
        if ((pos && !(copy = strdup(pos))) || journald_hand_record(s, rec, received, copy) < 0) {
                if (pos && !copy)
                        json_free(rec);
                drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
        }
}

static int dispatch(struct journald_source *s);

static void kick(struct journald_source *s)
{
        uint64_t one = 1;

        (void)!write(s->kick_fd, &one, sizeof(one));
}

static void lag_update(struct journald_source *s);

/* gl-journal gave a batch back while reading waited for one, or waits for a full queue
 * (the lag is then updated: ops, issue 9). */
static int hand_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        struct journald_source *s = ud;
        uint64_t v;

        (void)!read(fd, &v, sizeof(v));
        if (s->stopped)
                return 0;
        if (!s->paused) {
                lag_update(s);
                return 0;
        }
        return dispatch(s); /* updates the lag too */
}

/* ---- cursors ---- */

static struct seq_track *seq_find(struct journald_source *s, const char *id)
{
        for (size_t i = 0; i < JOURNALD_SEQ_IDS; i++)
                if (!strcmp(s->seq[i].id, id))
                        return &s->seq[i];
        return NULL;
}

/* Remembers the entry at cursor (its s= id and i= seq, parsed once by the caller) as the
 * last seen of its journal. The cursor is copied into the slot's buffer, which grows only
 * when a cursor is longer than any before (issue 12: no malloc per entry). */
static void seq_note(struct journald_source *s, const char *cursor, const char id[33],
                     uint64_t seq, int64_t rt)
{
        struct seq_track *t;
        size_t len = strlen(cursor) + 1;

        t = seq_find(s, id);
        if (!t) {
                t = &s->seq[0];
                for (size_t i = 1; i < JOURNALD_SEQ_IDS; i++)
                        if (s->seq[i].tick < t->tick)
                                t = &s->seq[i];
                memcpy(t->id, id, 33);
        }
        if (len > t->cursor_alloc) {
                char *c = realloc(t->cursor, len);

                if (!c) {
                        t->id[0] = '\0'; /* forget rather than compare against a stale one */
                        return;
                }
                t->cursor = c;
                t->cursor_alloc = len;
        }
        memcpy(t->cursor, cursor, len);
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
                journald_emit(s, gap, before);
}

/* A jump in the sequence numbers of one journal since the last entry we saw of it (id,
 * seq: the cursor's, parsed once by the caller). */
static void seq_check(struct journald_source *s, const char *cursor, const char id[33],
                      uint64_t seq, int64_t rt)
{
        struct seq_track *t;

        if (!s->track_seq || !(t = seq_find(s, id)) || seq <= t->seq + 1)
                return;
        emit_gap(s, t->cursor, t->realtime_us, cursor, rt, (int64_t)(seq - t->seq - 1),
                 "the journal's sequence numbers jump: the library skipped entries (a damaged "
                 "or removed file)");
}

/* ---- entries ---- */

/* The cursor of the current entry (*ret_cursor malloc'd) and its realtime, monotonic time
 * and boot id (*parts the cursor's parts when *ret_parsed). */
static int entry_head(struct journald_source *s, char **ret_cursor, uint64_t *ret_rt,
                      uint64_t *ret_mt, char boot_hex[SD_ID128_STRING_MAX],
                      struct journald_cursor *parts, bool *ret_parsed)
{
        sd_id128_t boot;
        int r;

        r = sd_journal_get_cursor(s->j, ret_cursor);
        if (r < 0)
                return r;
        /* The times and boot id are the entry object's, which the cursor was just made of;
         * a value the library would refuse (systemd's VALID_REALTIME, VALID_MONOTONIC: 0 or
         * from 2^55 - 1) or a cursor of another layout goes the slow way, to the library. */
        *ret_parsed = journald_cursor_parse(*ret_cursor, parts);
        if (*ret_parsed && parts->real > 0 && parts->real < JOURNALD_TIME_INVALID &&
            parts->mono < JOURNALD_TIME_INVALID) {
                *ret_rt = parts->real;
                *ret_mt = parts->mono;
                memcpy(boot_hex, parts->boot, sizeof(parts->boot));
                return 0;
        }
        if (sd_journal_get_realtime_usec(s->j, ret_rt) < 0)
                *ret_rt = 0;
        if (sd_journal_get_monotonic_usec(s->j, ret_mt, &boot) < 0) {
                *ret_mt = 0;
                boot = SD_ID128_NULL;
        }
        sd_id128_to_string(boot, boot_hex);
        return 0;
}

/* Copies the current entry's fields into the entry it of the batch being filled, for
 * gl-journal to build its record. 0, or -ENOMEM. */
static int entry_copy(struct journald_source *s, struct jd_item *it)
{
        const void *d;
        size_t l;
        int r;

        sd_journal_restart_data(s->j);
        for (;;) {
                r = sd_journal_enumerate_data(s->j, &d, &l);
                if (r <= 0)
                        break;
                /* journalctl leaves the _BOOT_ID field out: the header line carries it. */
                if (l >= 9 && !memcmp(d, "_BOOT_ID=", 9))
                        continue;
                if (journald_hand_field(s, it, d, l) < 0)
                        return -ENOMEM;
        }
        if (r == -ENOMEM)
                return r;
        it->err = r < 0 ? r : 0; /* flagged journal_bad_data by gl-journal */
        return 0;
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
        if (journald_cursor_seq(stored, sid, &sseq) && journald_cursor_seq(cursor, cid, &cseq) &&
            !strcmp(sid, cid) && cseq > sseq)
                missing = (int64_t)(cseq - sseq - (inclusive ? 0 : 1));
        emit_gap(s, stored, journald_cursor_realtime(stored), cursor, rt, missing,
                 "the entry at the stored cursor is gone (its file was rotated away, vacuumed "
                 "or deleted)");
        *ret_gap = true;
        free(stored);
        return 1;
}

/* ops (issue 9): the cursor lag, the realtime of the journal's newest entry minus that of
 * the last entry made into a record (gl-journal's: the loop reads up to
 * JOURNALD_HAND_MAX batches ahead), in whole seconds rounded up (so any lag shows); 0 once
 * caught up (sd_journal_next found nothing more). The newest entry is the journal's,
 * filters aside: a filtered source shows the lag until it catches up. */
static void lag_update(struct journald_source *s)
{
        uint64_t to = 0, rt = atomic_load_explicit(&s->hand.built_rt, memory_order_relaxed);

        if (!rt || sd_journal_get_cutoff_realtime_usec(s->j, NULL, &to) <= 0)
                return;
        metric_set(s->m_lag, to > rt ? (int64_t)((to - rt + 999999) / 1000000) : 0);
}

/* Hands what was read to gl-journal; with every batch out, reading waits for one. */
static int hand_or_pause(struct journald_source *s, bool paused)
{
        journald_hand_flush(s);
        if (paused) {
                s->paused = true;
                lag_update(s);
        }
        return 0;
}

/* Reads up to JOURNALD_BATCH entries into batches for gl-journal, handed over
 * JOURNALD_HAND at a time and whenever reading stops (caught up, an error, the batch's
 * end), so that nothing waits while the loop sleeps. Reading waits (s->paused) while every
 * batch is out; hand_fd resumes it, and so does any later wakeup that finds room. */
static int dispatch(struct journald_source *s)
{
        int n;

        if (s->stopped)
                return 0;
        if (s->paused)
                lag_update(s);  /* ops (issue 9): paused; the journal grew */
        /* Paused or not, the room is looked at again below (a batch may have come back,
         * or a batch refused for want of memory may be had now). */
        s->paused = false;
        for (n = 0; n < JOURNALD_BATCH; n++) {
                char *cursor = NULL;
                char boot_hex[SD_ID128_STRING_MAX];
                struct journald_cursor cp;
                struct jd_item *it;
                uint64_t rt = 0, mt = 0;
                bool gap, has_seq, parsed = false;
                int take, r;

                /* Room first: an entry read is taken (sd_journal_next has moved on). */
                if (!journald_hand_room(s, false))
                        return hand_or_pause(s, true);
                r = sd_journal_next(s->j);
                if (r == 0) {
                        metric_set(s->m_lag, 0);  /* ops (issue 9): caught up */
                        return hand_or_pause(s, false); /* the journal fd wakes us */
                }
                if (r < 0) {
                        if (!s->read_error_logged)
                                log_error("cannot read the journal; retrying on its next change",
                                          "source=%s error=\"%s\"", s->name, strerror(-r));
                        s->read_error_logged = true;
                        return hand_or_pause(s, false);
                }
                s->read_error_logged = false;
                r = entry_head(s, &cursor, &rt, &mt, boot_hex, &cp, &parsed);
                if (r < 0) {
                        /* Out of memory: counted; the entry is retried after a restart only
                         * if no later entry is stored, so this is a real loss. */
                        drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
                        continue;
                }
                take = 1;
                gap = false;
                if (s->resume_cursor)
                        take = resume_check(s, cursor, (int64_t)rt, &gap);
                has_seq = parsed || journald_cursor_seq(cursor, cp.id, &cp.seq);
                if (take && !gap && has_seq)
                        seq_check(s, cursor, cp.id, cp.seq, (int64_t)rt);
                if (has_seq)
                        seq_note(s, cursor, cp.id, cp.seq, (int64_t)rt);
                if (!take) {
                        free(cursor);
                        continue;
                }
                /* A gap record may have taken the room: past the limit then (an entry
                 * read is taken). */
                if (!journald_hand_room(s, true)) {
                        free(cursor);
                        drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
                        continue;
                }
                it = journald_hand_entry(s, cursor, rt, mt, boot_hex); /* takes the cursor */
                if (entry_copy(s, it) < 0) {
                        journald_hand_drop(s, it);
                        drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
                }
        }
        lag_update(s);  /* ops (issue 9) */
        hand_or_pause(s, false);
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

/* ---- following ---- */

static int journal_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        struct journald_source *s = ud;
        int r = sd_journal_process(s->j);

        if (r == SD_JOURNAL_INVALIDATE)
                journald_probe(s);
        return dispatch(s);
}

static int poll_cb(struct loop *l, void *ud)
{
        return journal_cb(l, -1, 0, ud);
}

int journald_source_new(const struct journald_config *cfg, const char *position,
                        struct loop *loop, struct queue *q, struct drop_counters *drops,
                        struct journald_source **ret, char *err, size_t err_len)
{
        struct journald_source *s = calloc(1, sizeof(*s));
        int r = -ENOMEM;

        if (!s)
                return -ENOMEM;
        s->jfd = s->kick_fd = s->space_fd = s->hand.hand_fd = s->hand.stop_fd = -1;
        s->poll_timer = s->probe_timer = -1;
        pthread_mutex_init(&s->hand.lock, NULL);
        pthread_cond_init(&s->hand.cond, NULL);
        s->loop = loop;
        s->q = q;
        s->drops = drops;
        s->name = strdup(cfg->name);
        if (!s->name || asprintf(&s->pos_source, "journald:%s", cfg->name) < 0) {
                s->pos_source = NULL;
                goto fail_msg;
        }
        if (norm_journal_new(JOURNALD_FIELD_MAX, &s->nb) < 0 ||
            journald_set_probe_paths(s, cfg) < 0 ||
            recycle_new(JOURNALD_REC_BLOCK, JOURNALD_REC_KEEP, &s->rec_rc) < 0 ||
            recycle_new(sizeof(struct event), JOURNALD_EVENT_KEEP, &s->ev_rc) < 0 ||
            norm_journal_recycle(s->nb, &s->rec_rc, 1) < 0)
                goto fail_msg;
        s->m_lag = metrics_gauge("gatelog_journald_cursor_lag_seconds",  /* ops (issue 9) */
                                 "Realtime of the journal's newest entry minus the last one "
                                 "read, seconds; 0 when caught up", "source", cfg->name, NULL);
        s->track_seq = !cfg->n_files && !cfg->n_matches && !cfg->n_units &&
                       !cfg->n_identifiers && !cfg->n_transports && cfg->max_priority < 0;
        r = journald_open(s, cfg, err, err_len);
        if (r < 0)
                goto fail;
        r = journald_seek_start(s, cfg, position, err, err_len);
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
                r = journald_hand_start(s);
                if (r >= 0)
                        r = loop_add(loop, s->hand.hand_fd, EPOLLIN, hand_cb, s);
        }
        if (r >= 0) {
                s->hand_on = true;
                if (sd_journal_reliable_fd(s->j) == 0) {
                        r = loop_add_timer(loop, JOURNALD_POLL_US, poll_cb, s);
                        s->poll_timer = r >= 0 ? r : -1;
                }
        }
        if (r < 0) {
                snprintf(err, err_len, "cannot register in the loop: %s", strerror(-r));
                goto fail;
        }
        journald_probe(s);
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
        if (s->hand_on)
                loop_del(s->loop, s->hand.hand_fd);
        s->jfd_on = s->kick_on = s->hand_on = false;
        if (s->poll_timer >= 0)
                loop_del_timer(s->loop, s->poll_timer);
        if (s->probe_timer >= 0)
                loop_del_timer(s->loop, s->probe_timer);
        s->poll_timer = s->probe_timer = -1;
        journald_hand_stop(s); /* what it had not queued, the journal gives again */
}

void journald_source_free(struct journald_source *s)
{
        if (!s)
                return;
        journald_source_stop(s);
        journald_hand_free(s);
        pthread_mutex_destroy(&s->hand.lock);
        pthread_cond_destroy(&s->hand.cond);
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
        free(s->resume_cursor);
        for (size_t i = 0; i < JOURNALD_SEQ_IDS; i++)
                free(s->seq[i].cursor);
        free(s->pos_source);
        free(s->name);
        free(s);
}
