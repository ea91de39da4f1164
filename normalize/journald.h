/* normalize/ for journal entries: one sd-journal entry becomes one gate record.
 *
 * The record has every member normalize.h lists, with these journal-specific values:
 *   source     {kind: "journald", name: the configured source name, transport: _TRANSPORT or
 *              null, peer: null}
 *   format     "journald"
 *   host       _HOSTNAME; app SYSLOG_IDENTIFIER, else _COMM; msgid null
 *   pid        _PID (trusted), else SYSLOG_PID, as an integer when all digits; procid its text
 *   time       _SOURCE_REALTIME_TIMESTAMP when it is a plausible decimal, else the entry's
 *              realtime (__REALTIME_TIMESTAMP)
 *   severity   from PRIORITY (0-7), facility from SYSLOG_FACILITY (0-23); null otherwise
 *   message    MESSAGE as text (invalid UTF-8 replaced and flagged "invalid_utf8"; the exact
 *              bytes are in journal.MESSAGE as base64)
 *   journal    {FIELD: value} for every field of the entry, plus __CURSOR,
 *              __REALTIME_TIMESTAMP, __MONOTONIC_TIMESTAMP and _BOOT_ID (from the entry
 *              header) exactly as `journalctl -o export` names them. A value that is valid
 *              UTF-8 without NUL is a string; any other value is {"base64": "..."} (RFC 4648,
 *              padded). A field present several times in one entry becomes an array of its
 *              values in order. Values longer than the field cap are cut there (the base64
 *              form after the cut), flagged "truncated", and named in "error".
 *   raw_sha256 SHA-256 of the entry in the journal export format, exactly as
 *              `journalctl -o export` (systemd 252) prints it: the four header lines, then
 *              each field in the order the journal stores them (a field whose "FIELD=value"
 *              is printable UTF-8 without a newline as that line, any other one as
 *              FIELD '\n' le64(length) value), each ended by '\n', then the empty line that
 *              ends the entry. It always covers every byte, also of cut fields.
 *   flags      "invalid_utf8", "truncated", "journal_bad_data" (the journal could not give
 *              every field: the error says why; the record holds what it could read)
 *
 * Two kinds of records do not come from one entry; both have source.kind "journald":
 *   gap        flags ["journal_gap"]: entries between two points of the journal are or may
 *              be missing: the stored cursor's entry is gone (its file was rotated away,
 *              vacuumed or deleted while we were down), or the sequence numbers of one
 *              journal jump (the library skipped entries of a damaged or removed file).
 *              journal: {gap_after_cursor, gap_after_time, gap_before_cursor,
 *              gap_before_time, missing} (null when unknown; missing: the number of entries
 *              when the sequence numbers tell it).
 *   unreadable flags ["journal_unreadable"]: a journal file the library cannot open
 *              (truncated, corrupt header). journal: {file, error}.
 *
 * A builder keeps the entry being assembled; it is reused entry after entry. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"

struct norm_journal;

/* field_max: bytes kept per field value (longer ones are cut and flagged). Returns 0,
 * -ENOMEM. */
int norm_journal_new(size_t field_max, struct norm_journal **ret);
void norm_journal_free(struct norm_journal *b); /* accepts NULL */
/* Takes each entry's record block from the first of the recyclers rc[0..n_rc) (at most 2,
 * smallest first) that fits it (json_new_obj_recycled, core/recycle.h): norm_journal_begin
 * then runs on their owner's thread only (performance, issue 12: no malloc per entry on
 * the collector's thread). Same records. Not owned by b. 0 or -EINVAL. */
struct recycle;
int norm_journal_recycle(struct norm_journal *b, struct recycle *const *rc, size_t n_rc);

/* Starts an entry. cursor: the entry's cursor; boot_id: 32 lowercase hex digits (the entry
 * header's boot id). Forgets any entry begun before. Returns 0 or -ENOMEM. */
int norm_journal_begin(struct norm_journal *b, const char *cursor, uint64_t realtime_us,
                       uint64_t monotonic_us, const char *boot_id);
/* Adds one field as sd_journal_enumerate_data gives it: "FIELD=value" (value may hold any
 * bytes). Data without '=' is kept under the field name "" (flagged journal_bad_data).
 * Copies what it keeps. Returns 0 or -ENOMEM. */
int norm_journal_add(struct norm_journal *b, const void *data, size_t len);
/* Notes that reading the entry failed after the fields added so far (flag
 * journal_bad_data, error text). */
void norm_journal_bad(struct norm_journal *b, const char *what);
/* Builds the record of the entry begun; the caller owns *ret_rec. name: the source's name.
 * Returns 0 or -ENOMEM. */
int norm_journal_finish(struct norm_journal *b, const char *name, int64_t received_us,
                        json **ret_rec);
/* The record's source.transport (the entry's first _TRANSPORT text), or NULL, of the record
 * the last norm_journal_finish returned: borrowed from that record, valid while it lives
 * and until the next norm_journal_begin (issue 12: no lookup in the record per entry). */
const char *norm_journal_transport(const struct norm_journal *b);

/* The gap record (see the top of this file). after_*: the stored cursor and its time
 * (time 0: unknown); before_*: the first entry read after it (NULL/0 when none yet);
 * missing: entries known to be missing, or -1 when unknown; why: the reason, for the
 * message. */
int norm_journal_gap(const char *name, const char *after_cursor, int64_t after_us,
                     const char *before_cursor, int64_t before_us, int64_t missing,
                     const char *why, int64_t received_us, json **ret_rec);
/* The unreadable-file record. */
int norm_journal_unreadable(const char *name, const char *file, const char *error,
                            int64_t received_us, json **ret_rec);
