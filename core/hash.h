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
/* Lowercase hex of n bytes into out (2n+1 bytes). Returns out. */
char *hash_hex(const void *p, size_t n, char *out);
/* Parses exactly 2n hex digits (either case) into out. Returns 0 or -EINVAL. */
int hash_unhex(const char *s, size_t slen, uint8_t *out, size_t n);
