/* store-insert: the storing thread's SQLite cost per record (issue 12), and SQLite's floor.
 *
 *   store-insert [--n N] [--batch B] [--pad P] [--db FILE] [--keep] [--gen pool|printf]
 *                [--layout store|raw|packed] [--pack K] [--sync full|normal|off]
 *                [--journal wal|persist] [--ckpt-mmap]
 *
 * Inserts N synthetic records shaped like the benchmark mix's (canonical JSON of ~330 bytes,
 * a 32-byte leaf, one to three criterion ids on 60 % of them, hosts from a small set, event
 * times in order with some late ones) in transactions of B (the writer's WRITER_BATCH_MAX,
 * 1024) with a background checkpointer, as a daemon would. --pad P lengthens each record's
 * message by P bytes (the daemon's records of the benchmark mix are ~700 bytes: --pad 370).
 *
 * --gen pool (default) formats 4,096 distinct records before the clock starts and stores
 * them round robin, so the numbers are the store's alone; --gen printf formats each record
 * inside the timed loop, as this bench did up to round 5 (snprintf with the padding was
 * ~0.5 CPU-µs of the ~2.9 it reported, store5).
 *
 * Layouts:
 *   store   through the store's public API (outputs/outputs.h): the product's path, schema 2
 *           with its index rows per batch and its own checkpointer thread.
 *   raw     one SQLite connection, the records table of schema 2 and nothing else (no index
 *           rows, no epoch rows), one INSERT per record: SQLite's floor for our row shape.
 *   packed  a prototype, not a format: one row per K records (--pack, default 64) holding
 *           their bytes concatenated, an offset table, their leaves, criteria and hosts;
 *           what a record-batch-per-row layout would cost per record.
 * raw and packed use the store's settings (16 KiB pages, WAL, synchronous as --sync, FULL by
 * default, a 1 MiB cache) and a checkpointer thread like outputs/store-ckpt.c's (a PASSIVE
 * checkpoint per 16 MB of WAL, inline past 64 MB). --journal persist (raw and packed only)
 * uses a rollback journal instead of the WAL, to show what the WAL's second copy of every
 * page costs (the product needs the WAL: the exporter reads while the writer commits).
 * --ckpt-mmap maps the database on the checkpointer's connection (PRAGMA mmap_size).
 *
 * Prints CPU-µs per record of the inserting thread (split into the inserts and the commits:
 * WAL frames and fdatasync), of the checkpointer (its thread's clock for raw and packed; the
 * process minus the inserting thread for store), and rows per second of wall time. With
 * --keep the database stays (for `gatelog query` latency measurements). Nothing here asserts
 * a time: it is a measurement, not a test. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "outputs/outputs.h"

#define EPOCH_RECORDS 100000
#define POOL 4096
#define REC_MAX 4096
#define CKPT_BYTES (16000 * 1024)       /* outputs/store-ckpt.c's STORE_CKPT_BYTES */
#define CKPT_INLINE_BYTES (16000 * 4096)
#define PAGE_SIZE 16384

static double clock_s(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const ids[] = { "CC6.1", "CC6.2", "CC6.3", "CC6.6", "CC7.2", "CC8.1" };
static const char *const hosts[] = { "web1", "web2", "db1", "bastion", "app-7f9c" };

/* One record of the mix's shape: an sshd/sudo/nginx-like event as canonical JSON. */
static size_t make_record(int64_t seq, uint32_t x, int64_t t, int pad, char *out, size_t len)
{
        int n = snprintf(out, len,
                         "{\"app\":\"sshd\",\"criteria\":[\"CC6.1\"],\"facility\":\"auth\","
                         "\"host\":\"%s\",\"message\":\"Accepted publickey for user%u from "
                         "10.%u.%u.%u port %u ssh2: ED25519 SHA256:%08x%08x%*s\",\"received\":"
                         "\"2026-12-01T10:00:00.%06lldZ\",\"rule\":\"ssh-login\",\"seq\":%lld,"
                         "\"severity\":\"info\",\"source\":{\"kind\":\"syslog\",\"peer\":"
                         "\"127.0.0.1\"},\"time\":\"2026-12-01T10:00:00Z\",\"user\":\"user%u\"}",
                         hosts[x % 5], x % 977, x % 251, (x >> 8) % 251, (x >> 16) % 251,
                         1024 + x % 60000, x, x * 2654435761u, pad, "", (long long)(t % 1000000),
                         (long long)seq, x % 977);
        return n > 0 ? (size_t)n : 0;
}

struct opts {
        int64_t n, batch;
        int pad, pack;
        const char *layout, *sync, *gen, *journal;
        bool ckpt_mmap;
};

/* The records the loop stores, formatted before the clock starts (--gen pool). */
struct pool {
        char *data;         /* POOL slots of REC_MAX bytes */
        size_t len[POOL];
};

/* The next record: its bytes (formatted now with --gen printf, else from the pool). */
static void next_record(const struct opts *o, struct pool *p, int64_t seq, uint32_t x,
                        int64_t t, char *scratch, struct store_record *rec)
{
        int pad = o->pad < 0 ? 0 : o->pad > 3000 ? 3000 : o->pad;

        if (p->data) {
                size_t i = (size_t)seq % POOL;
                rec->data = p->data + i * REC_MAX;
                rec->len = p->len[i];
        } else {
                rec->len = make_record(seq, x, t, pad, scratch, REC_MAX);
                rec->data = scratch;
        }
        memset(rec->leaf, (int)(x & 0xff), sizeof(rec->leaf));
}

/* ---- raw and packed: SQLite directly, with a checkpointer like store-ckpt.c's ---- */

struct ckpt {
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool due, stop;
        sqlite3 *db;
        double cpu_s;  /* the thread's CPU, set when it ends */
};

static int ckpt_hook(void *ud, sqlite3 *db, const char *name, int pages)
{
        struct ckpt *c = ud;

        if (pages >= CKPT_INLINE_BYTES / PAGE_SIZE) {
                (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        } else if (pages >= CKPT_BYTES / PAGE_SIZE) {
                pthread_mutex_lock(&c->mu);
                c->due = true;
                pthread_cond_signal(&c->cv);
                pthread_mutex_unlock(&c->mu);
        }
        return SQLITE_OK;
}

static void *ckpt_thread(void *ud)
{
        struct ckpt *c = ud;

        pthread_mutex_lock(&c->mu);
        for (;;) {
                while (!c->due && !c->stop)
                        pthread_cond_wait(&c->cv, &c->mu);
                bool last = c->stop;
                c->due = false;
                pthread_mutex_unlock(&c->mu);
                (void)sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE,
                                                NULL, NULL);
                pthread_mutex_lock(&c->mu);
                if (last)
                        break;
        }
        pthread_mutex_unlock(&c->mu);
        c->cpu_s = clock_s(CLOCK_THREAD_CPUTIME_ID);
        return NULL;
}

static int exec(sqlite3 *db, const char *sql)
{
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

        if (rc != SQLITE_OK)
                fprintf(stderr, "store-insert: %s: %s\n", sql, sqlite3_errmsg(db));
        return rc == SQLITE_OK ? 0 : -EIO;
}

static const char raw_schema[] =
        "CREATE TABLE records(seq INTEGER PRIMARY KEY, epoch INTEGER NOT NULL,"
        " received INTEGER NOT NULL, time INTEGER NOT NULL, host TEXT,"
        " leaf BLOB NOT NULL, criteria TEXT, data BLOB NOT NULL);";
/* The prototype: K records per row. offsets: K+1 little-endian u32 into data; leaves: K×32
 * bytes; criteria and hosts: one text per record, joined by '\n'. */
static const char packed_schema[] =
        "CREATE TABLE packs(first_seq INTEGER PRIMARY KEY, n INTEGER NOT NULL,"
        " epoch INTEGER NOT NULL, min_time INTEGER NOT NULL, max_time INTEGER NOT NULL,"
        " received INTEGER NOT NULL, leaves BLOB NOT NULL, hosts TEXT, criteria TEXT,"
        " offsets BLOB NOT NULL, data BLOB NOT NULL);";

/* A pack being filled: the bytes of up to K records. */
struct pack {
        int64_t first_seq, epoch, min_time, max_time, received;
        size_t n, data_len, text_len[2];
        uint8_t *leaves;
        uint32_t *offsets;
        char *data, *text[2];  /* hosts, criteria */
};

static void pack_text(struct pack *p, int which, const char *const *v, size_t nv)
{
        char *t = p->text[which] + p->text_len[which];

        if (p->n)
                *t++ = '\n';
        for (size_t i = 0; i < nv; i++) {
                size_t k = strlen(v[i]);
                if (i)
                        *t++ = ' ';
                memcpy(t, v[i], k);
                t += k;
        }
        p->text_len[which] = (size_t)(t - p->text[which]);
}

static void pack_add(struct pack *p, const struct store_record *r)
{
        if (p->n == 0) {
                p->first_seq = r->seq;
                p->epoch = r->epoch;
                p->received = r->received_us;
                p->min_time = p->max_time = r->time_us;
                p->data_len = p->text_len[0] = p->text_len[1] = 0;
        }
        p->min_time = r->time_us < p->min_time ? r->time_us : p->min_time;
        p->max_time = r->time_us > p->max_time ? r->time_us : p->max_time;
        memcpy(p->leaves + p->n * 32, r->leaf, 32);
        p->offsets[p->n] = (uint32_t)p->data_len;
        memcpy(p->data + p->data_len, r->data, r->len);
        p->data_len += r->len;
        pack_text(p, 0, &r->host, 1);
        pack_text(p, 1, r->criteria, r->n_criteria);
        p->n++;
        p->offsets[p->n] = (uint32_t)p->data_len;
}

static int pack_flush(sqlite3 *db, sqlite3_stmt *st, struct pack *p)
{
        int rc;

        if (p->n == 0)
                return 0;
        sqlite3_bind_int64(st, 1, p->first_seq);
        sqlite3_bind_int64(st, 2, (int64_t)p->n);
        sqlite3_bind_int64(st, 3, p->epoch);
        sqlite3_bind_int64(st, 4, p->min_time);
        sqlite3_bind_int64(st, 5, p->max_time);
        sqlite3_bind_int64(st, 6, p->received);
        sqlite3_bind_blob(st, 7, p->leaves, (int)(p->n * 32), SQLITE_STATIC);
        sqlite3_bind_text(st, 8, p->text[0], (int)p->text_len[0], SQLITE_STATIC);
        sqlite3_bind_text(st, 9, p->text[1], (int)p->text_len[1], SQLITE_STATIC);
        sqlite3_bind_blob(st, 10, p->offsets, (int)((p->n + 1) * 4), SQLITE_STATIC);
        sqlite3_bind_blob(st, 11, p->data, (int)p->data_len, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        p->n = 0;
        if (rc != SQLITE_DONE) {
                fprintf(stderr, "store-insert: pack insert: %s\n", sqlite3_errmsg(db));
                return -EIO;
        }
        return 0;
}

static int raw_insert(sqlite3 *db, sqlite3_stmt *st, const struct store_record *r, char *crit)
{
        size_t k = 0;
        int rc;

        for (size_t i = 0; i < r->n_criteria; i++) {
                size_t l = strlen(r->criteria[i]);
                if (i)
                        crit[k++] = ' ';
                memcpy(crit + k, r->criteria[i], l);
                k += l;
        }
        sqlite3_bind_int64(st, 1, r->seq);
        sqlite3_bind_int64(st, 2, r->epoch);
        sqlite3_bind_int64(st, 3, r->received_us);
        sqlite3_bind_int64(st, 4, r->time_us);
        sqlite3_bind_text(st, 5, r->host, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, r->leaf, 32, SQLITE_STATIC);
        if (k)
                sqlite3_bind_text(st, 7, crit, (int)k, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, 7);
        sqlite3_bind_blob(st, 8, r->data, (int)r->len, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
                fprintf(stderr, "store-insert: insert: %s\n", sqlite3_errmsg(db));
                return -EIO;
        }
        return 0;
}

/* What a run measured, in seconds. */
struct times {
        double thread, commit, ckpt, wall;
};

/* The records of the run, one at a time: the same sequence for every layout. */
struct gen {
        uint32_t x;
        int64_t t;
        const char *crit[3];
};

static void gen_next(struct gen *g, const struct opts *o, struct pool *p, int64_t seq,
                     char *scratch, struct store_record *rec)
{
        size_t nc = 0;

        g->x = g->x * 1103515245u + 12345u;
        if ((g->x >> 20) % 10 < 6) {
                g->crit[nc++] = ids[(g->x >> 4) % 6];
                if ((g->x >> 8) % 3 == 0)
                        g->crit[nc++] = ids[((g->x >> 4) + 1) % 6];
                if ((g->x >> 12) % 7 == 0)
                        g->crit[nc++] = ids[((g->x >> 4) + 3) % 6];
        }
        g->t += 5000;
        *rec = (struct store_record){
                .seq = seq, .epoch = seq / EPOCH_RECORDS, .received_us = g->t,
                .time_us = (g->x >> 24) % 50 ? g->t : g->t - 60000000,
                .host = hosts[g->x % 5], .criteria = g->crit, .n_criteria = nc,
        };
        next_record(o, p, seq, g->x, g->t, scratch, rec);
}

static int run_sqlite(const struct opts *o, struct pool *p, const char *db_path,
                      struct times *tm)
{
        bool packed = !strcmp(o->layout, "packed");
        char sql[256], *scratch = malloc(REC_MAX), crit[64];
        struct pack pk = { 0 };
        struct ckpt c = { 0 };
        struct gen g = { .x = 42, .t = 1764583200000000LL };
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL, *begin = NULL, *commit = NULL;
        int r = 0;

        pk.leaves = malloc((size_t)o->pack * 32);
        pk.offsets = malloc(((size_t)o->pack + 1) * 4);
        pk.data = malloc((size_t)o->pack * REC_MAX);
        pk.text[0] = malloc((size_t)o->pack * 64);
        pk.text[1] = malloc((size_t)o->pack * 64);
        snprintf(sql, sizeof(sql), "PRAGMA page_size = %d; PRAGMA journal_mode = %s;"
                 "PRAGMA synchronous = %s; PRAGMA cache_size = -1024;", PAGE_SIZE, o->journal,
                 o->sync);
        if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK || exec(db, sql) < 0 ||
            exec(db, packed ? packed_schema : raw_schema) < 0)
                return -EIO;
        sqlite3_prepare_v3(db, packed ? "INSERT INTO packs VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                                        "?8, ?9, ?10, ?11)"
                                      : "INSERT INTO records VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
                                        "?7, ?8)", -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL);
        sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL);
        snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s; PRAGMA cache_size = -256;%s",
                 o->sync, o->ckpt_mmap ? "PRAGMA mmap_size = 1073741824;" : "");
        if (!st || !begin || !commit ||
            sqlite3_open_v2(db_path, &c.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                            NULL) != SQLITE_OK || exec(c.db, sql) < 0)
                return -EIO;
        pthread_mutex_init(&c.mu, NULL);
        pthread_cond_init(&c.cv, NULL);
        if (pthread_create(&c.thread, NULL, ckpt_thread, &c) != 0)
                return -EIO;
        sqlite3_wal_hook(db, ckpt_hook, &c);

        double w0 = clock_s(CLOCK_MONOTONIC), t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        for (int64_t b = 0; b < o->n && r >= 0; b += o->batch) {
                sqlite3_step(begin);
                sqlite3_reset(begin);
                for (int64_t seq = b; r >= 0 && seq < o->n && seq < b + o->batch; seq++) {
                        struct store_record rec;
                        gen_next(&g, o, p, seq, scratch, &rec);
                        if (!packed) {
                                r = raw_insert(db, st, &rec, crit);
                                continue;
                        }
                        /* A pack never spans transactions nor epochs. */
                        if (pk.n && pk.epoch != rec.epoch)
                                r = pack_flush(db, st, &pk);
                        pack_add(&pk, &rec);
                        if ((int)pk.n == o->pack)
                                r = pack_flush(db, st, &pk);
                }
                if (r >= 0 && packed)
                        r = pack_flush(db, st, &pk);
                double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
                if (r >= 0 && sqlite3_step(commit) != SQLITE_DONE) {
                        fprintf(stderr, "store-insert: commit: %s\n", sqlite3_errmsg(db));
                        r = -EIO;
                }
                sqlite3_reset(commit);
                tm->commit += clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        }
        tm->thread = clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
        tm->wall = clock_s(CLOCK_MONOTONIC) - w0;
        /* The checkpointer's work so far is the run's: stop it (one last checkpoint). */
        sqlite3_wal_hook(db, NULL, NULL);
        pthread_mutex_lock(&c.mu);
        c.stop = true;
        pthread_cond_signal(&c.cv);
        pthread_mutex_unlock(&c.mu);
        pthread_join(c.thread, NULL);
        tm->ckpt = c.cpu_s;
        sqlite3_finalize(st);
        sqlite3_finalize(begin);
        sqlite3_finalize(commit);
        sqlite3_close(c.db);
        sqlite3_close(db);
        free(scratch);
        free(pk.leaves);
        free(pk.offsets);
        free(pk.data);
        free(pk.text[0]);
        free(pk.text[1]);
        return r;
}

/* ---- store: the product's API ---- */

static int put_epoch(struct store *s, int64_t epoch, int64_t first, int64_t count, bool sealed)
{
        struct store_epoch e = {
                .epoch = epoch, .start_us = epoch * 3600000000LL,
                .end_us = (epoch + 1) * 3600000000LL, .first_seq = first, .count = count,
                .sealed = sealed, .stats = "{}", .manifest = "{}", .manifest_len = 2,
        };

        return store_epoch_put(s, &e);
}

static int run_store(const struct opts *o, struct pool *p, const char *db, struct times *tm)
{
        struct store *s;
        struct store_error err;
        struct gen g = { .x = 42, .t = 1764583200000000LL };
        char *scratch = malloc(REC_MAX);
        int r = store_open(db, STORE_READWRITE, &s, &err);

        if (r < 0 || !scratch) {
                fprintf(stderr, "store-insert: %s\n", r < 0 ? err.msg : "out of memory");
                return -EIO;
        }
        (void)store_checkpoint_in_background(s);
        double w0 = clock_s(CLOCK_MONOTONIC), t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        double p0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        for (int64_t b = 0; b < o->n && r >= 0; b += o->batch) {
                r = store_begin(s);
                for (int64_t seq = b; r >= 0 && seq < o->n && seq < b + o->batch; seq++) {
                        struct store_record rec;
                        gen_next(&g, o, p, seq, scratch, &rec);
                        r = store_record_insert(s, &rec);
                        if (r >= 0 && seq % EPOCH_RECORDS == 0)
                                r = put_epoch(s, seq / EPOCH_RECORDS, seq, 0, false);
                }
                double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
                if (r >= 0)
                        r = store_commit(s);
                tm->commit += clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        }
        tm->thread = clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
        tm->wall = clock_s(CLOCK_MONOTONIC) - w0;
        tm->ckpt = clock_s(CLOCK_PROCESS_CPUTIME_ID) - p0 - tm->thread;
        /* Epoch rows as a daemon leaves them: full epochs sealed, the last one open. */
        for (int64_t e = 0; r >= 0 && e * EPOCH_RECORDS < o->n; e++) {
                int64_t first = e * EPOCH_RECORDS;
                int64_t count = o->n - first < EPOCH_RECORDS ? o->n - first : EPOCH_RECORDS;
                r = put_epoch(s, e, first, count, (e + 1) * EPOCH_RECORDS < o->n);
        }
        if (r < 0)
                fprintf(stderr, "store-insert: %s (%s)\n", strerror(-r), store_errmsg(s));
        store_close(s);
        free(scratch);
        return r;
}

static int usage(void)
{
        fprintf(stderr, "usage: store-insert [--n N] [--batch B] [--pad P] [--db FILE] [--keep] "
                        "[--gen pool|printf] [--layout store|raw|packed] [--pack K] "
                        "[--sync full|normal|off] [--journal wal|persist] [--ckpt-mmap]\n");
        return 2;
}

int main(int argc, char **argv)
{
        struct opts o = { .n = 200000, .batch = 1024, .pack = 64, .layout = "store",
                          .sync = "full", .gen = "pool", .journal = "wal" };
        struct pool p = { 0 };
        struct times tm = { 0 };
        const char *db = NULL;
        char path[256], tmp[] = "/tmp/store-insert-XXXXXX";
        bool keep = false;
        int r;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!v && strcmp(a, "--keep") && strcmp(a, "--ckpt-mmap"))
                        return usage();
                if (!strcmp(a, "--n"))
                        o.n = atoll(argv[++i]);
                else if (!strcmp(a, "--batch"))
                        o.batch = atoll(argv[++i]);
                else if (!strcmp(a, "--pad"))
                        o.pad = atoi(argv[++i]);
                else if (!strcmp(a, "--pack"))
                        o.pack = atoi(argv[++i]);
                else if (!strcmp(a, "--db"))
                        db = argv[++i];
                else if (!strcmp(a, "--layout"))
                        o.layout = argv[++i];
                else if (!strcmp(a, "--sync"))
                        o.sync = argv[++i];
                else if (!strcmp(a, "--journal"))
                        o.journal = argv[++i];
                else if (!strcmp(a, "--gen"))
                        o.gen = argv[++i];
                else if (!strcmp(a, "--keep"))
                        keep = true;
                else if (!strcmp(a, "--ckpt-mmap"))
                        o.ckpt_mmap = true;
                else
                        return usage();
        }
        if (o.n < 1 || o.batch < 1 || o.pack < 1 || o.pack > 4096 ||
            (strcmp(o.layout, "store") && strcmp(o.layout, "raw") && strcmp(o.layout, "packed")) ||
            (strcmp(o.sync, "full") && strcmp(o.sync, "normal") && strcmp(o.sync, "off")) ||
            (strcmp(o.gen, "pool") && strcmp(o.gen, "printf")) ||
            (strcmp(o.journal, "wal") && strcmp(o.journal, "persist")) ||
            (strcmp(o.journal, "wal") && !strcmp(o.layout, "store")))
                return usage();
        if (!strcmp(o.gen, "pool")) {
                uint32_t x = 7;
                int pad = o.pad < 0 ? 0 : o.pad > 3000 ? 3000 : o.pad;
                p.data = malloc((size_t)POOL * REC_MAX);
                if (!p.data)
                        return 1;
                for (int64_t i = 0; i < POOL; i++) {
                        x = x * 1103515245u + 12345u;
                        p.len[i] = make_record(i, x, 1764583200000000LL + i * 5000, pad,
                                               p.data + i * REC_MAX, REC_MAX);
                }
        }
        if (!db) {
                if (!mkdtemp(tmp))
                        return 1;
                snprintf(path, sizeof(path), "%s/gatelog.db", tmp);
                db = path;
        }
        r = !strcmp(o.layout, "store") ? run_store(&o, &p, db, &tm) : run_sqlite(&o, &p, db, &tm);
        free(p.data);
        if (r < 0)
                return 1;
        double n = (double)o.n;
        printf("store-insert: %lld records, layout %s%s%.0d, batches of %lld, sync %s, journal "
               "%s, gen %s: "
               "%.2f CPU-us/record storing thread (inserts %.2f, commits %.2f), checkpointer "
               "%.2f, total %.2f; %.0f rows/s wall\n",
               (long long)o.n, o.layout, strcmp(o.layout, "packed") ? "" : " K=",
               strcmp(o.layout, "packed") ? 0 : o.pack, (long long)o.batch, o.sync, o.journal,
               o.gen,
               tm.thread * 1e6 / n, (tm.thread - tm.commit) * 1e6 / n, tm.commit * 1e6 / n,
               tm.ckpt * 1e6 / n, (tm.thread + tm.ckpt) * 1e6 / n, n / tm.wall);
        if (!keep && db == path) {
                char cmd[300];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
                if (system(cmd) != 0)
                        return 1;
        } else {
                printf("store-insert: database kept: %s\n", db);
        }
        return 0;
}
