/* The writer against the verifier and a naive model.
 *
 * Records with criteria go through the real writer thread (queue, SQLite, incremental trees,
 * sealing, folder export); a second writer reopens the store mid-epoch and must rebuild the
 * open epoch's trees, criteria included. Then every sealed epoch, from the database and from
 * the export, must pass the verifier, and the per-criterion counts and roots in the manifests
 * must equal a model recomputed here from the records with merkle_root_of. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

#define TEST_TMPDIR_PREFIX "gatelog-test-writer"
#include "tests/test-tmpdir.h"

#include "cli/exporter.h"
#include "cli/writer-map.h"
#include "cli/writer.h"
#include "core/limits.h"
#include "core/metrics.h"
#include "core/tm.h"
#include "seal/seal.h"
#include "outputs/outputs.h"

#define N_CRIT 3
static const char *const crit_ids[N_CRIT] = { "A1.2", "CC6.1", "CC7.2" };

/* Record i is tagged with criterion k when bit k of (i % 8) is set. */
static json *make_record(int i) {
        json *r = json_new_obj(), *c = json_new_arr();
        char msg[64];
        snprintf(msg, sizeof(msg), "event %d", i);
        json_obj_set_str(r, "message", msg);
        json_obj_set_str(r, "host", i % 2 ? "alpha" : "beta");
        json_obj_set_str(r, "time", "2026-01-02T03:04:05.000000Z");
        for (int k = 0; k < N_CRIT; k++)
                if ((i % 8) & (1 << k))
                        json_arr_append(c, json_new_str(crit_ids[k]));
        json_obj_set(r, "criteria", c);
        json_obj_set(r, "flags", json_new_arr());
        return r;
}

struct fixture {
        char dir[64], db[128], exports[128];
        struct seal_key *key;
        uint8_t pk[SEAL_PK_LEN];
        struct writer_output out;
        struct writer_config cfg;
};

/* The test's own folder (tests/test-tmpdir.h): a failing test leaves nothing in /tmp. */
static void fixture_init(void **state, struct fixture *f) {
        test_tmpdir(state, f->dir);
        snprintf(f->db, sizeof(f->db), "%s/g.db", f->dir);
        snprintf(f->exports, sizeof(f->exports), "%s/exports", f->dir);
        uint8_t seed[32];
        for (int i = 0; i < 32; i++)
                seed[i] = (uint8_t)(i * 7 + 1);
        assert_int_equal(seal_key_from_seed(seed, &f->key), 0);
        seal_key_public(f->key, f->pk);
        f->out = (struct writer_output){ "local", exporter_folder_write, f->exports };
        f->cfg = (struct writer_config){
                .db_path = f->db, .chain = "unit", .epoch_us = 3600 * TM_USEC_PER_SEC,
                .key = f->key, .outputs = &f->out, .n_outputs = 1,
        };
}

static void fixture_free(struct fixture *f) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
        assert_int_equal(system(cmd), 0);
        seal_key_free(f->key);
}

/* Runs a writer thread over events [from, to), sealing after each `seal_every` events. */
static void run_writer(struct fixture *f, int from, int to, int seal_every, bool seal_at_end) {
        struct writer *w = NULL;
        struct queue *q = NULL;
        struct drop_counters drops = { { 0 } };
        char err[256] = "";
        assert_int_equal(writer_open(&f->cfg, &w, err, sizeof(err)), 0);
        assert_int_equal(queue_new(64, &q), 0);
        assert_int_equal(writer_start(w, q, &drops), 0);
        int64_t now = tm_now_us();
        for (int i = from; i < to; i++) {
                struct event *e = event_new(make_record(i), now);
                while (queue_push(q, e) == -EAGAIN)
                        usleep(1000);
                if (seal_every && (i - from + 1) % seal_every == 0) {
                        int64_t before = writer_sealed_count(w);
                        /* Wait until the queue is stored, then seal. */
                        while (queue_depth(q) > 0)
                                usleep(1000);
                        usleep(20000);
                        writer_request_seal(w);
                        while (writer_sealed_count(w) == before)
                                usleep(1000);
                }
        }
        drop_count(&drops, DROP_QUEUE_FULL, 3); /* must reach the manifest's stats */
        queue_close(q);
        assert_int_equal(writer_join(w), 0);
        if (seal_at_end)
                assert_int_equal(writer_seal_now(w), 0);
        writer_free(w);
        queue_free(q, event_free_cb);
}

struct verify_ctx {
        struct seal_verifier *v;
        struct store *s;
        uint64_t crit_count[N_CRIT];
        uint64_t dropped;
        int64_t epochs;
};

static void problem_cb(void *ud, int64_t epoch, int64_t seq, const char *what) {
        fail_msg("verifier: %s", what);
}

struct recs {
        struct seal_blob b[256];
        char *data[256];
        size_t n;
};

static int rec_cb(void *ud, const struct store_record *r) {
        struct recs *x = ud;
        assert_true(x->n < 256);
        x->data[x->n] = malloc(r->len + 1); /* NUL-terminated: the model uses strstr */
        memcpy(x->data[x->n], r->data, r->len);
        x->data[x->n][r->len] = '\0';
        x->b[x->n] = (struct seal_blob){ x->data[x->n], r->len };
        x->n++;
        return 0;
}

/* Checks one sealed epoch's criteria against a model built from its records. */
static void check_criteria_model(struct verify_ctx *c, const struct store_epoch *e,
                                 const struct recs *x) {
        json *m = NULL;
        assert_int_equal(json_parse(e->manifest, e->manifest_len, &m, NULL), 0);
        const json *crit = json_obj_get(m, "criteria");
        for (int k = 0; k < N_CRIT; k++) {
                uint8_t (*leaves)[HASH_LEN] = malloc((x->n + 1) * HASH_LEN);
                size_t n = 0;
                for (size_t i = 0; i < x->n; i++)
                        if (strstr(x->data[i], crit_ids[k]) && x->b[i].len)
                                merkle_leaf_hash(x->b[i].data, x->b[i].len, leaves[n++]);
                const json *ck = json_obj_get(crit, crit_ids[k]);
                if (n == 0) {
                        assert_null(ck);
                } else {
                        uint8_t root[HASH_LEN];
                        char hex[HASH_HEX_LEN];
                        merkle_root_of((const uint8_t(*)[HASH_LEN])leaves, n, root);
                        hash_hex(root, HASH_LEN, hex);
                        assert_non_null(ck);
                        assert_int_equal(json_int(json_obj_get(ck, "count")), (int64_t)n);
                        assert_string_equal(json_str(json_obj_get(ck, "root"), NULL), hex);
                }
                c->crit_count[k] += n;
                free(leaves);
        }
        c->dropped += (uint64_t)json_int(
                json_path_get(m, "stats.dropped.queue_full"));
        json_free(m);
}

static int epoch_cb(void *ud, const struct store_epoch *e) {
        struct verify_ctx *c = ud;
        if (!e->sealed)
                return 0;
        struct recs x = { .n = 0 };
        assert_int_equal(store_records_foreach(c->s, e->epoch, rec_cb, &x), 0);
        assert_int_equal(seal_verifier_epoch(c->v, "db", e->manifest, e->manifest_len, e->sig,
                                             SEAL_SIG_LEN, x.b, x.n), 0);
        assert_int_equal(seal_verifier_epoch_end(c->v, false), 0);
        check_criteria_model(c, e, &x);
        for (size_t i = 0; i < x.n; i++)
                free(x.data[i]);
        c->epochs++;
        return 0;
}

static void test_writer_criteria_restart_and_verify(void **state) {
        struct fixture f;
        fixture_init(state, &f);
        /* 0..29 with seals every 10; 30..44 left open; a restart rebuilds them; 45..59 then
         * sealed at the end. */
        run_writer(&f, 0, 30, 10, false);
        run_writer(&f, 30, 45, 0, false);
        run_writer(&f, 45, 60, 0, true);

        struct verify_ctx c = { 0 };
        struct store_error se;
        assert_int_equal(seal_verifier_new(f.pk, problem_cb, NULL, &c.v), 0);
        assert_int_equal(store_open(f.db, STORE_READONLY, &c.s, &se), 0);
        assert_int_equal(store_epochs_foreach(c.s, epoch_cb, &c), 0);
        assert_int_equal(seal_verifier_problems(c.v), 0);
        assert_true(c.epochs >= 4);
        /* Every record counted once per criterion it carries. */
        for (int k = 0; k < N_CRIT; k++) {
                uint64_t want = 0;
                for (int i = 0; i < 60; i++)
                        want += ((i % 8) & (1 << k)) != 0;
                assert_int_equal(c.crit_count[k], want);
        }
        assert_int_equal(c.dropped, 9); /* 3 per writer run */
        int64_t max_seq = -1;
        assert_int_equal(store_records_max_seq(c.s, &max_seq), 0);
        assert_int_equal(max_seq, 59);
        store_close(c.s);
        seal_verifier_free(c.v);

        /* The exporter writes every sealed epoch, with tsc=ID files. */
        struct exporter *x = NULL;
        char err[256] = "";
        assert_int_equal(exporter_new(f.db, "unit", &f.out, 1, &x, err, sizeof(err)), 0);
        assert_int_equal(exporter_flush(x), 0);
        exporter_free(x);
        char p[256];
        snprintf(p, sizeof(p), "%s/chain=unit/epoch=0000000000/tsc=CC6.1/records.jsonl",
                 f.exports);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        fixture_free(&f);
}

/* A store opened with another chain name or epoch length is refused, not mixed. */
static void test_writer_refuses_other_chain(void **state) {
        struct fixture f;
        fixture_init(state, &f);
        run_writer(&f, 0, 3, 0, false);
        struct writer *w = NULL;
        char err[256] = "";
        f.cfg.chain = "other";
        assert_int_equal(writer_open(&f.cfg, &w, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "chain"));
        f.cfg.chain = "unit";
        f.cfg.epoch_us = 60 * TM_USEC_PER_SEC;
        err[0] = '\0';
        assert_int_equal(writer_open(&f.cfg, &w, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "epoch_us"));
        fixture_free(&f);
}

static void count_cb(void *ud, uint64_t token) {
        uint64_t *acc = ud;
        acc[0]++;
        acc[1] += token;
}

/* Positions, sinks, rule drops, unmapped apps and rule packs reach the store and the sealed
 * manifest's stats exactly. */
/* issue 12: the mapper's bytes with seq spliced in must be exactly the canonical bytes of
 * the tree with that seq, whatever else is called "seq" in the record. */
static void test_writer_map_splice_equals_canon(void **state) {
        static const struct {
                const char *name, *json;
                int64_t seq;
        } cases[] = {
                { "plain", "{\"message\":\"hi\",\"host\":\"h\"}", 0 },
                { "keys both sides", "{\"a\":1,\"zz\":[1,2],\"sep\":\"x\",\"sez\":2}", 7 },
                { "nested seq first", "{\"actor\":{\"seq\":5,\"user\":\"a\"},\"b\":[{\"seq\":1}]}",
                  1234567890123LL },
                { "seq in strings", "{\"message\":\"\\\"seq\\\":0,\\\\\",\"raw\":\"{\\\"seq\\\":0}\"}", 42 },
                { "seq already set", "{\"seq\":99,\"x\":null}", 3 },
                { "non-ascii keys", "{\"\u00e9t\u00e9\":1,\"\\ud83d\\ude00\":2,\"s\":true}", 10 },
                { "criteria and flags", "{\"criteria\":[\"CC6.1\",\"A1.2\"],\"flags\":[\"malformed\"],"
                  "\"rule\":\"unmapped\",\"source\":{\"kind\":\"syslog\",\"transport\":\"tcp\"},"
                  "\"time\":\"2026-01-02T03:04:05Z\"}", 5 },
        };
        struct buf scratch = BUF_INIT, out = BUF_INIT, want = BUF_INIT;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json *rec = NULL, *model = NULL;
                assert_int_equal(json_parse(cases[i].json, strlen(cases[i].json), &rec, NULL), 0);
                assert_int_equal(json_parse(cases[i].json, strlen(cases[i].json), &model, NULL), 0);
                struct event *e = event_new(rec, 1000);
                assert_non_null(e);
                if (wmap_event(NULL, e, &scratch) != 0)
                        fail_msg("case %s: wmap_event failed", cases[i].name);
                assert_null(e->rec);
                assert_non_null(e->mapped);
                uint8_t leaf[HASH_LEN], want_leaf[HASH_LEN];
                assert_int_equal(wmap_splice(e->mapped, cases[i].seq, &out, leaf), 0);
                assert_int_equal(json_obj_set_int(model, "seq", cases[i].seq), 0);
                buf_reset(&want);
                assert_int_equal(json_canon(model, &want), 0);
                if (out.len != want.len || memcmp(out.data, want.data, out.len) != 0)
                        fail_msg("case %s: %s != %s", cases[i].name, out.data, want.data);
                /* The leaf from the mapper's midstate is the leaf of the final bytes. */
                merkle_leaf_hash(want.data, want.len, want_leaf);
                assert_memory_equal(leaf, want_leaf, HASH_LEN);
                json_free(model);
                event_free(e);
        }
        /* What the store and the counters read, without the tree. */
        const char *j = cases[6].json;
        json *rec = NULL;
        assert_int_equal(json_parse(j, strlen(j), &rec, NULL), 0);
        struct event *e = event_new(rec, 1000);
        assert_int_equal(wmap_event(NULL, e, &scratch), 0);
        const struct wmap_rec *m = e->mapped;
        assert_int_equal(m->n_crit, 2);
        assert_string_equal(m->crit, "CC6.1");
        assert_string_equal(wmap_next(m->crit), "A1.2");
        assert_int_equal(m->n_flags, 1);
        assert_string_equal(m->flags, "malformed");
        assert_string_equal(m->unmapped_app, "-");
        assert_null(m->host);
        assert_true(m->time_us != 1000);
        assert_string_equal(e->src_kind, "syslog");
        assert_string_equal(e->src_transport, "tcp");
        assert_true(e->malformed);
        assert_false(e->truncated);
        event_free(e);
        buf_free(&scratch);
        buf_free(&out);
        buf_free(&want);
}

/* issue 12: a batch writes one position per source (its last event's), also past the
 * writer's table of sources (32), where the others are written as they come. All events are
 * queued before the writer starts, so that they are one batch. */
static void test_writer_positions_many_sources(void **state) {
        struct fixture f;
        fixture_init(state, &f);
        struct writer *w = NULL;
        struct queue *q = NULL;
        char err[256] = "";
        enum { SOURCES = 40, ROUNDS = 3 };
        assert_int_equal(writer_open(&f.cfg, &w, err, sizeof(err)), 0);
        assert_int_equal(queue_new(1024, &q), 0);
        int64_t now = tm_now_us();
        for (int round = 0; round < ROUNDS; round++)
                for (int src = 0; src < SOURCES; src++) {
                        struct event *e = event_new(make_record(round * SOURCES + src), now);
                        char name[32], pos[32];
                        snprintf(name, sizeof(name), "kafka:t/%d", src);
                        snprintf(pos, sizeof(pos), "%d", 1000 * round + src);
                        assert_int_equal(event_set_pos(e, name, pos), 0);
                        assert_int_equal(queue_push(q, e), 0);
                }
        queue_close(q);
        assert_int_equal(writer_start(w, q, NULL), 0);
        assert_int_equal(writer_join(w), 0);
        writer_free(w);
        queue_free(q, event_free_cb);

        struct store *s = NULL;
        struct store_error se;
        assert_int_equal(store_open(f.db, STORE_READONLY, &s, &se), 0);
        for (int src = 0; src < SOURCES; src++) {
                char name[32], want[32], *pos = NULL;
                snprintf(name, sizeof(name), "kafka:t/%d", src);
                snprintf(want, sizeof(want), "%d", 1000 * (ROUNDS - 1) + src);
                assert_int_equal(store_position_get(s, name, &pos), 0);
                assert_string_equal(pos, want);
                free(pos);
        }
        store_close(s);
        fixture_free(&f);
}

static void test_writer_positions_sinks_and_rule_stats(void **state) {
        struct fixture f;
        fixture_init(state, &f);
        struct writer *w = NULL;
        struct queue *q = NULL;
        char err[256] = "";
        uint64_t acked[2] = { 0, 0 };
        struct event_sink sink = { count_cb, acked };
        assert_int_equal(writer_open(&f.cfg, &w, err, sizeof(err)), 0);
        assert_int_equal(queue_new(1024, &q), 0);
        assert_int_equal(writer_start(w, q, NULL), 0);
        int64_t now = tm_now_us();
        for (int i = 0; i < 10; i++) {
                /* Every third event was dropped by a rule: no record, still a position. */
                struct event *e = event_new(i % 3 == 2 ? NULL : make_record(i), now);
                char pos[16];
                snprintf(pos, sizeof(pos), "%d", 100 + i);
                assert_int_equal(event_set_pos(e, i % 2 ? "kafka:t/1" : "kafka:t/0", pos), 0);
                if (!e->rec)
                        e->drop_rule = strdup("noise");
                else
                        json_obj_set_str(e->rec, "rule", i % 4 ? "unmapped" : "sshd-accepted");
                strcpy(e->rules_pack, i < 5 ? "aaaa" : "bbbb");
                e->sink = &sink;
                e->sink_token = (uint64_t)i;
                assert_int_equal(queue_push(q, e), 0);
        }
        queue_close(q);
        assert_int_equal(writer_join(w), 0);
        assert_int_equal(acked[0], 10);      /* every event acknowledged once */
        assert_int_equal(acked[1], 45);      /* tokens 0..9 */
        assert_int_equal(writer_seal_now(w), 0);
        writer_free(w);
        queue_free(q, event_free_cb);

        struct store *s = NULL;
        struct store_error se;
        struct store_epoch e = { 0 };
        char *pos = NULL;
        json *m = NULL;
        assert_int_equal(store_open(f.db, STORE_READONLY, &s, &se), 0);
        assert_int_equal(store_position_get(s, "kafka:t/0", &pos), 0);
        assert_string_equal(pos, "108");
        free(pos);
        assert_int_equal(store_position_get(s, "kafka:t/1", &pos), 0);
        assert_string_equal(pos, "109");
        free(pos);
        assert_int_equal(store_epoch_get(s, 0, &e), 0);
        assert_true(e.sealed);
        assert_int_equal(e.count, 7);        /* 10 events, 3 dropped by the rule */
        assert_int_equal(json_parse(e.manifest, e.manifest_len, &m, NULL), 0);
        const json *st = json_obj_get(m, "stats");
        assert_int_equal(json_int(json_obj_get(st, "kept")), 7);
        assert_int_equal(json_int(json_obj_get(st, "received")), 10);
        assert_int_equal(json_int(json_path_get(st, "dropped_by_rule.noise")), 3);
        /* kept records 0,1,3,4,6,7,9: "unmapped" unless i % 4 == 0 (0 and 4) */
        assert_int_equal(json_int(json_path_get(st, "unmapped.-")), 5);
        assert_int_equal(json_len(json_obj_get(st, "rules_packs")), 2);
        const json *src = json_path_get(st, "sources");
        const json *p0 = json_obj_get(src, "kafka:t/0"), *p1 = json_obj_get(src, "kafka:t/1");
        assert_string_equal(json_str(json_obj_get(p0, "first"), NULL), "100");
        assert_string_equal(json_str(json_obj_get(p0, "last"), NULL), "108");
        assert_int_equal(json_int(json_obj_get(p0, "count")), 5);
        assert_string_equal(json_str(json_obj_get(p1, "first"), NULL), "101");
        assert_string_equal(json_str(json_obj_get(p1, "last"), NULL), "109");
        json_free(m);
        store_epoch_clear(&e);
        store_close(s);
        fixture_free(&f);
}

/* ---- issue 12: the durable watermark and the acks follow the WAL's sync ----
 *
 * A power-loss model inside this test: this executable's fdatasync (it takes the place of
 * libc's for SQLite's syncs of the writer's commits, synchronous=FULL) copies
 * the modelled WAL to PATH.synced once the real call returned, i.e. what a power loss would
 * leave of it. A callback that says "durable" (the watermark, a sink's committed_cb) checks
 * that the copy, replayed over the database file, holds the record it speaks of. Callbacks
 * run before the sync, or a watermark published before it, fail here.
 *
 * issue 12 (sync9): the storing thread commits at synchronous=NORMAL and gl-sync syncs the
 * WAL (on a descriptor of its own, which this fdatasync sees too). pl_delay_us makes each
 * sync of the modelled WAL that long, so that commits meet a sync in progress: the storing
 * thread then keeps its transaction open and commits once gl-sync is idle. */
static pthread_mutex_t pl_mu = PTHREAD_MUTEX_INITIALIZER;
static char pl_wal[192];   /* the WAL modelled; "" none (the other tests) */
static int pl_syncs;        /* syncs of it copied */
static _Atomic int64_t pl_delay_us;  /* a slow disk: each sync of the WAL waits this long */

/* Copies a file; false when it cannot (no cmocka assert here: this runs on the writer's
 * threads, where a failing assert cannot unwind to the test). */
static bool pl_copy(const char *from, const char *to) {
        char buf[1 << 16];
        int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ssize_t n = -1;
        bool ok = in >= 0 && out >= 0;
        while (ok && (n = read(in, buf, sizeof(buf))) > 0)
                ok = write(out, buf, (size_t)n) == n;
        if (in >= 0)
                close(in);
        if (out >= 0)
                close(out);
        return ok && n == 0;
}

int fdatasync(int fd) {
        int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
        char link[64], path[256];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof(path) - 1);
        if (n > 0 && atomic_load(&pl_delay_us) > 0) {
                path[n] = 0;
                if (strstr(path, "-wal"))
                        usleep((useconds_t)atomic_load(&pl_delay_us));
        }
        int r = real(fd), e = errno;
        pthread_mutex_lock(&pl_mu);
        if (r == 0 && n > 0 && pl_wal[0]) {
                path[n] = 0;
                if (strcmp(path, pl_wal) == 0) {
                        char to[256];
                        snprintf(to, sizeof(to), "%s.synced", pl_wal);
                        if (pl_copy(pl_wal, to))
                                pl_syncs++;
                }
        }
        pthread_mutex_unlock(&pl_mu);
        errno = e;
        return r;
}

/* One number a power loss now would leave (sql: a one-row, one-column query, -1 when there
 * is nothing): asked of the database file and the last synced copy of its WAL, opened as a
 * database of their own. -1 also when no sync was copied yet. */
static int64_t pl_synced_max(const char *dir, const char *db, const char *sql) {
        char cdb[256], cwal[256], synced[256];
        snprintf(cdb, sizeof(cdb), "%s/pl.db", dir);
        snprintf(cwal, sizeof(cwal), "%s/pl.db-wal", dir);
        snprintf(synced, sizeof(synced), "%s.synced", pl_wal);
        pthread_mutex_lock(&pl_mu);
        bool ok = pl_copy(db, cdb) && pl_copy(synced, cwal);
        pthread_mutex_unlock(&pl_mu);
        sqlite3 *c = NULL;
        sqlite3_stmt *st = NULL;
        int64_t v = -1;
        if (ok && sqlite3_open(cdb, &c) == SQLITE_OK &&
            sqlite3_prepare_v2(c, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(c);
        unlink(cdb);
        unlink(cwal);
        return v;
}

/* The highest seq a power loss now would leave; -1: none. */
static int64_t pl_survivors(const char *dir, const char *db) {
        return pl_synced_max(dir, db, "SELECT coalesce(max(seq), -1) FROM records");
}

struct durable_ctx {
        const char *dir, *db;
        pthread_mutex_t mu;
        int64_t durable;       /* the last watermark published */
        int n_published, n_checked;
        uint64_t acked;
        struct metric *kept;   /* gatelog_events_kept_total{source="unknown"}: "stored" */
        const char *bad;       /* the first broken promise (checked on the test's thread:
                                * the callbacks run on gl-sync) */
};

/* The "stored" metric must not count a record above the watermark published before now. */
static void order_check_kept(struct durable_ctx *c, int64_t durable) {
        if (!c->bad && metric_value(c->kept) > durable + 1)
                c->bad = "the stored metric counted records before the sync that made them "
                         "durable";
}

static void order_durable_cb(void *ud, int64_t seq) {
        struct durable_ctx *c = ud;
        pthread_mutex_lock(&c->mu);
        order_check_kept(c, c->durable);
        if (!c->bad && seq <= c->durable)
                c->bad = "the watermark went back or repeated";
        if (!c->bad && pl_survivors(c->dir, c->db) < seq)
                c->bad = "the watermark was published before the sync that made it durable";
        c->durable = seq;
        c->n_published++;
        pthread_mutex_unlock(&c->mu);
}

/* Token i is the event with record seq i (a new chain, no rule drops). */
static void order_committed_cb(void *ud, uint64_t token) {
        struct durable_ctx *c = ud;
        pthread_mutex_lock(&c->mu);
        if (!c->bad && c->durable < (int64_t)token)
                c->bad = "committed_cb ran for a seq above the watermark";
        order_check_kept(c, c->durable);
        if (token % 97 == 0) {  /* the model itself, for a sample: it copies files */
                if (!c->bad && pl_survivors(c->dir, c->db) < (int64_t)token)
                        c->bad = "committed_cb ran before the sync that made it durable";
                c->n_checked++;
        }
        c->acked++;
        pthread_mutex_unlock(&c->mu);
}

/* The highest sealed epoch a power loss now would leave; -1: none. */
static int64_t pl_sealed(const char *dir, const char *db) {
        return pl_synced_max(dir, db,
                             "SELECT coalesce(max(epoch), -1) FROM epochs WHERE sealed = 1");
}

struct sealed_ctx {
        const char *dir, *db;
        int n;
        const char *bad;
};

/* issue 12 (sync9): a seal is on disk before anything hears of it (the exporter's kick). */
static void order_sealed_cb(void *ud, int64_t epoch) {
        struct sealed_ctx *c = ud;
        if (!c->bad && pl_sealed(c->dir, c->db) < epoch)
                c->bad = "sealed_cb ran before the sync that made the seal durable";
        c->n++;
}

/* n events in bursts with sinks, syncs of the WAL delay_us long; every promise checked. */
static void run_durable_order(void **state, int n, int64_t delay_us) {
        struct fixture f;
        fixture_init(state, &f);
        struct writer *w = NULL;
        struct queue *q = NULL;
        char err[256] = "";
        const int N = n;
        metrics_reset();
        struct durable_ctx c = { f.dir, f.db, PTHREAD_MUTEX_INITIALIZER, -1, 0, 0, 0,
                                 metrics_counter("gatelog_events_kept_total",
                                                 "Events stored as records", "source",
                                                 "unknown", NULL), NULL };
        struct event_sink sink = { order_committed_cb, &c };
        struct sealed_ctx sc = { f.dir, f.db, 0, NULL };
        assert_int_equal(writer_open(&f.cfg, &w, err, sizeof(err)), 0);
        pthread_mutex_lock(&pl_mu);
        snprintf(pl_wal, sizeof(pl_wal), "%s-wal", f.db);
        pl_syncs = 0;
        pthread_mutex_unlock(&pl_mu);
        atomic_store(&pl_delay_us, delay_us);
        writer_on_durable(w, order_durable_cb, &c);
        writer_on_sealed(w, order_sealed_cb, &sc);
        assert_int_equal(queue_new(256, &q), 0);
        assert_int_equal(writer_start(w, q, NULL), 0);
        int64_t now = tm_now_us();
        for (int i = 0; i < N; i++) {
                struct event *e = event_new(make_record(i), now);
                e->sink = &sink;
                e->sink_token = (uint64_t)i;
                while (queue_push(q, e) == -EAGAIN)
                        usleep(500);
                if (i % 700 == 0)
                        usleep(30000);  /* bursts: some commits alone, some grouped */
        }
        queue_close(q);
        assert_int_equal(writer_join(w), 0);
        atomic_store(&pl_delay_us, 0);
        if (c.bad)
                fail_msg("%s", c.bad);
        assert_int_equal(c.acked, N);
        assert_int_equal(c.durable, N - 1);
        assert_int_equal(metric_value(c.kept), N);
        assert_true(c.n_checked >= N / 97);
        assert_true(pl_syncs >= 1);
        assert_int_equal(writer_seal_now(w), 0);
        if (sc.bad)
                fail_msg("%s", sc.bad);
        assert_int_equal(sc.n, 1);
        writer_free(w);
        queue_free(q, event_free_cb);
        pthread_mutex_lock(&pl_mu);
        pl_wal[0] = 0;
        pthread_mutex_unlock(&pl_mu);
        fixture_free(&f);
}

static void test_writer_durable_order(void **state) {
        run_durable_order(state, 3000, 0);
}

/* issue 12 (sync9): with a slow disk (each WAL sync 15 ms) the storing thread meets a sync
 * in progress at nearly every commit, keeps its transaction open meanwhile and commits when
 * gl-sync is idle (and commits that did wait share one sync): the same promises hold. */
static void test_writer_durable_order_slow_sync(void **state) {
        run_durable_order(state, 3000, 15000);
}

/* issue 12 (flow7): when the map queue is deep, the storing thread commits all that is
 * mapped in one transaction (one fdatasync), up to WRITER_COMMIT_MAX, not WRITER_BATCH_MAX.
 * Another connection holds SQLite's write lock while the mapper fills the map queue behind
 * the store's first batch; once it lets go, the next commit must take the whole queue. Each
 * commit leaves one `batches` row (its first and last seq). Fails with the old cap. */
static void test_writer_commits_what_is_mapped(void **state) {
        struct fixture f;
        fixture_init(state, &f);
        struct writer *w = NULL;
        struct queue *q = NULL;
        char err[256] = "";
        enum { N = 6000 };
        assert_int_equal(writer_open(&f.cfg, &w, err, sizeof(err)), 0);
        assert_int_equal(queue_new(4 * WRITER_MAP_QUEUE, &q), 0); /* map queue: full size */
        sqlite3 *lock = NULL;
        assert_int_equal(sqlite3_open(f.db, &lock), SQLITE_OK);
        assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        int64_t now = tm_now_us();
        for (int i = 0; i < N; i++)
                assert_int_equal(queue_push(q, event_new(make_record(i), now)), 0);
        assert_int_equal(writer_start(w, q, NULL), 0);
        /* The mapper stops when the map queue is full: the public queue stops draining. */
        size_t depth = queue_depth(q), stable = 0;
        for (int t = 0; t < 400 && stable < 30; t++) {
                usleep(10000);
                size_t d = queue_depth(q);
                stable = d == depth ? stable + 1 : 0;
                depth = d;
        }
        assert_true(depth <= (size_t)N - WRITER_MAP_QUEUE);
        assert_int_equal(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(lock);
        queue_close(q);
        assert_int_equal(writer_join(w), 0);
        writer_free(w);
        queue_free(q, event_free_cb);

        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_open_v2(f.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), max(last_seq - first_seq + 1),"
                                            " sum(last_seq - first_seq + 1) FROM batches",
                                            -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        int64_t largest = sqlite3_column_int64(st, 1);
        assert_int_equal(sqlite3_column_int64(st, 2), N);
        assert_true(largest > WRITER_BATCH_MAX);
        assert_true(largest <= WRITER_COMMIT_MAX);
        sqlite3_finalize(st);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), max(seq) - min(seq) + 1 FROM"
                                            " records", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(st, 0), N);
        assert_int_equal(sqlite3_column_int64(st, 1), N);
        sqlite3_finalize(st);
        sqlite3_close(db);
        fixture_free(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_writer_criteria_restart_and_verify),
                cmocka_unit_test(test_writer_refuses_other_chain),
                cmocka_unit_test(test_writer_positions_sinks_and_rule_stats),
                cmocka_unit_test(test_writer_positions_many_sources),
                cmocka_unit_test(test_writer_map_splice_equals_canon),
                cmocka_unit_test(test_writer_commits_what_is_mapped),
                cmocka_unit_test(test_writer_durable_order),
                cmocka_unit_test(test_writer_durable_order_slow_sync),
        };
        return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
