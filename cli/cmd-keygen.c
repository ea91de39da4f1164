/* `gatelog keygen`: creates the Ed25519 key pair that seals epochs.
 *
 * Writes the secret key (PEM PKCS#8, mode 0600, never overwritten unless --force) and the
 * public key beside it as FILE.pub (PEM SubjectPublicKeyInfo, the file auditors pin), then
 * prints the key_id that every manifest will carry. The parent folder is created 0700 when
 * missing so that the secret never sits in a folder others can list. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "seal/seal.h"

#define KEYGEN_DEFAULT_PATH "var/gatelog.key"

static void keygen_usage(FILE *f)
{
        fprintf(f,
                "Usage: gatelog keygen [--out FILE] [--force] [--rotate]\n"
                "\n"
                "Creates an Ed25519 signing key pair for sealing epochs.\n"
                "\n"
                "  -o, --out FILE   secret key file (default " KEYGEN_DEFAULT_PATH "); the public\n"
                "                   key is written to FILE.pub\n"
                "  -f, --force      replace existing key files\n"
                "  -r, --rotate     key rotation: write the next key to FILE.next and\n"
                "                   FILE.next.pub; the next epoch's manifest, signed by FILE,\n"
                "                   announces it and later epochs are signed by it; restart the\n"
                "                   daemon to start the rotation (docs/FORMAT.md section 9)\n"
                "  -h, --help       show this help\n"
                "\n"
                "The secret key is PEM PKCS#8 (mode 0600); FILE.pub is PEM SubjectPublicKeyInfo,\n"
                "readable by `openssl pkeyutl -verify -pubin -rawin`. Give FILE.pub to auditors.\n");
}

/* Creates each missing folder on the way to path's parent, mode 0700. */
static int make_parent(const char *path)
{
        char *dir = strdup(path);
        char *slash;
        int r = 0;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash || slash == dir) {
                free(dir);
                return 0;
        }
        *slash = '\0';
        for (char *p = dir + 1; r == 0; p++) {
                if (*p != '/' && *p != '\0')
                        continue;
                char c = *p;

                *p = '\0';
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        r = -errno;
                *p = c;
                if (c == '\0')
                        break;
        }
        free(dir);
        return r;
}

static int keygen_write(const char *path, bool force)
{
        struct seal_error err = { { 0 } };
        uint8_t pk[SEAL_PK_LEN];
        char key_id[HASH_HEX_LEN];
        char *pub = NULL;
        int r;

        if (asprintf(&pub, "%s.pub", path) < 0) {
                fprintf(stderr, "gatelog keygen: out of memory\n");
                return 3;
        }
        r = make_parent(path);
        if (r < 0) {
                fprintf(stderr, "gatelog keygen: cannot create the folder of %s: %s\n", path,
                        strerror(-r));
                goto fail;
        }
        if (force && ((unlink(path) < 0 && errno != ENOENT) ||
                      (unlink(pub) < 0 && errno != ENOENT))) {
                fprintf(stderr, "gatelog keygen: cannot remove the old key: %s\n",
                        strerror(errno));
                goto fail;
        }
        r = seal_key_generate(path, pub, &err);
        if (r == -EEXIST) {
                fprintf(stderr, "gatelog keygen: %s already exists (use --force to replace it; "
                        "epochs sealed with the old key stay verifiable only with the old "
                        "public key)\n", path);
                goto fail;
        }
        if (r == 0)
                r = seal_pubkey_load(pub, pk, &err);
        if (r < 0) {
                fprintf(stderr, "gatelog keygen: %s\n", err.msg);
                goto fail;
        }
        seal_key_id(pk, key_id);
        printf("secret key: %s (mode 0600, keep it private)\n"
               "public key: %s (give it to auditors)\n"
               "key_id:     %s\n", path, pub, key_id);
        free(pub);
        return 0;
fail:
        free(pub);
        return 3;
}

/* issue 10, key rotation: the next key beside the one in force. */
static int keygen_rotate(const char *path, bool force)
{
        char *next = NULL;
        int r;

        if (access(path, F_OK) != 0) {
                fprintf(stderr, "gatelog keygen: --rotate: %s does not exist (nothing to rotate "
                        "from; run gatelog keygen first)\n", path);
                return 3;
        }
        if (asprintf(&next, "%s.next", path) < 0) {
                fprintf(stderr, "gatelog keygen: out of memory\n");
                return 3;
        }
        if (!force && access(next, F_OK) == 0) {
                fprintf(stderr, "gatelog keygen: %s already exists: a rotation is pending (it "
                        "becomes %s once the daemon seals it; --force replaces it if no epoch "
                        "announced it yet)\n", next, path);
                free(next);
                return 3;
        }
        r = keygen_write(next, force);
        if (r == 0)
                printf("rotation: restart the daemon (or run gatelog seal --now); the next "
                       "manifest, signed by %s, announces this key\n", path);
        free(next);
        return r;
}

int cmd_keygen(int argc, char **argv)
{
        static const struct option opts[] = {
                { "out", required_argument, NULL, 'o' },
                { "force", no_argument, NULL, 'f' },
                { "rotate", no_argument, NULL, 'r' },  /* issue 10 */
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        const char *path = KEYGEN_DEFAULT_PATH;
        bool force = false, rotate = false;
        int c;

        /* 0 makes glibc's getopt start afresh, whatever main parsed before. */
        optind = 0;
        while ((c = getopt_long(argc, argv, "o:frh", opts, NULL)) != -1) {
                switch (c) {
                case 'r':
                        rotate = true;
                        break;
                case 'o':
                        path = optarg;
                        break;
                case 'f':
                        force = true;
                        break;
                case 'h':
                        keygen_usage(stdout);
                        return 0;
                default:
                        keygen_usage(stderr);
                        return 2;
                }
        }
        if (optind < argc || path[0] == '\0') {
                if (optind < argc)
                        fprintf(stderr, "gatelog keygen: unexpected argument '%s'\n",
                                argv[optind]);
                else
                        fprintf(stderr, "gatelog keygen: --out must name a file\n");
                keygen_usage(stderr);
                return 2;
        }
        if (rotate)
                return keygen_rotate(path, force);
        return keygen_write(path, force);
}
