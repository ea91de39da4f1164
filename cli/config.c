/* The daemon's configuration: YAML (libyaml's document API) into struct config.
 *
 * Every key has a default (the values of the embedded default text, which is itself loaded
 * by this same code), so a file need only name what it changes. The shape is declared in
 * key tables, one per section, so an unknown key fails at start-up (the Fluent Bit lesson),
 * and every error names file:line:column (1-based) of the node at fault. The walk descends
 * a fixed schema at most four levels deep, so aliases (even cyclic ones) cannot make it loop.
 * Input is capped at CONFIG_FILE_MAX bytes. Nothing here logs; the caller prints the error. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "cli/config.h"
#include "cli/config-yaml.h"
#include "cli/config-journald.h"  /* journald (issue 5) */
#include "cli/config-kafka.h"  /* Kafka (issue 6) */
#include "cli/config-outputs-s3.h"  /* S3 exports (issue 7) */
#include "core/buf.h"  /* ops (issue 9): environment overrides */
#include "core/limits.h"
#include "core/tm.h"

/* A configuration is a page of text; a megabyte is a mistake (or an attack) already. */
#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_MAX_CONNECTIONS_CEIL 65536
#define CONFIG_QUEUE_MIN 8
#define CONFIG_QUEUE_CEIL (16u * 1024 * 1024)
/* queue.max_bytes: 1 MiB holds a few events of the largest message; 2 GiB fits a 32-bit
 * size_t and is far beyond any reasonable queue. */
#define CONFIG_QUEUE_BYTES_MIN (1u << 20)
#define CONFIG_QUEUE_BYTES_CEIL (2048ull << 20)
/* RFC 5424 section 6.1: receivers MUST accept messages of 480 octets. */
#define CONFIG_MAX_MESSAGE_MIN 480

const char config_default_yaml[] =
        "# gatelog's embedded default configuration (docs/CONFIG.md)\n"
        "syslog:\n"
        "  listen:\n"
        "    - udp: 127.0.0.1:5514\n"
        "    - tcp: 127.0.0.1:5514\n"
        "  max_message: 64KiB\n"
        "  max_connections: 1024\n"
        "  format: auto\n"
        "queue:\n"
        "  max_events: 8192\n"
        "  max_bytes: 24MiB\n"
        "store:\n"
        "  path: var/gatelog.db\n"
        "seal:\n"
        "  epoch: 1h\n"
        "  key: var/gatelog.key\n"
        "outputs:\n"
        "  - name: local\n"
        "    type: folder\n"
        "    path: var/exports\n"
        "run:\n"
        "  pid_file: var/gatelog.pid\n"
        "  allow_root: false\n"                 /* ops (issue 9) */
        "log:\n"
        "  level: info\n"
        "  format: logfmt\n"
        "http:\n"                               /* ops (issue 9) */
        "  enabled: true\n"
        "  listen: 127.0.0.1:9514\n"
        "  ready_max_backlog: 3\n";

typedef int (*cfg_parse_fn)(struct cfg_ctx *x, yaml_node_t *val, void *obj);

struct cfg_key {
        const char *name;
        cfg_parse_fn parse;
};

/* Parses an unsigned decimal prefix; returns the number of digits (0: none or overflow). */
static size_t parse_digits(const char *s, uint64_t *ret)
{
        uint64_t v = 0;
        size_t i = 0;

        for (; s[i] >= '0' && s[i] <= '9'; i++) {
                uint64_t d = (uint64_t)(s[i] - '0');

                if (v > (UINT64_MAX - d) / 10)
                        return 0;
                v = v * 10 + d;
        }
        *ret = v;
        return i;
}

int config_parse_duration(const char *s, int64_t *ret_us)
{
        static const struct { const char *unit; int64_t us; } units[] = {
                { "", 1000000 }, { "ms", 1000 }, { "s", 1000000 }, { "m", 60000000 },
                { "h", INT64_C(3600000000) }, { "d", INT64_C(86400000000) },
        };
        uint64_t v;
        size_t n = parse_digits(s, &v);

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcmp(s + n, units[i].unit) != 0)
                        continue;
                if (v > (uint64_t)(INT64_MAX / units[i].us))
                        return -EINVAL;
                *ret_us = (int64_t)v * units[i].us;
                return 0;
        }
        return -EINVAL;
}

int config_parse_size(const char *s, uint64_t *ret)
{
        static const struct { const char *unit; uint64_t mult; } units[] = {
                { "", 1 }, { "B", 1 }, { "KiB", 1024 }, { "MiB", 1024 * 1024 },
                { "GiB", 1024 * 1024 * 1024 },
        };
        uint64_t v;
        size_t n = parse_digits(s, &v);

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcmp(s + n, units[i].unit) != 0)
                        continue;
                if (v > UINT64_MAX / units[i].mult)
                        return -EINVAL;
                *ret = v * units[i].mult;
                return 0;
        }
        return -EINVAL;
}

/* Walks a mapping against a key table: duplicate and unknown keys are errors. */
static int cfg_map(struct cfg_ctx *x, yaml_node_t *n, const struct cfg_key *keys, void *obj)
{
        size_t plen = strlen(x->path);
        int r = 0;

        if (n->type != YAML_MAPPING_NODE)
                return cfg_fail(x, n, "expected a mapping");
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             p < n->data.mapping.pairs.top && r >= 0; p++) {
                yaml_node_t *k = cfg_node(x, p->key);
                const struct cfg_key *key = keys;
                const char *name;

                r = cfg_scalar(x, k, &name);
                if (r < 0)
                        return r;
                for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
                        yaml_node_t *kq = cfg_node(x, q->key);

                        if (kq->type == YAML_SCALAR_NODE &&
                            !strcmp((const char *)kq->data.scalar.value, name))
                                return cfg_fail(x, k, "duplicate key '%s'", name);
                }
                while (key->name && strcmp(key->name, name) != 0)
                        key++;
                if (!key->name)
                        return cfg_fail(x, k, "unknown key '%s'", name);
                snprintf(x->path + plen, sizeof(x->path) - plen, "%s%s", plen ? "." : "",
                         name);
                r = key->parse(x, cfg_node(x, p->value), obj);
                x->path[plen] = '\0';
        }
        return r;
}

/* ---- leaves ---- */

static int parse_chain(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_name(x, n, &((struct config *)obj)->chain);
}

static int cfg_number(struct cfg_ctx *x, yaml_node_t *n, uint64_t lo, uint64_t hi,
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
                r = s[0] && parse_digits(s, &v) == strlen(s) ? 0 : -EINVAL;
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

static int parse_max_message(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        uint64_t v;
        int r = cfg_number(x, n, CONFIG_MAX_MESSAGE_MIN, SYSLOG_MAX_MESSAGE_CEIL, true, &v);

        if (r == 0)
                c->syslog.max_message = (size_t)v;
        return r;
}

static int parse_max_connections(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        uint64_t v;
        int r = cfg_number(x, n, 1, CONFIG_MAX_CONNECTIONS_CEIL, false, &v);

        if (r == 0)
                c->syslog.max_connections = (size_t)v;
        return r;
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
        struct config *c = obj;
        uint64_t v;
        int r = cfg_number(x, n, CONFIG_QUEUE_MIN, CONFIG_QUEUE_CEIL, false, &v);

        if (r == 0)
                c->queue_max_events = (size_t)v;
        return r;
}

static int parse_max_bytes(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        uint64_t v;
        /* At least one large event's worth; at most what a size_t holds on 32-bit too. */
        int r = cfg_number(x, n, CONFIG_QUEUE_BYTES_MIN, CONFIG_QUEUE_BYTES_CEIL, true, &v);

        if (r == 0)
                c->queue_max_bytes = (size_t)v;
        return r;
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

/* ---- lists ---- */

/* ---- syslog.listen items (issue 8: tls and relp with their options) ----
 * "- udp: ADDR", "- tcp: ADDR", "- unix: PATH" are one-pair mappings; "- tls: ADDR" and
 * "- relp: ADDR" may carry options in the same mapping (docs/CONFIG.md). */

/* Checks and copies a listener address (HOST:PORT, or a path for unix). */
static int listen_addr(struct cfg_ctx *x, yaml_node_t *v, enum ingest_transport t, char **dst)
{
        const char *addr;
        char *host;
        uint16_t port;
        int r = cfg_scalar(x, v, &addr);

        if (r < 0)
                return r;
        if (t == INGEST_UNIX) {
                if (strlen(addr) >= 108)
                        return cfg_fail(x, v, "socket path longer than 107 bytes");
        } else {
                r = ingest_parse_hostport(addr, &host, &port);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return cfg_fail(x, v, "bad address '%s' (HOST:PORT or [IPv6]:PORT, "
                                              "port 0-65535)", addr);
                free(host);
                if (t == INGEST_RELP && port == 0)
                        return cfg_fail(x, v, "relp needs a fixed port (librelp cannot "
                                              "report the one the system picks)");
        }
        return cfg_string(x, v, dst);
}

static int lopt_tls_addr(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return listen_addr(x, n, INGEST_TLS, &((struct ingest_listen *)obj)->addr);
}
static int lopt_relp_addr(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return listen_addr(x, n, INGEST_RELP, &((struct ingest_listen *)obj)->addr);
}
static int lopt_relp_tls(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_bool(x, n, &((struct ingest_listen *)obj)->tls);
}
static int lopt_cert(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct ingest_listen *)obj)->tls_opt.cert);
}
static int lopt_key(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct ingest_listen *)obj)->tls_opt.key);
}
static int lopt_ca(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct ingest_listen *)obj)->tls_opt.ca);
}
static int lopt_ciphers(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct ingest_listen *)obj)->tls_opt.ciphers);
}
static int lopt_verify(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_bool(x, n, &((struct ingest_listen *)obj)->tls_opt.verify_client);
}
static int lopt_names(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct ingest_tls_options *o = &((struct ingest_listen *)obj)->tls_opt;
        size_t len;

        if (n->type != YAML_SEQUENCE_NODE)
                return cfg_fail(x, n, "expected a list of names");
        len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (len == 0)
                return cfg_fail(x, n, "at least one name is needed (or leave the key out)");
        o->allowed_names = calloc(len, sizeof(*o->allowed_names));
        if (!o->allowed_names)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                int r = cfg_string(x, cfg_node(x, n->data.sequence.items.start[i]),
                                   &o->allowed_names[i]);
                if (r < 0)
                        return r;
                o->n_allowed_names++;
        }
        return 0;
}
static int lopt_duration(struct cfg_ctx *x, yaml_node_t *n, int64_t *dst)
{
        const char *s;
        int64_t us;
        int r = cfg_scalar(x, n, &s);

        if (r < 0)
                return r;
        if (config_parse_duration(s, &us) < 0 || us < 100 * 1000 ||
            us > 86400 * TM_USEC_PER_SEC)
                return cfg_fail(x, n, "bad duration '%s' (100ms to 1d, e.g. 10s, 5m)", s);
        *dst = us;
        return 0;
}
static int lopt_hs_timeout(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return lopt_duration(x, n, &((struct ingest_listen *)obj)->tls_opt.handshake_timeout_us);
}
static int lopt_idle_timeout(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return lopt_duration(x, n, &((struct ingest_listen *)obj)->tls_opt.idle_timeout_us);
}
static int lopt_per_peer(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        uint64_t v;
        int r = cfg_number(x, n, 1, CONFIG_MAX_CONNECTIONS_CEIL, false, &v);

        if (r == 0)
                ((struct ingest_listen *)obj)->tls_opt.max_per_peer = (size_t)v;
        return r;
}

static const struct cfg_key listen_tls_keys[] = {
        { "tls", lopt_tls_addr }, { "cert", lopt_cert }, { "key", lopt_key },
        { "ca", lopt_ca }, { "verify_client", lopt_verify }, { "allowed_names", lopt_names },
        { "ciphers", lopt_ciphers }, { "handshake_timeout", lopt_hs_timeout },
        { "idle_timeout", lopt_idle_timeout }, { "max_per_peer", lopt_per_peer },
        { NULL, NULL },
};
static const struct cfg_key listen_relp_keys[] = {
        { "relp", lopt_relp_addr }, { "tls", lopt_relp_tls }, { "cert", lopt_cert },
        { "key", lopt_key }, { "ca", lopt_ca }, { "verify_client", lopt_verify },
        { "allowed_names", lopt_names }, { "ciphers", lopt_ciphers },
        { "handshake_timeout", lopt_hs_timeout }, { "idle_timeout", lopt_idle_timeout },
        { "max_per_peer", lopt_per_peer }, { NULL, NULL },
};

static yaml_node_t *map_get(struct cfg_ctx *x, yaml_node_t *n, const char *key)
{
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = cfg_node(x, p->key);

                if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
                        return k;
        }
        return NULL;
}

/* tls and relp: options in the same mapping, checked together after the walk. */
static int parse_listen_secure(struct cfg_ctx *x, yaml_node_t *n, struct ingest_listen *l)
{
        struct ingest_tls_options *o = &l->tls_opt;
        bool relp = map_get(x, n, "relp") != NULL;
        int r;

        l->transport = relp ? INGEST_RELP : INGEST_TLS;
        l->tls = !relp;
        r = cfg_map(x, n, relp ? listen_relp_keys : listen_tls_keys, l);
        if (r < 0)
                return r;
        if (!map_get(x, n, "verify_client"))
                o->verify_client = o->ca != NULL;  /* a CA given means: check clients */
        if (!l->tls) {
                if (o->cert || o->key || o->ca || o->n_allowed_names || o->ciphers)
                        return cfg_fail(x, n, "certificate options need 'tls: true'");
                return 0;
        }
        if (!o->cert)
                return cfg_fail(x, n, "missing key 'cert'");
        if (!o->key)
                return cfg_fail(x, n, "missing key 'key'");
        if (o->verify_client && !o->ca)
                return cfg_fail(x, n, "verify_client needs 'ca'");
        if (o->n_allowed_names && !o->verify_client)
                return cfg_fail(x, n, "allowed_names needs verify_client: true");
        return 0;
}

static int parse_listen_item(struct cfg_ctx *x, yaml_node_t *n, struct ingest_listen *l)
{
        static const char *const names[] = {
                [INGEST_UDP] = "udp", [INGEST_TCP] = "tcp", [INGEST_UNIX] = "unix",
                [INGEST_TLS] = "tls", [INGEST_RELP] = "relp",
        };
        yaml_node_pair_t *p;
        yaml_node_t *k;
        const char *name;
        size_t t = 0;
        int r;

        if (n->type != YAML_MAPPING_NODE || n->data.mapping.pairs.top == n->data.mapping.pairs.start)
                return cfg_fail(x, n, "each listener is exactly one of udp, tcp or unix "
                                      "(or tls, relp with their options)");
        if (map_get(x, n, "tls") || map_get(x, n, "relp"))
                return parse_listen_secure(x, n, l);
        if (n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1)
                return cfg_fail(x, n, "each listener is exactly one of udp, tcp or unix "
                                      "(or tls, relp with their options)");
        p = n->data.mapping.pairs.start;
        k = cfg_node(x, p->key);
        r = cfg_scalar(x, k, &name);
        if (r < 0)
                return r;
        while (t < 5 && strcmp(names[t], name) != 0)
                t++;
        if (t == 5)
                return cfg_fail(x, k, "unknown transport '%s' (udp, tcp, unix, tls or relp)",
                                name);
        l->transport = (enum ingest_transport)t;
        return listen_addr(x, cfg_node(x, p->value), l->transport, &l->addr);
}

static int parse_listen(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        size_t len;

        if (n->type != YAML_SEQUENCE_NODE)
                return cfg_fail(x, n, "expected a list of listeners");
        len = cfg_seq_len(n);
        if (len == 0)
                return cfg_fail(x, n, "at least one listener is needed");
        for (size_t i = 0; i < c->syslog.n_listen; i++)
                ingest_listen_clear(&c->syslog.listen[i]);
        free(c->syslog.listen);
        c->syslog.n_listen = 0;
        c->syslog.listen = calloc(len, sizeof(*c->syslog.listen));
        if (!c->syslog.listen)
                return -ENOMEM;
        x->listen_given = true;
        for (size_t i = 0; i < len; i++) {
                size_t plen = strlen(x->path);
                int r;

                snprintf(x->path + plen, sizeof(x->path) - plen, "[%zu]", i);
                r = parse_listen_item(x, cfg_node(x, n->data.sequence.items.start[i]),
                                      &c->syslog.listen[i]);
                x->path[plen] = '\0';
                if (r < 0) {
                        ingest_listen_clear(&c->syslog.listen[i]);  /* partly filled */
                        return r;
                }
                c->syslog.n_listen++;
        }
        return 0;
}

static int parse_out_name(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_name(x, n, &((struct config_output *)obj)->name);
}

static int parse_out_type(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config_output *o = obj;
        int r = cfg_string(x, n, &o->type);

        if (r == 0 && strcmp(o->type, "folder") != 0 && strcmp(o->type, "s3") != 0)
                return cfg_fail(x, n, "unknown output type '%s' (folder, s3)", o->type);
        return r;
}

static int parse_out_path(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config_output *)obj)->path);
}

/* S3 exports (issue 7): the `s3:` block is parsed in cli/config-outputs-s3.c. */
static int parse_out_s3(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return config_s3_parse(x->doc, n, x->path, &((struct config_output *)obj)->s3, x->err);
}

static const struct cfg_key output_keys[] = {
        { "name", parse_out_name },
        { "type", parse_out_type },
        { "path", parse_out_path },
        { "s3", parse_out_s3 },  /* issue 7 */
        { NULL, NULL },
};

static int parse_output(struct cfg_ctx *x, yaml_node_t *n, struct config *c, size_t i)
{
        struct config_output *o = &c->outputs[i];
        const char *missing = NULL;
        int r = cfg_map(x, n, output_keys, o);

        if (r < 0)
                return r;
        if (!o->name)
                missing = "name";
        else if (!o->type)
                missing = "type";
        else if (!o->path && !strcmp(o->type, "folder"))
                missing = "path";
        else if (!o->s3 && !strcmp(o->type, "s3"))  /* issue 7 */
                missing = "s3";
        if (missing)
                return cfg_fail(x, n, "missing key '%s'", missing);
        if (strcmp(o->type, "folder") ? o->path != NULL : o->s3 != NULL)  /* issue 7 */
                return cfg_fail(x, n, "'%s' belongs to the other output type",
                                strcmp(o->type, "folder") ? "path" : "s3");
        for (size_t k = 0; k < i; k++)
                if (!strcmp(c->outputs[k].name, o->name)) {
                        /* Point at the duplicate's name, where the fix goes. */
                        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
                             p < n->data.mapping.pairs.top; p++)
                                if (!strcmp((char *)cfg_node(x, p->key)->data.scalar.value,
                                            "name"))
                                        n = cfg_node(x, p->value);
                        return cfg_fail(x, n, "duplicate output name '%s'", o->name);
                }
        return 0;
}

static void outputs_free(struct config *c)
{
        for (size_t i = 0; i < c->n_outputs; i++) {
                free(c->outputs[i].name);
                free(c->outputs[i].type);
                free(c->outputs[i].path);
                config_s3_free(c->outputs[i].s3);  /* issue 7 */
        }
        free(c->outputs);
        c->outputs = NULL;
        c->n_outputs = 0;
}

static int parse_outputs(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        size_t plen = strlen(x->path), len;

        if (n->type != YAML_SEQUENCE_NODE)
                return cfg_fail(x, n, "expected a list of outputs");
        outputs_free(c);
        x->outputs_given = true;
        len = cfg_seq_len(n);
        if (len == 0)
                return 0;
        c->outputs = calloc(len, sizeof(*c->outputs));
        if (!c->outputs)
                return -ENOMEM;
        c->n_outputs = len;
        for (size_t i = 0; i < len; i++) {
                int r;

                snprintf(x->path + plen, sizeof(x->path) - plen, "[%zu]", i);
                r = parse_output(x, cfg_node(x, n->data.sequence.items.start[i]), c, i);
                x->path[plen] = '\0';
                if (r < 0)
                        return r;
        }
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
        { "listen", parse_listen },
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

static const struct cfg_key root_keys[] = {
        { "chain", parse_chain },
        { "syslog", parse_syslog },
        { "queue", parse_queue },
        { "store", parse_store },
        { "seal", parse_seal },
        { "outputs", parse_outputs },
        { "run", parse_run },
        { "log", parse_log },
        { "rules", parse_rules },  /* issue 4 */
        { "http", parse_http },  /* ops (issue 9) */
        { "journald", parse_journald },  /* issue 5 */
        { "kafka", parse_kafka },  /* issue 6 */
        { NULL, NULL },
};

/* ---- loading ---- */

static int set_str(char **dst, const char *s)
{
        *dst = strdup(s);
        return *dst ? 0 : -ENOMEM;
}

/* Scalars that the embedded default also sets; lists are added after the parse when the
 * file did not give them (an explicit empty outputs list stays empty). */
static int config_defaults(struct config *c)
{
        char host[256] = "";

        c->syslog.max_message = SYSLOG_MAX_MESSAGE_DEFAULT;
        c->syslog.max_connections = TCP_MAX_CONNECTIONS_DEFAULT;
        c->syslog.format = NORM_AUTO;
        c->queue_max_events = QUEUE_MAX_EVENTS_DEFAULT;
        c->queue_max_bytes = QUEUE_MAX_BYTES_DEFAULT;
        c->epoch_us = 3600 * TM_USEC_PER_SEC;
        c->log_level = LOG_LVL_INFO;
        c->log_json = false;
        /* A host name outside the name alphabet (rare) falls back to a fixed chain name. */
        if (gethostname(host, sizeof(host) - 1) < 0 || !cfg_name_valid(host))
                snprintf(host, sizeof(host), "gatelog");
        if (set_str(&c->chain, host) < 0 || set_str(&c->db_path, "var/gatelog.db") < 0 ||
            set_str(&c->key_path, "var/gatelog.key") < 0 ||
            set_str(&c->pid_file, "var/gatelog.pid") < 0 ||
            set_str(&c->http.listen, "127.0.0.1:9514") < 0)  /* ops (issue 9) */
                return -ENOMEM;
        c->http.enabled = true;                 /* ops (issue 9) */
        c->http.ready_max_backlog = 3;
        return 0;
}

static int config_default_lists(struct config *c, const struct cfg_ctx *x)
{
        if (!x->listen_given) {
                c->syslog.listen = calloc(2, sizeof(*c->syslog.listen));
                if (!c->syslog.listen)
                        return -ENOMEM;
                for (size_t i = 0; i < 2; i++) {
                        c->syslog.listen[i].transport = i ? INGEST_TCP : INGEST_UDP;
                        if (set_str(&c->syslog.listen[i].addr, "127.0.0.1:5514") < 0)
                                return -ENOMEM;
                        c->syslog.n_listen++;
                }
        }
        if (!x->outputs_given) {
                c->outputs = calloc(1, sizeof(*c->outputs));
                if (!c->outputs)
                        return -ENOMEM;
                c->n_outputs = 1;
                if (set_str(&c->outputs[0].name, "local") < 0 ||
                    set_str(&c->outputs[0].type, "folder") < 0 ||
                    set_str(&c->outputs[0].path, "var/exports") < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int yaml_fail(struct cfg_ctx *x, const yaml_parser_t *p)
{
        const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;

        x->err->line = (unsigned)m->line + 1;
        x->err->column = (unsigned)m->column + 1;
        if (p->error == YAML_MEMORY_ERROR)
                return -ENOMEM;
        snprintf(x->err->msg, sizeof(x->err->msg), "YAML: %s%s%s",
                 p->problem ? p->problem : "syntax error", p->context ? " " : "",
                 p->context ? p->context : "");
        return -EINVAL;
}

/* Parses the one document of the text into c (which holds the defaults). */
static int config_parse(struct cfg_ctx *x, const char *text, size_t len, struct config *c)
{
        yaml_parser_t parser;
        yaml_document_t doc, extra;
        yaml_node_t *root;
        int r = 0;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        if (!yaml_parser_load(&parser, &doc)) {
                r = yaml_fail(x, &parser);
                yaml_parser_delete(&parser);
                return r;
        }
        x->doc = &doc;
        root = yaml_document_get_root_node(&doc);
        if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
                r = root->type == YAML_MAPPING_NODE ? cfg_map(x, root, root_keys, c)
                                                    : cfg_fail(x, root, "expected a mapping");
        if (r == 0) {
                if (!yaml_parser_load(&parser, &extra)) {
                        r = yaml_fail(x, &parser);
                } else {
                        if (yaml_document_get_root_node(&extra)) {
                                x->err->line = (unsigned)extra.start_mark.line + 1;
                                x->err->column = (unsigned)extra.start_mark.column + 1;
                                snprintf(x->err->msg, sizeof(x->err->msg),
                                         "only one YAML document is allowed");
                                r = -EINVAL;
                        }
                        yaml_document_delete(&extra);
                }
        }
        x->doc = NULL; /* issue 11 (cppcheck autoVariables): no pointer to doc outlives it */
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        return r;
}

int config_load_text(const char *name, const char *text, size_t len, struct config *ret,
                     struct config_error *err)
{
        struct config c = { 0 };
        struct config_error e = { 0 };
        struct cfg_ctx x = { .err = &e };
        int r;

        snprintf(e.file, sizeof(e.file), "%s", name);
        if (len > CONFIG_FILE_MAX) {
                snprintf(e.msg, sizeof(e.msg), "larger than %d bytes", CONFIG_FILE_MAX);
                r = -EINVAL;
                goto fail;
        }
        r = config_defaults(&c);
        if (r == 0)
                r = config_parse(&x, text, len, &c);
        if (r == 0)
                r = config_default_lists(&c, &x);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        if (r == -ENOMEM) {
                e.line = e.column = 0;
                snprintf(e.msg, sizeof(e.msg), "%s", strerror(ENOMEM));
        }
        if (err)
                *err = e;
        config_free(&c);
        return r;
}

int config_load_file(const char *path, struct config *ret, struct config_error *err)
{
        char *text = NULL;
        struct stat st;
        ssize_t n = 0;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                goto fail_errno;
        if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
                errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
                goto fail_errno;
        }
        text = malloc((size_t)st.st_size + 1);
        if (!text)
                goto fail_errno;
        /* Read until EOF or the size stat gave plus one byte (the file may be changing). */
        while ((size_t)n <= (size_t)st.st_size) {
                ssize_t k = read(fd, text + n, (size_t)st.st_size + 1 - (size_t)n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        goto fail_errno;
                if (k == 0)
                        break;
                n += k;
        }
        close(fd);
        r = config_load_text(path, text, (size_t)n, ret, err);
        free(text);
        return r;
fail_errno:
        r = -errno;
        if (err) {
                memset(err, 0, sizeof(*err));
                snprintf(err->file, sizeof(err->file), "%s", path);
                snprintf(err->msg, sizeof(err->msg), "cannot read: %s", strerror(-r));
        }
        if (fd >= 0)
                close(fd);
        free(text);
        return r;
}

void config_free(struct config *c)
{
        if (!c)
                return;
        free(c->chain);
        for (size_t i = 0; i < c->syslog.n_listen; i++)
                ingest_listen_clear(&c->syslog.listen[i]);
        free(c->syslog.listen);
        outputs_free(c);
        config_journald_free(c->journald, c->n_journald);  /* issue 5 */
        config_kafka_free(c);  /* issue 6 */
        free(c->db_path);
        free(c->key_path);
        free(c->pid_file);
        for (size_t i = 0; i < c->n_rules_paths; i++)  /* issue 4 */
                free(c->rules_paths[i]);
        free(c->rules_paths);
        free(c->rules_hmac_key);
        free(c->http.listen);  /* ops (issue 9) */
        free(c->run_user);
        free(c->run_group);
        free(c->tsa_url);  /* issue 10 */
        free(c->tsa_ca);
        memset(c, 0, sizeof(*c));
}

void config_error_format(const struct config_error *err, char *out, size_t len)
{
        if (err->line)
                snprintf(out, len, "%s:%u:%u: %s", err->file, err->line, err->column,
                         err->msg);
        else
                snprintf(out, len, "%s: %s", err->file, err->msg);
}

/* ---- ops (issue 9): environment overrides ----
 * The usual sidecar knobs can be set from the environment (containers, systemd's
 * Environment=). They are turned into one small YAML document laid over the loaded
 * configuration by the same parser, so every value is checked exactly as in a file; an error
 * names the variable. GATELOG_ variables not in this table are left to their owners. */

static const struct env_knob {
        const char *var, *section, *key;
        enum { ENV_SCALAR, ENV_BOOL, ENV_LISTEN } kind;
} env_knobs[] = {
        { "GATELOG_CHAIN", NULL, "chain", ENV_SCALAR },
        { "GATELOG_SYSLOG_LISTEN", "syslog", "listen", ENV_LISTEN },
        { "GATELOG_QUEUE_MAX_EVENTS", "queue", "max_events", ENV_SCALAR },
        { "GATELOG_QUEUE_MAX_BYTES", "queue", "max_bytes", ENV_SCALAR },
        { "GATELOG_STORE_PATH", "store", "path", ENV_SCALAR },
        { "GATELOG_SEAL_EPOCH", "seal", "epoch", ENV_SCALAR },
        { "GATELOG_SEAL_KEY", "seal", "key", ENV_SCALAR },
        { "GATELOG_RUN_PID_FILE", "run", "pid_file", ENV_SCALAR },
        { "GATELOG_RUN_USER", "run", "user", ENV_SCALAR },
        { "GATELOG_RUN_GROUP", "run", "group", ENV_SCALAR },
        { "GATELOG_RUN_ALLOW_ROOT", "run", "allow_root", ENV_BOOL },
        { "GATELOG_LOG_LEVEL", "log", "level", ENV_SCALAR },
        { "GATELOG_LOG_FORMAT", "log", "format", ENV_SCALAR },
        { "GATELOG_HTTP_ENABLED", "http", "enabled", ENV_BOOL },
        { "GATELOG_HTTP_LISTEN", "http", "listen", ENV_SCALAR },
        { "GATELOG_HTTP_READY_MAX_BACKLOG", "http", "ready_max_backlog", ENV_SCALAR },
};
#define ENV_KNOBS (sizeof(env_knobs) / sizeof(env_knobs[0]))

/* Appends s as a YAML double-quoted scalar (n bytes), then end (a newline, or ""). */
static int env_quote(struct buf *b, const char *s, size_t n, const char *end)
{
        int r = buf_putc(b, '"');

        for (size_t i = 0; r >= 0 && i < n; i++) {
                unsigned char ch = (unsigned char)s[i];

                if (ch == '"' || ch == '\\')
                        r = buf_printf(b, "\\%c", ch);
                else if (ch < 0x20 || ch == 0x7f)
                        r = buf_printf(b, "\\x%02x", ch);
                else
                        r = buf_putc(b, (char)ch);
        }
        return r < 0 ? r : buf_printf(b, "\"%s", end);
}

static int env_value(struct buf *b, const struct env_knob *k, const char *v)
{
        if (k->kind == ENV_BOOL) {
                /* The spellings environments use for booleans. */
                if (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on"))
                        v = "true";
                else if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off"))
                        v = "false";
        }
        if (k->kind != ENV_LISTEN)
                return env_quote(b, v, strlen(v), "\n");
        /* "udp:127.0.0.1:514,tcp:[::]:514,unix:/run/gatelog/log.sock" */
        int r = buf_putc(b, '\n');
        for (const char *p = v; r >= 0;) {
                const char *end = strchr(p, ','), *colon;
                size_t n = end ? (size_t)(end - p) : strlen(p);

                colon = memchr(p, ':', n);
                r = buf_puts(b, "    - ");
                if (r >= 0 && colon) {
                        r = env_quote(b, p, (size_t)(colon - p), ": ");
                        if (r >= 0)
                                r = env_quote(b, colon + 1, n - (size_t)(colon + 1 - p), "\n");
                } else if (r >= 0) {
                        r = env_quote(b, p, n, "\n");
                }
                if (!end)
                        break;
                p = end + 1;
        }
        return r;
}

static unsigned count_lines(const struct buf *b)
{
        unsigned n = 0;

        for (size_t i = 0; i < b->len; i++)
                n += b->data[i] == '\n';
        return n;
}

/* Builds the overrides document; first_line[i] is the 1-based line where knob i starts (0
 * when unset). *ret is "" when no knob is set. Caller frees. */
static int env_document(char **ret, unsigned first_line[ENV_KNOBS])
{
        struct buf b = BUF_INIT;
        const char *open_section = NULL;
        int r = buf_puts(&b, "");

        for (size_t i = 0; r >= 0 && i < ENV_KNOBS; i++) {
                const struct env_knob *k = &env_knobs[i];
                const char *v = getenv(k->var);

                first_line[i] = 0;
                if (!v)
                        continue;
                if (k->section && (!open_section || strcmp(open_section, k->section) != 0)) {
                        r = buf_printf(&b, "%s:\n", k->section);
                        open_section = k->section;
                } else if (!k->section) {
                        open_section = NULL;
                }
                first_line[i] = count_lines(&b) + 1;
                if (r >= 0)
                        r = buf_printf(&b, "%s%s: ", k->section ? "  " : "", k->key);
                if (r >= 0)
                        r = env_value(&b, k, v);
        }
        if (r < 0) {
                buf_free(&b);
                return r;
        }
        *ret = buf_steal(&b, NULL);
        return *ret ? 0 : -ENOMEM;
}

int config_env_yaml(char **ret)
{
        unsigned lines[ENV_KNOBS];

        return env_document(ret, lines);
}

int config_apply_env(struct config *c, struct config_error *err)
{
        unsigned lines[ENV_KNOBS];
        struct config_error e = { 0 };
        struct cfg_ctx x = { .err = &e };
        char *text = NULL;
        int r = env_document(&text, lines);

        if (r < 0 || !text[0]) {
                free(text);
                return r;
        }
        snprintf(e.file, sizeof(e.file), "environment");
        r = config_parse(&x, text, strlen(text), c);
        free(text);
        if (r == -EINVAL && err) {
                /* Name the variable whose lines hold the error. */
                const char *var = NULL;

                for (size_t i = 0; i < ENV_KNOBS; i++)
                        if (lines[i] && lines[i] <= e.line)
                                var = env_knobs[i].var;
                if (var)
                        snprintf(e.file, sizeof(e.file), "%s", var);
                e.line = e.column = 0;
                *err = e;
        } else if (r < 0 && err) {
                memset(err, 0, sizeof(*err));
                snprintf(err->file, sizeof(err->file), "environment");
                snprintf(err->msg, sizeof(err->msg), "%s", strerror(-r));
        }
        return r;
}
