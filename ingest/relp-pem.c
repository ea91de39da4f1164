/* The certificate and key of a RELP-over-TLS listener, as librelp reads them: librelp 1.11
 * opens the certificate and key files by path for every new session (SSL_use_certificate_
 * chain_file, SSL_use_PrivateKey_file). gatelog gives it /proc/self/fd/N of a memfd that
 * holds the chain and then the key (PEM readers skip the blocks they do not want), so that
 * what librelp reads changes only when gatelog says so (start, SIGHUP), in one dup3, and
 * never half-way through an edit of the files on disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ingest/relp-pem.h"

/* A certificate chain and key file together: far more than any real one. */
#define RELP_PEM_MAX (1024 * 1024)

/* Appends the file at path to fd (at most RELP_PEM_MAX bytes in all). */
static int pem_append(int fd, const char *path)
{
        char buf[8192];
        int in = open(path, O_RDONLY | O_CLOEXEC);
        int r = 0;

        if (in < 0)
                return -errno;
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : 0;
                        break;
                }
                if (lseek(fd, 0, SEEK_CUR) + n > RELP_PEM_MAX) {
                        r = -EFBIG;
                        break;
                }
                if (write(fd, buf, (size_t)n) != n) {
                        r = -EIO;
                        break;
                }
        }
        close(in);
        return r;
}

/* A new memfd holding o->cert then o->key, checked with OpenSSL (the chain loads, the key
 * loads and matches). Returns the fd, or -errno with err saying why. */
int relp_pem_build(const struct ingest_tls_options *o, char *err, size_t err_len)
{
        int fd = memfd_create("gatelog-relp-pem", MFD_CLOEXEC);
        char path[40];
        SSL_CTX *ctx = NULL;
        int r;

        if (fd < 0) {
                snprintf(err, err_len, "memfd: %s", strerror(errno));
                return -errno;
        }
        if ((r = pem_append(fd, o->cert)) < 0 || write(fd, "\n", 1) != 1 ||
            (r = pem_append(fd, o->key)) < 0) {
                r = r < 0 ? r : -EIO;
                snprintf(err, err_len, "cannot read %s or %s: %s", o->cert, o->key,
                         strerror(-r));
                goto fail;
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, path) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
                unsigned long e = ERR_peek_last_error();
                char buf[256] = "no certificate or key found";

                if (e)
                        ERR_error_string_n(e, buf, sizeof(buf));
                snprintf(err, err_len, "%s / %s: %s", o->cert, o->key, buf);
                ERR_clear_error();
                r = -EINVAL;
                goto fail;
        }
        SSL_CTX_free(ctx);
        return fd;
fail:
        SSL_CTX_free(ctx);
        close(fd);
        return r;
}
