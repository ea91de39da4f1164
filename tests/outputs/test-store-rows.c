/* Tests of the store's multi-row record insert (outputs/store-records.c, issue 12): records
 * of a transaction are held and written STORE_REC_ROWS at a time. Against a model (every
 * record's values kept in memory, the table read back column by column through a plain
 * SQLite connection): random transactions of sizes around the row count, records from empty
 * to 70 KB, NULL and empty hosts, 0-3 criteria, epochs changing inside a transaction, reads
 * inside a transaction (they must see every record inserted before them), rollbacks, and a
 * duplicate seq inside a batch (the transaction fails as a whole). */
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_rows_model, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rows_duplicate, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
