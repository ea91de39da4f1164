/* Reading an export back, from a folder or from s3://bucket/prefix, across every chain in
 * it; and `gatelog query --export`, which hands out only records of epochs that verified.
 *
 * Load: an audit-time walk, one epoch in memory at a time (its files whole). For S3 the key
 * listing is held in memory (a few keys per epoch), then each epoch's objects are fetched.
 * Record files stored as records.jsonl.zst are decompressed here, so callers always see the
 * lines the manifest's roots are over. Guarantees: chains in name order, epochs in number
 * order; a missing object is handed on as NULL (the verifier reports it), never skipped. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zstd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/tm.h"
#include "outputs/s3.h"
#include "seal/seal.h"

/* ---- zstd ---- */

static int unzstd(const char *p, size_t n, char **ret, size_t *ret_len, struct store_error *err)
{
        ZSTD_DStream *ds = ZSTD_createDStream();
        struct buf out = BUF_INIT;
        char chunk[64 * 1024];
        ZSTD_inBuffer in = { p, n, 0 };
        size_t z = 1;
        int r = ds ? 0 : -ENOMEM;

        out.max = S3_OBJECT_MAX;
        while (r >= 0 && (in.pos < in.size || z != 0)) {
                ZSTD_outBuffer o = { chunk, sizeof(chunk), 0 };
                size_t before = in.pos;
                z = ZSTD_decompressStream(ds, &o, &in);
                if (ZSTD_isError(z)) {
                        snprintf(err->msg, sizeof(err->msg), "zstd: %s", ZSTD_getErrorName(z));
                        r = -EBADMSG;
                        break;
                }
                r = buf_append(&out, chunk, o.pos);
                if (r >= 0 && in.pos == before && o.pos == 0) {
                        /* No progress: the frame is cut short. */
                        snprintf(err->msg, sizeof(err->msg), "zstd: truncated frame");
                        r = -EBADMSG;
                }
        }
        ZSTD_freeDStream(ds);
        if (r >= 0) {
                *ret = buf_steal(&out, ret_len);
                r = *ret ? 0 : -ENOMEM;
        }
        buf_free(&out);
        return r;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);

        return a >= b && !strcmp(s + a - b, suffix);
}

/* ---- folders ---- */

struct folder_ctx {
        const struct export_read_ops *ops;
        void *ud;
        struct store_error *err;
};

static int read_file(const char *path, char **ret, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        struct buf b = BUF_INIT;
        char chunk[64 * 1024];
        size_t k;
        int r = 0;

        if (!f)
                return -errno;
        b.max = S3_OBJECT_MAX;
        while (r >= 0 && (k = fread(chunk, 1, sizeof(chunk), f)) > 0)
                r = buf_append(&b, chunk, k);
        if (r >= 0 && ferror(f))
                r = -EIO;
        fclose(f);
        if (r >= 0 && !(*ret = buf_steal(&b, ret_len)))
                r = -ENOMEM;
        buf_free(&b);
        return r;
}

/* A compressed sibling (FILE.zst) of a missing file, decompressed; 0 with *ret NULL when
 * there is none. */
static int folder_zst(const char *path, char **ret, size_t *ret_len, struct store_error *err)
{
        char zp[PATH_MAX], *z = NULL;
        size_t zl = 0;
        int r;

        *ret = NULL;
        if ((size_t)snprintf(zp, sizeof(zp), "%s.zst", path) >= sizeof(zp))
                return -ENAMETOOLONG;
        r = read_file(zp, &z, &zl);
        if (r == -ENOENT)
                return 0;
        if (r >= 0)
                r = unzstd(z, zl, ret, ret_len, err);
        free(z);
        return r;
}

/* The folder reader sees records.jsonl only: fill in what only exists as .zst. */
static int folder_epoch_cb(void *ud, const struct export_read_epoch *e)
{
        struct folder_ctx *c = ud;
        struct export_read_epoch x = *e;
        char path[PATH_MAX], *rec = NULL;
        char **tdata = NULL;
        size_t *tlen = NULL;
        int r = 0;

        if (!x.records && !(x.by_fd && x.records_fd >= 0)) {
                snprintf(path, sizeof(path), "%s/records.jsonl", e->path);
                r = folder_zst(path, &rec, &x.records_len, c->err);
                x.records = rec;
        }
        if (r >= 0 && e->n_tsc) {
                tdata = calloc(e->n_tsc, sizeof(*tdata));
                tlen = calloc(e->n_tsc, sizeof(*tlen));
                r = tdata && tlen ? 0 : -ENOMEM;
                for (size_t i = 0; r >= 0 && i < e->n_tsc; i++) {
                        tlen[i] = e->tsc_len[i];
                        if (e->tsc_data[i] || (e->by_fd && e->tsc_fd[i] >= 0))
                                continue;
                        snprintf(path, sizeof(path), "%s/tsc=%s/records.jsonl", e->path,
                                 e->tsc_ids[i]);
                        r = folder_zst(path, &tdata[i], &tlen[i], c->err);
                }
                if (r >= 0) {
                        const char **d = calloc(e->n_tsc, sizeof(*d));
                        if (!d) {
                                r = -ENOMEM;
                        } else {
                                for (size_t i = 0; i < e->n_tsc; i++)
                                        d[i] = tdata[i] ? tdata[i] : e->tsc_data[i];
                                x.tsc_data = d;
                                x.tsc_len = tlen;
                                r = c->ops->epoch_cb(c->ud, &x);
                                free(d);
                        }
                }
        } else if (r >= 0) {
                r = c->ops->epoch_cb(c->ud, &x);
        }
        for (size_t i = 0; tdata && i < e->n_tsc; i++)
                free(tdata[i]);
        free(tdata);
        free(tlen);
        free(rec);
        return r;
}

static int cmp_cstr(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_folder(const char *dir, const char *chain, bool fds,
                       const struct export_read_ops *ops, void *ud, struct store_error *err)
{
        struct folder_ctx c = { ops, ud, err };
        char **names = NULL, cdir[PATH_MAX];
        size_t n = 0, alloc = 0;
        struct dirent *de;
        struct stat st;
        DIR *d = opendir(dir);
        int r = 0;

        if (!d) {
                r = -errno;
                snprintf(err->msg, sizeof(err->msg), "open %.200s: %s", dir, strerror(-r));
                return r;
        }
        while ((de = readdir(d))) {
                const char *name = de->d_name + 6;
                if (strncmp(de->d_name, "chain=", 6) || !*name || (chain && strcmp(name, chain)))
                        continue;
                snprintf(cdir, sizeof(cdir), "%s/%s", dir, de->d_name);
                if (stat(cdir, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                if (n == alloc) {
                        char **p = realloc(names, (alloc = alloc ? alloc * 2 : 8) * sizeof(*p));
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        names = p;
                }
                if (!(names[n] = strdup(name))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        if (r >= 0 && n == 0) {
                snprintf(err->msg, sizeof(err->msg), "%.200s: no chain=%s folder", dir,
                         chain ? chain : "*");
                r = -ENOENT;
        }
        if (r >= 0)
                qsort(names, n, sizeof(*names), cmp_cstr);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                r = ops->chain_cb ? ops->chain_cb(ud, names[i]) : 0;
                if (r >= 0)
                        r = fds  /* issue 12 */
                                ? export_folder_read_fds(dir, names[i], folder_epoch_cb, &c, err)
                                : export_folder_read(dir, names[i], folder_epoch_cb, &c, err);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

/* ---- S3 ---- */

struct s3_key {
        char *chain;
        int64_t epoch;
        char *rest;          /* the key after "epoch=NNNNNNNNNN/" */
};

struct s3_listing {
        const char *prefix;  /* the client's, with '/' */
        const char *chain;   /* wanted, or NULL */
        struct s3_key *v;
        size_t n, alloc;
};

static int listing_cb(void *ud, const char *key)
{
        struct s3_listing *l = ud;
        const char *p = key + strlen(l->prefix), *slash, *rest;
        char *end;

        if (strncmp(p, "chain=", 6) || !(slash = strchr(p + 6, '/')) || slash == p + 6 ||
            strncmp(slash + 1, "epoch=", 6))
                return 0;
        long long ep = strtoll(slash + 7, &end, 10);
        if (end == slash + 7 || *end != '/' || ep < 0)
                return 0;
        rest = end + 1;
        if (l->chain && ((size_t)(slash - p - 6) != strlen(l->chain) ||
                         strncmp(p + 6, l->chain, (size_t)(slash - p - 6))))
                return 0;
        if (l->n == l->alloc) {
                struct s3_key *v = realloc(l->v, (l->alloc = l->alloc ? l->alloc * 2 : 64) *
                                                         sizeof(*v));
                if (!v)
                        return -ENOMEM;
                l->v = v;
        }
        l->v[l->n].chain = strndup(p + 6, (size_t)(slash - p - 6));
        l->v[l->n].rest = strdup(rest);
        l->v[l->n].epoch = ep;
        if (!l->v[l->n].chain || !l->v[l->n].rest) {
                free(l->v[l->n].chain);
                free(l->v[l->n].rest);
                return -ENOMEM;
        }
        l->n++;
        return 0;
}

static int cmp_key(const void *a, const void *b)
{
        const struct s3_key *x = a, *y = b;
        int c = strcmp(x->chain, y->chain);

        if (c)
                return c;
        if (x->epoch != y->epoch)
                return x->epoch < y->epoch ? -1 : 1;
        return strcmp(x->rest, y->rest);
}

/* GETs key into *ret (decompressing when it ends in .zst). */
static int s3_fetch(struct s3_client *c, const char *key, char **ret, size_t *ret_len,
                    struct store_error *err)
{
        char *p = NULL;
        size_t n = 0;
        int r = s3_get(c, key, &p, &n, err);

        if (r < 0 || !ends_with(key, ".zst")) {
                *ret = p;
                *ret_len = n;
                return r;
        }
        r = unzstd(p, n, ret, ret_len, err);
        free(p);
        return r;
}

/* One epoch: the keys l->v[from, to) share chain and epoch. */
static int s3_epoch(struct s3_client *c, const char *where, const struct s3_listing *l,
                    size_t from, size_t to, const struct export_read_ops *ops, void *ud,
                    struct store_error *err)
{
        struct export_read_epoch e = { 0 };
        char path[1024], base[1024], key[2048];
        char *manifest = NULL, *sig = NULL, *records = NULL, *tsr = NULL;
        char **ids = calloc(to - from + 1, sizeof(char *));
        char **data = calloc(to - from + 1, sizeof(char *));
        size_t *lens = calloc(to - from + 1, sizeof(size_t)), nt = 0;
        int r = ids && data && lens ? 0 : -ENOMEM;

        snprintf(base, sizeof(base), "%schain=%s/epoch=%010lld/", l->prefix, l->v[from].chain,
                 (long long)l->v[from].epoch);
        snprintf(path, sizeof(path), "%s%schain=%s/epoch=%010lld", where,
                 ends_with(where, "/") ? "" : "/", l->v[from].chain,
                 (long long)l->v[from].epoch);
        for (size_t i = from; r >= 0 && i < to; i++) {
                const char *rest = l->v[i].rest;
                char **dst = NULL;
                size_t *dlen = NULL;
                snprintf(key, sizeof(key), "%s%s", base, rest);
                if (!strcmp(rest, "manifest.json"))
                        dst = &manifest, dlen = &e.manifest_len;
                else if (!strcmp(rest, "manifest.sig"))
                        dst = &sig, dlen = &e.sig_len;
                else if (!strcmp(rest, "manifest.tsr"))  /* issue 10 */
                        dst = &tsr, dlen = &e.tsr_len;
                else if ((!strcmp(rest, "records.jsonl") ||
                          !strcmp(rest, "records.jsonl.zst")) && !records)
                        dst = &records, dlen = &e.records_len;
                else if (!strncmp(rest, "tsc=", 4) &&
                         (ends_with(rest, "/records.jsonl") ||
                          ends_with(rest, "/records.jsonl.zst"))) {
                        size_t idl = strcspn(rest + 4, "/");
                        if (nt > 0 && strlen(ids[nt - 1]) == idl &&
                            !strncmp(ids[nt - 1], rest + 4, idl))
                                continue; /* both plain and .zst: the first one counts */
                        if (!(ids[nt] = strndup(rest + 4, idl))) {
                                r = -ENOMEM;
                                break;
                        }
                        dst = &data[nt], dlen = &lens[nt];
                        nt++;
                }
                if (dst)
                        r = s3_fetch(c, key, dst, dlen, err);
        }
        if (r >= 0) {
                e.path = path;
                e.manifest = manifest;
                e.sig = (const uint8_t *)sig;
                e.tsr = (const uint8_t *)tsr;
                e.records = records;
                e.n_tsc = nt;
                e.tsc_ids = (const char *const *)ids;
                e.tsc_data = (const char *const *)data;
                e.tsc_len = lens;
                r = ops->epoch_cb(ud, &e);
        }
        for (size_t i = 0; i < nt; i++) {
                free(ids[i]);
                free(data[i]);
        }
        free(ids);
        free(data);
        free(lens);
        free(manifest);
        free(sig);
        free(records);
        free(tsr);
        return r;
}

/* "s3://bucket/prefix" and the environment into a client. */
static int s3_from_url(const char *url, struct s3_client **ret, struct store_error *err)
{
        const char *b = url + 5, *slash = strchr(b, '/');
        char *bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
        const char *ep = getenv("AWS_ENDPOINT_URL_S3"), *addr = getenv("GATELOG_S3_ADDRESSING");
        const char *tls = getenv("GATELOG_S3_TLS_VERIFY");
        int r;

        if (!ep || !*ep)
                ep = getenv("AWS_ENDPOINT_URL");
        if (!ep || !*ep)
                ep = NULL;
        const char *region = getenv("AWS_REGION");
        if (!region || !*region)
                region = getenv("AWS_DEFAULT_REGION");
        struct s3_config cfg = {
                .endpoint = ep, .region = region, .bucket = bucket,
                .prefix = slash ? slash + 1 : "",
                .virtual_host = addr ? !strcmp(addr, "virtual") : !ep,
                .tls_verify = !(tls && !strcmp(tls, "0")),
        };
        if (!bucket)
                return -ENOMEM;
        r = s3_client_new(&cfg, ret, err);
        free(bucket);
        return r;
}

static int read_s3(const char *where, const char *chain, const struct export_read_ops *ops,
                   void *ud, struct store_error *err)
{
        struct s3_client *c = NULL;
        struct s3_listing l = { 0 };
        char *list_prefix = NULL;
        int r = s3_from_url(where, &c, err);

        if (r < 0)
                return r;
        l.prefix = s3_client_prefix(c);
        l.chain = chain;
        if (asprintf(&list_prefix, "%schain=", l.prefix) < 0)
                r = -ENOMEM;
        if (r >= 0)
                r = s3_list(c, list_prefix, listing_cb, &l, err);
        if (r >= 0 && l.n == 0) {
                snprintf(err->msg, sizeof(err->msg), "%.200s: no chain=%s objects", where,
                         chain ? chain : "*");
                r = -ENOENT;
        }
        if (r >= 0)
                qsort(l.v, l.n, sizeof(*l.v), cmp_key);
        for (size_t i = 0; r >= 0 && i < l.n;) {
                size_t j = i + 1;
                if (ops->chain_cb && (i == 0 || strcmp(l.v[i].chain, l.v[i - 1].chain)))
                        r = ops->chain_cb(ud, l.v[i].chain);
                while (j < l.n && !strcmp(l.v[j].chain, l.v[i].chain) &&
                       l.v[j].epoch == l.v[i].epoch)
                        j++;
                if (r >= 0)
                        r = s3_epoch(c, where, &l, i, j, ops, ud, err);
                i = j;
        }
        for (size_t i = 0; i < l.n; i++) {
                free(l.v[i].chain);
                free(l.v[i].rest);
        }
        free(l.v);
        free(list_prefix);
        s3_client_free(c);
        return r;
}

int export_read(const char *where, const char *chain, const struct export_read_ops *ops,
                void *ud, struct store_error *err)
{
        if (!strncmp(where, "s3://", 5))
                return read_s3(where, chain, ops, ud, err);
        return read_folder(where, chain, false, ops, ud, err);
}

int export_read_fds(const char *where, const char *chain, const struct export_read_ops *ops,
                    void *ud, struct store_error *err)
{
        if (!strncmp(where, "s3://", 5))
                return read_s3(where, chain, ops, ud, err);
        return read_folder(where, chain, true, ops, ud, err);
}

/* ---- query over verified epochs ---- */

struct query_ctx {
        const uint8_t *pk;
        const struct store_query *q;
        int (*cb)(void *ud, const struct store_record *r);
        void (*skipped_cb)(void *ud, const char *what);
        void *ud;
        struct seal_verifier *v;
        char chain[256];
        char first_problem[320];
        uint64_t skipped;
        struct seal_blob *blobs;
        size_t n_blobs, alloc_blobs;
};

static void q_problem_cb(void *ud, int64_t epoch, int64_t seq, const char *what)
{
        struct query_ctx *c = ud;

        if (!c->first_problem[0])
                snprintf(c->first_problem, sizeof(c->first_problem), "%s", what);
}

static int q_chain_cb(void *ud, const char *chain)
{
        struct query_ctx *c = ud;

        seal_verifier_free(c->v);
        c->v = NULL;
        snprintf(c->chain, sizeof(c->chain), "%s", chain);
        return seal_verifier_new(c->pk, q_problem_cb, c, &c->v);
}

static int q_lines(struct query_ctx *c, const char *p, size_t len)
{
        size_t start = 0;

        c->n_blobs = 0;
        for (size_t i = 0; p && i <= len; i++) {
                if (i < len && p[i] != '\n')
                        continue;
                if (i == len && start == len)
                        break;
                if (c->n_blobs == c->alloc_blobs) {
                        size_t na = c->alloc_blobs ? c->alloc_blobs * 2 : 256;
                        struct seal_blob *b = realloc(c->blobs, na * sizeof(*b));
                        if (!b)
                                return -ENOMEM;
                        c->blobs = b;
                        c->alloc_blobs = na;
                }
                c->blobs[c->n_blobs++] = (struct seal_blob){ p + start, i - start };
                start = i + 1;
        }
        return 0;
}

static bool q_match(const struct store_query *q, const json *j, struct store_record *rec)
{
        size_t n = 0;
        const char *t = json_str(json_obj_get(j, "time"), &n);

        rec->seq = json_int(json_obj_get(j, "seq"));
        rec->host = json_str(json_obj_get(j, "host"), NULL);
        rec->time_us = 0;
        if (t && tm_parse_rfc3339(t, n, 0, &rec->time_us) < 0)
                rec->time_us = 0;
        if (q->host && (!rec->host || strcmp(rec->host, q->host)))
                return false;
        if ((q->since_us != INT64_MIN || q->until_us != INT64_MAX) &&
            (!t || rec->time_us < q->since_us || rec->time_us >= q->until_us))
                return false;
        if (q->criterion) {
                const json *cr = json_obj_get(j, "criteria");
                for (size_t i = 0; i < json_len(cr); i++) {
                        const char *s = json_str(json_arr_at(cr, i), NULL);
                        if (s && !strcmp(s, q->criterion))
                                return true;
                }
                return false;
        }
        return true;
}

static int q_epoch_cb(void *ud, const struct export_read_epoch *e)
{
        struct query_ctx *c = ud;
        uint64_t before = seal_verifier_problems(c->v);
        int r;

        c->first_problem[0] = '\0';
        if (!e->records)
                q_problem_cb(c, -1, -1, "records.jsonl is missing");
        else if (e->records_len && e->records[e->records_len - 1] != '\n')
                q_problem_cb(c, -1, -1, "records.jsonl does not end with a newline");
        /* tsc files first (their blobs are not kept), then the epoch's own records. */
        r = q_lines(c, e->records, e->records_len);
        if (r >= 0)
                r = seal_verifier_epoch(c->v, e->path, e->manifest, e->manifest_len, e->sig,
                                        e->sig_len, c->blobs, c->n_blobs);
        for (size_t i = 0; r >= 0 && i < e->n_tsc; i++) {
                r = q_lines(c, e->tsc_data[i], e->tsc_len[i]);
                if (r >= 0)
                        r = seal_verifier_tsc(c->v, e->tsc_ids[i], c->blobs, c->n_blobs);
        }
        if (r >= 0)
                r = seal_verifier_epoch_end(c->v, true);
        if (r < 0)
                return r;
        if (seal_verifier_problems(c->v) > before || c->first_problem[0]) {
                char what[700];
                c->skipped++;
                snprintf(what, sizeof(what), "%s: not verified, left out: %s", e->path,
                         c->first_problem);
                if (c->skipped_cb)
                        c->skipped_cb(c->ud, what);
                return 0;
        }
        r = q_lines(c, e->records, e->records_len);
        for (size_t i = 0; r >= 0 && i < c->n_blobs; i++) {
                json *j = NULL;
                struct store_record rec = { .data = c->blobs[i].data, .len = c->blobs[i].len };
                if (json_parse(rec.data, rec.len, &j, NULL) < 0)
                        continue; /* cannot happen in a verified epoch */
                if (q_match(c->q, j, &rec))
                        r = c->cb(c->ud, &rec);
                json_free(j);
        }
        return r;
}

int export_query(const char *where, const char *chain, const uint8_t pk[32],
                 const struct store_query *q,
                 int (*cb)(void *ud, const struct store_record *r),
                 void (*skipped_cb)(void *ud, const char *what), void *ud,
                 uint64_t *ret_skipped, struct store_error *err)
{
        struct query_ctx c = { .pk = pk, .q = q, .cb = cb, .skipped_cb = skipped_cb, .ud = ud };
        struct export_read_ops ops = { q_chain_cb, q_epoch_cb };
        int r = export_read(where, chain, &ops, &c, err);

        seal_verifier_free(c.v);
        free(c.blobs);
        if (ret_skipped)
                *ret_skipped = c.skipped;
        return r;
}
