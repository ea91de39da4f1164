/* The SQLite store: records, their criteria, epochs, the export outbox and a few meta facts.
 *
 * Load: one writer thread inserts records in batches of up to WRITER_BATCH_MAX per
 * transaction (one prepared INSERT per record and one per criterion tag); readers (`gatelog
 * query`, `gatelog epochs`, the verifier) open the file read-only at the same time, which WAL
 * allows. Guarantees: every statement is prepared once, cached in the store and bound, so
 * no value ever becomes SQL text; a committed transaction survives power loss (WAL with
 * synchronous=FULL); every SQLite result code becomes a negative errno in store_rc() and its
 * message is kept for store_errmsg().
 *
 * Throughput (issue 12): the writer's connection has an 8 MiB page cache and does not
 * checkpoint; store_checkpoint_in_background gives it a thread with its own connection that
 * copies the WAL back into the database file beside the commits.
 *
 * Read-only limitation: SQLite readers of a WAL database need the -shm and -wal files. A
 * read-only open works while the daemon runs (they exist) or when the directory is writable
 * (SQLite creates them); a WAL database in a read-only directory without them cannot be read
 * (copy it, or run `sqlite3 FILE 'PRAGMA journal_mode=DELETE'` as its owner).
 *
 * Epoch rows and the outbox live in store-epochs.c; the statements of both files are in the
 * one table below, so that every SQL text of the store can be read in one place. A store is
 * used by one thread at a time. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "outputs/store-internal.h"

#define STORE_SCHEMA_VERSION "1"
#define STORE_BUSY_TIMEOUT_MS 5000
/* issue 12: the writer's page cache. SQLite's default (2 MiB) made every batch re-read
 * index pages of records_time and record_criteria (1.2 pread per record measured); 8 MiB
 * holds their right edges and the inner pages of a database of tens of millions of
 * records, while staying small beside the daemon's 64 MiB budget. Negative: KiB. */
#define STORE_CACHE_KIB 8192
/* A background checkpoint starts when a commit leaves this many pages in the WAL (SQLite's
 * own autocheckpoint default is 1000): 4 MiB of 4 KiB pages, a few batches. */
#define STORE_CKPT_PAGES 1000
/* A background checkpoint races the next commits: under sustained load it may never catch
 * the WAL's end, and SQLite restarts the WAL only after a complete one (measured: the WAL
 * reached 200 MB in 30 s at full speed). Past this many pages the committing thread runs one
 * PASSIVE checkpoint itself, right after its commit: most pages are already copied, and no
 * commit can come between, so it completes and the next transaction restarts the WAL. */
#define STORE_CKPT_INLINE_PAGES 16000
/* The WAL file is truncated back to this size when SQLite restarts it after a complete
 * checkpoint, so one burst does not leave a large file behind. */
#define STORE_WAL_LIMIT_BYTES 67108864 /* 64 MiB; a literal: it is pasted into the PRAGMA */

/* Column lists shared by the SELECTs so that row readers agree on positions. */
#define REC_COLS "r.seq, r.epoch, r.received, r.time, r.host, r.leaf, r.data"
#define EPOCH_COLS "epoch, \"start\", \"end\", first_seq, count, sealed, stats, root, " \
                   "manifest, sig, sealed_at"
#define SEALED_ONLY "(?4 OR r.epoch IN (SELECT epoch FROM epochs WHERE sealed))"

/* Schema version 1. record_criteria's key starts with the criterion (queries by criterion
 * walk it in seq order); record_criteria_seq serves "the criteria of these seqs" (leaves of
 * the open epoch, per-criterion counts of an epoch), which would otherwise scan every tag
 * ever stored. */
static const char schema_sql[] =
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE records(seq INTEGER PRIMARY KEY, epoch INTEGER NOT NULL,"
        " received INTEGER NOT NULL, time INTEGER NOT NULL, host TEXT,"
        " leaf BLOB NOT NULL, data BLOB NOT NULL);"
        "CREATE INDEX records_epoch ON records(epoch);"
        "CREATE INDEX records_time ON records(time);"
        "CREATE TABLE record_criteria(criterion TEXT NOT NULL, seq INTEGER NOT NULL,"
        " PRIMARY KEY(criterion, seq)) WITHOUT ROWID;"
        "CREATE INDEX record_criteria_seq ON record_criteria(seq);"
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
        [ST_REC_INSERT] = { "INSERT INTO records(seq, epoch, received, time, host, leaf, data) "
                            "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", true },
        [ST_CRIT_INSERT] = { "INSERT INTO record_criteria(criterion, seq) VALUES(?1, ?2)",
                             true },
        [ST_REC_EPOCH] = { "SELECT " REC_COLS " FROM records r WHERE r.epoch = ?1 "
                           "ORDER BY r.seq", false },
        [ST_REC_LEAVES] = { "SELECT r.seq, r.leaf, c.criterion FROM records r "
                            "LEFT JOIN record_criteria c ON c.seq = r.seq "
                            "WHERE r.epoch = ?1 ORDER BY r.seq", false },
        [ST_MAX_SEQ] = { "SELECT max(seq) FROM records", false },
        /* Three fixed query shapes: walk by seq (the unary + keeps the time index out),
         * walk the time index for a bounded time range, walk one criterion's tags. */
        [ST_Q_SEQ] = { "SELECT " REC_COLS " FROM records r "
                       "WHERE (?1 IS NULL OR r.host = ?1) AND +r.time >= ?2 AND +r.time < ?3 "
                       "AND " SEALED_ONLY " ORDER BY r.seq", false },
        [ST_Q_TIME] = { "SELECT " REC_COLS " FROM records r "
                        "WHERE (?1 IS NULL OR r.host = ?1) AND r.time >= ?2 AND r.time < ?3 "
                        "AND " SEALED_ONLY " ORDER BY r.seq", false },
        [ST_Q_CRIT] = { "SELECT " REC_COLS " FROM record_criteria c "
                        "JOIN records r ON r.seq = c.seq WHERE c.criterion = ?5 "
                        "AND (?1 IS NULL OR r.host = ?1) AND +r.time >= ?2 AND +r.time < ?3 "
                        "AND " SEALED_ONLY " ORDER BY c.seq", false },
        [ST_EPOCH_PUT] = { "INSERT OR REPLACE INTO epochs(" EPOCH_COLS ") "
                           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", false },
        [ST_EPOCH_GET] = { "SELECT " EPOCH_COLS " FROM epochs WHERE epoch = ?1", false },
        [ST_EPOCH_LAST] = { "SELECT " EPOCH_COLS " FROM epochs ORDER BY epoch DESC LIMIT 1",
                            false },
        [ST_EPOCH_ALL] = { "SELECT " EPOCH_COLS " FROM epochs ORDER BY epoch", false },
        [ST_EPOCH_CRIT] = { "SELECT c.criterion, count(*) FROM records r "
                            "JOIN record_criteria c ON c.seq = r.seq WHERE r.epoch = ?1 "
                            "GROUP BY c.criterion ORDER BY c.criterion", false },
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
        if (!s->st[id]) {
                unsigned flags = st_sql[id].hot ? SQLITE_PREPARE_PERSISTENT : 0;
                int rc = sqlite3_prepare_v3(s->db, st_sql[id].sql, -1, flags, &s->st[id],
                                            NULL);
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

/* ---- open and close ---- */

static int open_check_schema(struct store *s)
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
        if (strcmp(v, STORE_SCHEMA_VERSION) != 0) {
                snprintf(s->errmsg, sizeof(s->errmsg),
                         "database schema version %.32s, this gatelog reads version "
                         STORE_SCHEMA_VERSION, v);
                r = -EPROTO;
        }
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
        r = open_check_schema(s);
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
                                                 : "PRAGMA journal_mode = WAL;"
                                                   "PRAGMA synchronous = FULL;"
                                                   "PRAGMA cache_size = -" STR(STORE_CACHE_KIB) ";"
                                                   "PRAGMA journal_size_limit = "
                                                   STR(STORE_WAL_LIMIT_BYTES) ";";
#undef STR
#undef STR_
        int rc = sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

        if (rc == SQLITE_OK)
                rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : store_rc(s, rc);
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
        flags = s->readonly ? SQLITE_OPEN_READONLY
                            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
        rc = sqlite3_open_v2(path, &s->db, flags, NULL);
        if (rc != SQLITE_OK) {
                r = store_rc(s, rc);
                goto fail;
        }
        sqlite3_extended_result_codes(s->db, 1);
        r = open_pragmas(s, mode);
        if (r >= 0)
                r = s->readonly ? open_check_schema(s) : open_init_schema(s);
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

static void ckpt_stop(struct store *s);

void store_close(struct store *s)
{
        if (!s)
                return;
        ckpt_stop(s);
        for (size_t i = 0; i < ST__MAX; i++)
                sqlite3_finalize(s->st[i]);
        sqlite3_close(s->db);
        free(s);
}

const char *store_errmsg(struct store *s)
{
        return s ? s->errmsg : "no store";
}

/* ---- background checkpoints (issue 12) ---- */

struct store_ckpt {
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool due, stop;
        sqlite3 *db;             /* the checkpointer's own connection */
};

/* Runs on the committing thread after each commit: signals the checkpointer, or checkpoints
 * itself when the WAL grew past STORE_CKPT_INLINE_PAGES. Returning SQLITE_OK keeps the
 * commit's result as it is. */
static int ckpt_wal_hook(void *ud, sqlite3 *db, const char *name, int pages)
{
        struct store_ckpt *c = ud;

        if (pages >= STORE_CKPT_INLINE_PAGES) {
                /* SQLite's own autocheckpoint does the same from this hook. BUSY (the
                 * background one is running) is fine: the next commit tries again. */
                (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
                return SQLITE_OK;
        }
        if (pages >= STORE_CKPT_PAGES) {
                pthread_mutex_lock(&c->mu);
                c->due = true;
                pthread_cond_signal(&c->cv);
                pthread_mutex_unlock(&c->mu);
        }
        return SQLITE_OK;
}

static void *ckpt_thread(void *ud)
{
        struct store_ckpt *c = ud;

        pthread_mutex_lock(&c->mu);
        for (;;) {
                while (!c->due && !c->stop)
                        pthread_cond_wait(&c->cv, &c->mu);
                bool last = c->stop;
                c->due = false;
                pthread_mutex_unlock(&c->mu);
                /* PASSIVE: copies what no reader still needs and never blocks the writer.
                 * A busy or failed checkpoint is retried at the next commit's signal; the
                 * WAL only grows meanwhile, nothing is lost. */
                (void)sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE,
                                                NULL, NULL);
                pthread_mutex_lock(&c->mu);
                if (last)
                        break;
        }
        pthread_mutex_unlock(&c->mu);
        return NULL;
}

int store_checkpoint_in_background(struct store *s)
{
        const char *path = sqlite3_db_filename(s->db, "main");
        struct store_ckpt *c;
        int rc, r;

        if (s->readonly || s->ckpt || !path || !path[0])
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_busy_timeout(c->db, STORE_BUSY_TIMEOUT_MS);
        /* FULL: the checkpoint syncs the WAL before copying and the database after. */
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(c->db, "PRAGMA synchronous = FULL; PRAGMA cache_size = -256;",
                                  NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                snprintf(s->errmsg, sizeof(s->errmsg), "checkpointer: %s",
                         c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
                sqlite3_close(c->db);
                free(c);
                return -EIO;
        }
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        r = -pthread_create(&c->thread, NULL, ckpt_thread, c);
        if (r < 0) {
                pthread_cond_destroy(&c->cv);
                pthread_mutex_destroy(&c->mu);
                sqlite3_close(c->db);
                free(c);
                return r;
        }
        /* Replaces SQLite's autocheckpoint hook: this connection no longer checkpoints. */
        sqlite3_wal_hook(s->db, ckpt_wal_hook, c);
        s->ckpt = c;
        return 0;
}

static void ckpt_stop(struct store *s)
{
        struct store_ckpt *c = s->ckpt;

        if (!c)
                return;
        sqlite3_wal_hook(s->db, NULL, NULL);
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        sqlite3_close(c->db);
        free(c);
        s->ckpt = NULL;
}

static int st_run(struct store *s, enum st id)
{
        int r = 0;
        sqlite3_stmt *st = store_st(s, id, &r);

        return st ? store_st_exec(s, st) : r;
}

int store_begin(struct store *s)
{
        return st_run(s, ST_BEGIN);
}

int store_commit(struct store *s)
{
        return st_run(s, ST_COMMIT);
}

int store_rollback(struct store *s)
{
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

int store_integrity_check(struct store *s, int (*cb)(void *ud, const char *problem), void *ud)
{
        int r = 0, rc;
        sqlite3_stmt *st = store_st(s, ST_INTEGRITY, &r);

        if (!st)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *m = (const char *)sqlite3_column_text(st, 0);
                if (m && strcmp(m, "ok") != 0 && (r = cb(ud, m)) < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_rc(s, rc);
        store_st_done(st);
        return r < 0 ? r : 0;
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

int store_positions_foreach(struct store *s,
                            int (*cb)(void *ud, const char *source, const char *pos), void *ud)
{
        int r = 0, rc;
        sqlite3_stmt *st = store_st(s, ST_POS_ALL, &r);

        if (!st)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb(ud, (const char *)sqlite3_column_text(st, 0),
                       (const char *)sqlite3_column_text(st, 1));
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_rc(s, rc);
        store_st_done(st);
        return r < 0 ? r : 0;
}

/* ---- records ---- */

int store_record_insert(struct store *s, const struct store_record *r)
{
        sqlite3_stmt *st;
        int ret = 0;

        st = store_st(s, ST_REC_INSERT, &ret);
        if (!st)
                return ret;
        sqlite3_bind_int64(st, 1, r->seq);
        sqlite3_bind_int64(st, 2, r->epoch);
        sqlite3_bind_int64(st, 3, r->received_us);
        sqlite3_bind_int64(st, 4, r->time_us);
        store_bind_text(st, 5, r->host);
        sqlite3_bind_blob(st, 6, r->leaf, HASH_LEN, SQLITE_STATIC);
        /* A zero-length blob must still be non-NULL: the column is NOT NULL. */
        sqlite3_bind_blob64(st, 7, r->data ? r->data : "", r->len, SQLITE_STATIC);
        ret = store_st_exec(s, st);
        if (ret < 0 || r->n_criteria == 0)
                return ret;
        st = store_st(s, ST_CRIT_INSERT, &ret);
        if (!st)
                return ret;
        for (size_t i = 0; i < r->n_criteria && ret >= 0; i++) {
                store_bind_text(st, 1, r->criteria[i]);
                sqlite3_bind_int64(st, 2, r->seq);
                ret = store_st_exec(s, st);
        }
        return ret;
}

static void row_record(sqlite3_stmt *st, struct store_record *r)
{
        *r = (struct store_record){
                .seq = sqlite3_column_int64(st, 0),
                .epoch = sqlite3_column_int64(st, 1),
                .received_us = sqlite3_column_int64(st, 2),
                .time_us = sqlite3_column_int64(st, 3),
                .host = (const char *)sqlite3_column_text(st, 4),
        };
        store_col_fixed(st, 5, r->leaf, HASH_LEN);
        r->data = sqlite3_column_blob(st, 6);
        r->len = (size_t)sqlite3_column_bytes(st, 6);
        if (!r->data)
                r->data = "";
}

/* Steps a bound record SELECT, calling cb per row; resets the statement on every way out. */
static int records_walk(struct store *s, sqlite3_stmt *st,
                        int (*cb)(void *ud, const struct store_record *r), void *ud)
{
        struct store_record rec;
        int rc, r = 0;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                row_record(st, &rec);
                r = cb(ud, &rec);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_rc(s, rc);
        store_st_done(st);
        return r < 0 ? r : 0;
}

int store_records_foreach(struct store *s, int64_t epoch,
                          int (*cb)(void *ud, const struct store_record *r), void *ud)
{
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_REC_EPOCH, &r);

        if (!st)
                return r;
        sqlite3_bind_int64(st, 1, epoch);
        return records_walk(s, st, cb, ud);
}

/* Criteria of one record gathered from the joined rows; the ids are copies because the row
 * pointers die at the next step. */
struct leaf_acc {
        int64_t seq;
        uint8_t leaf[HASH_LEN];
        char **ids;
        size_t n, alloc;
};

static void leaf_acc_reset(struct leaf_acc *a)
{
        for (size_t i = 0; i < a->n; i++)
                free(a->ids[i]);
        a->n = 0;
}

static int leaf_acc_add(struct leaf_acc *a, const char *id)
{
        if (a->n == a->alloc) {
                size_t na = a->alloc ? a->alloc * 2 : 8;
                char **p = realloc(a->ids, na * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                a->ids = p;
                a->alloc = na;
        }
        a->ids[a->n] = strdup(id);
        if (!a->ids[a->n])
                return -ENOMEM;
        a->n++;
        return 0;
}

int store_records_leaves(struct store *s, int64_t epoch,
                         int (*cb)(void *ud, int64_t seq, const uint8_t leaf[HASH_LEN],
                                   const char *const *criteria, size_t n_criteria),
                         void *ud)
{
        struct leaf_acc a = { .seq = -1 };
        sqlite3_stmt *st;
        int rc, r = 0;

        st = store_st(s, ST_REC_LEAVES, &r);
        if (!st)
                return r;
        sqlite3_bind_int64(st, 1, epoch);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int64_t seq = sqlite3_column_int64(st, 0);
                const char *id = (const char *)sqlite3_column_text(st, 2);

                if (seq != a.seq && a.seq >= 0) {
                        r = cb(ud, a.seq, a.leaf, (const char *const *)a.ids, a.n);
                        leaf_acc_reset(&a);
                        if (r < 0)
                                break;
                }
                if (seq != a.seq) {
                        a.seq = seq;
                        store_col_fixed(st, 1, a.leaf, HASH_LEN);
                }
                if (id && (r = leaf_acc_add(&a, id)) < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_rc(s, rc);
        store_st_done(st);
        if (r >= 0 && a.seq >= 0)
                r = cb(ud, a.seq, a.leaf, (const char *const *)a.ids, a.n);
        leaf_acc_reset(&a);
        free(a.ids);
        return r < 0 ? r : 0;
}

int store_records_max_seq(struct store *s, int64_t *ret)
{
        sqlite3_stmt *st;
        int64_t v = -1;
        int r = 0, rc;

        st = store_st(s, ST_MAX_SEQ, &r);
        if (!st)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                if (sqlite3_column_type(st, 0) != SQLITE_NULL)
                        v = sqlite3_column_int64(st, 0);
        } else {
                r = store_rc(s, rc);
        }
        store_st_done(st);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int store_query(struct store *s, const struct store_query *q,
                int (*cb)(void *ud, const struct store_record *r), void *ud)
{
        enum st id = q->criterion ? ST_Q_CRIT
                   : q->since_us != INT64_MIN || q->until_us != INT64_MAX ? ST_Q_TIME
                   : ST_Q_SEQ;
        sqlite3_stmt *st;
        int r = 0;

        st = store_st(s, id, &r);
        if (!st)
                return r;
        store_bind_text(st, 1, q->host);
        sqlite3_bind_int64(st, 2, q->since_us);
        sqlite3_bind_int64(st, 3, q->until_us);
        sqlite3_bind_int(st, 4, q->include_open);
        if (q->criterion)
                store_bind_text(st, 5, q->criterion);
        return records_walk(s, st, cb, ud);
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
