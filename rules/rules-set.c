/* Setting fields and redacting: what a matched rule does to a gate record (split from
 * rules-match.c, issue 12 hygiene; the matching and the loop stay there).
 *
 * Expected load: once per rule that matches (about one per record) and, for redactions,
 * once per record whose rules redact. Values set are built in the record's arena; a
 * template's text goes through the calling thread's scratch buffer (m->out), so nothing
 * here allocates per record except the values themselves.
 *
 * Guarantees: sets write only the paths the loader accepted (actor.*, target.*, action,
 * outcome, severity); redactions run after the last rule, so conditions always saw the
 * original record. */
#include <errno.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rules/rules-internal.h"

/* ---- Setting ---- */

/* The record's value for a FIELD part (its path split at load, prestore8), or NULL. */
static const json *field_get(const struct mctx *m, const struct tpart *p)
{
        return p->split_ok ? json_path_get_split(m->rec, &p->split)
                           : json_path_get(m->rec, p->text);
}

/* Renders a template. Returns 1 with the value in *ret (owned), 0 when a reference without
 * a default names an absent value (the field is then not set), or -ENOMEM. */
static int tmpl_render(struct mctx *m, json *rec, const struct tmpl *t, json **ret)
{
        struct buf *out = m->out;
        bool valid = true;
        int r = 0;

        /* A template that is exactly one field reference copies the value with its type. */
        if (t->n_parts == 1 && t->parts[0].kind == TP_FIELD) {
                const json *v = field_get(m, &t->parts[0]);
                enum json_type ty = v ? json_type_of(v) : JSON_NULL;
                const char *s;
                size_t n;

                if (ty != JSON_NULL && ty != JSON_STR) {
                        *ret = json_clone(v);
                        return *ret ? 1 : -ENOMEM;
                }
                /* Performance (rules10): a string ("{host}") is copied straight, as the text
                 * buffer below would make it (a tree string: valid UTF-8; over the cap: not
                 * set), without looking the field up a second time. */
                if (ty == JSON_STR) {
                        s = json_str(v, &n);
                        if (n > RULES_VALUE_MAX)
                                return 0;
                        *ret = json_new_strn_valid_in(rec, s, n);
                        return *ret ? 1 : -ENOMEM;
                }
        }
        /* Performance (issue 12): a template of one literal or one capture (most of them:
         * "login", "{user}") is made straight from its bytes, without the text buffer. */
        if (t->n_parts == 1 && !t->parts[0].dflt &&
            (t->parts[0].kind == TP_TEXT ||
             (t->parts[0].kind == TP_CAPTURE && m->cap_set[t->parts[0].slot]))) {
                const struct tpart *p = &t->parts[0];
                const char *s = p->kind == TP_TEXT ? p->text : m->caps->data + m->cap_off[p->slot];
                size_t n = p->kind == TP_TEXT ? p->len : m->cap_len[p->slot];
                bool ok = p->kind == TP_TEXT ? p->text_valid : m->cap_valid[p->slot];

                if (n > RULES_VALUE_MAX)
                        return 0;
                *ret = ok && s ? json_new_strn_valid_in(rec, s, n)
                                  : json_new_str_lossy_in(rec, s ? s : "", n, NULL);
                return *ret ? 1 : -ENOMEM;
        }
        buf_reset(out);
        out->max = RULES_VALUE_MAX;
        for (size_t i = 0; r == 0 && i < t->n_parts; i++) {
                const struct tpart *p = &t->parts[i];
                const char *s = NULL;
                char tmp[40];
                size_t n = 0;

                if (p->kind == TP_TEXT) {
                        s = p->text;
                        n = p->len;
                        valid = valid && p->text_valid;
                } else if (p->kind == TP_CAPTURE) {
                        if (m->cap_set[p->slot]) {
                                s = m->caps->data + m->cap_off[p->slot];
                                n = m->cap_len[p->slot];
                                valid = valid && m->cap_valid[p->slot];
                        }
                } else {
                        /* A tree string or number text: valid. */
                        s = rules_value_text(field_get(m, p), tmp, sizeof(tmp), &n);
                }
                if (!s && p->dflt) {
                        s = p->dflt;
                        n = strlen(s);
                        valid = valid && p->dflt_valid;
                }
                if (!s)
                        return 0;
                r = buf_append(out, s, n);
        }
        if (r == 0) {
                /* Pieces that are each valid UTF-8 make valid UTF-8 (issue 12: not checked
                 * again then). In the record's arena. */
                *ret = valid ? json_new_strn_valid_in(rec, out->data ? out->data : "", out->len)
                             : json_new_str_lossy_in(rec, out->data ? out->data : "", out->len,
                                                     NULL);
                r = *ret ? 1 : -ENOMEM;
        } else if (r == -E2BIG) {
                r = 0;
        }
        return r;
}

/* Is set item s a two-key path under the object whose key is k[0..n)? */
static bool set_under(const struct set_item *s, const char *k, size_t n)
{
        return s->split_ok && s->split.n_keys == 2 && s->split.keys[0].n == n &&
               !memcmp(s->split.keys[0].s, k, n);
}

/* Where rules_sets keeps the object the last two-key set wrote into (prestore7). */
struct under {
        json *obj;
        const char *k;
        size_t n;
};

/* Sets si to v (taken). Performance (prestore7): sets of one object follow each other in a
 * rule ("target.method", "target.resource", "target.status", "target.host"), and each
 * looked "target" up among the record's two dozen members again. The object a two-key set
 * wrote into is kept (u) and the next set under the same key starts there: the same object
 * the lookup would find, since only these sets change the record here and any other kind
 * of set drops it. */
static int set_one(json *rec, const struct set_item *si, json *v, struct under *u)
{
        if (u->obj && set_under(si, u->k, u->n))
                return json_path_set_split_from(u->obj, &si->split, 1, v, NULL);
        if (si->split_ok && si->split.n_keys == 2) {
                u->k = si->split.keys[0].s;
                u->n = si->split.keys[0].n;
                return json_path_set_split_from(rec, &si->split, 0, v, &u->obj);
        }
        u->obj = NULL;
        return si->split_ok ? json_path_set_split(rec, &si->split, v)
                            : json_path_set(rec, si->path, v);
}

/* The first alternative of si that renders: 1 and *ret, 0 none does, or -ENOMEM. */
static int set_render(struct mctx *m, json *rec, const struct set_item *si, json **ret)
{
        int r = 0;

        for (size_t a = 0; r == 0 && a < si->n_t; a++)
                r = tmpl_render(m, rec, &si->t[a], ret);
        return r;
}

/* A group of sets (rules-index.c, groups_build): the values rendered, then the object made
 * in one go when the record's member is not an object yet (a syslog record's null actor
 * and target); otherwise set one by one as before. */
static int group_set(struct mctx *m, json *rec, const struct rule *rl, const struct set_group *g,
                     struct under *u)
{
        const struct set_item *si = &rl->sets[g->first];
        json *vals[RULES_GROUP_MAX];
        int r = 0;

        for (size_t j = 0; j < g->n; j++) {
                vals[j] = NULL;
                r = r < 0 ? r : set_render(m, rec, &rl->sets[g->first + j], &vals[j]);
        }
        if (r < 0) {
                for (size_t j = 0; j < g->n; j++)
                        json_free(vals[j]);
                return r;
        }
        r = json_obj_put_sorted(rec, si->split.keys[0].s, si->split.keys[0].n,
                                si->split.keys[0].hint, g->names, vals, g->n);
        if (r != 0) {
                u->obj = NULL; /* the record changed under another path than u's */
                return r < 0 ? r : 0;
        }
        for (size_t j = 0; j < g->n; j++) {
                if (r < 0)
                        json_free(vals[j]); /* not set after an error */
                else if (vals[j])
                        r = set_one(rec, &rl->sets[g->first + j], vals[j], u);
        }
        return r;
}

int rules_sets(struct mctx *m, json *rec, const struct rule *rl)
{
        struct under u = { NULL, NULL, 0 };

        for (size_t i = 0; i < rl->n_sets; i++) {
                const struct set_item *si = &rl->sets[i];
                json *v = NULL;
                int r;

                if (si->group >= 0) {
                        const struct set_group *g = &rl->groups[si->group];

                        r = group_set(m, rec, rl, g, &u);
                        if (r < 0)
                                return r;
                        i += g->n - 1;
                        continue;
                }
                r = set_render(m, rec, si, &v);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                r = set_one(rec, si, v, &u);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- Redaction ---- */

static int redact_one(const struct rules_pack *p, json *rec, const struct redact_item *ri,
                      json *redacted)
{
        static const char *const how_names[] = { "mask", "hash", "remove" };
        json *v = json_path_get(rec, ri->path), *nv;
        char tmp[40];
        size_t n;
        const char *s;

        if (!v || json_type_of(v) == JSON_NULL)
                return 0;
        switch (ri->how) {
        case REDACT_MASK:
                nv = json_new_str("***");
                break;
        case REDACT_REMOVE:
                nv = json_new_null();
                break;
        default: {
                unsigned char mac[EVP_MAX_MD_SIZE];
                unsigned mlen = 0;
                char out[12 + 2 * HASH_LEN + 1];
                struct buf canon = BUF_INIT;

                s = rules_value_text(v, tmp, sizeof(tmp), &n);
                if (!s) {
                        /* Objects and arrays hash as their canonical JSON. */
                        if (json_canon(v, &canon) < 0)
                                return -ENOMEM;
                        s = canon.data;
                        n = canon.len;
                }
                if (!HMAC(EVP_sha256(), p->hmac_key, (int)p->hmac_key_len,
                          (const unsigned char *)s, n, mac, &mlen) || mlen != HASH_LEN) {
                        buf_free(&canon);
                        return -EIO;
                }
                buf_free(&canon);
                memcpy(out, "hmac-sha256:", 12);
                hash_hex(mac, HASH_LEN, out + 12);
                nv = json_new_str(out);
        }
        }
        if (!nv || json_path_set(rec, ri->path, nv) < 0)
                return -ENOMEM;
        return json_obj_set_str(redacted, ri->path, how_names[ri->how]);
}

static int flags_add(json *rec, const char *flag)
{
        json *flags = json_obj_get(rec, "flags"), *sorted;
        bool added = false;

        if (!flags || json_type_of(flags) != JSON_ARR) {
                flags = json_new_arr();
                if (!flags || json_obj_set(rec, "flags", flags) < 0)
                        return -ENOMEM;
        }
        sorted = json_new_arr();
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < json_len(flags); i++) {
                const char *f = json_str(json_arr_at(flags, i), NULL);

                if (f && !strcmp(f, flag)) {
                        json_free(sorted);
                        return 0;
                }
                if (f && !added && strcmp(flag, f) < 0) {
                        if (json_arr_append(sorted, json_new_str(flag)) < 0)
                                goto oom;
                        added = true;
                }
                if (json_arr_append(sorted, json_clone(json_arr_at(flags, i))) < 0)
                        goto oom;
        }
        if (!added && json_arr_append(sorted, json_new_str(flag)) < 0)
                goto oom;
        return json_obj_set(rec, "flags", sorted);
oom:
        json_free(sorted);
        return -ENOMEM;
}

int rules_redact(const struct rules_pack *p, json *rec, const size_t *matched,
                 size_t n_matched)
{
        json *redacted = NULL;
        int r = 0;

        for (size_t i = 0; r == 0 && i < n_matched; i++) {
                const struct rule *rl = &p->rules[matched[i]];

                for (size_t k = 0; r == 0 && k < rl->n_redacts; k++) {
                        if (!redacted && !(redacted = json_new_obj()))
                                return -ENOMEM;
                        r = redact_one(p, rec, &rl->redacts[k], redacted);
                }
        }
        if (r == 0 && redacted && json_len(redacted)) {
                r = flags_add(rec, "redacted");
                if (r == 0) {
                        r = json_obj_set(rec, "redacted", redacted);
                        redacted = NULL;
                }
        }
        json_free(redacted);
        return r;
}
