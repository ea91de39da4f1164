/* The daemon's HTTP endpoint (libmicrohttpd, its own thread): /healthz (liveness: the main
 * loop turned within HTTP_LIVENESS_STALE_US), /readyz (collectors started, the store took its
 * last write, every output's export backlog at most http.ready_max_backlog epochs) and
 * /metrics (core/metrics.h in the Prometheus text format). Only GET and HEAD; everything else
 * is 405, unknown paths 404. docs/OPERATIONS.md describes the answers. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/queue.h"

struct http_config {
        const char *listen;             /* "HOST:PORT" (port 0: the kernel picks) */
        uint64_t ready_max_backlog;     /* epochs pending per output */
        const char *const *outputs;     /* output names (borrowed), for readiness */
        size_t n_outputs;
        struct queue *q;                /* borrowed: its depth is a gauge */
};

struct http;

/* Binds the listening socket (call before privileges are dropped, so that a low port
 * works). Returns 0 or -errno with err set. */
int http_bind(const struct http_config *cfg, struct http **ret, char *err, size_t err_len);
/* Starts serving on libmicrohttpd's thread. 0 or -errno with err set. */
int http_start(struct http *h, char *err, size_t err_len);
/* The bound port. */
int http_port(const struct http *h);
/* A collector's own readiness (Kafka: brokers reachable): false with why filled makes
 * /readyz answer "not ready: WHY". Called on the HTTP thread (fn must be thread-safe) until
 * replaced (fn NULL: none) or http_free. */
typedef bool (*http_ready_fn)(void *ud, char *why, size_t why_len);
void http_set_ready_check(struct http *h, http_ready_fn fn, void *ud);
/* Collectors started (true) or the daemon is stopping (false): part of readiness. */
void http_set_started(struct http *h, bool started);
/* The main loop is alive (a timer calls this every second); ud is the struct http. */
void http_beat(void *ud);
/* Stops the thread and frees; accepts NULL. */
void http_free(struct http *h);

/* Readiness as /readyz computes it: true when ready; otherwise why (one line) in why. */
bool http_is_ready(struct http *h, char *why, size_t why_len);

/* For gatelog run: binds and starts the endpoint of cfg (http.*; outputs for readiness),
 * logging "listening transport=http" with the port, or that it is disabled (*ret NULL).
 * Returns 0 or -errno (logged). */
struct config;
int http_daemon_start(const struct config *cfg, struct queue *q, struct http **ret);
