/* Tests for core/event.c: event ownership and the drop counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/event.h"

static void test_event(void **state)
{
        json *rec = json_new_obj();
        struct event *e;

        assert_int_equal(json_obj_set_str(rec, "msg", "hi"), 0);
        e = event_new(rec, 42);
        assert_non_null(e);
        assert_ptr_equal(e->rec, rec);
        assert_true(e->received_us == 42);
        event_free_cb(e); /* frees the record too (checked under ASan) */
        event_free(NULL);
}

static void test_drops(void **state)
{
        struct drop_counters d;
        uint64_t out[DROP__MAX] = { 0 };

        memset(&d, 0, sizeof(d));
        drop_count(&d, DROP_QUEUE_FULL, 3);
        drop_count(&d, DROP_QUEUE_FULL, 2);
        drop_count(&d, DROP_SHUTDOWN, 1);
        out[DROP_QUEUE_FULL] = 10;
        drop_take(&d, out);
        assert_true(out[DROP_QUEUE_FULL] == 15); /* adds */
        assert_true(out[DROP_SHUTDOWN] == 1);
        assert_true(out[DROP_CONN_LIMIT] == 0);
        drop_take(&d, out); /* zeroed by the first take */
        assert_true(out[DROP_QUEUE_FULL] == 15);
        for (int i = 0; i < DROP__MAX; i++) {
                const char *n = drop_reason_name((enum drop_reason)i);

                assert_non_null(n);
                assert_string_not_equal(n, "unknown");
                for (int j = 0; j < i; j++)
                        assert_string_not_equal(n, drop_reason_name((enum drop_reason)j));
        }
        assert_string_equal(drop_reason_name(DROP_QUEUE_FULL), "queue_full");
        assert_string_equal(drop_reason_name(DROP__MAX), "unknown");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_event),
                cmocka_unit_test(test_drops),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
