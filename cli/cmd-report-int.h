/* Internal to `gatelog report` (cli/cmd-report*.c): the state the two walks fill and the
 * command turns into the report tree. cmd-report.c parses the options and assembles the
 * tree; cmd-report-records.c is the record walk (counts, failures, the reservoir sample) and
 * each criterion's subtree; cmd-report-epochs.c is the epoch walk (the verifier, the epochs
 * of the period, the sampled records' proofs). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/audit-source.h"
#include "cli/query-match.h"
#include "core/buf.h"
#include "core/json.h"
#include "seal/seal.h"

#define REPORT_CRITERIA_MAX 32
#define REPORT_SAMPLE_MAX 100    /* records sampled per criterion */
#define REPORT_FAIL_MAX 50       /* failures listed per criterion (all are counted) */
#define REPORT_TOP_MAX 100
#define REPORT_PROBLEMS_MAX 20   /* problem sentences kept per epoch */

struct sample {
        uint64_t seq;
        json *proof;             /* the proof file as JSON, once built */
        bool proof_ok;
        char why[256];
        char *rec;               /* its bytes, copied while its epoch streams (issue 12) */
        size_t rec_len;
};

struct crit {
        const char *id;
        uint64_t total, n_fail;
        struct query_groups day, day_outcome, outcome, actor, target;
        json *failures;          /* array */
        struct sample sample[REPORT_SAMPLE_MAX];
        size_t n_sample;
        uint64_t rng;
};

struct report_ctx {
        struct crit crit[REPORT_CRITERIA_MAX];
        size_t n_crit, sample_n, top_n;
        int64_t since, until;
        struct buf key;
        /* the epoch walk */
        struct seal_verifier *v;
        json *epochs, *chain_problems, *rotations, *key_ids;
        json *cur_problems;      /* of the epoch being fed */
        uint64_t n_epochs, n_problems;
        struct crit *cur;
        /* issue 12: the epoch being streamed, when it holds samples: its leaf hashes, and the
         * samples it holds by record index (ascending; next is the next one to copy). */
        uint8_t epoch_pk[SEAL_PK_LEN];
        uint64_t epoch_before;   /* n_problems when the epoch began */
        struct seal_leaves *leaves;
        size_t n_records;
        struct sample **want;
        size_t *want_idx, n_want, next_want;
};

/* The record walk, one query per criterion (the same as `gatelog query`'s) over the database
 * db or the export folder exp: fills each crit's counts, failures and sample seqs. *skipped
 * gets the most export epochs one query skipped. Prints its errors. */
int report_walk_records(struct report_ctx *c, const char *db, const char *exp,
                        const char *chain, const uint8_t pk[SEAL_PK_LEN], uint64_t *skipped);
/* One criterion's subtree. Moves k's failures and sample proofs into it; *bad counts the
 * samples whose proof failed. NULL when out of memory. */
json *report_crit_json(struct report_ctx *c, struct crit *k, uint64_t *bad);

/* The epoch walk: every sealed epoch of src through the verifier under the pinned key pk,
 * filling c->epochs (those of the period), the problems, rotations and key ids, and the
 * proofs of the samples the record walk chose. The arrays must exist. Prints its errors. */
int report_walk_epochs(struct report_ctx *c, const struct audit_source *src,
                       const uint8_t pk[SEAL_PK_LEN]);
/* Sets o.key to the RFC 3339 spelling of us, or null when us is INT64_MIN. */
int report_time_member(json *o, const char *key, int64_t us);
