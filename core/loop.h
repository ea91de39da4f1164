/* One small epoll event loop (the Redis ae shape): file descriptors and timers with
 * callbacks. Single-threaded: only the thread running loop_run may call into the loop,
 * except loop_quit_async, which any thread or signal handler may call. */
#pragma once
#include <stdint.h>
#include <sys/epoll.h>

struct loop;

/* Returns 0 to go on, <0 to stop the loop with that value (loop_run returns it). */
typedef int (*loop_fd_cb)(struct loop *l, int fd, uint32_t events, void *ud);
typedef int (*loop_timer_cb)(struct loop *l, void *ud);

int loop_new(struct loop **ret);
void loop_free(struct loop *l); /* does not close registered fds; accepts NULL */
/* events: EPOLLIN/EPOLLOUT...; returns 0 or -errno. */
int loop_add(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *ud);
int loop_mod(struct loop *l, int fd, uint32_t events);
int loop_del(struct loop *l, int fd);
/* A periodic timer (timerfd, CLOCK_MONOTONIC). Returns a timer id >= 0 or -errno. */
int loop_add_timer(struct loop *l, int64_t interval_us, loop_timer_cb cb, void *ud);
void loop_del_timer(struct loop *l, int id);
/* Runs until a callback returns <0 or loop_quit is called; returns 0 or that value. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l);
/* Thread- and signal-safe quit (writes an eventfd). */
void loop_quit_async(struct loop *l);
