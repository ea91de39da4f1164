/* SHA-256 of Merkle leaves and nodes, two at a time with the x86 SHA extensions (issue 12,
 * verify8; seal/sha256-ni.c). Private to seal/. Every function gives the digests
 * merkle_leaf_hash and merkle_node_hash give (RFC 6962 2.1), on any CPU: without the
 * extensions they go through core/hash.c (OpenSSL). None allocates; none fails. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seal/seal.h"

/* Does this CPU have the SHA extensions (and SSSE3, SSE4.1)? Probed once per process. */
bool sha_ni_supported(void);
/* out[i] = SHA-256(0x00 || recs[i]) for i < n. */
void sha_leaf_hashes(const struct seal_blob *recs, size_t n, uint8_t (*out)[HASH_LEN]);
/* out[i] = SHA-256(0x01 || in[2i] || in[2i+1]) for i < n_pairs; out may be in (in place). */
void sha_node_hashes(const uint8_t (*in)[HASH_LEN], size_t n_pairs, uint8_t (*out)[HASH_LEN]);
/* One node hash; out may be left or right. */
void sha_node_hash(const uint8_t left[HASH_LEN], const uint8_t right[HASH_LEN],
                   uint8_t out[HASH_LEN]);
/* For the tests and benches: ni false forces the portable path (OpenSSL). */
void sha_leaf_hashes_isa(const struct seal_blob *recs, size_t n, uint8_t (*out)[HASH_LEN],
                         bool ni);
void sha_node_hashes_isa(const uint8_t (*in)[HASH_LEN], size_t n_pairs,
                         uint8_t (*out)[HASH_LEN], bool ni);
