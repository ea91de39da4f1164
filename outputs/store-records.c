/* Records of the store (schema 2, issue 12): the insert, the walks of one epoch by seq
 * range (records, and leaf hashes with criteria for the restart), the highest seq.
 *
 * Load: one insert per stored record on the writer's thread (the hot path: the record
 * copied into the pending rows with its criteria joined into one column, the batch index
 * noted in memory, and one prepared INSERT per STORE_REC_ROWS records); the walks once per
 * export, verify or restart. Guarantees: every value is bound; the criteria column holds
 * the ids in the order given; a pending record is written before any other statement runs
 * on the connection, so reads and commits see it; walks return rows in seq order with
 * pointers borrowed for the callback only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/store-internal.h"

/* The pending rows' bytes are kept allocated up to this size between flushes: 16 records
 * of the benchmark mix take ~13 KB, while 16 records near the 1 MiB message ceiling would
 * otherwise hold 16 MiB of the daemon's 64 MiB budget for good. */
#define STORE_REC_PEND_KEEP ((size_t)256 << 10)

/* Room for need more bytes after the pending rows' bytes. */
static int pend_reserve(struct store_rec_pend *p, size_t need)
{
        size_t na = p->alloc ? p->alloc : 16384;

        if (p->bytes && p->len + need <= p->alloc)
                return 0;
        while (na < p->len + need)
                na *= 2;
        char *b = realloc(p->bytes, na);
        if (!b)
                return -ENOMEM;
        p->bytes = b;
        p->alloc = na;
        return 0;
}

/* No bytes pending; a buffer grown past STORE_REC_PEND_KEEP (large records) is freed. */
static void pend_empty(struct store_rec_pend *p)
{
        p->len = 0;
        if (p->alloc > STORE_REC_PEND_KEEP) {
                free(p->bytes);
                p->bytes = NULL;
                p->alloc = 0;
        }
}

/* A record's criteria column, appended to the pending bytes: the ids joined by single
 * spaces (SOC 2 ids have none), or NULL (crit_off SIZE_MAX) for none. One pass over each id
 * (issue 12: strchr, strlen and a copy each were three). */
static int pend_crit(struct store *s, struct store_rec_pend *p, struct store_rec_row *w,
                     const char *const *criteria, size_t n)
{
        w->crit_off = n ? p->len : SIZE_MAX;
        w->crit_len = 0;
        for (size_t i = 0; i < n; i++) {
                const char *c = criteria[i];
                size_t k = c ? strlen(c) : 0;
                if (k == 0 || memchr(c, ' ', k)) {
                        snprintf(s->errmsg, sizeof(s->errmsg), "criterion id empty or with "
                                 "a space");
                        return -EINVAL;
                }
                if (pend_reserve(p, k + 1) < 0)
                        return -ENOMEM;
                memcpy(p->bytes + p->len, c, k);
                p->bytes[p->len + k] = ' ';
                p->len += k + 1;
                w->crit_len += k + 1;
        }
        if (n)
                w->crit_len--;  /* no space after the last id */
        return 0;
}

/* Takes a copy of r as the next pending row; writes the pending rows when that makes
 * STORE_REC_ROWS of them. */
static int record_insert(struct store *s, const struct store_record *r)
{
        struct store_rec_pend *p = &s->pend;
        struct store_rec_row *w = &p->row[p->n];
        size_t start = p->len, host_len = r->host ? strlen(r->host) : 0;
        int ret = pend_reserve(p, r->len + host_len);

        if (ret < 0)
                return ret;
        *w = (struct store_rec_row){
                .seq = r->seq, .epoch = r->epoch, .received_us = r->received_us,
                .time_us = r->time_us, .data_off = p->len, .data_len = r->len,
                .host_off = r->host ? p->len + r->len : SIZE_MAX, .host_len = host_len,
        };
        if (r->len)
                memcpy(p->bytes + p->len, r->data, r->len);
        if (host_len)
                memcpy(p->bytes + p->len + r->len, r->host, host_len);
        p->len += r->len + host_len;
        memcpy(w->leaf, r->leaf, HASH_LEN);
        ret = pend_crit(s, p, w, r->criteria, r->n_criteria);
        if (ret >= 0)
                ret = store_index_note(s, r->seq, r->time_us, r->criteria, r->n_criteria);
        if (ret < 0) {
                p->len = start;  /* not pending */
                return ret;
        }
        return ++p->n == STORE_REC_ROWS ? store_records_flush(s) : 0;
}

/* Binds pending row w's values as the parameters after k: with its seq (8 of them), or
 * without (7: an appended row, whose seq SQLite gives). Every parameter is bound each time,
 * so the statement is reset only, never cleared (issue 12: clearing was ~200 instructions
 * per record); the pointers stay valid until the step (the pending bytes do not move while
 * rows are written). Returns the last parameter bound. */
static int bind_row(sqlite3_stmt *st, int k, const struct store_rec_pend *p,
                    const struct store_rec_row *w, bool with_seq)
{
        if (with_seq)
                sqlite3_bind_int64(st, ++k, w->seq);
        sqlite3_bind_int64(st, ++k, w->epoch);
        sqlite3_bind_int64(st, ++k, w->received_us);
        sqlite3_bind_int64(st, ++k, w->time_us);
        if (w->host_off == SIZE_MAX)
                sqlite3_bind_null(st, ++k);
        else
                sqlite3_bind_text(st, ++k, p->bytes + w->host_off, (int)w->host_len,
                                  SQLITE_STATIC);
        sqlite3_bind_blob(st, ++k, w->leaf, HASH_LEN, SQLITE_STATIC);
        if (w->crit_off == SIZE_MAX)
                sqlite3_bind_null(st, ++k);
        else
                sqlite3_bind_text(st, ++k, p->bytes + w->crit_off, (int)w->crit_len,
                                  SQLITE_STATIC);
        /* A zero-length blob must still be non-NULL: the column is NOT NULL. */
        sqlite3_bind_blob64(st, ++k, w->data_len ? p->bytes + w->data_off : "", w->data_len,
                            SQLITE_STATIC);
        return k;
}

/* Steps an insert; an appended one must have given the row the seq it was meant to have
 * (seq: the last row's), else the rows are somewhere else and the transaction fails. */
static int rec_step(struct store *s, sqlite3_stmt *st, bool append, int64_t seq)
{
        int rc = sqlite3_step(st);
        int ret = rc == SQLITE_DONE ? 0 : store_rc(s, rc);

        sqlite3_reset(st);
        if (ret >= 0 && append && sqlite3_last_insert_rowid(s->db) != seq) {
                snprintf(s->errmsg, sizeof(s->errmsg), "record appended as seq %lld, not %lld",
                         (long long)sqlite3_last_insert_rowid(s->db), (long long)seq);
                ret = -EIO;
        }
        return ret;
}

/* The records table's highest seq (INT64_MIN: none) into p->max_seq, read once per
 * transaction: then only this connection writes the table, and every row it writes keeps
 * the value (store_records_flush). */
static int pend_max(struct store *s, struct store_rec_pend *p)
{
        sqlite3_stmt *st;
        int r = 0, rc;

        if (p->max_known)
                return 0;
        st = store_st(s, ST_MAX_SEQ, &r);
        if (!st)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                p->max_seq = sqlite3_column_type(st, 0) == SQLITE_NULL
                                     ? INT64_MIN : sqlite3_column_int64(st, 0);
                p->max_known = true;
        } else {
                r = store_rc(s, rc);
        }
        store_st_done(st);
        return r;
}

/* Whether the first n pending rows follow the table's highest seq one by one, so that
 * SQLite, giving each the highest seq + 1, gives each its own. An empty table gets 1,
 * not max + 1: its first rows go with their seqs. */
static bool pend_follows(const struct store_rec_pend *p, size_t n)
{
        int64_t m = p->max_seq;

        if (m == INT64_MIN || m >= INT64_MAX - (int64_t)n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (p->row[i].seq != m + 1 + (int64_t)i)
                        return false;
        return true;
}

/* issue 12: one INSERT of STORE_REC_ROWS rows costs SQLite far less than as many INSERTs
 * of one row: each statement's start and halt (cursor opened, closed, the VM reset) and the
 * seek from the B-tree's root for its seq were ~1,900 of the ~7,200 instructions
 * sqlite3_step spent per record (callgrind, the daemon's TCP full path, round 10). Rows
 * whose seqs follow the table's highest (the writer's always do) go without their seq
 * (ST_REC_APPEND*): SQLite gives each the highest + 1 from the cursor left at the last row,
 * where an explicit seq is sought from the root for its uniqueness check (round 11). */
int store_records_flush(struct store *s)
{
        struct store_rec_pend *p = &s->pend;
        size_t n = p->n;
        int ret = 0;
        sqlite3_stmt *st = NULL;

        if (n == 0)
                return 0;
        p->n = 0;  /* written or failed: not pending any more */
        ret = pend_max(s, p);
        bool append = ret >= 0 && pend_follows(p, n), full = n == STORE_REC_ROWS;
        if (ret >= 0)
                st = store_st(s, full ? (append ? ST_REC_APPEND_N : ST_REC_INSERT_N)
                                      : (append ? ST_REC_APPEND : ST_REC_INSERT), &ret);
        if (st && full) {
                int k = 0;
                for (size_t i = 0; i < n; i++)
                        k = bind_row(st, k, p, &p->row[i], !append);
                ret = rec_step(s, st, append, p->row[n - 1].seq);
        } else if (st) {
                for (size_t i = 0; ret >= 0 && i < n; i++) {
                        bind_row(st, 0, p, &p->row[i], !append);
                        ret = rec_step(s, st, append, p->row[i].seq);
                }
        }
        for (size_t i = 0; ret >= 0 && i < n; i++)
                if (p->row[i].seq > p->max_seq)
                        p->max_seq = p->row[i].seq;
        if (ret < 0)
                p->max_known = false;
        else if (append)
                p->appended += n;
        pend_empty(p);
        return ret;
}

void store_records_discard(struct store *s)
{
        s->pend.n = 0;
        s->pend.max_known = false;
        pend_empty(&s->pend);
}

void store_records_free(struct store *s)
{
        free(s->pend.bytes);
        s->pend = (struct store_rec_pend){ 0 };
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

