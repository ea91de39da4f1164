/* Tests for core/event.c: event ownership and the drop counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

/* event_bytes (queue.max_bytes, issue 12) counts the record tree: a longer message costs
 * about its length more, and an event without a record costs its struct only. */
static void test_event_bytes(void **state)
{
        static char big[8192];
        memset(big, 'x', sizeof(big) - 1);
        json *small = NULL, *large = NULL;
        assert_int_equal(json_parse("{\"message\":\"hi\"}", 16, &small, NULL), 0);
        assert_non_null(large = json_new_obj());
        assert_int_equal(json_obj_set_str(large, "message", big), 0);
        struct event *none = event_new(NULL, 1), *a = event_new(small, 1), *b = event_new(large, 1);
        assert_non_null(none);
        assert_non_null(a);
        assert_non_null(b);
        assert_true(event_bytes(none) >= sizeof(struct event));
        assert_true(event_bytes(a) > event_bytes(none));
        assert_true(event_bytes(b) >= event_bytes(none) + sizeof(big) - 1);
        assert_true(event_bytes(b) < event_bytes(none) + 2 * sizeof(big));
        event_free(none);
        event_free(a);
        event_free(b);
}

/* event_set_pos[n] (issue 12): a position that fits lives in the event itself, a longer one
 * is malloc'd; either way the strings read back whole, a second set replaces the first
 * (inline <-> heap, checked for leaks and double frees under ASan), event_bytes counts
 * only the heap copies, and journald's way (malloc'd strings set directly) is still freed. */
static void test_event_pos(void **state)
{
        char long_src[300], long_pos[200];
        struct event *e = event_new(NULL, 1);
        size_t bare;

        assert_non_null(e);
        bare = event_bytes(e);
        assert_int_equal(event_set_pos(e, "kafka:t/0", "12"), 0);
        assert_string_equal(e->pos_source, "kafka:t/0");
        assert_string_equal(e->pos, "12");
        assert_true(e->pos_inline);
        assert_true(event_bytes(e) == bare);
        /* Exactly full: source, its NUL, pos, its NUL. */
        memset(long_src, 's', sizeof(long_src));
        memset(long_pos, '9', sizeof(long_pos));
        long_src[EVENT_POS_INLINE - 4] = '\0';
        assert_int_equal(event_set_posn(e, long_src, EVENT_POS_INLINE - 4, "123", 2), 0);
        assert_true(e->pos_inline);
        assert_int_equal(strlen(e->pos_source), EVENT_POS_INLINE - 4);
        assert_string_equal(e->pos, "12");
        /* One byte more: heap. */
        assert_int_equal(event_set_posn(e, long_src, EVENT_POS_INLINE - 4, "123", 3), 0);
        assert_false(e->pos_inline);
        assert_string_equal(e->pos, "123");
        assert_true(event_bytes(e) > bare);
        /* heap -> heap, then heap -> inline */
        memset(long_src, 's', sizeof(long_src));
        long_src[sizeof(long_src) - 1] = '\0';
        long_pos[sizeof(long_pos) - 1] = '\0';
        assert_int_equal(event_set_pos(e, long_src, long_pos), 0);
        assert_false(e->pos_inline);
        assert_int_equal(strlen(e->pos_source), sizeof(long_src) - 1);
        assert_int_equal(strlen(e->pos), sizeof(long_pos) - 1);
        assert_int_equal(event_set_posn(e, "kafka:x/1", 9, "-5", 2), 0);
        assert_true(e->pos_inline);
        assert_string_equal(e->pos_source, "kafka:x/1");
        assert_string_equal(e->pos, "-5");
        assert_true(event_bytes(e) == bare);
        event_free(e);
        /* journald sets malloc'd strings itself */
        e = event_new(NULL, 1);
        assert_non_null(e);
        e->pos_source = strdup("journald:j");
        e->pos = strdup("s=1;i=2");
        assert_false(e->pos_inline);
        event_free(e);
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
                cmocka_unit_test(test_event_bytes),
                cmocka_unit_test(test_event_pos),
                cmocka_unit_test(test_drops),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
