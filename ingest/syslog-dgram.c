/* The syslog collector's datagram path: UDP and unix datagram sockets. Each wakeup reads
 * at most INGEST_DGRAM_BATCH datagrams per socket; a datagram that meets a full queue is
 * dropped and counted (DROP_QUEUE_FULL: UDP cannot be paused), and the kernel's own drops on
 * the socket are counted from SO_MEMINFO (DROP_KERNEL_OVERFLOW). At shutdown what the kernel
 * already holds is read, waiting for queue space, within a deadline. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <linux/sock_diag.h>

#include "core/log.h"
#include "core/tm.h"
#include "ingest/syslog-net-int.h"

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
        if (syslog_net_push(s, s->rbuf, (size_t)n, (mh.msg_flags & MSG_TRUNC) != 0, l,
                        l->transport == INGEST_UDP ? peer : l->path, NULL, tm_now_us(),
                        &held) == -EAGAIN) {
                while (deadline > 0 && held && syslog_drain_wait_space(s, deadline) == 0)
                        if (queue_push(s->q, held) != -EAGAIN)
                                held = NULL;
                if (held) {
                        event_free(held);
                        drop_count(s->drops, DROP_QUEUE_FULL, 1);
                }
        }
        return 1;
}

int syslog_dgram_cb(struct loop *loop, int fd, uint32_t events, void *ud)
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

/* Datagrams the kernel already holds for us were received: store them before the socket
 * closes (reading also brings the kernel's last overflow count). Bounded by the deadline and
 * by a count, since a sender may keep sending while we read. */
void syslog_dgram_drain(struct listener *l, int64_t deadline)
{
        for (long i = 0; i < INGEST_DRAIN_DGRAM_MAX && tm_mono_us() < deadline; i++)
                if (dgram_read_one(l, deadline) == 0)
                        break;
}

/* Waits for the queue to have room until deadline (monotonic). 0, or -ETIMEDOUT. */
int syslog_drain_wait_space(struct ingest_syslog *s, int64_t deadline)
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
