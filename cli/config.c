/* The daemon's configuration: YAML (libyaml's document API) into struct config.
 *
 * Every key has a default (the values of the embedded default text, which is itself loaded
 * by this same code), so a file need only name what it changes. The shape is declared in
 * key tables, one per section, so an unknown key fails at start-up (the Fluent Bit lesson),
 * and every error names file:line:column (1-based) of the node at fault. The walk descends
 * a fixed schema at most four levels deep, so aliases (even cyclic ones) cannot make it loop.
 * Input is capped at CONFIG_FILE_MAX bytes. Nothing here logs; the caller prints the error.
 *
 * This file holds the defaults, the loading of a text or a file and the error format; the
 * sections' key tables and leaves are in config-sections.c, syslog.listen in
 * config-listen.c, outputs in config-outputs.c, the environment overrides in config-env.c
 * (cli/config-int.h ties them together). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "cli/config.h"
#include "cli/config-int.h"
#include "cli/config-journald.h"  /* journald (issue 5) */
#include "cli/config-kafka.h"  /* Kafka (issue 6) */
#include "core/limits.h"
#include "core/tm.h"

/* A configuration is a page of text; a megabyte is a mistake (or an attack) already. */
#define CONFIG_FILE_MAX (1024 * 1024)

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
        "  max_bytes: 12MiB\n"   /* QUEUE_MAX_BYTES_DEFAULT */
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
/* Parses an unsigned decimal prefix; returns the number of digits (0: none or overflow). */
size_t cfg_parse_digits(const char *s, uint64_t *ret)
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

/* A number followed by one of the units (none of them: -EINVAL), times the unit's
 * multiplier, at most max. */
struct cfg_unit {
        const char *unit;
        uint64_t mult;
};

static int parse_with_unit(const char *s, const struct cfg_unit *units, size_t n_units,
                           uint64_t max, uint64_t *ret)
{
        uint64_t v;
        size_t n = cfg_parse_digits(s, &v);

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n_units; i++) {
                if (strcmp(s + n, units[i].unit) != 0)
                        continue;
                if (v > max / units[i].mult)
                        return -EINVAL;
                *ret = v * units[i].mult;
                return 0;
        }
        return -EINVAL;
}

int config_parse_duration(const char *s, int64_t *ret_us)
{
        static const struct cfg_unit units[] = {
                { "", 1000000 }, { "ms", 1000 }, { "s", 1000000 }, { "m", 60000000 },
                { "h", UINT64_C(3600000000) }, { "d", UINT64_C(86400000000) },
        };
        uint64_t us;
        int r = parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), INT64_MAX, &us);

        if (r == 0)
                *ret_us = (int64_t)us;
        return r;
}

int config_parse_size(const char *s, uint64_t *ret)
{
        static const struct cfg_unit units[] = {
                { "", 1 }, { "B", 1 }, { "KiB", 1024 }, { "MiB", 1024 * 1024 },
                { "GiB", 1024 * 1024 * 1024 },
        };

        return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), UINT64_MAX, ret);
}

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
int cfg_parse_document(struct cfg_ctx *x, const char *text, size_t len, struct config *c)
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
                r = root->type == YAML_MAPPING_NODE ? cfg_map(x, root, cfg_root_keys, c)
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
                r = cfg_parse_document(&x, text, len, &c);
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
        cfg_outputs_free(c);
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
