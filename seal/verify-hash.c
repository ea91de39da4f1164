/* The verifier's leaf hashes on a second thread (issue 12).
 *
 * SHA-256 of the records is about a third of `gatelog verify --export`'s CPU. When the caller
 * promises that the records it feeds stay readable until the epoch's records end (an export's
 * mapped records.jsonl: seal_verifier_records_stable), the verifier keeps each record's span
 * and a worker thread hashes them while the caller's thread splits, scans and compares the
 * next ones; records_end waits for it. The leaves are the same bytes either way: only the
 * thread that computes them differs, and nothing reads a leaf before records_end.
 *
 * Hand-off: the feeding thread publishes a count of records every VF_HASH_BATCH; the worker
 * takes [hashed, published) under the mutex, hashes it without the lock, and reports hashed.
 * Before the leaf and span arrays are reallocated the feeding thread waits until the worker
 * has hashed everything published (the worker reads the array pointers only under the lock,
 * so it never sees a freed array). Without a worker (fewer records than one batch, or no
 * thread could be started) the feeding thread hashes what is left at the end. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "seal/sha256-ni.h"  /* issue 12 (verify8): two leaves at a time */
#include "seal/verify-int.h"

#define VF_HASH_BATCH 4096  /* records per hand-off: a few milliseconds of hashing */

void seal_verifier_records_stable(struct seal_verifier *v, bool stable)
{
        struct seal_blob *sp;

        seal_verifier_records_abandon(v);
        v->stable = false;
        if (!stable)
                return;
        /* The spans follow the leaves' capacity from here on (vf_leaves_reserve). */
        sp = realloc(v->spans, (v->alloc_leaves ? v->alloc_leaves : 1) * sizeof(*sp));
        if (!sp)
                return;  /* hashed on the feeding thread, as before */
        v->spans = sp;
        v->stable = true;
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
                uint8_t (*leaves)[HASH_LEN] = v->leaves;
                const struct seal_blob *spans = v->spans;

                pthread_mutex_unlock(&v->hmu);
                sha_leaf_hashes(spans + from, to - from, leaves + from);  /* two at a time */
                pthread_mutex_lock(&v->hmu);
                v->hashed = to;
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
                        v->thread_failed = true;  /* hashed here at the end instead */
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

void vf_hash_leaf(struct seal_verifier *v, size_t i, const char *data, size_t len)
{
        if (!v->stable) {
                merkle_leaf_hash(data, len, v->leaves[i]);
                return;
        }
        v->spans[i] = (struct seal_blob){ data, len };
        if ((i + 1) % VF_HASH_BATCH == 0)
                publish(v, i + 1);
}

void seal_verifier_records_release(struct seal_verifier *v, size_t n)
{
        if (!v->stable || !v->in_records)
                return;
        if (n > v->n_leaves)
                n = v->n_leaves;
        if (n == 0)
                return;
        publish(v, v->n_leaves);  /* may start the worker; hashed is read under hmu */
        if (v->thread_on) {
                pthread_mutex_lock(&v->hmu);
                while (v->hashed < n)
                        pthread_cond_wait(&v->hdone, &v->hmu);
                pthread_mutex_unlock(&v->hmu);
                return;
        }
        /* No worker could be started: hash them here (vf_hash_finish goes on from there). */
        if (n > v->hashed) {
                sha_leaf_hashes(v->spans + v->hashed, n - v->hashed, v->leaves + v->hashed);
                v->hashed = v->published = n;
        }
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

void vf_hash_finish(struct seal_verifier *v)
{
        if (!v->stable)
                return;
        stop(v, false);
        if (v->n_leaves > v->hashed)
                sha_leaf_hashes(v->spans + v->hashed, v->n_leaves - v->hashed,
                                v->leaves + v->hashed);
        v->hashed = v->published = 0;
}

void vf_hash_abandon(struct seal_verifier *v)
{
        stop(v, true);
        v->hashed = v->published = 0;
}
