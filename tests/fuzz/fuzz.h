/* Shared by the fuzz targets in tests/fuzz/: each target is one fuzz-NAME.c defining
 * LLVMFuzzerTestOneInput. With -Dfuzz=true (clang) it links libFuzzer; in every build it also
 * links replay-main.c, which runs it over the seed corpus for `meson test --suite fuzz`.
 * A property violation aborts (fuzz_check), which both libFuzzer and meson report. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_check(cond, what)                                                         \
        do {                                                                           \
                if (!(cond)) {                                                         \
                        fprintf(stderr, "%s:%d: property violated: %s (%s)\n", __FILE__, \
                                __LINE__, (what), #cond);                              \
                        abort();                                                       \
                }                                                                      \
        } while (0)

/* A small deterministic PRNG (splitmix64) for splits derived from the input itself, so that
 * a crash reproduces from the input file alone. */
static inline uint64_t fuzz_rand(uint64_t *s) {
        uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static inline uint64_t fuzz_seed_of(const uint8_t *data, size_t size) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (size_t i = 0; i < size; i++)
                h = (h ^ data[i]) * 1099511628211ULL;
        return h;
}
