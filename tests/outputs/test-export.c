/* Tests of outputs/export-folder.c: an epoch written and read back byte for byte, the tsc
 * files per criterion, no temporary file left behind, identical re-export, several epochs
 * read in numeric order, a missing manifest reported as NULL, and refused names. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "outputs/outputs.h"

#define TEST_TMPDIR_PREFIX "gl-test-export"
#include "tests/test-tmpdir.h"

static const char *const c61[] = { "CC6.1" };
static const char *const c61_72[] = { "CC6.1", "CC7.2" };
static const char *const c72[] = { "CC7.2" };

#define BYTES(s) s, sizeof(s) - 1
static const struct export_record records[] = {
        { BYTES("{\"seq\":0}"), c61, 1 },
        { BYTES("{\"m\":\"caf\xc3\xa9\",\"seq\":1}"), c61_72, 2 },
        { BYTES("{\"seq\":2}"), NULL, 0 },
        { BYTES("{\"seq\":3}"), c72, 1 },
};
#define N_RECORDS (sizeof(records) / sizeof(records[0]))

static const char manifest[] = "{\"chain\":\"prod\",\"epoch\":7}";

static void sig_bytes(uint8_t sig[64])
{
        for (int i = 0; i < 64; i++)
                sig[i] = (uint8_t)(i * 7); /* includes 0x00 and '\n' */
}

static struct export_epoch make_epoch(const char *chain, int64_t epoch, const uint8_t *sig)
{
        return (struct export_epoch){
                .chain = chain, .epoch = epoch, .manifest = manifest,
                .manifest_len = strlen(manifest), .sig = sig, .records = records,
                .n_records = N_RECORDS,
        };
}

static void rm_tmpdir(const char *dir)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        static char buf[4096];
        size_t n;

        if (!f)
                return NULL;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        *ret_len = n;
        return buf;
}

/* The expected records.jsonl of a criterion (NULL: all records). */
static void expected_lines(const char *id, struct buf *out)
{
        buf_reset(out);
        for (size_t i = 0; i < N_RECORDS; i++) {
                bool tagged = id == NULL;
                for (size_t j = 0; j < records[i].n_criteria; j++)
                        tagged |= id && strcmp(records[i].criteria[j], id) == 0;
                if (tagged) {
                        assert_int_equal(buf_append(out, records[i].data, records[i].len), 0);
                        assert_int_equal(buf_putc(out, '\n'), 0);
                }
        }
}

static const struct {
        const char *name;
        const char *file;   /* under the epoch folder */
        const char *tsc;    /* expected content: NULL all records, else that criterion */
} file_cases[] = {
        { "all records", "records.jsonl", NULL },
        { "CC6.1 records", "tsc=CC6.1/records.jsonl", "CC6.1" },
        { "CC7.2 records", "tsc=CC7.2/records.jsonl", "CC7.2" },
};

/* Names of the entries of a folder, sorted, space-separated. */
static void list_names(const char *dir, char *out, size_t len)
{
        struct dirent **v;
        int n = scandir(dir, &v, NULL, alphasort);

        out[0] = '\0';
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
                if (strcmp(v[i]->d_name, ".") && strcmp(v[i]->d_name, ".."))
                        snprintf(out + strlen(out), len - strlen(out), "%s ", v[i]->d_name);
                free(v[i]);
        }
        free(v);
}

static void test_write_layout(void **state)
{
        char dir[64], path[256], names[256];
        uint8_t sig[64];
        struct export_epoch e;
        struct store_error err;
        struct buf want = BUF_INIT;
        size_t len;
        char *got;

        sig_bytes(sig);
        e = make_epoch("prod", 7, sig);
        test_tmpdir(state, dir);
        assert_int_equal(export_folder_write(dir, &e, &err), 0);

        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000007", dir);
        list_names(path, names, sizeof(names));
        /* Every file present, no hidden temporary left. */
        assert_string_equal(names,
                            "manifest.json manifest.sig records.jsonl tsc=CC6.1 tsc=CC7.2 ");
        for (size_t i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
                snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000007/%s", dir,
                         file_cases[i].file);
                got = slurp(path, &len);
                expected_lines(file_cases[i].tsc, &want);
                if (!got || len != want.len || memcmp(got, want.data, len) != 0)
                        fail_msg("case \"%s\": %s differs", file_cases[i].name, path);
        }
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000007/tsc=CC6.1", dir);
        list_names(path, names, sizeof(names));
        assert_string_equal(names, "records.jsonl ");
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000007/manifest.sig", dir);
        got = slurp(path, &len);
        assert_int_equal(len, 64);
        assert_memory_equal(got, sig, 64);
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000007/manifest.json", dir);
        got = slurp(path, &len);
        assert_int_equal(len, strlen(manifest));
        assert_memory_equal(got, manifest, len);
        buf_free(&want);
        rm_tmpdir(dir);
}

/* ---- reading back ---- */

struct seen {
        int n;
        int64_t epochs[8];
        bool ok[8];
        bool manifest_missing[8];
};

static bool epoch_matches(const struct export_read_epoch *e, const uint8_t sig[64])
{
        struct buf want = BUF_INIT;
        bool ok;

        expected_lines(NULL, &want);
        ok = e->sig && e->sig_len == 64 && memcmp(e->sig, sig, 64) == 0 && e->records &&
             e->records_len == want.len && memcmp(e->records, want.data, want.len) == 0 &&
             e->n_tsc == 2 && strcmp(e->tsc_ids[0], "CC6.1") == 0 &&
             strcmp(e->tsc_ids[1], "CC7.2") == 0;
        for (size_t i = 0; ok && i < e->n_tsc; i++) {
                expected_lines(e->tsc_ids[i], &want);
                ok = e->tsc_data[i] && e->tsc_len[i] == want.len &&
                     memcmp(e->tsc_data[i], want.data, want.len) == 0;
        }
        buf_free(&want);
        return ok;
}

static int read_cb(void *ud, const struct export_read_epoch *e)
{
        struct seen *s = ud;
        uint8_t sig[64];
        const char *num = strrchr(e->path, '=');

        sig_bytes(sig);
        assert_true(s->n < 8);
        assert_non_null(num);
        s->epochs[s->n] = strtoll(num + 1, NULL, 10);
        s->manifest_missing[s->n] = e->manifest == NULL;
        s->ok[s->n] = epoch_matches(e, sig) &&
                      (!e->manifest || (e->manifest_len == strlen(manifest) &&
                                        memcmp(e->manifest, manifest, e->manifest_len) == 0));
        s->n++;
        return 0;
}

/* issue 12: export_folder_read_fds hands the same files as descriptors (read from 0). */
static char *fd_bytes(int fd, size_t *ret_len)
{
        struct stat st;
        char *p;

        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        p = malloc((size_t)st.st_size + 1);
        assert_non_null(p);
        assert_int_equal(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
        *ret_len = (size_t)st.st_size;
        return p;
}

static int read_fd_cb(void *ud, const struct export_read_epoch *e)
{
        struct export_read_epoch x = *e;
        char *rec, *t[4] = { NULL };
        size_t tl[4] = { 0 };
        int r;

        assert_true(e->by_fd);
        assert_null(e->records);
        assert_true(e->n_tsc <= 4);
        x.records = rec = fd_bytes(e->records_fd, &x.records_len);
        for (size_t i = 0; i < e->n_tsc; i++) {
                assert_null(e->tsc_data[i]);
                t[i] = fd_bytes(e->tsc_fd[i], &tl[i]);
        }
        x.tsc_data = (const char *const *)t;
        x.tsc_len = tl;
        r = read_cb(ud, &x);
        for (size_t i = 0; i < e->n_tsc; i++)
                free(t[i]);
        free(rec);
        return r;
}

static void test_read_back(void **state)
{
        char dir[64], path[256];
        uint8_t sig[64];
        struct export_epoch e;
        struct store_error err;
        struct seen seen = { 0 };
        static const int64_t order[] = { 9, 10, 100, 2 };

        sig_bytes(sig);
        test_tmpdir(state, dir);
        /* Written out of order; read back in numeric order. */
        for (size_t i = 0; i < 4; i++) {
                e = make_epoch("prod", order[i], sig);
                assert_int_equal(export_folder_write(dir, &e, &err), 0);
        }
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000010/manifest.json", dir);
        assert_int_equal(unlink(path), 0);
        /* Stray entries are not epochs. */
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=12x", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/chain=prod/.hidden", dir);
        assert_int_equal(mkdir(path, 0755), 0);

        assert_int_equal(export_folder_read(dir, NULL, read_cb, &seen, &err), 0);
        assert_int_equal(seen.n, 4);
        assert_int_equal(seen.epochs[0], 2);
        assert_int_equal(seen.epochs[1], 9);
        assert_int_equal(seen.epochs[2], 10);
        assert_int_equal(seen.epochs[3], 100);
        for (int i = 0; i < 4; i++) {
                assert_true(seen.ok[i]);
                assert_int_equal(seen.manifest_missing[i], i == 2);
        }

        memset(&seen, 0, sizeof(seen));
        assert_int_equal(export_folder_read(dir, "prod", read_cb, &seen, &err), 0);
        assert_int_equal(seen.n, 4);
        memset(&seen, 0, sizeof(seen));  /* issue 12: by descriptor, the same bytes */
        assert_int_equal(export_folder_read_fds(dir, "prod", read_fd_cb, &seen, &err), 0);
        assert_int_equal(seen.n, 4);
        for (int i = 0; i < 4; i++) {
                assert_true(seen.ok[i]);
                assert_int_equal(seen.manifest_missing[i], i == 2);
        }
        assert_int_equal(export_folder_read(dir, "other", read_cb, &seen, &err), -ENOENT);

        /* A second chain makes "the only chain" ambiguous. */
        e = make_epoch("dr", 0, sig);
        assert_int_equal(export_folder_write(dir, &e, &err), 0);
        assert_int_equal(export_folder_read(dir, NULL, read_cb, &seen, &err), -EINVAL);
        rm_tmpdir(dir);
}

static int stop_cb(void *ud, const struct export_read_epoch *e)
{
        (*(int *)ud)++;
        return -ECANCELED;
}

static void test_read_stop_and_empty(void **state)
{
        char dir[64];
        uint8_t sig[64];
        struct export_epoch e;
        struct store_error err;
        int calls = 0;

        sig_bytes(sig);
        test_tmpdir(state, dir);
        assert_int_equal(export_folder_read(dir, NULL, stop_cb, &calls, &err), -ENOENT);
        for (int64_t i = 0; i < 3; i++) {
                e = make_epoch("prod", i, sig);
                assert_int_equal(export_folder_write(dir, &e, &err), 0);
        }
        assert_int_equal(export_folder_read(dir, NULL, stop_cb, &calls, &err), -ECANCELED);
        assert_int_equal(calls, 1);
        rm_tmpdir(dir);
}

static void test_reexport_identical(void **state)
{
        char dir[64], path[256], first[4096], names[256];
        uint8_t sig[64];
        struct export_epoch e;
        struct store_error err;
        size_t len1, len2;
        char *got;

        sig_bytes(sig);
        e = make_epoch("prod", 1, sig);
        test_tmpdir(state, dir);
        assert_int_equal(export_folder_write(dir, &e, &err), 0);
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000001/tsc=CC7.2/records.jsonl",
                 dir);
        got = slurp(path, &len1);
        assert_non_null(got);
        memcpy(first, got, len1);
        assert_int_equal(export_folder_write(dir, &e, &err), 0);
        got = slurp(path, &len2);
        assert_int_equal(len1, len2);
        assert_memory_equal(first, got, len1);
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000001", dir);
        list_names(path, names, sizeof(names));
        assert_string_equal(names,
                            "manifest.json manifest.sig records.jsonl tsc=CC6.1 tsc=CC7.2 ");
        rm_tmpdir(dir);
}

static void test_empty_epoch(void **state)
{
        char dir[64], path[256], names[256];
        uint8_t sig[64];
        struct export_epoch e;
        struct store_error err;
        size_t len = 99;

        sig_bytes(sig);
        e = make_epoch("prod", 0, sig);
        e.n_records = 0;
        test_tmpdir(state, dir);
        assert_int_equal(export_folder_write(dir, &e, &err), 0);
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000000", dir);
        list_names(path, names, sizeof(names));
        assert_string_equal(names, "manifest.json manifest.sig records.jsonl ");
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000000/records.jsonl", dir);
        assert_non_null(slurp(path, &len));
        assert_int_equal(len, 0);
        rm_tmpdir(dir);
}

/* A failure while writing a tsc file must leave no manifest: the manifest comes last. */
static void test_manifest_last(void **state)
{
        char dir[64], path[256], names[256];
        uint8_t sig[64];
        struct export_epoch e;
        struct store_error err = { "" };
        FILE *f;

        sig_bytes(sig);
        e = make_epoch("prod", 3, sig);
        test_tmpdir(state, dir);
        snprintf(path, sizeof(path), "%s/chain=prod", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000003", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        /* A plain file where the tsc=CC7.2 folder should go. */
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000003/tsc=CC7.2", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);

        assert_true(export_folder_write(dir, &e, &err) < 0);
        assert_true(strlen(err.msg) > 0);
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000003", dir);
        list_names(path, names, sizeof(names));
        /* The files are written in one pass (issue 12), so the failure aborts them all: no
         * records.jsonl, no manifest, no signature, no temporary left. */
        assert_string_equal(names, "tsc=CC6.1 tsc=CC7.2 ");
        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000003/tsc=CC6.1", dir);
        list_names(path, names, sizeof(names));
        assert_string_equal(names, "");
        rm_tmpdir(dir);
}

static const struct {
        const char *name;
        const char *chain;
        int64_t epoch;
        const char *criterion;
        int expected;
} refuse_cases[] = {
        { "slash in chain", "a/b", 0, "CC6.1", -EINVAL },
        { "dot chain", ".hidden", 0, "CC6.1", -EINVAL },
        { "dotdot chain", "..", 0, "CC6.1", -EINVAL },
        { "empty chain", "", 0, "CC6.1", -EINVAL },
        { "negative epoch", "prod", -1, "CC6.1", -EINVAL },
        { "slash in criterion", "prod", 0, "../../etc", -EINVAL },
        { "dot criterion", "prod", 0, ".x", -EINVAL },
        { "fine", "prod", 0, "CC6.1", 0 },
};

static void test_refused_names(void **state)
{
        char dir[64], names[256];
        uint8_t sig[64];
        struct store_error err;

        sig_bytes(sig);
        test_tmpdir(state, dir);
        for (size_t i = 0; i < sizeof(refuse_cases) / sizeof(refuse_cases[0]); i++) {
                const char *ids[] = { refuse_cases[i].criterion };
                struct export_record rec = { "{}", 2, ids, 1 };
                struct export_epoch e = {
                        .chain = refuse_cases[i].chain, .epoch = refuse_cases[i].epoch,
                        .manifest = "{}", .manifest_len = 2, .sig = sig, .records = &rec,
                        .n_records = 1,
                };
                int r = export_folder_write(dir, &e, &err);
                if (r != refuse_cases[i].expected)
                        fail_msg("case \"%s\": got %d expected %d", refuse_cases[i].name, r,
                                 refuse_cases[i].expected);
        }
        /* Nothing but the one valid export was created. */
        list_names(dir, names, sizeof(names));
        assert_string_equal(names, "chain=prod ");
        rm_tmpdir(dir);
}

/* ---- issue 12: staging an epoch while it is open ---- */

/* Every file under a folder, as "path:size:fnv" lines in name order, into out (hidden names
 * included, so that a temporary left behind shows). */
static void tree_sum(const char *dir, const char *rel, struct buf *out)
{
        struct dirent **v;
        char path[512], sub[512];
        int n = scandir(dir, &v, NULL, alphasort);

        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
                const char *name = v[i]->d_name;
                struct stat st;
                if (strcmp(name, ".") && strcmp(name, "..")) {
                        snprintf(path, sizeof(path), "%s/%s", dir, name);
                        snprintf(sub, sizeof(sub), "%s/%s", rel, name);
                        assert_int_equal(stat(path, &st), 0);
                        if (S_ISDIR(st.st_mode)) {
                                tree_sum(path, sub, out);
                        } else {
                                size_t len = 0;
                                const char *p = slurp(path, &len);
                                uint64_t h = 1469598103934665603ull;
                                char line[600];
                                for (size_t k = 0; p && k < len; k++)
                                        h = (h ^ (uint8_t)p[k]) * 1099511628211ull;
                                snprintf(line, sizeof(line), "%s:%zu:%llx\n", sub, len,
                                         (unsigned long long)h);
                                assert_int_equal(buf_append(out, line, strlen(line)), 0);
                        }
                }
                free(v[i]);
        }
        free(v);
}

/* Staging the first k records (with a flush after the first), committing the rest: for
 * every k the folder is byte for byte export_folder_write's, and nothing hidden is left. */
static void test_stage_same_bytes(void **state)
{
        char dir[64], ref[64], path[256], names[256];
        struct buf want = BUF_INIT, got = BUF_INIT;
        uint8_t sig[64];
        struct store_error err = { { 0 } };

        sig_bytes(sig);
        test_tmpdir(state, ref);
        struct export_epoch e = make_epoch("prod", 3, sig);
        assert_int_equal(export_folder_write(ref, &e, &err), 0);
        tree_sum(ref, "", &want);
        for (size_t k = 0; k <= N_RECORDS; k++) {
                struct export_folder_stage *st = NULL;
                test_tmpdir(state, dir);
                assert_int_equal(export_folder_stage_open(dir, "prod", 3, &st, &err), 0);
                for (size_t i = 0; i < k; i++) {
                        assert_int_equal(export_folder_stage_add(st, &records[i], &err), 0);
                        if (i == 0)
                                assert_int_equal(export_folder_stage_flush(st, &err), 0);
                }
                /* Before the commit: only the hidden staging folder, no chain folder. */
                list_names(dir, names, sizeof(names));
                assert_string_equal(names, ".stage.chain=prod.epoch=0000000003 ");
                e.records = records + k;
                e.n_records = N_RECORDS - k;
                assert_int_equal(export_folder_stage_commit(st, &e, &err), 0);
                buf_reset(&got);
                tree_sum(dir, "", &got);
                assert_int_equal(got.len, want.len);
                assert_memory_equal(got.data, want.data, want.len);
                rm_tmpdir(dir);
        }
        /* A stage abandoned (a crash's leftovers) is removed by clean, not exported. */
        test_tmpdir(state, dir);
        struct export_folder_stage *st = NULL;
        assert_int_equal(export_folder_stage_open(dir, "prod", 4, &st, &err), 0);
        assert_int_equal(export_folder_stage_add(st, &records[1], &err), 0);
        assert_int_equal(export_folder_stage_flush(st, &err), 0);
        snprintf(path, sizeof(path), "%s/.stage.chain=prod.epoch=0000000004/tsc=CC7.2", dir);
        list_names(path, names, sizeof(names));
        assert_true(names[0] == '.');  /* the hidden temporary of tsc=CC7.2 */
        snprintf(path, sizeof(path), "%s/.stage.chain=prodx.epoch=0000000004", dir);
        assert_int_equal(mkdir(path, 0755), 0);  /* another chain's: kept */
        assert_int_equal(export_folder_stage_clean(dir, "prod"), 0);
        list_names(dir, names, sizeof(names));
        assert_string_equal(names, ".stage.chain=prodx.epoch=0000000004 ");
        export_folder_stage_free(st);  /* its files are gone already: no error */
        rm_tmpdir(dir);
        rm_tmpdir(ref);
        buf_free(&want);
        buf_free(&got);
}

/* A whole file, malloc'd (slurp reads at most 4 KiB). */
static char *read_all(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        struct buf b = BUF_INIT;
        char chunk[65536];
        size_t n;

        assert_non_null(f);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                assert_int_equal(buf_append(&b, chunk, n), 0);
        fclose(f);
        *ret_len = b.len;
        return b.data;
}

/* Lines of every length around the files' 256 KiB write buffers (a line that fits is copied
 * with its '\n' in one go, one that does not goes through the flush; issue 12, round 9):
 * records.jsonl and each tsc file, staged with flushes at odd places or written in one go,
 * hold exactly the records' bytes and a '\n' each, in order (the model: the lines built
 * here). Lengths 1 .. 300 KiB, the buffer's size and its neighbours included. */
static void test_line_buffer_edges(void **state)
{
        enum { N = 700, WBUF = 256 * 1024 };
        static const size_t big[] = { WBUF - 2, WBUF - 1, WBUF, WBUF + 1, 300 * 1024 };
        struct export_record *recs = calloc(N, sizeof(*recs));
        char **datas = calloc(N, sizeof(*datas));
        struct buf want_all = BUF_INIT, want_72 = BUF_INIT;
        char dir[64], path[256];
        uint8_t sig[64];
        struct store_error err = { { 0 } };

        assert_non_null(recs);
        assert_non_null(datas);
        sig_bytes(sig);
        for (size_t i = 0; i < N; i++) {
                size_t len = i % 97 == 5 ? big[(i / 97) % 5] : 1 + (i * 7919) % 3000;
                datas[i] = malloc(len);
                assert_non_null(datas[i]);
                for (size_t k = 0; k < len; k++)
                        datas[i][k] = (char)('a' + (i + k) % 26);
                recs[i].data = datas[i];
                recs[i].len = len;
                recs[i].criteria = i % 3 == 0 ? NULL : i % 3 == 1 ? c72 : c61_72;
                recs[i].n_criteria = i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : 2;
                assert_int_equal(buf_append(&want_all, datas[i], len), 0);
                assert_int_equal(buf_putc(&want_all, '\n'), 0);
                if (i % 3) {
                        assert_int_equal(buf_append(&want_72, datas[i], len), 0);
                        assert_int_equal(buf_putc(&want_72, '\n'), 0);
                }
        }
        for (size_t staged = 0; staged <= N; staged += N / 2) {
                struct export_epoch e = make_epoch("prod", 5, sig);
                test_tmpdir(state, dir);
                if (staged) {
                        struct export_folder_stage *st = NULL;
                        assert_int_equal(export_folder_stage_open(dir, "prod", 5, &st, &err), 0);
                        for (size_t i = 0; i < staged; i++) {
                                assert_int_equal(export_folder_stage_add(st, &recs[i], &err), 0);
                                if (i % 61 == 0)
                                        assert_int_equal(export_folder_stage_flush(st, &err), 0);
                        }
                        e.records = recs + staged;
                        e.n_records = N - staged;
                        assert_int_equal(export_folder_stage_commit(st, &e, &err), 0);
                } else {
                        e.records = recs;
                        e.n_records = N;
                        assert_int_equal(export_folder_write(dir, &e, &err), 0);
                }
                static const char *const files[] = { "records.jsonl", "tsc=CC7.2/records.jsonl" };
                for (size_t f = 0; f < 2; f++) {
                        const struct buf *want = f == 0 ? &want_all : &want_72;
                        size_t len = 0;
                        snprintf(path, sizeof(path), "%s/chain=prod/epoch=0000000005/%s", dir,
                                 files[f]);
                        char *got = read_all(path, &len);
                        if (len != want->len || memcmp(got, want->data, len) != 0)
                                fail_msg("staged %zu: %s differs (%zu bytes, want %zu)", staged,
                                         files[f], len, want->len);
                        free(got);
                }
                rm_tmpdir(dir);
        }
        for (size_t i = 0; i < N; i++)
                free(datas[i]);
        free(datas);
        free(recs);
        buf_free(&want_all);
        buf_free(&want_72);
}

/* The stage reader over a real store: records past `after` of the open epoch in one
 * snapshot, and the tail of the sealed epoch, together exactly store_records_foreach's. */
struct seqs { char text[512]; };

static int seqs_cb(void *ud, const struct store_record *r)
{
        struct seqs *q = ud;
        char want[64];
        /* The reader hands each record's own bytes (put_rec's) and its epoch column. */
        snprintf(want, sizeof(want), "{\"seq\":%lld}", (long long)r->seq);
        assert_int_equal(r->len, strlen(want));
        assert_memory_equal(r->data, want, r->len);
        assert_int_equal(r->epoch, r->seq < 3 ? 0 : 1);
        snprintf(q->text + strlen(q->text), sizeof(q->text) - strlen(q->text), "%lld,",
                 (long long)r->seq);
        return 0;
}

static void put_rec(struct store *s, int64_t seq, int64_t epoch)
{
        char data[64];
        struct store_record r = { .seq = seq, .epoch = epoch, .data = data };
        snprintf(data, sizeof(data), "{\"seq\":%lld}", (long long)seq);
        r.len = strlen(data);
        assert_int_equal(store_record_insert(s, &r), 0);
}

static void test_stage_reader(void **state)
{
        char dir[64], db[128];
        struct store *s = NULL, *rd = NULL;
        struct store_error err = { { 0 } };
        struct store_epoch last = { 0 };
        struct store_epoch e0 = { .epoch = 0, .first_seq = 0, .stats = "{}" };
        struct store_epoch e1 = { .epoch = 1, .first_seq = 3, .stats = "{}" };
        struct seqs a = { "" }, b = { "" }, all = { "" };
        int64_t lo = 0;

        test_tmpdir(state, dir);
        snprintf(db, sizeof(db), "%s/s.db", dir);
        assert_int_equal(store_open(db, STORE_READWRITE, &s, &err), 0);
        assert_int_equal(store_open(db, STORE_READWRITE, &rd, &err), 0);
        assert_int_equal(export_stage_begin(rd, &last), -ENOENT);  /* no epoch yet */
        e0.sealed = true;
        assert_int_equal(store_epoch_put(s, &e0), 0);
        for (int64_t q = 0; q < 3; q++)
                put_rec(s, q, 0);
        assert_int_equal(store_epoch_put(s, &e1), 0);
        put_rec(s, 3, 1);
        put_rec(s, 4, 1);
        /* The open epoch 1 in one snapshot: a record committed meanwhile is not seen. */
        assert_int_equal(export_stage_begin(rd, &last), 0);
        assert_int_equal(last.epoch, 1);
        assert_false(last.sealed);
        store_epoch_clear(&last);
        put_rec(s, 5, 1);
        assert_int_equal(export_stage_records(rd, 1, INT64_MIN, &lo, seqs_cb, &a), 0);
        assert_int_equal(export_stage_end(rd), 0);
        assert_string_equal(a.text, "3,4,");
        assert_int_equal(lo, 3);
        /* Sealed (epoch 2 opened at seq 7): the tail past 4 ends at the epoch's range. */
        put_rec(s, 6, 1);
        e1.sealed = true;
        e1.count = 4;
        assert_int_equal(store_epoch_put(s, &e1), 0);
        struct store_epoch e2 = { .epoch = 2, .first_seq = 7, .stats = "{}" };
        assert_int_equal(store_epoch_put(s, &e2), 0);
        put_rec(s, 7, 2);
        assert_int_equal(export_stage_check(rd, 1, lo, 4), 0);
        assert_int_equal(export_stage_check(rd, 1, lo + 1, 4), -ESTALE);
        assert_int_equal(export_stage_check(rd, 1, lo, 7), -ESTALE);
        assert_int_equal(export_stage_records(rd, 1, 4, NULL, seqs_cb, &b), 0);
        assert_string_equal(b.text, "5,6,");
        assert_int_equal(store_records_foreach(rd, 1, seqs_cb, &all), 0);
        assert_string_equal(all.text, "3,4,5,6,");
        /* The first epoch's range starts before any seq: all of it from INT64_MIN. */
        memset(&b, 0, sizeof(b));
        assert_int_equal(export_stage_records(rd, 0, INT64_MIN, &lo, seqs_cb, &b), 0);
        assert_string_equal(b.text, "0,1,2,");
        assert_int_equal(lo, INT64_MIN);
        store_close(rd);
        store_close(s);
        rm_tmpdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_write_layout),
                cmocka_unit_test(test_read_back),
                cmocka_unit_test(test_read_stop_and_empty),
                cmocka_unit_test(test_reexport_identical),
                cmocka_unit_test(test_empty_epoch),
                cmocka_unit_test(test_refused_names),
                cmocka_unit_test(test_manifest_last),
                cmocka_unit_test(test_stage_same_bytes),  /* issue 12 */
                cmocka_unit_test(test_line_buffer_edges),
                cmocka_unit_test(test_stage_reader),
        };

        return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
