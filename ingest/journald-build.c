/* The journald collector's building thread, `gl-journal` (performance, issue 12, round 8).
 *
 * Why: the collector is one entry after another of two halves of about equal cost: reading
 * (libsystemd's sd_journal_next, _get_cursor and _enumerate_data: ~60 % of its
 * instructions) and building the record (fields checked and kept, raw_sha256, the record's
 * members: ~40 %). sd-journal is not thread-safe and its data pointers last only until the
 * next call on the journal, so the loop thread keeps every library call (and everything that
 * decides what is emitted: resume checks, sequence gaps, probing) and copies each entry it
 * takes into a batch; this thread builds the records and events from the batches, in order,
 * and queues them. On two free cores the collector's rate is then its slower half's.
 *
 * Hand-off: batches of up to JOURNALD_HAND entries (the loop's cursor, times, boot id and
 * the fields' bytes; records the loop made itself, gap and unreadable, travel as ready
 * items, so the order of everything queued is the order the loop decided). At most
 * JOURNALD_HAND_MAX batches are out of the free list; the loop stops reading when it would
 * need one more (journald_hand_room) and this thread wakes it (hand_fd) when one comes back.
 * A full queue stops this thread (it waits on its own subscription to the queue's space),
 * so a full queue still stops reading, a little later. Nothing is dropped: what is in a
 * batch or pending when the source stops was not stored, so the journal gives it again at
 * the next start (the stored cursor never passes it).
 *
 * Threads: journald_hand_* on the loop thread; the rest of this file on `gl-journal`, which
 * owns the recyclers (recycle_get), the record builder, the pending list and the count of
 * events queued. The batch lists are under hand_lock. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/recycle.h"
#include "core/tm.h"
#include "ingest/journald-int.h"
#include "normalize/journald.h"

/* A full queue is looked at again this often even without a space wakeup. */
#define JOURNALD_SPACE_WAIT_MS 100
/* A batch whose byte buffer grew past this (an entry with a huge field) gives it back
 * once built, so that one large entry does not keep its size for the rest of the run. */
#define JOURNALD_HAND_BYTES_KEEP (1u << 20)

/* ---- the loop's side ---- */

static void batch_clear(struct jd_batch *b)
{
        for (size_t i = 0; i < b->n; i++) {
                json_free(b->item[i].rec);
                free(b->item[i].pos);
        }
        b->n = 0;
        b->len = 0;
}

static void batch_free(struct jd_batch *b)
{
        if (!b)
                return;
        batch_clear(b);
        free(b->bytes);
        free(b);
}

/* A batch to fill: from the free list, or a new one. force: also past JOURNALD_HAND_MAX
 * (the loop's own records, which cannot wait). NULL when none may be taken or out of
 * memory. */
static struct jd_batch *batch_take(struct journald_source *s, bool force)
{
        struct jd_hand *h = &s->hand;
        struct jd_batch *b = NULL;
        bool ok;

        pthread_mutex_lock(&h->lock);
        ok = h->n_out < JOURNALD_HAND_MAX || force;
        if (ok) {
                b = h->free;
                if (b)
                        h->free = b->next;
                h->n_out++;
        } else {
                h->loop_waiting = true;  /* tell me when one comes back */
        }
        pthread_mutex_unlock(&h->lock);
        if (ok && !b && !(b = calloc(1, sizeof(*b)))) {
                pthread_mutex_lock(&h->lock);
                h->n_out--;
                pthread_mutex_unlock(&h->lock);
        }
        return b;
}

bool journald_hand_room(struct journald_source *s, bool force)
{
        if (s->hand.cur && s->hand.cur->n < JOURNALD_HAND)
                return true;
        journald_hand_flush(s);
        s->hand.cur = batch_take(s, force);
        return s->hand.cur != NULL;
}

void journald_hand_flush(struct journald_source *s)
{
        struct jd_hand *h = &s->hand;
        struct jd_batch *b = h->cur;

        if (!b || b->n == 0)
                return;
        h->cur = NULL;
        b->next = NULL;
        pthread_mutex_lock(&h->lock);
        if (h->full_tail)
                h->full_tail->next = b;
        else
                h->full = b;
        h->full_tail = b;
        pthread_cond_signal(&h->cond);
        pthread_mutex_unlock(&h->lock);
}

/* Room for n more bytes in the current batch's buffer. */
static int bytes_room(struct jd_batch *b, size_t n)
{
        size_t na;
        char *p;

        if (b->alloc - b->len >= n)
                return 0;
        na = b->alloc ? b->alloc : 16384;
        while (na - b->len < n) {
                if (na > SIZE_MAX / 2)
                        return -ENOMEM;
                na *= 2;
        }
        p = realloc(b->bytes, na);
        if (!p)
                return -ENOMEM;
        b->bytes = p;
        b->alloc = na;
        return 0;
}

struct jd_item *journald_hand_entry(struct journald_source *s, char *cursor, uint64_t rt,
                                    uint64_t mt, const char boot_hex[33])
{
        struct jd_batch *b = s->hand.cur;
        struct jd_item *it = &b->item[b->n];

        *it = (struct jd_item){ .pos = cursor, .rt = rt, .mt = mt, .off = b->len };
        memcpy(it->boot, boot_hex, 33);
        b->n++;
        return it;
}

int journald_hand_field(struct journald_source *s, struct jd_item *it, const void *d,
                        size_t l)
{
        struct jd_batch *b = s->hand.cur;
        uint64_t n = l;

        if (bytes_room(b, sizeof(n) + l) < 0)
                return -ENOMEM;
        memcpy(b->bytes + b->len, &n, sizeof(n));
        memcpy(b->bytes + b->len + sizeof(n), d, l);
        b->len += sizeof(n) + l;
        it->n_fields++;
        return 0;
}

void journald_hand_drop(struct journald_source *s, struct jd_item *it)
{
        struct jd_batch *b = s->hand.cur;

        /* Only the last item can be dropped: it is the one being read. */
        b->len = it->off;
        free(it->pos);
        b->n--;
}

int journald_hand_record(struct journald_source *s, json *rec, int64_t received, char *pos)
{
        struct jd_hand *h = &s->hand;

        if (!h->cur || h->cur->n == JOURNALD_HAND) {
                journald_hand_flush(s);
                h->cur = batch_take(s, true);
        }
        if (!h->cur) {
                json_free(rec);
                free(pos);
                return -ENOMEM;
        }
        h->cur->item[h->cur->n++] = (struct jd_item){ .rec = rec, .pos = pos,
                                                      .received = received };
        return 0;
}

/* ---- gl-journal ---- */

static int pend_add(struct journald_source *s, struct event *e)
{
        struct jd_hand *h = &s->hand;

        if (h->n_pend == h->pend_alloc) {
                size_t na = h->pend_alloc ? h->pend_alloc * 2 : 128;
                struct event **p = realloc(h->pend, na * sizeof(*p));

                if (!p)
                        return -ENOMEM;
                h->pend = p;
                h->pend_alloc = na;
        }
        h->pend[h->n_pend++] = e;
        return 0;
}

static void pend_clear(struct jd_hand *h)
{
        for (size_t i = h->pend_head; i < h->n_pend; i++)
                event_free(h->pend[i]);
        h->pend_head = h->n_pend = 0;
}

static bool stopping(struct jd_hand *h)
{
        return atomic_load_explicit(&h->stop, memory_order_acquire);
}

/* Queues the pending events in order, waiting while the queue is full. Returns when all
 * went, or the source stops or the queue closes (the rest then dropped from memory: the
 * journal replays them). */
static void pend_push(struct journald_source *s)
{
        struct jd_hand *h = &s->hand;
        uint64_t one = 1;
        bool waited = false;

        while (h->pend_head < h->n_pend) {
                size_t taken = 0;
                struct pollfd p[2] = { { .fd = s->space_fd, .events = POLLIN },
                                       { .fd = h->stop_fd, .events = POLLIN } };

                if (queue_push_batch(s->q, (void *const *)&h->pend[h->pend_head],
                                     h->n_pend - h->pend_head, &taken) < 0)
                        break; /* closed: shutting down */
                h->pend_head += taken;
                if (h->pend_head == h->n_pend || stopping(h))
                        break;
                if (!waited) /* the loop updates the lag (ops, issue 9) */
                        (void)!write(h->hand_fd, &one, sizeof(one));
                waited = true;
                (void)poll(p, 2, JOURNALD_SPACE_WAIT_MS);
                if (p[0].revents)
                        queue_ack_space_fd(s->space_fd);
        }
        pend_clear(h);
}

/* ops (issue 9): gatelog_events_received_total{source="journald/TRANSPORT"}, its counter
 * kept for the last transport seen (one source mostly reads one or two). */
static void count_received(struct jd_hand *h, const char *transport)
{
        bool same = transport ? !h->recv_null && h->m_recv &&
                                        !strcmp(h->recv_transport, transport)
                              : h->recv_null && h->m_recv;

        if (!same) {
                h->m_recv = metrics_received_counter("journald", transport);
                h->recv_null = !transport;
                h->recv_transport[0] = '\0';
                if (transport && strlen(transport) < sizeof(h->recv_transport))
                        strcpy(h->recv_transport, transport);
                else if (transport) {
                        /* too long to remember: looked up each time */
                        metric_add(h->m_recv, 1);
                        h->m_recv = NULL;
                        return;
                }
        }
        metric_add(h->m_recv, 1);
}

/* Wraps rec (owned) in an event with its position (pos owned, may be NULL) and holds it
 * for the queue. Out of memory is counted: the record is lost, but the stored position
 * does not move past it unless a later entry's does. */
static void emit(struct journald_source *s, json *rec, int64_t received, char *pos)
{
        struct event *e = event_new_recycled(s->ev_rc, rec, received);

        if (e && pos) {
                e->pos_source = strdup(s->pos_source);
                e->pos = pos;
                pos = NULL;
                if (!e->pos_source) {
                        event_free(e);
                        e = NULL;
                }
        }
        free(pos);
        if (!e || pend_add(s, e) < 0) {
                event_free(e);
                drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
        }
}

/* The record of one entry the loop copied (the fields as sd_journal_enumerate_data gave
 * them, each after its length). */
static int entry_record(struct journald_source *s, const struct jd_batch *b,
                        const struct jd_item *it, int64_t *ret_received, json **ret_rec)
{
        const char *p = b->bytes + it->off;
        char what[96];
        int r;

        r = norm_journal_begin(s->nb, it->pos, it->rt, it->mt, it->boot);
        for (uint32_t i = 0; r >= 0 && i < it->n_fields; i++) {
                uint64_t l;

                memcpy(&l, p, sizeof(l));
                r = norm_journal_add(s->nb, p + sizeof(l), (size_t)l);
                p += sizeof(l) + l;
        }
        if (r < 0)
                return r;
        if (it->err < 0) {
                snprintf(what, sizeof(what), "the journal could not give every field: %s",
                         strerror(-it->err));
                norm_journal_bad(s->nb, what);
        }
        /* The record says the time in whole microseconds (tm_format_rfc3339), which is
         * what the event gets: the same value reading it back would give. */
        *ret_received = tm_now_us();
        return norm_journal_finish(s->nb, s->name, *ret_received, ret_rec);
}

static void batch_build(struct journald_source *s, struct jd_batch *b)
{
        struct jd_hand *h = &s->hand;

        for (size_t i = 0; i < b->n; i++) {
                struct jd_item *it = &b->item[i];
                int64_t received = it->received;
                json *rec = it->rec;
                bool entry = !rec; /* else a gap or unreadable record of the loop's */

                it->rec = NULL;
                if (!rec && entry_record(s, b, it, &received, &rec) < 0) {
                        /* Out of memory: counted; the entry is retried after a restart
                         * only if no later entry is stored, so this is a real loss. */
                        drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
                        free(it->pos);
                        it->pos = NULL;
                        continue;
                }
                /* ops (issue 9): counted under the label the writer's kept count uses */
                if (entry) {
                        count_received(h, norm_journal_transport(s->nb));
                        if (it->rt)
                                atomic_store_explicit(&h->built_rt, it->rt,
                                                      memory_order_relaxed);
                }
                emit(s, rec, received, it->pos);
                it->pos = NULL;
                if (entry)
                        atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
        }
        b->n = 0;
        b->len = 0;
        if (b->alloc > JOURNALD_HAND_BYTES_KEEP) {
                free(b->bytes);
                b->bytes = NULL;
                b->alloc = 0;
        }
}

static void *build_thread(void *ud)
{
        struct journald_source *s = ud;
        struct jd_hand *h = &s->hand;
        struct jd_batch *b;
        uint64_t one = 1;
        bool wake;

        (void)pthread_setname_np(pthread_self(), "gl-journal");
        for (;;) {
                pthread_mutex_lock(&h->lock);
                while (!h->full && !stopping(h))
                        pthread_cond_wait(&h->cond, &h->lock);
                b = h->full;
                if (b && !stopping(h)) {
                        h->full = b->next;
                        if (!h->full)
                                h->full_tail = NULL;
                } else {
                        b = NULL;
                }
                pthread_mutex_unlock(&h->lock);
                if (!b)
                        break;
                batch_build(s, b);
                pend_push(s);
                pthread_mutex_lock(&h->lock);
                b->next = h->free;
                h->free = b;
                h->n_out--;
                wake = h->loop_waiting;
                h->loop_waiting = false;
                pthread_mutex_unlock(&h->lock);
                if (wake)
                        (void)!write(h->hand_fd, &one, sizeof(one));
        }
        pend_clear(h);
        return NULL;
}

int journald_hand_start(struct journald_source *s)
{
        struct jd_hand *h = &s->hand;
        int r;

        h->hand_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        h->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (h->hand_fd < 0 || h->stop_fd < 0)
                return -errno;
        r = pthread_create(&h->thread, NULL, build_thread, s);
        if (r != 0)
                return -r;
        h->started = true;
        return 0;
}

void journald_hand_stop(struct journald_source *s)
{
        struct jd_hand *h = &s->hand;
        uint64_t one = 1;

        if (h->started) {
                pthread_mutex_lock(&h->lock);
                atomic_store_explicit(&h->stop, true, memory_order_release);
                pthread_cond_signal(&h->cond);
                pthread_mutex_unlock(&h->lock);
                (void)!write(h->stop_fd, &one, sizeof(one));
                pthread_join(h->thread, NULL);
                h->started = false;
        }
        /* What was not built is given again by the journal next start. */
        batch_free(h->cur);
        h->cur = NULL;
        for (struct jd_batch *b = h->full, *next; b; b = next) {
                next = b->next;
                batch_free(b);
        }
        for (struct jd_batch *b = h->free, *next; b; b = next) {
                next = b->next;
                batch_free(b);
        }
        h->full = h->full_tail = h->free = NULL;
        h->n_out = 0;
        pend_clear(h);
}

void journald_hand_free(struct journald_source *s)
{
        struct jd_hand *h = &s->hand;

        journald_hand_stop(s);
        if (h->hand_fd >= 0)
                close(h->hand_fd);
        if (h->stop_fd >= 0)
                close(h->stop_fd);
        h->hand_fd = h->stop_fd = -1;
        free(h->pend);
        h->pend = NULL;
        h->pend_alloc = 0;
}
