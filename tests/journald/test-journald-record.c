/* normalize/journald.c: tables of journal entries in, record members out (canonical JSON),
 * and raw_sha256 against the export-format bytes written out by hand in each case and
 * hashed here with OpenSSL's EVP directly. The integration test checks the same hash against
 * `journalctl -o export` itself. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/recycle.h"
#include "core/tm.h"
#include "normalize/journald.h"

#define CUR "s=abc;i=1;b=0123456789abcdef0123456789abcdef;m=10;t=60a24181e4000;x=1"
#define BOOT "0123456789abcdef0123456789abcdef"
#define RT 1700000000000000ULL
#define HDR "__CURSOR=" CUR "\n__REALTIME_TIMESTAMP=1700000000000000\n" \
            "__MONOTONIC_TIMESTAMP=16\n_BOOT_ID=" BOOT "\n"
/* A literal with NUL bytes inside, and its length. */
#define F(s) { s, sizeof(s) - 1 }

struct field {
        const char *p;
        size_t n;
};

struct tcase {
        const char *name;
        struct field fields[8];
        size_t field_max;           /* 0: JOURNALD_FIELD_MAX-like 64 KiB */
        struct field export;        /* the export-format bytes after the header lines */
        const char *expect[16];     /* "path=canonical JSON" */
};

static const struct tcase cases[] = {
        { "sshd login",
          { F("_TRANSPORT=syslog"), F("PRIORITY=6"), F("SYSLOG_FACILITY=10"),
            F("SYSLOG_IDENTIFIER=sshd"), F("_PID=812"), F("_COMM=sshd"), F("_HOSTNAME=web1"),
            F("MESSAGE=Accepted publickey for alice") },
          0,
          F("_TRANSPORT=syslog\nPRIORITY=6\nSYSLOG_FACILITY=10\nSYSLOG_IDENTIFIER=sshd\n"
            "_PID=812\n_COMM=sshd\n_HOSTNAME=web1\nMESSAGE=Accepted publickey for alice\n\n"),
          { "source={\"kind\":\"journald\",\"name\":\"h1\",\"peer\":null,\"transport\":\"syslog\"}",
            "format=\"journald\"", "host=\"web1\"", "app=\"sshd\"", "pid=812",
            "procid=\"812\"", "facility=\"authpriv\"", "severity=\"info\"",
            "message=\"Accepted publickey for alice\"", "flags=[]", "error=null",
            "time=\"2023-11-14T22:13:20.000000Z\"", "journal._COMM=\"sshd\"",
            "journal.__CURSOR=\"" CUR "\"", "journal._BOOT_ID=\"" BOOT "\"",
            "criteria=[]" } },
        { "comm when no identifier, SYSLOG_PID, source time",
          { F("_COMM=cron"), F("SYSLOG_PID=77"), F("_SOURCE_REALTIME_TIMESTAMP=1700000000123456"),
            F("MESSAGE=job") },
          0, F("_COMM=cron\nSYSLOG_PID=77\n_SOURCE_REALTIME_TIMESTAMP=1700000000123456\nMESSAGE=job\n\n"),
          { "app=\"cron\"", "pid=77", "time=\"2023-11-14T22:13:20.123456Z\"", "host=null",
            "severity=null", "facility=null", "source.transport=null",
            "journal.__REALTIME_TIMESTAMP=\"1700000000000000\"" } },
        { "bad numbers are null",
          { F("PRIORITY=9"), F("SYSLOG_FACILITY=x"), F("_PID=12a"), F("_SOURCE_REALTIME_TIMESTAMP=-5"),
            F("MESSAGE=m") },
          0, F("PRIORITY=9\nSYSLOG_FACILITY=x\n_PID=12a\n_SOURCE_REALTIME_TIMESTAMP=-5\nMESSAGE=m\n\n"),
          { "severity=null", "facility=null", "pid=null", "procid=\"12a\"",
            "time=\"2023-11-14T22:13:20.000000Z\"" } },
        { "newline: binary export form, text in the record",
          { F("MESSAGE=a\nb") },
          0, F("MESSAGE\n\x03\0\0\0\0\0\0\0a\nb\n\n"),
          { "message=\"a\\nb\"", "journal.MESSAGE=\"a\\nb\"", "flags=[]" } },
        { "invalid UTF-8: base64 and flagged",
          { F("MESSAGE=ab\xff"), F("DATA=\0\1") },
          0, F("MESSAGE\n\x03\0\0\0\0\0\0\0ab\xff\nDATA\n\x02\0\0\0\0\0\0\0\0\1\n\n"),
          { "message=\"ab\xEF\xBF\xBD\"", "journal.MESSAGE={\"base64\":\"YWL/\"}",
            "journal.DATA={\"base64\":\"AAE=\"}", "flags=[\"invalid_utf8\"]" } },
        { "control character and C1: binary export form, valid text in the record",
          { F("A=x\x01y"), F("B=\xc2\x85"), F("C=tab\there") },
          0, F("A\n\x03\0\0\0\0\0\0\0x\x01y\nB\n\x02\0\0\0\0\0\0\0\xc2\x85\nC=tab\there\n\n"),
          { "journal.A=\"x\\u0001y\"", "journal.B=\"\xc2\x85\"", "journal.C=\"tab\\there\"",
            "message=null" } },
        { "repeated field becomes an array",
          { F("TAG=a"), F("TAG=b"), F("TAG=c"), F("MESSAGE=first"), F("MESSAGE=second") },
          0, F("TAG=a\nTAG=b\nTAG=c\nMESSAGE=first\nMESSAGE=second\n\n"),
          { "journal.TAG=[\"a\",\"b\",\"c\"]", "message=\"first\"",
            "journal.MESSAGE=[\"first\",\"second\"]" } },
        { "field cut at the cap, hash over all",
          { F("MESSAGE=0123456789"), F("X=ok") },
          4, F("MESSAGE=0123456789\nX=ok\n\n"),
          { "message=\"0123\"", "journal.MESSAGE=\"0123\"", "flags=[\"truncated\"]",
            "error=\"MESSAGE cut at 4 of 10 bytes\"", "journal.X=\"ok\"" } },
        { "data without '='",
          { F("NOEQUALS"), F("MESSAGE=m") },
          0, F("\n\x08\0\0\0\0\0\0\0NOEQUALS\nMESSAGE=m\n\n"),
          { "journal.=\"NOEQUALS\"", "flags=[\"journal_bad_data\"]" } },
        /* The builder remembers the first value of the fields the record's members come from
         * as they are added (issue 12): a repeated one still decides by its first value. */
        { "repeated known fields: the first value decides",
          { F("_PID=5"), F("SYSLOG_IDENTIFIER=a"), F("_HOSTNAME=h"), F("_PID=6"),
            F("SYSLOG_IDENTIFIER=b"), F("_HOSTNAME=g"), F("PRIORITY=3"), F("PRIORITY=7") },
          0, F("_PID=5\nSYSLOG_IDENTIFIER=a\n_HOSTNAME=h\n_PID=6\nSYSLOG_IDENTIFIER=b\n"
               "_HOSTNAME=g\nPRIORITY=3\nPRIORITY=7\n\n"),
          { "pid=5", "procid=\"5\"", "app=\"a\"", "host=\"h\"", "severity=\"err\"",
            "journal._PID=[\"5\",\"6\"]", "journal.SYSLOG_IDENTIFIER=[\"a\",\"b\"]",
            "journal.PRIORITY=[\"3\",\"7\"]" } },
        { "a known field whose first value is not text",
          { F("_HOSTNAME=\xff"), F("_HOSTNAME=ok"), F("_COMM=c") },
          0, F("_HOSTNAME\n\x01\0\0\0\0\0\0\0\xff\n_HOSTNAME=ok\n_COMM=c\n\n"),
          { "host=null", "app=\"c\"", "journal._HOSTNAME=[{\"base64\":\"/w==\"},\"ok\"]",
            "flags=[]" } },
        { "fields named like the header members join their values",
          { F("__CURSOR=x"), F("_BOOT_ID=y"), F("__REALTIME_TIMESTAMP=1") },
          0, F("__CURSOR=x\n_BOOT_ID=y\n__REALTIME_TIMESTAMP=1\n\n"),
          { "journal.__CURSOR=[\"" CUR "\",\"x\"]", "journal._BOOT_ID=[\"" BOOT "\",\"y\"]",
            "journal.__REALTIME_TIMESTAMP=[\"1700000000000000\",\"1\"]",
            "time=\"2023-11-14T22:13:20.000000Z\"" } },
        { "empty entry",
          { { NULL, 0 } },
          0, F("\n"),
          { "message=null", "app=null", "flags=[]", "sd={}" } },
};

static const char *const members[] = {
        "received", "time", "source", "format", "host", "app", "msgid", "pid", "procid",
        "facility", "severity", "message", "sd", "rule", "actor", "action", "target",
        "outcome", "criteria", "raw_sha256", "raw", "raw_b64", "flags", "error", "journal",
};

static void sha256_hex(const void *p, size_t n, char out[65])
{
        unsigned char h[32];
        unsigned hl = 0;

        assert_int_equal(EVP_Digest(p, n, h, &hl, EVP_sha256(), NULL), 1);
        for (int i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", h[i]);
}

static int check_expect(const char *name, const json *rec, const char *exp)
{
        const char *eq;
        char path[128];
        struct buf got = BUF_INIT;
        const json *v;
        int bad = 0;

        /* "journal.=..." names the field with an empty name. */
        if (!strncmp(exp, "journal.=", 9))
                eq = exp + 8;
        else
                eq = strchr(exp, '=');
        assert_non_null(eq);
        memcpy(path, exp, (size_t)(eq - exp));
        path[eq - exp] = '\0';
        v = !strcmp(path, "journal.") ? json_obj_get(json_obj_get(rec, "journal"), "")
                                      : json_path_get(rec, path);
        if (!v) {
                print_error("case \"%s\": %s missing\n", name, path);
                return 1;
        }
        assert_int_equal(json_canon(v, &got), 0);
        if (strcmp(got.data, eq + 1) != 0) {
                print_error("case \"%s\": %s = %s, want %s\n", name, path, got.data, eq + 1);
                bad = 1;
        }
        buf_free(&got);
        return bad;
}

static void test_table(void **state)
{
        int failures = 0;

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct tcase *c = &cases[i];
                struct norm_journal *b = NULL;
                struct buf exp = BUF_INIT;
                char want[65];
                json *rec = NULL;
                const char *got;

                assert_int_equal(norm_journal_new(c->field_max ? c->field_max : 65536, &b), 0);
                assert_int_equal(norm_journal_begin(b, CUR, RT, 16, BOOT), 0);
                for (size_t k = 0; k < 8 && c->fields[k].p; k++)
                        assert_int_equal(norm_journal_add(b, c->fields[k].p, c->fields[k].n), 0);
                assert_int_equal(norm_journal_finish(b, "h1", RT + 5, &rec), 0);
                for (size_t k = 0; k < sizeof(members) / sizeof(members[0]); k++)
                        if (!json_obj_get(rec, members[k])) {
                                print_error("case \"%s\": member %s missing\n", c->name,
                                            members[k]);
                                failures++;
                        }
                assert_int_equal(buf_puts(&exp, HDR), 0);
                assert_int_equal(buf_append(&exp, c->export.p, c->export.n), 0);
                sha256_hex(exp.data, exp.len, want);
                got = json_str(json_obj_get(rec, "raw_sha256"), NULL);
                if (!got || strcmp(got, want) != 0) {
                        print_error("case \"%s\": raw_sha256 %s, want %s\n", c->name,
                                    got ? got : "(none)", want);
                        failures++;
                }
                for (size_t k = 0; k < 16 && c->expect[k]; k++)
                        failures += check_expect(c->name, rec, c->expect[k]);
                json_free(rec);
                buf_free(&exp);
                norm_journal_free(b);
        }
        assert_int_equal(failures, 0);
}

/* The builder is reused: nothing of one entry leaks into the next. */
static void test_reuse(void **state)
{
        struct norm_journal *b = NULL;
        json *r1 = NULL, *r2 = NULL;
        struct buf c1 = BUF_INIT, c2 = BUF_INIT;

        (void)state;
        assert_int_equal(norm_journal_new(4, &b), 0);
        assert_int_equal(norm_journal_begin(b, CUR, RT, 16, BOOT), 0);
        assert_int_equal(norm_journal_add(b, "MESSAGE=\xff\xff\xff\xff\xff", 13), 0);
        assert_int_equal(norm_journal_finish(b, "h1", RT, &r1), 0);
        assert_int_equal(norm_journal_begin(b, CUR, RT, 16, BOOT), 0);
        assert_int_equal(norm_journal_add(b, "MESSAGE=ok", 10), 0);
        assert_int_equal(norm_journal_finish(b, "h1", RT, &r2), 0);
        assert_int_equal(json_canon(json_obj_get(r1, "flags"), &c1), 0);
        assert_int_equal(json_canon(json_obj_get(r2, "flags"), &c2), 0);
        assert_string_equal(c1.data, "[\"invalid_utf8\",\"truncated\"]");
        assert_string_equal(c2.data, "[]");
        assert_string_equal(json_str(json_obj_get(r2, "message"), NULL), "ok");
        assert_null(json_obj_get(json_obj_get(r2, "journal"), "X"));
        json_free(r1);
        json_free(r2);
        buf_free(&c1);
        buf_free(&c2);
        norm_journal_free(b);
}

/* Records in recycled blocks (performance, issue 12) are the same records: every table case
 * through one builder with a recycler (block big enough, and one so small that the entry
 * spills into malloc'd chunks) and through one without, entry after entry (so that blocks
 * come back and are reused). */
static void test_recycled(void **state)
{
        static const size_t sizes[] = { 8192, 4200 };

        (void)state;
        for (size_t s = 0; s < 2; s++) {
                struct norm_journal *plain = NULL, *rb = NULL;
                struct recycle *rc;

                assert_int_equal(recycle_new(sizes[s], 2, &rc), 0);
                assert_int_equal(norm_journal_new(65536, &plain), 0);
                assert_int_equal(norm_journal_new(65536, &rb), 0);
                assert_int_equal(norm_journal_recycle(rb, &rc, 3), -EINVAL);
                assert_int_equal(norm_journal_recycle(rb, &rc, 1), 0);
                for (size_t round = 0; round < 3; round++)
                        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                                const struct tcase *c = &cases[i];
                                struct norm_journal *bs[2] = { plain, rb };
                                struct buf out[2] = { BUF_INIT, BUF_INIT };
                                json *rec[2] = { NULL, NULL };

                                for (int k = 0; k < 2; k++) {
                                        assert_int_equal(norm_journal_begin(bs[k], CUR, RT, 16,
                                                                            BOOT), 0);
                                        for (size_t f = 0; f < 8 && c->fields[f].p; f++)
                                                assert_int_equal(norm_journal_add(bs[k],
                                                                                  c->fields[f].p,
                                                                                  c->fields[f].n),
                                                                 0);
                                        assert_int_equal(norm_journal_finish(bs[k], "h1",
                                                                             RT + 5, &rec[k]),
                                                         0);
                                        assert_int_equal(json_canon(rec[k], &out[k]), 0);
                                }
                                assert_int_equal(out[0].len, out[1].len);
                                assert_memory_equal(out[0].data, out[1].data, out[0].len);
                                for (int k = 0; k < 2; k++) {
                                        json_free(rec[k]);
                                        buf_free(&out[k]);
                                }
                        }
                /* An entry begun and never finished gives its block back too. */
                assert_int_equal(norm_journal_begin(rb, CUR, RT, 16, BOOT), 0);
                norm_journal_free(plain);
                norm_journal_free(rb);
                recycle_release(rc);
        }
}

/* An entry with more field names than the builder's 64-bit name filter has bits (it then
 * looks names up): every name once, repeated ones as arrays in order, nothing twice; a
 * name too long to be a key goes under "" as before. */
static void test_many_fields(void **state)
{
        struct norm_journal *b = NULL;
        char f[400], name[8];
        json *rec = NULL;
        const json *j, *v;

        (void)state;
        assert_int_equal(norm_journal_new(65536, &b), 0);
        assert_int_equal(norm_journal_begin(b, CUR, RT, 16, BOOT), 0);
        for (int round = 0; round < 2; round++)
                for (int i = 0; i < 150; i++) {
                        int n = snprintf(f, sizeof(f), "F%03d=%d.%d", i, i, round);

                        if (round == 1 && i % 7)
                                continue; /* every seventh name twice */
                        assert_int_equal(norm_journal_add(b, f, (size_t)n), 0);
                }
        memset(f, 'L', 300);
        memcpy(f + 300, "=long", 5);
        assert_int_equal(norm_journal_add(b, f, 305), 0);
        assert_int_equal(norm_journal_add(b, "_PID=9", 6), 0);
        assert_int_equal(norm_journal_finish(b, "h1", RT, &rec), 0);
        j = json_obj_get(rec, "journal");
        /* 4 header members, 150 names, "" and _PID */
        assert_int_equal(json_len(j), 4 + 150 + 2);
        for (int i = 0; i < 150; i++) {
                char want[32];

                snprintf(name, sizeof(name), "F%03d", i);
                v = json_obj_get(j, name);
                assert_non_null(v);
                if (i % 7) {
                        snprintf(want, sizeof(want), "%d.0", i);
                        assert_string_equal(json_str(v, NULL), want);
                } else {
                        assert_int_equal(json_type_of(v), JSON_ARR);
                        assert_int_equal(json_len(v), 2);
                        snprintf(want, sizeof(want), "%d.1", i);
                        assert_string_equal(json_str(json_arr_at(v, 1), NULL), want);
                }
        }
        assert_string_equal(json_str(json_obj_get(j, ""), NULL), "long");
        assert_int_equal(json_int(json_obj_get(rec, "pid")), 9);
        assert_non_null(strstr(json_str(json_obj_get(rec, "error"), NULL),
                               "a field name that is not text"));
        json_free(rec);
        norm_journal_free(b);
}

static void test_gap_and_unreadable(void **state)
{
        json *g = NULL, *u = NULL;
        struct buf f = BUF_INIT;

        (void)state;
        assert_int_equal(norm_journal_gap("h1", CUR, (int64_t)RT, "s=x;i=9", (int64_t)RT + 1000,
                                          -1, "why", (int64_t)RT + 5, &g), 0);
        assert_int_equal(json_canon(json_obj_get(g, "flags"), &f), 0);
        assert_string_equal(f.data, "[\"journal_gap\"]");
        assert_string_equal(json_str(json_path_get(g, "journal.gap_after_cursor"), NULL), CUR);
        assert_string_equal(json_str(json_path_get(g, "journal.gap_before_time"), NULL),
                            "2023-11-14T22:13:20.001000Z");
        assert_string_equal(json_str(json_path_get(g, "source.kind"), NULL), "journald");
        assert_non_null(strstr(json_str(json_obj_get(g, "message"), NULL),
                               "between 2023-11-14T22:13:20.000000Z and"));
        for (size_t k = 0; k < sizeof(members) / sizeof(members[0]); k++)
                assert_non_null(json_obj_get(g, members[k]));
        assert_int_equal(json_type_of(json_path_get(g, "journal.missing")), JSON_NULL);
        json_free(g);
        assert_int_equal(norm_journal_gap("h1", CUR, (int64_t)RT, "s=x;i=9", (int64_t)RT + 1000,
                                          3, "why", (int64_t)RT + 5, &g), 0);
        assert_int_equal(json_int(json_path_get(g, "journal.missing")), 3);
        assert_non_null(strstr(json_str(json_obj_get(g, "message"), NULL),
                               "3 journal entries are missing between"));
        assert_int_equal(norm_journal_unreadable("h1", "/x/a.journal", "truncated", 5, &u), 0);
        buf_reset(&f);
        assert_int_equal(json_canon(json_obj_get(u, "flags"), &f), 0);
        assert_string_equal(f.data, "[\"journal_unreadable\"]");
        assert_string_equal(json_str(json_path_get(u, "journal.file"), NULL), "/x/a.journal");
        for (size_t k = 0; k < sizeof(members) / sizeof(members[0]); k++)
                assert_non_null(json_obj_get(u, members[k]));
        json_free(g);
        json_free(u);
        buf_free(&f);
}

/* export_printable passes printable ASCII sixteen and eight bytes at a time, in overlapping
 * loads (issue 12): one byte that is not (a control, DEL, a lone continuation byte, a
 * non-character, NUL) at every offset of a value of every length from 0 to 38 bytes (the
 * field 3..41: each load width and overlap) must still choose the binary export form, and
 * TAB or a two-byte letter the text form; raw_sha256 against the export bytes written out
 * here, and a text value kept as the same string. */
static void test_printable_words(void **state)
{
        static const struct {
                const char *p;
                size_t n;
                bool text;
        } odd[] = {
                { "\t", 1, true }, { "\xc3\xa9", 2, true }, { "~", 1, true },
                { " ", 1, true }, { "\x01", 1, false }, { "\n", 1, false },
                { "\x1f", 1, false }, { "\x7f", 1, false }, { "\x80", 1, false },
                { "\xc2\x85", 2, false }, { "\xef\xb7\x90", 3, false },
                { "\0", 1, false }, { "\xff", 1, false },
        };
        struct norm_journal *b = NULL;

        (void)state;
        assert_int_equal(norm_journal_new(65536, &b), 0);
        for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++)
                for (size_t len = 0; len <= 38; len++)
                for (size_t at = 0; at <= len; at++) {
                        char field[64], want[65];
                        size_t vlen = len + odd[k].n, n = 0;
                        struct buf exp = BUF_INIT;
                        const json *v;
                        json *rec = NULL;
                        const char *got;

                        memcpy(field, "F=", 2);
                        memset(field + 2, 'a', len);
                        memmove(field + 2 + at + odd[k].n, field + 2 + at, len - at);
                        memcpy(field + 2 + at, odd[k].p, odd[k].n);
                        n = 2 + vlen;
                        assert_int_equal(norm_journal_begin(b, CUR, RT, 16, BOOT), 0);
                        assert_int_equal(norm_journal_add(b, field, n), 0);
                        assert_int_equal(norm_journal_finish(b, "h1", RT + 5, &rec), 0);
                        assert_int_equal(buf_puts(&exp, HDR), 0);
                        if (odd[k].text) {
                                assert_int_equal(buf_append(&exp, field, n), 0);
                        } else {
                                uint8_t le[8];

                                for (int i = 0; i < 8; i++)
                                        le[i] = (uint8_t)((uint64_t)vlen >> (8 * i));
                                assert_int_equal(buf_append(&exp, "F\n", 2), 0);
                                assert_int_equal(buf_append(&exp, le, 8), 0);
                                assert_int_equal(buf_append(&exp, field + 2, vlen), 0);
                        }
                        assert_int_equal(buf_append(&exp, "\n\n", 2), 0);
                        sha256_hex(exp.data, exp.len, want);
                        got = json_str(json_obj_get(rec, "raw_sha256"), NULL);
                        assert_non_null(got);
                        if (strcmp(got, want) != 0)
                                fail_msg("odd byte %zu at %zu of %zu: raw_sha256 %s, want %s", k,
                                         at, len, got, want);
                        v = json_obj_get(json_obj_get(rec, "journal"), "F");
                        assert_non_null(v);
                        if (odd[k].text) {
                                size_t gl = 0;
                                const char *gs = json_str(v, &gl);

                                assert_non_null(gs);
                                assert_int_equal(gl, vlen);
                                assert_memory_equal(gs, field + 2, vlen);
                        }
                        json_free(rec);
                        buf_free(&exp);
                }
        norm_journal_free(b);
}

/* The record's two times come from a per-second cache of their text (issue 12): every
 * step of a walk over times (the same second, the next, backwards, across days and years,
 * the epoch, the clamped ends, and pseudo-random jumps) must give tm_format_rfc3339's text
 * for "received" and "time", each cache seeing the other's times too. */
static void test_time_cache(void **state)
{
        static const int64_t fixed[] = {
                (int64_t)RT, (int64_t)RT, (int64_t)RT + 1, (int64_t)RT + 999999,
                (int64_t)RT + 1000000, (int64_t)RT + 999999, (int64_t)RT - 1, 1, 0, 999999,
                1000000, 86399999999, 86400000000, INT64_C(253402300799999999),
                INT64_C(253402300800000000), INT64_C(999999999999999999),
                INT64_C(253402300799000000), (int64_t)RT + 5,
        };
        struct norm_journal *b = NULL;
        uint64_t x = 88172645463325252u;
        int64_t t = (int64_t)RT, prev = 0;

        (void)state;
        assert_int_equal(norm_journal_new(65536, &b), 0);
        for (size_t i = 0; i < 3000; i++) {
                char src[64], want[TM_RFC3339_LEN];
                const char *got;
                json *rec = NULL;
                int64_t rx;

                if (i < sizeof(fixed) / sizeof(fixed[0])) {
                        t = fixed[i];
                } else {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        t = x % 3 == 0 ? (int64_t)RT + (int64_t)(x % 5000000000000u)
                                       : t + (int64_t)(x % 700000);
                }
                rx = i % 2 ? t : prev; /* received: sometimes the other time's second */
                prev = t;
                snprintf(src, sizeof(src), "_SOURCE_REALTIME_TIMESTAMP=%lld", (long long)t);
                assert_int_equal(norm_journal_begin(b, CUR, RT, 16, BOOT), 0);
                assert_int_equal(norm_journal_add(b, src, strlen(src)), 0);
                assert_int_equal(norm_journal_finish(b, "h1", rx, &rec), 0);
                got = json_str(json_obj_get(rec, "received"), NULL);
                assert_non_null(got);
                assert_string_equal(got, tm_format_rfc3339(rx, want));
                got = json_str(json_obj_get(rec, "time"), NULL);
                assert_non_null(got);
                /* 0 is not a source time: the entry's realtime is used instead */
                assert_string_equal(got, tm_format_rfc3339(t > 0 ? t : (int64_t)RT, want));
                json_free(rec);
        }
        norm_journal_free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_reuse),
                cmocka_unit_test(test_recycled),
                cmocka_unit_test(test_many_fields),
                cmocka_unit_test(test_gap_and_unreadable),
                cmocka_unit_test(test_printable_words),
                cmocka_unit_test(test_time_cache),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
