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
 * did not finish); one left at daemon exit is counted as DROP_SHUTDOWN by the drain. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sock_diag.h>

#include "core/limits.h"
#include "core/tm.h"
#include "ingest/syslog-net.h"

#define INGEST_READ_CHUNK (64u * 1024)
#define INGEST_CONN_BUDGET (256u * 1024)
#define INGEST_DGRAM_BATCH 64
/* At shutdown, datagrams already queued in the kernel are read for at most this long or
 * this many (a 4 MiB receive buffer holds about 30,000 small datagrams). */
#define INGEST_DRAIN_DGRAM_US (2 * 1000 * 1000)
#define INGEST_DRAIN_DGRAM_MAX 200000
#define INGEST_ACCEPT_BATCH 64

struct conn {
        struct ingest_syslog *s;
        struct conn *prev, *next;
        int fd;
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
};

static const char *transport_name(enum ingest_transport t)
{
        return t == INGEST_UDP ? "udp" : t == INGEST_TCP ? "tcp" : "unix";
}

static int ingest_push(struct ingest_syslog *s, const char *msg, size_t len, bool truncated,
                       const char *transport, const char *peer, int64_t received_us,
                       struct event **ret_held)
{
        struct norm_source src = { .kind = "syslog", .transport = transport, .peer = peer };
        struct event *e;
        json *rec = NULL;
        int r;

        r = normalize_syslog(msg, len, truncated, &src, received_us, s->format, &rec);
        e = r < 0 ? NULL : event_new(rec, received_us);
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
        if (ingest_push(s, s->rbuf, (size_t)n, (mh.msg_flags & MSG_TRUNC) != 0,
                        transport_name(l->transport),
                        l->transport == INGEST_UDP ? peer : l->path, tm_now_us(),
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

        return ingest_push(c->s, msg, len, truncated, "tcp", c->peer, c->read_us,
                           &c->pending);
}

static int conn_cb(struct loop *loop, int fd, uint32_t events, void *ud);

static void conn_close(struct conn *c)
{
        struct ingest_syslog *s = c->s;

        if (c->registered)
                loop_del(s->loop, c->fd);
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
                if (c->registered) {
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
                r = loop_add(s->loop, c->fd, EPOLLIN, conn_cb, c);
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

/* Reads at most INGEST_CONN_BUDGET bytes and frames them. */
static int conn_cb(struct loop *loop, int fd, uint32_t events, void *ud)
{
        struct conn *c = ud;
        struct ingest_syslog *s = c->s;
        size_t total = 0;

        /* Held-back bytes must go before new ones: never read while paused. */
        if (s->paused || c->pending || c->rest_len > 0) {
                loop_del(loop, fd);
                c->registered = false;
                return s->paused ? 0 : ingest_pause(s);
        }
        while (total < INGEST_CONN_BUDGET && !c->eof) {
                ssize_t n = read(fd, s->rbuf, INGEST_READ_CHUNK);
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
                if (syslog_framer_feed_some(c->framer, s->rbuf, (size_t)n, conn_frame_cb, c,
                                            &used) == -EAGAIN) {
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

static int conn_new(struct ingest_syslog *s, int fd, const struct sockaddr_storage *ss)
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
        c->fd = fd;
        syslog_format_peer(ss, c->peer, sizeof(c->peer));
        if (!s->paused) {
                r = loop_add(s->loop, fd, EPOLLIN, conn_cb, c);
                if (r < 0) {
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
                if (s->n_conns >= s->max_connections) {
                        drop_count(s->drops, DROP_CONN_LIMIT, 1);
                        close(fd);
                        continue;
                }
                if (conn_new(s, fd, &ss) < 0) {
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

static int listener_open(struct ingest_syslog *s, struct listener *l,
                         const struct ingest_listen *cfg)
{
        int r;

        l->s = s;
        r = syslog_listener_bind(l, cfg);
        if (r < 0)
                return r;
        r = loop_add(s->loop, l->fd, EPOLLIN, cfg->transport == INGEST_TCP ? accept_cb : dgram_cb,
                     l);
        if (r < 0)
                syslog_listener_unbind(l);
        return r;
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
        if (!s->rbuf || !s->ls)
                goto fail_msg;
        for (size_t i = 0; i < cfg->n_listen; i++) {
                r = listener_open(s, &s->ls[i], &cfg->listen[i]);
                if (r < 0) {
                        snprintf(err, err_len, "%s %s: %s",
                                 transport_name(cfg->listen[i].transport),
                                 cfg->listen[i].addr, strerror(-r));
                        free(s->ls[i].path);
                        goto fail;
                }
                s->n_ls++;
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
                if (s->ls[i].fd >= 0 && s->ls[i].transport != INGEST_TCP)
                        dgram_drain(&s->ls[i], deadline);
                listener_close(s, &s->ls[i]);
        }
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
                if (c->eof)
                        break;
                n = read(c->fd, s->rbuf, INGEST_READ_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;  /* nothing more buffered: the rest is a partial frame */
                if (n <= 0) {
                        c->eof = true;
                        continue;
                }
                c->read_us = tm_now_us();
                if (syslog_framer_feed_some(c->framer, s->rbuf, (size_t)n, conn_frame_cb, c,
                                            &used) == -EAGAIN &&
                    conn_keep_rest(c, s->rbuf + used, (size_t)n - used) < 0)
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
        for (size_t i = 0; i < s->n_ls; i++)
                free(s->ls[i].path);
        free(s->ls);
        free(s->rbuf);
        free(s);
}
