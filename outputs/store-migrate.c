/* Schema version 1: migrated to 2 in place by a read-write open (issue 12), read in place
 * by a read-only open (round 11).
 *
 * Load: once per database, on the first read-write open by a gatelog that writes version 2
 * (the daemon at start, before any thread uses the store). It rewrites every record that
 * has criteria (one UPDATE each) and reads every record once to build the batch index, so
 * it takes about as long as copying the file; the WAL grows by about the size of the
 * records meanwhile. Guarantees: one transaction — a crash or an error leaves the version 1
 * file as it was, and the next open tries again; no record's bytes, leaf, seq, epoch, time
 * or host change, so the chain verifies as before; query, epochs and the restart give the
 * same answers (tests/outputs/test-store-migrate.c builds a version 1 file and checks).
 *
 * Steps: add records.criteria and fill it from record_criteria (ids of one record in id
 * order, as version 1 returned them); create batches and criteria_index and index the
 * records in chunks of STORE_MIGRATE_BATCH seqs; drop records_epoch, records_time and
 * record_criteria (with record_criteria_seq); set meta schema to 2.
 *
 * Read in place: the query side (`query`, `epochs`, `report`, `proof`, `head`, `verify
 * --db`) opens the file read-only and must never write it, so it cannot migrate; an
 * auditor handed an old file, or a host whose package was upgraded before its daemon was
 * restarted, still gets answers. Version 2 added only what version 1 holds in another
 * form: the criteria column (record_criteria's rows of the record, in id order, as the
 * migration fills it) and the batch index (which only narrows where to look: every
 * candidate is checked against its row). The meta, records, epochs, outbox, positions and
 * timestamps tables did not change, so the statements that read only them serve both
 * versions; the four that read what version 2 added get version 1's equivalent below, with
 * the same columns in the same order, and the callers cannot tell the difference:
 * every answer equals the one the migrated file gives (tests/outputs/test-store-migrate.c
 * and tests/integration/test_schema_compat.py compare them). A file of a newer version is
 * refused: this gatelog cannot know what a newer writer keeps where. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/store-internal.h"

/* Constant SQL, each prepared and stepped once (no values are ever pasted in). */
static const char sql_add_column[] = "ALTER TABLE records ADD COLUMN criteria TEXT";
static const char sql_tags[] = "SELECT seq, group_concat(criterion, ' ') FROM "
                               "(SELECT seq, criterion FROM record_criteria "
                               "ORDER BY seq, criterion) GROUP BY seq";
static const char sql_set_tags[] = "UPDATE records SET criteria = ?2 WHERE seq = ?1";
static const char sql_walk[] = "SELECT seq, time, criteria FROM records ORDER BY seq";
static const char sql_drop[] = "DROP INDEX records_epoch; DROP INDEX records_time;"
                               "DROP TABLE record_criteria;";

struct migrate {
        struct store *s;
        sqlite3_stmt *set;
        int64_t n_records, n_tagged, n_batches, in_batch;
        char buf[1024];
};

static int prepare(struct store *s, const char *sql, sqlite3_stmt **ret)
{
        int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);

        return rc == SQLITE_OK ? 0 : store_rc(s, rc);
}

/* Runs constant SQL without rows: prepared statement by statement, as sqlite3_exec does. */
static int exec_const(struct store *s, const char *sql)
{
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

        return rc == SQLITE_OK ? 0 : store_rc(s, rc);
}

static int tags_row(void *ud, sqlite3_stmt *st)
{
        struct migrate *m = ud;

        sqlite3_bind_int64(m->set, 1, sqlite3_column_int64(st, 0));
        sqlite3_bind_text(m->set, 2, (const char *)sqlite3_column_text(st, 1), -1,
                          SQLITE_STATIC);
        m->n_tagged++;
        return store_st_exec(m->s, m->set);
}

/* Feeds one record to the batch index, closing a batch every STORE_MIGRATE_BATCH records. */
static int walk_row(void *ud, sqlite3_stmt *st)
{
        struct migrate *m = ud;
        const char *tags = (const char *)sqlite3_column_text(st, 2);
        const char *ids[64];
        size_t n = 0;
        int r;

        if (tags && tags[0]) {
                size_t len = strlen(tags);
                if (len >= sizeof(m->buf))
                        return -E2BIG;
                memcpy(m->buf, tags, len + 1);
                for (char *p = m->buf, *save = NULL, *t; (t = strtok_r(p, " ", &save)); p = NULL) {
                        if (n == sizeof(ids) / sizeof(ids[0]))
                                return -E2BIG;
                        ids[n++] = t;
                }
        }
        r = store_index_note(m->s, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                             ids, n);
        m->n_records++;
        if (r >= 0 && ++m->in_batch == STORE_MIGRATE_BATCH) {
                m->in_batch = 0;
                m->n_batches++;
                r = store_index_flush(m->s);
        }
        return r;
}

/* Still version 1 inside the transaction (another process may have migrated meanwhile)? */
static int still_v1(struct store *s, bool *ret)
{
        char *v = NULL;
        int r = store_meta_get(s, "schema", &v);

        if (r < 0)
                return r;
        *ret = strcmp(v, "1") == 0;
        free(v);
        return 0;
}

int store_migrate_v1(struct store *s)
{
        struct migrate m = { .s = s };
        sqlite3_stmt *st = NULL;
        bool v1 = false;
        int r = store_begin(s);

        if (r < 0)
                return r;
        r = still_v1(s, &v1);
        if (r < 0 || !v1)
                goto out;
        r = exec_const(s, sql_add_column);
        if (r >= 0)
                r = prepare(s, sql_set_tags, &m.set);
        if (r >= 0)
                r = prepare(s, sql_tags, &st);
        if (r >= 0)
                r = store_st_rows(s, st, tags_row, &m);
        sqlite3_finalize(st);
        st = NULL;
        if (r >= 0)
                r = exec_const(s, STORE_INDEX_SCHEMA_SQL);
        if (r >= 0)
                r = prepare(s, sql_walk, &st);
        if (r >= 0)
                r = store_st_rows(s, st, walk_row, &m);
        sqlite3_finalize(st);
        if (r >= 0 && m.in_batch) {
                m.n_batches++;
                r = store_index_flush(s);
        }
        if (r >= 0)
                r = exec_const(s, sql_drop);
        if (r >= 0)
                r = store_meta_set(s, "schema", "2");
out:
        sqlite3_finalize(m.set);
        if (r >= 0)
                r = store_commit(s);
        if (r < 0) {
                store_rollback(s);
                return r;
        }
        if (v1)
                snprintf(s->note, sizeof(s->note), "migrated the database from schema 1 to 2: "
                         "%lld records (%lld with criteria) in %lld index batches",
                         (long long)m.n_records, (long long)m.n_tagged,
                         (long long)m.n_batches);
        return 0;
}

/* ---- schema 1 read in place ---- */

/* A record's criteria column as the migration fills it: its ids in id order, space-separated;
 * NULL when it has none. record_criteria_seq serves the lookup by seq. */
#define V1_CRITERIA "(SELECT group_concat(criterion, ' ') FROM (SELECT criterion " \
                    "FROM record_criteria c WHERE c.seq = r.seq ORDER BY criterion))"

/* Version 2's batch index yields (first seq, varint deltas) rows that the query then checks
 * record by record; version 1's indexes give the records themselves, so each row here is a
 * "batch" of one record (first_seq = last_seq = seq; the blob x'00': the one delta 0), in
 * seq order as the query walk needs. The time and criterion bounds are the same as the
 * version 1 query shapes used (the time index for a time range, the criterion's key for a
 * criterion). Parameters as in store.c's statements of the same id. */
static const char *const v1_sql[ST__MAX] = {
        [ST_REC_GET] = "SELECT " REC_COLS ", " V1_CRITERIA " FROM records r WHERE r.seq = ?1",
        [ST_TAGS_RANGE] = "SELECT r.seq, r.leaf, " V1_CRITERIA " FROM records r "
                          "WHERE r.seq >= ?1 AND r.seq < ?2 AND r.epoch = ?3 ORDER BY r.seq",
        [ST_Q_BATCHES] = "SELECT seq, seq FROM records WHERE time >= ?1 AND time < ?2 "
                         "ORDER BY seq",
        [ST_Q_CIDX] = "SELECT c.seq, x'00' FROM record_criteria c JOIN records r "
                      "ON r.seq = c.seq WHERE c.criterion = ?1 AND +r.time >= ?2 "
                      "AND +r.time < ?3 ORDER BY c.seq",
};

const char *store_v1_sql(enum st id)
{
        return (unsigned)id < ST__MAX ? v1_sql[id] : NULL;
}

int store_schema_refuse(struct store *s, const char *v)
{
        char *end = NULL;
        long n;

        errno = 0;
        n = strtol(v, &end, 10);
        if (v[0] && !*end && !errno && n > strtol(STORE_SCHEMA_VERSION, NULL, 10))
                /* Written by a later gatelog: what it keeps where is unknown here, so even
                 * reading could give wrong answers. */
                snprintf(s->errmsg, sizeof(s->errmsg), "database schema version %.20s is "
                         "newer than this gatelog reads (1 to " STORE_SCHEMA_VERSION "): use "
                         "a gatelog as new as the one that wrote it", v);
        else
                snprintf(s->errmsg, sizeof(s->errmsg), "database schema version '%.20s' is "
                         "not one gatelog has written (this one reads 1 to "
                         STORE_SCHEMA_VERSION ")", v);
        return -EPROTO;
}
