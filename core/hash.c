/* SHA-256 and hex helpers.
 *
 * Hashing goes through OpenSSL's one-shot EVP digest API so that the CPU's SHA extensions are
 * used. Everything here is pure and thread-safe: no state is kept between calls. An EVP
 * failure can only mean out of memory inside OpenSSL; we then abort rather than hand out a
 * wrong digest, because a silently wrong hash would corrupt the evidence chain. */
#include <errno.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "core/hash.h"

static void sha256_pieces(const void *const *p, const size_t *n, size_t k, uint8_t out[HASH_LEN])
{
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned int olen = 0;

        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                abort();
        for (size_t i = 0; i < k; i++)
                if (n[i] > 0 && EVP_DigestUpdate(ctx, p[i], n[i]) != 1)
                        abort();
        if (EVP_DigestFinal_ex(ctx, out, &olen) != 1 || olen != HASH_LEN)
                abort();
        EVP_MD_CTX_free(ctx);
}

void hash_sha256(const void *p, size_t n, uint8_t out[HASH_LEN])
{
        sha256_pieces(&p, &n, 1, out);
}

void hash_sha256_2(const void *a, size_t na, const void *b, size_t nb, uint8_t out[HASH_LEN])
{
        const void *p[2] = { a, b };
        size_t n[2] = { na, nb };

        sha256_pieces(p, n, 2, out);
}

void hash_sha256_3(const void *a, size_t na, const void *b, size_t nb, const void *c,
                   size_t nc, uint8_t out[HASH_LEN])
{
        const void *p[3] = { a, b, c };
        size_t n[3] = { na, nb, nc };

        sha256_pieces(p, n, 3, out);
}

char *hash_hex(const void *p, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[b[i] >> 4];
                out[2 * i + 1] = digits[b[i] & 0xf];
        }
        out[2 * n] = '\0';
        return out;
}

static int unhex_digit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int hash_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
        if (slen != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < slen; i++)
                if (unhex_digit(s[i]) < 0)
                        return -EINVAL;
        /* Validated first so that out is untouched on failure. */
        for (size_t i = 0; i < n; i++)
                out[i] = (uint8_t)(unhex_digit(s[2 * i]) << 4 | unhex_digit(s[2 * i + 1]));
        return 0;
}
