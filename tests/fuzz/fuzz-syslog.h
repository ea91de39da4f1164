/* Body of the syslog parser targets (fuzz-syslog-5424.c, fuzz-syslog-3164.c): any bytes, as
 * one message, given to normalize_syslog() in FUZZ_FORMAT and in auto, whole or as if cut at
 * the collector's cap (a bit of the input's hash decides). Properties, after systemd's "full
 * round trip" lesson:
 *   - it never fails (only -ENOMEM may, and never here) and never rejects input;
 *   - the record has every member normalize.h lists;
 *   - its RFC 8785 bytes re-parse (json_parse) and re-serialise to the same bytes;
 *   - raw_sha256 is the SHA-256 of the input; raw_b64, when present, decodes to the input;
 *     raw, when present, is the input or its prefix (the trailer-stripped message);
 *   - flags are sorted and unique; a malformed record has format "unknown". */
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/json.h"
#include "normalize/normalize.h"
#include "tests/fuzz/fuzz.h"

static const char *const record_members[] = {
        "received", "time",  "source",   "format", "host",       "app",   "msgid",
        "pid",      "procid", "facility", "severity", "message",  "sd",    "rule",
        "actor",    "action", "target",   "outcome", "criteria",  "raw_sha256", "raw",
        "raw_b64",  "flags", "error",
};

static int b64_val(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

/* An independent RFC 4648 decoder; returns the decoded length or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *out) {
        size_t o = 0;
        if (n % 4)
                return -1;
        for (size_t i = 0; i < n; i += 4) {
                int v[4];
                int pad = 0;
                for (int k = 0; k < 4; k++) {
                        if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                                v[k] = 0;
                                pad++;
                        } else if (pad || (v[k] = b64_val(s[i + k])) < 0) {
                                return -1;
                        }
                }
                uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                             (uint32_t)v[3];
                out[o++] = (uint8_t)(w >> 16);
                if (pad < 2)
                        out[o++] = (uint8_t)(w >> 8);
                if (pad < 1)
                        out[o++] = (uint8_t)w;
        }
        return (long)o;
}

static void check_record(const uint8_t *data, size_t size, json *rec) {
        for (size_t i = 0; i < sizeof(record_members) / sizeof(record_members[0]); i++)
                fuzz_check(json_obj_get(rec, record_members[i]) != NULL, record_members[i]);

        /* Canonical bytes re-parse to the same canonical bytes. */
        struct buf c1 = { 0 }, c2 = { 0 };
        fuzz_check(json_canon(rec, &c1) == 0, "record serialises");
        json *back = NULL;
        struct json_error err;
        fuzz_check(json_parse((const char *)c1.data, c1.len, &back, &err) == 0,
                   "canonical record re-parses");
        fuzz_check(json_canon(back, &c2) == 0, "re-parsed record serialises");
        fuzz_check(c1.len == c2.len && memcmp(c1.data, c2.data, c1.len) == 0,
                   "canonical bytes are stable");
        json_free(back);
        buf_free(&c1);
        buf_free(&c2);

        /* raw_sha256 covers the bytes given. */
        uint8_t h[HASH_LEN];
        char hex[HASH_HEX_LEN];
        hash_sha256(data, size, h);
        const char *sha = json_str(json_obj_get(rec, "raw_sha256"), NULL);
        fuzz_check(sha && strcmp(sha, hash_hex(h, HASH_LEN, hex)) == 0, "raw_sha256");

        /* Nothing is lost: raw_b64 decodes to the input, raw is (a prefix of) it. */
        size_t n;
        const char *b64 = json_str(json_obj_get(rec, "raw_b64"), &n);
        if (b64) {
                uint8_t *dec = malloc(n / 4 * 3 + 3);
                fuzz_check(dec != NULL, "malloc");
                long dl = b64_decode(b64, n, dec);
                fuzz_check(dl == (long)size && memcmp(dec, data, size) == 0,
                           "raw_b64 decodes to the input");
                free(dec);
        }
        const char *raw = json_str(json_obj_get(rec, "raw"), &n);
        if (raw)
                fuzz_check(n <= size && memcmp(raw, data, n) == 0, "raw is the input");

        /* Flags: sorted, unique strings; malformed means format unknown and raw kept. */
        json *flags = json_obj_get(rec, "flags");
        fuzz_check(json_type_of(flags) == JSON_ARR, "flags is an array");
        bool malformed = false;
        for (size_t i = 0; i < json_len(flags); i++) {
                const char *f = json_str(json_arr_at(flags, i), NULL);
                fuzz_check(f != NULL, "flag is a string");
                if (i > 0)
                        fuzz_check(strcmp(json_str(json_arr_at(flags, i - 1), NULL), f) < 0,
                                   "flags sorted and unique");
                malformed |= strcmp(f, "malformed") == 0;
        }
        if (malformed) {
                const char *fmt = json_str(json_obj_get(rec, "format"), NULL);
                fuzz_check(fmt && strcmp(fmt, "unknown") == 0, "malformed has format unknown");
                fuzz_check(raw || b64, "malformed keeps the raw bytes");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const struct norm_source src = { "syslog", "tcp", "127.0.0.1:40000" };
        /* 2024-02-29T23:59:59.999999Z: a leap day near a year end, for RFC 3164 year
         * inference. */
        const int64_t received = 1709251199999999LL;
        enum norm_format fmts[2] = { FUZZ_FORMAT, NORM_AUTO };
        /* Whether the collector cut the message: a bit of the input's hash, so that both
         * cases are explored at the speed of one call per format. */
        bool truncated = fuzz_seed_of(data, size) & 1;
        for (int f = 0; f < 2; f++) {
                json *rec = NULL;
                int r = normalize_syslog((const char *)data, size, truncated, &src, received,
                                         fmts[f], &rec);
                fuzz_check(r == 0 && rec, "normalize_syslog never fails");
                check_record(data, size, rec);
                json_free(rec);
        }
        return 0;
}
