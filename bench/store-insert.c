/* store-insert: the storing thread's SQLite cost per record (issue 12), through the store's
 * public API only, so the same source builds against any version of outputs/ (schema 1 or
 * 2) for a before/after pair.
 *
 *   store-insert [--n N] [--batch B] [--pad P] [--db FILE] [--keep]
 *
 * Inserts N synthetic records shaped like the benchmark mix's (canonical JSON of ~330 bytes,
 * a 32-byte leaf, one to three criterion ids on 60 % of them, hosts from a small set, event
 * times in order with some late ones) in transactions of B (the writer's WRITER_BATCH_MAX,
 * 1024), with the writer's background checkpointer, and writes epoch rows every 100,000
 * records (the last one open), as a daemon would leave them. Prints CPU-µs per record of the
 * inserting thread and of the whole process, and rows per second of wall time. --pad P
 * lengthens each record's message by P bytes (the daemon's records of the benchmark mix are
 * ~700 bytes: --pad 370). With --keep the database stays (for `gatelog query` latency
 * measurements). Nothing here asserts a time: it is a measurement, not a test. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "outputs/outputs.h"

#define EPOCH_RECORDS 100000

static double clock_s(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const ids[] = { "CC6.1", "CC6.2", "CC6.3", "CC6.6", "CC7.2", "CC8.1" };
static const char *const hosts[] = { "web1", "web2", "db1", "bastion", "app-7f9c" };

/* One record of the mix's shape: an sshd/sudo/nginx-like event as canonical JSON. */
static size_t make_record(int64_t seq, uint32_t x, int64_t t, int pad, char *out, size_t len)
{
        int n = snprintf(out, len,
                         "{\"app\":\"sshd\",\"criteria\":[\"CC6.1\"],\"facility\":\"auth\","
                         "\"host\":\"%s\",\"message\":\"Accepted publickey for user%u from "
                         "10.%u.%u.%u port %u ssh2: ED25519 SHA256:%08x%08x%*s\",\"received\":"
                         "\"2026-12-01T10:00:00.%06lldZ\",\"rule\":\"ssh-login\",\"seq\":%lld,"
                         "\"severity\":\"info\",\"source\":{\"kind\":\"syslog\",\"peer\":"
                         "\"127.0.0.1\"},\"time\":\"2026-12-01T10:00:00Z\",\"user\":\"user%u\"}",
                         hosts[x % 5], x % 977, x % 251, (x >> 8) % 251, (x >> 16) % 251,
                         1024 + x % 60000, x, x * 2654435761u, pad, "", (long long)(t % 1000000),
                         (long long)seq, x % 977);
        return n > 0 ? (size_t)n : 0;
}

static int put_epoch(struct store *s, int64_t epoch, int64_t first, int64_t count, bool sealed)
{
        struct store_epoch e = {
                .epoch = epoch, .start_us = epoch * 3600000000LL,
                .end_us = (epoch + 1) * 3600000000LL, .first_seq = first, .count = count,
                .sealed = sealed, .stats = "{}", .manifest = "{}", .manifest_len = 2,
        };

        return store_epoch_put(s, &e);
}

int main(int argc, char **argv)
{
        int64_t n = 200000, batch = 1024;
        int pad = 0;
        const char *db = NULL;
        char path[256], tmp[] = "/tmp/store-insert-XXXXXX";
        bool keep = false;
        struct store *s;
        struct store_error err;
        char data[4096];
        uint32_t x = 42;
        int r;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--n") && i + 1 < argc)
                        n = atoll(argv[++i]);
                else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
                        batch = atoll(argv[++i]);
                else if (!strcmp(argv[i], "--pad") && i + 1 < argc)
                        pad = atoi(argv[++i]);
                else if (!strcmp(argv[i], "--db") && i + 1 < argc)
                        db = argv[++i];
                else if (!strcmp(argv[i], "--keep"))
                        keep = true;
                else {
                        fprintf(stderr, "usage: store-insert [--n N] [--batch B] [--pad P] [--db FILE] "
                                        "[--keep]\n");
                        return 2;
                }
        }
        if (!db) {
                if (!mkdtemp(tmp))
                        return 1;
                snprintf(path, sizeof(path), "%s/gatelog.db", tmp);
                db = path;
        }
        r = store_open(db, STORE_READWRITE, &s, &err);
        if (r < 0) {
                fprintf(stderr, "store-insert: %s\n", err.msg);
                return 1;
        }
        (void)store_checkpoint_in_background(s);
        double w0 = clock_s(CLOCK_MONOTONIC), t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        double p0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        int64_t t = 1764583200000000LL;
        for (int64_t b = 0; b < n && r >= 0; b += batch) {
                r = store_begin(s);
                for (int64_t seq = b; r >= 0 && seq < n && seq < b + batch; seq++) {
                        const char *crit[3];
                        size_t nc = 0;
                        x = x * 1103515245u + 12345u;
                        if ((x >> 20) % 10 < 6) {
                                crit[nc++] = ids[(x >> 4) % 6];
                                if ((x >> 8) % 3 == 0)
                                        crit[nc++] = ids[((x >> 4) + 1) % 6];
                                if ((x >> 12) % 7 == 0)
                                        crit[nc++] = ids[((x >> 4) + 3) % 6];
                        }
                        t += 5000;
                        struct store_record rec = {
                                .seq = seq, .epoch = seq / EPOCH_RECORDS,
                                .received_us = t, .time_us = (x >> 24) % 50 ? t : t - 60000000,
                                .host = hosts[x % 5], .criteria = crit, .n_criteria = nc,
                                .data = data,
                        };
                        rec.len = make_record(seq, x, t, pad < 0 ? 0 : pad > 3000 ? 3000 : pad,
                                              data, sizeof(data));
                        memset(rec.leaf, (int)(x & 0xff), sizeof(rec.leaf));
                        r = store_record_insert(s, &rec);
                        if (r >= 0 && seq % EPOCH_RECORDS == 0)
                                r = put_epoch(s, seq / EPOCH_RECORDS, seq, 0, false);
                }
                if (r >= 0)
                        r = store_commit(s);
        }
        double t1 = clock_s(CLOCK_THREAD_CPUTIME_ID), w1 = clock_s(CLOCK_MONOTONIC);
        double p1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        /* Epoch rows as a daemon leaves them: full epochs sealed, the last one open. */
        for (int64_t e = 0; r >= 0 && e * EPOCH_RECORDS < n; e++) {
                int64_t first = e * EPOCH_RECORDS;
                int64_t count = n - first < EPOCH_RECORDS ? n - first : EPOCH_RECORDS;
                r = put_epoch(s, e, first, count, (e + 1) * EPOCH_RECORDS < n);
        }
        if (r < 0) {
                fprintf(stderr, "store-insert: %s (%s)\n", strerror(-r), store_errmsg(s));
                store_close(s);
                return 1;
        }
        store_close(s);
        printf("store-insert: %lld records in batches of %lld: %.2f CPU-us/record (storing "
               "thread), %.2f (process, with the checkpointer), %.0f rows/s wall\n",
               (long long)n, (long long)batch, (t1 - t0) * 1e6 / (double)n,
               (p1 - p0) * 1e6 / (double)n, (double)n / (w1 - w0));
        if (!keep && db == path) {
                char cmd[300];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
                if (system(cmd) != 0)
                        return 1;
        } else {
                printf("store-insert: database kept: %s\n", db);
        }
        return 0;
}
