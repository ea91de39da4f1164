/* The folder export: one sealed epoch becomes DIR/chain=CHAIN/epoch=NNNNNNNNNN/ with
 * records.jsonl, tsc=ID/records.jsonl per criterion, manifest.sig and manifest.json, and the
 * reader that `gatelog verify --export` uses to walk such a tree back.
 *
 * Load: one epoch per call, written once an hour by default; an epoch may hold millions of
 * records, so records are streamed through fixed 64 KiB buffers and never copied whole.
 * Guarantees: each file is written to a hidden temporary name in its final folder, fsync'd,
 * renamed over the final name, and the folder fsync'd, so a reader never sees a partial file;
 * manifest.json is renamed last, so a present manifest means every other file of the epoch
 * is complete. Re-exporting writes identical bytes over identical names. Issue 12: the writer
 * takes the records from a stream (export_epoch_foreach) in one pass that feeds records.jsonl
 * and every tsc file at once, so memory is one buffer per open file whatever the epoch's
 * size. The reader handles one epoch at a time: manifest, signature and token read whole,
 * record files mapped read-only (not NUL-terminated), unmapped before the next epoch. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outputs/outputs.h"

#define EXPORT_WBUF_LEN (64 * 1024)
#define EXPORT_DIR_MODE 0755
#define EXPORT_FILE_MODE 0644

static int fail(struct store_error *err, int r, const char *what, const char *path)
{
        if (err)
                snprintf(err->msg, sizeof(err->msg), "%s %.200s: %s", what, path, strerror(-r));
        return r;
}

/* A chain or criterion name becomes a folder name: refuse what could leave the folder or
 * hide in it. */
static bool export_name_ok(const char *s)
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
                return fail(err, -ENAMETOOLONG, "path", path);
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
                        return fail(err, -errno, "mkdir", p);
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
        char dir[PATH_MAX];
        char tmp[PATH_MAX];
        char final[PATH_MAX];
        char buf[EXPORT_WBUF_LEN];
};

static int wfile_open(struct wfile *w, const char *dir, const char *name,
                      struct store_error *err)
{
        w->fd = -1;
        w->n = 0;
        if ((size_t)snprintf(w->dir, sizeof(w->dir), "%s", dir) >= sizeof(w->dir) ||
            (size_t)snprintf(w->final, sizeof(w->final), "%s/%s", dir, name) >=
                    sizeof(w->final) ||
            (size_t)snprintf(w->tmp, sizeof(w->tmp), "%s/.%s.XXXXXX", dir, name) >=
                    sizeof(w->tmp))
                return fail(err, -ENAMETOOLONG, "path", dir);
        w->fd = mkostemp(w->tmp, O_CLOEXEC);
        if (w->fd < 0)
                return fail(err, -errno, "create", w->tmp);
        if (fchmod(w->fd, EXPORT_FILE_MODE) < 0) {
                int r = -errno;
                close(w->fd);
                unlink(w->tmp);
                w->fd = -1;
                return fail(err, r, "chmod", w->tmp);
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

static int wfile_flush(struct wfile *w)
{
        int r = write_all(w->fd, w->buf, w->n);

        w->n = 0;
        return r;
}

static int wfile_write(struct wfile *w, const void *p, size_t n, struct store_error *err)
{
        int r;

        if (w->n + n > sizeof(w->buf)) {
                r = wfile_flush(w);
                if (r < 0)
                        return fail(err, r, "write", w->tmp);
        }
        if (n > sizeof(w->buf)) {
                r = write_all(w->fd, p, n);
                return r < 0 ? fail(err, r, "write", w->tmp) : 0;
        }
        memcpy(w->buf + w->n, p, n);
        w->n += n;
        return 0;
}

/* A record line: its bytes and '\n'. */
static int wfile_line(struct wfile *w, const char *p, size_t n, struct store_error *err)
{
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

/* Flush, fsync, rename over the final name, fsync the folder. The file is gone on failure. */
static int wfile_commit(struct wfile *w, struct store_error *err)
{
        int r = wfile_flush(w);

        if (r >= 0 && fsync(w->fd) < 0)
                r = -errno;
        if (r < 0) {
                fail(err, r, "write", w->tmp);
                wfile_abort(w);
                return r;
        }
        r = close(w->fd) < 0 ? -errno : 0;
        w->fd = -1;
        if (r >= 0 && rename(w->tmp, w->final) < 0)
                r = -errno;
        if (r < 0) {
                unlink(w->tmp);
                return fail(err, r, "rename", w->final);
        }
        r = fsync_dir(w->dir);
        return r < 0 ? fail(err, r, "fsync", w->dir) : 0;
}

/* A whole small file (manifest, signature) in one go. */
static int write_small(const char *dir, const char *name, const void *p, size_t n,
                       struct store_error *err)
{
        struct wfile *w = malloc(sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        r = wfile_open(w, dir, name, err);
        if (r >= 0) {
                r = write_all(w->fd, p, n);
                if (r < 0) {
                        fail(err, r, "write", w->tmp);
                        wfile_abort(w);
                } else {
                        r = wfile_commit(w, err);
                }
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

/* Adds id to the sorted set unless present; *ret_i its index. -EINVAL for a bad name. */
static int crit_ids_add(struct crit_ids *s, const char *id, size_t *ret_i, bool *ret_new)
{
        size_t lo = 0, hi = s->n;

        if (!export_name_ok(id))
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
}

/* One pass over the records (issue 12: streamed from the source, never held) feeding
 * records.jsonl and every tsc=ID/records.jsonl at once; a tsc file is created when its id
 * first appears. Memory: one 64 KiB buffer per open file. */
struct epoch_writer {
        const char *edir;
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
                return fail(w->err, -ENAMETOOLONG, "path", w->edir);
        f = malloc(sizeof(*f));
        if (!f)
                return -ENOMEM;
        r = mkdir_p(dir, w->err);
        if (r >= 0)
                r = wfile_open(f, dir, "records.jsonl", w->err);
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

/* records.jsonl first, then the tsc files in id order (as before streaming). */
static int write_lines(const char *edir, const struct export_epoch *e, struct store_error *err)
{
        struct epoch_writer w = { .edir = edir, .err = err };
        int r;

        w.all = malloc(sizeof(*w.all));
        if (!w.all)
                return -ENOMEM;
        r = wfile_open(w.all, edir, "records.jsonl", err);
        if (r < 0) {
                free(w.all);
                return r;
        }
        r = export_epoch_foreach(e, epoch_line_cb, &w);
        if (r >= 0)
                r = wfile_commit(w.all, err);
        else
                wfile_abort(w.all);
        for (size_t i = 0; i < w.ids.n; i++) {
                if (!w.tsc || !w.tsc[i])
                        continue;
                if (r >= 0)
                        r = wfile_commit(w.tsc[i], err);
                else
                        wfile_abort(w.tsc[i]);
                free(w.tsc[i]);
        }
        if (r < 0 && err && !err->msg[0])
                snprintf(err->msg, sizeof(err->msg), "%s", strerror(-r));
        free(w.all);
        free(w.tsc);
        crit_ids_free(&w.ids);
        return r;
}

int export_folder_write(const char *dir, const struct export_epoch *e, struct store_error *err)
{
        char edir[PATH_MAX];
        int r;

        if (!export_name_ok(e->chain) || e->epoch < 0 || (!e->manifest && e->manifest_len) ||
            !e->sig) {
                if (err)
                        snprintf(err->msg, sizeof(err->msg), "invalid chain name or epoch");
                return -EINVAL;
        }
        if ((size_t)snprintf(edir, sizeof(edir), "%s/chain=%s/epoch=%010lld", dir, e->chain,
                             (long long)e->epoch) >= sizeof(edir) - 2 * NAME_MAX)
                return fail(err, -ENAMETOOLONG, "path", dir);
        r = mkdir_p(edir, err);
        if (r >= 0)
                r = write_lines(edir, e, err);
        if (r >= 0)
                r = write_small(edir, "manifest.sig", e->sig, 64, err);
        if (r >= 0 && e->tsr)  /* issue 10: the RFC 3161 token, before the manifest */
                r = write_small(edir, "manifest.tsr", e->tsr, e->tsr_len, err);
        if (r >= 0)
                r = write_small(edir, "manifest.json", e->manifest ? e->manifest : "",
                                e->manifest_len, err);
        return r;
}

/* ---- reading an export back ---- */

/* Opens path for reading and fills *st; a directory is -EISDIR, another non-regular file
 * -EINVAL. The fd (owned by the caller), or -errno. */
static int open_regular(const char *path, struct stat *st)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (fstat(fd, st) < 0)
                r = -errno;
        else if (!S_ISREG(st->st_mode))
                r = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
        if (r < 0)
                close(fd);
        return r < 0 ? r : fd;
}

/* Reads a whole file (NUL-terminated copy). -ENOENT when absent. The size is taken from
 * fstat and the read goes on until EOF, so a file that grew meanwhile is still read whole. */
static int read_whole(const char *path, char **ret, size_t *ret_len)
{
        struct stat st;
        size_t len = 0, alloc;
        char *p;
        int fd = open_regular(path, &st), r = 0;

        if (fd < 0)
                return fd;
        alloc = (size_t)st.st_size + 1;
        p = malloc(alloc);
        if (!p)
                r = -ENOMEM;
        while (r >= 0) {
                ssize_t k;
                if (len + 1 == alloc) {
                        char *q = realloc(p, alloc * 2);
                        if (!q) {
                                r = -ENOMEM;
                                break;
                        }
                        p = q;
                        alloc *= 2;
                }
                k = read(fd, p + len, alloc - 1 - len);
                if (k < 0 && errno != EINTR)
                        r = -errno;
                else if (k == 0)
                        break;
                else if (k > 0)
                        len += (size_t)k;
        }
        close(fd);
        if (r < 0) {
                free(p);
                return r;
        }
        p[len] = '\0';
        *ret = p;
        *ret_len = len;
        return 0;
}

/* issue 12: a record file is mapped, not copied: `gatelog verify` hashes its lines where
 * they lie (the pages are the kernel's page cache, dropped under memory pressure, so a file
 * larger than memory still verifies). An empty file is "" (nothing mapped). -ENOENT when
 * absent. */
static int map_whole(const char *path, char **ret, size_t *ret_len)
{
        struct stat st;
        void *p;
        int fd = open_regular(path, &st), r;

        if (fd < 0)
                return fd;
        if (st.st_size == 0) {
                close(fd);
                *ret = (char *)"";
                *ret_len = 0;
                return 0;
        }
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        r = p == MAP_FAILED ? -errno : 0;
        close(fd);
        if (r < 0)
                return r;
        (void)madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
        *ret = p;
        *ret_len = (size_t)st.st_size;
        return 0;
}

static void unmap_whole(char *p, size_t len)
{
        if (p && len > 0)
                munmap(p, len);
}

/* Loads dir/name with load (read_whole, or map_whole for the large record files) into
 * *ret, leaving NULL when absent; other errors fail. */
static int load_opt(int (*load)(const char *, char **, size_t *), const char *dir,
                    const char *name, char **ret, size_t *ret_len, struct store_error *err)
{
        char path[PATH_MAX];
        int r;

        *ret = NULL;
        *ret_len = 0;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
                return fail(err, -ENAMETOOLONG, "path", dir);
        r = load(path, ret, ret_len);
        if (r == -ENOENT)
                return 0;
        return r < 0 ? fail(err, r, "read", path) : 0;
}

struct dir_entry {
        int64_t num;
        char *name;
};

static int cmp_entry(const void *a, const void *b)
{
        const struct dir_entry *x = a, *y = b;

        if (x->num != y->num)
                return x->num < y->num ? -1 : 1;
        return strcmp(x->name, y->name);
}

static void entries_free(struct dir_entry *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i].name);
        free(v);
}

/* The folders in dir named PREFIX..., sorted (by number after the prefix when numeric,
 * which then must be all digits). */
static int list_dirs(const char *dir, const char *prefix, bool numeric, struct dir_entry **ret,
                     size_t *ret_n, struct store_error *err)
{
        size_t plen = strlen(prefix), n = 0, alloc = 0;
        struct dir_entry *v = NULL;
        struct dirent *de;
        DIR *d = opendir(dir);
        int r = 0;

        if (!d)
                return fail(err, -errno, "open", dir);
        while ((de = readdir(d))) {
                const char *rest = de->d_name + plen;
                int64_t num = 0;
                if (strncmp(de->d_name, prefix, plen) != 0 || !*rest)
                        continue;
                if (numeric) {
                        if (strspn(rest, "0123456789") != strlen(rest) || strlen(rest) > 18)
                                continue;
                        num = strtoll(rest, NULL, 10);
                }
                if (n == alloc) {
                        struct dir_entry *p = realloc(v, (alloc = alloc ? alloc * 2 : 64) *
                                                                 sizeof(*p));
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        v = p;
                }
                v[n].num = num;
                v[n].name = strdup(de->d_name);
                if (!v[n].name) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        if (r < 0) {
                entries_free(v, n);
                return fail(err, r, "list", dir);
        }
        if (n > 0)
                qsort(v, n, sizeof(*v), cmp_entry);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* issue 12: opens dir/name for reading (the caller reads it through a buffer); *ret_fd -1
 * when absent, other errors fail. */
static int open_opt(const char *dir, const char *name, int *ret_fd, struct store_error *err)
{
        char path[PATH_MAX];
        struct stat st;
        int fd;

        *ret_fd = -1;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
                return fail(err, -ENAMETOOLONG, "path", dir);
        fd = open_regular(path, &st);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fail(err, fd, "read", path);
        *ret_fd = fd;
        return 0;
}

struct tsc_set {
        size_t n;
        char **ids;
        char **data;
        size_t *len;
        int *fd;        /* issue 12: when read by descriptor, else -1 */
};

static void tsc_set_free(struct tsc_set *t)
{
        for (size_t i = 0; i < t->n; i++) {
                free(t->ids[i]);
                unmap_whole(t->data[i], t->len[i]);
                if (t->fd && t->fd[i] >= 0)
                        close(t->fd[i]);
        }
        free(t->ids);
        free(t->data);
        free(t->len);
        free(t->fd);
}

static int read_tsc(const char *edir, bool fds, struct tsc_set *t, struct store_error *err)
{
        struct dir_entry *v = NULL;
        char dir[PATH_MAX];
        size_t n = 0;
        int r = list_dirs(edir, "tsc=", false, &v, &n, err);

        if (r < 0)
                return r;
        t->ids = calloc(n + 1, sizeof(*t->ids));
        t->data = calloc(n + 1, sizeof(*t->data));
        t->len = calloc(n + 1, sizeof(*t->len));
        t->fd = malloc((n + 1) * sizeof(*t->fd));
        if (!t->ids || !t->data || !t->len || !t->fd)
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++)
                t->fd[i] = -1;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                t->ids[i] = v[i].name;
                v[i].name = NULL;
                t->n++;
                if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", edir, t->ids[i]) >=
                    sizeof(dir))
                        r = fail(err, -ENAMETOOLONG, "path", edir);
                else if (fds)
                        r = open_opt(dir, "records.jsonl", &t->fd[i], err);
                else
                        r = load_opt(map_whole, dir, "records.jsonl", &t->data[i], &t->len[i], err);
        }
        /* Hand out the ids without their "tsc=" prefix. */
        for (size_t i = 0; r >= 0 && i < t->n; i++)
                memmove(t->ids[i], t->ids[i] + 4, strlen(t->ids[i] + 4) + 1);
        entries_free(v, n);
        return r;
}

static int read_epoch(const char *cdir, const char *name, bool fds,
                      int (*cb)(void *ud, const struct export_read_epoch *e), void *ud,
                      struct store_error *err)
{
        char edir[PATH_MAX], *manifest = NULL, *sig = NULL, *records = NULL, *tsr = NULL;
        struct export_read_epoch e = { .path = edir, .by_fd = fds, .records_fd = -1 };
        struct tsc_set t = { 0 };
        int r;

        if ((size_t)snprintf(edir, sizeof(edir), "%s/%s", cdir, name) >= sizeof(edir))
                return fail(err, -ENAMETOOLONG, "path", cdir);
        r = load_opt(read_whole, edir, "manifest.json", &manifest, &e.manifest_len, err);
        if (r >= 0)
                r = load_opt(read_whole, edir, "manifest.sig", &sig, &e.sig_len, err);
        if (r >= 0 && fds)
                r = open_opt(edir, "records.jsonl", &e.records_fd, err);
        else if (r >= 0)
                r = load_opt(map_whole, edir, "records.jsonl", &records, &e.records_len, err);
        if (r >= 0)
                r = read_tsc(edir, fds, &t, err);
        if (r >= 0)  /* issue 10 */
                r = load_opt(read_whole, edir, "manifest.tsr", &tsr, &e.tsr_len, err);
        if (r >= 0) {
                e.manifest = manifest;
                e.sig = (const uint8_t *)sig;
                e.tsr = (const uint8_t *)tsr;
                e.records = records;
                e.n_tsc = t.n;
                e.tsc_ids = (const char *const *)t.ids;
                e.tsc_data = (const char *const *)t.data;
                e.tsc_len = t.len;
                e.tsc_fd = t.fd;
                r = cb(ud, &e);
        }
        tsc_set_free(&t);
        if (e.records_fd >= 0)
                close(e.records_fd);
        free(manifest);
        free(sig);
        unmap_whole(records, e.records_len);
        free(tsr);
        return r;
}

/* The chain folder: the named one, or the only one present. */
static int find_chain(const char *dir, const char *chain, char *out, size_t out_len,
                      struct store_error *err)
{
        struct dir_entry *v = NULL;
        struct stat st;
        size_t n = 0;
        int r;

        if (chain) {
                if (!export_name_ok(chain)) {
                        if (err)
                                snprintf(err->msg, sizeof(err->msg), "invalid chain name");
                        return -EINVAL;
                }
                snprintf(out, out_len, "%s/chain=%s", dir, chain);
                return stat(out, &st) < 0 ? fail(err, -errno, "open", out) : 0;
        }
        r = list_dirs(dir, "chain=", false, &v, &n, err);
        if (r < 0)
                return r;
        if (n != 1) {
                if (err)
                        snprintf(err->msg, sizeof(err->msg), "%.200s: %s", dir,
                                 n ? "several chain=* folders; name one"
                                   : "no chain=* folder");
                entries_free(v, n);
                return n ? -EINVAL : -ENOENT;
        }
        snprintf(out, out_len, "%s/%s", dir, v[0].name);
        entries_free(v, n);
        return 0;
}

static int folder_read(const char *dir, const char *chain, bool fds,
                       int (*cb)(void *ud, const struct export_read_epoch *e), void *ud,
                       struct store_error *err)
{
        char cdir[PATH_MAX];
        struct dir_entry *v = NULL;
        size_t n = 0;
        int r;

        if (strlen(dir) > PATH_MAX - 2 * NAME_MAX)
                return fail(err, -ENAMETOOLONG, "path", dir);
        r = find_chain(dir, chain, cdir, sizeof(cdir), err);
        if (r < 0)
                return r;
        r = list_dirs(cdir, "epoch=", true, &v, &n, err);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = read_epoch(cdir, v[i].name, fds, cb, ud, err);
        entries_free(v, n);
        return r < 0 ? r : 0;
}

int export_folder_read(const char *dir, const char *chain,
                       int (*cb)(void *ud, const struct export_read_epoch *e), void *ud,
                       struct store_error *err)
{
        return folder_read(dir, chain, false, cb, ud, err);
}

int export_folder_read_fds(const char *dir, const char *chain,
                           int (*cb)(void *ud, const struct export_read_epoch *e), void *ud,
                           struct store_error *err)
{
        return folder_read(dir, chain, true, cb, ud, err);
}
