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
 * RELP listeners are librelp's (ingest/relp.c, its own thread).
 *
 * This file opens the listeners, turns messages into events, and starts and stops the
 * collector; the datagram path is ingest/syslog-dgram.c, the stream connections
 * ingest/syslog-conn.c (their shared state: ingest/syslog-net-int.h). No thread is started
 * here: everything runs on the daemon's loop thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/metrics.h"  /* ops (issue 9) */
#include "core/recycle.h"
#include "core/tm.h"
#include "ingest/syslog-net-int.h"

/* Recycled blocks (performance, issue 12: the loop thread allocates every event and record,
 * the writer's threads free them; see core/recycle.h). Records come in two block sizes
 * (a record of a message up to ~450 bytes fits the small one, up to ~3 KiB the large one;
 * longer ones are malloc'd). Idle blocks kept: as many as the default queue holds
 * (queue.max_events 8,192; its byte budget, 12 MiB, bounds what is in flight, and so what
 * can come back idle, to about as much); fewer would free blocks after every burst only
 * to malloc them again. */
#define INGEST_REC_SMALL 3072u
#define INGEST_REC_LARGE 8192u
/* Halving the small blocks kept (4,096) lowered peak RSS by at most 0.6 MiB under 3x UDP
 * overload and under TCP (docs/PERFORMANCE.md, round 4, tidy3): blocks idle in the pool are
 * ones the queue had in flight, so the queue's budget sets the peak, and a block freed past
 * the cap stays in glibc's arena. The #ifndef lets a build try another value for paired runs
 * (-Dc_args=-DINGEST_REC_SMALL_KEEP=4096u). */
#ifndef INGEST_REC_SMALL_KEEP
#define INGEST_REC_SMALL_KEEP 8192u
#endif
#define INGEST_REC_LARGE_KEEP 1024u
#define INGEST_EVENT_KEEP 8192u

#define transport_name ingest_transport_name

const char *ingest_transport_name(enum ingest_transport t)
{
        static const char *const names[] = {
                [INGEST_UDP] = "udp", [INGEST_TCP] = "tcp", [INGEST_UNIX] = "unix",
                [INGEST_TLS] = "tls", [INGEST_RELP] = "relp",
        };
        return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

int syslog_net_build(struct ingest_syslog *s, const char *msg, size_t len, bool truncated,
                     struct listener *l, const char *peer, const json *tls_id,
                     int64_t received_us, struct event **ret_e)
{
        const char *transport = transport_name(l->transport);
        struct norm_source src = { .kind = "syslog", .transport = transport, .peer = peer };
        struct event *e;
        json *rec = NULL;
        int r;

        *ret_e = NULL;
        /* ops (issue 9); the counter is looked up once per listener (issue 12). */
        if (!l->received)
                l->received = metrics_received_counter("syslog", transport);
        metric_add(l->received, 1);
        r = normalize_syslog_recycled_tt(s->rec_rc, 2, &s->received_text, msg, len, truncated,
                                         &src, received_us, s->format, &rec);
        /* The verified sender goes into the record: evidence of who sent it. */
        if (r >= 0 && tls_id && json_path_set(rec, "source.tls", json_clone(tls_id)) < 0) {
                json_free(rec);
                r = -ENOMEM;
        }
        e = r < 0 ? NULL : event_new_recycled(s->ev_rc, rec, received_us);
        if (!e)
                drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
        *ret_e = e;
        return 0;
}

int syslog_net_push(struct ingest_syslog *s, const char *msg, size_t len, bool truncated,
                    struct listener *l, const char *peer, const json *tls_id,
                    int64_t received_us, struct event **ret_held)
{
        struct event *e;
        int r;

        (void)syslog_net_build(s, msg, len, truncated, l, peer, tls_id, received_us, &e);
        if (!e)
                return 0;
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

/* ---- listeners ---- */

static void listener_close(struct ingest_syslog *s, struct listener *l)
{
        if (l->fd < 0)
                return;
        loop_del(s->loop, l->fd);
        syslog_listener_unbind(l);
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
                        r = loop_add_timer(s->loop, INGEST_TLS_SWEEP_US, syslog_tls_sweep_cb, s);
                        if (r < 0)
                                return r;
                        s->sweep_timer = r;
                }
        }
        r = syslog_listener_bind(l, cfg);
        if (r < 0)
                return r;
        r = loop_add(s->loop, l->fd, EPOLLIN, stream ? syslog_accept_cb : syslog_dgram_cb, l);
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
void ingest_syslog_stop_accepting(struct ingest_syslog *s)
{
        if (!s)
                return;
        int64_t deadline = tm_mono_us() + INGEST_DRAIN_DGRAM_US;
        for (size_t i = 0; i < s->n_ls; i++) {
                if (s->ls[i].fd >= 0 && (s->ls[i].transport == INGEST_UDP ||
                                         s->ls[i].transport == INGEST_UNIX))
                        syslog_dgram_drain(&s->ls[i], deadline);
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
                syslog_conn_drain(s, s->conns, deadline);
                syslog_conn_close(s->conns);
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
                syslog_conn_count_left(s->conns);
                syslog_conn_close(s->conns);
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
