/* issue 12: the verifier's one-pass export check against its model.
 *
 * `gatelog verify --export` feeds an epoch record by record with the tsc=ID files given up
 * front (seal_verifier_tsc_stream: each tagged record is compared with its file's next line
 * as it is fed) and the leaf hashes computed on a second thread (seal_verifier_records_stable).
 * The model is the plain path: seal_verifier_epoch with every record, then seal_verifier_tsc
 * over each file's lines, all hashed on the calling thread. For a clean epoch and for each way
 * the records or the tsc files can be altered, both must report exactly the same problems, in
 * the same order, with the same epoch and seq. The epoch holds more records than one hand-off
 * to the hashing thread, so the thread runs and the leaf array moves under it; some records
 * take the full parser (a fraction the scanner does not decide), and one holds a raw newline.
 * issue 12 (verify11): the streamed runs keep no leaves (seal_verifier_keep_leaves false),
 * the model keeps them for seal_verifier_tsc; the roots are built while hashing in both.
 * test_many_tags: one record tagged with more criteria than the tag ring holds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/tm.h"
#include "seal/seal.h"

/* > 2 hand-offs of 4096; the arrays grow past 8192; issue 12 (verify11): > 2 turns of the
 * hashing thread's ring of 16,384 records. */
#define N_RECS 40009
#define FIRST_SEQ 100
#define MAX_PROBLEMS 64
#define T0 INT64_C(1772359200000000)

static const char *const ids[] = { "CC6.1", "CC7.2" };

static bool tagged(size_t i, size_t c)
{
        return c == 0 ? i % 2 == 0 : i % 3 == 0;
}

/* Record i, canonical; every 97th has a fraction, which sends it to the full parser. */
static char *make_record(size_t i)
{
        char *s = NULL;
        const char *crit = tagged(i, 0) && tagged(i, 1) ? "[\"CC6.1\",\"CC7.2\"]"
                           : tagged(i, 0)               ? "[\"CC6.1\"]"
                           : tagged(i, 1)               ? "[\"CC7.2\"]"
                                                        : "[]";

        if (i % 97 == 5)
                assert_true(asprintf(&s, "{\"criteria\":%s,\"host\":\"web-1\",\"load\":1.5,"
                                     "\"message\":\"event %zu\",\"seq\":%zu}", crit, i,
                                     FIRST_SEQ + i) > 0);
        else
                assert_true(asprintf(&s, "{\"criteria\":%s,\"host\":\"web-1\",\"message\":"
                                     "\"sshd accepted key for user %zu from 10.0.0.1\",\"seq\""
                                     ":%zu}", crit, i, FIRST_SEQ + i) > 0);
        return s;
}

struct epoch {
        char *rec[N_RECS + 1];
        size_t n;
        struct buf manifest;
        uint8_t sig[SEAL_SIG_LEN];
        struct buf tsc[3];              /* CC6.1, CC7.2, and one the manifest lacks */
        const char *tsc_id[3];
        size_t n_tsc;
};

static void build(struct epoch *e, const struct seal_key *k)
{
        struct merkle *all = NULL, *per[2] = { NULL, NULL };
        struct seal_criterion crit[2];
        struct seal_manifest m = { .chain = "main", .epoch = 0, .first_seq = FIRST_SEQ };
        uint8_t pk[SEAL_PK_LEN], leaf[HASH_LEN];
        json *stats = json_new_obj();

        memset(e, 0, sizeof(*e));
        assert_int_equal(merkle_new(&all), 0);
        assert_int_equal(merkle_new(&per[0]), 0);
        assert_int_equal(merkle_new(&per[1]), 0);
        e->n = N_RECS;
        for (size_t i = 0; i < N_RECS; i++) {
                e->rec[i] = make_record(i);
                merkle_leaf_hash(e->rec[i], strlen(e->rec[i]), leaf);
                assert_int_equal(merkle_add_leaf(all, leaf), 0);
                for (size_t c = 0; c < 2; c++)
                        if (tagged(i, c)) {
                                assert_int_equal(merkle_add_leaf(per[c], leaf), 0);
                                assert_int_equal(buf_append(&e->tsc[c], e->rec[i],
                                                            strlen(e->rec[i])), 0);
                                assert_int_equal(buf_append(&e->tsc[c], "\n", 1), 0);
                        }
        }
        for (size_t c = 0; c < 2; c++) {
                crit[c].id = ids[c];
                crit[c].count = merkle_count(per[c]);
                merkle_root(per[c], crit[c].root);
                e->tsc_id[c] = ids[c];
        }
        e->n_tsc = 2;
        merkle_root(all, m.root);
        assert_int_equal(json_obj_set_int(stats, "received", N_RECS), 0);
        m.start_us = T0;
        m.end_us = T0 + 3600 * TM_USEC_PER_SEC;
        m.sealed_us = m.end_us + 1000;
        m.count = N_RECS;
        m.criteria = crit;
        m.n_criteria = 2;
        m.stats = stats;
        seal_key_public(k, pk);
        seal_key_id(pk, m.key_id);
        assert_int_equal(seal_manifest_build(&m, &e->manifest), 0);
        assert_int_equal(seal_key_sign(k, e->manifest.data, e->manifest.len, e->sig), 0);
        json_free(stats);
        merkle_free(all);
        merkle_free(per[0]);
        merkle_free(per[1]);
}

static void epoch_free(struct epoch *e)
{
        for (size_t i = 0; i < e->n; i++)
                free(e->rec[i]);
        for (size_t c = 0; c < 3; c++)
                buf_free(&e->tsc[c]);
        buf_free(&e->manifest);
}

struct seen {
        char what[MAX_PROBLEMS][300];
        size_t n;
        uint64_t total;
};

static void collect(void *ud, int64_t epoch, int64_t seq, const char *what)
{
        struct seen *s = ud;

        s->total++;
        if (s->n < MAX_PROBLEMS)
                snprintf(s->what[s->n++], sizeof(s->what[0]), "[%lld/%lld] %s",
                         (long long)epoch, (long long)seq, what);
}

/* The model: every record at once, then each tsc file's lines against the leaf hashes. */
static void run_model(const struct epoch *e, const uint8_t pk[SEAL_PK_LEN], struct seen *s)
{
        struct seal_verifier *v = NULL;
        struct seal_blob *b = calloc(e->n + 1, sizeof(*b));

        assert_non_null(b);
        memset(s, 0, sizeof(*s));
        assert_int_equal(seal_verifier_new(pk, collect, s, &v), 0);
        for (size_t i = 0; i < e->n; i++)
                b[i] = (struct seal_blob){ e->rec[i], strlen(e->rec[i]) };
        assert_int_equal(seal_verifier_epoch(v, "e0", e->manifest.data, e->manifest.len, e->sig,
                                             SEAL_SIG_LEN, b, e->n), 0);
        for (size_t c = 0; c < e->n_tsc; c++) {
                const char *p = e->tsc[c].data ? e->tsc[c].data : "";
                size_t len = e->tsc[c].len, n = 0;

                for (size_t start = 0; start < len;) {
                        const char *nl = memchr(p + start, '\n', len - start);
                        size_t end = nl ? (size_t)(nl - p) : len;

                        b = n < e->n ? b : realloc(b, (n + 1) * sizeof(*b));
                        assert_non_null(b);
                        b[n++] = (struct seal_blob){ p + start, end - start };
                        start = end + 1;
                }
                assert_int_equal(seal_verifier_tsc(v, e->tsc_id[c], b, n), 0);
        }
        assert_int_equal(seal_verifier_epoch_end(v, true), 0);
        assert_int_equal(seal_verifier_finish(v), 0);
        assert_int_equal(seal_verifier_problems(v), s->total);
        seal_verifier_free(v);
        free(b);
}

/* issue 12: a tsc file read through seal_read_cb in uneven pieces (1 to 4,093 bytes), as
 * `verify --export` reads a folder's files by descriptor; fail_at >= 0: -EIO from there. */
struct reader {
        const char *p;
        size_t len, pos, calls;
        long fail_at;
};

static long reader_cb(void *ud, void *buf, size_t len)
{
        struct reader *r = ud;
        size_t n = 1 + (r->calls++ * 7919) % 4093;

        if (r->fail_at >= 0 && r->pos >= (size_t)r->fail_at)
                return -EIO;
        if (n > len)
                n = len;
        if (n > r->len - r->pos)
                n = r->len - r->pos;
        memcpy(buf, r->p + r->pos, n);
        r->pos += n;
        return (long)n;
}

/* issue 12: records copied into a ring of small buffers, each reused only after
 * seal_verifier_records_release for the records fed from it (a buffer overwritten before its
 * leaves are hashed would change the root). */
#define RING_N 3
#define RING_LEN 8192

struct ring {
        char buf[RING_N][RING_LEN];
        size_t used[RING_N], mark[RING_N], j, fed;
};

static const char *ring_put(struct seal_verifier *v, struct ring *g, const char *rec,
                            size_t len)
{
        assert_true(len <= RING_LEN);
        if (g->used[g->j] + len > RING_LEN) {
                g->mark[g->j] = g->fed;
                g->j = (g->j + 1) % RING_N;
                seal_verifier_records_release(v, g->mark[g->j]);
                memset(g->buf[g->j], '#', RING_LEN);  /* what a reused buffer would hold */
                g->used[g->j] = 0;
        }
        char *at = g->buf[g->j] + g->used[g->j];
        memcpy(at, rec, len);
        g->used[g->j] += len;
        g->fed++;
        return at;
}

enum mode { M_THREAD, M_ONE, M_READ };

/* The export path: tsc files streamed, records one by one, hashed here or on the thread;
 * M_READ: tsc files through a callback and records through a reused ring (verify --export
 * on a folder). */
static void run_stream(const struct epoch *e, const uint8_t pk[SEAL_PK_LEN], enum mode m,
                       struct seen *s)
{
        struct seal_verifier *v = NULL;
        struct reader rd[4] = { { 0 } };
        static struct ring g;

        memset(s, 0, sizeof(*s));
        memset(&g, 0, sizeof(g));
        assert_int_equal(seal_verifier_new(pk, collect, s, &v), 0);
        seal_verifier_records_stable(v, m != M_ONE);
        assert_int_equal(seal_verifier_epoch_begin(v, "e0", e->manifest.data, e->manifest.len,
                                                   e->sig, SEAL_SIG_LEN), 0);
        /* issue 12 (verify11): as `verify --export` when every tsc file streams; M_ONE
         * keeps them (the default) to check both with the same streams. */
        if (m != M_ONE)
                assert_int_equal(seal_verifier_keep_leaves(v, false), 0);
        /* issue 12 (verify7): the arrays' size hint changes nothing: more than the manifest
         * says (capped by its count), or too few (the arrays grow past it, as do the
         * criteria's when a record is tagged beyond the manifest's count). */
        if (m == M_THREAD)
                seal_verifier_records_expect(v, UINT64_MAX);
        else if (m == M_READ)
                seal_verifier_records_expect(v, e->n / 3);
        for (size_t c = 0; c < e->n_tsc; c++) {
                rd[c] = (struct reader){ e->tsc[c].data, e->tsc[c].len, 0, c, -1 };
                if (m == M_READ)
                        assert_int_equal(seal_verifier_tsc_stream_read(v, e->tsc_id[c],
                                                                       reader_cb, &rd[c]), 0);
                else
                        assert_int_equal(seal_verifier_tsc_stream(v, e->tsc_id[c],
                                                                  e->tsc[c].data,
                                                                  e->tsc[c].len), 0);
        }
        assert_int_equal(seal_verifier_tsc_stream(v, e->tsc_id[0], "", 0), -EEXIST);
        for (size_t i = 0; i < e->n; i++) {
                size_t len = strlen(e->rec[i]);
                const char *p = m == M_READ ? ring_put(v, &g, e->rec[i], len) : e->rec[i];
                if (m == M_READ) {  /* issue 12: one scan, as `verify --export` feeds */
                        struct seal_scan sc;
                        int d = seal_scan_record(p, len, &sc);
                        assert_int_equal(seal_verifier_record_scanned(v, p, len, d, &sc), 0);
                } else {
                        assert_int_equal(seal_verifier_record(v, p, len), 0);
                }
                if (i == 0)  /* not once records are fed */
                        assert_int_equal(seal_verifier_keep_leaves(v, true), -EINVAL);
        }
        assert_int_equal(seal_verifier_tsc_stream(v, "CC1.1", "", 0), -EINVAL);
        assert_int_equal(seal_verifier_records_end(v), 0);
        for (size_t c = 0; c < e->n_tsc; c++)
                assert_int_equal(seal_verifier_tsc_stream_end(v, e->tsc_id[c]), 0);
        assert_int_equal(seal_verifier_tsc_stream_end(v, "CC1.1"), -ENOENT);
        if (m != M_ONE)  /* issue 12 (verify11): no leaves to check a file against */
                assert_int_equal(seal_verifier_tsc(v, e->tsc_id[0], NULL, 0), -EINVAL);
        assert_int_equal(seal_verifier_epoch_end(v, true), 0);
        assert_int_equal(seal_verifier_finish(v), 0);
        assert_int_equal(seal_verifier_problems(v), s->total);
        seal_verifier_free(v);
}

/* ---- Alterations ---- */

static void replace_rec(struct epoch *e, size_t i, const char *s)
{
        free(e->rec[i]);
        e->rec[i] = strdup(s);
        assert_non_null(e->rec[i]);
}

/* Removes line k (0-based) of tsc file c. */
static void tsc_drop_line(struct epoch *e, size_t c, size_t k)
{
        char *p = e->tsc[c].data, *a = p, *z;

        for (size_t i = 0; i < k; i++)
                a = strchr(a, '\n') + 1;
        z = strchr(a, '\n') + 1;
        memmove(a, z, (size_t)(p + e->tsc[c].len - z));
        e->tsc[c].len -= (size_t)(z - a);
}

static void a_none(struct epoch *e) { (void)e; }
static void a_record_byte(struct epoch *e) { e->rec[5000][40] ^= 1; }
static void a_slow_record_byte(struct epoch *e) { e->rec[5 + 97 * 40][50] ^= 1; }
static void a_record_newline(struct epoch *e)
{
        /* Valid JSON, not canonical, tagged CC6.1 and CC7.2: no tsc line can be it. */
        replace_rec(e, 6000, "{\"criteria\":[\"CC6.1\",\"CC7.2\"],\n\"seq\":6100}");
}
static void a_record_dropped(struct epoch *e)
{
        free(e->rec[3000]);
        memmove(&e->rec[3000], &e->rec[3001], (e->n - 3001) * sizeof(*e->rec));
        e->n--;
}
static void a_tag_added(struct epoch *e)
{
        /* Record 1 (tagged with nothing) now claims CC6.1: the file lacks it from line 1. */
        char *s = NULL;
        assert_true(asprintf(&s, "{\"criteria\":[\"CC6.1\"],\"host\":\"web-1\",\"message\":"
                             "\"sshd accepted key for user 1 from 10.0.0.1\",\"seq\":%d}",
                             FIRST_SEQ + 1) > 0);
        replace_rec(e, 1, s);
        free(s);
}
static void a_tsc_line_changed(struct epoch *e) { e->tsc[0].data[e->tsc[0].len / 2] ^= 2; }
static void a_tsc_line_dropped(struct epoch *e) { tsc_drop_line(e, 1, 700); }
static void a_tsc_first_dropped(struct epoch *e) { tsc_drop_line(e, 0, 0); }
static void a_tsc_last_dropped(struct epoch *e) { tsc_drop_line(e, 0, (N_RECS + 1) / 2 - 1); }
static void a_tsc_extra(struct epoch *e)
{
        assert_int_equal(buf_append(&e->tsc[1], "{}\n\nx", 5), 0);
}
static void a_tsc_no_newline(struct epoch *e) { e->tsc[1].len--; }
static void a_tsc_cut_inside(struct epoch *e) { e->tsc[0].len -= 10; }
static void a_tsc_empty(struct epoch *e) { e->tsc[1].len = 0; }
static void a_tsc_blank_line(struct epoch *e)
{
        /* An empty line before the last: line counts and first difference both move. */
        size_t len = e->tsc[0].len;
        char *p = e->tsc[0].data;
        size_t at = len - 1;

        while (at > 0 && p[at - 1] != '\n')
                at--;
        assert_int_equal(buf_append(&e->tsc[0], "\n", 1), 0);
        p = e->tsc[0].data;
        memmove(p + at + 1, p + at, len - at);
        p[at] = '\n';
}
static void a_tsc_line_longer(struct epoch *e)
{
        /* Line 300 of CC7.2 is its record and one byte more. */
        char *p = e->tsc[1].data, *a = p;
        size_t at;

        for (size_t i = 0; i < 301; i++)
                a = strchr(a, '\n') + 1;
        at = (size_t)(a - 1 - p);
        assert_int_equal(buf_append(&e->tsc[1], "\n", 1), 0);
        p = e->tsc[1].data;
        memmove(p + at + 1, p + at, e->tsc[1].len - 1 - at);
        p[at] = '}';
}
static void a_tsc_unknown_id(struct epoch *e)
{
        assert_int_equal(buf_append(&e->tsc[2], e->rec[0], strlen(e->rec[0])), 0);
        e->tsc_id[2] = "CC9.9";
        e->n_tsc = 3;
}
static void a_tsc_missing(struct epoch *e) { e->n_tsc = 1; }
static void a_tsc_swapped(struct epoch *e)
{
        const char *t = e->tsc_id[0];
        e->tsc_id[0] = e->tsc_id[1];
        e->tsc_id[1] = t;
}

static const struct {
        const char *name;
        void (*alter)(struct epoch *e);
        bool clean;
} cases[] = {
        { "clean", a_none, true },
        { "record byte", a_record_byte, false },
        { "record byte, full parser", a_slow_record_byte, false },
        { "record with a raw newline", a_record_newline, false },
        { "record dropped", a_record_dropped, false },
        { "tag added", a_tag_added, false },
        { "tsc line changed", a_tsc_line_changed, false },
        { "tsc line dropped", a_tsc_line_dropped, false },
        { "tsc first line dropped", a_tsc_first_dropped, false },
        { "tsc last line dropped", a_tsc_last_dropped, false },
        { "tsc extra lines", a_tsc_extra, false },
        { "tsc without its last newline", a_tsc_no_newline, true },
        { "tsc cut inside a line", a_tsc_cut_inside, false },
        { "tsc empty", a_tsc_empty, false },
        { "tsc blank line", a_tsc_blank_line, false },
        { "tsc line longer than its record", a_tsc_line_longer, false },
        { "tsc of an unknown criterion", a_tsc_unknown_id, false },
        { "tsc file missing", a_tsc_missing, false },
        { "tsc files swapped", a_tsc_swapped, false },
};

static void assert_same(const char *name, const char *mode, const struct seen *a,
                        const struct seen *b)
{
        bool same = a->total == b->total && a->n == b->n;

        for (size_t i = 0; same && i < a->n; i++)
                same = strcmp(a->what[i], b->what[i]) == 0;
        if (same)
                return;
        print_message("case %s, %s: model %llu problems, stream %llu\n", name, mode,
                      (unsigned long long)a->total, (unsigned long long)b->total);
        for (size_t i = 0; i < a->n || i < b->n; i++)
                print_message("  model:  %s\n  stream: %s\n", i < a->n ? a->what[i] : "-",
                              i < b->n ? b->what[i] : "-");
        fail_msg("case %s (%s): the streamed check differs from the model", name, mode);
}

static void test_stream_equals_model(void **state)
{
        uint8_t seed[32], pk[SEAL_PK_LEN];
        struct seal_key *k = NULL;
        static struct seen model, stream;

        (void)state;
        memset(seed, 7, sizeof(seed));
        assert_int_equal(seal_key_from_seed(seed, &k), 0);
        seal_key_public(k, pk);
        for (size_t t = 0; t < sizeof(cases) / sizeof(*cases); t++) {
                struct epoch e;

                build(&e, k);
                cases[t].alter(&e);
                run_model(&e, pk, &model);
                if (cases[t].clean)
                        assert_int_equal(model.total, 0);
                else if (model.total == 0)
                        fail_msg("case %s: the model found nothing", cases[t].name);
                run_stream(&e, pk, M_THREAD, &stream);
                assert_same(cases[t].name, "hashing thread", &model, &stream);
                run_stream(&e, pk, M_ONE, &stream);
                assert_same(cases[t].name, "one thread", &model, &stream);
                run_stream(&e, pk, M_READ, &stream);
                assert_same(cases[t].name, "read in pieces, ring", &model, &stream);
                epoch_free(&e);
        }
        seal_key_free(k);
}

/* A caller that gives up mid-epoch: the hashing thread stops, nothing is reported, and the
 * verifier takes the next epoch. */
static void test_abandon(void **state)
{
        uint8_t seed[32], pk[SEAL_PK_LEN];
        struct seal_key *k = NULL;
        struct seal_verifier *v = NULL;
        static struct seen s;
        struct epoch e;

        (void)state;
        memset(seed, 7, sizeof(seed));
        assert_int_equal(seal_key_from_seed(seed, &k), 0);
        seal_key_public(k, pk);
        build(&e, k);
        assert_int_equal(seal_verifier_new(pk, collect, &s, &v), 0);
        seal_verifier_records_stable(v, true);
        assert_int_equal(seal_verifier_epoch_begin(v, "e0", e.manifest.data, e.manifest.len,
                                                   e.sig, SEAL_SIG_LEN), 0);
        for (size_t i = 0; i < 9000; i++)
                assert_int_equal(seal_verifier_record(v, e.rec[i], strlen(e.rec[i])), 0);
        seal_verifier_records_abandon(v);
        assert_int_equal(seal_verifier_record(v, e.rec[0], 1), -EINVAL);
        assert_int_equal(seal_verifier_problems(v), 0);
        seal_verifier_free(v);
        epoch_free(&e);
        seal_key_free(k);
}

/* issue 12: a tsc file whose reader fails: stream_end returns the error (the caller stops
 * with it), and a line longer than the read buffer (256 KiB) still compares. */
static void test_read_error_and_long_line(void **state)
{
        uint8_t seed[32], pk[SEAL_PK_LEN];
        struct seal_key *k = NULL;
        struct seal_verifier *v = NULL;
        static struct seen s;
        struct epoch e;
        struct reader rd[2];

        (void)state;
        memset(seed, 7, sizeof(seed));
        assert_int_equal(seal_key_from_seed(seed, &k), 0);
        seal_key_public(k, pk);
        build(&e, k);
        assert_int_equal(seal_verifier_new(pk, collect, &s, &v), 0);
        seal_verifier_records_stable(v, true);
        assert_int_equal(seal_verifier_epoch_begin(v, "e0", e.manifest.data, e.manifest.len,
                                                   e.sig, SEAL_SIG_LEN), 0);
        rd[0] = (struct reader){ e.tsc[0].data, e.tsc[0].len, 0, 0, (long)e.tsc[0].len / 2 };
        rd[1] = (struct reader){ e.tsc[1].data, e.tsc[1].len, 0, 0, -1 };
        assert_int_equal(seal_verifier_tsc_stream_read(v, e.tsc_id[0], reader_cb, &rd[0]), 0);
        assert_int_equal(seal_verifier_tsc_stream_read(v, e.tsc_id[1], reader_cb, &rd[1]), 0);
        for (size_t i = 0; i < e.n; i++)
                assert_int_equal(seal_verifier_record(v, e.rec[i], strlen(e.rec[i])), 0);
        assert_int_equal(seal_verifier_records_end(v), 0);
        assert_int_equal(seal_verifier_tsc_stream_end(v, e.tsc_id[0]), -EIO);
        assert_int_equal(seal_verifier_tsc_stream_end(v, e.tsc_id[1]), 0);
        seal_verifier_free(v);

        /* One record of 300 KiB tagged CC6.1, and its file holding it. */
        size_t big = 300 * 1024;
        char *rec = malloc(big + 64), *file = malloc(big + 64);
        assert_non_null(rec);
        assert_non_null(file);
        int n = snprintf(rec, 64, "{\"criteria\":[\"CC6.1\"],\"m\":\"");
        memset(rec + n, 'a', big);
        snprintf(rec + n + big, 64, "\",\"seq\":0}");
        size_t len = strlen(rec);
        memcpy(file, rec, len);
        file[len] = '\n';
        memset(&s, 0, sizeof(s));
        assert_int_equal(seal_verifier_new(pk, collect, &s, &v), 0);
        assert_int_equal(seal_verifier_epoch_begin(v, "e0", e.manifest.data, e.manifest.len,
                                                   e.sig, SEAL_SIG_LEN), 0);
        rd[0] = (struct reader){ file, len + 1, 0, 0, -1 };
        assert_int_equal(seal_verifier_tsc_stream_read(v, "CC6.1", reader_cb, &rd[0]), 0);
        assert_int_equal(seal_verifier_record(v, rec, len), 0);
        assert_int_equal(seal_verifier_records_end(v), 0);
        assert_int_equal(seal_verifier_tsc_stream_end(v, "CC6.1"), 0);
        for (size_t i = 0; i < s.n; i++)  /* the count and roots differ; the file does not */
                assert_null(strstr(s.what[i], "tsc=CC6.1"));
        seal_verifier_free(v);
        free(rec);
        free(file);
        epoch_free(&e);
        seal_key_free(k);
}

/* issue 12 (verify11): the hashing thread's tag ring (16,384 slots) grown for a record
 * tagged with more criteria than it holds, between two ordinary records; every criterion's
 * root and count must verify, streamed (ring) and on one thread, and a changed byte of that
 * record must fail every root it is in. */
#define MANY_CRIT 17000

static void many_tags_run(const uint8_t pk[SEAL_PK_LEN], const struct buf *man,
                          const uint8_t sig[SEAL_SIG_LEN], char *const rec[3], bool stable,
                          struct seen *s)
{
        struct seal_verifier *v = NULL;

        memset(s, 0, sizeof(*s));
        assert_int_equal(seal_verifier_new(pk, collect, s, &v), 0);
        seal_verifier_records_stable(v, stable);
        assert_int_equal(seal_verifier_epoch_begin(v, "e0", man->data, man->len, sig,
                                                   SEAL_SIG_LEN), 0);
        assert_int_equal(seal_verifier_keep_leaves(v, !stable), 0);
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(seal_verifier_record(v, rec[i], strlen(rec[i])), 0);
        assert_int_equal(seal_verifier_records_end(v), 0);
        assert_int_equal(seal_verifier_epoch_end(v, false), 0);
        assert_int_equal(seal_verifier_finish(v), 0);
        seal_verifier_free(v);
}

static void test_many_tags(void **state)
{
        uint8_t seed[32], pk[SEAL_PK_LEN], leaf[HASH_LEN];
        struct seal_key *k = NULL;
        static struct seen s;
        struct seal_criterion *crit = calloc(MANY_CRIT, sizeof(*crit));
        char (*id)[8] = calloc(MANY_CRIT, sizeof(*id));
        struct merkle *all = NULL;
        struct buf man = BUF_INIT, big = BUF_INIT;
        struct seal_manifest m = { .chain = "main", .epoch = 0, .first_seq = 0 };
        uint8_t sig[SEAL_SIG_LEN], lone[HASH_LEN];
        char *rec[3];
        json *stats = json_new_obj();

        (void)state;
        assert_non_null(crit);
        assert_non_null(id);
        memset(seed, 7, sizeof(seed));
        assert_int_equal(seal_key_from_seed(seed, &k), 0);
        seal_key_public(k, pk);
        assert_int_equal(buf_append(&big, "{\"criteria\":[", 13), 0);
        for (size_t c = 0; c < MANY_CRIT; c++) {
                snprintf(id[c], sizeof(id[c]), "C%05zu", c);
                assert_int_equal(buf_append(&big, c ? ",\"" : "\"", c ? 2 : 1), 0);
                assert_int_equal(buf_append(&big, id[c], 6), 0);
                assert_int_equal(buf_append(&big, "\"", 1), 0);
        }
        assert_int_equal(buf_append(&big, "],\"seq\":1}", 10), 0);
        rec[0] = strdup("{\"criteria\":[\"C00000\"],\"seq\":0}");
        rec[1] = strndup(big.data, big.len);
        rec[2] = strdup("{\"criteria\":[\"C16999\"],\"seq\":2}");
        assert_int_equal(merkle_new(&all), 0);
        for (size_t i = 0; i < 3; i++) {
                merkle_leaf_hash(rec[i], strlen(rec[i]), leaf);
                assert_int_equal(merkle_add_leaf(all, leaf), 0);
        }
        merkle_leaf_hash(rec[1], strlen(rec[1]), lone);
        for (size_t c = 0; c < MANY_CRIT; c++) {  /* record 1 alone, or with 0 or 2 */
                uint8_t l0[HASH_LEN], l2[HASH_LEN];

                crit[c].id = id[c];
                crit[c].count = c == 0 || c == MANY_CRIT - 1 ? 2 : 1;
                memcpy(crit[c].root, lone, HASH_LEN);
                if (c == 0) {
                        merkle_leaf_hash(rec[0], strlen(rec[0]), l0);
                        merkle_node_hash(l0, lone, crit[c].root);
                } else if (c == MANY_CRIT - 1) {
                        merkle_leaf_hash(rec[2], strlen(rec[2]), l2);
                        merkle_node_hash(lone, l2, crit[c].root);
                }
        }
        merkle_root(all, m.root);
        assert_int_equal(json_obj_set_int(stats, "received", 3), 0);
        m.start_us = T0;
        m.end_us = T0 + 3600 * TM_USEC_PER_SEC;
        m.sealed_us = m.end_us + 1000;
        m.count = 3;
        m.criteria = crit;
        m.n_criteria = MANY_CRIT;
        m.stats = stats;
        seal_key_id(pk, m.key_id);
        assert_int_equal(seal_manifest_build(&m, &man), 0);
        assert_int_equal(seal_key_sign(k, man.data, man.len, sig), 0);
        for (int stable = 0; stable <= 1; stable++) {
                many_tags_run(pk, &man, sig, rec, stable, &s);
                for (size_t i = 0; i < s.n; i++)
                        print_message("%s\n", s.what[i]);
                assert_int_equal(s.total, 0);
        }
        rec[1][strlen(rec[1]) - 2] = '2';  /* "seq":2 now: every root of record 1 fails */
        for (int stable = 0; stable <= 1; stable++) {
                many_tags_run(pk, &man, sig, rec, stable, &s);
                /* the seq report, the epoch's root, MANY_CRIT criterion roots */
                assert_true(s.total >= 1 + 1 + MANY_CRIT);
        }
        for (size_t i = 0; i < 3; i++)
                free(rec[i]);
        buf_free(&man);
        buf_free(&big);
        json_free(stats);
        merkle_free(all);
        free(crit);
        free(id);
        seal_key_free(k);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stream_equals_model),
                cmocka_unit_test(test_abandon),
                cmocka_unit_test(test_read_error_and_long_line),
                cmocka_unit_test(test_many_tags),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
