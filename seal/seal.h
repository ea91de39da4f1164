/* seal/: Merkle trees, manifests, Ed25519 keys, the verifier, and the writer that stores
 * records and closes epochs. The format is public and documented in docs/FORMAT.md:
 *
 *   leaf  = SHA-256(0x00 || record bytes)
 *   node  = SHA-256(0x01 || left || right)
 *   root  = RFC 6962 Merkle Tree Hash of the leaves in seq order; empty tree: SHA-256("")
 *
 * Hashing is OpenSSL's SHA-256 (core/hash.h); signing is libsodium's Ed25519. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/json.h"

#define SEAL_SIG_LEN 64
#define SEAL_PK_LEN 32
#define SEAL_FORMAT_VERSION 1

/* ---- Merkle trees (seal/merkle.c) ---- */

void merkle_leaf_hash(const void *rec, size_t len, uint8_t out[HASH_LEN]);
void merkle_node_hash(const uint8_t left[HASH_LEN], const uint8_t right[HASH_LEN],
                      uint8_t out[HASH_LEN]);

/* Incremental tree: O(log n) memory (the roots of the perfect subtrees, as in a CT compact
 * range), O(1) amortised hashing per leaf, root in O(log n). */
struct merkle;
int merkle_new(struct merkle **ret);
void merkle_free(struct merkle *m); /* accepts NULL */
int merkle_add_leaf(struct merkle *m, const uint8_t leaf[HASH_LEN]); /* 0 or -ENOMEM */
uint64_t merkle_count(const struct merkle *m);
void merkle_root(const struct merkle *m, uint8_t out[HASH_LEN]);
/* The root of all leaves at once (RFC 6962 section 2.1; issue 12: computed bottom-up, two
 * node hashes at a time); used by the verifier and by tests as the model. */
void merkle_root_of(const uint8_t (*leaves)[HASH_LEN], size_t n, uint8_t out[HASH_LEN]);
/* The same over leaves[idx[0]], ..., leaves[idx[n-1]] (idx NULL: leaves[0..n)), without
 * copying the chosen leaves out (the verifier's criterion roots). */
void merkle_root_of_indexed(const uint8_t (*leaves)[HASH_LEN], const size_t *idx, size_t n,
                            uint8_t out[HASH_LEN]);
/* issue 12 (verify11): the tree of merkle_root_of fed one leaf at a time (the same node
 * hashes, two at a time, 256 leaves a chunk), so that the verifier builds its roots while the
 * leaves are hashed and keeps none of them. Memory: up to 8 KiB of the current chunk and 32
 * bytes per bit of the count; a tree of few leaves stays small. add returns 0 or -ENOMEM (the
 * tree is then unchanged); root gives merkle_root_of of the leaves added and empties t. */
struct merkle_chunked;
int merkle_chunked_new(struct merkle_chunked **ret);
void merkle_chunked_free(struct merkle_chunked *t); /* accepts NULL */
void merkle_chunked_reset(struct merkle_chunked *t);
int merkle_chunked_add(struct merkle_chunked *t, const uint8_t leaf[HASH_LEN]);
uint64_t merkle_chunked_count(const struct merkle_chunked *t);
void merkle_chunked_root(struct merkle_chunked *t, uint8_t out[HASH_LEN]);

/* ---- Keys (seal/key.c) ----
 * Secret key file: PEM "PRIVATE KEY" (PKCS#8, RFC 8410 Ed25519), mode 0600, created O_EXCL.
 * Public key file: PEM "PUBLIC KEY" (SubjectPublicKeyInfo), readable by openssl pkeyutl.
 * key_id = lowercase hex SHA-256 of the 32 raw public key bytes. */
struct seal_key; /* secret key in sodium_malloc'd memory, wiped on free */

struct seal_error {
        char msg[256];
};

/* Writes a new key pair: secret to secret_path (O_EXCL, 0600), public to pub_path (0644).
 * -EEXIST when secret_path exists. */
int seal_key_generate(const char *secret_path, const char *pub_path, struct seal_error *err);
/* Loads a secret key; -EPERM (err says why) when the file is readable or writable by group
 * or others, or not owned by the current user. */
int seal_key_load(const char *path, struct seal_key **ret, struct seal_error *err);
void seal_key_free(struct seal_key *k); /* wipes; accepts NULL */
/* Derives a key pair from a 32-byte seed (RFC 8032 private key); for tests with fixed keys.
 * The caller wipes its seed. Returns 0, -ENOMEM, -EIO. */
int seal_key_from_seed(const uint8_t seed[32], struct seal_key **ret);
void seal_key_public(const struct seal_key *k, uint8_t pk[SEAL_PK_LEN]);
int seal_key_sign(const struct seal_key *k, const void *msg, size_t len,
                  uint8_t sig[SEAL_SIG_LEN]);
/* Loads a public key from a PEM SPKI file, a 64-hex-digit file, or a 32-byte raw file. */
int seal_pubkey_load(const char *path, uint8_t pk[SEAL_PK_LEN], struct seal_error *err);
/* Appends the PEM SPKI text of pk. */
int seal_pubkey_pem(const uint8_t pk[SEAL_PK_LEN], struct buf *out);
void seal_key_id(const uint8_t pk[SEAL_PK_LEN], char out[HASH_HEX_LEN]);
/* 0 valid, -EBADMSG invalid. */
__attribute__((warn_unused_result)) int seal_sig_verify(const uint8_t pk[SEAL_PK_LEN],
                                                         const void *msg, size_t len,
                                                         const uint8_t sig[SEAL_SIG_LEN]);

/* ---- Manifests (seal/manifest.c) ---- */

struct seal_criterion {
        const char *id;              /* "CC6.1" */
        uint64_t count;
        uint8_t root[HASH_LEN];
};

struct seal_manifest {
        const char *chain;
        uint64_t epoch;
        int64_t start_us, end_us;    /* [start, end) of receipt time */
        uint64_t first_seq;          /* seq of the first record; when count is 0, the next seq */
        uint64_t count;
        uint8_t root[HASH_LEN];
        const struct seal_criterion *criteria; /* sorted by id (RFC 8785 order) */
        size_t n_criteria;
        const json *stats;           /* borrowed object: received, kept, malformed, dropped{} */
        char key_id[HASH_HEX_LEN];
        uint8_t prev[HASH_LEN];      /* SHA-256 of the previous manifest bytes; zeros for 0 */
        int64_t sealed_us;           /* when it was sealed */
        /* issue 10, key rotation: the 32 raw bytes of the public key that signs the next
         * epoch (member "next_key", lowercase hex), or NULL: the same key goes on. */
        const uint8_t *next_key;
};

/* Appends the canonical manifest bytes (the bytes that are signed). */
int seal_manifest_build(const struct seal_manifest *m, struct buf *out);

/* ---- Verifier (seal/verify.c) ----
 * Fed epochs in order, from a database or an export, it checks: each manifest is canonical
 * JSON of this format; its signature under the pinned public key; key_id; chain name
 * constant; epochs numbered without gaps; prev = SHA-256 of the previous manifest bytes;
 * first_seq continues the previous epoch; count and seq of every record (gapless); each
 * record canonical JSON; root and every criterion root and count recomputed from the
 * records. Each failure is reported through the callback naming epoch (and seq when it is
 * about one record) and why; verification goes on to report all problems. */
struct seal_verifier;

/* what is a whole sentence that already names the place: "epoch 3 seq 17: record is not
 * canonical JSON", "epoch 5 missing: epochs jump from 4 to 6", or, when the manifest cannot
 * be read, the label instead of "epoch N". epoch is -1 when unknown (the first epoch fed
 * has no readable number); seq is -1 when the problem is not about one record. */
typedef void (*seal_problem_cb)(void *ud, int64_t epoch, int64_t seq, const char *what);

struct seal_blob {
        const char *data;
        size_t len;
};

int seal_verifier_new(const uint8_t pk[SEAL_PK_LEN], seal_problem_cb cb, void *ud,
                      struct seal_verifier **ret);
void seal_verifier_free(struct seal_verifier *v);
/* One epoch: manifest bytes, signature (sig_len must be 64 or it is a problem), records in
 * stored order. label names the epoch in reports when the manifest cannot be parsed (a
 * path or "epoch 7"). Returns 0 (problems go to the callback) or -ENOMEM. */
int seal_verifier_epoch(struct seal_verifier *v, const char *label, const char *manifest,
                        size_t manifest_len, const uint8_t *sig, size_t sig_len,
                        const struct seal_blob *records, size_t n_records);
/* For exports: the records listed under tsc=ID/records.jsonl of the last epoch fed; they
 * must equal, in order, the epoch's records tagged with id. Call once per file present;
 * seal_verifier_epoch_end then reports criteria in the manifest without a file. */
int seal_verifier_tsc(struct seal_verifier *v, const char *id, const struct seal_blob *records,
                      size_t n_records);
int seal_verifier_epoch_end(struct seal_verifier *v, bool expect_tsc_files);
/* Total problems so far; also the epochs checked. */
uint64_t seal_verifier_problems(const struct seal_verifier *v);
uint64_t seal_verifier_epochs(const struct seal_verifier *v);
/* The SHA-256 of the last manifest fed (its bytes, whatever problems it had) and its epoch
 * number (as parsed; previous + 1 when it could not be parsed): what the next epoch's prev
 * must be. Returns 0, or -ENOENT before any epoch was fed. Either out pointer may be NULL. */
int seal_verifier_head(const struct seal_verifier *v, uint8_t ret_hash[HASH_LEN],
                       int64_t *ret_epoch);
/* Optional, before the first epoch: pins where the chain continues from, so that a run over
 * a later range of epochs checks its first epoch too: it must be number epoch, its prev must
 * be prev, and its first_seq must be next_seq. Without it, the first epoch fed is taken as the
 * start (and must have prev all zeros only when it is epoch 0). */
void seal_verifier_anchor(struct seal_verifier *v, int64_t epoch, const uint8_t prev[HASH_LEN],
                          uint64_t next_seq);

/* ---- Streaming verification (issue 12) ----
 * The same checks as seal_verifier_epoch / seal_verifier_tsc, fed one record at a time so
 * that no caller holds an epoch: epoch_begin (manifest, signature, links), then record for
 * each record in stored order, then records_end (count, roots, criteria roots). The problem
 * reports are the same sentences in the same order. seal_verifier_epoch is begin, records and
 * end. Memory: the trees as they are built, and one leaf hash per record and the criteria's
 * indexes only while kept (seal_verifier_keep_leaves). */
int seal_verifier_epoch_begin(struct seal_verifier *v, const char *label, const char *manifest,
                              size_t manifest_len, const uint8_t *sig, size_t sig_len);
int seal_verifier_record(struct seal_verifier *v, const char *data, size_t len);
int seal_verifier_records_end(struct seal_verifier *v);
/* After records_end: the indexes (in the order fed) of the records tagged with id, for a
 * caller that checks a tsc=ID/records.jsonl by comparing bytes rather than hashes; NULL and 0
 * when no record carries id or the indexes were not kept (seal_verifier_keep_leaves).
 * Borrowed until the next epoch. */
const size_t *seal_verifier_tagged(const struct seal_verifier *v, const char *id,
                                   size_t *ret_n);

/* issue 12: the same check as seal_verifier_tsc for a tsc=ID/records.jsonl given whole,
 * compared line by line with the records tagged ID while they are fed, so that no caller
 * reads either file twice: call it after epoch_begin and before the first record (-EINVAL
 * otherwise), once per file (-EEXIST when id already has one: check that file with
 * seal_verifier_tsc). data is borrowed until seal_verifier_tsc_stream_end, which, after the
 * records, reports on the file exactly as seal_verifier_tsc would (-ENOENT: no such stream;
 * a record holding a raw '\n' is no line of the file, as there). */
int seal_verifier_tsc_stream(struct seal_verifier *v, const char *id, const char *data,
                             size_t len);
/* issue 12 (verify11): whether the epoch's leaf hashes and criteria indexes are kept after
 * records_end (the default, true), which seal_verifier_tsc and seal_verifier_tagged need. A
 * caller that checks every tsc file of the epoch by stream says false: the roots are built
 * as the leaves are hashed either way, and without the arrays an epoch costs ~40 bytes a
 * record less (seal_verifier_tsc then returns -EINVAL). Set between epochs or after
 * epoch_begin before the first record (-EINVAL otherwise); it stays until changed. */
int seal_verifier_keep_leaves(struct seal_verifier *v, bool keep);
int seal_verifier_tsc_stream_end(struct seal_verifier *v, const char *id);
/* issue 12: seal_verifier_tsc_stream for a file read as needed through cb (a descriptor read
 * into the verifier's own buffer, never the whole file at once): cb fills up to len bytes of
 * buf and returns how many, 0 at the end, or a negative errno, which
 * seal_verifier_tsc_stream_end then returns. cb and ud are used until stream_end. */
typedef long (*seal_read_cb)(void *ud, void *buf, size_t len);
int seal_verifier_tsc_stream_read(struct seal_verifier *v, const char *id, seal_read_cb cb,
                                  void *ud);

/* issue 12: the caller promises that the bytes of each record it feeds from now on stay
 * readable until that epoch's seal_verifier_records_end returns (the lines of a mapped
 * export file): the leaf hashes are then computed on a second thread while the caller's
 * thread goes on; records_end waits for them. Without it (the default; a SQLite row is gone
 * at the next step) every leaf is hashed as the record is fed. A change drops the epoch
 * being fed (call it between epochs). */
void seal_verifier_records_stable(struct seal_verifier *v, bool stable);
/* issue 12: with stable records, a caller that reuses its buffer: returns once the leaves of
 * the first n records fed in this epoch are hashed, so that their bytes may be overwritten
 * (the records after n stay promised). A no-op without stable records. */
void seal_verifier_records_release(struct seal_verifier *v, size_t n);
/* issue 12 (verify7): a hint, right after seal_verifier_epoch_begin, that the epoch holds
 * about n records (an export's records.jsonl size over the shortest record's): the per-record
 * arrays are sized once for the smaller of n and the manifest's count, instead of doubling as
 * records come (each doubling copied them: ~7 % of `verify --export`). Advice only: more
 * records are taken as before, and a failed allocation changes nothing. */
void seal_verifier_records_expect(struct seal_verifier *v, uint64_t n);
/* Gives up the epoch being fed (after a fatal error of the caller: nothing is reported, the
 * worker thread is stopped and the records' bytes are no longer read). */
void seal_verifier_records_abandon(struct seal_verifier *v);

/* ---- Record scanner (seal/verify-scan.c; issue 12) ---- */
#define SEAL_SCAN_CRITERIA_MAX 32

struct seal_span {
        const char *p;
        size_t len;
};

enum seal_scan_kind { SEAL_SCAN_ABSENT, SEAL_SCAN_STRING, SEAL_SCAN_OTHER };

struct seal_scan {
        int64_t seq;                            /* non-negative */
        bool has_criteria;
        size_t n_criteria;
        enum seal_scan_kind host_kind, time_kind, received_kind;
        struct seal_span host, time, received;  /* SEAL_SCAN_STRING: the bytes (no escape) */
        struct seal_span source;        /* issue 12: the "source" value's bytes; p NULL: absent */
        struct seal_span criteria[SEAL_SCAN_CRITERIA_MAX];  /* plain strings, in order */
};
/* 1 when the bytes are one JSON object exactly as the canonical serialiser writes it, with
 * "seq" a non-negative integer and "criteria" absent or an array of at most
 * SEAL_SCAN_CRITERIA_MAX strings without escapes; *ret is filled (spans point into p).
 * 0 when it cannot tell (the record may still be canonical): take the full parser. Never
 * allocates. */
int seal_scan_record(const char *p, size_t len, struct seal_scan *ret);
/* issue 12: a line of a records file without looking for its end first. 1 when the bytes at
 * p begin with a record that seal_scan_record decides, followed by '\n' within avail:
 * *ret_len is the record's length (the line without its '\n') and *ret is filled exactly as
 * seal_scan_record fills it for those bytes. 0 otherwise: find the line's end and call
 * seal_scan_record on it (it may still decide a last line without its '\n'). */
int seal_scan_line(const char *p, size_t avail, struct seal_scan *ret, size_t *ret_len);

/* issue 12: which classifier the scanner's structural index uses (the answers are the same
 * with each: the tests run them all against the full parser). BEST: the widest this CPU runs
 * (AVX-512BW, else AVX2, else SSE2, else the scalar loop). */
enum seal_scan_isa { SEAL_SCAN_ISA_BEST, SEAL_SCAN_ISA_SCALAR, SEAL_SCAN_ISA_SSE2,
                     SEAL_SCAN_ISA_AVX2, SEAL_SCAN_ISA_AVX512 };
/* Can this build, on this CPU, scan with isa? */
bool seal_scan_isa_supported(enum seal_scan_isa isa);
/* seal_scan_record and seal_scan_line with a chosen classifier (0 when not supported). */
int seal_scan_record_isa(const char *p, size_t len, struct seal_scan *ret,
                         enum seal_scan_isa isa);
int seal_scan_line_isa(const char *p, size_t avail, struct seal_scan *ret, size_t *ret_len,
                       enum seal_scan_isa isa);

/* issue 12: seal_verifier_record for a caller that has already run seal_scan_record on
 * exactly these bytes (`verify --db` checks the columns with it): decided is what it
 * returned and sc what it filled in (read only when decided is 1). The same checks and
 * reports, without scanning the record a second time. */
int seal_verifier_record_scanned(struct seal_verifier *v, const char *data, size_t len,
                                 int decided, const struct seal_scan *sc);

/* ---- Inclusion proofs (seal/proof.c; issue 10) ----
 * RFC 6962 section 2.1.1 audit paths, checked with RFC 9162 section 2.1.3.2, and the proof
 * file of docs/FORMAT.md section 7: one canonical JSON object and '\n'. */
#define SEAL_PATH_MAX 64
/* A JSON string of exactly 64 lowercase hex digits (a hash in a manifest or a proof: the hex
 * is part of the signed bytes, so it has one spelling) into out. false, out undefined, for
 * anything else (NULL, not a string, uppercase, wrong length). Shared by the verifier and
 * the proof checker. */
bool seal_hex_parse(const json *j, uint8_t out[HASH_LEN]);
/* The audit path of leaf index among n leaves, leaf-upward; path holds SEAL_PATH_MAX hashes.
 * Returns 0 or -ENOENT when index >= n. */
int merkle_audit_path(const uint8_t (*leaves)[HASH_LEN], size_t n, size_t index,
                      uint8_t (*path)[HASH_LEN], size_t *ret_len);
/* 0 when path proves leaf at index of a tree of size leaves with root; else -EBADMSG. */
__attribute__((warn_unused_result)) int merkle_path_verify(
        const uint8_t leaf[HASH_LEN], uint64_t index, uint64_t size,
        const uint8_t (*path)[HASH_LEN], size_t len, const uint8_t root[HASH_LEN]);
/* Appends the proof of records[index] of a sealed epoch (its manifest bytes and signature,
 * all its records in seq order). Returns 0, -ENOENT (index >= n: an epoch with no records
 * has no proof), -EBADMSG (the record is not a JSON object with an integer seq), -ENOMEM. */
int seal_proof_build(const char *manifest, size_t manifest_len, const uint8_t sig[SEAL_SIG_LEN],
                     int64_t epoch, const struct seal_blob *records, size_t n, size_t index,
                     struct buf *out);
/* issue 12: proofs from leaf hashes. A seal_leaves is fed an epoch's records in seq order
 * and keeps only each one's leaf hash and the criteria it is tagged with (32 bytes and an
 * index per tag per record), so that a prover never holds the epoch's records. */
struct seal_leaves;
int seal_leaves_new(struct seal_leaves **ret);
/* NULL-safe; returns NULL. */
struct seal_leaves *seal_leaves_free(struct seal_leaves *l);
/* The next record of the epoch (bytes are not kept). Returns 0 or -ENOMEM. */
int seal_leaves_add(struct seal_leaves *l, const char *data, size_t len);
size_t seal_leaves_count(const struct seal_leaves *l);
/* Appends the proof of the record added at index, whose bytes the caller passes again (they
 * must hash to that leaf). Returns 0, -ENOENT (index >= count), -EINVAL (record is not the
 * one added at index), -EBADMSG (not a JSON object with an integer seq), -ENOMEM. Gives the
 * same bytes as seal_proof_build over the same records. */
int seal_leaves_proof(const struct seal_leaves *l, const char *manifest, size_t manifest_len,
                      const uint8_t sig[SEAL_SIG_LEN], int64_t epoch, const char *record,
                      size_t record_len, size_t index, struct buf *out);
struct seal_proof_info {
        int64_t epoch, seq;
        uint64_t leaf_index, tree_size;
        size_t n_criteria;                 /* criterion paths checked */
        uint8_t manifest_hash[HASH_LEN];   /* SHA-256 of the manifest bytes */
};
/* Checks a proof file's bytes against the pinned key: 0 valid (ret filled, may be NULL),
 * -EBADMSG invalid (err says the first reason), -ENOMEM. */
__attribute__((warn_unused_result)) int seal_proof_verify(const char *text, size_t len,
                                                          const uint8_t pk[SEAL_PK_LEN],
                                                          struct seal_proof_info *ret,
                                                          struct seal_error *err);

/* ---- Chain heads and C2SP checkpoints (seal/checkpoint.c; issue 10) ----
 * The manifests of epochs 0..N-1 are the entries of an RFC 6962 log (leaf = SHA-256(0x00 ||
 * manifest bytes)); its head at N sealed epochs is (N, MTH). docs/FORMAT.md section 8. */
#define SEAL_ORIGIN_MAX 255
struct seal_head {
        uint64_t tree_size;             /* sealed epochs covered: 0..tree_size-1 */
        uint8_t root[HASH_LEN];         /* MTH over their manifests */
        bool has_manifest_hash;         /* head lines name the last manifest's SHA-256 */
        uint8_t manifest_hash[HASH_LEN];
        bool is_checkpoint;             /* a signed note whose signature verified */
        char origin[SEAL_ORIGIN_MAX + 1]; /* checkpoint origin, or the head line's chain */
};
/* A C2SP signed-note key name: non-empty UTF-8 without spaces, controls or '+'. */
bool seal_note_name_valid(const char *name);
/* key ID = SHA-256(name || 0x0A || 0x01 || pk)[:4] (signed-note, Ed25519). */
void seal_note_key_id(const char *name, const uint8_t pk[SEAL_PK_LEN], uint8_t out[4]);
/* Appends the verifier key "name+hex(id)+base64(0x01 || pk)". -EINVAL for a bad name. */
int seal_note_vkey(const char *name, const uint8_t pk[SEAL_PK_LEN], struct buf *out);
/* Appends a signed checkpoint (body, blank line, one signature line named origin). */
int seal_checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[HASH_LEN],
                         const struct seal_key *k, struct buf *out);
/* Appends the head line of `gatelog head`: canonical JSON {chain, epoch, manifest_sha256,
 * root, tree_size} and '\n'. -EINVAL when tree_size is 0 (nothing sealed: no head). */
int seal_head_format(const char *chain, uint64_t tree_size, const uint8_t root[HASH_LEN],
                     const uint8_t manifest_hash[HASH_LEN], struct buf *out);
/* Reads a head line or a checkpoint (whose signature must verify under pk; other signature
 * lines are ignored). 0, or -EBADMSG with err set. */
__attribute__((warn_unused_result)) int seal_head_parse(const char *text, size_t len,
                                                        const uint8_t pk[SEAL_PK_LEN],
                                                        struct seal_head *ret,
                                                        struct seal_error *err);
/* Verifier, optional, before the first epoch: the chain fed must extend head h (its first
 * h->tree_size manifests give h->root, and the last of them has h->manifest_hash when the
 * head names it); seal_verifier_finish reports a chain that is shorter (truncated) or whose
 * manifests differ (rewritten). Feed the chain from epoch 0. */
void seal_verifier_expect_head(struct seal_verifier *v, const struct seal_head *h);
/* Call after the last epoch: reports what can only be judged at the end. Returns 0 or
 * -ENOMEM. */
int seal_verifier_finish(struct seal_verifier *v);

/* ---- Key rotation and revocation (seal/verify.c, seal/rotate.c; issue 10) ----
 * A manifest may name the key that signs the next epoch ("next_key"). When that manifest's
 * signature verifies under the key in force, its key_id is right and its key is not revoked
 * for it, the verifier switches to the named key from the next epoch on: one pinned key is
 * followed through every rotation. A key announced nowhere never verifies. */
#define SEAL_REVOKED_MAX 256
/* Revokes key_id (64 lowercase hex) for epochs >= from_epoch: a manifest of such an epoch
 * signed by it is a problem (and does not rotate). Returns 0, -EINVAL (bad key_id or
 * epoch), -E2BIG (more than SEAL_REVOKED_MAX). */
int seal_verifier_revoke(struct seal_verifier *v, const char *key_id, int64_t from_epoch);
/* Called after an epoch that rotated: the epoch that announced it and the new key_id. */
typedef void (*seal_rotate_cb)(void *ud, int64_t epoch, const char *new_key_id);
void seal_verifier_on_rotate(struct seal_verifier *v, seal_rotate_cb cb, void *ud);
/* The public key in force for the next epoch fed (the pinned one until a rotation). */
void seal_verifier_key(const struct seal_verifier *v, uint8_t ret_pk[SEAL_PK_LEN]);
/* Reads a revocation file: lines "KEY_ID FROM_EPOCH", '#' comments and blank lines, and
 * applies each to v. 0, -ENOENT/-EACCES (cannot read), -EBADMSG (err names
 * FILE:LINE:COLUMN), -E2BIG. */
int seal_revoked_load(const char *path, struct seal_verifier *v, struct seal_error *err);
/* The rotation files beside a secret key FILE (docs/FORMAT.md section 9): FILE.next and
 * FILE.next.pub hold the announced key; once the rotation is sealed, seal_key_rotate_files
 * keeps FILE as FILE.old (FILE.pub as FILE.old.pub) and moves FILE.next over FILE
 * (FILE.next.pub over FILE.pub); every step can be redone after a crash. */
/* Loads FILE.next when it exists: 0 with *ret set, 0 with *ret NULL when absent, or the
 * error of seal_key_load. */
int seal_key_load_next(const char *path, struct seal_key **ret, struct seal_error *err);
int seal_key_rotate_files(const char *path, struct seal_error *err);
