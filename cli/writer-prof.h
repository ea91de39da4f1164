/* Where the writer's two threads spend their wall time, by phase (issue 12, measurement
 * only). Compiled in only with -DGL_WRITER_PROF (a bench build: `meson setup B
 * -Dbuildtype=release -Dc_args=-DGL_WRITER_PROF`); otherwise every macro is nothing, so the
 * release hot path carries no instrumentation. Marks are per batch or per slice, never per
 * event: two clock reads (wall, thread CPU) each. At the thread's end one log line gives,
 * per phase, wall ms, CPU ms and how many times it ran: wall minus CPU is time asleep (a
 * queue wait, fdatasync) or runnable without a core. */
#pragma once

#ifdef GL_WRITER_PROF
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#define WPROF_MAX 8

struct wprof {
        const char *names[WPROF_MAX];
        int64_t wall[WPROF_MAX], cpu[WPROF_MAX];
        uint64_t n[WPROF_MAX];
        int64_t last_wall, last_cpu;
        uint64_t batches, events;
};

static inline int64_t wprof_ns(clockid_t c) {
        struct timespec ts;
        clock_gettime(c, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The time since the previous mark was phase ph. */
static inline void wprof_mark(struct wprof *p, int ph, const char *name) {
        int64_t w = wprof_ns(CLOCK_MONOTONIC), c = wprof_ns(CLOCK_THREAD_CPUTIME_ID);
        if (p->last_wall) {
                p->wall[ph] += w - p->last_wall;
                p->cpu[ph] += c - p->last_cpu;
                p->n[ph]++;
                p->names[ph] = name;
        }
        p->last_wall = w;
        p->last_cpu = c;
}

static inline void wprof_report(const struct wprof *p, const char *thread) {
        char line[1024];
        size_t o = 0;
        for (int i = 0; i < WPROF_MAX && o < sizeof(line); i++)
                if (p->names[i])
                        o += (size_t)snprintf(line + o, sizeof(line) - o,
                                              " %s=%.1f/%.1f/%llu", p->names[i],
                                              (double)p->wall[i] / 1e6, (double)p->cpu[i] / 1e6,
                                              (unsigned long long)p->n[i]);
        log_info("writer profile (phase=wall ms/cpu ms/times)", "thread=%s batches=%llu "
                 "events=%llu%s", thread, (unsigned long long)p->batches,
                 (unsigned long long)p->events, line);
}

#define WPROF_DECL struct wprof prof;
#define WPROF_MARK(p, ph) wprof_mark(p, ph, #ph)
#define WPROF_COUNT(p, nb, ne) ((p)->batches += (nb), (p)->events += (ne))
#define WPROF_REPORT(p, t) wprof_report(p, t)
#else
#define WPROF_DECL
#define WPROF_MARK(p, ph) ((void)0)
#define WPROF_COUNT(p, nb, ne) ((void)0)
#define WPROF_REPORT(p, t) ((void)0)
#endif

/* Phases (indices below WPROF_MAX). */
enum { WP_POP, WP_GATHER, WP_INSERT, WP_COMMIT, WP_AFTER, WP_FREE, WP_OTHER, WP_PUSH,
       WP_MAP = WP_INSERT /* the mapper's work, in the slot the store uses for inserts */ };
