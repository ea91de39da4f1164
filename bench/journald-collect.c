/* journald-collect: the journald collector alone (issue 12), to compare with `journalctl -o
 * export` to a file on the same journal files without SQLite, rules or sealing in between.
 *
 * It runs the daemon's own collector (ingest/journald.c: sd-journal, the record builder with
 * raw_sha256, recycled blocks, cursors and positions) in an event loop on this thread, into a
 * queue of the daemon's default size that a second thread drains and frees in batches (as the
 * writer's threads do, so that recycled blocks come back across threads). The clock runs from
 * opening the journal until N events were queued (or, without --n, until the count has not
 * moved for 0.5 s once caught up, which is not counted). It prints one JSON object: entries,
 * seconds, entries/s, CPU seconds of the process, of the collector's loop thread (it reads
 * the journal) and of its building thread gl-journal (in ticks of /proc: 10 ms), CPU-µs per
 * entry, and peak/anonymous/file-backed resident memory (/proc/self/status). It asserts
 * nothing.
 *
 * --dump OUT writes every event's position and record (canonical JSON, the "received" member
 * left out since it is the receipt time) one per line, to compare two builds byte for byte.
 *
 * usage: journald-collect [--n N] [--dump OUT] (--directory DIR | --file F...) */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/event.h"
#include "core/json.h"
#include "core/loop.h"
#include "core/queue.h"
#include "ingest/journald.h"

#define QUEUE_EVENTS 8192u   /* queue.max_events' default */
#define DRAIN_BATCH 1024u    /* the writer's batch */
#define TICK_US 10000
#define IDLE_TICKS 50        /* 0.5 s without a new entry: caught up (no --n) */
/* A record's recycled block in ingest/journald.c: a record whose tree takes more spilled
 * into malloc'd chunks. */
#define JOURNALD_REC_BYTES 8192u

struct drain {
        struct queue *q;
        FILE *dump;
        atomic_ullong freed;
        unsigned long long rec_bytes, spilled; /* json_tree_bytes summed; over one block */
};

struct run {
        struct loop *loop;
        struct journald_source *src;
        uint64_t want, last;
        int idle;
        double t_done;
};

static double now_s(clockid_t c)
{
        struct timespec ts;

        clock_gettime(c, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void dump_event(FILE *f, struct event *e, struct buf *b)
{
        json *rec = e->rec;

        if (!rec)
                return;
        json_obj_del(rec, "received");
        buf_reset(b);
        if (json_canon(rec, b) < 0)
                return;
        fprintf(f, "%s\t%.*s\n", e->pos ? e->pos : "-", (int)b->len, b->data);
}

static void *drain_thread(void *ud)
{
        struct drain *d = ud;
        void *items[DRAIN_BATCH];
        struct buf b = { 0 };
        size_t n;

        while ((n = queue_pop_batch(d->q, items, DRAIN_BATCH, -1)) > 0) {
                for (size_t i = 0; i < n; i++) {
                        struct event *e = items[i];
                        size_t tb = json_tree_bytes(e->rec);

                        d->rec_bytes += tb;
                        d->spilled += tb > JOURNALD_REC_BYTES;
                        if (d->dump)
                                dump_event(d->dump, items[i], &b);
                        event_free(items[i]);
                }
                atomic_fetch_add(&d->freed, n);
        }
        buf_free(&b);
        return NULL;
}

static int tick_cb(struct loop *l, void *ud)
{
        struct run *r = ud;
        uint64_t c = journald_source_count(r->src);

        if (r->want ? c >= r->want : (c == r->last && ++r->idle >= IDLE_TICKS)) {
                r->t_done = now_s(CLOCK_MONOTONIC) - (r->want ? 0 : IDLE_TICKS * TICK_US / 1e6);
                loop_quit(l);
        }
        if (c != r->last)
                r->idle = 0;
        r->last = c;
        return 0;
}

/* CPU seconds (utime + stime) of this process's thread named name, from
 * /proc/self/task/TID/stat; 0 when there is none. */
static double thread_cpu_s(const char *name)
{
        char path[320], comm[64], buf[1024];
        double sum = 0;
        DIR *d = opendir("/proc/self/task");
        struct dirent *de;

        while (d && (de = readdir(d))) {
                FILE *f;
                char *p;
                unsigned long ut = 0, st = 0;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
                if (!(f = fopen(path, "r")))
                        continue;
                comm[0] = '\0';
                if (fgets(comm, sizeof(comm), f))
                        comm[strcspn(comm, "\n")] = '\0';
                fclose(f);
                if (strcmp(comm, name))
                        continue;
                snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
                if (!(f = fopen(path, "r")))
                        continue;
                /* fields 14 and 15, after the ")" that ends the name */
                if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
                    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                           &st) == 2)
                        sum += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
                fclose(f);
        }
        if (d)
                closedir(d);
        return sum;
}

static long status_kib(const char *key)
{
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        size_t kl = strlen(key);
        long v = -1;

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (!strncmp(line, key, kl) && line[kl] == ':')
                        v = strtol(line + kl + 1, NULL, 10);
        fclose(f);
        return v;
}

int main(int argc, char **argv)
{
        struct journald_config cfg = { .name = "bench", .max_priority = -1 };
        struct drop_counters drops = { 0 };
        struct drain d = { 0 };
        struct run run = { 0 };
        struct rusage ru;
        char *files[64], err[512] = "";
        const char *dump = NULL;
        pthread_t th;
        double t0, c0, ct0, secs, cpu, cpu_thread, cpu_build;
        int r;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--n") && i + 1 < argc)
                        run.want = strtoull(argv[++i], NULL, 10);
                else if (!strcmp(argv[i], "--dump") && i + 1 < argc)
                        dump = argv[++i];
                else if (!strcmp(argv[i], "--directory") && i + 1 < argc)
                        cfg.directory = argv[++i];
                else if (!strcmp(argv[i], "--file") && i + 1 < argc && cfg.n_files < 64)
                        files[cfg.n_files++] = argv[++i];
                else {
                        fprintf(stderr, "usage: %s [--n N] [--dump OUT] (--directory DIR | "
                                "--file F...)\n", argv[0]);
                        return 2;
                }
        }
        cfg.files = cfg.n_files ? files : NULL;
        if (!cfg.directory == !cfg.n_files) {
                fprintf(stderr, "give --directory or --file\n");
                return 2;
        }
        if (dump && !(d.dump = fopen(dump, "w"))) {
                perror(dump);
                return 1;
        }
        if (loop_new(&run.loop) < 0 || queue_new(QUEUE_EVENTS, &d.q) < 0) {
                fprintf(stderr, "out of memory\n");
                return 1;
        }
        if (pthread_create(&th, NULL, drain_thread, &d) != 0) {
                fprintf(stderr, "cannot start the drain thread\n");
                return 1;
        }
        t0 = now_s(CLOCK_MONOTONIC);
        c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        ct0 = now_s(CLOCK_THREAD_CPUTIME_ID);
        r = journald_source_new(&cfg, NULL, run.loop, d.q, &drops, &run.src, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "journald_source_new: %s\n", err);
                return 1;
        }
        if (loop_add_timer(run.loop, TICK_US, tick_cb, &run) < 0) {
                fprintf(stderr, "cannot add a timer\n");
                return 1;
        }
        r = loop_run(run.loop);
        secs = run.t_done - t0;
        cpu_thread = now_s(CLOCK_THREAD_CPUTIME_ID) - ct0;
        cpu_build = thread_cpu_s("gl-journal"); /* before the stop joins it */
        /* Every queued event freed before the process's CPU is read: the drain is part of
         * the cost (the daemon's writer threads free them). */
        journald_source_stop(run.src);
        queue_close(d.q);
        pthread_join(th, NULL);
        cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        getrusage(RUSAGE_SELF, &ru);
        printf("{\"entries\": %llu, \"seconds\": %.3f, \"entries_per_s\": %.0f, "
               "\"cpu_s\": %.3f, \"collector_thread_cpu_s\": %.3f, \"build_thread_cpu_s\": %.2f, "
               "\"cpu_us_per_entry\": %.2f, "
               "\"peak_rss_mib\": %.1f, \"rss_anon_mib\": %.1f, \"rss_file_mib\": %.1f, "
               "\"freed\": %llu, \"record_bytes_mean\": %.0f, \"records_over_block\": %llu, "
               "\"loop\": %d}\n",
               (unsigned long long)journald_source_count(run.src), secs,
               (double)journald_source_count(run.src) / (secs > 0 ? secs : 1e-9), cpu,
               cpu_thread, cpu_build,
               cpu * 1e6 / (double)(journald_source_count(run.src) ?
                                    journald_source_count(run.src) : 1),
               (double)status_kib("VmHWM") / 1024, (double)status_kib("RssAnon") / 1024,
               (double)status_kib("RssFile") / 1024, (unsigned long long)d.freed,
               (double)d.rec_bytes / (double)(d.freed ? d.freed : 1), d.spilled, r);
        journald_source_free(run.src);
        queue_free(d.q, event_free_cb);
        loop_free(run.loop);
        if (d.dump)
                fclose(d.dump);
        return 0;
}
