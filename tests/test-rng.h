/* The unit tests' pseudo-random generators: fixed seeds, so that a failure reproduces on
 * every machine and a seed in a test names the exact inputs it drew. Not for anything but
 * tests (statistically weak, predictable).
 *
 * The state is the caller's (a local of the test, or main's passed to the tests that share
 * one sequence with cmocka_unit_test_prestate): no globals here. A xorshift state must not
 * be 0 (it would then draw 0 forever).
 *
 * These are the generators the tests each kept a copy of before (issue 12 hygiene): the
 * same recurrences, so the same seeds draw the same values as before. The fuzzers have
 * their own (tests/fuzz/fuzz.h: splitmix64 seeded from the input). */
#pragma once
#include <stdint.h>

/* Marsaglia's xorshift64 (13, 7, 17): advances *state and returns the new state. */
static inline uint64_t test_rng_next(uint64_t *state)
{
        uint64_t x = *state;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        return x;
}

/* xorshift64* (12, 25, 27; Vigna's multiplier): advances *state and returns the state
 * times the multiplier (better low bits than test_rng_next). */
static inline uint64_t test_rng_next_star(uint64_t *state)
{
        uint64_t x = *state;

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        return x * UINT64_C(2685821657736338717);
}

/* The 32-bit linear congruential step of C's example rand() (ANSI C, 1103515245 and 12345):
 * advances *state and returns it. Its low bits cycle fast: the tests draw from bits 8 and
 * above. */
static inline unsigned test_rng_lcg(unsigned *state)
{
        *state = *state * 1103515245u + 12345u;
        return *state;
}
