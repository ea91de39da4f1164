/* gatelog head: the chain head an auditor writes down today to prove, later, that the chain
 * was only extended (`gatelog verify --since-head FILE`).
 *
 * The head is the number of sealed epochs N, the RFC 6962 root over their manifest.json bytes
 * and the SHA-256 of the last manifest (docs/FORMAT.md section 8). It is printed as one line
 * of canonical JSON, or, with --checkpoint, as a C2SP tlog-checkpoint signed note signed with
 * the chain's Ed25519 secret key, which transparency-log witnesses can cosign; --vkey prints
 * the signed-note verifier key that witnesses are configured with. Reads only. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/audit-source.h"
#include "cli/cli.h"
#include "seal/seal.h"

static void usage(FILE *f) {
        fprintf(f, "usage: gatelog head (--db FILE | --export DIR) [--chain NAME]\n"
                   "                    [--checkpoint --key SECRET] [--origin NAME]\n"
                   "       gatelog head --vkey (--pubkey FILE | --key SECRET) --origin NAME\n\n"
                   "Prints the chain head: the last sealed epoch, the number of sealed epochs, the\n"
                   "RFC 6962 root over their manifests and the SHA-256 of the last manifest, as one\n"
                   "line of JSON. Keep it; `gatelog verify --since-head FILE` later proves that the\n"
                   "chain still extends it (nothing cut off or rewritten).\n\n"
                   "  --checkpoint    print a C2SP tlog-checkpoint signed note instead, signed with\n"
                   "                  --key (the chain's secret key); witnesses can cosign it\n"
                   "  --origin NAME   the checkpoint's origin and key name (default gatelog/CHAIN)\n"
                   "  --vkey          print the signed-note verifier key for --origin\n");
}

struct head_ctx {
        struct merkle *log;
        uint8_t last[HASH_LEN];
        char chain[SEAL_ORIGIN_MAX + 1];
        int64_t want;       /* the next epoch number expected */
        char gap[256];
};

static int head_cb(void *ud, const struct audit_epoch *e) {
        struct head_ctx *h = ud;
        uint8_t leaf[HASH_LEN];
        if (!e->manifest) {
                snprintf(h->gap, sizeof(h->gap), "%s: manifest.json is missing", e->label);
                return 1;
        }
        if (e->epoch != h->want) {
                snprintf(h->gap, sizeof(h->gap), "%s: epoch %lld where epoch %lld was expected "
                         "(run gatelog verify)", e->label, (long long)e->epoch,
                         (long long)h->want);
                return 1;
        }
        h->want++;
        merkle_leaf_hash(e->manifest, e->manifest_len, leaf);
        hash_sha256(e->manifest, e->manifest_len, h->last);
        json *m = NULL;
        if (json_parse(e->manifest, e->manifest_len, &m, NULL) == 0) {
                size_t n = 0;
                const char *c = json_str(json_obj_get(m, "chain"), &n);
                if (c && n <= SEAL_ORIGIN_MAX)
                        memcpy(h->chain, c, n + 1);
        }
        json_free(m);
        return merkle_add_leaf(h->log, leaf);
}

static int print_vkey(const char *origin, const char *pub, const char *key) {
        uint8_t pk[SEAL_PK_LEN];
        struct seal_error err = { { 0 } };
        if (pub) {
                if (seal_pubkey_load(pub, pk, &err) < 0) {
                        fprintf(stderr, "gatelog head: %s: %s\n", pub, err.msg);
                        return 2;
                }
        } else {
                struct seal_key *k = NULL;
                if (seal_key_load(key, &k, &err) < 0) {
                        fprintf(stderr, "gatelog head: %s: %s\n", key, err.msg);
                        return 2;
                }
                seal_key_public(k, pk);
                seal_key_free(k);
        }
        struct buf b = BUF_INIT;
        if (seal_note_vkey(origin, pk, &b) < 0) {
                fprintf(stderr, "gatelog head: --origin must be non-empty, without spaces or '+'\n");
                buf_free(&b);
                return 2;
        }
        printf("%s\n", b.data);
        buf_free(&b);
        return 0;
}

int cmd_head(int argc, char **argv) {
        static const struct option opts[] = {
                { "db", required_argument, NULL, 'd' },
                { "export", required_argument, NULL, 'e' },
                { "chain", required_argument, NULL, 'C' },
                { "checkpoint", no_argument, NULL, 'c' },
                { "key", required_argument, NULL, 'k' },
                { "pubkey", required_argument, NULL, 'p' },
                { "origin", required_argument, NULL, 'o' },
                { "vkey", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        struct audit_source src = { 0 };
        const char *key = NULL, *pub = NULL, *origin = NULL;
        bool checkpoint = false, vkey = false;
        int c;
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'd': src.db = optarg; break;
                case 'e': src.export_dir = optarg; break;
                case 'C': src.chain = optarg; break;
                case 'c': checkpoint = true; break;
                case 'k': key = optarg; break;
                case 'p': pub = optarg; break;
                case 'o': origin = optarg; break;
                case 'v': vkey = true; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        if (vkey) {
                if (!origin || !pub == !key) {
                        usage(stderr);
                        return 2;
                }
                return print_vkey(origin, pub, key);
        }
        if (!src.db == !src.export_dir || checkpoint != !!key) {
                usage(stderr);
                return 2;
        }
        struct seal_key *k = NULL;
        struct seal_error kerr = { { 0 } };
        if (key && seal_key_load(key, &k, &kerr) < 0) {
                fprintf(stderr, "gatelog head: %s: %s\n", key, kerr.msg);
                return 2;
        }
        struct head_ctx h = { 0 };
        char err[512];
        int r = merkle_new(&h.log);
        if (r == 0)
                r = audit_source_foreach(&src, head_cb, &h, err, sizeof(err));
        int status = 0;
        if (r < 0) {
                fprintf(stderr, "gatelog head: %s\n", err[0] ? err : strerror(-r));
                status = 3;
        } else if (h.gap[0]) {
                fprintf(stderr, "gatelog head: %s\n", h.gap);
                status = 1;
        } else if (merkle_count(h.log) == 0) {
                fprintf(stderr, "gatelog head: no sealed epoch yet: there is no head\n");
                status = 1;
        } else {
                uint8_t root[HASH_LEN];
                struct buf b = BUF_INIT;
                char dflt[SEAL_ORIGIN_MAX + 16];
                merkle_root(h.log, root);
                snprintf(dflt, sizeof(dflt), "gatelog/%s", h.chain);
                if (!checkpoint)
                        r = seal_head_format(h.chain, merkle_count(h.log), root, h.last, &b);
                else
                        r = seal_checkpoint_sign(origin ? origin : dflt, merkle_count(h.log),
                                                 root, k, &b);
                if (r == -EINVAL) {
                        fprintf(stderr, "gatelog head: the origin \"%s\" is not a valid note key "
                                "name (no spaces or '+'); pass --origin\n",
                                origin ? origin : dflt);
                        status = 2;
                } else if (r < 0) {
                        fprintf(stderr, "gatelog head: %s\n", strerror(-r));
                        status = 3;
                } else {
                        fwrite(b.data, 1, b.len, stdout);
                }
                buf_free(&b);
        }
        merkle_free(h.log);
        seal_key_free(k);
        return status;
}
