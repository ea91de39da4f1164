/* `gatelog query`: prints stored records chosen by criterion, event time and host, and
 * (issue 10) by actor, action, target, outcome, rule and app (cli/query-match.h), or counts
 * them (--count, --group-by). --dedupe (issue 6) takes each Kafka message once when a
 * failover left it in several chains (docs/FORMAT.md section 11).
 *
 * Only records of sealed epochs are printed unless --include-open, so that what an auditor
 * sees has a signature behind it. The database is opened read-only and records are streamed
 * one at a time, so any result size prints in constant memory. jsonl prints each record's
 * stored bytes exactly (the bytes that were hashed); csv (RFC 4180) and table are views
 * built from the parsed record. Text shown in the table is made safe for a terminal:
 * control characters and bidirectional overrides from log messages are replaced. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/query-match.h"  /* issue 10 */
#include "core/buf.h"
#include "core/json.h"
#include "core/tm.h"
#include "outputs/outputs.h"
#include "outputs/s3.h"  /* issue 7: --export */
#include "seal/seal.h"

#define QUERY_DEFAULT_DB "var/gatelog.db"
#define QUERY_TABLE_WIDTH 80

enum query_format { QUERY_JSONL, QUERY_CSV, QUERY_TABLE };

struct query_ctx {
        enum query_format format;
        struct buf line;
        struct buf field;
        int64_t n_bad;          /* records whose bytes are not JSON (csv/table) */
        /* issue 10: filters, counts, groups, spreadsheet-safe CSV */
        const struct query_match *match;
        bool count;             /* count instead of printing records */
        const char *group_by;   /* NULL or a query_group_valid name */
        struct query_groups groups;
        uint64_t n_match;
        bool csv_safe;
        struct buf key;
        bool dedupe;            /* issue 6: each Kafka (topic, partition, offset) once */
        struct query_seen seen;
        uint64_t n_deduped;
};

static void query_usage(FILE *f)
{
        fprintf(f,
                "Usage: gatelog query [--db FILE] [--criterion ID] [--since T] [--until T]\n"
                "                     [--host H] [--include-open] [--format jsonl|csv|table]\n"
                "                     [--actor V] [--action V] [--target V] [--outcome V]\n"
                "                     [--rule V] [--app V] [--count] [--group-by G]\n"
                "                     [--csv-safe] [--bom] [--dedupe]\n"
                "\n"
                "Prints the records of sealed epochs that match every given filter, in seq order.\n"
                "\n"
                "  -d, --db FILE        database (default " QUERY_DEFAULT_DB "), opened read-only\n"
                "  -c, --criterion ID   records tagged with this criterion (e.g. CC6.1)\n"
                "  -s, --since T        event time at or after T\n"
                "  -u, --until T        event time before T\n"
                "  -H, --host H         records from this host\n"
                "  -o, --include-open   also records of the open (not yet sealed) epoch\n"
                "  -f, --format FORMAT  jsonl (default: the stored bytes, one record a line),\n"
                "                       csv (RFC 4180, with a header) or table\n"
                "  -e, --export WHERE   read an export instead (a folder or s3://BUCKET/PREFIX,\n"
                "                       every chain); needs --pubkey: only records of epochs\n"
                "                       that verify are printed, the others are named on stderr\n"
                "                       (exit 1)\n"
                "  -k, --pubkey FILE    the public key the export must verify against (the chain's\n"
                "                       first key; rotations are followed)\n"
                "  -C, --chain NAME     with --export: only this chain\n"
                "  -h, --help           show this help\n"
                "\n"
                "Filters on the record's members (repeat one to match any of its values; all\n"
                "different filters must match; V ending in '*' matches a prefix):\n"
                "  --action V, --outcome V, --rule V, --app V   the member is the string V\n"
                "  --actor V, --target V   the member is V or an object with a string member V\n"
                "                       (user, ip, host, ...); KEY=V: the member KEY is V\n"
                "  --count              print the number of matching records\n"
                "  --group-by G         count per G: day (UTC, event time), actor (its user,\n"
                "                       else ip), outcome, rule, app, host, action; as a table\n"
                "                       unless --format csv|jsonl\n"
                "  --csv-safe           prefix ' to CSV cells starting with = + - @ TAB CR, so\n"
                "                       that spreadsheets show them as text, not formulas (this\n"
                "                       changes the evidence text: off by default)\n"
                "  --bom                start the CSV with a UTF-8 byte order mark (Excel)\n"
                "  --dedupe             each Kafka message once: a record whose topic, partition\n"
                "                       and offset an earlier matching record holds (a failover's\n"
                "                       redelivery in another chain) is left out, and counted\n"
                "                       on stderr\n"
                "\n"
                "T is RFC 3339 (2026-01-31T12:00:00Z, 2026-01-31T13:00:00+01:00) or a date\n"
                "(2026-01-31, midnight UTC).\n");
}

/* ---- csv (RFC 4180) ---- */

static const char *const csv_columns[] = {
        "seq", "received", "time", "host", "app", "facility", "severity", "rule", "criteria",
        "outcome", "actor", "action", "target", "message",  /* actor..target: issue 10 */
};

/* The text of a member: strings as they are, null or absent as empty, arrays of strings
 * joined by ';', anything else as canonical JSON. */
static int field_text(const json *v, struct buf *out)
{
        const char *s;
        size_t n;

        buf_reset(out);
        switch (v ? json_type_of(v) : JSON_NULL) {
        case JSON_NULL:
                return 0;
        case JSON_STR:
                s = json_str(v, &n);
                return buf_append(out, s, n);
        case JSON_OBJ:  /* issue 10: actor, target as "user=alice;ip=10.0.0.5" */
                for (size_t i = 0; i < json_len(v); i++) {
                        const char *k;
                        size_t kl;
                        const json *e = json_obj_at(v, i, &k, &kl);
                        int r = i ? buf_putc(out, ';') : 0;
                        if (r >= 0)
                                r = buf_append(out, k, kl);
                        if (r >= 0)
                                r = buf_putc(out, '=');
                        if (r >= 0 && json_type_of(e) == JSON_STR) {
                                s = json_str(e, &n);
                                r = buf_append(out, s, n);
                        } else if (r >= 0) {
                                r = json_canon(e, out);
                        }
                        if (r < 0)
                                return r;
                }
                return 0;
        case JSON_ARR:
                for (size_t i = 0; i < json_len(v); i++) {
                        const json *e = json_arr_at(v, i);
                        int r = i ? buf_putc(out, ';') : 0;
                        if (r >= 0 && json_type_of(e) == JSON_STR) {
                                s = json_str(e, &n);
                                r = buf_append(out, s, n);
                        } else if (r >= 0) {
                                r = json_canon(e, out);
                        }
                        if (r < 0)
                                return r;
                }
                return 0;
        default:
                return json_canon(v, out);
        }
}

/* RFC 4180 section 2: a field holding a comma, quote, CR or LF is quoted, quotes doubled. */
static int csv_put(struct buf *line, const char *s, size_t n, bool first)
{
        int r = first ? 0 : buf_putc(line, ',');

        if (r < 0 || strcspn(s, ",\"\r\n") == n)
                return r < 0 ? r : buf_append(line, s, n);
        r = buf_putc(line, '"');
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = s[i] == '"' ? buf_append(line, "\"\"", 2) : buf_putc(line, s[i]);
        return r < 0 ? r : buf_putc(line, '"');
}

/* issue 10, --csv-safe: a cell a spreadsheet would take for a formula (starting with
 * = + - @ TAB CR; OWASP's CSV injection list) gets a leading ', inside the quotes if any. */
static int csv_put_cell(struct buf *line, const char *s, size_t n, bool first, bool safe)
{
        bool quote;
        int r;

        if (!safe || n == 0 || !strchr("=+-@\t\r", s[0]))
                return csv_put(line, s, n, first);
        r = first ? 0 : buf_putc(line, ',');
        quote = strcspn(s, ",\"\r\n") != n;
        if (r >= 0)
                r = buf_append(line, quote ? "\"'" : "'", quote ? 2 : 1);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = quote && s[i] == '"' ? buf_append(line, "\"\"", 2) : buf_putc(line, s[i]);
        return r < 0 || !quote ? r : buf_putc(line, '"');
}

static int csv_header(struct query_ctx *c)
{
        int r = 0;

        for (size_t i = 0; r >= 0 && i < sizeof(csv_columns) / sizeof(csv_columns[0]); i++)
                r = csv_put(&c->line, csv_columns[i], strlen(csv_columns[i]), i == 0);
        return r < 0 ? r : buf_append(&c->line, "\r\n", 2);
}

static int csv_row(struct query_ctx *c, const struct store_record *rec, const json *j)
{
        int r = buf_printf(&c->line, "%lld", (long long)rec->seq);

        for (size_t i = 1; r >= 0 && i < sizeof(csv_columns) / sizeof(csv_columns[0]); i++) {
                r = field_text(j ? json_obj_get(j, csv_columns[i]) : NULL, &c->field);
                if (r >= 0)
                        r = csv_put_cell(&c->line, c->field.data ? c->field.data : "",
                                         c->field.len, false, c->csv_safe);
        }
        return r < 0 ? r : buf_append(&c->line, "\r\n", 2);
}

/* ---- table ---- */

/* Length of the UTF-8 sequence at s (1 for a byte that starts none). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
        size_t k = s[0] < 0x80 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;

        if (k > n)
                return 1;
        for (size_t i = 1; i < k; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 1;
        return k;
}

/* Would this character rewrite the terminal or reorder the text around it? C0 and C1
 * controls, DEL, and the bidirectional embeddings, overrides and isolates. */
static bool char_unsafe(const unsigned char *s, size_t k)
{
        if (k == 1)
                return s[0] < 0x20 || s[0] >= 0x7f;
        if (k == 2)
                return s[0] == 0xc2 && s[1] < 0xa0;
        return k == 3 && s[0] == 0xe2 &&
               ((s[1] == 0x80 && s[2] >= 0xaa && s[2] <= 0xae) ||
                (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9));
}

/* Appends s cut to width characters (the last one '~' when cut) and, when pad, spaces up to
 * width. Characters are counted as one column each, which fits the log text we see. */
static int table_cell(struct buf *line, const char *s, size_t n, size_t width, bool pad)
{
        const unsigned char *p = (const unsigned char *)(s ? s : "-");
        size_t cols = 0;
        int r = 0;

        if (!s)
                n = 1;
        for (size_t i = 0; r >= 0 && i < n && cols < width; cols++) {
                size_t k = utf8_seq_len(p + i, n - i);
                bool cut = cols + 1 == width && i + k < n;
                if (cut)
                        r = buf_putc(line, '~');
                else if (char_unsafe(p + i, k))
                        r = buf_putc(line, p[i] == '\t' || p[i] == '\n' ? ' ' : '?');
                else
                        r = buf_append(line, p + i, k);
                i += k;
        }
        for (; r >= 0 && pad && cols < width; cols++)
                r = buf_putc(line, ' ');
        return r;
}

/* SEQ TIME HOST APP MESSAGE, 80 columns in all. */
#define TW_SEQ 7
#define TW_TIME 20
#define TW_HOST 12
#define TW_APP 10
#define TW_MSG (QUERY_TABLE_WIDTH - TW_SEQ - TW_TIME - TW_HOST - TW_APP - 4)

static int table_header(struct query_ctx *c)
{
        return buf_printf(&c->line, "%-*s %-*s %-*s %-*s %s\n", TW_SEQ, "SEQ", TW_TIME, "TIME",
                          TW_HOST, "HOST", TW_APP, "APP", "MESSAGE");
}

static int table_str(struct buf *line, const json *j, const char *key, size_t width, bool pad)
{
        size_t n = 0;
        const char *s = j ? json_str(json_obj_get(j, key), &n) : NULL;

        return table_cell(line, s, n, width, pad);
}

static int table_row(struct query_ctx *c, const struct store_record *rec, const json *j)
{
        char t[TM_RFC3339_LEN], *dot;
        int r;

        tm_format_rfc3339(rec->time_us, t);
        dot = strchr(t, '.');
        if (dot)
                strcpy(dot, "Z");
        r = buf_printf(&c->line, "%-*lld %-*s ", TW_SEQ, (long long)rec->seq, TW_TIME, t);
        if (r >= 0)
                r = table_cell(&c->line, rec->host, rec->host ? strlen(rec->host) : 0,
                               TW_HOST, true);
        if (r >= 0)
                r = buf_putc(&c->line, ' ');
        if (r >= 0)
                r = table_str(&c->line, j, "app", TW_APP, true);
        if (r >= 0)
                r = buf_putc(&c->line, ' ');
        if (r >= 0)
                r = table_str(&c->line, j, "message", TW_MSG, false);
        return r < 0 ? r : buf_putc(&c->line, '\n');
}

/* ---- the walk ---- */

static int record_cb(void *ud, const struct store_record *rec)
{
        struct query_ctx *c = ud;
        json *j = NULL;
        int r;
        bool filter = query_match_any(c->match);  /* issue 10 */

        if (c->format == QUERY_JSONL && !filter && !c->count &&
            !(c->dedupe && memmem(rec->data, rec->len, "\"kind\":\"kafka\"", 14))) {
                if (fwrite(rec->data, 1, rec->len, stdout) != rec->len || putchar('\n') == EOF)
                        return -EIO;
                return 0;
        }
        if (json_parse(rec->data, rec->len, &j, NULL) < 0 || json_type_of(j) != JSON_OBJ) {
                fprintf(stderr, "gatelog query: record %lld is not a JSON object\n",
                        (long long)rec->seq);
                json_free(j);
                j = NULL;
                c->n_bad++;
        }
        /* issue 10: filters, then counting or printing */
        if (filter && (!j || !query_match_record(c->match, j))) {
                json_free(j);
                return 0;
        }
        /* issue 6: the first matching copy of a Kafka message stands for all of them. */
        if (c->dedupe && j && (r = query_seen_take(&c->seen, j)) <= 0) {
                json_free(j);
                c->n_deduped += r == 0;
                return r;
        }
        if (c->count) {
                c->n_match++;
                r = 0;
                if (c->group_by) {
                        buf_reset(&c->key);
                        r = query_group_key(c->group_by, j, rec->time_us, &c->key);
                        if (r >= 0)
                                r = query_groups_add(&c->groups, c->key.data ? c->key.data : "",
                                                     c->key.len, 1);
                }
                json_free(j);
                return r;
        }
        if (c->format == QUERY_JSONL) {
                json_free(j);
                if (fwrite(rec->data, 1, rec->len, stdout) != rec->len || putchar('\n') == EOF)
                        return -EIO;
                return 0;
        }
        buf_reset(&c->line);
        r = c->format == QUERY_CSV ? csv_row(c, rec, j) : table_row(c, rec, j);
        json_free(j);
        if (r < 0)
                return r;
        return fwrite(c->line.data, 1, c->line.len, stdout) == c->line.len ? 0 : -EIO;
}

/* issue 10: the header, or with --bom its byte order mark first; nothing when counting. */
static int query_start(struct query_ctx *c, bool bom)
{
        int r = 0;

        if (c->count)
                return 0;
        buf_reset(&c->line);
        if (bom && c->format == QUERY_CSV)
                r = buf_append(&c->line, "\xef\xbb\xbf", 3);
        if (r >= 0 && c->format != QUERY_JSONL)
                r = c->format == QUERY_CSV ? csv_header(c) : table_header(c);
        /* JSON lines have no header: line.data may still be NULL (fwrite wants a buffer). */
        if (r >= 0 && c->line.len && fwrite(c->line.data, 1, c->line.len, stdout) != c->line.len)
                r = -EIO;
        return r;
}

/* issue 10: --count and --group-by results. fmt_set: --format was given. */
static int query_counts(struct query_ctx *c, bool fmt_set, bool bom)
{
        struct buf *l = &c->line;
        int r = 0;

        if (!c->count)
                return 0;
        buf_reset(l);
        if (bom && c->format == QUERY_CSV)
                r = buf_append(l, "\xef\xbb\xbf", 3);
        if (!c->group_by) {
                if (!fmt_set || c->format == QUERY_TABLE)
                        r = buf_printf(l, "%llu\n", (unsigned long long)c->n_match);
                else if (c->format == QUERY_CSV)
                        r = buf_printf(l, "count\r\n%llu\r\n", (unsigned long long)c->n_match);
                else
                        r = buf_printf(l, "{\"count\":%llu}\n", (unsigned long long)c->n_match);
                return r >= 0 && fwrite(l->data, 1, l->len, stdout) != l->len ? -EIO : r;
        }
        query_groups_sort(&c->groups, strcmp(c->group_by, "day") != 0);
        if (fmt_set && c->format == QUERY_CSV && r >= 0)
                r = buf_printf(l, "%s,count\r\n", c->group_by);
        else if ((!fmt_set || c->format == QUERY_TABLE) && r >= 0)
                r = buf_printf(l, "%-40s %s\n", c->group_by, "COUNT");
        for (size_t i = 0; r >= 0 && i < c->groups.n; i++) {
                const struct query_group *g = &c->groups.v[i];
                if (fmt_set && c->format == QUERY_CSV) {
                        r = csv_put_cell(l, g->key, g->key_len, true, c->csv_safe);
                        if (r >= 0)
                                r = buf_printf(l, ",%llu\r\n", (unsigned long long)g->count);
                } else if (fmt_set && c->format == QUERY_JSONL) {
                        json *o = json_new_obj();
                        r = o ? json_obj_set(o, c->group_by, json_new_strn(g->key, g->key_len))
                              : -ENOMEM;
                        if (r >= 0)
                                r = json_obj_set_int(o, "count", (int64_t)g->count);
                        if (r >= 0)
                                r = json_canon(o, l);
                        json_free(o);
                        if (r >= 0)
                                r = buf_putc(l, '\n');
                } else {
                        r = table_cell(l, g->key, g->key_len, 40, true);
                        if (r >= 0)
                                r = buf_printf(l, " %llu\n", (unsigned long long)g->count);
                }
        }
        if (r >= 0 && fwrite(l->data, 1, l->len, stdout) != l->len)
                r = -EIO;
        return r;
}

static void query_ctx_free(struct query_ctx *c)
{
        buf_free(&c->line);
        buf_free(&c->field);
        buf_free(&c->key);
        query_groups_free(&c->groups);
        query_seen_free(&c->seen);
}

/* issue 6: what --dedupe left out, on stderr (stdout holds the records or counts). */
static void query_dedupe_note(const struct query_ctx *c)
{
        if (c->dedupe)
                fprintf(stderr, "gatelog query: --dedupe left out %llu redelivered "
                        "cop%s of Kafka messages\n", (unsigned long long)c->n_deduped,
                        c->n_deduped == 1 ? "y" : "ies");
}

static int query_run(const char *db, const struct store_query *q, const struct query_ctx *tmpl,
                     bool fmt_set, bool bom)
{
        struct query_ctx c = *tmpl;
        struct store_error err;
        struct store *s = NULL;
        int r = store_open(db, STORE_READONLY, &s, &err);

        if (r == -ENOENT) {
                fprintf(stderr, "gatelog query: no database at %s (pass --db FILE)\n", db);
                return 3;
        }
        if (r < 0) {
                fprintf(stderr, "gatelog query: cannot open %s\n", err.msg);
                return 3;
        }
        r = query_start(&c, bom);  /* issue 10 */
        if (r >= 0)
                r = store_query(s, q, record_cb, &c);
        if (r >= 0)
                r = query_counts(&c, fmt_set, bom);
        if (r >= 0 && fflush(stdout) != 0)
                r = -EIO;
        if (r >= 0)
                query_dedupe_note(&c);
        if (r < 0)
                fprintf(stderr, "gatelog query: %s: %s\n", db,
                        r == -EIO && store_errmsg(s)[0] ? store_errmsg(s) : strerror(-r));
        query_ctx_free(&c);
        store_close(s);
        return r < 0 || c.n_bad > 0 ? 3 : 0;
}

/* ---- from an export (issue 7) ---- */

static void query_skipped_cb(void *ud, const char *what)
{
        (void)ud;
        fprintf(stderr, "gatelog query: %s\n", what);
}

static int query_export_run(const char *where, const char *chain, const char *pub,
                            const struct store_query *q, const struct query_ctx *tmpl,
                            bool fmt_set, bool bom)
{
        struct query_ctx c = *tmpl;
        struct seal_error kerr = { { 0 } };
        struct store_error err = { { 0 } };
        uint8_t pk[SEAL_PK_LEN];
        uint64_t skipped = 0;
        int r = 0;

        if (seal_pubkey_load(pub, pk, &kerr) < 0) {
                fprintf(stderr, "gatelog query: %s: %s\n", pub, kerr.msg);
                return 2;
        }
        r = query_start(&c, bom);  /* issue 10 */
        if (r >= 0)
                r = export_query(where, chain, pk, q, record_cb, query_skipped_cb, &c, &skipped,
                                 &err);
        if (r >= 0)
                r = query_counts(&c, fmt_set, bom);
        if (r >= 0 && fflush(stdout) != 0)
                r = -EIO;
        if (r >= 0)
                query_dedupe_note(&c);
        if (r < 0)
                fprintf(stderr, "gatelog query: %s: %s\n", where,
                        err.msg[0] ? err.msg : strerror(-r));
        query_ctx_free(&c);
        return r < 0 || c.n_bad > 0 ? 3 : skipped > 0 ? 1 : 0;
}

static int parse_time(const char *opt, const char *s, int64_t *ret)
{
        if (tm_parse_rfc3339(s, strlen(s), 1, ret) == 0)
                return 0;
        fprintf(stderr, "gatelog query: %s '%s' is neither RFC 3339 nor YYYY-MM-DD\n", opt, s);
        return -EINVAL;
}

static int parse_format(const char *s, enum query_format *ret)
{
        static const char *const names[] = { "jsonl", "csv", "table" };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (enum query_format)i;
                        return 0;
                }
        fprintf(stderr, "gatelog query: unknown format '%s'\n", s);
        return -EINVAL;
}

int cmd_query(int argc, char **argv)
{
        static const struct option opts[] = {
                { "db", required_argument, NULL, 'd' },
                { "criterion", required_argument, NULL, 'c' },
                { "since", required_argument, NULL, 's' },
                { "until", required_argument, NULL, 'u' },
                { "host", required_argument, NULL, 'H' },
                { "include-open", no_argument, NULL, 'o' },
                { "format", required_argument, NULL, 'f' },
                { "export", required_argument, NULL, 'e' },  /* issue 7 */
                { "pubkey", required_argument, NULL, 'k' },
                { "chain", required_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },
                /* issue 10: filters, counts, spreadsheet CSV (long options only) */
                { "actor", required_argument, NULL, 1000 + QF_ACTOR },
                { "action", required_argument, NULL, 1000 + QF_ACTION },
                { "target", required_argument, NULL, 1000 + QF_TARGET },
                { "outcome", required_argument, NULL, 1000 + QF_OUTCOME },
                { "rule", required_argument, NULL, 1000 + QF_RULE },
                { "app", required_argument, NULL, 1000 + QF_APP },
                { "count", no_argument, NULL, 1100 },
                { "group-by", required_argument, NULL, 1101 },
                { "csv-safe", no_argument, NULL, 1102 },
                { "bom", no_argument, NULL, 1103 },
                { "dedupe", no_argument, NULL, 1104 },  /* issue 6 */
                { NULL, 0, NULL, 0 },
        };
        struct query_match match;  /* issue 10 */
        memset(&match, 0, sizeof(match));
        struct query_ctx ctx = { .line = BUF_INIT, .field = BUF_INIT, .key = BUF_INIT,
                                 .match = &match };
        bool fmt_set = false, bom = false;
        struct store_query q = { NULL, NULL, INT64_MIN, INT64_MAX, false };
        enum query_format format = QUERY_JSONL;
        const char *db = QUERY_DEFAULT_DB;
        const char *exp = NULL, *pub = NULL, *chain = NULL;  /* issue 7 */
        int c, r = 0;

        /* 0 makes glibc's getopt start afresh, whatever main parsed before. */
        optind = 0;
        while (r >= 0 && (c = getopt_long(argc, argv, "d:c:s:u:H:of:e:k:C:h", opts, NULL)) != -1) {
                switch (c) {
                case 'd': db = optarg; break;
                case 'c': q.criterion = optarg; break;
                case 'H': q.host = optarg; break;
                case 'o': q.include_open = true; break;
                case 's': r = parse_time("--since", optarg, &q.since_us); break;
                case 'u': r = parse_time("--until", optarg, &q.until_us); break;
                case 'f': r = parse_format(optarg, &format); fmt_set = true; break;
                case 1100: ctx.count = true; break;  /* issue 10 */
                case 1101:
                        ctx.group_by = optarg;
                        ctx.count = true;
                        if (!query_group_valid(optarg)) {
                                fprintf(stderr, "gatelog query: --group-by %s: not one of day, "
                                        "actor, outcome, rule, app, host, action\n", optarg);
                                r = -EINVAL;
                        }
                        break;
                case 1102: ctx.csv_safe = true; break;
                case 1103: bom = true; break;
                case 1104: ctx.dedupe = true; break;
                case 'e': exp = optarg; break;
                case 'k': pub = optarg; break;
                case 'C': chain = optarg; break;
                case 'h':
                        query_usage(stdout);
                        return 0;
                default:
                        if (c >= 1000 && c < 1000 + QF_N) {  /* issue 10: filters */
                                static const char *const names[QF_N] = {
                                        "actor", "action", "target", "outcome", "rule", "app",
                                };
                                r = query_match_add(&match, names[c - 1000], optarg);
                                if (r == -E2BIG)
                                        fprintf(stderr, "gatelog query: --%s given more than "
                                                "%d times\n", names[c - 1000],
                                                QUERY_VALUES_MAX);
                                break;
                        }
                        r = -EINVAL;
                        break;
                }
        }
        if (r >= 0 && optind < argc) {
                fprintf(stderr, "gatelog query: unexpected argument '%s'\n", argv[optind]);
                r = -EINVAL;
        }
        if (r >= 0 && q.since_us >= q.until_us) {
                fprintf(stderr, "gatelog query: --since must be before --until\n");
                r = -EINVAL;
        }
        if (r >= 0 && exp && !pub) {  /* issue 7 */
                fprintf(stderr, "gatelog query: --export needs --pubkey\n");
                r = -EINVAL;
        }
        if (r < 0) {
                query_usage(stderr);
                return 2;
        }
        ctx.format = format;
        if (exp)
                return query_export_run(exp, chain, pub, &q, &ctx, fmt_set, bom);
        return query_run(db, &q, &ctx, fmt_set, bom);
}
