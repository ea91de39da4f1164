/* outputs/: the SQLite store (records, epochs, the export outbox) and the folder export.
 *
 * The store is the database of record. Every SQL statement is prepared once and bound;
 * nothing is ever formatted into SQL text. The query side opens the file read-only
 * (SQLITE_OPEN_READONLY, and PRAGMA query_only). Writers use WAL and synchronous=FULL so that
 * a committed batch survives power loss. The store knows bytes and numbers, not the format:
 * seal/ decides what is hashed and signed. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hash.h"

struct store;

enum store_mode { STORE_READONLY, STORE_READWRITE /* creates file and schema */ };

struct store_error {
        char msg[256];
};

/* Returns 0, -ENOENT (read-only and missing), -EIO (err says what SQLite said),
 * -EPROTO (not a gatelog database, or one of a schema version newer than this gatelog
 * reads: err names the versions). issue 12: a read-write open migrates a schema 1 file to
 * schema 2 in place, in one transaction (store-migrate.c); a read-only open reads a schema
 * 1 file in place, without writing it, and answers as on the migrated file. */
int store_open(const char *path, enum store_mode mode, struct store **ret,
               struct store_error *err);
void store_close(struct store *s); /* accepts NULL */
const char *store_errmsg(struct store *s); /* last SQLite message, borrowed */
/* issue 12: what a read-write open did beyond opening, for the caller to log (a schema 1
 * file migrated in place to schema 2, with counts); NULL when nothing. Borrowed. */
const char *store_open_note(struct store *s);

/* SQLite's full integrity check (b-trees, and every index against its table): cb is called
 * for each problem found (at most 20); nothing when the file is sound. Reads the whole file. */
int store_integrity_check(struct store *s, int (*cb)(void *ud, const char *problem), void *ud);

/* issue 12: moves WAL checkpoints off the caller's thread. The store stops checkpointing
 * when it commits (SQLite's wal_autocheckpoint); a thread with its own connection to the
 * same file runs a PASSIVE checkpoint whenever a commit leaves STORE_CKPT_BYTES or more
 * in the WAL, so the committing thread never copies pages back nor waits for the
 * database file's fsync. Durability is unchanged: a commit is durable once its WAL frames
 * are synced (synchronous=FULL), whoever checkpoints later. store_close stops the thread
 * (after one last checkpoint). Read-write stores only; 0 or -errno. */
int store_checkpoint_in_background(struct store *s);

/* issue 12 (sync9): the WAL's fdatasync off the committing thread (outputs/store-ckpt.c).
 * store_sync_new syncs the WAL once, then switches s's connection to synchronous=NORMAL: a
 * commit appends its WAL frames and returns without syncing them (SQLite still syncs the
 * WAL before a checkpoint copies it back, and a restarted WAL's header before any frame
 * follows it, so the database file never holds unsynced content and a power loss can only
 * take whole commits at the WAL's end). A commit is durable once store_sync_wal, started
 * after it returned, returned 0: nothing may be said to be stored before that. On failure
 * s stays at synchronous=FULL and -errno is returned. Read-write stores only. */
struct store_sync;
int store_sync_new(struct store *s, struct store_sync **ret);
/* fdatasync of the WAL on a descriptor of the handle's own (reopened, and its directory
 * synced, if the file was replaced), so it may run on any thread while another commits on
 * s. Thread-safe, blocks for the disk. 0 or -errno (-EIO: what was committed since the
 * last sync may be lost). */
int store_sync_wal(struct store_sync *y);
void store_sync_free(struct store_sync *y); /* accepts NULL */

int store_begin(struct store *s);   /* BEGIN IMMEDIATE */
int store_commit(struct store *s);
int store_rollback(struct store *s);

/* meta: small key/value facts (chain name, epoch length, schema version). *ret is malloc'd;
 * -ENOENT when absent. */
int store_meta_get(struct store *s, const char *key, char **ret);
int store_meta_set(struct store *s, const char *key, const char *value);

struct store_record {
        int64_t seq;
        int64_t epoch;
        int64_t received_us;
        int64_t time_us;              /* event time, for --since/--until */
        const char *host;             /* may be NULL */
        const char *data;             /* canonical record bytes */
        size_t len;
        uint8_t leaf[HASH_LEN];
        const char *const *criteria;  /* ids this record is tagged with */
        size_t n_criteria;
};

/* issue 12: criterion ids must be non-empty without spaces (-EINVAL); within a transaction
 * the record's index rows are written at store_commit, outside one the record gets a
 * transaction of its own. Seqs are expected to grow from one committed batch to the next
 * (the writer's). The record's values are copied: r and what it points to are free again
 * on return. Within a transaction the row itself may be written later (up to STORE_REC_ROWS
 * records go in one INSERT, before any other statement of the store), so an error of this
 * record's row (a duplicate seq: -EEXIST) may be returned by a later store_record_insert
 * or by store_commit; after any error the caller rolls the transaction back. */
int store_record_insert(struct store *s, const struct store_record *r);
/* Calls cb for each record of one epoch in seq order; pointers borrowed for the call only
 * (criteria not filled). cb returns <0 to stop with that value. issue 12: the epoch's seq
 * range is walked (from its first_seq to the next epoch's; the first epoch's from the
 * lowest seq, the last one's to the highest), so r->epoch differs from epoch only in an
 * edited or damaged file: a verifier compares it. An epoch without a row: the records whose
 * epoch column says so. */
int store_records_foreach(struct store *s, int64_t epoch,
                          int (*cb)(void *ud, const struct store_record *r), void *ud);
/* Leaf hashes and criteria of the open epoch, to rebuild the incremental trees on start. */
int store_records_leaves(struct store *s, int64_t epoch,
                         int (*cb)(void *ud, int64_t seq, const uint8_t leaf[HASH_LEN],
                                   const char *const *criteria, size_t n_criteria),
                         void *ud);
/* Highest seq stored, or -1 when none: *ret. */
int store_records_max_seq(struct store *s, int64_t *ret);

struct store_query {
        const char *criterion;   /* NULL: any */
        const char *host;        /* NULL: any */
        int64_t since_us;        /* INT64_MIN: open */
        int64_t until_us;        /* INT64_MAX: open; event time in [since, until) */
        bool include_open;       /* also records of the open epoch */
};
/* Records matching q, in seq order. */
int store_query(struct store *s, const struct store_query *q,
                int (*cb)(void *ud, const struct store_record *r), void *ud);

struct store_epoch {
        int64_t epoch;
        int64_t start_us, end_us;
        int64_t first_seq;
        int64_t count;
        bool sealed;
        char *stats;             /* JSON object text, malloc'd; for the open epoch the running
                                  * counters */
        uint8_t root[HASH_LEN];  /* sealed only */
        char *manifest;          /* sealed only, malloc'd */
        size_t manifest_len;
        uint8_t sig[64];         /* sealed only */
        int64_t sealed_us;
};

/* Inserts or replaces the row of e->epoch. */
int store_epoch_put(struct store *s, const struct store_epoch *e);
/* -ENOENT when absent. Fills a struct the caller clears with store_epoch_clear. */
int store_epoch_get(struct store *s, int64_t epoch, struct store_epoch *ret);
/* The highest-numbered epoch (open or sealed); -ENOENT when the store has none. */
int store_epoch_last(struct store *s, struct store_epoch *ret);
void store_epoch_clear(struct store_epoch *e);
/* Every epoch in order; the struct is borrowed for the call. */
int store_epochs_foreach(struct store *s, int (*cb)(void *ud, const struct store_epoch *e),
                         void *ud);
/* Per-criterion record counts of one epoch: cb(id, count) in id order. */
int store_epoch_criteria(struct store *s, int64_t epoch,
                         int (*cb)(void *ud, const char *id, int64_t count), void *ud);

/* Resumable sources (journald cursors, Kafka offsets): the position of the last event stored
 * from each source, written in the same transaction as the records. *ret is malloc'd;
 * -ENOENT when the source has none yet. Readers (a collector deciding where to resume) may
 * use their own read-only connection. */
int store_position_get(struct store *s, const char *source, char **ret);
int store_position_set(struct store *s, const char *source, const char *pos);
/* Every source with a position, in source order. */
int store_positions_foreach(struct store *s,
                            int (*cb)(void *ud, const char *source, const char *pos), void *ud);

/* Outbox: each sealed epoch is queued per output in the transaction that seals it, and marked
 * done only after its export is complete. */
int store_outbox_add(struct store *s, const char *output, int64_t epoch);
/* Pending epochs of one output, oldest first. */
int store_outbox_pending(struct store *s, const char *output,
                         int (*cb)(void *ud, int64_t epoch), void *ud);
int store_outbox_done(struct store *s, const char *output, int64_t epoch);
int store_outbox_failed(struct store *s, const char *output, int64_t epoch, const char *error);
/* Number of pending exports of an output (for `gatelog epochs` and health). */
int store_outbox_backlog(struct store *s, const char *output, int64_t *ret);
/* Added by outputs/: every output that has an outbox entry, in name order, with its number of
 * pending exports (for the backlog footer of `gatelog epochs`). cb returns <0 to stop. */
int store_outbox_outputs(struct store *s,
                         int (*cb)(void *ud, const char *output, int64_t pending), void *ud);

/* Trusted time (issue 10): the RFC 3161 token (DER TimeStampResp) of a sealed epoch's
 * manifest, stored once obtained and exported as manifest.tsr. put replaces; get fills a
 * malloc'd copy, -ENOENT when the epoch has none. */
int store_timestamp_put(struct store *s, int64_t epoch, const uint8_t *token, size_t len);
int store_timestamp_get(struct store *s, int64_t epoch, uint8_t **ret, size_t *ret_len);

/* ---- Folder export (outputs/export-folder.c) ----
 * Layout (docs/FORMAT.md): DIR/chain=CHAIN/epoch=NNNNNNNNNN/ with manifest.json (the signed
 * bytes), manifest.sig (64 raw bytes), records.jsonl (each record's bytes and '\n', in seq
 * order) and tsc=ID/records.jsonl per criterion. Files are written to temporary names,
 * fsync'd and renamed; manifest.json comes last, so a present manifest means a complete
 * epoch. Re-exporting an epoch replaces its files with identical bytes. */
struct export_source;
struct export_record {
        const char *data;
        size_t len;
        const char *const *criteria;
        size_t n_criteria;
};

struct export_epoch {
        const char *chain;
        int64_t epoch;
        const char *manifest;
        size_t manifest_len;
        const uint8_t *sig;              /* 64 bytes */
        const struct export_record *records;
        size_t n_records;
        const uint8_t *tsr;              /* issue 10: manifest.tsr bytes, written before the
                                          * manifest; NULL: none */
        size_t tsr_len;
        /* issue 12: when set, the records come from here instead of records/n_records, one
         * at a time, so that no output holds the epoch in memory. */
        const struct export_source *source;
};

/* issue 12: a streaming source of one epoch's records. foreach calls cb for each record in
 * seq order (criteria filled; pointers borrowed for the call only) and returns what cb
 * returned when <0, else 0 or its own error. An output may call it more than once. */
struct export_source {
        int (*foreach)(void *ud, int (*cb)(void *cb_ud, const struct export_record *r),
                       void *cb_ud);
        void *ud;
};
/* The records of e, from e->source when set, else from e->records: cb in seq order. */
int export_epoch_foreach(const struct export_epoch *e,
                         int (*cb)(void *ud, const struct export_record *r), void *ud);
/* A criterion id as a folder name or key segment ('/' in it, a leading '.', too long: no). */
bool export_criterion_ok(const char *id);

int export_folder_write(const char *dir, const struct export_epoch *e, struct store_error *err);

/* issue 12, export while the epoch is open: the folder export of one epoch written in
 * parts before its seal. The record files grow under hidden temporary names in a hidden
 * staging folder, DIR/.stage.chain=CHAIN.epoch=NNNNNNNNNN/ (never an export: no reader
 * looks there, and no epoch folder exists until the commit); the commit appends the rest,
 * then does exactly what export_folder_write does (fsyncs, renames into the epoch folder,
 * manifest last), so the export's bytes and names are the same as an export in one go.
 * A crash leaves only the staging folder, which export_folder_stage_clean removes. */
struct export_folder_stage;
/* Starts staging epoch of chain under dir (its staging folder is emptied first). 0 or -errno
 * with err set (-ENAMETOOLONG: a chain name too long for the staging folder's name). */
int export_folder_stage_open(const char *dir, const char *chain, int64_t epoch,
                             struct export_folder_stage **ret, struct store_error *err);
/* Appends one record (its line to records.jsonl and to each tsc file it names). On failure
 * the stage is unusable: free it. */
int export_folder_stage_add(struct export_folder_stage *st, const struct export_record *r,
                            struct store_error *err);
/* Hands what the stage's buffers hold to the files (write(), writeback started per file as
 * it grows), so that the files hold every record added so far and the seal finds less to
 * write. On failure the stage is unusable: free it. */
int export_folder_stage_flush(struct export_folder_stage *st, struct store_error *err);
/* Commits e (e->chain and e->epoch as staged): e's records are appended first (e->source or
 * e->records: the rest of the epoch after what was staged), then the files are committed
 * as export_folder_write does, manifest last. Frees st on every way out. */
int export_folder_stage_commit(struct export_folder_stage *st, const struct export_epoch *e,
                               struct store_error *err);
/* Removes the stage's temporary files and staging folder. Accepts NULL. */
void export_folder_stage_free(struct export_folder_stage *st);
/* Removes every staging folder of chain under dir (what a crash left). 0 or -errno. */
int export_folder_stage_clean(const char *dir, const char *chain);

/* issue 12: reading an epoch's committed records in parts (outputs/export-stage.c), over
 * the store's connection. export_stage_begin opens a read transaction (one snapshot until
 * export_stage_end) and reads the highest-numbered epoch's row into *ret_last (cleared by
 * the caller with store_epoch_clear); -ENOENT when the store has no epoch (the transaction
 * is then closed). */
int export_stage_begin(struct store *s, struct store_epoch *ret_last);
int export_stage_end(struct store *s);
/* The records of epoch with seq > after (INT64_MIN: all), in seq order: exactly the part of
 * store_records_foreach(s, epoch, ...) past after. *ret_lo (may be NULL): the first seq of
 * the epoch's seq range, for export_stage_check. cb returns <0 to stop with that value.
 * Each record is borrowed for the call and holds only seq, epoch, data and len (issue 12:
 * what an export reads; the other members are zero). */
int export_stage_records(struct store *s, int64_t epoch, int64_t after, int64_t *ret_lo,
                         int (*cb)(void *ud, const struct store_record *r), void *ud);
/* 0 when records from lo to last (last < lo: none), read while epoch was open, are still the
 * start of its seq range; -ESTALE when not (the epoch must be exported in one go). */
int export_stage_check(struct store *s, int64_t epoch, int64_t lo, int64_t last);
/* issue 12 (stage8): *ret_lo as export_stage_records gives it, without a walk: for a stage
 * begun from records fed in memory. 0 or -errno. */
int export_stage_lo(struct store *s, int64_t epoch, int64_t *ret_lo);

/* Reading an export back for `gatelog verify --export`: one callback per epoch directory of
 * one chain, in epoch order (chain NULL: the only chain; -EINVAL if there are several).
 * Every file is read as bytes; missing files are reported as problems by the caller: a NULL
 * manifest or sig means the file is missing. tsc lists the tsc=ID folders found. */
struct export_read_epoch {
        const char *path;                /* the epoch folder */
        const char *manifest; size_t manifest_len;   /* NULL when missing */
        const uint8_t *sig; size_t sig_len;           /* NULL when missing */
        const char *records; size_t records_len;      /* records.jsonl bytes, NULL if missing;
                                                       * issue 12: may be a read-only mapping,
                                                       * not NUL-terminated */
        size_t n_tsc;
        const char *const *tsc_ids;
        const char *const *tsc_data;     /* each tsc=ID/records.jsonl */
        const size_t *tsc_len;
        const uint8_t *tsr; size_t tsr_len;           /* issue 10: manifest.tsr, NULL if none */
        /* issue 12: read with export_folder_read_fds, a record file present as a plain file
         * comes as an open descriptor instead (its data NULL): records_fd and tsc_fd[i], -1
         * when the bytes are given (or the file is missing). Owned by the reader, closed after
         * the callback; read them with pread or read from offset 0. */
        bool by_fd;
        int records_fd;
        const int *tsc_fd;
};
int export_folder_read(const char *dir, const char *chain,
                       int (*cb)(void *ud, const struct export_read_epoch *e), void *ud,
                       struct store_error *err);
/* issue 12: the same walk, record files as descriptors (by_fd above), not mapped: on this
 * kind of VM the first touch of each mapped page cost more than copying it through read(). */
int export_folder_read_fds(const char *dir, const char *chain,
                           int (*cb)(void *ud, const struct export_read_epoch *e), void *ud,
                           struct store_error *err);
