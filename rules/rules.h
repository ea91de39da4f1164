/* rules/: YAML mapping rules turn gate records into SOC 2 evidence.
 *
 * A rule pack is a list of YAML files (docs/RULES.md describes the language). Loading
 * validates everything (unknown keys, PCRE2 regexes compiled with JIT, criterion IDs against
 * the 2017 Trust Services Criteria, duplicate ids) and reports the first error with
 * file:line:column. After loading, a pack is immutable: rules_apply() keeps all its scratch
 * state on the caller's stack and heap, so one pack may be used by any number of threads at
 * once. Rules are indexed on the equality conditions they put on `app` and `source.kind`, so
 * that a record tries only the rules that can match it.
 *
 * What rules_apply() writes into a gate record (normalize/normalize.h lists the members):
 *   rule      the id of the last rule that matched, or "unmapped"
 *   criteria  the union of the matched rules' criteria, in TSC order ([] when unmapped)
 *   actor     null, or an object {user, ip, port, uid, ...} (strings) set by rules
 *   action    null, or a string ("login", "sudo", "account.create", ...)
 *   target    null, or an object {host, user, command, unit, package, resource, ...}
 *   outcome   null, or "success" | "failure" | "unknown"
 *   severity  replaced when a rule sets it (syslog keywords: emerg .. debug)
 *   redacted  present only when a rule redacted something: {PATH: "mask"|"hash"|"remove"},
 *             with the flag "redacted" added to flags
 * Nothing else of the record is changed, except redacted fields. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"

struct rules_pack;

struct rules_error {
        char file[256];
        unsigned line, column;  /* 1-based; 0 when the error is not about one place */
        char msg[256];
};

struct rules_options {
        /* Key of the keyed hashes (`redact: {FIELD: hash}`): HMAC-SHA-256. A pack that
         * hashes refuses to load without one. Copied by rules_pack_load. */
        const uint8_t *hmac_key;
        size_t hmac_key_len;
};

/* The shortest HMAC key accepted: 16 bytes (128 bits), so that hashed values cannot be
 * brute-forced back by guessing the key. */
#define RULES_HMAC_KEY_MIN 16
/* Rule files above this size are refused (a pack is pages of text, not megabytes). */
#define RULES_FILE_MAX (4u * 1024 * 1024)

/* Loads rule files and folders; a folder contributes its *.yaml and *.yml files (not
 * recursively, hidden files skipped) in name order (strcmp). Returns 0 and *ret, or
 * -EINVAL (a rules error: err says file:line:column and what was expected), -ENOENT/-EACCES
 * and other -errno (a path could not be read: err->file names it), -ENOMEM. A pack with no
 * rule at all is valid. *ret untouched on error. May block (reads files). */
int rules_pack_load(const char *const *paths, size_t n_paths, const struct rules_options *opt,
                    struct rules_pack **ret, struct rules_error *err);
/* Loads one file's text (name is what errors and the hash call it). Same returns. */
int rules_pack_load_text(const char *name, const char *text, size_t len,
                         const struct rules_options *opt, struct rules_pack **ret,
                         struct rules_error *err);
void rules_pack_free(struct rules_pack *p);  /* accepts NULL */

/* Hex SHA-256 identifying the pack (64 digits; borrowed, lives as long as the pack): over
 * each file in load order, the netstring-like "LEN:NAME" + "LEN:BYTES" where NAME is the
 * file's base name and LEN decimal (docs/RULES.md shows how to recompute it). */
const char *rules_pack_hash(const struct rules_pack *p);
size_t rules_pack_n_rules(const struct rules_pack *p);
size_t rules_pack_n_files(const struct rules_pack *p);

/* "FILE:LINE:COLUMN: message" (or "FILE: message" without a place) into out. */
void rules_error_format(const struct rules_error *err, char *out, size_t len);

enum rules_verdict { RULES_KEEP, RULES_DROP };

/* Maps one gate record in place (see above). On RULES_DROP the record is left as it was
 * when the drop rule matched; the caller discards it and counts *ret_rule_id (borrowed from
 * the pack, lives as long as the pack). On KEEP *ret_rule_id is the record's rule id or
 * NULL when unmapped. Either out-pointer may be NULL. Returns 0, or -ENOMEM: the record may
 * then be partly mapped (some sets applied, `rule` possibly still null); store it as it is
 * rather than lose it. Never blocks; thread-safe for a shared pack. */
int rules_apply(const struct rules_pack *p, json *rec, enum rules_verdict *ret_verdict,
                const char **ret_rule_id);

/* ---- Introspection (explain, tests) ---- */

struct rules_rule_info {
        const char *id;
        const char *description;
        const char *file;       /* base name of the file */
        unsigned line, column;  /* where the rule starts */
        const char *criteria;   /* its criteria, "CC6.1 CC6.2" ("" when none) */
        bool is_continue, is_drop;
};

/* Told about each rule tried, in order: matched says whether it matched; rec is the record
 * after the rule's sets were applied (before the final redactions). */
typedef void (*rules_trace_cb)(void *ud, const struct rules_rule_info *rule, bool matched,
                               const json *rec);

/* rules_apply() reporting each rule it tries. */
int rules_apply_trace(const struct rules_pack *p, json *rec, enum rules_verdict *ret_verdict,
                      const char **ret_rule_id, rules_trace_cb cb, void *ud);

/* One inline test's result (rules_pack_run_tests). */
struct rules_test_result {
        const struct rules_rule_info *rule;
        unsigned index;         /* 1-based among the rule's tests */
        const char *file;       /* where the test starts */
        unsigned line, column;
        bool passed;
        const char *why;        /* what differed, when failed */
};
typedef void (*rules_test_cb)(void *ud, const struct rules_test_result *res);

/* Runs every rule's inline tests against the whole pack (each input is mapped exactly as
 * the daemon would map it). Calls cb per test. Returns 0 with *ret_failed set, or -ENOMEM. */
int rules_pack_run_tests(const struct rules_pack *p, rules_test_cb cb, void *ud,
                         unsigned *ret_passed, unsigned *ret_failed);

/* ---- Events for tests and explain ---- */

enum rules_input { RULES_INPUT_AUTO, RULES_INPUT_JSON, RULES_INPUT_RFC5424, RULES_INPUT_RFC3164 };

/* Parses "auto", "json", "rfc5424", "rfc3164". 0 or -EINVAL. */
int rules_input_parse(const char *s, enum rules_input *ret);

/* Builds the gate record of one event given as text:
 *  - a JSON object that looks like a gate record (it has "source" or "received" and
 *    "message" members) is completed with the record's missing members;
 *  - any other JSON object is a structured event (as Kafka will deliver them): a record
 *    with source.kind "json" and the object under "event";
 *  - anything else (or with an RFC format forced) is one syslog line (normalize_syslog,
 *    source {kind: syslog, transport: stdin}).
 * AUTO takes JSON when the text starts with '{' and parses. received_us is the receipt time.
 * Returns 0 and *ret (caller frees), -EBADMSG when JSON is forced and does not parse as an
 * object, -ENOMEM. */
int rules_event_from_text(const char *text, size_t len, enum rules_input in, int64_t received_us,
                          json **ret);

/* Reads a keyed-hash key file: its bytes, less one trailing LF. 0 and *ret_key (caller
 * frees, wipe with OPENSSL_cleanse/explicit_bzero) and *ret_len, -EINVAL when shorter than
 * RULES_HMAC_KEY_MIN or longer than 4 KiB, -errno when unreadable. */
int rules_key_load(const char *path, uint8_t **ret_key, size_t *ret_len);

/* ---- The 2017 Trust Services Criteria (with revised points of focus, 2022) ---- */

/* The category of a criterion ID: "security" (CC1.1-CC9.2), "availability" (A1.x),
 * "processing_integrity" (PI1.x), "confidentiality" (C1.x), "privacy" (P1.1-P8.1); NULL
 * when the ID is not one of the 2017 TSC. Exact, case-sensitive IDs. */
const char *rules_criterion_category(const char *id);
/* Number of criteria and the i-th ID, in the TSC's order (CC1.1 first, P8.1 last). */
size_t rules_criteria_count(void);
const char *rules_criterion_at(size_t i);
/* Index of an ID in that order, or -1. */
int rules_criterion_index(const char *id);
