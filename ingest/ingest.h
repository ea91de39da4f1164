/* ingest/: collectors. Each turns what arrives on a file descriptor into events (a gate
 * record built by normalize/ and its receipt time) pushed onto the writer's queue.
 *
 * Syslog: UDP, TCP and unix datagram sockets. TCP tells RFC 6587 octet counting from
 * newline framing by the first byte of each frame (a digit 1-9 means octet counting), as
 * rsyslog does: deciding per frame rather than once per connection is strictly more tolerant
 * and equal on every well-behaved stream (see ingest/syslog-frame.c).
 * Memory is bounded: when the queue is full, TCP connections stop being read (the kernel
 * then applies backpressure to the sender) until the queue's space fd fires, and datagrams
 * are dropped and counted (DROP_QUEUE_FULL), as are the kernel's own drops on our sockets
 * (SO_MEMINFO, DROP_KERNEL_OVERFLOW). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/loop.h"
#include "core/queue.h"
#include "normalize/normalize.h"

enum ingest_transport { INGEST_UDP, INGEST_TCP, INGEST_UNIX, INGEST_TLS, INGEST_RELP };

/* ---- TLS and RELP listeners (issue 8) ----
 * TLS (RFC 5425): octet-counted syslog over TLS 1.2 or later (OpenSSL), optionally with
 * client certificates checked against ca and an allow-list of names (subject CN or SAN DNS).
 * The verified identity goes into every record's source.tls. RELP (librelp), optionally
 * over TLS: a message is acknowledged only after its record is committed. */
struct ingest_tls_options {
        char *cert;             /* PEM certificate chain of the server; required */
        char *key;              /* PEM private key; required */
        char *ca;               /* PEM CA bundle that client certificates must chain to */
        bool verify_client;     /* require and verify a client certificate (needs ca) */
        char **allowed_names;   /* NULL or n_allowed_names names: a client must match one */
        size_t n_allowed_names;
        char *ciphers;          /* OpenSSL cipher list for TLS 1.2; NULL: OpenSSL's default */
        int64_t handshake_timeout_us;   /* 0: INGEST_TLS_HANDSHAKE_TIMEOUT_US */
        int64_t idle_timeout_us;        /* no complete message for this long; 0: default */
        size_t max_per_peer;            /* connections from one address; 0: default */
};

struct ingest_listen {
        enum ingest_transport transport;
        char *addr;     /* "HOST:PORT" ("[::1]:514" for IPv6) or, for unix, a path */
        bool tls;       /* INGEST_TLS always; INGEST_RELP when "tls: true" */
        struct ingest_tls_options tls_opt;      /* owned strings; zero when !tls */
};

/* Frees what ingest_listen owns (addr and tls_opt) and zeroes it. Accepts NULL. */
void ingest_listen_clear(struct ingest_listen *l);
/* "udp", "tcp", "unix", "tls", "relp". */
const char *ingest_transport_name(enum ingest_transport t);

struct ingest_syslog;

struct ingest_syslog_config {
        const struct ingest_listen *listen;
        size_t n_listen;
        size_t max_message;      /* bytes; longer messages are truncated and flagged */
        size_t max_connections;  /* TCP connections at once, all listeners together */
        enum norm_format format;
        /* RELP (issue 8): called once by ingest_syslog_new before RELP messages are taken,
         * to feed the duplicate window what the store holds (ingest_syslog_relp_seen).
         * May be NULL. */
        void (*relp_seed_cb)(void *ud, struct ingest_syslog *s);
        void *relp_seed_ud;
};

/* Binds every listener (so that errors show before the daemon reports ready) and registers
 * them in loop. Events go to q; losses to drops (both borrowed, must outlive the collector).
 * Returns 0 or -errno with err naming the listener that failed. */
int ingest_syslog_new(const struct ingest_syslog_config *cfg, struct loop *loop,
                      struct queue *q, struct drop_counters *drops,
                      struct ingest_syslog **ret, char *err, size_t err_len);
/* Stops accepting: reads what datagram sockets already hold (waiting for queue space, for at
 * most 2 s), then closes the listeners (not established connections). */
void ingest_syslog_stop_accepting(struct ingest_syslog *s);
/* Reads what established connections still have buffered (bounded by the time given),
 * pushes complete frames, counts partial ones as DROP_SHUTDOWN, and closes them. */
void ingest_syslog_drain(struct ingest_syslog *s, int64_t budget_us);
/* Closes everything and frees. Accepts NULL. */
void ingest_syslog_free(struct ingest_syslog *s);
/* The local port a listener got (for port 0 in tests); -ENOENT if i is out of range. */
int ingest_syslog_port(const struct ingest_syslog *s, size_t i);
/* Re-reads every TLS listener's certificate, key and CA files (SIGHUP). New connections
 * use them; established ones keep theirs. On error the old ones stay and err says which
 * listener failed; returns 0 or -errno. Loop thread only. */
int ingest_syslog_reload(struct ingest_syslog *s, char *err, size_t err_len);
/* Tells the RELP duplicate detector that a record with this raw_sha256 (hex) from this RELP
 * peer address was stored at received_us (the daemon seeds it from the store at start, so
 * that resends after a restart are flagged). Ignored when there is no RELP listener. */
void ingest_syslog_relp_seen(struct ingest_syslog *s, const char *peer, const char *raw_sha256,
                             int64_t received_us);
/* Does any listener speak RELP? */
bool ingest_syslog_has_relp(const struct ingest_syslog *s);

/* ---- Framing (ingest/syslog-frame.c), exposed for tests and fuzzing ----
 * Splits a TCP byte stream into messages; the framing is chosen at every frame start.
 * Octet counting: "LEN SP MSG" with LEN 1-9 digits,
 * no leading zero; newline framing: MSG ends at LF (a CR before it is kept by the parser's
 * trailing-strip). Messages longer than max are cut at max and flagged truncated; the rest of
 * that frame is discarded, never buffered. A frame that starts with neither a digit nor a
 * printable byte is still newline-framed. */
struct syslog_framer;
typedef int (*syslog_frame_cb)(void *ud, const char *msg, size_t len, bool truncated);
int syslog_framer_new(size_t max, struct syslog_framer **ret);
void syslog_framer_free(struct syslog_framer *f);
/* Feeds bytes; calls cb for each complete message. Returns 0, or cb's negative value. */
int syslog_framer_feed(struct syslog_framer *f, const char *p, size_t n, syslog_frame_cb cb,
                       void *ud);
/* End of stream: a newline-framed message without its LF is delivered (RFC 6587 senders
 * such as logger close the connection after the last one); a partial octet-counted frame
 * is not (returns 1 when bytes were discarded so the caller can count them). */
int syslog_framer_finish(struct syslog_framer *f, syslog_frame_cb cb, void *ud);

/* ---- Additions (ingest engineer) ---- */

/* Like syslog_framer_feed, but when cb returns <0 it stops right after that callback and
 * sets *ret_used to the bytes consumed so far (the framer's state matches exactly those
 * bytes): the caller keeps p[used..n) and feeds it later. *ret_used is n on success. */
int syslog_framer_feed_some(struct syslog_framer *f, const char *p, size_t n,
                            syslog_frame_cb cb, void *ud, size_t *ret_used);
/* Does the framer hold bytes of an unfinished frame (what finish would deliver or discard)? */
bool syslog_framer_pending(const struct syslog_framer *f);

/* Splits "HOST:PORT" or "[V6ADDR]:PORT" (PORT 0-65535, decimal; HOST non-empty, an IPv6
 * literal must be bracketed). *ret_host is malloc'd. Returns 0, -EINVAL or -ENOMEM. */
int ingest_parse_hostport(const char *addr, char **ret_host, uint16_t *ret_port);
