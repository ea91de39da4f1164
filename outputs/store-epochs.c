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

struct epochs_walk {
        int (*cb)(void *ud, const struct store_epoch *e);
        void *ud;
};

static int epochs_row(void *ud, sqlite3_stmt *st)
{
        struct epochs_walk *w = ud;
        struct store_epoch e;
        int r = row_epoch(st, &e);

        if (r < 0)
                return r;
        r = w->cb(w->ud, &e);
        store_epoch_clear(&e);
        return r;
}

int store_epochs_foreach(struct store *s, int (*cb)(void *ud, const struct store_epoch *e),
                         void *ud)
{
        struct epochs_walk w = { cb, ud };
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_EPOCH_ALL, &r);

        return st ? store_st_rows(s, st, epochs_row, &w) : r;
}

/* Per-criterion counts of one epoch, gathered from the records' criteria column (schema 2:
 * no tag rows to join). A record holds at most a few of the 61 TSC ids; the distinct ids
 * of an epoch are few, so a small array with linear lookup is enough. */
struct crit_count {
        char id[32];
        int64_t n;
};

struct crit_counts {
        struct crit_count *c;
        size_t n, alloc;
};

static int crit_count_add(struct crit_counts *cc, const char *id, size_t len)
{
        for (size_t i = 0; i < cc->n; i++)
                if (strlen(cc->c[i].id) == len && memcmp(cc->c[i].id, id, len) == 0) {
                        cc->c[i].n++;
                        return 0;
                }
        if (len >= sizeof(cc->c[0].id))
                return -E2BIG;
        if (cc->n == cc->alloc) {
                size_t na = cc->alloc ? cc->alloc * 2 : 64;
                struct crit_count *p = realloc(cc->c, na * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                cc->c = p;
                cc->alloc = na;
        }
        memcpy(cc->c[cc->n].id, id, len);
        cc->c[cc->n].id[len] = '\0';
        cc->c[cc->n++].n = 1;
        return 0;
}

static int crit_tags_cb(void *ud, int64_t seq, const uint8_t *leaf, const char *tags)
{
        (void)seq;
        (void)leaf;
        for (const char *p = tags; p && *p;) {
                size_t len = strcspn(p, " ");
                int r = len ? crit_count_add(ud, p, len) : 0;
                if (r < 0)
                        return r;
                p += len;
                p += *p == ' ';
        }
        return 0;
}

static int cmp_count(const void *a, const void *b)
{
        return strcmp(((const struct crit_count *)a)->id, ((const struct crit_count *)b)->id);
}

int store_epoch_criteria(struct store *s, int64_t epoch,
                         int (*cb)(void *ud, const char *id, int64_t count), void *ud)
{
        struct crit_counts cc = { 0 };
        int r = store_epoch_tags(s, epoch, crit_tags_cb, &cc);

        if (r >= 0 && cc.n) /* an epoch without criteria: cc.c is NULL, which qsort refuses */
                qsort(cc.c, cc.n, sizeof(cc.c[0]), cmp_count);
        for (size_t i = 0; r >= 0 && i < cc.n; i++)
                r = cb(ud, cc.c[i].id, cc.c[i].n);
        free(cc.c);
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

struct pending_walk {
        int (*cb)(void *ud, int64_t epoch);
        void *ud;
};

static int pending_row(void *ud, sqlite3_stmt *st)
{
        struct pending_walk *w = ud;

        return w->cb(w->ud, sqlite3_column_int64(st, 0));
}

int store_outbox_pending(struct store *s, const char *output,
                         int (*cb)(void *ud, int64_t epoch), void *ud)
{
        struct pending_walk w = { cb, ud };
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_OUT_PENDING, &r);

        if (!st)
                return r;
        store_bind_text(st, 1, output);
        return store_st_rows(s, st, pending_row, &w);
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

struct outputs_walk {
        int (*cb)(void *ud, const char *output, int64_t pending);
        void *ud;
};

static int outputs_row(void *ud, sqlite3_stmt *st)
{
        struct outputs_walk *w = ud;

        return w->cb(w->ud, (const char *)sqlite3_column_text(st, 0),
                     sqlite3_column_int64(st, 1));
}

int store_outbox_outputs(struct store *s,
                         int (*cb)(void *ud, const char *output, int64_t pending), void *ud)
{
        struct outputs_walk w = { cb, ud };
        int r = 0;
        sqlite3_stmt *st = store_st(s, ST_OUT_ALL, &r);

        return st ? store_st_rows(s, st, outputs_row, &w) : r;
}
