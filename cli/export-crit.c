/* The exporter's criteria reader (issue 12): see export-crit.h.
 *
 * Load: every record of every exported epoch, once per output. Guarantee: answers 1 only
 * with the ids the record's own top-level "criteria" names; anything unexpected answers 0
 * and the exporter takes the full scanner, then the full parser. */
#include "cli/export-crit.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define CRIT_MAX_DEPTH 64       /* one bit per level in a uint64_t */

static bool plain(unsigned char c)
{
        return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* A plain string at p (after its opening quote): the position of its closing quote, or
 * NULL when it holds an escape, a byte outside printable ASCII, or does not end. */
static const unsigned char *plain_str(const unsigned char *p, const unsigned char *end)
{
        while (p < end && plain(*p))
                p++;
        return p < end && *p == '"' ? p : NULL;
}

/* Any string at p (after its opening quote): the position after its closing quote, or NULL.
 * A quote after an odd run of backslashes is escaped. The bytes inside are not checked
 * (UTF-8, escapes, controls): the boundaries are right for every string the parser
 * accepts, and memchr keeps the walk over long messages cheap. */
static const unsigned char *skip_str(const unsigned char *p, const unsigned char *end)
{
        while (p < end) {
                const unsigned char *q = memchr(p, '"', (size_t)(end - p));
                if (!q)
                        return NULL;
                /* The quote ends the string unless an odd run of backslashes precedes it. */
                size_t bs = 0;
                while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
                        bs++;
                if (bs % 2 == 0)
                        return q + 1;
                p = q + 1;
        }
        return NULL;
}

static bool scalar_byte(unsigned char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' ||
               c == '.' || c == 'E';
}

/* One value at p: the position after it, or NULL. Brackets must match; no white space. */
static const unsigned char *skip_value(const unsigned char *p, const unsigned char *end)
{
        uint64_t arrays = 0;    /* bit d set: level d is an array */
        unsigned depth = 0;

        if (p >= end)
                return NULL;
        if (*p != '"' && *p != '{' && *p != '[') {
                const unsigned char *s = p;
                while (p < end && scalar_byte(*p))
                        p++;
                return p > s ? p : NULL;
        }
        do {
                if (p >= end)
                        return NULL;
                unsigned char c = *p;
                if (c == '"') {
                        p = skip_str(p + 1, end);
                        if (!p)
                                return NULL;
                } else if (c == '{' || c == '[') {
                        if (depth == CRIT_MAX_DEPTH)
                                return NULL;
                        if (c == '[')
                                arrays |= UINT64_C(1) << depth;
                        else
                                arrays &= ~(UINT64_C(1) << depth);
                        depth++;
                        p++;
                } else if (c == '}' || c == ']') {
                        if (depth == 0 || ((arrays >> (depth - 1)) & 1) != (c == ']'))
                                return NULL;
                        depth--;
                        p++;
                } else if (c == ',' || c == ':' || scalar_byte(c)) {
                        p++;
                } else {
                        return NULL;
                }
        } while (depth > 0);
        return p;
}

/* Byte-wise order of two keys (shorter first on a common prefix). */
static int key_cmp(const unsigned char *a, size_t na, const unsigned char *b, size_t nb)
{
        size_t n = na < nb ? na : nb;

        for (size_t i = 0; i < n; i++)
                if (a[i] != b[i])
                        return a[i] < b[i] ? -1 : 1;
        return (na > nb) - (na < nb);
}

/* The array of "criteria" at p: ids filled; the position after ']', or NULL. */
static const unsigned char *crit_array(const unsigned char *p, const unsigned char *end,
                                       struct seal_span *ids, size_t max, size_t *ret_n)
{
        size_t n = 0;

        if (p >= end || *p++ != '[')
                return NULL;
        if (p < end && *p == ']') {
                *ret_n = 0;
                return p + 1;
        }
        for (;;) {
                const unsigned char *q;
                if (p >= end || *p != '"' || n == max || !(q = plain_str(p + 1, end)))
                        return NULL;
                ids[n].p = (const char *)p + 1;
                ids[n].len = (size_t)(q - p - 1);
                n++;
                p = q + 1;
                if (p < end && *p == ']') {
                        *ret_n = n;
                        return p + 1;
                }
                if (p >= end || *p++ != ',')
                        return NULL;
        }
}

int export_crit_scan(const char *data, size_t len, struct seal_span *ids, size_t max,
                     size_t *ret_n)
{
        static const unsigned char crit[] = "criteria";
        const size_t crit_len = sizeof(crit) - 1;
        const unsigned char *p = (const unsigned char *)data, *end = p + len;
        const unsigned char *prev = NULL;
        size_t prev_len = 0, n = 0;

        *ret_n = 0;
        if (len < 2 || *p++ != '{')
                return 0;
        if (*p == '}')
                return p + 1 == end;
        for (;;) {
                const unsigned char *key = p + 1, *kend;
                if (p >= end || *p != '"' || !(kend = plain_str(key, end)))
                        return 0;
                size_t klen = (size_t)(kend - key);
                /* Keys strictly increasing, as canonical form writes them. */
                if (prev && key_cmp(prev, prev_len, key, klen) >= 0)
                        return 0;
                int c = key_cmp(key, klen, crit, crit_len);
                if (c > 0)              /* past where "criteria" sorts: absent */
                        return 1;
                prev = key;
                prev_len = klen;
                p = kend + 1;
                if (p >= end || *p++ != ':')
                        return 0;
                if (c == 0) {
                        p = crit_array(p, end, ids, max, &n);
                        if (!p || p >= end)
                                return 0;
                        /* Then the end, or a key sorting after "criteria" (no duplicate
                         * follows in sorted keys). */
                        if (*p == '}' ? p + 1 != end
                                      : (*p != ',' || p + 1 >= end || p[1] != '"' ||
                                         !(kend = plain_str(p + 2, end)) ||
                                         key_cmp(p + 2, (size_t)(kend - p - 2), crit,
                                                 crit_len) <= 0))
                                return 0;
                        *ret_n = n;
                        return 1;
                }
                p = skip_value(p, end);
                if (!p || p >= end)
                        return 0;
                if (*p == '}')          /* the last member sorted before "criteria" */
                        return p + 1 == end;
                if (*p++ != ',')
                        return 0;
        }
}
