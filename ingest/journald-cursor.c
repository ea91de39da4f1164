/* Cursors of the journald collector, read without asking the library: the one-pass parse
 * of sd_journal_get_cursor's layout (issue 12), and the field lookups that accept any
 * order (a stored cursor, the resume check). Split from ingest/journald.c (issue 12
 * hygiene: one concern per file); no behaviour change. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/journald-int.h"

int64_t journald_cursor_realtime(const char *c)
{
        for (const char *p = c; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
                if (p[0] == 't' && p[1] == '=') {
                        char *end;
                        unsigned long long v = strtoull(p + 2, &end, 16);

                        return (*end == ';' || !*end) && v < (unsigned long long)INT64_MAX
                                       ? (int64_t)v : 0;
                }
        }
        return 0;
}

bool journald_cursor_seq(const char *c, char id[33], uint64_t *ret_seq)
{
        bool has_s = false, has_i = false;

        for (const char *p = c; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
                if (p[0] == 's' && p[1] == '=' && strspn(p + 2, "0123456789abcdef") == 32) {
                        memcpy(id, p + 2, 32);
                        id[32] = '\0';
                        has_s = true;
                } else if (p[0] == 'i' && p[1] == '=') {
                        char *end;

                        *ret_seq = strtoull(p + 2, &end, 16);
                        has_i = end > p + 2 && (*end == ';' || !*end);
                }
        }
        return has_s && has_i;
}

static bool hex_id(const char **pp, char out[33])
{
        const char *p = *pp;

        for (int i = 0; i < 32; i++) {
                char c = p[i];

                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return false;
                out[i] = c;
        }
        out[32] = '\0';
        *pp = p + 32;
        return true;
}

static bool hex_u64(const char **pp, uint64_t *ret)
{
        const char *p = *pp;
        uint64_t v = 0;
        int n = 0;

        for (;; n++, p++) {
                unsigned d;

                if (*p >= '0' && *p <= '9')
                        d = (unsigned)(*p - '0');
                else if (*p >= 'a' && *p <= 'f')
                        d = (unsigned)(*p - 'a' + 10);
                else
                        break;
                if (n == 16)
                        return false;
                v = v << 4 | d;
        }
        if (n == 0)
                return false;
        *ret = v;
        *pp = p;
        return true;
}

bool journald_cursor_parse(const char *c, struct journald_cursor *ret)
{
        const char *p = c;
        uint64_t xor;

#define TAG(t) (p[0] == (t)[0] && p[1] == '=' && (p += 2, true))
        return TAG("s") && hex_id(&p, ret->id) && *p++ == ';' &&
               TAG("i") && hex_u64(&p, &ret->seq) && *p++ == ';' &&
               TAG("b") && hex_id(&p, ret->boot) && *p++ == ';' &&
               TAG("m") && hex_u64(&p, &ret->mono) && *p++ == ';' &&
               TAG("t") && hex_u64(&p, &ret->real) && *p++ == ';' &&
               TAG("x") && hex_u64(&p, &xor) && *p == '\0';
#undef TAG
}
