/* Tests for core/dl.c against glibc's own libc.so.6 (always there; functions that ASan does
 * not intercept, so that the linker's address and dlsym's agree in both builds): symbols
 * resolve to the addresses the linker gives, a missing library or symbol is named in the
 * error, and a failed load writes no slot (all or nothing). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnu/libc-version.h>

#include <cmocka.h>

#include "core/dl.h"

static void test_resolves_what_the_linker_resolves(void **state)
{
        __typeof__(gnu_get_libc_version) *my_version = NULL;
        __typeof__(getpid) *my_getpid = NULL;
        void *h = NULL;
        char err[256] = "";

        assert_int_equal(dl_open(&h, "libc.so.6", "libc6", err, sizeof(err),
                                 DL_SYM(my_version, gnu_get_libc_version),
                                 DL_SYM(my_getpid, getpid), NULL),
                         0);
        assert_non_null(h);
        assert_ptr_equal(my_version, &gnu_get_libc_version);
        assert_string_equal(my_version(), gnu_get_libc_version());
        assert_ptr_equal(my_getpid, &getpid);
        assert_int_equal(my_getpid(), getpid());
        assert_null(dl_close(h));
        assert_null(dl_close(NULL));
}

static void test_missing_library_is_named(void **state)
{
        __typeof__(gnu_get_libc_version) *my_version = NULL;
        void *h = (void *)&h;  /* untouched on failure */
        char err[256] = "";

        assert_int_equal(dl_open(&h, "libgatelog-absent.so.7", "gatelog-absent7", err,
                                 sizeof(err), DL_SYM(my_version, gnu_get_libc_version), NULL),
                         -ENOENT);
        assert_ptr_equal(h, (void *)&h);
        assert_null(my_version);
        assert_non_null(strstr(err, "cannot load libgatelog-absent.so.7 (Debian package "
                                    "gatelog-absent7): "));
        assert_non_null(strstr(err, "libgatelog-absent.so.7: cannot open shared object file"));
}

static void test_missing_symbol_writes_nothing(void **state)
{
        __typeof__(gnu_get_libc_version) *my_version = NULL;
        void (*absent)(void) = NULL;
        void *h = NULL;
        char err[256] = "";

        /* gnu_get_libc_version resolves first; the absent symbol after it must leave its slot
         * alone. */
        assert_int_equal(dl_open(&h, "libc.so.6", "libc6", err, sizeof(err),
                                 DL_SYM(my_version, gnu_get_libc_version), (void *)&absent,
                                 "gatelog_no_such_function", NULL),
                         -ENOENT);
        assert_null(h);
        assert_null(my_version);
        assert_null(absent);
        assert_non_null(strstr(err, "libc.so.6 (Debian package libc6) lacks "
                                    "gatelog_no_such_function"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resolves_what_the_linker_resolves),
                cmocka_unit_test(test_missing_library_is_named),
                cmocka_unit_test(test_missing_symbol_writes_nothing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
