/* Record filters and group counts for `gatelog query` and `gatelog report` (issue 10).
 * See cli/query-match.h for what matches. Groups are a sorted array with binary search:
 * O(log n) lookups, an insertion moves at most the keys after it; bounded by
 * QUERY_GROUPS_MAX. */
#include "cli/query-match.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/tm.h"

static const char *const field_names[QF_N] = {
        "actor", "action", "target", "outcome", "rule", "app",
};

int query_match_add(struct query_match *m, const char *field, const char *value)
{
        for (size_t f = 0; f < QF_N; f++) {
                if (strcmp(field, field_names[f]) != 0)
                        continue;
                if (m->n[f] == QUERY_VALUES_MAX)
                        return -E2BIG;
                m->vals[f][m->n[f]++] = value;
                return 0;
        }
        return -EINVAL;
}

bool query_match_any(const struct query_match *m)
{
        for (size_t f = 0; f < QF_N; f++)
                if (m->n[f])
                        return true;
        return false;
}

/* Does the string s (n bytes) match pattern p (exact, or prefix when it ends in '*')? */
static bool str_match(const char *s, size_t n, const char *p, size_t plen)
{
        if (plen > 0 && p[plen - 1] == '*')
                return n >= plen - 1 && memcmp(s, p, plen - 1) == 0;
        return n == plen && memcmp(s, p, n) == 0;
}

static bool json_str_match(const json *j, const char *p, size_t plen)
{
        size_t n = 0;
        const char *s = j && json_type_of(j) == JSON_STR ? json_str(j, &n) : NULL;

        return s && str_match(s, n, p, plen);
}

/* actor/target: a string, any string member of an object, or KEY=V. */
static bool party_match(const json *j, const char *p)
{
        const char *eq = strchr(p, '=');

        if (!j)
                return false;
        if (eq) {
                char key[128];
                size_t kl = (size_t)(eq - p);

                if (kl == 0 || kl >= sizeof(key) || json_type_of(j) != JSON_OBJ)
                        return false;
                memcpy(key, p, kl);
                key[kl] = '\0';
                return json_str_match(json_obj_get(j, key), eq + 1, strlen(eq + 1));
        }
        if (json_type_of(j) == JSON_STR)
                return json_str_match(j, p, strlen(p));
        if (json_type_of(j) != JSON_OBJ)
                return false;
        for (size_t i = 0; i < json_len(j); i++) {
                const char *k;
                size_t kl;

                if (json_str_match(json_obj_at(j, i, &k, &kl), p, strlen(p)))
                        return true;
        }
        return false;
}

bool query_match_record(const struct query_match *m, const json *rec)
{
        for (size_t f = 0; f < QF_N; f++) {
                const json *j = rec ? json_obj_get(rec, field_names[f]) : NULL;
                bool any = m->n[f] == 0;

                for (size_t i = 0; !any && i < m->n[f]; i++) {
                        const char *p = m->vals[f][i];

                        any = (f == QF_ACTOR || f == QF_TARGET) ? party_match(j, p)
                                                                : json_str_match(j, p, strlen(p));
                }
                if (!any)
                        return false;
        }
        return true;
}

/* ---- groups ---- */

static const char *const group_names[] = {
        "day", "actor", "outcome", "rule", "app", "host", "action",
};

bool query_group_valid(const char *by)
{
        for (size_t i = 0; i < sizeof(group_names) / sizeof(*group_names); i++)
                if (strcmp(by, group_names[i]) == 0)
                        return true;
        return false;
}

static int put_str(const json *j, struct buf *out)
{
        size_t n = 0;
        const char *s = j && json_type_of(j) == JSON_STR ? json_str(j, &n) : NULL;

        if (!s || n == 0)
                return buf_append(out, "-", 1);
        return buf_append(out, s, n);
}

int query_group_key(const char *by, const json *rec, int64_t time_us, struct buf *out)
{
        if (strcmp(by, "day") == 0) {
                char t[TM_RFC3339_LEN];

                tm_format_rfc3339(time_us, t);
                return buf_append(out, t, 10);  /* YYYY-MM-DD */
        }
        if (strcmp(by, "actor") == 0) {
                const json *a = rec ? json_obj_get(rec, "actor") : NULL;

                if (a && json_type_of(a) == JSON_OBJ) {
                        const json *u = json_obj_get(a, "user");

                        if (!u || json_type_of(u) != JSON_STR)
                                u = json_obj_get(a, "ip");
                        return put_str(u, out);
                }
                return put_str(a, out);
        }
        return put_str(rec ? json_obj_get(rec, by) : NULL, out);
}

int query_groups_add(struct query_groups *g, const char *key, size_t len, uint64_t n)
{
        size_t lo = 0, hi = g->n;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                size_t ml = g->v[mid].key_len;
                int c = memcmp(g->v[mid].key, key, ml < len ? ml : len);

                if (c == 0)
                        c = ml < len ? -1 : ml > len ? 1 : 0;
                if (c == 0) {
                        g->v[mid].count += n;
                        return 0;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (g->n == QUERY_GROUPS_MAX)
                return -E2BIG;
        if (g->n == g->alloc) {
                size_t na = g->alloc ? 2 * g->alloc : 64;
                struct query_group *nv = realloc(g->v, na * sizeof(*nv));

                if (!nv)
                        return -ENOMEM;
                g->v = nv;
                g->alloc = na;
        }
        char *k = malloc(len + 1);
        if (!k)
                return -ENOMEM;
        memcpy(k, key, len);
        k[len] = '\0';
        memmove(&g->v[lo + 1], &g->v[lo], (g->n - lo) * sizeof(*g->v));
        g->v[lo] = (struct query_group){ k, len, n };
        g->n++;
        return 0;
}

static int by_count_cmp(const void *a, const void *b)
{
        const struct query_group *x = a, *y = b;

        if (x->count != y->count)
                return x->count > y->count ? -1 : 1;
        size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
        int c = memcmp(x->key, y->key, n);
        return c ? c : x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

void query_groups_sort(struct query_groups *g, bool by_count)
{
        if (by_count && g->n > 1)
                qsort(g->v, g->n, sizeof(*g->v), by_count_cmp);
}

void query_groups_free(struct query_groups *g)
{
        for (size_t i = 0; i < g->n; i++)
                free(g->v[i].key);
        free(g->v);
        memset(g, 0, sizeof(*g));
}

/* ---- --dedupe: Kafka messages seen (issue 6) ---- */

struct query_seen_key {
        uint32_t topic;         /* index in topics + 1; 0: empty slot */
        int32_t partition;
        int64_t offset;
};

static uint64_t seen_hash(uint32_t topic, int32_t partition, int64_t offset)
{
        uint64_t h = ((uint64_t)topic << 32 | (uint32_t)partition) * 0x9e3779b97f4a7c15u;

        return (h ^ (uint64_t)offset) * 0xff51afd7ed558ccdu;
}

static struct query_seen_key *seen_slot(struct query_seen_key *v, size_t cap, uint32_t topic,
                                        int32_t partition, int64_t offset)
{
        size_t i = seen_hash(topic, partition, offset) >> 7 & (cap - 1);

        while (v[i].topic && !(v[i].topic == topic && v[i].partition == partition &&
                               v[i].offset == offset))
                i = (i + 1) & (cap - 1);
        return &v[i];
}

/* Topic index + 1 (added when new), or -ENOMEM. Topics are few: a linear search. */
static int64_t seen_topic(struct query_seen *s, const char *t, size_t len)
{
        for (size_t i = 0; i < s->n_topics; i++)
                if (strlen(s->topics[i]) == len && !memcmp(s->topics[i], t, len))
                        return (int64_t)i + 1;
        if (s->n_topics == s->cap_topics) {
                size_t cap = s->cap_topics ? 2 * s->cap_topics : 4;
                char **v = realloc(s->topics, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                s->topics = v;
                s->cap_topics = cap;
        }
        if (!(s->topics[s->n_topics] = strndup(t, len)))
                return -ENOMEM;
        return (int64_t)++s->n_topics;
}

int query_seen_take(struct query_seen *s, const json *rec)
{
        const json *src = json_obj_get(rec, "source");
        size_t kl = 0, tl = 0;
        const char *kind = json_str(json_obj_get(src, "kind"), &kl);
        const char *topic = json_str(json_obj_get(src, "topic"), &tl);
        const json *part = json_obj_get(src, "partition"), *off = json_obj_get(src, "offset");
        struct query_seen_key *k;
        int64_t t;

        if (!kind || kl != 5 || memcmp(kind, "kafka", 5) || !topic ||
            json_type_of(part) != JSON_INT || json_type_of(off) != JSON_INT ||
            json_int(part) < 0 || json_int(part) > INT32_MAX)
                return 1;
        if ((t = seen_topic(s, topic, tl)) < 0)
                return (int)t;
        if (2 * (s->n + 1) > s->cap) {
                size_t cap = s->cap ? 2 * s->cap : 1024;
                struct query_seen_key *v = calloc(cap, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i < s->cap; i++)
                        if (s->v[i].topic)
                                *seen_slot(v, cap, s->v[i].topic, s->v[i].partition,
                                           s->v[i].offset) = s->v[i];
                free(s->v);
                s->v = v;
                s->cap = cap;
        }
        k = seen_slot(s->v, s->cap, (uint32_t)t, (int32_t)json_int(part), json_int(off));
        if (k->topic)
                return 0;
        *k = (struct query_seen_key){ (uint32_t)t, (int32_t)json_int(part), json_int(off) };
        s->n++;
        return 1;
}

void query_seen_free(struct query_seen *s)
{
        for (size_t i = 0; i < s->n_topics; i++)
                free(s->topics[i]);
        free(s->topics);
        free(s->v);
        memset(s, 0, sizeof(*s));
}
