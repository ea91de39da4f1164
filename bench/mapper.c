/* mapper: CPU-µs per event of the writer's mapper thread (cli/writer-map.c), as the daemon
 * runs it: rules, canonical bytes with "seq":0, the leaf midstate, the mapped record and the
 * tree freed (wmap_event), then the storing thread's splice of the number and the end of the
 * leaf hash (wmap_splice).
 *
 * Reads syslog messages one per line (a capture of `loadgen`'s mix: issue 12) and cycles
 * over them for --events N events, in batches of the writer's batch size. Each batch is
 * normalised untimed and, unless --warm, a buffer larger than the last-level caches a
 * batch's trees fit in is written over before the batch is mapped: in the daemon the trees
 * come from the collector's core, so the mapper reads them cold. It prints; it asserts
 * nothing.
 *
 * --dump OUT writes each stored record's final bytes, one per line, and its leaf hash in
 * hex before it (to compare two builds byte for byte). --fields OUT writes, per event, what
 * the mapper hands the store and the counters besides the bytes (time, host, the unmapped
 * app, criteria, flags, source kind and transport, malformed/truncated, the pack, a drop
 * rule), to compare those too (canon10).
 *
 * usage: mapper [--rules PATH]... [--events N] [--warm] [--dump OUT] [--fields OUT] FILE */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/writer-map.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/json.h"
#include "core/recycle.h"
#include "core/limits.h"
#include "normalize/normalize.h"
#include "rules/rules.h"
#include "bench/bench-pack.h"

/* Larger than a batch of trees (~4 MiB) and than this machine's L2 per core. */
#define EVICT_BYTES (16u << 20)

static double cpu_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line of what the mapper left in e besides the record's bytes (--fields). */
static void dump_fields(FILE *f, const struct event *e)
{
        const struct wmap_rec *m = e->mapped;
        const char *s;

        fprintf(f, "pack=%s drop=%s kind=%s transport=%s malformed=%d truncated=%d",
                e->rules_pack, e->drop_rule ? e->drop_rule : "-", e->src_kind,
                e->src_transport, e->malformed, e->truncated);
        if (m) {
                fprintf(f, " time=%lld host=%s app=%s crit=%zu", (long long)m->time_us,
                        m->host ? m->host : "(null)",
                        m->unmapped_app ? m->unmapped_app : "(null)", m->n_crit);
                s = m->crit;
                for (size_t k = 0; k < m->n_crit; k++, s = wmap_next(s))
                        fprintf(f, ",%s", s);
                fprintf(f, " flags=%zu", m->n_flags);
                s = m->flags;
                for (size_t k = 0; k < m->n_flags; k++, s = wmap_next(s))
                        fprintf(f, ",%s", s);
        }
        fputc('\n', f);
}

int main(int argc, char **argv)
{
        const char *rpaths[16], *file = NULL;
        size_t n_rpaths = 0, events = 200000, n_lines = 0, done = 0, bytes = 0, n_mapped = 0;
        bool warm = false;
        char **lines;
        FILE *dump = NULL, *fields = NULL;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--rules") && i + 1 < argc && n_rpaths < 16)
                        rpaths[n_rpaths++] = argv[++i];
                else if (!strcmp(argv[i], "--events") && i + 1 < argc)
                        events = strtoul(argv[++i], NULL, 10);
                else if (!strcmp(argv[i], "--warm"))
                        warm = true;
                else if (!strcmp(argv[i], "--dump") && i + 1 < argc) {
                        if (!(dump = fopen(argv[++i], "w")))
                                return 1;
                } else if (!strcmp(argv[i], "--fields") && i + 1 < argc) {
                        if (!(fields = fopen(argv[++i], "w")))
                                return 1;
                }
                else if (argv[i][0] != '-' && !file)
                        file = argv[i];
                else
                        file = NULL, i = argc;
        }
        if (!file) {
                fprintf(stderr, "usage: mapper [--rules PATH]... [--events N] [--warm] [--dump OUT] "
                                "[--fields OUT] FILE\n");
                return 2;
        }
        lines = bench_read_lines(file, &n_lines);
        if (!lines || !n_lines) {
                fprintf(stderr, "mapper: %s: no lines\n", file);
                return 1;
        }
        struct rules_pack *p = bench_pack_load(rpaths, n_rpaths, "mapper");

        if (!p)
                return 1;
        struct event *ev[WRITER_BATCH_MAX];
        struct norm_source src = { "syslog", "tcp", "127.0.0.1:40000" };
        struct buf scratch = BUF_INIT, out = BUF_INIT;
        char *evict = malloc(EVICT_BYTES);
        /* The mapped blocks come back here as the daemon's come back to its mapper. */
        struct recycle *rc = NULL;
        double t_map = 0, t_splice = 0;
        uint8_t leaf[HASH_LEN];
        unsigned fill = 0;

        if (!evict || recycle_new(1536, 1024, &rc) < 0)
                return 1;
        while (done < events) {
                size_t n = events - done < WRITER_BATCH_MAX ? events - done : WRITER_BATCH_MAX;

                for (size_t i = 0; i < n; i++) {
                        const char *l = lines[(done + i) % n_lines];
                        json *rec;

                        if (normalize_syslog(l, strlen(l), false, &src, 1718452800000000,
                                             NORM_AUTO, &rec) < 0 ||
                            !(ev[i] = event_new(rec, 1718452800000000)))
                                return 3;
                }
                if (!warm)
                        memset(evict, (int)(++fill & 0xff), EVICT_BYTES);
                double t0 = cpu_s();
                wmap_batch(p, rc, ev, n, &scratch);
                double t1 = cpu_s();
                for (size_t i = 0; i < n; i++)
                        if (ev[i]->mapped) {
                                if (wmap_splice(ev[i]->mapped, (int64_t)(done + i), &out,
                                                leaf) < 0)
                                        return 3;
                                bytes += out.len;
                                n_mapped++;
                                if (dump) {
                                        char hex[2 * HASH_LEN + 1];

                                        fprintf(dump, "%s %s\n", hash_hex(leaf, HASH_LEN, hex),
                                                out.data);
                                }
                        }
                double t2 = cpu_s();
                for (size_t i = 0; fields && i < n; i++)
                        dump_fields(fields, ev[i]);
                for (size_t i = 0; i < n; i++)
                        event_free(ev[i]);
                t_map += t1 - t0;
                t_splice += t2 - t1;
                done += n;
        }
        printf("mapper: %zu events over %zu distinct messages, pack %zu rules, %zu stored, "
               "records %.0f B on average, trees %s\n", events, n_lines,
               rules_pack_n_rules(p), n_mapped, n_mapped ? (double)bytes / n_mapped : 0.0,
               warm ? "warm" : "cold");
        printf("  wmap_event  %7.3f CPU-us/event (rules, canon, leaf midstate, free)\n",
               t_map * 1e6 / (double)events);
        printf("  wmap_splice %7.3f CPU-us/event (seq, end of the leaf hash)\n",
               t_splice * 1e6 / (double)events);
        printf("  mapper total %.3f CPU-us/event\n", (t_map + t_splice) * 1e6 / (double)events);
        if (dump)
                fclose(dump);
        if (fields)
                fclose(fields);
        free(evict);
        recycle_release(rc);
        buf_free(&scratch);
        buf_free(&out);
        rules_pack_free(p);
        return 0;
}
