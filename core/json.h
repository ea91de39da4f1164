/* A small JSON value tree: the gate record, manifests, Kafka payloads and rules all use it.
 *
 * Parsing is strict RFC 8259 (no comments, no trailing commas, no NaN, depth capped at
 * JSON_MAX_DEPTH, duplicate object keys rejected as RFC 8785 requires). Serialisation is
 * RFC 8785 (JCS): object members sorted by their UTF-16 code units, no insignificant white
 * space, strings escaped minimally (\" \\ \b \f \n \r \t, other controls as \u00xx, lowercase),
 * numbers in ECMAScript's shortest round-trip form. Integers that fit in int64 are kept exact.
 *
 * Ownership: a value added to a container belongs to the container (always, also on failure:
 * the added value is freed then). json_free frees a whole tree and accepts NULL. Getters
 * return borrowed pointers valid until the tree is freed.
 *
 * Memory (issue 12, core/json-arena.c): all nodes and strings of a tree live in an arena
 * owned by its root; json_free of the root releases it in a few frees, json_free of a value
 * that belongs to a tree does nothing. A standalone value (from json_new_*) added to a
 * container joins the container's tree without being copied, so the pointer stays usable
 * after the add. The _in constructors allocate straight in a tree's arena (no malloc): their
 * result must be added to that same tree or dropped (it is freed with the tree). Replaced and
 * deleted values keep their arena space until the tree is freed, except that
 * json_obj_set_int and json_obj_set_str(n) overwrite an integer, or a string at least as
 * long, in place: objects that live long and count per event do not grow. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct json json;

enum json_type { JSON_NULL, JSON_BOOL, JSON_INT, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

/* Constructors return NULL only when out of memory. */
json *json_new_null(void);
json *json_new_bool(bool v);
json *json_new_int(int64_t v);
json *json_new_num(double v);             /* NaN or infinity: NULL */
/* Copies n bytes, which must be valid UTF-8 (checked: NULL if not). */
json *json_new_strn(const char *s, size_t n);
json *json_new_str(const char *s);
/* Copies n bytes of untrusted input. Invalid UTF-8 sequences (overlong forms, surrogates,
 * code points past U+10FFFF, truncated sequences) are replaced by U+FFFD, one per maximal
 * invalid subpart (the WHATWG/Unicode practice); NUL bytes become U+FFFD too, since many
 * readers of the export are C programs. *ret_replaced (may be NULL) is set to the number of
 * replacements made. */
json *json_new_str_lossy(const char *s, size_t n, size_t *ret_replaced);
json *json_new_obj(void);
json *json_new_arr(void);
/* In the arena of the tree that holds `tree` (any value of it); when tree is NULL or has no
 * arena (a standalone scalar), these are the standalone constructors above. */
json *json_new_strn_in(json *tree, const char *s, size_t n);
json *json_new_str_lossy_in(json *tree, const char *s, size_t n, size_t *ret_replaced);
/* json_new_strn_in of n bytes the caller knows are valid UTF-8 without NUL, not checked
 * again (performance, issue 12): a piece of an already checked text cut at character
 * boundaries (json_utf8_boundary), our own ASCII text, a regex capture of a tree string.
 * Passing other bytes breaks the tree's invariant: debug builds assert it. NULL when out of
 * memory. */
json *json_new_strn_valid_in(json *tree, const char *s, size_t n);
json *json_new_int_in(json *tree, int64_t v);
json *json_new_obj_in(json *tree);
json *json_new_arr_in(json *tree);
/* An empty object whose arena has room for `bytes` bytes of values in the same allocation:
 * a builder that knows its tree's size makes it with one malloc. NULL when out of memory. */
json *json_new_obj_reserve(size_t bytes);
/* json_new_obj_reserve with the block taken from the first of rc[0..n_rc) (recyclers,
 * core/recycle.h; call on their owner's thread) whose block size fits the root and `bytes`,
 * the arena then getting all of the block; when none fits, a malloc as json_new_obj_reserve.
 * json_free gives the block back, on any thread (performance, issue 12: no malloc per
 * record). */
struct recycle;
json *json_new_obj_recycled(struct recycle *const *rc, size_t n_rc, size_t bytes);
/* Makes sure the next `bytes` bytes of the tree's allocations need no malloc (one chunk of
 * that size): a builder that knows its record's size calls it once. 0 or -ENOMEM. */
int json_arena_reserve(json *tree, size_t bytes);
/* Room for n members in obj without growing. 0, -EINVAL (not an object), -ENOMEM. */
int json_obj_reserve(json *obj, size_t n);
void json_free(json *v);
/* Bytes the tree of root v holds from malloc (its blocks, by malloc_usable_size); 0 for a
 * value that is not a root. For byte budgets (queue.max_bytes, issue 12). */
size_t json_tree_bytes(const json *v);
json *json_clone(const json *v);

enum json_type json_type_of(const json *v);
bool json_bool(const json *v);              /* false unless a true bool */
int64_t json_int(const json *v);            /* JSON_INT value, or a JSON_NUM truncated; else 0 */
double json_num(const json *v);             /* JSON_NUM or JSON_INT as double; else 0 */
/* Borrowed string bytes (NUL-terminated; may contain no NUL), or NULL for non-strings. */
const char *json_str(const json *v, size_t *ret_len);

/* Objects keep insertion order (serialisation sorts). Setting an existing key replaces its
 * value. Takes ownership of val always. Returns 0 or -ENOMEM / -EINVAL (not an object, key
 * not valid UTF-8). */
int json_obj_set(json *obj, const char *key, json *val);
int json_obj_setn(json *obj, const char *key, size_t key_len, json *val);
/* Convenience setters, building the value in obj's arena; s may be NULL, which sets null.
 * json_obj_set_strn: -EINVAL when s[0..n) is not valid UTF-8 (nothing set). */
int json_obj_set_str(json *obj, const char *key, const char *s);
int json_obj_set_strn(json *obj, const char *key, const char *s, size_t n);
int json_obj_set_int(json *obj, const char *key, int64_t v);
/* Appends a member whose key the caller knows is not in obj yet (a builder filling a fresh
 * object), without looking for it: the object would otherwise hold the key twice. Same
 * returns and ownership as json_obj_set. */
int json_obj_add(json *obj, const char *key, json *val);
/* json_obj_add with a key that is neither copied nor checked: a string literal of printable
 * ASCII without '"' and '\\' (it lives as long as the program and needs no escape), for
 * builders of fixed record shapes (issue 12). */
int json_obj_add_static(json *obj, const char *key, json *val);
/* json_obj_add_static with the key's length given (a literal's sizeof - 1: no strlen). */
int json_obj_add_staticn(json *obj, const char *key, size_t key_len, json *val);
/* A key of a known-order builder's table (json_obj_fill_sorted): a literal and its length. */
struct json_key {
        const char *key;
        uint32_t len;
};
#define JSON_KEY(lit) { "" lit, sizeof(lit) - 1 }
/* Appends the members keys[i]: vals[i] (i < n) to obj in one pass: no lookup, no order
 * check and no call per member (performance, issue 12: a syslog record's 24 fixed members
 * cost ~83 instructions each through json_obj_add_staticn). The caller guarantees that
 * keys[0..n) are in strictly increasing RFC 8785 order and need no JSON escape (a static
 * table: json_keys_sorted checks it, in its tests and in debug builds here), so obj keeps
 * its "sorted" mark (serialised without sorting) when its members so far sort before
 * keys[0]. Takes every vals[i] always. 0, -EINVAL (obj not an object), -ENOMEM: a NULL
 * value (its builder ran out of memory) appends nothing; memory running out while adopting
 * a value of another tree leaves the members before it appended. */
int json_obj_fill_sorted(json *obj, const struct json_key *keys, json *const *vals, size_t n);
/* Whether keys[0..n) are strictly increasing in RFC 8785 order, valid UTF-8 and need no
 * JSON escape: what json_obj_fill_sorted requires of its table. */
bool json_keys_sorted(const struct json_key *keys, size_t n);
json *json_obj_get(const json *obj, const char *key);             /* NULL when absent */
/* Removes and frees a member; returns 1 if it existed, 0 if not. */
int json_obj_del(json *obj, const char *key);
/* Dotted path lookup ("sd.origin.ip"): each dot descends one object level. Keys containing
 * dots are reachable only via json_obj_get. NULL when any step is missing or not an object. */
json *json_path_get(const json *root, const char *path);
/* Sets a dotted path, creating intermediate objects (replacing non-objects on the way).
 * Takes ownership of val always. */
int json_path_set(json *root, const char *path, json *val);

/* A dotted path split once (performance, issue 12: rules split their paths at load, not
 * per record). keys point into the split string, which must outlive the struct.
 * hint (prestore8): the member index where the key is expected in its object (the gate
 * record's members sit at fixed places: normalize/record.c), tried first by the _split
 * functions and checked, so a wrong hint only costs the scan it would have cost anyway.
 * json_path_split sets 0; the owner of the path may set better ones. */
#define JSON_PATH_KEYS_MAX 8
struct json_path {
        struct {
                const char *s;      /* not NUL-terminated */
                uint32_t n;
                uint32_t plain;     /* 1: needs no JSON escape */
                uint32_t hint;      /* member index to try first */
        } keys[JSON_PATH_KEYS_MAX];
        size_t n_keys;
};
/* Splits path at every '.', as json_path_get/json_path_set do; every hint 0. 0, -EINVAL
 * (a key not valid UTF-8, or path NULL), -E2BIG (more than JSON_PATH_KEYS_MAX keys). */
int json_path_split(const char *path, struct json_path *ret);
/* json_path_get and json_path_set of a split path: the same results, without scanning
 * the path or checking its keys again. */
json *json_path_get_split(const json *root, const struct json_path *p);
int json_path_set_split(json *root, const struct json_path *p, json *val);
/* json_path_set_split from key number `from` on, starting at obj: the object that
 * p->keys[0..from) lead to from the root (the caller's promise: prestore7, the rules keep
 * the object one set wrote into, "target" of "target.host", for the next set under it).
 * When ret_parent is not NULL it is set, on success, to the object the last key was set
 * in. Takes val always. 0, -EINVAL (obj not an object, from not below p->n_keys),
 * -ENOMEM. */
int json_path_set_split_from(json *obj, const struct json_path *p, size_t from, json *val,
                             json **ret_parent);

/* The object a rule's sets under one key make ("actor": {"ip", "port", "user"}) in one
 * go (performance, rules10): obj's member `key` (found with member index hint tried first,
 * as the _split functions do) is replaced by a new object of the members keys[i]: vals[i]
 * for each i < n whose vals[i] is not NULL, in that order, keys copied into the tree's
 * arena. That is what json_path_set_split of "key.keys[i]" for each such i in turn makes,
 * with one lookup and one member allocation. The caller guarantees keys[0..n) strictly
 * increasing in RFC 8785 order and free of escapes (json_keys_sorted, checked once). No
 * vals[i] set: nothing changes. Returns 1 (done; every vals[i] taken), 0 when obj has no
 * member `key`, or it is already an object, or obj has no arena: nothing done, vals
 * untouched (the caller sets them one by one); -EINVAL (obj not an object, vals
 * untouched), -ENOMEM (every vals[i] taken; the member may be left as it was). */
int json_obj_put_sorted(json *obj, const char *key, size_t key_len, uint32_t hint,
                        const struct json_key *keys, json *const *vals, size_t n);

/* An array of n strings, items[i].key[0..len) each (valid UTF-8 without NUL: the caller's
 * promise, as json_new_strn_valid_in's), built in tree's arena with one allocation
 * (mapper11: a record's `criteria`, ~190 instructions an item one append at a time); a
 * root of its own when tree has no arena. NULL when out of memory. */
json *json_new_arr_strs_in(json *tree, const struct json_key *items, size_t n);
int json_arr_append(json *arr, json *val);  /* takes ownership always */
size_t json_len(const json *v);             /* members of an object/array, else 0 */
json *json_arr_at(const json *arr, size_t i);
/* i-th member of an object in insertion order; key returned borrowed. */
json *json_obj_at(const json *obj, size_t i, const char **ret_key, size_t *ret_key_len);

/* The values of the members keys[0..n) of obj, first member of each name, into
 * ret_vals[0..n) (NULL where absent; all NULL when obj is not an object); returns how many
 * were found. hints[0..n) (the caller's, kept from one call to the next) say where to try
 * each key first and are set to where it was found (canon10: a consumer of records from
 * one builder, such as the writer's mapper, finds each member at its place in one compare
 * instead of a scan). A hint is used only in an object whose keys are known unique (sorted),
 * so the answer is always the first member of that name, hint or not. */
size_t json_obj_pick(const json *obj, const struct json_key *keys, uint32_t *hints, size_t n,
                     const json **ret_vals);

struct json_error {
        size_t offset;  /* byte offset of the problem */
        char msg[96];
};

/* Parses len bytes that must hold exactly one JSON value (white space around it allowed).
 * Returns 0 and *ret, or -EBADMSG (err filled, may be NULL), -ENOMEM.
 * Also refused with -EBADMSG: "\u0000" (tree strings never hold NUL), lone surrogate
 * escapes, invalid UTF-8, numbers beyond the double range (1e400). Numbers without fraction
 * or exponent that fit int64 become JSON_INT, all others JSON_NUM. *ret untouched on error. */
int json_parse(const char *s, size_t len, json **ret, struct json_error *err);
/* json_parse straight into the arena of the tree that holds `tree` (a container; -EINVAL
 * otherwise): no malloc beyond the arena's chunks (issue 12: a Kafka payload parsed into
 * its record). *ret must be added to that same tree or dropped; it and, on failure, the
 * space the parse used are freed with the tree. */
int json_parse_in(json *tree, const char *s, size_t len, json **ret, struct json_error *err);

/* Appends the RFC 8785 canonical serialisation of v. Returns 0 or -ENOMEM / -E2BIG; on
 * failure the buffer is left exactly as it was (no partial output). */
int json_canon(const json *v, struct buf *out);
/* Appends the canonical serialisation obj would have after json_obj_set_int(obj, key, v),
 * without changing obj, and sets *ret_value_off to where v's digits start in out (the
 * writer's seq splice, issue 12: no member added to the tree, no scan for it afterwards).
 * key: valid UTF-8. Returns 0, -EINVAL (obj not an object, key not valid), -ENOMEM /
 * -E2BIG; on failure out is left as it was. */
int json_canon_with_int(const json *obj, const char *key, int64_t v, struct buf *out,
                        size_t *ret_value_off);
/* json_canon_with_int with the key as a table entry (valid UTF-8 needing no escape, as
 * json_obj_fill_sorted's keys; key->key[key->len] a NUL, as JSON_KEY makes it) and *hint, the place among obj's members the key took in
 * the last call (UINT32_MAX or anything at first): tried before the members are bisected,
 * and set to this object's place (mapper11: "seq" sits after the same members in a
 * source's records). Same output and returns as json_canon_with_int. */
int json_canon_with_int_at(const json *obj, const struct json_key *key, int64_t v,
                           struct buf *out, size_t *ret_value_off, uint32_t *hint);
/* Appends an RFC 8785-escaped JSON string literal (with quotes) of n bytes of valid UTF-8.
 * Returns 0, -ENOMEM / -E2BIG, or -EINVAL (nothing appended) when s is not valid UTF-8. */
int json_canon_str(struct buf *out, const char *s, size_t n);
/* Compares two keys as RFC 8785 orders them (UTF-16 code units). */
int json_key_cmp(const char *a, size_t na, const char *b, size_t nb);
/* Is s[0..n) valid UTF-8 (and free of NUL)? */
bool json_utf8_valid(const char *s, size_t n);
/* Is offset i of the valid UTF-8 text s[0..n) (i <= n) a character boundary? A piece of
 * valid UTF-8 between two boundaries is valid UTF-8 (issue 12: substrings need no second
 * check). */
static inline bool json_utf8_boundary(const char *s, size_t n, size_t i)
{
        return i >= n || ((unsigned char)s[i] & 0xc0) != 0x80;
}
