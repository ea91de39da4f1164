/* Tests for core/metrics.c: the exposition text of each metric type (a table of cases, each
 * checked against the exact text Prometheus expects), label escaping, refusals that must not
 * break callers, the series cap, and threads that look up and update concurrently: every
 * increment must land exactly once and every series must exist exactly once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

static char *render(void)
{
        struct buf b = BUF_INIT;

        assert_int_equal(metrics_render(&b), 0);
        return buf_steal(&b, NULL);
}

/* Each case builds metrics with its setup function, renders, and expects these lines in the
 * output, in this order (other lines, such as the registry's own gauge, may sit between). */
struct render_case {
        const char *name;
        void (*setup)(void);
        const char *expect[20];
};

static void setup_counter(void)
{
        struct metric *m = metrics_counter("t_requests_total", "Requests served", NULL);

        metric_add(m, 3);
        metric_add(metrics_counter("t_requests_total", "ignored", NULL), 4);
}

static void setup_labels(void)
{
        metric_add(metrics_counter("t_events_total", "Events", "source", "syslog/udp", NULL), 2);
        metric_add(metrics_counter("t_events_total", "Events", "source", "syslog/tcp", NULL), 5);
        metric_add(metrics_counter("t_events_total", "Events", "source", "syslog/udp", NULL), 1);
}

static void setup_escape(void)
{
        metric_set(metrics_gauge("t_info", "Help with \\ and\nnewline", "path",
                                 "C:\\logs\\\"x\"\nend", "b", "", NULL), -7);
}

static void setup_histogram(void)
{
        static const int64_t bounds[] = { 1000, 250000, 2000000 };
        struct metric *h = metrics_histogram_us("t_latency_seconds", "Latency", bounds, 3,
                                                NULL);

        metric_observe_us(h, 500);      /* <= 1 ms */
        metric_observe_us(h, 1000);     /* exactly on a bound: that bucket (le) */
        metric_observe_us(h, 1001);     /* 250 ms bucket */
        metric_observe_us(h, 3000000);  /* only +Inf */
        metric_observe_us(h, -5);       /* counts as 0 */
}

static void setup_histogram_labels(void)
{
        static const int64_t bounds[] = { 1500 };

        metric_observe_us(metrics_histogram_us("t_h_seconds", "H", bounds, 1, "db", "a", NULL),
                          10);
}

static void setup_sorted(void)
{
        metric_add(metrics_counter("t_zeta_total", "Z", NULL), 1);
        metric_add(metrics_counter("t_alpha_total", "A", NULL), 1);
}

static const struct render_case render_cases[] = {
        { "counter", setup_counter, {
                "# HELP t_requests_total Requests served\n",
                "# TYPE t_requests_total counter\n",
                "t_requests_total 7\n" } },
        { "labels keep creation order", setup_labels, {
                "# TYPE t_events_total counter\n",
                "t_events_total{source=\"syslog/udp\"} 3\n",
                "t_events_total{source=\"syslog/tcp\"} 5\n" } },
        { "escaping", setup_escape, {
                "# HELP t_info Help with \\\\ and\\nnewline\n",
                "# TYPE t_info gauge\n",
                "t_info{path=\"C:\\\\logs\\\\\\\"x\\\"\\nend\",b=\"\"} -7\n" } },
        { "histogram", setup_histogram, {
                "# TYPE t_latency_seconds histogram\n",
                "t_latency_seconds_bucket{le=\"0.001\"} 3\n",
                "t_latency_seconds_bucket{le=\"0.25\"} 4\n",
                "t_latency_seconds_bucket{le=\"2\"} 4\n",
                "t_latency_seconds_bucket{le=\"+Inf\"} 5\n",
                "t_latency_seconds_sum 3.002501\n",
                "t_latency_seconds_count 5\n" } },
        { "histogram with labels", setup_histogram_labels, {
                "t_h_seconds_bucket{db=\"a\",le=\"0.0015\"} 1\n",
                "t_h_seconds_bucket{db=\"a\",le=\"+Inf\"} 1\n",
                "t_h_seconds_sum{db=\"a\"} 0.00001\n",
                "t_h_seconds_count{db=\"a\"} 1\n" } },
        { "families sorted by name", setup_sorted, {
                "# HELP t_alpha_total A\n",
                "# HELP t_zeta_total Z\n" } },
};

static void test_render_table(void **state)
{
        for (size_t i = 0; i < sizeof(render_cases) / sizeof(render_cases[0]); i++) {
                const struct render_case *c = &render_cases[i];

                metrics_reset();
                c->setup();
                char *text = render();
                const char *at = text;
                for (size_t k = 0; c->expect[k]; k++) {
                        const char *hit = strstr(at, c->expect[k]);
                        if (!hit)
                                fail_msg("case '%s': missing or out of order: %s--- got:\n%s",
                                         c->name, c->expect[k], text);
                        at = hit + strlen(c->expect[k]);
                }
                free(text);
        }
        metrics_reset();
}

static void test_refusals(void **state)
{
        metrics_reset();
        struct metric *ok = metrics_counter("t_ok_total", "ok", NULL);
        assert_non_null(ok);
        assert_ptr_equal(ok, metrics_counter("t_ok_total", "again", NULL));
        /* Bad names, the reserved le label, a type clash: NULL, and NULL is harmless. */
        assert_null(metrics_counter("9starts_with_digit", "x", NULL));
        assert_null(metrics_counter("has-dash", "x", NULL));
        assert_null(metrics_counter("t_x_total", "x", "bad-label", "v", NULL));
        assert_null(metrics_counter("t_x_total", "x", "le", "1", NULL));
        assert_null(metrics_gauge("t_ok_total", "now a gauge", NULL));
        static const int64_t unsorted[] = { 5, 1 };
        assert_null(metrics_histogram_us("t_h_seconds", "x", unsorted, 2, NULL));
        metric_add(NULL, 1);
        metric_set(NULL, 1);
        metric_observe_us(NULL, 1);
        assert_int_equal(metric_value(NULL), 0);
        /* Updates of the wrong kind are ignored, not misapplied. */
        metric_set(ok, 99);
        metric_add(ok, 2);
        assert_int_equal(metric_value(ok), 2);
        char *text = render();
        assert_non_null(strstr(text, "gatelog_metrics_refused 6\n"));
        assert_null(strstr(text, "has-dash"));
        free(text);
        metrics_reset();
}

static void test_series_cap(void **state)
{
        metrics_reset();
        size_t made = 0;
        for (size_t i = 0; i < METRICS_SERIES_MAX + 50; i++) {
                char v[32];
                snprintf(v, sizeof(v), "%zu", i);
                if (metrics_gauge("t_partition_lag", "lag", "partition", v, NULL))
                        made++;
        }
        /* The cap counts every series; the refused gauge the renderer adds needs one. */
        assert_int_equal(made, METRICS_SERIES_MAX);
        char *text = render();
        assert_non_null(strstr(text, "t_partition_lag{partition=\"0\"} 0\n"));
        assert_null(strstr(text, "partition=\"" "4096\""));
        free(text);
        metrics_reset();
}

#define THREADS 4
#define ROUNDS 50000

static void *hammer(void *ud)
{
        intptr_t id = (intptr_t)ud;
        char own[16];

        snprintf(own, sizeof(own), "t%ld", (long)id);
        for (int i = 0; i < ROUNDS; i++) {
                /* Looked up every time, as the pipeline does. */
                metric_add(metrics_counter("t_shared_total", "s", "k", "same", NULL), 1);
                metric_add(metrics_counter("t_own_total", "o", "thread", own, NULL), 1);
                char fresh[16];
                snprintf(fresh, sizeof(fresh), "%d", i % 64);
                metric_gauge_add(metrics_gauge("t_race", "r", "n", fresh, NULL), 1);
        }
        return NULL;
}

static void test_threads(void **state)
{
        pthread_t t[THREADS];

        metrics_reset();
        for (intptr_t i = 0; i < THREADS; i++)
                assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)i), 0);
        for (int i = 0; i < THREADS; i++)
                pthread_join(t[i], NULL);
        assert_int_equal(metric_value(metrics_counter("t_shared_total", "", "k", "same", NULL)),
                         THREADS * ROUNDS);
        int64_t sum = 0;
        for (int n = 0; n < 64; n++) {
                char v[16];
                snprintf(v, sizeof(v), "%d", n);
                sum += metric_value(metrics_gauge("t_race", "", "n", v, NULL));
        }
        assert_int_equal(sum, THREADS * ROUNDS);
        /* Each series rendered exactly once, though all threads raced to create it. */
        char *text = render();
        int seen = 0;
        for (const char *p = text; (p = strstr(p, "t_race{n=\"7\"}")); p++)
                seen++;
        assert_int_equal(seen, 1);
        free(text);
        metrics_reset();
}

static void test_daemon_metrics(void **state)
{
        metrics_reset();
        metrics_daemon_init("local", "syslog/udp");
        metrics_received("syslog", "udp");
        metrics_received("syslog", "udp");
        uint64_t took[DROP__MAX] = { 0 };
        took[DROP_QUEUE_FULL] = 4;
        metrics_drops_committed(took);
        metrics_export_backlog("local", 2);
        metrics_export_failed("local");
        metrics_epoch_sealed(7, 10);
        char *text = render();
        static const char *const want[] = {
                "gatelog_epochs_sealed_total 1\n",
                "gatelog_events_dropped_total{reason=\"queue_full\"} 4\n",
                "gatelog_events_dropped_total{reason=\"conn_limit\"} 0\n",
                "gatelog_events_received_total{source=\"syslog/udp\"} 2\n",
                "gatelog_events_kept_total{source=\"syslog/udp\"} 0\n",
                "gatelog_export_backlog_epochs{output=\"local\"} 2\n",
                "gatelog_export_failures_total{output=\"local\"} 1\n",
                "gatelog_last_sealed_epoch 7\n",
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
                if (!strstr(text, want[i]))
                        fail_msg("missing %s--- got:\n%s", want[i], text);
        free(text);
        metrics_reset();
}

/* The per-batch tallies (issue 12) count what one metric_add per event counted: mapped and
 * tree events, more sources than the tally holds at once, runs broken up, rule drops.
 * noted: counted by metrics_batch_note while stored and published by metrics_batch_done
 * (the writer's way), else by metrics_batch_committed after the commit. n_src sources:
 * 11 is more than either tally holds at once (metrics_batch_done then counts from the
 * events), 5 fits. */
static void batch_tallies(int n_src, bool noted)
{
        enum { N = 200 };
        struct event *ev[N];
        metrics_reset();
        for (size_t i = 0; i < N; i++) {
                int src = (int)((i / 3) % n_src); /* runs of 3 */
                if (i % 7 == 6) {              /* dropped by a rule */
                        ev[i] = event_new(NULL, 1);
                } else if (i % 2) {            /* mapped: the tree is gone */
                        ev[i] = event_new(NULL, 1);
                        ev[i]->mapped = malloc(1);
                        snprintf(ev[i]->src_kind, sizeof(ev[i]->src_kind), "k%d", src);
                        ev[i]->malformed = i % 5 == 0;
                        ev[i]->truncated = i % 10 == 1;
                } else {                       /* a tree */
                        char j[128];
                        snprintf(j, sizeof(j), "{\"source\":{\"kind\":\"k%d\"},\"flags\":[%s]}",
                                 src, i % 5 == 0 ? "\"malformed\"" : "");
                        json *rec = NULL;
                        assert_int_equal(json_parse(j, strlen(j), &rec, NULL), 0);
                        ev[i] = event_new(rec, 1);
                }
                assert_non_null(ev[i]);
        }
        if (noted) {
                struct metrics_batch mb;
                metrics_batch_init(&mb);
                for (size_t i = 0; i < N; i++)
                        metrics_batch_note(&mb, ev[i]);
                /* Nothing is published before the commit. */
                char *before = render();
                assert_null(strstr(before, "gatelog_events_kept_total{"));
                free(before);
                metrics_batch_done(&mb, ev, N, 10);
        } else {
                metrics_batch_committed(ev, N, 10);
        }
        uint64_t kept[11] = { 0 }, mal[11] = { 0 }, tr[11] = { 0 }, drops = 0;
        for (size_t i = 0; i < N; i++) {
                int src = (int)((i / 3) % n_src);
                if (i % 7 == 6) {
                        drops++;
                        continue;
                }
                kept[src]++;
                mal[src] += i % 5 == 0;
                tr[src] += (i % 2) && i % 10 == 1;
        }
        char *text = render();
        char want[160];
        for (int k = 0; k < n_src; k++) {
                snprintf(want, sizeof(want), "gatelog_events_kept_total{source=\"k%d\"} %llu\n",
                         k, (unsigned long long)kept[k]);
                if (!strstr(text, want))
                        fail_msg("missing %s--- got:\n%s", want, text);
                snprintf(want, sizeof(want),
                         "gatelog_events_malformed_total{source=\"k%d\"} %llu\n", k,
                         (unsigned long long)mal[k]);
                if (mal[k] && !strstr(text, want))
                        fail_msg("missing %s--- got:\n%s", want, text);
                snprintf(want, sizeof(want),
                         "gatelog_events_truncated_total{source=\"k%d\"} %llu\n", k,
                         (unsigned long long)tr[k]);
                if (tr[k] && !strstr(text, want))
                        fail_msg("missing %s--- got:\n%s", want, text);
        }
        snprintf(want, sizeof(want), "gatelog_events_dropped_total{reason=\"rule\"} %llu\n",
                 (unsigned long long)drops);
        if (!strstr(text, want))
                fail_msg("missing %s--- got:\n%s", want, text);
        /* No other source, and each counted once (a second series would show). */
        snprintf(want, sizeof(want), "gatelog_events_kept_total{source=\"k%d\"}", n_src);
        assert_null(strstr(text, want));
        free(text);
        for (size_t i = 0; i < N; i++)
                event_free(ev[i]);
        metrics_reset();
}

static void test_batch_tallies(void **state)
{
        batch_tallies(11, false);
        batch_tallies(5, false);
        batch_tallies(11, true);
        batch_tallies(5, true);
}

/* The rule pack in force is a gauge set by the commits: 1 for the pack of the last batch, 0
 * for the one before. After metrics_reset (its series are gone) the same pack must show
 * again at the next commit: the pack last published belongs to the registry, not to a
 * static that outlives it. */
static void pack_commit(char c)
{
        struct event *e = event_new(NULL, 1);
        assert_non_null(e);
        memset(e->rules_pack, c, 64);
        e->rules_pack[64] = '\0';
        metrics_batch_committed(&e, 1, 10);
        event_free(e);
}

static void test_rules_pack_gauge(void **state)
{
        static const char *const a = "gatelog_rules_pack_info{sha256=\"aaaaaaaaaaaaaaaa"
                                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"} ";
        static const char *const b = "gatelog_rules_pack_info{sha256=\"bbbbbbbbbbbbbbbb"
                                     "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"} ";
        char want[160];
        metrics_reset();
        pack_commit('a');
        pack_commit('b');
        char *text = render();
        snprintf(want, sizeof(want), "%s0\n", a);
        if (!strstr(text, want))
                fail_msg("missing %s--- got:\n%s", want, text);
        snprintf(want, sizeof(want), "%s1\n", b);
        if (!strstr(text, want))
                fail_msg("missing %s--- got:\n%s", want, text);
        free(text);
        /* The same pack after a reset: published again. */
        metrics_reset();
        pack_commit('b');
        text = render();
        if (!strstr(text, want))
                fail_msg("after metrics_reset: missing %s--- got:\n%s", want, text);
        free(text);
        metrics_reset();
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_render_table),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_series_cap),
                cmocka_unit_test(test_threads),
                cmocka_unit_test(test_daemon_metrics),
                cmocka_unit_test(test_batch_tallies),
                cmocka_unit_test(test_rules_pack_gauge),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
