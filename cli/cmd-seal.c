/* gatelog seal --now: closes the open epoch early.
 *
 * With a daemon running (its pid file is locked), the daemon's writer must do it, since it
 * alone writes the store: we send SIGUSR1 and wait, reading the store read-only, until the
 * open epoch's number moves on. Without a daemon we take the pid file lock ourselves (so that
 * no daemon starts meanwhile) and seal with our own writer. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/exporter.h"
#include "cli/run-util.h"
#include "cli/writer.h"
#include "core/tm.h"
#include "outputs/outputs.h"

static void usage(FILE *f) {
        fprintf(f, "usage: gatelog seal --now [-c FILE] [--timeout SECONDS]\n\n"
                   "Closes the open epoch now: seals, signs and exports it. Works with the daemon\n"
                   "running (it is asked to seal) or stopped (sealed here with the same key).\n\n"
                   "  -c, --config FILE   the daemon's configuration (default: embedded)\n"
                   "      --now           required: seal the open epoch now\n"
                   "      --timeout S     how long to wait for a running daemon (default 30)\n");
}

static int open_epoch_number(const char *db, int64_t *ret) {
        struct store *s = NULL;
        struct store_error err = { { 0 } };
        struct store_epoch e = { 0 };
        int r = store_open(db, STORE_READONLY, &s, &err);
        if (r >= 0)
                r = store_epoch_last(s, &e);
        if (r >= 0)
                *ret = e.epoch;
        store_epoch_clear(&e);
        store_close(s);
        return r;
}

/* Pending exports of every output (0 when all are written). */
static int64_t export_backlog(const struct config *cfg) {
        struct store *s = NULL;
        struct store_error err = { { 0 } };
        int64_t total = 0;
        if (store_open(cfg->db_path, STORE_READONLY, &s, &err) < 0)
                return -1;
        for (size_t i = 0; i < cfg->n_outputs; i++) {
                int64_t n = 0;
                if (store_outbox_backlog(s, cfg->outputs[i].name, &n) < 0) {
                        total = -1;
                        break;
                }
                total += n;
        }
        store_close(s);
        return total;
}

static int seal_via_daemon(const struct config *cfg, pid_t pid, int timeout_s) {
        int64_t before = -1, now = -1;
        if (open_epoch_number(cfg->db_path, &before) < 0) {
                fprintf(stderr, "gatelog: cannot read %s\n", cfg->db_path);
                return 3;
        }
        if (kill(pid, SIGUSR1) < 0) {
                fprintf(stderr, "gatelog: cannot signal the daemon (pid %ld): %s\n", (long)pid,
                        strerror(errno));
                return 3;
        }
        int64_t deadline = tm_mono_us() + (int64_t)timeout_s * TM_USEC_PER_SEC;
        while (tm_mono_us() < deadline) {
                if (open_epoch_number(cfg->db_path, &now) >= 0 && now > before)
                        break;
                usleep(20 * 1000);
        }
        if (now > before) {
                printf("sealed epoch %lld (by the running daemon, pid %ld)\n",
                       (long long)now - 1, (long)pid);
                /* The daemon's exporter writes it next; wait so that the caller can read
                 * the export when we return. */
                while (tm_mono_us() < deadline) {
                        int64_t left = export_backlog(cfg);
                        if (left == 0)
                                return 0;
                        usleep(20 * 1000);
                }
                fprintf(stderr, "gatelog: sealed, but exports are still pending (see gatelog "
                                "epochs and the daemon's log)\n");
                return 3;
        }
        fprintf(stderr, "gatelog: the daemon (pid %ld) did not seal within %d s\n", (long)pid,
                timeout_s);
        return 3;
}

/* issue 10, key rotation: as in cmd-run.c, FILE.next becomes FILE once announced. */
static void key_rotated_cb(void *ud) {
        struct seal_error err = { { 0 } };
        if (seal_key_rotate_files(ud, &err) < 0)
                fprintf(stderr, "gatelog: cannot move the rotated key files (redone on the next "
                                "start): %s\n", err.msg);
}

static int seal_here(const struct config *cfg) {
        struct seal_key *key = NULL, *next_key = NULL;  /* next_key: issue 10 */
        struct seal_error kerr = { { 0 } };
        struct writer *w = NULL;
        struct writer_output *outs = NULL;
        struct exporter *x = NULL;
        char err[512] = "";
        int status = 3;
        if (outputs_build(cfg, &outs, err, sizeof(err)) < 0) {
                fprintf(stderr, "gatelog: %s\n", err);
                return 3;
        }
        if (seal_key_load(cfg->key_path, &key, &kerr) < 0) {
                fprintf(stderr, "gatelog: %s: %s\n", cfg->key_path, kerr.msg);
                goto out;
        }
        if (seal_key_load_next(cfg->key_path, &next_key, &kerr) < 0) {  /* issue 10 */
                fprintf(stderr, "gatelog: %s.next: %s\n", cfg->key_path, kerr.msg);
                goto out;
        }
        struct writer_config wc = {
                .db_path = cfg->db_path, .chain = cfg->chain, .epoch_us = cfg->epoch_us,
                .key = key, .outputs = outs, .n_outputs = cfg->n_outputs,
                .next_key = next_key, .on_rotated_cb = key_rotated_cb,  /* issue 10 */
                .on_rotated_ud = (void *)cfg->key_path,
        };
        if (writer_open(&wc, &w, err, sizeof(err)) < 0) {
                fprintf(stderr, "gatelog: %s\n", err);
                goto out;
        }
        if (writer_seal_now(w) < 0) {
                fprintf(stderr, "gatelog: sealing failed\n");
                goto out;
        }
        printf("sealed %lld epoch(s)\n", (long long)writer_sealed_count(w));
        status = 0;
        if (exporter_new(cfg->db_path, cfg->chain, outs, cfg->n_outputs, &x, err,
                         sizeof(err)) < 0 ||
            exporter_set_tsa(x, cfg->tsa_url, cfg->tsa_ca) < 0 ||  /* issue 10 */
            exporter_flush(x) < 0) {
                fprintf(stderr, "gatelog: export failed (it stays queued for the daemon)%s%s\n",
                        err[0] ? ": " : "", err);
                status = 3;
        }
out:
        exporter_free(x);
        writer_free(w);
        seal_key_free(key);
        seal_key_free(next_key);  /* issue 10 */
        outputs_free(outs, cfg->n_outputs);
        return status;
}

int cmd_seal(int argc, char **argv) {
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "now", no_argument, NULL, 'n' },
                { "timeout", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        const char *path = NULL;
        bool now = false;
        int timeout_s = 30, c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
                switch (c) {
                case 'c': path = optarg; break;
                case 'n': now = true; break;
                case 't': timeout_s = atoi(optarg); break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (!now || optind != argc || timeout_s <= 0) {
                usage(stderr);
                return 2;
        }
        struct config cfg;
        if (config_load_any(path, &cfg) < 0)
                return 2;
        int status = 3, fd = -1;
        if (cfg.pid_file && (fd = open(cfg.pid_file, O_RDWR | O_CLOEXEC)) >= 0 &&
            flock(fd, LOCK_EX | LOCK_NB) < 0) {
                char b[32] = "";
                ssize_t n = pread(fd, b, sizeof(b) - 1, 0);
                long pid = n > 0 ? strtol(b, NULL, 10) : 0;
                if (pid > 0)
                        status = seal_via_daemon(&cfg, (pid_t)pid, timeout_s);
                else
                        fprintf(stderr, "gatelog: %s is locked but holds no pid\n", cfg.pid_file);
        } else {
                /* No daemon: hold its lock (creating the file if needed) while we seal. */
                if (fd < 0 && cfg.pid_file && mkdir_parents(cfg.pid_file, 0755) == 0)
                        fd = open(cfg.pid_file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
                if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
                        fprintf(stderr, "gatelog: a daemon started meanwhile; try again\n");
                } else {
                        status = seal_here(&cfg);
                }
        }
        if (fd >= 0)
                close(fd);
        config_free(&cfg);
        return status;
}
