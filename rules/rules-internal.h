/* rules/ private structures shared by the loader (rules-load.c), the matcher
 * (rules-match.c, with the setting and redaction of rules-set.c) and the inline test runner
 * (rules-test.c). Not part of the API. */
#pragma once
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/json.h"
#include "rules/rules.h"

/* Nesting of all/any/not inside one match: deep enough for any real rule, and a bound that
 * keeps a YAML alias cycle from recursing without end. */
#define RULES_COND_MAX_DEPTH 16
/* Named captures one rule may define (all its regexes together). */
#define RULES_CAPTURES_MAX 32
/* Text produced by one template, and one value matched: a record member is capped at the
 * syslog message size anyway. */
#define RULES_VALUE_MAX (1024u * 1024)

/* Longest literal prefix kept for a regex's prefilter: "^pam_unix(cron:session): " fits. */
#define RULES_REGEX_PREFIX_MAX 32

enum cond_op {
        OP_ALL, OP_ANY, OP_NOT,       /* combinators: kids */
        OP_EQ, OP_PREFIX, OP_SUFFIX, OP_CONTAINS, /* strings: any of strs */
        OP_EXISTS,
        OP_LT, OP_LE, OP_GT, OP_GE,   /* numbers */
        OP_REGEX,
};

/* Distinct field paths of a pack's conditions that get an id (rules_index_build), so a
 * record's value for each is looked up once per rule tried, not once per condition. */
#define RULES_PATH_CACHE 64

struct cond {
        enum cond_op op;
        char *path;                   /* field operators */
        int path_id;                  /* < RULES_PATH_CACHE, or -1: no cached lookup */
        char **strs;                  /* EQ (one-of), PREFIX, SUFFIX, CONTAINS */
        size_t *lens;
        size_t n_strs;
        double num;                   /* LT .. GE */
        bool exists;                  /* EXISTS: true = present and not null */
        pcre2_code *re;               /* REGEX, JIT-compiled when the CPU allows */
        bool re_jit;                  /* re is JIT-compiled: pcre2_jit_match (prestore8) */
        /* REGEX: bytes every matching subject starts with (rules_regex_prefix), checked
         * before the regex runs (prestore8). */
        char re_prefix[RULES_REGEX_PREFIX_MAX];
        uint8_t re_prefix_len;
        int *group_slot;              /* REGEX: capture group number -> rule capture slot, -1 */
        uint32_t n_groups;            /* groups + 1 (group 0 included) */
        struct cond *kids;
        size_t n_kids;
};

enum tpart_kind { TP_TEXT, TP_CAPTURE, TP_FIELD };

struct tpart {
        enum tpart_kind kind;
        char *text;                   /* TEXT: literal; FIELD: the record path */
        size_t len;
        int slot;                     /* CAPTURE */
        char *dflt;                   /* CAPTURE/FIELD: "{x|default}" text, or NULL */
        /* Set by rules_index_build (issue 12): text and dflt are valid UTF-8 without NUL,
         * so what they render needs no check per record. */
        bool text_valid, dflt_valid;
        /* FIELD: text split once, with the record's member places as hints (prestore8);
         * split_ok false: looked up by text. */
        struct json_path split;
        bool split_ok;
};

struct tmpl {
        struct tpart *parts;
        size_t n_parts;
};

struct set_item {
        char *path;                   /* "actor.user", "action", "outcome", ... */
        struct tmpl *t;               /* alternatives: the first that renders is set */
        size_t n_t;
        /* path split once by rules_index_build (issue 12); split_ok false: set by path. */
        struct json_path split;
        bool split_ok;
        int group;                    /* the set group this item starts, or -1 (rules10) */
};

/* Sets of one rule under one object key, next to each other in key order ("actor.ip",
 * "actor.port", "actor.user"): made as one object in one go (json_obj_put_sorted,
 * rules10). names: each set's second key, borrowed from its path. */
#define RULES_GROUP_MAX 16
struct set_group {
        size_t first, n;              /* sets[first .. first + n) */
        struct json_key names[RULES_GROUP_MAX];
};

enum redact_how { REDACT_MASK, REDACT_HASH, REDACT_REMOVE };

struct redact_item {
        char *path;
        enum redact_how how;
};

struct expect_item {
        char *path;
        json *val;                    /* owned; JSON null = must be null or absent */
};

struct rtest {
        char *file;
        unsigned line, column;
        char *text;                   /* input given as text (a syslog line or JSON), or */
        json *obj;                    /* input given as a mapping: overlaid on a base record */
        struct expect_item *ex;
        size_t n_ex;
        bool want_match;              /* false: `match: false` */
        bool has_rule_expect;         /* expect names `rule` itself */
};

struct rule {
        struct rules_rule_info info;
        char *id, *description, *file;
        char *criteria_text;          /* info.criteria */
        struct cond match;            /* OP_ALL at the top */
        struct set_item *sets;
        size_t n_sets;
        uint64_t criteria;            /* bit i = rules_criterion_at(i) */
        struct redact_item *redacts;
        size_t n_redacts;
        bool cont, drop;
        char *cap_names[RULES_CAPTURES_MAX];
        size_t n_caps;
        struct rtest *tests;
        size_t n_tests;
        /* The top-level condition the index lists the rule by (rules_index_build): true for
         * every record the index hands the rule to, so not evaluated again then. */
        int idx_dim;                  /* -1: not indexed (a wildcard rule) */
        size_t idx_kid;
        bool id_valid;                /* id is valid UTF-8 (rules_index_build, issue 12) */
        struct set_group *groups;     /* rules_index_build (rules10) */
        size_t n_groups;
};

/* A candidate rule and the index dimension whose list holds it (RULES_INDEX_DIMS: the
 * wildcard list), as rules_apply tries them (rules10). */
struct rule_ref {
        uint32_t rule;
        uint32_t dim;
};

/* Quick reject of a rule (rules10): one top-level condition of the rule (not the one the
 * index vouches for) compares the text of the record's value at path `path` (a path id) by
 * equality, prefix or a regex with a literal prefix. A value that is absent or not text
 * fails it, and so does a string whose first byte is not in `first` (the empty string:
 * unless `empty`); integers, numbers and booleans are never rejected here. */
struct rule_qr {
        int path;                     /* path id; -1: no quick reject */
        bool empty;
        uint64_t first[4];            /* bit b: a value starting with byte b may pass */
};

/* One index dimension: rules whose top-level match requires FIELD to equal one of some
 * values, listed under each value. */
struct index_entry {
        const char *value;            /* borrowed from a rule's condition */
        size_t len;                   /* strlen(value) */
        size_t *rules;                /* ascending rule indexes */
        size_t n_rules;
        /* rules and the pack's wildcards merged in pack order, once at load (rules10):
         * what a record whose only index hit is this entry tries. */
        struct rule_ref *refs;
        size_t n_refs;
};

struct index_dim {
        const char *path;             /* "app", "source.kind" */
        struct index_entry *entries;  /* sorted by length, then bytes (entry_cmp) */
        size_t n_entries;
};

#define RULES_INDEX_DIMS 2

struct rules_pack {
        struct rule *rules;
        size_t n_rules;
        size_t n_files;
        struct index_dim dims[RULES_INDEX_DIMS];
        size_t *wild;                 /* rules no dimension indexes, ascending */
        size_t n_wild;
        struct rule_ref *wild_refs;   /* wild as refs (rules10) */
        struct rule_qr *qr;           /* by rule index (rules10) */
        bool fast_off;                /* rules_index_fast_off: merged lists not used */
        uint32_t max_groups;          /* largest n_groups of any regex: match-data size */
        const char *paths[RULES_PATH_CACHE]; /* by path_id, borrowed from conditions */
        size_t n_paths;
        /* paths[] and the index's paths split once (issue 12); bit i of path_split_ok:
         * path_split[i] holds paths[i] split. */
        struct json_path path_split[RULES_PATH_CACHE];
        uint64_t path_split_ok;
        struct json_path dim_split[RULES_INDEX_DIMS];
        bool dim_split_ok[RULES_INDEX_DIMS];
        /* The members every kept record gets, split with their places as hints
         * (prestore8): "rule" and "criteria". */
        struct json_path rule_path, criteria_path;
        pcre2_match_context *mctx;    /* the match limit; only read while matching */
        uint8_t *hmac_key;
        size_t hmac_key_len;
        char hash[HASH_HEX_LEN];
};

/* rules-index.c */
int rules_index_build(struct rules_pack *p);
/* Frees what rules_index_build made beyond the index lists (rules_pack_free). */
void rules_index_free(struct rules_pack *p);
/* Turns the pack's rules10 shortcuts off (quick rejects, merged candidate lists, set
 * groups): rules_apply then takes the general paths, the model tests/rules/test-rules-fast.c
 * holds the shortcuts to. Before the pack is shared. */
void rules_index_fast_off(struct rules_pack *p);
/* The index entry of d for value[0..len) (NULL: none), or NULL. */
const struct index_entry *rules_index_find(const struct index_dim *d, const char *value,
                                           size_t len);

/* rules-load-match.c */
/* The bytes every subject a regex pattern pat[0..n) (compiled with PCRE2_UTF alone) can
 * match starts with, written to out (at most out_max): the literal run after a leading
 * '^', when the pattern has no top-level alternative, no inline option, verb or \Q quoting
 * that could change what '^' or a literal means. Returns its length; 0 when there is none
 * or the pattern is one this reading does not vouch for. */
size_t rules_regex_prefix(const char *pat, size_t n, char *out, size_t out_max);

/* One rules_apply call's state (rules-match.c), which the sets (rules-set.c) read: the
 * record, the captures of the rule that matched, the template buffer. On the caller's
 * stack; the buffers and match data are the calling thread's scratch. */
struct mctx {
        const struct rules_pack *p;
        const struct rule *rl;
        const json *rec;
        pcre2_match_data *md;
        pcre2_match_context *mctx;
        struct buf *caps;             /* capture text, each NUL-terminated (scratch) */
        struct buf *out;              /* a template's text (scratch) */
        /* Values of the pack's numbered paths in the record (performance, issue 12): bit
         * i of path_known says path_val[i] is looked up; cleared when a rule sets fields. */
        uint64_t path_known;
        const json *path_val[RULES_PATH_CACHE];
        /* The first-byte class of each (rules_qr_class), valid where first_known says;
         * cleared with path_known (rules10). */
        uint64_t first_known;
        uint16_t path_first[RULES_PATH_CACHE];
        size_t cap_off[RULES_CAPTURES_MAX];
        size_t cap_len[RULES_CAPTURES_MAX];
        bool cap_set[RULES_CAPTURES_MAX];
        /* The capture is cut at character boundaries of its valid subject, so valid UTF-8
         * itself (issue 12: no second check when it becomes a value). */
        bool cap_valid[RULES_CAPTURES_MAX];
        int err;                      /* -ENOMEM met while matching */
};

/* rules-set.c: split from rules-match.c (issue 12 hygiene). rules_sets runs once per
 * matched rule, rules_redact only when a matched rule redacts: the calls across files keep
 * rules_apply at its instructions per event (split10, callgrind of bench/stages). */
/* Applies rule rl's sets to rec (values built in rec's arena), with m's captures of rl.
 * 0 or -ENOMEM; a template that does not render leaves its field as it was. */
int rules_sets(struct mctx *m, json *rec, const struct rule *rl);
/* Applies the redactions of the matched rules p->rules[matched[0..n_matched)] to rec, in
 * that order, and records them in rec's `redacted` and `flags`. 0, -ENOMEM or -EIO (HMAC). */
int rules_redact(const struct rules_pack *p, json *rec, const size_t *matched,
                 size_t n_matched);

/* rules-match.c */
void rules_cond_free(struct cond *c);
/* A record member as text for matching: strings as they are, integers and numbers in
 * decimal, booleans as true/false. NULL for null, objects, arrays and absent members.
 * tmp (at least 32 bytes) holds number text. */
const char *rules_value_text(const json *v, char *tmp, size_t tmp_len, size_t *ret_len);
/* Creates the base gate record (every member null / empty) a test mapping overlays. */
json *rules_record_base(void);
/* Deep-merges src's members into dst (objects merge, anything else replaces). Takes
 * ownership of nothing; clones. 0 or -ENOMEM. */
int rules_json_overlay(json *dst, const json *src);
