/* Tests of the store's multi-row record insert (outputs/store-records.c, issue 12): records
 * of a transaction are held and written STORE_REC_ROWS at a time. Against a model (every
 * record's values kept in memory, the table read back column by column through a plain
 * SQLite connection): random transactions of sizes around the row count, records from empty
 * to 70 KB, NULL and empty hosts, 0-3 criteria, epochs changing inside a transaction, reads
 * inside a transaction (they must see every record inserted before them), rollbacks, and a
 * duplicate seq inside a batch (the transaction fails as a whole). Round 11: rows whose
 * seqs follow the table's highest are appended without their seq (SQLite numbers them):
 * test_rows_seqs drives seqs with gaps, holes filled later, negative and zero seqs, an
 * empty table, rollbacks and rows another connection wrote between transactions, and
 * checks that every row is the record of its own seq and that appends did happen. */
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
#include "outputs/store-internal.h"  /* the appended-rows count (struct store) */

struct fixture {
        char dir[64];
        char path[128];
        struct store *s;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct store_error err;

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/gatelog-rows-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
        assert_int_equal(store_open(f->path, STORE_READWRITE, &f->s, &err), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[128];

        store_close(f->s);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* The model: what each committed seq must hold. */
struct model_rec {
        int64_t seq, epoch, received, time;
        char *host;          /* NULL: SQL NULL */
        char crit[64];       /* "" : SQL NULL */
        uint8_t leaf[HASH_LEN];
        char *data;
        size_t len;
};

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
        rnd_state ^= rnd_state << 13;
        rnd_state ^= rnd_state >> 7;
        rnd_state ^= rnd_state << 17;
        return rnd_state;
}

static const char *const ids[] = { "CC6.1", "CC6.6", "CC7.2", "A1.2", "PI1.3" };

/* A random record of seq in m (malloc'd members), and the store_record pointing at scratch
 * copies that the caller scribbles over after the insert. */
static void make_rec(struct model_rec *m, int64_t seq, int64_t epoch, struct store_record *r,
                     char *data_buf, char *host_buf, const char **crit)
{
        uint64_t k = rnd();
        size_t len = k % 7 == 0 ? 0 : k % 11 == 0 ? 20000 + rnd() % 50000 : rnd() % 1500;
        size_t nc = rnd() % 4;

        *m = (struct model_rec){ .seq = seq, .epoch = epoch, .received = (int64_t)rnd() >> 8,
                                 .time = (int64_t)(rnd() % 1000000), .len = len };
        m->data = malloc(len + 1);
        assert_non_null(m->data);
        for (size_t i = 0; i < len; i++)
                m->data[i] = (char)(' ' + rnd() % 90);
        switch (rnd() % 4) {
        case 0: m->host = NULL; break;
        case 1: m->host = strdup(""); break;
        default:
                m->host = malloc(40);
                assert_non_null(m->host);
                snprintf(m->host, 40, "host-%llu", (unsigned long long)(rnd() % 1000));
                break;
        }
        for (size_t i = 0; i < nc; i++)
                crit[i] = ids[rnd() % 5];
        for (size_t i = 0; i < nc; i++) {
                size_t n = strlen(m->crit);
                snprintf(m->crit + n, sizeof(m->crit) - n, "%s%s", i ? " " : "", crit[i]);
        }
        for (size_t i = 0; i < HASH_LEN; i++)
                m->leaf[i] = (uint8_t)rnd();
        memcpy(data_buf, m->data, len);
        if (m->host)
                strcpy(host_buf, m->host);
        *r = (struct store_record){ .seq = seq, .epoch = epoch, .received_us = m->received,
                                    .time_us = m->time, .host = m->host ? host_buf : NULL,
                                    .data = len ? data_buf : NULL, .len = len,
                                    .criteria = crit, .n_criteria = nc };
        memcpy(r->leaf, m->leaf, HASH_LEN);
}

static void model_free(struct model_rec *m)
{
        free(m->host);
        free(m->data);
        m->host = m->data = NULL;
}

/* Every row of the table, in seq order, equals the model's committed records [0, n). */
static void check_table(const char *path, const struct model_rec *m, size_t n)
{
        sqlite3 *db;
        sqlite3_stmt *st;
        size_t i = 0;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq, epoch, received, time, host, leaf, "
                                            "criteria, data, typeof(data) FROM records "
                                            "ORDER BY seq", -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                assert_true(i < n);
                const struct model_rec *e = &m[i++];
                assert_int_equal(sqlite3_column_int64(st, 0), e->seq);
                assert_int_equal(sqlite3_column_int64(st, 1), e->epoch);
                assert_int_equal(sqlite3_column_int64(st, 2), e->received);
                assert_int_equal(sqlite3_column_int64(st, 3), e->time);
                if (e->host) {
                        assert_int_equal(sqlite3_column_type(st, 4), SQLITE_TEXT);
                        assert_string_equal((const char *)sqlite3_column_text(st, 4), e->host);
                } else {
                        assert_int_equal(sqlite3_column_type(st, 4), SQLITE_NULL);
                }
                assert_int_equal(sqlite3_column_bytes(st, 5), HASH_LEN);
                assert_memory_equal(sqlite3_column_blob(st, 5), e->leaf, HASH_LEN);
                if (e->crit[0]) {
                        assert_int_equal(sqlite3_column_type(st, 6), SQLITE_TEXT);
                        assert_string_equal((const char *)sqlite3_column_text(st, 6), e->crit);
                } else {
                        assert_int_equal(sqlite3_column_type(st, 6), SQLITE_NULL);
                }
                assert_string_equal((const char *)sqlite3_column_text(st, 8), "blob");
                assert_int_equal((size_t)sqlite3_column_bytes(st, 7), e->len);
                if (e->len)
                        assert_memory_equal(sqlite3_column_blob(st, 7), e->data, e->len);
        }
        assert_int_equal(i, n);
        sqlite3_finalize(st);
        sqlite3_close(db);
}

#define MODEL_MAX 3000

static void test_rows_model(void **state)
{
        struct fixture *f = *state;
        static const size_t sizes[] = { 0, 1, 15, 16, 17, 31, 32, 33, 48, 100 };
        struct model_rec *m = calloc(MODEL_MAX, sizeof(*m));
        char *data_buf = malloc(80000), host_buf[64];
        size_t n = 0;
        int64_t seq = 1, epoch = 1;

        assert_non_null(m);
        assert_non_null(data_buf);
        for (int t = 0; t < 60 && n + 120 < MODEL_MAX; t++) {
                size_t k = t < 10 ? sizes[t] : rnd() % 3 == 0 ? sizes[rnd() % 10] : rnd() % 70;
                bool rollback = rnd() % 6 == 0;
                assert_int_equal(store_begin(f->s), 0);
                for (size_t i = 0; i < k; i++) {
                        const char *crit[4];
                        struct store_record r;
                        if (rnd() % 40 == 0)
                                epoch++;  /* the store takes any epoch per record */
                        make_rec(&m[n + i], seq + (int64_t)i, epoch, &r, data_buf, host_buf,
                                 crit);
                        assert_int_equal(store_record_insert(f->s, &r), 0);
                        /* The record is the store's now: the caller's buffers are free. */
                        memset(data_buf, '#', r.len);
                        memset(host_buf, '#', sizeof(host_buf) - 1);
                        host_buf[sizeof(host_buf) - 1] = '\0';
                        if (rnd() % 10 == 0) {  /* a read sees every record before it */
                                int64_t max = -1;
                                assert_int_equal(store_records_max_seq(f->s, &max), 0);
                                assert_int_equal(max, seq + (int64_t)i);
                        }
                }
                if (rollback) {
                        assert_int_equal(store_rollback(f->s), 0);
                        for (size_t i = 0; i < k; i++)
                                model_free(&m[n + i]);
                } else {
                        assert_int_equal(store_commit(f->s), 0);
                        n += k;
                        seq += (int64_t)k;
                }
        }
        check_table(f->path, m, n);
        for (size_t i = 0; i < n; i++)
                model_free(&m[i]);
        free(m);
        free(data_buf);
}

/* Inserts seqs from..to (inclusive) as minimal records; the first error is returned. */
static int insert_range(struct store *s, int64_t from, int64_t to)
{
        for (int64_t q = from; q <= to; q++) {
                struct store_record r = { .seq = q, .epoch = 1, .data = "{}", .len = 2 };
                int ret = store_record_insert(s, &r);
                if (ret < 0)
                        return ret;
        }
        return 0;
}

static int64_t count_rows(struct store *s)
{
        int64_t max = -1;

        assert_int_equal(store_records_max_seq(s, &max), 0);
        return max;
}

/* A duplicate seq inside a batch of STORE_REC_ROWS fails the insert that writes the batch,
 * and one among fewer pending rows fails the commit; each transaction rolls back whole and
 * the next one starts clean. */
static void test_rows_duplicate(void **state)
{
        struct fixture *f = *state;
        struct store_record dup = { .seq = 5, .epoch = 1, .data = "{}", .len = 2 };

        assert_int_equal(store_begin(f->s), 0);
        assert_int_equal(insert_range(f->s, 1, 20), 0);
        assert_int_equal(store_commit(f->s), 0);

        /* 9 new rows, the duplicate, then new rows until the batch is written. */
        assert_int_equal(store_begin(f->s), 0);
        assert_int_equal(insert_range(f->s, 21, 29), 0);
        assert_int_equal(store_record_insert(f->s, &dup), 0);  /* pending: not yet seen */
        assert_int_equal(insert_range(f->s, 30, 100), -EEXIST);
        assert_int_equal(store_rollback(f->s), 0);
        assert_int_equal(count_rows(f->s), 20);

        /* Fewer than a batch pending: the commit writes them and fails. */
        assert_int_equal(store_begin(f->s), 0);
        assert_int_equal(insert_range(f->s, 21, 23), 0);
        assert_int_equal(store_record_insert(f->s, &dup), 0);
        assert_int_equal(store_commit(f->s), -EEXIST);
        assert_int_equal(store_rollback(f->s), 0);
        assert_int_equal(count_rows(f->s), 20);

        /* Outside a transaction the record is written at once. */
        assert_int_equal(store_record_insert(f->s, &dup), -EEXIST);
        assert_int_equal(count_rows(f->s), 20);

        /* Nothing of the failed ones is left pending. */
        assert_int_equal(store_begin(f->s), 0);
        assert_int_equal(insert_range(f->s, 21, 60), 0);
        assert_int_equal(store_commit(f->s), 0);
        assert_int_equal(count_rows(f->s), 60);
}

/* The next seqs of test_rows_seqs: mostly one after another (the writer's), sometimes a
 * gap forward, sometimes a hole below the highest filled; the holes left are remembered. */
#define HOLES_MAX 4096
struct seqgen {
        int64_t next;               /* above every seq used */
        int64_t holes[HOLES_MAX];   /* unused seqs below next */
        size_t n_holes;
};

static int64_t seqgen_take(struct seqgen *g)
{
        uint64_t k = rnd() % 100;

        if (k < 2 && g->n_holes) {
                size_t i = rnd() % g->n_holes;
                int64_t q = g->holes[i];
                g->holes[i] = g->holes[--g->n_holes];
                return q;
        }
        if (k < 4) {  /* a gap: its seqs become holes */
                int64_t gap = 1 + (int64_t)(rnd() % 40);
                for (int64_t q = g->next; q < g->next + gap && g->n_holes < HOLES_MAX; q++)
                        g->holes[g->n_holes++] = q;
                g->next += gap;
        }
        return g->next++;
}

/* A row written by another connection between the store's transactions (its seq taken
 * from g as the store's are), so that the table's highest seq is not the store's last. */
static void foreign_row(const char *path, const struct model_rec *m)
{
        sqlite3 *db;
        sqlite3_stmt *st;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO records(seq, epoch, received, time, "
                                            "host, leaf, criteria, data) VALUES(?,?,?,?,?,?,?,?)",
                                            -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_int64(st, 1, m->seq);
        sqlite3_bind_int64(st, 2, m->epoch);
        sqlite3_bind_int64(st, 3, m->received);
        sqlite3_bind_int64(st, 4, m->time);
        if (m->host)
                sqlite3_bind_text(st, 5, m->host, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, m->leaf, HASH_LEN, SQLITE_STATIC);
        if (m->crit[0])
                sqlite3_bind_text(st, 7, m->crit, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 8, m->len ? m->data : "", (int)m->len, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        sqlite3_close(db);
}

static int model_cmp(const void *a, const void *b)
{
        const struct model_rec *x = a, *y = b;

        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One run of test_rows_seqs on a fresh store at path, seqs from start. */
static void seqs_run(const char *path, int64_t start)
{
        struct store *s;
        struct store_error err;
        struct model_rec *m = calloc(MODEL_MAX, sizeof(*m));
        struct seqgen *g = calloc(1, sizeof(*g)), *saved = calloc(1, sizeof(*g));
        char *data_buf = malloc(80000), host_buf[64];
        size_t n = 0;
        int64_t epoch = 1;

        assert_non_null(m);
        assert_non_null(g);
        assert_non_null(saved);
        assert_non_null(data_buf);
        assert_int_equal(store_open(path, STORE_READWRITE, &s, &err), 0);
        g->next = start;
        for (int t = 0; t < 80 && n + 120 < MODEL_MAX; t++) {
                size_t k = rnd() % 3 == 0 ? 1 + rnd() % 40 : rnd() % 100;
                bool rollback = rnd() % 6 == 0, own = rnd() % 8 == 0;
                const char *crit[4];
                struct store_record r;
                if (t > 0 && rnd() % 5 == 0) {  /* another connection's row */
                        make_rec(&m[n], seqgen_take(g), epoch, &r, data_buf, host_buf, crit);
                        foreign_row(path, &m[n++]);
                }
                if (rnd() % 10 == 0)
                        epoch++;
                if (own) {  /* outside a transaction: one each, committed at once */
                        for (size_t i = 0; i < k % 20; i++) {
                                make_rec(&m[n], seqgen_take(g), epoch, &r, data_buf, host_buf,
                                         crit);
                                assert_int_equal(store_record_insert(s, &r), 0);
                                n++;
                        }
                        continue;
                }
                *saved = *g;
                assert_int_equal(store_begin(s), 0);
                for (size_t i = 0; i < k; i++) {
                        make_rec(&m[n + i], seqgen_take(g), epoch, &r, data_buf, host_buf, crit);
                        assert_int_equal(store_record_insert(s, &r), 0);
                        memset(data_buf, '#', r.len);
                        memset(host_buf, '#', sizeof(host_buf) - 1);
                        host_buf[sizeof(host_buf) - 1] = '\0';
                }
                if (rollback) {
                        assert_int_equal(store_rollback(s), 0);
                        for (size_t i = 0; i < k; i++)
                                model_free(&m[n + i]);
                        *g = *saved;  /* the seqs are free again */
                } else {
                        assert_int_equal(store_commit(s), 0);
                        n += k;
                }
        }
        qsort(m, n, sizeof(*m), model_cmp);
        check_table(path, m, n);
        /* Most rows followed the highest seq: they went the append path. */
        assert_true(s->pend.appended > n / 2);
        store_close(s);
        for (size_t i = 0; i < n; i++)
                model_free(&m[i]);
        free(m);
        free(g);
        free(saved);
        free(data_buf);
}

static void test_rows_seqs(void **state)
{
        struct fixture *f = *state;
        static const int64_t starts[] = { 1, 0, -5, 2, 1000000 };
        char path[160];

        for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
                snprintf(path, sizeof(path), "%s/seqs%zu.db", f->dir, i);
                seqs_run(path, starts[i]);
        }
}

/* Another connection's row above the store's last seq, written between transactions: the
 * store's next rows follow its own last seq, not the table's highest, so they go with their
 * seqs (read once per transaction, not remembered across them); numbered by SQLite they
 * would land after the other row. */
/* The store's rows 1..20 committed, then another connection's row at seq 40, its data
 * not "{}" (the store's rows are), so that a count tells them apart. */
static void rows_then_foreign_40(struct fixture *f)
{
        struct model_rec m[1] = { 0 };
        char *data = malloc(80000), host[64];
        const char *crit[4];
        struct store_record r;

        assert_non_null(data);
        assert_int_equal(store_begin(f->s), 0);
        assert_int_equal(insert_range(f->s, 1, 20), 0);
        assert_int_equal(store_commit(f->s), 0);
        make_rec(&m[0], 40, 1, &r, data, host, crit);
        memcpy(m[0].data, "[]", m[0].len < 2 ? m[0].len : 2);
        foreign_row(f->path, &m[0]);
        model_free(&m[0]);
        free(data);
}

static void test_rows_foreign_max(void **state)
{
        struct fixture *f = *state;

        rows_then_foreign_40(f);
        assert_int_equal(store_begin(f->s), 0);
        assert_int_equal(insert_range(f->s, 21, 36), 0);
        assert_int_equal(store_commit(f->s), 0);
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), min(seq), max(seq), "
                                            "sum(data = x'7b7d') FROM records", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(st, 0), 37);
        assert_int_equal(sqlite3_column_int64(st, 1), 1);
        assert_int_equal(sqlite3_column_int64(st, 2), 40);
        assert_int_equal(sqlite3_column_int64(st, 3), 36);  /* 1..36 are the store's */
        sqlite3_finalize(st);
        sqlite3_close(db);
        /* And the next transaction appends after the other row. */
        assert_int_equal(store_begin(f->s), 0);
        assert_int_equal(insert_range(f->s, 41, 80), 0);
        assert_int_equal(store_commit(f->s), 0);
        assert_int_equal(count_rows(f->s), 80);
}

/* The check behind the append path: rows SQLite numbered other than their seqs (here a
 * highest seq made stale by hand, as a bookkeeping error would) fail the insert, full batch
 * or one row, and the transaction rolls back whole. */
static void test_rows_append_check(void **state)
{
        struct fixture *f = *state;

        rows_then_foreign_40(f);
        for (int64_t n = 16; n >= 3; n -= 13) {  /* a full batch, then 3 single rows */
                assert_int_equal(store_begin(f->s), 0);
                f->s->pend.max_known = true;
                f->s->pend.max_seq = 20;  /* stale: the table's highest is 40 */
                int ret = insert_range(f->s, 21, 20 + n);
                if (ret == 0)
                        ret = store_commit(f->s);
                assert_int_equal(ret, -EIO);
                assert_int_equal(store_rollback(f->s), 0);
                assert_int_equal(count_rows(f->s), 40);
                sqlite3 *db;
                sqlite3_stmt *st;
                assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL),
                                 SQLITE_OK);
                assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM records", -1, &st,
                                                    NULL), SQLITE_OK);
                assert_int_equal(sqlite3_step(st), SQLITE_ROW);
                assert_int_equal(sqlite3_column_int64(st, 0), 21);
                sqlite3_finalize(st);
                sqlite3_close(db);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_rows_model, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rows_duplicate, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rows_seqs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rows_foreign_max, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rows_append_check, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
