/* sd_notify for the daemon (libsystemd). Each call is one datagram to $NOTIFY_SOCKET; the
 * environment is left set so that a re-exec would still reach systemd. The watchdog rides on
 * a timer of the collectors' loop, so a ping proves that loop still turns. */
#include "cli/notify.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "core/log.h"
#include "core/tm.h"

/* Liveness beats once per second; the watchdog, at half its period when that is shorter. */
#define NOTIFY_BEAT_US TM_USEC_PER_SEC

void notify_ready(const char *status) {
        if (sd_notifyf(0, "READY=1\nSTATUS=%s", status) > 0)
                log_info("told systemd: ready", "status=\"%s\"", status);
}

void notify_status(const char *fmt, ...) {
        char s[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s, sizeof(s), fmt, ap);
        va_end(ap);
        (void)sd_notifyf(0, "STATUS=%s", s);
}

void notify_stopping(void) {
        (void)sd_notify(0, "STOPPING=1\nSTATUS=stopping: storing what was received");
}

struct watchdog {
        void (*beat_cb)(void *ud);
        void *ud;
        bool enabled;
};

static int watchdog_cb(struct loop *l, void *ud) {
        struct watchdog *w = ud;
        if (w->beat_cb)
                w->beat_cb(w->ud);
        if (w->enabled)
                (void)sd_notify(0, "WATCHDOG=1");
        return 0;
}

int notify_watchdog_start(struct loop *l, void (*beat_cb)(void *ud), void *ud) {
        /* One daemon per process: its state lives as long as the loop may call it. */
        static struct watchdog w;
        uint64_t usec = 0;
        int64_t every = NOTIFY_BEAT_US;
        w.beat_cb = beat_cb;
        w.ud = ud;
        w.enabled = sd_watchdog_enabled(0, &usec) > 0 && usec > 0;
        if (w.enabled) {
                if ((int64_t)(usec / 2) < every)
                        every = (int64_t)(usec / 2);
                log_info("watchdog on", "period_ms=%llu ping_ms=%lld",
                         (unsigned long long)(usec / 1000), (long long)(every / 1000));
                (void)sd_notify(0, "WATCHDOG=1");
        }
        return loop_add_timer(l, every, watchdog_cb, &w);
}
