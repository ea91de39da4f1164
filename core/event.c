/* The event that flows from collectors to the writer, and the drop counters beside it.
 *
 * An event is one heap object holding the gate record; it is created on a collector thread
 * and freed on the writer thread, so nothing here keeps state beyond the object itself. */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/prefetch.h"
#include "core/recycle.h"

struct event *event_new_recycled(struct recycle *rc, json *rec, int64_t received_us)
{
        struct event *e = rc ? recycle_get(rc) : malloc(sizeof(*e));

        if (!e) {
                json_free(rec);
                return NULL;
        }
        /* pos_buf is written before it is read (event_set_posn). */
        memset(e, 0, offsetof(struct event, pos_buf));
        e->received_us = received_us;
        e->rec = rec;
        e->rc = rc;
        return e;
}

struct event *event_new(json *rec, int64_t received_us)
{
        return event_new_recycled(NULL, rec, received_us);
}

static void pos_clear(struct event *e)
{
        if (!e->pos_inline) {
                free(e->pos_source);
                free(e->pos);
        }
        e->pos_source = e->pos = NULL;
        e->pos_inline = false;
}

int event_set_posn(struct event *e, const char *source, size_t source_len, const char *pos,
                   size_t pos_len)
{
        char *s, *p;

        if (source_len + pos_len + 2 <= sizeof(e->pos_buf)) {
                pos_clear(e);
                s = e->pos_buf;
                p = s + source_len + 1;
                e->pos_inline = true;
        } else {
                s = malloc(source_len + 1);
                p = malloc(pos_len + 1);
                if (!s || !p) {
                        free(s);
                        free(p);
                        return -ENOMEM;
                }
                pos_clear(e);
        }
        memcpy(s, source, source_len);
        s[source_len] = '\0';
        memcpy(p, pos, pos_len);
        p[pos_len] = '\0';
        e->pos_source = s;
        e->pos = p;
        return 0;
}

int event_set_pos(struct event *e, const char *source, const char *pos)
{
        return event_set_posn(e, source, strlen(source), pos, strlen(pos));
}

/* What an event owns besides its mapped record and its own block (event_free and
 * event_free_batch give those back, one or a run at a time). */
static void event_fields_free(struct event *e)
{
        json_free(e->rec);
        free(e->drop_rule);
        if (e->pos_source || e->pos)
                pos_clear(e);
}

void event_free(struct event *e)
{
        if (!e)
                return;
        event_fields_free(e);
        if (e->mapped_rc)
                recycle_put(e->mapped_rc, e->mapped);
        else
                free(e->mapped);
        if (e->rc)
                recycle_put(e->rc, e);
        else
                free(e);
}

/* Blocks going back to one recycler, given back RECYCLE_RUN at a time (event_free_batch). */
#define RECYCLE_RUN 64
struct recycle_run {
        struct recycle *rc;
        size_t n;
        void *block[RECYCLE_RUN];
};

static void run_flush(struct recycle_run *run)
{
        if (run->n)
                recycle_put_many(run->rc, run->block, run->n);
        run->n = 0;
}

static void run_put(struct recycle_run *run, struct recycle *rc, void *block)
{
        if (run->rc != rc || run->n == RECYCLE_RUN) {
                run_flush(run);
                run->rc = rc;
        }
        run->block[run->n++] = block;
}

void event_free_batch(struct event *const *ev, size_t n)
{
        struct recycle_run events = { 0 }, mapped = { 0 };

        for (size_t i = 0; i < n; i++) {
                struct event *e = ev[i];
                /* Last read before a batch's commit: ask for the events ahead early. */
                if (i + 2 < n)
                        prefetch(ev[i + 2]);
                if (!e)
                        continue;
                event_fields_free(e);
                if (e->mapped_rc)
                        run_put(&mapped, e->mapped_rc, e->mapped);
                else
                        free(e->mapped);
                if (e->rc)
                        run_put(&events, e->rc, e);
                else
                        free(e);
        }
        run_flush(&mapped);
        run_flush(&events);
}

size_t event_bytes(const void *item)
{
        const struct event *e = item;
        /* A recycled struct's size is known (no read of malloc's header: issue 12). */
        size_t n = (e->rc ? recycle_block_size(e->rc) : malloc_usable_size((void *)e)) +
                   json_tree_bytes(e->rec);

        if (e->mapped)
                n += e->mapped_rc ? recycle_block_size(e->mapped_rc)
                                  : malloc_usable_size(e->mapped);
        if (e->drop_rule)
                n += malloc_usable_size(e->drop_rule);
        if (e->pos_source && !e->pos_inline)
                n += malloc_usable_size(e->pos_source);
        if (e->pos && !e->pos_inline)
                n += malloc_usable_size(e->pos);
        return n;
}

void event_free_cb(void *e)
{
        event_free(e);
}

const char *drop_reason_name(enum drop_reason r)
{
        static const char *const names[DROP__MAX] = {
                [DROP_QUEUE_FULL] = "queue_full",
                [DROP_KERNEL_OVERFLOW] = "kernel_overflow",
                [DROP_CONN_LIMIT] = "conn_limit",
                [DROP_OUT_OF_MEMORY] = "out_of_memory",
                [DROP_SHUTDOWN] = "shutdown",
                [DROP_TLS_REFUSED] = "tls_refused",
                [DROP_TLS_HANDSHAKE_TIMEOUT] = "tls_handshake_timeout",
                [DROP_IDLE_TIMEOUT] = "idle_timeout",
                [DROP_FRAME_TOO_LARGE] = "frame_too_large",
        };

        if ((unsigned)r >= DROP__MAX)
                return "unknown";
        return names[r];
}

bool drop_reason_is_connection(enum drop_reason r)
{
        return r == DROP_CONN_LIMIT || r == DROP_TLS_REFUSED ||
               r == DROP_TLS_HANDSHAKE_TIMEOUT || r == DROP_IDLE_TIMEOUT ||
               r == DROP_FRAME_TOO_LARGE;
}

void drop_take(struct drop_counters *d, uint64_t out[DROP__MAX])
{
        for (int i = 0; i < DROP__MAX; i++)
                out[i] += atomic_exchange_explicit(&d->n[i], 0, memory_order_relaxed);
}
