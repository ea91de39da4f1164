/* Blocks of one size handed from one thread to others and back, without malloc (issue 12).
 *
 * Why: a collector's loop thread allocates each event and its record, and the writer's
 * threads free them. Freed on another thread, glibc's blocks miss the allocating thread's
 * cache and go through its arena's lock, bins and top-chunk trimming: that was over a third
 * of the loop thread's CPU (perf, TCP syslog). Here the freeing thread pushes the block on
 * a lock-free stack and the owner thread takes the stack back in one exchange.
 *
 * Threads: recycle_get only on the owner's thread (the one that made it); recycle_put and
 * recycle_forget on any thread. The owner calls recycle_release when it is done; the
 * recycler itself is freed when that has happened and every block it handed out has come
 * back (put or forgotten), on whichever thread does the last of these. */
#pragma once
#include <stddef.h>

struct recycle;

/* Blocks of block_size bytes (at least a pointer; each is a malloc'd block, so
 * malloc_usable_size and free work on it); about keep_max idle blocks are kept at most
 * (up to 64 more), a block given back beyond that is freed. 0, -EINVAL or -ENOMEM. */
int recycle_new(size_t block_size, size_t keep_max, struct recycle **ret);
/* The block size given to recycle_new. */
size_t recycle_block_size(const struct recycle *r);
/* A block (contents undefined), or NULL when out of memory. Owner thread only. Idle
 * blocks are handed out most recently given back first (a block given back comes out again
 * within about 16 gets, ahead of every block that was idle before it), so that a block's
 * lines are likely still in a cache (performance, issue 12). */
void *recycle_get(struct recycle *r);
/* Gives a block of r back (any thread). */
void recycle_put(struct recycle *r, void *block);
/* Gives n blocks of r back at once (any thread): one push of the n and one reference
 * drop, where n recycle_put calls would be 3n atomic operations on the shared cache line
 * (performance, issue 12: the storing thread gives a batch back at a time). Past keep_max
 * idle blocks the rest are freed, as with recycle_put. */
void recycle_put_many(struct recycle *r, void *const *blocks, size_t n);
/* A block of r that will be freed with free() instead of coming back (any thread). */
void recycle_forget(struct recycle *r);
/* The owner is done with r (accepts NULL); r goes once its blocks are back. */
void recycle_release(struct recycle *r);
