/* The folder export, write side: one sealed epoch becomes DIR/chain=CHAIN/epoch=NNNNNNNNNN/
 * with records.jsonl, tsc=ID/records.jsonl per criterion, manifest.sig and manifest.json
 * (the reader that `gatelog verify --export` uses is export-folder-read.c).
 *
 * Load: one epoch per call, written once an hour by default; an epoch may hold millions of
 * records, so records are streamed through fixed buffers and never copied whole.
 * Guarantees: each file is written to a hidden temporary name in its final folder, fsync'd,
 * renamed over the final name, and the folder fsync'd, so a reader never sees a partial file;
 * manifest.json is renamed last, after every other file and folder entry is durable, so a
 * present manifest means every other file of the epoch is complete. Re-exporting writes
 * identical bytes over identical names. Issue 12: the writer takes the records from a stream
 * (export_epoch_foreach) in one pass that feeds records.jsonl and every tsc file at once, so
 * memory is one buffer per open file whatever the epoch's size; the kernel is asked to start
 * writing each file back as it grows (sync_file_range), and the files are fsync'd together
 * at the end, so the disk works while the records are still being written instead of after. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outputs/export-folder-int.h"

/* issue 12: 256 KiB per open file (records.jsonl and one per criterion: ~2 MiB for the
 * default pack's criteria): a quarter of the write calls of 64 KiB. */
#define EXPORT_WBUF_LEN (256 * 1024)
/* issue 12: once this much of a file is written and not yet handed to writeback, ask the
 * kernel to start writing it (SYNC_FILE_RANGE_WRITE does not wait), so that the final
 * fsync finds little left to write. */
#define EXPORT_KICK_BYTES ((off_t)8 * 1024 * 1024)
#define EXPORT_DIR_MODE 0755
#define EXPORT_FILE_MODE 0644

int export_fail(struct store_error *err, int r, const char *what, const char *path)
{
        if (err)
                snprintf(err->msg, sizeof(err->msg), "%s %.200s: %s", what, path, strerror(-r));
        return r;
}

bool export_name_ok(const char *s)
{
        return s && s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) < NAME_MAX - 8;
}

static int fsync_dir(const char *path)
{
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

/* mkdir -p; each folder it creates is made durable by an fsync of its parent. */
static int mkdir_p(const char *path, struct store_error *err)
{
        char p[PATH_MAX];
        size_t n = strlen(path);

        if (n >= sizeof(p))
                return export_fail(err, -ENAMETOOLONG, "path", path);
        memcpy(p, path, n + 1);
        for (char *c = p + 1;; c++) {
                if (*c != '/' && *c != '\0')
                        continue;
                char saved = *c;
                *c = '\0';
                if (mkdir(p, EXPORT_DIR_MODE) == 0) {
                        char *slash = strrchr(p, '/');
                        if (slash && slash != p) {
                                *slash = '\0';
                                fsync_dir(p);
                                *slash = '/';
                        }
                } else if (errno != EEXIST) {
                        return export_fail(err, -errno, "mkdir", p);
                }
                *c = saved;
                if (saved == '\0')
                        return 0;
        }
}

/* ---- one file written through a temporary name ---- */

struct wfile {
        int fd;
        size_t n;
        off_t written;          /* bytes handed to write() so far */
        off_t kicked;           /* of them, bytes whose writeback was started */
        char dir[PATH_MAX];
        char tmp[PATH_MAX];
        char final[PATH_MAX];
        char buf[EXPORT_WBUF_LEN];
};

/* The file's final name is DIR/NAME; its temporary name is in tmpdir (dir itself, or a
 * staging folder on the same file system, issue 12), renamed across at the commit. */
static int wfile_open(struct wfile *w, const char *tmpdir, const char *dir, const char *name,
                      struct store_error *err)
{
        w->fd = -1;
        w->n = 0;
        w->written = 0;
        w->kicked = 0;
        if ((size_t)snprintf(w->dir, sizeof(w->dir), "%s", dir) >= sizeof(w->dir) ||
            (size_t)snprintf(w->final, sizeof(w->final), "%s/%s", dir, name) >=
                    sizeof(w->final) ||
            (size_t)snprintf(w->tmp, sizeof(w->tmp), "%s/.%s.XXXXXX", tmpdir, name) >=
                    sizeof(w->tmp))
                return export_fail(err, -ENAMETOOLONG, "path", dir);
        w->fd = mkostemp(w->tmp, O_CLOEXEC);
        if (w->fd < 0)
                return export_fail(err, -errno, "create", w->tmp);
        if (fchmod(w->fd, EXPORT_FILE_MODE) < 0) {
                int r = -errno;
                close(w->fd);
                unlink(w->tmp);
                w->fd = -1;
                return export_fail(err, r, "chmod", w->tmp);
        }
        return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

/* Starts writeback of what was written since the last kick (all of it when force, else
 * only once EXPORT_KICK_BYTES gathered). Advice only: the fsync at commit is what makes
 * the file durable and reports errors, so a failure here is ignored. */
static void wfile_kick(struct wfile *w, bool force)
{
        off_t len = w->written - w->kicked;

        if (len <= 0 || (!force && len < EXPORT_KICK_BYTES))
                return;
        (void)sync_file_range(w->fd, w->kicked, len, SYNC_FILE_RANGE_WRITE);
        w->kicked = w->written;
}

static int wfile_put(struct wfile *w, const char *p, size_t n)
{
        int r = write_all(w->fd, p, n);

        if (r < 0)
                return r;
        w->written += (off_t)n;
        wfile_kick(w, false);
        return 0;
}

static int wfile_flush(struct wfile *w)
{
        int r = wfile_put(w, w->buf, w->n);

        w->n = 0;
        return r;
}

static int wfile_write(struct wfile *w, const void *p, size_t n, struct store_error *err)
{
        int r;

        if (w->n + n > sizeof(w->buf)) {
                r = wfile_flush(w);
                if (r < 0)
                        return export_fail(err, r, "write", w->tmp);
        }
        if (n > sizeof(w->buf)) {
                r = wfile_put(w, p, n);
                return r < 0 ? export_fail(err, r, "write", w->tmp) : 0;
        }
        memcpy(w->buf + w->n, p, n);
        w->n += n;
        return 0;
}

/* A record line: its bytes and '\n' (one copy into the buffer when both fit: a record is
 * written 1 + criteria times, issue 12). */
static int wfile_line(struct wfile *w, const char *p, size_t n, struct store_error *err)
{
        if (n < sizeof(w->buf) - w->n) {
                memcpy(w->buf + w->n, p, n);
                w->buf[w->n + n] = '\n';
                w->n += n + 1;
                return 0;
        }
        int r = wfile_write(w, p, n, err);

        return r < 0 ? r : wfile_write(w, "\n", 1, err);
}

static void wfile_abort(struct wfile *w)
{
        if (w->fd < 0)
                return;
        close(w->fd);
        unlink(w->tmp);
        w->fd = -1;
}

/* Commit, step 1: the rest of the buffer written and its writeback started (so that the
 * files of one epoch go to the disk together, not one fsync after the other). */
static int wfile_finish(struct wfile *w, struct store_error *err)
{
        int r = wfile_flush(w);

        if (r < 0) {
                export_fail(err, r, "write", w->tmp);
                wfile_abort(w);
                return r;
        }
        wfile_kick(w, true);
        return 0;
}

/* Commit, step 2: fsync, close, rename over the final name. The folder entry is made
 * durable by the caller (one fsync_dir per folder, step 3). The file is gone on failure. */
static int wfile_publish(struct wfile *w, struct store_error *err)
{
        int r = fsync(w->fd) < 0 ? -errno : 0;

        if (r < 0) {
                export_fail(err, r, "write", w->tmp);
                wfile_abort(w);
                return r;
        }
        r = close(w->fd) < 0 ? -errno : 0;
        w->fd = -1;
        if (r >= 0 && rename(w->tmp, w->final) < 0)
                r = -errno;
        if (r < 0) {
                unlink(w->tmp);
                return export_fail(err, r, "rename", w->final);
        }
        return 0;
}

/* A whole small file (signature, token) written and its writeback started. */
static int small_open(struct wfile **ret, const char *dir, const char *name, const void *p,
                      size_t n, struct store_error *err)
{
        struct wfile *w = malloc(sizeof(*w));
        int r;

        *ret = NULL;
        if (!w)
                return -ENOMEM;
        r = wfile_open(w, dir, dir, name, err);
        if (r >= 0) {
                r = wfile_put(w, p, n);
                if (r < 0) {
                        export_fail(err, r, "write", w->tmp);
                        wfile_abort(w);
                } else {
                        wfile_kick(w, true);
                }
        }
        if (r < 0) {
                free(w);
                return r;
        }
        *ret = w;
        return 0;
}

/* A whole small file in one go: written, fsync'd, renamed, its folder fsync'd. */
static int write_small(const char *dir, const char *name, const void *p, size_t n,
                       struct store_error *err)
{
        struct wfile *w;
        int r = small_open(&w, dir, name, p, n, err);

        if (r >= 0)
                r = wfile_publish(w, err);
        if (r >= 0) {
                r = fsync_dir(w->dir);
                if (r < 0)
                        export_fail(err, r, "fsync", w->dir);
        }
        free(w);
        return r;
}

/* ---- writing an epoch ---- */

bool export_criterion_ok(const char *id)
{
        return export_name_ok(id);
}

int export_epoch_foreach(const struct export_epoch *e,
                         int (*cb)(void *ud, const struct export_record *r), void *ud)
{
        if (e->source)
                return e->source->foreach(e->source->ud, cb, ud);
        for (size_t i = 0; i < e->n_records; i++) {
                int r = cb(ud, &e->records[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

struct crit_ids {
        char **ids;
        size_t n, alloc;
};

/* Adds id to the sorted set unless present; *ret_i its index. -EINVAL for a bad name
 * (checked only for an id not in the set: the set holds valid names only, and the check's
 * strlen and strchr per criterion of every record were ~10 % of the stager's
 * instructions, issue 12). */
static int crit_ids_add(struct crit_ids *s, const char *id, size_t *ret_i, bool *ret_new)
{
        size_t lo = 0, hi = s->n;

        if (!id)
                return -EINVAL;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(s->ids[mid], id);
                if (c == 0) {
                        *ret_i = mid;
                        *ret_new = false;
                        return 0;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (!export_name_ok(id))
                return -EINVAL;
        if (s->n == s->alloc) {
                size_t na = s->alloc ? s->alloc * 2 : 16;
                char **p = realloc(s->ids, na * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                s->ids = p;
                s->alloc = na;
        }
        char *copy = strdup(id);
        if (!copy)
                return -ENOMEM;
        memmove(s->ids + lo + 1, s->ids + lo, (s->n - lo) * sizeof(*s->ids));
        s->ids[lo] = copy;
        s->n++;
        *ret_i = lo;
        *ret_new = true;
        return 0;
}

static void crit_ids_free(struct crit_ids *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->ids[i]);
        free(s->ids);
        *s = (struct crit_ids){ 0 };
}

/* One pass over the records (issue 12: streamed from the source, never held) feeding
 * records.jsonl and every tsc=ID/records.jsonl at once; a tsc file is created when its id
 * first appears. Memory: one 64 KiB buffer per open file. */
struct epoch_writer {
        const char *edir;
        const char *sdir;            /* issue 12: the staging folder, NULL when not staging */
        struct store_error *err;
        struct wfile *all;
        struct crit_ids ids;
        struct wfile **tsc;          /* parallel to ids.ids */
        size_t tsc_alloc;
};

static int tsc_open(struct epoch_writer *w, size_t at)
{
        char dir[PATH_MAX];
        struct wfile *f;
        int r;

        if (w->ids.n > w->tsc_alloc) {
                size_t na = w->ids.alloc;
                struct wfile **p = realloc(w->tsc, na * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                w->tsc = p;
                w->tsc_alloc = na;
        }
        memmove(w->tsc + at + 1, w->tsc + at, (w->ids.n - 1 - at) * sizeof(*w->tsc));
        w->tsc[at] = NULL;
        if ((size_t)snprintf(dir, sizeof(dir), "%s/tsc=%s", w->edir, w->ids.ids[at]) >=
            sizeof(dir))
                return export_fail(w->err, -ENAMETOOLONG, "path", w->edir);
        f = malloc(sizeof(*f));
        if (!f)
                return -ENOMEM;
        if (w->sdir) {  /* issue 12: the epoch folder is made at the commit */
                char sub[PATH_MAX];
                if ((size_t)snprintf(sub, sizeof(sub), "%s/tsc=%s", w->sdir, w->ids.ids[at]) >=
                    sizeof(sub))
                        r = export_fail(w->err, -ENAMETOOLONG, "path", w->sdir);
                else if (mkdir(sub, EXPORT_DIR_MODE) < 0 && errno != EEXIST)
                        r = export_fail(w->err, -errno, "mkdir", sub);
                else
                        r = wfile_open(f, sub, dir, "records.jsonl", w->err);
        } else {
                r = mkdir_p(dir, w->err);
                if (r >= 0)
                        r = wfile_open(f, dir, dir, "records.jsonl", w->err);
        }
        if (r < 0) {
                free(f);
                return r;
        }
        w->tsc[at] = f;
        return 0;
}

static int epoch_line_cb(void *ud, const struct export_record *rec)
{
        struct epoch_writer *w = ud;
        int r = wfile_line(w->all, rec->data, rec->len, w->err);

        for (size_t j = 0; r >= 0 && j < rec->n_criteria; j++) {
                size_t at;
                bool fresh;
                r = crit_ids_add(&w->ids, rec->criteria[j], &at, &fresh);
                if (r == -EINVAL && w->err)
                        snprintf(w->err->msg, sizeof(w->err->msg), "invalid criterion id");
                if (r >= 0 && fresh)
                        r = tsc_open(w, at);
                if (r >= 0)
                        r = wfile_line(w->tsc[at], rec->data, rec->len, w->err);
        }
        return r;
}

/* The epoch's files but the manifest, made durable together: each written out and its
 * writeback started (the disk takes them all at once), then fsync'd and renamed in the
 * order records.jsonl, tsc files by id, manifest.sig, manifest.tsr, then each folder
 * fsync'd once. Frees every wfile; a file not renamed is removed. */
static int commit_files(struct epoch_writer *w, const struct export_epoch *e, int r)
{
        struct wfile *small[2] = { NULL, NULL };
        /* After a failed realloc in tsc_open, ids holds one id more than tsc has slots. */
        size_t n_tsc = w->ids.n < w->tsc_alloc ? w->ids.n : w->tsc_alloc;

        if (r >= 0)
                r = wfile_finish(w->all, w->err);
        for (size_t i = 0; r >= 0 && i < w->ids.n; i++)
                r = wfile_finish(w->tsc[i], w->err);
        /* issue 12: staged files are renamed into folders made now (the epoch's by the caller). */
        for (size_t i = 0; r >= 0 && w->sdir && i < w->ids.n; i++)
                r = mkdir_p(w->tsc[i]->dir, w->err);
        if (r >= 0)
                r = small_open(&small[0], w->edir, "manifest.sig", e->sig, 64, w->err);
        if (r >= 0 && e->tsr)  /* issue 10: the RFC 3161 token, before the manifest */
                r = small_open(&small[1], w->edir, "manifest.tsr", e->tsr, e->tsr_len,
                               w->err);
        if (r >= 0)
                r = wfile_publish(w->all, w->err);
        wfile_abort(w->all);
        for (size_t i = 0; i < n_tsc; i++) {
                if (!w->tsc[i])
                        continue;
                if (r >= 0)
                        r = wfile_publish(w->tsc[i], w->err);
                wfile_abort(w->tsc[i]);
        }
        for (size_t i = 0; i < 2; i++) {
                if (!small[i])
                        continue;
                if (r >= 0)
                        r = wfile_publish(small[i], w->err);
                wfile_abort(small[i]);
                free(small[i]);
        }
        for (size_t i = 0; r >= 0 && i < w->ids.n; i++) {
                r = fsync_dir(w->tsc[i]->dir);
                if (r < 0)
                        export_fail(w->err, r, "fsync", w->tsc[i]->dir);
        }
        if (r >= 0) {
                r = fsync_dir(w->edir);
                if (r < 0)
                        export_fail(w->err, r, "fsync", w->edir);
        }
        return r;
}

/* Frees the writer's files; a file not yet renamed is removed (wfile_abort). */
static void epoch_writer_release(struct epoch_writer *w)
{
        if (w->all)
                wfile_abort(w->all);
        for (size_t i = 0; i < w->ids.n && i < w->tsc_alloc; i++) {
                if (w->tsc[i])
                        wfile_abort(w->tsc[i]);
                free(w->tsc[i]);
        }
        free(w->all);
        free(w->tsc);
        crit_ids_free(&w->ids);
        w->all = NULL;
        w->tsc = NULL;
        w->tsc_alloc = 0;
}

/* records.jsonl opened: its temporary name in tmpdir (edir, or the staging folder). */
static int epoch_writer_open(struct epoch_writer *w, const char *tmpdir, struct store_error *err)
{
        int r;

        w->all = malloc(sizeof(*w->all));
        if (!w->all)
                return -ENOMEM;
        r = wfile_open(w->all, tmpdir, w->edir, "records.jsonl", err);
        if (r < 0) {
                free(w->all);
                w->all = NULL;
        }
        return r;
}

/* The record files (e's records appended to what w holds), signature and token, committed
 * (manifest.json is the caller's, last). */
static int write_files(struct epoch_writer *w, const struct export_epoch *e,
                       struct store_error *err)
{
        int r;

        w->err = err;
        r = export_epoch_foreach(e, epoch_line_cb, w);
        r = commit_files(w, e, r);
        if (r < 0 && err && !err->msg[0])
                snprintf(err->msg, sizeof(err->msg), "%s", strerror(-r));
        epoch_writer_release(w);
        return r;
}

/* DIR/chain=CHAIN/epoch=NNNNNNNNNN into edir, with room for the names below it. */
static int epoch_path(char *edir, size_t len, const char *dir, const char *chain,
                      int64_t epoch, struct store_error *err)
{
        if (!export_name_ok(chain) || epoch < 0) {
                if (err)
                        snprintf(err->msg, sizeof(err->msg), "invalid chain name or epoch");
                return -EINVAL;
        }
        if ((size_t)snprintf(edir, len, "%s/chain=%s/epoch=%010lld", dir, chain,
                             (long long)epoch) >= len - 2 * NAME_MAX)
                return export_fail(err, -ENAMETOOLONG, "path", dir);
        return 0;
}

int export_folder_write(const char *dir, const struct export_epoch *e, struct store_error *err)
{
        char edir[PATH_MAX];
        struct epoch_writer w = { .edir = edir, .err = err };
        int r = epoch_path(edir, sizeof(edir), dir, e->chain, e->epoch, err);

        if (r >= 0 && ((!e->manifest && e->manifest_len) || !e->sig)) {
                if (err)
                        snprintf(err->msg, sizeof(err->msg), "invalid chain name or epoch");
                r = -EINVAL;
        }
        if (r >= 0)
                r = mkdir_p(edir, err);
        if (r >= 0)
                r = epoch_writer_open(&w, edir, err);
        if (r >= 0)
                r = write_files(&w, e, err);
        if (r >= 0)
                r = write_small(edir, "manifest.json", e->manifest ? e->manifest : "",
                                e->manifest_len, err);
        return r;
}

/* ---- staging an epoch while it is open (issue 12) ---- */

#define STAGE_PREFIX ".stage.chain="

struct export_folder_stage {
        char *chain;
        int64_t epoch;
        char edir[PATH_MAX];
        char sdir[PATH_MAX];
        struct epoch_writer w;
};

/* Removes a staging folder: its files and its tsc=ID folders' files (all the stage makes;
 * anything else stays, and so does the folder holding it). */
static int rm_stage_dir(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *de;
        char p[PATH_MAX];

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if ((size_t)snprintf(p, sizeof(p), "%s/%s", path, de->d_name) >= sizeof(p))
                        continue;
                if (!strncmp(de->d_name, "tsc=", 4))
                        (void)rm_stage_dir(p);
                else
                        (void)unlink(p);
        }
        closedir(d);
        return rmdir(path) < 0 && errno != ENOENT ? -errno : 0;
}

int export_folder_stage_clean(const char *dir, const char *chain)
{
        char prefix[PATH_MAX], p[PATH_MAX];
        DIR *d;
        struct dirent *de;
        int r = 0;

        if ((size_t)snprintf(prefix, sizeof(prefix), STAGE_PREFIX "%s.epoch=", chain) >=
            sizeof(prefix))
                return -ENAMETOOLONG;
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                const char *num = de->d_name + strlen(prefix);
                /* Only this chain's: the prefix, then exactly the ten digits of an epoch. */
                if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 || strlen(num) != 10 ||
                    strspn(num, "0123456789") != 10)
                        continue;
                if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= sizeof(p))
                        continue;
                int k = rm_stage_dir(p);
                if (k < 0 && r == 0)
                        r = k;
        }
        closedir(d);
        return r;
}

int export_folder_stage_open(const char *dir, const char *chain, int64_t epoch,
                             struct export_folder_stage **ret, struct store_error *err)
{
        struct export_folder_stage *st = calloc(1, sizeof(*st));
        int r;

        *ret = NULL;
        if (!st)
                return -ENOMEM;
        st->epoch = epoch;
        st->chain = strdup(chain);
        st->w.edir = st->edir;
        st->w.sdir = st->sdir;
        st->w.err = err;
        r = st->chain ? epoch_path(st->edir, sizeof(st->edir), dir, chain, epoch, err) : -ENOMEM;
        /* Hidden, beside the chain folders, so that no epoch folder exists before the commit
         * (a folder without manifest.json would be an incomplete epoch to a reader). */
        if (r >= 0 && (size_t)snprintf(st->sdir, sizeof(st->sdir), "%s/" STAGE_PREFIX
                                       "%s.epoch=%010lld", dir, chain, (long long)epoch) >=
                              sizeof(st->sdir) - 2 * NAME_MAX)
                r = export_fail(err, -ENAMETOOLONG, "path", dir);
        if (r >= 0 && strlen(strrchr(st->sdir, '/') + 1) > NAME_MAX)
                r = export_fail(err, -ENAMETOOLONG, "path", st->sdir);
        if (r >= 0)
                r = mkdir_p(dir, err);
        if (r >= 0 && (r = rm_stage_dir(st->sdir)) < 0)
                export_fail(err, r, "remove", st->sdir);
        if (r >= 0 && mkdir(st->sdir, EXPORT_DIR_MODE) < 0)
                r = export_fail(err, -errno, "mkdir", st->sdir);
        if (r >= 0)
                r = epoch_writer_open(&st->w, st->sdir, err);
        if (r < 0) {
                export_folder_stage_free(st);
                return r;
        }
        *ret = st;
        return 0;
}

int export_folder_stage_add(struct export_folder_stage *st, const struct export_record *r,
                            struct store_error *err)
{
        st->w.err = err;
        return epoch_line_cb(&st->w, r);
}

int export_folder_stage_flush(struct export_folder_stage *st, struct store_error *err)
{
        int r = wfile_flush(st->w.all);

        if (r < 0)
                return export_fail(err, r, "write", st->w.all->tmp);
        for (size_t i = 0; i < st->w.ids.n && i < st->w.tsc_alloc; i++) {
                r = wfile_flush(st->w.tsc[i]);
                if (r < 0)
                        return export_fail(err, r, "write", st->w.tsc[i]->tmp);
        }
        return 0;
}

int export_folder_stage_commit(struct export_folder_stage *st, const struct export_epoch *e,
                               struct store_error *err)
{
        int r = 0;

        if (!export_name_ok(e->chain) || strcmp(e->chain, st->chain) || e->epoch != st->epoch ||
            (!e->manifest && e->manifest_len) || !e->sig) {
                if (err)
                        snprintf(err->msg, sizeof(err->msg), "invalid chain name or epoch");
                r = -EINVAL;
        }
        if (r >= 0)
                r = mkdir_p(st->edir, err);
        if (r >= 0)
                r = write_files(&st->w, e, err);
        if (r >= 0)
                r = write_small(st->edir, "manifest.json", e->manifest ? e->manifest : "",
                                e->manifest_len, err);
        export_folder_stage_free(st);
        return r;
}

void export_folder_stage_free(struct export_folder_stage *st)
{
        if (!st)
                return;
        epoch_writer_release(&st->w);
        if (st->sdir[0])
                (void)rm_stage_dir(st->sdir);
        free(st->chain);
        free(st);
}
