/* gatelog run: the daemon. It wires the stages together: the syslog collector in the main
 * thread's event loop, the bounded queue, the writer thread (store, seal, export), and the
 * signals (SIGTERM/SIGINT stop, SIGUSR1 seals the open epoch now).
 *
 * Shutdown order is what makes "write what was received" true: stop accepting, read what
 * connections still hold, close the queue, let the writer store everything in it, exit 0. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/exporter.h"
#include "cli/http.h"      /* ops (issue 9) */
#include "cli/notify.h"    /* ops (issue 9) */
#include "cli/privdrop.h"  /* ops (issue 9) */
#include "cli/run-journald.h"  /* journald (issue 5) */
#include "cli/run-util.h"
#include "cli/run-relp.h"
#include "cli/writer.h"
#include "rules/rules.h"
#include "core/log.h"
#include "core/tm.h"
#include "ingest/kafka.h"  /* Kafka (issue 6) */

struct daemon {
        struct loop *loop;
        struct writer *writer;
        bool stop;
        struct ingest_syslog *syslog;  /* SIGHUP reloads its TLS certificates (issue 8) */
        const struct config *cfg;      /* SIGHUP reloads the rules it names (issue 4) */
};

static int signal_cb(struct loop *l, int fd, uint32_t events, void *ud) {
        struct daemon *d = ud;
        struct signalfd_siginfo si;
        while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                switch (si.ssi_signo) {
                case SIGTERM:
                case SIGINT:
                        log_info("stopping", "signal=%s", si.ssi_signo == SIGTERM ? "TERM" : "INT");
                        d->stop = true;
                        loop_quit(l);
                        break;
                case SIGUSR1:
                        log_info("seal requested", "signal=%s", "USR1");
                        writer_request_seal(d->writer);
                        break;
                case SIGHUP: {
                        /* Rules (issue 4): a pack that does not load leaves the old one. */
                        struct rules_pack *pack = NULL;
                        char re[512] = "";
                        if (d->cfg->n_rules_paths && rules_load_config(d->cfg, &pack, re,
                                                                       sizeof(re)) < 0)
                                log_error("rules reload failed; the old rules stay in force",
                                          "signal=HUP error=\"%s\"", re);
                        else if (pack)
                                writer_set_rules(d->writer, pack);
                        /* TLS certificates (issue 8): new connections get the new files,
                         * established ones keep theirs; a bad file keeps the old ones. */
                        char e[512] = "";
                        if (ingest_syslog_reload(d->syslog, e, sizeof(e)) < 0)
                                log_error("reload failed; keeping the old certificates",
                                          "signal=HUP error=\"%s\"", e);
                        else
                                log_info("reloaded", "signal=%s what=tls_certificates", "HUP");
                        break;
                }
                }
        }
        return 0;
}

/* Loads the secret key, creating it (and its .pub) on first start. */
static int key_prepare(const char *path, struct seal_key **ret) {
        struct seal_error err = { { 0 } };
        if (access(path, F_OK) != 0) {
                char pub[4096];
                snprintf(pub, sizeof(pub), "%s.pub", path);
                if (mkdir_parents(path, 0700) < 0 || seal_key_generate(path, pub, &err) < 0) {
                        log_error("cannot create the signing key", "path=%s error=\"%s\"", path,
                                  err.msg[0] ? err.msg : strerror(errno));
                        return -EIO;
                }
                int r = seal_key_load(path, ret, &err);
                if (r < 0)
                        goto fail;
                uint8_t pk[SEAL_PK_LEN];
                char id[HASH_HEX_LEN];
                seal_key_public(*ret, pk);
                seal_key_id(pk, id);
                log_warn("created a new signing key: keep it secret, back it up, give auditors the .pub",
                         "path=%s public=%s key_id=%s", path, pub, id);
                return 0;
        }
        if (seal_key_load(path, ret, &err) >= 0)
                return 0;
fail:
        log_error("cannot load the signing key", "path=%s error=\"%s\"", path, err.msg);
        return -EPERM;
}

/* issue 10, key rotation: once the manifest announcing FILE.next is sealed, FILE.next
 * becomes FILE (FILE kept as FILE.old); runs on the writer's thread. */
static void key_rotated_cb(void *ud) {
        struct seal_error err = { { 0 } };
        if (seal_key_rotate_files(ud, &err) < 0)
                log_error("cannot move the rotated key files (redone on the next start)",
                          "path=%s error=\"%s\"", (const char *)ud, err.msg);
        else
                log_info("rotated key files", "path=%s old=%s.old", (const char *)ud,
                         (const char *)ud);
}

/* Holds an exclusive lock on the pid file for the daemon's life, so that `gatelog seal` can
 * tell a running daemon from a stale file. Returns the fd or -errno. */
static int pidfile_take(const char *path) {
        if (mkdir_parents(path, 0755) < 0)
                return -errno;
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                close(fd);
                return -EADDRINUSE;
        }
        char b[32];
        int n = snprintf(b, sizeof(b), "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, b, (size_t)n, 0) != n) {
                close(fd);
                return -EIO;
        }
        return fd;
}

static void usage(FILE *f) {
        fprintf(f, "usage: gatelog run [-c FILE]\n\n"
                   "Runs the daemon. Without -c the embedded default configuration serves:\n"
                   "syslog on 127.0.0.1:5514 (UDP and TCP), SQLite at var/gatelog.db, exports in\n"
                   "var/exports/, 1-hour epochs, signing key var/gatelog.key (created on first start).\n\n"
                   "  -c, --config FILE   YAML configuration (docs/CONFIG.md)\n"
                   "  -h, --help          this text\n\n"
                   "Signals: TERM/INT stop after storing what was received; USR1 seals the open epoch.\n");
}

static int run_daemon(struct config *cfg, const char *source);

int cmd_run(int argc, char **argv) {
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        const char *path = NULL;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
                switch (c) {
                case 'c': path = optarg; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        struct config cfg;
        if (config_load_any(path, &cfg) < 0)
                return 2;
        log_max_level = cfg.log_level;
        log_json = cfg.log_json;
        int r = run_daemon(&cfg, path ? path : "<embedded default>");
        config_free(&cfg);
        return r;
}

static int run_daemon(struct config *cfg, const char *source) {
        struct daemon d = { 0 };
        struct seal_key *key = NULL;
        struct seal_key *next_key = NULL;  /* issue 10: key rotation */
        struct queue *q = NULL;
        struct drop_counters drops = { { 0 } };
        struct ingest_syslog *syslog = NULL;
        struct run_journald *journald = NULL;  /* issue 5 */
        struct ingest_kafka_set *kafka = NULL;  /* issue 6 */
        size_t kafka_gave_up;
        struct writer_output *outs = NULL;
        struct exporter *exporter = NULL;
        struct rules_pack *pack = NULL;
        struct http *http = NULL;  /* ops (issue 9) */
        char err[512] = "";
        int status = 3, sfd = -1, pidfd = -1;

        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGUSR1);
        sigaddset(&set, SIGHUP);
        /* Blocked before any thread starts, so only the loop's signalfd sees them. */
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        log_info("starting", "version=%s config=%s", GATELOG_VERSION, source);
        /* ops (issue 9): become run.user before any file is created (or refuse root). */
        if (privdrop_begin(cfg, privdrop_needs_bind(cfg)) < 0)
                goto out;
        if (outputs_build(cfg, &outs, err, sizeof(err)) < 0) {
                log_error("cannot set up the outputs", "error=\"%s\"", err);
                goto out;
        }
        d.cfg = cfg;
        if (rules_load_config(cfg, &pack, err, sizeof(err)) < 0) {  /* issue 4 */
                log_error("cannot load the rules", "error=\"%s\"", err);
                status = 2;
                goto out;
        }
        if (cfg->pid_file && (pidfd = pidfile_take(cfg->pid_file)) < 0) {
                log_error("cannot take the pid file", "path=%s error=\"%s\"", cfg->pid_file,
                          pidfd == -EADDRINUSE ? "another gatelog runs with it" : strerror(-pidfd));
                goto out;
        }
        if (mkdir_parents(cfg->db_path, 0750) < 0) {
                log_error("cannot create the database folder", "path=%s error=\"%s\"",
                          cfg->db_path, strerror(errno));
                goto out;
        }
        if (key_prepare(cfg->key_path, &key) < 0)
                goto out;
        struct seal_error kerr = { { 0 } };  /* issue 10: key rotation (FILE.next) */
        if (seal_key_load_next(cfg->key_path, &next_key, &kerr) < 0) {
                log_error("cannot load the next signing key", "path=%s.next error=\"%s\"",
                          cfg->key_path, kerr.msg);
                goto out;
        }
        struct writer_config wc = {
                .db_path = cfg->db_path, .chain = cfg->chain, .epoch_us = cfg->epoch_us,
                .key = key, .outputs = outs, .n_outputs = cfg->n_outputs,
                .next_key = next_key, .on_rotated_cb = key_rotated_cb,  /* issue 10 */
                .on_rotated_ud = (void *)cfg->key_path,
        };
        int r = writer_open(&wc, &d.writer, err, sizeof(err));
        if (r < 0) {
                log_error("cannot open the store", "error=\"%s\"", err);
                goto out;
        }
        writer_set_rules(d.writer, pack);  /* ownership moves */
        pack = NULL;
        r = exporter_new(cfg->db_path, cfg->chain, outs, cfg->n_outputs, &exporter, err,
                         sizeof(err));
        if (r >= 0)  /* trusted time (issue 10): seal.tsa_url */
                r = exporter_set_tsa(exporter, cfg->tsa_url, cfg->tsa_ca);
        if (r < 0 || (r = exporter_start(exporter)) < 0) {
                log_error("cannot start the exporter", "error=\"%s\"", err);
                goto out;
        }
        writer_on_sealed(d.writer, exporter_kick, exporter);
        /* issue 12 (stage8): the stager is fed committed records from memory and writes
         * nothing above the durable watermark. */
        writer_set_feed(d.writer, exporter_feed(exporter));
        writer_on_durable(d.writer, exporter_durable, exporter);
        if ((r = queue_new(cfg->queue_max_events, &q)) < 0 ||
            (r = queue_set_byte_budget(q, cfg->queue_max_bytes, event_bytes)) < 0 ||
            (r = loop_new(&d.loop)) < 0) {
                log_error("cannot start", "error=\"%s\"", strerror(-r));
                goto out;
        }
        struct ingest_syslog_config sc = {
                .listen = cfg->syslog.listen, .n_listen = cfg->syslog.n_listen,
                .max_message = cfg->syslog.max_message,
                .max_connections = cfg->syslog.max_connections, .format = cfg->syslog.format,
                /* RELP (issue 8): the duplicate window learns what the store holds. */
                .relp_seed_cb = run_relp_seed_cb, .relp_seed_ud = cfg->db_path,
        };
        if (ingest_syslog_new(&sc, d.loop, q, &drops, &syslog, err, sizeof(err)) < 0) {
                log_error("cannot listen", "error=\"%s\"", err);
                goto out;
        }
        d.syslog = syslog;
        /* journald (issue 5): positions are read before the writer starts storing. */
        if (run_journald_start(cfg, d.loop, q, &drops, &journald) < 0)
                goto out;
        /* Kafka (issue 6): resumes from the store's positions on each assignment. */
        if (ingest_kafka_set_new(cfg->kafka, cfg->n_kafka, cfg->db_path, d.loop, q, &drops,
                                 &kafka, err, sizeof(err)) < 0) {
                log_error("cannot start the Kafka consumer", "error=\"%s\"", err);
                goto out;
        }
        sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (sfd < 0 || loop_add(d.loop, sfd, EPOLLIN, signal_cb, &d) < 0 ||
            writer_start(d.writer, q, &drops) < 0) {
                log_error("cannot start", "error=\"%s\"", strerror(errno));
                goto out;
        }
        for (size_t i = 0; i < cfg->syslog.n_listen; i++)
                log_info("listening", "transport=%s addr=%s port=%d",
                         ingest_transport_name(cfg->syslog.listen[i].transport),
                         cfg->syslog.listen[i].addr, ingest_syslog_port(syslog, i));
        /* ops (issue 9): the HTTP endpoint, then no capability is left (every listener is
         * bound), the liveness beat and systemd's watchdog, READY=1. */
        if (http_daemon_start(cfg, q, &http) < 0 || privdrop_finish() < 0 ||
            notify_watchdog_start(d.loop, http_beat, http) < 0)
                goto out;
        http_set_ready_check(http, ingest_kafka_set_ready, kafka);  /* ops: brokers down */
        http_set_started(http, true);
        notify_ready("collecting");
        log_info("ready", "chain=%s db=%s epoch_s=%lld", cfg->chain, cfg->db_path,
                 (long long)(cfg->epoch_us / TM_USEC_PER_SEC));

        r = loop_run(d.loop);
        http_set_started(http, false);  /* ops (issue 9): /readyz says stopping */
        notify_stopping();
        ingest_syslog_stop_accepting(syslog);
        ingest_syslog_drain(syslog, 2 * TM_USEC_PER_SEC);
        run_journald_free(journald);  /* issue 5: stop reading; held events replay later */
        journald = NULL;
        ingest_kafka_set_stop_fetching(kafka);  /* issue 6: held events replay later */
        queue_close(q);
        writer_join(d.writer);
        /* issue 6: commit what the writer stored, leave (bounded: kafka[].close_timeout) */
        kafka_gave_up = ingest_kafka_set_close(kafka);
        exporter_stop(exporter);
        log_info("stopped", "queue_left=%zu kafka_close_gave_up=%zu", queue_depth(q),
                 kafka_gave_up);
        status = r < 0 ? 3 : 0;
out:
        http_free(http);  /* ops (issue 9): before the queue it reads */
        ingest_syslog_free(syslog);
        run_journald_free(journald);  /* issue 5 */
        ingest_kafka_set_free(kafka);  /* issue 6 */
        writer_free(d.writer);
        exporter_free(exporter);
        rules_pack_free(pack);
        queue_free(q, event_free_cb);
        loop_free(d.loop);
        if (sfd >= 0)
                close(sfd);
        seal_key_free(key);
        seal_key_free(next_key);  /* issue 10 */
        if (pidfd >= 0) {
                if (cfg->pid_file)
                        unlink(cfg->pid_file);
                close(pidfd);
        }
        outputs_free(outs, cfg->n_outputs);
        return status;
}
