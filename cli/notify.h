/* systemd's service notifications (sd_notify): READY, STATUS, STOPPING and the watchdog.
 * Without $NOTIFY_SOCKET (not started by systemd as Type=notify) every call does nothing,
 * so the daemon runs the same under a shell, a container runtime or systemd. */
#pragma once
#include "core/loop.h"

/* READY=1 with a STATUS line. */
void notify_ready(const char *status);
/* STATUS=... (printf format). */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1. */
void notify_stopping(void);
/* Adds a timer to the main loop that calls beat_cb(ud) every second (liveness for /healthz)
 * and, when systemd set WatchdogSec=, sends WATCHDOG=1 at least twice per period: a stuck
 * loop then gets the service restarted. Returns the timer id or -errno. */
int notify_watchdog_start(struct loop *l, void (*beat_cb)(void *ud), void *ud);
