/* `gatelog rules check|test|explain`: the tools a security team writes rules with.
 *
 *   check PATH...    loads files and folders exactly as the daemon would; errors print as
 *                    FILE:LINE:COLUMN: message (one per run: the first error stops a load)
 *   test PATH...     runs every rule's inline tests; a line per test and a summary
 *   explain          maps one event from stdin and shows each rule tried, which matched,
 *                    and what each one set
 *
 * Keyed hashes need a key: --hmac-key FILE, else a fixed, public test key (so that a pack
 * that hashes can be checked and tested; its hashes are then not secret, and say so).
 * Exit status: 0 fine, 1 the rules or tests failed, 2 usage, 3 runtime error. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/tm.h"
#include "rules/rules.h"

/* Not a secret: only for check/test/explain without --hmac-key. */
static const char rules_test_key[] = "gatelog-rules-public-test-key";

#define EXPLAIN_INPUT_MAX (1024u * 1024)
#define EXPLAIN_DEFAULT_RULES "rules/soc2"

struct rules_cli {
        const char **paths;
        size_t n_paths;
        enum rules_input input;
        uint8_t *key;
        size_t key_len;
        bool key_given;
};

static void rules_usage(FILE *f)
{
        fprintf(f,
                "Usage: gatelog rules check [--hmac-key FILE] PATH...\n"
                "       gatelog rules test [--hmac-key FILE] PATH...\n"
                "       gatelog rules explain [--rules PATH]... [--format auto|json|rfc5424|rfc3164]\n"
                "                             [--hmac-key FILE] < EVENT\n"
                "\n"
                "Rule files are YAML (docs/RULES.md); a PATH may be a folder, whose *.yaml and\n"
                "*.yml files load in name order.\n"
                "\n"
                "  check    validate: every error names FILE:LINE:COLUMN and what was expected\n"
                "  test     run every rule's inline tests; exit 1 when one fails\n"
                "  explain  map one event read from stdin (a syslog line, a JSON gate record,\n"
                "           or a JSON event object) and show which rules were tried, which\n"
                "           matched and what each set; --rules defaults to " EXPLAIN_DEFAULT_RULES "\n"
                "\n"
                "  -r, --rules PATH     rules for explain (repeatable)\n"
                "  -f, --format FORMAT  explain's input: auto (default), json, rfc5424, rfc3164\n"
                "  -k, --hmac-key FILE  key of keyed hashes (redact: hash); without it a public\n"
                "                       test key is used, so hashes shown are not secret\n"
                "  -h, --help           show this help\n");
}

static int add_path(struct rules_cli *o, const char *p)
{
        const char **np = realloc(o->paths, (o->n_paths + 1) * sizeof(*np));

        if (!np)
                return -ENOMEM;
        np[o->n_paths++] = p;
        o->paths = np;
        return 0;
}

/* Returns -1 to go on, else the exit status. */
static int rules_opts(int argc, char **argv, bool explain, struct rules_cli *o)
{
        static const struct option opts[] = {
                { "rules", required_argument, NULL, 'r' },
                { "format", required_argument, NULL, 'f' },
                { "hmac-key", required_argument, NULL, 'k' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "r:f:k:h", opts, NULL)) != -1) {
                switch (c) {
                case 'r':
                case 'f':
                        if (!explain) {
                                fprintf(stderr, "gatelog rules: --%s is for explain\n",
                                        c == 'r' ? "rules" : "format");
                                return 2;
                        }
                        if (c == 'r' && add_path(o, optarg) < 0)
                                return 3;
                        if (c == 'f' && rules_input_parse(optarg, &o->input) < 0) {
                                fprintf(stderr, "gatelog rules: unknown format '%s' (auto, "
                                                "json, rfc5424, rfc3164)\n", optarg);
                                return 2;
                        }
                        break;
                case 'k':
                        if (o->key_given) {
                                fprintf(stderr, "gatelog rules: --hmac-key given twice\n");
                                return 2;
                        }
                        r = rules_key_load(optarg, &o->key, &o->key_len);
                        if (r < 0) {
                                fprintf(stderr, "gatelog rules: %s: %s\n", optarg,
                                        r == -EINVAL ? "a key file holds 16 to 4096 bytes"
                                                     : strerror(-r));
                                return 2;
                        }
                        o->key_given = true;
                        break;
                case 'h':
                        rules_usage(stdout);
                        return 0;
                default:
                        rules_usage(stderr);
                        return 2;
                }
        }
        if (explain && optind < argc) {
                fprintf(stderr, "gatelog rules explain: unexpected argument '%s' (the event "
                                "is read from stdin; rules come with --rules)\n", argv[optind]);
                return 2;
        }
        for (; optind < argc; optind++)
                if (add_path(o, argv[optind]) < 0)
                        return 3;
        if (!explain && !o->n_paths) {
                fprintf(stderr, "gatelog rules: name at least one rule file or folder\n");
                return 2;
        }
        if (explain && !o->n_paths && add_path(o, EXPLAIN_DEFAULT_RULES) < 0)
                return 3;
        return -1;
}

/* Loads the pack; prints the error. Returns 0, or the exit status. */
static int rules_load(const struct rules_cli *o, struct rules_pack **ret)
{
        struct rules_options opt = {
                .hmac_key = o->key_given ? o->key : (const uint8_t *)rules_test_key,
                .hmac_key_len = o->key_given ? o->key_len : strlen(rules_test_key),
        };
        struct rules_error err;
        char msg[700];
        int r = rules_pack_load(o->paths, o->n_paths, &opt, ret, &err);

        if (r == 0)
                return 0;
        if (r == -ENOMEM) {
                fprintf(stderr, "gatelog rules: out of memory\n");
                return 3;
        }
        rules_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        return 1;
}

static int rules_check(const struct rules_cli *o)
{
        struct rules_pack *p = NULL;
        int r = rules_load(o, &p);

        if (r)
                return r;
        printf("ok: %zu rules in %zu files, pack sha256 %s\n", rules_pack_n_rules(p),
               rules_pack_n_files(p), rules_pack_hash(p));
        rules_pack_free(p);
        return 0;
}

static void test_cb(void *ud, const struct rules_test_result *res)
{
        (void)ud;
        if (res->passed)
                printf("ok   %s:%u:%u %s #%u\n", res->file, res->line, res->column,
                       res->rule->id, res->index);
        else
                printf("FAIL %s:%u:%u %s #%u: %s\n", res->file, res->line, res->column,
                       res->rule->id, res->index, res->why);
}

static int rules_test(const struct rules_cli *o)
{
        struct rules_pack *p = NULL;
        unsigned passed = 0, failed = 0;
        int r = rules_load(o, &p);

        if (r)
                return r;
        r = rules_pack_run_tests(p, test_cb, NULL, &passed, &failed);
        if (r < 0) {
                fprintf(stderr, "gatelog rules test: %s\n", strerror(-r));
                rules_pack_free(p);
                return 3;
        }
        printf("%u passed, %u failed (%zu rules, pack sha256 %s)\n", passed, failed,
               rules_pack_n_rules(p), rules_pack_hash(p));
        rules_pack_free(p);
        return failed ? 1 : 0;
}

/* ---- explain ---- */

static const char *const shown[] = { "actor", "action", "target", "outcome", "severity" };
#define N_SHOWN (sizeof(shown) / sizeof(shown[0]))

struct explain {
        char *before[N_SHOWN];   /* canonical text of each shown member before the rule */
        unsigned tried, matched;
};

static char *canon_of(const json *v)
{
        struct buf b = BUF_INIT;

        if (!v)
                return strdup("absent");
        if (json_canon(v, &b) < 0) {
                buf_free(&b);
                return NULL;
        }
        return buf_steal(&b, NULL);
}

static void snapshot(struct explain *x, const json *rec)
{
        for (size_t i = 0; i < N_SHOWN; i++) {
                free(x->before[i]);
                x->before[i] = canon_of(json_obj_get(rec, shown[i]));
        }
}

static void explain_cb(void *ud, const struct rules_rule_info *rl, bool matched, const json *rec)
{
        struct explain *x = ud;

        x->tried++;
        printf("  %-5s %s (%s:%u)%s%s\n", matched ? "MATCH" : "no", rl->id, rl->file, rl->line,
               rl->is_continue ? " continue" : "", rl->is_drop ? " drop" : "");
        if (!matched)
                return;
        x->matched++;
        for (size_t i = 0; i < N_SHOWN; i++) {
                char *now = canon_of(json_obj_get(rec, shown[i]));

                if (now && x->before[i] && strcmp(now, x->before[i]))
                        printf("        set %s = %s\n", shown[i], now);
                free(now);
        }
        if (rl->criteria[0])
                printf("        criteria + %s\n", rl->criteria);
        snapshot(x, rec);
}

static int read_stdin(struct buf *in)
{
        char chunk[8192];
        size_t n;

        in->max = EXPLAIN_INPUT_MAX;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
                if (buf_append(in, chunk, n) < 0)
                        return -E2BIG;
        return ferror(stdin) ? -EIO : 0;
}

static int rules_explain(const struct rules_cli *o)
{
        struct rules_pack *p = NULL;
        struct buf in = BUF_INIT, out = BUF_INIT;
        struct explain x = { 0 };
        enum rules_verdict verdict;
        const char *rid = NULL;
        json *rec = NULL;
        int r = rules_load(o, &p), status = 0;

        if (r)
                return r;
        r = read_stdin(&in);
        if (r < 0) {
                fprintf(stderr, "gatelog rules explain: %s\n",
                        r == -E2BIG ? "the event is larger than 1 MiB" : strerror(-r));
                status = 2;
                goto out;
        }
        /* One event: a trailing line end is framing, not content. */
        while (in.len && (in.data[in.len - 1] == '\n' || in.data[in.len - 1] == '\r'))
                in.data[--in.len] = 0;
        r = rules_event_from_text(in.data ? in.data : "", in.len, o->input, tm_now_us(), &rec);
        if (r < 0) {
                fprintf(stderr, "gatelog rules explain: %s\n", r == -EBADMSG
                                ? "the input is not a JSON object" : strerror(-r));
                status = r == -EBADMSG ? 2 : 3;
                goto out;
        }
        printf("event: format %s, source.kind %s, app %s\n",
               json_str(json_obj_get(rec, "format"), NULL) ?: "null",
               json_str(json_path_get(rec, "source.kind"), NULL) ?: "null",
               json_str(json_obj_get(rec, "app"), NULL) ?: "null");
        printf("pack: %zu rules, sha256 %s%s\n", rules_pack_n_rules(p), rules_pack_hash(p),
               o->key_given ? "" : " (keyed hashes use the public test key)");
        printf("rules tried (the index skips rules whose app or source.kind cannot match):\n");
        snapshot(&x, rec);
        r = rules_apply_trace(p, rec, &verdict, &rid, explain_cb, &x);
        if (r < 0) {
                fprintf(stderr, "gatelog rules explain: %s\n", strerror(-r));
                status = 3;
                goto out;
        }
        printf("tried %u of %zu rules, %u matched\n", x.tried, rules_pack_n_rules(p), x.matched);
        if (verdict == RULES_DROP) {
                printf("result: DROPPED by rule %s (counted in the epoch's stats, not stored)\n",
                       rid);
        } else {
                r = json_canon(rec, &out);
                if (r < 0) {
                        status = 3;
                        goto out;
                }
                printf("result: rule %s\nrecord: %s\n", rid ? rid : "unmapped", out.data);
        }
out:
        for (size_t i = 0; i < N_SHOWN; i++)
                free(x.before[i]);
        json_free(rec);
        buf_free(&in);
        buf_free(&out);
        rules_pack_free(p);
        return status;
}

int cmd_rules(int argc, char **argv)
{
        struct rules_cli o = { .input = RULES_INPUT_AUTO };
        const char *sub = argc > 1 ? argv[1] : NULL;
        int r;

        if (!sub || !strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
                rules_usage(sub ? stdout : stderr);
                return sub ? 0 : 2;
        }
        if (strcmp(sub, "check") && strcmp(sub, "test") && strcmp(sub, "explain")) {
                fprintf(stderr, "gatelog rules: unknown subcommand '%s' (check, test, "
                                "explain)\n", sub);
                return 2;
        }
        r = rules_opts(argc - 1, argv + 1, !strcmp(sub, "explain"), &o);
        if (r < 0) {
                if (!strcmp(sub, "check"))
                        r = rules_check(&o);
                else if (!strcmp(sub, "test"))
                        r = rules_test(&o);
                else
                        r = rules_explain(&o);
        }
        if (o.key) {
                OPENSSL_cleanse(o.key, o.key_len);
                free(o.key);
        }
        free(o.paths);
        fflush(stdout);
        return r;
}
