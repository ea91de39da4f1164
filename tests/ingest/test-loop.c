/* core/loop.c (tested here, with the collector that depends on it): deleting fds from
 * callbacks during a dispatch batch, timers, quit from another thread, and a callback's
 * error ending the run. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/tm.h"

struct pair {
        int rd[2], wr[2];       /* two pipes: read ends rd[i], write ends wr[i] */
        int calls[2];
        int batches;
};

/* Each callback deletes the other pipe: whichever runs first, the other must not run. */
static int cross_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        struct pair *p = ud;
        int me = fd == p->rd[0] ? 0 : 1;

        p->calls[me]++;
        assert_int_equal(loop_del(l, p->rd[!me]), 0);
        close(p->rd[!me]);
        p->rd[!me] = -1;
        assert_int_equal(loop_del(l, fd), 0);  /* and itself */
        return 0;
}

static int stop_timer_cb(struct loop *l, void *ud)
{
        int *n = ud;

        if (++*n == 3)
                loop_quit(l);
        return 0;
}

static void test_delete_during_dispatch(void **state)
{
        struct pair p = { 0 };
        struct loop *l;
        int fds[2], ticks = 0;

        assert_int_equal(loop_new(&l), 0);
        assert_int_equal(pipe(fds), 0);
        p.rd[0] = fds[0];
        p.wr[0] = fds[1];
        assert_int_equal(pipe(fds), 0);
        p.rd[1] = fds[0];
        p.wr[1] = fds[1];
        /* Both readable before the loop runs: one epoll_wait returns both. */
        assert_int_equal(write(p.wr[0], "x", 1), 1);
        assert_int_equal(write(p.wr[1], "x", 1), 1);
        assert_int_equal(loop_add(l, p.rd[0], EPOLLIN, cross_cb, &p), 0);
        assert_int_equal(loop_add(l, p.rd[1], EPOLLIN, cross_cb, &p), 0);
        assert_int_equal(loop_add(l, p.rd[0], EPOLLIN, cross_cb, &p), -EEXIST);
        assert_true(loop_add_timer(l, 10000, stop_timer_cb, &ticks) >= 0);
        assert_int_equal(loop_run(l), 0);
        assert_int_equal(p.calls[0] + p.calls[1], 1);
        assert_int_equal(ticks, 3);
        assert_int_equal(loop_del(l, p.rd[0] >= 0 ? p.rd[0] : p.rd[1]), -ENOENT);
        for (int i = 0; i < 2; i++) {
                if (p.rd[i] >= 0)
                        close(p.rd[i]);
                close(p.wr[i]);
        }
        loop_free(l);
        loop_free(NULL);
}

static int fail_timer_cb(struct loop *l, void *ud)
{
        return -EPROTO;
}

static int count_timer_cb(struct loop *l, void *ud)
{
        ++*(int *)ud;
        return 0;
}

static void test_callback_error_and_timer_delete(void **state)
{
        struct loop *l;
        int n = 0, id;
        int64_t t0 = tm_mono_us();

        assert_int_equal(loop_new(&l), 0);
        id = loop_add_timer(l, 1000, count_timer_cb, &n);
        assert_true(id >= 0);
        loop_del_timer(l, id);
        assert_int_equal(loop_add_timer(l, 0, count_timer_cb, &n), -EINVAL);
        assert_true(loop_add_timer(l, 30000, fail_timer_cb, NULL) >= 0);
        assert_int_equal(loop_run(l), -EPROTO);
        assert_int_equal(n, 0);  /* the deleted timer never fired */
        assert_true(tm_mono_us() - t0 >= 25000);
        loop_free(l);
}

static void *quitter(void *ud)
{
        usleep(30000);
        loop_quit_async(ud);
        return NULL;
}

static void test_quit_async(void **state)
{
        struct loop *l;
        pthread_t th;

        assert_int_equal(loop_new(&l), 0);
        assert_int_equal(pthread_create(&th, NULL, quitter, l), 0);
        assert_int_equal(loop_run(l), 0);
        pthread_join(th, NULL);
        /* A quit requested before run also stops it (the eventfd stays readable). */
        loop_quit_async(l);
        assert_int_equal(loop_run(l), 0);
        loop_free(l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_delete_during_dispatch),
                cmocka_unit_test(test_callback_error_and_timer_delete),
                cmocka_unit_test(test_quit_async),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
