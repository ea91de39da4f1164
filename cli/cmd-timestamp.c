/* `gatelog timestamp` (issue 10, trusted time): RFC 3161 tokens for the manifests of an
 * export folder. Without --verify it asks the TSA for a token over each epoch's
 * manifest.json that has no manifest.tsr yet and writes it there (a temporary file, fsync,
 * rename: a crash leaves no half token); run it after each export (cron, or a systemd timer
 * after the daemon's exports). With --verify it checks every manifest.tsr against the TSA's CA
 * (cli/tsa.h); --require makes a manifest without a token a failure too.
 * Exit status: 0 all done or valid, 1 a token failed or is missing (--require), 2 usage,
 * 3 runtime (the TSA unreachable, an unreadable folder). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/tsa.h"

#define TS_MANIFEST_MAX (16u << 20)

struct ts_opts {
        const char *dir, *chain, *url, *ca;
        bool verify, require;
        unsigned n_ok, n_bad, n_missing, n_stamped;
};

static void ts_usage(FILE *f)
{
        fprintf(f, "usage: gatelog timestamp --export DIR --tsa URL [--chain NAME]\n"
                   "       gatelog timestamp --export DIR --verify --tsa-ca CA.pem [--chain NAME]"
                   " [--require]\n\n"
                   "RFC 3161 trusted time for sealed epochs: asks the time-stamping authority at\n"
                   "URL for a token over each manifest.json of a local export that has none yet,\n"
                   "and writes it as manifest.tsr (the DER TimeStampResp). --verify checks every\n"
                   "token against the TSA's CA certificate(s); by hand:\n"
                   "  openssl ts -verify -data manifest.json -in manifest.tsr -CAfile CA.pem\n\n"
                   "  --export DIR   the export folder (the one holding chain=NAME/)\n"
                   "  --chain NAME   only this chain\n"
                   "  --tsa URL      the TSA (http:// or https://)\n"
                   "  --verify       check tokens instead of requesting them\n"
                   "  --tsa-ca FILE  PEM CA certificate(s) the TSA's certificate chains to\n"
                   "  --require      with --verify: a manifest without a token fails\n");
}

static int read_file(const char *path, size_t max, struct buf *b)
{
        FILE *f = fopen(path, "rb");
        char chunk[65536];
        size_t n;
        int r = 0;

        if (!f)
                return -errno;
        b->max = max;
        while (r == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                r = buf_append(b, chunk, n);
        if (r == 0 && ferror(f))
                r = -EIO;
        fclose(f);
        return r;
}

static int write_atomic(const char *dir, const char *name, const struct buf *b)
{
        char tmp[8192], path[8192];
        int fd, r = 0;

        snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, b->data, b->len) != (ssize_t)b->len || fsync(fd) < 0)
                r = errno ? -errno : -EIO;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

/* One epoch folder. Returns < 0 only for what stops the run (the TSA unreachable). */
static int ts_epoch(struct ts_opts *o, const char *edir, const char *label)
{
        char mpath[8192], tpath[8192], err[512] = "", when[32] = "";
        struct buf m = BUF_INIT, t = BUF_INIT;
        int r;

        snprintf(mpath, sizeof(mpath), "%s/manifest.json", edir);
        snprintf(tpath, sizeof(tpath), "%s/manifest.tsr", edir);
        r = read_file(mpath, TS_MANIFEST_MAX, &m);
        if (r == -ENOENT) {  /* an export in progress: its manifest comes last */
                buf_free(&m);
                return 0;
        }
        if (r < 0) {
                fprintf(stderr, "gatelog timestamp: %s: %s\n", mpath, strerror(-r));
                buf_free(&m);
                return -EIO;
        }
        r = read_file(tpath, TSA_RESPONSE_MAX, &t);
        if (!o->verify && r == -ENOENT) {
                r = tsa_stamp(o->url, m.data ? m.data : "", m.len, &t, err, sizeof(err));
                if (r >= 0)
                        r = write_atomic(edir, "manifest.tsr", &t);
                if (r >= 0) {
                        printf("%s: stamped\n", label);
                        o->n_stamped++;
                } else {
                        fprintf(stderr, "gatelog timestamp: %s: %s\n", label,
                                err[0] ? err : strerror(-r));
                }
        } else if (o->verify && r == -ENOENT) {
                o->n_missing++;
                printf("%s %s: no manifest.tsr\n", o->require ? "FAIL" : "note", label);
                r = 0;
        } else if (o->verify && r >= 0) {
                r = tsa_verify(t.data ? t.data : "", t.len, m.data ? m.data : "", m.len, o->ca,
                               when, err, sizeof(err));
                if (r == 0) {
                        o->n_ok++;
                        printf("%s: time-stamped %s\n", label, when);
                } else if (r == -EBADMSG) {
                        o->n_bad++;
                        printf("FAIL %s: manifest.tsr: %s\n", label, err);
                        r = 0;
                } else {
                        fprintf(stderr, "gatelog timestamp: %s\n", err[0] ? err : strerror(-r));
                }
        } else if (r < 0) {
                fprintf(stderr, "gatelog timestamp: %s: %s\n", tpath, strerror(-r));
        }
        buf_free(&m);
        buf_free(&t);
        return r;
}

static int prefix_filter_chain(const struct dirent *d)
{
        return strncmp(d->d_name, "chain=", 6) == 0;
}

static int prefix_filter_epoch(const struct dirent *d)
{
        return strncmp(d->d_name, "epoch=", 6) == 0;
}

static int ts_walk(struct ts_opts *o)
{
        struct dirent **chains = NULL;
        int nc = scandir(o->dir, &chains, prefix_filter_chain, alphasort), r = 0;

        if (nc < 0) {
                fprintf(stderr, "gatelog timestamp: %s: %s\n", o->dir, strerror(errno));
                return -EIO;
        }
        for (int i = 0; i < nc; i++) {
                char cdir[4096];
                struct dirent **eps = NULL;
                int ne;

                if (r < 0 || (o->chain && strcmp(chains[i]->d_name + 6, o->chain) != 0)) {
                        free(chains[i]);
                        continue;
                }
                snprintf(cdir, sizeof(cdir), "%s/%s", o->dir, chains[i]->d_name);
                ne = scandir(cdir, &eps, prefix_filter_epoch, alphasort);
                if (ne < 0) {
                        fprintf(stderr, "gatelog timestamp: %s: %s\n", cdir, strerror(errno));
                        r = -EIO;
                }
                for (int j = 0; j < ne; j++) {
                        char edir[4096 + 256], label[600];
                        snprintf(edir, sizeof(edir), "%s/%s", cdir, eps[j]->d_name);
                        snprintf(label, sizeof(label), "%.250s/%.250s", chains[i]->d_name,
                                 eps[j]->d_name);
                        if (r >= 0)
                                r = ts_epoch(o, edir, label);
                        free(eps[j]);
                }
                free(eps);
                free(chains[i]);
        }
        free(chains);
        return r;
}

int cmd_timestamp(int argc, char **argv)
{
        static const struct option opts[] = {
                { "export", required_argument, NULL, 'e' },
                { "chain", required_argument, NULL, 'C' },
                { "tsa", required_argument, NULL, 't' },
                { "tsa-ca", required_argument, NULL, 'a' },
                { "verify", no_argument, NULL, 'v' },
                { "require", no_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        struct ts_opts o = { 0 };
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'e': o.dir = optarg; break;
                case 'C': o.chain = optarg; break;
                case 't': o.url = optarg; break;
                case 'a': o.ca = optarg; break;
                case 'v': o.verify = true; break;
                case 'r': o.require = true; break;
                case 'h': ts_usage(stdout); return 0;
                default: ts_usage(stderr); return 2;
                }
        }
        if (!o.dir || optind != argc || (o.verify ? (!o.ca || o.url) : (!o.url || o.ca))) {
                ts_usage(stderr);
                return 2;
        }
        r = ts_walk(&o);
        if (r < 0)
                return 3;
        if (!o.verify) {
                printf("%u manifest(s) stamped\n", o.n_stamped);
                return 0;
        }
        if (o.n_bad || (o.require && o.n_missing)) {
                printf("time stamps FAILED: %u invalid, %u missing, %u valid\n", o.n_bad,
                       o.n_missing, o.n_ok);
                return 1;
        }
        printf("OK: %u time stamp(s) verified, %u manifest(s) without one\n", o.n_ok,
               o.n_missing);
        return 0;
}
