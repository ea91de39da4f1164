/* Schema 2 (issue 12) against a naive model: the same records stored (a) in a real schema 1
 * file, written with version 1's own DDL and INSERTs (kept below, as the previous gatelog
 * wrote them), then migrated in place by a read-write open, and (b) through the store API
 * into a fresh schema 2 file in writer-sized batches. Every query shape (criterion, time,
 * host, sealed-only or not), the per-epoch record walks and criterion counts, the open
 * epoch's leaves and the highest seq must equal what a plain filter over the model
 * returns; then a batch stored after the migration (a restarted daemon continuing) must be
 * found like the rest. A read-only open reads a schema 1 file in place (round 11): every
 * answer above equals the model's, hence the migrated file's, and the file's bytes (and its
 * WAL's) are unchanged afterwards; a file of a newer schema is refused, saying which. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "outputs/outputs.h"
#include "tests/test-rng.h"

#define TEST_TMPDIR_PREFIX "gl-test-migrate"
#include "tests/test-tmpdir.h"

/* Version 1's schema, verbatim from outputs/store.c before issue 12's schema 2. */
static const char v1_schema[] =
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
        "INSERT INTO meta(key, value) VALUES('schema', '1');"
        "CREATE TABLE IF NOT EXISTS timestamps(epoch INTEGER PRIMARY KEY, token BLOB NOT NULL);";
static const char v1_rec_insert[] =
        "INSERT INTO records(seq, epoch, received, time, host, leaf, data) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char v1_crit_insert[] = "INSERT INTO record_criteria(criterion, seq) VALUES(?1, ?2)";

/* The model: N_MODEL records in 3 epochs (0 and 1 sealed, 2 open), criteria and hosts from
 * small sets, event times that go back and forth (late events) so that batch time bounds
 * overlap. */
#define N_MODEL 3000
#define N_MODEL_AFTER 500          /* stored after the migration */
#define BATCH 256
static const char *const crit_ids[] = { "A1.2", "CC6.1", "CC6.2", "CC7.2", "CC8.1" }; /* id order */
static const char *const hosts[] = { "web1", "web2", "db1", NULL };
static const int64_t epoch_first[] = { 0, 1200, 2100 };

struct mrec {
        int64_t seq, epoch, time;
        const char *host;
        const char *crit[3];      /* in id order, as version 1 returned them */
        size_t n_crit;
};

static struct mrec model[N_MODEL + N_MODEL_AFTER];

static int64_t epoch_of(int64_t seq)
{
        return seq >= epoch_first[2] ? 2 : seq >= epoch_first[1] ? 1 : 0;
}

static void model_build(void)
{
        unsigned x = 12345;

        for (int64_t i = 0; i < N_MODEL + N_MODEL_AFTER; i++) {
                struct mrec *m = &model[i];
                test_rng_lcg(&x);
                m->seq = i;
                m->epoch = epoch_of(i);
                m->time = 1000000 * i + (int64_t)((x >> 8) % 40) * 1000000 - 20000000;
                m->host = hosts[(x >> 4) % 4];
                m->n_crit = 0;
                for (size_t k = 0; k < 5 && m->n_crit < 3; k++)
                        if ((x >> (12 + 3 * k)) % 4 == 0)
                                m->crit[m->n_crit++] = crit_ids[k];
        }
}

static void rec_data(int64_t seq, char *out, size_t len)
{
        snprintf(out, len, "{\"msg\":\"record %lld\",\"seq\":%lld}", (long long)seq,
                 (long long)seq);
}

static void rec_leaf(int64_t seq, uint8_t leaf[HASH_LEN])
{
        for (size_t i = 0; i < HASH_LEN; i++)
                leaf[i] = (uint8_t)(seq * 31 + (int64_t)i);
}

static void put_epochs(struct store *s, int64_t n_recs)
{
        for (int64_t e = 0; e < 3; e++) {
                int64_t end = e < 2 ? epoch_first[e + 1] : n_recs;
                struct store_epoch ep = {
                        .epoch = e, .first_seq = epoch_first[e], .count = end - epoch_first[e],
                        .sealed = e < 2, .stats = "{}", .manifest = "{}", .manifest_len = 2,
                };
                assert_int_equal(store_epoch_put(s, &ep), 0);
        }
}

static void bind_rec(sqlite3_stmt *st, const struct mrec *m, char *data, uint8_t *leaf)
{
        rec_data(m->seq, data, 128);
        rec_leaf(m->seq, leaf);
        sqlite3_bind_int64(st, 1, m->seq);
        sqlite3_bind_int64(st, 2, m->epoch);
        sqlite3_bind_int64(st, 3, m->time + 7);
        sqlite3_bind_int64(st, 4, m->time);
        if (m->host)
                sqlite3_bind_text(st, 5, m->host, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, 5);
        sqlite3_bind_blob(st, 6, leaf, HASH_LEN, SQLITE_STATIC);
        sqlite3_bind_blob(st, 7, data, (int)strlen(data), SQLITE_STATIC);
}

/* Epoch rows as put_epochs writes them, with version 1's own SQL (the table did not change):
 * for the read-only opens of a schema 1 file, which cannot write them through the store. */
static void put_epochs_v1(sqlite3 *db, int64_t n_recs)
{
        sqlite3_stmt *st;

        assert_int_equal(sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO epochs(epoch, \"start\", "
                                            "\"end\", first_seq, count, sealed, stats, root, "
                                            "manifest, sig, sealed_at) VALUES(?1, 0, 0, ?2, ?3, "
                                            "?4, '{}', ?5, CASE WHEN ?4 THEN CAST('{}' AS BLOB) "
                                            "END, ?6, ?7)", -1, &st, NULL),
                         SQLITE_OK);
        for (int64_t e = 0; e < 3; e++) {
                int64_t end = e < 2 ? epoch_first[e + 1] : n_recs;
                sqlite3_bind_int64(st, 1, e);
                sqlite3_bind_int64(st, 2, epoch_first[e]);
                sqlite3_bind_int64(st, 3, end - epoch_first[e]);
                sqlite3_bind_int(st, 4, e < 2);
                if (e < 2) {
                        sqlite3_bind_zeroblob(st, 5, HASH_LEN);
                        sqlite3_bind_zeroblob(st, 6, 64);
                        sqlite3_bind_int64(st, 7, 0);
                }
                assert_int_equal(sqlite3_step(st), SQLITE_DONE);
                sqlite3_reset(st);
                sqlite3_clear_bindings(st);
        }
        sqlite3_finalize(st);
}

/* Writes model[from, to) and the epoch rows into a schema 1 file with version 1's own SQL,
 * in one transaction, as the previous gatelog's writer did; from 0 creates the schema. */
static void v1_write(sqlite3 *db, size_t from, size_t to)
{
        sqlite3_stmt *rec, *crit;
        char data[128];
        uint8_t leaf[HASH_LEN];

        assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
        if (from == 0)
                assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, v1_rec_insert, -1, &rec, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, v1_crit_insert, -1, &crit, NULL), SQLITE_OK);
        for (size_t i = from; i < to; i++) {
                bind_rec(rec, &model[i], data, leaf);
                assert_int_equal(sqlite3_step(rec), SQLITE_DONE);
                sqlite3_reset(rec);
                for (size_t k = 0; k < model[i].n_crit; k++) {
                        sqlite3_bind_text(crit, 1, model[i].crit[k], -1, SQLITE_STATIC);
                        sqlite3_bind_int64(crit, 2, model[i].seq);
                        assert_int_equal(sqlite3_step(crit), SQLITE_DONE);
                        sqlite3_reset(crit);
                }
        }
        sqlite3_finalize(rec);
        sqlite3_finalize(crit);
        put_epochs_v1(db, (int64_t)to);
        assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
}

/* A schema 1 file as the previous gatelog wrote it, its epochs included (the epochs table did
 * not change; put_epochs writes the same rows again after the migration). */
static void make_v1(const char *path)
{
        sqlite3 *db;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL),
                         SQLITE_OK);
        v1_write(db, 0, N_MODEL);
        sqlite3_close(db);
}

/* Stores model[from, to) through the API in batches of BATCH, as the writer does. */
static void store_model(struct store *s, size_t from, size_t to)
{
        char data[128];

        for (size_t b = from; b < to; b += BATCH) {
                assert_int_equal(store_begin(s), 0);
                for (size_t i = b; i < to && i < b + BATCH; i++) {
                        struct store_record r = {
                                .seq = model[i].seq, .epoch = model[i].epoch,
                                .received_us = model[i].time + 7, .time_us = model[i].time,
                                .host = model[i].host, .criteria = model[i].crit,
                                .n_criteria = model[i].n_crit, .data = data,
                        };
                        rec_data(model[i].seq, data, sizeof(data));
                        r.len = strlen(data);
                        rec_leaf(model[i].seq, r.leaf);
                        assert_int_equal(store_record_insert(s, &r), 0);
                }
                assert_int_equal(store_commit(s), 0);
        }
}

/* ---- comparing with the model ---- */

struct seqs {
        int64_t v[N_MODEL + N_MODEL_AFTER];
        size_t n;
};

static int collect_cb(void *ud, const struct store_record *r)
{
        struct seqs *c = ud;
        const struct mrec *m = &model[r->seq];
        char data[128];
        uint8_t leaf[HASH_LEN];

        rec_data(r->seq, data, sizeof(data));
        rec_leaf(r->seq, leaf);
        assert_int_equal(r->len, strlen(data));
        assert_memory_equal(r->data, data, r->len);
        assert_memory_equal(r->leaf, leaf, HASH_LEN);
        assert_int_equal(r->time_us, m->time);
        assert_int_equal(r->received_us, m->time + 7);
        assert_int_equal(r->epoch, m->epoch);
        if (m->host)
                assert_string_equal(r->host, m->host);
        else
                assert_null(r->host);
        c->v[c->n++] = r->seq;
        return 0;
}

static bool has_crit(const struct mrec *m, const char *id)
{
        for (size_t k = 0; k < m->n_crit; k++)
                if (!strcmp(m->crit[k], id))
                        return true;
        return false;
}

/* The version 1 query, as a plain filter over the model. */
static void model_query(const struct store_query *q, size_t n_recs, struct seqs *out)
{
        out->n = 0;
        for (size_t i = 0; i < n_recs; i++) {
                const struct mrec *m = &model[i];
                if (q->criterion && !has_crit(m, q->criterion))
                        continue;
                if (q->host && (!m->host || strcmp(m->host, q->host)))
                        continue;
                if (m->time < q->since_us || m->time >= q->until_us)
                        continue;
                if (!q->include_open && m->epoch == 2)
                        continue;
                out->v[out->n++] = m->seq;
        }
}

static void check_queries(struct store *s, size_t n_recs)
{
        static struct seqs got, want;
        const char *crits[] = { NULL, "CC6.1", "CC7.2", "A1.2", "CC9.9" };
        const char *qhosts[] = { NULL, "web2" };
        const int64_t times[][2] = { { INT64_MIN, INT64_MAX }, { 500000000, 1700000000 },
                                     { INT64_MIN, 30000000 }, { 2050000000, INT64_MAX },
                                     { 7000000, 7000000 } };

        for (size_t c = 0; c < 5; c++)
                for (size_t h = 0; h < 2; h++)
                        for (size_t t = 0; t < 5; t++)
                                for (int open = 0; open < 2; open++) {
                                        struct store_query q = { crits[c], qhosts[h],
                                                                 times[t][0], times[t][1],
                                                                 open };
                                        got.n = 0;
                                        assert_int_equal(store_query(s, &q, collect_cb, &got),
                                                         0);
                                        model_query(&q, n_recs, &want);
                                        if (got.n != want.n ||
                                            memcmp(got.v, want.v, got.n * sizeof(got.v[0])))
                                                fail_msg("query crit=%s host=%s time#%zu open=%d:"
                                                         " %zu records, model %zu", crits[c]
                                                         ? crits[c] : "-", qhosts[h] ? qhosts[h]
                                                         : "-", t, open, got.n, want.n);
                                }
}

static int count_cb(void *ud, const char *id, int64_t count)
{
        char *text = ud;
        size_t k = strlen(text);

        snprintf(text + k, 256 - k, "%s=%lld ", id, (long long)count);
        return 0;
}

struct leaves {
        int64_t next;
};

static int leaves_cb(void *ud, int64_t seq, const uint8_t leaf[HASH_LEN],
                     const char *const *criteria, size_t n)
{
        struct leaves *l = ud;
        uint8_t want[HASH_LEN];

        assert_int_equal(seq, l->next);
        rec_leaf(seq, want);
        assert_memory_equal(leaf, want, HASH_LEN);
        assert_int_equal(n, model[seq].n_crit);
        for (size_t k = 0; k < n; k++)
                assert_string_equal(criteria[k], model[seq].crit[k]);
        l->next++;
        return 0;
}

static void check_all(struct store *s, size_t n_recs)
{
        static struct seqs got;
        int64_t max = -1;

        check_queries(s, n_recs);
        for (int64_t e = 0; e < 3; e++) {
                int64_t end = e < 2 ? epoch_first[e + 1] : (int64_t)n_recs;
                char text[256] = "", want[256] = "";
                got.n = 0;
                assert_int_equal(store_records_foreach(s, e, collect_cb, &got), 0);
                assert_int_equal(got.n, end - epoch_first[e]);
                for (size_t i = 0; i < got.n; i++)
                        assert_int_equal(got.v[i], epoch_first[e] + (int64_t)i);
                assert_int_equal(store_epoch_criteria(s, e, count_cb, text), 0);
                for (size_t k = 0; k < 5; k++) {
                        const char *id = crit_ids[k];
                        int64_t n = 0;
                        for (int64_t i = epoch_first[e]; i < end; i++)
                                n += has_crit(&model[i], id);
                        if (n) {
                                size_t w = strlen(want);
                                snprintf(want + w, sizeof(want) - w, "%s=%lld ", id,
                                         (long long)n);
                        }
                }
                assert_string_equal(text, want);
        }
        struct leaves l = { epoch_first[2] };
        assert_int_equal(store_records_leaves(s, 2, leaves_cb, &l), 0);
        assert_int_equal(l.next, (int64_t)n_recs);
        assert_int_equal(store_records_max_seq(s, &max), 0);
        assert_int_equal(max, (int64_t)n_recs - 1);
}

static int no_problem_cb(void *ud, const char *problem)
{
        fail_msg("integrity: %s", problem);
        return -1;
}

/* Each test's own folder (tests/test-tmpdir.h) and its database's path. */
static void test_dir(void **state, char dir[64], char path[128])
{
        test_tmpdir(state, dir);
        snprintf(path, 128, "%s/gatelog.db", dir);
}

static void rm_dir(const char *dir)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

/* The bytes of path, or NULL (*ret_len 0) when there is no such file. */
static uint8_t *slurp(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        uint8_t *p = NULL;
        size_t n = 0;

        *ret_len = 0;
        if (!f)
                return NULL;
        for (size_t got;; n += got) {
                uint8_t *q = realloc(p, n + 65536);
                assert_non_null(q);
                p = q;
                got = fread(p + n, 1, 65536, f);
                if (got == 0)
                        break;
        }
        fclose(f);
        *ret_len = n;
        return p;
}

/* The file and its WAL, byte for byte. */
struct snap {
        uint8_t *db, *wal;
        size_t db_len, wal_len;
};

static void snap_take(const char *path, struct snap *sn)
{
        char wal[160];

        snprintf(wal, sizeof(wal), "%s-wal", path);
        sn->db = slurp(path, &sn->db_len);
        sn->wal = slurp(wal, &sn->wal_len);
        assert_non_null(sn->db);
}

static void snap_same(const char *path, struct snap *before)
{
        struct snap now;

        snap_take(path, &now);
        assert_int_equal(now.db_len, before->db_len);
        assert_memory_equal(now.db, before->db, now.db_len);
        assert_int_equal(now.wal_len, before->wal_len);
        if (now.wal_len)
                assert_memory_equal(now.wal, before->wal, now.wal_len);
        free(now.db);
        free(now.wal);
        free(before->db);
        free(before->wal);
}

/* Round 11: a read-only open of the schema 1 file at path answers every question as the
 * model (hence as the migrated file: test_migrate_v1 checks that against the same model)
 * and leaves the file and its WAL as they were. */
static void read_v1_unchanged(const char *path, size_t n_recs)
{
        struct store *ro = NULL;
        struct store_error err;
        struct snap before;
        char *v = NULL;

        snap_take(path, &before);
        assert_int_equal(store_open(path, STORE_READONLY, &ro, &err), 0);
        assert_null(store_open_note(ro));
        assert_int_equal(store_meta_get(ro, "schema", &v), 0);
        assert_string_equal(v, "1");
        free(v);
        check_all(ro, n_recs);
        assert_int_equal(store_integrity_check(ro, no_problem_cb, NULL), 0);
        /* Nothing can be written through it, the statements version 2 writes included. */
        assert_int_equal(store_meta_set(ro, "schema", "2"), -EROFS);
        store_close(ro);
        snap_same(path, &before);
}

/* The previous gatelog's daemon still running on the file (a package upgraded, the daemon
 * not restarted yet): its last transactions are in the WAL, not yet in the file, and it
 * goes on writing between two reads. */
static void test_read_v1_live(void **state)
{
        char dir[64], path[128];
        sqlite3 *old;

        test_dir(state, dir, path);
        assert_int_equal(sqlite3_open(path, &old), SQLITE_OK);
        assert_int_equal(sqlite3_exec(old, "PRAGMA journal_mode = WAL; "
                                      "PRAGMA wal_autocheckpoint = 0", NULL, NULL, NULL),
                         SQLITE_OK);
        v1_write(old, 0, N_MODEL);
        read_v1_unchanged(path, N_MODEL);
        v1_write(old, N_MODEL, N_MODEL + N_MODEL_AFTER);
        read_v1_unchanged(path, N_MODEL + N_MODEL_AFTER);
        sqlite3_close(old);
        rm_dir(dir);
}

/* Records walked, and how many of them say another epoch than the one walked. */
struct walk_count {
        int64_t epoch, n, other;
};

static int walk_count_cb(void *ud, const struct store_record *r)
{
        struct walk_count *w = ud;

        w->n++;
        w->other += r->epoch != w->epoch;
        return 0;
}

/* What the per-epoch walks answer, as text: each epoch's criterion counts and records. */
static void epoch_answers(struct store *s, char *out, size_t len)
{
        out[0] = '\0';
        for (int64_t e = 0; e < 3; e++) {
                char text[256] = "";
                size_t k = strlen(out);
                struct walk_count w = { .epoch = e };
                assert_int_equal(store_epoch_criteria(s, e, count_cb, text), 0);
                assert_int_equal(store_records_foreach(s, e, walk_count_cb, &w), 0);
                snprintf(out + k, len - k, "epoch %lld: %s| %lld records, %lld of another\n",
                         (long long)e, text, (long long)w.n, (long long)w.other);
        }
}

/* A damaged file (a record's epoch column edited behind the seq ranges' back) is read in
 * place as the migrated file reads it: the same counts, the same walks, so that `epochs` and
 * `verify --db` see the same damage on either. */
static void test_read_v1_damaged(void **state)
{
        char dir[64], path[128], ro_text[1024], rw_text[1024];
        struct store *s = NULL;
        struct store_error err;
        sqlite3 *db;

        test_dir(state, dir, path);
        make_v1(path);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "UPDATE records SET epoch = 0 WHERE seq IN "
                                      "(SELECT DISTINCT seq FROM record_criteria WHERE "
                                      "seq >= 1500 ORDER BY seq LIMIT 3)", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_changes(db), 3);
        sqlite3_close(db);
        assert_int_equal(store_open(path, STORE_READONLY, &s, &err), 0);
        epoch_answers(s, ro_text, sizeof(ro_text));
        store_close(s);
        assert_int_equal(store_open(path, STORE_READWRITE, &s, &err), 0);
        assert_non_null(store_open_note(s));
        epoch_answers(s, rw_text, sizeof(rw_text));
        store_close(s);
        assert_string_equal(ro_text, rw_text);
        rm_dir(dir);
}

/* A file of a schema newer than this gatelog's is refused by every open, saying which
 * version it is and which this gatelog reads; other values are not taken for newer. */
static void test_refuse_newer(void **state)
{
        static const struct {
                const char *v, *want;
        } cases[] = {
                { "3", "schema version 3 is newer than this gatelog reads (1 to 2)" },
                { "12", "schema version 12 is newer" },
                { "0", "schema version '0' is not one gatelog has written" },
                { "2x", "schema version '2x' is not one" },
                { "", "not a gatelog database (no schema)" },
        };
        char dir[64], path[128];
        struct store *s = (struct store *)0x1;
        struct store_error err;
        struct snap before;
        sqlite3 *db;
        sqlite3_stmt *st;

        test_dir(state, dir, path);
        make_v1(path);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
                assert_int_equal(sqlite3_prepare_v2(db, "UPDATE meta SET value = ?1 "
                                                    "WHERE key = 'schema'", -1, &st, NULL),
                                 SQLITE_OK);
                sqlite3_bind_text(st, 1, cases[i].v, -1, SQLITE_STATIC);
                assert_int_equal(sqlite3_step(st), SQLITE_DONE);
                sqlite3_finalize(st);
                sqlite3_close(db);
                snap_take(path, &before);
                for (int mode = 0; mode < 2; mode++) {
                        assert_int_equal(store_open(path, mode ? STORE_READWRITE
                                                               : STORE_READONLY, &s, &err),
                                         -EPROTO);
                        assert_ptr_equal(s, (struct store *)0x1);
                        assert_non_null(strstr(err.msg, path));
                        if (!strstr(err.msg, cases[i].want))
                                fail_msg("schema '%s': %s", cases[i].v, err.msg);
                }
                snap_same(path, &before);
        }
        rm_dir(dir);
}

static void test_migrate_v1(void **state)
{
        char dir[64], path[128], *v = NULL;
        struct store *s = NULL, *ro = NULL;
        struct store_error err;
        sqlite3 *db;
        sqlite3_stmt *st;

        test_dir(state, dir, path);
        make_v1(path);
        /* A read-only open reads it in place: the answers the migrated file gives below,
         * and not a byte of the file or its WAL written. */
        read_v1_unchanged(path, N_MODEL);

        assert_int_equal(store_open(path, STORE_READWRITE, &s, &err), 0);
        assert_non_null(store_open_note(s));
        assert_non_null(strstr(store_open_note(s), "3000 records"));
        put_epochs(s, N_MODEL);
        assert_int_equal(store_meta_get(s, "schema", &v), 0);
        assert_string_equal(v, "2");
        free(v);
        check_all(s, N_MODEL);
        assert_int_equal(store_integrity_check(s, no_problem_cb, NULL), 0);

        /* The restarted daemon continues the open epoch: new batches are found too. */
        store_model(s, N_MODEL, N_MODEL + N_MODEL_AFTER);
        put_epochs(s, N_MODEL + N_MODEL_AFTER);
        check_all(s, N_MODEL + N_MODEL_AFTER);
        store_close(s);

        /* Reopened: nothing more to migrate; readers work. The old tables are gone. */
        assert_int_equal(store_open(path, STORE_READWRITE, &s, &err), 0);
        assert_null(store_open_note(s));
        store_close(s);
        assert_int_equal(store_open(path, STORE_READONLY, &ro, &err), 0);
        check_all(ro, N_MODEL + N_MODEL_AFTER);
        store_close(ro);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema WHERE name "
                                            "IN ('record_criteria', 'record_criteria_seq', "
                                            "'records_epoch', 'records_time')", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        rm_dir(dir);
}

static void test_fresh_v2(void **state)
{
        char dir[64], path[128];
        struct store *s = NULL;
        struct store_error err;

        test_dir(state, dir, path);
        assert_int_equal(store_open(path, STORE_READWRITE, &s, &err), 0);
        assert_null(store_open_note(s));
        store_model(s, 0, N_MODEL + N_MODEL_AFTER);
        put_epochs(s, N_MODEL + N_MODEL_AFTER);
        check_all(s, N_MODEL + N_MODEL_AFTER);
        store_close(s);
        rm_dir(dir);
}

/* A migration that fails half-way leaves the schema 1 file as it was. */
static void test_migrate_fails_whole(void **state)
{
        char dir[64], path[128], *v = NULL;
        struct store *s = NULL;
        struct store_error err;
        sqlite3 *db;

        test_dir(state, dir, path);
        make_v1(path);
        /* A table in the way of the index tables makes the migration fail after the column
         * was added and filled. */
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "CREATE TABLE batches(x)", NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        assert_true(store_open(path, STORE_READWRITE, &s, &err) < 0);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "DROP TABLE batches", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        /* Still version 1 with every tag row: the next open migrates it. */
        assert_int_equal(store_open(path, STORE_READWRITE, &s, &err), 0);
        assert_non_null(store_open_note(s));
        assert_int_equal(store_meta_get(s, "schema", &v), 0);
        assert_string_equal(v, "2");
        free(v);
        put_epochs(s, N_MODEL);
        check_all(s, N_MODEL);
        store_close(s);
        rm_dir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_migrate_v1),
                cmocka_unit_test(test_read_v1_live),
                cmocka_unit_test(test_read_v1_damaged),
                cmocka_unit_test(test_refuse_newer),
                cmocka_unit_test(test_fresh_v2),
                cmocka_unit_test(test_migrate_fails_whole),
        };

        model_build();
        return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
