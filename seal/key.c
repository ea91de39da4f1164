/* Ed25519 signing keys (libsodium) in the files OpenSSL reads and writes.
 *
 * Secret key file: PEM "PRIVATE KEY", the PKCS#8 PrivateKeyInfo of RFC 8410 section 7, which
 * for Ed25519 is always the 16-byte DER prefix below followed by the 32-byte seed. Public key
 * file: PEM "PUBLIC KEY", the SubjectPublicKeyInfo of RFC 8410 section 4 (12-byte prefix and
 * the 32-byte key). `openssl pkey` and `openssl pkeyutl -rawin` read both.
 *
 * Guarantees: the seed, the expanded secret key and every buffer that held their text live in
 * sodium_malloc memory (guard pages, not swapped where mlock works) and are wiped on every
 * way out; a secret key file is created O_EXCL|O_NOFOLLOW with mode 0600 and fsync'd, and is
 * refused on load when group or others could read or write it or another user owns it.
 * Nothing here logs: errors come back as a negative errno and a sentence in seal_error. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "seal/seal.h"

/* RFC 8410: PrivateKeyInfo { version 0, AlgorithmIdentifier { id-Ed25519 }, OCTET STRING {
 * OCTET STRING (32) } } and SubjectPublicKeyInfo { AlgorithmIdentifier { id-Ed25519 },
 * BIT STRING (33, no unused bits) }. */
static const uint8_t pkcs8_prefix[16] = {
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
        0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
};
static const uint8_t spki_prefix[12] = {
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
};
#define PKCS8_LEN (sizeof(pkcs8_prefix) + crypto_sign_SEEDBYTES)
#define SPKI_LEN (sizeof(spki_prefix) + SEAL_PK_LEN)

/* A key file is a few hundred bytes; anything past this is not one of ours. */
#define KEY_FILE_MAX 8192
/* PEM text of a 48-byte DER: 64 base64 characters, one line, plus the armour. */
#define PEM_TEXT_MAX 256

struct seal_key {
        uint8_t sk[crypto_sign_SECRETKEYBYTES]; /* seed || public key, libsodium's layout */
        uint8_t pk[SEAL_PK_LEN];
};

static int fail(struct seal_error *err, int r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(struct seal_error *err, int r, const char *fmt, ...)
{
        va_list ap;

        if (err) {
                va_start(ap, fmt);
                vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
                va_end(ap);
        }
        return r;
}

/* sodium_init is idempotent and thread-safe; every entry point calls it so that no caller
 * has to remember to. */
static int sodium_ready(void)
{
        return sodium_init() < 0 ? -EIO : 0;
}

/* Appends "-----BEGIN label-----", the base64 of der in 64-character lines, and the END
 * line to out[0..out_max), NUL-terminated. Returns the text length or -E2BIG. */
static int pem_encode(const char *label, const uint8_t *der, size_t der_len, char *out,
                      size_t out_max)
{
        char b64[128];
        size_t pos, b64_len;
        int n, r = -E2BIG;

        if (sodium_base64_ENCODED_LEN(der_len, sodium_base64_VARIANT_ORIGINAL) > sizeof(b64))
                return -E2BIG;
        sodium_bin2base64(b64, sizeof(b64), der, der_len, sodium_base64_VARIANT_ORIGINAL);
        b64_len = strlen(b64);
        n = snprintf(out, out_max, "-----BEGIN %s-----\n", label);
        if (n < 0 || (size_t)n >= out_max)
                goto out;
        pos = (size_t)n;
        for (size_t i = 0; i < b64_len; i += 64) {
                size_t chunk = b64_len - i < 64 ? b64_len - i : 64;

                if (pos + chunk + 1 >= out_max)
                        goto out;
                memcpy(out + pos, b64 + i, chunk);
                pos += chunk;
                out[pos++] = '\n';
        }
        n = snprintf(out + pos, out_max - pos, "-----END %s-----\n", label);
        if (n < 0 || (size_t)n >= out_max - pos)
                goto out;
        r = (int)(pos + (size_t)n);
out:
        /* b64 held the secret seed when der is a private key. */
        sodium_memzero(b64, sizeof(b64));
        return r;
}

/* Finds the PEM block of label in text and decodes it into der (at most der_max bytes).
 * Returns 0 and *ret_len, -ENOENT when there is no such block, -EBADMSG when it is not
 * valid base64. */
static int pem_decode(const char *text, size_t len, const char *label, uint8_t *der,
                      size_t der_max, size_t *ret_len)
{
        char begin[64], end[64];
        const char *b, *e, *stop = NULL;
        size_t bin_len = 0;

        snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
        snprintf(end, sizeof(end), "-----END %s-----", label);
        b = memmem(text, len, begin, strlen(begin));
        if (!b)
                return -ENOENT;
        b += strlen(begin);
        e = memmem(b, len - (size_t)(b - text), end, strlen(end));
        if (!e)
                return -EBADMSG;
        if (sodium_base642bin(der, der_max, b, (size_t)(e - b), " \t\r\n", &bin_len, &stop,
                              sodium_base64_VARIANT_ORIGINAL) != 0 || stop != e)
                return -EBADMSG;
        *ret_len = bin_len;
        return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
        const char *c = p;

        while (n > 0) {
                ssize_t w = write(fd, c, n);

                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                c += w;
                n -= (size_t)w;
        }
        return 0;
}

/* Writes the whole of text to a new file (flags decide O_EXCL), fsync'd. */
static int write_file(const char *path, int flags, mode_t mode, const char *text, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | flags, mode);
        int r;

        if (fd < 0)
                return -errno;
        r = write_all(fd, text, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        return r;
}

int seal_pubkey_pem(const uint8_t pk[SEAL_PK_LEN], struct buf *out)
{
        uint8_t der[SPKI_LEN];
        char text[PEM_TEXT_MAX];
        int n;

        memcpy(der, spki_prefix, sizeof(spki_prefix));
        memcpy(der + sizeof(spki_prefix), pk, SEAL_PK_LEN);
        n = pem_encode("PUBLIC KEY", der, sizeof(der), text, sizeof(text));
        if (n < 0)
                return n;
        return buf_append(out, text, (size_t)n);
}

void seal_key_id(const uint8_t pk[SEAL_PK_LEN], char out[HASH_HEX_LEN])
{
        uint8_t h[HASH_LEN];

        hash_sha256(pk, SEAL_PK_LEN, h);
        hash_hex(h, HASH_LEN, out);
}

int seal_key_from_seed(const uint8_t seed[32], struct seal_key **ret)
{
        struct seal_key *k;

        if (sodium_ready() < 0)
                return -EIO;
        k = sodium_malloc(sizeof(*k));
        if (!k)
                return -ENOMEM;
        if (crypto_sign_seed_keypair(k->pk, k->sk, seed) != 0) {
                seal_key_free(k);
                return -EIO;
        }
        *ret = k;
        return 0;
}

void seal_key_free(struct seal_key *k)
{
        if (!k)
                return;
        sodium_memzero(k, sizeof(*k));
        sodium_free(k);
}

void seal_key_public(const struct seal_key *k, uint8_t pk[SEAL_PK_LEN])
{
        memcpy(pk, k->pk, SEAL_PK_LEN);
}

int seal_key_sign(const struct seal_key *k, const void *msg, size_t len,
                  uint8_t sig[SEAL_SIG_LEN])
{
        if (sodium_ready() < 0)
                return -EIO;
        if (crypto_sign_detached(sig, NULL, msg, len, k->sk) != 0)
                return -EIO;
        return 0;
}

int seal_sig_verify(const uint8_t pk[SEAL_PK_LEN], const void *msg, size_t len,
                    const uint8_t sig[SEAL_SIG_LEN])
{
        if (sodium_ready() < 0)
                return -EBADMSG;
        return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : -EBADMSG;
}

/* The secret PEM text of k's seed into text (PEM_TEXT_MAX bytes). */
static int secret_pem(const struct seal_key *k, char *text)
{
        uint8_t *der = sodium_malloc(PKCS8_LEN);
        int n;

        if (!der)
                return -ENOMEM;
        memcpy(der, pkcs8_prefix, sizeof(pkcs8_prefix));
        memcpy(der + sizeof(pkcs8_prefix), k->sk, crypto_sign_SEEDBYTES);
        n = pem_encode("PRIVATE KEY", der, PKCS8_LEN, text, PEM_TEXT_MAX);
        sodium_memzero(der, PKCS8_LEN);
        sodium_free(der);
        return n;
}

static int write_pair(const struct seal_key *k, const char *secret_path, const char *pub_path,
                      struct seal_error *err)
{
        struct buf pub = BUF_INIT;
        char *text = sodium_malloc(PEM_TEXT_MAX);
        int n, r;

        if (!text)
                return fail(err, -ENOMEM, "out of memory");
        n = secret_pem(k, text);
        if (n < 0) {
                r = fail(err, n, "cannot encode the secret key");
                goto out;
        }
        r = write_file(secret_path, O_EXCL, 0600, text, (size_t)n);
        if (r == -EEXIST) {
                r = fail(err, r, "%s already exists; not overwriting a secret key", secret_path);
                goto out;
        }
        if (r < 0) {
                r = fail(err, r, "cannot write %s: %s", secret_path, strerror(-r));
                unlink(secret_path);
                goto out;
        }
        r = seal_pubkey_pem(k->pk, &pub);
        if (r == 0)
                r = write_file(pub_path, O_TRUNC, 0644, pub.data, pub.len);
        if (r < 0) {
                /* A secret without its public half would be sealed with but never checked. */
                unlink(secret_path);
                r = fail(err, r, "cannot write %s: %s", pub_path, strerror(-r));
        }
out:
        buf_free(&pub);
        sodium_memzero(text, PEM_TEXT_MAX);
        sodium_free(text);
        return r;
}

int seal_key_generate(const char *secret_path, const char *pub_path, struct seal_error *err)
{
        struct seal_key *k = NULL;
        uint8_t *seed;
        int r;

        if (sodium_ready() < 0)
                return fail(err, -EIO, "libsodium failed to initialise");
        seed = sodium_malloc(crypto_sign_SEEDBYTES);
        if (!seed)
                return fail(err, -ENOMEM, "out of memory");
        randombytes_buf(seed, crypto_sign_SEEDBYTES);
        r = seal_key_from_seed(seed, &k);
        sodium_memzero(seed, crypto_sign_SEEDBYTES);
        sodium_free(seed);
        if (r < 0)
                return fail(err, r, "cannot derive the key pair");
        r = write_pair(k, secret_path, pub_path, err);
        seal_key_free(k);
        return r;
}

/* Reads at most KEY_FILE_MAX bytes of an open file into buf. Returns the length. */
static ssize_t read_small(int fd, char *buf, size_t max)
{
        size_t len = 0;

        while (len < max) {
                ssize_t n = read(fd, buf + len, max - len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return (ssize_t)len;
                len += (size_t)n;
        }
        return -EFBIG;
}

/* Refuses a secret key file others could read or change, as ssh and signify do. */
static int check_secret_mode(int fd, const char *path, struct seal_error *err)
{
        struct stat st;

        if (fstat(fd, &st) < 0)
                return fail(err, -errno, "cannot stat %s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return fail(err, -EINVAL, "%s is not a regular file", path);
        if (st.st_uid != geteuid())
                return fail(err, -EPERM, "secret key %s is owned by uid %u, not by uid %u "
                            "that runs gatelog", path, (unsigned)st.st_uid, (unsigned)geteuid());
        if (st.st_mode & 077)
                return fail(err, -EPERM, "secret key %s has mode %04o: group and others must "
                            "have no access (chmod 600 %s)", path,
                            (unsigned)(st.st_mode & 07777), path);
        return 0;
}

/* Parses the PKCS#8 PEM text into a key. */
static int parse_secret(const char *text, size_t len, const char *path, struct seal_key **ret,
                        struct seal_error *err)
{
        uint8_t *der = sodium_malloc(KEY_FILE_MAX);
        size_t der_len = 0;
        int r;

        if (!der)
                return fail(err, -ENOMEM, "out of memory");
        r = pem_decode(text, len, "PRIVATE KEY", der, KEY_FILE_MAX, &der_len);
        if (r == -ENOENT)
                r = fail(err, -EBADMSG, "%s has no \"-----BEGIN PRIVATE KEY-----\" block", path);
        else if (r < 0)
                r = fail(err, r, "%s: the PRIVATE KEY block is not valid base64", path);
        else if (der_len != PKCS8_LEN || memcmp(der, pkcs8_prefix, sizeof(pkcs8_prefix)) != 0)
                r = fail(err, -EBADMSG, "%s is not an Ed25519 PKCS#8 key (RFC 8410)", path);
        else if ((r = seal_key_from_seed(der + sizeof(pkcs8_prefix), ret)) < 0)
                r = fail(err, r, "%s: cannot derive the key pair", path);
        sodium_memzero(der, KEY_FILE_MAX);
        sodium_free(der);
        return r;
}

int seal_key_load(const char *path, struct seal_key **ret, struct seal_error *err)
{
        char *text;
        ssize_t len;
        int fd, r;

        if (sodium_ready() < 0)
                return fail(err, -EIO, "libsodium failed to initialise");
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return fail(err, -errno, "cannot open secret key %s: %s", path, strerror(errno));
        r = check_secret_mode(fd, path, err);
        if (r < 0) {
                close(fd);
                return r;
        }
        text = sodium_malloc(KEY_FILE_MAX);
        if (!text) {
                close(fd);
                return fail(err, -ENOMEM, "out of memory");
        }
        len = read_small(fd, text, KEY_FILE_MAX);
        close(fd);
        if (len < 0)
                r = fail(err, (int)len, "cannot read %s: %s", path, strerror((int)-len));
        else
                r = parse_secret(text, (size_t)len, path, ret, err);
        sodium_memzero(text, KEY_FILE_MAX);
        sodium_free(text);
        return r;
}

/* Trims ASCII white space from both ends. */
static void trim(const char **s, size_t *n)
{
        while (*n > 0 && strchr(" \t\r\n", (*s)[0]))
                (*s)++, (*n)--;
        while (*n > 0 && strchr(" \t\r\n", (*s)[*n - 1]))
                (*n)--;
}

static int parse_public(const char *text, size_t len, const char *path,
                        uint8_t pk[SEAL_PK_LEN], struct seal_error *err)
{
        uint8_t der[128];
        size_t der_len = 0;
        const char *t = text;
        size_t tn = len;
        int r;

        r = pem_decode(text, len, "PUBLIC KEY", der, sizeof(der), &der_len);
        if (r == 0) {
                if (der_len != SPKI_LEN || memcmp(der, spki_prefix, sizeof(spki_prefix)) != 0)
                        return fail(err, -EBADMSG, "%s is not an Ed25519 public key "
                                    "(RFC 8410 SubjectPublicKeyInfo)", path);
                memcpy(pk, der + sizeof(spki_prefix), SEAL_PK_LEN);
                return 0;
        }
        if (r != -ENOENT)
                return fail(err, r, "%s: the PUBLIC KEY block is not valid base64", path);
        trim(&t, &tn);
        if (hash_unhex(t, tn, pk, SEAL_PK_LEN) == 0)
                return 0;
        if (len == SEAL_PK_LEN) {
                memcpy(pk, text, SEAL_PK_LEN);
                return 0;
        }
        return fail(err, -EBADMSG, "%s is not a public key (PEM \"PUBLIC KEY\", 64 hex digits, "
                    "or 32 raw bytes)", path);
}

int seal_pubkey_load(const char *path, uint8_t pk[SEAL_PK_LEN], struct seal_error *err)
{
        char text[KEY_FILE_MAX];
        ssize_t len;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return fail(err, -errno, "cannot open public key %s: %s", path, strerror(errno));
        len = read_small(fd, text, sizeof(text));
        close(fd);
        if (len < 0)
                return fail(err, (int)len, "cannot read %s: %s", path, strerror((int)-len));
        return parse_public(text, (size_t)len, path, pk, err);
}
