/* Epoch manifests: the canonical JSON bytes that are hashed into the chain and signed.
 *
 * The manifest is built as a core/json.h tree and serialised with json_canon (RFC 8785), so
 * its bytes depend only on the values: the verifier re-serialises what it parses and demands
 * the same bytes. Members are documented in docs/FORMAT.md. Runs once per epoch; cost is
 * linear in the number of criteria and the size of stats. */
#include <errno.h>

#include "core/tm.h"
#include "seal/seal.h"

/* JSON integers here are int64 (core/json.h); a count past that cannot be written exactly. */
static int set_u64(json *obj, const char *key, uint64_t v)
{
        if (v > INT64_MAX)
                return -ERANGE;
        return json_obj_set_int(obj, key, (int64_t)v);
}

static int set_hex(json *obj, const char *key, const uint8_t h[HASH_LEN])
{
        char hex[HASH_HEX_LEN];

        return json_obj_set_str(obj, key, hash_hex(h, HASH_LEN, hex));
}

static int set_time(json *obj, const char *key, int64_t us)
{
        char t[TM_RFC3339_LEN];

        return json_obj_set_str(obj, key, tm_format_rfc3339(us, t));
}

static int build_criteria(const struct seal_manifest *m, json **ret)
{
        json *all = json_new_obj();
        int r = 0;

        if (!all)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_criteria && r == 0; i++) {
                const struct seal_criterion *c = &m->criteria[i];
                json *one = json_new_obj();

                if (!one) {
                        r = -ENOMEM;
                        break;
                }
                r = set_u64(one, "count", c->count);
                if (r == 0)
                        r = set_hex(one, "root", c->root);
                if (r < 0) {
                        json_free(one);
                        break;
                }
                /* A repeated id would silently replace the first: refuse it. */
                if (json_obj_get(all, c->id)) {
                        json_free(one);
                        r = -EINVAL;
                        break;
                }
                r = json_obj_set(all, c->id, one);
        }
        if (r < 0) {
                json_free(all);
                return r;
        }
        *ret = all;
        return 0;
}

static int build_tree(const struct seal_manifest *m, json *root)
{
        json *criteria = NULL, *stats;
        int r;

        if (!m->chain || (m->stats && json_type_of(m->stats) != JSON_OBJ))
                return -EINVAL;
        if ((r = set_u64(root, "version", SEAL_FORMAT_VERSION)) < 0 ||
            (r = json_obj_set_str(root, "chain", m->chain)) < 0 ||
            (r = set_u64(root, "epoch", m->epoch)) < 0 ||
            (r = set_time(root, "start", m->start_us)) < 0 ||
            (r = set_time(root, "end", m->end_us)) < 0 ||
            (r = set_u64(root, "first_seq", m->first_seq)) < 0 ||
            (r = set_u64(root, "count", m->count)) < 0 ||
            (r = set_hex(root, "root", m->root)) < 0 ||
            (r = json_obj_set_str(root, "key_id", m->key_id)) < 0 ||
            (r = set_hex(root, "prev", m->prev)) < 0 ||
            (r = set_time(root, "sealed", m->sealed_us)) < 0)
                return r;
        /* issue 10: key rotation; HASH_LEN == SEAL_PK_LEN, both 32 bytes. */
        if (m->next_key && (r = set_hex(root, "next_key", m->next_key)) < 0)
                return r;
        r = build_criteria(m, &criteria);
        if (r < 0)
                return r;
        r = json_obj_set(root, "criteria", criteria);
        if (r < 0)
                return r;
        stats = m->stats ? json_clone(m->stats) : json_new_obj();
        if (!stats)
                return -ENOMEM;
        return json_obj_set(root, "stats", stats);
}

int seal_manifest_build(const struct seal_manifest *m, struct buf *out)
{
        json *root = json_new_obj();
        int r;

        if (!root)
                return -ENOMEM;
        r = build_tree(m, root);
        if (r == 0)
                r = json_canon(root, out);
        json_free(root);
        return r;
}
