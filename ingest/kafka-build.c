/* The Kafka collector's building thread, `gl-kafka` (performance, issue 12, round 11).
 *
 * Why: the loop thread's ~3.1-3.8 CPU-us per Kafka message was librdkafka's consume, the
 * record build (JSON parse, the gate record, the event) and the first touches of the record
 * blocks (docs/PERFORMANCE-LOG.md, rounds 8-10). The build moves here, as journald's does
 * (ingest/journald-build.c): the loop keeps every librdkafka call and everything that
 * decides what is queued (which messages are taken, held, pushed, claimed, released at a
 * revoke), and hands the messages it takes over in slices; this thread builds their events
 * and hands the slices back. The loop pushes them to the queue as before, so exactly-once
 * (offsets in the records' transaction), the claims and the rebalance logic see what they
 * saw when the loop built the events itself; only later.
 *
 * Order: one builder, slices handed and taken back first in, first out; within a slice the
 * events keep the messages' order. So the queue gets each partition's offsets in order.
 *
 * Bounds: the loop hands a slice only while fewer than KAFKA_BUILD_SLICES are out
 * (ingest/kafka.c), and is woken by kafka_build_fd when one is built.
 *
 * Shutdown: kafka_build_free lets the builder finish what it was handed (the callback
 * consumes the messages, which must be gone before librdkafka's handle is) and discards
 * the built events nobody took: not stored, so not committed; fetched again next start.
 *
 * Threads: kafka_build_* on the loop thread, except the build and discard callbacks (on
 * `gl-kafka`; the discard callback on the loop, in kafka_build_free). The todo and done
 * lists are under lock; the free list and the count of slices out are the loop's. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ingest/kafka-build.h"

struct kafka_build {
        pthread_mutex_t lock;
        pthread_cond_t todo_cond;               /* a slice was handed, or stop (lock) */
        pthread_cond_t done_cond;               /* a slice was built (lock) */
        struct kafka_slice *todo, *todo_tail;   /* handed, oldest first (lock) */
        struct kafka_slice *done, *done_tail;   /* built, oldest first (lock) */
        bool stop;                              /* (lock) */
        struct kafka_slice *free;               /* loop */
        unsigned n_out;                         /* loop: handed, not taken back */
        int done_fd;                            /* eventfd: written when done became non-empty */
        kafka_build_cb build;
        kafka_discard_cb discard;
        void *ud;
        pthread_t thread;
        bool started;
};

static void list_append(struct kafka_slice **head, struct kafka_slice **tail,
                        struct kafka_slice *s)
{
        s->next = NULL;
        if (*tail)
                (*tail)->next = s;
        else
                *head = s;
        *tail = s;
}

static struct kafka_slice *list_pop(struct kafka_slice **head, struct kafka_slice **tail)
{
        struct kafka_slice *s = *head;

        if (s) {
                *head = s->next;
                if (!*head)
                        *tail = NULL;
        }
        return s;
}

static void *build_thread(void *ud)
{
        struct kafka_build *b = ud;
        uint64_t one = 1;

        (void)pthread_setname_np(pthread_self(), "gl-kafka");
        for (;;) {
                struct kafka_slice *s;
                bool was_empty;

                pthread_mutex_lock(&b->lock);
                while (!b->todo && !b->stop)
                        pthread_cond_wait(&b->todo_cond, &b->lock);
                /* At stop, what was handed is still built: the callback consumes the
                 * messages. */
                s = list_pop(&b->todo, &b->todo_tail);
                pthread_mutex_unlock(&b->lock);
                if (!s)
                        break;
                b->build(b->ud, s);
                pthread_mutex_lock(&b->lock);
                was_empty = !b->done;
                list_append(&b->done, &b->done_tail, s);
                pthread_cond_signal(&b->done_cond);
                pthread_mutex_unlock(&b->lock);
                if (was_empty)  /* one wake-up per run of built slices the loop has not seen */
                        (void)!write(b->done_fd, &one, sizeof(one));
        }
        return NULL;
}

int kafka_build_start(kafka_build_cb build, kafka_discard_cb discard, void *ud,
                      struct kafka_build **ret)
{
        struct kafka_build *b = calloc(1, sizeof(*b));
        int r;

        if (!b)
                return -ENOMEM;
        pthread_mutex_init(&b->lock, NULL);
        pthread_cond_init(&b->todo_cond, NULL);
        pthread_cond_init(&b->done_cond, NULL);
        b->build = build;
        b->discard = discard;
        b->ud = ud;
        b->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (b->done_fd < 0) {
                r = -errno;
                kafka_build_free(b);
                return r;
        }
        r = pthread_create(&b->thread, NULL, build_thread, b);
        if (r != 0) {
                kafka_build_free(b);
                return -r;
        }
        b->started = true;
        *ret = b;
        return 0;
}

int kafka_build_fd(const struct kafka_build *b)
{
        return b->done_fd;
}

void kafka_build_ack(struct kafka_build *b)
{
        uint64_t v;

        (void)!read(b->done_fd, &v, sizeof(v));
}

struct kafka_slice *kafka_build_slice(struct kafka_build *b)
{
        struct kafka_slice *s = b->free;

        if (s)
                b->free = s->next;
        else if (!(s = malloc(sizeof(*s))))
                return NULL;
        s->next = NULL;
        s->n = 0;
        return s;
}

void kafka_build_hand(struct kafka_build *b, struct kafka_slice *s)
{
        pthread_mutex_lock(&b->lock);
        list_append(&b->todo, &b->todo_tail, s);
        pthread_cond_signal(&b->todo_cond);
        pthread_mutex_unlock(&b->lock);
        b->n_out++;
}

void kafka_build_recycle(struct kafka_build *b, struct kafka_slice *s)
{
        s->n = 0;
        s->next = b->free;
        b->free = s;
}

unsigned kafka_build_out(const struct kafka_build *b)
{
        return b->n_out;
}

struct kafka_slice *kafka_build_take(struct kafka_build *b, bool wait)
{
        struct kafka_slice *s;

        if (b->n_out == 0)
                return NULL;
        pthread_mutex_lock(&b->lock);
        while (wait && !b->done)
                pthread_cond_wait(&b->done_cond, &b->lock);
        s = list_pop(&b->done, &b->done_tail);
        pthread_mutex_unlock(&b->lock);
        if (s)
                b->n_out--;
        return s;
}

void kafka_build_free(struct kafka_build *b)
{
        struct kafka_slice *s;

        if (!b)
                return;
        if (b->started) {
                pthread_mutex_lock(&b->lock);
                b->stop = true;
                pthread_cond_signal(&b->todo_cond);
                pthread_mutex_unlock(&b->lock);
                pthread_join(b->thread, NULL);
        }
        /* Joined: every slice handed is built (done), nothing is left to do. */
        while ((s = list_pop(&b->done, &b->done_tail))) {
                b->discard(b->ud, s);
                free(s);
        }
        while ((s = b->free)) {
                b->free = s->next;
                free(s);
        }
        if (b->done_fd >= 0)
                close(b->done_fd);
        pthread_cond_destroy(&b->todo_cond);
        pthread_cond_destroy(&b->done_cond);
        pthread_mutex_destroy(&b->lock);
        free(b);
}
