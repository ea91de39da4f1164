/* SHA-256 through OpenSSL's libcrypto (it uses the CPU's SHA extensions), and hex. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define HASH_LEN 32
#define HASH_HEX_LEN 65 /* 64 hex digits and NUL */

void hash_sha256(const void *p, size_t n, uint8_t out[HASH_LEN]);
/* SHA-256 over the concatenation of two pieces (prefix byte and data, for Merkle hashing). */
void hash_sha256_2(const void *a, size_t na, const void *b, size_t nb, uint8_t out[HASH_LEN]);
/* SHA-256 over three pieces. */
void hash_sha256_3(const void *a, size_t na, const void *b, size_t nb, const void *c,
                   size_t nc, uint8_t out[HASH_LEN]);
/* A SHA-256 computation in progress, held by value (issue 12: the writer's mapper hashes a
 * record's bytes up to the seq splice point and the storing thread finishes). Copying the
 * struct saves the state; no allocation, no cleanup. The size is checked in hash.c. */
#define HASH_SHA256_STATE_SIZE 128
struct hash_sha256_state {
        _Alignas(16) unsigned char opaque[HASH_SHA256_STATE_SIZE];
};
void hash_sha256_begin(struct hash_sha256_state *st);
void hash_sha256_update(struct hash_sha256_state *st, const void *p, size_t n);
/* Writes the digest; st is spent (begin it again to reuse it). */
void hash_sha256_end(struct hash_sha256_state *st, uint8_t out[HASH_LEN]);
/* Lowercase hex of n bytes into out (2n+1 bytes). Returns out. */
char *hash_hex(const void *p, size_t n, char *out);
/* Parses exactly 2n hex digits (either case) into out. Returns 0 or -EINVAL. */
int hash_unhex(const char *s, size_t slen, uint8_t *out, size_t n);
