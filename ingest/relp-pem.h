/* Internal to ingest/: the memfd holding a RELP-over-TLS listener's certificate chain and key
 * (relp-pem.c says why). Not part of the stage's API. */
#pragma once
#include <stddef.h>

#include "ingest/ingest.h"

/* A new memfd (close-on-exec) holding o->cert then o->key, checked with OpenSSL: the chain
 * loads, the key loads and matches it. librelp reads it as "/proc/self/fd/N". Returns the
 * fd (caller owns), or -errno with err saying which file and why (-EINVAL: OpenSSL refused
 * it, -EFBIG: over 1 MiB, else the read error). */
int relp_pem_build(const struct ingest_tls_options *o, char *err, size_t err_len);
