/* Internal to ingest/: the listener sockets shared by syslog-net.c (the collector) and
 * syslog-listen.c (binding). Not part of the stage's API. */
#pragma once
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "ingest/ingest.h"

/* "[" INET6_ADDRSTRLEN "]:" 5 digits fits; so does a unix socket path. */
#define INGEST_PEER_MAX 108

struct ingest_syslog;
struct tls_server;

struct listener {
        struct ingest_syslog *s;
        const struct ingest_listen *cfg;        /* borrowed from the configuration */
        struct tls_server *tls;                 /* TLS listeners: the server context */
        enum ingest_transport transport;
        int fd;                 /* -1 once closed */
        int port;               /* bound port; -1 for unix */
        char *path;             /* unix: the socket path (also the records' peer); owned */
        dev_t dev;              /* unix: identity of the socket file we created */
        ino_t ino;
        uint32_t ovfl;          /* last SK_MEMINFO_DROPS seen (cumulative in the kernel) */
        bool activated;         /* ops (issue 9): fd passed by systemd (socket activation) */
        struct metric *received; /* its events-received counter, looked up at the first event */
};

/* Opens and binds (and for TCP, listens) the socket cfg names: sets fd, transport, port,
 * path. Returns 0 or -errno (-EADDRINUSE: a live unix socket is there; -EEXIST: a file that
 * is not a socket). l->path may be set even on failure (the caller frees it). */
int syslog_listener_bind(struct listener *l, const struct ingest_listen *cfg);
/* ops (issue 9): logs each socket passed by systemd (LISTEN_FDS) that none of the n
 * listeners took. */
void syslog_activation_report(const struct listener *ls, size_t n);
/* Closes the socket and removes a unix socket file that is still ours. Idempotent. */
void syslog_listener_unbind(struct listener *l);
/* "IP:PORT" or "[IPv6]:PORT" of a peer address. */
void syslog_format_peer(const struct sockaddr_storage *ss, char *out, size_t len);

/* ---- RELP (ingest/relp.c): librelp's engine on its own thread ---- */
struct relp_server;
/* Creates the engine with a listener for each RELP entry of ls (binding happens here, so
 * errors show at start), and starts its thread. Events go to q; each RELP message is
 * acknowledged only after the writer committed its record (the event's sink). */
int relp_server_new(const struct ingest_listen *const *ls, size_t n, struct queue *q,
                    struct drop_counters *drops, size_t max_message, size_t max_connections,
                    enum norm_format fmt, struct relp_server **ret, char *err, size_t err_len);
/* SIGHUP: re-reads every TLS listener's cert and key (all checked before any is swapped);
 * sessions opened afterwards present the new certificate, established ones keep going. The
 * CA is not reloaded (librelp loads it once). 0, or -errno with err set and nothing changed
 * (unless a swap itself failed, which err says). */
int relp_server_reload(struct relp_server *r, char *err, size_t err_len);
/* Starts the engine's thread (after the duplicate window was seeded). 0 or -errno. */
int relp_server_start(struct relp_server *r);
/* Stops the engine's thread after the message in hand is committed and acknowledged
 * (bounded by budget_us: past it the thread is left to the process's exit). */
void relp_server_stop(struct relp_server *r, int64_t budget_us);
void relp_server_free(struct relp_server *r); /* accepts NULL; stops first */
void relp_server_seen(struct relp_server *r, const char *peer, const char *raw_sha256,
                      int64_t received_us);

struct sockaddr_storage;
/* Same IPv4 or IPv6 address (ports ignored): the per-peer connection limits of the TCP/TLS
 * listeners and of RELP (ingest/relp-guard.c) count connections by it. */
bool ingest_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
