/* `gatelog keygen` (cli/cmd-keygen.c, linked in directly): exit codes, the default path and
 * its 0700 parent, refusing to overwrite without --force, and files openssl agrees with. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "seal/seal.h"

static char tmpdir[64];

static int setup_dir(void **state)
{
        strcpy(tmpdir, "/tmp/gatelog-test-keygen-XXXXXX");
        if (!mkdtemp(tmpdir) || chdir(tmpdir) < 0)
                return -1;
        return 0;
}

static int teardown_dir(void **state)
{
        char cmd[128];

        if (chdir("/") < 0)
                return -1;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

/* Runs cmd_keygen with a NULL-terminated list of arguments after "keygen". */
static int keygen(const char *arg, ...)
{
        char *argv[8] = { "keygen" };
        int argc = 1;
        va_list ap;

        va_start(ap, arg);
        for (const char *a = arg; a && argc < 7; a = va_arg(ap, const char *))
                argv[argc++] = (char *)a;
        va_end(ap);
        argv[argc] = NULL;
        fflush(stdout);
        return cmd_keygen(argc, argv);
}

static void read_pk(const char *path, uint8_t pk[SEAL_PK_LEN])
{
        struct seal_error err = { { 0 } };

        if (seal_pubkey_load(path, pk, &err) != 0)
                fail_msg("%s", err.msg);
}

struct exit_case {
        const char *name;
        const char *a1, *a2, *a3;
        int want;
};

static void test_exit_codes(void **state)
{
        static const struct exit_case cases[] = {
                { "help", "--help", NULL, NULL, 0 },
                { "unknown option", "--bogus", NULL, NULL, 2 },
                { "extra argument", "--out", "x.key", "extra", 2 },
                { "empty out", "--out", "", NULL, 2 },
                { "missing out value", "--out", NULL, NULL, 2 },
        };

        for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
                const struct exit_case *t = &cases[c];
                int r = keygen(t->a1, t->a2, t->a3, NULL);

                if (r != t->want)
                        fail_msg("case %s: exit %d, want %d", t->name, r, t->want);
        }
        assert_int_equal(access("x.key", F_OK), -1);
}

static void test_default_path(void **state)
{
        struct stat st;
        uint8_t pk1[SEAL_PK_LEN], pk2[SEAL_PK_LEN];

        assert_int_equal(keygen(NULL), 0);
        assert_int_equal(stat("var", &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(stat("var/gatelog.key", &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        read_pk("var/gatelog.key.pub", pk1);
        /* openssl derives the same public key file from the secret one. */
        assert_int_equal(system("openssl pkey -in var/gatelog.key -pubout | "
                                "cmp -s - var/gatelog.key.pub"), 0);
        /* An existing key is never replaced silently. */
        assert_int_equal(keygen(NULL), 3);
        read_pk("var/gatelog.key.pub", pk2);
        assert_memory_equal(pk1, pk2, SEAL_PK_LEN);
        /* --force replaces both halves. */
        assert_int_equal(keygen("--force", NULL), 0);
        read_pk("var/gatelog.key.pub", pk2);
        assert_memory_not_equal(pk1, pk2, SEAL_PK_LEN);
        assert_int_equal(system("openssl pkey -in var/gatelog.key -pubout | "
                                "cmp -s - var/gatelog.key.pub"), 0);
}

static void test_out_nested(void **state)
{
        struct stat st;
        struct seal_key *k = NULL;
        struct seal_error err = { { 0 } };

        assert_int_equal(keygen("-o", "a/b/c/seal.pem", NULL), 0);
        assert_int_equal(stat("a/b", &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(seal_key_load("a/b/c/seal.pem", &k, &err), 0);
        seal_key_free(k);
        assert_int_equal(access("a/b/c/seal.pem.pub", R_OK), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exit_codes),
                cmocka_unit_test(test_default_path),
                cmocka_unit_test(test_out_nested),
        };

        return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
