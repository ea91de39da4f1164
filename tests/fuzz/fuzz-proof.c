/* Proof verifier target (seal/proof.c): what `gatelog verify-proof` runs over a proof file an
 * attacker may have written (cli/cmd-proof.c passes the file's bytes to seal_proof_verify).
 *
 * Input: the bytes of a proof file (docs/FORMAT.md section 7). One escape so that mutations
 * get past the signature: when the input parses as a JSON object whose "signature" is the empty
 * string and whose "manifest" is base64, the target signs the decoded manifest with the fuzz
 * key (32 bytes of 0x42, as fuzz-verifier.c), puts that signature in and checks the canonical
 * serialisation of the result plus '\n'. Any other input is checked byte for byte as given.
 * The pinned key is the fuzz key's public half; tests/fuzz/make-seeds.py makes the seeds with
 * `gatelog proof` on a chain sealed with that key.
 *
 * Properties: no crash, leak or undefined behaviour on any bytes; the verifier answers 0 or
 * -EBADMSG (no other errno: the input is small) and says why on -EBADMSG; and when a proof
 * verifies, the full round trip: (a) its info agrees with the proof's own members, (b) for
 * every byte of the record (decoded from "record"), changing that byte and re-encoding the
 * proof canonically makes it fail, (c) changing any single byte of the proof file makes it
 * fail (the verifier promises that a proof has exactly one spelling). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/json.h"
#include "seal/seal.h"
#include "tests/fuzz/fuzz.h"

#define PROOF_INPUT_MAX (256u << 10)

static struct seal_key *fuzz_key(void) {
        static struct seal_key *k;
        if (!k) {
                uint8_t seed[32];
                memset(seed, 0x42, sizeof(seed));
                fuzz_check(seal_key_from_seed(seed, &k) == 0, "key from seed");
        }
        return k;
}

static const uint8_t *fuzz_pk(void) {
        static uint8_t pk[SEAL_PK_LEN];
        static bool done;
        if (!done) {
                seal_key_public(fuzz_key(), pk);
                done = true;
        }
        return pk;
}

/* Decodes canonical-or-not base64 of a string member; malloc'd, NULL when not base64. */
static uint8_t *b64_member(const json *obj, const char *key, size_t *ret_len) {
        size_t n = 0, got = 0;
        const char *s = json_str(json_obj_get(obj, key), &n);
        if (!s)
                return NULL;
        uint8_t *bin = malloc(n / 4 * 3 + 3);
        fuzz_check(bin != NULL, "malloc");
        if (sodium_base642bin(bin, n / 4 * 3 + 3, s, n, NULL, &got, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0) {
                free(bin);
                return NULL;
        }
        *ret_len = got;
        return bin;
}

static void set_b64(json *obj, const char *key, const void *p, size_t n) {
        size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
        char *s = malloc(cap);
        fuzz_check(s != NULL, "malloc");
        sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
        fuzz_check(json_obj_set_str(obj, key, s) == 0, "set member");
        free(s);
}

/* Canonical proof bytes of obj: JCS and '\n'. */
static void serialise(const json *obj, struct buf *out) {
        buf_reset(out);
        fuzz_check(json_canon(obj, out) == 0, "canon");
        fuzz_check(buf_putc(out, '\n') == 0, "newline");
}

static int verify(const char *p, size_t n, struct seal_proof_info *info) {
        struct seal_error err = { { 0 } };
        int r = seal_proof_verify(n ? p : "", n, fuzz_pk(), info, &err);
        fuzz_check(r == 0 || r == -EBADMSG, "verify answers valid or invalid");
        if (r < 0)
                fuzz_check(err.msg[0] != '\0', "a rejection says why");
        return r;
}

/* The round trip over a proof that verified (text, its parse obj). */
static void round_trip(const struct buf *text, json *obj, const struct seal_proof_info *info) {
        /* (a) what verify reports is what the proof says */
        fuzz_check(info->epoch == json_int(json_obj_get(obj, "epoch")), "epoch agrees");
        fuzz_check(info->seq == json_int(json_obj_get(obj, "seq")), "seq agrees");
        fuzz_check((int64_t)info->leaf_index == json_int(json_obj_get(obj, "leaf_index")),
                   "leaf_index agrees");
        fuzz_check((int64_t)info->tree_size == json_int(json_obj_get(obj, "tree_size")),
                   "tree_size agrees");
        fuzz_check(info->n_criteria == json_len(json_obj_get(obj, "criteria")),
                   "every criterion path checked");
        size_t mlen = 0;
        uint8_t *man = b64_member(obj, "manifest", &mlen);
        fuzz_check(man != NULL, "manifest is base64");
        uint8_t mh[HASH_LEN];
        hash_sha256(man, mlen, mh);
        fuzz_check(memcmp(mh, info->manifest_hash, HASH_LEN) == 0, "manifest hash agrees");
        free(man);

        /* (b) every single-byte change of the record bytes is rejected */
        size_t rlen = 0;
        uint8_t *rec = b64_member(obj, "record", &rlen);
        fuzz_check(rec != NULL, "record is base64");
        uint64_t s = fuzz_seed_of((const uint8_t *)text->data, text->len);
        struct buf alt = BUF_INIT;
        for (size_t i = 0; i < rlen; i++) {
                uint8_t old = rec[i], x = (uint8_t)(fuzz_rand(&s) | 1);
                rec[i] ^= x;
                set_b64(obj, "record", rec, rlen);
                serialise(obj, &alt);
                fuzz_check(verify(alt.data, alt.len, NULL) == -EBADMSG,
                           "a proof with one record byte changed fails");
                rec[i] = old;
        }
        set_b64(obj, "record", rec, rlen);
        free(rec);

        /* (c) every single-byte change of the file is rejected */
        buf_reset(&alt);
        fuzz_check(buf_append(&alt, text->data, text->len) == 0, "copy");
        for (size_t i = 0; i < text->len; i++) {
                uint8_t x = (uint8_t)(fuzz_rand(&s) % 255 + 1);
                alt.data[i] ^= (char)x;
                fuzz_check(verify(alt.data, alt.len, NULL) == -EBADMSG,
                           "a proof with one byte changed fails");
                alt.data[i] ^= (char)x;
        }
        buf_free(&alt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > PROOF_INPUT_MAX)
                return 0;
        json *obj = NULL;
        struct buf text = BUF_INIT;
        bool signed_here = false;
        if (json_parse((const char *)data, size, &obj, NULL) == 0 &&
            json_type_of(obj) == JSON_OBJ) {
                size_t n = 1;
                const char *sig = json_str(json_obj_get(obj, "signature"), &n);
                size_t mlen = 0;
                uint8_t *man = sig && n == 0 ? b64_member(obj, "manifest", &mlen) : NULL;
                if (man) {
                        uint8_t sg[SEAL_SIG_LEN];
                        fuzz_check(seal_key_sign(fuzz_key(), man, mlen, sg) == 0, "sign");
                        set_b64(obj, "signature", sg, sizeof(sg));
                        serialise(obj, &text);
                        signed_here = true;
                        free(man);
                }
        }
        if (!signed_here)
                fuzz_check(buf_append(&text, data, size) == 0, "copy");
        struct seal_proof_info info;
        if (verify(text.data, text.len, &info) == 0) {
                /* A valid proof is canonical JSON: it parses (obj may be the pre-signing
                 * parse; re-parse the checked bytes). */
                json_free(obj);
                obj = NULL;
                fuzz_check(json_parse(text.data, text.len, &obj, NULL) == 0, "valid parses");
                round_trip(&text, obj, &info);
        }
        json_free(obj);
        buf_free(&text);
        return 0;
}
