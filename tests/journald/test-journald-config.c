/* The `journald:` configuration section: what a valid item gives, and every refusal with
 * FILE:LINE:COLUMN and the key path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/config.h"
#include "ingest/journald.h"

static void test_valid(void **state)
{
        static const char text[] =
                "journald:\n"
                "  - name: host1\n"
                "    directory: /host/var/log/journal\n"
                "    match: [\"_SYSTEMD_UNIT=sshd.service\", \"_UID=0\"]\n"
                "    units: [sshd, cron.service]\n"
                "    identifiers: sudo\n"
                "    transports: [syslog, journal]\n"
                "    priorities: warning\n"
                "    start: 2024-06-01T00:00:00Z\n"
                "  - name: files\n"
                "    files: [/a.journal, /b.journal]\n"
                "    start: tail\n"
                "  - name: local\n"
                "    system: true\n";
        struct config c;
        struct config_error e;

        (void)state;
        assert_int_equal(config_load_text("t.yaml", text, strlen(text), &c, &e), 0);
        assert_int_equal(c.n_journald, 3);
        assert_string_equal(c.journald[0].name, "host1");
        assert_string_equal(c.journald[0].directory, "/host/var/log/journal");
        assert_int_equal(c.journald[0].n_matches, 2);
        assert_string_equal(c.journald[0].matches[1], "_UID=0");
        assert_int_equal(c.journald[0].n_units, 2);
        assert_int_equal(c.journald[0].n_identifiers, 1);
        assert_string_equal(c.journald[0].identifiers[0], "sudo");
        assert_int_equal(c.journald[0].n_transports, 2);
        assert_int_equal(c.journald[0].max_priority, 4);
        assert_int_equal(c.journald[0].start, JOURNALD_START_TIME);
        assert_true(c.journald[0].start_us == INT64_C(1717200000000000));
        assert_int_equal(c.journald[1].n_files, 2);
        assert_int_equal(c.journald[1].start, JOURNALD_START_TAIL);
        assert_int_equal(c.journald[1].max_priority, -1);
        assert_true(c.journald[2].system);
        assert_int_equal(c.journald[2].start, JOURNALD_START_HEAD);
        config_free(&c);

        /* Leaving the section out: no journal sources. */
        assert_int_equal(config_load_text("t.yaml", "chain: x\n", 9, &c, &e), 0);
        assert_int_equal(c.n_journald, 0);
        config_free(&c);
}

struct bad {
        const char *text;
        const char *want;   /* formatted error */
};

static const struct bad bad[] = {
        { "journald:\n  - directory: /x\n", "t.yaml:2:5: journald[0]: missing key 'name'" },
        { "journald:\n  - name: a\n", "t.yaml:2:5: journald[0]: give exactly one of directory, "
                                     "files or system: true" },
        { "journald:\n  - name: a\n    directory: /x\n    system: true\n",
          "t.yaml:2:5: journald[0]: give exactly one of directory, files or system: true" },
        { "journald:\n  - name: a\n    directory: /x\n  - name: a\n    directory: /y\n",
          "t.yaml:4:11: journald[1].name: duplicate journald name 'a'" },
        { "journald:\n  - name: a b\n    directory: /x\n",
          "t.yaml:2:11: journald[0].name: 'a b' is not a name (1-64 of A-Z a-z 0-9 . _ -)" },
        { "journald:\n  - name: a\n    directory: /x\n    match: [\"_UID=0\", \"lower=1\"]\n",
          "t.yaml:4:23: journald[0].match[1]: 'lower=1' is not FIELD=value (FIELD: A-Z 0-9 _, "
          "not starting with a digit, at most 64)" },
        { "journald:\n  - name: a\n    directory: /x\n    priorities: loud\n",
          "t.yaml:4:17: journald[0].priorities: unknown priority 'loud' (0-7 or emerg alert "
          "crit err warning notice info debug)" },
        { "journald:\n  - name: a\n    directory: /x\n    start: yesterday\n",
          "t.yaml:4:12: journald[0].start: bad start 'yesterday' (head, tail, or an RFC 3339 "
          "time such as 2024-06-01T00:00:00Z)" },
        { "journald:\n  - name: a\n    directory: /x\n    transports: [pigeon]\n",
          "t.yaml:4:18: journald[0].transports[0]: unknown transport 'pigeon' (audit, driver, "
          "syslog, journal, stdout, kernel)" },
        { "journald:\n  - name: a\n    directory: /x\n    colour: red\n",
          "t.yaml:4:5: journald[0]: unknown key 'colour' (name, directory, files, system, "
          "match, units, identifiers, transports, priorities, start)" },
        { "journald:\n  - name: a\n    directory: /x\n    units: []\n",
          "t.yaml:4:12: journald[0].units: an empty list (leave the key out for no filter)" },
        { "journald:\n  - name: a\n    system: yes\n",
          "t.yaml:3:13: journald[0].system: expected true or false" },
        { "journald: {name: a}\n", "t.yaml:1:11: journald: expected a list of journal sources" },
        { "journald:\n  - name: a\n    directory:\n",
          "t.yaml:3:15: journald[0].directory: missing value" },
};

static void test_bad(void **state)
{
        int failures = 0;

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct config c;
                struct config_error e;
                char got[512];
                int r = config_load_text("t.yaml", bad[i].text, strlen(bad[i].text), &c, &e);

                if (r == 0) {
                        print_error("case %zu accepted:\n%s\n", i, bad[i].text);
                        config_free(&c);
                        failures++;
                        continue;
                }
                config_error_format(&e, got, sizeof(got));
                if (strcmp(got, bad[i].want) != 0) {
                        print_error("case %zu:\n got %s\nwant %s\n", i, got, bad[i].want);
                        failures++;
                }
        }
        assert_int_equal(failures, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_bad),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
