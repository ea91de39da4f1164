/* Limits on librelp's sessions, from librelp's own debug lines (see relp-guard.h for why).
 *
 * Load: one entry per open RELP session (at most max_connections plus the few being torn
 * down); a sweep walks them every RELP_SWEEP_US, a new session is checked against the table
 * once. All on the engine's thread: no locks.
 *
 * What is enforced, each counted and logged once per session:
 *  - max_connections over all RELP listeners, max_per_peer per listener and address
 *    (DROP_CONN_LIMIT): checked as librelp adds the session's socket, right after its
 *    accept; the session is shut down before it can deliver anything.
 *  - handshake_timeout on TLS listeners (DROP_TLS_HANDSHAKE_TIMEOUT): the TLS handshake must
 *    finish in time ("Server handshake finished" line).
 *  - idle_timeout (DROP_IDLE_TIMEOUT): no byte received for that long (the kernel's
 *    tcpi_last_data_recv; librelp does not say which session a message came from, so this
 *    is per byte, not per complete message as on the TLS listener), counted from the end of
 *    the engine's last wait on the writer at the latest.
 *  - TLS sessions that librelp tears down during the handshake (no certificate, untrusted,
 *    name not allowed, not TLS at all) are counted as DROP_TLS_REFUSED. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <openssl/ssl.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/tm.h"
#include "ingest/relp-guard.h"
#include "ingest/syslog-net.h"

/* Timeouts are checked this often (the engine is woken for it): they fire up to this late. */
#define RELP_SWEEP_US (250 * 1000)
#define RELP_GUARD_GROW 64
/* Entries beyond max_connections: sessions shut down and not yet dropped by librelp (it
 * accepts at most 128 per turn of its loop, and drops them on the next). */
#define RELP_GUARD_SLACK 1024

/* librelp 1.11's debug lines the guard reads (relp.c, tcp.c). */
#define DBG_ADD "librelp: add socket %d to epoll set (ptr %p)\n"
#define DBG_DEL "librelp: delete sock %d from epoll set\n"
#define DBG_WAIT "librelp: doing epoll_wait\n"
#define DBG_HS_DONE "relpTcpRtryHandshake: Server handshake finished for ssl[%p]\n"

struct guard_sess {
        int fd;
        ino_t ino;                      /* the socket's identity, checked before shutdown */
        size_t lst;                     /* index of its listener */
        struct sockaddr_storage ss;
        char peer[INGEST_PEER_MAX];
        int64_t start_mono;
        bool handshaken;                /* TLS handshake finished (always true without TLS) */
        bool closing;                   /* shut down by us: librelp removes it next */
        bool refused;                   /* failed librelp's name check after the handshake */
};

struct relp_guard {
        const struct ingest_listen **ls;       /* the array is ours, the items borrowed */
        uint16_t *ports;
        size_t n_ls;
        size_t max_connections;
        struct drop_counters *drops;
        struct guard_sess *sess;
        size_t n_sess, cap_sess;
        int64_t last_sweep, stall_end;
        bool active;                    /* saw a listening socket registered */
        bool checked;                   /* the first wait came: active was logged if not */
        int hs_fd;                      /* handshake finished since the last wait; else -1 */
};

int relp_guard_new(const struct ingest_listen *const *ls, const uint16_t *ports, size_t n,
                   size_t max_connections, struct drop_counters *drops,
                   struct relp_guard **ret)
{
        struct relp_guard *g = calloc(1, sizeof(*g));

        if (!g || !(g->ports = calloc(n ? n : 1, sizeof(*g->ports))) ||
            !(g->ls = calloc(n ? n : 1, sizeof(*g->ls)))) {
                relp_guard_free(g);
                return -ENOMEM;
        }
        memcpy(g->ports, ports, n * sizeof(*ports));
        memcpy(g->ls, ls, n * sizeof(*ls));
        g->n_ls = n;
        g->max_connections = max_connections;
        g->drops = drops;
        g->hs_fd = -1;
        *ret = g;
        return 0;
}

void relp_guard_free(struct relp_guard *g)
{
        if (!g)
                return;
        free(g->sess);
        free(g->ports);
        free(g->ls);
        free(g);
}

bool relp_guard_is_active(const struct relp_guard *g)
{
        return g && g->active;
}

size_t relp_guard_sessions(const struct relp_guard *g)
{
        return g ? g->n_sess : 0;
}

void relp_guard_stalled(struct relp_guard *g, int64_t now_mono)
{
        if (g)
                g->stall_end = now_mono;
}

static const struct ingest_tls_options *sess_opts(const struct relp_guard *g,
                                                  const struct guard_sess *s)
{
        return &g->ls[s->lst]->tls_opt;
}

static uint16_t ss_port(const struct sockaddr_storage *ss)
{
        if (ss->ss_family == AF_INET)
                return ntohs(((const struct sockaddr_in *)ss)->sin_port);
        if (ss->ss_family == AF_INET6)
                return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
        return 0;
}

/* Shuts the session's socket down (librelp then reads end-of-stream and drops it). */
static void sess_close(struct relp_guard *g, struct guard_sess *s, enum drop_reason why,
                       const char *reason)
{
        struct stat st;

        s->closing = true;
        if (fstat(s->fd, &st) < 0 || st.st_ino != s->ino)
                return;  /* not the socket we knew: nothing of ours to close */
        shutdown(s->fd, SHUT_RDWR);
        drop_count(g->drops, why, 1);
        log_info("relp session closed", "listener=%s peer=%s reason=%s",
                 g->ls[s->lst]->addr, s->peer, reason);
}

static struct guard_sess *sess_find(struct relp_guard *g, int fd)
{
        for (size_t i = 0; i < g->n_sess; i++)
                if (g->sess[i].fd == fd)
                        return &g->sess[i];
        return NULL;
}

/* A socket joined librelp's epoll set: a listening socket at start, else a new session. */
static void guard_added(struct relp_guard *g, int fd)
{
        struct sockaddr_storage local = { 0 }, peer = { 0 };
        socklen_t ll = sizeof(local), pl = sizeof(peer);
        struct guard_sess *s;
        struct stat st;
        int listening = 0;
        socklen_t il = sizeof(listening);
        size_t lst, n_peer = 0, n_live = 0;

        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &il) == 0 && listening) {
                g->active = true;
                return;
        }
        if (getsockname(fd, (struct sockaddr *)&local, &ll) < 0 ||
            getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 || fstat(fd, &st) < 0)
                return;  /* already gone: librelp notices on its own */
        for (lst = 0; lst < g->n_ls && g->ports[lst] != ss_port(&local); lst++)
                ;
        if (lst == g->n_ls)
                return;  /* not one of our listeners (cannot happen: librelp has no other) */
        /* An entry with this fd is stale (librelp can only add a socket that is open now):
         * the new session takes it over. */
        s = sess_find(g, fd);
        if (!s && g->n_sess >= g->max_connections + RELP_GUARD_SLACK) {
                /* Sessions being torn down are gone within one turn of librelp's loop;
                 * this many means something else is wrong: refuse rather than grow. */
                shutdown(fd, SHUT_RDWR);
                drop_count(g->drops, DROP_CONN_LIMIT, 1);
                return;
        }
        if (!s && g->n_sess == g->cap_sess) {
                struct guard_sess *n = realloc(g->sess, (g->cap_sess + RELP_GUARD_GROW) *
                                                                sizeof(*n));
                if (!n) {
                        /* Cannot track it: refuse it rather than let it go unlimited. */
                        shutdown(fd, SHUT_RDWR);
                        drop_count(g->drops, DROP_OUT_OF_MEMORY, 1);
                        return;
                }
                g->sess = n;
                g->cap_sess += RELP_GUARD_GROW;
        }
        if (!s)
                s = &g->sess[g->n_sess++];
        *s = (struct guard_sess){ .fd = fd, .ino = st.st_ino, .lst = lst, .ss = peer,
                                  .start_mono = tm_mono_us(),
                                  /* A handshake can finish inside librelp's accept,
                                   * before the socket joins its set. */
                                  .handshaken = !g->ls[lst]->tls || fd == g->hs_fd };
        syslog_format_peer(&peer, s->peer, sizeof(s->peer));
        for (size_t i = 0; i < g->n_sess; i++) {
                const struct guard_sess *o = &g->sess[i];

                if (o == s || o->closing)
                        continue;
                n_live++;
                if (o->lst == lst && ingest_same_ip(&o->ss, &peer))
                        n_peer++;
        }
        size_t max_peer = sess_opts(g, s)->max_per_peer ? sess_opts(g, s)->max_per_peer
                                                        : INGEST_TLS_MAX_PER_PEER_DEFAULT;
        if (n_live >= g->max_connections)
                sess_close(g, s, DROP_CONN_LIMIT, "conn_limit");
        else if (n_peer >= max_peer)
                sess_close(g, s, DROP_CONN_LIMIT, "per_peer_limit");
}

static void guard_deleted(struct relp_guard *g, int fd)
{
        struct guard_sess *s = sess_find(g, fd);

        if (!s)
                return;
        if ((!s->handshaken || s->refused) && !s->closing) {
                /* librelp ended a TLS session before its handshake finished: refused
                 * (no certificate, untrusted, name not allowed) or not TLS at all. */
                drop_count(g->drops, DROP_TLS_REFUSED, 1);
                log_info("relp session closed", "listener=%s peer=%s reason=tls_refused",
                         g->ls[s->lst]->addr, s->peer);
        }
        *s = g->sess[--g->n_sess];
}

static void guard_handshaken(struct relp_guard *g, SSL *ssl)
{
        int fd = ssl ? SSL_get_fd(ssl) : -1;
        struct guard_sess *s = fd >= 0 ? sess_find(g, fd) : NULL;

        g->hs_fd = fd;
        if (s)
                s->handshaken = true;
}

void relp_guard_auth_failed(struct relp_guard *g)
{
        struct guard_sess *s = g && g->hs_fd >= 0 ? sess_find(g, g->hs_fd) : NULL;

        /* During the handshake (untrusted, no certificate) the session is not handshaken
         * yet and counts when librelp drops it; after it, only the name check is left. */
        if (s) {
                s->refused = true;
        } else if (g && g->hs_fd >= 0) {
                /* Refused inside librelp's accept: the session never joined its set. */
                drop_count(g->drops, DROP_TLS_REFUSED, 1);
                log_info("relp session closed", "reason=tls_refused fd=%d", g->hs_fd);
        }
}

/* Milliseconds since the kernel last received data on fd; -1 if unknown. */
static int64_t last_recv_ms(int fd)
{
        struct tcp_info ti;
        socklen_t l = sizeof(ti);

        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
                return -1;
        return ti.tcpi_last_data_recv;
}

static void guard_sweep(struct relp_guard *g)
{
        int64_t now = tm_mono_us();

        if (!g->checked) {
                /* librelp registers its listening sockets before its first wait. */
                g->checked = true;
                if (!g->active)
                        log_warn("relp limits are not enforced",
                                 "reason=\"this librelp does not print the debug lines they "
                                 "rely on (librelp 1.11 does)\"");
        }
        if (now - g->last_sweep < RELP_SWEEP_US)
                return;
        g->last_sweep = now;
        for (size_t i = 0; i < g->n_sess; i++) {
                struct guard_sess *s = &g->sess[i];
                const struct ingest_tls_options *o = sess_opts(g, s);

                if (s->closing)
                        continue;
                if (!s->handshaken) {
                        int64_t max = o->handshake_timeout_us ? o->handshake_timeout_us
                                                              : INGEST_TLS_HANDSHAKE_TIMEOUT_US;
                        if (now - s->start_mono > max)
                                sess_close(g, s, DROP_TLS_HANDSHAKE_TIMEOUT,
                                           "handshake_timeout");
                        continue;
                }
                int64_t idle = o->idle_timeout_us ? o->idle_timeout_us
                                                  : INGEST_TLS_IDLE_TIMEOUT_US;
                int64_t ms = last_recv_ms(s->fd);
                /* The quiet time counts from the session's start, from our last wait on
                 * the writer, or from the last byte, whichever is latest. */
                int64_t since = now - s->start_mono;

                if (now - g->stall_end < since)
                        since = now - g->stall_end;
                if (ms >= 0 && ms * 1000 < since)
                        since = ms * 1000;
                if (since > idle)
                        sess_close(g, s, DROP_IDLE_TIMEOUT, "idle_timeout");
        }
}

bool relp_guard_dbg(struct relp_guard *g, const char *fmt, va_list ap)
{
        /* Most lines start otherwise: one byte decides before any strcmp. */
        if (!g || (fmt[0] != 'l' && fmt[0] != 'r'))
                return false;
        if (!strcmp(fmt, DBG_WAIT)) {
                g->hs_fd = -1;
                guard_sweep(g);
        } else if (!strcmp(fmt, DBG_ADD)) {
                guard_added(g, va_arg(ap, int));
        } else if (!strcmp(fmt, DBG_DEL)) {
                guard_deleted(g, va_arg(ap, int));
        } else if (!strcmp(fmt, DBG_HS_DONE)) {
                guard_handshaken(g, va_arg(ap, SSL *));
        } else {
                return false;
        }
        return true;
}
