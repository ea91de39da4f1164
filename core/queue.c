/* Bounded queue from collector threads to the writer thread.
 *
 * A ring of max pointers under one mutex: many producers push without ever blocking (a full
 * queue answers -EAGAIN at once, so a collector thread never stalls its event loop), one
 * consumer pops batches and may sleep on a condition variable (CLOCK_MONOTONIC, so a clock
 * step cannot stretch a batch wait). Memory is bounded by max pointers plus the items.
 *
 * Back-pressure: a failed push sets want_space; when the consumer later drains the queue to
 * max/2 or below, it writes the eventfd once, so a paused collector polling that fd resumes
 * with room for a burst instead of flapping at the edge. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/queue.h"
#include "core/tm.h"

struct queue {
        pthread_mutex_t mu;
        pthread_cond_t nonempty;  /* consumer waits here */
        void **ring;
        size_t max, head, count;
        bool closed, kicked, want_space;
        int space_fd;             /* eventfd, nonblocking */
        /* More collectors that pause on a full queue each get an eventfd of their own, all
         * written together: one eventfd read by several loops would wake only the first. */
        int subs[QUEUE_MAX_SUBSCRIBERS];
        size_t n_subs;
        /* Byte budget (0: none): sizes[] parallels ring[], so a pop gives back what its push
         * took even if the item changed in between. */
        size_t max_bytes, bytes;
        size_t *sizes;
        size_t (*size_of)(const void *item);
        /* Pushes that stopped short, by the limit that stopped them (metrics: an operator
         * sees whether max_events or max_bytes is what binds, as rsyslog's impstats "full"). */
        uint64_t full_events, full_bytes;
};

int queue_new(size_t max, struct queue **ret)
{
        pthread_condattr_t ca;
        struct queue *q;
        int r;

        if (max == 0 || max > SIZE_MAX / sizeof(void *))
                return -EINVAL;
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->ring = calloc(max, sizeof(void *));
        if (!q->ring) {
                free(q);
                return -ENOMEM;
        }
        q->space_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (q->space_fd < 0) {
                r = -errno;
                free(q->ring);
                free(q);
                return r;
        }
        pthread_mutex_init(&q->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&q->nonempty, &ca);
        pthread_condattr_destroy(&ca);
        q->max = max;
        *ret = q;
        return 0;
}

void queue_free(struct queue *q, void (*free_cb)(void *item))
{
        if (!q)
                return;
        for (size_t i = 0; i < q->count; i++)
                if (free_cb)
                        free_cb(q->ring[(q->head + i) % q->max]);
        pthread_cond_destroy(&q->nonempty);
        pthread_mutex_destroy(&q->mu);
        close(q->space_fd);
        for (size_t i = 0; i < q->n_subs; i++)
                close(q->subs[i]);
        free(q->ring);
        free(q->sizes);
        free(q);
}

int queue_set_byte_budget(struct queue *q, size_t max_bytes, size_t (*size_of)(const void *item))
{
        if (max_bytes == 0 || !size_of)
                return -EINVAL;
        size_t *sizes = calloc(q->max, sizeof(*sizes));
        if (!sizes)
                return -ENOMEM;
        pthread_mutex_lock(&q->mu);
        free(q->sizes);
        q->sizes = sizes; /* items already in the queue count as 0 bytes */
        q->max_bytes = max_bytes;
        q->size_of = size_of;
        pthread_mutex_unlock(&q->mu);
        return 0;
}

size_t queue_bytes(struct queue *q)
{
        pthread_mutex_lock(&q->mu);
        size_t n = q->bytes;
        pthread_mutex_unlock(&q->mu);
        return n;
}

void queue_full_counts(struct queue *q, uint64_t *ret_events, uint64_t *ret_bytes)
{
        pthread_mutex_lock(&q->mu);
        *ret_events = q->full_events;
        *ret_bytes = q->full_bytes;
        pthread_mutex_unlock(&q->mu);
}

int queue_push_batch(struct queue *q, void *const *items, size_t n, size_t *ret_taken)
{
        size_t k = 0;

        *ret_taken = 0;
        pthread_mutex_lock(&q->mu);
        if (q->closed) {
                pthread_mutex_unlock(&q->mu);
                return -EPIPE;
        }
        bool was_empty = q->count == 0;
        for (; k < n; k++) {
                /* size_of runs under the lock here; it is cheap (a recycler's block size). */
                size_t sz = q->size_of ? q->size_of(items[k]) : 0;
                if (q->count == q->max) {
                        q->full_events++;
                        break;
                }
                if (q->max_bytes && q->count > 0 &&
                    (q->bytes >= q->max_bytes || sz > q->max_bytes - q->bytes)) {
                        q->full_bytes++;
                        break;
                }
                size_t slot = (q->head + q->count) % q->max;
                q->ring[slot] = items[k];
                if (q->sizes) {
                        q->sizes[slot] = sz;
                        q->bytes += sz;
                }
                q->count++;
        }
        if (k < n)
                q->want_space = true;
        /* The consumer sleeps only on an empty queue: one signal for the whole batch. */
        if (was_empty && k > 0)
                pthread_cond_signal(&q->nonempty);
        pthread_mutex_unlock(&q->mu);
        *ret_taken = k;
        return 0;
}

int queue_push(struct queue *q, void *item)
{
        size_t taken = 0;
        int r = queue_push_batch(q, &item, 1, &taken);

        return r < 0 ? r : taken == 1 ? 0 : -EAGAIN;
}

static struct timespec deadline_after(int64_t timeout_us)
{
        struct timespec ts;
        int64_t ns;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ns = ts.tv_nsec + (timeout_us % TM_USEC_PER_SEC) * 1000;
        ts.tv_sec += (time_t)(timeout_us / TM_USEC_PER_SEC + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        return ts;
}

/* Called with the lock held after items left the queue. */
static void signal_space(struct queue *q)
{
        uint64_t one = 1;

        if (!q->want_space || q->count > q->max / 2 ||
            (q->max_bytes && q->bytes > q->max_bytes / 2))
                return;
        q->want_space = false;
        /* Cannot fail but with EAGAIN when the counter is saturated: already readable. */
        (void)!write(q->space_fd, &one, sizeof(one));
        for (size_t i = 0; i < q->n_subs; i++)
                (void)!write(q->subs[i], &one, sizeof(one));
}

size_t queue_pop_batch(struct queue *q, void **items, size_t max, int64_t timeout_us)
{
        struct timespec dl;
        size_t n = 0;

        if (timeout_us > 0)
                dl = deadline_after(timeout_us);
        pthread_mutex_lock(&q->mu);
        while (q->count == 0 && !q->closed && !q->kicked && timeout_us != 0) {
                if (timeout_us < 0)
                        pthread_cond_wait(&q->nonempty, &q->mu);
                else if (pthread_cond_timedwait(&q->nonempty, &q->mu, &dl) == ETIMEDOUT)
                        break;
        }
        q->kicked = false;
        while (n < max && q->count > 0) {
                items[n++] = q->ring[q->head];
                if (q->sizes)
                        q->bytes -= q->sizes[q->head];
                q->head = (q->head + 1) % q->max;
                q->count--;
        }
        if (n > 0)
                signal_space(q);
        pthread_mutex_unlock(&q->mu);
        return n;
}

void queue_kick(struct queue *q)
{
        pthread_mutex_lock(&q->mu);
        q->kicked = true;
        pthread_cond_signal(&q->nonempty);
        pthread_mutex_unlock(&q->mu);
}

void queue_close(struct queue *q)
{
        pthread_mutex_lock(&q->mu);
        q->closed = true;
        pthread_cond_broadcast(&q->nonempty);
        pthread_mutex_unlock(&q->mu);
}

size_t queue_depth(struct queue *q)
{
        size_t n;

        pthread_mutex_lock(&q->mu);
        n = q->count;
        pthread_mutex_unlock(&q->mu);
        return n;
}

size_t queue_capacity(const struct queue *q)
{
        return q->max;  /* fixed at queue_new: no lock needed */
}

bool queue_drained(struct queue *q)
{
        bool d;

        pthread_mutex_lock(&q->mu);
        d = q->closed && q->count == 0;
        pthread_mutex_unlock(&q->mu);
        return d;
}

int queue_space_fd(struct queue *q)
{
        return q->space_fd;
}

int queue_space_subscribe(struct queue *q)
{
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

        if (fd < 0)
                return -errno;
        pthread_mutex_lock(&q->mu);
        if (q->n_subs == QUEUE_MAX_SUBSCRIBERS) {
                pthread_mutex_unlock(&q->mu);
                close(fd);
                return -ENOSPC;
        }
        q->subs[q->n_subs++] = fd;
        pthread_mutex_unlock(&q->mu);
        return fd;
}

void queue_space_unsubscribe(struct queue *q, int fd)
{
        pthread_mutex_lock(&q->mu);
        for (size_t i = 0; i < q->n_subs; i++)
                if (q->subs[i] == fd) {
                        q->subs[i] = q->subs[--q->n_subs];
                        close(fd);
                        break;
                }
        pthread_mutex_unlock(&q->mu);
}

void queue_ack_space_fd(int fd)
{
        uint64_t v;

        (void)!read(fd, &v, sizeof(v));
}

void queue_ack_space(struct queue *q)
{
        uint64_t v;

        /* Nonblocking: EAGAIN just means nothing was pending. */
        (void)!read(q->space_fd, &v, sizeof(v));
}
