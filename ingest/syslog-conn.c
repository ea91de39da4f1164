/* The syslog collector's stream connections: TCP and TLS (RFC 5425). A wakeup reads at
 * most INGEST_CONN_BUDGET bytes of a connection into the shared read buffer and frames them
 * in place; on a full queue every connection stops being read (the kernel's window pushes
 * back on the senders) until the queue's space fd fires, and the events and bytes that met
 * the full queue are kept and go first, so order is kept per connection. A connection's
 * events go to the queue in batches (one lock per batch, issue 12). TLS handshakes run
 * non-blocking here; refused clients, timeouts and oversize frames are counted and logged.
 * At shutdown each connection is drained within a deadline and the rest counted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include "core/log.h"
#include "core/tm.h"
#include "ingest/syslog-net-int.h"

/* ---- TCP connections ---- */

/* Hands the events held by c to the queue, in order, under one lock. Returns 0 when all
 * went (or the queue was closed: we are shutting down, they are counted), -EAGAIN when the
 * queue was full: what it did not take stays held, first in line. */
static int conn_push_held(struct conn *c)
{
        size_t taken = 0;

        if (c->n_held == 0)
                return 0;
        if (queue_push_batch(c->s->q, (void *const *)c->held, c->n_held, &taken) < 0) {
                for (size_t i = 0; i < c->n_held; i++)
                        event_free(c->held[i]);
                drop_count(c->s->drops, DROP_SHUTDOWN, c->n_held);
                c->n_held = 0;
                return 0;
        }
        if (taken < c->n_held) {
                memmove(c->held, c->held + taken, (c->n_held - taken) * sizeof(c->held[0]));
                c->n_held -= taken;
                return -EAGAIN;
        }
        c->n_held = 0;
        return 0;
}

/* One frame: its event is held, and the held events go to the queue once there are
 * INGEST_PUSH_BATCH of them (the rest go when the read's frames are done: conn_feed,
 * conn_flush). -EAGAIN stops the framer right after this frame when the queue is full. */
static int conn_frame_cb(void *ud, const char *msg, size_t len, bool truncated)
{
        struct conn *c = ud;
        struct event *e;
        int r = 0;

        (void)syslog_net_build(c->s, msg, len, truncated, c->l, c->peer, c->tls_id,
                               c->read_us, &e);
        if (e)
                c->held[c->n_held++] = e;
        if (c->n_held == INGEST_PUSH_BATCH)
                r = conn_push_held(c);
        /* Only the TLS sweep reads it (idle timeout): no clock read per plain TCP frame. */
        if (c->ssl)
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

void syslog_conn_close(struct conn *c)
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
        for (size_t i = 0; i < c->n_held; i++)
                event_free(c->held[i]);
        c->n_held = 0;
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

/* Frames n bytes just read into the shared read buffer. Returns the framer's result:
 * -EAGAIN when the queue filled, with the unread bytes kept (unless the connection ends
 * on an oversize frame, whose followers are never read). */
static int conn_feed(struct conn *c, size_t n)
{
        struct ingest_syslog *s = c->s;
        size_t used;
        int fr;

        c->read_us = tm_now_us();
        fr = syslog_framer_feed_some(c->framer, s->rbuf, n, conn_frame_cb, c, &used);
        /* The frames of this read that are still held go now (order: before any later read). */
        if (fr != -EAGAIN && conn_push_held(c) == -EAGAIN)
                fr = -EAGAIN;
        if (fr == -EAGAIN && !c->oversize && conn_keep_rest(c, s->rbuf + used, n - used) < 0)
                drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
        return fr;
}

/* Pushes what the connection holds back: the held events, the kept bytes, and the last
 * frame after end of stream. Returns 0 when everything went, -EAGAIN when the queue filled
 * again (state kept for the next try). */
static int conn_flush(struct conn *c)
{
        int r;

        if (conn_push_held(c) == -EAGAIN)
                return -EAGAIN;
        while (c->rest_len > 0) {
                size_t used;

                r = syslog_framer_feed_some(c->framer, c->rest + c->rest_off, c->rest_len,
                                            conn_frame_cb, c, &used);
                c->rest_off += used;
                c->rest_len -= used;
                if (r == -EAGAIN)
                        return r;
        }
        if (conn_push_held(c) == -EAGAIN)
                return -EAGAIN;
        free(c->rest);
        c->rest = NULL;
        c->rest_off = 0;
        if (c->eof && !c->finished) {
                c->finished = true;
                if (syslog_framer_finish(c->framer, conn_frame_cb, c) == -EAGAIN)
                        return -EAGAIN;
                return conn_push_held(c);
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
                        syslog_conn_close(c);
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
        syslog_conn_close(c);
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
        if (s->paused || c->n_held > 0 || c->rest_len > 0) {
                loop_del(loop, fd);
                c->registered = false;
                return s->paused ? 0 : ingest_pause(s);
        }
        while ((total < INGEST_CONN_BUDGET || (c->ssl && tls_conn_pending(c->ssl))) &&
               !c->eof) {
                ssize_t n = conn_read(c, s->rbuf, INGEST_READ_CHUNK);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n <= 0) {
                        c->eof = true;  /* closed, or reset: what arrived still counts */
                        break;
                }
                total += (size_t)n;
                int fr = conn_feed(c, (size_t)n);
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
                if (fr == -EAGAIN)
                        return ingest_pause(s);
        }
        if (c->eof) {
                if (conn_flush(c) == -EAGAIN)
                        return ingest_pause(s);
                syslog_conn_close(c);
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

int syslog_accept_cb(struct loop *loop, int lfd, uint32_t events, void *ud)
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

/* TLS: closes handshakes that take too long and connections that delivered no complete
 * message for the idle timeout (not while the queue is full: that wait is ours). */
int syslog_tls_sweep_cb(struct loop *loop, void *ud)
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
                if (!s->paused && c->n_held == 0 && c->rest_len == 0 &&
                    now - c->last_mono > idle)
                        conn_refuse(c, "idle_timeout", syslog_framer_pending(c->framer)
                                    ? "a partial frame was discarded" : NULL);
        }
        return 0;
}

static int drain_count_cb(void *ud, const char *msg, size_t len, bool truncated)
{
        drop_count(ud, DROP_SHUTDOWN, 1);
        return 0;
}

/* What a connection could not push before the deadline is counted, frame by frame. */
void syslog_conn_count_left(struct conn *c)
{
        struct drop_counters *d = c->s->drops;

        for (size_t i = 0; i < c->n_held; i++)
                event_free(c->held[i]);
        drop_count(d, DROP_SHUTDOWN, c->n_held);
        c->n_held = 0;
        if (c->rest_len > 0)
                (void)syslog_framer_feed(c->framer, c->rest + c->rest_off, c->rest_len,
                                         drain_count_cb, d);
        c->rest_len = 0;
        if (!c->finished && syslog_framer_pending(c->framer))
                drop_count(d, DROP_SHUTDOWN, 1);
}

void syslog_conn_drain(struct ingest_syslog *s, struct conn *c, int64_t deadline)
{
        while (tm_mono_us() < deadline) {
                ssize_t n;

                if (conn_flush(c) == -EAGAIN) {
                        if (syslog_drain_wait_space(s, deadline) < 0)
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
                (void)conn_feed(c, (size_t)n);
                if (c->oversize)
                        c->eof = c->finished = true;
        }
        syslog_conn_count_left(c);
}
