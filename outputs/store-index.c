/* The store's per-batch index (schema 2, issue 12) and the queries that read it.
 *
 * Load: the storing thread notes every record it inserts (a few comparisons and one int64
 * append per criterion tag, no SQL); at commit, one `batches` row and one `criteria_index`
 * row per criterion seen in the batch are written — about 10 rows per batch of a thousand
 * records instead of SQLite maintaining four indexes row by row (measured in
 * docs/PERFORMANCE.md). Readers: `gatelog query`, `report`. Guarantees: index rows are
 * written in the transaction of the records they describe, so they are exactly as durable
 * and a rollback drops both; store_query returns what the version 1 schema's three query
 * shapes returned (same records, seq order), given seqs that grow from batch to batch as
 * the writer assigns them. The records' own columns stay the truth: every candidate the
 * index yields is checked against its row (criteria, time, host, sealed epoch). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/store-internal.h"

/* A batch's seqs of one criterion. */
struct idx_crit {
        char *id;
        int64_t *seqs;
        size_t n, alloc;
        bool sorted;
};

struct store_index {
        bool any;
        int64_t first_seq, last_seq, min_time, max_time;
        struct idx_crit *crit;
        size_t n_crit, alloc_crit;
        uint8_t *blob;             /* scratch for one encoded seq list */
        size_t blob_alloc;
};

void store_index_free(struct store_index *idx)
{
        if (!idx)
                return;
        for (size_t i = 0; i < idx->alloc_crit; i++) {
                free(idx->crit[i].id);
                free(idx->crit[i].seqs);
        }
        free(idx->crit);
        free(idx->blob);
        free(idx);
}

/* Empties the batch; criterion slots and their arrays are kept for the next one. */
void store_index_discard(struct store *s)
{
        struct store_index *idx = s->idx;

        if (!idx)
                return;
        idx->any = false;
        for (size_t i = 0; i < idx->n_crit; i++) {
                idx->crit[i].n = 0;
                idx->crit[i].sorted = true;
        }
}

/* The slot of id in the batch (a linear scan: a batch sees a few of the 61 TSC ids). */
static struct idx_crit *idx_slot(struct store_index *idx, const char *id)
{
        for (size_t i = 0; i < idx->n_crit; i++)
                if (strcmp(idx->crit[i].id, id) == 0)
                        return &idx->crit[i];
        return NULL;
}

static struct idx_crit *idx_slot_add(struct store_index *idx, const char *id)
{
        struct idx_crit *c = idx_slot(idx, id);
        size_t i;

        if (c)
                return c;
        /* Slots kept from earlier batches with n == 0 are reused by any id. */
        for (i = 0; i < idx->n_crit; i++)
                if (idx->crit[i].n == 0)
                        break;
        if (i == idx->n_crit) {
                if (idx->n_crit == idx->alloc_crit) {
                        size_t na = idx->alloc_crit ? idx->alloc_crit * 2 : 16;
                        struct idx_crit *p = realloc(idx->crit, na * sizeof(*p));
                        if (!p)
                                return NULL;
                        memset(p + idx->alloc_crit, 0, (na - idx->alloc_crit) * sizeof(*p));
                        idx->crit = p;
                        idx->alloc_crit = na;
                }
                idx->n_crit++;
        }
        c = &idx->crit[i];
        if (!c->id || strcmp(c->id, id) != 0) {
                char *d = strdup(id);
                if (!d)
                        return NULL;
                free(c->id);
                c->id = d;
        }
        c->sorted = true;
        return c;
}

int store_index_note(struct store *s, int64_t seq, int64_t time_us,
                     const char *const *criteria, size_t n_criteria)
{
        struct store_index *idx = s->idx;

        if (!idx) {
                idx = s->idx = calloc(1, sizeof(*idx));
                if (!idx)
                        return -ENOMEM;
        }
        if (!idx->any) {
                idx->any = true;
                idx->first_seq = idx->last_seq = seq;
                idx->min_time = idx->max_time = time_us;
        } else {
                idx->first_seq = seq < idx->first_seq ? seq : idx->first_seq;
                idx->last_seq = seq > idx->last_seq ? seq : idx->last_seq;
                idx->min_time = time_us < idx->min_time ? time_us : idx->min_time;
                idx->max_time = time_us > idx->max_time ? time_us : idx->max_time;
        }
        for (size_t i = 0; i < n_criteria; i++) {
                struct idx_crit *c = idx_slot_add(idx, criteria[i]);
                if (!c)
                        return -ENOMEM;
                if (c->n == c->alloc) {
                        size_t na = c->alloc ? c->alloc * 2 : 64;
                        int64_t *p = realloc(c->seqs, na * sizeof(*p));
                        if (!p)
                                return -ENOMEM;
                        c->seqs = p;
                        c->alloc = na;
                }
                if (c->n && seq <= c->seqs[c->n - 1])
                        c->sorted = false;
                c->seqs[c->n++] = seq;
        }
        return 0;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

/* Unsigned LEB128; 10 bytes hold any uint64. */
static size_t varint_put(uint8_t *p, uint64_t v)
{
        size_t n = 0;

        while (v >= 0x80) {
                p[n++] = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        p[n++] = (uint8_t)v;
        return n;
}

/* Reads one varint at *pos; false at the end or on a malformed one (a damaged row ends). */
static bool varint_get(const uint8_t *p, size_t len, size_t *pos, uint64_t *ret)
{
        uint64_t v = 0;

        for (unsigned shift = 0; *pos < len && shift < 64; shift += 7) {
                uint8_t b = p[(*pos)++];
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *ret = v;
                        return true;
                }
        }
        return false;
}

/* The seq list as varints: the first seq minus the batch's first, then each gap. */
static int idx_encode(struct store_index *idx, struct idx_crit *c, size_t *ret_len)
{
        size_t need = c->n * 10, len = 0;
        int64_t prev = idx->first_seq;

        if (need > idx->blob_alloc) {
                uint8_t *p = realloc(idx->blob, need);
                if (!p)
                        return -ENOMEM;
                idx->blob = p;
                idx->blob_alloc = need;
        }
        if (!c->sorted)
                qsort(c->seqs, c->n, sizeof(c->seqs[0]), cmp_i64);
        for (size_t i = 0; i < c->n; i++) {
                len += varint_put(idx->blob + len, (uint64_t)(c->seqs[i] - prev));
                prev = c->seqs[i];
        }
        *ret_len = len;
        return 0;
}

int store_index_flush(struct store *s)
{
        struct store_index *idx = s->idx;
        sqlite3_stmt *st;
        int r = 0;

        if (!idx || !idx->any)
                return 0;
        st = store_st(s, ST_BATCH_PUT, &r);
        if (!st)
                goto out;
        sqlite3_bind_int64(st, 1, idx->first_seq);
        sqlite3_bind_int64(st, 2, idx->last_seq);
        sqlite3_bind_int64(st, 3, idx->min_time);
        sqlite3_bind_int64(st, 4, idx->max_time);
        r = store_st_exec(s, st);
        for (size_t i = 0; r >= 0 && i < idx->n_crit; i++) {
                struct idx_crit *c = &idx->crit[i];
                size_t len;
                if (c->n == 0)
                        continue;
                r = idx_encode(idx, c, &len);
                if (r < 0 || !(st = store_st(s, ST_CIDX_PUT, &r)))
                        break;
                store_bind_text(st, 1, c->id);
                sqlite3_bind_int64(st, 2, idx->first_seq);
                sqlite3_bind_blob(st, 3, idx->blob, (int)len, SQLITE_STATIC);
                r = store_st_exec(s, st);
        }
out:
        /* Written or not, this batch is done: a failed commit is rolled back whole. */
        store_index_discard(s);
        return r;
}

/* ---- queries ---- */

/* What a candidate record must satisfy beyond the index's coarse answer. */
struct query_walk {
        struct store *s;
        const struct store_query *q;
        int64_t *sealed;           /* sealed epoch numbers, ascending; NULL: include_open */
        size_t n_sealed;
        int64_t next_seq;          /* no seq below this is passed again (seq order) */
        int (*cb)(void *ud, const struct store_record *r);
        void *ud;
};

static bool is_sealed(const struct query_walk *w, int64_t epoch)
{
        size_t lo = 0, hi = w->n_sealed;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (w->sealed[mid] == epoch)
                        return true;
                if (w->sealed[mid] < epoch)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

/* Whether the space-separated list holds id as a whole word. */
static bool tags_have(const char *tags, const char *id)
{
        size_t n = strlen(id);

        for (const char *p = tags; p && (p = strstr(p, id)); p += n)
                if ((p == tags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}

/* The version 1 query's WHERE clause, on one row. */
static int query_row(void *ud, sqlite3_stmt *st)
{
        struct query_walk *w = ud;
        const struct store_query *q = w->q;
        struct store_record rec;

        store_row_record(st, &rec);
        if (rec.seq < w->next_seq)
                return 0;
        w->next_seq = rec.seq + 1;
        if (q->host && (!rec.host || strcmp(rec.host, q->host) != 0))
                return 0;
        if (rec.time_us < q->since_us || rec.time_us >= q->until_us)
                return 0;
        if (w->sealed && !is_sealed(w, rec.epoch))
                return 0;
        if (q->criterion && !tags_have((const char *)sqlite3_column_text(st, 7), q->criterion))
                return 0;
        return w->cb(w->ud, &rec);
}

static int sealed_row(void *ud, sqlite3_stmt *st)
{
        struct query_walk *w = ud;

        if (w->n_sealed % 256 == 0) {
                int64_t *p = realloc(w->sealed, (w->n_sealed + 256) * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                w->sealed = p;
        }
        w->sealed[w->n_sealed++] = sqlite3_column_int64(st, 0);
        return 0;
}

/* Records with seq in [lo, hi) through query_row. */
static int query_range(struct query_walk *w, int64_t lo, int64_t hi)
{
        int r = 0;
        sqlite3_stmt *st = store_st(w->s, ST_REC_RANGE, &r);

        if (!st)
                return r;
        sqlite3_bind_int64(st, 1, lo > w->next_seq ? lo : w->next_seq);
        sqlite3_bind_int64(st, 2, hi);
        return store_st_rows(w->s, st, query_row, w);
}

static int batch_row(void *ud, sqlite3_stmt *st)
{
        int64_t last = sqlite3_column_int64(st, 1);

        return query_range(ud, sqlite3_column_int64(st, 0),
                           last == INT64_MAX ? INT64_MAX : last + 1);
}

/* One criterion's seqs of one batch, each read by rowid. */
static int cidx_row(void *ud, sqlite3_stmt *st)
{
        struct query_walk *w = ud;
        const uint8_t *p = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1), pos = 0;
        int64_t seq = sqlite3_column_int64(st, 0);
        uint64_t d;
        int r = 0;
        sqlite3_stmt *get = store_st(w->s, ST_REC_GET, &r);

        if (!get)
                return r;
        while (r >= 0 && varint_get(p, len, &pos, &d)) {
                seq += (int64_t)d;
                if (seq < w->next_seq)
                        continue;
                sqlite3_bind_int64(get, 1, seq);
                r = store_st_rows(w->s, get, query_row, w);
        }
        return r;
}

int store_query(struct store *s, const struct store_query *q,
                int (*cb)(void *ud, const struct store_record *r), void *ud)
{
        struct query_walk w = { .s = s, .q = q, .next_seq = INT64_MIN, .cb = cb, .ud = ud };
        sqlite3_stmt *st;
        int r = 0;

        if (!q->include_open) {
                st = store_st(s, ST_SEALED, &r);
                if (!st || (r = store_st_rows(s, st, sealed_row, &w)) < 0)
                        goto out;
                if (!w.sealed)
                        goto out;  /* nothing sealed: nothing to return */
        }
        if (q->criterion) {
                st = store_st(s, ST_Q_CIDX, &r);
                if (!st)
                        goto out;
                store_bind_text(st, 1, q->criterion);
                sqlite3_bind_int64(st, 2, q->since_us);
                sqlite3_bind_int64(st, 3, q->until_us);
                r = store_st_rows(s, st, cidx_row, &w);
        } else if (q->since_us != INT64_MIN || q->until_us != INT64_MAX) {
                st = store_st(s, ST_Q_BATCHES, &r);
                if (!st)
                        goto out;
                sqlite3_bind_int64(st, 1, q->since_us);
                sqlite3_bind_int64(st, 2, q->until_us);
                r = store_st_rows(s, st, batch_row, &w);
        } else {
                r = query_range(&w, INT64_MIN, INT64_MAX);
        }
out:
        free(w.sealed);
        return r;
}
