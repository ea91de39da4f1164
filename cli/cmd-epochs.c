/* `gatelog epochs`: one line per epoch of the store (interval, record count, per-criterion
 * counts, Merkle root, open or sealed) and the export backlog of each output at the end.
 *
 * Opens the database read-only, so it is safe to run beside the daemon; it reads one epoch
 * row at a time, so a store of years of hourly epochs prints without holding them. Table
 * form is for people (short root, times to the second); jsonl form is for scripts (full
 * root, RFC 3339 times with microseconds, one canonical JSON object per line). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/tm.h"
#include "outputs/outputs.h"

#define EPOCHS_DEFAULT_DB "var/gatelog.db"
#define EPOCHS_SHORT_ROOT 12 /* hex digits of the root shown in table form */

enum epochs_format { EPOCHS_TABLE, EPOCHS_JSONL };

struct epochs_ctx {
        struct store *s;
        enum epochs_format format;
        struct buf line;
        struct buf crit;    /* table: "CC6.1=3 CC7.2=1" */
        json *crit_obj;     /* jsonl: {"CC6.1":3} */
        int64_t n_epochs;
};

static void epochs_usage(FILE *f)
{
        fprintf(f,
                "Usage: gatelog epochs [--db FILE] [--format table|jsonl]\n"
                "\n"
                "Lists the epochs of the store: number, interval, record count, records per\n"
                "criterion, Merkle root, state (open or sealed), and the export backlog.\n"
                "\n"
                "  -d, --db FILE        database (default " EPOCHS_DEFAULT_DB "), opened read-only\n"
                "  -f, --format FORMAT  table (default) or jsonl: one JSON object per epoch,\n"
                "                       then a last line {\"backlog\":{OUTPUT:PENDING,...}}\n"
                "  -h, --help           show this help\n");
}

/* "2026-01-01T00:00:00Z": the table shows seconds; epochs start on whole seconds anyway. */
static void time_short(int64_t us, char out[TM_RFC3339_LEN])
{
        char *dot;

        tm_format_rfc3339(us, out);
        dot = strchr(out, '.');
        if (dot)
                strcpy(dot, "Z");
}

static int crit_cb(void *ud, const char *id, int64_t count)
{
        struct epochs_ctx *c = ud;

        if (c->format == EPOCHS_JSONL)
                return json_obj_set_int(c->crit_obj, id, count);
        return buf_printf(&c->crit, "%s%s=%lld", c->crit.len ? " " : "", id, (long long)count);
}

/* Under an epoch's line, what did not become mapped evidence: records no rule mapped, per
 * app (rule gaps), and events dropped (by reason and by rule). Silent when all is well. */
static int epoch_table_gaps(struct epochs_ctx *c, const struct store_epoch *e)
{
        static const char *const what[] = { "unmapped", "dropped", "dropped_by_rule" };
        json *st = NULL;
        int r = 0;

        if (!e->stats || json_parse(e->stats, strlen(e->stats), &st, NULL) < 0)
                return 0;
        for (size_t k = 0; r >= 0 && k < sizeof(what) / sizeof(what[0]); k++) {
                const json *m = json_obj_get(st, what[k]);
                bool any = false;
                for (size_t i = 0; r >= 0 && i < json_len(m); i++) {
                        const char *name;
                        int64_t n = json_int(json_obj_at(m, i, &name, NULL));
                        if (n == 0)
                                continue;
                        if (!any)
                                r = buf_printf(&c->line, "        %s:", what[k]);
                        if (r >= 0)
                                r = buf_printf(&c->line, " %s=%lld", name, (long long)n);
                        any = true;
                }
                if (any && r >= 0)
                        r = buf_putc(&c->line, '\n');
        }
        json_free(st);
        return r;
}

static int epoch_table(struct epochs_ctx *c, const struct store_epoch *e)
{
        char start[TM_RFC3339_LEN], end[TM_RFC3339_LEN], root[HASH_HEX_LEN] = "-";

        time_short(e->start_us, start);
        time_short(e->end_us, end);
        if (e->sealed) {
                hash_hex(e->root, HASH_LEN, root);
                root[EPOCHS_SHORT_ROOT] = '\0';
        }
        int r = buf_printf(&c->line, "%6lld  %s..%s  %9lld  %-6s  %-12s  %s\n",
                           (long long)e->epoch, start, end, (long long)e->count,
                           e->sealed ? "sealed" : "open", root,
                           c->crit.len ? c->crit.data : "-");
        return r < 0 ? r : epoch_table_gaps(c, e);
}

static int epoch_jsonl(struct epochs_ctx *c, const struct store_epoch *e)
{
        char t[TM_RFC3339_LEN], root[HASH_HEX_LEN];
        json *o = json_new_obj(), *stats = NULL;
        int r = o ? 0 : -ENOMEM;

        if (r >= 0)
                r = json_obj_set_int(o, "epoch", e->epoch);
        if (r >= 0)
                r = json_obj_set_str(o, "start", tm_format_rfc3339(e->start_us, t));
        if (r >= 0)
                r = json_obj_set_str(o, "end", tm_format_rfc3339(e->end_us, t));
        if (r >= 0)
                r = json_obj_set_int(o, "first_seq", e->first_seq);
        if (r >= 0)
                r = json_obj_set_int(o, "count", e->count);
        if (r >= 0) {
                r = json_obj_set(o, "criteria", c->crit_obj);
                c->crit_obj = NULL;
        }
        if (r >= 0)
                r = json_obj_set_str(o, "root", e->sealed ? hash_hex(e->root, HASH_LEN, root)
                                                          : NULL);
        if (r >= 0)
                r = json_obj_set_str(o, "state", e->sealed ? "sealed" : "open");
        if (r >= 0)
                r = json_obj_set_str(o, "sealed_at", e->sealed ? tm_format_rfc3339(
                                                                         e->sealed_us, t)
                                                               : NULL);
        /* Stats are our own JSON; if a row holds something else, show null, not fail. */
        if (r >= 0 && e->stats && json_parse(e->stats, strlen(e->stats), &stats, NULL) < 0)
                stats = NULL;
        if (r >= 0)
                r = json_obj_set(o, "stats", stats ? stats : json_new_null());
        if (r >= 0)
                r = json_canon(o, &c->line);
        if (r >= 0)
                r = buf_putc(&c->line, '\n');
        json_free(o);
        return r;
}

static int epoch_cb(void *ud, const struct store_epoch *e)
{
        struct epochs_ctx *c = ud;
        int r;

        buf_reset(&c->line);
        buf_reset(&c->crit);
        if (c->format == EPOCHS_JSONL) {
                c->crit_obj = json_new_obj();
                if (!c->crit_obj)
                        return -ENOMEM;
        }
        r = store_epoch_criteria(c->s, e->epoch, crit_cb, c);
        if (r >= 0)
                r = c->format == EPOCHS_JSONL ? epoch_jsonl(c, e) : epoch_table(c, e);
        json_free(c->crit_obj);
        c->crit_obj = NULL;
        if (r < 0)
                return r;
        c->n_epochs++;
        return fwrite(c->line.data, 1, c->line.len, stdout) == c->line.len ? 0 : -EIO;
}

static int backlog_cb(void *ud, const char *output, int64_t pending)
{
        struct epochs_ctx *c = ud;

        if (c->format == EPOCHS_JSONL)
                return json_obj_set_int(c->crit_obj, output, pending);
        return buf_printf(&c->crit, " %s=%lld", output, (long long)pending);
}

/* The footer: pending exports per output. */
static int epochs_footer(struct epochs_ctx *c)
{
        json *o = NULL;
        int r;

        buf_reset(&c->line);
        buf_reset(&c->crit);
        if (c->format == EPOCHS_JSONL && !(c->crit_obj = json_new_obj()))
                return -ENOMEM;
        r = store_outbox_outputs(c->s, backlog_cb, c);
        if (r >= 0 && c->format == EPOCHS_JSONL) {
                o = json_new_obj();
                r = o ? json_obj_set(o, "backlog", c->crit_obj) : -ENOMEM;
                c->crit_obj = NULL;
                if (r >= 0)
                        r = json_canon(o, &c->line);
                if (r >= 0)
                        r = buf_putc(&c->line, '\n');
                json_free(o);
        } else if (r >= 0) {
                r = buf_printf(&c->line, "%s%lld epoch(s); export backlog:%s\n",
                               c->n_epochs ? "\n" : "", (long long)c->n_epochs,
                               c->crit.len ? c->crit.data : " none queued");
        }
        json_free(c->crit_obj);
        c->crit_obj = NULL;
        if (r < 0)
                return r;
        return fwrite(c->line.data, 1, c->line.len, stdout) == c->line.len ? 0 : -EIO;
}

static int epochs_print(const char *db, enum epochs_format format)
{
        struct epochs_ctx c = { .format = format, .line = BUF_INIT, .crit = BUF_INIT };
        struct store_error err;
        int r = store_open(db, STORE_READONLY, &c.s, &err);

        if (r == -ENOENT) {
                fprintf(stderr, "gatelog epochs: no database at %s (is the daemon's store.path "
                                "elsewhere? pass --db FILE)\n", db);
                return 3;
        }
        if (r < 0) {
                fprintf(stderr, "gatelog epochs: cannot open %s\n", err.msg);
                return 3;
        }
        if (format == EPOCHS_TABLE)
                printf("%6s  %-42s  %9s  %-6s  %-12s  %s\n", "EPOCH", "INTERVAL (UTC)",
                       "RECORDS", "STATE", "ROOT", "CRITERIA");
        r = store_epochs_foreach(c.s, epoch_cb, &c);
        if (r >= 0)
                r = epochs_footer(&c);
        if (r >= 0 && fflush(stdout) != 0)
                r = -EIO;
        if (r < 0)
                fprintf(stderr, "gatelog epochs: %s: %s\n", db,
                        r == -EIO && store_errmsg(c.s)[0] ? store_errmsg(c.s) : strerror(-r));
        buf_free(&c.line);
        buf_free(&c.crit);
        store_close(c.s);
        return r < 0 ? 3 : 0;
}

int cmd_epochs(int argc, char **argv)
{
        static const struct option opts[] = {
                { "db", required_argument, NULL, 'd' },
                { "format", required_argument, NULL, 'f' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        const char *db = EPOCHS_DEFAULT_DB;
        enum epochs_format format = EPOCHS_TABLE;
        int c;

        /* 0 makes glibc's getopt start afresh, whatever main parsed before. */
        optind = 0;
        while ((c = getopt_long(argc, argv, "d:f:h", opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        db = optarg;
                        break;
                case 'f':
                        if (strcmp(optarg, "table") == 0) {
                                format = EPOCHS_TABLE;
                        } else if (strcmp(optarg, "jsonl") == 0) {
                                format = EPOCHS_JSONL;
                        } else {
                                fprintf(stderr, "gatelog epochs: unknown format '%s'\n",
                                        optarg);
                                epochs_usage(stderr);
                                return 2;
                        }
                        break;
                case 'h':
                        epochs_usage(stdout);
                        return 0;
                default:
                        epochs_usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "gatelog epochs: unexpected argument '%s'\n", argv[optind]);
                epochs_usage(stderr);
                return 2;
        }
        return epochs_print(db, format);
}
