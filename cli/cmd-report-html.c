/* The HTML form of `gatelog report` (issue 10): one self-contained page (inline CSS and SVG,
 * no script, no external URL) rendered from the report's JSON tree, so it shows exactly the
 * numbers of `--format json`. Each number carries data-k="PATH" (e.g. "CC6.1/day/2026-01-31/
 * success") so that a test or a script can read it back. Print CSS keeps sections and table
 * rows whole on a page, for "Save as PDF". All text from records is HTML-escaped. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd-report.h"
#include "core/tm.h"

#define CHART_W 720
#define CHART_H 220
#define CHART_LEFT 48
#define CHART_BOTTOM 40
#define CHART_TOP 16
#define CHART_DAYS_MAX 400   /* a longer period charts only the days with events */

static const char css[] =
        "body{font:14px/1.4 system-ui,sans-serif;color:#111;margin:2em auto;max-width:60em;"
        "padding:0 1em}h1{font-size:1.6em}h2{border-bottom:2px solid #333;margin-top:2em}"
        "table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #bbb;"
        "padding:2px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere;"
        "max-width:40em}td.n{text-align:right}"
        ".ok{color:#070;font-weight:bold}.bad{color:#b00;font-weight:bold}"
        "tr.flag td{background:#fff3cd}pre{white-space:pre-wrap;word-break:break-all;"
        "font-size:11px;background:#f6f6f6;padding:.5em}code{font-size:12px}"
        ".legend span{display:inline-block;margin-right:1em}.sw{display:inline-block;"
        "width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}"
        "@media print{body{margin:0;max-width:none;font-size:11px}section{break-inside:avoid-page}"
        "section.criterion{break-before:page}tr,svg,details{break-inside:avoid}"
        "details>pre{display:block}}@page{size:A4;margin:15mm}";

static int esc(struct buf *b, const char *s, size_t n)
{
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++) {
                switch (s[i]) {
                case '&': r = buf_puts(b, "&amp;"); break;
                case '<': r = buf_puts(b, "&lt;"); break;
                case '>': r = buf_puts(b, "&gt;"); break;
                case '"': r = buf_puts(b, "&quot;"); break;
                case '\'': r = buf_puts(b, "&#39;"); break;
                default: r = buf_putc(b, s[i]); break;
                }
        }
        return r;
}

static int escs(struct buf *b, const char *s)
{
        return esc(b, s ? s : "", s ? strlen(s) : 0);
}

/* The text of any member: strings as they are, null as "-", others as canonical JSON. */
static int esc_json(struct buf *b, const json *v)
{
        struct buf t = BUF_INIT;
        int r;

        if (!v || json_type_of(v) == JSON_NULL)
                return buf_putc(b, '-');
        if (json_type_of(v) == JSON_STR) {
                size_t n = 0;
                const char *s = json_str(v, &n);
                return esc(b, s, n);
        }
        r = json_canon(v, &t);
        if (r >= 0)
                r = esc(b, t.data ? t.data : "", t.len);
        buf_free(&t);
        return r;
}

static const char *str(const json *o, const char *key)
{
        const json *v = o ? json_obj_get(o, key) : NULL;

        return v ? json_str(v, NULL) : NULL;
}

static int64_t num(const json *o, const char *key)
{
        return json_int(o ? json_obj_get(o, key) : NULL);
}

/* <td class=n data-k="a/b/c">N</td> */
static int num_cell(struct buf *b, const char *k1, const char *k2, const char *k3, int64_t n)
{
        int r = buf_puts(b, "<td class=\"n\" data-k=\"");

        if (r >= 0)
                r = escs(b, k1);
        if (r >= 0 && k2)
                r = buf_putc(b, '/');
        if (r >= 0 && k2)
                r = escs(b, k2);
        if (r >= 0 && k3)
                r = buf_putc(b, '/');
        if (r >= 0 && k3)
                r = escs(b, k3);
        return r < 0 ? r : buf_printf(b, "\">%" PRId64 "</td>", n);
}

static const char *outcome_color(const char *o, size_t i)
{
        static const char *const other[] = { "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b",
                                             "#e377c2", "#17becf" };

        if (strcmp(o, "success") == 0)
                return "#2ca02c";
        if (strcmp(o, "failure") == 0 || strcmp(o, "denied") == 0)
                return "#d62728";
        if (strcmp(o, "unknown") == 0 || strcmp(o, "-") == 0)
                return "#999999";
        return other[i % (sizeof(other) / sizeof(*other))];
}

/* The days of the chart: every day of the period when it is short enough, else the days
 * with events. Returns the number of days written to days (each "YYYY-MM-DD"). */
static size_t chart_days(const json *rep, const json *by_day, char (*days)[11], size_t max)
{
        const json *p = json_obj_get(rep, "period");
        int64_t since = 0, until = 0, day = 86400LL * 1000000;
        const char *s = str(p, "since"), *u = str(p, "until");
        size_t n = 0;

        if (s && u && tm_parse_rfc3339(s, strlen(s), 1, &since) == 0 &&
            tm_parse_rfc3339(u, strlen(u), 1, &until) == 0 &&
            (until - since) / day < (int64_t)max) {
                for (int64_t t = since - ((since % day) + day) % day; t < until; t += day) {
                        char buf[TM_RFC3339_LEN];
                        tm_format_rfc3339(t, buf);
                        memcpy(days[n], buf, 10);
                        days[n++][10] = '\0';
                }
                return n;
        }
        for (size_t i = 0; i < json_len(by_day) && n < max; i++) {
                const char *dk = str(json_arr_at(by_day, i), "day");
                snprintf(days[n], 11, "%s", dk ? dk : "-");
                n++;
        }
        return n;
}

static const json *day_entry(const json *by_day, const char *day)
{
        for (size_t i = 0; i < json_len(by_day); i++) {
                const json *e = json_arr_at(by_day, i);
                const char *dk = str(e, "day");
                if (dk && strcmp(dk, day) == 0)
                        return e;
        }
        return NULL;
}

/* A stacked bar chart of events per day by outcome, in SVG. */
static int chart(struct buf *b, const json *rep, const json *crit)
{
        static char days[CHART_DAYS_MAX][11];
        const json *by_day = json_obj_get(crit, "by_day");
        const json *outs = json_obj_get(crit, "by_outcome");
        size_t n = chart_days(rep, by_day, days, CHART_DAYS_MAX);
        int64_t maxv = 1;
        int plot_w = CHART_W - CHART_LEFT - 8, plot_h = CHART_H - CHART_TOP - CHART_BOTTOM;
        double bw;
        int r;

        for (size_t i = 0; i < json_len(by_day); i++)
                if (num(json_arr_at(by_day, i), "count") > maxv)
                        maxv = num(json_arr_at(by_day, i), "count");
        r = buf_printf(b, "<svg class=\"chart\" "
                       "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                       "aria-label=\"events per day by outcome\">", CHART_W, CHART_H,
                       CHART_W, CHART_H);
        /* axes and the y scale (0 and the highest day) */
        if (r >= 0)
                r = buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>"
                               "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>"
                               "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">0"
                               "</text><text x=\"%d\" y=\"%d\" font-size=\"11\" "
                               "text-anchor=\"end\">%" PRId64 "</text>",
                               CHART_LEFT, CHART_TOP, CHART_LEFT, CHART_TOP + plot_h,
                               CHART_LEFT, CHART_TOP + plot_h, CHART_LEFT + plot_w,
                               CHART_TOP + plot_h, CHART_LEFT - 4, CHART_TOP + plot_h,
                               CHART_LEFT - 4, CHART_TOP + 10, maxv);
        bw = n ? (double)plot_w / (double)n : plot_w;
        for (size_t d = 0; r >= 0 && d < n; d++) {
                const json *e = day_entry(by_day, days[d]);
                const json *oc = e ? json_obj_get(e, "outcomes") : NULL;
                double x = CHART_LEFT + d * bw, y = CHART_TOP + plot_h;

                for (size_t i = 0; r >= 0 && oc && i < json_len(outs); i++) {
                        const char *o = str(json_arr_at(outs, i), "key");
                        int64_t v = num(oc, o);
                        double h = (double)v * plot_h / (double)maxv;
                        if (v == 0)
                                continue;
                        y -= h;
                        r = buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                                       "height=\"%.2f\" fill=\"%s\"><title>", x + bw * 0.1, y,
                                       bw * 0.8, h, outcome_color(o, i));
                        if (r >= 0)
                                r = buf_printf(b, "%s ", days[d]);
                        if (r >= 0)
                                r = escs(b, o);
                        if (r >= 0)
                                r = buf_printf(b, ": %" PRId64 "</title></rect>", v);
                }
                /* about eight date labels along the axis, and always the first */
                if (r >= 0 && (d % ((n + 7) / 8) == 0))
                        r = buf_printf(b, "<text x=\"%.2f\" y=\"%d\" font-size=\"10\" "
                                       "text-anchor=\"middle\">%s</text>", x + bw / 2,
                                       CHART_TOP + plot_h + 14, days[d] + 5);
        }
        if (r >= 0)
                r = buf_puts(b, "</svg><div class=\"legend\">");
        for (size_t i = 0; r >= 0 && i < json_len(outs); i++) {
                const char *o = str(json_arr_at(outs, i), "key");
                r = buf_printf(b, "<span><i class=\"sw\" style=\"background:%s\"></i>",
                               outcome_color(o, i));
                if (r >= 0)
                        r = escs(b, o);
                if (r >= 0)
                        r = buf_puts(b, "</span>");
        }
        return r < 0 ? r : buf_puts(b, "</div>");
}

/* Table of [{key, count}] under a heading; data-k = id/what/key. */
static int groups_table(struct buf *b, const char *id, const char *what, const char *title,
                        const char *col, const json *a)
{
        int r = buf_printf(b, "<h3>%s</h3><table><tr><th>%s</th><th>events</th></tr>", title,
                           col);

        for (size_t i = 0; r >= 0 && i < json_len(a); i++) {
                const json *e = json_arr_at(a, i);
                r = buf_puts(b, "<tr><td>");
                if (r >= 0)
                        r = escs(b, str(e, "key"));
                if (r >= 0)
                        r = buf_puts(b, "</td>");
                if (r >= 0)
                        r = num_cell(b, id, what, str(e, "key"), num(e, "count"));
                if (r >= 0)
                        r = buf_puts(b, "</tr>");
        }
        return r < 0 ? r : buf_puts(b, "</table>");
}

static int days_table(struct buf *b, const char *id, const json *crit)
{
        const json *by_day = json_obj_get(crit, "by_day"), *outs = json_obj_get(crit, "by_outcome");
        int r = buf_puts(b, "<table><tr><th>day (UTC)</th><th>events</th>");

        for (size_t i = 0; r >= 0 && i < json_len(outs); i++) {
                r = buf_puts(b, "<th>");
                if (r >= 0)
                        r = escs(b, str(json_arr_at(outs, i), "key"));
                if (r >= 0)
                        r = buf_puts(b, "</th>");
        }
        if (r >= 0)
                r = buf_puts(b, "</tr>");
        for (size_t d = 0; r >= 0 && d < json_len(by_day); d++) {
                const json *e = json_arr_at(by_day, d), *oc = json_obj_get(e, "outcomes");
                char key[16];
                const char *dk = str(e, "day");
                snprintf(key, sizeof(key), "%s", dk ? dk : "-");
                r = buf_printf(b, "<tr><td>%s</td>", key);
                if (r >= 0)
                        r = num_cell(b, id, "day", key, num(e, "count"));
                for (size_t i = 0; r >= 0 && i < json_len(outs); i++) {
                        const char *o = str(json_arr_at(outs, i), "key");
                        char k2[32];
                        snprintf(k2, sizeof(k2), "day/%s", key);
                        r = num_cell(b, id, k2, o, num(oc, o));
                }
                if (r >= 0)
                        r = buf_puts(b, "</tr>");
        }
        return r < 0 ? r : buf_puts(b, "</table>");
}

static int failures_table(struct buf *b, const char *id, const json *crit)
{
        static const char *const cols[] = { "seq", "time", "host", "app", "actor", "action",
                                            "target", "outcome", "message" };
        const json *f = json_obj_get(crit, "failures");
        int r = buf_puts(b, "<h3>Failures and denials</h3><p>");

        if (r >= 0)
                r = buf_puts(b, "<span data-k=\"");
        if (r >= 0)
                r = escs(b, id);
        if (r >= 0)
                r = buf_printf(b, "/failures_total\">%" PRId64 "</span> record(s) with outcome "
                               "failure or denied", num(crit, "failures_total"));
        if (r >= 0 && (int64_t)json_len(f) < num(crit, "failures_total"))
                r = buf_printf(b, "; the first %zu are listed (`gatelog query --outcome "
                               "failure` lists all)", json_len(f));
        if (r >= 0)
                r = buf_puts(b, ".</p>");
        if (r >= 0 && json_len(f) == 0)
                return 0;
        if (r >= 0)
                r = buf_puts(b, "<table><tr>");
        for (size_t i = 0; r >= 0 && i < sizeof(cols) / sizeof(*cols); i++)
                r = buf_printf(b, "<th>%s</th>", cols[i]);
        if (r >= 0)
                r = buf_puts(b, "</tr>");
        for (size_t j = 0; r >= 0 && j < json_len(f); j++) {
                const json *e = json_arr_at(f, j);
                r = buf_puts(b, "<tr>");
                for (size_t i = 0; r >= 0 && i < sizeof(cols) / sizeof(*cols); i++) {
                        r = buf_puts(b, "<td>");
                        if (r >= 0)
                                r = esc_json(b, json_obj_get(e, cols[i]));
                        if (r >= 0)
                                r = buf_puts(b, "</td>");
                }
                if (r >= 0)
                        r = buf_puts(b, "</tr>");
        }
        return r < 0 ? r : buf_puts(b, "</table>");
}

static int sample_list(struct buf *b, const json *crit)
{
        const json *s = json_obj_get(crit, "sample");
        int r = buf_puts(b, "<h3>Sampled records and their inclusion proofs</h3>"
                         "<p>To re-check one: save the proof text as <code>proof.json</code> and "
                         "run <code>gatelog verify-proof proof.json --pubkey KEY</code>, or check "
                         "it by hand as docs/FORMAT.md section 7 shows.</p>");

        for (size_t i = 0; r >= 0 && i < json_len(s); i++) {
                const json *e = json_arr_at(s, i);
                bool ok = json_bool(json_obj_get(e, "proof_verified"));
                r = buf_printf(b, "<details open><summary>seq %" PRId64 ": <span class=\"%s\">"
                               "proof %s</span>", num(e, "seq"), ok ? "ok" : "bad",
                               ok ? "verified" : "FAILED");
                if (r >= 0 && !ok) {
                        r = buf_puts(b, ": ");
                        if (r >= 0)
                                r = escs(b, str(e, "problem"));
                }
                if (r >= 0)
                        r = buf_puts(b, "</summary><pre>");
                if (r >= 0)
                        r = esc_json(b, json_obj_get(e, "proof"));
                if (r >= 0)
                        r = buf_puts(b, "</pre></details>");
        }
        return r;
}

static int criterion_section(struct buf *b, const json *rep, const json *crit)
{
        const char *id = str(crit, "id");
        int r = buf_puts(b, "<section class=\"criterion\" data-criterion=\"");

        if (r >= 0)
                r = escs(b, id);
        if (r >= 0)
                r = buf_puts(b, "\"><h2>Criterion ");
        if (r >= 0)
                r = escs(b, id);
        if (r >= 0)
                r = buf_puts(b, "</h2><table><tr><th>events in the period</th>");
        if (r >= 0)
                r = num_cell(b, id, "total", NULL, num(crit, "total"));
        if (r >= 0)
                r = buf_puts(b, "</tr></table><h3>Events per day by outcome</h3>");
        if (r >= 0)
                r = chart(b, rep, crit);
        if (r >= 0)
                r = days_table(b, id, crit);
        if (r >= 0)
                r = groups_table(b, id, "outcome", "Outcomes", "outcome",
                                 json_obj_get(crit, "by_outcome"));
        if (r >= 0)
                r = groups_table(b, id, "actor", "Top actors", "actor (user, else ip)",
                                 json_obj_get(crit, "top_actors"));
        if (r >= 0)
                r = buf_printf(b, "<p>%" PRId64 " distinct actor(s).</p>", num(crit, "n_actors"));
        if (r >= 0)
                r = groups_table(b, id, "target", "Top targets",
                                 "target (user, host, service, ip or path)",
                                 json_obj_get(crit, "top_targets"));
        if (r >= 0)
                r = buf_printf(b, "<p>%" PRId64 " distinct target(s).</p>", num(crit, "n_targets"));
        if (r >= 0)
                r = failures_table(b, id, crit);
        if (r >= 0)
                r = sample_list(b, crit);
        return r < 0 ? r : buf_puts(b, "</section>");
}

static int epochs_section(struct buf *b, const json *rep)
{
        static const char *const cols[] = { "epoch", "received from", "until", "records",
                                            "dropped", "malformed", "signing key_id",
                                            "verification", "flags" };
        const json *ep = json_obj_get(rep, "epochs");
        int r = buf_puts(b, "<section class=\"epochs\"><h2>Epochs in the period</h2><p>Sealed "
                         "epochs whose receipt interval overlaps the period, each checked by the "
                         "verifier (signature, key, hash chain, sequence, Merkle roots). Rows "
                         "with no events, drops or a failed check are highlighted.</p><table><tr>");

        for (size_t i = 0; r >= 0 && i < sizeof(cols) / sizeof(*cols); i++)
                r = buf_printf(b, "<th>%s</th>", cols[i]);
        if (r >= 0)
                r = buf_puts(b, "</tr>");
        for (size_t i = 0; r >= 0 && i < json_len(ep); i++) {
                const json *e = json_arr_at(ep, i), *fl = json_obj_get(e, "flags");
                const json *pr = json_obj_get(e, "problems");
                bool ok = json_bool(json_obj_get(e, "verified"));
                char k[32];
                snprintf(k, sizeof(k), "%" PRId64, num(e, "epoch"));
                r = buf_printf(b, "<tr%s><td>%s</td><td>", json_len(fl) ? " class=\"flag\"" : "", k);
                if (r >= 0)
                        r = esc_json(b, json_obj_get(e, "start"));
                if (r >= 0)
                        r = buf_puts(b, "</td><td>");
                if (r >= 0)
                        r = esc_json(b, json_obj_get(e, "end"));
                if (r >= 0)
                        r = buf_puts(b, "</td>");
                if (r >= 0)
                        r = num_cell(b, "epoch", k, "count", num(e, "count"));
                if (r >= 0)
                        r = num_cell(b, "epoch", k, "dropped", num(e, "dropped"));
                if (r >= 0)
                        r = num_cell(b, "epoch", k, "malformed", num(e, "malformed"));
                if (r >= 0)
                        r = buf_puts(b, "<td><code>");
                if (r >= 0)
                        r = esc_json(b, json_obj_get(e, "key_id"));
                if (r >= 0)
                        r = buf_printf(b, "</code></td><td class=\"%s\">%s", ok ? "ok" : "bad",
                                       ok ? "verified" : "FAILED");
                for (size_t j = 0; r >= 0 && j < json_len(pr); j++) {
                        r = buf_puts(b, "<br>");
                        if (r >= 0)
                                r = esc_json(b, json_arr_at(pr, j));
                }
                if (r >= 0)
                        r = buf_puts(b, "</td><td>");
                for (size_t j = 0; r >= 0 && j < json_len(fl); j++) {
                        r = j ? buf_puts(b, ", ") : 0;
                        if (r >= 0)
                                r = esc_json(b, json_arr_at(fl, j));
                }
                if (r >= 0)
                        r = buf_puts(b, "</td></tr>");
        }
        return r < 0 ? r : buf_puts(b, "</table></section>");
}

static int summary_section(struct buf *b, const json *rep)
{
        const json *v = json_obj_get(rep, "verification"), *k = json_obj_get(rep, "keys");
        const json *src = json_obj_get(rep, "source"), *p = json_obj_get(rep, "period");
        const json *cp = json_obj_get(v, "chain_problems");
        bool ok = json_bool(json_obj_get(v, "ok"));
        int r = buf_puts(b, "<section class=\"summary\"><table><tr><th>period (event time)</th>"
                         "<td>");

        if (r >= 0)
                r = escs(b, str(p, "since"));
        if (r >= 0)
                r = buf_puts(b, " to ");
        if (r >= 0)
                r = escs(b, str(p, "until"));
        if (r >= 0)
                r = buf_puts(b, " (until excluded)</td></tr><tr><th>source</th><td>");
        if (r >= 0)
                r = esc_json(b, src);
        if (r >= 0)
                r = buf_puts(b, "</td></tr><tr><th>generated</th><td>");
        if (r >= 0)
                r = escs(b, str(rep, "generated"));
        if (r >= 0)
                r = buf_printf(b, "</td></tr><tr><th>sample seed</th><td>%" PRId64 "</td></tr>"
                               "<tr><th>verification of the chain</th><td class=\"%s\" "
                               "data-k=\"verification/ok\">%s</td></tr><tr><th>epochs checked"
                               "</th>", num(rep, "seed"), ok ? "ok" : "bad",
                               ok ? "OK" : "FAILED");
        if (r >= 0)
                r = num_cell(b, "verification", "epochs_checked", NULL,
                             num(v, "epochs_checked"));
        if (r >= 0)
                r = buf_puts(b, "</tr><tr><th>problems found</th>");
        if (r >= 0)
                r = num_cell(b, "verification", "problems", NULL, num(v, "problems"));
        for (size_t i = 0; r >= 0 && i < json_len(cp); i++) {
                r = buf_puts(b, "</tr><tr><th>chain problem</th><td class=\"bad\">");
                if (r >= 0)
                        r = esc_json(b, json_arr_at(cp, i));
                if (r >= 0)
                        r = buf_puts(b, "</td>");
        }
        if (r >= 0)
                r = buf_puts(b, "</tr><tr><th>pinned public key (key_id = SHA-256 of the raw "
                             "key)</th><td><code>");
        if (r >= 0)
                r = escs(b, str(k, "pinned_key_id"));
        if (r >= 0)
                r = buf_puts(b, "</code></td></tr><tr><th>keys that signed epochs of the "
                             "period</th><td>");
        for (size_t i = 0; r >= 0 && i < json_len(json_obj_get(k, "signing_key_ids")); i++) {
                r = buf_puts(b, i ? "<br><code>" : "<code>");
                if (r >= 0)
                        r = esc_json(b, json_arr_at(json_obj_get(k, "signing_key_ids"), i));
                if (r >= 0)
                        r = buf_puts(b, "</code>");
        }
        if (r >= 0)
                r = buf_puts(b, "</td></tr><tr><th>key rotations</th><td>");
        for (size_t i = 0; r >= 0 && i < json_len(json_obj_get(k, "rotations")); i++) {
                const json *e = json_arr_at(json_obj_get(k, "rotations"), i);
                r = buf_printf(b, "%sepoch %" PRId64 " announces <code>", i ? "<br>" : "",
                               num(e, "epoch"));
                if (r >= 0)
                        r = escs(b, str(e, "key_id"));
                if (r >= 0)
                        r = buf_puts(b, "</code>");
        }
        if (r >= 0 && json_len(json_obj_get(k, "rotations")) == 0)
                r = buf_puts(b, "none");
        return r < 0 ? r : buf_puts(b, "</td></tr></table></section>");
}

int report_html(const json *rep, struct buf *b)
{
        const json *crits = json_obj_get(rep, "criteria");
        int r = buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                           "<title>gatelog evidence report</title><style>%s</style></head>"
                           "<body><h1>gatelog evidence report</h1>", css);

        if (r >= 0)
                r = buf_puts(b, "<p>Criteria: ");
        for (size_t i = 0; r >= 0 && i < json_len(crits); i++) {
                r = i ? buf_puts(b, ", ") : 0;
                if (r >= 0)
                        r = escs(b, str(json_arr_at(crits, i), "id"));
        }
        if (r >= 0)
                r = buf_puts(b, ". Counts are records of sealed epochs whose event time falls in "
                             "the period; they equal <code>gatelog query --criterion ID --since "
                             "T --until T --count</code>.</p>");
        if (r >= 0)
                r = summary_section(b, rep);
        if (r >= 0)
                r = epochs_section(b, rep);
        for (size_t i = 0; r >= 0 && i < json_len(crits); i++)
                r = criterion_section(b, rep, json_arr_at(crits, i));
        return r < 0 ? r : buf_puts(b, "</body></html>\n");
}
