/* cli/: main and the subcommands. Each command parses its own options, prints --help, and
 * returns the process exit status: 0 success, 1 the check failed (verify), 2 usage or
 * configuration error, 3 runtime error. */
#pragma once

int cmd_run(int argc, char **argv);
int cmd_normalize(int argc, char **argv);
int cmd_seal(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_epochs(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_verify(int argc, char **argv);
/* rules engine (issue 4) */
int cmd_rules(int argc, char **argv);
/* auditor tools (issue 10) */
int cmd_proof(int argc, char **argv);
int cmd_verify_proof(int argc, char **argv);
int cmd_head(int argc, char **argv);
int cmd_report(int argc, char **argv);  /* evidence report (issue 10) */
int cmd_timestamp(int argc, char **argv);  /* RFC 3161 time stamps (issue 10) */
/* ops (issue 9): gatelog config check|dump */
int cmd_config(int argc, char **argv);
