/* The configuration's syslog.listen list (issue 8: tls and relp with their options):
 * "- udp: ADDR", "- tcp: ADDR", "- unix: PATH" are one-pair mappings; "- tls: ADDR" and
 * "- relp: ADDR" may carry options in the same mapping (docs/CONFIG.md). Nothing here logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config-int.h"
#include "core/limits.h"
#include "core/tm.h"

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

int cfg_parse_listen(struct cfg_ctx *x, yaml_node_t *n, void *obj)
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
