/* gatelog config check FILE | gatelog config dump [-c FILE]
 *
 * check loads the file exactly as `gatelog run` would (defaults, the file, then the GATELOG_
 * environment overrides), and also resolves run.user/run.group, so that a deploy pipeline
 * can refuse a bad file before the daemon restarts. dump prints the effective configuration
 * as YAML: the embedded default, with the file laid over it, with the environment laid over
 * that (mappings merge key by key; a list or a value replaces), plus the computed default
 * chain. Every value under a key that names a secret (password, secret, token, credential,
 * private key material) is printed as "********", as is any value holding a PEM private key,
 * so the output can go into a ticket or a support bundle. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/privdrop.h"
#include "cli/run-util.h"

#define MASK "********"

/* A YAML tree small enough to merge and print: mapping members keep their order. */
struct ynode {
        enum { Y_SCALAR, Y_MAP, Y_SEQ } type;
        char *key;              /* as a mapping member; NULL otherwise */
        char *val;              /* Y_SCALAR */
        struct ynode **kids;
        size_t n;
};

static void ynode_free(struct ynode *y) {
        if (!y)
                return;
        for (size_t i = 0; i < y->n; i++)
                ynode_free(y->kids[i]);
        free(y->kids);
        free(y->key);
        free(y->val);
        free(y);
}

static int ynode_push(struct ynode *p, struct ynode *k) {
        struct ynode **v = realloc(p->kids, (p->n + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        p->kids = v;
        p->kids[p->n++] = k;
        return 0;
}

/* Copies a libyaml node (depth-bounded: a configuration is a few levels deep, and an alias
 * cycle must not loop). */
static struct ynode *ynode_from(yaml_document_t *d, yaml_node_t *n, int depth) {
        struct ynode *y = calloc(1, sizeof(*y));
        if (!y || !n || depth > 16) {
                free(y);
                return NULL;
        }
        if (n->type == YAML_SCALAR_NODE) {
                y->type = Y_SCALAR;
                y->val = strdup((const char *)n->data.scalar.value);
                if (!y->val)
                        goto fail;
                return y;
        }
        if (n->type == YAML_SEQUENCE_NODE) {
                y->type = Y_SEQ;
                for (yaml_node_item_t *i = n->data.sequence.items.start;
                     i < n->data.sequence.items.top; i++) {
                        struct ynode *k = ynode_from(d, yaml_document_get_node(d, *i), depth + 1);
                        if (!k || ynode_push(y, k) < 0) {
                                ynode_free(k);
                                goto fail;
                        }
                }
                return y;
        }
        y->type = Y_MAP;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *kn = yaml_document_get_node(d, p->key);
                struct ynode *k = ynode_from(d, yaml_document_get_node(d, p->value), depth + 1);
                if (!k || kn->type != YAML_SCALAR_NODE ||
                    !(k->key = strdup((const char *)kn->data.scalar.value)) ||
                    ynode_push(y, k) < 0) {
                        ynode_free(k);
                        goto fail;
                }
        }
        return y;
fail:
        ynode_free(y);
        return NULL;
}

/* Parses one YAML text into a tree (NULL for an empty document). 0 or -EINVAL/-ENOMEM. */
static int ynode_parse(const char *text, size_t len, struct ynode **ret) {
        yaml_parser_t p;
        yaml_document_t d;
        *ret = NULL;
        if (!yaml_parser_initialize(&p))
                return -ENOMEM;
        yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
        if (!yaml_parser_load(&p, &d)) {
                yaml_parser_delete(&p);
                return -EINVAL;
        }
        yaml_node_t *root = yaml_document_get_root_node(&d);
        int r = 0;
        if (root && root->type == YAML_MAPPING_NODE)
                r = (*ret = ynode_from(&d, root, 0)) ? 0 : -ENOMEM;
        yaml_document_delete(&d);
        yaml_parser_delete(&p);
        return r;
}

/* Lays src over dst (both mappings); src's members move into dst. */
static int ynode_merge(struct ynode *dst, struct ynode *src) {
        for (size_t i = 0; i < src->n; i++) {
                struct ynode *s = src->kids[i], *d = NULL;
                size_t j;
                for (j = 0; j < dst->n; j++)
                        if (!strcmp(dst->kids[j]->key, s->key)) {
                                d = dst->kids[j];
                                break;
                        }
                if (d && d->type == Y_MAP && s->type == Y_MAP) {
                        int r = ynode_merge(d, s);
                        if (r < 0)
                                return r;
                        continue;
                }
                src->kids[i] = NULL;
                if (d) {
                        ynode_free(d);
                        dst->kids[j] = s;
                } else if (ynode_push(dst, s) < 0) {
                        ynode_free(s);
                        return -ENOMEM;
                }
        }
        return 0;
}

static bool key_is_secret(const char *key) {
        static const char *const words[] = {
                "secret", "password", "passwd", "passphrase", "token", "credential",
                "private", "key.pem", "keystore", "api_key", "apikey",
        };
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
                if (strcasestr(key, words[i]))
                        return true;
        return false;
}

static bool value_is_secret(const char *v) {
        return strstr(v, "-----BEGIN") && strstr(v, "PRIVATE KEY");
}

/* A scalar printed plain when YAML would read it back as the same string, else quoted. */
static void put_scalar(FILE *f, const char *v) {
        static const char *const special[] = { "", "~", "null", "Null", "NULL",
                                               "yes", "no", "on", "off" };
        bool plain = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789._/:-+@") == strlen(v) && v[0] != '-' && v[0] != ':';
        for (size_t i = 0; plain && i < sizeof(special) / sizeof(special[0]); i++)
                if (!strcmp(v, special[i]))
                        plain = false;
        if (plain && strstr(v, ": "))
                plain = false;
        if (plain) {
                fputs(v, f);
                return;
        }
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\x%02x", *p);
                else
                        fputc(*p, f);
        }
        fputc('"', f);
}

static void ynode_print(FILE *f, const struct ynode *y, int indent, bool secret);

/* Prints the members of a mapping (or items of a list) at indent. */
static void ynode_print_kids(FILE *f, const struct ynode *y, int indent, bool secret) {
        for (size_t i = 0; i < y->n; i++) {
                const struct ynode *k = y->kids[i];
                bool sec = secret || (k->key && key_is_secret(k->key));
                if (y->type == Y_SEQ)
                        fprintf(f, "%*s- ", indent, "");
                else
                        fprintf(f, "%*s%s:", indent, "", k->key);
                if (k->type == Y_SCALAR) {
                        if (y->type == Y_MAP)
                                fputc(' ', f);
                        put_scalar(f, sec || value_is_secret(k->val) ? MASK : k->val);
                        fputc('\n', f);
                } else if (k->n == 0) {
                        fputs(y->type == Y_MAP ? " " : "", f);
                        fputs(k->type == Y_MAP ? "{}\n" : "[]\n", f);
                } else if (y->type == Y_SEQ && k->type == Y_MAP &&
                           k->kids[0]->type == Y_SCALAR) {
                        /* "- key: value" then the other members under it */
                        struct ynode first = *k;
                        first.n = 1;
                        ynode_print_kids(f, &first, 0, sec);
                        struct ynode rest = *k;
                        rest.kids = k->kids + 1;
                        rest.n = k->n - 1;
                        ynode_print_kids(f, &rest, indent + 2, sec);
                } else {
                        fputc('\n', f);
                        ynode_print(f, k, indent + 2, sec);
                }
        }
}

static void ynode_print(FILE *f, const struct ynode *y, int indent, bool secret) {
        ynode_print_kids(f, y, indent, secret);
}

static int load_text_file(const char *path, char **ret, size_t *ret_len) {
        FILE *f = fopen(path, "rb");
        if (!f)
                return -errno;
        char *b = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (len + 4096 > cap) {
                        char *n = realloc(b, cap = cap ? cap * 2 : 8192);
                        if (!n) {
                                free(b);
                                fclose(f);
                                return -ENOMEM;
                        }
                        b = n;
                }
                size_t k = fread(b + len, 1, cap - len - 1, f);
                len += k;
                if (k == 0)
                        break;
        }
        fclose(f);
        b[len] = '\0';
        *ret = b;
        *ret_len = len;
        return 0;
}

static int config_dump(const char *path, const struct config *cfg) {
        struct ynode *all = NULL, *over = NULL;
        char *text = NULL;
        size_t len = 0;
        int r = ynode_parse(config_default_yaml, strlen(config_default_yaml), &all);
        if (r >= 0 && path && (r = load_text_file(path, &text, &len)) >= 0) {
                r = ynode_parse(text, len, &over);
                if (r >= 0 && over)
                        r = ynode_merge(all, over);
                ynode_free(over);
                over = NULL;
                free(text);
                text = NULL;
        }
        if (r >= 0 && (r = config_env_yaml(&text)) >= 0) {
                r = ynode_parse(text, strlen(text), &over);
                if (r >= 0 && over)
                        r = ynode_merge(all, over);
                ynode_free(over);
                free(text);
        }
        if (r < 0 || !all) {
                fprintf(stderr, "gatelog config dump: %s\n", strerror(r < 0 ? -r : ENOMEM));
                ynode_free(all);
                return 3;
        }
        printf("# gatelog: effective configuration (%s%s); secrets masked\n",
               path ? path : "embedded default", " + environment");
        bool has_chain = false;
        for (size_t i = 0; i < all->n; i++)
                has_chain |= !strcmp(all->kids[i]->key, "chain");
        if (!has_chain) {
                printf("chain: ");
                put_scalar(stdout, cfg->chain);
                printf("  # default: the host name\n");
        }
        ynode_print(stdout, all, 0, false);
        ynode_free(all);
        return ferror(stdout) ? 3 : 0;
}

static int config_check(const char *path, const struct config *cfg) {
        if (cfg->run_user) {
                char err[256];
                unsigned uid, gid;
                if (privdrop_resolve(cfg->run_user, cfg->run_group, &uid, &gid, err,
                                     sizeof(err)) < 0) {
                        fprintf(stderr, "gatelog: %s: %s\n", path, err);
                        return 2;
                }
        }
        printf("%s: ok\n", path);
        return 0;
}

static void usage(FILE *f) {
        fprintf(f, "usage: gatelog config check FILE\n"
                   "       gatelog config dump [-c FILE]\n\n"
                   "check: loads FILE as `gatelog run -c FILE` would (with the GATELOG_...\n"
                   "environment overrides) and resolves run.user/run.group; exit 0 when valid,\n"
                   "2 with FILE:LINE:COLUMN: message when not.\n"
                   "dump: prints the effective configuration (embedded default, then FILE,\n"
                   "then the environment) as YAML, with secrets masked.\n");
}

int cmd_config(int argc, char **argv) {
        if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        const char *sub = argv[1], *path = NULL;
        if (!strcmp(sub, "check")) {
                if (argc != 3) {
                        usage(stderr);
                        return 2;
                }
                path = argv[2];
        } else if (!strcmp(sub, "dump")) {
                static const struct option opts[] = {
                        { "config", required_argument, NULL, 'c' }, { 0 },
                };
                int c;
                optind = 1;
                while ((c = getopt_long(argc - 1, argv + 1, "c:", opts, NULL)) != -1) {
                        if (c != 'c') {
                                usage(stderr);
                                return 2;
                        }
                        path = optarg;
                }
                if (optind != argc - 1) {
                        usage(stderr);
                        return 2;
                }
        } else {
                usage(stderr);
                return 2;
        }
        struct config cfg;
        if (config_load_any(path, &cfg) < 0)
                return 2;
        int r = !strcmp(sub, "check") ? config_check(path, &cfg) : config_dump(path, &cfg);
        config_free(&cfg);
        return r;
}
