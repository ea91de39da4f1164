/* The `s3:` block of an output of type s3 (docs/CONFIG.md, docs/EXPORTS.md), parsed apart
 * from cli/config.c so that the S3 options live beside each other (issue 7). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <yaml.h>

#include "cli/config.h"

struct config_s3 {
        char *endpoint;          /* NULL: AWS (https://s3.REGION.amazonaws.com) */
        char *region;            /* NULL: us-east-1 */
        char *bucket;            /* required */
        char *prefix;            /* NULL: the bucket's root */
        bool virtual_host;       /* addressing: virtual (default when no endpoint) */
        bool addressing_given;
        char *access_key;        /* NULL: AWS_ACCESS_KEY_ID at start */
        char *secret_key;        /* NULL: AWS_SECRET_ACCESS_KEY at start */
        char *session_token;     /* NULL: AWS_SESSION_TOKEN at start */
        bool tls_verify;         /* default true */
        char *lock_mode;         /* NULL, "GOVERNANCE" or "COMPLIANCE" */
        int64_t lock_retain_us;
        bool zstd;               /* compression: zstd */
        int zstd_level;          /* 0: default */
};

/* Parses the mapping node n into a new *ret (replacing and freeing an old one). path names
 * the node in messages ("outputs[1].s3"). Errors fill err's line, column and message and
 * return -EINVAL; -ENOMEM when out of memory. */
int config_s3_parse(yaml_document_t *doc, yaml_node_t *n, const char *path,
                    struct config_s3 **ret, struct config_error *err);
void config_s3_free(struct config_s3 *s); /* accepts NULL */

struct writer_output;
/* Builds the S3 output of one configured output into out (write_epoch s3_output_write, impl
 * owned: s3_output_free). Credentials missing from the block are taken from the environment
 * now. Returns 0 or -errno with err set ("output NAME: why"). */
int config_s3_output(const struct config_s3 *s, struct writer_output *out, char *err,
                     size_t err_len);
