/* The S3 output: one sealed epoch becomes the folder export's objects under
 * PREFIX/chain=CHAIN/epoch=NNNNNNNNNN/ in a bucket.
 *
 * Load: one call per sealed epoch per output (hourly by default, more when catching up after
 * an outage), on the exporter's thread. Content-MD5 and the SHA-256 headers must precede the
 * body, so the record files are staged first (issue 12): one pass over the records streamed
 * from the store writes records.jsonl and every tsc=ID/records.jsonl into unlinked temporary
 * files in $TMPDIR (default /var/tmp), digesting them on the way, and each is uploaded from
 * its file. Memory stays a few buffers per file whatever the epoch's size; disk holds the
 * epoch's record files (and their compressed copies) until the upload. One PUT per object:
 * S3_OBJECT_MAX (4 GiB) bounds each file, since multipart uploads are not built.
 * Guarantees: objects go up in the order records, tsc files, manifest.sig, manifest.tsr (issue
 * 10, when there is a token), manifest.json, so a
 * manifest present means the epoch is complete; an object already present with the same MD5
 * (its ETag) is skipped, so a retry after a crash adds nothing; the manifest and signature are
 * never replaced by other bytes. zstd output is a single frame with the content size set;
 * the manifest's roots are over the uncompressed lines. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "core/buf.h"
#include "core/hash.h"
#include "outputs/s3.h"

#define S3_ZSTD_DEFAULT_LEVEL 3

struct s3_output {
        struct s3_client *c;
        bool zstd;
        int level;
        ZSTD_CCtx *cctx;
};

const char *s3_criterion_category(const char *id)
{
        size_t n = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");

        if (n == 2 && !strncmp(id, "CC", 2))
                return "security";
        if (n == 2 && !strncmp(id, "PI", 2))
                return "processing_integrity";
        if (n == 1 && id[0] == 'A')
                return "availability";
        if (n == 1 && id[0] == 'C')
                return "confidentiality";
        if (n == 1 && id[0] == 'P')
                return "privacy";
        return "other";
}

int s3_output_new(const struct s3_config *cfg, struct s3_output **ret, struct store_error *err)
{
        struct s3_output *o = calloc(1, sizeof(*o));
        int r;

        if (!o)
                return -ENOMEM;
        r = s3_client_new(cfg, &o->c, err);
        if (r < 0) {
                free(o);
                return r;
        }
        o->zstd = cfg->zstd;
        o->level = cfg->zstd_level ? cfg->zstd_level : S3_ZSTD_DEFAULT_LEVEL;
        if (o->zstd && (!(o->cctx = ZSTD_createCCtx()) ||
                        ZSTD_isError(ZSTD_CCtx_setParameter(o->cctx, ZSTD_c_compressionLevel,
                                                            o->level)))) {
                s3_output_free(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

void s3_output_free(void *impl)
{
        struct s3_output *o = impl;

        if (!o)
                return;
        s3_client_free(o->c);
        ZSTD_freeCCtx(o->cctx);
        free(o);
}

/* A chain or criterion id becomes one key segment: refuse what could split or hide it. */
static bool segment_ok(const char *s)
{
        return s && s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) <= 128;
}

static void md5_hex(const void *p, size_t n, char out[33])
{
        uint8_t md5[16];

        EVP_Digest(n ? p : "", n, md5, NULL, EVP_md5(), NULL);
        hash_hex(md5, sizeof(md5), out);
}

/* Uploads one object unless it is already there with these bytes. must_match: an object
 * present with other bytes is refused rather than replaced. */
static int put_object(struct s3_output *o, const char *key, const void *body, size_t len,
                      const char *ctype, const char *tagging, bool must_match,
                      struct store_error *err)
{
        struct store_error herr = { { 0 } };
        char etag[80], md5[33];
        int r;

        md5_hex(body, len, md5);
        r = s3_head(o->c, key, etag, &herr);
        if (r >= 0 && !strcmp(etag, md5))
                return 0;
        if (r >= 0 && must_match) {
                snprintf(err->msg, sizeof(err->msg),
                         "s3://%s/%.100s exists with other bytes: another instance writes "
                         "this chain, or the store was reset; not replaced",
                         s3_client_bucket(o->c), key);
                return -EEXIST;
        }
        /* Any other HEAD failure: the PUT's answer says more (HEAD has no error body). */
        struct s3_put_opts po = { ctype, tagging, true };
        return s3_put(o->c, key, body, len, &po, err);
}

/* ---- staging (issue 12) ----
 * One pass over the epoch's records (streamed from the store) writes records.jsonl and each
 * tsc=ID/records.jsonl into unlinked temporary files; each is then compressed (zstd, from
 * file to file) and uploaded from its file. Memory: one buffer per file, whatever the epoch's
 * size. The digests S3 wants before the body (Content-MD5, SHA-256) are taken as the final
 * body is written. */
#define SPOOL_BUF_LEN (64 * 1024)
#define SPOOL_ZCHUNK (256 * 1024)

struct spool {
        char *id;               /* NULL: the epoch's records.jsonl */
        int fd;
        uint64_t len;           /* bytes in the file */
        size_t n;
        EVP_MD_CTX *md5, *sha;  /* over the file's bytes */
        char buf[SPOOL_BUF_LEN];
};

struct stage {
        struct s3_output *o;
        struct store_error *err;
        struct spool *all;
        struct spool **tsc;     /* sorted by id */
        size_t n_tsc, alloc_tsc;
};

/* An unlinked temporary file in $TMPDIR (default /var/tmp, which is meant for large files). */
static int spool_fd(struct store_error *err)
{
        const char *dir = getenv("TMPDIR");
        char path[PATH_MAX];
        int fd;

        if (!dir || !*dir)
                dir = "/var/tmp";
        fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0)
                return fd;
        /* A file system without O_TMPFILE: a named file, unlinked at once. */
        snprintf(path, sizeof(path), "%s/gatelog-s3.XXXXXX", dir);
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                snprintf(err->msg, sizeof(err->msg), "temporary file in %.200s: %s", dir,
                         strerror(-r));
                return r;
        }
        unlink(path);
        return fd;
}

static int digests_new(struct spool *sp)
{
        sp->md5 = EVP_MD_CTX_new();
        sp->sha = EVP_MD_CTX_new();
        if (!sp->md5 || !sp->sha || EVP_DigestInit_ex(sp->md5, EVP_md5(), NULL) != 1 ||
            EVP_DigestInit_ex(sp->sha, EVP_sha256(), NULL) != 1)
                return -ENOMEM;
        return 0;
}

static struct spool *spool_free(struct spool *sp)
{
        if (!sp)
                return NULL;
        if (sp->fd >= 0)
                close(sp->fd);
        EVP_MD_CTX_free(sp->md5);
        EVP_MD_CTX_free(sp->sha);
        free(sp->id);
        free(sp);
        return NULL;
}

static int spool_new(const char *id, struct spool **ret, struct store_error *err)
{
        struct spool *sp = calloc(1, sizeof(*sp));
        int r;

        if (!sp)
                return -ENOMEM;
        sp->fd = -1;
        if (id && !(sp->id = strdup(id))) {
                free(sp);
                return -ENOMEM;
        }
        r = digests_new(sp);
        if (r >= 0) {
                sp->fd = spool_fd(err);
                r = sp->fd < 0 ? sp->fd : 0;
        }
        if (r < 0) {
                spool_free(sp);
                return r;
        }
        *ret = sp;
        return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
        const char *c = p;

        while (n > 0) {
                ssize_t k = write(fd, c, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                c += k;
                n -= (size_t)k;
        }
        return 0;
}

/* Bytes to the file, digested on the way. */
static int spool_out(struct spool *sp, const void *p, size_t n)
{
        if (EVP_DigestUpdate(sp->md5, p, n) != 1 || EVP_DigestUpdate(sp->sha, p, n) != 1)
                return -ENOMEM;
        sp->len += n;
        return write_all(sp->fd, p, n);
}

static int spool_flush(struct spool *sp)
{
        int r = sp->n ? spool_out(sp, sp->buf, sp->n) : 0;

        sp->n = 0;
        return r;
}

static int spool_write(struct spool *sp, const char *p, size_t n)
{
        int r;

        if (sp->len + sp->n + n > S3_OBJECT_MAX)
                return -E2BIG;
        if (sp->n + n > sizeof(sp->buf) && (r = spool_flush(sp)) < 0)
                return r;
        if (n > sizeof(sp->buf))
                return spool_out(sp, p, n);
        memcpy(sp->buf + sp->n, p, n);
        sp->n += n;
        return 0;
}

static int spool_line(struct spool *sp, const char *p, size_t n)
{
        int r = spool_write(sp, p, n);

        return r < 0 ? r : spool_write(sp, "\n", 1);
}

/* The spool of criterion id, created when id first appears. */
static int stage_tsc(struct stage *st, const char *id, struct spool **ret)
{
        size_t lo = 0, hi = st->n_tsc;
        int r;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(st->tsc[mid]->id, id);
                if (c == 0) {
                        *ret = st->tsc[mid];
                        return 0;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (!export_criterion_ok(id) || strlen(id) > 128) {
                snprintf(st->err->msg, sizeof(st->err->msg), "invalid criterion id");
                return -EINVAL;
        }
        if (st->n_tsc == st->alloc_tsc) {
                size_t na = st->alloc_tsc ? st->alloc_tsc * 2 : 16;
                struct spool **p = realloc(st->tsc, na * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                st->tsc = p;
                st->alloc_tsc = na;
        }
        struct spool *sp;
        r = spool_new(id, &sp, st->err);
        if (r < 0)
                return r;
        memmove(st->tsc + lo + 1, st->tsc + lo, (st->n_tsc - lo) * sizeof(*st->tsc));
        st->tsc[lo] = sp;
        st->n_tsc++;
        *ret = sp;
        return 0;
}

static int stage_cb(void *ud, const struct export_record *rec)
{
        struct stage *st = ud;
        int r = spool_line(st->all, rec->data, rec->len);

        for (size_t j = 0; r >= 0 && j < rec->n_criteria; j++) {
                struct spool *sp;
                r = stage_tsc(st, rec->criteria[j], &sp);
                if (r >= 0)
                        r = spool_line(sp, rec->data, rec->len);
        }
        return r;
}

/* With zstd: the spool's bytes into a new file as one frame (content size set), whose
 * digests replace the spool's. */
static int spool_compress(struct s3_output *o, struct spool *sp, struct store_error *err)
{
        struct spool *z;
        char *in = NULL, *out = NULL;
        uint64_t off = 0;
        size_t zr;
        int r = spool_new(NULL, &z, err);

        if (r < 0)
                return r;
        in = malloc(SPOOL_ZCHUNK);
        out = malloc(ZSTD_CStreamOutSize());
        r = in && out ? 0 : -ENOMEM;
        if (r >= 0 && (ZSTD_isError(ZSTD_CCtx_reset(o->cctx, ZSTD_reset_session_only)) ||
                       ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(o->cctx, sp->len))))
                r = -EIO;
        for (bool last = false; r >= 0 && !last;) {
                ssize_t k = pread(sp->fd, in, SPOOL_ZCHUNK, (off_t)off);
                if (k < 0) {
                        r = errno == EINTR ? 0 : -errno;
                        continue;
                }
                off += (uint64_t)k;
                last = off >= sp->len || k == 0;
                ZSTD_inBuffer ib = { in, (size_t)k, 0 };
                do {
                        ZSTD_outBuffer ob = { out, ZSTD_CStreamOutSize(), 0 };
                        zr = ZSTD_compressStream2(o->cctx, &ob, &ib,
                                                  last ? ZSTD_e_end : ZSTD_e_continue);
                        if (ZSTD_isError(zr)) {
                                snprintf(err->msg, sizeof(err->msg), "zstd: %s",
                                         ZSTD_getErrorName(zr));
                                r = -EIO;
                                break;
                        }
                        r = spool_out(z, out, ob.pos);
                } while (r >= 0 && (last ? zr != 0 : ib.pos < ib.size));
        }
        free(in);
        free(out);
        if (r < 0) {
                spool_free(z);
                return r;
        }
        /* The compressed file takes the spool's place. */
        close(sp->fd);
        EVP_MD_CTX_free(sp->md5);
        EVP_MD_CTX_free(sp->sha);
        sp->fd = z->fd;
        sp->md5 = z->md5;
        sp->sha = z->sha;
        sp->len = z->len;
        z->fd = -1;
        z->md5 = z->sha = NULL;
        spool_free(z);
        return 0;
}

/* Uploads one staged file unless the object is already there with these bytes. */
static int put_spool(struct s3_output *o, struct spool *sp, const char *key,
                     const char *tagging, struct store_error *err)
{
        struct store_error herr = { { 0 } };
        uint8_t md5[16], sha[HASH_LEN];
        char etag[80], md5x[33];
        unsigned int l = 0;
        int r = spool_flush(sp);

        if (r >= 0 && o->zstd)
                r = spool_compress(o, sp, err);
        if (r < 0)
                return r;
        if (EVP_DigestFinal_ex(sp->md5, md5, &l) != 1 ||
            EVP_DigestFinal_ex(sp->sha, sha, &l) != 1)
                return -ENOMEM;
        hash_hex(md5, sizeof(md5), md5x);
        r = s3_head(o->c, key, etag, &herr);
        if (r >= 0 && !strcmp(etag, md5x))
                return 0;
        struct s3_put_opts po = { o->zstd ? "application/zstd" : "application/x-ndjson",
                                  tagging, true };
        return s3_put_fd(o->c, key, sp->fd, (size_t)sp->len, md5, sha, &po, err);
}

static void stage_free(struct stage *st)
{
        spool_free(st->all);
        for (size_t i = 0; i < st->n_tsc; i++)
                spool_free(st->tsc[i]);
        free(st->tsc);
}

/* Stages the epoch's record files, then uploads records.jsonl and the tsc files in id
 * order, as before streaming. */
static int records_files(struct s3_output *o, const struct export_epoch *e, const char *edir,
                         struct store_error *err)
{
        struct stage st = { .o = o, .err = err };
        struct buf key = BUF_INIT, tag = BUF_INIT;
        const char *ext = o->zstd ? ".zst" : "";
        int r = spool_new(NULL, &st.all, err);

        if (r >= 0)
                r = export_epoch_foreach(e, stage_cb, &st);
        if (r == -E2BIG)
                snprintf(err->msg, sizeof(err->msg), "epoch %lld: records file over %zu bytes "
                         "(one PUT; multipart uploads are not built)", (long long)e->epoch,
                         S3_OBJECT_MAX);
        /* Objects of the whole epoch are tagged tsc=all; the chain is a name of
         * [A-Za-z0-9._-], which S3 tag values accept as they are. */
        if (r >= 0)
                r = buf_printf(&tag, "category=all&chain=%s&tsc=all", e->chain);
        if (r >= 0)
                r = buf_printf(&key, "%srecords.jsonl%s", edir, ext);
        if (r >= 0)
                r = put_spool(o, st.all, key.data, tag.data, err);
        for (size_t i = 0; r >= 0 && i < st.n_tsc; i++) {
                const char *id = st.tsc[i]->id;
                buf_reset(&tag);
                buf_reset(&key);
                r = buf_printf(&tag, "category=%s&chain=%s&tsc=%s", s3_criterion_category(id),
                               e->chain, id);
                if (r >= 0)
                        r = buf_printf(&key, "%stsc=%s/records.jsonl%s", edir, id, ext);
                if (r >= 0)
                        r = put_spool(o, st.tsc[i], key.data, tag.data, err);
        }
        stage_free(&st);
        buf_free(&key);
        buf_free(&tag);
        return r;
}

int s3_output_write(void *impl, const struct export_epoch *e, struct store_error *err)
{
        struct s3_output *o = impl;
        struct buf edir = BUF_INIT, key = BUF_INIT, tag = BUF_INIT;
        int r;

        if (!segment_ok(e->chain) || e->epoch < 0 || !e->sig || (!e->manifest && e->manifest_len)) {
                snprintf(err->msg, sizeof(err->msg), "invalid chain name or epoch");
                return -EINVAL;
        }
        r = buf_printf(&edir, "%schain=%s/epoch=%010lld/", s3_client_prefix(o->c), e->chain,
                       (long long)e->epoch);
        if (r >= 0)
                r = records_files(o, e, edir.data, err);  /* issue 12: staged, streamed */
        if (r >= 0)
                r = buf_printf(&tag, "category=all&chain=%s&tsc=all", e->chain);
        if (r >= 0)
                r = buf_printf(&key, "%smanifest.sig", edir.data);
        if (r >= 0)
                r = put_object(o, key.data, e->sig, 64, "application/octet-stream", tag.data,
                               true, err);
        buf_reset(&key);
        if (r >= 0 && e->tsr) {  /* issue 10: the RFC 3161 token, before the manifest */
                r = buf_printf(&key, "%smanifest.tsr", edir.data);
                if (r >= 0)
                        r = put_object(o, key.data, e->tsr, e->tsr_len,
                                       "application/timestamp-reply", tag.data, false, err);
                buf_reset(&key);
        }
        if (r >= 0)
                r = buf_printf(&key, "%smanifest.json", edir.data);
        if (r >= 0)
                r = put_object(o, key.data, e->manifest ? e->manifest : "", e->manifest_len,
                               "application/json", tag.data, true, err);
        if (r < 0 && !err->msg[0])
                snprintf(err->msg, sizeof(err->msg), "epoch %lld: %s", (long long)e->epoch,
                         strerror(-r));
        buf_free(&edir);
        buf_free(&key);
        buf_free(&tag);
        return r;
}
