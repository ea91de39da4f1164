/* Sealed epochs for the auditor commands (proof, head, report), from a database (opened
 * read-only) or an export folder, one callback per sealed epoch in epoch order, with its
 * manifest bytes, signature and (when asked) records. Issue 10. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seal/seal.h"

struct audit_epoch {
        const char *label;            /* "epoch 7" or the export folder */
        int64_t epoch;                /* from the store row, or the manifest; -1 unknown */
        int64_t first_seq, count;     /* likewise; -1 unknown */
        const char *manifest;         /* NULL when missing */
        size_t manifest_len;
        const uint8_t *sig;           /* NULL when missing */
        size_t sig_len;
        const struct seal_blob *records; /* only when records were asked for */
        size_t n_records;
};

struct audit_source {
        const char *db;               /* one of db and export */
        const char *export_dir;
        const char *chain;            /* for exports: NULL = the only chain */
        bool records;                 /* load each epoch's records */
        bool only_seq;                /* ... but only of the epoch holding seq (database) */
        uint64_t seq;
};

/* cb returns 0 to go on, > 0 to stop early (success), < 0 to stop with that error.
 * Returns 0 or a negative errno with err set. Borrowed pointers live for the call. */
int audit_source_foreach(const struct audit_source *src,
                         int (*cb)(void *ud, const struct audit_epoch *e), void *ud,
                         char *err, size_t err_len);

/* Reads a head file (a `gatelog head` line or a C2SP checkpoint, whose signature must verify
 * under pk) for `gatelog verify --since-head`. 0, or a negative errno with err set. */
int audit_head_load(const char *path, const uint8_t pk[SEAL_PK_LEN], struct seal_head *ret,
                    char *err, size_t err_len);
