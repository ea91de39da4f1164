/* The open epoch's counters, which become the manifest's `stats` when it is sealed.
 *
 * They are kept as one JSON object (so that the epoch row can persist them with every batch
 * and a restart can load them back) plus the fixed drop reasons. Per-batch changes can be
 * undone: the writer snapshots before a batch and restores when the transaction fails, so
 * the counters always describe exactly what is committed. Load: per event a few counts in
 * small tables without JSON (a pointer or string compare each); once per batch those are
 * folded into the JSON maps, which are small (flags, rule ids, apps, sources). */
#include "cli/writer-stats.h"
#include "cli/writer-map.h"

#include <errno.h>
#include <string.h>

/* Adds n to the integer member key of obj (created at 0). */
static int obj_add(json *obj, const char *key, int64_t n) {
        return json_obj_set_int(obj, key, json_int(json_obj_get(obj, key)) + n);
}

static json *acc_new(void) {
        json *a = json_new_obj();
        if (!a)
                return NULL;
        int r = json_obj_set_int(a, "kept", 0);
        static const char *const maps[] = { "flags", "dropped_by_rule", "unmapped", "sources" };
        for (size_t i = 0; r >= 0 && i < sizeof(maps) / sizeof(maps[0]); i++)
                r = json_obj_set(a, maps[i], json_new_obj());
        if (r >= 0)
                r = json_obj_set(a, "rules_packs", json_new_arr());
        if (r < 0) {
                json_free(a);
                return NULL;
        }
        return a;
}

int epoch_stats_init(struct epoch_stats *s) {
        memset(s, 0, sizeof(*s));
        s->acc = acc_new();
        return s->acc ? 0 : -ENOMEM;
}

void epoch_stats_clear(struct epoch_stats *s) {
        /* pend borrows; nothing of it to free */
        json_free(s->acc);
        memset(s, 0, sizeof(*s));
}

int epoch_stats_load(struct epoch_stats *s, const char *text) {
        json *st = NULL;
        if (!text || json_parse(text, strlen(text), &st, NULL) < 0)
                return -EBADMSG;
        int r = 0;
        json_obj_set_int(s->acc, "kept", json_int(json_obj_get(st, "kept")));
        static const char *const members[] = { "flags", "dropped_by_rule", "unmapped",
                                               "sources", "rules_packs" };
        for (size_t i = 0; r >= 0 && i < sizeof(members) / sizeof(members[0]); i++) {
                const json *m = json_obj_get(st, members[i]);
                if (m)
                        r = json_obj_set(s->acc, members[i], json_clone(m));
        }
        const json *d = json_obj_get(st, "dropped");
        for (int k = 0; k < DROP__MAX; k++)
                s->dropped[k] = (uint64_t)json_int(json_obj_get(d, drop_reason_name(k)));
        json_free(st);
        return r;
}

int epoch_stats_snapshot(const struct epoch_stats *s, struct epoch_stats *ret) {
        *ret = *s;
        memset(&ret->pend, 0, sizeof(ret->pend));
        ret->acc = json_clone(s->acc);
        return ret->acc ? 0 : -ENOMEM;
}

void epoch_stats_restore(struct epoch_stats *s, struct epoch_stats *snap) {
        json_free(s->acc);
        *s = *snap;
        memset(snap, 0, sizeof(*snap));
}

/* ---- the folds into acc (once per batch, or when a table is full) ---- */

static int fold_tally(json *obj, struct stats_tally *t) {
        int r = 0;
        for (size_t i = 0; r >= 0 && i < t->len; i++)
                r = obj_add(obj, t->key[i], t->n[i]);
        t->len = 0;
        return r;
}

static int fold_source(json *sources, const struct stats_source_tally *t) {
        json *src = json_obj_get(sources, t->source);
        if (!src) {
                src = json_new_obj();
                int r = src ? json_obj_set_str(src, "first", t->first) : -ENOMEM;
                if (r < 0 || (r = json_obj_set(sources, t->source, src)) < 0)
                        return r;
        }
        int r = json_obj_set_str(src, "last", t->last);
        return r < 0 ? r : obj_add(src, "count", t->n);
}

static int fold_sources(json *sources, struct stats_pending *p) {
        int r = 0;
        for (size_t i = 0; r >= 0 && i < p->n_sources; i++)
                r = fold_source(sources, &p->sources[i]);
        p->n_sources = 0;
        return r;
}

static int fold_packs(json *packs, struct stats_pending *p) {
        int r = 0;
        for (size_t k = 0; r >= 0 && k < p->n_packs; k++) {
                size_t i = 0;
                for (; i < json_len(packs); i++) {
                        const char *h = json_str(json_arr_at(packs, i), NULL);
                        if (h && strcmp(h, p->packs[k]) == 0)
                                break;
                }
                if (i == json_len(packs))
                        r = json_arr_append(packs, json_new_str(p->packs[k]));
        }
        p->n_packs = 0;
        return r;
}

int epoch_stats_flush(struct epoch_stats *s) {
        struct stats_pending *p = &s->pend;
        json *a = s->acc;
        int r = 0;
        if (p->kept) {
                r = obj_add(a, "kept", p->kept);
                p->kept = 0;
        }
        if (r >= 0)
                r = fold_tally(json_obj_get(a, "flags"), &p->flags);
        if (r >= 0)
                r = fold_tally(json_obj_get(a, "unmapped"), &p->unmapped);
        if (r >= 0)
                r = fold_tally(json_obj_get(a, "dropped_by_rule"), &p->dropped_by_rule);
        if (r >= 0)
                r = fold_packs(json_obj_get(a, "rules_packs"), p);
        if (r >= 0)
                r = fold_sources(json_obj_get(a, "sources"), p);
        return r;
}

/* ---- the per-event counts ---- */

/* Counts key once in t; a full table is folded into acc's member first. */
static int tally(json *acc, const char *member, struct stats_tally *t, const char *key) {
        for (size_t i = 0; i < t->len; i++)
                if (t->key[i] == key || strcmp(t->key[i], key) == 0) {
                        t->n[i]++;
                        return 0;
                }
        if (t->len == STATS_TALLY_MAX) {
                int r = fold_tally(json_obj_get(acc, member), t);
                if (r < 0)
                        return r;
        }
        t->key[t->len] = key;
        t->n[t->len++] = 1;
        return 0;
}

static int count_source(json *acc, struct stats_pending *p, const struct event *e) {
        struct stats_source_tally *t = p->sources;
        size_t i = 0;
        while (i < p->n_sources && strcmp(t[i].source, e->pos_source) != 0)
                i++;
        if (i == STATS_TALLY_MAX) {
                int r = fold_sources(json_obj_get(acc, "sources"), p);
                if (r < 0)
                        return r;
                i = 0;
        }
        if (i == p->n_sources) {
                t[i] = (struct stats_source_tally){ .source = e->pos_source, .first = e->pos };
                p->n_sources++;
        }
        t[i].last = e->pos;
        t[i].n++;
        return 0;
}

/* The pack hashes are 64 hex digits: the last one seen is almost always the same pack.
 * hash and the pending ones are events' rules_pack arrays, compared whole (no strcmp call
 * per event, issue 12); arrays that differ after their NUL only count a pack twice here,
 * and fold_packs keeps one. */
#define PACK_LEN sizeof(((struct event *)0)->rules_pack)
static int count_pack(json *acc, struct stats_pending *p, const char hash[PACK_LEN]) {
        for (size_t i = p->n_packs; i-- > 0;)
                if (memcmp(p->packs[i], hash, PACK_LEN) == 0)
                        return 0;
        if (p->n_packs == STATS_TALLY_MAX) {
                int r = fold_packs(json_obj_get(acc, "rules_packs"), p);
                if (r < 0)
                        return r;
        }
        p->packs[p->n_packs++] = hash;
        return 0;
}

int epoch_stats_event(struct epoch_stats *s, const struct event *e) {
        struct stats_pending *p = &s->pend;
        json *a = s->acc;
        int r = 0;
        if (e->mapped) {  /* issue 12: the mapper's bytes; the tree is gone */
                const struct wmap_rec *m = e->mapped;
                p->kept++;
                const char *f = m->flags;
                for (size_t i = 0; r >= 0 && i < m->n_flags; i++, f = wmap_next(f))
                        r = tally(a, "flags", &p->flags, f);
                if (r >= 0 && m->unmapped_app)
                        r = tally(a, "unmapped", &p->unmapped, m->unmapped_app);
        } else if (e->rec) {
                p->kept++;
                const json *f = json_obj_get(e->rec, "flags");
                for (size_t i = 0; r >= 0 && i < json_len(f); i++) {
                        const char *name = json_str(json_arr_at(f, i), NULL);
                        if (name)
                                r = tally(a, "flags", &p->flags, name);
                }
                const char *rule = json_str(json_obj_get(e->rec, "rule"), NULL);
                if (r >= 0 && rule && strcmp(rule, "unmapped") == 0) {
                        const char *app = json_str(json_obj_get(e->rec, "app"), NULL);
                        r = tally(a, "unmapped", &p->unmapped, app ? app : "-");
                }
        } else if (e->drop_rule) {
                r = tally(a, "dropped_by_rule", &p->dropped_by_rule, e->drop_rule);
        }
        if (r >= 0 && e->rules_pack[0])
                r = count_pack(a, p, e->rules_pack);
        if (r >= 0 && e->pos_source && e->pos)
                r = count_source(a, p, e);
        return r;
}

void epoch_stats_drops(struct epoch_stats *s, const uint64_t took[DROP__MAX]) {
        for (int k = 0; k < DROP__MAX; k++)
                s->dropped[k] += took[k];
}

static int64_t sum_members(const json *obj) {
        int64_t n = 0;
        for (size_t i = 0; i < json_len(obj); i++)
                n += json_int(json_obj_at(obj, i, NULL, NULL));
        return n;
}

json *epoch_stats_json(const struct epoch_stats *s) {
        json *out = json_clone(s->acc), *d = json_new_obj();
        if (!out || !d) {
                json_free(out);
                json_free(d);
                return NULL;
        }
        int64_t lost = 0;
        int r = 0;
        for (int k = 0; r >= 0 && k < DROP__MAX; k++) {
                r = json_obj_set_int(d, drop_reason_name(k), (int64_t)s->dropped[k]);
                if (!drop_reason_is_connection(k)) /* connections, not events */
                        lost += (int64_t)s->dropped[k];
        }
        if (r >= 0)
                r = json_obj_set(out, "dropped", d);
        else
                json_free(d);
        const json *flags = json_obj_get(s->acc, "flags");
        lost += sum_members(json_obj_get(s->acc, "dropped_by_rule"));
        /* The flags that matter most get top-level counts of their own. */
        static const char *const named[] = { "malformed", "truncated", "invalid_utf8" };
        for (size_t i = 0; r >= 0 && i < sizeof(named) / sizeof(named[0]); i++)
                r = json_obj_set_int(out, named[i], json_int(json_obj_get(flags, named[i])));
        if (r >= 0)
                r = json_obj_set_int(out, "received",
                                     json_int(json_obj_get(s->acc, "kept")) + lost);
        if (r < 0) {
                json_free(out);
                return NULL;
        }
        return out;
}
