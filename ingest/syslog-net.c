/* The syslog collector: UDP, TCP and unix datagram listeners in the daemon's event loop.
 *
 * Load: tens of thousands of messages per second from a few relays, or many small senders
 * (up to max_connections TCP connections at once). Each message becomes one event (a gate
 * record from normalize_syslog plus its receipt time) pushed onto the writer's queue.
 *
 * Guarantees:
 *  - Memory is bounded: a datagram is at most max_message bytes, a TCP connection holds one
 *    framer (max_message bytes), at most one built event and at most one read's unconsumed
 *    bytes (INGEST_READ_CHUNK) while the queue is full.
 *  - Nothing is lost silently: datagrams that meet a full queue are dropped and counted
 *    (DROP_QUEUE_FULL), the kernel's own drops on our sockets are counted from SO_MEMINFO
 *    (DROP_KERNEL_OVERFLOW), connections over the limit are refused and counted
 *    (DROP_CONN_LIMIT). TCP is never dropped: on a full queue every TCP connection stops
 *    being read (the kernel's window then pushes back on the senders) until the queue's
 *    space fd fires; the event that met the full queue is kept and pushed first, so order is
 *    kept per connection.
 *  - A wakeup does bounded work (INGEST_DGRAM_BATCH datagrams per socket, INGEST_CONN_BUDGET
 *    bytes per connection, INGEST_ACCEPT_BATCH accepts): level-triggered epoll brings us back
 *    for the rest, so one busy sender cannot starve the others.
 * A partial octet-counted frame left when the peer closes is discarded (its sender knows it
 * did not finish); one left at daemon exit is counted as DROP_SHUTDOWN by the drain.
 *
 * TLS listeners (RFC 5425, issue 8) are TCP connections with an SSL in front of the framer
 * (ingest/syslog-tls.c): the handshake runs non-blocking in this loop; a client that is
 * refused (no certificate, untrusted, name not allowed) is closed before any byte reaches
 * the framer. Limits, all counted and logged: connections per peer address (refused as
 * DROP_CONN_LIMIT, like the global limit), the handshake timeout, the idle timeout (no
 * complete message for that long: slow-loris senders lose their slot), and the frame size:
 * a frame over max_message is stored truncated and flagged, then the connection is closed.
 * RELP listeners are librelp's (ingest/relp.c, its own thread). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>

#include <linux/sock_diag.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/metrics.h"  /* ops (issue 9) */
#include "core/recycle.h"
#include "core/tm.h"
#include "ingest/syslog-net.h"
#include "ingest/syslog-tls.h"

#define INGEST_READ_CHUNK (64u * 1024)
#define INGEST_CONN_BUDGET (256u * 1024)
#define INGEST_DGRAM_BATCH 64
/* At shutdown, datagrams already queued in the kernel are read for at most this long or
 * this many (a 4 MiB receive buffer holds about 30,000 small datagrams). */
#define INGEST_DRAIN_DGRAM_US (2 * 1000 * 1000)
#define INGEST_DRAIN_DGRAM_MAX 200000
#define INGEST_ACCEPT_BATCH 64
/* TLS timeouts are checked by a sweep this often: a timeout fires up to this late. */
#define INGEST_TLS_SWEEP_US (250 * 1000)
/* Recycled blocks (performance, issue 12: the loop thread allocates every event and record,
 * the writer's threads free them; see core/recycle.h). Records come in two block sizes
 * (a record of a message up to ~450 bytes fits the small one, up to ~3 KiB the large one;
 * longer ones are malloc'd). Idle blocks kept: as many as the default queue holds
 * (queue.max_events 8,192; its byte budget, 24 MiB, bounds what is in flight, and so what
 * can come back idle, to about as much); fewer would free blocks after every burst only
 * to malloc them again. */
#define INGEST_REC_SMALL 3072u
#define INGEST_REC_LARGE 8192u
#define INGEST_REC_SMALL_KEEP 8192u
#define INGEST_REC_LARGE_KEEP 1024u
#define INGEST_EVENT_KEEP 8192u

struct conn {
        struct ingest_syslog *s;
        struct listener *l;
        struct conn *prev, *next;
        int fd;
        SSL *ssl;               /* TLS listeners */
        bool handshaking;       /* TLS: no byte reaches the framer before the handshake */
        bool want_write;        /* TLS: the next step needs EPOLLOUT */
        bool oversize;          /* TLS: a frame over max_message came; close after it */
        json *tls_id;           /* TLS: source.tls of every record of this connection */
        struct sockaddr_storage ss;
        int64_t start_mono;     /* accept time (handshake timeout) */
        int64_t last_mono;      /* last complete frame or handshake end (idle timeout) */
        bool registered;        /* in the loop (false while paused) */
        bool eof;               /* peer closed or reset */
        bool finished;          /* framer_finish done after eof */
        struct syslog_framer *framer;
        char peer[INGEST_PEER_MAX];
        int64_t read_us;        /* receipt time of the bytes being framed */
        struct event *pending;  /* built, met a full queue */
        char *rest;             /* unconsumed bytes of the read that met a full queue */
        size_t rest_off, rest_len;
};

struct ingest_syslog {
        struct loop *loop;
        struct queue *q;
        struct drop_counters *drops;
        size_t max_message, max_connections;
        enum norm_format format;
        struct listener *ls;
        size_t n_ls;
        struct conn *conns;
        size_t n_conns;
        bool paused;            /* TCP reading stopped; waiting on the queue's space fd */
        char *rbuf;
        size_t rbuf_len;
        int sweep_timer;        /* TLS timeouts; -1 without TLS listeners */
        struct relp_server *relp;
        struct recycle *rec_rc[2]; /* record blocks, small then large */
        struct recycle *ev_rc;     /* struct event blocks */
};

#define transport_name ingest_transport_name

const char *ingest_transport_name(enum ingest_transport t)
{
        static const char *const names[] = {
                [INGEST_UDP] = "udp", [INGEST_TCP] = "tcp", [INGEST_UNIX] = "unix",
                [INGEST_TLS] = "tls", [INGEST_RELP] = "relp",
        };
        return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

static int ingest_push(struct ingest_syslog *s, const char *msg, size_t len, bool truncated,
                       struct listener *l, const char *peer, const json *tls_id,
                       int64_t received_us, struct event **ret_held)
{
        const char *transport = transport_name(l->transport);
        struct norm_source src = { .kind = "syslog", .transport = transport, .peer = peer };
        struct event *e;
        json *rec = NULL;
        int r;

        /* ops (issue 9); the counter is looked up once per listener (issue 12). */
        if (!l->received)
                l->received = metrics_received_counter("syslog", transport);
        metric_add(l->received, 1);
        r = normalize_syslog_recycled(s->rec_rc, 2, msg, len, truncated, &src, received_us,
                                      s->format, &rec);
        /* The verified sender goes into the record: evidence of who sent it. */
        if (r >= 0 && tls_id && json_path_set(rec, "source.tls", json_clone(tls_id)) < 0) {
                json_free(rec);
                r = -ENOMEM;
        }
        e = r < 0 ? NULL : event_new_recycled(s->ev_rc, rec, received_us);
        if (!e) {
                drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
                return 0;
        }
        r = queue_push(s->q, e);
        if (r == -EAGAIN) {
                *ret_held = e;
                return -EAGAIN;
        }
        if (r < 0) {
                /* The queue was closed: we are shutting down. */
                event_free(e);
                drop_count(s->drops, DROP_SHUTDOWN, 1);
        }
        return 0;
}

/* ---- datagrams (UDP, unix) ---- */

/* Counts the datagrams the kernel dropped on this socket since the last look, from its
 * cumulative drop counter (SO_MEMINFO, SK_MEMINFO_DROPS; Linux 4.12). SO_RXQ_OVFL would
 * only report drops with a later datagram, so drops at the end of a burst would go
 * uncounted; reading the counter after the socket is read dry misses nothing. */
static void dgram_count_overflow(struct listener *l)
{
        uint32_t mem[SK_MEMINFO_VARS] = { 0 };
        socklen_t len = sizeof(mem);

        if (getsockopt(l->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0 ||
            len <= SK_MEMINFO_DROPS * sizeof(uint32_t))
                return;
        /* Unsigned arithmetic: the kernel's counter wraps. */
        uint32_t delta = mem[SK_MEMINFO_DROPS] - l->ovfl;
        l->ovfl = mem[SK_MEMINFO_DROPS];
        if (delta)
                drop_count(l->s->drops, DROP_KERNEL_OVERFLOW, delta);
}

static int drain_wait_space(struct ingest_syslog *s, int64_t deadline);

/* Reads and pushes one datagram. Returns 1 when one was read, 0 when none is waiting.
 * deadline 0: a full queue drops it (counted); otherwise (at shutdown) we wait for space
 * until the deadline (monotonic), since the writer is still storing. */
static int dgram_read_one(struct listener *l, int64_t deadline)
{
        struct ingest_syslog *s = l->s;
        struct sockaddr_storage ss = { 0 };
        struct iovec iov = { .iov_base = s->rbuf, .iov_len = s->max_message };
        struct msghdr mh = {
                .msg_name = &ss, .msg_namelen = sizeof(ss), .msg_iov = &iov,
                .msg_iovlen = 1,
        };
        char peer[INGEST_PEER_MAX];
        struct event *held = NULL;
        ssize_t n;

        do
                n = recvmsg(l->fd, &mh, MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                /* Read dry (EAGAIN, or an error with nothing to read): every drop the kernel
                 * made so far is in its counter now. */
                dgram_count_overflow(l);
                return 0;
        }
        if (l->transport == INGEST_UDP)
                syslog_format_peer(&ss, peer, sizeof(peer));
        if (ingest_push(s, s->rbuf, (size_t)n, (mh.msg_flags & MSG_TRUNC) != 0, l,
                        l->transport == INGEST_UDP ? peer : l->path, NULL, tm_now_us(),
                        &held) == -EAGAIN) {
                while (deadline > 0 && held && drain_wait_space(s, deadline) == 0)
                        if (queue_push(s->q, held) != -EAGAIN)
                                held = NULL;
                if (held) {
                        event_free(held);
                        drop_count(s->drops, DROP_QUEUE_FULL, 1);
                }
        }
        return 1;
}

static int dgram_cb(struct loop *loop, int fd, uint32_t events, void *ud)
{
        /* Bounded work per wakeup, so that one flooded socket cannot starve the others. */
        int i;
        for (i = 0; i < INGEST_DGRAM_BATCH; i++)
                if (dgram_read_one(ud, 0) == 0)
                        break;
        if (i == INGEST_DGRAM_BATCH)
                dgram_count_overflow(ud);
        return 0;
}

/* ---- TCP connections ---- */

static int conn_frame_cb(void *ud, const char *msg, size_t len, bool truncated)
{
        struct conn *c = ud;
        int r;

        r = ingest_push(c->s, msg, len, truncated, c->l, c->peer, c->tls_id, c->read_us,
                        &c->pending);
        c->last_mono = tm_mono_us();
        if (c->ssl && truncated) {
                /* Stored truncated and flagged; the peer broke the frame limit: stop here
                 * (feed_some stops right after this frame). */
                c->oversize = true;
                return r < 0 ? r : -E2BIG;
        }
        return r;
}

/* read(2) or, on TLS connections, SSL_read with the same contract. */
static ssize_t conn_read(struct conn *c, void *buf, size_t n)
{
        bool want_write;
        ssize_t r;

        if (!c->ssl)
                return read(c->fd, buf, n);
        r = tls_conn_read(c->ssl, buf, n, &want_write);
        if (want_write != c->want_write && c->registered) {
                c->want_write = want_write;
                loop_mod(c->s->loop, c->fd, want_write ? EPOLLIN | EPOLLOUT : EPOLLIN);
        }
        return r;
}

static int conn_cb(struct loop *loop, int fd, uint32_t events, void *ud);

static void conn_close(struct conn *c)
{
        struct ingest_syslog *s = c->s;

        if (c->registered)
                loop_del(s->loop, c->fd);
        tls_conn_free(c->ssl);
        json_free(c->tls_id);
        close(c->fd);
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_conns--;
        event_free(c->pending);
        free(c->rest);
        syslog_framer_free(c->framer);
        free(c);
}

/* Keeps p[0..n) for later (it is part of the shared read buffer). */
static int conn_keep_rest(struct conn *c, const char *p, size_t n)
{
        free(c->rest);
        c->rest = NULL;
        c->rest_off = c->rest_len = 0;
        if (n == 0)
                return 0;
        c->rest = malloc(n);
        if (!c->rest)
                return -ENOMEM;
        memcpy(c->rest, p, n);
        c->rest_len = n;
        return 0;
}

/* Pushes what the connection holds back: the pending event, the kept bytes, and the last
 * frame after end of stream. Returns 0 when everything went, -EAGAIN when the queue filled
 * again (state kept for the next try). */
static int conn_flush(struct conn *c)
{
        int r;

        if (c->pending) {
                r = queue_push(c->s->q, c->pending);
                if (r == -EAGAIN)
                        return r;
                if (r < 0) {
                        event_free(c->pending);
                        drop_count(c->s->drops, DROP_SHUTDOWN, 1);
                }
                c->pending = NULL;
        }
        while (c->rest_len > 0) {
                size_t used;

                r = syslog_framer_feed_some(c->framer, c->rest + c->rest_off, c->rest_len,
                                            conn_frame_cb, c, &used);
                c->rest_off += used;
                c->rest_len -= used;
                if (r == -EAGAIN)
                        return r;
        }
        free(c->rest);
        c->rest = NULL;
        c->rest_off = 0;
        if (c->eof && !c->finished) {
                c->finished = true;
                if (syslog_framer_finish(c->framer, conn_frame_cb, c) == -EAGAIN)
                        return -EAGAIN;
        }
        return 0;
}

static int space_cb(struct loop *loop, int fd, uint32_t events, void *ud);

/* The queue is full: stop reading every TCP connection until space comes back. */
static int ingest_pause(struct ingest_syslog *s)
{
        if (s->paused)
                return 0;
        for (struct conn *c = s->conns; c; c = c->next)
                if (c->registered && !c->handshaking) {
                        loop_del(s->loop, c->fd);
                        c->registered = false;
                }
        s->paused = true;
        return loop_add(s->loop, queue_space_fd(s->q), EPOLLIN, space_cb, s);
}

static int ingest_resume(struct ingest_syslog *s)
{
        int r;

        loop_del(s->loop, queue_space_fd(s->q));
        s->paused = false;
        for (struct conn *c = s->conns; c; c = c->next) {
                if (c->registered)
                        continue;  /* a handshake, never paused */
                r = loop_add(s->loop, c->fd, c->want_write ? EPOLLIN | EPOLLOUT : EPOLLIN,
                             conn_cb, c);
                if (r < 0)
                        return r;
                c->registered = true;
        }
        return 0;
}

static int space_cb(struct loop *loop, int fd, uint32_t events, void *ud)
{
        struct ingest_syslog *s = ud;
        struct conn *next;

        queue_ack_space(s->q);
        for (struct conn *c = s->conns; c; c = next) {
                next = c->next;
                if (conn_flush(c) == -EAGAIN)
                        return 0;  /* still full: the space fd fires again */
                if (c->eof)
                        conn_close(c);
        }
        return ingest_resume(s);
}

/* A refused or misbehaving TLS client: logged once, counted, closed. */
static void conn_refuse(struct conn *c, const char *what, const char *why)
{
        enum drop_reason r = !strcmp(what, "handshake_timeout") ? DROP_TLS_HANDSHAKE_TIMEOUT
                             : !strcmp(what, "idle_timeout")    ? DROP_IDLE_TIMEOUT
                                                                : DROP_TLS_REFUSED;
        drop_count(c->s->drops, r, 1);
        log_info("tls connection closed", "listener=%s peer=%s reason=%s detail=\"%s\"",
                 c->l->cfg ? c->l->cfg->addr : "?", c->peer, what, why ? why : "");
        conn_close(c);
}

/* Advances a TLS handshake; on success checks the client and keeps its identity.
 * Returns 1 when the connection may read, 0 when it waits (or was closed). */
static int conn_handshake(struct conn *c)
{
        char why[512] = "";

        enum tls_step st = tls_conn_handshake(c->ssl, why, sizeof(why));

        switch (st) {
        case TLS_WANT_READ:
        case TLS_WANT_WRITE:
                if ((st == TLS_WANT_WRITE) != c->want_write) {
                        c->want_write = st == TLS_WANT_WRITE;
                        loop_mod(c->s->loop, c->fd,
                                 c->want_write ? EPOLLIN | EPOLLOUT : EPOLLIN);
                }
                return 0;
        case TLS_FAILED:
                conn_refuse(c, "handshake_failed", why);
                return 0;
        case TLS_DONE:
                break;
        }
        int r = tls_conn_identity(c->l->tls, c->ssl, &c->tls_id, why, sizeof(why));
        if (r < 0) {
                conn_refuse(c, r == -EACCES ? "client_refused" : "out_of_memory", why);
                return 0;
        }
        c->handshaking = false;
        c->last_mono = tm_mono_us();
        log_debug("tls client accepted", "listener=%s peer=%s", c->l->cfg->addr, c->peer);
        return 1;
}

/* Reads at most INGEST_CONN_BUDGET bytes and frames them. */
static int conn_cb(struct loop *loop, int fd, uint32_t events, void *ud)
{
        struct conn *c = ud;
        struct ingest_syslog *s = c->s;
        size_t total = 0;

        /* A handshake yields no record: it goes on even while the queue is full. */
        if (c->handshaking && conn_handshake(c) <= 0)
                return 0;
        /* Held-back bytes must go before new ones: never read while paused. */
        if (s->paused || c->pending || c->rest_len > 0) {
                loop_del(loop, fd);
                c->registered = false;
                return s->paused ? 0 : ingest_pause(s);
        }
        while ((total < INGEST_CONN_BUDGET || (c->ssl && tls_conn_pending(c->ssl))) &&
               !c->eof) {
                ssize_t n = conn_read(c, s->rbuf, INGEST_READ_CHUNK);
                size_t used;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n <= 0) {
                        c->eof = true;  /* closed, or reset: what arrived still counts */
                        break;
                }
                total += (size_t)n;
                c->read_us = tm_now_us();
                int fr = syslog_framer_feed_some(c->framer, s->rbuf, (size_t)n,
                                                 conn_frame_cb, c, &used);
                if (c->oversize) {
                        /* What followed the oversize frame is not read: the connection
                         * ends after it, as if the peer had reset. */
                        c->eof = c->finished = true;
                        drop_count(s->drops, DROP_FRAME_TOO_LARGE, 1);
                        log_info("tls connection closed",
                                 "listener=%s peer=%s reason=frame_too_large max=%zu",
                                 c->l->cfg->addr, c->peer, s->max_message);
                        if (fr == -EAGAIN)
                                return ingest_pause(s);
                        break;
                }
                if (fr == -EAGAIN) {
                        if (conn_keep_rest(c, s->rbuf + used, (size_t)n - used) < 0)
                                drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
                        return ingest_pause(s);
                }
        }
        if (c->eof) {
                if (conn_flush(c) == -EAGAIN)
                        return ingest_pause(s);
                conn_close(c);
        }
        return 0;
}

static int conn_new(struct ingest_syslog *s, struct listener *l, int fd,
                    const struct sockaddr_storage *ss)
{
        struct conn *c = calloc(1, sizeof(*c));
        int r;

        if (!c)
                return -ENOMEM;
        r = syslog_framer_new(s->max_message, &c->framer);
        if (r < 0) {
                free(c);
                return r;
        }
        c->s = s;
        c->l = l;
        c->fd = fd;
        c->ss = *ss;
        c->start_mono = c->last_mono = tm_mono_us();
        syslog_format_peer(ss, c->peer, sizeof(c->peer));
        if (l->tls) {
                c->ssl = tls_conn_new(l->tls, fd);
                if (!c->ssl) {
                        syslog_framer_free(c->framer);
                        free(c);
                        return -ENOMEM;
                }
                c->handshaking = true;
        }
        /* A handshake is not a read of records: it runs even while the queue is full. */
        if (!s->paused || c->handshaking) {
                r = loop_add(s->loop, fd, EPOLLIN, conn_cb, c);
                if (r < 0) {
                        tls_conn_free(c->ssl);
                        syslog_framer_free(c->framer);
                        free(c);
                        return r;
                }
                c->registered = true;
        }
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        s->n_conns++;
        return 0;
}

bool ingest_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET)
                return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                               &((const struct sockaddr_in *)b)->sin_addr, 4);
        if (a->ss_family == AF_INET6)
                return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                               &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
        return false;
}

/* Is this address at its connection limit on this listener? */
static bool peer_at_limit(struct ingest_syslog *s, struct listener *l,
                          const struct sockaddr_storage *ss)
{
        size_t max = l->cfg && l->cfg->tls_opt.max_per_peer ? l->cfg->tls_opt.max_per_peer
                                                            : INGEST_TLS_MAX_PER_PEER_DEFAULT;
        size_t n = 0;

        for (struct conn *c = s->conns; c; c = c->next)
                if (c->l == l && ingest_same_ip(&c->ss, ss) && ++n >= max)
                        return true;
        return false;
}

static int accept_cb(struct loop *loop, int lfd, uint32_t events, void *ud)
{
        struct listener *l = ud;
        struct ingest_syslog *s = l->s;

        for (int i = 0; i < INGEST_ACCEPT_BATCH; i++) {
                struct sockaddr_storage ss = { 0 };
                socklen_t sl = sizeof(ss);
                int fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        /* EAGAIN; or EMFILE and friends, retried on the next wakeup */
                        break;
                }
                if (s->n_conns >= s->max_connections ||
                    (l->tls && peer_at_limit(s, l, &ss))) {
                        drop_count(s->drops, DROP_CONN_LIMIT, 1);
                        close(fd);
                        continue;
                }
                if (conn_new(s, l, fd, &ss) < 0) {
                        close(fd);
                        drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
                }
        }
        return 0;
}

/* ---- listeners ---- */

static void listener_close(struct ingest_syslog *s, struct listener *l)
{
        if (l->fd < 0)
                return;
        loop_del(s->loop, l->fd);
        syslog_listener_unbind(l);
}

/* TLS: closes handshakes that take too long and connections that delivered no complete
 * message for the idle timeout (not while the queue is full: that wait is ours). */
static int tls_sweep_cb(struct loop *loop, void *ud)
{
        struct ingest_syslog *s = ud;
        int64_t now = tm_mono_us();
        struct conn *next;

        for (struct conn *c = s->conns; c; c = next) {
                const struct ingest_tls_options *o;

                next = c->next;
                if (!c->ssl || c->eof)
                        continue;
                o = &c->l->cfg->tls_opt;
                if (c->handshaking) {
                        int64_t max = o->handshake_timeout_us ? o->handshake_timeout_us
                                                              : INGEST_TLS_HANDSHAKE_TIMEOUT_US;
                        if (now - c->start_mono > max)
                                conn_refuse(c, "handshake_timeout", NULL);
                        continue;
                }
                int64_t idle = o->idle_timeout_us ? o->idle_timeout_us
                                                  : INGEST_TLS_IDLE_TIMEOUT_US;
                if (!s->paused && !c->pending && c->rest_len == 0 &&
                    now - c->last_mono > idle)
                        conn_refuse(c, "idle_timeout", syslog_framer_pending(c->framer)
                                    ? "a partial frame was discarded" : NULL);
        }
        return 0;
}

static int listener_open(struct ingest_syslog *s, struct listener *l,
                         const struct ingest_listen *cfg, char *err, size_t err_len)
{
        bool stream = cfg->transport == INGEST_TCP || cfg->transport == INGEST_TLS;
        int r;

        l->s = s;
        l->cfg = cfg;
        if (cfg->transport == INGEST_TLS) {
                r = tls_server_new(&cfg->tls_opt, &l->tls, err, err_len);
                if (r < 0)
                        return r;
                if (s->sweep_timer < 0) {
                        r = loop_add_timer(s->loop, INGEST_TLS_SWEEP_US, tls_sweep_cb, s);
                        if (r < 0)
                                return r;
                        s->sweep_timer = r;
                }
        }
        r = syslog_listener_bind(l, cfg);
        if (r < 0)
                return r;
        r = loop_add(s->loop, l->fd, EPOLLIN, stream ? accept_cb : dgram_cb, l);
        if (r < 0)
                syslog_listener_unbind(l);
        return r;
}

/* RELP listeners are librelp's: all of them on one engine. */
static int relp_open(struct ingest_syslog *s, const struct ingest_syslog_config *cfg,
                     char *err, size_t err_len)
{
        const struct ingest_listen **ls = calloc(cfg->n_listen, sizeof(*ls));
        size_t n = 0;
        int r = 0;

        if (!ls)
                return -ENOMEM;
        for (size_t i = 0; i < cfg->n_listen; i++)
                if (cfg->listen[i].transport == INGEST_RELP)
                        ls[n++] = &cfg->listen[i];
        if (n > 0)
                r = relp_server_new(ls, n, s->q, s->drops, s->max_message,
                                    s->max_connections, s->format, &s->relp, err, err_len);
        free(ls);
        return r;
}

int ingest_syslog_reload(struct ingest_syslog *s, char *err, size_t err_len)
{
        int ret = 0;

        for (size_t i = 0; s && i < s->n_ls; i++) {
                char e[400] = "";
                int r;

                if (!s->ls[i].tls)
                        continue;
                r = tls_server_reload(s->ls[i].tls, e, sizeof(e));
                if (r < 0 && ret == 0) {
                        snprintf(err, err_len, "tls %s: %s", s->ls[i].cfg->addr, e);
                        ret = r;
                }
        }
        if (s && s->relp) {
                char e[400] = "";
                int r = relp_server_reload(s->relp, e, sizeof(e));

                if (r < 0 && ret == 0) {
                        snprintf(err, err_len, "%s", e);
                        ret = r;
                }
        }
        return ret;
}

void ingest_syslog_relp_seen(struct ingest_syslog *s, const char *peer, const char *raw_sha256,
                             int64_t received_us)
{
        if (s && s->relp)
                relp_server_seen(s->relp, peer, raw_sha256, received_us);
}

bool ingest_syslog_has_relp(const struct ingest_syslog *s)
{
        return s && s->relp;
}

int ingest_syslog_new(const struct ingest_syslog_config *cfg, struct loop *loop,
                      struct queue *q, struct drop_counters *drops,
                      struct ingest_syslog **ret, char *err, size_t err_len)
{
        struct ingest_syslog *s = calloc(1, sizeof(*s));
        int r = -ENOMEM;

        if (!s)
                goto fail_msg;
        s->loop = loop;
        s->q = q;
        s->drops = drops;
        s->sweep_timer = -1;
        s->format = cfg->format;
        s->max_message = cfg->max_message ? cfg->max_message : SYSLOG_MAX_MESSAGE_DEFAULT;
        s->max_connections = cfg->max_connections ? cfg->max_connections
                                                  : TCP_MAX_CONNECTIONS_DEFAULT;
        if (s->max_message < SYSLOG_FRAME_MAX_DIGITS + 1 ||
            s->max_message > SYSLOG_MAX_MESSAGE_CEIL) {
                r = -EINVAL;
                snprintf(err, err_len, "max_message %zu out of range", s->max_message);
                goto fail;
        }
        s->rbuf_len = s->max_message > INGEST_READ_CHUNK ? s->max_message : INGEST_READ_CHUNK;
        s->rbuf = malloc(s->rbuf_len);
        s->ls = calloc(cfg->n_listen ? cfg->n_listen : 1, sizeof(*s->ls));
        if (!s->rbuf || !s->ls ||
            recycle_new(INGEST_REC_SMALL, INGEST_REC_SMALL_KEEP, &s->rec_rc[0]) < 0 ||
            recycle_new(INGEST_REC_LARGE, INGEST_REC_LARGE_KEEP, &s->rec_rc[1]) < 0 ||
            recycle_new(sizeof(struct event), INGEST_EVENT_KEEP, &s->ev_rc) < 0)
                goto fail_msg;
        for (size_t i = 0; i < cfg->n_listen; i++) {
                char e[400] = "";

                if (cfg->listen[i].transport == INGEST_RELP) {
                        /* Bound by librelp below; the slot keeps listener numbering. */
                        uint16_t port = 0;
                        char *host = NULL;

                        s->ls[i].fd = -1;
                        s->ls[i].transport = INGEST_RELP;
                        s->ls[i].cfg = &cfg->listen[i];
                        if (ingest_parse_hostport(cfg->listen[i].addr, &host, &port) == 0)
                                free(host);
                        s->ls[i].port = port;
                        s->n_ls++;
                        continue;
                }
                r = listener_open(s, &s->ls[i], &cfg->listen[i], e, sizeof(e));
                if (r < 0) {
                        snprintf(err, err_len, "%s %s: %s",
                                 transport_name(cfg->listen[i].transport),
                                 cfg->listen[i].addr, e[0] ? e : strerror(-r));
                        free(s->ls[i].path);
                        tls_server_free(s->ls[i].tls);
                        s->ls[i].tls = NULL;
                        goto fail;
                }
                s->n_ls++;
        }
        syslog_activation_report(s->ls, s->n_ls);  /* ops (issue 9): socket activation */
        r = relp_open(s, cfg, err, err_len);
        if (r < 0)
                goto fail;
        if (s->relp) {
                if (cfg->relp_seed_cb)
                        cfg->relp_seed_cb(cfg->relp_seed_ud, s);
                r = relp_server_start(s->relp);
                if (r < 0) {
                        snprintf(err, err_len, "relp: cannot start: %s", strerror(-r));
                        goto fail;
                }
        }
        *ret = s;
        return 0;
fail_msg:
        snprintf(err, err_len, "%s", strerror(ENOMEM));
fail:
        ingest_syslog_free(s);
        return r;
}

/* Datagrams the kernel already holds for us were received: store them before the socket
 * closes (reading also brings the kernel's last overflow count). Bounded by the deadline and
 * by a count, since a sender may keep sending while we read. */
static void dgram_drain(struct listener *l, int64_t deadline)
{
        for (long i = 0; i < INGEST_DRAIN_DGRAM_MAX && tm_mono_us() < deadline; i++)
                if (dgram_read_one(l, deadline) == 0)
                        break;
}

void ingest_syslog_stop_accepting(struct ingest_syslog *s)
{
        if (!s)
                return;
        int64_t deadline = tm_mono_us() + INGEST_DRAIN_DGRAM_US;
        for (size_t i = 0; i < s->n_ls; i++) {
                if (s->ls[i].fd >= 0 && (s->ls[i].transport == INGEST_UDP ||
                                         s->ls[i].transport == INGEST_UNIX))
                        dgram_drain(&s->ls[i], deadline);
                listener_close(s, &s->ls[i]);
        }
        /* RELP: the message in hand is committed and acknowledged, then the engine ends
         * (the writer still runs: the queue is closed only after this). */
        relp_server_stop(s->relp, INGEST_DRAIN_DGRAM_US);
}

int ingest_syslog_port(const struct ingest_syslog *s, size_t i)
{
        if (!s || i >= s->n_ls || s->ls[i].port < 0)
                return -ENOENT;
        return s->ls[i].port;
}

/* ---- shutdown ---- */

/* Waits for the queue to have room until deadline (monotonic). 0, or -ETIMEDOUT. */
static int drain_wait_space(struct ingest_syslog *s, int64_t deadline)
{
        int64_t left = deadline - tm_mono_us();
        struct pollfd p = { .fd = queue_space_fd(s->q), .events = POLLIN };

        if (left <= 0)
                return -ETIMEDOUT;
        if (poll(&p, 1, (int)((left + 999) / 1000)) <= 0)
                return -ETIMEDOUT;
        queue_ack_space(s->q);
        return 0;
}

static int drain_count_cb(void *ud, const char *msg, size_t len, bool truncated)
{
        drop_count(ud, DROP_SHUTDOWN, 1);
        return 0;
}

/* What a connection could not push before the deadline is counted, frame by frame. */
static void drain_count_left(struct conn *c)
{
        struct drop_counters *d = c->s->drops;

        if (c->pending) {
                event_free(c->pending);
                c->pending = NULL;
                drop_count(d, DROP_SHUTDOWN, 1);
        }
        if (c->rest_len > 0)
                (void)syslog_framer_feed(c->framer, c->rest + c->rest_off, c->rest_len,
                                         drain_count_cb, d);
        c->rest_len = 0;
        if (!c->finished && syslog_framer_pending(c->framer))
                drop_count(d, DROP_SHUTDOWN, 1);
}

static void drain_conn(struct ingest_syslog *s, struct conn *c, int64_t deadline)
{
        while (tm_mono_us() < deadline) {
                ssize_t n;
                size_t used;

                if (conn_flush(c) == -EAGAIN) {
                        if (drain_wait_space(s, deadline) < 0)
                                break;
                        continue;
                }
                if (c->eof || c->handshaking)
                        break;
                n = conn_read(c, s->rbuf, INGEST_READ_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;  /* nothing more buffered: the rest is a partial frame */
                if (n <= 0) {
                        c->eof = true;
                        continue;
                }
                c->read_us = tm_now_us();
                int fr = syslog_framer_feed_some(c->framer, s->rbuf, (size_t)n,
                                                 conn_frame_cb, c, &used);
                if (c->oversize) {
                        c->eof = c->finished = true;
                        continue;
                }
                if (fr == -EAGAIN && conn_keep_rest(c, s->rbuf + used, (size_t)n - used) < 0)
                        drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
        }
        drain_count_left(c);
}

void ingest_syslog_drain(struct ingest_syslog *s, int64_t budget_us)
{
        int64_t deadline;

        if (!s)
                return;
        deadline = tm_mono_us() + (budget_us > 0 ? budget_us : 0);
        if (s->paused) {
                loop_del(s->loop, queue_space_fd(s->q));
                s->paused = false;
        }
        while (s->conns) {
                drain_conn(s, s->conns, deadline);
                conn_close(s->conns);
        }
}

void ingest_syslog_free(struct ingest_syslog *s)
{
        if (!s)
                return;
        ingest_syslog_stop_accepting(s);
        if (s->paused)
                loop_del(s->loop, queue_space_fd(s->q));
        while (s->conns) {
                drain_count_left(s->conns);
                conn_close(s->conns);
        }
        relp_server_free(s->relp);
        if (s->sweep_timer >= 0)
                loop_del_timer(s->loop, s->sweep_timer);
        for (size_t i = 0; i < s->n_ls; i++) {
                free(s->ls[i].path);
                tls_server_free(s->ls[i].tls);
        }
        free(s->ls);
        free(s->rbuf);
        /* Events still queued or in the writer keep their recyclers alive until freed. */
        recycle_release(s->rec_rc[0]);
        recycle_release(s->rec_rc[1]);
        recycle_release(s->ev_rc);
        free(s);
}
