/* The record scanner's block classifiers (seal/verify-scan-isa.c), shared with the scanner
 * (seal/verify-scan.c). Private to seal/. */
#pragma once
#include <stdint.h>

#include "seal/seal.h"

#define SCAN_BLOCK 64           /* bytes classified at a time: one bit each in a uint64_t */

/* Classifies the SCAN_BLOCK bytes at p (all readable): bit i set when p[i] is special ('"',
 * '\\', a control below 0x20, DEL or a byte >= 0x80). Pure; no state. */
typedef uint64_t (*scan_classify_fn)(const unsigned char *p);

#if defined(__x86_64__) || defined(__i386__)
#define SCAN_X86 1
#endif

/* The classifiers (seal/verify-scan-isa.c). The x86 ones need the CPU feature their name
 * says (SSE2, AVX2, AVX-512BW): verify-scan.c's classify_of checks it before handing one
 * out. */
uint64_t scan_classify_scalar(const unsigned char *p);
#if defined(SCAN_X86)
uint64_t scan_classify_sse2(const unsigned char *p);
uint64_t scan_classify_avx2(const unsigned char *p);
uint64_t scan_classify_avx512(const unsigned char *p);
#endif
