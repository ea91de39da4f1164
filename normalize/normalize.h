/* normalize/: raw events become gate records.
 *
 * A gate record is a JSON object (core/json.h) with these members, all present (null where
 * unknown) so that its shape is stable for queries:
 *   received   RFC 3339 UTC, microseconds, 'Z' (receipt time)
 *   time       the event's own time in the same form (the header timestamp converted to UTC),
 *              or the receipt time when the header has none (flag "no_timestamp")
 *   source     {kind: "syslog", transport: "udp"|"tcp"|"unix"|..., peer: "IP:PORT"|path|null}
 *   format     "rfc5424" | "rfc3164" | "unknown"
 *   host, app, msgid   strings or null
 *   pid        integer when PROCID is all digits, else null (the text then in "procid")
 *   procid     string or null
 *   facility   syslog(3) keyword: kern user mail daemon auth syslog lpr news uucp cron
 *              authpriv ftp ntp security console solaris-cron local0..local7, or null
 *   severity   emerg alert crit err warning notice info debug, or null
 *   message    the MSG text (UTF-8; invalid bytes replaced, flag "invalid_utf8"), or null
 *   sd         RFC 5424 structured data as {SD-ID: {PARAM: value}}; a PARAM repeated in one
 *              element becomes an array of its values in order; {} when none
 *   rule, actor, action, target, outcome   null (the rules stage fills them)
 *   criteria   [] (the rules stage fills it)
 *   raw_sha256 hex SHA-256 of the bytes exactly as received (before truncation is applied it
 *              covers the bytes kept; see flags)
 *   raw        the received bytes as a string when the record is malformed (lossless when
 *              valid UTF-8), else null
 *   raw_b64    base64 of the received bytes when they are not valid UTF-8, else null
 *   flags      sorted array of strings, [] when clean: "malformed" (no usable header; the
 *              reason in "error"), "truncated", "invalid_utf8", "no_timestamp", "bad_pri",
 *              "bad_timestamp", "bad_sd", "year_inferred"
 *   error      short text saying what was wrong when "malformed" or another bad_* flag, else null
 *
 * Other collectors build records of the same shape (all members present), with:
 *   journald   format "journald", source {kind: "journald", name, transport, peer: null},
 *              journal {FIELD: value, ...} (every field of the entry, binary values as
 *              {"base64": ...}); flags "journal_gap" (entries may be missing before this one:
 *              a vacuumed file or a jump in sequence numbers), "journal_unreadable",
 *              "journal_bad_data" (normalize/journald.h)
 *   kafka      source {kind: "kafka", topic, partition, offset, key, key_b64, timestamp}; a
 *              JSON payload under event, else event null (normalize_payload below)
 *   tls, relp  syslog records whose source.transport is "tls" or "relp"; source.tls holds the
 *              verified client identity {version, cipher, verified, client: {subject, issuer,
 *              san, fingerprint_sha256}}; RELP resends are flagged "possible_duplicate"
 * A rule pack (rules/rules.h) then fills rule, criteria, actor, action, target, outcome, and
 * may add redacted {path: how} with the flag "redacted".
 *
 * Nothing is ever rejected: bytes that cannot be parsed become a record flagged malformed. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/tm.h"

enum norm_format { NORM_AUTO, NORM_RFC5424, NORM_RFC3164 };

/* The RFC 3339 text of the receipt time last formatted on a collector's thread
 * (performance, issue 12: the frames of one read share their receipt time, and formatting
 * it cost as much as parsing the header's), and the date of the last time formatted (the
 * header's times too mostly fall on one day). Zero-initialise it; one thread uses it. */
struct norm_time_text {
        int64_t us;
        size_t len;             /* 0: nothing kept yet */
        char text[TM_RFC3339_LEN];
        struct tm_day_text day; /* the date of the last time formatted (received or time) */
};

struct norm_source {
        const char *kind;       /* "syslog" */
        const char *transport;  /* "udp", "tcp", "unix", "stdin", ... */
        const char *peer;       /* "127.0.0.1:40000", "/run/gatelog.sock", or NULL */
};

/* Parses "auto", "rfc5424", "rfc3164". Returns 0 or -EINVAL. */
int norm_format_parse(const char *s, enum norm_format *ret);

/* Builds the gate record of one syslog message (one frame, without its framing; a trailing
 * LF/CR/NUL is not part of the message and is stripped). truncated says the collector cut
 * the frame at its size cap. The caller owns *ret_rec. Returns 0 or -ENOMEM; bad input is
 * never an error. */
int normalize_syslog(const char *msg, size_t len, bool truncated, const struct norm_source *src,
                     int64_t received_us, enum norm_format fmt, json **ret_rec);
/* normalize_syslog with the record's block from the first of the recyclers rc[0..n_rc)
 * (smallest first) that fits it (json_new_obj_recycled; on their owner's thread): no
 * malloc per record on a collector's thread (performance, issue 12). Same record. */
struct recycle;
int normalize_syslog_recycled(struct recycle *const *rc, size_t n_rc, const char *msg,
                              size_t len, bool truncated, const struct norm_source *src,
                              int64_t received_us, enum norm_format fmt, json **ret_rec);
/* normalize_syslog_recycled that keeps the receipt time's text in *received_text from one
 * call to the next (NULL: formatted per record). Same record. */
int normalize_syslog_recycled_tt(struct recycle *const *rc, size_t n_rc,
                                 struct norm_time_text *received_text, const char *msg,
                                 size_t len, bool truncated, const struct norm_source *src,
                                 int64_t received_us, enum norm_format fmt, json **ret_rec);

/* The syslog record's member keys in the order the builder appends them (a static table,
 * *ret_n entries): for the test that it is in RFC 8785 order (json_keys_sorted). */
const struct json_key *norm_record_keys(size_t *ret_n);

/* The syslog(3) keyword of a facility (0..23) or severity (0..7); NULL when out of range. */
const char *norm_facility_name(int facility);
const char *norm_severity_name(int severity);

/* ---- Broker payloads (normalize/json-event.c; the Kafka collector, issue 6) ----
 * Builds the gate record of one message from a broker: a JSON object (format "json", the
 * object under "event", time from its timestamp/ts/time member, host/app/message from it),
 * a syslog message (starts with '<': normalize_syslog), or else a record flagged
 * malformed with the bytes in raw/raw_b64. Records from here have one more member,
 * "event": the JSON object, or null. source (owned always) becomes the record's "source".
 * msg_time_us is the broker's timestamp of the message, INT64_MIN when it has none.
 * truncated says the caller cut the payload at its cap. The caller owns *ret_rec.
 * Returns 0 or -ENOMEM; bad input is never an error. */
int normalize_payload(const char *p, size_t len, bool truncated, json *source,
                      int64_t received_us, int64_t msg_time_us, json **ret_rec);
/* normalize_payload with the record's block from the first of the recyclers rc[0..n_rc)
 * (smallest first) that fits it (json_new_obj_recycled, normalize_syslog_recycled; on
 * their owner's thread): no malloc per record on the Kafka loop thread (performance,
 * issue 12). Same record. */
int normalize_payload_recycled(struct recycle *const *rc, size_t n_rc, const char *p,
                               size_t len, bool truncated, json *source, int64_t received_us,
                               int64_t msg_time_us, json **ret_rec);
/* A Kafka message's coordinates, what its record's "source" is made of (borrowed). */
struct norm_kafka_msg {
        const char *topic;
        int32_t partition;
        int64_t offset;
        const void *key;        /* NULL: no key */
        size_t key_len;
        int64_t ts_us;          /* the broker's timestamp, INT64_MIN when none */
};
/* normalize_payload_recycled with the source made from km inside the record's own block
 * (no separate allocation: performance, issue 12), msg_time_us being km->ts_us. The same
 * record as normalize_payload_recycled with normalize_kafka_source(km...). */
int normalize_kafka_recycled(struct recycle *const *rc, size_t n_rc, const char *p,
                             size_t len, bool truncated, const struct norm_kafka_msg *km,
                             int64_t received_us, json **ret_rec);
/* The broker record's member keys and its Kafka source's, in the order the builder fills
 * them (static tables): for the test that they are in RFC 8785 order (json_keys_sorted). */
const struct json_key *norm_payload_keys(size_t *ret_n, const struct json_key **ret_source,
                                         size_t *ret_source_n);
/* The "source" of a Kafka message: {kind: "kafka", topic, partition, offset, key, key_b64,
 * timestamp}. key is the message key as a string when it is valid UTF-8, key_b64 its
 * base64 otherwise (both null without a key); timestamp is RFC 3339 (ts_us INT64_MIN:
 * null). NULL when out of memory. */
json *normalize_kafka_source(const char *topic, int32_t partition, int64_t offset,
                             const void *key, size_t key_len, int64_t ts_us);
