/* Inclusion proofs (seal/proof.c): audit paths against the recursive model, and proof files
 * for every record of epochs of 0, 1, 2, 3, 5, 7 and 8 records built the way the writer builds
 * them (canonical records, per-criterion trees, the manifest builder, a fixed-seed key).
 * Every proof must verify; an epoch with no records has none; every single changed byte of a
 * proof, a truncation, an appended byte and another key must each make it fail. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "seal/seal.h"

#define T0 INT64_C(1772359200000000)
#define MAX_N 40

static const char *const crit_ids[] = { "CC6.1", "CC7.2" };

static bool tagged(uint64_t seq, size_t c)
{
        return c == 0 ? seq % 2 == 0 : seq % 3 == 0;
}

static char *make_record(uint64_t seq)
{
        json *r = json_new_obj(), *crit = json_new_arr();
        struct buf b = BUF_INIT;
        char msg[64];

        for (size_t c = 0; c < 2; c++)
                if (tagged(seq, c))
                        assert_int_equal(json_arr_append(crit, json_new_str(crit_ids[c])), 0);
        /* seq 106 lists CC6.1 twice: it is tagged once and proven once. */
        if (seq == 106)
                assert_int_equal(json_arr_append(crit, json_new_str("CC6.1")), 0);
        snprintf(msg, sizeof(msg), "event %llu: sshd accepted key", (unsigned long long)seq);
        assert_int_equal(json_obj_set_int(r, "seq", (int64_t)seq), 0);
        assert_int_equal(json_obj_set_str(r, "message", msg), 0);
        assert_int_equal(json_obj_set(r, "criteria", crit), 0);
        assert_int_equal(json_canon(r, &b), 0);
        json_free(r);
        return buf_steal(&b, NULL);
}

static struct seal_key *test_key(uint8_t byte)
{
        uint8_t seed[32];
        struct seal_key *k = NULL;

        memset(seed, byte, sizeof(seed));
        assert_int_equal(seal_key_from_seed(seed, &k), 0);
        return k;
}

struct epoch {
        struct buf manifest;
        uint8_t sig[SEAL_SIG_LEN];
        char *text[MAX_N];
        struct seal_blob rec[MAX_N];
        size_t n;
};

/* Epoch 4 of a chain, n records from seq 100, signed by k. */
static void make_epoch(struct epoch *e, size_t n, const struct seal_key *k)
{
        uint8_t leaves[MAX_N][HASH_LEN], sub[MAX_N][HASH_LEN], pk[SEAL_PK_LEN];
        struct seal_criterion crit[2];
        struct seal_manifest m = {
                .chain = "test", .epoch = 4, .start_us = T0, .end_us = T0 + 3600000000,
                .first_seq = 100, .count = n, .criteria = crit, .n_criteria = 2,
                .sealed_us = T0 + 3600000001,
        };

        memset(e, 0, sizeof(*e));
        e->n = n;
        for (size_t i = 0; i < n; i++) {
                e->text[i] = make_record(100 + i);
                e->rec[i] = (struct seal_blob){ e->text[i], strlen(e->text[i]) };
                merkle_leaf_hash(e->rec[i].data, e->rec[i].len, leaves[i]);
        }
        merkle_root_of((const uint8_t (*)[HASH_LEN])leaves, n, m.root);
        for (size_t c = 0; c < 2; c++) {
                size_t k2 = 0;

                for (size_t i = 0; i < n; i++)
                        if (tagged(100 + i, c))
                                memcpy(sub[k2++], leaves[i], HASH_LEN);
                crit[c] = (struct seal_criterion){ .id = crit_ids[c], .count = k2 };
                merkle_root_of((const uint8_t (*)[HASH_LEN])sub, k2, crit[c].root);
        }
        seal_key_public(k, pk);
        seal_key_id(pk, m.key_id);
        memset(m.prev, 0xab, HASH_LEN);
        assert_int_equal(seal_manifest_build(&m, &e->manifest), 0);
        assert_int_equal(seal_key_sign(k, e->manifest.data, e->manifest.len, e->sig), 0);
}

static void free_epoch(struct epoch *e)
{
        buf_free(&e->manifest);
        for (size_t i = 0; i < e->n; i++)
                free(e->text[i]);
}

/* ---- audit paths against the model ---- */

static void test_paths_match_model(void **state)
{
        uint8_t leaves[MAX_N][HASH_LEN], root[HASH_LEN], path[SEAL_PATH_MAX][HASH_LEN];
        (void)state;

        for (size_t i = 0; i < MAX_N; i++)
                hash_sha256(&i, sizeof(i), leaves[i]);
        for (size_t n = 1; n <= MAX_N; n++) {
                merkle_root_of((const uint8_t (*)[HASH_LEN])leaves, n, root);
                for (size_t m = 0; m < n; m++) {
                        size_t len = 99;
                        const uint8_t (*p)[HASH_LEN] = (const uint8_t (*)[HASH_LEN])path;

                        assert_int_equal(merkle_audit_path((const uint8_t (*)[HASH_LEN])leaves,
                                                           n, m, path, &len), 0);
                        if (merkle_path_verify(leaves[m], m, n, p, len, root) != 0)
                                fail_msg("n=%zu m=%zu: path does not verify", n, m);
                        /* The same path proves nothing for another index, size or leaf. */
                        if (n > 1 && merkle_path_verify(leaves[m], (m + 1) % n, n, p, len,
                                                        root) == 0)
                                fail_msg("n=%zu m=%zu: verifies at another index", n, m);
                        /* (A path can fit another size with the same root, e.g. 3 and 4
                         * leaves for index 0: the signed manifest's count binds the size.) */
                        if (merkle_path_verify(leaves[m], m, n + 100, p, len, root) == 0)
                                fail_msg("n=%zu m=%zu: verifies for size n+100", n, m);
                        if (n > 1 && merkle_path_verify(leaves[(m + 1) % n], m, n, p, len,
                                                        root) == 0)
                                fail_msg("n=%zu m=%zu: verifies for another leaf", n, m);
                        if (len > 0 && merkle_path_verify(leaves[m], m, n, p, len - 1,
                                                          root) == 0)
                                fail_msg("n=%zu m=%zu: verifies with a shortened path", n, m);
                        for (size_t k = 0; k < len; k++) {
                                path[k][k % HASH_LEN] ^= 1;
                                if (merkle_path_verify(leaves[m], m, n, p, len, root) == 0)
                                        fail_msg("n=%zu m=%zu: flipped path[%zu] verifies", n,
                                                 m, k);
                                path[k][k % HASH_LEN] ^= 1;
                        }
                }
                assert_int_equal(merkle_audit_path((const uint8_t (*)[HASH_LEN])leaves, n, n,
                                                   path, &(size_t){ 0 }), -ENOENT);
        }
}

/* ---- proof files ---- */

static const size_t sizes[] = { 0, 1, 2, 3, 5, 7, 8 };

static void test_every_record_proves(void **state)
{
        struct seal_key *k = test_key(7);
        uint8_t pk[SEAL_PK_LEN];
        (void)state;

        seal_key_public(k, pk);
        for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
                struct epoch e;
                struct buf b = BUF_INIT;

                make_epoch(&e, sizes[s], k);
                for (size_t i = 0; i < e.n; i++) {
                        struct seal_proof_info info;
                        struct seal_error err = { { 0 } };

                        buf_reset(&b);
                        assert_int_equal(seal_proof_build(e.manifest.data, e.manifest.len,
                                                          e.sig, 4, e.rec, e.n, i, &b), 0);
                        if (seal_proof_verify(b.data, b.len, pk, &info, &err) != 0)
                                fail_msg("size %zu record %zu: %s\n%s", e.n, i, err.msg,
                                         b.data);
                        assert_int_equal(info.seq, 100 + i);
                        assert_int_equal(info.epoch, 4);
                        assert_int_equal(info.leaf_index, i);
                        assert_int_equal(info.tree_size, e.n);
                        assert_int_equal(info.n_criteria,
                                         (size_t)tagged(100 + i, 0) + tagged(100 + i, 1));
                }
                /* No record, no proof: the clear error the CLI reports. */
                buf_reset(&b);
                assert_int_equal(seal_proof_build(e.manifest.data, e.manifest.len, e.sig, 4,
                                                  e.rec, e.n, e.n, &b), -ENOENT);
                assert_int_equal(b.len, 0);
                buf_free(&b);
                free_epoch(&e);
        }
        seal_key_free(k);
}

/* Every byte changed (two ways: the low bit, and the ASCII case bit), the newline removed,
 * a byte appended, another key: each must fail. */
static void test_any_changed_byte_fails(void **state)
{
        struct seal_key *k = test_key(7), *other = test_key(8);
        uint8_t pk[SEAL_PK_LEN], opk[SEAL_PK_LEN];
        static const uint8_t flips[] = { 0x01, 0x20 };
        size_t checked = 0;
        (void)state;

        seal_key_public(k, pk);
        seal_key_public(other, opk);
        for (size_t s = 1; s < sizeof(sizes) / sizeof(*sizes); s++) {
                struct epoch e;

                make_epoch(&e, sizes[s], k);
                /* The first and the last record of each epoch: different path shapes. */
                for (size_t pick = 0; pick < 2; pick++) {
                        size_t i = pick ? e.n - 1 : 0;
                        struct buf b = BUF_INIT;
                        struct seal_error err;

                        assert_int_equal(seal_proof_build(e.manifest.data, e.manifest.len,
                                                          e.sig, 4, e.rec, e.n, i, &b), 0);
                        assert_int_equal(seal_proof_verify(b.data, b.len, pk, NULL, &err), 0);
                        for (size_t at = 0; at < b.len; at++)
                                for (size_t f = 0; f < sizeof(flips); f++) {
                                        b.data[at] ^= (char)flips[f];
                                        if (seal_proof_verify(b.data, b.len, pk, NULL,
                                                              &err) == 0)
                                                fail_msg("size %zu record %zu: byte %zu ^ "
                                                         "0x%02x still verifies", e.n, i, at,
                                                         flips[f]);
                                        b.data[at] ^= (char)flips[f];
                                        checked++;
                                }
                        assert_int_not_equal(seal_proof_verify(b.data, b.len - 1, pk, NULL,
                                                               &err), 0);
                        assert_int_equal(buf_putc(&b, '\n'), 0);
                        assert_int_not_equal(seal_proof_verify(b.data, b.len, pk, NULL, &err),
                                             0);
                        b.len--;
                        assert_int_not_equal(seal_proof_verify(b.data, b.len, opk, NULL,
                                                               &err), 0);
                        assert_non_null(strstr(err.msg, "signature"));
                        buf_free(&b);
                }
                free_epoch(&e);
        }
        assert_true(checked > 10000);
        seal_key_free(k);
        seal_key_free(other);
}

/* issue 12: a seal_leaves fed one record at a time (nothing kept but leaf hashes and tags)
 * gives, for every index, the bytes seal_proof_build gives from the whole epoch, and those
 * verify; another record's bytes at an index, or an index past the end, give no proof. */
static void test_leaves_stream(void **state)
{
        struct seal_key *k = test_key(9);
        uint8_t pk[SEAL_PK_LEN];
        struct epoch e;
        (void)state;

        seal_key_public(k, pk);
        make_epoch(&e, 8, k);
        for (size_t i = 0; i < e.n; i++) {
                struct seal_leaves *l = NULL;
                struct buf a = BUF_INIT, b = BUF_INIT;
                struct seal_error err = { { 0 } };

                assert_int_equal(seal_leaves_new(&l), 0);
                for (size_t j = 0; j < e.n; j++)
                        assert_int_equal(seal_leaves_add(l, e.rec[j].data, e.rec[j].len), 0);
                assert_int_equal(seal_leaves_count(l), e.n);
                assert_int_equal(seal_leaves_proof(l, e.manifest.data, e.manifest.len, e.sig, 4,
                                                   e.rec[i].data, e.rec[i].len, i, &a), 0);
                assert_int_equal(seal_proof_build(e.manifest.data, e.manifest.len, e.sig, 4,
                                                  e.rec, e.n, i, &b), 0);
                assert_int_equal(a.len, b.len);
                assert_memory_equal(a.data, b.data, a.len);
                assert_int_equal(seal_proof_verify(a.data, a.len, pk, NULL, &err), 0);
                buf_reset(&a);
                assert_int_equal(seal_leaves_proof(l, e.manifest.data, e.manifest.len, e.sig, 4,
                                                   e.rec[(i + 1) % e.n].data,
                                                   e.rec[(i + 1) % e.n].len, i, &a), -EINVAL);
                assert_int_equal(seal_leaves_proof(l, e.manifest.data, e.manifest.len, e.sig, 4,
                                                   e.rec[i].data, e.rec[i].len, e.n, &a),
                                 -ENOENT);
                assert_int_equal(a.len, 0);
                buf_free(&a);
                buf_free(&b);
                assert_null(seal_leaves_free(l));
        }
        free_epoch(&e);
        seal_key_free(k);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_paths_match_model),
                cmocka_unit_test(test_every_record_proves),
                cmocka_unit_test(test_any_changed_byte_fails),
                cmocka_unit_test(test_leaves_stream),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
