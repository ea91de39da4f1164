/* The RELP session guard (ingest/relp-guard.c) with real sockets and without librelp: the
 * test accepts real TCP connections from several 127.0.0.x addresses and feeds the guard
 * the lines librelp 1.11 prints for them (socket added, handshake finished, socket deleted,
 * about to wait), then checks what the peers see (end of stream when refused) and what is
 * counted. Timeouts are waited for, never measured. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "core/event.h"
#include "ingest/relp-guard.h"

#define DBG_ADD "librelp: add socket %d to epoll set (ptr %p)\n"
#define DBG_DEL "librelp: delete sock %d from epoll set\n"
#define DBG_WAIT "librelp: doing epoll_wait\n"
#define DBG_HS_DONE "relpTcpRtryHandshake: Server handshake finished for ssl[%p]\n"

struct rig {
        int lfd;
        uint16_t port;
        struct ingest_listen cfg;
        struct drop_counters drops;
        struct relp_guard *g;
};

static bool feed(struct relp_guard *g, const char *fmt, ...)
{
        va_list ap;
        bool used;

        va_start(ap, fmt);
        used = relp_guard_dbg(g, fmt, ap);
        va_end(ap);
        return used;
}

static void rig_start(struct rig *r, bool tls, size_t max_conns, size_t per_peer,
                      int64_t hs_us, int64_t idle_us)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
        socklen_t al = sizeof(a);
        const struct ingest_listen *ls[1] = { &r->cfg };

        memset(r, 0, sizeof(*r));
        r->lfd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(r->lfd >= 0);
        assert_int_equal(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(r->lfd, 64), 0);
        assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&a, &al), 0);
        r->port = ntohs(a.sin_port);
        r->cfg = (struct ingest_listen){ .transport = INGEST_RELP, .addr = "127.0.0.1:x",
                                         .tls = tls };
        r->cfg.tls_opt.max_per_peer = per_peer;
        r->cfg.tls_opt.handshake_timeout_us = hs_us;
        r->cfg.tls_opt.idle_timeout_us = idle_us;
        assert_int_equal(relp_guard_new(ls, &r->port, 1, max_conns, &r->drops, &r->g), 0);
        assert_true(feed(r->g, DBG_ADD, r->lfd, (void *)r));
        assert_true(feed(r->g, DBG_WAIT));
        assert_true(relp_guard_is_active(r->g));
}

static void rig_stop(struct rig *r)
{
        relp_guard_free(r->g);
        close(r->lfd);
}

/* A connection from src: returns the client's socket, *ret_srv the accepted one. */
static int connect_from(struct rig *r, const char *src, int *ret_srv)
{
        struct sockaddr_in from = { .sin_family = AF_INET };
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(r->port),
                                  .sin_addr.s_addr = htonl(0x7f000001) };
        int c = socket(AF_INET, SOCK_STREAM, 0);

        assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
        assert_int_equal(bind(c, (struct sockaddr *)&from, sizeof(from)), 0);
        assert_int_equal(connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
        *ret_srv = accept(r->lfd, NULL, NULL);
        assert_true(*ret_srv >= 0);
        return c;
}

/* Did the server side shut the connection down (the client reads end of stream)? */
static bool is_shut(int c)
{
        char b;
        struct timeval tv = { 0, 1000 };

        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return recv(c, &b, 1, 0) == 0;
}

static void test_limits_per_peer_and_global(void **state)
{
        struct rig r;
        int c[6], s[6];
        const char *src[6] = { "127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3",
                               "127.0.0.4", "127.0.0.5" };
        /* per peer 2, all together 4 */
        bool refused[6] = { false, false, true, false, false, true };

        rig_start(&r, false, 4, 2, 0, 0);
        for (int i = 0; i < 6; i++) {
                c[i] = connect_from(&r, src[i], &s[i]);
                assert_true(feed(r.g, DBG_ADD, s[i], (void *)&r));
        }
        for (int i = 0; i < 6; i++) {
                if (is_shut(c[i]) != refused[i])
                        fail_msg("connection %d from %s: expected refused=%d", i, src[i], refused[i]);
        }
        assert_int_equal(r.drops.n[DROP_CONN_LIMIT], 2);
        /* librelp drops the refused ones; a slot frees when a session ends. */
        assert_true(feed(r.g, DBG_DEL, s[2]));
        assert_true(feed(r.g, DBG_DEL, s[5]));
        assert_true(feed(r.g, DBG_DEL, s[0]));
        assert_int_equal(relp_guard_sessions(r.g), 3);
        int c2, s2;

        c2 = connect_from(&r, "127.0.0.2", &s2);
        assert_true(feed(r.g, DBG_ADD, s2, (void *)&r));
        assert_false(is_shut(c2));
        assert_int_equal(r.drops.n[DROP_CONN_LIMIT], 2);
        /* A line seen for an fd the table still holds (its deletion line was missed):
         * the new session takes the entry over, nothing is counted twice. */
        assert_true(feed(r.g, DBG_ADD, s2, (void *)&r));
        assert_int_equal(relp_guard_sessions(r.g), 4);
        assert_int_equal(r.drops.n[DROP_CONN_LIMIT], 2);
        for (int i = 0; i < 6; i++) {
                close(c[i]);
                close(s[i]);
        }
        close(c2);
        close(s2);
        rig_stop(&r);
}

static void test_tls_refusals_and_handshake(void **state)
{
        struct rig r;
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        int c[4], s[4];
        SSL *ssl[4];

        assert_non_null(ctx);
        rig_start(&r, true, 100, 10, 0, 0);
        for (int i = 0; i < 4; i++) {
                c[i] = connect_from(&r, "127.0.0.2", &s[i]);
                ssl[i] = SSL_new(ctx);
                assert_int_equal(SSL_set_fd(ssl[i], s[i]), 1);
        }
        /* 0: handshake finished inside librelp's accept, before its socket joined the set:
         * accepted, then ends normally. */
        assert_true(feed(r.g, DBG_HS_DONE, (void *)ssl[0]));
        assert_true(feed(r.g, DBG_ADD, s[0], (void *)&r));
        assert_true(feed(r.g, DBG_WAIT));
        /* 1: dropped by librelp during its handshake (untrusted, no certificate). */
        assert_true(feed(r.g, DBG_ADD, s[1], (void *)&r));
        assert_true(feed(r.g, DBG_WAIT));
        assert_true(feed(r.g, DBG_DEL, s[1]));
        assert_int_equal(r.drops.n[DROP_TLS_REFUSED], 1);
        /* 2: handshake finished, then the name check failed (the auth-error callback). */
        assert_true(feed(r.g, DBG_ADD, s[2], (void *)&r));
        assert_true(feed(r.g, DBG_WAIT));
        assert_true(feed(r.g, DBG_HS_DONE, (void *)ssl[2]));
        relp_guard_auth_failed(r.g);
        assert_true(feed(r.g, DBG_DEL, s[2]));
        assert_int_equal(r.drops.n[DROP_TLS_REFUSED], 2);
        /* An auth error with no handshake just finished belongs to no known session. */
        assert_true(feed(r.g, DBG_WAIT));
        relp_guard_auth_failed(r.g);
        assert_int_equal(r.drops.n[DROP_TLS_REFUSED], 2);
        /* 3: refused inside librelp's accept: never joins the set, counted at once. */
        assert_true(feed(r.g, DBG_HS_DONE, (void *)ssl[3]));
        relp_guard_auth_failed(r.g);
        assert_int_equal(r.drops.n[DROP_TLS_REFUSED], 3);
        assert_true(feed(r.g, DBG_DEL, s[0]));
        assert_int_equal(r.drops.n[DROP_TLS_REFUSED], 3);
        assert_int_equal(relp_guard_sessions(r.g), 0);
        for (int i = 0; i < 4; i++) {
                SSL_free(ssl[i]);
                close(c[i]);
                close(s[i]);
        }
        SSL_CTX_free(ctx);
        rig_stop(&r);
}

/* Feeds "about to wait" lines until the client sees end of stream (or ~20 s pass). */
static bool wait_shut(struct rig *r, int c)
{
        for (int i = 0; i < 2000; i++) {
                feed(r->g, DBG_WAIT);
                if (is_shut(c))
                        return true;
                usleep(10 * 1000);
        }
        return false;
}

static void test_timeouts(void **state)
{
        struct rig r;
        int c[2], s[2];

        /* TLS: a handshake that never finishes; then an idle session. */
        rig_start(&r, true, 100, 10, 200 * 1000, 300 * 1000);
        c[0] = connect_from(&r, "127.0.0.2", &s[0]);
        assert_true(feed(r.g, DBG_ADD, s[0], (void *)&r));
        assert_true(wait_shut(&r, c[0]));
        assert_int_equal(r.drops.n[DROP_TLS_HANDSHAKE_TIMEOUT], 1);
        assert_int_equal(r.drops.n[DROP_IDLE_TIMEOUT], 0);

        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        SSL *ssl = SSL_new(ctx);

        c[1] = connect_from(&r, "127.0.0.3", &s[1]);
        assert_int_equal(SSL_set_fd(ssl, s[1]), 1);
        assert_true(feed(r.g, DBG_HS_DONE, (void *)ssl));
        assert_true(feed(r.g, DBG_ADD, s[1], (void *)&r));
        assert_true(wait_shut(&r, c[1]));
        assert_int_equal(r.drops.n[DROP_IDLE_TIMEOUT], 1);
        assert_int_equal(r.drops.n[DROP_TLS_HANDSHAKE_TIMEOUT], 1);
        /* librelp tears both down: nothing more is counted. */
        assert_true(feed(r.g, DBG_DEL, s[0]));
        assert_true(feed(r.g, DBG_DEL, s[1]));
        assert_int_equal(r.drops.n[DROP_TLS_REFUSED], 0);
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        for (int i = 0; i < 2; i++) {
                close(c[i]);
                close(s[i]);
        }
        rig_stop(&r);
}

static void test_other_lines_ignored(void **state)
{
        struct rig r;

        rig_start(&r, false, 10, 10, 0, 0);
        assert_false(feed(r.g, "relp session read %d octets, buf '%s'\n", 3, "abc"));
        assert_false(feed(r.g, "librelp: done epoll_wait, nEvents:%d\n", 1));
        assert_false(feed(r.g, "new connect on RELP socket #%d\n", r.lfd));
        assert_int_equal(relp_guard_sessions(r.g), 0);
        rig_stop(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_limits_per_peer_and_global),
                cmocka_unit_test(test_tls_refusals_and_handshake),
                cmocka_unit_test(test_timeouts),
                cmocka_unit_test(test_other_lines_ignored),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
