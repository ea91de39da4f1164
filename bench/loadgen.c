/* loadgen: the benchmark's syslog load generator.
 *
 * Sends N messages of a realistic access-log mix (sshd accepted/failed, sudo, su, PAM,
 * useradd/usermod, nginx 401/403/200, JSON gate events from an application, and a share no
 * rule maps: cron, dhclient, systemd) as RFC 5424 or RFC 3164, over UDP, TCP newline-framed
 * TCP octet-counted (RFC 6587 3.4.1) or TLS (RFC 5425: octet-counted frames over TLS, OpenSSL,
 * the server's certificate checked against --ca, optionally a client certificate), on K
 * connections, at full speed or at a fixed rate.
 *
 * The messages are generated once into a pool (POOL_N, already framed) and then cycled, so
 * that the generator costs the machine as little CPU as possible: on a 2-core box it shares
 * the cores with the system under test. TCP writes carry many frames each (up to
 * WRITE_CHUNK bytes), UDP uses sendmmsg. --size pads every message (inside its text, or in
 * a "pad" member for JSON) to that many bytes before framing.
 *
 * It prints one JSON object on stdout: what was sent (messages, bytes, per kind), over how
 * long, and the send errors (UDP sends refused by the kernel are errors, not sent).
 *
 * usage: loadgen --port P [--host A] [--proto udp|tcp|octet|tls] [-n N] [-c K] [--rate R]
 *                [--format 5424|3164] [--size BYTES] [--seed S]
 *                [--ca PEM] [--cert PEM --key PEM] [--servername NAME]
 *
 * TLS: the handshakes of all K connections happen before the clock starts, so the time and
 * rate are those of the stream, not of connection setup. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "loadgen-mix.h"

#define WRITE_CHUNK (128 * 1024)
#define UDP_BATCH 64

enum proto { P_UDP, P_TCP, P_OCTET, P_TLS };

struct pool_msg {
        char *data;     /* framed */
        size_t len;
        enum kind kind;
};

static int pool_build(struct pool_msg *pool, enum proto proto, int fmt, size_t size,
                      unsigned seed) {
        static char msg[MSG_MAX + 64];
        for (size_t i = 0; i < POOL_N; i++) {
                enum kind k;
                int ml = (int)mix_message(&seed, fmt, size, msg, sizeof(msg), &k);
                char *f = malloc((size_t)ml + 32);
                if (!f)
                        return -ENOMEM;
                int fl = proto == P_OCTET || proto == P_TLS ? snprintf(f, (size_t)ml + 32, "%d %s", ml, msg)
                       : proto == P_TCP ? snprintf(f, (size_t)ml + 32, "%s\n", msg)
                       : snprintf(f, (size_t)ml + 32, "%s", msg);
                pool[i] = (struct pool_msg){ f, (size_t)fl, k };
        }
        return 0;
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

/* TLS: SSL_write in blocking mode without partial writes returns only when all n are
 * written (or on error). */
static int tls_write_all(SSL *ssl, const char *p, size_t n) {
        while (n > 0) {
                size_t w = 0;
                if (SSL_write_ex(ssl, p, n, &w) != 1)
                        return -EIO;
                p += w;
                n -= w;
        }
        return 0;
}

struct tls_opts {
        const char *ca, *cert, *key, *servername;
};

/* One client context: TLS 1.2 or later, the server verified against ca (its name checked
 * when servername is given), a client certificate when cert/key are. NULL on error. */
static SSL_CTX *tls_ctx(const struct tls_opts *o) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx)
                return NULL;
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        if (o->ca) {
                if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1)
                        goto fail;
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        }
        if (o->cert && (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
                        SSL_CTX_use_PrivateKey_file(ctx, o->key ? o->key : o->cert,
                                                    SSL_FILETYPE_PEM) != 1))
                goto fail;
        return ctx;
fail:
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(ctx);
        return NULL;
}

static SSL *tls_connect(SSL_CTX *ctx, int fd, const struct tls_opts *o) {
        SSL *ssl = SSL_new(ctx);
        if (!ssl)
                return NULL;
        SSL_set_fd(ssl, fd);
        if (o->servername) {
                SSL_set_tlsext_host_name(ssl, o->servername);
                if (o->ca)
                        SSL_set1_host(ssl, o->servername);
        }
        if (SSL_connect(ssl) != 1) {
                ERR_print_errors_fp(stderr);
                SSL_free(ssl);
                return NULL;
        }
        return ssl;
}

/* Messages allowed by now under --rate (or want when there is no rate). */
static uint64_t allowed(uint64_t sent, uint64_t want, double rate, double t0, size_t batch) {
        uint64_t left = want - sent;
        if (rate <= 0)
                return left < batch ? left : batch;
        for (;;) {
                double el = now_s() - t0;
                uint64_t due = (uint64_t)(el * rate);
                if (due > want)
                        due = want;
                if (due > sent) {
                        uint64_t a = due - sent;
                        return a < batch ? a : batch;
                }
                struct timespec ts = { 0, 200000 }; /* 0.2 ms */
                nanosleep(&ts, NULL);
        }
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' },
                { "proto", required_argument, NULL, 'P' }, { "count", required_argument, NULL, 'n' },
                { "conns", required_argument, NULL, 'c' }, { "rate", required_argument, NULL, 'r' },
                { "format", required_argument, NULL, 'f' }, { "size", required_argument, NULL, 's' },
                { "seed", required_argument, NULL, 'S' }, { "ca", required_argument, NULL, 'A' },
                { "cert", required_argument, NULL, 'C' }, { "key", required_argument, NULL, 'K' },
                { "servername", required_argument, NULL, 'N' }, { 0 },
        };
        const char *host = "127.0.0.1";
        int port = 0, fmt = 5424, conns = 1, c;
        enum proto proto = P_TCP;
        uint64_t n = 100000;
        double rate = 0;
        size_t size = 0;
        unsigned seed = MIX_SEED_DEFAULT;
        struct tls_opts to = { 0 };
        while ((c = getopt_long(argc, argv, "H:p:P:n:c:r:f:s:S:A:C:K:N:", opts, NULL)) != -1) {
                switch (c) {
                case 'H': host = optarg; break;
                case 'p': port = atoi(optarg); break;
                case 'P':
                        proto = !strcmp(optarg, "udp") ? P_UDP : !strcmp(optarg, "tcp") ? P_TCP
                              : !strcmp(optarg, "octet") ? P_OCTET
                              : !strcmp(optarg, "tls") ? P_TLS : (enum proto)-1;
                        break;
                case 'n': n = strtoull(optarg, NULL, 10); break;
                case 'c': conns = atoi(optarg); break;
                case 'r': rate = atof(optarg); break;
                case 'f': fmt = atoi(optarg); break;
                case 's': size = strtoull(optarg, NULL, 10); break;
                case 'S': seed = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'A': to.ca = optarg; break;
                case 'C': to.cert = optarg; break;
                case 'K': to.key = optarg; break;
                case 'N': to.servername = optarg; break;
                default: goto usage;
                }
        }
        if (port <= 0 || (int)proto < 0 || conns < 1 || conns > 1024 ||
            (fmt != 5424 && fmt != 3164) || size > MSG_MAX - 256) {
usage:
                fprintf(stderr, "usage: loadgen --port P [--host A] [--proto udp|tcp|octet|tls] "
                                "[-n N] [-c K] [--rate R] [--format 5424|3164] [--size BYTES] "
                                "[--seed S] [--ca PEM] [--cert PEM --key PEM] "
                                "[--servername NAME]\n");
                return 2;
        }
        struct pool_msg *pool = calloc(POOL_N, sizeof(*pool));
        if (!pool || pool_build(pool, proto, fmt, size, seed) < 0) {
                fprintf(stderr, "loadgen: out of memory\n");
                return 1;
        }
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
                fprintf(stderr, "loadgen: bad host %s (IPv4 only)\n", host);
                return 2;
        }
        int *fds = calloc((size_t)conns, sizeof(int));
        SSL **ssls = calloc((size_t)conns, sizeof(SSL *));
        SSL_CTX *ctx = NULL;
        if (proto == P_TLS && !(ctx = tls_ctx(&to))) {
                fprintf(stderr, "loadgen: TLS context (--ca/--cert/--key) failed\n");
                return 1;
        }
        for (int i = 0; i < conns; i++) {
                fds[i] = socket(AF_INET, proto == P_UDP ? SOCK_DGRAM : SOCK_STREAM, 0);
                if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                        fprintf(stderr, "loadgen: connect %s:%d: %s\n", host, port,
                                strerror(errno));
                        return 1;
                }
                if (proto == P_TLS && !(ssls[i] = tls_connect(ctx, fds[i], &to))) {
                        fprintf(stderr, "loadgen: TLS handshake with %s:%d failed\n", host,
                                port);
                        return 1;
                }
                if (proto == P_UDP) {
                        int sb = 4 << 20;
                        setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
                }
        }
        uint64_t sent = 0, bytes = 0, errors = 0, per_kind[K__MAX] = { 0 };
        size_t pi = 0;
        int ci = 0;
        char *chunk = malloc(WRITE_CHUNK + MSG_MAX + 64);
        double t0 = now_s();
        while (sent < n) {
                if (proto == P_UDP) {
                        struct mmsghdr mh[UDP_BATCH];
                        struct iovec iov[UDP_BATCH];
                        uint64_t a = allowed(sent, n, rate, t0, UDP_BATCH);
                        size_t first = pi;
                        for (uint64_t j = 0; j < a; j++) {
                                struct pool_msg *m = &pool[(first + j) % POOL_N];
                                iov[j] = (struct iovec){ m->data, m->len };
                                mh[j] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[j],
                                                                       .msg_iovlen = 1 } };
                        }
                        int k = sendmmsg(fds[ci], mh, (unsigned)a, 0);
                        if (k <= 0) {
                                /* ECONNREFUSED (nobody listens), ENOBUFS: not sent */
                                errors++;
                                if (errors > 1000000)
                                        break;
                                continue;
                        }
                        for (int j = 0; j < k; j++) {
                                per_kind[pool[(first + (size_t)j) % POOL_N].kind]++;
                                bytes += iov[j].iov_len;
                        }
                        sent += (uint64_t)k;
                        pi = (first + (size_t)k) % POOL_N;
                } else {
                        uint64_t a = allowed(sent, n, rate, t0, rate > 0 ? 4096 : 1u << 30);
                        size_t len = 0;
                        uint64_t m = 0;
                        while (m < a && len < WRITE_CHUNK) {
                                struct pool_msg *pm = &pool[pi];
                                memcpy(chunk + len, pm->data, pm->len);
                                len += pm->len;
                                per_kind[pm->kind]++;
                                pi = (pi + 1) % POOL_N;
                                m++;
                        }
                        int r = proto == P_TLS ? tls_write_all(ssls[ci], chunk, len)
                                               : write_all(fds[ci], chunk, len);
                        if (r < 0) {
                                fprintf(stderr, "loadgen: write: %s\n", strerror(-r));
                                errors++;
                                break;
                        }
                        sent += m;
                        bytes += len;
                }
                ci = (ci + 1) % conns;
        }
        double el = now_s() - t0;
        for (int i = 0; i < conns; i++) {
                if (ssls[i]) {
                        /* close_notify and our FIN, then read until the server closes (at
                         * most 10 s): closing with unread bytes (TLS 1.3 session tickets)
                         * would send a reset, and a reset can lose frames the server has
                         * not read yet */
                        SSL_shutdown(ssls[i]);
                        shutdown(fds[i], SHUT_WR);
                        struct timeval tv = { 10, 0 };
                        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                        char b[256];
                        while (SSL_read(ssls[i], b, sizeof(b)) > 0)
                                ;
                        SSL_free(ssls[i]);
                }
                if (proto != P_UDP)
                        shutdown(fds[i], SHUT_WR);
                close(fds[i]);
        }
        SSL_CTX_free(ctx);
        uint64_t ok = sent;
        printf("{\"sent\":%llu,\"errors\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"rate\":%.1f,"
               "\"proto\":\"%s\",\"format\":%d,\"conns\":%d,\"size\":%zu,\"kinds\":{",
               (unsigned long long)ok, (unsigned long long)errors, (unsigned long long)bytes, el,
               el > 0 ? (double)ok / el : 0.0,
               proto == P_UDP ? "udp" : proto == P_TCP ? "tcp" : proto == P_TLS ? "tls" : "octet",
               fmt, conns, size);
        for (int k = 0; k < K__MAX; k++)
                printf("%s\"%s\":%llu", k ? "," : "", kind_name[k],
                       (unsigned long long)per_kind[k]);
        printf("}}\n");
        free(ssls);
        free(fds);
        free(chunk);
        for (size_t i = 0; i < POOL_N; i++)
                free(pool[i].data);
        free(pool);
        return errors && !ok ? 1 : 0;
}
