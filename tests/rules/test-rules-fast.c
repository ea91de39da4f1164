/* The rules10 shortcuts of rules_apply against the general paths as the model: quick
 * rejects by a condition's first byte, candidate lists merged at load, and the sets under
 * one key made as one object (json_obj_put_sorted). The same pack is loaded twice, once
 * with the shortcuts turned off (rules_index_fast_off); random records (syslog lines of
 * the default pack's kinds, mangled, and JSON records with values of every type where the
 * rules look: absent, null, empty, numbers, objects already in place) are mapped by both
 * and must come out with the same verdict, rule id and canonical bytes. Also
 * json_obj_put_sorted itself against json_path_set_split one key at a time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/json.h"
#include "rules/rules-internal.h"

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return n ? (uint32_t)(rng % n) : 0;
}

#define PICK(a) a[rnd(sizeof(a) / sizeof(a[0]))]

/* Edge cases the default pack lacks: continue rules that set under an object a later rule
 * fills, conditions on numbers and empty strings, regexes without prefix, field copies of
 * non-string values into a group, a group whose templates may all fail, a rule whose
 * template reads a key it sets (kept in written order, no group), `not`/`any`. */
static const char edge_pack[] =
        "rules:\n"
        "  - id: e.cont\n"
        "    description: d\n"
        "    match: {app: {one_of: [svc, '']}, message: {prefix: [x, '']}}\n"
        "    set: {actor.zeta: '{message}', outcome: unknown}\n"
        "    continue: true\n"
        "  - id: e.num\n"
        "    description: d\n"
        "    match: {event.n: {one_of: ['1', '2', 'x']}}\n"
        "    set: {actor.n: '{event.n}', actor.obj: '{event.o}', target.k: '{event.k}'}\n"
        "    continue: true\n"
        "  - id: e.rx\n"
        "    description: d\n"
        "    match: {app: svc, message: {regex: '(?<a>[a-c]+)(?<b>\\d*)'}}\n"
        "    set: {actor.a: '{a}', actor.b: '{b}', target.b: ['{b}', 'none'], action: '{a}'}\n"
        "    continue: true\n"
        "  - id: e.empty\n"
        "    description: d\n"
        "    match: {event.s: {one_of: ['', 'q']}}\n"
        "    set: {target.s: '{event.s}', target.t: '{event.t}'}\n"
        "    continue: true\n"
        "  - id: e.reads\n"
        "    description: d\n"
        "    match: {host: {prefix: h}}\n"
        "    set: {target.host: '{host}', actor.copy: '{target.host}', target.a: '{actor.a|-}'}\n"
        "    continue: true\n"
        "  - id: e.any\n"
        "    description: d\n"
        "    match:\n"
        "      any: [{message: {suffix: z}}, {message: {contains: yy}}]\n"
        "      not: {app: other}\n"
        "    set: {actor.user: '{event.u}', actor.ip: '{event.ip}'}\n"
        "  - id: e.last\n"
        "    description: d\n"
        "    match: {message: {regex: '^ab'}}\n"
        "    set: {target.x: ab}\n";

static const char *const apps[] = { "sshd", "sudo", "CRON", "su", "nginx", "systemd", "svc",
                                    "other", "useradd", "usermod", "gate", "" };
static const char *const msgs[] = {
        "Accepted publickey for alice from 10.1.2.3 port 50022 ssh2: ED25519 SHA256:abc",
        "Accepted password for bob from 10.1.2.3 port 1 ssh2",
        "Failed password for invalid user bob from 10.1.2.4 port 50023 ssh2",
        "Failed password for carol from 10.1.2.4 port 50023 ssh2",
        "Disconnected from user dave 10.0.0.1 port 22",
        "Connection closed by 10.0.0.2 port 22 [preauth]",
        "maximum authentication attempts exceeded for root from 10.0.0.3 port 22 ssh2",
        "carol : TTY=pts/1 ; PWD=/home/carol ; USER=root ; COMMAND=/usr/bin/id",
        "carol : user NOT in sudoers ; TTY=pts/1 ; PWD=/x ; USER=root ; COMMAND=/bin/sh",
        "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        "pam_unix(sshd:session): session opened for user erin(uid=1000) by (uid=0)",
        "pam_unix(sshd:session): session closed for user erin",
        "pam_unix(sudo:auth): authentication failure; logname=a uid=1 euid=0 tty=/dev/pts/1 "
        "ruser=a rhost=  user=a",
        "(to root) frank on pts/3",
        "new user: name=dave, UID=1001, GID=1001, home=/home/dave, shell=/bin/bash",
        "add 'erin' to group 'sudo'",
        "Started nginx.service.",
        "Starting nginx.service...",
        "nginx.service: Scheduled restart job, restart counter is at 3.",
        "10.9.8.7 - frank [15/Jun/2024:12:00:07 +0000] \"GET /admin HTTP/1.1\" 403 512 \"-\" "
        "\"curl/8.1\"",
        "abc12 z", "xyz", "", "ab", "c", "yy", "\xc3\xa9t\xc3\xa9", "x",
};

/* A syslog line of a random kind, sometimes cut or with a byte changed. */
static void syslog_line(char *out, size_t cap)
{
        char msg[512];
        size_t n;

        snprintf(msg, sizeof(msg), "%s", PICK(msgs));
        n = strlen(msg);
        if (n && rnd(4) == 0)
                msg[rnd((uint32_t)n)] = "a :(x\"\\1 "[rnd(9)];
        if (n && rnd(6) == 0)
                msg[rnd((uint32_t)n)] = '\0';
        snprintf(out, cap, "<%u>1 2024-06-15T12:00:01.123456Z %s %s 42 - - %s", rnd(192),
                 rnd(3) ? "host-1" : "h", PICK(apps), msg);
}

/* A JSON value of a random type, for the places the rules read. */
static const char *json_value(void)
{
        static const char *const v[] = { "null", "1", "2", "2.5", "true", "\"\"", "\"q\"",
                                         "\"x\"", "\"deny\"", "\"allow\"", "{\"id\":\"u\"}",
                                         "[1]", "\"1\"", "\"ab\"" };

        return PICK(v);
}

/* A JSON record: either a gate record (actor/target null, a string or an object already
 * in place) or a structured event with `event` members the rules read. */
static void json_record(char *out, size_t cap)
{
        static const char *const actor[] = { "null", "{}", "{\"zeta\":\"z\"}", "\"s\"",
                                             "{\"a\":1,\"user\":\"u\"}" };

        if (rnd(2)) {
                snprintf(out, cap,
                         "{\"source\":{\"kind\":\"%s\"},\"message\":\"%s\",\"app\":\"%s\","
                         "\"host\":%s,\"actor\":%s,\"target\":%s,\"event\":{\"n\":%s,"
                         "\"s\":%s,\"o\":%s,\"u\":%s}}",
                         rnd(2) ? "json" : "syslog", rnd(2) ? "abc1 z" : "x", PICK(apps),
                         rnd(2) ? "\"h1\"" : "null", PICK(actor), PICK(actor), json_value(),
                         json_value(), json_value(), json_value());
        } else {
                snprintf(out, cap,
                         "{\"decision\":%s,\"actor\":%s,\"n\":%s,\"s\":%s,\"t\":%s,\"k\":%s,"
                         "\"u\":%s,\"ip\":%s,\"resource\":%s,\"action\":%s}",
                         rnd(3) ? (rnd(2) ? "\"deny\"" : "\"allow\"") : json_value(),
                         json_value(), json_value(), json_value(), json_value(), json_value(),
                         json_value(), json_value(), json_value(), json_value());
        }
}

static char *canon(const json *v)
{
        struct buf b = BUF_INIT;
        char *s;

        assert_int_equal(json_canon(v, &b), 0);
        s = strndup(b.data ? b.data : "", b.len);
        buf_free(&b);
        return s;
}

/* Maps n random records with pack `fast` and its model `slow`; they must agree. */
static void compare_packs(const char *what, struct rules_pack *fast, struct rules_pack *slow,
                          unsigned n)
{
        char text[1024];

        for (unsigned i = 0; i < n; i++) {
                json *a = NULL, *b = NULL;
                enum rules_verdict va, vb;
                const char *ia = NULL, *ib = NULL;
                char *ca, *cb;
                bool js = rnd(3) == 0;

                if (js)
                        json_record(text, sizeof(text));
                else
                        syslog_line(text, sizeof(text));
                assert_int_equal(rules_event_from_text(text, strlen(text), RULES_INPUT_AUTO, 7,
                                                       &a),
                                 0);
                assert_int_equal(rules_event_from_text(text, strlen(text), RULES_INPUT_AUTO, 7,
                                                       &b),
                                 0);
                assert_int_equal(rules_apply(fast, a, &va, &ia), 0);
                assert_int_equal(rules_apply(slow, b, &vb, &ib), 0);
                ca = canon(a);
                cb = canon(b);
                if (va != vb || (ia == NULL) != (ib == NULL) || (ia && strcmp(ia, ib)) ||
                    strcmp(ca, cb))
                        fail_msg("%s: record %u differs\ninput: %s\nfast (%s): %s\nmodel (%s): "
                                 "%s",
                                 what, i, text, ia ? ia : "-", ca, ib ? ib : "-", cb);
                free(ca);
                free(cb);
                json_free(a);
                json_free(b);
        }
}

static void test_fast_model(void **state)
{
        const char *soc2 = getenv("RULES_SOC2");
        struct rules_pack *f = NULL, *s = NULL;
        struct rules_error err;

        (void)state;
        assert_non_null(soc2);
        assert_int_equal(rules_pack_load(&soc2, 1, NULL, &f, &err), 0);
        assert_int_equal(rules_pack_load(&soc2, 1, NULL, &s, &err), 0);
        rules_index_fast_off(s);
        compare_packs("default pack", f, s, 20000);
        rules_pack_free(f);
        rules_pack_free(s);

        assert_int_equal(rules_pack_load_text("edge.yaml", edge_pack, sizeof(edge_pack) - 1, NULL,
                                              &f, &err),
                         0);
        assert_int_equal(rules_pack_load_text("edge.yaml", edge_pack, sizeof(edge_pack) - 1, NULL,
                                              &s, &err),
                         0);
        rules_index_fast_off(s);
        compare_packs("edge pack", f, s, 20000);
        rules_pack_free(f);
        rules_pack_free(s);
}

/* json_obj_put_sorted against json_path_set_split of each "key.name" in turn: objects
 * with the key absent, null, a string, an object; values missing, strings, roots of
 * another tree (adopted), and a hint right or wrong. */
static void test_put_sorted_model(void **state)
{
        static const struct json_key names[] = { JSON_KEY("a"), JSON_KEY("b"), JSON_KEY("ip"),
                                                  JSON_KEY("port"), JSON_KEY("user"),
                                                  JSON_KEY("\xc3\xa9") };
        const size_t nn = sizeof(names) / sizeof(names[0]);

        (void)state;
        assert_true(json_keys_sorted(names, nn));
        for (int iter = 0; iter < 5000; iter++) {
                static const char *const pre[] = { "{}", "{\"k\":null}", "{\"k\":\"s\"}",
                                                   "{\"k\":{}}", "{\"a\":1,\"k\":null,\"z\":2}",
                                                   "{\"k\":null,\"k2\":{\"x\":1}}" };
                const char *src = PICK(pre);
                json *a = NULL, *b = NULL, *vals[6];
                struct json_path path;
                char p[32];
                int r;

                assert_int_equal(json_parse(src, strlen(src), &a, NULL), 0);
                assert_int_equal(json_parse(src, strlen(src), &b, NULL), 0);
                for (size_t i = 0; i < nn; i++) {
                        switch (rnd(4)) {
                        case 0:
                                vals[i] = NULL;
                                break;
                        case 1:
                                vals[i] = json_new_strn_in(a, "v", 1);
                                break;
                        case 2:
                                vals[i] = json_new_int(rnd(100)); /* a root: adopted */
                                break;
                        default:
                                vals[i] = json_new_str("w");
                        }
                }
                r = json_obj_put_sorted(a, "k", 1, rnd(4), names, vals, nn);
                assert_true(r == 0 || r == 1);
                for (size_t i = 0; i < nn; i++) {
                        json *v;

                        if (!vals[i])
                                continue;
                        v = json_type_of(vals[i]) == JSON_INT ? json_new_int(json_int(vals[i]))
                                                                : json_new_str(json_str(vals[i], NULL));
                        snprintf(p, sizeof(p), "k.%.*s", (int)names[i].len, names[i].key);
                        assert_int_equal(json_path_split(p, &path), 0);
                        assert_int_equal(json_path_set_split(b, &path, v), 0);
                        if (r == 0) /* not done: the caller sets them one by one */
                                assert_int_equal(json_path_set_split(a, &path, vals[i]), 0);
                }
                {
                        char *ca = canon(a), *cb = canon(b);

                        if (strcmp(ca, cb))
                                fail_msg("put_sorted on %s (r=%d):\n%s\nmodel:\n%s", src, r, ca,
                                         cb);
                        free(ca);
                        free(cb);
                }
                json_free(a);
                json_free(b);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fast_model),
                cmocka_unit_test(test_put_sorted_model),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
