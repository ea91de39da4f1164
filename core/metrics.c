/* The metrics registry (core/metrics.h) and the daemon's named metrics.
 *
 * Load: every received event does one lookup and one atomic add; every committed batch a
 * few per record. A lookup formats the label set into a stack buffer, hashes it with the
 * name (FNV-1a) and probes an open-addressing table of atomic pointers without locking;
 * slots are only ever filled (never emptied until metrics_reset), and a filled slot's
 * series is immutable apart from its atomic values, so a reader that sees the pointer sees
 * a complete series. Creation re-probes under the mutex so that two threads cannot create
 * the same series twice. Rendering holds the mutex so that family lists do not change
 * under it; updates never take it. */
#include "core/metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

/* Twice the series cap, a power of two: probes stay short at the cap. */
#define METRICS_SLOTS 8192

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

static const char *const type_names[] = { "counter", "gauge", "histogram" };

struct family {
        char *name, *help;
        enum metric_type type;
        int64_t bounds[METRICS_BUCKETS_MAX];
        size_t n_bounds;
        struct metric *first, *last;
};

struct metric {
        struct family *fam;
        char *labels;                  /* rendered, escaped; "" for none */
        uint64_t hash;
        struct metric *next;           /* in the family, creation order */
        _Atomic int64_t value;         /* counter (as unsigned), gauge; histogram sum (us) */
        _Atomic uint64_t count;        /* histogram */
        _Atomic uint64_t buckets[METRICS_BUCKETS_MAX]; /* histogram, not cumulative */
};

static struct {
        pthread_mutex_t lock;
        struct family *fams[METRICS_FAMILIES_MAX];
        size_t n_fams, n_series;
        _Atomic(struct metric *) slots[METRICS_SLOTS];
        _Atomic uint64_t refused;
        char pack_current[65];         /* rules_pack_seen's; only the commit thread */
} reg = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- names and labels ---- */

static bool name_ok(const char *s, bool metric)
{
        if (!s || !*s)
                return false;
        for (size_t i = 0; s[i]; i++) {
                char c = s[i];
                bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                             (metric && c == ':');
                if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
                        return false;
        }
        return true;
}

/* Appends s escaped for a label value (backslash, double quote, newline). */
static int put_escaped(char *out, size_t cap, size_t *len, const char *s, bool help)
{
        for (; *s; s++) {
                const char *rep = NULL;
                char one[2] = { *s, 0 };
                if (*s == '\\')
                        rep = "\\\\";
                else if (*s == '\n')
                        rep = "\\n";
                else if (*s == '"' && !help)
                        rep = "\\\"";
                else
                        rep = one;
                size_t n = strlen(rep);
                if (*len + n >= cap)
                        return -E2BIG;
                memcpy(out + *len, rep, n);
                *len += n;
        }
        out[*len] = '\0';
        return 0;
}

/* Renders the NULL-terminated label pairs into out: k1="v1",k2="v2". */
static int labels_format(va_list ap, char *out, size_t cap)
{
        size_t len = 0;
        const char *k;
        out[0] = '\0';
        while ((k = va_arg(ap, const char *))) {
                const char *v = va_arg(ap, const char *);
                if (!name_ok(k, false) || !strcmp(k, "le") || !v)
                        return -EINVAL;
                int n = snprintf(out + len, cap - len, "%s%s=\"", len ? "," : "", k);
                if (n < 0 || (size_t)n >= cap - len)
                        return -E2BIG;
                len += (size_t)n;
                if (put_escaped(out, cap, &len, v, false) < 0 || len + 2 >= cap)
                        return -E2BIG;
                out[len++] = '"';
                out[len] = '\0';
        }
        return 0;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= UINT64_C(1099511628211);
        }
        return h;
}

static uint64_t series_hash(const char *name, const char *labels)
{
        return fnv1a(fnv1a(UINT64_C(14695981039346656037), name) ^ 0xff, labels);
}

/* ---- lookup and creation ---- */

static bool series_is(const struct metric *m, uint64_t h, const char *name, const char *labels)
{
        return m->hash == h && !strcmp(m->fam->name, name) && !strcmp(m->labels, labels);
}

/* The slot holding the series, or the empty slot where it would go; NULL when full. */
static _Atomic(struct metric *) *probe(uint64_t h, const char *name, const char *labels,
                                       struct metric **ret)
{
        for (size_t i = 0; i < METRICS_SLOTS; i++) {
                _Atomic(struct metric *) *slot = &reg.slots[(h + i) & (METRICS_SLOTS - 1)];
                struct metric *m = atomic_load_explicit(slot, memory_order_acquire);
                if (!m || series_is(m, h, name, labels)) {
                        *ret = m;
                        return slot;
                }
        }
        *ret = NULL;
        return NULL;
}

static struct family *family_get(const char *name, const char *help, enum metric_type type,
                                 const int64_t *bounds, size_t n_bounds)
{
        for (size_t i = 0; i < reg.n_fams; i++)
                if (!strcmp(reg.fams[i]->name, name))
                        return reg.fams[i]->type == type ? reg.fams[i] : NULL;
        if (reg.n_fams == METRICS_FAMILIES_MAX)
                return NULL;
        struct family *f = calloc(1, sizeof(*f));
        if (!f || !(f->name = strdup(name)) || !(f->help = strdup(help ? help : ""))) {
                if (f)
                        free(f->name);
                free(f);
                return NULL;
        }
        f->type = type;
        f->n_bounds = n_bounds;
        if (n_bounds)
                memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
        reg.fams[reg.n_fams++] = f;
        return f;
}

static struct metric *refuse(void)
{
        atomic_fetch_add_explicit(&reg.refused, 1, memory_order_relaxed);
        return NULL;
}

static struct metric *lookup(enum metric_type type, const char *name, const char *help,
                             const int64_t *bounds, size_t n_bounds, va_list ap)
{
        char labels[METRICS_LABELS_MAX];
        struct metric *m;

        if (!name_ok(name, true) || labels_format(ap, labels, sizeof(labels)) < 0)
                return refuse();
        uint64_t h = series_hash(name, labels);
        if (probe(h, name, labels, &m) && m)
                return m->fam->type == type ? m : refuse();

        pthread_mutex_lock(&reg.lock);
        _Atomic(struct metric *) *slot = probe(h, name, labels, &m);
        if (!m && slot && reg.n_series < METRICS_SERIES_MAX) {
                struct family *f = family_get(name, help, type, bounds, n_bounds);
                m = f ? calloc(1, sizeof(*m)) : NULL;
                if (m && !(m->labels = strdup(labels))) {
                        free(m);
                        m = NULL;
                }
                if (m) {
                        m->fam = f;
                        m->hash = h;
                        if (f->last)
                                f->last->next = m;
                        else
                                f->first = m;
                        f->last = m;
                        reg.n_series++;
                        atomic_store_explicit(slot, m, memory_order_release);
                }
        }
        pthread_mutex_unlock(&reg.lock);
        if (!m || m->fam->type != type)
                return refuse();
        return m;
}

struct metric *metrics_counter(const char *name, const char *help, ...)
{
        va_list ap;
        va_start(ap, help);
        struct metric *m = lookup(METRIC_COUNTER, name, help, NULL, 0, ap);
        va_end(ap);
        return m;
}

struct metric *metrics_gauge(const char *name, const char *help, ...)
{
        va_list ap;
        va_start(ap, help);
        struct metric *m = lookup(METRIC_GAUGE, name, help, NULL, 0, ap);
        va_end(ap);
        return m;
}

struct metric *metrics_histogram_us(const char *name, const char *help,
                                    const int64_t *bounds_us, size_t n_bounds, ...)
{
        va_list ap;
        if (n_bounds > METRICS_BUCKETS_MAX)
                return refuse();
        for (size_t i = 1; i < n_bounds; i++)
                if (bounds_us[i] <= bounds_us[i - 1])
                        return refuse();
        va_start(ap, n_bounds);
        struct metric *m = lookup(METRIC_HISTOGRAM, name, help, bounds_us, n_bounds, ap);
        va_end(ap);
        return m;
}

/* ---- updates ---- */

void metric_add(struct metric *m, uint64_t k)
{
        if (m && m->fam->type == METRIC_COUNTER)
                atomic_fetch_add_explicit(&m->value, (int64_t)k, memory_order_relaxed);
}

void metric_set(struct metric *m, int64_t v)
{
        if (m && m->fam->type == METRIC_GAUGE)
                atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

void metric_gauge_add(struct metric *m, int64_t delta)
{
        if (m && m->fam->type == METRIC_GAUGE)
                atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
}

void metric_observe_us(struct metric *m, int64_t us)
{
        if (!m || m->fam->type != METRIC_HISTOGRAM)
                return;
        if (us < 0)
                us = 0;
        size_t b = 0;
        while (b < m->fam->n_bounds && us > m->fam->bounds[b])
                b++;
        if (b < m->fam->n_bounds)
                atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->value, us, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

int64_t metric_value(const struct metric *m)
{
        if (!m)
                return 0;
        if (m->fam->type == METRIC_HISTOGRAM)
                return (int64_t)atomic_load(&((struct metric *)m)->count);
        return atomic_load(&((struct metric *)m)->value);
}

/* ---- rendering ---- */

/* Microseconds as decimal seconds without trailing zeros: 1500 -> "0.0015". */
static void fmt_seconds(int64_t us, char out[32])
{
        int n = snprintf(out, 32, "%lld.%06lld", (long long)(us / 1000000),
                         (long long)(us % 1000000));
        while (n > 0 && out[n - 1] == '0')
                out[--n] = '\0';
        if (n > 0 && out[n - 1] == '.')
                out[--n] = '\0';
}

static int render_histogram(struct buf *out, const struct family *f, const struct metric *m)
{
        const char *sep = m->labels[0] ? "," : "";
        uint64_t cum = 0, count = atomic_load(&((struct metric *)m)->count);
        char s[32];
        int r = 0;
        for (size_t b = 0; r >= 0 && b < f->n_bounds; b++) {
                cum += atomic_load(&((struct metric *)m)->buckets[b]);
                fmt_seconds(f->bounds[b], s);
                r = buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, m->labels, sep,
                               s, (unsigned long long)cum);
        }
        /* A concurrent observation may have counted its bucket and not yet the total, or
         * the reverse; +Inf is the total, and never below the finite buckets. */
        if (count < cum)
                count = cum;
        fmt_seconds(atomic_load(&((struct metric *)m)->value), s);
        if (r >= 0)
                r = buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, m->labels,
                               sep, (unsigned long long)count);
        const char *lo = m->labels[0] ? "{" : "", *lc = m->labels[0] ? "}" : "";
        if (r >= 0)
                r = buf_printf(out, "%s_sum%s%s%s %s\n", f->name, lo, m->labels, lc, s);
        if (r >= 0)
                r = buf_printf(out, "%s_count%s%s%s %llu\n", f->name, lo, m->labels, lc,
                               (unsigned long long)count);
        return r;
}

static int fam_cmp(const void *a, const void *b)
{
        return strcmp((*(struct family *const *)a)->name, (*(struct family *const *)b)->name);
}

int metrics_render(struct buf *out)
{
        struct family *sorted[METRICS_FAMILIES_MAX];
        int r = 0;

        /* The registry's own health, so that a refused series is visible. */
        metric_set(metrics_gauge("gatelog_metrics_refused", "Series refused by the metrics "
                                 "registry (bad name, type clash, or the series cap)", NULL),
                   (int64_t)atomic_load(&reg.refused));
        pthread_mutex_lock(&reg.lock);
        memcpy(sorted, reg.fams, reg.n_fams * sizeof(*sorted));
        qsort(sorted, reg.n_fams, sizeof(*sorted), fam_cmp);
        for (size_t i = 0; r >= 0 && i < reg.n_fams; i++) {
                const struct family *f = sorted[i];
                char help[1024];
                size_t hl = 0;
                (void)put_escaped(help, sizeof(help), &hl, f->help, true);
                r = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, help, f->name,
                               type_names[f->type]);
                for (const struct metric *m = f->first; r >= 0 && m; m = m->next) {
                        if (f->type == METRIC_HISTOGRAM) {
                                r = render_histogram(out, f, m);
                                continue;
                        }
                        int64_t v = atomic_load(&((struct metric *)m)->value);
                        const char *lo = m->labels[0] ? "{" : "", *lc = m->labels[0] ? "}" : "";
                        if (f->type == METRIC_COUNTER)
                                r = buf_printf(out, "%s%s%s%s %llu\n", f->name, lo, m->labels, lc,
                                               (unsigned long long)v);
                        else
                                r = buf_printf(out, "%s%s%s%s %lld\n", f->name, lo, m->labels, lc,
                                               (long long)v);
                }
        }
        pthread_mutex_unlock(&reg.lock);
        return r;
}

void metrics_reset(void)
{
        pthread_mutex_lock(&reg.lock);
        for (size_t i = 0; i < METRICS_SLOTS; i++)
                atomic_store(&reg.slots[i], NULL);
        for (size_t i = 0; i < reg.n_fams; i++) {
                struct family *f = reg.fams[i];
                for (struct metric *m = f->first, *next; m; m = next) {
                        next = m->next;
                        free(m->labels);
                        free(m);
                }
                free(f->name);
                free(f->help);
                free(f);
        }
        reg.n_fams = reg.n_series = 0;
        atomic_store(&reg.refused, 0);
        reg.pack_current[0] = '\0';  /* its gauge went with the families */
        pthread_mutex_unlock(&reg.lock);
}

/* ---- the daemon's metrics ---- */

/* Commit latency buckets: 1 ms .. 10 s; a batch with synchronous=FULL typically takes a few
 * milliseconds on SSD and tens on spinning disks. */
static const int64_t commit_bounds_us[] = {
        1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
        10000000,
};

static void source_label(const char *kind, const char *transport, char out[64])
{
        snprintf(out, 64, "%s%s%s", kind ? kind : "unknown", transport ? "/" : "",
                 transport ? transport : "");
}

struct metric *metrics_received_counter(const char *kind, const char *transport)
{
        char src[64];
        source_label(kind, transport, src);
        return metrics_counter("gatelog_events_received_total",
                               "Events read by a collector, before the queue",
                               "source", src, NULL);
}

void metrics_received(const char *kind, const char *transport)
{
        metric_add(metrics_received_counter(kind, transport), 1);
}

static bool has_flag(const json *flags, const char *flag)
{
        for (size_t i = 0; i < json_len(flags); i++) {
                const char *f = json_str(json_arr_at(flags, i), NULL);
                if (f && !strcmp(f, flag))
                        return true;
        }
        return false;
}

/* The pack in force changes rarely; only the commit thread calls this. The pack last
 * published lives in the registry, so that metrics_reset forgets it with its gauge. */
static void rules_pack_seen(const char *hex)
{
        char *current = reg.pack_current;
        if (!hex[0] || !strcmp(current, hex))
                return;
        if (current[0])
                metric_set(metrics_gauge("gatelog_rules_pack_info", "The rule pack in force "
                                         "(1) by its SHA-256", "sha256", current, NULL), 0);
        snprintf(current, sizeof(reg.pack_current), "%s", hex);
        metric_set(metrics_gauge("gatelog_rules_pack_info", "The rule pack in force (1) by "
                                 "its SHA-256", "sha256", current, NULL), 1);
}

/* Per-batch tallies (issue 12): a label is formatted and a series looked up once per run of
 * events from one source and once per source at the end of the batch, not once per event. */
#define KEPT_TALLY_MAX 8
struct kept_tally {
        char label[64];
        uint64_t kept, malformed, truncated;
};

static void kept_tally_flush(struct kept_tally *t, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                metric_add(metrics_counter("gatelog_events_kept_total", "Events stored as "
                                           "records", "source", t[i].label, NULL), t[i].kept);
                if (t[i].malformed)
                        metric_add(metrics_counter("gatelog_events_malformed_total",
                                                   "Records flagged malformed", "source",
                                                   t[i].label, NULL), t[i].malformed);
                if (t[i].truncated)
                        metric_add(metrics_counter("gatelog_events_truncated_total",
                                                   "Records flagged truncated", "source",
                                                   t[i].label, NULL), t[i].truncated);
        }
}

static bool str_same(const char *a, const char *b)
{
        return a == b || (a && b && !strcmp(a, b));
}

/* An event's source: its kind and transport, NULL when absent (metrics_batch_committed, metrics_batch_note). */
static void event_source(const struct event *e, const char **ret_kind, const char **ret_tr,
                         bool *ret_malformed, bool *ret_truncated)
{
        if (e->mapped) {  /* issue 12: the writer's mapper freed the tree */
                *ret_kind = e->src_kind[0] ? e->src_kind : NULL;
                *ret_tr = e->src_transport[0] ? e->src_transport : NULL;
                *ret_malformed = e->malformed;
                *ret_truncated = e->truncated;
                return;
        }
        const json *src = json_obj_get(e->rec, "source");
        *ret_kind = json_str(json_obj_get(src, "kind"), NULL);
        *ret_tr = json_str(json_obj_get(src, "transport"), NULL);
        const json *flags = json_obj_get(e->rec, "flags");
        *ret_malformed = json_len(flags) && has_flag(flags, "malformed");
        *ret_truncated = json_len(flags) && has_flag(flags, "truncated");
}

static void batch_tail(uint64_t rule_drops, struct event *const *ev, size_t n,
                       int64_t commit_us);

void metrics_batch_committed(struct event *const *ev, size_t n, int64_t commit_us)
{
        struct kept_tally t[KEPT_TALLY_MAX];
        size_t nt = 0, cur = 0;
        const char *prev_kind = NULL, *prev_tr = NULL;
        bool have_prev = false;
        uint64_t rule_drops = 0;

        for (size_t i = 0; i < n; i++) {
                const struct event *e = ev[i];
                if (!event_has_record(e)) {
                        rule_drops++;
                        continue;
                }
                const char *kind, *tr;
                bool malformed, truncated;
                event_source(e, &kind, &tr, &malformed, &truncated);
                if (!have_prev || !str_same(kind, prev_kind) || !str_same(tr, prev_tr)) {
                        char label[64];
                        source_label(kind, tr, label);
                        for (cur = 0; cur < nt && strcmp(t[cur].label, label); cur++)
                                ;
                        if (cur == KEPT_TALLY_MAX) {
                                kept_tally_flush(t, nt);
                                nt = cur = 0;
                        }
                        if (cur == nt) {
                                memcpy(t[nt].label, label, sizeof(label));
                                t[nt].kept = t[nt].malformed = t[nt].truncated = 0;
                                nt++;
                        }
                        prev_kind = kind;
                        prev_tr = tr;
                        have_prev = true;
                }
                t[cur].kept++;
                t[cur].malformed += malformed;
                t[cur].truncated += truncated;
        }
        kept_tally_flush(t, nt);
        batch_tail(rule_drops, ev, n, commit_us);
}

/* What every committed batch publishes besides the per-source counts. */
static void batch_tail(uint64_t rule_drops, struct event *const *ev, size_t n,
                       int64_t commit_us)
{
        if (rule_drops)
                metric_add(metrics_counter("gatelog_events_dropped_total",
                                           "Events not kept, by reason", "reason", "rule",
                                           NULL), rule_drops);
        if (n > 0 && ev[n - 1]->rules_pack[0])
                rules_pack_seen(ev[n - 1]->rules_pack);
        metric_observe_us(metrics_histogram_us("gatelog_batch_commit_seconds",
                                               "Time to store one batch in one SQLite "
                                               "transaction", commit_bounds_us,
                                               sizeof(commit_bounds_us) /
                                                       sizeof(commit_bounds_us[0]), NULL),
                          commit_us);
        metric_set(metrics_gauge("gatelog_store_writable", "1 while the last store write "
                                 "succeeded", NULL), 1);
}

/* Is e (mapped) from src? Whole arrays first: a batch's events nearly all come from one
 * source, and two 16-byte compares cost less than two strcmp calls. */
static bool src_has(const struct metrics_batch_src *src, const struct event *e)
{
        if (e->mapped && src->mapped &&
            memcmp(e->src_kind, src->mapped->src_kind, sizeof(e->src_kind)) == 0 &&
            memcmp(e->src_transport, src->mapped->src_transport, sizeof(e->src_transport)) == 0)
                return true;
        return false;
}

void metrics_batch_note(struct metrics_batch *mb, const struct event *e)
{
        struct metrics_batch_src *src = &mb->src[mb->cur];
        const char *kind, *tr;
        bool malformed, truncated;

        if (!event_has_record(e)) {
                mb->rule_drops++;
                return;
        }
        if (mb->overflow)
                return;
        if (mb->n_src > 0 && src_has(src, e)) {
                src->kept++;
                src->malformed += e->malformed;
                src->truncated += e->truncated;
                return;
        }
        event_source(e, &kind, &tr, &malformed, &truncated);
        size_t i = 0;
        while (i < mb->n_src &&
               !(str_same(kind, mb->src[i].kind) && str_same(tr, mb->src[i].transport)))
                i++;
        if (i == METRICS_BATCH_SOURCES) {
                mb->overflow = true;  /* metrics_batch_done counts from the events */
                return;
        }
        src = &mb->src[i];
        if (i == mb->n_src) {
                *src = (struct metrics_batch_src){ .kind = kind, .transport = tr,
                                                   .mapped = e->mapped ? e : NULL };
                mb->n_src++;
        }
        mb->cur = i;
        src->kept++;
        src->malformed += malformed;
        src->truncated += truncated;
}

void metrics_batch_done(const struct metrics_batch *mb, struct event *const *ev, size_t n,
                        int64_t commit_us)
{
        struct kept_tally t[METRICS_BATCH_SOURCES];

        if (mb->overflow) {
                metrics_batch_committed(ev, n, commit_us);
                return;
        }
        for (size_t i = 0; i < mb->n_src; i++) {
                source_label(mb->src[i].kind, mb->src[i].transport, t[i].label);
                t[i].kept = mb->src[i].kept;
                t[i].malformed = mb->src[i].malformed;
                t[i].truncated = mb->src[i].truncated;
        }
        kept_tally_flush(t, mb->n_src);
        batch_tail(mb->rule_drops, ev, n, commit_us);
}

void metrics_drops_committed(const uint64_t took[DROP__MAX])
{
        for (int d = 0; d < DROP__MAX; d++)
                if (took[d])
                        metric_add(metrics_counter("gatelog_events_dropped_total",
                                                   "Events not kept, by reason", "reason",
                                                   drop_reason_name((enum drop_reason)d),
                                                   NULL), took[d]);
}

void metrics_store_failed(void)
{
        metric_set(metrics_gauge("gatelog_store_writable", "1 while the last store write "
                                 "succeeded", NULL), 0);
        metric_add(metrics_counter("gatelog_store_failures_total", "Failed store "
                                   "transactions (retried)", NULL), 1);
}

void metrics_epoch_sealed(int64_t epoch, uint64_t count)
{
        metric_add(metrics_counter("gatelog_epochs_sealed_total", "Epochs sealed and signed",
                                   NULL), 1);
        metric_set(metrics_gauge("gatelog_last_sealed_epoch", "Number of the last epoch "
                                 "sealed", NULL), epoch);
        metric_set(metrics_gauge("gatelog_last_sealed_epoch_records", "Records in the last "
                                 "epoch sealed", NULL), (int64_t)count);
}

void metrics_export_backlog(const char *output, uint64_t pending)
{
        metric_set(metrics_gauge("gatelog_export_backlog_epochs", "Sealed epochs not yet "
                                 "exported, per output", "output", output, NULL),
                   (int64_t)pending);
}

void metrics_export_failed(const char *output)
{
        metric_add(metrics_counter("gatelog_export_failures_total", "Failed export "
                                   "attempts, per output", "output", output, NULL), 1);
}

void metrics_export_done(const char *output)
{
        metric_add(metrics_counter("gatelog_exports_total", "Epochs exported, per output",
                                   "output", output, NULL), 1);
}

void metrics_daemon_init(const char *output, const char *source)
{
        metric_add(metrics_counter("gatelog_epochs_sealed_total", "Epochs sealed and signed",
                                   NULL), 0);
        metric_add(metrics_counter("gatelog_store_failures_total", "Failed store "
                                   "transactions (retried)", NULL), 0);
        for (int d = 0; d < DROP__MAX; d++)
                metric_add(metrics_counter("gatelog_events_dropped_total",
                                           "Events not kept, by reason", "reason",
                                           drop_reason_name((enum drop_reason)d), NULL), 0);
        metric_add(metrics_counter("gatelog_events_dropped_total", "Events not kept, by reason",
                                   "reason", "rule", NULL), 0);
        if (output) {
                metric_add(metrics_counter("gatelog_export_failures_total", "Failed export "
                                           "attempts, per output", "output", output, NULL), 0);
                metric_add(metrics_counter("gatelog_exports_total", "Epochs exported, per "
                                           "output", "output", output, NULL), 0);
        }
        if (source) {
                metric_add(metrics_counter("gatelog_events_received_total", "Events read by a "
                                           "collector, before the queue", "source", source,
                                           NULL), 0);
                metric_add(metrics_counter("gatelog_events_kept_total", "Events stored as "
                                           "records", "source", source, NULL), 0);
                metric_add(metrics_counter("gatelog_events_malformed_total", "Records flagged "
                                           "malformed", "source", source, NULL), 0);
        }
}
