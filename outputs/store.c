/* The SQLite store: records, their criteria, epochs, the export outbox and a few meta facts.
 *
 * Load: one writer thread inserts records in batches of up to WRITER_COMMIT_MAX per
 * transaction (one prepared INSERT per STORE_REC_ROWS records, store-records.c, criteria in
 * a column; the batch's index rows at commit, store-index.c); readers (`gatelog
 * query`, `gatelog epochs`, the verifier) open the file read-only at the same time, which WAL
 * allows. Guarantees: every statement is prepared once, cached in the store and bound, so
 * no value ever becomes SQL text; a committed transaction survives power loss (WAL with
 * synchronous=FULL); every SQLite result code becomes a negative errno in store_rc() and its
 * message is kept for store_errmsg().
 *
 * Throughput (issue 12): schema 2 keeps no secondary index per row (see schema_sql); the
 * writer's connection has an 8 MiB page cache and does not
 * checkpoint; store_checkpoint_in_background gives it a thread with its own connection that
 * copies the WAL back into the database file beside the commits.
 *
 * Read-only limitation: SQLite readers of a WAL database need the -shm and -wal files. A
 * read-only open works while the daemon runs (they exist) or when the directory is writable
 * (SQLite creates them); a WAL database in a read-only directory without them cannot be read
 * (copy it, or run `sqlite3 FILE 'PRAGMA journal_mode=DELETE'` as its owner).
 *
 * Records live in store-records.c, their batch index and the queries in store-index.c,
 * epoch rows and the outbox in store-epochs.c, the schema 1 migration in store-migrate.c,
 * background checkpoints in store-ckpt.c; the statements of all of them are in the
 * one table below, so that every SQL text of the store can be read in one place. A store is
 * used by one thread at a time. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "outputs/store-internal.h"

/* issue 12: the writer's page cache. SQLite's default (2 MiB) made every batch re-read
 * index pages of schema 1's records_time and record_criteria (1.2 pread per record); 8 MiB
 * holds their right edges and the inner pages of a database of tens of millions of
 * records, while staying small beside the daemon's 64 MiB budget. Negative: KiB. */
#define STORE_CACHE_KIB 8192
/* The read-write connections' (the writer's and the exporter's) page cache. Schema 2 appends
 * at the right edges of a few B-trees (records by seq, batches, criteria_index, epochs), so
 * a batch touches a few dozen pages; a larger cache only means that each new page SQLite
 * zeroes and fills comes from memory that left the CPU's caches long ago. 1 MiB instead of
 * 8 MiB cut the storing thread's CPU per record by ~7 % (issue 12, docs/PERFORMANCE.md:
 * bench/store-insert and the daemon, paired) and keeps ~7 MiB out of the daemon's RSS. A
 * batch that dirties more than this (large records) spills pages to the WAL before its
 * commit: correct, only slower. 2 MiB since a commit holds up to WRITER_COMMIT_MAX (2,048)
 * records (~1.5 MB of pages): at 1 MiB those commits spilled mid-transaction (issue 12,
 * round 7, flow7: inserts ~0.2 CPU-µs per event dearer). */
#define STORE_WRITE_CACHE_KIB 2048
#define CACHE_KIB_STR_(x) #x
#define CACHE_KIB_STR(x) CACHE_KIB_STR_(x)
/* The WAL file is truncated back to this size when SQLite restarts it after a complete
 * checkpoint, so one burst does not leave a large file behind. */
#define STORE_WAL_LIMIT_BYTES 67108864 /* 64 MiB; a literal: it is pasted into the PRAGMA */
/* issue 12: the page size of new databases. A record of the benchmark mix is ~700 bytes:
 * with 4 KiB pages a batch of 1,024 is ~180 WAL frames, each written (and later copied back
 * by the checkpoint) with its own syscalls, and the B-tree splits every five rows. 16 KiB
 * pages make that a quarter of the frames and splits (measured with bench/store-insert,
 * docs/PERFORMANCE.md). SQLite applies it only to a file that has no page yet: existing
 * databases keep theirs, and nothing a reader sees depends on it. */
#define STORE_PAGE_SIZE 16384 /* a literal: it is pasted into the PRAGMA */

/* The rows of ST_REC_INSERT_N (8 values) and ST_REC_APPEND_N (7: no seq): STORE_REC_ROWS
 * of them. */
#define REC_ROWS4(r) r "," r "," r "," r
#define REC_ROWS16(r) REC_ROWS4(r) "," REC_ROWS4(r) "," REC_ROWS4(r) "," REC_ROWS4(r)
#define REC_ROW "(?,?,?,?,?,?,?,?)"
#define REC_AROW "(?,?,?,?,?,?,?)"
/* n rows and their n - 1 commas take n * sizeof(row) bytes with the NUL. */
_Static_assert(sizeof(REC_ROWS16(REC_ROW)) == STORE_REC_ROWS * sizeof(REC_ROW) &&
               sizeof(REC_ROWS16(REC_AROW)) == STORE_REC_ROWS * sizeof(REC_AROW),
               "ST_REC_INSERT_N and ST_REC_APPEND_N must have STORE_REC_ROWS rows");

/* Column lists shared by the SELECTs so that row readers agree on positions (REC_COLS:
 * store-internal.h). */
#define EPOCH_COLS "epoch, \"start\", \"end\", first_seq, count, sealed, stats, root, " \
                   "manifest, sig, sealed_at"

/* Schema version 2 (issue 12). No secondary index is maintained per row: records holds its
 * criteria as a column (space-separated ids, read by the restart's leaf walk and the
 * per-epoch counts), an epoch's records are found by seq range (epochs are contiguous in
 * seq), and queries by criterion or time go through index rows written once per committed
 * batch (store-index.c): `batches` (seq and time bounds of each batch) and `criteria_index`
 * (per criterion and batch, the seqs as varint deltas). criteria comes before data so that
 * reading it never walks a large record's overflow pages (a migrated file has it last).
 * Version 1 (records_epoch, records_time, record_criteria + record_criteria_seq) is
 * migrated in place by store-migrate.c, and read in place by read-only opens (its own SQL
 * for the four statements that read what version 2 added, store_v1_sql). */
static const char schema_sql[] =
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE records(seq INTEGER PRIMARY KEY, epoch INTEGER NOT NULL,"
        " received INTEGER NOT NULL, time INTEGER NOT NULL, host TEXT,"
        " leaf BLOB NOT NULL, criteria TEXT, data BLOB NOT NULL);"
        STORE_INDEX_SCHEMA_SQL
        "CREATE TABLE epochs(epoch INTEGER PRIMARY KEY, \"start\" INTEGER, \"end\" INTEGER,"
        " first_seq INTEGER, count INTEGER, sealed INTEGER, stats TEXT, root BLOB,"
        " manifest BLOB, sig BLOB, sealed_at INTEGER);"
        "CREATE TABLE outbox(output TEXT NOT NULL, epoch INTEGER NOT NULL, state TEXT NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, updated INTEGER,"
        " PRIMARY KEY(output, epoch));"
        "CREATE TABLE positions(source TEXT PRIMARY KEY, pos TEXT NOT NULL);"
        "INSERT INTO meta(key, value) VALUES('schema', '" STORE_SCHEMA_VERSION "');";

/* Hot statements get SQLITE_PREPARE_PERSISTENT (kept out of the lookaside allocator). */
static const struct {
        const char *sql;
        bool hot;
} st_sql[ST__MAX] = {
        [ST_BEGIN] = { "BEGIN IMMEDIATE", true },
        [ST_COMMIT] = { "COMMIT", true },
        [ST_ROLLBACK] = { "ROLLBACK", false },
        [ST_N_TABLES] = { "SELECT count(*) FROM sqlite_schema WHERE type = 'table'", false },
        [ST_HAS_META] = { "SELECT count(*) FROM sqlite_schema "
                          "WHERE type = 'table' AND name = 'meta'", false },
        [ST_META_GET] = { "SELECT value FROM meta WHERE key = ?1", false },
        [ST_META_SET] = { "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value", false },
        [ST_POS_GET] = { "SELECT pos FROM positions WHERE source = ?1", false },
        [ST_POS_SET] = { "INSERT INTO positions(source, pos) VALUES(?1, ?2) "
                         "ON CONFLICT(source) DO UPDATE SET pos = excluded.pos", true },
        [ST_POS_ALL] = { "SELECT source, pos FROM positions ORDER BY source", false },
        [ST_INTEGRITY] = { "PRAGMA integrity_check(20)", false },
        [ST_REC_INSERT] = { "INSERT INTO records(seq, epoch, received, time, host, leaf, "
                            "criteria, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", true },
        /* STORE_REC_ROWS rows at once (store_records_flush); 8 parameters per row. OR FAIL:
         * a statement that can abort after its first row needs a statement journal, which
         * copied every page the statement touched (~16,000 instructions per page, more than
         * the multi-row statement saves); a failing row is an error for the whole
         * transaction anyway, which its caller rolls back. */
        [ST_REC_INSERT_N] = { "INSERT OR FAIL INTO records(seq, epoch, received, time, host, leaf, "
                              "criteria, data) VALUES" REC_ROWS16(REC_ROW), true },
        /* The same rows without their seq (issue 12): SQLite gives each the table's highest
         * seq + 1, used only for rows whose seq is that (store-records.c checks the last
         * one's), so that each is appended where the cursor is instead of being sought from
         * the B-tree's root for the uniqueness check of an explicit key (~900 instructions
         * per row: SQLite forgets the cursor's key after an insert). */
        [ST_REC_APPEND] = { "INSERT INTO records(epoch, received, time, host, leaf, "
                            "criteria, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", true },
        [ST_REC_APPEND_N] = { "INSERT OR FAIL INTO records(epoch, received, time, host, leaf, "
                              "criteria, data) VALUES" REC_ROWS16(REC_AROW), true },
        /* Records by seq range (an epoch, a batch, everything); ?3 non-NULL also checks the
         * epoch column (an epoch without a row: a full scan). */
        [ST_REC_RANGE] = { "SELECT " REC_COLS " FROM records r WHERE r.seq >= ?1 "
                           "AND r.seq < ?2 AND (?3 IS NULL OR r.epoch = ?3) ORDER BY r.seq",
                           false },
        [ST_REC_GET] = { "SELECT " REC_COLS ", r.criteria FROM records r WHERE r.seq = ?1",
                         false },
        [ST_TAGS_RANGE] = { "SELECT r.seq, r.leaf, r.criteria FROM records r "
                            "WHERE r.seq >= ?1 AND r.seq < ?2 AND r.epoch = ?3 ORDER BY r.seq",
                            false },
        [ST_MAX_SEQ] = { "SELECT max(seq) FROM records", false },
        [ST_BATCH_PUT] = { "INSERT INTO batches(first_seq, last_seq, min_time, max_time) "
                           "VALUES(?1, ?2, ?3, ?4)", true },
        [ST_CIDX_PUT] = { "INSERT INTO criteria_index(criterion, first_seq, seqs) "
                          "VALUES(?1, ?2, ?3)", true },
        /* Batches whose time bounds meet [?1, ?2). */
        [ST_Q_BATCHES] = { "SELECT first_seq, last_seq FROM batches "
                           "WHERE min_time < ?2 AND max_time >= ?1 ORDER BY first_seq", false },
        /* One criterion's seq lists, of the batches whose time bounds meet [?2, ?3). */
        [ST_Q_CIDX] = { "SELECT c.first_seq, c.seqs FROM criteria_index c "
                        "JOIN batches b ON b.first_seq = c.first_seq WHERE c.criterion = ?1 "
                        "AND b.min_time < ?3 AND b.max_time >= ?2 ORDER BY c.first_seq", false },
        [ST_SEALED] = { "SELECT epoch FROM epochs WHERE sealed ORDER BY epoch", false },
        [ST_EPOCH_PUT] = { "INSERT OR REPLACE INTO epochs(" EPOCH_COLS ") "
                           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", false },
        [ST_EPOCH_GET] = { "SELECT " EPOCH_COLS " FROM epochs WHERE epoch = ?1", false },
        [ST_EPOCH_LAST] = { "SELECT " EPOCH_COLS " FROM epochs ORDER BY epoch DESC LIMIT 1",
                            false },
        [ST_EPOCH_ALL] = { "SELECT " EPOCH_COLS " FROM epochs ORDER BY epoch", false },
        /* The seq range of an epoch (store_epoch_range). */
        [ST_EPOCH_RANGE] = { "SELECT (SELECT first_seq FROM epochs WHERE epoch = ?1), "
                             "(SELECT first_seq FROM epochs WHERE epoch > ?1 "
                             "ORDER BY epoch LIMIT 1), "
                             "EXISTS(SELECT 1 FROM epochs WHERE epoch < ?1)", false },
        [ST_OUT_ADD] = { "INSERT INTO outbox(output, epoch, state, attempts, updated) "
                         "VALUES(?1, ?2, 'pending', 0, ?3) ON CONFLICT(output, epoch) "
                         "DO UPDATE SET state = 'pending', updated = excluded.updated", false },
        [ST_OUT_PENDING] = { "SELECT epoch FROM outbox WHERE output = ?1 AND state = 'pending' "
                             "ORDER BY epoch", false },
        [ST_OUT_DONE] = { "UPDATE outbox SET state = 'done', last_error = NULL, updated = ?3 "
                          "WHERE output = ?1 AND epoch = ?2", false },
        [ST_OUT_FAILED] = { "UPDATE outbox SET attempts = attempts + 1, last_error = ?3, "
                            "updated = ?4 WHERE output = ?1 AND epoch = ?2", false },
        [ST_OUT_BACKLOG] = { "SELECT count(*) FROM outbox WHERE output = ?1 "
                             "AND state = 'pending'", false },
        [ST_OUT_ALL] = { "SELECT output, sum(state = 'pending') FROM outbox GROUP BY output "
                         "ORDER BY output", false },
        /* Trusted time (issue 10): RFC 3161 tokens per sealed epoch. The table is created on
         * every read-write open, so that databases made before it still open. */
        [ST_TS_CREATE] = { "CREATE TABLE IF NOT EXISTS timestamps("
                           "epoch INTEGER PRIMARY KEY, token BLOB NOT NULL)", false },
        [ST_TS_PUT] = { "INSERT OR REPLACE INTO timestamps(epoch, token) VALUES(?1, ?2)",
                        false },
        [ST_TS_GET] = { "SELECT token FROM timestamps WHERE epoch = ?1", false },
};

/* The one place where SQLite result codes become errno values. */
int store_rc(struct store *s, int rc)
{
        const char *m = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

        snprintf(s->errmsg, sizeof(s->errmsg), "%s", m ? m : sqlite3_errstr(rc));
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        default:
                return -EIO;
        }
}

/* Returns the cached statement, reset and unbound, or NULL (s->errmsg set, *rc the errno). */
sqlite3_stmt *store_st(struct store *s, enum st id, int *ret_rc)
{
        /* Records pending a multi-row INSERT are written before any other statement runs,
         * so that what this connection reads or commits sees them (store-records.c). */
        if (s->pend.n && id != ST_REC_INSERT && id != ST_REC_INSERT_N && id != ST_REC_APPEND &&
            id != ST_REC_APPEND_N) {
                int r = store_records_flush(s);
                if (r < 0) {
                        *ret_rc = r;
                        return NULL;
                }
        }
        if (!s->st[id]) {
                unsigned flags = st_sql[id].hot ? SQLITE_PREPARE_PERSISTENT : 0;
                const char *v1 = s->read_v1 ? store_v1_sql(id) : NULL;
                int rc = sqlite3_prepare_v3(s->db, v1 ? v1 : st_sql[id].sql, -1, flags,
                                            &s->st[id], NULL);
                if (rc != SQLITE_OK) {
                        *ret_rc = store_rc(s, rc);
                        return NULL;
                }
        }
        return s->st[id];
}

/* Resets a statement after use so that it holds no read transaction or borrowed pointers. */
void store_st_done(sqlite3_stmt *st)
{
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
}

/* Steps a statement that returns no rows, then resets it. */
int store_st_exec(struct store *s, sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);
        int r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_rc(s, rc);

        store_st_done(st);
        return r;
}

int store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
        return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* A blob column copied into malloc'd memory with a NUL after it (so text blobs are strings). */
int store_col_dup(sqlite3_stmt *st, int i, char **ret, size_t *ret_len)
{
        const void *p = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        char *c;

        if (!p) {
                *ret = NULL;
                if (ret_len)
                        *ret_len = 0;
                return 0;
        }
        c = malloc(n + 1);
        if (!c)
                return -ENOMEM;
        memcpy(c, p, n);
        c[n] = '\0';
        *ret = c;
        if (ret_len)
                *ret_len = n;
        return 0;
}

/* Copies a fixed-size blob column; a missing or wrongly sized one leaves zeros. */
void store_col_fixed(sqlite3_stmt *st, int i, uint8_t *out, size_t n)
{
        const void *p = sqlite3_column_blob(st, i);

        memset(out, 0, n);
        if (p && (size_t)sqlite3_column_bytes(st, i) == n)
                memcpy(out, p, n);
}

/* Runs a one-row, one-integer SELECT. */
int store_count_one(struct store *s, sqlite3_stmt *st, int64_t *ret)
{
        int rc = sqlite3_step(st), r = 0;
        int64_t v = 0;

        if (rc == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        else
                r = store_rc(s, rc);
        store_st_done(st);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

/* The step loop of every multi-row SELECT of the store. */
int store_st_rows(struct store *s, sqlite3_stmt *st, int (*row_cb)(void *ud, sqlite3_stmt *st),
                  void *ud)
{
        int rc, r = 0;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = row_cb(ud, st);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_rc(s, rc);
        store_st_done(st);
        return r < 0 ? r : 0;
}

/* ---- open and close ---- */

/* Checks that the file is ours and of a schema version this gatelog reads; *ret_v1 (when not
 * NULL) is set for a version 1 file, so that a read-write open can migrate it; a read-only
 * open (ret_v1 NULL) reads a version 1 file in place; a newer version is refused. */
static int open_check_schema(struct store *s, bool *ret_v1)
{
        sqlite3_stmt *st;
        int64_t has_meta = 0;
        char *v = NULL;
        int r = 0;

        st = store_st(s, ST_HAS_META, &r);
        if (!st || (r = store_count_one(s, st, &has_meta)) < 0)
                return r;
        if (has_meta)
                r = store_meta_get(s, "schema", &v);
        if (!has_meta || r == -ENOENT) {
                snprintf(s->errmsg, sizeof(s->errmsg), "not a gatelog database (no schema)");
                return -EPROTO;
        }
        if (r < 0)
                return r;
        if (ret_v1 && strcmp(v, "1") == 0)
                *ret_v1 = true;
        else if (strcmp(v, "1") == 0)
                s->read_v1 = true;  /* read in place, never written (store-migrate.c) */
        else if (strcmp(v, STORE_SCHEMA_VERSION) != 0)
                r = store_schema_refuse(s, v);
        free(v);
        return r;
}

/* Creates the schema in a fresh file; a file that has tables must already be ours. */
static int open_init_schema(struct store *s)
{
        sqlite3_stmt *st;
        int64_t n_tables = 0;
        int r = 0, rc;

        r = store_begin(s);
        if (r < 0)
                return r;
        st = store_st(s, ST_N_TABLES, &r);
        if (!st || (r = store_count_one(s, st, &n_tables)) < 0)
                goto fail;
        if (n_tables == 0) {
                /* Constant DDL, no values: sqlite3_exec is the prepared loop over it. */
                rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
                if (rc != SQLITE_OK) {
                        r = store_rc(s, rc);
                        goto fail;
                }
        }
        r = store_commit(s);
        if (r < 0)
                goto fail;
        bool v1 = false;
        r = open_check_schema(s, &v1);
        if (r >= 0 && v1) {
                /* The migration rewrites the whole file in one transaction: it keeps the
                 * cache it was measured with, the appends after it the small one. */
                rc = sqlite3_exec(s->db, "PRAGMA cache_size = -" CACHE_KIB_STR(STORE_CACHE_KIB),
                                  NULL, NULL, NULL);
                r = rc == SQLITE_OK ? store_migrate_v1(s) : store_rc(s, rc);
                rc = sqlite3_exec(s->db, "PRAGMA cache_size = -"
                                  CACHE_KIB_STR(STORE_WRITE_CACHE_KIB), NULL, NULL, NULL);
                if (r >= 0 && rc != SQLITE_OK)
                        r = store_rc(s, rc);
        }
        if (r >= 0) {  /* issue 10: tables added since schema 1, only in our own databases */
                st = store_st(s, ST_TS_CREATE, &r);
                if (st)
                        r = store_st_exec(s, st);
        }
        return r;
fail:
        store_rollback(s);
        return r;
}

static int open_pragmas(struct store *s, enum store_mode mode)
{
        /* Constant text, no values. journal_mode returns a row, which exec ignores. */
#define STR_(x) #x
#define STR(x) STR_(x)
        /* Read-only (verify, query, report): map the file (up to 1 GiB) so a full scan is
         * not one 4 KiB pread per page, and give the reader the writer's cache (issue 12). */
        const char *sql = mode == STORE_READONLY ? "PRAGMA query_only = 1;"
                                                   "PRAGMA mmap_size = 1073741824;"
                                                   "PRAGMA cache_size = -" STR(STORE_CACHE_KIB) ";"
                                                 : "PRAGMA page_size = " STR(STORE_PAGE_SIZE) ";"
                                                   "PRAGMA journal_mode = WAL;"
                                                   "PRAGMA synchronous = FULL;"
                                                   "PRAGMA cache_size = -" STR(STORE_WRITE_CACHE_KIB) ";"
                                                   "PRAGMA journal_size_limit = "
                                                   STR(STORE_WAL_LIMIT_BYTES) ";";
#undef STR
#undef STR_
        int rc = sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

        if (rc == SQLITE_OK)
                rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : store_rc(s, rc);
}

/* Process-wide SQLite settings made before its first use (issue 12). */
static void sqlite_setup(void)
{
        /* issue 12: SQLite's allocation statistics take a global mutex around every
         * sqlite3_malloc and free (this build has no lookaside, so that is several per row);
         * nothing here reads them. Only possible before SQLite initialises: later calls answer
         * SQLITE_MISUSE and change nothing, and the first store_open runs before the daemon
         * starts its threads. */
        (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_open(const char *path, enum store_mode mode, struct store **ret,
               struct store_error *err)
{
        struct store *s;
        struct stat stt;
        int flags, rc, r;

        if (mode == STORE_READONLY && stat(path, &stt) < 0) {
                r = -errno;
                if (err)
                        snprintf(err->msg, sizeof(err->msg), "%.180s: %s", path, strerror(-r));
                return r;
        }
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->readonly = mode == STORE_READONLY;
        sqlite_setup();
        /* NOMUTEX: a store is used by one thread at a time (see store-internal.h), so the
         * connection's own mutex, taken by every bind, step and reset, guards nothing
         * (issue 12: with the allocator's below, ~0.4 CPU-µs per stored record). */
        flags = (s->readonly ? SQLITE_OPEN_READONLY
                             : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX;
        rc = sqlite3_open_v2(path, &s->db, flags, NULL);
        if (rc != SQLITE_OK) {
                r = store_rc(s, rc);
                goto fail;
        }
        sqlite3_extended_result_codes(s->db, 1);
        r = open_pragmas(s, mode);
        if (r >= 0)
                r = s->readonly ? open_check_schema(s, NULL) : open_init_schema(s);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        if (err)
                snprintf(err->msg, sizeof(err->msg), "%.120s: %.130s", path, s->errmsg);
        store_close(s);
        return r;
}

void store_close(struct store *s)
{
        if (!s)
                return;
        store_ckpt_stop(s);
        store_index_free(s->idx);
        store_records_free(s);
        for (size_t i = 0; i < ST__MAX; i++)
                sqlite3_finalize(s->st[i]);
        sqlite3_close(s->db);
        free(s);
}

const char *store_errmsg(struct store *s)
{
        return s ? s->errmsg : "no store";
}

const char *store_open_note(struct store *s)
{
        return s && s->note[0] ? s->note : NULL;
}

static int st_run(struct store *s, enum st id)
{
        int r = 0;
        sqlite3_stmt *st = store_st(s, id, &r);

        return st ? store_st_exec(s, st) : r;
}

int store_begin(struct store *s)
{
        s->pend.max_known = false;  /* read again in the new transaction */
        return st_run(s, ST_BEGIN);
}

/* The batch's index rows go into the transaction they describe, right before COMMIT. */
int store_commit(struct store *s)
{
        int r = store_records_flush(s);

        if (r >= 0)
                r = store_index_flush(s);

        return r < 0 ? r : st_run(s, ST_COMMIT);
}

int store_rollback(struct store *s)
{
        store_records_discard(s);
        store_index_discard(s);
        /* Rolling back with no transaction open is not an error for callers' cleanup paths. */
        if (sqlite3_get_autocommit(s->db))
                return 0;
        return st_run(s, ST_ROLLBACK);
}

/* ---- meta ---- */

/* A one-text-column lookup by key (meta, positions): *ret malloc'd, -ENOENT when absent. */
static int store_kv_get(struct store *s, enum st id, const char *key, char **ret)
{
        sqlite3_stmt *st;
        char *v = NULL;
        int r = 0, rc;

        st = store_st(s, id, &r);
        if (!st)
                return r;
        store_bind_text(st, 1, key);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                r = store_col_dup(st, 0, &v, NULL);
                if (r >= 0 && !v)
                        r = -ENOENT;
        } else {
                r = rc == SQLITE_DONE ? -ENOENT : store_rc(s, rc);
        }
        store_st_done(st);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

static int store_kv_set(struct store *s, enum st id, const char *key, const char *value)
{
        int r = 0;
        sqlite3_stmt *st = store_st(s, id, &r);

        if (!st)
                return r;
        store_bind_text(st, 1, key);
        store_bind_text(st, 2, value);
        return store_st_exec(s, st);
}

int store_meta_get(struct store *s, const char *key, char **ret)
{
        return store_kv_get(s, ST_META_GET, key, ret);
}

int store_meta_set(struct store *s, const char *key, const char *value)
{
        return store_kv_set(s, ST_META_SET, key, value);
}

/* ---- integrity ---- */

struct integrity_walk {
        int (*cb)(void *ud, const char *problem);
        void *ud;
};

static int integrity_row(void *ud, sqlite3_stmt *st)
{
        struct integrity_walk *w = ud;
        const char *m = (const char *)sqlite3_column_text(st, 0);

        return m && strcmp(m, "ok") != 0 ? w->cb(w->ud, m) : 0;
}

int store_integrity_check(struct store *s, int (*cb)(void *ud, const char *problem), void *ud)
{
        struct integrity_walk w = { cb, ud };
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_INTEGRITY, &r);

        return st ? store_st_rows(s, st, integrity_row, &w) : r;
}

/* ---- positions of resumable sources ---- */

int store_position_get(struct store *s, const char *source, char **ret)
{
        return store_kv_get(s, ST_POS_GET, source, ret);
}

int store_position_set(struct store *s, const char *source, const char *pos)
{
        return store_kv_set(s, ST_POS_SET, source, pos);
}

struct positions_walk {
        int (*cb)(void *ud, const char *source, const char *pos);
        void *ud;
};

static int positions_row(void *ud, sqlite3_stmt *st)
{
        struct positions_walk *w = ud;

        return w->cb(w->ud, (const char *)sqlite3_column_text(st, 0),
                     (const char *)sqlite3_column_text(st, 1));
}

int store_positions_foreach(struct store *s,
                            int (*cb)(void *ud, const char *source, const char *pos), void *ud)
{
        struct positions_walk w = { cb, ud };
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_POS_ALL, &r);

        return st ? store_st_rows(s, st, positions_row, &w) : r;
}

/* ---- trusted time (issue 10) ---- */

int store_timestamp_put(struct store *s, int64_t epoch, const uint8_t *token, size_t len)
{
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_TS_PUT, &r);

        if (!st)
                return r;
        if (len > INT_MAX)
                return -E2BIG;
        sqlite3_bind_int64(st, 1, epoch);
        sqlite3_bind_blob(st, 2, len ? (const void *)token : "", (int)len, SQLITE_STATIC);
        return store_st_exec(s, st);
}

int store_timestamp_get(struct store *s, int64_t epoch, uint8_t **ret, size_t *ret_len)
{
        int r = 0, rc;
        char *v = NULL;
        size_t n = 0;
        sqlite3_stmt *st = store_st(s, ST_TS_GET, &r);

        if (!st)
                return r;
        sqlite3_bind_int64(st, 1, epoch);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                r = store_col_dup(st, 0, &v, &n);
                if (r >= 0 && !v)
                        r = -ENOENT;
        } else {
                r = rc == SQLITE_DONE ? -ENOENT : store_rc(s, rc);
        }
        store_st_done(st);
        if (r < 0)
                return r;
        *ret = (uint8_t *)v;
        *ret_len = n;
        return 0;
}
