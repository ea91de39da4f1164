/* The syslog collector with real sockets: a loop thread runs the collector on 127.0.0.1
 * port 0 (and a unix socket in a temp dir), the test sends with ordinary sockets and pops
 * the queue like the writer does, then checks what an auditor would: each message arrives
 * exactly once with its transport and peer, and every loss is counted. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#define TEST_TMPDIR_PREFIX "gl-test-net"
#include "tests/test-tmpdir.h"

#include "core/tm.h"
#include "ingest/ingest.h"

struct rig {
        struct loop *loop;
        struct queue *q;
        struct drop_counters drops;
        struct ingest_syslog *s;
        pthread_t thread;
        int loop_ret;
        char dir[64];
        char sock_path[128];
};

static void *rig_thread(void *ud)
{
        struct rig *r = ud;

        r->loop_ret = loop_run(r->loop);
        return NULL;
}

/* Starts a collector on the listeners given ("udp", "tcp", "unix" in that order of use). */
/* The socket file goes in the test's own folder (tests/test-tmpdir.h: removed even if an
 * assert fails). */
static struct rig *rig_start(void **state, size_t queue_max, size_t max_conns, bool with_unix)
{
        struct rig *r = calloc(1, sizeof(*r));
        struct ingest_listen ls[3] = {
                { .transport = INGEST_UDP, .addr = "127.0.0.1:0" },
                { .transport = INGEST_TCP, .addr = "127.0.0.1:0" },
                { .transport = INGEST_UNIX, .addr = NULL },
        };
        struct ingest_syslog_config cfg = {
                .listen = ls, .n_listen = with_unix ? 3 : 2, .max_message = 2048,
                .max_connections = max_conns, .format = NORM_AUTO,
        };
        char err[256] = "";

        assert_non_null(r);
        test_tmpdir(state, r->dir);
        snprintf(r->sock_path, sizeof(r->sock_path), "%s/log.sock", r->dir);
        ls[2].addr = r->sock_path;
        assert_int_equal(loop_new(&r->loop), 0);
        assert_int_equal(queue_new(queue_max, &r->q), 0);
        if (ingest_syslog_new(&cfg, r->loop, r->q, &r->drops, &r->s, err, sizeof(err)) < 0) {
                print_error("ingest_syslog_new: %s\n", err);
                fail();
        }
        assert_int_equal(pthread_create(&r->thread, NULL, rig_thread, r), 0);
        return r;
}

static void rig_stop(struct rig *r)
{
        loop_quit_async(r->loop);
        pthread_join(r->thread, NULL);
        assert_int_equal(r->loop_ret, 0);
        ingest_syslog_free(r->s);
        /* The collector removes the socket file it made. */
        assert_int_equal(access(r->sock_path, F_OK), -1);
        queue_free(r->q, event_free_cb);
        loop_free(r->loop);
        rmdir(r->dir);
        free(r);
}

static uint64_t drops_of(struct rig *r, enum drop_reason d)
{
        return atomic_load(&r->drops.n[d]);
}

static int port_of(struct rig *r, size_t i)
{
        int p = ingest_syslog_port(r->s, i);

        assert_true(p > 0);
        return p;
}

static int tcp_connect(int port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                assert_true(k > 0);
                p += k;
                n -= (size_t)k;
        }
}

static int udp_socket(int port, char *ret_local, size_t len)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        struct sockaddr_in me;
        socklen_t sl = sizeof(me);
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &sl), 0);
        if (ret_local)
                snprintf(ret_local, len, "127.0.0.1:%u", ntohs(me.sin_port));
        return fd;
}

/* Pops until n events arrived or timeout; returns how many. */
static size_t pop_n(struct rig *r, struct event **evs, size_t n, int64_t timeout_us)
{
        int64_t end = tm_mono_us() + timeout_us;
        size_t got = 0;

        while (got < n && tm_mono_us() < end)
                got += queue_pop_batch(r->q, (void **)evs + got, n - got, 20000);
        return got;
}

static const char *rec_str(const struct event *e, const char *path)
{
        const char *s = json_str(json_path_get(e->rec, path), NULL);

        return s ? s : "(null)";
}

static void test_hostport(void **state)
{
        static const struct {
                const char *in;
                int ret;
                const char *host;
                int port;
        } cases[] = {
                { "127.0.0.1:514", 0, "127.0.0.1", 514 },
                { "[::1]:6514", 0, "::1", 6514 },
                { "localhost:0", 0, "localhost", 0 },
                { "0.0.0.0:65535", 0, "0.0.0.0", 65535 },
                { "127.0.0.1:65536", -EINVAL, NULL, 0 },
                { "127.0.0.1", -EINVAL, NULL, 0 },
                { "127.0.0.1:", -EINVAL, NULL, 0 },
                { ":514", -EINVAL, NULL, 0 },
                { "::1:514", -EINVAL, NULL, 0 },
                { "[::1]514", -EINVAL, NULL, 0 },
                { "[]:514", -EINVAL, NULL, 0 },
                { "host:51a", -EINVAL, NULL, 0 },
                { "host:-1", -EINVAL, NULL, 0 },
                { "", -EINVAL, NULL, 0 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *host = NULL;
                uint16_t port = 0;
                int r = ingest_parse_hostport(cases[i].in, &host, &port);

                if (r != cases[i].ret || (r == 0 && (strcmp(host, cases[i].host) != 0 ||
                                                     port != cases[i].port))) {
                        print_error("case '%s': got %d %s:%u\n", cases[i].in, r,
                                    host ? host : "-", port);
                        fail();
                }
                free(host);
        }
}

static void test_three_transports(void **state)
{
        struct rig *r = rig_start(state, 64, 16, true);
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        struct event *evs[3] = { 0 };
        char udp_peer[64], tcp_peer[64];
        const char *udp_msg = "<13>1 2026-01-02T03:04:05Z host app - - - over udp";
        const char *unix_msg = "<13>1 2026-01-02T03:04:05Z host app - - - over unix";
        const char *tcp_msg = "<13>1 2026-01-02T03:04:05Z host app - - - over tcp\n";
        struct sockaddr_in me;
        socklen_t sl = sizeof(me);
        int u, t, x;

        assert_int_equal(ingest_syslog_port(r->s, 2), -ENOENT);  /* unix has no port */
        assert_int_equal(ingest_syslog_port(r->s, 3), -ENOENT);
        u = udp_socket(port_of(r, 0), udp_peer, sizeof(udp_peer));
        assert_true(send(u, udp_msg, strlen(udp_msg), 0) > 0);
        t = tcp_connect(port_of(r, 1));
        assert_int_equal(getsockname(t, (struct sockaddr *)&me, &sl), 0);
        snprintf(tcp_peer, sizeof(tcp_peer), "127.0.0.1:%u", ntohs(me.sin_port));
        write_all(t, tcp_msg, strlen(tcp_msg));
        x = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        memcpy(sun.sun_path, r->sock_path, strlen(r->sock_path) + 1);
        assert_true(sendto(x, unix_msg, strlen(unix_msg), 0, (struct sockaddr *)&sun,
                           sizeof(sun)) > 0);
        assert_int_equal(pop_n(r, evs, 3, 3000000), 3);
        for (int i = 0; i < 3; i++) {
                const char *m = rec_str(evs[i], "message");
                const char *tr = rec_str(evs[i], "source.transport");
                const char *peer = rec_str(evs[i], "source.peer");

                assert_string_equal(rec_str(evs[i], "source.kind"), "syslog");
                assert_true(evs[i]->received_us > 0);
                if (!strcmp(m, "over udp")) {
                        assert_string_equal(tr, "udp");
                        assert_string_equal(peer, udp_peer);
                } else if (!strcmp(m, "over tcp")) {
                        assert_string_equal(tr, "tcp");
                        assert_string_equal(peer, tcp_peer);
                } else if (!strcmp(m, "over unix")) {
                        assert_string_equal(tr, "unix");
                        assert_string_equal(peer, r->sock_path);
                } else {
                        print_error("unexpected message '%s'\n", m);
                        fail();
                }
                event_free(evs[i]);
        }
        close(u);
        close(t);
        close(x);
        rig_stop(r);
}

#define N_CONNS 50
#define N_PER_CONN 100

/* Every connection sends its messages interleaved with the others, half of them octet-
 * counted and half newline-framed, in pieces that cut frames anywhere. */
static void test_many_connections(void **state)
{
        struct rig *r = rig_start(state, 8192, 1024, false);
        static struct event *evs[N_CONNS * N_PER_CONN + 1];
        static unsigned char seen[N_CONNS][N_PER_CONN];
        static char buf[N_CONNS][N_PER_CONN * 96];
        size_t len[N_CONNS] = { 0 }, off[N_CONNS] = { 0 };
        int fds[N_CONNS];
        size_t got;
        bool more = true;

        memset(seen, 0, sizeof(seen));
        for (int c = 0; c < N_CONNS; c++) {
                fds[c] = tcp_connect(port_of(r, 1));
                for (int m = 0; m < N_PER_CONN; m++) {
                        char msg[80];
                        int n = snprintf(msg, sizeof(msg), "<14>1 - h a - - - c%d m%d", c, m);

                        len[c] += (size_t)(c % 2 ? sprintf(buf[c] + len[c], "%s\n", msg)
                                                 : sprintf(buf[c] + len[c], "%d %s", n, msg));
                }
        }
        srand(42);
        while (more) {
                more = false;
                for (int c = 0; c < N_CONNS; c++) {
                        size_t k = (size_t)(rand() % 700) + 1;

                        if (off[c] == len[c])
                                continue;
                        k = k < len[c] - off[c] ? k : len[c] - off[c];
                        write_all(fds[c], buf[c] + off[c], k);
                        off[c] += k;
                        more = true;
                }
        }
        for (int c = 0; c < N_CONNS; c++)
                close(fds[c]);
        got = pop_n(r, evs, N_CONNS * N_PER_CONN, 4000000);
        assert_int_equal(got, N_CONNS * N_PER_CONN);
        /* Nothing more than that may arrive. */
        assert_int_equal(queue_pop_batch(r->q, (void **)evs + got, 1, 100000), 0);
        for (size_t i = 0; i < got; i++) {
                int c, m;

                assert_int_equal(sscanf(rec_str(evs[i], "message"), "c%d m%d", &c, &m), 2);
                assert_true(c >= 0 && c < N_CONNS && m >= 0 && m < N_PER_CONN);
                assert_int_equal(seen[c][m], 0);
                seen[c][m] = 1;
                event_free(evs[i]);
        }
        for (int d = 0; d < DROP__MAX; d++)
                assert_int_equal(drops_of(r, d), 0);
        rig_stop(r);
}

struct sender {
        int port;
        int id;
        int n;
        int64_t delay_us;
};

static void *tcp_sender(void *ud)
{
        struct sender *s = ud;
        int fd;

        usleep((useconds_t)s->delay_us);
        fd = tcp_connect(s->port);
        for (int i = 0; i < s->n; i++) {
                char msg[96];
                int n = snprintf(msg, sizeof(msg), "<14>1 - h a - - - c%d seq %d\n", s->id, i);

                write_all(fd, msg, (size_t)n);
        }
        close(fd);
        return NULL;
}

/* Queue of 8, 1000 TCP messages, a slow consumer: TCP pauses instead of losing anything,
 * and the order of one connection is kept. A second connection arrives while the first is
 * paused: it must wait its turn, not break the pause. */
static void test_tcp_backpressure(void **state)
{
        struct rig *r = rig_start(state, 8, 16, false);
        struct sender snd[2] = {
                { .port = port_of(r, 1), .id = 0, .n = 1000 },
                { .port = port_of(r, 1), .id = 1, .n = 2000, .delay_us = 50000 },
        };
        pthread_t th[2];
        int next[2] = { 0, 0 };
        int64_t end = tm_mono_us() + 4000000;

        for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&th[i], NULL, tcp_sender, &snd[i]), 0);
        while (next[0] + next[1] < snd[0].n + snd[1].n && tm_mono_us() < end) {
                struct event *evs[3];
                size_t n = queue_pop_batch(r->q, (void **)evs, 3, 20000);

                for (size_t i = 0; i < n; i++) {
                        int c = -1, seq = -1;

                        assert_int_equal(sscanf(rec_str(evs[i], "message"), "c%d seq %d", &c,
                                                &seq), 2);
                        assert_true(c == 0 || c == 1);
                        assert_int_equal(seq, next[c]);
                        next[c]++;
                        event_free(evs[i]);
                }
                usleep(1000);  /* slow: the queue is full nearly all the time */
        }
        for (int i = 0; i < 2; i++)
                pthread_join(th[i], NULL);
        assert_int_equal(next[0], snd[0].n);
        assert_int_equal(next[1], snd[1].n);
        for (int d = 0; d < DROP__MAX; d++)
                assert_int_equal(drops_of(r, d), 0);
        rig_stop(r);
}

/* Datagrams meeting a full queue are dropped and counted: sent = received + counted. */
static void test_udp_full_queue(void **state)
{
        struct rig *r = rig_start(state, 8, 16, false);
        static struct event *evs[256];
        int u = udp_socket(port_of(r, 0), NULL, 0);
        uint64_t last = UINT64_MAX, now;
        size_t got = 0;
        const int sent = 200;

        for (int i = 0; i < sent; i++) {
                char msg[64];
                int n = snprintf(msg, sizeof(msg), "<14>1 - h a - - - d%d", i);

                assert_int_equal(send(u, msg, (size_t)n, 0), n);
        }
        /* Wait until the collector has seen everything (the drop counter stops moving). */
        for (int i = 0; i < 300; i++) {
                usleep(10000);
                now = drops_of(r, DROP_QUEUE_FULL) + drops_of(r, DROP_KERNEL_OVERFLOW);
                if (now == last && now > 0)
                        break;
                last = now;
        }
        got = pop_n(r, evs, 256, 200000);
        assert_int_equal(got, 8);  /* the queue's size: the rest met a full queue */
        assert_int_equal(got + drops_of(r, DROP_QUEUE_FULL) + drops_of(r, DROP_KERNEL_OVERFLOW),
                         sent);
        for (size_t i = 0; i < got; i++)
                event_free(evs[i]);
        close(u);
        rig_stop(r);
}

static void test_connection_limit(void **state)
{
        struct rig *r = rig_start(state, 64, 2, false);
        int a = tcp_connect(port_of(r, 1)), b = tcp_connect(port_of(r, 1));
        int c = tcp_connect(port_of(r, 1));
        char ch;

        /* The third is accepted and closed at once: the peer reads end of stream. */
        assert_int_equal(read(c, &ch, 1), 0);
        assert_int_equal(drops_of(r, DROP_CONN_LIMIT), 1);
        close(a);
        close(b);
        close(c);
        rig_stop(r);
}

/* At shutdown, complete frames still buffered are pushed, a partial one is counted. */
static void test_drain(void **state)
{
        struct rig *r = rig_start(state, 64, 16, false);
        int t = tcp_connect(port_of(r, 1));
        struct event *evs[4];
        const char *data = "<14>1 - h a - - - first\n<14>1 - h a - - - second\n<14>1 - h";

        write_all(t, "<14>1 - h a - - - zero\n", 23);
        assert_int_equal(pop_n(r, evs, 1, 2000000), 1);  /* the connection is up */
        event_free(evs[0]);
        loop_quit_async(r->loop);
        pthread_join(r->thread, NULL);
        /* Sent while the loop is stopped: only the drain can read it. */
        write_all(t, data, strlen(data));
        usleep(20000);
        ingest_syslog_stop_accepting(r->s);
        ingest_syslog_drain(r->s, 500000);
        assert_int_equal(pop_n(r, evs, 4, 200000), 2);
        assert_string_equal(rec_str(evs[0], "message"), "first");
        assert_string_equal(rec_str(evs[1], "message"), "second");
        event_free(evs[0]);
        event_free(evs[1]);
        assert_int_equal(drops_of(r, DROP_SHUTDOWN), 1);
        close(t);
        r->loop_ret = 0;
        assert_int_equal(pthread_create(&r->thread, NULL, rig_thread, r), 0);
        rig_stop(r);
}

/* Frames are pushed in batches (issue 12): a queue of 8 takes 8 of the first batch and the
 * rest of it stays held, behind it the unread frames of the same read. At shutdown with the
 * queue still full, held events and kept frames are all counted: queued + counted = sent. */
static void test_drain_held(void **state)
{
        struct rig *r = rig_start(state, 8, 16, false);
        int t = tcp_connect(port_of(r, 1));
        struct event *evs[16];
        char data[200 * 40];
        size_t len = 0;
        int64_t end = tm_mono_us() + 2000000;

        for (int i = 0; i < 200; i++)
                len += (size_t)snprintf(data + len, sizeof(data) - len,
                                        "<14>1 - h a - - - m%d\n", i);
        write_all(t, data, len);  /* one write: one read takes all of it */
        while (queue_depth(r->q) < 8 && tm_mono_us() < end)
                usleep(1000);
        usleep(20000);
        loop_quit_async(r->loop);
        pthread_join(r->thread, NULL);
        ingest_syslog_stop_accepting(r->s);
        ingest_syslog_drain(r->s, 100000);
        assert_int_equal(pop_n(r, evs, 16, 200000), 8);
        for (int i = 0; i < 8; i++) {
                char want[16];

                snprintf(want, sizeof(want), "m%d", i);
                assert_string_equal(rec_str(evs[i], "message"), want);
                event_free(evs[i]);
        }
        assert_int_equal(drops_of(r, DROP_SHUTDOWN), 192);
        close(t);
        r->loop_ret = 0;
        assert_int_equal(pthread_create(&r->thread, NULL, rig_thread, r), 0);
        rig_stop(r);
}

/* A socket file left by a crash is replaced; a regular file is never removed. */
static void test_unix_stale(void **state)
{
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        struct ingest_listen ls = { .transport = INGEST_UNIX, .addr = sun.sun_path };
        struct ingest_syslog_config cfg = { .listen = &ls, .n_listen = 1, .max_message = 1024 };
        struct drop_counters drops = { 0 };
        struct ingest_syslog *s = NULL;
        struct loop *loop;
        struct queue *q;
        char dir[64], err[256];
        struct stat st;
        int fd;

        test_tmpdir(state, dir);
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s", dir);
        assert_int_equal(loop_new(&loop), 0);
        assert_int_equal(queue_new(8, &q), 0);
        fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
        /* Still bound: someone is there, refuse. */
        assert_int_equal(ingest_syslog_new(&cfg, loop, q, &drops, &s, err, sizeof(err)),
                         -EADDRINUSE);
        close(fd);  /* now stale */
        assert_int_equal(ingest_syslog_new(&cfg, loop, q, &drops, &s, err, sizeof(err)), 0);
        assert_int_equal(stat(sun.sun_path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0660);
        ingest_syslog_free(s);
        fd = creat(sun.sun_path, 0600);
        close(fd);
        s = NULL;
        assert_int_equal(ingest_syslog_new(&cfg, loop, q, &drops, &s, err, sizeof(err)),
                         -EEXIST);
        assert_null(s);
        assert_non_null(strstr(err, sun.sun_path));
        assert_int_equal(access(sun.sun_path, F_OK), 0);
        unlink(sun.sun_path);
        rmdir(dir);
        queue_free(q, NULL);
        loop_free(loop);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hostport),
                cmocka_unit_test(test_three_transports),
                cmocka_unit_test(test_many_connections),
                cmocka_unit_test(test_tcp_backpressure),
                cmocka_unit_test(test_udp_full_queue),
                cmocka_unit_test(test_connection_limit),
                cmocka_unit_test(test_drain),
                cmocka_unit_test(test_drain_held),
                cmocka_unit_test(test_unix_stale),
        };

        return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
