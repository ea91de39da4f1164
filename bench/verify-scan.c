/* verify-scan: CPU-ns per record of the record scanner (seal/verify-scan.c) on the lines of a
 * records.jsonl, with each classifier of its structural index (issue 12, verify7), the line
 * form that finds a record's end by scanning it, and the memchr it replaces; and (issue 12,
 * verify8) the leaf hashes of the same lines and node hashes, through OpenSSL one at a time
 * and through seal/sha256-ni.c two at a time (the SHA extensions, when the CPU has them).
 *
 * usage: verify-scan FILE [MAX_MiB] [ROUNDS]
 * Reads at most MAX_MiB (default 128) of FILE into memory, splits it on '\n' once, then per
 * round times a pass of each variant over every line (CPU time of the process, so that a
 * loaded machine mostly shows in the spread, not the figures); prints one line per round. A
 * benchmark: nothing here asserts a time. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "seal/seal.h"
#include "seal/sha256-ni.h"  /* issue 12 (verify8) */

static double cpu_s(void)
{
        struct timespec t;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: verify-scan FILE [MAX_MiB] [ROUNDS]\n");
                return 2;
        }
        size_t cap = (argc > 2 ? (size_t)atol(argv[2]) : 128) << 20, n = 0, n_lines = 0;
        int rounds = argc > 3 ? atoi(argv[3]) : 3, fd = open(argv[1], O_RDONLY);
        char *b = malloc(cap);
        ssize_t k;

        if (fd < 0 || !b) {
                perror(argv[1]);
                return 1;
        }
        while (n < cap && (k = read(fd, b + n, cap - n)) > 0)
                n += (size_t)k;
        close(fd);
        for (char *p = b; (p = memchr(p, '\n', n - (size_t)(p - b))); p++)
                n_lines++;
        const char **line = malloc(n_lines * sizeof(*line));
        size_t *len = malloc(n_lines * sizeof(*len));
        if (!line || !len)
                return 1;
        for (size_t i = 0, at = 0; i < n_lines; i++) {
                const char *nl = memchr(b + at, '\n', n - at);
                line[i] = b + at;
                len[i] = (size_t)(nl - line[i]);
                at += len[i] + 1;
        }
        static const struct {
                const char *name;
                enum seal_scan_isa isa;
        } v[] = { { "best", SEAL_SCAN_ISA_BEST }, { "scalar", SEAL_SCAN_ISA_SCALAR },
                  { "sse2", SEAL_SCAN_ISA_SSE2 }, { "avx2", SEAL_SCAN_ISA_AVX2 },
                  { "avx512", SEAL_SCAN_ISA_AVX512 } };
        struct seal_scan sc;
        long decided = 0;

        printf("%zu lines, %.1f bytes each\n", n_lines,
               (double)n / (double)(n_lines ? n_lines : 1));
        for (int r = 0; r < rounds; r++) {
                for (size_t j = 0; j < sizeof(v) / sizeof(v[0]); j++) {
                        if (!seal_scan_isa_supported(v[j].isa))
                                continue;
                        double t = cpu_s();
                        for (size_t i = 0; i < n_lines; i++)
                                decided += seal_scan_record_isa(line[i], len[i], &sc, v[j].isa);
                        printf("%s %.1f  ", v[j].name, (cpu_s() - t) / (double)n_lines * 1e9);
                }
                double t = cpu_s();
                for (size_t i = 0; i < n_lines; i++) {
                        size_t l;
                        decided += seal_scan_line(line[i], n - (size_t)(line[i] - b), &sc, &l);
                }
                printf("line %.1f  ", (cpu_s() - t) / (double)n_lines * 1e9);
                t = cpu_s();
                for (size_t i = 0; i < n_lines; i++)
                        decided += memchr(line[i], '\n', n - (size_t)(line[i] - b)) != NULL;
                printf("memchr %.1f ns/record\n", (cpu_s() - t) / (double)n_lines * 1e9);
        }
        /* issue 12 (verify8): SHA-256 of the same lines as leaves, and as many node hashes. */
        struct seal_blob *recs = malloc(n_lines * sizeof(*recs));
        uint8_t (*leaf)[HASH_LEN] = malloc((n_lines + 1) * HASH_LEN);
        uint8_t (*node)[HASH_LEN] = malloc((n_lines / 2 + 1) * HASH_LEN);
        if (!recs || !leaf || !node)
                return 1;
        for (size_t i = 0; i < n_lines; i++)
                recs[i] = (struct seal_blob){ line[i], len[i] };
        for (int r = 0; r < rounds; r++) {
                for (int ni = 0; ni <= 1; ni++) {
                        double t = cpu_s();
                        sha_leaf_hashes_isa(recs, n_lines, leaf, ni);
                        double tl = cpu_s() - t;
                        t = cpu_s();
                        sha_node_hashes_isa((const uint8_t (*)[HASH_LEN])leaf, n_lines / 2,
                                            node, ni);
                        double tn = cpu_s() - t;
                        printf("%s: leaf %.1f ns/record, node %.1f ns/hash  ",
                               ni ? "sha-ni x2" : "openssl", tl / (double)n_lines * 1e9,
                               tn / (double)(n_lines / 2 ? n_lines / 2 : 1) * 1e9);
                }
                printf("\n");
        }
        decided += leaf[0][0] != node[0][0];
        free(recs);
        free(leaf);
        free(node);
        free(line);
        free(len);
        free(b);
        return decided > 0 ? 0 : 1;
}
