/* stages: where the pre-storage time of one event goes, stage by stage, on one thread.
 *
 * The messages: by default bench/loadgen's mix (bench/loadgen-mix.h: the same 8,192
 * messages for the same --seed, --format and --size that bench/run sends the daemon); with
 * FILE, its lines (one syslog message each); with --builtin, ten hand-written messages of
 * the mix's kinds that the caches keep hot (the benchmark's first mode: it understates rules
 * and canonical JSON by ~30 % against the mix, mapper4). Then, for --events N events
 * cycling over them, times each stage of the daemon's path separately, over batches of
 * 1,024 records (each stage reads records an earlier loop built, as the mapper does):
 *   normalize  normalize_syslog: the gate record (json tree) of the message
 *   rules      rules_apply with the pack (default rules/soc2)
 *   canon      json_canon_with_int of the record and its "seq" (RFC 8785 bytes), as the
 *              writer's mapper makes them (cli/writer-map.c)
 *   leaf       merkle_leaf_hash of those bytes (SHA-256, OpenSSL)
 *   free       json_free of the record
 * and prints CPU-µs per event for each (the target: the sum of the first four at
 * most 2 µs). It prints; it asserts nothing. Single-threaded: the records are malloc'd and
 * freed on this thread (the daemon's loop uses recycled blocks, and frees cross threads).
 * For instruction counts per stage, run it under `valgrind --tool=callgrind` and read the
 * inclusive counts of normalize_syslog, rules_apply, json_canon_with_int.
 *
 * usage: stages [--rules PATH]... [--events N] [--builtin | FILE]
 *               [--format 5424|3164] [--size BYTES] [--seed S] */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/json.h"
#include "normalize/normalize.h"
#include "rules/rules.h"
#include "seal/seal.h"
#include "bench/bench-pack.h"
#include "bench/loadgen-mix.h"

static const char *const builtin[] = {
        "<86>1 2024-06-15T12:00:01.123456Z host-01 sshd 4242 - - Accepted publickey for alice from 10.1.2.3 port 50022 ssh2: ED25519 SHA256:K3n0dHVh8eVQmR1ZkWQ3b8l6B2n1xNwZL0iS0M9rYgE",
        "<86>1 2024-06-15T12:00:02.000001Z host-02 sshd 4243 - - Failed password for invalid user bob from 10.1.2.4 port 50023 ssh2",
        "<85>1 2024-06-15T12:00:03.000001Z host-03 sudo 4244 - - carol : TTY=pts/1 ; PWD=/home/carol ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx.service",
        "<86>1 2024-06-15T12:00:04.000001Z host-04 CRON 4245 - - pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        "<86>1 2024-06-15T12:00:05.000001Z host-05 useradd 4246 - - new user: name=dave, UID=1001, GID=1001, home=/home/dave, shell=/bin/bash, from=/dev/pts/0",
        "<86>1 2024-06-15T12:00:06.000001Z host-06 usermod 4247 - - add 'erin' to group 'sudo'",
        "<190>1 2024-06-15T12:00:07.000001Z host-07 nginx 4248 - - 10.9.8.7 - frank [15/Jun/2024:12:00:07 +0000] \"GET /admin HTTP/1.1\" 403 512 \"-\" \"curl/8.1\"",
        "<134>1 2024-06-15T12:00:08.000001Z host-08 gate 4249 - - {\"actor\":\"grace\",\"resource\":\"/db/payroll\",\"action\":\"read\",\"decision\":\"deny\",\"ts\":\"2024-06-15T12:00:00Z\"}",
        "<78>1 2024-06-15T12:00:09.000001Z host-09 CRON 4250 - - (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
        "<30>1 2024-06-15T12:00:10.000001Z host-10 dhclient 4251 - - DHCPREQUEST for 10.0.0.9 on eth0 to 10.0.0.1 port 67",
};

static double cpu_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        const char *rpaths[16], *file = NULL, *what = "loadgen mix";
        size_t n_rpaths = 0, events = 200000, n_lines = 0, size = 0;
        size_t per_kind[K__MAX] = { 0 };
        unsigned seed = MIX_SEED_DEFAULT;
        int fmt = 5424;
        bool use_builtin = false;
        char **lines = NULL;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--rules") && i + 1 < argc && n_rpaths < 16)
                        rpaths[n_rpaths++] = argv[++i];
                else if (!strcmp(argv[i], "--events") && i + 1 < argc)
                        events = strtoul(argv[++i], NULL, 10);
                else if (!strcmp(argv[i], "--format") && i + 1 < argc)
                        fmt = atoi(argv[++i]);
                else if (!strcmp(argv[i], "--size") && i + 1 < argc)
                        size = strtoul(argv[++i], NULL, 10);
                else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
                        seed = (unsigned)strtoul(argv[++i], NULL, 10);
                else if (!strcmp(argv[i], "--builtin"))
                        use_builtin = true;
                else if (argv[i][0] != '-' && !file)
                        file = argv[i];
                else {
                        fprintf(stderr, "usage: stages [--rules PATH]... [--events N] "
                                "[--builtin | FILE] [--format 5424|3164] [--size BYTES] "
                                "[--seed S]\n");
                        return 2;
                }
        }
        if ((fmt != 5424 && fmt != 3164) || size > MSG_MAX - 256) {
                fprintf(stderr, "stages: --format 5424|3164, --size at most %d\n",
                        MSG_MAX - 256);
                return 2;
        }
        if (file) {
                lines = bench_read_lines(file, &n_lines);
                if (!lines) {
                        fprintf(stderr, "stages: %s: %s\n", file, strerror(errno));
                        return 1;
                }
                what = file;
        } else if (use_builtin) {
                lines = (char **)builtin;
                n_lines = sizeof(builtin) / sizeof(builtin[0]);
                what = "built-in ten (hot in cache: understates the mix)";
        } else {
                static char msg[MSG_MAX + 64];

                lines = calloc(POOL_N, sizeof(*lines));
                if (!lines)
                        return 1;
                for (n_lines = 0; n_lines < POOL_N; n_lines++) {
                        enum kind k;
                        size_t n = mix_message(&seed, fmt, size, msg, sizeof(msg), &k);

                        per_kind[k]++;
                        if (!(lines[n_lines] = strndup(msg, n)))
                                return 1;
                }
        }
        if (!n_lines)
                return 1;
        struct rules_pack *p = bench_pack_load(rpaths, n_rpaths, "stages");
        if (!p)
                return 1;
        /* Stage by stage over batches, so that each stage's loop is timed alone. */
        enum { BATCH = 1024 };
        json *recs[BATCH];
        double t[5] = { 0 };
        struct buf b = BUF_INIT;
        struct norm_source src = { "syslog", "tcp", "127.0.0.1:40000" };
        uint8_t leaf[HASH_LEN];
        size_t done = 0, bytes = 0;
        while (done < events) {
                size_t n = events - done < BATCH ? events - done : BATCH;
                double t0 = cpu_s();
                for (size_t i = 0; i < n; i++) {
                        const char *l = lines[(done + i) % n_lines];
                        size_t len = strlen(l);
                        if (normalize_syslog(l, len, false, &src, 1718452800000000, NORM_AUTO,
                                             &recs[i]) < 0)
                                return 3;
                }
                double t1 = cpu_s();
                for (size_t i = 0; i < n; i++) {
                        enum rules_verdict v;
                        const char *id;
                        (void)rules_apply(p, recs[i], &v, &id);
                }
                double t2 = cpu_s();
                for (size_t i = 0; i < n; i++) {
                        size_t off;
                        buf_reset(&b);
                        if (json_canon_with_int(recs[i], "seq", (int64_t)(done + i), &b,
                                                &off) < 0)
                                return 3;
                        bytes += b.len;
                }
                double t3 = cpu_s();
                for (size_t i = 0; i < n; i++)
                        merkle_leaf_hash(b.data, b.len, leaf); /* a typical record's size */
                double t4 = cpu_s();
                for (size_t i = 0; i < n; i++)
                        json_free(recs[i]);
                double t5 = cpu_s();
                t[0] += t1 - t0;
                t[1] += t2 - t1;
                t[2] += t3 - t2;
                t[3] += t4 - t3;
                t[4] += t5 - t4;
                done += n;
        }
        static const char *const names[] = { "normalize", "rules", "canon", "leaf", "free" };
        double pre = 0;
        printf("stages: %zu events over %zu distinct messages (%s), pack %zu rules, records "
               "%.0f B on average\n", events, n_lines, what, rules_pack_n_rules(p),
               (double)bytes / (double)events);
        if (!file && !use_builtin) {
                printf("  mix (RFC %d%s):", fmt, size ? ", padded" : "");
                for (int k = 0; k < K__MAX; k++)
                        printf(" %s %zu", kind_name[k], per_kind[k]);
                printf("\n");
        }
        for (int i = 0; i < 5; i++) {
                printf("  %-10s %7.3f CPU-us/event\n", names[i], t[i] * 1e6 / (double)events);
                if (i < 4)
                        pre += t[i];
        }
        printf("  pre-storage (normalize+rules+canon+leaf) %.3f CPU-us/event (target 2)\n",
               pre * 1e6 / (double)events);
        buf_free(&b);
        rules_pack_free(p);
        return 0;
}
