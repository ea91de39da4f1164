/* Private to normalize/journald*.c: the state of a journal entry's record being built, which
 * the field intake (normalize/journald.c: norm_journal_begin/_add, the streamed hash) fills
 * and the record side (normalize/journald-record.c: the record's members, the notices)
 * reads. The public API is normalize/journald.h. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/tm.h"
#include "normalize/journald.h"
#include "normalize/syslog.h"

enum jflag { JF_INVALID_UTF8, JF_JOURNAL_BAD_DATA, JF_TRUNCATED, JF__MAX }; /* sorted */

/* The fields the record's members are taken from (norm_journal_build): their first value is
 * remembered as it is added, so that finishing looks none of them up (issue 12). */
enum known {
        K_SOURCE_REALTIME, K_SYSLOG_IDENTIFIER, K_COMM, K_PID, K_SYSLOG_PID, K_FACILITY,
        K_HOSTNAME, K_PRIORITY, K_TRANSPORT, K__MAX
};

#define COMMON_SLOTS 128  /* a power of two, over twice the names */

/* The RFC 3339 text of the last second formatted, per time of the record (issue 12). */
struct norm_journal_time {
        int64_t sec;    /* -1: none yet */
        char text[TM_RFC3339_LEN];
};

struct norm_journal {
        size_t field_max;
        struct hash_sha256_state md;
        /* The export form's bytes not hashed yet: an entry's ~35 small pieces go to SHA-256
         * in a few updates, not one call each (issue 12). */
        unsigned char hbuf[2048];
        size_t hlen;
        json *rec;              /* the record being built: its arena holds everything */
        json *fields;           /* the "journal" object being built, in rec */
        struct buf msg;         /* MESSAGE's bytes (first occurrence, capped) */
        bool has_msg;
        const json *msg_node;   /* or the first MESSAGE's value, when printable and whole */
        unsigned flags;
        char error[SYSLOG_ERROR_MAX];
        int64_t realtime_us;
        /* Names in the journal object so far, as a 64-bit filter of name_bit(): a field
         * whose bit is clear is new and is appended without a lookup (issue 12). */
        uint64_t names;
        uint64_t header_names;  /* the filter bits of the header members (built once) */
        /* The common names in the journal object so far, by index (issue 12: a common name
         * whose filter bit another name had set was looked up, then its key copied). */
        uint64_t common_seen;
        const json *known[K__MAX];  /* first value of each known field, or NULL */
        /* common_names by name hash: index + 1, 0 for an empty slot (built once). */
        uint8_t common_slot[COMMON_SLOTS];
        struct norm_journal_time tcache[2]; /* received, time */
        struct recycle *rc[2];  /* where records' blocks come from (norm_journal_recycle) */
        size_t n_rc;
};

/* journald-record.c: fills rec, the record of the entry b holds, h its raw_sha256. Takes
 * b->fields (already a node of rec) always; b->flags may gain JF_INVALID_UTF8. 0 or
 * -ENOMEM (rec is then the caller's to free). */
int norm_journal_build(struct norm_journal *b, json *rec, const char *name,
                       int64_t received_us, const uint8_t h[HASH_LEN]);
