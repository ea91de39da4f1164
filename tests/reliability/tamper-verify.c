/* tamper-verify: runs `gatelog verify` in-process many times, for the tamper generator
 * (tamper.py, issue 11).
 *
 * Starting the gatelog binary thousands of times is what would make the generator slow
 * (and very slow in the ASan build), so this program links the very code of `gatelog
 * verify` (cli/cmd-verify.c, the seal/ verifier and the outputs/ export reader) and calls
 * cmd_verify() once per line of standard input. Each line holds the arguments of one run,
 * separated by tabs (e.g. "--pubkey\tK.pub\t--export\tDIR"); after each run the report that
 * cmd_verify printed is followed by the line "@@rc N" on standard output, N the exit status
 * `gatelog verify` would have had (its standard error goes to standard output too, so that
 * each report is whole and in order). A crash or a hang shows as this process dying or going
 * silent, which tamper.py reports with the mutation that caused it. Under the ASan build,
 * LeakSanitizer checks at exit that thousands of runs leaked nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define MAX_ARGS 32

int main(void) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        if (dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
                return 3;
        setvbuf(stderr, NULL, _IONBF, 0);
        while ((n = getline(&line, &cap, stdin)) > 0) {
                if (line[n - 1] == '\n')
                        line[--n] = '\0';
                char *argv[MAX_ARGS + 2];
                int argc = 0;
                argv[argc++] = (char *)"verify";
                char *save = NULL;
                for (char *tok = strtok_r(line, "\t", &save); tok && argc <= MAX_ARGS;
                     tok = strtok_r(NULL, "\t", &save))
                        argv[argc++] = tok;
                argv[argc] = NULL;
                int rc = cmd_verify(argc, argv);
                fflush(stdout);
                printf("@@rc %d\n", rc);
                fflush(stdout);
        }
        free(line);
        return 0;
}
