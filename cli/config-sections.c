/* The configuration's sections: one key table per section (an unknown key fails at
 * start-up, the Fluent Bit lesson), the leaves that check and store each value within the
 * limits of cli/config-int.h, and the top-level table. Lists live in their own files
 * (syslog.listen in config-listen.c, outputs in config-outputs.c, journald and kafka in
 * config-journald.c and config-kafka.c). Nothing here logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config-int.h"
#include "cli/config-journald.h"  /* journald (issue 5) */
#include "cli/config-kafka.h"  /* Kafka (issue 6) */
#include "core/limits.h"
#include "core/tm.h"

struct key_table {
        const struct cfg_key *keys;
        void *obj;
};

static int table_key(struct cfg_ctx *x, const char *name, yaml_node_t *v, void *ud)
{
        const struct key_table *t = ud;
        const struct cfg_key *key = t->keys;

        while (key->name && strcmp(key->name, name) != 0)
                key++;
        return key->name ? key->parse(x, v, t->obj) : 1;
}

int cfg_map(struct cfg_ctx *x, yaml_node_t *n, const struct cfg_key *keys, void *obj)
{
        struct key_table t = { keys, obj };

        return cfg_map_each(x, n, table_key, &t);
}

/* ---- leaves ---- */

static int parse_chain(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_name(x, n, &((struct config *)obj)->chain);
}

int cfg_number(struct cfg_ctx *x, yaml_node_t *n, uint64_t lo, uint64_t hi,
               bool size, uint64_t *ret)
{
        const char *s;
        uint64_t v = 0;
        int r = cfg_scalar(x, n, &s);

        if (r < 0)
                return r;
        /* A quoted "" is text too, and has no digits: not a zero. */
        if (size)
                r = config_parse_size(s, &v);
        else
                r = s[0] && cfg_parse_digits(s, &v) == strlen(s) ? 0 : -EINVAL;
        /* The failures return -EINVAL themselves (not cfg_fail's value, which the compiler
         * cannot see is negative): callers read *ret exactly when 0 comes back. */
        if (r < 0) {
                cfg_fail(x, n, size ? "bad size '%s' (a number, optionally followed "
                                      "by B, KiB, MiB or GiB)"
                                    : "bad number '%s'", s);
                return -EINVAL;
        }
        if (v < lo || v > hi) {
                cfg_fail(x, n, "%s is out of range %llu..%llu", s, (unsigned long long)lo,
                         (unsigned long long)hi);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

/* A bounded count or size stored in a size_t member (the limits fit one: config-int.h). */
static int cfg_limit(struct cfg_ctx *x, yaml_node_t *n, uint64_t lo, uint64_t hi, bool size,
                     size_t *dst)
{
        uint64_t v;
        int r = cfg_number(x, n, lo, hi, size, &v);

        if (r == 0)
                *dst = (size_t)v;
        return r;
}

static int parse_max_message(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_limit(x, n, CONFIG_MAX_MESSAGE_MIN, SYSLOG_MAX_MESSAGE_CEIL, true,
                         &((struct config *)obj)->syslog.max_message);
}

static int parse_max_connections(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_limit(x, n, 1, CONFIG_MAX_CONNECTIONS_CEIL, false,
                         &((struct config *)obj)->syslog.max_connections);
}

static int parse_format(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        const char *s;
        int r = cfg_scalar(x, n, &s);

        if (r == 0 && norm_format_parse(s, &c->syslog.format) < 0)
                return cfg_fail(x, n, "unknown format '%s' (auto, rfc5424 or rfc3164)", s);
        return r;
}

static int parse_max_events(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_limit(x, n, CONFIG_QUEUE_MIN, CONFIG_QUEUE_CEIL, false,
                         &((struct config *)obj)->queue_max_events);
}

/* At least one large event's worth; at most what a size_t holds on 32-bit too. */
static int parse_max_bytes(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_limit(x, n, CONFIG_QUEUE_BYTES_MIN, CONFIG_QUEUE_BYTES_CEIL, true,
                         &((struct config *)obj)->queue_max_bytes);
}

static int parse_db_path(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config *)obj)->db_path);
}

static int parse_key_path(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config *)obj)->key_path);
}

/* Trusted time (issue 10): seal.tsa_url and seal.tsa_ca. */
static int parse_tsa_url(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        const char *s;
        int r = cfg_scalar(x, n, &s);

        if (r < 0)
                return r;
        if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
                return cfg_fail(x, n, "tsa_url must start with http:// or https://, not '%s'", s);
        return cfg_string(x, n, &((struct config *)obj)->tsa_url);
}

static int parse_tsa_ca(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config *)obj)->tsa_ca);
}

static int parse_pid_file(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config *)obj)->pid_file);
}

static int parse_epoch(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        const char *s;
        int64_t us;
        int r = cfg_scalar(x, n, &s);

        if (r < 0)
                return r;
        if (config_parse_duration(s, &us) < 0)
                return cfg_fail(x, n, "bad duration '%s' (e.g. 30s, 10m, 1h, 1d)", s);
        if (us % TM_USEC_PER_SEC != 0 || us < EPOCH_MIN_SECONDS * TM_USEC_PER_SEC ||
            us > EPOCH_MAX_SECONDS * TM_USEC_PER_SEC)
                return cfg_fail(x, n, "'%s' must be whole seconds from %ds to %ds", s,
                                EPOCH_MIN_SECONDS, EPOCH_MAX_SECONDS);
        c->epoch_us = us;
        return 0;
}

static int parse_log_level(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        static const char *const names[] = {
                [LOG_LVL_ERROR] = "error", [LOG_LVL_WARN] = "warn",
                [LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
        };
        struct config *c = obj;
        const char *s;
        int r = cfg_scalar(x, n, &s);

        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (!strcmp(s, names[i])) {
                        c->log_level = (enum log_level)i;
                        return 0;
                }
        return cfg_fail(x, n, "unknown level '%s' (error, warn, info or debug)", s);
}

static int parse_log_format(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        const char *s;
        int r = cfg_scalar(x, n, &s);

        if (r < 0)
                return r;
        if (strcmp(s, "logfmt") != 0 && strcmp(s, "json") != 0)
                return cfg_fail(x, n, "unknown format '%s' (logfmt or json)", s);
        c->log_json = !strcmp(s, "json");
        return 0;
}

/* ---- ops (issue 9): http, run.user/group/allow_root ---- */

static int parse_http_enabled(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_bool(x, n, &((struct config *)obj)->http.enabled);
}

static int parse_http_listen(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        const char *s;
        char *host;
        uint16_t port;
        int r = cfg_scalar(x, n, &s);

        if (r < 0)
                return r;
        r = ingest_parse_hostport(s, &host, &port);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return cfg_fail(x, n, "bad address '%s' (HOST:PORT or [IPv6]:PORT, port "
                                      "0-65535)", s);
        free(host);
        return cfg_string(x, n, &c->http.listen);
}

static int parse_http_backlog(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_number(x, n, 0, 1000000, false, &((struct config *)obj)->http.ready_max_backlog);
}

static int parse_run_user(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config *)obj)->run_user);
}

static int parse_run_group(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config *)obj)->run_group);
}

static int parse_run_allow_root(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_bool(x, n, &((struct config *)obj)->run_allow_root);
}

static const struct cfg_key http_keys[] = {
        { "enabled", parse_http_enabled },
        { "listen", parse_http_listen },
        { "ready_max_backlog", parse_http_backlog },
        { NULL, NULL },
};

/* ---- sections ---- */

static const struct cfg_key syslog_keys[] = {
        { "listen", cfg_parse_listen },
        { "max_message", parse_max_message },
        { "max_connections", parse_max_connections },
        { "format", parse_format },
        { NULL, NULL },
};
static const struct cfg_key queue_keys[] = { { "max_events", parse_max_events },
                                             { "max_bytes", parse_max_bytes }, { 0 } };
static const struct cfg_key store_keys[] = { { "path", parse_db_path }, { 0 } };
static const struct cfg_key seal_keys[] = {
        { "epoch", parse_epoch }, { "key", parse_key_path },
        { "tsa_url", parse_tsa_url }, { "tsa_ca", parse_tsa_ca },  /* issue 10 */
        { NULL, NULL },
};
static const struct cfg_key run_keys[] = {
        { "pid_file", parse_pid_file },
        { "user", parse_run_user }, { "group", parse_run_group },     /* ops (issue 9) */
        { "allow_root", parse_run_allow_root },                       /* ops (issue 9) */
        { 0 },
};
static const struct cfg_key log_keys[] = {
        { "level", parse_log_level }, { "format", parse_log_format }, { NULL, NULL },
};

#define SECTION(fn, table) \
        static int fn(struct cfg_ctx *x, yaml_node_t *n, void *obj) \
        { \
                return cfg_map(x, n, table, obj); \
        }
SECTION(parse_syslog, syslog_keys)
SECTION(parse_queue, queue_keys)
SECTION(parse_store, store_keys)
SECTION(parse_seal, seal_keys)
SECTION(parse_run, run_keys)
SECTION(parse_log, log_keys)
SECTION(parse_http, http_keys) /* ops (issue 9) */

/* Rules (issue 4): rules.paths is a non-empty list of files and folders. */
static int parse_rules_paths(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        size_t k = 0;

        if (n->type != YAML_SEQUENCE_NODE || cfg_seq_len(n) == 0)
                return cfg_fail(x, n, "expected a non-empty list of rule files and folders");
        if (c->n_rules_paths)
                return cfg_fail(x, n, "given twice");
        c->rules_paths = calloc(cfg_seq_len(n), sizeof(char *));
        if (!c->rules_paths)
                return -ENOMEM;
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++, k++) {
                int r = cfg_string(x, cfg_node(x, *i), &c->rules_paths[k]);
                c->n_rules_paths = k + 1;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_rules_hmac_key(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config *)obj)->rules_hmac_key);
}

static const struct cfg_key rules_keys[] = {
        { "paths", parse_rules_paths }, { "hmac_key", parse_rules_hmac_key }, { NULL, NULL },
};
SECTION(parse_rules, rules_keys) /* rules (issue 4) */

/* Kafka (issue 6): the list is parsed in cli/config-kafka.c. */
static int parse_kafka(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return config_kafka_parse(x->doc, n, obj, x->err);
}

/* journald (issue 5): the list is parsed in cli/config-journald.c. */
static int parse_journald(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;

        return config_journald_parse(x->doc, n, &c->journald, &c->n_journald, x->err);
}

const struct cfg_key cfg_root_keys[] = {
        { "chain", parse_chain },
        { "syslog", parse_syslog },
        { "queue", parse_queue },
        { "store", parse_store },
        { "seal", parse_seal },
        { "outputs", cfg_parse_outputs },
        { "run", parse_run },
        { "log", parse_log },
        { "rules", parse_rules },  /* issue 4 */
        { "http", parse_http },  /* ops (issue 9) */
        { "journald", parse_journald },  /* issue 5 */
        { "kafka", parse_kafka },  /* issue 6 */
        { NULL, NULL },
};
