/* Tests of outputs/store.c against a fresh database in a temporary folder: records with
 * criteria, the query table (criterion, host, time, sealed-only vs include_open, hostile
 * host strings), epochs, the outbox, meta, reopening, read-only refusal and schema checks. */
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

struct rec_def {
        int64_t seq, epoch, time;
        const char *host;
        const char *criteria[3];
};

/* Epoch 0 is sealed, epoch 1 open. Hosts include SQL-looking text that must stay data. */
static const struct rec_def recs[] = {
        { 0, 0, 1000, "web1", { "CC6.1" } },
        { 1, 0, 2000, "web2", { "CC6.1", "CC7.2" } },
        { 2, 0, 3000, NULL, { NULL } },
        { 3, 0, 4000, "x' OR '1'='1", { "CC7.2" } },
        { 4, 1, 5000, "web1", { "CC6.1" } },
        { 5, 1, 6000, "web1'); DROP TABLE records;--", { NULL } },
};
#define N_RECS (sizeof(recs) / sizeof(recs[0]))

static void rec_data(int64_t seq, char *out, size_t len)
{
        snprintf(out, len, "{\"msg\":\"record %lld\",\"seq\":%lld}", (long long)seq,
                 (long long)seq);
}

static void rec_leaf(int64_t seq, uint8_t leaf[HASH_LEN])
{
        memset(leaf, (int)(0xa0 + seq), HASH_LEN);
}

static size_t n_crit(const struct rec_def *d)
{
        size_t n = 0;

        while (n < 3 && d->criteria[n])
                n++;
        return n;
}

static void insert_all(struct store *s)
{
        assert_int_equal(store_begin(s), 0);
        for (size_t i = 0; i < N_RECS; i++) {
                char data[128];
                struct store_record r = {
                        .seq = recs[i].seq, .epoch = recs[i].epoch,
                        .received_us = recs[i].time + 1, .time_us = recs[i].time,
                        .host = recs[i].host, .criteria = recs[i].criteria,
                        .n_criteria = n_crit(&recs[i]),
                };
                rec_data(recs[i].seq, data, sizeof(data));
                r.data = data;
                r.len = strlen(data);
                rec_leaf(recs[i].seq, r.leaf);
                assert_int_equal(store_record_insert(s, &r), 0);
        }
        assert_int_equal(store_commit(s), 0);
}

static void put_epochs(struct store *s)
{
        struct store_epoch e0 = {
                .epoch = 0, .start_us = 0, .end_us = 3600000000, .first_seq = 0, .count = 4,
                .sealed = true, .stats = "{\"received\":4}", .manifest = "{\"epoch\":0}",
                .manifest_len = 11, .sealed_us = 3600000001,
        };
        struct store_epoch e1 = {
                .epoch = 1, .start_us = 3600000000, .end_us = 7200000000, .first_seq = 4,
                .count = 2, .stats = "{\"received\":2}",
        };

        memset(e0.root, 0x11, HASH_LEN);
        memset(e0.sig, 0x22, sizeof(e0.sig));
        assert_int_equal(store_epoch_put(s, &e0), 0);
        assert_int_equal(store_epoch_put(s, &e1), 0);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct store_error err;

        assert_non_null(f);
        strcpy(f->dir, "/tmp/gl-test-store-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/gatelog.db", f->dir);
        assert_int_equal(store_open(f->path, STORE_READWRITE, &f->s, &err), 0);
        insert_all(f->s);
        put_epochs(f->s);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[160];

        store_close(f->s);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* Collects seqs as "0,1,2" and checks each record's bytes and leaf on the way. */
struct collect {
        char seqs[256];
};

static int collect_cb(void *ud, const struct store_record *r)
{
        struct collect *c = ud;
        char data[128];
        uint8_t leaf[HASH_LEN];
        size_t n = strlen(c->seqs);

        rec_data(r->seq, data, sizeof(data));
        rec_leaf(r->seq, leaf);
        assert_int_equal(r->len, strlen(data));
        assert_memory_equal(r->data, data, r->len);
        assert_memory_equal(r->leaf, leaf, HASH_LEN);
        assert_int_equal(r->time_us, recs[r->seq].time);
        assert_int_equal(r->epoch, recs[r->seq].epoch);
        if (recs[r->seq].host)
                assert_string_equal(r->host, recs[r->seq].host);
        else
                assert_null(r->host);
        snprintf(c->seqs + n, sizeof(c->seqs) - n, "%s%lld", n ? "," : "", (long long)r->seq);
        return 0;
}

static const struct {
        const char *name;
        struct store_query q;
        const char *expected;
} query_cases[] = {
        { "all sealed", { NULL, NULL, INT64_MIN, INT64_MAX, false }, "0,1,2,3" },
        { "all with open", { NULL, NULL, INT64_MIN, INT64_MAX, true }, "0,1,2,3,4,5" },
        { "criterion sealed", { "CC6.1", NULL, INT64_MIN, INT64_MAX, false }, "0,1" },
        { "criterion with open", { "CC6.1", NULL, INT64_MIN, INT64_MAX, true }, "0,1,4" },
        { "second criterion", { "CC7.2", NULL, INT64_MIN, INT64_MAX, true }, "1,3" },
        { "unknown criterion", { "CC9.9", NULL, INT64_MIN, INT64_MAX, true }, "" },
        { "host sealed", { NULL, "web1", INT64_MIN, INT64_MAX, false }, "0" },
        { "host with open", { NULL, "web1", INT64_MIN, INT64_MAX, true }, "0,4" },
        { "injection host is data", { NULL, "x' OR '1'='1", INT64_MIN, INT64_MAX, true }, "3" },
        { "injection host no match", { NULL, "' OR 1=1 --", INT64_MIN, INT64_MAX, true }, "" },
        { "drop table host is data",
          { NULL, "web1'); DROP TABLE records;--", INT64_MIN, INT64_MAX, true }, "5" },
        { "time range half open", { NULL, NULL, 2000, 4000, true }, "1,2" },
        { "since only", { NULL, NULL, 3000, INT64_MAX, true }, "2,3,4,5" },
        { "since only sealed", { NULL, NULL, 3000, INT64_MAX, false }, "2,3" },
        { "until only", { NULL, NULL, INT64_MIN, 2000, false }, "0" },
        { "criterion and until", { "CC7.2", NULL, INT64_MIN, 3000, true }, "1" },
        { "criterion and host", { "CC6.1", "web1", INT64_MIN, INT64_MAX, true }, "0,4" },
        { "empty range", { NULL, NULL, 4000, 4000, true }, "" },
};

static void test_query_table(void **state)
{
        struct fixture *f = *state;

        for (size_t i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]); i++) {
                struct collect c = { "" };
                int r = store_query(f->s, &query_cases[i].q, collect_cb, &c);
                if (r != 0 || strcmp(c.seqs, query_cases[i].expected) != 0)
                        fail_msg("case \"%s\": r=%d got [%s] expected [%s]",
                                 query_cases[i].name, r, c.seqs, query_cases[i].expected);
        }
}

static int stop_cb(void *ud, const struct store_record *r)
{
        (*(int *)ud)++;
        return -ECANCELED;
}

static void test_records_foreach(void **state)
{
        struct fixture *f = *state;
        struct collect c = { "" };
        int calls = 0;
        int64_t max = 0;

        assert_int_equal(store_records_foreach(f->s, 0, collect_cb, &c), 0);
        assert_string_equal(c.seqs, "0,1,2,3");
        c.seqs[0] = '\0';
        assert_int_equal(store_records_foreach(f->s, 1, collect_cb, &c), 0);
        assert_string_equal(c.seqs, "4,5");
        /* A callback's negative return stops the walk and is returned. */
        assert_int_equal(store_records_foreach(f->s, 0, stop_cb, &calls), -ECANCELED);
        assert_int_equal(calls, 1);
        assert_int_equal(store_records_max_seq(f->s, &max), 0);
        assert_int_equal(max, 5);
}

struct leaves {
        char text[256];
};

static int leaves_cb(void *ud, int64_t seq, const uint8_t leaf[HASH_LEN],
                     const char *const *criteria, size_t n)
{
        struct leaves *l = ud;
        uint8_t want[HASH_LEN];
        size_t k = strlen(l->text);

        rec_leaf(seq, want);
        assert_memory_equal(leaf, want, HASH_LEN);
        k += (size_t)snprintf(l->text + k, sizeof(l->text) - k, "%lld[", (long long)seq);
        for (size_t i = 0; i < n; i++)
                k += (size_t)snprintf(l->text + k, sizeof(l->text) - k, "%s%s", i ? " " : "",
                                      criteria[i]);
        snprintf(l->text + k, sizeof(l->text) - k, "]");
        return 0;
}

static void test_records_leaves(void **state)
{
        struct fixture *f = *state;
        struct leaves l = { "" };

        assert_int_equal(store_records_leaves(f->s, 0, leaves_cb, &l), 0);
        assert_string_equal(l.text, "0[CC6.1]1[CC6.1 CC7.2]2[]3[CC7.2]");
        l.text[0] = '\0';
        assert_int_equal(store_records_leaves(f->s, 1, leaves_cb, &l), 0);
        assert_string_equal(l.text, "4[CC6.1]5[]");
        l.text[0] = '\0';
        assert_int_equal(store_records_leaves(f->s, 9, leaves_cb, &l), 0);
        assert_string_equal(l.text, "");
}

static void test_insert_duplicate_and_rollback(void **state)
{
        struct fixture *f = *state;
        struct store_record r = { .seq = 3, .epoch = 1, .data = "{}", .len = 2 };
        struct collect c = { "" };
        int64_t max = 0;

        assert_int_equal(store_record_insert(f->s, &r), -EEXIST);
        assert_int_equal(store_begin(f->s), 0);
        r.seq = 6;
        assert_int_equal(store_record_insert(f->s, &r), 0);
        assert_int_equal(store_rollback(f->s), 0);
        assert_int_equal(store_records_max_seq(f->s, &max), 0);
        assert_int_equal(max, 5);
        assert_int_equal(store_records_foreach(f->s, 1, collect_cb, &c), 0);
        assert_string_equal(c.seqs, "4,5");
}

/* issue 12: schema 2 indexes records per batch; a record stored outside a transaction gets
 * a transaction (and index rows) of its own. Ids with a space cannot be stored. */
static int seq_cb(void *ud, const struct store_record *r)
{
        char *text = ud;
        size_t k = strlen(text);

        snprintf(text + k, 64 - k, "%s%lld", k ? "," : "", (long long)r->seq);
        return 0;
}

static void test_insert_outside_transaction(void **state)
{
        struct fixture *f = *state;
        const char *ok[] = { "CC6.1" }, *bad[] = { "CC 6.1" };
        struct store_record r = { .seq = 6, .epoch = 1, .time_us = 7000, .data = "{}",
                                  .len = 2, .criteria = ok, .n_criteria = 1 };
        struct store_query q = { "CC6.1", NULL, INT64_MIN, INT64_MAX, true };
        char seen[64] = "";
        int64_t max = 0;

        assert_int_equal(store_record_insert(f->s, &r), 0);
        assert_int_equal(store_query(f->s, &q, seq_cb, seen), 0);
        assert_string_equal(seen, "0,1,4,6");
        seen[0] = '\0';
        q = (struct store_query){ NULL, NULL, 6500, 8000, true };
        assert_int_equal(store_query(f->s, &q, seq_cb, seen), 0);
        assert_string_equal(seen, "6");
        r.seq = 7;
        r.criteria = bad;
        assert_int_equal(store_record_insert(f->s, &r), -EINVAL);
        assert_int_equal(store_records_max_seq(f->s, &max), 0);
        assert_int_equal(max, 6);
}

struct epochs_seen {
        char text[128];
};

static int epochs_cb(void *ud, const struct store_epoch *e)
{
        struct epochs_seen *s = ud;
        size_t k = strlen(s->text);

        snprintf(s->text + k, sizeof(s->text) - k, "%lld:%s:%lld ", (long long)e->epoch,
                 e->sealed ? "sealed" : "open", (long long)e->count);
        return 0;
}

static int crit_cb(void *ud, const char *id, int64_t count)
{
        struct epochs_seen *s = ud;
        size_t k = strlen(s->text);

        snprintf(s->text + k, sizeof(s->text) - k, "%s=%lld ", id, (long long)count);
        return 0;
}

static void test_epochs(void **state)
{
        struct fixture *f = *state;
        struct store_epoch e = { 0 };
        struct epochs_seen seen = { "" };
        uint8_t root[HASH_LEN], sig[64];

        memset(root, 0x11, sizeof(root));
        memset(sig, 0x22, sizeof(sig));
        assert_int_equal(store_epoch_get(f->s, 0, &e), 0);
        assert_true(e.sealed);
        assert_int_equal(e.count, 4);
        assert_int_equal(e.end_us, 3600000000);
        assert_int_equal(e.sealed_us, 3600000001);
        assert_string_equal(e.stats, "{\"received\":4}");
        assert_int_equal(e.manifest_len, 11);
        assert_memory_equal(e.manifest, "{\"epoch\":0}", 11);
        assert_memory_equal(e.root, root, HASH_LEN);
        assert_memory_equal(e.sig, sig, 64);
        store_epoch_clear(&e);

        assert_int_equal(store_epoch_last(f->s, &e), 0);
        assert_int_equal(e.epoch, 1);
        assert_false(e.sealed);
        assert_null(e.manifest);
        assert_int_equal(e.first_seq, 4);
        store_epoch_clear(&e);
        store_epoch_clear(NULL);

        e.epoch = 42;
        assert_int_equal(store_epoch_get(f->s, 7, &e), -ENOENT);
        assert_int_equal(e.epoch, 42); /* untouched on failure */

        assert_int_equal(store_epochs_foreach(f->s, epochs_cb, &seen), 0);
        assert_string_equal(seen.text, "0:sealed:4 1:open:2 ");
        seen.text[0] = '\0';
        assert_int_equal(store_epoch_criteria(f->s, 0, crit_cb, &seen), 0);
        assert_string_equal(seen.text, "CC6.1=2 CC7.2=2 ");
        seen.text[0] = '\0';
        assert_int_equal(store_epoch_criteria(f->s, 1, crit_cb, &seen), 0);
        assert_string_equal(seen.text, "CC6.1=1 ");
}

static void test_epoch_last_empty(void **state)
{
        struct fixture *f = *state;
        char path[160];
        struct store *s = NULL;
        struct store_epoch e = { 0 };
        int64_t max = 0;

        snprintf(path, sizeof(path), "%s/empty.db", f->dir);
        assert_int_equal(store_open(path, STORE_READWRITE, &s, NULL), 0);
        assert_int_equal(store_epoch_last(s, &e), -ENOENT);
        assert_int_equal(store_records_max_seq(s, &max), 0);
        assert_int_equal(max, -1);
        store_close(s);
}

static int pending_cb(void *ud, int64_t epoch)
{
        size_t k = strlen(ud);

        snprintf((char *)ud + k, 64 - k, "%lld ", (long long)epoch);
        return 0;
}

static int outputs_cb(void *ud, const char *output, int64_t pending)
{
        size_t k = strlen(ud);

        snprintf((char *)ud + k, 64 - k, "%s=%lld ", output, (long long)pending);
        return 0;
}

static void test_outbox(void **state)
{
        struct fixture *f = *state;
        char seen[64] = "";
        int64_t n = -1;

        assert_int_equal(store_outbox_add(f->s, "folder", 1), 0);
        assert_int_equal(store_outbox_add(f->s, "folder", 0), 0);
        assert_int_equal(store_outbox_add(f->s, "s3", 0), 0);
        assert_int_equal(store_outbox_pending(f->s, "folder", pending_cb, seen), 0);
        assert_string_equal(seen, "0 1 ");
        assert_int_equal(store_outbox_backlog(f->s, "folder", &n), 0);
        assert_int_equal(n, 2);

        assert_int_equal(store_outbox_done(f->s, "folder", 0), 0);
        assert_int_equal(store_outbox_failed(f->s, "folder", 1, "disk full"), 0);
        seen[0] = '\0';
        assert_int_equal(store_outbox_pending(f->s, "folder", pending_cb, seen), 0);
        assert_string_equal(seen, "1 ");
        assert_int_equal(store_outbox_backlog(f->s, "folder", &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(store_outbox_backlog(f->s, "nowhere", &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(store_outbox_done(f->s, "folder", 9), -ENOENT);
        assert_int_equal(store_outbox_failed(f->s, "nowhere", 0, "x"), -ENOENT);

        seen[0] = '\0';
        assert_int_equal(store_outbox_outputs(f->s, outputs_cb, seen), 0);
        assert_string_equal(seen, "folder=1 s3=1 ");
        /* Queuing a done epoch again makes it pending again (a re-export). */
        assert_int_equal(store_outbox_add(f->s, "folder", 0), 0);
        assert_int_equal(store_outbox_backlog(f->s, "folder", &n), 0);
        assert_int_equal(n, 2);
}

static void test_meta(void **state)
{
        struct fixture *f = *state;
        char *v = NULL;

        assert_int_equal(store_meta_get(f->s, "chain", &v), -ENOENT);
        assert_null(v);
        assert_int_equal(store_meta_set(f->s, "chain", "prod'; --"), 0);
        assert_int_equal(store_meta_get(f->s, "chain", &v), 0);
        assert_string_equal(v, "prod'; --");
        free(v);
        assert_int_equal(store_meta_set(f->s, "chain", "prod2"), 0);
        assert_int_equal(store_meta_get(f->s, "chain", &v), 0);
        assert_string_equal(v, "prod2");
        free(v);
        assert_int_equal(store_meta_get(f->s, "schema", &v), 0);
        assert_string_equal(v, "2");
        free(v);
}

static void test_reopen_and_readonly(void **state)
{
        struct fixture *f = *state;
        struct store *ro = NULL;
        struct store_error err;
        struct collect c = { "" };
        struct store_query q = { NULL, NULL, INT64_MIN, INT64_MAX, true };
        struct store_record r = { .seq = 10, .epoch = 1, .data = "{}", .len = 2 };
        char *v = NULL;

        /* A reader next to the live writer (WAL) sees committed data. */
        assert_int_equal(store_meta_set(f->s, "chain", "c1"), 0);
        assert_int_equal(store_open(f->path, STORE_READONLY, &ro, &err), 0);
        assert_int_equal(store_query(ro, &q, collect_cb, &c), 0);
        assert_string_equal(c.seqs, "0,1,2,3,4,5");
        assert_int_equal(store_meta_get(ro, "chain", &v), 0);
        assert_string_equal(v, "c1");
        free(v);
        assert_true(store_record_insert(ro, &r) < 0);
        assert_true(store_meta_set(ro, "chain", "c2") < 0);
        assert_true(store_epoch_put(ro, &(struct store_epoch){ .epoch = 5 }) < 0);
        assert_true(store_outbox_add(ro, "folder", 0) < 0);
        assert_true(strlen(store_errmsg(ro)) > 0);
        store_close(ro);

        /* Closing and opening again keeps everything. */
        store_close(f->s);
        f->s = NULL;
        assert_int_equal(store_open(f->path, STORE_READWRITE, &f->s, &err), 0);
        c.seqs[0] = '\0';
        assert_int_equal(store_query(f->s, &q, collect_cb, &c), 0);
        assert_string_equal(c.seqs, "0,1,2,3,4,5");
        assert_int_equal(store_meta_get(f->s, "chain", &v), 0);
        assert_string_equal(v, "c1");
        free(v);
}

/* The page size SQLite reports for the file at path (a reader of its own). */
static int file_page_size(const char *path)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int n = -1;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL), SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return n;
}

/* issue 12: new databases get 16 KiB pages; a file that already has pages keeps its size
 * (SQLite cannot change it in place, and readers never depend on it) and works as before. */
static void test_page_size(void **state)
{
        struct fixture *f = *state;
        char old[160];
        struct store *s = NULL;
        struct store_error err;
        struct collect c = { "" };
        struct store_query q = { NULL, NULL, INT64_MIN, INT64_MAX, true };
        sqlite3 *db = NULL;

        assert_int_equal(file_page_size(f->path), 16384);
        /* A file written with 4 KiB pages before the store ever opened it. */
        snprintf(old, sizeof(old), "%s/old.db", f->dir);
        assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;"
                                          "CREATE TABLE t(x); DROP TABLE t;",
                                      NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(file_page_size(old), 4096);
        assert_int_equal(store_open(old, STORE_READWRITE, &s, &err), 0);
        assert_int_equal(store_checkpoint_in_background(s), 0);
        insert_all(s);
        assert_int_equal(store_query(s, &q, collect_cb, &c), 0);
        assert_string_equal(c.seqs, "0,1,2,3,4,5");
        store_close(s);
        assert_int_equal(file_page_size(old), 4096);
}

enum { BIG_N = 6000, BIG_LEN = 8000 };

static int big_record(int64_t seq, char *out, size_t len)
{
        return snprintf(out, len, "{\"pad\":\"%0*d\",\"seq\":%lld}", BIG_LEN, 0,
                        (long long)seq);
}

struct big_check {
        char buf[BIG_LEN + 64];
        size_t seen;
};

static int big_check_cb(void *ud, const struct store_record *r)
{
        struct big_check *c = ud;

        if (r->seq < 100)
                return 0;
        int n = big_record(r->seq, c->buf, sizeof(c->buf));
        assert_int_equal(r->seq, 100 + (int64_t)c->seen);
        assert_int_equal(r->len, (size_t)n);
        assert_memory_equal(r->data, c->buf, r->len);
        c->seen++;
        return 0;
}

/* issue 12: with 16 KiB pages and the background checkpointer, a WAL several times
 * STORE_CKPT_BYTES (16 MiB) long is checkpointed and every record reads back whole and in
 * order after a reopen. */
static void test_checkpoints_large(void **state)
{
        struct fixture *f = *state;
        struct big_check *c = calloc(1, sizeof(*c));
        struct store_error err;

        assert_non_null(c);
        assert_int_equal(store_checkpoint_in_background(f->s), 0);
        for (int64_t b = 0; b < BIG_N; b += 500) {
                assert_int_equal(store_begin(f->s), 0);
                for (int64_t seq = 100 + b; seq < 100 + b + 500; seq++) {
                        struct store_record r = { .seq = seq, .epoch = 1, .data = c->buf };
                        r.len = (size_t)big_record(seq, c->buf, sizeof(c->buf));
                        rec_leaf(seq, r.leaf);
                        assert_int_equal(store_record_insert(f->s, &r), 0);
                }
                assert_int_equal(store_commit(f->s), 0);
        }
        store_close(f->s);
        f->s = NULL;
        assert_int_equal(store_open(f->path, STORE_READONLY, &f->s, &err), 0);
        assert_int_equal(store_records_foreach(f->s, 1, big_check_cb, c), 0);
        assert_int_equal(c->seen, BIG_N);
        free(c);
}

static void test_open_refusals(void **state)
{
        struct fixture *f = *state;
        struct store *s = (struct store *)0x1;
        struct store_error err;
        char path[160];
        sqlite3 *db;

        snprintf(path, sizeof(path), "%s/missing.db", f->dir);
        assert_int_equal(store_open(path, STORE_READONLY, &s, &err), -ENOENT);
        assert_ptr_equal(s, (struct store *)0x1);
        assert_int_equal(access(path, F_OK), -1); /* read-only never creates */

        /* Another schema version is refused, read-only and read-write alike. */
        assert_int_equal(store_meta_set(f->s, "schema", "3"), 0);
        assert_int_equal(store_open(f->path, STORE_READONLY, &s, &err), -EPROTO);
        assert_non_null(strstr(err.msg, "version"));
        assert_int_equal(store_open(f->path, STORE_READWRITE, &s, &err), -EPROTO);
        assert_int_equal(store_meta_set(f->s, "schema", "2"), 0);

        /* Some other application's SQLite file. */
        snprintf(path, sizeof(path), "%s/other.db", f->dir);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(store_open(path, STORE_READWRITE, &s, &err), -EPROTO);
        assert_int_equal(store_open(path, STORE_READONLY, &s, &err), -EPROTO);

        /* Not SQLite at all. */
        snprintf(path, sizeof(path), "%s/junk.db", f->dir);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs("this is not a database, just some text that is long enough to matter....\n"
              "...............................................................\n", fp);
        fclose(fp);
        assert_true(store_open(path, STORE_READONLY, &s, &err) < 0);
        assert_ptr_equal(s, (struct store *)0x1);
        store_close(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_query_table, setup, teardown),
                cmocka_unit_test_setup_teardown(test_records_foreach, setup, teardown),
                cmocka_unit_test_setup_teardown(test_records_leaves, setup, teardown),
                cmocka_unit_test_setup_teardown(test_insert_duplicate_and_rollback, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_insert_outside_transaction, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_epochs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_epoch_last_empty, setup, teardown),
                cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),
                cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reopen_and_readonly, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_page_size, setup, teardown),
                cmocka_unit_test_setup_teardown(test_checkpoints_large, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
