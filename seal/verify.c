/* The verifier: checks a chain of sealed epochs, fed one epoch at a time in order, from the
 * database or from an export folder.
 *
 * It trusts nothing but the pinned public key. For each epoch it parses the manifest and
 * checks that it is canonical and of this format, that the signature verifies, that the
 * chain continues (name, number, prev hash, first_seq), that every record is canonical JSON
 * with the next seq, and that the root and each criterion's count and root recompute from
 * the records with the reference tree (merkle_root_of). A problem never stops it: each is
 * reported once through the callback with the epoch and, when it is about one record, the
 * seq, and the walk goes on so that an auditor sees everything wrong in one run.
 *
 * Memory is one leaf hash and seq per record of the current epoch plus the tags of each
 * criterion; nothing is kept across epochs but the chain head. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tm.h"
#include "seal/seal.h"

#define NAME_MAX_LEN 200
#define WHAT_MAX_LEN 1024

/* One criterion of the current epoch: what the manifest says and which records carry it. */
struct crit {
        char *id;
        size_t *idx;            /* indexes into the epoch's leaves, in record order */
        size_t n_idx, alloc_idx;
        bool in_manifest;
        uint64_t m_count;
        uint8_t m_root[HASH_LEN];
        bool file_seen;
};

/* The members of a manifest that the chain checks use; has_* says each was valid. */
struct mf {
        bool parsed;
        bool has_epoch, has_first_seq, has_count, has_root, has_prev, has_criteria;
        int64_t epoch;
        uint64_t first_seq, count;
        uint8_t root[HASH_LEN], prev[HASH_LEN];
        const char *chain;
        const json *criteria;
        bool key_id_ok;                 /* issue 10: key_id names the key in force */
        bool has_next_key;              /* issue 10: a valid "next_key" */
        uint8_t next_key[SEAL_PK_LEN];
};

/* issue 10: a revoked key and the first epoch it may no longer sign. */
struct revoked {
        char key_id[HASH_HEX_LEN];
        int64_t from_epoch;
};

struct seal_verifier {
        uint8_t pk[SEAL_PK_LEN];
        char key_id[HASH_HEX_LEN];
        seal_problem_cb cb;
        void *ud;
        uint64_t problems, epochs;

        /* The chain so far. */
        bool have_head;
        int64_t head_epoch;
        uint8_t head_hash[HASH_LEN];
        bool have_seq;
        uint64_t next_seq;
        char *chain;

        /* The current epoch, kept until seal_verifier_epoch_end for the tsc files. */
        bool open;
        int64_t cur_epoch;
        char cur_name[NAME_MAX_LEN];
        uint8_t (*leaves)[HASH_LEN];
        int64_t *seqs;          /* -1 when unknown */
        size_t n_leaves, alloc_leaves;
        struct crit *crits;
        size_t n_crits, alloc_crits;

        /* issue 10: the head the chain must extend (seal_verifier_expect_head). */
        bool want_head, head_reached;
        struct seal_head head;
        struct merkle *log;             /* over the manifests fed, in order */
        uint8_t log_root[HASH_LEN];     /* at head.tree_size manifests */
        uint8_t log_last[HASH_LEN];     /* the manifest hash at that size */

        /* issue 10: key rotation and revocation. */
        struct revoked revoked[SEAL_REVOKED_MAX];
        size_t n_revoked;
        seal_rotate_cb rotate_cb;
        void *rotate_ud;
        bool rotated;                   /* pk is no longer the pinned one */

        /* issue 12: the epoch being fed record by record (seal_verifier_epoch_begin). */
        bool in_records;
        struct mf f;                    /* chain and criteria pointers cleared */
        bool sig_ok, known;
        uint64_t expected;
        uint8_t pending_hash[HASH_LEN]; /* SHA-256 of the manifest bytes */
        const char *pending_manifest;   /* for head_track, borrowed until records_end */
        size_t pending_len;
};

static const char *const manifest_members[] = {
        "chain", "count", "criteria", "end", "epoch", "first_seq", "key_id", "next_key", "prev",
        "root", "sealed", "start", "stats", "version",
};

static void report(struct seal_verifier *v, int64_t epoch, int64_t seq, const char *what)
{
        v->problems++;
        if (v->cb)
                v->cb(v->ud, epoch, seq, what);
}

/* Reports a problem of the current epoch, prefixed "epoch N: " or "epoch N seq S: ". */
static void problem(struct seal_verifier *v, int64_t seq, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void problem(struct seal_verifier *v, int64_t seq, const char *fmt, ...)
{
        char what[WHAT_MAX_LEN];
        va_list ap;
        int n;

        if (seq >= 0)
                n = snprintf(what, sizeof(what), "%s seq %" PRId64 ": ", v->cur_name, seq);
        else
                n = snprintf(what, sizeof(what), "%s: ", v->cur_name);
        if (n < 0 || (size_t)n >= sizeof(what))
                n = 0;
        va_start(ap, fmt);
        vsnprintf(what + n, sizeof(what) - (size_t)n, fmt, ap);
        va_end(ap);
        report(v, v->cur_epoch, seq, what);
}

static void hex_of(const uint8_t h[HASH_LEN], char out[HASH_HEX_LEN])
{
        hash_hex(h, HASH_LEN, out);
}

int seal_verifier_new(const uint8_t pk[SEAL_PK_LEN], seal_problem_cb cb, void *ud,
                      struct seal_verifier **ret)
{
        struct seal_verifier *v = calloc(1, sizeof(*v));

        if (!v)
                return -ENOMEM;
        memcpy(v->pk, pk, SEAL_PK_LEN);
        seal_key_id(pk, v->key_id);
        v->cb = cb;
        v->ud = ud;
        v->cur_epoch = -1;
        *ret = v;
        return 0;
}

static void epoch_reset(struct seal_verifier *v)
{
        for (size_t i = 0; i < v->n_crits; i++) {
                free(v->crits[i].id);
                free(v->crits[i].idx);
        }
        v->n_crits = 0;
        v->n_leaves = 0;
        v->open = false;
}

void seal_verifier_free(struct seal_verifier *v)
{
        if (!v)
                return;
        epoch_reset(v);
        free(v->crits);
        free(v->leaves);
        free(v->seqs);
        free(v->chain);
        merkle_free(v->log);
        free(v);
}

uint64_t seal_verifier_problems(const struct seal_verifier *v)
{
        return v->problems;
}

uint64_t seal_verifier_epochs(const struct seal_verifier *v)
{
        return v->epochs;
}

int seal_verifier_head(const struct seal_verifier *v, uint8_t ret_hash[HASH_LEN],
                       int64_t *ret_epoch)
{
        if (!v->have_head)
                return -ENOENT;
        if (ret_hash)
                memcpy(ret_hash, v->head_hash, HASH_LEN);
        if (ret_epoch)
                *ret_epoch = v->head_epoch;
        return 0;
}

void seal_verifier_anchor(struct seal_verifier *v, int64_t epoch, const uint8_t prev[HASH_LEN],
                          uint64_t next_seq)
{
        v->have_head = true;
        v->head_epoch = epoch - 1;
        memcpy(v->head_hash, prev, HASH_LEN);
        v->have_seq = true;
        v->next_seq = next_seq;
}

/* The criterion id of the current epoch, created when absent; NULL when out of memory. */
static struct crit *crit_get_n(struct seal_verifier *v, const char *id, size_t len,
                               bool create)
{
        struct crit *c;

        for (size_t i = 0; i < v->n_crits; i++)
                if (strncmp(v->crits[i].id, id, len) == 0 && v->crits[i].id[len] == '\0')
                        return &v->crits[i];
        if (!create)
                return NULL;
        if (v->n_crits == v->alloc_crits) {
                size_t na = v->alloc_crits ? 2 * v->alloc_crits : 8;
                struct crit *nc = realloc(v->crits, na * sizeof(*nc));

                if (!nc)
                        return NULL;
                v->crits = nc;
                v->alloc_crits = na;
        }
        c = &v->crits[v->n_crits];
        memset(c, 0, sizeof(*c));
        c->id = strndup(id, len);
        if (!c->id)
                return NULL;
        v->n_crits++;
        return c;
}

static struct crit *crit_get(struct seal_verifier *v, const char *id, bool create)
{
        return crit_get_n(v, id, strlen(id), create);
}

static int crit_tag(struct crit *c, size_t i)
{
        /* A record listing an id twice is tagged once. */
        if (c->n_idx > 0 && c->idx[c->n_idx - 1] == i)
                return 0;
        if (c->n_idx == c->alloc_idx) {
                size_t na = c->alloc_idx ? 2 * c->alloc_idx : 16;
                size_t *ni = realloc(c->idx, na * sizeof(*ni));

                if (!ni)
                        return -ENOMEM;
                c->idx = ni;
                c->alloc_idx = na;
        }
        c->idx[c->n_idx++] = i;
        return 0;
}

/* Does text re-serialise to exactly itself? -ENOMEM on allocation failure. */
static int is_canonical(const json *j, const char *text, size_t len)
{
        struct buf b = BUF_INIT;
        int r = json_canon(j, &b);

        if (r == -ENOMEM)
                return r;
        r = r == 0 && b.len == len && memcmp(b.data, text, len) == 0;
        buf_free(&b);
        return r;
}

/* ---- Manifest members ---- */

static bool get_uint(struct seal_verifier *v, const json *m, const char *key, uint64_t *out)
{
        const json *j = json_obj_get(m, key);

        if (!j || json_type_of(j) != JSON_INT || json_int(j) < 0) {
                problem(v, -1, "manifest member \"%s\" is %s, not a non-negative integer", key,
                        j ? "invalid" : "missing");
                return false;
        }
        *out = (uint64_t)json_int(j);
        return true;
}

static bool parse_hex(const json *j, uint8_t out[HASH_LEN])
{
        char back[HASH_HEX_LEN];
        size_t n = 0;
        const char *s = j ? json_str(j, &n) : NULL;

        /* Lowercase only: the hex is part of the signed bytes, so one spelling. */
        return s && hash_unhex(s, n, out, HASH_LEN) == 0 &&
               strcmp(hash_hex(out, HASH_LEN, back), s) == 0;
}

static bool get_hex(struct seal_verifier *v, const json *m, const char *key,
                    uint8_t out[HASH_LEN])
{
        const json *j = json_obj_get(m, key);

        if (!parse_hex(j, out)) {
                problem(v, -1, "manifest member \"%s\" is %s, not 64 lowercase hex digits", key,
                        j ? "invalid" : "missing");
                return false;
        }
        return true;
}

static bool get_time(struct seal_verifier *v, const json *m, const char *key, int64_t *out)
{
        const json *j = json_obj_get(m, key);
        char back[TM_RFC3339_LEN];
        size_t n = 0;
        const char *s = j ? json_str(j, &n) : NULL;

        if (!s || tm_parse_rfc3339(s, n, 0, out) < 0 ||
            strcmp(tm_format_rfc3339(*out, back), s) != 0) {
                problem(v, -1, "manifest member \"%s\" is %s, not an RFC 3339 UTC time with "
                        "six fractional digits", key, j ? "invalid" : "missing");
                return false;
        }
        return true;
}

static void check_members(struct seal_verifier *v, const json *m)
{
        size_t n = json_len(m);

        for (size_t i = 0; i < n; i++) {
                const char *key;
                size_t key_len;
                bool known = false;

                json_obj_at(m, i, &key, &key_len);
                for (size_t k = 0; k < sizeof(manifest_members) / sizeof(*manifest_members); k++)
                        if (strcmp(key, manifest_members[k]) == 0)
                                known = true;
                if (!known)
                        problem(v, -1, "manifest has an unknown member \"%s\"", key);
        }
}

/* Reads "criteria": {ID: {count, root}} into the epoch's crits. */
static int get_criteria(struct seal_verifier *v, const json *m, struct mf *f)
{
        const json *all = json_obj_get(m, "criteria");
        size_t n = json_len(all);

        if (!all || json_type_of(all) != JSON_OBJ) {
                problem(v, -1, "manifest member \"criteria\" is %s, not an object",
                        all ? "invalid" : "missing");
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                const char *id;
                size_t id_len;
                const json *one = json_obj_at(all, i, &id, &id_len);
                const json *cnt = json_obj_get(one, "count");
                struct crit *c;

                if (json_type_of(one) != JSON_OBJ || json_len(one) != 2 || !cnt ||
                    json_type_of(cnt) != JSON_INT || json_int(cnt) < 0) {
                        problem(v, -1, "criterion \"%s\" is not {\"count\": N, \"root\": HEX}",
                                id);
                        continue;
                }
                c = crit_get(v, id, true);
                if (!c)
                        return -ENOMEM;
                if (!parse_hex(json_obj_get(one, "root"), c->m_root)) {
                        problem(v, -1, "criterion \"%s\" root is not 64 lowercase hex digits",
                                id);
                        continue;
                }
                c->in_manifest = true;
                c->m_count = (uint64_t)json_int(cnt);
        }
        f->has_criteria = true;
        return 0;
}

static void get_strings(struct seal_verifier *v, const json *m, struct mf *f)
{
        const json *j = json_obj_get(m, "version");
        size_t n = 0;
        const char *s;

        if (!j || json_type_of(j) != JSON_INT || json_int(j) != SEAL_FORMAT_VERSION)
                problem(v, -1, "manifest version is %s; this verifier knows version %d",
                        j ? "not supported" : "missing", SEAL_FORMAT_VERSION);
        j = json_obj_get(m, "chain");
        s = j ? json_str(j, &n) : NULL;
        if (!s || n == 0)
                problem(v, -1, "manifest member \"chain\" is missing or not a string");
        else
                f->chain = s;
        j = json_obj_get(m, "key_id");
        s = j ? json_str(j, &n) : NULL;
        if (!s)
                problem(v, -1, "manifest member \"key_id\" is missing or not a string");
        else if (strcmp(s, v->key_id) != 0)
                problem(v, -1, "key_id %s is not the pinned public key's %s", s, v->key_id);
        else
                f->key_id_ok = true;
        j = json_obj_get(m, "stats");
        if (!j || json_type_of(j) != JSON_OBJ)
                problem(v, -1, "manifest member \"stats\" is missing or not an object");
}

/* Checks the manifest on its own and fills f. */
static int check_manifest(struct seal_verifier *v, const json *m, const char *text, size_t len,
                          struct mf *f)
{
        int64_t start = 0, end = 0, sealed = 0;
        uint64_t epoch = 0;
        bool ts, te;
        int r;

        r = is_canonical(m, text, len);
        if (r < 0)
                return r;
        if (!r)
                problem(v, -1, "manifest is not canonical JSON (RFC 8785)");
        check_members(v, m);
        get_strings(v, m, f);
        if (get_uint(v, m, "epoch", &epoch) && epoch <= INT64_MAX) {
                f->has_epoch = true;
                f->epoch = (int64_t)epoch;
        }
        f->has_first_seq = get_uint(v, m, "first_seq", &f->first_seq);
        f->has_count = get_uint(v, m, "count", &f->count);
        f->has_root = get_hex(v, m, "root", f->root);
        f->has_prev = get_hex(v, m, "prev", f->prev);
        ts = get_time(v, m, "start", &start);
        te = get_time(v, m, "end", &end);
        get_time(v, m, "sealed", &sealed);
        if (ts && te && end < start)
                problem(v, -1, "end is before start");
        if (json_obj_get(m, "next_key"))  /* issue 10: optional */
                f->has_next_key = get_hex(v, m, "next_key", f->next_key);
        return get_criteria(v, m, f);
}

/* ---- The chain ---- */

static void check_chain_name(struct seal_verifier *v, const struct mf *f)
{
        if (!f->chain)
                return;
        if (!v->chain) {
                v->chain = strdup(f->chain);
                return;
        }
        if (strcmp(v->chain, f->chain) != 0)
                problem(v, -1, "chain is \"%s\" but earlier epochs say \"%s\"", f->chain,
                        v->chain);
}

static void check_links(struct seal_verifier *v, const struct mf *f)
{
        static const uint8_t zeros[HASH_LEN];
        char a[HASH_HEX_LEN], b[HASH_HEX_LEN];
        int64_t want;

        if (!f->has_epoch)
                return;
        if (!v->have_head) {
                if (f->epoch == 0 && f->has_prev && memcmp(f->prev, zeros, HASH_LEN) != 0)
                        problem(v, -1, "prev of epoch 0 is %s, not all zeros",
                                (hex_of(f->prev, a), a));
                return;
        }
        want = v->head_epoch + 1;
        if (f->epoch > want) {
                char what[WHAT_MAX_LEN];

                if (f->epoch == want + 1)
                        snprintf(what, sizeof(what), "epoch %" PRId64 " missing: epochs jump "
                                 "from %" PRId64 " to %" PRId64, want, v->head_epoch, f->epoch);
                else
                        snprintf(what, sizeof(what), "epochs %" PRId64 " to %" PRId64
                                 " missing: epochs jump from %" PRId64 " to %" PRId64, want,
                                 f->epoch - 1, v->head_epoch, f->epoch);
                report(v, want, -1, what);
                return;
        }
        if (f->epoch < want) {
                problem(v, -1, "out of order: comes after epoch %" PRId64, v->head_epoch);
                return;
        }
        if (f->has_prev && memcmp(f->prev, v->head_hash, HASH_LEN) != 0)
                problem(v, -1, "prev does not match the hash of epoch %" PRId64 "'s manifest "
                        "(prev %s, manifest hash %s)", v->head_epoch, (hex_of(f->prev, a), a),
                        (hex_of(v->head_hash, b), b));
        if (f->has_first_seq && v->have_seq && f->first_seq != v->next_seq)
                problem(v, -1, "first_seq %" PRIu64 " does not continue epoch %" PRId64
                        " (expected %" PRIu64 ")", f->first_seq, v->head_epoch, v->next_seq);
}

/* ---- Records ---- */

static int leaves_reserve(struct seal_verifier *v, size_t n)
{
        uint8_t (*nl)[HASH_LEN];
        int64_t *ns;

        if (n <= v->alloc_leaves)
                return 0;
        nl = realloc(v->leaves, n * sizeof(*nl));
        if (!nl)
                return -ENOMEM;
        v->leaves = nl;
        ns = realloc(v->seqs, n * sizeof(*ns));
        if (!ns)
                return -ENOMEM;
        v->seqs = ns;
        v->alloc_leaves = n;
        return 0;
}

/* Tags record i with the ids of its "criteria" array. */
static int record_criteria(struct seal_verifier *v, const json *rec, size_t i, int64_t seq)
{
        const json *arr = json_obj_get(rec, "criteria");
        size_t n = json_len(arr);

        if (!arr)
                return 0;
        if (json_type_of(arr) != JSON_ARR) {
                problem(v, seq, "record member \"criteria\" is not an array");
                return 0;
        }
        for (size_t k = 0; k < n; k++) {
                const char *id = json_str(json_arr_at(arr, k), NULL);
                struct crit *c;

                if (!id) {
                        problem(v, seq, "criteria[%zu] is not a string", k);
                        continue;
                }
                c = crit_get(v, id, true);
                if (!c || crit_tag(c, i) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* Checks the seq of record i against the one expected; returns the seq to report under. */
static int64_t record_seq_num(struct seal_verifier *v, int64_t s, size_t i, bool *known,
                              uint64_t *expected);

static int64_t record_seq(struct seal_verifier *v, const json *rec, size_t i, bool *known,
                          uint64_t *expected)
{
        const json *j = json_obj_get(rec, "seq");
        int64_t want = *known ? (int64_t)*expected : -1;

        if (!j || json_type_of(j) != JSON_INT || json_int(j) < 0) {
                problem(v, want, "record has no non-negative integer \"seq\"");
                if (*known)
                        (*expected)++;
                return want;
        }
        return record_seq_num(v, json_int(j), i, known, expected);
}

/* issue 12: the seq checks on a number, shared by the scanner's fast path. */
static int64_t record_seq_num(struct seal_verifier *v, int64_t s, size_t i, bool *known,
                              uint64_t *expected)
{
        int64_t want = *known ? (int64_t)*expected : -1;

        if (*known && s != want && i == 0)
                problem(v, s, "first record has seq %" PRId64 ", expected %" PRId64, s, want);
        else if (*known && s == want + 1)
                problem(v, s, "seq jumps from %" PRId64 " to %" PRId64 ": record %" PRId64
                        " missing", want - 1, s, want);
        else if (*known && s > want)
                problem(v, s, "seq jumps from %" PRId64 " to %" PRId64 ": records %" PRId64
                        " to %" PRId64 " missing", want - 1, s, want, s - 1);
        else if (*known && s < want)
                problem(v, s, "out of order or repeated: comes after seq %" PRId64, want - 1);
        /* Resynchronise forwards only, so that a swap or a duplicate is reported once. */
        if (!*known || s >= want) {
                *expected = (uint64_t)s + 1;
                *known = true;
        }
        return s;
}

static int check_record(struct seal_verifier *v, const struct seal_blob *b, size_t i,
                        bool *known, uint64_t *expected)
{
        struct json_error jerr = { 0 };
        json *rec = NULL;
        int64_t seq;
        int r;

        merkle_leaf_hash(b->data, b->len, v->leaves[i]);
        r = json_parse(b->data, b->len, &rec, &jerr);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                seq = *known ? (int64_t)(*expected)++ : -1;
                v->seqs[i] = seq;
                problem(v, seq, "record is not valid JSON (%s at byte %zu)", jerr.msg,
                        jerr.offset);
                return 0;
        }
        if (json_type_of(rec) != JSON_OBJ) {
                seq = *known ? (int64_t)(*expected)++ : -1;
                problem(v, seq, "record is not a JSON object");
        } else {
                seq = record_seq(v, rec, i, known, expected);
                r = record_criteria(v, rec, i, seq);
        }
        v->seqs[i] = seq;
        if (r == 0) {
                r = is_canonical(rec, b->data, b->len);
                if (r == 0)
                        problem(v, seq, "record is not canonical JSON");
        }
        json_free(rec);
        return r < 0 ? r : 0;
}

static void check_criteria_roots(struct seal_verifier *v, uint8_t (*tmp)[HASH_LEN])
{
        char a[HASH_HEX_LEN], b[HASH_HEX_LEN];

        for (size_t k = 0; k < v->n_crits; k++) {
                struct crit *c = &v->crits[k];
                uint8_t root[HASH_LEN];

                if (!c->in_manifest) {
                        problem(v, -1, "%zu record%s tagged with criterion \"%s\" but the "
                                "manifest does not list it", c->n_idx,
                                c->n_idx == 1 ? " is" : "s are", c->id);
                        continue;
                }
                for (size_t i = 0; i < c->n_idx; i++)
                        memcpy(tmp[i], v->leaves[c->idx[i]], HASH_LEN);
                merkle_root_of((const uint8_t (*)[HASH_LEN])tmp, c->n_idx, root);
                if (c->m_count != c->n_idx)
                        problem(v, -1, "criterion \"%s\": manifest count is %" PRIu64
                                " but %zu record%s tagged with it", c->id, c->m_count,
                                c->n_idx, c->n_idx == 1 ? " is" : "s are");
                if (memcmp(root, c->m_root, HASH_LEN) != 0)
                        problem(v, -1, "criterion \"%s\" root mismatch: manifest says %s, "
                                "records give %s", c->id, (hex_of(c->m_root, a), a),
                                (hex_of(root, b), b));
        }
}

/* issue 12: one record of the epoch being fed. The scanner decides most records without a
 * tree; the others take the full parser (check_record), which also words any problem. */
static int feed_record(struct seal_verifier *v, const char *data, size_t len)
{
        struct seal_scan sc;
        size_t i = v->n_leaves;
        int64_t seq;

        if (i == v->alloc_leaves) {
                int r = leaves_reserve(v, i ? 2 * i : 1024);
                if (r < 0)
                        return r;
        }
        v->n_leaves++;
        if (!seal_scan_record(data, len, &sc)) {
                struct seal_blob b = { data, len };
                return check_record(v, &b, i, &v->known, &v->expected);
        }
        merkle_leaf_hash(data, len, v->leaves[i]);
        seq = record_seq_num(v, sc.seq, i, &v->known, &v->expected);
        v->seqs[i] = seq;
        for (size_t k = 0; k < sc.n_criteria; k++) {
                struct crit *c = crit_get_n(v, sc.criteria[k].p, sc.criteria[k].len, true);
                if (!c || crit_tag(c, i) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* The epoch's count, root and criteria roots, once every record was fed. */
static int check_records_end(struct seal_verifier *v, const struct mf *f)
{
        char a[HASH_HEX_LEN], b[HASH_HEX_LEN];
        uint8_t (*tmp)[HASH_LEN];
        uint8_t root[HASH_LEN];
        size_t n = v->n_leaves;

        if (f->has_count && f->count != n)
                problem(v, -1, "manifest count is %" PRIu64 " but %zu records were given",
                        f->count, n);
        merkle_root_of((const uint8_t (*)[HASH_LEN])v->leaves, n, root);
        if (f->has_root && memcmp(root, f->root, HASH_LEN) != 0)
                problem(v, -1, "root mismatch: manifest says %s, records give %s",
                        (hex_of(f->root, a), a), (hex_of(root, b), b));
        if (f->has_criteria) {
                tmp = malloc((n ? n : 1) * sizeof(*tmp));
                if (!tmp)
                        return -ENOMEM;
                check_criteria_roots(v, tmp);
                free(tmp);
        }
        /* The next epoch continues from what the manifest claims when it can be read. */
        if (f->has_first_seq && f->has_count) {
                v->next_seq = f->first_seq + f->count;
                v->have_seq = true;
        } else if (v->known) {
                v->next_seq = v->expected;
                v->have_seq = true;
        }
        return 0;
}

/* ---- Epochs ---- */

/* issue 10: the revocation of the key in force for epoch, or NULL. */
static const struct revoked *revoked_for(const struct seal_verifier *v, int64_t epoch)
{
        for (size_t i = 0; i < v->n_revoked; i++)
                if (strcmp(v->revoked[i].key_id, v->key_id) == 0 && epoch >= 0 &&
                    epoch >= v->revoked[i].from_epoch)
                        return &v->revoked[i];
        return NULL;
}

/* True when the signature verifies under the key in force and that key is not revoked. */
static bool check_signature(struct seal_verifier *v, const char *manifest, size_t len,
                            const uint8_t *sig, size_t sig_len)
{
        const struct revoked *rv;

        if (!sig) {
                problem(v, -1, "signature is missing");
                return false;
        }
        if (sig_len != SEAL_SIG_LEN) {
                problem(v, -1, "signature is %zu bytes, not %d", sig_len, SEAL_SIG_LEN);
                return false;
        }
        if (seal_sig_verify(v->pk, manifest, len, sig) != 0) {
                problem(v, -1, "bad signature (key_id %s): the manifest bytes are not "
                        "signed by the %s key", v->key_id,
                        v->rotated ? "key in force (announced by the previous manifest)"
                                   : "pinned");
                return false;
        }
        rv = revoked_for(v, v->cur_epoch);
        if (rv) {
                problem(v, -1, "signed by key_id %s, which is revoked from epoch %" PRId64,
                        v->key_id, rv->from_epoch);
                return false;
        }
        return true;
}

/* issue 10: after an epoch whose good manifest names the next key, that key is in force. */
static void follow_rotation(struct seal_verifier *v, const struct mf *f, bool sig_ok)
{
        if (!f->has_next_key || !sig_ok || !f->key_id_ok)
                return;
        memcpy(v->pk, f->next_key, SEAL_PK_LEN);
        seal_key_id(v->pk, v->key_id);
        v->rotated = true;
        if (v->rotate_cb)
                v->rotate_cb(v->rotate_ud, v->cur_epoch, v->key_id);
}

int seal_verifier_revoke(struct seal_verifier *v, const char *key_id, int64_t from_epoch)
{
        uint8_t raw[SEAL_PK_LEN];
        char back[HASH_HEX_LEN];

        if (!key_id || strlen(key_id) != HASH_HEX_LEN - 1 || from_epoch < 0 ||
            hash_unhex(key_id, HASH_HEX_LEN - 1, raw, sizeof(raw)) < 0 ||
            strcmp(hash_hex(raw, sizeof(raw), back), key_id) != 0)
                return -EINVAL;
        if (v->n_revoked == SEAL_REVOKED_MAX)
                return -E2BIG;
        memcpy(v->revoked[v->n_revoked].key_id, key_id, HASH_HEX_LEN);
        v->revoked[v->n_revoked++].from_epoch = from_epoch;
        return 0;
}

void seal_verifier_on_rotate(struct seal_verifier *v, seal_rotate_cb cb, void *ud)
{
        v->rotate_cb = cb;
        v->rotate_ud = ud;
}

void seal_verifier_key(const struct seal_verifier *v, uint8_t ret_pk[SEAL_PK_LEN])
{
        memcpy(ret_pk, v->pk, SEAL_PK_LEN);
}

/* Names the epoch for reports: its number when the manifest says it, else the label. */
static void name_epoch(struct seal_verifier *v, const char *label, const struct mf *f)
{
        if (f->has_epoch) {
                v->cur_epoch = f->epoch;
                snprintf(v->cur_name, sizeof(v->cur_name), "epoch %" PRId64, f->epoch);
                return;
        }
        v->cur_epoch = v->have_head ? v->head_epoch + 1 : -1;
        if (label)
                snprintf(v->cur_name, sizeof(v->cur_name), "%s", label);
        else if (v->cur_epoch >= 0)
                snprintf(v->cur_name, sizeof(v->cur_name), "epoch %" PRId64 "?", v->cur_epoch);
        else
                snprintf(v->cur_name, sizeof(v->cur_name), "first epoch");
}

static int read_manifest(struct seal_verifier *v, const char *label, const char *manifest,
                         size_t len, json **ret, struct mf *f)
{
        struct json_error jerr = { 0 };
        const json *j;
        int r;

        r = manifest ? json_parse(manifest, len, ret, &jerr) : -ENOENT;
        if (r == -ENOMEM)
                return r;
        j = r == 0 ? *ret : NULL;
        if (j && json_type_of(j) == JSON_OBJ) {
                /* The number comes first so that every report names the epoch. */
                const json *e = json_obj_get(j, "epoch");

                if (e && json_type_of(e) == JSON_INT && json_int(e) >= 0) {
                        f->has_epoch = true;
                        f->epoch = json_int(e);
                }
        }
        name_epoch(v, label, f);
        f->has_epoch = false;
        if (!manifest)
                problem(v, -1, "manifest is missing");
        else if (r < 0)
                problem(v, -1, "manifest is not valid JSON (%s at byte %zu)", jerr.msg,
                        jerr.offset);
        else if (json_type_of(j) != JSON_OBJ)
                problem(v, -1, "manifest is not a JSON object");
        else
                f->parsed = true;
        return 0;
}

/* ---- Heads (issue 10) ---- */

void seal_verifier_expect_head(struct seal_verifier *v, const struct seal_head *h)
{
        v->want_head = true;
        v->head = *h;
}

/* Adds the manifest just fed to the log of manifests; notes the root at the head's size. */
static int head_track(struct seal_verifier *v, const char *manifest, size_t len)
{
        uint8_t leaf[HASH_LEN];
        int r;

        if (!v->want_head || v->head_reached)
                return 0;
        if (!v->log && (r = merkle_new(&v->log)) < 0)
                return r;
        merkle_leaf_hash(manifest ? manifest : "", manifest ? len : 0, leaf);
        if ((r = merkle_add_leaf(v->log, leaf)) < 0)
                return r;
        if (merkle_count(v->log) == v->head.tree_size) {
                v->head_reached = true;
                merkle_root(v->log, v->log_root);
                memcpy(v->log_last, v->head_hash, HASH_LEN);
        }
        return 0;
}

int seal_verifier_finish(struct seal_verifier *v)
{
        char what[WHAT_MAX_LEN], a[HASH_HEX_LEN], b[HASH_HEX_LEN];
        int64_t last = (int64_t)v->head.tree_size - 1;
        uint64_t got;

        if (v->in_records)
                seal_verifier_records_end(v);
        got = v->log ? merkle_count(v->log) : 0;
        if (v->open)
                seal_verifier_epoch_end(v, false);
        if (!v->want_head)
                return 0;
        if (!v->head_reached) {
                snprintf(what, sizeof(what), "epoch %" PRId64 ": the chain does not extend the "
                         "head: the head covers %" PRIu64 " sealed epochs (0 to %" PRId64 ") but "
                         "the chain has %" PRIu64 ": epochs were cut off the end (truncated)",
                         got, v->head.tree_size, last, got);
                report(v, (int64_t)got, -1, what);
                return 0;
        }
        if (v->head.has_manifest_hash &&
            memcmp(v->log_last, v->head.manifest_hash, HASH_LEN) != 0) {
                snprintf(what, sizeof(what), "epoch %" PRId64 ": the chain does not extend the "
                         "head: this epoch's manifest hash is %s but the head says %s "
                         "(rewritten)", last, (hex_of(v->log_last, a), a),
                         (hex_of(v->head.manifest_hash, b), b));
                report(v, last, -1, what);
                return 0;
        }
        if (memcmp(v->log_root, v->head.root, HASH_LEN) != 0) {
                snprintf(what, sizeof(what), "epoch %" PRId64 ": the chain does not extend the "
                         "head: its first %" PRIu64 " manifests give the root %s but the head "
                         "says %s (an epoch up to this one was rewritten)", last,
                         v->head.tree_size, (hex_of(v->log_root, a), a),
                         (hex_of(v->head.root, b), b));
                report(v, last, -1, what);
        }
        return 0;
}

int seal_verifier_epoch_begin(struct seal_verifier *v, const char *label, const char *manifest,
                              size_t manifest_len, const uint8_t *sig, size_t sig_len)
{
        struct mf f = { 0 };
        json *m = NULL;
        int r;

        if (v->in_records && (r = seal_verifier_records_end(v)) < 0)
                return r;
        if (v->open)
                seal_verifier_epoch_end(v, false);
        epoch_reset(v);
        v->epochs++;
        v->sig_ok = false;
        r = read_manifest(v, label, manifest, manifest_len, &m, &f);
        if (r == 0 && f.parsed)
                r = check_manifest(v, m, manifest, manifest_len, &f);
        if (r == 0) {
                v->sig_ok = manifest && check_signature(v, manifest, manifest_len, sig,
                                                         sig_len);
                check_chain_name(v, &f);
                check_links(v, &f);
        }
        json_free(m);
        if (r < 0)
                return r;
        f.chain = NULL;
        f.criteria = NULL;
        v->f = f;
        v->known = f.has_first_seq || v->have_seq;
        v->expected = f.has_first_seq ? f.first_seq : v->next_seq;
        if (manifest)
                hash_sha256(manifest, manifest_len, v->pending_hash);
        else
                memset(v->pending_hash, 0, HASH_LEN);
        v->pending_manifest = manifest;
        v->pending_len = manifest_len;
        v->in_records = true;
        return 0;
}

int seal_verifier_record(struct seal_verifier *v, const char *data, size_t len)
{
        if (!v->in_records)
                return -EINVAL;
        return feed_record(v, data ? data : "", data ? len : 0);
}

int seal_verifier_records_end(struct seal_verifier *v)
{
        int r;

        if (!v->in_records)
                return 0;
        v->in_records = false;
        r = check_records_end(v, &v->f);
        if (r < 0)
                return r;
        follow_rotation(v, &v->f, v->sig_ok);  /* issue 10 */
        /* The chain moves on even past a bad epoch, so that one tampered epoch is reported
         * once rather than breaking every later link. */
        memcpy(v->head_hash, v->pending_hash, HASH_LEN);
        v->head_epoch = v->f.has_epoch ? v->f.epoch : (v->have_head ? v->head_epoch + 1 : 0);
        v->have_head = true;
        v->open = true;
        r = head_track(v, v->pending_manifest, v->pending_len);
        v->pending_manifest = NULL;
        return r;
}

int seal_verifier_epoch(struct seal_verifier *v, const char *label, const char *manifest,
                        size_t manifest_len, const uint8_t *sig, size_t sig_len,
                        const struct seal_blob *records, size_t n_records)
{
        int r = seal_verifier_epoch_begin(v, label, manifest, manifest_len, sig, sig_len);

        if (r == 0)
                r = leaves_reserve(v, n_records);
        for (size_t i = 0; r == 0 && i < n_records; i++)
                r = seal_verifier_record(v, records[i].data, records[i].len);
        if (r < 0) {
                v->in_records = false;
                return r;
        }
        return seal_verifier_records_end(v);
}

const size_t *seal_verifier_tagged(const struct seal_verifier *v, const char *id,
                                   size_t *ret_n)
{
        for (size_t i = 0; i < v->n_crits; i++)
                if (strcmp(v->crits[i].id, id) == 0) {
                        *ret_n = v->crits[i].n_idx;
                        return v->crits[i].idx;
                }
        *ret_n = 0;
        return NULL;
}

int seal_verifier_tsc_result(struct seal_verifier *v, const char *id, size_t n_lines,
                             size_t first_bad)
{
        struct crit *c;

        if (v->in_records)
                seal_verifier_records_end(v);
        if (!v->open)
                return -EINVAL;
        c = crit_get(v, id, false);
        if (!c || !c->in_manifest) {
                problem(v, -1, "tsc=%s/records.jsonl is present but the manifest lists no "
                        "criterion \"%s\"", id, id);
                return 0;
        }
        if (c->file_seen)
                problem(v, -1, "tsc=%s/records.jsonl given twice", id);
        c->file_seen = true;
        if (n_lines != c->n_idx)
                problem(v, -1, "tsc=%s/records.jsonl has %zu records but %zu of the epoch's "
                        "records are tagged with it", id, n_lines, c->n_idx);
        if (first_bad < n_lines && first_bad < c->n_idx)
                /* Later lines are shifted too: one report says it. */
                problem(v, v->seqs[c->idx[first_bad]], "tsc=%s/records.jsonl line "
                        "%zu is not this record (the %zu. tagged with %s); the file "
                        "differs from there on", id, first_bad + 1, first_bad + 1, id);
        return 0;
}

int seal_verifier_tsc(struct seal_verifier *v, const char *id, const struct seal_blob *records,
                      size_t n_records)
{
        size_t n_idx = 0, first_bad = SIZE_MAX;
        const size_t *idx;

        if (v->in_records)
                seal_verifier_records_end(v);
        if (!v->open)
                return -EINVAL;
        idx = seal_verifier_tagged(v, id, &n_idx);
        for (size_t i = 0; idx && i < n_records && i < n_idx; i++) {
                uint8_t leaf[HASH_LEN];

                merkle_leaf_hash(records[i].data, records[i].len, leaf);
                if (memcmp(leaf, v->leaves[idx[i]], HASH_LEN) != 0) {
                        first_bad = i;
                        break;
                }
        }
        return seal_verifier_tsc_result(v, id, n_records, first_bad);
}

int seal_verifier_epoch_end(struct seal_verifier *v, bool expect_tsc_files)
{
        if (v->in_records)
                seal_verifier_records_end(v);
        if (!v->open)
                return 0;
        for (size_t k = 0; expect_tsc_files && k < v->n_crits; k++) {
                const struct crit *c = &v->crits[k];

                if (c->in_manifest && c->m_count > 0 && !c->file_seen)
                        problem(v, -1, "criterion \"%s\" has no tsc=%s/records.jsonl file",
                                c->id, c->id);
        }
        v->open = false;
        return 0;
}
