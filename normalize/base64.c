/* Base64 (RFC 4648 section 4, standard alphabet, with '=' padding) for the record's
 * raw_b64: the exact received bytes when they cannot be a JSON string. Auditors decode it
 * with `base64 -d` or Python's base64.b64decode, both of which expect this form. */
#include <stdint.h>
#include <stdlib.h>

#include "normalize/syslog.h"

char *norm_base64(const void *p, size_t n)
{
        static const char tab[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const uint8_t *s = p;
        size_t i, o = 0;
        char *out;

        if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
                return NULL;
        out = malloc((n + 2) / 3 * 4 + 1);
        if (!out)
                return NULL;
        for (i = 0; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

                out[o++] = tab[v >> 18];
                out[o++] = tab[(v >> 12) & 63];
                out[o++] = tab[(v >> 6) & 63];
                out[o++] = tab[v & 63];
        }
        if (n - i > 0) {
                uint32_t v = (uint32_t)s[i] << 16 | (n - i > 1 ? (uint32_t)s[i + 1] << 8 : 0);

                out[o++] = tab[v >> 18];
                out[o++] = tab[(v >> 12) & 63];
                out[o++] = n - i > 1 ? tab[(v >> 6) & 63] : '=';
                out[o++] = '=';
        }
        out[o] = '\0';
        return out;
}
