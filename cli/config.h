/* The daemon's configuration: a YAML file (libyaml) or the embedded default. Every key is
 * documented in docs/CONFIG.md. Unknown keys, wrong types and bad values are refused with
 * file:line:column. Relative paths are relative to the working directory. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "ingest/ingest.h"
#include "normalize/normalize.h"

struct journald_config; /* ingest/journald.h */
struct ingest_kafka_config; /* ingest/kafka.h (issue 6) */

struct config_output {
        char *name;                  /* unique; outbox progress is kept per name */
        char *type;                  /* "folder" or "s3" */
        char *path;                  /* folder: the export directory */
        struct config_s3 *s3;        /* s3: its `s3:` block (issue 7, cli/config-outputs-s3.h) */
};

struct config {
        char *chain;                 /* default: the host name */
        struct {
                struct ingest_listen *listen;
                size_t n_listen;
                size_t max_message;
                size_t max_connections;
                enum norm_format format;
        } syslog;
        size_t queue_max_events;
        size_t queue_max_bytes;       /* byte budget of the queue (issue 12) */
        char *db_path;               /* store.path */
        char *key_path;              /* seal.key: the secret key */
        int64_t epoch_us;            /* seal.epoch */
        struct config_output *outputs;
        size_t n_outputs;
        char *pid_file;              /* run.pid_file */
        /* ops (issue 9): the HTTP endpoint and least privilege (docs/OPERATIONS.md). */
        struct {
                bool enabled;                /* http.enabled, default true */
                char *listen;                /* http.listen, "127.0.0.1:9514" */
                uint64_t ready_max_backlog;  /* http.ready_max_backlog: epochs per output */
        } http;
        char *run_user, *run_group;  /* run.user, run.group: NULL keeps the starting user */
        bool run_allow_root;         /* run.allow_root */
        enum log_level log_level;
        bool log_json;
        /* journald (issue 5): the `journald:` list, parsed in cli/config-journald.c. */
        struct journald_config *journald;
        size_t n_journald;
        /* Kafka (issue 6): the `kafka:` list, parsed in cli/config-kafka.c. */
        struct ingest_kafka_config *kafka;
        size_t n_kafka;
        /* Rules (issue 4): rules.paths (files and folders, in order) and rules.hmac_key. */
        char **rules_paths;
        size_t n_rules_paths;
        char *rules_hmac_key;
        /* Trusted time (issue 10): seal.tsa_url (RFC 3161 TSA, http:// or https://; NULL: no
         * tokens) and seal.tsa_ca (PEM CA(s) the daemon checks each reply against; NULL: the
         * reply is only checked to grant the request). */
        char *tsa_url, *tsa_ca;
};

struct config_error {
        char file[256];
        unsigned line, column;       /* 1-based; 0 when not about one place */
        char msg[256];
};

/* The embedded default configuration's text (YAML), for `gatelog run` without -c. */
extern const char config_default_yaml[];

/* Loads YAML text (name is what errors call the file). Fills *ret (caller frees with
 * config_free) or returns -EINVAL with err set, or -ENOMEM. */
int config_load_text(const char *name, const char *text, size_t len, struct config *ret,
                     struct config_error *err);
/* Reads and loads a file; -errno when unreadable (err says so). */
int config_load_file(const char *path, struct config *ret, struct config_error *err);
void config_free(struct config *c);
/* "FILE:LINE:COLUMN: message" into out. */
void config_error_format(const struct config_error *err, char *out, size_t len);
/* Parses a duration ("1s", "250ms", "10m", "1h", "1d", or plain seconds). 0 or -EINVAL. */
int config_parse_duration(const char *s, int64_t *ret_us);

/* ---- Additions (ingest engineer) ---- */
/* Parses a size: a decimal number of bytes, optionally followed by B, KiB, MiB or GiB
 * ("64KiB", "1MiB", "4096"). 0 or -EINVAL (also on overflow). */
int config_parse_size(const char *s, uint64_t *ret);

/* ---- ops (issue 9): environment overrides (docs/OPERATIONS.md lists the variables) ---- */
/* Lays the GATELOG_... knobs set in the environment over c, checked like the file's keys.
 * Returns 0 (also when none is set), -EINVAL with err naming the variable, or -ENOMEM. */
int config_apply_env(struct config *c, struct config_error *err);
/* The overrides as YAML text ("" when none is set); caller frees. 0 or -ENOMEM. */
int config_env_yaml(char **ret);
