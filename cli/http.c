/* The HTTP endpoint: health, readiness and metrics for orchestrators and Prometheus.
 *
 * Load: a probe every few seconds and a scrape every 15-60 s; libmicrohttpd serves them on
 * its own thread, so a slow client never touches the collectors' loop. Nothing here writes
 * anywhere but the socket: the answers are read from atomic state (core/metrics.h, the
 * started flag, the loop's heartbeat). The listening socket is bound by http_bind before
 * privileges are dropped and handed to libmicrohttpd, which closes it at stop. libmicrohttpd is
 * loaded by http_bind (cli/mhd-dl.h), so that commands other than the daemon do not map it. */
#include "cli/http.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include "cli/config.h"
#include "cli/mhd-dl.h"
#include "cli/version.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tm.h"
#include "ingest/ingest.h"

/* /healthz fails when the main loop has not turned for this long: a timer beats every
 * second, so 30 s means the loop is stuck, not busy (a drain at shutdown takes at most a
 * few seconds). */
#define HTTP_LIVENESS_STALE_US (30 * TM_USEC_PER_SEC)
/* Probes and scrapes are few; a cap keeps a flood from taking file descriptors. */
#define HTTP_CONNECTIONS_MAX 32
#define HTTP_TIMEOUT_S 10
/* /metrics is at most a few hundred KiB (METRICS_SERIES_MAX series). */
#define HTTP_METRICS_MAX (4u * 1024 * 1024)

struct http {
        struct http_config cfg;
        int fd, port;
        struct mhd_dl m;               /* libmicrohttpd, loaded by http_bind */
        struct MHD_Daemon *mhd;
        atomic_bool started;
        _Atomic int64_t beat_us;       /* monotonic */
        struct metric *ready_gauge, *depth_gauge, *bytes_gauge;
        struct metric *full_events, *full_bytes; /* counters fed from the queue's own */
        uint64_t full_seen[2];         /* what they were given so far (scrapes take check_lock) */
        const char **names;            /* owned by http_daemon_start's endpoint */
        pthread_mutex_t check_lock;    /* the collectors' own readiness (Kafka brokers) */
        http_ready_fn check;
        void *check_ud;
};

static enum MHD_Result reply(const struct mhd_dl *m, struct MHD_Connection *c, unsigned status,
                             const char *ctype, const char *body, size_t len) {
        struct MHD_Response *r =
                m->create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        m->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        m->add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                m->add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        enum MHD_Result ret = m->queue_response(c, status, r);
        m->destroy_response(r);
        return ret;
}

static enum MHD_Result reply_text(const struct mhd_dl *m, struct MHD_Connection *c,
                                  unsigned status, const char *s) {
        return reply(m, c, status, "text/plain; charset=utf-8", s, strlen(s));
}

bool http_is_ready(struct http *h, char *why, size_t why_len) {
        if (!atomic_load(&h->started)) {
                snprintf(why, why_len, "collectors not started (starting or stopping)");
                return false;
        }
        if (metric_value(metrics_gauge("gatelog_store_writable", "", NULL)) != 1) {
                snprintf(why, why_len, "the last store write failed");
                return false;
        }
        pthread_mutex_lock(&h->check_lock);
        bool ok = !h->check || h->check(h->check_ud, why, why_len);
        pthread_mutex_unlock(&h->check_lock);
        if (!ok)
                return false;
        for (size_t i = 0; i < h->cfg.n_outputs; i++) {
                int64_t b = metric_value(metrics_gauge("gatelog_export_backlog_epochs", "",
                                                       "output", h->cfg.outputs[i], NULL));
                if (b > (int64_t)h->cfg.ready_max_backlog) {
                        snprintf(why, why_len, "output %s: export backlog %lld epochs, more "
                                 "than http.ready_max_backlog %llu", h->cfg.outputs[i],
                                 (long long)b, (unsigned long long)h->cfg.ready_max_backlog);
                        return false;
                }
        }
        return true;
}

static enum MHD_Result serve_metrics(struct http *h, struct MHD_Connection *c) {
        char why[256];
        metric_set(h->ready_gauge, http_is_ready(h, why, sizeof(why)) ? 1 : 0);
        if (h->cfg.q)
                metric_set(h->depth_gauge, (int64_t)queue_depth(h->cfg.q));
        if (h->cfg.q) { /* issue 12: queue.max_bytes, and which limit binds */
                uint64_t ev, by;
                metric_set(h->bytes_gauge, (int64_t)queue_bytes(h->cfg.q));
                queue_full_counts(h->cfg.q, &ev, &by);
                pthread_mutex_lock(&h->check_lock);
                metric_add(h->full_events, ev - h->full_seen[0]);
                metric_add(h->full_bytes, by - h->full_seen[1]);
                h->full_seen[0] = ev;
                h->full_seen[1] = by;
                pthread_mutex_unlock(&h->check_lock);
        }
        struct buf b = { NULL, 0, 0, HTTP_METRICS_MAX };
        int r = metrics_render(&b);
        enum MHD_Result ret =
                r < 0 ? reply_text(&h->m, c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "cannot render the metrics\n")
                      : reply(&h->m, c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                              b.data ? b.data : "", b.len);
        buf_free(&b);
        return ret;
}

static enum MHD_Result handle_cb(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
        struct http *h = cls;
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return reply_text(&h->m, c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        if (!strcmp(url, "/metrics"))
                return serve_metrics(h, c);
        if (!strcmp(url, "/healthz")) {
                int64_t age = tm_mono_us() - atomic_load(&h->beat_us);
                if (age > HTTP_LIVENESS_STALE_US) {
                        char msg[128];
                        snprintf(msg, sizeof(msg), "main loop stalled for %lld s\n",
                                 (long long)(age / TM_USEC_PER_SEC));
                        return reply_text(&h->m, c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
                }
                return reply_text(&h->m, c, MHD_HTTP_OK, "ok\n");
        }
        if (!strcmp(url, "/readyz")) {
                char why[256], msg[300];
                bool ok = http_is_ready(h, why, sizeof(why));
                metric_set(h->ready_gauge, ok ? 1 : 0);
                if (ok)
                        return reply_text(&h->m, c, MHD_HTTP_OK, "ready\n");
                snprintf(msg, sizeof(msg), "not ready: %s\n", why);
                return reply_text(&h->m, c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
        }
        return reply_text(&h->m, c, MHD_HTTP_NOT_FOUND, "not found: /healthz, /readyz, /metrics\n");
}

/* Binds a TCP listening socket on "HOST:PORT". */
static int listen_on(const char *addr, int *ret_fd, int *ret_port, char *err, size_t err_len) {
        char *host = NULL, port[8];
        uint16_t p;
        int r = ingest_parse_hostport(addr, &host, &p);
        if (r < 0) {
                snprintf(err, err_len, "http.listen: bad address '%s'", addr);
                return r;
        }
        snprintf(port, sizeof(port), "%u", p);
        struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                                  .ai_socktype = SOCK_STREAM }, *ai = NULL;
        int g = getaddrinfo(host, port, &hints, &ai);
        free(host);
        if (g != 0) {
                snprintf(err, err_len, "http.listen %s: %s", addr, gai_strerror(g));
                return -EADDRNOTAVAIL;
        }
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
        r = fd < 0 ? -errno : 0;
        if (r == 0 && ai->ai_family == AF_INET6)
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (r == 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
                       bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0))
                r = -errno;
        freeaddrinfo(ai);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (r == 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
                r = -errno;
        if (r < 0) {
                snprintf(err, err_len, "http.listen %s: %s", addr, strerror(-r));
                if (fd >= 0)
                        close(fd);
                return r;
        }
        *ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
        *ret_fd = fd;
        return 0;
}

int http_bind(const struct http_config *cfg, struct http **ret, char *err, size_t err_len) {
        struct http *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->cfg = *cfg;
        h->fd = -1;
        /* Loaded here, before privileges are dropped, like the socket. */
        int r = mhd_dl_open(&h->m, err, err_len);
        if (r < 0) {
                free(h);
                return r;
        }
        pthread_mutex_init(&h->check_lock, NULL);
        atomic_store(&h->beat_us, tm_mono_us());
        r = listen_on(cfg->listen, &h->fd, &h->port, err, err_len);
        if (r < 0) {
                pthread_mutex_destroy(&h->check_lock);
                mhd_dl_close(&h->m);
                free(h);
                return r;
        }
        *ret = h;
        return 0;
}

int http_start(struct http *h, char *err, size_t err_len) {
        h->ready_gauge = metrics_gauge("gatelog_ready", "1 when /readyz answers ready", NULL);
        h->depth_gauge = metrics_gauge("gatelog_queue_depth", "Events waiting between the "
                                       "collectors and the writer", NULL);
        h->bytes_gauge = metrics_gauge("gatelog_queue_bytes", "Bytes the waiting events hold "
                                       "(queue.max_bytes)", NULL);
        h->full_events = metrics_counter("gatelog_queue_full_total", "Pushes that met a full "
                                         "queue (TCP paused, UDP dropped), by the limit that "
                                         "bound", "limit", "max_events", NULL);
        h->full_bytes = metrics_counter("gatelog_queue_full_total", "", "limit", "max_bytes",
                                        NULL);
        /* The store was opened and written before the endpoint starts. */
        metric_set(metrics_gauge("gatelog_store_writable", "1 while the last store write "
                                 "succeeded", NULL), 1);
        metric_set(metrics_gauge("gatelog_build_info", "The running build (1)", "version",
                                 GATELOG_VERSION, "commit", version_commit(), NULL), 1);
        metric_set(metrics_gauge("gatelog_start_time_seconds", "When the daemon started, "
                                 "Unix time", NULL), tm_now_us() / TM_USEC_PER_SEC);
        for (size_t i = 0; i < h->cfg.n_outputs; i++)
                metrics_export_backlog(h->cfg.outputs[i], 0);
        h->mhd = h->m.start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
                                   handle_cb, h, MHD_OPTION_LISTEN_SOCKET, h->fd,
                                   MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
                                   MHD_OPTION_END);
        if (!h->mhd) {
                snprintf(err, err_len, "http.listen: libmicrohttpd did not start");
                return -EIO;
        }
        h->fd = -1; /* libmicrohttpd closes it at stop */
        return 0;
}

int http_port(const struct http *h) {
        return h->port;
}

void http_set_ready_check(struct http *h, http_ready_fn fn, void *ud) {
        if (!h)
                return;
        pthread_mutex_lock(&h->check_lock);
        h->check = fn;
        h->check_ud = ud;
        pthread_mutex_unlock(&h->check_lock);
}

void http_set_started(struct http *h, bool started) {
        if (h)
                atomic_store(&h->started, started);
}

void http_beat(void *ud) {
        struct http *h = ud;
        if (h)
                atomic_store(&h->beat_us, tm_mono_us());
}

void http_free(struct http *h) {
        if (!h)
                return;
        if (h->mhd)
                h->m.stop_daemon(h->mhd);
        if (h->fd >= 0)
                close(h->fd);
        free(h->names);
        pthread_mutex_destroy(&h->check_lock);
        mhd_dl_close(&h->m);
        free(h);
}

int http_daemon_start(const struct config *cfg, struct queue *q, struct http **ret) {
        char err[256] = "";
        *ret = NULL;
        if (!cfg->http.enabled) {
                log_info("http endpoint disabled", "hint=\"%s\"", "http.enabled: true serves "
                         "/healthz, /readyz and /metrics");
                return 0;
        }
        /* The names are borrowed from cfg, which outlives the endpoint. */
        const char **names = calloc(cfg->n_outputs + 1, sizeof(*names));
        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < cfg->n_outputs; i++) {
                names[i] = cfg->outputs[i].name;
                metrics_daemon_init(names[i], NULL);
        }
        metrics_daemon_init(NULL, NULL);
        for (size_t i = 0; i < cfg->syslog.n_listen; i++) {
                enum ingest_transport t = cfg->syslog.listen[i].transport;
                metrics_daemon_init(NULL, t == INGEST_UDP ? "syslog/udp"
                                          : t == INGEST_TCP ? "syslog/tcp" : "syslog/unix");
        }
        struct http_config hc = {
                .listen = cfg->http.listen, .ready_max_backlog = cfg->http.ready_max_backlog,
                .outputs = names, .n_outputs = cfg->n_outputs, .q = q,
        };
        struct http *h = NULL;
        int r = http_bind(&hc, &h, err, sizeof(err));
        if (r >= 0) {
                h->names = names;
                r = http_start(h, err, sizeof(err));
        } else {
                free(names);
        }
        if (r < 0) {
                log_error("cannot start the http endpoint", "error=\"%s\"", err);
                http_free(h);
                return r;
        }
        log_info("listening", "transport=http addr=%s port=%d", cfg->http.listen, h->port);
        *ret = h;
        return 0;
}
