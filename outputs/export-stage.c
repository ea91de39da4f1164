/* Reading an epoch's records for an export that runs while the epoch is still open
 * (issue 12: "export while the epoch is open", cli/exporter.c stages them).
 *
 * Load: every half second or so, the records committed since the last read (a few tens of
 * thousands at most), then once at the seal the tail since the last read. Guarantees: the
 * records handed out are exactly the part of store_records_foreach's walk past `after`
 * (the same seq range, the same filter, the same order), so that what was staged plus the
 * tail is byte for byte what an export of the sealed epoch reads at once; a read inside
 * export_stage_begin/export_stage_end sees one snapshot, so a seal committing meanwhile
 * cannot mix epochs. The store's files stay the store's: this file prepares its own
 * statements over the store's connection (store-internal.h) and writes nothing. */
#include <errno.h>
#include <stdint.h>

#include "outputs/store-internal.h"

/* The walk of ST_REC_RANGE (store.c), starting after a seq: the same filter on the epoch
 * column (only for an epoch without a row), the same order. Only the columns an export
 * writes or checks (issue 12, round 7: the other four cost ~700 instructions per record in
 * the row adapter and SQLite's column decoding, a sixth of an export's user CPU). */
#define STAGE_RANGE_SQL "SELECT r.seq, r.epoch, r.data " \
                        "FROM records r WHERE r.seq >= ?1 AND r.seq < ?2 " \
                        "AND (?3 IS NULL OR r.epoch = ?3) ORDER BY r.seq"

/* A STAGE_RANGE_SQL row as a borrowed record: seq, epoch and the bytes; the rest zero. */
static int stage_row(void *ud, sqlite3_stmt *st)
{
        const struct store_rec_walk *w = ud;
        struct store_record rec = {
                .seq = sqlite3_column_int64(st, 0),
                .epoch = sqlite3_column_int64(st, 1),
                .data = sqlite3_column_blob(st, 2),
        };

        rec.len = (size_t)sqlite3_column_bytes(st, 2);
        if (!rec.data)
                rec.data = "";
        return w->cb(w->ud, &rec);
}

static int stage_exec(struct store *s, const char *sql)
{
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

        if (rc == SQLITE_OK) {
                rc = sqlite3_step(st);
                if (rc == SQLITE_DONE)
                        rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        return rc == SQLITE_OK ? 0 : store_rc(s, rc);
}

int export_stage_begin(struct store *s, struct store_epoch *ret_last)
{
        /* Deferred: a read transaction; its snapshot starts at the first read below. */
        int r = stage_exec(s, "BEGIN DEFERRED");

        if (r < 0)
                return r;
        r = store_epoch_last(s, ret_last);
        if (r < 0)
                (void)stage_exec(s, "COMMIT");
        return r;
}

int export_stage_end(struct store *s)
{
        return stage_exec(s, "COMMIT");
}

int export_stage_records(struct store *s, int64_t epoch, int64_t after, int64_t *ret_lo,
                         int (*cb)(void *ud, const struct store_record *r), void *ud)
{
        struct store_rec_walk w = { cb, ud };
        sqlite3_stmt *st = NULL;
        int64_t lo, hi;
        bool has_row;
        int r = store_epoch_range(s, epoch, &lo, &hi, &has_row), rc;

        if (r < 0)
                return r;
        if (ret_lo)
                *ret_lo = lo;
        rc = sqlite3_prepare_v2(s->db, STAGE_RANGE_SQL, -1, &st, NULL);
        if (rc != SQLITE_OK) {
                sqlite3_finalize(st);
                return store_rc(s, rc);
        }
        sqlite3_bind_int64(st, 1, after >= lo && after < INT64_MAX ? after + 1 : lo);
        sqlite3_bind_int64(st, 2, hi);
        if (!has_row)
                sqlite3_bind_int64(st, 3, epoch);
        r = store_st_rows(s, st, stage_row, &w);
        sqlite3_finalize(st);
        return r;
}

int export_stage_check(struct store *s, int64_t epoch, int64_t lo, int64_t last)
{
        int64_t now_lo, hi;
        bool has_row;
        int r = store_epoch_range(s, epoch, &now_lo, &hi, &has_row);

        if (r < 0)
                return r;
        /* What was staged must be the start of the range the export walks now. */
        return has_row && now_lo == lo && (last < lo || last < hi) ? 0 : -ESTALE;
}

int export_stage_lo(struct store *s, int64_t epoch, int64_t *ret_lo)
{
        int64_t hi;
        bool has_row;

        return store_epoch_range(s, epoch, ret_lo, &hi, &has_row);
}
