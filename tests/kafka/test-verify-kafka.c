/* cli/verify-kafka.c: Kafka offsets across chains. Each case feeds chains' records (offset
 * ranges, with or without a redelivery marker) and expects a number of problems, and for
 * failures the chains the FAIL line names; a naive model (every offset's holders, checked
 * pair by pair) must agree on random layouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/query-match.h"
#include "cli/verify-kafka.h"
#include "core/json.h"

struct span {
        const char *chain;      /* holder; NULL ends the list */
        const char *topic;
        int partition;
        int64_t lo, hi;
        const char *mark;       /* redelivery marker's chain, or NULL; "x,y": an array
                                 * naming x and y (a failover inside another's window) */
};

/* records.jsonl text of a span (canonical member order, as the daemon writes it). */
static char *span_text(const struct span *s)
{
        size_t cap = (size_t)(s->hi - s->lo + 1) * 200 + 1, n = 0;
        char *t = malloc(cap);

        assert_non_null(t);
        for (int64_t o = s->lo; o <= s->hi; o++) {
                char mark[160] = "";
                const char *comma = s->mark ? strchr(s->mark, ',') : NULL;

                if (comma)
                        snprintf(mark, sizeof(mark), "\"redelivery\":[{\"chain\":\"%.*s\","
                                 "\"through\":%lld},{\"chain\":\"%s\",\"through\":%lld}],",
                                 (int)(comma - s->mark), s->mark, (long long)s->hi, comma + 1,
                                 (long long)s->hi);
                else if (s->mark)
                        snprintf(mark, sizeof(mark), "\"redelivery\":{\"chain\":\"%s\","
                                 "\"through\":%lld},", s->mark, (long long)s->hi);
                n += (size_t)snprintf(t + n, cap - n, "{\"seq\":%lld,\"source\":{\"kind\":"
                                      "\"kafka\",\"offset\":%lld,\"partition\":%d,%s\"topic\":"
                                      "\"%s\"}}\n", (long long)o, (long long)o, s->partition,
                                      mark, s->topic);
        }
        return t;
}

/* issue 12 (verify7): records.jsonl text fed as `verify --export` feeds it: a line at a time,
 * each scanned once (seal_scan_record) and the scan handed over with it. */
static void add_scanned(struct verify_kafka *v, const char *chain, const char *t)
{
        assert_int_equal(verify_kafka_chain(v, chain), 0);
        for (const char *p = t, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
                struct seal_scan sc;
                int decided = seal_scan_record(p, (size_t)(nl - p), &sc);
                assert_int_equal(verify_kafka_line_scanned(v, p, (size_t)(nl - p),
                                                           decided ? &sc : NULL), 0);
        }
}

static uint64_t run_spans_once(const struct span *spans, char *out, size_t out_len,
                               bool scanned);

/* Both ways of feeding must print the same report. */
static uint64_t run_spans(const struct span *spans, char *out, size_t out_len)
{
        char *again = malloc(out_len);
        assert_non_null(again);
        uint64_t n = run_spans_once(spans, out, out_len, false);
        assert_int_equal(run_spans_once(spans, again, out_len, true), n);
        assert_string_equal(again, out);
        free(again);
        return n;
}

static uint64_t run_spans_once(const struct span *spans, char *out, size_t out_len,
                               bool scanned)
{
        struct verify_kafka *v;
        FILE *f = fmemopen(out, out_len, "w");
        uint64_t n;

        assert_non_null(f);
        assert_int_equal(verify_kafka_new(&v), 0);
        for (const struct span *s = spans; s->chain; s++) {
                char *t = span_text(s);

                if (scanned)
                        add_scanned(v, s->chain, t);
                else
                        assert_int_equal(verify_kafka_add(v, s->chain, t, strlen(t)), 0);
                free(t);
        }
        /* A syslog record that mentions Kafka is not a Kafka record. */
        {
                const char *sys = "{\"message\":\"\\\"kind\\\":\\\"kafka\\\"\",\"seq\":1,"
                                  "\"source\":{\"kind\":\"syslog\"}}\n";

                if (scanned)
                        add_scanned(v, "a", sys);
                else
                        assert_int_equal(verify_kafka_add(v, "a", sys, strlen(sys)), 0);
        }
        n = verify_kafka_finish(v, f);
        fclose(f);
        verify_kafka_free(v);
        return n;
}

static void test_cases(void **state)
{
        static const struct {
                const char *name;
                struct span spans[5];
                uint64_t problems;
                const char *says;       /* a text the output must hold */
        } cases[] = {
                { "disjoint chains", { { "a", "t", 0, 0, 9, NULL }, { "b", "t", 0, 10, 19, NULL },
                                       { 0 } }, 0, "20 record(s) of 1 partition(s); 0 offset" },
                { "failover, marked", { { "a", "t", 0, 0, 9, NULL },
                                        { "b", "t", 0, 5, 12, "a" },
                                        { "b", "t", 0, 13, 30, NULL }, { 0 } },
                  0, "5 offset(s) held by two chains, each marked as a redelivery; 8 record(s)" },
                { "marked by the first chain read", { { "b", "t", 0, 5, 12, "a" },
                                                      { "a", "t", 0, 0, 9, NULL }, { 0 } },
                  0, "5 offset(s) held by two chains" },
                { "unmarked duplicate", { { "a", "t", 1, 0, 9, NULL },
                                          { "b", "t", 1, 9, 12, NULL }, { 0 } },
                  1, "FAIL kafka t/1 offsets 9..9: held by chain a and by chain b" },
                { "marked as another chain's", { { "a", "t", 0, 0, 9, NULL },
                                                 { "b", "t", 0, 0, 9, "c" }, { 0 } },
                  1, "neither record is marked" },
                { "one chain twice", { { "a", "t", 0, 0, 9, NULL }, { "a", "t", 0, 5, 6, NULL },
                                       { 0 } }, 1, "offsets 5..6: held twice by chain a" },
                { "three holders, two failovers", { { "a", "t", 0, 0, 9, NULL },
                                                    { "b", "t", 0, 0, 9, "a" },
                                                    { "c", "t", 0, 0, 9, "b" }, { 0 } },
                  1, "held by chain a and by chain c" },
                { "three holders, the last names both", { { "a", "t", 0, 0, 9, NULL },
                                                          { "b", "t", 0, 0, 9, "a" },
                                                          { "c", "t", 0, 3, 9, "b,a" },
                                                          { 0 } },
                  0, "10 offset(s) held by two chains, each marked as a redelivery; 17 record" },
                { "a list that misses one holder", { { "a", "t", 0, 0, 9, NULL },
                                                     { "b", "t", 0, 0, 9, "a" },
                                                     { "c", "t", 0, 0, 9, "b,x" }, { 0 } },
                  1, "held by chain a and by chain c" },
                { "a list naming the holder itself", { { "a", "t", 0, 0, 9, NULL },
                                                       { "a", "t", 0, 0, 9, "a,b" }, { 0 } },
                  1, "held twice by chain a" },
                { "other partitions and topics", { { "a", "t", 0, 0, 9, NULL },
                                                   { "b", "t", 1, 0, 9, NULL },
                                                   { "b", "u", 0, 0, 9, NULL }, { 0 } },
                  0, "30 record(s) of 3 partition(s)" },
                { "marked, nobody else holds it", { { "b", "t", 0, 0, 9, "a" }, { 0 } },
                  0, "0 offset(s) held by two chains, each marked as a redelivery; 10 record" },
        };
        char out[4096];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t n;

                memset(out, 0, sizeof(out));
                n = run_spans(cases[i].spans, out, sizeof(out) - 1);
                if (n != cases[i].problems || !strstr(out, cases[i].says))
                        fail_msg("%s: %llu problems, wanted %llu; output:\n%s", cases[i].name,
                                 (unsigned long long)n, (unsigned long long)cases[i].problems,
                                 out);
        }
}

/* Random layouts against a naive model: every offset's holders, pair by pair. */
static void test_vs_model(void **state)
{
        static const char *names[] = { "a", "b", "c" };
        unsigned seed = 12345;

        for (int round = 0; round < 300; round++) {
                struct span spans[5] = { { 0 } };
                int holders[64][4], n_h[64] = { 0 }, marks[64][4];
                uint64_t want = 0, got;
                char out[8192];

                for (int s = 0; s < 4; s++) {
                        int c = rand_r(&seed) % 3, lo = rand_r(&seed) % 40,
                            hi = lo + rand_r(&seed) % 20, m = rand_r(&seed) % 4;

                        /* One chain's offsets ascend: a later span of a chain starts past
                         * its earlier ones, unless the case wants a repeat. */
                        spans[s] = (struct span){ names[c], "t", 0, lo, hi,
                                                  m < 3 && m != c ? names[m] : NULL };
                        for (int o = lo; o <= hi; o++) {
                                holders[o][n_h[o]] = c;
                                marks[o][n_h[o]++] = m < 3 && m != c ? m : -1;
                        }
                }
                /* The model counts an unexplained pair once per run of offsets with the
                 * same holders; the checker once per segment: compare "any" only. */
                for (int o = 0; o < 64; o++)
                        for (int i = 0; i < n_h[o]; i++)
                                for (int k = i + 1; k < n_h[o]; k++)
                                        if (holders[o][i] == holders[o][k] ||
                                            (marks[o][i] != holders[o][k] &&
                                             marks[o][k] != holders[o][i]))
                                                want++;
                memset(out, 0, sizeof(out));
                got = run_spans(spans, out, sizeof(out) - 1);
                if ((got > 0) != (want > 0))
                        fail_msg("round %d: checker %llu problems, model %llu\n%s", round,
                                 (unsigned long long)got, (unsigned long long)want, out);
        }
}

/* `gatelog query --dedupe` (cli/query-match.c): a Kafka (topic, partition, offset) is taken
 * once whatever chain or marker it comes with; other records always; thousands of offsets
 * (the table grows) stay exact. */
static int take(struct query_seen *s, const char *text)
{
        json *j = NULL;
        int r;

        assert_int_equal(json_parse(text, strlen(text), &j, NULL), 0);
        r = query_seen_take(s, j);
        json_free(j);
        return r;
}

static void test_dedupe(void **state)
{
        struct query_seen s;
        char t[160];

        memset(&s, 0, sizeof(s));
        assert_int_equal(take(&s, "{\"source\":{\"kind\":\"kafka\",\"topic\":\"t\","
                                  "\"partition\":0,\"offset\":5}}"), 1);
        assert_int_equal(take(&s, "{\"source\":{\"kind\":\"kafka\",\"topic\":\"t\","
                                  "\"partition\":0,\"offset\":5,\"redelivery\":[{\"chain\":"
                                  "\"a\",\"through\":9}]}}"), 0);
        assert_int_equal(take(&s, "{\"source\":{\"kind\":\"kafka\",\"topic\":\"t\","
                                  "\"partition\":1,\"offset\":5}}"), 1);
        assert_int_equal(take(&s, "{\"source\":{\"kind\":\"kafka\",\"topic\":\"u\","
                                  "\"partition\":0,\"offset\":5}}"), 1);
        assert_int_equal(take(&s, "{\"source\":{\"kind\":\"syslog\"}}"), 1);
        assert_int_equal(take(&s, "{\"source\":{\"kind\":\"syslog\"}}"), 1);
        for (int round = 0; round < 2; round++)
                for (int o = 0; o < 5000; o++) {
                        snprintf(t, sizeof(t), "{\"source\":{\"kind\":\"kafka\",\"topic\":"
                                 "\"big\",\"partition\":%d,\"offset\":%d}}", o % 3, o);
                        if (take(&s, t) != (round == 0))
                                fail_msg("round %d offset %d", round, o);
                }
        query_seen_free(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cases),
                cmocka_unit_test(test_vs_model),
                cmocka_unit_test(test_dedupe),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
