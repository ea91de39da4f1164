/* A growable array of byte strings (records of one epoch), borrowed or owned, as the
 * verifier and the auditor commands take them (struct seal_blob). Internal to cli/. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "seal/seal.h"

struct blobs {
        struct seal_blob *v;
        char **owned;       /* owned[i] is v[i]'s copy, or NULL when borrowed */
        size_t n, alloc;
};

/* Appends data (copied when copy, else borrowed: it must outlive the array's use).
 * 0 or -ENOMEM. */
int blobs_add(struct blobs *b, const char *data, size_t len, bool copy);
/* Appends each '\n'-terminated line of p (borrowed, without its '\n'); a last line without
 * '\n' is appended too (a caller that requires the '\n' checks that itself). */
int blobs_add_lines(struct blobs *b, const char *p, size_t len);
void blobs_reset(struct blobs *b);  /* empties, keeping the arrays */
void blobs_free(struct blobs *b);
