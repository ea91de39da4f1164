/* Verifier target (seal/verify.c): what `gatelog verify` runs over manifests, signatures and
 * records read from a database or an export an attacker may have written.
 *
 * Input: epochs separated by "\0\0"; in each epoch, fields separated by "\0": the manifest
 * bytes, the signature as 128 hex digits, then the records. An empty signature field means
 * "sign this manifest with the fuzz key" so that the fuzzer gets past the signature check
 * and explores the rest; any other signature text is passed as raw bytes (a wrong length is
 * one of the problems to report). The pinned key is derived from FUZZ_KEY_SEED (32 bytes of
 * 0x42): tests/fuzz/make-seeds.py writes the same key for the daemon that makes the seeds.
 *
 * Properties: no crash, leak or undefined behaviour on any bytes; the verifier returns 0 (it
 * reports problems, it does not fail); and when a chain is accepted without a problem, a
 * copy with one byte of one record flipped is rejected. */
#include <stdbool.h>
#include <string.h>

#include "core/hash.h"
#include "seal/seal.h"
#include "tests/fuzz/fuzz.h"

#define MAX_EPOCHS 8
#define MAX_RECORDS 64

struct epoch_in {
        const char *manifest;
        size_t manifest_len;
        uint8_t sig[SEAL_SIG_LEN];
        const uint8_t *sig_p;
        size_t sig_len;
        struct seal_blob rec[MAX_RECORDS];
        size_t n_rec;
};

static struct seal_key *fuzz_key(void) {
        static struct seal_key *k;
        if (!k) {
                uint8_t seed[32];
                memset(seed, 0x42, sizeof(seed));
                fuzz_check(seal_key_from_seed(seed, &k) == 0, "key from seed");
        }
        return k;
}

static void count_cb(void *ud, int64_t epoch, int64_t seq, const char *what) {
        fuzz_check(what && what[0], "a problem is described");
        (*(uint64_t *)ud)++;
}

static const uint8_t *find_sep(const uint8_t *p, const uint8_t *end, size_t n_nul) {
        for (; p + n_nul <= end; p++) {
                size_t k = 0;
                while (k < n_nul && p[k] == 0)
                        k++;
                if (k == n_nul)
                        return p;
        }
        return NULL;
}

/* Splits one epoch's bytes [p, end) into fields. */
static void parse_epoch(const uint8_t *p, const uint8_t *end, struct epoch_in *e) {
        memset(e, 0, sizeof(*e));
        int field = 0;
        while (p <= end) {
                const uint8_t *q = find_sep(p, end, 1);
                if (!q)
                        q = end;
                size_t n = (size_t)(q - p);
                if (field == 0) {
                        e->manifest = (const char *)p;
                        e->manifest_len = n;
                } else if (field == 1) {
                        if (n == 0) {
                                fuzz_check(seal_key_sign(fuzz_key(), e->manifest,
                                                         e->manifest_len, e->sig) == 0, "sign");
                                e->sig_p = e->sig;
                                e->sig_len = SEAL_SIG_LEN;
                        } else if (n == 2 * SEAL_SIG_LEN &&
                                   hash_unhex((const char *)p, n, e->sig, SEAL_SIG_LEN) == 0) {
                                e->sig_p = e->sig;
                                e->sig_len = SEAL_SIG_LEN;
                        } else {
                                e->sig_p = p;
                                e->sig_len = n;
                        }
                } else if (e->n_rec < MAX_RECORDS) {
                        e->rec[e->n_rec++] = (struct seal_blob){ (const char *)p, n };
                }
                field++;
                if (q == end)
                        break;
                p = q + 1;
        }
}

static uint64_t verify_all(struct epoch_in *ep, size_t n) {
        uint8_t pk[SEAL_PK_LEN];
        uint64_t problems = 0;
        struct seal_verifier *v;
        seal_key_public(fuzz_key(), pk);
        fuzz_check(seal_verifier_new(pk, count_cb, &problems, &v) == 0, "verifier_new");
        for (size_t i = 0; i < n; i++) {
                char label[32];
                snprintf(label, sizeof(label), "epoch #%zu", i);
                fuzz_check(seal_verifier_epoch(v, label, ep[i].manifest, ep[i].manifest_len,
                                               ep[i].sig_p, ep[i].sig_len, ep[i].rec,
                                               ep[i].n_rec) == 0, "verifier_epoch returns 0");
                fuzz_check(seal_verifier_epoch_end(v, false) == 0, "epoch_end returns 0");
        }
        fuzz_check(seal_verifier_problems(v) == problems, "problem count matches callbacks");
        seal_verifier_free(v);
        return problems;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct epoch_in ep[MAX_EPOCHS];
        size_t n = 0;
        const uint8_t *p = data, *end = data + size;
        while (n < MAX_EPOCHS) {
                const uint8_t *q = find_sep(p, end, 2);
                parse_epoch(p, q ? q : end, &ep[n++]);
                if (!q)
                        break;
                p = q + 2;
        }
        if (verify_all(ep, n) != 0)
                return 0;
        /* Accepted: flipping one bit of one record byte must be caught. */
        for (size_t i = 0; i < n; i++) {
                if (ep[i].n_rec == 0 || ep[i].rec[0].len == 0)
                        continue;
                struct seal_blob orig = ep[i].rec[0];
                char *copy = malloc(orig.len);
                fuzz_check(copy != NULL, "malloc");
                memcpy(copy, orig.data, orig.len);
                size_t at = fuzz_seed_of(data, size) % orig.len;
                copy[at] ^= 0x01;
                ep[i].rec[0] = (struct seal_blob){ copy, orig.len };
                fuzz_check(verify_all(ep, n) > 0, "a flipped record byte is rejected");
                ep[i].rec[0] = orig;
                free(copy);
                break;
        }
        return 0;
}
