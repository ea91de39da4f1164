/* RELP listeners (rsyslog's Reliable Event Logging Protocol) with librelp, optionally over
 * TLS, acknowledging a message only after its record is committed.
 *
 * librelp runs its own event loop (relpEngineRun blocks, and exposes no descriptors), so it
 * gets a thread of its own. librelp (1.11) sends "200 OK" for a message as soon as the receive
 * callback returns and offers no deferred response, so the callback pushes the event and
 * then waits until the writer says the transaction holding it committed (the event's sink,
 * core/event.h). That is what makes the acknowledgement mean "stored": a sender (rsyslog's
 * omrelp) resends whatever was not acknowledged when the session broke, so a crash or a
 * SIGKILL of gatelog loses nothing. The price: the engine handles one message at a time,
 * each waiting for one commit (a few milliseconds with synchronous=FULL), which bounds RELP
 * at a few hundred messages per second per daemon; enough for evidence relays, not for bulk.
 *
 * Duplicates: after a break the sender resends messages whose acknowledgement it did not
 * see, some of which we stored (the commit happened, the "200 OK" did not reach it). RELP's
 * txnr restarts with every session, so it cannot tell them apart; instead a message whose
 * raw bytes (raw_sha256) equal those of a message stored from the same peer address within
 * RELP_DEDUP_WINDOW_US is stored again and flagged "possible_duplicate", never dropped. The
 * window is seeded from the store at start (ingest_syslog_relp_seen), so resends after a
 * restart are caught too. Identical messages sent on purpose within the window are flagged
 * as well: the flag says "possible".
 *
 * No pipelining: librelp calls the receive callback for one frame at a time, on its one
 * thread, and writes "200 OK" as soon as the callback returns (whatever it returns); it
 * has no deferred or asynchronous acknowledgement. The only way to acknowledge after the
 * commit is to wait inside the callback, so every message of a sender's window waits for
 * its own commit and the writer never gets two RELP messages into one transaction.
 *
 * Limits (relp-guard.c): connections, per-peer connections, TLS handshake and idle
 * timeouts, enforced from librelp's debug lines since it has no hooks for them. Frames: the
 * listener runs librelp's "truncate" oversize mode with a maximum of max_message + 1, so a
 * frame over max_message arrives cut (librelp skips the rest by its declared length, the
 * session stays in step); it is stored cut to max_message, flagged "truncated" and counted
 * as DROP_FRAME_TOO_LARGE, and the session goes on.
 *
 * TLS certificates: librelp reads the certificate and key files for every new session. It
 * is given a memfd holding both (/proc/self/fd/N), refilled on SIGHUP after the new files
 * were checked and swapped in with one dup3: sessions opened after the reload present the
 * new certificate, established ones keep going, a bad file changes nothing. The CA goes
 * into librelp's TLS context once, at start: it is not reloaded. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "core/hash.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/tm.h"
#include "ingest/relp-dl.h"
#include "ingest/relp-guard.h"
#include "ingest/relp-pem.h"
#include "ingest/syslog-net.h"

/* The engine thread is woken from epoll_wait by this signal to see its stop flag. */
#define RELP_WAKE_SIGNAL SIGUSR2
#define RELP_RETRY_NS (2 * 1000 * 1000)
/* A wait on the writer longer than this restarts every session's idle time (relp-guard.h). */
#define RELP_STALL_US (1000 * 1000)
/* The engine is woken this often to let the guard check its timeouts. */
#define RELP_TICK_NS (250 * 1000 * 1000)

struct relp_lst {
        struct relp_server *r;
        const struct ingest_listen *cfg;
        uint16_t port;
        int pem_fd;             /* TLS: memfd with the certificate chain and key; else -1 */
        char pem_path[40];      /* "/proc/self/fd/N", what librelp opens per session */
};

struct dedup_entry {
        uint8_t key[HASH_LEN];  /* SHA-256 of peer NUL raw_sha256 */
        int64_t us;
        int32_t next;           /* bucket chain; -1 ends */
};

struct relp_server {
        struct relp_dl rl;      /* librelp, loaded by relp_server_new */
        relpEngine_t *eng;
        struct relp_lst *lsts;
        size_t n_lsts;
        struct queue *q;
        struct drop_counters *drops;
        size_t max_message;
        enum norm_format fmt;
        pthread_t thread, ticker;
        bool started, joined, ticking;
        struct relp_guard *guard;       /* engine thread only, once started */
        atomic_bool stopping, done;
        /* acknowledgement after commit */
        struct event_sink sink;
        pthread_mutex_t mu;
        pthread_cond_t cv, tick_cv;
        uint64_t committed;     /* highest token the writer reported committed */
        uint64_t next_token;    /* engine thread only */
        /* duplicate window: a ring of entries in arrival order, indexed by hash chains */
        pthread_mutex_t dmu;
        struct dedup_entry *ring;
        int32_t *buckets;
        size_t head, count;
};

/* librelp's debug callback takes no user pointer: the engine thread finds its server
 * here (set once by relp_thread; every other thread sees NULL). */
static _Thread_local struct relp_server *relp_self;

static void relp_dbg_cb(char *fmt, ...)
{
        struct relp_server *r = relp_self;
        va_list ap;

        /* Set it, always: librelp crashes without one (PEERS.md). Its lines also drive the
         * limits (relp-guard.h); the rest is chatter. */
        if (!r)
                return;
        va_start(ap, fmt);
        relp_guard_dbg(r->guard, fmt, ap);
        va_end(ap);
}

static void relp_err_cb(void *usr, char *obj, char *msg, relpRetVal code)
{
        /* A sender closing its session, and an oversize frame (logged by relp_rcv_cb), are
         * not errors. A failed TLS handshake is a client's doing, one of a few lines that
         * the guard's "relp session closed … reason=tls_refused" ends: info, like the TLS
         * listener's refusals, so that a flood of bad clients does not fill the warnings. */
        enum log_level lvl = LOG_LVL_WARN;

        if (code == RELP_RET_SESSION_BROKEN || code == RELP_RET_DATA_TOO_LONG)
                lvl = LOG_LVL_DEBUG;
        else if (code == RELP_RET_ERR_TLS_SETUP || code == RELP_RET_ERR_TLS_HANDS ||
                 code == RELP_RET_ERR_TLS)
                lvl = LOG_LVL_INFO;
        log_write(lvl, "relp error", "object=\"%s\" error=\"%s\" code=%d", obj ? obj : "",
                  msg ? msg : "", code);
}

static void relp_auth_err_cb(void *usr, char *auth, char *msg, relpRetVal code)
{
        struct relp_server *r = relp_self;

        log_info("relp client refused", "client=\"%s\" reason=\"%s\" code=%d",
                 auth ? auth : "", msg ? msg : "", code);
        if (r)
                relp_guard_auth_failed(r->guard);
}

static void relp_generic_err_cb(char *obj, char *msg, relpRetVal code)
{
        log_warn("relp error", "object=\"%s\" error=\"%s\" code=%d", obj ? obj : "",
                 msg ? msg : "", code);
}

static void relp_committed_cb(void *ud, uint64_t token)
{
        struct relp_server *r = ud;

        pthread_mutex_lock(&r->mu);
        if (token > r->committed)
                r->committed = token;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
}

/* ---- the duplicate window ---- */

static void dedup_key(const char *peer, const char *raw_sha256, uint8_t key[HASH_LEN])
{
        hash_sha256_2(peer, strlen(peer) + 1, raw_sha256, strlen(raw_sha256), key);
}

static uint32_t dedup_bucket(const uint8_t key[HASH_LEN])
{
        uint32_t b;

        memcpy(&b, key, sizeof(b));
        return b % RELP_DEDUP_MAX;
}

/* Was this key stored within the window before received_us? Remembers it either way. */
static bool dedup_check_add(struct relp_server *r, const uint8_t key[HASH_LEN],
                            int64_t received_us)
{
        uint32_t b = dedup_bucket(key);
        bool dup = false;

        pthread_mutex_lock(&r->dmu);
        for (int32_t i = r->buckets[b]; i >= 0; i = r->ring[i].next)
                if (!memcmp(r->ring[i].key, key, HASH_LEN) &&
                    received_us - r->ring[i].us <= RELP_DEDUP_WINDOW_US &&
                    received_us >= r->ring[i].us) {
                        dup = true;
                        break;
                }
        /* The oldest entry makes room: unlink it from its chain first. */
        size_t slot = (r->head + r->count) % RELP_DEDUP_MAX;
        if (r->count == RELP_DEDUP_MAX) {
                struct dedup_entry *old = &r->ring[r->head];
                int32_t *pp = &r->buckets[dedup_bucket(old->key)];

                while (*pp >= 0 && *pp != (int32_t)r->head)
                        pp = &r->ring[*pp].next;
                if (*pp >= 0)
                        *pp = old->next;
                slot = r->head;
                r->head = (r->head + 1) % RELP_DEDUP_MAX;
                r->count--;
        }
        memcpy(r->ring[slot].key, key, HASH_LEN);
        r->ring[slot].us = received_us;
        r->ring[slot].next = r->buckets[b];
        r->buckets[b] = (int32_t)slot;
        r->count++;
        pthread_mutex_unlock(&r->dmu);
        return dup;
}

void relp_server_seen(struct relp_server *r, const char *peer, const char *raw_sha256,
                      int64_t received_us)
{
        uint8_t key[HASH_LEN];

        if (!r || !peer || !raw_sha256)
                return;
        dedup_key(peer, raw_sha256, key);
        (void)dedup_check_add(r, key, received_us);
}

/* Adds "possible_duplicate" to the record's sorted flags array. */
static int flag_add(json *rec, const char *flag)
{
        json *flags = json_obj_get(rec, "flags");
        json *out = json_new_arr();
        bool added = false;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; flags && i < json_len(flags); i++) {
                const char *f = json_str(json_arr_at(flags, i), NULL);

                if (!f)
                        continue;
                if (!added && strcmp(flag, f) <= 0) {
                        added = true;
                        if (strcmp(flag, f) != 0 && json_arr_append(out, json_new_str(flag)) < 0)
                                goto fail;
                }
                if (json_arr_append(out, json_new_str(f)) < 0)
                        goto fail;
        }
        if (!added && json_arr_append(out, json_new_str(flag)) < 0)
                goto fail;
        return json_obj_set(rec, "flags", out);
fail:
        json_free(out);
        return -ENOMEM;
}

/* ---- receiving ---- */

static void relp_nap(void)
{
        struct timespec ts = { 0, RELP_RETRY_NS };

        nanosleep(&ts, NULL);
}

/* source.tls of a RELP-over-TLS record. librelp checked the client (auth mode "name"
 * against allowed_names, or "certvalid": any certificate that chains to ca) but does not
 * hand the certificate over: the record says what was checked, not who it was. */
static int relp_tls_source(const struct ingest_tls_options *o, json **ret)
{
        json *tls = json_new_obj();
        json *names = json_new_arr();
        const char *auth = !o->verify_client ? "none" : o->n_allowed_names ? "name"
                                                                          : "certvalid";

        if (!tls || !names)
                goto fail;
        for (size_t i = 0; i < o->n_allowed_names; i++)
                if (json_arr_append(names, json_new_str(o->allowed_names[i])) < 0)
                        goto fail;
        if (json_obj_set_str(tls, "library", "librelp") < 0 ||
            json_obj_set(tls, "verified", json_new_bool(o->verify_client)) < 0 ||
            json_obj_set_str(tls, "auth", auth) < 0)
                goto fail;
        if (json_obj_set(tls, "allowed_names", names) < 0) {  /* takes names always */
                json_free(tls);
                return -ENOMEM;
        }
        *ret = tls;
        return 0;
fail:
        json_free(names);
        json_free(tls);
        return -ENOMEM;
}

/* Builds the record; retried on memory shortage, since a message must never be
 * acknowledged without its record. */
static json *relp_record(struct relp_lst *L, const char *ip, const unsigned char *msg,
                         size_t len, bool truncated, int64_t received_us)
{
        struct relp_server *r = L->r;
        struct norm_source src = { .kind = "syslog", .transport = "relp", .peer = ip };
        uint8_t key[HASH_LEN];
        json *rec = NULL;

        for (;;) {
                json *tls = NULL;
                const char *raw;

                if (normalize_syslog((const char *)msg, len, truncated, &src, received_us,
                                     r->fmt, &rec) < 0)
                        goto retry;
                if (L->cfg->tls) {
                        if (relp_tls_source(&L->cfg->tls_opt, &tls) < 0)
                                goto retry;
                        if (json_path_set(rec, "source.tls", tls) < 0)
                                goto retry;  /* it took tls */
                }
                raw = json_str(json_obj_get(rec, "raw_sha256"), NULL);
                if (raw) {
                        dedup_key(ip, raw, key);
                        if (dedup_check_add(r, key, received_us) &&
                            flag_add(rec, "possible_duplicate") < 0)
                                goto retry;
                }
                return rec;
retry:
                json_free(rec);
                rec = NULL;
                relp_nap();
        }
}

static relpRetVal relp_rcv_cb(void *usr, unsigned char *host, unsigned char *ip,
                              unsigned char *msg, size_t len)
{
        struct relp_lst *L = usr;
        struct relp_server *r = L->r;
        int64_t now = tm_now_us();
        const char *peer = ip ? (const char *)ip : "unknown";
        bool cut = len > r->max_message;
        json *rec;
        struct event *e;
        uint64_t token;
        int64_t wait_start;
        int q;

        if (cut) {
                /* librelp delivers at most max_message + 1 bytes of a longer frame (its
                 * truncate mode): store max_message, flagged, like the TCP framer. */
                len = r->max_message;
                drop_count(r->drops, DROP_FRAME_TOO_LARGE, 1);
                log_info("relp frame truncated", "listener=%s peer=%s max=%zu",
                         L->cfg->addr, peer, r->max_message);
        }
        rec = relp_record(L, peer, msg, len, cut, now);
        while (!(e = event_new(rec, now))) {
                /* event_new took rec and freed it: build it again. */
                relp_nap();
                rec = relp_record(L, peer, msg, len, cut, now);
        }
        token = ++r->next_token;
        e->sink = &r->sink;
        e->sink_token = token;
        while ((q = queue_push(r->q, e)) == -EAGAIN)
                relp_nap();  /* the writer frees room; the sender waits for its ack */
        if (q < 0) {
                /* The queue closed: cannot happen while the engine runs (it is stopped
                 * before the queue closes). Never acknowledge what was not stored: hold
                 * this message until the process exits. */
                event_free(e);
                log_error("relp message cannot be stored; not acknowledging", "peer=%s",
                          ip ? (const char *)ip : "unknown");
                for (;;)
                        pause();
        }
        wait_start = tm_mono_us();
        pthread_mutex_lock(&r->mu);
        while (r->committed < token)
                pthread_cond_wait(&r->cv, &r->mu);
        pthread_mutex_unlock(&r->mu);
        if (tm_mono_us() - wait_start > RELP_STALL_US)
                relp_guard_stalled(r->guard, tm_mono_us());
        return RELP_RET_OK;  /* librelp now sends "200 OK" */
}

/* ---- the engine ---- */

static void relp_wake_handler(int sig)
{
        (void)sig;  /* only interrupts epoll_wait */
}

static void *relp_thread(void *ud)
{
        struct relp_server *r = ud;
        relpRetVal rv;

        relp_self = r;
        rv = r->rl.relpEngineRun(r->eng);
        relp_self = NULL;
        if (rv != RELP_RET_OK && !atomic_load(&r->stopping))
                log_error("relp engine stopped", "code=%d", rv);
        atomic_store(&r->done, true);
        return NULL;
}

int relp_server_reload(struct relp_server *r, char *err, size_t err_len)
{
        int *fds;
        int rc = 0;

        if (!r)
                return 0;
        fds = calloc(r->n_lsts + 1, sizeof(*fds));
        if (!fds) {
                snprintf(err, err_len, "relp: %s", strerror(ENOMEM));
                return -ENOMEM;
        }
        /* Check every listener's files first: a bad one changes nothing anywhere. */
        for (size_t i = 0; i < r->n_lsts; i++) {
                fds[i] = -1;
                if (rc == 0 && r->lsts[i].pem_fd >= 0) {
                        char e[400];

                        fds[i] = relp_pem_build(&r->lsts[i].cfg->tls_opt, e, sizeof(e));
                        if (fds[i] < 0) {
                                rc = fds[i];
                                snprintf(err, err_len, "relp %s: %s", r->lsts[i].cfg->addr, e);
                        }
                }
        }
        for (size_t i = 0; i < r->n_lsts; i++) {
                if (fds[i] < 0)
                        continue;
                /* One atomic swap: a session librelp opens now reads the old or the new
                 * file whole, never a mix. */
                if (rc == 0 && dup3(fds[i], r->lsts[i].pem_fd, O_CLOEXEC) < 0) {
                        rc = -errno;
                        snprintf(err, err_len, "relp %s: dup3: %s", r->lsts[i].cfg->addr,
                                 strerror(errno));
                }
                close(fds[i]);
        }
        free(fds);
        return rc;
}

/* Wakes the engine from epoll_wait every RELP_TICK_NS, so that the guard's timeouts run
 * even when no socket stirs (librelp waits without a timeout). */
static void *relp_ticker(void *ud)
{
        struct relp_server *r = ud;

        pthread_mutex_lock(&r->mu);
        while (!atomic_load(&r->stopping)) {
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += RELP_TICK_NS;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&r->tick_cv, &r->mu, &ts);
                if (!atomic_load(&r->stopping))
                        pthread_kill(r->thread, RELP_WAKE_SIGNAL);
        }
        pthread_mutex_unlock(&r->mu);
        return NULL;
}

static int relp_listener_add(struct relp_server *r, struct relp_lst *L, char *err,
                             size_t err_len)
{
        const struct ingest_listen *l = L->cfg;
        const struct ingest_tls_options *o = &l->tls_opt;
        char portstr[8];
        relpSrv_t *srv = NULL;
        uint16_t port;
        char *host = NULL;
        relpRetVal rv;
        int r2 = ingest_parse_hostport(l->addr, &host, &port);

        if (r2 < 0) {
                snprintf(err, err_len, "relp %s: bad address", l->addr);
                return r2;
        }
        snprintf(portstr, sizeof(portstr), "%u", port);
        L->port = port;
        if (l->tls) {
                char e[400];

                L->pem_fd = relp_pem_build(o, e, sizeof(e));
                if (L->pem_fd < 0) {
                        free(host);
                        snprintf(err, err_len, "relp %s: %s", l->addr, e);
                        return L->pem_fd;
                }
                snprintf(L->pem_path, sizeof(L->pem_path), "/proc/self/fd/%d", L->pem_fd);
        }
        rv = r->rl.relpEngineListnerConstruct(r->eng, &srv);
        if (rv == RELP_RET_OK)
                rv = r->rl.relpSrvSetUsrPtr(srv, L);
        if (rv == RELP_RET_OK)
                rv = r->rl.relpSrvSetLstnPort(srv, (unsigned char *)portstr);
        if (rv == RELP_RET_OK)
                rv = r->rl.relpSrvSetLstnAddr(srv, (unsigned char *)host);
        if (rv == RELP_RET_OK)
                rv = r->rl.relpSrvSetMaxDataSize(srv, r->max_message + 1);
        if (rv == RELP_RET_OK)
                rv = r->rl.relpSrvSetOversizeMode(srv, RELP_OVERSIZE_TRUNCATE);
        if (rv == RELP_RET_OK && l->tls) {
                rv = r->rl.relpSrvEnableTLS2(srv);
                if (rv == RELP_RET_OK)
                        rv = r->rl.relpSrvSetOwnCert(srv, L->pem_path);
                if (rv == RELP_RET_OK)
                        rv = r->rl.relpSrvSetPrivKey(srv, L->pem_path);
                if (rv == RELP_RET_OK && o->ca)
                        rv = r->rl.relpSrvSetCACert(srv, o->ca);
                if (rv == RELP_RET_OK && o->verify_client)
                        rv = r->rl.relpSrvSetAuthMode(srv, o->n_allowed_names ? "name"
                                                                              : "certvalid");
                for (size_t i = 0; rv == RELP_RET_OK && i < o->n_allowed_names; i++)
                        rv = r->rl.relpSrvAddPermittedPeer(srv, o->allowed_names[i]);
                if (rv == RELP_RET_OK && o->ciphers) {
                        char cmd[600];

                        snprintf(cmd, sizeof(cmd), "CipherString=%s", o->ciphers);
                        rv = r->rl.relpSrvSetTlsConfigCmd(srv, cmd);
                }
        }
        free(host);
        if (rv == RELP_RET_OK) {
                rv = r->rl.relpEngineListnerConstructFinalize(r->eng, srv);
                if (rv == RELP_RET_OK)
                        return 0;
                /* librelp keeps no reference to a listener that failed to start */
        }
        snprintf(err, err_len, "relp %s: %s (librelp error %d)", l->addr,
                 rv == RELP_RET_COULD_NOT_BIND ? "cannot bind" :
                 rv == RELP_RET_ERR_TLS_SETUP ? "TLS setup failed (cert, key or ca)" :
                 "cannot start the listener", rv);
        return rv == RELP_RET_COULD_NOT_BIND ? -EADDRINUSE : -EINVAL;
}

int relp_server_new(const struct ingest_listen *const *ls, size_t n, struct queue *q,
                    struct drop_counters *drops, size_t max_message, size_t max_connections,
                    enum norm_format fmt, struct relp_server **ret, char *err, size_t err_len)
{
        struct relp_server *r = calloc(1, sizeof(*r));
        uint16_t *ports = NULL;
        bool tls = false;
        int rc = -ENOMEM;

        if (!r)
                goto fail_msg;
        pthread_mutex_init(&r->mu, NULL);
        pthread_cond_init(&r->cv, NULL);
        pthread_mutex_init(&r->dmu, NULL);
        pthread_cond_init(&r->tick_cv, NULL);
        r->q = q;
        r->drops = drops;
        r->max_message = max_message;
        r->fmt = fmt;
        r->sink.committed_cb = relp_committed_cb;
        r->sink.ud = r;
        r->lsts = calloc(n, sizeof(*r->lsts));
        r->ring = calloc(RELP_DEDUP_MAX, sizeof(*r->ring));
        r->buckets = malloc(RELP_DEDUP_MAX * sizeof(*r->buckets));
        ports = calloc(n ? n : 1, sizeof(*ports));
        if (!r->lsts || !r->ring || !r->buckets || !ports)
                goto fail_msg;
        for (size_t i = 0; i < n; i++)
                r->lsts[i].pem_fd = -1;
        for (size_t i = 0; i < RELP_DEDUP_MAX; i++)
                r->buckets[i] = -1;
        /* Loaded here, only by a daemon with RELP listeners (round 13). */
        rc = relp_dl_open(&r->rl, err, err_len);
        if (rc < 0)
                goto fail;
        rc = -ENOMEM;
        if (r->rl.relpEngineConstruct(&r->eng) != RELP_RET_OK)
                goto fail_msg;
        /* First, before anything else: librelp crashes without it (PEERS.md). */
        r->rl.relpEngineSetDbgprint(r->eng, relp_dbg_cb);
        r->rl.relpEngineSetDnsLookupMode(r->eng, 0);
        r->rl.relpEngineSetOnErr(r->eng, relp_err_cb);
        r->rl.relpEngineSetOnAuthErr(r->eng, relp_auth_err_cb);
        r->rl.relpEngineSetOnGenericErr(r->eng, relp_generic_err_cb);
        r->rl.relpEngineSetSyslogRcv2(r->eng, relp_rcv_cb);
        r->rl.relpEngineSetEnableCmd(r->eng, (unsigned char *)"syslog", eRelpCmdState_Required);
        for (size_t i = 0; i < n; i++)
                tls |= ls[i]->tls;
        if (tls && r->rl.relpEngineSetTLSLibByName(r->eng, "openssl") != RELP_RET_OK) {
                snprintf(err, err_len, "relp: librelp has no OpenSSL support");
                rc = -ENOTSUP;
                goto fail;
        }
        for (size_t i = 0; i < n; i++) {
                r->lsts[i].r = r;
                r->lsts[i].cfg = ls[i];
                r->n_lsts++;
                rc = relp_listener_add(r, &r->lsts[i], err, err_len);
                if (rc < 0)
                        goto fail;
                ports[i] = r->lsts[i].port;
        }
        rc = relp_guard_new(ls, ports, n, max_connections, drops, &r->guard);
        if (rc < 0)
                goto fail_msg;
        free(ports);
        *ret = r;
        return 0;
fail_msg:
        snprintf(err, err_len, "relp: %s", strerror(ENOMEM));
fail:
        free(ports);
        relp_server_free(r);
        return rc;
}

int relp_server_start(struct relp_server *r)
{
        struct sigaction sa = { .sa_handler = relp_wake_handler };
        int rc;

        /* No SA_RESTART: epoll_wait returns EINTR and the engine sees its stop flag. */
        sigemptyset(&sa.sa_mask);
        if (sigaction(RELP_WAKE_SIGNAL, &sa, NULL) < 0)
                return -errno;
        rc = pthread_create(&r->thread, NULL, relp_thread, r);
        if (rc != 0)
                return -rc;
        r->started = true;
        rc = pthread_create(&r->ticker, NULL, relp_ticker, r);
        if (rc != 0)
                return -rc;  /* relp_server_free stops the engine */
        r->ticking = true;
        return 0;
}

void relp_server_stop(struct relp_server *r, int64_t budget_us)
{
        int64_t deadline;

        if (!r || !r->started || r->joined)
                return;
        atomic_store(&r->stopping, true);
        if (r->ticking) {
                pthread_mutex_lock(&r->mu);
                pthread_cond_broadcast(&r->tick_cv);
                pthread_mutex_unlock(&r->mu);
                pthread_join(r->ticker, NULL);
                r->ticking = false;
        }
        r->rl.relpEngineSetStop(r->eng);
        deadline = tm_mono_us() + budget_us;
        /* The engine checks its flag after epoll_wait: signal until it has seen it (a signal
         * that lands just before epoll_wait is missed, hence the repeats). A message being
         * stored meanwhile completes: the writer still runs. */
        while (!atomic_load(&r->done) && tm_mono_us() < deadline) {
                struct timespec ts = { 0, 20 * 1000 * 1000 };

                pthread_kill(r->thread, RELP_WAKE_SIGNAL);
                nanosleep(&ts, NULL);
        }
        if (atomic_load(&r->done)) {
                pthread_join(r->thread, NULL);
                r->joined = true;
        } else {
                log_error("relp engine did not stop in time; leaving it to the exit",
                          "budget_us=%lld", (long long)budget_us);
        }
}

void relp_server_free(struct relp_server *r)
{
        if (!r)
                return;
        relp_server_stop(r, 2 * 1000 * 1000);
        if (r->started && !r->joined)
                return;  /* the thread may still use everything: leak it to the exit */
        if (r->eng)
                r->rl.relpEngineDestruct(&r->eng);
        for (size_t i = 0; i < r->n_lsts; i++)
                if (r->lsts[i].pem_fd >= 0)
                        close(r->lsts[i].pem_fd);
        relp_guard_free(r->guard);
        relp_dl_close(&r->rl);
        free(r->lsts);
        free(r->ring);
        free(r->buckets);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        pthread_cond_destroy(&r->tick_cv);
        pthread_mutex_destroy(&r->dmu);
        free(r);
}
