/* A folder per test program under /tmp for the unit tests' files, removed whatever the tests
 * did. A test that removes its own folder at its end skips that when an assert fails (cmocka
 * leaves the test at once), so each failing run left a folder behind (26 gl-test-migrate-*
 * after round 11's mutation checks). Here the group setup makes /tmp/PREFIX-XXXXXX, each
 * test makes its own folder inside it, and the group teardown removes it: cmocka 1.1.5 runs
 * the group teardown after failed asserts and the signals it catches. Still left: a program
 * killed (meson's timeout) or aborted (ASan).
 *
 * Usage: cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown) with
 * TEST_TMPDIR_PREFIX defined before the include; tests call test_tmpdir(state, dir). The
 * folder's name is the group state (a static of test_tmpdir_setup: one group per program). */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef TEST_TMPDIR_PREFIX
#error "define TEST_TMPDIR_PREFIX (the folder's name before -XXXXXX) before the include"
#endif

static int test_tmpdir_setup(void **state)
{
        static char root[64];

        snprintf(root, sizeof(root), "/tmp/%s-XXXXXX", TEST_TMPDIR_PREFIX);
        if (!mkdtemp(root))
                return -1;
        *state = root;
        return 0;
}

static int test_tmpdir_teardown(void **state)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (const char *)*state);
        return system(cmd) == 0 ? 0 : -1;
}

/* A new folder for one test, inside the program's (state: the test's, as cmocka passes it). */
static inline void test_tmpdir(void **state, char dir[64])
{
        assert_true(snprintf(dir, 64, "%s/t-XXXXXX", (const char *)*state) < 64);
        assert_non_null(mkdtemp(dir));
}
