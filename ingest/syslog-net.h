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

struct listener {
        struct ingest_syslog *s;
        enum ingest_transport transport;
        int fd;                 /* -1 once closed */
        int port;               /* bound port; -1 for unix */
        char *path;             /* unix: the socket path (also the records' peer); owned */
        dev_t dev;              /* unix: identity of the socket file we created */
        ino_t ino;
        uint32_t ovfl;          /* last SK_MEMINFO_DROPS seen (cumulative in the kernel) */
};

/* Opens and binds (and for TCP, listens) the socket cfg names: sets fd, transport, port,
 * path. Returns 0 or -errno (-EADDRINUSE: a live unix socket is there; -EEXIST: a file that
 * is not a socket). l->path may be set even on failure (the caller frees it). */
int syslog_listener_bind(struct listener *l, const struct ingest_listen *cfg);
/* Closes the socket and removes a unix socket file that is still ours. Idempotent. */
void syslog_listener_unbind(struct listener *l);
/* "IP:PORT" or "[IPv6]:PORT" of a peer address. */
void syslog_format_peer(const struct sockaddr_storage *ss, char *out, size_t len);
