/* The event loop: one epoll instance, file descriptors with callbacks, timerfd timers and an
 * eventfd that lets any thread or signal handler stop the loop.
 *
 * Expected load: a few listeners, up to a few thousand TCP connections, a handful of timers.
 * Guarantees: callbacks run on the thread that calls loop_run, one at a time. A callback may
 * add, modify or delete any fd (its own included) or timer; an fd deleted during a dispatch
 * batch gets no further callback from that batch, even if its number is reused by a new
 * registration in the same batch (each registration carries a generation number that the
 * epoll event must match). Nothing here allocates per event. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/loop.h"

/* Events fetched per epoll_wait: enough to amortise the system call, small enough that one
 * batch does bounded work. */
#define LOOP_BATCH 64

struct loop_fd {
        loop_fd_cb cb;
        void *ud;
        uint32_t gen;           /* matches the high half of epoll data.u64; 0 = free slot */
};

struct loop_timer {
        int fd;                 /* -1 = free slot */
        loop_timer_cb cb;
        void *ud;
};

struct loop {
        int epfd;
        int quit_fd;            /* eventfd written by loop_quit_async */
        bool quit;
        uint32_t next_gen;
        struct loop_fd *fds;    /* indexed by fd number */
        size_t n_fds;
        struct loop_timer *timers;
        size_t n_timers;
};

static int quit_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        uint64_t v;

        /* Drained so that a loop run again later does not stop at once. */
        if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return -errno;
        l->quit = true;
        return 0;
}

int loop_new(struct loop **ret)
{
        struct loop *l = calloc(1, sizeof(*l));
        int r;

        if (!l)
                return -ENOMEM;
        l->next_gen = 1;
        l->quit_fd = -1;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0) {
                r = -errno;
                goto fail;
        }
        l->quit_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (l->quit_fd < 0) {
                r = -errno;
                goto fail;
        }
        r = loop_add(l, l->quit_fd, EPOLLIN, quit_cb, NULL);
        if (r < 0)
                goto fail;
        *ret = l;
        return 0;
fail:
        loop_free(l);
        return r;
}

void loop_free(struct loop *l)
{
        if (!l)
                return;
        for (size_t i = 0; i < l->n_timers; i++)
                if (l->timers[i].fd >= 0)
                        close(l->timers[i].fd);
        if (l->quit_fd >= 0)
                close(l->quit_fd);
        if (l->epfd >= 0)
                close(l->epfd);
        free(l->timers);
        free(l->fds);
        free(l);
}

static int fds_reserve(struct loop *l, int fd)
{
        size_t n;
        struct loop_fd *p;

        if ((size_t)fd < l->n_fds)
                return 0;
        n = l->n_fds ? l->n_fds : 64;
        while (n <= (size_t)fd)
                n *= 2;
        p = realloc(l->fds, n * sizeof(*p));
        if (!p)
                return -ENOMEM;
        memset(p + l->n_fds, 0, (n - l->n_fds) * sizeof(*p));
        l->fds = p;
        l->n_fds = n;
        return 0;
}

static bool fd_registered(const struct loop *l, int fd)
{
        return fd >= 0 && (size_t)fd < l->n_fds && l->fds[fd].gen != 0;
}

int loop_add(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *ud)
{
        struct epoll_event ev = { .events = events };
        uint32_t gen;
        int r;

        if (fd < 0 || !cb)
                return -EINVAL;
        if (fd_registered(l, fd))
                return -EEXIST;
        r = fds_reserve(l, fd);
        if (r < 0)
                return r;
        gen = l->next_gen++;
        if (l->next_gen == 0)
                l->next_gen = 1;
        ev.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd;
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return -errno;
        l->fds[fd] = (struct loop_fd){ .cb = cb, .ud = ud, .gen = gen };
        return 0;
}

int loop_mod(struct loop *l, int fd, uint32_t events)
{
        struct epoll_event ev = { .events = events };

        if (!fd_registered(l, fd))
                return -ENOENT;
        ev.data.u64 = (uint64_t)l->fds[fd].gen << 32 | (uint32_t)fd;
        if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
                return -errno;
        return 0;
}

int loop_del(struct loop *l, int fd)
{
        if (!fd_registered(l, fd))
                return -ENOENT;
        l->fds[fd].gen = 0;
        /* The fd may already be closed by the caller (then the kernel dropped it from the
         * interest list itself); the slot is freed either way. */
        if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF &&
            errno != ENOENT)
                return -errno;
        return 0;
}

static int timer_fd_cb(struct loop *l, int fd, uint32_t events, void *ud)
{
        struct loop_timer *t = &l->timers[(size_t)(uintptr_t)ud];
        uint64_t expirations;

        /* Missed expirations collapse into one call: a periodic job catches up by itself. */
        if (read(fd, &expirations, sizeof(expirations)) < 0)
                return errno == EAGAIN ? 0 : -errno;
        return t->cb(l, t->ud);
}

static int timers_slot(struct loop *l, size_t *ret)
{
        struct loop_timer *p;
        size_t n;

        for (size_t i = 0; i < l->n_timers; i++)
                if (l->timers[i].fd < 0) {
                        *ret = i;
                        return 0;
                }
        n = l->n_timers ? l->n_timers * 2 : 8;
        p = realloc(l->timers, n * sizeof(*p));
        if (!p)
                return -ENOMEM;
        for (size_t i = l->n_timers; i < n; i++)
                p[i].fd = -1;
        *ret = l->n_timers;
        l->timers = p;
        l->n_timers = n;
        return 0;
}

int loop_add_timer(struct loop *l, int64_t interval_us, loop_timer_cb cb, void *ud)
{
        struct itimerspec its = { 0 };
        size_t id;
        int fd, r;

        if (interval_us <= 0 || !cb)
                return -EINVAL;
        r = timers_slot(l, &id);
        if (r < 0)
                return r;
        if (id > INT32_MAX)
                return -ENOSPC;
        fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        its.it_interval.tv_sec = interval_us / 1000000;
        its.it_interval.tv_nsec = (interval_us % 1000000) * 1000;
        its.it_value = its.it_interval;
        if (timerfd_settime(fd, 0, &its, NULL) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        r = loop_add(l, fd, EPOLLIN, timer_fd_cb, (void *)(uintptr_t)id);
        if (r < 0) {
                close(fd);
                return r;
        }
        l->timers[id] = (struct loop_timer){ .fd = fd, .cb = cb, .ud = ud };
        return (int)id;
}

void loop_del_timer(struct loop *l, int id)
{
        if (id < 0 || (size_t)id >= l->n_timers || l->timers[id].fd < 0)
                return;
        loop_del(l, l->timers[id].fd);
        close(l->timers[id].fd);
        l->timers[id].fd = -1;
}

/* Runs one batch; returns <0 to stop with that value, 0 to go on. */
static int loop_dispatch(struct loop *l, const struct epoll_event *evs, int n)
{
        for (int i = 0; i < n && !l->quit; i++) {
                int fd = (int)(uint32_t)evs[i].data.u64;
                uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
                struct loop_fd *e;
                int r;

                /* Deleted (or deleted and re-added) earlier in this batch: skip. */
                if ((size_t)fd >= l->n_fds || l->fds[fd].gen != gen)
                        continue;
                e = &l->fds[fd];
                r = e->cb(l, fd, evs[i].events, e->ud);
                if (r < 0)
                        return r;
        }
        return 0;
}

int loop_run(struct loop *l)
{
        struct epoll_event evs[LOOP_BATCH];

        l->quit = false;
        while (!l->quit) {
                int n = epoll_wait(l->epfd, evs, LOOP_BATCH, -1);
                int r;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                r = loop_dispatch(l, evs, n);
                if (r < 0)
                        return r;
        }
        return 0;
}

void loop_quit(struct loop *l)
{
        l->quit = true;
}

void loop_quit_async(struct loop *l)
{
        uint64_t one = 1;
        int saved = errno;

        /* write(2) is async-signal-safe; errno is restored for the interrupted code. The
         * only failure (counter overflow) cannot happen with 1 per call in practice. */
        if (write(l->quit_fd, &one, sizeof(one)) < 0) {
                /* nothing useful to do from a signal handler */
        }
        errno = saved;
}
