/* Keys: RFC 8032 known-answer signatures from fixed seeds, generate/load round trips, the
 * permission checks on the secret key file, the public key forms, and interoperability with
 * the openssl command line tool in both directions (an auditor's openssl must read our files
 * and verify our signatures; an operator's openssl-made key must load). */
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

#include "seal/seal.h"

struct kat {
        const char *name;
        const char *seed, *pk, *msg, *sig;
};

/* RFC 8032 section 7.1, tests 1-3. */
static const struct kat kats[] = {
        { "rfc8032 test 1",
          "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
          "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
          "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
        { "rfc8032 test 2",
          "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
          "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
          "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
        { "rfc8032 test 3",
          "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
          "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
          "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
};

static char tmpdir[64];

static int setup_dir(void **state)
{
        strcpy(tmpdir, "/tmp/gatelog-test-key-XXXXXX");
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t n, const char *name)
{
        snprintf(out, n, "%s/%s", tmpdir, name);
}

static size_t unhex_any(const char *hex, uint8_t *out, size_t max)
{
        size_t n = strlen(hex) / 2;

        assert_true(n <= max);
        assert_int_equal(hash_unhex(hex, 2 * n, out, n), 0);
        return n;
}

static void test_known_signatures(void **state)
{
        for (size_t c = 0; c < sizeof(kats) / sizeof(*kats); c++) {
                const struct kat *k = &kats[c];
                uint8_t seed[32], pk[32], want_pk[32], msg[8], sig[64], want_sig[64];
                size_t mlen;
                struct seal_key *key = NULL;

                unhex_any(k->seed, seed, 32);
                unhex_any(k->pk, want_pk, 32);
                unhex_any(k->sig, want_sig, 64);
                mlen = unhex_any(k->msg, msg, sizeof(msg));
                assert_int_equal(seal_key_from_seed(seed, &key), 0);
                seal_key_public(key, pk);
                if (memcmp(pk, want_pk, 32) != 0)
                        fail_msg("case %s: wrong public key", k->name);
                assert_int_equal(seal_key_sign(key, msg, mlen, sig), 0);
                if (memcmp(sig, want_sig, 64) != 0)
                        fail_msg("case %s: wrong signature", k->name);
                if (seal_sig_verify(pk, msg, mlen, sig) != 0)
                        fail_msg("case %s: own signature does not verify", k->name);
                msg[0] ^= 1;
                if (seal_sig_verify(pk, msg, mlen ? mlen : 1, sig) != -EBADMSG)
                        fail_msg("case %s: tampered message verifies", k->name);
                msg[0] ^= 1;
                sig[10] ^= 0x40;
                if (seal_sig_verify(pk, msg, mlen, sig) != -EBADMSG)
                        fail_msg("case %s: tampered signature verifies", k->name);
                seal_key_free(key);
        }
}

static void test_key_id(void **state)
{
        uint8_t pk[32];
        char id[HASH_HEX_LEN];

        unhex_any(kats[0].pk, pk, 32);
        seal_key_id(pk, id);
        /* sha256sum of the 32 raw bytes, computed with coreutils. */
        assert_string_equal(id, "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9");
}

static void test_generate_load(void **state)
{
        char sec[128], pub[128];
        struct seal_error err = { { 0 } };
        struct seal_key *k = NULL;
        uint8_t pk[32], pk_file[32], sig[64];
        struct stat st;

        path_of(sec, sizeof(sec), "gen.key");
        path_of(pub, sizeof(pub), "gen.key.pub");
        assert_int_equal(seal_key_generate(sec, pub, &err), 0);
        assert_int_equal(stat(sec, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(seal_key_load(sec, &k, &err), 0);
        assert_int_equal(seal_pubkey_load(pub, pk_file, &err), 0);
        seal_key_public(k, pk);
        assert_memory_equal(pk, pk_file, 32);
        assert_int_equal(seal_key_sign(k, "abc", 3, sig), 0);
        assert_int_equal(seal_sig_verify(pk_file, "abc", 3, sig), 0);
        seal_key_free(k);
        /* Never overwritten. */
        assert_int_equal(seal_key_generate(sec, pub, &err), -EEXIST);
        assert_non_null(strstr(err.msg, "exists"));
        seal_key_free(NULL);
}

struct mode_case {
        const char *name;
        mode_t mode;
        uid_t uid;              /* (uid_t)-1: unchanged */
        int want;
        const char *msg;
};

static void test_permissions(void **state)
{
        static const struct mode_case cases[] = {
                { "0600 accepted", 0600, (uid_t)-1, 0, NULL },
                { "0400 accepted", 0400, (uid_t)-1, 0, NULL },
                { "0640 refused", 0640, (uid_t)-1, -EPERM, "0640" },
                { "0604 refused", 0604, (uid_t)-1, -EPERM, "0604" },
                { "0620 refused", 0620, (uid_t)-1, -EPERM, "0620" },
                { "other owner refused", 0600, 4242, -EPERM, "owned by uid 4242" },
        };
        char sec[128], pub[128];
        struct seal_error err = { { 0 } };

        path_of(sec, sizeof(sec), "perm.key");
        path_of(pub, sizeof(pub), "perm.key.pub");
        assert_int_equal(seal_key_generate(sec, pub, &err), 0);
        for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
                const struct mode_case *m = &cases[c];
                struct seal_key *k = NULL;
                int r;

                if (m->uid != (uid_t)-1 && geteuid() != 0)
                        continue;       /* only root can give a file away */
                assert_int_equal(chown(sec, m->uid != (uid_t)-1 ? m->uid : geteuid(),
                                       (gid_t)-1), 0);
                assert_int_equal(chmod(sec, m->mode), 0);
                memset(&err, 0, sizeof(err));
                r = seal_key_load(sec, &k, &err);
                if (r != m->want)
                        fail_msg("case %s: got %d, want %d (%s)", m->name, r, m->want, err.msg);
                if (m->msg && !strstr(err.msg, m->msg))
                        fail_msg("case %s: message \"%s\" lacks \"%s\"", m->name, err.msg,
                                 m->msg);
                if (r == 0)
                        assert_non_null(k);
                else
                        assert_null(k);
                seal_key_free(k);
        }
}

static void write_bytes(const char *path, const void *p, size_t n)
{
        FILE *f = fopen(path, "wb");

        assert_non_null(f);
        assert_int_equal(fwrite(p, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
}

static void test_pubkey_forms(void **state)
{
        struct { const char *name; const char *text; size_t len; int want; } cases[] = {
                { "pem", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n", 0, 0 },
                { "pem crlf", "-----BEGIN PUBLIC KEY-----\r\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\r\n-----END PUBLIC KEY-----\r\n", 0, 0 },
                { "hex", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n", 0, 0 },
                { "hex upper", "D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A", 0, 0 },
                { "raw", "\xd7\x5a\x98\x01\x82\xb1\x0a\xb7\xd5\x4b\xfe\xd3\xc9\x64\x07\x3a\x0e\xe1\x72\xf3\xda\xa6\x23\x25\xaf\x02\x1a\x68\xf7\x07\x51\x1a", 32, 0 },
                { "short hex", "d75a98", 0, -EBADMSG },
                { "rsa-looking pem", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n", 0, -EBADMSG },
                { "bad base64", "-----BEGIN PUBLIC KEY-----\nMCow!!!\n-----END PUBLIC KEY-----\n", 0, -EBADMSG },
        };
        uint8_t want[32];
        char path[128];

        unhex_any(kats[0].pk, want, 32);
        path_of(path, sizeof(path), "pub.any");
        for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
                struct seal_error err = { { 0 } };
                uint8_t pk[32] = { 0 };
                size_t len = cases[c].len ? cases[c].len : strlen(cases[c].text);
                int r;

                write_bytes(path, cases[c].text, len);
                r = seal_pubkey_load(path, pk, &err);
                if (r != cases[c].want)
                        fail_msg("case %s: got %d want %d (%s)", cases[c].name, r,
                                 cases[c].want, err.msg);
                if (r == 0 && memcmp(pk, want, 32) != 0)
                        fail_msg("case %s: wrong key", cases[c].name);
        }
}

/* Runs a shell command; returns its exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
        char cmd[1024];
        va_list ap;
        int st;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_openssl_reads_ours(void **state)
{
        char sec[128], pub[128], msg[128], sig[128], out[128];
        struct seal_error err = { { 0 } };
        struct seal_key *k = NULL;
        uint8_t s[64];

        path_of(sec, sizeof(sec), "ossl.key");
        path_of(pub, sizeof(pub), "ossl.key.pub");
        path_of(msg, sizeof(msg), "manifest.json");
        path_of(sig, sizeof(sig), "manifest.sig");
        path_of(out, sizeof(out), "ossl.pub.out");
        assert_int_equal(seal_key_generate(sec, pub, &err), 0);
        /* openssl derives the same public key file, byte for byte. */
        assert_int_equal(run("openssl pkey -in '%s' -pubout -out '%s'", sec, out), 0);
        assert_int_equal(run("cmp -s '%s' '%s'", out, pub), 0);
        /* openssl verifies our signature, and rejects it over other bytes. */
        write_bytes(msg, "{\"epoch\":1}", 11);
        assert_int_equal(seal_key_load(sec, &k, &err), 0);
        assert_int_equal(seal_key_sign(k, "{\"epoch\":1}", 11, s), 0);
        seal_key_free(k);
        write_bytes(sig, s, 64);
        assert_int_equal(run("openssl pkeyutl -verify -pubin -inkey '%s' -rawin -in '%s' "
                             "-sigfile '%s' >/dev/null 2>&1", pub, msg, sig), 0);
        write_bytes(msg, "{\"epoch\":2}", 11);
        assert_int_not_equal(run("openssl pkeyutl -verify -pubin -inkey '%s' -rawin -in '%s' "
                                 "-sigfile '%s' >/dev/null 2>&1", pub, msg, sig), 0);
        /* Ed25519 is deterministic: openssl signing with our secret file gives our bytes. */
        assert_int_equal(run("openssl pkeyutl -sign -inkey '%s' -rawin -in '%s' -out '%s'",
                             sec, msg, out), 0);
        assert_int_equal(run("openssl pkeyutl -verify -pubin -inkey '%s' -rawin -in '%s' "
                             "-sigfile '%s' >/dev/null 2>&1", pub, msg, out), 0);
}

static void test_ours_reads_openssl(void **state)
{
        char sec[128], pub[128], msg[128], sig[128];
        struct seal_error err = { { 0 } };
        struct seal_key *k = NULL;
        uint8_t pk_k[32], pk_p[32], s[64];
        FILE *f;

        path_of(sec, sizeof(sec), "made-by-openssl.key");
        path_of(pub, sizeof(pub), "made-by-openssl.pub");
        path_of(msg, sizeof(msg), "m.bin");
        path_of(sig, sizeof(sig), "m.sig");
        assert_int_equal(run("umask 077 && openssl genpkey -algorithm ed25519 -out '%s' && "
                             "openssl pkey -in '%s' -pubout -out '%s'", sec, sec, pub), 0);
        assert_int_equal(seal_key_load(sec, &k, &err), 0);
        assert_int_equal(seal_pubkey_load(pub, pk_p, &err), 0);
        seal_key_public(k, pk_k);
        assert_memory_equal(pk_k, pk_p, 32);
        /* openssl's signature verifies with us. */
        write_bytes(msg, "hello auditor", 13);
        assert_int_equal(run("openssl pkeyutl -sign -inkey '%s' -rawin -in '%s' -out '%s'",
                             sec, msg, sig), 0);
        f = fopen(sig, "rb");
        assert_non_null(f);
        assert_int_equal(fread(s, 1, 64, f), 64);
        fclose(f);
        assert_int_equal(seal_sig_verify(pk_p, "hello auditor", 13, s), 0);
        assert_int_not_equal(seal_sig_verify(pk_p, "hello auditoR", 13, s), 0);
        seal_key_free(k);
}

static void test_bad_secret_files(void **state)
{
        struct { const char *name; const char *text; int want; } cases[] = {
                { "empty", "", -EBADMSG },
                { "public key instead", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n", -EBADMSG },
                { "x25519 key", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n", -EBADMSG },
                { "truncated", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2Vw\n", -EBADMSG },
        };
        char path[128];

        path_of(path, sizeof(path), "bad.key");
        for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
                struct seal_error err = { { 0 } };
                struct seal_key *k = NULL;
                int r;

                unlink(path);
                write_bytes(path, cases[c].text, strlen(cases[c].text));
                assert_int_equal(chmod(path, 0600), 0);
                r = seal_key_load(path, &k, &err);
                if (r != cases[c].want)
                        fail_msg("case %s: got %d want %d (%s)", cases[c].name, r,
                                 cases[c].want, err.msg);
                assert_null(k);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_signatures),
                cmocka_unit_test(test_key_id),
                cmocka_unit_test(test_generate_load),
                cmocka_unit_test(test_permissions),
                cmocka_unit_test(test_pubkey_forms),
                cmocka_unit_test(test_openssl_reads_ours),
                cmocka_unit_test(test_ours_reads_openssl),
                cmocka_unit_test(test_bad_secret_files),
        };

        return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
