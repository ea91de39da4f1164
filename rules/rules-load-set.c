/* Loading a rule pack, what a rule does to the record: set templates (references to
 * captures and record fields that cannot exist fail here, not at run time), criteria (IDs of
 * the 2017 TSC only) and redactions. Load time only; nothing here logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules-load-int.h"

/* Record members a template may name without a dot (a typo of a capture name fails). */
static const char *const record_members[] = {
        "received", "time", "source", "format", "host", "app", "msgid", "pid", "procid",
        "facility", "severity", "message", "sd", "rule", "actor", "action", "target",
        "outcome", "event", "journal", "raw_sha256",
};

static int tmpl_add(struct tmpl *t, struct tpart **ret)
{
        struct tpart *p = realloc(t->parts, (t->n_parts + 1) * sizeof(*p));

        if (!p)
                return -ENOMEM;
        t->parts = p;
        *ret = &p[t->n_parts++];
        memset(*ret, 0, sizeof(**ret));
        return 0;
}

static int tmpl_ref(struct ld *x, yaml_node_t *n, const char *what, const char *s, size_t len,
                    struct tmpl *t)
{
        const char *bar = memchr(s, '|', len);
        size_t nlen = bar ? (size_t)(bar - s) : len;
        struct tpart *p;
        char name[260];
        size_t i;
        int r;

        if (!nlen || nlen >= sizeof(name))
                return ld_fail(x, n, "%s: empty or too long {reference}", what);
        memcpy(name, s, nlen);
        name[nlen] = 0;
        r = tmpl_add(t, &p);
        if (r < 0)
                return r;
        if (bar) {
                r = ld_strdup(x, bar + 1, len - nlen - 1, &p->dflt);
                if (r < 0)
                        return r;
        }
        for (i = 0; i < x->r->n_caps; i++)
                if (!strcmp(x->r->cap_names[i], name)) {
                        p->kind = TP_CAPTURE;
                        p->slot = (int)i;
                        return 0;
                }
        if (!ld_path_valid(name))
                return ld_fail(x, n, "%s: '{%s}' is not a capture name or a field path", what,
                               name);
        if (!strchr(name, '.')) {
                for (i = 0; i < sizeof(record_members) / sizeof(record_members[0]); i++)
                        if (!strcmp(record_members[i], name))
                                break;
                if (i == sizeof(record_members) / sizeof(record_members[0])) {
                        char caps[160] = "";
                        for (size_t j = 0; j < x->r->n_caps; j++)
                                snprintf(caps + strlen(caps), sizeof(caps) - strlen(caps),
                                         "%s%s", j ? ", " : "", x->r->cap_names[j]);
                        return ld_fail(x, n, "%s: '{%s}' is neither a named capture of this "
                                             "rule (%s) nor a record member", what, name,
                                       caps[0] ? caps : "it has none");
                }
        }
        p->kind = TP_FIELD;
        return ld_strdup(x, name, nlen, &p->text);
}

/* "text {capture} {field.path|default} {{literal braces}}" */
static int ld_template(struct ld *x, yaml_node_t *n, const char *what, struct tmpl *t)
{
        const char *s;
        struct buf lit = BUF_INIT;
        int r = ld_scalar(x, n, what, &s);

        if (r < 0)
                return r;
        for (const char *c = s; *c && r == 0; c++) {
                if ((c[0] == '{' && c[1] == '{') || (c[0] == '}' && c[1] == '}')) {
                        r = buf_putc(&lit, *c);
                        c++;
                } else if (*c == '}') {
                        r = ld_fail(x, n, "%s: '}' without '{' (write '}}' for a brace)", what);
                } else if (*c == '{') {
                        const char *end = strchr(c, '}');
                        struct tpart *p;

                        if (!end) {
                                r = ld_fail(x, n, "%s: '{' without '}' (write '{{' for a "
                                                  "brace)", what);
                                break;
                        }
                        if (lit.len) {
                                r = tmpl_add(t, &p);
                                if (r < 0)
                                        break;
                                p->kind = TP_TEXT;
                                p->len = lit.len;
                                p->text = buf_steal(&lit, NULL);
                                if (!p->text)
                                        r = -ENOMEM;
                        }
                        if (r == 0)
                                r = tmpl_ref(x, n, what, c + 1, (size_t)(end - c - 1), t);
                        c = end;
                } else {
                        r = buf_putc(&lit, *c);
                }
        }
        if (r == 0 && (lit.len || !t->n_parts)) {
                struct tpart *p;

                r = tmpl_add(t, &p);
                if (r == 0) {
                        p->kind = TP_TEXT;
                        p->len = lit.len;
                        p->text = lit.len ? buf_steal(&lit, NULL) : strdup("");
                        if (!p->text)
                                r = -ENOMEM;
                }
        }
        buf_free(&lit);
        return r;
}

static bool tmpl_is_literal(const struct tmpl *t, const char **ret)
{
        if (t->n_parts != 1 || t->parts[0].kind != TP_TEXT)
                return false;
        *ret = t->parts[0].text;
        return true;
}

static bool name_word(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
                        return false;
        return true;
}

static const char *const severities[] = {
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

/* One template, or a list of alternatives (the first whose references all resolve). */
static int ld_set_value(struct ld *x, yaml_node_t *v, const char *what, struct set_item *si)
{
        yaml_node_item_t *items = NULL;
        size_t count = 1;

        if (v->type == YAML_SEQUENCE_NODE) {
                items = v->data.sequence.items.start;
                count = (size_t)(v->data.sequence.items.top - items);
                if (!count)
                        return ld_fail(x, v, "%s: empty list", what);
        }
        si->t = calloc(count, sizeof(*si->t));
        if (!si->t)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                yaml_node_t *n = items ? ld_node(x, items[i]) : v;
                int r;

                if (!n)
                        return ld_fail(x, v, "%s: broken list", what);
                si->n_t++;
                r = ld_template(x, n, what, &si->t[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int ld_set(struct ld *x, yaml_node_t *n)
{
        if (n->type != YAML_MAPPING_NODE)
                return ld_fail(x, n, "set: expected a mapping of field: value, not %s",
                               ld_node_kind(n));
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
             pr++) {
                yaml_node_t *k = ld_node(x, pr->key), *v = ld_node(x, pr->value);
                struct rule *rl = x->r;
                struct set_item *si;
                const char *key, *lit;
                char what[300];
                int r;

                if (!k || !v)
                        return ld_fail(x, n, "set: broken mapping");
                r = ld_scalar(x, k, "set", &key);
                if (r < 0)
                        return r;
                if (!(!strcmp(key, "action") || !strcmp(key, "outcome") ||
                      !strcmp(key, "severity") ||
                      (!strncmp(key, "actor.", 6) && name_word(key + 6)) ||
                      (!strncmp(key, "target.", 7) && name_word(key + 7))))
                        return ld_fail(x, k, "set: rules set action, outcome, severity, "
                                             "actor.NAME or target.NAME, not '%s'", key);
                for (size_t i = 0; i < rl->n_sets; i++)
                        if (!strcmp(rl->sets[i].path, key))
                                return ld_fail(x, k, "set: duplicate key '%s'", key);
                si = realloc(rl->sets, (rl->n_sets + 1) * sizeof(*si));
                if (!si)
                        return -ENOMEM;
                rl->sets = si;
                si = &si[rl->n_sets++];
                memset(si, 0, sizeof(*si));
                r = ld_strdup(x, key, strlen(key), &si->path);
                if (r < 0)
                        return r;
                snprintf(what, sizeof(what), "set.%s", key);
                r = ld_set_value(x, v, what, si);
                if (r < 0)
                        return r;
                if (!strcmp(key, "outcome")) {
                        if (si->n_t != 1 || !tmpl_is_literal(&si->t[0], &lit) ||
                            (strcmp(lit, "success") && strcmp(lit, "failure") &&
                             strcmp(lit, "unknown")))
                                return ld_fail(x, v, "%s: expected success, failure or unknown",
                                               what);
                } else if (!strcmp(key, "severity")) {
                        size_t i, ns = sizeof(severities) / sizeof(severities[0]);

                        if (si->n_t != 1 || !tmpl_is_literal(&si->t[0], &lit))
                                return ld_fail(x, v, "%s: expected a syslog severity keyword",
                                               what);
                        for (i = 0; i < ns; i++)
                                if (!strcmp(lit, severities[i]))
                                        break;
                        if (i == ns)
                                return ld_fail(x, v, "%s: expected emerg, alert, crit, err, "
                                                     "warning, notice, info or debug, not '%s'",
                                               what, lit);
                }
        }
        return 0;
}

/* ---- Criteria, redactions ---- */

static int ld_criterion(struct ld *x, yaml_node_t *v)
{
        const char *s = NULL; /* as in ld_bool */
        int r = ld_scalar(x, v, "criteria", &s), i;

        if (r < 0)
                return r;
        i = rules_criterion_index(s);
        if (i < 0)
                return ld_fail(x, v, "criteria: unknown criterion '%s' (the 2017 Trust "
                                     "Services Criteria are CC1.1-CC1.5, CC2.1-CC2.3, "
                                     "CC3.1-CC3.4, CC4.1-CC4.2, CC5.1-CC5.3, CC6.1-CC6.8, "
                                     "CC7.1-CC7.5, CC8.1, CC9.1-CC9.2, A1.1-A1.3, "
                                     "PI1.1-PI1.5, C1.1-C1.2, P1.1-P8.1)", s);
        x->r->criteria |= (uint64_t)1 << i;
        return 0;
}

int ld_criteria(struct ld *x, yaml_node_t *n)
{
        if (n->type == YAML_SCALAR_NODE)
                return ld_criterion(x, n);
        if (n->type != YAML_SEQUENCE_NODE)
                return ld_fail(x, n, "criteria: expected a list of criterion IDs, not %s",
                               ld_node_kind(n));
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
                yaml_node_t *v = ld_node(x, *it);
                int r;

                if (!v)
                        return ld_fail(x, n, "criteria: broken list");
                r = ld_criterion(x, v);
                if (r < 0)
                        return r;
        }
        return 0;
}

int ld_redact_add(struct ld *x, const char *path, enum redact_how how)
{
        struct rule *rl = x->r;
        struct redact_item *ri = realloc(rl->redacts, (rl->n_redacts + 1) * sizeof(*ri));

        if (!ri)
                return -ENOMEM;
        rl->redacts = ri;
        ri = &ri[rl->n_redacts];
        ri->how = how;
        ri->path = strdup(path);
        if (!ri->path)
                return -ENOMEM;
        rl->n_redacts++;
        return 0;
}

int ld_redact(struct ld *x, yaml_node_t *n)
{
        if (n->type != YAML_MAPPING_NODE)
                return ld_fail(x, n, "redact: expected a mapping of field: mask|hash|remove, "
                                     "not %s", ld_node_kind(n));
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
             pr++) {
                yaml_node_t *k = ld_node(x, pr->key), *v = ld_node(x, pr->value);
                const char *key, *how;
                enum redact_how h;
                char what[300];
                int r;

                if (!k || !v)
                        return ld_fail(x, n, "redact: broken mapping");
                r = ld_scalar(x, k, "redact", &key);
                if (r < 0)
                        return r;
                if (!ld_path_valid(key))
                        return ld_fail(x, k, "redact: '%s' is not a field path", key);
                snprintf(what, sizeof(what), "redact.%s", key);
                r = ld_scalar(x, v, what, &how);
                if (r < 0)
                        return r;
                if (!strcmp(how, "mask"))
                        h = REDACT_MASK;
                else if (!strcmp(how, "hash"))
                        h = REDACT_HASH;
                else if (!strcmp(how, "remove"))
                        h = REDACT_REMOVE;
                else
                        return ld_fail(x, v, "%s: expected mask, hash or remove, not '%s'", what,
                                       how);
                if (h == REDACT_HASH && (!x->opt || !x->opt->hmac_key))
                        return ld_fail(x, v, "%s: a keyed hash needs an HMAC key (rules.hmac_key "
                                             "in the configuration, --hmac-key for the rules "
                                             "commands)", what);
                r = ld_redact_add(x, key, h);
                if (r < 0)
                        return r;
        }
        return 0;
}
