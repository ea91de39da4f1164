/* gatelog proof / gatelog verify-proof: one record's inclusion proof, for an auditor who
 * samples records and must re-check them offline, months later, without the database.
 *
 * `proof` finds the sealed epoch holding the record (in the store or an export), and prints
 * the proof of seal/proof.c: the record's bytes, its RFC 6962 audit paths to the epoch root
 * and to each of its criteria's roots, and the signed manifest with its signature.
 * `verify-proof` checks such a file against a pinned public key; docs/FORMAT.md section 7
 * shows the same check by hand. Exit status: 0 valid, 1 invalid, 2 usage, 3 runtime. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/audit-source.h"
#include "cli/cli.h"
#include "seal/seal.h"

#define PROOF_FILE_MAX (64u << 20) /* a proof holds one record and one manifest */

static void proof_usage(FILE *f) {
        fprintf(f, "usage: gatelog proof --record SEQ (--db FILE | --export DIR) [--chain NAME]\n"
                   "                     [--out FILE]\n\n"
                   "Prints the inclusion proof of the record with that seq: its bytes, its RFC 6962\n"
                   "audit path to the epoch root and to the root of each criterion it is tagged\n"
                   "with, and the epoch's signed manifest and signature (docs/FORMAT.md section 7).\n"
                   "Check it with `gatelog verify-proof FILE --pubkey KEY` or by hand.\n\n"
                   "  --record SEQ    the record's seq (gatelog query prints it)\n"
                   "  --db FILE       a gatelog database (opened read-only)\n"
                   "  --export DIR    an export folder (the one holding chain=NAME/)\n"
                   "  --chain NAME    which chain of an export (default: the only one)\n"
                   "  --out FILE      write the proof there instead of standard output\n");
}

static void verify_usage(FILE *f) {
        fprintf(f, "usage: gatelog verify-proof FILE --pubkey KEY\n\n"
                   "Checks an inclusion proof written by `gatelog proof` (FILE, or - for standard\n"
                   "input) against the public key that signed the epoch. Exit 0 only if the\n"
                   "record is proven part of the signed epoch and of each of its criteria.\n");
}

struct find {
        uint64_t seq;
        bool found, sealed_any;
        int64_t last_epoch, next_seq;
        struct seal_leaves *leaves;     /* the epoch holding seq, while its records stream */
        char *record;                   /* a copy of the record at seq */
        size_t record_len;
        size_t index;
        struct buf out;
        int r;
        char why[256];
};

static int find_epoch_cb(void *ud, const struct audit_epoch *e) {
        struct find *f = ud;
        f->sealed_any = true;
        f->last_epoch = e->epoch;
        if (e->first_seq >= 0 && e->count >= 0)
                f->next_seq = e->first_seq + e->count;
        if (e->first_seq < 0 || e->count < 0 || f->seq < (uint64_t)e->first_seq ||
            f->seq >= (uint64_t)(e->first_seq + e->count))
                return 0;
        f->found = true;
        if (!e->manifest || !e->sig || e->sig_len != SEAL_SIG_LEN) {
                snprintf(f->why, sizeof(f->why), "%s: the manifest or its signature is missing",
                         e->label);
                f->r = -ENOENT;
                return 1;
        }
        /* The records are in seq order from first_seq: the record's index is its offset. */
        f->index = (size_t)(f->seq - (uint64_t)e->first_seq);
        return seal_leaves_new(&f->leaves);
}

/* issue 12: only leaf hashes are kept, and the one record proven. */
static int find_record_cb(void *ud, const char *data, size_t len) {
        struct find *f = ud;
        if (!f->leaves)
                return 0;
        if (seal_leaves_count(f->leaves) == f->index) {
                f->record = malloc(len ? len : 1);
                if (!f->record)
                        return -ENOMEM;
                memcpy(f->record, data, len);
                f->record_len = len;
        }
        return seal_leaves_add(f->leaves, data, len);
}

static int find_end_cb(void *ud, const struct audit_epoch *e) {
        struct find *f = ud;
        if (!f->leaves)
                return 0;
        size_t n = seal_leaves_count(f->leaves);
        f->r = f->record ? seal_leaves_proof(f->leaves, e->manifest, e->manifest_len, e->sig,
                                             e->epoch, f->record, f->record_len, f->index,
                                             &f->out)
                         : -ENOENT;
        if (f->r == -ENOENT)
                snprintf(f->why, sizeof(f->why), "%s: the manifest counts %" PRId64 " records "
                         "but only %zu are stored", e->label, e->count, n);
        else if (f->r == -EBADMSG)
                snprintf(f->why, sizeof(f->why), "%s: record %zu is not a JSON object with a "
                         "seq", e->label, f->index);
        else if (f->r < 0)
                snprintf(f->why, sizeof(f->why), "%s", strerror(-f->r));
        return 1;
}

int cmd_proof(int argc, char **argv) {
        static const struct option opts[] = {
                { "record", required_argument, NULL, 'r' },
                { "db", required_argument, NULL, 'd' },
                { "export", required_argument, NULL, 'e' },
                { "chain", required_argument, NULL, 'C' },
                { "out", required_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        struct audit_source src = { .only_seq = true };
        const char *rec = NULL, *out = NULL;
        int c;
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'r': rec = optarg; break;
                case 'd': src.db = optarg; break;
                case 'e': src.export_dir = optarg; break;
                case 'C': src.chain = optarg; break;
                case 'o': out = optarg; break;
                case 'h': proof_usage(stdout); return 0;
                default: proof_usage(stderr); return 2;
                }
        }
        char *end = NULL;
        struct find f = { .last_epoch = -1, .next_seq = 0 };
        errno = 0;
        f.seq = rec ? strtoull(rec, &end, 10) : 0;
        if (!rec || !*rec || *end || errno || rec[0] == '-' || !src.db == !src.export_dir ||
            optind != argc) {
                proof_usage(stderr);
                return 2;
        }
        src.seq = f.seq;
        char err[512];
        static const struct audit_ops ops = { find_epoch_cb, find_record_cb, find_end_cb };
        int r = audit_source_stream(&src, &ops, &f, err, sizeof(err));
        f.leaves = seal_leaves_free(f.leaves);
        free(f.record);
        if (r < 0) {
                fprintf(stderr, "gatelog proof: %s\n", err);
                buf_free(&f.out);
                return 3;
        }
        if (!f.found) {
                if (f.seq >= (uint64_t)f.next_seq)
                        fprintf(stderr, "gatelog proof: no sealed epoch holds seq %" PRIu64
                                " (%s); a record gets a proof once its epoch is sealed "
                                "(`gatelog seal --now`)\n", f.seq,
                                f.sealed_any ? "sealed records end before it" : "nothing is sealed yet");
                else
                        fprintf(stderr, "gatelog proof: no epoch holds seq %" PRIu64 "\n", f.seq);
                buf_free(&f.out);
                return 1;
        }
        if (f.r < 0) {
                fprintf(stderr, "gatelog proof: seq %" PRIu64 ": no proof: %s\n", f.seq, f.why);
                buf_free(&f.out);
                return 1;
        }
        FILE *o = out ? fopen(out, "w") : stdout;
        if (!o) {
                fprintf(stderr, "gatelog proof: %s: %s\n", out, strerror(errno));
                buf_free(&f.out);
                return 3;
        }
        bool ok = fwrite(f.out.data, 1, f.out.len, o) == f.out.len;
        ok &= out ? fclose(o) == 0 : fflush(o) == 0;
        buf_free(&f.out);
        if (!ok) {
                fprintf(stderr, "gatelog proof: %s: write failed\n", out ? out : "stdout");
                return 3;
        }
        return 0;
}

/* Reads a whole file (or stdin for "-") into b, up to PROOF_FILE_MAX. */
static int read_all(const char *path, struct buf *b) {
        FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
        if (!f)
                return -errno;
        b->max = PROOF_FILE_MAX;
        char chunk[65536];
        size_t n;
        int r = 0;
        while (r == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                r = buf_append(b, chunk, n);
        if (r == 0 && ferror(f))
                r = -EIO;
        if (f != stdin)
                fclose(f);
        return r;
}

int cmd_verify_proof(int argc, char **argv) {
        static const struct option opts[] = {
                { "pubkey", required_argument, NULL, 'k' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        const char *pub = NULL;
        int c;
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'k': pub = optarg; break;
                case 'h': verify_usage(stdout); return 0;
                default: verify_usage(stderr); return 2;
                }
        }
        if (!pub || optind != argc - 1) {
                verify_usage(stderr);
                return 2;
        }
        const char *path = argv[optind];
        uint8_t pk[SEAL_PK_LEN];
        struct seal_error kerr = { { 0 } };
        if (seal_pubkey_load(pub, pk, &kerr) < 0) {
                fprintf(stderr, "gatelog verify-proof: %s: %s\n", pub, kerr.msg);
                return 2;
        }
        struct buf b = BUF_INIT;
        int r = read_all(path, &b);
        if (r < 0) {
                fprintf(stderr, "gatelog verify-proof: %s: %s\n", path, strerror(-r));
                buf_free(&b);
                return 3;
        }
        struct seal_proof_info info;
        struct seal_error err = { { 0 } };
        r = seal_proof_verify(b.data ? b.data : "", b.len, pk, &info, &err);
        buf_free(&b);
        if (r == -ENOMEM) {
                fprintf(stderr, "gatelog verify-proof: out of memory\n");
                return 3;
        }
        if (r < 0) {
                printf("FAIL %s: %s\n", path, err.msg);
                return 1;
        }
        char mh[HASH_HEX_LEN], kid[HASH_HEX_LEN];
        hash_hex(info.manifest_hash, HASH_LEN, mh);
        seal_key_id(pk, kid);
        printf("OK: seq %" PRId64 " is record %" PRIu64 " of %" PRIu64 " in epoch %" PRId64
               " and in the roots of its %zu criteria; manifest sha256 %s signed by key_id %s\n",
               info.seq, info.leaf_index, info.tree_size, info.epoch, info.n_criteria, mh, kid);
        return 0;
}
