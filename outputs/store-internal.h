/* Shared by the store's files (store.c: open, statements, meta; store-records.c: records;
 * store-epochs.c: epochs and the outbox; store-index.c: the per-batch criterion and time
 * index and queries; store-migrate.c: schema 1 to 2, and schema 1 read in place;
 * store-ckpt.c: background checkpoints). Not part of the outputs/ API. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "outputs/outputs.h"

enum st {
        ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
        ST_N_TABLES, ST_HAS_META, ST_META_GET, ST_META_SET, ST_POS_GET, ST_POS_SET, ST_POS_ALL, ST_INTEGRITY,
        ST_REC_INSERT, ST_REC_INSERT_N, ST_REC_APPEND, ST_REC_APPEND_N,
        ST_REC_RANGE, ST_REC_GET, ST_TAGS_RANGE, ST_MAX_SEQ,
        ST_BATCH_PUT, ST_CIDX_PUT, ST_Q_BATCHES, ST_Q_CIDX, ST_SEALED,  /* schema 2 index */
        ST_EPOCH_PUT, ST_EPOCH_GET, ST_EPOCH_LAST, ST_EPOCH_ALL, ST_EPOCH_RANGE,
        ST_OUT_ADD, ST_OUT_PENDING, ST_OUT_DONE, ST_OUT_FAILED, ST_OUT_BACKLOG, ST_OUT_ALL,
        ST_TS_CREATE, ST_TS_PUT, ST_TS_GET,  /* trusted time (issue 10) */
        ST__MAX
};

/* The schema version this gatelog creates and writes (store.c); it reads version 1 too. */
#define STORE_SCHEMA_VERSION "2"

/* A record's columns as store_row_record reads them (the SELECTs of store.c, and version 1's
 * of store-migrate.c). */
#define REC_COLS "r.seq, r.epoch, r.received, r.time, r.host, r.leaf, r.data"

/* The schema 2 index tables (store.c's schema; store-migrate.c creates them in a version 1
 * file). Constant DDL. */
#define STORE_INDEX_SCHEMA_SQL \
        "CREATE TABLE batches(first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL," \
        " min_time INTEGER NOT NULL, max_time INTEGER NOT NULL);" \
        "CREATE TABLE criteria_index(criterion TEXT NOT NULL, first_seq INTEGER NOT NULL," \
        " seqs BLOB NOT NULL, PRIMARY KEY(criterion, first_seq)) WITHOUT ROWID;"

#define STORE_BUSY_TIMEOUT_MS 5000

/* Records a transaction's inserts gather before one multi-row INSERT writes them
 * (store-records.c, issue 12): ST_REC_INSERT_N has this many rows of 8 parameters. */
#define STORE_REC_ROWS 16

struct store_ckpt;  /* the background checkpointer (store-ckpt.c), issue 12 */

/* Records inserted but not yet written (store-records.c): their values, their bytes (data,
 * host, criteria text) copied into bytes[], so that the caller's buffers are free again
 * when store_record_insert returns. Written by store_records_flush. */
struct store_rec_pend {
        size_t n;                    /* rows pending, < STORE_REC_ROWS between calls */
        /* The records table's highest seq in the open transaction (issue 12: rows that
         * follow it are appended, store-records.c), read once per transaction and kept
         * by every row written. max_known false: to be read (after store_begin, a rollback
         * or an error); max_seq INT64_MIN: the table is empty. */
        bool max_known;
        int64_t max_seq;
        uint64_t appended;           /* rows written without their seq, ever (tests read it) */
        char *bytes;                 /* the rows' bytes, back to back; grows, never shrinks */
        size_t len, alloc;
        struct store_rec_row {
                int64_t seq, epoch, received_us, time_us;
                size_t data_off, data_len;
                size_t host_off, host_len;  /* host_off SIZE_MAX: NULL */
                size_t crit_off, crit_len;  /* crit_off SIZE_MAX: NULL */
                uint8_t leaf[HASH_LEN];
        } row[STORE_REC_ROWS];
};
struct store_index; /* the batch being indexed between begin and commit (store-index.c) */

/* A store is used by one thread at a time: the cached statements and errmsg are shared. */
struct store {
        sqlite3 *db;
        bool readonly;
        bool read_v1;                /* a schema 1 file, read in place (read-only opens) */
        struct store_ckpt *ckpt;     /* NULL unless store_checkpoint_in_background */
        sqlite3_stmt *st[ST__MAX];   /* prepared on first use, finalized by store_close */
        struct store_index *idx;     /* NULL until the first record insert */
        struct store_rec_pend pend;  /* records inserted, not yet written (issue 12) */
        char note[160];              /* what the open did beyond opening (a migration) */
        char errmsg[256];
};

/* The one place where SQLite result codes become errno values; keeps the message. */
int store_rc(struct store *s, int rc);
/* The cached statement of id (prepared on first use), or NULL with *ret_rc set. */
sqlite3_stmt *store_st(struct store *s, enum st id, int *ret_rc);
/* Resets and unbinds a statement after use. */
void store_st_done(sqlite3_stmt *st);
/* Steps a statement that returns no rows, then resets it. */
int store_st_exec(struct store *s, sqlite3_stmt *st);
/* Binds text, or NULL when v is NULL. The text must outlive the step. */
int store_bind_text(sqlite3_stmt *st, int i, const char *v);
/* A blob or text column as a malloc'd NUL-terminated copy; *ret NULL for SQL NULL. */
int store_col_dup(sqlite3_stmt *st, int i, char **ret, size_t *ret_len);
/* A fixed-size blob column; zeros when NULL or of another size. */
void store_col_fixed(sqlite3_stmt *st, int i, uint8_t *out, size_t n);
/* Runs a one-row, one-integer SELECT into *ret. */
int store_count_one(struct store *s, sqlite3_stmt *st, int64_t *ret);
/* Steps a bound SELECT, calling row_cb(ud, st) for each row; stops at the first negative
 * return and returns it; resets the statement on every way out. 0 or -errno. */
int store_st_rows(struct store *s, sqlite3_stmt *st, int (*row_cb)(void *ud, sqlite3_stmt *st),
                  void *ud);

/* Writes the pending records (store-records.c) into the open transaction: one multi-row
 * INSERT when STORE_REC_ROWS are pending, else one INSERT each. The pending rows are gone
 * either way; an error (a duplicate seq: -EEXIST) leaves the transaction to be rolled
 * back. store_st calls it before any other statement runs on the connection, so that
 * nothing the connection reads or commits misses a record. 0 or -errno. */
int store_records_flush(struct store *s);
/* Forgets the pending records (rollback) and frees their scratch (close). */
void store_records_discard(struct store *s);
void store_records_free(struct store *s);

/* Stops the background checkpointer, if any (store-ckpt.c); store_close calls it. */
void store_ckpt_stop(struct store *s);

/* ---- records by epoch (store-records.c) ----
 * The seq range [*ret_lo, *ret_hi) that holds epoch's records: epochs are contiguous in seq,
 * so it runs from the epoch row's first_seq to the next epoch row's first_seq; the first
 * epoch's range starts at INT64_MIN and the last one's ends at INT64_MAX, so that the ranges
 * of all epochs cover every seq and a record whose epoch column disagrees with its place
 * is seen by whoever walks the epochs (verify compares the column). *ret_has_row false when
 * the epoch has no row (then the range is everything and callers filter on the column). */
int store_epoch_range(struct store *s, int64_t epoch, int64_t *ret_lo, int64_t *ret_hi,
                      bool *ret_has_row);
/* Calls cb(ud, seq, leaf, criteria column text or NULL) for each record of epoch (epoch
 * column checked) in seq order; the text is borrowed for the call. */
int store_epoch_tags(struct store *s, int64_t epoch,
                     int (*cb)(void *ud, int64_t seq, const uint8_t *leaf, const char *tags),
                     void *ud);
/* Fills r from a REC_COLS row. */
void store_row_record(sqlite3_stmt *st, struct store_record *r);
/* A store_st_rows row callback that hands each REC_COLS row, as a borrowed record, to
 * w->cb(w->ud, record). */
struct store_rec_walk {
        int (*cb)(void *ud, const struct store_record *r);
        void *ud;
};
int store_rec_walk_row(void *ud, sqlite3_stmt *st);

/* ---- the per-batch index (store-index.c) ----
 * Every record inserted between store_begin and store_commit is noted in memory; commit
 * writes one `batches` row (seq and time bounds) and one `criteria_index` row per criterion
 * (the batch's seqs of that criterion, varint deltas) before COMMIT, so a query by criterion
 * or time reads a few index rows per batch instead of SQLite maintaining an index per row.
 * Outside a transaction, store_record_insert opens one of its own. */
int store_index_note(struct store *s, int64_t seq, int64_t time_us,
                     const char *const *criteria, size_t n_criteria);
/* Writes the pending rows (inside the caller's transaction) and empties the batch. */
int store_index_flush(struct store *s);
/* Forgets the pending batch (rollback). */
void store_index_discard(struct store *s);
void store_index_free(struct store_index *idx);

/* ---- schema 1 to 2 (store-migrate.c) ----
 * Migrates a version 1 file in place, in one transaction; describes what it did in s->note.
 * 0 or -errno (the file is then unchanged). */
int store_migrate_v1(struct store *s);
/* Version 1's own SQL for statement id, for a read-only store reading a version 1 file in
 * place (s->read_v1): the same columns, in the same order, as st_sql[id] gives on version
 * 2, read from version 1's tables; NULL for the statements both versions share. Constant. */
const char *store_v1_sql(enum st id);
/* Refuses schema version v (not 1, not STORE_SCHEMA_VERSION): s->errmsg says what the file
 * holds, what this gatelog reads and what to do. Returns -EPROTO. */
int store_schema_refuse(struct store *s, const char *v);
/* The batch size the migration indexes records in (as the writer's batches would). */
#define STORE_MIGRATE_BATCH 4096
