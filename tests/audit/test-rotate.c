/* Key rotation and revocation in the verifier (seal/verify.c, seal/rotate.c; issue 10).
 *
 * Chains of six empty epochs are built the way the writer builds them (the manifest builder,
 * fixed-seed keys, prev = SHA-256 of the previous manifest), from a table saying which key
 * signs each epoch, which key it names as next_key and which key_id it claims. The verifier,
 * pinned to the first key, must report exactly the epochs the table expects, follow exactly
 * the announced rotations, and apply revocations from their epoch on. Revocation files are
 * parsed from a table of lines with the FILE:LINE:COLUMN each error must name. */
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

#define TEST_TMPDIR_PREFIX "gatelog-revoked"
#include "tests/test-tmpdir.h"

#include "seal/seal.h"

#define T0 INT64_C(1772359200000000)
#define N_EPOCHS 6
#define N_KEYS 4          /* A B C, and D which is never announced */
#define NONE -1

struct step {
        int signer;       /* key that signs */
        int next;         /* key named in next_key, or NONE */
        int claims;       /* key whose key_id the manifest carries */
};

struct revocation {
        int key;
        int64_t from;
};

struct chain_case {
        const char *name;
        struct step steps[N_EPOCHS];
        struct revocation revoked[2];
        size_t n_revoked;
        uint64_t bad_epochs;      /* bit e: epoch e must be reported */
        int64_t rotated_at[3];    /* epochs whose rotation is followed, NONE-terminated */
        int final_key;
};

#define GOOD { { 0, NONE, 0 }, { 0, 1, 0 }, { 1, NONE, 1 }, { 1, 2, 1 }, { 2, NONE, 2 }, \
               { 2, NONE, 2 } }

static const struct chain_case cases[] = {
        { "rotations A->B->C followed from A", GOOD, { { 0 } }, 0, 0, { 1, 3, NONE }, 2 },
        { "B revoked from 3: epoch 3 fails, C is never reached", GOOD, { { 1, 3 } }, 1,
          (1u << 3) | (1u << 4) | (1u << 5), { 1, NONE }, 1 },
        { "B revoked from 4: after its last epoch, nothing fails", GOOD, { { 1, 4 } }, 1, 0,
          { 1, 3, NONE }, 2 },
        { "A revoked from 0: nothing is trusted", GOOD, { { 0, 0 } }, 1, 0x3f, { NONE }, 0 },
        { "C revoked from 5 but A from 2: only epoch 5", GOOD, { { 2, 5 }, { 0, 2 } }, 2,
          1u << 5, { 1, 3, NONE }, 2 },
        { "B signs epoch 1 before any announcement",
          { { 0, NONE, 0 }, { 1, NONE, 1 }, { 1, NONE, 1 }, { 1, NONE, 1 }, { 1, NONE, 1 },
            { 1, NONE, 1 } }, { { 0 } }, 0, 0x3e, { NONE }, 0 },
        { "an announcement signed by an unannounced key is not followed",
          { { 0, NONE, 0 }, { 3, 1, 0 }, { 1, NONE, 1 }, { 1, NONE, 1 }, { 1, NONE, 1 },
            { 1, NONE, 1 } }, { { 0 } }, 0, 0x3e, { NONE }, 0 },
        { "an announcement with a wrong key_id is not followed",
          { { 0, NONE, 0 }, { 0, 1, 1 }, { 1, NONE, 1 }, { 1, NONE, 1 }, { 1, NONE, 1 },
            { 1, NONE, 1 } }, { { 0 } }, 0, 0x3e, { NONE }, 0 },
        { "the old key signing after the hand-over fails",
          { { 0, NONE, 0 }, { 0, 1, 0 }, { 0, NONE, 0 }, { 1, NONE, 1 }, { 1, NONE, 1 },
            { 1, NONE, 1 } }, { { 0 } }, 0, 1u << 2, { 1, NONE }, 1 },
};

struct seen {
        uint64_t bad;             /* epochs reported */
        int64_t rotated[8];
        size_t n_rotated;
        char last_key_id[HASH_HEX_LEN];
};

static void problem_cb(void *ud, int64_t epoch, int64_t seq, const char *what)
{
        struct seen *s = ud;

        (void)seq;
        (void)what;
        assert_true(epoch >= 0 && epoch < N_EPOCHS);
        s->bad |= UINT64_C(1) << epoch;
}

static void rotate_cb(void *ud, int64_t epoch, const char *key_id)
{
        struct seen *s = ud;

        assert_true(s->n_rotated < 8);
        s->rotated[s->n_rotated++] = epoch;
        snprintf(s->last_key_id, sizeof(s->last_key_id), "%s", key_id);
}

static struct seal_key *keys[N_KEYS];
static uint8_t pks[N_KEYS][SEAL_PK_LEN];

/* The keys, and the program's /tmp folder for the revocation files (tests/test-tmpdir.h:
 * removed by teardown_keys even when an assert failed). */
static int setup_keys(void **state)
{
        if (test_tmpdir_setup(state) < 0)
                return -1;
        for (int i = 0; i < N_KEYS; i++) {
                uint8_t seed[32];

                memset(seed, 0x41 + i, sizeof(seed));
                assert_int_equal(seal_key_from_seed(seed, &keys[i]), 0);
                seal_key_public(keys[i], pks[i]);
        }
        return 0;
}

static int teardown_keys(void **state)
{
        for (int i = 0; i < N_KEYS; i++)
                seal_key_free(keys[i]);
        return test_tmpdir_teardown(state);
}

static void feed_chain(struct seal_verifier *v, const struct step *steps)
{
        uint8_t prev[HASH_LEN] = { 0 };
        json *stats = json_new_obj();

        for (int e = 0; e < N_EPOCHS; e++) {
                const struct step *s = &steps[e];
                struct seal_manifest m = {
                        .chain = "test", .epoch = (uint64_t)e,
                        .start_us = T0 + e * INT64_C(3600000000),
                        .end_us = T0 + (e + 1) * INT64_C(3600000000),
                        .first_seq = 0, .count = 0, .stats = stats,
                        .sealed_us = T0 + (e + 1) * INT64_C(3600000000),
                        .next_key = s->next == NONE ? NULL : pks[s->next],
                };
                struct buf b = BUF_INIT;
                uint8_t sig[SEAL_SIG_LEN];

                seal_key_id(pks[s->claims], m.key_id);
                memcpy(m.prev, prev, HASH_LEN);
                merkle_root_of(NULL, 0, m.root);
                assert_int_equal(seal_manifest_build(&m, &b), 0);
                assert_int_equal(seal_key_sign(keys[s->signer], b.data, b.len, sig), 0);
                assert_int_equal(seal_verifier_epoch(v, NULL, b.data, b.len, sig, sizeof(sig),
                                                     NULL, 0), 0);
                assert_int_equal(seal_verifier_epoch_end(v, false), 0);
                hash_sha256(b.data, b.len, prev);
                buf_free(&b);
        }
        json_free(stats);
}

static void test_chains(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                const struct chain_case *c = &cases[i];
                struct seal_verifier *v = NULL;
                struct seen seen = { 0 };
                uint8_t pk[SEAL_PK_LEN];
                size_t want_rot = 0;

                print_message("case: %s\n", c->name);
                assert_int_equal(seal_verifier_new(pks[0], problem_cb, &seen, &v), 0);
                seal_verifier_on_rotate(v, rotate_cb, &seen);
                for (size_t r = 0; r < c->n_revoked; r++) {
                        char id[HASH_HEX_LEN];

                        seal_key_id(pks[c->revoked[r].key], id);
                        assert_int_equal(seal_verifier_revoke(v, id, c->revoked[r].from), 0);
                }
                feed_chain(v, c->steps);
                assert_int_equal(seal_verifier_finish(v), 0);
                assert_int_equal(seen.bad, c->bad_epochs);
                while (c->rotated_at[want_rot] != NONE)
                        want_rot++;
                assert_int_equal(seen.n_rotated, want_rot);
                for (size_t r = 0; r < want_rot; r++)
                        assert_int_equal(seen.rotated[r], c->rotated_at[r]);
                seal_verifier_key(v, pk);
                assert_memory_equal(pk, pks[c->final_key], SEAL_PK_LEN);
                seal_verifier_free(v);
        }
}

/* A manifest whose next_key is not 64 lowercase hex is a problem and rotates nothing. */
static void test_bad_next_key(void **state)
{
        static const char *const bad[] = { "\"ABC\"", "12", "\"" "00" "\"" };
        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
                struct seal_verifier *v = NULL;
                struct seen seen = { 0 };
                struct buf b = BUF_INIT, t = BUF_INIT;
                json *stats = json_new_obj(), *m = NULL;
                struct seal_manifest man = {
                        .chain = "test", .epoch = 0, .start_us = T0, .end_us = T0 + 1,
                        .stats = stats, .sealed_us = T0 + 1,
                };
                uint8_t sig[SEAL_SIG_LEN];
                char text[2048];

                seal_key_id(pks[0], man.key_id);
                merkle_root_of(NULL, 0, man.root);
                assert_int_equal(seal_manifest_build(&man, &b), 0);
                /* Insert "next_key":BAD in canonical order (after "key_id"). */
                assert_int_equal(buf_putc(&b, '\0'), 0);
                char *k = strstr(b.data, ",\"prev\"");
                assert_non_null(k);
                snprintf(text, sizeof(text), "%.*s,\"next_key\":%s%s", (int)(k - b.data),
                         b.data, bad[i], k);
                assert_int_equal(json_parse(text, strlen(text), &m, NULL), 0);
                assert_int_equal(json_canon(m, &t), 0);
                assert_int_equal(seal_key_sign(keys[0], t.data, t.len, sig), 0);
                assert_int_equal(seal_verifier_new(pks[0], problem_cb, &seen, &v), 0);
                seal_verifier_on_rotate(v, rotate_cb, &seen);
                assert_int_equal(seal_verifier_epoch(v, NULL, t.data, t.len, sig, sizeof(sig),
                                                     NULL, 0), 0);
                assert_int_equal(seen.bad, 1);
                assert_int_equal(seen.n_rotated, 0);
                seal_verifier_free(v);
                json_free(m);
                json_free(stats);
                buf_free(&b);
                buf_free(&t);
        }
}

/* ---- revocation files ---- */

#define KID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct {
        const char *text;
        int want;                 /* 0 or -EBADMSG */
        const char *where;        /* ":LINE:COL:" the error names */
} files[] = {
        { "", 0, NULL },
        { "# nothing revoked\n\n", 0, NULL },
        { KID " 3\n", 0, NULL },
        { "  " KID "\t3   # leaked\r\n", 0, NULL },
        { KID " 3", 0, NULL },
        { "\n" KID "\n", -EBADMSG, ":2:65:" },
        { KID " -1\n", -EBADMSG, ":1:66:" },
        { KID " 3x\n", -EBADMSG, ":1:67:" },
        { KID " 3 4\n", -EBADMSG, ":1:68:" },
        { "0123 3\n", -EBADMSG, ":1:1:" },
        { "  " "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef 3\n",
          -EBADMSG, ":1:3:" },
};

static void test_revoked_files(void **state)
{
        char dir[64];

        test_tmpdir(state, dir);
        for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
                char path[128];
                struct seal_verifier *v = NULL;
                struct seal_error err = { { 0 } };
                size_t n = strlen(files[i].text);
                int fd;

                snprintf(path, sizeof(path), "%s/revoked-XXXXXX", dir);
                fd = mkstemp(path);
                assert_true(fd >= 0);
                assert_int_equal(write(fd, files[i].text, n), (ssize_t)n);
                close(fd);
                assert_int_equal(seal_verifier_new(pks[0], NULL, NULL, &v), 0);
                int r = seal_revoked_load(path, v, &err);
                if (r != files[i].want || (files[i].where && !strstr(err.msg, files[i].where)))
                        fail_msg("file %zu %s: got %d \"%s\"", i, files[i].text, r, err.msg);
                if (files[i].where)
                        assert_non_null(strstr(err.msg, path));
                seal_verifier_free(v);
                unlink(path);
        }
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chains),
                cmocka_unit_test(test_bad_next_key),
                cmocka_unit_test(test_revoked_files),
        };
        return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
