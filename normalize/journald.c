/* The gate record of one journal entry (normalize/journald.h says what each member holds):
 * the entry's fields as they come in, checked, kept and hashed; the record's members are
 * built from them by normalize/journald-record.c (split, issue 12 hygiene).
 *
 * Called once per entry by the journald collector (up to a few hundred thousand entries a
 * second when catching up). Never fails on content, only on memory: fields without '=',
 * invalid UTF-8, NUL bytes and oversized values all become a record whose flags say so.
 *
 * raw_sha256 is computed over the entry's export-format text as it streams in (core/hash.h's
 * SHA-256 state held by value, not a buffer: issue 12, EVP_DigestInit looked the digest up
 * again for every entry), so that an entry of any size is hashed whole while the record keeps
 * at most field_max bytes per value. The choice between a text line and the binary form
 * follows systemd's utf8_is_printable_newline() (src/basic/utf8.c), which `journalctl -o
 * export` applies to the whole "FIELD=value": valid UTF-8 by systemd's stricter rule (no
 * non-characters U+FDD0..U+FDEF or U+xFFFE/U+xFFFF, no surrogates) and no control
 * character but TAB (C0 and U+007F..U+009F, so also no newline). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/buf.h"
#include "core/hash.h"
#include "core/tm.h"
#include "normalize/journald.h"
#include "normalize/journald-int.h"
#include "normalize/normalize.h"
#include "normalize/syslog.h"

/* Members the journal object gets before an entry's fields, each added without a lookup. */
#define JOURNAL_RESERVE 24

/* The field names journald and its clients write (systemd.journal-fields(7)): a field of
 * one of these names gets the literal as its key, neither copied nor checked (issue 12).
 * known: its enum known, or K__MAX. */
static const struct {
        const char *name;
        uint8_t len;
        uint8_t known;
} common_names[] = {
#define C(n) { n, sizeof(n) - 1, K__MAX }
#define CK(n, k) { n, sizeof(n) - 1, k }
        C("MESSAGE"), C("MESSAGE_ID"), CK("PRIORITY", K_PRIORITY), C("CODE_FILE"),
        C("CODE_LINE"), C("CODE_FUNC"), C("ERRNO"), C("INVOCATION_ID"),
        C("USER_INVOCATION_ID"), CK("SYSLOG_FACILITY", K_FACILITY),
        CK("SYSLOG_IDENTIFIER", K_SYSLOG_IDENTIFIER), CK("SYSLOG_PID", K_SYSLOG_PID),
        C("SYSLOG_TIMESTAMP"), C("SYSLOG_RAW"), C("DOCUMENTATION"), C("TID"), C("UNIT"),
        C("USER_UNIT"), CK("_PID", K_PID), C("_UID"), C("_GID"), CK("_COMM", K_COMM), C("_EXE"),
        C("_CMDLINE"), C("_CAP_EFFECTIVE"), C("_AUDIT_SESSION"), C("_AUDIT_LOGINUID"),
        C("_SYSTEMD_CGROUP"), C("_SYSTEMD_SLICE"), C("_SYSTEMD_UNIT"), C("_SYSTEMD_USER_UNIT"),
        C("_SYSTEMD_USER_SLICE"), C("_SYSTEMD_SESSION"), C("_SYSTEMD_OWNER_UID"),
        C("_SYSTEMD_INVOCATION_ID"), C("_SELINUX_CONTEXT"),
        CK("_SOURCE_REALTIME_TIMESTAMP", K_SOURCE_REALTIME), C("_SOURCE_MONOTONIC_TIMESTAMP"),
        C("_MACHINE_ID"), CK("_HOSTNAME", K_HOSTNAME), CK("_TRANSPORT", K_TRANSPORT),
        C("_STREAM_ID"), C("_LINE_BREAK"), C("_NAMESPACE"), C("_RUNTIME_SCOPE"),
        C("_KERNEL_DEVICE"), C("_KERNEL_SUBSYSTEM"), C("_UDEV_SYSNAME"), C("_UDEV_DEVNODE"),
        C("_UDEV_DEVLINK"), C("_AUDIT_TYPE"), C("_AUDIT_ID"), C("_AUDIT_FIELD_SYSCALL"),
#undef C
#undef CK
};

_Static_assert(sizeof(common_names) / sizeof(common_names[0]) <= 64,
               "common_seen has a bit per common name");

/* A field name's hash: its top 6 bits pick its bit in the 64-bit name filter, its low bits
 * its slot among the common names. Eight bytes a step, the last step's bytes overlapping the
 * one before (issue 12: FNV-1a's byte loop was ~80 instructions per name). Only the filter
 * and the slot depend on it: a name is always compared whole before it counts as found. */
static uint32_t name_hash(const char *name, size_t n)
{
        const uint64_t k = UINT64_C(0x9E3779B97F4A7C15);
        uint64_t h = k ^ n, w = 0;
        size_t i = 0;

        if (n >= 8) {
                for (; i + 8 < n; i += 8) {
                        memcpy(&w, name + i, 8);
                        h = (h ^ w) * k;
                        h ^= h >> 29;
                }
                memcpy(&w, name + n - 8, 8);
        } else if (n >= 4) {
                uint32_t lo, hi;

                memcpy(&lo, name, 4);
                memcpy(&hi, name + n - 4, 4);
                w = (uint64_t)hi << 32 | lo;
        } else {
                for (; i < n; i++)
                        w = w << 8 | (unsigned char)name[i];
        }
        h = (h ^ w) * k;
        h ^= h >> 32;
        return (uint32_t)(h * k >> 32);
}

static uint64_t name_bit(uint32_t h)
{
        return UINT64_C(1) << (h >> 26);
}

/* The index of name in common_names, or -1. */
static int common_find(const struct norm_journal *b, uint32_t h, const char *name, size_t n)
{
        for (uint32_t i = h; b->common_slot[i % COMMON_SLOTS]; i++) {
                int k = b->common_slot[i % COMMON_SLOTS] - 1;

                if (common_names[k].len == n && !memcmp(common_names[k].name, name, n))
                        return k;
        }
        return -1;
}

/* The members norm_journal_begin puts first in the journal object (header_put). */
static const char *const header_keys[] = { "__CURSOR", "__REALTIME_TIMESTAMP",
                                           "__MONOTONIC_TIMESTAMP", "_BOOT_ID" };

int norm_journal_new(size_t field_max, struct norm_journal **ret)
{
        struct norm_journal *b = calloc(1, sizeof(*b));

        if (!b)
                return -ENOMEM;
        b->field_max = field_max;
        b->tcache[0].sec = b->tcache[1].sec = -1;
        for (size_t i = 0; i < sizeof(header_keys) / sizeof(header_keys[0]); i++)
                b->header_names |= name_bit(name_hash(header_keys[i], strlen(header_keys[i])));
        for (size_t k = 0; k < sizeof(common_names) / sizeof(common_names[0]); k++) {
                uint32_t i = name_hash(common_names[k].name, common_names[k].len);

                while (b->common_slot[i % COMMON_SLOTS])
                        i++;
                b->common_slot[i % COMMON_SLOTS] = (uint8_t)(k + 1);
        }
        *ret = b;
        return 0;
}

int norm_journal_recycle(struct norm_journal *b, struct recycle *const *rc, size_t n_rc)
{
        if (n_rc > sizeof(b->rc) / sizeof(b->rc[0]))
                return -EINVAL;
        for (size_t i = 0; i < n_rc; i++)
                b->rc[i] = rc[i];
        b->n_rc = n_rc;
        return 0;
}

void norm_journal_free(struct norm_journal *b)
{
        if (!b)
                return;
        json_free(b->rec);
        buf_free(&b->msg);
        free(b);
}

static void error_add(struct norm_journal *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void error_add(struct norm_journal *b, const char *fmt, ...)
{
        size_t used = strlen(b->error);
        va_list ap;

        if (used + 3 >= sizeof(b->error))
                return;
        if (used) {
                memcpy(b->error + used, "; ", 3);
                used += 2;
        }
        va_start(ap, fmt);
        vsnprintf(b->error + used, sizeof(b->error) - used, fmt, ap);
        va_end(ap);
}

/* Eight bytes that are all printable ASCII (0x20..0x7E): no high bit, none below 0x20, no
 * 0x7F (the "has less than" and "has zero byte" word tests; exact as yes/no answers). */
static inline bool ascii_printable8(uint64_t w)
{
        const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones * 0x80;
        uint64_t del = w ^ (ones * 0x7F);

        return !((w | ((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & highs);
}

/* Whether s[0..n) is all printable ASCII, in a few overlapping loads (issue 12: the byte
 * loop of export_printable cost ~140 instructions per field, most of it the tail after the
 * last whole word). */
static bool ascii_printable_all(const unsigned char *s, size_t n)
{
        uint64_t w, w2;

        if (n >= 16) {
#ifdef __SSE2__
                /* As signed bytes, printable ASCII is exactly 0x20..0x7E. */
                const __m128i lo = _mm_set1_epi8(0x1F), hi = _mm_set1_epi8(0x7F);
                size_t i = 0;

                for (;;) {
                        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));

                        if (_mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi8(v, lo),
                                                            _mm_cmplt_epi8(v, hi))) != 0xFFFF)
                                return false;
                        if (i + 16 == n)
                                return true;
                        i = n - i - 16 >= 16 ? i + 16 : n - 16; /* the last 16 overlap */
                }
#else
                for (size_t i = 0; i + 8 <= n; i += 8) {
                        memcpy(&w, s + i, 8);
                        if (!ascii_printable8(w))
                                return false;
                }
                memcpy(&w, s + n - 8, 8);
                return ascii_printable8(w);
#endif
        }
        if (n >= 8) {
                memcpy(&w, s, 8);
                memcpy(&w2, s + n - 8, 8);
                return ascii_printable8(w) && ascii_printable8(w2);
        }
        if (n >= 4) {
                uint32_t a, b;

                memcpy(&a, s, 4);
                memcpy(&b, s + n - 4, 4);
                return ascii_printable8((uint64_t)a << 32 | b);
        }
        for (size_t i = 0; i < n; i++)
                if (s[i] < 0x20 || s[i] > 0x7E)
                        return false;
        return true;
}

/* systemd's utf8_encoded_valid_unichar + unichar_is_control, as described at the top.
 * A field of printable ASCII (nearly every one) is passed whole by ascii_printable_all; in
 * others, runs of printable ASCII are passed eight bytes at a time (performance, issue 12:
 * this byte loop was ~450 instructions per field). */
static bool export_printable(const unsigned char *s, size_t n)
{
        size_t i = 0;

        if (ascii_printable_all(s, n))
                return true; /* nearly every field */
        while (i < n) {
                unsigned char c = s[i];
                uint64_t w;

                if (n - i >= 8) {
                        memcpy(&w, s + i, 8);
                        if (ascii_printable8(w)) {
                                i += 8;
                                continue;
                        }
                }
                size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                             : (c & 0xF8) == 0xF0 ? 4 : 0;
                uint32_t u;

                if (len == 0 || len > n - i)
                        return false;
                u = len == 1 ? c : c & (0x7F >> len);
                for (size_t k = 1; k < len; k++) {
                        if ((s[i + k] & 0xC0) != 0x80)
                                return false;
                        u = u << 6 | (s[i + k] & 0x3F);
                }
                /* Overlong forms, the end of Unicode, surrogates, non-characters. */
                if ((len == 2 && u < 0x80) || (len == 3 && u < 0x800) ||
                    (len == 4 && u < 0x10000) || u >= 0x110000 || (u & 0xFFFFF800) == 0xD800 ||
                    (u >= 0xFDD0 && u <= 0xFDEF) || (u & 0xFFFE) == 0xFFFE)
                        return false;
                if ((u < ' ' && u != '\t') || (u >= 0x7F && u <= 0x9F))
                        return false;
                i += len;
        }
        return true;
}

static void md_flush(struct norm_journal *b)
{
        hash_sha256_update(&b->md, b->hbuf, b->hlen);
        b->hlen = 0;
}

static void md_put(struct norm_journal *b, const void *p, size_t n)
{
        if (n > sizeof(b->hbuf) - b->hlen) {
                md_flush(b);
                if (n >= sizeof(b->hbuf)) {
                        hash_sha256_update(&b->md, p, n);
                        return;
                }
        }
        memcpy(b->hbuf + b->hlen, p, n);
        b->hlen += n;
}

/* Decimal digits of v into out (21 bytes); returns the length (no NUL). */
static size_t u64_dec(uint64_t v, char *out)
{
        char tmp[20];
        size_t n = 0, i = 0;

        do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        while (n)
                out[i++] = tmp[--n];
        return i;
}

/* Adds a header member (its key a literal, new in the object). */
static int header_put(struct norm_journal *b, const char *key, size_t key_len, json *v)
{
        if (!v)
                return -ENOMEM;
        return json_obj_add_staticn(b->fields, key, key_len, v);
}

/* json_new_str_lossy_in, without its byte-by-byte pass when s is printable ASCII (a cursor,
 * a boot id: always, from the library; issue 12). */
static json *text_lossy(json *rec, const char *s, size_t n)
{
        if (export_printable((const unsigned char *)s, n))
                return json_new_strn_valid_in(rec, s, n);
        return json_new_str_lossy_in(rec, s, n, NULL);
}

int norm_journal_begin(struct norm_journal *b, const char *cursor, uint64_t realtime_us,
                       uint64_t monotonic_us, const char *boot_id)
{
        /* "\n__REALTIME_TIMESTAMP=" 20 digits "\n__MONOTONIC_TIMESTAMP=" 20 digits
         * "\n_BOOT_ID=" boot_id "\n": the boot id is 32 hex digits; a longer one is hashed
         * apart. */
        char line[160], rt[21], mt[21];
        size_t cursor_len = strlen(cursor), boot_len = strlen(boot_id), n, rt_len, mt_len;
        int r;

        /* The record's root and the journal object first, so that every field is built
         * in the record's arena (issue 12: one malloc per entry, not one per field). */
        json_free(b->rec);
        b->rec = json_new_obj_recycled(b->rc, b->n_rc, 4096);
        b->fields = b->rec && json_obj_reserve(b->rec, 28) == 0 ? json_new_obj_in(b->rec) : NULL;
        buf_reset(&b->msg);
        b->has_msg = false;
        b->msg_node = NULL;
        b->flags = 0;
        b->error[0] = '\0';
        b->names = b->header_names; /* the four header members' */
        b->common_seen = 0;
        memset(b->known, 0, sizeof(b->known));
        b->realtime_us = (int64_t)(realtime_us > (uint64_t)INT64_MAX ? 0 : realtime_us);
        hash_sha256_begin(&b->md);
        b->hlen = 0;
        if (!b->fields || json_obj_reserve(b->fields, JOURNAL_RESERVE) < 0) {
                b->fields = NULL; /* finish refuses the entry */
                return -ENOMEM;
        }
        /* The header lines journalctl prints before the fields (issue 12: formatted by
         * hand, not by snprintf, and hashed in one piece). */
        rt_len = u64_dec(realtime_us, rt);
        mt_len = u64_dec(monotonic_us, mt);
        md_put(b, "__CURSOR=", 9);
        md_put(b, cursor, cursor_len);
#define LIT(s) s, sizeof(s) - 1
#define CAT_(p, l) (memcpy(line + n, (p), (l)), n += (l))
#define CAT(...) CAT_(__VA_ARGS__)
        n = 0;
        CAT(LIT("\n__REALTIME_TIMESTAMP="));
        CAT(rt, rt_len);
        CAT(LIT("\n__MONOTONIC_TIMESTAMP="));
        CAT(mt, mt_len);
        CAT(LIT("\n_BOOT_ID="));
        if (boot_len <= sizeof(line) - n - 1) {
                CAT(boot_id, boot_len);
                CAT("\n", 1);
                md_put(b, line, n);
        } else {
                md_put(b, line, n);
                md_put(b, boot_id, boot_len);
                md_put(b, "\n", 1);
        }
#undef CAT
#undef CAT_
        r = header_put(b, LIT("__CURSOR"), text_lossy(b->rec, cursor, cursor_len));
        if (r == 0)
                r = header_put(b, LIT("__REALTIME_TIMESTAMP"),
                               json_new_strn_valid_in(b->rec, rt, rt_len)); /* digits */
        if (r == 0)
                r = header_put(b, LIT("__MONOTONIC_TIMESTAMP"),
                               json_new_strn_valid_in(b->rec, mt, mt_len));
        if (r == 0)
                r = header_put(b, LIT("_BOOT_ID"), text_lossy(b->rec, boot_id, boot_len));
#undef LIT
        return r;
}

/* The JSON form of a value: a string when it can be one exactly, else {"base64": ...}.
 * The string constructor checks the bytes itself, so the common case scans them once; its
 * NULL is told apart (out of memory, or not text) only then (issue 12). */
static json *value_json(json *rec, const char *v, size_t n, bool printable)
{
        json *o, *s;

        /* A value that passed export_printable whole is valid UTF-8 without NUL (systemd's
         * rule is the stricter one): not checked a second time (issue 12). */
        if (printable)
                return json_new_strn_valid_in(rec, v, n);
        s = json_new_strn_in(rec, v, n);
        char *b64;

        if (s || json_utf8_valid(v, n))
                return s;
        o = json_new_obj_in(rec);
        b64 = norm_base64(v, n);
        if (!o || !b64 || json_obj_set_str(o, "base64", b64) < 0) {
                free(b64);
                return NULL; /* o, in rec's arena, goes with rec */
        }
        free(b64);
        return o;
}

/* A byte of the field names journald writes: A-Z, 0-9, '_' (and a-z for some trusted
 * ones). */
static bool name_char(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               (c >= 'a' && c <= 'z');
}

/* Sets fields[name] = val, or appends to the values of a repeated field. A common name is
 * appended with its literal key unless this entry had it already; another name is appended
 * without a lookup when its filter bit is clear (most fields). A name that is not a common
 * one is checked: one of other bytes than name_char() takes the full check (a JSON key:
 * valid UTF-8 without NUL). */
static int field_put(struct norm_journal *b, const char *name, size_t name_len, json *val)
{
        json *fields = b->fields;
        char key[256];
        uint32_t h;
        uint64_t bit;
        json *old, *arr;
        bool plain = true;
        int k;

        if (!val)
                return -ENOMEM;
        if (name_len >= sizeof(key)) {
                json_free(val);
                return -EINVAL;
        }
        h = name_hash(name, name_len);
        bit = name_bit(h);
        /* A common name is found by comparing it whole, so it is text: only another name
         * is checked (issue 12: every name's bytes were checked first). */
        k = common_find(b, h, name, name_len);
        if (k < 0) {
                for (size_t i = 0; i < name_len; i++)
                        plain &= name_char((unsigned char)name[i]);
                if (!plain && (memchr(name, '\0', name_len) ||
                               !json_utf8_valid(name, name_len))) {
                        json_free(val);
                        return -EINVAL;
                }
        }
        if (k >= 0 && !(b->common_seen & UINT64_C(1) << k)) {
                /* The common case: a well-known name, new in the entry. val is in the
                 * record's arena, so it stays this node in the object. */
                b->common_seen |= UINT64_C(1) << k;
                b->names |= bit;
                if (common_names[k].known < K__MAX)
                        b->known[common_names[k].known] = val;
                return json_obj_add_staticn(fields, common_names[k].name, name_len, val);
        }
        memcpy(key, name, name_len);
        key[name_len] = '\0';
        /* A common name here was seen in this entry: it is found. */
        old = b->names & bit ? json_obj_get(fields, key) : NULL;
        b->names |= bit;
        if (!old)
                return json_obj_add(fields, key, val);
        if (json_type_of(old) == JSON_ARR)
                return json_arr_append(old, val);
        arr = json_new_arr_in(fields);
        if (!arr) {
                json_free(val);
                return -ENOMEM;
        }
        /* Both appends take ownership, also on failure; old is of this tree, so it moves
         * into arr without a copy (the member it was is replaced just below). */
        if (json_arr_append(arr, old) < 0) {
                json_free(val);
                json_free(arr);
                return -ENOMEM;
        }
        if (json_arr_append(arr, val) < 0) {
                json_free(arr);
                return -ENOMEM;
        }
        return json_obj_set(fields, key, arr);
}

int norm_journal_add(struct norm_journal *b, const void *data, size_t len)
{
        const char *d = data, *eq = memchr(d, '=', len);
        size_t name_len = eq ? (size_t)(eq - d) : 0;
        const char *v = eq ? eq + 1 : d;
        size_t vlen = eq ? len - name_len - 1 : len, keep = vlen;
        bool printable = eq && export_printable(data, len);
        json *val;
        int r;

        /* Export format: the field as one line, or FIELD '\n' le64(len) value. */
        if (printable) {
                md_put(b, d, len);
        } else {
                uint8_t le[8];

                for (int i = 0; i < 8; i++)
                        le[i] = (uint8_t)((uint64_t)vlen >> (8 * i));
                md_put(b, d, name_len);
                md_put(b, "\n", 1);
                md_put(b, le, 8);
                md_put(b, v, vlen);
        }
        md_put(b, "\n", 1);

        if (!eq) {
                b->flags |= 1u << JF_JOURNAL_BAD_DATA;
                error_add(b, "a field without '='");
        }
        if (keep > b->field_max) {
                keep = b->field_max;
                b->flags |= 1u << JF_TRUNCATED;
                error_add(b, "%.*s cut at %zu of %zu bytes", (int)(name_len > 64 ? 64 : name_len),
                          d, keep, vlen);
        }
        /* A cut value may end inside a character: checked. */
        val = value_json(b->rec, v, keep, printable && keep == vlen);
        r = field_put(b, d, name_len, val);
        if (r == 0 && printable && keep == vlen && name_len == 7 && !memcmp(d, "MESSAGE", 7) &&
            !b->has_msg) {
                /* The message member is this value's text, known valid: not copied aside
                 * and checked again (issue 12). */
                b->has_msg = true;
                b->msg_node = val;
                return 0;
        }
        if (r == -EINVAL) {
                /* A field name that cannot be a JSON key: journald refuses such names, so
                 * only a damaged file has them; keep the value under "". */
                b->flags |= 1u << JF_JOURNAL_BAD_DATA;
                error_add(b, "a field name that is not text");
                r = field_put(b, "", 0, value_json(b->rec, v, keep, printable && keep == vlen));
        }
        if (r < 0)
                return r;
        if (name_len == 7 && !memcmp(d, "MESSAGE", 7) && !b->has_msg) {
                b->has_msg = true;
                r = buf_append(&b->msg, v, keep);
        }
        return r < 0 ? -ENOMEM : 0;
}

void norm_journal_bad(struct norm_journal *b, const char *what)
{
        b->flags |= 1u << JF_JOURNAL_BAD_DATA;
        error_add(b, "%s", what);
}

int norm_journal_finish(struct norm_journal *b, const char *name, int64_t received_us,
                        json **ret_rec)
{
        uint8_t h[HASH_LEN];
        json *rec = b->rec;
        int r;

        if (!b->fields || !rec)
                return -EINVAL;
        md_put(b, "\n", 1); /* the empty line that ends an entry */
        md_flush(b);
        hash_sha256_end(&b->md, h);
        b->rec = NULL;
        r = norm_journal_build(b, rec, name, received_us, h);
        b->fields = NULL;
        if (r < 0) {
                json_free(rec);
                return r;
        }
        *ret_rec = rec;
        return 0;
}
