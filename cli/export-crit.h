/* The exporter's criteria reader (issue 12): a record's top-level "criteria" from its
 * bytes, reading only as far as that member.
 *
 * The export lists each record under the criteria its own (signed) bytes name. The full
 * record scanner (seal_scan_record) checks all ~700 bytes of a record to decide canonical
 * form, which the export does not need: in canonical form (RFC 8785, which every stored
 * record is in and which verification requires) keys are sorted without duplicates, and
 * "criteria" comes after a few short members ("action", "actor", "app"), so this reads the
 * first ~100 bytes of a record. */
#pragma once
#include <stddef.h>

#include "seal/seal.h"

/* 1 when p starts a JSON object whose top-level keys, up to "criteria" or the first key
 * sorting after it, are plain printable ASCII (no escape) in strictly increasing byte
 * order with no white space outside strings, and whose "criteria" is absent (the end or a
 * later key came first) or an array of at most max strings of printable ASCII without
 * escapes followed by the end or a later key: ids[0..*ret_n) then point into p (*ret_n 0
 * when absent). For every record in canonical form this is exactly its "criteria" (keys
 * sorted and unique: the member is where the prefix says). Bytes after the member are
 * not read: bytes that are not canonical JSON (only an edited or damaged store holds any,
 * and verification fails on them whatever the export lists) may be answered from their
 * prefix. 0 when it cannot tell: use the full scanner. Never allocates. */
int export_crit_scan(const char *p, size_t len, struct seal_span *ids, size_t max,
                     size_t *ret_n);
