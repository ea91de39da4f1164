/* The S3 output: one sealed epoch becomes the folder export's objects under
 * PREFIX/chain=CHAIN/epoch=NNNNNNNNNN/ in a bucket.
 *
 * Load: one call per sealed epoch per output (hourly by default, more when catching up after
 * an outage), on the exporter's thread. Each object's body is built whole in memory (one at a
 * time: records.jsonl, then each tsc=ID/records.jsonl), because Content-MD5 and the SHA-256
 * headers must precede the body; S3_OBJECT_MAX bounds it.
 * Guarantees: objects go up in the order records, tsc files, manifest.sig, manifest.tsr (issue
 * 10, when there is a token), manifest.json, so a
 * manifest present means the epoch is complete; an object already present with the same MD5
 * (its ETag) is skipped, so a retry after a crash adds nothing; the manifest and signature are
 * never replaced by other bytes. zstd output is a single frame with the content size set;
 * the manifest's roots are over the uncompressed lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        void *zbuf;          /* compressed body, reused between objects */
        size_t zcap;
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
        free(o->zbuf);
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

/* Compresses b when configured (into o->zbuf, reused); *body and *len: what to upload. */
static int maybe_compress(struct s3_output *o, const struct buf *b, const void **body,
                          size_t *len, struct store_error *err)
{
        *body = b->len ? b->data : "";
        *len = b->len;
        if (!o->zstd)
                return 0;
        size_t bound = ZSTD_compressBound(b->len);
        if (bound > S3_OBJECT_MAX)
                return -E2BIG;
        if (bound > o->zcap) {
                void *p = realloc(o->zbuf, bound);
                if (!p)
                        return -ENOMEM;
                o->zbuf = p;
                o->zcap = bound;
        }
        size_t n = ZSTD_compress2(o->cctx, o->zbuf, o->zcap, *body, b->len);
        if (ZSTD_isError(n)) {
                snprintf(err->msg, sizeof(err->msg), "zstd: %s", ZSTD_getErrorName(n));
                return -EIO;
        }
        *body = o->zbuf;
        *len = n;
        return 0;
}

static bool has_criterion(const struct export_record *r, const char *id)
{
        for (size_t j = 0; j < r->n_criteria; j++)
                if (!strcmp(r->criteria[j], id))
                        return true;
        return false;
}

static int records_file(struct s3_output *o, const struct export_epoch *e, const char *id,
                        const char *edir, const char *tagging, struct buf *b,
                        struct buf *key, struct store_error *err)
{
        const void *body;
        size_t len;
        int r = 0;

        buf_reset(b);
        b->max = S3_OBJECT_MAX;
        for (size_t i = 0; r >= 0 && i < e->n_records; i++) {
                if (id && !has_criterion(&e->records[i], id))
                        continue;
                r = buf_append(b, e->records[i].data, e->records[i].len);
                if (r >= 0)
                        r = buf_putc(b, '\n');
        }
        if (r < 0)
                return r == -E2BIG ? (snprintf(err->msg, sizeof(err->msg),
                                               "epoch %lld: records file over %zu bytes",
                                               (long long)e->epoch, S3_OBJECT_MAX), r) : r;
        r = maybe_compress(o, b, &body, &len, err);
        buf_reset(key);
        if (r >= 0)
                r = buf_printf(key, "%s%s%s%srecords.jsonl%s", edir, id ? "tsc=" : "",
                               id ? id : "", id ? "/" : "", o->zstd ? ".zst" : "");
        if (r >= 0)
                r = put_object(o, key->data, body, len,
                               o->zstd ? "application/zstd" : "application/x-ndjson", tagging,
                               false, err);
        return r;
}

int s3_output_write(void *impl, const struct export_epoch *e, struct store_error *err)
{
        struct s3_output *o = impl;
        struct buf edir = BUF_INIT, key = BUF_INIT, tag = BUF_INIT, b = BUF_INIT;
        const char **ids = NULL;
        size_t n_ids = 0;
        int r;

        if (!segment_ok(e->chain) || e->epoch < 0 || !e->sig || (!e->manifest && e->manifest_len)) {
                snprintf(err->msg, sizeof(err->msg), "invalid chain name or epoch");
                return -EINVAL;
        }
        r = export_epoch_criteria(e, &ids, &n_ids);
        if (r == -EINVAL)
                snprintf(err->msg, sizeof(err->msg), "invalid criterion id in epoch %lld",
                         (long long)e->epoch);
        if (r >= 0)
                r = buf_printf(&edir, "%schain=%s/epoch=%010lld/", s3_client_prefix(o->c),
                               e->chain, (long long)e->epoch);
        /* Objects of the whole epoch are tagged tsc=all; the chain is a name of
         * [A-Za-z0-9._-], which S3 tag values accept as they are. */
        if (r >= 0)
                r = buf_printf(&tag, "category=all&chain=%s&tsc=all", e->chain);
        if (r >= 0)
                r = records_file(o, e, NULL, edir.data, tag.data, &b, &key, err);
        for (size_t i = 0; r >= 0 && i < n_ids; i++) {
                buf_reset(&tag);
                r = buf_printf(&tag, "category=%s&chain=%s&tsc=%s",
                               s3_criterion_category(ids[i]), e->chain, ids[i]);
                if (r >= 0)
                        r = records_file(o, e, ids[i], edir.data, tag.data, &b, &key, err);
        }
        buf_free(&b);
        buf_reset(&tag);
        if (r >= 0)
                r = buf_printf(&tag, "category=all&chain=%s&tsc=all", e->chain);
        buf_reset(&key);
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
        free(ids);
        buf_free(&edir);
        buf_free(&key);
        buf_free(&tag);
        return r;
}
