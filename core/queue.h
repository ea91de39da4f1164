/* Bounded queue between collector threads and the writer thread (many producers, one
 * consumer). Memory stays bounded: push fails with -EAGAIN when full, and the collector
 * decides (TCP stops reading, UDP drops and counts). When the consumer frees space below the
 * low-water mark it makes the queue's event fd readable, so a paused collector wakes up in
 * its event loop without polling. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct queue;

/* max items; the event fd signals when the queue drains to max/2. Returns 0, -ENOMEM, or
 * -errno from eventfd. */
int queue_new(size_t max, struct queue **ret);
/* A byte budget besides the item count (queue.max_bytes, issue 12): push also answers -EAGAIN
 * when the items held plus this one would pass max_bytes (an item always fits in an empty
 * queue, so one large event cannot block forever), and the space fd signals only when both
 * the count and the bytes are at half or below. size_of says what an item costs; it is
 * called once per push, on the pushing thread, before the lock. Call before the first push.
 * 0, -EINVAL (max_bytes 0 or no size_of), -ENOMEM. */
int queue_set_byte_budget(struct queue *q, size_t max_bytes, size_t (*size_of)(const void *item));
/* Bytes held now by the budget's measure (0 without a budget). */
size_t queue_bytes(struct queue *q);
/* Pushes (or batches) that stopped short since queue_new: because max items were there
 * (*ret_events), or because the byte budget was spent (*ret_bytes). */
void queue_full_counts(struct queue *q, uint64_t *ret_events, uint64_t *ret_bytes);
/* Frees the queue; items still in it are passed to free_cb (may be NULL). Accepts NULL. */
void queue_free(struct queue *q, void (*free_cb)(void *item));

/* Non-blocking. Returns 0, -EAGAIN when full, -EPIPE after queue_close. The queue owns the
 * item on success only. */
int queue_push(struct queue *q, void *item);
/* Pushes items[0..n) in order under one lock (issue 12: one lock and at most one wakeup per
 * batch instead of per item) as far as they fit; *ret_taken says how many the queue took (it
 * owns those; the rest stay the caller's). Taking fewer than n arms the space fd as a failed
 * queue_push does. Returns 0, or -EPIPE after queue_close (nothing taken). */
int queue_push_batch(struct queue *q, void *const *items, size_t n, size_t *ret_taken);
/* Blocks until at least one item is there, the queue is closed, or timeout_us passes
 * (negative: no timeout). Moves up to max items into items[] (caller owns them).
 * Returns the number moved (0 on timeout or when closed and empty). */
size_t queue_pop_batch(struct queue *q, void **items, size_t max, int64_t timeout_us);
/* Wakes the consumer from queue_pop_batch early (for a seal request, say). */
void queue_kick(struct queue *q);
/* After close, push fails; pop returns what remains, then 0 at once. */
void queue_close(struct queue *q);
size_t queue_depth(struct queue *q);
/* The max given to queue_new. */
size_t queue_capacity(const struct queue *q);
/* True once the queue is closed and empty: a consumer that sees it may end. */
bool queue_drained(struct queue *q);
/* Readable (eventfd) when space came back after a push failed; read it with queue_ack_space. */
int queue_space_fd(struct queue *q);
void queue_ack_space(struct queue *q);
/* Further collectors that pause on a full queue subscribe an eventfd of their own (owned by
 * the queue: closed by unsubscribe or queue_free), signalled with the space fd. Returns the
 * fd or -errno (-ENOSPC past QUEUE_MAX_SUBSCRIBERS). Thread-safe. */
#define QUEUE_MAX_SUBSCRIBERS 32
int queue_space_subscribe(struct queue *q);
void queue_space_unsubscribe(struct queue *q, int fd);
void queue_ack_space_fd(int fd);
