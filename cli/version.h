/* What `gatelog --version` prints: the release, the commit it was built from, and the
 * versions of the libraries linked (as they report themselves at run time). */
#pragma once
#include <stdio.h>

/* The commit (`git describe --always --dirty`), or "unknown" outside a git checkout. */
const char *version_commit(void);
/* Writes the version lines to f. */
void version_print(FILE *f);
