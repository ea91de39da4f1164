/* The stager fed from memory (cli/exporter-stage.c, issue 12), with the real writer, store
 * and folder output: what the stager writes while the epoch is open never goes above the
 * durable watermark it was given, from the feed or from the store; with a feed too small
 * for the batches the records come from the store instead; and the sealed export holds
 * every record once, in order, as the store has them (records.jsonl and each tsc file).
 *
 * The writer's own watermark is held back here: the test forwards a lower seq to the
 * exporter, waits for a whole stager pass (exporter_stage_wait) and reads the staging
 * folder. A stager that wrote past the watermark, lost, doubled or reordered a record, or
 * never used the feed, fails; so does a storing thread whose failed transactions leave
 * records in the feed. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#define TEST_TMPDIR_PREFIX "gatelog-test-stage"
#include "tests/test-tmpdir.h"

#include "cli/exporter.h"
#include "cli/writer.h"
#include "core/buf.h"
#include "core/tm.h"
#include "outputs/outputs.h"
#include "seal/seal.h"

#define N_EVENTS 600
static const char *const crit_ids[3] = { "A1.2", "CC6.1", "CC7.2" };

static json *make_record(int i) {
        json *r = json_new_obj(), *c = json_new_arr();
        char msg[256];
        snprintf(msg, sizeof(msg), "event %d %.*s", i, 20 + (i * 37) % 180,
                 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
        json_obj_set_str(r, "message", msg);
        json_obj_set_str(r, "host", i % 2 ? "alpha" : "beta");
        for (int k = 0; k < 3; k++)
                if ((i % 8) & (1 << k))
                        json_arr_append(c, json_new_str(crit_ids[k]));
        json_obj_set(r, "criteria", c);
        return r;
}

struct fixture {
        char dir[64], db[128], exports[128];
        struct seal_key *key;
        struct writer_output out;
        struct writer_config cfg;
        struct writer *w;
        struct queue *q;
        struct exporter *x;
        _Atomic int64_t durable;  /* the writer's own watermark, not forwarded */
};

static void on_durable(void *ud, int64_t seq) {
        struct fixture *f = ud;
        atomic_store(&f->durable, seq);
}

/* In the test's own folder (tests/test-tmpdir.h): a failing test leaves nothing in /tmp. */
static void start(void **state, struct fixture *f, size_t feed_block, size_t feed_blocks) {
        char err[256] = "";
        uint8_t seed[32];

        test_tmpdir(state, f->dir);
        snprintf(f->db, sizeof(f->db), "%s/g.db", f->dir);
        snprintf(f->exports, sizeof(f->exports), "%s/exports", f->dir);
        for (int i = 0; i < 32; i++)
                seed[i] = (uint8_t)(i * 5 + 3);
        assert_int_equal(seal_key_from_seed(seed, &f->key), 0);
        f->out = (struct writer_output){ "local", exporter_folder_write, f->exports };
        f->cfg = (struct writer_config){
                .db_path = f->db, .chain = "unit", .epoch_us = 3600 * TM_USEC_PER_SEC,
                .key = f->key, .outputs = &f->out, .n_outputs = 1,
        };
        atomic_init(&f->durable, INT64_MIN);
        assert_int_equal(writer_open(&f->cfg, &f->w, err, sizeof(err)), 0);
        assert_int_equal(exporter_new(f->db, "unit", &f->out, 1, &f->x, err, sizeof(err)), 0);
        if (feed_block)
                assert_int_equal(exporter_set_feed(f->x, feed_block, feed_blocks), 0);
        assert_int_equal(exporter_start(f->x), 0);
        writer_on_sealed(f->w, exporter_kick, f->x);
        writer_set_feed(f->w, exporter_feed(f->x));
        writer_on_durable(f->w, on_durable, f);
        assert_int_equal(queue_new(4096, &f->q), 0);
        assert_int_equal(writer_start(f->w, f->q, NULL), 0);
}

static void stop(struct fixture *f) {
        char cmd[128];
        queue_close(f->q);
        assert_int_equal(writer_join(f->w), 0);
        exporter_stop(f->x);
        writer_free(f->w);
        exporter_free(f->x);
        queue_free(f->q, event_free_cb);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
        assert_int_equal(system(cmd), 0);
        seal_key_free(f->key);
}

/* Sends events [from, to) and waits until the writer made them durable. */
static void send(struct fixture *f, int from, int to) {
        int64_t now = tm_now_us();
        for (int i = from; i < to; i++) {
                struct event *e = event_new(make_record(i), now);
                while (queue_push(f->q, e) == -EAGAIN)
                        usleep(1000);
        }
        for (int t = 0; t < 30000 && atomic_load(&f->durable) < to - 1; t++)
                usleep(1000);
        assert_int_equal(atomic_load(&f->durable), to - 1);
}

/* The store's records in seq order, one line each (what an export in one go writes). */
static void store_lines(struct fixture *f, struct buf *all, const char *crit) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT data FROM records ORDER BY seq", -1, &st,
                                            NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                const char *d = sqlite3_column_blob(st, 0);
                size_t n = (size_t)sqlite3_column_bytes(st, 0);
                char q[32];
                snprintf(q, sizeof(q), "\"%s\"", crit ? crit : "");
                if (crit && !memmem(d, n, q, strlen(q)))
                        continue;
                assert_int_equal(buf_append(all, d, n), 0);
                assert_int_equal(buf_putc(all, '\n'), 0);
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
}

static void read_file(const char *path, struct buf *b) {
        FILE *fp = fopen(path, "rb");
        char chunk[65536];
        size_t n;
        assert_non_null(fp);
        while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
                assert_int_equal(buf_append(b, chunk, n), 0);
        fclose(fp);
}

/* The staging folder's records.jsonl temporary, read whole (empty when none yet). */
static void staged(struct fixture *f, struct buf *b) {
        DIR *d = opendir(f->exports);
        struct dirent *de;
        char sdir[512] = "";
        buf_reset(b);
        if (!d)
                return;  /* nothing staged yet */
        while ((de = readdir(d)))
                if (!strncmp(de->d_name, ".stage.chain=unit.epoch=", 24))
                        snprintf(sdir, sizeof(sdir), "%s/%s", f->exports, de->d_name);
        closedir(d);
        if (!sdir[0])
                return;
        d = opendir(sdir);
        assert_non_null(d);
        while ((de = readdir(d))) {
                if (!strncmp(de->d_name, ".records.jsonl.", 15)) {
                        char p[1024];
                        snprintf(p, sizeof(p), "%s/%s", sdir, de->d_name);
                        read_file(p, b);
                }
        }
        closedir(d);
}

/* The first `lines` lines of the store's records. */
static void first_lines(struct fixture *f, size_t lines, struct buf *out) {
        struct buf all = BUF_INIT;
        store_lines(f, &all, NULL);
        const char *p = all.data;
        for (size_t k = 0; k < lines; k++) {
                p = memchr(p, '\n', (size_t)(all.data + all.len - p));
                assert_non_null(p);
                p++;
        }
        buf_reset(out);
        assert_int_equal(buf_append(out, all.data, (size_t)(p - all.data)), 0);
        buf_free(&all);
}

/* Forwards seq as the watermark and checks the stage holds exactly the records up to it. */
static void stage_upto(struct fixture *f, int64_t seq, struct exporter_stage_counts *c) {
        struct buf got = BUF_INIT, want = BUF_INIT;
        exporter_durable(f->x, seq);
        exporter_stage_wait(f->x, c);
        staged(f, &got);
        if (getenv("TEST_VERBOSE"))
                fprintf(stderr, "upto %lld: feed %llu store %llu staged %zu bytes\n",
                        (long long)seq, (unsigned long long)c->from_feed,
                        (unsigned long long)c->from_store, got.len);
        first_lines(f, (size_t)seq + 1, &want);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
        buf_free(&got);
        buf_free(&want);
}

/* Seals, waits for the export, and compares it with the store. */
static void seal_and_check(struct fixture *f) {
        char cdir[256], edir[1024] = "", path[1536];
        struct stat sb;
        struct buf got = BUF_INIT, want = BUF_INIT;
        DIR *d;
        struct dirent *de;

        writer_request_seal(f->w);
        snprintf(cdir, sizeof(cdir), "%s/chain=unit", f->exports);
        for (int t = 0; t < 30000 && !edir[0]; t++) {
                if ((d = opendir(cdir))) {
                        while ((de = readdir(d)))
                                if (!strncmp(de->d_name, "epoch=", 6)) {
                                        snprintf(edir, sizeof(edir), "%s/%s", cdir, de->d_name);
                                        snprintf(path, sizeof(path), "%s/manifest.json", edir);
                                        if (stat(path, &sb) < 0)
                                                edir[0] = '\0';
                                        break;
                                }
                        closedir(d);
                }
                if (!edir[0])
                        usleep(1000);
        }
        assert_true(edir[0] != '\0');
        snprintf(path, sizeof(path), "%s/records.jsonl", edir);
        read_file(path, &got);
        store_lines(f, &want, NULL);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
        for (int k = 0; k < 3; k++) {
                buf_reset(&got);
                buf_reset(&want);
                snprintf(path, sizeof(path), "%s/tsc=%s/records.jsonl", edir, crit_ids[k]);
                read_file(path, &got);
                store_lines(f, &want, crit_ids[k]);
                assert_true(want.len > 0);
                assert_int_equal(got.len, want.len);
                assert_memory_equal(got.data, want.data, want.len);
        }
        buf_free(&got);
        buf_free(&want);
}

static void test_fed_from_memory_up_to_the_watermark(void **state) {
        (void)state;
        struct fixture f = { 0 };
        struct exporter_stage_counts c;
        start(state, &f, 0, 0);
        send(&f, 0, N_EVENTS);
        stage_upto(&f, 99, &c);              /* the writer made 600 durable; told 100 */
        assert_int_equal(c.from_feed, 100);
        assert_int_equal(c.from_store, 0);
        stage_upto(&f, N_EVENTS / 2 - 1, &c);
        stage_upto(&f, N_EVENTS - 1, &c);
        assert_int_equal(c.from_feed, N_EVENTS);
        assert_int_equal(c.from_store, 0);
        seal_and_check(&f);
        stop(&f);
}

static void test_feed_too_small_reads_the_store(void **state) {
        (void)state;
        struct fixture f = { 0 };
        struct exporter_stage_counts c;
        start(state, &f, 4096, 2);                  /* ~8 records a block: the batches overflow */
        send(&f, 0, N_EVENTS);
        stage_upto(&f, 149, &c);
        assert_true(c.from_store > 0);
        assert_int_equal(c.from_feed + c.from_store, 150);
        stage_upto(&f, N_EVENTS - 1, &c);
        assert_int_equal(c.from_feed + c.from_store, N_EVENTS);
        send(&f, N_EVENTS, 2 * N_EVENTS);    /* and again after a drained feed */
        stage_upto(&f, 2 * N_EVENTS - 1, &c);
        assert_int_equal(c.from_feed + c.from_store, 2 * N_EVENTS);
        seal_and_check(&f);
        stop(&f);
}

/* Runs sql on the test's own connection to the store. */
static void exec_sql(struct fixture *f, const char *sql) {
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        sqlite3_busy_timeout(db, 30000);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

/* Transactions that fail at their commit (a trigger refuses the epoch row while the test
 * says so) are rolled back and retried every second by the storing thread: the records it
 * wrote into the feed's tail for them must never be published (the feed's count stays put
 * while they fail), and after the store accepts them again each record is fed exactly
 * once, the stage holds exactly the store's records, none read back from the store. A
 * rollback that published, or kept, the failed tries' records counts them twice; one that
 * forgot published records makes holes read from the store. */
static void test_failed_commit_never_fed(void **state) {
        (void)state;
        struct fixture f = { 0 };
        struct exporter_stage_counts c;
        start(state, &f, 0, 0);
        send(&f, 0, 100);
        stage_upto(&f, 99, &c);
        assert_int_equal(c.fed, 100);
        exec_sql(&f, "CREATE TABLE failctl(x);"
                     "CREATE TRIGGER fail_epochs BEFORE INSERT ON epochs "
                     "WHEN EXISTS (SELECT 1 FROM failctl) "
                     "BEGIN SELECT RAISE(ABORT, 'test: the store refuses'); END;"
                     "INSERT INTO failctl VALUES(1);");
        int64_t now = tm_now_us();
        for (int i = 100; i < N_EVENTS; i++) {
                struct event *e = event_new(make_record(i), now);
                while (queue_push(f.q, e) == -EAGAIN)
                        usleep(1000);
        }
        usleep(2500 * 1000);  /* two or three failed tries */
        exporter_durable(f.x, N_EVENTS - 1);  /* a watermark past them changes nothing */
        exporter_stage_wait(f.x, &c);
        assert_int_equal(atomic_load(&f.durable), 99);
        assert_int_equal(c.fed, 100);
        assert_int_equal(c.dropped, 0);
        assert_int_equal(c.from_feed, 100);
        exec_sql(&f, "DELETE FROM failctl;");
        for (int t = 0; t < 30000 && atomic_load(&f.durable) < N_EVENTS - 1; t++)
                usleep(1000);
        assert_int_equal(atomic_load(&f.durable), N_EVENTS - 1);
        exec_sql(&f, "DROP TRIGGER fail_epochs; DROP TABLE failctl;");
        stage_upto(&f, N_EVENTS - 1, &c);
        assert_int_equal(c.fed, N_EVENTS);
        assert_int_equal(c.dropped, 0);
        assert_int_equal(c.from_feed, N_EVENTS);
        assert_int_equal(c.from_store, 0);
        seal_and_check(&f);
        stop(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fed_from_memory_up_to_the_watermark),
                cmocka_unit_test(test_feed_too_small_reads_the_store),
                cmocka_unit_test(test_failed_commit_never_fed),
        };
        return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
