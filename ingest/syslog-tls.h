/* Internal to ingest/: the OpenSSL side of the syslog-over-TLS listener (RFC 5425), used by
 * syslog-net.c. Not part of the stage's API. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/json.h"
#include "ingest/ingest.h"

struct tls_server;
typedef struct ssl_st SSL;

/* Builds a server context from opts (borrowed: must outlive the server): reads the
 * certificate, key and CA files now. Returns 0 or -EINVAL/-ENOENT/-ENOMEM with err saying
 * what OpenSSL refused. */
int tls_server_new(const struct ingest_tls_options *opts, struct tls_server **ret, char *err,
                   size_t err_len);
/* Re-reads the files into a new context; on success new connections use it (established
 * ones keep the old one, which lives as long as they do). On error nothing changes. */
int tls_server_reload(struct tls_server *t, char *err, size_t err_len);
void tls_server_free(struct tls_server *t); /* accepts NULL */

/* A server-side SSL on a connected non-blocking socket, in accept state. NULL: no memory. */
SSL *tls_conn_new(struct tls_server *t, int fd);
void tls_conn_free(SSL *ssl); /* accepts NULL; sends no close_notify (the peer may be gone) */

enum tls_step { TLS_DONE, TLS_WANT_READ, TLS_WANT_WRITE, TLS_FAILED };
/* Advances the handshake. TLS_FAILED: why says what went wrong (a short text). */
enum tls_step tls_conn_handshake(SSL *ssl, char *why, size_t why_len);
/* After the handshake: checks the client against the listener's allow-list and builds the
 * identity that goes into each record's source.tls:
 *   {version, cipher, client: {subject, issuer, san: ["DNS:x", ...], fingerprint_sha256}
 *    or null when no certificate was asked for or given}
 * Returns 0 and *ret_id (caller owns), -EACCES when the client is refused (why says why,
 * subject and fingerprint included), -ENOMEM. */
int tls_conn_identity(struct tls_server *t, SSL *ssl, json **ret_id, char *why, size_t why_len);
/* Like read(2): bytes read, 0 at end of stream (close_notify, reset or a TLS error: what
 * arrived before still counts), -1 with errno EAGAIN when nothing is there yet;
 * *ret_want_write says the next step needs the socket writable (a TLS 1.3 key update). */
ssize_t tls_conn_read(SSL *ssl, void *buf, size_t n, bool *ret_want_write);
/* Bytes already decrypted and buffered inside the SSL (epoll does not see them). */
bool tls_conn_pending(SSL *ssl);
