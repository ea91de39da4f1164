/* Shared by the store's files (store.c: open, statements, records; store-epochs.c: epochs
 * and the outbox). Not part of the outputs/ API. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "outputs/outputs.h"

enum st {
        ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
        ST_N_TABLES, ST_HAS_META, ST_META_GET, ST_META_SET, ST_POS_GET, ST_POS_SET, ST_POS_ALL, ST_INTEGRITY,
        ST_REC_INSERT, ST_CRIT_INSERT, ST_REC_EPOCH, ST_REC_LEAVES, ST_MAX_SEQ,
        ST_Q_SEQ, ST_Q_TIME, ST_Q_CRIT,
        ST_EPOCH_PUT, ST_EPOCH_GET, ST_EPOCH_LAST, ST_EPOCH_ALL, ST_EPOCH_CRIT,
        ST_OUT_ADD, ST_OUT_PENDING, ST_OUT_DONE, ST_OUT_FAILED, ST_OUT_BACKLOG, ST_OUT_ALL,
        ST_TS_CREATE, ST_TS_PUT, ST_TS_GET,  /* trusted time (issue 10) */
        ST__MAX
};

struct store_ckpt;  /* the background checkpointer (store.c), issue 12 */

/* A store is used by one thread at a time: the cached statements and errmsg are shared. */
struct store {
        sqlite3 *db;
        bool readonly;
        struct store_ckpt *ckpt;     /* NULL unless store_checkpoint_in_background */
        sqlite3_stmt *st[ST__MAX];   /* prepared on first use, finalized by store_close */
        char errmsg[256];
};

/* The one place where SQLite result codes become errno values; keeps the message. */
int store_rc(struct store *s, int rc);
/* The cached statement of id (prepared on first use), or NULL with *ret_rc set. */
sqlite3_stmt *store_st(struct store *s, enum st id, int *ret_rc);
/* Resets and unbinds a statement after use. */
void store_st_done(sqlite3_stmt *st);
/* Steps a statement that returns no rows, then resets it. */
int store_st_exec(struct store *s, sqlite3_stmt *st);
/* Binds text, or NULL when v is NULL. The text must outlive the step. */
int store_bind_text(sqlite3_stmt *st, int i, const char *v);
/* A blob or text column as a malloc'd NUL-terminated copy; *ret NULL for SQL NULL. */
int store_col_dup(sqlite3_stmt *st, int i, char **ret, size_t *ret_len);
/* A fixed-size blob column; zeros when NULL or of another size. */
void store_col_fixed(sqlite3_stmt *st, int i, uint8_t *out, size_t n);
/* Runs a one-row, one-integer SELECT into *ret. */
int store_count_one(struct store *s, sqlite3_stmt *st, int64_t *ret);
