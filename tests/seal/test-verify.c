/* The verifier: a 3-epoch chain built in memory with a fixed-seed key must verify clean, and
 * each way an attacker or a bug could alter it must be reported, naming the right epoch and
 * (for one record) the right seq. The chain is built the way the writer builds it: canonical
 * records, the incremental tree, per-criterion trees, the manifest builder, and the key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#define TEST_TMPDIR_PREFIX "gatelog-test-export"
#include "tests/test-tmpdir.h"

#include "core/tm.h"
#include "seal/seal.h"

#define N_EPOCHS 3
#define PER_EPOCH 6
#define MAX_RECS 16
#define T0 INT64_C(1772359200000000)

static const char *const crit_ids[] = { "CC6.1", "CC7.2" };

struct ep {
        struct buf manifest;
        uint8_t sig[SEAL_SIG_LEN];
        size_t sig_len;
        char *rec[MAX_RECS];
        size_t n;
};

struct chain {
        struct ep e[N_EPOCHS];
};

typedef void (*mutate_fn)(size_t epoch, struct seal_manifest *m);

static bool tagged(uint64_t seq, size_t c)
{
        return c == 0 ? seq % 2 == 0 : seq % 3 == 0;
}

static char *make_record(uint64_t seq)
{
        json *r = json_new_obj(), *crit = json_new_arr();
        struct buf b = BUF_INIT;
        char msg[64];

        assert_non_null(r);
        assert_non_null(crit);
        for (size_t c = 0; c < 2; c++)
                if (tagged(seq, c))
                        assert_int_equal(json_arr_append(crit, json_new_str(crit_ids[c])), 0);
        snprintf(msg, sizeof(msg), "event %llu: sshd accepted key", (unsigned long long)seq);
        assert_int_equal(json_obj_set_int(r, "seq", (int64_t)seq), 0);
        assert_int_equal(json_obj_set_str(r, "message", msg), 0);
        assert_int_equal(json_obj_set_str(r, "host", "web-1"), 0);
        assert_int_equal(json_obj_set(r, "criteria", crit), 0);
        assert_int_equal(json_canon(r, &b), 0);
        json_free(r);
        return buf_steal(&b, NULL);
}

static struct seal_key *fixed_key(uint8_t byte)
{
        uint8_t seed[32];
        struct seal_key *k = NULL;

        memset(seed, byte, sizeof(seed));
        assert_int_equal(seal_key_from_seed(seed, &k), 0);
        return k;
}

static void sign_epoch(struct ep *e, const struct seal_key *k)
{
        assert_int_equal(seal_key_sign(k, e->manifest.data, e->manifest.len, e->sig), 0);
        e->sig_len = SEAL_SIG_LEN;
}

/* Builds epoch e from records first_seq.. and the previous manifest hash. */
static void build_epoch(struct ep *e, size_t num, uint64_t first_seq, const uint8_t *prev,
                        const struct seal_key *k, mutate_fn mut)
{
        struct merkle *all = NULL, *per[2] = { NULL, NULL };
        struct seal_criterion crit[2];
        struct seal_manifest m = { .chain = "main", .epoch = num };
        uint8_t pk[SEAL_PK_LEN], leaf[HASH_LEN];
        json *stats = json_new_obj();

        assert_int_equal(merkle_new(&all), 0);
        assert_int_equal(merkle_new(&per[0]), 0);
        assert_int_equal(merkle_new(&per[1]), 0);
        e->n = PER_EPOCH;
        for (size_t i = 0; i < PER_EPOCH; i++) {
                e->rec[i] = make_record(first_seq + i);
                merkle_leaf_hash(e->rec[i], strlen(e->rec[i]), leaf);
                assert_int_equal(merkle_add_leaf(all, leaf), 0);
                for (size_t c = 0; c < 2; c++)
                        if (tagged(first_seq + i, c))
                                assert_int_equal(merkle_add_leaf(per[c], leaf), 0);
        }
        for (size_t c = 0; c < 2; c++) {
                crit[c].id = crit_ids[c];
                crit[c].count = merkle_count(per[c]);
                merkle_root(per[c], crit[c].root);
        }
        merkle_root(all, m.root);
        assert_int_equal(json_obj_set_int(stats, "received", PER_EPOCH), 0);
        m.start_us = T0 + (int64_t)num * 3600 * TM_USEC_PER_SEC;
        m.end_us = m.start_us + 3600 * TM_USEC_PER_SEC;
        m.sealed_us = m.end_us + 1000;
        m.first_seq = first_seq;
        m.count = PER_EPOCH;
        m.criteria = crit;
        m.n_criteria = 2;
        m.stats = stats;
        memcpy(m.prev, prev, HASH_LEN);
        seal_key_public(k, pk);
        seal_key_id(pk, m.key_id);
        if (mut)
                mut(num, &m);
        assert_int_equal(seal_manifest_build(&m, &e->manifest), 0);
        sign_epoch(e, k);
        json_free(stats);
        merkle_free(all);
        merkle_free(per[0]);
        merkle_free(per[1]);
}

static void build_chain(struct chain *c, const struct seal_key *k, mutate_fn mut)
{
        uint8_t prev[HASH_LEN] = { 0 };

        memset(c, 0, sizeof(*c));
        for (size_t e = 0; e < N_EPOCHS; e++) {
                build_epoch(&c->e[e], e, e * PER_EPOCH, prev, k, mut);
                hash_sha256(c->e[e].manifest.data, c->e[e].manifest.len, prev);
        }
}

static void free_chain(struct chain *c)
{
        for (size_t e = 0; e < N_EPOCHS; e++) {
                buf_free(&c->e[e].manifest);
                for (size_t i = 0; i < c->e[e].n; i++)
                        free(c->e[e].rec[i]);
        }
}

/* ---- Running the verifier ---- */

struct problem {
        int64_t epoch, seq;
        char what[512];
};

struct seen {
        struct problem p[64];
        size_t n;
};

static void collect(void *ud, int64_t epoch, int64_t seq, const char *what)
{
        struct seen *s = ud;

        if (s->n < 64) {
                s->p[s->n].epoch = epoch;
                s->p[s->n].seq = seq;
                snprintf(s->p[s->n].what, sizeof(s->p[s->n].what), "%s", what);
                s->n++;
        }
}

enum {
        FEED_TSC = 1,           /* also the tsc=ID files, built from the records' tags */
        FEED_SKIP_1 = 2,        /* leave epoch 1 out */
        FEED_DROP_TSC_LINE = 4, /* tsc=CC6.1 of epoch 0 lacks its last line */
        FEED_NO_TSC_FILE = 8,   /* tsc=CC7.2 of epoch 0 missing */
        FEED_BAD_TSC_LINE = 16, /* tsc=CC6.1 of epoch 1: line 2 is line 1 again */
};

static void feed_tsc(struct seal_verifier *v, const struct ep *e, int flags, size_t num)
{
        for (size_t c = 0; c < 2; c++) {
                struct seal_blob b[MAX_RECS];
                size_t n = 0;

                if ((flags & FEED_NO_TSC_FILE) && num == 0 && c == 1)
                        continue;
                for (size_t i = 0; i < e->n; i++)
                        if (strstr(e->rec[i], crit_ids[c]))
                                b[n++] = (struct seal_blob){ e->rec[i], strlen(e->rec[i]) };
                if ((flags & FEED_DROP_TSC_LINE) && num == 0 && c == 0)
                        n--;
                if ((flags & FEED_BAD_TSC_LINE) && num == 1 && c == 0)
                        b[1] = b[0];
                assert_int_equal(seal_verifier_tsc(v, crit_ids[c], b, n), 0);
        }
}

static uint64_t verify_chain(const struct chain *c, const uint8_t pk[SEAL_PK_LEN], int flags,
                             struct seen *seen)
{
        struct seal_verifier *v = NULL;
        uint64_t problems;

        memset(seen, 0, sizeof(*seen));
        assert_int_equal(seal_verifier_new(pk, collect, seen, &v), 0);
        for (size_t e = 0; e < N_EPOCHS; e++) {
                const struct ep *ep = &c->e[e];
                struct seal_blob b[MAX_RECS];

                if ((flags & FEED_SKIP_1) && e == 1)
                        continue;
                for (size_t i = 0; i < ep->n; i++)
                        b[i] = (struct seal_blob){ ep->rec[i], strlen(ep->rec[i]) };
                assert_int_equal(seal_verifier_epoch(v, NULL, ep->manifest.data,
                                                     ep->manifest.len, ep->sig, ep->sig_len,
                                                     b, ep->n), 0);
                if (flags & FEED_TSC)
                        feed_tsc(v, ep, flags, e);
                assert_int_equal(seal_verifier_epoch_end(v, flags & FEED_TSC), 0);
        }
        problems = seal_verifier_problems(v);
        assert_int_equal(problems, seen->n < 64 ? seen->n : problems);
        seal_verifier_free(v);
        return problems;
}

/* ---- Tampering ---- */

static void t_record_byte(struct chain *c, const struct seal_key *k)
{
        char *p = strstr(c->e[1].rec[2], "sshd");

        p[0] = 'S';             /* still canonical JSON: only the hash can tell */
}

static void t_record_deleted(struct chain *c, const struct seal_key *k)
{
        free(c->e[1].rec[3]);   /* seq 9 */
        memmove(&c->e[1].rec[3], &c->e[1].rec[4], 2 * sizeof(char *));
        c->e[1].n--;
}

static void t_record_inserted(struct chain *c, const struct seal_key *k)
{
        memmove(&c->e[1].rec[3], &c->e[1].rec[2], 4 * sizeof(char *));
        c->e[1].rec[2] = strdup(c->e[1].rec[3]);        /* seq 8 twice */
        c->e[1].n++;
}

static void t_records_swapped(struct chain *c, const struct seal_key *k)
{
        char *t = c->e[1].rec[1];

        c->e[1].rec[1] = c->e[1].rec[2];
        c->e[1].rec[2] = t;
}

static void t_manifest_byte(struct chain *c, const struct seal_key *k)
{
        char *p = strstr(c->e[1].manifest.data, "\"sealed\":\"2026");

        p[strlen("\"sealed\":\"202")] = '7';
}

static void t_not_canonical(struct chain *c, const struct seal_key *k)
{
        char *r = c->e[0].rec[1];
        size_t n = strlen(r);
        char *s = malloc(n + 2);

        s[0] = '{';
        s[1] = ' ';
        memcpy(s + 2, r + 1, n);
        free(r);
        c->e[0].rec[1] = s;
}

static void t_not_json(struct chain *c, const struct seal_key *k)
{
        free(c->e[0].rec[4]);
        c->e[0].rec[4] = strdup("{\"seq\":4,\"message\":");
}

static void t_manifest_not_canonical(struct chain *c, const struct seal_key *k)
{
        struct ep *e = &c->e[2];
        struct buf b = BUF_INIT;

        buf_append(&b, "{ ", 2);
        buf_append(&b, e->manifest.data + 1, e->manifest.len - 1);
        buf_free(&e->manifest);
        e->manifest = b;
        sign_epoch(e, k);
}

static void t_manifest_unknown_member(struct chain *c, const struct seal_key *k)
{
        struct ep *e = &c->e[2];

        e->manifest.len--;      /* drop the closing brace */
        buf_puts(&e->manifest, ",\"zz\":1}");
        sign_epoch(e, k);
}

static void t_sig_short(struct chain *c, const struct seal_key *k)
{
        c->e[2].sig_len = 63;
}

static void t_tag_dropped(struct chain *c, const struct seal_key *k)
{
        char *p = strstr(c->e[0].rec[2], "\"CC6.1\"");   /* seq 2: ["CC6.1"] only */

        memmove(p, p + 7, strlen(p + 7) + 1);
}

static void m_prev(size_t e, struct seal_manifest *m)
{
        if (e == 2)
                m->prev[0] ^= 1;
}

static void m_first_seq(size_t e, struct seal_manifest *m)
{
        if (e == 2)
                m->first_seq++;
}

static void m_chain(size_t e, struct seal_manifest *m)
{
        if (e == 1)
                m->chain = "other";
}

static void m_count(size_t e, struct seal_manifest *m)
{
        if (e == 1)
                m->count++;
}

static void m_prev0(size_t e, struct seal_manifest *m)
{
        if (e == 0)
                m->prev[31] = 1;
}

struct tamper_case {
        const char *name;
        void (*tamper)(struct chain *c, const struct seal_key *k);
        mutate_fn mutate;
        int flags;
        bool wrong_key;
        int64_t epoch, seq;     /* seq -1: not about one record */
        const char *what;
};

static const struct tamper_case tamper_cases[] = {
        { "record byte changed", t_record_byte, NULL, 0, false, 1, -1,
          "epoch 1: root mismatch: manifest says " },
        { "record deleted", t_record_deleted, NULL, 0, false, 1, 10,
          "epoch 1 seq 10: seq jumps from 8 to 10: record 9 missing" },
        { "record deleted: count", t_record_deleted, NULL, 0, false, 1, -1,
          "manifest count is 6 but 5 records were given" },
        { "record inserted", t_record_inserted, NULL, 0, false, 1, 8,
          "epoch 1 seq 8: out of order or repeated" },
        { "records swapped", t_records_swapped, NULL, 0, false, 1, 7,
          "epoch 1 seq 7: out of order or repeated: comes after seq 8" },
        { "epoch removed", NULL, NULL, FEED_SKIP_1, false, 1, -1,
          "epoch 1 missing: epochs jump from 0 to 2" },
        { "manifest byte edited", t_manifest_byte, NULL, 0, false, 1, -1,
          "epoch 1: bad signature (key_id " },
        { "manifest edit breaks the next link", t_manifest_byte, NULL, 0, false, 2, -1,
          "epoch 2: prev does not match the hash of epoch 1's manifest" },
        { "prev broken", NULL, m_prev, 0, false, 2, -1,
          "epoch 2: prev does not match the hash of epoch 1's manifest" },
        { "epoch 0 prev not zero", NULL, m_prev0, 0, false, 0, -1,
          "epoch 0: prev of epoch 0 is " },
        { "wrong key: signature", NULL, NULL, 0, true, 0, -1, "epoch 0: bad signature" },
        { "wrong key: key_id", NULL, NULL, 0, true, 2, -1,
          "is not the pinned public key's" },
        { "record not canonical", t_not_canonical, NULL, 0, false, 0, 1,
          "epoch 0 seq 1: record is not canonical JSON" },
        { "record not JSON", t_not_json, NULL, 0, false, 0, 4,
          "epoch 0 seq 4: record is not valid JSON" },
        { "manifest not canonical", t_manifest_not_canonical, NULL, 0, false, 2, -1,
          "epoch 2: manifest is not canonical JSON" },
        { "manifest unknown member", t_manifest_unknown_member, NULL, 0, false, 2, -1,
          "epoch 2: manifest has an unknown member \"zz\"" },
        { "signature short", t_sig_short, NULL, 0, false, 2, -1,
          "epoch 2: signature is 63 bytes, not 64" },
        { "criterion tag dropped", t_tag_dropped, NULL, 0, false, 0, -1,
          "epoch 0: criterion \"CC6.1\": manifest count is 3 but 2 records are tagged" },
        { "first_seq broken", NULL, m_first_seq, 0, false, 2, -1,
          "epoch 2: first_seq 13 does not continue epoch 1 (expected 12)" },
        { "chain renamed", NULL, m_chain, 0, false, 1, -1,
          "epoch 1: chain is \"other\" but earlier epochs say \"main\"" },
        { "count inflated", NULL, m_count, 0, false, 1, -1,
          "epoch 1: manifest count is 7 but 6 records were given" },
        { "tsc line dropped", NULL, NULL, FEED_TSC | FEED_DROP_TSC_LINE, false, 0, -1,
          "epoch 0: tsc=CC6.1/records.jsonl has 2 records but 3 of the epoch's" },
        { "tsc file missing", NULL, NULL, FEED_TSC | FEED_NO_TSC_FILE, false, 0, -1,
          "epoch 0: criterion \"CC7.2\" has no tsc=CC7.2/records.jsonl file" },
        /* issue 12 (verify9): the line is reported under its record's seq, which the
         * verifier derives while an epoch's seqs run on (6, 7, 8, ...) and stores once they
         * do not (records 7 and 8 swapped: the second record tagged CC6.1 is seq 8 either
         * way, the first record in file order being 6). */
        { "tsc line changed", NULL, NULL, FEED_TSC | FEED_BAD_TSC_LINE, false, 1, 8,
          "epoch 1 seq 8: tsc=CC6.1/records.jsonl line 2 is not this record" },
        { "tsc line changed, seqs out of order", t_records_swapped, NULL,
          FEED_TSC | FEED_BAD_TSC_LINE, false, 1, 8,
          "epoch 1 seq 8: tsc=CC6.1/records.jsonl line 2 is not this record" },
};

static bool has_problem(const struct seen *s, const struct tamper_case *t)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->p[i].epoch == t->epoch && s->p[i].seq == t->seq &&
                    strstr(s->p[i].what, t->what))
                        return true;
        return false;
}

static void test_clean_chain(void **state)
{
        struct seal_key *k = fixed_key(7);
        struct seal_verifier *v = NULL;
        struct chain c;
        struct seen seen;
        uint8_t pk[SEAL_PK_LEN], head[HASH_LEN], want[HASH_LEN];
        int64_t head_epoch = -1;

        seal_key_public(k, pk);
        build_chain(&c, k, NULL);
        assert_int_equal(verify_chain(&c, pk, 0, &seen), 0);
        assert_int_equal(verify_chain(&c, pk, FEED_TSC, &seen), 0);

        /* The head is the hash of the last manifest fed. */
        assert_int_equal(seal_verifier_new(pk, collect, &seen, &v), 0);
        assert_int_equal(seal_verifier_head(v, head, &head_epoch), -ENOENT);
        assert_int_equal(seal_verifier_epoch(v, "e0", c.e[0].manifest.data, c.e[0].manifest.len,
                                             c.e[0].sig, 64, NULL, 0), 0);
        assert_true(seal_verifier_problems(v) > 0);     /* six records missing */
        assert_int_equal(seal_verifier_head(v, head, &head_epoch), 0);
        hash_sha256(c.e[0].manifest.data, c.e[0].manifest.len, want);
        assert_memory_equal(head, want, HASH_LEN);
        assert_int_equal(head_epoch, 0);
        assert_int_equal(seal_verifier_epochs(v), 1);
        seal_verifier_free(v);
        free_chain(&c);
        seal_key_free(k);
}

static void test_anchor(void **state)
{
        struct seal_key *k = fixed_key(7);
        struct chain c;
        struct seen seen = { 0 };
        uint8_t pk[SEAL_PK_LEN], h0[HASH_LEN];

        seal_key_public(k, pk);
        build_chain(&c, k, NULL);
        hash_sha256(c.e[0].manifest.data, c.e[0].manifest.len, h0);
        for (int good = 1; good >= 0; good--) {
                struct seal_verifier *v = NULL;

                seen.n = 0;
                assert_int_equal(seal_verifier_new(pk, collect, &seen, &v), 0);
                h0[0] ^= (uint8_t)!good;
                seal_verifier_anchor(v, 1, h0, PER_EPOCH);
                for (size_t e = 1; e < N_EPOCHS; e++) {
                        struct seal_blob b[MAX_RECS];

                        for (size_t i = 0; i < c.e[e].n; i++)
                                b[i] = (struct seal_blob){ c.e[e].rec[i], strlen(c.e[e].rec[i]) };
                        assert_int_equal(seal_verifier_epoch(v, NULL, c.e[e].manifest.data,
                                                             c.e[e].manifest.len, c.e[e].sig,
                                                             64, b, c.e[e].n), 0);
                }
                assert_int_equal(seal_verifier_problems(v), good ? 0 : 1);
                if (!good)
                        assert_non_null(strstr(seen.p[0].what, "epoch 1: prev does not"));
                seal_verifier_free(v);
        }
        free_chain(&c);
        seal_key_free(k);
}

static void test_tampering(void **state)
{
        struct seal_key *k = fixed_key(7), *other = fixed_key(8);
        uint8_t pk[SEAL_PK_LEN], other_pk[SEAL_PK_LEN];

        seal_key_public(k, pk);
        seal_key_public(other, other_pk);
        for (size_t i = 0; i < sizeof(tamper_cases) / sizeof(*tamper_cases); i++) {
                const struct tamper_case *t = &tamper_cases[i];
                struct chain c;
                struct seen seen;
                uint64_t n;

                build_chain(&c, k, t->mutate);
                if (t->tamper)
                        t->tamper(&c, k);
                n = verify_chain(&c, t->wrong_key ? other_pk : pk, t->flags, &seen);
                if (getenv("SEAL_TEST_VERBOSE")) {
                        print_message("%s:\n", t->name);
                        for (size_t p = 0; p < seen.n; p++)
                                print_message("  [%lld/%lld] %s\n", (long long)seen.p[p].epoch,
                                              (long long)seen.p[p].seq, seen.p[p].what);
                }
                if (n == 0 || !has_problem(&seen, t)) {
                        for (size_t p = 0; p < seen.n; p++)
                                print_message("  [%lld/%lld] %s\n", (long long)seen.p[p].epoch,
                                              (long long)seen.p[p].seq, seen.p[p].what);
                        fail_msg("case %s: no problem at epoch %lld seq %lld saying \"%s\"",
                                 t->name, (long long)t->epoch, (long long)t->seq, t->what);
                }
                free_chain(&c);
        }
        seal_key_free(k);
        seal_key_free(other);
}

/* A manifest that cannot be read is reported under its label; its records are still
 * checked, and the walk goes on to the next epoch. */
static void test_unreadable_manifest(void **state)
{
        static const char *const want[] = {
                "e1-folder: manifest is not valid JSON",
                "e1-folder: bad signature",
                "epoch 2: prev does not match the hash of epoch 1's manifest",
        };
        struct seal_key *k = fixed_key(7);
        struct seal_verifier *v = NULL;
        struct chain c;
        struct seen seen = { 0 };
        uint8_t pk[SEAL_PK_LEN];

        seal_key_public(k, pk);
        build_chain(&c, k, NULL);
        assert_int_equal(seal_verifier_new(pk, collect, &seen, &v), 0);
        for (size_t e = 0; e < N_EPOCHS; e++) {
                struct seal_blob b[MAX_RECS];
                const char *m = e == 1 ? "garbage" : c.e[e].manifest.data;
                size_t mlen = e == 1 ? 7 : c.e[e].manifest.len;

                for (size_t i = 0; i < c.e[e].n; i++)
                        b[i] = (struct seal_blob){ c.e[e].rec[i], strlen(c.e[e].rec[i]) };
                assert_int_equal(seal_verifier_epoch(v, e == 1 ? "e1-folder" : NULL, m, mlen,
                                                     c.e[e].sig, 64, b, c.e[e].n), 0);
        }
        for (size_t p = 0; p < seen.n && getenv("SEAL_TEST_VERBOSE"); p++)
                print_message("  [%lld/%lld] %s\n", (long long)seen.p[p].epoch,
                              (long long)seen.p[p].seq, seen.p[p].what);
        assert_int_equal(seen.n, 3);
        for (size_t i = 0; i < 3; i++) {
                if (!strstr(seen.p[i].what, want[i]))
                        fail_msg("problem %zu is \"%s\", want \"%s\"", i, seen.p[i].what,
                                 want[i]);
                assert_int_equal(seen.p[i].epoch, i < 2 ? 1 : 2);
        }
        assert_int_equal(seal_verifier_epochs(v), 3);
        seal_verifier_free(v);
        free_chain(&c);
        seal_key_free(k);
}

/* ---- An export folder checked by tests/integration/independent_verify.py ---- */

static const char *script_path, *format_doc_path;

static void put_file(const char *dir, const char *rel, const void *p, size_t n)
{
        char path[512], cmd[600];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
        assert_int_equal(system(cmd), 0);
        f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(p, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
}

/* Lays out the documented export: chain=main/epoch=NNNNNNNNNN/{manifest.json, manifest.sig,
 * records.jsonl, tsc=ID/records.jsonl}. */
static void write_export(const struct chain *c, const char *dir)
{
        for (size_t e = 0; e < N_EPOCHS; e++) {
                const struct ep *ep = &c->e[e];
                struct buf all = BUF_INIT, tsc[2] = { BUF_INIT, BUF_INIT };
                char rel[128];

                for (size_t i = 0; i < ep->n; i++) {
                        buf_puts(&all, ep->rec[i]);
                        buf_putc(&all, '\n');
                        for (size_t k = 0; k < 2; k++)
                                if (strstr(ep->rec[i], crit_ids[k])) {
                                        buf_puts(&tsc[k], ep->rec[i]);
                                        buf_putc(&tsc[k], '\n');
                                }
                }
                snprintf(rel, sizeof(rel), "chain=main/epoch=%010zu/manifest.json", e);
                put_file(dir, rel, ep->manifest.data, ep->manifest.len);
                snprintf(rel, sizeof(rel), "chain=main/epoch=%010zu/manifest.sig", e);
                put_file(dir, rel, ep->sig, SEAL_SIG_LEN);
                snprintf(rel, sizeof(rel), "chain=main/epoch=%010zu/records.jsonl", e);
                put_file(dir, rel, all.data ? all.data : "", all.len);
                for (size_t k = 0; k < 2; k++) {
                        snprintf(rel, sizeof(rel), "chain=main/epoch=%010zu/tsc=%s/records.jsonl",
                                 e, crit_ids[k]);
                        put_file(dir, rel, tsc[k].data ? tsc[k].data : "", tsc[k].len);
                        buf_free(&tsc[k]);
                }
                buf_free(&all);
        }
}

static void write_pub(const struct seal_key *k, const char *path)
{
        uint8_t pk[SEAL_PK_LEN];
        struct buf pem = BUF_INIT;

        seal_key_public(k, pk);
        assert_int_equal(seal_pubkey_pem(pk, &pem), 0);
        put_file("/", path, pem.data, pem.len);
        buf_free(&pem);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
        char cmd[2048];
        va_list ap;
        int st;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct export_case {
        const char *name;
        const char *tamper;     /* shell command run in the export's chain=main folder */
        bool wrong_key;
        int want;               /* exit status of independent_verify.py */
};

static const struct export_case export_cases[] = {
        { "untouched", "true", false, 0 },
        { "record byte", "sed -i '3s/sshd/sshD/' epoch=0000000001/records.jsonl", false, 1 },
        { "record line deleted", "sed -i 2d epoch=0000000001/records.jsonl", false, 1 },
        { "records swapped", "sed -i '2{h;d};3G' epoch=0000000002/records.jsonl", false, 1 },
        { "manifest byte", "sed -i 's/\"sealed\":\"2026/\"sealed\":\"2027/' "
          "epoch=0000000000/manifest.json", false, 1 },
        { "signature byte", "printf 'X' | dd of=epoch=0000000002/manifest.sig bs=1 seek=9 "
          "conv=notrunc 2>/dev/null", false, 1 },
        { "epoch removed", "rm -r epoch=0000000001", false, 1 },
        { "last epoch removed", "rm -r epoch=0000000002", false, 0 },
        { "tsc line deleted", "sed -i 1d epoch=0000000002/tsc=CC6.1/records.jsonl", false, 1 },
        { "tsc file removed", "rm -r epoch=0000000002/tsc=CC7.2", false, 1 },
        { "wrong public key", "true", true, 1 },
};

static void test_export_independent(void **state)
{
        struct seal_key *k = fixed_key(7), *other = fixed_key(8);
        char dir[64];
        struct chain c;

        if (!script_path)
                skip();
        test_tmpdir(state, dir);  /* tests/test-tmpdir.h: removed even if an assert fails */
        build_chain(&c, k, NULL);
        for (size_t i = 0; i < sizeof(export_cases) / sizeof(*export_cases); i++) {
                const struct export_case *t = &export_cases[i];
                char pub[600];
                int r;

                snprintf(pub, sizeof(pub), "%s/key.pub", dir);
                assert_int_equal(sh("rm -rf '%s' && mkdir '%s'", dir, dir), 0);
                write_export(&c, dir);
                write_pub(t->wrong_key ? other : k, pub);
                assert_int_equal(sh("cd '%s/chain=main' && %s", dir, t->tamper), 0);
                r = sh("python3 '%s' '%s' '%s' > '%s/out.txt' 2>&1", script_path, dir, pub,
                       dir);
                if (getenv("SEAL_TEST_VERBOSE")) {
                        print_message("%s:\n", t->name);
                        sh("sed 's/^/  /' '%s/out.txt'", dir);
                }
                if (r != t->want) {
                        sh("cat '%s/out.txt'", dir);
                        fail_msg("case %s: independent_verify.py exited %d, want %d", t->name,
                                 r, t->want);
                }
        }
        /* The hand recipe of docs/FORMAT.md section 5, step 3, on a clean and a tampered
         * epoch. */
        assert_int_equal(sh("rm -rf '%s' && mkdir '%s'", dir, dir), 0);
        write_export(&c, dir);
        assert_int_equal(sh("awk '/^```python$/{f=1;next} /^```$/{f=0} f' '%s' > '%s/roots.py'",
                            format_doc_path, dir), 0);
        for (size_t e = 0; e < N_EPOCHS; e++)
                assert_int_equal(sh("cd '%s' && python3 roots.py chain=main/epoch=%010zu > r.txt "
                                    "&& [ $(grep -c ': ok$' r.txt) = 3 ] && "
                                    "! grep -qv ': ok$' r.txt", dir, e), 0);
        assert_int_equal(sh("cd '%s' && sed -i 1d chain=main/epoch=0000000001/records.jsonl && "
                            "python3 roots.py chain=main/epoch=0000000001 | grep -q MISMATCH",
                            dir), 0);
        assert_int_equal(sh("rm -rf '%s'", dir), 0);
        free_chain(&c);
        seal_key_free(k);
        seal_key_free(other);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_clean_chain),
                cmocka_unit_test(test_anchor),
                cmocka_unit_test(test_tampering),
                cmocka_unit_test(test_unreadable_manifest),
                cmocka_unit_test(test_export_independent),
        };

        /* meson passes the independent verifier and the format document. */
        if (argc >= 3) {
                script_path = argv[1];
                format_doc_path = argv[2];
        }
        return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
