/* RELP (issue 8): seeds the collector's duplicate window from the store at start.
 *
 * A RELP sender resends the messages it saw no acknowledgement for; the ones gatelog stored
 * just before it was killed arrive again after the restart. The collector flags a message
 * whose bytes it stored from the same peer within RELP_DEDUP_WINDOW_US; this file tells it
 * what the previous run stored. Only the open epoch and the epochs that end inside the window
 * are read, and only records received inside the window and marked as RELP are parsed. */
#include <errno.h>
#include <string.h>

#include "cli/run-relp.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/tm.h"
#include "outputs/outputs.h"

struct seed {
        struct ingest_syslog *s;
        int64_t since_us;
        size_t n;
};

static int seed_record_cb(void *ud, const struct store_record *r)
{
        struct seed *sd = ud;
        json *rec = NULL;

        if (r->received_us < sd->since_us ||
            !memmem(r->data, r->len, "\"transport\":\"relp\"", 18))
                return 0;
        if (json_parse(r->data, r->len, &rec, NULL) < 0)
                return 0;
        const char *peer = json_str(json_path_get(rec, "source.peer"), NULL);
        const char *tr = json_str(json_path_get(rec, "source.transport"), NULL);
        const char *sha = json_str(json_obj_get(rec, "raw_sha256"), NULL);
        if (peer && sha && tr && !strcmp(tr, "relp")) {
                ingest_syslog_relp_seen(sd->s, peer, sha, r->received_us);
                sd->n++;
        }
        json_free(rec);
        return 0;
}

void run_relp_seed_cb(void *ud, struct ingest_syslog *s)
{
        const char *db = ud;
        struct store_error err = { { 0 } };
        struct store_epoch e = { 0 };
        struct store *st = NULL;
        struct seed sd = { .s = s, .since_us = tm_now_us() - RELP_DEDUP_WINDOW_US };
        int r = store_open(db, STORE_READONLY, &st, &err);

        if (r == -ENOENT)
                return;
        if (r < 0) {
                log_warn("relp: cannot read recent records for duplicate detection",
                         "error=\"%s\"", err.msg);
                return;
        }
        if (store_epoch_last(st, &e) == 0) {
                int64_t epoch = e.epoch;

                store_epoch_clear(&e);
                /* Newest first, down to the first epoch that ended before the window. */
                for (; epoch >= 0; epoch--) {
                        struct store_epoch cur = { 0 };

                        if (store_epoch_get(st, epoch, &cur) < 0)
                                break;
                        bool older = cur.end_us < sd.since_us;
                        store_epoch_clear(&cur);
                        if (older)
                                break;
                        if (store_records_foreach(st, epoch, seed_record_cb, &sd) < 0)
                                break;
                }
        }
        store_close(st);
        log_info("relp duplicate window seeded", "records=%zu", sd.n);
}
