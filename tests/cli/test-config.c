/* cli/config.c: the embedded default loads, good files give the values they say, and every
 * bad file is refused at the exact line:column with a message naming the problem. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TEST_TMPDIR_PREFIX "gl-test-config"
#include "tests/test-tmpdir.h"

#include "cli/config.h"
#include "core/limits.h"

static int load(const char *text, struct config *c, struct config_error *e)
{
        return config_load_text("t.yaml", text, strlen(text), c, e);
}

static void check_defaults(const struct config *c)
{
        char host[256] = "";

        gethostname(host, sizeof(host) - 1);
        assert_string_equal(c->chain, host);
        assert_int_equal(c->syslog.n_listen, 2);
        assert_int_equal(c->syslog.listen[0].transport, INGEST_UDP);
        assert_string_equal(c->syslog.listen[0].addr, "127.0.0.1:5514");
        assert_int_equal(c->syslog.listen[1].transport, INGEST_TCP);
        assert_string_equal(c->syslog.listen[1].addr, "127.0.0.1:5514");
        assert_int_equal(c->syslog.max_message, 64 * 1024);
        assert_int_equal(c->syslog.max_connections, 1024);
        assert_int_equal(c->syslog.format, NORM_AUTO);
        assert_int_equal(c->queue_max_events, 8192);
        assert_int_equal(c->queue_max_bytes, 12 << 20);  /* QUEUE_MAX_BYTES_DEFAULT */
        assert_string_equal(c->db_path, "var/gatelog.db");
        assert_string_equal(c->key_path, "var/gatelog.key");
        assert_int_equal(c->epoch_us, INT64_C(3600000000));
        assert_int_equal(c->n_outputs, 1);
        assert_string_equal(c->outputs[0].name, "local");
        assert_string_equal(c->outputs[0].type, "folder");
        assert_string_equal(c->outputs[0].path, "var/exports");
        assert_string_equal(c->pid_file, "var/gatelog.pid");
        assert_int_equal(c->log_level, LOG_LVL_INFO);
        assert_false(c->log_json);
}

static void test_default(void **state)
{
        struct config c;
        struct config_error e;

        assert_int_equal(config_load_text("<embedded default>", config_default_yaml,
                                          strlen(config_default_yaml), &c, &e), 0);
        check_defaults(&c);
        config_free(&c);
        /* An empty file means every default too. */
        assert_int_equal(load("", &c, &e), 0);
        check_defaults(&c);
        config_free(&c);
        assert_int_equal(load("# nothing\n", &c, &e), 0);
        check_defaults(&c);
        config_free(&c);
        config_free(NULL);
}

static void test_full_file(void **state)
{
        const char *text =
                "chain: prod-eu.1\n"
                "syslog:\n"
                "  listen:\n"
                "    - udp: \"[::1]:514\"\n"
                "    - unix: /tmp/x.sock\n"
                "  max_message: 1MiB\n"
                "  max_connections: 10\n"
                "  format: rfc3164\n"
                "queue: {max_events: 1024, max_bytes: 3MiB}\n"
                "store:\n  path: /d/g.db\n"
                "seal:\n  epoch: 10m\n  key: k\n"
                "outputs: []\n"
                "run:\n  pid_file: p\n"
                "log:\n  level: debug\n  format: json\n";
        struct config c;
        struct config_error e;

        if (load(text, &c, &e) < 0) {
                print_error("%s:%u:%u: %s\n", e.file, e.line, e.column, e.msg);
                fail();
        }
        assert_string_equal(c.chain, "prod-eu.1");
        assert_int_equal(c.syslog.n_listen, 2);
        assert_int_equal(c.syslog.listen[0].transport, INGEST_UDP);
        assert_string_equal(c.syslog.listen[0].addr, "[::1]:514");
        assert_int_equal(c.syslog.listen[1].transport, INGEST_UNIX);
        assert_string_equal(c.syslog.listen[1].addr, "/tmp/x.sock");
        assert_int_equal(c.syslog.max_message, 1024 * 1024);
        assert_int_equal(c.syslog.max_connections, 10);
        assert_int_equal(c.syslog.format, NORM_RFC3164);
        assert_int_equal(c.queue_max_events, 1024);
        assert_int_equal(c.queue_max_bytes, 3 << 20);
        assert_string_equal(c.db_path, "/d/g.db");
        assert_string_equal(c.key_path, "k");
        assert_int_equal(c.epoch_us, INT64_C(600000000));
        assert_int_equal(c.n_outputs, 0);  /* explicitly none */
        assert_string_equal(c.pid_file, "p");
        assert_int_equal(c.log_level, LOG_LVL_DEBUG);
        assert_true(c.log_json);
        config_free(&c);
}

static const struct bad_case {
        const char *name;
        const char *text;
        unsigned line, column;
        const char *msg;        /* must appear in the message */
} bad_cases[] = {
        { "unknown top key", "bogus: 1\n", 1, 1, "unknown key 'bogus'" },
        { "unknown nested key", "seal:\n  epoch: 1h\n  keyy: k\n", 3, 3,
          "seal: unknown key 'keyy'" },
        { "bad size unit", "syslog:\n  max_message: 64XB\n", 2, 16,
          "syslog.max_message: bad size '64XB'" },
        { "size too small", "syslog:\n  max_message: 100\n", 2, 16, "out of range 480.." },
        { "size too large", "syslog:\n  max_message: 2MiB\n", 2, 16, "out of range" },
        { "size overflow", "syslog:\n  max_message: 99999999999999999999GiB\n", 2, 16,
          "bad size" },
        { "empty listener list", "syslog:\n  listen: []\n", 2, 11,
          "at least one listener" },
        { "port too big", "syslog:\n  listen:\n    - udp: 127.0.0.1:99999\n", 3, 12,
          "syslog.listen[0]: bad address '127.0.0.1:99999'" },
        { "unbracketed v6", "syslog:\n  listen:\n    - tcp: 127.0.0.1:1\n    - tcp: ::1:5\n",
          4, 12, "syslog.listen[1]: bad address" },
        { "two transports in one item", "syslog:\n  listen:\n    - udp: a:1\n      tcp: b:2\n",
          3, 7, "exactly one of udp, tcp or unix" },
        { "unknown transport", "syslog:\n  listen:\n    - sctp: a:1\n", 3, 7,
          "unknown transport 'sctp'" },
        { "listen not a list", "syslog:\n  listen: udp\n", 2, 11, "expected a list" },
        { "epoch too long", "seal:\n  epoch: 2d\n", 2, 10, "whole seconds from 1s to 86400s" },
        { "epoch zero", "seal:\n  epoch: 0s\n", 2, 10, "whole seconds" },
        { "epoch not whole seconds", "seal:\n  epoch: 1500ms\n", 2, 10, "whole seconds" },
        { "bad duration", "seal:\n  epoch: soon\n", 2, 10, "seal.epoch: bad duration 'soon'" },
        { "negative duration", "seal:\n  epoch: -1h\n", 2, 10, "bad duration" },
        { "duplicate output name",
          "outputs:\n  - name: a\n    type: folder\n    path: x\n"
          "  - name: a\n    type: folder\n    path: y\n",
          5, 11, "duplicate output name 'a'" },
        { "unknown output type", "outputs:\n  - name: a\n    type: ftp\n    path: x\n", 3, 11,
          "outputs[0].type: unknown output type 'ftp'" },
        /* S3 exports (issue 7) */
        { "s3 without its block", "outputs:\n  - name: a\n    type: s3\n", 2, 5,
          "outputs[0]: missing key 's3'" },
        { "s3 bad bucket", "outputs:\n  - name: a\n    type: s3\n    s3: {bucket: Ab}\n", 4, 18,
          "outputs[0].s3.bucket: 'Ab' is not a bucket name" },
        { "s3 unknown key", "outputs:\n  - name: a\n    type: s3\n    s3:\n      bucket: abc\n      colour: red\n", 6, 7,
          "outputs[0].s3: unknown key 'colour'" },
        { "s3 lock without retain", "outputs:\n  - name: a\n    type: s3\n    s3:\n      bucket: abc\n      object_lock: {mode: compliance}\n", 6, 20,
          "outputs[0].s3.object_lock: needs both mode and retain" },
        { "folder with s3 block", "outputs:\n  - name: a\n    type: folder\n    path: x\n    s3: {bucket: abc}\n", 2, 5,
          "outputs[0]: 's3' belongs to the other output type" },
        { "output missing path", "outputs:\n  - name: a\n    type: folder\n", 2, 5,
          "outputs[0]: missing key 'path'" },
        { "output unknown key", "outputs:\n  - name: a\n    kind: folder\n", 3, 5,
          "unknown key 'kind'" },
        { "bad number", "queue:\n  max_events: lots\n", 2, 15, "bad number 'lots'" },
        { "number out of range", "queue:\n  max_events: 4\n", 2, 15, "out of range 8.." },
        { "queue bytes too small", "queue:\n  max_bytes: 4KiB\n", 2, 14, "out of range" },
        { "max_connections zero", "syslog:\n  max_connections: 0\n", 2, 20, "out of range" },
        { "unknown syslog format", "syslog:\n  format: json\n", 2, 11,
          "unknown format 'json'" },
        { "unknown log level", "log:\n  level: loud\n", 2, 10, "unknown level 'loud'" },
        { "unknown log format", "log:\n  format: xml\n", 2, 11, "unknown format 'xml'" },
        { "section not a mapping", "log: [1]\n", 1, 6, "log: expected a mapping" },
        { "scalar expected", "chain: [a]\n", 1, 8, "chain: expected a value, not a list" },
        { "bad chain name", "chain: 'bad name'\n", 1, 8, "is not a name" },
        { "duplicate key", "store:\n  path: a\n  path: b\n", 3, 3, "duplicate key 'path'" },
        { "missing value", "store:\n  path:\n", 2, 8, "store.path: missing value" },
        { "null value", "run:\n  pid_file: ~\n", 2, 13, "missing value" },
        { "NUL in value", "run:\n  pid_file: \"a\\0b\"\n", 2, 13, "NUL" },
        { "root not a mapping", "- 1\n", 1, 1, "expected a mapping" },
        { "yaml syntax", "a: b: c\n", 1, 5, "YAML: mapping values are not allowed" },
        { "two documents", "chain: x\n---\nchain: y\n", 2, 1, "only one YAML document" },
};

static void test_bad_files(void **state)
{
        for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
                const struct bad_case *b = &bad_cases[i];
                struct config c;
                struct config_error e = { 0 };
                int r;

                memset(&c, 0x5a, sizeof(c));
                r = load(b->text, &c, &e);
                if (r != -EINVAL || e.line != b->line || e.column != b->column ||
                    !strstr(e.msg, b->msg) || strcmp(e.file, "t.yaml") != 0) {
                        print_error("case '%s': got %d %s:%u:%u: %s; want %u:%u '%s'\n",
                                    b->name, r, e.file, e.line, e.column, e.msg, b->line,
                                    b->column, b->msg);
                        fail();
                }
                /* ret untouched on failure */
                assert_int_equal(((unsigned char *)&c)[0], 0x5a);
        }
}

static void test_durations(void **state)
{
        static const struct {
                const char *in;
                int ret;
                int64_t us;
        } cases[] = {
                { "1s", 0, 1000000 }, { "250ms", 0, 250000 }, { "10m", 0, 600000000 },
                { "1h", 0, INT64_C(3600000000) }, { "1d", 0, INT64_C(86400000000) },
                { "30", 0, 30000000 }, { "0", 0, 0 }, { "", -EINVAL, 0 },
                { "s", -EINVAL, 0 }, { "1.5h", -EINVAL, 0 }, { "-1s", -EINVAL, 0 },
                { "1 h", -EINVAL, 0 }, { "1H", -EINVAL, 0 }, { "1w", -EINVAL, 0 },
                { "9999999999999999999d", -EINVAL, 0 }, { "106751992d", -EINVAL, 0 },
                { "106751991d", 0, INT64_C(106751991) * 86400000000 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t us = -7;
                int r = config_parse_duration(cases[i].in, &us);

                if (r != cases[i].ret || us != (r == 0 ? cases[i].us : -7)) {
                        print_error("duration '%s': got %d %lld\n", cases[i].in, r,
                                    (long long)us);
                        fail();
                }
        }
}

static void test_sizes(void **state)
{
        static const struct {
                const char *in;
                int ret;
                uint64_t v;
        } cases[] = {
                { "64KiB", 0, 65536 }, { "1MiB", 0, 1048576 }, { "4096", 0, 4096 },
                { "10B", 0, 10 }, { "2GiB", 0, UINT64_C(2147483648) }, { "", -EINVAL, 0 },
                { "KiB", -EINVAL, 0 }, { "64kb", -EINVAL, 0 }, { "64 KiB", -EINVAL, 0 },
                { "1.5MiB", -EINVAL, 0 }, { "-1", -EINVAL, 0 },
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551616", -EINVAL, 0 },
                { "17179869184GiB", -EINVAL, 0 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t v = 7;
                int r = config_parse_size(cases[i].in, &v);

                if (r != cases[i].ret || v != (r == 0 ? cases[i].v : 7)) {
                        print_error("size '%s': got %d %llu\n", cases[i].in, r,
                                    (unsigned long long)v);
                        fail();
                }
        }
}

static void test_file_and_format(void **state)
{
        char dir[64], path[128], out[512];
        struct config c;
        struct config_error e;
        FILE *f;

        assert_int_equal(config_load_file("/nonexistent/gatelog.yaml", &c, &e), -ENOENT);
        config_error_format(&e, out, sizeof(out));
        assert_string_equal(out, "/nonexistent/gatelog.yaml: cannot read: "
                                 "No such file or directory");
        test_tmpdir(state, dir);  /* tests/test-tmpdir.h: removed even if an assert fails */
        snprintf(path, sizeof(path), "%s/gatelog.yaml", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("log:\n  level: info\n  colour: no\n", f);
        fclose(f);
        assert_int_equal(config_load_file(path, &c, &e), -EINVAL);
        config_error_format(&e, out, sizeof(out));
        assert_non_null(strstr(out, path));
        assert_non_null(strstr(out, ":3:3: log: unknown key 'colour'"));
        f = fopen(path, "w");
        fputs("chain: from-file\n", f);
        fclose(f);
        assert_int_equal(config_load_file(path, &c, &e), 0);
        assert_string_equal(c.chain, "from-file");
        config_free(&c);
        unlink(path);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default),
                cmocka_unit_test(test_full_file),
                cmocka_unit_test(test_bad_files),
                cmocka_unit_test(test_durations),
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_file_and_format),
        };

        return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
