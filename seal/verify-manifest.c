/* The verifier's checks of one manifest on its own (canonical, members, times, criteria),
 * of its place in the chain (name, number, prev, first_seq), and of its signature under the
 * key in force (issue 10: rotation and revocation). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tm.h"
#include "seal/verify-int.h"

static const char *const manifest_members[] = {
        "chain", "count", "criteria", "end", "epoch", "first_seq", "key_id", "next_key", "prev",
        "root", "sealed", "start", "stats", "version",
};

/* ---- Manifest members ---- */

static bool get_uint(struct seal_verifier *v, const json *m, const char *key, uint64_t *out)
{
        const json *j = json_obj_get(m, key);

        if (!j || json_type_of(j) != JSON_INT || json_int(j) < 0) {
                vf_problem(v, -1, "manifest member \"%s\" is %s, not a non-negative integer", key,
                        j ? "invalid" : "missing");
                return false;
        }
        *out = (uint64_t)json_int(j);
        return true;
}

static bool get_hex(struct seal_verifier *v, const json *m, const char *key,
                    uint8_t out[HASH_LEN])
{
        const json *j = json_obj_get(m, key);

        if (!seal_hex_parse(j, out)) {
                vf_problem(v, -1, "manifest member \"%s\" is %s, not 64 lowercase hex digits", key,
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
                vf_problem(v, -1, "manifest member \"%s\" is %s, not an RFC 3339 UTC time with "
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
                        vf_problem(v, -1, "manifest has an unknown member \"%s\"", key);
        }
}

/* Reads "criteria": {ID: {count, root}} into the epoch's crits. */
static int get_criteria(struct seal_verifier *v, const json *m, struct mf *f)
{
        const json *all = json_obj_get(m, "criteria");
        size_t n = json_len(all);

        if (!all || json_type_of(all) != JSON_OBJ) {
                vf_problem(v, -1, "manifest member \"criteria\" is %s, not an object",
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
                        vf_problem(v, -1, "criterion \"%s\" is not {\"count\": N, \"root\": HEX}",
                                id);
                        continue;
                }
                c = vf_crit_get(v, id, true);
                if (!c)
                        return -ENOMEM;
                if (!seal_hex_parse(json_obj_get(one, "root"), c->m_root)) {
                        vf_problem(v, -1, "criterion \"%s\" root is not 64 lowercase hex digits",
                                id);
                        continue;
                }
                /* issue 12 (verify11): its tree, fed as the records' leaves are hashed. */
                if (!c->tree && merkle_chunked_new(&c->tree) < 0)
                        return -ENOMEM;
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
                vf_problem(v, -1, "manifest version is %s; this verifier knows version %d",
                        j ? "not supported" : "missing", SEAL_FORMAT_VERSION);
        j = json_obj_get(m, "chain");
        s = j ? json_str(j, &n) : NULL;
        if (!s || n == 0)
                vf_problem(v, -1, "manifest member \"chain\" is missing or not a string");
        else
                f->chain = s;
        j = json_obj_get(m, "key_id");
        s = j ? json_str(j, &n) : NULL;
        if (!s)
                vf_problem(v, -1, "manifest member \"key_id\" is missing or not a string");
        else if (strcmp(s, v->key_id) != 0)
                vf_problem(v, -1, "key_id %s is not the pinned public key's %s", s, v->key_id);
        else
                f->key_id_ok = true;
        j = json_obj_get(m, "stats");
        if (!j || json_type_of(j) != JSON_OBJ)
                vf_problem(v, -1, "manifest member \"stats\" is missing or not an object");
}

/* Checks the manifest on its own and fills f. */
int vf_check_manifest(struct seal_verifier *v, const json *m, const char *text, size_t len,
                          struct mf *f)
{
        int64_t start = 0, end = 0, sealed = 0;
        uint64_t epoch = 0;
        bool ts, te;
        int r;

        r = vf_is_canonical(m, text, len);
        if (r < 0)
                return r;
        if (!r)
                vf_problem(v, -1, "manifest is not canonical JSON (RFC 8785)");
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
                vf_problem(v, -1, "end is before start");
        if (json_obj_get(m, "next_key"))  /* issue 10: optional */
                f->has_next_key = get_hex(v, m, "next_key", f->next_key);
        return get_criteria(v, m, f);
}

/* ---- The chain ---- */

void vf_check_chain_name(struct seal_verifier *v, const struct mf *f)
{
        if (!f->chain)
                return;
        if (!v->chain) {
                v->chain = strdup(f->chain);
                return;
        }
        if (strcmp(v->chain, f->chain) != 0)
                vf_problem(v, -1, "chain is \"%s\" but earlier epochs say \"%s\"", f->chain,
                        v->chain);
}

void vf_check_links(struct seal_verifier *v, const struct mf *f)
{
        static const uint8_t zeros[HASH_LEN];
        char a[HASH_HEX_LEN], b[HASH_HEX_LEN];
        int64_t want;

        if (!f->has_epoch)
                return;
        if (!v->have_head) {
                if (f->epoch == 0 && f->has_prev && memcmp(f->prev, zeros, HASH_LEN) != 0)
                        vf_problem(v, -1, "prev of epoch 0 is %s, not all zeros",
                                (vf_hex_of(f->prev, a), a));
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
                vf_report(v, want, -1, what);
                return;
        }
        if (f->epoch < want) {
                vf_problem(v, -1, "out of order: comes after epoch %" PRId64, v->head_epoch);
                return;
        }
        if (f->has_prev && memcmp(f->prev, v->head_hash, HASH_LEN) != 0)
                vf_problem(v, -1, "prev does not match the hash of epoch %" PRId64 "'s manifest "
                        "(prev %s, manifest hash %s)", v->head_epoch, (vf_hex_of(f->prev, a), a),
                        (vf_hex_of(v->head_hash, b), b));
        if (f->has_first_seq && v->have_seq && f->first_seq != v->next_seq)
                vf_problem(v, -1, "first_seq %" PRIu64 " does not continue epoch %" PRId64
                        " (expected %" PRIu64 ")", f->first_seq, v->head_epoch, v->next_seq);
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
bool vf_check_signature(struct seal_verifier *v, const char *manifest, size_t len,
                            const uint8_t *sig, size_t sig_len)
{
        const struct revoked *rv;

        if (!sig) {
                vf_problem(v, -1, "signature is missing");
                return false;
        }
        if (sig_len != SEAL_SIG_LEN) {
                vf_problem(v, -1, "signature is %zu bytes, not %d", sig_len, SEAL_SIG_LEN);
                return false;
        }
        if (seal_sig_verify(v->pk, manifest, len, sig) != 0) {
                vf_problem(v, -1, "bad signature (key_id %s): the manifest bytes are not "
                        "signed by the %s key", v->key_id,
                        v->rotated ? "key in force (announced by the previous manifest)"
                                   : "pinned");
                return false;
        }
        rv = revoked_for(v, v->cur_epoch);
        if (rv) {
                vf_problem(v, -1, "signed by key_id %s, which is revoked from epoch %" PRId64,
                        v->key_id, rv->from_epoch);
                return false;
        }
        return true;
}

/* issue 10: after an epoch whose good manifest names the next key, that key is in force. */
void vf_follow_rotation(struct seal_verifier *v, const struct mf *f, bool sig_ok)
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

int vf_read_manifest(struct seal_verifier *v, const char *label, const char *manifest,
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
                vf_problem(v, -1, "manifest is missing");
        else if (r < 0)
                vf_problem(v, -1, "manifest is not valid JSON (%s at byte %zu)", jerr.msg,
                        jerr.offset);
        else if (json_type_of(j) != JSON_OBJ)
                vf_problem(v, -1, "manifest is not a JSON object");
        else
                f->parsed = true;
        return 0;
}
