/* `gatelog normalize`: the gate record each syslog line on stdin gives, one canonical JSON
 * object (RFC 8785) per line on stdout, stored nowhere.
 *
 * It lets an operator or auditor see exactly what the daemon would record for a message,
 * and, with --received fixed, gives byte-identical output on every run (year inference for
 * RFC 3164 depends on the receipt time). Lines are LF-separated; the last may lack its LF.
 * Memory is bounded: a line longer than the daemon's default message cap is cut there and
 * flagged "truncated", as the collectors do, and the rest of it is read and discarded. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/tm.h"
#include "normalize/normalize.h"

struct normalize_opts {
        enum norm_format fmt;
        bool fixed_received;
        int64_t received_us;
};

static void normalize_usage(FILE *f)
{
        fprintf(f,
                "Usage: gatelog normalize [--format auto|rfc5424|rfc3164] [--received TIME] < FILE\n"
                "\n"
                "Reads syslog messages from stdin, one per line, and prints the gate record of\n"
                "each as one canonical JSON object (RFC 8785) per line. Nothing is stored.\n"
                "\n"
                "  -f, --format FORMAT  auto (default: RFC 5424 when VERSION follows PRI),\n"
                "                       rfc5424 or rfc3164\n"
                "  -r, --received TIME  receipt time of every message, RFC 3339\n"
                "                       (e.g. 2026-01-01T00:00:00Z); default: now. Fixes the\n"
                "                       year of RFC 3164 timestamps and makes output repeatable\n"
                "  -h, --help           show this help\n"
                "\n"
                "Lines longer than %u bytes are cut and flagged \"truncated\".\n",
                SYSLOG_MAX_MESSAGE_DEFAULT);
}

/* Returns -1 to go on, else the exit status. */
static int parse_opts(int argc, char **argv, struct normalize_opts *o)
{
        static const struct option opts[] = {
                { "format", required_argument, NULL, 'f' },
                { "received", required_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        int c;

        optind = 0; /* glibc: a full reset, main may have used getopt */
        while ((c = getopt_long(argc, argv, "f:r:h", opts, NULL)) != -1) {
                switch (c) {
                case 'f':
                        if (norm_format_parse(optarg, &o->fmt) < 0) {
                                fprintf(stderr, "gatelog normalize: unknown format '%s'\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'r':
                        if (tm_parse_rfc3339(optarg, strlen(optarg), 0, &o->received_us) < 0) {
                                fprintf(stderr, "gatelog normalize: --received wants an RFC 3339 "
                                                "time such as 2026-01-01T00:00:00Z, not '%s'\n",
                                        optarg);
                                return 2;
                        }
                        o->fixed_received = true;
                        break;
                case 'h':
                        normalize_usage(stdout);
                        return 0;
                default:
                        normalize_usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "gatelog normalize: unexpected argument '%s' (input is stdin)\n",
                        argv[optind]);
                return 2;
        }
        return -1;
}

/* Reads one line into line (without its LF), keeping at most max bytes. Returns 1 with
 * *ret_truncated, or 0 at the end of input. */
static int read_line(FILE *in, struct buf *line, size_t max, bool *ret_truncated)
{
        bool any = false, cut = false;
        int c;

        buf_reset(line);
        while ((c = getc_unlocked(in)) != EOF) {
                any = true;
                if (c == '\n')
                        break;
                if (line->len < max) {
                        if (buf_putc(line, (char)c) < 0)
                                cut = true;
                } else {
                        cut = true;
                }
        }
        *ret_truncated = cut;
        return any ? 1 : 0;
}

static int normalize_stream(FILE *in, FILE *out, const struct normalize_opts *o)
{
        static const struct norm_source src = { "syslog", "stdin", NULL };
        struct buf line = BUF_INIT, rec_text = BUF_INIT;
        bool truncated;
        int r = 0;

        line.max = SYSLOG_MAX_MESSAGE_DEFAULT;
        while (r == 0 && read_line(in, &line, SYSLOG_MAX_MESSAGE_DEFAULT, &truncated) > 0) {
                int64_t received = o->fixed_received ? o->received_us : tm_now_us();
                json *rec = NULL;

                r = normalize_syslog(line.data, line.len, truncated, &src, received, o->fmt,
                                     &rec);
                if (r < 0)
                        break;
                buf_reset(&rec_text);
                r = json_canon(rec, &rec_text);
                if (r == 0)
                        r = buf_putc(&rec_text, '\n');
                if (r == 0 && fwrite(rec_text.data, 1, rec_text.len, out) != rec_text.len)
                        r = -EIO;
                json_free(rec);
        }
        if (r == 0 && ferror(in))
                r = -EIO;
        buf_free(&line);
        buf_free(&rec_text);
        return r;
}

int cmd_normalize(int argc, char **argv)
{
        struct normalize_opts o = { .fmt = NORM_AUTO };
        int r = parse_opts(argc, argv, &o);

        if (r >= 0)
                return r;
        r = normalize_stream(stdin, stdout, &o);
        if (fflush(stdout) != 0 && r == 0)
                r = -EIO;
        if (r < 0) {
                fprintf(stderr, "gatelog normalize: %s\n", strerror(-r));
                return 3;
        }
        return 0;
}
