/* What the pre-storage benchmarks (stages, mapper, rules-bench) share: loading the rule
 * pack with a demo key for its keyed hashes, and reading a capture of syslog lines. One
 * copy, so the three measure the same pack loaded the same way (issue 12 hygiene).
 * Header-only: each benchmark is one C file linked against the stage libraries. */
#pragma once
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules.h"

/* The keyed-hash key of the benchmarks: a fixed demo value, never a real one. */
#define BENCH_PACK_KEY "stages-bench-demo-key-0123456789"

/* Loads the pack from paths[0..n) (rules/soc2 when n is 0, run from the source tree).
 * Returns the pack, or NULL after printing the error prefixed with prog. */
static inline struct rules_pack *bench_pack_load(const char *const *paths, size_t n,
                                                 const char *prog)
{
        static const char *const dflt[] = { "rules/soc2" };
        static const char key[] = BENCH_PACK_KEY;
        struct rules_options opt = { (const uint8_t *)key, sizeof(key) - 1 };
        struct rules_pack *p = NULL;
        struct rules_error err;

        if (n == 0) {
                paths = dflt;
                n = 1;
        }
        if (rules_pack_load(paths, n, &opt, &p, &err) < 0) {
                char msg[700];

                rules_error_format(&err, msg, sizeof(msg));
                fprintf(stderr, "%s: %s\n", prog, msg);
                return NULL;
        }
        return p;
}

/* The lines of file, without their line ends (one syslog message each, as a frame
 * carries it). Returns the array (each line and the array malloc'd; the process keeps
 * them) and *ret_n, or NULL with errno when the file cannot be read. Aborts when out of
 * memory (a benchmark). */
static inline char **bench_read_lines(const char *file, size_t *ret_n)
{
        FILE *f = fopen(file, "r");
        char **lines = NULL, *l = NULL;
        size_t n = 0, cap = 0, lc = 0;
        ssize_t k;

        if (!f)
                return NULL;
        while ((k = getline(&l, &lc, f)) > 0) {
                while (k > 0 && (l[k - 1] == '\n' || l[k - 1] == '\r'))
                        k--;
                if (n == cap) {
                        cap = cap ? cap * 2 : 1024;
                        lines = realloc(lines, cap * sizeof(*lines));
                        if (!lines)
                                abort();
                }
                lines[n++] = strndup(l, (size_t)k);
                if (!lines[n - 1])
                        abort();
        }
        free(l);
        fclose(f);
        *ret_n = n;
        return lines;
}
