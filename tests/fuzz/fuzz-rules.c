/* YAML rules loader and engine target (rules/): any bytes as one rule file. Properties:
 *   - loading either succeeds or fails with -EINVAL and an error naming the file and saying
 *     what was wrong (never a crash, a leak, or a PCRE2/libyaml failure let through);
 *   - a pack that loads maps a handful of fixed events (syslog lines, a JSON event) without
 *     failing; each mapped record still serialises to canonical JSON that re-parses to the
 *     same bytes, and its criteria are 2017 TSC IDs;
 *   - the pack's inline tests run (pass or fail) without failing. */
#include <errno.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "rules/rules.h"
#include "tests/fuzz/fuzz.h"

static const char *const events[] = {
        "<86>Jun 15 12:00:00 web-1 sshd[4242]: Accepted publickey for alice from 10.0.0.5 "
        "port 52234 ssh2",
        "<38>1 2024-06-15T12:00:01Z web-1 sshd 4243 - - Failed password for invalid user admin"
        " from 203.0.113.50 port 41234 ssh2",
        "<85>Jun 15 12:00:02 web-1 sudo:    bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; "
        "COMMAND=/usr/bin/apt upgrade",
        "{\"user\":\"carol\",\"action\":\"s3:GetObject\",\"ip\":\"192.0.2.1\",\"n\":[1,{\"x\":null}]}",
        "\xff garbage",
};

static void test_cb(void *ud, const struct rules_test_result *res) {
        fuzz_check(res && res->rule && (res->passed || res->why), "test result is described");
}

static void map_events(const struct rules_pack *p) {
        for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
                json *rec = NULL;
                int r = rules_event_from_text(events[i], strlen(events[i]), RULES_INPUT_AUTO,
                                              1718452800000000LL, &rec);
                fuzz_check(r == 0 && rec, "event from text");
                enum rules_verdict verdict;
                const char *rule_id = NULL;
                fuzz_check(rules_apply(p, rec, &verdict, &rule_id) == 0, "rules_apply");
                struct buf c1 = { 0 }, c2 = { 0 };
                fuzz_check(json_canon(rec, &c1) == 0, "mapped record serialises");
                json *back = NULL;
                fuzz_check(json_parse(c1.data, c1.len, &back, NULL) == 0,
                           "mapped record re-parses");
                fuzz_check(json_canon(back, &c2) == 0 && c1.len == c2.len &&
                           memcmp(c1.data, c2.data, c1.len) == 0, "canonical bytes stable");
                json *crit = json_obj_get(rec, "criteria");
                fuzz_check(json_type_of(crit) == JSON_ARR, "criteria is an array");
                for (size_t k = 0; k < json_len(crit); k++) {
                        const char *id = json_str(json_arr_at(crit, k), NULL);
                        fuzz_check(id && rules_criterion_category(id), "criterion is a TSC id");
                }
                json_free(back);
                json_free(rec);
                buf_free(&c1);
                buf_free(&c2);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t key[16] = "fuzz-hmac-key-16";
        struct rules_options opt = { key, sizeof(key) };
        struct rules_pack *p = NULL;
        struct rules_error err;
        memset(&err, 0, sizeof(err));
        int r = rules_pack_load_text("fuzz.yaml", (const char *)data, size, &opt, &p, &err);
        if (r < 0) {
                fuzz_check(r == -EINVAL, "rules error is -EINVAL");
                fuzz_check(p == NULL, "ret untouched on error");
                fuzz_check(err.msg[0] && memchr(err.msg, 0, sizeof(err.msg)), "error says what");
                fuzz_check(strcmp(err.file, "fuzz.yaml") == 0, "error names the file");
                return 0;
        }
        map_events(p);
        unsigned passed = 0, failed = 0;
        fuzz_check(rules_pack_run_tests(p, test_cb, NULL, &passed, &failed) == 0, "run tests");
        rules_pack_free(p);
        return 0;
}
