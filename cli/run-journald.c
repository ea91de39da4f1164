/* gatelog run's journald part (cli/run-journald.h). Kept here, not in ingest/, so that the
 * collector knows nothing of the store: it is handed the position to resume from. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/run-journald.h"
#include "core/log.h"
#include "ingest/journald.h"
#include "outputs/outputs.h"

struct run_journald {
        struct journald_source **src;
        size_t n;
};

void run_journald_free(struct run_journald *rj)
{
        if (!rj)
                return;
        for (size_t i = 0; i < rj->n; i++)
                journald_source_free(rj->src[i]);
        free(rj->src);
        free(rj);
}

int run_journald_start(const struct config *cfg, struct loop *loop, struct queue *q,
                       struct drop_counters *drops, struct run_journald **ret)
{
        struct store_error se = { { 0 } };
        struct store *st = NULL;
        struct run_journald *rj;
        int r;

        *ret = NULL;
        if (cfg->n_journald == 0)
                return 0;
        rj = calloc(1, sizeof(*rj));
        if (!rj || !(rj->src = calloc(cfg->n_journald, sizeof(*rj->src)))) {
                free(rj);
                log_error("cannot start journald sources", "error=\"%s\"", strerror(ENOMEM));
                return -ENOMEM;
        }
        r = store_open(cfg->db_path, STORE_READONLY, &st, &se);
        if (r < 0) {
                log_error("cannot read journal positions from the store", "path=%s error=\"%s\"",
                          cfg->db_path, se.msg);
                goto fail;
        }
        for (size_t i = 0; i < cfg->n_journald; i++) {
                const struct journald_config *c = &cfg->journald[i];
                char key[128], err[512] = "", *pos = NULL;

                snprintf(key, sizeof(key), "journald:%s", c->name);
                r = store_position_get(st, key, &pos);
                if (r < 0 && r != -ENOENT) {
                        log_error("cannot read a journal position from the store",
                                  "source=%s error=\"%s\"", c->name, strerror(-r));
                        goto fail;
                }
                r = journald_source_new(c, pos, loop, q, drops, &rj->src[i], err, sizeof(err));
                if (r < 0) {
                        log_error("cannot open a journal source", "source=%s error=\"%s\"",
                                  c->name, err);
                        free(pos);
                        goto fail;
                }
                log_info("journal source open", "source=%s %s=\"%s\"", c->name,
                         pos ? "resume_after" : "start",
                         pos ? pos : c->start == JOURNALD_START_TAIL ? "tail"
                                   : c->start == JOURNALD_START_TIME ? "time" : "head");
                free(pos);
                rj->n++;
        }
        store_close(st);
        *ret = rj;
        return 0;
fail:
        store_close(st);
        run_journald_free(rj);
        return r;
}
