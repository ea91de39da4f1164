/* Tests for the ops keys of cli/config.c: http.*, run.user/group/allow_root, and the GATELOG_
 * environment overrides laid over a loaded file. Each case sets some variables, loads a
 * small file, applies the environment and checks the result, or the error naming the
 * variable (or file:line:column for the file's own keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/config.h"

struct env_case {
        const char *name;
        const char *yaml;
        const char *env[6];          /* "NAME=value" */
        const char *error;           /* substring of the formatted error, or NULL */
        void (*check)(const struct config *c);
};

static void check_defaults(const struct config *c)
{
        assert_true(c->http.enabled);
        assert_string_equal(c->http.listen, "127.0.0.1:9514");
        assert_int_equal(c->http.ready_max_backlog, 3);
        assert_null(c->run_user);
        assert_false(c->run_allow_root);
}

static void check_file_keys(const struct config *c)
{
        assert_false(c->http.enabled);
        assert_string_equal(c->http.listen, "[::1]:9600");
        assert_int_equal(c->http.ready_max_backlog, 0);
        assert_string_equal(c->run_user, "gatelog");
        assert_string_equal(c->run_group, "adm");
        assert_true(c->run_allow_root);
}

static void check_env_wins(const struct config *c)
{
        assert_string_equal(c->chain, "from-env");
        assert_string_equal(c->http.listen, "0.0.0.0:9000");
        assert_true(c->http.enabled);               /* "1" is true */
        assert_string_equal(c->run_user, "nobody");
        assert_int_equal(c->log_level, LOG_LVL_DEBUG);
        assert_string_equal(c->db_path, "/data/g.db"); /* from the file, untouched */
}

static void check_listen(const struct config *c)
{
        assert_int_equal(c->syslog.n_listen, 3);
        assert_int_equal(c->syslog.listen[0].transport, INGEST_UDP);
        assert_string_equal(c->syslog.listen[0].addr, "0.0.0.0:514");
        assert_int_equal(c->syslog.listen[1].transport, INGEST_TCP);
        assert_string_equal(c->syslog.listen[1].addr, "[::]:514");
        assert_int_equal(c->syslog.listen[2].transport, INGEST_UNIX);
        assert_string_equal(c->syslog.listen[2].addr, "/run/gatelog/log \"q\".sock");
}

static void check_quotes(const struct config *c)
{
        assert_string_equal(c->db_path, "a\"b\\c: d #e");
}

static const struct env_case cases[] = {
        { "defaults", "chain: x\n", { NULL }, NULL, check_defaults },
        { "file keys", "http:\n  enabled: false\n  listen: \"[::1]:9600\"\n"
          "  ready_max_backlog: 0\nrun:\n  user: gatelog\n  group: adm\n  allow_root: true\n",
          { NULL }, NULL, check_file_keys },
        { "environment wins over the file", "store:\n  path: /data/g.db\nchain: file\n",
          { "GATELOG_CHAIN=from-env", "GATELOG_HTTP_LISTEN=0.0.0.0:9000",
            "GATELOG_HTTP_ENABLED=1", "GATELOG_RUN_USER=nobody", "GATELOG_LOG_LEVEL=debug" },
          NULL, check_env_wins },
        { "listen list", "chain: x\n",
          { "GATELOG_SYSLOG_LISTEN=udp:0.0.0.0:514,tcp:[::]:514,unix:/run/gatelog/log \"q\".sock" },
          NULL, check_listen },
        { "quotes and specials pass through", "chain: x\n",
          { "GATELOG_STORE_PATH=a\"b\\c: d #e" }, NULL, check_quotes },
        { "bad bool in the file", "http:\n  enabled: maybe\n", { NULL },
          "t.yaml:2:12: http.enabled: expected true or false", NULL },
        { "bad address in the file", "http:\n  listen: nowhere\n", { NULL },
          "t.yaml:2:11: http.listen: bad address 'nowhere'", NULL },
        { "unknown http key", "http:\n  port: 1\n", { NULL },
          "t.yaml:2:3: http: unknown key 'port'", NULL },
        { "bad env value names the variable", "chain: x\n",
          { "GATELOG_CHAIN=ok", "GATELOG_LOG_LEVEL=loud" },
          "GATELOG_LOG_LEVEL: log.level: unknown level 'loud'", NULL },
        { "bad env listener", "chain: x\n", { "GATELOG_SYSLOG_LISTEN=udp:127.0.0.1:514,sctp:x:1" },
          "GATELOG_SYSLOG_LISTEN: syslog.listen[1]: unknown transport 'sctp'", NULL },
        { "bad env bool", "chain: x\n", { "GATELOG_RUN_ALLOW_ROOT=perhaps" },
          "GATELOG_RUN_ALLOW_ROOT: run.allow_root: expected true or false", NULL },
        { "empty env value", "chain: x\n", { "GATELOG_RUN_USER=" },
          "GATELOG_RUN_USER: run.user: must not be empty", NULL },
        { "backlog out of range", "chain: x\n", { "GATELOG_HTTP_READY_MAX_BACKLOG=-1" },
          "GATELOG_HTTP_READY_MAX_BACKLOG: http.ready_max_backlog: bad number", NULL },
};

static const char *const all_vars[] = {
        "GATELOG_CHAIN", "GATELOG_SYSLOG_LISTEN", "GATELOG_QUEUE_MAX_EVENTS",
        "GATELOG_STORE_PATH", "GATELOG_SEAL_EPOCH", "GATELOG_SEAL_KEY", "GATELOG_RUN_PID_FILE",
        "GATELOG_RUN_USER", "GATELOG_RUN_GROUP", "GATELOG_RUN_ALLOW_ROOT", "GATELOG_LOG_LEVEL",
        "GATELOG_LOG_FORMAT", "GATELOG_HTTP_ENABLED", "GATELOG_HTTP_LISTEN",
        "GATELOG_HTTP_READY_MAX_BACKLOG",
};

static void test_env_table(void **state)
{
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct env_case *c = &cases[i];
                struct config cfg;
                struct config_error err = { 0 };
                char msg[600] = "";

                for (size_t k = 0; k < sizeof(all_vars) / sizeof(all_vars[0]); k++)
                        unsetenv(all_vars[k]);
                for (size_t k = 0; k < 6 && c->env[k]; k++) {
                        char *eq = strchr(c->env[k], '=');
                        char name[64];
                        snprintf(name, sizeof(name), "%.*s", (int)(eq - c->env[k]), c->env[k]);
                        setenv(name, eq + 1, 1);
                }
                int r = config_load_text("t.yaml", c->yaml, strlen(c->yaml), &cfg, &err);
                if (r == 0) {
                        r = config_apply_env(&cfg, &err);
                        if (r < 0)
                                config_free(&cfg);
                }
                if (r < 0)
                        config_error_format(&err, msg, sizeof(msg));
                if (c->error) {
                        if (r >= 0 || !strstr(msg, c->error))
                                fail_msg("case '%s': wanted error '%s', got r=%d '%s'", c->name,
                                         c->error, r, msg);
                        continue;
                }
                if (r < 0)
                        fail_msg("case '%s': unexpected error: %s", c->name, msg);
                c->check(&cfg);
                config_free(&cfg);
        }
}

/* The embedded default names the ops keys with their defaults. */
static void test_default_text(void **state)
{
        assert_non_null(strstr(config_default_yaml, "http:\n  enabled: true\n"
                                                    "  listen: 127.0.0.1:9514\n"));
        assert_non_null(strstr(config_default_yaml, "  allow_root: false\n"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_env_table),
                cmocka_unit_test(test_default_text),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
