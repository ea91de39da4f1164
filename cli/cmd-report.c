/* `gatelog report` (issue 10): the evidence an auditor puts in the audit file for a period.
 *
 * Two walks fill a report_ctx (cli/cmd-report-int.h): the record walk counts, groups and
 * samples each criterion's records exactly as `gatelog query` does (cmd-report-records.c);
 * the epoch walk verifies every sealed epoch, lists those of the period and proves the
 * sampled records (cmd-report-epochs.c). This file parses the options, assembles the report
 * tree and prints it as JSON or HTML (cmd-report-html.c).
 *
 * Memory: the group counts, at most REPORT_FAIL_MAX failures and the sample per criterion,
 * and, for the epoch being streamed, the verifier's leaf hashes (and, when the epoch holds
 * samples, the prover's: seal_leaves); no record is held but the sampled ones (issue 12). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cmd-report.h"
#include "cli/cmd-report-int.h"
#include "core/tm.h"

static void report_usage(FILE *f)
{
        fprintf(f,
                "Usage: gatelog report --criterion ID... --since T --until T --pubkey KEY\n"
                "                      (--db FILE | --export DIR [--chain NAME]) [--out FILE]\n"
                "                      [--format html|json] [--seed N] [--sample N] [--top N]\n"
                "\n"
                "Writes the evidence report of a period: per criterion, events per day by\n"
                "outcome (chart and table), top actors and targets, failures and denials; the\n"
                "epochs of the period with the verifier's result for each, those with no events\n"
                "or with drops flagged; key fingerprints; and a random sample of records, each\n"
                "with its inclusion proof (check one with `gatelog verify-proof`).\n"
                "\n"
                "  -c, --criterion ID   a criterion to report on (repeat; e.g. CC6.1)\n"
                "  -s, --since T        event time at or after T (RFC 3339 or YYYY-MM-DD)\n"
                "  -u, --until T        event time before T\n"
                "  -d, --db FILE        a gatelog database (opened read-only)\n"
                "  -e, --export DIR     an export folder instead\n"
                "  -C, --chain NAME     which chain of an export (default: the only one)\n"
                "  -k, --pubkey FILE    the chain's first public key (rotations are followed)\n"
                "  -o, --out FILE       write there (default: standard output)\n"
                "  -f, --format F       html (default; self-contained, prints to PDF) or json\n"
                "      --seed N         seed of the record sample (default 1)\n"
                "      --sample N       records sampled per criterion (default 5, max %d)\n"
                "      --top N          actors and targets listed (default 10)\n"
                "\n"
                "Counts equal `gatelog query --criterion ID --since T --until T --count`.\n"
                "Exit status: 0 report written and every epoch verified, 1 written but some\n"
                "epoch or proof failed verification, 2 usage, 3 runtime error.\n",
                REPORT_SAMPLE_MAX);
}

static int parse_uint(const char *opt, const char *s, uint64_t max, uint64_t *ret)
{
        char *end = NULL;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (!*s || *end || errno || s[0] == '-' || v > max) {
                fprintf(stderr, "gatelog report: %s '%s': not a number up to %" PRIu64 "\n",
                        opt, s, max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

struct report_opts {
        const char *db, *exp, *chain, *pub, *out, *format;
        uint64_t seed, sample, top;
        bool since_set, until_set;
};

static int report_parse(int argc, char **argv, struct report_ctx *c, struct report_opts *o)
{
        static const struct option opts[] = {
                { "criterion", required_argument, NULL, 'c' },
                { "since", required_argument, NULL, 's' },
                { "until", required_argument, NULL, 'u' },
                { "db", required_argument, NULL, 'd' },
                { "export", required_argument, NULL, 'e' },
                { "chain", required_argument, NULL, 'C' },
                { "pubkey", required_argument, NULL, 'k' },
                { "out", required_argument, NULL, 'o' },
                { "format", required_argument, NULL, 'f' },
                { "seed", required_argument, NULL, 1000 },
                { "sample", required_argument, NULL, 1001 },
                { "top", required_argument, NULL, 1002 },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        int ch, r = 0;

        optind = 0;
        while (r >= 0 && (ch = getopt_long(argc, argv, "c:s:u:d:e:C:k:o:f:h", opts, NULL)) != -1) {
                switch (ch) {
                case 'c':
                        if (c->n_crit == REPORT_CRITERIA_MAX) {
                                fprintf(stderr, "gatelog report: more than %d criteria\n",
                                        REPORT_CRITERIA_MAX);
                                r = -E2BIG;
                        } else {
                                c->crit[c->n_crit++].id = optarg;
                        }
                        break;
                case 's':
                case 'u':
                        r = tm_parse_rfc3339(optarg, strlen(optarg), 1,
                                             ch == 's' ? &c->since : &c->until);
                        if (r < 0)
                                fprintf(stderr, "gatelog report: --%s '%s' is neither RFC 3339 "
                                        "nor YYYY-MM-DD\n", ch == 's' ? "since" : "until", optarg);
                        *(ch == 's' ? &o->since_set : &o->until_set) = true;
                        break;
                case 'd': o->db = optarg; break;
                case 'e': o->exp = optarg; break;
                case 'C': o->chain = optarg; break;
                case 'k': o->pub = optarg; break;
                case 'o': o->out = optarg; break;
                case 'f': o->format = optarg; break;
                case 1000: r = parse_uint("--seed", optarg, UINT64_MAX, &o->seed); break;
                case 1001: r = parse_uint("--sample", optarg, REPORT_SAMPLE_MAX, &o->sample); break;
                case 1002: r = parse_uint("--top", optarg, REPORT_TOP_MAX, &o->top); break;
                case 'h': report_usage(stdout); return 1;
                default: r = -EINVAL; break;
                }
        }
        if (r >= 0 && optind < argc) {
                fprintf(stderr, "gatelog report: unexpected argument '%s'\n", argv[optind]);
                r = -EINVAL;
        }
        if (r >= 0 && (c->n_crit == 0 || !o->since_set || !o->until_set || !o->pub ||
                       !o->db == !o->exp)) {
                fprintf(stderr, "gatelog report: needs --criterion, --since, --until, --pubkey "
                        "and one of --db and --export\n");
                r = -EINVAL;
        }
        if (r >= 0 && c->since >= c->until) {
                fprintf(stderr, "gatelog report: --since must be before --until\n");
                r = -EINVAL;
        }
        if (r >= 0 && strcmp(o->format, "html") != 0 && strcmp(o->format, "json") != 0) {
                fprintf(stderr, "gatelog report: unknown format '%s'\n", o->format);
                r = -EINVAL;
        }
        return r;
}

static int report_header(json *rep, struct report_ctx *c, const struct report_opts *o,
                         const uint8_t pk[SEAL_PK_LEN])
{
        char kid[HASH_HEX_LEN];
        json *period = json_new_obj(), *src = json_new_obj(), *keys = json_new_obj();
        int r = period && src && keys ? 0 : -ENOMEM;

        seal_key_id(pk, kid);
        if (r >= 0)
                r = json_obj_set_str(rep, "report", "gatelog evidence report");
        if (r >= 0)
                r = report_time_member(rep, "generated", (int64_t)time(NULL) * 1000000);
        if (r >= 0)
                r = report_time_member(period, "since", c->since);
        if (r >= 0)
                r = report_time_member(period, "until", c->until);
        if (r >= 0)
                r = json_obj_set_str(period, "time", "event time, [since, until)");
        if (r >= 0)
                r = json_obj_set_str(src, o->db ? "db" : "export", o->db ? o->db : o->exp);
        if (r >= 0 && o->chain)
                r = json_obj_set_str(src, "chain", o->chain);
        if (r >= 0)
                r = json_obj_set_str(keys, "pinned_key_id", kid);
        if (r >= 0) {
                r = json_obj_set(keys, "rotations", c->rotations);
                c->rotations = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(keys, "signing_key_ids", c->key_ids);
                c->key_ids = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "period", period);
                period = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "source", src);
                src = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "keys", keys);
                keys = NULL;
        }
        if (r >= 0)
                r = json_obj_set_int(rep, "seed", (int64_t)o->seed);
        json_free(period);
        json_free(src);
        json_free(keys);
        return r;
}

static int report_write(const char *out, const struct buf *b)
{
        FILE *f = out ? fopen(out, "w") : stdout;
        bool ok;

        if (!f) {
                fprintf(stderr, "gatelog report: %s: %s\n", out, strerror(errno));
                return -errno;
        }
        ok = fwrite(b->data, 1, b->len, f) == b->len;
        ok &= out ? fclose(f) == 0 : fflush(f) == 0;
        if (!ok)
                fprintf(stderr, "gatelog report: %s: write failed\n", out ? out : "stdout");
        return ok ? 0 : -EIO;
}

static void report_ctx_free(struct report_ctx *c)
{
        for (size_t i = 0; i < c->n_crit; i++) {
                struct crit *k = &c->crit[i];
                query_groups_free(&k->day);
                query_groups_free(&k->day_outcome);
                query_groups_free(&k->outcome);
                query_groups_free(&k->actor);
                query_groups_free(&k->target);
                json_free(k->failures);
                for (size_t s = 0; s < k->n_sample; s++)
                        json_free(k->sample[s].proof);
        }
        buf_free(&c->key);
        seal_verifier_free(c->v);
        json_free(c->epochs);
        json_free(c->chain_problems);
        json_free(c->rotations);
        json_free(c->key_ids);
        json_free(c->cur_problems);
        seal_leaves_free(c->leaves);
        free(c->want);
        free(c->want_idx);
        for (size_t i = 0; i < c->n_crit; i++)
                for (size_t k = 0; k < c->crit[i].n_sample; k++)
                        free(c->crit[i].sample[k].rec);
}

/* Builds the whole tree; *ret_bad counts epoch problems and failed proofs. */
static int report_build(struct report_ctx *c, const struct report_opts *o,
                        const uint8_t pk[SEAL_PK_LEN], json **ret, uint64_t *ret_bad)
{
        struct audit_source src = { .db = o->db, .export_dir = o->exp, .chain = o->chain };
        uint64_t skipped = 0, bad = 0;
        json *rep = NULL, *crits = NULL, *ver = NULL;
        int r;

        for (size_t i = 0; i < c->n_crit; i++) {
                c->crit[i].rng = o->seed ^ (0x632be59bd9b4e019ull * (i + 1));
                c->crit[i].failures = json_new_arr();
                if (!c->crit[i].failures)
                        return -ENOMEM;
        }
        r = report_walk_records(c, o->db, o->exp, o->chain, pk, &skipped);
        if (r < 0)
                return r;
        c->epochs = json_new_arr();
        c->chain_problems = json_new_arr();
        c->rotations = json_new_arr();
        c->key_ids = json_new_arr();
        if (!c->epochs || !c->chain_problems || !c->rotations || !c->key_ids)
                return -ENOMEM;
        if ((r = report_walk_epochs(c, &src, pk)) < 0)
                return r;
        rep = json_new_obj();
        crits = json_new_arr();
        ver = json_new_obj();
        r = rep && crits && ver ? report_header(rep, c, o, pk) : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < c->n_crit; i++)
                r = json_arr_append(crits, report_crit_json(c, &c->crit[i], &bad));
        if (r >= 0)
                r = json_obj_set(ver, "ok", json_new_bool(c->n_problems == 0 && skipped == 0));
        if (r >= 0)
                r = json_obj_set_int(ver, "epochs_checked", (int64_t)c->n_epochs);
        if (r >= 0)
                r = json_obj_set_int(ver, "problems", (int64_t)c->n_problems);
        if (r >= 0)
                r = json_obj_set_int(ver, "export_epochs_skipped", (int64_t)skipped);
        if (r >= 0) {
                r = json_obj_set(ver, "chain_problems", c->chain_problems);
                c->chain_problems = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "verification", ver);
                ver = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "epochs", c->epochs);
                c->epochs = NULL;
        }
        if (r >= 0) {
                r = json_obj_set(rep, "criteria", crits);
                crits = NULL;
        }
        json_free(crits);
        json_free(ver);
        if (r < 0) {
                json_free(rep);
                return r;
        }
        *ret = rep;
        *ret_bad = bad + c->n_problems + skipped;
        return 0;
}

int cmd_report(int argc, char **argv)
{
        struct report_ctx c = { .since = INT64_MIN, .until = INT64_MAX, .key = BUF_INIT };
        struct report_opts o = { .format = "html", .seed = 1, .sample = 5, .top = 10 };
        struct seal_error kerr = { { 0 } };
        struct buf out = BUF_INIT;
        uint8_t pk[SEAL_PK_LEN];
        uint64_t bad = 0;
        json *rep = NULL;
        int r = report_parse(argc, argv, &c, &o);

        if (r > 0)
                return 0;  /* --help */
        if (r < 0) {
                report_usage(stderr);
                return 2;
        }
        if (seal_pubkey_load(o.pub, pk, &kerr) < 0) {
                fprintf(stderr, "gatelog report: %s: %s\n", o.pub, kerr.msg);
                return 2;
        }
        c.sample_n = (size_t)o.sample;
        c.top_n = (size_t)o.top;
        r = report_build(&c, &o, pk, &rep, &bad);
        if (r >= 0 && strcmp(o.format, "json") == 0) {
                r = json_canon(rep, &out);
                if (r >= 0)
                        r = buf_putc(&out, '\n');
        } else if (r >= 0) {
                r = report_html(rep, &out);
        }
        if (r == -ENOMEM)
                fprintf(stderr, "gatelog report: out of memory\n");
        if (r >= 0)
                r = report_write(o.out, &out);
        buf_free(&out);
        json_free(rep);
        report_ctx_free(&c);
        if (r < 0)
                return 3;
        return bad > 0 ? 1 : 0;
}
