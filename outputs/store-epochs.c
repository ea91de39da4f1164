/* Epoch rows and the export outbox of the store (see store.c for the schema and the
 * statements). Load: a few calls per epoch (hourly) and per export, and `gatelog epochs`
 * walking every epoch row once. Epoch rows are copied out (stats, manifest) so callers keep
 * nothing borrowed from SQLite past the call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tm.h"
#include "outputs/store-internal.h"

/* ---- epochs ---- */

int store_epoch_put(struct store *s, const struct store_epoch *e)
{
        sqlite3_stmt *st;
        int r = 0;

        st = store_st(s, ST_EPOCH_PUT, &r);
        if (!st)
                return r;
        sqlite3_bind_int64(st, 1, e->epoch);
        sqlite3_bind_int64(st, 2, e->start_us);
        sqlite3_bind_int64(st, 3, e->end_us);
        sqlite3_bind_int64(st, 4, e->first_seq);
        sqlite3_bind_int64(st, 5, e->count);
        sqlite3_bind_int(st, 6, e->sealed);
        store_bind_text(st, 7, e->stats);
        if (e->sealed) {
                sqlite3_bind_blob(st, 8, e->root, HASH_LEN, SQLITE_STATIC);
                if (e->manifest)
                        sqlite3_bind_blob64(st, 9, e->manifest, e->manifest_len,
                                            SQLITE_STATIC);
                sqlite3_bind_blob(st, 10, e->sig, sizeof(e->sig), SQLITE_STATIC);
                sqlite3_bind_int64(st, 11, e->sealed_us);
        }
        return store_st_exec(s, st);
}

/* Fills e from a row (malloc'd stats and manifest); e is untouched on failure. */
static int row_epoch(sqlite3_stmt *st, struct store_epoch *ret)
{
        struct store_epoch e = {
                .epoch = sqlite3_column_int64(st, 0),
                .start_us = sqlite3_column_int64(st, 1),
                .end_us = sqlite3_column_int64(st, 2),
                .first_seq = sqlite3_column_int64(st, 3),
                .count = sqlite3_column_int64(st, 4),
                .sealed = sqlite3_column_int(st, 5) != 0,
                .sealed_us = sqlite3_column_int64(st, 10),
        };

        if (store_col_dup(st, 6, &e.stats, NULL) < 0)
                return -ENOMEM;
        if (store_col_dup(st, 8, &e.manifest, &e.manifest_len) < 0) {
                free(e.stats);
                return -ENOMEM;
        }
        store_col_fixed(st, 7, e.root, HASH_LEN);
        store_col_fixed(st, 9, e.sig, sizeof(e.sig));
        *ret = e;
        return 0;
}

/* Runs a one-row epoch SELECT. */
static int epoch_one(struct store *s, sqlite3_stmt *st, struct store_epoch *ret)
{
        int rc = sqlite3_step(st), r;

        if (rc == SQLITE_ROW)
                r = row_epoch(st, ret);
        else
                r = rc == SQLITE_DONE ? -ENOENT : store_rc(s, rc);
        store_st_done(st);
        return r;
}

int store_epoch_get(struct store *s, int64_t epoch, struct store_epoch *ret)
{
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_EPOCH_GET, &r);

        if (!st)
                return r;
        sqlite3_bind_int64(st, 1, epoch);
        return epoch_one(s, st, ret);
}

int store_epoch_last(struct store *s, struct store_epoch *ret)
{
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_EPOCH_LAST, &r);

        return st ? epoch_one(s, st, ret) : r;
}

void store_epoch_clear(struct store_epoch *e)
{
        if (!e)
                return;
        free(e->stats);
        free(e->manifest);
        *e = (struct store_epoch){ 0 };
}

int store_epochs_foreach(struct store *s, int (*cb)(void *ud, const struct store_epoch *e),
                         void *ud)
{
        struct store_epoch e;
        sqlite3_stmt *st;
        int rc, r = 0;

        st = store_st(s, ST_EPOCH_ALL, &r);
        if (!st)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = row_epoch(st, &e);
                if (r < 0)
                        break;
                r = cb(ud, &e);
                store_epoch_clear(&e);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_rc(s, rc);
        store_st_done(st);
        return r < 0 ? r : 0;
}

int store_epoch_criteria(struct store *s, int64_t epoch,
                         int (*cb)(void *ud, const char *id, int64_t count), void *ud)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        st = store_st(s, ST_EPOCH_CRIT, &r);
        if (!st)
                return r;
        sqlite3_bind_int64(st, 1, epoch);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb(ud, (const char *)sqlite3_column_text(st, 0),
                       sqlite3_column_int64(st, 1));
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_rc(s, rc);
        store_st_done(st);
        return r < 0 ? r : 0;
}

/* ---- outbox ---- */

int store_outbox_add(struct store *s, const char *output, int64_t epoch)
{
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_OUT_ADD, &r);

        if (!st)
                return r;
        store_bind_text(st, 1, output);
        sqlite3_bind_int64(st, 2, epoch);
        sqlite3_bind_int64(st, 3, tm_now_us());
        return store_st_exec(s, st);
}

int store_outbox_pending(struct store *s, const char *output,
                         int (*cb)(void *ud, int64_t epoch), void *ud)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        st = store_st(s, ST_OUT_PENDING, &r);
        if (!st)
                return r;
        store_bind_text(st, 1, output);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb(ud, sqlite3_column_int64(st, 0));
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_rc(s, rc);
        store_st_done(st);
        return r < 0 ? r : 0;
}

/* Runs an outbox UPDATE; -ENOENT when no row of (output, epoch) exists. */
static int outbox_update(struct store *s, sqlite3_stmt *st)
{
        int r = store_st_exec(s, st);

        if (r >= 0 && sqlite3_changes(s->db) == 0) {
                snprintf(s->errmsg, sizeof(s->errmsg), "no outbox entry");
                r = -ENOENT;
        }
        return r;
}

int store_outbox_done(struct store *s, const char *output, int64_t epoch)
{
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_OUT_DONE, &r);

        if (!st)
                return r;
        store_bind_text(st, 1, output);
        sqlite3_bind_int64(st, 2, epoch);
        sqlite3_bind_int64(st, 3, tm_now_us());
        return outbox_update(s, st);
}

int store_outbox_failed(struct store *s, const char *output, int64_t epoch, const char *error)
{
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_OUT_FAILED, &r);

        if (!st)
                return r;
        store_bind_text(st, 1, output);
        sqlite3_bind_int64(st, 2, epoch);
        store_bind_text(st, 3, error);
        sqlite3_bind_int64(st, 4, tm_now_us());
        return outbox_update(s, st);
}

int store_outbox_backlog(struct store *s, const char *output, int64_t *ret)
{
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_OUT_BACKLOG, &r);

        if (!st)
                return r;
        store_bind_text(st, 1, output);
        return store_count_one(s, st, ret);
}

int store_outbox_outputs(struct store *s,
                         int (*cb)(void *ud, const char *output, int64_t pending), void *ud)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        st = store_st(s, ST_OUT_ALL, &r);
        if (!st)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb(ud, (const char *)sqlite3_column_text(st, 0),
                       sqlite3_column_int64(st, 1));
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_rc(s, rc);
        store_st_done(st);
        return r < 0 ? r : 0;
}
