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
