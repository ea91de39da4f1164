/* Chain heads and C2SP checkpoints.
 *
 * The chain of manifests is also an RFC 6962 log whose entries are the manifest.json bytes of
 * epochs 0, 1, 2, ... (leaf = SHA-256(0x00 || manifest bytes)). Its head at N sealed epochs
 * is (N, MTH of those N manifests), written either as gatelog's own head line (canonical
 * JSON, which also names the last manifest's SHA-256) or as a checkpoint of the C2SP
 * tlog-checkpoint spec inside a C2SP signed note signed with the chain's Ed25519 key:
 *
 *     <origin>\n<tree size in decimal>\n<base64 of the 32-byte root>\n
 *     \n
 *     — <key name> <base64(key ID (4 bytes) || Ed25519 signature (64 bytes))>\n
 *
 * where the signature covers the body (the three lines, final newline included), the key
 * name is the origin, and the key ID is the first 4 bytes of SHA-256(key name || 0x0A || 0x01
 * || public key) (signed-note's recommended ID for Ed25519, signature type 0x01). Other
 * signature lines (witness cosignatures) are ignored on reading, as the spec asks. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "seal/seal.h"

#define EM_DASH "\xe2\x80\x94"
#define NOTE_MAX_SIGS 100

static int bad(struct seal_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct seal_error *err, const char *fmt, ...)
{
        va_list ap;

        if (err) {
                va_start(ap, fmt);
                vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
                va_end(ap);
        }
        return -EBADMSG;
}

bool seal_note_name_valid(const char *name)
{
        size_t n = strlen(name);

        if (n == 0 || n > SEAL_ORIGIN_MAX || !json_utf8_valid(name, n))
                return false;
        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
                if (*p <= 0x20 || *p == '+' || *p == 0x7f)
                        return false;
        return strstr(name, "\xc2\xa0") == NULL; /* no-break space */
}

void seal_note_key_id(const char *name, const uint8_t pk[SEAL_PK_LEN], uint8_t out[4])
{
        uint8_t h[HASH_LEN];
        static const uint8_t sep[2] = { 0x0a, 0x01 };

        hash_sha256_3(name, strlen(name), sep, 2, pk, SEAL_PK_LEN, h);
        memcpy(out, h, 4);
}

static void b64(const void *p, size_t n, char *out, size_t cap)
{
        sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
}

int seal_note_vkey(const char *name, const uint8_t pk[SEAL_PK_LEN], struct buf *out)
{
        uint8_t id[4], typed[1 + SEAL_PK_LEN];
        char s[sodium_base64_ENCODED_LEN(1 + SEAL_PK_LEN, sodium_base64_VARIANT_ORIGINAL)];

        if (!seal_note_name_valid(name))
                return -EINVAL;
        seal_note_key_id(name, pk, id);
        typed[0] = 0x01;
        memcpy(typed + 1, pk, SEAL_PK_LEN);
        b64(typed, sizeof(typed), s, sizeof(s));
        return buf_printf(out, "%s+%02x%02x%02x%02x+%s", name, id[0], id[1], id[2], id[3], s);
}

int seal_checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[HASH_LEN],
                         const struct seal_key *k, struct buf *out)
{
        char rb[sodium_base64_ENCODED_LEN(HASH_LEN, sodium_base64_VARIANT_ORIGINAL)];
        char sb[sodium_base64_ENCODED_LEN(4 + SEAL_SIG_LEN, sodium_base64_VARIANT_ORIGINAL)];
        uint8_t pk[SEAL_PK_LEN], blob[4 + SEAL_SIG_LEN];
        struct buf body = BUF_INIT;
        int r;

        if (!seal_note_name_valid(origin))
                return -EINVAL;
        b64(root, HASH_LEN, rb, sizeof(rb));
        r = buf_printf(&body, "%s\n%llu\n%s\n", origin, (unsigned long long)size, rb);
        seal_key_public(k, pk);
        seal_note_key_id(origin, pk, blob);
        if (r == 0)
                r = seal_key_sign(k, body.data, body.len, blob + 4);
        if (r == 0) {
                b64(blob, sizeof(blob), sb, sizeof(sb));
                r = buf_printf(out, "%s\n" EM_DASH " %s %s\n", body.data, origin, sb);
        }
        buf_free(&body);
        return r;
}

/* Strict base64 of exactly n bytes (one spelling: re-encoded and compared). */
static bool unb64(const char *s, size_t len, uint8_t *out, size_t n)
{
        char back[128];
        size_t got = 0;

        if (sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL) > sizeof(back) ||
            sodium_base642bin(out, n, s, len, NULL, &got, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 || got != n)
                return false;
        b64(out, n, back, sizeof(back));
        return strlen(back) == len && memcmp(back, s, len) == 0;
}

/* Decimal without sign or leading zeros (C2SP tlog-checkpoint). */
static bool parse_dec(const char *s, size_t len, uint64_t *out)
{
        uint64_t v = 0;

        if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
                return false;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
                        return false;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        *out = v;
        return true;
}

/* One signature line "— NAME BASE64" (without its '\n'): does it verify body under pk? */
static bool sig_line_ok(const char *line, size_t len, const char *body, size_t body_len,
                        const uint8_t pk[SEAL_PK_LEN])
{
        const char *name, *sp;
        uint8_t blob[4 + SEAL_SIG_LEN], id[4];
        char nm[SEAL_ORIGIN_MAX + 1];
        size_t nl;

        if (len < 4 || memcmp(line, EM_DASH " ", 4) != 0)
                return false;
        name = line + 4;
        sp = memchr(name, ' ', len - 4);
        if (!sp || (nl = (size_t)(sp - name)) == 0 || nl > SEAL_ORIGIN_MAX)
                return false;
        memcpy(nm, name, nl);
        nm[nl] = '\0';
        if (!unb64(sp + 1, len - 4 - nl - 1, blob, sizeof(blob)))
                return false;
        seal_note_key_id(nm, pk, id);
        return memcmp(id, blob, 4) == 0 &&
               seal_sig_verify(pk, body, body_len, blob + 4) == 0;
}

static int checkpoint_parse(const char *text, size_t len, const uint8_t pk[SEAL_PK_LEN],
                            struct seal_head *h, struct seal_error *err)
{
        const char *sep = NULL, *p, *l1, *l2, *l3;
        size_t body_len, n_sigs = 0;
        bool ok = false;

        for (size_t i = 0; i + 1 < len; i++)
                if (text[i] == '\n' && text[i + 1] == '\n')
                        sep = text + i; /* the last blank line */
        if (!sep || text[len - 1] != '\n' || memchr(text, '\0', len))
                return bad(err, "not a signed note: no blank line before the signatures");
        body_len = (size_t)(sep - text) + 1;
        /* Body: origin, size, root; extension lines are allowed and covered by the signature. */
        l1 = memchr(text, '\n', body_len);
        l2 = l1 ? memchr(l1 + 1, '\n', body_len - (size_t)(l1 + 1 - text)) : NULL;
        l3 = l2 ? memchr(l2 + 1, '\n', body_len - (size_t)(l2 + 1 - text)) : NULL;
        if (!l3)
                return bad(err, "a checkpoint body has at least 3 lines");
        if ((size_t)(l1 - text) > SEAL_ORIGIN_MAX || l1 == text)
                return bad(err, "the checkpoint origin is empty or too long");
        memcpy(h->origin, text, (size_t)(l1 - text));
        h->origin[l1 - text] = '\0';
        if (!parse_dec(l1 + 1, (size_t)(l2 - l1 - 1), &h->tree_size))
                return bad(err, "the checkpoint tree size is not a decimal number");
        if (!unb64(l2 + 1, (size_t)(l3 - l2 - 1), h->root, HASH_LEN))
                return bad(err, "the checkpoint root hash is not the base64 of 32 bytes");
        for (p = sep + 2; p < text + len; n_sigs++) {
                const char *e = memchr(p, '\n', (size_t)(text + len - p));

                if (n_sigs == NOTE_MAX_SIGS)
                        return bad(err, "the note has more than %d signatures", NOTE_MAX_SIGS);
                if (!e || e == p || memcmp(p, EM_DASH " ", 4) != 0)
                        return bad(err, "a signature line is not \"" EM_DASH " NAME BASE64\"");
                ok |= sig_line_ok(p, (size_t)(e - p), text, body_len, pk);
                p = e + 1;
        }
        if (!ok)
                return bad(err, "no signature line of the checkpoint verifies under the pinned "
                           "key");
        h->is_checkpoint = true;
        return 0;
}

static int json_head_parse(const char *text, size_t len, struct seal_head *h,
                           struct seal_error *err)
{
        json *j = NULL;
        const json *m;
        size_t n = 0;
        const char *s;
        char back[HASH_HEX_LEN];
        int r = 0;

        if (json_parse(text, len, &j, NULL) < 0 || json_type_of(j) != JSON_OBJ) {
                json_free(j);
                return bad(err, "neither a head line of `gatelog head` nor a signed checkpoint");
        }
        m = json_obj_get(j, "tree_size");
        if (!m || json_type_of(m) != JSON_INT || json_int(m) < 1)
                r = bad(err, "head member \"tree_size\" is not a positive integer");
        else
                h->tree_size = (uint64_t)json_int(m);
        const char *hexes[2] = { "root", "manifest_sha256" };
        uint8_t *outs[2] = { h->root, h->manifest_hash };
        for (int i = 0; r == 0 && i < 2; i++) {
                s = json_str(json_obj_get(j, hexes[i]), &n);
                if (!s || hash_unhex(s, n, outs[i], HASH_LEN) < 0 ||
                    strcmp(hash_hex(outs[i], HASH_LEN, back), s) != 0)
                        r = bad(err, "head member \"%s\" is not 64 lowercase hex digits",
                                hexes[i]);
        }
        s = json_str(json_obj_get(j, "chain"), &n);
        if (r == 0 && (!s || n > SEAL_ORIGIN_MAX))
                r = bad(err, "head member \"chain\" is missing");
        if (r == 0) {
                memcpy(h->origin, s, n + 1);
                h->has_manifest_hash = true;
        }
        json_free(j);
        return r;
}

int seal_head_parse(const char *text, size_t len, const uint8_t pk[SEAL_PK_LEN],
                    struct seal_head *ret, struct seal_error *err)
{
        struct seal_head h = { 0 };
        int r;

        if (len > 0 && text[0] == '{')
                r = json_head_parse(text, len, &h, err);
        else
                r = checkpoint_parse(text, len, pk, &h, err);
        if (r == 0)
                *ret = h;
        return r;
}

int seal_head_format(const char *chain, uint64_t tree_size, const uint8_t root[HASH_LEN],
                     const uint8_t manifest_hash[HASH_LEN], struct buf *out)
{
        char a[HASH_HEX_LEN], b[HASH_HEX_LEN];
        json *j = json_new_obj();
        int r = j ? 0 : -ENOMEM;

        if (tree_size == 0 || tree_size > INT64_MAX)
                r = -EINVAL;
        if (r == 0)
                r = json_obj_set_str(j, "chain", chain);
        if (r == 0)
                r = json_obj_set_int(j, "epoch", (int64_t)tree_size - 1);
        if (r == 0)
                r = json_obj_set_int(j, "tree_size", (int64_t)tree_size);
        if (r == 0)
                r = json_obj_set_str(j, "root", hash_hex(root, HASH_LEN, a));
        if (r == 0)
                r = json_obj_set_str(j, "manifest_sha256", hash_hex(manifest_hash, HASH_LEN, b));
        if (r == 0)
                r = json_canon(j, out);
        if (r == 0)
                r = buf_putc(out, '\n');
        json_free(j);
        return r;
}
