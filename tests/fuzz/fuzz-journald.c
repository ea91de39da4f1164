/* journald field mapping target (normalize/journald.c): one journal entry whose fields are
 * arbitrary bytes becomes a gate record. Input: a sequence of fields, each one length byte L
 * then L bytes ("FIELD=value" as sd_journal_enumerate_data gives it, or anything); a last
 * field cut short by the end of the input is taken as it is. Properties:
 *   - begin/add/finish never fail (-ENOMEM aside) and the record has every member;
 *   - its canonical JSON re-parses to the same bytes (full round trip);
 *   - a field "NAME=value" with a NAME no other field or header uses comes back losslessly
 *     in journal.NAME: the value as a string, or {"base64": ...} that decodes to it. */
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "normalize/journald.h"
#include "tests/fuzz/fuzz.h"

#define FIELD_MAX 200

static const char *const members[] = {
        "received", "time", "source", "format", "host", "app", "msgid", "pid", "procid",
        "facility", "severity", "message", "sd", "rule", "actor", "action", "target",
        "outcome", "criteria", "raw_sha256", "raw", "raw_b64", "flags", "error", "journal",
};

static int b64v(char c) {
        const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *p = c ? strchr(a, c) : NULL;
        return p ? (int)(p - a) : -1;
}

/* Does base64 text s[0..n) decode to want[0..wn)? */
static bool b64_is(const char *s, size_t n, const uint8_t *want, size_t wn) {
        uint32_t acc = 0;
        int bits = 0;
        size_t o = 0;
        for (size_t i = 0; i < n && s[i] != '='; i++) {
                int v = b64v(s[i]);
                if (v < 0)
                        return false;
                acc = acc << 6 | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (o >= wn || (uint8_t)(acc >> bits) != want[o])
                                return false;
                        o++;
                }
        }
        return o == wn;
}

static bool valid_name(const uint8_t *p, size_t n) {
        if (n == 0 || n > 64 || p[0] == '_')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct norm_journal *b;
        fuzz_check(norm_journal_new(FIELD_MAX, &b) == 0, "new");
        fuzz_check(norm_journal_begin(b, "s=0123;i=1;b=abcd;m=1;t=5f0;x=99", 1718452800000000ULL,
                                      12345678ULL, "0123456789abcdef0123456789abcdef") == 0,
                   "begin");
        struct { const uint8_t *p; size_t n; } fields[256];
        size_t nf = 0;
        for (size_t off = 0; off < size && nf < 256;) {
                size_t l = data[off++];
                if (l > size - off)
                        l = size - off;
                fields[nf].p = data + off;
                fields[nf].n = l;
                nf++;
                fuzz_check(norm_journal_add(b, data + off, l) == 0, "add");
                off += l;
        }
        json *rec = NULL;
        fuzz_check(norm_journal_finish(b, "fuzz", 1718452800000001LL, &rec) == 0 && rec,
                   "finish");
        for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
                fuzz_check(json_obj_get(rec, members[i]) != NULL, members[i]);

        struct buf c1 = { 0 }, c2 = { 0 };
        json *back = NULL;
        fuzz_check(json_canon(rec, &c1) == 0, "canon");
        fuzz_check(json_parse(c1.data, c1.len, &back, NULL) == 0, "canonical record re-parses");
        fuzz_check(json_canon(back, &c2) == 0 && c1.len == c2.len &&
                   memcmp(c1.data, c2.data, c1.len) == 0, "canonical bytes stable");
        json_free(back);
        buf_free(&c1);
        buf_free(&c2);

        /* Lossless fields: a NAME used once, value within the cap. */
        json *journal = json_obj_get(rec, "journal");
        for (size_t i = 0; i < nf; i++) {
                const uint8_t *eq = memchr(fields[i].p, '=', fields[i].n);
                if (!eq || !valid_name(fields[i].p, (size_t)(eq - fields[i].p)))
                        continue;
                size_t nl = (size_t)(eq - fields[i].p), vl = fields[i].n - nl - 1;
                bool once = true;
                for (size_t k = 0; k < nf && once; k++)
                        once = k == i || fields[k].n <= nl || fields[k].p[nl] != '=' ||
                               memcmp(fields[k].p, fields[i].p, nl) != 0;
                if (!once || vl > FIELD_MAX)
                        continue;
                char name[65];
                memcpy(name, fields[i].p, nl);
                name[nl] = 0;
                json *v = json_obj_get(journal, name);
                fuzz_check(v != NULL, "field kept under its name");
                size_t n;
                const char *s = json_str(v, &n);
                if (s) {
                        fuzz_check(n == vl && memcmp(s, eq + 1, vl) == 0, "string value exact");
                } else {
                        s = json_str(json_obj_get(v, "base64"), &n);
                        fuzz_check(s && b64_is(s, n, eq + 1, vl), "base64 value exact");
                }
        }
        json_free(rec);
        norm_journal_free(b);
        return 0;
}
