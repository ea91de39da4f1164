/* The event that flows from collectors to the writer, and the drop counters beside it.
 *
 * An event is one heap object holding the gate record; it is created on a collector thread
 * and freed on the writer thread, so nothing here keeps state beyond the object itself. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/recycle.h"

struct event *event_new_recycled(struct recycle *rc, json *rec, int64_t received_us)
{
        struct event *e = rc ? recycle_get(rc) : malloc(sizeof(*e));

        if (!e) {
                json_free(rec);
                return NULL;
        }
        memset(e, 0, sizeof(*e));
        e->received_us = received_us;
        e->rec = rec;
        e->rc = rc;
        return e;
}

struct event *event_new(json *rec, int64_t received_us)
{
        return event_new_recycled(NULL, rec, received_us);
}

int event_set_pos(struct event *e, const char *source, const char *pos)
{
        char *s = strdup(source), *p = strdup(pos);

        if (!s || !p) {
                free(s);
                free(p);
                return -ENOMEM;
        }
        free(e->pos_source);
        free(e->pos);
        e->pos_source = s;
        e->pos = p;
        return 0;
}

void event_free(struct event *e)
{
        if (!e)
                return;
        json_free(e->rec);
        free(e->mapped);
        free(e->drop_rule);
        free(e->pos_source);
        free(e->pos);
        if (e->rc)
                recycle_put(e->rc, e);
        else
                free(e);
}

size_t event_bytes(const void *item)
{
        const struct event *e = item;
        /* A recycled struct's size is known (no read of malloc's header: issue 12). */
        size_t n = (e->rc ? recycle_block_size(e->rc) : malloc_usable_size((void *)e)) +
                   json_tree_bytes(e->rec);

        if (e->mapped)
                n += malloc_usable_size(e->mapped);
        if (e->drop_rule)
                n += malloc_usable_size(e->drop_rule);
        if (e->pos_source)
                n += malloc_usable_size(e->pos_source);
        if (e->pos)
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
