/* Inclusion proofs: one record, its RFC 6962 audit path to the epoch root and to the root of
 * each criterion it is tagged with, and the signed manifest that holds those roots.
 *
 * A proof is one canonical JSON object (RFC 8785) followed by one '\n', documented in
 * docs/FORMAT.md section 7. The verifier demands exactly those bytes back (it re-serialises
 * what it parses) and checks every member against what it is derived from, so that any changed
 * byte of a proof fails: a member that says something (epoch, seq, leaf_index, tree_size) must
 * agree with the signed manifest and the record; base64 must be in its one canonical spelling;
 * hex is lowercase only.
 *
 * Audit paths follow RFC 6962 section 2.1.1 (PATH(m, D[n])) and are checked with the
 * algorithm of RFC 9162 section 2.1.3.2. Building a proof costs one pass over the epoch's
 * records (O(n) hashing) into a seal_leaves: leaf hashes and criteria tags, never the records
 * themselves (issue 12); checking it O(log n). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "seal/seal.h"

#define PROOF_FORMAT "gatelog-inclusion-proof"
#define PROOF_VERSION 1

static const char *const proof_members[] = {
        "audit_path", "criteria", "epoch", "format", "leaf_index", "manifest", "record", "seq",
        "signature", "tree_size", "version",
};

static const char *const crit_members[] = { "audit_path", "leaf_index", "tree_size" };

/* ---- Audit paths ---- */

static size_t split_point(size_t n)
{
        size_t k = 1;

        while (k * 2 < n)
                k *= 2;
        return k;
}

/* PATH(m, D[lo..lo+n)), appended leaf-upward (the deepest sibling first). */
static void audit_path(const uint8_t (*leaves)[HASH_LEN], size_t n, size_t m,
                       uint8_t (*path)[HASH_LEN], size_t *len)
{
        size_t k;
        uint8_t sub[HASH_LEN];

        if (n <= 1)
                return;
        k = split_point(n);
        if (m < k) {
                audit_path(leaves, k, m, path, len);
                merkle_root_of(leaves + k, n - k, sub);
        } else {
                audit_path(leaves + k, n - k, m - k, path, len);
                merkle_root_of(leaves, k, sub);
        }
        memcpy(path[(*len)++], sub, HASH_LEN);
}

int merkle_audit_path(const uint8_t (*leaves)[HASH_LEN], size_t n, size_t index,
                      uint8_t (*path)[HASH_LEN], size_t *ret_len)
{
        size_t len = 0;

        if (index >= n)
                return -ENOENT;
        audit_path(leaves, n, index, path, &len);
        *ret_len = len;
        return 0;
}

int merkle_path_verify(const uint8_t leaf[HASH_LEN], uint64_t index, uint64_t size,
                       const uint8_t (*path)[HASH_LEN], size_t len,
                       const uint8_t root[HASH_LEN])
{
        uint64_t fn = index, sn;
        uint8_t r[HASH_LEN];

        if (index >= size)
                return -EBADMSG;
        sn = size - 1;
        memcpy(r, leaf, HASH_LEN);
        for (size_t i = 0; i < len; i++) {
                if (sn == 0)
                        return -EBADMSG;
                if ((fn & 1) || fn == sn) {
                        merkle_node_hash(path[i], r, r);
                        while (!(fn & 1) && fn != 0) {
                                fn >>= 1;
                                sn >>= 1;
                        }
                } else {
                        merkle_node_hash(r, path[i], r);
                }
                fn >>= 1;
                sn >>= 1;
        }
        return sn == 0 && sodium_memcmp(r, root, HASH_LEN) == 0 ? 0 : -EBADMSG;
}

/* ---- Proof members ---- */

static int set_b64(json *obj, const char *key, const void *p, size_t n)
{
        size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
        char *s = malloc(cap);
        int r;

        if (!s)
                return -ENOMEM;
        sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
        r = json_obj_set_str(obj, key, s);
        free(s);
        return r;
}

/* {"audit_path": [...], "leaf_index": i, "tree_size": n} members set on obj. */
static int set_path(json *obj, const uint8_t (*leaves)[HASH_LEN], size_t n, size_t index)
{
        uint8_t path[64][HASH_LEN];
        size_t len = 0;
        json *arr = json_new_arr();
        int r;

        if (!arr)
                return -ENOMEM;
        r = merkle_audit_path(leaves, n, index, path, &len);
        for (size_t i = 0; r == 0 && i < len; i++) {
                char hex[HASH_HEX_LEN];

                r = json_arr_append(arr, json_new_str(hash_hex(path[i], HASH_LEN, hex)));
        }
        if (r < 0) {
                json_free(arr);
                return r;
        }
        if ((r = json_obj_set(obj, "audit_path", arr)) < 0 ||
            (r = json_obj_set_int(obj, "leaf_index", (int64_t)index)) < 0)
                return r;
        return json_obj_set_int(obj, "tree_size", (int64_t)n);
}

/* ---- Leaf hashes of an epoch (issue 12) ----
 * What a proof needs of the records it does not prove: each one's leaf hash, and which
 * records carry each criterion. A record is tagged with the distinct strings of its
 * "criteria" array; one that is not a JSON object with such an array is tagged with nothing
 * (the verifier reports it; a proof only has to match what the sealer hashed). */

struct leaf_tag {
        char *id;
        size_t *idx;            /* leaf indexes, ascending */
        size_t n, alloc;
};

struct seal_leaves {
        uint8_t (*leaves)[HASH_LEN];
        size_t n, alloc;
        struct leaf_tag *tags;
        size_t n_tags, alloc_tags;
};

int seal_leaves_new(struct seal_leaves **ret)
{
        struct seal_leaves *l = calloc(1, sizeof(*l));

        if (!l)
                return -ENOMEM;
        *ret = l;
        return 0;
}

struct seal_leaves *seal_leaves_free(struct seal_leaves *l)
{
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_tags; i++) {
                free(l->tags[i].id);
                free(l->tags[i].idx);
        }
        free(l->tags);
        free(l->leaves);
        free(l);
        return NULL;
}

size_t seal_leaves_count(const struct seal_leaves *l)
{
        return l->n;
}

static struct leaf_tag *tag_find(const struct seal_leaves *l, const char *id, size_t len)
{
        for (size_t i = 0; i < l->n_tags; i++)
                if (strlen(l->tags[i].id) == len && memcmp(l->tags[i].id, id, len) == 0)
                        return &l->tags[i];
        return NULL;
}

/* Tags leaf i with id (once, however often the record lists it). */
static int tag_add(struct seal_leaves *l, const char *id, size_t len, size_t i)
{
        struct leaf_tag *t = tag_find(l, id, len);

        if (!t) {
                if (l->n_tags == l->alloc_tags) {
                        size_t na = l->alloc_tags ? 2 * l->alloc_tags : 8;
                        struct leaf_tag *nt = realloc(l->tags, na * sizeof(*nt));

                        if (!nt)
                                return -ENOMEM;
                        l->tags = nt;
                        l->alloc_tags = na;
                }
                t = &l->tags[l->n_tags];
                memset(t, 0, sizeof(*t));
                t->id = strndup(id, len);
                if (!t->id)
                        return -ENOMEM;
                l->n_tags++;
        }
        if (t->n > 0 && t->idx[t->n - 1] == i)
                return 0;
        if (t->n == t->alloc) {
                size_t na = t->alloc ? 2 * t->alloc : 16;
                size_t *ni = realloc(t->idx, na * sizeof(*ni));

                if (!ni)
                        return -ENOMEM;
                t->idx = ni;
                t->alloc = na;
        }
        t->idx[t->n++] = i;
        return 0;
}

/* The tags of a record the scanner could not decide: the full parser. */
static int tags_parsed(struct seal_leaves *l, const char *data, size_t len, size_t i)
{
        json *rec = NULL;
        const json *arr;
        int r = json_parse(data, len, &rec, NULL);

        if (r == -EBADMSG)
                return 0; /* an unreadable record is tagged with nothing */
        if (r < 0)
                return r;
        arr = json_type_of(rec) == JSON_OBJ ? json_obj_get(rec, "criteria") : NULL;
        for (size_t k = 0; r == 0 && arr && json_type_of(arr) == JSON_ARR &&
                           k < json_len(arr); k++) {
                size_t n = 0;
                const char *id = json_str(json_arr_at(arr, k), &n);

                if (id)
                        r = tag_add(l, id, n, i);
        }
        json_free(rec);
        return r;
}

int seal_leaves_add(struct seal_leaves *l, const char *data, size_t len)
{
        struct seal_scan sc;
        size_t i = l->n;
        int r = 0;

        if (i == l->alloc) {
                size_t na = l->alloc ? 2 * l->alloc : 1024;
                uint8_t (*nl)[HASH_LEN] = realloc(l->leaves, na * sizeof(*nl));

                if (!nl)
                        return -ENOMEM;
                l->leaves = nl;
                l->alloc = na;
        }
        merkle_leaf_hash(data, len, l->leaves[i]);
        l->n++;
        if (!seal_scan_record(data, len, &sc))
                return tags_parsed(l, data, len, i);
        for (size_t k = 0; r == 0 && k < sc.n_criteria; k++)
                r = tag_add(l, sc.criteria[k].p, sc.criteria[k].len, i);
        return r;
}

/* ---- Building ---- */

/* The criteria member: one path per distinct criterion the record is tagged with, over the
 * leaves of the records tagged with it. */
static int build_criteria(json *proof, const struct seal_leaves *l, const json *rec_crit,
                          size_t index)
{
        uint8_t (*sub)[HASH_LEN] = NULL;
        json *all = json_new_obj();
        int r = all ? 0 : -ENOMEM;

        for (size_t k = 0; r == 0 && json_type_of(rec_crit) == JSON_ARR &&
                           k < json_len(rec_crit); k++) {
                size_t n = 0, at = SIZE_MAX;
                const char *id = json_str(json_arr_at(rec_crit, k), &n);
                const struct leaf_tag *t = id ? tag_find(l, id, n) : NULL;
                uint8_t (*ns)[HASH_LEN];
                json *one;

                if (!id || json_obj_get(all, id))
                        continue; /* listed twice, tagged once */
                if (!t) {
                        r = -EINVAL; /* the record was not the one added at index */
                        break;
                }
                ns = realloc(sub, (t->n ? t->n : 1) * sizeof(*ns));
                if (!ns) {
                        r = -ENOMEM;
                        break;
                }
                sub = ns;
                for (size_t i = 0; i < t->n; i++) {
                        if (t->idx[i] == index)
                                at = i;
                        memcpy(sub[i], l->leaves[t->idx[i]], HASH_LEN);
                }
                if (at == SIZE_MAX) {
                        r = -EINVAL;
                        break;
                }
                one = json_new_obj();
                if (!one)
                        r = -ENOMEM;
                if (r == 0 && (r = set_path(one, (const uint8_t (*)[HASH_LEN])sub, t->n,
                                            at)) < 0)
                        json_free(one);
                else if (r == 0)
                        r = json_obj_set(all, id, one);
        }
        free(sub);
        if (r < 0) {
                json_free(all);
                return r;
        }
        return json_obj_set(proof, "criteria", all);
}

int seal_leaves_proof(const struct seal_leaves *l, const char *manifest, size_t manifest_len,
                      const uint8_t sig[SEAL_SIG_LEN], int64_t epoch, const char *record,
                      size_t record_len, size_t index, struct buf *out)
{
        uint8_t leaf[HASH_LEN];
        json *proof = NULL, *rec = NULL;
        const json *seq;
        int r;

        if (index >= l->n)
                return -ENOENT;
        merkle_leaf_hash(record, record_len, leaf);
        if (memcmp(leaf, l->leaves[index], HASH_LEN) != 0)
                return -EINVAL; /* not the record added at index */
        r = json_parse(record, record_len, &rec, NULL);
        if (r < 0)
                return r;
        seq = json_type_of(rec) == JSON_OBJ ? json_obj_get(rec, "seq") : NULL;
        if (!seq || json_type_of(seq) != JSON_INT) {
                json_free(rec);
                return -EBADMSG;
        }
        proof = json_new_obj();
        r = proof ? 0 : -ENOMEM;
        if (r == 0)
                r = json_obj_set_str(proof, "format", PROOF_FORMAT);
        if (r == 0)
                r = json_obj_set_int(proof, "version", PROOF_VERSION);
        if (r == 0)
                r = json_obj_set_int(proof, "epoch", epoch);
        if (r == 0)
                r = json_obj_set_int(proof, "seq", json_int(seq));
        if (r == 0)
                r = set_b64(proof, "record", record, record_len);
        if (r == 0)
                r = set_b64(proof, "manifest", manifest, manifest_len);
        if (r == 0)
                r = set_b64(proof, "signature", sig, SEAL_SIG_LEN);
        if (r == 0)
                r = set_path(proof, (const uint8_t (*)[HASH_LEN])l->leaves, l->n, index);
        if (r == 0)
                r = build_criteria(proof, l, json_obj_get(rec, "criteria"), index);
        if (r == 0)
                r = json_canon(proof, out);
        if (r == 0)
                r = buf_putc(out, '\n');
        json_free(proof);
        json_free(rec);
        return r;
}

int seal_proof_build(const char *manifest, size_t manifest_len, const uint8_t sig[SEAL_SIG_LEN],
                     int64_t epoch, const struct seal_blob *records, size_t n, size_t index,
                     struct buf *out)
{
        struct seal_leaves *l = NULL;
        int r;

        if (index >= n)
                return -ENOENT;
        r = seal_leaves_new(&l);
        for (size_t i = 0; r == 0 && i < n; i++)
                r = seal_leaves_add(l, records[i].data, records[i].len);
        if (r == 0)
                r = seal_leaves_proof(l, manifest, manifest_len, sig, epoch, records[index].data,
                                      records[index].len, index, out);
        seal_leaves_free(l);
        return r;
}

/* ---- Checking ---- */

static int bad(struct seal_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct seal_error *err, const char *fmt, ...)
{
        va_list ap;

        if (err) {
                va_start(ap, fmt);
                vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
                va_end(ap);
        }
        return -EBADMSG;
}

/* Decodes base64 that must be in its one canonical spelling (padding, zero trailing bits):
 * it is re-encoded and compared. *ret malloc'd. */
static int get_b64(const json *obj, const char *key, uint8_t **ret, size_t *ret_len,
                   struct seal_error *err)
{
        size_t n = 0, got = 0, cap;
        const char *s = json_str(json_obj_get(obj, key), &n);
        uint8_t *bin;
        char *back;
        int ok;

        if (!s)
                return bad(err, "member \"%s\" is missing or not a string", key);
        bin = malloc(n / 4 * 3 + 3);
        cap = sodium_base64_ENCODED_LEN(n / 4 * 3 + 3, sodium_base64_VARIANT_ORIGINAL);
        back = malloc(cap);
        if (!bin || !back) {
                free(bin);
                free(back);
                return -ENOMEM;
        }
        ok = sodium_base642bin(bin, n / 4 * 3 + 3, s, n, NULL, &got, NULL,
                               sodium_base64_VARIANT_ORIGINAL) == 0;
        if (ok) {
                sodium_bin2base64(back, cap, bin, got, sodium_base64_VARIANT_ORIGINAL);
                ok = strlen(back) == n && memcmp(back, s, n) == 0;
        }
        free(back);
        if (!ok) {
                free(bin);
                return bad(err, "member \"%s\" is not canonical base64", key);
        }
        *ret = bin;
        *ret_len = got;
        return 0;
}

static int get_u64(const json *obj, const char *key, uint64_t *out, struct seal_error *err)
{
        const json *j = json_obj_get(obj, key);

        /* bad() always answers -EBADMSG, but it is varargs and not inlined: returning the
         * constant here lets the compiler see that *out is set whenever 0 is returned. */
        if (!j || json_type_of(j) != JSON_INT || json_int(j) < 0) {
                bad(err, "member \"%s\" is missing or not a non-negative integer", key);
                return -EBADMSG;
        }
        *out = (uint64_t)json_int(j);
        return 0;
}

bool seal_hex_parse(const json *j, uint8_t out[HASH_LEN])
{
        char back[HASH_HEX_LEN];
        size_t n = 0;
        const char *s = j ? json_str(j, &n) : NULL;

        /* hash_unhex takes either case: printing back and comparing keeps lowercase only. */
        return s && hash_unhex(s, n, out, HASH_LEN) == 0 &&
               strcmp(hash_hex(out, HASH_LEN, back), s) == 0;
}

static int only_members(const json *obj, const char *const *names, size_t n_names,
                        const char *what, struct seal_error *err)
{
        if (json_type_of(obj) != JSON_OBJ)
                return bad(err, "%s is not a JSON object", what);
        for (size_t i = 0; i < json_len(obj); i++) {
                const char *key;
                size_t kl;
                bool known = false;

                json_obj_at(obj, i, &key, &kl);
                for (size_t k = 0; k < n_names; k++)
                        known |= strcmp(key, names[k]) == 0;
                if (!known)
                        return bad(err, "%s has an unknown member \"%s\"", what, key);
        }
        return json_len(obj) == n_names ? 0 : bad(err, "%s lacks a member", what);
}

/* Checks {"audit_path", "leaf_index", "tree_size"} of obj: leaf at leaf_index of a tree of
 * tree_size leaves with root. want_index/want_size: what they must be (UINT64_MAX: any). */
static int check_path(const json *obj, const char *what, const uint8_t leaf[HASH_LEN],
                      uint64_t want_index, uint64_t want_size, const uint8_t root[HASH_LEN],
                      uint64_t *ret_index, struct seal_error *err)
{
        const json *arr = json_obj_get(obj, "audit_path");
        uint8_t path[64][HASH_LEN];
        uint64_t index, size;
        int r;

        if ((r = get_u64(obj, "leaf_index", &index, err)) < 0 ||
            (r = get_u64(obj, "tree_size", &size, err)) < 0)
                return r;
        if (want_index != UINT64_MAX && index != want_index)
                return bad(err, "%s: leaf_index %llu is not the record's position %llu", what,
                           (unsigned long long)index, (unsigned long long)want_index);
        if (size != want_size)
                return bad(err, "%s: tree_size %llu but the manifest counts %llu records", what,
                           (unsigned long long)size, (unsigned long long)want_size);
        if (!arr || json_type_of(arr) != JSON_ARR || json_len(arr) > 64)
                return bad(err, "%s: audit_path is not an array of at most 64 hashes", what);
        for (size_t i = 0; i < json_len(arr); i++)
                if (!seal_hex_parse(json_arr_at(arr, i), path[i]))
                        return bad(err, "%s: audit_path[%zu] is not 64 lowercase hex digits",
                                   what, i);
        if (merkle_path_verify(leaf, index, size, (const uint8_t (*)[HASH_LEN])path,
                               json_len(arr), root) < 0)
                return bad(err, "%s: the audit path does not lead from the record to the "
                           "manifest's root", what);
        if (ret_index)
                *ret_index = index;
        return 0;
}

struct proof_parts {
        json *proof, *rec, *man;
        uint8_t *record, *manifest, *sig;
        size_t record_len, manifest_len, sig_len;
};

static void parts_free(struct proof_parts *p)
{
        json_free(p->proof);
        json_free(p->rec);
        json_free(p->man);
        free(p->record);
        free(p->manifest);
        free(p->sig);
}

/* Parses the proof text (canonical JSON and one '\n', exactly) and decodes its blobs. */
static int proof_parse(const char *text, size_t len, struct proof_parts *p,
                       struct seal_error *err)
{
        struct buf b = BUF_INIT;
        const json *j;
        uint64_t version;
        int r;

        if (len == 0 || text[len - 1] != '\n')
                return bad(err, "a proof is one line of canonical JSON ending in a newline");
        r = json_parse(text, len - 1, &p->proof, NULL);
        if (r < 0)
                return r == -ENOMEM ? r : bad(err, "the proof is not valid JSON");
        r = json_canon(p->proof, &b);
        if (r == 0 && (b.len != len - 1 || memcmp(b.data, text, b.len) != 0))
                r = bad(err, "the proof is not canonical JSON (RFC 8785) followed by one "
                        "newline");
        buf_free(&b);
        if (r < 0)
                return r;
        r = only_members(p->proof, proof_members,
                         sizeof(proof_members) / sizeof(*proof_members), "the proof", err);
        if (r < 0)
                return r;
        j = json_obj_get(p->proof, "format");
        if (!json_str(j, NULL) || strcmp(json_str(j, NULL), PROOF_FORMAT) != 0)
                return bad(err, "member \"format\" is not \"%s\"", PROOF_FORMAT);
        if ((r = get_u64(p->proof, "version", &version, err)) < 0)
                return r;
        if (version != PROOF_VERSION)
                return bad(err, "proof version %llu is not supported (this verifier knows %d)",
                           (unsigned long long)version, PROOF_VERSION);
        if ((r = get_b64(p->proof, "record", &p->record, &p->record_len, err)) < 0 ||
            (r = get_b64(p->proof, "manifest", &p->manifest, &p->manifest_len, err)) < 0 ||
            (r = get_b64(p->proof, "signature", &p->sig, &p->sig_len, err)) < 0)
                return r;
        if (p->sig_len != SEAL_SIG_LEN)
                return bad(err, "the signature is %zu bytes, not %d", p->sig_len, SEAL_SIG_LEN);
        return 0;
}

/* The manifest's members the proof is checked against. */
struct man_view {
        uint64_t epoch, first_seq, count;
        uint8_t root[HASH_LEN];
        const json *criteria;
};

static int manifest_view(const struct proof_parts *p, struct man_view *mv,
                         struct seal_error *err)
{
        int r;

        if ((r = get_u64(p->man, "epoch", &mv->epoch, err)) < 0 ||
            (r = get_u64(p->man, "first_seq", &mv->first_seq, err)) < 0 ||
            (r = get_u64(p->man, "count", &mv->count, err)) < 0)
                return r;
        if (!seal_hex_parse(json_obj_get(p->man, "root"), mv->root))
                return bad(err, "the manifest's root is not 64 lowercase hex digits");
        mv->criteria = json_obj_get(p->man, "criteria");
        if (json_type_of(mv->criteria) != JSON_OBJ)
                return bad(err, "the manifest's criteria is not an object");
        return 0;
}

/* Every distinct criterion of the record has exactly one path in the proof, to the root and
 * count the manifest gives it. */
static int check_criteria(const struct proof_parts *p, const struct man_view *mv,
                          const uint8_t leaf[HASH_LEN], struct seal_error *err)
{
        const json *rc = json_obj_get(p->rec, "criteria");
        const json *pc = json_obj_get(p->proof, "criteria");
        size_t distinct = 0;
        int r;

        if (json_type_of(pc) != JSON_OBJ)
                return bad(err, "member \"criteria\" is not an object");
        if (rc && json_type_of(rc) != JSON_ARR)
                return bad(err, "the record's criteria is not an array");
        for (size_t k = 0; k < json_len(rc); k++) {
                const char *id = json_str(json_arr_at(rc, k), NULL);
                const json *one, *mc;
                uint8_t root[HASH_LEN];
                uint64_t count;
                char what[160];
                bool dup = false;

                if (!id)
                        return bad(err, "the record's criteria[%zu] is not a string", k);
                for (size_t e = 0; e < k; e++)
                        dup |= strcmp(json_str(json_arr_at(rc, e), NULL) ?: "", id) == 0;
                if (dup)
                        continue;
                distinct++;
                snprintf(what, sizeof(what), "criterion %s", id);
                one = json_obj_get(pc, id);
                mc = json_obj_get(mv->criteria, id);
                if (!one)
                        return bad(err, "%s: the record is tagged with it but the proof has "
                                   "no path for it", what);
                if (!mc || get_u64(mc, "count", &count, NULL) < 0 ||
                    !seal_hex_parse(json_obj_get(mc, "root"), root))
                        return bad(err, "%s: the manifest lists no count and root for it", what);
                r = only_members(one, crit_members, 3, what, err);
                if (r == 0)
                        r = check_path(one, what, leaf, UINT64_MAX, count, root, NULL, err);
                if (r < 0)
                        return r;
        }
        if (json_len(pc) != distinct)
                return bad(err, "member \"criteria\" has paths for criteria the record is not "
                           "tagged with");
        return 0;
}

int seal_proof_verify(const char *text, size_t len, const uint8_t pk[SEAL_PK_LEN],
                      struct seal_proof_info *ret, struct seal_error *err)
{
        struct proof_parts p = { 0 };
        struct man_view mv = { 0 };
        uint8_t leaf[HASH_LEN];
        uint64_t epoch, seq, index;
        char kid[HASH_HEX_LEN];
        const json *j;
        int r;

        r = proof_parse(text, len, &p, err);
        if (r < 0)
                goto out;
        if (seal_sig_verify(pk, p.manifest, p.manifest_len, p.sig) != 0) {
                seal_key_id(pk, kid);
                r = bad(err, "the manifest's signature does not verify under the pinned key "
                        "(key_id %s)", kid);
                goto out;
        }
        /* From here the manifest is the key holder's word. */
        if (json_parse((const char *)p.manifest, p.manifest_len, &p.man, NULL) < 0 ||
            json_type_of(p.man) != JSON_OBJ) {
                r = bad(err, "the signed manifest is not a JSON object");
                goto out;
        }
        j = json_obj_get(p.man, "version");
        if (!j || json_type_of(j) != JSON_INT || json_int(j) != SEAL_FORMAT_VERSION) {
                r = bad(err, "the manifest's format version is not %d", SEAL_FORMAT_VERSION);
                goto out;
        }
        if ((r = manifest_view(&p, &mv, err)) < 0 ||
            (r = get_u64(p.proof, "epoch", &epoch, err)) < 0 ||
            (r = get_u64(p.proof, "seq", &seq, err)) < 0)
                goto out;
        if (epoch != mv.epoch) {
                r = bad(err, "the proof says epoch %llu but the manifest is epoch %llu",
                        (unsigned long long)epoch, (unsigned long long)mv.epoch);
                goto out;
        }
        if (json_parse((const char *)p.record, p.record_len, &p.rec, NULL) < 0 ||
            json_type_of(p.rec) != JSON_OBJ) {
                r = bad(err, "the record is not a JSON object");
                goto out;
        }
        j = json_obj_get(p.rec, "seq");
        if (!j || json_type_of(j) != JSON_INT || (uint64_t)json_int(j) != seq) {
                r = bad(err, "the record's seq is not the proof's seq %llu",
                        (unsigned long long)seq);
                goto out;
        }
        if (seq < mv.first_seq || seq - mv.first_seq >= mv.count) {
                r = bad(err, "seq %llu is not in epoch %llu (seqs %llu to %llu)",
                        (unsigned long long)seq, (unsigned long long)mv.epoch,
                        (unsigned long long)mv.first_seq,
                        (unsigned long long)(mv.first_seq + mv.count - 1));
                goto out;
        }
        merkle_leaf_hash(p.record, p.record_len, leaf);
        r = check_path(p.proof, "epoch root", leaf, seq - mv.first_seq, mv.count, mv.root,
                       &index, err);
        if (r == 0)
                r = check_criteria(&p, &mv, leaf, err);
        if (r == 0 && ret) {
                memset(ret, 0, sizeof(*ret));
                ret->epoch = (int64_t)mv.epoch;
                ret->seq = (int64_t)seq;
                ret->leaf_index = index;
                ret->tree_size = mv.count;
                ret->n_criteria = json_len(json_obj_get(p.proof, "criteria"));
                hash_sha256(p.manifest, p.manifest_len, ret->manifest_hash);
        }
out:
        parts_free(&p);
        return r;
}
