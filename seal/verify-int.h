/* seal/verify*.c internals: the verifier's state and the helpers its files share. Private
 * to seal/; the API is seal/seal.h. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "seal/seal.h"

#define NAME_MAX_LEN 200
#define WHAT_MAX_LEN 1024

/* One criterion of the current epoch: what the manifest says and which records carry it. */
struct crit {
        char *id;
        size_t id_len;          /* issue 12 (verify8): strlen(id), compared first */
        size_t *idx;            /* indexes into the epoch's leaves, in record order; issue
                                 * 12 (verify11): kept only with keep_leaves */
        size_t n_idx, alloc_idx; /* n_idx: records tagged, whether idx is kept or not */
        size_t last;            /* the record last tagged, when n_idx > 0 */
        /* issue 12 (verify11): the criterion's tree, fed its records' leaves as they are
         * hashed (by the hashing thread when stable); only for a criterion the manifest
         * lists (NULL otherwise: no root to compare). */
        struct merkle_chunked *tree;
        bool in_manifest;
        uint64_t m_count;
        uint8_t m_root[HASH_LEN];
        bool file_seen;
        size_t stream;          /* issue 12: 1 + index of its tsc stream; 0: none */
};

/* issue 12: a tsc=ID/records.jsonl compared line by line with the records tagged ID as they
 * are fed (seal_verifier_tsc_stream), so that neither file is read twice. */
struct tsc_stream {
        char *id;
        const char *p;          /* borrowed until seal_verifier_tsc_stream_end */
        size_t len;
        size_t pos;             /* start of the next line to compare */
        size_t lines;           /* lines matched so far */
        size_t first_bad;       /* SIZE_MAX while every line matched */
        size_t first_bad_rec;   /* issue 12 (verify11): the record compared with it */
        /* issue 12: read through read_cb (seal_verifier_tsc_stream_read): p is buf, a
         * window of the file [.., len) that moves forward as lines are compared. */
        seal_read_cb read_cb;
        void *read_ud;
        char *buf;
        size_t buf_alloc;
        bool eof;               /* true for a stream given whole */
        int err;                /* the reader's error (negative errno), 0 while none */
};

/* The members of a manifest that the chain checks use; has_* says each was valid. */
struct mf {
        bool parsed;
        bool has_epoch, has_first_seq, has_count, has_root, has_prev, has_criteria;
        int64_t epoch;
        uint64_t first_seq, count;
        uint8_t root[HASH_LEN], prev[HASH_LEN];
        const char *chain;
        const json *criteria;
        bool key_id_ok;                 /* issue 10: key_id names the key in force */
        bool has_next_key;              /* issue 10: a valid "next_key" */
        uint8_t next_key[SEAL_PK_LEN];
};

/* issue 10: a revoked key and the first epoch it may no longer sign. */
struct revoked {
        char key_id[HASH_HEX_LEN];
        int64_t from_epoch;
};

struct seal_verifier {
        uint8_t pk[SEAL_PK_LEN];
        char key_id[HASH_HEX_LEN];
        seal_problem_cb cb;
        void *ud;
        uint64_t problems, epochs;

        /* The chain so far. */
        bool have_head;
        int64_t head_epoch;
        uint8_t head_hash[HASH_LEN];
        bool have_seq;
        uint64_t next_seq;
        char *chain;

        /* The current epoch, kept until seal_verifier_epoch_end for the tsc files. */
        bool open;
        int64_t cur_epoch;
        char cur_name[NAME_MAX_LEN];
        /* issue 12 (verify11): the epoch's tree, fed the leaves in record order as they are
         * hashed; leaves (one per record) is kept only with keep_leaves, for
         * seal_verifier_tsc. */
        struct merkle_chunked *tree;
        bool keep_leaves;
        uint8_t (*leaves)[HASH_LEN];
        /* issue 12 (verify9): the seq each record is reported under (-1 when unknown). While
         * every record i so far has seq seq0 + i (an intact epoch) nothing is stored
         * (seqs_on false: 8 bytes a record never touched); the first record that breaks the
         * run fills seqs for all (vf_seq_set). */
        int64_t *seqs;
        size_t alloc_seqs;
        bool seqs_on;
        int64_t seq0;
        size_t n_leaves, alloc_leaves;
        struct crit *crits;
        size_t n_crits, alloc_crits;

        /* issue 10: the head the chain must extend (seal_verifier_expect_head). */
        bool want_head, head_reached;
        struct seal_head head;
        struct merkle *log;             /* over the manifests fed, in order */
        uint8_t log_root[HASH_LEN];     /* at head.tree_size manifests */
        uint8_t log_last[HASH_LEN];     /* the manifest hash at that size */

        /* issue 10: key rotation and revocation. */
        struct revoked revoked[SEAL_REVOKED_MAX];
        size_t n_revoked;
        seal_rotate_cb rotate_cb;
        void *rotate_ud;
        bool rotated;                   /* pk is no longer the pinned one */

        /* issue 12: the epoch being fed record by record (seal_verifier_epoch_begin). */
        bool in_records;
        struct mf f;                    /* chain and criteria pointers cleared */
        bool sig_ok, known;
        uint64_t expected;
        uint8_t pending_hash[HASH_LEN]; /* SHA-256 of the manifest bytes */
        const char *pending_manifest;   /* for head_track, borrowed until records_end */
        size_t pending_len;
        struct tsc_stream *streams;     /* issue 12: of the current epoch */
        size_t n_streams, alloc_streams;

        /* issue 12 (verify11): the trees the current record is tagged into (criteria the
         * manifest lists), gathered while it is checked, handed over with its leaf. */
        struct merkle_chunked **rtags;
        size_t n_rtags, alloc_rtags;

        /* issue 12: leaf hashes on a worker thread (verify-hash.c) when the records fed
         * stay readable until records_end. published, hashed, tags_done, hash_err, closing
         * and abandon are shared with the worker under hmu; the rest is the feeding
         * thread's, and the rings' slots are the worker's from publish to hashed.
         * issue 12 (verify11): record i's span and tag count sit in ring slot i % VF_RING
         * (no array of every record's span), its trees in tag ring slots from the running
         * tag count; the worker adds each leaf to the epoch's tree and those trees. */
        bool stable;
        struct seal_blob *ring;         /* VF_RING spans */
        uint32_t *ring_nt;              /* VF_RING tag counts */
        struct merkle_chunked **tags;   /* tags_mask + 1 slots (a power of two) */
        size_t tags_mask;
        uint64_t tags_in;               /* tags pushed (feeding thread) */
        uint64_t tag_next;              /* the next tag to read (whoever hashes) */
        uint64_t tags_done;             /* tags of the records hashed */
        int hash_err;                   /* -ENOMEM from a tree, else 0 */
        size_t seen_hashed;             /* hashed and tags_done as the feeding thread last */
        uint64_t seen_tags_done;        /* read them (under hmu): at most the real ones */
        pthread_t thread;
        bool thread_on, thread_failed;
        pthread_mutex_t hmu;
        pthread_cond_t hwork, hdone;
        size_t published, hashed;
        bool closing, abandon;
};

/* verify.c: problem reports, criteria of the current epoch. */
void vf_report(struct seal_verifier *v, int64_t epoch, int64_t seq, const char *what);
/* Reports a problem of the current epoch, prefixed "epoch N: " or "epoch N seq S: ". */
void vf_problem(struct seal_verifier *v, int64_t seq, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void vf_hex_of(const uint8_t h[HASH_LEN], char out[HASH_HEX_LEN]);
/* The criterion id of the current epoch, created when absent; NULL when out of memory (or
 * absent and !create). */
struct crit *vf_crit_get_n(struct seal_verifier *v, const char *id, size_t len, bool create);
struct crit *vf_crit_get(struct seal_verifier *v, const char *id, bool create);
/* Tags record i, whose bytes are data, with c (once); compares it with the next line of c's
 * tsc stream; gathers c's tree for the leaf (vf_hash_leaf). 0 or -ENOMEM. */
int vf_crit_tag(struct seal_verifier *v, struct crit *c, size_t i, const char *data,
                size_t len);
/* Does text re-serialise to exactly itself? 1, 0, or -ENOMEM. */
int vf_is_canonical(const json *j, const char *text, size_t len);

/* verify-manifest.c: the manifest on its own, the chain, keys. */
/* Parses the manifest and names the epoch; *ret is the tree (NULL when unreadable). 0 or
 * -ENOMEM; f->parsed says whether it is an object. */
int vf_read_manifest(struct seal_verifier *v, const char *label, const char *manifest,
                     size_t len, json **ret, struct mf *f);
int vf_check_manifest(struct seal_verifier *v, const json *m, const char *text, size_t len,
                      struct mf *f);
bool vf_check_signature(struct seal_verifier *v, const char *manifest, size_t len,
                        const uint8_t *sig, size_t sig_len);
void vf_check_chain_name(struct seal_verifier *v, const struct mf *f);
void vf_check_links(struct seal_verifier *v, const struct mf *f);
void vf_follow_rotation(struct seal_verifier *v, const struct mf *f, bool sig_ok);

/* verify-hash.c: leaf hashes, here or on the worker thread. */
/* The leaf of record i (already counted in n_leaves), after its tags (rtags, emptied):
 * hashed now, or queued when stable; added to the epoch's tree and the tagged ones. 0 or
 * -ENOMEM. */
int vf_hash_leaf(struct seal_verifier *v, size_t i, const char *data, size_t len);
/* Waits until the worker is idle: before the leaves array moves. */
void vf_hash_quiesce(struct seal_verifier *v);
/* Every leaf of the epoch is hashed and in its trees when it returns (records_end): 0, or
 * -ENOMEM when a tree could not grow. */
int vf_hash_finish(struct seal_verifier *v);
/* Stops the worker without finishing (an epoch given up or the verifier freed). */
void vf_hash_abandon(struct seal_verifier *v);

/* verify-records.c: records of the current epoch. */
/* Records that record i (fed in order: i is n_leaves - 1) is reported under seq. 0 or
 * -ENOMEM. */
int vf_seq_set(struct seal_verifier *v, size_t i, int64_t seq);
/* The seq record i (< n_leaves) is reported under. */
int64_t vf_seq_of(const struct seal_verifier *v, size_t i);
int vf_leaves_reserve(struct seal_verifier *v, size_t n);
/* Asks for huge pages over [p, p + len) when it is large (advice, never fails). */
void vf_advise_huge(void *p, size_t len);
/* One record; sc: the caller's seal_scan_record of these bytes (decided: its answer), or
 * NULL. 0 or -ENOMEM. */
int vf_feed_record(struct seal_verifier *v, const char *data, size_t len, int decided,
                   const struct seal_scan *sc);
/* The epoch's count, root and criteria roots, once every record was fed. */
int vf_records_check(struct seal_verifier *v, const struct mf *f);
