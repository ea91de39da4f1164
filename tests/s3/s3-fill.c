/* s3-fill: fills a gatelog database with sealed epochs of records tagged with criteria, for
 * the S3 export tests and bench/s3 (the daemon has no rules engine to tag records yet).
 *
 *   s3-fill DB KEY CHAIN OUTPUTS EPOCHS RECORDS [PAD [EPOCH_SECONDS]]
 *
 * OUTPUTS is a comma-separated list of output names: each sealed epoch is queued in their
 * outboxes, exactly as the daemon's writer does, so that `gatelog run` (or `gatelog seal
 * --now` without a daemon) then exports them. Records go through the real writer (queue,
 * SQLite, incremental trees, sealing) with an epoch length of EPOCH_SECONDS, by default one
 * hour: the daemon that exports them must have the same (it refuses a database of another
 * epoch length), so the tests pass the harness's (GATELOG_TEST_EPOCH or 1 h). Record
 * i is tagged with the criteria of the set bits of i % 32 among CC6.1, A1.2, PI1.3, C1.1,
 * P4.2; PAD bytes of filler make records bigger (for the benchmark). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/writer.h"
#include "core/queue.h"
#include "core/tm.h"
#include "seal/seal.h"

static const char *const crit_ids[] = { "CC6.1", "A1.2", "PI1.3", "C1.1", "P4.2" };
#define N_CRIT (sizeof(crit_ids) / sizeof(crit_ids[0]))

static json *make_record(long i, const char *pad)
{
        json *r = json_new_obj(), *c = json_new_arr(), *f = json_new_arr();
        char msg[64], t[TM_RFC3339_LEN];

        snprintf(msg, sizeof(msg), "s3 test event %ld", i);
        tm_format_rfc3339(tm_now_us(), t);
        json_obj_set_str(r, "message", msg);
        json_obj_set_str(r, "host", i % 2 ? "alpha" : "beta");
        json_obj_set_str(r, "app", "s3-fill");
        json_obj_set_str(r, "time", t);
        json_obj_set_str(r, "received", t);
        if (pad)
                json_obj_set_str(r, "pad", pad);
        for (size_t k = 0; k < N_CRIT; k++)
                if ((i % 32) & (1L << k))
                        json_arr_append(c, json_new_str(crit_ids[k]));
        json_obj_set(r, "criteria", c);
        json_obj_set(r, "flags", f);
        return r;
}

int main(int argc, char **argv)
{
        struct writer_output outs[8];
        struct seal_error se = { { 0 } };
        struct seal_key *key = NULL;
        size_t n_outs = 0;
        char *pad = NULL, err[256] = "";

        if (argc < 7) {
                fprintf(stderr, "usage: s3-fill DB KEY CHAIN OUTPUTS EPOCHS RECORDS "
                                "[PAD [EPOCH_SECONDS]]\n");
                return 2;
        }
        long epochs = atol(argv[5]), records = atol(argv[6]), padlen = argc > 7 ? atol(argv[7]) : 0;
        long epoch_s = argc > 8 ? atol(argv[8]) : 3600;
        if (epoch_s <= 0) {
                fprintf(stderr, "s3-fill: EPOCH_SECONDS %s: not a positive number\n", argv[8]);
                return 2;
        }
        for (char *save = NULL, *tok = strtok_r(argv[4], ",", &save); tok && n_outs < 8;
             tok = strtok_r(NULL, ",", &save))
                outs[n_outs++] = (struct writer_output){ tok, NULL, NULL };
        if (seal_key_load(argv[2], &key, &se) < 0) {
                fprintf(stderr, "s3-fill: %s: %s\n", argv[2], se.msg);
                return 1;
        }
        if (padlen > 0) {
                pad = malloc((size_t)padlen + 1);
                for (long k = 0; k < padlen; k++)
                        pad[k] = (char)('a' + k % 26);
                pad[padlen] = '\0';
        }
        struct writer_config cfg = {
                .db_path = argv[1], .chain = argv[3], .epoch_us = epoch_s * TM_USEC_PER_SEC,
                .key = key, .outputs = outs, .n_outputs = n_outs,
        };
        long i = 0;
        for (long e = 0; e < epochs; e++) {
                struct writer *w = NULL;
                struct queue *q = NULL;
                struct drop_counters drops = { { 0 } };
                if (writer_open(&cfg, &w, err, sizeof(err)) < 0 || queue_new(1024, &q) < 0 ||
                    writer_start(w, q, &drops) < 0) {
                        fprintf(stderr, "s3-fill: %s\n", err);
                        return 1;
                }
                int64_t now = tm_now_us();
                for (long k = 0; k < records; k++, i++) {
                        struct event *ev = event_new(make_record(i, pad), now);
                        while (queue_push(q, ev) == -EAGAIN)
                                usleep(1000);
                }
                queue_close(q);
                if (writer_join(w) < 0 || writer_seal_now(w) < 0) {
                        fprintf(stderr, "s3-fill: writing or sealing failed\n");
                        return 1;
                }
                writer_free(w);
                queue_free(q, event_free_cb);
        }
        seal_key_free(key);
        free(pad);
        printf("%ld records in %ld sealed epoch(s)\n", i, epochs);
        return 0;
}
