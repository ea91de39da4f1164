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
