/* Tests for core/log.c: stderr is redirected to a pipe and each line checked as a reader
 * would: one line per call, escaped, level-filtered, and valid JSON in JSON mode. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include <cmocka.h>

#include "core/json.h"
#include "core/log.h"

/* stderr goes to the pipe only between capture() and captured(), so that cmocka's own
 * failure messages still reach the terminal. */
static int saved_fd = -1, pipe_rd = -1, pipe_wr = -1;

static int setup(void **state)
{
        int p[2];

        if (pipe2(p, O_NONBLOCK) < 0)
                return -1;
        saved_fd = dup(STDERR_FILENO);
        pipe_rd = p[0];
        pipe_wr = p[1];
        return 0;
}

static int teardown(void **state)
{
        close(saved_fd);
        close(pipe_rd);
        close(pipe_wr);
        return 0;
}

static void capture(void)
{
        char drain[4096];

        while (read(pipe_rd, drain, sizeof(drain)) > 0)
                ;
        dup2(pipe_wr, STDERR_FILENO);
}

/* Everything logged since capture() (static buffer); restores stderr. */
static const char *captured(void)
{
        static char out[65536];
        ssize_t n;

        dup2(saved_fd, STDERR_FILENO);
        n = read(pipe_rd, out, sizeof(out) - 1);
        out[n > 0 ? n : 0] = '\0';
        return out;
}

static void test_logfmt(void **state)
{
        const char *s;

        log_json = 0;
        log_max_level = LOG_LVL_INFO;
        capture();
        log_info("listening", "transport=%s addr=%s", "udp", "127.0.0.1:514");
        s = captured();
        /* ts=YYYY-MM-DDTHH:MM:SS.ffffffZ is 27 characters after "ts=". */
        assert_int_equal(strncmp(s, "ts=", 3), 0);
        assert_int_equal(s[3 + 26], 'Z');
        assert_string_equal(s + 3 + 27,
                            " level=info msg=\"listening\" transport=udp addr=127.0.0.1:514\n");
        capture();
        log_warn("bad \"frame\"", "peer=%s", "a\nlevel=error msg=forged");
        s = captured();
        assert_non_null(strstr(s, " level=warn msg=\"bad \\\"frame\\\"\" peer=a\\x0alevel=error"));
        assert_int_equal(strchr(s, '\n'), s + strlen(s) - 1); /* still one line */
        capture();
        log_debug("hidden", "x=%d", 1);
        assert_string_equal(captured(), "");
        log_max_level = LOG_LVL_DEBUG;
        capture();
        log_debug("shown", "%s", "");
        s = captured();
        assert_non_null(strstr(s, " level=debug msg=\"shown\"\n"));
        log_max_level = LOG_LVL_INFO;
}

static void test_json(void **state)
{
        const struct {
                const char *name, *kv, *key, *value;
        } cases[] = {
                { "bare", "a=1", "a", "1" },
                { "quoted", "b=\"two words\" c=3", "b", "two words" },
                { "quoted escapes", "p=\"x\\\"y\"", "p", "x\"y" },
                { "control in value", "v=a\tb", "v", "a\tb" },
                { "bare word", "flag", "flag", "" },
                { "after quoted", "b=\"q\" c=3", "c", "3" },
        };

        log_json = 1;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json *v = NULL;
                const char *s;

                capture();
                log_error("msg \"x\"", "%s", cases[i].kv);
                s = captured();
                if (json_parse(s, strlen(s), &v, NULL) != 0)
                        fail_msg("case '%s': not JSON: %s", cases[i].name, s);
                if (strcmp(json_str(json_obj_get(v, "level"), NULL), "error") != 0 ||
                    strcmp(json_str(json_obj_get(v, "msg"), NULL), "msg \"x\"") != 0 ||
                    json_str(json_obj_get(v, "ts"), NULL) == NULL)
                        fail_msg("case '%s': fixed members wrong: %s", cases[i].name, s);
                if (!json_str(json_obj_get(v, cases[i].key), NULL) ||
                    strcmp(json_str(json_obj_get(v, cases[i].key), NULL), cases[i].value) != 0)
                        fail_msg("case '%s': %s missing or wrong: %s", cases[i].name,
                                 cases[i].key, s);
                json_free(v);
        }
        log_json = 0;
}

static void test_truncated(void **state)
{
        char *big = malloc(40000);
        const char *s;

        memset(big, 'x', 39999);
        big[39999] = '\0';
        capture();
        log_info("big", "v=%s", big);
        s = captured();
        assert_true(strlen(s) < 20000);
        assert_non_null(strstr(s, " truncated=1\n"));
        free(big);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_logfmt),
                cmocka_unit_test(test_json),
                cmocka_unit_test(test_truncated),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
