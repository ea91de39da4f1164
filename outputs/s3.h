/* S3 exports (issue 7): an S3-compatible object store as an export destination, and the
 * readers that walk an export back (a folder or s3://bucket/prefix) for `gatelog verify` and
 * `gatelog query`.
 *
 * The object layout is the folder export's (docs/FORMAT.md), under an optional prefix:
 * PREFIX/chain=CHAIN/epoch=NNNNNNNNNN/{records.jsonl, tsc=ID/records.jsonl, manifest.sig,
 * manifest.json}; with zstd the record files are records.jsonl.zst (the manifest's roots are
 * still over the uncompressed lines). Requests are signed with AWS Signature V4 by libcurl.
 * Every object carries Content-MD5 and x-amz-checksum-sha256, S3 tags (tsc, category, chain)
 * and, when configured, Object Lock headers. manifest.json is uploaded last, so a present
 * manifest means a complete epoch. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outputs/outputs.h"

/* Largest object body built in memory (S3 refuses single PUTs past 5 GiB). */
#define S3_OBJECT_MAX ((size_t)4 << 30)

struct s3_config {
        const char *endpoint;       /* "http://127.0.0.1:7480"; NULL: https://s3.REGION.amazonaws.com */
        const char *region;         /* NULL: us-east-1 */
        const char *bucket;         /* required */
        const char *prefix;         /* NULL or "": the bucket's root; no leading/trailing '/' needed */
        bool virtual_host;          /* bucket.host/key instead of host/bucket/key */
        const char *access_key;     /* NULL: AWS_ACCESS_KEY_ID */
        const char *secret_key;     /* NULL: AWS_SECRET_ACCESS_KEY */
        const char *session_token;  /* NULL: AWS_SESSION_TOKEN (when set) */
        bool tls_verify;
        const char *lock_mode;      /* NULL, "GOVERNANCE" or "COMPLIANCE" */
        int64_t lock_retain_us;     /* retain-until = upload time + this */
        bool zstd;                  /* records.jsonl.zst instead of records.jsonl */
        int zstd_level;             /* 0: the default (3) */
};

struct s3_client;

/* Copies what it needs from cfg. Returns 0, -EINVAL (err says which setting), -ENOMEM. */
int s3_client_new(const struct s3_config *cfg, struct s3_client **ret, struct store_error *err);
void s3_client_free(struct s3_client *c); /* accepts NULL */

/* Errors of the calls below: -ENOENT (404: NoSuchKey, NoSuchBucket: err says which),
 * -EACCES (403: signature, credentials, Object Lock), -EBADMSG (400: BadDigest, ...),
 * -EAGAIN (5xx or 429 after the client's own retries), -ECONNREFUSED/-ETIMEDOUT/-EIO
 * (transport). err->msg names the method, the object and the server's code and message.
 * All may block on the network (bounded by timeouts). */

struct s3_put_opts {
        const char *content_type;   /* NULL: application/octet-stream */
        const char *tagging;        /* "k=v&k=v", values URL-encoded; NULL: none */
        bool lock;                  /* send the configured Object Lock headers */
};
int s3_put(struct s3_client *c, const char *key, const void *body, size_t len,
           const struct s3_put_opts *o, struct store_error *err);
/* issue 12: the same PUT with the body read from fd (its first len bytes, from offset 0,
 * re-read on a retry), whose MD5 and SHA-256 the caller computed while writing it: no object
 * is held in memory. -E2BIG past S3_OBJECT_MAX (one PUT; multipart is not built). */
int s3_put_fd(struct s3_client *c, const char *key, int fd, size_t len, const uint8_t md5[16],
              const uint8_t sha[32], const struct s3_put_opts *o, struct store_error *err);
/* HEAD: 0 and the ETag (without quotes, lowercase; "" when none) into etag, or -ENOENT. */
int s3_head(struct s3_client *c, const char *key, char etag[80], struct store_error *err);
/* GET a whole object: *ret malloc'd and NUL-terminated (not counted in *ret_len). */
int s3_get(struct s3_client *c, const char *key, char **ret, size_t *ret_len,
           struct store_error *err);
/* ListObjectsV2 over a key prefix, every page: cb(key) in key order. cb <0 stops. */
int s3_list(struct s3_client *c, const char *prefix, int (*cb)(void *ud, const char *key),
            void *ud, struct store_error *err);
/* The configured prefix with a trailing '/' ("" when none); borrowed. */
const char *s3_client_prefix(const struct s3_client *c);
const char *s3_client_bucket(const struct s3_client *c);

/* ---- the output (outputs/s3-export.c) ---- */

/* The SOC 2 category of a criterion id by its prefix: CC security, A availability,
 * PI processing_integrity, C confidentiality, P privacy; "other" for anything else. */
const char *s3_criterion_category(const char *id);

struct s3_output;
int s3_output_new(const struct s3_config *cfg, struct s3_output **ret, struct store_error *err);
/* A writer_output's write_epoch (cli/writer.h): uploads one sealed epoch, manifest.json last.
 * Objects already present with the same bytes (ETag = MD5) are not uploaded again, so a
 * retried export adds no versions; a manifest.json or manifest.sig present with other bytes
 * is refused (-EEXIST: another instance writes the same chain, or the store was reset). */
int s3_output_write(void *impl, const struct export_epoch *e, struct store_error *err);
void s3_output_free(void *impl); /* accepts NULL */

/* ---- reading an export back (outputs/export-read.c) ---- */

/* where is a folder or "s3://bucket[/prefix]". For S3 the endpoint, region and credentials
 * come from the environment: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION or
 * AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * GATELOG_S3_ADDRESSING (path|virtual; default path with an endpoint, else virtual) and
 * GATELOG_S3_TLS_VERIFY=0 to turn certificate checks off. */
struct export_read_ops {
        /* A new chain begins (chains in name order). NULL: ignored. */
        int (*chain_cb)(void *ud, const char *chain);
        /* Each epoch of the chain in epoch order; record files already decompressed. */
        int (*epoch_cb)(void *ud, const struct export_read_epoch *e);
};
/* Every chain of the export (chain NULL) or the named one. -ENOENT when there is none. */
int export_read(const char *where, const char *chain, const struct export_read_ops *ops,
                void *ud, struct store_error *err);
/* issue 12: the same, but a folder's record files come as descriptors (export_read_epoch's
 * by_fd: export_folder_read_fds); S3 objects still come as bytes. */
int export_read_fds(const char *where, const char *chain, const struct export_read_ops *ops,
                    void *ud, struct store_error *err);

/* `gatelog query --export`: cb gets the records, in chain then seq order, of every epoch that
 * verifies against pk (chained to the epochs before it), filtered by q (criterion, host, event
 * time; include_open is ignored: an export holds sealed epochs only). store_record's seq,
 * time_us, host, data and len are filled. skipped_cb is told of each epoch left out and why.
 * Returns 0 or <0 (err set). *ret_skipped counts the epochs left out. */
int export_query(const char *where, const char *chain, const uint8_t pk[32],
                 const struct store_query *q,
                 int (*cb)(void *ud, const struct store_record *r),
                 void (*skipped_cb)(void *ud, const char *what), void *ud,
                 uint64_t *ret_skipped, struct store_error *err);
