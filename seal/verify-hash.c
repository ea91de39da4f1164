/* The verifier's leaf hashes, and the trees they feed, on a second thread (issue 12).
 *
 * SHA-256 of the records is about a third of `gatelog verify --export`'s CPU. When the caller
 * promises that the records it feeds stay readable until the epoch's records end (an export's
 * records.jsonl read into buffers it releases: seal_verifier_records_stable), the verifier
 * queues each record's span and a worker thread hashes them while the caller's thread splits,
 * scans and compares the next ones; records_end waits for it. The leaves are the same bytes
 * either way: only the thread that computes them differs.
 *
 * issue 12 (verify11): the worker also builds the trees. Each leaf goes, in record order,
 * into the epoch's tree and the tree of each criterion (listed by the manifest) the record is
 * tagged with, as soon as it is hashed; no array of every leaf is kept (unless keep_leaves, for
 * seal_verifier_tsc) and no criterion's leaves are gathered at the end. The queue is two
 * rings: record i's span and tag count in slot i % VF_RING, and the trees it is tagged into
 * in the tag ring from the running tag count.
 *
 * Hand-off: the feeding thread publishes a count of records every VF_HASH_BATCH; the worker
 * takes [hashed, published) under the mutex, hashes it without the lock, and reports hashed
 * and tags_done. The feeding thread writes a ring slot only once the worker has hashed the
 * record that used it before (it publishes what it has and waits otherwise), and moves the
 * tag ring or the leaves array only when the worker has hashed everything (the worker reads
 * their pointers after a hand-off under the mutex, so it never sees a freed array). Without
 * a worker (fewer records than one batch, or no thread could be started) the feeding thread
 * hashes what is queued itself. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "seal/sha256-ni.h"  /* issue 12 (verify8): two leaves at a time */
#include "seal/verify-int.h"

#define VF_HASH_BATCH 4096  /* records per hand-off: a few milliseconds of hashing */
/* issue 12 (verify11): records queued at most (a power of two): 320 KiB of ring (spans and
 * tag counts) and 128 KiB of tag ring that stay in cache, where the spans of an epoch's
 * records took 16 bytes each (15 MB a million). Four batches, so that the feeding thread
 * waits only when the worker is that far behind. */
#define VF_RING (4 * VF_HASH_BATCH)
#define VF_TAGS_MIN VF_RING  /* tag ring slots to start with (a power of two) */
#define VF_PIECE 64  /* leaves hashed at a time into a buffer on the stack */

void seal_verifier_records_stable(struct seal_verifier *v, bool stable)
{
        seal_verifier_records_abandon(v);
        v->stable = false;
        if (!stable)
                return;
        if (!v->ring) {
                v->ring = malloc(VF_RING * sizeof(*v->ring));
                v->ring_nt = malloc(VF_RING * sizeof(*v->ring_nt));
        }
        if (!v->tags) {
                v->tags = malloc(VF_TAGS_MIN * sizeof(*v->tags));
                v->tags_mask = VF_TAGS_MIN - 1;
        }
        /* Hashed on the feeding thread, as before, when a ring could not be had. */
        v->stable = v->ring && v->ring_nt && v->tags;
}

/* Leaf of record i into the epoch's tree, leaves[i] when kept, and the n trees of tags. */
static int leaf_add(struct seal_verifier *v, size_t i, const uint8_t leaf[HASH_LEN],
                    struct merkle_chunked *const *tags, size_t n)
{
        int r = merkle_chunked_add(v->tree, leaf);

        if (v->keep_leaves)
                memcpy(v->leaves[i], leaf, HASH_LEN);
        for (size_t k = 0; k < n; k++)
                r |= merkle_chunked_add(tags[k], leaf);  /* 0 or -ENOMEM */
        return r < 0 ? -ENOMEM : 0;
}

/* Hashes queued records [from, to) and adds their leaves to the trees; run by the worker, or
 * by the feeding thread when there is none (never both). 0 or -ENOMEM. */
static int hash_run(struct seal_verifier *v, size_t from, size_t to)
{
        uint8_t leaf[VF_PIECE][HASH_LEN];
        int err = 0;

        while (from < to) {
                size_t at = from & (VF_RING - 1), n = to - from;

                if (n > VF_RING - at)
                        n = VF_RING - at;
                if (n > VF_PIECE)
                        n = VF_PIECE;
                sha_leaf_hashes(v->ring + at, n, leaf);  /* two at a time */
                for (size_t k = 0; k < n; k++) {
                        uint32_t nt = v->ring_nt[at + k];

                        err |= leaf_add(v, from + k, leaf[k], NULL, 0);
                        for (uint32_t j = 0; j < nt; j++)
                                err |= merkle_chunked_add(v->tags[v->tag_next++ & v->tags_mask],
                                                          leaf[k]);
                }
                from += n;
        }
        return err < 0 ? -ENOMEM : 0;
}

static void *hash_main(void *arg)
{
        struct seal_verifier *v = arg;

        pthread_mutex_lock(&v->hmu);
        for (;;) {
                while (v->hashed == v->published && !v->closing)
                        pthread_cond_wait(&v->hwork, &v->hmu);
                if (v->hashed == v->published || v->abandon)
                        break;
                size_t from = v->hashed, to = v->published;

                pthread_mutex_unlock(&v->hmu);
                int r = hash_run(v, from, to);
                pthread_mutex_lock(&v->hmu);
                if (r < 0)
                        v->hash_err = r;
                v->hashed = to;
                v->tags_done = v->tag_next;
                pthread_cond_signal(&v->hdone);
        }
        pthread_mutex_unlock(&v->hmu);
        return NULL;
}

/* Hands [hashed, n) to the worker, starting it on the first call of the epoch. */
static void publish(struct seal_verifier *v, size_t n)
{
        if (!v->thread_on) {
                if (v->thread_failed)
                        return;
                v->published = n;
                if (pthread_create(&v->thread, NULL, hash_main, v) != 0) {
                        v->published = v->hashed;
                        v->thread_failed = true;  /* hashed here instead */
                        return;
                }
                /* issue 12: named for top -H and perf report --sort comm (15 chars max). */
                (void)pthread_setname_np(v->thread, "gl-verify-hash");
                v->thread_on = true;
                return;
        }
        pthread_mutex_lock(&v->hmu);
        v->published = n;
        pthread_cond_signal(&v->hwork);
        pthread_mutex_unlock(&v->hmu);
}

/* Publishes the n records queued and returns once the worker has hashed at least want of
 * them and the tag ring has room for tags_room more (both as far as n allows), or hashes
 * them here when no worker runs. */
static void wait_hashed(struct seal_verifier *v, size_t n, size_t want, size_t tags_room)
{
        if (n > v->published || !v->thread_on)
                publish(v, n);
        if (v->thread_on) {
                pthread_mutex_lock(&v->hmu);
                while (v->hashed < n && (v->hashed < want ||
                       v->tags_in - v->tags_done + tags_room > v->tags_mask + 1))
                        pthread_cond_wait(&v->hdone, &v->hmu);
                v->seen_hashed = v->hashed;
                v->seen_tags_done = v->tags_done;
                pthread_mutex_unlock(&v->hmu);
                return;
        }
        if (n > v->hashed) {  /* no worker: here, up to n */
                int r = hash_run(v, v->hashed, n);

                if (r < 0)
                        v->hash_err = r;
                v->hashed = v->published = n;
                v->tags_done = v->tag_next;
        }
        v->seen_hashed = v->hashed;
        v->seen_tags_done = v->tags_done;
}

/* Room in the tag ring for the n_rtags of record i (records before i are queued). 0 or
 * -ENOMEM. */
static int tags_room(struct seal_verifier *v, size_t i)
{
        size_t need = v->n_rtags, cap;
        struct merkle_chunked **nt;

        if (v->tags_in - v->seen_tags_done + need <= v->tags_mask + 1)
                return 0;
        if (need <= v->tags_mask + 1) {
                wait_hashed(v, i, 0, need);
                return 0;
        }
        /* A record tagged more often than the ring holds: grown once everything is hashed
         * (the ring is then empty, so any slot numbering fits). */
        wait_hashed(v, i, i, 0);
        for (cap = v->tags_mask + 1; cap < need; cap *= 2)
                ;
        nt = realloc(v->tags, cap * sizeof(*nt));
        if (!nt)
                return -ENOMEM;
        v->tags = nt;
        v->tags_mask = cap - 1;
        return 0;
}

int vf_hash_leaf(struct seal_verifier *v, size_t i, const char *data, size_t len)
{
        size_t at = i & (VF_RING - 1);
        int r;

        if (!v->stable) {
                uint8_t leaf[HASH_LEN];

                merkle_leaf_hash(data, len, leaf);
                r = leaf_add(v, i, leaf, v->rtags, v->n_rtags);
                v->n_rtags = 0;
                return r;
        }
        if (i - v->seen_hashed >= VF_RING)  /* the slot's record before may not be hashed */
                wait_hashed(v, i, i - VF_RING + 1, 0);
        if ((r = tags_room(v, i)) < 0)
                return r;
        v->ring[at] = (struct seal_blob){ data, len };
        v->ring_nt[at] = (uint32_t)v->n_rtags;
        for (size_t k = 0; k < v->n_rtags; k++)
                v->tags[v->tags_in++ & v->tags_mask] = v->rtags[k];
        v->n_rtags = 0;
        if ((i + 1) % VF_HASH_BATCH == 0)
                publish(v, i + 1);
        return 0;
}

void seal_verifier_records_release(struct seal_verifier *v, size_t n)
{
        if (!v->stable || !v->in_records)
                return;
        if (n > v->n_leaves)
                n = v->n_leaves;
        if (n == 0)
                return;
        wait_hashed(v, v->n_leaves, n, 0);  /* may start the worker */
}

void vf_hash_quiesce(struct seal_verifier *v)
{
        if (!v->thread_on)
                return;
        pthread_mutex_lock(&v->hmu);
        while (v->hashed != v->published)
                pthread_cond_wait(&v->hdone, &v->hmu);
        pthread_mutex_unlock(&v->hmu);
}

/* Stops the worker: after what it holds (abandon) or after everything published. */
static void stop(struct seal_verifier *v, bool abandon)
{
        if (v->thread_on) {
                pthread_mutex_lock(&v->hmu);
                v->closing = true;
                v->abandon = abandon;
                pthread_cond_signal(&v->hwork);
                pthread_mutex_unlock(&v->hmu);
                pthread_join(v->thread, NULL);
                v->thread_on = false;
        }
        v->closing = v->abandon = v->thread_failed = false;
}

/* The queue emptied for the next epoch (the worker stopped). */
static void queue_reset(struct seal_verifier *v)
{
        v->hashed = v->published = 0;
        v->tags_in = v->tag_next = v->tags_done = 0;
        v->seen_hashed = 0;
        v->seen_tags_done = 0;
        v->n_rtags = 0;
        v->hash_err = 0;
}

int vf_hash_finish(struct seal_verifier *v)
{
        int r;

        if (v->stable) {
                stop(v, false);
                if (v->n_leaves > v->hashed && (r = hash_run(v, v->hashed, v->n_leaves)) < 0)
                        v->hash_err = r;
        }
        r = v->hash_err;
        queue_reset(v);
        return r;
}

void vf_hash_abandon(struct seal_verifier *v)
{
        stop(v, true);
        queue_reset(v);
}
