/* Internal to ingest/: the syslog collector's state, shared by its files: syslog-net.c
 * (listeners, records into events, start and stop), syslog-dgram.c (the UDP and unix
 * datagram path) and syslog-conn.c (TCP and TLS stream connections, their pause and
 * resume on a full queue, and their drain at shutdown). Not part of the stage's API. All of
 * it runs on the daemon's loop thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "core/limits.h"
#include "core/loop.h"
#include "core/queue.h"
#include "ingest/ingest.h"
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
/* Events of one stream connection handed to the queue at once (one lock, at most one
 * wake-up of the writer): about a third of a 64 KiB read of ~150-byte messages. */
#define INGEST_PUSH_BATCH 64
/* TLS timeouts are checked by a sweep this often: a timeout fires up to this late. */
#define INGEST_TLS_SWEEP_US (250 * 1000)

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
        /* Events built from this connection's frames and not yet taken by the queue, in
         * order: staged until the read's frames are done or INGEST_PUSH_BATCH are there,
         * then pushed under one lock (queue_push_batch: performance, issue 12); what a full
         * queue did not take stays here and goes first. */
        struct event *held[INGEST_PUSH_BATCH];
        size_t n_held;
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
        struct norm_time_text received_text; /* the last receipt time's text (normalize.h) */
};

/* Builds the record and event of one message (recycled blocks): *ret_e is the event (the
 * caller owns it), or NULL when it was dropped and counted (out of memory). Returns 0. */
int syslog_net_build(struct ingest_syslog *s, const char *msg, size_t len, bool truncated,
                     struct listener *l, const char *peer, const json *tls_id,
                     int64_t received_us, struct event **ret_e);
/* Builds the record and event of one message (recycled blocks) and pushes it. Returns 0
 * when it went (or was dropped and counted: out of memory, shutting down), -EAGAIN when the
 * queue is full: *ret_held is then the event, which the caller owns and pushes later
 * (syslog-net.c). */
int syslog_net_push(struct ingest_syslog *s, const char *msg, size_t len, bool truncated,
                    struct listener *l, const char *peer, const json *tls_id,
                    int64_t received_us, struct event **ret_held);

/* ---- datagrams (syslog-dgram.c) ---- */

/* The loop's callback of a UDP or unix datagram socket (ud: its struct listener). */
int syslog_dgram_cb(struct loop *loop, int fd, uint32_t events, void *ud);
/* At shutdown: reads what the kernel already holds for the socket, until deadline
 * (monotonic) or INGEST_DRAIN_DGRAM_MAX datagrams. */
void syslog_dgram_drain(struct listener *l, int64_t deadline);
/* Waits for the queue to have room until deadline (monotonic). 0, or -ETIMEDOUT. */
int syslog_drain_wait_space(struct ingest_syslog *s, int64_t deadline);

/* ---- stream connections (syslog-conn.c) ---- */

/* The loop's callback of a TCP or TLS listening socket (ud: its struct listener): accepts
 * up to INGEST_ACCEPT_BATCH connections within the limits. */
int syslog_accept_cb(struct loop *loop, int lfd, uint32_t events, void *ud);
/* The TLS timer: handshake and idle timeouts (ud: the collector). */
int syslog_tls_sweep_cb(struct loop *loop, void *ud);
/* Closes and frees the connection (its held events and kept bytes too). */
void syslog_conn_close(struct conn *c);
/* At shutdown: pushes what the connection holds and what the kernel buffered, waiting for
 * queue space until deadline (monotonic); what is left is counted (DROP_SHUTDOWN). */
void syslog_conn_drain(struct ingest_syslog *s, struct conn *c, int64_t deadline);
/* Counts (DROP_SHUTDOWN) and forgets what the connection could not push, frame by frame. */
void syslog_conn_count_left(struct conn *c);
