/* Tests for rules/: the matching operators, captures and setting, first match and continue,
 * drops, redaction and keyed hashes (RFC 4231 known answer), the index against pack order,
 * every kind of load error with its exact file:line:column, the pack hash recomputed from
 * its definition, the TSC table, and the inline test runner (which must be able to fail).
 * Cases are tables; each failure names its case. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/json.h"
#include "rules/rules.h"

/* RFC 4231 test case 1: key 0x0b x 20, data "Hi There". */
static const uint8_t rfc4231_key[20] = {
        0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
        0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
};
static const struct rules_options key_opt = { rfc4231_key, sizeof(rfc4231_key) };

static struct rules_pack *load(const char *name, const char *text)
{
        struct rules_pack *p = NULL;
        struct rules_error err;
        char msg[700];
        int r = rules_pack_load_text("t.yaml", text, strlen(text), &key_opt, &p, &err);

        if (r < 0) {
                rules_error_format(&err, msg, sizeof(msg));
                fail_msg("case '%s': load failed: %s", name, msg);
        }
        return p;
}

static json *record(const char *name, const char *js)
{
        json *rec = NULL;

        if (rules_event_from_text(js, strlen(js), RULES_INPUT_JSON, 0, &rec) < 0)
                fail_msg("case '%s': bad record JSON", name);
        return rec;
}

static char *canon_at(const json *rec, const char *path)
{
        struct buf b = BUF_INIT;
        const json *v = json_path_get(rec, path);

        if (!v)
                return strdup("absent");
        assert_int_equal(json_canon(v, &b), 0);
        return buf_steal(&b, NULL);
}

/* ---- Operators ---- */

#define REC(msg, extra) "{\"source\":{\"kind\":\"syslog\"},\"app\":\"sshd\",\"host\":\"web-1\"," \
                        "\"message\":\"" msg "\"" extra "}"

static const struct op_case {
        const char *name;
        const char *match;    /* flow YAML */
        const char *rec;
        bool hit;
} op_cases[] = {
        { "equals scalar", "{app: sshd}", REC("x", ""), true },
        { "equals other", "{app: sudo}", REC("x", ""), false },
        { "equals op", "{app: {equals: sshd}}", REC("x", ""), true },
        { "equals is exact", "{app: {equals: ssh}}", REC("x", ""), false },
        { "equals is case-sensitive", "{app: SSHD}", REC("x", ""), false },
        { "one_of list", "{app: [su, sshd]}", REC("x", ""), true },
        { "one_of op", "{app: {one_of: [su, sudo]}}", REC("x", ""), false },
        { "prefix", "{message: {prefix: Accepted}}", REC("Accepted x", ""), true },
        { "prefix no", "{message: {prefix: Accepted}}", REC("Failed x", ""), false },
        { "prefix list", "{message: {prefix: [Failed, Accepted]}}", REC("Accepted x", ""), true },
        { "suffix", "{message: {suffix: '[preauth]'}}", REC("closed [preauth]", ""), true },
        { "suffix longer than value", "{message: {suffix: 'abcdef'}}", REC("def", ""), false },
        { "contains", "{message: {contains: for root}}", REC("Failed for root from", ""), true },
        { "contains no", "{message: {contains: for root}}", REC("Failed for bob", ""), false },
        { "exists true", "{host: {exists: true}}", REC("x", ""), true },
        { "exists on null", "{msgid: {exists: true}}", REC("x", ""), false },
        { "exists false on null", "{msgid: {exists: false}}", REC("x", ""), true },
        { "exists false absent", "{event.x: {exists: false}}", REC("x", ""), true },
        { "exists on object", "{sd: {exists: true}}", REC("x", ""), true },
        { "gt int", "{pid: {gt: 100}}", REC("x", ",\"pid\":4242"), true },
        { "gt equal", "{pid: {gt: 4242}}", REC("x", ",\"pid\":4242"), false },
        { "ge equal", "{pid: {ge: 4242}}", REC("x", ",\"pid\":4242"), true },
        { "lt", "{pid: {lt: 5000}}", REC("x", ",\"pid\":4242"), true },
        { "le", "{pid: {le: 4241}}", REC("x", ",\"pid\":4242"), false },
        { "number from string", "{event.status: {ge: 400}}", REC("x", ",\"event\":{\"status\":\"403\"}"), true },
        { "number from float", "{event.score: {lt: 0.5}}", REC("x", ",\"event\":{\"score\":0.25}"), true },
        { "non-number never compares", "{event.status: {ge: 0}}", REC("x", ",\"event\":{\"status\":\"ok\"}"), false },
        { "absent never compares", "{event.status: {lt: 10}}", REC("x", ""), false },
        { "range", "{pid: {ge: 4000, lt: 4300}}", REC("x", ",\"pid\":4242"), true },
        { "equals int text", "{pid: 4242}", REC("x", ",\"pid\":4242"), true },
        { "equals bool text", "{event.ok: 'true'}", REC("x", ",\"event\":{\"ok\":true}"), true },
        { "dotted path", "{source.kind: syslog}", REC("x", ""), true },
        { "deep path", "{event.actor.id: alice}", REC("x", ",\"event\":{\"actor\":{\"id\":\"alice\"}}"), true },
        { "path through a string", "{app.x: a}", REC("x", ""), false },
        { "regex", "{message: {regex: '^Accepted \\w+ for'}}", REC("Accepted publickey for a", ""), true },
        { "regex no", "{message: {regex: '^Accepted \\d+'}}", REC("Accepted publickey", ""), false },
        { "regex unicode", "{message: {regex: '^caf.$'}}", REC("caf\u00e9", ""), true },
        { "regex on number", "{pid: {regex: '^42'}}", REC("x", ",\"pid\":4242"), true },
        { "regex on object", "{sd: {regex: '.'}}", REC("x", ""), false },
        { "regex catastrophic stops", "{message: {regex: '^(a+)+$'}}",
          REC("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", ""), false },
        { "all", "{all: [{app: sshd}, {host: web-1}]}", REC("x", ""), true },
        { "all one fails", "{all: [{app: sshd}, {host: web-2}]}", REC("x", ""), false },
        { "any", "{any: [{app: su}, {host: web-1}]}", REC("x", ""), true },
        { "any none", "{any: [{app: su}, {host: web-2}]}", REC("x", ""), false },
        { "not", "{not: {app: su}}", REC("x", ""), true },
        { "not matches", "{not: {app: sshd}}", REC("x", ""), false },
        { "keys are and-ed", "{app: sshd, host: web-2}", REC("x", ""), false },
        { "nested", "{any: [{not: {app: sshd}}, {all: [{host: web-1}, {message: {contains: y}}]}]}",
          REC("xyz", ""), true },
};

static void test_operators(void **state)
{
        for (size_t i = 0; i < sizeof(op_cases) / sizeof(op_cases[0]); i++) {
                const struct op_case *c = &op_cases[i];
                char text[1024];
                struct rules_pack *p;
                enum rules_verdict v;
                const char *rid = NULL;
                json *rec;

                snprintf(text, sizeof(text), "rules:\n  - id: t\n    description: d\n"
                                             "    match: %s\n", c->match);
                p = load(c->name, text);
                rec = record(c->name, c->rec);
                assert_int_equal(rules_apply(p, rec, &v, &rid), 0);
                if ((rid != NULL) != c->hit)
                        fail_msg("case '%s': %s, expected %s", c->name,
                                 rid ? "matched" : "no match", c->hit ? "a match" : "none");
                if (strcmp(json_str(json_obj_get(rec, "rule"), NULL), c->hit ? "t" : "unmapped"))
                        fail_msg("case '%s': rule member wrong", c->name);
                json_free(rec);
                rules_pack_free(p);
        }
}

/* ---- Captures, setting, order ---- */

static const char set_pack[] =
        "rules:\n"
        "  - id: enrich\n"
        "    description: tags every sshd line, then lets later rules decide\n"
        "    match: {app: sshd}\n"
        "    set: {target.service: ssh}\n"
        "    criteria: [CC7.2]\n"
        "    continue: true\n"
        "  - id: accepted\n"
        "    description: d\n"
        "    match:\n"
        "      app: sshd\n"
        "      message: {regex: '^Accepted (?<method>\\S+) for (?<user>\\S+) from (?<ip>\\S+)(?: port (?<port>\\d+))?'}\n"
        "    set:\n"
        "      actor.user: '{user}'\n"
        "      actor.ip: '{ip}'\n"
        "      actor.port: '{port}'\n"
        "      actor.where: '{ip}:{port|22} on {host}'\n"
        "      action: 'login.{method}'\n"
        "      target.pid: '{pid}'\n"
        "      target.brace: '{{literal}} {user}'\n"
        "      target.first: ['{event.nope}', '{msgid}', '{user}']\n"
        "      outcome: success\n"
        "      severity: notice\n"
        "    criteria: [CC6.1, CC6.2]\n"
        "  - id: later\n"
        "    description: never reached for accepted lines (first match wins)\n"
        "    match: {app: sshd}\n"
        "    set: {action: later}\n"
        "    criteria: [CC8.1]\n"
        "  - id: noise\n"
        "    description: d\n"
        "    match: {app: cron}\n"
        "    drop: true\n"
        "  - id: wild\n"
        "    description: indexed on nothing\n"
        "    match: {message: {prefix: hello}}\n"
        "    criteria: [A1.1]\n";

static const struct set_case {
        const char *name;
        const char *rec;
        const char *rule;       /* NULL: dropped */
        const char *expect[12]; /* "path=canonical" */
} set_cases[] = {
        { "captures into fields",
          REC("Accepted publickey for alice from 10.0.0.5 port 52234", ",\"pid\":77"), "accepted",
          { "actor={\"ip\":\"10.0.0.5\",\"port\":\"52234\",\"user\":\"alice\","
            "\"where\":\"10.0.0.5:52234 on web-1\"}",
            "action=\"login.publickey\"", "target.pid=77", "target.brace=\"{literal} alice\"",
            "target.first=\"alice\"", "target.service=\"ssh\"", "outcome=\"success\"",
            "severity=\"notice\"", "criteria=[\"CC6.1\",\"CC6.2\",\"CC7.2\"]" } },
        { "unset capture: field left out, default used",
          REC("Accepted password for bob from 10.0.0.6", ""), "accepted",
          { "actor.port=absent", "actor.where=\"10.0.0.6:22 on web-1\"", "target.pid=absent" } },
        { "continue then a later rule", REC("Disconnected", ""), "later",
          { "action=\"later\"", "target.service=\"ssh\"", "criteria=[\"CC7.2\",\"CC8.1\"]",
            "outcome=null", "actor=null" } },
        { "drop", "{\"source\":{\"kind\":\"syslog\"},\"app\":\"cron\",\"message\":\"x\"}", NULL,
          { "rule=null" } },
        { "wildcard rule", "{\"source\":{\"kind\":\"syslog\"},\"app\":\"other\",\"message\":\"hello\"}",
          "wild", { "criteria=[\"A1.1\"]", "action=null" } },
        { "unmapped", "{\"source\":{\"kind\":\"syslog\"},\"app\":\"other\",\"message\":\"bye\"}",
          "unmapped", { "criteria=[]", "rule=\"unmapped\"" } },
        { "no app at all", "{\"source\":{\"kind\":\"json\"},\"message\":\"hello there\"}", "wild",
          { "criteria=[\"A1.1\"]" } },
};

static void check_expect(const char *name, const json *rec, const char *const *expect)
{
        for (size_t k = 0; expect[k]; k++) {
                const char *eq = strchr(expect[k], '=');
                char path[128], *got;

                snprintf(path, sizeof(path), "%.*s", (int)(eq - expect[k]), expect[k]);
                got = canon_at(rec, path);
                if (strcmp(got, eq + 1))
                        fail_msg("case '%s': %s is %s, expected %s", name, path, got, eq + 1);
                free(got);
        }
}

static void test_set(void **state)
{
        struct rules_pack *p = load("set pack", set_pack);

        for (size_t i = 0; i < sizeof(set_cases) / sizeof(set_cases[0]); i++) {
                const struct set_case *c = &set_cases[i];
                json *rec = record(c->name, c->rec);
                enum rules_verdict v;
                const char *rid = NULL;

                assert_int_equal(rules_apply(p, rec, &v, &rid), 0);
                if (!c->rule) {
                        if (v != RULES_DROP || !rid || strcmp(rid, "noise"))
                                fail_msg("case '%s': not dropped by noise", c->name);
                } else {
                        if (v != RULES_KEEP)
                                fail_msg("case '%s': dropped", c->name);
                        if (strcmp(json_str(json_obj_get(rec, "rule"), NULL), c->rule))
                                fail_msg("case '%s': rule %s, expected %s", c->name,
                                         json_str(json_obj_get(rec, "rule"), NULL), c->rule);
                        if (strcmp(c->rule, "unmapped") ? !rid || strcmp(rid, c->rule) : !!rid)
                                fail_msg("case '%s': returned rule id wrong", c->name);
                }
                check_expect(c->name, rec, c->expect);
                json_free(rec);
        }
        rules_pack_free(p);
}

/* Values from captures and templates are valid UTF-8 whatever the pattern cuts (issue 12:
 * a capture cut at character boundaries of its subject is not checked again, anything else
 * is repaired as before). \C takes one byte of a two-byte character: the capture must come
 * out as U+FFFD, not as a lone byte. A template of valid pieces keeps every byte. */
static const char utf8_pack[] =
        "rules:\n"
        "  - id: cut\n"
        "    description: d\n"
        "    match: {app: cut, message: {regex: '^(?<c>\\C)(?<d>\\C*)$'}}\n"
        "    set: {actor.user: '{c}', actor.rest: '{d}', target.resource: 'x{c}y{d}'}\n"
        "    criteria: [CC6.1]\n"
        "  - id: whole\n"
        "    description: d\n"
        "    match: {app: whole, message: {regex: '^(?<w>\\S+) (?<v>\\S+)'}}\n"
        "    set: {actor.user: '{w}', target.resource: '{w}-{v}-{host}', action: \"caf\\u00e9\",\n"
        "          target.user: '{event.nothere|d\xc3\xa9""faut}'}\n"
        "    criteria: [CC6.1]\n";

static void test_captures_utf8(void **state)
{
        static const struct {
                const char *name, *rec, *expect[6];
        } cases[] = {
                { "a cut character is repaired",
                  "{\"source\":{\"kind\":\"syslog\"},\"app\":\"cut\",\"message\":\"\xc3\xa9\"}",
                  { "actor.user=\"\xef\xbf\xbd\"", "actor.rest=\"\xef\xbf\xbd\"",
                    "target.resource=\"x\xef\xbf\xbdy\xef\xbf\xbd\"" } },
                { "ASCII bytes are whole characters",
                  "{\"source\":{\"kind\":\"syslog\"},\"app\":\"cut\",\"message\":\"ab\"}",
                  { "actor.user=\"a\"", "actor.rest=\"b\"", "target.resource=\"xayb\"" } },
                { "whole characters are kept",
                  "{\"source\":{\"kind\":\"syslog\"},\"app\":\"whole\",\"host\":\"h\xc3\xa9\","
                  "\"message\":\"\xc3\xbc\xe2\x82\xac \xf0\x9f\x98\x80x\"}",
                  { "actor.user=\"\xc3\xbc\xe2\x82\xac\"",
                    "target.resource=\"\xc3\xbc\xe2\x82\xac-\xf0\x9f\x98\x80x-h\xc3\xa9\"",
                    "action=\"caf\xc3\xa9\"", "target.user=\"d\xc3\xa9""faut\"" } },
        };
        struct rules_pack *p = load("utf8 pack", utf8_pack);

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json *rec = record(cases[i].name, cases[i].rec);
                enum rules_verdict v;

                assert_int_equal(rules_apply(p, rec, &v, NULL), 0);
                check_expect(cases[i].name, rec, cases[i].expect);
                json_free(rec);
        }
        rules_pack_free(p);
}

/* The index must never change which rule wins: a wildcard rule placed before an indexed
 * one wins for the indexed app too, and one placed after loses. */
static void test_index_order(void **state)
{
        static const char text[] =
                "rules:\n"
                "  - {id: a1, description: d, match: {app: x, message: {prefix: a}}}\n"
                "  - {id: w1, description: d, match: {message: {prefix: a}}}\n"
                "  - {id: k1, description: d, match: {source.kind: k, message: {prefix: a}}}\n"
                "  - {id: a2, description: d, match: {app: [y, x], message: {prefix: b}}}\n"
                "  - {id: w2, description: d, match: {message: {prefix: b}}}\n"
                "  - {id: k2, description: d, match: {source.kind: k, message: {prefix: c}}}\n"
                "  - {id: a3, description: d, match: {app: x, message: {prefix: c}}}\n";
        static const struct { const char *app, *kind, *msg, *want; } cases[] = {
                { "x", "syslog", "a", "a1" }, { "z", "syslog", "a", "w1" },
                { "z", "k", "a", "w1" },      { "y", "k", "b", "a2" },
                { "x", "k", "b", "a2" },      { "z", "k", "b", "w2" },
                { "x", "k", "c", "k2" },      { "x", "syslog", "c", "a3" },
                { "y", "syslog", "c", "unmapped" },
        };
        struct rules_pack *p = load("index", text);

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char js[256];
                json *rec;

                snprintf(js, sizeof(js), "{\"source\":{\"kind\":\"%s\"},\"app\":\"%s\","
                         "\"message\":\"%s\"}", cases[i].kind, cases[i].app, cases[i].msg);
                rec = record("index", js);
                assert_int_equal(rules_apply(p, rec, NULL, NULL), 0);
                if (strcmp(json_str(json_obj_get(rec, "rule"), NULL), cases[i].want))
                        fail_msg("index case %zu (%s/%s/%s): rule %s, expected %s", i,
                                 cases[i].app, cases[i].kind, cases[i].msg,
                                 json_str(json_obj_get(rec, "rule"), NULL), cases[i].want);
                json_free(rec);
        }
        rules_pack_free(p);
}

/* ---- Redaction ---- */

static void test_redact(void **state)
{
        static const char text[] =
                "rules:\n"
                "  - id: r\n"
                "    description: d\n"
                "    match: {message: {regex: '^user (?<u>.+)$'}}\n"
                "    set: {actor.user: '{u}', target.user: '{u}'}\n"
                "    redact: {actor.user: hash, target.user: mask, host: remove, absent.x: mask}\n"
                "    criteria: [P4.1]\n"
                "  - id: w\n"
                "    description: d\n"
                "    match: {message: {prefix: secret}}\n"
                "    withhold_raw: true\n";
        struct rules_pack *p = load("redact", text);
        json *rec = record("redact", REC("user Hi There", ""));

        assert_int_equal(rules_apply(p, rec, NULL, NULL), 0);
        /* RFC 4231 section 4.2: HMAC-SHA-256 of "Hi There" under 0x0b * 20. */
        check_expect("redact", rec, (const char *const[]){
                "actor.user=\"hmac-sha256:b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7\"",
                "target.user=\"***\"", "host=null", "absent=absent",
                "redacted={\"actor.user\":\"hash\",\"host\":\"remove\",\"target.user\":\"mask\"}",
                "flags=[\"redacted\"]", "message=\"user Hi There\"", "criteria=[\"P4.1\"]", NULL });
        json_free(rec);

        rec = record("withhold", "{\"source\":{\"kind\":\"syslog\"},\"message\":\"secret stuff\","
                                 "\"raw\":\"<13>secret stuff\",\"flags\":[\"malformed\"]}");
        assert_int_equal(rules_apply(p, rec, NULL, NULL), 0);
        check_expect("withhold", rec, (const char *const[]){
                "message=null", "raw=null", "raw_b64=null", "flags=[\"malformed\",\"redacted\"]",
                "redacted={\"message\":\"remove\",\"raw\":\"remove\"}", NULL });
        json_free(rec);
        rules_pack_free(p);
}

/* ---- Load errors ---- */

static const struct err_case {
        const char *name;
        const char *text;
        bool no_key;
        const char *want;       /* exact "t.yaml:L:C: message" prefix */
} err_cases[] = {
        { "yaml syntax", "rules:\n  - id: a\n   x: [\n",
          false, "t.yaml:3:" },
        { "empty file", "", false, "t.yaml: empty file: expected a mapping with a 'rules' list" },
        { "top level key", "rule:\n  - id: a\n", false,
          "t.yaml:1:1: top level: unknown key 'rule' (expected one of: rules)" },
        { "rules not a list", "rules: {id: a}\n", false,
          "t.yaml:1:8: rules: expected a list of rules, not a mapping" },
        { "unknown rule key", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                              "    criterias: [CC6.1]\n", false,
          "t.yaml:5:5: rule: unknown key 'criterias' (expected one of: id, description, match, "
          "set, criteria, continue, drop, redact, withhold_raw, tests)" },
        { "missing id", "rules:\n  - description: d\n    match: {app: x}\n", false,
          "t.yaml:2:5: rule: missing 'id'" },
        { "bad id", "rules:\n  - id: 'a b'\n    description: d\n    match: {app: x}\n", false,
          "t.yaml:2:9: id: 'a b' is not a rule id" },
        { "missing match", "rules:\n  - id: a\n    description: d\n", false,
          "t.yaml:2:5: rule a: missing 'match'" },
        { "missing description", "rules:\n  - id: a\n    match: {app: x}\n", false,
          "t.yaml:2:5: rule a: missing 'description'" },
        { "duplicate id", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                          "  - id: a\n    description: d\n    match: {app: y}\n", false,
          "t.yaml:5:9: id: duplicate rule id 'a' (first defined at t.yaml:2:5)" },
        { "unknown criterion", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                               "    criteria: [CC6.1, CC6.9]\n", false,
          "t.yaml:5:23: criteria: unknown criterion 'CC6.9' (the 2017 Trust Services Criteria" },
        { "criterion lowercase", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                                 "    criteria: [cc6.1]\n", false,
          "t.yaml:5:16: criteria: unknown criterion 'cc6.1'" },
        { "bad regex plain", "rules:\n  - id: a\n    description: d\n"
                             "    match: {message: {regex: ab(c}}\n", false,
          "t.yaml:4:34: match.message.regex: bad regex: missing closing parenthesis at offset 4" },
        { "bad regex quoted", "rules:\n  - id: a\n    description: d\n    match:\n"
                              "      message:\n        regex: '^x(?<n>a)(?<n>b)'\n", false,
          "t.yaml:6:31: match.message.regex: bad regex: two named subpatterns have the same "
          "name (PCRE2_DUPNAMES not set) at offset 14" },
        { "bad regex escaped", "rules:\n  - id: a\n    description: d\n    match:\n"
                               "      message: {regex: \"\\\\d[z-a]\"}\n", false,
          "t.yaml:5:24: match.message.regex: bad regex: range out of order in character class "
          "at offset 5" },
        { "unknown operator", "rules:\n  - id: a\n    description: d\n"
                              "    match: {message: {startswith: x}}\n", false,
          "t.yaml:4:23: match.message: unknown key 'startswith' (expected one of: equals, one_of, "
          "prefix, suffix, contains, exists, lt, le, gt, ge, regex)" },
        { "bad number", "rules:\n  - id: a\n    description: d\n    match: {pid: {gt: ten}}\n",
          false, "t.yaml:4:23: match.pid.gt: expected a number, not 'ten'" },
        { "bad bool", "rules:\n  - id: a\n    description: d\n    match: {pid: {exists: yes}}\n",
          false, "t.yaml:4:27: match.pid.exists: expected true or false, not 'yes'" },
        { "null value", "rules:\n  - id: a\n    description: d\n    match: {app: null}\n", false,
          "t.yaml:4:18: match.app: a null value matches nothing" },
        { "bad path", "rules:\n  - id: a\n    description: d\n    match: {'a..b': x}\n", false,
          "t.yaml:4:13: match: 'a..b' is not a field path" },
        { "empty match", "rules:\n  - id: a\n    description: d\n    match: {}\n", false,
          "t.yaml:4:12: match: empty (a rule must match on something)" },
        { "any not a list", "rules:\n  - id: a\n    description: d\n    match: {any: {app: x}}\n",
          false, "t.yaml:4:18: match.any: expected a list of conditions, not a mapping" },
        { "too deep", "rules:\n  - id: a\n    description: d\n    match: &m {not: *m}\n", false,
          "match: conditions nested more than 16 deep" },
        { "set not allowed", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                             "    set: {rule: y}\n", false,
          "t.yaml:5:11: set: rules set action, outcome, severity, actor.NAME or target.NAME, "
          "not 'rule'" },
        { "bad outcome", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                         "    set: {outcome: ok}\n", false,
          "t.yaml:5:20: set.outcome: expected success, failure or unknown" },
        { "bad severity", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                          "    set: {severity: high}\n", false,
          "t.yaml:5:21: set.severity: expected emerg, alert, crit, err, warning, notice, info or "
          "debug, not 'high'" },
        { "unknown capture", "rules:\n  - id: a\n    description: d\n"
                             "    match: {message: {regex: '(?<user>x)'}}\n"
                             "    set: {actor.user: '{usr}'}\n", false,
          "t.yaml:5:23: set.actor.user: '{usr}' is neither a named capture of this rule (user) "
          "nor a record member" },
        { "unclosed brace", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                            "    set: {action: '{app'}\n", false,
          "t.yaml:5:19: set.action: '{' without '}'" },
        { "drop with set", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                           "    drop: true\n    criteria: [CC6.1]\n", false,
          "t.yaml:5:11: drop: a drop rule discards the event" },
        { "bad redact", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                        "    redact: {message: blur}\n", false,
          "t.yaml:5:23: redact.message: expected mask, hash or remove, not 'blur'" },
        { "hash without key", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                              "    redact: {actor.user: hash}\n", true,
          "t.yaml:5:26: redact.actor.user: a keyed hash needs an HMAC key" },
        { "test without input", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                                "    tests:\n      - expect: {app: x}\n", false,
          "t.yaml:6:9: tests[]: missing 'input'" },
        { "test unknown key", "rules:\n  - id: a\n    description: d\n    match: {app: x}\n"
                              "    tests:\n      - {input: x, expected: {}}\n", false,
          "t.yaml:6:20: tests[]: unknown key 'expected' (expected one of: input, expect, match)" },
        { "test expects unknown criterion", "rules:\n  - id: a\n    description: d\n"
                                            "    match: {app: x}\n    tests:\n"
                                            "      - {input: x, expect: {criteria: [CC10.1]}}\n",
          false, "t.yaml:6:40: tests[].expect.criteria: unknown criterion 'CC10.1'" },
        { "duplicate key", "rules:\n  - id: a\n    id: b\n    description: d\n    match: {app: x}\n",
          false, "t.yaml:3:5: rule: duplicate key 'id'" },
        { "alias bomb", "rules:\n  - id: b\n    description: d\n    match: {app: x}\n    tests:\n      - input:\n"
          "          a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n"
          "          a1: &a1 [*a0,*a0,*a0,*a0,*a0,*a0,*a0,*a0,*a0,*a0]\n"
          "          a2: &a2 [*a1,*a1,*a1,*a1,*a1,*a1,*a1,*a1,*a1,*a1]\n"
          "          a3: &a3 [*a2,*a2,*a2,*a2,*a2,*a2,*a2,*a2,*a2,*a2]\n"
          "          a4: &a4 [*a3,*a3,*a3,*a3,*a3,*a3,*a3,*a3,*a3,*a3]\n"
          "          a5: &a5 [*a4,*a4,*a4,*a4,*a4,*a4,*a4,*a4,*a4,*a4]\n"
          "          a6: &a6 [*a5,*a5,*a5,*a5,*a5,*a5,*a5,*a5,*a5,*a5]\n",
          false, "t.yaml:7:34: the file expands to more than 200000 conditions" },
        { "two documents", "rules: []\n---\nrules: []\n", false,
          "t.yaml:3:1: a rule file holds one YAML document" },
};

static void test_load_errors(void **state)
{
        unsigned bad = 0;

        for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
                const struct err_case *c = &err_cases[i];
                struct rules_pack *p = NULL;
                struct rules_error err;
                char msg[700];
                int r = rules_pack_load_text("t.yaml", c->text, strlen(c->text),
                                             c->no_key ? NULL : &key_opt, &p, &err);

                if (r != -EINVAL)
                        fail_msg("case '%s': load returned %d, expected -EINVAL", c->name, r);
                assert_null(p);
                rules_error_format(&err, msg, sizeof(msg));
                if (!strstr(msg, c->want) || (c->want[0] == 't' && strncmp(msg, c->want,
                                                                           strlen(c->want))))
                {
                        print_error("case '%s':\n  got  %s\n  want %s\n", c->name, msg, c->want);
                        bad++;
                }
        }
        if (bad)
                fail_msg("%u load error cases failed", bad);
}

static void test_short_key(void **state)
{
        static const uint8_t k[8] = { 0 };
        struct rules_options o = { k, sizeof(k) };
        struct rules_pack *p = NULL;
        struct rules_error err;

        assert_int_equal(rules_pack_load_text("t.yaml", "rules: []\n", 10, &o, &p, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "at least 16"));
}

/* ---- Hash, TSC, tests runner ---- */

static void test_pack_hash(void **state)
{
        static const char text[] = "rules: []\n";
        struct rules_pack *p = NULL;
        struct buf b = BUF_INIT;
        uint8_t h[HASH_LEN];
        char hex[HASH_HEX_LEN];

        assert_int_equal(rules_pack_load_text("dir/00-x.yaml", text, strlen(text), NULL, &p, NULL),
                         0);
        /* docs/RULES.md: netstrings of the base name and of the bytes. */
        assert_int_equal(buf_printf(&b, "9:00-x.yaml%zu:%s", strlen(text), text), 0);
        hash_sha256(b.data, b.len, h);
        assert_string_equal(rules_pack_hash(p), hash_hex(h, HASH_LEN, hex));
        assert_int_equal(rules_pack_n_rules(p), 0);
        buf_free(&b);
        rules_pack_free(p);
}

static void test_tsc(void **state)
{
        static const struct { const char *id, *cat; } cases[] = {
                { "CC1.1", "security" }, { "CC1.5", "security" }, { "CC6.8", "security" },
                { "CC7.5", "security" }, { "CC8.1", "security" }, { "CC9.2", "security" },
                { "A1.1", "availability" }, { "A1.3", "availability" },
                { "PI1.1", "processing_integrity" }, { "PI1.5", "processing_integrity" },
                { "C1.1", "confidentiality" }, { "C1.2", "confidentiality" },
                { "P1.1", "privacy" }, { "P3.2", "privacy" }, { "P4.3", "privacy" },
                { "P6.7", "privacy" }, { "P8.1", "privacy" },
                { "CC1.6", NULL }, { "CC6.9", NULL }, { "CC8.2", NULL }, { "CC9.3", NULL },
                { "A1.4", NULL }, { "PI1.6", NULL }, { "C1.3", NULL }, { "P1.2", NULL },
                { "P6.8", NULL }, { "P9.1", NULL }, { "cc6.1", NULL }, { "", NULL },
                { "CC6.1 ", NULL },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *got = rules_criterion_category(cases[i].id);

                if ((got == NULL) != (cases[i].cat == NULL) ||
                    (got && strcmp(got, cases[i].cat)))
                        fail_msg("criterion '%s': %s", cases[i].id, got ? got : "unknown");
        }
        assert_int_equal(rules_criteria_count(), 61);
        assert_string_equal(rules_criterion_at(0), "CC1.1");
        assert_string_equal(rules_criterion_at(60), "P8.1");
        assert_null(rules_criterion_at(61));
}

struct tally {
        unsigned pass, fail;
        char last_why[400];
};

static void tally_cb(void *ud, const struct rules_test_result *r)
{
        struct tally *t = ud;

        if (r->passed) {
                t->pass++;
        } else {
                t->fail++;
                snprintf(t->last_why, sizeof(t->last_why), "%s #%u line %u: %s", r->rule->id,
                         r->index, r->line, r->why);
        }
}

static const struct runner_case {
        const char *name;
        const char *tests;      /* the tests: list of rule 'a' */
        unsigned pass, fail;
        const char *why;
} runner_cases[] = {
        { "passes", "[{input: '<13>1 - h sshd - - - go', expect: {action: go}}]", 1, 0, NULL },
        { "wrong value", "[{input: '<13>1 - h sshd - - - go', expect: {action: stop}}]", 0, 1,
          "action is \"go\", expected \"stop\"" },
        { "no match", "[{input: '<13>1 - h su - - - go'}]", 0, 1, "the rule did not match" },
        { "match false ok", "[{input: '<13>1 - h su - - - go', match: false}]", 1, 0, NULL },
        { "match false fails", "[{input: '<13>1 - h sshd - - - go', match: false}]", 0, 1,
          "the rule matched; expected no match" },
        { "criteria set", "[{input: '<13>1 - h sshd - - - go', expect: {criteria: [CC6.1]}}]",
          0, 1, "criteria is [\"CC6.1\",\"CC6.2\"], expected [\"CC6.1\"]" },
        { "mapping input", "[{input: {app: sshd, message: go}, expect: {action: go, pid: null}}]",
          1, 0, NULL },
        { "shadowed by earlier", "[{input: '<13>1 - h sshd - - - go early'}]", 0, 1,
          "the rule did not match (rule early did)" },
};

static void test_runner(void **state)
{
        for (size_t i = 0; i < sizeof(runner_cases) / sizeof(runner_cases[0]); i++) {
                const struct runner_case *c = &runner_cases[i];
                struct tally t = { 0 };
                unsigned pass = 99, fail = 99;
                char text[1024];
                struct rules_pack *p;

                snprintf(text, sizeof(text),
                         "rules:\n"
                         "  - {id: early, description: d, match: {message: {suffix: early}}}\n"
                         "  - id: a\n    description: d\n    match: {app: sshd}\n"
                         "    set: {action: '{message}'}\n    criteria: [CC6.1, CC6.2]\n"
                         "    continue: false\n    tests: %s\n", c->tests);
                /* 'early' is tried first only when its index lets it: it is a wildcard. */
                p = load(c->name, text);
                assert_int_equal(rules_pack_run_tests(p, tally_cb, &t, &pass, &fail), 0);
                if (pass != c->pass || fail != c->fail || t.pass != pass || t.fail != fail)
                        fail_msg("case '%s': %u passed %u failed (%s)", c->name, pass, fail,
                                 t.last_why);
                if (c->why && !strstr(t.last_why, c->why))
                        fail_msg("case '%s': why '%s' lacks '%s'", c->name, t.last_why, c->why);
                rules_pack_free(p);
        }
}

/* The shipped pack loads and its own tests pass (also run by `gatelog rules test`). */
static void test_default_pack(void **state)
{
        const char *path = getenv("RULES_SOC2");
        struct rules_pack *p = NULL;
        struct rules_error err;
        struct tally t = { 0 };
        unsigned pass = 0, fail = 0;
        char msg[700];

        if (!path)
                path = "rules/soc2";
        if (rules_pack_load(&path, 1, &key_opt, &p, &err) < 0) {
                rules_error_format(&err, msg, sizeof(msg));
                fail_msg("default pack: %s", msg);
        }
        assert_true(rules_pack_n_rules(p) >= 40);
        assert_int_equal(rules_pack_run_tests(p, tally_cb, &t, &pass, &fail), 0);
        if (fail)
                fail_msg("default pack: %u tests failed, e.g. %s", fail, t.last_why);
        assert_true(pass >= 80);
        rules_pack_free(p);
}

/* ---- Per-thread scratch (issue 12) ----
 * rules_apply keeps its match data and buffers per thread between calls: records mapped by
 * two threads at once, and by a trace callback that maps another record in the middle of
 * a call, come out exactly as mapped alone. */

static const char *const mt_lines[] = {
        "<86>1 2024-06-15T12:00:01Z h sshd 42 - - Accepted publickey for alice from 10.1.2.3 port 50022 ssh2: ED25519 SHA256:abc",
        "<86>1 2024-06-15T12:00:02Z h sshd 43 - - Failed password for invalid user bob from 10.1.2.4 port 50023 ssh2",
        "<85>1 2024-06-15T12:00:03Z h sudo 44 - - carol : TTY=pts/1 ; PWD=/home/carol ; USER=root ; COMMAND=/usr/bin/id",
        "<86>1 2024-06-15T12:00:05Z h useradd 46 - - new user: name=dave, UID=1001, GID=1001, home=/home/dave, shell=/bin/bash, from=/dev/pts/0",
        "<190>1 2024-06-15T12:00:07Z h nginx 48 - - 10.9.8.7 - frank [15/Jun/2024:12:00:07 +0000] \"GET /admin HTTP/1.1\" 403 512 \"-\" \"curl/8.1\"",
        "<30>1 2024-06-15T12:00:10Z h dhclient 51 - - DHCPREQUEST for 10.0.0.9 on eth0",
};
#define MT_N (sizeof(mt_lines) / sizeof(mt_lines[0]))

struct mt_ctx {
        const struct rules_pack *p;
        char *want[MT_N];
        int bad;
};

static char *mt_map(const struct rules_pack *p, size_t i, rules_trace_cb cb, void *ud)
{
        struct buf b = BUF_INIT;
        json *rec = NULL;

        if (rules_event_from_text(mt_lines[i], strlen(mt_lines[i]), RULES_INPUT_AUTO, 0, &rec) < 0 ||
            rules_apply_trace(p, rec, NULL, NULL, cb, ud) < 0 || json_canon(rec, &b) < 0) {
                json_free(rec);
                buf_free(&b);
                return NULL;
        }
        json_free(rec);
        return buf_steal(&b, NULL);
}

static void *mt_thread(void *arg)
{
        struct mt_ctx *c = arg;

        for (int round = 0; round < 300; round++) {
                size_t i = (size_t)round % MT_N;
                char *got = mt_map(c->p, i, NULL, NULL);

                if (!got || strcmp(got, c->want[i]) != 0)
                        __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
                free(got);
        }
        return NULL;
}

/* A trace callback that maps another record with the same pack, on the same thread. */
static void mt_nested_cb(void *ud, const struct rules_rule_info *rule, bool matched,
                         const json *rec)
{
        struct mt_ctx *c = ud;
        char *got = mt_map(c->p, 4, NULL, NULL);

        (void)rule;
        (void)matched;
        (void)rec;
        if (!got || strcmp(got, c->want[4]) != 0)
                c->bad++;
        free(got);
}

static void test_threads(void **state)
{
        const char *path = getenv("RULES_SOC2");
        struct rules_pack *p = NULL;
        struct rules_error err;
        struct mt_ctx c = { 0 };
        pthread_t th[2];

        if (!path)
                path = "rules/soc2";
        assert_int_equal(rules_pack_load(&path, 1, &key_opt, &p, &err), 0);
        c.p = p;
        for (size_t i = 0; i < MT_N; i++) {
                c.want[i] = mt_map(p, i, NULL, NULL);
                assert_non_null(c.want[i]);
        }
        assert_non_null(strstr(c.want[0], "\"rule\":\"sshd."));
        for (int t = 0; t < 2; t++)
                assert_int_equal(pthread_create(&th[t], NULL, mt_thread, &c), 0);
        for (int t = 0; t < 2; t++)
                assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(c.bad, 0);
        for (size_t i = 0; i < MT_N; i++) {
                char *got = mt_map(p, i, mt_nested_cb, &c);

                assert_non_null(got);
                assert_string_equal(got, c.want[i]);
                free(got);
        }
        assert_int_equal(c.bad, 0);
        for (size_t i = 0; i < MT_N; i++)
                free(c.want[i]);
        rules_pack_free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_operators),
                cmocka_unit_test(test_set),
                cmocka_unit_test(test_captures_utf8),
                cmocka_unit_test(test_index_order),
                cmocka_unit_test(test_redact),
                cmocka_unit_test(test_load_errors),
                cmocka_unit_test(test_short_key),
                cmocka_unit_test(test_pack_hash),
                cmocka_unit_test(test_tsc),
                cmocka_unit_test(test_runner),
                cmocka_unit_test(test_default_pack),
                cmocka_unit_test(test_threads),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
