/* Background WAL checkpoints of the store (issue 12): a thread with its own connection to
 * the database copies the WAL back into the file beside the writer's commits, so the
 * committing thread never copies pages nor waits for the database file's fsync.
 *
 * Load: one PASSIVE checkpoint per STORE_CKPT_PAGES pages committed (a few batches).
 * Guarantees: durability is unchanged (a commit is durable once its WAL frames are synced,
 * synchronous=FULL, whoever checkpoints later); the WAL stays bounded under sustained load
 * (STORE_CKPT_INLINE_PAGES); store_close stops the thread after one last checkpoint. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "outputs/store-internal.h"

/* A background checkpoint starts when a commit leaves this many pages in the WAL (SQLite's
 * own autocheckpoint default is 1000): 4 MiB of 4 KiB pages, a few batches. */
#define STORE_CKPT_PAGES 1000
/* A background checkpoint races the next commits: under sustained load it may never catch
 * the WAL's end, and SQLite restarts the WAL only after a complete one (measured: the WAL
 * reached 200 MB in 30 s at full speed). Past this many pages the committing thread runs one
 * PASSIVE checkpoint itself, right after its commit: most pages are already copied, and no
 * commit can come between, so it completes and the next transaction restarts the WAL. */
#define STORE_CKPT_INLINE_PAGES 16000
struct store_ckpt {
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool due, stop;
        sqlite3 *db;             /* the checkpointer's own connection */
};

/* Runs on the committing thread after each commit: signals the checkpointer, or checkpoints
 * itself when the WAL grew past STORE_CKPT_INLINE_PAGES. Returning SQLITE_OK keeps the
 * commit's result as it is. */
static int ckpt_wal_hook(void *ud, sqlite3 *db, const char *name, int pages)
{
        struct store_ckpt *c = ud;

        if (pages >= STORE_CKPT_INLINE_PAGES) {
                /* SQLite's own autocheckpoint does the same from this hook. BUSY (the
                 * background one is running) is fine: the next commit tries again. */
                (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
                return SQLITE_OK;
        }
        if (pages >= STORE_CKPT_PAGES) {
                pthread_mutex_lock(&c->mu);
                c->due = true;
                pthread_cond_signal(&c->cv);
                pthread_mutex_unlock(&c->mu);
        }
        return SQLITE_OK;
}

static void *ckpt_thread(void *ud)
{
        struct store_ckpt *c = ud;

        pthread_mutex_lock(&c->mu);
        for (;;) {
                while (!c->due && !c->stop)
                        pthread_cond_wait(&c->cv, &c->mu);
                bool last = c->stop;
                c->due = false;
                pthread_mutex_unlock(&c->mu);
                /* PASSIVE: copies what no reader still needs and never blocks the writer.
                 * A busy or failed checkpoint is retried at the next commit's signal; the
                 * WAL only grows meanwhile, nothing is lost. */
                (void)sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE,
                                                NULL, NULL);
                pthread_mutex_lock(&c->mu);
                if (last)
                        break;
        }
        pthread_mutex_unlock(&c->mu);
        return NULL;
}

int store_checkpoint_in_background(struct store *s)
{
        const char *path = sqlite3_db_filename(s->db, "main");
        struct store_ckpt *c;
        int rc, r;

        if (s->readonly || s->ckpt || !path || !path[0])
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_busy_timeout(c->db, STORE_BUSY_TIMEOUT_MS);
        /* FULL: the checkpoint syncs the WAL before copying and the database after. */
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(c->db, "PRAGMA synchronous = FULL; PRAGMA cache_size = -256;",
                                  NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                snprintf(s->errmsg, sizeof(s->errmsg), "checkpointer: %s",
                         c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
                sqlite3_close(c->db);
                free(c);
                return -EIO;
        }
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        r = -pthread_create(&c->thread, NULL, ckpt_thread, c);
        if (r < 0) {
                pthread_cond_destroy(&c->cv);
                pthread_mutex_destroy(&c->mu);
                sqlite3_close(c->db);
                free(c);
                return r;
        }
        /* Replaces SQLite's autocheckpoint hook: this connection no longer checkpoints. */
        sqlite3_wal_hook(s->db, ckpt_wal_hook, c);
        s->ckpt = c;
        return 0;
}

void store_ckpt_stop(struct store *s)
{
        struct store_ckpt *c = s->ckpt;

        if (!c)
                return;
        sqlite3_wal_hook(s->db, NULL, NULL);
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        sqlite3_close(c->db);
        free(c);
        s->ckpt = NULL;
}

