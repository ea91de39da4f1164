/* Reading a folder export back, for `gatelog verify --export` (the write side is
 * export-folder.c; split from it in issue 12).
 *
 * Load: one epoch at a time: manifest, signature and token read whole, record files mapped
 * read-only (not NUL-terminated) or handed out as descriptors, released before the next
 * epoch. Guarantees: epochs in number order; a missing file is handed on as NULL (the
 * verifier reports it), never skipped. */
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

#include "outputs/export-folder-int.h"

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
                return export_fail(err, -ENAMETOOLONG, "path", dir);
        r = load(path, ret, ret_len);
        if (r == -ENOENT)
                return 0;
        return r < 0 ? export_fail(err, r, "read", path) : 0;
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
                return export_fail(err, -errno, "open", dir);
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
                return export_fail(err, r, "list", dir);
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
                return export_fail(err, -ENAMETOOLONG, "path", dir);
        fd = open_regular(path, &st);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return export_fail(err, fd, "read", path);
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
                        r = export_fail(err, -ENAMETOOLONG, "path", edir);
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
                return export_fail(err, -ENAMETOOLONG, "path", cdir);
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
                return stat(out, &st) < 0 ? export_fail(err, -errno, "open", out) : 0;
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
                return export_fail(err, -ENAMETOOLONG, "path", dir);
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
