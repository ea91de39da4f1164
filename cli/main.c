/* gatelog: one executable, subcommands. main only dispatches; each command parses its own
 * options (cli/cli.h states the exit statuses). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/version.h"  /* ops (issue 9) */

static const struct command {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
} commands[] = {
        { "run", cmd_run, "run the daemon: collect, store, seal and export" },
        { "normalize", cmd_normalize, "print the gate records that syslog lines on stdin give" },
        { "seal", cmd_seal, "close the open epoch now (--now)" },
        { "keygen", cmd_keygen, "create an Ed25519 signing key pair" },
        { "epochs", cmd_epochs, "list epochs: interval, counts, roots, state" },
        { "query", cmd_query, "print sealed records by criterion, time and host" },
        { "verify", cmd_verify, "verify a database or an export against a public key" },
        { "rules", cmd_rules, "check, test and explain YAML mapping rules (issue 4)" },
        /* auditor tools (issue 10) */
        { "proof", cmd_proof, "print the inclusion proof of one record" },
        { "verify-proof", cmd_verify_proof, "check an inclusion proof against a public key" },
        { "head", cmd_head, "print the chain head, or a signed checkpoint" },
        { "report", cmd_report, "write the evidence report of a period (HTML or JSON)" },
        { "timestamp", cmd_timestamp, "RFC 3161 time stamps for exported manifests" },
        { "config", cmd_config, "check a configuration file, or dump the effective one" }, /* issue 9 */
};

static void usage(FILE *f) {
        fprintf(f, "usage: gatelog COMMAND [OPTIONS]\n\n"
                   "gatelog turns access logs into signed, verifiable SOC 2 evidence.\n\n"
                   "commands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "  %-12s %s\n\n", "help", "this list; `gatelog COMMAND --help` for one");
        fprintf(f, "Documentation: README.md, docs/CONFIG.md, docs/FORMAT.md.\n");
}

int main(int argc, char **argv) {
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        const char *name = argv[1];
        if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
                if (argc > 2)
                        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                                if (!strcmp(argv[2], commands[i].name)) {
                                        char help[] = "--help";
                                        char *av[] = { argv[2], help, NULL };
                                        return commands[i].fn(2, av);
                                }
                usage(stdout);
                return 0;
        }
        if (!strcmp(name, "--version")) {
                version_print(stdout);  /* ops (issue 9): the commit and linked libraries */
                return 0;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (!strcmp(name, commands[i].name))
                        return commands[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "gatelog: unknown command '%s'\n", name);
        usage(stderr);
        return 2;
}
