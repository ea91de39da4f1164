/* Syslog over TLS (RFC 5425) with OpenSSL: the server context, the handshake and the
 * client's identity. The sockets, framing, limits and timers live in syslog-net.c; this file
 * only speaks OpenSSL.
 *
 * Load: a handful of relays holding long connections, or many small senders; a handshake is
 * the expensive step (one signature per connection), which is why connections are limited
 * per peer and handshakes time out (syslog-net.c).
 *
 * Guarantees:
 *  - TLS 1.2 is the minimum (RFC 5425 section 5 asks for TLS 1.2 today via RFC 9662); no
 *    renegotiation, no session tickets or cache (every connection authenticates afresh).
 *  - With verify_client, a client must present a certificate that chains to ca (OpenSSL's
 *    verification: validity period, signatures, key usage); with allowed_names it must also
 *    carry one of those names as subject CN or SAN DNS name (X509_check_host, wildcards in
 *    the certificate honoured, partial wildcards not). A refused client never reaches the
 *    framer, so nothing it sent becomes a record.
 *  - A reload builds a complete new context first; a bad file leaves the old one in place.
 *    Connections hold a reference to the context they started with. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/hash.h"
#include "ingest/syslog-tls.h"

struct tls_server {
        const struct ingest_tls_options *opts;
        SSL_CTX *ctx;
};

/* The first queued OpenSSL error as text (or fallback), and clears the queue. */
static void tls_err(char *out, size_t len, const char *what, const char *fallback)
{
        unsigned long e = ERR_peek_last_error();
        char buf[256];

        if (e)
                ERR_error_string_n(e, buf, sizeof(buf));
        snprintf(out, len, "%s: %s", what, e ? buf : fallback);
        ERR_clear_error();
}

static int ctx_build(const struct ingest_tls_options *o, SSL_CTX **ret, char *err,
                     size_t err_len)
{
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

        if (!ctx) {
                tls_err(err, err_len, "SSL_CTX_new", "out of memory");
                return -ENOMEM;
        }
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 0);
        /* SSL_write is never used for data; partial writes only matter in the handshake. */
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
                tls_err(err, err_len, o->cert, "cannot load the certificate");
                goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
                tls_err(err, err_len, o->key, "cannot load the key");
                goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
                tls_err(err, err_len, o->key, "the key does not match the certificate");
                goto fail;
        }
        if (o->ciphers && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1) {
                tls_err(err, err_len, "ciphers", "no usable cipher in the list");
                goto fail;
        }
        if (o->ca) {
                STACK_OF(X509_NAME) *names;

                if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
                        tls_err(err, err_len, o->ca, "cannot load the CA bundle");
                        goto fail;
                }
                /* Tells clients which CAs we accept, so they pick the right certificate. */
                names = SSL_load_client_CA_file(o->ca);
                if (names)
                        SSL_CTX_set_client_CA_list(ctx, names);
        }
        if (o->verify_client)
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                                   NULL);
        else
                SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        ERR_clear_error();
        *ret = ctx;
        return 0;
fail:
        SSL_CTX_free(ctx);
        return -EINVAL;
}

int tls_server_new(const struct ingest_tls_options *opts, struct tls_server **ret, char *err,
                   size_t err_len)
{
        struct tls_server *t = calloc(1, sizeof(*t));
        int r;

        if (!t)
                return -ENOMEM;
        t->opts = opts;
        r = ctx_build(opts, &t->ctx, err, err_len);
        if (r < 0) {
                free(t);
                return r;
        }
        *ret = t;
        return 0;
}

int tls_server_reload(struct tls_server *t, char *err, size_t err_len)
{
        SSL_CTX *ctx;
        int r = ctx_build(t->opts, &ctx, err, err_len);

        if (r < 0)
                return r;
        /* SSL objects took their own reference (SSL_new): they keep the old context. */
        SSL_CTX_free(t->ctx);
        t->ctx = ctx;
        return 0;
}

void tls_server_free(struct tls_server *t)
{
        if (!t)
                return;
        SSL_CTX_free(t->ctx);
        free(t);
}

SSL *tls_conn_new(struct tls_server *t, int fd)
{
        SSL *ssl = SSL_new(t->ctx);

        if (!ssl)
                return NULL;
        if (SSL_set_fd(ssl, fd) != 1) {
                SSL_free(ssl);
                ERR_clear_error();
                return NULL;
        }
        SSL_set_accept_state(ssl);
        return ssl;
}

void tls_conn_free(SSL *ssl)
{
        if (!ssl)
                return;
        /* No close_notify: we close because of a limit or at exit; a quiet shutdown also
         * never blocks on a peer that stopped reading. */
        SSL_set_quiet_shutdown(ssl, 1);
        SSL_free(ssl);
        ERR_clear_error();
}

enum tls_step tls_conn_handshake(SSL *ssl, char *why, size_t why_len)
{
        int r, e;

        ERR_clear_error();
        r = SSL_do_handshake(ssl);
        if (r == 1)
                return TLS_DONE;
        e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ)
                return TLS_WANT_READ;
        if (e == SSL_ERROR_WANT_WRITE)
                return TLS_WANT_WRITE;
        if (e == SSL_ERROR_SSL) {
                long v = SSL_get_verify_result(ssl);

                if (v != X509_V_OK)
                        snprintf(why, why_len, "client certificate: %s",
                                 X509_verify_cert_error_string(v));
                else
                        tls_err(why, why_len, "handshake", "protocol error");
        } else {
                snprintf(why, why_len, "handshake: connection closed by the client");
        }
        ERR_clear_error();
        return TLS_FAILED;
}

/* RFC 2253 text of a name, or NULL. */
static char *name_text(const X509_NAME *n)
{
        BIO *b = BIO_new(BIO_s_mem());
        char *data, *out = NULL;
        long len;

        if (!b)
                return NULL;
        if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
                len = BIO_get_mem_data(b, &data);
                out = strndup(data, (size_t)len);
        }
        BIO_free(b);
        return out;
}

/* SAN entries of kinds we understand, as "DNS:name", "IP:addr", "email:x", "URI:x". */
static json *san_list(X509 *cert)
{
        GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
        json *arr = json_new_arr();

        if (!arr)
                goto out;
        for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
                const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
                const char *kind = NULL;
                const unsigned char *p = NULL;
                char text[300];
                int len = 0;

                switch (g->type) {
                case GEN_DNS: kind = "DNS"; p = ASN1_STRING_get0_data(g->d.dNSName);
                        len = ASN1_STRING_length(g->d.dNSName); break;
                case GEN_EMAIL: kind = "email"; p = ASN1_STRING_get0_data(g->d.rfc822Name);
                        len = ASN1_STRING_length(g->d.rfc822Name); break;
                case GEN_URI: kind = "URI";
                        p = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
                        len = ASN1_STRING_length(g->d.uniformResourceIdentifier); break;
                case GEN_IPADD: {
                        char ip[INET6_ADDRSTRLEN];
                        int alen = ASN1_STRING_length(g->d.iPAddress);

                        if ((alen != 4 && alen != 16) ||
                            !inet_ntop(alen == 4 ? AF_INET : AF_INET6,
                                       ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof(ip)))
                                continue;
                        snprintf(text, sizeof(text), "IP:%s", ip);
                        if (json_arr_append(arr, json_new_str_lossy(text, strlen(text),
                                                                    NULL)) < 0)
                                goto fail;
                        continue;
                }
                default: continue;
                }
                snprintf(text, sizeof(text), "%s:%.*s", kind, len, (const char *)p);
                if (json_arr_append(arr, json_new_str_lossy(text, strlen(text), NULL)) < 0)
                        goto fail;
        }
        goto out;
fail:
        json_free(arr);
        arr = NULL;
out:
        GENERAL_NAMES_free(gens);
        return arr;
}

static bool name_allowed(const struct ingest_tls_options *o, X509 *cert)
{
        if (o->n_allowed_names == 0)
                return true;
        for (size_t i = 0; i < o->n_allowed_names; i++)
                if (X509_check_host(cert, o->allowed_names[i], 0,
                                    X509_CHECK_FLAG_ALWAYS_CHECK_SUBJECT |
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1)
                        return true;
        return false;
}

static json *client_identity(X509 *cert, char fp_hex[HASH_HEX_LEN])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        char *subject = name_text(X509_get_subject_name(cert));
        char *issuer = name_text(X509_get_issuer_name(cert));
        json *c = json_new_obj();
        bool ok = c != NULL;

        if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1 || md_len != HASH_LEN)
                ok = false;
        else
                hash_hex(md, HASH_LEN, fp_hex);
        if (ok)
                ok = json_obj_set(c, "subject", subject ? json_new_str_lossy(
                                        subject, strlen(subject), NULL) : json_new_null()) == 0 &&
                     json_obj_set(c, "issuer", issuer ? json_new_str_lossy(
                                        issuer, strlen(issuer), NULL) : json_new_null()) == 0 &&
                     json_obj_set(c, "san", san_list(cert)) == 0 &&
                     json_obj_set_str(c, "fingerprint_sha256", fp_hex) == 0;
        free(subject);
        free(issuer);
        if (!ok) {
                json_free(c);
                return NULL;
        }
        return c;
}

int tls_conn_identity(struct tls_server *t, SSL *ssl, json **ret_id, char *why, size_t why_len)
{
        X509 *cert = SSL_get1_peer_certificate(ssl);
        char fp[HASH_HEX_LEN] = "";
        json *id = json_new_obj(), *client = NULL;
        int r = -ENOMEM;

        if (!id)
                goto out;
        if (cert) {
                client = client_identity(cert, fp);
                if (!client)
                        goto out;
                if (t->opts->verify_client && !name_allowed(t->opts, cert)) {
                        json *subj = json_obj_get(client, "subject");

                        snprintf(why, why_len, "client name not allowed: subject=\"%s\" "
                                 "fingerprint_sha256=%s",
                                 subj && json_str(subj, NULL) ? json_str(subj, NULL) : "",
                                 fp);
                        r = -EACCES;
                        goto out;
                }
        } else if (t->opts->verify_client) {
                /* SSL_VERIFY_FAIL_IF_NO_PEER_CERT already refused this; be explicit. */
                snprintf(why, why_len, "no client certificate");
                r = -EACCES;
                goto out;
        }
        r = json_obj_set(id, "client", client ? client : json_new_null());
        client = NULL;  /* the object took it, also on failure */
        if (r < 0 || json_obj_set_str(id, "version", SSL_get_version(ssl)) < 0 ||
            json_obj_set_str(id, "cipher", SSL_get_cipher_name(ssl)) < 0) {
                r = -ENOMEM;
                goto out;
        }
        /* Only a verified certificate is evidence of who sent; say which it is. */
        r = -ENOMEM;
        if (json_obj_set(id, "verified", json_new_bool(cert && t->opts->verify_client)) < 0)
                goto out;
        *ret_id = id;
        id = NULL;
        r = 0;
out:
        json_free(client);
        json_free(id);
        X509_free(cert);
        ERR_clear_error();
        return r;
}

ssize_t tls_conn_read(SSL *ssl, void *buf, size_t n, bool *ret_want_write)
{
        size_t got = 0;
        int r, e;

        *ret_want_write = false;
        ERR_clear_error();
        r = SSL_read_ex(ssl, buf, n, &got);
        if (r == 1)
                return (ssize_t)got;
        e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                *ret_want_write = e == SSL_ERROR_WANT_WRITE;
                errno = EAGAIN;
                return -1;
        }
        /* close_notify, a reset, or a TLS error: the stream ends here. */
        ERR_clear_error();
        return 0;
}

bool tls_conn_pending(SSL *ssl)
{
        return SSL_pending(ssl) > 0;
}
