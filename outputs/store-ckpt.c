/* Background WAL checkpoints of the store (issue 12): a thread with its own connection to
 * the database copies the WAL back into the file beside the writer's commits, so the
 * committing thread never copies pages nor waits for the database file's fsync.
 *
 * Load: one PASSIVE checkpoint per STORE_CKPT_BYTES of WAL committed (some 25 batches).
 * Guarantees: durability is unchanged (a commit is durable once its WAL frames are synced,
 * synchronous=FULL, whoever checkpoints later); the WAL stays bounded under sustained load
 * (STORE_CKPT_INLINE_BYTES); store_close stops the thread after one last checkpoint.
 *
 * Also here (issue 12, sync9): store_sync, the WAL's fdatasync on a descriptor of its own,
 * so that the writer's sync thread (cli/writer-sync.c) makes commits durable while the
 * storing thread goes on with the next transaction. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outputs/store-internal.h"

/* A background checkpoint starts when a commit leaves this much in the WAL: about 25
 * batches of the benchmark mix. SQLite's own autocheckpoint default is 1000 pages (4 MiB of
 * 4 KiB pages); 16 MiB copies each page that every commit rewrites (the B-tree's inner pages
 * and its last leaf) a quarter as often (issue 12, measured with bench/store-insert: −0.3
 * CPU-µs per record). In bytes, not pages: new databases have 16 KiB pages, old ones keep
 * theirs. */
#define STORE_CKPT_BYTES (16000 * 1024)
/* A background checkpoint races the next commits: under sustained load it may never catch
 * the WAL's end, and SQLite restarts the WAL only after a complete one (measured: the WAL
 * reached 200 MB in 30 s at full speed). Past this many bytes the committing thread runs one
 * PASSIVE checkpoint itself, right after its commit: most pages are already copied, and no
 * commit can come between, so it completes and the next transaction restarts the WAL. */
#define STORE_CKPT_INLINE_BYTES (16000 * 4096)
struct store_ckpt {
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool due, stop;
        int pages_bg, pages_inline;  /* STORE_CKPT_BYTES, STORE_CKPT_INLINE_BYTES in pages */
        sqlite3 *db;             /* the checkpointer's own connection */
};

/* Runs on the committing thread after each commit: signals the checkpointer, or checkpoints
 * itself when the WAL grew past STORE_CKPT_INLINE_PAGES. Returning SQLITE_OK keeps the
 * commit's result as it is. */
static int ckpt_wal_hook(void *ud, sqlite3 *db, const char *name, int pages)
{
        struct store_ckpt *c = ud;

        if (pages >= c->pages_inline) {
                /* SQLite's own autocheckpoint does the same from this hook. BUSY (the
                 * background one is running) is fine: the next commit tries again. */
                (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
                return SQLITE_OK;
        }
        if (pages >= c->pages_bg) {
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

        /* A name for `top -H` and `perf report --sort comm` (issue 12). */
        (void)pthread_setname_np(pthread_self(), "gl-ckpt");
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

/* The database's page size (a constant statement, prepared). */
static int page_size(sqlite3 *db, int *ret)
{
        sqlite3_stmt *st;
        int rc = sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL);

        if (rc != SQLITE_OK)
                return rc;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_int(st, 0) >= 512) {
                *ret = sqlite3_column_int(st, 0);
                rc = SQLITE_OK;
        } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
                rc = SQLITE_CORRUPT;
        }
        sqlite3_finalize(st);
        return rc;
}

int store_checkpoint_in_background(struct store *s)
{
        const char *path = sqlite3_db_filename(s->db, "main");
        struct store_ckpt *c;
        int rc, r, psz = 4096;

        if (s->readonly || s->ckpt || !path || !path[0])
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        /* NOMUTEX: this connection is the checkpointer's alone. */
        rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_busy_timeout(c->db, STORE_BUSY_TIMEOUT_MS);
        /* The checkpoint syncs the WAL before copying and the database after at any level
         * but OFF (wal.c: walCheckpoint syncs with the checkpoint's flags, which NORMAL and
         * FULL both keep); FULL also keeps this connection's own commits, should it make
         * one, durable by themselves. It may copy frames the writer's sync thread has not
         * synced yet (store_sync_wal): its sync before the copy makes them durable first. */
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(c->db, "PRAGMA synchronous = FULL; PRAGMA cache_size = -256;",
                                  NULL, NULL, NULL);
        if (rc == SQLITE_OK)
                rc = page_size(c->db, &psz);
        if (rc != SQLITE_OK) {
                snprintf(s->errmsg, sizeof(s->errmsg), "checkpointer: %s",
                         c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
                sqlite3_close(c->db);
                free(c);
                return -EIO;
        }
        c->pages_bg = STORE_CKPT_BYTES / psz;
        c->pages_inline = STORE_CKPT_INLINE_BYTES / psz;
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


/* ---- the WAL's fdatasync off the committing thread (issue 12, sync9) ----
 *
 * Why this is as safe as synchronous=FULL once store_sync_wal returned (SQLite 3.40, pager.c
 * sqlite3PagerSetFlags and wal.c): at NORMAL the pager's walSyncFlags keep the checkpoint's
 * sync flags and drop the commit's, so a commit writes its frames and returns; every other
 * sync stays: walCheckpoint syncs the WAL before it copies a frame into the database and
 * syncs the database before it records the backfill that lets the next writer restart the
 * WAL; a restarted WAL's new header (new salts) is synced before any frame follows it
 * (syncHeader). So the database file only ever holds synced WAL content, and after a power
 * loss SQLite's recovery replays the WAL's frames up to the first one whose checksum or salt
 * does not match: what can be lost is a suffix of whole commits, exactly those made after
 * the last completed store_sync_wal. On Linux fdatasync flushes the inode's dirty pages and
 * its size whichever descriptor names it, so a second descriptor does what SQLite's own sync
 * would. SQLite keeps the same WAL file while a connection is open (journal_size_limit
 * truncates it, it does not recreate it); should the file ever be replaced, the handle sees
 * another inode, reopens it and syncs the directory. */
struct store_sync {
        pthread_mutex_t mu;   /* one sync at a time: the descriptor may be replaced */
        char *wal_path;
        char *dir_path;
        int fd;               /* on wal_path; -1: not open */
        dev_t dev;
        ino_t ino;
};

/* The WAL's directory, for an fsync after the file was (re)created. */
static char *dir_of(const char *path)
{
        const char *slash = strrchr(path, '/');

        if (!slash)
                return strdup(".");
        if (slash == path)
                return strdup("/");
        return strndup(path, (size_t)(slash - path));
}

/* (Re)opens the WAL when it is not open or when the name now points at another file.
 * Under y->mu. 0 or -errno. */
static int sync_reopen(struct store_sync *y)
{
        struct stat st;

        if (stat(y->wal_path, &st) < 0)
                return -errno;
        if (y->fd >= 0 && st.st_dev == y->dev && st.st_ino == y->ino)
                return 0;
        if (y->fd >= 0)
                close(y->fd);
        /* Read-only is enough: Linux's fdatasync does not ask for a writable descriptor. */
        y->fd = open(y->wal_path, O_RDONLY | O_CLOEXEC);
        if (y->fd < 0)
                return -errno;
        if (fstat(y->fd, &st) < 0)
                return -errno;
        y->dev = st.st_dev;
        y->ino = st.st_ino;
        /* A new file's name must survive a power loss too (SQLite syncs the directory after
         * creating its WAL; here once more for a file found replaced). */
        int dfd = open(y->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        int r = fsync(dfd) < 0 ? -errno : 0;
        close(dfd);
        return r;
}

int store_sync_wal(struct store_sync *y)
{
        int r;

        pthread_mutex_lock(&y->mu);
        r = sync_reopen(y);
        if (r >= 0 && fdatasync(y->fd) < 0)
                r = -errno;
        pthread_mutex_unlock(&y->mu);
        return r;
}

void store_sync_free(struct store_sync *y)
{
        if (!y)
                return;
        if (y->fd >= 0)
                close(y->fd);
        pthread_mutex_destroy(&y->mu);
        free(y->wal_path);
        free(y->dir_path);
        free(y);
}

int store_sync_new(struct store *s, struct store_sync **ret)
{
        const char *path = sqlite3_db_filename(s->db, "main");
        const char *wal = path && path[0] ? sqlite3_filename_wal(path) : NULL;
        struct store_sync *y;
        int r, rc;

        if (s->readonly || !wal || !wal[0])
                return -EINVAL;
        y = calloc(1, sizeof(*y));
        if (!y)
                return -ENOMEM;
        y->fd = -1;
        pthread_mutex_init(&y->mu, NULL);
        y->wal_path = strdup(wal);
        y->dir_path = y->wal_path ? dir_of(y->wal_path) : NULL;
        if (!y->wal_path || !y->dir_path) {
                store_sync_free(y);
                return -ENOMEM;
        }
        /* Everything committed so far (at FULL, or left by a process that died before its
         * sync) is made durable before the first commit that relies on this handle. */
        r = store_sync_wal(y);
        if (r >= 0) {
                rc = sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL;", NULL, NULL, NULL);
                if (rc != SQLITE_OK)
                        r = store_rc(s, rc);
        } else {
                snprintf(s->errmsg, sizeof(s->errmsg), "%.200s: %s", y->wal_path, strerror(-r));
        }
        if (r < 0) {
                store_sync_free(y);
                return r;
        }
        *ret = y;
        return 0;
}
