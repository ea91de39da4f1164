/* Sealed epochs for the auditor commands (proof, head, report), from a database (opened
 * read-only) or an export folder, one callback per sealed epoch in epoch order, with its
 * manifest bytes and signature, and (audit_source_stream) its records. Issue 10. */
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
};

struct audit_source {
        const char *db;               /* one of db and export */
        const char *export_dir;
        const char *chain;            /* for exports: NULL = the only chain */
        bool only_seq;                /* database: read the records of the epoch holding seq
                                       * only (audit_source_stream) */
        uint64_t seq;
};

/* cb returns 0 to go on, > 0 to stop early (success), < 0 to stop with that error.
 * Returns 0 or a negative errno with err set. Borrowed pointers live for the call. */
int audit_source_foreach(const struct audit_source *src,
                         int (*cb)(void *ud, const struct audit_epoch *e), void *ud,
                         char *err, size_t err_len);

/* issue 12: the records of each epoch, one at a time. Each callback returns 0 to go on,
 * > 0 to stop early (success), < 0 to stop with that error. epoch comes first (manifest,
 * signature, numbers); then, when record is set, each record in stored order (bytes borrowed
 * for the call: nothing is held, whatever the epoch's size); then epoch_end, if set. */
struct audit_ops {
        int (*epoch)(void *ud, const struct audit_epoch *e);
        int (*record)(void *ud, const char *data, size_t len);
        int (*epoch_end)(void *ud, const struct audit_epoch *e);
};
int audit_source_stream(const struct audit_source *src, const struct audit_ops *ops, void *ud,
                        char *err, size_t err_len);

/* Reads a head file (a `gatelog head` line or a C2SP checkpoint, whose signature must verify
 * under pk) for `gatelog verify --since-head`. 0, or a negative errno with err set. */
int audit_head_load(const char *path, const uint8_t pk[SEAL_PK_LEN], struct seal_head *ret,
                    char *err, size_t err_len);
