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
#include "core/limits.h"
#include "core/tm.h"

/* A configuration is a page of text; a megabyte is a mistake (or an attack) already. */
#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_NAME_MAX 64
#define CONFIG_MAX_CONNECTIONS_CEIL 65536
#define CONFIG_QUEUE_MIN 8
#define CONFIG_QUEUE_CEIL (16u * 1024 * 1024)
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
        "  max_events: 65536\n"
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
        "log:\n"
        "  level: info\n"
        "  format: logfmt\n";

struct cfg_ctx {
        yaml_document_t *doc;
        struct config_error *err;
        char path[64];          /* the key being parsed, for messages: "syslog.max_message" */
        bool listen_given, outputs_given;
};

typedef int (*cfg_parse_fn)(struct cfg_ctx *x, yaml_node_t *val, void *obj);

struct cfg_key {
        const char *name;
        cfg_parse_fn parse;
};

/* Fills the error at node n ("path: message") and returns -EINVAL. */
__attribute__((format(printf, 3, 4)))
static int cfg_fail(struct cfg_ctx *x, const yaml_node_t *n, const char *fmt, ...)
{
        char msg[180];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* err->file was set by the loader; keep it. */
        x->err->line = (unsigned)n->start_mark.line + 1;
        x->err->column = (unsigned)n->start_mark.column + 1;
        if (x->path[0])
                snprintf(x->err->msg, sizeof(x->err->msg), "%s: %s", x->path, msg);
        else
                snprintf(x->err->msg, sizeof(x->err->msg), "%s", msg);
        return -EINVAL;
}

static yaml_node_t *cfg_node(struct cfg_ctx *x, int id)
{
        return yaml_document_get_node(x->doc, id);
}

/* A scalar's text, NUL-free. YAML's null spellings count as missing. */
static int cfg_scalar(struct cfg_ctx *x, yaml_node_t *n, const char **ret)
{
        const char *s;

        if (n->type != YAML_SCALAR_NODE)
                return cfg_fail(x, n, "expected a value, not a %s",
                                n->type == YAML_MAPPING_NODE ? "mapping" : "list");
        s = (const char *)n->data.scalar.value;
        if (strlen(s) != n->data.scalar.length)
                return cfg_fail(x, n, "value contains a NUL byte");
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
             !strcmp(s, "NULL")))
                return cfg_fail(x, n, "missing value");
        *ret = s;
        return 0;
}

static int cfg_string(struct cfg_ctx *x, yaml_node_t *n, char **dst)
{
        const char *s;
        char *copy;
        int r = cfg_scalar(x, n, &s);

        if (r < 0)
                return r;
        if (!*s)
                return cfg_fail(x, n, "must not be empty");
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        free(*dst);
        *dst = copy;
        return 0;
}

static bool name_valid(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > CONFIG_NAME_MAX)
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
               n;
}

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
        struct config *c = obj;
        int r = cfg_string(x, n, &c->chain);

        if (r == 0 && !name_valid(c->chain))
                return cfg_fail(x, n, "'%s' is not a name (1-%d of A-Z a-z 0-9 . _ -)",
                                c->chain, CONFIG_NAME_MAX);
        return r;
}

static int cfg_number(struct cfg_ctx *x, yaml_node_t *n, uint64_t lo, uint64_t hi,
                      bool size, uint64_t *ret)
{
        const char *s;
        uint64_t v;
        int r = cfg_scalar(x, n, &s);

        if (r < 0)
                return r;
        r = size ? config_parse_size(s, &v) : (parse_digits(s, &v) == strlen(s) ? 0 : -1);
        if (r < 0)
                return cfg_fail(x, n, size ? "bad size '%s' (a number, optionally followed "
                                             "by B, KiB, MiB or GiB)"
                                           : "bad number '%s'", s);
        if (v < lo || v > hi)
                return cfg_fail(x, n, "%s is out of range %llu..%llu", s,
                                (unsigned long long)lo, (unsigned long long)hi);
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

static int parse_db_path(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config *)obj)->db_path);
}

static int parse_key_path(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config *)obj)->key_path);
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

static int parse_listen_item(struct cfg_ctx *x, yaml_node_t *n, struct ingest_listen *l)
{
        static const char *const names[] = {
                [INGEST_UDP] = "udp", [INGEST_TCP] = "tcp", [INGEST_UNIX] = "unix",
        };
        yaml_node_pair_t *p;
        yaml_node_t *k, *v;
        const char *name, *addr;
        char *host;
        uint16_t port;
        size_t t = 0;
        int r;

        if (n->type != YAML_MAPPING_NODE ||
            n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1)
                return cfg_fail(x, n, "each listener is exactly one of udp, tcp or unix");
        p = n->data.mapping.pairs.start;
        k = cfg_node(x, p->key);
        v = cfg_node(x, p->value);
        r = cfg_scalar(x, k, &name);
        if (r < 0)
                return r;
        while (t < 3 && strcmp(names[t], name) != 0)
                t++;
        if (t == 3)
                return cfg_fail(x, k, "unknown transport '%s' (udp, tcp or unix)", name);
        r = cfg_scalar(x, v, &addr);
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
        }
        l->addr = strdup(addr);
        if (!l->addr)
                return -ENOMEM;
        l->transport = (enum ingest_transport)t;
        return 0;
}

static size_t seq_len(const yaml_node_t *n)
{
        return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static int parse_listen(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config *c = obj;
        size_t len;

        if (n->type != YAML_SEQUENCE_NODE)
                return cfg_fail(x, n, "expected a list of listeners");
        len = seq_len(n);
        if (len == 0)
                return cfg_fail(x, n, "at least one listener is needed");
        for (size_t i = 0; i < c->syslog.n_listen; i++)
                free(c->syslog.listen[i].addr);
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
                if (r < 0)
                        return r;
                c->syslog.n_listen++;
        }
        return 0;
}

static int parse_out_name(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config_output *o = obj;
        int r = cfg_string(x, n, &o->name);

        if (r == 0 && !name_valid(o->name))
                return cfg_fail(x, n, "'%s' is not a name (1-%d of A-Z a-z 0-9 . _ -)",
                                o->name, CONFIG_NAME_MAX);
        return r;
}

static int parse_out_type(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        struct config_output *o = obj;
        int r = cfg_string(x, n, &o->type);

        if (r == 0 && strcmp(o->type, "folder") != 0)
                return cfg_fail(x, n, "unknown output type '%s' (folder)", o->type);
        return r;
}

static int parse_out_path(struct cfg_ctx *x, yaml_node_t *n, void *obj)
{
        return cfg_string(x, n, &((struct config_output *)obj)->path);
}

static const struct cfg_key output_keys[] = {
        { "name", parse_out_name },
        { "type", parse_out_type },
        { "path", parse_out_path },
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
        else if (!o->path)
                missing = "path";
        if (missing)
                return cfg_fail(x, n, "missing key '%s'", missing);
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
        len = seq_len(n);
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

/* ---- sections ---- */

static const struct cfg_key syslog_keys[] = {
        { "listen", parse_listen },
        { "max_message", parse_max_message },
        { "max_connections", parse_max_connections },
        { "format", parse_format },
        { NULL, NULL },
};
static const struct cfg_key queue_keys[] = { { "max_events", parse_max_events }, { 0 } };
static const struct cfg_key store_keys[] = { { "path", parse_db_path }, { 0 } };
static const struct cfg_key seal_keys[] = {
        { "epoch", parse_epoch }, { "key", parse_key_path }, { NULL, NULL },
};
static const struct cfg_key run_keys[] = { { "pid_file", parse_pid_file }, { 0 } };
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

static const struct cfg_key root_keys[] = {
        { "chain", parse_chain },
        { "syslog", parse_syslog },
        { "queue", parse_queue },
        { "store", parse_store },
        { "seal", parse_seal },
        { "outputs", parse_outputs },
        { "run", parse_run },
        { "log", parse_log },
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
        c->epoch_us = 3600 * TM_USEC_PER_SEC;
        c->log_level = LOG_LVL_INFO;
        c->log_json = false;
        /* A host name outside the name alphabet (rare) falls back to a fixed chain name. */
        if (gethostname(host, sizeof(host) - 1) < 0 || !name_valid(host))
                snprintf(host, sizeof(host), "gatelog");
        if (set_str(&c->chain, host) < 0 || set_str(&c->db_path, "var/gatelog.db") < 0 ||
            set_str(&c->key_path, "var/gatelog.key") < 0 ||
            set_str(&c->pid_file, "var/gatelog.pid") < 0)
                return -ENOMEM;
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
                free(c->syslog.listen[i].addr);
        free(c->syslog.listen);
        outputs_free(c);
        free(c->db_path);
        free(c->key_path);
        free(c->pid_file);
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
