/* Records of the store (schema 2, issue 12): the insert, the walks of one epoch by seq
 * range (records, and leaf hashes with criteria for the restart), the highest seq.
 *
 * Load: one insert per stored record on the writer's thread (the hot path: one prepared
 * INSERT, the criteria joined into one column, the batch index noted in memory); the walks
 * once per export, verify or restart. Guarantees: every value is bound; the criteria column
 * holds the ids in the order given; walks return rows in seq order with pointers borrowed
 * for the callback only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/store-internal.h"

/* A record's criteria column: the ids joined by single spaces (SOC 2 ids have none), or
 * NULL for none; its length in *ret_len. In s->crit_text, valid until the next call. One
 * pass over each id (issue 12: strchr, strlen and a copy each were three). */
static int crit_text(struct store *s, const char *const *criteria, size_t n, const char **ret,
                     size_t *ret_len)
{
        size_t len = 0;

        *ret = NULL;
        *ret_len = 0;
        for (size_t i = 0; i < n; i++) {
                const char *c = criteria[i];
                size_t k = c ? strlen(c) : 0;
                if (k == 0 || memchr(c, ' ', k)) {
                        snprintf(s->errmsg, sizeof(s->errmsg), "criterion id empty or with "
                                 "a space");
                        return -EINVAL;
                }
                if (len + k + 1 > s->crit_text_alloc) {
                        size_t na = (len + k + 1) * 2 < 64 ? 64 : (len + k + 1) * 2;
                        char *p = realloc(s->crit_text, na);
                        if (!p)
                                return -ENOMEM;
                        s->crit_text = p;
                        s->crit_text_alloc = na;
                }
                memcpy(s->crit_text + len, c, k);
                s->crit_text[len + k] = i + 1 < n ? ' ' : '\0';
                len += k + 1;
        }
        if (n == 0)
                return 0;
        *ret = s->crit_text;
        *ret_len = len - 1;
        return 0;
}

static int record_insert(struct store *s, const struct store_record *r)
{
        const char *crit = NULL;
        size_t crit_len = 0;
        sqlite3_stmt *st;
        int ret = 0;

        ret = crit_text(s, r->criteria, r->n_criteria, &crit, &crit_len);
        if (ret < 0)
                return ret;
        st = store_st(s, ST_REC_INSERT, &ret);
        if (!st)
                return ret;
        sqlite3_bind_int64(st, 1, r->seq);
        if (!s->rec_epoch_bound || s->rec_epoch != r->epoch) {  /* bindings persist */
                sqlite3_bind_int64(st, 2, r->epoch);
                s->rec_epoch = r->epoch;
                s->rec_epoch_bound = true;
        }
        sqlite3_bind_int64(st, 3, r->received_us);
        sqlite3_bind_int64(st, 4, r->time_us);
        store_bind_text(st, 5, r->host);
        sqlite3_bind_blob(st, 6, r->leaf, HASH_LEN, SQLITE_STATIC);
        if (crit)  /* its length is known: SQLite need not measure it */
                sqlite3_bind_text(st, 7, crit, (int)crit_len, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, 7);
        /* A zero-length blob must still be non-NULL: the column is NOT NULL. */
        sqlite3_bind_blob64(st, 8, r->data ? r->data : "", r->len, SQLITE_STATIC);
        /* Reset only, not store_st_exec's clear_bindings: the parameters are bound again
         * before every step (the epoch when it changed: its binding persists), so clearing
         * them is work for nothing on the hottest statement (~200 instructions per record,
         * issue 12). The pointers left bound are never read: SQLite reads bindings only
         * when the statement is stepped. */
        int rc = sqlite3_step(st);
        ret = rc == SQLITE_DONE ? 0 : store_rc(s, rc);
        sqlite3_reset(st);
        if (ret < 0)
                return ret;
        return store_index_note(s, r->seq, r->time_us, r->criteria, r->n_criteria);
}

int store_record_insert(struct store *s, const struct store_record *r)
{
        /* Outside a transaction, one of its own: the record and its index rows together. */
        bool own = sqlite3_get_autocommit(s->db);
        int ret = own ? store_begin(s) : 0;

        if (ret < 0)
                return ret;
        ret = record_insert(s, r);
        if (own && ret >= 0)
                ret = store_commit(s);
        if (own && ret < 0)
                (void)store_rollback(s);
        return ret;
}

void store_row_record(sqlite3_stmt *st, struct store_record *r)
{
        *r = (struct store_record){
                .seq = sqlite3_column_int64(st, 0),
                .epoch = sqlite3_column_int64(st, 1),
                .received_us = sqlite3_column_int64(st, 2),
                .time_us = sqlite3_column_int64(st, 3),
                .host = (const char *)sqlite3_column_text(st, 4),
        };
        store_col_fixed(st, 5, r->leaf, HASH_LEN);
        r->data = sqlite3_column_blob(st, 6);
        r->len = (size_t)sqlite3_column_bytes(st, 6);
        if (!r->data)
                r->data = "";
}

int store_epoch_range(struct store *s, int64_t epoch, int64_t *ret_lo, int64_t *ret_hi,
                      bool *ret_has_row)
{
        sqlite3_stmt *st;
        int r = 0, rc;

        st = store_st(s, ST_EPOCH_RANGE, &r);
        if (!st)
                return r;
        sqlite3_bind_int64(st, 1, epoch);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                bool has_row = sqlite3_column_type(st, 0) != SQLITE_NULL;
                *ret_has_row = has_row;
                *ret_lo = has_row && sqlite3_column_int(st, 2) ? sqlite3_column_int64(st, 0)
                                                                : INT64_MIN;
                *ret_hi = has_row && sqlite3_column_type(st, 1) != SQLITE_NULL
                                  ? sqlite3_column_int64(st, 1) : INT64_MAX;
        } else {
                r = store_rc(s, rc);
        }
        store_st_done(st);
        return r;
}

int store_rec_walk_row(void *ud, sqlite3_stmt *st)
{
        struct store_rec_walk *w = ud;
        struct store_record rec;

        store_row_record(st, &rec);
        return w->cb(w->ud, &rec);
}

/* By seq range, not by an index on the epoch column: the records of the range are passed
 * whatever their column says (only a damaged or edited file has one that differs), so a
 * verifier walking every epoch sees every record and can compare the column. */
int store_records_foreach(struct store *s, int64_t epoch,
                          int (*cb)(void *ud, const struct store_record *r), void *ud)
{
        struct store_rec_walk w = { cb, ud };
        int64_t lo, hi;
        bool has_row;
        sqlite3_stmt *st;
        int r = store_epoch_range(s, epoch, &lo, &hi, &has_row);

        if (r < 0 || !(st = store_st(s, ST_REC_RANGE, &r)))
                return r;
        sqlite3_bind_int64(st, 1, lo);
        sqlite3_bind_int64(st, 2, hi);
        if (!has_row)
                sqlite3_bind_int64(st, 3, epoch);
        return store_st_rows(s, st, store_rec_walk_row, &w);
}

struct tags_walk {
        int (*cb)(void *ud, int64_t seq, const uint8_t *leaf, const char *tags);
        void *ud;
};

static int tags_row(void *ud, sqlite3_stmt *st)
{
        struct tags_walk *w = ud;
        uint8_t leaf[HASH_LEN];

        store_col_fixed(st, 1, leaf, HASH_LEN);
        return w->cb(w->ud, sqlite3_column_int64(st, 0), leaf,
                     (const char *)sqlite3_column_text(st, 2));
}

int store_epoch_tags(struct store *s, int64_t epoch,
                     int (*cb)(void *ud, int64_t seq, const uint8_t *leaf, const char *tags),
                     void *ud)
{
        struct tags_walk w = { cb, ud };
        int64_t lo, hi;
        bool has_row;
        sqlite3_stmt *st;
        int r = store_epoch_range(s, epoch, &lo, &hi, &has_row);

        if (r < 0 || !(st = store_st(s, ST_TAGS_RANGE, &r)))
                return r;
        sqlite3_bind_int64(st, 1, lo);
        sqlite3_bind_int64(st, 2, hi);
        sqlite3_bind_int64(st, 3, epoch);
        return store_st_rows(s, st, tags_row, &w);
}

/* The criteria column split in place into ids (at most STORE_CRIT_MAX are passed). */
#define STORE_CRIT_MAX 64
struct leaves_walk {
        int (*cb)(void *ud, int64_t seq, const uint8_t leaf[HASH_LEN],
                  const char *const *criteria, size_t n_criteria);
        void *ud;
        char buf[1024];
};

static int leaves_tags_cb(void *ud, int64_t seq, const uint8_t *leaf, const char *tags)
{
        struct leaves_walk *w = ud;
        const char *ids[STORE_CRIT_MAX];
        size_t n = 0;

        if (tags && tags[0]) {
                size_t len = strlen(tags);
                if (len >= sizeof(w->buf))
                        return -E2BIG;
                memcpy(w->buf, tags, len + 1);
                for (char *p = w->buf, *save = NULL, *t; (t = strtok_r(p, " ", &save)); p = NULL) {
                        if (n == STORE_CRIT_MAX)
                                return -E2BIG;
                        ids[n++] = t;
                }
        }
        return w->cb(w->ud, seq, leaf, ids, n);
}

int store_records_leaves(struct store *s, int64_t epoch,
                         int (*cb)(void *ud, int64_t seq, const uint8_t leaf[HASH_LEN],
                                   const char *const *criteria, size_t n_criteria),
                         void *ud)
{
        struct leaves_walk w = { .cb = cb, .ud = ud };

        return store_epoch_tags(s, epoch, leaves_tags_cb, &w);
}

int store_records_max_seq(struct store *s, int64_t *ret)
{
        sqlite3_stmt *st;
        int64_t v = -1;
        int r = 0, rc;

        st = store_st(s, ST_MAX_SEQ, &r);
        if (!st)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                if (sqlite3_column_type(st, 0) != SQLITE_NULL)
                        v = sqlite3_column_int64(st, 0);
        } else {
                r = store_rc(s, rc);
        }
        store_st_done(st);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

