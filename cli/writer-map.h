/* The writer's mapper stage (issue 12): rules, canonical JSON and freeing the record tree,
 * on a thread of its own between the public queue and the storing thread (cli/writer.c).
 *
 * The storing thread then only numbers each record: the mapper canonicalises the record
 * with "seq":0 and remembers where that 0 is; wmap_splice puts the real number there. The
 * bytes are the same as canonicalising the tree with its seq (RFC 8785 orders members by
 * key, not by value), so the leaf hash and everything sealed is unchanged (docs/FORMAT.md).
 * Order is kept: events leave the mapper in the order they entered it, and a rule pack
 * handed over by wmap_set_rules applies between two batches, so from one record on. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/event.h"
#include "core/queue.h"

struct rules_pack;

/* A mapped record: one block in event.mapped, malloc'd or from event.mapped_rc. */
struct wmap_rec {
        size_t len;                 /* bytes of data: the canonical record with "seq":0 */
        size_t seq_off;             /* offset of that 0 in data */
        /* SHA-256 over the leaf prefix 0x00 and data[0, seq_off): the storing thread only
         * hashes the number and the rest (RFC 6962 leaf, seal/merkle.c). */
        struct hash_sha256_state leaf_mid;
        int64_t time_us;            /* the record's "time", else its receipt time */
        const char *host;           /* NULL when the record has none */
        const char *unmapped_app;   /* rule "unmapped": its app, or "-"; else NULL */
        const char *crit;           /* n_crit NUL-terminated ids one after another */
        size_t n_crit;
        const char *flags;          /* n_flags NUL-terminated flags one after another */
        size_t n_flags;
        char data[];                /* the bytes, a NUL, then the strings above */
};

/* The next string of a NUL-separated list. */
static inline const char *wmap_next(const char *s) {
        while (*s)
                s++;
        return s + 1;
}

/* Maps one event on the calling thread: applies p (NULL: no rules; a drop rule frees the
 * record and sets drop_rule), then, when a record remains, makes its canonical bytes into
 * e->mapped and frees e->rec. Returns 0, or -errno when the bytes could not be made: e->rec
 * is then kept as it is and the storing thread canonicalises it itself. scratch is a
 * reusable buffer. */
int wmap_event(const struct rules_pack *p, struct event *e, struct buf *scratch);
/* wmap_event of ev[0..n) in order, the mapped blocks taken from rc when they fit (a
 * recycler owned by the calling thread, core/recycle.h; event_free gives them back on any
 * thread; NULL: malloc; a record larger than rc's blocks: malloc). The mapper thread's
 * loop, and what bench/mapper times. */
struct recycle;
void wmap_batch(const struct rules_pack *p, struct recycle *rc, struct event *const *ev,
                size_t n, struct buf *scratch);
/* The record's final bytes with seq spliced in, into out (reset first), and their Merkle leaf
 * hash (the same as merkle_leaf_hash of out) into leaf. 0 or -ENOMEM. No product caller: the
 * storing thread uses the steps below. Kept for tests/cli/test-writer.c (which checks it
 * against json_canon and merkle_leaf_hash), test-writer-map.c (which compares two mappings
 * through it) and bench/mapper.c (which times it). */
int wmap_splice(const struct wmap_rec *m, int64_t seq, struct buf *out, uint8_t leaf[HASH_LEN]);
/* The steps of wmap_splice, for the storing thread (cli/writer-txn.c), which writes the
 * bytes into the export stager's feed when it can (cli/stage-feed.c):
 * - wmap_seq_digits: the decimal digits of seq as "%lld" prints them, at the end of num
 *   (returns their start; without printf: performance, issue 12);
 * - wmap_seq_text: the same for consecutive seqs, each made from the last one's text by an
 *   increment (a few instructions instead of a division loop per record); t starts as
 *   WMAP_SEQ_TEXT_INIT, *ret_digits is valid until the next call on t;
 * - wmap_splice_to: the record's bytes with those nl digits in place of the "0" at seq_off,
 *   into dst (m->len - 1 + nl bytes, not terminated; returns that length);
 * - wmap_splice_buf: the same into out (reset first, NUL-terminated); 0 or -ENOMEM;
 * - wmap_leaf: the Merkle leaf hash of those bytes (data, len), from the mapper's hash of
 *   the part before seq_off. */
#define WMAP_SEQ_DIGITS 24
char *wmap_seq_digits(int64_t seq, char num[WMAP_SEQ_DIGITS]);
struct wmap_seq_text {
        char num[WMAP_SEQ_DIGITS];
        char *digits;               /* the text of seq, at num's end */
        int64_t seq;                /* INT64_MIN: none yet */
};
#define WMAP_SEQ_TEXT_INIT ((struct wmap_seq_text){ .seq = INT64_MIN })
size_t wmap_seq_text(struct wmap_seq_text *t, int64_t seq, const char **ret_digits);
size_t wmap_splice_to(const struct wmap_rec *m, const char *digits, size_t nl, char *dst);
int wmap_splice_buf(const struct wmap_rec *m, const char *digits, size_t nl, struct buf *out);
void wmap_leaf(const struct wmap_rec *m, const char *data, size_t len, uint8_t leaf[HASH_LEN]);

struct wmap;
/* A mapper that takes events from in and puts them, mapped, on out, in order. When it sees
 * a mark request it puts mark on out after the events it took before. 0 or -ENOMEM. */
int wmap_new(struct wmap **ret);
/* Ownership of p moves (NULL: no rules). Before wmap_start it applies at once; afterwards
 * the thread takes it between two batches and frees the pack it replaces. Thread-safe. */
void wmap_set_rules(struct wmap *m, struct rules_pack *p);
int wmap_start(struct wmap *m, struct queue *in, struct queue *out, void *mark);
/* Asks the thread to put mark on out (thread- and signal-context safe, like queue_kick). */
void wmap_request_mark(struct wmap *m);
/* Call after queue_close(in): the thread maps what remains, closes out, ends; this waits. */
void wmap_join(struct wmap *m);
void wmap_free(struct wmap *m); /* accepts NULL; joins first */
