/* Loading a rule pack: YAML files (libyaml's document API) into struct rules_pack.
 *
 * Load time is where every mistake is caught, so that the daemon never meets a bad rule at
 * run time: unknown and duplicate keys, wrong types, PCRE2 compile errors (with PCRE2's own
 * message, and the column of the offending character when the pattern is written on one
 * line), criterion IDs that are not in the 2017 TSC, duplicate rule ids, template
 * references to captures or fields that cannot exist, and inline tests' shapes. The first
 * error stops the load and is reported with file:line:column (1-based). The walk is
 * bounded: conditions nest at most RULES_COND_MAX_DEPTH deep, so YAML alias cycles cannot
 * make it loop. Nothing here logs.
 *
 * This file reads the files and folders, walks each rule and builds the pack; the parts of a
 * rule are loaded by rules-load-match.c (match), rules-load-set.c (set, criteria, redact) and
 * rules-load-tests.c (tests), with the YAML helpers of rules-load-yaml.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "rules/rules-load-int.h"

static const char *const rule_keys[] = {
        "id", "description", "match", "set", "criteria", "continue", "drop", "redact",
        "withhold_raw", "tests",
};
enum { R_ID, R_DESC, R_MATCH, R_SET, R_CRITERIA, R_CONTINUE, R_DROP, R_REDACT, R_WITHHOLD,
       R_TESTS, R__N };

static int ld_rule_id(struct ld *x, yaml_node_t *n, struct rule *rl)
{
        const char *id;
        int r = ld_scalar(x, n, "id", &id);

        if (r < 0)
                return r;
        if (strlen(id) > 64 || !ld_path_valid(id) || !strcmp(id, "unmapped"))
                return ld_fail(x, n, "id: '%s' is not a rule id (1-64 characters of "
                                     "A-Z a-z 0-9 . _ @ -, not 'unmapped')", id);
        for (size_t i = 0; i + 1 < x->p->n_rules; i++) {
                const struct rule *o = &x->p->rules[i];

                if (!strcmp(o->id, id))
                        return ld_fail(x, n, "id: duplicate rule id '%s' (first defined at "
                                             "%s:%u:%u)", id, o->file, o->info.line,
                                       o->info.column);
        }
        return ld_strdup(x, id, strlen(id), &rl->id);
}

static int ld_rule(struct ld *x, yaml_node_t *n)
{
        yaml_node_t *v[R__N];
        struct rule *rl;
        bool withhold = false;
        int r;

        if (x->p->n_rules == x->rules_alloc) {
                size_t na = x->rules_alloc ? 2 * x->rules_alloc : 32;
                struct rule *nr = realloc(x->p->rules, na * sizeof(*nr));

                if (!nr)
                        return -ENOMEM;
                x->p->rules = nr;
                x->rules_alloc = na;
        }
        rl = x->r = &x->p->rules[x->p->n_rules++];
        memset(rl, 0, sizeof(*rl));
        rl->match.op = OP_ALL;
        r = ld_strdup(x, x->file, strlen(x->file), &rl->file);
        if (r < 0)
                return r;
        rl->info.line = (unsigned)n->start_mark.line + 1;
        rl->info.column = (unsigned)n->start_mark.column + 1;
        r = ld_keys(x, n, "rule", rule_keys, R__N, v);
        if (r < 0)
                return r;
        if (!v[R_ID])
                return ld_fail(x, n, "rule: missing 'id'");
        r = ld_rule_id(x, v[R_ID], rl);
        if (r < 0)
                return r;
        if (!v[R_DESC])
                return ld_fail(x, n, "rule %s: missing 'description'", rl->id);
        r = ld_scalar(x, v[R_DESC], "description", (const char **)&rl->description);
        if (r == 0)
                r = ld_strdup(x, rl->description, strlen(rl->description), &rl->description);
        if (r < 0) {
                rl->description = NULL;
                return r;
        }
        if (!v[R_MATCH])
                return ld_fail(x, n, "rule %s: missing 'match'", rl->id);
        r = ld_match_map(x, v[R_MATCH], &rl->match, 0);
        if (r == 0 && v[R_SET])
                r = ld_set(x, v[R_SET]);
        if (r == 0 && v[R_CRITERIA])
                r = ld_criteria(x, v[R_CRITERIA]);
        if (r == 0 && v[R_CONTINUE])
                r = ld_bool(x, v[R_CONTINUE], "continue", &rl->cont);
        if (r == 0 && v[R_DROP])
                r = ld_bool(x, v[R_DROP], "drop", &rl->drop);
        if (r == 0 && v[R_REDACT])
                r = ld_redact(x, v[R_REDACT]);
        if (r == 0 && v[R_WITHHOLD])
                r = ld_bool(x, v[R_WITHHOLD], "withhold_raw", &withhold);
        if (r == 0 && withhold) {
                r = ld_redact_add(x, "message", REDACT_REMOVE);
                if (r == 0)
                        r = ld_redact_add(x, "raw", REDACT_REMOVE);
                if (r == 0)
                        r = ld_redact_add(x, "raw_b64", REDACT_REMOVE);
        }
        if (r < 0)
                return r;
        if (rl->drop && (v[R_SET] || v[R_CRITERIA] || v[R_CONTINUE] || v[R_REDACT] ||
                         v[R_WITHHOLD]))
                return ld_fail(x, v[R_DROP], "drop: a drop rule discards the event, so it "
                                             "takes no set, criteria, continue, redact or "
                                             "withhold_raw");
        if (v[R_TESTS]) {
                r = ld_tests(x, v[R_TESTS]);
                if (r < 0)
                        return r;
        }
        {
                struct buf ct = BUF_INIT;

                for (size_t i = 0; r == 0 && i < rules_criteria_count(); i++)
                        if (rl->criteria & ((uint64_t)1 << i))
                                r = buf_printf(&ct, "%s%s", ct.len ? " " : "",
                                               rules_criterion_at(i));
                rl->criteria_text = r == 0 ? (ct.len ? buf_steal(&ct, NULL) : strdup("")) : NULL;
                buf_free(&ct);
                if (!rl->criteria_text)
                        return -ENOMEM;
        }
        rl->info.criteria = rl->criteria_text;
        rl->info.id = rl->id;
        rl->info.description = rl->description;
        rl->info.file = rl->file;
        rl->info.is_continue = rl->cont;
        rl->info.is_drop = rl->drop;
        return 0;
}

static int ld_document(struct ld *x)
{
        yaml_node_t *root = yaml_document_get_root_node(x->doc), *v[1], *list;
        static const char *const top_keys[] = { "rules" };
        int r;

        if (!root)
                return ld_fail_at(x, NULL, "empty file: expected a mapping with a 'rules' list");
        r = ld_keys(x, root, "top level", top_keys, 1, v);
        if (r < 0)
                return r;
        list = v[0];
        if (!list)
                return ld_fail(x, root, "top level: missing 'rules' (a list of rules)");
        if (list->type != YAML_SEQUENCE_NODE)
                return ld_fail(x, list, "rules: expected a list of rules, not %s",
                               ld_node_kind(list));
        for (yaml_node_item_t *it = list->data.sequence.items.start;
             it < list->data.sequence.items.top; it++) {
                yaml_node_t *n = ld_node(x, *it);

                if (!n)
                        return ld_fail(x, list, "rules: broken list");
                r = ld_rule(x, n);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int ld_yaml_fail(struct ld *x, const yaml_parser_t *ps)
{
        const yaml_mark_t *m = ps->problem ? &ps->problem_mark : &ps->context_mark;

        if (ps->error == YAML_MEMORY_ERROR)
                return -ENOMEM;
        return ld_fail_at(x, m, "YAML: %s%s%s", ps->problem ? ps->problem : "syntax error",
                          ps->context ? " " : "", ps->context ? ps->context : "");
}

static void hash_netstring(EVP_MD_CTX *md, const char *p, size_t n)
{
        char len[32];
        int l = snprintf(len, sizeof(len), "%zu:", n);

        EVP_DigestUpdate(md, len, (size_t)l);
        EVP_DigestUpdate(md, p, n);
}

/* Loads one file's text into the pack being built; hashes its name and bytes. */
static int ld_text(struct ld *x, const char *name, const char *text, size_t len, EVP_MD_CTX *md)
{
        yaml_parser_t ps;
        yaml_document_t doc, extra;
        const char *base = strrchr(name, '/');
        int r;

        base = base ? base + 1 : name;
        hash_netstring(md, base, strlen(base));
        hash_netstring(md, text, len);
        x->file = name;
        x->nodes = 0;
        x->p->n_files++;
        if (len > RULES_FILE_MAX)
                return ld_fail_at(x, NULL, "file larger than %u bytes", RULES_FILE_MAX);
        if (!yaml_parser_initialize(&ps))
                return -ENOMEM;
        yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
        if (!yaml_parser_load(&ps, &doc)) {
                r = ld_yaml_fail(x, &ps);
                yaml_parser_delete(&ps);
                return r;
        }
        if (!yaml_parser_load(&ps, &extra)) {
                r = ld_yaml_fail(x, &ps);
        } else {
                yaml_node_t *n = yaml_document_get_root_node(&extra);

                r = n ? ld_fail(x, n, "a rule file holds one YAML document; remove this one "
                                      "(or its '---')") : 0;
                yaml_document_delete(&extra);
        }
        if (r == 0) {
                x->doc = &doc;
                r = ld_document(x);
                x->doc = NULL;
        }
        yaml_document_delete(&doc);
        yaml_parser_delete(&ps);
        return r;
}

static int read_file(const char *path, char **ret, size_t *ret_len)
{
        struct stat st;
        char *data;
        size_t got = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
                goto out;
        }
        if ((uint64_t)st.st_size > RULES_FILE_MAX) {
                r = -EFBIG;
                goto out;
        }
        data = malloc((size_t)st.st_size + 1);
        if (!data) {
                r = -ENOMEM;
                goto out;
        }
        while (got < (size_t)st.st_size) {
                ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        free(data);
                        goto out;
                }
                got += (size_t)n;
        }
        data[got] = 0;
        *ret = data;
        *ret_len = got;
out:
        close(fd);
        return r;
}

static int ld_file(struct ld *x, const char *path, EVP_MD_CTX *md)
{
        char *text = NULL;
        size_t len = 0;
        int r = read_file(path, &text, &len);

        if (r < 0) {
                x->file = path;
                ld_fail_at(x, NULL, "cannot read: %s", strerror(-r));
                return r == -EINVAL ? -EIO : r;
        }
        r = ld_text(x, path, text, len, md);
        free(text);
        return r;
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool yaml_name(const char *n)
{
        size_t l = strlen(n);

        if (n[0] == '.')
                return false;
        return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml"));
}

static int ld_folder(struct ld *x, const char *path, EVP_MD_CTX *md)
{
        DIR *d = opendir(path);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0, alloc = 0;
        int r = 0;

        if (!d) {
                r = -errno;
                x->file = path;
                ld_fail_at(x, NULL, "cannot open folder: %s", strerror(-r));
                return r;
        }
        while ((de = readdir(d))) {
                if (!yaml_name(de->d_name))
                        continue;
                if (n == alloc) {
                        size_t na = alloc ? 2 * alloc : 16;
                        char **nn = realloc(names, na * sizeof(*nn));
                        if (!nn) {
                                r = -ENOMEM;
                                break;
                        }
                        names = nn;
                        alloc = na;
                }
                if (asprintf(&names[n], "%s/%s", path, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        if (r == 0)
                qsort(names, n, sizeof(*names), name_cmp);
        for (size_t i = 0; r == 0 && i < n; i++)
                r = ld_file(x, names[i], md);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

static int pack_new(const struct rules_options *opt, struct rules_pack **ret,
                    struct rules_error *err)
{
        struct rules_pack *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        if (opt && opt->hmac_key) {
                if (opt->hmac_key_len < RULES_HMAC_KEY_MIN) {
                        free(p);
                        snprintf(err->msg, sizeof(err->msg), "the HMAC key has %zu bytes; at "
                                 "least %d are needed", opt->hmac_key_len, RULES_HMAC_KEY_MIN);
                        return -EINVAL;
                }
                p->hmac_key = malloc(opt->hmac_key_len);
                if (!p->hmac_key) {
                        free(p);
                        return -ENOMEM;
                }
                memcpy(p->hmac_key, opt->hmac_key, opt->hmac_key_len);
                p->hmac_key_len = opt->hmac_key_len;
        }
        *ret = p;
        return 0;
}

static int pack_finish(struct rules_pack *p, EVP_MD_CTX *md)
{
        unsigned char h[EVP_MAX_MD_SIZE];
        unsigned hl = 0;

        if (EVP_DigestFinal_ex(md, h, &hl) != 1 || hl != HASH_LEN)
                return -EIO;
        hash_hex(h, HASH_LEN, p->hash);
        return rules_index_build(p);
}

static int pack_load(const char *const *paths, size_t n_paths, const char *text_name,
                     const char *text, size_t text_len, const struct rules_options *opt,
                     struct rules_pack **ret, struct rules_error *e)
{
        struct rules_error scratch;
        struct rules_error *err = e ? e : &scratch;
        struct ld x = { .opt = opt, .err = err };
        EVP_MD_CTX *md;
        int r;

        memset(err, 0, sizeof(*err));
        r = pack_new(opt, &x.p, err);
        if (r < 0)
                return r;
        md = EVP_MD_CTX_new();
        if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(md);
                rules_pack_free(x.p);
                return -ENOMEM;
        }
        if (text) {
                r = ld_text(&x, text_name, text, text_len, md);
        } else {
                for (size_t i = 0; r == 0 && i < n_paths; i++) {
                        struct stat st;

                        if (stat(paths[i], &st) < 0) {
                                r = -errno;
                                x.file = paths[i];
                                ld_fail_at(&x, NULL, "cannot read: %s", strerror(-r));
                        } else if (S_ISDIR(st.st_mode)) {
                                r = ld_folder(&x, paths[i], md);
                        } else {
                                r = ld_file(&x, paths[i], md);
                        }
                }
        }
        if (r == 0)
                r = pack_finish(x.p, md);
        EVP_MD_CTX_free(md);
        if (r < 0) {
                if (r == -ENOMEM && !err->msg[0])
                        snprintf(err->msg, sizeof(err->msg), "out of memory");
                rules_pack_free(x.p);
                return r;
        }
        *ret = x.p;
        return 0;
}

int rules_pack_load(const char *const *paths, size_t n_paths, const struct rules_options *opt,
                    struct rules_pack **ret, struct rules_error *err)
{
        return pack_load(paths, n_paths, NULL, NULL, 0, opt, ret, err);
}

int rules_pack_load_text(const char *name, const char *text, size_t len,
                         const struct rules_options *opt, struct rules_pack **ret,
                         struct rules_error *err)
{
        return pack_load(NULL, 0, name, text ? text : "", len, opt, ret, err);
}

static void rule_free(struct rule *rl)
{
        free(rl->id);
        free(rl->description);
        free(rl->file);
        free(rl->criteria_text);
        rules_cond_free(&rl->match);
        for (size_t i = 0; i < rl->n_sets; i++) {
                free(rl->sets[i].path);
                for (size_t a = 0; a < rl->sets[i].n_t; a++) {
                        struct tmpl *t = &rl->sets[i].t[a];

                        for (size_t j = 0; j < t->n_parts; j++) {
                                free(t->parts[j].text);
                                free(t->parts[j].dflt);
                        }
                        free(t->parts);
                }
                free(rl->sets[i].t);
        }
        free(rl->sets);
        for (size_t i = 0; i < rl->n_redacts; i++)
                free(rl->redacts[i].path);
        free(rl->redacts);
        for (size_t i = 0; i < rl->n_caps; i++)
                free(rl->cap_names[i]);
        for (size_t i = 0; i < rl->n_tests; i++) {
                struct rtest *t = &rl->tests[i];

                free(t->file);
                free(t->text);
                json_free(t->obj);
                for (size_t j = 0; j < t->n_ex; j++) {
                        free(t->ex[j].path);
                        json_free(t->ex[j].val);
                }
                free(t->ex);
        }
        free(rl->tests);
}

void rules_pack_free(struct rules_pack *p)
{
        if (!p)
                return;
        rules_index_free(p); /* before the rules and entries it points into */
        for (size_t i = 0; i < p->n_rules; i++)
                rule_free(&p->rules[i]);
        free(p->rules);
        for (int d = 0; d < RULES_INDEX_DIMS; d++) {
                for (size_t i = 0; i < p->dims[d].n_entries; i++)
                        free(p->dims[d].entries[i].rules);
                free(p->dims[d].entries);
        }
        free(p->wild);
        pcre2_match_context_free(p->mctx);
        if (p->hmac_key) {
                OPENSSL_cleanse(p->hmac_key, p->hmac_key_len);
                free(p->hmac_key);
        }
        free(p);
}

const char *rules_pack_hash(const struct rules_pack *p)
{
        return p->hash;
}

size_t rules_pack_n_rules(const struct rules_pack *p)
{
        return p->n_rules;
}

size_t rules_pack_n_files(const struct rules_pack *p)
{
        return p->n_files;
}

void rules_error_format(const struct rules_error *err, char *out, size_t len)
{
        if (err->line)
                snprintf(out, len, "%s:%u:%u: %s", err->file, err->line, err->column, err->msg);
        else if (err->file[0])
                snprintf(out, len, "%s: %s", err->file, err->msg);
        else
                snprintf(out, len, "%s", err->msg);
}

int rules_key_load(const char *path, uint8_t **ret_key, size_t *ret_len)
{
        char *text = NULL;
        size_t len = 0;
        int r = read_file(path, &text, &len);

        if (r < 0)
                return r;
        if (len && text[len - 1] == '\n')
                len--;
        if (len < RULES_HMAC_KEY_MIN || len > 4096) {
                OPENSSL_cleanse(text, len);
                free(text);
                return -EINVAL;
        }
        *ret_key = (uint8_t *)text;
        *ret_len = len;
        return 0;
}
