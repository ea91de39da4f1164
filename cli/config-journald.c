/* The `journald:` list: one item per journal source (ingest/journald.h).
 *
 *   journald:
 *     - name: host1                    # required, unique, 1-64 of A-Z a-z 0-9 . _ -
 *       directory: /host/var/log/journal   # exactly one of directory, files, system: true
 *       match: ["_SYSTEMD_UNIT=sshd.service"]
 *       units: [sshd, cron.service]
 *       identifiers: [sudo]
 *       transports: [syslog, journal]
 *       priorities: info               # the highest PRIORITY number kept: 0-7 or a name
 *       start: head                    # head | tail | RFC 3339 time; first start only
 *
 * Errors name the node: "journald[0].match[2]: ...". The walk has a fixed depth (list,
 * mapping, list of scalars), so YAML aliases cannot make it loop. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config-yaml.h"
#include "cli/config-journald.h"
#include "core/tm.h"
#include "normalize/normalize.h"

#define NAME_MAX_LEN 64
/* journald's own limit on field names (JOURNAL_FIELD_NAME_MAX in systemd 252 is 64). */
#define FIELD_NAME_MAX 64

static bool field_name_valid(const char *s, size_t n)
{
        /* journald: A-Z, 0-9 and '_', not starting with a digit; at most 64. */
        if (n == 0 || n > FIELD_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
                        return false;
        return true;
}

typedef int (*item_check)(struct cfg_ctx *x, yaml_node_t *n, const char *s);

static int check_match(struct cfg_ctx *x, yaml_node_t *n, const char *s)
{
        const char *eq = strchr(s, '=');

        if (!eq || !field_name_valid(s, (size_t)(eq - s)))
                return cfg_fail(x, n, "'%s' is not FIELD=value (FIELD: A-Z 0-9 _, not starting "
                                   "with a digit, at most 64)", s);
        return 0;
}

static int check_transport(struct cfg_ctx *x, yaml_node_t *n, const char *s)
{
        static const char *const ok[] = { "audit", "driver", "syslog", "journal", "stdout",
                                          "kernel" };

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                if (!strcmp(s, ok[i]))
                        return 0;
        return cfg_fail(x, n, "unknown transport '%s' (audit, driver, syslog, journal, stdout, "
                           "kernel)", s);
}

/* A list of non-empty strings (a single scalar is taken as a list of one). */
static int jlist(struct cfg_ctx *x, yaml_node_t *n, item_check check, char ***ret, size_t *ret_n)
{
        size_t plen = strlen(x->path), len;
        yaml_node_item_t *items;
        char **v;

        if (n->type == YAML_MAPPING_NODE)
                return cfg_fail(x, n, "expected a list");
        len = n->type == YAML_SCALAR_NODE ? 1
              : (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (len == 0)
                return cfg_fail(x, n, "an empty list (leave the key out for no filter)");
        items = n->type == YAML_SEQUENCE_NODE ? n->data.sequence.items.start : NULL;
        for (size_t i = 0; i < *ret_n; i++)
                free((*ret)[i]);
        free(*ret);
        *ret = NULL;
        *ret_n = 0;
        v = calloc(len, sizeof(*v));
        if (!v)
                return -ENOMEM;
        *ret = v;
        for (size_t i = 0; i < len; i++) {
                yaml_node_t *it = items ? yaml_document_get_node(x->doc, items[i]) : n;
                const char *s;
                int r;

                if (items)
                        snprintf(x->path + plen, sizeof(x->path) - plen, "[%zu]", i);
                r = cfg_text(x, it, &s);
                if (r == 0 && check)
                        r = check(x, it, s);
                if (r == 0 && !(v[i] = strdup(s)))
                        r = -ENOMEM;
                x->path[plen] = '\0';
                if (r < 0)
                        return r;
                (*ret_n)++;
        }
        return 0;
}

static int parse_priority(struct cfg_ctx *x, yaml_node_t *n, int *ret)
{
        const char *s;
        int r = cfg_text(x, n, &s);

        if (r < 0)
                return r;
        if (s[0] >= '0' && s[0] <= '7' && !s[1]) {
                *ret = s[0] - '0';
                return 0;
        }
        for (int p = 0; p < 8; p++)
                if (!strcmp(s, norm_severity_name(p))) {
                        *ret = p;
                        return 0;
                }
        return cfg_fail(x, n, "unknown priority '%s' (0-7 or emerg alert crit err warning "
                           "notice info debug)", s);
}

static int parse_start(struct cfg_ctx *x, yaml_node_t *n, struct journald_config *c)
{
        const char *s;
        int r = cfg_text(x, n, &s);

        if (r < 0)
                return r;
        if (!strcmp(s, "head")) {
                c->start = JOURNALD_START_HEAD;
        } else if (!strcmp(s, "tail")) {
                c->start = JOURNALD_START_TAIL;
        } else if (tm_parse_rfc3339(s, strlen(s), 1, &c->start_us) == 0 && c->start_us >= 0) {
                c->start = JOURNALD_START_TIME;
        } else {
                return cfg_fail(x, n, "bad start '%s' (head, tail, or an RFC 3339 time such as "
                                   "2024-06-01T00:00:00Z)", s);
        }
        return 0;
}

static int parse_bool(struct cfg_ctx *x, yaml_node_t *n, bool *ret)
{
        const char *s;
        int r = cfg_text(x, n, &s);

        if (r < 0)
                return r;
        if (!strcmp(s, "true") || !strcmp(s, "false")) {
                *ret = !strcmp(s, "true");
                return 0;
        }
        return cfg_fail(x, n, "expected true or false");
}

static int parse_key(struct cfg_ctx *x, const char *key, yaml_node_t *v, struct journald_config *c)
{
        if (!strcmp(key, "name")) {
                int r = cfg_string(x, v, &c->name);

                if (r == 0 && (strlen(c->name) > NAME_MAX_LEN ||
                               strspn(c->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
                                               "XYZ0123456789._-") != strlen(c->name)))
                        return cfg_fail(x, v, "'%s' is not a name (1-%d of A-Z a-z 0-9 . _ -)",
                                     c->name, NAME_MAX_LEN);
                return r;
        }
        if (!strcmp(key, "directory"))
                return cfg_string(x, v, &c->directory);
        if (!strcmp(key, "files"))
                return jlist(x, v, NULL, &c->files, &c->n_files);
        if (!strcmp(key, "system"))
                return parse_bool(x, v, &c->system);
        if (!strcmp(key, "match"))
                return jlist(x, v, check_match, &c->matches, &c->n_matches);
        if (!strcmp(key, "units"))
                return jlist(x, v, NULL, &c->units, &c->n_units);
        if (!strcmp(key, "identifiers"))
                return jlist(x, v, NULL, &c->identifiers, &c->n_identifiers);
        if (!strcmp(key, "transports"))
                return jlist(x, v, check_transport, &c->transports, &c->n_transports);
        if (!strcmp(key, "priorities"))
                return parse_priority(x, v, &c->max_priority);
        if (!strcmp(key, "start"))
                return parse_start(x, v, c);
        return 1; /* unknown */
}

static int parse_item(struct cfg_ctx *x, yaml_node_t *n, struct journald_config *list, size_t i)
{
        struct journald_config *c = &list[i];
        size_t plen = strlen(x->path);
        yaml_node_t *name_node = n;
        int r = 0, sources;

        c->max_priority = -1;
        if (n->type != YAML_MAPPING_NODE)
                return cfg_fail(x, n, "expected a mapping");
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
                yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
                const char *key;

                r = cfg_text(x, k, &key);
                if (r < 0)
                        return r;
                for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
                        yaml_node_t *kq = yaml_document_get_node(x->doc, q->key);

                        if (kq->type == YAML_SCALAR_NODE &&
                            !strcmp((const char *)kq->data.scalar.value, key))
                                return cfg_fail(x, k, "duplicate key '%s'", key);
                }
                if (!strcmp(key, "name"))
                        name_node = v;
                snprintf(x->path + plen, sizeof(x->path) - plen, ".%s", key);
                r = parse_key(x, key, v, c);
                x->path[plen] = '\0';
                if (r == 1)
                        return cfg_fail(x, k, "unknown key '%s' (name, directory, files, system, "
                                           "match, units, identifiers, transports, priorities, "
                                           "start)", key);
                if (r < 0)
                        return r;
        }
        if (!c->name)
                return cfg_fail(x, n, "missing key 'name'");
        sources = !!c->directory + !!c->n_files + !!c->system;
        if (sources != 1)
                return cfg_fail(x, n, "give exactly one of directory, files or system: true");
        for (size_t k = 0; k < i; k++)
                if (!strcmp(list[k].name, c->name)) {
                        snprintf(x->path + plen, sizeof(x->path) - plen, ".name");
                        return cfg_fail(x, name_node, "duplicate journald name '%s'", c->name);
                }
        return 0;
}

void config_journald_free(struct journald_config *list, size_t n)
{
        for (size_t i = 0; list && i < n; i++)
                journald_config_clear(&list[i]);
        free(list);
}

int config_journald_parse(yaml_document_t *doc, yaml_node_t *n, struct journald_config **ret,
                          size_t *ret_n, struct config_error *err)
{
        struct cfg_ctx x = { .doc = doc, .err = err, .path = "journald" };
        size_t len;
        struct journald_config *list;

        if (n->type != YAML_SEQUENCE_NODE)
                return cfg_fail(&x, n, "expected a list of journal sources");
        config_journald_free(*ret, *ret_n);
        *ret = NULL;
        *ret_n = 0;
        len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (len == 0)
                return 0;
        list = calloc(len, sizeof(*list));
        if (!list)
                return -ENOMEM;
        *ret = list;
        for (size_t i = 0; i < len; i++) {
                int r;

                snprintf(x.path, sizeof(x.path), "journald[%zu]", i);
                r = parse_item(&x, yaml_document_get_node(doc, n->data.sequence.items.start[i]),
                               list, i);
                *ret_n = i + 1;
                if (r < 0)
                        return r;
        }
        return 0;
}
